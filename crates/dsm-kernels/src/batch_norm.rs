//! BatchNorm in training mode on `flex`, as one fused operation with a hand-written backward
//! (registered through a Burn backend extension like [`crate::train_conv`]). Burn 0.22's
//! default `batch_norm_train` and its backward, which flex does not override, swap the batch
//! and channel axes (a full copy) four times per layer and make several more passes; here
//! the statistics, the normalisation and the gradients are per-channel loops over the NCHW
//! planes in place. The running statistics are updated exactly as Burn's `BatchNorm` does.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;
use std::mem::MaybeUninit;

use crate::kernels::{
    contiguous, flex_primitive, flex_primitive_of, on_flex, plain_tensor, written_by,
};
use crate::simd::vectorised;

/// The extension: `gamma * (x - mean) / sqrt(var + epsilon) + beta` with the batch's
/// per-channel statistics (biased variance), differentiable in `x`, `gamma` and `beta`.
/// The caller passes the statistics (`[c]`, computed by `stats` from `x`, which it also
/// needs for the running averages); the backward differentiates through them as batch
/// statistics of `x`.
#[backend_extension(Flex, Autodiff)]
pub trait TrainBatchNorm: burn::backend::Backend {
    /// The normalised batch.
    fn dsm_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
}

/// `[n, c, pixels]` of an NCHW (or NC...) shape.
fn ncp(t: &FlexTensor) -> (usize, usize, usize) {
    let dims = t.layout().shape().dims::<4>();
    (dims[0], dims[1], dims[2] * dims[3])
}

/// Lanes of the vectorised reductions: sixteen f32 partial sums, moved into an f64 total
/// once the slices added reach [`FLUSH`] chunks (so a lane sums at most `FLUSH` values plus
/// those of one slice).
const LANES: usize = 16;

/// Chunks of [`LANES`] values a lane sums in f32 before its total takes it over: 1,024
/// values, one 32 x 32 plane. Smaller planes share the lanes instead of each paying the
/// sixteen conversions and f64 additions (at 8 x 8 those cost as much as the plane).
const FLUSH: usize = 64;

/// A sum of `f(a_i, b_i)` over slice pairs, in [`LANES`] f32 lanes flushed into f64.
struct LaneSum {
    acc: [f32; LANES],
    chunks: usize,
    total: f64,
}

impl LaneSum {
    fn new() -> Self {
        Self {
            acc: [0.0; LANES],
            chunks: 0,
            total: 0.0,
        }
    }

    /// Adds `f(a_i, b_i)` over two slices of one length.
    #[inline(always)]
    fn add(&mut self, a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
        let ((ba, ta), (bb, tb)) = (a.as_chunks::<LANES>(), b.as_chunks::<LANES>());
        self.total += ta
            .iter()
            .zip(tb)
            .map(|(&x, &y)| f64::from(f(x, y)))
            .sum::<f64>();
        // In a local array, which the compiler keeps in a register.
        let mut acc = self.acc;
        for (xa, xb) in ba.iter().zip(bb) {
            for l in 0..LANES {
                acc[l] += f(xa[l], xb[l]);
            }
        }
        self.acc = acc;
        self.chunks += ba.len();
        if self.chunks >= FLUSH {
            self.flush();
        }
    }

    /// Adds the values of `a`. A plain `acc[l] += a[l]` (also through [`LaneSum::add`]) was
    /// compiled as sixteen scalar sums (`perf annotate`: `vaddss` per lane); with `+ 0.0` on
    /// each value, which changes nothing but the sign of a zero, it is one vector add.
    #[inline(always)]
    fn add_values(&mut self, a: &[f32]) {
        let (ba, ta) = a.as_chunks::<LANES>();
        self.total += ta.iter().map(|&x| f64::from(x)).sum::<f64>();
        let mut acc = self.acc;
        for xa in ba {
            acc = std::array::from_fn(|l| acc[l] + (xa[l] + 0.0));
        }
        self.acc = acc;
        self.chunks += ba.len();
        if self.chunks >= FLUSH {
            self.flush();
        }
    }

    #[inline(always)]
    fn flush(&mut self) {
        self.total += self.acc.iter().map(|&s| f64::from(s)).sum::<f64>();
        self.acc = [0.0; LANES];
        self.chunks = 0;
    }

    #[inline(always)]
    fn sum(mut self) -> f64 {
        self.flush();
        self.total
    }
}

/// Per-channel mean and biased variance of an NCHW batch (`[n, c, pixels]`) in one pass
/// over the batch: the sums of `x - s` and `(x - s)^2` with `s` the channel's first value
/// (close enough to the mean that the difference of the two moments does not cancel), each
/// plane reduced in f32 lanes (once per sum, the second time from L1) and the planes added
/// in f64.
pub fn stats(x: &[f32], (n, c, p): (usize, usize, usize)) -> (Vec<f32>, Vec<f32>) {
    (0..c)
        .into_par_iter()
        .map(|ch| channel_stats(x, [n, c, p, ch]))
        .unzip()
}

vectorised! {
    /// Channel `ch`'s mean and biased variance ([`stats`]).
    fn channel_stats(x: &[f32], shape: [usize; 4]) -> (f32, f32) {
        let [n, c, p, ch] = shape;
        let count = (n * p) as f64;
        if count == 0.0 {
            return (f32::NAN, f32::NAN);
        }
        let s = x[ch * p];
        let (mut s1, mut s2) = (LaneSum::new(), LaneSum::new());
        for b in 0..n {
            let v = &x[(b * c + ch) * p..(b * c + ch + 1) * p];
            // One pass per sum (the second reads the plane from L1): with two sums in one
            // loop the compiler pairs each lane's two sums into a vector rather than a
            // sum's sixteen lanes, and the loop stays scalar.
            s1.add(v, v, |a, _| a - s);
            s2.add(v, v, |a, _| (a - s) * (a - s));
        }
        let (s1, s2) = (s1.sum(), s2.sum());
        let d = s1 / count;
        (
            (f64::from(s) + d) as f32,
            (s2 / count - d * d).max(0.0) as f32,
        )
    }
}

vectorised! {
    /// `out = src * scale + shift`.
    fn scale_shift(out: &mut [MaybeUninit<f32>], src: &[f32], scale: f32, shift: f32) {
        for (o, &v) in out.iter_mut().zip(src) {
            o.write(v * scale + shift);
        }
    }
}

/// The batch normalised with its per-channel statistics `mean` and `var`.
fn forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    mean: &[f32],
    var: &[f32],
    eps: f64,
) -> FlexTensor {
    let (n, c, p) = ncp(x);
    let xs = contiguous(x);
    let (g, b) = (contiguous(gamma), contiguous(beta));
    // SAFETY: each plane's output is written element by element from its input plane of
    // the same length.
    let y = unsafe {
        written_by(n * c * p, p, |plane, out| {
            let ch = plane % c;
            let scale = g[ch] / (f64::from(var[ch]) + eps).sqrt() as f32;
            let shift = b[ch] - mean[ch] * scale;
            scale_shift(out, &xs[plane * p..(plane + 1) * p], scale, shift);
        })
    };
    flex_primitive_of(y, x.layout().shape().dims::<4>())
}

impl TrainBatchNorm for Flex {
    fn dsm_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        var: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        forward(
            &x,
            &gamma,
            &beta,
            &contiguous(&mean),
            &contiguous(&var),
            epsilon,
        )
    }
}

/// `(dx, dgamma, dbeta)` of the batch-statistics BatchNorm, given the forward's statistics.
fn backward(
    x: &[f32],
    gamma: &[f32],
    dy: &[f32],
    (mean, var, eps): (&[f32], &[f32], f64),
    (n, c, p): (usize, usize, usize),
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let count = (n * p) as f64;
    // Per channel: sum(dy) and sum(dy * xhat) = sum(dy * (x - mean)) / sigma.
    let sums: Vec<(f64, f64)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let inv_std = 1.0 / (f64::from(var[ch]) + eps).sqrt();
            let (s, sx) = channel_grad_sums(dy, x, mean[ch], [n, c, p, ch]);
            (s, sx * inv_std)
        })
        .collect();
    // SAFETY: each plane's gradient is written element by element from its planes of `dy`
    // and `x` of the same length.
    let dx = unsafe {
        written_by(n * c * p, p, |plane, out| {
            let ch = plane % c;
            let inv_std = 1.0 / (f64::from(var[ch]) + eps).sqrt();
            let (s, sx) = sums[ch];
            let k = f64::from(gamma[ch]) * inv_std;
            let (mean_dy, mean_dy_xhat) = ((s / count) as f32, (sx / count) as f32);
            let (k, inv_std, mu) = (k as f32, inv_std as f32, mean[ch]);
            let at = plane * p;
            let coefficients = [k, mean_dy, mean_dy_xhat, inv_std, mu];
            input_grad(out, &dy[at..at + p], &x[at..at + p], coefficients);
        })
    };
    let dgamma = sums.iter().map(|&(_, sx)| sx as f32).collect();
    let dbeta = sums.iter().map(|&(s, _)| s as f32).collect();
    (dx, dgamma, dbeta)
}

vectorised! {
    /// `(sum(dy), sum(dy * (x - mu)))` over channel `ch`'s planes.
    fn channel_grad_sums(dy: &[f32], x: &[f32], mu: f32, shape: [usize; 4]) -> (f64, f64) {
        let [n, c, p, ch] = shape;
        let (mut s, mut sx) = (LaneSum::new(), LaneSum::new());
        for b in 0..n {
            let at = (b * c + ch) * p;
            let (g, v) = (&dy[at..at + p], &x[at..at + p]);
            s.add_values(g);
            sx.add(g, v, |a, b| a * (b - mu));
        }
        (s.sum(), sx.sum())
    }
}

vectorised! {
    /// One plane of the input gradient: `k (dy - mean_dy - xhat mean_dy_xhat)` with `xhat
    /// = (x - mu) inv_std`, from `[k, mean_dy, mean_dy_xhat, inv_std, mu]`.
    fn input_grad(out: &mut [MaybeUninit<f32>], dy: &[f32], x: &[f32], coefficients: [f32; 5]) {
        let [k, mean_dy, mean_dy_xhat, inv_std, mu] = coefficients;
        for ((o, &g), &v) in out.iter_mut().zip(dy).zip(x) {
            let xhat = (v - mu) * inv_std;
            o.write(k * (g - mean_dy - xhat * mean_dy_xhat));
        }
    }
}

impl<C: CheckpointStrategy> TrainBatchNorm for Autodiff<Flex, C> {
    fn dsm_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct BnBackward;

        impl Backward<Flex, 3> for BnBackward {
            type State = (FlexTensor, FlexTensor, f64, Vec<f32>, Vec<f32>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let dy = grads.consume::<Flex>(&ops.node);
                let (x, gamma, eps, mean, var) = ops.state;
                let shape = ncp(&x);
                let c = shape.1;
                let (dx, dgamma, dbeta) = backward(
                    &contiguous(&x),
                    &contiguous(&gamma),
                    &contiguous(&dy),
                    (&mean, &var, eps),
                    shape,
                );
                if let Some(node) = node_x {
                    let dims = x.layout().shape().dims::<4>();
                    grads.register::<Flex>(node.id, flex_primitive_of(dx, dims));
                }
                if let Some(node) = node_gamma {
                    grads.register::<Flex>(node.id, flex_primitive_of(dgamma, [c]));
                }
                if let Some(node) = node_beta {
                    grads.register::<Flex>(node.id, flex_primitive_of(dbeta, [c]));
                }
            }
        }

        let (mean, var) = (
            contiguous(mean.primitive()).into_owned(),
            contiguous(var.primitive()).into_owned(),
        );
        let out = forward(
            x.primitive(),
            gamma.primitive(),
            beta.primitive(),
            &mean,
            &var,
            epsilon,
        );
        match BnBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (xp, gp) = (x.primitive().clone(), gamma.primitive().clone());
                prep.finish((xp, gp, epsilon, mean, var), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

/// `bn.forward(x)`, with the training-mode path (autodiff device, layer not frozen) on our
/// fused operation when `x` is f32 on `flex`, and inference on plain `flex` as one parallel
/// pass with the running statistics (`inference`); Burn's `BatchNorm` otherwise (frozen
/// layers on an autodiff device included).
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let [_, c, _, _] = x.dims();
    let [features] = bn.gamma.dims();
    if c != features {
        return bn.forward(x);
    }
    if !(device.is_autodiff() && bn.training.is_enabled()) {
        return inference(bn, &x).unwrap_or_else(|| bn.forward(x));
    }
    let (xd, gd, bd) = (
        x.clone().into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
    );
    if ![&xd, &gd, &bd]
        .iter()
        .all(|t| on_flex(&t.kind) && t.kind.dtype() == DType::F32)
    {
        return bn.forward(x);
    }
    let Some(xp) = flex_primitive(&x.clone().inner()) else {
        return bn.forward(x); // unreachable: `x` is f32 on flex (checked above)
    };
    let (mean, var) = stats(&contiguous(&xp), ncp(&xp));
    let stat = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [c]), &device);
    let out = Tensor::from_dispatch(<Dispatch as TrainBatchNorm>::dsm_batch_norm_train(
        xd,
        gd,
        bd,
        stat(&mean).into_dispatch(),
        stat(&var).into_dispatch(),
        bn.epsilon,
    ));
    // The running statistics, updated as Burn's `BatchNorm::forward_train` does.
    let update = |state: &burn::module::RunningState<Tensor<1>>, stat: Vec<f32>| {
        let stat = Tensor::<1>::from_data(TensorData::new(stat, [c]), &device);
        let running = state.value_sync().to_device(&device);
        let running = running
            .mul_scalar(1.0 - bn.momentum)
            .add(stat.mul_scalar(bn.momentum));
        state.update(running.detach());
    };
    update(&bn.running_mean, mean);
    update(&bn.running_var, var);
    out
}

/// Inference with the running statistics on plain `flex` (no autodiff): `x * scale +
/// shift` per channel, one pass on rayon's threads. Flex's `batch_norm` makes four
/// broadcasting passes on the calling thread (about 12 % of an NB201 forward's samples,
/// `perf` at batch 64 on 2 threads). `None` when any tensor is not f32 on plain `flex`.
fn inference(bn: &BatchNorm, x: &Tensor<4>) -> Option<Tensor<4>> {
    let xp = flex_primitive(x)?;
    let device = x.device();
    let (gamma, beta) = (
        flex_primitive(&bn.gamma.val())?,
        flex_primitive(&bn.beta.val())?,
    );
    let mean = flex_primitive(&bn.running_mean.value().to_device(&device))?;
    let var = flex_primitive(&bn.running_var.value().to_device(&device))?;
    let (mean, var) = (contiguous(&mean), contiguous(&var));
    let y = forward(&xp, &gamma, &beta, &mean, &var, bn.epsilon);
    Some(plain_tensor(y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::BatchNormConfig;

    fn run(ours: bool, dims: [usize; 4]) -> Vec<Vec<f32>> {
        let dev = Device::flex().autodiff();
        let c = dims[1];
        let mut bn = BatchNormConfig::new(c).init(&dev);
        let g: Vec<f32> = (0..c).map(|i| 0.5 + i as f32 * 0.25).collect();
        let b: Vec<f32> = (0..c).map(|i| i as f32 * 0.1 - 0.2).collect();
        bn.gamma =
            burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(g, [c]), &dev));
        bn.beta =
            burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(b, [c]), &dev));
        let n = dims.iter().product::<usize>();
        let data: Vec<f32> = (0..n)
            .map(|i| ((i * 37) % 101) as f32 / 25.0 - 2.0)
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(data, dims), &dev).require_grad();
        let y = if ours {
            batch_norm(&bn, x.clone())
        } else {
            bn.forward(x.clone())
        };
        let weights: Vec<f32> = (0..n).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
        let loss = (y.clone() * Tensor::from_data(TensorData::new(weights, dims), &dev)).sum();
        let grads = loss.backward();
        let v4 = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().unwrap();
        let v1 = |t: Tensor<1>| t.into_data().try_into_vec::<f32>().unwrap();
        vec![
            v4(y),
            v4(x.grad(&grads).unwrap()),
            v1(bn.gamma.val().grad(&grads).unwrap()),
            v1(bn.beta.val().grad(&grads).unwrap()),
            v1(bn.running_mean.value()),
            v1(bn.running_var.value()),
        ]
    }

    #[test]
    fn fused_batch_norm_equals_burns_in_values_gradients_and_running_statistics() {
        // The last two span several flushes of the f32 lanes (many small planes; planes
        // longer than a flush, with tails).
        for dims in [
            [4, 3, 5, 5],
            [2, 8, 7, 3],
            [1, 2, 1, 1],
            [3, 1, 4, 6],
            [40, 2, 8, 8],
            [2, 2, 32, 33],
        ] {
            let want = run(false, dims);
            let got = run(true, dims);
            for (what, (a, b)) in ["y", "dx", "dgamma", "dbeta", "running mean", "running var"]
                .iter()
                .zip(got.iter().zip(&want))
            {
                assert_eq!(a.len(), b.len(), "{what} {dims:?}");
                for (p, q) in a.iter().zip(b) {
                    assert!(
                        (p - q).abs() <= 1e-4 * (1.0 + q.abs()),
                        "{what} {dims:?}: {p} vs {q}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_instruction_set_computes_the_same_bits() {
        use crate::simd::tests::{at_level, levels};
        // Planes of 37 pixels: whole vectors and a tail.
        let (n, c, p) = (3, 4, 37);
        let x: Vec<f32> = (0..n * c * p)
            .map(|i| ((i * 37) % 101) as f32 / 25.0 - 2.0)
            .collect();
        let dy: Vec<f32> = (0..n * c * p)
            .map(|i| ((i * 13) % 7) as f32 - 3.0)
            .collect();
        let gamma = [0.5, 1.0, 1.5, 2.0];
        let run = || {
            let (mean, var) = stats(&x, (n, c, p));
            let (dx, dg, db) = backward(&x, &gamma, &dy, (&mean, &var, 1e-5), (n, c, p));
            let mut y = Vec::with_capacity(x.len());
            scale_shift(&mut y.spare_capacity_mut()[..x.len()], &x, 0.7, -0.3);
            // SAFETY: `scale_shift` wrote every element.
            unsafe { y.set_len(x.len()) };
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            [mean, var, dx, dg, db, y].map(|v| bits(&v))
        };
        let want = at_level(crate::simd::Level::Baseline, run);
        for level in levels() {
            assert_eq!(at_level(level, run), want, "{level:?}");
        }
    }

    #[test]
    fn inference_equals_burns_and_frozen_layers_keep_burns_path() {
        let dev = Device::flex();
        let mut bn = BatchNormConfig::new(3).init(&dev);
        let stat = |v: [f32; 3]| Tensor::<1>::from_data(v, &dev);
        bn.gamma = burn::module::Param::from_tensor(stat([0.5, -1.5, 2.0]));
        bn.beta = burn::module::Param::from_tensor(stat([0.1, 0.0, -3.0]));
        bn.running_mean = burn::module::RunningState::new(stat([1.0, -2.0, 0.25]));
        bn.running_var = burn::module::RunningState::new(stat([0.5, 4.0, 1e-3]));
        let x = Tensor::<4>::random([2, 3, 5, 7], burn::tensor::Distribution::Default, &dev);
        assert!(inference(&bn, &x).is_some(), "inference on flex is ours");
        crate::kernels::tests::close(batch_norm(&bn, x.clone()), bn.forward(x), 1e-5, "inference");
        // A frozen layer on an autodiff device: Burn's inference path, bit for bit.
        let ad = dev.autodiff();
        let frozen = BatchNormConfig::new(3).init(&ad).no_grad();
        let x = Tensor::<4>::ones([2, 3, 4, 4], &ad);
        assert!(inference(&frozen, &x).is_none());
        let frozen = frozen.freeze();
        assert_eq!(
            batch_norm(&frozen, x.clone()).into_data(),
            frozen.forward(x).into_data()
        );
    }
}
