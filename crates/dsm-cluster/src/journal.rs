//! The driver's journal: every proposal asked and every result told, in order, and each
//! evaluation's job, state and attempts; rewritten atomically at every change, so that a
//! driver killed at any moment (even by SIGKILL) can be restarted from it.

use std::collections::BTreeMap;
use std::path::Path;

use dsm_miner::Outcome;
use dsm_space::io::{read_to_string, save};
use serde::{Deserialize, Serialize};

use crate::ClusterError;

/// The version of the journal's format.
pub const JOURNAL_FORMAT: &str = "1";

/// One step of the search, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The driver handed out proposal `id`.
    Asked {
        /// The proposal.
        id: u64,
        /// Its architecture (text form).
        arch: String,
    },
    /// Proposal `id`'s result was told to the search.
    Told {
        /// The proposal.
        id: u64,
        /// Its score.
        score: f64,
        /// Its cost (seconds).
        cost_s: f64,
    },
    /// Proposal `id` was told as failed for good (after its retries) or timed out.
    Failed {
        /// The proposal.
        id: u64,
        /// The compute charged (seconds).
        cost_s: f64,
        /// How it ended (`failed` in journals written before outcomes were told apart).
        #[serde(default = "failed")]
        outcome: Outcome,
    },
}

/// Where one evaluation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Asked, its job not yet (known to be) submitted.
    Submitting,
    /// Its job is queued or running.
    Submitted,
    /// Its result was collected.
    Done,
    /// Failed for good (its reason is the last attempt's).
    Failed,
    /// Ran past its time limit (not retried).
    Timeout,
    /// Its job was cancelled by the driver (SIGTERM / Ctrl-C); a resumed driver starts it
    /// again.
    Cancelled,
}

/// One ended attempt of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its job id.
    pub job: String,
    /// How it ended (`FAILED, exit code 3:0: <last log line>`, `requeued after NODE_FAIL`).
    pub outcome: String,
}

/// One evaluation: its job, stage and history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationRecord {
    /// The architecture (text form).
    pub arch: String,
    /// The current (or last) job's id.
    pub job: Option<String>,
    /// Where it stands.
    pub stage: Stage,
    /// Jobs submitted for it.
    pub submissions: u32,
    /// Failed attempts (counted against the retries).
    pub failures: u32,
    /// Attempts that ended without a result, oldest first.
    pub attempts: Vec<Attempt>,
}

/// The journal of one search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// [`JOURNAL_FORMAT`].
    pub format: String,
    /// The run's name (job names are `dsm-<run>-<id>`).
    pub run: String,
    /// The caller's fingerprint of the search (a resumed driver must match it).
    pub fingerprint: String,
    /// The launcher's name (`local`, `slurm`).
    pub launcher: String,
    /// The steps of the search, in order.
    pub events: Vec<Event>,
    /// Every evaluation asked, by proposal id.
    pub evaluations: BTreeMap<u64, EvaluationRecord>,
}

impl Journal {
    /// An empty journal.
    pub fn new(run: &str, fingerprint: &str, launcher: &str) -> Self {
        Self {
            format: JOURNAL_FORMAT.into(),
            run: run.into(),
            fingerprint: fingerprint.into(),
            launcher: launcher.into(),
            events: Vec::new(),
            evaluations: BTreeMap::new(),
        }
    }

    /// Reads a journal.
    pub fn read(path: &Path) -> Result<Self, ClusterError> {
        let text = read_to_string(path)?;
        let j: Journal = serde_json::from_str(&text).map_err(|e| ClusterError::Journal {
            path: path.to_path_buf(),
            reason: format!("is not a journal: {e}; move it away to start afresh"),
        })?;
        if j.format != JOURNAL_FORMAT {
            return Err(ClusterError::Journal {
                path: path.to_path_buf(),
                reason: format!(
                    "has format {:?}, expected {JOURNAL_FORMAT:?}; finish it with the version that wrote it",
                    j.format
                ),
            });
        }
        Ok(j)
    }

    /// Writes the journal atomically.
    pub fn write(&self, path: &Path) -> Result<(), ClusterError> {
        let text = serde_json::to_string_pretty(self).expect("plain data serialises");
        Ok(save(path, text.as_bytes())?)
    }

    /// Jobs submitted in all, over every driver that wrote this journal.
    pub fn submissions(&self) -> u32 {
        self.evaluations.values().map(|r| r.submissions).sum()
    }
}

fn failed() -> Outcome {
    Outcome::Failed
}
