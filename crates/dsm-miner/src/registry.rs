//! Methods by name, for command lines and configuration files: the built-in ones and a
//! user's own ([`Registry`]).

use std::sync::Arc;

use dsm_space::SearchSpace;

use crate::{
    DsmConfig, DsmNas, GUIDED_SUFFIX, GuideConfig, Guided, MinerError, OfaEvolution, RandomSearch,
    RegularizedEvolution, Reinforce, ScorerFactory, Searcher,
};

/// What the guided names (`dsm-nas+zc`, ...) of a [`Registry`] are guided by: the settings
/// and a factory of proxy scorers (one per search).
pub struct GuideSpec<A> {
    /// The guidance settings.
    pub config: GuideConfig,
    /// Makes each search's scorer.
    pub scorer: ScorerFactory<A>,
}

impl<A: std::fmt::Display + 'static> GuideSpec<A> {
    /// Guidance by `config` with `scorer`, each search scoring with its own clone of it.
    pub fn new<P>(config: GuideConfig, scorer: P) -> Self
    where
        P: dsm_space::ProxyScorer<A> + Clone + Send + Sync + 'static,
    {
        Self {
            config,
            scorer: std::sync::Arc::new(move || Ok(crate::boxed_scorer(scorer.clone()))),
        }
    }
}

impl<A> Clone for GuideSpec<A> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            scorer: self.scorer.clone(),
        }
    }
}

/// Makes one method with the shared settings (DSM-NAS's, for the methods that take them).
pub type MethodFactory<S> =
    Arc<dyn Fn(&DsmConfig) -> Box<dyn Searcher<S> + Send + Sync> + Send + Sync>;

/// Methods by name: the built-in ones ([`builtin`](Self::builtin)) and any a user
/// [`register`](Self::register)s, each also guided by zero-cost proxies under its name with
/// [`GUIDED_SUFFIX`] (`dsm-nas+zc`). What every command, study and protocol resolves its
/// `--methods` with: a user's method registered here runs under the published protocol
/// (`dsm_protocol::nb201::Nb201Config::check_with`) and in any study
/// (`dsm_protocol::methods_by_name`) like a built-in one.
///
/// ```
/// use dsm_miner::{DsmConfig, RandomSearch, Registry, Searcher};
/// use dsm_space::Nb201Space;
///
/// let builtin = Registry::<Nb201Space>::builtin();
/// assert_eq!(builtin.names(), ["dsm-nas", "random", "rea", "reinforce", "ofa-evolution"]);
/// let rea = builtin.searcher("rea", &DsmConfig::default(), None)?;
/// assert_eq!(rea.name(), "rea");
/// let err = builtin.searcher("bayesopt", &DsmConfig::default(), None).err().unwrap();
/// assert!(err.to_string().contains("one of dsm-nas, random, rea, reinforce, ofa-evolution"));
/// // A guided name needs a proxy scorer.
/// assert!(builtin.searcher("rea+zc", &DsmConfig::default(), None).is_err());
///
/// // A method of your own, by the name it reports: random search's strategy, renamed.
/// struct Mine(RandomSearch);
/// impl Searcher<Nb201Space> for Mine {
///     fn name(&self) -> &str { "mine" }
///     fn strategy<'a>(&'a self, space: &'a Nb201Space) -> Result<Box<dyn dsm_miner::Strategy<Nb201Space> + 'a>, dsm_miner::MinerError> {
///         self.0.strategy(space)
///     }
/// }
/// let mine = Registry::builtin().register("mine", |_| Box::new(Mine(RandomSearch)))?;
/// assert!(mine.check(&["mine+zc".to_string(), "dsm-nas".to_string()]).is_ok());
/// assert_eq!(mine.searcher("mine", &DsmConfig::default(), None)?.name(), "mine");
/// // A name taken, or a factory whose method reports another name, is refused.
/// assert!(mine.clone().register("rea", |_| Box::new(Mine(RandomSearch))).is_err());
/// let liar = Registry::builtin().register("other", |_| Box::new(Mine(RandomSearch)))?;
/// assert!(liar.searcher("other", &DsmConfig::default(), None).is_err());
/// # Ok::<(), dsm_miner::MinerError>(())
/// ```
pub struct Registry<S: SearchSpace> {
    entries: Vec<(String, MethodFactory<S>)>,
}

impl<S: SearchSpace> Clone for Registry<S> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
        }
    }
}

impl<S: SearchSpace> std::fmt::Debug for Registry<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_tuple("Registry").field(&names).finish()
    }
}

impl<S: SearchSpace + 'static> Registry<S>
where
    S::Arch: Send + Sync,
{
    /// No method.
    pub fn empty() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// The methods of this crate, with their default settings (DSM-NAS with the given
    /// [`DsmConfig`]): `dsm-nas`, `random`, `rea` ([`RegularizedEvolution`]), `reinforce`
    /// ([`Reinforce`]) and `ofa-evolution` ([`OfaEvolution`]).
    pub fn builtin() -> Self {
        let entry = |name: &str, f: MethodFactory<S>| (name.to_string(), f);
        Self {
            entries: vec![
                entry(
                    "dsm-nas",
                    Arc::new(|dsm| Box::new(DsmNas::<S::Arch>::new(dsm.clone()))),
                ),
                entry("random", Arc::new(|_| Box::new(RandomSearch))),
                entry(
                    "rea",
                    Arc::new(|_| Box::new(RegularizedEvolution::default())),
                ),
                entry("reinforce", Arc::new(|_| Box::new(Reinforce::default()))),
                entry(
                    "ofa-evolution",
                    Arc::new(|_| Box::new(OfaEvolution::default())),
                ),
            ],
        }
    }

    /// With `name` made by `factory`: an error for a name already taken, an empty one, one
    /// with a comma or ending in [`GUIDED_SUFFIX`] (the guided variant comes with it).
    pub fn register(
        mut self,
        name: &str,
        factory: impl Fn(&DsmConfig) -> Box<dyn Searcher<S> + Send + Sync> + Send + Sync + 'static,
    ) -> Result<Self, MinerError> {
        if name.is_empty() || name.contains(',') || name.ends_with(GUIDED_SUFFIX) {
            return Err(MinerError::config(
                "method name",
                name,
                "a non-empty name without commas, not ending in +zc",
            ));
        }
        if self.entries.iter().any(|(n, _)| n == name) {
            return Err(MinerError::config(
                "method name",
                name,
                "a name not registered yet",
            ));
        }
        self.entries.push((name.to_string(), Arc::new(factory)));
        Ok(self)
    }

    /// Without `name` (a protocol that does not offer a method).
    pub fn without(mut self, name: &str) -> Self {
        self.entries.retain(|(n, _)| n != name);
        self
    }

    /// The names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// What a name must be, for messages: `one of a, b, c, each optionally +zc`.
    pub fn expected(&self) -> String {
        format!("one of {}, each optionally +zc", self.names().join(", "))
    }

    /// Whether `name` (or its unguided base) is registered.
    pub fn knows(&self, name: &str) -> bool {
        let base = name.strip_suffix(GUIDED_SUFFIX).unwrap_or(name);
        self.entries.iter().any(|(n, _)| n == base)
    }

    /// Checks a list of names without building anything: at least one, each known and none
    /// repeated (its results would be indistinguishable).
    pub fn check(&self, names: &[String]) -> Result<(), MinerError> {
        if names.is_empty() {
            return Err(MinerError::config(
                "methods",
                "(none)",
                "at least one method",
            ));
        }
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(MinerError::config(
                    "methods",
                    name,
                    "each method at most once",
                ));
            }
            if !self.knows(name) {
                return Err(MinerError::config("method", name, self.expected()));
            }
        }
        Ok(())
    }

    /// The method `name` with `dsm`'s settings; with [`GUIDED_SUFFIX`], that method
    /// [`Guided`] by `guide`'s proxies (which it then needs). An unknown name is a
    /// [`MinerError::Config`] listing the known ones.
    pub fn searcher(
        &self,
        name: &str,
        dsm: &DsmConfig,
        guide: Option<&GuideSpec<S::Arch>>,
    ) -> Result<Box<dyn Searcher<S> + Send + Sync>, MinerError> {
        if let Some(base) = name.strip_suffix(GUIDED_SUFFIX) {
            let Some(guide) = guide else {
                return Err(MinerError::config(
                    "method",
                    name,
                    "a zero-cost proxy scorer for a guided (+zc) method",
                ));
            };
            guide.config.check()?;
            let method = self.searcher(base, dsm, None)?;
            return Ok(Box::new(Guided::new(
                method,
                guide.config.clone(),
                guide.scorer.clone(),
            )));
        }
        let Some((_, make)) = self.entries.iter().find(|(n, _)| n == name) else {
            return Err(MinerError::config("method", name, self.expected()));
        };
        let method = make(dsm);
        if method.name() != name {
            return Err(MinerError::config(
                "method",
                name,
                "a registered method whose searcher reports the name it was registered under",
            ));
        }
        Ok(method)
    }

    /// [`searcher`](Self::searcher) for each name of a list, in order, after
    /// [`check`](Self::check)ing it.
    pub fn searchers(
        &self,
        names: &[String],
        dsm: &DsmConfig,
        guide: Option<&GuideSpec<S::Arch>>,
    ) -> Result<Vec<Box<dyn Searcher<S> + Send + Sync>>, MinerError> {
        self.check(names)?;
        names
            .iter()
            .map(|name| self.searcher(name, dsm, guide))
            .collect()
    }
}

/// Refuses guidance settings changed from their defaults when no method of `names` is
/// guided (+zc): they would be ignored. Each is named by its flag (`--proxies`,
/// `--warm-start`, `--screen`).
///
/// ```
/// use dsm_miner::{GuideConfig, check_guidance};
/// let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
/// let wider = GuideConfig { screen: 9, ..GuideConfig::default() };
/// assert!(check_guidance(&names(&["rea+zc"]), &wider).is_ok());
/// assert!(check_guidance(&names(&["rea"]), &GuideConfig::default()).is_ok());
/// let err = check_guidance(&names(&["rea"]), &wider).unwrap_err();
/// assert!(err.to_string().contains("--screen"), "{err}");
/// ```
pub fn check_guidance(names: &[String], guide: &GuideConfig) -> Result<(), MinerError> {
    if names.iter().any(|n| n.ends_with(GUIDED_SUFFIX)) {
        return Ok(());
    }
    let d = GuideConfig::default();
    let changed = [
        (
            "--proxies",
            guide.proxies != d.proxies,
            guide.proxies.join(","),
        ),
        (
            "--warm-start",
            guide.warm_start != d.warm_start,
            guide.warm_start.to_string(),
        ),
        (
            "--screen",
            guide.screen != d.screen,
            guide.screen.to_string(),
        ),
    ];
    match changed.into_iter().find(|c| c.1) {
        Some((flag, _, value)) => Err(MinerError::config(
            flag,
            value,
            "a setting of the guided (+zc) methods, which --methods does not include; add one (dsm-nas+zc) or leave the setting out",
        )),
        None => Ok(()),
    }
}
