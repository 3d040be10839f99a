//! The one error type of this crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when loading or querying a benchmark table.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A table file could not be read.
    #[error("cannot read benchmark table {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A compact table file is malformed (bad magic, version, length or checksum).
    #[error("corrupt compact benchmark table {source_name} at byte {offset}: {reason}")]
    Compact {
        /// The file (or `<embedded>`).
        source_name: String,
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// A CSV table file is malformed.
    #[error("malformed benchmark CSV {source_name}, line {line}, column {column:?}: {reason}")]
    Csv {
        /// The file.
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// The column name (or "" for the whole line).
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// The table as a whole breaks an invariant (row count, unique architectures, ranges).
    #[error("invalid benchmark table {source_name}, row {row}: {reason}")]
    Invalid {
        /// The file (or `<embedded>`).
        source_name: String,
        /// The row (benchmark index) where the problem was found.
        row: usize,
        /// What is wrong.
        reason: String,
    },
    /// A dataset name that is not one of the benchmark's.
    #[error(
        "unknown dataset {name:?}; expected one of cifar10-valid, cifar10, cifar100, imagenet16 (ImageNet16-120)"
    )]
    UnknownDataset {
        /// The name given.
        name: String,
    },
    /// A zero-cost proxy name that is not known.
    #[error("unknown zero-cost proxy {name:?}; expected synflow, logsynflow, naswot or nregions")]
    UnknownProxy {
        /// The name given.
        name: String,
    },
    /// A proxy named twice in a list (its rank would count twice).
    #[error("zero-cost proxy {name} is listed twice; name each proxy once")]
    RepeatedProxy {
        /// The repeated proxy.
        name: &'static str,
    },
    /// FreeREA measured no values of a proxy on a data set.
    #[error(
        "FreeREA has no {proxy} values on {dataset}; choose synflow, logsynflow or naswot there"
    )]
    NoProxyValues {
        /// The proxy.
        proxy: &'static str,
        /// The data set.
        dataset: &'static str,
    },
    /// A search-signal name that is not known.
    #[error("unknown search signal {name:?}; expected valid200 or hp12")]
    UnknownSignal {
        /// The name given.
        name: String,
    },
    /// A benchmark index outside the table.
    #[error("benchmark index {index} is out of range; the table has {len} rows")]
    IndexOutOfRange {
        /// The index given.
        index: usize,
        /// Number of rows.
        len: usize,
    },
    /// A value queried from the table is not finite.
    #[error("benchmark value {what} of {arch} is not finite ({value})")]
    NotFinite {
        /// What was read.
        what: &'static str,
        /// The architecture.
        arch: String,
        /// The value found.
        value: f64,
    },
    /// A latency table is unreadable or malformed.
    #[error("bad latency table {source_name}: {reason}")]
    LatencyTable {
        /// The file (or folder).
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// No latency table for a subnet's resolution.
    #[error(
        "no {device} latency table for resolution {resolution}; the tables cover {available}: search those resolutions or add <resolution>_lookup_table.yaml"
    )]
    NoLatencyTable {
        /// The device.
        device: String,
        /// The resolution asked for.
        resolution: u32,
        /// The resolutions with a table.
        available: String,
    },
    /// A latency table lacks a layer a subnet needs.
    #[error(
        "the {device} latency table for resolution {resolution} has no entry {key:?} (needed for {layer}); add it to the table"
    )]
    MissingLatency {
        /// The device.
        device: String,
        /// The resolution.
        resolution: u32,
        /// The key looked up.
        key: String,
        /// Which layer needed it.
        layer: String,
    },
}
