//! Files in and out, shared by every crate that reads weights, data or tables and saves a
//! checkpoint or a result: crash-safe writes ([`write_atomic`], [`save`]), reads that name
//! the file ([`read`], [`read_to_string`]), and the two errors every such crate reports,
//! [`FileError`] (the OS refused) and [`FormatError`] (the bytes are not what they should be).
//!
//! ```
//! use dsm_space::io::{FileError, read};
//! let err: FileError = read(std::path::Path::new("/nonexistent/weights.safetensors")).unwrap_err();
//! // The OS error is in the chain only (`{:#}` in anyhow prints it once).
//! assert_eq!(err.to_string(), "cannot read /nonexistent/weights.safetensors");
//! assert!(std::error::Error::source(&err).is_some());
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file could not be read or written. The OS error is the [`source`](std::error::Error::source),
/// not repeated in the message.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct FileError {
    /// `read` or `write`.
    pub action: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    /// A failed read of `path`.
    pub fn read(path: &Path, source: std::io::Error) -> Self {
        Self {
            action: "read",
            path: path.to_path_buf(),
            source,
        }
    }

    /// A failed write of `path`.
    pub fn write(path: &Path, source: std::io::Error) -> Self {
        Self {
            action: "write",
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A file's bytes are not a valid file of its format (a weights file, a predictor, a
/// checkpoint).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name} is not a valid {format} file: {reason}")]
pub struct FormatError {
    /// The file (or another name of where the bytes came from).
    pub source_name: String,
    /// What the file should have been (`safetensors`, `PyTorch`, `predictor`).
    pub format: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl FormatError {
    /// `source_name` is not a valid `format` file because of `reason`.
    pub fn new(
        source_name: impl Into<String>,
        format: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            source_name: source_name.into(),
            format,
            reason: reason.into(),
        }
    }
}

/// The bytes of `path`, or a [`FileError`] naming it.
pub fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|e| FileError::read(path, e))
}

/// The text of `path`, or a [`FileError`] naming it.
pub fn read_to_string(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|e| FileError::read(path, e))
}

/// FNV-1a (64 bits) of `bytes`: the checksum of the compact table format and the fingerprint
/// of settings and trial records.
///
/// ```
/// assert_eq!(dsm_space::io::fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
/// assert_ne!(dsm_space::io::fnv1a64(b"a"), dsm_space::io::fnv1a64(b"b"));
/// ```
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// [`write_atomic`] with a [`FileError`] naming `path`.
pub fn save(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    write_atomic(path, bytes).map_err(|e| FileError::write(path, e))
}

/// Writes `bytes` to `path` atomically: to `<path>.tmp` first, fsynced, then renamed over
/// `path`, and the folder fsynced. A crash at any moment leaves either the old file or the
/// new one, never a torn one.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("dsm-io-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("state.json");
/// dsm_space::io::write_atomic(&path, b"{\"epoch\": 1}")?;
/// dsm_space::io::write_atomic(&path, b"{\"epoch\": 2}")?;
/// assert_eq!(std::fs::read(&path)?, b"{\"epoch\": 2}");
/// assert!(!dir.join("state.json.tmp").exists());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    let annotate = |what: &str, p: &Path, e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("{what} {}: {e}", p.display()))
    };
    let mut f = std::fs::File::create(&tmp).map_err(|e| annotate("creating", &tmp, e))?;
    // A failed write or rename leaves nothing behind: not the temporary file either.
    let cleanup = |e: std::io::Error| {
        let _ = std::fs::remove_file(&tmp);
        e
    };
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| annotate("writing", &tmp, cleanup(e)))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| annotate("renaming into place", path, cleanup(e)))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(parent)
    {
        // Best effort: not every platform can fsync a folder.
        let _ = d.sync_all();
    }
    Ok(())
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}
