//! Choosing the Burn backend at run time, by name, among those compiled in.
//!
//! `flex` (Burn's pure-Rust CPU backend) is always there; `ndarray`, `wgpu`, `tch` (libtorch)
//! and `cuda` come with the cargo features of the same names. Asking for a backend the
//! binary was built without is a clear error that says how to get it.
//!
//! ```
//! use dsm_models::backend::Backend;
//!
//! let flex: Backend = "flex".parse()?;
//! assert!(flex.is_built());
//! let _device = flex.device()?;
//! assert!("opencl".parse::<Backend>().is_err());
//! # Ok::<(), dsm_models::ModelError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use burn::prelude::Device;

use crate::ModelError;

/// A Burn backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Burn's maintained pure-Rust CPU backend (SIMD + rayon): the default.
    Flex,
    /// The ndarray CPU backend (deprecated upstream; feature `ndarray`).
    Ndarray,
    /// WebGPU (Vulkan / Metal / DX12; feature `wgpu`).
    Wgpu,
    /// libtorch 2.9.0 through tch, on the CPU (feature `tch`; point `LIBTORCH` at it).
    Tch,
    /// CUDA through CubeCL, GPU 0 (feature `cuda`).
    Cuda,
}

impl Backend {
    /// Every backend, built or not.
    pub const ALL: [Backend; 5] = [
        Backend::Flex,
        Backend::Ndarray,
        Backend::Wgpu,
        Backend::Tch,
        Backend::Cuda,
    ];

    /// The name used by `--backend` and the cargo feature.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
            Backend::Tch => "tch",
            Backend::Cuda => "cuda",
        }
    }

    /// Whether this binary was built with the backend.
    pub fn is_built(self) -> bool {
        match self {
            Backend::Flex => true,
            Backend::Ndarray => cfg!(feature = "ndarray"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
            Backend::Tch => cfg!(feature = "tch"),
            Backend::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// The backends this binary was built with.
    pub fn built() -> Vec<Backend> {
        Self::ALL.into_iter().filter(|b| b.is_built()).collect()
    }

    /// The backend's default device, or an error naming the cargo feature to build with.
    pub fn device(self) -> Result<Device, ModelError> {
        if !self.is_built() {
            let built: Vec<&str> = Self::built().iter().map(|b| b.name()).collect();
            return Err(ModelError::Input {
                what: format!("backend {}", self.name()),
                reason: format!(
                    "this binary was built without it (built: {}); rebuild with `--features {}`{}",
                    built.join(", "),
                    self.name(),
                    match self {
                        Backend::Tch => " and LIBTORCH pointing at libtorch 2.9.0 (see the README)",
                        Backend::Wgpu => " and a Vulkan, Metal or DX12 driver",
                        Backend::Cuda => " on a machine with the CUDA toolkit",
                        _ => "",
                    }
                ),
            });
        }
        Ok(self.make())
    }

    #[allow(deprecated)] // ndarray and tch are deprecated upstream but still what users ask for
    fn make(self) -> Device {
        match self {
            #[cfg(feature = "ndarray")]
            Backend::Ndarray => Device::ndarray(),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
            #[cfg(feature = "tch")]
            Backend::Tch => Device::libtorch(),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Device::cuda(0),
            _ => Device::flex(),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, ModelError> {
        Self::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| ModelError::Input {
                what: format!("backend {s:?}"),
                reason: "expected one of flex, ndarray, wgpu, tch, cuda".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn names_round_trip_and_missing_backends_say_how_to_get_them() {
        for b in Backend::ALL {
            assert_eq!(b.name().parse::<Backend>().unwrap(), b);
        }
        assert!(Backend::built().contains(&Backend::Flex));
        for b in Backend::ALL.into_iter().filter(|b| !b.is_built()) {
            let msg = b.device().unwrap_err().to_string();
            assert!(msg.contains(&format!("--features {}", b.name())), "{msg}");
        }
    }
}
