//! Sets `cfg(shared_ofa)` when OFA's predictor (`../shared/data/ofa/acc_predictor.pth`) and
//! its fixtures (`../shared/fixtures/ofa_predictor`) are present (the project's own
//! checkout), so the tests that need them run there and show as ignored, with the reason,
//! elsewhere: the files are not redistributable, so the crate never vendors them.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shared_ofa)");
    println!("cargo::rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let predictor = dir.join("../../../shared/data/ofa/acc_predictor.pth");
    let fixtures = dir.join("../../../shared/fixtures/ofa_predictor/predictions.json");
    if predictor.exists() && fixtures.exists() {
        println!("cargo::rerun-if-changed={}", predictor.display());
        println!("cargo::rustc-cfg=shared_ofa");
    }
}
