//! Summary statistics of trials: mean, sample standard deviation, standard error, a 95 %
//! confidence interval (Student's t) and the two-sided Mann-Whitney U test.

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// The name of the two-sample test the summaries report (`test` in `results.json`).
pub const TEST_NAME: &str = "mann-whitney-u";

/// Mean and sample standard deviation (`n - 1` in the denominator; 0 for fewer than 2).
///
/// ```
/// let (mean, std) = dsm_protocol::stats::mean_std(&[1.0, 2.0, 3.0]);
/// assert_eq!((mean, std), (2.0, 1.0));
/// ```
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// The standard error of the mean, `std / sqrt(n)` (0 for a single value).
///
/// ```
/// let sem = dsm_protocol::stats::sem(&[1.0, 3.0, 5.0, 7.0]);
/// assert!((sem - (20.0f64 / 3.0).sqrt() / 2.0).abs() < 1e-15);
/// ```
pub fn sem(xs: &[f64]) -> f64 {
    mean_std(xs).1 / (xs.len() as f64).sqrt()
}

/// Two methods' results side by side in one line: each mean with its standard error, and
/// the two-sided [`mann_whitney_u`] p-value between them.
///
/// ```
/// let line = dsm_protocol::stats::compare(("mine", &[3.0, 4.0, 5.0]), ("random", &[1.0, 2.0, 3.0]));
/// assert!(line.starts_with("mine 4.00 (sem 0.58), random 2.00 (sem 0.58); mann-whitney-u p = "), "{line}");
/// ```
pub fn compare(a: (&str, &[f64]), b: (&str, &[f64])) -> String {
    let one =
        |(name, xs): (&str, &[f64])| format!("{name} {:.2} (sem {:.2})", mean_std(xs).0, sem(xs));
    format!(
        "{}, {}; {TEST_NAME} p = {:.2e}",
        one(a),
        one(b),
        mann_whitney_u(a.1, b.1)
    )
}

/// The 95 % confidence interval of the mean, `mean +- t(0.975, n - 1) * sem` (Student's t);
/// a single value's interval is the value itself.
///
/// ```
/// let [lo, hi] = dsm_protocol::stats::ci95(&[1.0, 2.0, 3.0]);
/// // t(0.975, 2) = 4.3027, sem = 1 / sqrt(3)
/// assert!((hi - 2.0 - 4.302653 / 3f64.sqrt()).abs() < 1e-5 && (lo + hi) / 2.0 == 2.0);
/// ```
pub fn ci95(xs: &[f64]) -> [f64; 2] {
    let (mean, std) = mean_std(xs);
    if xs.len() < 2 || std == 0.0 {
        return [mean, mean];
    }
    let n = xs.len() as f64;
    let t = StudentsT::new(0.0, 1.0, n - 1.0)
        .expect("n - 1 >= 1 degrees of freedom")
        .inverse_cdf(0.975);
    let half = t * std / n.sqrt();
    [mean - half, mean + half]
}

/// The two-sided p-value of the Mann-Whitney U test that `a` and `b` come from the same
/// distribution: the normal approximation with the tie correction and a continuity
/// correction of 0.5 (what SciPy's `mannwhitneyu(..., method="asymptotic")` computes). Table
/// accuracies tie often, which rules out the exact distribution; the rank test is used
/// rather than Welch's t because best-found accuracies are bounded and skewed. 1 when either
/// sample is empty or every value is equal.
///
/// ```
/// use dsm_protocol::stats::mann_whitney_u;
/// assert_eq!(mann_whitney_u(&[1.0, 1.0], &[1.0, 1.0]), 1.0);
/// let p = mann_whitney_u(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
/// assert!((p - 0.012185780).abs() < 1e-8, "{p}");
/// ```
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    // Average ranks over ties; sum of t^3 - t over tie groups.
    let (mut rank_a, mut ties) = (0.0f64, 0.0f64);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_a += all[i..=j].iter().filter(|x| x.1).count() as f64 * rank;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        i = j + 1;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u1 = rank_a - n1f * (n1f + 1.0) / 2.0;
    let mu = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - ties / (nf * (nf - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((u1 - mu).abs() - 0.5).max(0.0) / var.sqrt();
    let normal = Normal::new(0.0, 1.0).expect("unit normal");
    // The survival function keeps its precision far in the tail (1 - cdf rounds to 0).
    (2.0 * normal.sf(z)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_scipy_with_ties() {
        // scipy.stats.mannwhitneyu(a, b, method="asymptotic").pvalue
        let a = [94.37, 94.37, 94.18, 93.76, 94.37, 94.02];
        let b = [93.51, 94.37, 93.76, 93.10, 92.95, 93.76, 94.02];
        let p = mann_whitney_u(&a, &b);
        assert!((p - 0.048886483).abs() < 1e-8, "{p}");
        // Symmetric in its arguments.
        assert_eq!(p, mann_whitney_u(&b, &a));
        // Far in the tail the p-value stays positive and ordered.
        let lo: Vec<f64> = (0..500).map(|i| i as f64).collect();
        let hi: Vec<f64> = (0..500).map(|i| 400.0 + i as f64).collect();
        let far: Vec<f64> = (0..500).map(|i| 480.0 + i as f64).collect();
        let (p1, p2) = (mann_whitney_u(&lo, &hi), mann_whitney_u(&lo, &far));
        assert!(p1 > p2 && p2 > 0.0, "{p1} {p2}");
        // scipy: 3.4726343696760146e-152
        assert!((p1 / 3.4726343696760146e-152 - 1.0).abs() < 1e-6, "{p1}");
    }

    #[test]
    fn ci95_widens_with_the_spread_and_narrows_with_n() {
        let small = ci95(&[1.0, 2.0, 3.0, 4.0]);
        let wide = ci95(&[0.0, 2.0, 3.0, 5.0]);
        assert!(wide[1] - wide[0] > small[1] - small[0]);
        let many: Vec<f64> = (0..40).map(|i| 1.0 + (i % 4) as f64).collect();
        let narrow = ci95(&many);
        assert!(narrow[1] - narrow[0] < small[1] - small[0]);
        assert_eq!(ci95(&[7.0]), [7.0, 7.0]);
    }
}
