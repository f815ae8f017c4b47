//! The per-worker time base: state machines count nanoseconds from here.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch(Instant);

impl Epoch {
    pub fn new(start: Instant) -> Epoch {
        Epoch(start)
    }

    /// Nanoseconds from the epoch to `now` (0 before it, saturating after 584 years).
    pub fn nanos(&self, now: Instant) -> u64 {
        nanos(now.saturating_duration_since(self.0))
    }
}

/// A duration in nanoseconds, saturating.
pub fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_since_the_epoch() {
        let start = Instant::now();
        let epoch = Epoch::new(start);
        let cases = [
            (start, 0),
            (start + Duration::from_millis(1500), 1_500_000_000),
            (start + Duration::from_nanos(7), 7),
        ];
        for (now, expected) in cases {
            assert_eq!(epoch.nanos(now), expected);
        }
        if let Some(before) = start.checked_sub(Duration::from_secs(1)) {
            assert_eq!(epoch.nanos(before), 0);
        }
        assert_eq!(nanos(Duration::MAX), u64::MAX);
    }
}
