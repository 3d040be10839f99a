//! The published NAS-Bench-201 protocol on 1, 2, 4, ... simulated workers: the same total
//! compute (the budget), only the parallelism changes. Writes each run's `results.json` to
//! `OUT/w<W>/`, the scaling table (`scaling.md`, `scaling.json`: final mean test accuracy
//! and the simulated wall-clock to reach the fewest-workers final mean) and one curves plot
//! per method (`curves_<method>.svg`, best-so-far against the simulated wall-clock).
//!
//! ```text
//! cargo run --release --example scale_workers -- --out runs/scaling
//! cargo run --release --example scale_workers -- --trials 500 --dataset cifar10,cifar100,imagenet16 \
//!     --methods dsm-nas,rea,random --worker-counts 1,2,4,8,16 --out runs/scaling   # docs/RESULTS.md
//! ```
//!
//! Every protocol flag of `search_nb201` applies except `--workers`; `--resume` continues an
//! interrupted study from its finished trials.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;
use dsm_nas::protocol::ResumeArgs;
use dsm_nas::protocol::nb201::{Nb201Config, write_results};
use dsm_nas::protocol::{Execution, open_trials, scaling, write_atomic};
use dsm_nas::space::output::{OutputFolder, Settings};
use serde::Serialize;

#[derive(Parser, Debug, Serialize)]
#[command(about = "The NAS-Bench-201 protocol on several numbers of simulated workers")]
struct Args {
    #[command(flatten)]
    #[serde(flatten)]
    protocol: Nb201Config,
    /// Numbers of simulated workers, comma-separated (the fewest is the reference).
    #[arg(long, default_value = "1,2,4,8,16", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    worker_counts: Vec<u64>,
    /// Accuracy points below the fewest-workers final mean that count as reaching it (the
    /// second speed-up column).
    #[arg(long, default_value_t = 0.05)]
    tolerance: f64,
    /// Output folder.
    #[arg(long)]
    #[serde(skip)]
    out: PathBuf,
    #[command(flatten)]
    #[serde(skip)]
    output: ResumeArgs,
    /// Worker threads (0: one per core; results do not depend on it).
    #[arg(long, default_value_t = 0)]
    #[serde(skip)]
    threads: usize,
}

fn run() -> Result<()> {
    let args = Args::parse();
    if args.protocol.workers.is_some() {
        bail!("--workers: this study sets it from --worker-counts; pass --worker-counts instead");
    }
    scaling::check_tolerance(args.tolerance)?;
    dsm_nas::args::unique("--worker-counts", &args.worker_counts)?;
    let mut counts = args.worker_counts.clone();
    counts.sort_unstable();
    let table_path = args.out.join("scaling.json");
    let existing = args.output.existing();
    let settings = Settings::from_args("scale_workers", &args);
    let study = OutputFolder::new("--out", &args.out)
        .resumable()
        .existing(existing)
        .check(&settings)?;
    // Every configuration checked and every folder prepared before any search runs.
    let mut prepared = Vec::new();
    for &w in &counts {
        let config = Nb201Config {
            workers: Some(w as usize),
            ..args.protocol.clone()
        };
        let protocol = config.check()?;
        let out = OutputFolder::new("--out", args.out.join(format!("w{w}")))
            .resumable()
            .existing(existing)
            .check(&Settings::from_args("search_nb201", &config))?;
        let jobs = protocol.plan().jobs(&protocol.methods()).len();
        prepared.push((w as usize, protocol, out, jobs));
    }
    study.create()?;
    let mut runs = Vec::new();
    for (w, protocol, out, jobs) in prepared.iter_mut() {
        let (store, restored) = open_trials(out, &protocol.fingerprint(), *jobs)?;
        let exec = Execution {
            threads: args.threads,
            store: Some(&store),
            restored,
            ..Default::default()
        };
        let start = std::time::Instant::now();
        let results = protocol.run(exec)?;
        let results_path = out.dir().join("results.json");
        write_results(&results, &results_path)?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{w:>4} workers: {} trials in {secs:.1} s -> {}",
            results.trials.len(),
            results_path.display()
        );
        runs.push((*w, results));
    }
    let refs: Vec<(usize, &_)> = runs.iter().map(|(w, r)| (*w, r)).collect();
    let rows = scaling::table(&refs, args.tolerance)?;
    let md = scaling::markdown(&rows, args.tolerance);
    write_atomic(&table_path, serde_json::to_string_pretty(&rows)?.as_bytes())?;
    write_atomic(&args.out.join("scaling.md"), md.as_bytes())?;
    let protocol = &prepared[0].1;
    for method in &runs[0].1.config.methods {
        let path = args.out.join(format!("curves_{method}.svg"));
        scaling::write_curves(&path, &refs, method, &protocol.panels())?;
    }
    print!("\n{md}");
    println!(
        "\nwrote {}, scaling.md and curves_<method>.svg in {}",
        table_path.display(),
        args.out.display()
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
