//! The baselines of NAS-Bench-201, through the same interface and stopping rule as DSM-NAS.

use std::collections::VecDeque;

use dsm_space::{Evaluator, SearchSpace};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::budget::{Budget, Constraint, SearchOutcome, Tracker};
use crate::{MinerError, Searcher};

/// Random search: sample uniformly, keep the best. No free initial architectures.
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
    fn name(&self) -> &'static str {
        "random"
    }

    fn search<E: Evaluator<S::Arch>, R: Rng>(
        &self,
        space: &S,
        evaluator: &mut E,
        budget: Budget,
        rng: &mut R,
    ) -> Result<SearchOutcome<S::Arch>, MinerError> {
        budget.check()?;
        let mut t = Tracker::new(evaluator, budget, None);
        while !t.done() {
            let arch = space.sample(rng);
            t.query(&arch)?;
        }
        t.finish(None, Vec::new())
    }
}

/// Regularized (aging) evolution, as NAS-Bench-201's REA: a population of `population`
/// random architectures (free, like DSM's initial anchors); each step samples
/// `sample_size` members with replacement, mutates the best of them once
/// ([`SearchSpace::mutate`]), evaluates the child, adds it and removes the oldest member.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    fn name(&self) -> &'static str {
        "rea"
    }

    fn settings(&self) -> String {
        format!("{self:?}")
    }

    fn search<E: Evaluator<S::Arch>, R: Rng>(
        &self,
        space: &S,
        evaluator: &mut E,
        budget: Budget,
        rng: &mut R,
    ) -> Result<SearchOutcome<S::Arch>, MinerError> {
        budget.check()?;
        if self.population == 0 || self.sample_size == 0 {
            return Err(MinerError::config(
                "rea.population/sample_size",
                format!("{}/{}", self.population, self.sample_size),
                "both at least 1",
            ));
        }
        let mut t = Tracker::new(evaluator, budget, None);
        let mut pop: VecDeque<(S::Arch, f64)> = VecDeque::with_capacity(self.population + 1);
        for _ in 0..self.population {
            let arch = space.sample(rng);
            let score = t.initial(&arch)?;
            pop.push_back((arch, score));
        }
        while !t.done() {
            let mut parent = rng.random_range(0..pop.len());
            for _ in 1..self.sample_size {
                let k = rng.random_range(0..pop.len());
                if pop[k].1 > pop[parent].1 {
                    parent = k;
                }
            }
            let child = space.mutate(&pop[parent].0, rng);
            let score = t.query(&child)?;
            pop.push_back((child, score));
            pop.pop_front();
        }
        t.finish(None, pop.into_iter().map(|(a, _)| a).collect())
    }
}

/// REINFORCE with a plain per-position policy (NAS-Bench-201's REINFORCE baseline): one
/// softmax per position over its options, logits initialised `1e-3 * N(0, 1)`, reward = the
/// score, baseline = an exponential moving average with bias correction (momentum 0.9, so
/// the first baseline is the first reward), Adam (lr 0.01). No free initial architectures.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    fn name(&self) -> &'static str {
        "reinforce"
    }

    fn settings(&self) -> String {
        format!("{self:?}")
    }

    fn search<E: Evaluator<S::Arch>, R: Rng>(
        &self,
        space: &S,
        evaluator: &mut E,
        budget: Budget,
        rng: &mut R,
    ) -> Result<SearchOutcome<S::Arch>, MinerError> {
        budget.check()?;
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(MinerError::config(
                "reinforce.learning_rate",
                self.learning_rate,
                "a finite number > 0",
            ));
        }
        let positions = space.num_positions();
        let mut theta: Vec<Vec<f64>> = (0..positions)
            .map(|p| {
                (0..space.num_choices(p))
                    .map(|_| 1e-3 * normal(rng))
                    .collect()
            })
            .collect();
        let mut m: Vec<Vec<f64>> = theta.iter().map(|v| vec![0.0; v.len()]).collect();
        let mut v = m.clone();
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let (mut num, mut den) = (0.0f64, 0.0f64);
        let mut t = Tracker::new(evaluator, budget, None::<Constraint<S::Arch>>);
        let mut step = 0i32;
        while !t.done() {
            let mut choices = Vec::with_capacity(positions);
            let mut probs = Vec::with_capacity(positions);
            for logits in &theta {
                let (c, p) = sample_softmax(logits, rng);
                choices.push(c);
                probs.push(p);
            }
            let arch = space.arch_from_choices(&choices)?;
            let reward = t.query(&arch)?;
            num = self.ema_momentum * num + (1.0 - self.ema_momentum) * reward;
            den = self.ema_momentum * den + (1.0 - self.ema_momentum);
            let advantage = reward - num / den;
            step += 1;
            for p in 0..positions {
                for (c, prob) in probs[p].iter().enumerate() {
                    // d/dtheta of -log pi(choice) * advantage.
                    let g = -((if c == choices[p] { 1.0 } else { 0.0 }) - prob) * advantage;
                    m[p][c] = b1 * m[p][c] + (1.0 - b1) * g;
                    v[p][c] = b2 * v[p][c] + (1.0 - b2) * g * g;
                    let mh = m[p][c] / (1.0 - b1.powi(step));
                    let vh = v[p][c] / (1.0 - b2.powi(step));
                    theta[p][c] -= self.learning_rate * mh / (vh.sqrt() + eps);
                }
            }
        }
        t.finish(None, Vec::new())
    }
}
