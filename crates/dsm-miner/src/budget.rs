//! The shared stopping rule and query accounting, and what a search returns.

use std::sync::Arc;

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
    /// A budget of `queries` charged evaluations and no time limit: reproducible, since it
    /// does not depend on the measured seconds (for live evaluators).
    ///
    /// ```
    /// let b = dsm_miner::Budget::queries(12);
    /// assert_eq!((b.max_iters, b.time_s), (11, f64::MAX));
    /// ```
    pub fn queries(queries: usize) -> Self {
        Self {
            time_s: f64::MAX,
            max_iters: queries.saturating_sub(1),
            ..Self::default()
        }
    }

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
    /// The (simulated) wall-clock time when this result arrived: the sum of every
    /// evaluation's cost so far in a sequential search (the free initial ones included), the
    /// event time on [`run_simulated`](crate::SearchDriver::run_simulated)'s workers.
    #[serde(default)]
    pub clock_s: f64,
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
    /// Accumulated charged cost in (simulated) seconds, the proxies' included.
    pub cost_s: f64,
    /// Zero-cost proxy evaluations of a guided search ([`Guided`](crate::Guided)); 0
    /// otherwise.
    #[serde(default)]
    pub proxy_evaluations: usize,
    /// Their cost, included in `cost_s`.
    #[serde(default)]
    pub proxy_cost_s: f64,
    /// The best-so-far after every evaluation.
    pub history: Vec<HistoryPoint<A>>,
    /// The final anchors (DSM), population (REA), or empty: what a transfer run starts from.
    pub final_anchors: Vec<A>,
}
