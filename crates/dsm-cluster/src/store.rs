//! Where a program keeps the searches it runs, whichever executor runs them: one call,
//! [`ExecutorArgs::run_search`], checkpoints an in-process search or journals one on
//! workers, and continues either when its folder holds it.

use std::path::PathBuf;

use dsm_miner::{SearchCheckpoint, SearchOutcome, SearchRng, Searcher};
use dsm_space::{Evaluator, SearchSpace};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ClusterError, ExecutorArgs, Report};

/// Where the searches of one run are kept, and what tells them apart.
///
/// In-process (`--executor inline`), a search of method `m` is checkpointed in
/// `DIR/<m>.json` ([`SearchCheckpoint`], labelled with [`run`](Self::run)); on workers
/// (`local`, `slurm`), it is journaled in `DIR/<m>/` and its jobs are named
/// `dsm-<run>-<m>-<id>`. A rerun with the same store continues either.
///
/// ```
/// use dsm_cluster::SearchStore;
/// let store = SearchStore::new("runs/live/seed-3", "live-s3").with_env("DSM_LIVE_SEED", "3");
/// assert_eq!(store.checkpoint("dsm-nas"), Some("runs/live/seed-3/dsm-nas.json".into()));
/// assert_eq!(store.journal("dsm-nas"), Some("runs/live/seed-3/dsm-nas".into()));
/// assert!(dsm_cluster::SearchStore::none().checkpoint("random").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchStore {
    /// The folder (`None`: an in-process search keeps nothing; workers need one).
    pub dir: Option<PathBuf>,
    /// Names the run: the checkpoints' label, part of the job names and of the journal's
    /// fingerprint (so a different run is refused, not continued).
    pub run: String,
    /// Environment variables for every worker of these searches, after `--job-env`'s (for
    /// instance what the worker needs to rebuild the evaluator of this run).
    pub env: Vec<(String, String)>,
}

impl SearchStore {
    /// Searches kept in `dir`, named `run`.
    pub fn new(dir: impl Into<PathBuf>, run: impl Into<String>) -> Self {
        Self {
            dir: Some(dir.into()),
            run: run.into(),
            env: Vec::new(),
        }
    }

    /// Searches kept in `root/<name>` when there is a root, else nowhere.
    pub fn under(root: Option<&std::path::Path>, name: &str, run: impl Into<String>) -> Self {
        match root {
            Some(root) => Self::new(root.join(name), run),
            None => Self::none(),
        }
    }

    /// Searches kept nowhere (in process only).
    pub fn none() -> Self {
        Self::default()
    }

    /// With one more worker environment variable.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The checkpoint file of an in-process search of `method`.
    pub fn checkpoint(&self, method: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{method}.json")))
    }

    /// The journal folder of a search of `method` on workers.
    pub fn journal(&self, method: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(method))
    }

    /// Discards what the store holds of `method` (its checkpoint and its journal), to start
    /// that search afresh; nothing else in the folder is touched.
    pub fn forget(&self, method: &str) -> Result<(), ClusterError> {
        let gone = |r: std::io::Result<()>, path: &std::path::Path| match r {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ClusterError::Journal {
                path: path.to_path_buf(),
                reason: format!("cannot be removed to start over: {e}"),
            }),
            _ => Ok(()),
        };
        if let Some(file) = self.checkpoint(method) {
            gone(std::fs::remove_file(&file), &file)?;
        }
        if let Some(dir) = self.journal(method) {
            gone(std::fs::remove_dir_all(&dir), &dir)?;
        }
        Ok(())
    }
}

/// A search run by [`ExecutorArgs::run_search`]: its outcome, and the executor's report when
/// it ran on workers.
#[derive(Debug, Clone)]
pub struct SearchRun<A> {
    /// What the search found.
    pub outcome: SearchOutcome<A>,
    /// Jobs, retries and resumption (`None` in process).
    pub report: Option<Report>,
}

impl ExecutorArgs {
    /// Runs one search of `method` where these flags say, kept in `store`: in this process
    /// through `evaluator` (checkpointed when the store has a folder), or on workers, each
    /// this very program with the same arguments and `store.env` (it must call
    /// [`serve`](crate::serve) when [`task_from_env`](crate::task_from_env) names a task;
    /// `evaluator` is then unused). Continues the search the store holds; a store holding a
    /// different search (other settings, budget or run) is refused.
    pub fn run_search<S, M, E>(
        &self,
        method: &M,
        space: &S,
        evaluator: &mut E,
        budget: dsm_miner::Budget,
        rng: &mut SearchRng,
        store: &SearchStore,
    ) -> Result<SearchRun<S::Arch>, ClusterError>
    where
        S: SearchSpace,
        S::Arch: Serialize + DeserializeOwned,
        M: Searcher<S> + ?Sized,
        E: Evaluator<S::Arch>,
    {
        if let Some(dir) = &store.dir {
            std::fs::create_dir_all(dir).map_err(|e| ClusterError::Journal {
                path: dir.clone(),
                reason: format!("cannot be created for the search's checkpoint: {e}"),
            })?;
        }
        if self.launcher()?.is_some() {
            let Some(journal) = store.journal(method.name()) else {
                return Err(ClusterError::Config {
                    field: "search store",
                    value: "none".into(),
                    expected: "a folder for the journal of a search on workers",
                });
            };
            let fingerprint = format!("{} {} {budget:?}", method.settings(), store.run);
            let run = if store.run.is_empty() {
                method.name().to_string()
            } else {
                format!("{}-{}", store.run, method.name())
            };
            let mut exec = self.clone();
            exec.job_env
                .extend(store.env.iter().map(|(k, v)| format!("{k}={v}")));
            let config = exec.config(journal, &run, &fingerprint, true);
            if let Some(done) = exec.search_method(method, space, budget, rng, config)? {
                return Ok(SearchRun {
                    outcome: done.outcome,
                    report: Some(done.report),
                });
            }
        }
        let outcome = match store.checkpoint(method.name()) {
            Some(path) => SearchCheckpoint::new(path, 1)
                .with_label(store.run.clone())
                .search(method, space, evaluator, budget, rng)?,
            None => dsm_miner::search(method, space, evaluator, budget, rng)?,
        };
        Ok(SearchRun {
            outcome,
            report: None,
        })
    }
}
