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
//! ```
//! `pairs.json` is a JSON array of `{"arch": "<legacy depths:ks:ratios string>", "accuracy": 77.1}`.
//!
//! Writes `DIR/results.json` (configuration, seed, versions, the answer, every evaluation),
//! `DIR/pareto.json` and `DIR/pareto.svg` (the accuracy / MAdds Pareto front of everything
//! evaluated), `DIR/best.svg` (the found subnet), and prints as its last line
//! `{"arch": .., "madds": .., "params": .., "score": .., ...}`. MAdds are counted at 224 x 224
//! with the reference's convention (`cost_mbv3`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;
use dsm_nas::miner::{Budget, DsmConfig, DsmNas, Searcher, seeded_rng};
use dsm_nas::protocol::pareto::{self, CostPoint};
use dsm_nas::space::{Evaluation, MbV3Arch, MbV3Space, Observed, SearchSpace};
use dsm_nas::train::data::train_and_validation;
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
    #[arg(long, default_value_t = 64)]
    resolution: u32,
    /// Training epochs per subnet in live mode.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Epochs of predictor training.
    #[arg(long, default_value_t = 200)]
    predictor_epochs: usize,
    /// MAdds limit in millions, counted at 224 x 224.
    #[arg(long, default_value_t = 600.0)]
    madds_limit: f64,
    /// Width multiplier of the space (1.2 for the published models).
    #[arg(long, default_value_t = 1.2)]
    width: f64,
    /// Search iterations.
    #[arg(long, default_value_t = 200)]
    iters: usize,
    /// Candidate subspaces K.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// Seed of the search, the predictor and the training.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long)]
    #[serde(skip)]
    out: PathBuf,
    /// Overwrite the results in --out.
    #[arg(long)]
    #[serde(skip)]
    force: bool,
}

fn run() -> Result<()> {
    let args = Args::parse();
    let results_path = args.out.join("results.json");
    if results_path.exists() && !args.force {
        bail!(
            "{} already exists; pass --force to overwrite it or choose another --out",
            results_path.display()
        );
    }
    if !(args.madds_limit.is_finite() && args.madds_limit > 0.0) {
        bail!(
            "--madds-limit {} must be a positive number of millions",
            args.madds_limit
        );
    }
    let limit = (args.madds_limit * 1e6).round() as u64;
    let space = MbV3Space::new(args.width)?;
    let dev = args
        .backend
        .parse::<dsm_nas::models::backend::Backend>()?
        .device()?;
    let s = space;
    let dsm = DsmNas::new(DsmConfig {
        k: args.k,
        ..DsmConfig::default()
    })
    .with_constraint(Arc::new(move |a: &MbV3Arch| {
        s.cost_at(a, 224).is_ok_and(|c| c.madds <= limit)
    }));
    let budget = Budget {
        time_s: f64::MAX,
        max_iters: args.iters,
        ..Budget::default()
    };
    // Every setting is checked before any work starts or any file is written.
    dsm.config.check()?;
    budget.check()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let bar = indicatif::ProgressBar::new((args.iters + 1 + args.k) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} evaluations",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut rng = seeded_rng(args.seed);
    // Every evaluated subnet, for the Pareto front (every subnet of the space has a cost at
    // 224, checked when the space was built).
    let mut points = Vec::new();
    let mut record = |arch: &MbV3Arch, e: &Evaluation| {
        if let Ok(c) = space.cost_at(arch, 224) {
            let (arch, madds, params, score) = (arch.to_string(), c.madds, c.params, e.score);
            points.push(CostPoint {
                arch,
                madds,
                params,
                score,
            });
        }
        bar.inc(1);
    };
    let (evaluator, fit, out) = if let Some(folder) = &args.live {
        let data = train_and_validation(folder, args.resolution)?;
        let cfg = TrainConfig {
            epochs: args.epochs,
            batch_size: 64,
            learning_rate: 0.05,
            label_smoothing: 0.1,
            seed: args.seed,
            ..TrainConfig::default()
        };
        let live = MbV3LiveEvaluator::mbv3(space, data.train, data.test, cfg, dev.clone())?;
        let out = dsm.search(
            &space,
            &mut Observed::new(live, &mut record),
            budget,
            &mut rng,
        )?;
        ("live", None, out)
    } else {
        let (predictor, fit) = match (&args.predictor, &args.predictor_data) {
            (Some(path), _) => (AccuracyPredictor::load(path, &dev)?, None),
            (None, Some(data)) => {
                let pairs = read_pairs(data, &space)?;
                let cfg = PredictorConfig {
                    epochs: args.predictor_epochs,
                    seed: args.seed,
                    ..PredictorConfig::default()
                };
                let (p, report) = AccuracyPredictor::fit(&space, &pairs, &cfg, &dev)?;
                let saved = args.out.join("predictor.bin");
                p.save(&saved)?;
                eprintln!(
                    "predictor: {} pairs, training Spearman {:.3}; saved to {}",
                    report.pairs,
                    report.train_spearman,
                    saved.display()
                );
                (p, Some(serde_json::to_value(&report)?))
            }
            (None, None) => {
                bail!("choose an evaluator: --predictor-data FILE, --predictor FILE or --live DIR")
            }
        };
        let mut evaluator = Observed::new(predictor.evaluator(&space)?, &mut record);
        let out = dsm.search(&space, &mut evaluator, budget, &mut rng)?;
        ("predictor", fit, out)
    };
    bar.finish_and_clear();

    let cost = space.cost_at(&out.best, 224)?;
    let front = pareto::front(&points);
    let summary = serde_json::json!({
        "arch": out.best.to_string(),
        "madds": cost.madds,
        "params": cost.params,
        "score": out.best_score,
        "madds_limit": limit,
        "evaluator": evaluator,
        "evaluations": out.evaluations,
        "pareto_points": front.len(),
        "seed": args.seed,
    });
    let results = serde_json::json!({
        "args": &args,
        "version": env!("CARGO_PKG_VERSION"),
        "space": {"name": space.name(), "width": space.width_mult()},
        "dsm": &dsm.config,
        "budget": budget,
        "predictor_fit": fit,
        "best": &summary,
        "final_anchors": out.final_anchors.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "evaluated": &points,
    });
    let write = |name: &str, text: String| -> Result<()> {
        let path = args.out.join(name);
        dsm_nas::space::io::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))
    };
    write("pareto.json", serde_json::to_string_pretty(&front)?)?;
    write(
        "best.svg",
        dsm_nas::draw::mbv3_subnet(
            &out.best,
            &space,
            224,
            &format!("found under {:.0} M MAdds", args.madds_limit),
        )?,
    )?;
    pareto::svg(&args.out.join("pareto.svg"), &points, &front, limit)?;
    write("results.json", serde_json::to_string_pretty(&results)?)?;
    println!("{summary}");
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
