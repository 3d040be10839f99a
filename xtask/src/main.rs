//! `cargo xtask <task>`: project automation.
//!
//! - `ci`: what CI checks: `cargo fmt --check`, `cargo clippy --all-targets -D warnings`,
//!   the README's test command, and the documentation build.
//! - `pack-nb201 [CSV]`: regenerate `crates/dsm-bench/data/nb201.bin` from the shared CSV
//!   (default `../shared/data/nb201/nb201.csv`) and print both sha256 sums for the data README.
//! - `fuzz [SECONDS]`: run every fuzz target (crates/dsm-nas/tests/fuzz.rs) for SECONDS each.
//! - `draw`: regenerate the README's pictures of the published architectures (`docs/img/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(root())
        .status()
        .with_context(|| format!("running cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn pack_nb201(csv: Option<&str>) -> Result<()> {
    let csv = csv
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data/nb201/nb201.csv"));
    let table = dsm_bench::Nb201Table::from_csv_file(&csv)?;
    let bytes = table.to_compact_bytes();
    let out = root().join("crates/dsm-bench/data/nb201.bin");
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    let csv_bytes = std::fs::read(&csv)?;
    println!(
        "source  {}  sha256 {}",
        csv.display(),
        sha256_hex(&csv_bytes)
    );
    println!(
        "wrote   {}  {} bytes  sha256 {}",
        out.display(),
        bytes.len(),
        sha256_hex(&bytes)
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => {
            cargo(&["fmt", "--all", "--", "--check"])?;
            cargo(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])?;
            // The README's test command, exactly.
            cargo(&["test", "--workspace", "--release"])?;
            cargo(&["doc", "--workspace", "--no-deps"])?;
            Ok(())
        }
        Some("pack-nb201") => pack_nb201(args.get(1).map(String::as_str)),
        Some("fuzz") => {
            // Every fuzz target of crates/dsm-nas/tests/fuzz.rs for SECONDS each (default 60).
            let secs = args.get(1).map(String::as_str).unwrap_or("60");
            if secs.parse::<u64>().is_err() {
                bail!("cargo xtask fuzz SECONDS: {secs:?} is not a number of seconds");
            }
            eprintln!(
                "$ DSM_FUZZ_SECONDS={secs} cargo test --release -p dsm-nas --test fuzz -- --nocapture --test-threads 1"
            );
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args([
                    "test",
                    "--release",
                    "-p",
                    "dsm-nas",
                    "--test",
                    "fuzz",
                    "--",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env("DSM_FUZZ_SECONDS", secs)
                .current_dir(root())
                .status()?;
            if !status.success() {
                bail!("fuzzing found a crash (see CRASH lines above)");
            }
            Ok(())
        }
        Some("draw") => {
            let dir = root().join("docs/img");
            std::fs::create_dir_all(&dir)?;
            for (name, svg) in dsm_draw::published_pictures() {
                let path = dir.join(name);
                std::fs::write(&path, svg)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        _ => {
            eprintln!("usage: cargo xtask <ci | pack-nb201 [CSV] | draw | fuzz [SECONDS]>");
            std::process::exit(2);
        }
    }
}
