//! krakend-metrics' histograms (rcrowley/go-metrics `NewHistogram` over
//! `NewUniformSample(1028)`, krakend-metrics `metrics.go`): a uniform
//! reservoir of at most [`RESERVOIR`] values (Vitter's algorithm R, as
//! go-metrics `sample.go` `UniformSample.Update`), with the count of every
//! value seen. The reservoir gives the standard deviation and the
//! percentiles; the count, minimum, maximum and mean are kept exactly over
//! every value (go-metrics takes them from the reservoir too, which is the
//! same thing up to 1028 values). One worker writes it; no atomics.

/// go-metrics' reservoir size in krakend-metrics (`defaultSample`).
pub const RESERVOIR: usize = 1028;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    count: u64,
    min: i64,
    max: i64,
    sum: i128,
    /// Empty until the first value, which reserves the whole reservoir
    /// once (kept across [`Sample::clear`]).
    values: Vec<i64>,
}

/// A small xorshift generator for the reservoir's draws: one per worker,
/// its state a plain number.
pub fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

impl Sample {
    pub fn update(&mut self, value: i64, random: &mut u64) {
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        self.sum += i128::from(value);
        if self.values.len() < RESERVOIR {
            if self.values.capacity() == 0 {
                self.values.reserve_exact(RESERVOIR);
            }
            self.values.push(value);
        } else {
            let at = next_random(random) % self.count;
            if let Some(slot) = self.values.get_mut(at as usize) {
                *slot = value;
            }
        }
    }

    /// The window starts again (go-metrics `Histogram.Clear`).
    pub fn clear(&mut self) {
        self.count = 0;
        self.sum = 0;
        self.min = 0;
        self.max = 0;
        self.values.clear();
    }

    /// Adds another worker's sample: counts add up; the reservoirs are
    /// joined whole while they fit, else each gives a share of random
    /// values in proportion to the values it stands for.
    pub fn add(&mut self, other: &Sample) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        let (mine, theirs) = (self.count, other.count);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
        if self.values.len() + other.values.len() <= RESERVOIR {
            self.values.extend_from_slice(&other.values);
            return;
        }
        let share = ((RESERVOIR as u128 * u128::from(mine)) / u128::from(mine + theirs)) as usize;
        let mut random = self.count ^ 0x9e37_79b9_7f4a_7c15;
        let mut joined = pick(&self.values, share, &mut random);
        joined.extend(pick(&other.values, RESERVOIR - share, &mut random));
        self.values = joined;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn min(&self) -> i64 {
        self.min
    }

    pub fn max(&self) -> i64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        self.sum as f64 / self.count as f64
    }

    /// go-metrics `SampleStdDev`: the population standard deviation of
    /// the reservoir.
    pub fn std_dev(&self) -> f64 {
        if self.values.is_empty() {
            return 0.0;
        }
        let n = self.values.len() as f64;
        let mean = self.values.iter().map(|v| *v as f64).sum::<f64>() / n;
        let squares: f64 = self
            .values
            .iter()
            .map(|v| {
                let d = *v as f64 - mean;
                d * d
            })
            .sum();
        (squares / n).sqrt()
    }

    /// go-metrics `SamplePercentiles` over the reservoir: position
    /// `p·(n+1)`, interpolated between its neighbours, clamped to the ends.
    pub fn percentiles(&self, ps: &[f64]) -> Vec<f64> {
        let mut sorted = self.values.clone();
        sorted.sort_unstable();
        let size = sorted.len();
        ps.iter()
            .map(|p| {
                if size == 0 {
                    return 0.0;
                }
                let pos = p * (size + 1) as f64;
                if pos < 1.0 {
                    sorted[0] as f64
                } else if pos >= size as f64 {
                    sorted[size - 1] as f64
                } else {
                    let lower = sorted[pos as usize - 1] as f64;
                    let upper = sorted[pos as usize] as f64;
                    lower + (pos - pos.floor()) * (upper - lower)
                }
            })
            .collect()
    }
}

/// `n` values of `values` at random (all of them when it has no more).
fn pick(values: &[i64], n: usize, random: &mut u64) -> Vec<i64> {
    if n >= values.len() {
        return values.to_vec();
    }
    let mut copy = values.to_vec();
    // A partial Fisher-Yates shuffle: the first n are a uniform choice.
    for i in 0..n {
        let j = i + (next_random(random) % (copy.len() - i) as u64) as usize;
        copy.swap(i, j);
    }
    copy.truncate(n);
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[i64]) -> Sample {
        let mut s = Sample::default();
        let mut r = 1;
        for v in values {
            s.update(*v, &mut r);
        }
        s
    }

    #[test]
    fn small_samples_give_go_metrics_figures() {
        // 1..=100: population standard deviation sqrt((n²-1)/12), and
        // the positions p·101 of go-metrics' SamplePercentiles.
        let s = of(&(1..=100).collect::<Vec<_>>());
        assert_eq!((s.count(), s.min(), s.max()), (100, 1, 100));
        assert_eq!(s.mean(), 50.5);
        assert!((s.std_dev() - 28.86607004772212).abs() < 1e-9);
        assert_eq!(s.percentiles(&[0.5, 0.75, 0.99]), vec![50.5, 75.75, 99.99]);
        assert_eq!(of(&[]).percentiles(&[0.5]), vec![0.0]);
    }

    #[test]
    fn the_reservoir_stays_bounded_and_counts_stay_exact() {
        let s = of(&(0..10_000).collect::<Vec<_>>());
        assert_eq!(s.count(), 10_000);
        assert_eq!(s.values.len(), RESERVOIR);
        assert_eq!((s.min(), s.max()), (0, 9_999));
        let median = s.percentiles(&[0.5])[0];
        assert!((3_500.0..6_500.0).contains(&median), "{median}");
    }

    #[test]
    fn adding_joins_reservoirs() {
        let mut a = of(&[5, 7]);
        a.add(&of(&[1, 9]));
        assert_eq!((a.count(), a.min(), a.max(), a.mean()), (4, 1, 9, 5.5));
        assert_eq!(a.percentiles(&[0.5]), vec![6.0]);
        let mut big = of(&(0..2_000).collect::<Vec<_>>());
        big.add(&of(&(0..2_000).collect::<Vec<_>>()));
        assert_eq!(big.count(), 4_000);
        assert_eq!(big.values.len(), RESERVOIR);
        a.clear();
        assert_eq!((a.count(), a.mean(), a.std_dev()), (0, 0.0, 0.0));
    }
}
