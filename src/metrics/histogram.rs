//! A fixed-bucket histogram of plain integers: one worker writes it, no
//! atomics. The bounds are the configuration's (`telemetry/opentelemetry`
//! `histograms`, krakend-otel's `config/histogram_buckets.go` by default),
//! passed in by the caller: a histogram holds only its counts.

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// `counts[i]`: observations in bucket i (not cumulative); the last
    /// slot holds those above the largest bound. Empty until the first
    /// observation (or addition), which sizes it for its bounds.
    counts: Box<[u64]>,
    sum: f64,
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram::default()
    }

    /// Counts `value` in the first bucket whose bound is at least `value`
    /// (Prometheus' `le`).
    pub fn observe(&mut self, bounds: &[f64], value: f64) {
        // A scan from the smallest bound: a gateway's durations and sizes
        // nearly all fall in the first buckets, found in a compare or two
        // (a binary search takes five, each hard to predict).
        let slot = bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(bounds.len());
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len() + 1].into_boxed_slice();
        }
        self.counts[slot] += 1;
        self.sum += value;
    }

    pub fn add(&mut self, other: &Histogram) {
        if self.counts.is_empty() {
            self.counts = vec![0; other.counts.len()].into_boxed_slice();
        }
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// `(bound, cumulative count)` for each bound, then `+Inf`.
    pub fn cumulative<'a>(
        &'a self,
        bounds: &'a [f64],
    ) -> impl Iterator<Item = (Option<f64>, u64)> + 'a {
        let mut running = 0;
        (0..=bounds.len()).map(move |i| {
            running += self.counts.get(i).copied().unwrap_or(0);
            (bounds.get(i).copied(), running)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const DURATION_BOUNDS: &[f64] = &crate::config::DEFAULT_TIME_BUCKETS;
    const SIZE_BOUNDS: &[f64] = &crate::config::DEFAULT_SIZE_BUCKETS;

    #[test]
    fn a_value_on_a_bound_falls_in_that_bucket() {
        let mut h = Histogram::new();
        h.observe(DURATION_BOUNDS, 0.010);
        h.observe(DURATION_BOUNDS, 0.0101);
        h.observe(DURATION_BOUNDS, 0.0);
        h.observe(DURATION_BOUNDS, 60.0);
        let cumulative: Vec<_> = h.cumulative(DURATION_BOUNDS).collect();
        assert_eq!(cumulative[0], (Some(0.010), 2));
        assert_eq!(cumulative[1], (Some(0.020), 3));
        assert_eq!(cumulative[19], (Some(10.0), 3));
        assert_eq!(cumulative[20], (None, 4));
        assert_eq!(h.count(), 4);
        assert!((h.sum() - 60.0201).abs() < 1e-9);
    }

    #[test]
    fn adding_sums_each_bucket() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.observe(SIZE_BOUNDS, 100.0);
        b.observe(SIZE_BOUNDS, 100.0);
        b.observe(SIZE_BOUNDS, 5000.0);
        a.add(&b);
        let cumulative: Vec<_> = a.cumulative(SIZE_BOUNDS).collect();
        assert_eq!(cumulative[0], (Some(128.0), 2));
        assert_eq!(cumulative[4], (Some(4096.0), 2));
        assert_eq!(cumulative[5], (Some(8192.0), 3));
        assert_eq!(a.count(), 3);
    }
}
