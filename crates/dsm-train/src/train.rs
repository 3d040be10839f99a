//! Training with the NAS-Bench-201 recipe by default: SGD (momentum 0.9, Nesterov),
//! learning rate 0.1 cosine-annealed to 0 over all steps, weight decay 5e-4, batch 256,
//! random crop with 4-pixel zero padding and horizontal flips. The ImageNet-style options
//! for MobileNets are there too: label smoothing and a linear learning-rate warm-up.
//!
//! [`Trainer`] trains any network a [`ModelBuilder`] builds ([`Nb201Builder`],
//! [`MbV3Builder`], or a user's), resumable with a per-epoch [`TrainCheckpoint`];
//! [`train_nb201`], [`train_mbv3`] and [`train_nb201_resumable`] are shortcuts.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use dsm_space::io::FileError;
use dsm_space::{MbV3Arch, MbV3Space, Nb201Cell};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::TrainError;
use crate::container;
use crate::data::ImageSet;
use crate::eval::{Classifier, evaluate_set};
use dsm_models::{MobileNetV3, Nb201Network};

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
    /// Label smoothing of the cross-entropy (0 = none; 0.1 is the usual ImageNet value).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Epochs of linear learning-rate warm-up before the cosine schedule (0 = none).
    #[serde(default)]
    pub warmup_epochs: usize,
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
            label_smoothing: 0.0,
            warmup_epochs: 0,
        }
    }
}

impl TrainConfig {
    /// The optimizer of this recipe: SGD with (Nesterov) momentum, no dampening, and L2
    /// weight decay; the learning rate is given per step (see [`TrainConfig::lr_at`]).
    pub fn optimizer(&self) -> burn::optim::ModuleOptimizer {
        SgdConfig::new()
            .with_momentum(Some(MomentumConfig {
                momentum: self.momentum,
                dampening: 0.0,
                nesterov: self.nesterov,
            }))
            .with_weight_decay(Some(WeightDecayConfig::new(self.weight_decay as f32)))
            .init()
    }

    /// Checks every value.
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |what: &str, reason: &str| {
            Err(TrainError::Input {
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
        if !(self.learning_rate.is_finite()
            && self.learning_rate > 0.0
            && self.learning_rate <= 10.0)
        {
            return bad(
                "learning_rate",
                "must be a finite number in (0, 10] (larger steps diverge)",
            );
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", "must be in [0, 1)");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", "must be a finite number >= 0");
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad("label_smoothing", "must be in [0, 1)");
        }
        if self.warmup_epochs >= self.epochs {
            return bad("warmup_epochs", "must be below the number of epochs");
        }
        Ok(())
    }

    /// Learning rate at global step `t` with `steps_per_epoch` steps per epoch: a linear
    /// warm-up to `learning_rate` over `warmup_epochs`, then cosine annealing to 0 at the
    /// end of the last epoch.
    pub fn lr_at(&self, t: usize, steps_per_epoch: usize) -> f64 {
        let warmup = self.warmup_epochs * steps_per_epoch;
        let total = self.epochs * steps_per_epoch;
        if t < warmup {
            return self.learning_rate * (t + 1) as f64 / warmup as f64;
        }
        let span = total.saturating_sub(warmup).max(1) as f64;
        0.5 * self.learning_rate * (1.0 + (std::f64::consts::PI * (t - warmup) as f64 / span).cos())
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
    /// Top-1 test accuracy (%).
    pub test_acc: f64,
    /// Top-5 test accuracy (%).
    pub test_top5: f64,
    /// Images per second of the training steps (forward, backward, optimizer).
    pub train_images_per_s: f64,
    /// Images per second of the test evaluation (forward only).
    pub test_images_per_s: f64,
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

/// Builds the network of an architecture: what makes the [`Trainer`] and the
/// [`LiveEvaluator`](crate::LiveEvaluator) generic over search spaces and models.
///
/// [`Nb201Builder`] and [`MbV3Builder`] build this crate's two networks; a new model plugs
/// in by implementing this trait (and [`Classifier`] for the network).
pub trait ModelBuilder<A: ?Sized> {
    /// The network built.
    type Model: Classifier;

    /// A name of `arch` that identifies the run in a checkpoint (a checkpoint of another
    /// name is refused).
    fn name(&self, arch: &A) -> String;

    /// The network of `arch` for `classes` classes and square images of side `resolution`,
    /// its weights drawn from `seed` (the same seed gives the same network, whatever other
    /// threads do), on `device`.
    fn build(
        &self,
        arch: &A,
        classes: usize,
        resolution: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self::Model, TrainError>;
}

/// Builds [`Nb201Network`]s (C = 16, N = 5) of NAS-Bench-201 cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nb201Builder;

impl ModelBuilder<Nb201Cell> for Nb201Builder {
    type Model = Nb201Network;

    fn name(&self, cell: &Nb201Cell) -> String {
        cell.to_string()
    }

    fn build(
        &self,
        cell: &Nb201Cell,
        classes: usize,
        _resolution: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Nb201Network, TrainError> {
        Ok(Nb201Network::init(cell, classes, seed, device))
    }
}

/// Builds [`MobileNetV3`] subnets of a space (its class count set to the data's; the
/// subnet checked at the images' resolution).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MbV3Builder {
    space: MbV3Space,
}

impl MbV3Builder {
    /// A builder of subnets of `space`.
    pub fn new(space: MbV3Space) -> Self {
        Self { space }
    }
}

impl ModelBuilder<MbV3Arch> for MbV3Builder {
    type Model = MobileNetV3;

    fn name(&self, arch: &MbV3Arch) -> String {
        format!("mbv3 x{} {arch}", self.space.width_mult())
    }

    fn build(
        &self,
        arch: &MbV3Arch,
        classes: usize,
        resolution: usize,
        seed: u64,
        device: &Device,
    ) -> Result<MobileNetV3, TrainError> {
        let space = self.space.with_classes(classes)?;
        space.cost_at(arch, resolution as u32)?;
        Ok(MobileNetV3::init(arch, &space, seed, device)?)
    }
}

/// The trainer: a [`TrainConfig`] on a device, optionally checkpointed after every epoch.
///
/// [`Trainer::fit`] trains the network a [`ModelBuilder`] builds for an architecture on a
/// training set (images in [0, 1], normalised with its channel statistics) and evaluates it
/// on a test set after every epoch. With [`Trainer::with_checkpoint`] it writes, after every
/// epoch, the weights (with their parameter ids), the optimizer's momentum buffers, the epoch
/// and step (which fix the learning-rate schedule), the state of the data-order /
/// augmentation RNG, the metrics so far and the elapsed time, atomically; when the file
/// already holds a checkpoint, training continues from it, so a run killed at any point and
/// started again with the same arguments ends with exactly the weights of an uninterrupted
/// run. A checkpoint of another architecture, configuration or data set is refused
/// ([`TrainError::Checkpoint`]), as is a corrupt one.
///
/// ```
/// use burn::prelude::*;
/// use dsm_train::{Nb201Builder, TrainConfig, Trainer, data};
///
/// let d = data::load_train_test("builtin", 8, 0)?;
/// let small = d.train.subset(&(0..64).collect::<Vec<_>>());
/// let cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|".parse()?;
/// let cfg = TrainConfig { epochs: 1, batch_size: 32, ..TrainConfig::default() };
/// let ck = std::env::temp_dir().join(format!("dsm-train-doc-{}.ckpt", std::process::id()));
/// let dev = Device::flex();
/// let trainer = Trainer::new(&cfg, &dev).with_checkpoint(&ck);
/// let (_net, history) = trainer.fit(&Nb201Builder, &cell, &small, &d.test, &mut |_| {})?;
/// assert_eq!(history.len(), 1);
/// // Started again, the run finds its finished checkpoint and trains nothing more.
/// let (_net, again) = trainer.fit(&Nb201Builder, &cell, &small, &d.test, &mut |_| panic!())?;
/// assert_eq!(again, history);
/// # std::fs::remove_file(&ck)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Trainer<'a> {
    config: &'a TrainConfig,
    device: &'a Device,
    checkpoint: Option<TrainCheckpoint>,
}

impl<'a> Trainer<'a> {
    /// A trainer with `config` on `device`, without a checkpoint.
    pub fn new(config: &'a TrainConfig, device: &'a Device) -> Self {
        Self {
            config,
            device,
            checkpoint: None,
        }
    }

    /// This trainer, checkpointed after every epoch at `path` (resuming from it when it
    /// holds a checkpoint of the same run).
    pub fn with_checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(TrainCheckpoint::new(path));
        self
    }

    /// Trains the network `builder` builds for `arch` on `train`, evaluating it on `test`
    /// after every epoch; `on_epoch` sees the metrics of each epoch trained by this call.
    /// Returns the trained network (in evaluation mode, on the trainer's device) and the
    /// metrics of every epoch (those of a resumed checkpoint included).
    pub fn fit<A: ?Sized, B: ModelBuilder<A>>(
        &self,
        builder: &B,
        arch: &A,
        train: &ImageSet,
        test: &ImageSet,
        on_epoch: &mut dyn FnMut(&EpochMetrics),
    ) -> Result<(B::Model, Vec<EpochMetrics>), TrainError> {
        let resolution = train.shape[1].min(train.shape[2]);
        let seed = self.config.seed;
        let init = |d: &Device| builder.build(arch, train.classes, resolution, seed, d);
        run(
            init,
            &builder.name(arch),
            train,
            test,
            self.config,
            self.device,
            self.checkpoint.as_ref(),
            on_epoch,
        )
    }
}

/// Trains a NAS-Bench-201 network for `cell` (see [`Trainer::fit`] with [`Nb201Builder`]).
///
/// For a run that survives being killed, use [`train_nb201_resumable`].
pub fn train_nb201(
    cell: &Nb201Cell,
    train: &ImageSet,
    test: &ImageSet,
    cfg: &TrainConfig,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<(Nb201Network, Vec<EpochMetrics>), TrainError> {
    Trainer::new(cfg, device).fit(&Nb201Builder, cell, train, test, on_epoch)
}

/// Trains a MobileNetV3 subnet of `space` (its class count is set to the data's) at the
/// images' resolution (see [`Trainer::fit`] with [`MbV3Builder`]); use the ImageNet-style
/// options of [`TrainConfig`] (label smoothing, warm-up) as needed.
pub fn train_mbv3(
    arch: &MbV3Arch,
    space: &MbV3Space,
    train: &ImageSet,
    test: &ImageSet,
    cfg: &TrainConfig,
    device: &Device,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<(MobileNetV3, Vec<EpochMetrics>), TrainError> {
    Trainer::new(cfg, device).fit(&MbV3Builder::new(*space), arch, train, test, on_epoch)
}

/// [`train_nb201`] with a checkpoint after every epoch at `checkpoint` (see
/// [`Trainer::with_checkpoint`]); `on_epoch` sees only the epochs trained by this call, the
/// returned metrics cover all of them.
pub fn train_nb201_resumable(
    cell: &Nb201Cell,
    train: &ImageSet,
    test: &ImageSet,
    cfg: &TrainConfig,
    device: &Device,
    checkpoint: &TrainCheckpoint,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<(Nb201Network, Vec<EpochMetrics>), TrainError> {
    Trainer::new(cfg, device)
        .with_checkpoint(checkpoint.path())
        .fit(&Nb201Builder, cell, train, test, on_epoch)
}

fn check_data(train: &ImageSet, test: &ImageSet) -> Result<(), TrainError> {
    if train.is_empty() || test.is_empty() || train.shape != test.shape || train.shape[0] != 3 {
        return Err(TrainError::Input {
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
    if let Some(i) = train.labels.iter().position(|&l| l >= train.classes) {
        return Err(TrainError::Input {
            what: format!("label of training image {i}"),
            reason: format!(
                "{} is not below the class count {}",
                train.labels[i], train.classes
            ),
        });
    }
    Ok(())
}

/// The training loop shared by every network: `init` builds the network on a device,
/// `what` names it (a checkpoint of another network is refused).
#[allow(clippy::too_many_arguments)]
fn run<M: Classifier>(
    init: impl FnOnce(&Device) -> Result<M, TrainError>,
    what: &str,
    train: &ImageSet,
    test: &ImageSet,
    cfg: &TrainConfig,
    device: &Device,
    checkpoint: Option<&TrainCheckpoint>,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<(M, Vec<EpochMetrics>), TrainError> {
    cfg.check()?;
    check_data(train, test)?;
    let (mean, std) = train.channel_stats();
    let mut test = test.clone();
    normalise(&mut test, &mean, &std);
    let ad = device.clone().autodiff();
    let mut model = init(&ad)?;
    let mut optim = cfg.optimizer();
    let smoothing = (cfg.label_smoothing > 0.0).then_some(cfg.label_smoothing as f32);
    let loss_fn = CrossEntropyLossConfig::new()
        .with_smoothing(smoothing)
        .init(&ad);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(cfg.seed);
    let steps_per_epoch = train.len().div_ceil(cfg.batch_size);
    let [c, h, w] = train.shape;
    let identity = checkpoint.map(|_| RunIdentity::new(what, cfg, train, test.len()));
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut step = 0;
    let mut elapsed_before = 0.0;
    if let (Some(ck), Some(id)) = (checkpoint, &identity)
        && let Some(saved) = ck.load()?
    {
        saved.state.matches(id, &ck.path)?;
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(saved.model))
            .map_err(|e| ck.corrupt(format!("model weights: {e:?}")))?;
        model = model
            .try_load_record(record)
            .map_err(|e| ck.corrupt(format!("model weights do not fit {what}: {e:?}")))?;
        optim = optim
            .from_bytes(Bytes::from_bytes_vec(saved.optimizer))
            .map_err(|e| ck.corrupt(format!("optimizer state: {e:?}")))?;
        rng = saved.state.rng;
        step = saved.state.step;
        elapsed_before = saved.state.elapsed_s;
        history = saved.state.history;
    }
    let start = Instant::now();
    for epoch in history.len() + 1..=cfg.epochs {
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
            let logits = model.logits(x);
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
                return Err(TrainError::Input {
                    what: format!("training loss at epoch {epoch}"),
                    reason: format!("{value} (diverged; lower the learning rate)"),
                });
            }
            loss_sum += value * idx.len() as f64;
            seen += idx.len();
            lr = cfg.lr_at(step, steps_per_epoch);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            step += 1;
        }
        let train_secs = epoch_start.elapsed().as_secs_f64();
        let eval_model = model.valid();
        let eval = evaluate_set(&eval_model, &test, 256, device)?;
        let m = EpochMetrics {
            epoch,
            lr,
            train_loss: loss_sum / seen as f64,
            train_acc: 100.0 * correct as f64 / seen as f64,
            test_acc: eval.top1,
            test_top5: eval.top5,
            train_images_per_s: seen as f64 / train_secs.max(1e-9),
            test_images_per_s: eval.images_per_s,
            wall_s: elapsed_before + start.elapsed().as_secs_f64(),
        };
        history.push(m.clone());
        if let (Some(ck), Some(id)) = (checkpoint, &identity) {
            // The record of the evaluation-mode model: it carries the BatchNorm running
            // statistics of the last step (and the same parameter ids as `model`).
            let weights = eval_model
                .into_record()
                .into_bytes()
                .map_err(|e| ck.corrupt(format!("serialising the weights: {e:?}")))?;
            let optimizer = optim
                .into_bytes()
                .map_err(|e| ck.corrupt(format!("serialising the optimizer: {e:?}")))?;
            let state = CheckpointState {
                format: CHECKPOINT_FORMAT,
                identity: id.clone(),
                step,
                rng: rng.clone(),
                history: history.clone(),
                elapsed_s: m.wall_s,
            };
            ck.save(&state, &weights, &optimizer)?;
        }
        on_epoch(&m);
    }
    Ok((model.valid(), history))
}

const CHECKPOINT_FORMAT: u32 = 1;
const CHECKPOINT_MAGIC: &[u8; 8] = b"DSMTRAIN";

/// What a checkpoint must agree with to be resumed: the cell, the configuration, the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RunIdentity {
    cell: String,
    config: TrainConfig,
    /// sha256 of the training images and labels, with the test-set size.
    data: String,
    version: String,
}

impl RunIdentity {
    fn new(what: &str, cfg: &TrainConfig, train: &ImageSet, test_len: usize) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(format!("{:?} {} {test_len}", train.shape, train.classes));
        for p in &train.pixels {
            h.update(p.to_le_bytes());
        }
        for l in &train.labels {
            h.update((*l as u64).to_le_bytes());
        }
        let data = h
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Self {
            cell: what.to_string(),
            config: cfg.clone(),
            data,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct CheckpointState {
    format: u32,
    identity: RunIdentity,
    step: usize,
    rng: rand_pcg::Pcg64,
    history: Vec<EpochMetrics>,
    elapsed_s: f64,
}

impl CheckpointState {
    fn matches(&self, id: &RunIdentity, path: &Path) -> Result<(), TrainError> {
        let refuse = |what: &str, saved: &str, now: &str| {
            Err(TrainError::Checkpoint {
                path: path.to_path_buf(),
                reason: format!(
                    "it belongs to another run ({what}: checkpoint {saved}, this run {now}); start over without it or pass the same arguments"
                ),
            })
        };
        if self.identity.cell != id.cell {
            return refuse("cell", &self.identity.cell, &id.cell);
        }
        if self.identity.config != id.config {
            return refuse(
                "training config",
                &format!("{:?}", self.identity.config),
                &format!("{:?}", id.config),
            );
        }
        if self.identity.data != id.data {
            return refuse("data sha256", &self.identity.data, &id.data);
        }
        if self.identity.version != id.version {
            return refuse("dsm-train version", &self.identity.version, &id.version);
        }
        if self.history.len() > id.config.epochs
            || self
                .history
                .iter()
                .enumerate()
                .any(|(i, m)| m.epoch != i + 1)
        {
            return Err(TrainError::Checkpoint {
                path: path.to_path_buf(),
                reason: "its epoch history is inconsistent".into(),
            });
        }
        Ok(())
    }
}

struct SavedCheckpoint {
    state: CheckpointState,
    model: Vec<u8>,
    optimizer: Vec<u8>,
}

/// The file where a resumable training run keeps its state (see [`train_nb201_resumable`]).
///
/// Layout: `DSMTRAIN`, a little-endian u32 format version, then three length-prefixed (u64)
/// sections (JSON state, burnpack weights, burnpack optimizer state) and the sha256 of
/// everything before it. A truncated or altered file is refused, never half-loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainCheckpoint {
    path: PathBuf,
}

impl TrainCheckpoint {
    /// A checkpoint kept at `path` (the file need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The metrics of the epochs a checkpoint holds (`None` when there is no checkpoint yet),
    /// so that a resumed run can rewrite its logs up to that point.
    pub fn history(&self) -> Result<Option<Vec<EpochMetrics>>, TrainError> {
        Ok(self.load()?.map(|s| s.state.history))
    }

    fn corrupt(&self, reason: String) -> TrainError {
        TrainError::Checkpoint {
            path: self.path.clone(),
            reason,
        }
    }

    fn save(&self, state: &CheckpointState, model: &[u8], optim: &[u8]) -> Result<(), TrainError> {
        let json = serde_json::to_vec(state)
            .map_err(|e| self.corrupt(format!("serialising the state: {e}")))?;
        let bytes = container::pack(CHECKPOINT_MAGIC, CHECKPOINT_FORMAT, &[&json, model, optim]);
        Ok(dsm_space::io::save(&self.path, &bytes)?)
    }

    fn load(&self) -> Result<Option<SavedCheckpoint>, TrainError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FileError::read(&self.path, e).into()),
        };
        let mut sections = container::unpack(
            &bytes,
            CHECKPOINT_MAGIC,
            CHECKPOINT_FORMAT,
            &["state", "weights", "optimizer"],
        )
        .map_err(|reason| self.corrupt(format!("not a usable training checkpoint: {reason}")))?;
        let optimizer = sections.pop().expect("3 sections");
        let model = sections.pop().expect("3 sections");
        let state: CheckpointState = serde_json::from_slice(&sections[0])
            .map_err(|e| self.corrupt(format!("state: {e}")))?;
        Ok(Some(SavedCheckpoint {
            state,
            model,
            optimizer,
        }))
    }
}
