//! What a study command needs around [`run_trials`](crate::run_trials): its methods by name
//! for any problem, the evaluator a worker process serves, and where it writes.

use std::collections::BTreeMap;
use std::sync::Arc;

use dsm_bench::Problem;
use dsm_miner::{DsmConfig, GUIDED_SUFFIX, GuideSpec, Registry, STUDY_SEED_ENV, STUDY_TASK_ENV};
use dsm_space::output::{OutputFile, OutputFolder, Settings};

use crate::run::{ArchOf, Method, TrialStore};
use crate::{ProtocolError, Results, TrialRecord};

/// Makes the proxy guidance of a trial (its task and seed) for the guided (+zc) methods.
pub type GuideFn<P> = Arc<
    dyn Fn(
            &<P as Problem>::Task,
            u64,
        ) -> Result<GuideSpec<ArchOf<P>>, Box<dyn std::error::Error + Send + Sync>>
        + Send
        + Sync,
>;

/// The methods of `names` for a study of `P`, as `registry` makes them (the built-in ones
/// with `dsm`'s settings for DSM-NAS, and a user's own), checked first
/// ([`Registry::check`]). A guided name (`dsm-nas+zc`) is built for each trial with the
/// guidance `guide` makes for its task and seed (an error without one).
///
/// ```
/// use dsm_bench::{Nb201Benchmark, Nb201Table, Signal};
/// use dsm_miner::Registry;
/// use dsm_protocol::methods_by_name;
/// let (builtin, names) = (Registry::builtin(), ["dsm-nas".to_string(), "rea".to_string()]);
/// let methods = methods_by_name::<Nb201Benchmark>(&builtin, &names, &Default::default(), None)?;
/// assert_eq!(methods.iter().map(|m| m.name()).collect::<Vec<_>>(), ["dsm-nas", "rea"]);
/// let guided = ["rea+zc".to_string()]; // needs proxies
/// assert!(methods_by_name::<Nb201Benchmark>(&builtin, &guided, &Default::default(), None).is_err());
/// # Ok::<(), dsm_protocol::ProtocolError>(())
/// ```
pub fn methods_by_name<P: Problem>(
    registry: &Registry<P::Space>,
    names: &[String],
    dsm: &DsmConfig,
    guide: Option<GuideFn<P>>,
) -> Result<Vec<Method<P>>, ProtocolError>
where
    P::Space: 'static,
    P::Task: 'static,
    ArchOf<P>: Send + Sync,
{
    registry.check(names)?;
    names
        .iter()
        .map(|name| {
            if !name.ends_with(GUIDED_SUFFIX) {
                return Ok(Method::Plain(registry.searcher(name, dsm, None)?));
            }
            let Some(guide) = guide.clone() else {
                return Err(ProtocolError::config(
                    "methods",
                    name,
                    "a zero-cost proxy scorer for a guided (+zc) method",
                ));
            };
            let (dsm, name, registry) = (dsm.clone(), name.clone(), registry.clone());
            Ok(Method::PerTrial {
                name: name.clone(),
                build: Box::new(move |task, seed| {
                    let spec = guide(task, seed).map_err(|source| ProtocolError::Problem {
                        what: "making the proxy scorer",
                        task: task.to_string(),
                        seed,
                        source,
                    })?;
                    Ok(registry.searcher(&name, &dsm, Some(&spec))?)
                }),
            })
        })
        .collect()
}

/// The evaluator a worker process serves for a study of `problem` run on workers
/// (`dsm_cluster::Runner`): the one of the task and seed its environment names
/// ([`STUDY_TASK_ENV`], [`STUDY_SEED_ENV`]).
pub fn worker_evaluator<P: Problem>(problem: &P) -> Result<P::Evaluator<'_>, ProtocolError> {
    let var = |name: &'static str| {
        std::env::var(name).map_err(|_| {
            ProtocolError::config(name, "(unset)", "set by the study's driver for its workers")
        })
    };
    let (task_name, seed) = (var(STUDY_TASK_ENV)?, var(STUDY_SEED_ENV)?);
    let seed: u64 = seed
        .parse()
        .map_err(|_| ProtocolError::config(STUDY_SEED_ENV, &seed, "a seed (an integer)"))?;
    let Some(task) = problem
        .tasks()
        .into_iter()
        .find(|t| t.to_string() == task_name)
    else {
        return Err(ProtocolError::config(
            STUDY_TASK_ENV,
            &task_name,
            "one of the study's tasks",
        ));
    };
    problem
        .evaluator(&task, seed)
        .map_err(|e| ProtocolError::Problem {
            what: "making the evaluator",
            task: task_name,
            seed,
            source: Box::new(e),
        })
}

/// Where a study writes, checked under the one output policy ([`dsm_space::output`])
/// before any work: `--out DIR` holds `results.json` (replaced only with `--force`), and the
/// `--checkpoint` folder is continued when its `settings.json` matches (replaced with
/// `--start-over`; other settings are refused, each differing flag named).
#[derive(Debug, Clone)]
pub struct StudyOutputs {
    /// `DIR/results.json` of `--out DIR`.
    pub results: Option<OutputFile>,
    /// The `--checkpoint` folder.
    pub checkpoint: Option<OutputFolder>,
}

impl StudyOutputs {
    /// Checks both outputs for a study of `settings`. Writes nothing.
    pub fn check(
        out: Option<&std::path::Path>,
        force: bool,
        checkpoint: Option<&std::path::Path>,
        start_over: bool,
        settings: &Settings,
    ) -> Result<Self, ProtocolError> {
        let results = out
            .map(|d| OutputFile::check("--out", d.join("results.json"), force, &[]))
            .transpose()?;
        let checkpoint = checkpoint
            .map(|d| {
                OutputFolder::checkpoint("--checkpoint", d, "--start-over", start_over)
                    .check(settings)
            })
            .transpose()?;
        Ok(Self {
            results,
            checkpoint,
        })
    }

    /// The trial checkpoint of the `--checkpoint` folder for a study of `jobs` jobs (the
    /// folder created with its `settings.json` of `settings`; the trials a resumed study
    /// finished restored from it); no store and nothing restored without one.
    pub fn trials(
        &self,
        settings: &Settings,
        jobs: usize,
    ) -> Result<(Option<TrialStore>, BTreeMap<usize, TrialRecord>), ProtocolError> {
        match &self.checkpoint {
            Some(folder) => {
                let (store, restored) = crate::open_trials(folder, &settings.fingerprint(), jobs)?;
                Ok((Some(store), restored))
            }
            None => Ok((None, BTreeMap::new())),
        }
    }

    /// Writes `results` (pretty JSON, atomically) to `--out DIR/results.json`, if given.
    pub fn write<C: serde::Serialize>(&self, results: &Results<C>) -> Result<(), ProtocolError> {
        if let Some(file) = &self.results {
            let text = serde_json::to_string_pretty(results).expect("results serialise");
            file.write(text.as_bytes())?;
        }
        Ok(())
    }
}
