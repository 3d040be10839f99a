//! Resumable searches: a checkpoint written every N evaluations and at the end of a trial,
//! from which a killed search continues to exactly the result of an uninterrupted one.
//!
//! A search is a deterministic function of its configuration, its starting RNG state and the
//! evaluations it receives. The checkpoint therefore records the configuration (method,
//! settings, budget, a caller's label such as the trial index), the RNG state at the start,
//! and every evaluation so far (architecture, score, cost). Resuming re-runs the search from
//! the saved RNG state and answers the logged queries from the log, checking that each query
//! is the logged architecture, so the candidate graph, the controller's weights and Adam
//! moments, the reward baseline, the RNG, the population and the budget used are rebuilt
//! bit for bit (at about 0.5 ms per DSM-NAS step) and the evaluator is only called for the
//! queries that were not logged. This works for every [`Searcher`] and every
//! [`Evaluator`], including ones whose answers are not reproducible (live training with
//! measured time): the log, not the evaluator, is what the resumed search sees.

use std::path::{Path, PathBuf};

use dsm_space::{Evaluation, Evaluator, SearchSpace};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::budget::{Budget, SearchOutcome};
use crate::{MinerError, SearchRng, Searcher};

/// Version of the checkpoint format.
const FORMAT: u32 = 1;

/// One logged evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Logged<A> {
    arch: A,
    score: f64,
    cost_s: f64,
}

/// What a checkpoint must agree with to be resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Identity {
    method: String,
    settings: String,
    space: String,
    budget: Budget,
    label: String,
    version: String,
}

impl Identity {
    /// Every field (and, for the JSON settings and the budget, every key) where `self` (the
    /// checkpoint's) and `now` differ: `name: <self> in the checkpoint, <now> here`.
    fn differences(&self, now: &Identity) -> Vec<String> {
        fn json(s: &impl Serialize) -> serde_json::Value {
            serde_json::to_value(s).unwrap_or(serde_json::Value::Null)
        }
        fn diff(
            out: &mut Vec<String>,
            name: &str,
            old: &serde_json::Value,
            new: &serde_json::Value,
        ) {
            if let (Some(o), Some(n)) = (old.as_object(), new.as_object()) {
                let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
                keys.sort();
                keys.dedup();
                let null = serde_json::Value::Null;
                for k in keys {
                    let (a, b) = (o.get(k).unwrap_or(&null), n.get(k).unwrap_or(&null));
                    diff(out, &format!("{name}.{k}"), a, b);
                }
            } else if old != new {
                out.push(format!("{name}: {old} in the checkpoint, {new} here"));
            }
        }
        let mut out = Vec::new();
        let mut diff = |name: &str, old: serde_json::Value, new: serde_json::Value| {
            diff(&mut out, name, &old, &new)
        };
        let settings = |s: &str| serde_json::from_str(s).unwrap_or(serde_json::Value::from(s));
        diff("method", json(&self.method), json(&now.method));
        diff(
            "settings",
            settings(&self.settings),
            settings(&now.settings),
        );
        diff("space", json(&self.space), json(&now.space));
        diff("budget", json(&self.budget), json(&now.budget));
        diff("label", json(&self.label), json(&now.label));
        diff("version", json(&self.version), json(&now.version));
        out
    }
}

#[derive(Serialize, Deserialize)]
#[serde(bound(deserialize = "A: DeserializeOwned"))]
struct File<A> {
    format: u32,
    identity: Identity,
    /// The RNG at the start of the search, as its own JSON document in a string: PCG-64's
    /// 128-bit state does not survive tools that read JSON numbers as doubles.
    rng: String,
    finished: bool,
    evaluations: Vec<Logged<A>>,
}

/// Where a resumable search keeps its checkpoint, and how often it writes it.
///
/// ```
/// use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
/// use dsm_miner::{seeded_rng, Budget, DsmNas, SearchCheckpoint, Searcher};
/// use dsm_space::Nb201Space;
///
/// let path = std::env::temp_dir().join(format!("dsm-doc-ckpt-{}.json", std::process::id()));
/// let ckpt = SearchCheckpoint::new(&path, 10).with_label("cifar10, trial 0");
/// let mut eval = Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
/// let budget = Budget { max_iters: 30, ..Budget::default() };
/// let dsm = DsmNas::default();
/// let out = ckpt.search(&dsm, &Nb201Space, &mut eval, budget, &mut seeded_rng(1))?;
/// // Running it again replays the finished log: same answer, no new evaluation.
/// let again = ckpt.search(&dsm, &Nb201Space, &mut eval, budget, &mut seeded_rng(1))?;
/// assert_eq!(out, again);
/// assert_eq!(ckpt.progress()?.map(|p| p.finished), Some(true));
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), dsm_miner::MinerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchCheckpoint {
    path: PathBuf,
    every: usize,
    label: String,
}

/// How far a checkpointed search got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointProgress {
    /// Evaluations logged (the free initial ones included).
    pub evaluations: usize,
    /// Whether the search ran to its end.
    pub finished: bool,
}

impl SearchCheckpoint {
    /// A checkpoint at `path` (a JSON file; it need not exist), written after every `every`
    /// evaluations (at least 1) and when the search ends.
    pub fn new(path: impl Into<PathBuf>, every: usize) -> Self {
        Self {
            path: path.into(),
            every: every.max(1),
            label: String::new(),
        }
    }

    /// A label that must match on resume (for instance the data set and the trial index).
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the checkpoint holds, or `None` when there is none yet.
    pub fn progress(&self) -> Result<Option<CheckpointProgress>, MinerError> {
        Ok(self
            .read::<serde::de::IgnoredAny>()?
            .map(|f| CheckpointProgress {
                evaluations: f.evaluations.len(),
                finished: f.finished,
            }))
    }

    fn error(&self, reason: impl Into<String>) -> MinerError {
        MinerError::Checkpoint {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// Every evaluation the checkpoint holds, in order (the replayed ones of a resumed search
    /// included): what a caller that records each evaluation reads after the search, since a
    /// replayed evaluation does not reach its evaluator. Empty without a checkpoint.
    pub fn evaluations<A: DeserializeOwned>(&self) -> Result<Vec<(A, Evaluation)>, MinerError> {
        Ok(self
            .read::<A>()?
            .map(|f| {
                f.evaluations
                    .into_iter()
                    .map(|l| {
                        let e = Evaluation {
                            score: l.score,
                            cost_s: l.cost_s,
                        };
                        (l.arch, e)
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn read<A: DeserializeOwned>(&self) -> Result<Option<File<A>>, MinerError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.error(format!("cannot read it: {e}"))),
        };
        #[derive(Deserialize)]
        struct Head {
            format: u32,
        }
        let head: Head = serde_json::from_slice(&bytes)
            .map_err(|e| self.error(format!("not a search checkpoint: {e}")))?;
        if head.format != FORMAT {
            return Err(self.error(format!(
                "checkpoint format {}; this version reads format {FORMAT}",
                head.format
            )));
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| self.error(format!("corrupt: {e}")))
    }

    fn write<A: Serialize>(&self, file: &File<A>) -> Result<(), MinerError> {
        let bytes = serde_json::to_vec(file).map_err(|e| self.error(e.to_string()))?;
        dsm_space::io::write_atomic(&self.path, &bytes)
            .map_err(|e| self.error(format!("cannot write it: {e}")))
    }

    /// Runs `method` like [`Searcher::search`], checkpointing as it goes; when the file holds
    /// a checkpoint of this very search (same method, settings, space, budget, label and
    /// version), continues it. The result equals the uninterrupted search's.
    ///
    /// A checkpoint of another search, another format, or a log that the replay contradicts
    /// is refused with [`MinerError::Checkpoint`] and left untouched.
    pub fn search<S, M, E>(
        &self,
        method: &M,
        space: &S,
        evaluator: &mut E,
        budget: Budget,
        rng: &mut SearchRng,
    ) -> Result<SearchOutcome<S::Arch>, MinerError>
    where
        S: SearchSpace,
        S::Arch: Serialize + DeserializeOwned,
        M: Searcher<S> + ?Sized,
        E: Evaluator<S::Arch>,
    {
        let identity = Identity {
            method: method.name().to_string(),
            settings: method.settings(),
            space: space.name().to_string(),
            budget,
            label: self.label.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let (start_rng, log) = match self.read::<S::Arch>()? {
            Some(file) => {
                if file.identity != identity {
                    return Err(MinerError::CheckpointMismatch {
                        path: self.path.clone(),
                        differences: file.identity.differences(&identity).join("; "),
                    });
                }
                let start: SearchRng = serde_json::from_str(&file.rng)
                    .map_err(|e| self.error(format!("corrupt RNG state: {e}")))?;
                (start, file.evaluations)
            }
            None => (rng.clone(), Vec::new()),
        };
        *rng = start_rng.clone();
        let mut replay = Replay {
            inner: evaluator,
            checkpoint: self,
            file: File {
                format: FORMAT,
                identity,
                rng: serde_json::to_string(&start_rng).map_err(|e| self.error(e.to_string()))?,
                finished: false,
                evaluations: Vec::with_capacity(log.len()),
            },
            log: log.into_iter(),
            unsaved: 0,
            failure: None,
        };
        let result = crate::driver_for(method, space, budget).and_then(|d| d.run(&mut replay, rng));
        if let Some(e) = replay.failure.take() {
            return Err(e);
        }
        let outcome = result?;
        if replay.log.len() > 0 {
            return Err(self.error(format!(
                "the search ended with {} logged evaluations left over; the log does not belong to this search",
                replay.log.len()
            )));
        }
        replay.file.finished = true;
        self.write(&replay.file)?;
        Ok(outcome)
    }
}

/// The evaluator a checkpointed search sees: answers from the log first, then from the real
/// evaluator, logging and saving as it goes.
struct Replay<'a, A, E> {
    inner: &'a mut E,
    checkpoint: &'a SearchCheckpoint,
    file: File<A>,
    log: std::vec::IntoIter<Logged<A>>,
    unsaved: usize,
    /// A checkpoint error, reported instead of the evaluator error it was wrapped in.
    failure: Option<MinerError>,
}

/// Why the replaying evaluator stopped (the real reason is kept in `Replay::failure`).
#[derive(Debug, thiserror::Error)]
enum ReplayError<E> {
    #[error(transparent)]
    Inner(E),
    #[error("search checkpoint failed")]
    Checkpoint,
}

impl<A, E> Evaluator<A> for Replay<'_, A, E>
where
    A: Clone + PartialEq + std::fmt::Display + Serialize,
    E: Evaluator<A>,
{
    type Error = ReplayError<E::Error>;

    fn evaluate(&mut self, arch: &A) -> Result<Evaluation, Self::Error> {
        let index = self.file.evaluations.len();
        let logged = match self.log.next() {
            Some(l) if l.arch == *arch => l,
            Some(l) => {
                self.failure = Some(self.checkpoint.error(format!(
                    "evaluation {index} of the log is {}, but the resumed search asked for {arch}; the log does not belong to this search",
                    l.arch
                )));
                return Err(ReplayError::Checkpoint);
            }
            None => {
                let e = self.inner.evaluate(arch).map_err(ReplayError::Inner)?;
                self.unsaved += 1;
                Logged {
                    arch: arch.clone(),
                    score: e.score,
                    cost_s: e.cost_s,
                }
            }
        };
        let answer = Evaluation {
            score: logged.score,
            cost_s: logged.cost_s,
        };
        self.file.evaluations.push(logged);
        if self.unsaved >= self.checkpoint.every {
            if let Err(e) = self.checkpoint.write(&self.file) {
                self.failure = Some(e);
                return Err(ReplayError::Checkpoint);
            }
            self.unsaved = 0;
        }
        Ok(answer)
    }
}
