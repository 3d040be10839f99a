//! DSM-NAS over the NAS-Bench-201 space with live training instead of a table.

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
