//! Where a study's evaluations run, as a library type: [`Executor`] (in this process, worker
//! processes on this machine, Slurm jobs) and [`Runner`], which runs every search a study
//! hands it there, each kept in a folder so that a rerun continues it. A [`Runner`] is a
//! [`SearchExecutor`]: `dsm_protocol::run_trials` takes it. The command-line flags
//! ([`ExecutorArgs`](crate::ExecutorArgs)) are only its adapter.

use std::path::PathBuf;

use dsm_miner::{
    DynEvaluator, MinerError, SearchCheckpoint, SearchExecutor, SearchJob, SearchOutcome, SearchRng,
};
use dsm_space::SearchSpace;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::launcher::{Launcher, LocalLauncher};
use crate::slurm::{SlurmLauncher, SlurmOptions};
use crate::{Cluster, ClusterConfig, ClusterError, WorkerCommand};

/// Where evaluations run.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Executor {
    /// In this process, one at a time.
    #[default]
    InProcess,
    /// Worker processes on this machine, `workers` at once.
    Local {
        /// Evaluations in flight at once.
        workers: usize,
    },
    /// Slurm batch jobs (`options.slots` at once).
    Slurm(SlurmOptions),
}

impl Executor {
    /// Its name on command lines (`inline`, `local`, `slurm`).
    pub fn name(&self) -> &'static str {
        match self {
            Executor::InProcess => "inline",
            Executor::Local { .. } => "local",
            Executor::Slurm(_) => "slurm",
        }
    }

    /// The launcher of worker processes or jobs (`None` in process): an error for no
    /// workers or a missing Slurm command.
    ///
    /// ```
    /// use dsm_cluster::Executor;
    /// assert!(Executor::InProcess.launcher()?.is_none());
    /// assert_eq!(Executor::Local { workers: 2 }.launcher()?.expect("a pool").name(), "local");
    /// # Ok::<(), dsm_cluster::ClusterError>(())
    /// ```
    pub fn launcher(&self) -> Result<Option<Box<dyn Launcher>>, ClusterError> {
        Ok(match self {
            Executor::InProcess => None,
            Executor::Local { workers } => Some(Box::new(LocalLauncher::new(*workers)?)),
            Executor::Slurm(options) => Some(Box::new(SlurmLauncher::new(options.clone())?)),
        })
    }
}

/// Runs the searches of a study where [`executor`](Self::executor) says, each kept in
/// [`dir`](Self::dir) so that a rerun continues it: the search of `method` on `task` from
/// seed `s` is checkpointed in `DIR/<task>-seed-<s>/<method>.json` in process
/// ([`SearchCheckpoint`], every evaluation saved) or journaled in
/// `DIR/<task>-seed-<s>/<method>/` on workers, its jobs named
/// `dsm-<run>-<task>-s<s>-<method>-<id>`. Each worker is this very program with the same
/// arguments and the job's task and seed in its environment ([`SearchJob::env`]); it must
/// call [`serve`](crate::serve) when [`task_from_env`](crate::task_from_env) names a task.
/// The results are those of the in-process search for the same seed.
///
/// ```
/// use dsm_cluster::{Executor, Runner};
/// use dsm_miner::{Budget, InProcess, RandomSearch, SearchExecutor, SearchJob, seeded_rng};
/// use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
///
/// # let dir = std::env::temp_dir().join(format!("dsm-runner-doc-{}", std::process::id()));
/// let runner = Runner::new(Executor::InProcess).kept_in(&dir, "doc");
/// let job = || SearchJob { method: &RandomSearch, space: &dsm_space::Nb201Space,
///     budget: Budget { max_iters: 5, ..Budget::default() }, task: "cifar10".into(), seed: 4 };
/// let mut eval = Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
/// let kept = runner.run(job(), &mut eval, &mut seeded_rng(4))?;
/// assert!(dir.join("cifar10-seed-4/random.json").exists());
/// // The same as the search in process, and a rerun continues (here: finds it finished).
/// assert_eq!(kept, InProcess.run(job(), &mut eval, &mut seeded_rng(4))?);
/// assert_eq!(kept, runner.run(job(), &mut eval, &mut seeded_rng(4))?);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Runner {
    /// Where evaluations run.
    pub executor: Executor,
    /// Where the searches are kept (`None`: nowhere, in process only; workers need one).
    pub dir: Option<PathBuf>,
    /// Names the study: the checkpoints' label, part of the job names and of the journals'
    /// fingerprint (so another study's search is refused, not continued).
    pub run: String,
    /// Seconds between polls of the results and the scheduler.
    pub poll_s: f64,
    /// Failed attempts of an evaluation started again before it counts as failed.
    pub retries: u32,
    /// Environment variables for every worker (before each job's task and seed).
    pub env: Vec<(String, String)>,
    /// Discard each kept search before running it (start the study's searches afresh).
    pub start_over: bool,
}

impl Runner {
    /// Searches run by `executor`, kept nowhere (in process) until [`kept_in`](Self::kept_in).
    pub fn new(executor: Executor) -> Self {
        Self {
            executor,
            dir: None,
            run: String::new(),
            poll_s: 1.0,
            retries: 2,
            env: Vec::new(),
            start_over: false,
        }
    }

    /// The searches kept in `dir`, the study named `run`.
    pub fn kept_in(mut self, dir: impl Into<PathBuf>, run: impl Into<String>) -> Self {
        self.dir = Some(dir.into());
        self.run = run.into();
        self
    }

    /// The folder of one trial's searches.
    fn trial_dir<S: SearchSpace>(&self, job: &SearchJob<'_, S>) -> Option<PathBuf> {
        let task: String = job
            .task
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{task}-seed-{}", job.seed)))
    }

    fn run_search<S>(
        &self,
        job: SearchJob<'_, S>,
        evaluator: &mut dyn DynEvaluator<S::Arch>,
        rng: &mut SearchRng,
    ) -> Result<SearchOutcome<S::Arch>, ClusterError>
    where
        S: SearchSpace,
        S::Arch: Serialize + DeserializeOwned,
    {
        let method = job.method.name().to_string();
        let dir = self.trial_dir(&job);
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|e| ClusterError::Journal {
                path: dir.clone(),
                reason: format!("cannot be created for the search's checkpoint: {e}"),
            })?;
            if self.start_over {
                forget(&dir.join(format!("{method}.json")), &dir.join(&method))?;
            }
        }
        let Some(launcher) = self.executor.launcher()? else {
            return Ok(match &dir {
                Some(dir) => SearchCheckpoint::new(dir.join(format!("{method}.json")), 1)
                    .with_label(self.run.clone())
                    .search(job.method, job.space, &mut { evaluator }, job.budget, rng)?,
                None => dsm_miner::driver_for(job.method, job.space, job.budget)?
                    .run(&mut { evaluator }, rng)?,
            });
        };
        let Some(dir) = dir else {
            return Err(ClusterError::Config {
                field: "runner folder",
                value: "none".into(),
                expected: "a folder for the journals of searches on workers",
            });
        };
        let mut command = WorkerCommand::this_process()?;
        command.env = self.env.iter().cloned().chain(job.env()).collect();
        let config = ClusterConfig {
            dir: dir.join(&method),
            run: format!("{}-{}-s{}-{method}", self.run, job.task, job.seed),
            poll_s: self.poll_s,
            max_retries: self.retries,
            resume: true,
            fingerprint: format!("{} {} {:?}", job.method.settings(), self.run, job.budget),
            ..ClusterConfig::default()
        };
        let mut cluster =
            Cluster::new(config, launcher, command)?.with_stop(crate::stop_on_signals()?);
        let driver = dsm_miner::driver_for(job.method, job.space, job.budget)?;
        Ok(cluster.search(driver, rng)?.outcome)
    }
}

impl<S> SearchExecutor<S> for Runner
where
    S: SearchSpace,
    S::Arch: Serialize + DeserializeOwned,
{
    fn run(
        &self,
        job: SearchJob<'_, S>,
        evaluator: &mut dyn DynEvaluator<S::Arch>,
        rng: &mut SearchRng,
    ) -> Result<SearchOutcome<S::Arch>, MinerError> {
        self.run_search(job, evaluator, rng).map_err(|e| match e {
            ClusterError::Miner(e) => e,
            other => MinerError::Executor {
                executor: self.executor.name().to_string(),
                source: Box::new(other),
            },
        })
    }
}

/// Removes a kept search (its checkpoint file and its journal folder), if there.
fn forget(file: &std::path::Path, journal: &std::path::Path) -> Result<(), ClusterError> {
    let gone = |r: std::io::Result<()>, path: &std::path::Path| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ClusterError::Journal {
            path: path.to_path_buf(),
            reason: format!("cannot be removed to start over: {e}"),
        }),
        _ => Ok(()),
    };
    gone(std::fs::remove_file(file), file)?;
    gone(std::fs::remove_dir_all(journal), journal)
}
