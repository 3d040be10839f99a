//! OFA's published accuracy predictor against PyTorch's outputs
//! (`../shared/fixtures/ofa_predictor/predictions.json`), its input encoding, and the errors
//! for files that are not it.

use std::path::PathBuf;

use burn::prelude::*;
use dsm_space::Evaluator;
use dsm_space::{MbV3Arch, MbV3ResolutionSpace, MbV3Space, MbV3Subnet, OFA_RESOLUTIONS};
use dsm_train::ofa::{OfaPredictor, ofa_features};

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel)
}

#[derive(serde::Deserialize)]
struct Row {
    legacy: String,
    resolution: u32,
    predicted_acc: f64,
}

#[derive(serde::Deserialize)]
struct Fixture {
    rows: Vec<Row>,
}

#[test]
#[cfg_attr(
    not(shared_ofa),
    ignore = "needs ../shared/data/ofa/acc_predictor.pth and ../shared/fixtures/ofa_predictor (not redistributable)"
)]
fn predictions_match_pytorch_for_every_fixture_row() {
    let dev = Device::flex();
    let p = OfaPredictor::load(&shared("data/ofa/acc_predictor.pth"), &dev).unwrap();
    let text = std::fs::read_to_string(shared("fixtures/ofa_predictor/predictions.json")).unwrap();
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    assert_eq!(fixture.rows.len(), 50);
    let subnets: Vec<MbV3Subnet> = fixture
        .rows
        .iter()
        .map(|r| MbV3Subnet {
            arch: r.legacy.parse().unwrap(),
            resolution: r.resolution,
        })
        .collect();
    // Batched and one at a time give the same numbers within the tolerance.
    let batched = p.predict(&subnets).unwrap();
    let space = MbV3ResolutionSpace::new(MbV3Space::new(1.2).unwrap(), &OFA_RESOLUTIONS).unwrap();
    let mut eval = p.evaluator(&space).unwrap();
    let mut worst = 0.0f64;
    for ((row, s), b) in fixture.rows.iter().zip(&subnets).zip(&batched) {
        let single = eval.evaluate(s).unwrap().score / 100.0;
        for got in [*b, single] {
            let rel = (got - row.predicted_acc).abs() / row.predicted_acc.abs();
            worst = worst.max(rel);
            assert!(
                rel <= 1e-5,
                "{s}: ours {got}, PyTorch {}",
                row.predicted_acc
            );
        }
    }
    eprintln!("worst relative difference {worst:e}");
}

#[test]
fn the_encoding_is_ofas() {
    let arch: MbV3Arch =
        "2,3,4,2,2:3,5,0,0,7,3,5,0,3,3,3,3,5,5,0,0,7,7,0,0:3,4,0,0,6,3,4,0,3,4,6,3,4,4,0,0,6,6,0,0"
            .parse()
            .unwrap();
    let x = ofa_features(&MbV3Subnet {
        arch,
        resolution: 176,
    })
    .unwrap();
    // Depths 2+3+4+2+2 = 13 layers: 13 kernel and 13 expand one-hots, one resolution.
    assert_eq!(x.iter().filter(|&&v| v == 1.0).count(), 13 + 13 + 1);
    assert_eq!(x.iter().filter(|&&v| v != 0.0 && v != 1.0).count(), 0);
    // Slot 0: kernel 3 -> value 0; expand 3 -> value 60. Slot 1: kernel 5 -> 4; expand 4 -> 64.
    assert_eq!((x[0], x[4], x[60], x[64]), (1.0, 1.0, 1.0, 1.0));
    // Slot 2 lies past unit 0's depth 2: all zero.
    assert!(x[6..9].iter().chain(&x[66..69]).all(|&v| v == 0.0));
    // Resolution 176 -> index (176 - 112) / 16 = 4.
    assert_eq!(x[124], 1.0);
    for r in [100, 170, 240] {
        let arch = MbV3Arch::uniform(2, 3, 3).unwrap();
        let err = ofa_features(&MbV3Subnet {
            arch,
            resolution: r,
        })
        .unwrap_err();
        assert!(err.to_string().contains("steps of 16"), "{err}");
    }
}

#[test]
fn a_file_that_is_not_the_predictor_is_refused_naming_what_was_expected() {
    let dir = std::env::temp_dir().join(format!("dsm-ofa-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dev = Device::flex();
    // Not a checkpoint at all.
    let junk = dir.join("junk.pth");
    std::fs::write(&junk, b"\x80\x02 definitely not a pickle").unwrap();
    let err = OfaPredictor::load(&junk, &dev).unwrap_err().to_string();
    assert!(err.contains("junk.pth"), "{err}");
    // A state dict of another network (safetensors with the right keys, wrong shapes).
    let mut tensors = std::collections::BTreeMap::new();
    for (i, (din, dout)) in [(128, 400), (400, 400), (400, 400), (400, 2)]
        .into_iter()
        .enumerate()
    {
        tensors.insert(
            format!("{}.weight", 2 * i),
            (vec![dout, din], vec![0.0f32; din * dout]),
        );
        tensors.insert(format!("{}.bias", 2 * i), (vec![dout], vec![0.0f32; dout]));
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(k, (shape, data))| {
            (
                k.clone(),
                shape.clone(),
                data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(k, shape, data)| {
            (
                k.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap(),
            )
        })
        .collect();
    let foreign = dir.join("foreign.safetensors");
    std::fs::write(&foreign, safetensors::serialize(views, None).unwrap()).unwrap();
    let err = OfaPredictor::load(&foreign, &dev).unwrap_err().to_string();
    assert!(
        err.contains("6.weight has shape [2, 400]") && err.contains("expected float [1, 400]"),
        "{err}"
    );
    // Missing file.
    let err = OfaPredictor::load(&dir.join("absent.pth"), &dev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.pth"), "{err}");
    // An empty state dict.
    let p =
        OfaPredictor::from_state_dict(&dsm_models::StateDict::new(), "empty", &dev).unwrap_err();
    assert!(p.to_string().contains("0 tensors, expected 8"), "{p}");
    std::fs::remove_dir_all(&dir).ok();
}
