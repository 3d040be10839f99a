//! An accuracy predictor for any search space: the DSM-NAS reference's MLP (3 layers, 128
//! hidden units, ReLU, dropout) on the space's architecture encoding, trained in Rust from
//! `(architecture, accuracy)` pairs, saved and reloaded, and usable as an [`Evaluator`] so a
//! search can score candidates without training them.
//!
//! ```
//! use burn::prelude::*;
//! use dsm_train::predictor::{AccuracyPredictor, PredictorConfig};
//! use dsm_space::{MbV3Space, SearchSpace};
//! use rand::SeedableRng;
//!
//! let space = MbV3Space::new(1.2)?;
//! let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
//! // A toy accuracy: bigger subnets score higher.
//! let pairs: Vec<_> = (0..64)
//!     .map(|_| {
//!         let a = space.sample(&mut rng).unwrap();
//!         let acc = 70.0 + space.cost_at(&a, 224).unwrap().madds as f64 / 1e8;
//!         (a, acc)
//!     })
//!     .collect();
//! let cfg = PredictorConfig { epochs: 5, ..PredictorConfig::default() };
//! let (predictor, _report) = AccuracyPredictor::fit(&space, &pairs, &cfg, &Device::flex())?;
//! let guess = predictor.predict(&space, &[pairs[0].0.clone()])?;
//! assert!(guess[0].is_finite());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use burn::tensor::activation::relu;
use dsm_space::io::FormatError;
use dsm_space::{Evaluation, Evaluator, SearchSpace};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{TrainError, container};

/// Training settings of the predictor (defaults: 3 layers of 128, dropout 0.1, Adam).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorConfig {
    /// Hidden units of the two hidden layers (128).
    pub hidden: usize,
    /// Dropout probability after each hidden layer, in training (0.1).
    pub dropout: f64,
    /// Epochs over the training pairs (200).
    pub epochs: usize,
    /// Mini-batch size (64).
    pub batch_size: usize,
    /// Adam learning rate (1e-3).
    pub learning_rate: f64,
    /// L2 weight decay (1e-4).
    pub weight_decay: f64,
    /// Seed of the weights, the batch order and the dropout masks.
    pub seed: u64,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        Self {
            hidden: 128,
            dropout: 0.1,
            epochs: 200,
            batch_size: 64,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            seed: 0,
        }
    }
}

impl PredictorConfig {
    /// Checks every value.
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |what: &str, reason: &str| {
            Err(TrainError::Input {
                what: format!("predictor config {what}"),
                reason: reason.to_string(),
            })
        };
        if self.hidden == 0 || self.epochs == 0 || self.batch_size == 0 {
            return bad("hidden/epochs/batch_size", "each must be at least 1");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", "must be in [0, 1)");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate", "must be a finite number > 0");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", "must be a finite number >= 0");
        }
        Ok(())
    }
}

/// The MLP: encoding -> hidden -> hidden -> 1.
#[derive(Module, Debug)]
struct Mlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

impl Mlp {
    fn new(inputs: usize, hidden: usize, seed: u64, device: &Device) -> Self {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let mut linear = |din: usize, dout: usize| {
            let b = 1.0 / (din as f64).sqrt();
            let mut draw =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-b..b) as f32).collect() };
            let mut l = LinearConfig::new(din, dout).init(device);
            l.weight = burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(draw(din * dout), [din, dout]),
                device,
            ));
            l.bias = Some(burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(draw(dout), [dout]),
                device,
            )));
            l
        };
        Self {
            l1: linear(inputs, hidden),
            l2: linear(hidden, hidden),
            l3: linear(hidden, 1),
        }
    }

    /// `masks`: the (already scaled) dropout masks of the two hidden layers, in training.
    fn forward(&self, x: Tensor<2>, masks: Option<(Tensor<2>, Tensor<2>)>) -> Tensor<2> {
        let mut h = relu(self.l1.forward(x));
        if let Some((m1, _)) = &masks {
            h = h * m1.clone();
        }
        let mut h = relu(self.l2.forward(h));
        if let Some((_, m2)) = &masks {
            h = h * m2.clone();
        }
        self.l3.forward(h)
    }
}

/// What fitting measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Training pairs.
    pub pairs: usize,
    /// Mean squared error of the standardised targets over the last epoch.
    pub final_loss: f64,
    /// Spearman rank correlation of the predictions with the targets on the training pairs.
    pub train_spearman: f64,
}

/// Saved alongside the weights: what the predictor was trained on and how to read its output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    space: String,
    inputs: usize,
    config: PredictorConfig,
    target_mean: f64,
    target_std: f64,
    version: String,
}

const MAGIC: &[u8; 8] = b"DSMPRED\0";
const FORMAT: u32 = 1;

/// A trained accuracy predictor (see the [module docs](self)).
#[derive(Debug)]
pub struct AccuracyPredictor {
    mlp: Mlp,
    header: Header,
    device: Device,
}

impl AccuracyPredictor {
    /// Trains a predictor on `(architecture, accuracy)` pairs of `space` (accuracies in any
    /// unit; they are standardised for training and the predictions are in the same unit).
    /// Needs at least 2 pairs with finite, not all equal accuracies.
    pub fn fit<S: SearchSpace>(
        space: &S,
        pairs: &[(S::Arch, f64)],
        cfg: &PredictorConfig,
        device: &Device,
    ) -> Result<(Self, FitReport), TrainError> {
        cfg.check()?;
        if pairs.len() < 2 {
            return Err(TrainError::Input {
                what: "predictor training pairs".into(),
                reason: format!("need at least 2, got {}", pairs.len()),
            });
        }
        if let Some(i) = pairs.iter().position(|(_, y)| !y.is_finite()) {
            return Err(TrainError::Input {
                what: format!("accuracy of training pair {i} ({})", pairs[i].0),
                reason: format!("{} is not a finite number", pairs[i].1),
            });
        }
        for (a, _) in pairs {
            space.validate(a)?;
        }
        let n = pairs.len();
        let mean = pairs.iter().map(|p| p.1).sum::<f64>() / n as f64;
        let std = (pairs.iter().map(|p| (p.1 - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        if std < 1e-12 {
            return Err(TrainError::Input {
                what: "predictor training pairs".into(),
                reason: "all accuracies are equal; there is nothing to rank".into(),
            });
        }
        let inputs = space.feature_len();
        let features: Vec<Vec<f32>> = pairs.iter().map(|(a, _)| space.encode(a)).collect();
        let targets: Vec<f32> = pairs.iter().map(|p| ((p.1 - mean) / std) as f32).collect();
        let ad = device.clone().autodiff();
        let mut mlp = Mlp::new(inputs, cfg.hidden, cfg.seed, &ad);
        let mut optim = AdamConfig::new()
            .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
            .init();
        let mut rng = rand_pcg::Pcg64::seed_from_u64(cfg.seed ^ 0x5eed);
        let keep = 1.0 - cfg.dropout;
        let mut final_loss = f64::NAN;
        for epoch in 0..cfg.epochs {
            let mut order: Vec<usize> = (0..n).collect();
            order.shuffle(&mut rng);
            let mut sum = 0.0;
            for idx in order.chunks(cfg.batch_size) {
                let b = idx.len();
                let x: Vec<f32> = idx
                    .iter()
                    .flat_map(|&i| features[i].iter().copied())
                    .collect();
                let y: Vec<f32> = idx.iter().map(|&i| targets[i]).collect();
                let mut mask = || {
                    let m: Vec<f32> = (0..b * cfg.hidden)
                        .map(|_| {
                            if rng.random_bool(keep) {
                                (1.0 / keep) as f32
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    Tensor::<2>::from_data(TensorData::new(m, [b, cfg.hidden]), &ad)
                };
                let masks = (cfg.dropout > 0.0).then(|| (mask(), mask()));
                let x = Tensor::<2>::from_data(TensorData::new(x, [b, inputs]), &ad);
                let y = Tensor::<2>::from_data(TensorData::new(y, [b, 1]), &ad);
                let diff = mlp.forward(x, masks) - y;
                let loss = (diff.clone() * diff).mean();
                let value = f64::from(loss.clone().into_scalar::<f32>());
                if !value.is_finite() {
                    return Err(TrainError::Input {
                        what: format!("predictor loss at epoch {}", epoch + 1),
                        reason: format!("{value} (diverged; lower the learning rate)"),
                    });
                }
                sum += value * b as f64;
                let grads = GradientsParams::from_grads(loss.backward(), &mlp);
                mlp = optim.step(cfg.learning_rate, mlp, grads);
            }
            final_loss = sum / n as f64;
        }
        let predictor = Self {
            mlp: mlp.valid(),
            header: Header {
                space: space.name().to_string(),
                inputs,
                config: cfg.clone(),
                target_mean: mean,
                target_std: std,
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
            device: device.clone(),
        };
        let archs: Vec<S::Arch> = pairs.iter().map(|p| p.0.clone()).collect();
        let predicted = predictor.predict(space, &archs)?;
        let truth: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let report = FitReport {
            pairs: n,
            final_loss,
            train_spearman: spearman(&predicted, &truth),
        };
        Ok((predictor, report))
    }

    /// Predicted accuracies of `archs` (same unit as the training accuracies).
    pub fn predict<S: SearchSpace>(
        &self,
        space: &S,
        archs: &[S::Arch],
    ) -> Result<Vec<f64>, TrainError> {
        self.fits(space)?;
        if archs.is_empty() {
            return Ok(Vec::new());
        }
        let inputs = self.header.inputs;
        let x: Vec<f32> = archs.iter().flat_map(|a| space.encode(a)).collect();
        let x = Tensor::<2>::from_data(TensorData::new(x, [archs.len(), inputs]), &self.device);
        let out = self
            .mlp
            .forward(x, None)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| TrainError::Input {
                what: "predictor output".into(),
                reason: format!("{e:?}"),
            })?;
        out.iter()
            .zip(archs)
            .map(|(&v, a)| {
                let acc = self.header.target_mean + self.header.target_std * f64::from(v);
                if acc.is_finite() {
                    Ok(acc)
                } else {
                    Err(TrainError::Input {
                        what: format!("predicted accuracy of {a}"),
                        reason: format!("{acc} is not a finite number"),
                    })
                }
            })
            .collect()
    }

    fn fits<S: SearchSpace>(&self, space: &S) -> Result<(), TrainError> {
        if space.name() != self.header.space || space.feature_len() != self.header.inputs {
            return Err(TrainError::Input {
                what: "search space of the predictor".into(),
                reason: format!(
                    "trained on {} ({} features), used on {} ({} features)",
                    self.header.space,
                    self.header.inputs,
                    space.name(),
                    space.feature_len()
                ),
            });
        }
        Ok(())
    }

    /// Saves the predictor (settings, target scaling and weights, with a checksum) to
    /// `path`, atomically.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let bad = |reason: String| bad_predictor(path, reason);
        let header = serde_json::to_vec(&self.header).map_err(|e| bad(e.to_string()))?;
        let weights = self
            .mlp
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| bad(format!("{e:?}")))?;
        let bytes = container::pack(MAGIC, FORMAT, &[&header, &weights]);
        Ok(dsm_space::io::save(path, &bytes)?)
    }

    /// Loads a predictor saved by [`save`](Self::save) onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, TrainError> {
        let bytes = dsm_space::io::read(path)?;
        let bad = |reason: String| bad_predictor(path, reason);
        let mut sections =
            container::unpack(&bytes, MAGIC, FORMAT, &["header", "weights"]).map_err(bad)?;
        let weights = sections.pop().expect("2 sections");
        let header: Header =
            serde_json::from_slice(&sections[0]).map_err(|e| bad(format!("header: {e}")))?;
        if header.config.hidden == 0 || header.inputs == 0 {
            return Err(bad("header: empty layer sizes".into()));
        }
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights))
            .map_err(|e| bad(format!("weights: {e:?}")))?;
        let mlp = Mlp::new(header.inputs, header.config.hidden, 0, device)
            .try_load_record(record)
            .map_err(|e| bad(format!("weights do not fit the header: {e:?}")))?;
        Ok(Self {
            mlp,
            header,
            device: device.clone(),
        })
    }

    /// The name of the space it was trained on.
    pub fn space_name(&self) -> &str {
        &self.header.space
    }

    /// Scores architectures of `space` with this predictor (cost 0 s per query).
    pub fn evaluator<'a, S: SearchSpace>(
        &'a self,
        space: &'a S,
    ) -> Result<PredictorEvaluator<'a, S>, TrainError> {
        self.fits(space)?;
        Ok(PredictorEvaluator {
            predictor: self,
            space,
        })
    }
}

/// An [`Evaluator`] that answers with the predicted accuracy, at no cost.
pub struct PredictorEvaluator<'a, S> {
    predictor: &'a AccuracyPredictor,
    space: &'a S,
}

impl<S: SearchSpace> Evaluator<S::Arch> for PredictorEvaluator<'_, S> {
    type Error = TrainError;

    fn evaluate(&mut self, arch: &S::Arch) -> Result<Evaluation, TrainError> {
        let score = self
            .predictor
            .predict(self.space, std::slice::from_ref(arch))?[0];
        Ok(Evaluation { score, cost_s: 0.0 })
    }
}

/// One measured pair of a pairs file: an architecture string and its accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredPair {
    /// The architecture, in the space's string form (the legacy `depths:ks:ratios` string
    /// for the MobileNet space).
    pub arch: String,
    /// Its measured accuracy.
    pub accuracy: f64,
}

/// Reads the `(architecture, accuracy)` pairs to fit a predictor on from a JSON array of
/// `{"arch": "<architecture string>", "accuracy": <number>}`; an unreadable file, another
/// layout, an architecture the space rejects or a non-finite accuracy is an error naming
/// the file and the pair.
pub fn read_pairs<S: SearchSpace>(
    path: &Path,
    space: &S,
) -> Result<Vec<(S::Arch, f64)>, TrainError> {
    let text = dsm_space::io::read_to_string(path)?;
    let bad = |what: String, reason: String| TrainError::Input { what, reason };
    let pairs: Vec<MeasuredPair> = serde_json::from_str(&text).map_err(|e| {
        bad(
            path.display().to_string(),
            format!(
                "expected a JSON array of {{\"arch\": \"<architecture string>\", \"accuracy\": <number>}} ({e})"
            ),
        )
    })?;
    pairs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let what = || format!("{} pair {i}", path.display());
            let arch = space
                .parse(&p.arch)
                .map_err(|e| bad(what(), e.to_string()))?;
            if !p.accuracy.is_finite() {
                return Err(bad(
                    what(),
                    format!("accuracy {} is not a finite number", p.accuracy),
                ));
            }
            Ok((arch, p.accuracy))
        })
        .collect()
}

/// Spearman's rank correlation of `a` and `b` (ties get their mean rank); NaN when either
/// is constant or the lengths differ.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() || a.len() < 2 {
        return f64::NAN;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// `path` is not a valid predictor file because of `reason`.
fn bad_predictor(path: &Path, reason: String) -> TrainError {
    FormatError::new(path.display().to_string(), "predictor", reason).into()
}

#[cfg(test)]
mod tests {
    use super::spearman;

    #[test]
    fn spearman_of_known_orders() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        // Ties share their mean rank: ranks (0.5, 0.5, 2) against (0, 1, 2).
        let s = spearman(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]);
        assert!((s - 0.866_025_403_784_438_6).abs() < 1e-9, "{s}");
        assert!(spearman(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
    }
}
