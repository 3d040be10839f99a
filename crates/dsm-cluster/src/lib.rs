//! Where evaluations run: a search's proposals as worker processes on this machine
//! ([`LocalLauncher`]) or as Slurm batch jobs ([`SlurmLauncher`]), behind one
//! [`Launcher`] trait, driven by a [`Cluster`] that journals every step so that a killed
//! driver resumes without training a finished candidate again.
//!
//! The driver and the workers share a folder, nothing else: the driver writes a task file
//! per evaluation (`tasks/<id>.json`) and starts the worker command with `DSM_TASK` naming
//! it; the worker ([`serve`]) evaluates the architecture and writes `results/<id>.json`
//! atomically. No worker needs a connection back to the driver.
//!
//! ```
//! use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
//! use dsm_cluster::{Cluster, ClusterConfig, LocalLauncher, WorkerCommand, serve, task_from_env};
//! use dsm_miner::{Budget, RandomSearch, SearchDriver, Searcher, seeded_rng};
//! use dsm_space::{Nb201Cell, Nb201Space};
//!
//! // A worker is any program that serves its task file; here a shell stands in for one.
//! # let dir = std::env::temp_dir().join(format!("dsm-cluster-doc-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let worker = WorkerCommand::new("sh", ["-c", r#"id=$(sed -n 's/.*"id": \([0-9]*\).*/\1/p' "$DSM_TASK");
//!     res=$(sed -n 's/.*"result": "\(.*\)".*/\1/p' "$DSM_TASK");
//!     printf '{"id":%s,"evaluation":{"score":%s,"cost_s":1.0}}' "$id" "$id" > "$res.tmp" && mv "$res.tmp" "$res""#]);
//! let config = ClusterConfig { dir: dir.clone(), run: "doc".into(), poll_s: 0.02, ..Default::default() };
//! let mut cluster = Cluster::new(config, LocalLauncher::new(2)?, worker)?;
//! let budget = Budget { max_iters: 3, ..Budget::default() };
//! let driver = SearchDriver::new(&Nb201Space, RandomSearch.strategy(&Nb201Space)?, budget)?;
//! let done = cluster.search(driver, &mut seeded_rng(1))?;
//! assert_eq!(done.outcome.queries, 4);
//! assert_eq!(done.outcome.best_score, 3.0); // the shell scored proposal i as i
//! assert_eq!(done.report.submissions, 4);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod args;
mod error;
mod executor;
pub mod journal;
mod launcher;
mod slurm;
mod store;
mod task;

pub use args::ExecutorArgs;
pub use error::ClusterError;
pub use executor::{
    Cluster, ClusterConfig, ClusterOutcome, Report, TellOrder, search_in_order, stop_on_signals,
};
pub use launcher::{JobSpec, JobState, Launcher, LocalLauncher, WorkerCommand};
pub use slurm::{SlurmLauncher, SlurmOptions};
pub use store::{Executor, Runner};
pub use task::{ATTEMPT_ENV, TASK_ENV, Task, TaskResult, serve, task_from_env};
