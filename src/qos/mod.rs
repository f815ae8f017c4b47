//! KrakenD's protection components as per-worker state machines:
//! `qos/ratelimit/router` (endpoint), `qos/ratelimit/proxy` and
//! `qos/circuit-breaker` (backend); and the same limits counted in Redis
//! (`SharedLimiter`: `qos/ratelimit/router/redis`, cuttle's
//! `qos/ratelimit/proxy/redis`).
//!
//! The pure machines (`TokenBucket`, `ClientLimiter`, `CircuitBreaker`) take
//! the time as nanoseconds and never read a clock, so they are tested without
//! sleeping. The compiled forms (`EndpointLimiter`, `BackendGuard`) are what a
//! worker builds once per endpoint / backend from the `Config`: they take an
//! `Instant`, keep their state in `Cell`/`RefCell` (no locks, no atomics) and
//! divide endpoint-wide and backend-wide rates among the workers (see
//! ARCHITECTURE.md, "Rate limits and circuit breakers across workers").
//!
//! What KrakenD answers:
//! - endpoint `max_rate` exceeded: 503, empty body;
//! - `client_max_rate` exceeded, or the client key (header/param) missing: 429, empty body;
//! - backend rate limit or open breaker: the backend call fails with
//!   `ERROR: rate limit exceded` / `circuit breaker is open` (or `too many
//!   requests` while a half-open trial runs), handled like any failed
//!   backend (500 for a single backend, a partial answer with
//!   `X-KrakenD-Completed: false` when several are merged).

mod backend;
mod breaker;
mod bucket;
mod client_id;
mod clients;
mod clock;
mod endpoint;
mod shared;

pub use backend::{BackendGuard, Call, Refused};
pub use breaker::{BreakerSettings, CircuitBreaker, Rejected, State, Ticket, Transition};
pub use bucket::{Rate, TokenBucket};
pub use client_id::{ClientId, client_id};
pub use clients::{ClientLimiter, DEFAULT_MAX_CLIENTS};
pub use clock::Epoch;
pub use endpoint::{EndpointLimiter, Limited};
pub use shared::SharedLimiter;
