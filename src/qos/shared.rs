//! `qos/ratelimit/router/redis` and `qos/ratelimit/proxy/redis` compiled
//! for one worker: the token buckets of `bucket.rs` kept in Redis, so every
//! instance (and every worker) using the connection takes from the same
//! buckets.
//!
//! One decision is one `EVALSHA` of [`SCRIPT`] (loaded on `NOSCRIPT` by
//! `redis::Script`) on the worker's multiplexed connection, so concurrent
//! decisions pipeline on one socket. The script takes the time from Redis
//! (`TIME`), so the instances' clocks do not matter, and takes the
//! client's token, then the endpoint's, atomically (KrakenD's order: a
//! request refused for its client spends nothing of the endpoint's).
//!
//! Keys: `cuttle:rl:{<limit>}:e` for the shared bucket and
//! `cuttle:rl:{<limit>}:c:<client>` per client, where `<limit>` is a hash
//! of the endpoint's method and path (and the backend's position for a
//! backend limit) and `<client>` a hash of the client key: client bytes
//! are data, hashed, never part of a script or a key's syntax. The braces
//! keep one decision's keys in one cluster slot; with a client limit
//! alone, the client hash is inside them, spreading clients over slots.
//! Each key expires when its bucket would be full again (as if absent).
//!
//! While Redis cannot decide within `decision_timeout` (down, slow), the
//! limiter falls back as configured: refuse (KrakenD's `on_failure_allow:
//! false`), allow (`true`), or decide with this instance's own buckets
//! (cuttle's `"on_failure": "local"`).

use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use redis::Script;

use super::DEFAULT_MAX_CLIENTS;
use super::bucket::Rate;
use super::client_id::ClientId;
use super::clock::nanos;
use super::endpoint::{EndpointLimiter, Limited};
use crate::config::{ClientStrategy, OnFailure, RateSpec, RedisRateLimit};
use crate::redis::health::{Fallback, Health};
use crate::redis::{Link, Links};

/// The GCRA of `bucket.rs` over the keys of one decision (client first),
/// with `ARGV` holding each key's emission interval and tolerance in
/// microseconds. Returns 0 when every bucket had a token (each taken),
/// else the 1-based index of the first bucket that had none (the buckets
/// before it keep the token taken, as the local limiter does).
/// Microseconds keep the numbers below 2^53, exact in Lua's doubles.
pub const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local tolerance = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '') or now
  if tat < now then tat = now end
  if tat - now > tolerance then return i end
  tat = tat + interval
  redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', string.format('%d', math.ceil((tat - now) / 1000) + 1))
end
return 0
";

fn script() -> &'static Script {
    static SCRIPT_SHA: OnceLock<Script> = OnceLock::new();
    SCRIPT_SHA.get_or_init(|| Script::new(SCRIPT))
}

/// A bucket as the script reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Micros {
    interval: u64,
    tolerance: u64,
}

/// 2^52: below it every whole number is exact in a double.
const EXACT: u64 = 1 << 52;

fn micros(spec: &RateSpec) -> Micros {
    let rate: Rate = Rate::per_period(spec.max_rate, nanos(spec.every), spec.capacity);
    let interval = (rate.interval().div_ceil(1000)).clamp(1, EXACT);
    let tolerance = (rate.capacity() - 1).saturating_mul(interval).min(EXACT);
    Micros {
        interval,
        tolerance,
    }
}

enum Fallen {
    Allow,
    Refuse,
    Local(Box<EndpointLimiter>),
}

pub struct SharedLimiter {
    link: Rc<Link>,
    health: Arc<Health>,
    budget: Duration,
    /// The hash naming this limit's keys.
    id: String,
    /// The all-clients bucket's key, written once.
    endpoint_key: String,
    endpoint: Option<Micros>,
    client: Option<(ClientStrategy, Micros)>,
    fallback: Fallen,
}

impl SharedLimiter {
    /// `identity` names the limit among all instances (e.g.
    /// `router GET /users/{id}`); instances that share the connection and
    /// the identity share the buckets. `workers` divide a local fallback's
    /// rates, as for the stateless limit.
    pub fn new(
        spec: &RedisRateLimit,
        identity: &str,
        links: &Links,
        workers: usize,
        epoch: Instant,
    ) -> SharedLimiter {
        let link = links.get(&spec.connection, spec.decision_timeout);
        let id = hex_digest(identity.as_bytes(), 12);
        SharedLimiter {
            health: link.health().clone(),
            link,
            budget: spec.decision_timeout,
            endpoint_key: format!("cuttle:rl:{{{id}}}:e"),
            id,
            endpoint: spec.limit.endpoint.as_ref().map(micros),
            client: spec
                .limit
                .client
                .as_ref()
                .map(|c| (c.strategy.clone(), micros(&c.rate))),
            fallback: match &spec.on_failure {
                OnFailure::Allow => Fallen::Allow,
                OnFailure::Refuse => Fallen::Refuse,
                OnFailure::Local(local) => Fallen::Local(Box::new(EndpointLimiter::new(
                    local,
                    workers,
                    DEFAULT_MAX_CLIENTS,
                    epoch,
                ))),
            },
        }
    }

    /// How to find the client key for `check` (`None`: no per-client limit).
    pub fn strategy(&self) -> Option<&ClientStrategy> {
        self.client.as_ref().map(|(strategy, _)| strategy)
    }

    /// Takes a token for this request from the shared buckets, per client
    /// first; without an answer within the budget, decides as configured.
    pub async fn check(&self, client: Option<ClientId<'_>>) -> Result<(), Limited> {
        let mut invocation = script().prepare_invoke();
        let mut kinds: [Limited; 2] = [Limited::Client; 2];
        let mut n = 0;
        if let Some((_, bucket)) = &self.client {
            // KrakenD answers 429 to a request without the client key.
            let client = client.ok_or(Limited::Client)?;
            let hashed = client_digest(client);
            let key = if self.endpoint.is_some() {
                format!("cuttle:rl:{{{}}}:c:{hashed}", self.id)
            } else {
                format!("cuttle:rl:{{{}:{hashed}}}:c", self.id)
            };
            invocation
                .key(key)
                .arg(bucket.interval)
                .arg(bucket.tolerance);
            kinds[n] = Limited::Client;
            n += 1;
        }
        if let Some(bucket) = &self.endpoint {
            invocation
                .key(&self.endpoint_key)
                .arg(bucket.interval)
                .arg(bucket.tolerance);
            kinds[n] = Limited::Endpoint;
            n += 1;
        }
        match self.link.invoke::<usize>(&invocation, self.budget).await {
            Ok(0) => Ok(()),
            Ok(i) => Err(kinds[(i - 1).min(n.saturating_sub(1))]),
            Err(_) => self.fall_back(client, kinds[0]),
        }
    }

    fn fall_back(&self, client: Option<ClientId<'_>>, first: Limited) -> Result<(), Limited> {
        match &self.fallback {
            Fallen::Allow => {
                self.health.fell_back(Fallback::Allow);
                Ok(())
            }
            // Refused as the first limit checked would refuse it (KrakenD
            // blocks the request; its middleware answers a limit's status).
            Fallen::Refuse => {
                self.health.fell_back(Fallback::Refuse);
                Err(first)
            }
            Fallen::Local(limiter) => {
                self.health.fell_back(Fallback::Local);
                limiter.check(Instant::now(), client)
            }
        }
    }

    /// The connection's name (for logs).
    pub fn connection(&self) -> &str {
        self.link.name()
    }
}

/// The first `bytes` bytes of SHA-256 of `data`, in hex.
fn hex_digest(data: &[u8], bytes: usize) -> String {
    use std::fmt::Write as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = String::with_capacity(bytes * 2);
    for b in &digest.as_ref()[..bytes] {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A client key as a fixed-size name: its kind and bytes hashed (16 bytes).
fn client_digest(client: ClientId<'_>) -> String {
    let mut data = Vec::with_capacity(40);
    match client {
        ClientId::Ip(std::net::IpAddr::V4(ip)) => {
            data.extend_from_slice(b"ip:");
            data.extend_from_slice(&ip.to_ipv6_mapped().octets());
        }
        ClientId::Ip(std::net::IpAddr::V6(ip)) => {
            data.extend_from_slice(b"ip:");
            data.extend_from_slice(&ip.octets());
        }
        ClientId::Text(text) => {
            data.extend_from_slice(b"text:");
            data.extend_from_slice(text);
        }
    }
    hex_digest(&data, 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(max_rate: f64, every_ms: u64, capacity: u64) -> RateSpec {
        RateSpec {
            max_rate,
            every: Duration::from_millis(every_ms),
            capacity,
        }
    }

    #[test]
    fn buckets_in_microseconds() {
        assert_eq!(
            micros(&spec(10.0, 1000, 10)),
            Micros {
                interval: 100_000,
                tolerance: 900_000
            }
        );
        // A tiny rate stays exact in a double.
        let slow = micros(&spec(1e-12, 1000, 5));
        assert_eq!(slow.interval, EXACT);
        assert_eq!(slow.tolerance, EXACT);
        // A rate above one per microsecond still takes a microsecond.
        assert_eq!(micros(&spec(1e9, 1000, 1)).interval, 1);
    }

    #[test]
    fn client_keys_are_hashed_data() {
        let a = client_digest(ClientId::Text(b"}{\"' KEYS[1] \r\n"));
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        let v4 = client_digest(ClientId::Ip("10.0.0.1".parse().unwrap()));
        let mapped = client_digest(ClientId::Ip("::ffff:10.0.0.1".parse().unwrap()));
        assert_eq!(v4, mapped);
        assert_ne!(v4, client_digest(ClientId::Text(b"10.0.0.1")));
    }
}
