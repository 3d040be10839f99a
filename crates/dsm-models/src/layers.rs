//! Building blocks, and the loader that builds them from a state dict (or at random).

use std::collections::BTreeSet;

use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};

use burn::prelude::*;
use burn::tensor::activation::relu;
pub(crate) use dsm_kernels::Act;

use crate::error::{ShapeMismatch, StateDictReport};
use crate::{ModelError, NamedTensor, StateDict};

/// BatchNorm epsilon of every model here (PyTorch's default, as the fixtures and the
/// released weights use).
pub const BN_EPS: f64 = 1e-5;

/// Builds layers (convolutions, BatchNorm, linear), taking their weights from a state dict by
/// PyTorch name when one is given, or drawing them from a seed: the way to give a model of
/// your own reproducible weights (see `docs/extending.md`, section 6).
///
/// ```
/// use burn::prelude::*;
/// use dsm_models::layers::Loader;
///
/// let dev = Device::flex();
/// let a = Loader::seeded(7, &dev).linear("fc", 8, 4);
/// let b = Loader::seeded(7, &dev).linear("fc", 8, 4);
/// assert_eq!(a.weight.val().into_data(), b.weight.val().into_data()); // same seed, same weights
/// let k = Loader::kaiming(7, &dev).linear("fc", 8, 4); // zero-cost proxies' initialisation
/// assert_eq!(k.weight.dims(), [8, 4]);
/// ```
pub struct Loader<'a> {
    sd: Option<&'a StateDict>,
    /// Without a state dict: draw weights from this seeded RNG (PyTorch's default
    /// initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in))) instead of Burn's global RNG.
    rng: Option<rand_pcg::Pcg64>,
    /// Draw weights Kaiming-normal (fan_out, ReLU gain) with zero biases instead.
    kaiming: bool,
    used: BTreeSet<String>,
    report: StateDictReport,
    /// The device the layers are built on.
    pub dev: Device,
}

impl<'a> Loader<'a> {
    /// Layers from `sd` when given (every tensor must then fit: [`Loader::finish`]), else
    /// initialised by Burn's defaults, on `dev`.
    pub fn new(sd: Option<&'a StateDict>, dev: &Device) -> Self {
        Self {
            sd,
            rng: None,
            kaiming: false,
            used: BTreeSet::new(),
            report: StateDictReport::default(),
            dev: dev.clone(),
        }
    }

    /// A loader that initialises every weight from `seed`, independently of Burn's
    /// process-wide RNG (so concurrent trainings stay reproducible).
    pub fn seeded(seed: u64, dev: &Device) -> Self {
        use rand::SeedableRng;
        Self {
            rng: Some(rand_pcg::Pcg64::seed_from_u64(seed)),
            ..Self::new(None, dev)
        }
    }

    /// A loader that initialises every weight from `seed` as zero-cost proxies expect
    /// (PyTorch's `kaiming_normal_(mode="fan_out", nonlinearity="relu")`: N(0, 2 / fan_out),
    /// fan_out = output channels x kernel area; biases 0; BatchNorm weight 1, bias 0).
    pub fn kaiming(seed: u64, dev: &Device) -> Self {
        Self {
            kaiming: true,
            ..Self::seeded(seed, dev)
        }
    }

    /// `n` weights when seeded: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), or Kaiming-normal with
    /// `fan_out`.
    fn draw_weight(&mut self, n: usize, fan_in: usize, fan_out: usize) -> Option<Vec<f32>> {
        use rand::RngExt;
        let kaiming = self.kaiming;
        let rng = self.rng.as_mut()?;
        if kaiming {
            let std = (2.0 / fan_out.max(1) as f64).sqrt();
            return Some(
                (0..n)
                    .map(|_| {
                        // Box-Muller: one normal from two uniforms in (0, 1].
                        let u1: f64 = 1.0 - rng.random::<f64>();
                        let u2: f64 = rng.random::<f64>();
                        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                        (std * z) as f32
                    })
                    .collect(),
            );
        }
        let b = 1.0 / (fan_in.max(1) as f64).sqrt();
        Some((0..n).map(|_| rng.random_range(-b..b) as f32).collect())
    }

    /// `n` biases when seeded: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), or zeros (Kaiming).
    fn draw_bias(&mut self, n: usize, fan_in: usize) -> Option<Vec<f32>> {
        if self.kaiming {
            return self.rng.as_ref().map(|_| vec![0.0; n]);
        }
        self.draw_weight(n, fan_in, 0)
    }

    /// The values of `name` if the state dict has it with `shape`; records what is wrong.
    fn take(&mut self, name: &str, shape: &[usize]) -> Option<Vec<f32>> {
        let sd = self.sd?;
        match sd.get(name) {
            None => {
                self.report.missing.push((name.to_string(), shape.to_vec()));
                None
            }
            Some(t) => {
                self.used.insert(name.to_string());
                if t.shape != shape {
                    self.report.mismatched.push(ShapeMismatch {
                        name: name.to_string(),
                        expected: shape.to_vec(),
                        found: t.shape.clone(),
                    });
                    return None;
                }
                Some(t.data.clone())
            }
        }
    }

    fn tensor<const D: usize>(&self, data: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
        Tensor::from_data(TensorData::new(data, shape), &self.dev)
    }

    /// A `k x k` convolution from `cin` to `cout` channels (padding `k / 2`, `groups`, an
    /// optional bias), its weight from `name.weight` (OIHW).
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
        bias: bool,
    ) -> Conv2d {
        let p = k / 2;
        let mut conv = Conv2dConfig::new([cin, cout], [k, k])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_groups(groups)
            .with_bias(bias)
            .init(&self.dev);
        let shape = [cout, cin / groups, k, k];
        let fan_in = cin / groups * k * k;
        if let Some(w) = self.draw_weight(cout * fan_in, fan_in, cout * k * k) {
            conv.weight = Param::from_tensor(self.tensor(w, shape));
        }
        if bias && let Some(b) = self.draw_bias(cout, fan_in) {
            conv.bias = Some(Param::from_tensor(self.tensor(b, [cout])));
        }
        if let Some(w) = self.take(&format!("{name}.weight"), &shape) {
            conv.weight = Param::from_tensor(self.tensor(w, shape));
        }
        if bias && let Some(b) = self.take(&format!("{name}.bias"), &[cout]) {
            conv.bias = Some(Param::from_tensor(self.tensor(b, [cout])));
        }
        conv
    }

    /// A BatchNorm of `c` channels (weight, bias and running statistics from `name.*`).
    pub fn bn(&mut self, name: &str, c: usize) -> BatchNorm {
        let mut bn = BatchNormConfig::new(c)
            .with_epsilon(BN_EPS)
            .with_momentum(0.1)
            .init(&self.dev);
        if let Some(w) = self.take(&format!("{name}.weight"), &[c]) {
            bn.gamma = Param::from_tensor(self.tensor(w, [c]));
        }
        if let Some(b) = self.take(&format!("{name}.bias"), &[c]) {
            bn.beta = Param::from_tensor(self.tensor(b, [c]));
        }
        if let Some(m) = self.take(&format!("{name}.running_mean"), &[c]) {
            bn.running_mean = RunningState::new(self.tensor(m, [c]));
        }
        if let Some(v) = self.take(&format!("{name}.running_var"), &[c]) {
            bn.running_var = RunningState::new(self.tensor(v, [c]));
        }
        // Optional in a state dict; consumed so that it does not count as unexpected.
        if self
            .sd
            .is_some_and(|sd| sd.get(&format!("{name}.num_batches_tracked")).is_some())
        {
            self.used.insert(format!("{name}.num_batches_tracked"));
        }
        bn
    }

    /// A linear layer from PyTorch's `[out, in]` weight (Burn stores `[in, out]`).
    pub fn linear(&mut self, name: &str, din: usize, dout: usize) -> Linear {
        let mut lin = LinearConfig::new(din, dout).init(&self.dev);
        if let Some(w) = self.draw_weight(din * dout, din, dout) {
            lin.weight = Param::from_tensor(self.tensor(w, [din, dout]));
        }
        if let Some(b) = self.draw_bias(dout, din) {
            lin.bias = Some(Param::from_tensor(self.tensor(b, [dout])));
        }
        if let Some(w) = self.take(&format!("{name}.weight"), &[dout, din]) {
            let mut t = vec![0.0; din * dout];
            for o in 0..dout {
                for i in 0..din {
                    t[i * dout + o] = w[o * din + i];
                }
            }
            lin.weight = Param::from_tensor(self.tensor(t, [din, dout]));
        }
        if let Some(b) = self.take(&format!("{name}.bias"), &[dout]) {
            lin.bias = Some(Param::from_tensor(self.tensor(b, [dout])));
        }
        lin
    }

    /// Fails unless every tensor fitted and every tensor of the file was used.
    pub fn finish(mut self, model: &str) -> Result<(), ModelError> {
        if let Some(sd) = self.sd {
            self.report.unexpected = sd
                .names()
                .filter(|n| !self.used.contains(*n))
                .map(str::to_string)
                .collect();
        }
        if self.report.is_empty() {
            Ok(())
        } else {
            Err(ModelError::StateDict {
                model: model.to_string(),
                report: self.report,
            })
        }
    }
}

/// Writes layers into a state dict by PyTorch name, in the layout [`Loader`] reads: the
/// inverse of loading (convolutions OIHW, linear weights `[out, in]`, BatchNorm with its
/// running statistics and `num_batches_tracked`).
pub(crate) struct Saver {
    pub sd: StateDict,
}

fn values<const D: usize>(t: Tensor<D>) -> (Vec<usize>, Vec<f32>) {
    let shape = t.dims().to_vec();
    let data = t
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a float tensor converts to f32");
    (shape, data)
}

impl Saver {
    pub fn new() -> Self {
        Self {
            sd: StateDict::new(),
        }
    }

    fn put<const D: usize>(&mut self, name: String, t: Tensor<D>) {
        let (shape, data) = values(t);
        self.sd.insert(
            name,
            NamedTensor {
                shape,
                data,
                is_int: false,
            },
        );
    }

    pub fn conv(&mut self, name: &str, conv: &Conv2d) {
        self.put(format!("{name}.weight"), conv.weight.val());
        if let Some(b) = &conv.bias {
            self.put(format!("{name}.bias"), b.val());
        }
    }

    pub fn bn(&mut self, name: &str, bn: &BatchNorm) {
        self.put(format!("{name}.weight"), bn.gamma.val());
        self.put(format!("{name}.bias"), bn.beta.val());
        self.put(format!("{name}.running_mean"), bn.running_mean.value());
        self.put(format!("{name}.running_var"), bn.running_var.value());
        // PyTorch's strict `load_state_dict` wants it; with a momentum set (as here and in
        // the reference models) PyTorch never reads its value.
        self.sd.insert(
            format!("{name}.num_batches_tracked"),
            NamedTensor {
                shape: vec![],
                data: vec![0.0],
                is_int: true,
            },
        );
    }

    /// A linear layer as PyTorch's `[out, in]` weight (Burn stores `[in, out]`).
    pub fn linear(&mut self, name: &str, lin: &Linear) {
        self.put(format!("{name}.weight"), lin.weight.val().transpose());
        if let Some(b) = &lin.bias {
            self.put(format!("{name}.bias"), b.val());
        }
    }
}

/// `conv(x)`; on `flex` through our convolution ([`dsm_kernels`]) when the
/// convolution is one it covers, else Burn's.
pub(crate) fn dense_conv(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    match dsm_kernels::conv2d(conv, &x, false) {
        Some(y) => y,
        None => conv.forward(x),
    }
}

/// `conv(relu(x))`, on `flex` as one operation of ours ([`dsm_kernels`]: the ReLU
/// fused into the convolution and its gradient) when the convolution is one it covers.
pub(crate) fn relu_conv(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    match dsm_kernels::conv2d(conv, &x, true) {
        Some(y) => y,
        None => conv.forward(relu(x)),
    }
}

/// ReLU -> conv -> BN (NAS-Bench-201's `ReLUConvBN`).
#[derive(Module, Debug)]
pub struct ReluConvBn {
    pub(crate) conv: Conv2d,
    pub(crate) bn: BatchNorm,
}

impl ReluConvBn {
    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        dsm_kernels::batch_norm(&self.bn, relu_conv(&self.conv, x))
    }

    pub(crate) fn forward_probed(&self, x: Tensor<4>, probe: &mut crate::Probe) -> Tensor<4> {
        probe.relu_input(&x);
        let y = relu_conv(&self.conv, x);
        if probe.bypass_bn {
            y
        } else {
            dsm_kernels::batch_norm(&self.bn, y)
        }
    }
}

/// conv -> BN; once folded (`MobileNetV3::fold_batchnorm`), the BN lives in the conv's weights and bias.
#[derive(Module, Debug)]
pub struct ConvBn {
    pub(crate) conv: Conv2d,
    pub(crate) bn: Option<BatchNorm>,
}

impl ConvBn {
    pub(crate) fn new(conv: Conv2d, bn: BatchNorm) -> Self {
        Self { conv, bn: Some(bn) }
    }

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_act(x, Act::Identity)
    }

    /// `act(bn(conv(x)))`. On plain `flex` a depthwise convolution runs on our kernel
    /// ([`dsm_kernels`]) and a dense one as tiled gemms on rayon's threads
    /// ([`dsm_kernels`]), with the activation fused once the BN is folded.
    pub(crate) fn forward_act(&self, x: Tensor<4>, act: Act) -> Tensor<4> {
        // The kernel applies the activation itself only when nothing comes between.
        let fused = if self.bn.is_none() {
            act
        } else {
            Act::Identity
        };
        let ours = dsm_kernels::depthwise_conv2d(&self.conv, &x, fused)
            .or_else(|| dsm_kernels::dense_conv2d(&self.conv, &x, fused));
        match (ours, &self.bn) {
            (Some(y), None) => y,
            (Some(y), Some(bn)) => act.on_tensor(dsm_kernels::batch_norm(bn, y)),
            (None, bn) => {
                let y = self.conv.forward(x);
                act.on_tensor(match bn {
                    Some(bn) => dsm_kernels::batch_norm(bn, y),
                    None => y,
                })
            }
        }
    }

    /// Folds the BN's running statistics and affine parameters into the conv (for
    /// inference: `w' = w * s`, `b' = (b - mean) * s + beta` with `s = gamma / sqrt(var +
    /// eps)`), saving the BN's passes over the activations.
    pub(crate) fn fold(self) -> Self {
        let Some(bn) = self.bn else { return self };
        let mut conv = self.conv;
        let scale = bn.gamma.val() / bn.running_var.value().add_scalar(bn.epsilon).sqrt();
        let [cout] = scale.dims();
        let weight = conv.weight.val() * scale.clone().reshape([cout, 1, 1, 1]);
        let mean = bn.running_mean.value();
        let bias = match &conv.bias {
            Some(b) => b.val() - mean,
            None => mean.neg(),
        };
        // New leaves (on an autodiff device the products would otherwise be graph nodes,
        // which a parameter cannot be).
        conv.weight = Param::from_tensor(weight.detach());
        conv.bias = Some(Param::from_tensor((bias * scale + bn.beta.val()).detach()));
        Self { conv, bn: None }
    }
}

/// `x * relu6(x + 3) / 6` (Burn's fused `hard_swish`).
pub fn hswish<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    burn::tensor::activation::hard_swish(x)
}

/// `relu6(x + 3) / 6` (Burn's fused `hard_sigmoid` with slope 1/6 and offset 1/2).
pub fn hsigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    burn::tensor::activation::hard_sigmoid(x, 1.0 / 6.0, 0.5)
}

/// Multiply-accumulates of a convolution at output resolution `hw` (the reference counter:
/// `cin * cout * k * k * h * w / groups`).
pub(crate) fn conv_madds(conv: &Conv2d, out_hw: usize) -> u64 {
    let [cout, cin_g, kh, kw] = conv.weight.shape().dims();
    (cout * cin_g * kh * kw * out_hw * out_hw) as u64
}
