//! What identifies a client for `client_max_rate`, per `strategy`.

use std::net::{IpAddr, SocketAddr};

use crate::config::ClientStrategy;

/// A client key, borrowed from the request. Hashed, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientId<'a> {
    Ip(IpAddr),
    /// A header value or a path parameter, as received.
    Text(&'a [u8]),
}

/// The client of a request. `header` looks a header up by its lower-case
/// name, `param` a path parameter by name. `None` (header or param absent
/// or empty) means KrakenD would answer 429.
///
/// With `ip` and a `key` header, the first comma-separated entry of that
/// header is used when it is an IP address (a port is allowed, also for
/// `[v6]:port`, which KrakenD's `split(":")` gets wrong); otherwise the peer.
pub fn client_id<'a>(
    strategy: &ClientStrategy,
    peer: IpAddr,
    header: impl FnOnce(&str) -> Option<&'a [u8]>,
    param: impl FnOnce(&str) -> Option<&'a [u8]>,
) -> Option<ClientId<'a>> {
    match strategy {
        ClientStrategy::Ip { header: None } => Some(ClientId::Ip(peer)),
        ClientStrategy::Ip { header: Some(name) } => Some(ClientId::Ip(
            header(name).and_then(first_ip).unwrap_or(peer),
        )),
        ClientStrategy::Header(name) => header(name).filter(|v| !v.is_empty()).map(ClientId::Text),
        ClientStrategy::Param(name) => param(name).filter(|v| !v.is_empty()).map(ClientId::Text),
    }
}

fn first_ip(value: &[u8]) -> Option<IpAddr> {
    let first = value.split(|b| *b == b',').next()?.trim_ascii();
    let text = std::str::from_utf8(first).ok()?;
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
#[path = "client_id_tests.rs"]
mod tests;
