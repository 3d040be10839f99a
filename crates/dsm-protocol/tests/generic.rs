//! The protocol on a second, tiny benchmark that has nothing of NAS-Bench-201: its own
//! space (4 positions x 3 options), two tasks, its own evaluator; every method, a transfer
//! method, parallel trials, the checkpoint store, and the summary statistics.

use std::collections::BTreeMap;
use std::fmt;

use dsm_bench::{Assessment, FnProblem, Oracle, Problem};
use dsm_miner::{DsmConfig, DsmNas, RandomSearch, RegularizedEvolution, Reinforce};
use dsm_protocol::{Execution, Method, Plan, TrialStore, run_trials, summarise, task_facts};
use dsm_space::{Evaluation, Evaluator, SearchSpace, SpaceError};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Code(Vec<usize>);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: Vec<String> = self.0.iter().map(|c| c.to_string()).collect();
        f.write_str(&s.join("-"))
    }
}

struct Tiny;

impl SearchSpace for Tiny {
    type Arch = Code;
    fn name(&self) -> &str {
        "tiny"
    }
    fn num_positions(&self) -> usize {
        4
    }
    fn num_choices(&self, p: usize) -> usize {
        if p < 4 { 3 } else { 0 }
    }
    fn choices_of(&self, a: &Code) -> Vec<usize> {
        a.0.clone()
    }
    fn arch_from_choices(&self, c: &[usize]) -> Result<Code, SpaceError> {
        if c.len() != 4 {
            return Err(SpaceError::WrongLength {
                what: "tiny choices",
                found: c.len(),
                expected: 4,
            });
        }
        if let Some(p) = c.iter().position(|&x| x > 2) {
            return Err(SpaceError::InvalidEdit {
                position: p,
                choice: c[p],
                positions: 4,
                choices: 3,
            });
        }
        Ok(Code(c.to_vec()))
    }
    fn parse(&self, text: &str) -> Result<Code, SpaceError> {
        let c: Vec<usize> = text.split('-').map(|x| x.parse().unwrap_or(9)).collect();
        self.arch_from_choices(&c)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Task {
    Easy,
    Hard,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Easy => "easy",
            Task::Hard => "hard",
        })
    }
}

/// Signal: a weighted sum of the choices (best 2-2-2-2 on easy, 0-2-0-2 on hard); the
/// reported accuracy is the signal plus a small architecture-dependent offset.
fn signal(a: &Code, t: Task) -> f64 {
    let w = match t {
        Task::Easy => [1.0, 2.0, 3.0, 4.0],
        Task::Hard => [-1.0, 2.0, -3.0, 4.0],
    };
    50.0 + a.0.iter().zip(w).map(|(&c, w)| c as f64 * w).sum::<f64>()
}

fn test(a: &Code, t: Task) -> f64 {
    signal(a, t) + 0.1 * a.0[0] as f64
}

struct TinyBench;

struct TinyEval(Task);

impl Evaluator<Code> for TinyEval {
    type Error = std::convert::Infallible;
    fn evaluate(&mut self, a: &Code) -> Result<Evaluation, Self::Error> {
        Ok(Evaluation {
            score: signal(a, self.0),
            cost_s: 10.0 + a.0[3] as f64,
        })
    }
}

fn all() -> Vec<Code> {
    (0..81)
        .map(|i| Code(vec![i % 3, i / 3 % 3, i / 9 % 3, i / 27]))
        .collect()
}

impl Problem for TinyBench {
    type Space = Tiny;
    type Task = Task;
    type Evaluator<'b> = TinyEval;
    type Error = std::convert::Infallible;
    fn space(&self) -> &Tiny {
        &Tiny
    }
    fn tasks(&self) -> Vec<Task> {
        vec![Task::Easy, Task::Hard]
    }
    fn signal_name(&self) -> &str {
        "weighted"
    }
    fn evaluator(&self, task: &Task, _seed: u64) -> Result<TinyEval, Self::Error> {
        Ok(TinyEval(*task))
    }
    fn oracle(&self) -> Option<&dyn Oracle<Code, Task>> {
        Some(self)
    }
}

impl Oracle<Code, Task> for TinyBench {
    fn signal_acc(&self, a: &Code, t: &Task) -> f64 {
        signal(a, *t)
    }
    fn test_acc(&self, a: &Code, t: &Task) -> f64 {
        test(a, *t)
    }
    fn optimum_test_acc(&self, t: &Task) -> f64 {
        all().iter().map(|a| test(a, *t)).fold(f64::MIN, f64::max)
    }
    fn best_by_signal(&self, t: &Task) -> Code {
        let mut best = all()[0].clone();
        for a in all() {
            if signal(&a, *t) > signal(&best, *t) {
                best = a;
            }
        }
        best
    }
}

/// The same tasks without a table: each trial's evaluator adds noise its seed fixes, and
/// the answer is assessed by a "final training" (here: the noiseless test value) and one
/// more measure.
struct Noisy;

struct NoisyEval(Task, u64);

impl Evaluator<Code> for NoisyEval {
    type Error = std::convert::Infallible;
    fn evaluate(&mut self, a: &Code) -> Result<Evaluation, Self::Error> {
        let noise = ((self.1 * 31 + a.0.iter().sum::<usize>() as u64) % 5) as f64 / 10.0;
        Ok(Evaluation {
            score: signal(a, self.0) + noise,
            cost_s: 10.0,
        })
    }
}

#[derive(Debug)]
struct Refused;
impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no data for seed 13")
    }
}
impl std::error::Error for Refused {}

impl Problem for Noisy {
    type Space = Tiny;
    type Task = Task;
    type Evaluator<'b> = NoisyEval;
    type Error = Refused;
    fn space(&self) -> &Tiny {
        &Tiny
    }
    fn tasks(&self) -> Vec<Task> {
        vec![Task::Easy, Task::Hard]
    }
    fn signal_name(&self) -> &str {
        "noisy"
    }
    fn evaluator(&self, task: &Task, seed: u64) -> Result<NoisyEval, Refused> {
        if seed == 13 {
            return Err(Refused);
        }
        Ok(NoisyEval(*task, seed))
    }
    fn assess(&self, a: &Code, t: &Task, _seed: u64) -> Result<Assessment, Refused> {
        Ok(Assessment {
            test_acc: Some(test(a, *t)),
            measures: [("first".to_string(), a.0[0] as f64)].into(),
        })
    }
}

fn methods() -> Vec<Method<TinyBench>> {
    let dsm = DsmConfig {
        hidden: 8,
        ..DsmConfig::default()
    };
    let target = dsm.clone();
    vec![
        Method::new(DsmNas::<Code>::new(dsm.clone())),
        Method::new(RandomSearch),
        Method::new(RegularizedEvolution {
            population: 4,
            sample_size: 2,
        }),
        Method::new(Reinforce::default()),
        Method::Transfer {
            name: "dsm-nas+".into(),
            source_task: Task::Easy,
            source: Box::new(DsmNas::<Code>::new(dsm)),
            target: Box::new(move |anchors| {
                Box::new(DsmNas::new(target.clone()).with_initial_anchors(anchors))
            }),
        },
    ]
}

fn plan() -> Plan<Task> {
    Plan {
        tasks: vec![Task::Easy, Task::Hard],
        seeds: Plan::<Task>::consecutive(100, 6),
        workers: None,
        budget: dsm_miner::Budget {
            time_s: 400.0,
            max_iters: 60,
            ..Default::default()
        },
    }
}

#[test]
fn any_benchmark_any_method_any_number_of_threads() {
    let ms = methods();
    let one = run_trials(
        &TinyBench,
        &plan(),
        &ms,
        Execution {
            threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let four = run_trials(
        &TinyBench,
        &plan(),
        &ms,
        Execution {
            threads: 4,
            ..Default::default()
        },
    )
    .unwrap();
    let strip = |v: &[dsm_protocol::TrialRecord]| -> Vec<String> {
        v.iter().map(|t| t.fingerprint()).collect()
    };
    assert_eq!(strip(&one), strip(&four));
    // 5 methods on 2 tasks, the transfer one only on the task it does not come from.
    assert_eq!(one.len(), 6 * (4 * 2 + 1));
    let t = &one[0];
    assert_eq!(
        (t.method.as_str(), t.dataset.as_str(), t.seed),
        ("dsm-nas", "easy", 100)
    );
    assert_eq!(t.best_index, None);
    assert_eq!(t.test_acc_all.keys().collect::<Vec<_>>(), ["easy", "hard"]);
    assert_eq!(
        t.test_acc,
        Some(test(&Tiny.parse(&t.best_arch).unwrap(), Task::Easy))
    );
    assert!(
        one.iter()
            .any(|t| t.method == "dsm-nas+" && t.dataset == "hard")
    );
    assert!(
        !one.iter()
            .any(|t| t.method == "dsm-nas+" && t.dataset == "easy")
    );

    let facts = task_facts(&TinyBench, &plan().tasks);
    assert_eq!(facts[0].1.unwrap().best_signal, 50.0 + 2.0 * 10.0);
    let names: Vec<String> = ms.iter().map(|m| m.name().to_string()).collect();
    let summary = summarise(&one, "weighted", &facts, &names);
    assert_eq!(summary.len(), 9);
    for s in &summary {
        assert_eq!(s.trials, 6);
        assert!(s.ci95_test_acc[0] <= s.mean_test_acc && s.mean_test_acc <= s.ci95_test_acc[1]);
        assert!((0.0..=1.0).contains(&s.best_found_share.unwrap()));
        assert_eq!(
            (s.reported.as_deref(), s.benchmark_optimum.is_some()),
            (None, true)
        );
        assert_eq!(
            s.p_value_vs_dsm_nas.is_some(),
            s.method != "dsm-nas",
            "{}",
            s.method
        );
        assert_eq!(s.test.is_some(), s.method != "dsm-nas");
    }
    // The share of trials that found the best signal, by hand.
    for s in &summary {
        let task = if s.dataset == "easy" {
            Task::Easy
        } else {
            Task::Hard
        };
        let best = signal(&TinyBench.best_by_signal(&task), task);
        let found = one
            .iter()
            .filter(|t| t.dataset == s.dataset && t.method == s.method)
            .filter(|t| signal(&Tiny.parse(&t.best_arch).unwrap(), task) == best)
            .count();
        assert_eq!(s.best_found_share, Some(found as f64 / 6.0));
    }
}

#[test]
fn a_store_restores_finished_trials_and_refuses_other_settings() {
    let dir = std::env::temp_dir().join(format!("dsm-protocol-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ms = methods();
    let jobs = plan().jobs(&ms).len();
    let store = TrialStore::new(&dir, "fingerprint-a");
    store.start(true).unwrap();
    let full = run_trials(
        &TinyBench,
        &plan(),
        &ms,
        Execution {
            store: Some(&store),
            ..Default::default()
        },
    )
    .unwrap();
    // Lose some trials, as a kill would; a restored trial is not run again.
    for i in (0..jobs).step_by(3) {
        std::fs::remove_file(dir.join(format!("checkpoint/trial-{i}.json"))).unwrap();
    }
    let mut restored: BTreeMap<usize, _> = store.load(jobs).unwrap();
    assert_eq!(restored.len(), jobs - jobs.div_ceil(3));
    // A doctored restored record shows through: proof that it was not recomputed.
    let kept = *restored.keys().next().unwrap();
    restored.get_mut(&kept).unwrap().queries = 12_345;
    let resumed = run_trials(
        &TinyBench,
        &plan(),
        &ms,
        Execution {
            store: Some(&store),
            restored,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(resumed[kept].queries, 12_345);
    for (i, (a, b)) in full.iter().zip(&resumed).enumerate() {
        if i != kept {
            assert_eq!(a.fingerprint(), b.fingerprint(), "job {i}");
        }
    }
    let other = TrialStore::new(&dir, "fingerprint-b");
    let err = other.load(jobs).unwrap_err().to_string();
    assert!(err.contains("other settings"), "{err}");
    std::fs::write(dir.join("checkpoint/meta.json"), b"{ not json").unwrap();
    let err = store.load(jobs).unwrap_err().to_string();
    assert!(err.contains("is not a checkpoint manifest"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_problem_without_a_table_runs_through_the_same_loop() {
    let methods: Vec<Method<Noisy>> = vec![
        Method::new(DsmNas::<Code>::new(DsmConfig {
            hidden: 8,
            ..DsmConfig::default()
        })),
        Method::new(RandomSearch),
    ];
    let mut plan = Plan {
        tasks: Noisy.tasks(),
        seeds: vec![3, 1, 4],
        budget: dsm_miner::Budget {
            max_iters: 30,
            ..Default::default()
        },
        workers: None,
    };
    let trials = run_trials(&Noisy, &plan, &methods, Execution::default()).unwrap();
    assert_eq!(trials.len(), 2 * 2 * 3);
    // The seeds as given, in order; the signal is what the search saw, the test accuracy
    // the assessment's; no oracle, so nothing about other tasks or the curve of test values.
    assert_eq!(
        trials.iter().take(3).map(|t| t.seed).collect::<Vec<_>>(),
        [3, 1, 4]
    );
    for t in &trials {
        let arch = Tiny.parse(&t.best_arch).unwrap();
        let task = if t.dataset == "easy" {
            Task::Easy
        } else {
            Task::Hard
        };
        assert!(t.signal_acc >= signal(&arch, task), "{t:?}");
        assert_eq!(t.test_acc, Some(test(&arch, task)));
        assert_eq!(t.measures["first"], arch.0[0] as f64);
        assert!(t.test_acc_all.is_empty() && t.history.best_test_acc.is_empty());
        assert_eq!(t.best_test_acc_at(f64::MAX), None);
    }
    let json = serde_json::to_string(&trials[0]).unwrap();
    assert!(
        !json.contains("test_acc_all") && json.contains("\"measures\":{\"first\""),
        "{json}"
    );
    let names = ["dsm-nas".to_string(), "random".to_string()];
    let summary = summarise(&trials, "noisy", &task_facts(&Noisy, &plan.tasks), &names);
    assert_eq!(summary.len(), 4);
    for s in &summary {
        assert_eq!(
            (
                s.benchmark_optimum,
                s.best_found_share,
                s.reported.as_deref()
            ),
            (None, None, None)
        );
        let firsts: Vec<f64> = trials
            .iter()
            .filter(|t| t.method == s.method && t.dataset == s.dataset)
            .map(|t| t.measures["first"])
            .collect();
        assert_eq!(s.measures["first"].mean, firsts.iter().sum::<f64>() / 3.0);
        assert_eq!(s.p_value_vs_dsm_nas.is_some(), s.method == "random");
    }
    // A failing problem names the task and the seed; a repeated seed is refused.
    plan.seeds = vec![2, 13];
    let err = run_trials(&Noisy, &plan, &methods, Execution::default()).unwrap_err();
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(
        chain.contains("making the evaluator on easy, seed 13: no data for seed 13"),
        "{chain}"
    );
    plan.seeds = vec![2, 2];
    let err = run_trials(&Noisy, &plan, &methods, Execution::default()).unwrap_err();
    assert!(err.to_string().contains("each seed once"), "{err}");
}

#[test]
fn without_a_test_accuracy_the_summary_compares_the_signal_and_says_so() {
    // The easy task with nothing but the signal.
    let signalled = FnProblem::new(Tiny, &["easy"], "weighted", |_, _| TinyEval(Task::Easy));
    let trials = run_trials(
        &signalled,
        &Plan {
            tasks: vec!["easy".to_string()],
            seeds: vec![1, 2, 3],
            budget: dsm_miner::Budget {
                max_iters: 20,
                ..Default::default()
            },
            workers: None,
        },
        &[Method::new(RandomSearch)],
        Execution::default(),
    )
    .unwrap();
    assert!(trials.iter().all(|t| t.test_acc.is_none()));
    let facts = task_facts(&signalled, &["easy".to_string()]);
    let s = &summarise(&trials, "weighted", &facts, &["random".to_string()])[0];
    assert_eq!(s.reported.as_deref(), Some("signal"));
    let mean = trials.iter().map(|t| t.signal_acc).sum::<f64>() / 3.0;
    assert!((s.mean_test_acc - mean).abs() < 1e-12);
    let results = dsm_protocol::Results {
        config: (),
        summary: vec![s.clone()],
        trials,
    };
    let table = results.table("easy", "title", "weighted").unwrap();
    assert!(
        table.contains("no test accuracy") && table.contains("weighted"),
        "{table}"
    );
}
