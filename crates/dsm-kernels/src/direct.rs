//! Direct (no im2col) stride-1 "same" convolutions (`2 pad + 1 = k`: every NAS-Bench-201
//! and ResNet 3x3 layer) for training on f32 NCHW data: the forward, the input gradient and
//! the weight gradient, with an optional ReLU on the input fused in.
//!
//! Each image's input is laid out with its zero border (and the ReLU, when there is one,
//! applied on the way: it costs nothing) in this thread's scratch, `cin` planes of `(h + 2
//! pad) x wp` (`wp = w + 2 pad`). In them, output pixel `q = oy wp + ox` reads input `q + kh
//! wp + kw` under tap `(kh, kw)`: one flat offset per tap, no masking.
//! - **forward / input gradient**: a register tile of [`CB`] output channels by `P`
//!   consecutive `q` accumulated across every input channel and tap (per tap `P / lanes`
//!   unaligned vector loads, `CB` broadcasts and `CB P / lanes` fused multiply-adds),
//!   storing only the `ox < w` columns (`2 pad / wp` of the arithmetic is dropped). The
//!   input gradient is the same convolution of the output gradient with the weight's
//!   channel axes swapped and its taps flipped; the ReLU's gradient is applied as it is
//!   stored (zero where the forward's input was not positive).
//! - **weight gradient**: `dw[co][ci][t] = sum_q dy[co][q] x[ci][q + offset(t)]`. A group of
//!   images is stacked into one tall padded plane per channel (the output gradient on the
//!   same rows, shifted by the padding), so that one stream covers the group; a register
//!   tile of `CO x CI` vector partial sums per tap walks it in chunks that stay in L1
//!   across the taps, and the lanes are reduced once per group. Groups are fixed by the
//!   shapes and summed in order: the result does not depend on the number of threads.
//!
//! No im2col (`k k` copies of the input) and no packing for a matrix product. Compiled for
//! AVX-512 and AVX2+FMA, chosen at run time; elsewhere [`SameConv::new`] returns `None`
//! and the callers keep the im2col path ([`crate::conv_grad`]). The callers also keep it
//! where these kernels measured slower ([`SameConv::pays_for_rows`],
//! [`SameConv::pays_for_weight_grad`]): narrow planes with many channels, on which the
//! padding columns these kernels compute are a large share of the work.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use crate::simd::vectorised;

/// Output channels per register tile.
const CB: usize = 4;

/// The instruction sets the kernel is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    Avx512,
    Avx2,
}

impl Isa {
    /// The kernel's variant for this CPU's [`simd::level`](crate::simd::level) (the crate's
    /// one CPU-feature dispatcher); `None` at the baseline.
    fn detect() -> Option<Self> {
        match crate::simd::level() {
            crate::simd::Level::Avx512 => Some(Self::Avx512),
            crate::simd::Level::Avx2 => Some(Self::Avx2),
            crate::simd::Level::Baseline => None,
        }
    }

    /// The widest pixel tile `P` (a multiple of the vector width).
    fn max_tile(self) -> usize {
        match self {
            // 6 vectors x 4 channels = 24 accumulators of the 32 registers.
            Self::Avx512 => 96,
            // 3 x 4 = 12 of the 16.
            Self::Avx2 => 24,
        }
    }

    /// `(output, input)` channels of the weight-gradient register tile.
    fn weight_grad_tile(self) -> (usize, usize) {
        match self {
            // 16 accumulators, 4 inputs and one output gradient of the 32 registers.
            Self::Avx512 => (4, 4),
            // 8 + 2 + 1 of the 16.
            Self::Avx2 => (4, 2),
        }
    }

    fn lanes(self) -> usize {
        match self {
            Self::Avx512 => 16,
            Self::Avx2 => 8,
        }
    }
}

/// The "same" convolution geometry of one image plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plane {
    h: usize,
    w: usize,
    k: usize,
    pad: usize,
    /// Padded width.
    wp: usize,
    /// Elements from one padded plane to the next: `(h + 2 pad) wp` rounded up to a whole
    /// number of 16-float vectors.
    stride: usize,
}

impl Plane {
    fn new(h: usize, w: usize, k: usize) -> Self {
        let pad = (k - 1) / 2;
        let wp = w + 2 * pad;
        Self {
            h,
            w,
            k,
            pad,
            wp,
            stride: ((h + 2 * pad) * wp).next_multiple_of(16),
        }
    }

    /// Flat offset of each tap `kh k + kw` in a padded plane.
    fn offsets(&self) -> Vec<usize> {
        (0..self.k * self.k)
            .map(|t| (t / self.k) * self.wp + t % self.k)
            .collect()
    }

    /// Zeros after the last plane: a tile or stream that ends at the last output pixel
    /// reads up to a vector (16 floats at most) and the largest tap offset further.
    fn slack(&self) -> usize {
        2 * (self.pad * self.wp + self.pad) + 16
    }

    /// `plane` = one `h x w` channel (its ReLU with `relu`) with a zero border of `pad`,
    /// zeros past it.
    #[inline(always)]
    fn lay_out(&self, src: &[f32], plane: &mut [f32], relu: bool) {
        let (top, rest) = plane.split_at_mut(self.pad * self.wp);
        let (rows, bottom) = rest.split_at_mut(self.h * self.wp);
        top.fill(0.0);
        bottom.fill(0.0);
        for (row, out) in src.chunks_exact(self.w).zip(rows.chunks_exact_mut(self.wp)) {
            for i in 0..self.pad {
                out[i] = 0.0;
                out[self.pad + self.w + i] = 0.0;
            }
            copy_input(&mut out[self.pad..self.pad + self.w], row, relu);
        }
    }
}

/// One stride-1 "same" convolution (`k` odd, padding `(k - 1) / 2`) of a batch `[n, cin, h,
/// w]` on this CPU's direct kernels.
#[derive(Debug, Clone, Copy)]
pub struct SameConv {
    isa: Isa,
    g: Plane,
    n: usize,
    cin: usize,
    cout: usize,
}

impl SameConv {
    /// `None` when this CPU has no kernel or `k` is even.
    pub fn new([n, cin, h, w]: [usize; 4], cout: usize, k: usize) -> Option<Self> {
        let isa = Isa::detect()?;
        (k % 2 == 1).then(|| Self::on(isa, [n, cin, h, w], cout, k))
    }

    /// Whether the forward and input-gradient kernels beat im2col and a matrix product
    /// ([`crate::conv_grad`]) on this shape. They compute every padded column (`wp` for
    /// `w` real ones) and drop the padding's: with 16 columns (1/8 wasted) they were
    /// faster, with 8 (1/4) slower at 64 channels. With 16 channels or fewer the matrix
    /// products have a 16-wide side and run well below their speed, and the direct kernels
    /// were faster at 8 columns too (docs/PERFORMANCE.md).
    pub fn pays_for_rows(&self) -> bool {
        8 * self.g.wp <= 9 * self.g.w || self.few_channels()
    }

    /// Likewise for the weight gradient, whose tall planes also carry `pad` zero rows per
    /// image: faster at 32x32 (1/11 of the arithmetic wasted), slower at 16x16 (1/5) with
    /// 32 channels; faster with 16 channels at 8x8.
    pub fn pays_for_weight_grad(&self) -> bool {
        let g = self.g;
        10 * (g.h + g.pad) * g.wp <= 11 * g.h * g.w || self.few_channels()
    }

    /// At most 16 input and output channels.
    fn few_channels(&self) -> bool {
        self.cin.max(self.cout) <= 16
    }

    fn on(isa: Isa, [n, cin, h, w]: [usize; 4], cout: usize, k: usize) -> Self {
        Self {
            isa,
            g: Plane::new(h, w, k),
            n,
            cin,
            cout,
        }
    }

    /// `conv(x, weight)` (`conv(relu(x), weight)` with `relu`): `[n, cout, h, w]` from `x`
    /// `[n, cin, h, w]` and `weight` `[cout, cin, k, k]`.
    pub fn forward(&self, x: &[f32], weight: &[f32], relu: bool) -> Vec<f32> {
        let packed = Packed::forward(weight, self.cout, self.cin, self.g.k);
        self.convolve(x, self.cin, &packed, relu, None)
    }

    /// The input gradient `[n, cin, h, w]` from the output gradient `dy` `[n, cout, h, w]`:
    /// the same convolution with the weight's channel axes swapped and its taps flipped;
    /// with `relu_input` (the forward's input before its ReLU), zero wherever that input is
    /// not positive (the ReLU's gradient).
    pub fn input_grad(&self, dy: &[f32], weight: &[f32], relu_input: Option<&[f32]>) -> Vec<f32> {
        let packed = Packed::transposed(weight, self.cout, self.cin, self.g.k);
        self.convolve(dy, self.cout, &packed, false, relu_input)
    }

    /// `src` `[n, channels, h, w]` convolved with `weights` (its ReLU first with `relu`),
    /// masked by `mask > 0` when given: `[n, weights.cout, h, w]`. Per image, the padded
    /// input is laid out in this thread's scratch (where it stays in L2 for the tiles).
    fn convolve(
        &self,
        src: &[f32],
        channels: usize,
        weights: &Packed,
        relu: bool,
        mask: Option<&[f32]>,
    ) -> Vec<f32> {
        let (g, hw) = (self.g, self.g.h * self.g.w);
        let cout = weights.cout;
        let offsets = g.offsets();
        let len = self.n * cout * hw;
        let mut y = Vec::with_capacity(len);
        if len > 0 {
            y.spare_capacity_mut()[..len]
                .par_chunks_mut(cout * hw)
                .zip(src.par_chunks(channels * hw))
                .enumerate()
                .for_each(|(i, (y, x))| {
                    let mask = mask.map(|m| &m[i * cout * hw..(i + 1) * cout * hw]);
                    crate::conv_grad::with_scratch(channels * g.stride + g.slack(), |xp| {
                        let (planes, tail) = xp.split_at_mut(channels * g.stride);
                        tail.fill(0.0);
                        lay_out_image(g, x, planes, relu);
                        self.image(xp, &offsets, weights, mask, y);
                    });
                });
        }
        // SAFETY: the `n` chunks of `cout h w` cover the first `len` elements, and `image`
        // writes every element of its chunk (every output channel, and every `ox < w` of
        // every output row through the tiles' `Segments`; tested against the definition).
        unsafe { y.set_len(len) };
        y
    }

    /// One image from its padded planes `xp`: every pixel tile, every output-channel block,
    /// stored into `y` (`[cout, h, w]`).
    fn image(
        &self,
        xp: &[f32],
        offsets: &[usize],
        weights: &Packed,
        mask: Option<&[f32]>,
        y: &mut [MaybeUninit<f32>],
    ) {
        let (g, isa) = (self.g, self.isa);
        let (cin, cout) = (weights.cin, weights.cout);
        let kk = offsets.len();
        let total = g.h * g.wp;
        let (max, lanes) = (isa.max_tile(), isa.lanes());
        let mut tile = [[0f32; 96]; CB];
        let mut q = 0;
        while q < total {
            let len = max.min(total - q);
            let p = len.next_multiple_of(lanes);
            let segments = Segments::new(g, q, len);
            for (b, w) in weights.data.chunks_exact(cin * kk * CB).enumerate() {
                let a = Args {
                    xp,
                    plane: g.stride,
                    cin,
                    offsets,
                    w,
                    q0: q,
                };
                accumulate(isa, p, &a, &mut tile);
                let channels = b * CB..cout.min((b + 1) * CB);
                store_tile(&segments, &tile[..channels.len()], len, channels, mask, y);
            }
            q += len;
        }
    }

    /// The weight gradient `[cout, cin, k, k]` from the input `x` (its ReLU with `relu`, as
    /// the forward saw it) and the output gradient `dy` (see the module docs).
    pub fn weight_grad(&self, x: &[f32], dy: &[f32], relu: bool) -> Vec<f32> {
        let (isa, g, n, cin, cout) = (self.isa, self.g, self.n, self.cin, self.cout);
        let (lanes, (co_t, ci_t)) = (isa.lanes(), isa.weight_grad_tile());
        let kk = g.k * g.k;
        let offsets = g.offsets();
        let blocks = cout.div_ceil(co_t);
        // Padded-width rows per image in a tall plane: its own and the zero rows below it.
        let rows = g.h + g.pad;
        // Images per group: enough vectors per weight that reducing the lanes (once per
        // group) costs little, split evenly. Fixed by the shapes, so that the sum over
        // groups, in order, does not depend on the number of threads.
        let groups = n.div_ceil((256 * lanes).div_ceil(rows * g.wp)).max(1);
        let per_group = n.div_ceil(groups).max(1);
        let groups = n.div_ceil(per_group);
        // Each group's output-channel blocks split into parts, for at least 8 jobs where
        // there are enough blocks; each job lays out its group's inputs and its channels'
        // output gradients in its own scratch (kept in L2) and computes their rows of the
        // group's partial sum.
        let per_part = blocks.div_ceil(8usize.div_ceil(groups.max(1)).min(blocks).max(1));
        let parts = blocks.div_ceil(per_part.max(1));
        let part_rows = per_part * co_t;
        let dplane = (per_group * rows * g.wp).next_multiple_of(lanes);
        let xplane = (per_group * rows + 2 * g.pad) * g.wp + g.slack();
        // Vectors per chunk: the chunk's planes (`ci_t + co_t` of them) fit in about half of
        // a 48 KiB L1 cache and are read once per tap.
        let chunk = (24 * 1024 / ((ci_t + co_t) * lanes * std::mem::size_of::<f32>())).max(1);
        let vectors = dplane / lanes;
        let mut partials = vec![0f32; groups * parts * part_rows * cin * kk];
        if partials.is_empty() {
            return vec![0f32; cout * cin * kk];
        }
        partials
            .par_chunks_mut(part_rows * cin * kk)
            .enumerate()
            .for_each(|(job, dw)| {
                let (group, part) = (job / parts, job % parts);
                let first = group * per_group;
                let tall = Tall {
                    g,
                    rows,
                    first,
                    images: per_group.min(n - first),
                };
                let c0 = part * part_rows;
                let channels = part_rows.min(cout - c0);
                crate::conv_grad::with_scratch(cin * xplane + channels * dplane, |buf| {
                    let (xp, dp) = buf.split_at_mut(cin * xplane);
                    lay_out_tall(&tall, (x, cin), 0..cin, (xp, xplane), g.pad, relu);
                    lay_out_tall(&tall, (dy, cout), c0..c0 + channels, (dp, dplane), 0, false);
                    let mut partial = vec![0f32; kk * co_t * ci_t * lanes];
                    for (b, dw) in dw.chunks_exact_mut(co_t * cin * kk).enumerate() {
                        if b * co_t >= channels {
                            break;
                        }
                        for cib in (0..cin).step_by(ci_t) {
                            partial.fill(0.0);
                            for v0 in (0..vectors).step_by(chunk) {
                                for (&off, acc) in offsets
                                    .iter()
                                    .zip(partial.chunks_exact_mut(co_t * ci_t * lanes))
                                {
                                    let a = GradArgs {
                                        xp: &xp[cib * xplane + v0 * lanes + off..],
                                        xstride: xplane,
                                        xplanes: ci_t.min(cin - cib),
                                        dp: &dp[b * co_t * dplane + v0 * lanes..],
                                        dstride: dplane,
                                        dplanes: co_t.min(channels - b * co_t),
                                        vectors: chunk.min(vectors - v0),
                                    };
                                    accumulate_grad(isa, &a, acc);
                                }
                            }
                            // Reduce the lanes into dw[co - c0 - b co_t][ci][t].
                            for (t, acc) in partial.chunks_exact(co_t * ci_t * lanes).enumerate() {
                                for (j, lanes) in acc.chunks_exact(lanes).enumerate() {
                                    let (c, ci) = (j / ci_t, cib + j % ci_t);
                                    if ci < cin {
                                        dw[(c * cin + ci) * kk + t] = lane_sum(lanes);
                                    }
                                }
                            }
                        }
                    }
                });
            });
        let mut dw = vec![0f32; cout * cin * kk];
        for part in partials.chunks_exact(parts * part_rows * cin * kk) {
            for (a, b) in dw.iter_mut().zip(part) {
                *a += b;
            }
        }
        dw
    }
}

/// The sum of a vector's lanes (8 or 16), by halving in fixed-size steps (a few vector
/// shuffles and additions), where a left-to-right sum is a chain of dependent additions.
fn lane_sum(lanes: &[f32]) -> f32 {
    fn halve<const N: usize, const H: usize>(v: [f32; N]) -> [f32; H] {
        std::array::from_fn(|i| v[i] + v[i + H])
    }
    let eight: [f32; 8] = match lanes.try_into() {
        Ok(sixteen) => halve::<16, 8>(sixteen),
        Err(_) => lanes.try_into().expect("8 or 16 lanes"),
    };
    let two = halve::<4, 2>(halve::<8, 4>(eight));
    two[0] + two[1]
}

/// One group of images stacked into tall planes for the weight gradient: every channel's
/// images one below the other with `pad` zero rows between them (and above the first and
/// below the last), on `wp`-wide rows. The output gradient goes on the same rows, `pad`
/// rows and columns up and left, so that output pixel `q` reads input `q + offset(tap)`
/// across the whole group.
struct Tall {
    g: Plane,
    /// Rows per image (its own and the zero rows below it).
    rows: usize,
    first: usize,
    images: usize,
}

impl Tall {
    /// `plane` = channel `c` (of `channels`) of the group's images of `src` (`[n, channels,
    /// h, w]`, its ReLU with `relu`), image `m`'s rows from row `shift + m rows` and column
    /// `shift` on; zeros elsewhere.
    #[inline(always)]
    fn lay_out(
        &self,
        src: &[f32],
        channels: usize,
        c: usize,
        plane: &mut [f32],
        shift: usize,
        relu: bool,
    ) {
        let g = self.g;
        plane.fill(0.0);
        let hw = g.h * g.w;
        for m in 0..self.images {
            let image = (self.first + m) * channels + c;
            for (y, row) in src[image * hw..(image + 1) * hw]
                .chunks_exact(g.w)
                .enumerate()
            {
                let at = (shift + m * self.rows + y) * g.wp + shift;
                copy_input(&mut plane[at..at + g.w], row, relu);
            }
        }
    }
}

vectorised! {
    /// Every channel of one image `x` (`[channels, h, w]`) laid out by [`Plane::lay_out`]
    /// into `planes` (`g.stride` apart).
    fn lay_out_image(g: Plane, x: &[f32], planes: &mut [f32], relu: bool) {
        for (src, plane) in x.chunks_exact(g.h * g.w).zip(planes.chunks_exact_mut(g.stride)) {
            g.lay_out(src, plane, relu);
        }
    }
}

vectorised! {
    /// The tile's rows (`tile[i][..len]` for output channel `channels.start + i`) stored
    /// into `y` (`[cout, h, w]`) by `segments`, masked by `mask` (a tensor like `y`) when
    /// given.
    fn store_tile(
        segments: &Segments,
        tile: &[[f32; 96]],
        len: usize,
        channels: std::ops::Range<usize>,
        mask: Option<&[f32]>,
        y: &mut [MaybeUninit<f32>],
    ) {
        let hw = segments.hw;
        for (acc, co) in tile.iter().zip(channels) {
            let out = &mut y[co * hw..(co + 1) * hw];
            match mask {
                None => segments.store(&acc[..len], out),
                Some(m) => segments.store_masked(&acc[..len], &m[co * hw..(co + 1) * hw], out),
            }
        }
    }
}

vectorised! {
    /// Channels `channels` of `src` (`[n, count, h, w]`, `(src, count)`) in `tall`'s group,
    /// each laid out by [`Tall::lay_out`] into one of `planes` (`(planes, stride)`).
    fn lay_out_tall(
        tall: &Tall,
        (src, count): (&[f32], usize),
        channels: std::ops::Range<usize>,
        (planes, stride): (&mut [f32], usize),
        shift: usize,
        relu: bool,
    ) {
        for (c, plane) in channels.zip(planes.chunks_exact_mut(stride)) {
            tall.lay_out(src, count, c, plane, shift, relu);
        }
    }
}

/// Weights packed for the forward / input-gradient kernel: output channels in blocks of
/// [`CB`], laid out `[block][ci][tap][CB]`, zero past the last output channel.
pub struct Packed {
    data: Vec<f32>,
    cin: usize,
    cout: usize,
}

impl Packed {
    fn from_fn(cout: usize, cin: usize, k: usize, w: impl Fn(usize, usize, usize) -> f32) -> Self {
        let kk = k * k;
        let blocks = cout.div_ceil(CB);
        let mut data = vec![0f32; blocks * cin * kk * CB];
        for co in 0..cout {
            let (b, lane) = (co / CB, co % CB);
            for ci in 0..cin {
                for t in 0..kk {
                    data[((b * cin + ci) * kk + t) * CB + lane] = w(co, ci, t);
                }
            }
        }
        Self { data, cin, cout }
    }

    /// The forward weight `[cout, cin, k, k]`.
    pub fn forward(weight: &[f32], cout: usize, cin: usize, k: usize) -> Self {
        let kk = k * k;
        Self::from_fn(cout, cin, k, |co, ci, t| weight[(co * cin + ci) * kk + t])
    }

    /// The input gradient's weight: the forward weight `[cout, cin, k, k]` with its channel
    /// axes swapped and its taps flipped (`W'[ci][co][t] = W[co][ci][k k - 1 - t]`), so that
    /// `dx = same_conv(dy, W')`.
    pub fn transposed(weight: &[f32], cout: usize, cin: usize, k: usize) -> Self {
        let kk = k * k;
        Self::from_fn(cin, cout, k, |ci, co, t| {
            weight[(co * cin + ci) * kk + (kk - 1 - t)]
        })
    }
}

/// `dst = src`, or `relu(src)` with `relu`: one input row into a padded layout.
#[inline(always)]
fn copy_input(dst: &mut [f32], src: &[f32], relu: bool) {
    if relu {
        copy_row(dst, src, |v| v.max(0.0));
    } else {
        copy_row(dst, src, |v| v);
    }
}

/// `dst = convert(src)` for short rows: whole 16-float blocks as fixed-size copies (a
/// `memcpy` call per row of 8 to 32 floats cost more than the copy).
#[inline(always)]
fn copy_row<T: Copy>(dst: &mut [T], src: &[f32], convert: impl Fn(f32) -> T) {
    let (blocks, rest) = src.as_chunks::<16>();
    let (dblocks, drest) = dst.as_chunks_mut::<16>();
    for (d, s) in dblocks.iter_mut().zip(blocks) {
        *d = s.map(&convert);
    }
    for (d, s) in drest.iter_mut().zip(rest) {
        *d = convert(*s);
    }
}

/// The output rows a tile of padded pixels `q0..q0 + len` covers: `(offset in the tile,
/// output index, length)` of each run of real (`ox < w`) columns.
struct Segments {
    runs: [(usize, usize, usize); 104],
    count: usize,
    /// Pixels per output plane.
    hw: usize,
}

impl Segments {
    fn new(g: Plane, q0: usize, len: usize) -> Self {
        let mut runs = [(0, 0, 0); 104];
        let mut count = 0;
        let mut j = 0;
        while j < len {
            let q = q0 + j;
            let (oy, ox) = (q / g.wp, q % g.wp);
            let run = (g.wp - ox).min(len - j);
            if ox < g.w {
                runs[count] = (j, oy * g.w + ox, (g.w - ox).min(run));
                count += 1;
            }
            j += run;
        }
        Self {
            runs,
            count,
            hw: g.h * g.w,
        }
    }

    #[inline(always)]
    fn store(&self, acc: &[f32], plane: &mut [MaybeUninit<f32>]) {
        for &(j, at, n) in &self.runs[..self.count] {
            copy_row(&mut plane[at..at + n], &acc[j..j + n], MaybeUninit::new);
        }
    }

    /// `plane = acc` where `mask > 0`, else 0 (`mask` a plane like `plane`).
    #[inline(always)]
    fn store_masked(&self, acc: &[f32], mask: &[f32], plane: &mut [MaybeUninit<f32>]) {
        let select = |s: f32, m: f32| MaybeUninit::new(if m > 0.0 { s } else { 0.0 });
        for &(j, at, n) in &self.runs[..self.count] {
            let (dst, src, m) = (&mut plane[at..at + n], &acc[j..j + n], &mask[at..at + n]);
            // Whole 16-float blocks as fixed-size selects (vectorised), then the rest.
            let (blocks, rest) = src.as_chunks::<16>();
            let (mblocks, mrest) = m.as_chunks::<16>();
            let (dblocks, drest) = dst.as_chunks_mut::<16>();
            for ((d, s), m) in dblocks.iter_mut().zip(blocks).zip(mblocks) {
                *d = std::array::from_fn(|l| select(s[l], m[l]));
            }
            for ((d, &s), &m) in drest.iter_mut().zip(rest).zip(mrest) {
                *d = select(s, m);
            }
        }
    }
}

/// What one weight-gradient tile reads: input planes from `xp` (the tap's offset applied)
/// `xstride` apart and output-gradient planes from `dp` `dstride` apart, `vectors` vectors
/// of each.
struct GradArgs<'a> {
    xp: &'a [f32],
    xstride: usize,
    /// Input planes that exist (the tile's others read the first one again; their sums are
    /// dropped).
    xplanes: usize,
    dp: &'a [f32],
    dstride: usize,
    /// Output-gradient planes that exist (likewise).
    dplanes: usize,
    vectors: usize,
}

/// `acc[co][ci][..lanes] += sum over vectors v of dp[co][v] * xp[ci][v]`, by the variant
/// compiled for `isa`.
fn accumulate_grad(isa: Isa, a: &GradArgs<'_>, acc: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: (every arm) `isa` was detected on this CPU, so the instructions its variant is
    // compiled for exist.
    unsafe {
        match isa {
            Isa::Avx512 => grad_avx512(a, acc),
            Isa::Avx2 => grad_avx2(a, acc),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, acc);
        unreachable!("no direct kernel for {isa:?} on this architecture");
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline(never)]
unsafe fn grad_avx512(a: &GradArgs<'_>, acc: &mut [f32]) {
    grad_kernel::<16, 4, 4>(a, acc);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
unsafe fn grad_avx2(a: &GradArgs<'_>, acc: &mut [f32]) {
    grad_kernel::<8, 4, 2>(a, acc);
}

/// The weight-gradient register tile: `CO x CI` vectors of `L` partial sums; per vector of
/// pixels, `CI` unaligned input loads, `CO` output-gradient loads and `CO CI` fused
/// multiply-adds.
#[inline(always)]
fn grad_kernel<const L: usize, const CO: usize, const CI: usize>(
    a: &GradArgs<'_>,
    acc: &mut [f32],
) {
    let mut sums = [[[0f32; L]; CI]; CO];
    for (c, row) in sums.iter_mut().enumerate() {
        for (i, v) in row.iter_mut().enumerate() {
            v.copy_from_slice(&acc[(c * CI + i) * L..][..L]);
        }
    }
    // Whole vectors, checked once here rather than on every load; a plane past the last
    // one that exists reads the first again (its sums are dropped by the caller).
    fn plane<const L: usize>(
        data: &[f32],
        stride: usize,
        i: usize,
        planes: usize,
        vectors: usize,
    ) -> &[[f32; L]] {
        let at = if i < planes { i * stride } else { 0 };
        &data[at..].as_chunks::<L>().0[..vectors]
    }
    let xs: [&[[f32; L]]; CI] =
        std::array::from_fn(|i| plane(a.xp, a.xstride, i, a.xplanes, a.vectors));
    let ds: [&[[f32; L]]; CO] =
        std::array::from_fn(|c| plane(a.dp, a.dstride, c, a.dplanes, a.vectors));
    for v in 0..a.vectors {
        let x: [[f32; L]; CI] = std::array::from_fn(|i| xs[i][v]);
        for (row, d) in sums.iter_mut().zip(&ds) {
            let d = d[v];
            for (s, x) in row.iter_mut().zip(&x) {
                for j in 0..L {
                    s[j] = d[j].mul_add(x[j], s[j]);
                }
            }
        }
    }
    for (c, row) in sums.iter().enumerate() {
        for (i, v) in row.iter().enumerate() {
            acc[(c * CI + i) * L..][..L].copy_from_slice(v);
        }
    }
}

/// `tile[lane][..p] = sum over ci, taps of w[ci][tap][lane] xp[ci][q0 + offset(tap) + ..p]`,
/// by the variant compiled for `isa`, with `p` a multiple of its vector width.
fn accumulate(isa: Isa, p: usize, a: &Args<'_>, tile: &mut [[f32; 96]; CB]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: (every arm) `isa` was detected on this CPU, so the instructions its variant is
    // compiled for exist.
    unsafe {
        match (isa, p) {
            (Isa::Avx512, 16) => avx512::<16>(a, tile),
            (Isa::Avx512, 32) => avx512::<32>(a, tile),
            (Isa::Avx512, 48) => avx512::<48>(a, tile),
            (Isa::Avx512, 64) => avx512::<64>(a, tile),
            (Isa::Avx512, 80) => avx512::<80>(a, tile),
            (Isa::Avx512, 96) => avx512::<96>(a, tile),
            (Isa::Avx2, 8) => avx2::<8>(a, tile),
            (Isa::Avx2, 16) => avx2::<16>(a, tile),
            (Isa::Avx2, 24) => avx2::<24>(a, tile),
            _ => unreachable!("tile width {p} for {isa:?}"),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, tile);
        unreachable!("no direct kernel for {isa:?} (tile {p}) on this architecture");
    }
}

/// What one tile reads.
struct Args<'a> {
    xp: &'a [f32],
    plane: usize,
    cin: usize,
    offsets: &'a [usize],
    w: &'a [f32],
    q0: usize,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline(never)]
unsafe fn avx512<const P: usize>(a: &Args<'_>, tile: &mut [[f32; 96]; CB]) {
    let acc = kernel::<P>(a);
    for (t, s) in tile.iter_mut().zip(&acc) {
        t[..P].copy_from_slice(s);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
unsafe fn avx2<const P: usize>(a: &Args<'_>, tile: &mut [[f32; 96]; CB]) {
    let acc = kernel::<P>(a);
    for (t, s) in tile.iter_mut().zip(&acc) {
        t[..P].copy_from_slice(s);
    }
}

/// The register tile: `CB x P` accumulators, one vector load per `lanes` pixels and one
/// broadcast per channel for each input channel and tap.
#[inline(always)]
fn kernel<const P: usize>(a: &Args<'_>) -> [[f32; P]; CB] {
    let kk = a.offsets.len();
    let mut acc = [[0f32; P]; CB];
    for ci in 0..a.cin {
        let x = &a.xp[ci * a.plane + a.q0..];
        let w = &a.w[ci * kk * CB..(ci + 1) * kk * CB];
        for (&off, wt) in a.offsets.iter().zip(w.chunks_exact(CB)) {
            let src: &[f32; P] = x[off..off + P].try_into().expect("tile inside the planes");
            for (row, &wv) in acc.iter_mut().zip(wt) {
                for (r, &s) in row.iter_mut().zip(src) {
                    *r = wv.mul_add(s, *r);
                }
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::conv_grad::ConvShape;
    use crate::conv_grad::tests::{on_threads, values};

    /// The definitions of `y = conv(act(x))` with zero padding `(k - 1) / 2` (`act` = ReLU
    /// or identity) and of its two gradients for the output gradient `dy`: `(y, dx, dw)`,
    /// from the im2col path's reference ([`crate::conv_grad::tests::naive`]) on `act(x)`,
    /// with the ReLU's gradient applied to `dx`.
    fn naive(
        x: &[f32],
        wt: &[f32],
        dy: &[f32],
        [n, cin, cout, h, w, k]: [usize; 6],
        relu: bool,
    ) -> [Vec<f32>; 3] {
        let c = ConvShape {
            n,
            cin,
            cout,
            h,
            w,
            k,
            stride: 1,
            pad: (k - 1) / 2,
        };
        let input: Vec<f32> = x
            .iter()
            .map(|&v| if relu { v.max(0.0) } else { v })
            .collect();
        let [y, mut dx, dw] = crate::conv_grad::tests::naive(&input, wt, dy, &c);
        if relu {
            for (d, &v) in dx.iter_mut().zip(x) {
                if v <= 0.0 {
                    *d = 0.0;
                }
            }
        }
        [y, dx, dw]
    }

    fn assert_close(what: &str, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{what}: [{i}] {a} vs {b}"
            );
        }
    }

    fn compiled_variants() -> &'static [Isa] {
        match Isa::detect() {
            Some(Isa::Avx512) => &[Isa::Avx512, Isa::Avx2],
            Some(Isa::Avx2) => &[Isa::Avx2],
            None => &[], // no kernel on this CPU: the callers use im2col
        }
    }

    #[test]
    fn every_compiled_variant_matches_the_definitions() {
        for &(n, cin, cout, h, w, k) in &[
            (2, 3, 4, 8, 8, 3),
            (1, 5, 7, 9, 13, 3),
            (3, 2, 1, 1, 1, 3),
            (1, 16, 16, 32, 32, 3),
            (2, 6, 9, 8, 8, 3),
            (1, 3, 5, 6, 5, 5),
            (2, 2, 3, 3, 2, 7),
            (1, 4, 4, 20, 3, 1),
            // Several weight-gradient groups (small planes), channel tails of both tiles.
            (70, 5, 6, 2, 3, 3),
            (9, 3, 2, 8, 8, 3),
        ] {
            let x = values(n * cin * h * w, 1);
            let wt = values(cout * cin * k * k, 2);
            let dy = values(n * cout * h * w, 3);
            for relu in [false, true] {
                let [y0, dx0, dw0] = naive(&x, &wt, &dy, [n, cin, cout, h, w, k], relu);
                for &isa in compiled_variants() {
                    let what = format!("{isa:?} n{n} cin{cin} cout{cout} {h}x{w} k{k} relu {relu}");
                    let conv = SameConv::on(isa, [n, cin, h, w], cout, k);
                    assert_close(&format!("y {what}"), &conv.forward(&x, &wt, relu), &y0);
                    let dx = conv.input_grad(&dy, &wt, relu.then_some(&x[..]));
                    assert_close(&format!("dx {what}"), &dx, &dx0);
                    let dw = conv.weight_grad(&x, &dy, relu);
                    assert_close(&format!("dw {what}"), &dw, &dw0);
                }
            }
        }
    }

    #[test]
    fn the_direct_kernels_are_chosen_where_they_were_measured_faster() {
        let Some(isa) = Isa::detect() else { return };
        // NAS-Bench-201's three stages on 32x32 images and the first two on the 8x8
        // digits: (rows, weight gradient) direct?
        for (c, hw, want) in [
            (16, 32, (true, true)),
            (32, 16, (true, false)),
            (64, 8, (false, false)),
            (16, 8, (true, true)),
            (32, 4, (false, false)),
        ] {
            let conv = SameConv::on(isa, [64, c, hw, hw], c, 3);
            let got = (conv.pays_for_rows(), conv.pays_for_weight_grad());
            assert_eq!(got, want, "{c} channels {hw}x{hw}");
        }
    }

    #[test]
    fn the_weight_gradient_does_not_depend_on_the_thread_count() {
        let (n, cin, cout, h, w) = (37, 5, 6, 4, 5);
        let x = values(n * cin * h * w, 4);
        let dy = values(n * cout * h * w, 5);
        for &isa in compiled_variants() {
            let on = |threads: usize| {
                on_threads(threads, || {
                    SameConv::on(isa, [n, cin, h, w], cout, 3).weight_grad(&x, &dy, true)
                })
            };
            let one = on(1);
            assert_eq!(one, on(3), "{isa:?}");
            assert_eq!(one, on(8), "{isa:?}");
        }
    }
}
