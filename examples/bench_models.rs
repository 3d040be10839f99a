//! Timing report of the model workloads that `cargo xtask bench-compare` compares with
//! PyTorch: one NAS-Bench-201 training step (ResNet-like cell, 10 classes, batch 64 of
//! 3 x 32 x 32: forward, backward, SGD Nesterov update) and `dsm_nas` inference at 224 x 224
//! (batch 1 and 16, evaluation mode, BatchNorm folded into the convolutions), and the
//! zero-cost proxies LogSynFlow + NASWOT of `--proxy-cells` fixed NAS-Bench-201 cells (3
//! initialisations each, a batch of 64 images of the vendored CIFAR-10 slice).
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release --example bench_models
//! cargo run --release --features wgpu --example bench_models -- --backend wgpu
//! ```
//! Prints one JSON object per workload: `{"workload", "batch", "threads", "backend",
//! "images_per_s", "ms_per_iter", "iters"}` (`cells_per_s` instead of `images_per_s` for
//! `nb201_proxies`, whose `ms_per_iter` is per cell). `--spec FILE` also writes the dsm_nas
//! block list (channels, kernels, strides, squeeze-excite, activations) and the proxies'
//! cells that the PyTorch side builds its models from, so both run the same networks.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::prelude::*;
use clap::Parser;
use dsm_nas::models::backend::Backend;
use dsm_nas::models::{MobileNetV3, Nb201Network};
use dsm_nas::space::{MbV3Arch, MbV3Space, Nb201Cell};
use dsm_nas::train::zero_cost::{ZcComputer, ZcConfig};
use dsm_nas::train::{Nb201Builder, TrainConfig, data};

/// The published dsm_nas subnet (width 1.2).
const DSM_NAS: &str =
    "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4";
/// The ResNet-like NAS-Bench-201 cell.
const RESNET: &str =
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";

#[derive(Parser)]
#[command(about = "Images/s of the model workloads (NB201 training step, dsm_nas inference)")]
struct Args {
    /// Burn backend: flex (default), ndarray, wgpu, tch or cuda.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Timed iterations per workload (after 3 untimed ones).
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Only these workloads (nb201_train_step, dsm_nas_infer, nb201_proxies).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "nb201_train_step,dsm_nas_infer,nb201_proxies",
        value_parser = ["nb201_train_step", "dsm_nas_infer", "nb201_proxies"]
    )]
    workloads: Vec<String>,
    /// Cells of the proxies workload (ordinals 7919 i + 13 mod 15625), timed after one
    /// untimed cell.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=15625))]
    proxy_cells: u64,
    /// Batch sizes of the dsm_nas inference workload.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    batches: Vec<usize>,
    /// Write the dsm_nas block list as JSON here (for the PyTorch side).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Leave the C allocator's defaults (by default the program calls
    /// `keep_freed_memory`, as the training examples do).
    #[arg(long)]
    allocator_defaults: bool,
}

fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Seconds per iteration of `f` over `iters` timed runs after 3 warm-up runs.
fn time(iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() / iters.max(1) as f64
}

/// One row: `secs` per iteration (per cell for the proxies) over `iters`.
fn report(args: &Args, kept: bool, workload: &str, batch: usize, secs: f64, iters: usize) {
    let mut row = serde_json::json!({
        "workload": workload,
        "batch": batch,
        "threads": threads(),
        "backend": args.backend,
        "ms_per_iter": secs * 1e3,
        "iters": iters,
        "keep_freed_memory": kept,
    });
    match workload {
        "nb201_proxies" => row["cells_per_s"] = (1.0 / secs).into(),
        _ => row["images_per_s"] = (batch as f64 / secs).into(),
    }
    println!("{row}");
}

fn run() -> Result<()> {
    let args = Args::parse();
    let kept = !args.allocator_defaults && dsm_nas::models::keep_freed_memory();
    let dev = args.backend.parse::<Backend>()?.device()?;
    let space = MbV3Space::new(1.2)?;
    let arch: MbV3Arch = DSM_NAS.parse()?;
    let cells: Vec<Nb201Cell> = (0..args.proxy_cells as usize)
        .filter_map(|i| Nb201Cell::from_ordinal((7919 * i + 13) % 15625))
        .collect();
    if let Some(path) = &args.spec {
        let spec = serde_json::json!({
            "proxy_cells": cells.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "arch": DSM_NAS,
            "stem": space.stem_channels(),
            "head": space.head_channels(),
            "classes": space.num_classes(),
            "blocks": space.blocks(&arch, 224)?,
        });
        dsm_nas::space::io::save(path, serde_json::to_string_pretty(&spec)?.as_bytes())
            .context("--spec")?;
    }
    if args.workloads.iter().any(|w| w == "nb201_train_step") {
        let cell: Nb201Cell = RESNET.parse()?;
        let ad = dev.clone().autodiff();
        let mut model = Nb201Network::init(&cell, 10, 0, &ad);
        let mut optim = TrainConfig::default().optimizer(); // the trainer's SGD
        let loss_fn = CrossEntropyLossConfig::new().init(&ad);
        let batch = 64;
        let x: Vec<f32> = (0..batch * 3 * 32 * 32)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let y: Vec<i64> = (0..batch as i64).map(|i| i % 10).collect();
        let secs = time(args.iters, || {
            let xb = Tensor::<4>::from_data(TensorData::new(x.clone(), [batch, 3, 32, 32]), &ad);
            let yb = Tensor::<1, Int>::from_data(TensorData::new(y.clone(), [batch]), &ad);
            let loss = loss_fn.forward(model.forward(xb), yb);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.1, model.clone(), grads);
            // Wait for the update (asynchronous backends).
            let _ = model
                .forward(Tensor::zeros([1, 3, 32, 32], &ad))
                .into_data();
        });
        report(&args, kept, "nb201_train_step", batch, secs, args.iters);
    }
    if args.workloads.iter().any(|w| w == "dsm_nas_infer") {
        // Inference as deployed: BatchNorm folded into the convolutions.
        let model = MobileNetV3::init(&arch, &space, 0, &dev)?.fold_batchnorm();
        for &batch in &args.batches {
            let x: Vec<f32> = (0..batch * 3 * 224 * 224)
                .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
                .collect();
            let secs = time(args.iters, || {
                let xb =
                    Tensor::<4>::from_data(TensorData::new(x.clone(), [batch, 3, 224, 224]), &dev);
                let _ = model.forward(xb).into_data();
            });
            report(&args, kept, "dsm_nas_infer", batch, secs, args.iters);
        }
    }
    if args.workloads.iter().any(|w| w == "nb201_proxies") {
        let config = ZcConfig::with_proxies("logsynflow,naswot")?; // 3 inits, batch 64
        let zc = ZcComputer::new(Nb201Builder, &data::cifar10_5k()?.train, config, dev)?;
        zc.compute(&cells[0])?;
        let t = Instant::now();
        for cell in &cells {
            zc.compute(cell)?;
        }
        let secs = t.elapsed().as_secs_f64() / cells.len() as f64;
        report(&args, kept, "nb201_proxies", 64, secs, cells.len());
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
