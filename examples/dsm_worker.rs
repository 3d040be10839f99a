//! A worker of a distributed search on the NAS-Bench-201 table: evaluates the task in
//! `DSM_TASK` (or `--task`) with the embedded table and writes its result file, as a
//! `dsm_cluster::Cluster` starts it (a local process or a Slurm job). For dry runs of a
//! cluster setup and the Slurm tests; a real search's worker trains (`search_live`).
//!
//! ```text
//! cargo build --release --example dsm_worker
//! target/release/examples/dsm_worker --dataset cifar10 --signal valid200   # DSM_TASK set by the driver
//! ```

use std::path::PathBuf;

use clap::Parser;
use dsm_nas::bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
use dsm_nas::cluster::{serve, task_from_env};
use dsm_nas::space::Nb201Cell;

#[derive(Parser)]
#[command(about = "Evaluates one task of a distributed search on the NAS-Bench-201 table")]
struct Args {
    /// Dataset: cifar10, cifar100 or imagenet16.
    #[arg(long, default_value = "cifar10")]
    dataset: String,
    /// Search signal: valid200 or hp12.
    #[arg(long, default_value = "valid200")]
    signal: String,
    /// The task file (default: the DSM_TASK environment variable).
    #[arg(long)]
    task: Option<PathBuf>,
}

fn run() -> Result<(), String> {
    let args = Args::parse();
    let dataset: Dataset = args
        .dataset
        .parse()
        .map_err(|e| format!("--dataset: {e}"))?;
    let signal: Signal = args.signal.parse().map_err(|e| format!("--signal: {e}"))?;
    let task = args
        .task
        .or_else(task_from_env)
        .ok_or("no task: pass --task FILE or set DSM_TASK (the driver does)")?;
    let mut eval = Nb201Evaluator::new(Nb201Table::embedded(), dataset, signal);
    let r = serve::<Nb201Cell, _>(&task, &mut eval).map_err(|e| {
        let mut s = e.to_string();
        let mut cur = std::error::Error::source(&e);
        while let Some(c) = cur {
            s.push_str(&format!(": {c}"));
            cur = c.source();
        }
        s
    })?;
    println!("task {}: score {}", r.id, r.evaluation.score);
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
