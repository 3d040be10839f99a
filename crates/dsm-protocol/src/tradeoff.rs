//! The accuracy / efficiency trade-off of hardware-aware search: the same
//! [`HardwareStudy`] at each of a list of limits (for instance 15..40 ms of Note10 latency,
//! or 200..600 M MAdds), every method's found subnets summarised per limit, the published
//! models marked, drawn as one Pareto plot (feature `plot`). What `tradeoff_mbv3` runs.
//!
//! Unchecked [`TradeoffConfig`] -> [`check`](TradeoffConfig::check) -> [`Tradeoff`]: every
//! limit is checked (as a study of its own) before any search runs.
//!
//! ```
//! use dsm_protocol::hardware::{HardwareConfig, Limit};
//! use dsm_protocol::tradeoff::TradeoffConfig;
//! use dsm_space::{Evaluation, Evaluator, MbV3Subnet};
//!
//! struct Toy;
//! impl Evaluator<MbV3Subnet> for Toy {
//!     type Error = std::convert::Infallible;
//!     fn evaluate(&mut self, s: &MbV3Subnet) -> Result<Evaluation, Self::Error> {
//!         let layers: u8 = s.arch.depths().iter().sum();
//!         Ok(Evaluation { score: f64::from(layers) + s.resolution as f64 / 100.0, cost_s: 0.0 })
//!     }
//! }
//!
//! let cfg = TradeoffConfig {
//!     study: HardwareConfig {
//!         methods: vec!["random".into()],
//!         evaluations: 40,
//!         ..HardwareConfig::default()
//!     },
//!     limits: vec![Limit::Madds { millions: 250.0 }, Limit::Madds { millions: 400.0 }],
//! };
//! let sweep = cfg.check(None)?;
//! let points = sweep.run(&mut Toy, |_, _| {})?;
//! assert_eq!(points.len(), 2);
//! // A looser limit finds at least as many layers.
//! assert!(points[1].summary[0].predicted_acc_mean >= points[0].summary[0].predicted_acc_mean - 1.0);
//! # Ok::<(), dsm_protocol::ProtocolError>(())
//! ```

use std::path::Path;

use dsm_bench::latency::LatencyTable;
use dsm_space::{Evaluator, MbV3Subnet};
use serde::{Deserialize, Serialize};

use crate::ProtocolError;
#[cfg(feature = "plot")]
use crate::hardware::Reference;
use crate::hardware::{HardwareConfig, HardwareStudy, HardwareSummary, HardwareTrial, Limit};

/// A sweep as given (unchecked): the study's settings, its limit replaced by each of
/// `limits` in turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeoffConfig {
    /// Methods, seeds, budget, space (its `limit` is ignored).
    pub study: HardwareConfig,
    /// The limits, all of one kind (latency or MAdds), strictly ascending.
    pub limits: Vec<Limit>,
}

impl TradeoffConfig {
    /// Checks every limit (one kind, ascending, each one a subnet meets) and builds the
    /// sweep; nothing runs.
    pub fn check(&self, latency: Option<&LatencyTable>) -> Result<Tradeoff, ProtocolError> {
        let listed = || {
            self.limits
                .iter()
                .map(Limit::label)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let value = |l: &Limit| match *l {
            Limit::Latency { ms } => (0, ms),
            Limit::Madds { millions } => (1, millions),
        };
        let flag = match self.limits.first() {
            Some(Limit::Latency { .. }) => "--latency-limits",
            _ => "--madds-limits",
        };
        if self.limits.is_empty()
            || self
                .limits
                .windows(2)
                .any(|w| value(&w[0]).0 != value(&w[1]).0 || value(&w[0]).1 >= value(&w[1]).1)
        {
            return Err(ProtocolError::config(
                flag,
                listed(),
                "at least one limit, all latencies or all MAdds, strictly ascending",
            ));
        }
        let studies = self
            .limits
            .iter()
            .map(|&limit| {
                HardwareConfig {
                    limit,
                    ..self.study.clone()
                }
                .check(latency)
                .map_err(|e| match e {
                    // A limit's error names the sweep's flag.
                    ProtocolError::Config {
                        field: "--latency-limit" | "--madds-limit",
                        value,
                        expected,
                    } => ProtocolError::Config {
                        field: flag,
                        value,
                        expected: format!("each limit {expected}"),
                    },
                    e => e,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Tradeoff {
            config: self.clone(),
            studies,
        })
    }
}

/// A checked sweep: one [`HardwareStudy`] per limit.
#[derive(Debug)]
pub struct Tradeoff {
    config: TradeoffConfig,
    studies: Vec<HardwareStudy>,
}

/// The searches at one limit: what `tradeoff.json` lists under `"points"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeoffPoint {
    /// The limit.
    pub limit: Limit,
    /// Every method's trials.
    pub trials: Vec<HardwareTrial>,
    /// Per method: means and standard deviations of the found subnets.
    pub summary: Vec<HardwareSummary>,
}

impl TradeoffPoint {
    /// The best trial at this limit (highest score; the earliest on a tie).
    pub fn best(&self) -> Option<&HardwareTrial> {
        self.trials.iter().reduce(|a, b| {
            if b.predicted_acc > a.predicted_acc {
                b
            } else {
                a
            }
        })
    }
}

impl Tradeoff {
    /// The settings it was built from.
    pub fn config(&self) -> &TradeoffConfig {
        &self.config
    }

    /// The study of each limit, in order.
    pub fn studies(&self) -> &[HardwareStudy] {
        &self.studies
    }

    /// Runs every study in order, calling `on_trial` with the limit after each search.
    pub fn run<E: Evaluator<MbV3Subnet> + Send>(
        &self,
        evaluator: &mut E,
        mut on_trial: impl FnMut(&Limit, &HardwareTrial) + Send,
    ) -> Result<Vec<TradeoffPoint>, ProtocolError> {
        self.studies
            .iter()
            .map(|study| {
                let limit = study.config().limit;
                let trials = study.run(evaluator, |t| on_trial(&limit, t))?;
                let summary = study.summarise(&trials);
                Ok(TradeoffPoint {
                    limit,
                    trials,
                    summary,
                })
            })
            .collect()
    }

    /// Writes `dir/tradeoff.json` (the run's `args`, the sweep's settings, the published
    /// models as references scored by `evaluator`, and the `points`) and, with the `plot`
    /// feature, `dir/tradeoff.svg` ([`plot`]) and `dir/best_<limit>.svg`, a picture of the
    /// best subnet found at each limit. Returns the JSON written.
    pub fn write<E: Evaluator<MbV3Subnet>>(
        &self,
        dir: &Path,
        points: &[TradeoffPoint],
        args: &impl Serialize,
        evaluator: &mut E,
    ) -> Result<serde_json::Value, ProtocolError> {
        let last = self.studies.last().expect("checked: at least one limit");
        let references = last.references(evaluator)?;
        let results = serde_json::json!({
            "config": {"args": args, "sweep": &self.config, "version": env!("CARGO_PKG_VERSION")},
            "latency_device": last.latency_table().map(|t| t.device().to_string()),
            "references": references,
            "points": points,
        });
        let text = serde_json::to_string_pretty(&results).expect("JSON values serialise");
        crate::write_atomic(&dir.join(TRADEOFF_JSON), text.as_bytes())?;
        #[cfg(feature = "plot")]
        {
            let path = dir.join("tradeoff.svg");
            std::fs::write(&path, plot(points, &references)?)
                .map_err(|e| ProtocolError::io("saving", &path, e))?;
            for (point, study) in points.iter().zip(&self.studies) {
                let Some(best) = point.best() else { continue };
                let arch = best.best_arch.parse()?;
                let title = format!(
                    "best under {}: {} ({}), {:.2} % predicted at {}",
                    point.limit.label(),
                    best.method,
                    best.seed,
                    best.predicted_acc,
                    best.resolution
                );
                let svg =
                    dsm_draw::mbv3_subnet(&arch, study.space().base(), best.resolution, &title)?;
                let path = dir.join(format!("best_{}.svg", limit_slug(&point.limit)));
                std::fs::write(&path, svg).map_err(|e| ProtocolError::io("saving", &path, e))?;
            }
        }
        Ok(results)
    }
}

/// The file a sweep writes its results to.
pub const TRADEOFF_JSON: &str = "tradeoff.json";

/// `25ms` or `600M`: a limit in a file name.
pub fn limit_slug(limit: &Limit) -> String {
    match limit {
        Limit::Latency { ms } => format!("{ms}ms"),
        Limit::Madds { millions } => format!("{millions}M"),
    }
}

/// The efficiency axis of a trial or reference: latency (ms) for latency limits, MAdds (M)
/// otherwise.
#[cfg(feature = "plot")]
fn cost(limit: &Limit, latency_ms: Option<f64>, madds: u64) -> f64 {
    match limit {
        Limit::Latency { .. } => latency_ms.unwrap_or(f64::NAN),
        Limit::Madds { .. } => madds as f64 / 1e6,
    }
}

/// The Pareto plot of a sweep (SVG text): per method, the mean predicted accuracy of its
/// found subnets against their mean latency (or MAdds) at each limit, each trial as a small
/// dot, and the published models marked.
#[cfg(feature = "plot")]
pub fn plot(points: &[TradeoffPoint], references: &[Reference]) -> Result<String, ProtocolError> {
    let mut svg = String::new();
    draw(&mut svg, points, references).map_err(|e| ProtocolError::Draw {
        path: TRADEOFF_JSON.replace(".json", ".svg").into(),
        reason: e.to_string(),
    })?;
    Ok(svg)
}

#[cfg(feature = "plot")]
fn draw(
    svg: &mut String,
    points: &[TradeoffPoint],
    references: &[Reference],
) -> Result<(), Box<dyn std::error::Error>> {
    use dsm_draw::chart::{legend, line_key, xy_chart};
    use plotters::prelude::*;
    let Some(first) = points.first() else {
        return Err("no limits".into());
    };
    let limit = first.limit;
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for t in points.iter().flat_map(|p| &p.trials) {
        xs.push(cost(&limit, t.latency_ms, t.madds));
        ys.push(t.predicted_acc);
    }
    for r in references {
        xs.push(cost(&limit, r.latency_ms, r.madds));
        ys.push(r.predicted_acc);
    }
    let finite = |v: &[f64], f: fn(f64, f64) -> f64, init: f64| {
        v.iter().copied().filter(|x| x.is_finite()).fold(init, f)
    };
    let (x0, x1) = (
        finite(&xs, f64::min, f64::INFINITY),
        finite(&xs, f64::max, f64::NEG_INFINITY),
    );
    let (y0, y1) = (
        finite(&ys, f64::min, f64::INFINITY),
        finite(&ys, f64::max, f64::NEG_INFINITY),
    );
    if !(x0.is_finite() && y0.is_finite()) {
        return Err("nothing to draw".into());
    }
    let (xp, yp) = (((x1 - x0) * 0.05).max(0.5), ((y1 - y0) * 0.05).max(0.1));
    let (x_desc, caption) = match limit {
        Limit::Latency { .. } => (
            "latency (ms)",
            "predicted top-1 accuracy vs latency, best subnet per limit",
        ),
        Limit::Madds { .. } => (
            "MAdds (M)",
            "predicted top-1 accuracy vs MAdds, best subnet per limit",
        ),
    };
    let root = SVGBackend::with_string(svg, (760, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = xy_chart(&root, caption, (x0 - xp)..(x1 + xp), (y0 - yp)..(y1 + yp))?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("predicted accuracy (%)")
        .draw()?;
    let methods: Vec<&str> = first.summary.iter().map(|s| s.method.as_str()).collect();
    for (i, method) in methods.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let mut line = Vec::new();
        for p in points {
            let mine: Vec<&HardwareTrial> =
                p.trials.iter().filter(|t| t.method == *method).collect();
            if mine.is_empty() {
                continue;
            }
            let n = mine.len() as f64;
            let x = mine
                .iter()
                .map(|t| cost(&limit, t.latency_ms, t.madds))
                .sum::<f64>()
                / n;
            let y = mine.iter().map(|t| t.predicted_acc).sum::<f64>() / n;
            line.push((x, y));
            chart.draw_series(mine.iter().map(|t| {
                Circle::new(
                    (cost(&limit, t.latency_ms, t.madds), t.predicted_acc),
                    2,
                    color.mix(0.35).filled(),
                )
            }))?;
        }
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
            .label(format!("{method} (mean of trials)"))
            .legend(line_key(color.stroke_width(2)));
        chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    for r in references {
        let p = (cost(&limit, r.latency_ms, r.madds), r.predicted_acc);
        if !p.0.is_finite() {
            continue;
        }
        chart.draw_series(std::iter::once(TriangleMarker::new(p, 7, BLACK.filled())))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{} @{}", r.name, r.resolution),
            (p.0, p.1),
            ("sans-serif", 12).into_font().color(&BLACK),
        )))?;
    }
    legend(&mut chart)?;
    root.present()?;
    Ok(())
}
