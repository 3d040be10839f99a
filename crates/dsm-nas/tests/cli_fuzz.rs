//! Every argument of every example, read from the example's own `--help` (clap's, so an
//! argument added later is covered without anyone remembering), given bad values on top of an
//! otherwise valid, cheap invocation. Each run must exit 0 (a valid edge case) or 2 with one
//! `error:` line that names the argument or the value; never a panic, never exit 101, never a
//! file written by a refused run, never a changed input file.
//!
//! `DSM_FUZZ_ONLY=<example>` runs one example's cases; the counts go to stderr (and are
//! recorded in docs/RELIABILITY.md).

mod common;
use common::{RESNET, example};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MBV3: &str =
    "2,2,2,2,2:3,3,0,0,5,5,0,0,7,7,0,0,3,5,0,0,5,7,0,0:3,4,0,0,6,6,0,0,3,3,0,0,4,4,0,0,6,6,0,0";

/// How long one run may take before it counts as a hang.
const LIMIT: Duration = Duration::from_secs(120);

/// The examples, by their files (a new example without a base invocation fails the test).
fn examples() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "rs").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    names
}

/// One argument, as `--help` lists it.
#[derive(Debug, Clone)]
struct Arg {
    /// `--flag` or `<POSITIONAL>`.
    key: String,
    /// Takes a value.
    takes_value: bool,
}

/// The arguments `--help` of `name` lists (without `--help` itself).
fn arguments(name: &str) -> Vec<Arg> {
    let out = Command::new(example(name)).arg("--help").output().unwrap();
    assert!(out.status.success(), "{name} --help failed");
    let help = String::from_utf8(out.stdout).unwrap();
    let mut args = Vec::new();
    let mut section = "";
    for line in help.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = if line.starts_with("Arguments") {
                "positional"
            } else if line.starts_with("Options") {
                "options"
            } else {
                ""
            };
            continue;
        }
        let t = line.trim_start();
        // An argument's line is indented by 2 to 6 (descriptions wrap deeper).
        if !(2..=6).contains(&(line.len() - t.len())) {
            continue;
        }
        match section {
            "positional" if t.starts_with('<') => {
                let key = t.split_whitespace().next().unwrap().to_string();
                args.push(Arg {
                    key,
                    takes_value: true,
                });
            }
            "options" => {
                let t = t.strip_prefix("-h, ").unwrap_or(t);
                let Some(rest) = t.strip_prefix("--") else {
                    continue;
                };
                let mut words = rest.split_whitespace();
                let flag = words.next().unwrap();
                if flag == "help" || flag == "version" {
                    continue;
                }
                let takes_value = words.next().is_some_and(|w| w.starts_with('<'));
                args.push(Arg {
                    key: format!("--{flag}"),
                    takes_value,
                });
            }
            _ => {}
        }
    }
    args
}

/// Files the bases read, made once (and checked unchanged after every run).
struct Inputs {
    dir: PathBuf,
}

impl Inputs {
    fn make() -> Self {
        use burn::prelude::*;
        let dir = std::env::temp_dir().join(format!("dsm-fuzz-inputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let dev = Device::flex();
        let cell: dsm_nas::space::Nb201Cell = RESNET.parse().unwrap();
        let net = dsm_nas::models::Nb201Network::init(&cell, 10, 0, &dev);
        net.state_dict()
            .save_safetensors(dir.join("weights.safetensors"))
            .unwrap();
        // An input batch for `forward`: a state dict with one tensor named "input".
        let mut io = dsm_nas::models::StateDict::new();
        io.insert(
            "input",
            dsm_nas::models::NamedTensor {
                shape: vec![2, 3, 16, 16],
                data: vec![0.25; 2 * 3 * 16 * 16],
                is_int: false,
            },
        );
        io.save_safetensors(dir.join("input.safetensors")).unwrap();
        // A tiny ImageFolder (val/ with two classes) and one image.
        for (c, class) in ["a", "b"].iter().enumerate() {
            let d = dir.join("folder/val").join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..2u8 {
                image::RgbImage::from_pixel(20, 20, image::Rgb([60 * c as u8 + i, 90, 30]))
                    .save(d.join(format!("{i}.png")))
                    .unwrap();
            }
        }
        std::fs::copy(dir.join("folder/val/a/0.png"), dir.join("image.png")).unwrap();
        // A predictor shaped as Once-for-All's (its file is not redistributable), small
        // deterministic weights, for tradeoff_mbv3.
        let mut ofa = dsm_nas::models::StateDict::new();
        for (i, (din, dout)) in [(128, 400), (400, 400), (400, 400), (400, 1)]
            .into_iter()
            .enumerate()
        {
            let wave = |n: usize| {
                (0..n)
                    .map(|j| ((j * 7919 % 13) as f32 - 6.0) * 0.01)
                    .collect()
            };
            let tensor = |shape: Vec<usize>, data| dsm_nas::models::NamedTensor {
                shape,
                data,
                is_int: false,
            };
            ofa.insert(
                format!("{}.weight", 2 * i),
                tensor(vec![dout, din], wave(din * dout)),
            );
            ofa.insert(format!("{}.bias", 2 * i), tensor(vec![dout], wave(dout)));
        }
        ofa.save_safetensors(dir.join("ofa.safetensors")).unwrap();
        // Predictor training pairs for search_mbv3.
        let space = dsm_nas::space::MbV3Space::new(1.2).unwrap();
        let mut rng = dsm_nas::miner::seeded_rng(3);
        let pairs: Vec<serde_json::Value> = (0..40)
            .map(|i| {
                use dsm_nas::space::SearchSpace;
                let a = space.sample(&mut rng).unwrap();
                serde_json::json!({"arch": a.to_string(), "accuracy": 70.0 + (i % 7) as f64})
            })
            .collect();
        std::fs::write(
            dir.join("pairs.json"),
            serde_json::to_string(&pairs).unwrap(),
        )
        .unwrap();
        let cells = [
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            RESNET,
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
        ];
        std::fs::write(dir.join("cells.txt"), cells.join("\n")).unwrap();
        // A task of a distributed search for dsm_worker (its result goes outside the inputs).
        let result =
            std::env::temp_dir().join(format!("dsm-fuzz-result-{}.json", std::process::id()));
        let task = serde_json::json!({"run": "fuzz", "id": 0, "attempt": 0, "arch": RESNET, "result": result});
        std::fs::write(dir.join("task.json"), task.to_string()).unwrap();
        Self { dir }
    }

    /// Bad files in `case` (each case its own, so that an output written over one of them
    /// stays within the case): a directory, a truncated copy of a real file, random bytes.
    fn bad_files(&self, case: &Path) {
        std::fs::create_dir_all(case.join("a-directory")).unwrap();
        let w = std::fs::read(self.dir.join("weights.safetensors")).unwrap();
        std::fs::write(case.join("truncated.bin"), &w[..w.len() / 3]).unwrap();
        let random: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(case.join("random.bin"), random).unwrap();
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// Every input file's bytes.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.insert(p.clone(), std::fs::read(&p).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.dir, &mut out);
        out
    }
}

/// A cheap valid invocation of each example: `(key, value)` pairs, `{out}` standing for
/// the run's own output folder.
fn base(name: &str, i: &Inputs) -> Vec<(String, Option<String>)> {
    let kv = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect::<Vec<_>>()
    };
    let nb201 = format!("nb201:{RESNET}");
    match name {
        "bench_models" => kv(&[
            ("--iters", "1"),
            ("--workloads", "dsm_nas_infer"),
            ("--batches", "1"),
        ]),
        "cost_mbv3" => kv(&[("--legacy", MBV3)]),
        "custom_space" => kv(&[("--trials", "2"), ("--iters", "5")]),
        "draw_arch" => kv(&[("--nb201", RESNET), ("--out", "{out}/cell.svg")]),
        "dsm_worker" => kv(&[("--task", &i.path("task.json"))]),
        "eval_imagenet" => kv(&[
            ("<ROOT>", &i.path("folder")),
            ("--model", &nb201),
            ("--weights", &i.path("weights.safetensors")),
            ("--resize", "16"),
            ("--crop", "16"),
            ("--classes", "10"),
        ]),
        "forward" => kv(&[
            ("--model", &nb201),
            ("--weights", &i.path("weights.safetensors")),
            ("--input", &i.path("input.safetensors")),
            ("--output", "{out}/logits.json"),
        ]),
        "infer" => kv(&[
            ("--model", &nb201),
            ("--weights", &i.path("weights.safetensors")),
            ("--image", &i.path("image.png")),
            ("--resize", "16"),
            ("--crop", "16"),
            ("--classes", "10"),
        ]),
        "proxy_nb201" => kv(&[
            ("--cells", &i.path("cells.txt")),
            ("--data", "builtin"),
            ("--inits", "1"),
            ("--batch", "8"),
        ]),
        "query_nb201" => kv(&[("--arch", RESNET)]),
        "search_live" => kv(&[
            ("--queries", "1"),
            ("--epochs", "1"),
            ("--final-epochs", "1"),
        ]),
        "search_mbv3" => kv(&[
            ("--predictor-data", &i.path("pairs.json")),
            ("--predictor-epochs", "2"),
            ("--iters", "3"),
            ("--k", "2"),
            ("--out", "{out}/run"),
        ]),
        "search_nb201" => kv(&[
            ("--trials", "2"),
            ("--max-iters", "10"),
            ("--methods", "dsm-nas,random"),
            ("--out", "{out}/run"),
        ]),
        "rank_nb201" => kv(&[
            ("--cells", &i.path("cells.txt")),
            ("--epochs", "1"),
            ("--data", "builtin"),
            ("--out", "{out}/run"),
        ]),
        "scale_workers" => kv(&[
            ("--trials", "1"),
            ("--max-iters", "10"),
            ("--methods", "random"),
            ("--worker-counts", "1,2"),
            ("--out", "{out}/run"),
        ]),
        "tradeoff_mbv3" => kv(&[
            ("--ofa-predictor", &i.path("ofa.safetensors")),
            ("--madds-limits", "300,400"),
            ("--methods", "random,dsm-nas"),
            ("--resolutions", "160,224"),
            ("--iters", "20"),
            ("--k", "2"),
            ("--out", "{out}/run"),
        ]),
        "train" => kv(&[
            ("--arch", RESNET),
            ("--data", "builtin"),
            ("--epochs", "1"),
            ("--out", "{out}/run"),
        ]),
        other => panic!(
            "no base invocation for the example {other}: add one to {}",
            file!()
        ),
    }
}

/// The bad values every argument that takes one is given (`{case}` stands for the run's own
/// folder, which holds the bad files).
fn bad_values() -> Vec<(&'static str, String)> {
    vec![
        ("zero", "0".into()),
        ("negative", "-1".into()),
        ("NaN", "NaN".into()),
        ("infinite", "inf".into()),
        ("huge", "1e308".into()),
        ("over u64", "18446744073709551616".into()),
        ("empty", String::new()),
        ("wrong type", "x".into()),
        ("missing path", "/nonexistent/dsm-fuzz/file".into()),
        ("directory", "{case}/a-directory".into()),
        ("truncated file", "{case}/truncated.bin".into()),
        ("random bytes", "{case}/random.bin".into()),
    ]
}

struct Case {
    example: String,
    what: String,
    args: Vec<(String, Option<String>)>,
    /// The overridden argument and its value (None: a flag without value added).
    target: (String, Option<String>),
}

fn command_line(args: &[(String, Option<String>)], case: &Path) -> Vec<String> {
    let out = case.join("out").display().to_string();
    let case = case.display().to_string();
    let mut v = Vec::new();
    for (k, val) in args {
        let val = val
            .as_ref()
            .map(|s| s.replace("{out}", &out).replace("{case}", &case));
        if k.starts_with('<') {
            v.push(val.unwrap_or_default());
        } else {
            v.push(k.clone());
            if let Some(val) = val {
                v.push(val);
            }
        }
    }
    v
}

fn files_under(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Whether `line` holds `word` as a whole token (not inside a longer word or number).
fn mentions(line: &str, word: &str) -> bool {
    let edge = |c: Option<char>| {
        c.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '-'))
    };
    line.match_indices(word).any(|(i, _)| {
        edge(line[..i].chars().next_back()) && edge(line[i + word.len()..].chars().next())
    })
}

/// What is wrong with one run, if anything; and whether it was accepted.
fn check(case: &Case, inputs: &Inputs, n: usize) -> (Result<(), String>, bool, String) {
    let dir = std::env::temp_dir().join(format!("dsm-fuzz-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    inputs.bad_files(&dir);
    let argv = command_line(&case.args, &dir);
    let before = (inputs.snapshot(), files_under(&dir));
    let bad_before: Vec<Vec<u8>> = before.1.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // Relative paths (`--out x`) land in the run's folder.
    let mut child = Command::new(example(&case.example))
        .current_dir(&dir)
        .args(&argv)
        .env("RAYON_NUM_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut { stderr }, &mut s).ok();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > LIMIT {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let err = reader.join().unwrap();
    let shown = format!("{} {}", case.example, argv.join(" "));
    let result = (|| {
        let status = status.ok_or_else(|| format!("{shown}: still running after {LIMIT:?}"))?;
        if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
            return Err(format!("{shown}: panicked: {err}"));
        }
        if inputs.snapshot() != before.0 {
            return Err(format!("{shown}: changed an input file"));
        }
        match status.code() {
            Some(0) => Ok(()),
            Some(2) => {
                let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
                let first = lines.first().copied().unwrap_or("");
                if !first.starts_with("error: ") {
                    return Err(format!("{shown}: exit 2 without an error line: {err:?}"));
                }
                // clap's own usage errors (which name the argument, on the first line or the
                // next) add a usage line and a hint; every other refusal is one line.
                let clap = err.contains("For more information, try '--help'");
                if clap {
                    return Ok(());
                }
                if lines.len() > 1 {
                    return Err(format!("{shown}: more than one error line: {err:?}"));
                }
                let (key, value) = &case.target;
                let value = value
                    .as_ref()
                    .map(|v| v.replace("{case}", &dir.display().to_string()));
                let names_it = mentions(first, key)
                    || value.as_ref().is_some_and(|v| {
                        if v.is_empty() {
                            first.contains("\"\"") || first.contains("''")
                        } else {
                            mentions(first, v)
                        }
                    });
                if !names_it {
                    return Err(format!(
                        "{shown}: the error does not name {key} or its value: {first:?}"
                    ));
                }
                let now = files_under(&dir);
                let same = now == before.1
                    && now
                        .iter()
                        .zip(&bad_before)
                        .all(|(p, b)| std::fs::read(p).ok().as_ref() == Some(b));
                if !same {
                    return Err(format!(
                        "{shown}: refused, but wrote or changed files: {now:?}"
                    ));
                }
                Ok(())
            }
            other => Err(format!("{shown}: exit status {other:?}: {err}")),
        }
    })();
    let accepted = status.is_some_and(|s| s.success());
    let _ = std::fs::remove_dir_all(&dir);
    (result, accepted, err)
}

#[test]
fn every_flag_of_every_example_fails_cleanly_on_bad_values() {
    let inputs = Inputs::make();
    let only = std::env::var("DSM_FUZZ_ONLY").ok();
    let mut cases = Vec::new();
    let mut flags = 0;
    for name in examples() {
        if only.as_ref().is_some_and(|o| *o != name) {
            continue;
        }
        let base = base(&name, &inputs);
        for arg in arguments(&name) {
            flags += 1;
            let with = |value: Option<String>| {
                let mut args: Vec<_> = base
                    .iter()
                    .filter(|(k, _)| *k != arg.key)
                    .cloned()
                    .collect();
                args.push((arg.key.clone(), value.clone()));
                (args, (arg.key.clone(), value))
            };
            if arg.takes_value {
                for (what, value) in bad_values() {
                    let (args, target) = with(Some(value));
                    cases.push(Case {
                        example: name.clone(),
                        what: format!("{} {what}", arg.key),
                        args,
                        target,
                    });
                }
            } else {
                let (args, target) = with(None);
                cases.push(Case {
                    example: name.clone(),
                    what: format!("{} given", arg.key),
                    args,
                    target,
                });
            }
        }
    }
    let mut per_example: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &cases {
        *per_example.entry(c.example.as_str()).or_default() += 1;
    }
    let accepted_by = Mutex::new(BTreeMap::<String, usize>::new());
    let next = Mutex::new(0usize);
    let failures = Mutex::new(Vec::new());
    let accepted = Mutex::new(0usize);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let n = {
                        let mut g = next.lock().unwrap();
                        *g += 1;
                        *g - 1
                    };
                    let Some(case) = cases.get(n) else { break };
                    let (mut r, mut ok, err) = check(case, &inputs, n);
                    // A base argument that conflicts with the one under test (clap names
                    // both): try again without it, so the bad value reaches the program.
                    if err.contains("cannot be used with") {
                        let mut retry = Case {
                            example: case.example.clone(),
                            what: case.what.clone(),
                            args: case.args.clone(),
                            target: case.target.clone(),
                        };
                        retry.args.retain(|(k, _)| {
                            *k == case.target.0 || !err.contains(&format!("'{k}"))
                        });
                        (r, ok, _) = check(&retry, &inputs, n);
                    }
                    if ok {
                        *accepted.lock().unwrap() += 1;
                        *accepted_by
                            .lock()
                            .unwrap()
                            .entry(case.example.clone())
                            .or_default() += 1;
                    }
                    if let Err(e) = r {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("[{}] {e}", case.what));
                    }
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&inputs.dir);
    let accepted_by = accepted_by.into_inner().unwrap();
    for (name, n) in &per_example {
        eprintln!(
            "{name}: {} arguments, {n} cases, {} accepted",
            arguments(name).len(),
            accepted_by.get(*name).copied().unwrap_or(0)
        );
    }
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{} examples, {flags} arguments, {} cases ({} accepted as valid edge cases) in {:.0} s; {} failures",
        examples().len(),
        cases.len(),
        accepted.into_inner().unwrap(),
        start.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
