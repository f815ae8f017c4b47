//! Where krakend-lua's scripts meet the request path (the engine is
//! `crate::lua`). In KrakenD's order (ARCHITECTURE.md, "The order of
//! handlers"):
//!
//! - `modifier/lua-endpoint` (`Step::Lua`, after the JWT validator, before
//!   the rate limit: krakend-ce `handler_factory.go`) and the `pre` of
//!   `modifier/lua-proxy` (`Step::Lua`, the outermost layer of the proxy
//!   pipe, before CEL and the JSON schema: `proxy_factory.go`) see the
//!   client's request; what they change is kept in
//!   [`LuaFacts`] and applied to every backend call ([`call`]);
//! - `modifier/lua-backend` wraps one backend call ([`call`]): inside the
//!   circuit breaker and rate limit, around the HTTP call
//!   (`backend_factory.go`);
//! - the `post` of `modifier/lua-proxy` runs on the merged document
//!   ([`post`]), only when every backend answered, as krakend-lua skips it
//!   when the pipe returns an error.
//!
//! What a script writes is data: a header value with CR, LF or NUL, a
//! header name that is no token, a URL on another host, fail the call
//! instead of reaching the wire.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use serde_json::Value as Json;

use super::facts::{Refusal, RequestFacts};
use super::plan::{BackendPlan, EndpointPlan};
use super::plan::{LuaLevel as Level, LuaStep};
use super::request::ClientRequest;
use crate::config::BackendEncoding;
use crate::lua::objects::{
    RequestData, ResponseData, bind_ctx, bind_proxy_request, bind_response, canonical,
    header_name_ok, header_safe,
};
use crate::lua::{Failure, Phase, Script};
use crate::pipeline::{Literals, Value};
use crate::upstream::{BackendError, Request, Response};

/// The most distinct Content-Types `custom_error` may give refusals on
/// one worker; others go without one.
const MAX_CONTENT_TYPES: usize = 64;

thread_local! {
    static CONTENT_TYPES: RefCell<Vec<&'static [u8]>> = const { RefCell::new(Vec::new()) };
}

/// A refusal's Content-Type lives as long as the worker (`Refusal` holds
/// `&'static` ones): each distinct value a script names is kept once, up to
/// [`MAX_CONTENT_TYPES`]. A value that is no header value is dropped.
fn interned(content_type: &str) -> Option<&'static [u8]> {
    if !header_safe(content_type) || content_type.is_empty() {
        return None;
    }
    CONTENT_TYPES.with(|types| {
        let mut types = types.borrow_mut();
        if let Some(found) = types.iter().find(|t| **t == content_type.as_bytes()) {
            return Some(*found);
        }
        if types.len() >= MAX_CONTENT_TYPES {
            return None;
        }
        let kept: &'static [u8] = Box::leak(content_type.as_bytes().to_vec().into_boxed_slice());
        types.push(kept);
        Some(kept)
    })
}

impl LuaStep {
    /// Runs the script's `pre` on the client's request; the endpoint
    /// timeout counts from the request's start (`now`, the steps' clock).
    pub async fn check(
        &self,
        plan: &EndpointPlan,
        req: &ClientRequest<'_>,
        facts: &mut RequestFacts,
        now: Instant,
    ) -> Result<(), Refusal> {
        let data = Rc::new(RefCell::new(client_view(plan, req, self.level)));
        let original = data.borrow().headers.clone();
        let deadline = now + plan.timeout;
        let run = self
            .script
            .run(Phase::Pre, deadline, |lua, env| match self.level {
                Level::Endpoint => bind_ctx(lua, env, &data),
                Level::Proxy => bind_proxy_request(lua, env, &data),
            })
            .await;
        if let Err(failure) = run {
            return Err(self.refusal(plan, failure));
        }
        let data = data.borrow();
        let changed = data.changed;
        if changed.method || changed.url || changed.path || changed.params || changed.host {
            return Err(self.refusal(
                plan,
                Failure {
                    status: None,
                    content_type: None,
                    message: "lua: cuttle does not let an endpoint or proxy script change the method, URL, path, host or parameters".into(),
                },
            ));
        }
        let lua = &mut facts.lua;
        if changed.headers {
            // A header a router script sets reaches the backends only
            // through the endpoint's input_headers, as lura builds its
            // request from gin's (`router/gin/endpoint.go` `NewRequest`).
            let passes = |name: &str| {
                self.level == Level::Proxy
                    || plan.input_headers.includes(&name.to_ascii_lowercase())
            };
            for (name, values) in &data.headers {
                if original.get(name) == Some(values) {
                    continue;
                }
                if !header_name_ok(name) || values.iter().any(|v| !header_safe(v)) {
                    return Err(self.refusal(plan, unsafe_header(name)));
                }
                if !passes(name) || framing(name) {
                    continue;
                }
                lua.dropped.push(name.to_ascii_lowercase());
                for value in values {
                    crate::http::write_header(&mut lua.added, name.as_bytes(), value.as_bytes());
                }
            }
            for name in original.keys().filter(|n| !data.headers.contains_key(*n)) {
                lua.dropped.push(name.to_ascii_lowercase());
            }
        }
        if changed.body {
            lua.body = Some(data.body.clone());
        }
        if changed.query {
            lua.query = Some(data.query.clone());
        }
        Ok(())
    }

    /// How a failed run answers. At router level krakend-lua aborts with
    /// the status alone (gin's `AbortWithError`: no body), adding the
    /// Content-Type `custom_error` named; in the proxy pipe the error goes
    /// to lura's endpoint handler: its status (500 for a plain error), and
    /// its text as the body with `return_error_msg`.
    fn refusal(&self, plan: &EndpointPlan, failure: Failure) -> Refusal {
        let status = failure.status.unwrap_or(500);
        tracing::error!(endpoint = %plan.path, "[Lua] {}", failure.message);
        match self.level {
            Level::Endpoint => Refusal {
                status,
                content_type: failure.content_type.as_deref().and_then(interned),
                body: Vec::new(),
                completed_header: false,
            },
            Level::Proxy => {
                let with_text = self.return_error_msg;
                let body = if with_text {
                    failure.message.into_bytes()
                } else {
                    Vec::new()
                };
                let content_type = match failure.content_type.as_deref().and_then(interned) {
                    Some(t) if with_text => Some(t),
                    _ if !body.is_empty() => Some(b"text/plain; charset=utf-8".as_slice()),
                    _ => None,
                };
                Refusal {
                    status,
                    content_type,
                    body,
                    completed_header: true,
                }
            }
        }
    }
}

/// Fields the gateway writes itself (framing, the connection, the host):
/// a script's value for one is left out, so it can never frame a message
/// differently from its body or smuggle a second one.
fn framing(name: &str) -> bool {
    let name = name.as_bytes();
    crate::http::is_hop_by_hop(name)
        || [&b"content-length"[..], b"host", b"date"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
}

fn unsafe_header(name: &str) -> Failure {
    Failure {
        status: None,
        content_type: None,
        message: format!(
            "lua: the script set header {name:?} to a value that is no header field (CR, LF or NUL, or a bad name)"
        ),
    }
}

fn decoded(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    crate::pipeline::percent_decode(raw, &mut out);
    out
}

/// lura's parameter names: the first letter upper-case (`router/gin/endpoint.go`).
fn lura_param(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// The client's request as `ctx` (router) or lura's `request` (proxy) shows it.
fn client_view(plan: &EndpointPlan, req: &ClientRequest<'_>, level: Level) -> RequestData {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let path = text(req.path());
    let query = req.query().map(text).unwrap_or_default();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in &req.head.headers {
        let name = text(h.name.of(req.buf));
        // lura's proxy request holds only what input_headers let through.
        if level == Level::Proxy && !plan.input_headers.includes(&name.to_ascii_lowercase()) {
            continue;
        }
        headers
            .entry(canonical(&name))
            .or_default()
            .push(text(h.value.of(req.buf)));
    }
    let mut params = BTreeMap::new();
    for name in &plan.param_names {
        if let Some(raw) = req.param(plan, name) {
            let value = text(&decoded(raw));
            let key = match level {
                Level::Endpoint => name.to_string(),
                Level::Proxy => lura_param(name),
            };
            params.insert(key, value);
        }
    }
    RequestData {
        method: req.head.method.as_str().to_owned(),
        url: match level {
            Level::Endpoint if query.is_empty() => path.clone(),
            Level::Endpoint => format!("{path}?{query}"),
            // lura's proxy request has no URL until the backend's is built.
            Level::Proxy => String::new(),
        },
        host: req
            .head
            .host
            .map(|h| text(h.of(req.buf)))
            .unwrap_or_default(),
        path,
        query,
        params,
        headers,
        body: req.body.to_vec(),
        changed: Default::default(),
    }
}

/// Before a sequential call: the `sequential_propagated_params` values of
/// the responses so far, as lura's `sequentialMergerConfig` names them
/// (`resp0_a.b` becomes the parameter `Resp0_a.b`; `resp0` alone is the
/// whole body of a no-op backend).
pub fn propagate(
    plan: &EndpointPlan,
    facts: &RequestFacts,
    index: usize,
    docs: &[Value<'static>],
    raw: &[Option<&[u8]>],
) {
    if index == 0 || plan.propagated_params.is_empty() {
        return;
    }
    let mut out = Vec::new();
    for (backend, path) in &plan.propagated_params {
        let key = match path {
            Some(path) => format!("Resp{backend}_{path}"),
            None => format!("Resp{backend}"),
        };
        let value = match path {
            None => raw
                .get(*backend)
                .copied()
                .flatten()
                .map(|body| String::from_utf8_lossy(body).into_owned()),
            Some(path) => docs.get(*backend).and_then(|doc| {
                let found = crate::pipeline::lookup(doc, path)?;
                let mut text = Vec::new();
                crate::pipeline::sequential_text(found, &mut text)
                    .then(|| String::from_utf8_lossy(&text).into_owned())
            }),
        };
        if let Some(value) = value {
            out.push((key, value));
        }
    }
    *facts.lua.propagated.borrow_mut() = out;
}

/// What [`call`] needs of the endpoint's request.
pub struct Endpoint<'a> {
    pub plan: &'a EndpointPlan,
    pub req: &'a ClientRequest<'a>,
    pub facts: &'a RequestFacts,
    /// When the request's steps began: a backend script's deadline is the
    /// endpoint timeout from there, never later than the timer that bounds
    /// the backend calls (started after the steps), so a runaway script
    /// ends with its own error rather than as a plain backend timeout.
    pub started: Instant,
}

/// The request a backend gets after the endpoint's and its own scripts,
/// the call itself (unless `skip_next`), and its `post`.
/// `send` makes the call itself (`modifier/martian`, `qos/http-cache` and
/// the HTTP client, below the script as in krakend-ce's backend factory).
pub async fn call(
    ctx: &Endpoint<'_>,
    backend: &BackendPlan,
    host: usize,
    request: Request<'_>,
    send: impl AsyncFnOnce(Request<'_>) -> Result<Response, BackendError>,
) -> Result<Response, BackendError> {
    let edits = &ctx.facts.lua;
    // The endpoint scripts' changes, for every backend.
    let mut headers = request.headers.to_vec();
    if edits.touched() {
        headers = drop_lines(&headers, &edits.dropped);
        headers.extend_from_slice(&edits.added);
    }
    let mut body = match &edits.body {
        Some(body)
            if !matches!(
                request.method,
                crate::http::Method::Get | crate::http::Method::Head
            ) =>
        {
            body.clone()
        }
        _ => request.body.to_vec(),
    };
    let mut target = request.path_and_query.to_vec();
    if let Some(query) = &edits.query {
        target = with_query(ctx.plan, &target, query);
    }
    let mut method = request.method;
    let Some(script) = &backend.lua else {
        let request = Request {
            method,
            path_and_query: &target,
            headers: &headers,
            body: &body,
            ..request
        };
        return send(request).await;
    };
    let deadline = ctx.started + ctx.plan.timeout;
    let base = backend.base_urls.get(host).map_or("", String::as_str);
    let data = Rc::new(RefCell::new(backend_view(
        ctx, base, method, &target, &headers, &body,
    )));
    let script_error = |failure: Failure| {
        tracing::error!(backend = %backend.status_prefix, "[Lua] {}", failure.message);
        BackendError::Script {
            status: failure.status.unwrap_or(500),
            content_type: failure.content_type,
            message: failure.message,
        }
    };
    if script.has(Phase::Pre) {
        script
            .run(Phase::Pre, deadline, |lua, env| {
                bind_proxy_request(lua, env, &data)
            })
            .await
            .map_err(script_error)?;
        let data = data.borrow();
        let changed = data.changed;
        if changed.method {
            method = crate::http::Method::from_bytes(data.method.as_bytes()).ok_or_else(|| {
                script_error(Failure {
                    status: None,
                    content_type: None,
                    message: format!("lua: {:?} is no method cuttle sends", data.method),
                })
            })?;
        }
        if changed.url || changed.query || changed.path {
            target = new_target(base, &data, changed.url).map_err(script_error)?;
        }
        if changed.headers {
            headers.clear();
            for (name, values) in &data.headers {
                if !header_name_ok(name) || values.iter().any(|v| !header_safe(v)) {
                    return Err(script_error(unsafe_header(name)));
                }
                if framing(name) {
                    continue;
                }
                for value in values {
                    crate::http::write_header(&mut headers, name.as_bytes(), value.as_bytes());
                }
            }
        }
        if changed.body {
            body = data.body.clone();
        }
    }
    let mut response = if script.settings.skip_next {
        // krakend-lua's empty `proxy.Response{}`: no data, incomplete.
        Response {
            status: 200,
            content_type: None,
            body: b"{}".to_vec(),
        }
    } else {
        let request = Request {
            method,
            path_and_query: &target,
            headers: &headers,
            body: &body,
            ..request
        };
        send(request).await?
    };
    if script.has(Phase::Post) && matches!(response.status, 200 | 201) {
        post_backend(script, backend, deadline, &mut response)
            .await
            .map_err(script_error)?;
    }
    Ok(response)
}

/// The header lines of `block` whose names are not in `dropped` (lower-case).
fn drop_lines(block: &[u8], dropped: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len());
    for line in block.split_inclusive(|&b| b == b'\n') {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        if !dropped
            .iter()
            .any(|d| d.as_bytes().eq_ignore_ascii_case(name))
        {
            out.extend_from_slice(line);
        }
    }
    out
}

/// `target` with its query replaced by the endpoint script's, filtered by
/// the endpoint's `input_query_strings` as lura filters the client's.
fn with_query(plan: &EndpointPlan, target: &[u8], query: &str) -> Vec<u8> {
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let mut out = path.to_vec();
    let keep = |name: &[u8]| {
        plan.input_query_strings
            .includes(&String::from_utf8_lossy(name))
    };
    crate::http::query::encode_kept(query.as_bytes(), keep, b'?', &mut out);
    out
}

/// lura's request as `modifier/lua-backend` sees it: the URL the
/// load balancer built (host, path, query), the parameters (lura's names,
/// plus the propagated ones of a sequential call).
fn backend_view(
    ctx: &Endpoint<'_>,
    base: &str,
    method: crate::http::Method,
    target: &[u8],
    headers: &[u8],
    body: &[u8],
) -> RequestData {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (path, query) = match target.iter().position(|&b| b == b'?') {
        Some(q) => (text(&target[..q]), text(&target[q + 1..])),
        None => (text(target), String::new()),
    };
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in headers.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        map.entry(canonical(&text(&line[..colon])))
            .or_default()
            .push(text(line[colon + 1..].trim_ascii()));
    }
    let plan = ctx.plan;
    let mut params = BTreeMap::new();
    for name in &plan.param_names {
        if let Some(raw) = ctx.req.param(plan, name) {
            params.insert(lura_param(name), text(&decoded(raw)));
        }
    }
    for (k, v) in ctx.facts.lua.propagated.borrow_mut().drain(..) {
        params.insert(k, v);
    }
    RequestData {
        method: method.as_str().to_owned(),
        url: format!("{base}{}", text(target)),
        host: String::new(),
        path,
        query,
        params,
        headers: map,
        body: body.to_vec(),
        changed: Default::default(),
    }
}

/// The target a backend script's URL (or path and query) leads to. The
/// host cannot change: cuttle's connections are per backend host, and a
/// script is no way to reach a host the configuration does not name.
fn new_target(base: &str, data: &RequestData, url_changed: bool) -> Result<Vec<u8>, Failure> {
    let fail = |message: String| Failure {
        status: None,
        content_type: None,
        message,
    };
    let target = if url_changed {
        match data.url.strip_prefix(base) {
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            Some("") => "/".to_owned(),
            _ => {
                return Err(fail(format!(
                    "lua: the script's URL {:?} is not on the backend's host {base}",
                    data.url
                )));
            }
        }
    } else if data.query.is_empty() {
        data.path.clone()
    } else {
        format!("{}?{}", data.path, data.query)
    };
    // Data, never syntax: a request target is visible ASCII without '#'.
    let mut out = Vec::with_capacity(target.len());
    for &b in target.as_bytes() {
        match b {
            b'#' | b' ' | 0x7f.. | ..=0x1f => {
                out.extend_from_slice(format!("%{b:02X}").as_bytes());
            }
            _ => out.push(b),
        }
    }
    if !out.starts_with(b"/") {
        return Err(fail(format!("lua: {target:?} is no request path")));
    }
    Ok(out)
}

/// A backend's `post`: on its decoded JSON; the document it leaves is
/// what the gateway decodes and manipulates next.
async fn post_backend(
    script: &Script,
    backend: &BackendPlan,
    deadline: Instant,
    response: &mut Response,
) -> Result<(), Failure> {
    let mut literals = Literals::default();
    let doc = crate::pipeline::decode(
        backend.encoding,
        backend.is_collection,
        &mut response.body,
        &mut literals,
    )
    .map_err(|e| Failure {
        status: None,
        content_type: None,
        message: e.to_string(),
    })?;
    let json = to_json(&doc, &mut literals);
    drop(doc);
    let data = ResponseData {
        data: Rc::new(RefCell::new(json)),
        is_complete: true,
        status: response.status,
        headers: BTreeMap::new(),
        body: None,
    };
    let data = Rc::new(RefCell::new(data));
    script
        .run(Phase::Post, deadline, |lua, env| {
            bind_response(lua, env, &data)
        })
        .await?;
    let data = data.borrow();
    let doc = data.data.borrow();
    // The decoded form of a collection is {"collection": [...]}: the body
    // holds the array again.
    let doc = match (
        &*doc,
        backend.is_collection && backend.encoding == BackendEncoding::Json,
    ) {
        (Json::Object(map), true) => map
            .get("collection")
            .cloned()
            .unwrap_or(Json::Array(Vec::new())),
        (other, _) => other.clone(),
    };
    response.body = serde_json::to_vec(&doc).unwrap_or_default();
    Ok(())
}

/// A document as JSON for the scripts (numbers as the backend wrote them).
fn to_json(value: &Value<'_>, literals: &mut Literals) -> Json {
    let mut text = Vec::new();
    crate::pipeline::with_literals(literals, || {
        crate::pipeline::encode(value, crate::pipeline::Rendered::Json, &mut text)
    });
    serde_json::from_slice(&text).unwrap_or(Json::Null)
}

/// What the `post` of `modifier/lua-proxy` did to a response.
pub struct Posted {
    /// Header fields to add (Go's canonical names, values checked).
    pub headers: Vec<(String, String)>,
    pub complete: bool,
}

/// Whether the endpoint has a `modifier/lua-proxy` `post`.
pub fn has_post(plan: &EndpointPlan) -> bool {
    plan.lua_proxy.as_ref().is_some_and(|s| s.has(Phase::Post))
}

/// The `post` of `modifier/lua-proxy` on the merged document `value`.
pub async fn post(
    plan: &EndpointPlan,
    value: &mut Value<'_>,
    literals: &mut Literals,
    complete: bool,
) -> Result<Option<Posted>, Failure> {
    let Some(script) = plan.lua_proxy.as_ref().filter(|s| s.has(Phase::Post)) else {
        return Ok(None);
    };
    let data = ResponseData {
        data: Rc::new(RefCell::new(to_json(value, literals))),
        is_complete: complete,
        status: 200,
        headers: BTreeMap::new(),
        body: None,
    };
    let data = Rc::new(RefCell::new(data));
    let deadline = Instant::now() + plan.timeout;
    script
        .run(Phase::Post, deadline, |lua, env| {
            bind_response(lua, env, &data)
        })
        .await?;
    let data = data.borrow();
    let text = serde_json::to_string(&*data.data.borrow()).unwrap_or_default();
    *value = crate::pipeline::parse_owned(&text).map_err(|e| Failure {
        status: None,
        content_type: None,
        message: e.to_string(),
    })?;
    let mut headers = Vec::new();
    for (name, values) in &data.headers {
        if !header_name_ok(name) || values.iter().any(|v| !header_safe(v)) {
            return Err(unsafe_header(name));
        }
        if framing(name) || name.eq_ignore_ascii_case("content-type") {
            continue;
        }
        for v in values {
            headers.push((name.clone(), v.clone()));
        }
    }
    Ok(Some(Posted {
        headers,
        complete: data.is_complete,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_lines_go_whatever_their_case() {
        let block = b"Accept: a\r\nX-A: 1\r\nx-b: 2\r\n";
        let out = drop_lines(block, &["x-a".into(), "x-b".into()]);
        assert_eq!(out, b"Accept: a\r\n");
    }

    #[test]
    fn a_script_url_stays_on_the_backend_host() {
        let data = |url: &str| RequestData {
            url: url.into(),
            ..Default::default()
        };
        let base = "http://127.0.0.1:8081";
        assert_eq!(
            new_target(base, &data("http://127.0.0.1:8081/a/42"), true).unwrap(),
            b"/a/42"
        );
        assert!(new_target(base, &data("http://127.0.0.1:80812/a"), true).is_err());
        assert!(new_target(base, &data("http://evil/a"), true).is_err());
        assert_eq!(
            new_target(base, &data("http://127.0.0.1:8081/a b\r\n"), true).unwrap(),
            b"/a%20b%0D%0A"
        );
    }
}
