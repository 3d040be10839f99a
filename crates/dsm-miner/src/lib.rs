//! # dsm-miner: dominative subspace mining for neural architecture search
//!
//! DSM-NAS (Chen et al., arXiv 2210.17180) keeps K candidate subspaces, each the
//! neighbourhood of an anchor architecture. Every step a learned controller picks one
//! subspace (global search) and samples a few edits of its anchor (local search); the edited
//! child replaces its anchor if it scores higher, and the controller is trained by REINFORCE
//! on the child's improvement over its anchor.
//!
//! Everything is generic over a [`SearchSpace`] and an
//! [`Evaluator`]:
//! - [`DsmNas`]: the method (DSM-NAS+ with [`DsmNas::with_initial_anchors`], a constraint
//!   hook with [`DsmNas::with_constraint`], the reference's in-place-edit behaviour with
//!   [`DsmConfig::reference_compat`]); its controller ([`controller`]) is a Burn module
//!   trained with Burn's autodiff and Adam;
//! - baselines through the same interface and stopping rule: [`RandomSearch`],
//!   [`RegularizedEvolution`], [`Reinforce`];
//! - [`SearchDriver`]: the open search loop. Every method is a [`Strategy`] that is asked
//!   for architectures and told their results, each proposal with an id, so several can be
//!   evaluated at once (`max_in_flight`); the driver owns the stopping rule, the query
//!   accounting, the constraint (for every method) and the evaluation log.
//!   [`Searcher::search`] is the blocking convenience over it;
//! - [`Budget`]: the stopping rule shared by all methods and the query [`Accounting`];
//! - [`SearchCheckpoint`]: any method with any evaluator, checkpointed every N evaluations
//!   and resumed to exactly the uninterrupted result.
//!
//! ```
//! use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
//! use dsm_miner::{seeded_rng, Budget, DsmNas, RegularizedEvolution, Searcher};
//! use dsm_space::Nb201Space;
//!
//! let table = Nb201Table::embedded();
//! let mut eval = Nb201Evaluator::new(table, Dataset::Cifar10, Signal::Valid200);
//! let dsm = DsmNas::default().search(&Nb201Space, &mut eval, Budget::default(), &mut seeded_rng(23555))?;
//! let rea = RegularizedEvolution::default().search(&Nb201Space, &mut eval, Budget::default(), &mut seeded_rng(23555))?;
//! let test = |cell| table.lookup(cell, Dataset::Cifar10).test_acc;
//! println!("DSM-NAS {:.2}  REA {:.2}", test(&dsm.best), test(&rea.best));
//! # Ok::<(), dsm_miner::MinerError>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod baselines;
mod budget;
mod checkpoint;
pub mod controller;
mod driver;
mod dsm;
mod error;
mod executor;
mod graph;
mod guide;
mod native;
mod pareto;
#[cfg(test)]
mod parity_tests;
mod registry;

use dsm_space::{Evaluator, SearchSpace};
use rand::{Rng, SeedableRng};

pub use baselines::{OfaEvolution, RandomSearch, RegularizedEvolution, Reinforce};
pub use budget::{Accounting, Budget, Constraint, HistoryPoint, SearchOutcome};
pub use checkpoint::{CheckpointProgress, SearchCheckpoint};
pub use driver::{
    Ask, AskContext, LoggedEvaluation, MAX_CONSTRAINED_DRAWS, MAX_INITIAL_FAILURES, Outcome,
    Proposal, ProposalId, SearchDriver, Strategy, Told, driver_for,
};
pub use dsm::{ControllerEngine, DsmConfig, DsmNas, MAX_K};
pub use error::MinerError;
pub use executor::{
    DynEvaluator, EvaluatorError, InProcess, STUDY_SEED_ENV, STUDY_TASK_ENV, SearchExecutor,
    SearchJob,
};
pub use graph::{Anchor, CandidateGraph};
pub use guide::{
    BoxedScorer, GUIDED_SUFFIX, Guide, GuideConfig, Guided, MAX_SCREEN, MAX_WARM_START,
    ScorerFactory, boxed_scorer, rank_by_proxies,
};
pub use pareto::pareto_front;
pub use registry::{GuideSpec, MethodFactory, Registry, check_guidance};

/// The random number generator of every search: PCG-64, a portable algorithm (the same seed
/// gives the same numbers on every platform and version), serialisable for checkpoints.
pub type SearchRng = rand_pcg::Pcg64;

/// A [`SearchRng`] from a seed.
pub fn seeded_rng(seed: u64) -> SearchRng {
    SearchRng::seed_from_u64(seed)
}

/// A search method: its settings, and a fresh [`Strategy`] for each search.
///
/// Object safe, so a protocol can take a list of boxed methods (`Box<dyn Searcher<S>>`), a
/// user's own among them: implement [`name`](Self::name) and [`strategy`](Self::strategy)
/// (the method's ask/tell state for one search) and every driver, checkpoint and protocol of
/// this workspace runs it under the shared stopping rule.
pub trait Searcher<S: SearchSpace> {
    /// The method's name in results files (`dsm-nas`, `dsm-nas+`, `random`, `rea`,
    /// `reinforce`).
    fn name(&self) -> &str;

    /// Every setting that changes the method's results, as text (a JSON object, so that a
    /// [`SearchCheckpoint`] of other settings is refused naming each differing one; any
    /// other text is compared whole). The default, for methods without settings, is empty.
    fn settings(&self) -> String {
        String::new()
    }

    /// The method's own constraint on returned architectures, if it has one (the driver
    /// applies it to every method; see [`DsmNas::with_constraint`]).
    fn constraint(&self) -> Option<Constraint<S::Arch>> {
        None
    }

    /// How many free initial evaluations a search makes before its charged queries
    /// (DSM-NAS's K anchors, an evolution's initial population; 0 by default): a protocol
    /// that gives every method the same number of evaluations in all subtracts them.
    fn free_evaluations(&self) -> usize {
        0
    }

    /// The zero-cost proxy guide of one new search, if the method is guided ([`Guided`]);
    /// `None` by default.
    fn guide(&self) -> Result<Option<Guide<'_, S::Arch>>, MinerError> {
        Ok(None)
    }

    /// The method's state for one new search on `space`; checks the method's settings.
    fn strategy<'a>(&'a self, space: &'a S) -> Result<Box<dyn Strategy<S> + 'a>, MinerError>;

    /// Runs one trial sequentially: a [`SearchDriver`] with one proposal in flight.
    fn search<E: Evaluator<S::Arch>, R: Rng>(
        &self,
        space: &S,
        evaluator: &mut E,
        budget: Budget,
        rng: &mut R,
    ) -> Result<SearchOutcome<S::Arch>, MinerError>
    where
        Self: Sized,
    {
        driver::driver_for(self, space, budget)?.run(evaluator, rng)
    }
}

impl<S: SearchSpace, M: Searcher<S> + ?Sized> Searcher<S> for Box<M> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn settings(&self) -> String {
        (**self).settings()
    }
    fn constraint(&self) -> Option<Constraint<S::Arch>> {
        (**self).constraint()
    }
    fn free_evaluations(&self) -> usize {
        (**self).free_evaluations()
    }
    fn guide(&self) -> Result<Option<Guide<'_, S::Arch>>, MinerError> {
        (**self).guide()
    }
    fn strategy<'a>(&'a self, space: &'a S) -> Result<Box<dyn Strategy<S> + 'a>, MinerError> {
        (**self).strategy(space)
    }
}
