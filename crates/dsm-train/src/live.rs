//! Live evaluators: architectures scored by training them, for searches without a table.

use std::time::Instant;

use burn::prelude::*;
use dsm_bench::{Dataset, Nb201Table};
use dsm_miner::SearchOutcome;
use dsm_space::{Evaluation, Evaluator, MbV3Space, Nb201Cell};

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

impl LiveData {
    /// The record of one search of a study: its `out`come, the held-out accuracy of the cell
    /// it found ([`Self::held_out_acc`] with `full` and `cache`) and that cell's
    /// NAS-Bench-201 table test accuracy on CIFAR-10.
    pub fn trial(
        &self,
        method: &str,
        seed: u64,
        out: &SearchOutcome<Nb201Cell>,
        full: &TrainConfig,
        device: &Device,
        cache: Option<&std::path::Path>,
    ) -> Result<LiveTrial, TrainError> {
        Ok(LiveTrial {
            method: method.to_string(),
            seed,
            best_arch: out.best.to_string(),
            valid_acc: out.best_score,
            held_out_acc: self.held_out_acc(&out.best, full, device, cache)?,
            table_test_acc: Nb201Table::embedded()
                .lookup(&out.best, Dataset::Cifar10)
                .test_acc,
            queries: out.queries,
            cost_s: out.cost_s,
            proxy_evaluations: out.proxy_evaluations,
        })
    }
}

/// One cached held-out result.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct HeldOut {
    key: serde_json::Value,
    test_acc: f64,
}

/// One search of a live-search study, as `search_live --out` records it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LiveTrial {
    /// The method (`dsm-nas`, `random`).
    pub method: String,
    /// The seed of the split, the search and the training.
    pub seed: u64,
    /// The cell the search found (the best validation score).
    pub best_arch: String,
    /// Its validation accuracy (%) after the search's short schedule: the search signal.
    pub valid_acc: f64,
    /// Its held-out test accuracy (%) after the final training.
    pub held_out_acc: f64,
    /// Its NAS-Bench-201 CIFAR-10 test accuracy (%, 200 epochs): how good the cell really is.
    pub table_test_acc: f64,
    /// Trainings the search charged.
    pub queries: usize,
    /// Seconds of training the search charged, a guided search's proxies included
    /// (measured: not reproducible to the byte).
    pub cost_s: f64,
    /// Zero-cost proxy evaluations of a guided search (absent: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub proxy_evaluations: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Mean and standard error of each method's trials (in order of first appearance).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LiveSummary {
    /// The method.
    pub method: String,
    /// Its trials.
    pub trials: usize,
    /// Mean table test accuracy of the found cells (%).
    pub table_test_acc: f64,
    /// Its standard error.
    pub table_test_acc_sem: f64,
    /// Mean held-out accuracy of the found cells (%).
    pub held_out_acc: f64,
    /// Its standard error.
    pub held_out_acc_sem: f64,
}

/// One [`LiveSummary`] per method of `trials`.
///
/// ```
/// use dsm_train::live::{LiveTrial, summarise_trials};
/// let t = |method: &str, acc: f64| LiveTrial { method: method.into(), seed: 0,
///     best_arch: String::new(), valid_acc: 0.0, held_out_acc: acc, table_test_acc: acc,
///     queries: 1, cost_s: 1.0, proxy_evaluations: 0 };
/// let s = summarise_trials(&[t("a", 90.0), t("b", 80.0), t("a", 92.0)]);
/// assert_eq!((s[0].method.as_str(), s[0].trials, s[0].table_test_acc), ("a", 2, 91.0));
/// assert!((s[0].table_test_acc_sem - 1.0).abs() < 1e-12 && s[1].table_test_acc_sem == 0.0);
/// ```
pub fn summarise_trials(trials: &[LiveTrial]) -> Vec<LiveSummary> {
    let mut methods: Vec<&str> = Vec::new();
    for t in trials {
        if !methods.contains(&t.method.as_str()) {
            methods.push(&t.method);
        }
    }
    let mean_sem = |xs: &[f64]| {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        (mean, (var / n).sqrt())
    };
    methods
        .into_iter()
        .map(|m| {
            let of: Vec<&LiveTrial> = trials.iter().filter(|t| t.method == m).collect();
            let (table, table_sem) =
                mean_sem(&of.iter().map(|t| t.table_test_acc).collect::<Vec<_>>());
            let (held, held_sem) = mean_sem(&of.iter().map(|t| t.held_out_acc).collect::<Vec<_>>());
            LiveSummary {
                method: m.to_string(),
                trials: of.len(),
                table_test_acc: table,
                table_test_acc_sem: table_sem,
                held_out_acc: held,
                held_out_acc_sem: held_sem,
            }
        })
        .collect()
}

/// Where a live study writes, checked under the one output policy ([`dsm_space::output`])
/// before any work: `--out DIR` holds `results.json` (replaced only with `--force`), and the
/// `--checkpoint` folder is continued when its `settings.json` matches (replaced with
/// `--start-over`; other settings are refused, each differing flag named).
#[derive(Debug, Clone)]
pub struct StudyOutputs {
    /// `DIR/results.json` of `--out DIR`.
    pub results: Option<dsm_space::output::OutputFile>,
    /// The `--checkpoint` folder.
    pub checkpoint: Option<dsm_space::output::OutputFolder>,
}

impl StudyOutputs {
    /// Checks both outputs for a study of `settings`. Writes nothing.
    pub fn check(
        out: Option<&std::path::Path>,
        force: bool,
        checkpoint: Option<&std::path::Path>,
        start_over: bool,
        settings: &dsm_space::output::Settings,
    ) -> Result<Self, TrainError> {
        use dsm_space::output::{OutputFile, OutputFolder};
        let results = out
            .map(|d| OutputFile::check("--out", d.join("results.json"), force, &[]))
            .transpose()?;
        let checkpoint = checkpoint
            .map(|d| {
                OutputFolder::checkpoint("--checkpoint", d, "--start-over", start_over)
                    .check(settings)
            })
            .transpose()?;
        Ok(Self {
            results,
            checkpoint,
        })
    }

    /// Creates the checkpoint folder (with its `settings.json`), if any.
    pub fn create(&self) -> Result<(), TrainError> {
        if let Some(c) = &self.checkpoint {
            c.create()?;
        }
        Ok(())
    }
}

/// Writes a live-search study to `file` (pretty JSON, atomically, its folder created):
/// `{"config": config, "summary": [`LiveSummary`...], "trials": [`LiveTrial`...]}`; returns
/// the summary.
pub fn write_study(
    file: &dsm_space::output::OutputFile,
    config: &impl serde::Serialize,
    trials: &[LiveTrial],
) -> Result<Vec<LiveSummary>, TrainError> {
    let summary = summarise_trials(trials);
    let doc = serde_json::json!({"config": config, "summary": summary, "trials": trials});
    let text = serde_json::to_string_pretty(&doc).expect("a study serialises");
    file.write(text.as_bytes())?;
    Ok(summary)
}
