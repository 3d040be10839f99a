//! Where a command-line program's evaluations run, as flags ([`ExecutorArgs`]; the
//! `clap::Args` derive with the `cli` feature).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ClusterError;
use crate::launcher::LocalLauncher;
use crate::slurm::{SlurmLauncher, SlurmOptions};
use crate::store::{Executor, Runner};

/// The executor flags: `--executor inline|local|slurm`, `--workers N`, the Slurm job's
/// resources, the polling interval and the retries. Checked by [`executor`](Self::executor).
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

    /// The [`Runner`] these flags ask for, its searches kept in `dir` (required on workers:
    /// a timestamped folder is the caller's choice) under the study name `run`, each
    /// discarded first with `start_over`; checked as [`executor`](Self::executor) is.
    pub fn runner(
        &self,
        dir: Option<PathBuf>,
        run: &str,
        start_over: bool,
    ) -> Result<Runner, ClusterError> {
        let mut runner = Runner::new(self.executor()?);
        if let Some(dir) = dir {
            runner = runner.kept_in(dir, run);
        }
        Ok(Runner {
            poll_s: self.poll_s,
            retries: self.retries,
            env: self.env()?,
            start_over,
            ..runner
        })
    }

    /// The executor asked for: an error for an unknown executor, Slurm flags without
    /// `--executor slurm`, a missing Slurm command, or a bad value.
    ///
    /// ```
    /// use dsm_cluster::{Executor, ExecutorArgs};
    /// assert_eq!(ExecutorArgs::default().executor()?, Executor::InProcess);
    /// let local = ExecutorArgs { workers: 2, ..Default::default() }; // a local pool
    /// assert_eq!(local.executor()?, Executor::Local { workers: 2 });
    /// let bad = ExecutorArgs { executor: Some("k8s".into()), ..Default::default() };
    /// assert!(bad.executor().err().expect("refused").to_string().contains("--executor"));
    /// # Ok::<(), dsm_cluster::ClusterError>(())
    /// ```
    pub fn executor(&self) -> Result<Executor, ClusterError> {
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
            "slurm" => {
                let options = SlurmOptions {
                    slots,
                    partition: self.partition.clone(),
                    time: self.time.clone(),
                    cpus_per_task: self.cpus_per_task,
                    gpus_per_task: self.gpus_per_task,
                    mem: self.mem.clone(),
                    extra: self.sbatch_args.clone(),
                    ..SlurmOptions::default()
                };
                // Finds sbatch now: a missing Slurm is refused before any work.
                SlurmLauncher::new(options.clone())?;
                Ok(Executor::Slurm(options))
            }
            _ if slurm_flag.is_some() => Err(ClusterError::Config {
                field: slurm_flag.expect("found").0,
                value: format!("given with --executor {executor}"),
                expected: "--executor slurm (it sets a Slurm job's resources)",
            }),
            "local" => {
                LocalLauncher::new(slots)?;
                Ok(Executor::Local { workers: slots })
            }
            "inline" if slots > 1 => Err(ClusterError::Config {
                field: "--workers",
                value: slots.to_string(),
                expected: "1 with --executor inline (pass --executor local or slurm for more)",
            }),
            "inline" => Ok(Executor::InProcess),
            other => Err(ClusterError::Config {
                field: "--executor",
                value: format!("{other:?}"),
                expected: "inline, local or slurm",
            }),
        }
    }
}
