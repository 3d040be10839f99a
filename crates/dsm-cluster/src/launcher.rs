//! How a worker is started and watched: the [`Launcher`] trait, the worker command, and the
//! local pool of worker processes.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::ClusterError;
use crate::task::{ATTEMPT_ENV, TASK_ENV};

/// The command that runs one task: a program, its arguments and extra environment; the
/// launcher adds `DSM_TASK` (the task file) and `DSM_ATTEMPT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerCommand {
    /// The program (an absolute path on a cluster: the nodes run it).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl WorkerCommand {
    /// `program` with `args`, no extra environment.
    pub fn new(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
        }
    }

    /// This very process again (`std::env::current_exe()`) with the same arguments: for a
    /// binary that is its own worker (it checks [`task_from_env`](crate::task_from_env)
    /// first).
    pub fn this_process() -> Result<Self, ClusterError> {
        let program = std::env::current_exe().map_err(|e| ClusterError::Spawn {
            command: "the current executable".into(),
            source: e,
        })?;
        Ok(Self::new(program, std::env::args().skip(1)))
    }
}

/// One job to start: its name (`dsm-<run>-<id>`), the task file, the log file, and the
/// attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The job's name, shown by `squeue`.
    pub name: String,
    /// The task file (absolute).
    pub task: PathBuf,
    /// Where the worker's output goes (appended to).
    pub log: PathBuf,
    /// A file the launcher may write (a batch script).
    pub script: PathBuf,
    /// The attempt (0 for the first submission).
    pub attempt: u32,
}

/// What a launcher knows of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Waiting to start.
    Pending,
    /// Running.
    Running,
    /// Ended with exit status 0.
    Completed,
    /// Ended otherwise (a non-zero exit, a signal, out of memory).
    Failed {
        /// The exit status or signal, as the launcher reports it.
        exit: String,
    },
    /// Ran past its time limit.
    Timeout,
    /// Lost to a node failure or preemption: to be started again, not counted as a failure.
    Lost {
        /// The scheduler's state (`NODE_FAIL`, `PREEMPTED`, `BOOT_FAIL`).
        state: String,
    },
    /// Cancelled (by an operator or by the driver).
    Cancelled,
    /// Unknown to the launcher (finished long ago, or started by a driver that is gone).
    Gone,
}

impl JobState {
    /// Whether the job has ended (for good or to be started again).
    pub fn is_over(&self) -> bool {
        !matches!(self, JobState::Pending | JobState::Running)
    }
}

/// Starts, watches and cancels worker jobs: a pool of processes on this machine
/// ([`LocalLauncher`]), a Slurm cluster ([`SlurmLauncher`](crate::SlurmLauncher)), or a
/// user's own (Kubernetes Jobs, Ray tasks: see `docs/distributed.md`).
pub trait Launcher {
    /// A short name (`local`, `slurm`).
    fn name(&self) -> &str;

    /// How many jobs may run at once (the search keeps this many in flight).
    fn slots(&self) -> usize;

    /// Starts `job` running `command`; returns its job id.
    fn submit(&mut self, job: &JobSpec, command: &WorkerCommand) -> Result<String, ClusterError>;

    /// The state of each of `jobs` (by id).
    fn states(&mut self, jobs: &[String]) -> Result<HashMap<String, JobState>, ClusterError>;

    /// Cancels `jobs` (ended ones are ignored).
    fn cancel(&mut self, jobs: &[String]) -> Result<(), ClusterError>;

    /// A job still queued or running under `name` (to re-attach to after a driver crash),
    /// when the launcher can find one.
    fn find(&mut self, name: &str) -> Result<Option<String>, ClusterError> {
        let _ = name;
        Ok(None)
    }
}

impl<L: Launcher + ?Sized> Launcher for Box<L> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn slots(&self) -> usize {
        (**self).slots()
    }
    fn submit(&mut self, job: &JobSpec, command: &WorkerCommand) -> Result<String, ClusterError> {
        (**self).submit(job, command)
    }
    fn states(&mut self, jobs: &[String]) -> Result<HashMap<String, JobState>, ClusterError> {
        (**self).states(jobs)
    }
    fn cancel(&mut self, jobs: &[String]) -> Result<(), ClusterError> {
        (**self).cancel(jobs)
    }
    fn find(&mut self, name: &str) -> Result<Option<String>, ClusterError> {
        (**self).find(name)
    }
}

/// A pool of worker processes on this machine: each task is a child process (so a crash of
/// one cannot take the driver down), at most `slots` at once. After a driver crash its
/// children cannot be re-attached to: unfinished tasks are started again.
pub struct LocalLauncher {
    slots: usize,
    children: BTreeMap<String, Child>,
    ended: HashMap<String, JobState>,
}

impl LocalLauncher {
    /// A pool of `slots` worker processes (at least 1).
    pub fn new(slots: usize) -> Result<Self, ClusterError> {
        if slots == 0 {
            return Err(ClusterError::Config {
                field: "workers",
                value: "0".into(),
                expected: "at least 1 worker",
            });
        }
        Ok(Self {
            slots,
            children: BTreeMap::new(),
            ended: HashMap::new(),
        })
    }
}

fn log_file(path: &Path) -> Result<std::fs::File, ClusterError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| dsm_space::io::FileError::write(path, e).into())
}

impl Launcher for LocalLauncher {
    fn name(&self) -> &str {
        "local"
    }

    fn slots(&self) -> usize {
        self.slots
    }

    fn submit(&mut self, job: &JobSpec, command: &WorkerCommand) -> Result<String, ClusterError> {
        let out = log_file(&job.log)?;
        let err = out
            .try_clone()
            .map_err(|e| dsm_space::io::FileError::write(&job.log, e))?;
        let child = Command::new(&command.program)
            .args(&command.args)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .env(TASK_ENV, &job.task)
            .env(ATTEMPT_ENV, job.attempt.to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| ClusterError::Spawn {
                command: command.program.display().to_string(),
                source: e,
            })?;
        let id = child.id().to_string();
        self.children.insert(id.clone(), child);
        Ok(id)
    }

    fn states(&mut self, jobs: &[String]) -> Result<HashMap<String, JobState>, ClusterError> {
        let mut out = HashMap::new();
        for id in jobs {
            let state = if let Some(s) = self.ended.get(id) {
                s.clone()
            } else if let Some(child) = self.children.get_mut(id) {
                match child.try_wait() {
                    Ok(None) => JobState::Running,
                    Ok(Some(status)) => {
                        let s = if status.success() {
                            JobState::Completed
                        } else {
                            JobState::Failed {
                                exit: status.to_string(),
                            }
                        };
                        self.children.remove(id);
                        self.ended.insert(id.clone(), s.clone());
                        s
                    }
                    Err(e) => JobState::Failed {
                        exit: format!("cannot wait for it: {e}"),
                    },
                }
            } else {
                JobState::Gone
            };
            out.insert(id.clone(), state);
        }
        Ok(out)
    }

    fn cancel(&mut self, jobs: &[String]) -> Result<(), ClusterError> {
        for id in jobs {
            if let Some(mut child) = self.children.remove(id) {
                // Already ended is fine: the kill then fails and the wait reaps it.
                let _ = child.kill();
                let _ = child.wait();
                self.ended.insert(id.clone(), JobState::Cancelled);
            }
        }
        Ok(())
    }
}

impl Drop for LocalLauncher {
    fn drop(&mut self) {
        let ids: Vec<String> = self.children.keys().cloned().collect();
        let _ = self.cancel(&ids);
    }
}
