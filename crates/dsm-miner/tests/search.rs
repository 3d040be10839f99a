//! Searches end to end on the embedded NAS-Bench-201 table: protocol, determinism,
//! accounting, constraints, transfer, errors.

use std::sync::Arc;

use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
use dsm_miner::{
    Accounting, Budget, CandidateGraph, ControllerEngine, DsmConfig, DsmNas, MinerError,
    RandomSearch, RegularizedEvolution, Reinforce, SearchOutcome, Searcher, seeded_rng,
};
use dsm_space::{Evaluation, Evaluator, Nb201Cell, Nb201Op, Nb201Space};
use proptest::prelude::*;

fn eval(dataset: Dataset) -> Nb201Evaluator<'static> {
    Nb201Evaluator::new(Nb201Table::embedded(), dataset, Signal::Valid200)
}

fn run<M: Searcher<Nb201Space>>(m: &M, budget: Budget, seed: u64) -> SearchOutcome<Nb201Cell> {
    m.search(
        &Nb201Space,
        &mut eval(Dataset::Cifar10),
        budget,
        &mut seeded_rng(seed),
    )
    .unwrap()
}

fn check_stopping_rule(out: &SearchOutcome<Nb201Cell>, budget: Budget, free: usize) {
    assert!(out.iterations <= budget.max_iters + 1);
    assert_eq!(out.evaluations, out.queries + free);
    // Stopped by the iteration limit, or by the query that crossed the budget.
    let last = out.history.last().unwrap();
    let before = &out.history[out.history.len() - 2];
    assert!(
        out.iterations == budget.max_iters + 1
            || (last.cost_s > budget.time_s && before.cost_s <= budget.time_s)
    );
    // The best-so-far never decreases and ends at the answer.
    assert!(
        out.history
            .windows(2)
            .all(|w| w[1].best_score >= w[0].best_score)
    );
    assert_eq!(last.best_score, out.best_score);
}

#[test]
fn every_method_follows_the_protocol() {
    let b = Budget::default();
    let dsm = run(&DsmNas::default(), b, 1);
    check_stopping_rule(&dsm, b, 3);
    assert_eq!(dsm.final_anchors.len(), 3);
    let rea = run(&RegularizedEvolution::default(), b, 1);
    check_stopping_rule(&rea, b, 10);
    check_stopping_rule(&run(&RandomSearch, b, 1), b, 0);
    check_stopping_rule(&run(&Reinforce::default(), b, 1), b, 0);
    // A small time budget stops on cost, a small iteration limit on iterations.
    let tight = Budget {
        time_s: 2_000.0,
        ..b
    };
    let out = run(&DsmNas::default(), tight, 2);
    check_stopping_rule(&out, tight, 3);
    assert!(out.cost_s > 2_000.0 && out.iterations < 50);
    let short = Budget { max_iters: 10, ..b };
    assert_eq!(
        run(&RegularizedEvolution::default(), short, 2).iterations,
        11
    );
}

#[test]
fn same_seed_same_result() {
    let b = Budget::default();
    assert_eq!(run(&DsmNas::default(), b, 7), run(&DsmNas::default(), b, 7));
    assert_ne!(
        run(&DsmNas::default(), b, 7).history,
        run(&DsmNas::default(), b, 8).history
    );
    assert_eq!(
        run(&RegularizedEvolution::default(), b, 7),
        run(&RegularizedEvolution::default(), b, 7)
    );
    assert_eq!(
        run(&Reinforce::default(), b, 7),
        run(&Reinforce::default(), b, 7)
    );
    assert_eq!(run(&RandomSearch, b, 7), run(&RandomSearch, b, 7));
}

#[test]
fn dsm_answers_with_its_best_anchor_and_beats_random_search() {
    let b = Budget::default();
    let table = Nb201Table::embedded();
    let (mut dsm, mut rs) = (0.0, 0.0);
    for seed in 0..8 {
        let d = run(&DsmNas::default(), b, seed);
        assert!(d.final_anchors.contains(&d.best));
        assert_eq!(
            table.lookup(&d.best, Dataset::Cifar10).valid_acc,
            d.best_score
        );
        dsm += d.best_score;
        rs += run(&RandomSearch, b, seed).best_score;
    }
    assert!(
        dsm > rs,
        "DSM-NAS {dsm} vs random {rs} (sum of 8 validation accuracies)"
    );
}

#[test]
fn distinct_accounting_charges_each_architecture_once() {
    let b = Budget {
        accounting: Accounting::Distinct,
        ..Budget::default()
    };
    let repeated = run(&DsmNas::default(), Budget::default(), 3);
    let distinct = run(&DsmNas::default(), b, 3);
    check_stopping_rule(&distinct, b, 3);
    assert!(distinct.queries <= distinct.iterations);
    assert!(repeated.queries == repeated.iterations);
    // On a short iteration budget DSM repeats architectures: fewer charged queries then.
    let short = Budget {
        max_iters: 150,
        accounting: Accounting::Distinct,
        time_s: 1e9,
    };
    let out = run(&DsmNas::default(), short, 3);
    assert!(
        out.queries < out.iterations,
        "{} < {}",
        out.queries,
        out.iterations
    );
}

#[test]
fn a_constraint_is_never_violated_by_anchors_or_the_answer() {
    // No convolution on the first edge.
    let ok = |c: &Nb201Cell| !matches!(c.op(0), Nb201Op::NorConv3x3 | Nb201Op::NorConv1x1);
    let dsm = DsmNas::default().with_constraint(Arc::new(ok));
    for seed in 0..4 {
        let out = run(&dsm, Budget::default(), seed);
        assert!(ok(&out.best));
        assert!(out.final_anchors.iter().all(ok));
        assert!(out.history.iter().all(|h| ok(&h.best)));
    }
    let never = DsmNas::default().with_constraint(Arc::new(|_: &Nb201Cell| false));
    let err = never
        .search(
            &Nb201Space,
            &mut eval(Dataset::Cifar10),
            Budget::default(),
            &mut seeded_rng(0),
        )
        .unwrap_err();
    assert!(
        matches!(err, MinerError::ConstraintUnmet { draws: 10_000 })
            && err.to_string().contains("loosen it"),
        "{err}"
    );
}

#[test]
fn reference_compat_mode_differs_but_stays_valid() {
    let compat = DsmNas::new(DsmConfig {
        reference_compat: true,
        ..DsmConfig::default()
    });
    let a = run(&compat, Budget::default(), 4);
    let b = run(&DsmNas::default(), Budget::default(), 4);
    assert_ne!(a.history, b.history);
    check_stopping_rule(&a, Budget::default(), 3);
    let table = Nb201Table::embedded();
    assert_eq!(
        table.lookup(&a.best, Dataset::Cifar10).valid_acc,
        a.best_score
    );
}

#[test]
fn transfer_starts_from_the_given_anchors() {
    let source = run(&DsmNas::default(), Budget::default(), 5);
    let plus = DsmNas::default().with_initial_anchors(source.final_anchors.clone());
    assert_eq!(Searcher::<Nb201Space>::name(&plus), "dsm-nas+");
    let out = plus
        .search(
            &Nb201Space,
            &mut eval(Dataset::Cifar100),
            Budget::default(),
            &mut seeded_rng(5),
        )
        .unwrap();
    let table = Nb201Table::embedded();
    let start = source
        .final_anchors
        .iter()
        .map(|a| table.lookup(a, Dataset::Cifar100).valid_acc)
        .fold(f64::MIN, f64::max);
    assert!(out.best_score >= start);
    assert_eq!(out.final_anchors.len(), source.final_anchors.len());
    let one = DsmNas::default().with_initial_anchors(vec![source.best]);
    assert!(matches!(
        one.search(
            &Nb201Space,
            &mut eval(Dataset::Cifar100),
            Budget::default(),
            &mut seeded_rng(5)
        ),
        Err(MinerError::Config {
            field: "initial_anchors",
            ..
        })
    ));
}

#[test]
fn the_burn_controller_searches_too() {
    let dsm = DsmNas::new(DsmConfig {
        engine: ControllerEngine::Burn,
        ..DsmConfig::default()
    });
    let b = Budget {
        max_iters: 30,
        ..Budget::default()
    };
    let out = run(&dsm, b, 6);
    check_stopping_rule(&out, b, 3);
    assert_eq!(out, run(&dsm, b, 6));
}

struct Broken(f64);

#[derive(Debug, thiserror::Error)]
#[error("the GPU caught fire")]
struct Fire;

impl Evaluator<Nb201Cell> for Broken {
    type Error = Fire;
    fn evaluate(&mut self, arch: &Nb201Cell) -> Result<Evaluation, Fire> {
        if self.0 < 0.0 {
            return Err(Fire);
        }
        Ok(Evaluation {
            score: if arch.op(5) == Nb201Op::None {
                self.0
            } else {
                50.0
            },
            cost_s: 1.0,
        })
    }
}

#[test]
fn bad_evaluators_and_configs_are_typed_errors() {
    let b = Budget::default();
    let mut rng = seeded_rng(0);
    let e = RandomSearch
        .search(&Nb201Space, &mut Broken(f64::NAN), b, &mut rng)
        .unwrap_err();
    assert!(
        matches!(e, MinerError::NotFinite { what: "score", .. }),
        "{e}"
    );
    let e = DsmNas::default()
        .search(&Nb201Space, &mut Broken(-1.0), b, &mut rng)
        .unwrap_err();
    assert!(
        matches!(&e, MinerError::Evaluator { source, .. } if source.to_string().contains("caught fire"))
            && !e.to_string().contains("caught fire"),
        "{e}"
    );
    let bad_k = DsmNas::new(DsmConfig {
        k: 1,
        ..DsmConfig::default()
    });
    assert!(matches!(
        bad_k.search(&Nb201Space, &mut eval(Dataset::Cifar10), b, &mut rng),
        Err(MinerError::Config { field: "k", .. })
    ));
    assert!(
        DsmConfig {
            learning_rate: f64::NAN,
            ..DsmConfig::default()
        }
        .check()
        .is_err()
    );
    let bad_budget = Budget {
        time_s: f64::INFINITY,
        ..b
    };
    assert!(matches!(
        RandomSearch.search(
            &Nb201Space,
            &mut eval(Dataset::Cifar10),
            bad_budget,
            &mut rng
        ),
        Err(MinerError::Config { .. })
    ));
}

proptest! {
    #[test]
    fn the_candidate_graph_is_a_tournament_from_worse_to_better(scores in proptest::collection::vec(0u8..4, 2..7)) {
        let g = CandidateGraph::new(scores.iter().map(|&s| ((), s as f64, vec![], vec![])).collect());
        let edges = g.edges();
        let n = scores.len();
        prop_assert_eq!(edges.len(), n * (n - 1) / 2);
        for i in 0..n {
            for j in i + 1..n {
                let fwd = edges.contains(&(i, j));
                let back = edges.contains(&(j, i));
                prop_assert!(fwd ^ back);
                // From the worse to the better; ties from the lower index.
                prop_assert_eq!(fwd, scores[i] <= scores[j]);
            }
        }
    }
}
