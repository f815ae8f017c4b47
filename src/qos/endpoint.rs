//! `qos/ratelimit/router` compiled for one worker.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use super::bucket::{Rate, TokenBucket};
use super::client_id::ClientId;
use super::clients::ClientLimiter;
use super::clock::{Epoch, nanos};
use crate::config::{ClientStrategy, RateSpec, RouterRateLimit};

/// Why a request was refused before routing to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// `max_rate`: all clients together. KrakenD: 503, empty body.
    Endpoint,
    /// `client_max_rate`, or no client key. KrakenD: 429, empty body.
    Client,
}

impl Limited {
    pub fn status(self) -> u16 {
        match self {
            Limited::Endpoint => 503,
            Limited::Client => 429,
        }
    }
}

#[derive(Debug)]
pub struct EndpointLimiter {
    epoch: Epoch,
    /// The endpoint-wide bucket, holding this worker's share.
    shared: Option<(Rate, Cell<TokenBucket>)>,
    /// Per-client buckets: not divided (a client's connections usually
    /// land on one worker; see ARCHITECTURE.md).
    clients: Option<(ClientStrategy, RefCell<ClientLimiter>)>,
}

impl EndpointLimiter {
    /// `workers`: how many workers share the endpoint-wide rate.
    /// `max_clients`: the bound on client buckets (`DEFAULT_MAX_CLIENTS`).
    pub fn new(
        spec: &RouterRateLimit,
        workers: usize,
        max_clients: usize,
        epoch: Instant,
    ) -> EndpointLimiter {
        EndpointLimiter {
            epoch: Epoch::new(epoch),
            shared: spec
                .endpoint
                .as_ref()
                .map(|rate| (rate_of(rate).per_worker(workers), Cell::default())),
            clients: spec.client.as_ref().map(|client| {
                let limiter = ClientLimiter::new(rate_of(&client.rate), max_clients);
                (client.strategy.clone(), RefCell::new(limiter))
            }),
        }
    }

    /// How to find the client key for `check` (`None`: no per-client limit).
    pub fn strategy(&self) -> Option<&ClientStrategy> {
        self.clients.as_ref().map(|(strategy, _)| strategy)
    }

    /// Takes a token for this request, per-client first as KrakenD does
    /// (a request refused per client does not use the endpoint's tokens).
    /// `client` is ignored without a per-client limit.
    pub fn check(&self, now: Instant, client: Option<ClientId<'_>>) -> Result<(), Limited> {
        let now = self.epoch.nanos(now);
        if let Some((_, limiter)) = &self.clients {
            let client = client.ok_or(Limited::Client)?;
            // The borrow cannot be held elsewhere: `check` does not await.
            let admitted = limiter
                .try_borrow_mut()
                .map(|mut limiter| limiter.try_take(&client, now))
                .unwrap_or(true);
            if !admitted {
                return Err(Limited::Client);
            }
        }
        if let Some((rate, bucket)) = &self.shared {
            let mut state = bucket.get();
            let admitted = state.try_take(rate, now);
            bucket.set(state);
            if !admitted {
                return Err(Limited::Endpoint);
            }
        }
        Ok(())
    }
}

/// The config's rate as a bucket rate.
pub(super) fn rate_of(spec: &RateSpec) -> Rate {
    Rate::per_period(spec.max_rate, nanos(spec.every), spec.capacity)
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
