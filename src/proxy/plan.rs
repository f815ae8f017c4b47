//! Endpoints compiled for one worker: templates parsed, manipulations
//! compiled, pools looked up, constant header values formatted once.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::auth::signer::JwtSigner;
use crate::auth::validator::JwtCheck;
use crate::config::{Backend, BackendEncoding, Endpoint, Forward, OutputEncoding, StaticStrategy};
use crate::http::Method;
use crate::pipeline::{Flatmap, Manipulation, Modifiers, UrlTemplate, Value, parse_owned};
use crate::prepare::PreparedEndpoint;
use crate::qos::{BackendGuard, Call, DEFAULT_MAX_CLIENTS, EndpointLimiter, SharedLimiter};
use crate::security::BotDetector;
use crate::upstream::cache::{HttpCache, SharedCaches};
use crate::upstream::{BackendError, Pool, Pools, authority_of};
use crate::validation::BodySchema;
use crate::validation::cel::{Checks, Side};
use std::sync::Arc;

pub struct EndpointPlan {
    pub path: String,
    /// `[ENDPOINT: /users/:id]`: how lura's endpoint handler starts the
    /// line it logs for each failed backend (`router/gin/endpoint.go`,
    /// the route in gin's form).
    pub log_prefix: String,
    pub method: Method,
    pub timeout: std::time::Duration,
    /// `Cache-Control` value for complete responses.
    pub cache_control: Option<Box<[u8]>>,
    pub input_headers: Forward,
    pub input_query_strings: Forward,
    pub output: OutputEncoding,
    /// Backends are asked for gzip (`Accept-Encoding: gzip`) on the calls
    /// whose bodies the gateway decodes: unless `disable_compression`.
    pub ask_gzip: bool,
    /// The backends whose answers make the response (lura's shadow factory
    /// hands the proxy only these).
    pub backends: Vec<BackendPlan>,
    /// `proxy.shadow` backends: sent a copy of the request, answers discarded.
    pub shadows: Vec<Rc<BackendPlan>>,
    /// The bound of one request's shadow calls (see [`shadow_bound`]).
    pub shadow_timeout: std::time::Duration,
    pub sequential: bool,
    pub concurrent_calls: u32,
    pub static_response: Option<(StaticStrategy, Value<'static>)>,
    pub flatmap: Flatmap,
    /// Content replacer and `modifier/jmespath` on the merged response.
    pub modifiers: Modifiers,
    /// Placeholder names of the endpoint path, in order.
    pub param_names: Vec<Box<str>>,
    /// Indices of the parameters some backend puts into a path segment
    /// (each must decode to exactly one segment).
    pub segment_params: Vec<usize>,
    /// A wildcard endpoint (`/v1/*`): the last route parameter is the rest
    /// of the path, appended to every backend's path.
    pub wildcard: bool,
    /// Checks run in order before any backend is called (KrakenD's order:
    /// `compile_steps`).
    pub before: Vec<Step>,
    /// Steps run on the merged document before it is encoded.
    pub after: Vec<ResponseStep>,
    /// Client header names (lower-case) never forwarded because a step
    /// sets them (`propagate_claims`).
    pub replaced_headers: Vec<Box<[u8]>>,
    /// `websocket`: requests are upgrade handshakes, relayed as sessions
    /// (`proxy::websocket`).
    pub websocket: Option<Rc<crate::config::WebSocketSettings>>,
    /// `modifier/lua-proxy` (its `pre` is also a `Step::Lua`; its `post`
    /// runs on the merged document: `proxy::lua::post`).
    pub lua_proxy: Option<Rc<crate::lua::Script>>,
    /// `proxy.sequential_propagated_params`: (backend index, field path,
    /// `None` for the whole response), as lura's `[Rr]esp(\d+)_?(...)?` reads them.
    pub propagated_params: Vec<(usize, Option<String>)>,
}

pub struct BackendPlan {
    /// Its index among the endpoint's configured backends (shadows
    /// included), as the metrics are laid out.
    pub index: usize,
    pub url: UrlTemplate,
    pub method: Method,
    pub encoding: BackendEncoding,
    pub is_collection: bool,
    pub manipulation: Manipulation,
    pub return_error_code: bool,
    pub return_error_details: Option<String>,
    /// `[GET /users/{{.Id}}]:`, lura's prefix of a status error's text
    /// (`transport/http/client/status.go`, `GetHTTPStatusHandler`: the
    /// method and the url_pattern as lura rewrites it).
    pub status_prefix: String,
    pub pools: Vec<Rc<Pool>>,
    /// The `host` entries as written, parallel to `pools` (for error texts).
    pub base_urls: Vec<String>,
    next_host: Cell<usize>,
    /// `qos/circuit-breaker` and `qos/ratelimit/proxy`, when configured.
    pub guard: Option<BackendGuard>,
    /// `qos/ratelimit/proxy/redis` (cuttle's): asked after `guard`.
    pub shared_limit: Option<SharedLimiter>,
    /// `validation/cel` at backend level.
    pub cel: Option<Arc<Checks>>,
    /// The backend's own `input_headers` (lower-case) and
    /// `input_query_strings`: `None` sends what the endpoint lets through.
    pub input_headers: Option<Vec<String>>,
    pub input_query_strings: Option<Vec<String>>,
    /// Request bodies go chunked (`--krakend-body-framing`).
    pub chunked_request_body: bool,
    /// `backend/http/client.send_body_on_redirect`.
    pub send_body_on_redirect: bool,
    /// `auth/client-credentials`: the process's token source.
    pub client_credentials: Option<Arc<crate::auth::client_credentials::TokenSource>>,
    /// `modifier/martian`, this worker's copy.
    pub martian: Option<crate::modifier::martian::Modifiers>,
    /// `qos/http-cache`: this worker's store for the backend.
    pub http_cache: Option<Rc<HttpCache>>,
    /// `modifier/lua-backend` (`proxy::lua::call`).
    pub lua: Option<Rc<crate::lua::Script>>,
    /// A non-HTTP backend kind's handle for this worker (`upstream::kind`);
    /// `None` calls over HTTP.
    pub protocol: Option<Rc<dyn crate::upstream::kind::Protocol>>,
}

impl EndpointPlan {
    /// Whether a step sets header `name` (any case) for the backends, so
    /// the client's header of that name is neither forwarded nor read.
    pub fn replaces_header(&self, name: impl AsRef<[u8]>) -> bool {
        let name = name.as_ref();
        self.replaced_headers
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
    }
}

impl BackendPlan {
    /// Asks the circuit breaker and the backend rate limit (when configured)
    /// before any I/O; `Err` is the failure to report instead of calling.
    pub fn admit(&self) -> Result<Option<Call<'_>>, BackendError> {
        match &self.guard {
            None => Ok(None),
            Some(guard) => guard
                .admit(Instant::now())
                .map(Some)
                .map_err(|refused| BackendError::Refused(refused.message())),
        }
    }

    /// `admit`, then the Redis-backed limit (when configured): the
    /// breaker wraps both limiters, so a call refused by either counts as
    /// the breaker's failure, as in KrakenD. The Redis decision is boxed:
    /// the call futures of backends without one stay their size.
    pub async fn admit_shared(&self) -> Result<Option<Call<'_>>, BackendError> {
        let admitted = self.admit()?;
        if let Some(limiter) = &self.shared_limit
            && Box::pin(limiter.check(None)).await.is_err()
        {
            BackendPlan::record(admitted, false);
            return Err(BackendError::Refused(
                crate::qos::Refused::RateLimited.message(),
            ));
        }
        Ok(admitted)
    }

    /// Tells the breaker how an admitted call went.
    pub fn record(admitted: Option<Call<'_>>, good: bool) {
        if let Some(call) = admitted {
            if good {
                call.success(Instant::now());
            } else {
                call.failure(Instant::now());
            }
        }
    }

    /// Round-robin over the backend's hosts; returns the index.
    pub fn pick_host(&self) -> usize {
        let i = self.next_host.get();
        // `base_urls`, not `pools`: a non-HTTP kind's hosts have no pool.
        self.next_host.set((i + 1) % self.base_urls.len().max(1));
        i % self.base_urls.len().max(1)
    }
}

/// Why an endpoint could not be compiled (the config validation should
/// have caught it; this is the last line of defence, reported at start-up).
#[derive(Debug)]
pub struct PlanError(pub String);

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a worker tells the compiler about itself.
pub struct WorkerShare {
    /// How many workers share endpoint- and backend-wide rates.
    pub workers: usize,
    /// The worker's start, the epoch of its limiters' clocks.
    pub epoch: Instant,
    /// `router.return_error_msg`: refusals of the validation steps carry
    /// their text.
    pub return_error_msg: bool,
    /// Root `disable_compression`.
    pub disable_compression: bool,
    /// The worker's `qos/http-cache` stores of `shared: true` backends.
    pub http_caches: SharedCaches,
    /// The worker's Redis links, one per named connection its limits use.
    pub redis: crate::redis::Links,
    /// Backends get cuttle's `traceparent`/`tracestate` (`crate::telemetry`),
    /// so the client's are not forwarded.
    pub propagates_traces: bool,
}

/// `prepared` holds what the prepare step compiled for it once for all
/// workers (`process::Prepared`).
pub fn compile_endpoint(
    index: usize,
    endpoint: &Endpoint,
    prepared: &PreparedEndpoint,
    pools: &Pools,
    share: &WorkerShare,
) -> Result<EndpointPlan, PlanError> {
    let at = |what: &str, e: String| PlanError(format!("endpoints[{index}]{what}: {e}"));
    let param_names: Vec<&str> = crate::router::endpoint_param_names(&endpoint.path);
    let mut backends = Vec::with_capacity(endpoint.backends.len());
    let mut shadows = Vec::new();
    for (b, backend) in endpoint.backends.iter().enumerate() {
        // krakend-circuitbreaker names the breaker by its `name` in the
        // `log_status_change` line (gobreaker's `Settings.Name`; empty when
        // absent).
        let label = backend
            .circuit_breaker
            .as_ref()
            .map(|cb| cb.name.clone())
            .unwrap_or_default();
        let compiled = compile_backend(
            b,
            backend,
            &param_names,
            endpoint.wildcard,
            pools,
            share,
            label,
        )
        .map_err(|e| at(&format!(".backend[{b}]"), e))?;
        let shared_limit = backend.redis_rate_limit.as_ref().map(|spec| {
            SharedLimiter::new(
                spec,
                &format!("proxy {} {} {b}", endpoint.method, endpoint.path),
                &share.redis,
                share.workers,
                share.epoch,
            )
        });
        let compiled = BackendPlan {
            shared_limit,
            cel: prepared.backend_cel.get(b).cloned().flatten(),
            client_credentials: prepared.backend_credentials.get(b).cloned().flatten(),
            ..compiled
        };
        if backend.shadow.is_some() {
            shadows.push(Rc::new(compiled));
        } else {
            backends.push(compiled);
        }
    }
    let shadow_timeout = shadow_bound(endpoint);
    let static_response = match &endpoint.static_response {
        Some(s) => Some((
            s.strategy,
            parse_owned(&s.data)
                .map_err(|e| at(".extra_config.proxy.static.data", e.to_string()))?,
        )),
        None => None,
    };
    let lua_proxy = endpoint
        .lua_proxy
        .clone()
        .map(|settings| Rc::new(crate::lua::Script::new(settings)));
    let (before, after) = compile_steps(endpoint, prepared, share, lua_proxy.as_ref())
        .map_err(|e| at(".extra_config", e))?;
    // Shadows are left out: a request their URL cannot take is not
    // mirrored (the template refuses the value), but still served.
    let mut segment_params: Vec<usize> = backends
        .iter()
        .flat_map(|backend| backend.url.path_params())
        .collect();
    segment_params.sort_unstable();
    segment_params.dedup();
    Ok(EndpointPlan {
        path: endpoint.path.clone(),
        log_prefix: format!("[ENDPOINT: {}]", gin_route(&endpoint.path)),
        method: endpoint.method,
        timeout: endpoint.timeout,
        cache_control: endpoint.cache_ttl.map(|ttl| {
            format!("public, max-age={}", ttl.as_secs())
                .into_bytes()
                .into_boxed_slice()
        }),
        input_headers: endpoint.input_headers.clone(),
        input_query_strings: endpoint.input_query_strings.clone(),
        output: endpoint.output_encoding,
        ask_gzip: endpoint.output_encoding != OutputEncoding::NoOp && !share.disable_compression,
        backends,
        shadows,
        shadow_timeout,
        sequential: endpoint.sequential,
        concurrent_calls: endpoint.concurrent_calls.max(1),
        static_response,
        flatmap: Flatmap::compile(&endpoint.flatmap)
            .map_err(|e| at(".extra_config.proxy.flatmap_filter", e))?,
        modifiers: Modifiers::compile(&endpoint.response).map_err(|e| at(".extra_config", e))?,
        param_names: param_names.into_iter().map(Box::from).collect(),
        segment_params,
        wildcard: endpoint.wildcard,
        before,
        after,
        replaced_headers: prepared
            .auth
            .iter()
            .flat_map(|spec| &spec.validators)
            .flat_map(|v| &v.propagate)
            .map(|(_, header)| header.to_ascii_lowercase().into_bytes().into_boxed_slice())
            .chain(
                (share.propagates_traces)
                    .then_some(["traceparent", "tracestate"])
                    .into_iter()
                    .flatten()
                    .map(|h| Box::from(h.as_bytes())),
            )
            .collect(),
        websocket: endpoint.websocket.clone().map(Rc::new),
        lua_proxy: lua_proxy.clone(),
        propagated_params: propagated_params(&endpoint.propagated_params),
    })
}

/// The steps before the backends, in KrakenD's order (krakend-ce
/// `handler_factory.go`, outermost first: bot detector, JWT validator with
/// its CEL rejecter, rate limit, then the proxy pipe where krakend-cel wraps
/// krakend-jsonschema), and after them (CEL's response checks, then the
/// signer). ARCHITECTURE.md, "The order of handlers".
fn compile_steps(
    endpoint: &Endpoint,
    prepared: &PreparedEndpoint,
    share: &WorkerShare,
    lua_proxy: Option<&Rc<crate::lua::Script>>,
) -> Result<(Vec<Step>, Vec<ResponseStep>), String> {
    let mut before = Vec::new();
    let mut after = Vec::new();
    // KrakenD's bot detector wraps every other endpoint handler, so a bot
    // spends no rate-limit token and no signature check.
    if let Some(settings) = &endpoint.bot_detector {
        let detector = BotDetector::new(settings)
            .map_err(|e| format!(".security/bot-detector.patterns: {e}"))?;
        before.push(Step::BotDetector(detector));
    }
    // The validator wraps the rate limiter: a caller without a valid token
    // spends nothing, and a limit keyed on a propagated claim counts per
    // token holder.
    if let Some(spec) = &prepared.auth {
        before.push(Step::Jwt(JwtCheck::new(spec.clone())));
    }
    let cel = prepared.cel.clone();
    if let Some(checks) = cel.as_ref().filter(|c| c.has(Side::Jwt)) {
        before.push(Step::CelJwt(CelStep::new(
            Arc::clone(checks),
            share.return_error_msg,
        )));
    }
    // krakend-lua's router handler, between the validator and the limiter.
    if let Some(settings) = &endpoint.lua_endpoint {
        before.push(Step::Lua(LuaStep {
            script: Rc::new(crate::lua::Script::new(settings.clone())),
            level: LuaLevel::Endpoint,
            return_error_msg: share.return_error_msg,
        }));
    }
    if let Some(limit) = &endpoint.rate_limit {
        before.push(Step::RateLimit(EndpointLimiter::new(
            limit,
            share.workers,
            DEFAULT_MAX_CLIENTS,
            share.epoch,
        )));
    }
    if let Some(spec) = &endpoint.redis_rate_limit {
        before.push(Step::SharedRateLimit(SharedLimiter::new(
            spec,
            &format!("router {} {}", endpoint.method, endpoint.path),
            &share.redis,
            share.workers,
            share.epoch,
        )));
    }
    // krakend-lua's proxy layer wraps krakend-cel and krakend-jsonschema.
    if let Some(script) = lua_proxy.filter(|s| s.has(crate::lua::Phase::Pre)) {
        before.push(Step::Lua(LuaStep {
            script: Rc::clone(script),
            level: LuaLevel::Proxy,
            return_error_msg: share.return_error_msg,
        }));
    }
    if let Some(checks) = cel {
        if checks.has(Side::Request) {
            before.push(Step::Cel(CelStep::new(
                Arc::clone(&checks),
                share.return_error_msg,
            )));
        }
        if checks.has(Side::Response) {
            after.push(ResponseStep::Cel(CelStep::new(
                checks,
                share.return_error_msg,
            )));
        }
    }
    if let Some(schema) = &prepared.json_schema {
        before.push(Step::JsonSchema(SchemaStep::new(
            Arc::clone(schema),
            share.return_error_msg,
        )));
    }
    // The signer wraps the whole pipe: it signs what the checks let out.
    if let Some(spec) = &prepared.signer {
        after.push(ResponseStep::Sign(JwtSigner::new(spec.clone())));
    }
    Ok((before, after))
}

fn compile_backend(
    index: usize,
    backend: &Backend,
    params: &[&str],
    wildcard: bool,
    pools: &Pools,
    share: &WorkerShare,
    label: String,
) -> Result<BackendPlan, String> {
    let url = if wildcard {
        UrlTemplate::compile_wildcard(&backend.url_pattern, params)?
    } else {
        UrlTemplate::compile(&backend.url_pattern, params)?
    };
    let manipulation = Manipulation::compile(&backend.manipulation)?;
    let mut backend_pools = Vec::with_capacity(backend.hosts.len());
    let pooled = crate::upstream::kind::uses_http_pools(backend.protocol.as_ref());
    for host in backend.hosts.iter().filter(|_| pooled) {
        let authority = authority_of(host);
        backend_pools.push(
            pools
                .get(&authority)
                .ok_or_else(|| format!("no pool for {authority}"))?,
        );
    }
    Ok(BackendPlan {
        protocol: backend
            .protocol
            .as_ref()
            .map(crate::upstream::kind::for_worker),
        lua: backend
            .lua
            .clone()
            .map(|settings| Rc::new(crate::lua::Script::new(settings))),
        index,
        url,
        method: backend.method,
        encoding: backend.encoding,
        is_collection: backend.manipulation.is_collection,
        manipulation,
        return_error_code: backend.return_error_code,
        return_error_details: backend.return_error_details.clone(),
        status_prefix: format!(
            "[{} {}]:",
            backend.method,
            lura_url_pattern(&backend.url_pattern)
        ),
        pools: backend_pools,
        base_urls: backend.hosts.clone(),
        next_host: Cell::new(0),
        guard: BackendGuard::new(backend, share.workers, label, share.epoch),
        shared_limit: None,
        cel: None,
        input_headers: backend.input_headers.clone(),
        input_query_strings: backend.input_query_strings.clone(),
        chunked_request_body: backend.chunked_request_body,
        send_body_on_redirect: backend.send_body_on_redirect,
        client_credentials: None,
        martian: backend
            .martian
            .as_deref()
            .map(crate::modifier::martian::Modifiers::new),
        http_cache: backend
            .http_cache
            .as_ref()
            .map(|settings| share.http_caches.store_for(settings)),
    })
}

/// An endpoint path as gin's router knows it: `{id}` becomes `:id` before
/// the query (lura `config/uri.go`, `GetEndpointPath`).
fn gin_route(path: &str) -> String {
    let (route, query) = match path.split_once('?') {
        Some((route, query)) => (route, Some(query)),
        None => (path, None),
    };
    let mut out = String::with_capacity(path.len());
    let mut rest = route;
    while let Some(open) = rest.find('{') {
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str(&rest[..open]);
                out.push(':');
                out.push_str(&rest[open + 1..open + close]);
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A backend `url_pattern` as lura keeps it once loaded: a leading `/`
/// (`CleanPath`) and each `{name}` as `{{.Name}}`, its first letter upper
/// case (`config/config.go`, `initBackendURLMappings`).
fn lura_url_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    if !pattern.starts_with('/') {
        out.push('/');
    }
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let name_len = rest[open + 1..]
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/')));
        match name_len {
            Some(len) if len > 0 && rest[open + 1 + len..].starts_with('}') => {
                let name = &rest[open + 1..open + 1 + len];
                out.push_str(&rest[..open]);
                out.push_str("{{.");
                let mut chars = name.chars();
                if let Some(first) = chars.next() {
                    out.extend(first.to_uppercase());
                }
                out.push_str(chars.as_str());
                out.push_str("}}");
                rest = &rest[open + len + 2..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

// The compiled steps are data held by the plan; what they do lives in
// `steps.rs` (`Step::check`, `ResponseStep::apply`) and `validate.rs`
// (`CelStep`, `SchemaStep`), which read the plan: defined here, those
// files import this one and not the other way round.

/// A check run before the backends are called.
pub enum Step {
    /// `qos/ratelimit/router`: this worker's share of the endpoint's rate.
    RateLimit(EndpointLimiter),
    /// `qos/ratelimit/router/redis`: the rate counted in Redis (awaited).
    SharedRateLimit(SharedLimiter),
    /// `security/bot-detector` at endpoint level: 403, no body, for a bot.
    BotDetector(BotDetector),
    /// `auth/validator`: 401 without a valid token, 403 without the roles
    /// or scopes; the claims go into `RequestFacts::jwt`.
    Jwt(JwtCheck),
    /// `validation/cel`: the checks naming only `JWT` (krakend-jose's
    /// rejecter, right after the validator: 401).
    CelJwt(CelStep),
    /// `validation/cel`: the checks on the request.
    Cel(CelStep),
    /// `validation/json-schema`: the request body.
    JsonSchema(SchemaStep),
    /// `modifier/lua-endpoint`, or the `pre` of `modifier/lua-proxy`.
    Lua(LuaStep),
}

/// Which script a [`LuaStep`] runs (`proxy::lua`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LuaLevel {
    /// `modifier/lua-endpoint`: `ctx`.
    Endpoint,
    /// `modifier/lua-proxy` `pre`: `request`.
    Proxy,
}

/// `modifier/lua-endpoint`, or the `pre` of `modifier/lua-proxy`.
pub struct LuaStep {
    pub script: Rc<crate::lua::Script>,
    pub level: LuaLevel,
    /// `router.return_error_msg`: a proxy-level failure's text as the body.
    pub return_error_msg: bool,
}

/// A step run on the merged document, before it is encoded. `complete`
/// says whether every backend contributed (`X-KrakenD-Completed`).
pub enum ResponseStep {
    /// `validation/cel`: the checks on the response (`resp_*`).
    Cel(CelStep),
    /// `auth/signer`.
    Sign(JwtSigner),
}

/// An endpoint's CEL checks: the JWT and request sides run as a step
/// before the backends, the response side on the merged document.
pub struct CelStep {
    pub(super) checks: Arc<Checks>,
    pub(super) return_error_msg: bool,
}

/// `validation/json-schema` on the request body.
pub struct SchemaStep {
    pub(super) schema: Arc<BodySchema>,
    pub(super) return_error_msg: bool,
}

/// How long one request's shadow calls may run. lura (`shadowFactory.New`)
/// runs them under a context of its own, not the client's, with the largest
/// `shadow_timeout` of the shadow backends (each defaulting to the backend's
/// timeout, the endpoint's); with several shadows its merge middleware also
/// gives them 85% of the endpoint timeout.
pub fn shadow_bound(endpoint: &Endpoint) -> Duration {
    let shadows: Vec<Duration> = endpoint.backends.iter().filter_map(|b| b.shadow).collect();
    let longest = shadows.iter().copied().max().unwrap_or(endpoint.timeout);
    if shadows.len() > 1 {
        longest.min(endpoint.timeout * 85 / 100)
    } else {
        longest
    }
}

/// `proxy.sequential_propagated_params` as lura's `sequentialMergerConfig`
/// reads each entry (`[Rr]esp(\d+)_?([\w-.]+)?`): `resp0_a.b` is backend 0's
/// field `a.b`, `resp1` backend 1's whole response.
fn propagated_params(entries: &[String]) -> Vec<(usize, Option<String>)> {
    let mut out = Vec::new();
    for entry in entries {
        let Some(rest) = entry
            .strip_prefix("resp")
            .or_else(|| entry.strip_prefix("Resp"))
        else {
            continue;
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(index) = rest[..digits].parse::<usize>() else {
            continue;
        };
        let tail = rest[digits..].strip_prefix('_').unwrap_or(&rest[digits..]);
        let field: String = tail
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .collect();
        out.push((index, (!field.is_empty()).then_some(field)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{gin_route, lura_url_pattern};

    #[test]
    fn lura_forms_of_paths() {
        assert_eq!(
            gin_route("/users/{id}/posts/{post}"),
            "/users/:id/posts/:post"
        );
        assert_eq!(gin_route("/plain"), "/plain");
        assert_eq!(
            lura_url_pattern("/users/{id}?q={q}"),
            "/users/{{.Id}}?q={{.Q}}"
        );
        assert_eq!(lura_url_pattern("x/{resp0_a.b}"), "/x/{{.Resp0_a.b}}");
        assert_eq!(lura_url_pattern("/{JWT.sub}/{}"), "/{{.JWT.sub}}/{}");
    }

    #[test]
    fn propagated_params_as_lura_reads_them() {
        let read =
            super::propagated_params(&["resp0_first.foo".into(), "Resp1".into(), "other".into()]);
        assert_eq!(read, [(0, Some("first.foo".into())), (1, None)]);
    }
}
