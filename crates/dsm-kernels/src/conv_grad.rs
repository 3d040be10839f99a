//! Gradients of a dense 2-D convolution (one group, square kernel and stride, symmetric
//! padding, no dilation) on f32 NCHW slices, both as matrix products per image:
//! - input: `dcol = W^T dY` (`[cin k k, pixels]`), scattered back by col2im;
//! - weight: `dW = sum_n dY_n im2col(X_n)^T`.
//!
//! For stride-1 "same" convolutions (`2 pad + 1 = k`, the NAS-Bench-201 and ResNet 3x3 ones)
//! every kernel tap of im2col and col2im is one flat shift of the whole plane plus zeroed
//! wrap-around columns, instead of one short copy per output row; a 1x1 stride-1
//! convolution uses the input itself as its im2col matrix. The im2col buffer is per thread
//! and reused across images, layers and steps.
//!
//! Burn 0.22's default backward (used by `flex`) computes the input gradient as a direct
//! transposed convolution and the weight gradient as a convolution of the batch-swapped input
//! with the batch-swapped output gradient, with full layout copies around both; see
//! `docs/PERFORMANCE.md`.

use rayon::prelude::*;

use std::mem::MaybeUninit;

use crate::kernels::{par_zeroed, written_by};
use crate::simd::vectorised;

/// Shapes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub n: usize,
    pub cin: usize,
    pub cout: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvShape {
    pub fn oh(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }

    pub fn ow(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }

    pub fn rows(&self) -> usize {
        self.cin * self.k * self.k
    }

    pub fn pixels(&self) -> usize {
        self.oh() * self.ow()
    }

    /// Output columns `ow` whose input column `ow * stride + kw - pad` lies in `[0, len)`.
    fn valid(&self, kw: usize, len: usize, out: usize) -> (usize, usize) {
        let s = self.stride;
        let lo = self.pad.saturating_sub(kw).div_ceil(s);
        // ow * s + kw - pad <= len - 1  <=>  ow <= (len - 1 + pad - kw) / s
        let hi = if len + self.pad > kw {
            ((len - 1 + self.pad - kw) / s + 1).min(out)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

impl ConvShape {
    /// Stride 1 and `2 pad + 1 = k`: the output plane is the input plane, and every kernel
    /// tap is a flat shift of it (see [`SameTap`]).
    pub fn is_same(&self) -> bool {
        self.stride == 1 && 2 * self.pad + 1 == self.k
    }

    /// A 1x1 convolution with stride 1 and no padding: im2col is the input itself.
    fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }
}

/// One kernel tap `(kh, kw)` of a "same" convolution ([`ConvShape::is_same`]). Output pixel
/// `d = oy w + ox` reads input pixel `d + shift`; on the flat range `lo..hi` that index lies
/// inside the plane (outside it the tap reads padding), and within the range only the
/// `wrap` columns (the left ones when the tap looks left, the right ones when it looks
/// right) cross a row edge and must read zero instead.
struct SameTap {
    shift: isize,
    lo: usize,
    hi: usize,
    wrap: std::ops::Range<usize>,
}

impl SameTap {
    /// The `k k` taps in im2col's row order (`kh k + kw`).
    fn all(c: &ConvShape) -> Vec<Self> {
        (0..c.k * c.k)
            .map(|t| Self::new(c, t / c.k, t % c.k))
            .collect()
    }

    fn new(c: &ConvShape, kh: usize, kw: usize) -> Self {
        let (h, w, pad) = (c.h as isize, c.w as isize, c.pad as isize);
        let (dy, dx) = (kh as isize - pad, kw as isize - pad);
        let (oy0, oy1) = ((-dy).max(0), (h - dy).min(h));
        let p = h * w;
        let lo = (oy0 * w + (-dx).max(0)).clamp(0, p);
        let hi = (oy1 * w - dx.max(0)).clamp(lo, p);
        let wrap = if dx < 0 {
            0..(-dx).min(w)
        } else {
            (w - dx).max(0)..w
        };
        Self {
            shift: dy * w + dx,
            lo: lo as usize,
            hi: hi as usize,
            wrap: wrap.start as usize..wrap.end as usize,
        }
    }

    /// The input range that `lo..hi` reads.
    #[inline(always)]
    fn source(&self) -> std::ops::Range<usize> {
        if self.lo == self.hi {
            return 0..0; // the tap reads only padding
        }
        let start = (self.lo as isize + self.shift) as usize;
        start..start + (self.hi - self.lo)
    }

    /// Zeroes the wrapped columns of every row of `row` (a plane of width `w`).
    #[inline(always)]
    fn clear_wrap(&self, row: &mut [f32], w: usize) {
        // Column by column (usually one): strided stores, not a `memset` call per row.
        for i in self.wrap.clone() {
            for v in row.iter_mut().skip(i).step_by(w) {
                *v = 0.0;
            }
        }
    }
}

vectorised! {
    /// `col[(ci k + kh) k + kw][oh ow_n + ow] = x[ci][oh s + kh - pad][ow s + kw - pad]` (0
    /// outside), with `relu`: of `relu(x)`.
    pub fn im2col(x: &[f32], c: &ConvShape, col: &mut [f32], relu: bool) {
        let copy = |dst: &mut [f32], src: &[f32]| {
            if relu {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = s.max(0.0);
                }
            } else {
                dst.copy_from_slice(src);
            }
        };
        if c.is_same() {
            // One flat copy per tap, then the padding and the wrapped columns set to zero.
            let (p, taps) = (c.h * c.w, SameTap::all(c));
            for (plane, rows) in x.chunks_exact(p).zip(col.chunks_exact_mut(c.k * c.k * p)) {
                for (tap, row) in taps.iter().zip(rows.chunks_exact_mut(p)) {
                    row[..tap.lo].fill(0.0);
                    row[tap.hi..].fill(0.0);
                    copy(&mut row[tap.lo..tap.hi], &plane[tap.source()]);
                    tap.clear_wrap(row, c.w);
                }
            }
            return;
        }
        let (oh_n, ow_n, k) = (c.oh(), c.ow(), c.k);
        let p = oh_n * ow_n;
        for ci in 0..c.cin {
            let plane = &x[ci * c.h * c.w..(ci + 1) * c.h * c.w];
            for kh in 0..k {
                let (oy0, oy1) = c.valid(kh, c.h, oh_n);
                for kw in 0..k {
                    let (ox0, ox1) = c.valid(kw, c.w, ow_n);
                    let r = (ci * k + kh) * k + kw;
                    let row = &mut col[r * p..(r + 1) * p];
                    row.fill(0.0);
                    for oy in oy0..oy1 {
                        let iy = oy * c.stride + kh - c.pad;
                        let src = &plane[iy * c.w..(iy + 1) * c.w];
                        let dst = &mut row[oy * ow_n..(oy + 1) * ow_n];
                        if c.stride == 1 {
                            let ix0 = ox0 + kw - c.pad;
                            copy(&mut dst[ox0..ox1], &src[ix0..ix0 + (ox1 - ox0)]);
                        } else {
                            for ox in ox0..ox1 {
                                let v = src[ox * c.stride + kw - c.pad];
                                dst[ox] = if relu { v.max(0.0) } else { v };
                            }
                        }
                    }
                }
            }
        }
    }
}

vectorised! {
    /// `dx[ci][oh s + kh - pad][ow s + kw - pad] += col[(ci k + kh) k + kw][oh ow_n + ow]`
    /// (`col` is scratch: its wrapped columns are zeroed on the "same" path).
    fn col2im(col: &mut [f32], c: &ConvShape, dx: &mut [f32]) {
        if c.is_same() {
            // One flat accumulation per tap, with the wrapped columns zeroed first.
            let (p, taps) = (c.h * c.w, SameTap::all(c));
            for (plane, rows) in dx
                .chunks_exact_mut(p)
                .zip(col.chunks_exact_mut(c.k * c.k * p))
            {
                for (tap, row) in taps.iter().zip(rows.chunks_exact_mut(p)) {
                    tap.clear_wrap(row, c.w);
                    for (d, s) in plane[tap.source()].iter_mut().zip(&row[tap.lo..tap.hi]) {
                        *d += *s;
                    }
                }
            }
            return;
        }
        let (oh_n, ow_n, k) = (c.oh(), c.ow(), c.k);
        let p = oh_n * ow_n;
        for ci in 0..c.cin {
            let plane = &mut dx[ci * c.h * c.w..(ci + 1) * c.h * c.w];
            for kh in 0..k {
                let (oy0, oy1) = c.valid(kh, c.h, oh_n);
                for kw in 0..k {
                    let (ox0, ox1) = c.valid(kw, c.w, ow_n);
                    let r = (ci * k + kh) * k + kw;
                    let row = &col[r * p..(r + 1) * p];
                    for oy in oy0..oy1 {
                        let iy = oy * c.stride + kh - c.pad;
                        let dst = &mut plane[iy * c.w..(iy + 1) * c.w];
                        let src = &row[oy * ow_n..(oy + 1) * ow_n];
                        if c.stride == 1 {
                            let ix0 = ox0 + kw - c.pad;
                            for (d, s) in dst[ix0..ix0 + (ox1 - ox0)].iter_mut().zip(&src[ox0..ox1]) {
                                *d += *s;
                            }
                        } else {
                            for ox in ox0..ox1 {
                                dst[ox * c.stride + kw - c.pad] += src[ox];
                            }
                        }
                    }
                }
            }
        }
    }
}

thread_local! {
    /// Per-thread im2col scratch, reused across images, layers and steps.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch buffer of at least `len` elements (contents
/// unspecified: `f` must write before it reads).
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        // Re-entered on this thread (rayon work stealing inside `f`): a fresh buffer.
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// The destination of [`matmul`].
enum Dst<'a> {
    /// Overwritten (it may hold anything before).
    Uninit(&'a mut [MaybeUninit<f32>]),
    /// Added to.
    Accumulate(&'a mut [f32]),
}

impl<'a> Dst<'a> {
    /// An initialised destination, overwritten.
    fn over(dst: &'a mut [f32]) -> Self {
        // SAFETY: the same memory seen as possibly uninitialised; the product only writes
        // f32 values into it, so it stays initialised for the owner.
        Dst::Uninit(unsafe { &mut *(dst as *mut [f32] as *mut [MaybeUninit<f32>]) })
    }
}

/// `dst[m x n] (+)= lhs[m x k] rhs[k x n]`, each given by its row and column strides.
fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: Dst<'_>,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    let (dst, len, accumulate) = match dst {
        Dst::Uninit(d) => (d.as_mut_ptr().cast::<f32>(), d.len(), false),
        Dst::Accumulate(d) => (d.as_mut_ptr(), d.len(), true),
    };
    assert!(len >= m * n, "matmul: destination too small");
    assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(n == 0 || k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the three asserts above keep every index the product reads or writes inside
    // its slice; `dst` does not alias `lhs` or `rhs` (a `&mut` next to two `&`); gemm only
    // writes an uninitialised destination (`accumulate` false: it does not read it).
    unsafe {
        gemm_raw(
            (m, n, k),
            (dst, n),
            accumulate,
            (lhs.as_ptr(), lhs_rs, lhs_cs),
            (rhs.as_ptr(), rhs_rs, rhs_cs),
        );
    }
}

/// One single-threaded product `dst[m x n] (+)= lhs[m x k] rhs[k x n]` on pointers, `dst`
/// with its row stride (columns contiguous), `lhs` and `rhs` with their row and column
/// strides.
///
/// # Safety
/// Every element the product reads (`lhs`, `rhs`, and `dst` when `accumulate`) or writes
/// (`dst`) at those strides must be in bounds; `dst` must not overlap `lhs` or `rhs`, and
/// no other thread may touch its elements meanwhile.
pub unsafe fn gemm_raw(
    (m, n, k): (usize, usize, usize),
    (dst, dst_rs): (*mut f32, usize),
    accumulate: bool,
    (lhs, lhs_rs, lhs_cs): (*const f32, usize, usize),
    (rhs, rhs_rs, rhs_cs): (*const f32, usize, usize),
) {
    // SAFETY: the caller's guarantees are gemm's.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The convolution itself, `y_n = W im2col(x_n)` per image: `[n, cout, oh, ow]` from the
/// input `[n, cin, h, w]` (its ReLU with `relu`) and the weight `[cout, cin, k, k]`.
pub fn forward(x: &[f32], weight: &[f32], c: &ConvShape, relu: bool) -> Vec<f32> {
    let (rows, p) = (c.rows(), c.pixels());
    let xlen = c.cin * c.h * c.w;
    if rows == 0 {
        return vec![0.0; c.n * c.cout * p];
    }
    // SAFETY: the product (not accumulated, `rows > 0`) writes all `cout x p` elements of
    // the image's output.
    unsafe {
        written_by(c.n * c.cout * p, c.cout * p, |i, y| {
            // W [cout, rows] times col [rows, p].
            with_columns(&x[i * xlen..(i + 1) * xlen], c, relu, |col| {
                matmul(
                    (c.cout, p, rows),
                    Dst::Uninit(y),
                    weight,
                    (rows, 1),
                    col,
                    (p, 1),
                );
            });
        })
    }
}

/// `f(columns)` with image `x`'s im2col columns (`[rows, pixels]`, of its ReLU with
/// `relu`) in this thread's scratch, or `x` itself for a 1x1 convolution without ReLU.
fn with_columns<R>(x: &[f32], c: &ConvShape, relu: bool, f: impl FnOnce(&[f32]) -> R) -> R {
    if c.is_pointwise() && !relu {
        f(x)
    } else {
        with_scratch(c.rows() * c.pixels(), |col| {
            im2col(x, c, col, relu);
            f(col)
        })
    }
}

/// Gradient of the input `[n, cin, h, w]` from the weight `[cout, cin, k, k]` and the output
/// gradient `[n, cout, oh, ow]`.
pub fn x_grad(weight: &[f32], dy: &[f32], c: &ConvShape) -> Vec<f32> {
    let (rows, p) = (c.rows(), c.pixels());
    let dylen = c.cout * p;
    par_zeroed(c.n * c.cin * c.h * c.w, c.cin * c.h * c.w, |i, dx| {
        let dy = &dy[i * dylen..(i + 1) * dylen];
        // W^T [rows, cout] (W is [cout, rows] row-major) times dY [cout, p].
        let product = |col: &mut [f32]| {
            matmul(
                (rows, p, c.cout),
                Dst::over(col),
                weight,
                (1, rows),
                dy,
                (p, 1),
            );
        };
        if c.is_pointwise() {
            product(dx);
        } else {
            with_scratch(rows * p, |col| {
                product(col);
                col2im(col, c, dx);
            });
        }
    })
}

/// Gradient of the weight `[cout, cin, k, k]` from the input `[n, cin, h, w]` (its ReLU
/// with `relu`, as the forward saw it) and the output gradient `[n, cout, oh, ow]`.
pub fn weight_grad(x: &[f32], dy: &[f32], c: &ConvShape, relu: bool) -> Vec<f32> {
    let (rows, p) = (c.rows(), c.pixels());
    let (xlen, dylen) = (c.cin * c.h * c.w, c.cout * p);
    // Partial sums over fixed groups of images, added in group order: the result depends on
    // the batch alone, not on the number of threads or on how rayon splits the work.
    let per_group = c.n.div_ceil(WEIGHT_GRAD_GROUPS).max(1);
    let partials: Vec<Vec<f32>> = x
        .par_chunks(per_group * xlen)
        .zip(dy.par_chunks(per_group * dylen))
        .map(|(xs, dys)| {
            // dW^T [rows, cout] = col [rows, p] times dY^T [p, cout]: the large operand (col)
            // is read row-major; transposed into dW below.
            let mut dwt = vec![0f32; rows * c.cout];
            for (x, dy) in xs.chunks(xlen).zip(dys.chunks(dylen)) {
                with_columns(x, c, relu, |col| {
                    matmul(
                        (rows, c.cout, p),
                        Dst::Accumulate(&mut dwt),
                        col,
                        (p, 1),
                        dy,
                        (1, p),
                    );
                });
            }
            let mut dw = vec![0f32; c.cout * rows];
            for r in 0..rows {
                for co in 0..c.cout {
                    dw[co * rows + r] = dwt[r * c.cout + co];
                }
            }
            dw
        })
        .collect();
    let mut dw = vec![0f32; c.cout * rows];
    for part in &partials {
        for (a, b) in dw.iter_mut().zip(part) {
            *a += b;
        }
    }
    dw
}

/// Number of image groups the weight gradient is split into (fixed for determinism).
const WEIGHT_GRAD_GROUPS: usize = 8;

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Direct definitions of the convolution and its two gradients: `(y, dx, dw)`.
    pub fn naive(x: &[f32], w: &[f32], dy: &[f32], c: &ConvShape) -> [Vec<f32>; 3] {
        let (oh, ow, k) = (c.oh(), c.ow(), c.k);
        let mut y = vec![0f32; dy.len()];
        let mut dx = vec![0f32; x.len()];
        let mut dw = vec![0f32; w.len()];
        for b in 0..c.n {
            for co in 0..c.cout {
                for oy in 0..oh {
                    for xo in 0..ow {
                        let yi = ((b * c.cout + co) * oh + oy) * ow + xo;
                        let g = dy[yi];
                        for ci in 0..c.cin {
                            for kh in 0..k {
                                for kw in 0..k {
                                    let iy = (oy * c.stride + kh) as isize - c.pad as isize;
                                    let ix = (xo * c.stride + kw) as isize - c.pad as isize;
                                    if iy < 0 || ix < 0 || iy >= c.h as isize || ix >= c.w as isize
                                    {
                                        continue;
                                    }
                                    let xi =
                                        ((b * c.cin + ci) * c.h + iy as usize) * c.w + ix as usize;
                                    let wi = ((co * c.cin + ci) * k + kh) * k + kw;
                                    y[yi] += x[xi] * w[wi];
                                    dx[xi] += w[wi] * g;
                                    dw[wi] += x[xi] * g;
                                }
                            }
                        }
                    }
                }
            }
        }
        [y, dx, dw]
    }

    pub fn values(n: usize, seed: u64) -> Vec<f32> {
        (0..n as u64)
            .map(|i| (((i + seed) * 2_654_435_761 % 1000) as f32) / 500.0 - 1.0)
            .collect()
    }

    pub use crate::testing::on_threads;

    #[test]
    fn the_weight_gradient_does_not_depend_on_the_thread_count() {
        let c = ConvShape {
            n: 13,
            cin: 3,
            cout: 4,
            h: 9,
            w: 9,
            k: 3,
            stride: 1,
            pad: 1,
        };
        let x = values(c.n * c.cin * c.h * c.w, 4);
        let dy = values(c.n * c.cout * c.oh() * c.ow(), 5);
        let on = |threads: usize| on_threads(threads, || weight_grad(&x, &dy, &c, false));
        let one = on(1);
        assert_eq!(one, on(3));
        assert_eq!(one, on(8));
    }

    #[test]
    fn gradients_match_their_definition() {
        for &(n, cin, cout, h, w, k, stride, pad) in &[
            (2, 3, 4, 8, 8, 3, 1, 1),
            (3, 2, 5, 9, 7, 3, 2, 1),
            (1, 4, 2, 5, 6, 1, 1, 0),
            (2, 2, 3, 7, 7, 1, 2, 0),
            (1, 1, 1, 4, 4, 5, 1, 2),
            (2, 3, 2, 6, 10, 3, 3, 2),
            // "Same" convolutions whose kernel is as wide as, or wider than, the image.
            (2, 2, 3, 2, 3, 5, 1, 2),
            (1, 2, 2, 1, 1, 3, 1, 1),
            (2, 3, 2, 3, 1, 3, 1, 1),
            (1, 1, 2, 1, 4, 7, 1, 3),
            (2, 2, 2, 5, 4, 7, 1, 3),
        ] {
            let c = ConvShape {
                n,
                cin,
                cout,
                h,
                w,
                k,
                stride,
                pad,
            };
            let x = values(n * cin * h * w, 1);
            let wt = values(cout * cin * k * k, 2);
            let dy = values(n * cout * c.oh() * c.ow(), 3);
            let [y0, dx0, dw0] = naive(&x, &wt, &dy, &c);
            let y = forward(&x, &wt, &c, false);
            for (i, (a, b)) in y.iter().zip(&y0).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{c:?}: y[{i}] {a} vs {b}"
                );
            }
            // With the ReLU fused into the layout: the definitions on relu(x).
            let positive: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
            let [y1, _, dw1] = naive(&positive, &wt, &dy, &c);
            let y = forward(&x, &wt, &c, true);
            let dw = weight_grad(&x, &dy, &c, true);
            for (a, b) in y.iter().zip(&y1).chain(dw.iter().zip(&dw1)) {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{c:?} relu: {a} vs {b}"
                );
            }
            let dx = x_grad(&wt, &dy, &c);
            let dw = weight_grad(&x, &dy, &c, false);
            for (a, b) in dx.iter().zip(&dx0).chain(dw.iter().zip(&dw0)) {
                assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{c:?}: {a} vs {b}");
            }
        }
    }
}
