//! Proxy-guided search for every method: zero-cost proxies warm-start a search and screen
//! its proposals (documented on [`Guided`]).

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use dsm_space::{ProxyScore, ProxyScorer, SearchSpace};
use serde::{Deserialize, Serialize};

use crate::{Constraint, MinerError, Searcher, Strategy};

/// The suffix of a guided method's name (`dsm-nas+zc`, `rea+zc`, `random+zc`).
pub const GUIDED_SUFFIX: &str = "+zc";

/// The most architectures a warm start may score.
pub const MAX_WARM_START: usize = 100_000;

/// The most candidates a screened proposal may compare.
pub const MAX_SCREEN: usize = 1_000;

/// How a search is guided by zero-cost proxies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuideConfig {
    /// The proxies' names, as recorded in results (the scorer computes them, in this order).
    pub proxies: Vec<String>,
    /// Warm start: architectures drawn from the space's distribution and scored before the
    /// search begins (0: none). The method's draws from that distribution (DSM-NAS's initial
    /// anchors, an evolution's first population, random search's queries) are then served
    /// from the best `warm_start / screen` of them (rounded up), best first; each is then
    /// at least as good by rank as the screened draws that follow.
    pub warm_start: usize,
    /// Screening: candidates each proposal is chosen from (1: none). Every other draw of
    /// the method (an edit of an anchor, a mutation, a sample once the warm start has run
    /// out) is made this many times and the best by the proxies is proposed.
    pub screen: usize,
}

impl Default for GuideConfig {
    /// FreeREA's pair of proxies, a warm start of 100 architectures and proposals screened
    /// among 5 (chosen by the search signal on NAS-Bench-201, see docs/RESULTS.md).
    fn default() -> Self {
        Self {
            proxies: vec!["logsynflow".into(), "naswot".into()],
            warm_start: 100,
            screen: 5,
        }
    }
}

impl GuideConfig {
    /// Checks the settings: at least one proxy, each once; `warm_start` at most
    /// [`MAX_WARM_START`]; `screen` from 1 to [`MAX_SCREEN`]; some guidance (a warm start or
    /// `screen` above 1).
    ///
    /// ```
    /// use dsm_miner::GuideConfig;
    /// assert!(GuideConfig::default().check().is_ok());
    /// assert!(GuideConfig { screen: 0, ..Default::default() }.check().is_err());
    /// assert!(GuideConfig { warm_start: 0, screen: 1, ..Default::default() }.check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), MinerError> {
        if self.proxies.is_empty() {
            return Err(MinerError::config(
                "guide.proxies",
                "(none)",
                "at least one proxy",
            ));
        }
        if let Some((_, i)) = dsm_space::first_repeat(&self.proxies) {
            return Err(MinerError::config(
                "guide.proxies",
                &self.proxies[i],
                "each proxy at most once",
            ));
        }
        if self.warm_start > MAX_WARM_START {
            return Err(MinerError::config(
                "guide.warm_start",
                self.warm_start,
                "at most 100000 architectures",
            ));
        }
        if self.screen == 0 || self.screen > MAX_SCREEN {
            return Err(MinerError::config(
                "guide.screen",
                self.screen,
                "1 to 1000 candidates per proposal",
            ));
        }
        if self.warm_start == 0 && self.screen == 1 {
            return Err(MinerError::config(
                "guide.warm_start/screen",
                "0/1",
                "a warm start (> 0) or screening (> 1), or an unguided method",
            ));
        }
        Ok(())
    }
}

/// A proxy scorer as a driver holds it, errors made [`MinerError`]s.
pub type BoxedScorer<'a, A> = Box<dyn FnMut(&A) -> Result<ProxyScore, MinerError> + 'a>;

/// Makes a fresh scorer for each search of a [`Guided`] method (its error becomes
/// [`MinerError::ProxySetup`]).
pub type ScorerFactory<A> = Arc<
    dyn Fn() -> Result<BoxedScorer<'static, A>, Box<dyn std::error::Error + Send + Sync>>
        + Send
        + Sync,
>;

/// Any [`ProxyScorer`] as a [`BoxedScorer`].
pub fn boxed_scorer<'a, A, P>(mut scorer: P) -> BoxedScorer<'a, A>
where
    A: std::fmt::Display,
    P: ProxyScorer<A> + 'a,
{
    Box::new(move |arch: &A| {
        scorer.score(arch).map_err(|e| MinerError::Proxy {
            arch: arch.to_string(),
            source: Box::new(e),
        })
    })
}

/// A scorer and its settings, for one search ([`SearchDriver::with_guide`](crate::SearchDriver::with_guide)).
pub struct Guide<'a, A> {
    /// The settings.
    pub config: GuideConfig,
    /// The scorer.
    pub scorer: BoxedScorer<'a, A>,
}

/// Any method, guided by zero-cost proxies: a warm start and screened proposals, through
/// the driver (the method itself is unchanged and unaware).
///
/// Every built-in method draws its architectures through its
/// [`AskContext`](crate::AskContext): [`sample`](crate::AskContext::sample) for a draw from
/// the space's distribution, [`admissible_draw`](crate::AskContext::admissible_draw) for any
/// other, [`screen`](crate::AskContext::screen) for a draw that carries the method's own
/// state (DSM-NAS's controller decision). A guided search answers them:
/// - **warm start**: at the first `sample`, [`GuideConfig::warm_start`] architectures are
///   drawn and scored, and the next `sample`s are served from the best `warm_start /
///   screen` of them, best first: DSM-NAS's initial anchors, REA's first population and
///   random search's first queries are the best of them;
/// - **screening**: every other draw (and `sample` once the warm start has run out) is made
///   [`GuideConfig::screen`] times and the best candidate is proposed.
///
/// Candidates are ranked by the proxies' values (with several proxies, by the sum of each
/// proxy's rank among the candidates, ties averaged, as FreeREA combines them; a tie keeps
/// the first drawn). Each proxy evaluation's cost is charged to the search's `cost_s` (so
/// it counts against the budget) and counted in
/// [`SearchOutcome::proxy_evaluations`](crate::SearchOutcome::proxy_evaluations).
///
/// ```
/// use std::sync::{Arc, OnceLock};
/// use dsm_bench::proxies::{Proxy, ZcScorer};
/// use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
/// use dsm_miner::{boxed_scorer, seeded_rng, Budget, GuideConfig, Guided, RandomSearch, Searcher};
/// use dsm_space::Nb201Space;
///
/// let scorer = Arc::new(|| {
///     let zc = ZcScorer::new(Dataset::Cifar10, &[Proxy::Logsynflow, Proxy::Naswot])?;
///     Ok(boxed_scorer(zc))
/// });
/// let guided = Guided::new(RandomSearch, GuideConfig::default(), scorer);
/// assert_eq!(Searcher::<Nb201Space>::name(&guided), "random+zc");
/// let table = Nb201Table::embedded();
/// let mut eval = Nb201Evaluator::new(table, Dataset::Cifar10, Signal::Hp12);
/// let out = guided.search(&Nb201Space, &mut eval, Budget::queries(12), &mut seeded_rng(1))?;
/// assert_eq!(out.proxy_evaluations, 100); // the warm start served all 12 queries
/// # Ok::<(), dsm_miner::MinerError>(())
/// ```
pub struct Guided<M, A> {
    method: M,
    config: GuideConfig,
    name: OnceLock<String>,
    scorer: ScorerFactory<A>,
}

impl<M, A> Guided<M, A> {
    /// `method` guided as `config` says, each search scoring with a fresh scorer from
    /// `scorer`. Its name is the method's with [`GUIDED_SUFFIX`].
    pub fn new(method: M, config: GuideConfig, scorer: ScorerFactory<A>) -> Self {
        Self {
            method,
            config,
            name: OnceLock::new(),
            scorer,
        }
    }

    /// The guidance settings.
    pub fn config(&self) -> &GuideConfig {
        &self.config
    }

    /// The method guided.
    pub fn method(&self) -> &M {
        &self.method
    }
}

impl<S: SearchSpace, M: Searcher<S>> Searcher<S> for Guided<M, S::Arch> {
    fn name(&self) -> &str {
        self.name
            .get_or_init(|| format!("{}{GUIDED_SUFFIX}", self.method.name()))
    }

    fn settings(&self) -> String {
        let inner = self.method.settings();
        let inner = serde_json::from_str(&inner).unwrap_or(serde_json::Value::String(inner));
        serde_json::json!({ "method": inner, "guide": self.config }).to_string()
    }

    fn constraint(&self) -> Option<Constraint<S::Arch>> {
        self.method.constraint()
    }

    fn free_evaluations(&self) -> usize {
        self.method.free_evaluations()
    }

    fn strategy<'a>(&'a self, space: &'a S) -> Result<Box<dyn Strategy<S> + 'a>, MinerError> {
        self.config.check()?;
        self.method.strategy(space)
    }

    fn guide(&self) -> Result<Option<Guide<'_, S::Arch>>, MinerError> {
        self.config.check()?;
        Ok(Some(Guide {
            config: self.config.clone(),
            scorer: (self.scorer)().map_err(|source| MinerError::ProxySetup { source })?,
        }))
    }
}

/// What an [`AskContext`](crate::AskContext) asks of the guide (object safe, so the
/// context needs no lifetime of its own for it).
pub(crate) trait GuideOps<A> {
    fn screen(&self) -> usize;
    fn next_warm(
        &mut self,
        fill: &mut dyn FnMut(usize) -> Result<Vec<A>, MinerError>,
    ) -> Result<Option<A>, MinerError>;
    fn rank(&mut self, archs: &[A]) -> Result<Vec<usize>, MinerError>;
}

impl<A: std::fmt::Display> GuideOps<A> for GuideState<'_, A> {
    fn screen(&self) -> usize {
        self.config.screen
    }

    fn next_warm(
        &mut self,
        fill: &mut dyn FnMut(usize) -> Result<Vec<A>, MinerError>,
    ) -> Result<Option<A>, MinerError> {
        if self.config.warm_start == 0 {
            return Ok(None);
        }
        if self.pool.is_none() {
            let drawn = fill(self.config.warm_start)?;
            let order = self.rank_all(&drawn)?;
            let mut drawn: Vec<Option<A>> = drawn.into_iter().map(Some).collect();
            // Only the best warm_start / screen are served: each is then at least as good,
            // by rank, as a screened draw (the best of `screen`), which follows them.
            let keep = self.config.warm_start.div_ceil(self.config.screen);
            self.pool = Some(
                order
                    .into_iter()
                    .take(keep)
                    .filter_map(|i| drawn[i].take())
                    .collect(),
            );
        }
        Ok(self.pool.as_mut().and_then(VecDeque::pop_front))
    }

    fn rank(&mut self, archs: &[A]) -> Result<Vec<usize>, MinerError> {
        self.rank_all(archs)
    }
}

/// A guide during one search: the scorer, the warm start, and what it has charged.
pub(crate) struct GuideState<'a, A> {
    config: GuideConfig,
    scorer: BoxedScorer<'a, A>,
    /// The warm start, best first; `None` until the first `sample`.
    pool: Option<VecDeque<A>>,
    /// Proxy evaluations and their cost since the driver last collected them.
    pub(crate) evaluations: usize,
    pub(crate) cost_s: f64,
}

impl<'a, A: std::fmt::Display> GuideState<'a, A> {
    pub(crate) fn new(guide: Guide<'a, A>) -> Result<Self, MinerError> {
        guide.config.check()?;
        Ok(Self {
            config: guide.config,
            scorer: guide.scorer,
            pool: None,
            evaluations: 0,
            cost_s: 0.0,
        })
    }

    /// Indices of `archs`, best first by the proxies (a tie keeps the first drawn).
    fn rank_all(&mut self, archs: &[A]) -> Result<Vec<usize>, MinerError> {
        let mut scores = Vec::with_capacity(archs.len());
        for a in archs {
            let s = (self.scorer)(a)?;
            let bad = |reason: String| MinerError::ProxyValue {
                arch: a.to_string(),
                reason,
            };
            if !(s.cost_s.is_finite() && s.cost_s >= 0.0) {
                return Err(bad(format!("cost {}", s.cost_s)));
            }
            if let Some(v) = s.values.iter().find(|v| !v.is_finite()) {
                return Err(bad(format!("value {v}")));
            }
            if s.values.len() != self.config.proxies.len() {
                return Err(bad(format!(
                    "{} values for {} proxies",
                    s.values.len(),
                    self.config.proxies.len()
                )));
            }
            self.evaluations += 1;
            self.cost_s += s.cost_s;
            scores.push(s.values);
        }
        Ok(rank_by_proxies(&scores))
    }
}

/// Indices of `scores` (each a vector of proxy values), best first: by the value with one
/// proxy, by the sum of each proxy's rank among them (ties averaged) with several; a tie
/// keeps the earlier index.
///
/// ```
/// use dsm_miner::rank_by_proxies;
/// assert_eq!(rank_by_proxies(&[vec![1.0], vec![3.0], vec![2.0]]), [1, 2, 0]);
/// // Ranks, not magnitudes: the second is best by both proxies' ranks summed.
/// let two = [vec![1.0, 900.0], vec![5.0, 1000.0], vec![9.0, 100.0]];
/// assert_eq!(rank_by_proxies(&two), [1, 2, 0]);
/// ```
pub fn rank_by_proxies(scores: &[Vec<f64>]) -> Vec<usize> {
    let n = scores.len();
    let mut total = vec![0.0; n];
    let width = scores.iter().map(Vec::len).max().unwrap_or(0);
    if width == 1 {
        total = scores.iter().map(|s| s[0]).collect();
    } else {
        for p in 0..width {
            let value = |i: usize| scores[i].get(p).copied().unwrap_or(f64::NEG_INFINITY);
            let mut idx: Vec<usize> = (0..n).collect();
            idx.sort_by(|&a, &b| value(a).total_cmp(&value(b)));
            let mut i = 0;
            while i < n {
                let mut j = i;
                while j + 1 < n && value(idx[j + 1]) == value(idx[i]) {
                    j += 1;
                }
                let rank = (i + j) as f64 / 2.0 + 1.0;
                for &k in &idx[i..=j] {
                    total[k] += rank;
                }
                i = j + 1;
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| total[b].total_cmp(&total[a]).then(a.cmp(&b)));
    order
}
