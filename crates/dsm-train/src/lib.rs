//! # dsm-train: training, evaluating and predicting DSM-NAS models
//!
//! - [`Trainer`]: the NAS-Bench-201 recipe (SGD with Nesterov momentum, cosine learning
//!   rate, weight decay, random crops and flips; label smoothing and warm-up for MobileNets)
//!   for any [`Classifier`] a [`ModelBuilder`] builds ([`Nb201Builder`], [`MbV3Builder`] or
//!   a user's), resumable from a per-epoch [`TrainCheckpoint`];
//! - [`data`]: CIFAR-10/100 binaries, ImageFolder trees and the vendored 8x8 digits, with one
//!   format detection ([`data::load_train_test`]);
//! - [`TopK`] / [`evaluate_set`]: the one top-1 / top-5 evaluation, which
//!   [`imagenet::evaluate`] (ImageNet-style preprocessing of an ImageFolder) shares;
//! - [`LiveEvaluator`]: architectures of any space scored by training them, for searches
//!   without a table;
//! - [`predictor`]: an MLP accuracy predictor for any search space, usable as an evaluator;
//! - [`zero_cost`]: zero-cost proxies (SynFlow, LogSynFlow, NASWOT, gradient norm) of any
//!   model a [`zero_cost::ProxyBuilder`] builds, a `ProxyScorer` for guided searches;
//! - [`RunFolder`]: a training run's files (config, per-epoch metrics, checkpoint, the
//!   trained network as safetensors in PyTorch's naming), and `plot::curves_svg` (feature
//!   `plot`).
//!
//! ```
//! use burn::prelude::*;
//! use dsm_train::{TrainConfig, data, train_nb201};
//!
//! let d = data::load_train_test("builtin", 8, 0)?;
//! let cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
//! let cfg = TrainConfig { epochs: 1, batch_size: 64, ..TrainConfig::default() };
//! let (_net, history) = train_nb201(&cell, &d.train, &d.test, &cfg, &Device::flex(), &mut |_| {})?;
//! assert!(history[0].test_acc > 10.0); // ten classes
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod container;
pub mod data;
mod error;
mod eval;
pub mod imagenet;
pub mod live;
pub mod ofa;
#[cfg(feature = "plot")]
pub mod plot;
pub mod predictor;
pub mod rank;
mod run;
mod train;
pub mod workloads;
pub mod zero_cost;

pub use error::TrainError;
pub use eval::{Classifier, EvalReport, TopK, evaluate_set, top_k};
pub use live::{LiveEvaluator, MbV3LiveEvaluator, Nb201LiveEvaluator};
pub use run::{MetricsLog, RunFolder};
pub use train::{
    EpochMetrics, MbV3Builder, ModelBuilder, Nb201Builder, TrainCheckpoint, TrainConfig, Trainer,
    train_mbv3, train_nb201, train_nb201_resumable,
};
