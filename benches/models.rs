//! Model workloads on the default backend (`flex`, pure-Rust CPU):
//! - `nb201/forward_b64`: the ResNet-like NAS-Bench-201 network, evaluation-mode forward,
//!   batch 64 of 3 x 32 x 32;
//! - `nb201/train_step_b64`: the same network, forward + backward + SGD (Nesterov momentum,
//!   weight decay), the training step of `train`, with glibc's allocator defaults;
//! - `nb201/train_step_b64_keep_freed_memory`: the same after `keep_freed_memory()`, as the
//!   training examples run it (process-wide from there on: the later benches run with it);
//! - `dsm_nas/forward_224_b1`, `dsm_nas/forward_224_b16`: the published `dsm_nas` MobileNet
//!   subnet at 224 x 224, BatchNorm folded, as deployed;
//! - `controller/step_burn`: one DSM controller step with the Burn controller (sample a subspace
//!   and its edits, REINFORCE loss, backward, Adam) with the default `DsmConfig` (K = 3,
//!   4 edits) on the NAS-Bench-201 space. The native controller that searches use by default
//!   is measured per trial in `benches/search.rs`.
//!
//! `cargo bench -p dsm-nas --bench models` (set `RAYON_NUM_THREADS` to fix the thread count).
//! Figures and the PyTorch comparison: `docs/PERFORMANCE.md`.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use dsm_nas::miner::controller::{Controller, ControllerShape, Squash};
use dsm_nas::miner::{CandidateGraph, DsmConfig, seeded_rng};
use dsm_nas::models::{MobileNetV3, Nb201Network};
use dsm_nas::space::{MbV3Space, Nb201Cell, Nb201Space, SearchSpace};
use dsm_nas::train::TrainConfig;
use rand::RngExt;

use dsm_nas::train::workloads::{DSM_NAS, RESNET};

/// A deterministic input batch in [-1, 1).
fn input(dims: [usize; 4], dev: &Device) -> Tensor<4> {
    let n = dims.iter().product::<usize>();
    let x: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(x, dims), dev)
}

fn nb201(c: &mut Criterion) {
    let dev = Device::flex();
    let cell: Nb201Cell = RESNET.parse().expect("a valid cell");
    let mut g = c.benchmark_group("nb201");
    g.sample_size(10);

    let model = Nb201Network::init(&cell, 10, 0, &dev);
    let x = input([64, 3, 32, 32], &dev);
    g.bench_function("forward_b64", |b| {
        b.iter(|| model.forward(x.clone()).into_data())
    });

    let ad = dev.autodiff();
    let mut model = Nb201Network::init(&cell, 10, 0, &ad);
    let mut optim = TrainConfig::default().optimizer(); // the trainer's SGD
    let loss_fn = CrossEntropyLossConfig::new().init(&ad);
    let x = input([64, 3, 32, 32], &ad);
    let y = Tensor::<1, Int>::from_data(
        TensorData::new((0..64i64).map(|i| i % 10).collect::<Vec<_>>(), [64]),
        &ad,
    );
    let mut step = || {
        let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.1, model.clone(), grads);
    };
    g.bench_function("train_step_b64", |b| b.iter(&mut step));
    // The same with freed buffers kept for reuse, as the training examples run; from here
    // on for the rest of the process (the setting is process-wide).
    dsm_nas::models::keep_freed_memory();
    g.bench_function("train_step_b64_keep_freed_memory", |b| b.iter(&mut step));
    g.finish();
}

fn dsm_nas(c: &mut Criterion) {
    let dev = Device::flex();
    let space = MbV3Space::new(1.2).expect("width 1.2 is valid");
    let arch = DSM_NAS.parse().expect("a valid subnet");
    let model = MobileNetV3::init(&arch, &space, 0, &dev)
        .expect("dsm_nas is in the space")
        .fold_batchnorm();
    let mut g = c.benchmark_group("dsm_nas");
    g.sample_size(10);
    for batch in [1usize, 16] {
        let x = input([batch, 3, 224, 224], &dev);
        g.bench_function(format!("forward_224_b{batch}"), |b| {
            b.iter(|| model.forward(x.clone()).into_data())
        });
    }
    g.finish();
}

fn controller(c: &mut Criterion) {
    let dev = Device::flex().autodiff();
    let space = Nb201Space;
    let mut rng = seeded_rng(23555);
    let cfg = DsmConfig::default();
    let anchors = (0..cfg.k)
        .map(|_| {
            let arch = space.sample(&mut rng).unwrap();
            let features = space.encode(&arch);
            let choices = space.choices_of(&arch);
            let score = rng.random_range(80.0..95.0);
            (arch, score, choices, features)
        })
        .collect();
    let graph = CandidateGraph::new(anchors);
    let shape = ControllerShape {
        features: space.feature_len() + 1,
        anchors: cfg.k,
        positions: space.num_positions(),
        choices: space.max_choices(),
        hidden: cfg.hidden,
    };
    let fresh = |rng: &mut dsm_nas::miner::SearchRng| {
        let model = Controller::new(shape, cfg.init_range, rng, &dev);
        let optim = AdamConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(Some(WeightDecayConfig::new(cfg.weight_decay as f32)))
            .init();
        (model, optim)
    };
    let squash = Squash {
        anchor: cfg.anchor_tanh,
        edit: cfg.edit_tanh,
    };
    let choices_at = |p: usize| space.num_choices(p);
    // A search makes about 200 steps; the controller is renewed (untimed) every 200 so that
    // the figure is that of a search's steps, not of a controller trained for thousands.
    c.bench_function("controller/step_burn", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = std::time::Duration::ZERO;
            let (mut model, mut optim) = fresh(&mut rng);
            for i in 0..iters {
                if i > 0 && i % 200 == 0 {
                    (model, optim) = fresh(&mut rng);
                }
                let t = std::time::Instant::now();
                let mut choose = |probs: &[f64]| {
                    let u = rng.random::<f64>();
                    let mut acc = 0.0;
                    probs
                        .iter()
                        .position(|p| {
                            acc += p;
                            u < acc
                        })
                        .unwrap_or(probs.len() - 1)
                };
                let d = model.decide(&graph, cfg.n_steps, &choices_at, squash, &mut choose, &dev);
                let loss = d.log_prob.mul_scalar(-0.5) - d.entropy.mul_scalar(cfg.entropy_coeff);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(cfg.learning_rate, model, grads);
                elapsed += t.elapsed();
            }
            elapsed
        })
    });
}

criterion_group!(benches, nb201, dsm_nas, controller);
criterion_main!(benches);
