//! What zero-cost proxies need of a network's forward pass: BatchNorm bypassed (SynFlow)
//! and the binary activation codes at every ReLU's input (NASWOT).

use burn::prelude::*;

/// How a [`Probed`] forward pass runs, and what it records.
///
/// ```
/// use burn::prelude::*;
/// use dsm_models::{Nb201Network, Probe, Probed};
///
/// let dev = Device::flex();
/// let cell = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|".parse()?;
/// let net = Nb201Network::init_kaiming(&cell, 10, 1, &dev);
/// let mut probe = Probe::new(false, true);
/// let logits = net.forward_probed(Tensor::<4>::ones([2, 3, 8, 8], &dev), &mut probe);
/// assert_eq!(logits.dims(), [2, 10]);
/// // Each ReLU's input, one row of 0/1 codes per image.
/// let codes = probe.take_codes();
/// assert!(!codes.is_empty() && codes.iter().all(|c| c.dims()[0] == 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Probe {
    /// Every BatchNorm is the identity (SynFlow's set-up).
    pub bypass_bn: bool,
    /// Record the binary code (`input > 0`) of every ReLU's input, `[batch, units]`.
    pub record_relus: bool,
    codes: Vec<Tensor<2>>,
}

impl Probe {
    /// A probe that bypasses BatchNorm and/or records the ReLUs' input codes.
    pub fn new(bypass_bn: bool, record_relus: bool) -> Self {
        Self {
            bypass_bn,
            record_relus,
            codes: Vec::new(),
        }
    }

    /// The codes recorded so far, in forward order (emptied).
    pub fn take_codes(&mut self) -> Vec<Tensor<2>> {
        std::mem::take(&mut self.codes)
    }

    /// Records the code of a ReLU's input `x` when asked to.
    pub fn relu_input<const D: usize>(&mut self, x: &Tensor<D>) {
        if self.record_relus {
            let b = x.dims()[0];
            let code = x.clone().detach().greater_elem(0.0).float();
            self.codes.push(code.reshape([b as i64, -1]));
        }
    }
}

/// A network whose forward pass can be probed ([`Probe`]).
pub trait Probed {
    /// The logits of `x`, with BatchNorm bypassed and ReLU inputs recorded as `probe` says.
    fn forward_probed(&self, x: Tensor<4>, probe: &mut Probe) -> Tensor<2>;
}
