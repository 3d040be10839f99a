//! A dense convolution, optionally with a ReLU on its input, on our own kernels on `flex`,
//! registered with Burn through a backend extension so that autodiff works:
//! - stride-1 "same" convolutions (every NAS-Bench-201 3x3 layer) on the direct kernels of
//!   [`crate::direct`]: the ReLU applied while the input is laid out, and its gradient as
//!   the input gradient is stored;
//! - every other shape on im2col and matrix products ([`crate::conv_grad`]): the input
//!   gradient as `W^T dY` + col2im and the weight gradient as `dY im2col(X)^T` per image.
//!
//! Both are 2.1-2.5x faster than Burn's default backward on the NAS-Bench-201 shapes (see
//! `docs/PERFORMANCE.md`). Other backends and layers go through Burn's `Conv2d`.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::DType;

use crate::conv_grad::{ConvShape, forward, weight_grad, x_grad};
use crate::direct::SameConv;
use crate::kernels::{contiguous, flex_primitive_of, on_flex, square_geometry};
use crate::simd::vectorised;
use rayon::prelude::*;

/// The extension: one square-kernel, one-group, symmetric-padding convolution without bias.
#[backend_extension(Flex, Autodiff)]
pub trait TrainConv: burn::backend::Backend {
    /// `conv2d(relu(x), weight)` (`conv2d(x, weight)` without `relu`) with `stride` and
    /// `padding` on both axes.
    fn dsm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        relu: bool,
    ) -> FloatTensor<Self>;
}

impl TrainConv for Flex {
    fn dsm_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        stride: usize,
        padding: usize,
        relu: bool,
    ) -> FlexTensor {
        conv_forward(&x, &weight, stride, padding, relu)
    }
}

/// The shapes of `conv(x, weight)`.
fn shape_of(x: &FlexTensor, weight: &FlexTensor, stride: usize, pad: usize) -> ConvShape {
    let [n, cin, h, w] = x.layout().shape().dims();
    let [cout, _, k, _] = weight.layout().shape().dims();
    ConvShape {
        n,
        cin,
        cout,
        h,
        w,
        k,
        stride,
        pad,
    }
}

/// Our forward.
fn conv_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    stride: usize,
    pad: usize,
    relu: bool,
) -> FlexTensor {
    let c = shape_of(x, weight, stride, pad);
    let (xs, w) = (contiguous(x), contiguous(weight));
    let dims = [c.n, c.cout, c.oh(), c.ow()];
    let y = match same_conv(&c).filter(SameConv::pays_for_rows) {
        Some(conv) => conv.forward(&xs, &w, relu),
        None => forward(&xs, &w, &c, relu),
    };
    flex_primitive_of(y, dims)
}

/// The direct kernels for `c` when it is a stride-1 "same" convolution and this CPU has
/// them (each operation then checks that they pay on its shape).
fn same_conv(c: &ConvShape) -> Option<SameConv> {
    if c.is_same() && c.k > 1 {
        SameConv::new([c.n, c.cin, c.h, c.w], c.cout, c.k)
    } else {
        None
    }
}

vectorised! {
    /// `dx = 0` wherever `x <= 0` (the gradient of the ReLU the forward applied to `x`): a
    /// select, not a branch (the signs are random).
    fn relu_grad(dx: &mut [f32], x: &[f32]) {
        for (d, &v) in dx.iter_mut().zip(x) {
            *d = if v > 0.0 { *d } else { 0.0 };
        }
    }
}

impl<C: CheckpointStrategy> TrainConv for Autodiff<Flex, C> {
    fn dsm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        relu: bool,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvBackward;

        impl Backward<Flex, 2> for ConvBackward {
            type State = (FlexTensor, FlexTensor, ConvShape, bool);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_w] = ops.parents;
                let dy = grads.consume::<Flex>(&ops.node);
                let (x, w, c, relu) = ops.state;
                let (xs, w, dys) = (contiguous(&x), contiguous(&w), contiguous(&dy));
                let conv = same_conv(&c);
                let dx = node_x
                    .as_ref()
                    .map(|_| match conv.filter(SameConv::pays_for_rows) {
                        Some(conv) => conv.input_grad(&dys, &w, relu.then_some(&xs[..])),
                        None => {
                            let mut dx = x_grad(&w, &dys, &c);
                            if relu {
                                // In parallel: a serial pass here leaves the other
                                // threads idle.
                                dx.par_chunks_mut(1 << 14)
                                    .zip(xs.par_chunks(1 << 14))
                                    .for_each(|(d, x)| relu_grad(d, x));
                            }
                            dx
                        }
                    });
                let dw =
                    node_w
                        .as_ref()
                        .map(|_| match conv.filter(SameConv::pays_for_weight_grad) {
                            Some(conv) => conv.weight_grad(&xs, &dys, relu),
                            None => weight_grad(&xs, &dys, &c, relu),
                        });
                if let (Some(node), Some(dx)) = (node_x, dx) {
                    let dims = [c.n, c.cin, c.h, c.w];
                    grads.register::<Flex>(node.id, flex_primitive_of(dx, dims));
                }
                if let (Some(node), Some(dw)) = (node_w, dw) {
                    let dims = [c.cout, c.cin, c.k, c.k];
                    grads.register::<Flex>(node.id, flex_primitive_of(dw, dims));
                }
            }
        }

        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (xp, wp) = (x.primitive(), weight.primitive());
                let c = shape_of(xp, wp, stride, padding);
                let out = conv_forward(xp, wp, stride, padding, relu);
                prep.finish((xp.clone(), wp.clone(), c, relu), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(conv_forward(
                x.primitive(),
                weight.primitive(),
                stride,
                padding,
                relu,
            )),
        }
    }
}

/// `conv(relu(x))` (`conv(x)` without `relu`) through [`TrainConv`] when `conv` is a square,
/// one-group, unbiased convolution with symmetric padding and no dilation and `x` is f32 on
/// `flex` (with or without autodiff); `None` otherwise.
pub fn conv2d(conv: &Conv2d, x: &Tensor<4>, relu: bool) -> Option<Tensor<4>> {
    let [_, cin, h, w] = x.dims();
    let [_, cin_w, _, _] = conv.weight.dims();
    let (_, stride, pad) = square_geometry(conv, h, w)?;
    if conv.bias.is_some() || conv.groups != 1 || cin_w != cin || x.dtype() != DType::F32 {
        return None;
    }
    let xd = x.clone().into_dispatch();
    let wd = conv.weight.val().into_dispatch();
    if !on_flex(&xd.kind) || !on_flex(&wd.kind) || wd.kind.dtype() != DType::F32 {
        return None;
    }
    let out = <Dispatch as TrainConv>::dsm_conv2d(xd, wd, stride, pad, relu);
    Some(Tensor::from_dispatch(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;

    fn grads_of(
        use_ours: bool,
        [h, w, k, stride, pad]: [usize; 5],
        relu: bool,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let dev = Device::flex().autodiff();
        let mut conv = Conv2dConfig::new([3, 5], [k, k])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
            .with_bias(false)
            .init(&dev);
        let wdata: Vec<f32> = (0..5 * 3 * k * k)
            .map(|i| ((i * 53) % 89) as f32 / 44.0 - 1.0)
            .collect();
        conv.weight = burn::module::Param::from_tensor(Tensor::from_data(
            TensorData::new(wdata, [5, 3, k, k]),
            &dev,
        ));
        let data: Vec<f32> = (0..2 * 3 * h * w)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(data, [2, 3, h, w]), &dev).require_grad();
        let y = if use_ours {
            conv2d(&conv, &x, relu).expect("a dense convolution on flex")
        } else if relu {
            conv.forward(burn::tensor::activation::relu(x.clone()))
        } else {
            conv.forward(x.clone())
        };
        // A non-uniform upstream gradient.
        let loss = (y.clone() * y.clone()).sum();
        let grads = loss.backward();
        let v = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().unwrap();
        let dx = x.grad(&grads).expect("x is tracked");
        let dw = conv
            .weight
            .val()
            .grad(&grads)
            .expect("the weight is tracked");
        (v(y), v(dx), v(dw))
    }

    #[test]
    fn forward_and_gradients_equal_burns_convolution() {
        for shape in [
            [9, 11, 3, 1, 1],
            [9, 11, 3, 2, 1],
            [9, 11, 1, 1, 0],
            [9, 11, 1, 2, 0],
            [9, 11, 5, 1, 2],
            [9, 11, 3, 3, 0],
            // Wide enough for the direct kernels (rows at 16 columns, all three at 32x32).
            [6, 16, 3, 1, 1],
            [32, 32, 3, 1, 1],
        ] {
            for relu in [false, true] {
                let (y0, dx0, dw0) = grads_of(false, shape, relu);
                let (y1, dx1, dw1) = grads_of(true, shape, relu);
                for (what, a, b) in [("y", &y1, &y0), ("dx", &dx1, &dx0), ("dw", &dw1, &dw0)] {
                    let case = format!("{what} [h, w, k, stride, pad] {shape:?} relu {relu}");
                    assert_eq!(a.len(), b.len(), "{case}");
                    for (p, q) in a.iter().zip(b) {
                        assert!(
                            (p - q).abs() <= 1e-4 * (1.0 + q.abs()),
                            "{case}: {p} vs {q}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn other_convolutions_are_left_to_burn() {
        let dev = Device::flex();
        let x = Tensor::<4>::zeros([1, 4, 8, 8], &dev);
        let biased = Conv2dConfig::new([4, 4], [3, 3]).init(&dev);
        assert!(conv2d(&biased, &x, false).is_none());
        let grouped = Conv2dConfig::new([4, 4], [3, 3])
            .with_groups(2)
            .with_bias(false)
            .init(&dev);
        assert!(conv2d(&grouped, &x, true).is_none());
    }
}
