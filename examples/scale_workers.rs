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
use dsm_nas::protocol::nb201::{Nb201Config, OutputDir, write_results};
use dsm_nas::protocol::{Execution, scaling, write_atomic};

#[derive(Parser, Debug)]
#[command(about = "The NAS-Bench-201 protocol on several numbers of simulated workers")]
struct Args {
    #[command(flatten)]
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
    out: PathBuf,
    /// Overwrite an existing study in --out.
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Continue an interrupted study in --out.
    #[arg(long)]
    resume: bool,
    /// Worker threads (0: one per core; results do not depend on it).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn run() -> Result<()> {
    let args = Args::parse();
    if args.protocol.workers.is_some() {
        bail!("--workers: this study sets it from --worker-counts; pass --worker-counts instead");
    }
    scaling::check_tolerance(args.tolerance)?;
    let mut counts = args.worker_counts.clone();
    counts.sort_unstable();
    counts.dedup();
    let table_path = args.out.join("scaling.json");
    if table_path.exists() && !args.force && !args.resume {
        bail!(
            "{} already exists; pass --force to overwrite it, --resume to continue, or choose another --out",
            table_path.display()
        );
    }
    // Every configuration checked and every folder prepared before any search runs.
    let mut prepared = Vec::new();
    for &w in &counts {
        let config = Nb201Config {
            workers: Some(w as usize),
            ..args.protocol.clone()
        };
        let protocol = config.check()?;
        let out = OutputDir {
            dir: args.out.join(format!("w{w}")),
            force: args.force,
            resume: args.resume,
        };
        let jobs = protocol.plan().jobs(&protocol.methods()).len();
        let (store, restored) = out.prepare(&protocol.fingerprint(), jobs)?;
        prepared.push((w as usize, protocol, out, store, restored));
    }
    let mut runs = Vec::new();
    for (w, protocol, out, store, restored) in prepared.iter_mut() {
        let restored = std::mem::take(restored);
        let exec = Execution {
            threads: args.threads,
            store: Some(store),
            restored,
            progress: None,
        };
        let start = std::time::Instant::now();
        let results = protocol.run(exec)?;
        write_results(&results, &out.results_path())?;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{w:>4} workers: {} trials in {secs:.1} s -> {}",
            results.trials.len(),
            out.results_path().display()
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
