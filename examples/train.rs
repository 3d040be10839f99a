//! Train and evaluate a NAS-Bench-201 network with the benchmark's recipe.
//!
//! ```text
//! cargo run --release --example train -- --arch '|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|' --data builtin --epochs 10 --out runs/digits
//! cargo run --release --example train -- --arch '<cell>' --data cifar10-5k --epochs 30 --batch 128 --out runs/c10-5k
//! cargo run --release --example train -- --arch '<cell>' --data /data/cifar-10-batches-bin --epochs 200 --out runs/c10
//! ```
//! `--data builtin` is the vendored 8x8 handwritten digits (80 % train, 20 % held-out test;
//! crops padded by 1 pixel and no flips, since mirrored digits change meaning); `--data
//! cifar10-5k` the vendored real CIFAR-10 slice (4,000 training, 1,000 test images, checked
//! by size and sha256 on load; `crates/dsm-train/data/cifar10-5k/README.md`). A folder is
//! read as CIFAR-10 binaries (`data_batch_*.bin` + `test_batch.bin`), CIFAR-100 binaries
//! (`train.bin` + `test.bin`) or an ImageFolder with `train/` and `test/` (or `val/`).
//! ImageNet16-120 as NAS-Bench-201 ships it (pickled numpy batches) is recognised and refused
//! with a message saying what to convert it to.
//! Writes `DIR/config.json`, `DIR/metrics.jsonl` (one JSON object per epoch),
//! `DIR/checkpoint.bin` (after every epoch, atomically), the trained weights as
//! `DIR/model.safetensors` (PyTorch's `TinyNetwork` names, which `forward --weights` and
//! PyTorch's `load_state_dict` read), `DIR/arch.json` (the cell, classes, C and N: `forward`,
//! `infer` and `eval_imagenet` take `--model DIR`) and `DIR/model.bpk` (Burn's burnpack format), and
//! `DIR/curves.svg` (loss and accuracy per epoch), and prints, as
//! its last line, `{"test_acc": .., "test_top5": .., "epochs": .., "wall_s": .., ...}`.
//!
//! A killed run continues with `--resume` (same arguments: the folder's `settings.json`
//! names any flag that differs) and ends with the same weights as an uninterrupted one;
//! `--force` starts over in a folder that is not empty (`dsm_space::output`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use dsm_nas::protocol::ResumeArgs;
use dsm_nas::space::Nb201Cell;
use dsm_nas::space::output::{OutputFolder, Settings};
use dsm_nas::train::data::{TrainTest, load_train_test};
use dsm_nas::train::plot::curves_svg;
use dsm_nas::train::{Nb201Builder, RunFolder, TrainConfig, Trainer};
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
    /// `builtin` (the vendored digits), `cifar10-5k` (the vendored CIFAR-10 slice) or a data
    /// folder.
    #[arg(long)]
    data: String,
    /// Epochs.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: u64,
    /// Output folder.
    #[arg(long)]
    #[serde(skip)]
    out: PathBuf,
    #[command(flatten)]
    #[serde(skip)]
    output: ResumeArgs,
    /// Batch size.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// Initial learning rate (cosine-annealed to 0).
    #[arg(long, default_value_t = 0.1, value_parser = dsm_nas::args::learning_rate)]
    lr: f64,
    /// Crop padding (default: 4, or 1 for the builtin digits).
    #[arg(long)]
    crop_padding: Option<usize>,
    /// Turn off horizontal flips (always off for the builtin digits).
    #[arg(long)]
    no_flip: bool,
    /// Image size for ImageFolder data (the digits and CIFAR binaries keep theirs: another
    /// value is refused for them).
    #[arg(long, default_value_t = 32)]
    resolution: u32,
    /// Label smoothing of the loss (0 = none).
    #[arg(long, default_value_t = 0.0, value_parser = dsm_nas::args::fraction)]
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
    let settings = Settings::from_args("train", &args);
    let folder = OutputFolder::new("--out", &args.out)
        .resumable()
        .existing(args.output.existing())
        .input("--data", &args.data)
        .check(&settings)?;
    let folder = RunFolder::checked(folder);
    let data = load_train_test(&args.data, args.resolution, args.seed)?;
    data.check_resolution(args.resolution, 32)?;
    let TrainTest {
        train,
        test,
        builtin,
    } = data;
    let cfg = TrainConfig {
        epochs: args.epochs as usize,
        batch_size: args.batch as usize,
        learning_rate: args.lr,
        crop_padding: args.crop_padding.unwrap_or(if builtin { 1 } else { 4 }),
        flip: !(builtin || args.no_flip),
        seed: args.seed,
        label_smoothing: args.label_smoothing,
        warmup_epochs: args.warmup_epochs,
        ..TrainConfig::default()
    };
    cfg.check()?;
    let config = serde_json::json!({"args": &args, "train": &cfg, "train_images": train.len(), "test_images": test.len(), "classes": train.classes, "version": env!("CARGO_PKG_VERSION")});
    let mut log = folder.prepare(&config)?;
    let done = log.resumed().len();
    let bar = indicatif::ProgressBar::new(cfg.epochs as u64);
    bar.set_position(done as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] epoch {pos}/{len} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let trainer = Trainer::new(&cfg, &device).with_checkpoint(folder.checkpoint().path());
    let (model, history) = trainer.fit(&Nb201Builder, &cell, &train, &test, &mut |m| {
        bar.set_message(format!(
            "loss {:.3}, test {:.2} %",
            m.train_loss, m.test_acc
        ));
        bar.inc(1);
        log.record(m);
    })?;
    bar.finish_and_clear();
    log.finish()?;
    curves_svg(&folder.dir().join("curves.svg"), &history)?;
    folder.save_nb201(model, &cell, train.classes)?;
    let last = history.last().expect("at least one epoch");
    println!(
        "{}",
        serde_json::json!({"test_acc": last.test_acc, "test_top5": last.test_top5, "epochs": last.epoch, "wall_s": last.wall_s, "train_loss": last.train_loss, "train_images_per_s": last.train_images_per_s, "test_images_per_s": last.test_images_per_s, "train_images": train.len(), "test_images": test.len(), "arch": cell.to_string(), "seed": args.seed, "resumed_from_epoch": done})
    );
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
