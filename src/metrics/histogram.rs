//! A fixed-bucket histogram of plain integers: one worker writes it, no
//! atomics. Buckets are krakend-otel's (`config/histogram_buckets.go`).

/// Seconds: 10 ms to 10 s.
pub const DURATION_BOUNDS: &[f64] = &[
    0.010, 0.020, 0.050, 0.075, 0.100, 0.125, 0.150, 0.175, 0.200, 0.250, 0.300, 0.350, 0.500,
    0.750, 1.000, 1.500, 2.000, 3.500, 5.000, 10.000,
];

/// Bytes: 128 B to 64 MiB.
pub const SIZE_BOUNDS: &[f64] = &[
    128.0,
    256.0,
    512.0,
    1024.0,
    4096.0,
    8192.0,
    16384.0,
    32768.0,
    65536.0,
    262_144.0,
    524_288.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `counts[i]`: observations in bucket i (not cumulative); the last
    /// slot holds those above the largest bound.
    counts: Box<[u64]>,
    sum: f64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            counts: vec![0; bounds.len() + 1].into_boxed_slice(),
            sum: 0.0,
        }
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
        self.counts[slot] += 1;
        self.sum += value;
    }

    pub fn add(&mut self, other: &Histogram) {
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
        self.counts.iter().enumerate().map(move |(i, n)| {
            running += n;
            (bounds.get(i).copied(), running)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_on_a_bound_falls_in_that_bucket() {
        let mut h = Histogram::new(DURATION_BOUNDS);
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
        let mut a = Histogram::new(SIZE_BOUNDS);
        let mut b = Histogram::new(SIZE_BOUNDS);
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
