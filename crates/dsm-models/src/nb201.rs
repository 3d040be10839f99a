//! The NAS-Bench-201 network (xautodl's `TinyNetwork`, C = 16, N = 5) for any cell.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig};
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use dsm_space::nb201::{EDGES, NUM_EDGES};
use dsm_space::{Nb201Cell, Nb201Op};

use crate::layers::{Loader, ReluConvBn, Saver, conv_madds, dense_conv};
use crate::{ModelError, StateDict};
use crate::{Probe, Probed};
use dsm_kernels::batch_norm;
use dsm_kernels::{adaptive_avg_pool, avg_pool};

/// The op on one edge.
// Built once per network and never moved in a hot path: the variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum EdgeOp {
    /// `nor_conv_1x1` / `nor_conv_3x3`.
    Conv(ReluConvBn),
    /// `avg_pool_3x3`, padding not counted.
    Pool(AvgPool2d),
    /// `skip_connect`.
    Skip(Identity),
    /// `none`: zeros.
    Zero(Identity),
}

/// A module without parameters.
#[derive(Module, Debug, Default)]
pub struct Identity {}

/// One searched cell: node j sums op(i -> j)(node i) over i < j; the output is node 3.
#[derive(Module, Debug)]
pub struct InferCell {
    ops: Vec<EdgeOp>,
}

impl InferCell {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.run(x, None)
    }

    /// The forward pass, probed when `probe` is given.
    fn run(&self, x: Tensor<4>, mut probe: Option<&mut Probe>) -> Tensor<4> {
        let mut nodes = vec![x];
        for node in 1..=3 {
            let mut sum: Option<Tensor<4>> = None;
            for (e, &(src, dst)) in EDGES.iter().enumerate() {
                if dst != node {
                    continue;
                }
                let input = nodes[src].clone();
                let y = match &self.ops[e] {
                    EdgeOp::Conv(c) => match probe.as_deref_mut() {
                        Some(p) => c.forward_probed(input, p),
                        None => c.forward(input),
                    },
                    EdgeOp::Pool(p) => avg_pool(p, input),
                    EdgeOp::Skip(_) => input,
                    // Adds nothing: skipped rather than materialised as zeros.
                    EdgeOp::Zero(_) => continue,
                };
                sum = Some(match sum {
                    Some(s) => dsm_kernels::sum(s, y),
                    None => y,
                });
            }
            // A node whose incoming edges are all `none` is zero (same shape as the input).
            let value = sum.unwrap_or_else(|| nodes[0].zeros_like());
            nodes.push(value);
        }
        nodes.pop().expect("four nodes")
    }
}

/// The residual reduction block (ResNet basic block, stride 2).
#[derive(Module, Debug)]
pub struct ResBlock {
    conv_a: ReluConvBn,
    conv_b: ReluConvBn,
    down_pool: AvgPool2d,
    down_conv: Conv2d,
}

impl ResBlock {
    fn forward_probed(&self, x: Tensor<4>, probe: &mut Probe) -> Tensor<4> {
        let main = self
            .conv_b
            .forward_probed(self.conv_a.forward_probed(x.clone(), probe), probe);
        dsm_kernels::sum(
            main,
            dense_conv(&self.down_conv, avg_pool(&self.down_pool, x)),
        )
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let main = self.conv_b.forward(self.conv_a.forward(x.clone()));
        dsm_kernels::sum(
            main,
            dense_conv(&self.down_conv, avg_pool(&self.down_pool, x)),
        )
    }
}

/// A stage element: a searched cell or a reduction block.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Stage {
    /// A searched cell.
    Cell(InferCell),
    /// A reduction block.
    Reduce(ResBlock),
}

/// The NAS-Bench-201 network: stem, 3 stages of 5 cells with 2 reduction blocks, head.
///
/// Tensor names follow xautodl's `TinyNetwork` state dict (`stem.0.weight`,
/// `cells.3.layers.1.op.1.weight`, `cells.5.conv_a.op.2.running_var`, `classifier.bias`, ...).
#[derive(Module, Debug)]
pub struct Nb201Network {
    stem_conv: Conv2d,
    stem_bn: BatchNorm,
    cells: Vec<Stage>,
    last_bn: BatchNorm,
    pool: AdaptiveAvgPool2d,
    classifier: Linear,
}

/// Channels of the network.
const C: usize = 16;
/// Cells per stage.
const N: usize = 5;

impl Nb201Network {
    /// Channels of the first stage (xautodl's `C`).
    pub const CHANNELS: usize = C;
    /// Cells per stage (xautodl's `N`).
    pub const CELLS_PER_STAGE: usize = N;

    /// A randomly initialised network for `cell` with `num_classes` classes.
    pub fn new(cell: &Nb201Cell, num_classes: usize, device: &Device) -> Self {
        Self::build(cell, num_classes, &mut Loader::new(None, device))
    }

    /// A network whose weights are drawn from `seed` (PyTorch's default initialisation),
    /// independently of Burn's process-wide RNG: the same seed gives the same network even
    /// while other threads create models.
    pub fn init(cell: &Nb201Cell, num_classes: usize, seed: u64, device: &Device) -> Self {
        Self::build(cell, num_classes, &mut Loader::seeded(seed, device))
    }

    /// A network initialised as zero-cost proxies expect, from `seed`: Kaiming-normal
    /// weights (fan_out, ReLU gain), zero biases, BatchNorm weight 1 and bias 0 (FreeREA's
    /// and NAS-Bench-Suite-Zero's set-up).
    pub fn init_kaiming(cell: &Nb201Cell, num_classes: usize, seed: u64, device: &Device) -> Self {
        Self::build(cell, num_classes, &mut Loader::kaiming(seed, device))
    }

    /// The network with weights from a PyTorch state dict (xautodl names); every tensor must
    /// fit, or nothing is loaded and the error lists all offenders.
    pub fn from_state_dict(
        cell: &Nb201Cell,
        num_classes: usize,
        sd: &StateDict,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let mut loader = Loader::new(Some(sd), device);
        let net = Self::build(cell, num_classes, &mut loader);
        loader.finish(&format!("nb201:{cell}"))?;
        Ok(net)
    }

    fn build(cell: &Nb201Cell, num_classes: usize, l: &mut Loader) -> Self {
        let stem_conv = l.conv("stem.0", 3, C, 3, 1, 1, false);
        let stem_bn = l.bn("stem.1", C);
        let mut cells = Vec::new();
        let mut c_prev = C;
        let mut index = 0;
        for (stage, c) in [C, 2 * C, 4 * C].into_iter().enumerate() {
            if stage > 0 {
                let name = format!("cells.{index}");
                let down_pool = AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
                cells.push(Stage::Reduce(ResBlock {
                    conv_a: ReluConvBn {
                        conv: l.conv(&format!("{name}.conv_a.op.1"), c_prev, c, 3, 2, 1, false),
                        bn: l.bn(&format!("{name}.conv_a.op.2"), c),
                    },
                    conv_b: ReluConvBn {
                        conv: l.conv(&format!("{name}.conv_b.op.1"), c, c, 3, 1, 1, false),
                        bn: l.bn(&format!("{name}.conv_b.op.2"), c),
                    },
                    down_pool,
                    down_conv: l.conv(&format!("{name}.downsample.1"), c_prev, c, 1, 1, 1, false),
                }));
                index += 1;
            }
            for _ in 0..N {
                let ops = (0..NUM_EDGES)
                    .map(|e| {
                        let name = format!("cells.{index}.layers.{e}");
                        match cell.op(e) {
                            Nb201Op::NorConv1x1 | Nb201Op::NorConv3x3 => {
                                let k = if cell.op(e) == Nb201Op::NorConv1x1 {
                                    1
                                } else {
                                    3
                                };
                                EdgeOp::Conv(ReluConvBn {
                                    conv: l.conv(&format!("{name}.op.1"), c, c, k, 1, 1, false),
                                    bn: l.bn(&format!("{name}.op.2"), c),
                                })
                            }
                            Nb201Op::AvgPool3x3 => EdgeOp::Pool(
                                AvgPool2dConfig::new([3, 3])
                                    .with_strides([1, 1])
                                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                                    .with_count_include_pad(false)
                                    .init(),
                            ),
                            Nb201Op::SkipConnect => EdgeOp::Skip(Identity {}),
                            Nb201Op::None => EdgeOp::Zero(Identity {}),
                        }
                    })
                    .collect();
                cells.push(Stage::Cell(InferCell { ops }));
                index += 1;
            }
            c_prev = c;
        }
        Self {
            stem_conv,
            stem_bn,
            cells,
            last_bn: l.bn("lastact.0", 4 * C),
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            classifier: l.linear("classifier", 4 * C, num_classes),
        }
    }

    /// The weights as a PyTorch state dict in xautodl's `TinyNetwork` naming (the inverse of
    /// [`Nb201Network::from_state_dict`]): saved with [`StateDict::save_safetensors`], PyTorch
    /// loads it with `TinyNetwork(16, 5, genotype, classes).load_state_dict(...)`.
    ///
    /// ```
    /// use burn::prelude::*;
    /// use dsm_models::{Nb201Network, StateDict};
    ///
    /// let dev = Device::flex();
    /// let cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|".parse()?;
    /// let net = Nb201Network::init(&cell, 10, 7, &dev);
    /// let sd = net.state_dict();
    /// assert!(sd.get("cells.5.conv_a.op.1.weight").is_some());
    /// let again = Nb201Network::from_state_dict(&cell, 10, &sd, &dev)?;
    /// let x = Tensor::<4>::ones([1, 3, 16, 16], &dev);
    /// assert_eq!(net.forward(x.clone()).into_data(), again.forward(x).into_data());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state_dict(&self) -> StateDict {
        let mut s = Saver::new();
        s.conv("stem.0", &self.stem_conv);
        s.bn("stem.1", &self.stem_bn);
        for (index, stage) in self.cells.iter().enumerate() {
            let name = format!("cells.{index}");
            match stage {
                Stage::Reduce(r) => {
                    s.conv(&format!("{name}.conv_a.op.1"), &r.conv_a.conv);
                    s.bn(&format!("{name}.conv_a.op.2"), &r.conv_a.bn);
                    s.conv(&format!("{name}.conv_b.op.1"), &r.conv_b.conv);
                    s.bn(&format!("{name}.conv_b.op.2"), &r.conv_b.bn);
                    s.conv(&format!("{name}.downsample.1"), &r.down_conv);
                }
                Stage::Cell(c) => {
                    for (e, op) in c.ops.iter().enumerate() {
                        if let EdgeOp::Conv(rcb) = op {
                            s.conv(&format!("{name}.layers.{e}.op.1"), &rcb.conv);
                            s.bn(&format!("{name}.layers.{e}.op.2"), &rcb.bn);
                        }
                    }
                }
            }
        }
        s.bn("lastact.0", &self.last_bn);
        s.linear("classifier", &self.classifier);
        s.sd
    }

    /// Logits `[batch, classes]` of an NCHW batch (3 channels).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = batch_norm(&self.stem_bn, dense_conv(&self.stem_conv, x));
        for s in &self.cells {
            h = match s {
                Stage::Cell(c) => c.forward(h),
                Stage::Reduce(r) => r.forward(h),
            };
        }
        let h = adaptive_avg_pool(&self.pool, relu(batch_norm(&self.last_bn, h)));
        let [b, c, _, _] = h.dims();
        self.classifier.forward(h.reshape([b, c]))
    }
}

impl Probed for Nb201Network {
    /// The forward pass of [`Nb201Network::forward`]; with `bypass_bn`, the stem's, every
    /// `ReLUConvBN`'s and the last BatchNorm are the identity; with `record_relus`, the
    /// input of every ReLU (each conv edge's and reduction block's, and the last one) is
    /// recorded.
    fn forward_probed(&self, x: Tensor<4>, probe: &mut Probe) -> Tensor<2> {
        let bn = |bn: &BatchNorm, x: Tensor<4>, bypass: bool| {
            if bypass { x } else { batch_norm(bn, x) }
        };
        let mut h = bn(
            &self.stem_bn,
            dense_conv(&self.stem_conv, x),
            probe.bypass_bn,
        );
        for s in &self.cells {
            h = match s {
                Stage::Cell(c) => c.run(h, Some(probe)),
                Stage::Reduce(r) => r.forward_probed(h, probe),
            };
        }
        let h = bn(&self.last_bn, h, probe.bypass_bn);
        probe.relu_input(&h);
        let h = adaptive_avg_pool(&self.pool, relu(h));
        let [b, c, _, _] = h.dims();
        self.classifier.forward(h.reshape([b, c]))
    }
}

impl Nb201Network {
    /// Multiply-accumulates of one forward pass at a square `resolution`, counted by walking
    /// the built layers: convolutions and the linear layer, its bias included (the
    /// benchmark's convention).
    pub fn madds(&self, resolution: usize) -> u64 {
        let mut hw = resolution;
        let mut total = conv_madds(&self.stem_conv, hw);
        for s in &self.cells {
            match s {
                Stage::Cell(c) => {
                    for op in &c.ops {
                        if let EdgeOp::Conv(rcb) = op {
                            total += conv_madds(&rcb.conv, hw);
                        }
                    }
                }
                Stage::Reduce(r) => {
                    hw = hw.div_ceil(2);
                    total += conv_madds(&r.conv_a.conv, hw)
                        + conv_madds(&r.conv_b.conv, hw)
                        + conv_madds(&r.down_conv, hw);
                }
            }
        }
        let [din, dout] = self.classifier.weight.shape().dims();
        total + (din * dout + dout) as u64
    }
}
