//! Service-level checks that run on every request before the built-ins and
//! the router: the place for what KrakenD applies to the whole service
//! (CORS, security headers and host checks, the service-wide bot
//! detector). A check may answer the request itself (a preflight, a
//! refused host) or add header lines to `decor`, which the one finishing
//! place (`proxy::finish`) writes on whatever response the request gets.

use std::net::SocketAddr;

use crate::config::Config;
use crate::http::RequestHead;
use crate::proxy::Refusal;

/// What the screen sees of a request.
pub struct EdgeRequest<'a> {
    pub head: &'a RequestHead,
    /// The read buffer `head` indexes into.
    pub buf: &'a [u8],
    pub peer: SocketAddr,
    /// The client reached us over TLS.
    pub secure: bool,
}

/// The screen's decision.
pub enum Screen {
    /// Route and answer as usual.
    Pass,
    /// Answer with this instead (plus the lines pushed into `decor`).
    Answer(Refusal),
}

/// The service-level checks, compiled once per worker from the config.
#[derive(Default)]
pub struct Edge {}

impl Edge {
    pub fn new(_config: &Config) -> Edge {
        Edge {}
    }

    /// Decides on `req` before anything else looks at it; header lines
    /// for the response go into `decor`.
    pub fn screen(&self, _req: &EdgeRequest<'_>, _decor: &mut Vec<u8>) -> Screen {
        Screen::Pass
    }
}
