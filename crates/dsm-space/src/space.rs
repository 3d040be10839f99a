//! The [`SearchSpace`] abstraction that the miner searches and that users implement for their
//! own spaces, plus the [`Evaluator`] interface that scores architectures.

use std::fmt::{Debug, Display};
use std::hash::Hash;

use rand::Rng;
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::SpaceError;

/// One local edit of an architecture: set `position` to its `choice`-th option.
///
/// Positions and choices are the ones a [`SearchSpace`] lists through
/// [`SearchSpace::num_positions`] and [`SearchSpace::num_choices`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Edit {
    /// Which editable position (an edge of a cell, a layer slot, ...).
    pub position: usize,
    /// Which option at that position, `0..num_choices(position)`.
    pub choice: usize,
}

impl Edit {
    /// A new edit.
    pub fn new(position: usize, choice: usize) -> Self {
        Self { position, choice }
    }
}

/// Cost metrics of an architecture, as far as the space can compute them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CostMetrics {
    /// Number of trainable parameters.
    pub params: Option<f64>,
    /// Multiply-accumulates of one forward pass of one image.
    pub madds: Option<f64>,
}

/// How many choice vectors [`SearchSpace::sample`] and [`SearchSpace::mutate`] draw before
/// they give up on a space that refuses them.
pub const MAX_SPACE_DRAWS: usize = 1000;

fn no_valid_draw(what: &'static str, last: Option<SpaceError>) -> SpaceError {
    SpaceError::NoValidDraw {
        what,
        draws: MAX_SPACE_DRAWS,
        last: last.map_or_else(|| "none".into(), |e| e.to_string()),
    }
}

/// A discrete architecture search space.
///
/// An architecture is a vector of choices, one per editable position; the space says how
/// many positions there are and how many options each has, and builds, validates, encodes
/// and prints architectures. Everything the DSM miner and the baselines need comes from here,
/// so implementing this trait (and an [`Evaluator`]) is all it takes to search a new space.
///
/// Only [`num_positions`](Self::num_positions), [`num_choices`](Self::num_choices),
/// [`choices_of`](Self::choices_of), [`arch_from_choices`](Self::arch_from_choices) and
/// [`parse`](Self::parse) are required; the rest has defaults.
///
/// ```
/// use dsm_space::{Edit, Nb201Space, SearchSpace};
/// use rand::SeedableRng;
///
/// let space = Nb201Space;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let parent = space.sample(&mut rng)?;
/// let child = space.apply(&parent, &[Edit::new(0, 3), Edit::new(5, 1)]).unwrap();
/// assert_eq!(space.choices_of(&child)[0], 3);
/// assert_ne!(space.choices_of(&parent), Vec::<usize>::new()); // the parent is untouched
/// assert_eq!(space.encode(&child).len(), space.feature_len());
/// # Ok::<(), dsm_space::SpaceError>(())
/// ```
pub trait SearchSpace {
    /// An architecture of this space (a value: editing makes a new one).
    type Arch: Clone + PartialEq + Eq + Hash + Debug + Display + Send + Sync;

    /// A short name, recorded in results files.
    fn name(&self) -> &str;

    /// Number of editable positions.
    fn num_positions(&self) -> usize;

    /// Number of options at `position` (0 for a position that does not exist).
    fn num_choices(&self, position: usize) -> usize;

    /// The largest number of options at any position.
    fn max_choices(&self) -> usize {
        (0..self.num_positions())
            .map(|p| self.num_choices(p))
            .max()
            .unwrap_or(0)
    }

    /// The choice vector of an architecture (one entry per position).
    fn choices_of(&self, arch: &Self::Arch) -> Vec<usize>;

    /// Builds an architecture from a choice vector, checking every entry (an implementation
    /// can start with [`check_choices`](Self::check_choices)).
    fn arch_from_choices(&self, choices: &[usize]) -> Result<Self::Arch, SpaceError>;

    /// Checks that `choices` has one entry per position, each within that position's
    /// options; `what` names the vector in the error (`"width stack"`).
    fn check_choices(&self, what: &'static str, choices: &[usize]) -> Result<(), SpaceError> {
        if choices.len() != self.num_positions() {
            return Err(SpaceError::WrongLength {
                what,
                found: choices.len(),
                expected: self.num_positions(),
            });
        }
        match choices
            .iter()
            .enumerate()
            .find(|&(p, &c)| c >= self.num_choices(p))
        {
            Some((position, &choice)) => Err(SpaceError::InvalidEdit {
                position,
                choice,
                positions: self.num_positions(),
                choices: self.num_choices(position),
            }),
            None => Ok(()),
        }
    }

    /// Parses the canonical string form of an architecture.
    fn parse(&self, text: &str) -> Result<Self::Arch, SpaceError>;

    /// The canonical string form (the inverse of [`parse`](Self::parse)).
    fn format(&self, arch: &Self::Arch) -> String {
        arch.to_string()
    }

    /// Samples an architecture uniformly over the choice vectors the space accepts: vectors
    /// drawn uniformly until [`arch_from_choices`](Self::arch_from_choices) accepts one (at
    /// most [`MAX_SPACE_DRAWS`]; then [`SpaceError::NoValidDraw`]), so a user's space with
    /// rules between positions is sampled without a panic.
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<Self::Arch, SpaceError> {
        let mut last = None;
        for _ in 0..MAX_SPACE_DRAWS {
            let choices: Vec<usize> = (0..self.num_positions())
                .map(|p| rng.random_range(0..self.num_choices(p).max(1)))
                .collect();
            match self.arch_from_choices(&choices) {
                Ok(arch) => return Ok(arch),
                Err(e) => last = Some(e),
            }
        }
        Err(no_valid_draw("sample", last))
    }

    /// Applies edits in order (a later edit of the same position wins) and returns the new
    /// architecture; `arch` itself is never modified.
    fn apply(&self, arch: &Self::Arch, edits: &[Edit]) -> Result<Self::Arch, SpaceError> {
        let mut choices = self.choices_of(arch);
        for e in edits {
            let n = self.num_choices(e.position);
            if e.position >= choices.len() || e.choice >= n {
                return Err(SpaceError::InvalidEdit {
                    position: e.position,
                    choice: e.choice,
                    positions: self.num_positions(),
                    choices: n,
                });
            }
            choices[e.position] = e.choice;
        }
        self.arch_from_choices(&choices)
    }

    /// One random mutation (the move of regularized evolution): by default, a uniformly
    /// chosen position gets a uniformly chosen *different* option, redrawn while the space
    /// refuses the result (at most [`MAX_SPACE_DRAWS`]; then [`SpaceError::NoValidDraw`]).
    /// Positions with a single option are never chosen; a space where no position has two
    /// options returns a copy.
    fn mutate<R: Rng + ?Sized>(
        &self,
        arch: &Self::Arch,
        rng: &mut R,
    ) -> Result<Self::Arch, SpaceError> {
        let base = self.choices_of(arch);
        let open: Vec<usize> = (0..base.len())
            .filter(|&p| self.num_choices(p) > 1)
            .collect();
        if open.is_empty() {
            return Ok(arch.clone());
        }
        let mut last = None;
        for _ in 0..MAX_SPACE_DRAWS {
            let mut choices = base.clone();
            let p = open[rng.random_range(0..open.len())];
            let n = self.num_choices(p);
            let shift = rng.random_range(1..n);
            choices[p] = (choices[p] + shift) % n;
            match self.arch_from_choices(&choices) {
                Ok(child) => return Ok(child),
                Err(e) => last = Some(e),
            }
        }
        Err(no_valid_draw("mutate", last))
    }

    /// Checks that an architecture obeys every rule of the space.
    fn validate(&self, arch: &Self::Arch) -> Result<(), SpaceError> {
        self.arch_from_choices(&self.choices_of(arch)).map(|_| ())
    }

    /// Length of [`encode`](Self::encode)'s output.
    fn feature_len(&self) -> usize {
        self.num_positions() * self.max_choices()
    }

    /// Feature vector of an architecture, by default one-hot per position with
    /// [`max_choices`](Self::max_choices) slots each.
    fn encode(&self, arch: &Self::Arch) -> Vec<f32> {
        let width = self.max_choices();
        let mut out = vec![0.0; self.num_positions() * width];
        for (p, c) in self.choices_of(arch).into_iter().enumerate() {
            out[p * width + c] = 1.0;
        }
        out
    }

    /// Cost metrics (params, MAdds) where the space can compute them.
    fn cost(&self, _arch: &Self::Arch) -> Option<CostMetrics> {
        None
    }
}

/// The outcome of evaluating one architecture.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The search signal, higher is better (an accuracy in percent for the built-in
    /// evaluators).
    pub score: f64,
    /// What the evaluation cost, in (real or simulated) seconds.
    pub cost_s: f64,
}

/// Scores architectures: a benchmark table, a predictor, or real training.
///
/// The miner calls [`evaluate`](Self::evaluate) once per query and charges `cost_s` to its
/// budget. An evaluator must return a finite score or an error; the miner refuses NaN.
pub trait Evaluator<A> {
    /// What can go wrong while evaluating.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Scores one architecture.
    fn evaluate(&mut self, arch: &A) -> Result<Evaluation, Self::Error>;
}

impl<A, E: Evaluator<A> + ?Sized> Evaluator<A> for &mut E {
    type Error = E::Error;

    fn evaluate(&mut self, arch: &A) -> Result<Evaluation, Self::Error> {
        (**self).evaluate(arch)
    }
}

/// What a zero-cost proxy says of one architecture: one value per proxy (higher is better,
/// finite) and what computing them cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyScore {
    /// The proxies' values, in the scorer's order.
    pub values: Vec<f64>,
    /// What computing them cost, in (real or simulated) seconds.
    pub cost_s: f64,
}

/// Scores architectures cheaply to guide a search: zero-cost proxies looked up in a table
/// or computed by an untrained network. A guided search ranks the candidates it compares by
/// these values (with several proxies, by the sum of their ranks among the candidates) and
/// charges `cost_s` to its budget. Values must be finite.
///
/// ```
/// use dsm_space::{ProxyScore, ProxyScorer};
///
/// struct Len;
/// impl ProxyScorer<String> for Len {
///     type Error = std::convert::Infallible;
///     fn score(&mut self, a: &String) -> Result<ProxyScore, Self::Error> {
///         Ok(ProxyScore { values: vec![a.len() as f64], cost_s: 0.001 })
///     }
/// }
/// assert_eq!(Len.score(&"abc".to_string()).unwrap().values, [3.0]);
/// ```
pub trait ProxyScorer<A> {
    /// What can go wrong while scoring.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The proxies of one architecture.
    fn score(&mut self, arch: &A) -> Result<ProxyScore, Self::Error>;
}

/// An evaluator that calls an observer after every successful evaluation of the one it
/// wraps: a progress bar, a log, a record of every point a search visited.
///
/// ```
/// use dsm_space::{Evaluation, Evaluator, Observed};
///
/// struct Len;
/// impl Evaluator<String> for Len {
///     type Error = std::convert::Infallible;
///     fn evaluate(&mut self, a: &String) -> Result<Evaluation, Self::Error> {
///         Ok(Evaluation { score: a.len() as f64, cost_s: 1.0 })
///     }
/// }
/// let mut seen = Vec::new();
/// let mut eval = Observed::new(Len, |a: &String, e: &Evaluation| seen.push((a.clone(), e.score)));
/// eval.evaluate(&"abc".to_string()).unwrap();
/// drop(eval);
/// assert_eq!(seen, [("abc".to_string(), 3.0)]);
/// ```
pub struct Observed<E, F> {
    inner: E,
    observer: F,
}

impl<E, F> Observed<E, F> {
    /// Wraps `inner`; `observer(arch, evaluation)` runs after each successful evaluation.
    pub fn new(inner: E, observer: F) -> Self {
        Self { inner, observer }
    }

    /// The wrapped evaluator.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// The wrapped evaluator, unwrapped.
    pub fn into_inner(self) -> E {
        self.inner
    }
}

impl<A, E: Evaluator<A>, F: FnMut(&A, &Evaluation)> Evaluator<A> for Observed<E, F> {
    type Error = E::Error;

    fn evaluate(&mut self, arch: &A) -> Result<Evaluation, Self::Error> {
        let e = self.inner.evaluate(arch)?;
        (self.observer)(arch, &e);
        Ok(e)
    }
}
