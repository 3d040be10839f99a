//! Best-so-far test accuracy against simulated seconds: the mean and a +-1 std band per
//! method, one panel per task (SVG, with plotters; the `plot` feature).

use std::path::Path;

use dsm_draw::chart::{legend, line_key, xy_chart};
use plotters::prelude::*;

use crate::ProtocolError;
use crate::results::{Results, TrialRecord};
use crate::stats::mean_std;

const COLORS: [RGBColor; 6] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// One panel of the plot: the task's name in the results and its title.
pub struct Panel<'a> {
    /// The task's name in the results (`cifar10`).
    pub task: &'a str,
    /// The panel's title (`ImageNet16-120`).
    pub title: String,
}

/// Writes the curves of `methods` on `panels` to `path`, on a grid of 101 points over
/// `[0, budget_s]`; a method's curve starts once every one of its trials has an evaluation.
pub fn write<C>(
    path: &Path,
    results: &Results<C>,
    panels: &[Panel<'_>],
    methods: &[String],
    budget_s: f64,
) -> Result<(), ProtocolError> {
    draw(path, results, panels, methods, budget_s).map_err(|e| ProtocolError::Draw {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn draw<C>(
    path: &Path,
    results: &Results<C>,
    panels: &[Panel<'_>],
    methods: &[String],
    budget_s: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let width = 640 * panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (width, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    let grid: Vec<f64> = (0..=100).map(|i| budget_s * i as f64 / 100.0).collect();
    for (area, panel) in areas.iter().zip(panels) {
        let mut series = Vec::new();
        for (m, method) in methods.iter().enumerate() {
            let rows: Vec<&TrialRecord> = results.trials_of(panel.task, method).collect();
            if rows.is_empty() {
                continue;
            }
            let mut pts = Vec::new();
            for &t in &grid {
                let v: Vec<f64> = rows.iter().filter_map(|r| r.best_test_acc_at(t)).collect();
                if v.len() == rows.len() {
                    let (mean, std) = mean_std(&v);
                    pts.push((t, mean, std));
                }
            }
            series.push((method.clone(), COLORS[m % COLORS.len()], pts));
        }
        let lo = series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1 - p.2))
            .fold(f64::INFINITY, f64::min);
        let hi = series
            .iter()
            .flat_map(|s| s.2.iter().map(|p| p.1 + p.2))
            .fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() {
            (lo.floor(), hi.ceil())
        } else {
            (0.0, 100.0)
        };
        let mut chart = xy_chart(
            area,
            &format!("{} (best-so-far test accuracy)", panel.title),
            0.0..budget_s,
            lo..hi,
        )?;
        chart
            .configure_mesh()
            .x_desc("simulated search time (s)")
            .y_desc("test accuracy (%)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()?;
        for (name, color, pts) in &series {
            let mut band: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1 + p.2)).collect();
            band.extend(pts.iter().rev().map(|p| (p.0, p.1 - p.2)));
            chart.draw_series(std::iter::once(Polygon::new(
                band,
                color.mix(0.15).filled(),
            )))?;
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.0, p.1)),
                    color.stroke_width(2),
                ))?
                .label(name.as_str())
                .legend(line_key(color.stroke_width(2)));
        }
        legend(&mut chart)?;
    }
    root.present()?;
    Ok(())
}
