//! # dsm-nas: neural architecture search by dominative subspace mining
//!
//! One dependency for users who want the whole toolkit; each part is also its own crate:
//!
//! | module | crate | what |
//! | --- | --- | --- |
//! | [`space`] | `dsm-space` | search spaces (NAS-Bench-201 cells, Once-for-All MobileNetV3), edits, encodings, exact costs |
//! | [`bench`](mod@bench) | `dsm-bench` | the embedded NAS-Bench-201 table, lookups, a table evaluator |
//! | [`draw`] | `dsm-draw` | SVG pictures of NAS-Bench-201 cells and MobileNetV3-like subnets |
//! | [`models`] | `dsm-models` | Burn models (NAS-Bench-201 networks, MobileNetV3 subnets, `dsm_nas`), PyTorch weights in and out (safetensors, `.pt`) |
//! | [`train`](mod@train) | `dsm-train` | the resumable generic trainer, data sets, top-k evaluation, live evaluators, the accuracy predictor |
//! | [`kernels`] | `dsm-kernels` | our CPU kernels on Burn's `flex` backend, as backend extensions (all raw-pointer and SIMD-intrinsic code of the workspace) |
//! | [`miner`] | `dsm-miner` | the ask/tell search driver; DSM-NAS (Burn controller, REINFORCE) and the random / REA / REINFORCE baselines as strategies |
//! | [`args`] | (here) | parsers of command-line values the tools share (a learning rate) |
//! | [`extending`] | (here) | the extension guide (`docs/extending.md`), its code compiled and run as doc-tests |
//! | [`running`] | (here) | how a search runs, in one place (`docs/running.md`): the blocking call, the ask/tell driver, the study, where evaluations run, methods by name; compiled as doc-tests |
//! | [`protocol`] | `dsm-protocol` | search protocols: job grids, parallel checkpointed trials, typed results, statistics (sem, 95 % CI, Mann-Whitney U), curves; the published NAS-Bench-201 protocol |
//!
//! ```
//! use dsm_nas::bench::{Dataset, Nb201Table};
//! use dsm_nas::space::Nb201Cell;
//!
//! let cell: Nb201Cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|".parse()?;
//! let r = Nb201Table::embedded().lookup(&cell, Dataset::Cifar100);
//! assert!((r.test_acc - 73.51).abs() < 0.01); // the CIFAR-100 optimum
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod args;
#[doc = include_str!("../../../docs/extending.md")]
pub mod extending {}
#[doc = include_str!("../../../docs/running.md")]
pub mod running {}
pub use dsm_bench as bench;
pub use dsm_cluster as cluster;
pub use dsm_draw as draw;
pub use dsm_kernels as kernels;
pub use dsm_miner as miner;
pub use dsm_models as models;
pub use dsm_protocol as protocol;
pub use dsm_space as space;
pub use dsm_train as train;
