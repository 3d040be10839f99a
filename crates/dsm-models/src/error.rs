//! The one error type of this crate.

use std::fmt;

use thiserror::Error;

/// A tensor whose shape differs from what the model expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// The tensor name.
    pub name: String,
    /// The shape the model needs.
    pub expected: Vec<usize>,
    /// The shape in the file.
    pub found: Vec<usize>,
}

/// Everything that did not fit when loading a state dict into a model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateDictReport {
    /// Tensors the model needs that the file lacks, with their expected shapes.
    pub missing: Vec<(String, Vec<usize>)>,
    /// Tensors in the file that the model does not have.
    pub unexpected: Vec<String>,
    /// Tensors present in both with different shapes.
    pub mismatched: Vec<ShapeMismatch>,
}

impl StateDictReport {
    /// Whether everything fitted.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }
}

/// How many names per category the message spells out (the report keeps them all).
const SHOWN: usize = 12;

fn list(items: Vec<String>) -> String {
    let n = items.len();
    let mut s = items.into_iter().take(SHOWN).collect::<Vec<_>>().join(", ");
    if n > SHOWN {
        s.push_str(&format!(", ... and {} more", n - SHOWN));
    }
    s
}

impl fmt::Display for StateDictReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "{} missing: {}",
                self.missing.len(),
                list(
                    self.missing
                        .iter()
                        .map(|(n, s)| format!("{n} {s:?}"))
                        .collect()
                )
            ));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!(
                "{} unexpected: {}",
                self.unexpected.len(),
                list(self.unexpected.clone())
            ));
        }
        if !self.mismatched.is_empty() {
            parts.push(format!(
                "{} with the wrong shape: {}",
                self.mismatched.len(),
                list(
                    self.mismatched
                        .iter()
                        .map(|m| format!(
                            "{} expected {:?} found {:?}",
                            m.name, m.expected, m.found
                        ))
                        .collect()
                )
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

/// Everything that can go wrong when building a model, loading weights or running it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A file could not be read or written.
    #[error(transparent)]
    File(#[from] dsm_space::io::FileError),
    /// A weights file is not a valid safetensors or PyTorch file.
    #[error(transparent)]
    Format(#[from] dsm_space::io::FormatError),
    /// A tensor has an element type the model cannot use.
    #[error("tensor {name} in {source_name} has element type {dtype}; expected float32 or float64")]
    Dtype {
        /// The file.
        source_name: String,
        /// The tensor.
        name: String,
        /// Its element type.
        dtype: String,
    },
    /// The state dict does not fit the model (nothing is loaded partially).
    #[error("the weights do not fit the model {model}: {report}")]
    StateDict {
        /// The model's name.
        model: String,
        /// Every offending tensor.
        report: StateDictReport,
    },
    /// An input tensor has the wrong shape or contains NaN / infinite values.
    #[error("bad {what}: {reason}")]
    Input {
        /// Which input.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The architecture is invalid.
    #[error(transparent)]
    Space(#[from] dsm_space::SpaceError),
}
