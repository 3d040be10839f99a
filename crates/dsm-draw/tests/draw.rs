//! The pictures: valid XML, one element per edge / layer with the right labels, golden files,
//! and the README pictures in sync with the code.

use dsm_draw::{CellOptions, PUBLISHED, mbv3_subnet, nb201_cell, published_pictures};
use dsm_space::{MbV3Arch, MbV3Space, Nb201Cell, Nb201Op};

const RESNET: &str =
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";
const SMALL: &str =
    "2,3,2,4,2:3,5,0,0,7,5,3,0,3,3,0,0,5,7,3,5,7,7,0,0:3,4,0,0,6,4,3,0,4,6,0,0,3,3,4,6,6,4,0,0";

fn class_elems<'a>(doc: &'a roxmltree::Document<'a>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .collect()
}

fn texts(node: roxmltree::Node) -> Vec<String> {
    node.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect()
}

#[test]
fn a_cell_has_one_labelled_element_per_edge() {
    for ordinal in [0, 777, 9_930, 15_624] {
        let cell = Nb201Cell::from_ordinal(ordinal).unwrap();
        let svg = nb201_cell(&cell, &CellOptions::default());
        let doc = roxmltree::Document::parse(&svg).expect("valid XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let edges = class_elems(&doc, "edge");
        assert_eq!(edges.len(), 6);
        for (e, g) in edges.iter().enumerate() {
            let op = cell.op(e);
            assert_eq!(g.attribute("data-op"), Some(op.name()));
            assert_eq!(texts(*g), vec![op.name().to_string()]);
            let path = g.descendants().find(|n| n.has_tag_name("path")).unwrap();
            assert_eq!(
                path.attribute("stroke-dasharray").is_some(),
                op == Nb201Op::None,
                "none is dashed"
            );
        }
        assert_eq!(class_elems(&doc, "node").len(), 4);
        assert_eq!(class_elems(&doc, "skeleton").len(), 1);
        assert!(svg.contains(&cell.to_string()));
    }
    let bare = nb201_cell(
        &RESNET.parse().unwrap(),
        &CellOptions {
            skeleton: false,
            title: Some("a <title> & more".into()),
        },
    );
    let doc = roxmltree::Document::parse(&bare).expect("escaped title");
    assert!(class_elems(&doc, "skeleton").is_empty());
    assert!(texts(doc.root_element()).contains(&"a <title> & more".to_string()));
}

#[test]
fn a_mobilenet_has_one_labelled_element_per_layer() {
    let arch: MbV3Arch = SMALL.parse().unwrap();
    let space = MbV3Space::new(1.0).unwrap();
    let svg = mbv3_subnet(&arch, &space, 224, "small").unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("valid XML");
    let layers = class_elems(&doc, "layer");
    let expected: Vec<_> = arch.units().iter().flatten().collect();
    assert_eq!(layers.len(), expected.len());
    for (g, l) in layers.iter().zip(&expected) {
        assert_eq!(
            g.attribute("data-kernel"),
            Some(l.kernel.to_string().as_str())
        );
        assert_eq!(
            g.attribute("data-expand"),
            Some(l.expand.to_string().as_str())
        );
        let t = texts(*g);
        assert!(
            t.contains(&format!("{0}x{0}", l.kernel)) && t.contains(&format!("e{}", l.expand)),
            "{t:?}"
        );
    }
    // SE in units 2, 4 and 5 only; 4 stride-2 boundaries; per-unit channels and resolution.
    let units = class_elems(&doc, "unit");
    assert_eq!(units.len(), 5);
    for (u, g) in units.iter().enumerate() {
        let se = g
            .descendants()
            .filter(|n| n.attribute("class") == Some("layer"))
            .all(|l| l.attribute("data-se") == Some("true"));
        assert_eq!(se, [false, true, false, true, true][u]);
    }
    assert_eq!(class_elems(&doc, "stride").len(), 4);
    let all = texts(doc.root_element());
    for label in [
        "24 ch", "56x56", "40 ch", "28x28", "80 ch", "14x14", "112 ch", "160 ch", "7x7",
    ] {
        assert!(all.iter().any(|t| t == label), "missing {label}");
    }
    let caption = class_elems(&doc, "caption");
    let c = space.cost_at(&arch, 224).unwrap();
    assert!(texts(caption[0])[0].starts_with(&format!(
        "{:.2} M MAdds, {:.2} M params",
        c.madds as f64 / 1e6,
        c.params as f64 / 1e6
    )));
    assert!(mbv3_subnet(&arch, &space, 8, "x").is_err());
}

fn golden(name: &str, svg: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, svg).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
    assert!(
        want == svg,
        "{name} changed; look at the new picture, then update with UPDATE_GOLDEN=1 cargo test -p dsm-draw"
    );
}

#[test]
fn pictures_are_deterministic_and_match_the_golden_files() {
    let cell: Nb201Cell = RESNET.parse().unwrap();
    let a = nb201_cell(&cell, &CellOptions::default());
    assert_eq!(a, nb201_cell(&cell, &CellOptions::default()));
    golden("cell_resnet.svg", &a);
    let arch: MbV3Arch = SMALL.parse().unwrap();
    let m = mbv3_subnet(&arch, &MbV3Space::new(1.0).unwrap(), 224, "small").unwrap();
    golden("mbv3_small.svg", &m);
}

#[test]
fn the_readme_pictures_are_up_to_date() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/img");
    let pics = published_pictures();
    assert_eq!(pics.len(), PUBLISHED.len());
    for (name, svg) in pics {
        let committed = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            committed == svg,
            "docs/img/{name} is stale: run `cargo xtask draw`"
        );
        roxmltree::Document::parse(&svg).unwrap();
    }
}
