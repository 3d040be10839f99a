//! DSM-NAS without a benchmark table: every queried cell is trained for real (on the vendored
//! 8x8 digits by default, `--data`) and scored by its validation accuracy; random search gets the same number of
//! queries. The found cells are then trained longer and tested on held-out digits.
//!
//! ```text
//! cargo run --release --example search_live                 # 16 queries each, 1 epoch per query (~2-3 min on 2 cores)
//! cargo run --release --example search_live -- --queries 40 --epochs 2
//! cargo run --release --example search_live -- --checkpoint runs/live   # resumable
//! cargo run --release --example search_live -- --executor local --workers 2
//! cargo run --release --example search_live -- --executor slurm --workers 8 --data builtin --checkpoint runs/live-slurm
//! ```
//!
//! With `--checkpoint DIR`, each search logs every training result to `DIR/<method>.json`
//! (atomically) and a rerun with the same arguments continues where a killed one stopped,
//! to the same result (see `dsm_miner::SearchCheckpoint`).
//!
//! With `--executor local` or `slurm`, every training is a worker process or a Slurm job
//! (this same program, started with `DSM_TASK` naming its task), `--workers` at once; the
//! searches journal into `DIR/<method>/` (`--checkpoint DIR`, else a new `runs/` folder),
//! and a rerun continues them, re-attaching to jobs still running (see `dsm_cluster`).
//! Results are told in the order asked, so for the same `--workers` the outcome is the same
//! on either executor, and with `--workers 1` it is `--executor inline`'s.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use clap::Parser;
use dsm_nas::cluster::{ExecutorArgs, serve, task_from_env};
use dsm_nas::miner::{
    Budget, DsmConfig, DsmNas, MinerError, RandomSearch, SearchCheckpoint, SearchOutcome, Searcher,
    seeded_rng,
};
use dsm_nas::space::{Evaluation, Nb201Cell, Nb201Space, Observed};
use dsm_nas::train::data::load_train_test;
use dsm_nas::train::{LiveEvaluator, Nb201Builder, Nb201LiveEvaluator, TrainConfig, train_nb201};

#[derive(Parser)]
#[command(about = "DSM-NAS with live training on the vendored digits, against random search")]
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
    /// Charged queries per method (the initial K anchors of DSM-NAS are extra).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..))]
    queries: u64,
    /// Training epochs per query.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    epochs: u64,
    /// Training epochs of the final test of each found cell.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    final_epochs: u64,
    /// Seed of the split, the searches and the training.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep a checkpoint of each search in this folder, and continue from it when present.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Discard the checkpoints in --checkpoint and start the searches afresh.
    #[arg(long, requires = "checkpoint")]
    start_over: bool,
    #[command(flatten)]
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

/// Runs `method` on `eval` with a progress bar, through a checkpoint in `dir` when given;
/// or through the executor's workers, journaled in `jobs/<method>`.
fn search<M: Searcher<Nb201Space>>(
    method: &M,
    eval: &mut Nb201LiveEvaluator,
    total: usize,
    budget: Budget,
    seed: u64,
    dir: Option<&PathBuf>,
    exec: Option<(&ExecutorArgs, &PathBuf)>,
) -> Result<SearchOutcome<Nb201Cell>> {
    let mut rng = seeded_rng(seed);
    if let Some((exec, jobs)) = exec {
        let fingerprint = format!("{} seed {seed} {budget:?}", method.settings());
        let run = format!("live-{}", method.name());
        let config = exec.config(jobs.join(method.name()), &run, &fingerprint, true);
        if let Some(done) = exec.search_method(method, &Nb201Space, budget, &mut rng, config)? {
            println!("{:>8}: {}", method.name(), done.report);
            return Ok(done.outcome);
        }
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix:>8} {elapsed_precise} [{bar:30}] {pos}/{len} trainings {msg}",
        )?
        .progress_chars("=> "),
    );
    bar.set_prefix(method.name().to_string());
    let mut eval = Observed::new(eval, |_: &Nb201Cell, e: &Evaluation| {
        bar.inc(1);
        bar.set_message(format!("last {:.1} %", e.score));
    });
    let out = match dir {
        Some(dir) => SearchCheckpoint::new(dir.join(format!("{}.json", method.name())), 1)
            .with_label(format!("seed {seed}"))
            .search(method, &Nb201Space, &mut eval, budget, &mut rng)
            .map_err(|e| match e {
                MinerError::CheckpointMismatch { .. } => anyhow!("{e} (or pass --start-over)"),
                e => e.into(),
            })?,
        None => method.search(&Nb201Space, &mut eval, budget, &mut rng)?,
    };
    bar.finish_and_clear();
    Ok(out)
}
fn run() -> Result<()> {
    let args = Args::parse();
    let remote = args.exec.launcher()?.is_some();
    let dev = args
        .backend
        .parse::<dsm_nas::models::backend::Backend>()?
        .device()?;
    // 60 % search-train, 20 % validation (the search signal), 20 % held-out test.
    let data = load_train_test(&args.data, 32, args.seed)?;
    let (train, valid) = data.train.split(0.25, args.seed + 1);
    let test = data.test;
    let quick = TrainConfig {
        epochs: args.epochs as usize,
        batch_size: 64,
        crop_padding: 1,
        flip: false,
        seed: args.seed,
        ..TrainConfig::default()
    };
    let mut eval = LiveEvaluator::new(
        Nb201Builder,
        train.clone(),
        valid.clone(),
        quick.clone(),
        dev.clone(),
    )?;
    if let Some(task) = task_from_env() {
        // A worker of a search run with --executor local or slurm: one training, then exit.
        serve::<Nb201Cell, _>(&task, &mut eval)?;
        return Ok(());
    }
    if let Some(dir) = &args.checkpoint {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the --checkpoint folder {}", dir.display()))?;
        for method in ["dsm-nas", "random"].iter().filter(|_| args.start_over) {
            let path = dir.join(format!("{method}.json"));
            if path.exists() {
                std::fs::remove_file(&path)?;
            }
            if dir.join(method).is_dir() {
                std::fs::remove_dir_all(dir.join(method))?;
            }
        }
    }
    let jobs = match &args.checkpoint {
        Some(dir) => dir.clone(),
        None => dsm_nas::protocol::timestamped_dir("search_live"),
    };
    let exec = remote.then_some((&args.exec, &jobs));
    // Bounded by queries (reproducible), not by the measured seconds.
    let budget = Budget {
        time_s: f64::MAX,
        max_iters: args.queries as usize - 1,
        ..Budget::default()
    };
    let dsm = DsmNas::new(DsmConfig {
        n_steps: 2,
        ..DsmConfig::default()
    });
    let ckpt = args.checkpoint.as_ref();
    let d = search(
        &dsm,
        &mut eval,
        args.queries as usize + 3,
        budget,
        args.seed,
        ckpt,
        exec,
    )?;
    let r = search(
        &RandomSearch,
        &mut eval,
        args.queries as usize,
        budget,
        args.seed,
        ckpt,
        exec,
    )?;
    let full = TrainConfig {
        epochs: args.final_epochs as usize,
        ..quick
    };
    let train_all = train.subset(&(0..train.len()).collect::<Vec<_>>());
    for (name, out) in [("dsm-nas", &d), ("random", &r)] {
        let (_, m) = train_nb201(&out.best, &train_all, &test, &full, &dev, &mut |_| {})?;
        println!(
            "{name:>8}: {}  validation {:.2} % after {} epoch(s), {} queries, {:.0} s of training; held-out test {:.2} % after {} epochs",
            out.best,
            out.best_score,
            args.epochs,
            out.queries,
            out.cost_s,
            m.last().map_or(0.0, |x| x.test_acc),
            args.final_epochs
        );
    }
    Ok(())
}
