//! Run any model on any weights: the stable command for checking a model against PyTorch.
//!
//! ```text
//! cargo run --release --example forward -- --model dsm_nas --weights dsm-nas-ba5edf7c.pt --input io.safetensors --output out.json
//! cargo run --release --example forward -- --model 'nb201:|nor_conv_3x3~0|+...' --weights w.safetensors --input io.safetensors --output out.json
//! cargo run --release --example forward -- --model 'mbv3:2,2,2,2,2:3,3,0,0,...' --width 1.0 --weights w.pt --input io.safetensors --output out.json
//! ```
//! `--input` is a safetensors file with a tensor named `input` (NCHW, float). The output is
//! `{"logits": [[...], ...], "argmax": [...]}`. Any bad argument or file exits with status 2.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use dsm_nas::models::StateDict;
use dsm_nas::models::zoo::ModelArgs;
use dsm_nas::space::output::OutputFile;
use serde::Serialize;

#[derive(Parser)]
#[command(about = "Forward pass of a model with PyTorch weights")]
struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// A safetensors file holding a tensor named `input` (NCHW).
    #[arg(long)]
    input: PathBuf,
    /// Where to write the JSON output (not an input; an existing file needs --force).
    #[arg(long)]
    output: PathBuf,
    /// Replace an existing --output file.
    #[arg(long)]
    force: bool,
}

#[derive(Serialize)]
struct Output {
    logits: Vec<Vec<f32>>,
    argmax: Vec<usize>,
}

fn run() -> Result<()> {
    let args = Args::parse();
    let mut inputs = vec![("--input", args.input.as_path())];
    inputs.extend(args.model.weights.as_deref().map(|w| ("--weights", w)));
    let output = OutputFile::check("--output", &args.output, args.force, &inputs)?;
    let (model, dev) = args.model.load()?;
    let io = StateDict::from_file(&args.input)?;
    let x = io
        .get("input")
        .with_context(|| format!("{} has no tensor named \"input\"", args.input.display()))?
        .to_image_batch(
            &format!("tensor \"input\" of {}", args.input.display()),
            &dev,
        )?;
    let [_, _, h, w] = x.dims();
    model.check_input(
        h,
        w,
        &format!("tensor \"input\" of {}", args.input.display()),
    )?;
    let logits = model.forward(x);
    let [b, k] = logits.dims();
    let flat: Vec<f32> = logits
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let rows: Vec<Vec<f32>> = flat.chunks(k).map(<[f32]>::to_vec).collect();
    let argmax = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(0, |best, (i, v)| if *v > r[best] { i } else { best })
        })
        .collect();
    debug_assert_eq!(rows.len(), b);
    let out = Output {
        logits: rows,
        argmax,
    };
    output.write(serde_json::to_string(&out)?.as_bytes())?;
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
