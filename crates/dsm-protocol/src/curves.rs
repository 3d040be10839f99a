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
    let grid: Vec<f64> = (0..=100).map(|i| budget_s * i as f64 / 100.0).collect();
    let panels: Vec<(String, Vec<Series>)> = panels
        .iter()
        .map(|panel| {
            let series = methods
                .iter()
                .enumerate()
                .filter_map(|(color, method)| {
                    let rows: Vec<&TrialRecord> = results.trials_of(panel.task, method).collect();
                    (!rows.is_empty()).then(|| Series {
                        name: method.clone(),
                        color,
                        points: mean_band(&rows, &grid, TrialRecord::best_test_acc_at),
                    })
                })
                .collect();
            (panel.title.clone(), series)
        })
        .collect();
    draw_panels(path, &panels, "simulated search time (s)", budget_s)
}

/// One line of a panel: its name, its colour's index and its (x, mean, std) points.
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) color: usize,
    pub(crate) points: Vec<(f64, f64, f64)>,
}

/// The mean and std over `rows` of `at(row, x)` at each `x` of `grid` where every row has
/// a value.
pub(crate) fn mean_band(
    rows: &[&TrialRecord],
    grid: &[f64],
    at: impl Fn(&TrialRecord, f64) -> Option<f64>,
) -> Vec<(f64, f64, f64)> {
    grid.iter()
        .filter_map(|&t| {
            let v: Vec<f64> = rows.iter().filter_map(|r| at(r, t)).collect();
            (v.len() == rows.len()).then(|| {
                let (mean, std) = mean_std(&v);
                (t, mean, std)
            })
        })
        .collect()
}

/// Draws one panel per `(title, series)` side by side: each series' mean as a line and a
/// +-1 std band, x over `[0, x_max]`.
pub(crate) fn draw_panels(
    path: &Path,
    panels: &[(String, Vec<Series>)],
    x_desc: &str,
    x_max: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let width = 640 * panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (width, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, (title, series)) in areas.iter().zip(panels) {
        let lo = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1 - p.2))
            .fold(f64::INFINITY, f64::min);
        let hi = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1 + p.2))
            .fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() {
            (lo.floor(), hi.ceil())
        } else {
            (0.0, 100.0)
        };
        let mut chart = xy_chart(
            area,
            &format!("{title} (best-so-far test accuracy)"),
            0.0..x_max,
            lo..hi,
        )?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("test accuracy (%)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()?;
        for s in series {
            let color = COLORS[s.color % COLORS.len()];
            let pts = &s.points;
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
                .label(s.name.as_str())
                .legend(line_key(color.stroke_width(2)));
        }
        legend(&mut chart)?;
    }
    root.present()?;
    Ok(())
}
