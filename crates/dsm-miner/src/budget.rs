//! The shared stopping rule and query accounting, and what a search returns.

use std::collections::HashMap;
use std::sync::Arc;

use dsm_space::Evaluator;
use serde::{Deserialize, Serialize};

use crate::MinerError;

/// How repeated queries of the same architecture are charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Accounting {
    /// Every query is charged, repeats included (the published protocol).
    #[default]
    #[serde(rename = "repeated")]
    Repeated,
    /// Each distinct architecture is evaluated and charged once per trial; a repeat returns
    /// the cached score for free (what a user who caches results does).
    #[serde(rename = "distinct")]
    Distinct,
}

impl Accounting {
    /// `repeated` or `distinct`.
    pub fn name(self) -> &'static str {
        match self {
            Accounting::Repeated => "repeated",
            Accounting::Distinct => "distinct",
        }
    }
}

/// The stopping rule shared by every method: the initial architectures (DSM's K anchors,
/// REA's population) are free; then every query adds its cost, and the search stops after the
/// query that makes the accumulated cost exceed `time_s` or after `max_iters + 1` queries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Budget of (simulated) seconds.
    pub time_s: f64,
    /// Iteration limit (the search stops once the iteration count exceeds it).
    pub max_iters: usize,
    /// How repeated queries are charged.
    pub accounting: Accounting,
}

impl Default for Budget {
    /// The published NAS-Bench-201 protocol: 25,000 s, 200 iterations, repeats charged.
    fn default() -> Self {
        Self {
            time_s: 25_000.0,
            max_iters: 200,
            accounting: Accounting::Repeated,
        }
    }
}

impl Budget {
    /// Checks the values.
    pub fn check(&self) -> Result<(), MinerError> {
        if !(self.time_s.is_finite() && self.time_s >= 0.0) {
            return Err(MinerError::config(
                "budget.time_s",
                self.time_s,
                "a finite number >= 0",
            ));
        }
        Ok(())
    }
}

/// A constraint on returned architectures (e.g. "MAdds <= 600 M"): an architecture that
/// violates it is still evaluated, but never becomes an anchor or the answer.
pub type Constraint<A> = Arc<dyn Fn(&A) -> bool + Send + Sync>;

/// One point of a search's history: the state after a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint<A> {
    /// Accumulated charged cost after this query.
    pub cost_s: f64,
    /// The best admissible architecture so far.
    pub best: A,
    /// Its score.
    pub best_score: f64,
}

/// What a search returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchOutcome<A> {
    /// The answer: the best admissible architecture by score.
    pub best: A,
    /// Its score (the search signal).
    pub best_score: f64,
    /// Every evaluation made, the free initial ones included.
    pub evaluations: usize,
    /// Charged queries (evaluations after the initial ones; in `Distinct` accounting,
    /// repeats are not charged and not counted).
    pub queries: usize,
    /// Search iterations run.
    pub iterations: usize,
    /// Accumulated charged cost in (simulated) seconds.
    pub cost_s: f64,
    /// The best-so-far after every evaluation.
    pub history: Vec<HistoryPoint<A>>,
    /// The final anchors (DSM), population (REA), or empty: what a transfer run starts from.
    pub final_anchors: Vec<A>,
}

/// Wraps an evaluator: charges queries, applies the stopping rule, tracks the best.
pub(crate) struct Tracker<'e, A, E> {
    eval: &'e mut E,
    budget: Budget,
    constraint: Option<Constraint<A>>,
    cache: HashMap<A, f64>,
    cost_s: f64,
    evaluations: usize,
    queries: usize,
    iterations: usize,
    best: Option<(A, f64)>,
    history: Vec<HistoryPoint<A>>,
}

impl<'e, A, E> Tracker<'e, A, E>
where
    A: Clone + Eq + std::hash::Hash + std::fmt::Display,
    E: Evaluator<A>,
{
    pub fn new(eval: &'e mut E, budget: Budget, constraint: Option<Constraint<A>>) -> Self {
        Self {
            eval,
            budget,
            constraint,
            cache: HashMap::new(),
            cost_s: 0.0,
            evaluations: 0,
            queries: 0,
            iterations: 0,
            best: None,
            history: Vec::new(),
        }
    }

    pub fn admissible(&self, arch: &A) -> bool {
        self.constraint.as_ref().is_none_or(|c| c(arch))
    }

    fn raw(&mut self, arch: &A) -> Result<(f64, f64), MinerError> {
        let e = self
            .eval
            .evaluate(arch)
            .map_err(|e| MinerError::Evaluator {
                arch: arch.to_string(),
                source: Box::new(e),
            })?;
        if !e.score.is_finite() {
            return Err(MinerError::NotFinite {
                what: "score",
                value: e.score,
                arch: arch.to_string(),
            });
        }
        if !(e.cost_s.is_finite() && e.cost_s >= 0.0) {
            return Err(MinerError::NotFinite {
                what: "cost",
                value: e.cost_s,
                arch: arch.to_string(),
            });
        }
        self.evaluations += 1;
        Ok((e.score, e.cost_s))
    }

    fn record(&mut self, arch: &A, score: f64) {
        if self.admissible(arch) && self.best.as_ref().is_none_or(|(_, b)| score > *b) {
            self.best = Some((arch.clone(), score));
        }
        if let Some((best, best_score)) = &self.best {
            self.history.push(HistoryPoint {
                cost_s: self.cost_s,
                best: best.clone(),
                best_score: *best_score,
            });
        }
    }

    /// Evaluates an initial architecture, free of charge.
    pub fn initial(&mut self, arch: &A) -> Result<f64, MinerError> {
        let (score, _) = self.raw(arch)?;
        if self.budget.accounting == Accounting::Distinct {
            self.cache.insert(arch.clone(), score);
        }
        self.record(arch, score);
        Ok(score)
    }

    /// One search iteration's query, charged by the accounting rule.
    pub fn query(&mut self, arch: &A) -> Result<f64, MinerError> {
        self.iterations += 1;
        let score = match (self.budget.accounting, self.cache.get(arch)) {
            (Accounting::Distinct, Some(&s)) => s,
            (accounting, _) => {
                let (s, cost) = self.raw(arch)?;
                self.cost_s += cost;
                self.queries += 1;
                if accounting == Accounting::Distinct {
                    self.cache.insert(arch.clone(), s);
                }
                s
            }
        };
        self.record(arch, score);
        Ok(score)
    }

    /// Whether the stopping rule has fired.
    pub fn done(&self) -> bool {
        self.cost_s > self.budget.time_s || self.iterations > self.budget.max_iters
    }

    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// The outcome; `answer` overrides the tracked best (DSM answers with its best anchor,
    /// which has the best score too but may be another architecture of equal score).
    pub fn finish(
        self,
        answer: Option<(A, f64)>,
        final_anchors: Vec<A>,
    ) -> Result<SearchOutcome<A>, MinerError> {
        let (best, best_score) = answer.or(self.best).ok_or_else(|| {
            MinerError::config(
                "constraint",
                "rejects every evaluated architecture",
                "a constraint that the initial architectures can meet",
            )
        })?;
        Ok(SearchOutcome {
            best,
            best_score,
            evaluations: self.evaluations,
            queries: self.queries,
            iterations: self.iterations,
            cost_s: self.cost_s,
            history: self.history,
            final_anchors,
        })
    }
}
