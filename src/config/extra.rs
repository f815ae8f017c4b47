//! `extra_config` namespaces: the few cuttle implements are decoded into
//! model values. Namespaces that would guard an endpoint and are not
//! implemented are recorded as refusals (`unimplemented`); every other
//! namespace, and every key cuttle ignores inside the ones it implements (as
//! `namespace.key`), is recorded so that start-up can warn about them once.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::alias;
use super::auth::{self, JwkRegistry};
use super::auth_extras;
use super::error::{BuildResult, Problem};
use super::keywords;
use super::model::{
    BotDetectorSettings, CelSettings, CircuitBreaker, FlatmapOp, JsonSchemaSettings,
    ProxyRateLimit, Replacement, ResponseModifiers, RouterRateLimit, ServiceSecurity,
    StaticResponse, StaticStrategy,
};
use super::options;
use super::ratelimit;
use super::raw::{
    ExtraConfig, RawBackendHttp, RawCircuitBreaker, RawCuttleServer, RawFlatmapOp, RawHttpClient,
    RawJmespath, RawLogging, RawProxy, RawProxyRateLimit, RawReplacement, RawReqRespModifier,
    RawRouter, RawRouterRateLimit, RawStatic,
};
use super::security;
use super::unimplemented;
use super::validation;
use super::{logging, router_options};

/// What cuttle does not act on, as found while building.
#[derive(Debug, Default)]
pub struct Unknown {
    /// Namespaces and keys cuttle ignores (sorted, deduplicated): warnings.
    pub ignored: BTreeSet<String>,
    /// Settings that would guard an endpoint and are not implemented:
    /// refused unless the operator asks to ignore them.
    pub unimplemented: Vec<Problem>,
    /// Tolerated forms served as KrakenD serves them (`Config::warnings`).
    pub warnings: Vec<Problem>,
    /// Endpoints not served, as KrakenD does not serve them
    /// (`Config::skipped_endpoints`).
    pub skipped: Vec<Problem>,
}

const ROUTER: &str = "router";
const LOGGING: &str = "telemetry/logging";
const CUTTLE_SERVER: &str = "cuttle/server";
const PROXY: &str = "proxy";
const BACKEND_HTTP: &str = "backend/http";
const HTTP_CLIENT: &str = "backend/http/client";
const CIRCUIT_BREAKER: &str = "qos/circuit-breaker";
const HTTP_CACHE: &str = "qos/http-cache";
const ROUTER_RATELIMIT: &str = "qos/ratelimit/router";
const PROXY_RATELIMIT: &str = "qos/ratelimit/proxy";
const JMESPATH: &str = "modifier/jmespath";
const MARTIAN: &str = "modifier/martian";
const REQ_RESP_MODIFIER: &str = "plugin/req-resp-modifier";
const CONTENT_REPLACER: &str = "content-replacer";
const JWT_VALIDATOR: &str = "auth/validator";
const JWT_SIGNER: &str = "auth/signer";
/// The name of KrakenD's schema for the shared JWK cache, which KrakenD
/// reads from the root `auth/validator` instead: accepted, ignored.
const JOSE: &str = "auth/jose";

#[derive(Debug, Default)]
pub struct RootExtra {
    pub return_error_msg: bool,
    /// `router.use_h2c`.
    pub use_h2c: bool,
    pub server: Option<RawCuttleServer>,
    /// `telemetry/opentelemetry`.
    pub telemetry: Option<super::telemetry::Telemetry>,
    pub router: router_options::RouterOptions,
    pub logging: logging::Logging,
    pub security: ServiceSecurity,
    /// Root `auth/validator`: `shared_cache_duration` (`auth::shared_cache`).
    pub shared_jwk_cache: Option<std::time::Duration>,
    /// `auth/revoker`.
    pub revoker: Option<super::RevokerSettings>,
    /// `telemetry/metrics`: the `/__stats` endpoint.
    pub stats: Option<super::stats::StatsSettings>,
    /// `grpc`: the service catalog (`config::grpc`).
    pub grpc: Option<std::sync::Arc<super::grpc::Catalog>>,
    /// `redis`: the named Redis connections (`config::redis`).
    pub redis: super::RedisConnections,
}

#[derive(Debug, Default)]
pub struct EndpointExtra {
    pub sequential: bool,
    pub static_response: Option<StaticResponse>,
    pub flatmap: Vec<FlatmapOp>,
    pub rate_limit: Option<RouterRateLimit>,
    /// `qos/ratelimit/router/redis` as written, with its path: read by
    /// `build` (it names a root `redis` connection).
    pub redis_rate_limit: Option<(String, Value)>,
    pub modifiers: ResponseModifiers,
    pub bot_detector: Option<BotDetectorSettings>,
    /// `validation/cel` check expressions.
    pub cel: Option<CelSettings>,
    /// `validation/json-schema`: the schema.
    pub json_schema: Option<JsonSchemaSettings>,
    /// `auth/validator`.
    pub auth: Option<auth::AuthSettings>,
    /// `auth/signer`.
    pub signer: Option<auth::SignerSettings>,
    /// `websocket` (KrakenD Enterprise), direct communication only.
    pub websocket: Option<super::websocket::WebSocketSettings>,
    /// `modifier/lua-endpoint` and `modifier/lua-proxy`.
    pub lua_endpoint: Option<super::LuaSettings>,
    pub lua_proxy: Option<super::LuaSettings>,
    /// `proxy.sequential_propagated_params`.
    pub propagated_params: Vec<String>,
}

#[derive(Debug, Default)]
pub struct BackendExtra {
    pub flatmap: Vec<FlatmapOp>,
    pub return_error_code: bool,
    pub return_error_details: Option<String>,
    pub circuit_breaker: Option<CircuitBreaker>,
    pub rate_limit: Option<ProxyRateLimit>,
    /// `qos/ratelimit/proxy/redis` as written, with its path (see
    /// `EndpointExtra::redis_rate_limit`).
    pub redis_rate_limit: Option<(String, Value)>,
    pub modifiers: ResponseModifiers,
    /// `validation/cel` check expressions.
    pub cel: Option<CelSettings>,
    /// `proxy.shadow`: `Some(shadow_timeout)` for a shadow backend.
    pub shadow: Option<Option<std::time::Duration>>,
    /// `backend/http/client.send_body_on_redirect`.
    pub send_body_on_redirect: bool,
    /// `auth/client-credentials` (unless `is_disabled`).
    pub client_credentials: Option<super::ClientCredentialsSettings>,
    /// `modifier/martian`.
    pub martian: Option<super::martian::Martian>,
    /// `qos/http-cache`.
    pub http_cache: Option<super::HttpCacheSettings>,
    /// `modifier/lua-backend`.
    pub lua: Option<super::LuaSettings>,
    /// `backend/graphql`, with its JSON path.
    pub graphql: Option<(String, super::GraphqlSettings)>,
    /// `backend/grpc`, read by `build_backend` (it needs the url_pattern
    /// and the root catalog).
    pub grpc: Option<Value>,
    /// `backend/pubsub/publisher` or `backend/pubsub/subscriber`.
    pub pubsub: Option<super::pubsub::PubSub>,
    /// `backend/amqp/consumer` or `backend/amqp/producer`: the namespace,
    /// its value and its JSON path, read with the backend's hosts
    /// (`build_backend`, `amqp::settings`).
    pub amqp: Option<(&'static str, Value, String)>,
}

pub fn root(extra: Option<&ExtraConfig>, unknown: &mut Unknown) -> BuildResult<RootExtra> {
    let mut result = RootExtra::default();
    for alias::Entry {
        namespace,
        written,
        value,
    } in resolve_aliases(extra, "extra_config", unknown)
    {
        let at = namespace_path("extra_config", written);
        match namespace {
            security::CORS => result.security.cors = Some(security::cors(value, &at, unknown)?),
            security::HTTP => result.security.http = Some(security::http(value, &at, unknown)?),
            security::BOT_DETECTOR => {
                result.security.bot_detector = Some(security::bot_detector(value, &at, unknown)?);
            }
            ROUTER => {
                note_ignored_keys(ROUTER, value, unknown);
                result.use_h2c =
                    value.get("use_h2c").and_then(serde_json::Value::as_bool) == Some(true);
                let router: RawRouter = decode(value, &at)?;
                result.return_error_msg = router.return_error_msg.unwrap_or(false);
                result.router = router_options::build(&router, &at, &mut unknown.warnings)?;
            }
            LOGGING => {
                note_ignored_keys(LOGGING, value, unknown);
                let raw: RawLogging = decode(value, &at)?;
                result.logging = logging::build(raw, &at)?;
            }
            CUTTLE_SERVER => result.server = Some(decode(&without_comments(value), &at)?),
            super::telemetry::NAMESPACE => {
                result.telemetry = Some(super::telemetry::build(
                    value,
                    &at,
                    decode,
                    &mut unknown.ignored,
                )?);
            }
            super::stats::NAMESPACE => {
                note_ignored_keys(super::stats::NAMESPACE, value, unknown);
                result.stats = Some(super::stats::build(value, &at, &mut unknown.warnings)?);
            }
            // Reported as ignored by options.rs.
            JOSE => {}
            JWT_VALIDATOR => {
                result.shared_jwk_cache =
                    Some(auth::shared_cache(value, &at, &mut unknown.warnings)?);
            }
            auth_extras::REVOKER => {
                note_ignored_keys(auth_extras::REVOKER, value, unknown);
                result.revoker = Some(auth_extras::revoker(value, &at, &mut unknown.warnings)?);
            }
            MARTIAN => unknown.unimplemented.push(martian_not_here(at)),
            super::grpc::ROOT => result.grpc = Some(super::grpc::root(value, &at)?),
            super::redis::NAMESPACE => {
                note_ignored_keys(super::redis::NAMESPACE, value, unknown);
                result.redis = super::redis::build(value, &at)?;
            }
            _ => note_unknown(namespace, at, unknown),
        }
    }
    Ok(result)
}

/// `at` is the endpoint's path, e.g. `endpoints[2]`.
pub fn endpoint(
    extra: Option<&ExtraConfig>,
    at: &str,
    unknown: &mut Unknown,
    jwk: &mut JwkRegistry,
) -> BuildResult<EndpointExtra> {
    let mut result = EndpointExtra::default();
    let parent = format!("{at}.extra_config");
    for alias::Entry {
        namespace,
        written,
        value,
    } in resolve_aliases(extra, &parent, unknown)
    {
        let at = namespace_path(&parent, written);
        if response_modifier(namespace, value, &at, unknown, &mut result.modifiers)? {
            continue;
        }
        if namespace == validation::CEL {
            result.cel = Some(validation::cel(value, &at)?);
            continue;
        }
        if namespace == validation::JSON_SCHEMA {
            result.json_schema = Some(validation::json_schema(value, &at));
            continue;
        }
        match namespace {
            security::BOT_DETECTOR => {
                result.bot_detector = Some(security::bot_detector(value, &at, unknown)?);
                continue;
            }
            service @ (security::CORS | security::HTTP | auth_extras::REVOKER) => {
                return Err(service_only(service, &at));
            }
            _ => {}
        }
        if namespace == JWT_VALIDATOR {
            result.auth = Some(auth::validator(value, &at, jwk, unknown)?);
            continue;
        }
        if namespace == JWT_SIGNER {
            result.signer = Some(auth::signer(value, &at, &mut unknown.ignored)?);
            continue;
        }
        if namespace == super::lua::ENDPOINT {
            result.lua_endpoint = Some(super::lua::settings(value, &at, &mut unknown.warnings)?);
            continue;
        }
        if namespace == super::lua::PROXY {
            result.lua_proxy = Some(super::lua::settings(value, &at, &mut unknown.warnings)?);
            continue;
        }
        if namespace == super::websocket::NAMESPACE {
            result.websocket = Some(super::websocket::settings(value, &at, unknown)?);
            continue;
        }
        if namespace == ROUTER_RATELIMIT {
            // `num_shards`, `cleanup_period` and `cleanup_threads` tune
            // KrakenD's shared store; cuttle's per-worker maps have no use for them.
            note_ignored_keys(ROUTER_RATELIMIT, value, unknown);
            let raw: RawRouterRateLimit = decode(value, &at)?;
            result.rate_limit = ratelimit::router(raw, &at, &mut unknown.warnings)?;
            continue;
        }
        if namespace == super::ratelimit_redis::ROUTER {
            note_ignored_keys(namespace, value, unknown);
            result.redis_rate_limit = Some((at, value.clone()));
            continue;
        }
        if namespace == MARTIAN {
            unknown.unimplemented.push(martian_not_here(at));
            continue;
        }
        if namespace != PROXY {
            note_unknown(namespace, at, unknown);
            continue;
        }
        note_ignored_keys(PROXY, value, unknown);
        let proxy: RawProxy = decode(value, &at)?;
        result.sequential = proxy.sequential.unwrap_or(false);
        // lura reads it from the raw map (`sequentialMergerConfig`).
        result.propagated_params = value
            .get("sequential_propagated_params")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        if let Some(raw) = proxy.static_response {
            result.static_response = static_response(raw, &format!("{at}.static"), unknown);
        }
        result.flatmap = flatmap(proxy.flatmap_filter, &at, unknown)?;
    }
    Ok(result)
}

/// `proxy.static`, as lura's `getStaticMiddlewareCfg` (`proxy/static.go`)
/// reads it: without `data` (or with a `data` that is not an object) the
/// block is ignored; a missing or unknown `strategy` is `always` (its
/// switch keeps the `always` matcher). Both are warned about.
fn static_response(raw: RawStatic, at: &str, unknown: &mut Unknown) -> Option<StaticResponse> {
    let data = match raw.data {
        Some(data @ Value::Object(_)) => data.to_string(),
        _ => {
            unknown.warnings.push(Problem::new(
                format!("{at}.data"),
                "no JSON object to merge into the response: the static block is ignored (as in KrakenD); write e.g. \"data\": {\"status\": \"ok\"}",
            ));
            return None;
        }
    };
    let strategy = match raw.strategy.as_deref() {
        None => StaticStrategy::Always,
        Some(text) => keywords::static_strategy(text).unwrap_or_else(|message| {
            unknown.warnings.push(Problem::new(
                format!("{at}.strategy"),
                format!("{message}; served as \"always\" (as in KrakenD)"),
            ));
            StaticStrategy::Always
        }),
    };
    Some(StaticResponse { strategy, data })
}

/// `at` is the backend's path, e.g. `endpoints[2].backend[0]`.
pub fn backend(
    extra: Option<&ExtraConfig>,
    at: &str,
    unknown: &mut Unknown,
) -> BuildResult<BackendExtra> {
    let mut result = BackendExtra::default();
    let parent = format!("{at}.extra_config");
    for alias::Entry {
        namespace,
        written,
        value,
    } in resolve_aliases(extra, &parent, unknown)
    {
        let at = namespace_path(&parent, written);
        if response_modifier(namespace, value, &at, unknown, &mut result.modifiers)? {
            continue;
        }
        match namespace {
            service @ (security::CORS | security::HTTP | auth_extras::REVOKER) => {
                return Err(service_only(service, &at));
            }
            security::BOT_DETECTOR => {
                // KrakenD checks the client's User-Agent for the service or
                // an endpoint; a backend sees only the gateway's.
                return Err(Problem::new(
                    &at,
                    "\"security/bot-detector\" checks the client's User-Agent and has no effect on a backend; move it to the endpoint's or the root \"extra_config\"",
                ));
            }
            _ => {}
        }
        match namespace {
            PROXY => {
                let proxy: RawProxy = decode(value, &at)?;
                // lura's shadowFactory reads `shadow_timeout` only on a
                // backend whose `shadow` is true.
                let shadow = proxy.shadow == Some(true);
                note_ignored_keys(PROXY, value, unknown);
                if !shadow && value.get("shadow_timeout").is_some() {
                    unknown.warnings.push(Problem::new(
                        format!("{at}.shadow_timeout"),
                        "ignored: lura reads it only on a backend whose \"shadow\" is true",
                    ));
                }
                result.flatmap = flatmap(proxy.flatmap_filter, &at, unknown)?;
                if shadow {
                    result.shadow = Some(shadow_timeout(proxy.shadow_timeout, &at)?);
                }
            }
            BACKEND_HTTP => {
                note_ignored_keys(BACKEND_HTTP, value, unknown);
                let http: RawBackendHttp = decode(value, &at)?;
                result.return_error_code = http.return_error_code.unwrap_or(false);
                result.return_error_details = http.return_error_details;
            }
            HTTP_CLIENT => {
                // Its Enterprise keys are refused by options.rs.
                note_ignored_keys(HTTP_CLIENT, value, unknown);
                let client: RawHttpClient = decode(value, &at)?;
                result.send_body_on_redirect = client.send_body_on_redirect.unwrap_or(false);
            }
            CIRCUIT_BREAKER => {
                // `name` only labels the breaker's log lines.
                note_ignored_keys(CIRCUIT_BREAKER, value, unknown);
                let raw: RawCircuitBreaker = decode(value, &at)?;
                result.circuit_breaker = Some(circuit_breaker(raw, &at)?);
            }
            validation::CEL => {
                result.cel = Some(validation::cel(value, &at)?);
            }
            auth_extras::CLIENT_CREDENTIALS => {
                note_ignored_keys(auth_extras::CLIENT_CREDENTIALS, value, unknown);
                result.client_credentials = auth_extras::client_credentials(value, &at)?;
            }
            HTTP_CACHE => {
                // krakend-httpcache falls back to an unbounded store when
                // the settings do not decode; cuttle refuses them instead.
                note_ignored_keys(HTTP_CACHE, value, unknown);
                let raw: super::raw::RawHttpCache = decode(value, &at)?;
                result.http_cache = Some(super::HttpCacheSettings {
                    shared: raw.shared.unwrap_or(false),
                    max_items: raw.max_items.unwrap_or(0),
                    max_size: raw.max_size.unwrap_or(0),
                });
            }
            super::grpc::BACKEND => result.grpc = Some(value.clone()),
            super::lua::BACKEND => {
                result.lua = Some(super::lua::settings(value, &at, &mut unknown.warnings)?);
            }
            super::graphql::NAMESPACE => {
                note_ignored_keys(super::graphql::NAMESPACE, value, unknown);
                let settings = super::graphql::settings(value, &at, &mut unknown.warnings)?;
                result.graphql = Some((at, settings));
            }
            PROXY_RATELIMIT => {
                note_ignored_keys(PROXY_RATELIMIT, value, unknown);
                let raw: RawProxyRateLimit = decode(value, &at)?;
                result.rate_limit = ratelimit::proxy(raw, &at)?;
            }
            super::ratelimit_redis::PROXY => {
                note_ignored_keys(namespace, value, unknown);
                result.redis_rate_limit = Some((at, value.clone()));
            }
            MARTIAN => {
                let mut notes = super::martian::Notes::default();
                result.martian = Some(super::martian::parse(value, &at, &mut notes)?);
                unknown.ignored.extend(notes.ignored);
                unknown.unimplemented.extend(notes.unimplemented);
            }
            super::pubsub::PUBLISHER | super::pubsub::SUBSCRIBER => {
                note_ignored_keys(namespace, value, unknown);
                let found =
                    super::pubsub::read(value, namespace == super::pubsub::SUBSCRIBER, &at)?;
                // krakend-pubsub tries the subscriber first (`New`): with
                // both, the publisher is never used.
                let (kept, dropped) = match result.pubsub.take() {
                    Some(earlier) if earlier.subscribe => (earlier, Some(found)),
                    Some(earlier) => (found, Some(earlier)),
                    None => (found, None),
                };
                if let Some(dropped) = dropped {
                    unknown.warnings.push(Problem::new(
                        dropped.at,
                        "ignored: this backend also has backend/pubsub/subscriber, which KrakenD uses instead",
                    ));
                }
                result.pubsub = Some(kept);
            }
            super::amqp::CONSUMER | super::amqp::PRODUCER => {
                let kind = if namespace == super::amqp::CONSUMER {
                    super::amqp::CONSUMER
                } else {
                    super::amqp::PRODUCER
                };
                note_ignored_keys(kind, value, unknown);
                amqp_namespace(kind, value, at, &mut result.amqp, unknown);
            }
            _ => note_unknown(namespace, at, unknown),
        }
    }
    Ok(result)
}

/// krakend-amqp's factory tries the consumer first: with both namespaces
/// the producer is never built (`client.go`, `backendFactory.New`).
fn amqp_namespace(
    kind: &'static str,
    value: &Value,
    at: String,
    found: &mut Option<(&'static str, Value, String)>,
    unknown: &mut Unknown,
) {
    let (kept, dropped) = match found.take() {
        None => {
            *found = Some((kind, value.clone(), at));
            return;
        }
        Some(earlier) if earlier.0 == super::amqp::CONSUMER => (earlier, at),
        Some(earlier) => ((kind, value.clone(), at), earlier.2),
    };
    unknown.warnings.push(Problem::new(
        dropped,
        "ignored: with both AMQP namespaces on one backend, KrakenD builds the consumer only",
    ));
    *found = Some(kept);
}

/// `modifier/jmespath` and the content-replacer form of
/// `plugin/req-resp-modifier` (KrakenD Enterprise), the same at endpoint and
/// backend level. Returns false for any other namespace. A
/// `plugin/req-resp-modifier` that names another plugin than
/// `content-replacer` is left to `note_unknown` (refused: cuttle cannot
/// run Go plugins).
fn response_modifier(
    namespace: &str,
    value: &Value,
    at: &str,
    unknown: &mut Unknown,
    modifiers: &mut ResponseModifiers,
) -> BuildResult<bool> {
    match namespace {
        JMESPATH => {
            note_ignored_keys(JMESPATH, value, unknown);
            let raw: RawJmespath = decode(value, at)?;
            let expr = raw.expr.filter(|e| !e.trim().is_empty()).ok_or_else(|| {
                Problem::new(
                    format!("{at}.expr"),
                    "missing; write the JMESPath expression to apply, e.g. \"expr\": \"students[?age > `18`].name\"",
                )
            })?;
            if let Err(error) = jmespath::compile(&expr) {
                return Err(Problem::new(
                    format!("{at}.expr"),
                    format!(
                        "not a valid JMESPath expression: {} at character {} (\"{}\" <- here); see https://jmespath.org/specification.html",
                        error.reason,
                        error.offset,
                        expr.get(..error.offset).unwrap_or(&expr)
                    ),
                ));
            }
            modifiers.jmespath = Some(expr);
            Ok(true)
        }
        REQ_RESP_MODIFIER => {
            let raw: RawReqRespModifier = decode(value, at)?;
            let names = raw.name.unwrap_or_default();
            if names.is_empty() || names.iter().any(|name| name != CONTENT_REPLACER) {
                // Another plugin: not implemented, and it may guard the endpoint.
                note_unknown(namespace, at.to_owned(), unknown);
                return Ok(true);
            }
            note_ignored_keys(REQ_RESP_MODIFIER, value, unknown);
            let at = format!("{at}.{CONTENT_REPLACER}");
            let entries = raw.content_replacer.ok_or_else(|| {
                Problem::new(
                    &at,
                    "missing; \"name\": [\"content-replacer\"] needs a \"content-replacer\" object, e.g. {\"message\": {\"find\": \" items left\", \"replace\": \"\"}}",
                )
            })?;
            for (path, entry) in entries.iter().filter(|(key, _)| !is_comment(key)) {
                let at = format!("{at}.{path}");
                modifiers.replacements.push(replacement(path, entry, &at)?);
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn replacement(path: &str, entry: &Value, at: &str) -> BuildResult<Replacement> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(Problem::new(
            at,
            "not a field path; write the field's name, with '.' between nested objects, e.g. \"data.credit_card\"",
        ));
    }
    let raw: RawReplacement = decode(entry, at)?;
    let required = |key: &str| {
        Problem::new(
            format!("{at}.{key}"),
            format!(
                "missing; each content replacement needs \"find\" and \"replace\" strings (\"{key}\" may be empty)"
            ),
        )
    };
    let find = raw.find.ok_or_else(|| required("find"))?;
    let replace = raw.replace.ok_or_else(|| required("replace"))?;
    let regexp = raw.regexp.unwrap_or(false);
    if regexp {
        regex::Regex::new(&find).map_err(|error| {
            Problem::new(
                format!("{at}.find"),
                format!("not a valid regular expression (RE2 syntax, as in Go): {error}"),
            )
        })?;
    } else if find.is_empty() {
        return Err(Problem::new(
            format!("{at}.find"),
            "empty; an empty literal matches between every character; write the text to replace",
        ));
    }
    Ok(Replacement {
        path: path.to_owned(),
        find,
        replace,
        regexp,
    })
}

fn circuit_breaker(raw: RawCircuitBreaker, at: &str) -> BuildResult<CircuitBreaker> {
    let required = |key: &str, example: &str| {
        Problem::new(
            format!("{at}.{key}"),
            format!("missing; the circuit breaker needs \"{key}\", e.g. \"{key}\": {example}"),
        )
    };
    let interval = raw.interval.ok_or_else(|| required("interval", "60"))?;
    let timeout = raw.timeout.ok_or_else(|| required("timeout", "10"))?;
    let max_errors = raw.max_errors.ok_or_else(|| required("max_errors", "5"))?;
    Ok(CircuitBreaker {
        interval: std::time::Duration::from_secs(interval.0),
        timeout: std::time::Duration::from_secs(timeout.0),
        max_errors,
        log_status_change: raw.log_status_change.unwrap_or(false),
        name: raw.name.unwrap_or_default(),
    })
}

/// A shadow backend's own `shadow_timeout`; `None`: the endpoint's timeout
/// (lura `isShadowBackend` falls back to the backend's timeout, which is the
/// endpoint's). lura ignores an unparsable value; cuttle refuses it, and a
/// zero, which would cancel every shadow request before it is sent.
fn shadow_timeout(
    raw: Option<super::raw::GoDuration>,
    at: &str,
) -> BuildResult<Option<std::time::Duration>> {
    match raw {
        None => Ok(None),
        Some(super::raw::GoDuration(d)) if d.is_zero() => Err(Problem::new(
            format!("{at}.shadow_timeout"),
            "0 would cancel every shadow request before it is sent; write a duration such as \"2s\", or remove it to use the endpoint's timeout",
        )),
        Some(super::raw::GoDuration(d)) => Ok(Some(d)),
    }
}

/// `flatmap_filter`: `at` is the `proxy` namespace's path. As lura's
/// `newFlatmapFormatter`/`processOps` (`proxy/formatter.go`): `del`
/// deletes each of its `args` in turn, `move` and `append` use the first
/// two and ignore the rest, and an operation of another `type` does
/// nothing (each of these tolerances is warned about). `move`/`append`
/// with fewer than two paths would panic on every request in lura, so
/// they are refused.
fn flatmap(
    ops: Option<Vec<RawFlatmapOp>>,
    at: &str,
    unknown: &mut Unknown,
) -> BuildResult<Vec<FlatmapOp>> {
    let mut result = Vec::new();
    for (index, op) in ops.into_iter().flatten().enumerate() {
        let at = format!("{at}.flatmap_filter[{index}]");
        let kind = op.kind.unwrap_or_default();
        let args = op.args.unwrap_or_default();
        match kind.as_str() {
            "del" => {
                if args.is_empty() {
                    unknown.warnings.push(Problem::new(
                        format!("{at}.args"),
                        "\"del\" without paths deletes nothing (as in KrakenD); list the fields to delete, e.g. \"args\": [\"a.b\", \"c\"]",
                    ));
                }
                result.extend(args.into_iter().map(|path| FlatmapOp::Del { path }));
            }
            "move" | "append" => {
                let mut args = args.into_iter();
                let (Some(from), Some(to)) = (args.next(), args.next()) else {
                    return Err(Problem::new(
                        format!("{at}.args"),
                        format!(
                            "\"{kind}\" takes 2 paths (from, to); e.g. \"args\": [\"from.path\", \"to.path\"]"
                        ),
                    ));
                };
                let extra = args.len();
                if extra > 0 {
                    unknown.warnings.push(Problem::new(
                        format!("{at}.args"),
                        format!(
                            "\"{kind}\" uses its first 2 paths; the other {extra} are ignored (as in KrakenD)"
                        ),
                    ));
                }
                result.push(if kind == "move" {
                    FlatmapOp::Move { from, to }
                } else {
                    FlatmapOp::Append { from, to }
                });
            }
            _ => unknown.warnings.push(Problem::new(
                format!("{at}.type"),
                format!(
                    "\"{kind}\" is not a flatmap operation; it does nothing (as in KrakenD). The operations are \"move\", \"del\", \"append\""
                ),
            )),
        }
    }
    Ok(result)
}

/// `modifier/martian` outside a backend: krakend-ce wires krakend-martian
/// into the backend factory only (`backend_factory.go`), so KrakenD CE
/// serves the endpoint without it; cuttle refuses it like any modifier it
/// would not apply.
fn martian_not_here(at: String) -> Problem {
    Problem::new(
        at,
        "\"modifier/martian\" is applied by KrakenD CE to backends only and would have no effect here; move it to the backend's \"extra_config\"",
    )
}

/// `security/cors` and `security/http` act on every request before routing,
/// and `auth/revoker` is one filter for the process: KrakenD reads them
/// only from the root `extra_config`.
fn service_only(namespace: &str, at: &str) -> Problem {
    Problem::new(
        at,
        format!(
            "\"{namespace}\" is a service setting and has no effect here; move it to the root \"extra_config\""
        ),
    )
}

/// Decodes a namespace's settings, reporting type errors with their path.
pub(super) fn decode<T: DeserializeOwned>(value: &Value, at: &str) -> BuildResult<T> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let inner_path = error.path().to_string();
        let at = if inner_path == "." {
            at.to_owned()
        } else {
            format!("{at}.{inner_path}")
        };
        Problem::new(at, error.into_inner().to_string())
    })
}

/// Records a namespace cuttle does not implement, found at `at`: a refusal
/// when it would guard the endpoint, else a warning.
/// The entries of one `extra_config` under the names KrakenD reads them as
/// (`alias`): old names KrakenD CE no longer reads are recorded as refused,
/// old names overridden by their current name as ignored.
fn resolve_aliases<'a>(
    extra: Option<&'a ExtraConfig>,
    parent: &str,
    unknown: &mut Unknown,
) -> Vec<alias::Entry<'a>> {
    let resolved = alias::entries(extra, parent);
    unknown.ignored.extend(resolved.superseded);
    unknown.unimplemented.extend(resolved.unread);
    resolved.entries
}

fn note_unknown(namespace: &str, at: String, unknown: &mut Unknown) {
    if is_comment(namespace) {
        return;
    }
    if unimplemented::is_guarding(namespace) {
        unknown
            .unimplemented
            .push(unimplemented::namespace(at, namespace));
    } else if options::is_ignored_namespace(namespace) {
        // options.rs reports it, with its path and why.
    } else {
        unknown.ignored.insert(namespace.to_owned());
    }
}

/// KrakenD configs annotate any object with `"@comment"` (or any key that
/// starts with `@`); such keys are documentation, not settings to warn about.
fn is_comment(key: &str) -> bool {
    key.starts_with('@')
}

/// `cuttle/server` refuses unknown keys (a typo there is an error), but
/// comments are welcome.
fn without_comments(value: &Value) -> Value {
    match value {
        Value::Object(settings) => Value::Object(
            settings
                .iter()
                .filter(|(key, _)| !is_comment(key))
                .map(|(key, v)| (key.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Records the keys of a namespace cuttle reads that no row of the list
/// of options names (`options.rs`, which reports the ignored and refused
/// ones itself): unknown keys, warned about by name.
pub(super) fn note_ignored_keys(namespace: &str, value: &Value, unknown: &mut Unknown) {
    if let Value::Object(settings) = value {
        for key in settings.keys() {
            if !is_comment(key) && !options::has_row(namespace, key) {
                unknown.ignored.insert(format!("{namespace}.{key}"));
            }
        }
    }
}

fn namespace_path(parent: &str, namespace: &str) -> String {
    format!("{parent}.{namespace}")
}
