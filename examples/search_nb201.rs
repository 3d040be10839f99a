//! The NAS-Bench-201 search protocol of DSM-NAS, on the embedded table, side by side with the
//! benchmark's baselines.
//!
//! ```text
//! cargo run --release --example search_nb201                      # the published protocol
//! cargo run --release --example search_nb201 -- --dataset cifar100,imagenet16 --transfer
//! cargo run --release --example search_nb201 -- --signal hp12 --reference-compat --out runs/compat
//! ```
//! Defaults: 20 trials (seeds 23555 + i), K = 3, 4 edits per step, budget 25,000 simulated
//! seconds and 200 iterations, signal `valid200`, CIFAR-10, methods DSM-NAS, random search,
//! REA and REINFORCE. Writes `DIR/results.json`, `DIR/curves.svg` and a picture of the best
//! cell of each method, `DIR/best_<method>_<dataset>.svg` (DIR defaults to a new
//! timestamped folder under `runs/`) and prints a table like the paper's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use dsm_nas::bench::{Dataset, Nb201Evaluator, Nb201Table, Signal};
use dsm_nas::miner::{
    Accounting, Budget, ControllerEngine, DsmConfig, DsmNas, RandomSearch, RegularizedEvolution,
    Reinforce, SearchOutcome, Searcher, seeded_rng,
};
use dsm_nas::space::{Nb201Cell, Nb201Space};
use serde::{Deserialize, Serialize};

#[derive(Parser, Debug, Clone, Serialize)]
#[command(about = "DSM-NAS and baselines on the NAS-Bench-201 table")]
struct Args {
    /// Datasets to search, comma-separated: cifar10, cifar100, imagenet16.
    #[arg(long, default_value = "cifar10", value_delimiter = ',')]
    dataset: Vec<String>,
    /// Search signal: valid200 (200-epoch validation accuracy) or hp12 (12-epoch proxy).
    #[arg(long, default_value = "valid200")]
    signal: String,
    /// Independent trials per method; trial i uses seed `seed + i`.
    #[arg(long, default_value_t = 20)]
    trials: usize,
    /// Methods, comma-separated: dsm-nas, random, rea, reinforce.
    #[arg(
        long,
        default_value = "dsm-nas,random,rea,reinforce",
        value_delimiter = ','
    )]
    methods: Vec<String>,
    /// Budget of simulated training seconds.
    #[arg(long, default_value_t = 25_000.0)]
    budget_s: f64,
    /// Iteration limit (the search stops after max_iters + 1 queries at most).
    #[arg(long, default_value_t = 200)]
    max_iters: usize,
    /// DSM-NAS: number of candidate subspaces K.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// DSM-NAS: edits sampled per step.
    #[arg(long, default_value_t = 4)]
    n_steps: usize,
    /// DSM-NAS: controller learning rate (default: the published 0.009446763714621489).
    #[arg(long)]
    lr: Option<f64>,
    /// Also run DSM-NAS+ on CIFAR-100 / ImageNet16-120, its anchors seeded with the final
    /// anchors of the CIFAR-10 DSM-NAS search of the same seed.
    #[arg(long)]
    transfer: bool,
    /// DSM-NAS controller implementation: native (hand-derived gradients, checked against
    /// Burn's autodiff) or burn (the Burn module with Burn's autodiff and Adam).
    #[arg(long, default_value = "native")]
    controller: String,
    /// DSM-NAS: reproduce the reference implementation's in-place edits.
    #[arg(long)]
    reference_compat: bool,
    /// Query accounting: repeated (every query charged, the published protocol) or distinct
    /// (each distinct architecture charged once per trial).
    #[arg(long, default_value = "repeated")]
    accounting: String,
    /// Output folder (default: a new timestamped folder under runs/).
    #[arg(long)]
    #[serde(skip)] // where and how it runs, not what it computes
    out: Option<PathBuf>,
    /// Overwrite an existing results.json (and checkpoint) in --out.
    #[arg(long, conflicts_with = "resume")]
    #[serde(skip)] // where and how it runs, not what it computes
    force: bool,
    /// Continue the run checkpointed in --out (every finished trial is checkpointed); starts
    /// afresh when --out holds no checkpoint yet.
    #[arg(long, requires = "out")]
    #[serde(skip)] // where and how it runs, not what it computes
    resume: bool,
    /// Base seed.
    #[arg(long, default_value_t = 23555)]
    seed: u64,
    /// Worker threads (0: one per core). Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    #[serde(skip)] // where and how it runs, not what it computes
    threads: usize,
}

#[derive(Serialize, Deserialize)]
struct PerDataset {
    cifar10: f64,
    cifar100: f64,
    imagenet16: f64,
}

#[derive(Serialize, Deserialize)]
struct History {
    cost_s: Vec<f64>,
    best_signal: Vec<f64>,
    best_test_acc: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct TrialRecord {
    method: String,
    dataset: String,
    signal: String,
    seed: u64,
    best_arch: String,
    best_index: usize,
    test_acc: f64,
    signal_acc: f64,
    test_acc_all: PerDataset,
    signal_acc_all: PerDataset,
    queries: usize,
    evaluations: usize,
    iterations: usize,
    cost_s: f64,
    wall_s: f64,
    history: History,
}

#[derive(Serialize)]
struct Summary {
    method: String,
    dataset: String,
    signal: String,
    trials: usize,
    mean_test_acc: f64,
    std_test_acc: f64,
    sem_test_acc: f64,
    mean_signal_acc: f64,
    mean_queries: f64,
    mean_cost_s: f64,
    benchmark_optimum: f64,
    signal_ceiling: f64,
}

#[derive(Serialize)]
struct Config {
    args: Args,
    datasets: Vec<String>,
    methods: Vec<String>,
    signal: String,
    accounting: String,
    budget: Budget,
    dsm: DsmConfig,
    rea: RegularizedEvolution,
    reinforce: Reinforce,
    seeds: Vec<u64>,
    versions: BTreeMap<&'static str, &'static str>,
    table_sha256: &'static str,
    protocol: &'static str,
}

#[derive(Serialize)]
struct Results {
    config: Config,
    summary: Vec<Summary>,
    trials: Vec<TrialRecord>,
}

const METHODS: [&str; 4] = ["dsm-nas", "random", "rea", "reinforce"];

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// The trials of one method on one dataset.
fn rows_of<'a>(trials: &'a [TrialRecord], dataset: Dataset, method: &str) -> Vec<&'a TrialRecord> {
    trials
        .iter()
        .filter(|t| t.dataset == dataset.name() && t.method == method)
        .collect()
}

/// One (dataset, method, trial) job.
#[derive(Clone)]
struct Job {
    dataset: Dataset,
    method: String,
    trial: usize,
}

fn run_job(
    job: &Job,
    args: &Args,
    signal: Signal,
    budget: Budget,
    dsm: &DsmConfig,
) -> Result<(SearchOutcome<Nb201Cell>, f64)> {
    let table = Nb201Table::embedded();
    let seed = args.seed + job.trial as u64;
    let mut eval = Nb201Evaluator::new(table, job.dataset, signal);
    let mut rng = seeded_rng(seed);
    let start = Instant::now();
    let out = match job.method.as_str() {
        "dsm-nas" => DsmNas::new(dsm.clone()).search(&Nb201Space, &mut eval, budget, &mut rng)?,
        "dsm-nas+" => {
            // The CIFAR-10 DSM-NAS search of the same seed provides the anchors.
            let mut source_eval = Nb201Evaluator::new(table, Dataset::Cifar10, signal);
            let source = DsmNas::new(dsm.clone()).search(
                &Nb201Space,
                &mut source_eval,
                budget,
                &mut seeded_rng(seed),
            )?;
            DsmNas::new(dsm.clone())
                .with_initial_anchors(source.final_anchors)
                .search(&Nb201Space, &mut eval, budget, &mut rng)?
        }
        "random" => RandomSearch.search(&Nb201Space, &mut eval, budget, &mut rng)?,
        "rea" => {
            RegularizedEvolution::default().search(&Nb201Space, &mut eval, budget, &mut rng)?
        }
        "reinforce" => Reinforce::default().search(&Nb201Space, &mut eval, budget, &mut rng)?,
        other => bail!("unknown method {other:?}"),
    };
    Ok((out, start.elapsed().as_secs_f64()))
}

fn record(
    job: &Job,
    args: &Args,
    signal: Signal,
    out: &SearchOutcome<Nb201Cell>,
    wall_s: f64,
) -> TrialRecord {
    let table = Nb201Table::embedded();
    let all = |f: &dyn Fn(Dataset) -> f64| PerDataset {
        cifar10: f(Dataset::Cifar10),
        cifar100: f(Dataset::Cifar100),
        imagenet16: f(Dataset::ImageNet16),
    };
    let r = table.lookup(&out.best, job.dataset);
    TrialRecord {
        method: job.method.clone(),
        dataset: job.dataset.name().to_string(),
        signal: signal.name().to_string(),
        seed: args.seed + job.trial as u64,
        best_arch: out.best.to_string(),
        best_index: r.index,
        test_acc: r.test_acc,
        signal_acc: r.signal(signal),
        test_acc_all: all(&|d| table.lookup(&out.best, d).test_acc),
        signal_acc_all: all(&|d| table.lookup(&out.best, d).signal(signal)),
        queries: out.queries,
        evaluations: out.evaluations,
        iterations: out.iterations,
        cost_s: out.cost_s,
        wall_s,
        history: History {
            cost_s: out.history.iter().map(|h| h.cost_s).collect(),
            best_signal: out.history.iter().map(|h| h.best_score).collect(),
            best_test_acc: out
                .history
                .iter()
                .map(|h| table.lookup(&h.best, job.dataset).test_acc)
                .collect(),
        },
    }
}

/// `runs/search_nb201-YYYYmmdd-HHMMSS[-n]`, a folder that does not exist yet.
fn default_out_dir() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let stamp = format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    let base = PathBuf::from("runs").join(format!("search_nb201-{stamp}"));
    let mut dir = base.clone();
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = PathBuf::from(format!("{}-{n}", base.display()));
    }
    dir
}

fn run() -> Result<()> {
    let args = Args::parse();
    let signal: Signal = args.signal.parse()?;
    let accounting = match args.accounting.as_str() {
        "repeated" => Accounting::Repeated,
        "distinct" => Accounting::Distinct,
        other => bail!("unknown --accounting {other:?}; expected repeated or distinct"),
    };
    let datasets: Vec<Dataset> = args
        .dataset
        .iter()
        .map(|d| d.parse())
        .collect::<Result<_, _>>()?;
    if datasets.contains(&Dataset::Cifar10Valid) {
        bail!(
            "--dataset cifar10-valid is not a search target; use cifar10 (its signal is the cifar10-valid accuracy)"
        );
    }
    for m in &args.methods {
        if !METHODS.contains(&m.as_str()) {
            bail!(
                "unknown method {m:?} in --methods; expected some of {}",
                METHODS.join(", ")
            );
        }
    }
    if args.trials == 0 {
        bail!("--trials must be at least 1");
    }
    let budget = Budget {
        time_s: args.budget_s,
        max_iters: args.max_iters,
        accounting,
    };
    budget.check()?;
    let mut dsm = DsmConfig {
        k: args.k,
        n_steps: args.n_steps,
        reference_compat: args.reference_compat,
        ..DsmConfig::default()
    };
    dsm.engine = match args.controller.as_str() {
        "native" => ControllerEngine::Native,
        "burn" => ControllerEngine::Burn,
        other => bail!("unknown --controller {other:?}; expected native or burn"),
    };
    if let Some(lr) = args.lr {
        dsm.learning_rate = lr;
    }
    dsm.check()?;

    let mut methods: Vec<String> = args.methods.clone();
    if args.transfer
        && datasets.iter().any(|d| *d != Dataset::Cifar10)
        && !methods.iter().any(|m| m == "dsm-nas+")
    {
        methods.push("dsm-nas+".into());
    }
    let mut jobs = Vec::new();
    for &dataset in &datasets {
        for method in &methods {
            if method == "dsm-nas+" && dataset == Dataset::Cifar10 {
                continue;
            }
            for trial in 0..args.trials {
                jobs.push(Job {
                    dataset,
                    method: method.clone(),
                    trial,
                });
            }
        }
    }

    // Checkpoints: one file per finished trial, under DIR/checkpoint/, with the fingerprint
    // of everything that determines the results.
    let out_dir = args.out.clone().unwrap_or_else(default_out_dir);
    let results_path = out_dir.join("results.json");
    let ckpt = checkpoint::Store::new(
        &out_dir,
        &fingerprint(&args, &datasets, &methods, signal, budget, &dsm)?,
    );
    if !args.force && !args.resume {
        if results_path.exists() {
            bail!(
                "{} already exists; pass --force to overwrite it, --resume to continue, or choose another --out",
                results_path.display()
            );
        }
        if ckpt.exists() {
            bail!(
                "{} holds a checkpoint of an unfinished run; pass --resume to continue it or --force to start over",
                out_dir.display()
            );
        }
    }
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut restored: Vec<Option<TrialRecord>> = (0..jobs.len()).map(|_| None).collect();
    if args.resume {
        for (i, record) in ckpt.load(jobs.len())? {
            restored[i] = Some(record);
        }
    }
    ckpt.start(args.force)?;

    let threads = if args.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        args.threads
    };
    let bar = indicatif::ProgressBar::new(jobs.len() as u64);
    bar.set_position(restored.iter().filter(|r| r.is_some()).count() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} searches {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let next = Mutex::new(0usize);
    let done: Mutex<Vec<Option<Result<TrialRecord>>>> =
        Mutex::new(restored.into_iter().map(|r| r.map(Ok)).collect());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.min(jobs.len()) {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().expect("no poisoned lock");
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(job) = jobs.get(i) else { break };
                    if done.lock().expect("no poisoned lock")[i].is_some() {
                        continue; // restored from the checkpoint
                    }
                    let r = run_job(job, &args, signal, budget, &dsm)
                        .map(|(out, wall)| record(job, &args, signal, &out, wall))
                        .and_then(|rec| ckpt.save(i, &rec).map(|_| rec));
                    done.lock().expect("no poisoned lock")[i] = Some(r);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let wall = start.elapsed().as_secs_f64();
    let trials: Vec<TrialRecord> = done
        .into_inner()
        .expect("no poisoned lock")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect::<Result<_>>()?;

    let table = Nb201Table::embedded();
    let mut summary = Vec::new();
    for &dataset in &datasets {
        let optimum = table.optimum_test_acc(dataset);
        let ceiling = table.best_by(dataset, signal).1.test_acc;
        for method in &methods {
            let rows = rows_of(&trials, dataset, method);
            if rows.is_empty() {
                continue;
            }
            let (mean, std) = mean_std(&rows.iter().map(|t| t.test_acc).collect::<Vec<_>>());
            let n = rows.len() as f64;
            summary.push(Summary {
                method: method.clone(),
                dataset: dataset.name().to_string(),
                signal: signal.name().to_string(),
                trials: rows.len(),
                mean_test_acc: mean,
                std_test_acc: std,
                sem_test_acc: std / n.sqrt(),
                mean_signal_acc: rows.iter().map(|t| t.signal_acc).sum::<f64>() / n,
                mean_queries: rows.iter().map(|t| t.queries as f64).sum::<f64>() / n,
                mean_cost_s: rows.iter().map(|t| t.cost_s).sum::<f64>() / n,
                benchmark_optimum: optimum,
                signal_ceiling: ceiling,
            });
        }
    }

    let versions = BTreeMap::from([
        ("dsm-nas", env!("CARGO_PKG_VERSION")),
        ("burn", "0.22.1"),
        ("results_format", "1"),
    ]);
    let results = Results {
        config: Config {
            args: args.clone(),
            datasets: datasets.iter().map(|d| d.name().to_string()).collect(),
            methods: methods.clone(),
            signal: signal.name().into(),
            accounting: accounting.name().into(),
            budget,
            dsm: dsm.clone(),
            rea: RegularizedEvolution::default(),
            reinforce: Reinforce::default(),
            seeds: (0..args.trials as u64).map(|i| args.seed + i).collect(),
            versions,
            table_sha256: "e7eae0ba5b68459c0b7160f0d9a19742d24342766d2b00586f06b10fb523ca29",
            protocol: "initial K anchors / REA population free; each query charged its simulated cost (12 x train time per epoch + valid time, cifar10-valid); stop after the query that makes the cost exceed budget_s or after max_iters + 1 queries; answer = best by signal; reported = 200-epoch test accuracy",
        },
        summary,
        trials,
    };
    checkpoint::write_atomic(
        &results_path,
        serde_json::to_string_pretty(&results)?.as_bytes(),
    )?;
    // A picture of the best cell (by signal) of each method and dataset.
    for &dataset in &datasets {
        for method in &methods {
            let best = rows_of(&results.trials, dataset, method).into_iter().fold(
                None::<&TrialRecord>,
                |b, t| match b {
                    Some(b) if b.signal_acc >= t.signal_acc => Some(b),
                    _ => Some(t),
                },
            );
            if let Some(t) = best {
                let cell: Nb201Cell = t.best_arch.parse()?;
                let title = format!(
                    "{method} on {}: best of {} trials (signal {:.2}, test {:.2})",
                    dataset.name(),
                    args.trials,
                    t.signal_acc,
                    t.test_acc
                );
                let svg = dsm_nas::draw::nb201_cell(
                    &cell,
                    &dsm_nas::draw::CellOptions {
                        skeleton: true,
                        title: Some(title),
                    },
                );
                checkpoint::write_atomic(
                    &out_dir.join(format!("best_{method}_{}.svg", dataset.name())),
                    svg.as_bytes(),
                )?;
            }
        }
    }
    let svg = out_dir.join("curves.svg");
    curves::write(&svg, &results.trials, &datasets, &methods, args.budget_s)?;

    for &dataset in &datasets {
        let rows: Vec<&Summary> = results
            .summary
            .iter()
            .filter(|s| s.dataset == dataset.name())
            .collect();
        let Some(first) = rows.first() else { continue };
        println!(
            "\n{} | signal {} | {} trials | budget {} s, {} iterations | accounting {}",
            dataset.benchmark_name(),
            signal,
            args.trials,
            args.budget_s,
            args.max_iters,
            accounting.name()
        );
        println!(
            "{:<12} {:>16} {:>10} {:>12}",
            "method", "test acc (%)", "queries", "cost (s)"
        );
        for s in &rows {
            println!(
                "{:<12} {:>8.2} ± {:<5.2} {:>10.1} {:>12.0}",
                s.method, s.mean_test_acc, s.std_test_acc, s.mean_queries, s.mean_cost_s
            );
        }
        println!(
            "{:<12} {:>8.2}  (best by {}: {:.2})",
            "optimum", first.benchmark_optimum, signal, first.signal_ceiling
        );
    }
    println!(
        "\nwrote {} and {} ({:.2} s wall, {} threads)",
        results_path.display(),
        svg.display(),
        wall,
        threads
    );
    Ok(())
}

/// Fingerprint of everything that determines the results (not --out, --force, --resume,
/// --threads): a checkpoint from another configuration is refused.
fn fingerprint(
    args: &Args,
    datasets: &[Dataset],
    methods: &[String],
    signal: Signal,
    budget: Budget,
    dsm: &DsmConfig,
) -> Result<String> {
    let names: Vec<&str> = datasets.iter().map(|d| d.name()).collect();
    let key = serde_json::to_string(&(
        names,
        methods,
        signal.name(),
        budget,
        dsm,
        args.trials,
        args.seed,
        RegularizedEvolution::default(),
        Reinforce::default(),
        env!("CARGO_PKG_VERSION"),
    ))?;
    let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    });
    Ok(format!("{h:016x}"))
}

mod checkpoint {
    //! Crash-safe checkpoints of finished trials: DIR/checkpoint/meta.json (format and
    //! configuration fingerprint) and one DIR/checkpoint/trial-<job>.json per finished trial,
    //! each written to a temporary file, fsynced and renamed into place.

    use std::path::{Path, PathBuf};

    use anyhow::{Context, Result, bail};
    use serde::{Deserialize, Serialize};

    use super::TrialRecord;

    const FORMAT: u32 = 1;

    #[derive(Serialize, Deserialize, PartialEq)]
    struct Meta {
        format: u32,
        fingerprint: String,
    }

    pub struct Store {
        dir: PathBuf,
        fingerprint: String,
    }

    /// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
    pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
        dsm_nas::space::io::write_atomic(path, bytes)
            .with_context(|| format!("saving {}", path.display()))
    }

    impl Store {
        pub fn new(out_dir: &Path, fingerprint: &str) -> Self {
            Self {
                dir: out_dir.join("checkpoint"),
                fingerprint: fingerprint.to_string(),
            }
        }

        pub fn exists(&self) -> bool {
            self.dir.join("meta.json").exists()
        }

        /// The finished trials of a checkpoint of this very configuration (none if there is
        /// no checkpoint); a checkpoint of another configuration or format is an error.
        pub fn load(&self, jobs: usize) -> Result<Vec<(usize, TrialRecord)>> {
            let meta_path = self.dir.join("meta.json");
            if !meta_path.exists() {
                return Ok(Vec::new());
            }
            let meta: Meta = serde_json::from_slice(
                &std::fs::read(&meta_path)
                    .with_context(|| format!("reading {}", meta_path.display()))?,
            )
            .with_context(|| format!("{} is not a checkpoint manifest", meta_path.display()))?;
            if meta.format != FORMAT {
                bail!(
                    "{} has checkpoint format {}, this version reads format {FORMAT}; refusing to resume from it",
                    meta_path.display(),
                    meta.format
                );
            }
            if meta.fingerprint != self.fingerprint {
                bail!(
                    "{} was written by a run with other settings (fingerprint {} vs {}); resume with the same arguments or start over with --force",
                    meta_path.display(),
                    meta.fingerprint,
                    self.fingerprint
                );
            }
            let mut out = Vec::new();
            for i in 0..jobs {
                let p = self.dir.join(format!("trial-{i}.json"));
                if p.exists() {
                    let bytes =
                        std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
                    let rec: TrialRecord = serde_json::from_slice(&bytes)
                        .with_context(|| format!("{} is corrupt", p.display()))?;
                    out.push((i, rec));
                }
            }
            Ok(out)
        }

        /// Starts (or continues) checkpointing; `fresh` removes an old checkpoint first.
        pub fn start(&self, fresh: bool) -> Result<()> {
            if fresh && self.dir.exists() {
                std::fs::remove_dir_all(&self.dir)
                    .with_context(|| format!("removing {}", self.dir.display()))?;
            }
            std::fs::create_dir_all(&self.dir)
                .with_context(|| format!("creating {}", self.dir.display()))?;
            let meta = Meta {
                format: FORMAT,
                fingerprint: self.fingerprint.clone(),
            };
            write_atomic(&self.dir.join("meta.json"), &serde_json::to_vec(&meta)?)
        }

        pub fn save(&self, job: usize, record: &TrialRecord) -> Result<()> {
            write_atomic(
                &self.dir.join(format!("trial-{job}.json")),
                &serde_json::to_vec(record)?,
            )
        }
    }
}

mod curves {
    //! Best-so-far test accuracy against simulated seconds: mean and +-1 std band per method.

    use std::path::Path;

    use anyhow::{Context, Result};
    use dsm_nas::bench::Dataset;
    use plotters::prelude::*;

    use super::TrialRecord;

    const COLORS: [RGBColor; 6] = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ];

    /// Best-so-far test accuracy of one trial at simulated time `t` (None before the first
    /// evaluation).
    fn at(trial: &TrialRecord, t: f64) -> Option<f64> {
        let h = &trial.history;
        let n = h.cost_s.partition_point(|&c| c <= t);
        (n > 0).then(|| h.best_test_acc[n - 1])
    }

    pub fn write(
        path: &Path,
        trials: &[TrialRecord],
        datasets: &[Dataset],
        methods: &[String],
        budget_s: f64,
    ) -> Result<()> {
        let width = 640 * datasets.len() as u32;
        let root = SVGBackend::new(path, (width, 440)).into_drawing_area();
        root.fill(&WHITE)?;
        let panels = root.split_evenly((1, datasets.len()));
        let grid: Vec<f64> = (0..=100).map(|i| budget_s * i as f64 / 100.0).collect();
        for (panel, dataset) in panels.iter().zip(datasets) {
            let mut series = Vec::new();
            for (m, method) in methods.iter().enumerate() {
                let rows = super::rows_of(trials, *dataset, method);
                if rows.is_empty() {
                    continue;
                }
                let mut pts = Vec::new();
                for &t in &grid {
                    let v: Vec<f64> = rows.iter().filter_map(|r| at(r, t)).collect();
                    if v.len() == rows.len() {
                        let (mean, std) = super::mean_std(&v);
                        pts.push((t, mean, std));
                    }
                }
                series.push((method.clone(), COLORS[m % COLORS.len()], pts));
            }
            let lo = series
                .iter()
                .flat_map(|s| s.2.iter().map(|p| p.1 - p.2))
                .fold(f64::INFINITY, f64::min);
            let hi = series
                .iter()
                .flat_map(|s| s.2.iter().map(|p| p.1 + p.2))
                .fold(f64::NEG_INFINITY, f64::max);
            let (lo, hi) = if lo.is_finite() {
                (lo.floor(), hi.ceil())
            } else {
                (0.0, 100.0)
            };
            let mut chart = ChartBuilder::on(panel)
                .caption(
                    format!("{} (best-so-far test accuracy)", dataset.benchmark_name()),
                    ("sans-serif", 18),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(50)
                .build_cartesian_2d(0.0..budget_s, lo..hi)?;
            chart
                .configure_mesh()
                .x_desc("simulated search time (s)")
                .y_desc("test accuracy (%)")
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| format!("{y:.1}"))
                .draw()?;
            for (name, color, pts) in &series {
                let mut band: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1 + p.2)).collect();
                band.extend(pts.iter().rev().map(|p| (p.0, p.1 - p.2)));
                chart.draw_series(std::iter::once(Polygon::new(
                    band,
                    color.mix(0.15).filled(),
                )))?;
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().map(|p| (p.0, p.1)),
                        color.stroke_width(2),
                    ))?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
