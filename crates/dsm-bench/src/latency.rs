//! Measured latency of MobileNetV3 subnets from per-layer lookup tables, as Once-for-All
//! predicts it: the sum of the measured mean latencies of the subnet's layers, each looked
//! up by its shapes. OFA's Samsung Note10 tables (`note10/<r>_lookup_table.yaml`, one per
//! input resolution) are read as they are published; a table for another device works the
//! same way.
//!
//! ## Table format
//! One YAML file per input resolution `r`, named `<r>_lookup_table.yaml`: a mapping from a
//! layer key to `{mean: <ms>}` (OFA's files also carry `count` and `std`, read and kept
//! out of the sum). The keys a subnet needs, in the order summed ([`layer_keys`]):
//! - `Conv-input:RxRx3-output:HxHxS` (the stem, `H = ceil(R / 2)`, `S` stem channels);
//! - `expanded_conv-input:HxHxS-output:HxHxS-expand:S-kernel:3-stride:1-idskip:1-se:0-hs:0`
//!   (the fixed first block), then for every present layer
//!   `expanded_conv-input:IxIxC-output:OxOxD-expand:M-kernel:K-stride:T-idskip:P-se:E-hs:W`
//!   (`M = C x expand ratio`, stride 2 for the first layer of units 1, 2, 3 and 5, `idskip`
//!   1 when the identity shortcut is added, `se` 1 in units 2, 4, 5, `hs` 1 in units 3, 4,
//!   5; spatial size `(size - 1) / stride + 1`);
//! - `Conv_1-input:LxLxD-output:LxLxF`, `AvgPool2D-input:LxLxF-output:1x1xF`,
//!   `Conv_2-input:1x1xF-output:1x1xG`, `Logits-input:1x1xG-output:N` (the head).
//!
//! ```
//! use dsm_bench::latency::{LatencyTable, layer_keys};
//! use dsm_space::{MbV3Arch, MbV3Space, MbV3Subnet};
//!
//! let space = MbV3Space::new(1.2)?;
//! let subnet = MbV3Subnet { arch: MbV3Arch::uniform(2, 3, 3)?, resolution: 160 };
//! // A made-up device where every layer takes 0.5 ms.
//! let yaml: String = layer_keys(&space, &subnet)?
//!     .iter()
//!     .map(|(key, _)| format!("{key}:\n  mean: 0.5\n"))
//!     .collect();
//! let table = LatencyTable::new("my-device").with_table(160, &yaml, "160_lookup_table.yaml")?;
//! assert_eq!(table.latency_ms(&space, &subnet)?, 0.5 * (2 + 10 + 4) as f64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use dsm_space::mbv3::{Activation, UNIT_SE};
use dsm_space::{MbV3Space, MbV3Subnet};
use serde::Deserialize;

use crate::BenchError;

/// One measured layer.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct LatencyEntry {
    /// Measurements taken (OFA's tables record it).
    #[serde(default)]
    pub count: Option<f64>,
    /// Mean latency in milliseconds: what is summed.
    pub mean: f64,
    /// Standard deviation of the measurements, in milliseconds.
    #[serde(default)]
    pub std: Option<f64>,
}

/// Per-layer latency tables of one device, one per input resolution.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LatencyTable {
    device: String,
    tables: BTreeMap<u32, HashMap<String, LatencyEntry>>,
}

impl LatencyTable {
    /// An empty set of tables for `device` (add them with [`with_table`](Self::with_table)).
    pub fn new(device: impl Into<String>) -> Self {
        Self {
            device: device.into(),
            tables: BTreeMap::new(),
        }
    }

    /// Reads every `<r>_lookup_table.yaml` of `dir` (at least one), the device named after
    /// the folder (OFA's `note10/`).
    pub fn load_dir(dir: &Path) -> Result<Self, BenchError> {
        let entries = std::fs::read_dir(dir).map_err(|source| BenchError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let device = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let mut table = Self::new(device);
        let mut files: Vec<(u32, std::path::PathBuf)> = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|source| BenchError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?
                .path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if let Some(r) = name
                .strip_suffix("_lookup_table.yaml")
                .and_then(|r| r.parse::<u32>().ok())
            {
                files.push((r, path.clone()));
            }
        }
        if files.is_empty() {
            return Err(BenchError::LatencyTable {
                source_name: dir.display().to_string(),
                reason:
                    "no <resolution>_lookup_table.yaml in the folder (OFA's note10/ has 160..224)"
                        .into(),
            });
        }
        files.sort();
        for (r, path) in files {
            let text = std::fs::read_to_string(&path).map_err(|source| BenchError::Io {
                path: path.clone(),
                source,
            })?;
            table = table.with_table(r, &text, &path.display().to_string())?;
        }
        Ok(table)
    }

    /// Adds (or replaces) the table of input resolution `resolution` from its YAML text
    /// (`source_name` names it in errors).
    pub fn with_table(
        mut self,
        resolution: u32,
        yaml: &str,
        source_name: &str,
    ) -> Result<Self, BenchError> {
        let bad = |reason: String| BenchError::LatencyTable {
            source_name: source_name.to_string(),
            reason,
        };
        let table: HashMap<String, LatencyEntry> = serde_yaml_ng::from_str(yaml).map_err(|e| {
            bad(format!(
                "{e}; expected a mapping of layer keys to {{count, mean, std}}"
            ))
        })?;
        if table.is_empty() {
            return Err(bad("the table is empty".into()));
        }
        if let Some((key, e)) = table
            .iter()
            .find(|(_, e)| !(e.mean.is_finite() && e.mean >= 0.0))
        {
            return Err(bad(format!(
                "{key}: mean {} ms, expected a finite latency >= 0",
                e.mean
            )));
        }
        self.tables.insert(resolution, table);
        Ok(self)
    }

    /// The device the tables were measured on.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The input resolutions with a table, ascending.
    pub fn resolutions(&self) -> Vec<u32> {
        self.tables.keys().copied().collect()
    }

    /// The entry of `key` in the table of `resolution`.
    pub fn entry(&self, resolution: u32, key: &str) -> Option<&LatencyEntry> {
        self.tables.get(&resolution)?.get(key)
    }

    /// Checks that the tables hold every layer any subnet of `space` at each of
    /// `resolutions` can need (a layer's key depends only on its unit, whether it is the
    /// unit's first layer, its kernel and its expand ratio, so the 9 uniform depth-4
    /// subnets cover them all); an error names the first missing resolution or key. After
    /// it, [`latency_ms`](Self::latency_ms) cannot fail for those subnets.
    pub fn check_covers(&self, space: &MbV3Space, resolutions: &[u32]) -> Result<(), BenchError> {
        for &resolution in resolutions {
            for kernel in dsm_space::mbv3::KERNELS {
                for expand in dsm_space::mbv3::EXPANDS {
                    let arch = dsm_space::MbV3Arch::uniform(4, kernel, expand)
                        .expect("kernel and expand from the space's choices");
                    self.latency_ms(space, &MbV3Subnet { arch, resolution })?;
                }
            }
        }
        Ok(())
    }

    /// The predicted latency (ms) of `subnet` of `space` at its own resolution: the sum of
    /// its layers' mean latencies. A missing table or key is an error naming the layer.
    pub fn latency_ms(&self, space: &MbV3Space, subnet: &MbV3Subnet) -> Result<f64, BenchError> {
        let table =
            self.tables
                .get(&subnet.resolution)
                .ok_or_else(|| BenchError::NoLatencyTable {
                    device: self.device.clone(),
                    resolution: subnet.resolution,
                    available: self
                        .resolutions()
                        .iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        let mut total = 0.0;
        for (key, layer) in layer_keys(space, subnet)? {
            let e = table.get(&key).ok_or_else(|| BenchError::MissingLatency {
                device: self.device.clone(),
                resolution: subnet.resolution,
                key: key.clone(),
                layer,
            })?;
            total += e.mean;
        }
        Ok(total)
    }
}

/// The table keys of `subnet`'s layers in the order summed, each with a description of the
/// layer (for error messages): see the [module docs](self).
pub fn layer_keys(
    space: &MbV3Space,
    subnet: &MbV3Subnet,
) -> Result<Vec<(String, String)>, BenchError> {
    let r = subnet.resolution as usize;
    let blocks =
        space
            .blocks(&subnet.arch, subnet.resolution)
            .map_err(|e| BenchError::LatencyTable {
                source_name: subnet.to_string(),
                reason: e.to_string(),
            })?;
    let stem = space.stem_channels();
    let h = r.div_ceil(2);
    let mut keys = vec![(
        format!("Conv-input:{r}x{r}x3-output:{h}x{h}x{stem}"),
        "the stem convolution".to_string(),
    )];
    // Which unit each block belongs to (block 0 is the fixed first block).
    let units: Vec<Option<usize>> = std::iter::once(None)
        .chain(
            subnet
                .arch
                .depths()
                .iter()
                .enumerate()
                .flat_map(|(u, &d)| std::iter::repeat_n(Some(u), d as usize)),
        )
        .collect();
    for (i, (b, unit)) in blocks.iter().zip(&units).enumerate() {
        let se = unit.is_some_and(|u| UNIT_SE[u]);
        let hs = b.act == Activation::HSwish;
        let mid = b.in_ch * b.expand;
        keys.push((
            format!(
                "expanded_conv-input:{i_hw}x{i_hw}x{cin}-output:{o_hw}x{o_hw}x{cout}-expand:{mid}-kernel:{k}-stride:{s}-idskip:{skip}-se:{se}-hs:{hs}",
                i_hw = b.in_hw,
                cin = b.in_ch,
                o_hw = b.out_hw,
                cout = b.out_ch,
                k = b.kernel,
                s = b.stride,
                skip = u8::from(b.residual),
                se = u8::from(se),
                hs = u8::from(hs),
            ),
            match unit {
                None => "the first block".to_string(),
                Some(u) => format!("block {i} (unit {})", u + 1),
            },
        ));
    }
    let last = blocks.last().expect("block 0 always exists");
    let (l, c) = (last.out_hw, last.out_ch);
    let (f, g) = space.head_channels();
    let n = space.num_classes();
    keys.extend([
        (
            format!("Conv_1-input:{l}x{l}x{c}-output:{l}x{l}x{f}"),
            "the final expand convolution".to_string(),
        ),
        (
            format!("AvgPool2D-input:{l}x{l}x{f}-output:1x1x{f}"),
            "the global average pool".to_string(),
        ),
        (
            format!("Conv_2-input:1x1x{f}-output:1x1x{g}"),
            "the feature mix convolution".to_string(),
        ),
        (
            format!("Logits-input:1x1x{g}-output:{n}"),
            "the classifier".to_string(),
        ),
    ]);
    Ok(keys)
}
