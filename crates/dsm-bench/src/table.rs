//! The NAS-Bench-201 table: storage, loading (compact binary and CSV) and validation.

use std::path::Path;
use std::sync::OnceLock;

use dsm_space::Nb201Cell;
use dsm_space::nb201::NUM_CELLS;

use crate::BenchError;

/// A numeric column of the table: its CSV name and its fixed-point scale in the compact form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub name: &'static str,
    pub scale: f64,
    pub is_acc: bool,
}

const fn acc(name: &'static str) -> Column {
    Column {
        name,
        scale: 1e6,
        is_acc: true,
    }
}
const fn time(name: &'static str) -> Column {
    Column {
        name,
        scale: 1e4,
        is_acc: false,
    }
}

/// The measured columns kept from the CSV, in compact-file order.
pub(crate) const COLUMNS: [Column; NUM_COLUMNS] = [
    acc("v11_cifar10valid_train_acc"),
    acc("v11_cifar10valid_valid_acc"),
    acc("v11_cifar10valid_test_acc"),
    acc("v11_cifar100_train_acc"),
    acc("v11_cifar100_valid_acc"),
    acc("v11_cifar100_test_acc"),
    acc("v11_imagenet16_train_acc"),
    acc("v11_imagenet16_valid_acc"),
    acc("v11_imagenet16_test_acc"),
    acc("nats_cifar10valid_train_acc"),
    acc("nats_cifar10valid_valid_acc"),
    acc("nats_cifar10valid_test_acc"),
    time("nats_cifar10valid_train_time_per_epoch_s"),
    time("nats_cifar10valid_train_time_200ep_s"),
    time("nats_cifar10valid_valid_time_per_epoch_s"),
    acc("nats_cifar10_test_acc"),
    acc("nats_cifar100_test_acc"),
    acc("nats_imagenet16_test_acc"),
    acc("nats_hp12_cifar10_test_acc"),
    acc("nats_hp12_cifar100_test_acc"),
    acc("nats_hp12_imagenet16_test_acc"),
];
pub(crate) const NUM_COLUMNS: usize = 21;

/// Column positions, by meaning.
#[allow(dead_code)]
pub(crate) mod col {
    pub const C10V_TRAIN: usize = 0;
    pub const C10V_VALID: usize = 1;
    pub const C10V_TEST: usize = 2;
    pub const C100_TRAIN: usize = 3;
    pub const C100_VALID: usize = 4;
    pub const C100_TEST: usize = 5;
    pub const IN16_TRAIN: usize = 6;
    pub const IN16_VALID: usize = 7;
    pub const IN16_TEST: usize = 8;
    pub const NATS_C10V_TRAIN: usize = 9;
    pub const NATS_C10V_VALID: usize = 10;
    pub const NATS_C10V_TEST: usize = 11;
    pub const TRAIN_TIME_EPOCH: usize = 12;
    pub const TRAIN_TIME_200: usize = 13;
    pub const VALID_TIME_EPOCH: usize = 14;
    pub const NATS_C10_TEST: usize = 15;
    pub const NATS_C100_TEST: usize = 16;
    pub const NATS_IN16_TEST: usize = 17;
    pub const HP12_C10: usize = 18;
    pub const HP12_C100: usize = 19;
    pub const HP12_IN16: usize = 20;
}

const MAGIC: &[u8; 8] = b"DSMNB201";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 4 + 4;
const ROW_LEN: usize = 2 + 4 * NUM_COLUMNS;
const EMBEDDED: &[u8] = include_bytes!("../data/nb201.bin");

/// The real NAS-Bench-201 results for all 15,625 cells (one row per benchmark index).
///
/// Built from the embedded compact table ([`Nb201Table::embedded`]), from a compact file
/// ([`Nb201Table::from_compact_file`]) or from the CSV this project's table was derived from
/// ([`Nb201Table::from_csv_file`]). Every load validates the whole table. Lookups by cell are
/// O(1).
///
/// ```
/// use dsm_bench::{Dataset, Nb201Table};
/// let table = Nb201Table::embedded();
/// let resnet = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse().unwrap();
/// assert_eq!(table.index_of(&resnet), 11472);
/// let r = table.lookup(&resnet, Dataset::Cifar100);
/// assert!((r.test_acc - 70.89).abs() < 0.01);
/// ```
#[derive(Debug, Clone)]
pub struct Nb201Table {
    /// Cell of each benchmark index.
    cells: Vec<Nb201Cell>,
    /// Benchmark index of each cell ordinal.
    index_of_ordinal: Vec<u16>,
    /// Row-major values, `NUM_COLUMNS` per row, as f64.
    values: Vec<f64>,
}

impl Nb201Table {
    /// The table bundled with this crate (parsed and validated once, then shared).
    pub fn embedded() -> &'static Nb201Table {
        static TABLE: OnceLock<Nb201Table> = OnceLock::new();
        TABLE.get_or_init(|| {
            Self::from_compact_bytes(EMBEDDED, "<embedded>")
                .expect("the embedded NAS-Bench-201 table is validated by the test suite")
        })
    }

    /// The raw bytes of the embedded compact table.
    pub fn embedded_bytes() -> &'static [u8] {
        EMBEDDED
    }

    /// Number of rows (15,625).
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Always false for a validated table.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cell at benchmark index `index`.
    pub fn cell(&self, index: usize) -> Result<Nb201Cell, BenchError> {
        self.cells
            .get(index)
            .copied()
            .ok_or(BenchError::IndexOutOfRange {
                index,
                len: self.len(),
            })
    }

    /// The benchmark index of a cell (every cell of the space is in the table).
    pub fn index_of(&self, cell: &Nb201Cell) -> usize {
        self.index_of_ordinal[cell.ordinal()] as usize
    }

    pub(crate) fn value(&self, index: usize, column: usize) -> f64 {
        self.values[index * NUM_COLUMNS + column]
    }

    /// Reads a table file in either format: the compact binary form (recognised by its magic
    /// bytes) or the CSV form.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, BenchError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| BenchError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.display().to_string();
        if bytes.starts_with(MAGIC) {
            return Self::from_compact_bytes(&bytes, &name);
        }
        let text = String::from_utf8(bytes).map_err(|e| BenchError::Csv {
            source_name: name.clone(),
            line: 0,
            column: String::new(),
            reason: format!(
                "neither a compact table nor UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        })?;
        Self::from_csv_str(&text, &name)
    }

    /// Reads a compact table file (the format of the embedded table; see
    /// [`to_compact_bytes`](Self::to_compact_bytes)).
    pub fn from_compact_file(path: impl AsRef<Path>) -> Result<Self, BenchError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| BenchError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_compact_bytes(&bytes, &path.display().to_string())
    }

    /// Parses a compact table from memory; `source_name` names it in errors.
    pub fn from_compact_bytes(bytes: &[u8], source_name: &str) -> Result<Self, BenchError> {
        let err = |offset: usize, reason: String| BenchError::Compact {
            source_name: source_name.to_string(),
            offset,
            reason,
        };
        if bytes.len() < HEADER_LEN + 8 {
            return Err(err(
                0,
                format!("file is {} bytes, too short for a header", bytes.len()),
            ));
        }
        if &bytes[..8] != MAGIC {
            return Err(err(0, "bad magic; expected \"DSMNB201\"".into()));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let version = u32_at(8);
        if version != VERSION {
            return Err(err(
                8,
                format!("format version {version}, expected {VERSION}"),
            ));
        }
        let rows = u32_at(12) as usize;
        let cols = u32_at(16) as usize;
        if rows != NUM_CELLS || cols != NUM_COLUMNS {
            return Err(err(
                12,
                format!("{rows} rows x {cols} columns, expected {NUM_CELLS} x {NUM_COLUMNS}"),
            ));
        }
        let expected_len = HEADER_LEN + rows * ROW_LEN + 8;
        if bytes.len() != expected_len {
            return Err(err(
                bytes.len().min(expected_len),
                format!(
                    "file is {} bytes, expected {expected_len} (truncated or padded)",
                    bytes.len()
                ),
            ));
        }
        let body = &bytes[..expected_len - 8];
        let stored = u64::from_le_bytes(bytes[expected_len - 8..].try_into().expect("8 bytes"));
        let computed = fnv1a64(body);
        if stored != computed {
            return Err(err(
                expected_len - 8,
                format!(
                    "checksum mismatch (stored {stored:016x}, computed {computed:016x}): the file was altered"
                ),
            ));
        }
        let mut ordinals = Vec::with_capacity(rows);
        let mut values = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            let o = HEADER_LEN + r * ROW_LEN;
            ordinals.push(u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize);
            for (c, column) in COLUMNS.iter().enumerate() {
                values.push(u32_at(o + 2 + 4 * c) as f64 / column.scale);
            }
        }
        Self::from_parts(ordinals, values, source_name)
    }

    /// Builds and validates a table from per-row cell ordinals and values.
    fn from_parts(
        ordinals: Vec<usize>,
        values: Vec<f64>,
        source_name: &str,
    ) -> Result<Self, BenchError> {
        let invalid = |row: usize, reason: String| BenchError::Invalid {
            source_name: source_name.to_string(),
            row,
            reason,
        };
        if ordinals.len() != NUM_CELLS {
            return Err(invalid(
                ordinals.len(),
                format!("{} rows, expected {NUM_CELLS}", ordinals.len()),
            ));
        }
        let mut index_of_ordinal = vec![u16::MAX; NUM_CELLS];
        let mut cells = Vec::with_capacity(NUM_CELLS);
        for (row, &ordinal) in ordinals.iter().enumerate() {
            let cell = Nb201Cell::from_ordinal(ordinal).ok_or_else(|| {
                invalid(
                    row,
                    format!("cell ordinal {ordinal} is not a NAS-Bench-201 cell"),
                )
            })?;
            if index_of_ordinal[ordinal] != u16::MAX {
                return Err(invalid(
                    row,
                    format!(
                        "cell {cell} appears twice (also at row {})",
                        index_of_ordinal[ordinal]
                    ),
                ));
            }
            index_of_ordinal[ordinal] = row as u16;
            cells.push(cell);
            for (c, column) in COLUMNS.iter().enumerate() {
                let v = values[row * NUM_COLUMNS + c];
                let ok = if column.is_acc {
                    (0.0..=100.0).contains(&v)
                } else {
                    v.is_finite() && v > 0.0 && v < 1e6
                };
                if !ok {
                    let want = if column.is_acc {
                        "an accuracy in [0, 100]"
                    } else {
                        "a positive time below 1e6 s"
                    };
                    return Err(invalid(
                        row,
                        format!("{} is {v}, expected {want}", column.name),
                    ));
                }
            }
        }
        Ok(Self {
            cells,
            index_of_ordinal,
            values,
        })
    }

    /// The compact binary form: magic `DSMNB201`, version, row and column counts, then per
    /// benchmark index the cell's base-5 ordinal (u16) and the 21 measured columns as
    /// fixed-point u32 (accuracies x 1e6, times x 1e4), all little-endian, then an FNV-1a-64
    /// checksum of everything before it.
    pub fn to_compact_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + NUM_CELLS * ROW_LEN + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.len() as u32).to_le_bytes());
        out.extend_from_slice(&(NUM_COLUMNS as u32).to_le_bytes());
        for (index, cell) in self.cells.iter().enumerate() {
            out.extend_from_slice(&(cell.ordinal() as u16).to_le_bytes());
            for (c, column) in COLUMNS.iter().enumerate() {
                let fixed = (self.value(index, c) * column.scale).round() as u32;
                out.extend_from_slice(&fixed.to_le_bytes());
            }
        }
        let sum = fnv1a64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads the table from the CSV format of `shared/data/nb201/nb201.csv` (header row, one
    /// row per benchmark index, columns found by name). Checks that `ops` agrees with `arch`
    /// and that the params/FLOPs columns agree with the exact formulas.
    pub fn from_csv_file(path: impl AsRef<Path>) -> Result<Self, BenchError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| BenchError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_csv_str(&text, &path.display().to_string())
    }

    /// Parses the CSV format from memory; `source_name` names it in errors.
    pub fn from_csv_str(text: &str, source_name: &str) -> Result<Self, BenchError> {
        let csv_err = |line: usize, column: &str, reason: String| BenchError::Csv {
            source_name: source_name.to_string(),
            line,
            column: column.to_string(),
            reason,
        };
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .ok_or_else(|| csv_err(1, "", "the file is empty".into()))?
            .split(',')
            .collect();
        let find = |name: &str| {
            header.iter().position(|h| *h == name).ok_or_else(|| {
                csv_err(1, name, "required column is missing from the header".into())
            })
        };
        let index_col = find("index")?;
        let arch_col = find("arch")?;
        let ops_col = find("ops")?;
        let value_cols = COLUMNS
            .iter()
            .map(|c| find(c.name))
            .collect::<Result<Vec<_>, _>>()?;
        let cost_cols: Vec<(usize, &str, u64, bool, u64)> = [
            ("params_cifar10_m", 10, false, 0),
            ("flops_cifar10_m", 10, true, 32),
            ("params_cifar100_m", 100, false, 0),
            ("flops_cifar100_m", 100, true, 32),
            ("params_imagenet16_m", 120, false, 0),
            ("flops_imagenet16_m", 120, true, 16),
        ]
        .into_iter()
        .filter_map(|(name, k, is_flops, res)| {
            header
                .iter()
                .position(|h| *h == name)
                .map(|i| (i, name, k, is_flops, res))
        })
        .collect();

        let mut ordinals = vec![usize::MAX; NUM_CELLS];
        let mut values = vec![0.0; NUM_CELLS * NUM_COLUMNS];
        let mut rows = 0;
        for (i, line) in lines.enumerate() {
            let lineno = i + 2;
            if line.is_empty() {
                return Err(csv_err(lineno, "", "empty line".into()));
            }
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != header.len() {
                return Err(csv_err(
                    lineno,
                    "",
                    format!(
                        "{} fields, expected {} (as in the header)",
                        fields.len(),
                        header.len()
                    ),
                ));
            }
            let index: usize = fields[index_col].parse().map_err(|_| {
                csv_err(
                    lineno,
                    "index",
                    format!("{:?} is not an integer", fields[index_col]),
                )
            })?;
            if index >= NUM_CELLS {
                return Err(csv_err(
                    lineno,
                    "index",
                    format!("{index} is outside 0..{NUM_CELLS}"),
                ));
            }
            if ordinals[index] != usize::MAX {
                return Err(csv_err(
                    lineno,
                    "index",
                    format!("index {index} appears twice"),
                ));
            }
            let cell: Nb201Cell = fields[arch_col]
                .parse()
                .map_err(|e| csv_err(lineno, "arch", format!("{e}")))?;
            if fields[ops_col] != cell.ops_code() {
                return Err(csv_err(
                    lineno,
                    "ops",
                    format!(
                        "{:?} disagrees with arch (expected {:?})",
                        fields[ops_col],
                        cell.ops_code()
                    ),
                ));
            }
            ordinals[index] = cell.ordinal();
            for (c, (&fc, column)) in value_cols.iter().zip(COLUMNS.iter()).enumerate() {
                let v = parse_fixed(fields[fc], column.scale)
                    .map_err(|reason| csv_err(lineno, column.name, reason))?;
                values[index * NUM_COLUMNS + c] = v;
            }
            for &(fc, name, classes, is_flops, res) in &cost_cols {
                let v: f64 = fields[fc].parse().map_err(|_| {
                    csv_err(lineno, name, format!("{:?} is not a number", fields[fc]))
                })?;
                let exact = if is_flops {
                    cell.flops(classes, res).expect("fixed valid resolution")
                } else {
                    cell.params(classes)
                } as f64
                    / 1e6;
                // The CSV rounds params to 6 and FLOPs to 5 decimals (millions).
                let tolerance = if is_flops { 5.1e-6 } else { 5.1e-7 };
                if (v - exact).abs() > tolerance {
                    return Err(csv_err(
                        lineno,
                        name,
                        format!("{v} disagrees with the exact count {exact}"),
                    ));
                }
            }
            rows += 1;
        }
        if rows != NUM_CELLS {
            return Err(csv_err(
                rows + 2,
                "",
                format!("{rows} data rows, expected {NUM_CELLS} (truncated file?)"),
            ));
        }
        Self::from_parts(ordinals, values, source_name)
    }
}

/// Parses a decimal with at most as many decimals as `scale` allows (so the compact form is
/// exact).
fn parse_fixed(text: &str, scale: f64) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !v.is_finite() {
        return Err(format!("{text:?} is not finite"));
    }
    let fixed = v * scale;
    if (fixed - fixed.round()).abs() > 1e-3 || fixed < 0.0 || fixed > u32::MAX as f64 {
        return Err(format!(
            "{text:?} has more precision or range than the table keeps (1/{scale})"
        ));
    }
    Ok(fixed.round() / scale)
}

/// FNV-1a, 64 bit: the compact format's integrity checksum.
pub(crate) use dsm_space::io::fnv1a64;
