//! `auth/revoker` (root; krakend/bloomfilter) and
//! `auth/client-credentials` (backend; krakend-oauth2-clientcredentials),
//! read into checked settings. What KrakenD would crash on at start (a Go
//! type assertion, a nil hash factory, a zero ticker) or fail on at every
//! request is refused here, naming the key.

use serde::Deserialize;
use serde_json::Value;

use super::error::{BuildResult, Problem};

pub const REVOKER: &str = "auth/revoker";
pub const CLIENT_CREDENTIALS: &str = "auth/client-credentials";

/// `hash_name`: the hash family of the bloom filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokerHash {
    Default,
    Optimal,
}

/// `auth/revoker`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct RevokerSettings {
    pub at: String,
    /// `N`: how many revocations the filter is sized for.
    pub n: u64,
    /// `P`: the false-positive probability at `N`.
    pub p: f64,
    pub hash: RevokerHash,
    /// `TTL`, seconds: the rotation period.
    pub ttl: u64,
    /// `port`: cuttle's revocation endpoint (127.0.0.1 only).
    pub port: u16,
    /// `token_keys`: the claims looked up.
    pub token_keys: Vec<String>,
    /// `connection_name` (cuttle's key; KrakenD documents no Redis form
    /// of the revoker): the root `redis` connection revocations are
    /// shared through (docs/revoker.md). Resolved by `build` once the
    /// root `redis` namespace is read.
    pub connection_name: Option<String>,
    pub redis: Option<std::sync::Arc<super::RedisConnection>>,
}

/// bloomfilter's `rpc.Config` as KrakenD decodes it: Go's JSON matches
/// field names case-insensitively, so `N` and `n` are one key.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct RawRevoker {
    #[serde(alias = "n")]
    #[serde(rename = "N")]
    n: Option<u64>,
    #[serde(alias = "p")]
    #[serde(rename = "P")]
    p: Option<f64>,
    hash_name: Option<String>,
    #[serde(alias = "ttl")]
    #[serde(rename = "TTL")]
    ttl: Option<u64>,
    port: Option<u16>,
    token_keys: Option<Vec<String>>,
    connection_name: Option<String>,
}

pub fn revoker(
    value: &Value,
    at: &str,
    warnings: &mut Vec<Problem>,
) -> BuildResult<RevokerSettings> {
    let raw: RawRevoker = super::extra::decode(value, at)?;
    let n = raw.n.filter(|n| *n > 0).ok_or_else(|| {
        Problem::new(
            format!("{at}.N"),
            "missing or 0; write how many tokens the filter holds, e.g. 10000000",
        )
    })?;
    let p = raw.p.filter(|p| *p > 0.0 && *p < 1.0).ok_or_else(|| {
        Problem::new(
            format!("{at}.P"),
            "missing or not between 0 and 1; write the false-positive probability, e.g. 0.0000001",
        )
    })?;
    // bloomfilter's `HashFactoryNames` has these two; any other name is a
    // nil factory, which KrakenD calls at start (a panic).
    let hash = match raw.hash_name.as_deref() {
        Some("optimal") => RevokerHash::Optimal,
        Some("default") => RevokerHash::Default,
        other => {
            return Err(Problem::new(
                format!("{at}.hash_name"),
                format!(
                    "{} is not a hash family; write \"optimal\" or \"default\"",
                    other.map_or("missing".to_owned(), |o| format!("\"{o}\""))
                ),
            ));
        }
    };
    let ttl = raw.ttl.filter(|t| *t > 0).ok_or_else(|| {
        Problem::new(
            format!("{at}.TTL"),
            "missing or 0; write the rotation period in seconds (a revocation lasts two to three of them), e.g. 1500",
        )
    })?;
    let port = raw.port.filter(|p| *p > 0).ok_or_else(|| {
        Problem::new(
            format!("{at}.port"),
            "missing or 0; write the port of the revocation endpoint (bound to 127.0.0.1), e.g. 1234",
        )
    })?;
    let token_keys = raw.token_keys.unwrap_or_default();
    if token_keys.is_empty() {
        warnings.push(Problem::new(
            format!("{at}.token_keys"),
            "missing or empty: no claim is looked up, so no token is ever revoked (as in KrakenD); write e.g. [\"jti\"]",
        ));
    }
    Ok(RevokerSettings {
        at: at.to_owned(),
        n,
        p,
        hash,
        ttl,
        port,
        token_keys,
        connection_name: raw.connection_name,
        redis: None,
    })
}

/// Resolves the revoker's `connection_name` against the root `redis`
/// namespace (read after or before it, in any order).
pub fn resolve_revoker_redis(
    settings: &mut RevokerSettings,
    redis: &super::RedisConnections,
) -> BuildResult<()> {
    let Some(name) = &settings.connection_name else {
        return Ok(());
    };
    let at = format!("{}.connection_name", settings.at);
    let connection = redis.named(name, &at)?;
    // A cluster's pub/sub and sorted set would need the cluster client's
    // sharded forms; not implemented, so refused rather than half-working.
    if connection.kind == super::RedisKind::Cluster {
        return Err(Problem::new(
            at,
            format!(
                "\"{name}\" is a Redis Cluster ({}); auth/revoker shares revocations through a single server only: name one of connection_pools",
                connection.at
            ),
        ));
    }
    settings.redis = Some(connection);
    Ok(())
}

/// `auth/client-credentials`, checked. Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentialsSettings {
    pub at: String,
    pub client_id: String,
    pub client_secret: String,
    pub token_url: String,
    /// `scopes` split at commas (Go's `strings.Split`, so `""` is one empty
    /// scope, and `scope=` is sent).
    pub scopes: Vec<String>,
    /// `endpoint_params`, sorted by name.
    pub endpoint_params: Vec<(String, Vec<String>)>,
}

impl std::fmt::Debug for ClientCredentialsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentialsSettings")
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
struct RawClientCredentials {
    is_disabled: Option<bool>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token_url: Option<String>,
    scopes: Option<String>,
    endpoint_params: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// `None` when `is_disabled`.
pub fn client_credentials(
    value: &Value,
    at: &str,
) -> BuildResult<Option<ClientCredentialsSettings>> {
    // krakend-oauth2-clientcredentials type-asserts each key (`v.(string)`):
    // a value of another type is a panic in KrakenD, a refusal here.
    let raw: RawClientCredentials = super::extra::decode(value, at)?;
    if raw.is_disabled == Some(true) {
        return Ok(None);
    }
    let token_url = raw.token_url.filter(|u| !u.is_empty()).ok_or_else(|| {
        Problem::new(
            format!("{at}.token_url"),
            "missing; write the authorization server's token endpoint, e.g. \"https://idp.example.com/oauth/token\"",
        )
    })?;
    crate::http::Url::parse(&token_url)
        .map_err(|e| Problem::new(format!("{at}.token_url"), format!("\"{token_url}\": {e}")))?;
    let endpoint_params: Vec<(String, Vec<String>)> = raw
        .endpoint_params
        .unwrap_or_default()
        .into_iter()
        .collect();
    // golang.org/x/oauth2 `clientcredentials.go`: a parameter it sets
    // itself (always `scope`) cannot be overwritten; every token request
    // would fail.
    if endpoint_params.iter().any(|(k, _)| k == "scope") {
        return Err(Problem::new(
            format!("{at}.endpoint_params.scope"),
            "Go's oauth2 client refuses to overwrite \"scope\" and every token request would fail; write the scopes in \"scopes\" (comma-separated)",
        ));
    }
    Ok(Some(ClientCredentialsSettings {
        at: at.to_owned(),
        client_id: raw.client_id.unwrap_or_default(),
        client_secret: raw.client_secret.unwrap_or_default(),
        token_url,
        scopes: raw
            .scopes
            .unwrap_or_default()
            .split(',')
            .map(str::to_owned)
            .collect(),
        endpoint_params,
    }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn load(root: &str, backend: &str, auth: bool) -> Result<crate::config::Config, String> {
        let validator = if auth {
            r#", "extra_config": {"auth/validator": {"alg": "HS256", "jwk_url": "https://a.example/k"}}"#
        } else {
            ""
        };
        let text = format!(
            r#"{{"version": 3, "extra_config": {{{root}}}, "endpoints": [{{"endpoint": "/a",
                "backend": [{{"host": ["http://127.0.0.1:9"], "url_pattern": "/", "extra_config": {{{backend}}}}}]{validator}}}]}}"#
        );
        crate::config::parse(&text, Path::new("t.json")).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#""auth/revoker": {"N": 10, "P": 0.1, "hash_name": "optimal", "TTL": 5, "port": 1234, "token_keys": ["jti"]}"#;

    #[test]
    fn revoker_settings() {
        let c = load(GOOD, "", true).unwrap();
        let r = c.revoker.unwrap();
        assert_eq!((r.n, r.ttl, r.port), (10, 5, 1234));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let alone = load(GOOD, "", false).unwrap();
        assert!(
            alone.warnings[0]
                .message
                .contains("no endpoint has \"auth/validator\"")
        );
        for (bad, named) in [
            ("\"hash_name\": \"murmur\"", "hash_name"),
            ("\"TTL\": 0", "TTL"),
            ("\"P\": 1.5", "P"),
            ("\"N\": \"many\"", "N"),
        ] {
            let key = named;
            let root = GOOD.replacen(&format!("\"{key}\": "), &format!("\"{key}_old\": "), 1);
            let root = root.replacen('{', &format!("{{{bad}, "), 2);
            let err = load(&root, "", true).unwrap_err();
            assert!(
                err.contains(&format!("auth/revoker.{named}")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn revoker_connection_name_names_a_root_redis_server() {
        let with = |redis: &str, name: &str| {
            let root = GOOD.replacen('{', &format!("{{\"connection_name\": \"{name}\", "), 2);
            load(&format!("{root}, \"redis\": {redis}"), "", true)
        };
        let pools = r#"{"connection_pools": [{"name": "r", "address": "127.0.0.1:6379"}], "clusters": [{"name": "c", "addresses": ["127.0.0.1:7000"]}]}"#;
        let c = with(pools, "r").unwrap();
        let r = c.revoker.unwrap();
        assert_eq!(r.redis.unwrap().addresses, ["127.0.0.1:6379"]);
        assert!(
            load(GOOD, "", true)
                .unwrap()
                .revoker
                .unwrap()
                .redis
                .is_none()
        );
        for (name, says) in [
            ("nope", "no Redis connection is named"),
            ("c", "Redis Cluster"),
        ] {
            let err = with(pools, name).unwrap_err();
            assert!(err.contains("auth/revoker.connection_name"), "{err}");
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn client_credentials_settings() {
        let cc = |body: &str| load("", &format!(r#""auth/client-credentials": {body}"#), false);
        let c = cc(r#"{"token_url": "http://127.0.0.1:9/t", "client_secret": "hidden"}"#).unwrap();
        let s = c.endpoints[0].backends[0]
            .client_credentials
            .clone()
            .unwrap();
        assert_eq!(s.scopes, [""], "Go's strings.Split of an empty string");
        assert!(
            !format!("{s:?}").contains("hidden"),
            "Debug hides the secret"
        );
        let off = cc(r#"{"is_disabled": true}"#).unwrap();
        assert!(off.endpoints[0].backends[0].client_credentials.is_none());
        for (bad, named) in [
            (r#"{}"#, "token_url"),
            (r#"{"token_url": "ftp://x/"}"#, "token_url"),
            (r#"{"token_url": "http://x/", "scopes": ["a"]}"#, "scopes"),
            (
                r#"{"token_url": "http://x/", "endpoint_params": {"scope": ["a"]}}"#,
                "endpoint_params.scope",
            ),
        ] {
            let err = cc(bad).unwrap_err();
            assert!(
                err.contains(&format!("auth/client-credentials.{named}")),
                "{bad}: {err}"
            );
        }
    }
}
