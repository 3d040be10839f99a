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

use std::path::Path;

use burn::prelude::*;
use dsm_space::{MbV3Arch, MbV3Space, Nb201Cell, SpaceError};

use crate::{MobileNetV3, ModelError, Nb201Network, StateDict, dsm_nas, dsm_nas_plus};

/// A model chosen on the command line (with the `cli` feature, the flags `--backend`,
/// `--model`, `--weights`, `--classes` and `--width` of the model tools).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct ModelArgs {
    /// Burn backend: flex (default), ndarray, wgpu, tch or cuda (the last four need the
    /// cargo feature of the same name).
    #[cfg_attr(feature = "cli", arg(long, default_value = "flex"))]
    pub backend: String,
    /// `dsm_nas`, `dsm_nas_plus`, `nb201:<cell>` or `mbv3:<legacy string>`.
    #[cfg_attr(feature = "cli", arg(long, default_value = "dsm_nas"))]
    pub model: String,
    /// Weights: a safetensors file or a PyTorch .pt/.pth state dict.
    #[cfg_attr(feature = "cli", arg(long))]
    pub weights: std::path::PathBuf,
    /// Classes of the model's classifier (default: 10 for nb201, 1000 otherwise).
    #[cfg_attr(feature = "cli", arg(long))]
    pub classes: Option<usize>,
    /// Width multiplier of an mbv3 model.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1.2))]
    pub width: f64,
}

impl ModelArgs {
    /// The device of `backend`, and the model on it with its weights.
    pub fn load(&self) -> Result<(AnyModel, Device), ModelError> {
        let device = self.backend.parse::<crate::backend::Backend>()?.device()?;
        let model = AnyModel::load(
            &self.model,
            &self.weights,
            self.classes,
            self.width,
            &device,
        )?;
        Ok((model, device))
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
