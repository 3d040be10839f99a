//! The MobileNet space with a searched resolution: OFA's genes round-trip, inactive genes
//! change nothing, costs are counted at each subnet's resolution, bad input is refused.

use dsm_space::{
    MbV3Arch, MbV3ResolutionSpace, MbV3Space, MbV3Subnet, OFA_RESOLUTIONS, SearchSpace,
};
use rand::SeedableRng;

fn space() -> MbV3ResolutionSpace {
    MbV3ResolutionSpace::new(MbV3Space::new(1.2).unwrap(), &OFA_RESOLUTIONS).unwrap()
}

#[test]
fn genes_round_trip_and_inactive_genes_change_nothing() {
    let s = space();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    let mut depths = [0usize; 3];
    for _ in 0..2000 {
        let a = s.sample(&mut rng).unwrap();
        assert_eq!(s.arch_from_choices(&s.choices_of(&a)).unwrap(), a);
        assert_eq!(s.parse(&a.to_string()).unwrap(), a);
        assert_eq!(s.encode(&a).len(), s.feature_len());
        depths[a.arch.depths()[0] as usize - 2] += 1;
        // The kernel gene of slot 3 of unit 0 is inactive unless the unit is 4 deep.
        let mut c = s.choices_of(&a);
        c[5 + 3] = (c[5 + 3] + 1) % 3;
        let b = s.arch_from_choices(&c).unwrap();
        assert_eq!(a == b, a.arch.depths()[0] < 4);
    }
    // Depths are drawn uniformly (OFA's random_sample), not biased towards deep units.
    assert!(
        depths.iter().all(|&n| (550..780).contains(&n)),
        "{depths:?}"
    );
}

#[test]
fn costs_are_counted_at_the_subnets_own_resolution() {
    let s = space();
    let arch = MbV3Arch::uniform(3, 5, 4).unwrap();
    for r in OFA_RESOLUTIONS {
        let subnet = MbV3Subnet {
            arch: arch.clone(),
            resolution: r,
        };
        let want = s.base().cost_at(&arch, r).unwrap().madds as f64;
        assert_eq!(SearchSpace::cost(&s, &subnet).unwrap().madds, Some(want));
    }
}

#[test]
fn bad_input_is_refused() {
    let base = MbV3Space::new(1.2).unwrap();
    for bad in [&[][..], &[224, 160][..], &[160, 160][..], &[16][..]] {
        assert!(MbV3ResolutionSpace::new(base, bad).is_err(), "{bad:?}");
    }
    let s = space();
    let legacy = MbV3Arch::uniform(2, 3, 3).unwrap().to_string();
    for text in [
        legacy.clone(),
        format!("{legacy}@"),
        format!("{legacy}@0160"),
        format!("{legacy}@-1"),
        format!("{legacy}@240"),
    ] {
        assert!(s.parse(&text).is_err(), "{text}");
    }
    assert!(s.arch_from_choices(&[0; 45]).is_err());
    assert!(s.arch_from_choices(&[3; 46]).is_err());
}
