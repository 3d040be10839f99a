//! Sets `cfg(shared_nb201_csv)` when `../shared/data/nb201/nb201.csv` (the project's own checkout) is present, so
//! the tests that need it run there and show as ignored, with the reason, elsewhere.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shared_nb201_csv)");
    println!("cargo::rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let path = dir.join("../../../shared/data/nb201/nb201.csv");
    if path.exists() {
        println!("cargo::rerun-if-changed={}", path.display());
        println!("cargo::rustc-cfg=shared_nb201_csv");
    }
}
