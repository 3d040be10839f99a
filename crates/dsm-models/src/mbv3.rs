//! The Once-for-All MobileNetV3 subnet for any architecture of the space, and the two
//! published DSM-NAS ImageNet models.

use burn::module::Module;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::relu;
use dsm_space::mbv3::{Activation, BlockShape};
use dsm_space::{MbV3Arch, MbV3Space};

use crate::layers::{Act, ConvBn, Loader, Saver, conv_madds, hsigmoid, hswish};
use crate::{ModelError, StateDict};
use dsm_kernels::{MbConvLayers, fused_head, fused_mbconv};

/// Squeeze-and-excite: global mean -> 1x1 conv (bias) -> ReLU -> 1x1 conv (bias) ->
/// h-sigmoid -> scale.
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    reduce: Conv2d,
    expand: Conv2d,
}

impl SqueezeExcite {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = x.clone().mean_dim(3).mean_dim(2);
        let y = hsigmoid(self.expand.forward(relu(self.reduce.forward(y))));
        x * y
    }
}

/// One inverted-residual (MBConv) block.
#[derive(Module, Debug)]
pub struct MbBlock {
    inverted_bottleneck: Option<ConvBn>,
    depth_conv: ConvBn,
    se: Option<SqueezeExcite>,
    point_linear: ConvBn,
    hswish: bool,
    residual: bool,
}

impl MbBlock {
    fn act(&self) -> Act {
        if self.hswish { Act::HSwish } else { Act::Relu }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self.forward_fused(&x) {
            Some(y) => y,
            None => self.forward_layers(x),
        }
    }

    /// The block layer by layer (each layer still on a kernel of ours where one applies).
    fn forward_layers(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = x.clone();
        if let Some(ib) = &self.inverted_bottleneck {
            h = ib.forward_act(h, self.act());
        }
        h = self.depth_conv.forward_act(h, self.act());
        if let Some(se) = &self.se {
            h = se.forward(h);
        }
        h = self.point_linear.forward(h);
        if self.residual { h + x } else { h }
    }

    /// The whole block on our kernels ([`dsm_kernels::fused_mbconv`]) when it runs for
    /// inference on plain `flex` with its BatchNorms folded ([`MobileNetV3::fold_batchnorm`]);
    /// `None` (Burn's operations) otherwise.
    fn forward_fused(&self, x: &Tensor<4>) -> Option<Tensor<4>> {
        fn folded(l: &ConvBn) -> Option<&Conv2d> {
            l.bn.is_none().then_some(&l.conv)
        }
        let expand = match &self.inverted_bottleneck {
            Some(ib) => Some(folded(ib)?),
            None => None,
        };
        let layers = MbConvLayers {
            expand,
            depthwise: folded(&self.depth_conv)?,
            squeeze_excite: self.se.as_ref().map(|se| (&se.reduce, &se.expand)),
            project: folded(&self.point_linear)?,
            act: self.act(),
            residual: self.residual,
        };
        fused_mbconv(&layers, x)
    }
}

/// A MobileNetV3-like subnet of the Once-for-All space.
///
/// Tensor names follow the reference's stand-alone subnet (`first_conv.conv.weight`,
/// `blocks.3.mobile_inverted_conv.depth_conv.se.fc.reduce.bias`, `classifier.linear.weight`,
/// ...), which is how the released `dsm-nas-ba5edf7c.pt` / `dsm-nas-plus-7cad288d.pt` are laid
/// out.
#[derive(Module, Debug)]
pub struct MobileNetV3 {
    first_conv: ConvBn,
    blocks: Vec<MbBlock>,
    final_expand: ConvBn,
    feature_mix: Conv2d,
    classifier: Linear,
}

impl MobileNetV3 {
    /// A randomly initialised subnet.
    pub fn new(arch: &MbV3Arch, space: &MbV3Space, device: &Device) -> Result<Self, ModelError> {
        Self::build(arch, space, &mut Loader::new(None, device))
    }

    /// The subnet with freshly initialised weights drawn from `seed` (independent of Burn's
    /// process-wide RNG), for training.
    pub fn init(
        arch: &MbV3Arch,
        space: &MbV3Space,
        seed: u64,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Self::build(arch, space, &mut Loader::seeded(seed, device))
    }

    /// The subnet with weights from a PyTorch state dict; every tensor must fit, or nothing
    /// is loaded and the error lists all offenders.
    pub fn from_state_dict(
        arch: &MbV3Arch,
        space: &MbV3Space,
        sd: &StateDict,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let mut loader = Loader::new(Some(sd), device);
        let net = Self::build(arch, space, &mut loader)?;
        loader.finish(&format!("mbv3:{arch} (width {})", space.width_mult()))?;
        Ok(net)
    }

    fn build(arch: &MbV3Arch, space: &MbV3Space, l: &mut Loader) -> Result<Self, ModelError> {
        // Channels do not depend on the resolution; 224 is only used to lay the blocks out.
        let shapes: Vec<BlockShape> = space.blocks(arch, 224)?;
        let stem = space.stem_channels();
        let first_conv = ConvBn::new(
            l.conv("first_conv.conv", 3, stem, 3, 2, 1, false),
            l.bn("first_conv.bn", stem),
        );
        let blocks = shapes
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let name = format!("blocks.{i}.mobile_inverted_conv");
                let inverted_bottleneck = (b.expand != 1).then(|| {
                    ConvBn::new(
                        l.conv(
                            &format!("{name}.inverted_bottleneck.conv"),
                            b.in_ch,
                            b.mid_ch,
                            1,
                            1,
                            1,
                            false,
                        ),
                        l.bn(&format!("{name}.inverted_bottleneck.bn"), b.mid_ch),
                    )
                });
                let depth_conv = ConvBn::new(
                    l.conv(
                        &format!("{name}.depth_conv.conv"),
                        b.mid_ch,
                        b.mid_ch,
                        b.kernel,
                        b.stride,
                        b.mid_ch,
                        false,
                    ),
                    l.bn(&format!("{name}.depth_conv.bn"), b.mid_ch),
                );
                let se = b.se_mid.map(|m| SqueezeExcite {
                    reduce: l.conv(
                        &format!("{name}.depth_conv.se.fc.reduce"),
                        b.mid_ch,
                        m,
                        1,
                        1,
                        1,
                        true,
                    ),
                    expand: l.conv(
                        &format!("{name}.depth_conv.se.fc.expand"),
                        m,
                        b.mid_ch,
                        1,
                        1,
                        1,
                        true,
                    ),
                });
                let point_linear = ConvBn::new(
                    l.conv(
                        &format!("{name}.point_linear.conv"),
                        b.mid_ch,
                        b.out_ch,
                        1,
                        1,
                        1,
                        false,
                    ),
                    l.bn(&format!("{name}.point_linear.bn"), b.out_ch),
                );
                MbBlock {
                    inverted_bottleneck,
                    depth_conv,
                    se,
                    point_linear,
                    hswish: b.act == Activation::HSwish,
                    residual: b.residual,
                }
            })
            .collect();
        let last = shapes.last().expect("block 0 always exists").out_ch;
        let (expand, mix) = space.head_channels();
        Ok(Self {
            first_conv,
            blocks,
            final_expand: ConvBn::new(
                l.conv("final_expand_layer.conv", last, expand, 1, 1, 1, false),
                l.bn("final_expand_layer.bn", expand),
            ),
            feature_mix: l.conv("feature_mix_layer.conv", expand, mix, 1, 1, 1, false),
            classifier: l.linear("classifier.linear", mix, space.num_classes()),
        })
    }

    /// The weights as a PyTorch state dict in the reference's stand-alone subnet naming (the
    /// inverse of [`MobileNetV3::from_state_dict`]; save it with
    /// [`StateDict::save_safetensors`]). A network whose BatchNorms were folded
    /// ([`MobileNetV3::fold_batchnorm`]) no longer has that layout and is refused.
    pub fn state_dict(&self) -> Result<StateDict, ModelError> {
        let mut s = Saver::new();
        let layer = |s: &mut Saver, name: &str, l: &ConvBn| match &l.bn {
            Some(bn) => {
                s.conv(&format!("{name}.conv"), &l.conv);
                s.bn(&format!("{name}.bn"), bn);
                Ok(())
            }
            None => Err(ModelError::Input {
                what: "MobileNetV3 to save".into(),
                reason: format!(
                    "{name}'s BatchNorm is folded into its convolution; save the network before `fold_batchnorm`"
                ),
            }),
        };
        layer(&mut s, "first_conv", &self.first_conv)?;
        for (i, b) in self.blocks.iter().enumerate() {
            let name = format!("blocks.{i}.mobile_inverted_conv");
            if let Some(ib) = &b.inverted_bottleneck {
                layer(&mut s, &format!("{name}.inverted_bottleneck"), ib)?;
            }
            layer(&mut s, &format!("{name}.depth_conv"), &b.depth_conv)?;
            if let Some(se) = &b.se {
                s.conv(&format!("{name}.depth_conv.se.fc.reduce"), &se.reduce);
                s.conv(&format!("{name}.depth_conv.se.fc.expand"), &se.expand);
            }
            layer(&mut s, &format!("{name}.point_linear"), &b.point_linear)?;
        }
        layer(&mut s, "final_expand_layer", &self.final_expand)?;
        s.conv("feature_mix_layer.conv", &self.feature_mix);
        s.linear("classifier.linear", &self.classifier);
        Ok(s.sd)
    }

    /// The same network for inference only, with every BatchNorm folded into the
    /// convolution before it (weights scaled, a bias added): the same logits up to float
    /// rounding, without the BatchNorm passes over the activations. Not for training.
    pub fn fold_batchnorm(self) -> Self {
        Self {
            first_conv: self.first_conv.fold(),
            blocks: self
                .blocks
                .into_iter()
                .map(|b| MbBlock {
                    inverted_bottleneck: b.inverted_bottleneck.map(ConvBn::fold),
                    depth_conv: b.depth_conv.fold(),
                    point_linear: b.point_linear.fold(),
                    ..b
                })
                .collect(),
            final_expand: self.final_expand.fold(),
            ..self
        }
    }

    /// Logits `[batch, classes]` of an NCHW batch (3 channels, any resolution).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = self.first_conv.forward_act(x, Act::HSwish);
        for b in &self.blocks {
            h = b.forward(h);
        }
        let h = self.final_expand.forward_act(h, Act::HSwish);
        match fused_head(&h, &self.feature_mix, &self.classifier) {
            Some(logits) => logits,
            None => self.head_layers(h),
        }
    }

    /// Global mean, feature mix with h-swish, classifier, layer by layer.
    fn head_layers(&self, h: Tensor<4>) -> Tensor<2> {
        let h = h.mean_dim(3).mean_dim(2);
        let h = hswish(self.feature_mix.forward(h));
        let [b, c, _, _] = h.dims();
        self.classifier.forward(h.reshape([b, c]))
    }

    /// Multiply-accumulates at a square `resolution`, counted by walking the built layers with
    /// the reference convention (every convolution including squeeze-excite, classifier
    /// excluded), and the classifier's `in x out` separately.
    pub fn madds(&self, resolution: usize) -> (u64, u64) {
        let mut hw = resolution.div_ceil(2);
        let mut total = conv_madds(&self.first_conv.conv, hw);
        for b in &self.blocks {
            if let Some(ib) = &b.inverted_bottleneck {
                total += conv_madds(&ib.conv, hw);
            }
            hw = hw.div_ceil(b.depth_conv.conv.stride[0]);
            total += conv_madds(&b.depth_conv.conv, hw);
            if let Some(se) = &b.se {
                total += conv_madds(&se.reduce, 1) + conv_madds(&se.expand, 1);
            }
            total += conv_madds(&b.point_linear.conv, hw);
        }
        total += conv_madds(&self.final_expand.conv, hw) + conv_madds(&self.feature_mix, 1);
        let [din, dout] = self.classifier.weight.shape().dims();
        (total, (din * dout) as u64)
    }
}

/// The published DSM-NAS ImageNet architecture (width 1.2, 1000 classes), as the original
/// project's hub exposed it; load `dsm-nas-ba5edf7c.pt` with [`MobileNetV3::from_state_dict`].
pub fn dsm_nas() -> (MbV3Arch, MbV3Space) {
    published("dsm_nas")
}

/// The published DSM-NAS+ ImageNet architecture (width 1.2, 1000 classes); its released
/// weights are `dsm-nas-plus-7cad288d.pt`.
pub fn dsm_nas_plus() -> (MbV3Arch, MbV3Space) {
    published("dsm_nas_plus")
}

fn published(name: &str) -> (MbV3Arch, MbV3Space) {
    (
        dsm_space::mbv3::published(name).expect("a published architecture's name"),
        MbV3Space::new(1.2).expect("valid width"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsm_kernels::testing::close;

    /// The subnet `arch` (width 1.0) on `flex`, initialised from `seed`, BatchNorm folded.
    fn folded(arch: &str, seed: u64) -> (MobileNetV3, Device) {
        let dev = Device::flex();
        let space = MbV3Space::new(1.0).unwrap();
        let arch: MbV3Arch = arch.parse().unwrap();
        let net = MobileNetV3::init(&arch, &space, seed, &dev).unwrap();
        (net.fold_batchnorm(), dev)
    }

    /// Every block of a folded subnet with squeeze-and-excite, h-swish, residuals and
    /// strides: the fused block gives what its layers give one by one.
    #[test]
    fn fused_blocks_match_their_layers() {
        let (net, dev) = folded(
            "3,2,2,3,2:7,5,3,0,3,7,0,0,5,7,0,0,3,5,7,0,3,3,0,0:6,3,4,0,6,3,0,0,4,6,0,0,3,4,6,0,6,3,0,0",
            7,
        );
        // Odd and non-square planes, down to 1 x 1 after the strides.
        let mut dims = [2, 16, 29, 19];
        let mut kinds = (false, false, false);
        for (i, b) in net.blocks.iter().enumerate() {
            // A fresh input per block (through a deep random network the signal fades).
            let x = Tensor::<4>::random(dims, burn::tensor::Distribution::Normal(0.0, 2.0), &dev);
            let fused = b
                .forward_fused(&x)
                .expect("a folded block on flex is fused");
            dims = fused.dims();
            close(fused, b.forward_layers(x), 1e-4, &format!("block {i}"));
            kinds.0 |= b.se.is_some();
            kinds.1 |= b.residual;
            kinds.2 |= b.hswish;
        }
        assert_eq!(
            kinds,
            (true, true, true),
            "the blocks cover SE, residual, h-swish"
        );
    }

    #[test]
    fn fused_head_matches_its_layers() {
        let dev = Device::flex();
        let space = MbV3Space::new(1.0).unwrap().with_classes(37).unwrap();
        let arch = MbV3Arch::uniform(2, 3, 4).unwrap();
        let net = MobileNetV3::init(&arch, &space, 5, &dev)
            .unwrap()
            .fold_batchnorm();
        let c = net.feature_mix.weight.dims()[1];
        for dims in [[1, c, 7, 7], [3, c, 2, 3]] {
            let h = Tensor::<4>::random(dims, burn::tensor::Distribution::Normal(0.0, 3.0), &dev);
            let fused =
                fused_head(&h, &net.feature_mix, &net.classifier).expect("a head on flex is fused");
            let want = net.head_layers(h);
            close(fused, want, 1e-4, &format!("head {dims:?}"));
        }
    }

    /// Inference gives the same bits on any number of threads (every output element is
    /// summed by one gemm, whatever the tiling).
    #[test]
    fn folded_inference_does_not_depend_on_the_thread_count() {
        let (net, dev) = folded(
            "2,3,2,4,2:3,5,0,0,7,3,5,0,5,7,0,0,3,5,7,3,7,3,0,0:3,4,0,0,6,3,4,0,4,6,0,0,3,4,6,6,6,3,0,0",
            11,
        );
        let x = Tensor::<4>::random(
            [2, 3, 71, 57],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &dev,
        );
        let run = |threads| {
            dsm_kernels::testing::on_threads(threads, || {
                net.forward(x.clone())
                    .into_data()
                    .try_into_vec::<f32>()
                    .unwrap()
            })
        };
        let one = run(1);
        for threads in [2, 5] {
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&run(threads)), bits(&one), "{threads} threads");
        }
    }

    /// Unfolded inference on flex (our convolutions and BatchNorm pass, layer by layer)
    /// against the same weights frozen on an autodiff device (Burn's operations).
    #[test]
    fn unfolded_inference_matches_burns_operations() {
        let space = MbV3Space::new(1.0).unwrap();
        let arch = MbV3Arch::uniform(2, 5, 4).unwrap();
        let dev = Device::flex();
        let ours = MobileNetV3::init(&arch, &space, 9, &dev).unwrap();
        let ad = dev.clone().autodiff();
        let burns = MobileNetV3::init(&arch, &space, 9, &ad).unwrap().freeze();
        let mut dims = [2, 16, 17, 15];
        for (i, (a, b)) in ours.blocks.iter().zip(&burns.blocks).enumerate() {
            let x = Tensor::<4>::random(dims, burn::tensor::Distribution::Normal(0.0, 2.0), &dev);
            let y = a.forward(x.clone());
            let want = b.forward(Tensor::from_data(x.into_data(), &ad)).inner();
            dims = y.dims();
            close(
                y,
                Tensor::from_data(want.into_data(), &dev),
                1e-4,
                &format!("block {i}"),
            );
        }
    }

    #[test]
    fn unfolded_and_autodiff_blocks_run_layer_by_layer() {
        let space = MbV3Space::new(1.0).unwrap();
        let arch = MbV3Arch::uniform(2, 3, 4).unwrap();
        let dev = Device::flex();
        let net = MobileNetV3::init(&arch, &space, 1, &dev).unwrap();
        let x = Tensor::<4>::zeros([1, 16, 16, 16], &dev);
        assert!(
            net.blocks[1].forward_fused(&x).is_none(),
            "BatchNorm not folded"
        );
        let ad = dev.clone().autodiff();
        let net = MobileNetV3::init(&arch, &space, 1, &ad)
            .unwrap()
            .fold_batchnorm();
        let x = Tensor::<4>::zeros([1, 16, 16, 16], &ad);
        assert!(net.blocks[1].forward_fused(&x).is_none(), "autodiff");
    }
}
