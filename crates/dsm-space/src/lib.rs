//! # dsm-space: search spaces for neural architecture search
//!
//! The bottom layer of the `dsm-nas` workspace. It defines what an architecture is, how it is
//! edited, encoded, printed and parsed, and what it costs, without any deep-learning
//! dependency:
//!
//! - [`SearchSpace`]: the abstraction every searcher works on (sample, list positions and
//!   choices, apply [`Edit`]s with value semantics, encode, parse/format, validate, cost);
//! - [`Evaluator`]: what scores an architecture (a benchmark table, a predictor, training);
//! - [`Nb201Space`] / [`Nb201Cell`]: the 15,625 NAS-Bench-201 cells, with the benchmark's
//!   canonical strings, 6-digit op codes and exact params/FLOPs;
//! - [`MbV3Space`] / [`MbV3Arch`]: the Once-for-All MobileNetV3 space of the DSM-NAS ImageNet
//!   results, with the legacy `depths:ks:ratios` strings, layer codes and an exact MAdds /
//!   params model.
//!
//! ```
//! use dsm_space::{MbV3Arch, MbV3Space, Nb201Cell};
//!
//! let cell: Nb201Cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|".parse()?;
//! assert_eq!(cell.params(100), 1_294_356);
//!
//! let dsm_nas: MbV3Arch = "3,3,3,4,4:5,5,7,0,5,5,7,0,5,7,5,0,5,5,5,7,5,7,7,7:6,6,3,0,6,4,6,0,6,6,6,0,6,6,6,4,6,6,4,4".parse()?;
//! let cost = MbV3Space::new(1.2)?.cost_at(&dsm_nas, 224)?;
//! assert_eq!(cost.madds, 586_320_560);
//! # Ok::<(), dsm_space::SpaceError>(())
//! ```
//!
//! ## MAdds of the published MobileNets
//! The DSM-NAS paper prints 597 M MAdds for `dsm_nas`; the reference code's own counter gives
//! 586.32 M (586,320,560) for the same architecture at 224 x 224, and that is what
//! [`MbV3Space::cost_at`] reproduces exactly (every convolution including the squeeze-excite
//! 1x1 convs, classifier excluded). `madds_with_classifier` adds the classifier's
//! multiply-accumulates.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
pub mod io;
pub mod mbv3;
pub mod nb201;
pub mod output;
mod space;
mod subnet;

pub use error::SpaceError;
pub use mbv3::{MbLayer, MbV3Arch, MbV3Cost, MbV3Space};
pub use nb201::{Nb201Cell, Nb201Op, Nb201Space};
pub use space::{
    CostMetrics, Edit, Evaluation, Evaluator, MAX_SPACE_DRAWS, Observed, ProxyScore, ProxyScorer,
    SearchSpace,
};
pub use subnet::{MbV3ResolutionSpace, MbV3Subnet, OFA_RESOLUTIONS};

/// The first value of `items` that repeats an earlier one, as (index of the earlier, index of
/// the repeat): every list of settings (methods, seeds, cells, proxies) refuses repeats.
///
/// ```
/// assert_eq!(dsm_space::first_repeat(&[3, 1, 4, 1, 5]), Some((1, 3)));
/// assert_eq!(dsm_space::first_repeat(&["a", "b"]), None);
/// ```
pub fn first_repeat<T: PartialEq>(items: &[T]) -> Option<(usize, usize)> {
    (1..items.len()).find_map(|i| {
        items[..i]
            .iter()
            .position(|x| *x == items[i])
            .map(|f| (f, i))
    })
}
