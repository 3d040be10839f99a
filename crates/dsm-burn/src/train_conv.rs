//! A dense convolution on our gemm-based kernels ([`crate::conv_grad`]) on `flex`, registered
//! with Burn through a backend extension so that autodiff works: the forward is im2col and
//! one matrix product per image, and the autodiff node computes the input gradient as
//! `W^T dY` + col2im and the weight gradient as `dY im2col(X)^T` per image (the gradients
//! 2.1-2.5x faster than Burn's default backward on the NAS-Bench-201 shapes; see
//! `docs/PERFORMANCE.md`). Other backends and shapes go through Burn's `Conv2d`.

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
use crate::kernels::{contiguous, flex_primitive_of, on_flex, square_geometry};

/// The extension: one square-kernel, one-group, symmetric-padding convolution without bias.
#[backend_extension(Flex, Autodiff)]
pub trait TrainConv: burn::backend::Backend {
    /// `conv2d(x, weight)` with `stride` and `padding` on both axes.
    fn dsm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

impl TrainConv for Flex {
    fn dsm_conv2d(x: FlexTensor, weight: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        conv_forward(&x, &weight, stride, padding)
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

/// Our forward: im2col and one matrix product per image.
fn conv_forward(x: &FlexTensor, weight: &FlexTensor, stride: usize, pad: usize) -> FlexTensor {
    let c = shape_of(x, weight, stride, pad);
    let y = forward(&contiguous(x), &contiguous(weight), &c);
    flex_primitive_of(y, [c.n, c.cout, c.oh(), c.ow()])
}

impl<C: CheckpointStrategy> TrainConv for Autodiff<Flex, C> {
    fn dsm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ConvBackward;

        impl Backward<Flex, 2> for ConvBackward {
            type State = (FlexTensor, FlexTensor, usize, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_w] = ops.parents;
                let dy = grads.consume::<Flex>(&ops.node);
                let (x, w, stride, pad) = ops.state;
                let shape = shape_of(&x, &w, stride, pad);
                let ConvShape {
                    n,
                    cin,
                    cout,
                    h,
                    w: wd,
                    k,
                    ..
                } = shape;
                let dys = contiguous(&dy);
                if let Some(node) = node_x {
                    let dx = x_grad(&contiguous(&w), &dys, &shape);
                    grads.register::<Flex>(node.id, flex_primitive_of(dx, [n, cin, h, wd]));
                }
                if let Some(node) = node_w {
                    let dw = weight_grad(&contiguous(&x), &dys, &shape);
                    grads.register::<Flex>(node.id, flex_primitive_of(dw, [cout, cin, k, k]));
                }
            }
        }

        match ConvBackward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let xp = x.primitive().clone();
                let wp = weight.primitive().clone();
                let out = conv_forward(&xp, &wp, stride, padding);
                prep.finish((xp, wp, stride, padding), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(conv_forward(
                x.primitive(),
                weight.primitive(),
                stride,
                padding,
            )),
        }
    }
}

/// `conv(x)` through [`TrainConv`] when `conv` is a square, one-group, unbiased convolution
/// with symmetric padding and no dilation and `x` is f32 on `flex` (with or without
/// autodiff); `None` otherwise.
pub(crate) fn conv2d(conv: &Conv2d, x: &Tensor<4>) -> Option<Tensor<4>> {
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
    let out = <Dispatch as TrainConv>::dsm_conv2d(xd, wd, stride, pad);
    Some(Tensor::from_dispatch(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;

    fn grads_of(
        use_ours: bool,
        k: usize,
        stride: usize,
        pad: usize,
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
        let data: Vec<f32> = (0..2 * 3 * 9 * 11)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(data, [2, 3, 9, 11]), &dev).require_grad();
        let y = if use_ours {
            conv2d(&conv, &x).expect("a dense convolution on flex")
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
        for (k, stride, pad) in [
            (3, 1, 1),
            (3, 2, 1),
            (1, 1, 0),
            (1, 2, 0),
            (5, 1, 2),
            (3, 3, 0),
        ] {
            let (y0, dx0, dw0) = grads_of(false, k, stride, pad);
            let (y1, dx1, dw1) = grads_of(true, k, stride, pad);
            for (what, a, b) in [("y", &y1, &y0), ("dx", &dx1, &dx0), ("dw", &dw1, &dw0)] {
                assert_eq!(a.len(), b.len(), "{what} k{k} s{stride} p{pad}");
                for (p, q) in a.iter().zip(b) {
                    assert!(
                        (p - q).abs() <= 1e-4 * (1.0 + q.abs()),
                        "{what} k{k} s{stride} p{pad}: {p} vs {q}"
                    );
                }
            }
        }
    }

    #[test]
    fn other_convolutions_are_left_to_burn() {
        let dev = Device::flex();
        let x = Tensor::<4>::zeros([1, 4, 8, 8], &dev);
        let biased = Conv2dConfig::new([4, 4], [3, 3]).init(&dev);
        assert!(conv2d(&biased, &x).is_none());
        let grouped = Conv2dConfig::new([4, 4], [3, 3])
            .with_groups(2)
            .with_bias(false)
            .init(&dev);
        assert!(conv2d(&grouped, &x).is_none());
    }
}
