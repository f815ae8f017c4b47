//! A token bucket kept as one number (GCRA, the "virtual scheduling" form):
//! `tat` is the instant at which the bucket will be full again. Taking a
//! token pushes it one emission interval into the future; a request is
//! refused when that would put it more than a bucket's worth ahead of now.
//!
//! This admits exactly what a bucket of `capacity` tokens refilled one token
//! per interval admits, with integer nanoseconds only (no float drift) and
//! 8 bytes of state, which keeps per-client maps small. Time is passed in as
//! nanoseconds since a worker-chosen epoch, so tests never sleep.

/// How fast a bucket refills and how many tokens it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Nanoseconds per token (at least 1).
    interval: u64,
    /// Tokens when full (at least 1).
    capacity: u64,
    /// `(capacity - 1) * interval`: how far ahead of now `tat` may run.
    tolerance: u64,
}

impl Rate {
    /// `interval` nanoseconds per token, `capacity` tokens; zeros become 1
    /// so that a bucket always admits something eventually.
    pub fn new(interval: u64, capacity: u64) -> Rate {
        let interval = interval.max(1);
        let capacity = capacity.max(1);
        Rate {
            interval,
            capacity,
            tolerance: (capacity - 1).saturating_mul(interval),
        }
    }

    /// `max_rate` tokens every `every_nanos`, as KrakenD writes it
    /// (fractions allowed: 0.5 every second is one token per 2 s).
    /// A rate that is not positive is clamped to the slowest one, as KrakenD
    /// clamps it to 1e-9 per second.
    pub fn per_period(max_rate: f64, every_nanos: u64, capacity: u64) -> Rate {
        let interval = if max_rate.is_finite() && max_rate > 0.0 {
            // `as` saturates on overflow; a u64 of nanoseconds is 584 years.
            (every_nanos as f64 / max_rate).round() as u64
        } else {
            u64::MAX
        };
        Rate::new(interval, capacity)
    }

    /// This rate shared among `workers` independent buckets: each refills
    /// `workers` times slower and holds `capacity / workers` tokens
    /// (rounded up, at least 1). See ARCHITECTURE.md for how exact that is.
    pub fn per_worker(self, workers: usize) -> Rate {
        let workers = u64::try_from(workers.max(1)).unwrap_or(u64::MAX);
        Rate::new(
            self.interval.saturating_mul(workers),
            self.capacity.div_ceil(workers),
        )
    }

    pub fn interval(&self) -> u64 {
        self.interval
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }
}

/// One bucket's state. `Default` is a full bucket at any time from the epoch on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenBucket {
    /// Theoretical arrival time: when the bucket is full again (nanos since epoch).
    tat: u64,
}

impl TokenBucket {
    /// A bucket that is full at `now` (and ever after, until used).
    pub fn full_at(now: u64) -> TokenBucket {
        TokenBucket { tat: now }
    }

    /// Takes one token if there is one. A refused request takes nothing.
    pub fn try_take(&mut self, rate: &Rate, now: u64) -> bool {
        let tat = self.tat.max(now);
        if tat - now > rate.tolerance {
            return false;
        }
        self.tat = tat.saturating_add(rate.interval);
        true
    }

    /// True when the bucket holds `capacity` tokens at `now`: such a bucket
    /// behaves exactly like a new one, so forgetting it changes nothing.
    pub fn is_full(&self, now: u64) -> bool {
        self.tat <= now
    }

    /// Whole tokens left at `now` (for tests and diagnostics).
    pub fn tokens(&self, rate: &Rate, now: u64) -> u64 {
        let ahead = self.tat.saturating_sub(now);
        // Each token taken moved `tat` one interval ahead of full.
        let used = ahead.div_ceil(rate.interval);
        rate.capacity.saturating_sub(used)
    }
}

#[cfg(test)]
#[path = "bucket_tests.rs"]
mod tests;
