//! Draw a found architecture as SVG.
//!
//! ```text
//! cargo run --release --example draw_arch -- --nb201 '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|' --out cell.svg
//! cargo run --release --example draw_arch -- --legacy '3,3,3,4,4:5,5,7,0,...' --width 1.2 --out net.svg
//! cargo run --release --example draw_arch -- --from runs/x/results.json   # best cell of each method
//! ```
//! `--from` writes `best_<method>_<dataset>.svg` next to the results file (or into `--out` if
//! given as a folder): the trial with the highest search signal of each method and dataset.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use dsm_nas::draw::{CellOptions, mbv3_subnet, nb201_cell};
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
}

fn write(path: &Path, svg: &str) -> Result<()> {
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
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
        return write(&out, &nb201_cell(&cell, &opts(args.title.clone())));
    }
    if let Some(legacy) = &args.legacy {
        let arch: MbV3Arch = legacy.parse().context("bad --legacy")?;
        let space = MbV3Space::new(args.width).context("bad --width")?;
        let out = args.out.clone().context("--out FILE.svg is required")?;
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
    let results: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", from.display()))?;
    let trials = results["trials"]
        .as_array()
        .with_context(|| format!("{} has no \"trials\" array", from.display()))?;
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| from.parent().map(Path::to_path_buf).unwrap_or_default());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Best trial (by signal) of each (method, dataset), in first-seen order.
    let mut best: Vec<(String, String, &serde_json::Value)> = Vec::new();
    for t in trials {
        let (Some(m), Some(d), Some(sig)) = (
            t["method"].as_str(),
            t["dataset"].as_str(),
            t["signal_acc"].as_f64(),
        ) else {
            bail!(
                "{}: a trial lacks method, dataset or signal_acc",
                from.display()
            );
        };
        match best.iter_mut().find(|(bm, bd, _)| bm == m && bd == d) {
            Some(entry) => {
                if sig > entry.2["signal_acc"].as_f64().unwrap_or(f64::MIN) {
                    entry.2 = t;
                }
            }
            None => best.push((m.to_string(), d.to_string(), t)),
        }
    }
    for (method, dataset, t) in best {
        let cell: Nb201Cell = t["best_arch"]
            .as_str()
            .unwrap_or_default()
            .parse()
            .with_context(|| format!("{}: bad best_arch", from.display()))?;
        let title = format!(
            "{method} on {dataset}: best of {} trials (signal {:.2}, test {:.2})",
            trials
                .iter()
                .filter(|x| x["method"] == method.as_str() && x["dataset"] == dataset.as_str())
                .count(),
            t["signal_acc"].as_f64().unwrap_or(f64::NAN),
            t["test_acc"].as_f64().unwrap_or(f64::NAN)
        );
        write(
            &dir.join(format!("best_{method}_{dataset}.svg")),
            &nb201_cell(&cell, &opts(Some(title))),
        )?;
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
