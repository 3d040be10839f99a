//! DSM-NAS search speed: one trial (201 controller steps: forward, backward, Adam) with each
//! controller implementation, and the whole 20-trial CIFAR-10 protocol run sequentially.
//!
//! `cargo bench -p dsm-nas --bench search`

use criterion::{Criterion, criterion_group, criterion_main};
use dsm_nas::bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
use dsm_nas::miner::{
    Budget, ControllerEngine, DsmConfig, DsmNas, RegularizedEvolution, Searcher, seeded_rng,
};
use dsm_nas::space::Nb201Space;

fn trial(engine: ControllerEngine, seed: u64) -> f64 {
    let mut eval = Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
    let budget = Budget {
        time_s: f64::MAX,
        ..Budget::default()
    }; // exactly 201 steps
    let dsm = DsmNas::new(DsmConfig {
        engine,
        ..DsmConfig::default()
    });
    dsm.search(&Nb201Space, &mut eval, budget, &mut seeded_rng(seed))
        .unwrap()
        .best_score
}

/// The 20-trial CIFAR-10 protocol (seeds 23555 + i), run sequentially.
fn protocol<M: Searcher<Nb201Space>>(method: &M) -> f64 {
    (0..20u64)
        .map(|i| {
            let mut eval =
                Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
            method
                .search(
                    &Nb201Space,
                    &mut eval,
                    Budget::default(),
                    &mut seeded_rng(23555 + i),
                )
                .unwrap()
                .best_score
        })
        .sum()
}

fn search(c: &mut Criterion) {
    let mut g = c.benchmark_group("dsm");
    g.sample_size(10);
    g.bench_function("trial_201_steps_native", |b| {
        b.iter(|| trial(ControllerEngine::Native, 23555))
    });
    g.bench_function("trial_201_steps_burn", |b| {
        b.iter(|| trial(ControllerEngine::Burn, 23555))
    });
    g.bench_function("protocol_20_trials_cifar10_sequential", |b| {
        b.iter(|| protocol(&DsmNas::default()))
    });
    g.bench_function("rea_20_trials_cifar10", |b| {
        b.iter(|| protocol(&RegularizedEvolution::default()))
    });
    g.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
