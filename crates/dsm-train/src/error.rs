//! The one error type of this crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when reading data, training, evaluating or predicting.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] dsm_space::io::FileError),
    /// A saved predictor or checkpoint is not a valid file of its format.
    #[error(transparent)]
    Format(#[from] dsm_space::io::FormatError),
    /// A setting or an input (a training config, a data set, a batch) is not usable.
    #[error("bad {what}: {reason}")]
    Input {
        /// Which input.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// An image could not be decoded, or an image folder or data set is malformed.
    #[error("bad image data {path:?}: {reason}")]
    Image {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A training checkpoint is corrupt, of another format, or of another run.
    #[error("cannot resume from checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An output refused under the one output policy ([`dsm_space::output`]).
    #[error(transparent)]
    Output(#[from] dsm_space::output::OutputError),
    /// A picture could not be drawn or written.
    #[error("cannot draw {}: {reason}", path.display())]
    Draw {
        /// The picture's file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A model could not be built or run.
    #[error(transparent)]
    Model(#[from] dsm_models::ModelError),
    /// The architecture is invalid.
    #[error(transparent)]
    Space(#[from] dsm_space::SpaceError),
    /// Search settings refused by the miner (a guided search's settings).
    #[error(transparent)]
    Miner(#[from] dsm_miner::MinerError),
}
