//! The CI-sized ranking check: a few clearly separated NAS-Bench-201 cells trained briefly on
//! a part of the vendored CIFAR-10 slice come out in the table's order (the full run is
//! `rank_nb201`, recorded in docs/RESULTS.md).

use dsm_bench::{Dataset, Nb201Table};
use dsm_space::Nb201Cell;
use dsm_space::output::{Existing, OutputFolder, Settings};
use dsm_train::TrainConfig;
use dsm_train::data::cifar10_5k;
use dsm_train::rank::{summarise, train_cell};

#[test]
fn clearly_separated_cells_rank_in_the_tables_order() {
    let cells: Vec<Nb201Cell> = [
        // 10 % in the table: the output node is cut off from the input.
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        // 46 %: pooling and skips only, no parameters in the cell.
        "|skip_connect~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|skip_connect~1|avg_pool_3x3~2|",
        // 93.9 %: the ResNet-like cell.
        "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let data = cifar10_5k().unwrap();
    let train = data.train.subset(&(0..1500).collect::<Vec<_>>());
    let test = data.test.subset(&(0..500).collect::<Vec<_>>());
    let cfg = TrainConfig {
        epochs: 3,
        batch_size: 64,
        ..TrainConfig::default()
    };
    let dev = burn::prelude::Device::flex();
    let dir = std::env::temp_dir().join(format!("dsm-rank-test-{}", std::process::id()));
    let settings = Settings::new("rank_nb201").with("--epochs", 3);
    let out = OutputFolder::new("--out", &dir).check(&settings).unwrap();
    out.create().unwrap();
    let table = Nb201Table::embedded();
    let mut done = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        let r = table.lookup(cell, Dataset::Cifar10);
        done.push(
            train_cell(
                &out,
                i,
                cell,
                (r.test_acc, r.hp12_acc),
                &train,
                &test,
                &cfg,
                &dev,
            )
            .unwrap(),
        );
    }
    let accs: Vec<f64> = done.iter().map(|c| c.test_acc).collect();
    let s = summarise(&done).unwrap();
    assert_eq!(
        s.kendall_tau, 1.0,
        "trained accuracies {accs:?} against the table's 10 / 46 / 93.9"
    );
    // A resumed run (same settings) takes the saved cells: nothing is trained again (the
    // table accuracies passed now are not the saved ones).
    let resumed = OutputFolder::new("--out", &dir)
        .existing(Existing::Resume)
        .check(&settings)
        .unwrap();
    let again = train_cell(
        &resumed,
        2,
        &cells[2],
        (0.0, 0.0),
        &train,
        &test,
        &cfg,
        &dev,
    );
    assert_eq!(again.unwrap(), done[2]);
    // Resumed with other epochs: refused before any training, naming the flag.
    let other = Settings::new("rank_nb201").with("--epochs", 4);
    let err = OutputFolder::new("--out", &dir)
        .existing(Existing::Resume)
        .check(&other)
        .unwrap_err();
    assert!(
        err.to_string().contains("--epochs (3 in the run, 4 now)"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
