//! Backend connections: per-worker pools, host resolution, the exchange.
//!
//! Knows nothing about endpoints or JSON: it moves HTTP messages.

pub mod cache;
mod client;
mod conn;
mod discovery;
mod dns;
mod error;
pub mod kind;
mod pool;
mod resolve;

pub use client::{OpenResponse, Request, Response, fetch, host_header, open, open_with};
pub use conn::{BackendConn, RelayError};
pub use discovery::{Feed, SRV_PREFIX, resolve_live, srv_every};
pub use error::{BackendError, ConnectFailure, IoFailure, Malformed, RedirectFailure, RetryType};
pub use pool::{Endpoint, IdleBudget, Lease, Pool, PoolSettings, Pools};
pub use resolve::{Resolved, authority_of, resolve_all, socket_authority};
