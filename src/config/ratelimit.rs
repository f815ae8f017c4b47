//! `qos/ratelimit/router` (endpoint) and `qos/ratelimit/proxy` (backend):
//! KrakenD's defaults (krakend-ratelimit `router.ConfigGetter`,
//! `proxy.ConfigGetter` and the middlewares that apply them) and checks.

use std::time::Duration;

use super::error::{BuildResult, Problem};
use super::model::{ClientRateLimit, ClientStrategy, ProxyRateLimit, RateSpec, RouterRateLimit};
use super::raw::{Count, GoDuration, RawProxyRateLimit, RawRouterRateLimit};

const ONE_SECOND: Duration = Duration::from_secs(1);

/// `at` is the namespace's path. `None`: every rate is 0, which KrakenD
/// treats as "no limit". A `client_max_rate` KrakenD would not apply is
/// reported in `warnings`.
pub fn router(
    raw: RawRouterRateLimit,
    at: &str,
    warnings: &mut Vec<Problem>,
) -> BuildResult<Option<RouterRateLimit>> {
    if raw.max_rate.is_none() && raw.client_max_rate.is_none() {
        return Err(Problem::new(
            at,
            "needs \"max_rate\" (all clients together) or \"client_max_rate\" (each client), e.g. \"max_rate\": 100",
        ));
    }
    // KrakenD raises an `every` below one second to one second here
    // (but not in `qos/ratelimit/proxy`).
    let every = every(raw.every).max(ONE_SECOND);
    let endpoint = rate(raw.max_rate, raw.capacity, every, at, "max_rate")?;
    let client = match rate(
        raw.client_max_rate,
        raw.client_capacity,
        every,
        at,
        "client_max_rate",
    )? {
        None => None,
        // krakend-ratelimit v3 (`router/gin/gin.go`, `applyClientRateLimit`;
        // `TokenExtractorFromCfg` knows only ip, header and param) logs
        // "Unknown strategy" and serves the endpoint without a client
        // limit when `strategy` is absent or empty: so does cuttle, loudly.
        Some(_) if raw.strategy.as_deref().is_none_or(str::is_empty) => {
            warnings.push(Problem::new(
                format!("{at}.strategy"),
                "missing, so client_max_rate is NOT APPLIED (KrakenD applies no per-client limit without a strategy and logs \"Unknown strategy\"); write \"strategy\": \"ip\" to limit each client address, or \"header\"/\"param\" with a \"key\"",
            ));
            None
        }
        Some(rate) => Some(ClientRateLimit {
            rate,
            strategy: strategy(raw.strategy.as_deref(), raw.key, at)?,
        }),
    };
    Ok((endpoint.is_some() || client.is_some()).then_some(RouterRateLimit { endpoint, client }))
}

/// `at` is the namespace's path. `None`: `max_rate` 0, no limit.
pub fn proxy(raw: RawProxyRateLimit, at: &str) -> BuildResult<Option<ProxyRateLimit>> {
    if raw.max_rate.is_none() {
        return Err(Problem::new(
            format!("{at}.max_rate"),
            "missing; write the calls allowed per \"every\" (default 1s), e.g. \"max_rate\": 100",
        ));
    }
    let rate = rate(raw.max_rate, raw.capacity, every(raw.every), at, "max_rate")?;
    Ok(rate.map(|rate| ProxyRateLimit { rate }))
}

/// Absent or zero: one second (KrakenD's default; zero would divide by zero).
fn every(value: Option<GoDuration>) -> Duration {
    value
        .map(|GoDuration(d)| d)
        .filter(|d| !d.is_zero())
        .unwrap_or(ONE_SECOND)
}

/// A rate and its bucket. `capacity` 0 or absent: KrakenD's default, the
/// rate per second rounded down, at least 1.
fn rate(
    max_rate: Option<f64>,
    capacity: Option<Count>,
    every: Duration,
    at: &str,
    key: &str,
) -> BuildResult<Option<RateSpec>> {
    let Some(max_rate) = max_rate else {
        return Ok(None);
    };
    if max_rate < 0.0 {
        return Err(Problem::new(
            format!("{at}.{key}"),
            format!(
                "{max_rate} is negative; write the requests allowed per \"every\", e.g. 100, or 0 for no limit"
            ),
        ));
    }
    if max_rate == 0.0 {
        return Ok(None);
    }
    let capacity = match capacity {
        Some(Count(count)) if count > 0 => count,
        _ => {
            let per_second = max_rate * ONE_SECOND.as_secs_f64() / every.as_secs_f64();
            // `as` saturates; below 1 (and for NaN) the bucket holds one token.
            (per_second as u64).max(1)
        }
    };
    Ok(Some(RateSpec {
        max_rate,
        every,
        capacity,
    }))
}

/// `strategy` (case-insensitive; present, see `router`) and `key`.
fn strategy(strategy: Option<&str>, key: Option<String>, at: &str) -> BuildResult<ClientStrategy> {
    let key = key.filter(|k| !k.is_empty());
    let written = strategy.unwrap_or_default();
    let needs_key = |example: &str| {
        Problem::new(
            format!("{at}.key"),
            format!("missing; \"strategy\": \"{written}\" needs the {example}"),
        )
    };
    match written.to_ascii_lowercase().as_str() {
        "ip" => Ok(ClientStrategy::Ip {
            header: key.map(|k| k.to_ascii_lowercase()),
        }),
        "header" => key
            .map(|k| ClientStrategy::Header(k.to_ascii_lowercase()))
            .ok_or_else(|| {
                needs_key("name of the header that identifies a client, e.g. \"key\": \"X-Api-Key\"")
            }),
        "param" => key.map(ClientStrategy::Param).ok_or_else(|| {
            needs_key("name of an endpoint placeholder, e.g. \"key\": \"id_user\" for \"/users/{id_user}\"")
        }),
        _ => Err(Problem::new(
            format!("{at}.strategy"),
            format!("\"{written}\" is not a client strategy; write one of \"ip\", \"header\", \"param\""),
        )),
    }
}
