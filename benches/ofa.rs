//! Hardware-aware search speed with Once-for-All's predictor: scoring 10,000 subnets in one
//! batch, and one 2,000-evaluation DSM-NAS search under 25 ms of Note10 latency (the
//! resolution searched too).
//!
//! `cargo bench -p dsm-nas --bench ofa`. OFA's files are not shipped: the bench reads them
//! from `$DSM_OFA_DIR` (a folder holding `acc_predictor.pth` and `note10/`), else from the
//! project's `../shared/data/ofa`, and says so and measures nothing without them.

use std::path::PathBuf;

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use dsm_nas::bench::latency::LatencyTable;
use dsm_nas::miner::seeded_rng;
use dsm_nas::protocol::hardware::{HardwareConfig, Limit};
use dsm_nas::space::{MbV3ResolutionSpace, MbV3Space, MbV3Subnet, OFA_RESOLUTIONS, SearchSpace};
use dsm_nas::train::ofa::OfaPredictor;

fn ofa_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("DSM_OFA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ofa")
        });
    dir.join("acc_predictor.pth").exists().then_some(dir)
}

fn ofa(c: &mut Criterion) {
    let Some(dir) = ofa_dir() else {
        eprintln!(
            "ofa bench: no acc_predictor.pth in $DSM_OFA_DIR or ../shared/data/ofa; nothing measured"
        );
        return;
    };
    let dev = Device::flex();
    let predictor = OfaPredictor::load(&dir.join("acc_predictor.pth"), &dev).unwrap();
    let space = MbV3ResolutionSpace::new(MbV3Space::new(1.2).unwrap(), &OFA_RESOLUTIONS).unwrap();
    let mut rng = seeded_rng(0);
    let subnets: Vec<MbV3Subnet> = (0..10_000)
        .map(|_| space.sample(&mut rng).unwrap())
        .collect();
    let mut g = c.benchmark_group("ofa");
    g.sample_size(10);
    g.bench_function("predict_10000_batched", |b| {
        b.iter(|| predictor.predict(&subnets).unwrap())
    });
    let latency = LatencyTable::load_dir(&dir.join("note10")).unwrap();
    let study = HardwareConfig {
        limit: Limit::Latency { ms: 25.0 },
        methods: vec!["dsm-nas".into()],
        evaluations: 2000,
        ..HardwareConfig::default()
    }
    .check(Some(&latency))
    .unwrap();
    let mut eval = predictor.evaluator(study.space()).unwrap();
    g.bench_function("dsm_nas_2000_evaluations_25ms", |b| {
        b.iter(|| {
            // One method, one trial: one search of 2,000 evaluations.
            study.run(&mut eval, |_| {}).unwrap()[0].predicted_acc
        })
    });
    g.finish();
}

criterion_group!(benches, ofa);
criterion_main!(benches);
