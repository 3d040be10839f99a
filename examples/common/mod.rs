//! Shared by the model examples: choosing a model by name and loading its weights.

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use dsm_nas::models::{MobileNetV3, Nb201Network, StateDict, dsm_nas, dsm_nas_plus};
use dsm_nas::space::{MbV3Arch, MbV3Space, Nb201Cell};

/// A loaded model.
pub enum Model {
    Nb201(Box<Nb201Network>),
    MobileNet(Box<MobileNetV3>),
}

impl Model {
    /// `dsm_nas`, `dsm_nas_plus`, `nb201:<cell>` (10 classes unless `classes`) or
    /// `mbv3:<legacy>` (width `width`), with weights from a safetensors or .pt file.
    pub fn load(
        name: &str,
        weights: &std::path::Path,
        classes: Option<usize>,
        width: f64,
        dev: &Device,
    ) -> Result<Self> {
        let sd = StateDict::from_file(weights)?;
        let mbv3 = |arch: MbV3Arch, space: MbV3Space| -> Result<Self> {
            let space = space.with_classes(classes.unwrap_or(1000))?;
            Ok(Model::MobileNet(Box::new(
                MobileNetV3::from_state_dict(&arch, &space, &sd, dev)?.fold_batchnorm(),
            )))
        };
        match name {
            "dsm_nas" => {
                let (a, s) = dsm_nas();
                mbv3(a, s)
            }
            "dsm_nas_plus" => {
                let (a, s) = dsm_nas_plus();
                mbv3(a, s)
            }
            m if m.starts_with("nb201:") => {
                let cell: Nb201Cell = m["nb201:".len()..].parse().context("bad --model")?;
                Ok(Model::Nb201(Box::new(Nb201Network::from_state_dict(
                    &cell,
                    classes.unwrap_or(10),
                    &sd,
                    dev,
                )?)))
            }
            m if m.starts_with("mbv3:") => {
                let arch: MbV3Arch = m["mbv3:".len()..].parse().context("bad --model")?;
                mbv3(arch, MbV3Space::new(width).context("bad --width")?)
            }
            other => bail!(
                "unknown --model {other:?}; expected dsm_nas, dsm_nas_plus, nb201:<cell> or mbv3:<legacy string>"
            ),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Model::Nb201(m) => m.forward(x),
            Model::MobileNet(m) => m.forward(x),
        }
    }
}
