//! ImageNet-style evaluation: an ImageFolder tree, the standard preprocessing (resize the
//! shorter side to 256, center crop 224, ImageNet mean/std), top-1 / top-5.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use dsm_space::io::FileError;
use image::imageops::FilterType;

use crate::TrainError;
use crate::eval::{EvalReport, TopK};

/// ImageNet channel means (RGB).
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB).
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// An ImageFolder tree: one sub-folder per class (sorted by name = class index), image files
/// (`.png`, `.jpg`, `.jpeg`, any case) inside, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFolder {
    /// Class names in index order.
    pub classes: Vec<String>,
    /// `(path, class index)` of every image.
    pub samples: Vec<(PathBuf, usize)>,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

impl ImageFolder {
    /// Lists an ImageFolder tree.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, TrainError> {
        let root = root.as_ref();
        let mut classes: Vec<String> = std::fs::read_dir(root)
            .map_err(|e| FileError::read(root, e))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        classes.sort();
        if classes.is_empty() {
            return Err(TrainError::Image {
                path: root.to_path_buf(),
                reason: "no class sub-folders (expected ROOT/<class>/<image>)".into(),
            });
        }
        let mut samples = Vec::new();
        for (c, name) in classes.iter().enumerate() {
            let dir = root.join(name);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| FileError::read(&dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_image(p))
                .collect();
            files.sort();
            samples.extend(files.into_iter().map(|p| (p, c)));
        }
        if samples.is_empty() {
            return Err(TrainError::Image {
                path: root.to_path_buf(),
                reason: "no .png/.jpg/.jpeg images in the class folders".into(),
            });
        }
        Ok(Self { classes, samples })
    }
}

/// Decodes an image and applies the standard ImageNet evaluation transform: resize the
/// shorter side to `resize` (bilinear), center crop `crop` x `crop`, scale to [0, 1],
/// normalise with [`MEAN`] / [`STD`]. Returns CHW values.
pub fn preprocess(path: &Path, resize: u32, crop: u32) -> Result<Vec<f32>, TrainError> {
    Transform { resize, crop }.check()?;
    let img = image::open(path)
        .map_err(|e| TrainError::Image {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .to_rgb8();
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Err(TrainError::Image {
            path: path.to_path_buf(),
            reason: "empty image".into(),
        });
    }
    let (nw, nh) = if w <= h {
        (
            resize,
            ((h as u64 * resize as u64 + w as u64 / 2) / w as u64).max(1) as u32,
        )
    } else {
        (
            ((w as u64 * resize as u64 + h as u64 / 2) / h as u64).max(1) as u32,
            resize,
        )
    };
    let img = image::imageops::resize(&img, nw, nh, FilterType::Triangle);
    if nw < crop || nh < crop {
        return Err(TrainError::Image {
            path: path.to_path_buf(),
            reason: format!("resized to {nw}x{nh}, smaller than the {crop}x{crop} crop"),
        });
    }
    let (x0, y0) = ((nw - crop) / 2, (nh - crop) / 2);
    let n = (crop * crop) as usize;
    let mut out = vec![0.0f32; 3 * n];
    for y in 0..crop {
        for x in 0..crop {
            let p = img.get_pixel(x0 + x, y0 + y);
            for c in 0..3 {
                out[c * n + (y * crop + x) as usize] = (p[c] as f32 / 255.0 - MEAN[c]) / STD[c];
            }
        }
    }
    Ok(out)
}

/// A batch of preprocessed images `[n, 3, crop, crop]`.
pub fn batch(
    paths: &[&Path],
    resize: u32,
    crop: u32,
    device: &Device,
) -> Result<Tensor<4>, TrainError> {
    let mut data = Vec::with_capacity(paths.len() * 3 * (crop * crop) as usize);
    for p in paths {
        data.extend(preprocess(p, resize, crop)?);
    }
    Ok(Tensor::from_data(
        TensorData::new(data, [paths.len(), 3, crop as usize, crop as usize]),
        device,
    ))
}

/// The evaluation transform: shorter side resized to `resize`, center crop `crop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transform {
    /// Shorter side after resizing (256).
    pub resize: u32,
    /// Center crop (224).
    pub crop: u32,
}

impl Transform {
    /// Checks the sizes: both at least 1, the crop no larger than the resized shorter side.
    ///
    /// ```
    /// use dsm_train::imagenet::Transform;
    /// assert!(Transform::default().check().is_ok());
    /// let e = Transform { resize: 256, crop: 0 }.check().unwrap_err();
    /// assert_eq!(e.to_string(), "bad --crop 0: the center crop must be at least 1 pixel (224 for ImageNet models)");
    /// ```
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |what: &str, reason: String| TrainError::Input {
            what: what.to_string(),
            reason,
        };
        if self.resize == 0 {
            return Err(bad(
                "--resize 0",
                "the shorter side must be resized to at least 1 pixel (256 for ImageNet models)"
                    .into(),
            ));
        }
        if self.crop == 0 {
            return Err(bad(
                "--crop 0",
                "the center crop must be at least 1 pixel (224 for ImageNet models)".into(),
            ));
        }
        if self.crop > self.resize {
            return Err(bad(
                &format!("--crop {}", self.crop),
                format!(
                    "the center crop cannot be larger than the resized shorter side (--resize {})",
                    self.resize
                ),
            ));
        }
        Ok(())
    }
}

impl Default for Transform {
    /// The standard ImageNet evaluation transform: 256, then 224.
    fn default() -> Self {
        Self {
            resize: 256,
            crop: 224,
        }
    }
}

/// Evaluates `forward` (a model's forward pass) on an ImageFolder in batches of `batch_size`;
/// `progress(done, total)` is called after each batch.
pub fn evaluate(
    folder: &ImageFolder,
    forward: &dyn Fn(Tensor<4>) -> Tensor<2>,
    batch_size: usize,
    transform: Transform,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport, TrainError> {
    transform.check()?;
    if batch_size == 0 {
        return Err(TrainError::Input {
            what: "--batch 0".into(),
            reason: "a batch holds at least 1 image".into(),
        });
    }
    let mut acc = TopK::new();
    let total = folder.samples.len();
    for chunk in folder.samples.chunks(batch_size) {
        let paths: Vec<&Path> = chunk.iter().map(|(p, _)| p.as_path()).collect();
        let logits = forward(batch(&paths, transform.resize, transform.crop, device)?);
        let labels: Vec<usize> = chunk.iter().map(|(_, l)| *l).collect();
        acc.add(logits, &labels, |i| paths[i].display().to_string())?;
        progress(acc.report().images, total);
    }
    Ok(acc.report())
}
