//! "Did you mean": names in the file that are a slip of the keyboard away
//! from one KrakenD knows.
//!
//! KrakenD ignores keys and namespaces it does not know, so
//! `"qos/circuit-braker"` or `"timout"` silently drop a setting. cuttle
//! compares every key of the root, of each endpoint and backend, every
//! `extra_config` namespace, and the keys inside the namespaces cuttle
//! implements with the names KrakenD's schema knows (krakend-schema,
//! `v2.13/krakend.json`, commit 07e481d1efd7b396a32a80f51dff2da854553b52).
//! The policy (ARCHITECTURE.md, "check"):
//! - a name that is not known and is close to a known one (at most 1 edit
//!   for names of up to 4 characters, 2 otherwise; an edit is an insertion,
//!   deletion, substitution or swap of neighbours) is refused with the
//!   suggestion, by `check` and `run` alike (it is found while loading);
//! - an unknown name with no close match stays a warning (it may be a
//!   newer KrakenD setting, or a plugin's);
//! - keys starting with `@`, `$`, `_` or `#` are annotations (the schema's
//!   `patternProperties` `^[@$_#]`), never checked.

use serde_json::{Map, Value};

use super::alias;
use super::error::Problem;

/// What the walk found: refusals (close misspellings) and the paths of
/// unknown keys with no close match (warnings).
#[derive(Debug, Default)]
pub struct Findings {
    pub misspelt: Vec<Problem>,
    pub unknown: Vec<String>,
}

/// Walks the document (any JSON; a non-object root finds nothing, the
/// typed parse reports it).
pub fn check(document: &Value) -> Findings {
    let mut found = Findings::default();
    let Value::Object(root) = document else {
        return found;
    };
    keys(root, ROOT_KEYS, "", &mut found);
    extra_config(root, "", &mut found);
    let endpoints = root.get("endpoints").and_then(Value::as_array);
    for (e, endpoint) in endpoints.into_iter().flatten().enumerate() {
        let Value::Object(endpoint) = endpoint else {
            continue;
        };
        let at = format!("endpoints[{e}]");
        keys(endpoint, ENDPOINT_KEYS, &at, &mut found);
        extra_config(endpoint, &at, &mut found);
        let backends = endpoint.get("backend").and_then(Value::as_array);
        for (b, backend) in backends.into_iter().flatten().enumerate() {
            let Value::Object(backend) = backend else {
                continue;
            };
            let at = format!("{at}.backend[{b}]");
            keys(backend, BACKEND_KEYS, &at, &mut found);
            extra_config(backend, &at, &mut found);
        }
    }
    found
}

/// Keys of the schema's `patternProperties` `^[@$_#]`: comments and such.
fn is_annotation(key: &str) -> bool {
    key.starts_with(['@', '$', '_', '#'])
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn keys(object: &Map<String, Value>, known: &[&str], parent: &str, found: &mut Findings) {
    for key in object.keys() {
        if is_annotation(key) || known.contains(&key.as_str()) {
            continue;
        }
        let at = join(parent, key);
        match closest(key, known.iter().copied()) {
            Some(near) => found.misspelt.push(Problem::new(
                at,
                format!("unknown key; did you mean \"{near}\"?"),
            )),
            None => found.unknown.push(at),
        }
    }
}

fn extra_config(object: &Map<String, Value>, parent: &str, found: &mut Findings) {
    let Some(Value::Object(extra)) = object.get("extra_config") else {
        return;
    };
    let parent = join(parent, "extra_config");
    for (written, value) in extra {
        if is_annotation(written) {
            continue;
        }
        let at = format!("{parent}.{written}");
        // Old names are alias.rs's business (accepted or refused there).
        let alias::Name::Current(namespace) = alias::resolve(written) else {
            continue;
        };
        if !is_namespace(namespace) {
            if let Some(near) = closest(namespace, known_namespaces()) {
                found.misspelt.push(Problem::new(
                    at,
                    format!("unknown namespace; did you mean \"{near}\"?"),
                ));
            }
            // Not close to anything: extra.rs lists it as ignored (or
            // refuses it as unimplemented).
            continue;
        }
        let Some(known) = namespace_keys(namespace) else {
            continue;
        };
        // `auth/validator` may be an array of validators in cuttle.
        let objects: Vec<&Map<String, Value>> = match value {
            Value::Object(o) => vec![o],
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            _ => Vec::new(),
        };
        for (index, object) in objects.iter().enumerate() {
            let at = match value {
                Value::Array(_) => format!("{at}[{index}]"),
                _ => at.clone(),
            };
            // A plugin's settings sit under the plugin's own name.
            let plugins: Vec<&str> = object
                .get("name")
                .and_then(Value::as_array)
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for key in object.keys() {
                if is_annotation(key)
                    || known.contains(&key.as_str())
                    || (namespace == "plugin/req-resp-modifier" && plugins.contains(&key.as_str()))
                {
                    continue;
                }
                // Unknown keys far from any are listed by extra.rs already.
                if let Some(near) = closest(key, known.iter().copied()) {
                    found.misspelt.push(Problem::new(
                        format!("{at}.{key}"),
                        format!("unknown key of \"{namespace}\"; did you mean \"{near}\"?"),
                    ));
                }
            }
        }
    }
}

/// The schema's keys of the root, an endpoint or a backend.
pub(super) fn level_keys(level: super::options::Level) -> &'static [&'static str] {
    match level {
        super::options::Level::Root => ROOT_KEYS,
        super::options::Level::Endpoint => ENDPOINT_KEYS,
        super::options::Level::Backend => BACKEND_KEYS,
    }
}

fn is_namespace(name: &str) -> bool {
    known_namespaces().any(|n| n == name)
}

pub(super) fn known_namespaces() -> impl Iterator<Item = &'static str> {
    NAMESPACES.iter().chain(CUTTLE_NAMESPACES).copied()
}

/// The known keys of a namespace cuttle reads (KrakenD's keys, at any
/// level, plus cuttle's own); `None` for the others, whose keys are not
/// checked.
fn namespace_keys(namespace: &str) -> Option<&'static [&'static str]> {
    Some(match namespace {
        "router" => ROUTER,
        "telemetry/logging" => TELEMETRY_LOGGING,
        "security/cors" => SECURITY_CORS,
        "security/http" => SECURITY_HTTP,
        "security/bot-detector" => SECURITY_BOT_DETECTOR,
        "telemetry/opentelemetry" => TELEMETRY_OPENTELEMETRY,
        "proxy" => PROXY,
        "backend/http" => BACKEND_HTTP,
        "backend/http/client" => BACKEND_HTTP_CLIENT,
        "qos/circuit-breaker" => QOS_CIRCUIT_BREAKER,
        "qos/ratelimit/router" => QOS_RATELIMIT_ROUTER,
        "qos/ratelimit/proxy" => QOS_RATELIMIT_PROXY,
        "modifier/jmespath" => MODIFIER_JMESPATH,
        "auth/validator" => AUTH_VALIDATOR,
        "auth/signer" => AUTH_SIGNER,
        "plugin/req-resp-modifier" => PLUGIN_REQ_RESP_MODIFIER,
        "cuttle/server" => CUTTLE_SERVER,
        "websocket" => WEBSOCKET,
        _ => return None,
    })
}

/// The known name closest to `name`, if it is close enough (see the
/// module's policy); the first of equally close ones.
pub fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = if name.chars().count() <= 4 { 1 } else { 2 };
    known
        .map(|k| (distance(name, k), k))
        .filter(|(d, _)| (1..=limit).contains(d))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Optimal string alignment distance: insertions, deletions,
/// substitutions and swaps of two neighbours each cost 1.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for swaps), one back, current.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

// ---- the names (krakend-schema v2.13 `krakend.json`, see the module doc) ----

/// The root's `properties`.
const ROOT_KEYS: &[&str] = &[
    "async_agent",
    "cache_ttl",
    "client_tls",
    "debug_endpoint",
    "dialer_fallback_delay",
    "dialer_keep_alive",
    "dialer_timeout",
    "disable_compression",
    "disable_keep_alives",
    "disable_rest",
    "dns_cache_ttl",
    "echo_endpoint",
    "endpoints",
    "expect_continue_timeout",
    "extra_config",
    "host",
    "idle_connection_timeout",
    "idle_timeout",
    "listen_ip",
    "max_header_bytes",
    "max_idle_connections",
    "max_idle_connections_per_host",
    "max_shutdown_wait_time",
    "name",
    "output_encoding",
    "plugin",
    "port",
    "read_header_timeout",
    "read_timeout",
    "response_header_timeout",
    "sequential_start",
    "timeout",
    "tls",
    "use_h2c",
    "version",
    "write_timeout",
];

/// `endpoint.json`'s `properties`.
const ENDPOINT_KEYS: &[&str] = &[
    "backend",
    "cache_ttl",
    "concurrent_calls",
    "endpoint",
    "extra_config",
    "input_headers",
    "input_query_strings",
    "method",
    "output_encoding",
    "timeout",
];

/// `backend.json`'s `properties`.
const BACKEND_KEYS: &[&str] = &[
    "allow",
    "deny",
    "disable_host_sanitize",
    "encoding",
    "extra_config",
    "group",
    "host",
    "input_headers",
    "input_query_strings",
    "is_collection",
    "mapping",
    "method",
    "sd",
    "sd_scheme",
    "target",
    "url_pattern",
];

/// The namespaces of `service_extra_config.json`, `endpoint_extra_config.json`
/// and `backend_extra_config.json` together.
const NAMESPACES: &[&str] = &[
    "ai/llm",
    "ai/mcp",
    "auth/api-keys",
    "auth/aws-sigv4",
    "auth/basic",
    "auth/client-credentials",
    "auth/gcp",
    "auth/ntlm",
    "auth/revoker",
    "auth/signer",
    "auth/validator",
    "backend/amqp/consumer",
    "backend/amqp/producer",
    "backend/conditional",
    "backend/graphql",
    "backend/grpc",
    "backend/http",
    "backend/http/client",
    "backend/lambda",
    "backend/pubsub/publisher",
    "backend/pubsub/publisher/kafka",
    "backend/pubsub/subscriber",
    "backend/pubsub/subscriber/kafka",
    "backend/soap",
    "backend/static-filesystem",
    "documentation/openapi",
    "documentation/postman",
    "governance/processors",
    "governance/quota",
    "grpc",
    "modifier/body-generator",
    "modifier/jmespath",
    "modifier/lua-backend",
    "modifier/lua-endpoint",
    "modifier/lua-proxy",
    "modifier/martian",
    "modifier/request-body-extractor",
    "modifier/request-body-extractor/early",
    "modifier/request-body-generator",
    "modifier/response-body",
    "modifier/response-body-generator",
    "modifier/response-headers",
    "plugin/http-client",
    "plugin/http-server",
    "plugin/middleware",
    "plugin/req-resp-modifier",
    "proxy",
    "qos/circuit-breaker",
    "qos/circuit-breaker/http",
    "qos/http-cache",
    "qos/ratelimit/proxy",
    "qos/ratelimit/router",
    "qos/ratelimit/router/redis",
    "qos/ratelimit/service",
    "qos/ratelimit/service/redis",
    "qos/ratelimit/tiered",
    "redis",
    "router",
    "security/bot-detector",
    "security/cors",
    "security/http",
    "security/policies",
    "server/static-filesystem",
    "server/virtualhost",
    "telemetry/gelf",
    "telemetry/influx",
    "telemetry/logging",
    "telemetry/logstash",
    "telemetry/metrics",
    "telemetry/moesif",
    "telemetry/newrelic",
    "telemetry/opencensus",
    "telemetry/opentelemetry",
    "telemetry/opentelemetry-security",
    "validation/cel",
    "validation/json-schema",
    "validation/response-json-schema",
    "websocket",
    "workflow",
];

/// Namespaces cuttle reads that the schema's lists lack: its own, and
/// krakend-jose's service-level cache settings, and the backend form of
/// the Redis-backed rate limit.
const CUTTLE_NAMESPACES: &[&str] = &["cuttle/server", "auth/jose", "qos/ratelimit/proxy/redis"];

// Each namespace's `properties`, at every level it is allowed at, plus
// the keys cuttle adds.

const ROUTER: &[&str] = &[
    "app_engine",
    "auto_options",
    "decompress_gzip",
    "disable_access_log",
    "disable_gzip",
    "disable_handle_method_not_allowed",
    "disable_health",
    "disable_path_decoding",
    "disable_redirect_fixed_path",
    "disable_redirect_trailing_slash",
    "error_body",
    "forwarded_by_client_ip",
    "health_path",
    "hide_version_header",
    "logger_skip_paths",
    "max_multipart_memory",
    "max_payload",
    "remote_ip_headers",
    "remove_extra_slash",
    "return_error_msg",
    "trusted_proxies",
    // KrakenD's older place for it, read by cuttle.
    "use_h2c",
];

const TELEMETRY_LOGGING: &[&str] = &[
    "access_log_custom_format",
    "access_log_format",
    "access_log_missing_key_marker",
    "backend",
    "custom_format",
    "format",
    "level",
    "prefix",
    "stdout",
    "syslog",
    "syslog_facility",
];

const SECURITY_CORS: &[&str] = &[
    "allow_credentials",
    "allow_headers",
    "allow_methods",
    "allow_origins",
    "allow_private_network",
    "debug",
    "expose_headers",
    "max_age",
    "options_passthrough",
    "options_success_status",
];

const SECURITY_HTTP: &[&str] = &[
    "allowed_hosts",
    "allowed_hosts_are_regex",
    "browser_xss_filter",
    "content_security_policy",
    "content_type_nosniff",
    "custom_frame_options_value",
    "force_sts_header",
    "frame_deny",
    "host_proxy_headers",
    "hpkp_public_key",
    "is_development",
    "referrer_policy",
    "ssl_host",
    "ssl_proxy_headers",
    "ssl_redirect",
    "sts_include_subdomains",
    "sts_seconds",
];

const WEBSOCKET: &[&str] = &[
    "backoff_strategy",
    "connect_event",
    "disable_otel_metrics",
    "disconnect_event",
    "enable_direct_communication",
    "input_headers",
    "max_message_size",
    "max_retries",
    "message_buffer_size",
    "ping_period",
    "pong_wait",
    "read_buffer_size",
    "return_error_details",
    "subprotocols",
    "timeout",
    "write_buffer_size",
    "write_wait",
];

const SECURITY_BOT_DETECTOR: &[&str] = &[
    "allow",
    "cache_size",
    "deny",
    "empty_user_agent_is_bot",
    "patterns",
];

const TELEMETRY_OPENTELEMETRY: &[&str] = &[
    "backend",
    "deploy_env",
    "exporters",
    "exporters_override",
    "global",
    "histograms",
    "layers",
    "metric_reporting_period",
    "proxy",
    "service_name",
    "service_version",
    "skip_paths",
    "trace_sample_rate",
];

const PROXY: &[&str] = &[
    "combiner",
    "decompress_gzip",
    "flatmap_filter",
    "max_payload",
    "sequential",
    "sequential_propagated_params",
    "shadow",
    "static",
];

const BACKEND_HTTP: &[&str] = &["return_error_code", "return_error_details"];

/// krakend-schema `v2.13/backend/http_client.json`.
const BACKEND_HTTP_CLIENT: &[&str] = &[
    "client_tls",
    "no_redirect",
    "proxy_address",
    "send_body_on_redirect",
];

const QOS_CIRCUIT_BREAKER: &[&str] = &[
    "interval",
    "log_status_change",
    "max_errors",
    "name",
    "timeout",
];

const QOS_RATELIMIT_ROUTER: &[&str] = &[
    "capacity",
    "cleanup_period",
    "cleanup_threads",
    "client_capacity",
    "client_max_rate",
    "every",
    "key",
    "max_rate",
    "num_shards",
    "strategy",
];

const QOS_RATELIMIT_PROXY: &[&str] = &["capacity", "every", "max_rate"];

const MODIFIER_JMESPATH: &[&str] = &["expr"];

const AUTH_VALIDATOR: &[&str] = &[
    "alg",
    "audience",
    "auth_header_name",
    "cache",
    "cache_duration",
    "cipher_suites",
    "cookie_key",
    "cypher_key",
    "disable_jwk_security",
    "failed_jwk_key_cooldown",
    "issuer",
    "jwk_fingerprints",
    "jwk_local_ca",
    "jwk_local_path",
    "jwk_url",
    "key_identify_strategy",
    "leeway",
    "operation_debug",
    "propagate_claims",
    "propagate_claims_preserve_array",
    "roles",
    "roles_key",
    "roles_key_is_nested",
    "scopes",
    "scopes_key",
    "scopes_matcher",
    "secret_url",
    "shared_cache_duration",
    // cuttle's verified-token cache.
    "token_cache_size",
];

const AUTH_SIGNER: &[&str] = &[
    "alg",
    "cipher_suites",
    "cypher_key",
    "disable_jwk_security",
    "full",
    "jwk_fingerprints",
    "jwk_local_ca",
    "jwk_local_path",
    "jwk_url",
    "keys_to_sign",
    "kid",
    "leeway",
    "secret_url",
    "typ",
];

const PLUGIN_REQ_RESP_MODIFIER: &[&str] = &[
    "content-replacer",
    "ip-filter",
    "name",
    "response-schema-validator",
];

/// `raw::RawCuttleServer`'s fields.
const CUTTLE_SERVER: &[&str] = &[
    "max_body_bytes",
    "max_uri_bytes",
    "max_response_bytes",
    "max_connections",
    "pool_size",
    "h2_max_concurrent_streams",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The lists are KrakenD's: with CUTTLE_KRAKEND_SCHEMA pointing at
    /// krakend-schema's bundled `v2.13/krakend.json`, compare them (run it
    /// after updating the lists for a new schema).
    #[test]
    fn the_lists_match_krakends_schema_when_available() {
        let Some(path) = std::env::var_os("CUTTLE_KRAKEND_SCHEMA") else {
            return;
        };
        let text = std::fs::read_to_string(path).unwrap();
        let schema: Value = serde_json::from_str(&text).unwrap();
        let defs = &schema["$defs"];
        let def = |file: &str| &defs[format!("https://www.krakend.io/schema/v2.13/{file}")];
        let names = |object: &Value| -> Vec<String> {
            let mut keys: Vec<String> = object["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        };
        let sorted = |list: &[&str]| {
            let mut list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
            list.sort();
            list
        };
        assert_eq!(names(&schema), sorted(ROOT_KEYS));
        assert_eq!(names(def("endpoint.json")), sorted(ENDPOINT_KEYS));
        assert_eq!(names(def("backend.json")), sorted(BACKEND_KEYS));
        // The service list is behind one `$ref` in the bundled file.
        let service = def("service_extra_config.json");
        let service = match service["$ref"].as_str() {
            Some(pointer) => schema.pointer(pointer.trim_start_matches('#')).unwrap(),
            None => service,
        };
        let mut namespaces: Vec<String> = [
            service,
            def("endpoint_extra_config.json"),
            def("backend_extra_config.json"),
        ]
        .into_iter()
        .flat_map(names)
        .collect();
        namespaces.sort();
        namespaces.dedup();
        assert_eq!(namespaces, sorted(NAMESPACES));
    }

    #[test]
    fn a_plugins_settings_are_under_its_name() {
        let doc: Value = serde_json::from_str(
            r#"{"version": 3, "endpoints": [{"endpoint": "/a", "extra_config": {"plugin/req-resp-modifier":
                {"name": ["content-replacer2"], "content-replacer2": {}, "nme": []}}}]}"#,
        )
        .unwrap();
        let at: Vec<String> = check(&doc).misspelt.into_iter().map(|p| p.at).collect();
        assert_eq!(
            at,
            ["endpoints[0].extra_config.plugin/req-resp-modifier.nme"]
        );
    }

    #[test]
    fn distances() {
        assert_eq!(distance("timout", "timeout"), 1);
        assert_eq!(distance("tiemout", "timeout"), 1);
        assert_eq!(distance("qos/circuit-braker", "qos/circuit-breaker"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_respects_the_limits() {
        let known = ["timeout", "host", "kid"];
        assert_eq!(closest("timout", known.into_iter()), Some("timeout"));
        assert_eq!(closest("tmeot", known.into_iter()), Some("timeout"));
        assert_eq!(closest("hots", known.into_iter()), Some("host"));
        // Short names get one edit only.
        assert_eq!(closest("xd", known.into_iter()), None);
        assert_eq!(closest("kd", known.into_iter()), Some("kid"));
        // A known name is never "close" to itself.
        assert_eq!(closest("host", known.into_iter()), None);
    }

    #[test]
    fn walks_every_level_and_leaves_annotations_alone() {
        let doc: Value = serde_json::from_str(
            r#"{"version": 3, "timout": "1s", "$schema": "x", "@comment": "y", "wholly_unknown": 1,
                "extra_config": {"routr": {}, "router": {"retrun_error_msg": true}, "cuttle/sever": {}},
                "endpoints": [{"endpoint": "/a", "backends": [],
                  "extra_config": {"proxy": {"sequental": true}, "auth/validator": [{"isuser": "x"}]},
                  "backend": [{"url_pattern": "/", "hots": [],
                    "extra_config": {"qos/circuit-braker": {}, "github.com/devopsfaith/krakend-ratelimit/juju/proxy": {}}}]}]}"#,
        )
        .unwrap();
        let found = check(&doc);
        let at: Vec<&str> = found.misspelt.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(
            at,
            [
                "timout",
                "extra_config.cuttle/sever",
                "extra_config.router.retrun_error_msg",
                "extra_config.routr",
                "endpoints[0].backends",
                "endpoints[0].extra_config.auth/validator[0].isuser",
                "endpoints[0].extra_config.proxy.sequental",
                "endpoints[0].backend[0].hots",
                "endpoints[0].backend[0].extra_config.qos/circuit-braker",
            ]
        );
        assert!(found.misspelt[0].message.contains("\"timeout\""));
        assert_eq!(found.unknown, ["wholly_unknown"]);
    }
}
