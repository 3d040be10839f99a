//! A hand-derived forward and backward pass of the DSM controller, in plain Rust.
//!
//! Same architecture, same parameter layout and initialisation order, same squashing and
//! loss as the Burn [`Controller`](crate::controller::Controller); about five times faster (0.54 vs 2.6 ms per step, `cargo bench -p dsm-nas --bench search`) on
//! these tiny tensors because it has no per-op dispatch or autodiff graph. The test suite
//! checks its log-probabilities, entropies and every parameter gradient against Burn's
//! autodiff, and its Adam against Burn's Adam.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::controller::ControllerShape;
use crate::graph::CandidateGraph;

/// A dense layer's place in the flat parameter vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Lin {
    w: usize,
    b: Option<usize>,
    din: usize,
    dout: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Sage {
    p: Lin,
    pool: Lin,
    q: Lin,
    w: Lin,
}

/// Offsets of every parameter tensor, in the Burn controller's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Layout {
    node_in: Lin,
    edge_in: Lin,
    sage: [Sage; 2],
    ih: Lin,
    hh: Lin,
    attn_emb: Lin,
    attn_hid: Lin,
    attn_v: Lin,
    pos_head: Lin,
    op_head: Lin,
    anchor_emb: usize,
    pos_emb: usize,
    op_emb: usize,
    len: usize,
}

impl Layout {
    fn new(s: &ControllerShape) -> Self {
        let h = s.hidden;
        let mut off = 0;
        let mut lin = |din: usize, dout: usize, bias: bool| {
            let w = off;
            off += din * dout;
            let b = bias.then(|| {
                let b = off;
                off += dout;
                b
            });
            Lin { w, b, din, dout }
        };
        let node_in = lin(s.features, h, true);
        let edge_in = lin(s.features, h, true);
        let mut sage_layer = || Sage {
            p: lin(3 * h, h, false),
            pool: lin(h, h, true),
            q: lin(2 * h, h, false),
            w: lin(3 * h, h, false),
        };
        let sage = [sage_layer(), sage_layer()];
        let ih = lin(h, 4 * h, true);
        let hh = lin(h, 4 * h, true);
        let attn_emb = lin(h, h, false);
        let attn_hid = lin(h, h, false);
        let attn_v = lin(h, 1, false);
        let pos_head = lin(h, s.positions, true);
        let op_head = lin(h, s.choices, true);
        let anchor_emb = off;
        off += s.anchors * h;
        let pos_emb = off;
        off += s.positions * h;
        let op_emb = off;
        off += s.choices * h;
        Self {
            node_in,
            edge_in,
            sage,
            ih,
            hh,
            attn_emb,
            attn_hid,
            attn_v,
            pos_head,
            op_head,
            anchor_emb,
            pos_emb,
            op_emb,
            len: off,
        }
    }
}

/// `y[r] = x[r] W (+ b)` for `rows` rows.
fn affine(p: &[f32], l: Lin, x: &[f32], rows: usize, y: &mut [f32]) {
    let w = &p[l.w..l.w + l.din * l.dout];
    for r in 0..rows {
        let yr = &mut y[r * l.dout..(r + 1) * l.dout];
        match l.b {
            Some(b) => yr.copy_from_slice(&p[b..b + l.dout]),
            None => yr.fill(0.0),
        }
        let xr = &x[r * l.din..(r + 1) * l.din];
        for (i, &xi) in xr.iter().enumerate() {
            if xi != 0.0 {
                let wi = &w[i * l.dout..(i + 1) * l.dout];
                for (yo, &wo) in yr.iter_mut().zip(wi) {
                    *yo += xi * wo;
                }
            }
        }
    }
}

/// Dot product with eight independent partial sums (so that it vectorises).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Backward of [`affine`]: accumulates `dW`, `db` and (if given) `dx`.
fn affine_back(
    p: &[f32],
    g: &mut [f32],
    l: Lin,
    x: &[f32],
    rows: usize,
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
) {
    for r in 0..rows {
        let dyr = &dy[r * l.dout..(r + 1) * l.dout];
        let xr = &x[r * l.din..(r + 1) * l.din];
        if let Some(b) = l.b {
            for (gb, &d) in g[b..b + l.dout].iter_mut().zip(dyr) {
                *gb += d;
            }
        }
        for (i, &xi) in xr.iter().enumerate() {
            let wi = &p[l.w + i * l.dout..l.w + (i + 1) * l.dout];
            if let Some(dx) = dx.as_deref_mut() {
                dx[r * l.din + i] += dot(wi, dyr);
            }
            if xi != 0.0 {
                let gi = &mut g[l.w + i * l.dout..l.w + (i + 1) * l.dout];
                for (gw, &d) in gi.iter_mut().zip(dyr) {
                    *gw += xi * d;
                }
            }
        }
    }
}

fn relu_inplace(v: &mut [f32]) {
    for x in v {
        *x = x.max(0.0);
    }
}

fn relu_mask(dy: &mut [f32], y: &[f32]) {
    for (d, &v) in dy.iter_mut().zip(y) {
        if v <= 0.0 {
            *d = 0.0;
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

struct LayerCache {
    z: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    hm: Vec<f32>,
    q: Vec<f32>,
    ecat: Vec<f32>,
    e_out: Vec<f32>,
}

struct LstmCache {
    x: Vec<f32>,
    h_prev: Vec<f32>,
    c_prev: Vec<f32>,
    gates: Vec<f32>,
    tanh_c: Vec<f32>,
}

/// One sampled decision: the chosen index, its probabilities and squashed-logit inputs.
struct DecisionCache {
    choice: usize,
    probs: Vec<f64>,
    /// Pre-squash activations `u` (logit = c * tanh(u)).
    u: Vec<f32>,
    squash: f32,
}

/// A controller forward pass, kept for the backward pass.
pub(crate) struct Rollout {
    /// The chosen anchor.
    pub anchor: usize,
    /// `(position, choice)` edits.
    pub edits: Vec<(usize, usize)>,
    /// Sum of log-probabilities of all decisions.
    pub log_prob: f64,
    /// Sum of entropies of all decisions.
    pub entropy: f64,
    k: usize,
    ne: usize,
    x: Vec<f32>,
    ef: Vec<f32>,
    pairs: Vec<(usize, usize, usize)>,
    edges: Vec<(usize, usize)>,
    layers: Vec<LayerCache>,
    g: Vec<f32>,
    lstm: Vec<LstmCache>,
    h1: Vec<f32>,
    attn_s: Vec<f32>,
    decisions: Vec<DecisionCache>,
}

/// Adam state (Burn's Adam: L2 weight decay added to the gradient, bias-corrected moments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

/// The DSM controller with hand-written gradients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NativeController {
    shape_positions: usize,
    hidden: usize,
    layout: Layout,
    /// All parameters, flat, in [`Layout`] order.
    pub params: Vec<f32>,
    adam: Adam,
}

/// Samples from `probs` with one uniform draw (the same rule as the Burn controller).
pub(crate) fn pick(probs: &[f64], u: f64) -> usize {
    let mut cum = 0.0;
    for (i, p) in probs.iter().enumerate() {
        cum += p;
        if u < cum {
            return i;
        }
    }
    probs.len() - 1
}

/// Gradient magnitude below which Adam treats the gradient as zero: `(1 - beta2) * g^2` then
/// never drops below `1e-37`, out of the subnormal range. Weight decay drives the parameters
/// of never-chosen options towards zero, their gradients `wd * theta` follow, and after about
/// a thousand steps `g * g` and the moments went subnormal, where x86 arithmetic takes a
/// microcode assist: measured 0.77 ms per step over a 200-step search but 5.9 ms per step
/// averaged over 3,000, almost all of it in this loop. Such a gradient moves a parameter by
/// less than `lr * 1e-9` per step, so flushing it changes nothing measurable; the
/// 200-iteration protocol's results are bit-identical with and without the flush.
const TINY_GRAD: f32 = 1e-17;
/// Moment magnitude below which Adam's moments are flushed to zero (see [`TINY_GRAD`]).
const TINY_MOMENT: f32 = 1e-30;

impl NativeController {
    /// Draws the parameters in the Burn controller's order from `rng`.
    pub fn new<R: Rng + ?Sized>(shape: ControllerShape, init_range: f64, rng: &mut R) -> Self {
        let layout = Layout::new(&shape);
        let params = (0..layout.len)
            .map(|_| rng.random_range(-init_range..init_range) as f32)
            .collect();
        Self {
            shape_positions: shape.positions,
            hidden: shape.hidden,
            adam: Adam {
                m: vec![0.0; layout.len],
                v: vec![0.0; layout.len],
                t: 0,
            },
            layout,
            params,
        }
    }

    fn lstm_step(
        &self,
        x: &[f32],
        h: &[f32],
        c: &[f32],
        cache: &mut Vec<LstmCache>,
    ) -> (Vec<f32>, Vec<f32>) {
        let hd = self.hidden;
        let l = &self.layout;
        let mut gates = vec![0.0; 4 * hd];
        let mut tmp = vec![0.0; 4 * hd];
        affine(&self.params, l.ih, x, 1, &mut gates);
        affine(&self.params, l.hh, h, 1, &mut tmp);
        for (g, t) in gates.iter_mut().zip(&tmp) {
            *g += t;
        }
        for j in 0..hd {
            gates[j] = sigmoid(gates[j]);
            gates[hd + j] = sigmoid(gates[hd + j]);
            gates[2 * hd + j] = gates[2 * hd + j].tanh();
            gates[3 * hd + j] = sigmoid(gates[3 * hd + j]);
        }
        let mut c2 = vec![0.0; hd];
        let mut tanh_c = vec![0.0; hd];
        let mut h2 = vec![0.0; hd];
        for j in 0..hd {
            c2[j] = gates[hd + j] * c[j] + gates[j] * gates[2 * hd + j];
            tanh_c[j] = c2[j].tanh();
            h2[j] = gates[3 * hd + j] * tanh_c[j];
        }
        cache.push(LstmCache {
            x: x.to_vec(),
            h_prev: h.to_vec(),
            c_prev: c.to_vec(),
            gates,
            tanh_c,
        });
        (h2, c2)
    }

    /// Runs the controller; `choose(probs)` picks each decision.
    pub fn rollout<A: Clone>(
        &self,
        graph: &CandidateGraph<A>,
        n_steps: usize,
        choices_at: &dyn Fn(usize) -> usize,
        squash: (f64, f64),
        choose: &mut dyn FnMut(&[f64]) -> usize,
    ) -> Rollout {
        let hd = self.hidden;
        let l = &self.layout;
        let p = &self.params;
        let k = graph.len();
        let f = graph.anchor(0).features.len();
        let x: Vec<f32> = graph
            .anchors()
            .iter()
            .flat_map(|a| a.features.iter().copied())
            .collect();
        let edges = graph.edges();
        let ne = edges.len();
        let mut ef = Vec::with_capacity(ne * f);
        for &(s, t) in &edges {
            let (fs, ft) = (&graph.anchor(s).features, &graph.anchor(t).features);
            ef.extend(ft.iter().zip(fs).map(|(a, b)| a - b));
        }
        let edge_id = |s: usize, t: usize| edges.iter().position(|&e| e == (s, t)).unwrap_or(ne);
        let mut pairs = Vec::with_capacity(k * (k - 1));
        for i in 0..k {
            for j in 0..k {
                if i != j {
                    pairs.push((i, edge_id(i, j), edge_id(j, i)));
                }
            }
        }
        let r = pairs.len();
        let mut h = vec![0.0; k * hd];
        affine(p, l.node_in, &x, k, &mut h);
        let mut e = vec![0.0; ne * hd];
        affine(p, l.edge_in, &ef, ne, &mut e);
        let mut layers = Vec::with_capacity(2);
        for (li, sl) in l.sage.iter().enumerate() {
            let mut z = vec![0.0; r * 3 * hd];
            for (ri, &(i, o, inn)) in pairs.iter().enumerate() {
                let row = &mut z[ri * 3 * hd..(ri + 1) * 3 * hd];
                row[..hd].copy_from_slice(&h[i * hd..(i + 1) * hd]);
                if o < ne {
                    row[hd..2 * hd].copy_from_slice(&e[o * hd..(o + 1) * hd]);
                }
                if inn < ne {
                    row[2 * hd..].copy_from_slice(&e[inn * hd..(inn + 1) * hd]);
                }
            }
            let mut a = vec![0.0; r * hd];
            affine(p, sl.p, &z, r, &mut a);
            relu_inplace(&mut a);
            let mut b = vec![0.0; r * hd];
            affine(p, sl.pool, &a, r, &mut b);
            relu_inplace(&mut b);
            let mut hm = vec![0.0; k * 2 * hd];
            for i in 0..k {
                hm[i * 2 * hd..i * 2 * hd + hd].copy_from_slice(&h[i * hd..(i + 1) * hd]);
                for ri in i * (k - 1)..(i + 1) * (k - 1) {
                    for j in 0..hd {
                        hm[i * 2 * hd + hd + j] += b[ri * hd + j] / (k - 1) as f32;
                    }
                }
            }
            let mut q = vec![0.0; k * hd];
            affine(p, sl.q, &hm, k, &mut q);
            relu_inplace(&mut q);
            // The last layer's edge states are never used (as in the reference).
            let (ecat, e_out) = if li + 1 < l.sage.len() {
                let mut ecat = vec![0.0; ne * 3 * hd];
                for (s, &(src, dst)) in edges.iter().enumerate() {
                    let row = &mut ecat[s * 3 * hd..(s + 1) * 3 * hd];
                    row[..hd].copy_from_slice(&e[s * hd..(s + 1) * hd]);
                    row[hd..2 * hd].copy_from_slice(&q[src * hd..(src + 1) * hd]);
                    row[2 * hd..].copy_from_slice(&q[dst * hd..(dst + 1) * hd]);
                }
                let mut e_out = vec![0.0; ne * hd];
                affine(p, sl.w, &ecat, ne, &mut e_out);
                relu_inplace(&mut e_out);
                (ecat, e_out)
            } else {
                (Vec::new(), Vec::new())
            };
            h = q.clone();
            e = e_out.clone();
            layers.push(LayerCache {
                z,
                a,
                b,
                hm,
                q,
                ecat,
                e_out,
            });
        }
        let g = h;

        let mut lstm = Vec::with_capacity(1 + 2 * n_steps);
        let mut mean = vec![0.0; hd];
        for i in 0..k {
            for j in 0..hd {
                mean[j] += g[i * hd + j] / k as f32;
            }
        }
        let zeros = vec![0.0; hd];
        let (mut hx, mut cx) = self.lstm_step(&mean, &zeros, &zeros, &mut lstm);
        let h1 = hx.clone();
        // Attention over the anchors.
        let mut se = vec![0.0; k * hd];
        affine(p, l.attn_emb, &g, k, &mut se);
        let mut sh = vec![0.0; hd];
        affine(p, l.attn_hid, &hx, 1, &mut sh);
        let mut attn_s = vec![0.0; k * hd];
        let mut u = vec![0.0; k];
        for i in 0..k {
            for j in 0..hd {
                let t = (se[i * hd + j] + sh[j]).tanh();
                attn_s[i * hd + j] = t;
                u[i] += t * p[l.attn_v.w + j];
            }
        }
        let mut decisions = Vec::with_capacity(1 + 2 * n_steps);
        let mut decide = |u: Vec<f32>, c: f64, decisions: &mut Vec<DecisionCache>| {
            let logits: Vec<f64> = u.iter().map(|&x| c * (x as f64).tanh()).collect();
            let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
            let probs: Vec<f64> = logits.iter().map(|l| (l - lse).exp()).collect();
            let choice = choose(&probs);
            decisions.push(DecisionCache {
                choice,
                probs,
                u,
                squash: c as f32,
            });
            choice
        };
        let anchor = decide(u, squash.0, &mut decisions);
        let mut input = p[l.anchor_emb + anchor * hd..l.anchor_emb + (anchor + 1) * hd].to_vec();
        let mut edits = Vec::with_capacity(n_steps);
        for _ in 0..n_steps {
            (hx, cx) = self.lstm_step(&input, &hx, &cx, &mut lstm);
            let mut up = vec![0.0; self.shape_positions];
            affine(p, l.pos_head, &hx, 1, &mut up);
            let pos = decide(up, squash.1, &mut decisions);
            input = p[l.pos_emb + pos * hd..l.pos_emb + (pos + 1) * hd].to_vec();
            (hx, cx) = self.lstm_step(&input, &hx, &cx, &mut lstm);
            let mut uo = vec![0.0; l.op_head.dout];
            affine(p, l.op_head, &hx, 1, &mut uo);
            uo.truncate(choices_at(pos));
            let op = decide(uo, squash.1, &mut decisions);
            input = p[l.op_emb + op * hd..l.op_emb + (op + 1) * hd].to_vec();
            edits.push((pos, op));
        }
        let log_prob = decisions.iter().map(|d| d.probs[d.choice].ln()).sum();
        let entropy = decisions
            .iter()
            .map(|d| {
                -d.probs
                    .iter()
                    .filter(|&&q| q > 0.0)
                    .map(|q| q * q.ln())
                    .sum::<f64>()
            })
            .sum();
        Rollout {
            anchor,
            edits,
            log_prob,
            entropy,
            k,
            ne,
            x,
            ef,
            pairs,
            edges,
            layers,
            g,
            lstm,
            h1,
            attn_s,
            decisions,
        }
    }

    /// Gradient of `loss = -reward * log_prob - entropy_coeff * entropy` for every parameter,
    /// plus a mask of the parameters that take part in the loss (Burn gives no gradient to
    /// the others, so Adam leaves them alone).
    pub fn gradient(&self, ro: &Rollout, reward: f64, entropy_coeff: f64) -> (Vec<f32>, Vec<bool>) {
        let hd = self.hidden;
        let l = &self.layout;
        let p = &self.params;
        let mut gr = vec![0.0f32; l.len];
        let (k, ne) = (ro.k, ro.ne);
        // dL/du of every decision.
        let du: Vec<Vec<f32>> = ro
            .decisions
            .iter()
            .map(|d| {
                let ent: f64 = -d
                    .probs
                    .iter()
                    .filter(|&&q| q > 0.0)
                    .map(|q| q * q.ln())
                    .sum::<f64>();
                d.probs
                    .iter()
                    .enumerate()
                    .zip(&d.u)
                    .map(|((j, &pj), &u)| {
                        let onehot = if j == d.choice { 1.0 } else { 0.0 };
                        let logp = if pj > 0.0 { pj.ln() } else { 0.0 };
                        let dl = -reward * (onehot - pj) + entropy_coeff * pj * (logp + ent);
                        let t = u.tanh();
                        (dl as f32) * d.squash * (1.0 - t * t)
                    })
                    .collect()
            })
            .collect();

        // Heads and LSTM, backwards in time. Decision t reads the LSTM output of step t.
        let steps = ro.lstm.len();
        let mut dh_next = vec![0.0f32; hd];
        let mut dc_next = vec![0.0f32; hd];
        let mut dg = vec![0.0f32; k * hd];
        for t in (0..steps).rev() {
            let cache = &ro.lstm[t];
            let h_t: Vec<f32> = (0..hd)
                .map(|j| cache.gates[3 * hd + j] * cache.tanh_c[j])
                .collect();
            let mut dh = dh_next.clone();
            if t == 0 {
                // Attention: u_i = v . tanh(g_i A + h1 B).
                let mut ds_sum = vec![0.0f32; hd];
                for i in 0..k {
                    let dui = du[0][i];
                    let mut ds = vec![0.0f32; hd];
                    for j in 0..hd {
                        let s = ro.attn_s[i * hd + j];
                        gr[l.attn_v.w + j] += dui * s;
                        ds[j] = dui * p[l.attn_v.w + j] * (1.0 - s * s);
                        ds_sum[j] += ds[j];
                    }
                    affine_back(
                        p,
                        &mut gr,
                        l.attn_emb,
                        &ro.g[i * hd..(i + 1) * hd],
                        1,
                        &ds,
                        Some(&mut dg[i * hd..(i + 1) * hd]),
                    );
                }
                affine_back(p, &mut gr, l.attn_hid, &ro.h1, 1, &ds_sum, Some(&mut dh));
            } else {
                let head = if t % 2 == 1 { l.pos_head } else { l.op_head };
                let d = &du[t];
                let mut dfull = vec![0.0f32; head.dout];
                dfull[..d.len()].copy_from_slice(d);
                affine_back(p, &mut gr, head, &h_t, 1, &dfull, Some(&mut dh));
            }
            // LSTM cell backward.
            let gts = &cache.gates;
            let mut dgates = vec![0.0f32; 4 * hd];
            let mut dc_prev = vec![0.0f32; hd];
            for j in 0..hd {
                let (i_, f_, g_, o_) = (gts[j], gts[hd + j], gts[2 * hd + j], gts[3 * hd + j]);
                let tc = cache.tanh_c[j];
                let d_o = dh[j] * tc;
                let dc = dc_next[j] + dh[j] * o_ * (1.0 - tc * tc);
                dgates[j] = dc * g_ * i_ * (1.0 - i_);
                dgates[hd + j] = dc * cache.c_prev[j] * f_ * (1.0 - f_);
                dgates[2 * hd + j] = dc * i_ * (1.0 - g_ * g_);
                dgates[3 * hd + j] = d_o * o_ * (1.0 - o_);
                dc_prev[j] = dc * f_;
            }
            let mut dx = vec![0.0f32; hd];
            let mut dh_prev = vec![0.0f32; hd];
            affine_back(p, &mut gr, l.ih, &cache.x, 1, &dgates, Some(&mut dx));
            affine_back(
                p,
                &mut gr,
                l.hh,
                &cache.h_prev,
                1,
                &dgates,
                Some(&mut dh_prev),
            );
            dh_next = dh_prev;
            dc_next = dc_prev;
            if t == 0 {
                for i in 0..k {
                    for j in 0..hd {
                        dg[i * hd + j] += dx[j] / k as f32;
                    }
                }
            } else {
                // The input of step t is the embedding of decision t - 1.
                let prev = ro.decisions[t - 1].choice;
                let table = if t == 1 {
                    l.anchor_emb
                } else if t % 2 == 0 {
                    l.pos_emb
                } else {
                    l.op_emb
                };
                for j in 0..hd {
                    gr[table + prev * hd + j] += dx[j];
                }
            }
        }

        // GraphSAGE layers, backwards.
        let r = ro.pairs.len();
        let mut dq = dg;
        let mut de_out: Option<Vec<f32>> = None;
        let mut dh_in = vec![0.0f32; k * hd];
        let mut de_in = vec![0.0f32; ne * hd];
        for li in (0..l.sage.len()).rev() {
            let sl = l.sage[li];
            let c = &ro.layers[li];
            if let Some(mut de) = de_out.take() {
                relu_mask(&mut de, &c.e_out);
                let mut decat = vec![0.0f32; ne * 3 * hd];
                affine_back(p, &mut gr, sl.w, &c.ecat, ne, &de, Some(&mut decat));
                for (s, &(src, dst)) in ro.edges.iter().enumerate() {
                    for j in 0..hd {
                        de_in[s * hd + j] += decat[s * 3 * hd + j];
                        dq[src * hd + j] += decat[s * 3 * hd + hd + j];
                        dq[dst * hd + j] += decat[s * 3 * hd + 2 * hd + j];
                    }
                }
            }
            relu_mask(&mut dq, &c.q);
            let mut dhm = vec![0.0f32; k * 2 * hd];
            affine_back(p, &mut gr, sl.q, &c.hm, k, &dq, Some(&mut dhm));
            let mut db = vec![0.0f32; r * hd];
            for i in 0..k {
                for j in 0..hd {
                    dh_in[i * hd + j] += dhm[i * 2 * hd + j];
                }
                for ri in i * (k - 1)..(i + 1) * (k - 1) {
                    for j in 0..hd {
                        db[ri * hd + j] = dhm[i * 2 * hd + hd + j] / (k - 1) as f32;
                    }
                }
            }
            relu_mask(&mut db, &c.b);
            let mut da = vec![0.0f32; r * hd];
            affine_back(p, &mut gr, sl.pool, &c.a, r, &db, Some(&mut da));
            relu_mask(&mut da, &c.a);
            let mut dz = vec![0.0f32; r * 3 * hd];
            affine_back(p, &mut gr, sl.p, &c.z, r, &da, Some(&mut dz));
            for (ri, &(i, o, inn)) in ro.pairs.iter().enumerate() {
                for j in 0..hd {
                    dh_in[i * hd + j] += dz[ri * 3 * hd + j];
                    if o < ne {
                        de_in[o * hd + j] += dz[ri * 3 * hd + hd + j];
                    }
                    if inn < ne {
                        de_in[inn * hd + j] += dz[ri * 3 * hd + 2 * hd + j];
                    }
                }
            }
            dq = std::mem::replace(&mut dh_in, vec![0.0f32; k * hd]);
            de_out = Some(std::mem::replace(&mut de_in, vec![0.0f32; ne * hd]));
        }
        affine_back(p, &mut gr, l.node_in, &ro.x, k, &dq, None);
        affine_back(
            p,
            &mut gr,
            l.edge_in,
            &ro.ef,
            ne,
            &de_out.expect("at least one layer"),
            None,
        );

        let mut mask = vec![true; l.len];
        let last_w = l.sage[l.sage.len() - 1].w;
        mask[last_w.w..last_w.w + last_w.din * last_w.dout].fill(false);
        (gr, mask)
    }

    /// One Adam step (Burn's: `g + wd * theta`, bias-corrected moments, `eps` outside the
    /// square root); parameters outside `mask` (those without a gradient) are left alone.
    /// Gradients below `TINY_GRAD` and moments below `TINY_MOMENT` are flushed to zero.
    pub fn adam_step(&mut self, grad: &[f32], mask: &[bool], lr: f64, weight_decay: f64, eps: f64) {
        let (b1, b2) = (0.9f32, 0.999f32);
        self.adam.t += 1;
        let t = self.adam.t;
        let c1 = 1.0 - b1.powi(t);
        let c2 = 1.0 - b2.powi(t);
        let (lr, wd, eps) = (lr as f32, weight_decay as f32, eps as f32);
        let mut start = 0;
        while start < mask.len() {
            // Contiguous runs of equal mask values.
            let on = mask[start];
            let end = mask[start..]
                .iter()
                .position(|&m| m != on)
                .map_or(mask.len(), |n| start + n);
            if on {
                let p = &mut self.params[start..end];
                let m = &mut self.adam.m[start..end];
                let v = &mut self.adam.v[start..end];
                for (((p, &g), m), v) in p
                    .iter_mut()
                    .zip(&grad[start..end])
                    .zip(m.iter_mut())
                    .zip(v.iter_mut())
                {
                    let g = g + wd * *p;
                    // Flush what would otherwise become subnormal (see `TINY_GRAD`).
                    let g = if g.abs() < TINY_GRAD { 0.0 } else { g };
                    *m = b1 * *m + (1.0 - b1) * g;
                    if m.abs() < TINY_MOMENT {
                        *m = 0.0;
                    }
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    if *v < TINY_MOMENT {
                        *v = 0.0;
                    }
                    *p -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
                }
            }
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Weight decay alone (a never-chosen option's parameters) for as many steps as a long
    /// search makes: no parameter or moment may become subnormal (the slow path of x86
    /// arithmetic that made long searches several times slower per step).
    #[test]
    fn long_runs_of_weight_decay_alone_never_go_subnormal() {
        let shape = ControllerShape {
            features: 7,
            anchors: 3,
            positions: 6,
            choices: 5,
            hidden: 8,
        };
        let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
        let mut c = NativeController::new(shape, 0.1, &mut rng);
        let zero = vec![0.0f32; c.params.len()];
        let mask = vec![true; c.params.len()];
        let normal_or_zero = |x: &f32| *x == 0.0 || x.is_normal();
        for step in 0..3000 {
            c.adam_step(
                &zero,
                &mask,
                0.009446763714621489,
                2.3740059139364297e-5,
                1e-8,
            );
            let bad = c
                .params
                .iter()
                .chain(&c.adam.m)
                .chain(&c.adam.v)
                .filter(|x| !normal_or_zero(x))
                .count();
            assert_eq!(bad, 0, "{bad} subnormal values after step {step}");
        }
    }
}
