//! The built, immutable configuration: what every other module reads.
//!
//! Nothing here derives `Deserialize`: the raw serde structs live in `raw.rs`
//! and `build.rs` turns them into these types after filling defaults and
//! checking cross-field rules. A `Config` that exists is a valid one.

use std::path::PathBuf;
use std::time::Duration;

use crate::http::Method;

/// Default for the root and endpoint `timeout`, as in KrakenD.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Go's `net.Dialer` keep-alive period when `KeepAlive` is 0 (net/dial.go
/// `defaultTCPKeepAliveIdle`), which KrakenD's `dialer_keep_alive` feeds.
pub const DEFAULT_TCP_KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this configuration was read from (for messages).
    pub source: PathBuf,
    /// The root `async_agent` list (`async/amqp` agents).
    pub async_agents: Vec<super::AsyncAgentSettings>,
    pub name: Option<String>,
    /// `port`, default 8080. Overridden by `run -p`.
    pub port: u16,
    /// `listen_ip`, default all interfaces.
    pub listen_ip: std::net::IpAddr,
    /// `debug_endpoint` (or `run -d`): serve `/__debug/`.
    pub debug_endpoint: bool,
    /// `echo_endpoint`: serve `/__echo/`.
    pub echo_endpoint: bool,
    /// `extra_config.router.return_error_msg`: a failing single backend's
    /// error text becomes the 500 body.
    pub return_error_msg: bool,
    /// The other `extra_config.router` options (health path, OPTIONS,
    /// version header, 404/405 bodies, access log, client address).
    pub router: super::RouterOptions,
    /// `extra_config.telemetry/logging`.
    pub logging: super::Logging,
    pub limits: ServerLimits,
    /// The root `tls` block, when enabled: the port speaks only TLS.
    pub tls: Option<super::tls::ServerTlsSettings>,
    /// `use_h2c` (root or `router`): the plain port also speaks HTTP/2 to
    /// clients that start with its preface (prior knowledge).
    pub use_h2c: bool,
    /// The root `client_tls` block: how `https://` backends are called.
    pub client_tls: super::tls::ClientTlsSettings,
    /// `security/cors`, `security/http` and the service-level
    /// `security/bot-detector`.
    pub security: ServiceSecurity,
    pub endpoints: Vec<Endpoint>,
    /// `telemetry/opentelemetry`: metrics and where they are served.
    pub telemetry: Option<super::telemetry::Telemetry>,
    /// `auth/revoker`: the process's filter of revoked tokens.
    pub revoker: Option<super::RevokerSettings>,
    /// Root `redis`: the named Redis connections (servers and clusters).
    pub redis: super::RedisConnections,
    /// `telemetry/metrics`: KrakenD's legacy `/__stats` endpoint.
    pub stats: Option<super::StatsSettings>,
    /// `extra_config` namespaces cuttle does not implement (root, endpoint
    /// and backend levels), keys cuttle ignores inside the ones it does
    /// (`namespace.key`), and keys of the root, endpoints and backends that
    /// KrakenD does not know either (their paths, `suggest`); deduplicated,
    /// sorted. Warned about once at start.
    pub unknown_namespaces: Vec<String>,
    /// Forms KrakenD tolerates and cuttle serves as KrakenD does, but that
    /// are probably not what was meant (an unknown encoding read as JSON, a
    /// `static` block without data...): JSON path and what cuttle does.
    /// `check` and `run` print them as warnings.
    pub warnings: Vec<super::Problem>,
    /// Endpoints KrakenD logs an error for and does not serve (an unknown
    /// `method`): not served here either; `check` and `run` print each as
    /// an error line naming it (JSON path and reason).
    pub skipped_endpoints: Vec<super::Problem>,
    /// Settings that would guard an endpoint and that cuttle does not
    /// implement (JSON path and what it is). Loading refuses the file when
    /// there are any, unless told to ignore them; then they are logged at
    /// error level at start-up.
    pub unimplemented: Vec<super::Problem>,
}

/// Connection-level limits and timeouts. KrakenD leaves most of these
/// unlimited; at the edge every one of them must be finite.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// `read_header_timeout`: time allowed to receive a whole request head.
    pub read_header_timeout: Duration,
    /// `read_timeout`: time allowed to receive a whole request (head and body).
    pub read_timeout: Duration,
    /// How long one write may wait for the client to take bytes (a stall):
    /// `write_timeout` when set, else 30 s (cuttle's; KrakenD has none).
    pub write_timeout: Duration,
    /// `write_timeout` as Go's server means it (KrakenD's): the response
    /// must be written whole within this time from the end of the request
    /// head, or the connection is closed. `None` when the file sets none
    /// (or 0): no bound on the whole response, only the stall bound.
    pub write_deadline: Option<Duration>,
    /// `idle_timeout`: how long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// `max_header_bytes`: the request line plus headers (beyond: 431, or 414 for the URI).
    pub max_header_bytes: usize,
    /// `max_uri_bytes` (cuttle): longest request target (beyond: 414).
    pub max_uri_bytes: usize,
    /// `max_body_bytes` (cuttle): largest request body accepted (beyond: 413).
    pub max_body_bytes: usize,
    /// The same limit for a no-op endpoint's streamed upload, which the
    /// gateway does not hold: only when the file sets `max_body_bytes`
    /// (the default bounds what is buffered; KrakenD CE has no limit).
    pub max_streamed_body_bytes: Option<usize>,
    /// `max_response_bytes` (cuttle): largest backend body buffered for
    /// manipulation (beyond: the backend counts as failed).
    pub max_response_bytes: usize,
    /// `max_connections` (cuttle): client connections per worker.
    pub max_connections_per_worker: usize,
    /// `max_idle_connections_per_host`: idle keep-alive connections kept per
    /// backend host by the whole process (KrakenD's default, 250); each
    /// worker keeps its share, see [`ServerLimits::idle_per_worker`].
    pub max_idle_per_host: usize,
    /// `cuttle/server.pool_size`: connections each worker opens to each
    /// backend host at start-up (at most its idle share).
    pub preconnect: usize,
    /// `cuttle/server.h2_max_concurrent_streams`: HTTP/2 streams one client
    /// connection may have open at once (default 100); more are refused
    /// with RST_STREAM(REFUSED_STREAM).
    pub h2_max_concurrent_streams: usize,
    /// `dialer_timeout`: connect timeout to backends.
    pub connect_timeout: Duration,
    /// `max_idle_connections`: idle keep-alive connections kept to all
    /// backend hosts together by the whole process (`None`: no limit, Go's
    /// 0); each worker keeps its share, see [`ServerLimits::idle_total_per_worker`].
    pub max_idle_total: Option<usize>,
    /// `idle_connection_timeout`: an idle pooled backend connection is
    /// closed after this long (`None`: kept until the backend closes it).
    pub idle_connection_timeout: Option<Duration>,
    /// `response_header_timeout`: how long a backend may take to start
    /// its answer once the request is written (`None`: only the endpoint's
    /// `timeout` bounds it).
    pub response_header_timeout: Option<Duration>,
    /// `disable_keep_alives`: one connection per backend call, closed after
    /// it (`Connection: close`).
    pub disable_keep_alives: bool,
    /// `disable_compression`: do not ask backends for gzip.
    pub disable_compression: bool,
    /// `dialer_keep_alive`: TCP keep-alive probe interval on backend
    /// sockets (Go's default 15 s; `None`: off, a negative value).
    pub tcp_keep_alive: Option<Duration>,
    /// `max_shutdown_wait_time`: how long in-flight requests may take after SIGTERM.
    pub shutdown_wait: Duration,
    /// `dns_cache_ttl`: how often `"sd": "dns"` backends are looked up
    /// again (lura `dnssrv.SetTTL`: under 1 s, or absent, is 30 s).
    pub dns_cache_ttl: Option<Duration>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            read_header_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            write_deadline: None,
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: 10 * 1024 * 1024,
            max_streamed_body_bytes: None,
            max_response_bytes: 64 * 1024 * 1024,
            max_connections_per_worker: 10_000,
            max_idle_per_host: 250,
            preconnect: 4,
            h2_max_concurrent_streams: 100,
            connect_timeout: Duration::from_secs(3),
            max_idle_total: None,
            idle_connection_timeout: None,
            response_header_timeout: None,
            disable_keep_alives: false,
            disable_compression: false,
            tcp_keep_alive: Some(DEFAULT_TCP_KEEP_ALIVE),
            shutdown_wait: Duration::from_secs(10),
            dns_cache_ttl: None,
        }
    }
}

impl ServerLimits {
    /// One worker's share of `max_idle_per_host` (rounded up, at least 1):
    /// the limit is per host for the process, as in KrakenD, not per core.
    pub fn idle_per_worker(&self, workers: usize) -> usize {
        self.max_idle_per_host.div_ceil(workers.max(1)).max(1)
    }

    /// Connections one worker opens per host at start-up: none when
    /// connections are not kept alive (each call opens its own, as Go's
    /// transport does with `DisableKeepAlives`).
    pub fn preconnect_per_worker(&self, workers: usize) -> usize {
        if self.disable_keep_alives {
            return 0;
        }
        self.preconnect.min(self.idle_per_worker(workers))
    }

    /// One worker's share of `max_idle_total` (rounded up, at least 1), as
    /// `max_idle_per_host` is shared: Go's `MaxIdleConns` bounds the whole
    /// process, and cuttle's pools are per worker.
    pub fn idle_total_per_worker(&self, workers: usize) -> Option<usize> {
        self.max_idle_total
            .map(|total| total.div_ceil(workers.max(1)).max(1))
    }
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its position in the file's `endpoints`, for messages
    /// (`endpoints[3]`): an endpoint not served leaves a gap.
    pub index: usize,
    /// The `endpoint` path, e.g. `/users/{user}`.
    pub path: String,
    pub method: Method,
    pub timeout: Duration,
    /// Endpoint `cache_ttl`, falling back to the root one. `None`: no Cache-Control.
    pub cache_ttl: Option<Duration>,
    pub input_headers: Forward,
    pub input_query_strings: Forward,
    pub output_encoding: OutputEncoding,
    pub backends: Vec<Backend>,
    /// `concurrent_calls` (default 1): identical calls per backend, first good answer wins.
    pub concurrent_calls: u32,
    /// `extra_config.proxy.sequential`.
    pub sequential: bool,
    /// `extra_config.proxy.static`.
    pub static_response: Option<StaticResponse>,
    /// `extra_config.proxy.flatmap_filter` at endpoint level: applied after the merge.
    pub flatmap: Vec<FlatmapOp>,
    /// `extra_config.qos/ratelimit/router`.
    pub rate_limit: Option<RouterRateLimit>,
    /// `extra_config.qos/ratelimit/router/redis`: counted in Redis.
    pub redis_rate_limit: Option<super::RedisRateLimit>,
    /// The path ends in `/*`: every path under the prefix is served, and
    /// the rest of the path is appended to each backend's url_pattern.
    pub wildcard: bool,
    /// `modifier/jmespath` and the content replacer at endpoint level:
    /// applied to the merged response, before the output encoding.
    pub response: ResponseModifiers,
    /// `security/bot-detector` at endpoint level (after the service-level one).
    pub bot_detector: Option<BotDetectorSettings>,
    /// `validation/cel`: check expressions, in file order.
    pub cel: Option<CelSettings>,
    /// `validation/json-schema`: the schema the request body must match.
    pub json_schema: Option<JsonSchemaSettings>,
    /// Send request bodies chunked (KrakenD's framing when the client's
    /// `Content-Length` is not among the forwarded headers); only with
    /// `run --krakend-body-framing`. Default: always `Content-Length`.
    pub chunked_request_body: bool,
    /// `auth/validator`: the JWT checks run before any backend is called.
    pub auth: Option<super::AuthSettings>,
    /// `auth/signer`: response objects replaced by signed tokens.
    pub signer: Option<super::SignerSettings>,
    /// `websocket`: the endpoint relays WebSocket sessions to its backend
    /// (`docs/websockets.md`).
    pub websocket: Option<super::WebSocketSettings>,
    /// `modifier/lua-endpoint` (before the rate limit) and
    /// `modifier/lua-proxy` (around the proxy pipe).
    pub lua_endpoint: Option<super::LuaSettings>,
    pub lua_proxy: Option<super::LuaSettings>,
    /// `proxy.sequential_propagated_params` (`resp0_a.b`, `resp1`):
    /// parameters a sequential backend's Lua sees (`Resp0_a.b`).
    pub propagated_params: Vec<String>,
}

/// `validation/cel` as written: compiled by `prepare::Prepared`, whose
/// errors name `{at}[i].check_expr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CelSettings {
    /// The JSON path of the namespace.
    pub at: String,
    /// The `check_expr` of each check, in file order.
    pub expressions: Vec<String>,
    /// Set where no response is decoded (a `no-op` encoding): the refusal
    /// for an expression that checks the response (`resp_*`), which only
    /// compiling tells.
    pub response_refused: Option<super::Problem>,
}

/// `validation/json-schema`: the schema (the namespace's value), compiled
/// by `prepare::Prepared`, whose errors name `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchemaSettings {
    pub at: String,
    pub schema: serde_json::Value,
}

/// Which request headers or query strings reach the backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    None,
    All,
    /// Header names are stored lower-cased; query names as written.
    Only(Vec<String>),
}

impl Forward {
    /// Whether header `name` (lower-case) is forwarded.
    pub fn includes(&self, name: &str) -> bool {
        match self {
            Forward::None => false,
            Forward::All => true,
            Forward::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Backend {
    /// `url_pattern`, e.g. `/users/{user}?x={y}`.
    pub url_pattern: String,
    /// `host`: base URLs (`http://127.0.0.1:8081`), round-robin. No trailing slash.
    pub hosts: Vec<String>,
    /// `method`, default: the endpoint's.
    pub method: Method,
    pub encoding: BackendEncoding,
    /// What to do with the decoded body, in KrakenD's order.
    pub manipulation: ManipulationSpec,
    /// `extra_config.backend/http.return_error_code`.
    pub return_error_code: bool,
    /// `extra_config.backend/http.return_error_details`: the name under which
    /// a failure is reported as `error_<name>` in the response body.
    pub return_error_details: Option<String>,
    pub circuit_breaker: Option<CircuitBreaker>,
    /// `extra_config.qos/ratelimit/proxy`.
    pub rate_limit: Option<ProxyRateLimit>,
    /// `extra_config.qos/ratelimit/proxy/redis` (cuttle's): counted in Redis.
    pub redis_rate_limit: Option<super::RedisRateLimit>,
    /// `validation/cel`: check expressions, in file order.
    pub cel: Option<CelSettings>,
    /// The backend's own `input_headers` (lower-case), `None` when absent
    /// or empty: of the headers the endpoint lets through and those the
    /// gateway adds, only these reach it (lura `proxy/headers_filter.go`).
    /// Names are matched as written: `"*"` is a name, as in lura.
    pub input_headers: Option<Vec<String>>,
    /// The backend's own `input_query_strings`, `None` when absent or
    /// empty (lura `proxy/query_strings_filter.go`).
    pub input_query_strings: Option<Vec<String>>,
    /// Send request bodies chunked (`--krakend-body-framing`, when the
    /// client's `Content-Length` does not reach this backend).
    pub chunked_request_body: bool,
    /// `extra_config.proxy.shadow`: a shadow backend, with the time its
    /// mirrored request may take (`shadow_timeout`, else the endpoint's).
    /// Its answer is discarded (lura `proxy/shadow.go`).
    pub shadow: Option<Duration>,
    /// `extra_config.backend/http/client.send_body_on_redirect`: follow a
    /// 307/308 with the request body (without it a call with a body stops
    /// at the 307/308, as Go's client does when it cannot replay a body).
    pub send_body_on_redirect: bool,
    /// `extra_config.auth/client-credentials` (unless `is_disabled`).
    pub client_credentials: Option<super::ClientCredentialsSettings>,
    /// `extra_config.modifier/martian`, read into its tree once.
    pub martian: Option<std::sync::Arc<super::martian::Martian>>,
    /// `extra_config.qos/http-cache` (krakend-httpcache).
    pub http_cache: Option<HttpCacheSettings>,
    /// `modifier/lua-backend`.
    pub lua: Option<super::LuaSettings>,
    /// A backend not called over HTTP, from its namespace or host scheme
    /// (`upstream::kind`); `None` is an HTTP backend.
    pub protocol: Option<ProtocolSettings>,
}

/// The settings of a non-HTTP backend kind (`upstream::kind`), one variant
/// per kind.
#[derive(Debug, Clone)]
pub enum ProtocolSettings {
    /// `backend/graphql`.
    Graphql(std::sync::Arc<super::graphql::GraphqlSettings>),
    /// `backend/grpc` (`config::grpc`, `upstream::kind::grpc`).
    Grpc(std::sync::Arc<super::grpc::GrpcSettings>),
    /// `backend/pubsub/publisher` or `backend/pubsub/subscriber` on a
    /// `nats://` host (`config::pubsub`, `upstream::kind::nats`).
    Nats(super::NatsSettings),
    /// `backend/amqp/consumer` or `backend/amqp/producer`.
    Amqp(Box<super::AmqpSettings>),
}

/// Backend `qos/http-cache` (krakend-httpcache `http.go`, `options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HttpCacheSettings {
    /// One store for every backend with `shared: true` (per worker).
    pub shared: bool,
    /// Entries per store; with `max_size`, bounds it (LRU). Either 0 or
    /// absent: unbounded, as in KrakenD.
    pub max_items: u64,
    /// Bytes per store (about the stored responses' sizes).
    pub max_size: u64,
}

impl HttpCacheSettings {
    /// `(max_items, max_size)` when bounded (both set, as krakend-httpcache
    /// `selectCache` requires).
    pub fn bounds(&self) -> Option<(usize, usize)> {
        (self.max_items > 0 && self.max_size > 0).then(|| {
            (
                usize::try_from(self.max_items).unwrap_or(usize::MAX),
                usize::try_from(self.max_size).unwrap_or(usize::MAX),
            )
        })
    }
}

/// The per-backend manipulation settings as written in the config; the
/// pipeline compiles them into its own fast form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManipulationSpec {
    /// `target`: dot path to extract before anything else.
    pub target: Option<String>,
    /// `allow`: dot paths to keep (wins over `deny` when both are set).
    pub allow: Vec<String>,
    /// `deny`: dot paths to drop.
    pub deny: Vec<String>,
    /// `mapping`: top-level renames, `from -> to`, sorted by `from`.
    pub mapping: Vec<(String, String)>,
    /// `group`: wrap the result under this key.
    pub group: Option<String>,
    /// `is_collection`: the backend answers with an array.
    pub is_collection: bool,
    /// `extra_config.proxy.flatmap_filter`.
    pub flatmap: Vec<FlatmapOp>,
    /// `modifier/jmespath` and the content replacer at backend level:
    /// applied after everything above, before the merge.
    pub modifiers: ResponseModifiers,
}

/// The KrakenD Enterprise response modifiers cuttle serves, as written.
/// Applied in this order: content replacements, then the JMESPath expression.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseModifiers {
    /// `plugin/req-resp-modifier` with `name: ["content-replacer"]`.
    pub replacements: Vec<Replacement>,
    /// `modifier/jmespath.expr` (checked to compile).
    pub jmespath: Option<String>,
}

/// One `content-replacer` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// Dotted path of the string field (`data.credit_card`).
    pub path: String,
    pub find: String,
    pub replace: String,
    /// `find` is a regular expression (RE2 syntax) and `replace` may use `${1}`.
    pub regexp: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlatmapOp {
    Move { from: String, to: String },
    Del { path: String },
    Append { from: String, to: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendEncoding {
    Json,
    SafeJson,
    String,
    Xml,
    /// `rss`: RSS/Atom feeds decoded into krakend-rss's document shape.
    Rss,
    NoOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputEncoding {
    Json,
    JsonCollection,
    String,
    Xml,
    Yaml,
    Negotiate,
    NoOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticStrategy {
    Always,
    Success,
    Errored,
    Complete,
    Incomplete,
}

#[derive(Debug, Clone)]
pub struct StaticResponse {
    pub strategy: StaticStrategy,
    /// The `data` object, as compact JSON text (merged into the response).
    pub data: String,
}

#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    pub interval: Duration,
    pub timeout: Duration,
    pub max_errors: u32,
    pub log_status_change: bool,
    /// Names the breaker in its `log_status_change` lines.
    pub name: String,
}

/// A token bucket as KrakenD configures it: `max_rate` tokens every `every`,
/// holding at most `capacity`. Always enabled (a `max_rate` of 0 turns the
/// limit off at build time, so no `RateSpec` is made for it).
#[derive(Debug, Clone, PartialEq)]
pub struct RateSpec {
    /// Requests per `every`; positive, fractions allowed.
    pub max_rate: f64,
    /// The period of `max_rate` (default 1 s).
    pub every: Duration,
    /// Bucket size: the burst accepted at once (default: the rate per
    /// second, rounded down, at least 1, as KrakenD computes it).
    pub capacity: u64,
}

/// Endpoint `qos/ratelimit/router`: at least one of the two is set.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterRateLimit {
    /// `max_rate`/`capacity`: all clients together; beyond it KrakenD answers 503.
    pub endpoint: Option<RateSpec>,
    /// `client_max_rate`/`client_capacity`: each client; beyond it, 429.
    pub client: Option<ClientRateLimit>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientRateLimit {
    pub rate: RateSpec,
    pub strategy: ClientStrategy,
}

/// `strategy` (with `key`): what identifies a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientStrategy {
    /// `ip` (the default): the peer address, or the first address in the
    /// header named by `key` when it holds a valid one.
    Ip { header: Option<String> },
    /// `header`: the value of this header (name stored lower-cased).
    Header(String),
    /// `param`: the value of this endpoint placeholder.
    Param(String),
}

/// Backend `qos/ratelimit/proxy`: calls beyond it fail without reaching the backend.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyRateLimit {
    pub rate: RateSpec,
}

/// The service-level security namespaces (root `extra_config`), checked
/// before built-ins and routing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceSecurity {
    /// `security/cors`.
    pub cors: Option<CorsSettings>,
    /// `security/http`.
    pub http: Option<HttpSecuritySettings>,
    /// `security/bot-detector` at root level: every request.
    pub bot_detector: Option<BotDetectorSettings>,
}

/// `security/cors` with krakend-cors's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct CorsSettings {
    /// `allow_origins` (default `["*"]`): exact origins, `*`, or one `*`
    /// wildcard inside an origin (`https://*.example.com`).
    pub allow_origins: Vec<String>,
    /// `allow_methods` (default GET, POST, HEAD), compared case-sensitively.
    pub allow_methods: Vec<String>,
    /// `allow_headers` (default `["*"]`); `Origin` is always allowed.
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    /// `max_age`, whole seconds; `None` sends no `Access-Control-Max-Age`.
    pub max_age_seconds: Option<u64>,
    pub allow_credentials: bool,
    pub allow_private_network: bool,
    /// Preflights go on to routing (with the CORS headers) instead of
    /// being answered at the edge.
    pub options_passthrough: bool,
    /// Status of an answered preflight (default 204).
    pub options_success_status: u16,
    /// Log each CORS decision at debug level.
    pub debug: bool,
}

/// `security/http` as unrolled/secure applies it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpSecuritySettings {
    /// `allowed_hosts`; empty: any host.
    pub allowed_hosts: Vec<String>,
    /// `allowed_hosts_are_regex`: each entry is a whole-host regular expression.
    pub allowed_hosts_are_regex: bool,
    /// `host_proxy_headers`: headers (lower-cased) holding the host a proxy was asked for.
    pub host_proxy_headers: Vec<String>,
    pub sts_seconds: u64,
    pub sts_include_subdomains: bool,
    /// `force_sts_header`: send HSTS on plain HTTP too.
    pub force_sts_header: bool,
    pub frame_deny: bool,
    pub custom_frame_options_value: Option<String>,
    pub content_type_nosniff: bool,
    pub browser_xss_filter: bool,
    pub content_security_policy: Option<String>,
    pub referrer_policy: Option<String>,
    pub ssl_redirect: bool,
    pub ssl_host: Option<String>,
    /// `ssl_proxy_headers`: (name lower-cased, value) pairs that mark a
    /// request a TLS-terminating proxy received over HTTPS.
    pub ssl_proxy_headers: Vec<(String, String)>,
    /// `is_development`: no host check, no HTTPS redirect, no HSTS.
    pub is_development: bool,
}

/// `security/bot-detector`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotDetectorSettings {
    /// User-Agents (exact) never taken for bots; checked first.
    pub allow: Vec<String>,
    /// User-Agents (exact) always taken for bots.
    pub deny: Vec<String>,
    /// Regular expressions (RE2 syntax, unanchored), checked to compile.
    pub patterns: Vec<String>,
    /// Decisions remembered per worker (least recently used evicted); 0: none.
    pub cache_size: usize,
    pub empty_user_agent_is_bot: bool,
}
