//! # dsm-models: Burn models of the DSM-NAS search spaces
//!
//! - [`Nb201Network`]: the NAS-Bench-201 network (C = 16, N = 5) for any cell and class
//!   count;
//! - [`MobileNetV3`]: any subnet of the Once-for-All MobileNetV3 space at any width, class
//!   count and input resolution; [`dsm_nas`] and [`dsm_nas_plus`] are the two published
//!   ImageNet models;
//! - [`StateDict`]: PyTorch weights from safetensors or `torch.save` files, loaded by the
//!   reference tensor names into the models in eval mode (BatchNorm running statistics,
//!   eps 1e-5). A missing, extra or mis-shaped tensor is a [`ModelError::StateDict`] that
//!   lists every offender; nothing is loaded partially.
//!
//! [`zoo`]: models by name (`dsm_nas`, `nb201:<cell>`, `mbv3:<arch>`) with their weights, as
//! the command-line tools take them.
//!
//! Training, data sets and evaluation live in `dsm-train`; the hand-written CPU kernels the
//! models run on live in `dsm-kernels`.
//!
//! [`keep_freed_memory`]: an opt-in allocator setting for training programs (glibc), which
//! otherwise page-fault their buffers back in every step.
//!
//! The backend is chosen at run time by the Burn `Device` (`Device::flex()` by default);
//! [`backend::Backend`] picks one by name among those compiled in (cargo features `ndarray`,
//! `wgpu`, `tch`, `cuda`).
//!
//! ```
//! use burn::prelude::*;
//! use dsm_models::Nb201Network;
//!
//! let dev = Device::flex();
//! let cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
//! let net = Nb201Network::new(&cell, 10, &dev);
//! let logits = net.forward(Tensor::zeros([2, 3, 32, 32], &dev));
//! assert_eq!(logits.dims(), [2, 10]);
//! assert_eq!(net.madds(32), cell.flops(10, 32)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod backend;
mod error;
pub mod layers;
mod mbv3;
mod nb201;
mod probe;
mod weights;
pub mod zoo;

pub use dsm_kernels::keep_freed_memory;
pub use error::{ModelError, ShapeMismatch, StateDictReport};
pub use mbv3::{MbBlock, MobileNetV3, SqueezeExcite, dsm_nas, dsm_nas_plus};
pub use nb201::{EdgeOp, Identity, InferCell, Nb201Network, ResBlock, Stage};
pub use probe::{Probe, Probed};
pub use weights::{NamedTensor, StateDict};
