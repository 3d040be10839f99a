//! The timed model workloads that `bench_models`, `cargo xtask bench-compare` and the GPU pack
//! report, beside the same workloads in PyTorch (`scripts/bench_pytorch.py`): each returns
//! the seconds one iteration takes on a device, so any backend is measured the same way.
//!
//! - [`train_step`]: one NAS-Bench-201 training step (forward, backward, SGD Nesterov update
//!   of the trainer's optimiser) of a batch of `3 x 32 x 32` inputs, 10 classes;
//! - [`infer`]: a MobileNetV3 subnet's inference at 224 x 224, evaluation mode, BatchNorm
//!   folded into the convolutions (as deployed);
//! - [`proxies`]: LogSynFlow + NASWOT of NAS-Bench-201 cells, 3 initialisations, a batch of
//!   64 images (seconds per cell);
//! - [`epoch`]: one training epoch of a cell by the [`Trainer`] (data loading and
//!   augmentation included), seconds per epoch.
//!
//! ```
//! use burn::prelude::*;
//! use dsm_train::workloads::{RESNET, train_step};
//!
//! let secs = train_step(&RESNET.parse()?, 2, 1, &Device::flex())?;
//! assert!(secs > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Instant;

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use dsm_models::{MobileNetV3, Nb201Network};
use dsm_space::{MbV3Arch, MbV3Space, Nb201Cell};

use crate::data::ImageSet;
use crate::zero_cost::{ZcComputer, ZcConfig};
use crate::{Nb201Builder, TrainConfig, TrainError, Trainer};

/// The published dsm_nas subnet (width 1.2), the inference workload's network (the first of
/// [`PUBLISHED`](dsm_space::mbv3::PUBLISHED), where it is written).
pub const DSM_NAS: &str = dsm_space::mbv3::PUBLISHED[0].1;

/// The ResNet-like NAS-Bench-201 cell, the training workloads' network.
pub const RESNET: &str =
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";

/// The proxies workload's `n` cells: table ordinals `(7919 i + 13) mod 15625`, a fixed
/// spread over the space (the PyTorch side reads them from the spec).
pub fn proxy_cells(n: usize) -> Vec<Nb201Cell> {
    (0..n)
        .filter_map(|i| Nb201Cell::from_ordinal((7919 * i + 13) % dsm_space::nb201::NUM_CELLS))
        .collect()
}

/// Seconds per call of `f` over `iters` timed calls after 3 untimed ones.
pub fn time_iters(iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() / iters.max(1) as f64
}

/// A deterministic batch of `n` inputs of `shape` in [-1, 1).
fn inputs(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

/// Seconds per training step of `cell` on a batch of `batch` (iterations: `iters` timed
/// after 3 untimed). Refused for a batch of 0.
pub fn train_step(
    cell: &Nb201Cell,
    batch: usize,
    iters: usize,
    device: &Device,
) -> Result<f64, TrainError> {
    positive("batch", batch)?;
    let ad = device.clone().autodiff();
    let mut model = Nb201Network::init(cell, 10, 0, &ad);
    let mut optim = TrainConfig::default().optimizer(); // the trainer's SGD
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let x = inputs(batch * 3 * 32 * 32);
    let y: Vec<i64> = (0..batch as i64).map(|i| i % 10).collect();
    Ok(time_iters(iters, || {
        let xb = Tensor::<4>::from_data(TensorData::new(x.clone(), [batch, 3, 32, 32]), &ad);
        let yb = Tensor::<1, Int>::from_data(TensorData::new(y.clone(), [batch]), &ad);
        let loss = loss_fn.forward(model.forward(xb), yb);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.1, model.clone(), grads);
        // Wait for the update (asynchronous backends).
        let _ = model
            .forward(Tensor::zeros([1, 3, 32, 32], &ad))
            .into_data();
    }))
}

/// Seconds per inference of `arch` in `space` on a batch of `batch` at 224 x 224.
pub fn infer(
    arch: &MbV3Arch,
    space: &MbV3Space,
    batch: usize,
    iters: usize,
    device: &Device,
) -> Result<f64, TrainError> {
    positive("batch", batch)?;
    let model = MobileNetV3::init(arch, space, 0, device)?.fold_batchnorm();
    let x = inputs(batch * 3 * 224 * 224);
    Ok(time_iters(iters, || {
        let xb = Tensor::<4>::from_data(TensorData::new(x.clone(), [batch, 3, 224, 224]), device);
        let _ = model.forward(xb).into_data();
    }))
}

/// Seconds per cell of LogSynFlow + NASWOT (3 initialisations, a batch of 64 images of
/// `train`), over `cells` after one untimed cell.
pub fn proxies(cells: &[Nb201Cell], train: &ImageSet, device: &Device) -> Result<f64, TrainError> {
    positive("cells", cells.len())?;
    let config = ZcConfig::with_proxies("logsynflow,naswot")?;
    let zc = ZcComputer::new(Nb201Builder, train, config, device.clone())?;
    zc.compute(&cells[0])?;
    let t = Instant::now();
    for cell in cells {
        zc.compute(cell)?;
    }
    Ok(t.elapsed().as_secs_f64() / cells.len() as f64)
}

/// Seconds of one training epoch of `cell` on `train` at `batch` (the NAS-Bench-201 recipe,
/// crops padded by 4 and flips), tested on one batch of `test`.
pub fn epoch(
    cell: &Nb201Cell,
    train: &ImageSet,
    test: &ImageSet,
    batch: usize,
    device: &Device,
) -> Result<f64, TrainError> {
    positive("batch", batch)?;
    let config = TrainConfig {
        epochs: 1,
        batch_size: batch,
        ..TrainConfig::default()
    };
    let test = test.subset(&(0..batch.min(test.len())).collect::<Vec<_>>());
    let t = Instant::now();
    Trainer::new(&config, device).fit(&Nb201Builder, cell, train, &test, &mut |_| {})?;
    Ok(t.elapsed().as_secs_f64())
}

fn positive(what: &str, n: usize) -> Result<(), TrainError> {
    if n == 0 {
        return Err(TrainError::Input {
            what: what.into(),
            reason: "0; use at least 1".into(),
        });
    }
    Ok(())
}
