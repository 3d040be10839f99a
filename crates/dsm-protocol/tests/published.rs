//! The published NAS-Bench-201 protocol gives, trial for trial, the results recorded from
//! main before the ask/tell redesign (`tests/data/main-2026-12-02.json`: per trial the
//! method, dataset, seed, answer, test accuracy, queries, cost and the fingerprint of the
//! whole record, history included), for the four configurations the redesign was checked on.
//! Each configuration runs its first 5 trials here (trial `i` depends only on seed
//! `23555 + i`, so they are the recorded run's first 5 of every method and dataset); all 400
//! recorded trials were compared once, when the fixture was recorded (`TRIALS=20` runs them
//! all again).

use dsm_protocol::Execution;
use dsm_protocol::nb201::Nb201Config;

fn recorded(config: &str) -> Vec<serde_json::Value> {
    let text = include_str!("data/main-2026-12-02.json");
    let all: serde_json::Value = serde_json::from_str(text).expect("the fixture parses");
    all[config].as_array().expect("a configuration").clone()
}

/// The trials each configuration runs: 5, or `TRIALS` from the environment (20 for all).
fn trials() -> usize {
    std::env::var("TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(5)
}

fn check(name: &str, config: Nb201Config) {
    let config = Nb201Config {
        trials: trials(),
        ..config
    };
    let last_seed = config.seed + config.trials as u64;
    let protocol = config.check().expect("a valid configuration");
    let results = protocol.run(Execution::default()).expect("the run");
    let want: Vec<serde_json::Value> = recorded(name)
        .into_iter()
        .filter(|t| t[2].as_u64().expect("a seed") < last_seed)
        .collect();
    assert_eq!(results.trials.len(), want.len(), "{name}: number of trials");
    for (t, w) in results.trials.iter().zip(&want) {
        let got = serde_json::json!([
            t.method,
            t.dataset,
            t.seed,
            t.best_arch,
            t.test_acc,
            t.queries,
            t.cost_s,
            t.fingerprint()
        ]);
        assert_eq!(
            &got, w,
            "{name}: {} on {} seed {}",
            t.method, t.dataset, t.seed
        );
    }
}

#[test]
fn the_default_protocol_matches_main() {
    check("default", Nb201Config::default());
}

#[test]
fn transfer_on_three_datasets_matches_main() {
    check(
        "transfer",
        Nb201Config {
            dataset: vec!["cifar10".into(), "cifar100".into(), "imagenet16".into()],
            transfer: true,
            ..Nb201Config::default()
        },
    );
}

#[test]
fn hp12_with_distinct_accounting_matches_main() {
    check(
        "hp12",
        Nb201Config {
            methods: vec!["dsm-nas".into()],
            signal: "hp12".into(),
            accounting: "distinct".into(),
            ..Nb201Config::default()
        },
    );
}

#[test]
fn reference_compat_matches_main() {
    check(
        "compat",
        Nb201Config {
            methods: vec!["dsm-nas".into()],
            reference_compat: true,
            ..Nb201Config::default()
        },
    );
}

#[test]
fn one_simulated_worker_gives_the_sequential_trials_and_eight_finish_sooner() {
    let run = |workers| {
        let config = Nb201Config {
            trials: 2,
            methods: vec!["dsm-nas".into(), "rea".into(), "random".into()],
            workers,
            ..Nb201Config::default()
        };
        config.check().unwrap().run(Execution::default()).unwrap()
    };
    let (plain, one, eight) = (run(None), run(Some(1)), run(Some(8)));
    for (p, o) in plain.trials.iter().zip(&one.trials) {
        assert!(p.history.clock_s.is_none());
        let clock = o.history.clock_s.clone().expect("a clock with workers");
        assert_eq!(clock.len(), o.history.cost_s.len());
        assert!(clock.windows(2).all(|w| w[0] <= w[1]));
        let mut o = o.clone();
        o.history.clock_s = None;
        assert_eq!(
            p.fingerprint(),
            o.fingerprint(),
            "{} seed {}",
            p.method,
            p.seed
        );
    }
    for (o, e) in one.trials.iter().zip(&eight.trials) {
        let end =
            |t: &dsm_protocol::TrialRecord| *t.history.clock_s.as_ref().unwrap().last().unwrap();
        assert!(
            end(e) < end(o) / 5.0,
            "{}: {} vs {}",
            o.method,
            end(e),
            end(o)
        );
    }
}
