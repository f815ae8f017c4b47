//! The circuit breaker state machine, as KrakenD runs it: sony/gobreaker
//! with `ReadyToTrip: ConsecutiveFailures > max_errors`, `Interval` and
//! `Timeout` from the config, `MaxRequests` 0 (= one trial call).
//!
//! - closed: calls pass. Failures are counted in a window that restarts
//!   `interval` after it began (checked lazily, at the next call); a success
//!   resets the consecutive count. The failure that makes the consecutive
//!   count exceed `max_errors` opens the breaker (so `max_errors: 1` trips
//!   on the second failure in a row, `0` on the first).
//! - open: calls are refused without touching the backend until `timeout`
//!   has passed since opening; then half-open.
//! - half-open: one trial call passes, others are refused while it runs. Its
//!   success closes the breaker, its failure opens it for another `timeout`.
//!
//! Each state change starts a new generation; the outcome of a call admitted
//! in an earlier generation is ignored (as in gobreaker), so a slow call
//! cannot close a breaker that opened while it ran.
//!
//! The state is `Copy` so a worker can keep it in a `Cell`: no borrow can fail.

/// `interval` 0 never resets the counts; `timeout` 0 means 60 s (gobreaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub interval: u64,
    pub timeout: u64,
    pub max_errors: u32,
}

const DEFAULT_TIMEOUT: u64 = 60 * 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    /// gobreaker's names, which KrakenD logs with `log_status_change`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
        }
    }
}

/// Why a call was refused; the texts are gobreaker's error messages, which
/// KrakenD reports as the backend's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// `circuit breaker is open`
    Open,
    /// `too many requests`: half-open and the trial call is still running.
    TrialRunning,
}

impl Rejected {
    pub fn message(self) -> &'static str {
        match self {
            Rejected::Open => "circuit breaker is open",
            Rejected::TrialRunning => "too many requests",
        }
    }
}

/// Proof that a call was admitted; hand it back with the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "report the call's outcome with CircuitBreaker::record"]
pub struct Ticket {
    generation: u64,
}

/// A state change, for `log_status_change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    state: State,
    generation: u64,
    /// Calls admitted in this generation (half-open allows one).
    requests: u32,
    consecutive_failures: u32,
    /// Closed: end of the counting window (`None`: never). Open: end of the timeout.
    expiry: Option<u64>,
}

impl CircuitBreaker {
    pub fn new(settings: BreakerSettings, now: u64) -> CircuitBreaker {
        let settings = BreakerSettings {
            timeout: if settings.timeout == 0 {
                DEFAULT_TIMEOUT
            } else {
                settings.timeout
            },
            ..settings
        };
        let mut breaker = CircuitBreaker {
            settings,
            state: State::Closed,
            generation: 0,
            requests: 0,
            consecutive_failures: 0,
            expiry: None,
        };
        breaker.new_generation(now);
        breaker
    }

    /// The state at `now` (an open breaker whose timeout passed is half-open).
    pub fn state(&mut self, now: u64) -> State {
        self.advance(now);
        self.state
    }

    /// Before a call: admit it (returning the ticket for `record`) or refuse it.
    pub fn allow(&mut self, now: u64) -> Result<(Ticket, Option<Transition>), Rejected> {
        let transition = self.advance(now);
        match self.state {
            State::Open => return Err(Rejected::Open),
            State::HalfOpen if self.requests >= 1 => return Err(Rejected::TrialRunning),
            _ => {}
        }
        self.requests = self.requests.saturating_add(1);
        let ticket = Ticket {
            generation: self.generation,
        };
        Ok((ticket, transition))
    }

    /// After a call: its outcome. Returns the state change it caused, if any.
    pub fn record(&mut self, ticket: Ticket, success: bool, now: u64) -> Option<Transition> {
        let timed = self.advance(now);
        if ticket.generation != self.generation {
            return timed;
        }
        let caused = match (self.state, success) {
            (State::Closed, true) => {
                self.consecutive_failures = 0;
                None
            }
            (State::Closed, false) => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                (self.consecutive_failures > self.settings.max_errors)
                    .then(|| self.set_state(State::Open, now))
            }
            (State::HalfOpen, true) => Some(self.set_state(State::Closed, now)),
            (State::HalfOpen, false) => Some(self.set_state(State::Open, now)),
            // Unreachable: an open breaker admits nothing in its generation.
            (State::Open, _) => None,
        };
        caused.or(timed)
    }

    /// After a call whose outcome must not count (the client went away:
    /// KrakenD excludes `context.Canceled`): frees its half-open trial slot.
    pub fn release(&mut self, ticket: Ticket) {
        if ticket.generation == self.generation {
            self.requests = self.requests.saturating_sub(1);
        }
    }

    /// Applies what the passing of time does: a closed window restarts, an
    /// open breaker becomes half-open.
    fn advance(&mut self, now: u64) -> Option<Transition> {
        match (self.state, self.expiry) {
            (State::Closed, Some(end)) if end < now => {
                self.new_generation(now);
                None
            }
            (State::Open, Some(end)) if end < now => Some(self.set_state(State::HalfOpen, now)),
            _ => None,
        }
    }

    fn set_state(&mut self, to: State, now: u64) -> Transition {
        let from = self.state;
        self.state = to;
        self.new_generation(now);
        Transition { from, to }
    }

    fn new_generation(&mut self, now: u64) {
        self.generation = self.generation.wrapping_add(1);
        self.requests = 0;
        self.consecutive_failures = 0;
        self.expiry = match self.state {
            State::Closed if self.settings.interval == 0 => None,
            State::Closed => Some(now.saturating_add(self.settings.interval)),
            State::Open => Some(now.saturating_add(self.settings.timeout)),
            State::HalfOpen => None,
        };
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;
