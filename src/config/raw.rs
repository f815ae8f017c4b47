//! Serde mirror of a KrakenD v3 JSON file: the only place that derives
//! `Deserialize`.
//!
//! Every field is optional so that defaults and "missing" messages live in
//! `build.rs`, and `null` means "absent" as it does in Go. lura's own
//! fields (root, endpoint, backend) take loosely typed values as KrakenD's
//! parser does (`weak.rs`); `extra_config` namespaces stay strictly typed. Unknown keys are
//! ignored, as KrakenD ignores them (`$schema`, `@comment`, features cuttle
//! does not have). Durations are parsed here so that a bad one is reported
//! with its line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::{Map, Value};

use super::duration::{DurationError, parse_go_duration};
use super::weak;

/// `extra_config`: namespace -> settings, read by `extra.rs`.
pub type ExtraConfig = Map<String, Value>;

#[derive(Debug, Deserialize)]
#[serde(expecting = "a JSON object")]
pub struct RawConfig {
    /// Read by `amqp::agents` (`async/amqp` agents).
    #[serde(default)]
    pub async_agent: Option<Value>,
    #[serde(default, deserialize_with = "weak::int")]
    pub version: Option<i64>,
    #[serde(default, deserialize_with = "weak::string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "weak::int")]
    pub port: Option<u16>,
    #[serde(default, deserialize_with = "weak::string")]
    pub listen_ip: Option<String>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub host: Option<Vec<String>>,
    #[serde(default, deserialize_with = "weak::duration")]
    pub timeout: Option<GoDuration>,
    #[serde(default, deserialize_with = "weak::duration")]
    pub cache_ttl: Option<GoDuration>,
    #[serde(default, deserialize_with = "weak::string")]
    pub output_encoding: Option<String>,
    #[serde(default, deserialize_with = "weak::bool")]
    pub debug_endpoint: Option<bool>,
    #[serde(default, deserialize_with = "weak::bool")]
    pub echo_endpoint: Option<bool>,
    #[serde(default, deserialize_with = "weak::duration")]
    pub read_timeout: Option<GoDuration>,
    #[serde(default, deserialize_with = "weak::duration")]
    pub write_timeout: Option<GoDuration>,
    #[serde(default, deserialize_with = "weak::duration")]
    pub idle_timeout: Option<GoDuration>,
    #[serde(default, deserialize_with = "weak::duration")]
    pub read_header_timeout: Option<GoDuration>,
    #[serde(default, deserialize_with = "weak::int")]
    pub max_header_bytes: Option<u64>,
    #[serde(default, deserialize_with = "weak::int")]
    pub max_idle_connections_per_host: Option<u64>,
    #[serde(default, deserialize_with = "weak::duration")]
    pub dialer_timeout: Option<GoDuration>,
    /// The rest of lura's backend transport settings (`ServiceConfig`,
    /// turned into Go's `http.Transport` by lura's
    /// `transport/http/server/server.go` `NewTransport`).
    #[serde(default, deserialize_with = "weak::duration")]
    pub response_header_timeout: Option<GoDuration>,
    #[serde(default, deserialize_with = "weak::bool")]
    pub disable_keep_alives: Option<bool>,
    #[serde(default, deserialize_with = "weak::bool")]
    pub disable_compression: Option<bool>,
    #[serde(default, deserialize_with = "weak::duration")]
    pub idle_connection_timeout: Option<GoDuration>,
    /// How often `"sd": "dns"` backends are looked up again.
    #[serde(default, deserialize_with = "weak::duration")]
    pub dns_cache_ttl: Option<GoDuration>,
    #[serde(default, deserialize_with = "weak::int")]
    pub max_idle_connections: Option<u64>,
    /// Go's `net.Dialer.KeepAlive`: a negative value turns probes off.
    #[serde(default, deserialize_with = "weak::signed_duration")]
    pub dialer_keep_alive: Option<(bool, GoDuration)>,
    /// Parsed so that a bad value is refused; reported as ignored (options.rs).
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "weak::duration")]
    pub expect_continue_timeout: Option<GoDuration>,
    /// Parsed so that a bad value is refused; reported as ignored (options.rs).
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "weak::duration")]
    pub dialer_fallback_delay: Option<GoDuration>,
    #[serde(default, deserialize_with = "weak::duration")]
    pub max_shutdown_wait_time: Option<GoDuration>,
    /// Placeholders anywhere in an endpoint path (`/file.{ext}`), not only
    /// as whole segments.
    #[serde(default, deserialize_with = "weak::bool")]
    pub disable_rest: Option<bool>,
    /// HTTPS at the edge, read by `tls.rs`.
    pub tls: Option<Value>,
    /// HTTP/2 in clear text with prior knowledge (KrakenD's older root form).
    #[serde(default, deserialize_with = "weak::bool")]
    pub use_h2c: Option<bool>,
    /// HTTPS to backends, read by `tls.rs`.
    pub client_tls: Option<Value>,
    pub extra_config: Option<ExtraConfig>,
    #[serde(default, deserialize_with = "weak::list")]
    pub endpoints: Option<Vec<RawEndpoint>>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an endpoint object")]
pub struct RawEndpoint {
    #[serde(default, deserialize_with = "weak::string")]
    pub endpoint: Option<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub method: Option<String>,
    #[serde(default, deserialize_with = "weak::list")]
    pub backend: Option<Vec<RawBackend>>,
    #[serde(default, deserialize_with = "weak::duration")]
    pub timeout: Option<GoDuration>,
    #[serde(default, deserialize_with = "weak::duration")]
    pub cache_ttl: Option<GoDuration>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub input_headers: Option<Vec<String>>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub input_query_strings: Option<Vec<String>>,
    #[serde(default, deserialize_with = "weak::string")]
    pub output_encoding: Option<String>,
    #[serde(default, deserialize_with = "weak::int")]
    pub concurrent_calls: Option<u32>,
    pub extra_config: Option<ExtraConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "a backend object")]
pub struct RawBackend {
    #[serde(default, deserialize_with = "weak::string")]
    pub url_pattern: Option<String>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub host: Option<Vec<String>>,
    #[serde(default, deserialize_with = "weak::string")]
    pub method: Option<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub encoding: Option<String>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub allow: Option<Vec<String>>,
    #[serde(default, deserialize_with = "weak::strings")]
    pub deny: Option<Vec<String>>,
    #[serde(default, deserialize_with = "weak::string_map")]
    pub mapping: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "weak::string")]
    pub group: Option<String>,
    #[serde(default, deserialize_with = "weak::string")]
    pub target: Option<String>,
    #[serde(default, deserialize_with = "weak::bool")]
    pub is_collection: Option<bool>,
    /// Of what the endpoint lets through, what reaches this backend.
    pub input_headers: Option<Vec<String>>,
    pub input_query_strings: Option<Vec<String>>,
    /// Service discovery driver: `static` (the default) or `dns` (SRV).
    #[serde(default, deserialize_with = "weak::string")]
    pub sd: Option<String>,
    /// With `"sd": "dns"`: how the instances are called (`http`, `https`).
    #[serde(default, deserialize_with = "weak::string")]
    pub sd_scheme: Option<String>,
    pub extra_config: Option<ExtraConfig>,
}

// ---- extra_config namespaces cuttle implements (deserialized from a `Value`) ----

/// Root `router`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawRouter {
    pub return_error_msg: Option<bool>,
    pub health_path: Option<String>,
    pub disable_health: Option<bool>,
    pub auto_options: Option<bool>,
    pub hide_version_header: Option<bool>,
    /// `"404"` / `"405"` -> the JSON body to answer with.
    pub error_body: Option<Map<String, Value>>,
    pub disable_access_log: Option<bool>,
    pub logger_skip_paths: Option<Vec<String>>,
    pub forwarded_by_client_ip: Option<bool>,
    pub remote_ip_headers: Option<Vec<String>>,
    pub trusted_proxies: Option<Vec<String>>,
    pub disable_redirect_trailing_slash: Option<bool>,
    pub disable_redirect_fixed_path: Option<bool>,
    pub disable_handle_method_not_allowed: Option<bool>,
    pub remove_extra_slash: Option<bool>,
    pub disable_path_decoding: Option<bool>,
}

/// Root `telemetry/logging`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawLogging {
    pub level: Option<String>,
    pub prefix: Option<String>,
    pub stdout: Option<bool>,
    pub syslog: Option<bool>,
    pub syslog_facility: Option<String>,
    pub format: Option<String>,
    pub custom_format: Option<String>,
}

/// Root `cuttle/server`: cuttle's own namespace, so a typo is an error.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object", deny_unknown_fields)]
pub struct RawCuttleServer {
    pub max_body_bytes: Option<u64>,
    pub max_uri_bytes: Option<u64>,
    pub max_response_bytes: Option<u64>,
    pub max_connections: Option<u64>,
    pub pool_size: Option<u64>,
    /// HTTP/2 streams one client connection may have open at once.
    pub h2_max_concurrent_streams: Option<u64>,
}

/// `proxy`, at endpoint or backend level.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawProxy {
    pub sequential: Option<bool>,
    #[serde(rename = "static")]
    pub static_response: Option<RawStatic>,
    pub flatmap_filter: Option<Vec<RawFlatmapOp>>,
    /// Backend level only (lura `proxy/shadow.go`).
    pub shadow: Option<bool>,
    pub shadow_timeout: Option<GoDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an object with \"strategy\" and \"data\"")]
pub struct RawStatic {
    pub strategy: Option<String>,
    pub data: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an object with \"type\" and \"args\"")]
pub struct RawFlatmapOp {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub args: Option<Vec<String>>,
}

/// `modifier/jmespath`, at endpoint or backend level.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object with \"expr\"")]
pub struct RawJmespath {
    pub expr: Option<String>,
}

/// `plugin/req-resp-modifier`: only its `content-replacer` is implemented.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object with \"name\"")]
pub struct RawReqRespModifier {
    pub name: Option<Vec<String>>,
    #[serde(rename = "content-replacer")]
    pub content_replacer: Option<Map<String, Value>>,
}

/// One entry of `content-replacer`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object with \"find\" and \"replace\"")]
pub struct RawReplacement {
    pub find: Option<String>,
    pub replace: Option<String>,
    pub regexp: Option<bool>,
}

/// Backend `backend/http`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawBackendHttp {
    pub return_error_code: Option<bool>,
    pub return_error_details: Option<String>,
}

/// Backend `backend/http/client` (KrakenD CE reads `send_body_on_redirect`
/// only: lura `proxy/http.go`).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawHttpClient {
    pub send_body_on_redirect: Option<bool>,
}

/// Backend `qos/http-cache`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawHttpCache {
    pub shared: Option<bool>,
    pub max_items: Option<u64>,
    pub max_size: Option<u64>,
}

/// Backend `qos/circuit-breaker`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawCircuitBreaker {
    pub interval: Option<Seconds>,
    pub timeout: Option<Seconds>,
    pub max_errors: Option<u32>,
    pub log_status_change: Option<bool>,
    pub name: Option<String>,
}

/// Endpoint `qos/ratelimit/router`. `num_shards`, `cleanup_period` and
/// `cleanup_threads` tune KrakenD's shared store and mean nothing here.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawRouterRateLimit {
    pub max_rate: Option<f64>,
    pub capacity: Option<Count>,
    pub client_max_rate: Option<f64>,
    pub client_capacity: Option<Count>,
    pub every: Option<GoDuration>,
    pub strategy: Option<String>,
    pub key: Option<String>,
}

/// Backend `qos/ratelimit/proxy`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawProxyRateLimit {
    pub max_rate: Option<f64>,
    pub capacity: Option<Count>,
    pub every: Option<GoDuration>,
}

/// Root `security/cors` (rs/cors options, as krakend-cors reads them).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawCors {
    pub allow_origins: Option<Vec<String>>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_headers: Option<Vec<String>>,
    pub expose_headers: Option<Vec<String>>,
    pub max_age: Option<GoDuration>,
    pub allow_credentials: Option<bool>,
    pub allow_private_network: Option<bool>,
    pub options_passthrough: Option<bool>,
    pub options_success_status: Option<u16>,
    pub debug: Option<bool>,
}

/// Root `security/http` (unrolled/secure options, as krakend-httpsecure reads them).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawHttpSecurity {
    pub allowed_hosts: Option<Vec<String>>,
    pub allowed_hosts_are_regex: Option<bool>,
    pub host_proxy_headers: Option<Vec<String>>,
    pub sts_seconds: Option<Seconds>,
    pub sts_include_subdomains: Option<bool>,
    pub force_sts_header: Option<bool>,
    pub frame_deny: Option<bool>,
    pub custom_frame_options_value: Option<String>,
    pub content_type_nosniff: Option<bool>,
    pub browser_xss_filter: Option<bool>,
    pub content_security_policy: Option<String>,
    pub referrer_policy: Option<String>,
    pub ssl_redirect: Option<bool>,
    pub ssl_host: Option<String>,
    pub ssl_proxy_headers: Option<BTreeMap<String, String>>,
    pub is_development: Option<bool>,
}

/// `security/bot-detector`, at root or endpoint level.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawBotDetector {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    pub patterns: Option<Vec<String>>,
    pub cache_size: Option<u64>,
    pub empty_user_agent_is_bot: Option<bool>,
}

/// Root `auth/validator`: krakend-jose's shared JWK cache
/// (`key_cacher.go` `serviceConfig`).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawSharedJwkCache {
    pub shared_cache_duration: Option<Seconds>,
}

/// Endpoint `auth/validator` (one object; an array holds several).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawJwtValidator {
    pub alg: Option<String>,
    pub jwk_url: Option<String>,
    pub jwk_local_path: Option<String>,
    pub secret_url: Option<String>,
    pub cypher_key: Option<String>,
    pub cache: Option<bool>,
    pub cache_duration: Option<Seconds>,
    pub disable_jwk_security: Option<bool>,
    pub issuer: Option<String>,
    pub audience: Option<Vec<String>>,
    pub roles_key: Option<String>,
    pub roles_key_is_nested: Option<bool>,
    pub roles: Option<Vec<String>>,
    pub scopes_key: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub scopes_matcher: Option<String>,
    pub cookie_key: Option<String>,
    pub auth_header_name: Option<String>,
    pub propagate_claims: Option<Vec<Vec<String>>>,
    pub key_identify_strategy: Option<String>,
    pub operation_debug: Option<bool>,
    pub leeway: Option<GoDuration>,
    /// cuttle: tokens each worker remembers as verified (0: none).
    pub token_cache_size: Option<Count>,
}

/// Endpoint `auth/signer`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawJwtSigner {
    pub alg: Option<String>,
    pub kid: Option<String>,
    pub typ: Option<String>,
    pub jwk_url: Option<String>,
    pub jwk_local_path: Option<String>,
    pub secret_url: Option<String>,
    pub cypher_key: Option<String>,
    pub disable_jwk_security: Option<bool>,
    pub full: Option<bool>,
    pub keys_to_sign: Option<Vec<String>>,
}

// ---- value types with their own syntax ----

/// A Go duration string (`"2s"`), already parsed and never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(GoDurationVisitor)
    }
}

struct GoDurationVisitor;

impl Visitor<'_> for GoDurationVisitor {
    type Value = GoDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string in Go syntax, e.g. \"15s\" or \"1500ms\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<GoDuration, E> {
        match parse_go_duration(text) {
            Ok(duration) => Ok(GoDuration(duration)),
            Err(DurationError::Negative) => Err(E::custom(format_args!(
                "\"{text}\" is negative; durations here are timeouts or TTLs, write zero or more, e.g. \"15s\""
            ))),
            Err(reason) => Err(E::custom(format_args!(
                "\"{text}\" is not a duration: {reason}; write it in Go syntax, e.g. \"15s\" or \"1500ms\""
            ))),
        }
    }
}

/// A whole number of seconds (`qos/circuit-breaker` uses these, not Go durations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_u64(SecondsVisitor)
    }
}

struct SecondsVisitor;

impl Visitor<'_> for SecondsVisitor {
    type Value = Seconds;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number of seconds, e.g. 60")
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Seconds, E> {
        Ok(Seconds(seconds))
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Seconds, E> {
        u64::try_from(seconds)
            .map(Seconds)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(seconds), &self))
    }
}

/// A whole number of requests (`capacity`, `client_capacity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_u64(CountVisitor)
    }
}

struct CountVisitor;

impl Visitor<'_> for CountVisitor {
    type Value = Count;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number of requests, zero or more, e.g. 10")
    }

    fn visit_u64<E: de::Error>(self, count: u64) -> Result<Count, E> {
        Ok(Count(count))
    }

    fn visit_i64<E: de::Error>(self, count: i64) -> Result<Count, E> {
        u64::try_from(count)
            .map(Count)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(count), &self))
    }
}

// ---- `telemetry/opentelemetry` (read by `telemetry.rs`) ----

/// Root `telemetry/opentelemetry` (krakend-otel `config/config.go`
/// `ConfigData`); what cuttle does not act on is listed as ignored by
/// `telemetry.rs`.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawOpenTelemetry {
    pub exporters: Option<RawOtelExporters>,
    pub histograms: Option<RawOtelHistograms>,
    pub layers: Option<RawOtelLayers>,
    pub skip_paths: Option<Vec<String>>,
    pub service_name: Option<String>,
    pub service_version: Option<String>,
    pub deploy_env: Option<String>,
    pub metric_reporting_period: Option<i64>,
    pub trace_sample_rate: Option<f64>,
}

/// `histograms`: bucket bounds, seconds and bytes.
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object with \"time_buckets\" and/or \"size_buckets\" lists")]
pub struct RawOtelHistograms {
    pub time_buckets: Option<Vec<f64>>,
    pub size_buckets: Option<Vec<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an object with \"prometheus\" and/or \"otlp\" lists")]
pub struct RawOtelExporters {
    pub prometheus: Option<Vec<RawPrometheusExporter>>,
    pub otlp: Option<Vec<RawOtlpExporter>>,
}

/// `exporters.otlp[]` (krakend-otel `config.OTLPExporter`).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an exporter object")]
pub struct RawOtlpExporter {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub use_http: Option<bool>,
    pub disable_metrics: Option<bool>,
    pub disable_traces: Option<bool>,
    pub custom_metric_reporting_period: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an exporter object")]
pub struct RawPrometheusExporter {
    pub name: Option<String>,
    pub port: Option<u16>,
    /// KrakenD's documented key; `host` is what krakend-otel's struct reads.
    pub listen_ip: Option<String>,
    pub host: Option<String>,
    pub process_metrics: Option<bool>,
    pub disable_metrics: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an object with \"global\", \"proxy\" and \"backend\"")]
pub struct RawOtelLayers {
    pub global: Option<RawOtelSwitch>,
    pub proxy: Option<RawOtelSwitch>,
    pub backend: Option<RawOtelBackendLayer>,
}

/// `layers.global` and `layers.proxy` (krakend-otel `GlobalOpts`,
/// `PipeOpts`).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawOtelSwitch {
    pub disable_metrics: Option<bool>,
    pub metrics_static_attributes: Option<Vec<RawOtelAttribute>>,
    pub disable_traces: Option<bool>,
    pub disable_propagation: Option<bool>,
    pub report_headers: Option<bool>,
    pub skip_headers: Option<Vec<String>>,
    pub traces_static_attributes: Option<Vec<RawOtelAttribute>>,
}

/// One of krakend-otel's static attributes (`config.KeyValue`).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object with \"key\" and \"value\" strings")]
pub struct RawOtelAttribute {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an object with \"metrics\" and \"traces\"")]
pub struct RawOtelBackendLayer {
    pub metrics: Option<RawOtelBackendMetrics>,
    pub traces: Option<RawOtelBackendTraces>,
}

/// `layers.backend.traces` (krakend-otel `BackendTraceOpts`).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawOtelBackendTraces {
    pub disable_stage: Option<bool>,
    pub round_trip: Option<bool>,
    pub static_attributes: Option<Vec<RawOtelAttribute>>,
}

#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawOtelBackendMetrics {
    pub disable_stage: Option<bool>,
    pub round_trip: Option<bool>,
    pub read_payload: Option<bool>,
    pub static_attributes: Option<Vec<RawOtelAttribute>>,
}

/// Endpoint `websocket` (KrakenD Enterprise; krakend-schema v2.13
/// `websocket.json`). Strictly typed like every namespace (`weak.rs`).
#[derive(Debug, Deserialize)]
#[serde(expecting = "an object")]
pub struct RawWebSocket {
    pub enable_direct_communication: Option<bool>,
    pub input_headers: Option<Vec<String>>,
    pub subprotocols: Option<Vec<String>>,
    pub connect_event: Option<bool>,
    pub disconnect_event: Option<bool>,
    pub read_buffer_size: Option<i64>,
    pub write_buffer_size: Option<i64>,
    // Typed so a wrong type is still an error; then ignored (`options.rs`).
    #[allow(dead_code)]
    pub message_buffer_size: Option<i64>,
    pub max_message_size: Option<i64>,
    pub write_wait: Option<GoDuration>,
    pub pong_wait: Option<GoDuration>,
    pub ping_period: Option<GoDuration>,
    pub timeout: Option<GoDuration>,
    // Typed so a wrong type is still an error; then ignored (`options.rs`).
    #[allow(dead_code)]
    pub max_retries: Option<i64>,
    // Typed so a wrong type is still an error; then ignored (`options.rs`).
    #[allow(dead_code)]
    pub backoff_strategy: Option<String>,
    // Typed so a wrong type is still an error; then ignored (`options.rs`).
    #[allow(dead_code)]
    pub return_error_details: Option<bool>,
    pub disable_otel_metrics: Option<bool>,
}
