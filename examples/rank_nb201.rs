//! The trainer against the NAS-Bench-201 table: trains each cell of a list with the
//! NAS-Bench-201 recipe on the vendored CIFAR-10 slice (4,000 training images), tests it on
//! its 1,000 test images, and prints one JSON line per cell and a last line with the rank
//! correlations against the table's CIFAR-10 200-epoch (and 12-epoch) test accuracies.
//!
//! ```text
//! cargo run --release --example rank_nb201 -- --out runs/rank            # the 16 default cells
//! cargo run --release --example rank_nb201 -- --cells cells.txt --epochs 4 --out runs/rank4
//! ```
//!
//! Each finished cell is saved in `OUT/cells/<i>.json`: the same command with `--resume`
//! continues a killed run (only with the same settings; `OUT/settings.json` names any flag
//! that differs); an --out folder that is not empty is refused without --resume or --force. `--cells FILE` takes one cell a line (`#` comments); the default list and the reason
//! for each cell are in `crates/dsm-bench/data/rank_cells.txt`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use dsm_nas::bench::{Dataset, Nb201Table, RANK_CELLS};
use dsm_nas::protocol::ResumeArgs;
use dsm_nas::space::nb201::parse_cell_list;
use dsm_nas::space::output::{OutputFolder, Settings};
use dsm_nas::train::TrainConfig;
use dsm_nas::train::data::{CIFAR10_5K, load_train_test};
use dsm_nas::train::rank::{summarise, train_cell};
use serde::Serialize;

#[derive(Parser, Serialize)]
#[command(about = "Trains NAS-Bench-201 cells on real CIFAR-10 and ranks them against the table")]
struct Args {
    /// Cells, one a line (default: the 16 cells of crates/dsm-bench/data/rank_cells.txt).
    #[arg(long)]
    cells: Option<PathBuf>,
    /// Training epochs per cell (8: the 16 default cells in under 30 minutes on 2 cores).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1000))]
    epochs: u64,
    /// Batch size.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=4096))]
    batch: u64,
    /// `cifar10-5k` (the vendored slice) or a data folder (CIFAR-10 binaries).
    #[arg(long, default_value = CIFAR10_5K)]
    data: String,
    /// Output folder (per-cell results).
    #[arg(long)]
    #[serde(skip)]
    out: PathBuf,
    #[command(flatten)]
    #[serde(skip)]
    output: ResumeArgs,
    /// Seed of the training.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn run() -> Result<()> {
    dsm_nas::models::keep_freed_memory();
    let args = Args::parse();
    let (text, name) = match &args.cells {
        Some(p) => (
            dsm_nas::space::io::read_to_string(p)?,
            p.display().to_string(),
        ),
        None => (RANK_CELLS.to_string(), "the default cell list".to_string()),
    };
    let cells = parse_cell_list(&text, &name)?;
    if cells.len() < 3 {
        anyhow::bail!(
            "{name}: {} cell(s); a rank correlation needs at least 3",
            cells.len()
        );
    }
    let table = Nb201Table::embedded();
    let reference: Vec<(f64, f64)> = cells
        .iter()
        .map(|c| table.lookup(c, Dataset::Cifar10))
        .map(|r| (r.test_acc, r.hp12_acc))
        .collect();
    if reference.iter().all(|r| r.0 == reference[0].0) {
        anyhow::bail!(
            "--cells {name}: every cell has the same table accuracy; a ranking needs cells that differ"
        );
    }
    let out = OutputFolder::new("--out", &args.out)
        .resumable()
        .existing(args.output.existing())
        .input("--data", &args.data)
        .check(&Settings::from_args("rank_nb201", &args))?;
    let data = load_train_test(&args.data, 32, args.seed)?;
    let dev = dsm_nas::models::backend::Backend::Flex.device()?;
    let cfg = TrainConfig {
        epochs: args.epochs as usize,
        batch_size: args.batch as usize,
        seed: args.seed,
        ..TrainConfig::default()
    };
    out.create()?;
    let mut done = Vec::with_capacity(cells.len());
    for (i, cell) in cells.iter().enumerate() {
        let ranked = train_cell(
            &out,
            i,
            cell,
            reference[i],
            &data.train,
            &data.test,
            &cfg,
            &dev,
        )?;
        println!("{}", serde_json::to_string(&ranked)?);
        done.push(ranked);
    }
    println!("{}", serde_json::to_string(&summarise(&done)?)?);
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
