//! Sets `cfg(shared_fixtures)` when `../shared/fixtures` (the project's own checkout) is present, so
//! the tests that need it run there and show as ignored, with the reason, elsewhere; and
//! `cfg(slurm_cluster)` when a Slurm cluster is configured, for the same reason.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shared_fixtures)");
    println!("cargo::rustc-check-cfg=cfg(slurm_cluster)");
    println!("cargo::rustc-check-cfg=cfg(shared_ofa)");
    println!("cargo::rerun-if-env-changed=SLURM_CONF");
    println!("cargo::rerun-if-env-changed=PATH");
    // The Slurm tests run where a cluster is configured (SLURM_CONF names an existing file,
    // as `scripts/slurm-local.sh start` prints, and sbatch is on PATH).
    let conf = std::env::var_os("SLURM_CONF").map(PathBuf::from);
    let sbatch = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("sbatch").is_file()));
    if sbatch && conf.as_ref().is_some_and(|c| c.is_file()) {
        println!("cargo::rustc-cfg=slurm_cluster");
    }
    println!("cargo::rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let path = dir.join("../../../shared/fixtures");
    if path.exists() {
        println!("cargo::rerun-if-changed={}", path.display());
        println!("cargo::rustc-cfg=shared_fixtures");
    }
    // OFA's predictor and Note10 tables (not redistributable: never vendored).
    let ofa = dir.join("../../../shared/data/ofa");
    if ofa.join("acc_predictor.pth").exists() && ofa.join("note10").exists() {
        println!("cargo::rerun-if-changed={}", ofa.display());
        println!("cargo::rustc-cfg=shared_ofa");
    }
}
