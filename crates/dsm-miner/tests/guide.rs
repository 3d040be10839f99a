//! Proxy-guided search through the driver: the warm start serves the best first (random
//! search's queries, DSM-NAS's anchors, REA's population), screened proposals are the best
//! of their candidates, proxy costs are charged and counted, bad scorer output is refused,
//! and on the table the guidance lifts small-budget searches.

use std::sync::{Arc, Mutex};

use dsm_bench::proxies::{Proxy, ZcScorer};
use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
use dsm_miner::{
    Budget, DsmConfig, GuideConfig, GuideSpec, Guided, MinerError, RandomSearch, Registry,
    ScorerFactory, SearchOutcome, Searcher, seeded_rng,
};
use dsm_space::{Evaluation, Nb201Cell, Nb201Space, ProxyScore, ProxyScorer};

type Scored = Arc<Mutex<Vec<(Nb201Cell, f64)>>>;

/// FreeREA's logsynflow on CIFAR-10, every scored cell recorded in order.
struct Recording {
    zc: ZcScorer,
    seen: Scored,
}

impl ProxyScorer<Nb201Cell> for Recording {
    type Error = dsm_bench::BenchError;
    fn score(&mut self, cell: &Nb201Cell) -> Result<ProxyScore, Self::Error> {
        let s = self.zc.score(cell)?;
        self.seen.lock().unwrap().push((*cell, s.values[0]));
        Ok(s)
    }
}

fn recording() -> (ScorerFactory<Nb201Cell>, Scored) {
    let seen: Scored = Arc::default();
    let s = seen.clone();
    let factory: ScorerFactory<Nb201Cell> = Arc::new(move || {
        let zc = ZcScorer::new(Dataset::Cifar10, &[Proxy::Logsynflow])?;
        Ok(dsm_miner::boxed_scorer(Recording {
            zc,
            seen: s.clone(),
        }))
    });
    (factory, seen)
}

fn guide(warm_start: usize, screen: usize) -> GuideConfig {
    GuideConfig {
        proxies: vec!["logsynflow".into()],
        warm_start,
        screen,
    }
}

/// A search's outcome and every evaluation it made, in order.
type Run = (SearchOutcome<Nb201Cell>, Vec<(Nb201Cell, Evaluation)>);

/// Runs `method` on the hp12 table, recording every evaluation (initial ones included).
fn run(method: &dyn Searcher<Nb201Space>, budget: Budget, seed: u64) -> Result<Run, MinerError> {
    let mut evaluated = Vec::new();
    let mut eval = dsm_space::Observed::new(
        Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Hp12),
        |c: &Nb201Cell, e: &Evaluation| evaluated.push((*c, *e)),
    );
    let out = dsm_miner::driver_for(method, &Nb201Space, budget)?
        .run(&mut eval, &mut seeded_rng(seed))?;
    Ok((out, evaluated))
}

fn sorted_desc(v: &[(Nb201Cell, f64)]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().map(|x| x.1).collect();
    s.sort_by(|a, b| b.total_cmp(a));
    s
}

#[test]
fn warm_start_serves_random_search_its_best_first() {
    let (factory, seen) = recording();
    let method = Guided::new(RandomSearch, guide(50, 1), factory);
    let (out, evaluated) = run(&method, Budget::queries(20), 3).unwrap();
    assert_eq!(out.queries, 20);
    assert_eq!(out.proxy_evaluations, 50);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 50);
    let best = sorted_desc(&seen);
    let queried: Vec<f64> = evaluated
        .iter()
        .map(|(c, _)| seen.iter().find(|s| s.0 == *c).unwrap().1)
        .collect();
    assert_eq!(queried, best[..20]);
}

#[test]
fn initial_anchors_and_population_are_the_warm_starts_best() {
    for (name, initial) in [("dsm-nas+zc", 3), ("rea+zc", 10)] {
        let (factory, seen) = recording();
        let spec = GuideSpec {
            config: guide(30, 1),
            scorer: factory,
        };
        let method = Registry::<Nb201Space>::builtin()
            .searcher(name, &DsmConfig::default(), Some(&spec))
            .unwrap();
        assert_eq!(method.name(), name);
        let (_, evaluated) = run(&*method, Budget::queries(5), 11).unwrap();
        let seen = seen.lock().unwrap();
        let pool = &seen[..30];
        let best = sorted_desc(pool);
        let first: Vec<f64> = evaluated[..initial]
            .iter()
            .map(|(c, _)| pool.iter().find(|s| s.0 == *c).unwrap().1)
            .collect();
        assert_eq!(first, best[..initial], "{name}");
    }
}

#[test]
fn screened_proposals_are_the_best_of_their_candidates() {
    for name in ["rea+zc", "dsm-nas+zc", "reinforce+zc", "random+zc"] {
        let (factory, seen) = recording();
        let spec = GuideSpec {
            config: guide(0, 5),
            scorer: factory,
        };
        let method = Registry::<Nb201Space>::builtin()
            .searcher(name, &DsmConfig::default(), Some(&spec))
            .unwrap();
        let (out, evaluated) = run(&*method, Budget::queries(9), 5).unwrap();
        let seen = seen.lock().unwrap();
        // Every evaluation (the initial ones drawn by `sample`, screened too) is the best of
        // its group of five candidates, in order.
        assert_eq!(seen.len(), 5 * evaluated.len(), "{name}");
        assert_eq!(out.proxy_evaluations, seen.len());
        for (group, (cell, _)) in seen.chunks(5).zip(&evaluated) {
            let best = sorted_desc(group)[0];
            let chosen = group.iter().find(|s| s.0 == *cell).unwrap().1;
            assert_eq!(chosen, best, "{name}");
        }
    }
}

#[test]
fn proxy_costs_are_charged_to_the_budget_and_counted() {
    struct Costly;
    impl ProxyScorer<Nb201Cell> for Costly {
        type Error = std::convert::Infallible;
        fn score(&mut self, c: &Nb201Cell) -> Result<ProxyScore, Self::Error> {
            let params = c.to_string().matches("conv").count() as f64;
            Ok(ProxyScore {
                values: vec![params],
                cost_s: 100.0,
            })
        }
    }
    let factory: ScorerFactory<Nb201Cell> = Arc::new(|| Ok(dsm_miner::boxed_scorer(Costly)));
    let method = Guided::new(RandomSearch, guide(0, 4), factory);
    let budget = Budget {
        time_s: 5_000.0,
        ..Budget::default()
    };
    let (out, evaluated) = run(&method, budget, 1).unwrap();
    let charged: f64 = evaluated.iter().map(|(_, e)| e.cost_s).sum();
    assert_eq!(out.proxy_evaluations, 4 * out.queries);
    assert!((out.proxy_cost_s - 400.0 * out.queries as f64).abs() < 1e-9);
    assert!((out.cost_s - charged - out.proxy_cost_s).abs() < 1e-6);
    // The proxies' 400 s a query leave room for fewer queries than the unguided search.
    let (plain, _) = run(&RandomSearch, budget, 1).unwrap();
    assert!(
        out.queries < plain.queries,
        "{} vs {}",
        out.queries,
        plain.queries
    );
}

#[test]
fn guided_searches_are_reproducible() {
    let a = run(
        &Guided::new(RandomSearch, guide(20, 3), recording().0),
        Budget::queries(15),
        9,
    );
    let b = run(
        &Guided::new(RandomSearch, guide(20, 3), recording().0),
        Budget::queries(15),
        9,
    );
    assert_eq!(a.unwrap().0, b.unwrap().0);
}

#[test]
fn unusable_scorer_output_is_refused() {
    struct Bad(Vec<f64>, f64);
    impl ProxyScorer<Nb201Cell> for Bad {
        type Error = std::convert::Infallible;
        fn score(&mut self, _: &Nb201Cell) -> Result<ProxyScore, Self::Error> {
            Ok(ProxyScore {
                values: self.0.clone(),
                cost_s: self.1,
            })
        }
    }
    for (values, cost, what) in [
        (vec![f64::NAN], 0.1, "value NaN"),
        (vec![1.0, 2.0], 0.1, "2 values for 1 proxies"),
        (vec![1.0], -1.0, "cost -1"),
    ] {
        let v = values.clone();
        let factory: ScorerFactory<Nb201Cell> =
            Arc::new(move || Ok(dsm_miner::boxed_scorer(Bad(v.clone(), cost))));
        let err = run(
            &Guided::new(RandomSearch, guide(0, 2), factory),
            Budget::queries(3),
            0,
        )
        .unwrap_err();
        assert!(matches!(err, MinerError::ProxyValue { .. }), "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
    // A scorer that cannot be made, and one that fails, are errors with their cause.
    let factory: ScorerFactory<Nb201Cell> = Arc::new(|| {
        Ok(dsm_miner::boxed_scorer(ZcScorer::new(
            Dataset::ImageNet16,
            &[Proxy::Nregions],
        )?))
    });
    let err = run(
        &Guided::new(RandomSearch, guide(5, 1), factory),
        Budget::queries(3),
        0,
    )
    .unwrap_err();
    assert!(matches!(err, MinerError::ProxySetup { .. }), "{err}");
    // Settings that guide nothing are refused before any evaluation.
    let err = run(
        &Guided::new(RandomSearch, guide(0, 1), recording().0),
        Budget::queries(3),
        0,
    )
    .unwrap_err();
    assert!(err.to_string().contains("warm_start"), "{err}");
    assert!(
        Registry::<Nb201Space>::builtin()
            .searcher("dsm-nas+zc", &DsmConfig::default(), None)
            .is_err()
    );
}

#[test]
fn the_proxies_lift_a_twelve_query_random_search_on_the_table() {
    // The measurement, smaller: 100 seeds at 12 queries, FreeREA's two proxies.
    let table = Nb201Table::embedded();
    let spec = GuideSpec {
        config: GuideConfig::default(),
        scorer: Arc::new(|| {
            let zc = ZcScorer::new(Dataset::Cifar10, &[Proxy::Logsynflow, Proxy::Naswot])?;
            Ok(dsm_miner::boxed_scorer(zc))
        }),
    };
    let mean = |name: &str| {
        let m = Registry::<Nb201Space>::builtin()
            .searcher(name, &DsmConfig::default(), Some(&spec))
            .unwrap();
        let total: f64 = (0..100)
            .map(|seed| {
                let (out, _) = run(&*m, Budget::queries(11), seed).unwrap();
                table.lookup(&out.best, Dataset::Cifar10).test_acc
            })
            .sum();
        total / 100.0
    };
    let (plain, guided) = (mean("random"), mean("random+zc"));
    assert!(
        guided > plain + 0.4,
        "random {plain:.2}, random+zc {guided:.2}"
    );
}
