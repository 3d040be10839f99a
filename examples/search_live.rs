//! DSM-NAS without a benchmark table: every queried cell is trained for real (on the vendored
//! 8x8 digits by default, or the vendored CIFAR-10 slice with `--data cifar10-5k`) and scored
//! by its validation accuracy; random search gets the same number of queries and seeds. Each
//! found cell is then trained longer on all the training images and tested on the held-out
//! ones, and looked up in the NAS-Bench-201 table (its CIFAR-10 test accuracy after 200
//! epochs: how good the cell really is).
//!
//! ```text
//! cargo run --release --example search_live                 # 16 queries each, 1 epoch per query (~2-3 min on 2 cores)
//! cargo run --release --example search_live -- --data cifar10-5k --queries 12 --epochs 2 --final-epochs 4 --seeds 0,1,2,3,4 --checkpoint runs/live-c10 --out runs/live-c10
//! cargo run --release --example search_live -- --executor local --workers 2
//! cargo run --release --example search_live -- --executor slurm --workers 8 --checkpoint runs/live-slurm
//! ```
//!
//! `--out DIR` writes `DIR/results.json`: the arguments and versions, a summary per method,
//! and `"trials": [{"method", "seed", "best_arch", "valid_acc", "held_out_acc",
//! "table_test_acc", "queries", "cost_s"}]`. With `--checkpoint DIR`, each search is
//! checkpointed in `DIR/seed-<s>/` (every training result, atomically), and so are the final
//! trainings: a rerun with the same arguments continues where a killed one stopped, to the
//! same result (see `dsm_cluster::SearchStore`). With `--executor local` or `slurm`, every
//! training is a worker process or a Slurm job (this same program, started with `DSM_TASK`
//! naming its task), `--workers` at once, journaled in the same folders; results are told in
//! the order asked, so the outcome does not depend on the executor.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use dsm_nas::cluster::{ExecutorArgs, SearchStore, serve, task_from_env};
use dsm_nas::miner::{
    Budget, DsmConfig, GuideConfig, GuideSpec, check_guidance, check_names, searchers, seeded_rng,
};
use dsm_nas::models::backend::Backend;
use dsm_nas::space::output::Settings;
use dsm_nas::space::{Evaluation, Nb201Cell, Nb201Space, Observed};
use dsm_nas::train::Nb201Builder;
use dsm_nas::train::live::{LiveData, StudyOutputs, summarise_trials, write_study};
use dsm_nas::train::zero_cost::{ZcComputer, ZcConfig};
use serde::Serialize;

/// The worker's seed, set by the driver for each search.
const SEED_ENV: &str = "DSM_LIVE_SEED";

#[derive(Parser, Serialize)]
#[command(about = "DSM-NAS with live training against random search")]
struct Args {
    /// Burn backend: flex (default), ndarray, wgpu, tch or cuda (the last four need the
    /// cargo feature of the same name).
    #[arg(long, default_value = "flex")]
    backend: String,
    /// `builtin` (the vendored 8x8 digits, 20 % held out for the test), `cifar10-5k` (the
    /// vendored CIFAR-10 slice, its 1,000 test images held out) or a data folder (CIFAR-10/100
    /// binaries or an ImageFolder at 32 x 32); the search trains on 75 % of the
    /// training images and scores on the other 25 %.
    #[arg(long, default_value = "builtin")]
    data: String,
    /// Methods, comma-separated: dsm-nas, random, rea, reinforce, ofa-evolution, each
    /// optionally guided by zero-cost proxies computed on the training images (dsm-nas+zc).
    #[arg(long, value_delimiter = ',', default_value = "dsm-nas,random", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    methods: Vec<String>,
    /// Charged queries per method (the initial K anchors of DSM-NAS are extra).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    queries: u64,
    /// Training epochs per query.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: u64,
    /// Training epochs of the final test of each found cell.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    final_epochs: u64,
    /// Batch size of every training.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    batch: u64,
    /// Guided (+zc) methods: proxies computed by our models (synflow, logsynflow, naswot,
    /// grad_norm; 3 initialisations, a batch of 64 training images), charged their time.
    #[arg(long, default_value = "logsynflow,naswot")]
    proxies: String,
    /// Guided (+zc) methods: cells scored before the search (see search_nb201).
    #[arg(long, default_value_t = GuideConfig::default().warm_start)]
    warm_start: usize,
    /// Guided (+zc) methods: candidates each proposal is chosen from.
    #[arg(long, default_value_t = GuideConfig::default().screen)]
    screen: usize,
    /// Seeds, comma-separated: each seeds the split, both searches and the trainings.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Keep a checkpoint of each search in this folder, and continue from it when present.
    #[arg(long)]
    #[serde(skip)]
    checkpoint: Option<PathBuf>,
    /// Discard the checkpoints in --checkpoint and start the searches afresh.
    #[arg(long, requires = "checkpoint")]
    #[serde(skip)]
    start_over: bool,
    /// Write DIR/results.json.
    #[arg(long)]
    #[serde(skip)]
    out: Option<PathBuf>,
    /// Replace an existing --out DIR/results.json.
    #[arg(long, requires = "out")]
    #[serde(skip)]
    force: bool,
    #[command(flatten)]
    #[serde(skip)]
    exec: ExecutorArgs,
}

fn main() {
    // Training allocates and frees the same buffers every step: keep them (see the docs).
    dsm_nas::models::keep_freed_memory();
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    let dsm = DsmConfig {
        n_steps: 2,
        ..DsmConfig::default()
    };
    let zc = ZcConfig::with_proxies(&args.proxies)?;
    let guide = zc.guide(args.warm_start, args.screen)?;
    check_names(&args.methods)?;
    check_guidance(&args.methods, &guide)?;
    dsm_nas::args::unique("--seeds", &args.seeds)?;
    let settings = Settings::from_args("search_live", &args).without(&["--methods", "--seeds"]);
    let (out, ck) = (args.out.as_deref(), args.checkpoint.as_deref());
    let outputs = StudyOutputs::check(out, args.force, ck, args.start_over, &settings)?;
    let dev = args.backend.parse::<Backend>()?.device()?;
    if let Some(task) = task_from_env() {
        // A worker of a search run with --executor local or slurm: one training, then exit.
        let env_seed = std::env::var(SEED_ENV).ok().and_then(|s| s.parse().ok());
        let seed = env_seed.unwrap_or(args.seeds[0]);
        let data = LiveData::load(&args.data, 32, 0.25, seed)?;
        let quick = data.config(args.epochs as usize, args.batch as usize, seed);
        serve::<Nb201Cell, _>(&task, &mut data.evaluator(quick, dev)?)?;
        return Ok(());
    }
    let root = match (&args.checkpoint, args.exec.launcher()?.is_some()) {
        (Some(dir), _) => Some(dir.clone()),
        (None, true) => Some(dsm_nas::protocol::timestamped_dir("search_live")),
        (None, false) => None,
    };
    outputs.create()?;
    // Bounded by queries (reproducible), not by the measured seconds.
    let budget = Budget::queries(args.queries as usize);
    let mut trials = Vec::new();
    for &seed in &args.seeds {
        let data = LiveData::load(&args.data, 32, 0.25, seed)?;
        let quick = data.config(args.epochs as usize, args.batch as usize, seed);
        let mut eval = data.evaluator(quick, dev.clone())?;
        let zc = ZcConfig { seed, ..zc.clone() };
        let scorer = ZcComputer::new(Nb201Builder, &data.train, zc, dev.clone())?;
        let spec = GuideSpec::new(guide.clone(), scorer);
        let methods = searchers::<Nb201Space>(&args.methods, &dsm, Some(&spec))?;
        let store = SearchStore::under(
            root.as_deref(),
            &format!("seed-{seed}"),
            format!("live-s{seed}"),
        )
        .with_env(SEED_ENV, seed.to_string());
        let full = data.config(args.final_epochs as usize, args.batch as usize, seed);
        let cache = store.dir.as_ref().map(|d| d.join("held_out.json"));
        for method in &methods {
            if args.start_over {
                store.forget(method.name())?;
            }
            let bar = indicatif::ProgressBar::new(args.queries + method.free_evaluations() as u64)
                .with_style(indicatif::ProgressStyle::with_template(
                    "{prefix} {elapsed_precise} [{bar:30}] {pos}/{len} trainings {msg}",
                )?)
                .with_prefix(format!("{} seed {seed}", method.name()));
            let mut observed = Observed::new(&mut eval, |_: &Nb201Cell, e: &Evaluation| {
                bar.inc(1);
                bar.set_message(format!("last {:.1} %", e.score));
            });
            let run = args.exec.run_search(
                &**method,
                &Nb201Space,
                &mut observed,
                budget,
                &mut seeded_rng(seed),
                &store,
            )?;
            bar.finish_and_clear();
            let (name, found) = (method.name(), &run.outcome);
            let trial = data.trial(name, seed, found, &full, &dev, cache.as_deref())?;
            println!("{}", serde_json::to_string(&trial)?);
            trials.push(trial);
        }
    }
    let config = serde_json::json!({"args": &args, "version": env!("CARGO_PKG_VERSION")});
    let summary = match &outputs.results {
        Some(file) => write_study(file, &config, &trials)?,
        None => summarise_trials(&trials),
    };
    for s in &summary {
        println!("{}", serde_json::to_string(s)?);
    }
    Ok(())
}
