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
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (900, 360)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(450);
    let n = history.len() as f64;
    let max_loss = history.iter().map(|m| m.train_loss).fold(0.0, f64::max) * 1.05;
    let mut loss = ChartBuilder::on(&left)
        .caption("training loss", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(1.0..n.max(2.0), 0.0..max_loss.max(1e-6))?;
    loss.configure_mesh()
        .x_desc("epoch")
        .x_labels(history.len().clamp(2, 11))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    loss.draw_series(LineSeries::new(
        history.iter().map(|m| (m.epoch as f64, m.train_loss)),
        RED.stroke_width(2),
    ))?;
    let mut acc = ChartBuilder::on(&right)
        .caption("accuracy (%)", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(1.0..n.max(2.0), 0.0..100.0)?;
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
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    acc.draw_series(LineSeries::new(
        history.iter().map(|m| (m.epoch as f64, m.test_acc)),
        GREEN.stroke_width(2),
    ))?
    .label("test")
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREEN.stroke_width(2)));
    acc.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
