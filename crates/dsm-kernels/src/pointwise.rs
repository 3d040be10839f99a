//! The pointwise (1x1) convolution of inference, `y = act(W x + b) (+ r)`, for the
//! MobileNet blocks on plain `flex`.
//!
//! Each image is cut into tiles (output channels x pixels), and every tile is one
//! single-threaded gemm on rayon's threads, followed by the bias, the activation and the
//! residual addition while the tile is still in cache. Flex's own 1x1 path computes the same
//! products but runs its zero-fill, its gemm's packing of the input and its bias and
//! activation passes on the calling thread while the workers wait: at batch 1 that serial
//! share was about 40 % of dsm_nas inference (`perf`, 2 threads).
//!
//! A per-image, per-input-channel scale (squeeze-and-excite) is folded into each tile's
//! copy of the weights (`W diag(s)`, rows x input channels values, scaled while the tile is
//! being set up) rather than applied to the activations in a pass of its own. Over all
//! tiles that is `cout x cin` multiplications per image against `cin x pixels`: fewer in
//! the early blocks, more in the last ones (7 x 7 planes).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use rayon::prelude::*;
use std::mem::MaybeUninit;

use crate::conv_grad::{ConvShape, gemm_raw, im2col};
use crate::kernels::{Act, ConvParams, contiguous, flex_primitive, flex_tensor, square_geometry};
use crate::simd::vectorised;

/// `act(conv(x))` for a dense convolution (one group, square kernel and stride, symmetric
/// padding, no dilation) with `x` and the parameters on plain `flex`: a 1x1 stride-1
/// convolution is `pointwise` on the input itself, any other one `pointwise` on each
/// image's im2col columns (laid out in parallel, one input channel per task). `None` when
/// any of that does not hold.
pub fn dense_conv2d(conv: &Conv2d, x: &Tensor<4>, act: Act) -> Option<Tensor<4>> {
    let [n, cin, h, w] = x.dims();
    let [cout, wcin, _, _] = conv.weight.dims();
    let (k, stride, pad) = square_geometry(conv, h, w)?;
    if conv.groups != 1 || wcin != cin || cin * h * w == 0 {
        return None;
    }
    let xp = flex_primitive(x)?;
    let params = ConvParams::of(conv)?;
    let (weight, bias) = (params.weight(), params.bias());
    let x = contiguous(&xp);
    let layer = Pointwise {
        weight: &weight,
        transposed: false,
        bias: bias.as_deref(),
        cout,
        cin: cin * k * k,
    };
    let c = ConvShape {
        n: 1,
        cin: 1,
        cout,
        h,
        w,
        k,
        stride,
        pad,
    };
    let (oh, ow) = (c.oh(), c.ow());
    if (k, stride, pad) == (1, 1, 0) {
        let y = pointwise(&x, n, h * w, &layer, act, None, None);
        return Some(flex_tensor(y, [n, cout, oh, ow]));
    }
    let p = c.pixels();
    let mut columns = vec![0f32; cin * c.rows() * p];
    let len = n * cout * p;
    let mut y = Vec::with_capacity(len);
    let images = x.chunks_exact(cin * h * w);
    for (image, out) in images.zip(y.spare_capacity_mut()[..len].chunks_exact_mut(cout * p)) {
        columns
            .par_chunks_mut(c.rows() * p)
            .zip(image.par_chunks_exact(h * w))
            .for_each(|(col, plane)| im2col(plane, &c, col, false));
        pointwise_into(&columns, 1, p, &layer, act, None, None, out);
    }
    // SAFETY: `pointwise_into` wrote every element of each image's output.
    unsafe { y.set_len(len) };
    Some(flex_tensor(y, [n, cout, oh, ow]))
}

/// A 1x1 convolution's (or a linear layer's) parameters: `weight` `[cout, cin]` row-major
/// (`[cin, cout]` when `transposed`, as Burn's `Linear` stores it), `bias` `[cout]`.
pub struct Pointwise<'a> {
    /// The weights, `[cout, cin]` row-major, or `[cin, cout]` when `transposed`.
    pub weight: &'a [f32],
    /// Whether `weight` is stored `[cin, cout]` (Burn's `Linear`).
    pub transposed: bool,
    /// The bias, `[cout]`.
    pub bias: Option<&'a [f32]>,
    /// Output channels.
    pub cout: usize,
    /// Input channels.
    pub cin: usize,
}

/// A 1x1 convolution (stride 1, no padding, one group) whose parameters live on plain
/// `flex`, ready for [`pointwise`].
pub struct PointwiseConv {
    params: ConvParams,
    cout: usize,
    cin: usize,
}

impl PointwiseConv {
    /// `conv` if it is such a convolution taking `cin` channels.
    pub fn of(conv: &Conv2d, cin: usize) -> Option<Self> {
        let [cout, wcin, kh, kw] = conv.weight.dims();
        let unpadded = matches!(
            conv.padding,
            PaddingConfig2d::Explicit(0, 0, 0, 0) | PaddingConfig2d::Valid
        );
        let fits = (kh, kw, wcin) == (1, 1, cin) && conv.stride == [1, 1] && conv.groups == 1;
        if !(fits && unpadded) {
            return None;
        }
        Some(Self {
            params: ConvParams::of(conv)?,
            cout,
            cin,
        })
    }

    /// Output channels.
    pub fn cout(&self) -> usize {
        self.cout
    }

    /// [`pointwise`] with this convolution.
    pub fn run(
        &self,
        x: &[f32],
        n: usize,
        p: usize,
        act: Act,
        scale: Option<&[f32]>,
        residual: Option<&[f32]>,
    ) -> Vec<f32> {
        let (weight, bias) = (self.params.weight(), self.params.bias());
        let layer = Pointwise {
            weight: &weight,
            transposed: false,
            bias: bias.as_deref(),
            cout: self.cout,
            cin: self.cin,
        };
        pointwise(x, n, p, &layer, act, scale, residual)
    }
}

/// Where the output lives while the tiles (disjoint by construction) are written.
struct Output(*mut f32);
// SAFETY: the tiles written through the pointer never overlap, and the buffer outlives
// the parallel loop that writes it.
unsafe impl Sync for Output {}
// SAFETY: as for `Sync`: each worker writes its own tiles, and the buffer outlives them.
unsafe impl Send for Output {}

impl Output {
    /// The element at `offset` (a method, so that closures capture the whole `Sync` value,
    /// not its raw pointer field).
    fn at(&self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// One tile: image, output channels `rows`, pixels `cols`.
struct Tile {
    image: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
}

/// The tiles of `n` images of `cout x p` outputs: enough of them to keep every thread busy,
/// none so small that the gemm's packing dominates. Pixel blocks are whole multiples of
/// 64 (the width of gemm's AVX-512 micro-kernel along them), channel blocks multiples of 8.
fn tiles(n: usize, cout: usize, p: usize, threads: usize) -> Vec<Tile> {
    let per_image = (4 * threads).div_ceil(n.max(1));
    let col_pieces = per_image.min(p.div_ceil(256)).max(1);
    let cb = p.div_ceil(col_pieces).next_multiple_of(64).min(p).max(1);
    let col_pieces = p.div_ceil(cb);
    let row_pieces = per_image.div_ceil(col_pieces).min(cout.div_ceil(32)).max(1);
    let rb = cout
        .div_ceil(row_pieces)
        .next_multiple_of(8)
        .min(cout)
        .max(1);
    let mut out = Vec::new();
    for image in 0..n {
        for r0 in (0..cout).step_by(rb) {
            for c0 in (0..p).step_by(cb) {
                out.push(Tile {
                    image,
                    rows: r0..(r0 + rb).min(cout),
                    cols: c0..(c0 + cb).min(p),
                });
            }
        }
    }
    out
}

thread_local! {
    /// Each thread's copy of the weights scaled per input channel.
    static SCALED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `act(W (s_i * x_i) + b) + r_i` for each image `i` of `x` (`[n, cin, p]`), with the
/// optional per-image input-channel scale `s` (`[n, cin]`) and residual `r` (`[n, cout,
/// p]`); `[n, cout, p]`.
///
/// # Panics
/// If a slice is shorter than its shape says (the callers build them from the tensors'
/// dimensions).
pub fn pointwise(
    x: &[f32],
    n: usize,
    p: usize,
    conv: &Pointwise<'_>,
    act: Act,
    scale: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Vec<f32> {
    let len = n * conv.cout * p;
    let mut y = Vec::with_capacity(len);
    pointwise_into(x, n, p, conv, act, scale, residual, y.spare_capacity_mut());
    // SAFETY: `pointwise_into` wrote all `len` elements.
    unsafe { y.set_len(len) };
    y
}

/// [`pointwise`] into `y` (at least `[n, cout, p]`), every element of which it writes.
#[allow(clippy::too_many_arguments)]
pub fn pointwise_into(
    x: &[f32],
    n: usize,
    p: usize,
    conv: &Pointwise<'_>,
    act: Act,
    scale: Option<&[f32]>,
    residual: Option<&[f32]>,
    y: &mut [MaybeUninit<f32>],
) {
    let (cout, cin) = (conv.cout, conv.cin);
    assert!(
        conv.weight.len() >= cout * cin,
        "pointwise: weight too short"
    );
    assert!(x.len() >= n * cin * p, "pointwise: input too short");
    assert!(conv.bias.is_none_or(|b| b.len() >= cout));
    assert!(scale.is_none_or(|s| s.len() >= n * cin && !conv.transposed));
    assert!(residual.is_none_or(|r| r.len() >= n * cout * p));
    assert!(y.len() >= n * cout * p, "pointwise: output too short");
    let out = Output(y.as_mut_ptr().cast::<f32>());
    tiles(n, cout, p, rayon::current_num_threads())
        .par_iter()
        .for_each(|t| {
            SCALED.with_borrow_mut(|scaled| {
                let rows = t.rows.len();
                // The tile's weights: from its first row, with their row and column strides.
                let (weight, w_rs, w_cs) = match (scale, conv.transposed) {
                    (_, true) => (&conv.weight[t.rows.start..], 1, cout),
                    (None, false) => (&conv.weight[t.rows.start * cin..], cin, 1),
                    (Some(s), false) => {
                        scaled.clear();
                        scaled.resize(rows * cin, 0.0);
                        let weight = &conv.weight[t.rows.start * cin..t.rows.end * cin];
                        scale_columns(weight, &s[t.image * cin..(t.image + 1) * cin], scaled);
                        (&scaled[..], cin, 1)
                    }
                };
                let first = t.image * cout * p + t.rows.start * p + t.cols.start;
                // SAFETY: the asserts above keep the gemm's reads inside `weight` and `x`
                // (`rows x cin` with strides `(w_rs, w_cs)` from the tile's first row, and
                // `cin x cols` with row stride `p`) and its writes inside `y` (`rows x cols`
                // from `first` with row stride `p`, inside image `image`); tiles never
                // overlap, so no two threads write the same element, and nothing reads an
                // element before its gemm wrote it.
                unsafe {
                    let dst = out.at(first);
                    gemm_raw(
                        (rows, t.cols.len(), cin),
                        (dst, p),
                        false,
                        (weight.as_ptr(), w_rs, w_cs),
                        (x.as_ptr().add(t.image * cin * p + t.cols.start), p, 1),
                    );
                    for (i, r) in t.rows.clone().enumerate() {
                        let row = std::slice::from_raw_parts_mut(dst.add(i * p), t.cols.len());
                        let at = t.image * cout * p + r * p + t.cols.start;
                        finish_row(
                            row,
                            conv.bias.map_or(0.0, |b| b[r]),
                            act,
                            residual.map(|res| &res[at..at + t.cols.len()]),
                        );
                    }
                }
            })
        });
}

vectorised! {
    /// `scaled[r][c] = weight[r][c] * scale[c]` for every row of `weight`.
    fn scale_columns(weight: &[f32], scale: &[f32], scaled: &mut [f32]) {
        for (src, dst) in weight.chunks_exact(scale.len()).zip(scaled.chunks_exact_mut(scale.len())) {
            for ((d, w), s) in dst.iter_mut().zip(src).zip(scale) {
                *d = w * s;
            }
        }
    }
}

vectorised! {
    /// `row = act(row + bias) (+ residual)`.
    fn finish_row(row: &mut [f32], bias: f32, act: Act, residual: Option<&[f32]>) {
        match residual {
            Some(res) => {
                for (v, r) in row.iter_mut().zip(res) {
                    *v = act.at(*v + bias) + r;
                }
            }
            None => {
                for v in row.iter_mut() {
                    *v = act.at(*v + bias);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same product, one output at a time in f64.
    fn naive(
        x: &[f32],
        (n, p): (usize, usize),
        conv: &Pointwise<'_>,
        act: Act,
        scale: Option<&[f32]>,
        residual: Option<&[f32]>,
    ) -> Vec<f32> {
        let (cout, cin) = (conv.cout, conv.cin);
        let mut y = vec![0f32; n * cout * p];
        for i in 0..n {
            for o in 0..cout {
                for j in 0..p {
                    let mut acc = 0f64;
                    for c in 0..cin {
                        let s = scale.map_or(1.0, |s| s[i * cin + c]) as f64;
                        let w = if conv.transposed {
                            conv.weight[c * cout + o]
                        } else {
                            conv.weight[o * cin + c]
                        };
                        acc += w as f64 * s * x[(i * cin + c) * p + j] as f64;
                    }
                    let at = (i * cout + o) * p + j;
                    let v = act.at(acc as f32 + conv.bias.map_or(0.0, |b| b[o]));
                    y[at] = v + residual.map_or(0.0, |r| r[at]);
                }
            }
        }
        y
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 1013) as f32 / 253.0 - 2.0)
            .collect()
    }

    #[test]
    fn matches_the_naive_product_on_every_tiling() {
        for &(n, cin, cout, p) in &[
            (1, 3, 5, 7),
            (1, 24, 144, 12544 / 16),
            (2, 40, 200, 49),
            (1, 1152, 24, 49),
            (3, 8, 16, 1),
            (1, 16, 1000, 300),
        ] {
            let (x, w, b) = (
                values(n * cin * p, 1),
                values(cout * cin, 2),
                values(cout, 3),
            );
            let (s, r) = (values(n * cin, 4), values(n * cout * p, 5));
            for (transposed, act, scale, residual) in [
                (false, Act::Identity, None, None),
                (false, Act::Relu, None, None),
                (false, Act::HSwish, None, None),
                (false, Act::Identity, Some(&s[..]), Some(&r[..])),
                (true, Act::HSwish, None, Some(&r[..])),
            ] {
                let conv = Pointwise {
                    weight: &w,
                    transposed,
                    bias: Some(&b),
                    cout,
                    cin,
                };
                let want = naive(&x, (n, p), &conv, act, scale, residual);
                for threads in [1, 2, 5] {
                    let got = crate::conv_grad::tests::on_threads(threads, || {
                        pointwise(&x, n, p, &conv, act, scale, residual)
                    });
                    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (a - b).abs() <= 1e-4 * (1.0 + b.abs()) * (cin as f32).sqrt(),
                            "n{n} cin{cin} cout{cout} p{p} {act:?} transposed {transposed} \
                             {threads} threads: element {i}: {a} vs {b}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn dense_convolutions_match_burns() {
        use burn::nn::PaddingConfig2d;
        use burn::nn::conv::Conv2dConfig;
        let dev = Device::flex();
        for &(n, cin, cout, h, k, s, pad, bias) in &[
            (1, 3, 24, 64, 3, 2, 1, false),
            (2, 5, 7, 13, 3, 1, 1, true),
            (2, 4, 6, 9, 5, 2, 2, true),
            (1, 16, 40, 7, 1, 1, 0, true),
            (3, 2, 3, 8, 3, 3, 0, false),
        ] {
            let conv = Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(bias)
                .init(&dev);
            let x = Tensor::<4>::random(
                [n, cin, h, h],
                burn::tensor::Distribution::Normal(0.0, 2.0),
                &dev,
            );
            for act in [Act::Identity, Act::Relu, Act::HSwish] {
                let got = dense_conv2d(&conv, &x, act).expect("a dense convolution on flex");
                let want = act.on_tensor(conv.forward(x.clone()));
                let case = format!("n{n} cin{cin} cout{cout} {h}x{h} k{k} s{s} {act:?}");
                crate::kernels::tests::close(got, want, 1e-5, &case);
            }
        }
        let grouped = Conv2dConfig::new([4, 4], [3, 3]).with_groups(2).init(&dev);
        let x = Tensor::<4>::zeros([1, 4, 8, 8], &dev);
        assert!(dense_conv2d(&grouped, &x, Act::Identity).is_none());
        let ad = dev.autodiff();
        let conv = Conv2dConfig::new([4, 4], [3, 3]).init(&ad);
        assert!(dense_conv2d(&conv, &Tensor::zeros([1, 4, 8, 8], &ad), Act::Identity).is_none());
    }

    #[test]
    fn tiles_cover_every_output_once() {
        for &(n, cout, p, threads) in &[
            (1, 144, 12544, 2),
            (1, 1152, 49, 2),
            (16, 200, 196, 2),
            (1, 7, 3, 16),
            (2, 1000, 1, 4),
        ] {
            let mut seen = vec![0u8; n * cout * p];
            for t in tiles(n, cout, p, threads) {
                for r in t.rows.clone() {
                    for c in t.cols.clone() {
                        seen[(t.image * cout + r) * p + c] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "n{n} cout{cout} p{p}");
        }
    }
}
