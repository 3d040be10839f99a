//! Zero-cost proxies of NAS-Bench-201 cells computed by our Burn models (untrained networks,
//! one batch of training images; see `dsm_train::zero_cost` for the definitions): one JSON
//! line per cell, `{"arch", "<proxy>": value, ..., "wall_s"}`, in the order of `--cells`.
//!
//! ```text
//! cargo run --release --example proxy_nb201 -- --cells cells.txt
//! printf '%s\n' '|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|' \
//!   | cargo run --release --example proxy_nb201 -- --cells - --proxies synflow,logsynflow,naswot,grad_norm
//! ```
//!
//! NASWOT is `null` for a cell whose activation kernel is singular (no path from input to
//! output: FreeREA's `-inf`; a guided search scores it 0). Bad input (an unknown proxy,
//! `--inits 0`, a batch larger than the data, an unreadable cell) is one line and exit 2,
//! before any work.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use dsm_nas::models::backend::Backend;
use dsm_nas::space::nb201::parse_cell_list;
use dsm_nas::train::Nb201Builder;
use dsm_nas::train::data::load_train_test;
use dsm_nas::train::zero_cost::{ZcComputer, ZcConfig, parse_proxies};

#[derive(Parser)]
#[command(about = "Zero-cost proxies of NAS-Bench-201 cells, computed by our models")]
struct Args {
    /// Cells, one NAS-Bench-201 string a line (`#` comments); `-` reads standard input.
    #[arg(long)]
    cells: PathBuf,
    /// Images: `cifar10-5k` (the vendored CIFAR-10 slice), `builtin` (8x8 digits) or a data
    /// folder (CIFAR binaries or an ImageFolder), at 32 x 32.
    #[arg(long, default_value = "cifar10-5k")]
    data: String,
    /// Proxies, comma-separated: synflow, logsynflow, naswot, grad_norm.
    #[arg(long, default_value = "logsynflow,synflow,naswot")]
    proxies: String,
    /// Initialisations averaged (Kaiming-normal, seeds seed, seed + 1, ...).
    #[arg(long, default_value_t = 3)]
    inits: usize,
    /// Training images in the batch (NASWOT's kernel, the gradient norm).
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Seed of the batch's draw and of the first initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Burn backend: flex (default), ndarray, wgpu, tch or cuda (the last four need the
    /// cargo feature of the same name).
    #[arg(long, default_value = "flex")]
    backend: String,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    let config = ZcConfig {
        proxies: parse_proxies(&args.proxies)?,
        inits: args.inits,
        batch: args.batch,
        seed: args.seed,
    };
    config.check()?;
    let (text, name) = if args.cells.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read --cells - (standard input)")?;
        (text, "standard input".to_string())
    } else {
        let name = args.cells.display().to_string();
        (dsm_nas::space::io::read_to_string(&args.cells)?, name)
    };
    let cells = parse_cell_list(&text, &name)?;
    let device = args.backend.parse::<Backend>()?.device()?;
    let data = load_train_test(&args.data, 32, args.seed)?;
    let zc = ZcComputer::new(Nb201Builder, &data.train, config, device)?;
    for cell in &cells {
        let v = zc.compute(cell)?;
        let mut line = serde_json::Map::new();
        line.insert("arch".into(), cell.to_string().into());
        for (p, value) in zc.config().proxies.iter().zip(&v.values) {
            // serde_json writes a non-finite number (NASWOT's -inf) as null.
            line.insert(p.name().into(), (*value).into());
        }
        line.insert("wall_s".into(), v.wall_s.into());
        println!("{}", serde_json::Value::Object(line));
    }
    Ok(())
}
