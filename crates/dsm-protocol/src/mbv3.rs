//! The hardware-aware search of DSM-NAS over the Once-for-All MobileNetV3 space: DSM-NAS under
//! a MAdds limit (600 M at 224 x 224 in the paper), every evaluated subnet recorded with its
//! cost, and the answer written as `results.json`, `pareto.json`, `pareto.svg` (feature
//! `plot`) and `best.svg`: what the `search_mbv3` example runs, with any evaluator (an
//! accuracy predictor, live training, a user's own).
//!
//! Unchecked [`Mbv3Config`] -> [`check`](Mbv3Config::check) -> [`Mbv3Search`], which refuses
//! a limit no subnet meets before any work starts:
//!
//! ```
//! use dsm_protocol::mbv3::Mbv3Config;
//! use dsm_space::{Evaluation, Evaluator, MbV3Arch, MbV3Space};
//!
//! /// A stand-in for a predictor: bigger subnets score higher.
//! struct Size(MbV3Space);
//! impl Evaluator<MbV3Arch> for Size {
//!     type Error = dsm_space::SpaceError;
//!     fn evaluate(&mut self, a: &MbV3Arch) -> Result<Evaluation, Self::Error> {
//!         let madds = self.0.cost_at(a, 224)?.madds as f64;
//!         Ok(Evaluation { score: madds.ln(), cost_s: 0.0 })
//!     }
//! }
//!
//! let too_low = Mbv3Config { madds_limit: 10.0, ..Default::default() };
//! assert!(too_low.check().unwrap_err().to_string().contains("smallest subnet"));
//!
//! let search = Mbv3Config { iters: 10, ..Default::default() }.check()?;
//! let outcome = search.run(Size(*search.space()), |_| {})?;
//! assert!(outcome.cost.madds <= search.limit());
//! assert_eq!(outcome.evaluated.len(), outcome.evaluations);
//! assert!(!outcome.front.is_empty());
//! # Ok::<(), dsm_protocol::ProtocolError>(())
//! ```

use std::path::Path;
use std::sync::Arc;

use dsm_miner::{Budget, DsmConfig, DsmNas, SearchCheckpoint, Searcher, seeded_rng};
use dsm_space::{Evaluation, Evaluator, MbV3Arch, MbV3Cost, MbV3Space, Observed, SearchSpace};
use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::pareto::{self, CostPoint};

/// The resolution MAdds are counted at (the reference's convention, `cost_mbv3`).
pub const COST_RESOLUTION: u32 = 224;

/// A hardware-aware search as given (unchecked); with the `cli` feature, the search flags of
/// `search_mbv3`. The defaults are the paper's setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct Mbv3Config {
    /// MAdds limit in millions, counted at 224 x 224.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 600.0))]
    pub madds_limit: f64,
    /// Width multiplier of the space (1.2 for the published models).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 1.2))]
    pub width: f64,
    /// Search iterations.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 200))]
    pub iters: usize,
    /// Candidate subspaces K.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 3))]
    pub k: usize,
    /// Seed of the search, the predictor and the training.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 0))]
    pub seed: u64,
}

impl Default for Mbv3Config {
    fn default() -> Self {
        Self {
            madds_limit: 600.0,
            width: 1.2,
            iters: 200,
            k: 3,
            seed: 0,
        }
    }
}

impl Mbv3Config {
    /// Checks every value (the limit, the width, DSM-NAS's settings, the budget) and builds
    /// the search; nothing runs and nothing is written.
    pub fn check(&self) -> Result<Mbv3Search, ProtocolError> {
        if !(self.madds_limit.is_finite() && self.madds_limit > 0.0) {
            return Err(ProtocolError::config(
                "--madds-limit",
                self.madds_limit,
                "a positive number of millions",
            ));
        }
        let space = MbV3Space::new(self.width).map_err(|_| {
            ProtocolError::config("--width", self.width, "a finite number in (0, 10]")
        })?;
        let limit = (self.madds_limit * 1e6).round() as u64;
        let smallest = space.cost_at(&MbV3Arch::uniform(2, 3, 3)?, COST_RESOLUTION)?;
        if smallest.madds > limit {
            return Err(ProtocolError::config(
                "--madds-limit",
                self.madds_limit,
                format!(
                    "at least {:.2} (the smallest subnet of the width-{} space needs {:.2} M MAdds)",
                    smallest.madds as f64 / 1e6,
                    self.width,
                    smallest.madds as f64 / 1e6
                ),
            ));
        }
        let dsm = DsmNas::new(DsmConfig {
            k: self.k,
            ..DsmConfig::default()
        })
        .with_constraint(Arc::new(move |a: &MbV3Arch| {
            space
                .cost_at(a, COST_RESOLUTION)
                .is_ok_and(|c| c.madds <= limit)
        }));
        dsm.config.check()?;
        let budget = Budget {
            time_s: f64::MAX,
            max_iters: self.iters,
            ..Budget::default()
        };
        budget.check()?;
        Ok(Mbv3Search {
            config: self.clone(),
            space,
            limit,
            dsm,
            budget,
        })
    }
}

/// A checked hardware-aware search.
pub struct Mbv3Search {
    config: Mbv3Config,
    space: MbV3Space,
    limit: u64,
    dsm: DsmNas<MbV3Arch>,
    budget: Budget,
}

impl std::fmt::Debug for Mbv3Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbv3Search")
            .field("config", &self.config)
            .field("limit", &self.limit)
            .field("dsm", &self.dsm.config)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// What a hardware-aware search found.
#[derive(Debug, Clone, PartialEq)]
pub struct Mbv3Outcome {
    /// The best subnet under the limit, by the evaluator's score.
    pub best: MbV3Arch,
    /// Its cost at 224 x 224.
    pub cost: MbV3Cost,
    /// Its score.
    pub score: f64,
    /// Evaluations made.
    pub evaluations: usize,
    /// DSM-NAS's final anchors.
    pub final_anchors: Vec<MbV3Arch>,
    /// Every evaluated subnet, in order.
    pub evaluated: Vec<CostPoint>,
    /// Their Pareto front of score against MAdds.
    pub front: Vec<CostPoint>,
}

impl Mbv3Search {
    /// The settings it was built from.
    pub fn config(&self) -> &Mbv3Config {
        &self.config
    }

    /// The space searched.
    pub fn space(&self) -> &MbV3Space {
        &self.space
    }

    /// The MAdds limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// How many evaluations the search makes (its progress bar's length).
    pub fn evaluations(&self) -> usize {
        self.config.iters + 1 + self.config.k
    }

    /// Runs DSM-NAS with `evaluator` (seeded by the config's seed), calling `on_evaluation`
    /// after every evaluation.
    pub fn run<E: Evaluator<MbV3Arch>>(
        &self,
        evaluator: E,
        on_evaluation: impl FnMut(&CostPoint),
    ) -> Result<Mbv3Outcome, ProtocolError> {
        self.search(evaluator, None, on_evaluation)
    }

    /// [`run`](Self::run), every evaluation saved to `checkpoint` as it is made; when the
    /// file holds this very search (same settings, budget, seed and version), it continues
    /// it without evaluating a logged subnet again, to the uninterrupted search's outcome.
    /// `on_evaluation` sees the new evaluations only.
    pub fn resume<E: Evaluator<MbV3Arch>>(
        &self,
        evaluator: E,
        checkpoint: &Path,
        on_evaluation: impl FnMut(&CostPoint),
    ) -> Result<Mbv3Outcome, ProtocolError> {
        let kept = SearchCheckpoint::new(checkpoint, 1).with_label("search_mbv3");
        self.search(evaluator, Some(&kept), on_evaluation)
    }

    /// [`resume`](Self::resume) in a run folder checked under the output policy
    /// ([`dsm_space::output`]): creates `out` (with its `settings.json`) and keeps the search
    /// in `out/search.json`, continued when `out` resumes a run and discarded first when it
    /// replaces one.
    pub fn run_in<E: Evaluator<MbV3Arch>>(
        &self,
        evaluator: E,
        out: &dsm_space::output::OutputFolder,
        on_evaluation: impl FnMut(&CostPoint),
    ) -> Result<Mbv3Outcome, ProtocolError> {
        out.create()?;
        let kept = out.dir().join("search.json");
        if out.replacing() && kept.exists() {
            std::fs::remove_file(&kept).map_err(|e| ProtocolError::io("removing", &kept, e))?;
        }
        self.resume(evaluator, &kept, on_evaluation)
    }

    fn search<E: Evaluator<MbV3Arch>>(
        &self,
        evaluator: E,
        checkpoint: Option<&SearchCheckpoint>,
        mut on_evaluation: impl FnMut(&CostPoint),
    ) -> Result<Mbv3Outcome, ProtocolError> {
        let space = self.space;
        // Every subnet of the space has a cost at 224 (checked when the space was built).
        let point = |arch: &MbV3Arch, e: &Evaluation| {
            space
                .cost_at(arch, COST_RESOLUTION)
                .ok()
                .map(|c| CostPoint {
                    arch: arch.to_string(),
                    madds: c.madds,
                    params: c.params,
                    score: e.score,
                })
        };
        let mut evaluated = Vec::new();
        let record = |arch: &MbV3Arch, e: &Evaluation| {
            if let Some(p) = point(arch, e) {
                on_evaluation(&p);
                evaluated.push(p);
            }
        };
        let mut rng = seeded_rng(self.config.seed);
        let mut observed = Observed::new(evaluator, record);
        let out = match checkpoint {
            Some(kept) => {
                kept.search(&self.dsm, &self.space, &mut observed, self.budget, &mut rng)?
            }
            None => self
                .dsm
                .search(&self.space, &mut observed, self.budget, &mut rng)?,
        };
        drop(observed);
        if let Some(kept) = checkpoint {
            // A resumed search's replayed evaluations did not reach the evaluator.
            evaluated = kept
                .evaluations::<MbV3Arch>()?
                .iter()
                .filter_map(|(a, e)| point(a, e))
                .collect();
        }
        let front = pareto::front(&evaluated);
        Ok(Mbv3Outcome {
            cost: self.space.cost_at(&out.best, COST_RESOLUTION)?,
            best: out.best,
            score: out.best_score,
            evaluations: out.evaluations,
            final_anchors: out.final_anchors,
            evaluated,
            front,
        })
    }

    /// The one-line answer `search_mbv3` prints: the subnet, its cost and score, the
    /// limit, the `evaluator`'s name and the seed.
    pub fn summary(&self, outcome: &Mbv3Outcome, evaluator: &str) -> serde_json::Value {
        serde_json::json!({
            "arch": outcome.best.to_string(),
            "madds": outcome.cost.madds,
            "params": outcome.cost.params,
            "score": outcome.score,
            "madds_limit": self.limit,
            "evaluator": evaluator,
            "evaluations": outcome.evaluations,
            "pareto_points": outcome.front.len(),
            "seed": self.config.seed,
        })
    }

    /// Writes `pareto.json`, `best.svg`, `pareto.svg` (feature `plot`) and, last,
    /// `results.json` into `dir`: the run's `args` as given, the version, the space,
    /// DSM-NAS's settings, the budget, the predictor's fit (if one was trained), the
    /// `summary`, the final anchors and every evaluation.
    pub fn write(
        &self,
        dir: &Path,
        outcome: &Mbv3Outcome,
        summary: &serde_json::Value,
        args: &impl Serialize,
        predictor_fit: Option<serde_json::Value>,
    ) -> Result<(), ProtocolError> {
        let results = serde_json::json!({
            "args": args,
            "version": env!("CARGO_PKG_VERSION"),
            "space": {"name": self.space.name(), "width": self.space.width_mult()},
            "dsm": &self.dsm.config,
            "budget": self.budget,
            "predictor_fit": predictor_fit,
            "best": summary,
            "final_anchors": outcome.final_anchors.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "evaluated": &outcome.evaluated,
        });
        crate::write_atomic(&dir.join("pareto.json"), pretty(&outcome.front).as_bytes())?;
        let caption = format!("found under {:.0} M MAdds", self.config.madds_limit);
        let best = dsm_draw::mbv3_subnet(&outcome.best, &self.space, COST_RESOLUTION, &caption)?;
        crate::write_atomic(&dir.join("best.svg"), best.as_bytes())?;
        #[cfg(feature = "plot")]
        pareto::svg(
            &dir.join("pareto.svg"),
            &outcome.evaluated,
            &outcome.front,
            self.limit,
        )?;
        crate::write_atomic(&dir.join("results.json"), pretty(&results).as_bytes())
    }
}

/// Pretty JSON (every value written here serialises).
fn pretty(v: &impl Serialize) -> String {
    serde_json::to_string_pretty(v).expect("JSON values serialise")
}
