//! A user's space with rules between positions: `sample` and `mutate` draw only what the
//! space accepts and never panic; a space that accepts nothing is an error, not a hang.

use dsm_space::{SearchSpace, SpaceError};
use rand::SeedableRng;

/// Three positions of four options; only vectors with an even sum are architectures (or
/// none at all, with `none`).
struct Even {
    none: bool,
}

impl SearchSpace for Even {
    type Arch = String;
    fn name(&self) -> &str {
        "even"
    }
    fn num_positions(&self) -> usize {
        3
    }
    fn num_choices(&self, position: usize) -> usize {
        if position < 3 { 4 } else { 0 }
    }
    fn choices_of(&self, arch: &String) -> Vec<usize> {
        arch.bytes().map(|b| usize::from(b - b'0')).collect()
    }
    fn arch_from_choices(&self, choices: &[usize]) -> Result<String, SpaceError> {
        self.check_choices("choices", choices)?;
        if self.none || choices.iter().sum::<usize>() % 2 == 1 {
            return Err(SpaceError::InvalidSetting {
                what: "choice sum",
                value: choices.iter().sum::<usize>().to_string(),
                expected: "an even sum",
            });
        }
        Ok(choices.iter().map(ToString::to_string).collect())
    }
    fn parse(&self, text: &str) -> Result<String, SpaceError> {
        self.arch_from_choices(&self.choices_of(&text.to_string()))
    }
    fn feature_len(&self) -> usize {
        3
    }
    fn encode(&self, arch: &String) -> Vec<f32> {
        self.choices_of(arch).iter().map(|&c| c as f32).collect()
    }
}

#[test]
fn sample_and_mutate_draw_only_what_the_space_accepts() {
    let space = Even { none: false };
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    let even = |a: &String| space.choices_of(a).iter().sum::<usize>() % 2 == 0;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..300 {
        let a = space.sample(&mut rng).unwrap();
        assert!(even(&a), "{a}");
        let b = space.mutate(&a, &mut rng).unwrap();
        assert!(even(&b), "{b}");
        seen.insert(a);
    }
    // Uniform over the 32 accepted vectors: 300 draws see all of them.
    assert_eq!(seen.len(), 32);
    let never = Even { none: true };
    let err = never.sample(&mut rng).unwrap_err();
    assert!(
        matches!(err, SpaceError::NoValidDraw { what: "sample", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("an even sum"), "{err}");
    let err = never.mutate(&"000".to_string(), &mut rng).unwrap_err();
    assert!(
        matches!(err, SpaceError::NoValidDraw { what: "mutate", .. }),
        "{err}"
    );
}
