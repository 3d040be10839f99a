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
    /// Width multiplier of an mbv3 model (refused for a NAS-Bench-201 one, which has none).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = DEFAULT_WIDTH))]
    pub width: f64,
}

/// The width multiplier of [`ModelArgs`] when none is given: the published models' 1.2.
pub const DEFAULT_WIDTH: f64 = 1.2;

impl ModelArgs {
    /// The model these flags name, its weights file and its classes (see the type's docs):
    /// nothing is loaded yet. A `--width` other than [`DEFAULT_WIDTH`] for a NAS-Bench-201
    /// model is refused (it would be ignored).
    pub fn resolve(&self) -> Result<(ModelSpec, PathBuf, Option<usize>), ModelError> {
        let resolved = self.resolve_any()?;
        if matches!(resolved.0, ModelSpec::Nb201(_)) && self.width != DEFAULT_WIDTH {
            return Err(ModelError::Input {
                what: format!("--width {}", self.width),
                reason: "a width multiplier applies to a MobileNet only, and this model is a NAS-Bench-201 network; leave --width out".into(),
            });
        }
        Ok(resolved)
    }

    fn resolve_any(&self) -> Result<(ModelSpec, PathBuf, Option<usize>), ModelError> {
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

    /// Whether images of `height x width` go through the network; `what` names them in the
    /// error (`--crop 1`). A NAS-Bench-201 network reduces twice by a stride-2 convolution
    /// beside a 2 x 2 average pool, whose outputs agree only on even sides: it takes sides
    /// that are multiples of 4. A MobileNet takes any side of at least 1 pixel.
    ///
    /// ```
    /// # use dsm_models::zoo::AnyModel;
    /// # let dev = burn::prelude::Device::flex();
    /// # let cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
    /// let model = AnyModel::Nb201(Box::new(dsm_models::Nb201Network::init(&cell, 10, 0, &dev)));
    /// assert!(model.check_input(32, 32, "--crop 32").is_ok());
    /// let err = model.check_input(1, 1, "--crop 1").unwrap_err();
    /// assert!(err.to_string().starts_with("bad --crop 1: a NAS-Bench-201 network takes"));
    /// # Ok::<(), dsm_models::ModelError>(())
    /// ```
    pub fn check_input(&self, height: usize, width: usize, what: &str) -> Result<(), ModelError> {
        let fits = match self {
            Self::Nb201(_) => {
                height >= 4 && width >= 4 && height.is_multiple_of(4) && width.is_multiple_of(4)
            }
            Self::MobileNet(_) => height >= 1 && width >= 1,
        };
        if fits {
            return Ok(());
        }
        Err(ModelError::Input {
            what: what.to_string(),
            reason: match self {
                Self::Nb201(_) => format!(
                    "a NAS-Bench-201 network takes images whose sides are multiples of 4 (two stride-2 reductions, each a convolution beside a 2 x 2 average pool), not {height} x {width}; use 32 as the benchmark does"
                ),
                Self::MobileNet(_) => {
                    format!("a MobileNet takes images of at least 1 x 1, not {height} x {width}")
                }
            },
        })
    }

    /// Logits of a batch of images `[n, 3, h, w]` (see [`check_input`](Self::check_input)
    /// for the sizes a network takes).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Self::Nb201(m) => m.forward(x),
            Self::MobileNet(m) => m.forward(x),
        }
    }
}

#[cfg(test)]
mod input_size_tests {
    use super::*;
    use burn::prelude::Tensor;

    /// `check_input` accepts only sizes the forward pass runs on, so every size it panics on
    /// (inside the convolution or the residual sum) is refused. (A NAS-Bench-201 network
    /// also "runs" on 2, 3 and 6 pixels, where a 1-pixel branch is broadcast over the other:
    /// refused too, since PyTorch's network rejects those shapes.)
    #[test]
    fn check_input_accepts_only_what_the_forward_pass_runs() {
        let dev = Device::flex();
        let cell = "|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|skip_connect~2|".parse().unwrap();
        let nb201 = AnyModel::Nb201(Box::new(crate::Nb201Network::init(&cell, 10, 0, &dev)));
        let space = dsm_space::MbV3Space::new(1.0).unwrap();
        let arch: dsm_space::MbV3Arch = "2,2,2,2,2:3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0:3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0".parse().unwrap();
        let mbv3 = AnyModel::MobileNet(Box::new(
            crate::MobileNetV3::init(&arch, &space, 0, &dev).unwrap(),
        ));
        let mut accepted = 0;
        for (model, sides) in [(&nb201, 1..=13usize), (&mbv3, 1..=5)] {
            for h in sides.clone() {
                let w = if h % 2 == 0 { 8 } else { h };
                let runs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let x = Tensor::<4>::zeros([1, 3, h, w], &dev);
                    model.forward(x).dims()
                }))
                .is_ok();
                assert!(
                    runs || model.check_input(h, w, "x").is_err(),
                    "{h} x {w}: accepted, but the forward pass panics"
                );
                if model.check_input(h, w, "x").is_ok() {
                    accepted += 1;
                }
            }
        }
        // 4, 8 and 12 for NAS-Bench-201 (square or 8 wide), every side for the MobileNet.
        assert_eq!(accepted, 3 + 5);
    }
}
