//! The published NAS-Bench-201 protocol of DSM-NAS on the embedded table: its configuration
//! (unchecked [`Nb201Config`] -> [`Nb201Config::check`] -> [`Nb201Protocol`]), its methods
//! by name, DSM-NAS+ transfer from the CIFAR-10 anchors, its `results.json` record and its
//! printed tables. What `search_nb201` runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use dsm_bench::proxies::{Proxy, ZcScorer, parse_proxies};
use dsm_bench::{Dataset, Nb201Benchmark, Nb201Table, Signal};
use dsm_miner::{
    Accounting, Budget, ControllerEngine, DsmConfig, DsmNas, GUIDED_SUFFIX, GuideConfig, GuideSpec,
    Registry, RegularizedEvolution, Reinforce, boxed_scorer, check_guidance,
};
use dsm_space::{Nb201Cell, Nb201Space};
use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::results::{RESULTS_FORMAT, Results};
use crate::run::{self, Execution, Method, Plan};
use crate::study::{GuideFn, methods_by_name};

/// The methods `--methods` names by default (any name of the protocol's
/// [`Registry`] is accepted: the built-in ones and a user's own, see
/// [`Nb201Config::check_with`]); each may also be guided by FreeREA's zero-cost proxies
/// (`dsm-nas+zc`, `random+zc`, `rea+zc`, `reinforce+zc`: see [`dsm_miner::Guided`]).
pub const METHODS: [&str; 4] = ["dsm-nas", "random", "rea", "reinforce"];

/// SHA-256 of the embedded table, recorded in results.
pub const TABLE_SHA256: &str = "e7eae0ba5b68459c0b7160f0d9a19742d24342766d2b00586f06b10fb523ca29";

/// The protocol in one sentence, recorded in results.
pub const PROTOCOL: &str = "initial K anchors / REA population free; each query charged its simulated cost (12 x train time per epoch + valid time, cifar10-valid); stop after the query that makes the cost exceed budget_s or after max_iters + 1 queries; answer = best by signal; reported = 200-epoch test accuracy";

/// The benchmark this protocol runs on.
pub type Nb201 = Nb201Benchmark<'static>;

/// What a NAS-Bench-201 protocol run computes, as given (unchecked): the `args` record of
/// `results.json` and, with the `cli` feature, the flags of `search_nb201`. The defaults
/// are the published protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct Nb201Config {
    /// Datasets to search, comma-separated: cifar10, cifar100, imagenet16.
    #[cfg_attr(
        feature = "cli",
        arg(long, default_value = "cifar10", value_delimiter = ',')
    )]
    pub dataset: Vec<String>,
    /// Search signal: valid200 (200-epoch validation accuracy) or hp12 (12-epoch proxy).
    #[cfg_attr(feature = "cli", arg(long, default_value = "valid200"))]
    pub signal: String,
    /// Independent trials per method; trial i uses seed `seed + i`.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 20))]
    pub trials: usize,
    /// Methods, comma-separated: dsm-nas, random, rea, reinforce, each optionally guided by
    /// zero-cost proxies (dsm-nas+zc, random+zc, rea+zc, reinforce+zc).
    #[cfg_attr(
        feature = "cli",
        arg(
            long,
            default_value = "dsm-nas,random,rea,reinforce",
            value_delimiter = ','
        )
    )]
    pub methods: Vec<String>,
    /// Budget of simulated training seconds.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 25_000.0))]
    pub budget_s: f64,
    /// Iteration limit (the search stops after max_iters + 1 queries at most).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 200))]
    pub max_iters: usize,
    /// DSM-NAS: number of candidate subspaces K.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 3))]
    pub k: usize,
    /// DSM-NAS: edits sampled per step.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 4))]
    pub n_steps: usize,
    /// DSM-NAS: controller learning rate (default: the published 0.009446763714621489).
    #[cfg_attr(feature = "cli", arg(long))]
    pub lr: Option<f64>,
    /// Also run DSM-NAS+ on CIFAR-100 / ImageNet16-120, its anchors seeded with the final
    /// anchors of the CIFAR-10 DSM-NAS search of the same seed.
    #[cfg_attr(feature = "cli", arg(long))]
    pub transfer: bool,
    /// DSM-NAS controller implementation: native (hand-derived gradients, checked against
    /// Burn's autodiff) or burn (the Burn module with Burn's autodiff and Adam).
    #[cfg_attr(feature = "cli", arg(long, default_value = "native"))]
    pub controller: String,
    /// DSM-NAS: reproduce the reference implementation's in-place edits.
    #[cfg_attr(feature = "cli", arg(long))]
    pub reference_compat: bool,
    /// Query accounting: repeated (every query charged, the published protocol) or distinct
    /// (each distinct architecture charged once per trial).
    #[cfg_attr(feature = "cli", arg(long, default_value = "repeated"))]
    pub accounting: String,
    /// Base seed.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = 23555))]
    pub seed: u64,
    /// Simulated workers per trial: an event-driven clock where each evaluation occupies its
    /// worker for the table's training time of the cell, the budget unchanged (total
    /// compute); records `history.clock_s` (default: the sequential search, no clock).
    #[cfg_attr(feature = "cli", arg(long))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// Guided (+zc) methods: FreeREA's zero-cost proxies ranking candidates, comma-separated
    /// (synflow, logsynflow, naswot, nregions; several are ranked by the sum of their ranks),
    /// charged FreeREA's measured seconds.
    #[cfg_attr(feature = "cli", arg(long, default_value_t = default_proxies()))]
    #[serde(default = "default_proxies")]
    pub proxies: String,
    /// Guided (+zc) methods: cells drawn and scored by the proxies before the search; the
    /// best become the initial anchors / population / first queries (0: no warm start).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = default_warm_start()))]
    #[serde(default = "default_warm_start")]
    pub warm_start: usize,
    /// Guided (+zc) methods: candidates each proposal is chosen from by the proxies (1: no
    /// screening).
    #[cfg_attr(feature = "cli", arg(long, default_value_t = default_screen()))]
    #[serde(default = "default_screen")]
    pub screen: usize,
}

fn default_proxies() -> String {
    GuideConfig::default().proxies.join(",")
}

fn default_warm_start() -> usize {
    GuideConfig::default().warm_start
}

fn default_screen() -> usize {
    GuideConfig::default().screen
}

impl Default for Nb201Config {
    fn default() -> Self {
        Self {
            dataset: vec!["cifar10".into()],
            signal: "valid200".into(),
            trials: 20,
            methods: METHODS.iter().map(|m| m.to_string()).collect(),
            budget_s: 25_000.0,
            max_iters: 200,
            k: 3,
            n_steps: 4,
            lr: None,
            transfer: false,
            controller: "native".into(),
            reference_compat: false,
            accounting: "repeated".into(),
            seed: 23555,
            workers: None,
            proxies: default_proxies(),
            warm_start: default_warm_start(),
            screen: default_screen(),
        }
    }
}

impl Nb201Config {
    /// Settings changed from their defaults that no chosen method reads are refused, not
    /// ignored: the guidance's with no guided (+zc) method, DSM-NAS's with no DSM-NAS.
    fn check_applicable(&self) -> Result<(), ProtocolError> {
        let d = Self::default();
        let guide = GuideConfig {
            proxies: self
                .proxies
                .split(',')
                .map(|p| p.trim().to_string())
                .collect(),
            warm_start: self.warm_start,
            screen: self.screen,
        };
        check_guidance(&self.methods, &guide)?;
        if self.methods.iter().any(|m| m.starts_with("dsm-nas")) {
            return Ok(());
        }
        let changed = [
            ("--k", self.k != d.k, self.k.to_string()),
            (
                "--n-steps",
                self.n_steps != d.n_steps,
                self.n_steps.to_string(),
            ),
            (
                "--lr",
                self.lr.is_some(),
                format!("{}", self.lr.unwrap_or_default()),
            ),
            (
                "--controller",
                self.controller != d.controller,
                self.controller.clone(),
            ),
            ("--reference-compat", self.reference_compat, "true".into()),
        ];
        match changed.into_iter().find(|c| c.1) {
            Some((flag, _, value)) => Err(ProtocolError::config(
                flag,
                value,
                format!(
                    "a setting of DSM-NAS (dsm-nas, dsm-nas+zc), which --methods does not include; add it to --methods or leave {flag} out"
                ),
            )),
            None => Ok(()),
        }
    }

    /// Checks every value and builds the protocol; nothing runs and nothing is written.
    ///
    /// ```
    /// use dsm_protocol::nb201::Nb201Config;
    /// let bad = Nb201Config { methods: vec!["dsm-nas".into(), "bogus".into()], ..Default::default() };
    /// assert!(bad.check().unwrap_err().to_string().contains("bogus"));
    /// let p = Nb201Config::default().check()?;
    /// assert_eq!(p.method_names(), ["dsm-nas", "random", "rea", "reinforce"]);
    /// # Ok::<(), dsm_protocol::ProtocolError>(())
    /// ```
    pub fn check(&self) -> Result<Nb201Protocol, ProtocolError> {
        self.check_with(Registry::builtin())
    }

    /// [`check`](Self::check) with the methods of `registry`: a user's own method,
    /// registered under its name, is then accepted by `--methods` and runs under the
    /// protocol like a built-in one.
    ///
    /// ```
    /// use dsm_miner::{RandomSearch, Registry};
    /// use dsm_protocol::nb201::Nb201Config;
    /// // A method of your own (here random search under another name would be refused:
    /// // a method reports its own name, so register it under that).
    /// let registry = Registry::builtin().without("random").register("random", |_| Box::new(RandomSearch))?;
    /// let cfg = Nb201Config { methods: vec!["random".into()], trials: 2, max_iters: 10, ..Default::default() };
    /// let results = cfg.check_with(registry)?.run(Default::default())?;
    /// assert_eq!(results.trials.len(), 2); // CIFAR-10 (the default data set), two trials
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_with(
        &self,
        registry: Registry<Nb201Space>,
    ) -> Result<Nb201Protocol, ProtocolError> {
        if self.workers == Some(0) {
            return Err(ProtocolError::config(
                "--workers",
                0,
                "at least 1 simulated worker",
            ));
        }
        let signal: Signal = self.signal.parse()?;
        let accounting = match self.accounting.as_str() {
            "repeated" => Accounting::Repeated,
            "distinct" => Accounting::Distinct,
            other => {
                return Err(ProtocolError::config(
                    "--accounting",
                    format!("{other:?}"),
                    "repeated or distinct",
                ));
            }
        };
        let datasets: Vec<Dataset> = self
            .dataset
            .iter()
            .map(|d| d.parse())
            .collect::<Result<_, _>>()?;
        if datasets.contains(&Dataset::Cifar10Valid) {
            return Err(ProtocolError::config(
                "--dataset",
                "cifar10-valid",
                "a search target: cifar10 (its signal is the cifar10-valid accuracy), cifar100 or imagenet16",
            ));
        }
        if datasets.is_empty() {
            return Err(ProtocolError::config(
                "--dataset",
                "(none)",
                "at least one of cifar10, cifar100, imagenet16",
            ));
        }
        if let Some((_, i)) = dsm_space::first_repeat(&datasets) {
            return Err(ProtocolError::config(
                "--dataset",
                format!("{:?}", self.dataset[i]),
                "each dataset once (a repeat would search it twice and count it as two)",
            ));
        }
        for (i, m) in self.methods.iter().enumerate() {
            if !registry.knows(m) {
                return Err(ProtocolError::config(
                    "--methods",
                    format!("{m:?}"),
                    format!(
                        "some of {}, each optionally +zc (dsm-nas+zc)",
                        registry.names().join(", ")
                    ),
                ));
            }
            if self.methods[..i].contains(m) {
                return Err(ProtocolError::config(
                    "--methods",
                    format!("{m:?}"),
                    "each method once (a repeat would count its trials twice)",
                ));
            }
        }
        let guide = if self.methods.iter().any(|m| m.ends_with(GUIDED_SUFFIX)) {
            let proxies = parse_proxies(&self.proxies)?;
            for &d in &datasets {
                ZcScorer::new(d, &proxies)?;
            }
            let config = GuideConfig {
                proxies: proxies.iter().map(|p| p.name().to_string()).collect(),
                warm_start: self.warm_start,
                screen: self.screen,
            };
            config.check()?;
            Some((config, proxies))
        } else {
            None
        };
        self.check_applicable()?;
        if self.trials == 0 {
            return Err(ProtocolError::config("--trials", 0, "at least 1"));
        }
        let budget = Budget {
            time_s: self.budget_s,
            max_iters: self.max_iters,
            accounting,
        };
        budget.check()?;
        let mut dsm = DsmConfig {
            k: self.k,
            n_steps: self.n_steps,
            reference_compat: self.reference_compat,
            ..DsmConfig::default()
        };
        dsm.engine = match self.controller.as_str() {
            "native" => ControllerEngine::Native,
            "burn" => ControllerEngine::Burn,
            other => {
                return Err(ProtocolError::config(
                    "--controller",
                    format!("{other:?}"),
                    "native or burn",
                ));
            }
        };
        if let Some(lr) = self.lr {
            if !(lr.is_finite() && lr > 0.0 && lr <= 10.0) {
                return Err(ProtocolError::config(
                    "--lr",
                    lr,
                    "a finite number in (0, 10] (the controller's Adam step; larger steps diverge)",
                ));
            }
            dsm.learning_rate = lr;
        }
        dsm.check()?;
        let mut methods = self.methods.clone();
        if self.transfer
            && datasets.iter().any(|d| *d != Dataset::Cifar10)
            && !methods.iter().any(|m| m == "dsm-nas+")
        {
            methods.push("dsm-nas+".into());
        }
        Ok(Nb201Protocol {
            config: self.clone(),
            datasets,
            signal,
            budget,
            dsm,
            methods,
            guide,
            registry,
        })
    }
}

/// A checked NAS-Bench-201 protocol: what runs, ready to run.
#[derive(Debug, Clone)]
pub struct Nb201Protocol {
    config: Nb201Config,
    datasets: Vec<Dataset>,
    signal: Signal,
    budget: Budget,
    dsm: DsmConfig,
    methods: Vec<String>,
    guide: Option<(GuideConfig, Vec<Proxy>)>,
    registry: Registry<Nb201Space>,
}

/// The `config` record of `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nb201RunConfig {
    /// The configuration as given.
    pub args: Nb201Config,
    /// The datasets searched.
    pub datasets: Vec<String>,
    /// The methods run (DSM-NAS+ included with `--transfer`, a user's own by their names).
    pub methods: Vec<String>,
    /// The search signal.
    pub signal: String,
    /// The query accounting.
    pub accounting: String,
    /// The budget of every trial.
    pub budget: Budget,
    /// DSM-NAS's settings.
    pub dsm: DsmConfig,
    /// REA's settings.
    pub rea: RegularizedEvolution,
    /// REINFORCE's settings.
    pub reinforce: Reinforce,
    /// The zero-cost proxy guidance of the guided (+zc) methods, if any ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guide: Option<GuideConfig>,
    /// The seed of every trial index.
    pub seeds: Vec<u64>,
    /// Versions of the library, Burn and the results format.
    pub versions: BTreeMap<String, String>,
    /// SHA-256 of the table.
    pub table_sha256: String,
    /// The protocol in one sentence.
    pub protocol: String,
}

impl Nb201Protocol {
    /// The configuration as given.
    pub fn config(&self) -> &Nb201Config {
        &self.config
    }

    /// The datasets searched.
    pub fn datasets(&self) -> &[Dataset] {
        &self.datasets
    }

    /// The budget of every trial.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// DSM-NAS's settings.
    pub fn dsm(&self) -> &DsmConfig {
        &self.dsm
    }

    /// The names of the methods [`methods`](Self::methods) builds.
    pub fn method_names(&self) -> &[String] {
        &self.methods
    }

    /// The benchmark: the embedded table with the configured signal.
    pub fn benchmark(&self) -> Nb201 {
        Nb201Benchmark::new(Nb201Table::embedded(), self.signal)
    }

    /// Tasks, trials, seeds and budget.
    pub fn plan(&self) -> Plan<Dataset> {
        Plan {
            tasks: self.datasets.clone(),
            seeds: Plan::<Dataset>::consecutive(self.config.seed, self.config.trials),
            budget: self.budget,
            workers: self.config.workers,
        }
    }

    /// The configured methods, in order: add a user's own to the list to run it beside them.
    /// A guided method (`dsm-nas+zc`) is built for each data set, scoring with FreeREA's
    /// proxies on that data set.
    pub fn methods(&self) -> Vec<Method<Nb201>> {
        let guide = self
            .guide
            .clone()
            .map(|(config, proxies)| -> GuideFn<Nb201> {
                Arc::new(move |&dataset: &Dataset, _seed: u64| {
                    let proxies = proxies.clone();
                    let scorer = move || Ok(boxed_scorer(ZcScorer::new(dataset, &proxies)?));
                    Ok(GuideSpec {
                        config: config.clone(),
                        scorer: Arc::new(scorer),
                    })
                })
            });
        self.methods
            .iter()
            .map(|m| match m.as_str() {
                "dsm-nas+" => {
                    // The CIFAR-10 DSM-NAS search of the same seed gives the anchors.
                    let dsm = self.dsm.clone();
                    Method::Transfer {
                        name: "dsm-nas+".into(),
                        source_task: Dataset::Cifar10,
                        source: Box::new(DsmNas::<Nb201Cell>::new(dsm.clone())),
                        target: Box::new(move |anchors| {
                            Box::new(DsmNas::new(dsm.clone()).with_initial_anchors(anchors))
                        }),
                    }
                }
                // Plain, or guided (built for each data set, scoring with FreeREA's proxies
                // on it), as any study builds them.
                name => methods_by_name(&self.registry, &[name.into()], &self.dsm, guide.clone())
                    .expect("checked names and guide")
                    .remove(0),
            })
            .collect()
    }

    /// Fingerprint of everything that determines the results: a checkpoint of another
    /// configuration is refused.
    pub fn fingerprint(&self) -> String {
        let names: Vec<&str> = self.datasets.iter().map(|d| d.name()).collect();
        let key = serde_json::to_string(&(
            names,
            &self.methods,
            self.signal.name(),
            self.budget,
            &self.dsm,
            self.config.trials,
            self.config.seed,
            RegularizedEvolution::default(),
            Reinforce::default(),
            env!("CARGO_PKG_VERSION"),
            self.guide.as_ref().map(|(g, _)| g),
        ))
        .expect("plain data serialises");
        crate::results::fnv64_hex(key.as_bytes())
    }

    /// The `config` record for a run of `methods`.
    pub fn run_config(&self, methods: &[Method<Nb201>]) -> Nb201RunConfig {
        let versions = [
            ("dsm-nas", env!("CARGO_PKG_VERSION")),
            ("burn", "0.22.1"),
            ("results_format", RESULTS_FORMAT),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Nb201RunConfig {
            args: self.config.clone(),
            datasets: self.datasets.iter().map(|d| d.name().to_string()).collect(),
            methods: methods.iter().map(|m| m.name().to_string()).collect(),
            signal: self.signal.name().into(),
            accounting: self.budget.accounting.name().into(),
            budget: self.budget,
            dsm: self.dsm.clone(),
            rea: RegularizedEvolution::default(),
            reinforce: Reinforce::default(),
            guide: self.guide.as_ref().map(|(g, _)| g.clone()),
            seeds: (0..self.config.trials as u64)
                .map(|i| self.config.seed + i)
                .collect(),
            versions,
            table_sha256: TABLE_SHA256.into(),
            protocol: PROTOCOL.into(),
        }
    }

    /// Runs the configured methods.
    pub fn run(
        &self,
        exec: Execution<'_, Nb201Space>,
    ) -> Result<Results<Nb201RunConfig>, ProtocolError> {
        self.run_methods(self.methods(), exec)
    }

    /// Runs `methods` (the configured ones, a user's own, or both) under this protocol.
    ///
    /// ```
    /// use dsm_miner::RandomSearch;
    /// use dsm_protocol::{Execution, Method, nb201::Nb201Config};
    ///
    /// let protocol = Nb201Config { trials: 3, max_iters: 20, ..Default::default() }.check()?;
    /// let mut methods = protocol.methods(); // DSM-NAS, random, REA, REINFORCE
    /// methods.push(Method::new(RandomSearch)); // a user's method goes the same way
    /// let results = protocol.run_methods(methods, Execution::default())?;
    /// assert_eq!(results.trials.len(), 5 * 3);
    /// println!("{}", protocol.report(&results));
    /// # Ok::<(), dsm_protocol::ProtocolError>(())
    /// ```
    pub fn run_methods(
        &self,
        methods: Vec<Method<Nb201>>,
        exec: Execution<'_, Nb201Space>,
    ) -> Result<Results<Nb201RunConfig>, ProtocolError> {
        let bench = self.benchmark();
        let plan = self.plan();
        let trials = run::run_trials(&bench, &plan, &methods, exec)?;
        let config = self.run_config(&methods);
        Ok(Results::of(config, &bench, &plan, &methods, trials))
    }

    /// The printed tables, one per dataset.
    pub fn report(&self, results: &Results<Nb201RunConfig>) -> String {
        let c = &self.config;
        let mut out = String::new();
        for d in &self.datasets {
            let title = format!(
                "{} | signal {} | {} trials | budget {} s, {} iterations | accounting {}",
                d.benchmark_name(),
                self.signal,
                c.trials,
                c.budget_s,
                c.max_iters,
                self.budget.accounting.name()
            );
            if let Some(t) = results.table(d.name(), &title, self.signal.name()) {
                out.push('\n');
                out.push_str(&t);
                out.push('\n');
            }
        }
        out
    }

    /// Writes a picture of the best cell (by signal) of each method and dataset as
    /// `DIR/best_<method>_<dataset>.svg`; returns the files written.
    pub fn write_best_cells(
        &self,
        results: &Results<Nb201RunConfig>,
        dir: &Path,
    ) -> Result<Vec<PathBuf>, ProtocolError> {
        let mut written = Vec::new();
        for (name, svg) in best_cell_pictures(results, true)? {
            let path = dir.join(name);
            run::write_atomic(&path, svg.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }
}

/// A picture of the best NAS-Bench-201 cell (by the search signal) of every method on every
/// task of `results`, tasks and methods in the order of the trials: the file name
/// `best_<method>_<task>.svg` and the SVG (with the macro skeleton when `skeleton`).
pub fn best_cell_pictures<C>(
    results: &Results<C>,
    skeleton: bool,
) -> Result<Vec<(String, String)>, ProtocolError> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for t in &results.trials {
        if !pairs.contains(&(t.dataset.as_str(), t.method.as_str())) {
            pairs.push((t.dataset.as_str(), t.method.as_str()));
        }
    }
    let mut tasks: Vec<&str> = Vec::new();
    for (task, _) in &pairs {
        if !tasks.contains(task) {
            tasks.push(task);
        }
    }
    let mut out = Vec::new();
    for task in tasks {
        for (_, method) in pairs.iter().filter(|(t, _)| *t == task) {
            let Some(t) = results.best_trial(task, method) else {
                continue;
            };
            let cell: Nb201Cell = t.best_arch.parse()?;
            let title = format!(
                "{method} on {task}: best of {} trials (signal {:.2}, test {:.2})",
                results.trials_of(task, method).count(),
                t.signal_acc,
                t.reported()
            );
            let options = dsm_draw::CellOptions {
                skeleton,
                title: Some(title),
            };
            out.push((
                format!("best_{method}_{task}.svg"),
                dsm_draw::nb201_cell(&cell, &options),
            ));
        }
    }
    Ok(out)
}

/// Writes `results.json` (pretty JSON) into `dir`.
pub fn write_results<C: Serialize>(results: &Results<C>, path: &Path) -> Result<(), ProtocolError> {
    let text = serde_json::to_string_pretty(results).expect("results serialise");
    run::write_atomic(path, text.as_bytes())
}

#[cfg(feature = "plot")]
impl Nb201Protocol {
    /// One plot panel per dataset searched.
    pub fn panels(&self) -> Vec<crate::curves::Panel<'static>> {
        self.datasets
            .iter()
            .map(|d| crate::curves::Panel {
                task: d.name(),
                title: d.benchmark_name().to_string(),
            })
            .collect()
    }

    /// Writes the best-so-far curves of every method, one panel per dataset (SVG).
    pub fn write_curves(
        &self,
        results: &Results<Nb201RunConfig>,
        path: &Path,
    ) -> Result<(), ProtocolError> {
        crate::curves::write(
            path,
            results,
            &self.panels(),
            &results.config.methods,
            self.config.budget_s,
        )
    }
}
