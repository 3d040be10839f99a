//! One output policy for every command: what happens when an output already exists, and how
//! a run proves that it continues the run it finds.
//!
//! - An existing output (a folder that is not empty, or a file) is **refused** unless the
//!   user asks to replace it (`--force`, [`Existing::Replace`]) or to continue it (`--resume`,
//!   [`Existing::Resume`]). Replacing writes the command's own files over the old ones and
//!   never deletes anything else.
//! - Everything is checked **before any work and before anything is written**: a refused run
//!   leaves no trace, not even an empty folder ([`OutputFolder::check`] and
//!   [`OutputFile::check`] only look; [`OutputFolder::create`] and [`OutputFile::write`]
//!   write).
//! - A file where a folder is expected (and the reverse), an output that is also one of the
//!   command's inputs, and a place that cannot be written are each one clear error naming the
//!   flag.
//! - A folder run keeps `settings.json`: the command and every setting that changes its
//!   results, each under the flag that sets it ([`Settings`]). A resumed run with other
//!   settings is refused, naming each differing flag with both values.
//!
//! ```
//! use dsm_space::output::{Existing, OutputError, OutputFolder, Settings};
//!
//! let dir = std::env::temp_dir().join(format!("dsm-output-doc-{}", std::process::id()));
//! let settings = Settings::new("train").with("--epochs", 2).with("--data", "builtin");
//! let out = OutputFolder::new("--out", &dir).resumable().check(&settings)?;
//! assert!(!dir.exists()); // checking writes nothing
//! out.create()?; // the folder and its settings.json
//! std::fs::write(dir.join("metrics.jsonl"), "")?;
//!
//! // Run again: refused unless resumed or replaced.
//! let again = OutputFolder::new("--out", &dir).resumable().check(&settings);
//! assert!(matches!(again, Err(OutputError::Exists { .. })));
//! // Resumed with other settings: refused, naming the flag.
//! let other = Settings::new("train").with("--epochs", 3).with("--data", "builtin");
//! let err = OutputFolder::new("--out", &dir)
//!     .existing(Existing::Resume)
//!     .check(&other)
//!     .unwrap_err();
//! assert!(err.to_string().contains("--epochs (2 in the run, 3 now)"), "{err}");
//! // Resumed with the same settings: continues.
//! let out = OutputFolder::new("--out", &dir).existing(Existing::Resume).check(&settings)?;
//! assert!(out.resuming());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::io::FileError;

/// The file in a run's folder that records its command and settings.
pub const SETTINGS_FILE: &str = "settings.json";

/// What to do with an output that already exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Existing {
    /// Refuse it (the default: nothing the user has is touched).
    #[default]
    Refuse,
    /// Continue the run it holds, only with identical settings (start when there is none).
    Resume,
    /// Replace the command's own files in it (`--force`).
    Replace,
}

impl Existing {
    /// From a command's `--force` and `--resume` flags (`--force` wins; clap keeps them
    /// exclusive).
    pub fn from_flags(force: bool, resume: bool) -> Self {
        match (force, resume) {
            (true, _) => Self::Replace,
            (false, true) => Self::Resume,
            (false, false) => Self::Refuse,
        }
    }
}

/// The settings that determine a run's results, each under the flag that sets it (values as
/// the user would type them), and the command they belong to.
///
/// ```
/// use dsm_space::output::Settings;
///
/// #[derive(serde::Serialize)]
/// struct Args { epochs: u64, seeds: Vec<u64>, data: String, cells: Option<String> }
/// let args = Args { epochs: 2, seeds: vec![0, 1], data: "builtin".into(), cells: None };
/// let s = Settings::from_args("search_live", &args);
/// assert_eq!(s.get("--epochs"), Some("2"));
/// assert_eq!(s.get("--seeds"), Some("0,1"));
/// assert_eq!(s.get("--cells"), None); // an option not given is no setting
/// let changes = s.clone().with("--epochs", 3).changes(&s);
/// assert_eq!(changes[0].to_string(), "--epochs (2 in the run, 3 now)");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The command (`train`, `search_nb201`, ...).
    pub command: String,
    /// Flag (`--epochs`) to value (`2`).
    pub values: BTreeMap<String, String>,
}

impl Settings {
    /// No settings yet, for `command`.
    pub fn new(command: &str) -> Self {
        Self {
            command: command.to_string(),
            values: BTreeMap::new(),
        }
    }

    /// The fields of a command's serialisable arguments, field `foo_bar` under `--foo-bar`
    /// (leave out what does not change the results with `#[serde(skip)]` or
    /// [`without`](Self::without)). `None` fields are left out, lists are joined by commas,
    /// nested structures written as JSON; the crate version is added as `version`.
    pub fn from_args(command: &str, args: &impl Serialize) -> Self {
        let mut s = Self::new(command).with("version", env!("CARGO_PKG_VERSION"));
        // Plain argument structs always serialise; anything else records no fields.
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(args) {
            for (name, value) in fields {
                if let Some(v) = flag_value(&value) {
                    s.values.insert(format!("--{}", name.replace('_', "-")), v);
                }
            }
        }
        s
    }

    /// Adds (or replaces) `flag`'s value.
    pub fn with(mut self, flag: &str, value: impl fmt::Display) -> Self {
        self.values.insert(flag.to_string(), value.to_string());
        self
    }

    /// Removes `flags` (settings that do not change the results, like `--workers`).
    pub fn without(mut self, flags: &[&str]) -> Self {
        for f in flags {
            self.values.remove(*f);
        }
        self
    }

    /// `flag`'s value.
    pub fn get(&self, flag: &str) -> Option<&str> {
        self.values.get(flag).map(String::as_str)
    }

    /// The settings that differ from `stored` (a run's), flag by flag.
    pub fn changes(&self, stored: &Settings) -> Vec<SettingChange> {
        let mut flags: Vec<&String> = self.values.keys().chain(stored.values.keys()).collect();
        flags.sort();
        flags.dedup();
        flags
            .into_iter()
            .filter(|f| self.values.get(*f) != stored.values.get(*f))
            .map(|f| SettingChange {
                flag: f.clone(),
                stored: stored.values.get(f).cloned(),
                now: self.values.get(f).cloned(),
            })
            .collect()
    }

    /// A short fingerprint of the settings (FNV-1a 64 of their JSON, hex), for records that
    /// keep only a hash.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{:016x}", crate::io::fnv1a64(&json))
    }
}

fn flag_value(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(
            items
                .iter()
                .map(|i| flag_value(i).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => Some(other.to_string()),
    }
}

/// One setting that differs between a run and the command resuming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingChange {
    /// The flag.
    pub flag: String,
    /// Its value in the run (`None`: not set).
    pub stored: Option<String>,
    /// Its value now (`None`: not set).
    pub now: Option<String>,
}

impl fmt::Display for SettingChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = |x: &Option<String>| x.clone().unwrap_or_else(|| "not set".into());
        write!(
            f,
            "{} ({} in the run, {} now)",
            self.flag,
            v(&self.stored),
            v(&self.now)
        )
    }
}

/// Why an output cannot be used. Every message names the flag and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The output exists and neither replacing nor resuming was asked for.
    #[error("{flag} {}: {what}; {hint}", path.display())]
    Exists {
        /// The output's flag.
        flag: String,
        /// The output.
        path: PathBuf,
        /// What is there.
        what: String,
        /// What the user can do.
        hint: String,
    },
    /// A folder was expected.
    #[error("{flag} {}: is a file, expected a folder; choose a folder", path.display())]
    NotAFolder {
        /// The output's flag.
        flag: String,
        /// The file.
        path: PathBuf,
    },
    /// A file was expected.
    #[error("{flag} {}: is a folder, expected a file name; choose a file", path.display())]
    NotAFile {
        /// The output's flag.
        flag: String,
        /// The folder.
        path: PathBuf,
    },
    /// The output is (or holds) one of the command's inputs.
    #[error("{flag} {}: is also the input {input} {}; choose another {flag} so the input is not overwritten", path.display(), input_path.display())]
    IsInput {
        /// The output's flag.
        flag: String,
        /// The output.
        path: PathBuf,
        /// The input's flag.
        input: String,
        /// The input.
        input_path: PathBuf,
    },
    /// The output cannot be created there.
    #[error("{flag} {}: cannot be written ({reason}); choose a writable place", path.display())]
    Unwritable {
        /// The output's flag.
        flag: String,
        /// The output.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A resumed run's settings differ from the run in the folder.
    #[error("{flag} {}: holds a run with other settings: {}; resume with the same settings, pass {force} to start over, or choose another {flag}", path.display(), changes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    SettingsDiffer {
        /// The flag that replaces a run.
        force: String,
        /// The output's flag.
        flag: String,
        /// The folder.
        path: PathBuf,
        /// Each differing setting.
        changes: Vec<SettingChange>,
    },
    /// The folder's `settings.json` is unreadable.
    #[error("{flag} {}: {reason}; pass --force to start over or choose another {flag}", path.display())]
    Unreadable {
        /// The output's flag.
        flag: String,
        /// The settings file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing failed.
    #[error(transparent)]
    File(#[from] FileError),
}

/// What a checked folder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    /// Nothing (absent or empty): a fresh run.
    Nothing,
    /// A run with matching settings, continued.
    Resumed,
    /// Something, replaced.
    Replaced,
}

/// An output folder of a command, under the [module's policy](self).
#[derive(Debug, Clone)]
pub struct OutputFolder {
    flag: String,
    dir: PathBuf,
    existing: Existing,
    resumable: bool,
    force_flag: String,
    inputs: Vec<(String, PathBuf)>,
    found: Found,
    settings: Settings,
}

impl OutputFolder {
    /// The folder `dir`, given by `flag`; refuses what exists until told otherwise.
    pub fn new(flag: &str, dir: impl Into<PathBuf>) -> Self {
        Self {
            flag: flag.to_string(),
            dir: dir.into(),
            existing: Existing::Refuse,
            resumable: false,
            force_flag: "--force".into(),
            inputs: Vec::new(),
            found: Found::Nothing,
            settings: Settings::default(),
        }
    }

    /// A checkpoint folder that its command continues whenever the settings match (naming
    /// the folder asks for it; no `--resume` needed) and replaces when `replace` (the value
    /// of `replace_flag`, like `--start-over`, which refusals name) is set.
    pub fn checkpoint(
        flag: &str,
        dir: impl Into<PathBuf>,
        replace_flag: &str,
        replace: bool,
    ) -> Self {
        let existing = if replace {
            Existing::Replace
        } else {
            Existing::Resume
        };
        Self::new(flag, dir)
            .existing(existing)
            .force_flag(replace_flag)
    }

    /// The command can continue a run (`--resume`): its refusals say so.
    pub fn resumable(mut self) -> Self {
        self.resumable = true;
        self
    }

    /// The flag that replaces a run, named in refusals (`--force` unless set).
    pub fn force_flag(mut self, flag: &str) -> Self {
        self.force_flag = flag.to_string();
        self
    }

    /// What to do with an existing folder.
    pub fn existing(mut self, existing: Existing) -> Self {
        if existing == Existing::Resume {
            self.resumable = true;
        }
        self.existing = existing;
        self
    }

    /// An input of the command (`--data`, `--weights`): the folder must not be it or hold it
    /// (an input that is not an existing path, like `--data builtin`, is no file to protect).
    pub fn input(mut self, flag: &str, path: impl Into<PathBuf>) -> Self {
        self.inputs.push((flag.to_string(), path.into()));
        self
    }

    /// Checks the folder against the policy for a run with `settings`. Writes nothing.
    pub fn check(mut self, settings: &Settings) -> Result<Self, OutputError> {
        self.settings = settings.clone();
        let flag = self.flag.clone();
        let dir = self.dir.clone();
        for (input, p) in &self.inputs {
            if p.exists() && contains(&dir, p) {
                return Err(OutputError::IsInput {
                    flag,
                    path: dir,
                    input: input.clone(),
                    input_path: p.clone(),
                });
            }
        }
        if !dir.exists() {
            writable_parent(&flag, &dir)?;
            self.found = Found::Nothing;
            return Ok(self);
        }
        if !dir.is_dir() {
            return Err(OutputError::NotAFolder { flag, path: dir });
        }
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| FileError::read(&dir, e))?
            .count();
        if entries == 0 {
            self.found = Found::Nothing;
            return Ok(self);
        }
        let stored = self.stored()?;
        self.found = match self.existing {
            Existing::Replace => Found::Replaced,
            Existing::Refuse => return Err(self.exists(stored.as_ref(), entries)),
            Existing::Resume => {
                let Some(stored) = stored else {
                    return Err(OutputError::Exists {
                        flag: flag.clone(),
                        path: dir,
                        what: format!(
                            "holds {entries} file(s) but no {SETTINGS_FILE} of a run, so it cannot be resumed"
                        ),
                        hint: format!(
                            "pass {} to write into it anyway or choose another {flag}",
                            self.force_flag
                        ),
                    });
                };
                if stored.command != settings.command {
                    return Err(OutputError::Exists {
                        flag: flag.clone(),
                        path: dir,
                        what: format!(
                            "holds a run of {}, not of {}",
                            stored.command, settings.command
                        ),
                        hint: format!("choose another {flag}"),
                    });
                }
                let changes = settings.changes(&stored);
                if !changes.is_empty() {
                    return Err(OutputError::SettingsDiffer {
                        flag,
                        path: dir,
                        changes,
                        force: self.force_flag.clone(),
                    });
                }
                Found::Resumed
            }
        };
        Ok(self)
    }

    fn stored(&self) -> Result<Option<Settings>, OutputError> {
        let path = self.dir.join(SETTINGS_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = crate::io::read_to_string(&path)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| OutputError::Unreadable {
                flag: self.flag.clone(),
                path,
                reason: format!("is not a settings file ({e})"),
            })
    }

    fn exists(&self, stored: Option<&Settings>, entries: usize) -> OutputError {
        let what = match stored {
            Some(s) => format!("already holds a run of {}", s.command),
            None => format!("is not empty ({entries} file(s))"),
        };
        let (flag, force) = (&self.flag, &self.force_flag);
        let hint = if self.resumable {
            format!("pass --resume to continue it, {force} to replace it, or choose another {flag}")
        } else {
            format!("pass {force} to replace it or choose another {flag}")
        };
        OutputError::Exists {
            flag: flag.clone(),
            path: self.dir.clone(),
            what,
            hint,
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a run with the same settings is continued (its checkpoints are to be read).
    pub fn resuming(&self) -> bool {
        self.found == Found::Resumed
    }

    /// Whether an existing folder's run is replaced (its checkpoints are to be removed).
    pub fn replacing(&self) -> bool {
        self.found == Found::Replaced
    }

    /// Creates the folder and writes its `settings.json` (atomically).
    pub fn create(&self) -> Result<(), OutputError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| FileError::write(&self.dir, e))?;
        let text = serde_json::to_string_pretty(&self.settings).unwrap_or_default();
        crate::io::save(&self.dir.join(SETTINGS_FILE), text.as_bytes())?;
        Ok(())
    }
}

/// An output file of a command, under the [module's policy](self) (a file holds no
/// settings, so it is only ever replaced, with `--force`).
#[derive(Debug, Clone)]
pub struct OutputFile {
    flag: String,
    path: PathBuf,
}

impl OutputFile {
    /// Checks `path` (given by `flag`): refused when it is a folder, one of `inputs`, an
    /// existing file without `force`, or in a place that cannot be written. Writes nothing.
    pub fn check(
        flag: &str,
        path: impl Into<PathBuf>,
        force: bool,
        inputs: &[(&str, &Path)],
    ) -> Result<Self, OutputError> {
        let path = path.into();
        let flag = flag.to_string();
        for (input, p) in inputs {
            if p.exists() && same_path(&path, p) {
                return Err(OutputError::IsInput {
                    flag,
                    path: path.clone(),
                    input: input.to_string(),
                    input_path: p.to_path_buf(),
                });
            }
        }
        if path.is_dir() {
            return Err(OutputError::NotAFile { flag, path });
        }
        if path.exists() {
            if !force {
                return Err(OutputError::Exists {
                    what: "already exists".into(),
                    hint: format!("pass --force to replace it or choose another {flag}"),
                    flag,
                    path,
                });
            }
        } else {
            writable_parent(&flag, &path)?;
        }
        Ok(Self { flag, path })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The flag that named it.
    pub fn flag(&self) -> &str {
        &self.flag
    }

    /// Writes `bytes` (atomically), creating the folders above it.
    pub fn write(&self, bytes: &[u8]) -> Result<(), OutputError> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| FileError::write(parent, e))?;
        }
        Ok(crate::io::save(&self.path, bytes)?)
    }
}

/// The nearest existing folder above `path` must be a folder we may write in.
fn writable_parent(flag: &str, path: &Path) -> Result<(), OutputError> {
    let mut up = path.parent();
    while let Some(p) = up {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        if let Ok(meta) = std::fs::metadata(p) {
            if !meta.is_dir() {
                return Err(OutputError::Unwritable {
                    flag: flag.to_string(),
                    path: path.to_path_buf(),
                    reason: format!("{} is a file", p.display()),
                });
            }
            if meta.permissions().readonly() {
                return Err(OutputError::Unwritable {
                    flag: flag.to_string(),
                    path: path.to_path_buf(),
                    reason: format!("{} is read-only", p.display()),
                });
            }
            return Ok(());
        }
        up = p.parent();
    }
    Ok(())
}

fn absolute(p: &Path) -> Option<PathBuf> {
    // Canonical where the path exists, else its existing parent's canonical form + the name.
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let parent = match p.parent() {
        Some(x) if !x.as_os_str().is_empty() => x,
        _ => Path::new("."),
    };
    Some(parent.canonicalize().ok()?.join(p.file_name()?))
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (absolute(a), absolute(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Whether folder `dir` is `p` or holds it.
fn contains(dir: &Path, p: &Path) -> bool {
    match (absolute(dir), absolute(p)) {
        (Some(d), Some(x)) => x.starts_with(d),
        _ => p.starts_with(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dsm-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_refused_folder_is_left_untouched() {
        let d = tmp("refused");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("model.safetensors"), b"weights").unwrap();
        let s = Settings::new("train");
        let e = OutputFolder::new("--out", &d)
            .resumable()
            .check(&s)
            .unwrap_err();
        assert!(
            e.to_string().contains("is not empty")
                && e.to_string().contains("--resume")
                && e.to_string().contains("--force"),
            "{e}"
        );
        // Resume needs a run's settings.
        let e = OutputFolder::new("--out", &d)
            .existing(Existing::Resume)
            .check(&s)
            .unwrap_err();
        assert!(e.to_string().contains("no settings.json"), "{e}");
        assert_eq!(
            std::fs::read(d.join("model.safetensors")).unwrap(),
            b"weights"
        );
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        // Replace keeps what the command does not write.
        let out = OutputFolder::new("--out", &d)
            .existing(Existing::Replace)
            .check(&s)
            .unwrap();
        assert!(out.replacing());
        out.create().unwrap();
        assert!(d.join("model.safetensors").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn files_inputs_and_other_commands_are_refused() {
        let d = tmp("kinds");
        std::fs::create_dir_all(&d).unwrap();
        let file = d.join("f.txt");
        std::fs::write(&file, b"x").unwrap();
        let s = Settings::new("search_nb201");
        let e = OutputFolder::new("--out", &file).check(&s).unwrap_err();
        assert!(matches!(e, OutputError::NotAFolder { .. }), "{e}");
        let e = OutputFolder::new("--out", d.join("f.txt/sub"))
            .check(&s)
            .unwrap_err();
        assert!(matches!(e, OutputError::Unwritable { .. }), "{e}");
        let e = OutputFile::check("--output", &d, true, &[]).unwrap_err();
        assert!(matches!(e, OutputError::NotAFile { .. }), "{e}");
        let e =
            OutputFile::check("--output", &file, true, &[("--input", file.as_path())]).unwrap_err();
        assert!(e.to_string().contains("is also the input --input"), "{e}");
        let e = OutputFile::check("--output", &file, false, &[]).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        let e = OutputFolder::new("--out", &d)
            .input("--data", &file)
            .existing(Existing::Replace)
            .check(&s)
            .unwrap_err();
        assert!(matches!(e, OutputError::IsInput { .. }), "{e}");
        // A run of another command is not resumed.
        let run = d.join("run");
        OutputFolder::new("--out", &run)
            .check(&Settings::new("train"))
            .unwrap()
            .create()
            .unwrap();
        let e = OutputFolder::new("--out", &run)
            .existing(Existing::Resume)
            .check(&s)
            .unwrap_err();
        assert!(e.to_string().contains("holds a run of train"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn changes_name_every_differing_flag() {
        let a = Settings::new("x").with("--epochs", 1).with("--batch", 64);
        let b = Settings::new("x")
            .with("--epochs", 2)
            .with("--batch", 64)
            .with("--data", "c");
        let c: Vec<String> = b.changes(&a).iter().map(ToString::to_string).collect();
        assert_eq!(
            c,
            [
                "--data (not set in the run, c now)",
                "--epochs (1 in the run, 2 now)"
            ]
        );
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert!(a.changes(&a).is_empty());
    }
}
