//! Image data sets in their real formats: CIFAR-10 / CIFAR-100 binaries, ImageFolder trees,
//! and the vendored 8x8 digits.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::TrainError;

/// Images as `[n, channels, height, width]` floats in [0, 1] with their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    /// `channels x height x width` of every image.
    pub shape: [usize; 3],
    /// Row-major pixels of all images, in [0, 1].
    pub pixels: Vec<f32>,
    /// Label of each image.
    pub labels: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Elements per image.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The images with these indices.
    pub fn subset(&self, idx: &[usize]) -> ImageSet {
        let n = self.image_len();
        let mut pixels = Vec::with_capacity(idx.len() * n);
        for &i in idx {
            pixels.extend_from_slice(&self.pixels[i * n..(i + 1) * n]);
        }
        ImageSet {
            shape: self.shape,
            pixels,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes,
        }
    }

    /// A seeded, stratification-free split: `(first, second)` with `fraction` of the images
    /// in `second`.
    pub fn split(&self, fraction: f64, seed: u64) -> (ImageSet, ImageSet) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut rand_pcg::Pcg64::seed_from_u64(seed));
        let k = ((self.len() as f64) * fraction).round() as usize;
        let (b, a) = idx.split_at(k);
        (self.subset(a), self.subset(b))
    }

    /// The same images with 1 channel repeated to 3 (for networks with an RGB stem).
    pub fn to_rgb(&self) -> ImageSet {
        if self.shape[0] == 3 {
            return self.clone();
        }
        let hw = self.shape[1] * self.shape[2];
        let mut pixels = Vec::with_capacity(self.len() * 3 * hw);
        for img in self.pixels.chunks(hw) {
            for _ in 0..3 {
                pixels.extend_from_slice(img);
            }
        }
        ImageSet {
            shape: [3, self.shape[1], self.shape[2]],
            pixels,
            labels: self.labels.clone(),
            classes: self.classes,
        }
    }

    /// Per-channel mean and standard deviation.
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = self.shape;
        let hw = h * w;
        let mut mean = vec![0.0f64; c];
        let mut sq = vec![0.0f64; c];
        for img in self.pixels.chunks(c * hw) {
            for ch in 0..c {
                for &v in &img[ch * hw..(ch + 1) * hw] {
                    mean[ch] += v as f64;
                    sq[ch] += (v as f64) * (v as f64);
                }
            }
        }
        let n = (self.len() * hw).max(1) as f64;
        let m: Vec<f32> = mean.iter().map(|s| (s / n) as f32).collect();
        let s: Vec<f32> = sq
            .iter()
            .zip(&mean)
            .map(|(q, s)| ((q / n - (s / n).powi(2)).max(1e-12)).sqrt() as f32)
            .collect();
        (m, s)
    }
}

const DIGITS: &str = include_str!("../data/digits/digits.csv");

/// The vendored 8x8 handwritten digits (1,797 images, 10 classes, 1 channel; see
/// `data/digits/README.md`).
pub fn digits() -> ImageSet {
    parse_digits(DIGITS, "<vendored digits.csv>")
        .expect("the vendored digits are validated by the test suite")
}

fn parse_digits(text: &str, name: &str) -> Result<ImageSet, TrainError> {
    let mut pixels = Vec::with_capacity(1797 * 64);
    let mut labels = Vec::with_capacity(1797);
    for (line_no, line) in text.lines().enumerate() {
        let bad = |reason: String| TrainError::Image {
            path: name.into(),
            reason: format!("line {}: {reason}", line_no + 1),
        };
        let v: Vec<u8> = line
            .split(',')
            .map(|x| x.trim().parse::<u8>())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if v.len() != 65 || v[..64].iter().any(|&p| p > 16) || v[64] > 9 {
            return Err(bad(
                "expected 64 pixels in 0..=16 and a label in 0..=9".into()
            ));
        }
        pixels.extend(v[..64].iter().map(|&p| p as f32 / 16.0));
        labels.push(v[64] as usize);
    }
    Ok(ImageSet {
        shape: [1, 8, 8],
        pixels,
        labels,
        classes: 10,
    })
}

/// Which CIFAR binary format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cifar {
    /// CIFAR-10: records of 1 label byte + 3,072 pixel bytes.
    Ten,
    /// CIFAR-100: records of a coarse and a fine label byte + 3,072 pixel bytes (the fine
    /// label is used).
    Hundred,
}

/// Reads CIFAR binary batch files (the official `*.bin` format).
pub fn cifar_binary(files: &[&Path], format: Cifar) -> Result<ImageSet, TrainError> {
    let (head, classes) = match format {
        Cifar::Ten => (1, 10),
        Cifar::Hundred => (2, 100),
    };
    let rec = head + 3072;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for path in files {
        let bytes = dsm_space::io::read(path)?;
        if bytes.is_empty() || bytes.len() % rec != 0 {
            return Err(TrainError::Image {
                path: path.to_path_buf(),
                reason: format!(
                    "{} bytes is not a whole number of {rec}-byte records (truncated at offset {})",
                    bytes.len(),
                    bytes.len() / rec * rec
                ),
            });
        }
        for (r, chunk) in bytes.chunks(rec).enumerate() {
            let label = chunk[head - 1] as usize;
            if label >= classes {
                return Err(TrainError::Image {
                    path: path.to_path_buf(),
                    reason: format!(
                        "label {label} at offset {} is not below {classes}",
                        r * rec + head - 1
                    ),
                });
            }
            labels.push(label);
            pixels.extend(chunk[head..].iter().map(|&p| p as f32 / 255.0));
        }
    }
    Ok(ImageSet {
        shape: [3, 32, 32],
        pixels,
        labels,
        classes,
    })
}

/// Reads an ImageFolder tree (class folders of PNG/JPEG files), each image resized to
/// `size` x `size`.
pub fn image_folder(root: &Path, size: u32) -> Result<ImageSet, TrainError> {
    check_resolution(size)?;
    let folder = crate::imagenet::ImageFolder::open(root)?;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let n = (size * size) as usize;
    for (path, label) in &folder.samples {
        let img = image::open(path)
            .map_err(|e| TrainError::Image {
                path: path.clone(),
                reason: e.to_string(),
            })?
            .to_rgb8();
        let img = image::imageops::resize(&img, size, size, image::imageops::FilterType::Triangle);
        let mut chw = vec![0.0f32; 3 * n];
        for (i, p) in img.pixels().enumerate() {
            for c in 0..3 {
                chw[c * n + i] = p[c] as f32 / 255.0;
            }
        }
        pixels.extend(chw);
        labels.push(*label);
    }
    Ok(ImageSet {
        shape: [3, size as usize, size as usize],
        pixels,
        labels,
        classes: folder.classes.len(),
    })
}

/// A training set and the set it is tested on, as [`load_train_test`] found them.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainTest {
    /// The training images.
    pub train: ImageSet,
    /// The test (or validation) images.
    pub test: ImageSet,
    /// Whether they are the vendored digits (`builtin`), split 80 / 20 by the seed.
    pub builtin: bool,
}

impl TrainTest {
    /// Refuses a `resolution` the data would ignore: only an ImageFolder is resized to it;
    /// the digits (8 x 8) and CIFAR binaries (32 x 32) keep their size. `default` is what a
    /// caller passes when the user chose none (accepted for any data).
    ///
    /// ```
    /// let d = dsm_train::data::load_train_test("builtin", 64, 0)?;
    /// assert!(d.check_resolution(32, 32).is_ok()); // the default: nothing asked
    /// let err = d.check_resolution(64, 32).unwrap_err().to_string();
    /// assert!(err.contains("--resolution: 64 resizes an ImageFolder only; this data holds 8 x 8 images"), "{err}");
    /// # Ok::<(), dsm_train::TrainError>(())
    /// ```
    pub fn check_resolution(&self, resolution: u32, default: u32) -> Result<(), TrainError> {
        let [_, h, w] = self.train.shape;
        if resolution == default || (h == resolution as usize && w == resolution as usize) {
            return Ok(());
        }
        Err(TrainError::Input {
            what: "--resolution".into(),
            reason: format!(
                "{resolution} resizes an ImageFolder only; this data holds {h} x {w} images (leave --resolution out)"
            ),
        })
    }
}

/// The built-in name of the vendored CIFAR-10 slice ([`cifar10_5k`]).
pub const CIFAR10_5K: &str = "cifar10-5k";

/// The files of the CIFAR-10 slice: name, size in bytes, sha256.
const CIFAR10_5K_FILES: [(&str, usize, &str); 2] = [
    (
        "data_batch_1_first4000.bin",
        4000 * 3073,
        "0993cf8b8e43bc207603aef9787006995746513f5e3fa5a52e06d1b069926330",
    ),
    (
        "test_batch_first1000.bin",
        1000 * 3073,
        "8314c96d7cd65618193bab23acdd5d4c4af15bf6dd00a1781d55beedf3be1ef5",
    ),
];

/// Where the vendored CIFAR-10 slice is: `DSM_CIFAR10_5K` when set, else `data/cifar10-5k`
/// of this crate in the project's repository (absent from the published crate).
pub fn cifar10_5k_dir() -> PathBuf {
    std::env::var_os("DSM_CIFAR10_5K")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data/cifar10-5k"))
}

/// The vendored CIFAR-10 slice: the first 4,000 training and 1,000 test images of the
/// official files ([`cifar10_5k_in`] of [`cifar10_5k_dir`]).
///
/// ```
/// let d = dsm_train::data::cifar10_5k()?;
/// assert_eq!((d.train.len(), d.test.len(), d.train.classes), (4000, 1000, 10));
/// # Ok::<(), dsm_train::TrainError>(())
/// ```
pub fn cifar10_5k() -> Result<TrainTest, TrainError> {
    cifar10_5k_in(&cifar10_5k_dir())
}

/// The CIFAR-10 slice in `dir`, each file checked (its size and sha256) before it is read: a
/// missing, truncated or altered file is an error naming it.
pub fn cifar10_5k_in(dir: &Path) -> Result<TrainTest, TrainError> {
    use sha2::{Digest, Sha256};
    let mut sets = Vec::with_capacity(2);
    for (name, size, sha) in CIFAR10_5K_FILES {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(TrainError::Image {
                path,
                reason: "is missing: the CIFAR-10 slice ships with the project's repository (crates/dsm-train/data/cifar10-5k), not with the published crate; set DSM_CIFAR10_5K to a folder holding it".into(),
            });
        }
        let bytes = dsm_space::io::read(&path)?;
        let bad = |reason: String| {
            TrainError::Format(dsm_space::io::FormatError::new(
                path.display().to_string(),
                "CIFAR-10 slice",
                reason,
            ))
        };
        if bytes.len() != size {
            return Err(bad(format!("{} bytes, expected {size}", bytes.len())));
        }
        let got: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != sha {
            return Err(bad(format!(
                "sha256 {got}, expected {sha} (the file was altered)"
            )));
        }
        sets.push(cifar_binary(&[&path], Cifar::Ten)?);
    }
    let test = sets.pop().expect("two files");
    let train = sets.pop().expect("two files");
    Ok(TrainTest {
        train,
        test,
        builtin: false,
    })
}

/// The one data-format detection of the examples: `builtin` (the vendored digits, split
/// 80 / 20 with `seed`), `cifar10-5k` (the vendored CIFAR-10 slice, [`cifar10_5k`]), a folder of CIFAR-10 binaries (`data_batch_*.bin`,
/// `test_batch.bin`), of CIFAR-100 binaries (`train.bin`, `test.bin`), or an ImageFolder
/// (`train/` and `test/` or `val/`, one folder per class; images resized to `resolution`).
/// Anything else is an error that names what was found and what is read.
///
/// ```
/// let d = dsm_train::data::load_train_test("builtin", 8, 0)?;
/// assert!(d.builtin && d.train.len() > 4 * d.test.len() - 10);
/// let err = dsm_train::data::load_train_test("/no/such/folder", 32, 0).unwrap_err();
/// assert!(err.to_string().contains("neither `builtin`, `cifar10-5k` nor a folder"));
/// # Ok::<(), dsm_train::TrainError>(())
/// ```
pub fn load_train_test(data: &str, resolution: u32, seed: u64) -> Result<TrainTest, TrainError> {
    check_resolution(resolution)?;
    if data == CIFAR10_5K {
        return cifar10_5k();
    }
    if data == "builtin" {
        let (train, test) = digits().split(0.2, seed);
        return Ok(TrainTest {
            train: train.to_rgb(),
            test: test.to_rgb(),
            builtin: true,
        });
    }
    let dir = Path::new(data);
    let bad = |reason: &str| TrainError::Image {
        path: dir.to_path_buf(),
        reason: reason.to_string(),
    };
    if !dir.is_dir() {
        return Err(bad("is neither `builtin`, `cifar10-5k` nor a folder"));
    }
    if dir.join("train_data_batch_1").exists() || dir.join("val_data").exists() {
        return Err(bad(
            "looks like NAS-Bench-201's ImageNet16-120 (pickled numpy batches), which this reader does not support; supported: CIFAR-10/100 binaries or an ImageFolder (train/ and test/ or val/ with one folder per class), e.g. after exporting the images as PNG",
        ));
    }
    let plain = |train, test| TrainTest {
        train,
        test,
        builtin: false,
    };
    if dir.join("data_batch_1.bin").exists() {
        let batches: Vec<std::path::PathBuf> = (1..=5)
            .map(|i| dir.join(format!("data_batch_{i}.bin")))
            .filter(|p| p.exists())
            .collect();
        let refs: Vec<&Path> = batches.iter().map(|p| p.as_path()).collect();
        return Ok(plain(
            cifar_binary(&refs, Cifar::Ten)?,
            cifar_binary(&[&dir.join("test_batch.bin")], Cifar::Ten)?,
        ));
    }
    if dir.join("train.bin").exists() {
        return Ok(plain(
            cifar_binary(&[&dir.join("train.bin")], Cifar::Hundred)?,
            cifar_binary(&[&dir.join("test.bin")], Cifar::Hundred)?,
        ));
    }
    if dir.join("train").is_dir() {
        return Ok(plain(
            image_folder(&dir.join("train"), resolution)?,
            image_folder(&held_out_dir(dir), resolution)?,
        ));
    }
    Err(bad(
        "expected CIFAR-10 binaries (data_batch_*.bin, test_batch.bin), CIFAR-100 binaries (train.bin, test.bin) or an ImageFolder with train/ and test/ (or val/)",
    ))
}

/// The held-out half of an ImageFolder tree for a final test: `test/` when present, else
/// `val/`.
pub fn held_out_dir(root: &Path) -> std::path::PathBuf {
    if root.join("test").is_dir() {
        root.join("test")
    } else {
        root.join("val")
    }
}

/// The split a search scores on in an ImageFolder tree: `train/`, and `val/` (or `test/`
/// when there is no `val/`) resized to `resolution`, keeping `test/` for the final test of
/// what the search found where both exist.
pub fn train_and_validation(root: &Path, resolution: u32) -> Result<TrainTest, TrainError> {
    let valid = if root.join("val").is_dir() {
        root.join("val")
    } else {
        root.join("test")
    };
    Ok(TrainTest {
        train: image_folder(&root.join("train"), resolution)?,
        test: image_folder(&valid, resolution)?,
        builtin: false,
    })
}

/// Images are resized to at least 1 x 1 pixel.
fn check_resolution(size: u32) -> Result<(), TrainError> {
    if size == 0 {
        return Err(TrainError::Input {
            what: "--resolution 0".into(),
            reason: "images must be resized to at least 1 x 1 pixel (32 for CIFAR-sized networks)"
                .into(),
        });
    }
    Ok(())
}
