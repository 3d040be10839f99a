//! Draw a found architecture as SVG.
//!
//! ```text
//! cargo run --release --example draw_arch -- --nb201 '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|' --out cell.svg
//! cargo run --release --example draw_arch -- --legacy '3,3,3,4,4:5,5,7,0,...' --width 1.2 --out net.svg
//! cargo run --release --example draw_arch -- --from runs/x/results.json --out runs/x/drawn   # best cell of each method
//! ```
//! `--from` writes `best_<method>_<dataset>.svg` into `--out` (a folder; default: next to the
//! results file, where `search_nb201` already wrote them, so that needs `--force`): the trial
//! with the highest search signal of each method and dataset.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use dsm_nas::draw::{CellOptions, mbv3_subnet, nb201_cell};
use dsm_nas::protocol::Results;
use dsm_nas::protocol::nb201::best_cell_pictures;
use dsm_nas::space::output::OutputFile;
use dsm_nas::space::{MbV3Arch, MbV3Space, Nb201Cell};

#[derive(Parser)]
#[command(about = "Draw a NAS-Bench-201 cell or a MobileNetV3-like subnet as SVG")]
struct Args {
    /// A NAS-Bench-201 cell string.
    #[arg(long, conflicts_with_all = ["legacy", "from"])]
    nb201: Option<String>,
    /// A MobileNet legacy string `depths:ks:ratios`.
    #[arg(long, conflicts_with = "from")]
    legacy: Option<String>,
    /// A search_nb201 results.json: draw the best cell of each method and dataset.
    #[arg(long)]
    from: Option<PathBuf>,
    /// Width multiplier of the MobileNet.
    #[arg(long, default_value_t = 1.2)]
    width: f64,
    /// Input resolution of the MobileNet.
    #[arg(long, default_value_t = 224)]
    resolution: u32,
    /// Title of the picture.
    #[arg(long)]
    title: Option<String>,
    /// Leave out the NAS-Bench-201 macro skeleton.
    #[arg(long)]
    no_skeleton: bool,
    /// Output SVG file (with --from: output folder, default: next to results.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace an existing --out file (with --from: best_<method>_<dataset>.svg files
    /// already in the output folder).
    #[arg(long)]
    force: bool,
}

fn write(file: &OutputFile, svg: &str) -> Result<()> {
    file.write(svg.as_bytes())?;
    println!("wrote {}", file.path().display());
    Ok(())
}

fn run() -> Result<()> {
    let args = Args::parse();
    let opts = |title: Option<String>| CellOptions {
        skeleton: !args.no_skeleton,
        title,
    };
    if let Some(cell) = &args.nb201 {
        let cell: Nb201Cell = cell.parse().context("bad --nb201")?;
        let out = args.out.clone().context("--out FILE.svg is required")?;
        let out = OutputFile::check("--out", out, args.force, &[])?;
        return write(&out, &nb201_cell(&cell, &opts(args.title.clone())));
    }
    if let Some(legacy) = &args.legacy {
        let arch: MbV3Arch = legacy.parse().context("bad --legacy")?;
        let space = MbV3Space::new(args.width).context("bad --width")?;
        let out = args.out.clone().context("--out FILE.svg is required")?;
        let out = OutputFile::check("--out", out, args.force, &[])?;
        let title = args
            .title
            .clone()
            .unwrap_or_else(|| "MobileNetV3-like subnet".into());
        return write(
            &out,
            &mbv3_subnet(&arch, &space, args.resolution, &title).context("bad --resolution")?,
        );
    }
    let Some(from) = &args.from else {
        bail!("give one of --nb201, --legacy or --from")
    };
    let text =
        std::fs::read_to_string(from).with_context(|| format!("reading {}", from.display()))?;
    let results: Results<serde_json::Value> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a search_nb201 results.json", from.display()))?;
    let pictures = best_cell_pictures(&results, !args.no_skeleton)?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| from.parent().map(Path::to_path_buf).unwrap_or_default());
    // The search wrote these pictures too: never replace them silently.
    let files = (pictures.iter())
        .map(|(name, _)| OutputFile::check("--out", dir.join(name), args.force, &[]))
        .collect::<Result<Vec<_>, _>>()?;
    for (file, (_, svg)) in files.iter().zip(&pictures) {
        write(file, svg)?;
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
