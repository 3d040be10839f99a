//! Mutation fuzzing on the stable toolchain: every parser and loader that takes user input
//! gets seeded, mutated inputs (bit flips, byte edits, insertions, deletions, truncations,
//! splices of interesting tokens) and must return `Ok` or a typed error, never panic.
//!
//! In the normal test suite each target runs a bounded number of executions. For a longer
//! campaign: `cargo xtask fuzz SECONDS` (sets `DSM_FUZZ_SECONDS`, runs each target that long
//! and prints executions and crashes).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dsm_nas::bench::Nb201Table;
use dsm_nas::miner::{Budget, DsmConfig, seeded_rng};
use dsm_nas::models::StateDict;
use dsm_nas::space::{MbV3Arch, Nb201Cell};
use rand::{Rng, RngExt};

const TOKENS: [&[u8]; 12] = [
    b"|",
    b"~",
    b"+",
    b":",
    b",",
    b"0",
    b"9",
    b"none",
    b"nor_conv_3x3",
    b"\xff\xff\xff\xff",
    b"\x00",
    b"{\"a\":1}",
];

fn mutate<R: Rng>(rng: &mut R, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..4) {
        let len = v.len();
        match rng.random_range(0..7) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                v[i] = rng.random::<u8>();
            }
            2 => {
                let i = rng.random_range(0..=len);
                v.insert(i, rng.random::<u8>());
            }
            3 if len > 0 => {
                let i = rng.random_range(0..len);
                v.remove(i);
            }
            4 => v.truncate(rng.random_range(0..=len)),
            5 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                let i = rng.random_range(0..=len);
                v.splice(i..i, t.iter().copied());
            }
            _ if len > 1 => {
                let (a, b) = (rng.random_range(0..len), rng.random_range(0..len));
                let (a, b) = (a.min(b), a.max(b));
                let chunk = v[a..b].to_vec();
                let i = rng.random_range(0..=v.len());
                v.splice(i..i, chunk);
            }
            _ => {}
        }
    }
    v
}

/// Runs `target` on mutations of `seeds`; returns (executions, crashes).
fn fuzz(
    name: &str,
    seeds: &[Vec<u8>],
    default_execs: usize,
    target: &dyn Fn(&[u8]),
) -> (usize, usize) {
    let budget = std::env::var("DSM_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut rng = seeded_rng(0x5eed ^ name.len() as u64);
    let start = Instant::now();
    let (mut execs, mut crashes) = (0usize, 0usize);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    loop {
        let done = match budget {
            Some(b) => start.elapsed() >= b,
            None => execs >= default_execs,
        };
        if done {
            break;
        }
        let seed = &seeds[rng.random_range(0..seeds.len())];
        let input = mutate(&mut rng, seed);
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            crashes += 1;
            eprintln!(
                "CRASH in {name} on input {:?}",
                String::from_utf8_lossy(&input[..input.len().min(200)])
            );
        }
        execs += 1;
    }
    std::panic::set_hook(hook);
    println!(
        "fuzz {name}: {execs} executions, {crashes} crashes, {:.1} s",
        start.elapsed().as_secs_f64()
    );
    (execs, crashes)
}

fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).join(rel);
    p.exists().then_some(p)
}

#[test]
fn fuzz_nb201_parser() {
    let seeds: Vec<Vec<u8>> = [0usize, 11472, 9930, 15624]
        .iter()
        .map(|&i| Nb201Cell::from_ordinal(i).unwrap().to_string().into_bytes())
        .collect();
    let (_, crashes) = fuzz("nb201_parser", &seeds, 20_000, &|b| {
        if let Ok(s) = std::str::from_utf8(b) {
            if let Ok(c) = s.parse::<Nb201Cell>() {
                assert_eq!(c.to_string(), s, "a parsed cell prints back to its input");
            }
            let _ = Nb201Cell::from_ops_code(s);
        }
    });
    assert_eq!(crashes, 0);
}

#[test]
fn fuzz_mobilenet_parsers() {
    let seeds: Vec<Vec<u8>> = [
        "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4",
        "2,2,2,2,2:3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0:3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let (_, crashes) = fuzz("mbv3_legacy_and_codes", &seeds, 20_000, &|b| {
        if let Ok(s) = std::str::from_utf8(b)
            && let Ok(a) = s.parse::<MbV3Arch>()
        {
            assert_eq!(a.to_string(), s);
        }
        let _ = MbV3Arch::from_codes(b);
    });
    assert_eq!(crashes, 0);
}

#[test]
fn fuzz_table_loaders() {
    let compact = Nb201Table::embedded_bytes().to_vec();
    let (_, c1) = fuzz("nb201_compact_table", &[compact], 200, &|b| {
        let _ = Nb201Table::from_compact_bytes(b, "fuzz");
    });
    assert_eq!(c1, 0);
    let Some(csv) = shared("data/nb201/nb201.csv") else {
        return;
    };
    let text = std::fs::read_to_string(csv).unwrap();
    let head: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
    let (_, c2) = fuzz("nb201_csv_table", &[head.into_bytes()], 5_000, &|b| {
        if let Ok(s) = std::str::from_utf8(b) {
            let _ = Nb201Table::from_csv_str(s, "fuzz");
        }
    });
    assert_eq!(c2, 0);
}

#[test]
fn fuzz_config_loader() {
    let seeds = vec![
        serde_json::to_vec(&DsmConfig::default()).unwrap(),
        serde_json::to_vec(&Budget::default()).unwrap(),
    ];
    let (_, crashes) = fuzz("configs", &seeds, 20_000, &|b| {
        if let Ok(c) = serde_json::from_slice::<DsmConfig>(b) {
            let _ = c.check();
        }
        if let Ok(bu) = serde_json::from_slice::<Budget>(b) {
            let _ = bu.check();
        }
    });
    assert_eq!(crashes, 0);
}

#[test]
fn fuzz_weights_loaders() {
    let Some(st) = shared("fixtures/nb201/nb201_none_c10.safetensors") else {
        return;
    };
    let bytes = std::fs::read(st).unwrap();
    let (_, c1) = fuzz("safetensors_weights", &[bytes], 1_000, &|b| {
        let _ = StateDict::from_safetensors_bytes(b, "fuzz");
    });
    assert_eq!(c1, 0);
    let pt = std::fs::read(shared("fixtures/nb201/nb201_none_c10.pt").unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("dsm-fuzz-pt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("w.pt");
    let (_, c2) = fuzz("pytorch_weights", &[pt], 200, &|b| {
        std::fs::write(&path, b).unwrap();
        let _ = StateDict::from_file(&path);
    });
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(c2, 0);
}
