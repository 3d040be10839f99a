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
//! A study like `search_nb201`'s, through the same trial loop (`dsm_protocol::run_trials` over
//! the `dsm_train::live::LiveNb201` problem): `--out DIR` writes `DIR/results.json` in the
//! same schema (`config`, a `summary` row per method with the mean held-out test accuracy,
//! its standard error, 95 % interval and p-value against DSM-NAS and the mean
//! `table_test_acc`, and every trial: `best_arch`, `signal_acc` (validation), `test_acc`
//! (held out), `measures.table_test_acc`, `queries`, `cost_s`, the history); each finished
//! trial is printed as one JSON line. With `--checkpoint DIR`, finished trials are kept in
//! `DIR/checkpoint/` and every search in `DIR/<data>-seed-<s>/` (every training result,
//! atomically): a rerun with the same arguments continues where a killed one stopped, to the
//! same result. With `--executor local` or `slurm`, every training is a worker process or a
//! Slurm job (this same program, started with `DSM_TASK` naming its task), `--workers` at
//! once, journaled in the same folders; results are told in the order asked, so the outcome
//! does not depend on the executor.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::Parser;
use dsm_nas::bench::Problem;
use dsm_nas::cluster::{Executor, ExecutorArgs, serve, task_from_env};
use dsm_nas::miner::{Budget, DsmConfig, GuideConfig, Registry, check_guidance};
use dsm_nas::models::backend::Backend;
use dsm_nas::protocol::{
    Execution, GuideFn, Plan, Results, StudyOutputs, TrialRecord, methods_by_name, run_trials,
    timestamped_dir, worker_evaluator,
};
use dsm_nas::space::Nb201Cell;
use dsm_nas::space::output::Settings;
use dsm_nas::train::live::LiveNb201;
use dsm_nas::train::zero_cost::ZcConfig;
use serde::Serialize;

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
    let registry = Registry::builtin();
    registry.check(&args.methods)?;
    check_guidance(&args.methods, &guide)?;
    dsm_nas::args::unique("--seeds", &args.seeds)?;
    let settings = Settings::from_args("search_live", &args);
    let (out, ck) = (args.out.as_deref(), args.checkpoint.as_deref());
    let outputs = StudyOutputs::check(out, args.force, ck, args.start_over, &settings)?;
    let mut problem = LiveNb201 {
        data: vec![args.data.clone()],
        epochs: args.epochs as usize,
        final_epochs: args.final_epochs as usize,
        batch: args.batch as usize,
        device: args.backend.parse::<Backend>()?.device()?,
        cache: ck.map(|d| d.join("held_out.json")),
        on_training: None,
    };
    if let Some(task) = task_from_env() {
        // A worker of a search run with --executor local or slurm: one training, then exit.
        serve::<Nb201Cell, _>(&task, &mut worker_evaluator(&problem)?)?;
        return Ok(());
    }
    // In this process each training ticks the bar (on workers, the journal records them).
    let bar = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} {pos} trainings {msg}")?,
    );
    let tick = bar.clone();
    problem.on_training = Some(Arc::new(move |_, e| {
        tick.inc(1);
        tick.set_message(format!("(last {:.1} %)", e.score));
    }));
    let on_workers = args.exec.executor()? != Executor::InProcess;
    let dir = match (ck, on_workers) {
        (Some(dir), _) => Some(dir.to_path_buf()),
        (None, true) => Some(timestamped_dir("search_live")),
        (None, false) => None,
    };
    let runner = args.exec.runner(dir, "live", args.start_over)?;
    let live = problem.clone();
    let guide_fn: GuideFn<LiveNb201> =
        Arc::new(move |task, seed| Ok(live.guide(task, seed, &zc, &guide)?));
    let methods = methods_by_name(&registry, &args.methods, &dsm, Some(guide_fn))?;
    // Bounded by queries (reproducible), not by the measured seconds.
    let budget = Budget::queries(args.queries as usize);
    let (tasks, seeds) = (problem.tasks(), args.seeds.clone());
    let plan = Plan {
        tasks,
        seeds,
        budget,
        workers: None,
    };
    let (store, restored) = outputs.trials(&settings, plan.jobs(&methods).len())?;
    let print = |_: usize, t: &TrialRecord| match serde_json::to_string(t) {
        Ok(line) => bar.suspend(|| println!("{line}")),
        Err(e) => eprintln!("warning: trial not printed: {e}"),
    };
    let exec = Execution {
        threads: 1, // each training uses every core
        executor: Some(&runner),
        store: store.as_ref(),
        restored,
        progress: Some(&print),
    };
    let trials = run_trials(&problem, &plan, &methods, exec)?;
    bar.finish_and_clear();
    let config = serde_json::json!({"args": &args, "version": env!("CARGO_PKG_VERSION")});
    let results = Results::of(config, &problem, &plan, &methods, trials);
    outputs.write(&results)?;
    for s in &results.summary {
        println!("{}", serde_json::to_string(s)?);
    }
    Ok(())
}
