//! The sum of two tensors of one shape (a NAS-Bench-201 node adding its incoming edges,
//! a residual block adding its two branches) on `flex`, on rayon's threads, registered
//! through a Burn backend extension like [`crate::train_conv`]. Flex adds on the calling
//! thread, while the other threads wait: at batch 64 on 2 threads the calling thread held
//! 6.8 % of a training step's samples, flex's additions 2.5 % of them (`perf`); with the
//! forward sums here, 4.8 % (autodiff's own gradient additions remain). The backward hands
//! the output gradient to both inputs, as Burn's does.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, DispatchAutodiffContext, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;

use crate::kernels::{contiguous, flex_primitive_of, on_flex, written_by};
use crate::simd::vectorised;

/// The extension: `a + b` for two tensors of one shape.
#[backend_extension(Flex, Autodiff)]
pub trait ParallelSum: burn::backend::Backend {
    /// The elementwise sum.
    fn dsm_sum(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Elements per task: big enough to amortise the task, small enough to share the work.
const CHUNK: usize = 1 << 14;

fn forward(a: &FlexTensor, b: &FlexTensor) -> FlexTensor {
    let shape = a.layout().shape().clone();
    let (xa, xb) = (contiguous(a), contiguous(b));
    // SAFETY: `add` writes every element of its chunk from the chunks of `a` and `b` at
    // the same place, of the same length (the shapes are equal).
    let y = unsafe {
        written_by(xa.len(), CHUNK, |i, out| {
            let at = i * CHUNK;
            add(out, &xa[at..at + out.len()], &xb[at..at + out.len()]);
        })
    };
    flex_primitive_of(y, shape.dims::<4>())
}

vectorised! {
    /// `out = a + b`.
    fn add(out: &mut [std::mem::MaybeUninit<f32>], a: &[f32], b: &[f32]) {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            o.write(x + y);
        }
    }
}

impl ParallelSum for Flex {
    fn dsm_sum(a: FlexTensor, b: FlexTensor) -> FlexTensor {
        forward(&a, &b)
    }
}

impl<C: CheckpointStrategy> ParallelSum for Autodiff<Flex, C> {
    fn dsm_sum(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SumBackward;

        impl Backward<Flex, 2> for SumBackward {
            type State = ();

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let dy = grads.consume::<Flex>(&ops.node);
                for node in ops.parents.into_iter().flatten() {
                    grads.register::<Flex>(node.id, dy.clone());
                }
            }
        }

        let out = forward(a.primitive(), b.primitive());
        SumBackward
            .prepare::<C>([a.node(), b.node()])
            .compute_bound()
            .stateless(out)
    }
}

/// `a + b` through [`ParallelSum`] when both are f32 4-D tensors of one shape on `flex`
/// (both with or both without autodiff); Burn's addition otherwise (broadcasting included).
pub fn sum(a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    if a.dims() != b.dims() || a.dtype() != DType::F32 || b.dtype() != DType::F32 {
        return a + b;
    }
    let (da, db) = (a.clone().into_dispatch(), b.clone().into_dispatch());
    let plain = |c: &DispatchAutodiffContext| matches!(c, DispatchAutodiffContext::Disabled);
    let same_kind = plain(&da.autodiff) == plain(&db.autodiff);
    if !on_flex(&da.kind) || !on_flex(&db.kind) || !same_kind {
        return a + b;
    }
    Tensor::from_dispatch(<Dispatch as ParallelSum>::dsm_sum(da, db))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(dims: [usize; 4], seed: usize) -> Vec<f32> {
        (0..dims.iter().product::<usize>())
            .map(|i| ((i * 7919 + seed * 104_729) % 1013) as f32 / 253.0 - 2.0)
            .collect()
    }

    #[test]
    fn sums_and_gradients_equal_burns() {
        let dev = Device::flex().autodiff();
        for dims in [[2, 3, 5, 7], [4, 16, 32, 32], [1, 1, 1, 1]] {
            let a =
                Tensor::<4>::from_data(TensorData::new(values(dims, 1), dims), &dev).require_grad();
            let b =
                Tensor::<4>::from_data(TensorData::new(values(dims, 2), dims), &dev).require_grad();
            let weights = Tensor::<4>::from_data(TensorData::new(values(dims, 3), dims), &dev);
            let run = |ours: bool| {
                // `a` twice: once in the sum, once more beside it.
                let s = if ours {
                    sum(a.clone(), b.clone())
                } else {
                    a.clone() + b.clone()
                };
                let loss = (s.clone() * weights.clone() + a.clone()).sum();
                let grads = loss.backward();
                let v = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().unwrap();
                (v(s), v(a.grad(&grads).unwrap()), v(b.grad(&grads).unwrap()))
            };
            assert_eq!(run(true), run(false), "{dims:?}");
        }
        // Without autodiff, and the same tensor on both sides.
        let x = Tensor::<4>::from_data(
            TensorData::new(values([2, 2, 3, 3], 4), [2, 2, 3, 3]),
            &Device::flex(),
        );
        assert_eq!(
            sum(x.clone(), x.clone())
                .into_data()
                .try_into_vec::<f32>()
                .unwrap(),
            (x.clone() + x).into_data().try_into_vec::<f32>().unwrap()
        );
    }
}
