//! Endpoint `websocket` (KrakenD Enterprise, docs "WebSockets
//! Integration"; option names, types and defaults from krakend-schema
//! v2.13 `websocket.json`).
//!
//! cuttle serves the direct-communication mode only: one client connection
//! relayed to one backend connection, frames passed through unchanged.
//! KrakenD's default mode multiplexes every client of an endpoint over one
//! backend connection in its own JSON envelope; a file that asks for it
//! (no `enable_direct_communication: true`) is refused, as are the options
//! that only exist there (`connect_event`, `disconnect_event`). Options
//! that tune what a relay has no use for are accepted and listed among the
//! ignored settings, so `check` says they do nothing.

use std::time::Duration;

use serde_json::Value;

use super::error::{BuildResult, Problem};
use super::extra::{Unknown, decode};
use super::model::Forward;
use super::raw::RawWebSocket;

pub const NAMESPACE: &str = "websocket";

/// The request headers that make the handshake itself: never copied from
/// the client to the backend whatever `input_headers` says (KrakenD's docs
/// list Upgrade, Connection, Sec-WebSocket-Extensions, -Version and -Key;
/// -Protocol is negotiated through `subprotocols`, -Accept is an answer's).
pub const HANDSHAKE_HEADERS: [&str; 6] = [
    "upgrade",
    "connection",
    "sec-websocket-extensions",
    "sec-websocket-version",
    "sec-websocket-key",
    "sec-websocket-protocol",
];

/// What a websocket endpoint honours. Defaults are the schema's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketSettings {
    /// Client headers copied into the backend's upgrade request (names
    /// lower-cased; absent or empty: none, `"*"`: all), less
    /// [`HANDSHAKE_HEADERS`].
    pub input_headers: Forward,
    /// Subprotocols a client may ask for: the offered ones in this list are
    /// offered to the backend, and the backend must pick one of them.
    pub subprotocols: Vec<String>,
    /// Bytes read at a time from either side (default 1024).
    pub read_buffer_size: usize,
    /// Bytes gathered before a write to either side (default 1024).
    pub write_buffer_size: usize,
    /// The largest message, in payload bytes, either side may send
    /// (default 512): a bigger one closes both sides with status 1009.
    pub max_message_size: u64,
    /// Bound on each write to either side (default 10s).
    pub write_wait: Duration,
    /// Idle limit: no frame in either direction for this long closes both
    /// sides (default 60s). KrakenD expects a pong within it.
    pub pong_wait: Duration,
    /// How often the client is pinged (default 54s), so that a live client
    /// answers within `pong_wait` though nobody writes; `None` when it is
    /// not shorter than `pong_wait` (then no pings: silence closes).
    pub ping_period: Option<Duration>,
    /// The backend must send a frame at least this often (default 5m,
    /// at least 1m as KrakenD documents).
    pub backend_timeout: Duration,
    /// `disable_otel_metrics`: the sessions are not counted.
    pub metrics: bool,
}

const MIN_TIMEOUT: Duration = Duration::from_secs(60);

pub fn settings(value: &Value, at: &str, unknown: &mut Unknown) -> BuildResult<WebSocketSettings> {
    let raw: RawWebSocket = decode(value, at)?;
    if raw.enable_direct_communication != Some(true) {
        return Err(Problem::new(
            format!("{at}.enable_direct_communication"),
            "without it KrakenD multiplexes every client of the endpoint over one backend connection in its own message envelope, which cuttle does not implement; cuttle relays one client connection to one backend connection: set \"enable_direct_communication\": true if the backend speaks plain WebSocket",
        ));
    }
    for (key, on) in [
        ("connect_event", raw.connect_event),
        ("disconnect_event", raw.disconnect_event),
    ] {
        if on == Some(true) {
            return Err(Problem::new(
                format!("{at}.{key}"),
                "events are messages of the multiplexed mode's envelope; with direct communication the backend sees the connection itself open and close: remove it or set it to false",
            ));
        }
    }
    // What a one-to-one relay has no use for: no message queue per client,
    // no reconnection (a backend that goes away ends the session).
    for (key, set) in [
        ("message_buffer_size", raw.message_buffer_size.is_some()),
        ("max_retries", raw.max_retries.is_some()),
        ("backoff_strategy", raw.backoff_strategy.is_some()),
        ("return_error_details", raw.return_error_details.is_some()),
    ] {
        if set {
            unknown.ignored.insert(format!("{NAMESPACE}.{key}"));
        }
    }
    let size = |key: &str, value: Option<i64>, default: u64| -> BuildResult<u64> {
        match value {
            // KrakenD's zero means "not set".
            None | Some(0) => Ok(default),
            Some(n) if n > 0 => Ok(n as u64),
            Some(n) => Err(Problem::new(
                format!("{at}.{key}"),
                format!("{n} is not a size; write a number of bytes, e.g. {default}"),
            )),
        }
    };
    let duration = |value: Option<super::raw::GoDuration>, default: Duration| {
        value
            .map(|d| d.0)
            .filter(|d| !d.is_zero())
            .unwrap_or(default)
    };
    let buffer = |key: &str, value: Option<i64>| -> BuildResult<usize> {
        let bytes = size(key, value, 1024)?;
        Ok(usize::try_from(bytes).unwrap_or(usize::MAX).min(1 << 20))
    };
    let pong_wait = duration(raw.pong_wait, Duration::from_secs(60));
    let ping_period = duration(raw.ping_period, Duration::from_secs(54));
    Ok(WebSocketSettings {
        input_headers: forward_names(raw.input_headers.unwrap_or_default()),
        subprotocols: raw.subprotocols.unwrap_or_default(),
        read_buffer_size: buffer("read_buffer_size", raw.read_buffer_size)?,
        write_buffer_size: buffer("write_buffer_size", raw.write_buffer_size)?,
        max_message_size: size("max_message_size", raw.max_message_size, 512)?,
        write_wait: duration(raw.write_wait, Duration::from_secs(10)),
        pong_wait,
        ping_period: (ping_period < pong_wait).then_some(ping_period),
        backend_timeout: duration(raw.timeout, Duration::from_secs(300)).max(MIN_TIMEOUT),
        metrics: raw.disable_otel_metrics != Some(true),
    })
}

fn forward_names(names: Vec<String>) -> Forward {
    if names.is_empty() {
        Forward::None
    } else if names.iter().any(|n| n == "*") {
        Forward::All
    } else {
        let mut kept: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        kept.sort();
        kept.dedup();
        Forward::Only(kept)
    }
}

/// The scheme of a `ws://` or `wss://` host as the HTTP client knows it
/// (`wss` is TLS, with the client TLS settings of `https://` backends);
/// `None` for any other host.
pub fn http_scheme_of(host: &str) -> Option<String> {
    if let Some(rest) = host.strip_prefix("ws://") {
        Some(format!("http://{rest}"))
    } else {
        host.strip_prefix("wss://")
            .map(|rest| format!("https://{rest}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(json: &str) -> BuildResult<WebSocketSettings> {
        let value: Value = serde_json::from_str(json).unwrap();
        settings(
            &value,
            "endpoints[0].extra_config.websocket",
            &mut Unknown::default(),
        )
    }

    #[test]
    fn defaults_are_the_schema_s() {
        let s = build(r#"{"enable_direct_communication": true}"#).unwrap();
        assert_eq!(s.max_message_size, 512);
        assert_eq!(s.read_buffer_size, 1024);
        assert_eq!(s.write_wait, Duration::from_secs(10));
        assert_eq!(s.pong_wait, Duration::from_secs(60));
        assert_eq!(s.ping_period, Some(Duration::from_secs(54)));
        assert_eq!(s.backend_timeout, Duration::from_secs(300));
        assert_eq!(s.input_headers, Forward::None);
        assert!(s.metrics);
    }

    #[test]
    fn multiplexing_and_its_events_are_refused() {
        let e = build("{}").unwrap_err();
        assert!(e.message.contains("multiplexes"), "{}", e.message);
        let e =
            build(r#"{"enable_direct_communication": true, "connect_event": true}"#).unwrap_err();
        assert!(e.at.ends_with("connect_event"), "{}", e.at);
    }

    #[test]
    fn values_are_read_and_checked() {
        let s = build(
            r#"{"enable_direct_communication": true, "max_message_size": 10,
                "pong_wait": "2s", "timeout": "1s", "input_headers": ["Authorization", "Cookie"]}"#,
        )
        .unwrap();
        assert_eq!(s.max_message_size, 10);
        assert_eq!(s.pong_wait, Duration::from_secs(2));
        assert_eq!(s.ping_period, None, "54s is not shorter than 2s");
        assert_eq!(s.backend_timeout, MIN_TIMEOUT);
        assert_eq!(
            s.input_headers,
            Forward::Only(vec!["authorization".into(), "cookie".into()])
        );
        assert!(build(r#"{"enable_direct_communication": true, "max_message_size": -1}"#).is_err());
        assert!(build(r#"{"enable_direct_communication": "yes"}"#).is_err());
    }

    /// What loading a file with `endpoint` says: `Ok(hosts of its backend)`
    /// or the error.
    fn load(endpoint: &str) -> Result<Vec<String>, String> {
        let text = format!(r#"{{"version": 3, "endpoints": [{endpoint}]}}"#);
        crate::config::parse(&text, std::path::Path::new("t.json"))
            .map(|c| c.endpoints[0].backends[0].hosts.clone())
            .map_err(|e| e.to_string())
    }

    const WS: &str = r#""websocket": {"enable_direct_communication": true}"#;

    #[test]
    fn endpoints_and_hosts_are_checked_together() {
        let ok = format!(
            r#"{{"endpoint": "/ws", "backend": [{{"host": ["ws://a:1", "wss://b"]}}], "extra_config": {{{WS}}}}}"#
        );
        assert_eq!(load(&ok).unwrap(), ["http://a:1", "https://b"]);
        let refused = [
            (
                r#"{"endpoint": "/x", "backend": [{"host": ["ws://a:1"]}]}"#.to_owned(),
                "only by an endpoint with the \"websocket\" namespace",
            ),
            (
                format!(
                    r#"{{"endpoint": "/ws", "backend": [{{"host": ["http://a:1"]}}], "extra_config": {{{WS}}}}}"#
                ),
                "needs a ws:// or wss:// host",
            ),
            (
                format!(
                    r#"{{"endpoint": "/ws", "method": "POST", "backend": [{{"host": ["ws://a:1"]}}], "extra_config": {{{WS}}}}}"#
                ),
                "a GET request",
            ),
            (
                format!(
                    r#"{{"endpoint": "/ws", "backend": [{{"host": ["ws://a:1"]}}, {{"host": ["ws://b:1"]}}], "extra_config": {{{WS}}}}}"#
                ),
                "has 2 backends",
            ),
            (
                format!(
                    r#"{{"endpoint": "/ws", "backend": [{{"host": ["ws://a:1"], "extra_config": {{"qos/circuit-breaker": {{"interval": 1, "timeout": 1, "max_errors": 1}}}}}}], "extra_config": {{{WS}}}}}"#
                ),
                "qos/circuit-breaker",
            ),
        ];
        for (endpoint, expected) in refused {
            let error = load(&endpoint).unwrap_err();
            assert!(error.contains(expected), "{endpoint}: {error}");
        }
    }

    #[test]
    fn ws_hosts_map_to_http_ones() {
        assert_eq!(http_scheme_of("ws://a:1").as_deref(), Some("http://a:1"));
        assert_eq!(http_scheme_of("wss://a").as_deref(), Some("https://a"));
        assert_eq!(http_scheme_of("http://a"), None);
    }
}
