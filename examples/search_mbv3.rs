//! DSM-NAS over the Once-for-All MobileNetV3 space under a MAdds limit (default 600 M at
//! 224 x 224, the paper's setting), scored by an accuracy predictor or by live training.
//!
//! ```text
//! # (a) train the predictor (MLP, 3 layers, 128 hidden, dropout) from your measurements,
//! #     save it, and search with it:
//! cargo run --release --example search_mbv3 -- --predictor-data pairs.json --out runs/mbv3
//! # ... reuse the saved predictor:
//! cargo run --release --example search_mbv3 -- --predictor runs/mbv3/predictor.bin --out runs/mbv3b
//! # (b) live training on your ImageFolder (train/ and val/) at a small resolution:
//! cargo run --release --example search_mbv3 -- --live /data/imagenette --resolution 64 --epochs 1 --iters 20 --out runs/live
//! # (c) Once-for-All's published predictor and Note10 latency tables (not shipped: fetch
//! #     ofa/acc_predictor.pth and ofa/note10/ from han-cai/files), the resolution searched
//! #     too, DSM-NAS against OFA's evolution, REA and random search, 10 seeds:
//! cargo run --release --example search_mbv3 -- --ofa-predictor acc_predictor.pth --latency-table note10 --latency-limit 25 --methods dsm-nas,ofa-evolution,rea,random --iters 2000 --trials 10 --seed 0 --out runs/ofa25
//! ```
//! In (c), `--iters` counts every evaluation (free initial ones included; each method gets
//! as many), `--madds-limit` counts MAdds at each subnet's own resolution, and
//! `DIR/results.json` lists `"trials": [{"method", "seed", "best_arch", "resolution",
//! "predicted_acc" (%), "latency_ms", "madds", "queries"}]` with a per-method `"summary"`
//! and the published models as `"references"`.
//! `pairs.json` is a JSON array of `{"arch": "<legacy depths:ks:ratios string>", "accuracy": 77.1}`.
//!
//! In (a) and (b) every evaluation is kept in `DIR/search.json` as it is made: a killed search
//! continues with `--resume` (same arguments; another setting is refused, named), evaluating
//! only what the log lacks, to the same files. `--force` replaces a run.
//!
//! Writes `DIR/results.json` (configuration, seed, versions, the answer, every evaluation),
//! `DIR/pareto.json` and `DIR/pareto.svg` (the accuracy / MAdds Pareto front of everything
//! evaluated), `DIR/best.svg` (the found subnet), and prints as its last line
//! `{"arch": .., "madds": .., "params": .., "score": .., ...}`. MAdds are counted at 224 x 224
//! with the reference's convention (`cost_mbv3`).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;
use dsm_nas::models::backend::Backend;
use dsm_nas::protocol::ResumeArgs;
use dsm_nas::protocol::hardware::{Limit, OfaArgs};
use dsm_nas::protocol::mbv3::Mbv3Config;
use dsm_nas::space::output::{OutputFolder, Settings};
use dsm_nas::train::data::train_and_validation;
use dsm_nas::train::ofa::OfaPredictor;
use dsm_nas::train::predictor::{AccuracyPredictor, PredictorConfig, read_pairs};
use dsm_nas::train::{MbV3LiveEvaluator, TrainConfig};
use serde::Serialize;

#[derive(Parser, Serialize)]
#[command(about = "DSM-NAS over the MobileNetV3 space under a MAdds limit")]
struct Args {
    /// Burn backend: flex (default), ndarray, wgpu, tch or cuda (the last four need the
    /// cargo feature of the same name).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// Train the accuracy predictor from this JSON file of {"arch", "accuracy"} pairs.
    #[arg(long, conflicts_with_all = ["predictor", "live"])]
    predictor_data: Option<PathBuf>,
    /// Use a predictor saved by an earlier run (DIR/predictor.bin).
    #[arg(long, conflicts_with = "live")]
    predictor: Option<PathBuf>,
    /// Score subnets by training them on this ImageFolder (train/ and val/ or test/).
    #[arg(long)]
    live: Option<PathBuf>,
    /// Image size of live training.
    #[arg(long, default_value_t = 64, requires = "live")]
    resolution: u32,
    /// Training epochs per subnet in live mode.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..), requires = "live")]
    epochs: u64,
    /// Epochs of predictor training.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..), requires = "predictor_data")]
    predictor_epochs: u64,
    /// Score subnets with Once-for-All's published predictor (acc_predictor.pth, width 1.2)
    /// and compare --methods over --trials seeds, the resolution searched too.
    #[arg(long, conflicts_with_all = ["predictor_data", "predictor", "live"])]
    ofa_predictor: Option<PathBuf>,
    /// Latency limit in ms (instead of --madds-limit; needs --latency-table).
    #[arg(long, requires = "latency_table", conflicts_with = "madds_limit")]
    latency_limit: Option<f64>,
    #[command(flatten)]
    ofa: OfaArgs,
    #[command(flatten)]
    #[serde(flatten)]
    search: Mbv3Config,
    /// Output folder.
    #[arg(long)]
    #[serde(skip)]
    out: PathBuf,
    #[command(flatten)]
    #[serde(skip)]
    output: ResumeArgs,
}

fn run() -> Result<()> {
    let args = Args::parse();
    if let Some(path) = &args.ofa_predictor {
        return run_ofa(&args, path);
    }
    // Every setting is checked before any work starts or any file is written.
    let search = args.search.check()?;
    let space = *search.space();
    let dev = args.backend.parse::<Backend>()?.device()?;
    if args.live.is_none() && args.predictor.is_none() && args.predictor_data.is_none() {
        bail!("choose an evaluator: --predictor-data FILE, --predictor FILE or --live DIR");
    }
    if args.live.is_some() {
        space.with_resolution(args.resolution)?; // live training's image size
    }
    let out = OutputFolder::new("--out", &args.out)
        .resumable()
        .existing(args.output.existing())
        .check(&Settings::from_args("search_mbv3", &args))?;
    let style = "{elapsed_precise} [{bar:30}] {pos}/{len} evaluations";
    let style = indicatif::ProgressStyle::with_template(style)?.progress_chars("=> ");
    let bar = indicatif::ProgressBar::new(search.evaluations() as u64).with_style(style);
    let tick = |_: &_| bar.inc(1);
    let (evaluator, fit, outcome) = if let Some(folder) = &args.live {
        let data = train_and_validation(folder, args.resolution)?;
        let cfg = TrainConfig {
            epochs: args.epochs as usize,
            batch_size: 64,
            learning_rate: 0.05,
            label_smoothing: 0.1,
            seed: args.search.seed,
            ..TrainConfig::default()
        };
        let live = MbV3LiveEvaluator::mbv3(space, data.train, data.test, cfg, dev)?;
        // Every evaluation kept in DIR/search.json: a killed search continues with --resume.
        ("live", None, search.run_in(live, &out, tick)?)
    } else {
        let (predictor, fit) = if let Some(path) = &args.predictor {
            (AccuracyPredictor::load(path, &dev)?, None)
        } else {
            let pairs = read_pairs(args.predictor_data.as_deref().expect("checked"), &space)?;
            let cfg = PredictorConfig {
                epochs: args.predictor_epochs as usize,
                seed: args.search.seed,
                ..PredictorConfig::default()
            };
            let (p, report) = AccuracyPredictor::fit(&space, &pairs, &cfg, &dev)?;
            out.create()?; // the inputs are read: from here on the run writes
            let saved = args.out.join("predictor.bin");
            p.save(&saved)?;
            eprintln!(
                "predictor: {} pairs, training Spearman {:.3}; saved to {}",
                report.pairs,
                report.train_spearman,
                saved.display()
            );
            (p, Some(serde_json::to_value(&report)?))
        };
        let outcome = search.run_in(predictor.evaluator(&space)?, &out, tick)?;
        ("predictor", fit, outcome)
    };
    bar.finish_and_clear();
    let summary = search.summary(&outcome, evaluator);
    out.create()?;
    search.write(&args.out, &outcome, &summary, &args, fit)?;
    println!("{summary}");
    Ok(())
}

/// DSM-NAS and the baselines with OFA's predictor, under a latency or MAdds limit.
fn run_ofa(args: &Args, predictor: &std::path::Path) -> Result<()> {
    let limit = match args.latency_limit {
        Some(ms) => Limit::Latency { ms },
        None => Limit::Madds {
            millions: args.search.madds_limit,
        },
    };
    let cfg = args.ofa.config(limit, &args.search);
    let dev = args.backend.parse::<Backend>()?.device()?;
    let predictor = OfaPredictor::load(predictor, &dev)?;
    let study = cfg.check(args.ofa.latency()?.as_ref())?;
    let mut eval = predictor.evaluator(study.space())?;
    let out = OutputFolder::new("--out", &args.out)
        .resumable()
        .existing(args.output.existing())
        .check(&Settings::from_args("search_mbv3", &args))?;
    let bar = indicatif::ProgressBar::new((cfg.trials * cfg.methods.len()) as u64);
    let trials = study.run(&mut eval, |t| {
        bar.inc(1);
        bar.println(serde_json::to_string(t).expect("trials serialise"));
    })?;
    bar.finish_and_clear();
    out.create()?;
    let results = study.write(&args.out, &trials, args, &mut eval)?;
    for s in results["summary"].as_array().into_iter().flatten() {
        println!("{s}");
    }
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
