//! Searches whose evaluations run elsewhere: worker processes on this machine (always) and
//! batch jobs on a real Slurm cluster (where one is configured: `scripts/slurm-local.sh
//! start`, then `SLURM_CONF`; `.ci/run` does both). Every search here is the same 8
//! evaluations of DSM-NAS on the table (3 initial anchors, 5 queries), checked against the
//! same search computed in this process (`search_in_order`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dsm_nas::bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
use dsm_nas::cluster::journal::{Journal, Stage};
use dsm_nas::cluster::{
    Cluster, ClusterConfig, ClusterError, ClusterOutcome, Launcher, LocalLauncher, SlurmLauncher,
    SlurmOptions, WorkerCommand,
};
use dsm_nas::miner::{Budget, DsmNas, SearchOutcome, seeded_rng};
use dsm_nas::space::{Nb201Cell, Nb201Space};

const SEED: u64 = 7;

fn budget() -> Budget {
    Budget {
        max_iters: 4,
        ..Budget::default()
    }
}

/// The search of `slots` workers computed in this process (what every cluster run must give).
fn reference(slots: usize) -> SearchOutcome<Nb201Cell> {
    let mut eval = Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
    let dsm = DsmNas::default();
    let driver = dsm_nas::miner::driver_for(&dsm, &Nb201Space, budget()).unwrap();
    dsm_nas::cluster::search_in_order(driver, &mut eval, slots, &mut seeded_rng(SEED)).unwrap()
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dsm-cluster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The table worker, run through `sh -c script` (the script ends by exec-ing it).
fn worker(script: &str) -> WorkerCommand {
    WorkerCommand::new(
        "sh",
        [
            "-c",
            script,
            "sh",
            common::example("dsm_worker")
                .to_str()
                .expect("a UTF-8 path"),
            "--dataset",
            "cifar10",
        ],
    )
}

fn config(dir: &Path, run: &str) -> ClusterConfig {
    ClusterConfig {
        dir: dir.join("jobs"),
        run: run.into(),
        poll_s: 0.05,
        max_retries: 2,
        fingerprint: "dsm-nas seed 7".into(),
        ..ClusterConfig::default()
    }
}

fn search<L: Launcher>(
    config: ClusterConfig,
    launcher: L,
    command: WorkerCommand,
) -> Result<ClusterOutcome<Nb201Cell>, ClusterError> {
    let mut cluster = Cluster::new(config, launcher, command)?;
    let dsm = DsmNas::default();
    let driver = dsm_nas::miner::driver_for(&dsm, &Nb201Space, budget())?;
    cluster.search(driver, &mut seeded_rng(SEED))
}

fn journal(config: &ClusterConfig) -> Journal {
    Journal::read(&config.journal_path()).unwrap()
}

#[test]
fn a_local_pool_gives_the_in_process_search_and_resumes_without_resubmitting() {
    let d = dir("local");
    let cfg = config(&d, "local");
    let done = search(
        cfg.clone(),
        LocalLauncher::new(3).unwrap(),
        worker(r#"exec "$@""#),
    )
    .unwrap();
    assert_eq!(done.outcome, reference(3));
    assert_ne!(
        reference(3),
        reference(1),
        "3 in flight is not the sequential search"
    );
    assert_eq!(done.report.submissions, 8);
    let j = journal(&cfg);
    assert_eq!(j.evaluations.len(), 8);
    assert!(
        j.evaluations
            .values()
            .all(|r| r.stage == Stage::Done && r.submissions == 1)
    );
    // The same folder again is refused without resume, and replayed with it.
    let again = search(
        cfg.clone(),
        LocalLauncher::new(3).unwrap(),
        worker("exit 1"),
    )
    .unwrap_err();
    assert!(again.to_string().contains("pass --resume"), "{again}");
    let resumed = search(
        ClusterConfig {
            resume: true,
            ..cfg
        },
        LocalLauncher::new(3).unwrap(),
        worker("exit 1"),
    )
    .unwrap();
    assert_eq!(
        (resumed.outcome, resumed.report.submissions),
        (reference(3), 0)
    );
}

#[test]
fn results_told_as_they_finish_and_journals_of_other_searches_are_refused() {
    let d = dir("finished");
    let cfg = ClusterConfig {
        order: dsm_nas::cluster::TellOrder::Finished,
        ..config(&d, "finished")
    };
    // Proposal 0 is slow: with results told as they finish, the others overtake it.
    let slow_first = r#"if grep -q '"id": 0,' "$DSM_TASK"; then sleep 0.5; fi; exec "$@""#;
    let done = search(
        cfg.clone(),
        LocalLauncher::new(3).unwrap(),
        worker(slow_first),
    )
    .unwrap();
    assert_eq!((done.outcome.evaluations, done.report.submissions), (8, 8));
    let j = journal(&cfg);
    let told: Vec<u64> = j
        .events
        .iter()
        .filter_map(|e| match e {
            dsm_nas::cluster::journal::Event::Told { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_ne!(
        told[0], 0,
        "proposal 0 was told first although it finished last: {told:?}"
    );
    // Another search's settings cannot continue this journal.
    let other = ClusterConfig {
        resume: true,
        fingerprint: "another search".into(),
        ..cfg
    };
    let e = search(other, LocalLauncher::new(3).unwrap(), worker("exit 1")).unwrap_err();
    assert!(e.to_string().contains("journal.json belongs to run"), "{e}");
}

#[test]
fn failed_workers_are_recorded_retried_and_finally_told_as_failed() {
    // Every first attempt fails: all retried once, the same results.
    let d = dir("retry");
    let cfg = config(&d, "retry");
    let flaky =
        r#"if [ "$DSM_ATTEMPT" = 0 ]; then echo "injected failure" >&2; exit 3; fi; exec "$@""#;
    let done = search(cfg.clone(), LocalLauncher::new(4).unwrap(), worker(flaky)).unwrap();
    assert_eq!(done.outcome, reference(4));
    assert_eq!((done.report.retried, done.report.submissions), (8, 16));
    let first = &journal(&cfg).evaluations[&0].attempts[0].outcome;
    assert!(
        first.contains("exit status: 3") && first.ends_with("injected failure"),
        "{first}"
    );
    // Proposal 4 always fails: tried 1 + max_retries times, then told as failed.
    let d = dir("fail");
    let cfg = ClusterConfig {
        max_retries: 1,
        ..config(&d, "fail")
    };
    let broken = r#"if grep -q '"id": 4,' "$DSM_TASK"; then exit 4; fi; exec "$@""#;
    let done = search(cfg.clone(), LocalLauncher::new(2).unwrap(), worker(broken)).unwrap();
    assert_eq!(done.report.failed, 1);
    let rec = &journal(&cfg).evaluations[&4];
    assert_eq!(
        (rec.stage.clone(), rec.submissions, rec.attempts.len()),
        (Stage::Failed, 2, 2)
    );
    // Proposal 4 is a query, not an initial anchor: the budget's 8 evaluations, the failed one
    // among them, and it is never kept as an anchor.
    assert_eq!(done.outcome.evaluations, 8);
    let failed: Nb201Cell = rec.arch.parse().unwrap();
    assert!(!done.outcome.final_anchors.contains(&failed));
}

#[test]
fn a_stopped_driver_cancels_its_workers_and_resumes_to_the_same_result() {
    let d = dir("stop");
    let cfg = config(&d, "stop");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let slow = worker(r#"sleep 0.5; exec "$@""#);
    let mut cluster = Cluster::new(cfg.clone(), LocalLauncher::new(2).unwrap(), slow.clone())
        .unwrap()
        .with_stop(stop);
    let dsm = DsmNas::default();
    let driver = dsm_nas::miner::driver_for(&dsm, &Nb201Space, budget()).unwrap();
    let err = cluster.search(driver, &mut seeded_rng(SEED)).unwrap_err();
    setter.join().unwrap();
    let ClusterError::Interrupted { cancelled, .. } = err else {
        panic!("{err}")
    };
    assert!(cancelled >= 1, "{cancelled}");
    let j = journal(&cfg);
    assert!(j.evaluations.values().any(|r| r.stage == Stage::Cancelled));
    let resumed = search(
        ClusterConfig {
            resume: true,
            ..cfg.clone()
        },
        LocalLauncher::new(2).unwrap(),
        slow,
    )
    .unwrap();
    assert_eq!(resumed.outcome, reference(2));
    // Nothing that had finished was started again.
    let j = journal(&cfg);
    assert!(
        j.evaluations.values().all(|r| r.submissions <= 2),
        "{:?}",
        j.evaluations
    );
    assert!(resumed.report.submissions < 8);
}

#[test]
fn search_live_names_a_missing_sbatch() {
    let out = Command::new(common::example("search_live"))
        .args(["--executor", "slurm", "--queries", "1"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: sbatch not found on PATH"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A live study through the study loop with its trainings on worker processes gives the
/// in-process study's trials (the workers rebuild each trial's evaluator from the task and
/// seed the runner sets), and keeps each search in `DIR/<data>-seed-<s>/<method>/`.
#[test]
fn a_live_study_on_worker_processes_gives_the_in_process_trials() {
    let d = dir("live-study");
    let study = |extra: &[&str]| {
        let out = Command::new(common::example("search_live"))
            .args(["--methods", "dsm-nas,random", "--queries", "2"])
            .args(["--final-epochs", "1", "--seeds", "3", "--poll-s", "0.05"])
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{err}");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        // One JSON line per trial, then one per summary row.
        let trials: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("best_arch").is_some())
            .collect();
        let key = |v: &serde_json::Value| {
            let f = |k: &str| v[k].to_string();
            [
                f("method"),
                f("seed"),
                f("best_arch"),
                f("signal_acc"),
                f("test_acc"),
                f("queries"),
            ]
        };
        trials.iter().map(key).collect::<Vec<_>>()
    };
    let inline = study(&[]);
    let ck = d.join("ck").display().to_string();
    let workers = study(&["--executor", "local", "--workers", "2", "--checkpoint", &ck]);
    assert_eq!(inline.len(), 2);
    assert_eq!(workers, inline);
    assert!(d.join("ck/builtin-seed-3/dsm-nas/journal.json").exists());
    assert!(d.join("ck/checkpoint/trial-1.json").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

fn slurm(slots: usize) -> SlurmLauncher {
    SlurmLauncher::new(SlurmOptions {
        slots,
        ..SlurmOptions::default()
    })
    .unwrap()
}

/// Job names submitted through the counting `sbatch` wrapper of `d`, with their counts.
fn counting_sbatch(d: &Path) -> (PathBuf, PathBuf) {
    let log = d.join("sbatch.log");
    let wrapper = d.join("sbatch");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nfor a in \"$@\"; do case $a in --job-name=*) echo \"$a\" >> '{}';; esac; done\nexec sbatch \"$@\"\n", log.display()),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status()
        .unwrap();
    (wrapper, log)
}

fn squeue_names(prefix: &str) -> Vec<String> {
    let out = Command::new("squeue")
        .args(["-h", "-o", "%j"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(String::from)
        .collect()
}

#[test]
#[cfg_attr(
    not(slurm_cluster),
    ignore = "needs a Slurm cluster: scripts/slurm-local.sh start, then export SLURM_CONF as it prints (.ci/run does both)"
)]
fn slurm_jobs_over_their_time_limit_are_timeout() {
    // Started first: Slurm ends a --time=1 job ~80 s after it starts.
    let d = dir("timeout");
    let cfg = ClusterConfig {
        poll_s: 1.0,
        ..config(&d, "timeout")
    };
    let launcher = SlurmLauncher::new(SlurmOptions {
        slots: 8,
        time: Some("1".into()),
        ..SlurmOptions::default()
    })
    .unwrap();
    let stuck = worker(r#"if grep -q '"id": 0,' "$DSM_TASK"; then sleep 600; fi; exec "$@""#);
    let done = search(cfg.clone(), launcher, stuck).unwrap();
    assert_eq!(done.report.timed_out, 1);
    let rec = &journal(&cfg).evaluations[&0];
    assert_eq!((rec.stage.clone(), rec.submissions), (Stage::Timeout, 1));
    assert!(
        rec.attempts[0].outcome.starts_with("TIMEOUT"),
        "{:?}",
        rec.attempts
    );
    // The budget's 8 evaluations and the timed-out initial anchor drawn again: a time-out is
    // never an anchor (issue 31, failures as a state).
    assert_eq!(done.outcome.evaluations, 9);
    let timed_out: Nb201Cell = rec.arch.parse().unwrap();
    assert!(!done.outcome.final_anchors.contains(&timed_out));
}

#[test]
#[cfg_attr(
    not(slurm_cluster),
    ignore = "needs a Slurm cluster: scripts/slurm-local.sh start, then export SLURM_CONF as it prints (.ci/run does both)"
)]
fn slurm_gives_the_local_pool_results_and_retries_failed_jobs() {
    let d = dir("slurm");
    let cfg = ClusterConfig {
        poll_s: 0.2,
        ..config(&d, "same")
    };
    let flaky = r#"if [ "$DSM_ATTEMPT" = 0 ] && grep -q '"id": 1,' "$DSM_TASK"; then echo "injected failure" >&2; exit 3; fi; exec "$@""#;
    let done = search(cfg.clone(), slurm(8), worker(flaky)).unwrap();
    let local = search(
        config(&dir("slurm-local"), "same"),
        LocalLauncher::new(8).unwrap(),
        worker(r#"exec "$@""#),
    )
    .unwrap();
    assert_eq!(done.outcome, local.outcome);
    assert_eq!(done.outcome, reference(8));
    assert_eq!((done.report.retried, done.report.submissions), (1, 9));
    let rec = &journal(&cfg).evaluations[&1];
    assert_eq!(rec.attempts.len(), 1);
    let o = &rec.attempts[0].outcome;
    assert!(
        o.starts_with("FAILED, exit code 3:0") && o.ends_with("injected failure"),
        "{o}"
    );
}

#[test]
#[cfg_attr(
    not(slurm_cluster),
    ignore = "needs a Slurm cluster: scripts/slurm-local.sh start, then export SLURM_CONF as it prints (.ci/run does both)"
)]
fn slurm_refusals_quote_slurm() {
    let d = dir("refused");
    let launcher = SlurmLauncher::new(SlurmOptions {
        partition: Some("no-such-partition".into()),
        ..SlurmOptions::default()
    })
    .unwrap();
    let err = search(config(&d, "refused"), launcher, worker(r#"exec "$@""#))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("sbatch --parsable refused: ")
            && err.contains("Invalid partition name specified"),
        "{err}"
    );
}

/// The driver role of the two tests below, in a child process (the test binary run again
/// with `DSM_TEST_DRIVER` naming the folder).
fn driver_role() -> Option<()> {
    let d = PathBuf::from(std::env::var_os("DSM_TEST_DRIVER")?);
    let (sbatch, _) = counting_sbatch(&d);
    let launcher = SlurmLauncher::new(SlurmOptions {
        slots: 2,
        sbatch,
        ..SlurmOptions::default()
    })
    .unwrap();
    let sleep = std::env::var("DSM_TEST_SLEEP").unwrap();
    let run = std::env::var("DSM_TEST_RUN").unwrap();
    let cfg = ClusterConfig {
        poll_s: 0.2,
        ..config(&d, &run)
    };
    let mut cluster = Cluster::new(
        cfg,
        launcher,
        worker(&format!("sleep {sleep}; exec \"$@\"")),
    )
    .unwrap()
    .with_stop(dsm_nas::cluster::stop_on_signals().unwrap());
    let dsm = DsmNas::default();
    let driver = dsm_nas::miner::driver_for(&dsm, &Nb201Space, budget()).unwrap();
    match cluster.search(driver, &mut seeded_rng(SEED)) {
        Err(ClusterError::Interrupted { cancelled, .. }) => {
            eprintln!("interrupted, {cancelled} cancelled");
            std::process::exit(3)
        }
        other => {
            other.unwrap();
            std::process::exit(0)
        }
    }
}

fn spawn_driver(test: &str, d: &Path, run: &str, sleep: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("DSM_TEST_DRIVER", d)
        .env("DSM_TEST_RUN", run)
        .env("DSM_TEST_SLEEP", sleep)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[cfg_attr(
    not(slurm_cluster),
    ignore = "needs a Slurm cluster: scripts/slurm-local.sh start, then export SLURM_CONF as it prints (.ci/run does both)"
)]
fn slurm_driver_killed_and_resumed_finishes_the_same_and_submits_nothing_twice() {
    if driver_role().is_some() {
        return;
    }
    let d = dir("kill");
    let cfg = config(&d, "kill");
    let mut child = spawn_driver(
        "slurm_driver_killed_and_resumed_finishes_the_same_and_submits_nothing_twice",
        &d,
        "kill",
        "1",
    );
    let told = |j: &Journal| {
        j.events
            .iter()
            .filter(|e| !matches!(e, dsm_nas::cluster::journal::Event::Asked { .. }))
            .count()
    };
    // Killed with a job queued or running (not between a result and the next submission,
    // where there would be nothing to re-attach or collect).
    wait_for("3 results told and a job submitted", 90, || {
        Journal::read(&cfg.journal_path()).is_ok_and(|j| {
            told(&j) >= 3 && j.evaluations.values().any(|e| e.stage == Stage::Submitted)
        })
    });
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let (sbatch, log) = counting_sbatch(&d);
    let launcher = SlurmLauncher::new(SlurmOptions {
        slots: 2,
        sbatch,
        ..SlurmOptions::default()
    })
    .unwrap();
    let done = search(
        ClusterConfig {
            resume: true,
            poll_s: 0.2,
            ..cfg
        },
        launcher,
        worker(r#"sleep 1; exec "$@""#),
    )
    .unwrap();
    assert_eq!(done.outcome, reference(2));
    let names = std::fs::read_to_string(log).unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for n in names.lines() {
        *counts.entry(n.to_string()).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 8, "{names}");
    assert!(
        counts.values().all(|&c| c == 1),
        "submitted twice: {counts:?}"
    );
    assert!(
        done.report.reattached + done.report.collected_on_resume >= 1,
        "{:?}",
        done.report
    );
}

#[test]
#[cfg_attr(
    not(slurm_cluster),
    ignore = "needs a Slurm cluster: scripts/slurm-local.sh start, then export SLURM_CONF as it prints (.ci/run does both)"
)]
fn slurm_sigterm_cancels_the_drivers_jobs() {
    if driver_role().is_some() {
        return;
    }
    let d = dir("term");
    let cfg = config(&d, "term");
    let mut child = spawn_driver("slurm_sigterm_cancels_the_drivers_jobs", &d, "term", "300");
    wait_for("2 jobs in the queue", 60, || {
        squeue_names("dsm-term-").len() >= 2
    });
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(3),
        "the driver did not stop as interrupted"
    );
    wait_for("the jobs to leave the queue", 30, || {
        squeue_names("dsm-term-").is_empty()
    });
    let j = journal(&cfg);
    assert!(
        j.evaluations
            .values()
            .filter(|r| r.stage == Stage::Cancelled)
            .count()
            >= 2,
        "{:?}",
        j.evaluations
    );
}
