//! What a study searches, split by what it knows: a [`Problem`] is what every study needs (a
//! space, its tasks, an evaluator per task and trial: a table, live training, zero-cost
//! proxies, a user's landscape), an [`Oracle`] what only a table has (every architecture's
//! test accuracy, the optimum, the best by the signal).
//!
//! The study layer (`dsm-protocol`'s `run_trials`) runs any problem: it records each trial's
//! answer with what the problem can say of it ([`Problem::assess`]: a final training tested
//! on held-out images, say) and, where the problem has an oracle, the answer's test accuracy
//! on every task, the best-so-far curve of test accuracies and the share of trials that found
//! the best architecture.
//!
//! A problem without a table: the signal is all there is.
//!
//! ```
//! use std::fmt;
//! use dsm_bench::Problem;
//! use dsm_space::{Evaluation, Evaluator, Nb201Cell, Nb201Space};
//!
//! #[derive(Debug, Clone, Copy, PartialEq, Eq)]
//! struct Only;
//! impl fmt::Display for Only {
//!     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str("only") }
//! }
//! /// Scores a cell by its number of 3x3 convolutions, plus noise the trial's seed fixes.
//! struct Count(u64);
//! impl Evaluator<Nb201Cell> for Count {
//!     type Error = std::convert::Infallible;
//!     fn evaluate(&mut self, cell: &Nb201Cell) -> Result<Evaluation, Self::Error> {
//!         let convs = cell.to_string().matches("conv_3x3").count() as f64;
//!         Ok(Evaluation { score: convs + (self.0 % 7) as f64 / 100.0, cost_s: 1.0 })
//!     }
//! }
//! struct Convs;
//! impl Problem for Convs {
//!     type Space = Nb201Space;
//!     type Task = Only;
//!     type Evaluator<'p> = Count;
//!     type Error = std::convert::Infallible;
//!     fn space(&self) -> &Nb201Space { &Nb201Space }
//!     fn tasks(&self) -> Vec<Only> { vec![Only] }
//!     fn signal_name(&self) -> &str { "convs" }
//!     fn evaluator(&self, _: &Only, seed: u64) -> Result<Count, Self::Error> { Ok(Count(seed)) }
//! }
//! assert!(Convs.oracle().is_none());
//! let cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
//! assert_eq!(Convs.evaluator(&Only, 3)?.evaluate(&cell)?.score, 2.03);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use dsm_space::{Evaluator, SearchSpace};

/// The architecture type of a problem.
pub type ArchOf<P> = <<P as Problem>::Space as SearchSpace>::Arch;

/// What every study needs: a space, the tasks it is searched on, and for each task and trial
/// an evaluator that gives the search signal and its cost. Everything else is optional: what
/// the problem reports of an answer ([`assess`](Self::assess)) and an [`Oracle`] where it
/// knows every architecture (a table).
pub trait Problem: Sync {
    /// The space searched.
    type Space: SearchSpace + Sync;
    /// A task (a data set).
    type Task: Clone + Eq + fmt::Debug + fmt::Display + Send + Sync;
    /// What a search on one task queries: the search signal and the (real or simulated) cost.
    type Evaluator<'p>: Evaluator<ArchOf<Self>> + Send
    where
        Self: 'p;
    /// What can go wrong making an evaluator or assessing an answer (loading data, training).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The space.
    fn space(&self) -> &Self::Space;

    /// Every task, in the order results list them.
    fn tasks(&self) -> Vec<Self::Task>;

    /// The name of the search signal (`valid200`, `valid-acc`, ...), recorded in results.
    fn signal_name(&self) -> &str;

    /// A task's name for printed tables (its `Display` form unless overridden).
    fn task_title(&self, task: &Self::Task) -> String {
        task.to_string()
    }

    /// The evaluator the trial seeded `seed` queries on `task` (a table ignores the seed; a
    /// live problem splits its data and seeds its trainings by it).
    fn evaluator(&self, task: &Self::Task, seed: u64) -> Result<Self::Evaluator<'_>, Self::Error>;

    /// What the problem reports of the answer of the trial seeded `seed` on `task`, beyond
    /// its signal: its test accuracy where the problem can measure one (for instance by
    /// training it again and testing it on held-out images) and any other named measure.
    /// Called once per trial, on its answer only. None by default.
    fn assess(
        &self,
        _arch: &ArchOf<Self>,
        _task: &Self::Task,
        _seed: u64,
    ) -> Result<Assessment, Self::Error> {
        Ok(Assessment::default())
    }

    /// What the problem knows of every architecture, where it does (a table): `None` by
    /// default. A problem with an oracle returns `Some(self)` and implements [`Oracle`].
    fn oracle(&self) -> Option<&dyn Oracle<ArchOf<Self>, Self::Task>> {
        None
    }
}

/// A problem made of a space, named tasks and a closure that makes the evaluator of a task
/// and a trial's seed: a study of your own evaluator without writing a [`Problem`] impl (it
/// assesses nothing and has no oracle: the study compares the signal).
///
/// ```
/// use dsm_bench::{FnProblem, Problem};
/// use dsm_space::{Evaluation, Evaluator, Nb201Cell, Nb201Space};
///
/// struct Seeded(u64);
/// impl Evaluator<Nb201Cell> for Seeded {
///     type Error = std::convert::Infallible;
///     fn evaluate(&mut self, _: &Nb201Cell) -> Result<Evaluation, Self::Error> {
///         Ok(Evaluation { score: self.0 as f64, cost_s: 1.0 })
///     }
/// }
/// let problem = FnProblem::new(Nb201Space, &["a", "b"], "seed", |_, seed| Seeded(seed));
/// assert_eq!(problem.tasks(), ["a", "b"]);
/// let cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
/// assert_eq!(problem.evaluator(&"b".into(), 7)?.evaluate(&cell)?.score, 7.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FnProblem<S, F> {
    space: S,
    tasks: Vec<String>,
    signal: String,
    make: F,
}

impl<S, F> FnProblem<S, F> {
    /// The problem of `space` on `tasks`, its signal named `signal`, each trial's evaluator
    /// made by `make(task, seed)`.
    pub fn new<E>(space: S, tasks: &[&str], signal: &str, make: F) -> Self
    where
        F: Fn(&str, u64) -> E,
    {
        Self {
            space,
            tasks: tasks.iter().map(|t| t.to_string()).collect(),
            signal: signal.to_string(),
            make,
        }
    }
}

impl<S, F, E> Problem for FnProblem<S, F>
where
    S: SearchSpace + Sync,
    F: Fn(&str, u64) -> E + Sync,
    E: Evaluator<S::Arch> + Send,
{
    type Space = S;
    type Task = String;
    type Evaluator<'p>
        = E
    where
        Self: 'p;
    type Error = std::convert::Infallible;

    fn space(&self) -> &S {
        &self.space
    }

    fn tasks(&self) -> Vec<String> {
        self.tasks.clone()
    }

    fn signal_name(&self) -> &str {
        &self.signal
    }

    fn evaluator(&self, task: &String, seed: u64) -> Result<E, Self::Error> {
        Ok((self.make)(task, seed))
    }
}

/// What a problem reports of one answer ([`Problem::assess`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assessment {
    /// Its test accuracy (%), where the problem measures one; an oracle's is used otherwise.
    pub test_acc: Option<f64>,
    /// Other measures, by name (`table_test_acc`, `latency_ms`, ...).
    pub measures: BTreeMap<String, f64>,
}

/// What a table knows of every architecture of its space on each task: the signal a search
/// sees, the accuracy it is judged by, the optimum and the best architecture by the signal.
///
/// ```
/// use dsm_bench::{Dataset, Nb201Benchmark, Nb201Table, Oracle, Problem, Signal};
///
/// let bench = Nb201Benchmark::new(Nb201Table::embedded(), Signal::Valid200);
/// assert_eq!(bench.tasks(), Dataset::SEARCHED.to_vec());
/// let oracle = bench.oracle().expect("a table");
/// let best = oracle.best_by_signal(&Dataset::Cifar10);
/// assert!(oracle.test_acc(&best, &Dataset::Cifar10) <= oracle.optimum_test_acc(&Dataset::Cifar10));
/// ```
pub trait Oracle<A, T>: Sync {
    /// The accuracy a search sees for `arch` on `task` (what the evaluator scores).
    fn signal_acc(&self, arch: &A, task: &T) -> f64;

    /// The accuracy reported for `arch` on `task` (the test accuracy).
    fn test_acc(&self, arch: &A, task: &T) -> f64;

    /// The table's index of `arch`, where it numbers its architectures.
    fn index_of(&self, _arch: &A) -> Option<usize> {
        None
    }

    /// The best reported accuracy of any architecture on `task`.
    fn optimum_test_acc(&self, task: &T) -> f64;

    /// The architecture with the best signal on `task` (what a perfect search finds).
    fn best_by_signal(&self, task: &T) -> A;
}
