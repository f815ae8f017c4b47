use super::*;

const S: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy)]
enum Step {
    /// A call at this time that is admitted and then succeeds (true) or fails.
    Call(u64, bool),
    /// A call at this time that is refused.
    Refused(u64, Rejected),
    /// The state at this time.
    Is(u64, State),
}
use Step::{Call, Is, Refused};

fn settings(interval: u64, timeout: u64, max_errors: u32) -> BreakerSettings {
    BreakerSettings {
        interval: interval * S,
        timeout: timeout * S,
        max_errors,
    }
}

#[test]
fn transitions() {
    let cases: &[(&str, BreakerSettings, &[Step])] = &[
        (
            "trips when consecutive failures exceed max_errors",
            settings(60, 10, 2),
            &[
                Call(0, false),
                Call(0, false),
                Is(0, State::Closed),
                Call(0, false),
                Is(0, State::Open),
                Refused(1, Rejected::Open),
            ],
        ),
        (
            "max_errors 0 trips on the first failure",
            settings(60, 10, 0),
            &[Call(0, false), Is(0, State::Open)],
        ),
        (
            "a success resets the consecutive count",
            settings(60, 10, 1),
            &[
                Call(0, false),
                Call(0, true),
                Call(0, false),
                Is(0, State::Closed),
                Call(0, false),
                Is(0, State::Open),
            ],
        ),
        (
            "the counting window restarts after interval",
            settings(10, 5, 1),
            &[
                Call(0, false),
                Call(11 * S, false),
                Is(11 * S, State::Closed),
                Call(12 * S, false),
                Is(12 * S, State::Open),
            ],
        ),
        (
            "the window ends strictly after interval",
            settings(10, 5, 1),
            &[Call(0, false), Call(10 * S, false), Is(10 * S, State::Open)],
        ),
        (
            "interval 0 never restarts the window",
            settings(0, 5, 1),
            &[
                Call(0, false),
                Call(1_000_000 * S, false),
                Is(1_000_000 * S, State::Open),
            ],
        ),
        (
            "open until timeout, then half-open admits one trial that closes it",
            settings(60, 10, 0),
            &[
                Call(0, false),
                Refused(10 * S, Rejected::Open),
                Is(10 * S + 1, State::HalfOpen),
                Call(10 * S + 1, true),
                Is(10 * S + 1, State::Closed),
                Call(10 * S + 2, true),
            ],
        ),
        (
            "a failed trial reopens for another timeout",
            settings(60, 10, 0),
            &[
                Call(0, false),
                Call(11 * S, false),
                Is(11 * S, State::Open),
                Refused(21 * S, Rejected::Open),
                Is(22 * S, State::HalfOpen),
            ],
        ),
        (
            "timeout 0 means 60 s",
            settings(60, 0, 0),
            &[
                Call(0, false),
                Refused(60 * S, Rejected::Open),
                Is(60 * S + 1, State::HalfOpen),
            ],
        ),
        (
            "closing clears the failures counted before",
            settings(60, 10, 1),
            &[
                Call(0, false),
                Call(0, false),
                Call(11 * S, true),
                Call(11 * S, false),
                Is(11 * S, State::Closed),
            ],
        ),
    ];
    for (name, settings, steps) in cases {
        let mut breaker = CircuitBreaker::new(*settings, 0);
        for (index, step) in steps.iter().enumerate() {
            match *step {
                Call(now, success) => {
                    let (ticket, _) = breaker
                        .allow(now)
                        .unwrap_or_else(|e| panic!("{name}: step {index}: refused: {e:?}"));
                    breaker.record(ticket, success, now);
                }
                Refused(now, why) => {
                    assert_eq!(breaker.allow(now).err(), Some(why), "{name}: step {index}")
                }
                Is(now, state) => assert_eq!(breaker.state(now), state, "{name}: step {index}"),
            }
        }
    }
}

#[test]
fn half_open_admits_one_trial_at_a_time() {
    let mut breaker = CircuitBreaker::new(settings(60, 10, 0), 0);
    let (ticket, _) = breaker.allow(0).unwrap();
    breaker.record(ticket, false, 0);
    let (trial, transition) = breaker.allow(11 * S).unwrap();
    assert_eq!(
        transition,
        Some(Transition {
            from: State::Open,
            to: State::HalfOpen
        })
    );
    assert_eq!(breaker.allow(11 * S).err(), Some(Rejected::TrialRunning));
    assert_eq!(breaker.allow(12 * S).err(), Some(Rejected::TrialRunning));
    assert_eq!(
        breaker.record(trial, true, 13 * S),
        Some(Transition {
            from: State::HalfOpen,
            to: State::Closed
        })
    );
    assert!(breaker.allow(13 * S).is_ok());
}

#[test]
fn outcomes_from_an_earlier_generation_are_ignored() {
    let mut breaker = CircuitBreaker::new(settings(60, 10, 0), 0);
    let (slow, _) = breaker.allow(0).unwrap();
    let (fast, _) = breaker.allow(0).unwrap();
    assert_eq!(
        breaker.record(fast, false, 1),
        Some(Transition {
            from: State::Closed,
            to: State::Open
        })
    );
    // The slow call succeeds after the breaker opened: it must not close it.
    assert_eq!(breaker.record(slow, true, 2), None);
    assert_eq!(breaker.state(2), State::Open);

    // Same across a closed window restart: old failures do not count.
    let mut breaker = CircuitBreaker::new(settings(10, 10, 0), 0);
    let (old, _) = breaker.allow(0).unwrap();
    let (_, _) = breaker.allow(11 * S).unwrap(); // restarts the window
    assert_eq!(breaker.record(old, false, 11 * S), None);
    assert_eq!(breaker.state(11 * S), State::Closed);
}

#[test]
fn messages_and_names() {
    assert_eq!(Rejected::Open.message(), "circuit breaker is open");
    assert_eq!(Rejected::TrialRunning.message(), "too many requests");
    let names: Vec<&str> = [State::Closed, State::Open, State::HalfOpen]
        .into_iter()
        .map(State::as_str)
        .collect();
    assert_eq!(names, ["closed", "open", "half-open"]);
}

#[test]
fn a_released_trial_frees_the_slot() {
    let mut breaker = CircuitBreaker::new(settings(60, 10, 0), 0);
    let (ticket, _) = breaker.allow(0).unwrap();
    breaker.record(ticket, false, 0);
    let (trial, _) = breaker.allow(11 * S).unwrap();
    assert_eq!(breaker.allow(11 * S).err(), Some(Rejected::TrialRunning));
    breaker.release(trial);
    assert_eq!(breaker.state(11 * S), State::HalfOpen);
    assert!(breaker.allow(11 * S).is_ok());
}
