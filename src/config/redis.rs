//! The root `redis` namespace (KrakenD Enterprise): named connections to
//! a Redis server (`connection_pools[]`) or a Redis Cluster (`clusters[]`)
//! that other components name (`connection_name`, `connection_pool`).
//! Option names and defaults from KrakenD's schema (krakend-schema
//! `v2.13/redis.json`). KrakenD's schema has no Sentinel form, so neither
//! has cuttle.
//!
//! cuttle keeps one multiplexed connection per worker and named
//! connection (commands pipeline on it), so the go-redis pool sizing keys
//! are read and ignored (options.rs says so); `tls` is refused: a client
//! TLS set-up cuttle did not make would send credentials in the clear.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::error::{BuildResult, Problem};

pub const NAMESPACE: &str = "redis";

/// go-redis's dial timeout (`dial_timeout` default).
const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// A single server or a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisKind {
    Server,
    Cluster,
}

/// One named connection, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisConnection {
    pub name: String,
    /// Its JSON path, for messages.
    pub at: String,
    pub kind: RedisKind,
    /// `host:port` each; one for a server, the seed members of a cluster.
    pub addresses: Vec<String>,
    /// `db` (servers only; a cluster has database 0 only).
    pub db: i64,
    pub user_name: Option<String>,
    pub password: Option<String>,
    /// `client_name`: how the connection shows in `CLIENT LIST`.
    pub client_name: Option<String>,
    pub dial_timeout: Duration,
}

/// The root `redis` namespace: every named connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RedisConnections {
    pub all: Vec<Arc<RedisConnection>>,
}

impl RedisConnections {
    /// The connection a component names in `at`; an unknown name is an
    /// error listing the names there are.
    pub fn named(&self, name: &str, at: &str) -> BuildResult<Arc<RedisConnection>> {
        if let Some(found) = self.all.iter().find(|c| c.name == name) {
            return Ok(found.clone());
        }
        let known: Vec<&str> = self.all.iter().map(|c| c.name.as_str()).collect();
        let fix = if known.is_empty() {
            "declare it in the root extra_config \"redis\": {\"connection_pools\": [{\"name\": ..., \"address\": \"host:6379\"}]}".to_owned()
        } else {
            format!(
                "the root \"redis\" namespace names {}",
                known
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Err(Problem::new(
            at,
            format!("no Redis connection is named \"{name}\"; {fix}"),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct RawRedis {
    connection_pools: Option<Vec<Value>>,
    clusters: Option<Vec<Value>>,
}

/// The keys of one entry cuttle reads (the others have rows in options.rs).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct RawConnection {
    name: Option<String>,
    address: Option<String>,
    addresses: Option<Vec<String>>,
    db: Option<i64>,
    user_name: Option<String>,
    password: Option<String>,
    client_name: Option<String>,
    dial_timeout: Option<String>,
}

pub fn build(value: &Value, at: &str) -> BuildResult<RedisConnections> {
    let raw: RawRedis = super::extra::decode(value, at)?;
    let mut all: Vec<Arc<RedisConnection>> = Vec::new();
    let lists = [
        ("connection_pools", RedisKind::Server, raw.connection_pools),
        ("clusters", RedisKind::Cluster, raw.clusters),
    ];
    for (list, kind, entries) in lists {
        for (i, entry) in entries.into_iter().flatten().enumerate() {
            let entry_at = format!("{at}.{list}[{i}]");
            let connection = connection(&entry, &entry_at, kind)?;
            if let Some(first) = all.iter().find(|c| c.name == connection.name) {
                return Err(Problem::new(
                    format!("{entry_at}.name"),
                    format!(
                        "\"{}\" already names {}; give each pool and cluster its own name",
                        connection.name, first.at
                    ),
                ));
            }
            all.push(Arc::new(connection));
        }
    }
    Ok(RedisConnections { all })
}

fn connection(value: &Value, at: &str, kind: RedisKind) -> BuildResult<RedisConnection> {
    let raw: RawConnection = super::extra::decode(value, at)?;
    let name = raw.name.filter(|n| !n.is_empty()).ok_or_else(|| {
        Problem::new(
            format!("{at}.name"),
            "missing; write the name other components use for it, e.g. \"shared_redis_pool\"",
        )
    })?;
    let addresses = match kind {
        RedisKind::Server => vec![raw.address.ok_or_else(|| {
            Problem::new(
                format!("{at}.address"),
                "missing; write the server as host:port, e.g. \"127.0.0.1:6379\"",
            )
        })?],
        RedisKind::Cluster => raw.addresses.filter(|a| !a.is_empty()).ok_or_else(|| {
            Problem::new(
                format!("{at}.addresses"),
                "missing or empty; list the cluster's members as host:port, e.g. [\"10.0.0.1:6379\"]",
            )
        })?,
    };
    for (i, address) in addresses.iter().enumerate() {
        let address_at = match kind {
            RedisKind::Server => format!("{at}.address"),
            RedisKind::Cluster => format!("{at}.addresses[{i}]"),
        };
        check_address(address, &address_at)?;
    }
    let db = raw.db.unwrap_or(0);
    if !(0..=i64::from(u16::MAX)).contains(&db) {
        return Err(Problem::new(
            format!("{at}.db"),
            format!("{db} is not a database number; write 0 to 15 on a default server"),
        ));
    }
    let dial_timeout = match raw.dial_timeout {
        None => DEFAULT_DIAL_TIMEOUT,
        Some(text) => super::duration::parse_go_duration(&text)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                Problem::new(
                    format!("{at}.dial_timeout"),
                    format!("\"{text}\" is not a duration above 0; write e.g. \"5s\""),
                )
            })?,
    };
    for (key, text) in [
        ("user_name", &raw.user_name),
        ("password", &raw.password),
        ("client_name", &raw.client_name),
    ] {
        if text
            .as_deref()
            .is_some_and(|t| t.chars().any(|c| c.is_control()))
        {
            return Err(Problem::new(
                format!("{at}.{key}"),
                "contains a control character; write it without one",
            ));
        }
    }
    if raw.client_name.as_deref().is_some_and(|n| n.contains(' ')) {
        return Err(Problem::new(
            format!("{at}.client_name"),
            "Redis refuses a client name with a space; write e.g. \"krakend_pool\"",
        ));
    }
    Ok(RedisConnection {
        name,
        at: at.to_owned(),
        kind,
        addresses,
        db,
        user_name: raw.user_name,
        password: raw.password,
        client_name: raw.client_name,
        dial_timeout,
    })
}

/// `host:port` with a port; the host is a name or an address (IPv6 in
/// brackets).
fn check_address(address: &str, at: &str) -> BuildResult<()> {
    let bad = || {
        Problem::new(
            at,
            format!("\"{address}\" is not host:port; write e.g. \"127.0.0.1:6379\""),
        )
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty()
        || port.parse::<u16>().ok().filter(|p| *p > 0).is_none()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '@')
    {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pools_and_clusters_by_name() {
        let c = build(
            &json!({
                "connection_pools": [{"name": "a", "address": "127.0.0.1:6379", "db": 2, "dial_timeout": "250ms"}],
                "clusters": [{"name": "c", "addresses": ["10.0.0.1:7000", "[::1]:7001"], "pool_size": 4}]
            }),
            "extra_config.redis",
        )
        .unwrap();
        let a = c.named("a", "x").unwrap();
        assert_eq!(a.kind, RedisKind::Server);
        assert_eq!(a.db, 2);
        assert_eq!(a.dial_timeout, Duration::from_millis(250));
        let cluster = c.named("c", "x").unwrap();
        assert_eq!(cluster.kind, RedisKind::Cluster);
        assert_eq!(cluster.addresses.len(), 2);
        assert_eq!(cluster.dial_timeout, DEFAULT_DIAL_TIMEOUT);
        let err = c.named("b", "endpoints[0].x").unwrap_err();
        assert_eq!(err.at, "endpoints[0].x");
        assert!(err.message.contains("\"a\", \"c\""), "{err:?}");
    }

    #[test]
    fn mistakes_name_their_path() {
        for (value, path) in [
            (
                json!({"connection_pools": [{"address": "h:1"}]}),
                "connection_pools[0].name",
            ),
            (
                json!({"connection_pools": [{"name": "a"}]}),
                "connection_pools[0].address",
            ),
            (
                json!({"connection_pools": [{"name": "a", "address": "h"}]}),
                "connection_pools[0].address",
            ),
            (
                json!({"connection_pools": [{"name": "a", "address": "h:0"}]}),
                "connection_pools[0].address",
            ),
            (
                json!({"clusters": [{"name": "a", "addresses": []}]}),
                "clusters[0].addresses",
            ),
            (
                json!({"clusters": [{"name": "a", "addresses": ["h:1", "x"]}]}),
                "clusters[0].addresses[1]",
            ),
            (
                json!({"connection_pools": [{"name": "a", "address": "h:1", "db": -1}]}),
                "connection_pools[0].db",
            ),
            (
                json!({"connection_pools": [{"name": "a", "address": "h:1", "dial_timeout": "soon"}]}),
                "connection_pools[0].dial_timeout",
            ),
            (
                json!({"connection_pools": [{"name": "a", "address": "h:1", "password": "a\r\nb"}]}),
                "connection_pools[0].password",
            ),
            (
                json!({"connection_pools": [{"name": "a", "address": "h:1"}], "clusters": [{"name": "a", "addresses": ["h:2"]}]}),
                "clusters[0].name",
            ),
        ] {
            let err = build(&value, "extra_config.redis").unwrap_err();
            assert_eq!(
                err.at,
                format!("extra_config.redis.{path}"),
                "{value}: {err:?}"
            );
        }
    }
}
