//! Top-k evaluation: one accumulator ([`TopK`]) behind the evaluation of a normalised
//! [`ImageSet`] ([`evaluate_set`]) and of an ImageFolder ([`crate::imagenet::evaluate`]).

use std::time::Instant;

use burn::prelude::*;
use dsm_models::{MobileNetV3, Nb201Network};

use crate::TrainError;
use crate::data::ImageSet;

/// Indices of the `k` largest values of each row, best first (ties: lower index first).
pub fn top_k(logits: &[f32], classes: usize, k: usize) -> Vec<Vec<usize>> {
    logits
        .chunks(classes.max(1))
        .map(|row| {
            let mut idx: Vec<usize> = (0..row.len()).collect();
            idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            idx.truncate(k);
            idx
        })
        .collect()
}

/// Top-1 / top-5 accuracy and throughput of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalReport {
    /// Images evaluated.
    pub images: usize,
    /// Top-1 accuracy (%).
    pub top1: f64,
    /// Top-5 accuracy (%).
    pub top5: f64,
    /// Images per second (preprocessing included where there is any).
    pub images_per_s: f64,
}

/// Counts top-1 and top-5 hits batch by batch; non-finite logits are an error naming the
/// image, not a silently wrong accuracy.
///
/// ```
/// use burn::prelude::*;
/// let mut acc = dsm_train::TopK::new();
/// let logits = Tensor::<2>::from_data([[0.1f32, 0.9, 0.0], [0.8, 0.1, 0.1]], &Device::flex());
/// acc.add(logits, &[1, 2], |i| format!("image {i}"))?;
/// let r = acc.report();
/// assert_eq!((r.images, r.top1, r.top5), (2, 50.0, 100.0));
/// # Ok::<(), dsm_train::TrainError>(())
/// ```
#[derive(Debug, Clone)]
pub struct TopK {
    top1: usize,
    top5: usize,
    images: usize,
    start: Instant,
}

impl Default for TopK {
    fn default() -> Self {
        Self::new()
    }
}

impl TopK {
    /// An empty count; the throughput is measured from now.
    pub fn new() -> Self {
        Self {
            top1: 0,
            top5: 0,
            images: 0,
            start: Instant::now(),
        }
    }

    /// Adds a batch of `logits` `[n, classes]` with their `labels`; `name(i)` names the
    /// batch's image `i` in the error when its logits are not finite.
    pub fn add(
        &mut self,
        logits: Tensor<2>,
        labels: &[usize],
        name: impl Fn(usize) -> String,
    ) -> Result<(), TrainError> {
        let [_, classes] = logits.dims();
        let values = logits
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| TrainError::Input {
                what: "logits".into(),
                reason: format!("{e:?}"),
            })?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::Input {
                what: format!("logits of {}", name(i / classes.max(1))),
                reason: "not finite (the network diverged)".into(),
            });
        }
        for (top, label) in top_k(&values, classes, 5).iter().zip(labels) {
            self.top1 += usize::from(top.first() == Some(label));
            self.top5 += usize::from(top.contains(label));
        }
        self.images += labels.len();
        Ok(())
    }

    /// The accuracies so far and the throughput since [`TopK::new`].
    pub fn report(&self) -> EvalReport {
        let total = self.images.max(1) as f64;
        EvalReport {
            images: self.images,
            top1: 100.0 * self.top1 as f64 / total,
            top5: 100.0 * self.top5 as f64 / total,
            images_per_s: self.images as f64 / self.start.elapsed().as_secs_f64().max(1e-9),
        }
    }
}

/// A network that maps images `[n, 3, h, w]` to logits `[n, classes]`: what the trainer
/// trains and evaluates.
pub trait Classifier: burn::module::Module + Clone {
    /// The logits of a batch.
    fn logits(&self, x: Tensor<4>) -> Tensor<2>;
}

impl Classifier for Nb201Network {
    fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward(x)
    }
}

impl Classifier for MobileNetV3 {
    fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward(x)
    }
}

/// Top-1 / top-5 accuracy (%) and throughput of `model` on a normalised set, in batches of
/// `batch` (at least 1).
pub fn evaluate_set<M: Classifier>(
    model: &M,
    set: &ImageSet,
    batch: usize,
    device: &Device,
) -> Result<EvalReport, TrainError> {
    let [c, h, w] = set.shape;
    let n = c * h * w;
    let batch = batch.max(1);
    let mut acc = TopK::new();
    for (b, labels) in set.labels.chunks(batch).enumerate() {
        let first = b * batch;
        let x = Tensor::<4>::from_data(
            TensorData::new(
                set.pixels[first * n..(first + labels.len()) * n].to_vec(),
                [labels.len(), c, h, w],
            ),
            device,
        );
        acc.add(model.logits(x), labels, |i| {
            format!("test image {}", first + i)
        })?;
    }
    Ok(acc.report())
}
