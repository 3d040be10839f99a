//! FreeREA's zero-cost proxies, embedded: equal to the shared CSVs value for value (times
//! to f32), damaged copies refused, names and indices checked, and the proxies rank the
//! cells as the data README says.

use dsm_bench::proxies::{PROXIES, Proxy, ZC_DATASETS, ZcTable};
use dsm_bench::{Dataset, Nb201Table};

#[test]
#[cfg_attr(
    not(shared_zc),
    ignore = "needs ../shared/data/zc-nb201 (FreeREA's CSVs the embedded table was packed from)"
)]
fn the_embedded_table_is_the_shared_csvs() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/zc-nb201");
    let from_csv = ZcTable::from_csv_dir(&dir).unwrap();
    assert_eq!(&from_csv, ZcTable::embedded());
    assert_eq!(from_csv.to_compact_bytes(), ZcTable::embedded_bytes());
    // FreeREA's degenerate values are kept as they are: -inf NASWOT for the 201 cells
    // without a path from input to output, no region counts on ImageNet16-120.
    for d in ZC_DATASETS {
        let inf = (0..15_625)
            .filter(|&i| from_csv.get(d, i).unwrap().get(Proxy::Naswot) == Some(f64::NEG_INFINITY))
            .count();
        assert_eq!(inf, 201, "{d:?}");
    }
}

#[test]
fn damaged_copies_unknown_names_and_indices_are_refused() {
    let bytes = ZcTable::embedded_bytes();
    let mut flipped = bytes.to_vec();
    flipped[1000] ^= 1;
    let err = ZcTable::from_compact_bytes(&flipped, "copy.bin").unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    let err = ZcTable::from_compact_bytes(&bytes[..bytes.len() / 2], "half.bin").unwrap_err();
    assert!(err.to_string().contains("half.bin"), "{err}");
    let err = "snip".parse::<Proxy>().unwrap_err();
    assert!(err.to_string().contains("logsynflow"), "{err}");
    for p in PROXIES {
        assert_eq!(p.name().parse::<Proxy>().unwrap(), p);
    }
    assert!(ZcTable::embedded().get(Dataset::Cifar10, 15_625).is_err());
}

/// Spearman's rank correlation (no ties expected in these columns' ranks to matter).
fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let rank = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        for (k, &i) in idx.iter().enumerate() {
            r[i] = k as f64;
        }
        r
    };
    let (ra, rb) = (rank(a), rank(b));
    let n = a.len() as f64;
    let mean = (n - 1.0) / 2.0;
    let cov: f64 = ra
        .iter()
        .zip(&rb)
        .map(|(x, y)| (x - mean) * (y - mean))
        .sum();
    let var: f64 = ra.iter().map(|x| (x - mean).powi(2)).sum();
    cov / var
}

#[test]
fn the_proxies_rank_cells_by_accuracy_as_documented() {
    let zc = ZcTable::embedded();
    let table = Nb201Table::embedded();
    let acc: Vec<f64> = (0..table.len())
        .map(|i| {
            table
                .lookup(&table.cell(i).unwrap(), Dataset::Cifar10)
                .test_acc
        })
        .collect();
    for (proxy, at_least) in [(Proxy::Logsynflow, 0.80), (Proxy::Naswot, 0.77)] {
        let v: Vec<f64> = (0..table.len())
            .map(|i| zc.get(Dataset::Cifar10, i).unwrap().get(proxy).unwrap())
            .collect();
        let rho = spearman(&v, &acc);
        assert!(rho >= at_least, "{proxy}: Spearman {rho}");
    }
    // Every data set has its own values; cifar10-valid shares CIFAR-10's networks.
    let resnet = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
        .parse()
        .unwrap();
    let v: Vec<f64> = ZC_DATASETS
        .iter()
        .map(|&d| zc.lookup(&resnet, d).unwrap().get(Proxy::Naswot).unwrap())
        .collect();
    assert!(v[0] != v[1] && v[1] != v[2]);
    assert_eq!(
        zc.lookup(&resnet, Dataset::Cifar10Valid).unwrap(),
        zc.lookup(&resnet, Dataset::Cifar10).unwrap()
    );
}

#[test]
fn the_proxy_evaluator_gives_finite_scores_and_freereas_times() {
    use dsm_bench::proxies::ZcEvaluator;
    use dsm_space::Evaluator;
    let mut naswot = ZcEvaluator::new(Dataset::Cifar10, Proxy::Naswot).unwrap();
    // No path from input to output: FreeREA's -inf becomes the documented 0.
    let empty = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
        .parse()
        .unwrap();
    let e = naswot.evaluate(&empty).unwrap();
    assert_eq!(e.score, 0.0);
    let raw = ZcTable::embedded()
        .lookup(&empty, Dataset::Cifar10)
        .unwrap();
    assert_eq!(e.cost_s, raw.time_s(Proxy::Naswot));
    // Every cell's score is finite on every data set for the three proxies FreeREA has.
    for d in ZC_DATASETS {
        for p in [Proxy::Synflow, Proxy::Logsynflow, Proxy::Naswot] {
            let mut zc = ZcEvaluator::new(d, p).unwrap();
            let table = Nb201Table::embedded();
            for i in (0..table.len()).step_by(97) {
                let e = zc.evaluate(&table.cell(i).unwrap()).unwrap();
                assert!(e.score.is_finite() && e.cost_s >= 0.0, "{d:?} {p} {i}");
            }
        }
    }
    let err = ZcEvaluator::new(Dataset::ImageNet16, Proxy::Nregions).unwrap_err();
    assert!(err.to_string().contains("nregions"), "{err}");
}
