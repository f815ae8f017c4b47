//! Pool keys of backend hosts, and their resolution at start-up; names
//! are kept current by `upstream::discovery`'s thread: the event loops
//! never block on DNS.

use std::time::Duration;

/// The pool key of a backend base URL: `host:port` of an `http://` URL
/// such as `http://127.0.0.1:8081` (port 80 when absent), and
/// `https://host:port` of an `https://` one (port 443 when absent).
pub fn authority_of(base_url: &str) -> String {
    // A `"sd": "dns"` backend's key (`config::build`'s `srv_host`) is its own.
    if base_url.starts_with(super::discovery::SRV_PREFIX) {
        return base_url.to_string();
    }
    if let Some(rest) = base_url.strip_prefix("https://") {
        let plain = authority_of(rest);
        let host = plain.strip_suffix(":80").filter(|_| !has_port(rest));
        return match host {
            Some(host) => format!("https://{host}:443"),
            None => format!("https://{plain}"),
        };
    }
    let rest = base_url.strip_prefix("http://").unwrap_or(base_url);
    let host = rest.split('/').next().unwrap_or(rest);
    // The port starts after the host: past the `]` of an IPv6 literal.
    let host_end = if host.starts_with('[') {
        host.find(']').map_or(host.len(), |i| i + 1)
    } else {
        host.find(':').unwrap_or(host.len())
    };
    if host[host_end..].starts_with(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    }
}

/// Whether the host part of `rest` (`host[:port][/...]`) names a port.
fn has_port(rest: &str) -> bool {
    let host = rest.split('/').next().unwrap_or(rest);
    match host.rfind(':') {
        Some(colon) => !host[colon..].contains(']'),
        None => false,
    }
}

/// Where a pool key connects: `host:port`, without the `https://` of a TLS one.
pub fn socket_authority(key: &str) -> &str {
    key.strip_prefix("https://").unwrap_or(key)
}

/// Pool key -> the feed of its addresses (`upstream::discovery`).
pub use super::discovery::Resolved;

/// Resolves every authority in parallel, waiting at most `limit` in all;
/// names that did not resolve in time have no address (their calls fail
/// with a clear error instead of stalling start-up). Nothing re-resolves
/// them: `run` uses [`super::discovery::resolve_live`].
pub fn resolve_all(authorities: &[String], limit: Duration) -> Resolved {
    super::discovery::resolve_once(authorities, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        for (url, want) in [
            ("http://127.0.0.1:8081", "127.0.0.1:8081"),
            ("http://example.com", "example.com:80"),
            ("http://example.com/", "example.com:80"),
            ("http://localhost:9000/x", "localhost:9000"),
            ("http://[::1]:8080", "[::1]:8080"),
            ("http://[::1]", "[::1]:80"),
            ("https://example.com", "https://example.com:443"),
            ("https://example.com:80", "https://example.com:80"),
            ("https://127.0.0.1:8443/", "https://127.0.0.1:8443"),
            ("https://[::1]", "https://[::1]:443"),
        ] {
            assert_eq!(authority_of(url), want, "{url}");
        }
    }

    #[test]
    fn resolves_loopback_and_gives_up_on_garbage() {
        let got = resolve_all(
            &["127.0.0.1:80".into(), "no such host!:1".into()],
            Duration::from_secs(2),
        );
        let addrs = |i: usize| -> Vec<std::net::SocketAddr> {
            got[i].1.instances().iter().map(|i| i.addr).collect()
        };
        assert_eq!(addrs(0), ["127.0.0.1:80".parse().unwrap()]);
        assert_eq!(addrs(1), []);
    }
}
