//! Zero-cost proxies computed by our Burn models: scores of an *untrained* network from one
//! batch, in well under a second, for any model a [`ProxyBuilder`] builds (NAS-Bench-201
//! cells with [`Nb201Builder`]).
//!
//! The definitions are FreeREA's and NAS-Bench-Suite-Zero's (`../shared/data/zc-nb201`):
//! every network is initialised Kaiming-normal (fan_out, ReLU gain; biases 0; BatchNorm
//! weight 1, bias 0) `inits` times from seeds `seed, seed + 1, ...`, each proxy computed
//! after every initialisation and averaged.
//! - [`ZcProxy::Synflow`]: `sum |w * dR/dw|` over convolution and linear weights, `R` the
//!   sum of the logits for an all-ones input (batch 1), every parameter replaced by its
//!   absolute value and BatchNorm bypassed. Its magnitudes reach 6e66 (FreeREA, CIFAR-10), beyond `f32`: with
//!   BatchNorm bypassed and positive weights every ReLU passes its input, so `R` is linear
//!   in the input. A first pass measures `R` (from an input of 1e-20, or 1e-37 for the
//!   deepest cells; `R` up to 3e75); the second runs the input scaled by
//!   `R^-1/2` and differentiates `R^-1/2 * R`, so activations and gradients stay within
//!   `f32`, and the gradients are scaled back (by `R`) and summed in `f64` (exact up to
//!   `f32` rounding);
//! - [`ZcProxy::Logsynflow`]: FreeREA's variant, `sum |w * ln(1 + |dR/dw|)|`, same pass;
//! - [`ZcProxy::Naswot`]: `ln |det K|`, `K = C C^T + (1 - C)(1 - C)^T` for the binary codes
//!   `C` (`input > 0`) of every ReLU's input over the batch (BatchNorm on batch statistics,
//!   as in training mode), `K` accumulated exactly and its log-determinant taken in `f64`.
//!   A cell without a path from input to output gives a singular `K`: `-inf`, FreeREA's
//!   value too ([`ZcValues::score`] ranks it 0, below every connected cell);
//! - [`ZcProxy::GradNorm`]: `sum_l ||dL/dW_l||_2` over convolution and linear weights, `L`
//!   the cross-entropy of the batch (Abdelfattah et al., ICLR 2021).
//!
//! ```no_run
//! use burn::prelude::*;
//! use dsm_train::{Nb201Builder, data};
//! use dsm_train::zero_cost::{ZcComputer, ZcConfig, ZcProxy};
//!
//! let d = data::cifar10_5k()?;
//! let config = ZcConfig { proxies: vec![ZcProxy::Logsynflow, ZcProxy::Naswot], ..ZcConfig::default() };
//! let zc = ZcComputer::new(Nb201Builder, &d.train, config, Device::flex())?;
//! let cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
//! let v = zc.compute(&cell)?;
//! println!("logsynflow {} naswot {} in {:.2} s", v.values[0], v.values[1], v.wall_s);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use dsm_miner::GuideConfig;
use dsm_models::{Nb201Network, Probe, Probed};
use dsm_space::{Nb201Cell, ProxyScore, ProxyScorer};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::ImageSet;
use crate::{Nb201Builder, TrainError};

/// A zero-cost proxy our models compute (higher is better for each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZcProxy {
    /// SynFlow.
    Synflow,
    /// FreeREA's LogSynFlow.
    Logsynflow,
    /// NASWOT's activation-code log-determinant.
    Naswot,
    /// The sum of the weight gradients' norms.
    GradNorm,
}

/// Every proxy, in the order of their documentation.
pub const ZC_PROXIES: [ZcProxy; 4] = [
    ZcProxy::Synflow,
    ZcProxy::Logsynflow,
    ZcProxy::Naswot,
    ZcProxy::GradNorm,
];

impl ZcProxy {
    /// Its name (`synflow`, `logsynflow`, `naswot`, `grad_norm`).
    pub fn name(self) -> &'static str {
        match self {
            ZcProxy::Synflow => "synflow",
            ZcProxy::Logsynflow => "logsynflow",
            ZcProxy::Naswot => "naswot",
            ZcProxy::GradNorm => "grad_norm",
        }
    }
}

impl fmt::Display for ZcProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ZcProxy {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self, TrainError> {
        ZC_PROXIES
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| TrainError::Input {
                what: "--proxies".into(),
                reason: format!(
                    "unknown proxy {s:?}; expected synflow, logsynflow, naswot or grad_norm"
                ),
            })
    }
}

/// A comma-separated list of proxy names (`logsynflow,naswot`), in order; repeats are
/// refused by [`ZcConfig::check`].
///
/// ```
/// use dsm_train::zero_cost::{parse_proxies, ZcProxy};
/// assert_eq!(parse_proxies("synflow,grad_norm")?, [ZcProxy::Synflow, ZcProxy::GradNorm]);
/// assert!(parse_proxies("jacov").is_err());
/// # Ok::<(), dsm_train::TrainError>(())
/// ```
pub fn parse_proxies(list: &str) -> Result<Vec<ZcProxy>, TrainError> {
    list.split(',').map(|p| p.trim().parse()).collect()
}

/// What to compute, as given (unchecked): [`ZcConfig::check`] before use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZcConfig {
    /// The proxies, in output order (each once).
    pub proxies: Vec<ZcProxy>,
    /// Initialisations averaged (3).
    pub inits: usize,
    /// Images of the batch (64).
    pub batch: usize,
    /// The seed of the batch's draw and of the first initialisation (0).
    pub seed: u64,
}

impl Default for ZcConfig {
    fn default() -> Self {
        Self {
            proxies: vec![ZcProxy::Logsynflow, ZcProxy::Naswot],
            inits: 3,
            batch: 64,
            seed: 0,
        }
    }
}

/// The most initialisations a proxy averages.
pub const MAX_INITS: usize = 100;

impl ZcConfig {
    /// The default settings with the proxies of a comma-separated list, checked.
    ///
    /// ```
    /// use dsm_train::zero_cost::{ZcConfig, ZcProxy};
    /// let zc = ZcConfig::with_proxies("naswot,synflow")?;
    /// assert_eq!(zc.proxies, [ZcProxy::Naswot, ZcProxy::Synflow]);
    /// assert!(ZcConfig::with_proxies("naswot,naswot").is_err());
    /// # Ok::<(), dsm_train::TrainError>(())
    /// ```
    pub fn with_proxies(list: &str) -> Result<Self, TrainError> {
        let config = Self {
            proxies: parse_proxies(list)?,
            ..Self::default()
        };
        config.check()?;
        Ok(config)
    }

    /// The guidance of a search by these proxies: `warm_start` cells scored before it,
    /// each proposal chosen from `screen` candidates, checked ([`GuideConfig::check`]).
    ///
    /// ```
    /// use dsm_train::zero_cost::ZcConfig;
    /// let guide = ZcConfig::default().guide(100, 5)?;
    /// assert_eq!(guide.proxies, ["logsynflow", "naswot"]);
    /// assert!(ZcConfig::default().guide(100, 0).is_err());
    /// # Ok::<(), dsm_train::TrainError>(())
    /// ```
    pub fn guide(&self, warm_start: usize, screen: usize) -> Result<GuideConfig, TrainError> {
        let guide = GuideConfig {
            proxies: self.proxies.iter().map(|p| p.name().to_string()).collect(),
            warm_start,
            screen,
        };
        guide.check()?;
        Ok(guide)
    }

    /// Checks the settings: at least one proxy, each once; 1 to [`MAX_INITS`]
    /// initialisations; a batch of at least one image.
    ///
    /// ```
    /// use dsm_train::zero_cost::ZcConfig;
    /// assert!(ZcConfig::default().check().is_ok());
    /// assert!(ZcConfig { inits: 0, ..ZcConfig::default() }.check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |what: &str, reason: String| TrainError::Input {
            what: what.into(),
            reason,
        };
        if self.proxies.is_empty() {
            return Err(bad("--proxies", "no proxy named; name at least one".into()));
        }
        if let Some((_, i)) = dsm_space::first_repeat(&self.proxies) {
            return Err(bad(
                "--proxies",
                format!("{} is named twice; name it once", self.proxies[i]),
            ));
        }
        if self.inits == 0 || self.inits > MAX_INITS {
            return Err(bad(
                "--inits",
                format!("{} is not in 1..={MAX_INITS}", self.inits),
            ));
        }
        if self.batch == 0 {
            return Err(bad(
                "--batch",
                "0 images; use at least 1 (64 by default)".into(),
            ));
        }
        Ok(())
    }
}

/// Builds networks initialised as zero-cost proxies expect (see the module docs).
pub trait ProxyBuilder<A: ?Sized> {
    /// The network built.
    type Model: Module + Probed;

    /// The network of `arch` for `classes` classes and square images of side `resolution`,
    /// Kaiming-initialised from `seed`, on `device`.
    fn build_kaiming(
        &self,
        arch: &A,
        classes: usize,
        resolution: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self::Model, TrainError>;
}

impl ProxyBuilder<Nb201Cell> for Nb201Builder {
    type Model = Nb201Network;

    fn build_kaiming(
        &self,
        cell: &Nb201Cell,
        classes: usize,
        _resolution: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Nb201Network, TrainError> {
        Ok(Nb201Network::init_kaiming(cell, classes, seed, device))
    }
}

/// One architecture's proxies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZcValues {
    /// The proxies' values (means over the initialisations), in the configured order;
    /// NASWOT is `-inf` for a network whose codes make `K` singular.
    pub values: Vec<f64>,
    /// Seconds it took (every initialisation included).
    pub wall_s: f64,
}

impl ZcValues {
    /// The values as finite search scores: NASWOT's `-inf` becomes 0 (below every network
    /// with a non-singular `K`, whose log-determinants are in the hundreds), as
    /// [`dsm_bench`]'s table scores FreeREA's.
    pub fn score(&self) -> Vec<f64> {
        self.values
            .iter()
            .map(|&v| if v.is_finite() { v } else { 0.0 })
            .collect()
    }
}

/// Computes zero-cost proxies of architectures on one fixed batch of images. Cloning shares
/// the batch (each search of a guided method gets its own handle).
#[derive(Clone)]
pub struct ZcComputer<B> {
    builder: B,
    config: ZcConfig,
    /// The batch, normalised by the training set's channel statistics, `[batch, c, h, w]`.
    images: std::sync::Arc<[f32]>,
    labels: Vec<i64>,
    shape: [usize; 4],
    classes: usize,
    device: Device,
}

impl<B> ZcComputer<B> {
    /// Proxies of `config` (checked) on a batch of `config.batch` images drawn from `train`
    /// by `config.seed`, normalised by `train`'s channel statistics, on `device`. Refused
    /// when the batch is larger than the data. Grey images are repeated over three channels.
    pub fn new(
        builder: B,
        train: &ImageSet,
        config: ZcConfig,
        device: Device,
    ) -> Result<Self, TrainError> {
        config.check()?;
        if config.batch > train.len() {
            return Err(TrainError::Input {
                what: "--batch".into(),
                reason: format!(
                    "{} images asked, the data has {}; use at most {}",
                    config.batch,
                    train.len(),
                    train.len()
                ),
            });
        }
        // The networks take colour images: grey ones are repeated over three channels.
        let rgb;
        let train = match train.shape[0] {
            3 => train,
            1 => {
                rgb = train.to_rgb();
                &rgb
            }
            c => {
                return Err(TrainError::Input {
                    what: "images".into(),
                    reason: format!("{c} channels; expected 3 (colour) or 1 (grey)"),
                });
            }
        };
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rand_pcg::Pcg64::seed_from_u64(config.seed));
        order.truncate(config.batch);
        let batch = train.subset(&order);
        let (mean, std) = train.channel_stats();
        let [c, h, w] = train.shape;
        let plane = h * w;
        let mut images = batch.pixels.clone();
        for (i, v) in images.iter_mut().enumerate() {
            let ch = (i / plane) % c;
            *v = (*v - mean[ch]) / std[ch];
        }
        Ok(Self {
            builder,
            labels: batch.labels.iter().map(|&l| l as i64).collect(),
            shape: [config.batch, c, h, w],
            classes: train.classes,
            config,
            images: images.into(),
            device,
        })
    }

    /// The settings.
    pub fn config(&self) -> &ZcConfig {
        &self.config
    }

    /// The proxies of `arch`, averaged over the initialisations.
    pub fn compute<A: ?Sized>(&self, arch: &A) -> Result<ZcValues, TrainError>
    where
        B: ProxyBuilder<A>,
    {
        let start = Instant::now();
        let proxies = &self.config.proxies;
        let want = |p: ZcProxy| proxies.contains(&p);
        let mut sums = vec![0.0f64; proxies.len()];
        let [_, _, h, _] = self.shape;
        for i in 0..self.config.inits {
            let seed = self.config.seed.wrapping_add(i as u64);
            let mut got: Vec<(ZcProxy, f64)> = Vec::new();
            if want(ZcProxy::Synflow) || want(ZcProxy::Logsynflow) {
                let (sf, lsf) = self.synflow(arch, seed, h)?;
                got.push((ZcProxy::Synflow, sf));
                got.push((ZcProxy::Logsynflow, lsf));
            }
            if want(ZcProxy::Naswot) || want(ZcProxy::GradNorm) {
                let (nw, gn) = self.batch_proxies(arch, seed, h, want(ZcProxy::GradNorm))?;
                got.push((ZcProxy::Naswot, nw));
                got.push((ZcProxy::GradNorm, gn));
            }
            for (k, p) in proxies.iter().enumerate() {
                sums[k] += got.iter().find(|g| g.0 == *p).map_or(0.0, |g| g.1);
            }
        }
        let n = self.config.inits as f64;
        Ok(ZcValues {
            values: sums.into_iter().map(|s| s / n).collect(),
            wall_s: start.elapsed().as_secs_f64(),
        })
    }

    /// The configured proxies of `arch` as a guided search ranks them
    /// ([`ZcValues::score`]), their cost the measured seconds.
    pub fn proxy_score<A>(&self, arch: &A) -> Result<ProxyScore, TrainError>
    where
        B: ProxyBuilder<A>,
    {
        let v = self.compute(arch)?;
        Ok(ProxyScore {
            values: v.score(),
            cost_s: v.wall_s,
        })
    }

    /// SynFlow and LogSynFlow of one initialisation (see the module docs for the scaling).
    fn synflow<A: ?Sized>(&self, arch: &A, seed: u64, res: usize) -> Result<(f64, f64), TrainError>
    where
        B: ProxyBuilder<A>,
    {
        let [_, c, h, w] = self.shape;
        let probe = || Probe::new(true, false);
        // Pass 1: R for a tiny input (R is linear in the input): 1e-20, then, for the deepest
        // cells (R beyond 3e58), 1e-37 (R up to 3e75, the most pass 2 can scale).
        let plain = self
            .builder
            .build_kaiming(arch, self.classes, res, seed, &self.device)?
            .map(&mut Abs);
        let mut r = f64::INFINITY;
        for s0 in [1e-20f64, 1e-37] {
            let x = Tensor::<4>::ones([1, c, h, w], &self.device).mul_scalar(s0 as f32);
            let out = plain
                .forward_probed(x, &mut probe())
                .sum()
                .into_scalar::<f32>();
            r = f64::from(out) / s0;
            if r.is_finite() {
                break;
            }
        }
        if r == 0.0 {
            return Ok((0.0, 0.0)); // no path carries the input: every gradient is 0
        }
        if !(r.is_finite() && r > 0.0) {
            return Err(TrainError::Input {
                what: "synflow".into(),
                reason: format!(
                    "the network's output sum {r} is beyond f32 even for an input of 1e-37"
                ),
            });
        }
        // Pass 2: input and objective scaled by R^-1/2, on an autodiff device.
        let scale = r.powf(-0.5);
        let ad = self.device.clone().autodiff();
        let net = self
            .builder
            .build_kaiming(arch, self.classes, res, seed, &ad)?
            .map(&mut Abs);
        let x = Tensor::<4>::ones([1, c, h, w], &ad).mul_scalar(scale as f32);
        let objective = net
            .forward_probed(x, &mut probe())
            .sum()
            .mul_scalar(scale as f32);
        let grads = objective.backward();
        let mut sums = WeightSums {
            grads: &grads,
            rescale: r,
            synflow: 0.0,
            logsynflow: 0.0,
            norms: 0.0,
        };
        net.visit(&mut sums);
        Ok((sums.synflow, sums.logsynflow))
    }

    /// NASWOT and (when asked) the gradient norm of one initialisation, from one forward
    /// pass of the batch in training mode.
    fn batch_proxies<A: ?Sized>(
        &self,
        arch: &A,
        seed: u64,
        res: usize,
        grad_norm: bool,
    ) -> Result<(f64, f64), TrainError>
    where
        B: ProxyBuilder<A>,
    {
        let ad = self.device.clone().autodiff();
        let net = self
            .builder
            .build_kaiming(arch, self.classes, res, seed, &ad)?;
        let x = Tensor::<4>::from_data(TensorData::new(self.images.to_vec(), self.shape), &ad);
        let mut probe = Probe::new(false, true);
        let logits = net.forward_probed(x, &mut probe);
        let codes = probe.take_codes();
        if codes.is_empty() {
            return Err(TrainError::Input {
                what: "naswot".into(),
                reason: "the network has no ReLU to take activation codes from".into(),
            });
        }
        let naswot = naswot(codes)?;
        let mut norm = 0.0;
        if grad_norm {
            let n = self.shape[0];
            let y = Tensor::<1, Int>::from_data(TensorData::new(self.labels.clone(), [n]), &ad);
            let loss = CrossEntropyLossConfig::new().init(&ad).forward(logits, y);
            let grads = loss.backward();
            let mut sums = WeightSums {
                grads: &grads,
                rescale: 1.0,
                synflow: 0.0,
                logsynflow: 0.0,
                norms: 0.0,
            };
            net.visit(&mut sums);
            norm = sums.norms;
        }
        Ok((naswot, norm))
    }
}

/// `ln |det K|` of NASWOT's kernel from the codes of every ReLU (`[batch, units]` each).
fn naswot(codes: Vec<Tensor<2>>) -> Result<f64, TrainError> {
    let n = codes[0].dims()[0];
    let mut k = vec![0.0f64; n * n];
    for c in codes {
        let not = c.clone().neg().add_scalar(1.0);
        // Exact: each entry counts at most one ReLU's units (< 2^24).
        let part = c.clone().matmul(c.transpose()) + not.clone().matmul(not.transpose());
        let part = part
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| TrainError::Input {
                what: "naswot".into(),
                reason: format!("activation kernel unreadable: {e:?}"),
            })?;
        for (acc, v) in k.iter_mut().zip(part) {
            *acc += f64::from(v);
        }
    }
    Ok(log_abs_det(&mut k, n))
}

/// `ln |det A|` of a row-major `n x n` matrix by LU with partial pivoting (destroys `a`);
/// `-inf` when singular.
fn log_abs_det(a: &mut [f64], n: usize) -> f64 {
    let mut logdet = 0.0;
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))
            .unwrap_or(col);
        let p = a[pivot * n + col];
        // Relative to the matrix's scale (its diagonal counts every unit).
        if p.abs() <= 1e-9 * a[col * n + col].abs().max(1.0) || p == 0.0 {
            return f64::NEG_INFINITY;
        }
        if pivot != col {
            for j in 0..n {
                a.swap(col * n + j, pivot * n + j);
            }
        }
        logdet += p.abs().ln();
        for i in col + 1..n {
            let f = a[i * n + col] / p;
            if f != 0.0 {
                for j in col..n {
                    a[i * n + j] -= f * a[col * n + j];
                }
            }
        }
    }
    logdet
}

/// Every parameter replaced by its absolute value (a new leaf).
struct Abs;

impl ModuleMapper for Abs {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        Param::from_tensor(param.val().abs().detach())
    }
}

/// Sums over the convolution and linear weights (parameters of rank >= 2) of
/// `|w * g|`, `|w * ln(1 + |g|)|` and `||g||_2`, `g` the gradient times `rescale`.
struct WeightSums<'a> {
    grads: &'a burn::tensor::Gradients,
    rescale: f64,
    synflow: f64,
    logsynflow: f64,
    norms: f64,
}

impl ModuleVisitor for WeightSums<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if D < 2 {
            return;
        }
        let w = param.val();
        let Some(g) = w.grad(self.grads) else {
            return;
        };
        let read = |t: Tensor<D>| {
            t.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap_or_default()
        };
        let (w, g) = (read(w.detach()), read(g));
        let mut sq = 0.0;
        for (&w, &g) in w.iter().zip(&g) {
            let (w, g) = (f64::from(w), f64::from(g) * self.rescale);
            self.synflow += (w * g).abs();
            self.logsynflow += (w * g.abs().ln_1p()).abs();
            sq += g * g;
        }
        self.norms += sq.sqrt();
    }
}

impl<A, B: ProxyBuilder<A>> ProxyScorer<A> for ZcComputer<B> {
    type Error = TrainError;

    /// The configured proxies as scores ([`ZcValues::score`]), charging the measured time.
    fn score(&mut self, arch: &A) -> Result<ProxyScore, TrainError> {
        self.proxy_score(arch)
    }
}

#[cfg(test)]
mod tests {
    use super::log_abs_det;

    #[test]
    fn log_abs_det_of_known_matrices() {
        let mut a = vec![2.0, 1.0, 1.0, 3.0];
        assert!((log_abs_det(&mut a, 2) - 5f64.ln()).abs() < 1e-12);
        let mut singular = vec![1.0, 2.0, 2.0, 4.0];
        assert_eq!(log_abs_det(&mut singular, 2), f64::NEG_INFINITY);
        let mut swap = vec![0.0, 1.0, 1.0, 0.0];
        assert!(log_abs_det(&mut swap, 2).abs() < 1e-12);
    }
}
