//! State dicts: named tensors read from safetensors or PyTorch `.pt`/`.pth` files.

use std::collections::BTreeMap;
use std::path::Path;

use dsm_space::io::FormatError;

use crate::ModelError;

/// One tensor of a state dict, as f32 (f64 is narrowed; integer tensors such as BatchNorm's
/// `num_batches_tracked` are kept with `is_int`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Shape (PyTorch order: OIHW for convolutions, `[out, in]` for linear layers).
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
    /// Whether the file stored it as an integer tensor.
    pub is_int: bool,
}

/// A PyTorch-style state dict: tensor name -> tensor.
///
/// ```no_run
/// use dsm_models::StateDict;
/// let sd = StateDict::from_file("dsm-nas-ba5edf7c.pt")?;
/// println!("{} tensors", sd.len());
/// # Ok::<(), dsm_models::ModelError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    tensors: BTreeMap<String, NamedTensor>,
}

fn bytes_to_f32(bytes: &[u8], width: usize, float: bool) -> Vec<f32> {
    match (width, float) {
        (4, true) => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect(),
        (8, true) => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        (8, false) => bytes
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        (4, false) => bytes
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as f32)
            .collect(),
        _ => Vec::new(),
    }
}

impl StateDict {
    /// An empty state dict.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a file, safetensors or PyTorch (`torch.save` zip or legacy format), recognised
    /// by its content.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let bytes = dsm_space::io::read(path)?;
        let name = path.display().to_string();
        // torch.save writes a zip (PK..) or, in the legacy format, a pickle (0x80 0x02).
        if bytes.starts_with(b"PK") || bytes.starts_with(&[0x80, 0x02]) {
            Self::from_pytorch_file(path)
        } else {
            Self::from_safetensors_bytes(&bytes, &name).map_err(|e| match e {
                ModelError::Format(f) => ModelError::Format(FormatError::new(
                    f.source_name,
                    "safetensors",
                    format!(
                        "{}; weights are read from safetensors files or PyTorch checkpoints \
                         (torch.save, .pt / .pth), recognised by their content",
                        f.reason
                    ),
                )),
                other => other,
            })
        }
    }

    /// Parses a safetensors file from memory; `source_name` names it in errors.
    pub fn from_safetensors_bytes(bytes: &[u8], source_name: &str) -> Result<Self, ModelError> {
        use safetensors::Dtype;
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| FormatError::new(source_name, "safetensors", e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let layout = match view.dtype() {
                Dtype::F32 => Some((4, true)),
                Dtype::F64 => Some((8, true)),
                Dtype::I64 => Some((8, false)),
                Dtype::I32 => Some((4, false)),
                _ => None,
            };
            let t = NamedTensor::decode(
                source_name,
                &name,
                view.dtype(),
                layout,
                view.data(),
                view.shape(),
            )?;
            tensors.insert(name, t);
        }
        Ok(Self { tensors })
    }

    /// Reads a PyTorch checkpoint written by `torch.save(state_dict)`.
    pub fn from_pytorch_file(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let source_name = path.display().to_string();
        let format_err =
            |reason: String| ModelError::Format(FormatError::new(&source_name, "PyTorch", reason));
        let reader = match pytorch_reader::PytorchReader::new(path) {
            Ok(r) => r,
            Err(first) => {
                // zip 9.8 (under pytorch-reader) can mislocate the central directory of the
                // zip64-flavoured archives torch.save writes, when a central-directory entry
                // happens to start exactly as many bytes into the directory as the zip64
                // records are long. A copy without those (redundant, for files under 4 GiB)
                // records reads correctly; anything else keeps the first error.
                let repaired = strip_zip64_records(path)
                    .ok()
                    .flatten()
                    .ok_or_else(|| format_err(first.to_string()))?;
                let result = pytorch_reader::PytorchReader::new(&repaired.0)
                    .map_err(|_| format_err(first.to_string()));
                return result.and_then(|r| Self::collect(r, &source_name, format_err));
            }
        };
        Self::collect(reader, &source_name, format_err)
    }

    fn collect(
        reader: pytorch_reader::PytorchReader,
        source_name: &str,
        format_err: impl Fn(String) -> ModelError,
    ) -> Result<Self, ModelError> {
        use pytorch_reader::DType;
        let mut tensors = BTreeMap::new();
        for (name, t) in reader.into_tensors() {
            let layout = match t.dtype() {
                DType::F32 => Some((4, true)),
                DType::F64 => Some((8, true)),
                DType::I64 => Some((8, false)),
                DType::I32 => Some((4, false)),
                _ => None,
            };
            let bytes = t
                .read()
                .map_err(|e| format_err(format!("reading tensor {name}: {e}")))?;
            let tensor =
                NamedTensor::decode(source_name, &name, t.dtype(), layout, &bytes, t.shape())?;
            tensors.insert(name, tensor);
        }
        Ok(Self { tensors })
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there is no tensor.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&NamedTensor> {
        self.tensors.get(name)
    }

    /// Adds or replaces a tensor.
    pub fn insert(&mut self, name: impl Into<String>, tensor: NamedTensor) {
        self.tensors.insert(name.into(), tensor);
    }

    /// Removes a tensor.
    pub fn remove(&mut self, name: &str) -> Option<NamedTensor> {
        self.tensors.remove(name)
    }

    /// All names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Saves the state dict as a safetensors file (see [`StateDict::to_safetensors`]),
    /// written atomically (a temporary file renamed into place), so a crash never leaves a
    /// half-written file at `path`.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        let bytes = self.to_safetensors()?;
        Ok(dsm_space::io::save(path, &bytes)?)
    }

    /// Writes the state dict as safetensors (f32, integer tensors as i64).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, ModelError> {
        use safetensors::Dtype;
        use safetensors::tensor::TensorView;
        let buffers: Vec<(String, Vec<u8>, Vec<usize>, bool)> = self
            .tensors
            .iter()
            .map(|(n, t)| {
                let bytes = if t.is_int {
                    t.data
                        .iter()
                        .flat_map(|&x| (x as i64).to_le_bytes())
                        .collect()
                } else {
                    t.data.iter().flat_map(|x| x.to_le_bytes()).collect()
                };
                (n.clone(), bytes, t.shape.clone(), t.is_int)
            })
            .collect();
        let views: Vec<(String, TensorView)> = buffers
            .iter()
            .map(|(n, b, s, int)| {
                let dtype = if *int { Dtype::I64 } else { Dtype::F32 };
                (
                    n.clone(),
                    TensorView::new(dtype, s.clone(), b).expect("consistent sizes"),
                )
            })
            .collect();
        safetensors::serialize(views, None)
            .map_err(|e| FormatError::new("<memory>", "safetensors", e.to_string()).into())
    }
}

/// A temporary file, removed on drop.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A copy of a zip archive without its zip64 end-of-central-directory record and locator,
/// when the archive does not need them (its 32-bit end record is not saturated). `None` when
/// the file has no such records.
fn strip_zip64_records(path: &Path) -> std::io::Result<Option<TempFile>> {
    let bytes = std::fs::read(path)?;
    let Some(eocd) = bytes
        .len()
        .checked_sub(22)
        .filter(|&i| bytes[i..].starts_with(b"PK\x05\x06"))
    else {
        return Ok(None);
    };
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let saturated = u16_at(eocd + 10) == 0xFFFF
        || u32_at(eocd + 12) == u32::MAX
        || u32_at(eocd + 16) == u32::MAX;
    let (Some(locator), false) = (eocd.checked_sub(20), saturated) else {
        return Ok(None);
    };
    if !bytes[locator..].starts_with(b"PK\x06\x07") {
        return Ok(None);
    }
    let record = u64::from_le_bytes(
        bytes[locator + 8..locator + 16]
            .try_into()
            .expect("8 bytes"),
    ) as usize;
    let cd_end = u32_at(eocd + 16) as usize + u32_at(eocd + 12) as usize;
    if record != cd_end
        || !bytes
            .get(record..)
            .is_some_and(|b| b.starts_with(b"PK\x06\x06"))
    {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..record]);
    out.extend_from_slice(&bytes[eocd..]);
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = std::env::temp_dir().join(format!("dsm-models-{}-{n}.pt", std::process::id()));
    std::fs::write(&tmp, out)?;
    Ok(Some(TempFile(tmp)))
}

impl NamedTensor {
    /// A tensor from little-endian bytes whose element `layout` is `(width, is_float)`, or
    /// the typed error for an element type the models cannot use (`layout` is `None`).
    fn decode(
        source_name: &str,
        name: &str,
        dtype: impl std::fmt::Debug,
        layout: Option<(usize, bool)>,
        bytes: &[u8],
        shape: &[usize],
    ) -> Result<Self, ModelError> {
        let (width, float) = layout.ok_or_else(|| ModelError::Dtype {
            source_name: source_name.to_string(),
            name: name.to_string(),
            dtype: format!("{dtype:?}"),
        })?;
        Ok(Self {
            shape: shape.to_vec(),
            data: bytes_to_f32(bytes, width, float),
            is_int: !float,
        })
    }

    /// This tensor as an NCHW image batch with 3 channels on `device`, checking the rank, the
    /// channel count and that every value is finite.
    pub fn to_image_batch(
        &self,
        what: &str,
        device: &burn::prelude::Device,
    ) -> Result<burn::prelude::Tensor<4>, ModelError> {
        use burn::prelude::{Tensor, TensorData};
        let bad = |reason: String| ModelError::Input {
            what: what.to_string(),
            reason,
        };
        let shape: [usize; 4] = self.shape.clone().try_into().map_err(|_| {
            bad(format!(
                "shape {:?}, expected 4 dimensions [batch, 3, height, width]",
                self.shape
            ))
        })?;
        if shape[1] != 3 || shape[0] == 0 || shape[2] == 0 || shape[3] == 0 {
            return Err(bad(format!(
                "shape {shape:?}, expected [batch >= 1, 3, height, width]"
            )));
        }
        if let Some(i) = self.data.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!(
                "value {} at flat index {i} is not finite",
                self.data[i]
            )));
        }
        Ok(Tensor::from_data(
            TensorData::new(self.data.clone(), shape),
            device,
        ))
    }
}
