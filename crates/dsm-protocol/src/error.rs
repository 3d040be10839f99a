//! The one error type of this crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in a protocol run. Variants with a `source` name it only
/// in the error chain (print with `{:#}` in `anyhow`, or walk `source()`), never twice.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A configuration value is out of range or unknown.
    #[error("invalid configuration: {field} = {value}: expected {expected}")]
    Config {
        /// The field (a command-line flag's name).
        field: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A benchmark name (dataset, signal) did not parse.
    #[error(transparent)]
    Bench(#[from] dsm_bench::BenchError),
    /// A search failed.
    #[error("{method} on {task}, trial {trial}")]
    Search {
        /// The method.
        method: String,
        /// The task.
        task: String,
        /// The trial index.
        trial: usize,
        /// What failed.
        #[source]
        source: Box<dsm_miner::MinerError>,
    },
    /// The problem could not make a trial's evaluator or assess its answer (loading data,
    /// training).
    #[error("{what} on {task}, seed {seed}")]
    Problem {
        /// `making the evaluator` or `assessing the answer`.
        what: &'static str,
        /// The task.
        task: String,
        /// The trial's seed.
        seed: u64,
        /// The problem's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An architecture or a search space is invalid.
    #[error(transparent)]
    Space(#[from] dsm_space::SpaceError),
    /// A method's settings were refused before any search started.
    #[error(transparent)]
    Miner(#[from] dsm_miner::MinerError),
    /// An output refused under the one output policy ([`dsm_space::output`]).
    #[error(transparent)]
    Output(#[from] dsm_space::output::OutputError),
    /// A checkpoint of finished trials is unreadable or belongs to another run.
    #[error("{path} {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done (`reading`, `saving`, `creating`).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Drawing a picture or plot failed.
    #[error("drawing {path}: {reason}")]
    Draw {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

impl ProtocolError {
    pub(crate) fn config(
        field: &'static str,
        value: impl ToString,
        expected: impl Into<String>,
    ) -> Self {
        ProtocolError::Config {
            field,
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        ProtocolError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
