//! Helpers for the tests of this crate and of the crates built on it (feature
//! `test-support`): comparing tensors, running on a pool of a chosen size.

use burn::prelude::*;

/// Asserts `got` equals `want` within `tol` relative to `1 + |want|`, element by element.
pub fn close<const D: usize>(got: Tensor<D>, want: Tensor<D>, tol: f32, what: &str) {
    assert_eq!(got.dims(), want.dims(), "{what}");
    let got = got.into_data().try_into_vec::<f32>().unwrap();
    let want = want.into_data().try_into_vec::<f32>().unwrap();
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: element {i}: {a} vs {b}"
        );
    }
}

/// `f()` on a fresh rayon pool of `threads` threads.
pub fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
    pool.expect("a rayon pool").install(f)
}
