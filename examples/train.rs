//! Train and evaluate a NAS-Bench-201 network with the benchmark's recipe.
//!
//! ```text
//! cargo run --release --example train -- --arch '|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|' --data builtin --epochs 10 --out runs/digits
//! cargo run --release --example train -- --arch '<cell>' --data /data/cifar-10-batches-bin --epochs 200 --out runs/c10
//! ```
//! `--data builtin` is the vendored 8x8 handwritten digits (80 % train, 20 % held-out test;
//! crops padded by 1 pixel and no flips, since mirrored digits change meaning). A folder is
//! read as CIFAR-10 binaries (`data_batch_*.bin` + `test_batch.bin`), CIFAR-100 binaries
//! (`train.bin` + `test.bin`) or an ImageFolder with `train/` and `test/` (or `val/`).
//! ImageNet16-120 as NAS-Bench-201 ships it (pickled numpy batches) is recognised and refused
//! with a message saying what to convert it to.
//! Writes `DIR/config.json`, `DIR/metrics.jsonl` (one JSON object per epoch),
//! `DIR/checkpoint.bin` (after every epoch, atomically), `DIR/model.bpk` (the trained weights,
//! Burn's burnpack format) and `DIR/curves.svg` (loss and accuracy per epoch), and prints, as
//! its last line, `{"test_acc": .., "test_top5": .., "epochs": .., "wall_s": .., ...}`.
//!
//! A killed run continues with `--resume` (same arguments) and ends with the same weights as
//! an uninterrupted one; `--force` starts over in a folder that holds a run.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::Parser;
use dsm_nas::models::data::{TrainTest, load_train_test};
use dsm_nas::models::train::{TrainCheckpoint, TrainConfig, train_nb201_resumable};
use dsm_nas::space::Nb201Cell;
use serde::Serialize;

#[derive(Parser, Serialize)]
#[command(about = "Train a NAS-Bench-201 network")]
struct Args {
    /// Burn backend: flex (default), ndarray, wgpu, tch or cuda (the last four need the
    /// cargo feature of the same name).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// The cell.
    #[arg(long)]
    arch: String,
    /// `builtin` (the vendored digits) or a data folder.
    #[arg(long)]
    data: String,
    /// Epochs.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Output folder.
    #[arg(long)]
    #[serde(skip)]
    out: PathBuf,
    /// Start over in an --out folder that already holds a run (its files are replaced).
    #[arg(long, conflicts_with = "resume")]
    #[serde(skip)]
    force: bool,
    /// Continue the run in --out from its last checkpoint (starts when there is none).
    #[arg(long)]
    #[serde(skip)]
    resume: bool,
    /// Batch size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Initial learning rate (cosine-annealed to 0).
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// Crop padding (default: 4, or 1 for the builtin digits).
    #[arg(long)]
    crop_padding: Option<usize>,
    /// Turn off horizontal flips (always off for the builtin digits).
    #[arg(long)]
    no_flip: bool,
    /// Image size for ImageFolder data.
    #[arg(long, default_value_t = 32)]
    resolution: u32,
    /// Label smoothing of the loss (0 = none).
    #[arg(long, default_value_t = 0.0)]
    label_smoothing: f64,
    /// Epochs of linear learning-rate warm-up before the cosine schedule.
    #[arg(long, default_value_t = 0)]
    warmup_epochs: usize,
    /// Seed of the weights, the batch order, the augmentation and the builtin split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn run() -> Result<()> {
    let args = Args::parse();
    let cell: Nb201Cell = args.arch.parse().context("bad --arch")?;
    let device = args
        .backend
        .parse::<dsm_nas::models::backend::Backend>()?
        .device()?;
    let metrics_path = args.out.join("metrics.jsonl");
    let checkpoint = TrainCheckpoint::new(args.out.join("checkpoint.bin"));
    if (metrics_path.exists() || checkpoint.path().exists()) && !args.force && !args.resume {
        bail!(
            "{} already holds a training run; pass --resume to continue it, --force to start over, or choose another --out",
            args.out.display()
        );
    }
    let TrainTest {
        train,
        test,
        builtin,
    } = load_train_test(&args.data, args.resolution, args.seed)?;
    let cfg = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch,
        learning_rate: args.lr,
        crop_padding: args.crop_padding.unwrap_or(if builtin { 1 } else { 4 }),
        flip: !(builtin || args.no_flip),
        seed: args.seed,
        label_smoothing: args.label_smoothing,
        warmup_epochs: args.warmup_epochs,
        ..TrainConfig::default()
    };
    cfg.check()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let config = serde_json::json!({"args": &args, "train": &cfg, "train_images": train.len(), "test_images": test.len(), "classes": train.classes, "version": env!("CARGO_PKG_VERSION")});
    std::fs::write(
        args.out.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    if args.force && checkpoint.path().exists() {
        std::fs::remove_file(checkpoint.path())
            .with_context(|| format!("removing {}", checkpoint.path().display()))?;
    }
    // The log restarts from what the checkpoint holds: epochs logged after it are redone.
    let done = checkpoint.history()?.unwrap_or_default();
    let mut log = std::fs::File::create(&metrics_path)
        .with_context(|| format!("creating {}", metrics_path.display()))?;
    for m in &done {
        writeln!(log, "{}", serde_json::to_string(m)?)?;
    }
    let bar = indicatif::ProgressBar::new(cfg.epochs as u64);
    bar.set_position(done.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] epoch {pos}/{len} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut write_err = None;
    let (model, history) =
        train_nb201_resumable(&cell, &train, &test, &cfg, &device, &checkpoint, &mut |m| {
            bar.set_message(format!(
                "loss {:.3}, test {:.2} %",
                m.train_loss, m.test_acc
            ));
            bar.inc(1);
            if let Err(e) = serde_json::to_string(m)
                .map_err(anyhow::Error::from)
                .and_then(|s| writeln!(log, "{s}").map_err(Into::into))
            {
                write_err.get_or_insert(e);
            }
        })?;
    bar.finish_and_clear();
    if let Some(e) = write_err {
        return Err(e.context(format!("writing {}", metrics_path.display())));
    }
    curves(&args.out.join("curves.svg"), &history)?;
    let weights = args.out.join("model.bpk");
    let bytes = model
        .into_record()
        .into_bytes()
        .map_err(|e| anyhow::anyhow!("serialising the weights: {e:?}"))?;
    dsm_nas::space::io::write_atomic(&weights, &bytes)
        .with_context(|| format!("saving {}", weights.display()))?;
    let last = history.last().expect("at least one epoch");
    println!(
        "{}",
        serde_json::json!({"test_acc": last.test_acc, "test_top5": last.test_top5, "epochs": last.epoch, "wall_s": last.wall_s, "train_loss": last.train_loss, "train_images_per_s": last.train_images_per_s, "test_images_per_s": last.test_images_per_s, "train_images": train.len(), "test_images": test.len(), "arch": cell.to_string(), "seed": args.seed, "resumed_from_epoch": done.len()})
    );
    Ok(())
}

/// Training loss and train/test accuracy per epoch, as SVG.
fn curves(path: &Path, history: &[dsm_nas::models::train::EpochMetrics]) -> Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 360)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(450);
    let n = history.len() as f64;
    let max_loss = history.iter().map(|m| m.train_loss).fold(0.0, f64::max) * 1.05;
    let mut loss = ChartBuilder::on(&left)
        .caption("training loss", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(1.0..n.max(2.0), 0.0..max_loss.max(1e-6))?;
    loss.configure_mesh()
        .x_desc("epoch")
        .x_labels(history.len().clamp(2, 11))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    loss.draw_series(LineSeries::new(
        history.iter().map(|m| (m.epoch as f64, m.train_loss)),
        RED.stroke_width(2),
    ))?;
    let mut acc = ChartBuilder::on(&right)
        .caption("accuracy (%)", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(1.0..n.max(2.0), 0.0..100.0)?;
    acc.configure_mesh()
        .x_desc("epoch")
        .x_labels(history.len().clamp(2, 11))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    acc.draw_series(LineSeries::new(
        history.iter().map(|m| (m.epoch as f64, m.train_acc)),
        BLUE.stroke_width(2),
    ))?
    .label("train (augmented)")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    acc.draw_series(LineSeries::new(
        history.iter().map(|m| (m.epoch as f64, m.test_acc)),
        GREEN.stroke_width(2),
    ))?
    .label("test")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREEN.stroke_width(2)));
    acc.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn main() {
    // Training allocates and frees the same buffers every step: keep them (see the docs).
    dsm_nas::models::keep_freed_memory();
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
