//! The one error type of this crate.

use thiserror::Error;

/// Everything that can go wrong when parsing, validating or editing an architecture.
///
/// Every variant that comes from user input quotes that input, says where in it the problem
/// sits and what was expected, so that a message alone is enough to fix the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SpaceError {
    /// A list of cells (one a line) has a bad line or no cell.
    #[error("{source_name}{}: {reason}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    CellList {
        /// The file (or other name of the text).
        source_name: String,
        /// The 1-based line, when one line is at fault.
        line: Option<u32>,
        /// What is wrong (the line quoted and the parser's reason, or what is missing).
        reason: String,
    },
    /// A NAS-Bench-201 cell string does not have the `|op~i|+|op~i|op~i|+|...|` shape.
    #[error(
        "malformed NAS-Bench-201 cell {input:?}: {reason} (at byte {position}); expected `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`"
    )]
    Nb201Syntax {
        /// The whole string given.
        input: String,
        /// Byte offset of the problem.
        position: usize,
        /// What is wrong there.
        reason: String,
    },
    /// An op name that is not one of the five NAS-Bench-201 ops.
    #[error(
        "unknown NAS-Bench-201 op {op:?} in {input:?} (edge {edge}); expected one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3"
    )]
    Nb201UnknownOp {
        /// The whole string given.
        input: String,
        /// Edge number 0..6 in benchmark order.
        edge: usize,
        /// The offending op name.
        op: String,
    },
    /// An edge names the wrong source node (`~k` must count 0, 1, ... within each node).
    #[error(
        "wrong source node in {input:?} (edge {edge}): found `~{found}`, expected `~{expected}`"
    )]
    Nb201WrongSource {
        /// The whole string given.
        input: String,
        /// Edge number 0..6 in benchmark order.
        edge: usize,
        /// The source index written.
        found: String,
        /// The source index this edge must have.
        expected: usize,
    },
    /// The cell does not have 3 nodes (groups separated by `+`).
    #[error(
        "{input:?} has {found} node(s) separated by '+'; a NAS-Bench-201 cell has 3, written |op~0|+|op~0|op~1|+|op~0|op~1|op~2| (ops: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3)"
    )]
    Nb201NodeCount {
        /// The whole string given.
        input: String,
        /// Nodes found.
        found: usize,
    },
    /// A node of the cell does not have its 1, 2 or 3 incoming edges.
    #[error(
        "wrong number of edges in {input:?}: node {node} has {found} incoming edge(s), expected {expected} (nodes 1, 2 and 3 have 1, 2 and 3)"
    )]
    Nb201EdgeCount {
        /// The whole string given.
        input: String,
        /// The node (1..=3).
        node: usize,
        /// Edges found.
        found: usize,
        /// Edges expected.
        expected: usize,
    },
    /// A six-digit op code (`"421211"`) that is malformed.
    #[error("malformed NAS-Bench-201 op code {input:?}: expected exactly 6 digits 0..=4")]
    Nb201OpsCode {
        /// The code given.
        input: String,
    },
    /// A MobileNet legacy string `depths:ks:ratios` that is malformed.
    #[error("malformed MobileNet legacy string {input:?}: {reason}")]
    MbLegacySyntax {
        /// The whole string given.
        input: String,
        /// What is wrong, with the field and slot.
        reason: String,
    },
    /// A MobileNet layer-code list that is malformed.
    #[error("malformed MobileNet layer codes {input:?}: {reason}")]
    MbLayerCodes {
        /// The codes given.
        input: String,
        /// What is wrong, with the slot.
        reason: String,
    },
    /// A MobileNet architecture (however built) that breaks a rule of the space.
    #[error("invalid MobileNet architecture: {reason}")]
    MbInvalid {
        /// The rule broken, with unit and layer.
        reason: String,
    },
    /// A setting (a width multiplier, a resolution, a model name) outside what is supported.
    #[error("invalid {what} {value:?}: expected {expected}")]
    InvalidSetting {
        /// Which setting.
        what: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// An edit names a position or choice that does not exist.
    #[error(
        "invalid edit (position {position}, choice {choice}): the space has {positions} positions and {choices} choices at this one"
    )]
    InvalidEdit {
        /// The position edited.
        position: usize,
        /// The choice requested.
        choice: usize,
        /// Number of positions in the space.
        positions: usize,
        /// Number of choices at `position` (0 when the position does not exist).
        choices: usize,
    },
    /// A feature vector or choice list of the wrong length.
    #[error("wrong length for {what}: found {found}, expected {expected}")]
    WrongLength {
        /// What was being read.
        what: &'static str,
        /// Length found.
        found: usize,
        /// Length expected.
        expected: usize,
    },
    /// A space refused every choice vector drawn for a sample or a mutation (its
    /// `arch_from_choices` rejects them): the space is too constrained for uniform draws.
    #[error(
        "{what}: {draws} choice vectors drawn, every one refused by the space (the last: {last}); give the space its own `{what}` that draws only valid architectures"
    )]
    NoValidDraw {
        /// `sample` or `mutate`.
        what: &'static str,
        /// Vectors drawn.
        draws: usize,
        /// The space's reason for the last one.
        last: String,
    },
}
