//! The generic protocol: a grid of jobs (tasks x methods x trials, trial `i` seeded
//! `seed + i`), run on a pool of threads, each finished trial optionally checkpointed, any
//! [`Benchmark`] and any [`Searcher`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use dsm_bench::Benchmark;
use dsm_miner::{Budget, SearchOutcome, Searcher, seeded_rng};
use dsm_space::SearchSpace;
use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::results::{History, TaskFacts, TrialRecord};

/// A method as a protocol holds it: any [`Searcher`], shareable across the trial threads.
pub type BoxedSearcher<S> = Box<dyn Searcher<S> + Send + Sync>;

/// The architecture type of a benchmark.
pub type ArchOf<B> = <<B as Benchmark>::Space as SearchSpace>::Arch;

/// Builds a method for one task ([`Method::PerTask`]).
pub type PerTaskFn<B> = Box<
    dyn Fn(<B as Benchmark>::Task) -> Result<BoxedSearcher<<B as Benchmark>::Space>, ProtocolError>
        + Send
        + Sync,
>;

/// Builds the target method of a transfer from the source search's final anchors.
pub type TransferFn<S> =
    Box<dyn Fn(Vec<<S as SearchSpace>::Arch>) -> BoxedSearcher<S> + Send + Sync>;

/// One method of a protocol run.
pub enum Method<B: Benchmark> {
    /// A method run from scratch on every task.
    Plain(BoxedSearcher<B::Space>),
    /// A transfer method (DSM-NAS+): on every task but `source_task`, first `source` searches
    /// `source_task` from the trial's seed, then the method `target` builds from its final
    /// anchors searches the task from the same seed.
    Transfer {
        /// Its name in results.
        name: String,
        /// The task the anchors come from.
        source_task: B::Task,
        /// The method searching it.
        source: BoxedSearcher<B::Space>,
        /// The method built from the source's final anchors.
        target: TransferFn<B::Space>,
    },
    /// A method built afresh for each task: one whose settings depend on the task, such as a
    /// proxy-guided method ([`dsm_miner::Guided`]) scoring with the task's own proxies.
    PerTask {
        /// Its name in results.
        name: String,
        /// Builds the method for a task.
        build: PerTaskFn<B>,
    },
}

impl<B: Benchmark> Method<B> {
    /// A plain method.
    pub fn new(method: impl Searcher<B::Space> + Send + Sync + 'static) -> Self {
        Method::Plain(Box::new(method))
    }

    /// The method's name in results.
    pub fn name(&self) -> &str {
        match self {
            Method::Plain(m) => m.name(),
            Method::Transfer { name, .. } | Method::PerTask { name, .. } => name,
        }
    }

    /// Whether it runs on `task`.
    pub fn runs_on(&self, task: B::Task) -> bool {
        match self {
            Method::Plain(_) | Method::PerTask { .. } => true,
            Method::Transfer { source_task, .. } => *source_task != task,
        }
    }
}

/// What is searched: the tasks, the number of trials, the base seed, the budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<T> {
    /// Tasks, in the order results list them.
    pub tasks: Vec<T>,
    /// Trials per method and task (at least 1); trial `i` uses seed `seed + i`.
    pub trials: usize,
    /// The base seed.
    pub seed: u64,
    /// The budget of every trial.
    pub budget: Budget,
    /// Simulated workers per trial (`None`: the sequential search, no clock recorded): each
    /// trial runs on an event-driven clock with this many evaluations in flight
    /// ([`dsm_miner::SearchDriver::run_simulated`]), the budget unchanged, and records
    /// `history.clock_s`.
    pub workers: Option<usize>,
}

/// One `(task, method, trial)` job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job<T> {
    /// The task.
    pub task: T,
    /// Index into the method list.
    pub method: usize,
    /// The trial index.
    pub trial: usize,
}

impl<T: Copy + PartialEq> Plan<T> {
    /// The jobs, task-major, then method, then trial.
    pub fn jobs<B: Benchmark<Task = T>>(&self, methods: &[Method<B>]) -> Vec<Job<T>> {
        let mut jobs = Vec::new();
        for &task in &self.tasks {
            for (m, method) in methods.iter().enumerate() {
                if !method.runs_on(task) {
                    continue;
                }
                for trial in 0..self.trials {
                    jobs.push(Job {
                        task,
                        method: m,
                        trial,
                    });
                }
            }
        }
        jobs
    }
}

/// How a run is carried out (never what it computes): threads, checkpoint, progress.
#[derive(Default)]
pub struct Execution<'a> {
    /// Worker threads (0: one per core). Results do not depend on it.
    pub threads: usize,
    /// Where finished trials are checkpointed, if anywhere.
    pub store: Option<&'a TrialStore>,
    /// Trials restored from the checkpoint, by job index.
    pub restored: BTreeMap<usize, TrialRecord>,
    /// Called after every finished trial with the number finished so far.
    pub progress: Option<&'a (dyn Fn(usize) + Sync)>,
}

impl Execution<'_> {
    /// The number of threads `threads` stands for.
    pub fn resolved_threads(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            self.threads
        }
    }

    /// The threads a run of `jobs` trials uses: [`resolved_threads`](Self::resolved_threads),
    /// at most one per trial (and at least 1).
    ///
    /// ```
    /// let exec = dsm_protocol::Execution { threads: 1000, ..Default::default() };
    /// assert_eq!(exec.threads_for(80), 80);
    /// ```
    pub fn threads_for(&self, jobs: usize) -> usize {
        self.resolved_threads().min(jobs).max(1)
    }
}

/// Runs one job: the search and its record.
pub fn run_job<B: Benchmark>(
    bench: &B,
    plan: &Plan<B::Task>,
    methods: &[Method<B>],
    job: Job<B::Task>,
) -> Result<TrialRecord, ProtocolError> {
    let seed = plan.seed + job.trial as u64;
    let method = &methods[job.method];
    let fail = |source| ProtocolError::Search {
        method: method.name().to_string(),
        task: job.task.to_string(),
        trial: job.trial,
        source,
    };
    let space = bench.space();
    let mut eval = bench.evaluator(job.task);
    let start = Instant::now();
    let search = |m: &BoxedSearcher<B::Space>, eval: &mut B::Evaluator<'_>| match plan.workers {
        Some(w) => {
            dsm_miner::search_on_workers(m, space, eval, plan.budget, w, &mut seeded_rng(seed))
        }
        None => dsm_miner::search(m, space, eval, plan.budget, &mut seeded_rng(seed)),
    };
    let out = match method {
        Method::Plain(m) => search(m, &mut eval),
        Method::PerTask { build, .. } => {
            let m = build(job.task)?;
            search(&m, &mut eval)
        }
        Method::Transfer {
            source_task,
            source,
            target,
            ..
        } => {
            let mut source_eval = bench.evaluator(*source_task);
            search(source, &mut source_eval)
                .and_then(|s| search(&target(s.final_anchors), &mut eval))
        }
    }
    .map_err(fail)?;
    let wall_s = start.elapsed().as_secs_f64();
    let mut r = record(bench, method.name(), job.task, seed, &out, wall_s);
    if plan.workers.is_some() {
        r.history.clock_s = Some(out.history.iter().map(|h| h.clock_s).collect());
    }
    Ok(r)
}

/// The record of one finished search.
pub fn record<B: Benchmark>(
    bench: &B,
    method: &str,
    task: B::Task,
    seed: u64,
    out: &SearchOutcome<ArchOf<B>>,
    wall_s: f64,
) -> TrialRecord {
    let all = |f: &dyn Fn(B::Task) -> f64| -> BTreeMap<String, f64> {
        bench
            .tasks()
            .into_iter()
            .map(|t| (t.to_string(), f(t)))
            .collect()
    };
    TrialRecord {
        method: method.to_string(),
        dataset: task.to_string(),
        signal: bench.signal_name().to_string(),
        seed,
        best_arch: bench.space().format(&out.best),
        best_index: bench.index_of(&out.best),
        test_acc: bench.test_acc(&out.best, task),
        signal_acc: bench.signal_acc(&out.best, task),
        test_acc_all: all(&|t| bench.test_acc(&out.best, t)),
        signal_acc_all: all(&|t| bench.signal_acc(&out.best, t)),
        queries: out.queries,
        evaluations: out.evaluations,
        iterations: out.iterations,
        cost_s: out.cost_s,
        proxy_evaluations: out.proxy_evaluations,
        proxy_cost_s: out.proxy_cost_s,
        wall_s,
        history: History {
            cost_s: out.history.iter().map(|h| h.cost_s).collect(),
            clock_s: None,
            best_signal: out.history.iter().map(|h| h.best_score).collect(),
            best_test_acc: out
                .history
                .iter()
                .map(|h| bench.test_acc(&h.best, task))
                .collect(),
        },
    }
}

/// Runs every job of `plan` on a pool of threads; the records come back in job order
/// whatever the number of threads. Restored trials are not run again; every new one is
/// saved to the store (if any) as soon as it finishes. The first failure is returned.
pub fn run_trials<B: Benchmark>(
    bench: &B,
    plan: &Plan<B::Task>,
    methods: &[Method<B>],
    exec: Execution<'_>,
) -> Result<Vec<TrialRecord>, ProtocolError> {
    if plan.trials == 0 {
        return Err(ProtocolError::config("trials", 0, "at least 1"));
    }
    let jobs = plan.jobs(methods);
    let threads = exec.threads_for(jobs.len());
    let mut slots: Vec<Option<Result<TrialRecord, ProtocolError>>> =
        (0..jobs.len()).map(|_| None).collect();
    for (i, r) in exec.restored {
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(Ok(r));
        }
    }
    let finished = Mutex::new(slots.iter().filter(|s| s.is_some()).count());
    let done = Mutex::new(slots);
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..threads.min(jobs.len()) {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().expect("no poisoned lock");
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(&job) = jobs.get(i) else { break };
                    if done.lock().expect("no poisoned lock")[i].is_some() {
                        continue; // restored from the checkpoint
                    }
                    let r = run_job(bench, plan, methods, job).and_then(|rec| match exec.store {
                        Some(store) => store.save(i, &rec).map(|_| rec),
                        None => Ok(rec),
                    });
                    done.lock().expect("no poisoned lock")[i] = Some(r);
                    let mut f = finished.lock().expect("no poisoned lock");
                    *f += 1;
                    if let Some(progress) = exec.progress {
                        progress(*f);
                    }
                }
            });
        }
    });
    done.into_inner()
        .expect("no poisoned lock")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

/// What the summaries need of each task of `plan`.
pub fn task_facts<B: Benchmark>(bench: &B, tasks: &[B::Task]) -> Vec<(String, TaskFacts)> {
    tasks
        .iter()
        .map(|&t| {
            let best = bench.best_by_signal(t);
            (
                t.to_string(),
                TaskFacts {
                    optimum: bench.optimum_test_acc(t),
                    ceiling: bench.test_acc(&best, t),
                    best_signal: bench.signal_acc(&best, t),
                },
            )
        })
        .collect()
}

/// The output policy's flags of a command whose runs can continue ([`dsm_space::output`]):
/// `--force` (replace the run in the output folder: the command's own files, nothing else
/// is deleted) and `--resume` (continue it, only with the same settings). Flatten it into a
/// command's arguments; [`existing`](Self::existing) is what the policy takes.
#[cfg(feature = "cli")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct ResumeArgs {
    /// Replace the run in the output folder (the command's own files; nothing else in the
    /// folder is deleted).
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Continue the run in the output folder, only with the same settings (its
    /// settings.json names any flag that differs).
    #[arg(long)]
    pub resume: bool,
}

#[cfg(feature = "cli")]
impl ResumeArgs {
    /// What to do with an existing output.
    pub fn existing(&self) -> dsm_space::output::Existing {
        dsm_space::output::Existing::from_flags(self.force, self.resume)
    }
}

/// Opens the trial checkpoint of a run in `folder` (checked under the one output policy,
/// [`dsm_space::output`]): creates the folder and its `settings.json`, and returns the store
/// with the trials restored from it when the run is resumed (none otherwise; a replaced
/// run's checkpoint is removed). `fingerprint` guards the checkpoint itself.
pub fn open_trials(
    folder: &dsm_space::output::OutputFolder,
    fingerprint: &str,
    jobs: usize,
) -> Result<(TrialStore, BTreeMap<usize, TrialRecord>), ProtocolError> {
    folder.create()?;
    let store = TrialStore::new(folder.dir(), fingerprint);
    let restored = if folder.resuming() {
        store.load(jobs)?
    } else {
        BTreeMap::new()
    };
    store.start(!folder.resuming())?;
    Ok((store, restored))
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ProtocolError> {
    dsm_space::io::write_atomic(path, bytes).map_err(|e| ProtocolError::io("saving", path, e))
}

/// `runs/<prefix>-YYYYmmdd-HHMMSS[-n]` (UTC): a folder that does not exist yet.
pub fn timestamped_dir(prefix: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let stamp = format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    let base = PathBuf::from("runs").join(format!("{prefix}-{stamp}"));
    let mut dir = base.clone();
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = PathBuf::from(format!("{}-{n}", base.display()));
    }
    dir
}

const STORE_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize, PartialEq)]
struct Meta {
    format: u32,
    fingerprint: String,
}

/// Crash-safe checkpoints of finished trials: `DIR/checkpoint/meta.json` (format and the
/// fingerprint of everything that determines the results) and one
/// `DIR/checkpoint/trial-<job>.json` per finished trial, each written atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialStore {
    dir: PathBuf,
    fingerprint: String,
}

impl TrialStore {
    /// The store of the run in `out_dir` with this configuration fingerprint.
    pub fn new(out_dir: &Path, fingerprint: &str) -> Self {
        Self {
            dir: out_dir.join("checkpoint"),
            fingerprint: fingerprint.to_string(),
        }
    }

    /// Whether a checkpoint exists.
    pub fn exists(&self) -> bool {
        self.dir.join("meta.json").exists()
    }

    /// The finished trials of a checkpoint of this very configuration (none if there is no
    /// checkpoint); a checkpoint of another configuration or format is an error.
    pub fn load(&self, jobs: usize) -> Result<BTreeMap<usize, TrialRecord>, ProtocolError> {
        let meta_path = self.dir.join("meta.json");
        if !meta_path.exists() {
            return Ok(BTreeMap::new());
        }
        let refuse = |reason: String| ProtocolError::Checkpoint {
            path: meta_path.clone(),
            reason,
        };
        let bytes =
            std::fs::read(&meta_path).map_err(|e| ProtocolError::io("reading", &meta_path, e))?;
        let meta: Meta = serde_json::from_slice(&bytes).map_err(|e| {
            refuse(format!(
                "is not a checkpoint manifest ({e}); start over with --force"
            ))
        })?;
        if meta.format != STORE_FORMAT {
            return Err(refuse(format!(
                "has checkpoint format {}, this version reads format {STORE_FORMAT}; refusing to resume from it",
                meta.format
            )));
        }
        if meta.fingerprint != self.fingerprint {
            return Err(refuse(format!(
                "was written by a run with other settings (fingerprint {} vs {}); resume with the same arguments or start over with --force",
                meta.fingerprint, self.fingerprint
            )));
        }
        let mut out = BTreeMap::new();
        for i in 0..jobs {
            let p = self.dir.join(format!("trial-{i}.json"));
            if p.exists() {
                let bytes = std::fs::read(&p).map_err(|e| ProtocolError::io("reading", &p, e))?;
                let rec: TrialRecord =
                    serde_json::from_slice(&bytes).map_err(|e| ProtocolError::Checkpoint {
                        path: p.clone(),
                        reason: format!("is corrupt ({e}); start over with --force"),
                    })?;
                out.insert(i, rec);
            }
        }
        Ok(out)
    }

    /// Starts (or continues) checkpointing; `fresh` removes an old checkpoint first.
    pub fn start(&self, fresh: bool) -> Result<(), ProtocolError> {
        if fresh && self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .map_err(|e| ProtocolError::io("removing", &self.dir, e))?;
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| ProtocolError::io("creating", &self.dir, e))?;
        let meta = Meta {
            format: STORE_FORMAT,
            fingerprint: self.fingerprint.clone(),
        };
        write_atomic(
            &self.dir.join("meta.json"),
            &serde_json::to_vec(&meta).expect("plain data serialises"),
        )
    }

    /// Saves the record of job `job`.
    pub fn save(&self, job: usize, record: &TrialRecord) -> Result<(), ProtocolError> {
        write_atomic(
            &self.dir.join(format!("trial-{job}.json")),
            &serde_json::to_vec(record).expect("plain data serialises"),
        )
    }
}
