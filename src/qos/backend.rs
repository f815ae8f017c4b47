//! `qos/circuit-breaker` and `qos/ratelimit/proxy` compiled for one worker:
//! what stands between the proxy and one backend call.

use std::cell::Cell;
use std::time::Instant;

use super::breaker::{BreakerSettings, CircuitBreaker, Rejected, Ticket, Transition};
use super::bucket::{Rate, TokenBucket};
use super::clock::{Epoch, nanos};
use super::endpoint::rate_of;
use crate::config::Backend;

/// Why a backend call was not made. KrakenD treats it as the backend's
/// error (`message()` is its text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Breaker(Rejected),
    /// `qos/ratelimit/proxy` has no token for this call.
    RateLimited,
}

impl Refused {
    pub fn message(self) -> &'static str {
        match self {
            Refused::Breaker(why) => why.message(),
            // Sic: krakend-ratelimit's `ErrLimited`.
            Refused::RateLimited => "ERROR: rate limit exceded",
        }
    }
}

#[derive(Debug)]
pub struct BackendGuard {
    epoch: Epoch,
    /// Names the breaker in `log_status_change` lines.
    label: String,
    limiter: Option<(Rate, Cell<TokenBucket>)>,
    breaker: Option<(Cell<CircuitBreaker>, bool)>,
}

impl BackendGuard {
    /// `None` when the backend has neither a breaker nor a rate limit.
    /// `workers` share the backend's rate; each has its own breaker.
    /// `label` names it in logs, e.g. "GET /users/{id} -> /users/{id}".
    pub fn new(
        backend: &Backend,
        workers: usize,
        label: String,
        epoch: Instant,
    ) -> Option<BackendGuard> {
        if backend.circuit_breaker.is_none() && backend.rate_limit.is_none() {
            return None;
        }
        let start = Epoch::new(epoch);
        Some(BackendGuard {
            epoch: start,
            label,
            limiter: backend
                .rate_limit
                .as_ref()
                .map(|limit| (rate_of(&limit.rate).per_worker(workers), Cell::default())),
            breaker: backend.circuit_breaker.as_ref().map(|cb| {
                let settings = BreakerSettings {
                    interval: nanos(cb.interval),
                    timeout: nanos(cb.timeout),
                    max_errors: cb.max_errors,
                };
                (
                    Cell::new(CircuitBreaker::new(settings, start.nanos(epoch))),
                    cb.log_status_change,
                )
            }),
        })
    }

    /// Before the call. KrakenD's order: the breaker wraps the rate limiter,
    /// so a rate-limited call counts as a breaker failure.
    pub fn admit(&self, now: Instant) -> Result<Call<'_>, Refused> {
        let at = self.epoch.nanos(now);
        let ticket = match &self.breaker {
            None => None,
            Some((cell, _)) => {
                let mut breaker = cell.get();
                let result = breaker.allow(at);
                cell.set(breaker);
                let (ticket, transition) = result.map_err(Refused::Breaker)?;
                self.log(transition);
                Some(ticket)
            }
        };
        let call = Call {
            guard: self,
            ticket,
        };
        if let Some((rate, bucket)) = &self.limiter {
            let mut state = bucket.get();
            let admitted = state.try_take(rate, at);
            bucket.set(state);
            if !admitted {
                call.failure(now);
                return Err(Refused::RateLimited);
            }
        }
        Ok(call)
    }

    fn record(&self, ticket: Ticket, success: bool, now: Instant) {
        if let Some((cell, _)) = &self.breaker {
            let mut breaker = cell.get();
            let transition = breaker.record(ticket, success, self.epoch.nanos(now));
            cell.set(breaker);
            self.log(transition);
        }
    }

    fn release(&self, ticket: Ticket) {
        if let Some((cell, _)) = &self.breaker {
            let mut breaker = cell.get();
            breaker.release(ticket);
            cell.set(breaker);
        }
    }

    fn log(&self, transition: Option<Transition>) {
        if let (Some(Transition { from, to }), Some((_, true))) = (transition, &self.breaker) {
            tracing::warn!(
                "[CB] Circuit breaker named '{}' went from '{}' to '{}'",
                self.label,
                from.as_str(),
                to.as_str()
            );
        }
    }
}

/// An admitted backend call. Report how it went; dropping it unreported
/// counts as a failure (the endpoint deadline dropped it, which KrakenD
/// counts as `context deadline exceeded`).
#[derive(Debug)]
#[must_use = "report the outcome with success(), failure() or cancel()"]
pub struct Call<'a> {
    guard: &'a BackendGuard,
    ticket: Option<Ticket>,
}

impl Call<'_> {
    /// The backend answered in a way KrakenD counts as success: no
    /// transport error and a 200/201 status (any status for no-op).
    pub fn success(mut self, now: Instant) {
        if let Some(ticket) = self.ticket.take() {
            self.guard.record(ticket, true, now);
        }
    }

    /// Transport error, timeout, another status, or a body that failed to decode.
    pub fn failure(mut self, now: Instant) {
        if let Some(ticket) = self.ticket.take() {
            self.guard.record(ticket, false, now);
        }
    }

    /// The client went away: the outcome says nothing about the backend
    /// (KrakenD excludes `context.Canceled`).
    pub fn cancel(mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.guard.release(ticket);
        }
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.guard.record(ticket, false, Instant::now());
        }
    }
}

#[cfg(test)]
#[path = "backend_tests.rs"]
mod tests;
