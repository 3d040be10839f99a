//! The search loop over a launcher: asks the driver, submits, polls, retries, tells, and
//! journals every step (documented on [`Cluster`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dsm_miner::{Outcome, SearchDriver, SearchOutcome};
use dsm_space::{Evaluation, SearchSpace};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::ClusterError;
use crate::journal::{Attempt, EvaluationRecord, Event, Journal, Stage};
use crate::launcher::{JobSpec, JobState, Launcher, WorkerCommand};
use crate::task::{Task, TaskResult};

/// In which order finished results are told to the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TellOrder {
    /// In the order asked (a result waits for the earlier proposals' results), one result
    /// at a time with the free slots refilled after each: the search is then a function of
    /// its seed and the scores only, whatever the timing, the launcher or a crash and
    /// resume in between, and equals [`search_in_order`]. The default.
    #[default]
    Asked,
    /// As results arrive (no worker waits for another's result; the search then depends on
    /// the timing).
    Finished,
}

/// Where and how a search runs its evaluations (unchecked; [`check`](Self::check)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// The shared folder (visible to every node): the journal, task, result and log files.
    pub dir: PathBuf,
    /// The run's name: jobs are named `dsm-<run>-<proposal id>`.
    pub run: String,
    /// Seconds between polls of the result files and the launcher.
    pub poll_s: f64,
    /// Failed attempts retried before an evaluation is told as failed.
    pub max_retries: u32,
    /// The order results are told in.
    pub order: TellOrder,
    /// Continue the search journaled in `dir` (starts afresh without a journal).
    pub resume: bool,
    /// A fingerprint of the search's settings: a resumed driver must match it.
    pub fingerprint: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("runs/cluster"),
            run: "search".into(),
            poll_s: 1.0,
            max_retries: 2,
            order: TellOrder::Asked,
            resume: false,
            fingerprint: String::new(),
        }
    }
}

impl ClusterConfig {
    /// Checks the settings.
    pub fn check(&self) -> Result<(), ClusterError> {
        let name_ok = !self.run.is_empty()
            && self.run.len() <= 64
            && self
                .run
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !name_ok {
            return Err(ClusterError::Config {
                field: "run",
                value: format!("{:?}", self.run),
                expected: "1-64 letters, digits, '-', '_' or '.' (it names the jobs)",
            });
        }
        if !(self.poll_s.is_finite() && self.poll_s > 0.0 && self.poll_s <= 3600.0) {
            return Err(ClusterError::Config {
                field: "poll_s",
                value: self.poll_s.to_string(),
                expected: "seconds in (0, 3600]",
            });
        }
        Ok(())
    }

    /// The journal file.
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join("journal.json")
    }
}

/// What a search through a [`Cluster`] did besides its outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Jobs this driver submitted.
    pub submissions: u32,
    /// Failed attempts started again.
    pub retried: u32,
    /// Evaluations told as failed after their retries.
    pub failed: u32,
    /// Evaluations that ran past their time limit.
    pub timed_out: u32,
    /// Jobs started again after a node failure or preemption (not counted as failures).
    pub requeued: u32,
    /// Results collected from the journal's jobs when resuming.
    pub collected_on_resume: u32,
    /// Jobs still running when resuming, re-attached to.
    pub reattached: u32,
    /// Real seconds this driver ran.
    pub wall_s: f64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} jobs submitted ({} retried, {} failed, {} timed out, {} requeued; {} collected and {} re-attached on resume) in {:.1} s",
            self.submissions,
            self.retried,
            self.failed,
            self.timed_out,
            self.requeued,
            self.collected_on_resume,
            self.reattached,
            self.wall_s
        )
    }
}

/// The outcome of a search through a [`Cluster`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOutcome<A> {
    /// The search's outcome.
    pub outcome: SearchOutcome<A>,
    /// What the executor did.
    pub report: Report,
}

/// Runs `driver`'s search in this process exactly as a [`Cluster`] with `slots` workers and
/// [`TellOrder::Asked`] tells it: `slots` proposals out, the oldest told first, the slots
/// refilled after each result (with one slot, the sequential search). What a cluster run
/// reproduces, computed without one.
///
/// ```
/// use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
/// use dsm_miner::{Budget, DsmNas, SearchDriver, Searcher, seeded_rng};
/// use dsm_space::Nb201Space;
///
/// let dsm = DsmNas::default();
/// let budget = Budget { max_iters: 10, ..Budget::default() };
/// let mut eval = Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
/// let driver = SearchDriver::new(&Nb201Space, dsm.strategy(&Nb201Space)?, budget)?;
/// let one = dsm_cluster::search_in_order(driver, &mut eval, 1, &mut seeded_rng(3))?;
/// assert_eq!(one, dsm.search(&Nb201Space, &mut eval, budget, &mut seeded_rng(3))?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn search_in_order<S, E>(
    driver: SearchDriver<'_, S>,
    evaluator: &mut E,
    slots: usize,
    rng: &mut dyn Rng,
) -> Result<SearchOutcome<S::Arch>, ClusterError>
where
    S: SearchSpace,
    E: dsm_space::Evaluator<S::Arch>,
{
    let mut driver = driver.with_max_in_flight(slots)?;
    let mut out: std::collections::VecDeque<(u64, Evaluation)> = Default::default();
    loop {
        while let Some(p) = driver.ask(rng)? {
            let e = evaluator
                .evaluate(&p.arch)
                .map_err(|e| ClusterError::Evaluation {
                    arch: p.arch.to_string(),
                    reason: e.to_string(),
                })?;
            out.push_back((p.id, e));
        }
        let Some((id, e)) = out.pop_front() else {
            break;
        };
        driver.tell(id, e)?;
    }
    Ok(driver.finish()?)
}

/// Registers SIGTERM and SIGINT (Ctrl-C) to set the returned flag: give it to
/// [`Cluster::with_stop`] so that a signalled driver cancels its jobs and leaves a resumable
/// journal instead of dying with jobs running.
pub fn stop_on_signals() -> Result<Arc<AtomicBool>, ClusterError> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&flag)).map_err(|e| ClusterError::Spawn {
            command: "a signal handler".into(),
            source: e,
        })?;
    }
    Ok(flag)
}

/// An evaluation in flight.
struct Live {
    attempt: u32,
    since: Instant,
    /// Finished: a result, or a failure for good with the compute it cost.
    outcome: Option<Result<Evaluation, (Outcome, f64)>>,
}

/// Runs a [`SearchDriver`]'s evaluations through a [`Launcher`]: each proposal is a task
/// file in the shared folder and a job running the worker command, which writes its result
/// file atomically (no connection back to the driver). The driver keeps `launcher.slots()`
/// evaluations in flight and polls the result files and the launcher.
///
/// - **Journal.** Every proposal asked, every result told and every job's state is written
///   atomically to `dir/journal.json`. A driver started with `resume` replays the journal
///   into a fresh driver of the same search (same seed: the same proposals), then collects
///   the results its jobs wrote meanwhile, re-attaches to jobs still queued or running (by
///   id, or by name when it was killed between submitting and journaling), and starts
///   again only evaluations that have neither: a finished candidate is never trained twice.
/// - **Failures.** A job that fails (non-zero exit, or exit 0 without a valid result file)
///   is recorded with its reason (the exit status and the log's last line) and submitted
///   again up to `max_retries` times; then the search is told it failed
///   ([`SearchDriver::tell_failure`] with [`Outcome::Failed`]). A job over its time limit is
///   `timeout`, told as [`Outcome::TimedOut`] without a retry. A job lost to a node failure or preemption is started again and not
///   counted as a failure.
/// - **Stopping.** When the stop flag is set (see [`stop_on_signals`]) the driver cancels
///   its jobs, leaves the journal resumable and returns [`ClusterError::Interrupted`]; on
///   any other error it cancels its jobs too.
///
/// With [`TellOrder::Asked`] (the default) the outcome is the same on any launcher, with
/// any timing, and across a crash and resume. A worker is any program that calls
/// [`serve`](crate::serve) on the task file in `DSM_TASK`.
pub struct Cluster<L: Launcher> {
    config: ClusterConfig,
    launcher: L,
    command: WorkerCommand,
    stop: Option<Arc<AtomicBool>>,
}

impl<L: Launcher> Cluster<L> {
    /// A cluster running `command` through `launcher` (the settings checked).
    pub fn new(
        config: ClusterConfig,
        launcher: L,
        command: WorkerCommand,
    ) -> Result<Self, ClusterError> {
        config.check()?;
        Ok(Self {
            config,
            launcher,
            command,
            stop: None,
        })
    }

    /// Stops (cancelling the jobs, the journal resumable) when `flag` is set.
    pub fn with_stop(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = Some(flag);
        self
    }

    /// The launcher.
    pub fn launcher(&mut self) -> &mut L {
        &mut self.launcher
    }

    /// Runs `driver`'s search to its end (or continues the journaled one), `rng` being the
    /// search's seeded random numbers; a method's driver is [`dsm_miner::driver_for`].
    pub fn search<S: SearchSpace>(
        &mut self,
        driver: SearchDriver<'_, S>,
        rng: &mut dyn Rng,
    ) -> Result<ClusterOutcome<S::Arch>, ClusterError> {
        let start = Instant::now();
        let mut run = Run::open(self, driver, rng)?;
        let result = run.run(rng);
        match result {
            Ok(()) => {
                let mut report = run.report.clone();
                report.wall_s = start.elapsed().as_secs_f64();
                Ok(ClusterOutcome {
                    outcome: run.driver.finish()?,
                    report,
                })
            }
            Err(e) => {
                let cancelled = run.cancel_all()?;
                match e {
                    ClusterError::Interrupted { journal, .. } => {
                        Err(ClusterError::Interrupted { cancelled, journal })
                    }
                    e => Err(e),
                }
            }
        }
    }
}

/// One search in progress.
struct Run<'c, 'd, L: Launcher, S: SearchSpace> {
    cluster: &'c mut Cluster<L>,
    driver: SearchDriver<'d, S>,
    journal: Journal,
    live: BTreeMap<u64, Live>,
    /// Finished, not yet told, in the order they finished (for `TellOrder::Finished`).
    finished: Vec<u64>,
    report: Report,
}

fn subdir(dir: &Path, name: &str) -> Result<PathBuf, ClusterError> {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).map_err(|e| dsm_space::io::FileError::write(&d, e))?;
    Ok(d)
}

impl<'c, 'd, L: Launcher, S: SearchSpace> Run<'c, 'd, L, S> {
    fn open(
        cluster: &'c mut Cluster<L>,
        driver: SearchDriver<'d, S>,
        rng: &mut dyn Rng,
    ) -> Result<Self, ClusterError> {
        let cfg = &cluster.config;
        let path = cfg.journal_path();
        let existing = if path.exists() {
            if !cfg.resume {
                return Err(ClusterError::Journal {
                    path,
                    reason: "holds the journal of a search; pass --resume to continue it, or choose another folder".into(),
                });
            }
            let j = Journal::read(&path)?;
            if j.run != cfg.run || j.fingerprint != cfg.fingerprint {
                return Err(ClusterError::Journal {
                    path,
                    reason: format!(
                        "belongs to run {:?} with other settings (fingerprint {}, this search {}); choose another folder",
                        j.run, j.fingerprint, cfg.fingerprint
                    ),
                });
            }
            Some(j)
        } else {
            let tasks = cfg.dir.join("tasks");
            if std::fs::read_dir(&tasks).is_ok_and(|mut d| d.next().is_some()) {
                return Err(ClusterError::Journal {
                    path,
                    reason: format!(
                        "is missing but {} holds the tasks of another search; choose an empty folder",
                        tasks.display()
                    ),
                });
            }
            None
        };
        for d in ["tasks", "results", "logs", "jobs"] {
            subdir(&cfg.dir, d)?;
        }
        let slots = cluster.launcher.slots();
        let journal = existing
            .unwrap_or_else(|| Journal::new(&cfg.run, &cfg.fingerprint, cluster.launcher.name()));
        let mut run = Run {
            driver: driver.with_max_in_flight(slots)?,
            cluster,
            journal,
            live: BTreeMap::new(),
            finished: Vec::new(),
            report: Report::default(),
        };
        run.replay(rng)?;
        run.save()?;
        Ok(run)
    }

    fn path(&self) -> PathBuf {
        self.cluster.config.journal_path()
    }

    fn save(&self) -> Result<(), ClusterError> {
        self.journal.write(&self.path())
    }

    fn mismatch(&self, reason: String) -> ClusterError {
        ClusterError::Journal {
            path: self.path(),
            reason: format!(
                "does not replay: {reason}; it was written by another search (seed, method or settings)"
            ),
        }
    }

    fn result_path(&self, id: u64) -> PathBuf {
        self.cluster
            .config
            .dir
            .join("results")
            .join(format!("{id}.json"))
    }

    fn job_name(&self, id: u64) -> String {
        format!("dsm-{}-{id}", self.cluster.config.run)
    }

    /// Feeds the journal's steps to the fresh driver, then picks up the evaluations it left
    /// in flight.
    fn replay(&mut self, rng: &mut dyn Rng) -> Result<(), ClusterError> {
        let events = self.journal.events.clone();
        for ev in &events {
            match ev {
                Event::Asked { id, arch } => match self.driver.ask(rng)? {
                    Some(p) if p.id == *id && p.arch.to_string() == *arch => {}
                    Some(p) => {
                        return Err(self.mismatch(format!(
                            "proposal {id} was {arch}, the search now asks {} as {}",
                            p.arch, p.id
                        )));
                    }
                    None => {
                        return Err(
                            self.mismatch(format!("the search no longer asks proposal {id}"))
                        );
                    }
                },
                Event::Told { id, score, cost_s } => self.driver.tell(
                    *id,
                    Evaluation {
                        score: *score,
                        cost_s: *cost_s,
                    },
                )?,
                Event::Failed {
                    id,
                    cost_s,
                    outcome,
                } => self.driver.tell_failure(*id, *outcome, *cost_s)?,
            }
        }
        let told: std::collections::HashSet<u64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Told { id, .. } | Event::Failed { id, .. } => Some(*id),
                Event::Asked { .. } => None,
            })
            .collect();
        let open: Vec<(u64, EvaluationRecord)> = self
            .journal
            .evaluations
            .iter()
            .filter(|(id, _)| !told.contains(id))
            .map(|(id, r)| (*id, r.clone()))
            .collect();
        for (id, rec) in open {
            let mut live = Live {
                attempt: rec.submissions.saturating_sub(1),
                since: Instant::now(),
                outcome: None,
            };
            if let Ok(r) = TaskResult::read(&self.result_path(id), id) {
                live.outcome = Some(Ok(r.evaluation));
                self.report.collected_on_resume += 1;
                self.live.insert(id, live);
                self.finished.push(id);
                continue;
            }
            let job = match (&rec.job, &rec.stage) {
                (Some(job), Stage::Submitted) => Some(job.clone()),
                (None, Stage::Submitting) => self.cluster.launcher.find(&self.job_name(id))?,
                _ => None,
            };
            let running = match &job {
                Some(j) => {
                    let states = self.cluster.launcher.states(std::slice::from_ref(j))?;
                    !states.get(j).is_none_or(JobState::is_over)
                }
                None => false,
            };
            self.live.insert(id, live);
            if running {
                let rec = self.journal.evaluations.get_mut(&id).expect("listed above");
                rec.job = job;
                rec.stage = Stage::Submitted;
                self.report.reattached += 1;
            } else {
                // Cancelled by a stopped driver, or lost with a dead one: start it again
                // (not a failure of the evaluation).
                self.submit(id)?;
            }
        }
        Ok(())
    }

    fn submit(&mut self, id: u64) -> Result<(), ClusterError> {
        let dir = self.cluster.config.dir.clone();
        let rec = self
            .journal
            .evaluations
            .get_mut(&id)
            .expect("journaled when asked");
        let attempt = rec.submissions;
        rec.stage = Stage::Submitting;
        rec.job = None;
        let task = Task {
            run: self.cluster.config.run.clone(),
            id,
            attempt,
            arch: rec.arch.clone(),
            result: dir.join("results").join(format!("{id}.json")),
        };
        let task_file = dir.join("tasks").join(format!("{id}.json"));
        task.write(&task_file)?;
        self.save()?;
        let spec = JobSpec {
            name: self.job_name(id),
            task: task_file,
            log: dir.join("logs").join(format!("{id}.out")),
            script: dir.join("jobs").join(format!("{id}.sh")),
            attempt,
        };
        let job = self.cluster.launcher.submit(&spec, &self.cluster.command)?;
        let rec = self
            .journal
            .evaluations
            .get_mut(&id)
            .expect("journaled when asked");
        rec.job = Some(job);
        rec.stage = Stage::Submitted;
        rec.submissions += 1;
        self.report.submissions += 1;
        if let Some(l) = self.live.get_mut(&id) {
            l.attempt = attempt;
            l.since = Instant::now();
        }
        self.save()
    }

    fn stopping(&self) -> bool {
        self.cluster
            .stop
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
    }

    fn interrupted(&self) -> ClusterError {
        ClusterError::Interrupted {
            cancelled: 0,
            journal: self.path(),
        }
    }

    fn run(&mut self, rng: &mut dyn Rng) -> Result<(), ClusterError> {
        loop {
            if self.stopping() {
                return Err(self.interrupted());
            }
            while let Some(p) = self.driver.ask(rng)? {
                let arch = p.arch.to_string();
                self.journal.events.push(Event::Asked {
                    id: p.id,
                    arch: arch.clone(),
                });
                self.journal.evaluations.insert(
                    p.id,
                    EvaluationRecord {
                        arch,
                        job: None,
                        stage: Stage::Submitting,
                        submissions: 0,
                        failures: 0,
                        attempts: Vec::new(),
                    },
                );
                self.live.insert(
                    p.id,
                    Live {
                        attempt: 0,
                        since: Instant::now(),
                        outcome: None,
                    },
                );
                self.submit(p.id)?;
            }
            if self.tell_ready()? {
                continue;
            }
            if self.live.is_empty() {
                return Ok(());
            }
            self.wait()?;
            self.poll()?;
        }
    }

    /// Tells the results that may be told; whether any was.
    fn tell_ready(&mut self) -> Result<bool, ClusterError> {
        let ready: Vec<u64> = match self.cluster.config.order {
            // One at a time, the oldest first, the driver refilled in between: the asks then
            // happen at the same points whatever the timing.
            TellOrder::Asked => self
                .live
                .iter()
                .next()
                .filter(|(_, l)| l.outcome.is_some())
                .map(|(id, _)| *id)
                .into_iter()
                .collect(),
            TellOrder::Finished => std::mem::take(&mut self.finished),
        };
        for &id in &ready {
            let live = self.live.remove(&id).expect("in flight");
            self.finished.retain(|&f| f != id);
            match live.outcome.expect("finished") {
                Ok(e) => {
                    self.journal.events.push(Event::Told {
                        id,
                        score: e.score,
                        cost_s: e.cost_s,
                    });
                    self.save()?;
                    self.driver.tell(id, e)?;
                }
                Err((outcome, cost_s)) => {
                    self.journal.events.push(Event::Failed {
                        id,
                        cost_s,
                        outcome,
                    });
                    self.save()?;
                    self.driver.tell_failure(id, outcome, cost_s)?;
                }
            }
        }
        Ok(!ready.is_empty())
    }

    fn wait(&self) -> Result<(), ClusterError> {
        let until = Instant::now() + Duration::from_secs_f64(self.cluster.config.poll_s);
        while Instant::now() < until {
            if self.stopping() {
                return Err(self.interrupted());
            }
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
        Ok(())
    }

    /// Collects result files and handles ended jobs.
    fn poll(&mut self) -> Result<(), ClusterError> {
        let open: Vec<u64> = self
            .live
            .iter()
            .filter(|(_, l)| l.outcome.is_none())
            .map(|(id, _)| *id)
            .collect();
        let mut ask_launcher = Vec::new();
        for id in open {
            let path = self.result_path(id);
            if path.exists() {
                match TaskResult::read(&path, id) {
                    Ok(r) => self.done(id, Ok(r.evaluation))?,
                    Err(e) => {
                        let job = self.journal.evaluations[&id].job.clone();
                        if let Some(j) = job {
                            self.cluster.launcher.cancel(&[j])?;
                        }
                        let _ = std::fs::remove_file(&path);
                        self.failure(id, format!("bad result file: {e}"), false)?;
                    }
                }
            } else if let Some(job) = self.journal.evaluations[&id].job.clone() {
                ask_launcher.push((id, job));
            }
        }
        if ask_launcher.is_empty() {
            return Ok(());
        }
        let jobs: Vec<String> = ask_launcher.iter().map(|(_, j)| j.clone()).collect();
        let states = self.cluster.launcher.states(&jobs)?;
        for (id, job) in ask_launcher {
            let Some(state) = states.get(&job) else {
                continue;
            };
            match state {
                JobState::Pending | JobState::Running => {}
                JobState::Completed => {
                    let path = self.result_path(id);
                    match TaskResult::read(&path, id) {
                        Ok(r) => self.done(id, Ok(r.evaluation))?,
                        Err(e) => self.failure(
                            id,
                            format!("exited 0 without a valid result: {e}"),
                            false,
                        )?,
                    }
                }
                JobState::Failed { exit } => {
                    let reason = match self.last_log_line(id) {
                        Some(l) => format!("{exit}: {l}"),
                        None => exit.clone(),
                    };
                    self.failure(id, reason, false)?;
                }
                JobState::Timeout => {
                    self.failure(id, "TIMEOUT: ran past its time limit".into(), true)?
                }
                JobState::Lost { state } => {
                    self.end_attempt(id, format!("requeued after {state}"));
                    self.report.requeued += 1;
                    self.submit(id)?;
                }
                JobState::Cancelled => {
                    self.failure(id, "cancelled outside the driver".into(), false)?
                }
                JobState::Gone => {
                    self.failure(
                        id,
                        "vanished from the scheduler without a result".into(),
                        false,
                    )?;
                }
            }
        }
        Ok(())
    }

    fn last_log_line(&self, id: u64) -> Option<String> {
        let path = self
            .cluster
            .config
            .dir
            .join("logs")
            .join(format!("{id}.out"));
        let text = std::fs::read_to_string(path).ok()?;
        let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
        Some(line.chars().take(300).collect())
    }

    fn end_attempt(&mut self, id: u64, outcome: String) {
        let rec = self.journal.evaluations.get_mut(&id).expect("journaled");
        let job = rec.job.clone().unwrap_or_default();
        rec.attempts.push(Attempt { job, outcome });
    }

    fn done(
        &mut self,
        id: u64,
        outcome: Result<Evaluation, (Outcome, f64)>,
    ) -> Result<(), ClusterError> {
        let rec = self.journal.evaluations.get_mut(&id).expect("journaled");
        rec.stage = if outcome.is_ok() {
            Stage::Done
        } else {
            rec.stage.clone()
        };
        if let Some(l) = self.live.get_mut(&id) {
            l.outcome = Some(outcome);
        }
        self.finished.push(id);
        self.save()
    }

    /// A failed attempt: retried up to the cap (a timeout never), then told as failed.
    fn failure(&mut self, id: u64, reason: String, timeout: bool) -> Result<(), ClusterError> {
        self.end_attempt(id, reason);
        let max = self.cluster.config.max_retries;
        let rec = self.journal.evaluations.get_mut(&id).expect("journaled");
        rec.failures += 1;
        if !timeout && rec.failures <= max {
            self.report.retried += 1;
            return self.submit(id);
        }
        rec.stage = if timeout {
            Stage::Timeout
        } else {
            Stage::Failed
        };
        if timeout {
            self.report.timed_out += 1;
        } else {
            self.report.failed += 1;
        }
        let cost = self
            .live
            .get(&id)
            .map_or(0.0, |l| l.since.elapsed().as_secs_f64());
        let outcome = if timeout {
            Outcome::TimedOut
        } else {
            Outcome::Failed
        };
        self.done(id, Err((outcome, cost)))
    }

    /// Cancels every job in flight and marks them so a resumed driver starts them again.
    fn cancel_all(&mut self) -> Result<usize, ClusterError> {
        let mut jobs = Vec::new();
        for (id, l) in &self.live {
            if l.outcome.is_some() {
                continue;
            }
            let rec = self.journal.evaluations.get_mut(id).expect("journaled");
            if let Some(j) = &rec.job {
                jobs.push(j.clone());
            }
            if rec.stage == Stage::Submitted {
                rec.stage = Stage::Cancelled;
            }
        }
        self.cluster.launcher.cancel(&jobs)?;
        self.save()?;
        Ok(jobs.len())
    }
}
