//! The MobileNetV3 space with the input resolution as one more searched position, as
//! Once-for-All searches it: a [`MbV3Subnet`] is a layer configuration and a resolution.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::mbv3::{DEPTHS, EXPANDS, KERNELS, MAX_DEPTH, NUM_SLOTS, NUM_UNITS, check_resolution};
use crate::space::{CostMetrics, SearchSpace};
use crate::{MbLayer, MbV3Arch, MbV3Cost, MbV3Space, SpaceError};

/// The resolutions Once-for-All's tutorial searches (its predictor's one-hot covers
/// 112..=224 in steps of 16).
pub const OFA_RESOLUTIONS: [u32; 5] = [160, 176, 192, 208, 224];

/// A subnet of the MobileNetV3 space at its own input resolution. Written
/// `<legacy depths:ks:ratios>@<resolution>`.
///
/// ```
/// use dsm_space::MbV3Subnet;
/// let s: MbV3Subnet = "2,2,2,2,2:3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0:3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0@176".parse()?;
/// assert_eq!(s.resolution, 176);
/// assert_eq!(s.to_string().parse::<MbV3Subnet>()?, s);
/// assert!("2,2,2,2,2:3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0:3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0,3,3,0,0".parse::<MbV3Subnet>().is_err());
/// # Ok::<(), dsm_space::SpaceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MbV3Subnet {
    /// The layers.
    pub arch: MbV3Arch,
    /// The input resolution (square).
    pub resolution: u32,
}

impl fmt::Display for MbV3Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.arch, self.resolution)
    }
}

impl FromStr for MbV3Subnet {
    type Err = SpaceError;

    /// Parses `<legacy>@<resolution>` strictly (the resolution in 32..=4096).
    fn from_str(input: &str) -> Result<Self, SpaceError> {
        let Some((legacy, r)) = input.rsplit_once('@') else {
            return Err(SpaceError::MbLegacySyntax {
                input: input.to_string(),
                reason: "no '@<resolution>' after the legacy string, expected e.g. '...@224'"
                    .into(),
            });
        };
        let resolution = r
            .parse::<u32>()
            .ok()
            .filter(|_| !r.starts_with('0') && r.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| SpaceError::MbLegacySyntax {
                input: input.to_string(),
                reason: format!("resolution {r:?} is not a positive integer"),
            })?;
        check_resolution(resolution)?;
        Ok(Self {
            arch: legacy.parse()?,
            resolution,
        })
    }
}

/// The MobileNetV3 space with a searched resolution, positioned as Once-for-All's genes:
/// positions `0..5` the unit depths (2, 3, 4), `5..25` the kernel sizes (3, 5, 7) and
/// `25..45` the expand ratios (3, 4, 6) of the 20 layer slots, position 45 the index into
/// [`resolutions`](Self::resolutions). The kernel and expand positions of slots past a
/// unit's depth do not change the subnet. Costs ([`SearchSpace::cost`],
/// [`cost`](Self::cost)) are counted at each subnet's own resolution.
///
/// ```
/// use dsm_space::{MbV3ResolutionSpace, MbV3Space, SearchSpace, OFA_RESOLUTIONS};
/// let space = MbV3ResolutionSpace::new(MbV3Space::new(1.2)?, &OFA_RESOLUTIONS)?;
/// assert_eq!(space.num_positions(), 46);
/// assert_eq!(space.num_choices(45), 5);
/// let s = space.arch_from_choices(&[0; 46])?;
/// assert_eq!((s.arch.depths(), s.resolution), ([2; 5], 160));
/// assert_eq!(space.arch_from_choices(&space.choices_of(&s))?, s);
/// assert!(space.cost(&s)?.madds < space.base().cost_at(&s.arch, 224)?.madds);
/// # Ok::<(), dsm_space::SpaceError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MbV3ResolutionSpace {
    base: MbV3Space,
    resolutions: Vec<u32>,
}

impl MbV3ResolutionSpace {
    /// `base` with the input resolution searched among `resolutions` (distinct, ascending,
    /// each in 32..=4096, at least one).
    pub fn new(base: MbV3Space, resolutions: &[u32]) -> Result<Self, SpaceError> {
        let listed = || {
            resolutions
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        if resolutions.is_empty() || resolutions.windows(2).any(|w| w[0] >= w[1]) {
            return Err(SpaceError::InvalidSetting {
                what: "searched resolutions",
                value: listed(),
                expected: "at least one resolution, distinct and in ascending order",
            });
        }
        for &r in resolutions {
            check_resolution(r)?;
        }
        Ok(Self {
            base,
            resolutions: resolutions.to_vec(),
        })
    }

    /// The layer space (width, classes).
    pub fn base(&self) -> &MbV3Space {
        &self.base
    }

    /// The searched resolutions, ascending.
    pub fn resolutions(&self) -> &[u32] {
        &self.resolutions
    }

    /// MAdds and parameters of `subnet` at its own resolution.
    pub fn cost(&self, subnet: &MbV3Subnet) -> Result<MbV3Cost, SpaceError> {
        self.base.cost_at(&subnet.arch, subnet.resolution)
    }

    fn resolution_index(&self, r: u32) -> Result<usize, SpaceError> {
        self.resolutions
            .iter()
            .position(|&x| x == r)
            .ok_or_else(|| SpaceError::InvalidSetting {
                what: "subnet resolution",
                value: r.to_string(),
                expected: "one of the space's searched resolutions",
            })
    }
}

impl SearchSpace for MbV3ResolutionSpace {
    type Arch = MbV3Subnet;

    fn name(&self) -> &str {
        "ofa-mobilenetv3-resolution"
    }

    /// Once-for-All's genes: 5 unit depths, 20 kernel sizes, 20 expand ratios (one per
    /// layer slot) and the resolution.
    fn num_positions(&self) -> usize {
        NUM_UNITS + 2 * NUM_SLOTS + 1
    }

    fn num_choices(&self, position: usize) -> usize {
        match position {
            p if p < NUM_UNITS => DEPTHS.len(),
            p if p < NUM_UNITS + 2 * NUM_SLOTS => 3,
            p if p == NUM_UNITS + 2 * NUM_SLOTS => self.resolutions.len(),
            _ => 0,
        }
    }

    /// Slots past a unit's depth read as kernel 3, expand 3 (choice 0): a subnet is its
    /// network, so growing a unit adds its cheapest layer.
    fn choices_of(&self, subnet: &MbV3Subnet) -> Vec<usize> {
        let idx = |v: u8, of: &[u8]| of.iter().position(|&x| x == v).unwrap_or(0);
        let mut c: Vec<usize> = subnet
            .arch
            .depths()
            .iter()
            .map(|&d| idx(d, &DEPTHS))
            .collect();
        c.extend(subnet.arch.kernel_slots().iter().map(|&k| idx(k, &KERNELS)));
        c.extend(subnet.arch.expand_slots().iter().map(|&e| idx(e, &EXPANDS)));
        // A subnet at a resolution the space does not search maps to the nearest one below
        // (validate() refuses it).
        c.push(
            self.resolutions
                .iter()
                .rposition(|&x| x <= subnet.resolution)
                .unwrap_or(0),
        );
        c
    }

    fn arch_from_choices(&self, choices: &[usize]) -> Result<MbV3Subnet, SpaceError> {
        self.check_choices("MobileNet subnet choice vector", choices)?;
        let (depths, rest) = choices.split_at(NUM_UNITS);
        let (ks, rest) = rest.split_at(NUM_SLOTS);
        let (es, r) = rest.split_at(NUM_SLOTS);
        let units: [Vec<MbLayer>; NUM_UNITS] = std::array::from_fn(|u| {
            (0..DEPTHS[depths[u]] as usize)
                .map(|l| MbLayer {
                    kernel: KERNELS[ks[u * MAX_DEPTH + l]],
                    expand: EXPANDS[es[u * MAX_DEPTH + l]],
                })
                .collect()
        });
        Ok(MbV3Subnet {
            arch: MbV3Arch::new(units)?,
            resolution: self.resolutions[r[0]],
        })
    }

    fn parse(&self, text: &str) -> Result<MbV3Subnet, SpaceError> {
        let s: MbV3Subnet = text.parse()?;
        self.resolution_index(s.resolution)?;
        Ok(s)
    }

    fn validate(&self, subnet: &MbV3Subnet) -> Result<(), SpaceError> {
        self.resolution_index(subnet.resolution).map(|_| ())
    }

    /// The layer space's one-hot layer codes (200 values), then a one-hot of the resolution.
    fn feature_len(&self) -> usize {
        self.base.feature_len() + self.resolutions.len()
    }

    fn encode(&self, subnet: &MbV3Subnet) -> Vec<f32> {
        let mut out = self.base.encode(&subnet.arch);
        let mut r = vec![0.0; self.resolutions.len()];
        if let Ok(i) = self.resolution_index(subnet.resolution) {
            r[i] = 1.0;
        }
        out.extend(r);
        out
    }

    fn cost(&self, subnet: &MbV3Subnet) -> Option<CostMetrics> {
        MbV3ResolutionSpace::cost(self, subnet)
            .ok()
            .map(|c| CostMetrics {
                params: Some(c.params as f64),
                madds: Some(c.madds as f64),
            })
    }
}
