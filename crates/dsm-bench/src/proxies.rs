//! Zero-cost proxies of every NAS-Bench-201 cell, as FreeREA computed them (Cavagnero et
//! al., "FreeREA: Training-Free Evolution-Based Architecture Search", WACV 2023; MIT
//! licence): SynFlow, FreeREA's LogSynFlow, NASWOT and the number of linear regions, each
//! averaged over three Kaiming-normal initialisations, on CIFAR-10, CIFAR-100 and
//! ImageNet16-120, with the seconds FreeREA's GPU took for each (three initialisations
//! included). Embedded (`data/zc-nb201.bin`, 2.25 MB: values as f64, times as f32; README
//! beside it: provenance, checksums, citation) and looked up like the table's accuracies.
//!
//! ```
//! use dsm_bench::proxies::{Proxy, ZcTable};
//! use dsm_bench::Dataset;
//!
//! let zc = ZcTable::embedded();
//! let resnet = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
//! let v = zc.lookup(&resnet, Dataset::Cifar10)?;
//! assert!(v.get(Proxy::Naswot).unwrap() > 0.0 && v.time_s(Proxy::Naswot) > 0.0);
//! // The all-`none` cell has no path from input to output: SynFlow 0, NASWOT -inf.
//! let empty = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|".parse()?;
//! let e = zc.lookup(&empty, Dataset::Cifar10)?;
//! assert_eq!((e.get(Proxy::Synflow), e.get(Proxy::Naswot)), (Some(0.0), Some(f64::NEG_INFINITY)));
//! // FreeREA has no linear-region counts on ImageNet16-120.
//! assert_eq!(zc.lookup(&resnet, Dataset::ImageNet16)?.get(Proxy::Nregions), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::OnceLock;

use dsm_space::nb201::NUM_CELLS;
use dsm_space::{Evaluation, Evaluator, Nb201Cell, ProxyScore, ProxyScorer};
use serde::{Deserialize, Serialize};

use crate::{BenchError, Dataset, Nb201Table};

/// A zero-cost proxy FreeREA measured (higher is better for every one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proxy {
    /// SynFlow: sum over weights of |w * dL/dw|, L the output sum for an all-ones input,
    /// every parameter made positive, BatchNorm bypassed (float64).
    Synflow,
    /// FreeREA's SynFlow variant: sum of |w * log(1 + dL/dw)|.
    Logsynflow,
    /// NASWOT: log-determinant of the Hamming kernel of the ReLU codes of a batch of 64.
    Naswot,
    /// Number of distinct activation patterns (linear regions) seen over the batch.
    Nregions,
}

/// The proxies in the order of FreeREA's files (and of the compact table's columns).
pub const PROXIES: [Proxy; 4] = [
    Proxy::Synflow,
    Proxy::Logsynflow,
    Proxy::Naswot,
    Proxy::Nregions,
];

/// The data sets the table covers, in the order stored.
pub const ZC_DATASETS: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::ImageNet16];

impl Proxy {
    /// `synflow`, `logsynflow`, `naswot` or `nregions`.
    pub fn name(self) -> &'static str {
        match self {
            Proxy::Synflow => "synflow",
            Proxy::Logsynflow => "logsynflow",
            Proxy::Naswot => "naswot",
            Proxy::Nregions => "nregions",
        }
    }

    fn column(self) -> usize {
        PROXIES.iter().position(|&p| p == self).expect("listed")
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Proxy {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, BenchError> {
        PROXIES
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| BenchError::UnknownProxy {
                name: s.to_string(),
            })
    }
}

/// One cell's proxies on one data set.
#[derive(Debug, Clone, Copy)]
pub struct ProxyValues {
    values: [f64; 4],
    times: [f32; 4],
}

/// Equal when every value and time is the same number (absent values, stored as NaN, equal
/// each other).
impl PartialEq for ProxyValues {
    fn eq(&self, other: &Self) -> bool {
        self.values.map(f64::to_bits) == other.values.map(f64::to_bits)
            && self.times.map(f32::to_bits) == other.times.map(f32::to_bits)
    }
}

impl ProxyValues {
    /// The value of `proxy` (FreeREA's mean over three initialisations); `None` where
    /// FreeREA has none (`nregions` on ImageNet16-120). NASWOT is `-inf` for the 201 cells
    /// without a path from input to output (their activation kernel is singular; FreeREA's
    /// value, kept: such a cell ranks last), whose SynFlow and LogSynFlow are 0.
    pub fn get(&self, proxy: Proxy) -> Option<f64> {
        let v = self.values[proxy.column()];
        (!v.is_nan()).then_some(v)
    }

    /// The value of `proxy` as a finite search score: FreeREA's `-inf` NASWOT of a cell
    /// without an input-output path becomes 0 (below every connected cell's, which are
    /// above 450); `None` where FreeREA has no value.
    pub fn score(&self, proxy: Proxy) -> Option<f64> {
        self.get(proxy).map(|v| if v.is_finite() { v } else { 0.0 })
    }

    /// The seconds FreeREA measured for initialising the network and computing `proxy`
    /// three times (its GPU).
    pub fn time_s(&self, proxy: Proxy) -> f64 {
        f64::from(self.times[proxy.column()])
    }
}

const MAGIC: &[u8; 8] = b"DSMZC201";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 4 + 4;
const ROW_LEN: usize = 4 * 8 + 4 * 4;
const EMBEDDED: &[u8] = include_bytes!("../data/zc-nb201.bin");

/// FreeREA's proxies for all 15,625 cells on the three data sets, by benchmark index (see
/// the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct ZcTable {
    /// `ZC_DATASETS.len() * NUM_CELLS` rows, data set major.
    rows: Vec<ProxyValues>,
}

impl ZcTable {
    /// The table bundled with this crate (parsed and validated once, then shared).
    pub fn embedded() -> &'static ZcTable {
        static TABLE: OnceLock<ZcTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            Self::from_compact_bytes(EMBEDDED, "<embedded>")
                .expect("the embedded proxy table is validated by the test suite")
        })
    }

    /// The raw bytes of the embedded compact table.
    pub fn embedded_bytes() -> &'static [u8] {
        EMBEDDED
    }

    /// The proxies of the cell with benchmark index `index` on `dataset` (CIFAR-10's for
    /// `cifar10-valid`, whose networks are the same).
    pub fn get(&self, dataset: Dataset, index: usize) -> Result<ProxyValues, BenchError> {
        let d = dataset_slot(dataset);
        if index >= NUM_CELLS {
            return Err(BenchError::IndexOutOfRange {
                index,
                len: NUM_CELLS,
            });
        }
        Ok(self.rows[d * NUM_CELLS + index])
    }

    /// The proxies of `cell` on `dataset`.
    pub fn lookup(&self, cell: &Nb201Cell, dataset: Dataset) -> Result<ProxyValues, BenchError> {
        self.get(dataset, Nb201Table::embedded().index_of(cell))
    }

    /// Reads FreeREA's merged CSV files `cifar10.csv`, `cifar100.csv` and `imagenet16.csv`
    /// of `dir` (the project's `shared/data/zc-nb201/`), checking every row's `arch`
    /// against the embedded NAS-Bench-201 table's cell at its index.
    pub fn from_csv_dir(dir: &Path) -> Result<Self, BenchError> {
        let mut rows = Vec::with_capacity(ZC_DATASETS.len() * NUM_CELLS);
        for d in ZC_DATASETS {
            let path = dir.join(format!("{}.csv", d.name()));
            let text = std::fs::read_to_string(&path).map_err(|source| BenchError::Io {
                path: path.clone(),
                source,
            })?;
            rows.extend(parse_csv(&text, &path.display().to_string())?);
        }
        Ok(Self { rows })
    }

    /// The compact form (what `cargo xtask pack-zc` writes to `data/zc-nb201.bin`):
    /// magic, version, rows, data sets, then per data set and row the four values (f64)
    /// and the four times (f32), little-endian, then an FNV-1a checksum.
    pub fn to_compact_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.rows.len() * ROW_LEN + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(NUM_CELLS as u32).to_le_bytes());
        out.extend_from_slice(&(ZC_DATASETS.len() as u32).to_le_bytes());
        for r in &self.rows {
            for v in r.values {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for t in r.times {
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
        let sum = crate::table::fnv1a64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Parses the compact form; `source_name` names it in errors.
    pub fn from_compact_bytes(bytes: &[u8], source_name: &str) -> Result<Self, BenchError> {
        let err = |offset: usize, reason: String| BenchError::Compact {
            source_name: source_name.to_string(),
            offset,
            reason,
        };
        let n = ZC_DATASETS.len() * NUM_CELLS;
        let expected = HEADER_LEN + n * ROW_LEN + 8;
        if bytes.len() != expected {
            return Err(err(
                0,
                format!("file is {} bytes, expected {expected}", bytes.len()),
            ));
        }
        if &bytes[..8] != MAGIC {
            return Err(err(0, "bad magic; expected \"DSMZC201\"".into()));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        if u32_at(8) != VERSION {
            return Err(err(
                8,
                format!("format version {}, expected {VERSION}", u32_at(8)),
            ));
        }
        if u32_at(12) as usize != NUM_CELLS || u32_at(16) as usize != ZC_DATASETS.len() {
            return Err(err(
                12,
                format!(
                    "{} rows x {} data sets, expected {} x {}",
                    u32_at(12),
                    u32_at(16),
                    NUM_CELLS,
                    ZC_DATASETS.len()
                ),
            ));
        }
        let body = expected - 8;
        let sum = u64::from_le_bytes(bytes[body..].try_into().expect("8 bytes"));
        if crate::table::fnv1a64(&bytes[..body]) != sum {
            return Err(err(body, "checksum mismatch: the file is damaged".into()));
        }
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let o = HEADER_LEN + i * ROW_LEN;
            let f64_at = |k: usize| {
                f64::from_le_bytes(bytes[o + 8 * k..o + 8 * k + 8].try_into().expect("8"))
            };
            let f32_at = |k: usize| {
                let p = o + 32 + 4 * k;
                f32::from_le_bytes(bytes[p..p + 4].try_into().expect("4"))
            };
            let r = ProxyValues {
                values: std::array::from_fn(f64_at),
                times: std::array::from_fn(f32_at),
            };
            check_row(&r).map_err(|reason| err(o, format!("row {i}: {reason}")))?;
            rows.push(r);
        }
        Ok(Self { rows })
    }
}

fn dataset_slot(d: Dataset) -> usize {
    match d {
        Dataset::Cifar10 | Dataset::Cifar10Valid => 0,
        Dataset::Cifar100 => 1,
        Dataset::ImageNet16 => 2,
    }
}

/// Values finite (SynFlow and LogSynFlow >= 0), NaN (absent) or, for NASWOT, -inf; times
/// finite and >= 0.
fn check_row(r: &ProxyValues) -> Result<(), String> {
    for (p, v) in PROXIES.iter().zip(r.values) {
        let ok = match p {
            _ if v.is_nan() => true,
            Proxy::Synflow | Proxy::Logsynflow => v.is_finite() && v >= 0.0,
            Proxy::Naswot => v.is_finite() || v == f64::NEG_INFINITY,
            Proxy::Nregions => v.is_finite(),
        };
        if !ok {
            return Err(format!(
                "{p} = {v}, expected a finite value (>= 0 for SynFlow; -inf allowed for NASWOT)"
            ));
        }
    }
    if let Some(t) = r.times.iter().find(|t| !(t.is_finite() && **t >= 0.0)) {
        return Err(format!("time {t} s, expected a finite time >= 0"));
    }
    Ok(())
}

/// One data set's CSV (header `index,arch,synflow,synflow_time_s,logsynflow,...`).
fn parse_csv(text: &str, source_name: &str) -> Result<Vec<ProxyValues>, BenchError> {
    let bad = |line: usize, reason: String| BenchError::Csv {
        source_name: source_name.to_string(),
        line,
        column: String::new(),
        reason,
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| bad(1, format!("no column {name:?}")))
    };
    let (index_col, arch_col) = (col("index")?, col("arch")?);
    let value_cols = PROXIES
        .iter()
        .map(|p| col(p.name()))
        .collect::<Result<Vec<_>, _>>()?;
    let time_cols = PROXIES
        .iter()
        .map(|p| col(&format!("{}_time_s", p.name())))
        .collect::<Result<Vec<_>, _>>()?;
    let table = Nb201Table::embedded();
    let mut rows = Vec::with_capacity(NUM_CELLS);
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != header.len() {
            return Err(bad(
                n,
                format!("{} fields, expected {}", fields.len(), header.len()),
            ));
        }
        if fields[index_col] != i.to_string() {
            return Err(bad(n, format!("index {}, expected {i}", fields[index_col])));
        }
        let cell: Nb201Cell = fields[arch_col]
            .parse()
            .map_err(|e| bad(n, format!("{e}")))?;
        if table.index_of(&cell) != i {
            return Err(bad(
                n,
                format!(
                    "cell {cell} is index {} of NAS-Bench-201",
                    table.index_of(&cell)
                ),
            ));
        }
        let num = |c: usize| {
            fields[c]
                .parse::<f64>()
                .map_err(|_| bad(n, format!("{:?} is not a number", fields[c])))
        };
        let mut values = [0.0; 4];
        let mut times = [0.0f32; 4];
        for k in 0..4 {
            // An empty field: FreeREA has no value (nregions on ImageNet16-120).
            values[k] = match fields[value_cols[k]] {
                "" => f64::NAN,
                _ => num(value_cols[k])?,
            };
            times[k] = num(time_cols[k])? as f32;
        }
        let r = ProxyValues { values, times };
        check_row(&r).map_err(|reason| bad(n, reason))?;
        rows.push(r);
    }
    if rows.len() != NUM_CELLS {
        return Err(bad(
            rows.len() + 1,
            format!("{} rows, expected {}", rows.len(), NUM_CELLS),
        ));
    }
    Ok(rows)
}

/// Scores NAS-Bench-201 cells by one of FreeREA's proxies ([`ProxyValues::score`]), charging
/// the seconds FreeREA measured for it (three initialisations, its GPU): a zero-cost search
/// signal looked up like the table's accuracies.
///
/// ```
/// use dsm_bench::proxies::{Proxy, ZcEvaluator};
/// use dsm_bench::Dataset;
/// use dsm_space::Evaluator;
///
/// let mut zc = ZcEvaluator::new(Dataset::Cifar100, Proxy::Logsynflow)?;
/// let resnet = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
/// let e = zc.evaluate(&resnet)?;
/// assert!(e.score > 0.0 && e.cost_s > 0.0);
/// // FreeREA measured no linear regions on ImageNet16-120.
/// assert!(ZcEvaluator::new(Dataset::ImageNet16, Proxy::Nregions).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ZcEvaluator {
    table: &'static ZcTable,
    dataset: Dataset,
    proxy: Proxy,
}

impl ZcEvaluator {
    /// The embedded table's `proxy` on `dataset`; refused where FreeREA has no values.
    pub fn new(dataset: Dataset, proxy: Proxy) -> Result<Self, BenchError> {
        let table = ZcTable::embedded();
        if table.get(dataset, 0)?.get(proxy).is_none() {
            return Err(BenchError::NoProxyValues {
                proxy: proxy.name(),
                dataset: dataset.name(),
            });
        }
        Ok(Self {
            table,
            dataset,
            proxy,
        })
    }

    /// The proxy scored.
    pub fn proxy(&self) -> Proxy {
        self.proxy
    }

    /// The data set whose values are read.
    pub fn dataset(&self) -> Dataset {
        self.dataset
    }
}

impl Evaluator<Nb201Cell> for ZcEvaluator {
    type Error = BenchError;

    fn evaluate(&mut self, cell: &Nb201Cell) -> Result<Evaluation, BenchError> {
        let v = self.table.lookup(cell, self.dataset)?;
        Ok(Evaluation {
            score: v.score(self.proxy).ok_or(BenchError::NoProxyValues {
                proxy: self.proxy.name(),
                dataset: self.dataset.name(),
            })?,
            cost_s: v.time_s(self.proxy),
        })
    }
}

/// Scores NAS-Bench-201 cells by several of FreeREA's proxies at once, as a
/// [`ProxyScorer`] guiding a search on the table: one value per proxy
/// ([`ProxyValues::score`]), charging the sum of FreeREA's measured seconds for them (each
/// covers three initialisations; the network's initialisation is thus charged once per
/// proxy, an overestimate of at most a few milliseconds a cell).
///
/// ```
/// use dsm_bench::proxies::{Proxy, ZcScorer};
/// use dsm_bench::Dataset;
/// use dsm_space::ProxyScorer;
///
/// let mut zc = ZcScorer::new(Dataset::Cifar10, &[Proxy::Logsynflow, Proxy::Naswot])?;
/// let resnet = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
/// let s = zc.score(&resnet)?;
/// assert_eq!(s.values.len(), 2);
/// assert!(s.cost_s > 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ZcScorer {
    table: &'static ZcTable,
    dataset: Dataset,
    proxies: Vec<Proxy>,
}

impl ZcScorer {
    /// The embedded table's `proxies` on `dataset`: refused when the list is empty, repeats
    /// a proxy, or names one FreeREA has no values of on `dataset`.
    pub fn new(dataset: Dataset, proxies: &[Proxy]) -> Result<Self, BenchError> {
        check_proxy_list(proxies)?;
        for &p in proxies {
            ZcEvaluator::new(dataset, p)?;
        }
        Ok(Self {
            table: ZcTable::embedded(),
            dataset,
            proxies: proxies.to_vec(),
        })
    }

    /// The proxies scored, in order.
    pub fn proxies(&self) -> &[Proxy] {
        &self.proxies
    }
}

impl ProxyScorer<Nb201Cell> for ZcScorer {
    type Error = BenchError;

    fn score(&mut self, cell: &Nb201Cell) -> Result<ProxyScore, BenchError> {
        let v = self.table.lookup(cell, self.dataset)?;
        let mut values = Vec::with_capacity(self.proxies.len());
        let mut cost_s = 0.0;
        for &p in &self.proxies {
            values.push(v.score(p).ok_or(BenchError::NoProxyValues {
                proxy: p.name(),
                dataset: self.dataset.name(),
            })?);
            cost_s += v.time_s(p);
        }
        Ok(ProxyScore { values, cost_s })
    }
}

/// Parses a comma-separated list of proxy names (`logsynflow,naswot`): each known, none
/// repeated, at least one.
///
/// ```
/// use dsm_bench::proxies::{parse_proxies, Proxy};
/// assert_eq!(parse_proxies("logsynflow,naswot")?, [Proxy::Logsynflow, Proxy::Naswot]);
/// assert!(parse_proxies("naswot,naswot").is_err());
/// assert!(parse_proxies("jacov").is_err());
/// # Ok::<(), dsm_bench::BenchError>(())
/// ```
pub fn parse_proxies(list: &str) -> Result<Vec<Proxy>, BenchError> {
    let proxies = list
        .split(',')
        .map(|p| p.trim().parse())
        .collect::<Result<Vec<Proxy>, _>>()?;
    check_proxy_list(&proxies)?;
    Ok(proxies)
}

fn check_proxy_list(proxies: &[Proxy]) -> Result<(), BenchError> {
    if proxies.is_empty() {
        return Err(BenchError::UnknownProxy {
            name: String::new(),
        });
    }
    match dsm_space::first_repeat(proxies) {
        Some((_, i)) => Err(BenchError::RepeatedProxy {
            name: proxies[i].name(),
        }),
        None => Ok(()),
    }
}
