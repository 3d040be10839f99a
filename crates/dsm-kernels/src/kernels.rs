//! Our own CPU kernels for the inference hot spots that Burn's `flex` backend leaves on the
//! table, used transparently by the models when the input lives on `flex` without autodiff
//! (evaluation and deployment); every other case goes through Burn's own operations.
//!
//! - **Depthwise convolution** (the MobileNet blocks' 3x3 to 7x7 per-channel filters): flex
//!   accumulates one kernel tap at a time into the output row (a load, a multiply-add and a
//!   store per tap and output) and walks strided rows element by element. Here each output
//!   tile stays in vector registers across all `k * k` taps (one load and one fused
//!   multiply-add per tap), strides are turned into contiguous loads by splitting the padded
//!   input into `stride` column phases, and several rows are computed at once so that the
//!   multiply-add chains overlap. The activation that follows (ReLU, h-swish) is applied to
//!   the tile before it is stored once the BatchNorm is folded, saving a pass. Compiled for
//!   AVX-512 and AVX2+FMA, chosen at run time, with a portable fallback.
//!
//! The pointwise (1x1) convolutions are gemm calls ([`crate::pointwise`]); a register-tiled
//! pointwise kernel of our own measured no faster than gemm's micro-kernels. With the
//! depthwise kernel's plane means (squeeze-and-excite's pooling) they make up the fused
//! MobileNet block of inference.
//!
//! Parity with Burn's convolution is tested in this module and, through the models, against
//! PyTorch in `tests/parity.rs`.

use crate::simd::vectorised;
use burn::backend::flex::FlexTensor;
use burn::backend::{BackendTensor, DispatchAutodiffContext, DispatchTensor, DispatchTensorKind};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::{Bytes, DType};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// A float tensor on plain `flex` (no autodiff), as its primitive; `None` otherwise.
pub fn flex_primitive<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
    let d = t.clone().into_dispatch();
    match (d.kind, d.autodiff) {
        (DispatchTensorKind::Flex(BackendTensor::Float(p)), DispatchAutodiffContext::Disabled)
            if p.dtype() == DType::F32 =>
        {
            Some(p)
        }
        _ => None,
    }
}

/// Whether a dispatch tensor lives on `flex`, with or without autodiff.
pub fn on_flex(kind: &DispatchTensorKind) -> bool {
    match kind {
        DispatchTensorKind::Flex(_) => true,
        DispatchTensorKind::Autodiff(inner) => matches!(**inner, DispatchTensorKind::Flex(_)),
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// The f32 elements of a flex tensor in row-major order (copied only when not contiguous).
pub fn contiguous(p: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match p.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(
            p.to_contiguous()
                .as_slice::<f32>()
                .map_or_else(Vec::new, <[f32]>::to_vec),
        ),
    }
}

/// A contiguous f32 flex primitive of `shape` holding `data`.
pub fn flex_primitive_of<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        burn::backend::flex::Layout::contiguous(Shape::new(shape)),
        DType::F32,
    )
}

/// The same as a plain (no autodiff) `flex` tensor.
pub fn flex_tensor<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
    plain_tensor(flex_primitive_of(data, shape))
}

/// A flex primitive as a plain (no autodiff) tensor.
pub fn plain_tensor<const D: usize>(p: FlexTensor) -> Tensor<D> {
    Tensor::from_dispatch(DispatchTensor {
        kind: DispatchTensorKind::Flex(BackendTensor::Float(p)),
        autodiff: DispatchAutodiffContext::Disabled,
    })
}

/// The geometry of one depthwise convolution.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    h: usize,
    w: usize,
    k: usize,
    stride: usize,
    pad: usize,
    /// Output rows.
    pub oh: usize,
    /// Output columns.
    pub ow: usize,
}

/// The activation fused into a kernel's output (applied while the tile is in registers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// None.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `x * relu6(x + 3) / 6`.
    HSwish,
}

impl Act {
    /// The activation with Burn's operations (when no kernel of ours applies).
    pub fn on_tensor(self, y: Tensor<4>) -> Tensor<4> {
        match self {
            Act::Identity => y,
            Act::Relu => burn::tensor::activation::relu(y),
            Act::HSwish => burn::tensor::activation::hard_swish(y),
        }
    }

    /// The activation of one value (the one formula every kernel of ours applies).
    #[inline(always)]
    pub fn at(self, v: f32) -> f32 {
        match self {
            Act::Identity => v,
            Act::Relu => v.max(0.0),
            Act::HSwish => v * ((v + 3.0).clamp(0.0, 6.0) * (1.0 / 6.0)),
        }
    }

    #[inline(always)]
    fn apply<const B: usize>(self, row: &mut [f32; B]) {
        match self {
            Act::Identity => {}
            Act::Relu => {
                for v in row.iter_mut() {
                    *v = Act::Relu.at(*v);
                }
            }
            Act::HSwish => {
                for v in row.iter_mut() {
                    *v = Act::HSwish.at(*v);
                }
            }
        }
    }
}

/// `(kernel, stride, padding)` of a convolution with a square kernel, the same stride and
/// padding on every side, and no dilation, applied to an `h x w` input it fits; `None`
/// otherwise. The geometry all our kernels handle.
pub fn square_geometry(conv: &Conv2d, h: usize, w: usize) -> Option<(usize, usize, usize)> {
    let [_, _, kh, kw] = conv.weight.dims();
    let stride = conv.stride[0];
    let pad = match conv.padding {
        PaddingConfig2d::Explicit(a, b, c, d) if a == b && b == c && c == d => a,
        PaddingConfig2d::Valid => 0,
        _ => return None,
    };
    let fits = h + 2 * pad >= kh && w + 2 * pad >= kw;
    (kh == kw && conv.stride[1] == stride && stride > 0 && conv.dilation == [1, 1] && fits)
        .then_some((kh, stride, pad))
}

/// `act(conv(x))` with our depthwise kernel when `conv` is a depthwise convolution (one input and
/// one output channel per group, square kernel and stride, symmetric padding, no dilation)
/// and `x` is an f32 tensor on plain `flex`; `None` when any of that does not hold.
pub fn depthwise_conv2d(conv: &Conv2d, x: &Tensor<4>, act: Act) -> Option<Tensor<4>> {
    let [n, c, h, w] = x.dims();
    let xp = flex_primitive(x)?;
    let params = ConvParams::of(conv)?;
    let dw = Depthwise::of(conv, &params, c, h, w)?;
    let (out, _) = dw.run(&contiguous(&xp), n, act, false);
    Some(flex_tensor(out, [n, c, dw.g.oh, dw.g.ow]))
}

/// A layer's weight and bias as flex primitives (`None` unless both live on plain `flex` as
/// f32).
pub struct ConvParams {
    weight: FlexTensor,
    bias: Option<FlexTensor>,
}

impl ConvParams {
    /// The parameters of `conv`, when they live on plain `flex` as f32.
    pub fn of(conv: &Conv2d) -> Option<Self> {
        Self::new(&conv.weight, conv.bias.as_ref())
    }

    /// Any layer's (a linear layer's, say) weight and optional bias.
    pub fn new<const D: usize>(
        weight: &burn::module::Param<Tensor<D>>,
        bias: Option<&burn::module::Param<Tensor<1>>>,
    ) -> Option<Self> {
        Some(Self {
            weight: flex_primitive(&weight.val())?,
            bias: match bias {
                Some(b) => Some(flex_primitive(&b.val())?),
                None => None,
            },
        })
    }

    /// The weight's elements in row-major order.
    pub fn weight(&self) -> std::borrow::Cow<'_, [f32]> {
        contiguous(&self.weight)
    }

    /// The bias's elements, if the convolution has one.
    pub fn bias(&self) -> Option<std::borrow::Cow<'_, [f32]>> {
        self.bias.as_ref().map(contiguous)
    }
}

/// One depthwise convolution ready to run on `[n, c, h, w]` inputs.
pub struct Depthwise<'a> {
    taps: std::borrow::Cow<'a, [f32]>,
    bias: Option<std::borrow::Cow<'a, [f32]>>,
    c: usize,
    /// The convolution's geometry (kernel, stride, padding, input and output planes).
    pub g: Geometry,
}

impl<'a> Depthwise<'a> {
    /// `conv` on `c`-channel `h x w` inputs, if it is a depthwise convolution our kernel
    /// covers (see [`depthwise_conv2d`]).
    pub fn of(conv: &Conv2d, params: &'a ConvParams, c: usize, h: usize, w: usize) -> Option<Self> {
        let [cout, cin_g, _, _] = conv.weight.dims();
        let (k, stride, pad) = square_geometry(conv, h, w)?;
        if cin_g != 1 || conv.groups != c || cout != c {
            return None;
        }
        Some(Self {
            taps: params.weight(),
            bias: params.bias(),
            c,
            g: Geometry {
                h,
                w,
                k,
                stride,
                pad,
                oh: (h + 2 * pad - k) / stride + 1,
                ow: (w + 2 * pad - k) / stride + 1,
            },
        })
    }

    /// `act(conv(x))` of `n` images laid out `[n, c, h, w]`, and with `means` each output
    /// plane's mean (`[n, c]`, taken while the plane is in cache: squeeze-and-excite's
    /// pooling).
    pub fn run(&self, x: &[f32], n: usize, act: Act, means: bool) -> (Vec<f32>, Vec<f32>) {
        let (g, c, k) = (self.g, self.c, self.g.k);
        let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
        let mut plane_means = vec![0f32; n * c];
        let len = n * c * plane_out;
        let mut out = Vec::with_capacity(len);
        out.spare_capacity_mut()[..len]
            .par_chunks_mut(plane_out.max(1))
            .zip(plane_means.par_iter_mut())
            .enumerate()
            .for_each(|(plane, (out, mean))| {
                let ch = plane % c;
                let b = self.bias.as_ref().map_or(0.0, |b| b[ch]);
                SCRATCH.with_borrow_mut(|scratch| {
                    depthwise_plane(
                        &x[plane * plane_in..(plane + 1) * plane_in],
                        &self.taps[ch * k * k..(ch + 1) * k * k],
                        b,
                        out,
                        g,
                        act,
                        scratch,
                    )
                });
                if means {
                    // SAFETY: `depthwise_plane` wrote every element of the plane (its tiles
                    // cover it; tested against Burn's convolution on every geometry).
                    let out = unsafe { &*(out as *const [MaybeUninit<f32>] as *const [f32]) };
                    *mean = plane_sum(out) / plane_out as f32;
                }
            });
        // SAFETY: `depthwise_plane` wrote every element of every plane of `..len` above
        // (`plane_out == 0` leaves nothing to write).
        unsafe { out.set_len(len) };
        (out, plane_means)
    }
}

/// A vector of `len` floats written in parallel, `chunk` elements per call of `fill`.
///
/// # Safety
/// `fill` must write every element of the chunk it is given.
pub unsafe fn written_by(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync + Send,
) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    if len > 0 {
        v.spare_capacity_mut()[..len]
            .par_chunks_mut(chunk.max(1))
            .enumerate()
            .for_each(|(i, c)| fill(i, c));
    }
    // SAFETY: the chunks cover `..len` and the caller guarantees `fill` wrote all of them.
    unsafe { v.set_len(len) };
    v
}

/// A vector of `len` floats made of `chunk`-float pieces, each zeroed and then handed to
/// `fill` (with its index) on rayon's threads: the zeroing is spread over the threads and
/// done just before the piece is used, not in one pass on the calling thread (which leaves
/// the workers idle).
pub fn par_zeroed(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    // SAFETY: every element of each piece is written (zeroed) before `fill` sees it.
    unsafe {
        written_by(len, chunk, |i, piece| {
            for e in piece.iter_mut() {
                e.write(0.0);
            }
            // SAFETY: every element of the piece was just written.
            let piece = &mut *(piece as *mut [MaybeUninit<f32>] as *mut [f32]);
            fill(i, piece);
        })
    }
}

/// The mean of every `p`-element plane of `x`, in parallel.
pub fn plane_means(x: &[f32], p: usize) -> Vec<f32> {
    x.par_chunks(p.max(1))
        .map(|plane| plane_sum(plane) / p as f32)
        .collect()
}

thread_local! {
    /// Each thread's buffer for the depthwise kernel's padded phase planes.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

vectorised! {
    /// The sum of a plane, in 16 lanes (a squeeze-and-excite pooling).
    fn plane_sum(plane: &[f32]) -> f32 {
        let (chunks, rest) = plane.as_chunks::<16>();
        let mut acc = [0f32; 16];
        for chunk in chunks {
            // `+ 0.0` (which changes nothing but the sign of a zero) makes the compiler
            // add the sixteen lanes as one vector instead of sixteen scalar sums.
            for l in 0..16 {
                acc[l] += chunk[l] + 0.0;
            }
        }
        acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
    }
}

vectorised! {
    /// One channel of one image: `out = conv(input, taps) + bias`. Compiled per instruction
    /// set (the layout, the activation and the stores; the accumulation has its own
    /// variants).
    fn depthwise_plane(
        input: &[f32],
        taps: &[f32],
        bias: f32,
        out: &mut [MaybeUninit<f32>],
        g: Geometry,
        act: Act,
        scratch: &mut Vec<f32>,
    ) {
        // Output tile: `R` rows of `B` columns, chosen for the output width.
        match g.ow {
            ow if ow > 32 => tiled::<64, 1>(input, taps, bias, out, g, act, scratch),
            ow if ow > 16 => tiled::<32, 2>(input, taps, bias, out, g, act, scratch),
            ow if ow > 8 => tiled::<16, 4>(input, taps, bias, out, g, act, scratch),
            _ => tiled::<8, 4>(input, taps, bias, out, g, act, scratch),
        }
    }
}

/// Lays the zero-padded input out as `stride` column phases, `phase[r][row][col] =
/// padded[row][col * stride + r]`, so that the input of output column `ow` under tap `kw` is
/// `phase[kw % stride][oh * stride + kh][ow + kw / stride]`: contiguous in `ow` for any stride.
/// Rows and columns are padded further so that whole `R x B` tiles can be read.
#[inline(always)]
fn tiled<const B: usize, const R: usize>(
    input: &[f32],
    taps: &[f32],
    bias: f32,
    out: &mut [MaybeUninit<f32>],
    g: Geometry,
    act: Act,
    scratch: &mut Vec<f32>,
) {
    let s = g.stride;
    let tiles_x = g.ow.div_ceil(B);
    let tiles_y = g.oh.div_ceil(R);
    // Phase-plane width: every tile column plus the largest tap offset.
    let qw = tiles_x * B + (g.k - 1) / s;
    // Rows: every padded input row that any tile row reads.
    let qh = (tiles_y * R - 1) * s + g.k;
    // The phase planes, then one zero-padded input row (`s * qw` wide) to split. The
    // buffer is reused from the last plane: what the rows below do not overwrite is zeroed
    // (the padding rows; with stride 1 the padding columns too; the split row's borders).
    let len = s * qh * qw + s * qw;
    if scratch.len() < len {
        scratch.resize(len, 0.0);
    }
    let (planes, prow) = scratch[..len].split_at_mut(s * qh * qw);
    prow.fill(0.0);
    // Rows past the last one a tile reads (possible without padding) are not laid out.
    let rows = g.h.min(qh.saturating_sub(g.pad));
    for phase in planes.chunks_exact_mut(qh * qw) {
        let (top, rest) = phase.split_at_mut((g.pad * qw).min(phase.len()));
        top.fill(0.0);
        let below = (rows * qw).min(rest.len());
        rest[below..].fill(0.0);
    }
    for ih in 0..rows {
        let src = &input[ih * g.w..(ih + 1) * g.w];
        let row = ih + g.pad;
        if s == 1 {
            let line = &mut planes[row * qw..(row + 1) * qw];
            line[..g.pad].fill(0.0);
            line[g.pad..g.pad + g.w].copy_from_slice(src);
            line[g.pad + g.w..].fill(0.0);
            continue;
        }
        // Padded column p = col * s + r goes to phase r, column col. The row's borders stay
        // zero: only [pad, pad + w) is ever written.
        let end = (g.pad + g.w).min(prow.len());
        prow[g.pad..end].copy_from_slice(&src[..end - g.pad]);
        if s == 2 {
            let (p0, rest) = planes.split_at_mut(qh * qw);
            let ph0 = &mut p0[row * qw..(row + 1) * qw];
            let ph1 = &mut rest[row * qw..(row + 1) * qw];
            for ((a, b), pair) in ph0.iter_mut().zip(ph1.iter_mut()).zip(prow.chunks_exact(2)) {
                *a = pair[0];
                *b = pair[1];
            }
        } else {
            for (col, chunk) in prow.chunks_exact(s).enumerate() {
                for (r, v) in chunk.iter().enumerate() {
                    planes[(r * qh + row) * qw + col] = *v;
                }
            }
        }
    }
    let columns: Vec<(usize, usize)> = (0..g.k).map(|kw| ((kw % s) * qh * qw, kw / s)).collect();
    let plan = DwPlan {
        phases: &scratch[..len],
        columns: &columns,
        taps,
        bias,
        g,
        qw,
        act,
    };
    for ty in 0..tiles_y {
        for tx in 0..tiles_x {
            dw_tile::<B, R>(&plan, out, ty * R, tx * B);
        }
    }
}

/// What the depthwise micro-kernel of one plane reads.
struct DwPlan<'a> {
    phases: &'a [f32],
    /// Per tap column `kw`: the start of its phase plane (`(kw % stride) * qh * qw`) and its
    /// column shift (`kw / stride`).
    columns: &'a [(usize, usize)],
    taps: &'a [f32],
    bias: f32,
    g: Geometry,
    qw: usize,
    act: Act,
}

/// One `R x B` output tile at `(oy0, ox0)`: accumulated in registers across all taps (by
/// the variant compiled for this CPU), then activated and stored into the plane's output.
#[inline(always)]
fn dw_tile<const B: usize, const R: usize>(
    plan: &DwPlan<'_>,
    out: &mut [MaybeUninit<f32>],
    oy0: usize,
    ox0: usize,
) {
    let g = plan.g;
    let mut tile = [[0f32; B]; R];
    dw_dispatch::<B, R>(plan, &mut tile, oy0, ox0);
    let len = B.min(g.ow - ox0);
    for (dy, row) in tile.iter_mut().enumerate() {
        let oy = oy0 + dy;
        if oy >= g.oh {
            break;
        }
        plan.act.apply(row);
        store(&mut out[oy * g.ow + ox0..], row, len);
    }
}

// The accumulation stays a separate (not inlined) function per instruction set: inlined
// into the code that activates and stores the tile, the compiler merged the tile with the
// accumulators and kept them in memory instead of registers (`perf`: the depthwise share
// of dsm_nas inference rose from about 24 % to 40 %).
fn dw_dispatch<const B: usize, const R: usize>(
    plan: &DwPlan<'_>,
    tile: &mut [[f32; B]; R],
    oy0: usize,
    ox0: usize,
) {
    #[cfg(target_arch = "x86_64")]
    match crate::simd::level() {
        crate::simd::Level::Avx512 => {
            // SAFETY: `simd::level` detected AVX-512 (F, BW, VL, DQ), AVX2 and FMA.
            unsafe { dw_avx512::<B, R>(plan, tile, oy0, ox0) };
            return;
        }
        crate::simd::Level::Avx2 => {
            // SAFETY: `simd::level` detected AVX2 and FMA.
            unsafe { dw_avx2::<B, R>(plan, tile, oy0, ox0) };
            return;
        }
        crate::simd::Level::Baseline => {}
    }
    dw_accumulate::<B, R>(plan, tile, oy0, ox0);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline(never)]
unsafe fn dw_avx512<const B: usize, const R: usize>(
    plan: &DwPlan<'_>,
    tile: &mut [[f32; B]; R],
    oy0: usize,
    ox0: usize,
) {
    dw_accumulate::<B, R>(plan, tile, oy0, ox0);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
unsafe fn dw_avx2<const B: usize, const R: usize>(
    plan: &DwPlan<'_>,
    tile: &mut [[f32; B]; R],
    oy0: usize,
    ox0: usize,
) {
    dw_accumulate::<B, R>(plan, tile, oy0, ox0);
}

/// The accumulation of [`dw_tile`], in a local array the compiler keeps in registers.
#[inline(always)]
fn dw_accumulate<const B: usize, const R: usize>(
    plan: &DwPlan<'_>,
    tile: &mut [[f32; B]; R],
    oy0: usize,
    ox0: usize,
) {
    let (k, s, qw) = (plan.g.k, plan.g.stride, plan.qw);
    let mut acc = [[plan.bias; B]; R];
    for kh in 0..k {
        for (kw, &(base, shift)) in plan.columns.iter().enumerate() {
            let wv = plan.taps[kh * k + kw];
            let col = base + ox0 + shift;
            for (dy, acc_row) in acc.iter_mut().enumerate() {
                let at = ((oy0 + dy) * s + kh) * qw + col;
                let src: &[f32; B] = plan.phases[at..at + B]
                    .try_into()
                    .expect("tile inside the phase plane");
                for j in 0..B {
                    acc_row[j] = wv.mul_add(src[j], acc_row[j]);
                }
            }
        }
    }
    *tile = acc;
}

/// `dst[..len] = src[..len]`, with a fixed-size copy (plain vector stores) for whole rows.
#[inline(always)]
fn store<const B: usize>(dst: &mut [MaybeUninit<f32>], src: &[f32; B], len: usize) {
    if len == B {
        let dst: &mut [MaybeUninit<f32>; B] = (&mut dst[..B]).try_into().expect("B elements");
        for (d, &v) in dst.iter_mut().zip(src) {
            d.write(v);
        }
    } else {
        for (d, &v) in dst[..len].iter_mut().zip(src) {
            d.write(v);
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;

    fn reference(conv: &Conv2d, x: Tensor<4>) -> Vec<f32> {
        conv.forward(x).into_data().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn depthwise_matches_burns_convolution() {
        let dev = Device::flex();
        for &(c, h, w, k, s, bias) in &[
            (3, 17, 19, 3, 1, true),
            (4, 112, 112, 7, 1, true),
            (5, 56, 56, 5, 2, false),
            (2, 28, 28, 7, 2, true),
            (3, 14, 14, 3, 2, true),
            (2, 7, 7, 5, 1, true),
            (2, 9, 33, 7, 2, false),
            (1, 5, 5, 5, 1, true),
            (3, 11, 13, 3, 3, true),
            (2, 12, 12, 5, 3, false),
        ] {
            let conv = Conv2dConfig::new([c, c], [k, k])
                .with_groups(c)
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
                .with_bias(bias)
                .init(&dev);
            let x = Tensor::<4>::random([2, c, h, w], burn::tensor::Distribution::Default, &dev);
            let fast = depthwise_conv2d(&conv, &x, Act::Identity)
                .expect("a depthwise convolution on flex");
            assert_eq!(fast.dims(), conv.forward(x.clone()).dims());
            let fast = fast.into_data().try_into_vec::<f32>().unwrap();
            let want = reference(&conv, x);
            for (i, (a, b)) in fast.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "c{c} {h}x{w} k{k} s{s}: element {i}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn unpadded_depthwise_matches() {
        let dev = Device::flex();
        let conv = Conv2dConfig::new([3, 3], [3, 3])
            .with_groups(3)
            .with_stride([2, 2])
            .init(&dev);
        let x = Tensor::<4>::random([1, 3, 10, 9], burn::tensor::Distribution::Default, &dev);
        let fast =
            depthwise_conv2d(&conv, &x, Act::Identity).expect("a depthwise convolution on flex");
        let fast = fast.into_data().try_into_vec::<f32>().unwrap();
        let want = reference(&conv, x);
        assert_eq!(fast.len(), want.len());
        for (a, b) in fast.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn every_small_geometry_matches() {
        let dev = Device::flex();
        for k in [1usize, 2, 3, 5, 7] {
            for stride in 1..=3 {
                for pad in 0..=k / 2 + 1 {
                    for (h, w) in [(1, 1), (3, 8), (8, 3), (9, 17), (18, 40), (33, 70)] {
                        if h + 2 * pad < k || w + 2 * pad < k {
                            continue;
                        }
                        let conv = Conv2dConfig::new([2, 2], [k, k])
                            .with_groups(2)
                            .with_stride([stride, stride])
                            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                            .init(&dev);
                        let x = Tensor::<4>::random(
                            [1, 2, h, w],
                            burn::tensor::Distribution::Default,
                            &dev,
                        );
                        let fast =
                            depthwise_conv2d(&conv, &x, Act::Identity).expect("depthwise on flex");
                        let fast = fast.into_data().try_into_vec::<f32>().unwrap();
                        let want = reference(&conv, x);
                        assert_eq!(fast.len(), want.len(), "k{k} s{stride} p{pad} {h}x{w}");
                        for (a, b) in fast.iter().zip(&want) {
                            assert!(
                                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                                "k{k} s{stride} p{pad} {h}x{w}: {a} vs {b}"
                            );
                        }
                    }
                }
            }
        }
    }

    pub use crate::testing::close;

    fn activated(act: Act, y: Tensor<4>) -> Tensor<4> {
        act.on_tensor(y)
    }

    #[test]
    fn depthwise_fuses_each_activation() {
        let dev = Device::flex();
        let conv = Conv2dConfig::new([4, 4], [5, 5])
            .with_groups(4)
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .init(&dev);
        let x = Tensor::<4>::random([2, 4, 20, 20], burn::tensor::Distribution::Default, &dev)
            .mul_scalar(8.0);
        for act in [Act::Relu, Act::HSwish] {
            let fast = depthwise_conv2d(&conv, &x, act).expect("depthwise on flex");
            close(
                fast,
                activated(act, conv.forward(x.clone())),
                1e-5,
                &format!("{act:?}"),
            );
        }
    }

    #[test]
    fn other_convolutions_and_autodiff_inputs_are_left_to_burn() {
        let dev = Device::flex();
        let dense = Conv2dConfig::new([4, 4], [3, 3]).init(&dev);
        let x = Tensor::<4>::zeros([1, 4, 8, 8], &dev);
        assert!(depthwise_conv2d(&dense, &x, Act::Identity).is_none());
        let ad = dev.autodiff();
        let dw = Conv2dConfig::new([4, 4], [3, 3]).with_groups(4).init(&ad);
        let x = Tensor::<4>::zeros([1, 4, 8, 8], &ad);
        assert!(depthwise_conv2d(&dw, &x, Act::Identity).is_none());
    }
}
