//! Once-for-All's published accuracy predictor for the width-1.2 MobileNetV3 supernet
//! (`acc_predictor.pth` of OFA's tutorial), loaded from the PyTorch file and run in Burn.
//!
//! The network is OFA's `Linear(128,400)-ReLU-Linear(400,400)-ReLU-Linear(400,400)-ReLU-
//! Linear(400,1)` (state-dict keys `layers.0.weight` ... `layers.6.bias`, or the same
//! without `layers.`). Its input is OFA's 128-value encoding ([`ofa_features`]): for each
//! of the 20 layer slots a one-hot of the kernel size (3, 5, 7) in values `0..60` and of
//! the expand ratio (3, 4, 6) in `60..120`, both zero past the unit's depth; then a one-hot
//! of the resolution at `(r - 112) / 16` in `120..128`. The output is the predicted top-1
//! accuracy (a fraction) of the subnet with weights inherited from the supernet, on OFA's
//! 10,000-image hold-out split of ImageNet's training images.
//!
//! The file is not redistributed with this project (its licence is unstated): fetch it
//! from `han-cai/files`, path `ofa/acc_predictor.pth` (sha256 `48685122...`).
//!
//! ```no_run
//! use burn::prelude::*;
//! use dsm_space::{MbV3Subnet, MbV3ResolutionSpace, MbV3Space, OFA_RESOLUTIONS};
//! use dsm_train::ofa::OfaPredictor;
//!
//! let predictor = OfaPredictor::load("acc_predictor.pth".as_ref(), &Device::flex())?;
//! let s: MbV3Subnet = "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4@224".parse()?;
//! let acc = predictor.predict(&[s])?[0];
//! assert!((acc - 0.8342).abs() < 1e-3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use dsm_models::StateDict;
use dsm_space::io::FormatError;
use dsm_space::mbv3::{EXPANDS, KERNELS, NUM_SLOTS};
use dsm_space::{Evaluation, Evaluator, MbV3ResolutionSpace, MbV3Subnet};

use crate::TrainError;

/// Inputs of OFA's predictor.
pub const OFA_FEATURES: usize = 128;
/// Layer sizes of OFA's predictor, input first.
pub const OFA_LAYERS: [usize; 5] = [OFA_FEATURES, 400, 400, 400, 1];
/// The width multiplier of the supernet OFA's predictor describes.
pub const OFA_WIDTH: f64 = 1.2;

/// OFA's 128-value encoding of `subnet` (see the [module docs](self)); the resolution must
/// be one of 112, 128, ..., 224 (the predictor's one-hot has 8 places).
pub fn ofa_features(subnet: &MbV3Subnet) -> Result<[f32; OFA_FEATURES], TrainError> {
    let r = subnet.resolution;
    if !(112..=224).contains(&r) || !(r - 112).is_multiple_of(16) {
        return Err(TrainError::Input {
            what: format!("resolution of {subnet}"),
            reason: format!(
                "{r} is not one OFA's predictor encodes; expected 112, 128, ..., 224 (steps of 16)"
            ),
        });
    }
    let mut x = [0.0f32; OFA_FEATURES];
    let (ks, es) = (subnet.arch.kernel_slots(), subnet.arch.expand_slots());
    for slot in 0..NUM_SLOTS {
        // Absent slots (past a unit's depth) are 0 in both and stay all-zero.
        if let Some(k) = KERNELS.iter().position(|&k| k == ks[slot]) {
            x[slot * 3 + k] = 1.0;
        }
        if let Some(e) = EXPANDS.iter().position(|&e| e == es[slot]) {
            x[NUM_SLOTS * 3 + slot * 3 + e] = 1.0;
        }
    }
    x[2 * NUM_SLOTS * 3 + ((r - 112) / 16) as usize] = 1.0;
    Ok(x)
}

/// OFA's accuracy predictor (see the [module docs](self)).
#[derive(Debug)]
pub struct OfaPredictor {
    layers: Vec<Linear>,
    device: Device,
}

impl OfaPredictor {
    /// Loads `acc_predictor.pth` (any `torch.save` format) onto `device`. A file of another
    /// network is a [`TrainError::Format`] naming the key or shape that differs.
    pub fn load(path: &Path, device: &Device) -> Result<Self, TrainError> {
        let dict = StateDict::from_file(path)?;
        Self::from_state_dict(&dict, &path.display().to_string(), device)
    }

    /// The predictor from a state dict already read (`source_name` names it in errors).
    pub fn from_state_dict(
        dict: &StateDict,
        source_name: &str,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let bad = |reason: String| {
            TrainError::Format(FormatError::new(
                source_name,
                "OFA accuracy predictor",
                reason,
            ))
        };
        let prefix = if dict.get("layers.0.weight").is_some() {
            "layers."
        } else {
            ""
        };
        let expected = (0..4)
            .flat_map(|i| {
                [
                    format!("{prefix}{}.weight", 2 * i),
                    format!("{prefix}{}.bias", 2 * i),
                ]
            })
            .collect::<Vec<_>>();
        if dict.len() != expected.len() {
            return Err(bad(format!(
                "{} tensors, expected {} ({}): not OFA's Linear(128,400)-ReLU-Linear(400,400)-ReLU-Linear(400,400)-ReLU-Linear(400,1)",
                dict.len(),
                expected.len(),
                expected.join(", ")
            )));
        }
        let mut layers = Vec::with_capacity(4);
        for i in 0..4 {
            let (din, dout) = (OFA_LAYERS[i], OFA_LAYERS[i + 1]);
            let tensor = |name: &str, shape: Vec<usize>| {
                let t = dict.get(name).ok_or_else(|| {
                    bad(format!(
                        "no tensor {name}; expected keys {}",
                        expected.join(", ")
                    ))
                })?;
                if t.shape != shape || t.is_int {
                    return Err(bad(format!(
                        "{name} has shape {:?}{}, expected float {shape:?}",
                        t.shape,
                        if t.is_int { " (integer)" } else { "" }
                    )));
                }
                if let Some(v) = t.data.iter().find(|v| !v.is_finite()) {
                    return Err(bad(format!("{name} holds {v}, expected finite weights")));
                }
                Ok(t.data.clone())
            };
            let w = tensor(&format!("{prefix}{}.weight", 2 * i), vec![dout, din])?;
            let b = tensor(&format!("{prefix}{}.bias", 2 * i), vec![dout])?;
            let mut linear = LinearConfig::new(din, dout).init(device);
            // PyTorch stores [out, in]; Burn's Linear multiplies by [in, out].
            let w = Tensor::<2>::from_data(TensorData::new(w, [dout, din]), device).transpose();
            linear.weight = burn::module::Param::from_tensor(w);
            linear.bias = Some(burn::module::Param::from_tensor(Tensor::from_data(
                TensorData::new(b, [dout]),
                device,
            )));
            layers.push(linear);
        }
        Ok(Self {
            layers,
            device: device.clone(),
        })
    }

    /// Predicted accuracies (fractions) of `subnets`, in one batch.
    pub fn predict(&self, subnets: &[MbV3Subnet]) -> Result<Vec<f64>, TrainError> {
        if subnets.is_empty() {
            return Ok(Vec::new());
        }
        let mut x = Vec::with_capacity(subnets.len() * OFA_FEATURES);
        for s in subnets {
            x.extend_from_slice(&ofa_features(s)?);
        }
        let mut h = Tensor::<2>::from_data(
            TensorData::new(x, [subnets.len(), OFA_FEATURES]),
            &self.device,
        );
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i + 1 < self.layers.len() {
                h = relu(h);
            }
        }
        let out = h
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| TrainError::Input {
                what: "OFA predictor output".into(),
                reason: format!("{e:?}"),
            })?;
        out.iter()
            .zip(subnets)
            .map(|(&v, s)| {
                if v.is_finite() {
                    Ok(f64::from(v))
                } else {
                    Err(TrainError::Input {
                        what: format!("predicted accuracy of {s}"),
                        reason: format!("{v} is not a finite number"),
                    })
                }
            })
            .collect()
    }

    /// Scores subnets of `space` by the predicted accuracy in **percent** (cost 0 s). The
    /// space must be the width-1.2 space with resolutions the predictor encodes.
    pub fn evaluator<'a>(
        &'a self,
        space: &MbV3ResolutionSpace,
    ) -> Result<OfaEvaluator<'a>, TrainError> {
        if space.base().width_mult() != OFA_WIDTH {
            return Err(TrainError::Input {
                what: "space of OFA's predictor".into(),
                reason: format!(
                    "width {}, but the predictor describes the width-{OFA_WIDTH} supernet",
                    space.base().width_mult()
                ),
            });
        }
        for &r in space.resolutions() {
            let probe = MbV3Subnet {
                arch: dsm_space::MbV3Arch::uniform(2, 3, 3)?,
                resolution: r,
            };
            ofa_features(&probe)?;
        }
        Ok(OfaEvaluator { predictor: self })
    }
}

/// An [`Evaluator`] answering with OFA's predicted accuracy in percent, at no cost.
#[derive(Debug)]
pub struct OfaEvaluator<'a> {
    predictor: &'a OfaPredictor,
}

impl Evaluator<MbV3Subnet> for OfaEvaluator<'_> {
    type Error = TrainError;

    fn evaluate(&mut self, subnet: &MbV3Subnet) -> Result<Evaluation, TrainError> {
        let acc = self.predictor.predict(std::slice::from_ref(subnet))?[0];
        Ok(Evaluation {
            score: 100.0 * acc,
            cost_s: 0.0,
        })
    }
}
