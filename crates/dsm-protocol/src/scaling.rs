//! Many workers on one protocol: what staleness costs and what parallelism gains.
//!
//! A run with simulated workers ([`Plan::workers`](crate::Plan::workers), `search_nb201
//! --workers W`) records each trial's best-so-far against the simulated wall-clock
//! (`history.clock_s`) beside its compute (`history.cost_s`). Given runs of the same
//! protocol at several worker counts, [`table`] answers the two questions of a scaling
//! study for every method and task:
//!
//! - the final mean test accuracy at the same total compute (what asynchronous, stale
//!   updates cost), with its standard error, and its difference to the fewest-workers run;
//! - the simulated wall-clock at which the mean best-so-far over the trials first reaches the
//!   fewest-workers run's final mean, and that time as a fraction of the fewest-workers run's
//!   mean wall-clock (the speed-up is its inverse; `1 / W` is ideal); the same for coming
//!   within a tolerance of it (a run whose final mean is a hair below never *reaches* it).
//!
//! ```
//! use dsm_protocol::{Execution, nb201::Nb201Config, scaling};
//!
//! let run = |w| {
//!     let config = Nb201Config { trials: 4, methods: vec!["rea".into()], workers: Some(w), ..Default::default() };
//!     config.check()?.run(Execution::default())
//! };
//! let (one, eight) = (run(1)?, run(8)?);
//! let rows = scaling::table(&[(1, &one), (8, &eight)], 0.05)?;
//! assert_eq!(rows.len(), 2);
//! assert!(rows[1].clock_end_s < rows[0].clock_end_s / 4.0); // same compute, far sooner
//! println!("{}", scaling::markdown(&rows, 0.05));
//! # Ok::<(), dsm_protocol::ProtocolError>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::results::{Results, TrialRecord};
use crate::stats::{mean_std, sem};

/// One method on one task at one worker count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingRow {
    /// The method.
    pub method: String,
    /// The task (dataset).
    pub dataset: String,
    /// Simulated workers.
    pub workers: usize,
    /// Trials.
    pub trials: usize,
    /// Mean final test accuracy of the answers.
    pub final_mean: f64,
    /// Its standard error.
    pub final_sem: f64,
    /// `final_mean` minus the fewest-workers run's.
    pub final_delta: f64,
    /// Mean simulated wall-clock at the end of a trial (seconds).
    pub clock_end_s: f64,
    /// The simulated wall-clock at which the mean best-so-far first reaches the
    /// fewest-workers run's final mean (`None`: never).
    pub reach_s: Option<f64>,
    /// `reach_s` over the fewest-workers run's `clock_end_s`.
    pub reach_fraction: Option<f64>,
    /// The simulated wall-clock at which the mean best-so-far first comes within the
    /// table's tolerance of the fewest-workers final mean (`None`: never).
    pub reach_within_s: Option<f64>,
    /// `reach_within_s` over the fewest-workers run's `clock_end_s`.
    pub reach_within_fraction: Option<f64>,
}

/// The mean best-so-far test accuracy over `trials` against the simulated wall-clock: one
/// `(clock_s, mean)` point at every result time from the first at which every trial has a
/// result. An error for a trial recorded without simulated workers (no `history.clock_s`).
pub fn mean_best_by_clock(trials: &[&TrialRecord]) -> Result<Vec<(f64, f64)>, ProtocolError> {
    let mut events: Vec<(f64, usize, f64)> = Vec::new();
    for (i, t) in trials.iter().enumerate() {
        let clock = clock_of(t)?;
        events.extend(
            clock
                .iter()
                .zip(&t.history.best_test_acc)
                .map(|(&c, &acc)| (c, i, acc)),
        );
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut current: Vec<Option<f64>> = vec![None; trials.len()];
    let (mut known, mut sum) = (0usize, 0.0f64);
    let mut curve: Vec<(f64, f64)> = Vec::new();
    for (k, &(clock, i, acc)) in events.iter().enumerate() {
        match current[i].replace(acc) {
            Some(old) => sum += acc - old,
            None => {
                known += 1;
                sum += acc;
            }
        }
        let last_at_this_time = events.get(k + 1).is_none_or(|e| e.0 > clock);
        if known == trials.len() && last_at_this_time {
            curve.push((clock, sum / known as f64));
        }
    }
    Ok(curve)
}

/// The first time at which `curve` reaches `target` (a relative tolerance of 1e-9 absorbs
/// the rounding of a mean summed in another order).
pub fn first_reach(curve: &[(f64, f64)], target: f64) -> Option<f64> {
    let tol = 1e-9 * target.abs().max(1.0);
    curve.iter().find(|p| p.1 >= target - tol).map(|p| p.0)
}

/// The scaling table of `runs` (each a worker count and the results of one protocol run at
/// it): one row per method, task and worker count, in the runs' order, every comparison
/// against the run with the fewest workers; `tolerance` (points of accuracy, >= 0) sets the
/// second target, `final mean - tolerance`. An error when a trial has no simulated clock.
pub fn table<C>(
    runs: &[(usize, &Results<C>)],
    tolerance: f64,
) -> Result<Vec<ScalingRow>, ProtocolError> {
    check_tolerance(tolerance)?;
    let Some(&(_, base)) = runs.iter().min_by_key(|r| r.0) else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for s in &base.summary {
        let (task, method) = (s.dataset.as_str(), s.method.as_str());
        let base_trials: Vec<&TrialRecord> = base.trials_of(task, method).collect();
        let base_final = final_mean(&base_trials);
        let base_end = clock_end(&base_trials)?;
        for &(workers, results) in runs {
            let trials: Vec<&TrialRecord> = results.trials_of(task, method).collect();
            if trials.is_empty() {
                continue;
            }
            let finals: Vec<f64> = trials.iter().map(|t| t.reported()).collect();
            let (mean, _) = mean_std(&finals);
            let curve = mean_best_by_clock(&trials)?;
            let reach_s = first_reach(&curve, base_final);
            let reach_within_s = first_reach(&curve, base_final - tolerance);
            rows.push(ScalingRow {
                method: method.to_string(),
                dataset: task.to_string(),
                workers,
                trials: trials.len(),
                final_mean: mean,
                final_sem: sem(&finals),
                final_delta: mean - base_final,
                clock_end_s: clock_end(&trials)?,
                reach_s,
                reach_fraction: reach_s.map(|r| r / base_end),
                reach_within_s,
                reach_within_fraction: reach_within_s.map(|r| r / base_end),
            });
        }
    }
    Ok(rows)
}

/// Refuses a tolerance that is not a finite number >= 0 (check it before running the study).
pub fn check_tolerance(tolerance: f64) -> Result<(), ProtocolError> {
    if tolerance.is_finite() && tolerance >= 0.0 {
        Ok(())
    } else {
        Err(ProtocolError::config(
            "--tolerance",
            tolerance,
            "a finite number of accuracy points >= 0",
        ))
    }
}

/// The table as Markdown, one line per row (`tolerance` as given to [`table`]).
pub fn markdown(rows: &[ScalingRow], tolerance: f64) -> String {
    let mut out = format!(
        "| method | dataset | workers | trials | final test acc (mean ± s.e.) | vs fewest workers | mean wall-clock (s) | reaches the fewest-workers final mean at (s, fraction) | comes within {tolerance} of it at (s, fraction) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let when = |s: Option<f64>, f: Option<f64>| match (s, f) {
        (Some(s), Some(f)) => format!("{s:.0} ({f:.3} = 1/{:.1})", 1.0 / f),
        _ => "never".to_string(),
    };
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} ± {:.2} | {:+.3} | {:.0} | {} | {} |\n",
            r.method,
            r.dataset,
            r.workers,
            r.trials,
            r.final_mean,
            r.final_sem,
            r.final_delta,
            r.clock_end_s,
            when(r.reach_s, r.reach_fraction),
            when(r.reach_within_s, r.reach_within_fraction),
        ));
    }
    out
}

/// Writes the mean best-so-far test accuracy of `method` against the simulated wall-clock,
/// one line per worker count (with a +-1 std band), one panel per `(task, title)` (SVG).
#[cfg(feature = "plot")]
pub fn write_curves<C>(
    path: &std::path::Path,
    runs: &[(usize, &Results<C>)],
    method: &str,
    panels: &[crate::curves::Panel<'_>],
) -> Result<(), ProtocolError> {
    use crate::curves::{Series, draw_panels, mean_band};
    let mut x_max = 0.0f64;
    let mut drawn = Vec::new();
    for panel in panels {
        let mut series = Vec::new();
        for (color, &(workers, results)) in runs.iter().enumerate() {
            let trials: Vec<&TrialRecord> = results.trials_of(panel.task, method).collect();
            if trials.is_empty() {
                continue;
            }
            let end = clock_end(&trials)?;
            let last = trials
                .iter()
                .filter_map(|t| t.history.clock_s.as_ref()?.last().copied())
                .fold(0.0, f64::max);
            x_max = x_max.max(end);
            let grid: Vec<f64> = (0..=400).map(|i| last * i as f64 / 400.0).collect();
            series.push(Series {
                name: format!("{workers} worker{}", if workers == 1 { "" } else { "s" }),
                color,
                points: mean_band(&trials, &grid, TrialRecord::best_test_acc_at_clock),
            });
        }
        drawn.push((format!("{method}, {}", panel.title), series));
    }
    draw_panels(path, &drawn, "simulated wall-clock (s)", x_max).map_err(|e| ProtocolError::Draw {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn final_mean(trials: &[&TrialRecord]) -> f64 {
    mean_std(&trials.iter().map(|t| t.reported()).collect::<Vec<_>>()).0
}

fn clock_of(t: &TrialRecord) -> Result<&[f64], ProtocolError> {
    t.history.clock_s.as_deref().ok_or_else(|| {
        ProtocolError::config(
            "history.clock_s",
            format!("absent in {} on {} (seed {})", t.method, t.dataset, t.seed),
            "results of a run with simulated workers (--workers)",
        )
    })
}

fn clock_end(trials: &[&TrialRecord]) -> Result<f64, ProtocolError> {
    let mut ends = Vec::with_capacity(trials.len());
    for t in trials {
        ends.push(clock_of(t)?.last().copied().unwrap_or(0.0));
    }
    Ok(mean_std(&ends).0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::History;

    fn trial(clock: &[f64], acc: &[f64]) -> TrialRecord {
        TrialRecord {
            proxy_evaluations: 0,
            proxy_cost_s: 0.0,
            method: "m".into(),
            dataset: "d".into(),
            signal: "s".into(),
            seed: 0,
            best_arch: String::new(),
            best_index: None,
            test_acc: Some(*acc.last().unwrap()),
            measures: Default::default(),
            signal_acc: 0.0,
            test_acc_all: Default::default(),
            signal_acc_all: Default::default(),
            queries: acc.len(),
            evaluations: acc.len(),
            iterations: acc.len(),
            cost_s: 0.0,
            wall_s: 0.0,
            history: History {
                cost_s: clock.to_vec(),
                clock_s: Some(clock.to_vec()),
                best_signal: acc.to_vec(),
                best_test_acc: acc.to_vec(),
            },
        }
    }

    #[test]
    fn the_mean_curve_starts_when_every_trial_has_a_result_and_steps_at_each_time() {
        let a = trial(&[1.0, 4.0], &[10.0, 30.0]);
        let b = trial(&[2.0, 4.0, 6.0], &[20.0, 20.0, 40.0]);
        let curve = mean_best_by_clock(&[&a, &b]).unwrap();
        // Two results at t = 4 give one point.
        assert_eq!(curve, vec![(2.0, 15.0), (4.0, 25.0), (6.0, 35.0)]);
        assert_eq!(first_reach(&curve, 25.0), Some(4.0));
        assert_eq!(first_reach(&curve, 35.000_001), None);
        assert_eq!(a.best_test_acc_at_clock(3.9), Some(10.0));
        assert_eq!(a.best_test_acc_at_clock(0.5), None);
    }

    #[test]
    fn trials_without_a_clock_are_refused_naming_the_trial() {
        let mut t = trial(&[1.0], &[1.0]);
        t.history.clock_s = None;
        let e = mean_best_by_clock(&[&t]).unwrap_err().to_string();
        assert!(
            e.contains("history.clock_s") && e.contains("--workers"),
            "{e}"
        );
    }
}
