//! Ids and the sampling decision. krakend-otel (`state/state.go`) samples
//! with `ParentBased(TraceIDRatioBased(rate))` for a rate strictly between
//! 0 and 1, and samples everything otherwise; cuttle does the same except
//! that 0 samples nothing (a rate of 0; docs/tracing.md).

use std::cell::Cell;

/// How a request's trace is decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    Always,
    Never,
    /// Parent-based: a parent's `sampled` flag decides; a root is sampled
    /// when the trace id's lower 63 bits fall below the bound (the Go
    /// SDK's `TraceIDRatioBased`: `uint64(rate * 2^63)` against
    /// `BigEndian(traceID[8:16]) >> 1`).
    Ratio(u64),
}

impl Sampler {
    pub fn new(rate: f64) -> Sampler {
        if rate >= 1.0 {
            Sampler::Always
        } else if rate <= 0.0 {
            Sampler::Never
        } else {
            Sampler::Ratio((rate * (1u64 << 63) as f64) as u64)
        }
    }

    /// Whether a span of `trace_id` is recorded, given the remote parent's
    /// flag when there is a parent.
    pub fn sampled(self, trace_id: &[u8; 16], parent_sampled: Option<bool>) -> bool {
        match self {
            Sampler::Always => true,
            Sampler::Never => false,
            Sampler::Ratio(bound) => parent_sampled.unwrap_or_else(|| {
                let low = u64::from_be_bytes(trace_id[8..16].try_into().unwrap_or_default());
                low >> 1 < bound
            }),
        }
    }
}

thread_local! {
    /// A per-thread generator (splitmix64), seeded once from the OS.
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        // No OS randomness: the address of a local and the time still
        // differ between threads and runs.
        let local = 0u8;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return now ^ (&local as *const u8 as u64);
    }
    u64::from_ne_bytes(bytes)
}

fn next() -> u64 {
    STATE.with(|s| {
        let mut z = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

/// A new span id (never all zero).
pub fn span_id() -> [u8; 8] {
    loop {
        let id = next();
        if id != 0 {
            return id.to_be_bytes();
        }
    }
}

/// A new trace id (never all zero).
pub fn trace_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&next().to_be_bytes());
    id[8..].copy_from_slice(&span_id());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_follows_the_go_sdk_and_parents_decide() {
        let s = Sampler::new(0.5);
        let mut id = [0u8; 16];
        assert!(s.sampled(&id, None));
        id[8] = 0xff;
        assert!(!s.sampled(&id, None));
        assert!(s.sampled(&id, Some(true)));
        assert!(!Sampler::new(0.5).sampled(&[0; 16], Some(false)));
        assert_eq!(Sampler::new(1.0), Sampler::Always);
        assert!(Sampler::Always.sampled(&id, Some(false)));
        assert_eq!(Sampler::new(0.0), Sampler::Never);
        assert!(!Sampler::Never.sampled(&id, Some(true)));
    }

    #[test]
    fn about_the_rate_of_roots_is_sampled() {
        let s = Sampler::new(0.1);
        let n = (0..20_000).filter(|_| s.sampled(&trace_id(), None)).count();
        assert!((1_500..2_500).contains(&n), "{n}");
    }

    #[test]
    fn ids_differ_and_are_not_zero() {
        let (a, b) = (trace_id(), trace_id());
        assert_ne!(a, b);
        assert_ne!(span_id(), [0; 8]);
    }
}
