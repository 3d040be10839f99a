//! The open search loop: ask/tell strategies and the driver (documented on [`SearchDriver`]).

use std::collections::{BTreeMap, HashMap};

use dsm_space::{Evaluation, Evaluator, SearchSpace, SpaceError};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::budget::{Accounting, Budget, Constraint, HistoryPoint, SearchOutcome};
use crate::guide::{Guide, GuideOps, GuideState};
use crate::{MinerError, Searcher};

/// The identifier of one proposal, unique within a search (0, 1, 2, ... in asking order).
pub type ProposalId = u64;

/// What a strategy answers when asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Ask<A> {
    /// Evaluate this architecture as a charged query of the search.
    Query(A),
    /// Evaluate this architecture free of charge: one of the method's initial architectures
    /// (DSM's K anchors, REA's population).
    Initial(A),
    /// Nothing can be proposed until a result in flight is told (for instance DSM-NAS before
    /// its initial anchors are scored).
    Wait,
}

/// An architecture the driver hands out for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal<A> {
    /// Its identifier, to [`tell`](SearchDriver::tell) its result with.
    pub id: ProposalId,
    /// The architecture to evaluate.
    pub arch: A,
    /// Whether it is a free initial evaluation rather than a charged query.
    pub initial: bool,
}

/// What a strategy sees when it is asked.
pub struct AskContext<'c, S: SearchSpace> {
    /// The space searched.
    pub space: &'c S,
    /// The search's random numbers (every random choice of a strategy comes from here).
    pub rng: &'c mut dyn Rng,
    /// The identifier the proposal will get.
    pub id: ProposalId,
    /// Proposals handed out and not yet told.
    pub in_flight: usize,
    constraint: Option<&'c Constraint<S::Arch>>,
    guide: Option<&'c mut dyn GuideOps<S::Arch>>,
}

impl<S: SearchSpace> AskContext<'_, S> {
    /// Whether `arch` satisfies the search's constraint (always, without one).
    pub fn admissible(&self, arch: &S::Arch) -> bool {
        self.constraint.is_none_or(|c| c(arch))
    }

    /// Draws architectures with `draw` until one is accepted by the space and satisfies the
    /// search's constraint (the first, without one: no extra random numbers are used), so a method spends no
    /// evaluation on an architecture it could never return. After
    /// [`MAX_CONSTRAINED_DRAWS`] rejections in a row, [`MinerError::ConstraintUnmet`].
    /// In a proxy-guided search ([`Guided`](crate::Guided)) the draw is screened: made
    /// `screen` times, the best by the proxies returned.
    pub fn admissible_draw(
        &mut self,
        mut draw: impl FnMut(&S, &mut dyn Rng) -> Result<S::Arch, SpaceError>,
    ) -> Result<S::Arch, MinerError> {
        self.screen(|ctx| ctx.plain_draw(&mut draw).map(|a| ((), a)))
            .map(|(_, a)| a)
    }

    /// A draw from the space's distribution ([`SearchSpace::sample`]) inside the constraint,
    /// as [`admissible_draw`](Self::admissible_draw) makes it. In a proxy-guided search it
    /// is served from the warm start, best first, and screened once that has run out: what
    /// a method's initial architectures and random draws should use.
    pub fn sample(&mut self) -> Result<S::Arch, MinerError> {
        let sample = |space: &S, rng: &mut dyn Rng| space.sample(rng);
        let Some(guide) = self.guide.take() else {
            return self.plain_draw(sample);
        };
        let warm = guide.next_warm(&mut |n| (0..n).map(|_| self.plain_draw(sample)).collect());
        self.guide = Some(guide);
        match warm? {
            Some(arch) => Ok(arch),
            None => self.admissible_draw(sample),
        }
    }

    /// A proposal carrying a method's own state (a controller's decision): `draw` makes one
    /// candidate; in a proxy-guided search it is called `screen` times and the candidate
    /// whose architecture is best by the proxies is returned (the others are dropped), once
    /// otherwise. Inside `draw` nothing is screened again.
    pub fn screen<T>(
        &mut self,
        mut draw: impl FnMut(&mut Self) -> Result<(T, S::Arch), MinerError>,
    ) -> Result<(T, S::Arch), MinerError> {
        let Some(guide) = self.guide.take() else {
            return draw(self);
        };
        let mut screened = || {
            let m = guide.screen();
            if m <= 1 {
                return draw(self);
            }
            let mut candidates = Vec::with_capacity(m);
            for _ in 0..m {
                candidates.push(draw(self)?);
            }
            let archs: Vec<S::Arch> = candidates.iter().map(|c| c.1.clone()).collect();
            let best = guide.rank(&archs)?[0];
            Ok(candidates.swap_remove(best))
        };
        let out = screened();
        self.guide = Some(guide);
        out
    }

    fn plain_draw(
        &mut self,
        mut draw: impl FnMut(&S, &mut dyn Rng) -> Result<S::Arch, SpaceError>,
    ) -> Result<S::Arch, MinerError> {
        // A draw the space refuses (a user's space with rules between positions refusing a
        // crossover) is drawn again, as one outside the constraint is; a space that could
        // not be sampled at all ends the search at once.
        let mut refused = None;
        for _ in 0..MAX_CONSTRAINED_DRAWS {
            match draw(self.space, &mut *self.rng) {
                Ok(arch) if self.admissible(&arch) => return Ok(arch),
                Ok(_) => {}
                Err(e @ SpaceError::NoValidDraw { .. }) => return Err(e.into()),
                Err(e) => refused = Some(e),
            }
        }
        Err(match refused {
            Some(e) => e.into(),
            None => MinerError::ConstraintUnmet {
                draws: MAX_CONSTRAINED_DRAWS,
            },
        })
    }
}

/// How many architectures in a row [`AskContext::admissible_draw`] may find outside the
/// constraint before the search stops with [`MinerError::ConstraintUnmet`].
pub const MAX_CONSTRAINED_DRAWS: usize = 10_000;

/// How many of a method's free initial evaluations (DSM-NAS's anchors, REA's first
/// population) may end without a result, each drawn again, before the search stops with an
/// error: initial evaluations are not charged, so without a bound an evaluator that fails
/// everything would be asked forever.
pub const MAX_INITIAL_FAILURES: usize = 100;

/// How an evaluation ended: what a strategy is told besides the score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A score was measured.
    #[default]
    Result,
    /// The evaluation failed for good (a worker crashed, every retry used).
    Failed,
    /// The evaluation ran past its time limit.
    TimedOut,
    /// The architecture cannot be evaluated at all (it does not fit the device, the
    /// evaluator cannot build it): trying it again would fail again.
    Infeasible,
}

impl Outcome {
    /// Whether a score was measured.
    pub fn is_result(self) -> bool {
        self == Self::Result
    }
}

/// A result told to a strategy.
///
/// Every built-in strategy learns only from [`Outcome::Result`]: a failed, timed-out or
/// infeasible architecture never joins REA's population, never becomes a DSM-NAS anchor
/// (an initial anchor that fails is redrawn) or the answer, and trains no policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Told<A> {
    /// The proposal it answers.
    pub id: ProposalId,
    /// The architecture evaluated.
    pub arch: A,
    /// How the evaluation ended.
    pub outcome: Outcome,
    /// Its score (the search signal; higher is better); for an outcome other than
    /// [`Outcome::Result`], the lowest score told so far (0 when none), never admissible.
    pub score: f64,
    /// Whether it satisfies the search's constraint (only admissible architectures may
    /// become anchors or the answer).
    pub admissible: bool,
    /// Whether it was one of the free initial evaluations.
    pub initial: bool,
    /// The search's iteration count when it was told (for error messages and schedules).
    pub iteration: usize,
}

/// A search method's state during one search, driven by a [`SearchDriver`].
///
/// The trait is object safe: a protocol holds `Box<dyn Strategy<S>>`, a user's among them.
/// A strategy draws every random number from [`AskContext::rng`], so a search is a
/// deterministic function of its seed and of the results it is told, in the order told.
pub trait Strategy<S: SearchSpace> {
    /// The next architecture to evaluate, or [`Ask::Wait`].
    fn ask(&mut self, ctx: &mut AskContext<'_, S>) -> Result<Ask<S::Arch>, MinerError>;

    /// The result of an earlier proposal (in any order, once each).
    fn tell(&mut self, space: &S, told: Told<S::Arch>) -> Result<(), MinerError>;

    /// The method's own answer, when it has one (DSM-NAS answers with its best anchor);
    /// `None` lets the driver answer with the best admissible architecture it was told.
    fn answer(&self) -> Option<(S::Arch, f64)> {
        None
    }

    /// What a transfer run starts from: DSM's anchors, REA's population, or nothing.
    fn final_anchors(&self) -> Vec<S::Arch> {
        Vec::new()
    }
}

/// One evaluation of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvaluation<A> {
    /// The proposal it answered.
    pub id: ProposalId,
    /// The architecture.
    pub arch: A,
    /// Its score.
    pub score: f64,
    /// Its cost in (simulated) seconds, whether charged or not.
    pub cost_s: f64,
    /// Whether it was charged to the budget.
    pub charged: bool,
    /// How it ended ([`tell_failure`](SearchDriver::tell_failure) for the outcomes other
    /// than a result, whose score is then the floor the strategy was told).
    pub outcome: Outcome,
}

struct Pending<A> {
    arch: A,
    initial: bool,
    /// Proposals of the same architecture waiting for this result (distinct accounting).
    followers: Vec<ProposalId>,
}

/// The open search loop: a [`Strategy`] is *asked* for architectures to evaluate and *told*
/// their results; a [`SearchDriver`] owns everything the methods share (the stopping rule,
/// query accounting, the constraint, the best-so-far, the evaluation log) and lets up to
/// `max_in_flight` proposals be evaluated at once.
///
/// ```
/// use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
/// use dsm_miner::{seeded_rng, Budget, DsmNas, SearchDriver, Searcher};
/// use dsm_space::{Evaluator, Nb201Space};
///
/// let mut eval = Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
/// let budget = Budget { max_iters: 20, ..Budget::default() };
/// let dsm = DsmNas::default();
/// let mut rng = seeded_rng(23555);
/// let mut driver = SearchDriver::new(&Nb201Space, dsm.strategy(&Nb201Space)?, budget)?;
/// // Ask for what to evaluate, evaluate it anywhere (a worker, a cluster), tell the result.
/// while let Some(p) = driver.ask(&mut rng)? {
///     let e = eval.evaluate(&p.arch)?;
///     driver.tell(p.id, e)?;
/// }
/// let ask_tell = driver.finish()?;
/// // The blocking convenience runs exactly this loop.
/// let blocking = dsm.search(&Nb201Space, &mut eval, budget, &mut seeded_rng(23555))?;
/// assert_eq!(ask_tell, blocking);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// ## Several proposals in flight
/// With `max_in_flight = 1` (the default) every method gives exactly the results of the
/// sequential search. With more, the driver keeps asking while fewer than `max_in_flight`
/// proposals are out and the stopping rule has not fired; the stopping rule counts an
/// iteration when a charged proposal is *asked* and charges its cost when it is *told*, so
/// once the budget is exceeded no new proposal is handed out and the ones in flight are still
/// told (and charged) before [`SearchDriver::is_done`] holds. Results may be told in any order;
/// what each method does then is in its own documentation ([`DsmNas`](crate::DsmNas),
/// [`RegularizedEvolution`](crate::RegularizedEvolution), [`Reinforce`](crate::Reinforce)).
///
/// Under [`Accounting::Distinct`], a proposal of an architecture that is already known is
/// answered from the cache without being handed out; one that is already in flight waits for
/// that evaluation's result and is not charged.
pub struct SearchDriver<'s, S: SearchSpace> {
    space: &'s S,
    strategy: Box<dyn Strategy<S> + 's>,
    budget: Budget,
    constraint: Option<Constraint<S::Arch>>,
    guide: Option<GuideState<'s, S::Arch>>,
    max_in_flight: usize,
    cache: HashMap<S::Arch, f64>,
    pending: BTreeMap<ProposalId, Pending<S::Arch>>,
    /// Architectures in flight (distinct accounting), to the proposal evaluating them.
    evaluating: HashMap<S::Arch, ProposalId>,
    next_id: ProposalId,
    cost_s: f64,
    clock_s: f64,
    evaluations: usize,
    queries: usize,
    iterations: usize,
    proxy_evaluations: usize,
    proxy_cost_s: f64,
    best: Option<(S::Arch, f64)>,
    history: Vec<HistoryPoint<S::Arch>>,
    log: Vec<LoggedEvaluation<S::Arch>>,
}

impl<'s, S: SearchSpace> SearchDriver<'s, S> {
    /// A driver for `strategy` on `space` under `budget` (checked), one proposal in flight,
    /// no constraint.
    pub fn new(
        space: &'s S,
        strategy: Box<dyn Strategy<S> + 's>,
        budget: Budget,
    ) -> Result<Self, MinerError> {
        budget.check()?;
        Ok(Self {
            space,
            strategy,
            budget,
            constraint: None,
            guide: None,
            max_in_flight: 1,
            cache: HashMap::new(),
            pending: BTreeMap::new(),
            evaluating: HashMap::new(),
            next_id: 0,
            cost_s: 0.0,
            clock_s: 0.0,
            evaluations: 0,
            queries: 0,
            iterations: 0,
            proxy_evaluations: 0,
            proxy_cost_s: 0.0,
            best: None,
            history: Vec::new(),
            log: Vec::new(),
        })
    }

    /// Only architectures satisfying `constraint` may become anchors or the answer (for
    /// every method); the others are still evaluated and charged.
    pub fn with_constraint(mut self, constraint: Option<Constraint<S::Arch>>) -> Self {
        self.constraint = constraint;
        self
    }

    /// Guides the search by zero-cost proxies (see [`Guided`](crate::Guided)); `None`
    /// leaves it unguided. Refused when the guide's settings are invalid.
    pub fn with_guide(mut self, guide: Option<Guide<'s, S::Arch>>) -> Result<Self, MinerError> {
        self.guide = guide.map(GuideState::new).transpose()?;
        Ok(self)
    }

    /// At most `n` proposals handed out and not yet told (at least 1).
    pub fn with_max_in_flight(mut self, n: usize) -> Result<Self, MinerError> {
        if n == 0 {
            return Err(MinerError::config(
                "max_in_flight",
                n,
                "at least 1 proposal in flight",
            ));
        }
        self.max_in_flight = n;
        Ok(self)
    }

    /// Whether `arch` satisfies the constraint.
    pub fn admissible(&self, arch: &S::Arch) -> bool {
        self.constraint.as_ref().is_none_or(|c| c(arch))
    }

    /// Whether the stopping rule has fired: the charged cost exceeds the budget or the
    /// iterations asked exceed `max_iters`.
    pub fn budget_spent(&self) -> bool {
        self.cost_s > self.budget.time_s || self.iterations > self.budget.max_iters
    }

    /// Whether the search is over: the stopping rule has fired and nothing is in flight.
    pub fn is_done(&self) -> bool {
        self.budget_spent() && self.pending.is_empty()
    }

    /// Proposals handed out and not yet told.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Accumulated charged cost so far.
    pub fn cost_s(&self) -> f64 {
        self.cost_s
    }

    /// The wall-clock time of the latest result told ([`tell_at`](Self::tell_at)).
    pub fn clock_s(&self) -> f64 {
        self.clock_s
    }

    /// Iterations asked so far.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// Every evaluation told so far, in the order told.
    pub fn log(&self) -> &[LoggedEvaluation<S::Arch>] {
        &self.log
    }

    /// The best admissible architecture told so far and its score.
    pub fn best(&self) -> Option<&(S::Arch, f64)> {
        self.best.as_ref()
    }

    /// The next architecture to evaluate; `None` when the stopping rule has fired, when
    /// `max_in_flight` proposals are out, or when the strategy waits for a result in flight.
    /// An error when the strategy waits with nothing in flight (it could never continue).
    pub fn ask(&mut self, rng: &mut dyn Rng) -> Result<Option<Proposal<S::Arch>>, MinerError> {
        loop {
            if self.budget_spent() || self.pending.len() >= self.max_in_flight {
                return Ok(None);
            }
            let id = self.next_id;
            let mut ctx = AskContext {
                space: self.space,
                rng: &mut *rng,
                id,
                in_flight: self.pending.len(),
                constraint: self.constraint.as_ref(),
                guide: self.guide.as_mut().map(|g| g as &mut dyn GuideOps<S::Arch>),
            };
            let asked = self.strategy.ask(&mut ctx);
            if let Some(g) = &mut self.guide {
                // Proxies are computed by the driver, one after another: charged and timed.
                self.proxy_evaluations += std::mem::take(&mut g.evaluations);
                let cost = std::mem::take(&mut g.cost_s);
                self.proxy_cost_s += cost;
                self.cost_s += cost;
                self.clock_s += cost;
            }
            let (arch, initial) = match asked? {
                Ask::Wait if self.pending.is_empty() => {
                    return Err(MinerError::Driver {
                        reason: "the strategy waits for a result with nothing in flight"
                            .to_string(),
                    });
                }
                Ask::Wait => return Ok(None),
                Ask::Initial(arch) => (arch, true),
                Ask::Query(arch) => (arch, false),
            };
            self.next_id += 1;
            if !initial {
                self.iterations += 1;
                if self.budget.accounting == Accounting::Distinct {
                    if let Some(&score) = self.cache.get(&arch) {
                        self.answer(id, arch, score, false)?;
                        continue;
                    }
                    if let Some(&first) = self.evaluating.get(&arch) {
                        if let Some(p) = self.pending.get_mut(&first) {
                            p.followers.push(id);
                        }
                        continue;
                    }
                    self.evaluating.insert(arch.clone(), id);
                }
            }
            self.pending.insert(
                id,
                Pending {
                    arch: arch.clone(),
                    initial,
                    followers: Vec::new(),
                },
            );
            return Ok(Some(Proposal { id, arch, initial }));
        }
    }

    /// The result of proposal `id`, arriving one evaluation's cost after the previous result
    /// (the clock of a sequential search). Refused (and nothing recorded) for an unknown id,
    /// a score that is not finite, or a cost that is not finite and >= 0.
    pub fn tell(&mut self, id: ProposalId, evaluation: Evaluation) -> Result<(), MinerError> {
        let clock = self.clock_s + evaluation.cost_s;
        self.tell_at(id, evaluation, clock)
    }

    /// The result of proposal `id`, arriving at wall-clock time `clock_s` (not before the
    /// previous result: a clock never runs backwards). Refused as [`tell`](Self::tell) is.
    pub fn tell_at(
        &mut self,
        id: ProposalId,
        evaluation: Evaluation,
        clock_s: f64,
    ) -> Result<(), MinerError> {
        let Some(p) = self.pending.get(&id) else {
            return Err(MinerError::Driver {
                reason: format!("proposal {id} is not in flight (never asked, or already told)"),
            });
        };
        for (what, value, ok) in [
            ("score", evaluation.score, evaluation.score.is_finite()),
            (
                "cost",
                evaluation.cost_s,
                evaluation.cost_s.is_finite() && evaluation.cost_s >= 0.0,
            ),
        ] {
            if !ok {
                return Err(MinerError::NotFinite {
                    what,
                    value,
                    arch: p.arch.to_string(),
                });
            }
        }
        let p = self.pending.remove(&id).expect("checked above");
        if clock_s.is_finite() && clock_s > self.clock_s {
            self.clock_s = clock_s;
        }
        self.evaluations += 1;
        let charged = !p.initial;
        if charged {
            self.cost_s += evaluation.cost_s;
            self.queries += 1;
        }
        if self.budget.accounting == Accounting::Distinct {
            self.evaluating.remove(&p.arch);
            self.cache.insert(p.arch.clone(), evaluation.score);
        }
        self.log.push(LoggedEvaluation {
            id,
            arch: p.arch.clone(),
            score: evaluation.score,
            cost_s: evaluation.cost_s,
            charged,
            outcome: Outcome::Result,
        });
        let followers = p.followers;
        self.answer(id, p.arch.clone(), evaluation.score, p.initial)?;
        for f in followers {
            self.answer(f, p.arch.clone(), evaluation.score, false)?;
        }
        Ok(())
    }

    /// Proposal `id` ended without a score: `outcome` says how ([`Outcome::Failed`] when an
    /// executor gave up after its retries, [`Outcome::TimedOut`], [`Outcome::Infeasible`]).
    /// `cost_s` is charged as for a result (the compute was spent), the strategy is told the
    /// outcome with the lowest score told so far (0 when none), not admissible (so it never
    /// becomes an anchor or the answer), and the architecture is not cached, so a later
    /// proposal of it is evaluated again. Refused for an unknown id, [`Outcome::Result`]
    /// (use [`tell`](Self::tell)), or a cost that is not finite and >= 0.
    pub fn tell_failure(
        &mut self,
        id: ProposalId,
        outcome: Outcome,
        cost_s: f64,
    ) -> Result<(), MinerError> {
        if outcome.is_result() {
            return Err(MinerError::Driver {
                reason: format!(
                    "proposal {id}: a result is told with its score (tell), not as a failure"
                ),
            });
        }
        let Some(p) = self.pending.get(&id) else {
            return Err(MinerError::Driver {
                reason: format!("proposal {id} is not in flight (never asked, or already told)"),
            });
        };
        if !(cost_s.is_finite() && cost_s >= 0.0) {
            return Err(MinerError::NotFinite {
                what: "cost",
                value: cost_s,
                arch: p.arch.to_string(),
            });
        }
        let p = self.pending.remove(&id).expect("checked above");
        self.clock_s += cost_s;
        self.evaluations += 1;
        if !p.initial {
            self.cost_s += cost_s;
            self.queries += 1;
        }
        if self.budget.accounting == Accounting::Distinct {
            self.evaluating.remove(&p.arch);
        }
        let floor = self
            .log
            .iter()
            .map(|l| l.score)
            .fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.min(s))));
        let floor = floor.unwrap_or(0.0);
        self.log.push(LoggedEvaluation {
            id,
            arch: p.arch.clone(),
            score: floor,
            cost_s,
            charged: !p.initial,
            outcome,
        });
        for (i, f) in std::iter::once(id).chain(p.followers).enumerate() {
            let told = Told {
                id: f,
                arch: p.arch.clone(),
                outcome,
                score: floor,
                admissible: false,
                initial: p.initial && i == 0,
                iteration: self.iterations,
            };
            self.strategy.tell(self.space, told)?;
        }
        Ok(())
    }

    /// Records a score and tells the strategy.
    fn answer(
        &mut self,
        id: ProposalId,
        arch: S::Arch,
        score: f64,
        initial: bool,
    ) -> Result<(), MinerError> {
        let admissible = self.admissible(&arch);
        if admissible && self.best.as_ref().is_none_or(|(_, b)| score > *b) {
            self.best = Some((arch.clone(), score));
        }
        if let Some((best, best_score)) = &self.best {
            self.history.push(HistoryPoint {
                cost_s: self.cost_s,
                clock_s: self.clock_s,
                best: best.clone(),
                best_score: *best_score,
            });
        }
        let told = Told {
            id,
            arch,
            outcome: Outcome::Result,
            score,
            admissible,
            initial,
            iteration: self.iterations,
        };
        self.strategy.tell(self.space, told)
    }

    /// Runs the search to its end with `evaluator`, one proposal at a time (what
    /// [`Searcher::search`] does).
    pub fn run<E: Evaluator<S::Arch>>(
        mut self,
        evaluator: &mut E,
        rng: &mut dyn Rng,
    ) -> Result<SearchOutcome<S::Arch>, MinerError> {
        while let Some(p) = self.ask(rng)? {
            let e = evaluator
                .evaluate(&p.arch)
                .map_err(|e| MinerError::Evaluator {
                    arch: p.arch.to_string(),
                    source: Box::new(e),
                })?;
            self.tell(p.id, e)?;
        }
        self.finish()
    }

    /// Runs the search to its end on `workers` simulated workers: an event-driven clock where
    /// each evaluation occupies its worker for its cost (`Evaluation::cost_s`, a table's
    /// training time). A free worker gets the next proposal (up to `max_in_flight`, which is
    /// set to `workers`); the earliest-finishing evaluation is told next, at its finishing
    /// time (ties in the order asked). The budget is unchanged (total compute), so only the
    /// parallelism differs from [`run`](Self::run), and with one worker the results are
    /// exactly `run`'s. Evaluations are computed when handed out (a table answers at once).
    ///
    /// ```
    /// use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
    /// use dsm_miner::{seeded_rng, Budget, RegularizedEvolution, SearchDriver, Searcher};
    /// use dsm_space::Nb201Space;
    ///
    /// let rea = RegularizedEvolution::default();
    /// let eval = || Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
    /// let run = |w| {
    ///     let driver = SearchDriver::new(&Nb201Space, rea.strategy(&Nb201Space)?, Budget::default())?;
    ///     driver.run_simulated(&mut eval(), w, &mut seeded_rng(7))
    /// };
    /// let (one, eight) = (run(1)?, run(8)?);
    /// assert_eq!(one, rea.search(&Nb201Space, &mut eval(), Budget::default(), &mut seeded_rng(7))?);
    /// // The same compute, in about an eighth of the wall-clock time.
    /// let end = |o: &dsm_miner::SearchOutcome<_>| o.history.last().unwrap().clock_s;
    /// assert!(end(&eight) < end(&one) / 6.0);
    /// # Ok::<(), dsm_miner::MinerError>(())
    /// ```
    pub fn run_simulated<E: Evaluator<S::Arch>>(
        self,
        evaluator: &mut E,
        workers: usize,
        rng: &mut dyn Rng,
    ) -> Result<SearchOutcome<S::Arch>, MinerError> {
        let mut driver = self.with_max_in_flight(workers)?;
        // (finishing time, proposal id, its evaluation), earliest first.
        let mut running: Vec<(f64, ProposalId, Evaluation)> = Vec::new();
        loop {
            while let Some(p) = driver.ask(rng)? {
                let e = evaluator
                    .evaluate(&p.arch)
                    .map_err(|e| MinerError::Evaluator {
                        arch: p.arch.to_string(),
                        source: Box::new(e),
                    })?;
                let cost = if e.cost_s.is_finite() {
                    e.cost_s.max(0.0)
                } else {
                    0.0
                };
                running.push((driver.clock_s + cost, p.id, e));
            }
            let Some(next) = running
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.0.total_cmp(&b.1.0).then(a.1.1.cmp(&b.1.1)))
                .map(|(i, _)| i)
            else {
                break;
            };
            let (at, id, e) = running.swap_remove(next);
            driver.tell_at(id, e, at)?;
        }
        driver.finish()
    }

    /// The outcome: the strategy's answer (or the best admissible architecture told), the
    /// counts, the history and the final anchors. Results still in flight are not included.
    pub fn finish(self) -> Result<SearchOutcome<S::Arch>, MinerError> {
        let (best, best_score) = self.strategy.answer().or(self.best).ok_or_else(|| {
            MinerError::config(
                "constraint",
                "rejects every evaluated architecture",
                "a constraint that some evaluated architecture meets",
            )
        })?;
        Ok(SearchOutcome {
            best,
            best_score,
            evaluations: self.evaluations,
            queries: self.queries,
            iterations: self.iterations,
            cost_s: self.cost_s,
            proxy_evaluations: self.proxy_evaluations,
            proxy_cost_s: self.proxy_cost_s,
            history: self.history,
            final_anchors: self.strategy.final_anchors(),
        })
    }
}

/// A driver for one trial of `method`: its strategy, its constraint and its proxy guide, if
/// any. Run it to its end in process ([`SearchDriver::run`], what [`Searcher::search`] does;
/// [`SearchDriver::run_simulated`] on a simulated clock), or ask and tell yourself, or hand
/// it to an executor to run the evaluations elsewhere.
pub fn driver_for<'s, S, M>(
    method: &'s M,
    space: &'s S,
    budget: Budget,
) -> Result<SearchDriver<'s, S>, MinerError>
where
    S: SearchSpace,
    M: Searcher<S> + ?Sized,
{
    SearchDriver::new(space, method.strategy(space)?, budget)?
        .with_constraint(method.constraint())
        .with_guide(method.guide()?)
}
