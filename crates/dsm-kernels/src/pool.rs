//! Average pooling on `flex`, with its backward, registered through Burn backend extensions
//! like [`crate::train_conv`]:
//! - non-overlapping (`k x k` windows, stride `k`, no padding: the ResNet reduction block's
//!   2x2 downsampling and the global average before the classifier): each output row sums
//!   `k` input rows in one pass, and the backward spreads each output gradient over its
//!   window;
//! - stride 1 with `k / 2` padding (NAS-Bench-201's `avg_pool_3x3`): separable window sums,
//!   each row over `k` columns then `k` rows per output row, divided by the window's count;
//!   the backward is the same sums of the output gradient divided first.
//!
//! Burn 0.22's `flex` pools through its general 3-D pooling (a window walk per output
//! element, and a scatter per input element in the backward, partly on the calling thread):
//! a cell of `avg_pool_3x3` edges spent 90 % of its training there.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::pool::{AdaptiveAvgPool2d, AvgPool2d};
use burn::prelude::*;
use burn::tensor::DType;

use crate::kernels::{contiguous, flex_primitive_of, on_flex, par_zeroed};
use crate::simd::vectorised;

/// An average pooling of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The mean of every `k x k` window at stride `k` (rows and columns past the last whole
    /// window are dropped, as PyTorch and Burn do): `[n, c, h / k, w / k]`.
    Windows(usize),
    /// The mean of every `k x k` window at stride 1 over the input zero-padded by `k / 2`
    /// on each side (`k` odd; the output has the input's size), divided by the number of
    /// input values in the window, or by `k * k` with `count_pad` (PyTorch's
    /// `count_include_pad`). NAS-Bench-201's `avg_pool_3x3` is `k = 3` without `count_pad`.
    Same {
        /// The window size (odd).
        k: usize,
        /// Whether the zero padding counts in each window's divisor.
        count_pad: bool,
    },
}

impl Pooling {
    /// The pooled batch of `x` (`dims`).
    fn forward(self, x: &[f32], dims: [usize; 4]) -> FlexTensor {
        match self {
            Pooling::Windows(k) => forward(x, dims, k),
            Pooling::Same { k, count_pad } => box_mean(x, dims, k, count_pad, Divide::After),
        }
    }

    /// The input gradient (`dims`) from the output gradient `dy`.
    fn backward(self, dy: &[f32], dims: [usize; 4]) -> FlexTensor {
        match self {
            Pooling::Windows(k) => flex_primitive_of(backward(dy, dims, k), dims),
            Pooling::Same { k, count_pad } => box_mean(dy, dims, k, count_pad, Divide::Before),
        }
    }
}

/// The extension: a [`Pooling`] with its gradient.
#[backend_extension(Flex, Autodiff)]
pub trait AveragePool: burn::backend::Backend {
    /// `x` pooled.
    fn dsm_avg_pool(x: FloatTensor<Self>, pooling: Pooling) -> FloatTensor<Self>;
}

impl AveragePool for Flex {
    fn dsm_avg_pool(x: FlexTensor, pooling: Pooling) -> FlexTensor {
        pooling.forward(&contiguous(&x), x.layout().shape().dims())
    }
}

/// The batch pooled by `k x k` windows at stride `k`.
fn forward(xs: &[f32], [n, c, h, w]: [usize; 4], k: usize) -> FlexTensor {
    let (oh, ow) = (h / k, w / k);
    let y = par_zeroed(n * c * oh * ow, oh * ow, |plane, y| {
        window_means(&xs[plane * h * w..(plane + 1) * h * w], y, [w, ow, k]);
    });
    flex_primitive_of(y, [n, c, oh, ow])
}

vectorised! {
    /// One plane's window means into `y` (zeroed, `oh x ow`) from `x` (`h x w`), with
    /// `[w, ow, k]`.
    fn window_means(x: &[f32], y: &mut [f32], shape: [usize; 3]) {
        let [w, ow, k] = shape;
        let scale = 1.0 / (k * k) as f32;
        for (out, rows) in y.chunks_exact_mut(ow).zip(x.chunks_exact(k * w)) {
            for row in rows.chunks_exact(w) {
                for (o, window) in out.iter_mut().zip(row.chunks_exact(k)) {
                    *o += window.iter().sum::<f32>();
                }
            }
            for o in out.iter_mut() {
                *o *= scale;
            }
        }
    }
}

/// The input gradient `[n, c, h, w]`: every output gradient over its window, `/ k^2`; zero
/// on the dropped rows and columns.
fn backward(dy: &[f32], [n, c, h, w]: [usize; 4], k: usize) -> Vec<f32> {
    let (oh, ow) = (h / k, w / k);
    par_zeroed(n * c * h * w, h * w, |plane, dx| {
        spread(&dy[plane * oh * ow..(plane + 1) * oh * ow], dx, [w, ow, k]);
    })
}

vectorised! {
    /// One plane's input gradient into `dx` (zeroed, `h x w`): each output gradient of
    /// `dy` (`oh x ow`) over its window, `/ k^2`, with `[w, ow, k]`.
    fn spread(dy: &[f32], dx: &mut [f32], shape: [usize; 3]) {
        let [w, ow, k] = shape;
        let scale = 1.0 / (k * k) as f32;
        for (rows, g) in dx.chunks_exact_mut(k * w).zip(dy.chunks_exact(ow)) {
            for row in rows.chunks_exact_mut(w) {
                for (window, &g) in row.chunks_exact_mut(k).zip(g) {
                    window.fill(g * scale);
                }
            }
        }
    }
}

impl<C: CheckpointStrategy> AveragePool for Autodiff<Flex, C> {
    fn dsm_avg_pool(x: FloatTensor<Self>, pooling: Pooling) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct PoolBackward;

        impl Backward<Flex, 1> for PoolBackward {
            type State = ([usize; 4], Pooling);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node] = ops.parents;
                let dy = grads.consume::<Flex>(&ops.node);
                let (dims, pooling) = ops.state;
                if let Some(node) = node {
                    grads.register::<Flex>(node.id, pooling.backward(&contiguous(&dy), dims));
                }
            }
        }

        let dims = x.primitive().layout().shape().dims();
        let out = pooling.forward(&contiguous(x.primitive()), dims);
        match PoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((dims, pooling), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

/// `x` pooled through [`AveragePool`] when it is f32 on `flex` (with or without autodiff)
/// and the pooling fits it (windows of at least 1 and at most the input; odd windows at
/// stride 1); `None` otherwise (the caller uses Burn's pooling).
fn pooled(x: &Tensor<4>, pooling: Pooling) -> Option<Tensor<4>> {
    let [_, _, h, w] = x.dims();
    let fits = match pooling {
        Pooling::Windows(k) => k > 0 && h >= k && w >= k,
        Pooling::Same { k, .. } => !k.is_multiple_of(2),
    };
    if !fits || x.dtype() != DType::F32 {
        return None;
    }
    let xd = x.clone().into_dispatch();
    if !on_flex(&xd.kind) {
        return None;
    }
    Some(Tensor::from_dispatch(
        <Dispatch as AveragePool>::dsm_avg_pool(xd, pooling),
    ))
}

/// The mean of every `k x k` window at stride `k` ([`Pooling::Windows`]), or `None`.
pub fn window_mean(x: &Tensor<4>, k: usize) -> Option<Tensor<4>> {
    pooled(x, Pooling::Windows(k))
}

/// `1 / count` per row (or column) index of a length-`len` axis: the number of window
/// positions inside `[0, len)`, or `k` with `count_pad`.
fn inverse_counts(len: usize, k: usize, count_pad: bool) -> Vec<f32> {
    let r = k / 2;
    (0..len)
        .map(|i| {
            let inside = (i + r + 1).min(len) - i.saturating_sub(r);
            1.0 / if count_pad { k } else { inside } as f32
        })
        .collect()
}

/// Where [`box_mean`] divides by the counts: after the window sums (the forward), or
/// before them (the backward: each output gradient divided by its count, then summed over
/// the windows that contain each input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Divide {
    After,
    Before,
}

/// The `k x k` window sums at stride 1 (zero padding) of every plane of `x` (`dims`), with
/// the counts divided [`Divide::After`] or [`Divide::Before`]; planes in parallel.
fn box_mean(x: &[f32], dims: [usize; 4], k: usize, count_pad: bool, divide: Divide) -> FlexTensor {
    let [n, c, h, w] = dims;
    let (rows, cols) = (
        inverse_counts(h, k, count_pad),
        inverse_counts(w, k, count_pad),
    );
    let y = par_zeroed(n * c * h * w, h * w, |plane, y| {
        BOX_SCRATCH.with_borrow_mut(|scratch| {
            let src = &x[plane * h * w..(plane + 1) * h * w];
            box_plane(src, y, (&rows, &cols), [w, k], divide, scratch);
        })
    });
    flex_primitive_of(y, dims)
}

thread_local! {
    /// Each thread's buffers for [`box_plane`]: one padded row, the plane's row sums.
    static BOX_SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

vectorised! {
    /// One plane's window sums into `y` (zeroed): every row summed over `k` columns (from
    /// a zero-padded copy), then `k` of those rows added per output row; the counts
    /// (`(rows, cols)`, inverse) divided before or after.
    fn box_plane(
        x: &[f32],
        y: &mut [f32],
        (rows, cols): (&[f32], &[f32]),
        shape: [usize; 2],
        divide: Divide,
        scratch: &mut Vec<f32>,
    ) {
        let [w, k] = shape;
        let (h, r) = (rows.len(), k / 2);
        scratch.clear();
        scratch.resize(w + 2 * r + h * w, 0.0);
        let (padded, sums) = scratch.split_at_mut(w + 2 * r);
        for (i, (src, out)) in x.chunks_exact(w).zip(sums.chunks_exact_mut(w)).enumerate() {
            let line = &mut padded[r..r + w];
            match divide {
                Divide::Before => {
                    for ((p, &v), &cw) in line.iter_mut().zip(src).zip(cols) {
                        *p = v * rows[i] * cw;
                    }
                }
                Divide::After => line.copy_from_slice(src),
            }
            for t in 0..k {
                for (o, &v) in out.iter_mut().zip(&padded[t..t + w]) {
                    *o += v;
                }
            }
        }
        for (i, out) in y.chunks_exact_mut(w).enumerate() {
            for t in i.saturating_sub(r)..(i + r + 1).min(h) {
                for (o, &v) in out.iter_mut().zip(&sums[t * w..(t + 1) * w]) {
                    *o += v;
                }
            }
            if divide == Divide::After {
                for (o, &cw) in out.iter_mut().zip(cols) {
                    *o *= rows[i] * cw;
                }
            }
        }
    }
}

/// `pool.forward(x)`, through [`AveragePool`] when the pooling is non-overlapping (square
/// window equal to the stride, no padding, floor mode) or a stride-1 "same" pooling (odd
/// square window, padding half of it on every side), and `x` is f32 on `flex`.
pub fn avg_pool(pool: &AvgPool2d, x: Tensor<4>) -> Tensor<4> {
    let [k, kw] = pool.kernel_size;
    let unpadded = matches!(
        pool.padding,
        PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
    );
    let r = k / 2;
    let same = pool.padding == PaddingConfig2d::Explicit(r, r, r, r) && pool.stride == [1, 1];
    if k == kw && !pool.ceil_mode {
        let ours = if pool.stride == [k, k] && unpadded {
            window_mean(&x, k)
        } else if same {
            pooled(
                &x,
                Pooling::Same {
                    k,
                    count_pad: pool.count_include_pad,
                },
            )
        } else {
            None
        };
        if let Some(y) = ours {
            return y;
        }
    }
    pool.forward(x)
}

/// `pool.forward(x)`, through [`AveragePool`] when it is a global average (output 1x1) of a
/// square f32 input on `flex`.
pub fn adaptive_avg_pool(pool: &AdaptiveAvgPool2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if pool.output_size == [1, 1]
        && h == w
        && let Some(y) = window_mean(&x, h)
    {
        return y;
    }
    pool.forward(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::pool::AvgPool2dConfig;

    /// Asserts that `pooling` (ours) and Burn's `pool` give the same values and input
    /// gradients (under a non-uniform upstream gradient) on a `dims` batch.
    fn same_as_burns(dims: [usize; 4], pooling: Pooling, pool: &AvgPool2d) {
        let dev = Device::flex().autodiff();
        let count = dims.iter().product::<usize>();
        let data: Vec<f32> = (0..count)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let run = |ours: bool| {
            let x =
                Tensor::<4>::from_data(TensorData::new(data.clone(), dims), &dev).require_grad();
            let y = if ours {
                pooled(&x, pooling).expect("f32 on flex")
            } else {
                pool.forward(x.clone())
            };
            let grads = (y.clone() * y.clone()).sum().backward();
            let v = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().unwrap();
            (v(y), v(x.grad(&grads).expect("x is tracked")))
        };
        let ((y0, dx0), (y1, dx1)) = (run(false), run(true));
        for (what, a, b) in [("y", &y1, &y0), ("dx", &dx1, &dx0)] {
            let case = format!("{what} {dims:?} {pooling:?}");
            assert_eq!(a.len(), b.len(), "{case}");
            for (p, q) in a.iter().zip(b) {
                assert!(
                    (p - q).abs() <= 1e-5 * (1.0 + q.abs()),
                    "{case}: {p} vs {q}"
                );
            }
        }
    }

    #[test]
    fn forward_and_gradient_equal_burns_average_pooling() {
        // Even and odd sizes (the last row and column dropped), the global mean.
        for (dims, k) in [
            ([2, 3, 8, 8], 2),
            ([1, 2, 7, 5], 2),
            ([2, 4, 6, 6], 3),
            ([3, 5, 8, 8], 8),
        ] {
            let pool = AvgPool2dConfig::new([k, k]).with_strides([k, k]).init();
            same_as_burns(dims, Pooling::Windows(k), &pool);
        }
    }

    #[test]
    fn module_wrappers_pick_our_pooling_only_where_it_applies() {
        use burn::nn::pool::AdaptiveAvgPool2dConfig;
        let dev = Device::flex();
        let data: Vec<f32> = (0..2 * 3 * 6 * 6).map(|i| (i % 13) as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(data, [2, 3, 6, 6]), &dev);
        let v = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().unwrap();
        let pools = [
            AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            // Overlapping, strided and padded: Burn's.
            AvgPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
        ];
        for pool in &pools {
            assert_eq!(v(avg_pool(pool, x.clone())), v(pool.forward(x.clone())));
        }
        let even = AvgPool2dConfig::new([2, 2]).with_strides([1, 1]).init();
        assert!(
            pooled(
                &x,
                Pooling::Same {
                    k: 2,
                    count_pad: false
                }
            )
            .is_none()
        );
        assert_eq!(v(avg_pool(&even, x.clone())), v(even.forward(x.clone())));
        for size in [[1, 1], [2, 2]] {
            let pool = AdaptiveAvgPool2dConfig::new(size).init();
            let (a, b) = (
                v(adaptive_avg_pool(&pool, x.clone())),
                v(pool.forward(x.clone())),
            );
            assert_eq!(a.len(), b.len());
            for (p, q) in a.iter().zip(&b) {
                assert!(
                    (p - q).abs() <= 1e-5 * (1.0 + q.abs()),
                    "{size:?}: {p} vs {q}"
                );
            }
        }
    }

    /// NAS-Bench-201's `avg_pool_3x3` and its kin: values and gradients against Burn's
    /// pooling, with and without the padding counted, on planes down to 1 x 1.
    #[test]
    fn stride_one_pooling_equals_burns_with_its_gradient() {
        for (dims, k) in [
            ([2, 3, 8, 8], 3),
            ([1, 2, 7, 9], 3),
            ([2, 1, 1, 1], 3),
            ([1, 2, 2, 5], 3),
            ([1, 2, 9, 6], 5),
            ([1, 1, 3, 2], 5),
        ] {
            for count_pad in [false, true] {
                let r = k / 2;
                let pool = AvgPool2dConfig::new([k, k])
                    .with_strides([1, 1])
                    .with_padding(PaddingConfig2d::Explicit(r, r, r, r))
                    .with_count_include_pad(count_pad)
                    .init();
                same_as_burns(dims, Pooling::Same { k, count_pad }, &pool);
            }
        }
    }

    #[test]
    fn windows_larger_than_the_input_are_left_to_burn() {
        let x = Tensor::<4>::zeros([1, 1, 3, 3], &Device::flex());
        assert!(window_mean(&x, 4).is_none());
        assert!(window_mean(&x, 0).is_none());
    }
}
