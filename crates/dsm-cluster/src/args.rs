//! Where a command-line program's evaluations run, as flags ([`ExecutorArgs`]; the
//! `clap::Args` derive with the `cli` feature).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::executor::ClusterConfig;

use crate::ClusterError;
use crate::launcher::{Launcher, LocalLauncher};
use crate::slurm::{SlurmLauncher, SlurmOptions};

/// The executor flags: `--executor inline|local|slurm`, `--workers N`, the Slurm job's
/// resources, the polling interval and the retries. Checked by [`launcher`](Self::launcher).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct ExecutorArgs {
    /// Where evaluations run: inline (in this process, one at a time), local (worker
    /// processes on this machine) or slurm (batch jobs on the cluster SLURM_CONF names);
    /// default: inline for one worker, local for more.
    #[cfg_attr(feature = "cli", arg(long))]
    pub executor: Option<String>,
    /// Evaluations in flight at once (local and slurm).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1,
        value_parser = clap::value_parser!(u64).range(1..=4096)))]
    pub workers: u64,
    /// Slurm: the partition (default: the cluster's default).
    #[cfg_attr(feature = "cli", arg(long))]
    pub partition: Option<String>,
    /// Slurm: each job's time limit, in sbatch's format (30, 1:00:00, 2-00:00:00).
    #[cfg_attr(feature = "cli", arg(long))]
    pub time: Option<String>,
    /// Slurm: CPUs per job.
    #[cfg_attr(feature = "cli", arg(long,
        value_parser = clap::value_parser!(u32).range(1..)))]
    pub cpus_per_task: Option<u32>,
    /// Slurm: GPUs per job.
    #[cfg_attr(feature = "cli", arg(long,
        value_parser = clap::value_parser!(u32).range(1..)))]
    pub gpus_per_task: Option<u32>,
    /// Slurm: memory per job (4G).
    #[cfg_attr(feature = "cli", arg(long))]
    pub mem: Option<String>,
    /// Slurm: one more sbatch argument, passed as given (repeatable: --sbatch-arg=--qos=short).
    #[cfg_attr(feature = "cli", arg(long = "sbatch-arg", allow_hyphen_values = true))]
    pub sbatch_args: Vec<String>,
    /// An environment variable for every worker, KEY=VALUE (repeatable).
    #[cfg_attr(feature = "cli", arg(long = "job-env", value_name = "KEY=VALUE"))]
    pub job_env: Vec<String>,
    /// Seconds between polls of the results and the scheduler.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1.0))]
    pub poll_s: f64,
    /// Failed attempts of an evaluation started again before it counts as failed.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 2,
        value_parser = clap::value_parser!(u32).range(0..=100)))]
    pub retries: u32,
}

impl Default for ExecutorArgs {
    fn default() -> Self {
        Self {
            executor: None,
            workers: 1,
            partition: None,
            time: None,
            cpus_per_task: None,
            gpus_per_task: None,
            mem: None,
            sbatch_args: Vec::new(),
            job_env: Vec::new(),
            poll_s: 1.0,
            retries: 2,
        }
    }
}

impl ExecutorArgs {
    /// The `--job-env` variables as pairs (an error for one without `=` or with an empty
    /// name).
    pub fn env(&self) -> Result<Vec<(String, String)>, ClusterError> {
        self.job_env
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
                    Ok((k.to_string(), v.to_string()))
                }
                _ => Err(ClusterError::Config {
                    field: "--job-env",
                    value: format!("{kv:?}"),
                    expected: "KEY=VALUE with a non-empty KEY",
                }),
            })
            .collect()
    }

    /// Runs one search of `method` through the executor these flags ask for, the worker being
    /// this very program with the same arguments (it must call [`serve`](crate::serve) when
    /// [`task_from_env`](crate::task_from_env) names a task), under `config` (see
    /// [`config`](Self::config)); SIGTERM and Ctrl-C cancel its jobs. `None`
    /// for `inline`: the caller evaluates in process.
    pub fn search_method<S, M>(
        &self,
        method: &M,
        space: &S,
        budget: dsm_miner::Budget,
        rng: &mut dyn rand::Rng,
        config: ClusterConfig,
    ) -> Result<Option<crate::ClusterOutcome<S::Arch>>, ClusterError>
    where
        S: dsm_space::SearchSpace,
        M: dsm_miner::Searcher<S> + ?Sized,
    {
        let Some(launcher) = self.launcher()? else {
            return Ok(None);
        };
        let mut command = crate::WorkerCommand::this_process()?;
        command.env = self.env()?;
        let mut cluster =
            crate::Cluster::new(config, launcher, command)?.with_stop(crate::stop_on_signals()?);
        cluster.search_method(method, space, budget, rng).map(Some)
    }

    /// The cluster settings these flags give for a search journaled in `dir`, its jobs named
    /// `dsm-<run>-<id>`, continued when `dir` holds its journal (`resume`).
    pub fn config(
        &self,
        dir: PathBuf,
        run: &str,
        fingerprint: &str,
        resume: bool,
    ) -> ClusterConfig {
        ClusterConfig {
            dir,
            run: run.to_string(),
            poll_s: self.poll_s,
            max_retries: self.retries,
            resume,
            fingerprint: fingerprint.to_string(),
            ..ClusterConfig::default()
        }
    }

    /// The launcher asked for (`None` for `inline`): an error for an unknown executor,
    /// Slurm flags without `--executor slurm`, a missing Slurm command, or a bad value.
    ///
    /// ```
    /// use dsm_cluster::ExecutorArgs;
    /// assert!(ExecutorArgs::default().launcher()?.is_none());
    /// let local = ExecutorArgs { workers: 2, ..Default::default() }; // a local pool
    /// assert_eq!(local.launcher()?.expect("a pool").name(), "local");
    /// let bad = ExecutorArgs { executor: Some("k8s".into()), ..Default::default() };
    /// assert!(bad.launcher().err().expect("refused").to_string().contains("--executor"));
    /// # Ok::<(), dsm_cluster::ClusterError>(())
    /// ```
    pub fn launcher(&self) -> Result<Option<Box<dyn Launcher>>, ClusterError> {
        if !(self.poll_s.is_finite() && self.poll_s > 0.0 && self.poll_s <= 3600.0) {
            return Err(ClusterError::Config {
                field: "--poll-s",
                value: self.poll_s.to_string(),
                expected: "seconds in (0, 3600]",
            });
        }
        let slurm_flag = [
            ("--partition", self.partition.is_some()),
            ("--time", self.time.is_some()),
            ("--cpus-per-task", self.cpus_per_task.is_some()),
            ("--gpus-per-task", self.gpus_per_task.is_some()),
            ("--mem", self.mem.is_some()),
            ("--sbatch-arg", !self.sbatch_args.is_empty()),
        ]
        .into_iter()
        .find(|f| f.1);
        let slots = self.workers as usize;
        self.env()?;
        let executor = match &self.executor {
            Some(e) => e.as_str(),
            None if slots > 1 => "local",
            None => "inline",
        };
        match executor {
            "slurm" => Ok(Some(Box::new(SlurmLauncher::new(SlurmOptions {
                slots,
                partition: self.partition.clone(),
                time: self.time.clone(),
                cpus_per_task: self.cpus_per_task,
                gpus_per_task: self.gpus_per_task,
                mem: self.mem.clone(),
                extra: self.sbatch_args.clone(),
                ..SlurmOptions::default()
            })?))),
            _ if slurm_flag.is_some() => Err(ClusterError::Config {
                field: slurm_flag.expect("found").0,
                value: format!("given with --executor {executor}"),
                expected: "--executor slurm (it sets a Slurm job's resources)",
            }),
            "local" => Ok(Some(Box::new(LocalLauncher::new(slots)?))),
            "inline" if slots > 1 => Err(ClusterError::Config {
                field: "--workers",
                value: slots.to_string(),
                expected: "1 with --executor inline (pass --executor local or slurm for more)",
            }),
            "inline" => Ok(None),
            other => Err(ClusterError::Config {
                field: "--executor",
                value: format!("{other:?}"),
                expected: "inline, local or slurm",
            }),
        }
    }
}
