//! `cargo xtask <task>`: project automation.
//!
//! - `ci`: what CI checks: `cargo fmt --check`, `cargo clippy --all-targets -D warnings`,
//!   the README's test command, and the documentation build.
//! - `pack-nb201 [CSV]`: regenerate `crates/dsm-bench/data/nb201.bin` from the shared CSV
//!   (default `../shared/data/nb201/nb201.csv`) and print both sha256 sums for the data README.
//! - `pack-zc [DIR]`: regenerate `crates/dsm-bench/data/zc-nb201.bin` from FreeREA's proxies
//!   (default `../shared/data/zc-nb201/`) and print the sha256 sums for the data README.
//! - `fuzz [SECONDS]`: run every fuzz target (crates/dsm-nas/tests/fuzz.rs) for SECONDS each.
//! - `draw`: regenerate the README's pictures of the published architectures (`docs/img/`).
//! - `bench-compare [THREADS] [ITERS] [--rounds N] [--tch]`: the model workloads of
//!   `examples/bench_models.rs` against PyTorch on the CPU (`scripts/bench_pytorch.py`, in a
//!   virtual environment that it creates under `target/bench-venv` with pip's torch 2.9.0),
//!   same threads and shapes, the two sides alternating for N rounds (default 3) and each
//!   reported as its median (the machines this runs on drift by 10-30 % within minutes);
//!   prints a table and writes `target/bench-compare.json`; `--tch` adds a third column, our
//!   binary built with libtorch behind Burn (one round).
//! - `gpu-pack`: everything a GPU machine without a Rust toolchain or network needs, in
//!   `target/gpu-pack/` (at most 60 MiB, carried there as an ignored path): `bench_models`
//!   built with `--features wgpu`, stripped (glibc <= 2.35 checked) and xz-compressed, the
//!   Vulkan loader's
//!   `.deb` (`apt-get download libvulkan1`), the PyTorch side and its workload spec, the CIFAR-10
//!   slice and `run.sh` (`scripts/gpu-run.sh`); Mesa's Vulkan driver for the dry run goes to
//!   `target/gpu-pack-dry/` (`GPU_PACK_DRY_RUN=1 bash target/gpu-pack/run.sh DIR`).
//! - `backends BACKEND` (`tch`, `wgpu`, `ndarray` or `cuda`): the opt-in backend job: installs
//!   what the backend needs where it can (libtorch from the same virtual environment's torch
//!   for `tch`; Mesa's Vulkan driver via apt for `wgpu`), builds with the feature, runs the
//!   model parity tests on that backend and the model benchmarks.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

fn cargo(args: &[&str]) -> Result<()> {
    cargo_env(args, &[])
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn pack_nb201(csv: Option<PathBuf>) -> Result<()> {
    let csv = csv.unwrap_or_else(|| root().join("../shared/data/nb201/nb201.csv"));
    let table = dsm_bench::Nb201Table::from_csv_file(&csv)?;
    let bytes = table.to_compact_bytes();
    let out = root().join("crates/dsm-bench/data/nb201.bin");
    write_packed(&out, &bytes, &[csv])
}

/// Writes a packed data file and prints the sha256 of its sources and of itself (for the
/// data README).
fn write_packed(out: &Path, bytes: &[u8], sources: &[PathBuf]) -> Result<()> {
    std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    for source in sources {
        let text =
            std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
        println!("source  {}  sha256 {}", source.display(), sha256_hex(&text));
    }
    println!(
        "wrote   {}  {} bytes  sha256 {}",
        out.display(),
        bytes.len(),
        sha256_hex(bytes)
    );
    Ok(())
}

fn pack_zc(dir: Option<PathBuf>) -> Result<()> {
    let dir = dir.unwrap_or_else(|| root().join("../shared/data/zc-nb201"));
    let table = dsm_bench::proxies::ZcTable::from_csv_dir(&dir)?;
    let bytes = table.to_compact_bytes();
    let out = root().join("crates/dsm-bench/data/zc-nb201.bin");
    let sources = ["cifar10", "cifar100", "imagenet16"].map(|d| dir.join(format!("{d}.csv")));
    write_packed(&out, &bytes, &sources)
}

/// JSON objects, one per line, of a command's standard output.
fn json_lines(cmd: &mut Command, what: &str) -> Result<Vec<serde_json::Value>> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).with_context(|| format!("{what} printed {l:?}")))
        .collect()
}

/// The virtual environment with pip's torch 2.9.0 (created on first use); its python.
fn torch_venv() -> Result<PathBuf> {
    let venv = root().join("target/bench-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        eprintln!(
            "$ python3 -m venv {} && pip install torch==2.9.0 numpy",
            venv.display()
        );
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()?
            .success()
            && Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "torch==2.9.0", "numpy"])
                .status()?
                .success();
        if !ok {
            bail!(
                "could not create {} with torch 2.9.0 (pip needs PyPI)",
                venv.display()
            );
        }
    }
    Ok(python)
}

/// `cargo` with extra environment variables.
fn cargo_env(args: &[&str], env: &[(String, String)]) -> Result<()> {
    run_ok(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(root()),
    )
}

/// What building and running with `--features tch` needs: nothing when `LIBTORCH` is set,
/// else libtorch 2.9.0 from pip's torch wheel in the virtual environment (the version tch
/// 0.22 expects).
fn tch_env() -> Result<Vec<(String, String)>> {
    if std::env::var_os("LIBTORCH").is_some() {
        return Ok(Vec::new());
    }
    let python = torch_venv()?;
    let venv = python
        .parent()
        .and_then(Path::parent)
        .expect("venv/bin/python");
    let torch = venv.join("lib/python3.11/site-packages/torch");
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Ok(vec![
        ("VIRTUAL_ENV".into(), venv.display().to_string()),
        ("PATH".into(), path),
        ("LIBTORCH_USE_PYTORCH".into(), "1".into()),
        (
            "LD_LIBRARY_PATH".into(),
            torch.join("lib").display().to_string(),
        ),
    ])
}

/// The largest pack `gpu-pack` writes (the device machines take 64 MiB of carried files).
const GPU_PACK_MAX: u64 = 60 << 20;

/// The newest glibc the GPU machines have (Ubuntu 22.04).
const GPU_GLIBC: (u32, u32) = (2, 35);

/// Runs `cmd`, echoed first; an error when it cannot start or fails.
fn run_ok(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {cmd:?}");
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(())
}

/// The newest `GLIBC_x.y` symbol version `binary` needs.
fn glibc_needed(binary: &Path) -> Result<(u32, u32)> {
    let out = Command::new("objdump").arg("-T").arg(binary).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut newest = (0, 0);
    for word in text.split_whitespace() {
        let word = word.trim_matches(|c| c == '(' || c == ')');
        let Some(v) = word.strip_prefix("GLIBC_") else {
            continue;
        };
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        newest = newest.max(version);
    }
    if newest == (0, 0) {
        bail!(
            "objdump -T {} lists no GLIBC_ symbol version (is binutils' objdump installed?)",
            binary.display()
        );
    }
    Ok(newest)
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

fn gpu_pack() -> Result<()> {
    let root = root();
    let pack = root.join("target/gpu-pack");
    let dry = root.join("target/gpu-pack-dry");
    cargo(&[
        "build",
        "--release",
        "-p",
        "dsm-nas",
        "--features",
        "wgpu",
        "--example",
        "bench_models",
    ])?;
    for dir in [&pack, &dry] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
    }
    std::fs::create_dir_all(pack.join("debs"))?;
    std::fs::create_dir_all(&dry)?;
    // Stripped, then xz-compressed (63 MiB -> 10 MiB; run.sh unpacks it with xz or Python).
    let binary = dry.join("bench_models");
    std::fs::copy(root.join("target/release/examples/bench_models"), &binary)?;
    run_ok(Command::new("strip").arg(&binary))?;
    let glibc = glibc_needed(&binary)?;
    if glibc > GPU_GLIBC {
        bail!(
            "bench_models needs glibc {}.{}, newer than the GPU machines' {}.{}",
            glibc.0,
            glibc.1,
            GPU_GLIBC.0,
            GPU_GLIBC.1
        );
    }
    run_ok(
        Command::new("apt-get")
            .args(["download", "libvulkan1"])
            .current_dir(pack.join("debs")),
    )?;
    run_ok(
        Command::new("apt-get")
            .args(["download", "mesa-vulkan-drivers"])
            .current_dir(&dry),
    )?;
    std::fs::copy(
        root.join("scripts/bench_pytorch.py"),
        pack.join("bench_pytorch.py"),
    )?;
    std::fs::copy(root.join("scripts/gpu-run.sh"), pack.join("run.sh"))?;
    let slice = root.join("crates/dsm-train/data/cifar10-5k");
    std::fs::create_dir_all(pack.join("cifar10-5k"))?;
    for entry in std::fs::read_dir(&slice)? {
        let path = entry?.path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, pack.join("cifar10-5k").join(name))?;
        }
    }
    run_ok(
        Command::new(&binary)
            .args(["--spec-only", "--force", "--spec"])
            .arg(pack.join("spec.json")),
    )?;
    let xz = std::fs::File::create(pack.join("bench_models.xz"))?;
    run_ok(
        Command::new("xz")
            .args(["-T0", "-6", "-c"])
            .arg(&binary)
            .stdout(xz),
    )?;
    let size = dir_size(&pack)?;
    if size > GPU_PACK_MAX {
        bail!(
            "target/gpu-pack is {:.1} MiB, over the {} MiB a device machine takes with room to spare; \
             nothing is carried until it fits",
            size as f64 / 1048576.0,
            GPU_PACK_MAX >> 20
        );
    }
    println!(
        "target/gpu-pack: {:.1} MiB (limit {} MiB); bench_models needs glibc {}.{}",
        size as f64 / 1048576.0,
        GPU_PACK_MAX >> 20,
        glibc.0,
        glibc.1
    );
    println!("on the GPU machine: bash target/gpu-pack/run.sh DIR   (writes DIR/gpu.jsonl)");
    println!("dry run here:       GPU_PACK_DRY_RUN=1 bash target/gpu-pack/run.sh DIR");
    Ok(())
}

fn backends(backend: &str) -> Result<()> {
    let mut env: Vec<(String, String)> = vec![("DSM_TEST_BACKEND".into(), backend.into())];
    match backend {
        "tch" => env.extend(tch_env()?),
        "wgpu" => {
            let has_vulkan = Path::new("/usr/lib/x86_64-linux-gnu/libvulkan.so.1").exists();
            if !has_vulkan {
                eprintln!("$ apt-get install -y mesa-vulkan-drivers libvulkan1");
                let ok = Command::new("apt-get")
                    .args(["install", "-y", "mesa-vulkan-drivers", "libvulkan1"])
                    .status()
                    .is_ok_and(|s| s.success());
                if !ok {
                    bail!(
                        "could not install Mesa's Vulkan driver (apt-get install mesa-vulkan-drivers libvulkan1)"
                    );
                }
            }
        }
        "ndarray" | "cuda" => {}
        other => {
            bail!("cargo xtask backends: unknown backend {other:?} (tch, wgpu, ndarray, cuda)")
        }
    }
    cargo_env(
        &[
            "test",
            "--release",
            "-p",
            "dsm-models",
            "--features",
            backend,
            "--test",
            "parity",
            "--",
            "--nocapture",
        ],
        &env,
    )?;
    cargo_env(
        &[
            "run",
            "--release",
            "-p",
            "dsm-nas",
            "--features",
            backend,
            "--example",
            "bench_models",
            "--",
            "--backend",
            backend,
            "--iters",
            "5",
        ],
        &env,
    )
}

/// A row's rate and its unit: `images_per_s`, or `cells_per_s` (the proxies workload).
fn rate(v: &serde_json::Value) -> (Option<f64>, &'static str) {
    match v["cells_per_s"].as_f64() {
        Some(r) => (Some(r), "cells"),
        None => (v["images_per_s"].as_f64(), "images"),
    }
}

/// The first round's rows with their rate ([`rate`]) replaced by its median over all rounds
/// (rows matched by workload and batch).
fn median_rows(rounds: &[Vec<serde_json::Value>]) -> Vec<serde_json::Value> {
    let key = |v: &serde_json::Value| (v["workload"].clone(), v["batch"].clone());
    let Some(first) = rounds.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|row| {
            let mut values: Vec<f64> = rounds
                .iter()
                .filter_map(|r| r.iter().find(|v| key(v) == key(row)))
                .filter_map(|v| rate(v).0)
                .collect();
            values.sort_by(f64::total_cmp);
            let mut row = row.clone();
            if !values.is_empty() {
                let field = format!("{}_per_s", rate(&row).1);
                row[field.as_str()] = values[values.len() / 2].into();
            }
            row
        })
        .collect()
}

fn bench_compare(threads: usize, iters: usize, rounds: usize, with_tch: bool) -> Result<()> {
    let target = root().join("target");
    let python = torch_venv()?;
    // Our side: the default build, then (`--tch`) the same binary with libtorch behind Burn,
    // then the default build again so that it is what stays in place.
    let build = |features: Option<&str>, env: &[(String, String)]| -> Result<()> {
        let mut args = vec![
            "build",
            "--release",
            "-p",
            "dsm-nas",
            "--example",
            "bench_models",
        ];
        if let Some(f) = features {
            args.extend(["--features", f]);
        }
        cargo_env(&args, env)
    };
    let bench_models = |features: Option<&str>,
                        extra: &[&str],
                        env: &[(String, String)]|
     -> Result<Vec<serde_json::Value>> {
        build(features, env)?;
        json_lines(
            Command::new(target.join("release/examples/bench_models"))
                .args(["--iters", &iters.to_string()])
                .args(extra)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .env("OMP_NUM_THREADS", threads.to_string())
                .env("RAYON_NUM_THREADS", threads.to_string()),
            &format!("bench_models {}", extra.join(" ")),
        )
    };
    let spec = target.join("bench-spec.json");
    let spec_arg = spec.display().to_string();
    let pytorch = || {
        json_lines(
            Command::new(&python)
                .arg(root().join("scripts/bench_pytorch.py"))
                .args([
                    "--threads",
                    &threads.to_string(),
                    "--iters",
                    &iters.to_string(),
                    "--spec",
                ])
                .arg(&spec)
                .env("OMP_NUM_THREADS", threads.to_string()),
            "scripts/bench_pytorch.py",
        )
    };
    // The two sides alternate, so that a slow minute of the machine hits both.
    let (mut ours_rounds, mut theirs_rounds) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}");
        ours_rounds.push(bench_models(None, &["--force", "--spec", &spec_arg], &[])?);
        theirs_rounds.push(pytorch()?);
    }
    let ours = median_rows(&ours_rounds);
    let theirs = median_rows(&theirs_rounds);
    let tch = if with_tch {
        let rows = bench_models(Some("tch"), &["--backend", "tch"], &tch_env()?)?;
        build(None, &[])?;
        rows
    } else {
        Vec::new()
    };
    let key = |v: &serde_json::Value| {
        (
            v["workload"].as_str().map(String::from),
            v["batch"].as_u64(),
        )
    };
    let mut rows = Vec::new();
    println!(
        "{:<18} {:>5} {:>7} {:>7} {:>12} {:>12} {:>7} {:>12}",
        "workload", "batch", "threads", "unit", "ours /s", "pytorch /s", "ratio", "tch /s"
    );
    for o in &ours {
        let Some(t) = theirs.iter().find(|t| key(t) == key(o)) else {
            continue;
        };
        let (a, unit) = rate(o);
        let (a, b) = (a.unwrap_or(f64::NAN), rate(t).0.unwrap_or(f64::NAN));
        let c = tch
            .iter()
            .find(|t| key(t) == key(o))
            .and_then(|t| rate(t).0);
        println!(
            "{:<18} {:>5} {:>7} {:>7} {:>12.1} {:>12.1} {:>6.2}x {:>12}",
            o["workload"].as_str().unwrap_or("?"),
            o["batch"],
            threads,
            unit,
            a,
            b,
            a / b,
            c.map_or("-".to_string(), |c| format!("{c:.1}"))
        );
        let mut row = serde_json::json!({
            "workload": o["workload"],
            "batch": o["batch"],
            "threads": threads,
            "unit": unit,
            format!("ours_{unit}_per_s"): a,
            format!("pytorch_{unit}_per_s"): b,
            "ratio": a / b,
        });
        if let Some(c) = c {
            row[format!("tch_{unit}_per_s").as_str()] = c.into();
        }
        rows.push(row);
    }
    let path = target.join("bench-compare.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&serde_json::json!({ "rows": rows }))?,
    )?;
    println!(
        "wrote {} ({})",
        path.display(),
        theirs
            .first()
            .and_then(|t| t["backend"].as_str())
            .unwrap_or("pytorch")
    );
    Ok(())
}

/// Project automation (`cargo xtask <task>`).
#[derive(Parser)]
#[command(name = "xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// What CI checks: fmt, clippy (-D warnings), the README's test command, the docs.
    Ci,
    /// Regenerate crates/dsm-bench/data/nb201.bin from the shared CSV and print both sha256
    /// sums for the data README.
    PackNb201 {
        /// The CSV (default ../shared/data/nb201/nb201.csv).
        csv: Option<PathBuf>,
    },
    /// Regenerate crates/dsm-bench/data/zc-nb201.bin from FreeREA's proxy CSVs and print
    /// the sha256 sums for the data README.
    PackZc {
        /// The folder of cifar10.csv, cifar100.csv, imagenet16.csv (default
        /// ../shared/data/zc-nb201).
        dir: Option<PathBuf>,
    },
    /// Regenerate the README's pictures of the published architectures (docs/img/).
    Draw,
    /// Run every fuzz target (crates/dsm-nas/tests/fuzz.rs) for SECONDS each.
    Fuzz {
        /// Seconds per target.
        #[arg(default_value_t = 60)]
        seconds: u64,
    },
    /// The model workloads against PyTorch on the CPU, the two sides alternating; prints a
    /// table and writes target/bench-compare.json.
    BenchCompare {
        /// Threads on both sides (default: this machine's cores).
        threads: Option<usize>,
        /// Timed iterations per workload.
        #[arg(default_value_t = 10)]
        iters: usize,
        /// Alternating rounds; each side is reported as its median.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
        rounds: u64,
        /// Add a third column: our binary built with libtorch behind Burn (one round).
        #[arg(long)]
        tch: bool,
    },
    /// Build target/gpu-pack/ (wgpu binary, Vulkan loader, PyTorch side, spec, data,
    /// run.sh) for a GPU machine without a toolchain; prints its size.
    GpuPack,
    /// The opt-in backend job: install what BACKEND needs where possible, build with it, run
    /// the model parity tests on it and the model benchmarks.
    Backends {
        #[arg(value_parser = ["tch", "wgpu", "ndarray", "cuda"])]
        backend: String,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Ci => {
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
        Task::PackNb201 { csv } => pack_nb201(csv),
        Task::PackZc { dir } => pack_zc(dir),
        Task::Fuzz { seconds } => {
            let secs = seconds.to_string();
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
        Task::Draw => {
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
        Task::Backends { backend } => backends(&backend),
        Task::GpuPack => gpu_pack(),
        Task::BenchCompare {
            threads,
            iters,
            rounds,
            tch,
        } => {
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            bench_compare(threads, iters, rounds as usize, tch)
        }
    }
}
