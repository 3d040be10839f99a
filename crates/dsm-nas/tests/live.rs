//! DSM-NAS over the NAS-Bench-201 space with live training instead of a table.

mod common;

use burn::prelude::*;
use dsm_nas::miner::{Budget, DsmConfig, DsmNas, Searcher, seeded_rng};
use dsm_nas::space::Nb201Space;
use dsm_nas::train::data::digits;
use dsm_nas::train::{LiveEvaluator, Nb201Builder, TrainConfig};

#[test]
fn dsm_nas_searches_with_live_training() {
    let (rest, _) = digits().split(0.5, 1);
    let train = rest.subset(&(0..240).collect::<Vec<_>>()).to_rgb();
    let valid = rest.subset(&(240..360).collect::<Vec<_>>()).to_rgb();
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: 64,
        crop_padding: 1,
        flip: false,
        seed: 2,
        ..TrainConfig::default()
    };
    let mut eval = LiveEvaluator::new(Nb201Builder, train, valid, cfg, Device::flex()).unwrap();
    // 2 anchors (free), then 2 charged queries; bounded by iterations, not seconds.
    let budget = Budget {
        time_s: f64::MAX,
        max_iters: 1,
        ..Budget::default()
    };
    let dsm = DsmNas::new(DsmConfig {
        k: 2,
        ..DsmConfig::default()
    });
    let out = dsm
        .search(&Nb201Space, &mut eval, budget, &mut seeded_rng(3))
        .unwrap();
    assert_eq!((out.evaluations, out.queries), (4, 2));
    assert!(out.cost_s > 0.0 && (0.0..=100.0).contains(&out.best_score));
    assert_eq!(out.final_anchors.len(), 2);
}

/// `search_live` with a guided method end to end: proxies computed by our models on the
/// training images, counted apart, and the same search twice gives the same cell.
#[test]
fn search_live_guided_by_proxies_counts_them_and_repeats() {
    let dir = std::env::temp_dir().join(format!("dsm-live-zc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = || {
        let out = std::process::Command::new(common::example("search_live"))
            .args([
                "--methods",
                "random,random+zc",
                "--queries",
                "2",
                "--epochs",
                "1",
            ])
            .args([
                "--final-epochs",
                "1",
                "--warm-start",
                "6",
                "--screen",
                "2",
                "--force",
            ])
            .arg("--out")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["trials"].as_array().unwrap().clone()
    };
    let first = run();
    let (plain, guided) = (&first[0], &first[1]);
    assert_eq!(
        (plain["method"].as_str(), guided["method"].as_str()),
        (Some("random"), Some("random+zc"))
    );
    // The warm start's 6 cells are scored; both queries are its best (no screening needed).
    assert_eq!(guided["proxy_evaluations"], 6);
    assert!(plain.get("proxy_evaluations").is_none());
    assert!(guided["cost_s"].as_f64().unwrap() > 0.0);
    let second = run();
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a["best_arch"], b["best_arch"]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
