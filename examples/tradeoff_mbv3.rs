//! The accuracy / efficiency trade-off of hardware-aware search in the Once-for-All
//! MobileNetV3 space: the same study as `search_mbv3 --ofa-predictor` at each of a list of
//! limits, DSM-NAS against the baselines, with the published `dsm_nas` / `dsm_nas_plus`
//! marked.
//!
//! ```text
//! cargo run --release --example tradeoff_mbv3 -- --ofa-predictor acc_predictor.pth --latency-table note10 --latency-limits 15,20,25,30,35,40 --iters 2000 --trials 3 --out runs/tradeoff-ms
//! cargo run --release --example tradeoff_mbv3 -- --ofa-predictor acc_predictor.pth --madds-limits 200,300,400,500,600 --out runs/tradeoff-madds
//! ```
//! Writes `DIR/tradeoff.json` (settings, versions, the references, and per limit every
//! trial and a per-method summary), `DIR/tradeoff.svg` (mean predicted accuracy against mean
//! latency or MAdds of the found subnets, per method) and `DIR/best_<limit>.svg` (the best
//! subnet found at each limit). OFA's files are not shipped: fetch `ofa/acc_predictor.pth`
//! and `ofa/note10/` from `han-cai/files`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use dsm_nas::models::backend::Backend;
use dsm_nas::protocol::hardware::{Limit, OfaArgs};
use dsm_nas::protocol::mbv3::Mbv3Config;
use dsm_nas::protocol::tradeoff::TradeoffConfig;
use dsm_nas::space::output::{Existing, OutputFolder, Settings};
use dsm_nas::train::ofa::OfaPredictor;
use serde::Serialize;

#[derive(Parser, Serialize)]
#[command(about = "Predicted accuracy against latency or MAdds over a list of limits")]
struct Args {
    /// Burn backend: flex (default), ndarray, wgpu, tch or cuda (the last four need the
    /// cargo feature of the same name).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Once-for-All's published predictor (acc_predictor.pth, width 1.2).
    #[arg(long)]
    ofa_predictor: PathBuf,
    /// Latency limits in ms, comma-separated, ascending (needs --latency-table).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "latency_table",
        conflicts_with = "madds_limits",
        required_unless_present = "madds_limits"
    )]
    latency_limits: Vec<f64>,
    /// MAdds limits in millions at each subnet's own resolution, comma-separated, ascending.
    #[arg(long, value_delimiter = ',')]
    madds_limits: Vec<f64>,
    #[command(flatten)]
    ofa: OfaArgs,
    /// Evaluations per search (every method the same), free initial ones included.
    #[arg(long, default_value_t = 2000)]
    iters: usize,
    /// DSM-NAS's number of candidate subspaces.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// Seed of the first trial.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long)]
    #[serde(skip)]
    out: PathBuf,
    /// Replace the results in --out (a folder that is not empty is refused without it).
    #[arg(long)]
    #[serde(skip)]
    force: bool,
}

fn run() -> Result<()> {
    let args = Args::parse();
    let limits: Vec<Limit> = if args.latency_limits.is_empty() {
        let m = args.madds_limits.iter();
        m.map(|&millions| Limit::Madds { millions }).collect()
    } else {
        let l = args.latency_limits.iter();
        l.map(|&ms| Limit::Latency { ms }).collect()
    };
    let search = Mbv3Config {
        iters: args.iters,
        k: args.k,
        seed: args.seed,
        ..Mbv3Config::default()
    };
    let cfg = TradeoffConfig {
        study: args.ofa.config(limits[0], &search),
        limits,
    };
    // Every setting is checked before any work starts or any file is written.
    let sweep = cfg.check(args.ofa.latency()?.as_ref())?;
    let dev = args.backend.parse::<Backend>()?.device()?;
    let predictor = OfaPredictor::load(&args.ofa_predictor, &dev)?;
    let mut eval = predictor.evaluator(sweep.studies()[0].space())?;
    let out = OutputFolder::new("--out", &args.out)
        .existing(Existing::from_flags(args.force, false))
        .check(&Settings::from_args("tradeoff_mbv3", &args))?;
    let n = cfg.limits.len() * cfg.study.trials * cfg.study.methods.len();
    let bar = indicatif::ProgressBar::new(n as u64);
    let points = sweep.run(&mut eval, |limit, t| {
        bar.inc(1);
        bar.set_message(format!(
            "{} {}: {:.2} %",
            limit.label(),
            t.method,
            t.predicted_acc
        ));
    })?;
    bar.finish_and_clear();
    out.create()?;
    sweep.write(&args.out, &points, &args, &mut eval)?;
    for p in &points {
        for s in &p.summary {
            println!("{}", serde_json::json!({"limit": p.limit, "summary": s}));
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
