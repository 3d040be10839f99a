//! The native controller against the Burn controller: same initial parameters, same
//! log-probabilities and entropies, same gradients (Burn autodiff), same Adam updates.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use dsm_space::{Nb201Space, SearchSpace};

use crate::controller::{Controller, ControllerShape, Squash};
use crate::graph::CandidateGraph;
use crate::native::NativeController;
use crate::seeded_rng;

struct Flatten<'a> {
    grads: Option<&'a GradientsParams>,
    values: Vec<f32>,
    present: Vec<bool>,
}

impl ModuleVisitor for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let n: usize = value.dims().iter().product();
        match self.grads {
            None => {
                self.values.extend(
                    value
                        .into_data()
                        .convert::<f32>()
                        .try_into_vec::<f32>()
                        .unwrap(),
                );
                self.present.extend(std::iter::repeat_n(true, n));
            }
            Some(g) => match g.get::<D>(param.id) {
                Some(t) => {
                    self.values.extend(
                        t.into_data()
                            .convert::<f32>()
                            .try_into_vec::<f32>()
                            .unwrap(),
                    );
                    self.present.extend(std::iter::repeat_n(true, n));
                }
                None => {
                    self.values.extend(std::iter::repeat_n(0.0, n));
                    self.present.extend(std::iter::repeat_n(false, n));
                }
            },
        }
    }
}

fn flatten(model: &Controller, grads: Option<&GradientsParams>) -> (Vec<f32>, Vec<bool>) {
    let mut v = Flatten {
        grads,
        values: Vec::new(),
        present: Vec::new(),
    };
    model.visit(&mut v);
    (v.values, v.present)
}

fn graph(seed: u64) -> CandidateGraph<dsm_space::Nb201Cell> {
    let space = Nb201Space;
    let mut rng = seeded_rng(seed);
    let anchors = (0..3)
        .map(|i| {
            let a = space.sample(&mut rng).unwrap();
            // Distinct scores, and one tie, to exercise both edge rules.
            let score = [85.5, 91.25, 85.5][i];
            (a, score, space.choices_of(&a), space.encode(&a))
        })
        .collect();
    CandidateGraph::new(anchors)
}

fn max_rel(a: &[f32], b: &[f32]) -> f32 {
    let scale = a
        .iter()
        .chain(b)
        .fold(0.0f32, |m, x| m.max(x.abs()))
        .max(1e-12);
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

#[test]
fn native_controller_matches_burn_autodiff() {
    let space = Nb201Space;
    let shape = ControllerShape {
        features: 37,
        anchors: 3,
        positions: 6,
        choices: 5,
        hidden: 64,
    };
    let dev = Device::flex().autodiff();
    let burn = Controller::new(shape, 0.1, &mut seeded_rng(5), &dev);
    let mut native = NativeController::new(shape, 0.1, &mut seeded_rng(5));
    let (p_burn, _) = flatten(&burn, None);
    assert_eq!(p_burn, native.params, "same draws in the same order");

    let g = graph(9);
    let choices_at = |p: usize| space.num_choices(p);
    let squash = Squash {
        anchor: 1.5,
        edit: 0.6,
    };
    // A fixed decision sequence (anchor, then position/op pairs, with a repeated position).
    let forced = [2usize, 4, 1, 0, 3, 4, 0, 5, 2];
    let mut i = 0;
    let mut choose_b = |_: &[f64]| {
        i += 1;
        forced[i - 1]
    };
    let d = burn.decide(&g, 4, &choices_at, squash, &mut choose_b, &dev);
    let mut j = 0;
    let mut choose_n = |_: &[f64]| {
        j += 1;
        forced[j - 1]
    };
    let ro = native.rollout(&g, 4, &choices_at, (1.5, 0.6), &mut choose_n);
    assert_eq!((d.anchor, d.edits.clone()), (ro.anchor, ro.edits.clone()));
    let lp_burn = f64::from(d.log_prob.clone().into_scalar::<f32>());
    let ent_burn = f64::from(d.entropy.clone().into_scalar::<f32>());
    assert!(
        (lp_burn - ro.log_prob).abs() < 1e-4 * ro.log_prob.abs(),
        "{lp_burn} vs {}",
        ro.log_prob
    );
    assert!(
        (ent_burn - ro.entropy).abs() < 1e-4 * ro.entropy.abs(),
        "{ent_burn} vs {}",
        ro.entropy
    );

    let (reward, beta) = (1.7, 0.0005);
    let loss = d.log_prob.mul_scalar(-reward) - d.entropy.mul_scalar(beta);
    let grads = GradientsParams::from_grads(loss.backward(), &burn);
    let (g_burn, present) = flatten(&burn, Some(&grads));
    let (g_native, mask) = native.gradient(&ro, reward, beta);
    assert_eq!(present, mask, "the same parameters take part in the loss");
    assert!(g_native.iter().any(|&x| x != 0.0));
    let rel = max_rel(&g_burn, &g_native);
    assert!(rel < 1e-4, "max relative gradient difference {rel}");

    // Adam: the same gradients give the same updates, over two steps (the second depends on
    // the moments). Burn's gradients feed both optimizers so that rounding differences of the
    // gradients (amplified by Adam where a gradient is near zero) do not blur the check.
    let mut optim = AdamConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(Some(WeightDecayConfig::new(2.37e-5)))
        .init();
    let burn = optim.step(0.01, burn, grads);
    native.adam_step(&g_burn, &mask, 0.01, 2.37e-5, 1e-8);
    let mut k = 0;
    let mut choose_b2 = |_: &[f64]| {
        k += 1;
        forced[k - 1]
    };
    let d2 = burn.decide(&g, 4, &choices_at, squash, &mut choose_b2, &dev);
    let loss2 = d2.log_prob.mul_scalar(-0.3) - d2.entropy.mul_scalar(beta);
    let grads2 = GradientsParams::from_grads(loss2.backward(), &burn);
    let (g_burn2, _) = flatten(&burn, Some(&grads2));
    let burn = optim.step(0.01, burn, grads2);
    native.adam_step(&g_burn2, &mask, 0.01, 2.37e-5, 1e-8);
    let (p_burn, _) = flatten(&burn, None);
    let initial = NativeController::new(shape, 0.1, &mut seeded_rng(5)).params;
    let moved = p_burn
        .iter()
        .zip(&initial)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(moved > 1e-2, "Adam moved the parameters ({moved})");
    let diff = p_burn
        .iter()
        .zip(&native.params)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        diff < 1e-6,
        "parameters after two Adam steps differ by {diff}"
    );
}
