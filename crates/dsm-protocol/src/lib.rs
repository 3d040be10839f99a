//! # dsm-protocol: search studies as a library
//!
//! A study runs several search methods on several tasks, many trials each, and says how
//! they compare, over any [`Problem`](dsm_bench::Problem): a table, live training, zero-cost
//! proxies or a user's landscape, through one trial loop. This crate owns everything of that
//! which is not the search itself:
//! - [`Plan`] and [`Method`]: the job grid (tasks x methods x trials, one trial per seed) and
//!   any [`Searcher`](dsm_miner::Searcher), a user's own among them ([`methods_by_name`]
//!   resolves names through a [`Registry`](dsm_miner::Registry)), methods built per trial
//!   and transfer methods (DSM-NAS+ from the anchors of another task's search);
//! - [`run_trials`]: the trials on a pool of threads (results independent of the number),
//!   each search's evaluations where an [`Execution`]'s executor says (in process, worker
//!   processes, Slurm jobs: `dsm_cluster::Runner`), each finished trial saved to a
//!   [`TrialStore`] so a killed run resumes without losing it;
//! - [`Results`], [`TrialRecord`], [`Summary`]: the typed, versioned `results.json`;
//!   [`stats`]: standard error, 95 % confidence interval (Student's t), the two-sided
//!   Mann-Whitney U test against DSM-NAS and the share of trials that found the best
//!   architecture by the search signal;
//! - `curves` (feature `plot`, on by default): best-so-far curves as SVG; [`pareto`]: the
//!   accuracy / MAdds trade-off of a hardware-aware search (points, front, picture);
//! - [`mbv3`]: the hardware-aware search of DSM-NAS over the MobileNetV3 space under a
//!   MAdds limit, with any evaluator (unchecked [`Mbv3Config`](mbv3::Mbv3Config) ->
//!   `check()` -> [`Mbv3Search`](mbv3::Mbv3Search)), what `search_mbv3` runs;
//! - [`nb201`]: the published NAS-Bench-201 protocol of DSM-NAS (unchecked
//!   [`Nb201Config`](nb201::Nb201Config) -> `check()` -> [`Nb201Protocol`](nb201::Nb201Protocol)),
//!   what the `search_nb201` example runs.
//!
//! Your own method beside DSM-NAS and REA, under the published protocol:
//!
//! ```
//! use dsm_miner::{Ask, AskContext, MinerError, Searcher, Strategy, Told};
//! use dsm_protocol::{Execution, Method, nb201::Nb201Config};
//! use dsm_space::{Nb201Space, SearchSpace};
//!
//! /// Mutates the best cell seen so far.
//! struct HillClimb;
//! struct Climbing(Option<(dsm_space::Nb201Cell, f64)>);
//!
//! impl Searcher<Nb201Space> for HillClimb {
//!     fn name(&self) -> &str { "hill-climb" }
//!     fn strategy(&self, _: &Nb201Space) -> Result<Box<dyn Strategy<Nb201Space> + '_>, MinerError> {
//!         Ok(Box::new(Climbing(None)))
//!     }
//! }
//! impl Strategy<Nb201Space> for Climbing {
//!     fn ask(&mut self, ctx: &mut AskContext<'_, Nb201Space>) -> Result<Ask<dsm_space::Nb201Cell>, MinerError> {
//!         Ok(Ask::Query(match &self.0 {
//!             Some((best, _)) => ctx.space.mutate(best, ctx.rng)?,
//!             None => ctx.space.sample(ctx.rng)?,
//!         }))
//!     }
//!     fn tell(&mut self, _: &Nb201Space, told: Told<dsm_space::Nb201Cell>) -> Result<(), MinerError> {
//!         if self.0.as_ref().is_none_or(|b| told.score > b.1) { self.0 = Some((told.arch, told.score)); }
//!         Ok(())
//!     }
//! }
//!
//! let protocol = Nb201Config { methods: vec!["dsm-nas".into(), "rea".into()], ..Default::default() }.check()?;
//! let mut methods = protocol.methods();
//! methods.push(Method::new(HillClimb));
//! let results = protocol.run_methods(methods, Execution::default())?;
//! println!("{}", protocol.report(&results)); // 20 trials each, p-values against DSM-NAS
//! let mine = results.summary.iter().find(|s| s.method == "hill-climb").unwrap();
//! assert_eq!(mine.trials, 20);
//! assert!(mine.p_value_vs_dsm_nas.is_some());
//! # Ok::<(), dsm_protocol::ProtocolError>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "plot")]
pub mod curves;
mod error;
pub mod hardware;
pub mod mbv3;
pub mod nb201;
pub mod pareto;
mod results;
mod run;
pub mod scaling;
pub mod stats;
mod study;
pub mod tradeoff;

pub use error::ProtocolError;
pub use results::{
    History, MeasureSummary, REFERENCE_METHOD, RESULTS_FORMAT, Results, Summary, TaskFacts,
    TrialRecord, summarise,
};
#[cfg(feature = "cli")]
pub use run::ResumeArgs;
pub use run::{
    ArchOf, BoxedSearcher, Execution, Job, Method, PerTrialFn, Plan, ProgressFn, TransferFn,
    TrialStore, open_trials, record, run_job, run_trials, task_facts, timestamped_dir,
    write_atomic,
};
pub use study::{GuideFn, StudyOutputs, methods_by_name, worker_evaluator};
