//! The study layer: a grid of jobs (tasks x methods x trials, one trial per seed), run on a
//! pool of threads, each search handed to an executor, each finished trial optionally
//! checkpointed, over any [`Problem`] (a table, live training, a user's landscape) and any
//! [`Searcher`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

pub use dsm_bench::ArchOf;
use dsm_bench::{Assessment, Problem};
use dsm_miner::{
    Budget, DynEvaluator, SearchExecutor, SearchJob, SearchOutcome, Searcher, seeded_rng,
};
use dsm_space::SearchSpace;
use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::results::{History, TaskFacts, TrialRecord};

/// A method as a protocol holds it: any [`Searcher`], shareable across the trial threads.
pub type BoxedSearcher<S> = Box<dyn Searcher<S> + Send + Sync>;

/// Builds a method for one trial: its task and seed ([`Method::PerTrial`]).
pub type PerTrialFn<P> = Box<
    dyn Fn(
            &<P as Problem>::Task,
            u64,
        ) -> Result<BoxedSearcher<<P as Problem>::Space>, ProtocolError>
        + Send
        + Sync,
>;

/// Builds the target method of a transfer from the source search's final anchors.
pub type TransferFn<S> =
    Box<dyn Fn(Vec<<S as SearchSpace>::Arch>) -> BoxedSearcher<S> + Send + Sync>;

/// One method of a protocol run.
pub enum Method<P: Problem> {
    /// A method run from scratch on every task.
    Plain(BoxedSearcher<P::Space>),
    /// A transfer method (DSM-NAS+): on every task but `source_task`, first `source` searches
    /// `source_task` from the trial's seed, then the method `target` builds from its final
    /// anchors searches the task from the same seed.
    Transfer {
        /// Its name in results.
        name: String,
        /// The task the anchors come from.
        source_task: P::Task,
        /// The method searching it.
        source: BoxedSearcher<P::Space>,
        /// The method built from the source's final anchors.
        target: TransferFn<P::Space>,
    },
    /// A method built afresh for each trial: one whose settings depend on the task or the
    /// seed, such as a proxy-guided method ([`dsm_miner::Guided`]) scoring with the task's own
    /// proxies (or with proxies computed on the trial's own data split).
    PerTrial {
        /// Its name in results.
        name: String,
        /// Builds the method for a trial's task and seed.
        build: PerTrialFn<P>,
    },
}

impl<P: Problem> Method<P> {
    /// A plain method.
    pub fn new(method: impl Searcher<P::Space> + Send + Sync + 'static) -> Self {
        Method::Plain(Box::new(method))
    }

    /// The method's name in results.
    pub fn name(&self) -> &str {
        match self {
            Method::Plain(m) => m.name(),
            Method::Transfer { name, .. } | Method::PerTrial { name, .. } => name,
        }
    }

    /// Whether it runs on `task`.
    pub fn runs_on(&self, task: &P::Task) -> bool {
        match self {
            Method::Plain(_) | Method::PerTrial { .. } => true,
            Method::Transfer { source_task, .. } => source_task != task,
        }
    }
}

/// What is searched: the tasks, one trial per seed, the budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<T> {
    /// Tasks, in the order results list them.
    pub tasks: Vec<T>,
    /// One trial per seed (at least one, none repeated), in this order.
    pub seeds: Vec<u64>,
    /// The budget of every trial.
    pub budget: Budget,
    /// Simulated workers per trial (`None`: the sequential search, no clock recorded): each
    /// trial runs on an event-driven clock with this many evaluations in flight
    /// ([`dsm_miner::SearchDriver::run_simulated`]), the budget unchanged, and records
    /// `history.clock_s`.
    pub workers: Option<usize>,
}

/// One `(task, method, trial)` job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job<T> {
    /// The task.
    pub task: T,
    /// Index into the method list.
    pub method: usize,
    /// The trial index (into [`Plan::seeds`]).
    pub trial: usize,
}

impl<T: Clone + PartialEq> Plan<T> {
    /// `trials` trials seeded `seed`, `seed + 1`, ... (the published protocol's seeds).
    ///
    /// ```
    /// assert_eq!(dsm_protocol::Plan::<u8>::consecutive(7, 3), [7, 8, 9]);
    /// ```
    pub fn consecutive(seed: u64, trials: usize) -> Vec<u64> {
        (0..trials as u64).map(|i| seed + i).collect()
    }

    /// The jobs, task-major, then method, then trial.
    pub fn jobs<P: Problem<Task = T>>(&self, methods: &[Method<P>]) -> Vec<Job<T>> {
        let mut jobs = Vec::new();
        for task in &self.tasks {
            for (m, method) in methods.iter().enumerate() {
                if !method.runs_on(task) {
                    continue;
                }
                for trial in 0..self.seeds.len() {
                    jobs.push(Job {
                        task: task.clone(),
                        method: m,
                        trial,
                    });
                }
            }
        }
        jobs
    }
}

/// Called after every finished trial with the number finished so far and its record.
pub type ProgressFn<'a> = &'a (dyn Fn(usize, &TrialRecord) + Sync);

/// How a run is carried out (never what it computes): threads, where each search's
/// evaluations run, checkpoint, progress.
pub struct Execution<'a, S: SearchSpace> {
    /// Worker threads (0: one per core). Results do not depend on it.
    pub threads: usize,
    /// Where each search's evaluations run (`None`: in this process, [`dsm_miner::InProcess`]);
    /// for instance `dsm_cluster::Executor` (worker processes, Slurm jobs).
    pub executor: Option<&'a dyn SearchExecutor<S>>,
    /// Where finished trials are checkpointed, if anywhere.
    pub store: Option<&'a TrialStore>,
    /// Trials restored from the checkpoint, by job index.
    pub restored: BTreeMap<usize, TrialRecord>,
    /// Called after every finished trial.
    pub progress: Option<ProgressFn<'a>>,
}

impl<S: SearchSpace> Default for Execution<'_, S> {
    fn default() -> Self {
        Self {
            threads: 0,
            executor: None,
            store: None,
            restored: BTreeMap::new(),
            progress: None,
        }
    }
}

impl<S: SearchSpace> Execution<'_, S> {
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
    /// let exec = dsm_protocol::Execution::<dsm_space::Nb201Space> { threads: 1000, ..Default::default() };
    /// assert_eq!(exec.threads_for(80), 80);
    /// ```
    pub fn threads_for(&self, jobs: usize) -> usize {
        self.resolved_threads().min(jobs).max(1)
    }
}

/// Runs one job: the search (through `executor`, on the simulated clock when the plan has
/// workers), the problem's assessment of its answer, and its record.
pub fn run_job<P: Problem>(
    problem: &P,
    plan: &Plan<P::Task>,
    methods: &[Method<P>],
    job: &Job<P::Task>,
    executor: &dyn SearchExecutor<P::Space>,
) -> Result<TrialRecord, ProtocolError> {
    let seed = plan.seeds[job.trial];
    let method = &methods[job.method];
    let fail = |source| ProtocolError::Search {
        method: method.name().to_string(),
        task: job.task.to_string(),
        trial: job.trial,
        source: Box::new(source),
    };
    let problem_error = |what, task: &P::Task| {
        let task = task.to_string();
        move |e: P::Error| ProtocolError::Problem {
            what,
            task: task.clone(),
            seed,
            source: Box::new(e),
        }
    };
    let space = problem.space();
    let start = Instant::now();
    let search = |m: &BoxedSearcher<P::Space>, task: &P::Task| {
        let mut eval = problem
            .evaluator(task, seed)
            .map_err(problem_error("making the evaluator", task))?;
        let mut rng = seeded_rng(seed);
        match plan.workers {
            Some(w) => dsm_miner::driver_for(m, space, plan.budget)
                .and_then(|d| d.run_simulated(&mut eval, w, &mut rng)),
            None => {
                let job = SearchJob {
                    method: &**m,
                    space,
                    budget: plan.budget,
                    task: task.to_string(),
                    seed,
                };
                executor.run(job, &mut eval as &mut dyn DynEvaluator<_>, &mut rng)
            }
        }
        .map_err(fail)
    };
    let out = match method {
        Method::Plain(m) => search(m, &job.task)?,
        Method::PerTrial { build, .. } => search(&build(&job.task, seed)?, &job.task)?,
        Method::Transfer {
            source_task,
            source,
            target,
            ..
        } => {
            let anchors = search(source, source_task)?.final_anchors;
            search(&target(anchors), &job.task)?
        }
    };
    let assessment = problem
        .assess(&out.best, &job.task, seed)
        .map_err(problem_error("assessing the answer", &job.task))?;
    let wall_s = start.elapsed().as_secs_f64();
    let mut r = record(
        problem,
        method.name(),
        &job.task,
        seed,
        &out,
        assessment,
        wall_s,
    );
    if plan.workers.is_some() {
        r.history.clock_s = Some(out.history.iter().map(|h| h.clock_s).collect());
    }
    Ok(r)
}

/// The record of one finished search: what it found, the problem's `assessment` of its
/// answer, and, where the problem has an oracle (a table), the answer's signal and test
/// accuracy on every task and the test accuracy of the best-so-far after each evaluation.
pub fn record<P: Problem>(
    problem: &P,
    method: &str,
    task: &P::Task,
    seed: u64,
    out: &SearchOutcome<ArchOf<P>>,
    assessment: Assessment,
    wall_s: f64,
) -> TrialRecord {
    let oracle = problem.oracle();
    let all = |f: &dyn Fn(&P::Task) -> f64| -> BTreeMap<String, f64> {
        match oracle {
            Some(_) => problem
                .tasks()
                .into_iter()
                .map(|t| (t.to_string(), f(&t)))
                .collect(),
            None => BTreeMap::new(),
        }
    };
    let (test_all, signal_all) = match oracle {
        Some(o) => (
            all(&|t| o.test_acc(&out.best, t)),
            all(&|t| o.signal_acc(&out.best, t)),
        ),
        None => Default::default(),
    };
    TrialRecord {
        method: method.to_string(),
        dataset: task.to_string(),
        signal: problem.signal_name().to_string(),
        seed,
        best_arch: problem.space().format(&out.best),
        best_index: oracle.and_then(|o| o.index_of(&out.best)),
        test_acc: assessment
            .test_acc
            .or_else(|| oracle.map(|o| o.test_acc(&out.best, task))),
        signal_acc: oracle.map_or(out.best_score, |o| o.signal_acc(&out.best, task)),
        test_acc_all: test_all,
        signal_acc_all: signal_all,
        measures: assessment.measures,
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
            best_test_acc: match oracle {
                Some(o) => out
                    .history
                    .iter()
                    .map(|h| o.test_acc(&h.best, task))
                    .collect(),
                None => Vec::new(),
            },
        },
    }
}

/// Runs every job of `plan` on a pool of threads; the records come back in job order
/// whatever the number of threads. Restored trials are not run again; every new one is
/// saved to the store (if any) as soon as it finishes. The first failure is returned.
pub fn run_trials<P: Problem>(
    problem: &P,
    plan: &Plan<P::Task>,
    methods: &[Method<P>],
    exec: Execution<'_, P::Space>,
) -> Result<Vec<TrialRecord>, ProtocolError> {
    if plan.seeds.is_empty() {
        return Err(ProtocolError::config(
            "seeds",
            "(none)",
            "at least one trial",
        ));
    }
    if let Some((_, i)) = dsm_space::first_repeat(&plan.seeds) {
        return Err(ProtocolError::config(
            "seeds",
            plan.seeds[i],
            "each seed once (a repeated trial would be counted twice)",
        ));
    }
    if plan.workers.is_some() && exec.executor.is_some() {
        return Err(ProtocolError::config(
            "executor",
            "given with simulated workers",
            "no executor: simulated workers run in this process",
        ));
    }
    let executor = exec.executor.unwrap_or(&dsm_miner::InProcess);
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
                    let Some(job) = jobs.get(i) else { break };
                    if done.lock().expect("no poisoned lock")[i].is_some() {
                        continue; // restored from the checkpoint
                    }
                    let r =
                        run_job(problem, plan, methods, job, executor).and_then(|rec| {
                            match exec.store {
                                Some(store) => store.save(i, &rec).map(|_| rec),
                                None => Ok(rec),
                            }
                        });
                    let mut f = finished.lock().expect("no poisoned lock");
                    *f += 1;
                    if let (Some(progress), Ok(rec)) = (exec.progress, &r) {
                        progress(*f, rec);
                    }
                    drop(f);
                    done.lock().expect("no poisoned lock")[i] = Some(r);
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

impl<C> crate::Results<C> {
    /// The results of a study: `config`, and the `trials` [`run_trials`] returned for
    /// `plan` and `methods` on `problem`, summarised per task and method (with the facts
    /// of the problem's oracle, where it has one).
    pub fn of<P: Problem>(
        config: C,
        problem: &P,
        plan: &Plan<P::Task>,
        methods: &[Method<P>],
        trials: Vec<TrialRecord>,
    ) -> Self {
        let names: Vec<String> = methods.iter().map(|m| m.name().to_string()).collect();
        let facts = task_facts(problem, &plan.tasks);
        Self {
            config,
            summary: crate::summarise(&trials, problem.signal_name(), &facts, &names),
            trials,
        }
    }
}

/// What the summaries need of each task of `plan`, where the problem has an oracle.
pub fn task_facts<P: Problem>(problem: &P, tasks: &[P::Task]) -> Vec<(String, Option<TaskFacts>)> {
    tasks
        .iter()
        .map(|t| {
            let facts = problem.oracle().map(|o| {
                let best = o.best_by_signal(t);
                TaskFacts {
                    optimum: o.optimum_test_acc(t),
                    ceiling: o.test_acc(&best, t),
                    best_signal: o.signal_acc(&best, t),
                }
            });
            (t.to_string(), facts)
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
