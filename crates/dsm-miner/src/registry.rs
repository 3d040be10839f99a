//! The methods of this crate by name, for command lines and configuration files.

use dsm_space::SearchSpace;

use crate::{
    DsmConfig, DsmNas, GUIDED_SUFFIX, GuideConfig, Guided, MinerError, OfaEvolution, RandomSearch,
    RegularizedEvolution, Reinforce, ScorerFactory, Searcher,
};

/// What the guided names (`dsm-nas+zc`, ...) of [`searcher`] are guided by: the settings
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

/// The names [`searcher`] knows, in the order of its documentation.
pub const SEARCHERS: [&str; 5] = ["dsm-nas", "random", "rea", "reinforce", "ofa-evolution"];

/// A method of this crate by its results-file name, with its default settings (DSM-NAS with
/// `dsm`): `dsm-nas`, `random`, `rea` ([`RegularizedEvolution`]), `reinforce`
/// ([`Reinforce`]) or `ofa-evolution` ([`OfaEvolution`]); any of them with
/// [`GUIDED_SUFFIX`] (`dsm-nas+zc`) is the method [`Guided`] by `guide`'s proxies, which
/// it then needs. An unknown name is a [`MinerError::Config`] listing the known ones.
///
/// ```
/// use dsm_miner::{searcher, DsmConfig, Searcher};
/// use dsm_space::Nb201Space;
///
/// let rea = searcher::<Nb201Space>("rea", &DsmConfig::default(), None)?;
/// assert_eq!(rea.name(), "rea");
/// assert!(searcher::<Nb201Space>("bayesopt", &DsmConfig::default(), None).is_err());
/// // A guided name needs a proxy scorer.
/// assert!(searcher::<Nb201Space>("rea+zc", &DsmConfig::default(), None).is_err());
/// # Ok::<(), dsm_miner::MinerError>(())
/// ```
pub fn searcher<S: SearchSpace + 'static>(
    name: &str,
    dsm: &DsmConfig,
    guide: Option<&GuideSpec<S::Arch>>,
) -> Result<Box<dyn Searcher<S> + Send + Sync>, MinerError>
where
    S::Arch: Send + Sync,
{
    if let Some(base) = name.strip_suffix(GUIDED_SUFFIX) {
        let Some(guide) = guide else {
            return Err(MinerError::config(
                "method",
                name,
                "a zero-cost proxy scorer for a guided (+zc) method",
            ));
        };
        guide.config.check()?;
        let method = searcher::<S>(base, dsm, None)?;
        return Ok(Box::new(Guided::new(
            method,
            guide.config.clone(),
            guide.scorer.clone(),
        )));
    }
    Ok(match name {
        "dsm-nas" => Box::new(DsmNas::<S::Arch>::new(dsm.clone())),
        "random" => Box::new(RandomSearch),
        "rea" => Box::new(RegularizedEvolution::default()),
        "reinforce" => Box::new(Reinforce::default()),
        "ofa-evolution" => Box::new(OfaEvolution::default()),
        other => {
            return Err(MinerError::config(
                "method",
                other,
                "one of dsm-nas, random, rea, reinforce, ofa-evolution, each optionally +zc",
            ));
        }
    })
}

/// [`searcher`] for each name of a list, in order; a repeated name is an error (its results
/// would be indistinguishable).
pub fn searchers<S: SearchSpace + 'static>(
    names: &[String],
    dsm: &DsmConfig,
    guide: Option<&GuideSpec<S::Arch>>,
) -> Result<Vec<Box<dyn Searcher<S> + Send + Sync>>, MinerError>
where
    S::Arch: Send + Sync,
{
    check_names(names)?;
    names
        .iter()
        .map(|name| searcher(name, dsm, guide))
        .collect()
}

/// Checks a list of method names without building anything: at least one, each known
/// ([`SEARCHERS`], optionally with [`GUIDED_SUFFIX`]) and none repeated.
///
/// ```
/// let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
/// assert!(dsm_miner::check_names(&names(&["dsm-nas+zc", "random"])).is_ok());
/// assert!(dsm_miner::check_names(&names(&["rea", "rea"])).is_err());
/// ```
pub fn check_names(names: &[String]) -> Result<(), MinerError> {
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
        let base = name.strip_suffix(GUIDED_SUFFIX).unwrap_or(name);
        if !SEARCHERS.contains(&base) {
            return Err(MinerError::config(
                "method",
                name,
                "one of dsm-nas, random, rea, reinforce, ofa-evolution, each optionally +zc",
            ));
        }
    }
    Ok(())
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
