//! Timing report of the model workloads that `cargo xtask bench-compare` compares with
//! PyTorch (`dsm_train::workloads`): one NAS-Bench-201 training step (ResNet-like cell, 10
//! classes, `--train-batches` of 3 x 32 x 32: forward, backward, SGD Nesterov update),
//! `dsm_nas` inference at 224 x 224 (`--batches`, evaluation mode, BatchNorm folded), the
//! zero-cost proxies LogSynFlow + NASWOT of `--proxy-cells` fixed NAS-Bench-201 cells (3
//! initialisations each, a batch of 64 images of the vendored CIFAR-10 slice) and, when
//! asked, one training epoch of the ResNet-like cell on the slice's 4,000 training images.
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release --example bench_models
//! cargo run --release --features wgpu --example bench_models -- --backend wgpu
//! ```
//! Prints one JSON object per workload: `{"workload", "batch", "threads", "backend",
//! "images_per_s", "ms_per_iter", "iters"}` (`cells_per_s` instead of `images_per_s` for
//! `nb201_proxies`, whose `ms_per_iter` is per cell). `--spec FILE` also writes the dsm_nas
//! block list (channels, kernels, strides, squeeze-excite, activations) and the proxies'
//! cells that the PyTorch side builds its models from, so both run the same networks
//! (`--spec-only`: write it and stop).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use dsm_nas::models::backend::Backend;
use dsm_nas::space::{MbV3Arch, MbV3Space, Nb201Cell};
use dsm_nas::train::data;
use dsm_nas::train::workloads::{self, DSM_NAS, RESNET};

const WORKLOADS: [&str; 4] = [
    "nb201_train_step",
    "dsm_nas_infer",
    "nb201_proxies",
    "nb201_epoch",
];

#[derive(Parser)]
#[command(about = "Images/s of the model workloads (NB201 training, dsm_nas inference, proxies)")]
struct Args {
    /// Burn backend: flex (default), ndarray, wgpu, tch or cuda.
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Timed iterations per workload (after 3 untimed ones).
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Only these workloads (nb201_train_step, dsm_nas_infer, nb201_proxies, nb201_epoch).
    #[arg(long, value_delimiter = ',', value_parser = WORKLOADS,
        default_value = "nb201_train_step,dsm_nas_infer,nb201_proxies")]
    workloads: Vec<String>,
    /// Cells of the proxies workload (ordinals 7919 i + 13 mod 15625), timed after one
    /// untimed cell.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=15625))]
    proxy_cells: u64,
    /// Batch sizes of the NB201 training step.
    #[arg(long, value_delimiter = ',', default_value = "64", value_parser = clap::value_parser!(u64).range(1..=4096))]
    train_batches: Vec<u64>,
    /// Batch sizes of the dsm_nas inference workload.
    #[arg(long, value_delimiter = ',', default_value = "1,16", value_parser = clap::value_parser!(u64).range(1..=1024))]
    batches: Vec<u64>,
    /// Training images of the epoch workload (the first N of the slice's 4,000).
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(1..=4000))]
    epoch_images: u64,
    /// Write the dsm_nas block list and the proxies' cells as JSON here (for the PyTorch side).
    #[arg(long)]
    spec: Option<PathBuf>,
    /// Replace an existing --spec file.
    #[arg(long, requires = "spec")]
    force: bool,
    /// Write --spec and run nothing.
    #[arg(long, requires = "spec")]
    spec_only: bool,
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

/// One row: `secs` per iteration of `per_iter` images (cells for the proxies) over `iters`.
fn report(
    args: &Args,
    kept: bool,
    (workload, batch): (&str, u64),
    secs: f64,
    per_iter: usize,
    iters: usize,
) {
    let mut row = serde_json::json!({
        "workload": workload,
        "batch": batch,
        "threads": threads(),
        "backend": args.backend,
        "ms_per_iter": secs * 1e3,
        "iters": iters,
        "keep_freed_memory": kept,
    });
    let unit = if workload == "nb201_proxies" {
        "cells_per_s"
    } else {
        "images_per_s"
    };
    row[unit] = (per_iter as f64 / secs).into();
    println!("{row}");
}

fn run() -> Result<()> {
    let args = Args::parse();
    let space = MbV3Space::new(1.2)?;
    let arch: MbV3Arch = DSM_NAS.parse()?;
    let cells = workloads::proxy_cells(args.proxy_cells as usize);
    dsm_nas::args::unique("--batches", &args.batches)?;
    dsm_nas::args::unique("--train-batches", &args.train_batches)?;
    let spec_file = (args.spec.as_ref())
        .map(|p| dsm_nas::space::output::OutputFile::check("--spec", p, args.force, &[]))
        .transpose()?;
    if let Some(file) = &spec_file {
        let spec = serde_json::json!({
            "proxy_cells": cells.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "arch": DSM_NAS,
            "stem": space.stem_channels(),
            "head": space.head_channels(),
            "classes": space.num_classes(),
            "blocks": space.blocks(&arch, 224)?,
        });
        file.write(serde_json::to_string_pretty(&spec)?.as_bytes())?;
        if args.spec_only {
            return Ok(());
        }
    }
    let kept = !args.allocator_defaults && dsm_nas::models::keep_freed_memory();
    let dev = args.backend.parse::<Backend>()?.device()?;
    let cell: Nb201Cell = RESNET.parse()?;
    let has = |w: &str| args.workloads.iter().any(|x| x == w);
    if has("nb201_train_step") {
        for &batch in &args.train_batches {
            let secs = workloads::train_step(&cell, batch as usize, args.iters, &dev)?;
            report(
                &args,
                kept,
                ("nb201_train_step", batch),
                secs,
                batch as usize,
                args.iters,
            );
        }
    }
    if has("dsm_nas_infer") {
        for &batch in &args.batches {
            let secs = workloads::infer(&arch, &space, batch as usize, args.iters, &dev)?;
            report(
                &args,
                kept,
                ("dsm_nas_infer", batch),
                secs,
                batch as usize,
                args.iters,
            );
        }
    }
    let slice = || data::cifar10_5k().context("the vendored CIFAR-10 slice");
    if has("nb201_proxies") {
        let secs = workloads::proxies(&cells, &slice()?.train, &dev)?;
        report(&args, kept, ("nb201_proxies", 64), secs, 1, cells.len());
    }
    if has("nb201_epoch") {
        let d = slice()?;
        let train = d
            .train
            .subset(&(0..args.epoch_images as usize).collect::<Vec<_>>());
        let secs = workloads::epoch(&cell, &train, &d.test, 64, &dev)?;
        report(&args, kept, ("nb201_epoch", 64), secs, train.len(), 1);
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
