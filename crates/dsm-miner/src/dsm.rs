//! DSM-NAS: dominative subspace mining (global search) + anchor editing (local search),
//! trained with REINFORCE.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use std::collections::HashMap;

use dsm_space::{Edit, SearchSpace};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::budget::Constraint;
use crate::controller::{Controller, ControllerShape, Decision, Squash};
use crate::driver::{Ask, AskContext, ProposalId, Strategy, Told};
use crate::graph::CandidateGraph;
use crate::native::{NativeController, Rollout, pick};
use crate::{MinerError, Searcher};

/// Hyper-parameters of DSM-NAS (defaults: the published NAS-Bench-201 run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DsmConfig {
    /// Number of candidate subspaces K (3).
    pub k: usize,
    /// Edits sampled per step (4); a later edit of the same position wins.
    pub n_steps: usize,
    /// Controller hidden size (64).
    pub hidden: usize,
    /// Adam learning rate (0.009446763714621489).
    pub learning_rate: f64,
    /// Adam L2 weight decay (2.3740059139364297e-5).
    pub weight_decay: f64,
    /// Entropy bonus coefficient (0.0005049559768158195).
    pub entropy_coeff: f64,
    /// Decay of the exponential moving average baseline (0.9).
    pub baseline_decay: f64,
    /// Subspace logits are squashed as `anchor_tanh * tanh(u)` (1.5).
    pub anchor_tanh: f64,
    /// Position and op logits are squashed as `edit_tanh * tanh(u)` (1.5 / 2.5 = 0.6).
    pub edit_tanh: f64,
    /// Controller weights are initialised uniform in `[-init_range, init_range)` (0.1).
    pub init_range: f64,
    /// Reproduce the reference implementation's in-place edits: the child is built from the
    /// anchor's *working* choices, which become the child's after every step, accepted or
    /// not, while the anchor's score and features stay those of the accepted architecture.
    /// Off by default (edits copy the anchor).
    pub reference_compat: bool,
    /// Draw the edits again when they leave the anchor unchanged (every edit sets a
    /// position to the choice it has, or only touches positions that do not change the
    /// architecture), so no evaluation is spent on the anchor itself. Off by default (the
    /// published protocol charges such repeats); on for spaces with positions that can be
    /// inactive, as the MobileNet space's kernel and expand genes past a unit's depth.
    // Left out of the settings when off, so checkpoints of earlier versions still match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redraw_unchanged: bool,
    /// Which implementation of the controller runs (same model, same results up to float
    /// rounding).
    pub engine: ControllerEngine,
}

/// The implementation of the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ControllerEngine {
    /// Hand-derived forward/backward and Adam in plain Rust, checked against Burn's
    /// autodiff by the test suite; about five times faster (0.54 vs 2.6 ms per step, `cargo bench -p dsm-nas --bench search`) on these tiny tensors.
    #[default]
    #[serde(rename = "native")]
    Native,
    /// The Burn module, trained with Burn's autodiff and Adam on the device given to
    /// [`DsmNas::with_device`] (CPU `flex` by default).
    #[serde(rename = "burn")]
    Burn,
}

impl Default for DsmConfig {
    fn default() -> Self {
        Self {
            k: 3,
            n_steps: 4,
            hidden: 64,
            learning_rate: 0.009446763714621489,
            weight_decay: 2.3740059139364297e-5,
            entropy_coeff: 0.0005049559768158195,
            baseline_decay: 0.9,
            anchor_tanh: 1.5,
            edit_tanh: 1.5 / 2.5,
            init_range: 0.1,
            reference_compat: false,
            redraw_unchanged: false,
            engine: ControllerEngine::Native,
        }
    }
}

/// The largest number of candidate subspaces [`DsmConfig::check`] accepts.
pub const MAX_K: usize = 32;
const _: () = assert!(MAX_K == 32, "update the message of DsmConfig::check");

impl DsmConfig {
    /// Checks every value (K from 2 to [`MAX_K`]).
    pub fn check(&self) -> Result<(), MinerError> {
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !(2..=MAX_K).contains(&self.k) {
            return Err(MinerError::config(
                "k",
                self.k,
                // MAX_K, spelled out for the static message.
                "2 to 32 candidate subspaces (the paper uses 3; every iteration compares all K x K anchor pairs, so the cost grows with K squared: K = 150 took 95 s a trial)",
            ));
        }
        if self.n_steps == 0 {
            return Err(MinerError::config(
                "n_steps",
                self.n_steps,
                "at least 1 edit per step",
            ));
        }
        if self.hidden == 0 {
            return Err(MinerError::config("hidden", self.hidden, "at least 1"));
        }
        if !(pos(self.learning_rate) && self.learning_rate <= 10.0) {
            return Err(MinerError::config(
                "learning_rate",
                self.learning_rate,
                "a finite number in (0, 10] (Adam's step size; larger steps diverge)",
            ));
        }
        for (field, v) in [
            ("anchor_tanh", self.anchor_tanh),
            ("edit_tanh", self.edit_tanh),
            ("init_range", self.init_range),
        ] {
            if !pos(v) {
                return Err(MinerError::config(field, v, "a finite number > 0"));
            }
        }
        for (field, v) in [
            ("weight_decay", self.weight_decay),
            ("entropy_coeff", self.entropy_coeff),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(MinerError::config(field, v, "a finite number >= 0"));
            }
        }
        if !(0.0..1.0).contains(&self.baseline_decay) {
            return Err(MinerError::config(
                "baseline_decay",
                self.baseline_decay,
                "a number in [0, 1)",
            ));
        }
        Ok(())
    }
}

/// DSM-NAS over any [`SearchSpace`]; with [`initial_anchors`](Self::with_initial_anchors) it
/// is DSM-NAS+ (anchors from well-designed or previously searched architectures).
///
/// ```
/// use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
/// use dsm_miner::{seeded_rng, Budget, DsmNas, Searcher};
/// use dsm_space::Nb201Space;
///
/// let mut eval = Nb201Evaluator::new(Nb201Table::embedded(), Dataset::Cifar10, Signal::Valid200);
/// let budget = Budget { max_iters: 20, ..Budget::default() };
/// let out = DsmNas::default().search(&Nb201Space, &mut eval, budget, &mut seeded_rng(23555)).unwrap();
/// assert_eq!(out.final_anchors.len(), 3);
/// assert!(out.best_score > 80.0);
/// ```
///
/// ## Results told in another order than asked
/// The K initial anchors are asked first (free) and the search waits until all are told;
/// their order in the candidate graph is the order asked. Afterwards each ask samples a
/// subspace and edits from the controller as it is *then* and stores the rollout, the anchor
/// index, the parent's score and the child under the proposal's id; a child that is already
/// in flight is drawn again (up to 8 draws, then accepted), so that no two workers evaluate
/// the same architecture at once. Each result, in the order told, whatever the order asked:
/// - its reward is its improvement over the parent's score *at proposal time*, minus the
///   moving-average baseline, which is updated in the order told;
/// - the controller takes one Adam step from the stored rollout (with several in flight the
///   rollout may predate earlier steps: an asynchronous, A3C-style update);
/// - the child replaces its anchor if it beats the anchor's *current* score (the anchor may
///   have changed since) and satisfies the constraint.
///
/// With one proposal in flight this is exactly the sequential algorithm.
///
/// Why immediate (A3C-style) updates rather than aggregating the W results of a round into
/// one step (ENAS-style): measured on the search signal (NAS-Bench-201 valid200, seeds
/// 1,000,000+ and 2,000,000+, never the protocol's), 8 workers in flight lose 0.00-0.02
/// points of the final mean signal against 1 worker (within one standard error), so there
/// is little staleness to repair, and waiting for a round would idle workers. Redrawing
/// in-flight duplicates gained 0.001-0.011 points on each of the four comparisons
/// (`docs/RESULTS.md`, "Many workers").
#[derive(Clone)]
pub struct DsmNas<A> {
    /// Hyper-parameters.
    pub config: DsmConfig,
    initial_anchors: Option<Vec<A>>,
    constraint: Option<Constraint<A>>,
    device: Device,
}

impl<A> Default for DsmNas<A> {
    fn default() -> Self {
        Self::new(DsmConfig::default())
    }
}

impl<A> DsmNas<A> {
    /// DSM-NAS with these hyper-parameters, the controller on Burn's CPU backend.
    pub fn new(config: DsmConfig) -> Self {
        Self {
            config,
            initial_anchors: None,
            constraint: None,
            device: Device::flex(),
        }
    }

    /// DSM-NAS+: start from these anchors (K becomes their number) instead of random ones.
    pub fn with_initial_anchors(mut self, anchors: Vec<A>) -> Self {
        self.initial_anchors = Some(anchors);
        self
    }

    /// Only architectures satisfying `constraint` may become anchors (and the answer); the
    /// initial random anchors are drawn until they satisfy it.
    pub fn with_constraint(mut self, constraint: Constraint<A>) -> Self {
        self.constraint = Some(constraint);
        self
    }

    /// Runs the controller on another Burn device (its autodiff decorator is added here).
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }
}

/// Draws of the policy for a child that is not already in flight (see [`DsmNas`]).
const IN_FLIGHT_DRAWS: usize = 8;
/// Draws of a child before one outside the constraint is evaluated anyway.
const CONSTRAINED_CHILD_DRAWS: usize = 64;

impl<S: SearchSpace> Searcher<S> for DsmNas<S::Arch> {
    fn name(&self) -> &str {
        if self.initial_anchors.is_some() {
            "dsm-nas+"
        } else {
            "dsm-nas"
        }
    }

    fn settings(&self) -> String {
        // Closures cannot be compared: a constraint is recorded by its presence only.
        let anchors = self.initial_anchors.as_ref().map(|a| {
            a.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        });
        serde_json::json!({
            "config": self.config,
            "anchors": anchors,
            "constrained": self.constraint.is_some(),
        })
        .to_string()
    }

    fn constraint(&self) -> Option<Constraint<S::Arch>> {
        self.constraint.clone()
    }

    fn free_evaluations(&self) -> usize {
        self.initial_anchors
            .as_ref()
            .map_or(self.config.k, |a| a.len())
    }

    fn strategy<'a>(&'a self, space: &'a S) -> Result<Box<dyn Strategy<S> + 'a>, MinerError> {
        self.config.check()?;
        if let Some(given) = &self.initial_anchors {
            if given.len() < 2 {
                return Err(MinerError::config(
                    "initial_anchors",
                    given.len(),
                    "at least 2 anchors",
                ));
            }
            for a in given {
                space.validate(a)?;
            }
        }
        Ok(Box::new(DsmStrategy {
            method: self,
            anchors: Vec::new(),
            asked: 0,
            redraw: Vec::new(),
            redraws: 0,
            graph: None,
            working: Vec::new(),
            engine: None,
            baseline: None,
            in_flight: HashMap::new(),
        }))
    }
}

/// DSM-NAS's state during one search (see "Results told in another order" on [`DsmNas`]).
struct DsmStrategy<'m, A> {
    method: &'m DsmNas<A>,
    /// The initial anchors in asking order: proposal id, architecture, score once told.
    anchors: Vec<(ProposalId, A, Option<f64>)>,
    /// How many initial anchors have been asked.
    asked: usize,
    /// Initial anchor slots whose evaluation failed, to be drawn again.
    redraw: Vec<usize>,
    /// How many initial anchors failed so far.
    redraws: usize,
    graph: Option<CandidateGraph<A>>,
    /// The choices each anchor's children are built from (the anchor's, or with
    /// `reference_compat` the last child's).
    working: Vec<Vec<usize>>,
    engine: Option<Engine>,
    baseline: Option<f64>,
    in_flight: HashMap<ProposalId, InFlight>,
}

/// A child waiting for its result.
struct InFlight {
    pending: Pending,
    anchor: usize,
    parent_score: f64,
    child_choices: Vec<usize>,
}

impl<S: SearchSpace> Strategy<S> for DsmStrategy<'_, S::Arch> {
    fn ask(&mut self, ctx: &mut AskContext<'_, S>) -> Result<Ask<S::Arch>, MinerError> {
        let cfg = &self.method.config;
        let space = ctx.space;
        if self.anchors.is_empty() {
            let anchors: Vec<S::Arch> = match &self.method.initial_anchors {
                Some(given) => given.clone(),
                None => (0..cfg.k).map(|_| ctx.sample()).collect::<Result<_, _>>()?,
            };
            self.anchors = anchors.into_iter().map(|a| (0, a, None)).collect();
        }
        if self.asked < self.anchors.len() {
            let slot = &mut self.anchors[self.asked];
            slot.0 = ctx.id;
            self.asked += 1;
            return Ok(Ask::Initial(slot.1.clone()));
        }
        if let Some(i) = self.redraw.pop() {
            let arch = ctx.sample()?;
            self.anchors[i] = (ctx.id, arch.clone(), None);
            return Ok(Ask::Initial(arch));
        }
        let Some(graph) = &self.graph else {
            return Ok(Ask::Wait);
        };
        let engine = match &mut self.engine {
            Some(e) => e,
            None => {
                let shape = ControllerShape {
                    features: space.feature_len() + 1,
                    anchors: graph.len(),
                    positions: space.num_positions(),
                    choices: space.max_choices(),
                    hidden: cfg.hidden,
                };
                self.engine
                    .insert(Engine::new(cfg, shape, &self.method.device, ctx.rng))
            }
        };
        let choices_at = |p: usize| space.num_choices(p);
        // With several results in flight, a child already being evaluated is drawn again (at
        // most IN_FLIGHT_DRAWS draws): a worker never duplicates another's evaluation. With
        // one in flight nothing else is, so the sequential search is unchanged.
        // In a proxy-guided search the whole draw below is made `screen` times and the
        // child best by the proxies kept (with its decision, which REINFORCE then trains).
        let in_flight = &self.in_flight;
        let working = &self.working;
        let ((pending, a), child) = ctx.screen(|ctx| {
            let mut draws = 0;
            loop {
                draws += 1;
                let pending = engine.decide(cfg, graph, &choices_at, ctx.rng);
                let (a, raw_edits) = pending.decision();
                let edits: Vec<Edit> = raw_edits.iter().map(|&(p, c)| Edit::new(p, c)).collect();
                let parent_choices = if cfg.reference_compat {
                    &working[a]
                } else {
                    &graph.anchor(a).choices
                };
                let parent = space.arch_from_choices(parent_choices)?;
                let child = space.apply(&parent, &edits)?;
                let choices = space.choices_of(&child);
                let fresh = draws >= IN_FLIGHT_DRAWS
                    || !in_flight.values().any(|f| f.child_choices == choices);
                // Under a constraint, a child outside it is drawn again (at most
                // CONSTRAINED_CHILD_DRAWS draws): no evaluation is spent on a child that
                // could never become an anchor. Without one, nothing changes.
                let changed = !cfg.redraw_unchanged || child != parent;
                if fresh
                    && (draws >= CONSTRAINED_CHILD_DRAWS || (changed && ctx.admissible(&child)))
                {
                    return Ok(((pending, a), child));
                }
            }
        })?;
        self.in_flight.insert(
            ctx.id,
            InFlight {
                anchor: a,
                parent_score: graph.anchor(a).score,
                child_choices: space.choices_of(&child),
                pending,
            },
        );
        Ok(Ask::Query(child))
    }

    fn tell(&mut self, space: &S, told: Told<S::Arch>) -> Result<(), MinerError> {
        let cfg = &self.method.config;
        if told.initial {
            if !told.outcome.is_result() {
                // Never an anchor: the slot is drawn again (at most crate::MAX_INITIAL_FAILURES times).
                if let Some(i) = self.anchors.iter().position(|s| s.0 == told.id) {
                    self.redraw.push(i);
                    self.redraws += 1;
                    if self.redraws > crate::MAX_INITIAL_FAILURES {
                        return Err(MinerError::Driver {
                            reason: format!(
                                "{} initial anchors failed to evaluate (the last: {}, {:?}); DSM-NAS needs {} that evaluate",
                                self.redraws,
                                told.arch,
                                told.outcome,
                                self.anchors.len()
                            ),
                        });
                    }
                }
                return Ok(());
            }
            if let Some(slot) = self.anchors.iter_mut().find(|s| s.0 == told.id) {
                slot.2 = Some(told.score);
            }
            if self.graph.is_none() && self.anchors.iter().all(|s| s.2.is_some()) {
                let initial = self
                    .anchors
                    .iter()
                    .map(|(_, arch, score)| {
                        (
                            arch.clone(),
                            score.expect("all told"),
                            space.choices_of(arch),
                            space.encode(arch),
                        )
                    })
                    .collect();
                let graph = CandidateGraph::new(initial);
                self.working = graph.anchors().iter().map(|a| a.choices.clone()).collect();
                self.graph = Some(graph);
            }
            return Ok(());
        }
        let (Some(f), Some(graph), Some(engine)) = (
            self.in_flight.remove(&told.id),
            self.graph.as_mut(),
            self.engine.as_mut(),
        ) else {
            return Ok(());
        };
        if !told.outcome.is_result() {
            return Ok(()); // no score: the decision teaches nothing and moves no anchor
        }
        let a = f.anchor;
        let improvement = told.score - f.parent_score;
        let b = match self.baseline {
            None => improvement,
            Some(b) => cfg.baseline_decay * b + (1.0 - cfg.baseline_decay) * improvement,
        };
        self.baseline = Some(b);
        engine.learn(cfg, f.pending, improvement - b, told.iteration)?;
        if cfg.reference_compat {
            self.working[a] = f.child_choices.clone();
        }
        if told.score > graph.anchor(a).score && told.admissible {
            let encoding = space.encode(&told.arch);
            self.working[a] = f.child_choices.clone();
            graph.replace(a, told.arch, told.score, f.child_choices, encoding);
        }
        Ok(())
    }

    fn answer(&self) -> Option<(S::Arch, f64)> {
        let graph = self.graph.as_ref()?;
        let best = graph.anchor(graph.best());
        Some((best.arch.clone(), best.score))
    }

    fn final_anchors(&self) -> Vec<S::Arch> {
        self.graph
            .as_ref()
            .map(|g| g.anchors().iter().map(|a| a.arch.clone()).collect())
            .unwrap_or_default()
    }
}

/// The controller and its optimizer, in either implementation.
enum Engine {
    Native(Box<NativeController>),
    Burn {
        model: Box<Controller>,
        optim: OptimizerAdaptor,
        dev: Device,
    },
}

type OptimizerAdaptor = burn::optim::ModuleOptimizer;

/// A decision waiting for its reward.
enum Pending {
    Native(Box<Rollout>),
    Burn(Box<Decision>),
}

impl Pending {
    fn decision(&self) -> (usize, &[(usize, usize)]) {
        match self {
            Pending::Native(r) => (r.anchor, &r.edits),
            Pending::Burn(d) => (d.anchor, &d.edits),
        }
    }
}

/// Adam's epsilon (PyTorch's default, as the reference used; Burn's default is 1e-5).
const ADAM_EPS: f64 = 1e-8;

impl Engine {
    fn new(cfg: &DsmConfig, shape: ControllerShape, device: &Device, rng: &mut dyn Rng) -> Self {
        match cfg.engine {
            ControllerEngine::Native => {
                Engine::Native(Box::new(NativeController::new(shape, cfg.init_range, rng)))
            }
            ControllerEngine::Burn => {
                let dev = device.clone().autodiff();
                let model = Controller::new(shape, cfg.init_range, rng, &dev);
                let optim = AdamConfig::new()
                    .with_epsilon(ADAM_EPS as f32)
                    .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
                    .init();
                Engine::Burn {
                    model: Box::new(model),
                    optim,
                    dev,
                }
            }
        }
    }

    fn decide<A: Clone>(
        &self,
        cfg: &DsmConfig,
        graph: &CandidateGraph<A>,
        choices_at: &dyn Fn(usize) -> usize,
        rng: &mut dyn Rng,
    ) -> Pending {
        let mut choose = |probs: &[f64]| pick(probs, rng.random::<f64>());
        match self {
            Engine::Native(c) => Pending::Native(Box::new(c.rollout(
                graph,
                cfg.n_steps,
                choices_at,
                (cfg.anchor_tanh, cfg.edit_tanh),
                &mut choose,
            ))),
            Engine::Burn { model, dev, .. } => {
                let squash = Squash {
                    anchor: cfg.anchor_tanh,
                    edit: cfg.edit_tanh,
                };
                Pending::Burn(Box::new(model.decide(
                    graph,
                    cfg.n_steps,
                    choices_at,
                    squash,
                    &mut choose,
                    dev,
                )))
            }
        }
    }

    fn learn(
        &mut self,
        cfg: &DsmConfig,
        pending: Pending,
        reward: f64,
        iteration: usize,
    ) -> Result<(), MinerError> {
        match (self, pending) {
            (Engine::Native(c), Pending::Native(ro)) => {
                let loss = -ro.log_prob * reward - cfg.entropy_coeff * ro.entropy;
                if !loss.is_finite() {
                    return Err(MinerError::LossNotFinite {
                        value: loss,
                        iteration,
                    });
                }
                let (grad, mask) = c.gradient(&ro, reward, cfg.entropy_coeff);
                c.adam_step(&grad, &mask, cfg.learning_rate, cfg.weight_decay, ADAM_EPS);
            }
            (Engine::Burn { model, optim, .. }, Pending::Burn(d)) => {
                let loss = d.log_prob.mul_scalar(-reward) - d.entropy.mul_scalar(cfg.entropy_coeff);
                let value = f64::from(loss.clone().into_scalar::<f32>());
                if !value.is_finite() {
                    return Err(MinerError::LossNotFinite { value, iteration });
                }
                let grads = GradientsParams::from_grads(loss.backward(), model.as_ref());
                let m = std::mem::replace(model, Box::new(model.as_ref().clone()));
                **model = optim.step(cfg.learning_rate, *m, grads);
            }
            _ => unreachable!("a decision is learned by the engine that made it"),
        }
        Ok(())
    }
}
