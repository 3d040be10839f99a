//! Look up a NAS-Bench-201 cell in the embedded table (or a table file) and print one JSON
//! object with its costs and accuracies on the three datasets, and FreeREA's zero-cost
//! proxies of it (`zero_cost`: synflow, logsynflow, naswot, nregions per data set; null
//! where FreeREA has no finite value).
//!
//! ```text
//! cargo run --release --example query_nb201 -- --arch '|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|'
//! cargo run --release --example query_nb201 -- --index 6111 [--table nb201.csv]
//! ```
//! A bad architecture string, index or table exits with status 2 and a one-line error.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use dsm_nas::bench::proxies::{Proxy, ZcTable};
use dsm_nas::bench::{Dataset, Nb201Table};
use dsm_nas::space::Nb201Cell;
use serde::Serialize;

#[derive(Parser)]
#[command(about = "Query the NAS-Bench-201 table for one cell")]
struct Args {
    /// Canonical cell string, e.g. '|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|'.
    #[arg(long, conflicts_with = "index", required_unless_present = "index")]
    arch: Option<String>,
    /// Benchmark index 0..15624.
    #[arg(long)]
    index: Option<usize>,
    /// A table file (the CSV format of shared/data/nb201 or the compact format) instead of the
    /// embedded table.
    #[arg(long)]
    table: Option<PathBuf>,
}

#[derive(Serialize)]
struct PerDataset<T> {
    cifar10: T,
    cifar100: T,
    imagenet16: T,
}

#[derive(Serialize)]
struct Accuracies {
    valid_acc: f64,
    test_acc: f64,
    hp12_acc: f64,
}

/// FreeREA's zero-cost proxies (null where FreeREA has no finite value: NASWOT of a cell
/// without an input-output path, linear regions on ImageNet16-120).
#[derive(Serialize)]
struct ZeroCost {
    synflow: Option<f64>,
    logsynflow: Option<f64>,
    naswot: Option<f64>,
    nregions: Option<f64>,
}

#[derive(Serialize)]
struct Output {
    index: usize,
    arch: String,
    params_m: PerDataset<f64>,
    flops_m: PerDataset<f64>,
    cifar10: Accuracies,
    cifar100: Accuracies,
    imagenet16: Accuracies,
    cost_s: f64,
    zero_cost: PerDataset<ZeroCost>,
}

fn run() -> Result<()> {
    let args = Args::parse();
    let owned;
    let table = match &args.table {
        Some(path) => {
            owned = Nb201Table::from_file(path)?;
            &owned
        }
        None => Nb201Table::embedded(),
    };
    let cell: Nb201Cell = match (&args.arch, args.index) {
        (Some(s), _) => s.parse().context("bad --arch")?,
        (None, Some(i)) => table.cell(i).context("bad --index")?,
        (None, None) => unreachable!("clap requires one of --arch and --index"),
    };
    let [c10, c100, in16] = Dataset::SEARCHED.map(|d| table.lookup(&cell, d));
    let acc = |r: &dsm_nas::bench::BenchResult| Accuracies {
        valid_acc: r.valid_acc,
        test_acc: r.test_acc,
        hp12_acc: r.hp12_acc,
    };
    let zc = |d| -> Result<ZeroCost> {
        let v = ZcTable::embedded().lookup(&cell, d)?;
        let f = |p| v.get(p).filter(|x: &f64| x.is_finite());
        Ok(ZeroCost {
            synflow: f(Proxy::Synflow),
            logsynflow: f(Proxy::Logsynflow),
            naswot: f(Proxy::Naswot),
            nregions: f(Proxy::Nregions),
        })
    };
    let out = Output {
        index: c10.index,
        arch: cell.to_string(),
        params_m: PerDataset {
            cifar10: c10.params_m,
            cifar100: c100.params_m,
            imagenet16: in16.params_m,
        },
        flops_m: PerDataset {
            cifar10: c10.flops_m,
            cifar100: c100.flops_m,
            imagenet16: in16.flops_m,
        },
        cifar10: acc(&c10),
        cifar100: acc(&c100),
        imagenet16: acc(&in16),
        cost_s: c10.cost_s,
        zero_cost: PerDataset {
            cifar10: zc(Dataset::Cifar10)?,
            cifar100: zc(Dataset::Cifar100)?,
            imagenet16: zc(Dataset::ImageNet16)?,
        },
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
