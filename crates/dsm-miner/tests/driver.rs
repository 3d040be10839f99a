//! The ask/tell driver: the blocking search is exactly its one-in-flight loop; several
//! proposals in flight, told in any order; a user's strategy in a list of boxed methods;
//! the constraint for every method; distinct accounting with repeats in flight; misuse.

use std::collections::VecDeque;
use std::sync::Arc;

use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
use dsm_miner::{
    Accounting, Ask, AskContext, Budget, DsmConfig, DsmNas, MinerError, OfaEvolution, Proposal,
    RandomSearch, Registry, RegularizedEvolution, Reinforce, SearchDriver, SearchOutcome, Searcher,
    Strategy, Told, seeded_rng,
};
use dsm_space::{Evaluation, Evaluator, Nb201Cell, Nb201Space, SearchSpace};
use rand::RngExt;

fn eval() -> Nb201Evaluator<'static> {
    Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200)
}

/// Runs `method` with `w` proposals in flight; results are told oldest first, or newest
/// first with `lifo`.
fn run_in_flight(
    method: &dyn Searcher<Nb201Space>,
    budget: Budget,
    seed: u64,
    w: usize,
    lifo: bool,
) -> SearchOutcome<Nb201Cell> {
    let space = Nb201Space;
    let mut driver = SearchDriver::new(&space, method.strategy(&space).unwrap(), budget)
        .unwrap()
        .with_constraint(method.constraint())
        .with_max_in_flight(w)
        .unwrap();
    let mut rng = seeded_rng(seed);
    let mut e = eval();
    let mut out: VecDeque<Proposal<Nb201Cell>> = VecDeque::new();
    loop {
        while let Some(p) = driver.ask(&mut rng).unwrap() {
            out.push_back(p);
        }
        assert!(out.len() <= w);
        let next = if lifo {
            out.pop_back()
        } else {
            out.pop_front()
        };
        let Some(p) = next else { break };
        driver.tell(p.id, e.evaluate(&p.arch).unwrap()).unwrap();
    }
    assert!(driver.is_done());
    driver.finish().unwrap()
}

fn methods() -> Vec<Box<dyn Searcher<Nb201Space> + Send + Sync>> {
    vec![
        Box::new(DsmNas::default()),
        Box::new(RandomSearch),
        Box::new(RegularizedEvolution::default()),
        Box::new(Reinforce::default()),
        Box::new(OfaEvolution {
            population: 20,
            ..OfaEvolution::default()
        }),
        Box::new(Greedy),
    ]
}

#[test]
fn one_in_flight_is_the_blocking_search() {
    let b = Budget::default();
    for m in methods() {
        let blocking = m
            .search(&Nb201Space, &mut eval(), b, &mut seeded_rng(5))
            .unwrap();
        assert_eq!(
            run_in_flight(m.as_ref(), b, 5, 1, false),
            blocking,
            "{}",
            m.name()
        );
    }
}

#[test]
fn several_in_flight_in_any_order_follow_the_stopping_rule() {
    let b = Budget::default();
    for m in methods() {
        for (w, lifo) in [(4, false), (4, true), (16, true)] {
            let out = run_in_flight(m.as_ref(), b, 9, w, lifo);
            let free = m.free_evaluations();
            assert_eq!(out.evaluations, out.queries + free, "{} w={w}", m.name());
            assert!(out.iterations <= b.max_iters + 1);
            // Asking stops once the budget is spent; the ones in flight are still charged,
            // so the overshoot is at most w - 1 queries beyond the crossing one.
            assert!(out.cost_s > b.time_s || out.iterations == b.max_iters + 1);
            assert!(
                out.best_score > 88.0,
                "{} w={w}: {}",
                m.name(),
                out.best_score
            );
            assert!(
                out.history
                    .windows(2)
                    .all(|p| p[1].best_score >= p[0].best_score)
            );
            // Deterministic for the same order of results.
            assert_eq!(out, run_in_flight(m.as_ref(), b, 9, w, lifo));
        }
    }
    // DSM-NAS's anchors stay its best: the answer is an anchor.
    let out = run_in_flight(&DsmNas::<Nb201Cell>::default(), b, 3, 8, true);
    assert!(out.final_anchors.contains(&out.best));
}

#[test]
fn the_constraint_binds_every_method() {
    // Only cells without a 3x3 convolution on the first edge.
    let ok = |c: &Nb201Cell| Nb201Space.choices_of(c)[0] != 3;
    let b = Budget {
        max_iters: 60,
        ..Budget::default()
    };
    for m in methods() {
        let space = Nb201Space;
        let out = SearchDriver::new(&space, m.strategy(&space).unwrap(), b)
            .unwrap()
            .with_constraint(Some(Arc::new(ok)))
            .run(&mut eval(), &mut seeded_rng(2))
            .unwrap();
        assert!(ok(&out.best), "{}: {}", m.name(), out.best);
        assert!(out.history.iter().all(|h| ok(&h.best)), "{}", m.name());
    }
}

#[test]
fn under_a_constraint_no_evaluation_is_spent_outside_it() {
    // Only cells without a 3x3 convolution on the first edge (a fifth of them fail).
    let ok = |c: &Nb201Cell| Nb201Space.choices_of(c)[0] != 3;
    let names: Vec<String> = ["dsm-nas", "random", "rea", "ofa-evolution"]
        .map(String::from)
        .to_vec();
    for m in Registry::<Nb201Space>::builtin()
        .searchers(&names, &DsmConfig::default(), None)
        .unwrap()
    {
        let space = Nb201Space;
        let mut seen = Vec::new();
        let mut e = dsm_space::Observed::new(eval(), |c: &Nb201Cell, _: &Evaluation| seen.push(*c));
        SearchDriver::new(&space, m.strategy(&space).unwrap(), Budget::queries(150))
            .unwrap()
            .with_constraint(Some(Arc::new(ok)))
            .run(&mut e, &mut seeded_rng(4))
            .unwrap();
        assert!(seen.len() >= 150, "{}", m.name());
        assert!(seen.iter().all(ok), "{} evaluated a cell outside", m.name());
    }
    // A constraint nothing meets stops the search with a clear error.
    let never = |_: &Nb201Cell| false;
    for m in Registry::<Nb201Space>::builtin()
        .searchers(&names, &DsmConfig::default(), None)
        .unwrap()
    {
        let space = Nb201Space;
        let err = SearchDriver::new(&space, m.strategy(&space).unwrap(), Budget::queries(5))
            .unwrap()
            .with_constraint(Some(Arc::new(never)))
            .run(&mut eval(), &mut seeded_rng(4))
            .unwrap_err();
        assert!(
            matches!(err, MinerError::ConstraintUnmet { .. }),
            "{}: {err}",
            m.name()
        );
    }
}

#[test]
fn ofa_evolution_keeps_the_best_of_every_generation_as_parents() {
    let evo = OfaEvolution {
        population: 10,
        parent_ratio: 0.3,
        ..OfaEvolution::default()
    };
    assert_eq!((evo.parents(), evo.mutations()), (3, 5));
    let mut scores = Vec::new();
    let mut e =
        dsm_space::Observed::new(eval(), |_: &Nb201Cell, r: &Evaluation| scores.push(r.score));
    // 10 free initial members, then 3 whole generations of 10 children.
    let out = evo
        .search(&Nb201Space, &mut e, Budget::queries(30), &mut seeded_rng(8))
        .unwrap();
    assert_eq!((out.evaluations, out.queries), (40, 30));
    // Elitist: the parents are the 3 best of everything evaluated.
    let mut top = scores.clone();
    top.sort_by(|a, b| b.total_cmp(a));
    let mut parents: Vec<f64> = out
        .final_anchors
        .iter()
        .map(|c| eval().evaluate(c).unwrap().score)
        .collect();
    parents.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(parents, top[..3]);
    assert_eq!(out.best_score, top[0]);
    // Settings are checked.
    for bad in [
        OfaEvolution {
            population: 1,
            ..evo.clone()
        },
        OfaEvolution {
            mutate_prob: 1.5,
            ..evo.clone()
        },
        OfaEvolution {
            parent_ratio: f64::NAN,
            ..evo.clone()
        },
    ] {
        assert!(Searcher::<Nb201Space>::strategy(&bad, &Nb201Space).is_err());
    }
    // Names: unknown and repeated ones are refused.
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cfg = DsmConfig::default();
    let Err(err) =
        Registry::<Nb201Space>::builtin().searchers(&names(&["dsm-nas", "bohb"]), &cfg, None)
    else {
        panic!("an unknown method was accepted");
    };
    assert!(
        err.to_string().contains("bohb") && err.to_string().contains("ofa-evolution"),
        "{err}"
    );
    assert!(
        Registry::<Nb201Space>::builtin()
            .searchers(&names(&["rea", "rea"]), &cfg, None)
            .is_err()
    );
    assert!(
        Registry::<Nb201Space>::builtin()
            .searchers(&[], &cfg, None)
            .is_err()
    );
}

#[test]
fn distinct_accounting_charges_a_repeat_in_flight_once() {
    /// Proposes the same cell three times, then random ones.
    struct Repeat(usize);
    impl Strategy<Nb201Space> for Repeat {
        fn ask(
            &mut self,
            ctx: &mut AskContext<'_, Nb201Space>,
        ) -> Result<Ask<Nb201Cell>, MinerError> {
            self.0 += 1;
            Ok(Ask::Query(if self.0 <= 3 {
                Nb201Table::embedded().cell(6111).unwrap()
            } else {
                ctx.space.sample(ctx.rng)?
            }))
        }
        fn tell(&mut self, _: &Nb201Space, _: Told<Nb201Cell>) -> Result<(), MinerError> {
            Ok(())
        }
    }
    let b = Budget {
        max_iters: 9,
        accounting: Accounting::Distinct,
        ..Budget::default()
    };
    let mut d = SearchDriver::new(&Nb201Space, Box::new(Repeat(0)), b)
        .unwrap()
        .with_max_in_flight(4)
        .unwrap();
    let mut rng = seeded_rng(0);
    let mut handed = Vec::new();
    while let Some(p) = d.ask(&mut rng).unwrap() {
        handed.push(p);
    }
    // The second and third ask of the same cell wait for the first (counted as iterations,
    // not handed out); three random cells fill the remaining places in flight.
    assert_eq!(handed.len(), 4);
    assert_eq!(d.iterations(), 6);
    for p in handed {
        d.tell(p.id, eval().evaluate(&p.arch).unwrap()).unwrap();
    }
    assert_eq!(d.log().len(), 4);
    assert!(d.log().iter().all(|l| l.charged));
    while let Some(p) = d.ask(&mut rng).unwrap() {
        d.tell(p.id, eval().evaluate(&p.arch).unwrap()).unwrap();
    }
    let out = d.finish().unwrap();
    assert_eq!(out.iterations, 10);
    assert_eq!(out.queries, out.evaluations);
    assert!(out.queries <= 8);
}

#[test]
fn misuse_is_refused_without_recording() {
    let space = Nb201Space;
    let dsm = DsmNas::<Nb201Cell>::default();
    let mut d =
        SearchDriver::new(&space, dsm.strategy(&space).unwrap(), Budget::default()).unwrap();
    let mut rng = seeded_rng(1);
    let p = d.ask(&mut rng).unwrap().unwrap();
    assert!(p.initial);
    // One in flight: nothing more until it is told.
    assert_eq!(d.ask(&mut rng).unwrap(), None);
    let err = d.tell(
        p.id + 7,
        Evaluation {
            score: 1.0,
            cost_s: 1.0,
        },
    );
    assert!(matches!(err, Err(MinerError::Driver { .. })), "{err:?}");
    let nan = d.tell(
        p.id,
        Evaluation {
            score: f64::NAN,
            cost_s: 1.0,
        },
    );
    assert!(matches!(
        nan,
        Err(MinerError::NotFinite { what: "score", .. })
    ));
    assert_eq!(d.log().len(), 0);
    d.tell(
        p.id,
        Evaluation {
            score: 50.0,
            cost_s: 1.0,
        },
    )
    .unwrap();
    assert!(
        d.tell(
            p.id,
            Evaluation {
                score: 50.0,
                cost_s: 1.0
            }
        )
        .is_err()
    );
    assert!(
        SearchDriver::new(&space, dsm.strategy(&space).unwrap(), Budget::default())
            .unwrap()
            .with_max_in_flight(0)
            .is_err()
    );
    // A strategy that waits with nothing in flight could never continue.
    struct Stuck;
    impl Strategy<Nb201Space> for Stuck {
        fn ask(
            &mut self,
            _: &mut AskContext<'_, Nb201Space>,
        ) -> Result<Ask<Nb201Cell>, MinerError> {
            Ok(Ask::Wait)
        }
        fn tell(&mut self, _: &Nb201Space, _: Told<Nb201Cell>) -> Result<(), MinerError> {
            Ok(())
        }
    }
    let mut stuck = SearchDriver::new(&space, Box::new(Stuck), Budget::default()).unwrap();
    assert!(matches!(
        stuck.ask(&mut rng),
        Err(MinerError::Driver { .. })
    ));
}

/// A user's method: mutate the best cell told so far (random until then).
struct Greedy;

struct GreedyState(Option<(Nb201Cell, f64)>);

impl Searcher<Nb201Space> for Greedy {
    fn name(&self) -> &str {
        "greedy"
    }

    fn strategy<'a>(
        &'a self,
        _space: &'a Nb201Space,
    ) -> Result<Box<dyn Strategy<Nb201Space> + 'a>, MinerError> {
        Ok(Box::new(GreedyState(None)))
    }
}

impl Strategy<Nb201Space> for GreedyState {
    fn ask(&mut self, ctx: &mut AskContext<'_, Nb201Space>) -> Result<Ask<Nb201Cell>, MinerError> {
        Ok(Ask::Query(match &self.0 {
            Some((best, _)) if ctx.rng.random::<f64>() < 0.9 => ctx.space.mutate(best, ctx.rng)?,
            _ => ctx.space.sample(ctx.rng)?,
        }))
    }

    fn tell(&mut self, _: &Nb201Space, told: Told<Nb201Cell>) -> Result<(), MinerError> {
        if told.admissible && self.0.as_ref().is_none_or(|b| told.score > b.1) {
            self.0 = Some((told.arch, told.score));
        }
        Ok(())
    }
}

/// A fixed third of the cells cannot be evaluated (by a hash of their text).
fn fails(cell: &Nb201Cell) -> bool {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    cell.to_string().hash(&mut h);
    h.finish().is_multiple_of(3)
}

/// Failures are a state, not a score: every method, told that a third of the cells failed
/// (in turn failed, timed out, infeasible), never answers with one and keeps none as an
/// anchor or a population member, and still finds a good cell.
#[test]
fn failed_timed_out_and_infeasible_cells_are_never_kept() {
    use dsm_miner::Outcome;
    let space = Nb201Space;
    let kinds = [Outcome::Failed, Outcome::TimedOut, Outcome::Infeasible];
    for m in methods() {
        let mut d = SearchDriver::new(&space, m.strategy(&space).unwrap(), Budget::queries(150))
            .unwrap()
            .with_constraint(m.constraint());
        let (mut rng, mut e, mut n) = (seeded_rng(3), eval(), 0);
        while let Some(p) = d.ask(&mut rng).unwrap() {
            if fails(&p.arch) {
                d.tell_failure(p.id, kinds[n % 3], 10.0).unwrap();
                n += 1;
            } else {
                d.tell(p.id, e.evaluate(&p.arch).unwrap()).unwrap();
            }
        }
        let told: Vec<Outcome> = d.log().iter().map(|l| l.outcome).collect();
        assert!(kinds.iter().all(|k| told.contains(k)), "{}", m.name());
        let out = d.finish().unwrap();
        assert!(!fails(&out.best), "{}: answered a failed cell", m.name());
        for a in &out.final_anchors {
            assert!(!fails(a), "{}: kept the failed {a}", m.name());
        }
        assert!(out.best_score > 85.0, "{}: {}", m.name(), out.best_score);
    }
}

/// Telling a result as a failure is refused; a failed initial anchor of DSM-NAS is drawn
/// again, so its candidate graph holds K anchors that evaluated.
#[test]
fn a_failed_initial_anchor_is_redrawn() {
    use dsm_miner::Outcome;
    let space = Nb201Space;
    let dsm = DsmNas::<Nb201Cell>::default();
    let mut d =
        SearchDriver::new(&space, dsm.strategy(&space).unwrap(), Budget::queries(5)).unwrap();
    let mut rng = seeded_rng(0);
    let first = d.ask(&mut rng).unwrap().unwrap();
    let err = d.tell_failure(first.id, Outcome::Result, 1.0).unwrap_err();
    assert!(err.to_string().contains("told with its score"), "{err}");
    d.tell_failure(first.id, Outcome::Infeasible, 1.0).unwrap();
    let mut e = eval();
    let mut initial = Vec::new();
    while let Some(p) = d.ask(&mut rng).unwrap() {
        if p.initial {
            initial.push(p.arch);
        }
        d.tell(p.id, e.evaluate(&p.arch).unwrap()).unwrap();
    }
    // K = 3 anchors evaluated besides the failed one, which is not among the anchors.
    assert_eq!(initial.len(), 3);
    let out = d.finish().unwrap();
    assert_eq!(out.final_anchors.len(), 3);
    assert!(!out.final_anchors.contains(&first.arch) || initial.contains(&first.arch));
}

/// An evaluator that fails everything ends every method's search with an error, never an
/// endless stream of free initial evaluations.
#[test]
fn an_evaluator_that_fails_everything_ends_the_search() {
    use dsm_miner::{MAX_INITIAL_FAILURES, Outcome};
    let space = Nb201Space;
    for m in methods() {
        let mut d =
            SearchDriver::new(&space, m.strategy(&space).unwrap(), Budget::queries(20)).unwrap();
        let mut rng = seeded_rng(0);
        let mut told = 0;
        let end = loop {
            match d.ask(&mut rng) {
                Ok(Some(p)) => match d.tell_failure(p.id, Outcome::Failed, 1.0) {
                    Ok(()) => told += 1,
                    Err(e) => break Err(e),
                },
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
            assert!(
                told <= 2 * MAX_INITIAL_FAILURES + 50,
                "{}: no end",
                m.name()
            );
        };
        if let Err(e) = end {
            assert!(
                e.to_string().contains("failed to evaluate"),
                "{}: {e}",
                m.name()
            );
        }
    }
}
