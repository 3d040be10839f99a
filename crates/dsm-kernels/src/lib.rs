//! # dsm-kernels: hand-written CPU kernels for the DSM-NAS models
//!
//! Burn's `flex` CPU backend runs the models' convolutions, BatchNorm, pooling and branch
//! sums through general paths that leave most of the work on the calling thread. This crate
//! holds our replacements, as Burn backend extensions (forward and gradient) or as plain
//! functions on `flex` tensors, and is the only crate of the workspace with `unsafe` code
//! (every block with its `SAFETY:` reason; `clippy::undocumented_unsafe_blocks` is denied).
//!
//! The interface the model crates call:
//! - **routers** that return `None` when the tensor is not on plain `flex` (or the case is
//!   not one the kernels cover) so the caller falls back to Burn's own operation:
//!   [`conv2d`] (dense 3x3 / 1x1 convolutions with a fused ReLU, direct or gemm-based, with
//!   their gradients), [`depthwise_conv2d`], [`dense_conv2d`] (inference);
//! - **drop-in operations** that pick our kernel or Burn's: [`batch_norm`], [`avg_pool`],
//!   [`adaptive_avg_pool`], [`sum`];
//! - the **fused MobileNet inference** passes: a whole inverted-residual block
//!   ([`fused_mbconv`] of [`MbConvLayers`]) and the classification head ([`fused_head`]),
//!   with the activations [`Act`];
//! - [`keep_freed_memory`]: an opt-in glibc allocator setting for training programs.
//!
//! ```
//! use burn::prelude::*;
//! use burn::nn::conv::Conv2dConfig;
//! use burn::nn::PaddingConfig2d;
//!
//! let dev = Device::flex();
//! let conv = Conv2dConfig::new([4, 8], [3, 3])
//!     .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
//!     .init(&dev);
//! let x = Tensor::<4>::ones([2, 4, 16, 16], &dev);
//! // Our kernel on plain flex, with the ReLU fused; `None` would mean "use conv.forward".
//! let y = dsm_kernels::conv2d(&conv, &x, true).unwrap_or_else(|| conv.forward(x.clone()).clamp_min(0.0));
//! assert_eq!(y.dims(), [2, 8, 16, 16]);
//! ```

#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod allocator;
mod batch_norm;
mod conv_grad;
mod direct;
mod kernels;
mod mbconv;
mod pointwise;
mod pool;
mod simd;
mod sum;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
mod train_conv;

pub use allocator::keep_freed_memory;
pub use batch_norm::{TrainBatchNorm, batch_norm};
pub use kernels::{Act, depthwise_conv2d};
pub use mbconv::{MbConvLayers, fused_head, fused_mbconv};
pub use pointwise::dense_conv2d;
pub use pool::{AveragePool, Pooling, adaptive_avg_pool, avg_pool};
pub use sum::{ParallelSum, sum};
pub use train_conv::{TrainConv, conv2d};
