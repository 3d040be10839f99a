//! NAS-Bench-201 table: load (parse + validate the embedded compact table) and lookups.
//!
//! `cargo bench -p dsm-nas --bench table`

use criterion::{Criterion, criterion_group, criterion_main};
use dsm_nas::bench::{Dataset, Nb201Table};
use dsm_nas::space::Nb201Cell;
use std::hint::black_box;

fn table(c: &mut Criterion) {
    let bytes = Nb201Table::embedded_bytes();
    c.bench_function("nb201_table_load", |b| {
        b.iter(|| Nb201Table::from_compact_bytes(black_box(bytes), "<embedded>").unwrap())
    });
    let t = Nb201Table::embedded();
    let cells: Vec<Nb201Cell> = (0..1000).map(|i| t.cell(i * 15).unwrap()).collect();
    c.bench_function("nb201_lookup_x1000", |b| {
        b.iter(|| {
            let mut s = 0.0;
            for cell in &cells {
                s += t.lookup(black_box(cell), Dataset::Cifar100).valid_acc;
            }
            s
        })
    });
}

criterion_group!(benches, table);
criterion_main!(benches);
