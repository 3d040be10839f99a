//! The one error type of this crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when evaluations run elsewhere. Variants with a `source`
/// name it only in the error chain, never twice.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A command the executor needs is not installed or not on `PATH`.
    #[error("{tool} not found on PATH: {hint}")]
    MissingTool {
        /// The command (`sbatch`).
        tool: String,
        /// What to do.
        hint: &'static str,
    },
    /// A scheduler command refused (its own message quoted).
    #[error("{command} refused: {message}")]
    Refused {
        /// The command line's program and first arguments.
        command: String,
        /// What it printed (trimmed).
        message: String,
    },
    /// A setting is out of range.
    #[error("invalid setting {field} = {value}: expected {expected}")]
    Config {
        /// The setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// The run folder holds a journal that cannot be continued (another run, or corrupt),
    /// or holds one and resuming was not asked for.
    #[error("{} {reason}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A task or result file is not what it should be.
    #[error("{} {reason}", path.display())]
    Task {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error(transparent)]
    File(#[from] dsm_space::io::FileError),
    /// Starting a command failed.
    #[error("cannot run {command}")]
    Spawn {
        /// The program.
        command: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The search refused a proposal's result, or its strategy failed.
    #[error(transparent)]
    Miner(#[from] dsm_miner::MinerError),
    /// The worker's evaluation failed.
    #[error("evaluating {arch}: {reason}")]
    Evaluation {
        /// The architecture.
        arch: String,
        /// What failed.
        reason: String,
    },
    /// The driver was asked to stop (SIGTERM, Ctrl-C): its jobs were cancelled and the
    /// journal left resumable.
    #[error("interrupted: {cancelled} job(s) cancelled; resume from {}", journal.display())]
    Interrupted {
        /// Jobs cancelled.
        cancelled: usize,
        /// The journal to resume from.
        journal: PathBuf,
    },
}
