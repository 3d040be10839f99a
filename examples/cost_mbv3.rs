//! Exact MAdds and parameters of a MobileNetV3-like (Once-for-All) subnet.
//!
//! ```text
//! cargo run --release --example cost_mbv3 -- --legacy '3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4' --width 1.2
//! {"madds":586320560,"params":8939576,"madds_with_classifier":587856560}
//! ```
//! `madds` follows the reference code's counter (every convolution including the
//! squeeze-excite 1x1 convs, classifier excluded); the DSM-NAS paper prints 597 M for this
//! architecture, the reference counter gives 586.32 M. A bad string exits with status 2.
//!
//! With Once-for-All's predictor and latency tables (not shipped: fetch `ofa/acc_predictor.pth`
//! and `ofa/note10/` from `han-cai/files`), the predicted accuracy and latency too:
//! ```text
//! cargo run --release --example cost_mbv3 -- --legacy '3,3,3,4,4:...' --resolution 224 --ofa-predictor acc_predictor.pth --latency-table note10
//! {"madds":586320560,"params":8939576,"madds_with_classifier":587856560,"predicted_acc":83.42409133911133,"latency_ms":57.801997745689434}
//! ```

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use dsm_nas::bench::latency::LatencyTable;
use dsm_nas::space::{MbV3Arch, MbV3Space, MbV3Subnet};
use dsm_nas::train::ofa::{OFA_WIDTH, OfaPredictor};
use serde::Serialize;

#[derive(Parser)]
#[command(about = "MAdds and params of a MobileNetV3-like subnet")]
struct Args {
    /// Legacy architecture string `depths:ks:ratios` (5 depths, 20 kernel sizes, 20 ratios).
    #[arg(long)]
    legacy: String,
    /// Width multiplier.
    #[arg(long, default_value_t = 1.2)]
    width: f64,
    /// Input resolution (square).
    #[arg(long, default_value_t = 224)]
    resolution: u32,
    /// Number of classes of the classifier.
    #[arg(long, default_value_t = 1000)]
    classes: usize,
    /// Once-for-All's accuracy predictor (acc_predictor.pth, width 1.2): adds
    /// `predicted_acc` (percent).
    #[arg(long)]
    ofa_predictor: Option<PathBuf>,
    /// Per-layer latency tables (`<r>_lookup_table.yaml`, e.g. OFA's note10/): adds
    /// `latency_ms`.
    #[arg(long)]
    latency_table: Option<PathBuf>,
}

#[derive(Serialize)]
struct Output {
    madds: u64,
    params: u64,
    madds_with_classifier: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    predicted_acc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
}

fn run() -> Result<()> {
    let args = Args::parse();
    let arch: MbV3Arch = args.legacy.parse().context("bad --legacy")?;
    let space = MbV3Space::new(args.width)
        .context("bad --width")?
        .with_classes(args.classes)?;
    let cost = space
        .cost_at(&arch, args.resolution)
        .context("bad --resolution")?;
    let subnet = MbV3Subnet {
        arch,
        resolution: args.resolution,
    };
    let latency_ms = match &args.latency_table {
        Some(dir) => Some(LatencyTable::load_dir(dir)?.latency_ms(&space, &subnet)?),
        None => None,
    };
    let predicted_acc = match &args.ofa_predictor {
        Some(path) => {
            if args.width != OFA_WIDTH {
                bail!(
                    "--ofa-predictor describes the width-{OFA_WIDTH} supernet; got --width {}",
                    args.width
                );
            }
            let p = OfaPredictor::load(path, &burn::prelude::Device::flex())?;
            Some(100.0 * p.predict(&[subnet])?[0])
        }
        None => None,
    };
    let out = Output {
        madds: cost.madds,
        params: cost.params,
        madds_with_classifier: cost.madds_with_classifier,
        predicted_acc,
        latency_ms,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
