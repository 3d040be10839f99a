//! The typed results of a protocol run: one [`TrialRecord`] per trial, one [`Summary`] per
//! method and task, under a caller's configuration record. Serialised as `results.json`
//! (format [`RESULTS_FORMAT`]); field names and order are a contract other tools read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats;

/// The version of the results format, recorded as `versions.results_format`.
pub const RESULTS_FORMAT: &str = "1";

/// The best-so-far after every evaluation of a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Accumulated charged cost after each evaluation (simulated seconds).
    pub cost_s: Vec<f64>,
    /// The simulated wall-clock time of each evaluation's result, on a run with simulated
    /// workers (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_s: Option<Vec<f64>>,
    /// The best signal so far.
    pub best_signal: Vec<f64>,
    /// The test accuracy of the best-so-far architecture, where the problem has an oracle
    /// (absent otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub best_test_acc: Vec<f64>,
}

/// One trial: a method searching one task from one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// The method's name.
    pub method: String,
    /// The task (dataset) searched.
    pub dataset: String,
    /// The search signal.
    pub signal: String,
    /// The seed of the trial's RNG.
    pub seed: u64,
    /// The answer, in the space's canonical form.
    pub best_arch: String,
    /// The benchmark's index of the answer, where it numbers its architectures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_index: Option<usize>,
    /// The answer's test accuracy on the task searched, where the problem reports one (its
    /// assessment, or its oracle's): absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_acc: Option<f64>,
    /// The answer's signal on the task searched.
    pub signal_acc: f64,
    /// The answer's test accuracy on every task, where the problem has an oracle.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub test_acc_all: BTreeMap<String, f64>,
    /// The answer's signal on every task, where the problem has an oracle.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signal_acc_all: BTreeMap<String, f64>,
    /// Other measures of the answer the problem reports (absent: none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measures: BTreeMap<String, f64>,
    /// Charged queries.
    pub queries: usize,
    /// Evaluations, the free initial ones included.
    pub evaluations: usize,
    /// Search iterations.
    pub iterations: usize,
    /// Accumulated charged cost (simulated seconds), a guided search's proxies included.
    pub cost_s: f64,
    /// Zero-cost proxy evaluations of a guided search (absent: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub proxy_evaluations: usize,
    /// Their cost, included in `cost_s` (absent: none).
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub proxy_cost_s: f64,
    /// Real elapsed seconds (the one field that differs between identical runs).
    pub wall_s: f64,
    /// The best-so-far curve.
    pub history: History,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

impl TrialRecord {
    /// A fingerprint of everything the trial computed (its JSON with `wall_s` zeroed, FNV-1a
    /// 64): two runs found the same trial exactly when their fingerprints agree.
    pub fn fingerprint(&self) -> String {
        let mut r = self.clone();
        r.wall_s = 0.0;
        fnv64_hex(&serde_json::to_vec(&r).expect("plain data serialises"))
    }

    /// What the trial reports of its answer: its test accuracy, or its signal where the
    /// problem reports no test accuracy.
    pub fn reported(&self) -> f64 {
        self.test_acc.unwrap_or(self.signal_acc)
    }

    /// The test accuracy of the best-so-far at cost `t` (`None` before the first
    /// evaluation, or without an oracle).
    pub fn best_test_acc_at(&self, t: f64) -> Option<f64> {
        let h = &self.history;
        let n = h.cost_s.partition_point(|&c| c <= t);
        (n > 0)
            .then(|| h.best_test_acc.get(n - 1).copied())
            .flatten()
    }

    /// The test accuracy of the best-so-far at simulated wall-clock time `t` (`None`
    /// before the first result, for a trial run without simulated workers or without an
    /// oracle).
    pub fn best_test_acc_at_clock(&self, t: f64) -> Option<f64> {
        let h = &self.history;
        let n = h.clock_s.as_ref()?.partition_point(|&c| c <= t);
        (n > 0)
            .then(|| h.best_test_acc.get(n - 1).copied())
            .flatten()
    }
}

/// The statistics of one method on one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The method.
    pub method: String,
    /// The task.
    pub dataset: String,
    /// The search signal.
    pub signal: String,
    /// Number of trials.
    pub trials: usize,
    /// Mean reported accuracy of the answers: their test accuracy, or their signal where the
    /// problem reports none (then [`reported`](Self::reported) says `signal`).
    pub mean_test_acc: f64,
    /// Its sample standard deviation.
    pub std_test_acc: f64,
    /// Its standard error (`std / sqrt(trials)`).
    pub sem_test_acc: f64,
    /// Mean signal of the answers.
    pub mean_signal_acc: f64,
    /// Mean charged queries.
    pub mean_queries: f64,
    /// Mean charged cost.
    pub mean_cost_s: f64,
    /// The best test accuracy of any architecture on the task, where the problem has an
    /// oracle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub benchmark_optimum: Option<f64>,
    /// The test accuracy of the architecture with the best signal (what a perfect search
    /// with this signal reports), where the problem has an oracle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_ceiling: Option<f64>,
    /// The 95 % confidence interval of the mean reported accuracy (Student's t).
    pub ci95_test_acc: [f64; 2],
    /// Two-sided p-value of [`test`](Self::test) against DSM-NAS's trials on the same task;
    /// absent on DSM-NAS's own rows and when DSM-NAS did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value_vs_dsm_nas: Option<f64>,
    /// The test behind the p-value (`mann-whitney-u`); present with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    /// The share of trials whose answer has the best signal on the task, where the problem
    /// has an oracle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_found_share: Option<f64>,
    /// `signal` when the problem reports no test accuracy, so that the accuracy columns
    /// summarise the answers' signal (absent: they summarise the test accuracy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported: Option<String>,
    /// Mean and standard error of every other measure the problem reports (absent: none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measures: BTreeMap<String, MeasureSummary>,
}

/// The mean and standard error of one measure over a method's trials on a task.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeasureSummary {
    /// The mean.
    pub mean: f64,
    /// Its standard error.
    pub sem: f64,
}

/// What the protocol needs of a task to summarise it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskFacts {
    /// The best reported accuracy of any architecture.
    pub optimum: f64,
    /// The reported accuracy of the architecture with the best signal.
    pub ceiling: f64,
    /// The best signal of any architecture.
    pub best_signal: f64,
}

/// The method every other is tested against.
pub const REFERENCE_METHOD: &str = "dsm-nas";

/// The summary rows of `trials` for every `(task, facts)` and method, in the given orders;
/// a method without trials on a task has no row. `facts` come from the problem's oracle
/// ([`task_facts`](crate::task_facts)); without them, the rows have no optimum, ceiling or
/// best-found share. The accuracy columns summarise each trial's
/// [`reported`](TrialRecord::reported) accuracy.
pub fn summarise(
    trials: &[TrialRecord],
    signal: &str,
    tasks: &[(String, Option<TaskFacts>)],
    methods: &[String],
) -> Vec<Summary> {
    let mut out = Vec::new();
    for (task, facts) in tasks {
        let of = |m: &str| -> Vec<&TrialRecord> {
            trials
                .iter()
                .filter(|t| t.dataset == *task && t.method == m)
                .collect()
        };
        for method in methods {
            let rows = of(method);
            if rows.is_empty() {
                continue;
            }
            // Like with like: the signal throughout where any trial lacks a test accuracy.
            let by_signal = rows.iter().any(|t| t.test_acc.is_none());
            let value = |t: &&TrialRecord| {
                if by_signal {
                    t.signal_acc
                } else {
                    t.reported()
                }
            };
            let reference: Vec<f64> = of(REFERENCE_METHOD).iter().map(value).collect();
            let acc: Vec<f64> = rows.iter().map(value).collect();
            let (mean, std) = stats::mean_std(&acc);
            let n = rows.len() as f64;
            let p = (method != REFERENCE_METHOD && !reference.is_empty())
                .then(|| stats::mann_whitney_u(&acc, &reference));
            let mut measures: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for t in &rows {
                for (name, &v) in &t.measures {
                    measures.entry(name.clone()).or_default().push(v);
                }
            }
            out.push(Summary {
                method: method.clone(),
                dataset: task.clone(),
                signal: signal.to_string(),
                trials: rows.len(),
                mean_test_acc: mean,
                std_test_acc: std,
                sem_test_acc: stats::sem(&acc),
                mean_signal_acc: rows.iter().map(|t| t.signal_acc).sum::<f64>() / n,
                mean_queries: rows.iter().map(|t| t.queries as f64).sum::<f64>() / n,
                mean_cost_s: rows.iter().map(|t| t.cost_s).sum::<f64>() / n,
                benchmark_optimum: facts.map(|f| f.optimum),
                signal_ceiling: facts.map(|f| f.ceiling),
                ci95_test_acc: stats::ci95(&acc),
                p_value_vs_dsm_nas: p,
                test: p.map(|_| stats::TEST_NAME.to_string()),
                best_found_share: facts.map(|f| {
                    rows.iter()
                        .filter(|t| t.signal_acc >= f.best_signal)
                        .count() as f64
                        / n
                }),
                reported: by_signal.then(|| "signal".to_string()),
                measures: measures
                    .into_iter()
                    .map(|(name, xs)| {
                        let m = MeasureSummary {
                            mean: stats::mean_std(&xs).0,
                            sem: stats::sem(&xs),
                        };
                        (name, m)
                    })
                    .collect(),
            });
        }
    }
    out
}

/// A whole run: the caller's configuration record, the summaries, every trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results<C> {
    /// What was run (arguments, settings, seeds, versions).
    pub config: C,
    /// One row per method and task.
    pub summary: Vec<Summary>,
    /// Every trial, in job order.
    pub trials: Vec<TrialRecord>,
}

impl<C> Results<C> {
    /// The trials of `method` on `task`.
    pub fn trials_of<'a>(
        &'a self,
        task: &'a str,
        method: &'a str,
    ) -> impl Iterator<Item = &'a TrialRecord> + 'a {
        self.trials
            .iter()
            .filter(move |t| t.dataset == task && t.method == method)
    }

    /// The trial of `method` on `task` whose answer has the best signal (the first of equals).
    pub fn best_trial(&self, task: &str, method: &str) -> Option<&TrialRecord> {
        self.trials
            .iter()
            .filter(|t| t.dataset == task && t.method == method)
            .fold(None::<&TrialRecord>, |b, t| match b {
                Some(b) if b.signal_acc >= t.signal_acc => Some(b),
                _ => Some(t),
            })
    }

    /// The printed table of one task: a header line (given), the column names, a row per
    /// method (mean +- std, with the standard error, the 95 % interval and the p-value against
    /// DSM-NAS) and the optimum line.
    pub fn table(&self, task: &str, title: &str, signal: &str) -> Option<String> {
        use std::fmt::Write as _;
        let rows: Vec<&Summary> = self.summary.iter().filter(|s| s.dataset == task).collect();
        let first = rows.first()?;
        let mut s = String::new();
        let _ = writeln!(s, "{title}");
        let _ = writeln!(
            s,
            "{:<12} {:>16} {:>10} {:>12} {:>7} {:>17} {:>9} {:>6}",
            "method",
            if first.reported.is_some() {
                signal
            } else {
                "test acc (%)"
            },
            "queries",
            "cost (s)",
            "sem",
            "95% ci",
            "p vs dsm",
            "best"
        );
        for r in &rows {
            let p = r
                .p_value_vs_dsm_nas
                .map(|p| {
                    if p < 0.001 {
                        format!("{p:.0e}")
                    } else {
                        format!("{p:.3}")
                    }
                })
                .unwrap_or_else(|| "-".into());
            let _ = writeln!(
                s,
                "{:<12} {:>8.2} ± {:<5.2} {:>10.1} {:>12.0} {:>7.3} {:>8.2}-{:<8.2} {:>9} {:>6}",
                r.method,
                r.mean_test_acc,
                r.std_test_acc,
                r.mean_queries,
                r.mean_cost_s,
                r.sem_test_acc,
                r.ci95_test_acc[0],
                r.ci95_test_acc[1],
                p,
                r.best_found_share
                    .map_or("-".into(), |b| format!("{:.0}%", 100.0 * b))
            );
        }
        if let (Some(optimum), Some(ceiling)) = (first.benchmark_optimum, first.signal_ceiling) {
            let _ = write!(
                s,
                "{:<12} {:>8.2}  (best by {}: {:.2})",
                "optimum", optimum, signal, ceiling
            );
        } else if first.reported.is_some() {
            let _ = write!(s, "(accuracies: the answers' {signal}; no test accuracy)");
        }
        Some(s)
    }
}

/// FNV-1a (64 bits) of `bytes`, as 16 hex digits.
pub(crate) fn fnv64_hex(bytes: &[u8]) -> String {
    format!("{:016x}", dsm_space::io::fnv1a64(bytes))
}
