//! Classify one image: print the top-5 class indices and probabilities.
//!
//! ```text
//! cargo run --release --example infer -- --model dsm_nas --weights dsm-nas-ba5edf7c.pt --image cat.jpg
//! ```
//! The image goes through the ImageNet evaluation transform (shorter side 256, center crop
//! 224, mean/std) unless `--resize`/`--crop` say otherwise.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::activation::softmax;
use clap::Parser;
use dsm_nas::models::zoo::ModelArgs;
use dsm_nas::train::imagenet::{Transform, batch};
use dsm_nas::train::top_k;

#[derive(Parser)]
#[command(about = "Top-5 classes of one image")]
struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// The image (PNG or JPEG).
    #[arg(long)]
    image: PathBuf,
    /// Shorter side after resizing.
    #[arg(long, default_value_t = 256)]
    resize: u32,
    /// Center crop size.
    #[arg(long, default_value_t = 224)]
    crop: u32,
    /// How many classes to print.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    top: u64,
}

fn run() -> Result<()> {
    let args = Args::parse();
    let transform = Transform {
        resize: args.resize,
        crop: args.crop,
    };
    transform.check()?;
    let (model, dev) = args.model.load()?;
    let crop = args.crop as usize;
    model.check_input(crop, crop, &format!("--crop {crop}"))?;
    let x = batch(&[args.image.as_path()], args.resize, args.crop, &dev)?;
    let probs = softmax(model.forward(x), 1);
    let [_, classes] = probs.dims();
    let p: Vec<f32> = probs
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!("{}", args.image.display());
    for (rank, &c) in top_k(&p, classes, args.top as usize)[0].iter().enumerate() {
        println!("{:>2}. class {c:>4}  p = {:.4}", rank + 1, p[c]);
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
