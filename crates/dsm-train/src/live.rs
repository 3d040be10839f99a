//! Live evaluators: architectures scored by training them, for searches without a table.

use std::time::Instant;

use burn::prelude::*;
use dsm_bench::{Assessment, Dataset, Nb201Table, Problem};
use dsm_space::{Evaluation, Evaluator, MbV3Space, Nb201Cell, Nb201Space};

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

/// The images of a live search, in three parts: the search trains each candidate on
/// [`train`](Self::train) and scores it on [`valid`](Self::valid) (the search signal); the
/// architecture it finds is then trained again on [`full_train`](Self::full_train) (`train`
/// and `valid` together) and tested once on [`test`](Self::test), which the search never
/// sees.
///
/// ```
/// let d = dsm_train::live::LiveData::load("builtin", 8, 0.25, 0)?;
/// assert_eq!(d.train.len() + d.valid.len(), d.full_train.len());
/// assert_eq!((d.full_train.len(), d.test.len()), (1438, 359)); // the digits, 80 / 20
/// let quick = d.config(1, 64, 0);
/// assert_eq!((quick.crop_padding, quick.flip), (1, false)); // digits: no mirrored digits
/// # Ok::<(), dsm_train::TrainError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LiveData {
    /// What the candidates are trained on.
    pub train: ImageSet,
    /// What they are scored on (the search signal).
    pub valid: ImageSet,
    /// `train` and `valid` together, for the final training of a found architecture.
    pub full_train: ImageSet,
    /// The held-out test images.
    pub test: ImageSet,
    /// Whether these are the vendored digits (whose augmentation differs).
    pub builtin: bool,
}

impl LiveData {
    /// The data set `spec` names ([`load_train_test`](crate::data::load_train_test): `builtin`,
    /// `cifar10-5k` or a folder) at `resolution`, its training images split by `seed` into
    /// search-train and a `valid_fraction` for validation.
    pub fn load(
        spec: &str,
        resolution: u32,
        valid_fraction: f64,
        seed: u64,
    ) -> Result<Self, TrainError> {
        let data = crate::data::load_train_test(spec, resolution, seed)?;
        if !(valid_fraction > 0.0 && valid_fraction < 1.0) {
            return Err(TrainError::Input {
                what: "validation fraction".into(),
                reason: format!("{valid_fraction} is not in (0, 1)"),
            });
        }
        let (train, valid) = data.train.split(valid_fraction, seed + 1);
        if train.is_empty() || valid.is_empty() {
            return Err(TrainError::Input {
                what: format!("data {spec}"),
                reason: format!(
                    "{} training images leave none for search-training or validation",
                    data.train.len()
                ),
            });
        }
        Ok(Self {
            train,
            valid,
            full_train: data.train,
            test: data.test,
            builtin: data.builtin,
        })
    }

    /// The NAS-Bench-201 recipe for `epochs` at `batch_size`, with the augmentation that
    /// suits the data: random crops padded by 4 and horizontal flips, or for the digits crops
    /// padded by 1 and no flips (a mirrored digit is another digit).
    pub fn config(&self, epochs: usize, batch_size: usize, seed: u64) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size,
            crop_padding: if self.builtin { 1 } else { 4 },
            flip: !self.builtin,
            seed,
            ..TrainConfig::default()
        }
    }

    /// The live evaluator of NAS-Bench-201 cells on this data: trained on `train` with
    /// `config`, scored on `valid`.
    pub fn evaluator(
        &self,
        config: TrainConfig,
        device: Device,
    ) -> Result<Nb201LiveEvaluator, TrainError> {
        LiveEvaluator::new(
            Nb201Builder,
            self.train.clone(),
            self.valid.clone(),
            config,
            device,
        )
    }

    /// The held-out test accuracy (%) of `cell`: trained from scratch on `full_train` with
    /// `config`, tested on `test`. With a `cache` file (JSON), a result it holds for the same
    /// cell and config is returned without training, and a new one is added (atomically),
    /// so a rerun does not train a finished cell again.
    pub fn held_out_acc(
        &self,
        cell: &dsm_space::Nb201Cell,
        config: &TrainConfig,
        device: &Device,
        cache: Option<&std::path::Path>,
    ) -> Result<f64, TrainError> {
        let key = serde_json::json!({"arch": cell.to_string(), "train": config});
        let mut entries: Vec<HeldOut> = match cache {
            Some(path) if path.exists() => {
                let text = dsm_space::io::read_to_string(path)?;
                serde_json::from_str(&text).map_err(|e| {
                    dsm_space::io::FormatError::new(
                        path.display().to_string(),
                        "held-out results (JSON)",
                        format!("{e}; delete the file to train the cells again"),
                    )
                })?
            }
            _ => Vec::new(),
        };
        if let Some(hit) = entries.iter().find(|e| e.key == key) {
            return Ok(hit.test_acc);
        }
        let (_, metrics) = Trainer::new(config, device).fit(
            &Nb201Builder,
            cell,
            &self.full_train,
            &self.test,
            &mut |_| {},
        )?;
        let test_acc = metrics.last().map_or(0.0, |m| m.test_acc);
        if let Some(path) = cache {
            entries.push(HeldOut { key, test_acc });
            let text = serde_json::to_string_pretty(&entries).expect("results serialise");
            dsm_space::io::save(path, text.as_bytes())?;
        }
        Ok(test_acc)
    }
}

/// One cached held-out result.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct HeldOut {
    key: serde_json::Value,
    test_acc: f64,
}

/// NAS-Bench-201 cells searched by training them, without a table: a [`Problem`] whose tasks
/// are data sets ([`LiveData::load`]: `builtin`, `cifar10-5k` or a folder, at 32 x 32).
/// A trial seeded `s` splits the training images by `s` (75 % search-train, 25 %
/// validation); its evaluator trains each cell on the first for [`epochs`](Self::epochs)
/// and scores it by its validation accuracy (the signal, `valid-acc`). The answer is then
/// assessed: trained again on all training images for [`final_epochs`](Self::final_epochs)
/// and tested on the held-out test images (its test accuracy), and looked up in the
/// NAS-Bench-201 table (`table_test_acc`: its CIFAR-10 test accuracy after 200 epochs, how
/// good the cell really is).
///
/// ```
/// use burn::prelude::Device;
/// use dsm_bench::Problem;
/// use dsm_space::Evaluator;
/// use dsm_train::live::LiveNb201;
///
/// let live = LiveNb201 { data: vec!["builtin".into()], epochs: 1, final_epochs: 1, batch: 64,
///     device: Device::flex(), cache: None, on_training: None };
/// let cell: dsm_space::Nb201Cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
/// let e = live.evaluator(&"builtin".to_string(), 0)?.evaluate(&cell)?;
/// assert!((0.0..=100.0).contains(&e.score) && e.cost_s > 0.0);
/// let a = live.assess(&cell, &"builtin".to_string(), 0)?;
/// assert!(a.test_acc.is_some() && a.measures.contains_key("table_test_acc"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LiveNb201 {
    /// The data sets searched (the tasks).
    pub data: Vec<String>,
    /// Training epochs of each candidate (the search's schedule).
    pub epochs: usize,
    /// Training epochs of the answer's final training.
    pub final_epochs: usize,
    /// Batch size of every training.
    pub batch: usize,
    /// Where the networks train.
    pub device: Device,
    /// A JSON file caching the final trainings' results ([`LiveData::held_out_acc`]), if any.
    pub cache: Option<std::path::PathBuf>,
    /// Called after every training of a search with the cell and its evaluation (a
    /// progress display), if set.
    pub on_training: Option<OnTraining>,
}

/// Called after every training of a live study ([`LiveNb201::on_training`]).
pub type OnTraining = std::sync::Arc<dyn Fn(&Nb201Cell, &Evaluation) + Send + Sync>;

impl std::fmt::Debug for LiveNb201 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveNb201")
            .field("data", &self.data)
            .field("epochs", &self.epochs)
            .field("final_epochs", &self.final_epochs)
            .field("batch", &self.batch)
            .field("cache", &self.cache)
            .field("on_training", &self.on_training.is_some())
            .finish_non_exhaustive()
    }
}

/// The evaluator of one trial of a [`LiveNb201`] study: the live evaluator of its data split,
/// reporting each training to the study's [`OnTraining`].
pub struct LiveTrialEvaluator {
    inner: Nb201LiveEvaluator,
    on_training: Option<OnTraining>,
}

impl Evaluator<Nb201Cell> for LiveTrialEvaluator {
    type Error = TrainError;

    fn evaluate(&mut self, cell: &Nb201Cell) -> Result<Evaluation, TrainError> {
        let e = self.inner.evaluate(cell)?;
        if let Some(report) = &self.on_training {
            report(cell, &e);
        }
        Ok(e)
    }
}

impl LiveNb201 {
    /// The images of the trial seeded `seed` on `task`.
    pub fn data(&self, task: &str, seed: u64) -> Result<LiveData, TrainError> {
        LiveData::load(task, 32, 0.25, seed)
    }

    /// The proxy guidance of the trial seeded `seed` on `task`: `guide` with the proxies of
    /// `zc` (seeded `seed`) computed by the cells' networks on the trial's search-train
    /// images.
    pub fn guide(
        &self,
        task: &str,
        seed: u64,
        zc: &crate::zero_cost::ZcConfig,
        guide: &dsm_miner::GuideConfig,
    ) -> Result<dsm_miner::GuideSpec<Nb201Cell>, TrainError> {
        let data = self.data(task, seed)?;
        let zc = crate::zero_cost::ZcConfig { seed, ..zc.clone() };
        let scorer =
            crate::zero_cost::ZcComputer::new(Nb201Builder, &data.train, zc, self.device.clone())?;
        Ok(dsm_miner::GuideSpec::new(guide.clone(), scorer))
    }
}

impl Problem for LiveNb201 {
    type Space = Nb201Space;
    type Task = String;
    type Evaluator<'p> = LiveTrialEvaluator;
    type Error = TrainError;

    fn space(&self) -> &Nb201Space {
        &Nb201Space
    }

    fn tasks(&self) -> Vec<String> {
        self.data.clone()
    }

    fn signal_name(&self) -> &str {
        "valid-acc"
    }

    fn evaluator(&self, task: &String, seed: u64) -> Result<LiveTrialEvaluator, TrainError> {
        let data = self.data(task, seed)?;
        let quick = data.config(self.epochs, self.batch, seed);
        Ok(LiveTrialEvaluator {
            inner: data.evaluator(quick, self.device.clone())?,
            on_training: self.on_training.clone(),
        })
    }

    fn assess(&self, cell: &Nb201Cell, task: &String, seed: u64) -> Result<Assessment, TrainError> {
        let data = self.data(task, seed)?;
        let full = data.config(self.final_epochs, self.batch, seed);
        let held_out = data.held_out_acc(cell, &full, &self.device, self.cache.as_deref())?;
        let table = Nb201Table::embedded()
            .lookup(cell, Dataset::Cifar10)
            .test_acc;
        Ok(Assessment {
            test_acc: Some(held_out),
            measures: [("table_test_acc".to_string(), table)].into(),
        })
    }
}
