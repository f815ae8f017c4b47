//! Raw file -> `Config`: KrakenD's defaults and inheritance (lura
//! `config/config.go`), then the checks that make a built `Config` a valid one.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use super::auth::JwkRegistry;
use super::error::{BuildResult, Problem};
use super::extra::{self, Unknown};
use super::host::clean_host;
use super::keywords;
use super::limits::server_limits;
use super::model::{
    Backend, BackendEncoding, ClientStrategy, Config, DEFAULT_TIMEOUT, Endpoint, Forward,
    ManipulationSpec, OutputEncoding, ResponseModifiers, RouterRateLimit,
};
use super::raw::{GoDuration, RawBackend, RawConfig, RawEndpoint};
use super::route::{self, PlaceholderScope, Segment};
use super::unimplemented;
use super::validation;
use crate::http::Method;

const DEFAULT_PORT: u16 = 8080;
const SUPPORTED_VERSION: i64 = 3;

/// What endpoints inherit from the top level of the file.
struct Inherited {
    timeout: Duration,
    cache_ttl: Option<Duration>,
    /// `None`: an encoding KrakenD does not know, which each endpoint
    /// replaces with its fallback (`fallback_output`).
    output_encoding: Option<OutputEncoding>,
    hosts: Vec<String>,
    /// Root `disable_rest`: placeholders may sit inside a segment.
    disable_rest: bool,
    /// Root `grpc`: the service catalog of `backend/grpc` backends.
    grpc: Option<std::sync::Arc<super::grpc::Catalog>>,
    /// Root `redis`: the connections Redis-backed limits name.
    redis: super::RedisConnections,
}

pub fn build(raw: RawConfig, source: &Path) -> BuildResult<Config> {
    check_version(raw.version)?;
    let mut unknown = Unknown::default();
    let tls = super::tls::server(raw.tls.as_ref())?;
    let client_tls = super::tls::client(raw.client_tls.as_ref())?;
    let mut root_extra = extra::root(raw.extra_config.as_ref(), &mut unknown)?;
    if let Some(revoker) = &mut root_extra.revoker {
        super::auth_extras::resolve_revoker_redis(revoker, &root_extra.redis)?;
    }
    let limits = server_limits(&raw, root_extra.server.as_ref())?;
    let inherited = Inherited {
        timeout: non_zero(raw.timeout).unwrap_or(DEFAULT_TIMEOUT),
        cache_ttl: non_zero(raw.cache_ttl),
        output_encoding: match raw.output_encoding.as_deref() {
            None | Some("") => Some(OutputEncoding::Json),
            Some(text) => known_output(text, "output_encoding", &mut unknown),
        },
        hosts: clean_hosts(raw.host.as_deref().unwrap_or_default(), "host")?,
        disable_rest: raw.disable_rest.unwrap_or(false),
        grpc: root_extra.grpc.clone(),
        redis: root_extra.redis.clone(),
    };
    let listen_ip = match raw.listen_ip.as_deref() {
        None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(text) => text.parse().map_err(|_| {
            Problem::new(
                "listen_ip",
                format!("\"{text}\" is not an IP address; write e.g. \"0.0.0.0\" (all interfaces) or \"127.0.0.1\""),
            )
        })?,
    };
    let mut jwk = JwkRegistry {
        shared_cache: root_extra.shared_jwk_cache,
    };
    let endpoints = raw
        .endpoints
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .filter_map(|(index, endpoint)| {
            if let Some(skipped) = unserved(&endpoint, index) {
                unknown.skipped.push(skipped);
                return None;
            }
            Some(build_endpoint(
                endpoint,
                index,
                &inherited,
                &mut unknown,
                &mut jwk,
            ))
        })
        .collect::<BuildResult<Vec<_>>>()?;
    route::check_route_clashes(&endpoints)?;
    // krakend-jose consults the revoker from its validator only.
    if root_extra.revoker.is_some() && endpoints.iter().all(|e| e.auth.is_none()) {
        unknown.warnings.push(Problem::new(
            "endpoints",
            "no endpoint has \"auth/validator\": the root \"auth/revoker\" refuses tokens only where a validator checks them, so it refuses nothing here",
        ));
    }
    check_health_path(&endpoints, root_extra.router.health_path.as_deref())?;
    let port = raw.port.filter(|p| *p != 0).unwrap_or(DEFAULT_PORT);
    if let Some(stats) = &root_extra.stats {
        super::stats::check_ports(stats, port, root_extra.telemetry.as_ref())?;
    }
    let async_agents = super::amqp::agents(
        raw.async_agent.as_ref(),
        inherited.timeout,
        &inherited.hosts,
    )?;
    Ok(Config {
        source: source.to_path_buf(),
        async_agents,
        name: raw.name,
        // KrakenD: port 0 means the default.
        port,
        listen_ip,
        debug_endpoint: raw.debug_endpoint.unwrap_or(false),
        echo_endpoint: raw.echo_endpoint.unwrap_or(false),
        return_error_msg: root_extra.return_error_msg,
        router: root_extra.router,
        logging: root_extra.logging,
        limits,
        use_h2c: raw.use_h2c == Some(true) || root_extra.use_h2c,
        tls,
        client_tls,
        security: root_extra.security,
        endpoints,
        telemetry: root_extra.telemetry,
        revoker: root_extra.revoker,
        redis: root_extra.redis,
        stats: root_extra.stats,
        unknown_namespaces: unknown.ignored.into_iter().collect(),
        unimplemented: unknown.unimplemented,
        warnings: unknown.warnings,
        skipped_endpoints: unknown.skipped,
    })
}

/// An endpoint KrakenD does not serve, and starts without: one whose
/// `method` its router has no route for (lura `router/gin/router.go`
/// `registerKrakendEndpoint` logs "Unsupported method" and returns). It
/// is not built at all, so nothing in it can leave anything unprotected.
fn unserved(raw: &RawEndpoint, index: usize) -> Option<Problem> {
    let text = raw.method.as_deref().filter(|m| !m.is_empty())?;
    let message = keywords::endpoint_method(text).err()?;
    let path = raw.endpoint.as_deref().unwrap_or_default();
    Some(Problem::new(
        format!("endpoints[{index}].method"),
        format!(
            "{message}; the endpoint \"{path}\" is not served (KrakenD logs the same error and starts without it)"
        ),
    ))
}

/// The health endpoint is answered before routing: a GET endpoint on its
/// path would never be reached (KrakenD refuses to start: gin panics on
/// the duplicate route).
fn check_health_path(endpoints: &[Endpoint], health: Option<&str>) -> BuildResult<()> {
    let Some(health) = health else { return Ok(()) };
    match endpoints
        .iter()
        .find(|e| e.path == health && e.method == Method::Get)
        .map(|e| e.index)
    {
        Some(index) => Err(Problem::new(
            format!("endpoints[{index}].endpoint"),
            format!(
                "GET {health} is the health endpoint's path (extra_config.router.health_path, default /__health); move the endpoint, set another health_path or \"disable_health\": true"
            ),
        )),
        None => Ok(()),
    }
}

/// lura refuses any other version (`config.UnsupportedVersionError`,
/// "unsupported version: 2 (want: 3)"); the message says what to do.
fn check_version(version: Option<i64>) -> BuildResult<()> {
    let migrate = "a file of version 1 or 2 is in the format of KrakenD 0.x/1.x: migrate it with KrakenD's configuration migration tool (https://www.krakend.io/docs/configuration/migrating/); cuttle reads version 3 (KrakenD 2.x)";
    match version {
        Some(SUPPORTED_VERSION) => Ok(()),
        None => Err(Problem::new(
            "version",
            format!(
                "missing; add \"version\": 3 if the file is in KrakenD 2.x's format, else {migrate}"
            ),
        )),
        Some(old @ (1 | 2)) => Err(Problem::new(
            "version",
            format!("{old} is not supported; {migrate}"),
        )),
        Some(other) => Err(Problem::new(
            "version",
            format!(
                "{other} is not supported; cuttle reads version 3 (KrakenD 2.x), the format KrakenD CE reads too"
            ),
        )),
    }
}

/// An output encoding, or `None` (with a warning) for one KrakenD does
/// not know.
fn known_output(text: &str, at: &str, unknown: &mut Unknown) -> Option<OutputEncoding> {
    keywords::output_encoding(text)
        .map_err(|message| {
            unknown.warnings.push(Problem::new(
                at,
                format!("{message}; served as KrakenD does: with the encoding of the endpoint's only backend when it names an output encoding, else JSON"),
            ));
        })
        .ok()
}

/// What KrakenD renders an endpoint with an unknown output encoding with
/// (lura `router/gin/render.go` `getRender`): the render named by its only
/// backend's `encoding` if there is one, else JSON.
fn fallback_output(backends: &[RawBackend]) -> OutputEncoding {
    match backends {
        [only] => only
            .encoding
            .as_deref()
            .and_then(|text| keywords::output_encoding(text).ok())
            .unwrap_or(OutputEncoding::Json),
        _ => OutputEncoding::Json,
    }
}

/// A zero duration means "not set" in KrakenD, so it falls back to the default.
fn non_zero(value: Option<GoDuration>) -> Option<Duration> {
    value.map(|GoDuration(d)| d).filter(|d| !d.is_zero())
}

/// `"sd": "dns"`: the backend's one host, the SRV name lura looks up (its
/// `Host[0]`, `sd/dnssrv/subscriber.go`), as the pool key
/// `srv+SCHEME://NAME` that `upstream::discovery` reads. A scheme or a
/// final `/` written around the name is dropped: lura's host sanitizer
/// would add `http://`, which its lookup then fails on, unless
/// `disable_host_sanitize` is set (as KrakenD's documentation asks).
fn srv_host(host: Option<&String>, scheme: Option<&str>, at: &str) -> BuildResult<String> {
    let scheme = match scheme.unwrap_or_default() {
        "" | "http" => "http",
        "https" => "https",
        other => {
            return Err(Problem::new(
                format!("{at}.sd_scheme"),
                format!(
                    "\"{other}\": the instances of a DNS SRV name are called over \"http\" (the default) or \"https\""
                ),
            ));
        }
    };
    let Some(host) = host else {
        return Err(Problem::new(
            format!("{at}.host"),
            "no host: with \"sd\": \"dns\" write the SRV name to look up, e.g. \"host\": [\"_api._tcp.example.com\"]",
        ));
    };
    let name = host.trim();
    let name = ["http://", "https://"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    let name = name.trim_end_matches('/');
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !valid {
        return Err(Problem::new(
            format!("{at}.host[0]"),
            format!(
                "\"{host}\" is not a DNS name to look up SRV records of (\"sd\": \"dns\"), e.g. \"_api._tcp.example.com\""
            ),
        ));
    }
    Ok(format!("srv+{scheme}://{name}"))
}

fn clean_hosts(hosts: &[String], at: &str) -> BuildResult<Vec<String>> {
    hosts
        .iter()
        .enumerate()
        .map(|(index, host)| {
            clean_host(host).map_err(|message| Problem::new(format!("{at}[{index}]"), message))
        })
        .collect()
}

fn build_endpoint(
    raw: RawEndpoint,
    index: usize,
    inherited: &Inherited,
    unknown: &mut Unknown,
    jwk: &mut JwkRegistry,
) -> BuildResult<Endpoint> {
    let at = format!("endpoints[{index}]");
    // lura's `CleanPath` (`config/uri.go`): "/" + the path without one
    // leading '/', so a missing path is "/" and "users" is "/users".
    let path = match raw.endpoint {
        None => {
            unknown.warnings.push(Problem::new(
                format!("{at}.endpoint"),
                "missing; served at \"/\" as KrakenD does; write the path, e.g. \"/users/{id}\"",
            ));
            "/".to_owned()
        }
        Some(path) if path.starts_with('/') => path,
        Some(path) => format!("/{path}"),
    };
    let segments = route::endpoint_segments(&path, inherited.disable_rest)
        .map_err(|message| Problem::new(format!("{at}.endpoint"), message))?;
    let params: Vec<&str> = segments.iter().filter_map(Segment::param).collect();
    let wildcard = segments.last() == Some(&Segment::Wildcard);
    let method = match raw.method.as_deref() {
        None | Some("") => Method::Get,
        Some(text) => keywords::endpoint_method(text)
            .map_err(|message| Problem::new(format!("{at}.method"), message))?,
    };
    let output_encoding = match raw.output_encoding.as_deref() {
        None | Some("") => inherited.output_encoding,
        Some(text) => known_output(text, &format!("{at}.output_encoding"), unknown),
    }
    .unwrap_or_else(|| fallback_output(raw.backend.as_deref().unwrap_or_default()));
    // lura's `initEndpointDefaults`: 0 (or absent) is 1.
    let concurrent_calls = raw
        .concurrent_calls
        .filter(|calls| *calls != 0)
        .unwrap_or(1);
    let mut endpoint_extra = extra::endpoint(raw.extra_config.as_ref(), &at, unknown, jwk)?;
    if output_encoding == OutputEncoding::NoOp {
        refuse_modifiers_on_no_op(&endpoint_extra.modifiers, &at)?;
        if let Some(cel) = &mut endpoint_extra.cel {
            cel.response_refused = Some(validation::refuse_response_cel_on_no_op(&at));
        }
        if endpoint_extra.signer.is_some() {
            return Err(Problem::new(
                format!("{at}.extra_config.auth/signer"),
                "\"auth/signer\" rewrites the response, but a \"no-op\" encoding passes it through untouched; remove one of the two",
            ));
        }
    }
    if endpoint_extra.websocket.is_some()
        && let Some(cel) = &mut endpoint_extra.cel
    {
        cel.response_refused = Some(Problem::new(
            format!("{at}.extra_config.validation/cel"),
            "checks a response (resp_*), but a websocket endpoint relays frames and has no response to check; remove the check",
        ));
    }
    check_client_param(
        endpoint_extra.rate_limit.as_ref(),
        "qos/ratelimit/router",
        &params,
        &path,
        &at,
    )?;
    let redis_rate_limit = match &endpoint_extra.redis_rate_limit {
        None => None,
        Some((limit_at, value)) => super::ratelimit_redis::build(
            value,
            limit_at,
            super::ratelimit_redis::Level::Endpoint,
            &inherited.redis,
            &mut unknown.warnings,
        )?,
    };
    check_client_param(
        redis_rate_limit.as_ref().map(|r| &r.limit),
        super::ratelimit_redis::ROUTER,
        &params,
        &path,
        &at,
    )?;

    let raw_backends = raw.backend.unwrap_or_default();
    if raw_backends.is_empty() {
        return Err(Problem::new(
            format!("{at}.backend"),
            format!(
                "{method} {path} has no backend; add at least one, e.g. [{{\"url_pattern\": \"/\", \"host\": [\"http://127.0.0.1:8000\"]}}]"
            ),
        ));
    }
    let timeout = non_zero(raw.timeout).unwrap_or(inherited.timeout);
    let context = BackendContext {
        endpoint_at: &at,
        endpoint_method: method,
        endpoint_output: output_encoding,
        scope_path: &path,
        params: &params,
        sequential: endpoint_extra.sequential,
        inherited_hosts: &inherited.hosts,
        has_validator: endpoint_extra.auth.is_some(),
        grpc_catalog: inherited.grpc.as_deref(),
        redis: &inherited.redis,
        timeout,
    };
    let mut backends: Vec<Backend> = Vec::with_capacity(raw_backends.len());
    for (index, backend) in raw_backends.into_iter().enumerate() {
        // Sequential `{respN_..}` count the backends that answer (lura's
        // shadow factory hands the merger only those).
        let answering = backends.iter().filter(|b| b.shadow.is_none()).count();
        backends.push(build_backend(backend, index, answering, &context, unknown)?);
    }
    // Shadow backends are mirrored apart from the others (lura
    // `proxy/shadow.go`): what follows counts only those that answer.
    let answering: Vec<Backend> = backends
        .iter()
        .filter(|b| b.shadow.is_none())
        .cloned()
        .collect();
    if answering.is_empty() {
        // lura's default factory then fails with ErrNoBackends and the
        // router registers a handler answering 500 to every request.
        return Err(Problem::new(
            format!("{at}.backend"),
            format!(
                "every backend of {method} {path} is a shadow (\"proxy\": {{\"shadow\": true}}), whose answers are discarded; KrakenD would answer every request with 500; keep at least one backend without \"shadow\""
            ),
        ));
    }
    if output_encoding == OutputEncoding::NoOp && answering.len() > 1 {
        return Err(Problem::new(
            format!("{at}.output_encoding"),
            format!(
                "\"no-op\" passes one backend response through untouched, but {method} {path} has {} backends; keep one backend or use another output encoding",
                answering.len()
            ),
        ));
    }
    refuse_lua_where_not_run(&endpoint_extra, output_encoding, &backends)?;
    // A non-GET endpoint may have several backends, sequential or not:
    // lura's `IsValidSequentialEndpoint` has accepted it since 2023.
    websocket_backends(
        endpoint_extra.websocket.is_some(),
        &endpoint_extra,
        method,
        &mut backends,
        &at,
    )?;
    // The token is added where `fanout` and the no-op relay call a
    // backend; a shadow copy or a WebSocket handshake would go without it
    // (with the client's Authorization): refused until they add it.
    for (i, backend) in backends.iter().enumerate() {
        if backend.client_credentials.is_some()
            && (backend.shadow.is_some() || endpoint_extra.websocket.is_some())
        {
            return Err(Problem::new(
                format!("{at}.backend[{i}].extra_config.auth/client-credentials"),
                "cuttle does not add the token to shadow or WebSocket backends yet; remove one of the two",
            ));
        }
    }

    Ok(Endpoint {
        index,
        path: path.clone(),
        method,
        timeout,
        cache_ttl: non_zero(raw.cache_ttl).or(inherited.cache_ttl),
        input_headers: forward(raw.input_headers, |name| name.to_ascii_lowercase()),
        input_query_strings: forward(raw.input_query_strings, str::to_owned),
        output_encoding,
        backends,
        concurrent_calls,
        sequential: endpoint_extra.sequential,
        static_response: endpoint_extra.static_response,
        flatmap: endpoint_extra.flatmap,
        rate_limit: endpoint_extra.rate_limit,
        redis_rate_limit,
        wildcard,
        response: endpoint_extra.modifiers,
        bot_detector: endpoint_extra.bot_detector,
        cel: endpoint_extra.cel,
        json_schema: endpoint_extra.json_schema,
        chunked_request_body: false,
        auth: endpoint_extra.auth,
        signer: endpoint_extra.signer,
        websocket: endpoint_extra.websocket,
        lua_endpoint: endpoint_extra.lua_endpoint,
        lua_proxy: endpoint_extra.lua_proxy,
        propagated_params: endpoint_extra.propagated_params,
    })
}

/// Lua scripts cuttle would not run: a no-op endpoint's requests are
/// relayed as they are, a shadow backend's copies and a websocket's frames
/// too, so a script there (or a proxy `post`, which needs a decoded
/// response) is refused rather than skipped.
fn refuse_lua_where_not_run(
    extra: &extra::EndpointExtra,
    output: OutputEncoding,
    backends: &[Backend],
) -> BuildResult<()> {
    let relayed = if output == OutputEncoding::NoOp {
        Some("a no-op endpoint relays requests and responses as they are")
    } else if extra.websocket.is_some() {
        Some("a websocket endpoint relays frames")
    } else {
        None
    };
    let refuse = |lua_at: &str, why: &str| {
        Problem::new(
            lua_at,
            format!("cuttle does not run this Lua script: {why}; remove it or the reason"),
        )
    };
    if let Some(why) = relayed {
        if let Some(lua) = extra.lua_endpoint.as_ref().or(extra.lua_proxy.as_ref()) {
            return Err(refuse(&lua.at, why));
        }
        if let Some(lua) = backends.iter().find_map(|b| b.lua.as_ref()) {
            return Err(refuse(&lua.at, why));
        }
    }
    if let Some(lua) = backends
        .iter()
        .filter(|b| b.shadow.is_some())
        .find_map(|b| b.lua.as_ref())
    {
        return Err(refuse(
            &lua.at,
            "a shadow backend gets a copy of the request, sent without scripts",
        ));
    }
    Ok(())
}

/// `ws://`/`wss://` hosts belong to `websocket` endpoints, whose one
/// backend is reached with the HTTP client (`ws` is `http`, `wss` is
/// `https`, as KrakenD's docs pair them). A websocket endpoint relays
/// frames: what reads or rewrites a response, or guards backend calls one
/// by one, has nothing to act on and is refused rather than skipped.
fn websocket_backends(
    websocket: bool,
    extra: &extra::EndpointExtra,
    method: Method,
    backends: &mut [Backend],
    at: &str,
) -> BuildResult<()> {
    if !websocket {
        for (b, backend) in backends.iter().enumerate() {
            if let Some(h) = backend.hosts.iter().position(|h| h.starts_with("ws")) {
                return Err(Problem::new(
                    format!("{at}.backend[{b}].host[{h}]"),
                    format!(
                        "\"{}\" is a WebSocket host, served only by an endpoint with the \"websocket\" namespace; add it, or use an http:// host",
                        backend.hosts[h]
                    ),
                ));
            }
        }
        return Ok(());
    }
    let ns = format!("{at}.extra_config.websocket");
    if method != Method::Get {
        return Err(Problem::new(
            format!("{at}.method"),
            "a WebSocket handshake is a GET request; remove \"method\" or set it to GET",
        ));
    }
    let refused = [
        ("auth/signer", extra.signer.is_some()),
        ("modifier/jmespath", extra.modifiers.jmespath.is_some()),
        (
            "plugin/req-resp-modifier",
            !extra.modifiers.replacements.is_empty(),
        ),
        ("proxy.static", extra.static_response.is_some()),
        ("proxy.flatmap_filter", !extra.flatmap.is_empty()),
    ];
    if let Some((name, _)) = refused.iter().find(|(_, set)| *set) {
        return Err(Problem::new(
            format!("{at}.extra_config"),
            format!(
                "\"{name}\" rewrites a response, but a websocket endpoint relays frames untouched; remove one of the two"
            ),
        ));
    }
    if backends.len() != 1 {
        return Err(Problem::new(
            format!("{at}.backend"),
            format!(
                "a websocket endpoint relays each client connection to one backend connection, but this one has {} backends; keep one",
                backends.len()
            ),
        ));
    }
    let backend = &mut backends[0];
    let b_at = format!("{at}.backend[0]");
    let guards = [
        ("qos/circuit-breaker", backend.circuit_breaker.is_some()),
        ("qos/ratelimit/proxy", backend.rate_limit.is_some()),
        (
            super::ratelimit_redis::PROXY,
            backend.redis_rate_limit.is_some(),
        ),
        ("validation/cel", backend.cel.is_some()),
        ("proxy.shadow", backend.shadow.is_some()),
        ("modifier/martian", backend.martian.is_some()),
        ("qos/http-cache", backend.http_cache.is_some()),
    ];
    if let Some((name, _)) = guards.iter().find(|(_, set)| *set) {
        return Err(Problem::new(
            format!("{b_at}.extra_config"),
            format!(
                "\"{name}\" is not applied to the backend of a websocket endpoint by cuttle; remove it (see {ns})"
            ),
        ));
    }
    for (h, host) in backend.hosts.iter_mut().enumerate() {
        match super::websocket::http_scheme_of(host) {
            Some(http) => *host = http,
            None => {
                return Err(Problem::new(
                    format!("{b_at}.host[{h}]"),
                    format!(
                        "\"{host}\": the backend of a websocket endpoint needs a ws:// or wss:// host, e.g. \"ws://127.0.0.1:8000\""
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `modifier/jmespath` and the content replacer work on a decoded
/// response; a no-op body is passed through untouched, so they would be
/// silently skipped.
fn refuse_modifiers_on_no_op(modifiers: &ResponseModifiers, at: &str) -> BuildResult<()> {
    let namespace = if modifiers.jmespath.is_some() {
        "modifier/jmespath"
    } else if !modifiers.replacements.is_empty() {
        "plugin/req-resp-modifier"
    } else {
        return Ok(());
    };
    Err(Problem::new(
        format!("{at}.extra_config.{namespace}"),
        format!(
            "\"{namespace}\" changes the response, but a \"no-op\" encoding passes it through untouched; remove one of the two"
        ),
    ))
}

/// A `param` rate-limit strategy must name a placeholder of the endpoint:
/// KrakenD would key every request on an empty value and answer 429 to all.
fn check_client_param(
    rate_limit: Option<&RouterRateLimit>,
    namespace: &str,
    params: &[&str],
    path: &str,
    at: &str,
) -> BuildResult<()> {
    let Some(ClientStrategy::Param(name)) = rate_limit
        .and_then(|limit| limit.client.as_ref())
        .map(|client| &client.strategy)
    else {
        return Ok(());
    };
    if params.contains(&name.as_str()) {
        return Ok(());
    }
    let have = if params.is_empty() {
        "it has none".to_owned()
    } else {
        format!("it has {{{}}}", params.join("}, {"))
    };
    Err(Problem::new(
        format!("{at}.extra_config.{namespace}.key"),
        format!(
            "\"{name}\" is not a placeholder of the endpoint \"{path}\" ({have}); write one of its placeholders, or use \"strategy\": \"ip\" or \"header\""
        ),
    ))
}

/// `input_headers` / `input_query_strings`: absent or empty forwards none,
/// `"*"` forwards all.
fn forward(names: Option<Vec<String>>, normalize: impl Fn(&str) -> String) -> Forward {
    let names = names.unwrap_or_default();
    if names.is_empty() {
        Forward::None
    } else if names.iter().any(|name| name == "*") {
        Forward::All
    } else {
        let mut kept: Vec<String> = Vec::with_capacity(names.len());
        for name in names.iter().map(|name| normalize(name)) {
            if !kept.contains(&name) {
                kept.push(name);
            }
        }
        Forward::Only(kept)
    }
}

/// What a backend inherits from, and is checked against, its endpoint.
struct BackendContext<'a> {
    endpoint_at: &'a str,
    endpoint_method: Method,
    endpoint_output: OutputEncoding,
    scope_path: &'a str,
    params: &'a [&'a str],
    sequential: bool,
    inherited_hosts: &'a [String],
    /// The endpoint has `auth/validator`: `{JWT.claim}` has a value.
    has_validator: bool,
    /// Root `grpc`: the catalog `backend/grpc` methods are looked up in.
    grpc_catalog: Option<&'a super::grpc::Catalog>,
    /// Root `redis`: the connections Redis-backed limits name.
    redis: &'a super::RedisConnections,
    /// The endpoint's timeout (a shadow backend's default bound).
    timeout: Duration,
}

/// `answering`: how many backends before this one answer (are not shadows).
fn build_backend(
    raw: RawBackend,
    index: usize,
    answering: usize,
    context: &BackendContext<'_>,
    unknown: &mut Unknown,
) -> BuildResult<Backend> {
    let at = format!("{}.backend[{index}]", context.endpoint_at);
    let mut extra = extra::backend(raw.extra_config.as_ref(), &at, unknown)?;
    // KrakenD's CleanPath: a missing or relative url_pattern gets a leading '/'.
    let url_pattern = format!(
        "/{}",
        raw.url_pattern
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/')
    );
    let scope = PlaceholderScope {
        endpoint_path: context.scope_path,
        endpoint_params: context.params,
        sequential: context.sequential,
        backend_index: answering,
    };
    for name in route::url_placeholders(&url_pattern) {
        if extra.shadow.is_some() && route::sequential_source(name).is_some() {
            return Err(Problem::new(
                format!("{at}.url_pattern"),
                format!(
                    "{{{name}}} takes a value from an earlier backend's response, but a shadow backend is called apart from the sequence, with the client's request only"
                ),
            ));
        }
        route::check_url_placeholder(name, &scope)
            .map_err(|message| Problem::new(format!("{at}.url_pattern"), message))?;
        if name.starts_with("JWT.") && !context.has_validator {
            return Err(unimplemented::claim(format!("{at}.url_pattern"), name));
        }
    }

    let own_hosts = raw.host.unwrap_or_default();
    let amqp = extra.amqp.take();
    let hosts = match raw
        .sd
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "static")
    {
        // With `"sd": "dns"` the first host is an SRV name. KrakenD's schema
        // (v2.7 on) adds `dns-shared`, one resolution for the backends of
        // the same name: what cuttle does for `dns` anyway.
        Some("dns" | "dns-shared") => vec![srv_host(
            own_hosts.first().or(context.inherited_hosts.first()),
            raw.sd_scheme.as_deref(),
            &at,
        )?],
        Some(driver) => {
            return Err(Problem::new(
                format!("{at}.sd"),
                format!(
                    "\"{driver}\" service discovery is not supported by cuttle (\"static\" and \"dns\" are); list the backend addresses in \"host\" and remove \"sd\""
                ),
            ));
        }
        None if own_hosts.is_empty() => context.inherited_hosts.to_vec(),
        // A pubsub driver's URL prefix, e.g. "nats://" (`config::pubsub`),
        // or an AMQP URL (with credentials): no HTTP base URL to clean.
        None if extra.pubsub.is_some() || amqp.is_some() => own_hosts,
        None => clean_hosts(&own_hosts, &format!("{at}.host"))?,
    };
    if hosts.is_empty() {
        return Err(Problem::new(
            format!("{at}.host"),
            "no host: write e.g. \"host\": [\"http://127.0.0.1:8000\"] here, or at the top level of the file for every backend without one",
        ));
    }

    let method = match raw.method.as_deref() {
        None | Some("") => context.endpoint_method,
        Some(text) => keywords::backend_method(text)
            .map_err(|message| Problem::new(format!("{at}.method"), message))?,
    };
    let encoding = backend_encoding(
        raw.encoding.as_deref(),
        context.endpoint_output,
        &at,
        unknown,
    )?;
    // A backend `post` works on the decoded JSON document, which cuttle
    // then decodes again as JSON: only JSON backends can carry one.
    if let Some(lua) = extra.lua.as_ref().filter(|l| l.post.is_some())
        && !matches!(encoding, BackendEncoding::Json | BackendEncoding::SafeJson)
    {
        return Err(Problem::new(
            format!("{}.post", lua.at),
            "cuttle runs a backend's Lua post only on JSON backends (encoding json or safejson); move the script to the endpoint's \"modifier/lua-proxy\" or drop the encoding",
        ));
    }
    if encoding == BackendEncoding::NoOp {
        refuse_modifiers_on_no_op(&extra.modifiers, &at)?;
        if let Some(cel) = &mut extra.cel {
            cel.response_refused = Some(validation::refuse_response_cel_on_no_op(&at));
        }
    }
    if context.endpoint_output == OutputEncoding::NoOp && extra.http_cache.take().is_some() {
        // A no-op endpoint streams its backend's answer (`proxy::noop`);
        // cuttle does not store streamed answers (docs/http-cache.md).
        unknown.warnings.push(Problem::new(
            format!("{at}.extra_config.qos/http-cache"),
            "not applied by cuttle: the endpoint's output_encoding is \"no-op\", whose backend answers are streamed to the client, not stored (KrakenD caches them)",
        ));
    }
    if extra.martian.as_ref().is_some_and(|m| m.response.is_some())
        && extra.http_cache.take().is_some()
    {
        // The store keeps status, Content-Type and body; response-scope
        // martian modifiers need every header (`proxy::fanout::call`).
        unknown.warnings.push(Problem::new(
            format!("{at}.extra_config.qos/http-cache"),
            "not applied by cuttle: this backend's modifier/martian has response-scope modifiers, which need every header of the backend's answer, and the cache does not keep them (KrakenD caches it)",
        ));
    }

    // A non-HTTP backend kind, from the backend's namespace or host scheme
    // (`upstream::kind`): each kind's settings are read here.
    let mut protocol: Option<super::ProtocolSettings> = super::graphql::protocol(
        &mut extra,
        context.params,
        context.endpoint_output,
        &at,
        &mut unknown.warnings,
    )?;
    if let Some(found) = &extra.pubsub {
        only_one_kind(&protocol, format!("{at}.extra_config"))?;
        protocol = Some(super::ProtocolSettings::Nats(super::pubsub::settings(
            found, &hosts, &at,
        )?));
    }
    if let Some(value) = &extra.grpc {
        only_one_kind(
            &protocol,
            format!("{at}.extra_config.{}", super::grpc::BACKEND),
        )?;
        protocol = Some(super::ProtocolSettings::Grpc(std::sync::Arc::new(
            super::grpc::backend(
                value,
                &format!("{at}.extra_config.{}", super::grpc::BACKEND),
                &url_pattern,
                &hosts,
                context.grpc_catalog,
            )?,
        )));
    }
    if let Some((namespace, value, amqp_at)) = &amqp {
        only_one_kind(&protocol, amqp_at.clone())?;
        let mut settings = super::amqp::settings(
            namespace,
            value,
            amqp_at,
            &hosts,
            &format!("{at}.host"),
            &url_pattern,
        )?;
        settings.decoding = (encoding, raw.is_collection.unwrap_or(false));
        if hosts.len() > 1 {
            unknown.warnings.push(Problem::new(
                format!("{at}.host"),
                "krakend-amqp connects to the first host only; the others are not used",
            ));
        }
        protocol = Some(super::ProtocolSettings::Amqp(Box::new(settings)));
    }
    // A publisher's answer carries no data to decode (`upstream::kind::nats`).
    let encoding = match &protocol {
        Some(super::ProtocolSettings::Nats(nats)) if nats.role == super::PubSubRole::Publish => {
            BackendEncoding::Json
        }
        _ => encoding,
    };
    if protocol.is_some() {
        refuse_protocol_where_streamed(&extra, context.endpoint_output, &at)?;
    }
    if matches!(protocol, Some(super::ProtocolSettings::Grpc(_)))
        && !matches!(encoding, BackendEncoding::Json | BackendEncoding::SafeJson)
    {
        // A gRPC answer is turned into a JSON document (`upstream::kind::grpc`).
        return Err(Problem::new(
            format!("{at}.encoding"),
            "a gRPC backend's answer is a JSON document: remove \"encoding\" or write \"json\"",
        ));
    }

    let mut backend = Backend {
        url_pattern,
        hosts,
        method,
        encoding,
        manipulation: ManipulationSpec {
            target: raw.target.filter(|t| !t.is_empty()),
            allow: raw.allow.unwrap_or_default(),
            deny: raw.deny.unwrap_or_default(),
            mapping: raw.mapping.unwrap_or_default().into_iter().collect(),
            group: raw.group.filter(|g| !g.is_empty()),
            is_collection: raw.is_collection.unwrap_or(false),
            flatmap: extra.flatmap,
            modifiers: extra.modifiers,
        },
        return_error_code: extra.return_error_code,
        return_error_details: extra.return_error_details,
        circuit_breaker: extra.circuit_breaker,
        rate_limit: extra.rate_limit,
        redis_rate_limit: match &extra.redis_rate_limit {
            None => None,
            Some((limit_at, value)) => super::ratelimit_redis::build(
                value,
                limit_at,
                super::ratelimit_redis::Level::Backend,
                context.redis,
                &mut unknown.warnings,
            )?,
        },
        cel: extra.cel,
        input_headers: own_list(raw.input_headers, |name| name.to_ascii_lowercase()),
        input_query_strings: own_list(raw.input_query_strings, str::to_owned),
        chunked_request_body: false,
        shadow: extra.shadow.map(|own| own.unwrap_or(context.timeout)),
        send_body_on_redirect: extra.send_body_on_redirect,
        client_credentials: extra.client_credentials,
        martian: extra.martian.map(std::sync::Arc::new),
        http_cache: extra.http_cache,
        lua: extra.lua,
        protocol,
    };
    if let Some(super::ProtocolSettings::Amqp(settings)) = &backend.protocol
        && matches!(settings.role, super::AmqpRole::Producer(_))
    {
        // krakend-amqp's producer answers `IsComplete` with no data and no
        // entity formatter: nothing of the backend's own manipulation
        // applies, whatever its encoding (`upstream::kind::amqp`).
        backend.encoding = BackendEncoding::Json;
        backend.manipulation = ManipulationSpec::default();
    }
    Ok(backend)
}

/// A backend has one kind: the namespace of a second one, at `at`, is
/// refused.
fn only_one_kind(protocol: &Option<super::ProtocolSettings>, at: String) -> BuildResult<()> {
    match protocol {
        None => Ok(()),
        Some(_) => Err(Problem::new(
            at,
            "a backend is called one way: keep one of backend/amqp, backend/graphql, backend/grpc and backend/pubsub",
        )),
    }
}

/// A non-HTTP backend answers with one whole document: it cannot be a
/// shadow (mirrored with the client's raw request) nor stream a no-op
/// endpoint's answer, which both go over HTTP (`proxy::shadow`,
/// `proxy::noop`).
fn refuse_protocol_where_streamed(
    extra: &extra::BackendExtra,
    output: OutputEncoding,
    at: &str,
) -> BuildResult<()> {
    if extra.shadow.is_some() {
        return Err(Problem::new(
            format!("{at}.extra_config.proxy.shadow"),
            "cuttle mirrors shadow requests over HTTP only; remove \"shadow\" from this backend or make it an HTTP backend",
        ));
    }
    if output == OutputEncoding::NoOp {
        return Err(Problem::new(
            at.to_string(),
            "a no-op endpoint streams an HTTP backend's answer; this backend is not HTTP: give the endpoint another output_encoding (e.g. \"json\")",
        ));
    }
    Ok(())
}

/// A backend's own `input_headers` / `input_query_strings`: `None` when
/// absent or empty (lura skips its filter when `len == 0`). Unlike the
/// endpoint's, `"*"` is no wildcard: lura looks every listed name up in
/// what the endpoint passed, and none is called `*`.
fn own_list(names: Option<Vec<String>>, normalize: impl Fn(&str) -> String) -> Option<Vec<String>> {
    let mut kept: Vec<String> = Vec::new();
    for name in names.unwrap_or_default().iter().map(|name| normalize(name)) {
        if !kept.contains(&name) {
            kept.push(name);
        }
    }
    (!kept.is_empty()).then_some(kept)
}

/// Default `json`. A `no-op` endpoint makes the backend encoding `no-op`,
/// with a warning when the file says otherwise (as KrakenD does).
fn backend_encoding(
    text: Option<&str>,
    endpoint_output: OutputEncoding,
    at: &str,
    unknown: &mut Unknown,
) -> BuildResult<BackendEncoding> {
    let no_op_endpoint = endpoint_output == OutputEncoding::NoOp;
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(if no_op_endpoint {
            BackendEncoding::NoOp
        } else {
            BackendEncoding::Json
        });
    };
    if no_op_endpoint {
        // lura's `initBackendDefaults` (config/config.go) sets the backend
        // encoding of a no-op endpoint to no-op, whatever the file says.
        if keywords::backend_encoding(text) != Ok(BackendEncoding::NoOp) {
            unknown.warnings.push(Problem::new(
                format!("{at}.encoding"),
                format!(
                    "\"{text}\" is ignored: the endpoint's output_encoding is \"no-op\", so the backend's response is passed through undecoded (as in KrakenD); set the backend \"encoding\" to \"no-op\" or remove it"
                ),
            ));
        }
        return Ok(BackendEncoding::NoOp);
    }
    let encoding = keywords::backend_encoding(text).unwrap_or_else(|message| {
        unknown.warnings.push(Problem::new(
            format!("{at}.encoding"),
            format!("{message}; the response is decoded as JSON (as in KrakenD)"),
        ));
        BackendEncoding::Json
    });
    Ok(encoding)
}
