//! A training run's folder: `settings.json`, `config.json`, `metrics.jsonl` (one JSON object
//! per epoch), `checkpoint.bin` (after every epoch, atomically), and the trained network as
//! `model.safetensors` (PyTorch's reference naming, see `docs/models.md`) and `model.bpk`
//! (Burn's burnpack), under the one output policy of [`dsm_space::output`]: a folder that is
//! not empty is refused unless the caller resumes the run it holds (with the same settings)
//! or replaces it.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use dsm_space::io::FileError;
use dsm_space::output::{Existing, OutputFolder, Settings};
use serde::Serialize;

use crate::TrainError;
use crate::train::{EpochMetrics, TrainCheckpoint};

/// The folder of one training run (see the module docs).
///
/// ```
/// use dsm_space::output::{Existing, Settings};
/// use dsm_train::{RunFolder, TrainError};
///
/// let dir = std::env::temp_dir().join(format!("dsm-run-doc-{}", std::process::id()));
/// let settings = Settings::new("train").with("--epochs", 2);
/// let run = RunFolder::new(&dir, Existing::Refuse, &settings)?; // checks only; writes nothing
/// assert!(!dir.exists());
/// let mut log = run.prepare(&serde_json::json!({"epochs": 2}))?;
/// assert!(log.resumed().is_empty());
/// drop(log);
/// // The folder now holds a run: refused, unless resumed (same settings) or replaced.
/// assert!(matches!(RunFolder::new(&dir, Existing::Refuse, &settings), Err(TrainError::Output(_))));
/// assert!(RunFolder::new(&dir, Existing::Resume, &settings).is_ok());
/// let other = Settings::new("train").with("--epochs", 3);
/// let err = RunFolder::new(&dir, Existing::Resume, &other).unwrap_err();
/// assert!(err.to_string().contains("--epochs (2 in the run, 3 now)"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RunFolder {
    dir: PathBuf,
    folder: OutputFolder,
    checkpoint: TrainCheckpoint,
}

impl RunFolder {
    /// The run of `settings` in `dir` (the value of `--out`), checked under the output
    /// policy with `existing` (refused, resumed or replaced). Writes nothing.
    pub fn new(
        dir: impl Into<PathBuf>,
        existing: Existing,
        settings: &Settings,
    ) -> Result<Self, TrainError> {
        let dir = dir.into();
        let folder = OutputFolder::new("--out", &dir)
            .resumable()
            .existing(existing)
            .check(settings)?;
        Ok(Self::checked(folder))
    }

    /// The run in an already checked folder (a command with more inputs to protect, see
    /// [`OutputFolder::input`]).
    pub fn checked(folder: OutputFolder) -> Self {
        let dir = folder.dir().to_path_buf();
        Self {
            checkpoint: TrainCheckpoint::new(dir.join("checkpoint.bin")),
            dir,
            folder,
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run's checkpoint (for [`Trainer::with_checkpoint`](crate::Trainer::with_checkpoint)).
    pub fn checkpoint(&self) -> &TrainCheckpoint {
        &self.checkpoint
    }

    /// Creates the folder, writes `settings.json` and `config.json`, removes the old
    /// checkpoint unless the run is resumed, and opens `metrics.jsonl` with the epochs the checkpoint already holds (epochs
    /// logged after the checkpoint are redone, so the log restarts from it).
    pub fn prepare(&self, config: &impl Serialize) -> Result<MetricsLog, TrainError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |e| TrainError::File(FileError::write(&path, e))
        };
        self.folder.create()?;
        let config_path = self.dir.join("config.json");
        let text = serde_json::to_string_pretty(config).map_err(|e| TrainError::Input {
            what: "run configuration".into(),
            reason: e.to_string(),
        })?;
        dsm_space::io::write_atomic(&config_path, text.as_bytes()).map_err(io(&config_path))?;
        let ck = self.checkpoint.path();
        if !self.folder.resuming() && ck.exists() {
            std::fs::remove_file(ck).map_err(io(ck))?;
        }
        let resumed = self.checkpoint.history()?.unwrap_or_default();
        let path = self.dir.join("metrics.jsonl");
        let file = std::fs::File::create(&path).map_err(io(&path))?;
        let mut log = MetricsLog {
            path,
            file,
            resumed,
            error: None,
        };
        for m in log.resumed.clone() {
            log.record(&m);
        }
        log.finish()?;
        Ok(log)
    }

    /// Saves the trained network as `model.safetensors` (its `state_dict`, in PyTorch's
    /// reference naming) and `model.bpk` (Burn's record), both atomically.
    pub fn save_model<M: Module>(
        &self,
        model: M,
        state_dict: &dsm_models::StateDict,
    ) -> Result<(), TrainError> {
        state_dict.save_safetensors(self.dir.join("model.safetensors"))?;
        let path = self.dir.join("model.bpk");
        let bytes = model
            .into_record()
            .into_bytes()
            .map_err(|e| TrainError::Input {
                what: "the trained weights".into(),
                reason: format!("cannot serialise them: {e:?}"),
            })?;
        Ok(dsm_space::io::save(&path, &bytes)?)
    }
}

impl RunFolder {
    /// Saves a trained NAS-Bench-201 network for users to take away: `model.safetensors`
    /// (PyTorch's `TinyNetwork` names, [`save_model`](Self::save_model)), `model.bpk`, and
    /// `arch.json` ([`ArchFile`](dsm_models::zoo::ArchFile): the cell, classes, C and N),
    /// which `forward`, `infer` and `eval_imagenet` read with `--model <this folder>`.
    pub fn save_nb201(
        &self,
        model: dsm_models::Nb201Network,
        cell: &dsm_space::Nb201Cell,
        classes: usize,
    ) -> Result<(), TrainError> {
        let state_dict = model.state_dict();
        self.save_model(model, &state_dict)?;
        Ok(dsm_models::zoo::ArchFile::nb201(cell, classes)
            .save(&self.dir.join(dsm_models::zoo::ARCH_FILE))?)
    }
}

/// `metrics.jsonl`, one line per epoch. [`MetricsLog::record`] fits the trainer's per-epoch
/// callback; a write error is kept and returned by [`MetricsLog::finish`].
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
    resumed: Vec<EpochMetrics>,
    error: Option<std::io::Error>,
}

impl MetricsLog {
    /// The epochs the checkpoint held when the log was opened (empty for a new run).
    pub fn resumed(&self) -> &[EpochMetrics] {
        &self.resumed
    }

    /// Appends one epoch.
    pub fn record(&mut self, m: &EpochMetrics) {
        if self.error.is_none() {
            let line = serde_json::to_string(m).expect("metrics serialise");
            if let Err(e) = writeln!(self.file, "{line}") {
                self.error = Some(e);
            }
        }
    }

    /// The first write error, if any.
    pub fn finish(&mut self) -> Result<(), TrainError> {
        match self.error.take() {
            Some(e) => Err(FileError::write(&self.path, e).into()),
            None => Ok(()),
        }
    }
}
