//! The trainer against a benchmark table: train a list of NAS-Bench-201 cells with one
//! recipe, and measure how well their test accuracies rank like the table's ([`kendall_tau`],
//! [`spearman`]). Each finished cell is checkpointed (`DIR/cells/<i>.json`, atomically), so a
//! killed run resumes where it stopped (`rank_nb201`).
//!
//! ```
//! use dsm_train::rank::{kendall_tau, spearman};
//! assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
//! assert_eq!(spearman(&[1.0, 2.0, 3.0], &[30.0, 20.0, 10.0]), Some(-1.0));
//! assert_eq!(kendall_tau(&[1.0, 2.0], &[1.0, 2.0]), None); // fewer than 3
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::Device;
use dsm_space::Nb201Cell;
use serde::{Deserialize, Serialize};

use crate::data::ImageSet;
use crate::{TrainConfig, TrainError, train_nb201};

/// One trained cell beside the table's figures for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedCell {
    /// The cell.
    pub arch: String,
    /// Its test accuracy after this training (%).
    pub test_acc: f64,
    /// The table's 200-epoch test accuracy (%).
    pub table_test_acc: f64,
    /// The table's 12-epoch test accuracy (%).
    pub table_hp12_acc: f64,
    /// Real seconds its training took.
    pub wall_s: f64,
}

/// The correlations of a ranking run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankSummary {
    /// Cells.
    pub cells: usize,
    /// Kendall's tau-b of `test_acc` against `table_test_acc`.
    pub kendall_tau: f64,
    /// Spearman's rho of the same.
    pub spearman: f64,
    /// Kendall's tau-b of `test_acc` against `table_hp12_acc`.
    pub kendall_tau_hp12: f64,
    /// Real seconds of the cells' trainings.
    pub wall_s: f64,
}

/// Kendall's tau-b of two equally long samples (ties counted as tau-b does); `None` for
/// fewer than 3 pairs, different lengths, or a constant sample.
pub fn kendall_tau(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 3 {
        return None;
    }
    let (mut concordant, mut discordant, mut ties_a, mut ties_b) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let (da, db) = (a[i] - a[j], b[i] - b[j]);
            if da == 0.0 && db == 0.0 {
                continue;
            } else if da == 0.0 {
                ties_a += 1.0;
            } else if db == 0.0 {
                ties_b += 1.0;
            } else if (da > 0.0) == (db > 0.0) {
                concordant += 1.0;
            } else {
                discordant += 1.0;
            }
        }
    }
    let denom = ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)).sqrt();
    (denom > 0.0).then(|| (concordant - discordant) / denom)
}

/// Spearman's rho ([`predictor::spearman`](crate::predictor::spearman), the Pearson
/// correlation of the average ranks); `None` as for [`kendall_tau`].
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 3 {
        return None;
    }
    Some(crate::predictor::spearman(a, b)).filter(|r| r.is_finite())
}

/// The summary of `cells`: an error naming the problem for fewer than 3 cells or accuracies
/// that do not vary.
pub fn summarise(cells: &[RankedCell]) -> Result<RankSummary, TrainError> {
    let got: Vec<f64> = cells.iter().map(|c| c.test_acc).collect();
    let table: Vec<f64> = cells.iter().map(|c| c.table_test_acc).collect();
    let hp12: Vec<f64> = cells.iter().map(|c| c.table_hp12_acc).collect();
    let bad = || TrainError::Input {
        what: "cell list".into(),
        reason: format!(
            "at least 3 cells whose accuracies vary are needed for a rank correlation, got {}",
            cells.len()
        ),
    };
    Ok(RankSummary {
        cells: cells.len(),
        kendall_tau: kendall_tau(&got, &table).ok_or_else(bad)?,
        spearman: spearman(&got, &table).ok_or_else(bad)?,
        kendall_tau_hp12: kendall_tau(&got, &hp12).ok_or_else(bad)?,
        wall_s: cells.iter().map(|c| c.wall_s).sum(),
    })
}

/// Trains cell `index` of a ranking run in `folder` unless the run is resumed
/// ([`OutputFolder::resuming`](dsm_space::output::OutputFolder::resuming): same settings) and
/// `cells/<index>.json` already holds its result for the same cell (then that is returned):
/// the resumable step of `rank_nb201`. `table` gives the table's (200-epoch, 12-epoch) test accuracies of a cell.
#[allow(clippy::too_many_arguments)]
pub fn train_cell(
    folder: &dsm_space::output::OutputFolder,
    index: usize,
    cell: &Nb201Cell,
    table: (f64, f64),
    train: &ImageSet,
    test: &ImageSet,
    cfg: &TrainConfig,
    device: &Device,
) -> Result<RankedCell, TrainError> {
    let dir = folder.dir();
    let path = cell_path(dir, index);
    if folder.resuming()
        && let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(done) = serde_json::from_str::<RankedCell>(&text)
        && done.arch == cell.to_string()
    {
        return Ok(done);
    }
    let cells_dir = dir.join("cells");
    std::fs::create_dir_all(&cells_dir)
        .map_err(|e| dsm_space::io::FileError::write(&cells_dir, e))?;
    let start = Instant::now();
    let (_, metrics) = train_nb201(cell, train, test, cfg, device, &mut |_| {})?;
    let done = RankedCell {
        arch: cell.to_string(),
        test_acc: metrics.last().map_or(0.0, |m| m.test_acc),
        table_test_acc: table.0,
        table_hp12_acc: table.1,
        wall_s: start.elapsed().as_secs_f64(),
    };
    let text = serde_json::to_string(&done).expect("plain data serialises");
    dsm_space::io::save(&path, text.as_bytes())?;
    Ok(done)
}

/// Where cell `index`'s result is checkpointed.
pub fn cell_path(dir: &Path, index: usize) -> PathBuf {
    dir.join("cells").join(format!("{index}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_correlations_match_hand_computed_values() {
        // 5 pairs, one discordant pair of 10: tau = (9 - 1) / 10.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [1.0, 3.0, 2.0, 4.0, 5.0];
        assert!((kendall_tau(&a, &b).unwrap() - 0.8).abs() < 1e-12);
        // rho = 1 - 6 * sum d^2 / (n (n^2 - 1)) = 1 - 6 * 2 / 120.
        assert!((spearman(&a, &b).unwrap() - 0.9).abs() < 1e-12);
        // Ties: tau-b of [1, 1, 2] against [1, 2, 3] = 2 / sqrt(2 * 3).
        let t = kendall_tau(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]).unwrap();
        assert!((t - 2.0 / 6f64.sqrt()).abs() < 1e-12, "{t}");
        assert_eq!(kendall_tau(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    }
}
