//! `qos/ratelimit/router/redis` (endpoint, KrakenD Enterprise) and
//! cuttle's `qos/ratelimit/proxy/redis` (backend): the rate limits of
//! `config::ratelimit` counted in Redis, so that every instance sharing the
//! Redis connection shares one budget.
//!
//! Keys and defaults from KrakenD's schema (krakend-schema
//! `v2.13/qos/ratelimit/redis.json`) and pages ("Stateful endpoint rate
//! limit (Redis backed)", krakend.io/docs/enterprise/throttling/endpoint-redis-rate-limit/;
//! "Stateful service rate limit", .../throttling/global-rate-limit/):
//! `connection_name` (or the deprecated `connection_pool`), the rates of
//! the stateless limit, and `on_failure_allow` (default false: a request
//! is blocked while Redis does not answer). cuttle's own keys (docs/redis.md):
//! `decision_timeout`, the most a decision may wait for Redis, and
//! `on_failure` (`"refuse"`, `"allow"` or `"local"`, the latter with
//! optional `local_max_rate` / `local_client_max_rate`).

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::error::{BuildResult, Problem};
use super::model::{RateSpec, RouterRateLimit};
use super::raw::{Count, GoDuration, RawProxyRateLimit, RawRouterRateLimit};
use super::redis::{RedisConnection, RedisConnections};

pub const ROUTER: &str = "qos/ratelimit/router/redis";
/// cuttle's: KrakenD has no backend form.
pub const PROXY: &str = "qos/ratelimit/proxy/redis";

/// The default `decision_timeout`. A Redis round trip on a LAN is 0.1 to
/// 0.5 ms; 5 ms is ten times that (a pause of the server, a busy worker)
/// and still a small part of any endpoint's timeout, so a request never
/// waits much longer for its limiter than it would for a local one plus a
/// few milliseconds, and a dead Redis costs at most this much on the
/// requests that find out (docs/redis.md).
pub const DEFAULT_DECISION_TIMEOUT: Duration = Duration::from_millis(5);

/// What a limiter decides while Redis cannot answer.
#[derive(Debug, Clone, PartialEq)]
pub enum OnFailure {
    /// `on_failure_allow: false` (KrakenD's default): the request is refused
    /// as the limit would refuse it.
    Refuse,
    /// `on_failure_allow: true`: the request goes on, uncounted.
    Allow,
    /// cuttle's `"on_failure": "local"`: this instance's own token buckets
    /// at these rates (divided among its workers like the stateless limit).
    Local(RouterRateLimit),
}

/// One Redis-backed limit, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisRateLimit {
    pub connection: Arc<RedisConnection>,
    /// The rates (a backend's has no client part).
    pub limit: RouterRateLimit,
    pub decision_timeout: Duration,
    pub on_failure: OnFailure,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct RawRedisLimit {
    connection_name: Option<String>,
    connection_pool: Option<String>,
    max_rate: Option<f64>,
    capacity: Option<Count>,
    client_max_rate: Option<f64>,
    client_capacity: Option<Count>,
    every: Option<GoDuration>,
    strategy: Option<String>,
    key: Option<String>,
    on_failure_allow: Option<bool>,
    decision_timeout: Option<GoDuration>,
    on_failure: Option<String>,
    local_max_rate: Option<f64>,
    local_client_max_rate: Option<f64>,
}

/// Which namespace is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Endpoint,
    Backend,
}

/// `value` is the namespace found at `at` (its JSON path).
pub fn build(
    value: &Value,
    at: &str,
    level: Level,
    connections: &RedisConnections,
    warnings: &mut Vec<Problem>,
) -> BuildResult<Option<RedisRateLimit>> {
    let raw: RawRedisLimit = super::extra::decode(value, at)?;
    let (name, name_at) = match (&raw.connection_name, &raw.connection_pool) {
        (Some(name), _) => (name, format!("{at}.connection_name")),
        (None, Some(name)) => (name, format!("{at}.connection_pool")),
        (None, None) => {
            return Err(Problem::new(
                format!("{at}.connection_name"),
                "missing; name a connection of the root \"redis\" namespace, e.g. \"connection_name\": \"shared_redis_pool\"",
            ));
        }
    };
    let connection = connections.named(name, &name_at)?;
    let limit = match level {
        Level::Endpoint => super::ratelimit::router(
            RawRouterRateLimit {
                max_rate: raw.max_rate,
                capacity: raw.capacity,
                client_max_rate: raw.client_max_rate,
                client_capacity: raw.client_capacity,
                every: raw.every,
                strategy: raw.strategy.clone(),
                key: raw.key.clone(),
            },
            at,
            warnings,
        )?,
        Level::Backend => {
            for key in ["client_max_rate", "client_capacity", "strategy", "key"] {
                if value.get(key).is_some() {
                    return Err(Problem::new(
                        format!("{at}.{key}"),
                        "a backend's limit counts the gateway's calls, not clients; move the client limit to the endpoint's \"qos/ratelimit/router/redis\"",
                    ));
                }
            }
            super::ratelimit::proxy(
                RawProxyRateLimit {
                    max_rate: raw.max_rate,
                    capacity: raw.capacity,
                    every: raw.every,
                },
                at,
            )?
            .map(|proxy| RouterRateLimit {
                endpoint: Some(proxy.rate),
                client: None,
            })
        }
    };
    let Some(limit) = limit else {
        return Ok(None);
    };
    let decision_timeout = match raw.decision_timeout {
        None => DEFAULT_DECISION_TIMEOUT,
        Some(GoDuration(d)) if !d.is_zero() && d <= Duration::from_secs(10) => d,
        Some(GoDuration(d)) => {
            return Err(Problem::new(
                format!("{at}.decision_timeout"),
                format!(
                    "{d:?} is not a decision budget; write a duration above 0 and at most 10s, e.g. \"5ms\""
                ),
            ));
        }
    };
    let on_failure = on_failure(&raw, &limit, at)?;
    Ok(Some(RedisRateLimit {
        connection,
        limit,
        decision_timeout,
        on_failure,
    }))
}

fn on_failure(raw: &RawRedisLimit, limit: &RouterRateLimit, at: &str) -> BuildResult<OnFailure> {
    let allow = raw.on_failure_allow;
    let Some(written) = raw.on_failure.as_deref() else {
        if raw.local_max_rate.is_some() || raw.local_client_max_rate.is_some() {
            return Err(Problem::new(
                format!("{at}.on_failure"),
                "missing, so the local rates are never used; write \"on_failure\": \"local\"",
            ));
        }
        return Ok(if allow == Some(true) {
            OnFailure::Allow
        } else {
            OnFailure::Refuse
        });
    };
    let chosen = match written {
        "refuse" => OnFailure::Refuse,
        "allow" => OnFailure::Allow,
        "local" => OnFailure::Local(RouterRateLimit {
            endpoint: local_rate(
                limit.endpoint.as_ref(),
                raw.local_max_rate,
                at,
                "local_max_rate",
            )?,
            client: match &limit.client {
                None => {
                    local_rate(None, raw.local_client_max_rate, at, "local_client_max_rate")?;
                    None
                }
                Some(client) => Some(super::model::ClientRateLimit {
                    rate: local_rate(
                        Some(&client.rate),
                        raw.local_client_max_rate,
                        at,
                        "local_client_max_rate",
                    )?
                    .unwrap_or_else(|| client.rate.clone()),
                    strategy: client.strategy.clone(),
                }),
            },
        }),
        other => {
            return Err(Problem::new(
                format!("{at}.on_failure"),
                format!(
                    "\"{other}\" is not a fallback; write \"refuse\", \"allow\" or \"local\" (this instance's own limit)"
                ),
            ));
        }
    };
    if !matches!(chosen, OnFailure::Local(_))
        && (raw.local_max_rate.is_some() || raw.local_client_max_rate.is_some())
    {
        return Err(Problem::new(
            format!("{at}.on_failure"),
            format!(
                "\"{written}\" never uses the local rates; write \"local\" or remove local_max_rate / local_client_max_rate"
            ),
        ));
    }
    // `on_failure_allow` is KrakenD's; it may stay beside `on_failure` only
    // when both say the same (false goes with refuse and local: both refuse
    // something).
    let agrees = match allow {
        None => true,
        Some(true) => chosen == OnFailure::Allow,
        Some(false) => chosen != OnFailure::Allow,
    };
    if !agrees {
        return Err(Problem::new(
            format!("{at}.on_failure_allow"),
            format!("contradicts \"on_failure\": \"{written}\"; keep one of them"),
        ));
    }
    Ok(chosen)
}

/// `local_max_rate` (or `local_client_max_rate`) for the configured
/// `rate`: absent, the configured rate itself; written, that rate with the
/// capacity scaled by the same ratio (rounded up, at least 1).
fn local_rate(
    rate: Option<&RateSpec>,
    local: Option<f64>,
    at: &str,
    key: &str,
) -> BuildResult<Option<RateSpec>> {
    let Some(rate) = rate else {
        if local.is_some() {
            return Err(Problem::new(
                format!("{at}.{key}"),
                "there is no Redis limit of that kind to stand in for; remove it",
            ));
        }
        return Ok(None);
    };
    let Some(local) = local else {
        return Ok(Some(rate.clone()));
    };
    if !(local.is_finite() && local > 0.0) {
        return Err(Problem::new(
            format!("{at}.{key}"),
            format!(
                "{local} is not a rate; write this instance's share per \"every\", e.g. {}",
                rate.max_rate / 2.0
            ),
        ));
    }
    let scaled = (rate.capacity as f64 * local / rate.max_rate).ceil();
    Ok(Some(RateSpec {
        max_rate: local,
        every: rate.every,
        // `as` saturates.
        capacity: (scaled as u64).max(1),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connections() -> RedisConnections {
        crate::config::redis::build(
            &json!({"connection_pools": [{"name": "p", "address": "127.0.0.1:6379"}]}),
            "extra_config.redis",
        )
        .unwrap()
    }

    fn read(value: Value, level: Level) -> BuildResult<Option<RedisRateLimit>> {
        build(&value, "ns", level, &connections(), &mut Vec::new())
    }

    #[test]
    fn reads_kraken_keys_and_defaults() {
        let limit = read(
            json!({"connection_pool": "p", "max_rate": 10, "client_max_rate": 2, "strategy": "header", "key": "X-Key", "every": "1m"}),
            Level::Endpoint,
        )
        .unwrap()
        .unwrap();
        assert_eq!(limit.connection.name, "p");
        assert_eq!(limit.decision_timeout, DEFAULT_DECISION_TIMEOUT);
        assert_eq!(limit.on_failure, OnFailure::Refuse);
        let endpoint = limit.limit.endpoint.unwrap();
        assert_eq!(endpoint.every, Duration::from_secs(60));
        assert_eq!(endpoint.capacity, 1);
        assert!(limit.limit.client.is_some());
        let allow = read(
            json!({"connection_name": "p", "max_rate": 10, "on_failure_allow": true}),
            Level::Backend,
        )
        .unwrap()
        .unwrap();
        assert_eq!(allow.on_failure, OnFailure::Allow);
        // max_rate 0: no limit, as the stateless one.
        assert!(
            read(
                json!({"connection_name": "p", "max_rate": 0}),
                Level::Backend
            )
            .unwrap()
            .is_none()
        );
    }

    #[test]
    fn local_fallback_scales_capacity() {
        let limit = read(
            json!({"connection_name": "p", "max_rate": 100, "capacity": 50, "on_failure": "local", "local_max_rate": 25, "decision_timeout": "20ms"}),
            Level::Endpoint,
        )
        .unwrap()
        .unwrap();
        assert_eq!(limit.decision_timeout, Duration::from_millis(20));
        let OnFailure::Local(local) = limit.on_failure else {
            panic!("{:?}", limit.on_failure)
        };
        let rate = local.endpoint.unwrap();
        assert_eq!((rate.max_rate, rate.capacity), (25.0, 13));
    }

    #[test]
    fn mistakes_name_their_path() {
        for (value, level, path) in [
            (
                json!({"max_rate": 1}),
                Level::Endpoint,
                "ns.connection_name",
            ),
            (
                json!({"connection_name": "q", "max_rate": 1}),
                Level::Endpoint,
                "ns.connection_name",
            ),
            (
                json!({"connection_pool": "q", "max_rate": 1}),
                Level::Endpoint,
                "ns.connection_pool",
            ),
            (json!({"connection_name": "p"}), Level::Endpoint, "ns"),
            (
                json!({"connection_name": "p", "max_rate": -1}),
                Level::Endpoint,
                "ns.max_rate",
            ),
            (
                json!({"connection_name": "p", "max_rate": 1, "decision_timeout": "0s"}),
                Level::Endpoint,
                "ns.decision_timeout",
            ),
            (
                json!({"connection_name": "p", "max_rate": 1, "decision_timeout": "soon"}),
                Level::Endpoint,
                "ns.decision_timeout",
            ),
            (
                json!({"connection_name": "p", "max_rate": 1, "on_failure": "maybe"}),
                Level::Endpoint,
                "ns.on_failure",
            ),
            (
                json!({"connection_name": "p", "max_rate": 1, "on_failure": "allow", "on_failure_allow": false}),
                Level::Endpoint,
                "ns.on_failure_allow",
            ),
            (
                json!({"connection_name": "p", "max_rate": 1, "local_max_rate": 1}),
                Level::Endpoint,
                "ns.on_failure",
            ),
            (
                json!({"connection_name": "p", "max_rate": 1, "on_failure": "local", "local_client_max_rate": 1}),
                Level::Endpoint,
                "ns.local_client_max_rate",
            ),
            (
                json!({"connection_name": "p", "max_rate": 1, "on_failure": "local", "local_max_rate": 0}),
                Level::Endpoint,
                "ns.local_max_rate",
            ),
            (
                json!({"connection_name": "p", "max_rate": 1, "client_max_rate": 1, "strategy": "ip"}),
                Level::Backend,
                "ns.client_max_rate",
            ),
            (
                json!({"connection_name": "p", "client_max_rate": 1, "strategy": "nope"}),
                Level::Endpoint,
                "ns.strategy",
            ),
        ] {
            let err = read(value.clone(), level).unwrap_err();
            assert_eq!(err.at, path, "{value}: {err:?}");
        }
    }
}
