//! The NAS-Bench-201 search protocol of DSM-NAS, on the embedded table, side by side with the
//! benchmark's baselines.
//!
//! ```text
//! cargo run --release --example search_nb201                      # the published protocol
//! cargo run --release --example search_nb201 -- --dataset cifar100,imagenet16 --transfer
//! cargo run --release --example search_nb201 -- --signal hp12 --reference-compat --out runs/compat
//! ```
//! Defaults: 20 trials (seeds 23555 + i), K = 3, 4 edits per step, budget 25,000 simulated
//! seconds and 200 iterations, signal `valid200`, CIFAR-10, methods DSM-NAS, random search,
//! REA and REINFORCE. Writes `DIR/results.json`, `DIR/curves.svg` and a picture of the best
//! cell of each method, `DIR/best_<method>_<dataset>.svg` (DIR defaults to a new
//! timestamped folder `runs/search_nb201-<timestamp>/`) and prints a table like the paper's,
//! with the standard error, the 95 % interval and a Mann-Whitney U test against DSM-NAS.
//! The protocol itself is `dsm_protocol::nb201`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use dsm_nas::protocol::ResumeArgs;
use dsm_nas::protocol::nb201::{Nb201Config, write_results};
use dsm_nas::protocol::{Execution, open_trials, timestamped_dir};
use dsm_nas::space::output::{OutputFolder, Settings};

#[derive(Parser, Debug)]
#[command(about = "DSM-NAS and baselines on the NAS-Bench-201 table")]
struct Args {
    #[command(flatten)]
    protocol: Nb201Config,
    /// Output folder (default: a new timestamped folder under runs/).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    output: ResumeArgs,
    /// Worker threads (0: one per core). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn run() -> Result<()> {
    let args = Args::parse();
    let protocol = args.protocol.check()?;
    let dir = (args.out.clone()).unwrap_or_else(|| timestamped_dir("search_nb201"));
    let out = OutputFolder::new("--out", &dir)
        .resumable()
        .existing(args.output.existing())
        .check(&Settings::from_args("search_nb201", &args.protocol))?;
    let methods = protocol.methods();
    let jobs = protocol.plan().jobs(&methods).len();
    let (store, restored) = open_trials(&out, &protocol.fingerprint(), jobs)?;

    let bar = indicatif::ProgressBar::new(jobs as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} searches {msg}",
        )?
        .progress_chars("=> "),
    );
    bar.set_position(restored.len() as u64);
    let progress = |n: usize, _: &_| bar.set_position(n as u64);
    let exec = Execution {
        threads: args.threads,
        store: Some(&store),
        restored,
        progress: Some(&progress),
        ..Default::default()
    };
    let threads = exec.threads_for(jobs);
    let start = Instant::now();
    let results = protocol.run_methods(methods, exec)?;
    bar.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();

    let results_path = dir.join("results.json");
    write_results(&results, &results_path)?;
    let pictures = protocol.write_best_cells(&results, &dir)?;
    let curves = dir.join("curves.svg");
    protocol.write_curves(&results, &curves)?;
    print!("{}", protocol.report(&results));
    println!(
        "\nwrote {}, {} and {} best_<method>_<dataset>.svg pictures in {} ({wall:.2} s wall, {threads} threads)",
        results_path.display(),
        curves.display(),
        pictures.len(),
        dir.display(),
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
