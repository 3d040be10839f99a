//! Parsers of command-line values that the library's settings cannot name by their flag: plain
//! functions, usable as clap's `value_parser` (clap then names the flag and the value), and
//! [`unique`], the check that a list flag repeats no value.
//!
//! ```
//! use dsm_nas::args::learning_rate;
//! assert_eq!(learning_rate("0.1"), Ok(0.1));
//! assert!(learning_rate("NaN").is_err() && learning_rate("0").is_err() && learning_rate("1e308").is_err());
//! ```

/// A label-smoothing weight: a number in [0, 1).
///
/// ```
/// assert_eq!(dsm_nas::args::fraction("0.1"), Ok(0.1));
/// assert!(dsm_nas::args::fraction("1").is_err() && dsm_nas::args::fraction("NaN").is_err());
/// ```
pub fn fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        Ok(_) => Err("expected a number in [0, 1)".into()),
        Err(_) => Err("expected a number such as 0.1".into()),
    }
}

/// A learning rate: a finite number in (0, 10] (larger steps diverge on every network and
/// controller here).
pub fn learning_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 10.0 => Ok(v),
        Ok(_) => Err("expected a finite number in (0, 10]; larger steps diverge".into()),
        Err(_) => Err("expected a number such as 0.1".into()),
    }
}

/// A list flag (`--seeds 1,1`) that repeats a value: every list is a set of distinct values,
/// since a repeat would be counted as an independent trial (or measured twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeated {
    /// The flag.
    pub flag: String,
    /// The repeated value.
    pub value: String,
}

impl std::fmt::Display for Repeated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} repeats {}; give each value once (a repeat would be counted twice)",
            self.flag, self.value
        )
    }
}

impl std::error::Error for Repeated {}

/// Refuses a list that repeats a value.
///
/// ```
/// use dsm_nas::args::unique;
/// assert!(unique("--seeds", &[0, 1, 2]).is_ok());
/// let err = unique("--seeds", &[1, 2, 1]).unwrap_err();
/// assert_eq!(err.to_string(), "--seeds repeats 1; give each value once (a repeat would be counted twice)");
/// ```
pub fn unique<T: PartialEq + std::fmt::Display>(flag: &str, items: &[T]) -> Result<(), Repeated> {
    match dsm_space::first_repeat(items) {
        Some((_, i)) => Err(Repeated {
            flag: flag.to_string(),
            value: items[i].to_string(),
        }),
        None => Ok(()),
    }
}
