//! The baselines of NAS-Bench-201, through the same interface and stopping rule as DSM-NAS.

use std::collections::{HashMap, VecDeque};

use dsm_space::SearchSpace;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::driver::{Ask, AskContext, ProposalId, Strategy, Told};
use crate::{MinerError, Searcher};

/// Random search: sample uniformly, keep the best. No free initial architectures; every ask
/// is a fresh uniform sample, so results may be told in any order.
///
/// ```
/// use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
/// use dsm_miner::{Budget, RandomSearch, Searcher};
/// use dsm_space::Nb201Space;
/// use rand::SeedableRng;
///
/// let mut eval = Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let out = RandomSearch::default().search(&Nb201Space, &mut eval, Budget::default(), &mut rng).unwrap();
/// assert!(out.cost_s > 25_000.0 || out.iterations == 201);
/// ```
#[derive(Debug, Clone, Default)]
pub struct RandomSearch;

impl<S: SearchSpace> Searcher<S> for RandomSearch {
    fn name(&self) -> &str {
        "random"
    }

    fn strategy<'a>(&'a self, _space: &'a S) -> Result<Box<dyn Strategy<S> + 'a>, MinerError> {
        Ok(Box::new(RandomStrategy))
    }
}

/// Random search's state: none.
struct RandomStrategy;

impl<S: SearchSpace> Strategy<S> for RandomStrategy {
    fn ask(&mut self, ctx: &mut AskContext<'_, S>) -> Result<Ask<S::Arch>, MinerError> {
        Ok(Ask::Query(ctx.sample()?))
    }

    fn tell(&mut self, _space: &S, _told: Told<S::Arch>) -> Result<(), MinerError> {
        Ok(())
    }
}

/// Regularized (aging) evolution, as NAS-Bench-201's REA: a population of `population`
/// random architectures (free, like DSM's initial anchors); each step samples
/// `sample_size` members with replacement, mutates the best of them once
/// ([`SearchSpace::mutate`]), evaluates the child, adds it and removes the oldest member.
///
/// With several proposals in flight (ask/tell, [`SearchDriver`](crate::SearchDriver)): the initial population is asked all at once (each member a free initial
/// evaluation) and enters in the order asked; afterwards each ask mutates the tournament
/// winner of the population as it is *then*, and each result, whenever it arrives, joins the
/// population and the oldest member dies (asynchronous evolution, as in Syne Tune).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegularizedEvolution {
    /// Population size (10).
    pub population: usize,
    /// Tournament sample size (3).
    pub sample_size: usize,
}

impl Default for RegularizedEvolution {
    fn default() -> Self {
        Self {
            population: 10,
            sample_size: 3,
        }
    }
}

impl<S: SearchSpace> Searcher<S> for RegularizedEvolution {
    fn name(&self) -> &str {
        "rea"
    }

    fn free_evaluations(&self) -> usize {
        self.population
    }

    fn settings(&self) -> String {
        serde_json::to_string(self).expect("settings serialise")
    }

    fn strategy<'a>(&'a self, _space: &'a S) -> Result<Box<dyn Strategy<S> + 'a>, MinerError> {
        if self.population == 0 || self.sample_size == 0 {
            return Err(MinerError::config(
                "rea.population/sample_size",
                format!("{}/{}", self.population, self.sample_size),
                "both at least 1",
            ));
        }
        Ok(Box::new(ReaStrategy::<S::Arch> {
            population: self.population,
            sample_size: self.sample_size,
            initial: Vec::new(),
            asked_initial: false,
            initial_failures: 0,
            pop: VecDeque::new(),
        }))
    }
}

/// REA's state during one search.
struct ReaStrategy<A> {
    population: usize,
    sample_size: usize,
    /// The initial members by asking order (with their proposal ids), scores once told.
    initial: Vec<(ProposalId, A, Option<f64>)>,
    asked_initial: bool,
    /// Initial members that failed (each replaced by another draw).
    initial_failures: usize,
    pop: VecDeque<(A, f64)>,
}

impl<S: SearchSpace> Strategy<S> for ReaStrategy<S::Arch> {
    fn ask(&mut self, ctx: &mut AskContext<'_, S>) -> Result<Ask<S::Arch>, MinerError> {
        if !self.asked_initial {
            let arch = ctx.sample()?;
            self.initial.push((ctx.id, arch.clone(), None));
            self.asked_initial = self.initial.len() == self.population;
            return Ok(Ask::Initial(arch));
        }
        if self.pop.is_empty() {
            // Every member so far failed: draw afresh rather than wait for none.
            return Ok(if self.asked_initial && self.initial.is_empty() {
                Ask::Query(ctx.sample()?)
            } else {
                Ask::Wait
            });
        }
        let rng = &mut *ctx.rng;
        let mut parent = rng.random_range(0..self.pop.len());
        for _ in 1..self.sample_size {
            let k = rng.random_range(0..self.pop.len());
            if self.pop[k].1 > self.pop[parent].1 {
                parent = k;
            }
        }
        let parent = &self.pop[parent].0;
        Ok(Ask::Query(
            ctx.admissible_draw(|space, rng| space.mutate(parent, rng))?,
        ))
    }

    fn tell(&mut self, _space: &S, told: Told<S::Arch>) -> Result<(), MinerError> {
        // Only results join the population: a failed, timed-out or infeasible member is
        // dropped (the population is refilled by the children of the others, or by random
        // draws when none is left).
        if told.initial {
            if told.outcome.is_result() {
                if let Some(slot) = self.initial.iter_mut().find(|m| m.0 == told.id) {
                    slot.2 = Some(told.score);
                }
            } else {
                self.initial.retain(|m| m.0 != told.id);
                self.initial_failures += 1;
                if self.initial_failures > crate::MAX_INITIAL_FAILURES {
                    return Err(MinerError::Driver {
                        reason: format!(
                            "{} members of the first population failed to evaluate (the last: {}, {:?}); REA needs members that evaluate",
                            self.initial_failures, told.arch, told.outcome
                        ),
                    });
                }
            }
            if self.asked_initial && self.initial.iter().all(|m| m.2.is_some()) {
                self.pop = self
                    .initial
                    .drain(..)
                    .map(|(_, a, s)| (a, s.expect("all told")))
                    .collect();
            }
        } else if told.outcome.is_result() {
            self.pop.push_back((told.arch, told.score));
            if self.pop.len() > self.population {
                self.pop.pop_front();
            }
        }
        Ok(())
    }

    fn final_anchors(&self) -> Vec<S::Arch> {
        self.pop.iter().map(|(a, _)| a.clone()).collect()
    }
}

/// REINFORCE with a plain per-position policy (NAS-Bench-201's REINFORCE baseline): one
/// softmax per position over its options, logits initialised `1e-3 * N(0, 1)`, reward = the
/// score, baseline = an exponential moving average with bias correction (momentum 0.9, so
/// the first baseline is the first reward), Adam (lr 0.01). No free initial architectures.
///
/// With several proposals in flight (ask/tell, [`SearchDriver`](crate::SearchDriver)): the logits are drawn at the first ask; each ask samples a choice per
/// position and keeps the sampling probabilities under the proposal's id; each result, in the
/// order told, updates the baseline and takes one Adam step with the probabilities *of its
/// proposal* (with several in flight, an asynchronous policy gradient as in A3C).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reinforce {
    /// Adam learning rate (0.01).
    pub learning_rate: f64,
    /// EMA momentum of the baseline (0.9).
    pub ema_momentum: f64,
}

impl Default for Reinforce {
    fn default() -> Self {
        Self {
            learning_rate: 0.01,
            ema_momentum: 0.9,
        }
    }
}

/// A standard normal draw (Box-Muller).
pub(crate) fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Samples an index from unnormalised log-probabilities; returns it and the probabilities.
pub(crate) fn sample_softmax<R: Rng + ?Sized>(logits: &[f64], rng: &mut R) -> (usize, Vec<f64>) {
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    let probs: Vec<f64> = exp.iter().map(|e| e / sum).collect();
    let u: f64 = rng.random::<f64>();
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return (i, probs);
        }
    }
    (probs.len() - 1, probs)
}

impl<S: SearchSpace> Searcher<S> for Reinforce {
    fn name(&self) -> &str {
        "reinforce"
    }

    fn settings(&self) -> String {
        serde_json::to_string(self).expect("settings serialise")
    }

    fn strategy<'a>(&'a self, _space: &'a S) -> Result<Box<dyn Strategy<S> + 'a>, MinerError> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(MinerError::config(
                "reinforce.learning_rate",
                self.learning_rate,
                "a finite number > 0",
            ));
        }
        Ok(Box::new(ReinforceStrategy {
            config: self.clone(),
            theta: Vec::new(),
            m: Vec::new(),
            v: Vec::new(),
            num: 0.0,
            den: 0.0,
            step: 0,
            asked: HashMap::new(),
        }))
    }
}

/// REINFORCE's state during one search.
struct ReinforceStrategy {
    config: Reinforce,
    theta: Vec<Vec<f64>>,
    m: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
    num: f64,
    den: f64,
    step: i32,
    /// The choices and sampling probabilities of each proposal in flight.
    asked: HashMap<ProposalId, (Vec<usize>, Vec<Vec<f64>>)>,
}

impl<S: SearchSpace> Strategy<S> for ReinforceStrategy {
    fn ask(&mut self, ctx: &mut AskContext<'_, S>) -> Result<Ask<S::Arch>, MinerError> {
        let space = ctx.space;
        let rng = &mut *ctx.rng;
        if self.theta.is_empty() {
            self.theta = (0..space.num_positions())
                .map(|p| {
                    (0..space.num_choices(p))
                        .map(|_| 1e-3 * normal(rng))
                        .collect()
                })
                .collect();
            self.m = self.theta.iter().map(|v| vec![0.0; v.len()]).collect();
            self.v = self.m.clone();
        }
        // One draw of the policy (screened among several in a proxy-guided search).
        let theta = &self.theta;
        let ((choices, probs), arch) = ctx.screen(|ctx| {
            let mut choices = Vec::with_capacity(theta.len());
            let mut probs = Vec::with_capacity(theta.len());
            for logits in theta {
                let (c, p) = sample_softmax(logits, &mut *ctx.rng);
                choices.push(c);
                probs.push(p);
            }
            let arch = space.arch_from_choices(&choices)?;
            Ok(((choices, probs), arch))
        })?;
        self.asked.insert(ctx.id, (choices, probs));
        Ok(Ask::Query(arch))
    }

    fn tell(&mut self, _space: &S, told: Told<S::Arch>) -> Result<(), MinerError> {
        let Some((choices, probs)) = self.asked.remove(&told.id) else {
            return Ok(());
        };
        if !told.outcome.is_result() {
            return Ok(()); // no reward was measured: nothing to learn
        }
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let (lr, momentum) = (self.config.learning_rate, self.config.ema_momentum);
        let reward = told.score;
        self.num = momentum * self.num + (1.0 - momentum) * reward;
        self.den = momentum * self.den + (1.0 - momentum);
        let advantage = reward - self.num / self.den;
        self.step += 1;
        let step = self.step;
        for p in 0..self.theta.len() {
            for (c, prob) in probs[p].iter().enumerate() {
                // d/dtheta of -log pi(choice) * advantage.
                let g = -((if c == choices[p] { 1.0 } else { 0.0 }) - prob) * advantage;
                let (m, v) = (&mut self.m[p][c], &mut self.v[p][c]);
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                let mh = *m / (1.0 - b1.powi(step));
                let vh = *v / (1.0 - b2.powi(step));
                self.theta[p][c] -= lr * mh / (vh.sqrt() + eps);
            }
        }
        Ok(())
    }
}

/// Once-for-All's evolutionary search (Cai et al., ICLR 2020; `EvolutionFinder` of OFA's
/// tutorial), on the positions of any space. A population of `population` random
/// architectures (free initial evaluations, like REA's); then, each generation, the best
/// `round(parent_ratio * population)` members survive as parents and
/// `population` children are made: `round(mutation_ratio * population)` by mutating a
/// random parent (each position redrawn uniformly among its choices with probability
/// `mutate_prob`, the current choice included, as OFA's `random_resample`) and the rest by
/// crossing two random parents (each position from either, with equal chance). Children
/// are drawn again until they satisfy the search's constraint (OFA's efficiency loop), so
/// no evaluation is spent outside it. The next population is the parents and the children.
///
/// OFA's defaults: population 100, parent ratio 0.25, mutation ratio 0.5, mutate probability
/// 0.1. OFA mutates kernel size, expand ratio and depth as separate genes; here a position
/// is whatever the space makes it (for [`MbV3Space`](dsm_space::MbV3Space) a layer slot
/// whose choices are the (kernel, expand) pairs and, past a unit's second layer, absence;
/// a searched resolution is one more position, mutated with the same probability).
///
/// With several proposals in flight, the children of a generation are asked as soon as
/// asked for, and the next generation starts when all of them are told.
///
/// ```
/// use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
/// use dsm_miner::{seeded_rng, Budget, OfaEvolution, Searcher};
/// use dsm_space::Nb201Space;
///
/// let mut eval = Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
/// let evo = OfaEvolution { population: 20, ..OfaEvolution::default() };
/// let out = evo.search(&Nb201Space, &mut eval, Budget::queries(100), &mut seeded_rng(1))?;
/// assert_eq!(out.queries, 100);
/// # Ok::<(), dsm_miner::MinerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfaEvolution {
    /// Population size (100).
    pub population: usize,
    /// Share of the population kept as parents each generation (0.25).
    pub parent_ratio: f64,
    /// Share of each generation's children made by mutation; the rest by crossover (0.5).
    pub mutation_ratio: f64,
    /// Probability of redrawing each position in a mutation (0.1).
    pub mutate_prob: f64,
}

impl Default for OfaEvolution {
    fn default() -> Self {
        Self {
            population: 100,
            parent_ratio: 0.25,
            mutation_ratio: 0.5,
            mutate_prob: 0.1,
        }
    }
}

impl OfaEvolution {
    /// Parents kept each generation (at least 1).
    pub fn parents(&self) -> usize {
        ((self.parent_ratio * self.population as f64).round() as usize).max(1)
    }

    /// Children made by mutation each generation.
    pub fn mutations(&self) -> usize {
        (self.mutation_ratio * self.population as f64).round() as usize
    }
}

impl<S: SearchSpace> Searcher<S> for OfaEvolution {
    fn name(&self) -> &str {
        "ofa-evolution"
    }

    fn free_evaluations(&self) -> usize {
        self.population
    }

    fn settings(&self) -> String {
        serde_json::to_string(self).expect("settings serialise")
    }

    fn strategy<'a>(&'a self, _space: &'a S) -> Result<Box<dyn Strategy<S> + 'a>, MinerError> {
        let ratio = |r: f64| r.is_finite() && (0.0..=1.0).contains(&r);
        if self.population < 2 {
            return Err(MinerError::config(
                "ofa-evolution.population",
                self.population,
                "at least 2",
            ));
        }
        if !(ratio(self.parent_ratio) && ratio(self.mutation_ratio) && ratio(self.mutate_prob)) {
            return Err(MinerError::config(
                "ofa-evolution.parent_ratio/mutation_ratio/mutate_prob",
                format!(
                    "{}/{}/{}",
                    self.parent_ratio, self.mutation_ratio, self.mutate_prob
                ),
                "each a number in [0, 1]",
            ));
        }
        Ok(Box::new(OfaStrategy::<S::Arch> {
            method: self.clone(),
            members: Vec::new(),
            parents: Vec::new(),
            asked: 0,
        }))
    }
}

/// OFA evolution's state: the members of the generation being evaluated (initial population
/// first), in asking order, with their scores once told, and the parents they came from.
struct OfaStrategy<A> {
    method: OfaEvolution,
    members: Vec<(ProposalId, A, Option<f64>)>,
    parents: Vec<(A, f64)>,
    /// Members of the current generation asked so far.
    asked: usize,
}

impl<A: Clone> OfaStrategy<A> {
    /// When every member of the generation is told: the next parents, from the old parents
    /// and the new members (best first; ties keep the older first).
    fn advance(&mut self) {
        if self.asked < self.method.population || self.members.iter().any(|m| m.2.is_none()) {
            return;
        }
        let mut pool: Vec<(A, f64)> = std::mem::take(&mut self.parents);
        pool.extend(
            self.members
                .drain(..)
                .map(|(_, a, s)| (a, s.expect("all told"))),
        );
        pool.sort_by(|a, b| b.1.total_cmp(&a.1));
        pool.truncate(self.method.parents());
        self.parents = pool;
        self.asked = 0;
    }
}

impl<S: SearchSpace> Strategy<S> for OfaStrategy<S::Arch> {
    fn ask(&mut self, ctx: &mut AskContext<'_, S>) -> Result<Ask<S::Arch>, MinerError> {
        if self.asked == self.method.population {
            return Ok(Ask::Wait);
        }
        let initial = self.parents.is_empty();
        let arch = if initial {
            ctx.sample()?
        } else if self.asked < self.method.mutations() {
            let p = ctx.rng.random_range(0..self.parents.len());
            let parent = ctx.space.choices_of(&self.parents[p].0);
            let prob = self.method.mutate_prob;
            ctx.admissible_draw(|space, rng| {
                let mut c = parent.clone();
                for (pos, choice) in c.iter_mut().enumerate() {
                    if rng.random_bool(prob) {
                        *choice = rng.random_range(0..space.num_choices(pos));
                    }
                }
                space.arch_from_choices(&c)
            })?
        } else {
            let a = ctx.rng.random_range(0..self.parents.len());
            let b = ctx.rng.random_range(0..self.parents.len());
            let (a, b) = (
                ctx.space.choices_of(&self.parents[a].0),
                ctx.space.choices_of(&self.parents[b].0),
            );
            ctx.admissible_draw(|space, rng| {
                let c: Vec<usize> = a
                    .iter()
                    .zip(&b)
                    .map(|(&x, &y)| if rng.random_bool(0.5) { x } else { y })
                    .collect();
                space.arch_from_choices(&c)
            })?
        };
        self.members.push((ctx.id, arch.clone(), None));
        self.asked += 1;
        Ok(if initial {
            Ask::Initial(arch)
        } else {
            Ask::Query(arch)
        })
    }

    fn tell(&mut self, _space: &S, told: Told<S::Arch>) -> Result<(), MinerError> {
        if let Some(slot) = self.members.iter_mut().find(|m| m.0 == told.id) {
            // Only admissible members may become parents (the driver's rule for answers).
            slot.2 = Some(if told.admissible {
                told.score
            } else {
                f64::NEG_INFINITY
            });
        }
        self.advance();
        Ok(())
    }

    fn final_anchors(&self) -> Vec<S::Arch> {
        self.parents.iter().map(|(a, _)| a.clone()).collect()
    }
}
