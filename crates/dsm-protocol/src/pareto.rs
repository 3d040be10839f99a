//! The accuracy / cost trade-off of a hardware-aware search: every evaluated architecture as a
//! [`CostPoint`] (its MAdds, parameters and score), the Pareto front of score against MAdds
//! ([`front`]), and a picture of both with the MAdds limit (`svg`, feature `plot`).
//!
//! ```
//! use dsm_protocol::pareto::{CostPoint, front};
//! let p = |madds, score| CostPoint { arch: format!("{madds}"), madds, params: 0, score };
//! let all = [p(300, 70.0), p(400, 69.0), p(500, 75.0), p(600, 74.0)];
//! let names: Vec<_> = front(&all).into_iter().map(|c| c.arch).collect();
//! assert_eq!(names, ["300", "500"]);
//! ```

#[cfg(feature = "plot")]
use std::path::Path;

use serde::{Deserialize, Serialize};

#[cfg(feature = "plot")]
use crate::ProtocolError;

/// One evaluated architecture: what `pareto.json` lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostPoint {
    /// The architecture's string.
    pub arch: String,
    /// Multiply-accumulates of one forward pass.
    pub madds: u64,
    /// Parameters.
    pub params: u64,
    /// The search signal (higher is better).
    pub score: f64,
}

/// The points no other point beats in both MAdds (lower) and score (higher), by increasing
/// MAdds ([`dsm_miner::pareto_front`]).
pub fn front(points: &[CostPoint]) -> Vec<CostPoint> {
    let coords: Vec<(f64, f64)> = points.iter().map(|p| (p.madds as f64, p.score)).collect();
    dsm_miner::pareto_front(&coords)
        .into_iter()
        .map(|i| points[i].clone())
        .collect()
}

/// Draws every point (grey), the Pareto `front` (red) and the MAdds `limit` (dashed) as an
/// SVG picture at `path`.
#[cfg(feature = "plot")]
pub fn svg(
    path: &Path,
    points: &[CostPoint],
    front: &[CostPoint],
    limit: u64,
) -> Result<(), ProtocolError> {
    draw(path, points, front, limit).map_err(|e| ProtocolError::Draw {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(feature = "plot")]
fn draw(
    path: &Path,
    points: &[CostPoint],
    front: &[CostPoint],
    limit: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    use dsm_draw::chart::{legend, line_key, xy_chart};
    use plotters::prelude::*;
    let m = |p: &CostPoint| p.madds as f64 / 1e6;
    let xmax = points.iter().map(m).fold(limit as f64 / 1e6, f64::max) * 1.05;
    let xmin = points.iter().map(m).fold(f64::INFINITY, f64::min).min(xmax) * 0.95;
    let ymin = points.iter().map(|p| p.score).fold(f64::INFINITY, f64::min);
    let ymax = points
        .iter()
        .map(|p| p.score)
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = ((ymax - ymin) * 0.05).max(0.1);
    let root = SVGBackend::new(path, (720, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = xy_chart(
        &root,
        "evaluated subnets: score vs MAdds (224 x 224)",
        xmin..xmax,
        (ymin - pad)..(ymax + pad),
    )?;
    chart
        .configure_mesh()
        .x_desc("MAdds (M)")
        .y_desc("score")
        .draw()?;
    chart
        .draw_series(
            points
                .iter()
                .map(|p| Circle::new((m(p), p.score), 3, RGBColor(150, 150, 150).filled())),
        )?
        .label("evaluated")
        .legend(|(x, y)| Circle::new((x + 9, y), 3, RGBColor(150, 150, 150).filled()));
    chart
        .draw_series(LineSeries::new(
            front.iter().map(|p| (m(p), p.score)),
            RED.stroke_width(2),
        ))?
        .label("Pareto front")
        .legend(line_key(RED.stroke_width(2)));
    let l = limit as f64 / 1e6;
    chart
        .draw_series(DashedLineSeries::new(
            vec![(l, ymin - pad), (l, ymax + pad)],
            6,
            4,
            BLUE.stroke_width(1),
        ))?
        .label("MAdds limit")
        .legend(line_key(BLUE.stroke_width(1)));
    legend(&mut chart)?;
    root.present()?;
    Ok(())
}
