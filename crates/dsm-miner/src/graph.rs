//! The candidate graph: K anchors, one per candidate subspace, as a complete tournament.

use serde::{Deserialize, Serialize};

/// One node of the candidate graph: an anchor architecture and its score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor<A> {
    /// The anchor architecture (the centre of its subspace).
    pub arch: A,
    /// Its score (the search signal, in percent for the built-in evaluators).
    pub score: f64,
    /// Its choice vector.
    pub choices: Vec<usize>,
    /// Node features: the space's encoding followed by the raw score.
    pub features: Vec<f32>,
}

/// K anchors with a tournament of directed edges, each pointing from the worse anchor to the
/// better one (ties: from the lower index to the higher), and their features.
///
/// ```
/// use dsm_miner::CandidateGraph;
/// let g = CandidateGraph::new(vec![("a", 90.0, vec![0], vec![1.0]), ("b", 91.0, vec![1], vec![0.0]), ("c", 90.0, vec![0], vec![1.0])]);
/// assert_eq!(g.edges(), vec![(0, 1), (0, 2), (2, 1)]);
/// assert_eq!(g.best(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateGraph<A> {
    anchors: Vec<Anchor<A>>,
}

impl<A: Clone> CandidateGraph<A> {
    /// A graph from `(arch, score, choices, encoding)` of each anchor; the score is appended
    /// to the encoding to form the node features.
    pub fn new(anchors: Vec<(A, f64, Vec<usize>, Vec<f32>)>) -> Self {
        Self {
            anchors: anchors
                .into_iter()
                .map(|(arch, score, choices, encoding)| Self::node(arch, score, choices, encoding))
                .collect(),
        }
    }

    fn node(arch: A, score: f64, choices: Vec<usize>, mut features: Vec<f32>) -> Anchor<A> {
        features.push(score as f32);
        Anchor {
            arch,
            score,
            choices,
            features,
        }
    }

    /// Number of anchors (K).
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether the graph has no anchor.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// The anchors.
    pub fn anchors(&self) -> &[Anchor<A>] {
        &self.anchors
    }

    /// The `i`-th anchor.
    pub fn anchor(&self, i: usize) -> &Anchor<A> {
        &self.anchors[i]
    }

    /// Replaces anchor `i` (features and edges follow).
    pub fn replace(
        &mut self,
        i: usize,
        arch: A,
        score: f64,
        choices: Vec<usize>,
        encoding: Vec<f32>,
    ) {
        self.anchors[i] = Self::node(arch, score, choices, encoding);
    }

    /// The tournament's directed edges `(start, end)`, start = the worse anchor, in the
    /// order the reference builds them (row-major over ordered pairs).
    pub fn edges(&self) -> Vec<(usize, usize)> {
        let n = self.len();
        let mut out = Vec::with_capacity(n * n.saturating_sub(1) / 2);
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let (si, sj) = (self.anchors[i].score, self.anchors[j].score);
                // (i, j) is added when i is not better, unless (j, i) came first (a tie with j < i).
                if si <= sj && !(si == sj && j < i) {
                    out.push((i, j));
                }
            }
        }
        out
    }

    /// Index of the best anchor by score (ties: the lowest index).
    pub fn best(&self) -> usize {
        let mut best = 0;
        for (i, a) in self.anchors.iter().enumerate() {
            if a.score > self.anchors[best].score {
                best = i;
            }
        }
        best
    }

    /// Diversity of the anchors: mean pairwise Hamming distance between their choice
    /// vectors (0 when every anchor is the same architecture).
    pub fn diversity(&self) -> f64 {
        let n = self.len();
        if n < 2 {
            return 0.0;
        }
        let mut total = 0usize;
        for i in 0..n {
            for j in i + 1..n {
                total += self.anchors[i]
                    .choices
                    .iter()
                    .zip(&self.anchors[j].choices)
                    .filter(|(a, b)| a != b)
                    .count();
            }
        }
        total as f64 / (n * (n - 1) / 2) as f64
    }
}
