//! # dsm-bench: benchmark tables for neural architecture search
//!
//! The real NAS-Bench-201 results for all 15,625 cells, embedded in the crate (about 1.3 MB,
//! derived from `shared/data/nb201/nb201.csv`; provenance, licences and checksums in
//! `data/README.md`), with O(1) lookups and an [`Evaluator`] that turns
//! the table into a simulated search environment.
//!
//! What a study searches is a [`Problem`] (a space, its tasks, an evaluator per task and
//! trial); a table is a problem with an [`Oracle`] (every architecture's test accuracy, the
//! optimum, the best by the signal): see [`problem`].
//!
//! ## Protocols
//! - **Datasets**: [`Dataset::Cifar10Valid`] (train on 25k, validate on the other 25k),
//!   [`Dataset::Cifar10`], [`Dataset::Cifar100`], [`Dataset::ImageNet16`] (ImageNet16-120).
//! - **Search signal** [`Signal::Valid200`] (default): the 200-epoch validation accuracy
//!   `v11_*_valid_acc`; CIFAR-10 uses the cifar10-valid split (`v11_cifar10valid_valid_acc`),
//!   as the standard NAS-Bench-201 protocol does.
//! - **Search signal** [`Signal::Hp12`]: the 12-epoch-schedule accuracy
//!   `nats_hp12_*_test_acc` (a *test*-split proxy: the benchmark publishes no 12-epoch
//!   validation accuracy).
//! - **Reported test accuracy**: `nats_cifar10_test_acc` (CIFAR-10, trained on train+valid),
//!   `v11_cifar100_test_acc`, `v11_imagenet16_test_acc`; for cifar10-valid,
//!   `v11_cifar10valid_test_acc`.
//! - **Simulated cost of a query**: `12 x nats_cifar10valid_train_time_per_epoch_s +
//!   nats_cifar10valid_valid_time_per_epoch_s` seconds (about 110 s on average), for *every*
//!   dataset. This is an approximation: the benchmark publishes no 12-epoch training times,
//!   nor times for CIFAR-100 or ImageNet16-120, so the cifar10-valid 200-epoch run's
//!   per-epoch time stands in for all of them.
//!
//! ```
//! use dsm_bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
//! use dsm_space::{Evaluator, Nb201Cell};
//!
//! let table = Nb201Table::embedded();
//! let cell: Nb201Cell = table.cell(6111)?; // the CIFAR-10 optimum
//! let r = table.lookup(&cell, Dataset::Cifar10);
//! assert!((r.test_acc - 94.3733).abs() < 1e-3);
//!
//! let mut eval = Nb201Evaluator::new(table, Dataset::Cifar10, Signal::Valid200);
//! let e = eval.evaluate(&cell)?;
//! assert!((e.score - 91.6067).abs() < 1e-3 && e.cost_s > 0.0);
//! # Ok::<(), dsm_bench::BenchError>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
pub mod latency;
pub mod problem;
pub mod proxies;
mod table;

use std::fmt;
use std::str::FromStr;

use dsm_space::{Evaluation, Evaluator, Nb201Cell, Nb201Space};
use serde::{Deserialize, Serialize};

pub use error::BenchError;
pub use problem::{ArchOf, Assessment, FnProblem, Oracle, Problem};

/// The default cells of `rank_nb201` (one a line, with the reason for each as a comment):
/// 16 cells spread over the table's whole CIFAR-10 accuracy range, cheap ones preferred
/// (parse with `dsm_space::nb201::parse_cell_list`).
pub const RANK_CELLS: &str = include_str!("../data/rank_cells.txt");
pub use table::Nb201Table;
use table::col;

/// A dataset of the NAS-Bench-201 benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dataset {
    /// CIFAR-10, trained on 25k images and validated on the other 25k of the training set.
    #[serde(rename = "cifar10-valid")]
    Cifar10Valid,
    /// CIFAR-10 trained on all 50k training images; its search signal comes from the
    /// cifar10-valid run.
    #[serde(rename = "cifar10")]
    Cifar10,
    /// CIFAR-100.
    #[serde(rename = "cifar100")]
    Cifar100,
    /// ImageNet16-120 (ImageNet down-sampled to 16x16, 120 classes).
    #[serde(rename = "imagenet16")]
    ImageNet16,
}

impl Dataset {
    /// The three datasets searched in the DSM-NAS protocol.
    pub const SEARCHED: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::ImageNet16];

    /// Short name used on command lines and in results files (`cifar10`, `imagenet16`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Cifar10Valid => "cifar10-valid",
            Dataset::Cifar10 => "cifar10",
            Dataset::Cifar100 => "cifar100",
            Dataset::ImageNet16 => "imagenet16",
        }
    }

    /// The benchmark's own name (`ImageNet16-120`, ...).
    pub fn benchmark_name(self) -> &'static str {
        match self {
            Dataset::ImageNet16 => "ImageNet16-120",
            other => other.name(),
        }
    }

    /// Number of classes.
    pub fn num_classes(self) -> u64 {
        match self {
            Dataset::Cifar10Valid | Dataset::Cifar10 => 10,
            Dataset::Cifar100 => 100,
            Dataset::ImageNet16 => 120,
        }
    }

    /// Input resolution (32 for CIFAR, 16 for ImageNet16-120).
    pub fn resolution(self) -> u64 {
        match self {
            Dataset::ImageNet16 => 16,
            _ => 32,
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dataset {
    type Err = BenchError;

    /// Accepts the short names and the benchmark names (`ImageNet16-120`).
    fn from_str(s: &str) -> Result<Self, BenchError> {
        match s {
            "cifar10-valid" => Ok(Dataset::Cifar10Valid),
            "cifar10" => Ok(Dataset::Cifar10),
            "cifar100" => Ok(Dataset::Cifar100),
            "imagenet16" | "ImageNet16-120" | "imagenet16-120" => Ok(Dataset::ImageNet16),
            _ => Err(BenchError::UnknownDataset {
                name: s.to_string(),
            }),
        }
    }
}

/// Which accuracy a search optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Signal {
    /// The 200-epoch validation accuracy (the standard protocol).
    #[default]
    #[serde(rename = "valid200")]
    Valid200,
    /// The 12-epoch-schedule accuracy (a test-split proxy).
    #[serde(rename = "hp12")]
    Hp12,
}

impl Signal {
    /// `valid200` or `hp12`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Valid200 => "valid200",
            Signal::Hp12 => "hp12",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Signal {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, BenchError> {
        match s {
            "valid200" => Ok(Signal::Valid200),
            "hp12" => Ok(Signal::Hp12),
            _ => Err(BenchError::UnknownSignal {
                name: s.to_string(),
            }),
        }
    }
}

/// What the benchmark recorded for one cell on one dataset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// Benchmark index of the cell.
    pub index: usize,
    /// 200-epoch training accuracy (%), where the benchmark has it for this dataset.
    pub train_acc: Option<f64>,
    /// 200-epoch validation accuracy (%): the `valid200` signal (cifar10-valid's for CIFAR-10).
    pub valid_acc: f64,
    /// 200-epoch test accuracy (%): the reported number.
    pub test_acc: f64,
    /// 12-epoch-schedule accuracy (%): the `hp12` signal.
    pub hp12_acc: f64,
    /// Parameters, millions (exact).
    pub params_m: f64,
    /// FLOPs, millions (exact).
    pub flops_m: f64,
    /// Simulated cost of one query in seconds (see the crate docs).
    pub cost_s: f64,
}

impl BenchResult {
    /// The accuracy a search with `signal` sees.
    pub fn signal(&self, signal: Signal) -> f64 {
        match signal {
            Signal::Valid200 => self.valid_acc,
            Signal::Hp12 => self.hp12_acc,
        }
    }
}

/// NAS-Bench-201 as a [`Problem`] with an [`Oracle`]: the table with one search signal, on the
/// three searched datasets.
#[derive(Debug, Clone, Copy)]
pub struct Nb201Benchmark<'t> {
    table: &'t Nb201Table,
    signal: Signal,
}

impl<'t> Nb201Benchmark<'t> {
    /// The table searched with `signal`.
    pub fn new(table: &'t Nb201Table, signal: Signal) -> Self {
        Self { table, signal }
    }

    /// The table.
    pub fn table(&self) -> &'t Nb201Table {
        self.table
    }

    /// The signal.
    pub fn signal(&self) -> Signal {
        self.signal
    }
}

impl Problem for Nb201Benchmark<'_> {
    type Space = Nb201Space;
    type Task = Dataset;
    type Evaluator<'b>
        = Nb201Evaluator<'b>
    where
        Self: 'b;
    type Error = std::convert::Infallible;

    fn space(&self) -> &Nb201Space {
        &Nb201Space
    }

    fn tasks(&self) -> Vec<Dataset> {
        Dataset::SEARCHED.to_vec()
    }

    fn signal_name(&self) -> &str {
        self.signal.name()
    }

    fn task_title(&self, task: &Dataset) -> String {
        task.benchmark_name().to_string()
    }

    fn evaluator(&self, task: &Dataset, _seed: u64) -> Result<Nb201Evaluator<'_>, Self::Error> {
        Ok(Nb201Evaluator::new(self.table, *task, self.signal))
    }

    fn oracle(&self) -> Option<&dyn Oracle<Nb201Cell, Dataset>> {
        Some(self)
    }
}

impl Oracle<Nb201Cell, Dataset> for Nb201Benchmark<'_> {
    fn signal_acc(&self, arch: &Nb201Cell, task: &Dataset) -> f64 {
        self.table.lookup(arch, *task).signal(self.signal)
    }

    fn test_acc(&self, arch: &Nb201Cell, task: &Dataset) -> f64 {
        self.table.lookup(arch, *task).test_acc
    }

    fn index_of(&self, arch: &Nb201Cell) -> Option<usize> {
        Some(self.table.index_of(arch))
    }

    fn optimum_test_acc(&self, task: &Dataset) -> f64 {
        self.table.optimum_test_acc(*task)
    }

    fn best_by_signal(&self, task: &Dataset) -> Nb201Cell {
        self.table.best_by(*task, self.signal).0
    }
}

impl Nb201Table {
    /// What the benchmark recorded for `cell` on `dataset` (O(1)).
    pub fn lookup(&self, cell: &Nb201Cell, dataset: Dataset) -> BenchResult {
        let i = self.index_of(cell);
        let v = |c| self.value(i, c);
        let (train, valid, test, hp12) = match dataset {
            Dataset::Cifar10Valid => (
                Some(v(col::C10V_TRAIN)),
                v(col::C10V_VALID),
                v(col::C10V_TEST),
                v(col::HP12_C10),
            ),
            Dataset::Cifar10 => (
                None,
                v(col::C10V_VALID),
                v(col::NATS_C10_TEST),
                v(col::HP12_C10),
            ),
            Dataset::Cifar100 => (
                Some(v(col::C100_TRAIN)),
                v(col::C100_VALID),
                v(col::C100_TEST),
                v(col::HP12_C100),
            ),
            Dataset::ImageNet16 => (
                Some(v(col::IN16_TRAIN)),
                v(col::IN16_VALID),
                v(col::IN16_TEST),
                v(col::HP12_IN16),
            ),
        };
        let k = dataset.num_classes();
        BenchResult {
            index: i,
            train_acc: train,
            valid_acc: valid,
            test_acc: test,
            hp12_acc: hp12,
            params_m: cell.params(k) as f64 / 1e6,
            flops_m: cell
                .flops(k, dataset.resolution())
                .expect("fixed valid resolution") as f64
                / 1e6,
            cost_s: 12.0 * v(col::TRAIN_TIME_EPOCH) + v(col::VALID_TIME_EPOCH),
        }
    }

    /// The cell with the highest `signal` on `dataset` (ties: lowest index) and its result:
    /// the ceiling a search with that signal aims at.
    pub fn best_by(&self, dataset: Dataset, signal: Signal) -> (Nb201Cell, BenchResult) {
        let mut best: Option<(Nb201Cell, BenchResult)> = None;
        for i in 0..self.len() {
            let cell = self.cell(i).expect("index in range");
            let r = self.lookup(&cell, dataset);
            if best.is_none_or(|(_, b)| r.signal(signal) > b.signal(signal)) {
                best = Some((cell, r));
            }
        }
        best.expect("the table is never empty")
    }

    /// The highest test accuracy of any cell on `dataset` (the benchmark optimum).
    pub fn optimum_test_acc(&self, dataset: Dataset) -> f64 {
        (0..self.len())
            .map(|i| {
                self.lookup(&self.cell(i).expect("index in range"), dataset)
                    .test_acc
            })
            .fold(f64::MIN, f64::max)
    }
}

/// Scores NAS-Bench-201 cells from the table: score = the chosen signal on the chosen
/// dataset, cost = the simulated query cost.
#[derive(Debug, Clone, Copy)]
pub struct Nb201Evaluator<'t> {
    table: &'t Nb201Table,
    dataset: Dataset,
    signal: Signal,
}

impl<'t> Nb201Evaluator<'t> {
    /// An evaluator on `dataset` with `signal`.
    pub fn new(table: &'t Nb201Table, dataset: Dataset, signal: Signal) -> Self {
        Self {
            table,
            dataset,
            signal,
        }
    }

    /// The table.
    pub fn table(&self) -> &'t Nb201Table {
        self.table
    }

    /// The dataset.
    pub fn dataset(&self) -> Dataset {
        self.dataset
    }

    /// The signal.
    pub fn signal(&self) -> Signal {
        self.signal
    }
}

impl Evaluator<Nb201Cell> for Nb201Evaluator<'_> {
    type Error = BenchError;

    fn evaluate(&mut self, arch: &Nb201Cell) -> Result<Evaluation, BenchError> {
        let r = self.table.lookup(arch, self.dataset);
        let score = r.signal(self.signal);
        for (what, value) in [("signal", score), ("cost", r.cost_s)] {
            if !value.is_finite() {
                return Err(BenchError::NotFinite {
                    what,
                    arch: arch.to_string(),
                    value,
                });
            }
        }
        Ok(Evaluation {
            score,
            cost_s: r.cost_s,
        })
    }
}
