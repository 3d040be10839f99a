//! Checkpointed searches: a search that dies at any evaluation and is resumed from its
//! checkpoint returns exactly what the uninterrupted search returns, for every method.

use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
use dsm_miner::{
    Accounting, Budget, ControllerEngine, DsmConfig, DsmNas, MinerError, RandomSearch,
    RegularizedEvolution, Reinforce, SearchCheckpoint, SearchOutcome, Searcher, seeded_rng,
};
use dsm_space::{Evaluation, Evaluator, Nb201Cell, Nb201Space};
use proptest::prelude::*;

/// The table evaluator, dying (like a killed process) after `limit` evaluations and counting
/// the evaluations it made.
struct Dying {
    table: Nb201Evaluator<'static>,
    limit: usize,
    calls: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("killed")]
struct Killed;

impl Evaluator<Nb201Cell> for Dying {
    type Error = Killed;
    fn evaluate(&mut self, arch: &Nb201Cell) -> Result<Evaluation, Killed> {
        if self.calls == self.limit {
            return Err(Killed);
        }
        self.calls += 1;
        Ok(self.table.evaluate(arch).unwrap())
    }
}

fn dying(limit: usize) -> Dying {
    Dying {
        table: Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar100, Signal::Valid200),
        limit,
        calls: 0,
    }
}

fn tmp(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("dsm-search-ckpt-{tag}-{}.json", std::process::id()))
}

const BUDGET: Budget = Budget {
    time_s: 25_000.0,
    max_iters: 60,
    accounting: Accounting::Repeated,
};

/// Uninterrupted, then killed after `kill_at` evaluations and resumed (possibly killed again
/// on the way); returns both outcomes and the evaluations the resumed run made.
fn kill_and_resume<M: Searcher<Nb201Space>>(
    m: &M,
    seed: u64,
    kill_at: &[usize],
    every: usize,
    tag: &str,
) -> (SearchOutcome<Nb201Cell>, SearchOutcome<Nb201Cell>, usize) {
    let plain = m
        .search(
            &Nb201Space,
            &mut dying(usize::MAX),
            BUDGET,
            &mut seeded_rng(seed),
        )
        .unwrap();
    let path = tmp(tag);
    let _ = std::fs::remove_file(&path);
    let ck = SearchCheckpoint::new(&path, every).with_label(format!("seed {seed}"));
    // `kill_at` counts evaluations from the start of the search; each process dies there.
    for &k in kill_at {
        let logged = ck.progress().unwrap().map_or(0, |p| p.evaluations);
        let mut rng = seeded_rng(seed);
        let err = ck
            .search(m, &Nb201Space, &mut dying(k - logged), BUDGET, &mut rng)
            .unwrap_err();
        assert!(matches!(err, MinerError::Evaluator { .. }), "{err}");
        let now = ck.progress().unwrap().map_or(0, |p| p.evaluations);
        assert_eq!(now, k - k % every, "checkpointed every {every} evaluations");
    }
    // A fresh process: a fresh RNG from the same seed (the checkpoint restores its state).
    let mut fresh = dying(usize::MAX);
    let resumed = ck
        .search(m, &Nb201Space, &mut fresh, BUDGET, &mut seeded_rng(seed))
        .unwrap();
    assert!(ck.progress().unwrap().unwrap().finished);
    std::fs::remove_file(&path).unwrap();
    (plain, resumed, fresh.calls)
}

#[test]
fn every_method_resumes_to_the_uninterrupted_result() {
    let burn_dsm = DsmNas::new(DsmConfig {
        engine: ControllerEngine::Burn,
        ..DsmConfig::default()
    });
    type Check = Box<dyn Fn(&[usize], usize) -> (bool, usize, usize)>;
    let methods: Vec<(&str, Check)> = vec![
        (
            "dsm",
            Box::new(|k: &[usize], e| check(&DsmNas::default(), k, e, "dsm")),
        ),
        (
            "dsm-burn",
            Box::new(move |k: &[usize], e| check(&burn_dsm, k, e, "dsm-burn")),
        ),
        (
            "rea",
            Box::new(|k: &[usize], e| check(&RegularizedEvolution::default(), k, e, "rea")),
        ),
        (
            "random",
            Box::new(|k: &[usize], e| check(&RandomSearch, k, e, "random")),
        ),
        (
            "reinforce",
            Box::new(|k: &[usize], e| check(&Reinforce::default(), k, e, "reinforce")),
        ),
    ];
    for (name, f) in &methods {
        // Killed during the free initial evaluations, mid-search (twice), near the end.
        for (kills, every) in [(&[1usize][..], 1), (&[20, 41][..], 1), (&[57][..], 5)] {
            let (same, total, resumed_calls) = f(kills, every);
            assert!(
                same,
                "{name}: killed at {kills:?}, checkpoint every {every}"
            );
            let last = *kills.last().unwrap();
            let saved = last - last % every; // what the last checkpoint held
            assert_eq!(
                resumed_calls,
                total - saved,
                "{name}: only unlogged queries are re-evaluated"
            );
        }
    }
}

fn check<M: Searcher<Nb201Space>>(
    m: &M,
    kills: &[usize],
    every: usize,
    tag: &str,
) -> (bool, usize, usize) {
    let (plain, resumed, calls) = kill_and_resume(m, 7, kills, every, tag);
    (plain == resumed, plain.evaluations, calls)
}

#[test]
fn foreign_and_damaged_checkpoints_are_refused_and_left_alone() {
    let path = tmp("refuse");
    let ck = SearchCheckpoint::new(&path, 1).with_label("trial 0");
    let dsm = DsmNas::default();
    let mut eval = dying(usize::MAX);
    ck.search(&dsm, &Nb201Space, &mut eval, BUDGET, &mut seeded_rng(1))
        .unwrap();
    let good = std::fs::read_to_string(&path).unwrap();
    let refused =
        |ck: &SearchCheckpoint,
         m: &dyn Fn(&SearchCheckpoint) -> Result<SearchOutcome<Nb201Cell>, MinerError>,
         needle: &str| {
            let before = std::fs::read(ck.path()).unwrap();
            let err = m(ck).unwrap_err();
            assert!(
                matches!(
                    err,
                    MinerError::Checkpoint { .. } | MinerError::CheckpointMismatch { .. }
                ),
                "{err}"
            );
            assert!(!err.to_string().contains(" { "), "no debug dump: {err}");
            let msg = err.to_string();
            assert!(
                msg.contains(needle) && msg.contains(&path.display().to_string()),
                "{msg}"
            );
            assert_eq!(std::fs::read(ck.path()).unwrap(), before, "left untouched");
        };
    let run_dsm = |cfg: DsmConfig, budget: Budget| {
        move |ck: &SearchCheckpoint| {
            ck.search(
                &DsmNas::new(cfg.clone()),
                &Nb201Space,
                &mut dying(usize::MAX),
                budget,
                &mut seeded_rng(1),
            )
        }
    };
    // Another label (trial), other settings, another budget, another method.
    refused(
        &SearchCheckpoint::new(&path, 1).with_label("trial 1"),
        &run_dsm(DsmConfig::default(), BUDGET),
        "label: \"trial 0\" in the checkpoint, \"trial 1\" here",
    );
    refused(
        &ck,
        &run_dsm(
            DsmConfig {
                k: 4,
                ..DsmConfig::default()
            },
            BUDGET,
        ),
        "another search: settings.config.k: 3 in the checkpoint, 4 here; to start over, delete it",
    );
    refused(
        &ck,
        &run_dsm(
            DsmConfig::default(),
            Budget {
                max_iters: 61,
                ..BUDGET
            },
        ),
        "budget.max_iters: 60 in the checkpoint, 61 here",
    );
    refused(
        &ck,
        &|ck: &SearchCheckpoint| {
            ck.search(
                &RandomSearch,
                &Nb201Space,
                &mut dying(usize::MAX),
                BUDGET,
                &mut seeded_rng(1),
            )
        },
        "method: \"dsm-nas\" in the checkpoint, \"random\" here",
    );
    // A log the replay contradicts (one architecture altered), a newer format, junk.
    let v: serde_json::Value = serde_json::from_str(&good).unwrap();
    let mut altered = v.clone();
    let first = altered["evaluations"][5]["arch"].clone();
    altered["evaluations"][5]["arch"] = altered["evaluations"][9]["arch"].clone();
    assert_ne!(
        first, altered["evaluations"][5]["arch"],
        "pick two different architectures"
    );
    let mut newer = v.clone();
    newer["format"] = 9.into();
    for (doc, needle) in [
        (altered.to_string(), "does not belong"),
        (newer.to_string(), "format 9"),
        (
            good[..good.len() / 2].to_string(),
            "not a search checkpoint",
        ),
    ] {
        std::fs::write(&path, doc).unwrap();
        refused(&ck, &run_dsm(DsmConfig::default(), BUDGET), needle);
    }
    std::fs::remove_file(&path).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Search results do not depend on being checkpointed, killed and resumed.
    #[test]
    fn results_are_independent_of_kill_and_resume(
        seed in 0u64..1000,
        kill in 1usize..60,
        every in 1usize..8,
        method in 0usize..3,
    ) {
        let tag = format!("prop-{seed}-{kill}-{every}-{method}");
        let (plain, resumed, _) = match method {
            0 => kill_and_resume(&DsmNas::default(), seed, &[kill], every, &tag),
            1 => kill_and_resume(&RegularizedEvolution::default(), seed, &[kill], every, &tag),
            _ => kill_and_resume(&Reinforce::default(), seed, &[kill], every, &tag),
        };
        prop_assert_eq!(plain, resumed);
    }
}
