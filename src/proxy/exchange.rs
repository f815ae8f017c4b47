//! The one request path, whatever protocol the client spoke: edge screen,
//! built-ins, routing (404/405/redirects), parameter checks, steps before,
//! backend calls, steps after, finish. The codec (`server::conn` for
//! HTTP/1.1, `server::h2` for HTTP/2) builds an [`Incoming`] and a
//! `ResponseSink` and calls [`serve`]; it keeps framing and I/O (as
//! hyper's `proto::h1::Conn` does, with the decisions in its `Dispatch`).

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::builtin;
use super::edge::{EdgeRequest, Screen};
use super::facts::RequestFacts;
use super::fanout::CallContext;
use super::noop::{NoOpEnd, relay};
use super::request::{ClientRequest, backend_headers, params_fit_segments};
use super::respond::{Body, ResponseContext, finish, write_refusal};
use super::service::Service;
use super::steps::{StepInput, run_before};
use super::websocket::{Session, upgrade};
use crate::config::OutputEncoding;
use crate::http::{Method, RequestHead, ResponseSink};
use crate::router::{Params, RouteMatch};
use crate::rt::Timer;

/// A request as the codec received it: the head's spans index `buf` (the
/// HTTP/1.1 read buffer, or the buffer the HTTP/2 codec copied a stream's
/// fields into); the body is whole.
pub struct Incoming<'a> {
    pub head: &'a RequestHead,
    pub buf: &'a [u8],
    pub body: &'a [u8],
    pub peer: SocketAddr,
    /// The client's address (`server::client_ip`).
    pub client: IpAddr,
    /// The client reached us over TLS.
    pub secure: bool,
    /// The worker's IMF-fixdate of the current second.
    pub date: &'a [u8],
    /// Set to the endpoint the request is routed to, for the log line of a
    /// panic.
    pub endpoint: &'a Cell<Option<usize>>,
}

/// Buffers and the timer a codec keeps across its requests (a connection's
/// or a stream's), so a request allocates none of them anew.
#[derive(Default)]
pub struct Scratch {
    /// The encoded response body.
    pub body: Vec<u8>,
    /// The header lines of the backend requests.
    pub headers: Vec<u8>,
    /// The backend request being written.
    pub scratch: Vec<u8>,
    /// Header lines the edge screen adds to this request's response.
    pub decor: Vec<u8>,
    /// Bounds the backend calls of a request (the endpoint timeout).
    pub timer: Timer,
}

impl Scratch {
    /// A large response must not pin its memory for the rest of a
    /// keep-alive connection's life.
    pub fn release_beyond(&mut self, keep: usize) {
        for buf in [&mut self.body, &mut self.scratch] {
            if buf.capacity() > keep {
                *buf = Vec::new();
            }
        }
    }
}

/// What became of a request, for the codec and its observer. The status
/// is the sink's (`ResponseSink::written_status`).
pub struct Exchanged {
    /// `X-KrakenD-Completed`, when the response carries it.
    pub completed: Option<bool>,
    /// A clock reading taken as the response was ready (the proxy stage's
    /// end), when one was taken.
    pub ended: Option<Instant>,
    /// A streamed (no-op) response: its announced body length and whether
    /// it went out whole. `None`: the response is buffered in the sink,
    /// for the codec to send.
    pub streamed: Option<(usize, bool)>,
    /// A WebSocket handshake both sides accepted (the 101 is in the sink):
    /// the codec relays the session over its connection.
    pub upgraded: Option<Box<Session>>,
    /// The request's trace, whose server span the observer ends.
    pub trace: Option<crate::telemetry::RequestTrace>,
}

impl Exchanged {
    fn buffered(completed: Option<bool>) -> Exchanged {
        Exchanged {
            completed,
            ended: None,
            streamed: None,
            upgraded: None,
            trace: None,
        }
    }
}

/// Answers one request into `out`.
pub async fn serve<S: ResponseSink>(
    service: &Service,
    req: &Incoming<'_>,
    bufs: &mut Scratch,
    out: &mut S,
) -> Exchanged {
    // Tracing (`crate::telemetry`): the request's trace, decided before
    // anything else, as krakend-otel's handler wraps gin's engine.
    let Some(tracer) = &service.tracer else {
        return answer(service, req, bufs, out, None).await;
    };
    let trace = tracer.begin(req.head, req.buf, req.client);
    let traced = trace
        .as_ref()
        .map(|request| crate::telemetry::Traced { tracer, request });
    let mut exchanged = answer(service, req, bufs, out, traced).await;
    exchanged.trace = trace;
    exchanged
}

async fn answer<S: ResponseSink>(
    service: &Service,
    req: &Incoming<'_>,
    bufs: &mut Scratch,
    out: &mut S,
    trace: Option<crate::telemetry::Traced<'_>>,
) -> Exchanged {
    let Scratch {
        body: response_body,
        headers,
        scratch,
        decor,
        timer,
    } = bufs;
    let (head, buf) = (req.head, req.buf);
    let path = head.path.of(buf);
    decor.clear();
    let screen = service.edge.screen(
        &EdgeRequest {
            head,
            buf,
            peer: req.peer,
            secure: req.secure,
        },
        decor,
    );
    let ctx = context(service, req, decor);
    if let Screen::Answer(refusal) = screen {
        write_refusal(&ctx, &refusal, out);
        return Exchanged::buffered(None);
    }
    if let Some(()) = builtin::answer(service, head, buf, req.body, &ctx, out) {
        return Exchanged::buffered(None);
    }
    let router = &service.config.router;
    // gin's `RemoveExtraSlash`: the cleaned path is routed, and the
    // parameters are taken from it.
    let cleaned;
    let routed: &[u8] = if router.remove_extra_slash && !crate::router::is_clean(path) {
        cleaned = crate::router::clean_path(path);
        &cleaned
    } else {
        path
    };
    let (endpoint, params): (usize, Params) = match service.router.route(head.method, routed) {
        RouteMatch::Found { endpoint, params } => (endpoint, params),
        RouteMatch::MethodNotAllowed if head.method == Method::Options && router.auto_options => {
            decor.extend_from_slice(&service.version_header);
            let ctx = context(service, req, decor);
            write_auto_options(out, &service.router.allowed_methods(routed), &ctx);
            return Exchanged::buffered(None);
        }
        RouteMatch::NotFound {
            redirect: Some(location),
        } => {
            write_redirect(out, head, buf, &location, &ctx);
            return Exchanged::buffered(None);
        }
        RouteMatch::MethodNotAllowed | RouteMatch::NotFound { redirect: None } => {
            // krakend-ce's NoRoute and NoMethod handlers (`router_engine.go`,
            // `defaultHandler`) name the gateway and call the response
            // incomplete, with or without an `error_body`.
            decor.extend_from_slice(&service.version_header);
            let ctx = context(service, req, decor);
            // gin's `serveError` (text) or krakend-ce's `jsonHandler`
            // for a configured `error_body`. Without gin's
            // `HandleMethodNotAllowed` every miss is a 404.
            let allow = router
                .method_not_allowed
                .then(|| service.allow_for_405(head.method, routed))
                .flatten();
            let (status, error_body, plain): (u16, _, &[u8]) = match allow {
                Some(_) => (405, &router.error_body_405, b"405 method not allowed"),
                None => (404, &router.error_body_404, b"404 page not found"),
            };
            let (content_type, body): (&[u8], &[u8]) = match error_body {
                Some(json) => (b"application/json; charset=utf-8", json),
                None => (b"text/plain", plain),
            };
            let allow = allow.as_deref();
            write_router_answer(out, status, allow, content_type, body, true, &ctx);
            return Exchanged::buffered(Some(false));
        }
    };
    req.endpoint.set(Some(endpoint));
    if let Some(metrics) = &service.metrics {
        metrics.routed();
    }
    // lura's `paramChecker` runs before the endpoint handler: its 400
    // has neither `X-Krakend` nor `X-KrakenD-Completed`, and its body
    // is the error whatever `return_error_msg` says.
    if router.refuse_encoded_params
        && let Some(reason) = params.iter().find_map(|&(start, end)| {
            crate::router::encoded_param(&routed[start as usize..end as usize])
        })
    {
        write_router_answer(
            out,
            400,
            None,
            b"text/plain; charset=utf-8",
            reason.as_bytes(),
            false,
            &ctx,
        );
        return Exchanged::buffered(None);
    }
    // KrakenD's endpoint handler names itself on every response.
    decor.extend_from_slice(&service.version_header);
    let ctx = context(service, req, decor);
    #[cfg(debug_assertions)]
    service.test_panic_trigger(endpoint);
    let plan = &service.endpoints[endpoint];
    let client_request = ClientRequest {
        buf,
        head,
        routed,
        params: &params,
        body: req.body,
        peer: req.client,
    };
    if !params_fit_segments(plan, &client_request) {
        // A dot segment or an encoded slash would move the backend path.
        write_router_answer(
            out,
            400,
            None,
            b"text/plain",
            b"400 bad request: invalid path parameter",
            false,
            &ctx,
        );
        return Exchanged::buffered(None);
    }
    let mut facts = RequestFacts::default();
    let input = StepInput {
        plan,
        req: &client_request,
        now: Instant::now(),
    };
    if let Err(refusal) = run_before(&input, &mut facts).await {
        write_refusal(&ctx, &refusal, out);
        return Exchanged::buffered(refusal.completed_header.then_some(false));
    }
    if plan.websocket.is_some() {
        // A handshake passed the edge screen and the endpoint's steps as
        // any request does; the session is the codec's to relay.
        // Boxed: the handshake's state must not grow every request's future.
        let upgrading = upgrade(plan, &client_request, &facts, &ctx, S::UPGRADES, out);
        let upgraded = Box::pin(upgrading).await.map(Box::new);
        let status = out.written_status();
        return Exchanged {
            upgraded,
            ..Exchanged::buffered((status == 500).then_some(false))
        };
    }
    headers.clear();
    backend_headers(plan, &client_request, &facts, headers);
    // Tracing: a `traceparent` every call of the request shares (one not
    // sampled) goes into the shared block, written without allocating.
    if let Some(t) = trace {
        t.tracer.inject_shared(t.request, headers);
    }
    let call = CallContext {
        plan,
        req: &client_request,
        pools: &service.pools,
        headers,
        max_body: service.config.limits.max_response_bytes,
        facts: &facts,
        metrics: service.metrics.as_ref(),
        endpoint,
        started: input.now,
        lone_call: Cell::new(None),
        trace,
    };
    if plan.output == OutputEncoding::NoOp {
        let relayed = relay(&call, &ctx, out, scratch, timer).await;
        return Exchanged {
            completed: Some(false),
            ended: None,
            streamed: Some((relayed.body_bytes, matches!(relayed.end, NoOpEnd::Done))),
            upgraded: None,
            trace: None,
        };
    }
    let handled = super::handle::handle(&call, &ctx, response_body, out, timer).await;
    Exchanged {
        completed: Some(handled.complete),
        ended: handled.ended,
        streamed: None,
        upgraded: None,
        trace: None,
    }
}

/// Whether the codec should leave a body that has not all arrived with its
/// head to the request path, which streams it to the backend
/// (`noop::streams_body`), rather than read it whole first. Routes the
/// request as [`serve`] will (the codec asks only when the body is still
/// coming, so the usual small request is routed once).
pub fn streams_body(service: &Service, head: &RequestHead, buf: &[u8]) -> bool {
    let path = head.path.of(buf);
    let cleaned;
    let routed: &[u8] =
        if service.config.router.remove_extra_slash && !crate::router::is_clean(path) {
            cleaned = crate::router::clean_path(path);
            &cleaned
        } else {
            path
        };
    match service.router.route(head.method, routed) {
        RouteMatch::Found { endpoint, .. } => {
            super::noop::streams_body(&service.endpoints[endpoint])
        }
        _ => false,
    }
}

/// What every response to this request shares (and the edge's header lines).
fn context<'a>(service: &Service, req: &Incoming<'a>, decor: &'a [u8]) -> ResponseContext<'a> {
    ResponseContext {
        accept: req.head.header(req.buf, "accept"),
        date: req.date,
        head_only: req.head.method == Method::Head,
        return_error_msg: service.config.return_error_msg,
        decor,
    }
}

/// `router.auto_options`: an OPTIONS request to a path with routes for
/// other methods gets 200 and the list of them, as KrakenD's router does
/// (lura `registerOptionEndpoints`: `sort.Strings`, so alphabetical).
fn write_auto_options<S: ResponseSink>(out: &mut S, methods: &[Method], ctx: &ResponseContext<'_>) {
    let mut names: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
    names.sort_unstable();
    let allow = names.join(", ");
    out.status(200);
    out.header(b"Allow", allow.as_bytes());
    finish(ctx, Body::Whole(b""), out);
}

/// An answer of the router itself (404, 405, a refused parameter); `allow`
/// is a 405's `Allow`.
fn write_router_answer<S: ResponseSink>(
    out: &mut S,
    status: u16,
    allow: Option<&str>,
    content_type: &[u8],
    body: &[u8],
    completed_header: bool,
    ctx: &ResponseContext<'_>,
) {
    out.status(status);
    if let Some(allow) = allow {
        out.header(b"Allow", allow.as_bytes());
    }
    out.header(b"Content-Type", content_type);
    if completed_header {
        out.header(b"X-KrakenD-Completed", b"false");
    }
    finish(ctx, Body::Whole(body), out);
}

/// A path that differs from a route only by case, extra slashes or dots, or
/// a trailing slash is redirected to it, as KrakenD's router does: 301 for
/// GET, 307 otherwise, with the body Go's `http.Redirect` writes (a link,
/// for GET only; a Content-Type for GET and HEAD).
fn write_redirect<S: ResponseSink>(
    out: &mut S,
    head: &RequestHead,
    buf: &[u8],
    location: &str,
    ctx: &ResponseContext<'_>,
) {
    let get = head.method == Method::Get;
    out.status(if get { 301 } else { 307 });
    let mut target = location.as_bytes().to_vec();
    if let Some(query) = head.query {
        target.push(b'?');
        target.extend_from_slice(query.of(buf));
    }
    out.header(b"Location", &target);
    if matches!(head.method, Method::Get | Method::Head) {
        out.header(b"Content-Type", b"text/html; charset=utf-8");
    }
    let mut body = Vec::new();
    if get {
        body.extend_from_slice(b"<a href=\"");
        for &b in &target {
            match b {
                b'&' => body.extend_from_slice(b"&amp;"),
                b'<' => body.extend_from_slice(b"&lt;"),
                b'>' => body.extend_from_slice(b"&gt;"),
                b'"' => body.extend_from_slice(b"&#34;"),
                b'\'' => body.extend_from_slice(b"&#39;"),
                _ => body.push(b),
            }
        }
        body.extend_from_slice(b"\">Moved Permanently</a>.\n\n");
    }
    finish(ctx, Body::Whole(&body), out);
}
