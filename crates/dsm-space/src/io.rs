//! Crash-safe file writes, shared by every crate that saves a checkpoint or a result.

use std::io::Write;
use std::path::{Path, PathBuf};

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
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| annotate("writing", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| annotate("renaming into place", path, e))?;
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
