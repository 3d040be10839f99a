//! A search space that is not in the library, searched by DSM-NAS against random search
//! through the library's study layer: everything a user has to implement (the space, the
//! evaluator, the landscape each trial searches) is in this file (see docs/extending.md).
//!
//! The space: a stack of 8 layers, each with one of 4 widths (16, 32, 64, 128), written
//! `32-64-16-...`. The evaluator: a synthetic but rugged accuracy landscape (an NK model:
//! each layer's contribution depends on its own width and its two neighbours') plus a
//! penalty for parameters over a budget, with a "training cost" that grows with the model.
//!
//! ```text
//! cargo run --release --example custom_space -- --trials 20 --iters 300
//! ```

use std::fmt;

use anyhow::Result;
use clap::Parser;
use dsm_nas::bench::{FnProblem, Problem};
use dsm_nas::miner::{Budget, DsmNas, RandomSearch, seeded_rng};
use dsm_nas::protocol::{Execution, Method, Plan, Results, run_trials};
use dsm_nas::space::{CostMetrics, Evaluation, Evaluator, SearchSpace, SpaceError};
use rand::{Rng, RngExt};

const LAYERS: usize = 8;
const WIDTHS: [u32; 4] = [16, 32, 64, 128];

/// An architecture: the width index of every layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Stack([u8; LAYERS]);

impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w: Vec<_> = self
            .0
            .iter()
            .map(|&i| WIDTHS[i as usize].to_string())
            .collect();
        f.write_str(&w.join("-"))
    }
}

/// The space: positions are layers, choices are widths.
struct StackSpace;

impl StackSpace {
    fn params(arch: &Stack) -> f64 {
        let w: Vec<f64> = arch.0.iter().map(|&i| WIDTHS[i as usize] as f64).collect();
        w.windows(2).map(|p| p[0] * p[1]).sum::<f64>() + 3.0 * w[0]
    }
}

impl SearchSpace for StackSpace {
    type Arch = Stack;

    fn name(&self) -> &str {
        "width-stack"
    }

    fn num_positions(&self) -> usize {
        LAYERS
    }

    fn num_choices(&self, position: usize) -> usize {
        if position < LAYERS { WIDTHS.len() } else { 0 }
    }

    fn choices_of(&self, arch: &Stack) -> Vec<usize> {
        arch.0.iter().map(|&i| i as usize).collect()
    }

    fn arch_from_choices(&self, choices: &[usize]) -> Result<Stack, SpaceError> {
        self.check_choices("width stack", choices)?;
        Ok(Stack(std::array::from_fn(|p| choices[p] as u8)))
    }

    fn parse(&self, text: &str) -> Result<Stack, SpaceError> {
        let choices = text
            .split('-')
            .map(|w| {
                w.parse::<u32>()
                    .ok()
                    .and_then(|w| WIDTHS.iter().position(|&x| x == w))
                    .ok_or(SpaceError::InvalidSetting {
                        what: "layer width",
                        value: w.to_string(),
                        expected: "one of 16, 32, 64, 128",
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.arch_from_choices(&choices)
    }

    fn cost(&self, arch: &Stack) -> Option<CostMetrics> {
        Some(CostMetrics {
            params: Some(Self::params(arch)),
            madds: None,
        })
    }
}

/// A synthetic accuracy landscape with interactions between neighbouring layers.
struct Landscape {
    /// contribution[layer][left][own][right]
    table: Vec<[[[f64; 4]; 4]; 4]>,
}

impl Landscape {
    fn new<R: Rng>(rng: &mut R) -> Self {
        let table = (0..LAYERS)
            .map(|_| {
                std::array::from_fn(|_| {
                    std::array::from_fn(|_| std::array::from_fn(|_| rng.random::<f64>()))
                })
            })
            .collect();
        Self { table }
    }
}

impl Evaluator<Stack> for Landscape {
    type Error = std::convert::Infallible;

    fn evaluate(&mut self, arch: &Stack) -> Result<Evaluation, Self::Error> {
        let c = |i: isize| {
            if (0..LAYERS as isize).contains(&i) {
                arch.0[i as usize] as usize
            } else {
                0
            }
        };
        let fit: f64 = (0..LAYERS as isize)
            .map(|i| self.table[i as usize][c(i - 1)][c(i)][c(i + 1)])
            .sum::<f64>()
            / LAYERS as f64;
        let params = StackSpace::params(arch);
        let penalty = (params / 40_000.0 - 1.0).max(0.0) * 10.0;
        Ok(Evaluation {
            score: 50.0 + 50.0 * fit - penalty,
            cost_s: 10.0 + params / 1_000.0,
        })
    }
}

#[derive(Parser)]
#[command(about = "DSM-NAS and random search on a search space defined in the example itself")]
struct Args {
    /// Trials (one landscape each, the same for both methods).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(2..))]
    trials: u64,
    /// Search iterations per trial.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    iters: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let budget = Budget {
        time_s: 6_000.0,
        max_iters: args.iters as usize,
        ..Budget::default()
    };
    // The problem: one landscape per trial (seeded by the trial's seed, so both methods
    // search the same ones), no test accuracy: the study compares the scores found.
    let landscapes = FnProblem::new(StackSpace, &["nk-landscape"], "score", |_, seed| {
        Landscape::new(&mut seeded_rng(1_000 + seed))
    });
    let methods = vec![Method::new(DsmNas::default()), Method::new(RandomSearch)];
    let seeds = Plan::<String>::consecutive(0, args.trials as usize);
    let plan = Plan {
        tasks: landscapes.tasks(),
        seeds,
        budget,
        workers: None,
    };
    let trials = run_trials(&landscapes, &plan, &methods, Execution::default())?;
    let first = &trials[0]; // DSM-NAS, trial 0
    let best = StackSpace.parse(&first.best_arch)?;
    println!(
        "trial 0: DSM-NAS found {best} (score {:.2}, {} params, {} queries)",
        first.signal_acc,
        StackSpace::params(&best),
        first.queries
    );
    let results = Results::of((), &landscapes, &plan, &methods, trials);
    let title = format!("best score over {} landscapes", args.trials);
    let table = results.table("nk-landscape", &title, "score");
    println!("{}", table.unwrap_or_default());
    Ok(())
}
