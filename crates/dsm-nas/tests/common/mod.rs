//! Shared by the tests that run the example binaries.

use std::path::PathBuf;

/// The ResNet-like NAS-Bench-201 cell.
#[allow(dead_code)] // not every test binary uses it
pub const RESNET: &str =
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";

/// The built example `name` (`cargo test` builds the examples next to the test binaries).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} not built; run the tests through `cargo test`",
        path.display()
    );
    path
}
