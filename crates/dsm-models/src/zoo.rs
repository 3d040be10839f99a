//! Models by name, as the command-line tools take them: `dsm_nas` and `dsm_nas_plus` (the
//! published ImageNet models), `nb201:<cell>` (any NAS-Bench-201 cell) and `mbv3:<legacy
//! depths:ks:ratios string>` (any subnet of the MobileNetV3 space), with their weights from
//! a safetensors or PyTorch file. MobileNets are loaded with BatchNorm folded, for inference.
//!
//! ```
//! use burn::prelude::*;
//! use dsm_models::zoo::{AnyModel, ModelSpec};
//!
//! let dev = Device::flex();
//! let cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";
//! let spec = ModelSpec::parse(&format!("nb201:{cell}"), 1.2)?;
//! assert_eq!(spec, ModelSpec::Nb201(cell.parse()?));
//! let saved = dsm_models::Nb201Network::new(&cell.parse()?, 10, &dev).state_dict();
//! let model = AnyModel::from_state_dict(&spec, &saved, None, &dev)?;
//! assert_eq!(model.forward(Tensor::zeros([1, 3, 32, 32], &dev)).dims(), [1, 10]);
//! let unknown = ModelSpec::parse("resnet50", 1.2).unwrap_err().to_string();
//! assert!(unknown.contains("dsm_nas, dsm_nas_plus"), "{unknown}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use burn::prelude::*;
use dsm_space::{MbV3Arch, MbV3Space, Nb201Cell, SpaceError};

use crate::{MobileNetV3, ModelError, Nb201Network, StateDict, dsm_nas, dsm_nas_plus};

/// A model chosen on the command line (with the `cli` feature, the flags `--backend`,
/// `--model`, `--weights`, `--classes` and `--width` of the model tools).
///
/// `--model` also takes a run folder of `train` (or its `arch.json`): the network is the
/// one [`ArchFile`] describes and the weights default to the folder's `model.safetensors`.
/// Without `--model`, an `arch.json` beside `--weights` is read; without either, `dsm_nas`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct ModelArgs {
    /// Burn backend: flex (default), ndarray, wgpu, tch or cuda (the last four need the
    /// cargo feature of the same name).
    #[cfg_attr(feature = "cli", arg(long, default_value = "flex"))]
    pub backend: String,
    /// `dsm_nas`, `dsm_nas_plus`, `nb201:<cell>`, `mbv3:<legacy string>`, or a run folder
    /// of `train` (or its arch.json). Default: the arch.json beside --weights, else dsm_nas.
    #[cfg_attr(feature = "cli", arg(long))]
    pub model: Option<String>,
    /// Weights: a safetensors file or a PyTorch .pt/.pth state dict (default, for a run
    /// folder: its model.safetensors).
    #[cfg_attr(feature = "cli", arg(long))]
    pub weights: Option<std::path::PathBuf>,
    /// Classes of the model's classifier (default: arch.json's, else 10 for nb201, 1000
    /// otherwise).
    #[cfg_attr(feature = "cli", arg(long))]
    pub classes: Option<usize>,
    /// Width multiplier of an mbv3 model.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1.2))]
    pub width: f64,
}

impl ModelArgs {
    /// The model these flags name, its weights file and its classes (see the type's docs):
    /// nothing is loaded yet.
    pub fn resolve(&self) -> Result<(ModelSpec, PathBuf, Option<usize>), ModelError> {
        let arch_of = |p: &Path| {
            if p.is_dir() {
                p.join(ARCH_FILE)
            } else {
                p.to_path_buf()
            }
        };
        let beside = self
            .weights
            .as_ref()
            .and_then(|w| w.parent())
            .map(|d| d.join(ARCH_FILE))
            .filter(|a| a.is_file());
        let arch = match &self.model {
            Some(m) if Path::new(m).is_dir() || m.ends_with(".json") => Some(arch_of(Path::new(m))),
            Some(_) => None,
            None => beside,
        };
        let Some(arch) = arch else {
            let name = self.model.as_deref().unwrap_or("dsm_nas");
            let weights = self.weights.clone().ok_or_else(|| ModelError::Input {
                what: "--weights".into(),
                reason: format!(
                    "missing: {name} needs a weights file (or pass --model a run folder of \
                     `train`, which holds arch.json and model.safetensors)"
                ),
            })?;
            return Ok((ModelSpec::parse(name, self.width)?, weights, self.classes));
        };
        let card = ArchFile::read(&arch)?;
        let dir = arch.parent().unwrap_or(Path::new("."));
        let weights = self
            .weights
            .clone()
            .unwrap_or_else(|| dir.join(WEIGHTS_FILE));
        Ok((
            card.spec(&arch)?,
            weights,
            self.classes.or(Some(card.classes)),
        ))
    }

    /// The device of `backend`, and the model on it with its weights.
    pub fn load(&self) -> Result<(AnyModel, Device), ModelError> {
        let device = self.backend.parse::<crate::backend::Backend>()?.device()?;
        let (spec, weights, classes) = self.resolve()?;
        let sd = StateDict::from_file(&weights)?;
        Ok((
            AnyModel::from_state_dict(&spec, &sd, classes, &device)?,
            device,
        ))
    }
}

/// The name of the architecture file beside a trained network's weights.
pub const ARCH_FILE: &str = "arch.json";

/// The name of a trained network's weights in its run folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// What network a weights file holds, as `train` writes it beside `model.safetensors`:
/// `{"space": "nas-bench-201", "cell": "|..|", "classes": 10, "C": 16, "N": 5}` (xautodl's
/// `TinyNetwork(C, N, genotype, num_classes)`, the arguments PyTorch needs to build the network
/// that loads the weights).
///
/// ```
/// use dsm_models::zoo::{ArchFile, ModelSpec};
/// let cell: dsm_space::Nb201Cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
/// let card = ArchFile::nb201(&cell, 10);
/// let text = card.to_json();
/// assert!(text.contains(r#""C": 16"#) && text.contains(r#""N": 5"#), "{text}");
/// let back = ArchFile::from_json(&text, "arch.json")?;
/// assert_eq!(back.spec("arch.json".as_ref())?, ModelSpec::Nb201(cell));
/// let wide = ArchFile { c: 32, ..back };
/// assert!(wide.spec("arch.json".as_ref()).unwrap_err().to_string().contains("C = 16"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchFile {
    /// The search space: `nas-bench-201`.
    pub space: String,
    /// The cell, in NAS-Bench-201's string form.
    pub cell: String,
    /// Classes of the classifier.
    pub classes: usize,
    /// Channels of the first stage.
    #[serde(rename = "C")]
    pub c: usize,
    /// Cells per stage.
    #[serde(rename = "N")]
    pub n: usize,
}

impl ArchFile {
    /// The card of a NAS-Bench-201 network ([`Nb201Network`]: C = 16, N = 5) of `cell`.
    pub fn nb201(cell: &Nb201Cell, classes: usize) -> Self {
        Self {
            space: "nas-bench-201".into(),
            cell: cell.to_string(),
            classes,
            c: Nb201Network::CHANNELS,
            n: Nb201Network::CELLS_PER_STAGE,
        }
    }

    /// The card as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a card serialises")
    }

    /// A card from JSON text (`source_name` names it in errors).
    pub fn from_json(text: &str, source_name: &str) -> Result<Self, ModelError> {
        serde_json::from_str(text).map_err(|e| {
            dsm_space::io::FormatError::new(
                source_name,
                "architecture file (arch.json)",
                format!(
                    "{e}; expected {{\"space\": \"nas-bench-201\", \"cell\": ..., \"classes\": ..., \"C\": 16, \"N\": 5}}"
                ),
            )
            .into()
        })
    }

    /// Reads a card.
    pub fn read(path: &Path) -> Result<Self, ModelError> {
        Self::from_json(
            &dsm_space::io::read_to_string(path)?,
            &path.display().to_string(),
        )
    }

    /// Writes the card (atomically).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        Ok(dsm_space::io::save(path, self.to_json().as_bytes())?)
    }

    /// The model the card describes (`path` names it in errors): an error for another
    /// space, a bad cell, or a C / N this network is not built with.
    pub fn spec(&self, path: &Path) -> Result<ModelSpec, ModelError> {
        let bad = |reason: String| ModelError::Input {
            what: path.display().to_string(),
            reason,
        };
        if self.space != "nas-bench-201" {
            return Err(bad(format!(
                "space {:?}: expected \"nas-bench-201\"",
                self.space
            )));
        }
        if (self.c, self.n) != (Nb201Network::CHANNELS, Nb201Network::CELLS_PER_STAGE) {
            return Err(bad(format!(
                "C = {}, N = {}: the NAS-Bench-201 network is built with C = 16, N = 5",
                self.c, self.n
            )));
        }
        if self.classes == 0 {
            return Err(bad("classes = 0: expected at least 1".into()));
        }
        Ok(ModelSpec::Nb201(self.cell.parse()?))
    }
}

/// Which model a name stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// A NAS-Bench-201 network of this cell.
    Nb201(Nb201Cell),
    /// A subnet of this MobileNetV3 space.
    MobileNet(MbV3Arch, MbV3Space),
}

impl ModelSpec {
    /// `dsm_nas`, `dsm_nas_plus`, `nb201:<cell>` or `mbv3:<legacy string>` (in the space of
    /// width multiplier `width`).
    pub fn parse(name: &str, width: f64) -> Result<Self, ModelError> {
        Ok(match name {
            "dsm_nas" => {
                let (a, s) = dsm_nas();
                Self::MobileNet(a, s)
            }
            "dsm_nas_plus" => {
                let (a, s) = dsm_nas_plus();
                Self::MobileNet(a, s)
            }
            m if m.starts_with("nb201:") => Self::Nb201(m["nb201:".len()..].parse()?),
            m if m.starts_with("mbv3:") => {
                Self::MobileNet(m["mbv3:".len()..].parse()?, MbV3Space::new(width)?)
            }
            other => {
                return Err(SpaceError::InvalidSetting {
                    what: "model",
                    value: other.to_string(),
                    expected: "dsm_nas, dsm_nas_plus, nb201:<cell> or mbv3:<legacy depths:ks:ratios string>",
                }
                .into());
            }
        })
    }
}

/// A loaded model of either space.
#[derive(Debug)]
pub enum AnyModel {
    /// A NAS-Bench-201 network.
    Nb201(Box<Nb201Network>),
    /// A MobileNetV3 subnet, BatchNorm folded.
    MobileNet(Box<MobileNetV3>),
}

impl AnyModel {
    /// The model `name` stands for ([`ModelSpec::parse`]) with the weights in `weights`, a
    /// classifier of `classes` outputs (default: 10 for NAS-Bench-201, 1000 for MobileNets).
    pub fn load(
        name: &str,
        weights: &Path,
        classes: Option<usize>,
        width: f64,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let spec = ModelSpec::parse(name, width)?;
        Self::from_state_dict(&spec, &StateDict::from_file(weights)?, classes, device)
    }

    /// The model of `spec` with the weights of `state_dict`.
    pub fn from_state_dict(
        spec: &ModelSpec,
        state_dict: &StateDict,
        classes: Option<usize>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        Ok(match spec {
            ModelSpec::Nb201(cell) => Self::Nb201(Box::new(Nb201Network::from_state_dict(
                cell,
                classes.unwrap_or(10),
                state_dict,
                device,
            )?)),
            ModelSpec::MobileNet(arch, space) => {
                let space = space.with_classes(classes.unwrap_or(1000))?;
                Self::MobileNet(Box::new(
                    MobileNetV3::from_state_dict(arch, &space, state_dict, device)?
                        .fold_batchnorm(),
                ))
            }
        })
    }

    /// Logits of a batch of images `[n, 3, h, w]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Self::Nb201(m) => m.forward(x),
            Self::MobileNet(m) => m.forward(x),
        }
    }
}
