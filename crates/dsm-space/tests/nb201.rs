//! NAS-Bench-201 cell space: parsing, printing, codes, costs.

use dsm_space::nb201::{NUM_CELLS, NUM_EDGES};
use dsm_space::{Edit, Nb201Cell, Nb201Op, Nb201Space, SearchSpace, SpaceError};
use proptest::prelude::*;
use rand::SeedableRng;

const RESNET: &str =
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";

#[test]
fn all_cells_round_trip_through_string_code_and_ordinal() {
    let mut seen = std::collections::HashSet::new();
    for cell in Nb201Cell::all() {
        let s = cell.to_string();
        assert_eq!(s.parse::<Nb201Cell>().unwrap(), cell, "{s}");
        assert_eq!(Nb201Cell::from_ops_code(&cell.ops_code()).unwrap(), cell);
        assert_eq!(Nb201Cell::from_ordinal(cell.ordinal()).unwrap(), cell);
        let space = Nb201Space;
        assert_eq!(
            space.arch_from_choices(&space.choices_of(&cell)).unwrap(),
            cell
        );
        assert!(seen.insert(s));
    }
    assert_eq!(seen.len(), NUM_CELLS);
}

#[test]
fn resnet_cell_parses_to_the_expected_ops() {
    let cell: Nb201Cell = RESNET.parse().unwrap();
    use Nb201Op::*;
    assert_eq!(
        cell.ops(),
        [NorConv3x3, None, NorConv3x3, SkipConnect, None, SkipConnect]
    );
    assert_eq!(cell.to_string(), RESNET);
    assert_eq!(cell.ops_code(), "303101");
}

fn err(s: &str) -> SpaceError {
    s.parse::<Nb201Cell>().unwrap_err()
}

#[test]
fn malformed_strings_give_distinct_typed_errors_quoting_the_input() {
    let cases = [
        "|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|none~1|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2| ",
        "",
        "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~00|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2",
    ];
    for case in cases {
        let e = err(case);
        let msg = e.to_string();
        assert!(msg.contains(&format!("{case:?}")), "{msg}");
    }
    assert!(
        matches!(err(cases[0]), SpaceError::Nb201UnknownOp { edge: 0, ref op, .. } if op == "nor_conv_5x5")
    );
    assert!(matches!(
        err(cases[1]),
        SpaceError::Nb201WrongSource {
            edge: 0,
            expected: 0,
            ..
        }
    ));
    assert!(matches!(
        err(cases[2]),
        SpaceError::Nb201EdgeCount {
            node: 2,
            found: 1,
            expected: 2,
            ..
        }
    ));
    assert!(matches!(
        err(cases[3]),
        SpaceError::Nb201NodeCount { found: 2, .. }
    ));
    // A cell with missing nodes says so, not that a node lacks edges.
    for (case, nodes) in [
        ("resnet", 1),
        ("|nor_conv_3x3~0|", 1),
        ("|none~0|+|none~0|none~1|", 2),
    ] {
        let msg = err(case).to_string();
        assert!(
            msg.contains(&format!("has {nodes} node(s)")) && !msg.contains("incoming"),
            "{msg}"
        );
    }
    assert!(err("").to_string().contains("empty cell"));
    assert!(matches!(
        err(cases[4]),
        SpaceError::Nb201Syntax { position: 47, .. }
    ));
    assert!(matches!(
        err(cases[6]),
        SpaceError::Nb201Syntax { position: 0, .. }
    ));
    assert!(matches!(err(cases[7]), SpaceError::Nb201Syntax { .. }));
    assert!(matches!(err(cases[8]), SpaceError::Nb201WrongSource { .. }));
    assert!(matches!(err(cases[9]), SpaceError::Nb201Syntax { .. }));
    for bad in ["", "12345", "1234567", "123455", "12a456", "+12345"] {
        assert!(
            matches!(
                Nb201Cell::from_ops_code(bad),
                Err(SpaceError::Nb201OpsCode { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn costs_match_the_reference_counts() {
    // Reference figures from shared/fixtures/reference_numbers.json (xautodl counters).
    let cases = [
        (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
            1_288_506,
            184_730_250,
        ),
        (
            "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
            129_306,
            15_647_370,
        ),
        (
            "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            73_306,
            7_783_050,
        ),
        (
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
            1_531_546,
            220_119_690,
        ),
    ];
    for (s, params, flops) in cases {
        let cell: Nb201Cell = s.parse().unwrap();
        assert_eq!(cell.params(10), params, "{s}");
        assert_eq!(cell.flops(10, 32).unwrap(), flops, "{s}");
    }
    let cell: Nb201Cell = cases[0].0.parse().unwrap();
    assert!(cell.flops(10, 30).is_err());
    assert!(cell.flops(10, 0).is_err());
}

#[test]
fn neighbours_differ_on_exactly_one_edge() {
    let cell: Nb201Cell = RESNET.parse().unwrap();
    let n = cell.neighbours();
    assert_eq!(n.len(), 24);
    for c in &n {
        let diff = (0..NUM_EDGES).filter(|&e| c.op(e) != cell.op(e)).count();
        assert_eq!(diff, 1);
    }
    let unique: std::collections::HashSet<_> = n.iter().collect();
    assert_eq!(unique.len(), 24);
}

#[test]
fn encoding_is_one_hot_with_an_unused_sixth_slot() {
    let space = Nb201Space;
    let cell: Nb201Cell = RESNET.parse().unwrap();
    let x = space.encode(&cell);
    assert_eq!(x.len(), 36);
    for e in 0..6 {
        let block = &x[e * 6..e * 6 + 6];
        assert_eq!(block.iter().sum::<f32>(), 1.0);
        assert_eq!(block[cell.op(e).index()], 1.0);
        assert_eq!(block[5], 0.0);
    }
}

#[test]
fn edits_are_values_and_bad_edits_are_errors() {
    let space = Nb201Space;
    let parent: Nb201Cell = RESNET.parse().unwrap();
    let child = space
        .apply(
            &parent,
            &[Edit::new(1, 4), Edit::new(1, 2), Edit::new(5, 0)],
        )
        .unwrap();
    assert_eq!(parent.to_string(), RESNET);
    assert_eq!(child.op(1), Nb201Op::NorConv1x1); // the later edit of a position wins
    assert_eq!(child.op(5), Nb201Op::None);
    assert!(matches!(
        space.apply(&parent, &[Edit::new(6, 0)]),
        Err(SpaceError::InvalidEdit { position: 6, .. })
    ));
    assert!(matches!(
        space.apply(&parent, &[Edit::new(0, 5)]),
        Err(SpaceError::InvalidEdit { choice: 5, .. })
    ));
    assert!(space.arch_from_choices(&[0, 1, 2]).is_err());
}

#[test]
fn sampling_is_seeded_and_covers_all_ops() {
    let space = Nb201Space;
    let draw = |seed| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..200)
            .map(|_| space.sample(&mut rng).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
    for e in 0..6 {
        for op in Nb201Op::ALL {
            assert!(draw(3).iter().any(|c| c.op(e) == op));
        }
    }
}

proptest! {
    #[test]
    fn any_string_either_parses_and_round_trips_or_errors(s in ".{0,80}") {
        if let Ok(cell) = s.parse::<Nb201Cell>() {
            prop_assert_eq!(cell.to_string(), s);
        }
    }

    #[test]
    fn edits_never_produce_an_invalid_cell(ordinal in 0usize..NUM_CELLS, edits in proptest::collection::vec((0usize..6, 0usize..5), 0..8)) {
        let space = Nb201Space;
        let parent = Nb201Cell::from_ordinal(ordinal).unwrap();
        let edits: Vec<Edit> = edits.into_iter().map(|(p, c)| Edit::new(p, c)).collect();
        let child = space.apply(&parent, &edits).unwrap();
        prop_assert!(space.validate(&child).is_ok());
        prop_assert_eq!(child.to_string().parse::<Nb201Cell>().unwrap(), child);
    }
}

#[test]
fn mutation_changes_exactly_one_edge_with_the_benchmark_edge_distribution() {
    let space = Nb201Space;
    let parent: Nb201Cell = RESNET.parse().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut per_edge = [0usize; 6];
    let n = 90_000;
    for _ in 0..n {
        let child = space.mutate(&parent, &mut rng).unwrap();
        let diff: Vec<usize> = (0..6).filter(|&e| child.op(e) != parent.op(e)).collect();
        assert_eq!(diff.len(), 1);
        per_edge[diff[0]] += 1;
    }
    // Node uniform, then incoming edge uniform: 1/3, 1/6, 1/6, 1/9, 1/9, 1/9.
    let expect = [
        1.0 / 3.0,
        1.0 / 6.0,
        1.0 / 6.0,
        1.0 / 9.0,
        1.0 / 9.0,
        1.0 / 9.0,
    ];
    for (count, p) in per_edge.iter().zip(expect) {
        let f = *count as f64 / n as f64;
        assert!((f - p).abs() < 0.01, "{per_edge:?}");
    }
}
