//! `ServerLimits` from the root keys KrakenD knows (`read_timeout`,
//! `max_header_bytes`, `dialer_timeout`...) and cuttle's own `cuttle/server`
//! namespace.
//!
//! In KrakenD a zero (or absent) timeout means "no limit". cuttle has no
//! unlimited timeouts at the edge, so a zero from the file means "use the
//! default of `ServerLimits::default()`", never "unlimited". Values in
//! `cuttle/server` must be at least 1: that namespace is cuttle's own, so a
//! 0 there is a mistake, not a KrakenD idiom.

use std::time::Duration;

use super::error::{BuildResult, Problem};
use super::model::ServerLimits;
use super::raw::{GoDuration, RawConfig, RawCuttleServer};

pub fn server_limits(
    raw: &RawConfig,
    server: Option<&RawCuttleServer>,
) -> BuildResult<ServerLimits> {
    let defaults = ServerLimits::default();
    let mut limits = ServerLimits {
        read_header_timeout: or_default(raw.read_header_timeout, defaults.read_header_timeout),
        read_timeout: or_default(raw.read_timeout, defaults.read_timeout),
        write_timeout: or_default(raw.write_timeout, defaults.write_timeout),
        write_deadline: raw
            .write_timeout
            .map(|GoDuration(d)| d)
            .filter(|d| !d.is_zero()),
        idle_timeout: or_default(raw.idle_timeout, defaults.idle_timeout),
        max_header_bytes: count_or_default(
            raw.max_header_bytes,
            defaults.max_header_bytes,
            "max_header_bytes",
        )?,
        max_idle_per_host: count_or_default(
            raw.max_idle_connections_per_host,
            defaults.max_idle_per_host,
            "max_idle_connections_per_host",
        )?,
        connect_timeout: or_default(raw.dialer_timeout, defaults.connect_timeout),
        max_idle_total: match raw.max_idle_connections {
            None | Some(0) => None,
            Some(n) => Some(to_usize(n, "max_idle_connections")?),
        },
        idle_connection_timeout: non_zero(raw.idle_connection_timeout),
        response_header_timeout: non_zero(raw.response_header_timeout),
        disable_keep_alives: raw.disable_keep_alives.unwrap_or(false),
        disable_compression: raw.disable_compression.unwrap_or(false),
        tcp_keep_alive: match raw.dialer_keep_alive {
            Some((true, _)) => None,
            Some((false, GoDuration(d))) if !d.is_zero() => Some(d),
            _ => defaults.tcp_keep_alive,
        },
        shutdown_wait: or_default(raw.max_shutdown_wait_time, defaults.shutdown_wait),
        dns_cache_ttl: raw.dns_cache_ttl.map(|GoDuration(d)| d),
        ..defaults
    };
    if let Some(server) = server {
        let at = "extra_config.cuttle/server";
        let overrides = [
            (
                server.max_body_bytes,
                "max_body_bytes",
                &mut limits.max_body_bytes,
            ),
            (
                server.max_uri_bytes,
                "max_uri_bytes",
                &mut limits.max_uri_bytes,
            ),
            (
                server.max_response_bytes,
                "max_response_bytes",
                &mut limits.max_response_bytes,
            ),
            (
                server.max_connections,
                "max_connections",
                &mut limits.max_connections_per_worker,
            ),
            (server.pool_size, "pool_size", &mut limits.preconnect),
            (
                server.h2_max_concurrent_streams,
                "h2_max_concurrent_streams",
                &mut limits.h2_max_concurrent_streams,
            ),
        ];
        for (value, key, field) in overrides {
            let Some(value) = value else { continue };
            if value == 0 {
                return Err(Problem::new(
                    format!("{at}.{key}"),
                    "must be at least 1; remove the key to use the default",
                ));
            }
            *field = to_usize(value, &format!("{at}.{key}"))?;
        }
        if server.max_body_bytes.is_some() {
            limits.max_streamed_body_bytes = Some(limits.max_body_bytes);
        }
    }
    Ok(limits)
}

fn non_zero(value: Option<GoDuration>) -> Option<Duration> {
    value.map(|GoDuration(d)| d).filter(|d| !d.is_zero())
}

fn or_default(value: Option<GoDuration>, default: Duration) -> Duration {
    match value {
        Some(GoDuration(duration)) if !duration.is_zero() => duration,
        _ => default,
    }
}

fn count_or_default(value: Option<u64>, default: usize, at: &str) -> BuildResult<usize> {
    match value {
        None | Some(0) => Ok(default),
        Some(value) => to_usize(value, at),
    }
}

fn to_usize(value: u64, at: &str) -> BuildResult<usize> {
    usize::try_from(value)
        .map_err(|_| Problem::new(at, format!("{value} is too large for this machine")))
}
