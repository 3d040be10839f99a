//! Slurm through its command line (`sbatch --parsable`, `scontrol show job -o`, `squeue`,
//! `scancel`), as submitit and Determined do: no accounting database, no port back to the
//! driver. The cluster is the one `SLURM_CONF` (or Slurm's default configuration) names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dsm_space::io::save;
use serde::{Deserialize, Serialize};

use crate::ClusterError;
use crate::launcher::{JobSpec, JobState, Launcher, WorkerCommand};
use crate::task::{ATTEMPT_ENV, TASK_ENV};

/// What each batch job asks Slurm for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlurmOptions {
    /// Jobs in flight at once.
    pub slots: usize,
    /// `--partition` (default: the cluster's default partition).
    pub partition: Option<String>,
    /// `--time`, in Slurm's format (`30`, `1:00:00`, `2-00:00:00`).
    pub time: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// `--gpus-per-task`.
    pub gpus_per_task: Option<u32>,
    /// `--mem` (`4G`).
    pub mem: Option<String>,
    /// More `sbatch` arguments, passed as given (`--qos=short`, `--account=nas`).
    pub extra: Vec<String>,
    /// The `sbatch` program (default `sbatch` on `PATH`; a wrapper script works).
    pub sbatch: PathBuf,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        Self {
            slots: 8,
            partition: None,
            time: None,
            cpus_per_task: None,
            gpus_per_task: None,
            mem: None,
            extra: Vec::new(),
            sbatch: PathBuf::from("sbatch"),
        }
    }
}

/// A launcher that runs each task as a Slurm batch job named after it.
pub struct SlurmLauncher {
    options: SlurmOptions,
}

/// The program's full path when it is on `PATH` (or is a path to an executable file).
pub(crate) fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

impl SlurmLauncher {
    /// A launcher with `options`: refused when `sbatch`, `scontrol`, `squeue` or `scancel`
    /// is missing, or when `slots` is 0.
    pub fn new(options: SlurmOptions) -> Result<Self, ClusterError> {
        if options.slots == 0 {
            return Err(ClusterError::Config {
                field: "workers",
                value: "0".into(),
                expected: "at least 1 job in flight",
            });
        }
        let hint = "install Slurm's client commands (Debian: slurm-client) or start the project's cluster with scripts/slurm-local.sh start";
        for tool in [
            options.sbatch.as_path(),
            "scontrol".as_ref(),
            "squeue".as_ref(),
            "scancel".as_ref(),
        ] {
            if find_program(tool).is_none() {
                return Err(ClusterError::MissingTool {
                    tool: tool.display().to_string(),
                    hint,
                });
            }
        }
        Ok(Self { options })
    }

    /// The `sbatch` arguments for `job` (before the script).
    pub fn sbatch_args(&self, job: &JobSpec) -> Vec<String> {
        let o = &self.options;
        let mut a = vec![
            "--parsable".to_string(),
            format!("--job-name={}", job.name),
            format!("--output={}", job.log.display()),
            "--open-mode=append".to_string(),
        ];
        if let Some(p) = &o.partition {
            a.push(format!("--partition={p}"));
        }
        if let Some(t) = &o.time {
            a.push(format!("--time={t}"));
        }
        if let Some(c) = o.cpus_per_task {
            a.push(format!("--cpus-per-task={c}"));
        }
        if let Some(g) = o.gpus_per_task {
            a.push(format!("--gpus-per-task={g}"));
        }
        if let Some(m) = &o.mem {
            a.push(format!("--mem={m}"));
        }
        a.extend(o.extra.iter().cloned());
        a
    }
}

/// Quotes `s` for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The batch script of `job`: the environment, then the worker command.
pub(crate) fn batch_script(job: &JobSpec, command: &WorkerCommand) -> String {
    let mut s = String::from("#!/bin/sh\n# Written by dsm-cluster: one evaluation of a search.\n");
    let mut env: Vec<(String, String)> = command.env.clone();
    env.push((TASK_ENV.into(), job.task.display().to_string()));
    env.push((ATTEMPT_ENV.into(), job.attempt.to_string()));
    for (k, v) in env {
        s.push_str(&format!("export {k}={}\n", quote(&v)));
    }
    s.push_str("exec");
    for part in
        std::iter::once(command.program.display().to_string()).chain(command.args.iter().cloned())
    {
        s.push(' ');
        s.push_str(&quote(&part));
    }
    s.push('\n');
    s
}

/// Runs `program args`, returning its stdout, or Slurm's message when it fails.
fn run(program: &Path, args: &[String]) -> Result<String, ClusterError> {
    let shown = || {
        let mut c = program.display().to_string();
        if let Some(a) = args.first() {
            c.push(' ');
            c.push_str(a);
        }
        c
    };
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| ClusterError::Spawn {
            command: program.display().to_string(),
            source: e,
        })?;
    if !out.status.success() {
        let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if message.is_empty() {
            message = format!("{} with no message", out.status);
        }
        return Err(ClusterError::Refused {
            command: shown(),
            message: message.lines().collect::<Vec<_>>().join(" | "),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `key=value` fields of one line of `scontrol show job -o`.
pub(crate) fn parse_scontrol(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A Slurm job state (`JobState=` of `scontrol`, `%T` of `squeue`) as a [`JobState`].
pub(crate) fn job_state(state: &str, exit_code: Option<&str>) -> JobState {
    match state {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
        | "RESV_DEL_HOLD" => JobState::Pending,
        "RUNNING" | "COMPLETING" | "SUSPENDED" | "STAGE_OUT" | "SIGNALING" | "RESIZING" => {
            JobState::Running
        }
        "COMPLETED" => JobState::Completed,
        "TIMEOUT" | "DEADLINE" => JobState::Timeout,
        "NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL" => JobState::Lost {
            state: state.to_string(),
        },
        "CANCELLED" => JobState::Cancelled,
        other => JobState::Failed {
            exit: format!("{other}, exit code {}", exit_code.unwrap_or("unknown")),
        },
    }
}

impl Launcher for SlurmLauncher {
    fn name(&self) -> &str {
        "slurm"
    }

    fn slots(&self) -> usize {
        self.options.slots
    }

    fn submit(&mut self, job: &JobSpec, command: &WorkerCommand) -> Result<String, ClusterError> {
        save(&job.script, batch_script(job, command).as_bytes())?;
        let mut args = self.sbatch_args(job);
        args.push(job.script.display().to_string());
        let out = run(&self.options.sbatch, &args)?;
        // `--parsable` prints `id` or `id;cluster`.
        let id = out.trim().split(';').next().unwrap_or("").to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return Err(ClusterError::Refused {
                command: format!("{} --parsable", self.options.sbatch.display()),
                message: format!("printed {:?} instead of a job id", out.trim()),
            });
        }
        Ok(id)
    }

    fn states(&mut self, jobs: &[String]) -> Result<HashMap<String, JobState>, ClusterError> {
        let mut out = HashMap::new();
        for id in jobs {
            let args = vec!["show".into(), "job".into(), "-o".into(), id.clone()];
            let state = match run(Path::new("scontrol"), &args) {
                Ok(text) => {
                    let f = parse_scontrol(text.lines().next().unwrap_or(""));
                    match f.get("JobState") {
                        Some(s) => job_state(s, f.get("ExitCode").map(String::as_str)),
                        None => JobState::Gone,
                    }
                }
                Err(ClusterError::Refused { message, .. })
                    if message.contains("Invalid job id") =>
                {
                    JobState::Gone
                }
                Err(e) => return Err(e),
            };
            out.insert(id.clone(), state);
        }
        Ok(out)
    }

    fn cancel(&mut self, jobs: &[String]) -> Result<(), ClusterError> {
        if jobs.is_empty() {
            return Ok(());
        }
        run(Path::new("scancel"), jobs).map(|_| ())
    }

    fn find(&mut self, name: &str) -> Result<Option<String>, ClusterError> {
        let args = vec![
            "-h".into(),
            "-n".into(),
            name.to_string(),
            "-o".into(),
            "%i".into(),
        ];
        let out = run(Path::new("squeue"), &args)?;
        Ok(out
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(String::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scontrol_lines_and_states_parse() {
        let f = parse_scontrol(
            "JobId=12 JobName=dsm-r-3 JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0",
        );
        assert_eq!(f["JobState"], "FAILED");
        assert_eq!(
            job_state(&f["JobState"], Some(&f["ExitCode"])),
            JobState::Failed {
                exit: "FAILED, exit code 3:0".into()
            }
        );
        assert_eq!(job_state("TIMEOUT", None), JobState::Timeout);
        assert_eq!(
            job_state("NODE_FAIL", None),
            JobState::Lost {
                state: "NODE_FAIL".into()
            }
        );
        assert_eq!(job_state("COMPLETING", None), JobState::Running);
    }

    #[test]
    fn batch_scripts_quote_every_word() {
        let job = JobSpec {
            name: "dsm-r-0".into(),
            task: "/runs/it's/tasks/0.json".into(),
            log: "/runs/logs/0.out".into(),
            script: "/runs/jobs/0.sh".into(),
            attempt: 1,
        };
        let cmd = WorkerCommand::new("/bin/worker", ["--data", "a b"]);
        let s = batch_script(&job, &cmd);
        assert!(
            s.contains("export DSM_TASK='/runs/it'\\''s/tasks/0.json'\n"),
            "{s}"
        );
        assert!(s.contains("export DSM_ATTEMPT='1'\n"));
        assert!(s.ends_with("exec '/bin/worker' '--data' 'a b'\n"), "{s}");
    }

    #[test]
    fn a_missing_sbatch_is_named() {
        let o = SlurmOptions {
            sbatch: "/nonexistent/sbatch".into(),
            ..SlurmOptions::default()
        };
        let e = SlurmLauncher::new(o).err().expect("refused").to_string();
        assert!(
            e.starts_with("/nonexistent/sbatch not found on PATH"),
            "{e}"
        );
    }
}
