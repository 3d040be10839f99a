//! The examples' command-line contracts: output shapes, exit codes, determinism.
//!
//! `cargo test` builds the examples next to the test binaries; these tests run them.

mod common;
use common::{RESNET, example};
use std::path::PathBuf;
use std::process::{Command, Output};

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name))
        .args(args)
        .output()
        .expect("example runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn fails_cleanly(out: &Output, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `shared/fixtures/nb201` (the tests that read it are ignored where `build.rs` did not find
/// it).
fn nb201_fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/nb201"
    ))
}

#[test]
fn query_nb201_prints_the_documented_object() {
    let v = json(&run("query_nb201", &["--arch", RESNET]));
    assert_eq!(v["index"], 11472);
    assert_eq!(v["arch"], RESNET);
    for d in ["cifar10", "cifar100", "imagenet16"] {
        assert!(v["params_m"][d].is_f64() && v["flops_m"][d].is_f64());
        for k in ["valid_acc", "test_acc", "hp12_acc"] {
            assert!(v[d][k].is_f64(), "{d}.{k}");
        }
    }
    assert!((v["cifar10"]["test_acc"].as_f64().unwrap() - 93.91).abs() < 0.01);
    assert!(v["cost_s"].as_f64().unwrap() > 0.0);
    // FreeREA's zero-cost proxies, per data set (no region counts on ImageNet16-120).
    for d in ["cifar10", "cifar100", "imagenet16"] {
        for k in ["synflow", "logsynflow", "naswot"] {
            assert!(v["zero_cost"][d][k].as_f64().unwrap() > 0.0, "{d}.{k}");
        }
    }
    assert!(v["zero_cost"]["cifar10"]["nregions"].is_f64());
    assert!(v["zero_cost"]["imagenet16"]["nregions"].is_null());
    assert_eq!(json(&run("query_nb201", &["--index", "11472"])), v);
    fails_cleanly(
        &run(
            "query_nb201",
            &[
                "--arch",
                "|nor_conv_3x3~0|+|bogus~0|none~1|+|none~0|none~1|none~2|",
            ],
        ),
        "bogus",
    );
    fails_cleanly(&run("query_nb201", &["--index", "15625"]), "out of range");
    fails_cleanly(
        &run(
            "query_nb201",
            &["--index", "1", "--table", "/nonexistent/table.csv"],
        ),
        "/nonexistent/table.csv",
    );
}

#[test]
fn cost_mbv3_prints_integers() {
    let legacy =
        "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4";
    let v = json(&run("cost_mbv3", &["--legacy", legacy, "--width", "1.2"]));
    assert_eq!(
        v,
        serde_json::json!({"madds": 586_320_560u64, "params": 8_939_576u64, "madds_with_classifier": 587_856_560u64})
    );
    let v = json(&run(
        "cost_mbv3",
        &["--legacy", legacy, "--width", "1.2", "--resolution", "192"],
    ));
    assert_eq!(v["madds"], 431_942_336u64);
    fails_cleanly(
        &run("cost_mbv3", &["--legacy", "3,3,3,4,4:5"]),
        "depths:ks:ratios",
    );
    fails_cleanly(
        &run("cost_mbv3", &["--legacy", legacy, "--width=0"]),
        "width",
    );
}

fn strip_wall(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.remove("wall_s");
            m.values_mut().for_each(strip_wall);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_wall),
        _ => {}
    }
}

#[test]
fn search_nb201_writes_reproducible_results() {
    let dir = std::env::temp_dir().join(format!("dsm-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args = |out: &str| {
        vec![
            "--trials".to_string(),
            "2".into(),
            "--max-iters".into(),
            "30".into(),
            "--dataset".into(),
            "cifar10,cifar100".into(),
            "--transfer".into(),
            "--out".into(),
            dir.join(out).display().to_string(),
        ]
    };
    let a = run(
        "search_nb201",
        &args("a").iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let table = String::from_utf8_lossy(&a.stdout);
    assert!(
        table.contains("dsm-nas") && table.contains("optimum"),
        "{table}"
    );
    let mut one: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("a/results.json")).unwrap()).unwrap();
    // The documented shape.
    assert_eq!(one["config"]["args"]["trials"], 2);
    let summary = one["summary"].as_array().unwrap();
    let methods: Vec<&str> = summary
        .iter()
        .map(|s| s["method"].as_str().unwrap())
        .collect();
    assert!(
        methods.contains(&"dsm-nas+")
            && methods.contains(&"rea")
            && methods.contains(&"reinforce")
            && methods.contains(&"random")
    );
    for s in summary {
        for k in [
            "method",
            "dataset",
            "signal",
            "trials",
            "mean_test_acc",
            "std_test_acc",
            "mean_queries",
        ] {
            assert!(!s[k].is_null(), "summary.{k}");
        }
    }
    let trials = one["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2 * (4 * 2 + 1));
    for t in trials {
        for k in [
            "method",
            "dataset",
            "seed",
            "best_arch",
            "test_acc",
            "signal_acc",
            "queries",
            "cost_s",
            "wall_s",
        ] {
            assert!(!t[k].is_null(), "trials.{k}");
        }
    }
    assert!(dir.join("a/curves.svg").exists());
    for pic in [
        "best_dsm-nas_cifar10.svg",
        "best_rea_cifar100.svg",
        "best_dsm-nas+_cifar100.svg",
    ] {
        assert!(dir.join("a").join(pic).exists(), "{pic}");
    }
    // draw_arch --from draws the best cell of each method and dataset.
    let pics = dir.join("pics");
    let d = run(
        "draw_arch",
        &[
            "--from",
            &dir.join("a/results.json").display().to_string(),
            "--out",
            &pics.display().to_string(),
        ],
    );
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    assert_eq!(std::fs::read_dir(&pics).unwrap().count(), 9);
    // The same pictures as the search's, which it never replaces silently.
    let pic = "best_dsm-nas+_cifar100.svg";
    assert_eq!(
        std::fs::read(pics.join(pic)).unwrap(),
        std::fs::read(dir.join("a").join(pic)).unwrap()
    );
    let from = dir.join("a/results.json").display().to_string();
    let before = std::fs::metadata(dir.join("a").join(pic))
        .unwrap()
        .modified()
        .unwrap();
    fails_cleanly(&run("draw_arch", &["--from", &from]), "pass --force");
    assert_eq!(
        std::fs::metadata(dir.join("a").join(pic))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    assert!(
        run("draw_arch", &["--from", &from, "--force"])
            .status
            .success()
    );
    // Same arguments, same results (except wall times).
    let b = run(
        "search_nb201",
        &args("b").iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(b.status.success());
    let mut two: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("b/results.json")).unwrap()).unwrap();
    strip_wall(&mut one);
    strip_wall(&mut two);
    assert_eq!(one, two);
    // An existing results.json is never overwritten silently.
    let again = run(
        "search_nb201",
        &args("a").iter().map(String::as_str).collect::<Vec<_>>(),
    );
    fails_cleanly(&again, "already holds a run of search_nb201");
    fails_cleanly(&run("search_nb201", &["--dataset", "mnist"]), "mnist");
    fails_cleanly(
        &run("search_nb201", &["--methods", "dsm-nas,bogus"]),
        "bogus",
    );
    fails_cleanly(
        &run(
            "search_nb201",
            &["--k", "1", "--out", &dir.join("c").display().to_string()],
        ),
        "k",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn draw_arch_writes_svg_and_rejects_bad_input() {
    let dir = std::env::temp_dir().join(format!("dsm-draw-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cell = dir.join("cell.svg");
    let out = run(
        "draw_arch",
        &["--nb201", RESNET, "--out", &cell.display().to_string()],
    );
    assert!(out.status.success());
    assert!(
        std::fs::read_to_string(&cell)
            .unwrap()
            .matches("class=\"edge\"")
            .count()
            == 6
    );
    let net = dir.join("net.svg");
    let legacy =
        "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4";
    assert!(
        run(
            "draw_arch",
            &["--legacy", legacy, "--out", &net.display().to_string()]
        )
        .status
        .success()
    );
    assert!(
        std::fs::read_to_string(&net)
            .unwrap()
            .contains("586.32 M MAdds")
    );
    fails_cleanly(
        &run(
            "draw_arch",
            &["--nb201", "|x~0|", "--out", &cell.display().to_string()],
        ),
        "x",
    );
    fails_cleanly(
        &run("draw_arch", &["--from", "/nonexistent/results.json"]),
        "/nonexistent/results.json",
    );
    fails_cleanly(&run("draw_arch", &[]), "--nb201");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(
    not(shared_fixtures),
    ignore = "needs ../shared/fixtures (the project's own checkout)"
)]
fn forward_reproduces_the_pytorch_logits() {
    let fixtures = nb201_fixtures();
    let dir = std::env::temp_dir().join(format!("dsm-forward-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.json");
    let cell = "nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
    let f = |name: &str| fixtures.join(name).display().to_string();
    let o = run(
        "forward",
        &[
            "--model",
            cell,
            "--weights",
            &f("nb201_best_c10.pt"),
            "--input",
            &f("nb201_best_c10_io_32.safetensors"),
            "--output",
            &out.display().to_string(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let want: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures.join("nb201_best_c10_logits_32.json")).unwrap(),
    )
    .unwrap();
    let flat = |v: &serde_json::Value| -> Vec<f64> {
        let mut out = Vec::new();
        let mut stack = vec![v.clone()];
        while let Some(x) = stack.pop() {
            match x {
                serde_json::Value::Array(a) => stack.extend(a.into_iter().rev()),
                serde_json::Value::Number(n) => out.push(n.as_f64().unwrap()),
                _ => {}
            }
        }
        out
    };
    let (y, r) = (flat(&got["logits"]), flat(&want["logits_f64"]));
    assert_eq!(y.len(), 20);
    let scale = r.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let err = y
        .iter()
        .zip(&r)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()))
        / scale;
    assert!(err < 1e-4, "relative error {err}");
    assert_eq!(got["argmax"].as_array().unwrap().len(), 2);
    fails_cleanly(
        &run(
            "forward",
            &[
                "--model",
                "resnet50",
                "--weights",
                &f("nb201_best_c10.pt"),
                "--input",
                &f("nb201_best_c10_io_32.safetensors"),
                "--output",
                &out.display().to_string(),
                "--force",
            ],
        ),
        "resnet50",
    );
    fails_cleanly(
        &run(
            "forward",
            &[
                "--model",
                cell,
                "--weights",
                &f("nb201_none_c10.pt"),
                "--input",
                &f("nb201_best_c10_io_32.safetensors"),
                "--output",
                &out.display().to_string(),
                "--force",
            ],
        ),
        "missing",
    );
    fails_cleanly(
        &run(
            "forward",
            &[
                "--model",
                cell,
                "--weights",
                &f("nb201_best_c10.pt"),
                "--input",
                &f("nb201_best_c10.safetensors"),
                "--output",
                &out.display().to_string(),
                "--force",
            ],
        ),
        "\"input\"",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(
    not(shared_fixtures),
    ignore = "needs ../shared/fixtures (the project's own checkout)"
)]
fn eval_imagenet_and_infer_run_on_a_tiny_imagefolder() {
    use burn::prelude::*;
    use dsm_nas::train::imagenet::{ImageFolder, Transform, evaluate};
    let fixtures = nb201_fixtures();
    let root = std::env::temp_dir().join(format!("dsm-eval-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (c, class) in ["airplane", "automobile", "bird"].iter().enumerate() {
        let dir = root.join("val").join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, ext) in ["png", "jpg"].iter().enumerate() {
            let img = image::RgbImage::from_fn(48 + 8 * i as u32, 40, |x, y| {
                image::Rgb([
                    (x * 5 + c as u32 * 40) as u8,
                    (y * 6) as u8,
                    (x * y % 256) as u8,
                ])
            });
            img.save(dir.join(format!("{i}.{ext}"))).unwrap();
        }
    }
    let weights = fixtures.join("nb201_best_c10.safetensors");
    let cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
    let model = format!("nb201:{cell}");
    let o = run(
        "eval_imagenet",
        &[
            &root.display().to_string(),
            "--model",
            &model,
            "--weights",
            &weights.display().to_string(),
            "--resize",
            "36",
            "--crop",
            "32",
            "--batch",
            "4",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = String::from_utf8_lossy(&o.stdout).to_string();
    // The same evaluation through the library.
    let dev = Device::flex();
    let sd = dsm_nas::models::StateDict::from_file(&weights).unwrap();
    let net = dsm_nas::models::Nb201Network::from_state_dict(&cell.parse().unwrap(), 10, &sd, &dev)
        .unwrap();
    let folder = ImageFolder::open(root.join("val")).unwrap();
    let r = evaluate(
        &folder,
        &|x| net.forward(x),
        4,
        Transform {
            resize: 36,
            crop: 32,
        },
        &dev,
        &mut |_, _| {},
    )
    .unwrap();
    let want = format!(
        "6 images in 3 classes: top-1 {:.2} %, top-5 {:.2} %",
        r.top1, r.top5
    );
    assert!(line.contains(&want), "{line:?} should contain {want:?}");
    let img = root.join("val/bird/0.png").display().to_string();
    let o = run(
        "infer",
        &[
            "--model",
            &model,
            "--weights",
            &weights.display().to_string(),
            "--image",
            &img,
            "--resize",
            "36",
            "--crop",
            "32",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        text.lines().filter(|l| l.contains("class")).count(),
        5,
        "{text}"
    );
    // Images a NAS-Bench-201 network cannot take (it panicked inside the convolution), and a
    // width for a network that has none: refused before any image is read.
    let w = weights.display().to_string();
    let infer = |extra: &[&str]| {
        let base = ["--model", &model, "--weights", &w, "--image", &img];
        run("infer", &[&base[..], extra].concat())
    };
    fails_cleanly(&infer(&["--resize", "1", "--crop", "1"]), "bad --crop 1");
    fails_cleanly(&infer(&["--crop", "30"]), "multiples of 4");
    fails_cleanly(
        &infer(&["--width", "1.0"]),
        "bad --width 1: a width multiplier",
    );
    fails_cleanly(
        &run(
            "eval_imagenet",
            &["/nonexistent", "--weights", &weights.display().to_string()],
        ),
        "/nonexistent/val",
    );
    fails_cleanly(
        &run(
            "infer",
            &[
                "--model",
                &model,
                "--weights",
                &weights.display().to_string(),
                "--image",
                "/nonexistent.png",
            ],
        ),
        "/nonexistent.png",
    );
    std::fs::remove_dir_all(&root).unwrap();
}

fn read_json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Kill the search with SIGKILL at a random point, resume it, and compare with an
/// uninterrupted run: identical except wall times.
#[test]
fn a_killed_search_resumes_to_the_same_results() {
    let dir = std::env::temp_dir().join(format!("dsm-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = [
        "--trials",
        "12",
        "--dataset",
        "cifar10,cifar100",
        "--threads",
        "1",
    ];
    let with_out = |out: &str, extra: &[&str]| -> Vec<String> {
        base.iter()
            .chain(extra)
            .map(|s| s.to_string())
            .chain(["--out".to_string(), dir.join(out).display().to_string()])
            .collect()
    };
    let full = run(
        "search_nb201",
        &with_out("full", &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(
        full.status.success(),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );
    // A random kill time between 50 and 650 ms (the whole run takes about a second or two).
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let delay = std::time::Duration::from_millis(50 + nanos % 600);
    let mut child = std::process::Command::new(example("search_nb201"))
        .args(with_out("killed", &[]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let ckpt = dir.join("killed/checkpoint");
    let saved = std::fs::read_dir(&ckpt)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("trial-")
            })
            .count()
        })
        .unwrap_or(0);
    eprintln!("killed after {delay:?} with {saved} of 96 trials checkpointed");
    // Without --resume the folder is protected.
    if dir.join("killed/checkpoint/meta.json").exists() {
        fails_cleanly(
            &run(
                "search_nb201",
                &with_out("killed", &[])
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ),
            "--resume",
        );
    }
    // Resuming with other settings is refused, with the same ones it completes.
    if saved > 0 {
        let other = with_out("killed", &["--resume", "--seed", "1"]);
        fails_cleanly(
            &run(
                "search_nb201",
                &other.iter().map(String::as_str).collect::<Vec<_>>(),
            ),
            "other settings",
        );
    }
    let resumed = run(
        "search_nb201",
        &with_out("killed", &["--resume"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let (mut a, mut b) = (
        read_json(&dir.join("full/results.json")),
        read_json(&dir.join("killed/results.json")),
    );
    strip_wall(&mut a);
    strip_wall(&mut b);
    assert!(a == b, "resumed results differ from the uninterrupted run");
    // A corrupt checkpoint manifest is refused, not half-loaded.
    std::fs::write(dir.join("killed/checkpoint/meta.json"), b"{ not json").unwrap();
    fails_cleanly(
        &run(
            "search_nb201",
            &with_out("killed", &["--resume"])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ),
        "checkpoint manifest",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_writes_metrics_and_a_final_json_line() {
    let dir = std::env::temp_dir().join(format!("dsm-train-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args = [
        "--arch", RESNET, "--data", "builtin", "--epochs", "1", "--batch", "64", "--out",
    ];
    let out = dir.display().to_string();
    let o = run("train", &[&args[..], &[out.as_str()]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["epochs"], 1);
    assert!(
        last["test_acc"].as_f64().unwrap() > 10.0 && last["wall_s"].as_f64().unwrap() > 0.0,
        "{last}"
    );
    let lines = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 1);
    assert!(dir.join("config.json").exists() && dir.join("curves.svg").exists());
    // The trained network, taken away: `forward --model <run folder>` reads arch.json and
    // model.safetensors, and gives the logits of the network named in full.
    let mut io = dsm_nas::models::StateDict::new();
    let pixels = (0..2 * 3 * 8 * 8).map(|i| ((i * 37) % 11) as f32 / 11.0 - 0.5);
    io.insert(
        "input",
        dsm_nas::models::NamedTensor {
            shape: vec![2, 3, 8, 8],
            data: pixels.collect(),
            is_int: false,
        },
    );
    let input = dir.join("io.safetensors");
    io.save_safetensors(&input).unwrap();
    let logits = |model: &[&str]| {
        let result = dir.join("logits.json");
        let o = run(
            "forward",
            &[
                model,
                &[
                    "--input",
                    &input.display().to_string(),
                    "--output",
                    &result.display().to_string(),
                    "--force",
                ],
            ]
            .concat(),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        read_json(&result)["logits"].clone()
    };
    let weights = dir.join("model.safetensors").display().to_string();
    let named = logits(&["--model", &format!("nb201:{RESNET}"), "--weights", &weights]);
    assert_eq!(logits(&["--model", &out]), named);
    assert_eq!(logits(&["--weights", &weights]), named); // arch.json beside the weights
    assert_eq!(named.as_array().map(Vec::len), Some(2));
    fails_cleanly(
        &run("train", &[&args[..], &[out.as_str()]].concat()),
        "--resume",
    );
    fails_cleanly(
        &run(
            "train",
            &[
                "--arch",
                RESNET,
                "--data",
                "/nonexistent",
                "--out",
                &dir.join("x").display().to_string(),
            ],
        ),
        "/nonexistent",
    );
    // --resolution resizes an ImageFolder only: for the digits it was silently ignored.
    let x = dir.join("x").display().to_string();
    let a = [
        "--arch",
        RESNET,
        "--data",
        "builtin",
        "--out",
        &x,
        "--resolution",
        "64",
    ];
    fails_cleanly(&run("train", &a), "64 resizes an ImageFolder only");
    assert!(!dir.join("x").exists());
    fails_cleanly(
        &run(
            "train",
            &[
                "--arch",
                "|bad~0|",
                "--data",
                "builtin",
                "--out",
                &dir.join("y").display().to_string(),
            ],
        ),
        "bad",
    );
    let in16 = dir.join("imagenet16");
    std::fs::create_dir_all(&in16).unwrap();
    std::fs::write(in16.join("train_data_batch_1"), b"\x80\x02}q\x00.").unwrap();
    fails_cleanly(
        &run(
            "train",
            &[
                "--arch",
                RESNET,
                "--data",
                &in16.display().to_string(),
                "--out",
                &dir.join("z").display().to_string(),
            ],
        ),
        "ImageNet16-120",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The metrics of a training run without its timings.
fn untimed(lines: &str) -> Vec<serde_json::Value> {
    lines
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for key in [
                "wall_s",
                "train_images_per_s",
                "test_images_per_s",
                "resumed_from_epoch",
            ] {
                v.as_object_mut().unwrap().remove(key);
            }
            v
        })
        .collect()
}

/// Kill `train` with SIGKILL once its first checkpoint is on disk (plus a random delay),
/// resume it, and compare every epoch's metrics and the final line with an uninterrupted run.
#[test]
fn a_killed_training_resumes_to_the_same_results() {
    let dir = std::env::temp_dir().join(format!("dsm-train-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    const CELL: &str =
        "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|";
    let args = |out: &str| -> Vec<String> {
        [
            "--arch", CELL, "--data", "builtin", "--epochs", "4", "--batch", "128", "--seed", "3",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.join(out).display().to_string()])
        .collect()
    };
    let strs = |v: &[String]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let full = Command::new(example("train"))
        .args(args("full"))
        .output()
        .unwrap();
    assert!(
        full.status.success(),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );

    let mut child = Command::new(example("train"))
        .args(args("killed"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ckpt = dir.join("killed/checkpoint.bin");
    let t0 = std::time::Instant::now();
    while !ckpt.exists() && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    std::thread::sleep(std::time::Duration::from_millis(nanos % 1500));
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(ckpt.exists(), "the first checkpoint never appeared");
    // Without --resume (or --force) the folder is protected.
    fails_cleanly(
        &run(
            "train",
            &strs(&args("killed"))
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ),
        "--resume",
    );
    let mut resumed_args = args("killed");
    resumed_args.push("--resume".into());
    let resumed = Command::new(example("train"))
        .args(&resumed_args)
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let last = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .last()
            .unwrap()
            .to_string()
    };
    let from: serde_json::Value = serde_json::from_str(&last(&resumed)).unwrap();
    eprintln!("resumed from epoch {}", from["resumed_from_epoch"]);
    assert!((1..=4).contains(&from["resumed_from_epoch"].as_u64().unwrap()));
    assert_eq!(untimed(&last(&resumed)), untimed(&last(&full)));
    let metrics = |d: &str| std::fs::read_to_string(dir.join(d).join("metrics.jsonl")).unwrap();
    assert_eq!(untimed(&metrics("killed")), untimed(&metrics("full")));
    assert_eq!(untimed(&metrics("full")).len(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn search_mbv3_trains_a_predictor_and_respects_the_madds_limit() {
    use dsm_nas::space::{MbV3Space, SearchSpace};
    let dir = std::env::temp_dir().join(format!("dsm-mbv3-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Measurements of a known trend: accuracy grows with the subnet's size.
    let space = MbV3Space::new(1.2).unwrap();
    let mut rng = dsm_nas::miner::seeded_rng(5);
    let pairs: Vec<serde_json::Value> = (0..300)
        .map(|_| {
            let a = space.sample(&mut rng).unwrap();
            let madds = space.cost_at(&a, 224).unwrap().madds as f64;
            serde_json::json!({"arch": a.to_string(), "accuracy": 60.0 + 5.0 * (madds / 1e8).ln()})
        })
        .collect();
    let data = dir.join("pairs.json");
    std::fs::write(&data, serde_json::to_string(&pairs).unwrap()).unwrap();
    let out = dir.join("run");
    let args = |extra: &[&str]| -> Vec<String> {
        [
            "--iters",
            "40",
            "--predictor-epochs",
            "30",
            "--out",
            &out.display().to_string(),
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    };
    let strs = |v: &[String]| v.to_vec();
    let data_s = data.display().to_string();
    let o = Command::new(example("search_mbv3"))
        .args(strs(&args(&["--predictor-data", &data_s])))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let madds = last["madds"].as_u64().unwrap();
    assert!(madds <= 600_000_000 && madds > 450_000_000, "{last}");
    let arch: dsm_nas::space::MbV3Arch = last["arch"].as_str().unwrap().parse().unwrap();
    assert_eq!(space.cost_at(&arch, 224).unwrap().madds, madds);
    assert_eq!(
        space.cost_at(&arch, 224).unwrap().params,
        last["params"].as_u64().unwrap()
    );
    let front: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("pareto.json")).unwrap()).unwrap();
    assert!(!front.is_empty());
    assert!(
        front
            .windows(2)
            .all(|w| w[0]["madds"].as_u64() < w[1]["madds"].as_u64()
                && w[0]["score"].as_f64() < w[1]["score"].as_f64())
    );
    for f in ["results.json", "pareto.svg", "best.svg", "predictor.bin"] {
        assert!(out.join(f).exists(), "{f}");
    }
    // Reusing the saved predictor with a lower limit.
    let saved = out.join("predictor.bin").display().to_string();
    let out2 = dir.join("run2").display().to_string();
    let again = [
        "--predictor",
        &saved,
        "--madds-limit",
        "400",
        "--iters",
        "20",
        "--out",
        &out2,
    ];
    let o = run("search_mbv3", &again);
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert!(v["madds"].as_u64().unwrap() <= 400_000_000, "{v}");
    // Every evaluation is kept in search.json: a search cut short (its log truncated, as a
    // kill leaves it) continues with --resume to the same files, evaluating only the rest.
    let run2 = dir.join("run2");
    let results = std::fs::read(run2.join("results.json")).unwrap();
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run2.join("search.json")).unwrap()).unwrap();
    let logged = kept["evaluations"].as_array().unwrap().len();
    assert_eq!(Some(logged as u64), v["evaluations"].as_u64());
    let mut cut = kept.clone();
    cut["finished"] = false.into();
    cut["evaluations"].as_array_mut().unwrap().truncate(9);
    std::fs::write(run2.join("search.json"), cut.to_string()).unwrap();
    std::fs::remove_file(run2.join("results.json")).unwrap();
    fails_cleanly(&run("search_mbv3", &again), "pass --resume to continue it");
    let o = run("search_mbv3", &[&again[..], &["--resume"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(run2.join("results.json")).unwrap(), results);
    let other = [&again[..5], &["30", "--out", &out2, "--resume"]].concat();
    fails_cleanly(
        &run("search_mbv3", &other),
        "--iters (20 in the run, 30 now)",
    );
    // Bad input: an existing --out, a corrupt pairs file, no evaluator.
    fails_cleanly(
        &run(
            "search_mbv3",
            &strs(&args(&["--predictor-data", &data_s]))
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ),
        "already holds a run of search_mbv3",
    );
    // Live training on a tiny two-class ImageFolder (red and blue noise).
    for split in ["train", "val"] {
        for (c, class) in ["red", "blue"].iter().enumerate() {
            let d = dir.join("folder").join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..6u32 {
                let img = image::RgbImage::from_fn(36, 36, |x, y| {
                    let noise = ((x * 7 + y * 13 + i * 31) % 60) as u8;
                    if c == 0 {
                        image::Rgb([170 + noise, 20, 20])
                    } else {
                        image::Rgb([20, 20, 170 + noise])
                    }
                });
                img.save(d.join(format!("{i}.png"))).unwrap();
            }
        }
    }
    let live_out = dir.join("live").display().to_string();
    let folder = dir.join("folder").display().to_string();
    let o = run(
        "search_mbv3",
        &[
            "--live",
            &folder,
            "--resolution",
            "32",
            "--epochs",
            "1",
            "--iters",
            "2",
            "--k",
            "2",
            "--out",
            &live_out,
        ],
    );
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(
        (v["evaluator"].as_str(), v["evaluations"].as_u64()),
        (Some("live"), Some(5)),
        "{v}"
    );
    assert!(v["madds"].as_u64().unwrap() <= 600_000_000, "{v}");
    std::fs::write(
        dir.join("bad.json"),
        r#"[{"arch": "3,3:5", "accuracy": 70}]"#,
    )
    .unwrap();
    let bad = dir.join("bad.json").display().to_string();
    fails_cleanly(
        &run(
            "search_mbv3",
            &[
                "--predictor-data",
                &bad,
                "--out",
                &dir.join("x").display().to_string(),
            ],
        ),
        "pair 0",
    );
    fails_cleanly(
        &run(
            "search_mbv3",
            &["--out", &dir.join("y").display().to_string()],
        ),
        "--predictor-data",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_backend_not_built_in_is_a_clear_error() {
    let out = std::env::temp_dir()
        .join(format!("dsm-backend-{}", std::process::id()))
        .display()
        .to_string();
    for (backend, needle) in [
        ("wgpu", "--features wgpu"),
        ("tch", "LIBTORCH"),
        ("opencl", "expected one of flex"),
    ] {
        fails_cleanly(
            &run(
                "train",
                &[
                    "--arch",
                    RESNET,
                    "--data",
                    "builtin",
                    "--epochs",
                    "1",
                    "--backend",
                    backend,
                    "--out",
                    &out,
                ],
            ),
            needle,
        );
        fails_cleanly(
            &run(
                "infer",
                &[
                    "--backend",
                    backend,
                    "--image",
                    "x.png",
                    "--weights",
                    "w.pt",
                ],
            ),
            needle,
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn refusals_name_their_cause_once_and_write_nothing() {
    let dir = std::env::temp_dir().join(format!("dsm-refusals-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A missing file: the OS error once, after the file's name.
    let o = run(
        "query_nb201",
        &["--arch", RESNET, "--table", "/nonexistent/t.csv"],
    );
    fails_cleanly(&o, "/nonexistent/t.csv");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // A cell with missing nodes says that, not that a node lacks edges.
    let o = run("query_nb201", &["--arch", "|nor_conv_3x3~0|"]);
    fails_cleanly(&o, "has 1 node(s)");
    // search_mbv3 refuses its settings before it trains or writes anything.
    let pairs = dir.join("pairs.json");
    std::fs::write(&pairs, "[]").unwrap();
    for (flag, value, needle) in [
        ("--k", "1", "2 to 32 candidate subspaces"),
        ("--k", "33", "2 to 32 candidate subspaces"),
        ("--madds-limit", "10", "smallest subnet"),
    ] {
        let out = dir.join(format!("run{flag}"));
        let o = run(
            "search_mbv3",
            &[
                "--predictor-data",
                &pairs.display().to_string(),
                flag,
                value,
                "--out",
                &out.display().to_string(),
            ],
        );
        fails_cleanly(&o, needle);
        assert!(!out.exists(), "{flag} {value}: wrote {}", out.display());
    }
    // More threads than searches: the run says how many it used.
    let o = run(
        "search_nb201",
        &[
            "--trials",
            "1",
            "--max-iters",
            "5",
            "--methods",
            "random",
            "--threads",
            "1000",
            "--out",
            &dir.join("threads").display().to_string(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 threads)"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `shared/data/ofa` (OFA's predictor and Note10 tables; the tests that read it are ignored
/// where `build.rs` did not find it).
fn ofa_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ofa")
}

#[test]
#[cfg_attr(
    not(shared_ofa),
    ignore = "needs ../shared/data/ofa (OFA's predictor and latency tables, not redistributable)"
)]
fn search_mbv3_with_ofas_predictor_writes_the_trials_contract() {
    let ofa = ofa_data();
    let dir = std::env::temp_dir().join(format!("dsm-ofa-cli-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let (p, t) = (
        ofa.join("acc_predictor.pth").display().to_string(),
        ofa.join("note10").display().to_string(),
    );
    let search = |out: &str, limit: &[&str]| {
        let mut args = vec![
            "--ofa-predictor",
            &p,
            "--latency-table",
            &t,
            "--methods",
            "dsm-nas,ofa-evolution,rea,random",
            "--iters",
            "300",
            "--seed",
            "3",
            "--out",
            out,
        ];
        args.extend_from_slice(limit);
        run("search_mbv3", &args)
    };
    let a = dir.join("a").display().to_string();
    let o = search(&a, &["--latency-limit", "25"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(dir.join("a/results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let trials = results["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 4);
    for (trial, method) in trials
        .iter()
        .zip(["dsm-nas", "ofa-evolution", "rea", "random"])
    {
        assert_eq!(trial["method"], method);
        assert_eq!(trial["seed"], 3);
        assert_eq!(trial["queries"], 300);
        let arch: dsm_nas::space::MbV3Arch = trial["best_arch"].as_str().unwrap().parse().unwrap();
        let r = trial["resolution"].as_u64().unwrap();
        assert!([160, 176, 192, 208, 224].contains(&r));
        let acc = trial["predicted_acc"].as_f64().unwrap();
        assert!((70.0..90.0).contains(&acc), "percent: {acc}");
        assert!(trial["latency_ms"].as_f64().unwrap() <= 25.0);
        let cost = dsm_nas::space::MbV3Space::new(1.2)
            .unwrap()
            .cost_at(&arch, r as u32)
            .unwrap();
        assert_eq!(trial["madds"].as_u64().unwrap(), cost.madds);
    }
    // The published models for reference, at 224.
    let refs = results["references"].as_array().unwrap();
    assert_eq!(refs[0]["name"], "dsm_nas");
    assert!((refs[0]["predicted_acc"].as_f64().unwrap() - 83.424).abs() < 1e-2);
    assert!((refs[0]["latency_ms"].as_f64().unwrap() - 57.802).abs() < 1e-2);
    // Same arguments, same bytes.
    let o = search(&a, &["--latency-limit", "25", "--force"]);
    assert!(o.status.success());
    assert_eq!(std::fs::read(dir.join("a/results.json")).unwrap(), bytes);
    // A MAdds limit at each subnet's own resolution.
    let b = dir.join("b").display().to_string();
    let o = search(&b, &["--madds-limit", "300"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("b/results.json")).unwrap()).unwrap();
    for trial in results["trials"].as_array().unwrap() {
        assert!(trial["madds"].as_u64().unwrap() <= 300_000_000);
    }
    // Refused before any work: an existing results.json, a limit nothing meets, an unknown
    // method, both limits.
    fails_cleanly(
        &search(&a, &["--latency-limit", "25"]),
        "already holds a run of search_mbv3",
    );
    let c = dir.join("c").display().to_string();
    fails_cleanly(&search(&c, &["--latency-limit", "5"]), "--latency-limit");
    fails_cleanly(
        &search(&c, &["--latency-limit", "25", "--madds-limit", "600"]),
        "--madds-limit",
    );
    let o = run(
        "search_mbv3",
        &[
            "--ofa-predictor",
            &p,
            "--methods",
            "dsm-nas,bohb",
            "--out",
            &c,
        ],
    );
    fails_cleanly(&o, "bohb");
    assert!(!dir.join("c").exists(), "a refused run wrote its folder");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(
    not(shared_ofa),
    ignore = "needs ../shared/data/ofa (OFA's predictor and latency tables, not redistributable)"
)]
fn cost_mbv3_adds_the_predicted_accuracy_and_the_latency() {
    let ofa = ofa_data();
    let (p, t) = (
        ofa.join("acc_predictor.pth").display().to_string(),
        ofa.join("note10").display().to_string(),
    );
    let legacy =
        "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4";
    let base = ["--legacy", legacy, "--width", "1.2", "--resolution", "160"];
    let mut args = base.to_vec();
    args.extend(["--ofa-predictor", &p, "--latency-table", &t]);
    let v = json(&run("cost_mbv3", &args));
    // OFA's own code (shared/fixtures/ofa_predictor): 0.8061038255691528, 30.6175017267214 ms.
    assert!((v["predicted_acc"].as_f64().unwrap() - 80.61038255691528).abs() < 1e-3);
    assert!((v["latency_ms"].as_f64().unwrap() - 30.6175017267214).abs() < 1e-9);
    // Without them the output is as before.
    let v = json(&run("cost_mbv3", &base));
    assert!(v.get("predicted_acc").is_none() && v.get("latency_ms").is_none());
    let mut args = base.to_vec();
    args[5] = "240";
    args.extend(["--latency-table", &t]);
    fails_cleanly(&run("cost_mbv3", &args), "resolution 240");
}

#[test]
#[cfg_attr(
    not(shared_ofa),
    ignore = "needs ../shared/data/ofa (OFA's predictor and latency tables, not redistributable)"
)]
fn tradeoff_mbv3_sweeps_limits_into_a_pareto_plot() {
    let ofa = ofa_data();
    let dir = std::env::temp_dir().join(format!("dsm-tradeoff-cli-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let (p, t) = (
        ofa.join("acc_predictor.pth").display().to_string(),
        ofa.join("note10").display().to_string(),
    );
    let out = dir.display().to_string();
    let args = |limits: &str| {
        vec![
            "--ofa-predictor".to_string(),
            p.clone(),
            "--latency-table".into(),
            t.clone(),
            "--latency-limits".into(),
            limits.into(),
            "--methods".into(),
            "dsm-nas,random".into(),
            "--iters".into(),
            "150".into(),
            "--trials".into(),
            "2".into(),
            "--out".into(),
            out.clone(),
        ]
    };
    fn strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let a = args("20,30");
    let o = run("tradeoff_mbv3", &strs(&a));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("tradeoff.json")).unwrap()).unwrap();
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for (point, limit) in points.iter().zip([20.0, 30.0]) {
        assert_eq!(point["limit"]["latency"]["ms"], limit);
        assert_eq!(point["trials"].as_array().unwrap().len(), 4);
        for trial in point["trials"].as_array().unwrap() {
            assert!(trial["latency_ms"].as_f64().unwrap() <= limit);
        }
        assert_eq!(point["summary"].as_array().unwrap().len(), 2);
        let svg = std::fs::read_to_string(dir.join(format!("best_{limit}ms.svg"))).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("best under"),
            "{limit}"
        );
    }
    let names: Vec<&str> = v["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dsm_nas", "dsm_nas_plus"]);
    let svg = std::fs::read_to_string(dir.join("tradeoff.svg")).unwrap();
    assert!(svg.contains("dsm-nas") && svg.contains("dsm_nas_plus @224"));
    // Refused before any work: the folder holds results, limits out of order, mixed kinds.
    fails_cleanly(
        &run("tradeoff_mbv3", &strs(&a)),
        "already holds a run of tradeoff_mbv3",
    );
    let fresh = dir.join("fresh").display().to_string();
    let mut b = args("30,20");
    *b.last_mut().unwrap() = fresh.clone();
    fails_cleanly(&run("tradeoff_mbv3", &strs(&b)), "ascending");
    let mut c = args("20");
    *c.last_mut().unwrap() = fresh;
    c.extend(["--madds-limits".into(), "300".into()]);
    fails_cleanly(&run("tradeoff_mbv3", &strs(&c)), "--madds-limits");
    assert!(
        !dir.join("fresh").exists(),
        "a refused run wrote its folder"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every file under `d` with its bytes.
fn snapshot(d: &std::path::Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![d.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn the_output_policy_keeps_the_users_files_and_names_differing_settings() {
    let dir = std::env::temp_dir().join(format!("dsm-policy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let p = |name: &str| dir.join(name).display().to_string();
    // forward: --output is its own --input (even with --force), or an existing file.
    std::fs::write(dir.join("io.safetensors"), b"the user's tensors").unwrap();
    std::fs::write(dir.join("old.json"), b"{}").unwrap();
    let forward = |output: &str, force: bool| {
        let mut a = vec!["--model", "dsm_nas", "--input", "io.safetensors"];
        a.extend(["--output", output]);
        a.extend(force.then_some("--force"));
        Command::new(example("forward"))
            .args(&a)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    fails_cleanly(
        &forward("./io.safetensors", true),
        "is also the input --input",
    );
    fails_cleanly(&forward("old.json", false), "pass --force");
    // train: a folder holding the user's weights is neither replaced nor "resumed".
    std::fs::create_dir_all(dir.join("m")).unwrap();
    std::fs::write(dir.join("m/model.safetensors"), b"weights").unwrap();
    let train = ["--arch", RESNET, "--data", "builtin", "--epochs", "1"];
    for (extra, needle) in [
        (None, "is not empty"),
        (Some("--resume"), "no settings.json"),
    ] {
        let mut a = train.to_vec();
        let out = p("m");
        a.extend(["--out", &out]);
        a.extend(extra);
        fails_cleanly(&run("train", &a), needle);
    }
    // A file where a folder is expected; a refused run leaves no folder behind.
    fails_cleanly(
        &run("train", &[&train[..], &["--out", &p("old.json")]].concat()),
        "is a file, expected a folder",
    );
    let nested = p("new/deeper");
    fails_cleanly(
        &run("search_nb201", &["--trials", "0", "--out", &nested]),
        "--trials",
    );
    // search_nb201 --resume on a run of other settings: refused, the differing flag named.
    let search = |trials: &str, extra: &[&str]| {
        let out = p("s");
        let mut a = vec![
            "--trials",
            trials,
            "--max-iters",
            "5",
            "--methods",
            "random",
        ];
        a.extend(["--out", &out]);
        a.extend(extra);
        run("search_nb201", &a)
    };
    assert!(search("1", &[]).status.success());
    let before = snapshot(&dir);
    fails_cleanly(
        &search("2", &["--resume"]),
        "--trials (1 in the run, 2 now)",
    );
    fails_cleanly(&search("1", &[]), "pass --resume to continue it, --force");
    assert!(search("1", &["--resume"]).status.success());
    // search_live: a checkpoint of other --epochs or --data is never reused.
    let live = |extra: &[&str]| {
        let ck = p("ck");
        let mut a = vec![
            "--queries",
            "2",
            "--final-epochs",
            "1",
            "--methods",
            "random",
        ];
        a.extend(["--checkpoint", &ck]);
        a.extend(extra);
        run("search_live", &a)
    };
    assert!(live(&[]).status.success());
    let ck = snapshot(&dir.join("ck"));
    fails_cleanly(&live(&["--epochs", "2"]), "--epochs (1 in the run, 2 now)");
    fails_cleanly(
        &live(&["--data", "cifar10-5k"]),
        "--data (builtin in the run, cifar10-5k now)",
    );
    assert_eq!(snapshot(&dir.join("ck")), ck);
    // rank_nb201: a rerun is refused unless it resumes (same settings) or replaces.
    fails_cleanly(
        &run("rank_nb201", &["--out", &p("m")]),
        "pass --resume to continue it, --force",
    );
    for f in [
        "old.json",
        "io.safetensors",
        "m/model.safetensors",
        "s/results.json",
    ] {
        assert_eq!(
            before[&dir.join(f)],
            std::fs::read(dir.join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(!dir.join("new").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
