use std::path::Path;
use std::time::{Duration, Instant};

use super::*;
use crate::config::{Config, parse};

fn backend(extra: &str) -> Config {
    let text = format!(
        r#"{{"version": 3, "endpoints": [{{"endpoint": "/a", "backend": [{{"host": ["http://127.0.0.1:8000"], "extra_config": {{{extra}}}}}]}}]}}"#
    );
    parse(&text, Path::new("test.json")).unwrap_or_else(|e| panic!("{e}"))
}

fn guard(config: &Config, start: Instant) -> BackendGuard {
    BackendGuard::new(&config.endpoints[0].backends[0], 1, "test".into(), start).expect("a guard")
}

fn at(start: Instant, seconds: u64) -> Instant {
    start + Duration::from_secs(seconds)
}

#[test]
fn nothing_configured_means_no_guard() {
    let config = backend("");
    assert!(
        BackendGuard::new(
            &config.endpoints[0].backends[0],
            4,
            String::new(),
            Instant::now()
        )
        .is_none()
    );
}

#[test]
fn rate_limited_calls_fail_fast() {
    let start = Instant::now();
    let config = backend(r#""qos/ratelimit/proxy": {"max_rate": 1, "capacity": 1}"#);
    let guard = guard(&config, start);
    guard.admit(start).expect("first call").success(start);
    let refused = guard.admit(start).err();
    assert_eq!(refused, Some(Refused::RateLimited));
    assert_eq!(Refused::RateLimited.message(), "ERROR: rate limit exceded");
    guard
        .admit(at(start, 1))
        .expect("refilled")
        .success(at(start, 1));
}

#[test]
fn the_breaker_opens_and_tries_again() {
    let start = Instant::now();
    let config =
        backend(r#""qos/circuit-breaker": {"interval": 60, "timeout": 10, "max_errors": 1}"#);
    let guard = guard(&config, start);
    guard.admit(start).unwrap().failure(start);
    guard.admit(start).unwrap().failure(start);
    let refused = guard.admit(at(start, 5)).err();
    assert_eq!(refused, Some(Refused::Breaker(Rejected::Open)));
    assert_eq!(
        refused.map(Refused::message),
        Some("circuit breaker is open")
    );
    let trial = guard.admit(at(start, 11)).expect("the half-open trial");
    assert_eq!(
        guard.admit(at(start, 11)).err(),
        Some(Refused::Breaker(Rejected::TrialRunning))
    );
    trial.success(at(start, 11));
    guard
        .admit(at(start, 11))
        .expect("closed again")
        .success(at(start, 11));
}

#[test]
fn a_dropped_call_is_a_failure_and_a_cancelled_one_is_not() {
    let start = Instant::now();
    let config =
        backend(r#""qos/circuit-breaker": {"interval": 60, "timeout": 10, "max_errors": 0}"#);
    let guard = guard(&config, start);
    guard.admit(start).unwrap().cancel();
    assert!(guard.admit(start).is_ok_and(|call| {
        call.success(start);
        true
    }));
    drop(guard.admit(start).unwrap());
    assert_eq!(
        guard.admit(start).err(),
        Some(Refused::Breaker(Rejected::Open))
    );
}

#[test]
fn a_rate_limited_call_counts_against_the_breaker() {
    let start = Instant::now();
    let config = backend(
        r#""qos/circuit-breaker": {"interval": 60, "timeout": 10, "max_errors": 0},
           "qos/ratelimit/proxy": {"max_rate": 1, "capacity": 1}"#,
    );
    let guard = guard(&config, start);
    guard.admit(start).unwrap().success(start);
    assert_eq!(guard.admit(start).err(), Some(Refused::RateLimited));
    assert_eq!(
        guard.admit(at(start, 1)).err(),
        Some(Refused::Breaker(Rejected::Open)),
        "KrakenD's breaker wraps its rate limiter"
    );
}
