//! Where a search's evaluations run, as one trait a study calls for every search: in this
//! process ([`InProcess`], what [`Searcher::search`] does), or elsewhere (worker
//! processes, Slurm jobs: `dsm_cluster::Executor`), the results the same for the same seed.

use dsm_space::{Evaluation, Evaluator, SearchSpace};

use crate::{Budget, MinerError, SearchOutcome, SearchRng, Searcher};

/// The environment variable naming the task of the search a worker evaluates for (set by
/// [`SearchJob::env`]).
pub const STUDY_TASK_ENV: &str = "DSM_STUDY_TASK";
/// The environment variable holding the seed of the trial a worker evaluates for (set by
/// [`SearchJob::env`]).
pub const STUDY_SEED_ENV: &str = "DSM_STUDY_SEED";

/// One search of a study, for an executor to run.
pub struct SearchJob<'a, S: SearchSpace> {
    /// The method.
    pub method: &'a dyn Searcher<S>,
    /// The space.
    pub space: &'a S,
    /// The budget.
    pub budget: Budget,
    /// The task searched (its name), which with [`seed`](Self::seed) and the method's name
    /// tells the searches of a study apart (where an executor keeps each).
    pub task: String,
    /// The trial's seed (its RNG is seeded by it; a live evaluator's data split too).
    pub seed: u64,
}

impl<S: SearchSpace> SearchJob<'_, S> {
    /// What a worker process needs to rebuild this search's evaluator: the task
    /// ([`STUDY_TASK_ENV`]) and the seed ([`STUDY_SEED_ENV`]).
    ///
    /// ```
    /// use dsm_miner::{Budget, RandomSearch, SearchJob};
    /// let job = SearchJob { method: &RandomSearch, space: &dsm_space::Nb201Space,
    ///     budget: Budget::default(), task: "cifar10".into(), seed: 3 };
    /// assert_eq!(job.env(), [("DSM_STUDY_TASK".into(), "cifar10".into()), ("DSM_STUDY_SEED".into(), "3".into())]);
    /// ```
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (STUDY_TASK_ENV.to_string(), self.task.clone()),
            (STUDY_SEED_ENV.to_string(), self.seed.to_string()),
        ]
    }
}

/// Where the evaluations of a search run. A study (`dsm_protocol::run_trials`) hands every
/// search to one; an executor that evaluates elsewhere ignores `evaluator` and must give the
/// result the in-process search gives for the same job and RNG.
pub trait SearchExecutor<S: SearchSpace>: Sync {
    /// Runs `job` from `rng`, evaluating with `evaluator` where it evaluates in process.
    fn run(
        &self,
        job: SearchJob<'_, S>,
        evaluator: &mut dyn DynEvaluator<S::Arch>,
        rng: &mut SearchRng,
    ) -> Result<SearchOutcome<S::Arch>, MinerError>;
}

/// In this process, one evaluation at a time ([`SearchDriver::run`](crate::SearchDriver::run), what
/// [`Searcher::search`] does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InProcess;

impl<S: SearchSpace> SearchExecutor<S> for InProcess {
    fn run(
        &self,
        job: SearchJob<'_, S>,
        evaluator: &mut dyn DynEvaluator<S::Arch>,
        rng: &mut SearchRng,
    ) -> Result<SearchOutcome<S::Arch>, MinerError> {
        crate::driver_for(job.method, job.space, job.budget)?.run(&mut { evaluator }, rng)
    }
}

/// Any [`Evaluator`], its error boxed, usable behind `dyn` (an executor takes one).
pub trait DynEvaluator<A> {
    /// [`Evaluator::evaluate`], the error boxed.
    fn evaluate_dyn(&mut self, arch: &A) -> Result<Evaluation, EvaluatorError>;
}

impl<A, E: Evaluator<A>> DynEvaluator<A> for E {
    fn evaluate_dyn(&mut self, arch: &A) -> Result<Evaluation, EvaluatorError> {
        self.evaluate(arch).map_err(|e| EvaluatorError(Box::new(e)))
    }
}

impl<A> Evaluator<A> for dyn DynEvaluator<A> + '_ {
    type Error = EvaluatorError;

    fn evaluate(&mut self, arch: &A) -> Result<Evaluation, EvaluatorError> {
        self.evaluate_dyn(arch)
    }
}

/// An evaluator's error behind [`DynEvaluator`]: prints and chains as the error it holds.
#[derive(Debug)]
pub struct EvaluatorError(pub Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for EvaluatorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for EvaluatorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
