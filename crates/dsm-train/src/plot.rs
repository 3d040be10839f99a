//! Training curves as SVG (feature `plot`, on by default).

use std::path::Path;

use crate::TrainError;
use crate::train::EpochMetrics;

/// Writes the training loss (left) and the train / test accuracy (right) of every epoch of
/// `history` as an SVG picture to `path`.
pub fn curves_svg(path: &Path, history: &[EpochMetrics]) -> Result<(), TrainError> {
    draw(path, history).map_err(|e| TrainError::Draw {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn draw(path: &Path, history: &[EpochMetrics]) -> Result<(), Box<dyn std::error::Error>> {
    use dsm_draw::chart::{legend, line_key, xy_chart};
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 360)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(450);
    let n = history.len() as f64;
    let max_loss = history.iter().map(|m| m.train_loss).fold(0.0, f64::max) * 1.05;
    let mut loss = xy_chart(
        &left,
        "training loss",
        1.0..n.max(2.0),
        0.0..max_loss.max(1e-6),
    )?;
    loss.configure_mesh()
        .x_desc("epoch")
        .x_labels(history.len().clamp(2, 11))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    loss.draw_series(LineSeries::new(
        history.iter().map(|m| (m.epoch as f64, m.train_loss)),
        RED.stroke_width(2),
    ))?;
    let mut acc = xy_chart(&right, "accuracy (%)", 1.0..n.max(2.0), 0.0..100.0)?;
    acc.configure_mesh()
        .x_desc("epoch")
        .x_labels(history.len().clamp(2, 11))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    acc.draw_series(LineSeries::new(
        history.iter().map(|m| (m.epoch as f64, m.train_acc)),
        BLUE.stroke_width(2),
    ))?
    .label("train (augmented)")
    .legend(line_key(BLUE.stroke_width(2)));
    acc.draw_series(LineSeries::new(
        history.iter().map(|m| (m.epoch as f64, m.test_acc)),
        GREEN.stroke_width(2),
    ))?
    .label("test")
    .legend(line_key(GREEN.stroke_width(2)));
    legend(&mut acc)?;
    root.present()?;
    Ok(())
}
