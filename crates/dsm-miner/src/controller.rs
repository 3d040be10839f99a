//! The DSM-NAS controller, written with Burn: an edge-aware GraphSAGE encoder of the
//! candidate graph, an LSTM cell that first picks a subspace by attention over the anchors
//! and then picks `(position, choice)` edits.

use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu, sigmoid};
use rand::{Rng, RngExt};

use crate::graph::CandidateGraph;

/// Shapes of a controller: what the search space and the candidate graph need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerShape {
    /// Node feature length (the space's encoding + 1 for the score).
    pub features: usize,
    /// Number of anchors K.
    pub anchors: usize,
    /// Number of editable positions.
    pub positions: usize,
    /// Largest number of choices at a position.
    pub choices: usize,
    /// Hidden size (64).
    pub hidden: usize,
}

fn uniform<R: Rng + ?Sized>(rng: &mut R, n: usize, range: f64) -> Vec<f32> {
    (0..n)
        .map(|_| rng.random_range(-range..range) as f32)
        .collect()
}

/// A dense layer `y = x W (+ b)` with weights drawn from the search's own RNG.
#[derive(Module, Debug)]
pub struct Dense {
    weight: Param<Tensor<2>>,
    bias: Option<Param<Tensor<1>>>,
}

impl Dense {
    fn new<R: Rng + ?Sized>(
        rng: &mut R,
        d_in: usize,
        d_out: usize,
        bias: bool,
        range: f64,
        dev: &Device,
    ) -> Self {
        let weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(uniform(rng, d_in * d_out, range), [d_in, d_out]),
            dev,
        ));
        let bias = bias.then(|| {
            Param::from_tensor(Tensor::from_data(
                TensorData::new(uniform(rng, d_out, range), [d_out]),
                dev,
            ))
        });
        Self { weight, bias }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let y = x.matmul(self.weight.val());
        match &self.bias {
            Some(b) => y + b.val().unsqueeze_dim(0),
            None => y,
        }
    }
}

/// An embedding table.
#[derive(Module, Debug)]
pub struct Table {
    weight: Param<Tensor<2>>,
}

impl Table {
    fn new<R: Rng + ?Sized>(rng: &mut R, n: usize, d: usize, range: f64, dev: &Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(uniform(rng, n * d, range), [n, d]),
                dev,
            )),
        }
    }

    fn row(&self, i: usize, dev: &Device) -> Tensor<2> {
        let idx = Tensor::<1, Int>::from_data(TensorData::new(vec![i as i64], [1]), dev);
        self.weight.val().select(0, idx)
    }
}

/// One edge-aware GraphSAGE layer.
#[derive(Module, Debug)]
pub struct SageLayer {
    p: Dense,
    pool: Dense,
    q: Dense,
    w: Dense,
}

/// A single-step LSTM cell (PyTorch's `LSTMCell`: gates i, f, g, o; two biases).
#[derive(Module, Debug)]
pub struct LstmCell {
    ih: Dense,
    hh: Dense,
}

impl LstmCell {
    fn step(&self, x: Tensor<2>, h: Tensor<2>, c: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let gates = self.ih.forward(x) + self.hh.forward(h);
        let mut g = gates.chunk(4, 1).into_iter();
        let (i, f, gg, o) = (
            g.next().expect("4 gates"),
            g.next().expect("4 gates"),
            g.next().expect("4 gates"),
            g.next().expect("4 gates"),
        );
        let c2 = sigmoid(f) * c + sigmoid(i) * gg.tanh();
        let h2 = sigmoid(o) * c2.clone().tanh();
        (h2, c2)
    }
}

/// The controller's parameters, in the order they are drawn from the RNG (and visited).
#[derive(Module, Debug)]
pub struct Controller {
    node_in: Dense,
    edge_in: Dense,
    sage: Vec<SageLayer>,
    lstm: LstmCell,
    attn_emb: Dense,
    attn_hid: Dense,
    attn_v: Dense,
    pos_head: Dense,
    op_head: Dense,
    anchor_emb: Table,
    pos_emb: Table,
    op_emb: Table,
}

/// What the controller decided, with the differentiable log-probability and entropy.
pub struct Decision {
    /// The chosen anchor (subspace).
    pub anchor: usize,
    /// `(position, choice)` edits, in order.
    pub edits: Vec<(usize, usize)>,
    /// Sum of the log-probabilities of all decisions.
    pub log_prob: Tensor<1>,
    /// Sum of the entropies of all decision distributions.
    pub entropy: Tensor<1>,
    /// `entropy` as a number.
    pub entropy_value: f64,
}

/// Squashing constants of the logits.
#[derive(Debug, Clone, Copy)]
pub struct Squash {
    /// Subspace logits: `anchor * tanh(u)` (1.5).
    pub anchor: f64,
    /// Position and op logits: `edit * tanh(u)` (1.5 / 2.5 = 0.6).
    pub edit: f64,
}

impl Controller {
    /// A controller with every weight drawn uniformly from `[-init_range, init_range)`.
    pub fn new<R: Rng + ?Sized>(
        shape: ControllerShape,
        init_range: f64,
        rng: &mut R,
        dev: &Device,
    ) -> Self {
        let h = shape.hidden;
        let d =
            |rng: &mut R, i: usize, o: usize, b: bool| Dense::new(rng, i, o, b, init_range, dev);
        let node_in = d(rng, shape.features, h, true);
        let edge_in = d(rng, shape.features, h, true);
        let sage = (0..2)
            .map(|_| SageLayer {
                p: d(rng, 3 * h, h, false),
                pool: d(rng, h, h, true),
                q: d(rng, 2 * h, h, false),
                w: d(rng, 3 * h, h, false),
            })
            .collect();
        let lstm = LstmCell {
            ih: d(rng, h, 4 * h, true),
            hh: d(rng, h, 4 * h, true),
        };
        let attn_emb = d(rng, h, h, false);
        let attn_hid = d(rng, h, h, false);
        let attn_v = d(rng, h, 1, false);
        let pos_head = d(rng, h, shape.positions, true);
        let op_head = d(rng, h, shape.choices, true);
        let anchor_emb = Table::new(rng, shape.anchors, h, init_range, dev);
        let pos_emb = Table::new(rng, shape.positions, h, init_range, dev);
        let op_emb = Table::new(rng, shape.choices, h, init_range, dev);
        Self {
            node_in,
            edge_in,
            sage,
            lstm,
            attn_emb,
            attn_hid,
            attn_v,
            pos_head,
            op_head,
            anchor_emb,
            pos_emb,
            op_emb,
        }
    }

    /// Encodes the candidate graph: the final node states `[K, hidden]`.
    pub fn encode<A: Clone>(&self, graph: &CandidateGraph<A>, dev: &Device) -> Tensor<2> {
        let k = graph.len();
        let f = graph.anchor(0).features.len();
        let nodes: Vec<f32> = graph
            .anchors()
            .iter()
            .flat_map(|a| a.features.iter().copied())
            .collect();
        let edges = graph.edges();
        let ne = edges.len();
        let mut edge_feats = Vec::with_capacity(ne * f);
        for &(s, t) in &edges {
            let (fs, ft) = (&graph.anchor(s).features, &graph.anchor(t).features);
            edge_feats.extend(ft.iter().zip(fs).map(|(a, b)| a - b));
        }
        // For every ordered pair (i, j), i != j: the edge id of i -> j and of j -> i, or the
        // zero row `ne` when that direction has no edge.
        let edge_id =
            |s: usize, t: usize| edges.iter().position(|&e| e == (s, t)).unwrap_or(ne) as i64;
        let (mut pi, mut po, mut pin) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..k {
            for j in 0..k {
                if i != j {
                    pi.push(i as i64);
                    po.push(edge_id(i, j));
                    pin.push(edge_id(j, i));
                }
            }
        }
        let ints = |v: Vec<i64>| {
            let n = v.len();
            Tensor::<1, Int>::from_data(TensorData::new(v, [n]), dev)
        };
        let (pi, po, pin) = (ints(pi), ints(po), ints(pin));
        let src = ints(edges.iter().map(|e| e.0 as i64).collect());
        let dst = ints(edges.iter().map(|e| e.1 as i64).collect());

        let mut h = self
            .node_in
            .forward(Tensor::from_data(TensorData::new(nodes, [k, f]), dev));
        let mut e = self
            .edge_in
            .forward(Tensor::from_data(TensorData::new(edge_feats, [ne, f]), dev));
        let hidden = h.dims()[1];
        for layer in &self.sage {
            let table = Tensor::cat(vec![e.clone(), Tensor::zeros([1, hidden], dev)], 0);
            let rows = Tensor::cat(
                vec![
                    h.clone().select(0, pi.clone()),
                    table.clone().select(0, po.clone()),
                    table.select(0, pin.clone()),
                ],
                1,
            );
            let m = relu(layer.pool.forward(relu(layer.p.forward(rows))));
            let m: Tensor<2> = m
                .reshape([k, k - 1, hidden])
                .mean_dim(1)
                .reshape([k, hidden]);
            let q = relu(layer.q.forward(Tensor::cat(vec![h, m], 1)));
            e = relu(layer.w.forward(Tensor::cat(
                vec![
                    e,
                    q.clone().select(0, src.clone()),
                    q.clone().select(0, dst.clone()),
                ],
                1,
            )));
            h = q;
        }
        h
    }

    /// Samples a subspace and `n_steps` edits; `choices_at(p)` is the number of options at
    /// position `p` (the op logits beyond it are ignored); `choose(probs)` picks each
    /// decision from its probabilities.
    pub fn decide<A: Clone>(
        &self,
        graph: &CandidateGraph<A>,
        n_steps: usize,
        choices_at: &dyn Fn(usize) -> usize,
        squash: Squash,
        choose: &mut dyn FnMut(&[f64]) -> usize,
        dev: &Device,
    ) -> Decision {
        let g = self.encode(graph, dev);
        let [k, hidden] = g.dims();
        let x = g.clone().mean_dim(0);
        let zeros = Tensor::<2>::zeros([1, hidden], dev);
        let (mut hx, mut cx) = self.lstm.step(x, zeros.clone(), zeros);
        let u = self
            .attn_v
            .forward((self.attn_emb.forward(g) + self.attn_hid.forward(hx.clone())).tanh());
        let logits = u.reshape([1, k]).tanh().mul_scalar(squash.anchor);
        let mut acc = Sampler::default();
        let anchor = acc.sample(logits, choose);
        let mut input = self.anchor_emb.row(anchor, dev);
        let mut edits = Vec::with_capacity(n_steps);
        for _ in 0..n_steps {
            (hx, cx) = self.lstm.step(input, hx, cx);
            let pos = acc.sample(
                self.pos_head
                    .forward(hx.clone())
                    .tanh()
                    .mul_scalar(squash.edit),
                choose,
            );
            input = self.pos_emb.row(pos, dev);
            (hx, cx) = self.lstm.step(input, hx, cx);
            let n = choices_at(pos);
            let op_logits = self.op_head.forward(hx.clone()).slice([0..1, 0..n]);
            let op = acc.sample(op_logits.tanh().mul_scalar(squash.edit), choose);
            input = self.op_emb.row(op, dev);
            edits.push((pos, op));
        }
        let (log_prob, entropy, entropy_value) = acc.finish();
        Decision {
            anchor,
            edits,
            log_prob,
            entropy,
            entropy_value,
        }
    }
}

/// Accumulates categorical decisions' log-probabilities and entropies.
#[derive(Default)]
struct Sampler {
    log_prob: Option<Tensor<1>>,
    entropy: Option<Tensor<1>>,
    entropy_value: f64,
}

impl Sampler {
    fn sample(&mut self, logits: Tensor<2>, choose: &mut dyn FnMut(&[f64]) -> usize) -> usize {
        let logp = log_softmax(logits, 1);
        let values: Vec<f32> = logp
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32 logits");
        let probs: Vec<f64> = values.iter().map(|&lp| (lp as f64).exp()).collect();
        self.entropy_value -= probs
            .iter()
            .zip(&values)
            .map(|(p, &lp)| p * lp as f64)
            .sum::<f64>();
        let choice = choose(&probs);
        let lp = logp.clone().slice([0..1, choice..choice + 1]).reshape([1]);
        let h = (logp.clone().exp() * logp).sum().neg().reshape([1]);
        self.log_prob = Some(match self.log_prob.take() {
            Some(s) => s + lp,
            None => lp,
        });
        self.entropy = Some(match self.entropy.take() {
            Some(s) => s + h,
            None => h,
        });
        choice
    }

    fn finish(self) -> (Tensor<1>, Tensor<1>, f64) {
        (
            self.log_prob.expect("at least one decision"),
            self.entropy.expect("at least one decision"),
            self.entropy_value,
        )
    }
}
