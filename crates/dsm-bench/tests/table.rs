//! The embedded NAS-Bench-201 table: contents, protocols, and corrupt inputs.

use dsm_bench::{BenchError, Dataset, Nb201Table, Signal};
use dsm_space::Nb201Cell;

const SHARED_CSV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/nb201/nb201.csv"
);

fn shared_csv() -> String {
    std::fs::read_to_string(SHARED_CSV).expect("the shared CSV (present: build.rs saw it)")
}

#[test]
fn embedded_table_has_every_cell_once() {
    let t = Nb201Table::embedded();
    assert_eq!(t.len(), 15_625);
    let mut seen = std::collections::HashSet::new();
    for i in 0..t.len() {
        let cell = t.cell(i).unwrap();
        assert_eq!(t.index_of(&cell), i);
        assert!(seen.insert(cell));
    }
    assert!(matches!(
        t.cell(15_625),
        Err(BenchError::IndexOutOfRange { index: 15_625, .. })
    ));
}

#[test]
#[cfg_attr(
    not(shared_nb201_csv),
    ignore = "needs ../shared/data/nb201/nb201.csv (the project's own checkout)"
)]
fn embedded_table_equals_the_shared_csv() {
    let text = shared_csv();
    let from_csv = Nb201Table::from_csv_str(&text, "nb201.csv").unwrap();
    assert_eq!(
        from_csv.to_compact_bytes(),
        Nb201Table::embedded_bytes(),
        "run `cargo xtask pack-nb201`"
    );
    // And the values read back equal the CSV's decimal text exactly.
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (ci, cv, ct, ch) = (
        col("index"),
        col("v11_cifar100_valid_acc"),
        col("nats_cifar10_test_acc"),
        col("nats_hp12_imagenet16_test_acc"),
    );
    let t = Nb201Table::embedded();
    for line in lines.step_by(97) {
        let f: Vec<&str> = line.split(',').collect();
        let cell = t.cell(f[ci].parse().unwrap()).unwrap();
        assert_eq!(
            t.lookup(&cell, Dataset::Cifar100).valid_acc,
            f[cv].parse::<f64>().unwrap()
        );
        assert_eq!(
            t.lookup(&cell, Dataset::Cifar10).test_acc,
            f[ct].parse::<f64>().unwrap()
        );
        assert_eq!(
            t.lookup(&cell, Dataset::ImageNet16).hp12_acc,
            f[ch].parse::<f64>().unwrap()
        );
    }
}

#[test]
fn known_cells_have_the_documented_results() {
    let t = Nb201Table::embedded();
    let resnet: Nb201Cell =
        "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
            .parse()
            .unwrap();
    assert_eq!(t.index_of(&resnet), 11472);
    let c10 = t.lookup(&resnet, Dataset::Cifar10);
    assert!((c10.valid_acc - 90.86).abs() < 0.01 && (c10.test_acc - 93.91).abs() < 0.01);
    let c100 = t.lookup(&resnet, Dataset::Cifar100);
    assert!((c100.valid_acc - 70.50).abs() < 0.01 && (c100.test_acc - 70.89).abs() < 0.01);
    let in16 = t.lookup(&resnet, Dataset::ImageNet16);
    assert!((in16.valid_acc - 44.10).abs() < 0.01 && (in16.test_acc - 44.23).abs() < 0.01);
    assert_eq!(c10.params_m, 0.559386);
    let first = t.lookup(&t.cell(0).unwrap(), Dataset::Cifar10);
    assert!((first.cost_s - (12.0 * 7.2211 + 2.549)).abs() < 1e-9);
    assert!((first.flops_m - 15.64737).abs() < 1e-9);
    assert_eq!(t.index_of(&t.cell(9930).unwrap()), 9930);
}

#[test]
fn signal_ceilings_match_the_spec() {
    let t = Nb201Table::embedded();
    let ceil = |d, s| (t.best_by(d, s).1.test_acc * 100.0).round() / 100.0;
    assert_eq!(ceil(Dataset::Cifar10, Signal::Valid200), 94.37);
    assert_eq!(ceil(Dataset::Cifar100, Signal::Valid200), 73.51);
    assert_eq!(ceil(Dataset::ImageNet16, Signal::Valid200), 46.20);
    assert_eq!(ceil(Dataset::Cifar10, Signal::Hp12), 93.93);
    assert_eq!(ceil(Dataset::Cifar100, Signal::Hp12), 73.17);
    assert_eq!(ceil(Dataset::ImageNet16, Signal::Hp12), 46.48);
    assert!((t.optimum_test_acc(Dataset::ImageNet16) - 47.3111).abs() < 1e-3);
}

#[test]
fn names_parse_and_unknown_names_are_errors() {
    for d in [
        Dataset::Cifar10Valid,
        Dataset::Cifar10,
        Dataset::Cifar100,
        Dataset::ImageNet16,
    ] {
        assert_eq!(d.name().parse::<Dataset>().unwrap(), d);
        assert_eq!(d.benchmark_name().parse::<Dataset>().unwrap(), d);
    }
    assert!(matches!(
        "cifar1000".parse::<Dataset>(),
        Err(BenchError::UnknownDataset { .. })
    ));
    assert!(matches!(
        "valid12".parse::<Signal>(),
        Err(BenchError::UnknownSignal { .. })
    ));
}

#[test]
fn corrupt_compact_tables_are_refused_with_the_offset() {
    let good = Nb201Table::embedded_bytes().to_vec();
    let check = |bytes: &[u8], needle: &str| {
        let Err(e) = Nb201Table::from_compact_bytes(bytes, "t.bin") else {
            panic!("accepted a corrupt table; expected an error mentioning {needle}")
        };
        let msg = e.to_string();
        assert!(matches!(e, BenchError::Compact { .. }), "{msg}");
        assert!(
            msg.contains("t.bin") && msg.contains(needle),
            "{msg} should mention {needle}"
        );
    };
    check(&good[..good.len() - 100], "truncated");
    check(&good[..10], "too short");
    check(&[], "too short");
    let mut altered = good.clone();
    altered[5000] ^= 1;
    check(&altered, "checksum");
    let mut magic = good.clone();
    magic[0] = b'X';
    check(&magic, "magic");
    let mut version = good.clone();
    version[8] = 9;
    check(&version, "version");
    let dir = std::env::temp_dir().join(format!("dsm-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("missing.bin");
    assert!(matches!(
        Nb201Table::from_compact_file(&path),
        Err(BenchError::Io { .. })
    ));
    std::fs::write(&path, &good).unwrap();
    assert_eq!(Nb201Table::from_compact_file(&path).unwrap().len(), 15_625);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(
    not(shared_nb201_csv),
    ignore = "needs ../shared/data/nb201/nb201.csv (the project's own checkout)"
)]
fn corrupt_csv_tables_are_refused_with_the_line() {
    let text = shared_csv();
    let lines: Vec<&str> = text.lines().collect();
    let check = |t: String, needle: &str| {
        let Err(e) = Nb201Table::from_csv_str(&t, "x.csv") else {
            panic!("accepted a corrupt CSV; expected an error mentioning {needle}")
        };
        let msg = e.to_string();
        assert!(
            msg.contains("x.csv") && msg.contains(needle),
            "{msg} should mention {needle}"
        );
    };
    // Truncated: the last 10 rows are missing.
    check(lines[..lines.len() - 10].join("\n"), "15615 data rows");
    // A value altered to NaN, out of range, or with too many decimals.
    let alter = |line: usize, from: &str, to: &str| {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        l[line] = l[line].replacen(from, to, 1);
        l.join("\n")
    };
    check(alter(1, "88.918667", "NaN"), "line 2");
    check(alter(1, "88.918667", "188.918667"), "row 0");
    check(alter(1, "88.918667", "88.9186671"), "precision");
    check(
        alter(1, "|avg_pool_3x3~0|", "|avg_pool_5x5~0|"),
        "avg_pool_5x5",
    );
    check(alter(1, ",421211,", ",421212,"), "disagrees with arch");
    check(alter(1, "0.129306", "0.129307"), "exact count");
    check(alter(2, "1,|", "0,|"), "appears twice");
    check(
        alter(0, "v11_cifar100_valid_acc", "v11_cifar100_validacc"),
        "missing",
    );
    check(String::new(), "empty");
}
