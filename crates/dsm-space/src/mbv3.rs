//! The MobileNetV3-like (Once-for-All) space of the DSM-NAS ImageNet results.
//!
//! Five searchable units of 2 to 4 layers; every layer has a kernel size in {3, 5, 7} and an
//! expand ratio in {3, 4, 6}. An architecture is written either as the legacy string
//! `depths:ks:ratios` (5 depths, then 20 kernel sizes and 20 expand ratios with 0 for an
//! absent layer) or as 20 layer codes 0..=9 (0 = absent, 1..=9 = (kernel, expand) in the
//! order (3,3), (3,4), (3,6), (5,3), (5,4), (5,6), (7,3), (7,4), (7,6)).
//!
//! [`MbV3Space`] adds the width multiplier and the input resolution and gives the exact
//! cost model (MAdds and parameters by the reference implementation's convention).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::SpaceError;
use crate::space::{CostMetrics, SearchSpace};

/// Number of searchable units.
pub const NUM_UNITS: usize = 5;
/// Layer slots per unit.
pub const MAX_DEPTH: usize = 4;
/// Layer slots in all.
pub const NUM_SLOTS: usize = NUM_UNITS * MAX_DEPTH;
/// Depth choices of a unit.
pub const DEPTHS: [u8; 3] = [2, 3, 4];
/// Kernel-size choices of a layer.
pub const KERNELS: [u8; 3] = [3, 5, 7];
/// Expand-ratio choices of a layer.
pub const EXPANDS: [u8; 3] = [3, 4, 6];
/// Input resolutions of the space's optional resolution choice.
pub const RESOLUTIONS: [u32; 5] = [192, 208, 224, 240, 256];
/// Base output widths of the five units (width multiplier 1.0).
pub const UNIT_WIDTHS: [usize; NUM_UNITS] = [24, 40, 80, 112, 160];
/// Stride of the first layer of each unit.
pub const UNIT_STRIDES: [usize; NUM_UNITS] = [2, 2, 2, 1, 2];
/// Whether each unit's layers use squeeze-and-excite.
pub const UNIT_SE: [bool; NUM_UNITS] = [false, true, false, true, true];
/// Activation of each unit's layers.
pub const UNIT_ACTS: [Activation; NUM_UNITS] = [
    Activation::Relu,
    Activation::Relu,
    Activation::HSwish,
    Activation::HSwish,
    Activation::HSwish,
];

/// The two published ImageNet architectures of DSM-NAS (width multiplier 1.2, 1000
/// classes), as `(name, legacy string)`: the one place they are written (the models, the
/// pictures and the hardware-aware search's references read them here).
///
/// ```
/// use dsm_space::{MbV3Arch, mbv3::PUBLISHED};
/// let dsm_nas: MbV3Arch = PUBLISHED[0].1.parse()?;
/// assert_eq!((PUBLISHED[0].0, dsm_nas.depths()), ("dsm_nas", [3, 3, 3, 4, 4]));
/// # Ok::<(), dsm_space::SpaceError>(())
/// ```
pub const PUBLISHED: [(&str, &str); 2] = [
    (
        "dsm_nas",
        "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4",
    ),
    (
        "dsm_nas_plus",
        "4,4,3,4,4:3,5,5,5,7,7,3,7,5,3,7,0,5,5,7,7,3,5,5,3:6,6,3,3,3,6,3,6,6,3,6,0,6,3,6,4,6,6,4,6",
    ),
];

/// The published architecture `name` of [`PUBLISHED`] (`dsm_nas` or `dsm_nas_plus`).
pub fn published(name: &str) -> Option<MbV3Arch> {
    PUBLISHED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, legacy)| legacy.parse().expect("the published architectures parse"))
}

/// A layer's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Activation {
    /// max(x, 0).
    Relu,
    /// x * relu6(x + 3) / 6.
    HSwish,
}

/// One present layer: kernel size and expand ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MbLayer {
    /// Depthwise kernel size: 3, 5 or 7.
    pub kernel: u8,
    /// Expand ratio of the inverted bottleneck: 3, 4 or 6.
    pub expand: u8,
}

impl MbLayer {
    /// The layer code 1..=9 of this layer.
    pub fn code(self) -> u8 {
        let k = KERNELS.iter().position(|&k| k == self.kernel).unwrap_or(0) as u8;
        let e = EXPANDS.iter().position(|&e| e == self.expand).unwrap_or(0) as u8;
        1 + 3 * k + e
    }

    /// The layer with code `code` (1..=9).
    pub fn from_code(code: u8) -> Option<Self> {
        if !(1..=9).contains(&code) {
            return None;
        }
        let c = (code - 1) as usize;
        Some(Self {
            kernel: KERNELS[c / 3],
            expand: EXPANDS[c % 3],
        })
    }
}

/// A subnet of the Once-for-All MobileNetV3 space: per unit, its 2 to 4 layers.
///
/// ```
/// use dsm_space::MbV3Arch;
/// let legacy = "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4";
/// let arch: MbV3Arch = legacy.parse().unwrap();
/// assert_eq!(arch.depths(), [3, 3, 3, 4, 4]);
/// assert_eq!(arch.to_string(), legacy);
/// assert_eq!(MbV3Arch::from_codes(&arch.codes()).unwrap(), arch);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MbV3Arch {
    units: [Vec<MbLayer>; NUM_UNITS],
}

impl MbV3Arch {
    /// Builds an architecture from the layers of each unit, checking depths and choices.
    pub fn new(units: [Vec<MbLayer>; NUM_UNITS]) -> Result<Self, SpaceError> {
        for (u, layers) in units.iter().enumerate() {
            if !DEPTHS.contains(&(layers.len() as u8)) {
                return Err(SpaceError::MbInvalid {
                    reason: format!("unit {u} has {} layers, expected 2, 3 or 4", layers.len()),
                });
            }
            for (l, layer) in layers.iter().enumerate() {
                if !KERNELS.contains(&layer.kernel) || !EXPANDS.contains(&layer.expand) {
                    return Err(SpaceError::MbInvalid {
                        reason: format!(
                            "unit {u} layer {l} has kernel {} and expand {}, expected kernel 3/5/7 and expand 3/4/6",
                            layer.kernel, layer.expand
                        ),
                    });
                }
            }
        }
        Ok(Self { units })
    }

    /// The same layer everywhere, with the same depth in every unit.
    pub fn uniform(depth: u8, kernel: u8, expand: u8) -> Result<Self, SpaceError> {
        let unit = vec![MbLayer { kernel, expand }; depth as usize];
        Self::new(std::array::from_fn(|_| unit.clone()))
    }

    /// The layers of each unit.
    pub fn units(&self) -> &[Vec<MbLayer>; NUM_UNITS] {
        &self.units
    }

    /// Depth of each unit.
    pub fn depths(&self) -> [u8; NUM_UNITS] {
        std::array::from_fn(|u| self.units[u].len() as u8)
    }

    /// The 20 kernel-size slots (0 for absent layers).
    pub fn kernel_slots(&self) -> [u8; NUM_SLOTS] {
        self.slots(|l| l.kernel)
    }

    /// The 20 expand-ratio slots (0 for absent layers).
    pub fn expand_slots(&self) -> [u8; NUM_SLOTS] {
        self.slots(|l| l.expand)
    }

    fn slots(&self, f: impl Fn(&MbLayer) -> u8) -> [u8; NUM_SLOTS] {
        let mut out = [0; NUM_SLOTS];
        for (u, layers) in self.units.iter().enumerate() {
            for (l, layer) in layers.iter().enumerate() {
                out[u * MAX_DEPTH + l] = f(layer);
            }
        }
        out
    }

    /// The 20 layer codes (0 = absent, 1..=9 = (kernel, expand)).
    pub fn codes(&self) -> [u8; NUM_SLOTS] {
        self.slots(|l| l.code())
    }

    /// Builds an architecture from 20 layer codes. Within a unit the first two codes must be
    /// non-zero; the present layers of a unit are its non-zero codes in order, so an absent
    /// layer always sits at the tail of its unit (the reference's rule).
    pub fn from_codes(codes: &[u8]) -> Result<Self, SpaceError> {
        let text = || {
            codes
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        if codes.len() != NUM_SLOTS {
            return Err(SpaceError::MbLayerCodes {
                input: text(),
                reason: format!("found {} codes, expected {NUM_SLOTS}", codes.len()),
            });
        }
        let mut units: [Vec<MbLayer>; NUM_UNITS] = Default::default();
        for (u, unit) in units.iter_mut().enumerate() {
            for l in 0..MAX_DEPTH {
                let slot = u * MAX_DEPTH + l;
                let code = codes[slot];
                if code > 9 {
                    return Err(SpaceError::MbLayerCodes {
                        input: text(),
                        reason: format!(
                            "code {code} at slot {slot} (unit {u}, layer {l}), expected 0..=9"
                        ),
                    });
                }
                if code == 0 {
                    if l < 2 {
                        return Err(SpaceError::MbLayerCodes {
                            input: text(),
                            reason: format!(
                                "code 0 (absent) at slot {slot}: layer {l} of unit {u} can never be absent"
                            ),
                        });
                    }
                    continue;
                }
                unit.push(MbLayer::from_code(code).expect("code checked to be 1..=9"));
            }
        }
        Self::new(units)
    }
}

impl fmt::Display for MbV3Arch {
    /// The legacy string `depths:ks:ratios`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |v: &[u8]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        write!(
            f,
            "{}:{}:{}",
            join(&self.depths()),
            join(&self.kernel_slots()),
            join(&self.expand_slots())
        )
    }
}

impl FromStr for MbV3Arch {
    type Err = SpaceError;

    /// Parses the legacy string `depths:ks:ratios`, strictly.
    fn from_str(input: &str) -> Result<Self, SpaceError> {
        let err = |reason: String| SpaceError::MbLegacySyntax {
            input: input.to_string(),
            reason,
        };
        let fields: Vec<&str> = input.split(':').collect();
        if fields.len() != 3 {
            return Err(err(format!(
                "found {} ':'-separated fields, expected 3 (depths:ks:ratios)",
                fields.len()
            )));
        }
        let names = ["depths", "ks", "ratios"];
        let lens = [NUM_UNITS, NUM_SLOTS, NUM_SLOTS];
        let mut parsed: [Vec<u8>; 3] = Default::default();
        for (i, field) in fields.iter().enumerate() {
            let items: Vec<&str> = field.split(',').collect();
            if items.len() != lens[i] {
                return Err(err(format!(
                    "field {} has {} values, expected {}",
                    names[i],
                    items.len(),
                    lens[i]
                )));
            }
            for (j, item) in items.iter().enumerate() {
                // Canonical decimal only: no sign, no space, no leading zero ("05").
                let ok = !item.is_empty()
                    && item.len() <= 2
                    && item.bytes().all(|b| b.is_ascii_digit())
                    && !(item.len() > 1 && item.starts_with('0'));
                let value = item.parse::<u8>().ok().filter(|_| ok).ok_or_else(|| {
                    err(format!(
                        "{}[{j}] is {item:?}, expected a small integer without leading zeros",
                        names[i]
                    ))
                })?;
                parsed[i].push(value);
            }
        }
        let [depths, ks, ratios] = parsed;
        let mut units: [Vec<MbLayer>; NUM_UNITS] = Default::default();
        for (u, unit) in units.iter_mut().enumerate() {
            let depth = depths[u];
            if !DEPTHS.contains(&depth) {
                return Err(err(format!("depths[{u}] is {depth}, expected 2, 3 or 4")));
            }
            for l in 0..MAX_DEPTH {
                let slot = u * MAX_DEPTH + l;
                let (k, e) = (ks[slot], ratios[slot]);
                if l < depth as usize {
                    if !KERNELS.contains(&k) {
                        return Err(err(format!(
                            "ks[{slot}] (unit {u}, layer {l}) is {k}, expected 3, 5 or 7"
                        )));
                    }
                    if !EXPANDS.contains(&e) {
                        return Err(err(format!(
                            "ratios[{slot}] (unit {u}, layer {l}) is {e}, expected 3, 4 or 6"
                        )));
                    }
                    unit.push(MbLayer {
                        kernel: k,
                        expand: e,
                    });
                } else if k != 0 || e != 0 {
                    return Err(err(format!(
                        "slot {slot} (unit {u}, layer {l}) lies beyond depth {depth} but has kernel {k} and ratio {e}, expected 0 and 0"
                    )));
                }
            }
        }
        Self::new(units)
    }
}

/// The usual make-divisible rule: round `v` to a multiple of 8, at least 8, never more than
/// 10 % below `v`.
pub fn make_divisible(v: f64) -> usize {
    let mut new_v = (((v + 4.0) as usize) / 8 * 8).max(8);
    if (new_v as f64) < 0.9 * v {
        new_v += 8;
    }
    new_v
}

/// Shape of one inverted-residual block of a built subnet (block 0 is the fixed first block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockShape {
    /// Depthwise kernel size.
    pub kernel: usize,
    /// Expand ratio (1 for the fixed first block).
    pub expand: usize,
    /// Input channels.
    pub in_ch: usize,
    /// Channels of the depthwise conv.
    pub mid_ch: usize,
    /// Output channels.
    pub out_ch: usize,
    /// Stride of the depthwise conv.
    pub stride: usize,
    /// Squeeze-excite hidden channels, when the block has SE.
    pub se_mid: Option<usize>,
    /// Activation.
    pub act: Activation,
    /// Whether the identity shortcut is added.
    pub residual: bool,
    /// Input resolution (square).
    pub in_hw: usize,
    /// Output resolution (square).
    pub out_hw: usize,
}

/// Costs of a subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MbV3Cost {
    /// Multiply-accumulates of every convolution (squeeze-excite 1x1 convs included),
    /// classifier excluded: the reference code's `compute_flops` convention.
    pub madds: u64,
    /// `madds` plus the classifier's `in x classes` multiply-accumulates.
    pub madds_with_classifier: u64,
    /// All parameters (BN affine and the classifier included).
    pub params: u64,
    /// Parameters without the classifier's weight and bias.
    pub params_without_classifier: u64,
}

/// The Once-for-All MobileNetV3 space at one width multiplier, class count and resolution.
///
/// ```
/// use dsm_space::{MbV3Arch, MbV3Space};
/// let space = MbV3Space::new(1.2).unwrap();
/// let arch: MbV3Arch = "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4".parse().unwrap();
/// let cost = space.cost_at(&arch, 224).unwrap();
/// assert_eq!(cost.madds, 586_320_560); // the paper prints 597 M; see the crate docs
/// assert_eq!(cost.params, 8_939_576);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MbV3Space {
    width_mult: f64,
    num_classes: usize,
    resolution: u32,
}

impl MbV3Space {
    /// The space at width multiplier `width_mult` (1.2 for the DSM-NAS results), 1000
    /// classes, resolution 224.
    pub fn new(width_mult: f64) -> Result<Self, SpaceError> {
        if !(width_mult.is_finite() && width_mult > 0.0 && width_mult <= 10.0) {
            return Err(SpaceError::InvalidSetting {
                what: "width multiplier",
                value: width_mult.to_string(),
                expected: "a finite number in (0, 10]",
            });
        }
        Ok(Self {
            width_mult,
            num_classes: 1000,
            resolution: 224,
        })
    }

    /// The same space with another class count.
    pub fn with_classes(mut self, num_classes: usize) -> Result<Self, SpaceError> {
        if num_classes == 0 {
            return Err(SpaceError::InvalidSetting {
                what: "class count",
                value: "0".into(),
                expected: "at least 1",
            });
        }
        self.num_classes = num_classes;
        Ok(self)
    }

    /// The same space at another input resolution (the resolution of
    /// [`SearchSpace::cost`]).
    pub fn with_resolution(mut self, resolution: u32) -> Result<Self, SpaceError> {
        check_resolution(resolution)?;
        self.resolution = resolution;
        Ok(self)
    }

    /// The width multiplier.
    pub fn width_mult(&self) -> f64 {
        self.width_mult
    }

    /// The class count.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// The input resolution used by [`SearchSpace::cost`].
    pub fn resolution(&self) -> u32 {
        self.resolution
    }

    /// Channels of the stem and of the fixed first block.
    pub fn stem_channels(&self) -> usize {
        make_divisible(16.0 * self.width_mult)
    }

    /// Output channels of each unit.
    pub fn unit_channels(&self) -> [usize; NUM_UNITS] {
        UNIT_WIDTHS.map(|w| make_divisible(w as f64 * self.width_mult))
    }

    /// Channels of the final expand conv and of the feature-mix conv.
    pub fn head_channels(&self) -> (usize, usize) {
        (
            make_divisible(960.0 * self.width_mult),
            make_divisible(1280.0 * self.width_mult),
        )
    }

    /// The blocks of the built subnet at a square input `resolution`, block 0 first.
    pub fn blocks(&self, arch: &MbV3Arch, resolution: u32) -> Result<Vec<BlockShape>, SpaceError> {
        check_resolution(resolution)?;
        let stem = self.stem_channels();
        let mut hw = (resolution as usize).div_ceil(2);
        let mut blocks = vec![BlockShape {
            kernel: 3,
            expand: 1,
            in_ch: stem,
            mid_ch: stem,
            out_ch: stem,
            stride: 1,
            se_mid: None,
            act: Activation::Relu,
            residual: true,
            in_hw: hw,
            out_hw: hw,
        }];
        let mut in_ch = stem;
        for (u, (layers, out_ch)) in arch.units.iter().zip(self.unit_channels()).enumerate() {
            for (l, layer) in layers.iter().enumerate() {
                let stride = if l == 0 { UNIT_STRIDES[u] } else { 1 };
                let mid_ch = make_divisible((in_ch * layer.expand as usize) as f64);
                let out_hw = hw.div_ceil(stride);
                blocks.push(BlockShape {
                    kernel: layer.kernel as usize,
                    expand: layer.expand as usize,
                    in_ch,
                    mid_ch,
                    out_ch,
                    stride,
                    se_mid: UNIT_SE[u].then(|| make_divisible((mid_ch / 4) as f64)),
                    act: UNIT_ACTS[u],
                    residual: stride == 1 && in_ch == out_ch,
                    in_hw: hw,
                    out_hw,
                });
                hw = out_hw;
                in_ch = out_ch;
            }
        }
        Ok(blocks)
    }

    /// Exact MAdds and parameters of a subnet at a square input `resolution`.
    pub fn cost_at(&self, arch: &MbV3Arch, resolution: u32) -> Result<MbV3Cost, SpaceError> {
        let blocks = self.blocks(arch, resolution)?;
        let stem = self.stem_channels() as u64;
        let hw0 = (resolution as u64).div_ceil(2);
        let bn = |c: u64| 2 * c;
        let mut madds = 3 * stem * 9 * hw0 * hw0;
        let mut params = 3 * stem * 9 + bn(stem);
        for b in &blocks {
            let (cin, mid, cout) = (b.in_ch as u64, b.mid_ch as u64, b.out_ch as u64);
            let (hin, hout, k) = (b.in_hw as u64, b.out_hw as u64, b.kernel as u64);
            if b.expand != 1 {
                madds += cin * mid * hin * hin;
                params += cin * mid + bn(mid);
            }
            madds += mid * k * k * hout * hout;
            params += mid * k * k + bn(mid);
            if let Some(se) = b.se_mid {
                let se = se as u64;
                madds += 2 * mid * se;
                params += mid * se + se + se * mid + mid;
            }
            madds += mid * cout * hout * hout;
            params += mid * cout + bn(cout);
        }
        let last = blocks.last().expect("block 0 always exists");
        let (cl, hl) = (last.out_ch as u64, last.out_hw as u64);
        let (expand, mix) = self.head_channels();
        let (expand, mix) = (expand as u64, mix as u64);
        madds += cl * expand * hl * hl + expand * mix;
        params += cl * expand + bn(expand) + expand * mix;
        let classes = self.num_classes as u64;
        Ok(MbV3Cost {
            madds,
            madds_with_classifier: madds + mix * classes,
            params: params + mix * classes + classes,
            params_without_classifier: params,
        })
    }
}

pub(crate) fn check_resolution(resolution: u32) -> Result<(), SpaceError> {
    if (32..=4096).contains(&resolution) {
        Ok(())
    } else {
        Err(SpaceError::InvalidSetting {
            what: "input resolution",
            value: resolution.to_string(),
            expected: "an integer in 32..=4096 (the space's choices are 192, 208, 224, 240, 256)",
        })
    }
}

impl SearchSpace for MbV3Space {
    type Arch = MbV3Arch;

    fn name(&self) -> &str {
        "ofa-mobilenetv3"
    }

    /// One position per layer slot.
    fn num_positions(&self) -> usize {
        NUM_SLOTS
    }

    /// Slots 0 and 1 of a unit have the 9 layer codes 1..=9; slots 2 and 3 also have 0
    /// (absent): choice `c` is code `c + 1` there and code `c` here.
    fn num_choices(&self, position: usize) -> usize {
        match position {
            p if p >= NUM_SLOTS => 0,
            p if p % MAX_DEPTH < 2 => 9,
            _ => 10,
        }
    }

    fn choices_of(&self, arch: &MbV3Arch) -> Vec<usize> {
        arch.codes()
            .iter()
            .enumerate()
            .map(|(p, &c)| {
                if p % MAX_DEPTH < 2 {
                    c as usize - 1
                } else {
                    c as usize
                }
            })
            .collect()
    }

    fn arch_from_choices(&self, choices: &[usize]) -> Result<MbV3Arch, SpaceError> {
        self.check_choices("MobileNet choice vector", choices)?;
        let mut codes = [0u8; NUM_SLOTS];
        for (p, (&c, code)) in choices.iter().zip(codes.iter_mut()).enumerate() {
            *code = (if p % MAX_DEPTH < 2 { c + 1 } else { c }) as u8;
        }
        MbV3Arch::from_codes(&codes)
    }

    fn parse(&self, text: &str) -> Result<MbV3Arch, SpaceError> {
        text.parse()
    }

    /// One-hot of the layer code: 20 slots x 10 codes.
    fn feature_len(&self) -> usize {
        NUM_SLOTS * 10
    }

    fn encode(&self, arch: &MbV3Arch) -> Vec<f32> {
        let mut out = vec![0.0; NUM_SLOTS * 10];
        for (p, c) in arch.codes().into_iter().enumerate() {
            out[p * 10 + c as usize] = 1.0;
        }
        out
    }

    fn cost(&self, arch: &MbV3Arch) -> Option<CostMetrics> {
        self.cost_at(arch, self.resolution)
            .ok()
            .map(|c| CostMetrics {
                params: Some(c.params as f64),
                madds: Some(c.madds as f64),
            })
    }
}
