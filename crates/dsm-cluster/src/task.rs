//! What passes between the driver and a worker: a task file in, a result file out, both in
//! the run's shared folder (no network connection back to the driver).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use dsm_space::io::{read_to_string, save};
use dsm_space::{Evaluation, Evaluator};
use serde::{Deserialize, Serialize};

use crate::ClusterError;

/// The environment variable that holds a worker's task file.
pub const TASK_ENV: &str = "DSM_TASK";

/// The environment variable that holds the attempt number of a worker's task (0, 1, ...).
pub const ATTEMPT_ENV: &str = "DSM_ATTEMPT";

/// One evaluation to run: written by the driver, read by the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The run's name.
    pub run: String,
    /// The proposal's id in the search.
    pub id: u64,
    /// The attempt (0 for the first submission).
    pub attempt: u32,
    /// The architecture, in its space's canonical text form.
    pub arch: String,
    /// Where the worker writes its [`TaskResult`] (atomically).
    pub result: PathBuf,
}

/// A finished evaluation: written by the worker (atomically), read by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The proposal's id.
    pub id: u64,
    /// The evaluation.
    pub evaluation: Evaluation,
}

impl Task {
    /// Reads a task file.
    pub fn read(path: &Path) -> Result<Self, ClusterError> {
        let text = read_to_string(path)?;
        serde_json::from_str(&text).map_err(|e| ClusterError::Task {
            path: path.to_path_buf(),
            reason: format!("is not a task file: {e}"),
        })
    }

    /// Writes the task file (atomically).
    pub fn write(&self, path: &Path) -> Result<(), ClusterError> {
        let text = serde_json::to_string_pretty(self).expect("plain data serialises");
        Ok(save(path, text.as_bytes())?)
    }
}

impl TaskResult {
    /// Reads the result of proposal `id`: an error when the file is not a result of it or
    /// its numbers are not finite.
    pub fn read(path: &Path, id: u64) -> Result<Self, ClusterError> {
        let bad = |reason: String| ClusterError::Task {
            path: path.to_path_buf(),
            reason,
        };
        let text = read_to_string(path)?;
        let r: TaskResult =
            serde_json::from_str(&text).map_err(|e| bad(format!("is not a result file: {e}")))?;
        if r.id != id {
            return Err(bad(format!("holds the result of {} instead of {id}", r.id)));
        }
        let e = r.evaluation;
        if !(e.score.is_finite() && e.cost_s.is_finite() && e.cost_s >= 0.0) {
            return Err(bad(format!(
                "holds a score {} and cost {}: expected finite numbers, cost >= 0",
                e.score, e.cost_s
            )));
        }
        Ok(r)
    }
}

/// The task file this process was started for as a worker (`DSM_TASK`), if any: a binary
/// that is also its own worker checks this first.
pub fn task_from_env() -> Option<PathBuf> {
    std::env::var_os(TASK_ENV).map(PathBuf::from)
}

/// Runs the task in `task_file` with `evaluator` and writes its result atomically: what a
/// worker process does. The architecture is parsed from its text form.
///
/// ```
/// use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
/// use dsm_cluster::{Task, TaskResult, serve};
/// use dsm_space::Nb201Cell;
///
/// let dir = std::env::temp_dir().join(format!("dsm-serve-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let task = Task { run: "doc".into(), id: 7, attempt: 0,
///     arch: "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|".into(),
///     result: dir.join("7.json") };
/// task.write(&dir.join("task.json"))?;
/// let mut eval = Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
/// serve::<Nb201Cell, _>(&dir.join("task.json"), &mut eval)?;
/// assert!(TaskResult::read(&dir.join("7.json"), 7)?.evaluation.score > 80.0);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve<A, E>(task_file: &Path, evaluator: &mut E) -> Result<TaskResult, ClusterError>
where
    A: FromStr,
    A::Err: std::fmt::Display,
    E: Evaluator<A>,
{
    let task = Task::read(task_file)?;
    let arch: A = task.arch.parse().map_err(|e: A::Err| ClusterError::Task {
        path: task_file.to_path_buf(),
        reason: format!("holds an architecture that does not parse: {e}"),
    })?;
    let evaluation = evaluator
        .evaluate(&arch)
        .map_err(|e| ClusterError::Evaluation {
            arch: task.arch.clone(),
            reason: error_chain(&e),
        })?;
    let result = TaskResult {
        id: task.id,
        evaluation,
    };
    let text = serde_json::to_string(&result).expect("plain data serialises");
    save(&task.result, text.as_bytes())?;
    Ok(result)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
