//! MobileNetV3-like space: legacy strings, layer codes, exact cost model.

use dsm_space::mbv3::{Activation, NUM_SLOTS, make_divisible};
use dsm_space::{Edit, MbV3Arch, MbV3Space, SearchSpace, SpaceError};
use proptest::prelude::*;
use rand::SeedableRng;

const DSM_NAS: &str =
    "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4";
const DSM_NAS_PLUS: &str =
    "4,4,3,4,4:3,5,5,5,7,7,3,7,5,3,7,0,5,5,7,7,3,5,5,3:6,6,3,3,3,6,3,6,6,3,6,0,6,3,6,4,6,6,4,6";

fn space() -> MbV3Space {
    MbV3Space::new(1.2).unwrap()
}

#[test]
fn published_figures_are_exact() {
    let a: MbV3Arch = DSM_NAS.parse().unwrap();
    let p: MbV3Arch = DSM_NAS_PLUS.parse().unwrap();
    let madds = |arch: &MbV3Arch, r| space().cost_at(arch, r).unwrap().madds;
    assert_eq!(madds(&a, 224), 586_320_560);
    assert_eq!(madds(&a, 192), 431_942_336);
    assert_eq!(madds(&a, 208), 516_707_216);
    assert_eq!(madds(&a, 240), 684_522_848);
    assert_eq!(madds(&a, 256), 764_449_280);
    assert_eq!(madds(&p, 224), 581_784_272);
    let ca = space().cost_at(&a, 224).unwrap();
    let cp = space().cost_at(&p, 224).unwrap();
    assert_eq!(ca.params, 8_939_576);
    assert_eq!(cp.params, 8_996_552);
    assert_eq!(ca.params_without_classifier, 7_402_576);
    assert_eq!(ca.madds_with_classifier, 587_856_560);
}

/// Every figure of `shared/fixtures/reference_numbers.json` (skipped in a clone without it).
#[test]
fn every_reference_figure_holds() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/reference_numbers.json"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!(
            "skipping: {path} not found (shared/ is only present in the project's own checkout)"
        );
        return;
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for name in ["dsm_nas", "dsm_nas_plus"] {
        let r = &json["ofa"][name];
        let arch: MbV3Arch = r["arch_string"].as_str().unwrap().parse().unwrap();
        let s = space();
        for (res, m) in r["madds"].as_object().unwrap() {
            let res: u32 = res.parse().unwrap();
            let c = s.cost_at(&arch, res).unwrap();
            assert_eq!(
                c.madds as f64,
                m["repo_compute_flops"].as_f64().unwrap(),
                "{name} @ {res}"
            );
            assert_eq!(
                c.madds_with_classifier,
                m["hook_total"].as_u64().unwrap(),
                "{name} @ {res}"
            );
        }
        let c = s.cost_at(&arch, 224).unwrap();
        assert_eq!(c.params, r["params"].as_u64().unwrap());
        assert_eq!(
            c.params_without_classifier,
            r["params_no_classifier"].as_u64().unwrap()
        );
        let blocks = s.blocks(&arch, 224).unwrap();
        let want = r["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), want.len(), "{name}");
        for (b, w) in blocks.iter().zip(want) {
            let u = |k: &str| w[k].as_u64().unwrap() as usize;
            assert_eq!(
                (b.kernel, b.expand, b.in_ch, b.mid_ch, b.out_ch, b.stride),
                (
                    u("kernel"),
                    u("expand_ratio"),
                    u("in_ch"),
                    u("mid_ch"),
                    u("out_ch"),
                    u("stride")
                ),
                "{name} block {}",
                w["idx"]
            );
            assert_eq!(b.se_mid, w["se_mid"].as_u64().map(|x| x as usize));
            assert_eq!(b.residual, w["residual"].as_bool().unwrap());
            assert_eq!(
                b.act == Activation::HSwish,
                w["act"].as_str().unwrap() == "h_swish"
            );
            assert_eq!(b.in_hw, w["in_hw"][0].as_u64().unwrap() as usize);
            assert_eq!(b.out_hw, w["out_hw"][0].as_u64().unwrap() as usize);
        }
    }
}

#[test]
fn small_fixture_subnet_has_the_documented_params() {
    // shared/fixtures/ofa/README.md: width 1.0, depth 2, kernel 3, expand 3 -> 3,410,792.
    let arch = MbV3Arch::uniform(2, 3, 3).unwrap();
    let s = MbV3Space::new(1.0).unwrap();
    assert_eq!(s.cost_at(&arch, 224).unwrap().params, 3_410_792);
    assert_eq!(s.stem_channels(), 16);
    assert_eq!(s.unit_channels(), [24, 40, 80, 112, 160]);
    assert_eq!(s.head_channels(), (960, 1280));
    assert_eq!(space().unit_channels(), [32, 48, 96, 136, 192]);
}

#[test]
fn make_divisible_follows_the_reference_rule() {
    assert_eq!(make_divisible(19.2), 24);
    assert_eq!(make_divisible(134.4), 136);
    assert_eq!(make_divisible(3.0), 8);
    assert_eq!(make_divisible(1152.0), 1152);
}

#[test]
fn codes_follow_the_reference_rules() {
    let a: MbV3Arch = DSM_NAS.parse().unwrap();
    let codes = a.codes();
    assert_eq!(&codes[..4], &[6, 6, 7, 0]); // (5,6) (5,6) (7,3) absent
    assert_eq!(MbV3Arch::from_codes(&codes).unwrap(), a);
    // An absent layer in the middle of a unit moves to the tail (slots 2 and 3 swap).
    let mut c = codes;
    c[2] = 0;
    c[3] = 7;
    assert_eq!(MbV3Arch::from_codes(&c).unwrap(), a);
    // The first two layers of a unit can never be absent.
    let mut bad = codes;
    bad[5] = 0;
    let e = MbV3Arch::from_codes(&bad).unwrap_err();
    assert!(matches!(e, SpaceError::MbLayerCodes { .. }));
    assert!(e.to_string().contains("slot 5"), "{e}");
    let mut bad = codes;
    bad[0] = 10;
    assert!(MbV3Arch::from_codes(&bad).is_err());
    assert!(MbV3Arch::from_codes(&codes[..19]).is_err());
}

#[test]
fn malformed_legacy_strings_are_typed_errors_naming_the_slot() {
    let cases = [
        (
            "3,3,3,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4",
            "depths has 4 values",
        ),
        ("3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7", "3"),
        (
            "5,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4",
            "depths[0] is 5",
        ),
        (
            "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,9:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4",
            "ks[19]",
        ),
        (
            "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,5",
            "ratios[19]",
        ),
        (
            "3,3,3,4,4:5,5,7,3,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4",
            "slot 3",
        ),
        (
            "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4, 4",
            "ratios[19]",
        ),
        ("", "fields"),
    ];
    for (s, needle) in cases {
        let e = s.parse::<MbV3Arch>().unwrap_err();
        assert!(matches!(e, SpaceError::MbLegacySyntax { .. }), "{s}");
        let msg = e.to_string();
        assert!(msg.contains(needle), "{msg} should mention {needle}");
        assert!(msg.contains(&format!("{s:?}")), "{msg}");
    }
}

#[test]
fn bad_settings_are_errors() {
    assert!(MbV3Space::new(0.0).is_err());
    assert!(MbV3Space::new(f64::NAN).is_err());
    assert!(space().with_resolution(8).is_err());
    assert!(space().with_classes(0).is_err());
    let a: MbV3Arch = DSM_NAS.parse().unwrap();
    assert!(space().cost_at(&a, 0).is_err());
}

#[test]
fn search_space_choices_never_remove_the_first_two_layers() {
    let s = space();
    assert_eq!(s.num_positions(), NUM_SLOTS);
    assert_eq!(s.num_choices(0), 9);
    assert_eq!(s.num_choices(2), 10);
    assert_eq!(s.max_choices(), 10);
    assert_eq!(s.feature_len(), 200);
    let a: MbV3Arch = DSM_NAS.parse().unwrap();
    let child = s.apply(&a, &[Edit::new(1, 0), Edit::new(19, 0)]).unwrap();
    assert_eq!(child.depths(), [3, 3, 3, 4, 3]);
    assert_eq!(child.units()[0][1].kernel, 3);
    assert_eq!(a.to_string(), DSM_NAS);
}

proptest! {
    #[test]
    fn random_subnets_round_trip_string_codes_choices(seed in any::<u64>()) {
        let s = space();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let a = s.sample(&mut rng).unwrap();
        prop_assert_eq!(a.to_string().parse::<MbV3Arch>().unwrap(), a.clone());
        prop_assert_eq!(MbV3Arch::from_codes(&a.codes()).unwrap(), a.clone());
        prop_assert_eq!(s.arch_from_choices(&s.choices_of(&a)).unwrap(), a.clone());
        let x = s.encode(&a);
        prop_assert_eq!(x.iter().sum::<f32>(), 20.0);
        let c = s.cost_at(&a, 224).unwrap();
        prop_assert!(c.madds > 100_000_000 && c.madds < 1_500_000_000);
    }

    #[test]
    fn any_legacy_string_parses_and_round_trips_or_errors(t in "[0-9,:]{0,100}") {
        if let Ok(a) = t.parse::<MbV3Arch>() {
            prop_assert_eq!(a.to_string(), t);
        }
    }
}

/// Found by `fuzz_mobilenet_parsers`: "05" was read as 5, so the string did not round-trip.
#[test]
fn regression_leading_zeros_are_refused() {
    let s = "3,3,3,4,4:5,5,7,0,05,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4";
    let e = s.parse::<MbV3Arch>().unwrap_err();
    assert!(e.to_string().contains("ks[4] is \"05\""), "{e}");
    assert!("3,3,3,4,4:5,5,7,00,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4".parse::<MbV3Arch>().is_err());
}
