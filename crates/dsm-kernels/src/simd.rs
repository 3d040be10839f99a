//! Loops around the kernels (BatchNorm's passes, the convolutions' layouts and stores,
//! im2col / col2im, pooling, the depthwise kernel's layout) compiled for the widest vector
//! instructions this CPU has, chosen at run time: the crate is built for the baseline
//! x86-64 target (SSE2), on which such loops stay narrow or scalar.
//!
//! [`level`] is the crate's one CPU-feature dispatcher: the [`vectorised!`] loops, the
//! direct convolution's and the depthwise kernel's hand-written variants all choose by it
//! (gemm's and Burn's own code choose for themselves).
//!
//! [`vectorised!`] defines a function whose body is compiled for AVX-512, for AVX2 and FMA
//! and for the baseline, and runs the widest variant this CPU has. The compiler may not
//! reassociate floating-point operations or fuse a multiply with an add on its own, so a
//! body computes the same values in every variant.

/// The widest instruction set detected on this CPU (cached by the standard library).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The target's baseline.
    Baseline,
    /// AVX2 and FMA.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Avx2,
    /// AVX-512 (F, BW, VL, DQ) with AVX2 and FMA.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Avx512,
}

/// This CPU's [`Level`] (in unit tests, the one `tests::at_level` runs under).
#[inline]
pub fn level() -> Level {
    #[cfg(test)]
    if let Some(forced) = tests::FORCED.with(|f| f.get()) {
        return forced.min(detected());
    }
    detected()
}

fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq") {
            return Level::Avx512;
        }
        if has!("avx2") && has!("fma") {
            return Level::Avx2;
        }
    }
    Level::Baseline
}

/// `fn name(args) -> ret { body }` whose body is compiled three times (for AVX-512, for
/// AVX2 and FMA, and for the baseline) and run in the widest variant this CPU has. The
/// arguments are identifiers or tuples of them; the body is inlined into each variant, so
/// the loops in it (and in the `#[inline(always)]` functions and closures it calls) are
/// vectorised for that instruction set.
macro_rules! vectorised {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:tt: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }
            match $crate::simd::level() {
                #[cfg(target_arch = "x86_64")]
                $crate::simd::Level::Avx512 => {
                    // SAFETY: the features this variant is compiled with were detected on
                    // this CPU.
                    unsafe { avx512($($arg),*) }
                }
                #[cfg(target_arch = "x86_64")]
                $crate::simd::Level::Avx2 => {
                    // SAFETY: the features this variant is compiled with were detected on
                    // this CPU.
                    unsafe { avx2($($arg),*) }
                }
                _ => body($($arg),*),
            }
        }
    };
}
pub(crate) use vectorised;

#[cfg(test)]
pub mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// The level [`level`] reports on this thread (capped at the detected one).
        pub(super) static FORCED: Cell<Option<Level>> = const { Cell::new(None) };
    }

    /// `f()` on a one-thread rayon pool whose thread runs every [`vectorised!`] function
    /// in its variant for `level` (or the widest this CPU has, if lower).
    pub fn at_level<R: Send>(level: Level, f: impl FnOnce() -> R + Send) -> R {
        crate::conv_grad::tests::on_threads(1, || {
            FORCED.with(|c| c.set(Some(level)));
            f()
        })
    }

    /// Every level this CPU runs, widest first.
    pub fn levels() -> Vec<Level> {
        [Level::Avx512, Level::Avx2, Level::Baseline]
            .into_iter()
            .filter(|&l| l <= detected())
            .collect()
    }

    vectorised! {
        fn dot(a: &[f32], b: &[f32]) -> f32 {
            let mut acc = [0f32; 16];
            for (x, y) in a.as_chunks::<16>().0.iter().zip(b.as_chunks::<16>().0) {
                for l in 0..16 {
                    acc[l] += x[l] * y[l];
                }
            }
            acc.iter().sum()
        }
    }

    #[test]
    fn every_variant_computes_the_same_values() {
        let a: Vec<f32> = (0..4096)
            .map(|i| ((i * 37) % 101) as f32 / 7.0 - 3.0)
            .collect();
        let b: Vec<f32> = (0..4096)
            .map(|i| ((i * 13) % 89) as f32 / 11.0 - 4.0)
            .collect();
        for l in levels() {
            assert_eq!(at_level(l, level), l);
        }
        let want = at_level(Level::Baseline, || dot(&a, &b));
        for level in levels() {
            assert_eq!(
                at_level(level, || dot(&a, &b)).to_bits(),
                want.to_bits(),
                "{level:?}"
            );
        }
    }
}
