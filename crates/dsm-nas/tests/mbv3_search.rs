//! The MobileNet-space search with an accuracy predictor: the predictor ranks held-out
//! architectures of a known accuracy function, survives a save/load round trip, and the
//! constrained search never returns an architecture over the MAdds limit.

use std::sync::Arc;

use burn::prelude::*;
use dsm_nas::miner::{Budget, DsmNas, Searcher, seeded_rng};
use dsm_nas::space::{MbV3Arch, MbV3Space, Nb201Space, SearchSpace};
use dsm_nas::train::TrainError;
use dsm_nas::train::predictor::{AccuracyPredictor, PredictorConfig, spearman};

/// A known, nonlinear accuracy function of a subnet: larger kernels and expansions help, more
/// so in later units, depth helps with diminishing returns, squashed by tanh.
fn synthetic_accuracy(a: &MbV3Arch) -> f64 {
    let mut s = 0.0;
    for (u, unit) in a.units().iter().enumerate() {
        for l in unit {
            s += (0.1 * (l.kernel as f64 - 3.0) + 0.15 * (l.expand as f64 - 3.0))
                * (1.0 + 0.2 * u as f64);
        }
        s += 0.8 * (unit.len() as f64).ln();
    }
    let d = a.depths();
    s += 0.05 * d[0] as f64 * d[4] as f64;
    70.0 + 8.0 * (s / 12.0).tanh()
}

fn pairs(space: &MbV3Space, n: usize, seed: u64) -> Vec<(MbV3Arch, f64)> {
    let mut rng = seeded_rng(seed);
    (0..n)
        .map(|_| {
            let a = space.sample(&mut rng).unwrap();
            let y = synthetic_accuracy(&a);
            (a, y)
        })
        .collect()
}

#[test]
fn the_predictor_ranks_held_out_subnets_and_survives_save_and_load() {
    let space = MbV3Space::new(1.2).unwrap();
    let dev = Device::flex();
    let train = pairs(&space, 1000, 1);
    let held_out = pairs(&space, 300, 2);
    let cfg = PredictorConfig {
        epochs: 60,
        ..PredictorConfig::default()
    };
    let (p, report) = AccuracyPredictor::fit(&space, &train, &cfg, &dev).unwrap();
    let archs: Vec<MbV3Arch> = held_out.iter().map(|p| p.0.clone()).collect();
    let truth: Vec<f64> = held_out.iter().map(|p| p.1).collect();
    let guess = p.predict(&space, &archs).unwrap();
    let rho = spearman(&guess, &truth);
    eprintln!(
        "held-out Spearman {rho:.4}, train {:.4}, loss {:.4}",
        report.train_spearman, report.final_loss
    );
    assert!(rho >= 0.9, "held-out Spearman {rho}");

    let dir = std::env::temp_dir().join(format!("dsm-predictor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("predictor.bin");
    p.save(&path).unwrap();
    let q = AccuracyPredictor::load(&path, &dev).unwrap();
    assert_eq!(
        q.predict(&space, &archs).unwrap(),
        guess,
        "reloaded predictions are identical"
    );
    // Same seed, same predictor.
    let (again, _) = AccuracyPredictor::fit(&space, &train, &cfg, &dev).unwrap();
    assert_eq!(again.predict(&space, &archs).unwrap(), guess);

    // Bad input: another space, a damaged file, unusable pairs or settings.
    assert!(matches!(
        q.evaluator(&Nb201Space),
        Err(TrainError::Input { .. })
    ));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(dir.join("cut.bin"), &bytes[..bytes.len() - 10]).unwrap();
    let err = AccuracyPredictor::load(&dir.join("cut.bin"), &dev).unwrap_err();
    assert!(
        matches!(err, TrainError::Format(_)) && err.to_string().contains("cut.bin"),
        "{err}"
    );
    let nan = vec![(train[0].0.clone(), f64::NAN), train[1].clone()];
    assert!(
        AccuracyPredictor::fit(&space, &nan, &cfg, &dev)
            .unwrap_err()
            .to_string()
            .contains("not a finite number")
    );
    let flat = vec![(train[0].0.clone(), 70.0), (train[1].0.clone(), 70.0)];
    assert!(AccuracyPredictor::fit(&space, &flat, &cfg, &dev).is_err());
    let bad = PredictorConfig {
        dropout: 1.0,
        ..cfg.clone()
    };
    assert!(AccuracyPredictor::fit(&space, &train, &bad, &dev).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_constrained_search_never_returns_a_subnet_over_the_limit() {
    let space = MbV3Space::new(1.2).unwrap();
    let dev = Device::flex();
    let cfg = PredictorConfig {
        epochs: 10,
        ..PredictorConfig::default()
    };
    let (p, _) = AccuracyPredictor::fit(&space, &pairs(&space, 300, 3), &cfg, &dev).unwrap();
    let madds = |a: &MbV3Arch| space.cost_at(a, 224).unwrap().madds;
    for (limit, seed) in [(600_000_000u64, 0u64), (450_000_000, 1), (600_000_000, 2)] {
        let s = space;
        let dsm = DsmNas::default().with_constraint(Arc::new(move |a: &MbV3Arch| {
            s.cost_at(a, 224).is_ok_and(|c| c.madds <= limit)
        }));
        let mut eval = p.evaluator(&space).unwrap();
        let budget = Budget {
            max_iters: 60,
            ..Budget::default()
        };
        let out = dsm
            .search(&space, &mut eval, budget, &mut seeded_rng(seed))
            .unwrap();
        assert!(madds(&out.best) <= limit, "answer over the limit");
        assert!(out.history.iter().all(|h| madds(&h.best) <= limit));
        assert!(out.final_anchors.iter().all(|a| madds(a) <= limit));
        // The predictor drives it towards the limit: the answer is not a tiny subnet.
        assert!(madds(&out.best) > limit / 2);
    }
}
