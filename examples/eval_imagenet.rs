//! Evaluate a model on ImageNet's validation set, as the original project's
//! `python -m entry.eval /path/to/imagenet` does.
//!
//! ```text
//! cargo run --release --example eval_imagenet -- /path/to/imagenet --model dsm_nas --weights dsm-nas-ba5edf7c.pt
//! ```
//! Reads `ROOT/val/<class>/<image>` (the standard ImageFolder layout; classes sorted by name
//! give the label indices), resizes the shorter side to 256, center-crops 224, normalises with
//! the ImageNet mean/std, and prints top-1 / top-5 and images/s. The released weights
//! (`dsm-nas-ba5edf7c.pt`, `dsm-nas-plus-7cad288d.pt`) are the original project's GitHub
//! release assets; download them yourself (see the README).

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use dsm_nas::models::zoo::ModelArgs;
use dsm_nas::train::imagenet::{ImageFolder, Transform, evaluate};

#[derive(Parser)]
#[command(about = "Top-1 / top-5 of a model on an ImageFolder val/ split")]
struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// ImageNet root (the folder that holds val/).
    root: PathBuf,
    /// Batch size.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// Shorter side after resizing.
    #[arg(long, default_value_t = 256)]
    resize: u32,
    /// Center crop size.
    #[arg(long, default_value_t = 224)]
    crop: u32,
}

fn run() -> Result<()> {
    let args = Args::parse();
    let transform = Transform {
        resize: args.resize,
        crop: args.crop,
    };
    transform.check()?;
    let val = args.root.join("val");
    let folder = ImageFolder::open(&val)?;
    let (model, dev) = args.model.load()?;
    let crop = args.crop as usize;
    model.check_input(crop, crop, &format!("--crop {crop}"))?;
    let bar = indicatif::ProgressBar::new(folder.samples.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} images ({per_sec})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let report = evaluate(
        &folder,
        &|x| model.forward(x),
        args.batch as usize,
        transform,
        &dev,
        &mut |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    println!(
        "{}: {} images in {} classes: top-1 {:.2} %, top-5 {:.2} %, {:.1} images/s",
        args.model.model.as_deref().unwrap_or("the model"),
        report.images,
        folder.classes.len(),
        report.top1,
        report.top5,
        report.images_per_s
    );
    Ok(())
}

fn main() {
    // Every batch allocates and frees the same activations: keep them (see the docs).
    dsm_nas::models::keep_freed_memory();
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
