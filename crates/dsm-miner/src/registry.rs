//! The methods of this crate by name, for command lines and configuration files.

use dsm_space::SearchSpace;

use crate::{
    DsmConfig, DsmNas, MinerError, OfaEvolution, RandomSearch, RegularizedEvolution, Reinforce,
    Searcher,
};

/// The names [`searcher`] knows, in the order of its documentation.
pub const SEARCHERS: [&str; 5] = ["dsm-nas", "random", "rea", "reinforce", "ofa-evolution"];

/// A method of this crate by its results-file name, with its default settings (DSM-NAS with
/// `dsm`): `dsm-nas`, `random`, `rea` ([`RegularizedEvolution`]), `reinforce`
/// ([`Reinforce`]) or `ofa-evolution` ([`OfaEvolution`]). An unknown name is a
/// [`MinerError::Config`] listing the known ones.
///
/// ```
/// use dsm_miner::{searcher, DsmConfig, Searcher};
/// use dsm_space::Nb201Space;
///
/// let rea = searcher::<Nb201Space>("rea", &DsmConfig::default())?;
/// assert_eq!(rea.name(), "rea");
/// assert!(searcher::<Nb201Space>("bayesopt", &DsmConfig::default()).is_err());
/// # Ok::<(), dsm_miner::MinerError>(())
/// ```
pub fn searcher<S: SearchSpace + 'static>(
    name: &str,
    dsm: &DsmConfig,
) -> Result<Box<dyn Searcher<S>>, MinerError> {
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
                "one of dsm-nas, random, rea, reinforce, ofa-evolution",
            ));
        }
    })
}

/// [`searcher`] for each name of a list, in order; a repeated name is an error (its results
/// would be indistinguishable).
pub fn searchers<S: SearchSpace + 'static>(
    names: &[String],
    dsm: &DsmConfig,
) -> Result<Vec<Box<dyn Searcher<S>>>, MinerError> {
    if names.is_empty() {
        return Err(MinerError::config(
            "methods",
            "(none)",
            "at least one method",
        ));
    }
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(MinerError::config(
                "methods",
                name,
                "each method at most once",
            ));
        }
        out.push(searcher(name, dsm)?);
    }
    Ok(out)
}
