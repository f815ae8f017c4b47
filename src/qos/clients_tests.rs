use std::net::{IpAddr, Ipv4Addr};

use super::*;

const S: u64 = 1_000_000_000;

/// Each row: (client, time, admitted?) in order, 1 token per second, capacity 2.
#[test]
fn each_client_has_its_own_bucket() {
    #[allow(clippy::type_complexity)]
    let cases: &[(&str, &[(&str, u64, bool)])] = &[
        (
            "clients do not share tokens",
            &[
                ("a", 0, true),
                ("a", 0, true),
                ("a", 0, false),
                ("b", 0, true),
                ("b", 0, true),
                ("b", 0, false),
            ],
        ),
        (
            "a limited client does not limit another",
            &[
                ("a", 0, true),
                ("a", 0, true),
                ("a", 0, false),
                ("a", 0, false),
                ("c", 0, true),
            ],
        ),
        (
            "each refills on its own",
            &[
                ("a", 0, true),
                ("a", 0, true),
                ("b", S / 2, true),
                ("a", S, true),
                ("a", S, false),
                // b used one of two at S/2 and got half a token back since.
                ("b", S, true),
                ("b", S, false),
            ],
        ),
        (
            "keys are exact: case and length matter",
            &[
                ("Key", 0, true),
                ("Key", 0, true),
                ("key", 0, true),
                ("Key ", 0, true),
                ("Key", 0, false),
            ],
        ),
    ];
    for (name, steps) in cases {
        let mut limiter = ClientLimiter::new(Rate::new(S, 2), DEFAULT_MAX_CLIENTS);
        for (index, (client, now, expected)) in steps.iter().enumerate() {
            assert_eq!(
                limiter.try_take(*client, *now),
                *expected,
                "{name}: step {index} ({client} at {now})"
            );
        }
    }
}

#[test]
fn any_hashable_key_works() {
    let mut limiter = ClientLimiter::new(Rate::new(S, 1), 16);
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    assert!(limiter.try_take(&ip, 0));
    assert!(!limiter.try_take(&ip, 0));
    assert!(limiter.try_take(&IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 0));
    let long = vec![b'x'; 100_000];
    assert!(limiter.try_take(long.as_slice(), 0));
    assert!(!limiter.try_take(long.as_slice(), 0));
}

#[test]
fn a_flood_of_new_clients_stays_within_the_bound() {
    let cases: &[(usize, usize)] = &[(0, 2), (1, 2), (2, 2), (7, 6), (1000, 1000)];
    for (max, bound) in cases {
        let mut limiter = ClientLimiter::new(Rate::new(S, 5), *max);
        for client in 0..50_000u32 {
            // All at one instant: nothing refills, so nothing is dropped as full.
            assert!(limiter.try_take(&client, 0), "new clients start full");
            assert!(
                limiter.len() <= *bound,
                "max {max}: {} buckets after {client}",
                limiter.len()
            );
        }
    }
}

#[test]
fn an_active_client_survives_a_flood() {
    // Capacity 1 and no refill during the test: if "abuser" were ever
    // evicted it would get a fresh token and be admitted again.
    let mut limiter = ClientLimiter::new(Rate::new(1_000 * S, 1), 100);
    assert!(limiter.try_take("abuser", 0));
    for client in 0..10_000u32 {
        limiter.try_take(&client, 1);
        // The abuser keeps trying: it is touched at least once per generation.
        if client % 10 == 0 {
            assert!(
                !limiter.try_take("abuser", 1),
                "abuser readmitted at {client}"
            );
        }
    }
}

#[test]
fn an_idle_client_is_forgotten_and_starts_over() {
    let mut limiter = ClientLimiter::new(Rate::new(1_000 * S, 1), 10);
    assert!(limiter.try_take("idle", 0));
    assert!(!limiter.try_take("idle", 0));
    for client in 0..20u32 {
        limiter.try_take(&client, 0);
    }
    // Two generations went by without it: its bucket was dropped.
    assert!(limiter.try_take("idle", 0));
}

#[test]
fn full_buckets_are_dropped_at_turnover() {
    let mut limiter = ClientLimiter::new(Rate::new(S, 1), 10);
    for client in 0..5u32 {
        limiter.try_take(&client, 0);
    }
    assert_eq!(limiter.len(), 5);
    // Much later all five are full again: the turnover drops them all.
    limiter.try_take("late", 100 * S);
    assert_eq!(limiter.len(), 1);
    assert!(!limiter.is_empty());
}
