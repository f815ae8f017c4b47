//! Backend connections: per-worker pools, host resolution, the exchange.
//!
//! Knows nothing about endpoints or JSON: it moves HTTP messages.

mod client;
mod conn;
mod error;
mod pool;
mod resolve;

use std::rc::Rc;

pub use client::{OpenResponse, Request, Response, fetch, open};
pub use conn::{BackendConn, RelayError};
pub use error::{BackendError, ConnectFailure, IoFailure, Malformed, RedirectFailure, RetryType};
pub use pool::{IdleBudget, Lease, Pool, PoolSettings};
pub use resolve::{Resolved, authority_of, resolve_all, socket_authority};

/// This worker's pools, one per backend `host:port`.
#[derive(Default)]
pub struct Pools {
    by_authority: ahash::AHashMap<Rc<str>, Rc<Pool>>,
    /// `max_idle_connections`: the idle connections of all these pools
    /// together (kept across a reload that does not change it).
    pub budget: Option<Rc<IdleBudget>>,
}

impl Pools {
    pub fn insert(&mut self, pool: Rc<Pool>) {
        self.by_authority.insert(pool.authority.clone(), pool);
    }

    pub fn get(&self, authority: &str) -> Option<Rc<Pool>> {
        self.by_authority.get(authority).cloned()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rc<Pool>> {
        self.by_authority.values()
    }
}
