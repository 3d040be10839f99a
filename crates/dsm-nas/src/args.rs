//! Parsers of command-line values that the library's settings cannot name by their flag: plain
//! functions, usable as clap's `value_parser` (clap then names the flag and the value).
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
