//! The fused MobileNet inference passes the model crate calls: a whole inverted-residual
//! block ([`fused_mbconv`]) and the classification head ([`fused_head`]) on our kernels,
//! without a Burn tensor between their layers. Both return `None` (the caller runs Burn's
//! layers) unless the input is on plain `flex` and the layers are ones the kernels cover.

use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use crate::kernels::{
    Act, ConvParams, Depthwise, contiguous, flex_primitive, flex_tensor, plane_means,
};
use crate::pointwise::{Pointwise, PointwiseConv, pointwise};

/// The layers of one inverted-residual block with its BatchNorms folded into the
/// convolutions (what `MobileNetV3::fold_batchnorm` leaves).
#[derive(Debug, Clone, Copy)]
pub struct MbConvLayers<'a> {
    /// The 1x1 expansion (absent at expand ratio 1).
    pub expand: Option<&'a Conv2d>,
    /// The depthwise convolution.
    pub depthwise: &'a Conv2d,
    /// Squeeze-and-excite: the reducing and the expanding 1x1 convolution (with biases).
    pub squeeze_excite: Option<(&'a Conv2d, &'a Conv2d)>,
    /// The 1x1 projection (no activation).
    pub project: &'a Conv2d,
    /// The activation after the expansion and the depthwise convolution.
    pub act: Act,
    /// Whether the block adds its input to its output.
    pub residual: bool,
}

/// The whole block on our kernels: the 1x1 convolutions as tiled gemms with the activation
/// (and the residual) applied per tile, the depthwise convolution on our kernel with the
/// squeeze-and-excite pooling taken per plane, and the excitation folded into the
/// projection's weights; every pass on rayon's threads. `None` when `x` is not on plain
/// `flex` or a layer is not one the kernels cover.
pub fn fused_mbconv(layers: &MbConvLayers<'_>, x: &Tensor<4>) -> Option<Tensor<4>> {
    let xp = flex_primitive(x)?;
    let [n, cin, h, w] = x.dims();
    let mid = layers.depthwise.weight.dims()[0];
    let expand = match layers.expand {
        Some(conv) => Some(PointwiseConv::of(conv, cin)?),
        None => None,
    };
    let dw_params = ConvParams::of(layers.depthwise)?;
    let dw = Depthwise::of(layers.depthwise, &dw_params, mid, h, w)?;
    let project = PointwiseConv::of(layers.project, mid)?;
    let se = match layers.squeeze_excite {
        Some((reduce, expand)) => Some((
            PointwiseConv::of(reduce, mid)?,
            PointwiseConv::of(expand, reduce.weight.dims()[0])?,
        )),
        None => None,
    };
    let (oh, ow) = (dw.g.oh, dw.g.ow);
    if layers.residual && (project.cout(), oh, ow) != (cin, h, w) {
        return None;
    }

    let act = layers.act;
    let x = contiguous(&xp);
    let expanded = expand.map(|e| e.run(&x, n, h * w, act, None, None));
    let (d, means) = dw.run(expanded.as_deref().unwrap_or(&x), n, act, se.is_some());
    let scale = se.map(|(reduce, expand)| {
        let squeezed = reduce.run(&means, n, 1, Act::Relu, None, None);
        let mut scale = expand.run(&squeezed, n, 1, Act::Identity, None, None);
        for v in &mut scale {
            // h-sigmoid
            *v = (*v + 3.0).clamp(0.0, 6.0) / 6.0;
        }
        scale
    });
    let residual = layers.residual.then_some(&x[..]);
    let y = project.run(&d, n, oh * ow, Act::Identity, scale.as_deref(), residual);
    Some(flex_tensor(y, [n, project.cout(), oh, ow]))
}

/// The head (global mean, 1x1 feature mix with h-swish, linear classifier) on our kernels:
/// the plane means in parallel, both layers as tiled gemms (the classifier's transposed
/// Burn weight read in place). `None` when `features` is not on plain `flex` or the layers
/// do not fit.
pub fn fused_head(features: &Tensor<4>, mix: &Conv2d, classifier: &Linear) -> Option<Tensor<2>> {
    let hp = flex_primitive(features)?;
    let [n, c, hh, ww] = features.dims();
    let mix = PointwiseConv::of(mix, c)?;
    let params = ConvParams::new(&classifier.weight, classifier.bias.as_ref())?;
    let [din, classes] = classifier.weight.dims();
    if din != mix.cout() || hh * ww == 0 {
        return None;
    }
    let means = plane_means(&contiguous(&hp), hh * ww);
    let mixed = mix.run(&means, n, 1, Act::HSwish, None, None);
    let (weight, bias) = (params.weight(), params.bias());
    let classifier = Pointwise {
        weight: &weight,
        transposed: true,
        bias: bias.as_deref(),
        cout: classes,
        cin: din,
    };
    let logits = pointwise(&mixed, n, 1, &classifier, Act::Identity, None, None);
    Some(flex_tensor(logits, [n, classes]))
}
