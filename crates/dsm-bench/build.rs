//! Sets `cfg(shared_nb201_csv)` when `../shared/data/nb201/nb201.csv` (the project's own checkout) is present,
//! and `cfg(shared_ofa)` when OFA's Note10 latency tables and their fixture are, so the tests
//! that need them run there and show as ignored, with the reason, elsewhere (OFA's files are
//! not redistributable: the crate never vendors them).

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shared_nb201_csv)");
    println!("cargo::rustc-check-cfg=cfg(shared_ofa)");
    println!("cargo::rustc-check-cfg=cfg(shared_zc)");
    println!("cargo::rerun-if-changed=build.rs");
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let path = dir.join("../../../shared/data/nb201/nb201.csv");
    if path.exists() {
        println!("cargo::rerun-if-changed={}", path.display());
        println!("cargo::rustc-cfg=shared_nb201_csv");
    }
    let note10 = dir.join("../../../shared/data/ofa/note10/224_lookup_table.yaml");
    let fixture = dir.join("../../../shared/fixtures/ofa_predictor/predictions.json");
    if note10.exists() && fixture.exists() {
        println!("cargo::rerun-if-changed={}", note10.display());
        println!("cargo::rustc-cfg=shared_ofa");
    }
    let zc = dir.join("../../../shared/data/zc-nb201/cifar10.csv");
    if zc.exists() {
        println!("cargo::rerun-if-changed={}", zc.display());
        println!("cargo::rustc-cfg=shared_zc");
    }
}
