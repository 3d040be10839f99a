//! The Pareto front of evaluated architectures: cost (MAdds, latency) against score.

/// Indices of the points that no other point dominates (no higher cost, no lower score, and
/// better in one of them), sorted by increasing cost; of several identical points the first
/// is kept. Points with a NaN coordinate are never on the front.
///
/// ```
/// use dsm_miner::pareto_front;
/// // (cost, score)
/// let pts = [(300.0, 74.0), (500.0, 76.5), (400.0, 73.0), (600.0, 76.5), (200.0, 70.0)];
/// assert_eq!(pareto_front(&pts), vec![4, 0, 1]);
/// ```
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..points.len())
        .filter(|&i| !points[i].0.is_nan() && !points[i].1.is_nan())
        .collect();
    idx.sort_by(|&i, &j| {
        points[i]
            .0
            .total_cmp(&points[j].0)
            .then(points[j].1.total_cmp(&points[i].1))
            .then(i.cmp(&j))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in idx {
        if points[i].1 > best {
            best = points[i].1;
            front.push(i);
        }
    }
    front
}

#[cfg(test)]
mod tests {
    use super::pareto_front;

    #[test]
    fn ties_and_nan() {
        assert_eq!(pareto_front(&[]), Vec::<usize>::new());
        // Equal cost: only the higher score; identical points: the first.
        assert_eq!(pareto_front(&[(1.0, 2.0), (1.0, 3.0), (1.0, 3.0)]), vec![1]);
        assert_eq!(pareto_front(&[(f64::NAN, 9.0), (2.0, 1.0)]), vec![1]);
    }
}
