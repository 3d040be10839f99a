//! OFA's Note10 latency model against OFA's own numbers
//! (`../shared/fixtures/ofa_predictor/predictions.json`, computed with OFA's `LatencyTable`),
//! and the errors for tables that lack what a subnet needs.

use std::path::PathBuf;

use dsm_bench::latency::{LatencyTable, layer_keys};
use dsm_space::{MbV3Arch, MbV3Space, MbV3Subnet};

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

#[derive(serde::Deserialize)]
struct Row {
    legacy: String,
    resolution: u32,
    note10_latency_ms: f64,
}

#[derive(serde::Deserialize)]
struct Fixture {
    rows: Vec<Row>,
}

#[test]
#[cfg_attr(
    not(shared_ofa),
    ignore = "needs ../shared/data/ofa/note10 and ../shared/fixtures/ofa_predictor (not redistributable)"
)]
fn note10_latency_matches_ofa_for_every_fixture_row() {
    let table = LatencyTable::load_dir(&shared("data/ofa/note10")).unwrap();
    assert_eq!(table.device(), "note10");
    assert_eq!(table.resolutions(), vec![160, 176, 192, 208, 224]);
    let space = MbV3Space::new(1.2).unwrap();
    // OFA's tables hold every layer of the width-1.2 space at their resolutions, and no more.
    table.check_covers(&space, &table.resolutions()).unwrap();
    assert!(table.check_covers(&space, &[240]).is_err());
    let text = std::fs::read_to_string(shared("fixtures/ofa_predictor/predictions.json")).unwrap();
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    assert_eq!(fixture.rows.len(), 50);
    for row in &fixture.rows {
        let subnet = MbV3Subnet {
            arch: row.legacy.parse().unwrap(),
            resolution: row.resolution,
        };
        let ms = table.latency_ms(&space, &subnet).unwrap();
        assert!(
            (ms - row.note10_latency_ms).abs() <= 1e-9,
            "{subnet}: ours {ms} ms, OFA {} ms",
            row.note10_latency_ms
        );
    }
}

#[test]
fn a_missing_layer_or_resolution_is_named() {
    let space = MbV3Space::new(1.2).unwrap();
    let subnet = MbV3Subnet {
        arch: MbV3Arch::uniform(2, 3, 3).unwrap(),
        resolution: 160,
    };
    let keys = layer_keys(&space, &subnet).unwrap();
    assert_eq!(keys.len(), 2 + 10 + 4);
    assert_eq!(keys[0].0, "Conv-input:160x160x3-output:80x80x24");
    assert_eq!(
        keys[1].0,
        "expanded_conv-input:80x80x24-output:80x80x24-expand:24-kernel:3-stride:1-idskip:1-se:0-hs:0"
    );
    assert_eq!(
        keys[2].0,
        "expanded_conv-input:80x80x24-output:40x40x32-expand:72-kernel:3-stride:2-idskip:0-se:0-hs:0"
    );
    assert_eq!(keys[15].0, "Logits-input:1x1x1536-output:1000");
    // Every key but the fifth layer's: the error names that layer and key.
    let yaml: String = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 6)
        .map(|(_, (k, _))| format!("{k}:\n  count: 3\n  mean: 1.0\n  std: 0.1\n"))
        .collect();
    let table = LatencyTable::new("toy")
        .with_table(160, &yaml, "toy/160_lookup_table.yaml")
        .unwrap();
    let err = table.latency_ms(&space, &subnet).unwrap_err().to_string();
    assert!(
        err.contains(&keys[6].0) && err.contains(&keys[6].1),
        "{err}"
    );
    let other = MbV3Subnet {
        resolution: 176,
        ..subnet.clone()
    };
    let err = table.latency_ms(&space, &other).unwrap_err().to_string();
    assert!(
        err.contains("resolution 176") && err.contains("cover 160"),
        "{err}"
    );
    // Malformed tables.
    for (yaml, what) in [
        ("a: [1, 2", "expected a mapping"),
        ("a:\n  mean: .nan\n", "finite latency"),
        ("{}", "empty"),
        ("a:\n  count: 3\n", "mean"),
    ] {
        let err = LatencyTable::new("toy")
            .with_table(160, yaml, "bad.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.yaml") && err.contains(what),
            "{yaml:?}: {err}"
        );
    }
    let err = LatencyTable::load_dir(&shared("no/such/folder")).unwrap_err();
    assert!(err.to_string().contains("no/such/folder"), "{err}");
}
