//! The one list of every option cuttle knows, at every level, and what it
//! does with each (issue 21: "check names everything it will not honour"):
//!
//! - `Honoured`: read and acted on as KrakenD documents it;
//! - `Refused`: it would protect an endpoint or decide where a request
//!   goes, and cuttle does not implement it: loading fails naming it
//!   (`--ignore-unimplemented` aside);
//! - `Ignored`: cuttle has nothing to do for it; `check` and `run` print a
//!   warning naming its JSON path and why ([`report`]).
//!
//! The loader's decisions come from it: [`report`] walks a document with
//! the list and is where ignored options are reported from and refused
//! ones refused (the readers' own refusals, with more to say, name the
//! same paths); the namespace readers in `extra.rs`, `auth.rs` and
//! `telemetry.rs` read the honoured keys and pass over every key with a
//! row ([`has_row`]), keeping only the keys in no row (warned about as
//! unknown, as before). Every schema
//! namespace cuttle does not read at a level gets a row from
//! [`rows`] (refused when it guards, `unimplemented::is_guarding`, else
//! ignored). `docs/options.md` is generated from [`rows`]
//! (`tests/options.rs`), and a test loads a file using each row and checks
//! that the loader does what the row says.

use serde_json::Value;

use super::alias;
use super::error::Problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Root,
    Endpoint,
    Backend,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Root => "root",
            Level::Endpoint => "endpoint",
            Level::Backend => "backend",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Honoured,
    Refused,
    Ignored,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Honoured => "honoured",
            Status::Refused => "refused",
            Status::Ignored => "ignored",
        }
    }
}

/// One option: `path` is relative to the object of its level (the root,
/// an endpoint, a backend), keys joined with `.`, `[]` after a key whose
/// value is a list of objects; a namespace is `extra_config.<name>`.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    pub levels: &'static [Level],
    pub path: &'static str,
    pub status: Status,
    /// Why (refused, ignored), or a word on how (honoured).
    pub note: &'static str,
    /// A value for the option that the loader accepts (`tests/options.rs`
    /// loads a file with it).
    pub sample: &'static str,
}

const R: &[Level] = &[Level::Root];
const E: &[Level] = &[Level::Endpoint];
const B: &[Level] = &[Level::Backend];
const EB: &[Level] = &[Level::Endpoint, Level::Backend];
const ALL: &[Level] = &[Level::Root, Level::Endpoint, Level::Backend];

/// One row; the short constructors below keep the table to one line a row.
const fn row(
    levels: &'static [Level],
    path: &'static str,
    status: Status,
    sample: &'static str,
    note: &'static str,
) -> Opt {
    Opt {
        levels,
        path,
        status,
        note,
        sample,
    }
}

const fn h(levels: &'static [Level], path: &'static str, sample: &'static str) -> Opt {
    row(levels, path, Status::Honoured, sample, "")
}

const fn hn(l: &'static [Level], p: &'static str, sample: &'static str, note: &'static str) -> Opt {
    row(l, p, Status::Honoured, sample, note)
}

const fn ig(l: &'static [Level], p: &'static str, sample: &'static str, note: &'static str) -> Opt {
    row(l, p, Status::Ignored, sample, note)
}

const fn rf(l: &'static [Level], p: &'static str, sample: &'static str, note: &'static str) -> Opt {
    row(l, p, Status::Refused, sample, note)
}

const NO_ASYNC: &str =
    "cuttle starts its async agents without waiting for them: the gateway serves at once";
const SHARDS: &str =
    "tunes KrakenD's shared client store; cuttle's per-worker maps have no use for it";
const OTEL_HEADERS: &str =
    "cuttle reports request headers on the server span only (layers.global.report_headers)";
const OTEL_ONE_BACKEND_SPAN: &str =
    "cuttle records one span per backend call; it has no separate payload-reading span";
const OTEL_DETAILED: &str = "cuttle does not measure the connection phases separately";
const REDIS_CLIENT: &str = "cuttle keeps one pipelined connection per worker and named connection; go-redis pool tuning has nothing to act on";
const REVOKE_SERVER: &str = "KrakenD Enterprise's Revoke Server: the revocations it pushes would never arrive (send them to cuttle's revocation endpoint, docs/revoker.md)";
const JOSE_REFUSED: &str = "decides which keys are trusted or how they are read: not implemented";

/// The options written out (namespaces cuttle does not read at a level
/// are added by [`rows`]).
#[rustfmt::skip]
const LISTED: &[Opt] = &[
    // ---- root (lura `config.ServiceConfig`) ----
    h(R, "version", "3"),
    h(R, "name", "\"gw\""),
    h(R, "port", "8080"),
    h(R, "listen_ip", "\"127.0.0.1\""),
    h(R, "host", "[\"http://127.0.0.1:9\"]"),
    h(R, "timeout", "\"2s\""),
    hn(R, "cache_ttl", "\"60s\"", "sets Cache-Control: public, max-age"),
    h(R, "output_encoding", "\"json\""),
    h(R, "debug_endpoint", "true"),
    h(R, "echo_endpoint", "true"),
    h(R, "read_timeout", "\"5s\""),
    h(R, "write_timeout", "\"5s\""),
    h(R, "idle_timeout", "\"5s\""),
    h(R, "read_header_timeout", "\"5s\""),
    h(R, "max_header_bytes", "65536"),
    h(R, "max_idle_connections", "100"),
    h(R, "max_idle_connections_per_host", "100"),
    h(R, "idle_connection_timeout", "\"30s\""),
    h(R, "response_header_timeout", "\"5s\""),
    h(R, "disable_keep_alives", "true"),
    h(R, "disable_compression", "true"),
    h(R, "dialer_timeout", "\"5s\""),
    h(R, "dialer_keep_alive", "\"15s\""),
    h(R, "max_shutdown_wait_time", "\"5s\""),
    h(R, "disable_rest", "true"),
    h(R, "use_h2c", "true"),
    hn(R, "tls", "{\"disabled\": true}", "HTTPS at the edge (ARCHITECTURE.md, TLS)"),
    hn(R, "client_tls", "{\"allow_insecure_connections\": false}", "HTTPS to backends"),
    h(R, "endpoints", "[{\"endpoint\": \"/x\", \"backend\": [{\"url_pattern\": \"/p\"}]}]"),
    h(R, "extra_config", "{}"),
    // ---- tls and client_tls (lura `config.TLS`, `config.ClientTLS`) ----
    h(R, "tls.disabled", "true"),
    h(R, "tls.keys", "[{\"public_key\": \"c.pem\", \"private_key\": \"k.pem\"}]"),
    h(R, "tls.keys[].public_key", "\"cert.pem\""),
    h(R, "tls.keys[].private_key", "\"key.pem\""),
    hn(R, "tls.public_key", "\"cert.pem\"", "the older single certificate"),
    hn(R, "tls.private_key", "\"key.pem\"", "the older single certificate"),
    h(R, "tls.min_version", "\"TLS12\""),
    h(R, "tls.max_version", "\"TLS13\""),
    h(R, "tls.cipher_suites", "[4865]"),
    h(R, "tls.curve_preferences", "[29]"),
    h(R, "tls.enable_mtls", "false"),
    h(R, "tls.ca_certs", "[\"ca.pem\"]"),
    h(R, "tls.disable_system_ca_pool", "false"),
    ig(R, "tls.prefer_server_cipher_suites", "true", "Go has ignored it since 1.18; rustls always picks the server's preferred suite"),
    h(R, "client_tls.allow_insecure_connections", "false"),
    h(R, "client_tls.ca_certs", "[\"ca.pem\"]"),
    h(R, "client_tls.disable_system_ca_pool", "false"),
    h(R, "client_tls.client_certs", "[]"),
    h(R, "client_tls.client_certs[].certificate", "\"cert.pem\""),
    h(R, "client_tls.client_certs[].private_key", "\"key.pem\""),
    h(R, "client_tls.min_version", "\"TLS12\""),
    h(R, "client_tls.max_version", "\"TLS13\""),
    h(R, "client_tls.cipher_suites", "[4865]"),
    h(R, "client_tls.curve_preferences", "[29]"),
    ig(R, "expect_continue_timeout", "\"1s\"", "cuttle never sends \"Expect: 100-continue\" to a backend (it sends the whole body with the head)"),
    ig(R, "dialer_fallback_delay", "\"1s\"", "cuttle dials one address of a backend name (asked again on its DNS TTL, docs/service-discovery.md)"),
    hn(R, "async_agent", "[]", "async/amqp agents only, run by the first worker (docs/amqp.md)"),
    ig(R, "sequential_start", "true", NO_ASYNC),
    hn(R, "dns_cache_ttl", "\"30s\"", "how often \"sd\": \"dns\" names are looked up again (under 1s: 30s, as lura's SetTTL)"),
    ig(R, "plugin", "{\"pattern\": \".so\", \"folder\": \"/opt/plugins/\"}", "cuttle loads no Go plugins; a namespace that needs one is refused"),
    // ---- endpoint (lura `config.EndpointConfig`) ----
    h(E, "endpoint", "\"/e\""),
    h(E, "method", "\"GET\""),
    h(E, "backend", "[{\"url_pattern\": \"/p\"}]"),
    h(E, "timeout", "\"2s\""),
    h(E, "cache_ttl", "\"60s\""),
    h(E, "input_headers", "[\"X-A\"]"),
    h(E, "input_query_strings", "[\"a\"]"),
    h(E, "output_encoding", "\"json\""),
    h(E, "concurrent_calls", "1"),
    h(E, "extra_config", "{}"),
    // ---- backend (lura `config.Backend`) ----
    h(B, "url_pattern", "\"/b\""),
    h(B, "host", "[\"http://127.0.0.1:9\"]"),
    h(B, "method", "\"GET\""),
    h(B, "encoding", "\"json\""),
    h(B, "allow", "[\"a\"]"),
    h(B, "deny", "[\"a\"]"),
    h(B, "mapping", "{\"a\": \"b\"}"),
    h(B, "group", "\"g\""),
    h(B, "target", "\"data\""),
    h(B, "is_collection", "false"),
    h(B, "input_headers", "[\"X-A\"]"),
    h(B, "input_query_strings", "[\"a\"]"),
    hn(B, "sd", "\"static\"", "\"static\", \"dns\" and \"dns-shared\" (SRV, docs/service-discovery.md); others are refused"),
    h(B, "extra_config", "{}"),
    hn(B, "sd_scheme", "\"http\"", "with \"sd\": \"dns\": \"http\" or \"https\""),
    ig(B, "disable_host_sanitize", "true", "cuttle always normalises http hosts as lura does by default, reads a \"sd\": \"dns\" backend's SRV name and keeps a pubsub backend's host (\"nats://\") as written, with or without it"),
    // ---- router (root; krakend-ce `router_engine.go`, gin) ----
    h(R, "extra_config.router", "{}"),
    h(R, "extra_config.router.return_error_msg", "true"),
    h(R, "extra_config.router.use_h2c", "true"),
    h(R, "extra_config.router.health_path", "\"/health\""),
    h(R, "extra_config.router.disable_health", "true"),
    h(R, "extra_config.router.auto_options", "true"),
    h(R, "extra_config.router.hide_version_header", "true"),
    h(R, "extra_config.router.error_body", "{\"404\": {\"msg\": \"none\"}}"),
    h(R, "extra_config.router.disable_access_log", "true"),
    h(R, "extra_config.router.logger_skip_paths", "[\"/x\"]"),
    h(R, "extra_config.router.forwarded_by_client_ip", "true"),
    h(R, "extra_config.router.remote_ip_headers", "[\"X-Real-Ip\"]"),
    h(R, "extra_config.router.trusted_proxies", "[\"10.0.0.0/8\"]"),
    h(R, "extra_config.router.disable_redirect_trailing_slash", "true"),
    h(R, "extra_config.router.disable_redirect_fixed_path", "true"),
    h(R, "extra_config.router.disable_handle_method_not_allowed", "true"),
    h(R, "extra_config.router.remove_extra_slash", "true"),
    h(R, "extra_config.router.disable_path_decoding", "true"),
    ig(R, "extra_config.router.app_engine", "true", "gin's App Engine switch (trust X-Appengine-Remote-Addr); cuttle takes a forwarded address only as router.remote_ip_headers and trusted_proxies allow"),
    ig(R, "extra_config.router.decompress_gzip", "1024", "KrakenD Enterprise's (CE ignores it too); gzip request bodies are forwarded as they came"),
    ig(R, "extra_config.router.disable_gzip", "true", "cuttle never compresses responses, so there is nothing to turn off"),
    ig(R, "extra_config.router.max_multipart_memory", "1024", "cuttle does not parse multipart bodies; it forwards them"),
    ig(R, "extra_config.router.max_payload", "1024", "KrakenD Enterprise's (CE ignores it too); cuttle bounds request bodies with cuttle/server.max_body_bytes (default 10 MiB)"),
    // ---- telemetry/logging (root; krakend-gologging) ----
    h(R, "extra_config.telemetry/logging", "{}"),
    h(R, "extra_config.telemetry/logging.level", "\"INFO\""),
    h(R, "extra_config.telemetry/logging.prefix", "\"[GW]\""),
    h(R, "extra_config.telemetry/logging.stdout", "true"),
    h(R, "extra_config.telemetry/logging.syslog", "false"),
    h(R, "extra_config.telemetry/logging.syslog_facility", "\"local3\""),
    h(R, "extra_config.telemetry/logging.format", "\"default\""),
    h(R, "extra_config.telemetry/logging.custom_format", "\"%{message}\""),
    ig(R, "extra_config.telemetry/logging.access_log_format", "\"json\"", "KrakenD Enterprise's access-log formats; cuttle writes gin's line (or none, router.disable_access_log)"),
    ig(R, "extra_config.telemetry/logging.access_log_custom_format", "\"x\"", "KrakenD Enterprise's access-log formats; cuttle writes gin's line (or none, router.disable_access_log)"),
    ig(R, "extra_config.telemetry/logging.access_log_missing_key_marker", "\"-\"", "KrakenD Enterprise's access-log formats; cuttle writes gin's line (or none, router.disable_access_log)"),
    ig(R, "extra_config.telemetry/logging.backend", "{}", "KrakenD Enterprise's per-backend logging; cuttle logs failed backend calls at ERROR"),
    // ---- cuttle/server (root; cuttle's own) ----
    h(R, "extra_config.cuttle/server", "{}"),
    h(R, "extra_config.cuttle/server.max_body_bytes", "1024"),
    h(R, "extra_config.cuttle/server.max_uri_bytes", "1024"),
    h(R, "extra_config.cuttle/server.max_response_bytes", "1024"),
    h(R, "extra_config.cuttle/server.max_connections", "1024"),
    h(R, "extra_config.cuttle/server.pool_size", "4"),
    h(R, "extra_config.cuttle/server.h2_max_concurrent_streams", "64"),
    // ---- security (root; krakend-cors, krakend-httpsecure, krakend-botdetector) ----
    h(R, "extra_config.security/cors", "{}"),
    h(R, "extra_config.security/cors.allow_origins", "[\"*\"]"),
    h(R, "extra_config.security/cors.allow_methods", "[\"GET\"]"),
    h(R, "extra_config.security/cors.allow_headers", "[\"X-A\"]"),
    h(R, "extra_config.security/cors.expose_headers", "[\"X-A\"]"),
    h(R, "extra_config.security/cors.max_age", "\"12h\""),
    h(R, "extra_config.security/cors.allow_credentials", "false"),
    h(R, "extra_config.security/cors.allow_private_network", "true"),
    h(R, "extra_config.security/cors.options_passthrough", "true"),
    h(R, "extra_config.security/cors.options_success_status", "200"),
    h(R, "extra_config.security/cors.debug", "false"),
    h(R, "extra_config.security/http", "{}"),
    h(R, "extra_config.security/http.allowed_hosts", "[\"a.example\"]"),
    h(R, "extra_config.security/http.allowed_hosts_are_regex", "false"),
    h(R, "extra_config.security/http.host_proxy_headers", "[\"X-Forwarded-Host\"]"),
    h(R, "extra_config.security/http.sts_seconds", "300"),
    h(R, "extra_config.security/http.sts_include_subdomains", "true"),
    h(R, "extra_config.security/http.force_sts_header", "true"),
    h(R, "extra_config.security/http.frame_deny", "true"),
    h(R, "extra_config.security/http.custom_frame_options_value", "\"SAMEORIGIN\""),
    h(R, "extra_config.security/http.content_type_nosniff", "true"),
    h(R, "extra_config.security/http.browser_xss_filter", "true"),
    h(R, "extra_config.security/http.content_security_policy", "\"default-src 'self'\""),
    h(R, "extra_config.security/http.referrer_policy", "\"same-origin\""),
    h(R, "extra_config.security/http.ssl_redirect", "false"),
    h(R, "extra_config.security/http.ssl_host", "\"a.example\""),
    h(R, "extra_config.security/http.ssl_proxy_headers", "{\"X-Forwarded-Proto\": \"https\"}"),
    h(R, "extra_config.security/http.is_development", "false"),
    ig(R, "extra_config.security/http.hpkp_public_key", "\"pin-sha256=\\\"x\\\"\"", "krakend-httpsecure no longer sends it (browsers dropped HPKP)"),
    h(&[Level::Root, Level::Endpoint], "extra_config.security/bot-detector", "{}"),
    h(&[Level::Root, Level::Endpoint], "extra_config.security/bot-detector.allow", "[\"curl/7\"]"),
    h(&[Level::Root, Level::Endpoint], "extra_config.security/bot-detector.deny", "[\"a\"]"),
    h(&[Level::Root, Level::Endpoint], "extra_config.security/bot-detector.patterns", "[\"bot.*\"]"),
    h(&[Level::Root, Level::Endpoint], "extra_config.security/bot-detector.cache_size", "100"),
    h(&[Level::Root, Level::Endpoint], "extra_config.security/bot-detector.empty_user_agent_is_bot", "true"),
    // ---- auth (root: krakend-jose's shared cache) ----
    hn(R, "extra_config.auth/validator", "{\"shared_cache_duration\": 60}", "only shared_cache_duration; any other key here is warned about (a validator protects only its endpoint)"),
    h(R, "extra_config.auth/validator.shared_cache_duration", "60"),
    ig(R, "extra_config.auth/jose", "{}", "KrakenD reads the shared JWK cache from the root auth/validator"),
    // ---- redis (root; KrakenD Enterprise connection pools and clusters) ----
    hn(R, "extra_config.redis", "{}", "named connections that Redis-backed components refer to (docs/redis.md)"),
    h(R, "extra_config.redis.connection_pools", "[]"),
    h(R, "extra_config.redis.connection_pools[].name", "\"p\""),
    h(R, "extra_config.redis.connection_pools[].address", "\"127.0.0.1:6379\""),
    h(R, "extra_config.redis.connection_pools[].db", "2"),
    h(R, "extra_config.redis.connection_pools[].user_name", "\"u\""),
    h(R, "extra_config.redis.connection_pools[].password", "\"pw\""),
    h(R, "extra_config.redis.connection_pools[].client_name", "\"krakend_pool\""),
    h(R, "extra_config.redis.connection_pools[].dial_timeout", "\"1s\""),
    ig(R, "extra_config.redis.connection_pools[].pool_size", "10", REDIS_CLIENT),
    ig(R, "extra_config.redis.connection_pools[].min_idle_conns", "1", REDIS_CLIENT),
    ig(R, "extra_config.redis.connection_pools[].max_idle_conns", "5", REDIS_CLIENT),
    ig(R, "extra_config.redis.connection_pools[].max_active_conns", "20", REDIS_CLIENT),
    ig(R, "extra_config.redis.connection_pools[].conn_max_idle_time", "\"30m\"", REDIS_CLIENT),
    ig(R, "extra_config.redis.connection_pools[].conn_max_life_time", "\"1h\"", REDIS_CLIENT),
    ig(R, "extra_config.redis.connection_pools[].pool_timeout", "\"1s\"", REDIS_CLIENT),
    ig(R, "extra_config.redis.connection_pools[].max_retries", "3", REDIS_CLIENT),
    ig(R, "extra_config.redis.connection_pools[].min_retry_backoff", "\"8ms\"", REDIS_CLIENT),
    ig(R, "extra_config.redis.connection_pools[].max_retry_backoff", "\"512ms\"", REDIS_CLIENT),
    ig(R, "extra_config.redis.connection_pools[].opentelemetry", "{}", "Redis commands are not traced or measured per connection"),
    rf(R, "extra_config.redis.connection_pools[].tls", "{}", "TLS to Redis is not implemented; without it credentials and counters would cross the network in the clear"),
    h(R, "extra_config.redis.clusters", "[]"),
    h(R, "extra_config.redis.clusters[].name", "\"c\""),
    h(R, "extra_config.redis.clusters[].addresses", "[\"127.0.0.1:7000\"]"),
    ig(R, "extra_config.redis.clusters[].max_redirects", "3", REDIS_CLIENT),
    h(R, "extra_config.redis.clusters[].user_name", "\"u\""),
    h(R, "extra_config.redis.clusters[].password", "\"pw\""),
    h(R, "extra_config.redis.clusters[].client_name", "\"krakend_pool\""),
    h(R, "extra_config.redis.clusters[].dial_timeout", "\"1s\""),
    ig(R, "extra_config.redis.clusters[].pool_size", "10", REDIS_CLIENT),
    ig(R, "extra_config.redis.clusters[].min_idle_conns", "1", REDIS_CLIENT),
    ig(R, "extra_config.redis.clusters[].max_idle_conns", "5", REDIS_CLIENT),
    ig(R, "extra_config.redis.clusters[].max_active_conns", "20", REDIS_CLIENT),
    ig(R, "extra_config.redis.clusters[].conn_max_idle_time", "\"30m\"", REDIS_CLIENT),
    ig(R, "extra_config.redis.clusters[].conn_max_life_time", "\"1h\"", REDIS_CLIENT),
    ig(R, "extra_config.redis.clusters[].pool_timeout", "\"1s\"", REDIS_CLIENT),
    ig(R, "extra_config.redis.clusters[].max_retries", "3", REDIS_CLIENT),
    ig(R, "extra_config.redis.clusters[].min_retry_backoff", "\"8ms\"", REDIS_CLIENT),
    ig(R, "extra_config.redis.clusters[].max_retry_backoff", "\"512ms\"", REDIS_CLIENT),
    ig(R, "extra_config.redis.clusters[].opentelemetry", "{}", "Redis commands are not traced or measured per connection"),
    rf(R, "extra_config.redis.clusters[].tls", "{}", "TLS to Redis is not implemented; without it credentials and counters would cross the network in the clear"),
    // ---- auth/revoker (root; krakend/bloomfilter) ----
    hn(R, "extra_config.auth/revoker", "{}", "one filter per process, checked by every auth/validator; revocations arrive over HTTP on 127.0.0.1:port (docs/revoker.md), not Go RPC"),
    h(R, "extra_config.auth/revoker.N", "100"),
    h(R, "extra_config.auth/revoker.P", "0.01"),
    h(R, "extra_config.auth/revoker.hash_name", "\"optimal\""),
    h(R, "extra_config.auth/revoker.TTL", "60"),
    hn(R, "extra_config.auth/revoker.port", "1234", "cuttle's HTTP revocation endpoint, on 127.0.0.1"),
    h(R, "extra_config.auth/revoker.token_keys", "[\"jti\"]"),
    hn(R, "extra_config.auth/revoker.connection_name", "\"shared\"", "cuttle's key (KrakenD has no Redis form): revocations shared through this root redis connection, every instance subscribes (docs/revoker.md)"),
    rf(R, "extra_config.auth/revoker.revoke_server_ping_url", "\"http://rs:8080/instances\"", REVOKE_SERVER),
    rf(R, "extra_config.auth/revoker.revoke_server_api_key", "\"k\"", REVOKE_SERVER),
    rf(R, "extra_config.auth/revoker.revoke_server_ping_interval", "\"30s\"", REVOKE_SERVER),
    rf(R, "extra_config.auth/revoker.revoke_server_max_workers", "5", REVOKE_SERVER),
    rf(R, "extra_config.auth/revoker.revoke_server_max_retries", "0", REVOKE_SERVER),
    // ---- telemetry/opentelemetry (root; krakend-otel) ----
    h(R, "extra_config.telemetry/opentelemetry", "{}"),
    h(R, "extra_config.telemetry/opentelemetry.exporters", "{}"),
    h(R, "extra_config.telemetry/opentelemetry.exporters.prometheus", "[]"),
    h(R, "extra_config.telemetry/opentelemetry.exporters.prometheus[].name", "\"p\""),
    h(R, "extra_config.telemetry/opentelemetry.exporters.prometheus[].port", "9091"),
    h(R, "extra_config.telemetry/opentelemetry.exporters.prometheus[].listen_ip", "\"127.0.0.1\""),
    h(R, "extra_config.telemetry/opentelemetry.exporters.prometheus[].process_metrics", "true"),
    h(R, "extra_config.telemetry/opentelemetry.exporters.prometheus[].disable_metrics", "true"),
    hn(R, "extra_config.telemetry/opentelemetry.exporters.prometheus[].host", "\"127.0.0.1\"", "read as listen_ip when that is absent"),
    ig(R, "extra_config.telemetry/opentelemetry.exporters.prometheus[].go_metrics", "true", "cuttle is not a Go program; process_metrics gives the process_* series"),
    ig(R, "extra_config.telemetry/opentelemetry.exporters.prometheus[].custom_metric_reporting_period", "10", "read on OTLP exporters only; Prometheus scrapes"),
    h(R, "extra_config.telemetry/opentelemetry.exporters.otlp", "[]"),
    h(R, "extra_config.telemetry/opentelemetry.exporters.otlp[].name", "\"o\""),
    h(R, "extra_config.telemetry/opentelemetry.exporters.otlp[].host", "\"127.0.0.1\""),
    h(R, "extra_config.telemetry/opentelemetry.exporters.otlp[].port", "4317"),
    h(R, "extra_config.telemetry/opentelemetry.exporters.otlp[].use_http", "true"),
    h(R, "extra_config.telemetry/opentelemetry.exporters.otlp[].disable_traces", "true"),
    hn(R, "extra_config.telemetry/opentelemetry.exporters.otlp[].disable_metrics", "true", "the figures pushed are the request, proxy and backend durations (docs/tracing.md)"),
    hn(R, "extra_config.telemetry/opentelemetry.exporters.otlp[].custom_metric_reporting_period", "10", "seconds, at least 1; the shortest of the exporters' periods is used for all"),
    h(R, "extra_config.telemetry/opentelemetry.skip_paths", "[\"/x\"]"),
    hn(R, "extra_config.telemetry/opentelemetry.histograms", "{}", "the Prometheus exporter's bucket bounds"),
    h(R, "extra_config.telemetry/opentelemetry.histograms.time_buckets", "[0.1, 1]"),
    h(R, "extra_config.telemetry/opentelemetry.histograms.size_buckets", "[1024, 65536]"),
    h(R, "extra_config.telemetry/opentelemetry.layers", "{}"),
    h(R, "extra_config.telemetry/opentelemetry.layers.global", "{}"),
    h(R, "extra_config.telemetry/opentelemetry.layers.global.disable_metrics", "true"),
    h(R, "extra_config.telemetry/opentelemetry.layers.proxy", "{}"),
    h(R, "extra_config.telemetry/opentelemetry.layers.proxy.disable_metrics", "true"),
    h(R, "extra_config.telemetry/opentelemetry.layers.backend", "{}"),
    h(R, "extra_config.telemetry/opentelemetry.layers.backend.metrics", "{}"),
    h(R, "extra_config.telemetry/opentelemetry.layers.backend.metrics.disable_stage", "true"),
    h(R, "extra_config.telemetry/opentelemetry.layers.backend.metrics.round_trip", "true"),
    h(R, "extra_config.telemetry/opentelemetry.layers.backend.metrics.read_payload", "true"),
    ig(R, "extra_config.telemetry/opentelemetry.layers.backend.metrics.detailed_connection", "true", OTEL_DETAILED),
    hn(R, "extra_config.telemetry/opentelemetry.layers.backend.metrics.static_attributes", "[{\"key\": \"env\", \"value\": \"prod\"}]", "labels on the layer's series"),
    h(R, "extra_config.telemetry/opentelemetry.layers.backend.traces", "{}"),
    hn(R, "extra_config.telemetry/opentelemetry.layers.backend.traces.disable_stage", "true", "with round_trip off too: no backend spans"),
    hn(R, "extra_config.telemetry/opentelemetry.layers.backend.traces.round_trip", "true", "with disable_stage: backend spans all the same"),
    h(R, "extra_config.telemetry/opentelemetry.layers.backend.traces.static_attributes", "[{\"key\": \"env\", \"value\": \"prod\"}]"),
    ig(R, "extra_config.telemetry/opentelemetry.layers.backend.traces.read_payload", "true", OTEL_ONE_BACKEND_SPAN),
    ig(R, "extra_config.telemetry/opentelemetry.layers.backend.traces.detailed_connection", "true", OTEL_DETAILED),
    ig(R, "extra_config.telemetry/opentelemetry.layers.backend.traces.report_headers", "true", OTEL_HEADERS),
    ig(R, "extra_config.telemetry/opentelemetry.layers.backend.traces.skip_headers", "[]", OTEL_HEADERS),
    h(R, "extra_config.telemetry/opentelemetry.layers.global.disable_traces", "true"),
    hn(R, "extra_config.telemetry/opentelemetry.layers.global.disable_propagation", "true", "neither traceparent read from clients nor sent to backends"),
    hn(R, "extra_config.telemetry/opentelemetry.layers.global.report_headers", "true", "the request's headers on the server span"),
    h(R, "extra_config.telemetry/opentelemetry.layers.global.skip_headers", "[\"Authorization\"]"),
    h(R, "extra_config.telemetry/opentelemetry.layers.global.traces_static_attributes", "[{\"key\": \"env\", \"value\": \"prod\"}]"),
    hn(R, "extra_config.telemetry/opentelemetry.layers.global.metrics_static_attributes", "[{\"key\": \"env\", \"value\": \"prod\"}]", "labels on the layer's series"),
    ig(R, "extra_config.telemetry/opentelemetry.layers.global.semantic_convention", "\"\"", "cuttle writes krakend-otel's original metric names"),
    h(R, "extra_config.telemetry/opentelemetry.layers.proxy.disable_traces", "true"),
    ig(R, "extra_config.telemetry/opentelemetry.layers.proxy.report_headers", "true", OTEL_HEADERS),
    ig(R, "extra_config.telemetry/opentelemetry.layers.proxy.skip_headers", "[]", OTEL_HEADERS),
    h(R, "extra_config.telemetry/opentelemetry.layers.proxy.traces_static_attributes", "[{\"key\": \"env\", \"value\": \"prod\"}]"),
    hn(R, "extra_config.telemetry/opentelemetry.layers.proxy.metrics_static_attributes", "[{\"key\": \"env\", \"value\": \"prod\"}]", "labels on the layer's series"),
    hn(R, "extra_config.telemetry/opentelemetry.metric_reporting_period", "30", "seconds between OTLP metric pushes"),
    hn(R, "extra_config.telemetry/opentelemetry.trace_sample_rate", "0.5", "0 traces nothing (krakend-otel traces everything at 0; docs/tracing.md)"),
    h(R, "extra_config.telemetry/opentelemetry.service_name", "\"gw\""),
    h(R, "extra_config.telemetry/opentelemetry.service_version", "\"1\""),
    h(R, "extra_config.telemetry/opentelemetry.deploy_env", "\"prod\""),
    ig(R, "extra_config.telemetry/opentelemetry.exporters_override", "{}", "KrakenD Enterprise's per-endpoint exporter choice; cuttle measures every endpoint for every exporter"),
    // ---- telemetry/metrics (root; krakend-metrics, docs/stats.md) ----
    hn(R, "extra_config.telemetry/metrics", "{}", "KrakenD's /__stats JSON on a port of its own"),
    hn(R, "extra_config.telemetry/metrics.collection_time", "\"60s\"", "the window histograms and connection counters cover"),
    h(R, "extra_config.telemetry/metrics.listen_address", "\"127.0.0.1:8090\""),
    h(R, "extra_config.telemetry/metrics.router_disabled", "true"),
    h(R, "extra_config.telemetry/metrics.proxy_disabled", "true"),
    h(R, "extra_config.telemetry/metrics.backend_disabled", "true"),
    hn(R, "extra_config.telemetry/metrics.endpoint_disabled", "true", "nothing is served nor measured"),
    // ---- proxy (lura `proxy`) ----
    h(EB, "extra_config.proxy", "{}"),
    h(E, "extra_config.proxy.sequential", "true"),
    h(E, "extra_config.proxy.static", "{\"data\": {\"a\": 1}}"),
    h(EB, "extra_config.proxy.flatmap_filter", "[{\"type\": \"del\", \"args\": [\"a\"]}]"),
    hn(B, "extra_config.proxy.shadow", "true", "mirrored, its answer discarded"),
    hn(B, "extra_config.proxy.shadow_timeout", "\"1s\"", "read on a shadow backend only (reported as ignored on others)"),
    ig(E, "extra_config.proxy.shadow_timeout", "\"1s\"", "lura reads shadow_timeout on shadow backends only"),
    ig(E, "extra_config.proxy.shadow", "true", "lura reads shadow on backends only"),
    ig(B, "extra_config.proxy.sequential", "true", "lura reads sequential on endpoints only"),
    ig(B, "extra_config.proxy.static", "{\"data\": {}}", "lura reads static on endpoints only"),
    ig(EB, "extra_config.proxy.combiner", "\"x\"", "names a Go plugin's response combiner; cuttle merges as lura's default combiner does"),
    hn(E, "extra_config.proxy.sequential_propagated_params", "[\"resp0_a\"]", "the values become request parameters (Resp0_a) that modifier/lua-backend scripts read; url_pattern placeholders need no listing"),
    ig(B, "extra_config.proxy.sequential_propagated_params", "[\"resp0_a\"]", "lura reads it on endpoints only"),
    ig(EB, "extra_config.proxy.decompress_gzip", "1024", "KrakenD Enterprise's; cuttle decodes gzip backend bodies it parses"),
    ig(EB, "extra_config.proxy.max_payload", "1024", "KrakenD Enterprise's; use extra_config.cuttle/server.max_response_bytes to bound backend bodies"),
    // ---- endpoint guards and checks ----
    h(E, "extra_config.qos/ratelimit/router", "{}"),
    h(E, "extra_config.qos/ratelimit/router.max_rate", "10"),
    h(E, "extra_config.qos/ratelimit/router.capacity", "10"),
    h(E, "extra_config.qos/ratelimit/router.client_max_rate", "10"),
    h(E, "extra_config.qos/ratelimit/router.client_capacity", "10"),
    h(E, "extra_config.qos/ratelimit/router.every", "\"1s\""),
    h(E, "extra_config.qos/ratelimit/router.strategy", "\"ip\""),
    h(E, "extra_config.qos/ratelimit/router.key", "\"X-A\""),
    ig(E, "extra_config.qos/ratelimit/router.num_shards", "2048", SHARDS),
    ig(E, "extra_config.qos/ratelimit/router.cleanup_period", "\"1m\"", SHARDS),
    ig(E, "extra_config.qos/ratelimit/router.cleanup_threads", "1", SHARDS),
    // KrakenD Enterprise's Redis-backed limit (config/ratelimit_redis.rs, docs/redis.md).
    hn(E, "extra_config.qos/ratelimit/router/redis", "{}", "counted in the named Redis connection, shared by every instance using it"),
    h(E, "extra_config.qos/ratelimit/router/redis.connection_name", "\"p\""),
    hn(E, "extra_config.qos/ratelimit/router/redis.connection_pool", "\"p\"", "KrakenD's older name of connection_name"),
    h(E, "extra_config.qos/ratelimit/router/redis.max_rate", "10"),
    h(E, "extra_config.qos/ratelimit/router/redis.capacity", "10"),
    h(E, "extra_config.qos/ratelimit/router/redis.client_max_rate", "10"),
    h(E, "extra_config.qos/ratelimit/router/redis.client_capacity", "10"),
    h(E, "extra_config.qos/ratelimit/router/redis.every", "\"1s\""),
    h(E, "extra_config.qos/ratelimit/router/redis.strategy", "\"ip\""),
    h(E, "extra_config.qos/ratelimit/router/redis.key", "\"X-A\""),
    h(E, "extra_config.qos/ratelimit/router/redis.on_failure_allow", "true"),
    hn(E, "extra_config.qos/ratelimit/router/redis.decision_timeout", "\"5ms\"", "cuttle's: the most a decision waits for Redis (default 5ms)"),
    hn(E, "extra_config.qos/ratelimit/router/redis.on_failure", "\"local\"", "cuttle's: refuse, allow, or local (this instance's own limit) while Redis does not answer"),
    hn(E, "extra_config.qos/ratelimit/router/redis.local_max_rate", "5", "cuttle's, with on_failure local: this instance's max_rate while Redis does not answer"),
    hn(E, "extra_config.qos/ratelimit/router/redis.local_client_max_rate", "5", "cuttle's, with on_failure local: this instance's client_max_rate while Redis does not answer"),
    h(EB, "extra_config.validation/cel", "[{\"check_expr\": \"true\"}]"),
    h(E, "extra_config.validation/json-schema", "{\"type\": \"object\"}"),
    // KrakenD Enterprise's WebSocket endpoints, direct communication only
    // (config/websocket.rs, docs/websockets.md).
    h(E, "extra_config.websocket", "{}"),
    hn(E, "extra_config.websocket.enable_direct_communication", "true", "must be true: the multiplexed mode is refused"),
    h(E, "extra_config.websocket.input_headers", "[\"X-A\"]"),
    h(E, "extra_config.websocket.subprotocols", "[\"chat\"]"),
    hn(E, "extra_config.websocket.connect_event", "false", "false only: events are messages of the multiplexed mode, true is refused"),
    hn(E, "extra_config.websocket.disconnect_event", "false", "false only: events are messages of the multiplexed mode, true is refused"),
    h(E, "extra_config.websocket.read_buffer_size", "1024"),
    h(E, "extra_config.websocket.write_buffer_size", "1024"),
    h(E, "extra_config.websocket.max_message_size", "512"),
    h(E, "extra_config.websocket.write_wait", "\"10s\""),
    hn(E, "extra_config.websocket.pong_wait", "\"60s\"", "the idle limit: no frame either way for this long closes both sides"),
    h(E, "extra_config.websocket.ping_period", "\"54s\""),
    hn(E, "extra_config.websocket.timeout", "\"5m\"", "the longest the backend may stay silent (at least 1m)"),
    h(E, "extra_config.websocket.disable_otel_metrics", "true"),
    ig(E, "extra_config.websocket.message_buffer_size", "256", "a one-to-one relay queues no messages per client"),
    ig(E, "extra_config.websocket.max_retries", "3", "no reconnection: a backend that goes away ends the session"),
    ig(E, "extra_config.websocket.backoff_strategy", "\"linear\"", "no reconnection: a backend that goes away ends the session"),
    ig(E, "extra_config.websocket.return_error_details", "true", "errors travel in the multiplexed mode's envelope, which the relay does not have"),
    // krakend-lua (config/lua.rs, src/lua/, docs/lua.md).
    h(E, "extra_config.modifier/lua-endpoint", "{}"),
    hn(E, "extra_config.modifier/lua-endpoint.sources", "[]", "read once at start relative to the working directory (each request with live)"),
    h(E, "extra_config.modifier/lua-endpoint.md5", "{}"),
    h(E, "extra_config.modifier/lua-endpoint.pre", "\"local x = 1\""),
    ig(E, "extra_config.modifier/lua-endpoint.post", "\"local x = 1\"", "krakend-lua runs only pre at router level"),
    h(E, "extra_config.modifier/lua-endpoint.live", "true"),
    h(E, "extra_config.modifier/lua-endpoint.allow_open_libs", "true"),
    ig(E, "extra_config.modifier/lua-endpoint.skip_next", "true", "krakend-lua's router handler never reads it"),
    h(E, "extra_config.modifier/lua-proxy", "{}"),
    hn(E, "extra_config.modifier/lua-proxy.sources", "[]", "read once at start relative to the working directory (each request with live)"),
    h(E, "extra_config.modifier/lua-proxy.md5", "{}"),
    h(E, "extra_config.modifier/lua-proxy.pre", "\"local x = 1\""),
    h(E, "extra_config.modifier/lua-proxy.post", "\"local x = 1\""),
    h(E, "extra_config.modifier/lua-proxy.live", "true"),
    h(E, "extra_config.modifier/lua-proxy.allow_open_libs", "true"),
    rf(E, "extra_config.modifier/lua-proxy.skip_next", "true", "not implemented at proxy level (krakend-lua would call no backend); use it on a modifier/lua-backend"),
    h(B, "extra_config.modifier/lua-backend", "{}"),
    hn(B, "extra_config.modifier/lua-backend.sources", "[]", "read once at start relative to the working directory (each request with live)"),
    h(B, "extra_config.modifier/lua-backend.md5", "{}"),
    h(B, "extra_config.modifier/lua-backend.pre", "\"local x = 1\""),
    h(B, "extra_config.modifier/lua-backend.post", "\"local x = 1\""),
    h(B, "extra_config.modifier/lua-backend.live", "true"),
    h(B, "extra_config.modifier/lua-backend.allow_open_libs", "true"),
    h(B, "extra_config.modifier/lua-backend.skip_next", "true"),
    h(EB, "extra_config.modifier/jmespath", "{\"expr\": \"a\"}"),
    h(EB, "extra_config.modifier/jmespath.expr", "\"a\""),
    hn(B, "extra_config.modifier/martian", "{\"header.Modifier\": {\"name\": \"X-A\", \"value\": \"b\"}}", "google/martian's modifiers and filters on the backend request and response (docs/martian.md); KrakenD CE applies them to backends only"),
    hn(EB, "extra_config.plugin/req-resp-modifier", "{\"name\": [\"content-replacer\"], \"content-replacer\": {}}", "the content-replacer plugin only; any other plugin is refused"),
    h(EB, "extra_config.plugin/req-resp-modifier.name", "[\"content-replacer\"]"),
    h(EB, "extra_config.plugin/req-resp-modifier.content-replacer", "{\"a\": {\"find\": \"x\", \"replace\": \"y\"}}"),
    rf(EB, "extra_config.plugin/req-resp-modifier.ip-filter", "{\"CIDR\": [\"10.0.0.0/8\"], \"allow\": true}", "KrakenD Enterprise's ip-filter plugin is not implemented; it decides who may call"),
    rf(EB, "extra_config.plugin/req-resp-modifier.response-schema-validator", "{\"schema\": {}}", "KrakenD Enterprise's response-schema-validator plugin is not implemented; it decides what reaches the client"),
    // ---- auth/validator (endpoint; krakend-jose) ----
    h(E, "extra_config.auth/validator", "{}"),
    h(E, "extra_config.auth/validator.alg", "\"HS256\""),
    h(E, "extra_config.auth/validator.jwk_url", "\"https://a.example/jwk\""),
    h(E, "extra_config.auth/validator.jwk_local_path", "\"/nonexistent/jwk.json\""),
    h(E, "extra_config.auth/validator.cache", "true"),
    h(E, "extra_config.auth/validator.cache_duration", "900"),
    h(E, "extra_config.auth/validator.disable_jwk_security", "false"),
    h(E, "extra_config.auth/validator.issuer", "\"i\""),
    h(E, "extra_config.auth/validator.audience", "[\"a\"]"),
    h(E, "extra_config.auth/validator.roles_key", "\"roles\""),
    h(E, "extra_config.auth/validator.roles_key_is_nested", "false"),
    h(E, "extra_config.auth/validator.roles", "[\"r\"]"),
    h(E, "extra_config.auth/validator.scopes_key", "\"scope\""),
    h(E, "extra_config.auth/validator.scopes", "[\"s\"]"),
    h(E, "extra_config.auth/validator.scopes_matcher", "\"any\""),
    h(E, "extra_config.auth/validator.cookie_key", "\"c\""),
    h(E, "extra_config.auth/validator.auth_header_name", "\"X-Token\""),
    h(E, "extra_config.auth/validator.propagate_claims", "[[\"sub\", \"X-Sub\"]]"),
    h(E, "extra_config.auth/validator.key_identify_strategy", "\"kid\""),
    h(E, "extra_config.auth/validator.operation_debug", "false"),
    h(E, "extra_config.auth/validator.leeway", "\"1s\""),
    hn(E, "extra_config.auth/validator.token_cache_size", "100", "cuttle's verified-token cache"),
    ig(E, "extra_config.auth/validator.cipher_suites", "[5]", "the JWK client uses rustls' safe suites (root client_tls)"),
    ig(E, "extra_config.auth/validator.failed_jwk_key_cooldown", "\"10s\"", "cuttle refetches a JWK set for an unknown key at most every 10 s"),
    ig(E, "extra_config.auth/validator.propagate_claims_preserve_array", "true", "not implemented: array claims are propagated joined with commas"),
    ig(E, "extra_config.auth/validator.shared_cache_duration", "60", "KrakenD reads it from the root auth/validator only"),
    rf(E, "extra_config.auth/validator.jwk_fingerprints", "[\"x\"]", JOSE_REFUSED),
    rf(E, "extra_config.auth/validator.jwk_local_ca", "\"/ca.pem\"", JOSE_REFUSED),
    hn(E, "extra_config.auth/validator.secret_url", "\"base64key://smGbjm71Nxd1Ig5FS0wj9SlbzAIrnolCz9bQQ6uAhl4=\"", "base64key:// only (other schemes refused), with jwk_local_path"),
    h(E, "extra_config.auth/validator.cypher_key", "\"eA==\""),
    // ---- auth/signer (endpoint; krakend-jose) ----
    h(E, "extra_config.auth/signer", "{}"),
    h(E, "extra_config.auth/signer.alg", "\"HS256\""),
    h(E, "extra_config.auth/signer.kid", "\"k\""),
    h(E, "extra_config.auth/signer.typ", "\"JWT\""),
    h(E, "extra_config.auth/signer.jwk_url", "\"https://a.example/jwk\""),
    h(E, "extra_config.auth/signer.jwk_local_path", "\"/nonexistent/jwk.json\""),
    h(E, "extra_config.auth/signer.disable_jwk_security", "false"),
    h(E, "extra_config.auth/signer.full", "false"),
    h(E, "extra_config.auth/signer.keys_to_sign", "[\"token\"]"),
    ig(E, "extra_config.auth/signer.cipher_suites", "[5]", "the JWK client uses rustls' safe suites (root client_tls)"),
    ig(E, "extra_config.auth/signer.leeway", "\"1s\"", "a signer checks no times"),
    rf(E, "extra_config.auth/signer.jwk_fingerprints", "[\"x\"]", JOSE_REFUSED),
    rf(E, "extra_config.auth/signer.jwk_local_ca", "\"/ca.pem\"", JOSE_REFUSED),
    hn(E, "extra_config.auth/signer.secret_url", "\"base64key://smGbjm71Nxd1Ig5FS0wj9SlbzAIrnolCz9bQQ6uAhl4=\"", "base64key:// only (other schemes refused), with jwk_local_path"),
    h(E, "extra_config.auth/signer.cypher_key", "\"eA==\""),
    // ---- backend namespaces ----
    h(B, "extra_config.backend/http", "{}"),
    h(B, "extra_config.backend/http.return_error_code", "true"),
    h(B, "extra_config.backend/http.return_error_details", "\"b\""),
    // ---- backend/graphql (backend; lura transport/http/client/graphql) ----
    hn(B, "extra_config.backend/graphql", "{\"type\": \"query\", \"query\": \"{ a }\"}", "over the backend's HTTP pool (docs/graphql.md); skipped under a no-op endpoint, as in KrakenD"),
    hn(B, "extra_config.backend/graphql.type", "\"query\"", "query or mutation (any case); anything else refused"),
    hn(B, "extra_config.backend/graphql.query", "\"{ a }\"", "one of query and query_path"),
    hn(B, "extra_config.backend/graphql.query_path", "\"Cargo.toml\"", "read once at start relative to the working directory; unreadable refused"),
    hn(B, "extra_config.backend/graphql.variables", "{\"limit\": 10}", "\"{param}\" values filled from the endpoint's placeholders for a query"),
    h(B, "extra_config.backend/graphql.operationName", "\"op\""),
    hn(B, "extra_config.backend/graphql.method", "\"post\"", "lura's: GET puts the request in the query string, anything else is POST"),
    // ---- pubsub (backend; krakend-pubsub on Go CDK, docs/pubsub.md) ----
    hn(B, "extra_config.backend/pubsub/publisher", "{}", "nats:// only (host \"nats://\", server from NATS_SERVER_URL); other drivers refused"),
    hn(B, "extra_config.backend/pubsub/publisher.topic_url", "\"orders\"", "the NATS subject; ?natsv2 sends the headers as NATS headers"),
    hn(B, "extra_config.backend/pubsub/subscriber", "{}", "nats:// only (host \"nats://\", server from NATS_SERVER_URL); other drivers refused"),
    hn(B, "extra_config.backend/pubsub/subscriber.subscription_url", "\"orders\"", "the NATS subject; ?queue=group; one subscription per worker"),
    // ---- auth/client-credentials (backend; krakend-oauth2-clientcredentials) ----
    hn(B, "extra_config.auth/client-credentials", "{}", "one token per backend per process, sent as Authorization"),
    h(B, "extra_config.auth/client-credentials.client_id", "\"id\""),
    h(B, "extra_config.auth/client-credentials.client_secret", "\"s\""),
    h(B, "extra_config.auth/client-credentials.token_url", "\"http://127.0.0.1:9/token\""),
    hn(B, "extra_config.auth/client-credentials.scopes", "\"a,b\"", "comma-separated"),
    h(B, "extra_config.auth/client-credentials.endpoint_params", "{\"audience\": [\"x\"]}"),
    h(B, "extra_config.auth/client-credentials.is_disabled", "false"),
    // ---- gRPC (KrakenD Enterprise; config/grpc.rs, docs/grpc.md) ----
    hn(R, "extra_config.grpc", "{}", "the service catalog of backend/grpc"),
    hn(R, "extra_config.grpc.catalog", "[]", ".pb descriptor sets (protoc --descriptor_set_out) and directories of them, read at start relative to the working directory"),
    ig(R, "extra_config.grpc.server", "{}", "cuttle serves no gRPC to clients (KrakenD Enterprise's gRPC server): the endpoints answer over HTTP only"),
    hn(B, "extra_config.backend/grpc", "{}", "a unary call of the url_pattern's /package.Service/Method over h2c (needs the root grpc catalog)"),
    h(B, "extra_config.backend/grpc.use_request_body", "true"),
    h(B, "extra_config.backend/grpc.disable_query_params", "true"),
    hn(B, "extra_config.backend/grpc.input_mapping", "{\"a\": \"b.c\"}", "dotted field paths"),
    hn(B, "extra_config.backend/grpc.header_mapping", "{\"X-Tenant\": \"tenant\"}", "the header must also pass input_headers"),
    h(B, "extra_config.backend/grpc.request_naming_convention", "\"camelCase\""),
    h(B, "extra_config.backend/grpc.response_naming_convention", "\"camelCase\""),
    h(B, "extra_config.backend/grpc.output_enum_as_string", "true"),
    h(B, "extra_config.backend/grpc.output_timestamp_as_string", "true"),
    h(B, "extra_config.backend/grpc.output_duration_as_string", "true"),
    h(B, "extra_config.backend/grpc.output_remove_unset_values", "true"),
    rf(B, "extra_config.backend/grpc.client_tls", "{}", "cuttle calls gRPC services over plain-text HTTP/2 (h2c) only"),
    rf(B, "extra_config.backend/grpc.use_alternate_host_on_error", "true", "it would send the message again to another host; cuttle sends each message once"),
    rf(B, "extra_config.backend/grpc.input_assume_bytes", "true", "not implemented: bytes fields get the text's own bytes"),
    ig(B, "extra_config.backend/grpc.idle_conn_disconnect_time", "\"10m\"", "cuttle keeps one HTTP/2 connection per worker and host until the service closes it"),
    ig(B, "extra_config.backend/grpc.read_buffer_size", "32768", "cuttle's HTTP/2 client sizes its own buffers"),
    h(B, "extra_config.backend/http/client", "{}"),
    h(B, "extra_config.backend/http/client.send_body_on_redirect", "true"),
    rf(B, "extra_config.backend/http/client.client_tls", "{}", "KrakenD Enterprise's; it decides how this backend is reached"),
    rf(B, "extra_config.backend/http/client.proxy_address", "\"http://proxy:3128\"", "KrakenD Enterprise's; it decides where this backend is reached"),
    rf(B, "extra_config.backend/http/client.no_redirect", "true", "KrakenD Enterprise's; it decides where this backend is reached"),
    h(B, "extra_config.qos/circuit-breaker", "{}"),
    h(B, "extra_config.qos/circuit-breaker.interval", "60"),
    h(B, "extra_config.qos/circuit-breaker.timeout", "10"),
    h(B, "extra_config.qos/circuit-breaker.max_errors", "5"),
    h(B, "extra_config.qos/circuit-breaker.log_status_change", "true"),
    h(B, "extra_config.qos/circuit-breaker.name", "\"cb\""),
    h(B, "extra_config.qos/ratelimit/proxy", "{}"),
    h(B, "extra_config.qos/ratelimit/proxy.max_rate", "10"),
    h(B, "extra_config.qos/ratelimit/proxy.capacity", "10"),
    h(B, "extra_config.qos/ratelimit/proxy.every", "\"1s\""),
    hn(B, "extra_config.qos/ratelimit/proxy/redis", "{}", "cuttle's: qos/ratelimit/proxy counted in a named Redis connection (docs/redis.md)"),
    h(B, "extra_config.qos/ratelimit/proxy/redis.connection_name", "\"p\""),
    h(B, "extra_config.qos/ratelimit/proxy/redis.connection_pool", "\"p\""),
    h(B, "extra_config.qos/ratelimit/proxy/redis.max_rate", "10"),
    h(B, "extra_config.qos/ratelimit/proxy/redis.capacity", "10"),
    h(B, "extra_config.qos/ratelimit/proxy/redis.every", "\"1s\""),
    h(B, "extra_config.qos/ratelimit/proxy/redis.on_failure_allow", "true"),
    h(B, "extra_config.qos/ratelimit/proxy/redis.decision_timeout", "\"5ms\""),
    h(B, "extra_config.qos/ratelimit/proxy/redis.on_failure", "\"local\""),
    h(B, "extra_config.qos/ratelimit/proxy/redis.local_max_rate", "5"),
    hn(B, "extra_config.qos/http-cache", "{}", "per worker: a process holds up to workers x the bounds (docs/http-cache.md)"),
    hn(B, "extra_config.qos/http-cache.shared", "true", "one store per worker for all backends with it"),
    hn(B, "extra_config.qos/http-cache.max_items", "100", "with max_size, an LRU bound per store; else unbounded"),
    hn(B, "extra_config.qos/http-cache.max_size", "1048576", "bytes, with max_items; else unbounded"),
    // ---- backend/amqp/consumer and backend/amqp/producer (krakend-amqp; docs/amqp.md) ----
    hn(B, "extra_config.backend/amqp/consumer", "{\"name\": \"q\", \"exchange\": \"x\"}", "the next message of the queue is the backend's answer; the broker is the first host (amqp://)"),
    hn(B, "extra_config.backend/amqp/producer", "{\"name\": \"q\", \"exchange\": \"x\"}", "publishes the request body; answers without data"),
    h(B, "extra_config.backend/amqp/consumer.name", "\"q\""),
    hn(B, "extra_config.backend/amqp/consumer.exchange", "\"x\"", "declared as a topic exchange"),
    h(B, "extra_config.backend/amqp/consumer.durable", "true"),
    hn(B, "extra_config.backend/amqp/consumer.delete", "true", "auto-delete"),
    hn(B, "extra_config.backend/amqp/consumer.exclusive", "true", "the queue's exclusive flag, and the exchange's internal flag (as krakend-amqp passes it)"),
    h(B, "extra_config.backend/amqp/consumer.no_wait", "true"),
    hn(B, "extra_config.backend/amqp/consumer.max_retries", "3", "connection attempts per round; 0 is unlimited"),
    hn(B, "extra_config.backend/amqp/consumer.backoff_strategy", "\"exponential\"", "lura's backoff names; any other is one second"),
    h(B, "extra_config.backend/amqp/producer.name", "\"q\""),
    hn(B, "extra_config.backend/amqp/producer.exchange", "\"x\"", "declared as a topic exchange"),
    h(B, "extra_config.backend/amqp/producer.durable", "true"),
    hn(B, "extra_config.backend/amqp/producer.delete", "true", "auto-delete"),
    hn(B, "extra_config.backend/amqp/producer.exclusive", "true", "the queue's exclusive flag, and the exchange's internal flag (as krakend-amqp passes it)"),
    h(B, "extra_config.backend/amqp/producer.no_wait", "true"),
    hn(B, "extra_config.backend/amqp/producer.max_retries", "3", "connection attempts per round; 0 is unlimited"),
    hn(B, "extra_config.backend/amqp/producer.backoff_strategy", "\"exponential\"", "lura's backoff names; any other is one second"),
    hn(B, "extra_config.backend/amqp/consumer.routing_key", "[\"#\"]", "each bound to the queue"),
    h(B, "extra_config.backend/amqp/consumer.prefetch_count", "10"),
    h(B, "extra_config.backend/amqp/consumer.prefetch_size", "0"),
    hn(B, "extra_config.backend/amqp/consumer.auto_ack", "true", "the broker acknowledges; cuttle then sends no ack (KrakenD's makes RabbitMQ close the channel)"),
    h(B, "extra_config.backend/amqp/consumer.no_local", "true"),
    hn(B, "extra_config.backend/amqp/consumer.nack_discard", "true", "a message that does not decode is dropped instead of requeued"),
    hn(B, "extra_config.backend/amqp/producer.routing_key", "\"Key\"", "the endpoint parameter holding it (first letter upper-cased), or with static_routing_key the key itself"),
    h(B, "extra_config.backend/amqp/producer.static_routing_key", "true"),
    h(B, "extra_config.backend/amqp/producer.mandatory", "true"),
    hn(B, "extra_config.backend/amqp/producer.immediate", "false", "sent as written; RabbitMQ closes the connection on true"),
    hn(B, "extra_config.backend/amqp/producer.exp_key", "\"Ttl\"", "endpoint parameter, first letter upper-cased"),
    hn(B, "extra_config.backend/amqp/producer.reply_to_key", "\"Reply\"", "endpoint parameter, first letter upper-cased"),
    hn(B, "extra_config.backend/amqp/producer.msg_id_key", "\"Id\"", "endpoint parameter, first letter upper-cased"),
    hn(B, "extra_config.backend/amqp/producer.priority_key", "\"Prio\"", "endpoint parameter, first letter upper-cased"),
    ig(B, "extra_config.backend/amqp/producer.prefetch_count", "10", "krakend-amqp's producer reads it and sets no QoS"),
    ig(B, "extra_config.backend/amqp/producer.prefetch_size", "0", "krakend-amqp's producer reads it and sets no QoS"),
    ig(B, "extra_config.backend/amqp/producer.no_local", "true", "a consumer's flag; krakend-amqp's producer does not read it"),
];

/// Every row: [`LISTED`], then, for each namespace of KrakenD's schema
/// (and cuttle's) at each level where no row names it, a row refusing it
/// (when it guards an endpoint) or ignoring it.
pub fn rows() -> &'static [Opt] {
    static ROWS: std::sync::OnceLock<Vec<Opt>> = std::sync::OnceLock::new();
    ROWS.get_or_init(build_rows)
}

fn build_rows() -> Vec<Opt> {
    let mut all: Vec<Opt> = LISTED.to_vec();
    for namespace in super::suggest::known_namespaces() {
        let path: &'static str = Box::leak(format!("extra_config.{namespace}").into_boxed_str());
        for level in ALL {
            if LISTED
                .iter()
                .any(|o| o.path == path && o.levels.contains(level))
            {
                continue;
            }
            let levels: &'static [Level] = match level {
                Level::Root => R,
                Level::Endpoint => E,
                Level::Backend => B,
            };
            all.push(unread(levels, path, namespace));
        }
    }
    all
}

/// The row of a namespace cuttle does not read at `levels`.
fn unread(levels: &'static [Level], path: &'static str, namespace: &str) -> Opt {
    if super::unimplemented::is_guarding(namespace) {
        let note = if LISTED.iter().any(|o| o.path == path) {
            "not read at this level, and it would guard what it is written on: refused"
        } else {
            "not implemented, and it decides who may call or what reaches a backend"
        };
        return rf(levels, path, "{}", note);
    }
    let note = if LISTED.iter().any(|o| o.path == path) {
        "not read at this level (cuttle reads it where the table says honoured)"
    } else if namespace.starts_with("telemetry/") {
        "cuttle exports only Prometheus metrics (root telemetry/opentelemetry) and its logs"
    } else if namespace.starts_with("documentation/") {
        "documentation generators' settings; nothing to serve"
    } else {
        "not implemented; it only observes or annotates, so it does not protect anything"
    };
    ig(levels, path, "{}", note)
}

/// The keys KrakenD's schema gives the object of `level`.
pub fn schema_keys(level: Level) -> &'static [&'static str] {
    super::suggest::level_keys(level)
}

/// The namespaces of KrakenD's schema (and cuttle's own).
pub fn schema_namespaces() -> impl Iterator<Item = &'static str> {
    super::suggest::known_namespaces()
}

/// Whether some row names `key` (dotted, without list indexes) of
/// `namespace`, at any level: the readers leave such a key to the list
/// (honoured: read; ignored and refused: [`report`]). A namespace read at
/// several levels has a row for each of its keys at each of them (a test
/// keeps it so), so the level need not be asked.
pub fn has_row(namespace: &str, key: &str) -> bool {
    let ns = format!("extra_config.{namespace}.");
    LISTED.iter().any(|o| {
        o.path
            .strip_prefix(&ns)
            .is_some_and(|rest| rest.replace("[]", "") == key)
    })
}

/// Whether rows name keys below `key` of `namespace` (dotted, without
/// list indexes).
pub fn has_rows_below(namespace: &str, key: &str) -> bool {
    let ns = format!("extra_config.{namespace}.");
    LISTED.iter().any(|o| {
        o.path.strip_prefix(&ns).is_some_and(|rest| {
            rest.replace("[]", "")
                .strip_prefix(key)
                .is_some_and(|r| r.starts_with('.'))
        })
    })
}

/// Whether a whole namespace gets an ignored row at some level (readers
/// leave it to [`report`]).
pub fn is_ignored_namespace(namespace: &str) -> bool {
    super::suggest::known_namespaces().any(|n| n == namespace)
}

/// Objects of lura's own settings below the root whose keys no other
/// check looks at: a key in no row there is unknown.
const BLOCKS: &[&str] = &[
    "tls",
    "tls.keys[]",
    "client_tls",
    "client_tls.client_certs[]",
];

/// What [`report`] found.
#[derive(Debug, Default)]
pub struct Report {
    /// Ignored options: warnings, each with its JSON path and why.
    pub ignored: Vec<Problem>,
    /// Refused options, with why.
    pub refused: Vec<Problem>,
    /// Keys of [`BLOCKS`] no row names (warned about as unknown).
    pub unknown: Vec<String>,
}

/// The ignored, refused and unknown options found in `document`.
pub fn report(document: &Value) -> Report {
    let mut found = Report::default();
    for block in BLOCKS {
        let mut objects = Vec::new();
        find(document, &split(block), String::new(), &mut objects);
        for (at, object) in objects {
            let Value::Object(object) = object else {
                continue;
            };
            for key in object.keys() {
                let path = format!("{block}.{key}");
                if !key.starts_with(['@', '$', '_', '#']) && !LISTED.iter().any(|o| o.path == path)
                {
                    found.unknown.push(format!("{at}.{key}"));
                }
            }
        }
    }
    let (ignored, refused) = (&mut found.ignored, &mut found.refused);
    let rows = rows();
    let mut visit_level = |object: &Value, level: Level, at: &str| {
        for row in rows.iter().filter(|r| r.levels.contains(&level)) {
            if row.status == Status::Honoured {
                continue;
            }
            let mut found = Vec::new();
            find(object, &split(row.path), at.to_owned(), &mut found);
            for (path, _) in found {
                match row.status {
                    Status::Ignored => {
                        ignored.push(Problem::new(path, format!("ignored: {}", row.note)));
                    }
                    _ => refused.push(Problem::new(path, row.note)),
                }
            }
        }
    };
    visit_level(document, Level::Root, "");
    let endpoints = document.get("endpoints").and_then(Value::as_array);
    for (e, endpoint) in endpoints.into_iter().flatten().enumerate() {
        let at = format!("endpoints[{e}]");
        visit_level(endpoint, Level::Endpoint, &at);
        let backends = endpoint.get("backend").and_then(Value::as_array);
        for (b, backend) in backends.into_iter().flatten().enumerate() {
            visit_level(backend, Level::Backend, &format!("{at}.backend[{b}]"));
        }
    }
    found
}

/// A row's path in segments; `extra_config.<namespace>` is one segment
/// (namespaces hold no dots, their keys may follow).
fn split(path: &str) -> Vec<&str> {
    match path.strip_prefix("extra_config.") {
        Some(rest) => {
            let (namespace, keys) = match rest.split_once('.') {
                Some((n, k)) => (n, Some(k)),
                None => (rest, None),
            };
            let mut segments = vec!["extra_config", namespace];
            segments.extend(keys.into_iter().flat_map(|k| k.split('.')));
            segments
        }
        None => path.split('.').collect(),
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

/// The values `segments` reach from `value` (at `at`), with their JSON
/// paths.
fn find<'a>(value: &'a Value, segments: &[&str], at: String, found: &mut Vec<(String, &'a Value)>) {
    let Some((first, rest)) = segments.split_first() else {
        found.push((at, value));
        return;
    };
    if let Value::Array(items) = value {
        // `auth/validator` may be a list of validators.
        for (i, item) in items.iter().enumerate() {
            find(item, segments, format!("{at}[{i}]"), found);
        }
        return;
    }
    let Value::Object(object) = value else {
        return;
    };
    if *first == "extra_config" {
        let (Some(namespace), Some(Value::Object(extra))) = (rest.first(), object.get(*first))
        else {
            return;
        };
        let mut current = None;
        for (written, v) in extra {
            if let alias::Name::Current(name) = alias::resolve(written)
                && name == *namespace
            {
                // The current name wins over an old one (alias.rs).
                if current.is_none() || written == namespace {
                    current = Some((written, v));
                }
            }
        }
        if let Some((written, v)) = current {
            find(v, &rest[1..], join(&join(&at, first), written), found);
        }
        return;
    }
    let (key, list) = match first.strip_suffix("[]") {
        Some(key) => (key, true),
        None => (*first, false),
    };
    let Some(v) = object.get(key) else { return };
    let at = join(&at, key);
    match (list, v) {
        (true, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                find(item, rest, format!("{at}[{i}]"), found);
            }
        }
        (true, _) => {}
        (false, v) => find(v, rest, at, found),
    }
}

/// `docs/options.md`: the table of every row.
pub fn markdown() -> String {
    let mut rows = rows().to_vec();
    rows.sort_by(|a, b| (a.levels[0], a.path).cmp(&(b.levels[0], b.path)));
    let mut out = String::from(
        "# Options\n\nGenerated from `src/config/options.rs` by `tests/options.rs` (regenerate with\n`CUTTLE_BLESS_OPTIONS=1 cargo test --test options`); do not edit by hand.\n\nEvery option cuttle knows, at each level: **honoured** (read and acted on),\n**refused** (loading fails naming it: it would protect an endpoint or decide\nwhere a request goes, and cuttle does not implement it; `--ignore-unimplemented`\nserves without it) or **ignored** (`check` and `run` print a warning naming its\nJSON path and why). A key in none of these rows is unknown: a warning, or a\nrefusal with \"did you mean\" when it is close to a known one (ARCHITECTURE.md,\n\"check\"). Paths are relative to the level's object; `[]` marks a list.\n\n| JSON path / namespace | level | status | note |\n|---|---|---|---|\n",
    );
    for row in rows {
        let levels: Vec<&str> = row.levels.iter().map(|l| l.name()).collect();
        let note = row.note.replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            row.path,
            levels.join(", "),
            row.status.name(),
            note
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`has_row`] does not ask the level, so a namespace read at several
    /// levels must have a row for each of its keys at each of them.
    #[test]
    fn keys_of_a_namespace_have_rows_at_each_level_it_is_read() {
        for namespace_row in LISTED.iter().filter(|o| {
            o.status == Status::Honoured
                && o.path.starts_with("extra_config.")
                && split(o.path).len() == 2
        }) {
            let prefix = format!("{}.", namespace_row.path);
            for key_row in LISTED.iter().filter(|o| o.path.starts_with(&prefix)) {
                for level in namespace_row.levels {
                    // At the root, auth/validator holds only the shared
                    // cache; auth.rs warns about any other key there.
                    if namespace_row.path == "extra_config.auth/validator" && *level == Level::Root
                    {
                        continue;
                    }
                    assert!(
                        LISTED
                            .iter()
                            .any(|o| o.path == key_row.path && o.levels.contains(level)),
                        "{} has no row at the {} level",
                        key_row.path,
                        level.name()
                    );
                }
            }
        }
    }

    #[test]
    fn paths_split_at_the_namespace() {
        assert_eq!(
            split("extra_config.telemetry/opentelemetry.exporters.prometheus[].name"),
            [
                "extra_config",
                "telemetry/opentelemetry",
                "exporters",
                "prometheus[]",
                "name"
            ]
        );
        assert_eq!(split("sd_scheme"), ["sd_scheme"]);
    }
}
