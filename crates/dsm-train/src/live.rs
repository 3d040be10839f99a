//! Live evaluators: architectures scored by training them, for searches without a table.

use std::time::Instant;

use burn::prelude::*;
use dsm_space::{Evaluation, Evaluator, MbV3Space};

use crate::TrainError;
use crate::data::ImageSet;
use crate::train::{MbV3Builder, ModelBuilder, Nb201Builder, TrainConfig, Trainer};

/// Scores architectures by training them: each architecture's network (built by a
/// [`ModelBuilder`]) is trained from scratch on the training set with a [`TrainConfig`]; the
/// validation top-1 accuracy after the last epoch is the score, the measured wall time the
/// cost. This lets the DSM miner (or any method) search a space without a benchmark table,
/// with any model that has a builder.
///
/// The cost is real time, so a search bounded by a time budget is not reproducible to the
/// byte; bound it by iterations (`Budget::max_iters`) for reproducible runs.
///
/// ```
/// use burn::prelude::*;
/// use dsm_space::Evaluator;
/// use dsm_train::{LiveEvaluator, Nb201Builder, TrainConfig, data};
///
/// let d = data::load_train_test("builtin", 8, 0)?;
/// let cfg = TrainConfig { epochs: 1, batch_size: 64, ..TrainConfig::default() };
/// let mut live = LiveEvaluator::new(Nb201Builder, d.train, d.test, cfg, Device::flex())?;
/// let cell: dsm_space::Nb201Cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
/// let e = live.evaluate(&cell)?;
/// assert!((0.0..=100.0).contains(&e.score) && e.cost_s > 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LiveEvaluator<B> {
    builder: B,
    train: ImageSet,
    valid: ImageSet,
    config: TrainConfig,
    device: Device,
}

impl<B> LiveEvaluator<B> {
    /// An evaluator that trains the networks `builder` builds on `train` with `config` and
    /// scores them on `valid`.
    pub fn new(
        builder: B,
        train: ImageSet,
        valid: ImageSet,
        config: TrainConfig,
        device: Device,
    ) -> Result<Self, TrainError> {
        config.check()?;
        Ok(Self {
            builder,
            train,
            valid,
            config,
            device,
        })
    }
}

impl<A, B: ModelBuilder<A>> Evaluator<A> for LiveEvaluator<B> {
    type Error = TrainError;

    fn evaluate(&mut self, arch: &A) -> Result<Evaluation, TrainError> {
        let start = Instant::now();
        let (_, metrics) = Trainer::new(&self.config, &self.device).fit(
            &self.builder,
            arch,
            &self.train,
            &self.valid,
            &mut |_| {},
        )?;
        Ok(Evaluation {
            score: metrics.last().map_or(0.0, |m| m.test_acc),
            cost_s: start.elapsed().as_secs_f64(),
        })
    }
}

/// The live evaluator of NAS-Bench-201 cells.
pub type Nb201LiveEvaluator = LiveEvaluator<Nb201Builder>;

/// The live evaluator of MobileNetV3 subnets: each subnet is trained at the images'
/// resolution.
pub type MbV3LiveEvaluator = LiveEvaluator<MbV3Builder>;

impl MbV3LiveEvaluator {
    /// An evaluator that trains subnets of `space` on `train` with `config` and scores on
    /// `valid`.
    pub fn mbv3(
        space: MbV3Space,
        train: ImageSet,
        valid: ImageSet,
        config: TrainConfig,
        device: Device,
    ) -> Result<Self, TrainError> {
        Self::new(MbV3Builder::new(space), train, valid, config, device)
    }
}
