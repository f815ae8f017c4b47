//! What the worker learns from each answered request: the one call the
//! connection driver makes after a response has been written, for
//! metrics and the access log. It runs on the worker's thread, on the
//! request path, so what it does must stay cheap and never wait.

use std::net::SocketAddr;
use std::time::Instant;

use crate::config::Config;
use crate::http::Method;

/// One answered request.
pub struct Observed<'a> {
    /// The endpoint it was routed to (index into the config's endpoints);
    /// `None` for built-ins, 404/405, redirects and requests refused
    /// before routing.
    pub endpoint: Option<usize>,
    pub method: Method,
    /// The raw request path, as the client sent it.
    pub path: &'a [u8],
    pub status: u16,
    /// Bytes of the response body sent (for a no-op response cut short,
    /// what was announced).
    pub body_bytes: usize,
    pub started: Instant,
    pub peer: SocketAddr,
    /// `X-KrakenD-Completed`, when the response carries it.
    pub completed: Option<bool>,
}

/// Records answered requests. Nothing is recorded yet.
#[derive(Default)]
pub struct Observer {}

impl Observer {
    pub fn new(_config: &Config) -> Observer {
        Observer {}
    }

    pub fn observe(&self, _request: &Observed<'_>) {}
}
