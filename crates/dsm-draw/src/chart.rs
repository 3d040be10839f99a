//! The plotters layout the workspace's charts share (feature `plot`): a captioned x/y chart
//! ([`xy_chart`]), the legend key of a line series ([`line_key`]) and the legend box
//! ([`legend`]).
//!
//! ```
//! use plotters::prelude::*;
//! let mut svg = String::new();
//! {
//!     let root = SVGBackend::with_string(&mut svg, (320, 200)).into_drawing_area();
//!     let mut chart = dsm_draw::chart::xy_chart(&root, "loss", 0.0..2.0, 0.0..1.0)?;
//!     chart.configure_mesh().draw()?;
//!     let red = RED.stroke_width(2);
//!     chart
//!         .draw_series(LineSeries::new([(0.0, 1.0), (2.0, 0.2)], red))?
//!         .label("train")
//!         .legend(dsm_draw::chart::line_key(red));
//!     dsm_draw::chart::legend(&mut chart)?;
//!     root.present()?;
//! }
//! assert!(svg.contains("train") && svg.contains("loss"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// A chart with `f64` axes on a drawing backend `DB`.
pub type XyChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// What drawing on backend `DB` can fail with.
pub type DrawResult<T, DB> = Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A chart of `x` against `y` on `area`, captioned `caption`, with room for axis labels.
pub fn xy_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    x: Range<f64>,
    y: Range<f64>,
) -> DrawResult<XyChart<'a, DB>, DB> {
    ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(52)
        .build_cartesian_2d(x, y)
}

/// The legend key of a line series: a short stroke in `style`.
pub fn line_key(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style)
}

/// Draws the legend of `chart`'s labelled series in its lower right corner.
pub fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> DrawResult<(), DB> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
}
