//! Hardware-aware search over the MobileNetV3 (Once-for-All) space with the input
//! resolution searched: several methods, several seeds, the same evaluator and the same
//! number of evaluations each, under a limit on measured latency (a per-layer
//! [`LatencyTable`], OFA's Note10 tables for instance) or on MAdds counted at each
//! subnet's own resolution. What `search_mbv3 --ofa-predictor` runs.
//!
//! Unchecked [`HardwareConfig`] -> [`check`](HardwareConfig::check) -> [`HardwareStudy`]:
//! a limit no subnet meets, a latency table that misses a layer, an unknown method or a
//! budget smaller than a method's free initial evaluations are refused before any work.
//!
//! ```
//! use dsm_protocol::hardware::{HardwareConfig, Limit};
//! use dsm_space::{Evaluation, Evaluator, MbV3Subnet};
//!
//! /// A stand-in for an accuracy predictor: more layers and a higher resolution score higher.
//! struct Toy;
//! impl Evaluator<MbV3Subnet> for Toy {
//!     type Error = std::convert::Infallible;
//!     fn evaluate(&mut self, s: &MbV3Subnet) -> Result<Evaluation, Self::Error> {
//!         let layers: u8 = s.arch.depths().iter().sum();
//!         Ok(Evaluation { score: f64::from(layers) + s.resolution as f64 / 100.0, cost_s: 0.0 })
//!     }
//! }
//!
//! let cfg = HardwareConfig {
//!     limit: Limit::Madds { millions: 300.0 },
//!     methods: vec!["dsm-nas".into(), "random".into()],
//!     evaluations: 60,
//!     trials: 2,
//!     ..HardwareConfig::default()
//! };
//! let study = cfg.check(None)?;
//! let trials = study.run(&mut Toy, |_| {})?;
//! assert_eq!(trials.len(), 4);
//! assert!(trials.iter().all(|t| t.madds <= 300_000_000 && t.queries == 60));
//! # Ok::<(), dsm_protocol::ProtocolError>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use dsm_bench::latency::LatencyTable;
use dsm_bench::{Assessment, Problem};
use dsm_miner::{Budget, Constraint, DsmConfig, MinerError, Registry, Searcher, Strategy};
use dsm_space::mbv3::PUBLISHED;
use dsm_space::{
    Evaluation, Evaluator, MbV3Arch, MbV3ResolutionSpace, MbV3Space, MbV3Subnet, OFA_RESOLUTIONS,
};
use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::TrialRecord;
use crate::run::{Execution, Method, Plan, run_trials};
use crate::stats::{mann_whitney_u, mean_std};

/// The largest limit accepted, in ms or millions of MAdds (far above any subnet of the
/// space: a larger one would mean no limit, and would not fit in a file name).
pub const MAX_LIMIT: f64 = 1e6;

/// The efficiency limit of a search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Predicted latency at most `ms` milliseconds (needs a latency table).
    Latency {
        /// The limit.
        ms: f64,
    },
    /// MAdds at the subnet's own resolution at most `millions` x 10^6.
    Madds {
        /// The limit, in millions.
        millions: f64,
    },
}

impl Limit {
    /// `"25 ms"` or `"600 M MAdds"`.
    pub fn label(&self) -> String {
        match self {
            Limit::Latency { ms } => format!("{ms} ms"),
            Limit::Madds { millions } => format!("{millions} M MAdds"),
        }
    }
}

/// A hardware-aware study as given (unchecked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareConfig {
    /// The limit (600 M MAdds).
    pub limit: Limit,
    /// Width multiplier of the space (1.2: OFA's supernet and the published models).
    pub width: f64,
    /// Searched resolutions, ascending (OFA's 160, 176, 192, 208, 224; `[224]` searches
    /// none).
    pub resolutions: Vec<u32>,
    /// Methods by name ([`dsm_miner::Registry::builtin`]).
    pub methods: Vec<String>,
    /// Evaluations (evaluator queries) per search, free initial ones included: every method
    /// gets exactly as many.
    pub evaluations: usize,
    /// DSM-NAS's settings (K, edits per step, the controller's); by default the published
    /// ones with [`DsmConfig::redraw_unchanged`] on, since the kernel and expand genes past
    /// a unit's depth do not change the subnet.
    pub dsm: DsmConfig,
    /// Seed of the first trial; trial `i` uses `seed + i`.
    pub seed: u64,
    /// Trials (seeds) per method.
    pub trials: usize,
}

impl Default for HardwareConfig {
    fn default() -> Self {
        Self {
            limit: Limit::Madds { millions: 600.0 },
            width: 1.2,
            resolutions: OFA_RESOLUTIONS.to_vec(),
            methods: ["dsm-nas", "ofa-evolution", "rea", "random"]
                .map(String::from)
                .to_vec(),
            evaluations: 2000,
            dsm: DsmConfig {
                redraw_unchanged: true,
                ..DsmConfig::default()
            },
            seed: 0,
            trials: 1,
        }
    }
}

impl HardwareConfig {
    /// Checks every value against the space and `latency` (required for a latency limit)
    /// and builds the study; nothing runs.
    pub fn check(&self, latency: Option<&LatencyTable>) -> Result<HardwareStudy, ProtocolError> {
        let base = MbV3Space::new(self.width).map_err(|_| {
            ProtocolError::config("--width", self.width, "a finite number in (0, 10]")
        })?;
        let space = MbV3ResolutionSpace::new(base, &self.resolutions).map_err(|e| {
            ProtocolError::config(
                "--resolutions",
                format!("{:?}", self.resolutions),
                e.to_string(),
            )
        })?;
        if self.trials == 0 {
            return Err(ProtocolError::config("--trials", 0, "at least 1"));
        }
        let methods: Vec<Arc<dyn Searcher<MbV3ResolutionSpace> + Send + Sync>> =
            Registry::<MbV3ResolutionSpace>::builtin()
                .searchers(&self.methods, &self.dsm, None)?
                .into_iter()
                .map(Arc::from)
                .collect();
        for m in &methods {
            if self.evaluations <= m.free_evaluations() {
                return Err(ProtocolError::config(
                    "--iters",
                    self.evaluations,
                    format!(
                        "more than {}'s {} free initial evaluations",
                        m.name(),
                        m.free_evaluations()
                    ),
                ));
            }
        }
        let latency = match (self.limit, latency) {
            (_, Some(t)) => {
                t.check_covers(&base, &self.resolutions)?;
                Some(Arc::new(t.clone()))
            }
            (Limit::Latency { .. }, None) => {
                return Err(ProtocolError::config(
                    "--latency-limit",
                    self.limit.label(),
                    "a latency table too (--latency-table DIR)",
                ));
            }
            (Limit::Madds { .. }, None) => None,
        };
        let smallest = MbV3Subnet {
            arch: MbV3Arch::uniform(2, 3, 3)?,
            resolution: self.resolutions[0],
        };
        let constraint: Constraint<MbV3Subnet> = match self.limit {
            Limit::Latency { ms } => {
                if !(ms.is_finite() && ms > 0.0 && ms <= MAX_LIMIT) {
                    return Err(ProtocolError::config(
                        "--latency-limit",
                        ms,
                        "a positive number of ms, at most 1000000",
                    ));
                }
                let table = latency.clone().expect("checked above");
                let least = table.latency_ms(&base, &smallest)?;
                if least > ms {
                    return Err(ProtocolError::config(
                        "--latency-limit",
                        ms,
                        format!(
                            "at least {least:.2} (the smallest subnet at {} takes {least:.2} ms on {})",
                            smallest.resolution,
                            table.device()
                        ),
                    ));
                }
                Arc::new(move |s: &MbV3Subnet| table.latency_ms(&base, s).is_ok_and(|t| t <= ms))
            }
            Limit::Madds { millions } => {
                if !(millions.is_finite() && millions > 0.0 && millions <= MAX_LIMIT) {
                    return Err(ProtocolError::config(
                        "--madds-limit",
                        millions,
                        "a positive number of millions, at most 1000000",
                    ));
                }
                let limit = (millions * 1e6).round() as u64;
                let least = space.cost(&smallest)?.madds;
                if least > limit {
                    return Err(ProtocolError::config(
                        "--madds-limit",
                        millions,
                        format!(
                            "at least {:.2} (the smallest subnet at {} needs {:.2} M MAdds)",
                            least as f64 / 1e6,
                            smallest.resolution,
                            least as f64 / 1e6
                        ),
                    ));
                }
                let sp = space.clone();
                Arc::new(move |s: &MbV3Subnet| sp.cost(s).is_ok_and(|c| c.madds <= limit))
            }
        };
        Ok(HardwareStudy {
            config: self.clone(),
            space,
            latency,
            methods,
            constraint,
        })
    }
}

/// The command-line flags of a hardware-aware study with Once-for-All's predictor (feature
/// `cli`), shared by `search_mbv3` and `tradeoff_mbv3`; [`config`](Self::config) turns them
/// into a [`HardwareConfig`].
#[cfg(feature = "cli")]
#[derive(Debug, Clone, PartialEq, clap::Args, Serialize)]
pub struct OfaArgs {
    /// Per-layer latency tables (`<r>_lookup_table.yaml`, e.g. OFA's note10/): every
    /// subnet's latency is reported, and a latency limit bounds it.
    #[arg(long, requires = "ofa_predictor")]
    pub latency_table: Option<std::path::PathBuf>,
    /// Methods, comma-separated: dsm-nas, ofa-evolution, rea, random, reinforce.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "dsm-nas,ofa-evolution,rea,random",
        value_parser = clap::builder::NonEmptyStringValueParser::new(),
        requires = "ofa_predictor"
    )]
    pub methods: Vec<String>,
    /// Searched resolutions (`224` alone searches none).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "160,176,192,208,224",
        requires = "ofa_predictor"
    )]
    pub resolutions: Vec<u32>,
    /// Trials per method (seeds --seed, --seed + 1, ...).
    #[arg(long, default_value_t = 1, requires = "ofa_predictor")]
    pub trials: usize,
}

#[cfg(feature = "cli")]
impl OfaArgs {
    /// The study these flags and `search`'s (width, evaluations `iters`, K, seed) describe
    /// under `limit`; DSM-NAS with [`DsmConfig::redraw_unchanged`].
    pub fn config(&self, limit: Limit, search: &crate::mbv3::Mbv3Config) -> HardwareConfig {
        HardwareConfig {
            limit,
            width: search.width,
            resolutions: self.resolutions.clone(),
            methods: self.methods.clone(),
            evaluations: search.iters,
            dsm: DsmConfig {
                k: search.k,
                redraw_unchanged: true,
                ..DsmConfig::default()
            },
            seed: search.seed,
            trials: self.trials,
        }
    }

    /// The latency tables, when `--latency-table` names them.
    pub fn latency(&self) -> Result<Option<LatencyTable>, ProtocolError> {
        Ok(self
            .latency_table
            .as_deref()
            .map(LatencyTable::load_dir)
            .transpose()?)
    }
}

/// A checked hardware-aware study.
pub struct HardwareStudy {
    config: HardwareConfig,
    space: MbV3ResolutionSpace,
    latency: Option<Arc<LatencyTable>>,
    methods: Vec<Arc<dyn Searcher<MbV3ResolutionSpace> + Send + Sync>>,
    constraint: Constraint<MbV3Subnet>,
}

impl std::fmt::Debug for HardwareStudy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HardwareStudy")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One search of a study: what `results.json` lists under `"trials"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareTrial {
    /// The method.
    pub method: String,
    /// Its seed.
    pub seed: u64,
    /// The found subnet's legacy string `depths:ks:ratios`.
    pub best_arch: String,
    /// Its resolution.
    pub resolution: u32,
    /// Its score by the evaluator (OFA's predictor: accuracy in percent).
    pub predicted_acc: f64,
    /// Its latency by the study's table (ms), if it has one.
    pub latency_ms: Option<f64>,
    /// Its MAdds at its resolution.
    pub madds: u64,
    /// Evaluations made (free initial ones included).
    pub queries: usize,
}

/// A method's trials summarised: means and sample standard deviations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareSummary {
    /// The method.
    pub method: String,
    /// Trials.
    pub trials: usize,
    /// Mean predicted accuracy.
    pub predicted_acc_mean: f64,
    /// Its sample standard deviation.
    pub predicted_acc_std: f64,
    /// Mean latency (ms), with a latency table.
    pub latency_ms_mean: Option<f64>,
    /// Mean MAdds.
    pub madds_mean: f64,
    /// Two-sided Mann-Whitney U p-value of the predicted accuracies against DSM-NAS's
    /// (absent for DSM-NAS itself or without it).
    pub p_value_vs_dsm_nas: Option<f64>,
}

/// A published model scored as the searches' subnets are: what `results.json` lists under
/// `"references"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// `dsm_nas` or `dsm_nas_plus`.
    pub name: String,
    /// Its legacy string.
    pub arch: String,
    /// Its resolution (224).
    pub resolution: u32,
    /// Its score by the evaluator.
    pub predicted_acc: f64,
    /// Its latency by the study's table (ms), if it has one.
    pub latency_ms: Option<f64>,
    /// Its MAdds at its resolution.
    pub madds: u64,
    /// Whether it meets the study's limit.
    pub meets_limit: bool,
}

/// A subnet's measured efficiency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Efficiency {
    /// MAdds at the subnet's resolution.
    pub madds: u64,
    /// Latency by the study's table (ms), if it has one.
    pub latency_ms: Option<f64>,
}

impl HardwareStudy {
    /// The settings it was built from.
    pub fn config(&self) -> &HardwareConfig {
        &self.config
    }

    /// The space searched.
    pub fn space(&self) -> &MbV3ResolutionSpace {
        &self.space
    }

    /// The latency table, if the study has one.
    pub fn latency_table(&self) -> Option<&LatencyTable> {
        self.latency.as_deref()
    }

    /// Whether `subnet` meets the limit.
    pub fn admissible(&self, subnet: &MbV3Subnet) -> bool {
        (self.constraint)(subnet)
    }

    /// MAdds and latency of `subnet`.
    pub fn efficiency(&self, subnet: &MbV3Subnet) -> Result<Efficiency, ProtocolError> {
        Ok(Efficiency {
            madds: self.space.cost(subnet)?.madds,
            latency_ms: match &self.latency {
                Some(t) => Some(t.latency_ms(self.space.base(), subnet)?),
                None => None,
            },
        })
    }

    /// Runs every method on every trial's seed through the study loop
    /// ([`run_trials`]: the study as a [`Problem`] whose one task is the
    /// limit, `evaluator` shared by every trial, each answer assessed by its MAdds and
    /// latency), every method under the limit and given exactly
    /// [`evaluations`](HardwareConfig::evaluations) evaluations, free initial ones included.
    /// Calls `on_trial` after each search; the trials come back seed by seed, methods in
    /// order within a seed.
    pub fn run<E: Evaluator<MbV3Subnet> + Send>(
        &self,
        evaluator: &mut E,
        on_trial: impl FnMut(&HardwareTrial) + Send,
    ) -> Result<Vec<HardwareTrial>, ProtocolError> {
        let problem = HardwareProblem {
            study: self,
            task: format!("ofa-mobilenetv3 under {}", self.config.limit.label()),
            evaluator: Mutex::new(evaluator),
        };
        let on_trial = Mutex::new(on_trial);
        let seeds = Plan::<String>::consecutive(self.config.seed, self.config.trials);
        let mut by_method = Vec::new();
        for method in &self.methods {
            let limited = Limited {
                method: method.clone(),
                constraint: self.constraint.clone(),
            };
            let plan = Plan {
                tasks: vec![problem.task.clone()],
                seeds: seeds.clone(),
                budget: Budget::queries(self.config.evaluations - method.free_evaluations()),
                workers: None,
            };
            let progress = |_: usize, r: &TrialRecord| {
                if let Ok(t) = self.trial(r) {
                    (on_trial.lock().expect("no poisoned lock"))(&t);
                }
            };
            let exec = Execution {
                threads: 1, // one evaluator, shared
                progress: Some(&progress),
                ..Default::default()
            };
            let records = run_trials(&problem, &plan, &[Method::new(limited)], exec)?;
            by_method.push(records);
        }
        let mut trials = Vec::new();
        for t in 0..self.config.trials {
            for records in &by_method {
                trials.push(self.trial(&records[t])?);
            }
        }
        Ok(trials)
    }

    /// The study's view of one trial record (its efficiency as the problem assessed it).
    fn trial(&self, r: &TrialRecord) -> Result<HardwareTrial, ProtocolError> {
        let subnet = dsm_space::SearchSpace::parse(&self.space, &r.best_arch)?;
        Ok(HardwareTrial {
            method: r.method.clone(),
            seed: r.seed,
            best_arch: subnet.arch.to_string(),
            resolution: subnet.resolution,
            predicted_acc: r.signal_acc,
            latency_ms: r.measures.get("latency_ms").copied(),
            madds: r.measures.get("madds").map_or(0, |&m| m as u64),
            queries: r.evaluations,
        })
    }

    /// Means and standard deviations per method, in the study's order.
    pub fn summarise(&self, trials: &[HardwareTrial]) -> Vec<HardwareSummary> {
        let accs = |m: &str| -> Vec<f64> {
            trials
                .iter()
                .filter(|t| t.method == m)
                .map(|t| t.predicted_acc)
                .collect()
        };
        let dsm = accs("dsm-nas");
        self.methods
            .iter()
            .map(|m| {
                let mine: Vec<&HardwareTrial> =
                    trials.iter().filter(|t| t.method == m.name()).collect();
                let acc = accs(m.name());
                let (mean, std) = mean_std(&acc);
                let lat: Option<Vec<f64>> = mine.iter().map(|t| t.latency_ms).collect();
                HardwareSummary {
                    method: m.name().to_string(),
                    trials: mine.len(),
                    predicted_acc_mean: mean,
                    predicted_acc_std: std,
                    latency_ms_mean: lat.filter(|l| !l.is_empty()).map(|l| mean_std(&l).0),
                    madds_mean: mean_std(&mine.iter().map(|t| t.madds as f64).collect::<Vec<_>>())
                        .0,
                    p_value_vs_dsm_nas: (m.name() != "dsm-nas"
                        && !dsm.is_empty()
                        && !acc.is_empty())
                    .then(|| mann_whitney_u(&dsm, &acc)),
                }
            })
            .collect()
    }

    /// The published DSM-NAS architectures ([`PUBLISHED`]) at 224 x 224, scored by
    /// `evaluator`, with their MAdds and latency and whether they meet the limit.
    pub fn references<E: Evaluator<MbV3Subnet>>(
        &self,
        evaluator: &mut E,
    ) -> Result<Vec<Reference>, ProtocolError> {
        PUBLISHED
            .iter()
            .map(|(name, legacy)| {
                let subnet = MbV3Subnet {
                    arch: legacy.parse()?,
                    resolution: 224,
                };
                let score = evaluator.evaluate(&subnet).map_err(|e| {
                    ProtocolError::config(
                        "reference subnet",
                        subnet.to_string(),
                        format!("a subnet the evaluator scores ({e})"),
                    )
                })?;
                let eff = self.efficiency(&subnet)?;
                Ok(Reference {
                    name: name.to_string(),
                    arch: subnet.arch.to_string(),
                    resolution: subnet.resolution,
                    predicted_acc: score.score,
                    latency_ms: eff.latency_ms,
                    madds: eff.madds,
                    meets_limit: self.admissible(&subnet),
                })
            })
            .collect()
    }

    /// Writes `dir/results.json` (atomically): the run's `args` and the version, the
    /// space, the limit, the methods' settings, the `trials`, their summary and the
    /// published models as `references` ([`references`](Self::references)), scored with
    /// `evaluator`.
    pub fn write<E: Evaluator<MbV3Subnet>>(
        &self,
        dir: &Path,
        trials: &[HardwareTrial],
        args: &impl Serialize,
        evaluator: &mut E,
    ) -> Result<serde_json::Value, ProtocolError> {
        let refs = self.references(evaluator)?;
        let methods: Vec<serde_json::Value> = self
            .methods
            .iter()
            .map(|m| {
                serde_json::json!({
                    "name": m.name(),
                    "settings": serde_json::from_str::<serde_json::Value>(&m.settings()).unwrap_or(serde_json::Value::Null),
                    "free_evaluations": m.free_evaluations(),
                })
            })
            .collect();
        let results = serde_json::json!({
            "config": {"args": args, "study": &self.config, "version": env!("CARGO_PKG_VERSION")},
            "space": {"name": dsm_space::SearchSpace::name(&self.space), "width": self.space.base().width_mult(), "resolutions": self.space.resolutions()},
            "limit": self.config.limit,
            "latency_device": self.latency.as_ref().map(|t| t.device().to_string()),
            "methods": methods,
            "summary": self.summarise(trials),
            "references": refs,
            "trials": trials,
        });
        let text = serde_json::to_string_pretty(&results).expect("JSON values serialise");
        crate::write_atomic(&dir.join("results.json"), text.as_bytes())?;
        Ok(results)
    }
}

/// A hardware-aware study as a [`Problem`]: one task (the limit), the study's evaluator
/// shared by every trial, each answer assessed by its MAdds and latency.
struct HardwareProblem<'s, E> {
    study: &'s HardwareStudy,
    task: String,
    evaluator: Mutex<&'s mut E>,
}

/// The shared evaluator, one evaluation at a time.
struct Shared<'p, 's, E>(&'p Mutex<&'s mut E>);

impl<E: Evaluator<MbV3Subnet>> Evaluator<MbV3Subnet> for Shared<'_, '_, E> {
    type Error = E::Error;

    fn evaluate(&mut self, subnet: &MbV3Subnet) -> Result<Evaluation, E::Error> {
        self.0.lock().expect("no poisoned lock").evaluate(subnet)
    }
}

impl<'s, E: Evaluator<MbV3Subnet> + Send> Problem for HardwareProblem<'s, E> {
    type Space = MbV3ResolutionSpace;
    type Task = String;
    type Evaluator<'p>
        = Shared<'p, 's, E>
    where
        Self: 'p;
    type Error = ProtocolError;

    fn space(&self) -> &MbV3ResolutionSpace {
        &self.study.space
    }

    fn tasks(&self) -> Vec<String> {
        vec![self.task.clone()]
    }

    fn signal_name(&self) -> &str {
        "predicted-acc"
    }

    fn evaluator(&self, _: &String, _: u64) -> Result<Shared<'_, 's, E>, ProtocolError> {
        Ok(Shared(&self.evaluator))
    }

    fn assess(&self, subnet: &MbV3Subnet, _: &String, _: u64) -> Result<Assessment, ProtocolError> {
        let eff = self.study.efficiency(subnet)?;
        let mut measures = BTreeMap::from([("madds".to_string(), eff.madds as f64)]);
        if let Some(ms) = eff.latency_ms {
            measures.insert("latency_ms".to_string(), ms);
        }
        Ok(Assessment {
            test_acc: None,
            measures,
        })
    }
}

/// A method searched under the study's limit (its constraint on every returned subnet).
struct Limited {
    method: Arc<dyn Searcher<MbV3ResolutionSpace> + Send + Sync>,
    constraint: Constraint<MbV3Subnet>,
}

impl Searcher<MbV3ResolutionSpace> for Limited {
    fn name(&self) -> &str {
        self.method.name()
    }

    fn settings(&self) -> String {
        self.method.settings()
    }

    fn constraint(&self) -> Option<Constraint<MbV3Subnet>> {
        Some(self.constraint.clone())
    }

    fn free_evaluations(&self) -> usize {
        self.method.free_evaluations()
    }

    fn guide(&self) -> Result<Option<dsm_miner::Guide<'_, MbV3Subnet>>, MinerError> {
        self.method.guide()
    }

    fn strategy<'a>(
        &'a self,
        space: &'a MbV3ResolutionSpace,
    ) -> Result<Box<dyn Strategy<MbV3ResolutionSpace> + 'a>, MinerError> {
        self.method.strategy(space)
    }
}
