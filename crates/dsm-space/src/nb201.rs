//! The NAS-Bench-201 cell space (15,625 cells).
//!
//! A cell is a DAG of 4 nodes; node 0 is the input and node 3 the output; node `j` sums
//! `op(i -> j)` over `i < j`. Its 6 edges are always listed in the benchmark's order
//! `(0->1), (0->2), (1->2), (0->3), (1->3), (2->3)` and each carries one of 5 ops.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::SpaceError;
use crate::space::{CostMetrics, SearchSpace};

/// Number of edges in a cell.
pub const NUM_EDGES: usize = 6;
/// Number of candidate ops per edge.
pub const NUM_OPS: usize = 5;
/// Number of cells in the space (5^6).
pub const NUM_CELLS: usize = 15_625;
/// `(source, target)` node of each edge, in benchmark order.
pub const EDGES: [(usize, usize); NUM_EDGES] = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)];

/// One of the five NAS-Bench-201 ops, in the benchmark's index order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Nb201Op {
    /// Outputs zeros: the edge is cut.
    None,
    /// Identity.
    SkipConnect,
    /// ReLU -> Conv1x1 (no bias) -> BatchNorm.
    NorConv1x1,
    /// ReLU -> Conv3x3 (no bias) -> BatchNorm.
    NorConv3x3,
    /// 3x3 average pooling, stride 1, padding 1 not counted.
    AvgPool3x3,
}

impl Nb201Op {
    /// All ops in index order.
    pub const ALL: [Nb201Op; NUM_OPS] = [
        Nb201Op::None,
        Nb201Op::SkipConnect,
        Nb201Op::NorConv1x1,
        Nb201Op::NorConv3x3,
        Nb201Op::AvgPool3x3,
    ];

    /// The benchmark's name of the op (`"nor_conv_3x3"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Nb201Op::None => "none",
            Nb201Op::SkipConnect => "skip_connect",
            Nb201Op::NorConv1x1 => "nor_conv_1x1",
            Nb201Op::NorConv3x3 => "nor_conv_3x3",
            Nb201Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    /// The op's index 0..5 in the benchmark's op list.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The op with index `i`, if `i < 5`.
    pub fn from_index(i: usize) -> Option<Self> {
        Self::ALL.get(i).copied()
    }

    /// The op with this benchmark name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }
}

impl fmt::Display for Nb201Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A NAS-Bench-201 cell: one op per edge, in benchmark edge order.
///
/// ```
/// use dsm_space::{Nb201Cell, Nb201Op};
///
/// let resnet: Nb201Cell =
///     "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
///         .parse()
///         .unwrap();
/// assert_eq!(resnet.op(0), Nb201Op::NorConv3x3);
/// assert_eq!(resnet.ops_code(), "303101");
/// assert_eq!(resnet.params(10), 559_386); // exact, 10 classes
/// assert!("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|"
///     .parse::<Nb201Cell>()
///     .is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Nb201Cell {
    ops: [Nb201Op; NUM_EDGES],
}

impl Nb201Cell {
    /// A cell from its 6 ops in benchmark edge order.
    pub fn new(ops: [Nb201Op; NUM_EDGES]) -> Self {
        Self { ops }
    }

    /// The 6 ops in benchmark edge order.
    pub fn ops(&self) -> [Nb201Op; NUM_EDGES] {
        self.ops
    }

    /// The op on edge `edge` (0..6, benchmark order).
    ///
    /// # Panics
    /// If `edge >= 6`.
    pub fn op(&self, edge: usize) -> Nb201Op {
        self.ops[edge]
    }

    /// A copy with edge `edge` set to `op`.
    ///
    /// # Panics
    /// If `edge >= 6`.
    pub fn with_op(&self, edge: usize, op: Nb201Op) -> Self {
        let mut ops = self.ops;
        ops[edge] = op;
        Self { ops }
    }

    /// The 6-digit op code used by the benchmark table's `ops` column (`"421211"`).
    pub fn ops_code(&self) -> String {
        self.ops
            .iter()
            .map(|op| char::from(b'0' + op.index() as u8))
            .collect()
    }

    /// Parses a 6-digit op code (`"421211"`).
    pub fn from_ops_code(code: &str) -> Result<Self, SpaceError> {
        let bytes = code.as_bytes();
        let bad = || SpaceError::Nb201OpsCode {
            input: code.to_string(),
        };
        if bytes.len() != NUM_EDGES {
            return Err(bad());
        }
        let mut ops = [Nb201Op::None; NUM_EDGES];
        for (slot, b) in ops.iter_mut().zip(bytes) {
            *slot = b
                .checked_sub(b'0')
                .and_then(|d| Nb201Op::from_index(d as usize))
                .ok_or_else(bad)?;
        }
        Ok(Self { ops })
    }

    /// The cell's ordinal in base 5 (first edge most significant), 0..15625. This is this
    /// crate's dense numbering, *not* the benchmark's `index` (a table maps between them).
    pub fn ordinal(&self) -> usize {
        self.ops
            .iter()
            .fold(0, |acc, op| acc * NUM_OPS + op.index())
    }

    /// The cell with a given [`ordinal`](Self::ordinal), if `ordinal < 15625`.
    pub fn from_ordinal(ordinal: usize) -> Option<Self> {
        if ordinal >= NUM_CELLS {
            return None;
        }
        let mut ops = [Nb201Op::None; NUM_EDGES];
        let mut rest = ordinal;
        for slot in ops.iter_mut().rev() {
            *slot = Nb201Op::ALL[rest % NUM_OPS];
            rest /= NUM_OPS;
        }
        Some(Self { ops })
    }

    /// All 15,625 cells in ordinal order.
    pub fn all() -> impl Iterator<Item = Nb201Cell> {
        (0..NUM_CELLS).map(|i| Self::from_ordinal(i).expect("ordinal in range"))
    }

    /// The 24 cells that differ from this one on exactly one edge.
    pub fn neighbours(&self) -> Vec<Nb201Cell> {
        let mut out = Vec::with_capacity(NUM_EDGES * (NUM_OPS - 1));
        for edge in 0..NUM_EDGES {
            for op in Nb201Op::ALL {
                if op != self.ops[edge] {
                    out.push(self.with_op(edge, op));
                }
            }
        }
        out
    }

    /// How many edges carry `op`.
    pub fn count(&self, op: Nb201Op) -> usize {
        self.ops.iter().filter(|&&o| o == op).count()
    }

    /// Exact parameter count of the benchmark's network (C = 16, N = 5) for `num_classes`
    /// classes, counting BN affine parameters and the classifier, as the benchmark does.
    pub fn params(&self, num_classes: u64) -> u64 {
        let n1 = self.count(Nb201Op::NorConv1x1) as u64;
        let n3 = self.count(Nb201Op::NorConv3x3) as u64;
        28_000 * n1 + 243_040 * n3 + 72_656 + 65 * num_classes
    }

    /// Exact FLOPs (multiply-accumulates of convolutions and the linear layer, linear bias
    /// included, as the benchmark counts them) for a square `resolution` input (32 for
    /// CIFAR, 16 for ImageNet16-120) and `num_classes` classes.
    ///
    /// Returns an error unless `resolution` is a positive multiple of 4 (the network halves
    /// the resolution twice).
    pub fn flops(&self, num_classes: u64, resolution: u64) -> Result<u64, SpaceError> {
        if resolution == 0 || !resolution.is_multiple_of(4) {
            return Err(SpaceError::InvalidSetting {
                what: "NAS-Bench-201 input resolution",
                value: resolution.to_string(),
                expected: "a positive multiple of 4 (32 for CIFAR, 16 for ImageNet16-120)",
            });
        }
        let n1 = self.count(Nb201Op::NorConv1x1) as u64;
        let n3 = self.count(Nb201Op::NorConv3x3) as u64;
        Ok((3_840 * n1 + 34_560 * n3 + 7_600) * resolution * resolution + 65 * num_classes)
    }
}

impl fmt::Display for Nb201Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for node in 1..=3 {
            if node > 1 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for src in 0..node {
                let edge = node * (node - 1) / 2 + src;
                write!(f, "{}~{}|", self.ops[edge].name(), src)?;
            }
        }
        Ok(())
    }
}

/// Parses a list of cells, one a line; blank lines and `#` comments (whole lines, or after a
/// cell) are skipped. A bad line is an error quoting it with its line number; a list without
/// a cell is an error too. `source_name` names the text in errors (its file).
///
/// ```
/// use dsm_space::nb201::parse_cell_list;
/// let cells = parse_cell_list("# two cells\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n\n|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|  # a skip\n", "cells.txt")?;
/// assert_eq!(cells.len(), 2);
/// let e = parse_cell_list("|none~0|+|bogus~0|\n", "cells.txt").unwrap_err().to_string();
/// assert!(e.starts_with("cells.txt, line 1: \"|none~0|+|bogus~0|\""), "{e}");
/// # Ok::<(), dsm_space::SpaceError>(())
/// ```
pub fn parse_cell_list(text: &str, source_name: &str) -> Result<Vec<Nb201Cell>, SpaceError> {
    let mut cells: Vec<Nb201Cell> = Vec::new();
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let cell = line
            .parse::<Nb201Cell>()
            .map_err(|e| SpaceError::CellList {
                source_name: source_name.to_string(),
                line: Some(u32::try_from(i + 1).unwrap_or(u32::MAX)),
                reason: format!("{line:?}: {e}"),
            })?;
        if let Some(first) = cells.iter().position(|c| *c == cell) {
            return Err(SpaceError::CellList {
                source_name: source_name.to_string(),
                line: Some(u32::try_from(i + 1).unwrap_or(u32::MAX)),
                reason: format!(
                    "repeats the cell of line {}; list each cell once (a repeat would count as a second cell)",
                    lines[first]
                ),
            });
        }
        cells.push(cell);
        lines.push(i + 1);
    }
    if cells.is_empty() {
        return Err(SpaceError::CellList {
            source_name: source_name.to_string(),
            line: None,
            reason: "holds no cell; expected one NAS-Bench-201 cell string a line".into(),
        });
    }
    Ok(cells)
}

impl FromStr for Nb201Cell {
    type Err = SpaceError;

    fn from_str(input: &str) -> Result<Self, SpaceError> {
        let syntax = |position: usize, reason: String| SpaceError::Nb201Syntax {
            input: input.to_string(),
            position,
            reason,
        };
        if let Some((pos, c)) = input
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || "_~|+".contains(c)))
        {
            return Err(syntax(pos, format!("stray character {c:?}")));
        }
        let groups: Vec<(usize, &str)> = {
            let mut offset = 0;
            input
                .split('+')
                .map(|g| {
                    let item = (offset, g);
                    offset += g.len() + 1;
                    item
                })
                .collect()
        };
        if input.is_empty() {
            return Err(syntax(
                0,
                "empty cell; expected |op~0|+|op~0|op~1|+|op~0|op~1|op~2|".into(),
            ));
        }
        if groups.len() != 3 {
            return Err(SpaceError::Nb201NodeCount {
                input: input.to_string(),
                found: groups.len(),
            });
        }
        let mut ops = [Nb201Op::None; NUM_EDGES];
        for (j, &(offset, group)) in groups.iter().enumerate() {
            let node = j + 1;
            if !group.starts_with('|') {
                return Err(syntax(offset, format!("node {node} must start with '|'")));
            }
            if group.len() < 2 || !group.ends_with('|') {
                return Err(syntax(
                    offset + group.len(),
                    format!("node {node} must end with '|'"),
                ));
            }
            let inner = &group[1..group.len() - 1];
            let tokens: Vec<&str> = inner.split('|').collect();
            if tokens.len() != node {
                return Err(SpaceError::Nb201EdgeCount {
                    input: input.to_string(),
                    node,
                    found: if inner.is_empty() { 0 } else { tokens.len() },
                    expected: node,
                });
            }
            let mut tok_offset = offset + 1;
            for (src, tok) in tokens.iter().enumerate() {
                let edge = node * (node - 1) / 2 + src;
                let Some((name, source)) = tok.split_once('~') else {
                    return Err(syntax(tok_offset, format!("edge {tok:?} has no '~source'")));
                };
                let op = Nb201Op::from_name(name).ok_or_else(|| SpaceError::Nb201UnknownOp {
                    input: input.to_string(),
                    edge,
                    op: name.to_string(),
                })?;
                if source != src.to_string() {
                    return Err(SpaceError::Nb201WrongSource {
                        input: input.to_string(),
                        edge,
                        found: source.to_string(),
                        expected: src,
                    });
                }
                ops[edge] = op;
                tok_offset += tok.len() + 1;
            }
        }
        Ok(Self { ops })
    }
}

/// Number of one-hot slots per edge in [`Nb201Space`]'s encoding (5 ops + 1 unused slot,
/// as the reference implementation lays it out).
pub const ENCODING_SLOTS: usize = 6;

/// The NAS-Bench-201 cell space as a [`SearchSpace`]: 6 positions (edges) with 5 choices
/// (ops) each, encoded one-hot in 6 x 6 = 36 features.
///
/// ```
/// use dsm_space::{Nb201Space, SearchSpace};
/// let space = Nb201Space;
/// let cell = space.parse("|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|").unwrap();
/// assert_eq!(space.choices_of(&cell), vec![0, 1, 2, 3, 4, 0]);
/// assert_eq!(space.feature_len(), 36);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nb201Space;

impl SearchSpace for Nb201Space {
    type Arch = Nb201Cell;

    fn name(&self) -> &str {
        "nas-bench-201"
    }

    fn num_positions(&self) -> usize {
        NUM_EDGES
    }

    fn num_choices(&self, position: usize) -> usize {
        if position < NUM_EDGES { NUM_OPS } else { 0 }
    }

    fn choices_of(&self, arch: &Nb201Cell) -> Vec<usize> {
        arch.ops.iter().map(|op| op.index()).collect()
    }

    fn arch_from_choices(&self, choices: &[usize]) -> Result<Nb201Cell, SpaceError> {
        self.check_choices("NAS-Bench-201 choice vector", choices)?;
        let mut ops = [Nb201Op::None; NUM_EDGES];
        for (&c, slot) in choices.iter().zip(ops.iter_mut()) {
            *slot = Nb201Op::from_index(c).expect("checked against num_choices");
        }
        Ok(Nb201Cell { ops })
    }

    fn parse(&self, text: &str) -> Result<Nb201Cell, SpaceError> {
        text.parse()
    }

    /// NAS-Bench-201's own mutation (AutoDL-Projects' regularized evolution): pick a node
    /// 1..=3 uniformly, then one of its incoming edges uniformly (so edge (0->1) is chosen
    /// with probability 1/3 and each edge into node 3 with 1/9), then a different op
    /// uniformly.
    fn mutate<R: rand::Rng + ?Sized>(
        &self,
        arch: &Nb201Cell,
        rng: &mut R,
    ) -> Result<Nb201Cell, SpaceError> {
        use rand::RngExt;
        let node = rng.random_range(1..=3usize);
        let src = rng.random_range(0..node);
        let edge = node * (node - 1) / 2 + src;
        let shift = rng.random_range(1..NUM_OPS);
        let op = Nb201Op::ALL[(arch.ops[edge].index() + shift) % NUM_OPS];
        Ok(arch.with_op(edge, op))
    }

    fn feature_len(&self) -> usize {
        NUM_EDGES * ENCODING_SLOTS
    }

    fn encode(&self, arch: &Nb201Cell) -> Vec<f32> {
        let mut out = vec![0.0; NUM_EDGES * ENCODING_SLOTS];
        for (e, op) in arch.ops.iter().enumerate() {
            out[e * ENCODING_SLOTS + op.index()] = 1.0;
        }
        out
    }

    fn cost(&self, arch: &Nb201Cell) -> Option<CostMetrics> {
        Some(CostMetrics {
            params: Some(arch.params(10) as f64),
            madds: arch.flops(10, 32).ok().map(|f| f as f64),
        })
    }
}
