use super::*;

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

/// Each row: a rate, then (time, admitted?) in order from a full bucket at 0.
#[test]
fn admissions_follow_rate_and_capacity() {
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, Rate, &[(u64, bool)])] = &[
        (
            "burst of capacity, then refused",
            Rate::new(100 * MS, 3),
            &[(0, true), (0, true), (0, true), (0, false), (0, false)],
        ),
        (
            "one token back per interval",
            Rate::new(100 * MS, 2),
            &[
                (0, true),
                (0, true),
                (99 * MS, false),
                (100 * MS, true),
                (100 * MS, false),
                (200 * MS, true),
            ],
        ),
        (
            "refill stops at capacity",
            Rate::new(100 * MS, 2),
            &[(0, true), (10 * S, true), (10 * S, true), (10 * S, false)],
        ),
        (
            "capacity 1 is a strict spacing",
            Rate::new(S, 1),
            &[
                (0, true),
                (S / 2, false),
                (S, true),
                (S + 1, false),
                (2 * S, true),
            ],
        ),
        (
            "refused requests take nothing",
            Rate::new(S, 1),
            &[(0, true), (1, false), (2, false), (S, true)],
        ),
        (
            "zero interval and capacity are clamped to 1",
            Rate::new(0, 0),
            &[(0, true), (0, false), (1, true)],
        ),
        (
            "a clock that goes backwards does not refill",
            Rate::new(S, 1),
            &[(5 * S, true), (4 * S, false), (6 * S, true)],
        ),
    ];
    for (name, rate, steps) in cases {
        let mut bucket = TokenBucket::default();
        for (index, (now, expected)) in steps.iter().enumerate() {
            assert_eq!(
                bucket.try_take(rate, *now),
                *expected,
                "{name}: step {index} at {now} ns"
            );
        }
    }
}

#[test]
fn rates_from_the_config_form() {
    let cases: &[(&str, f64, u64, u64, u64, u64)] = &[
        // name, max_rate, every, capacity, expected interval, expected capacity
        ("10 per second", 10.0, S, 10, 100 * MS, 10),
        ("0.5 per second", 0.5, S, 1, 2 * S, 1),
        ("5 every 10 minutes", 5.0, 600 * S, 5, 120 * S, 5),
        ("zero rate is the slowest", 0.0, S, 1, u64::MAX, 1),
        ("negative rate is the slowest", -3.0, S, 1, u64::MAX, 1),
        ("tiny rate saturates", 1e-30, S, 1, u64::MAX, 1),
    ];
    for (name, max_rate, every, capacity, interval, cap) in cases {
        let rate = Rate::per_period(*max_rate, *every, *capacity);
        assert_eq!(
            (rate.interval(), rate.capacity()),
            (*interval, *cap),
            "{name}"
        );
    }
}

#[test]
fn per_worker_division() {
    let cases: &[(&str, Rate, usize, u64, u64)] = &[
        // name, rate, workers, expected interval, expected capacity
        (
            "one worker keeps it",
            Rate::new(10 * MS, 100),
            1,
            10 * MS,
            100,
        ),
        (
            "zero workers is one",
            Rate::new(10 * MS, 100),
            0,
            10 * MS,
            100,
        ),
        ("four workers", Rate::new(10 * MS, 100), 4, 40 * MS, 25),
        ("capacity rounds up", Rate::new(10 * MS, 10), 4, 40 * MS, 3),
        ("capacity at least 1", Rate::new(10 * MS, 1), 8, 80 * MS, 1),
        ("saturates", Rate::new(u64::MAX / 2, 1), 4, u64::MAX, 1),
    ];
    for (name, rate, workers, interval, capacity) in cases {
        let divided = rate.per_worker(*workers);
        assert_eq!(
            (divided.interval(), divided.capacity()),
            (*interval, *capacity),
            "{name}"
        );
    }
}

#[test]
fn sustained_rate_over_a_long_run() {
    // 50 per second with capacity 5, hammered every millisecond for 10 s:
    // the burst plus one token per 20 ms.
    let rate = Rate::per_period(50.0, S, 5);
    let mut bucket = TokenBucket::default();
    let admitted = (0..10_000u64)
        .filter(|ms| bucket.try_take(&rate, ms * MS))
        .count();
    assert_eq!(admitted, 5 + 10_000 / 20 - 1);
}

#[test]
fn tokens_and_fullness() {
    let rate = Rate::new(100 * MS, 3);
    let mut bucket = TokenBucket::full_at(0);
    assert!(bucket.is_full(0));
    assert_eq!(bucket.tokens(&rate, 0), 3);
    assert!(bucket.try_take(&rate, 0) && bucket.try_take(&rate, 0));
    assert_eq!(bucket.tokens(&rate, 0), 1);
    assert!(!bucket.is_full(0));
    assert_eq!(bucket.tokens(&rate, 150 * MS), 2);
    assert!(bucket.is_full(200 * MS));
    assert_eq!(bucket.tokens(&rate, 200 * MS), 3);
}
