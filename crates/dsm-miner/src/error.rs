//! The one error type of this crate.

use thiserror::Error;

/// Everything that can go wrong in a search.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MinerError {
    /// The evaluator failed on an architecture (its error is the
    /// [`source`](std::error::Error::source), not repeated in the message).
    #[error("evaluating {arch} failed")]
    Evaluator {
        /// The architecture being evaluated.
        arch: String,
        /// The evaluator's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The executor running the search's evaluations elsewhere failed (worker processes,
    /// Slurm jobs: its error is the [`source`](std::error::Error::source)).
    #[error("running the search's evaluations on {executor} failed")]
    Executor {
        /// The executor (`local`, `slurm`).
        executor: String,
        /// Its error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A zero-cost proxy scorer failed on an architecture (its error is the
    /// [`source`](std::error::Error::source)).
    #[error("scoring {arch} by its zero-cost proxies failed")]
    Proxy {
        /// The architecture being scored.
        arch: String,
        /// The scorer's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A guided method's proxy scorer could not be made (its factory's error is the
    /// [`source`](std::error::Error::source)).
    #[error("setting up the zero-cost proxy scorer failed")]
    ProxySetup {
        /// The factory's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A zero-cost proxy scorer returned values a guided search cannot rank.
    #[error(
        "the proxy scorer returned {reason} for {arch}; it must return finite values, as many for every architecture, and a finite cost >= 0"
    )]
    ProxyValue {
        /// The architecture scored.
        arch: String,
        /// What was wrong.
        reason: String,
    },
    /// The evaluator returned a score or cost that is NaN or infinite (or a negative cost).
    #[error(
        "evaluator returned an unusable {what} {value} for {arch}; scores must be finite and costs finite and >= 0"
    )]
    NotFinite {
        /// `score` or `cost`.
        what: &'static str,
        /// The value.
        value: f64,
        /// The architecture.
        arch: String,
    },
    /// The controller's loss became NaN or infinite.
    #[error("the controller's loss became {value} at iteration {iteration}")]
    LossNotFinite {
        /// The loss value.
        value: f64,
        /// The search iteration.
        iteration: usize,
    },
    /// A search-space operation failed (an invalid edit or architecture).
    #[error(transparent)]
    Space(#[from] dsm_space::SpaceError),
    /// A search checkpoint is unreadable, corrupt, of another format or of another search,
    /// or could not be written.
    #[error("search checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A search checkpoint belongs to another search (another method, setting, space,
    /// budget, label or library version): resuming it would not give this search's result.
    #[error(
        "search checkpoint {} belongs to another search: {differences}; to start over, delete it or choose another checkpoint path", path.display()
    )]
    CheckpointMismatch {
        /// The checkpoint file.
        path: std::path::PathBuf,
        /// Every differing setting, `name: <checkpoint's> in the checkpoint, <this one's> here`.
        differences: String,
    },
    /// The ask/tell loop was used out of order: a result told for a proposal that is not in
    /// flight, or a strategy that waits with nothing in flight.
    #[error("search driver: {reason}")]
    Driver {
        /// What went wrong.
        reason: String,
    },
    /// The constraint rejected every one of `draws` architectures drawn in a row (initial
    /// anchors, random samples, mutations), so the search cannot go on.
    #[error(
        "the constraint rejected all {draws} architectures drawn in a row; loosen it (a higher MAdds or latency limit) or give initial anchors that meet it"
    )]
    ConstraintUnmet {
        /// Architectures drawn.
        draws: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {field} = {value}: expected {expected}")]
    Config {
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
}

impl MinerError {
    pub(crate) fn config(
        field: &'static str,
        value: impl ToString,
        expected: impl Into<String>,
    ) -> Self {
        MinerError::Config {
            field,
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}
