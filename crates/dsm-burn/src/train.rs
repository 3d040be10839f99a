//! Training a NAS-Bench-201 network with the benchmark's recipe: SGD (momentum 0.9,
//! Nesterov), learning rate 0.1 cosine-annealed to 0 over all steps, weight decay 5e-4,
//! batch 256, random crop with 4-pixel zero padding and horizontal flips.

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use dsm_space::Nb201Cell;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::ImageSet;
use crate::{ModelError, Nb201Network};

/// Training hyper-parameters (defaults: the NAS-Bench-201 recipe, one epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs.
    pub epochs: usize,
    /// Batch size (256).
    pub batch_size: usize,
    /// Initial learning rate (0.1), cosine-annealed to 0.
    pub learning_rate: f64,
    /// SGD momentum (0.9).
    pub momentum: f64,
    /// Nesterov momentum (true).
    pub nesterov: bool,
    /// L2 weight decay (5e-4).
    pub weight_decay: f64,
    /// Zero padding of the random crop, in pixels (4; 0 turns cropping off).
    pub crop_padding: usize,
    /// Random horizontal flips (true).
    pub flip: bool,
    /// Seed of the initial weights, the batch order and the augmentation.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 1,
            batch_size: 256,
            learning_rate: 0.1,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 5e-4,
            crop_padding: 4,
            flip: true,
            seed: 0,
        }
    }
}

impl TrainConfig {
    /// Checks every value.
    pub fn check(&self) -> Result<(), ModelError> {
        let bad = |what: &str, reason: &str| {
            Err(ModelError::Input {
                what: format!("training config {what}"),
                reason: reason.to_string(),
            })
        };
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate", "must be a finite number > 0");
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", "must be in [0, 1)");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", "must be a finite number >= 0");
        }
        Ok(())
    }

    /// Learning rate at global step `t` of `total` (cosine annealing to 0).
    pub fn lr_at(&self, t: usize, total: usize) -> f64 {
        0.5 * self.learning_rate
            * (1.0 + (std::f64::consts::PI * t as f64 / total.max(1) as f64).cos())
    }
}

/// What one epoch measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy (%) on the augmented batches.
    pub train_acc: f64,
    /// Test accuracy (%).
    pub test_acc: f64,
    /// Images per second of the training steps.
    pub train_images_per_s: f64,
    /// Seconds since the start of training.
    pub wall_s: f64,
}

/// Normalises `set` in place with per-channel `mean` / `std`.
fn normalise(set: &mut ImageSet, mean: &[f32], std: &[f32]) {
    let [c, h, w] = set.shape;
    for img in set.pixels.chunks_mut(c * h * w) {
        for ch in 0..c {
            for v in &mut img[ch * h * w..(ch + 1) * h * w] {
                *v = (*v - mean[ch]) / std[ch];
            }
        }
    }
}

/// A batch with random crops (zero padding, applied before normalisation) and flips.
fn augmented_batch<R: rand::Rng>(
    set: &ImageSet,
    idx: &[usize],
    cfg: &TrainConfig,
    mean: &[f32],
    std: &[f32],
    rng: &mut R,
) -> Vec<f32> {
    let [c, h, w] = set.shape;
    let n = c * h * w;
    let p = cfg.crop_padding as i64;
    let mut out = Vec::with_capacity(idx.len() * n);
    for &i in idx {
        let img = &set.pixels[i * n..(i + 1) * n];
        let (dy, dx) = if p > 0 {
            (
                rng.random_range(-p..=p) as isize,
                rng.random_range(-p..=p) as isize,
            )
        } else {
            (0, 0)
        };
        let flip = cfg.flip && rng.random_bool(0.5);
        for ch in 0..c {
            for y in 0..h as isize {
                for x in 0..w as isize {
                    let sx = if flip { w as isize - 1 - x } else { x } + dx;
                    let sy = y + dy;
                    let raw = if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                        img[ch * h * w + sy as usize * w + sx as usize]
                    } else {
                        0.0
                    };
                    out.push((raw - mean[ch]) / std[ch]);
                }
            }
        }
    }
    out
}

/// Top-1 accuracy (%) of `model` on a normalised set.
pub fn accuracy(model: &Nb201Network, set: &ImageSet, batch: usize, device: &Device) -> f64 {
    let [c, h, w] = set.shape;
    let n = c * h * w;
    let mut correct = 0usize;
    for (b, labels) in set.labels.chunks(batch.max(1)).enumerate() {
        let start = b * batch.max(1);
        let x = Tensor::<4>::from_data(
            TensorData::new(
                set.pixels[start * n..(start + labels.len()) * n].to_vec(),
                [labels.len(), c, h, w],
            ),
            device,
        );
        let pred: Vec<i64> = model
            .forward(x)
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .expect("int argmax");
        correct += pred
            .iter()
            .zip(labels)
            .filter(|(p, l)| **p as usize == **l)
            .count();
    }
    100.0 * correct as f64 / set.len().max(1) as f64
}

/// Trains a NAS-Bench-201 network for `cell` on `train` (images in [0, 1], normalised here
/// with the training set's channel statistics) and evaluates it on `test` after every epoch;
/// `on_epoch` sees each epoch's metrics. Returns the trained network (in evaluation mode, on
/// `device`), the metrics and the normalisation.
pub fn train_nb201(
    cell: &Nb201Cell,
    train: &ImageSet,
    test: &ImageSet,
    cfg: &TrainConfig,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<(Nb201Network, Vec<EpochMetrics>), ModelError> {
    cfg.check()?;
    if train.is_empty() || test.is_empty() || train.shape != test.shape || train.shape[0] != 3 {
        return Err(ModelError::Input {
            what: "training data".into(),
            reason: format!(
                "need non-empty train and test sets of 3-channel images of one shape; got {:?} x {} and {:?} x {}",
                train.shape,
                train.len(),
                test.shape,
                test.len()
            ),
        });
    }
    let (mean, std) = train.channel_stats();
    let mut test = test.clone();
    normalise(&mut test, &mean, &std);
    let ad = device.clone().autodiff();
    let mut model = Nb201Network::init(cell, train.classes, cfg.seed, &ad);
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: cfg.momentum,
            dampening: 0.0,
            nesterov: cfg.nesterov,
        }))
        .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
        .init();
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(cfg.seed);
    let steps_per_epoch = train.len().div_ceil(cfg.batch_size);
    let total = steps_per_epoch * cfg.epochs;
    let [c, h, w] = train.shape;
    let start = Instant::now();
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut step = 0;
    for epoch in 1..=cfg.epochs {
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let epoch_start = Instant::now();
        let mut lr = cfg.learning_rate;
        for idx in order.chunks(cfg.batch_size) {
            let x = Tensor::<4>::from_data(
                TensorData::new(
                    augmented_batch(train, idx, cfg, &mean, &std, &mut rng),
                    [idx.len(), c, h, w],
                ),
                &ad,
            );
            let labels: Vec<i64> = idx.iter().map(|&i| train.labels[i] as i64).collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [idx.len()]), &ad);
            let logits = model.forward(x);
            let pred: Vec<i64> = logits
                .clone()
                .argmax(1)
                .into_data()
                .convert::<i64>()
                .try_into_vec::<i64>()
                .expect("int argmax");
            correct += pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
            let loss = loss_fn.forward(logits, y);
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                return Err(ModelError::Input {
                    what: format!("training loss at epoch {epoch}"),
                    reason: format!("{value} (diverged; lower the learning rate)"),
                });
            }
            loss_sum += value * idx.len() as f64;
            seen += idx.len();
            lr = cfg.lr_at(step, total);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            step += 1;
        }
        let train_secs = epoch_start.elapsed().as_secs_f64();
        let eval_model = model.valid();
        let m = EpochMetrics {
            epoch,
            lr,
            train_loss: loss_sum / seen as f64,
            train_acc: 100.0 * correct as f64 / seen as f64,
            test_acc: accuracy(&eval_model, &test, 256, device),
            train_images_per_s: seen as f64 / train_secs.max(1e-9),
            wall_s: start.elapsed().as_secs_f64(),
        };
        on_epoch(&m);
        history.push(m);
    }
    Ok((model.valid(), history))
}

/// Scores NAS-Bench-201 cells by training them: the validation accuracy after a short
/// training run is the score, the measured wall time the cost. This lets the DSM miner (or
/// any searcher) search the space without a benchmark table.
///
/// The cost is real time, so a search bounded by a time budget is not reproducible to the
/// byte; bound it by iterations (`Budget::max_iters`) for reproducible runs.
pub struct LiveEvaluator {
    train: ImageSet,
    valid: ImageSet,
    config: TrainConfig,
    device: Device,
}

impl LiveEvaluator {
    /// An evaluator that trains on `train` with `config` and scores on `valid`.
    pub fn new(
        train: ImageSet,
        valid: ImageSet,
        config: TrainConfig,
        device: Device,
    ) -> Result<Self, ModelError> {
        config.check()?;
        Ok(Self {
            train,
            valid,
            config,
            device,
        })
    }
}

impl dsm_space::Evaluator<Nb201Cell> for LiveEvaluator {
    type Error = ModelError;

    fn evaluate(&mut self, cell: &Nb201Cell) -> Result<dsm_space::Evaluation, ModelError> {
        let start = Instant::now();
        let (_, metrics) = train_nb201(
            cell,
            &self.train,
            &self.valid,
            &self.config,
            &self.device,
            &mut |_| {},
        )?;
        let score = metrics.last().map_or(0.0, |m| m.test_acc);
        Ok(dsm_space::Evaluation {
            score,
            cost_s: start.elapsed().as_secs_f64(),
        })
    }
}
