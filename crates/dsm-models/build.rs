//! Sets `cfg(shared_fixtures)` when `../shared/fixtures` (the project's own checkout) is present, so
//! the tests that need it run there and show as ignored, with the reason, elsewhere.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shared_fixtures)");
    println!("cargo::rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let path = dir.join("../../../shared/fixtures");
    if path.exists() {
        println!("cargo::rerun-if-changed={}", path.display());
        println!("cargo::rustc-cfg=shared_fixtures");
    }
}
