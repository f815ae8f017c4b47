//! OpenTelemetry traces (`telemetry/opentelemetry` with an OTLP exporter),
//! as krakend-otel records them: a server span per request
//! (`http/server`), a proxy span per endpoint pipeline (`lura/proxy.go`),
//! a span per backend call (`lura/backend.go`, `http/client`), W3C trace
//! context read from clients and sent to backends, and the finished spans
//! pushed over OTLP by one exporter thread (`export`).
//!
//! Per worker, a [`Tracer`] (built with the worker's configuration)
//! decides each request's trace ([`Tracer::begin`]); the request path
//! holds a [`RequestTrace`] and calls the `*_span` hooks. A request that is
//! not sampled costs a header lookup, a few random numbers and, with
//! propagation, its `traceparent` line: no allocation for the trace, no
//! clock read. Finished spans collect in the worker's buffer and go to the
//! exporter thread in batches (`try_send`; a full queue drops them and
//! counts them), never one at a time and never waiting.

pub mod context;
pub mod export;
pub mod otlp;
pub mod push;
pub mod sampler;
pub mod span;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::http::RequestHead;
use sampler::Sampler;
use span::{Attr, Kind, SpanData};

/// Spans a worker holds before it hands them to the exporter thread (and
/// on every observer tick, whatever it holds).
const HAND_OVER: usize = 64;

/// Attribute values taken from a request are cut to this many bytes.
const MAX_VALUE: usize = 1024;

struct EndpointNames {
    /// Its pattern is in `skip_paths`: no proxy or backend spans
    /// (krakend-otel `lura/proxy.go`, `SkipEndpoint(cfg.Endpoint)`).
    skipped: bool,
    route: Arc<str>,
    method: Arc<str>,
    backends: Vec<BackendNames>,
}

struct BackendNames {
    route: Arc<str>,
    method: Arc<str>,
    /// `server.address` of each host.
    hosts: Vec<Arc<str>>,
}

/// One worker's tracing state (rebuilt with each configuration).
pub struct Tracer {
    sampler: Sampler,
    server: bool,
    proxy: bool,
    backend: bool,
    propagation: bool,
    report_headers: bool,
    skip_headers: Vec<String>,
    skip_paths: Vec<String>,
    statics: [Option<span::Statics>; 3],
    endpoints: Vec<EndpointNames>,
    stage_global: Arc<str>,
    stage_proxy: Arc<str>,
    stage_backend: Arc<str>,
    queue: export::Queue,
    buffer: RefCell<Vec<SpanData>>,
    /// A monotonic reading and the Unix time (ns) it was taken at, to
    /// date spans from `Instant`s; moved on every tick.
    anchor: Cell<(Instant, u64)>,
}

/// What a request's spans share: the trace, the ids of the spans that
/// enclose the backend calls, and the server span being built.
pub struct RequestTrace {
    pub trace_id: [u8; 16],
    /// The server span's id; for a request not sampled, the parent id the
    /// backends see.
    pub server_id: [u8; 8],
    pub proxy_id: [u8; 8],
    /// The client's `traceparent` parent id.
    pub remote_parent: Option<[u8; 8]>,
    pub sampled: bool,
    /// The client's `tracestate`, checked, sent on with `traceparent`.
    pub state: Option<Arc<str>>,
    server: Cell<Option<Box<SpanData>>>,
    server_recorded: bool,
    proxy_recorded: bool,
}

impl RequestTrace {
    /// Whether the request's server span is recorded (the observer then
    /// reads the clock for it).
    pub fn records_server(&self) -> bool {
        self.server_recorded
    }
}

/// A traced request as the proxy sees it.
#[derive(Clone, Copy)]
pub struct Traced<'a> {
    pub tracer: &'a Tracer,
    pub request: &'a RequestTrace,
}

/// A backend call's span, between its start and end.
pub struct BackendSpan {
    id: [u8; 8],
    recording: bool,
}

impl BackendSpan {
    pub fn recording(&self) -> bool {
        self.recording
    }
}

fn shared(text: &str) -> Arc<str> {
    Arc::from(text)
}

fn cut(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(MAX_VALUE)];
    String::from_utf8_lossy(bytes).into_owned()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Tracer {
    /// The worker's tracer, when `config` traces and the exporter thread
    /// runs (`export::start`; `check` starts none).
    pub fn new(config: &Config) -> Option<Tracer> {
        let telemetry = config.telemetry.as_ref()?;
        let settings = telemetry.traces.as_ref()?;
        let queue = export::queue()?;
        let statics = |list: &Vec<(String, String)>| {
            (!list.is_empty()).then(|| Arc::from(list.clone().into_boxed_slice()))
        };
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| EndpointNames {
                skipped: telemetry.skip_paths.contains(&e.path),
                route: shared(&crate::metrics::route_label(&e.path, false)),
                method: shared(e.method.as_str()),
                backends: e
                    .backends
                    .iter()
                    .map(|b| BackendNames {
                        route: shared(&backend_route(&b.url_pattern)),
                        method: shared(b.method.as_str()),
                        hosts: b.hosts.iter().map(|h| shared(host_of(h))).collect(),
                    })
                    .collect(),
            })
            .collect();
        Some(Tracer {
            sampler: Sampler::new(settings.sample_rate),
            server: settings.global,
            proxy: settings.proxy,
            backend: settings.backend,
            propagation: settings.propagation,
            report_headers: settings.report_headers,
            skip_headers: settings.skip_headers.clone(),
            skip_paths: telemetry.skip_paths.clone(),
            statics: [
                statics(&settings.global_attributes),
                statics(&settings.proxy_attributes),
                statics(&settings.backend_attributes),
            ],
            endpoints,
            stage_global: shared("global"),
            stage_proxy: shared("proxy"),
            stage_backend: shared("backend"),
            queue,
            buffer: RefCell::new(Vec::new()),
            anchor: Cell::new((Instant::now(), unix_now())),
        })
    }

    /// Whether backends get `traceparent` (and the client's copies of it
    /// are not forwarded).
    pub fn propagates(config: &Config) -> bool {
        config
            .telemetry
            .as_ref()
            .and_then(|t| t.traces.as_ref())
            .is_some_and(|t| t.propagation)
    }

    fn unix(&self, at: Instant) -> u64 {
        let (instant, unix) = self.anchor.get();
        match at.checked_duration_since(instant) {
            Some(later) => unix + later.as_nanos() as u64,
            None => unix.saturating_sub(instant.duration_since(at).as_nanos() as u64),
        }
    }

    /// Decides the trace of a request: `None` for a path in `skip_paths`
    /// (krakend-otel measures and traces none of them).
    pub fn begin(&self, head: &RequestHead, buf: &[u8], client: IpAddr) -> Option<RequestTrace> {
        let path = head.path.of(buf);
        if self.skip_paths.iter().any(|p| p.as_bytes() == path) {
            return None;
        }
        let parent = if self.propagation {
            head.header(buf, "traceparent")
                .and_then(context::parse_traceparent)
        } else {
            None
        };
        let trace_id = parent.map_or_else(sampler::trace_id, |p| p.trace_id);
        let sampled = self.sampler.sampled(&trace_id, parent.map(|p| p.sampled));
        let state = parent
            .and_then(|_| head.header(buf, "tracestate"))
            .and_then(context::parse_tracestate)
            .map(Arc::from);
        let trace = RequestTrace {
            trace_id,
            server_id: sampler::span_id(),
            proxy_id: if sampled { sampler::span_id() } else { [0; 8] },
            remote_parent: parent.map(|p| p.parent_id),
            sampled,
            state,
            server: Cell::new(None),
            server_recorded: sampled && self.server,
            proxy_recorded: sampled && self.proxy,
        };
        if sampled && self.server {
            trace
                .server
                .set(Some(Box::new(self.server_span(&trace, head, buf, client))));
        }
        Some(trace)
    }

    /// The server span's start: what krakend-otel reads from the request
    /// (`http/attributes.go` `TraceIncomingRequestAttrs`).
    fn server_span(
        &self,
        trace: &RequestTrace,
        head: &RequestHead,
        buf: &[u8],
        client: IpAddr,
    ) -> SpanData {
        let path = head.path.of(buf);
        let mut span = SpanData {
            trace_id: trace.trace_id,
            span_id: trace.server_id,
            parent: trace.remote_parent,
            state: trace.state.clone(),
            name: Arc::from(cut(path)),
            kind: Kind::Server,
            start: 0,
            end: 0,
            attributes: Vec::with_capacity(12),
            statics: self.statics[0].clone(),
            error: None,
        };
        let mut url = path.to_vec();
        if let Some(query) = head.query {
            url.push(b'?');
            url.extend_from_slice(query.of(buf));
        }
        span.attr("url.full", Attr::Text(cut(&url)));
        if let Some(host) = head.host {
            span.attr("server.address", Attr::Text(cut(host.of(buf))));
        }
        span.attr(
            "http.request.method",
            Attr::Text(head.method.as_str().to_owned()),
        );
        if let Some(length) = head
            .header(buf, "content-length")
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<i64>().ok())
        {
            span.attr("http.request.body.size", Attr::Int(length));
        }
        if let Some(agent) = head.header(buf, "user-agent") {
            span.attr("user_agent.original", Attr::Text(cut(agent)));
        }
        span.attr("client.address", Attr::Text(client.to_string()));
        span.attr("krakend.stage", Attr::Shared(self.stage_global.clone()));
        if self.report_headers {
            self.report(&mut span, head, buf);
        }
        span
    }

    /// `report_headers`: each request header as
    /// `http.request.header.<name>` (values of a repeated name together),
    /// but those of `skip_headers`.
    fn report(&self, span: &mut SpanData, head: &RequestHead, buf: &[u8]) {
        let mut seen: Vec<(String, Vec<String>)> = Vec::new();
        for h in &head.headers {
            let name = String::from_utf8_lossy(h.name.of(buf)).to_ascii_lowercase();
            if self.skip_headers.contains(&name) {
                continue;
            }
            let value = cut(h.value.of(buf));
            match seen.iter_mut().find(|(n, _)| *n == name) {
                Some((_, values)) => values.push(value),
                None => seen.push((name, vec![value])),
            }
        }
        for (name, values) in seen {
            span.attributes.push((
                Cow::Owned(format!("http.request.header.{name}")),
                Attr::Strings(values),
            ));
        }
    }

    /// Ends the server span (the observer's call, once the response is
    /// written): krakend-otel's `tracesHTTP.end`.
    pub fn server_ended(
        &self,
        trace: &RequestTrace,
        endpoint: Option<usize>,
        status: u16,
        body_bytes: usize,
        started: Instant,
        ended: Instant,
    ) {
        let Some(mut span) = trace.server.take() else {
            return;
        };
        span.start = self.unix(started);
        span.end = self.unix(ended);
        let route = endpoint.and_then(|e| self.endpoints.get(e));
        span.attr(
            "http.route",
            route.map_or_else(
                || Attr::Text(String::new()),
                |r| Attr::Shared(r.route.clone()),
            ),
        );
        span.attr("http.response.status_code", Attr::Int(status.into()));
        span.attr("http.response.body.size", Attr::Int(body_bytes as i64));
        self.finished(*span);
    }

    /// The proxy span (krakend-otel `lura/proxy_tracer.go`): from the
    /// pipeline's start to its merged answer.
    pub fn proxy_span(
        &self,
        trace: &RequestTrace,
        endpoint: usize,
        started: Instant,
        ended: Option<Instant>,
        status: u16,
        complete: bool,
    ) {
        if !trace.proxy_recorded {
            return;
        }
        let Some(names) = self.endpoints.get(endpoint).filter(|e| !e.skipped) else {
            return;
        };
        let ended = ended.unwrap_or_else(Instant::now);
        let mut span = SpanData {
            trace_id: trace.trace_id,
            span_id: trace.proxy_id,
            parent: if self.server {
                Some(trace.server_id)
            } else {
                trace.remote_parent
            },
            state: trace.state.clone(),
            name: names.route.clone(),
            kind: Kind::Internal,
            start: self.unix(started),
            end: self.unix(ended),
            attributes: Vec::with_capacity(6),
            statics: self.statics[1].clone(),
            error: None,
        };
        span.attr("http.request.method", Attr::Shared(names.method.clone()));
        span.attr("http.route", Attr::Shared(names.route.clone()));
        span.attr("krakend.stage", Attr::Shared(self.stage_proxy.clone()));
        span.attr("http.response.status_code", Attr::Int(status.into()));
        span.attr("complete", Attr::Bool(complete));
        self.finished(span);
    }

    /// A backend call begins: its span's id (the parent the backend sees)
    /// and whether it is recorded.
    pub fn backend_start(&self, trace: &RequestTrace) -> BackendSpan {
        let recording = trace.sampled && self.backend;
        let id = if recording {
            sampler::span_id()
        } else if trace.proxy_recorded {
            trace.proxy_id
        } else {
            trace.server_id
        };
        BackendSpan { id, recording }
    }

    /// Whether every backend call of `trace` sends the same `traceparent`
    /// (no backend span recorded): then it is written once, into the
    /// request's shared header block ([`Tracer::inject_shared`]), and a
    /// call copies its block only when it has one of its own.
    fn shared_parent(&self, trace: &RequestTrace) -> bool {
        !(trace.sampled && self.backend)
    }

    /// Appends the request-wide `traceparent` to the shared header block,
    /// when there is one.
    pub fn inject_shared(&self, trace: &RequestTrace, shared: &mut Vec<u8>) {
        if self.shared_parent(trace) {
            self.inject(trace, &self.backend_start(trace), shared);
        }
    }

    /// The header block a backend call sends: `headers`, or (when the call
    /// needs a `traceparent` of its own, [`Tracer::injects`]) a copy of it
    /// with one, made in `own`.
    pub fn call_headers<'h>(
        &self,
        trace: &RequestTrace,
        span: &BackendSpan,
        headers: &'h [u8],
        shared: bool,
        own: &'h mut Vec<u8>,
    ) -> &'h [u8] {
        if !self.injects(trace, shared) {
            return headers;
        }
        own.reserve(headers.len() + 160);
        own.extend_from_slice(headers);
        self.inject(trace, span, own);
        own
    }

    /// Whether a call whose header block is the request's shared one
    /// (`shared`) must still add its own `traceparent`.
    pub fn injects(&self, trace: &RequestTrace, shared: bool) -> bool {
        self.propagation && !(shared && self.shared_parent(trace))
    }

    /// Appends `traceparent` (and `tracestate`) for a backend call to
    /// `out`, when propagating.
    pub fn inject(&self, trace: &RequestTrace, span: &BackendSpan, out: &mut Vec<u8>) {
        if self.propagation {
            context::write_headers(
                out,
                &trace.trace_id,
                &span.id,
                trace.sampled,
                trace.state.as_deref(),
            );
        }
    }

    /// A backend call ended (krakend-otel's backend stage and round trip
    /// in one client span; `lura/backend.go`, `http/client/transport_traces.go`).
    #[allow(clippy::too_many_arguments)]
    pub fn backend_ended(
        &self,
        trace: &RequestTrace,
        span: BackendSpan,
        endpoint: usize,
        backend: usize,
        host: usize,
        url: (&str, &[u8]),
        started: Instant,
        result: Result<(u16, usize), String>,
    ) {
        if !span.recording {
            return;
        }
        let Some(e) = self.endpoints.get(endpoint).filter(|e| !e.skipped) else {
            return;
        };
        let Some(names) = e.backends.get(backend) else {
            return;
        };
        let parent = if trace.proxy_recorded {
            trace.proxy_id
        } else if self.server {
            trace.server_id
        } else {
            trace.remote_parent.unwrap_or(trace.server_id)
        };
        let mut data = SpanData {
            trace_id: trace.trace_id,
            span_id: span.id,
            parent: Some(parent),
            state: trace.state.clone(),
            name: names.route.clone(),
            kind: Kind::Client,
            start: self.unix(started),
            end: self.unix(Instant::now()),
            attributes: Vec::with_capacity(10),
            statics: self.statics[2].clone(),
            error: None,
        };
        data.attr("http.request.method", Attr::Shared(names.method.clone()));
        data.attr("http.route", Attr::Shared(names.route.clone()));
        data.attr("krakend.endpoint.route", Attr::Shared(e.route.clone()));
        data.attr("krakend.endpoint.method", Attr::Shared(e.method.clone()));
        data.attr("krakend.stage", Attr::Shared(self.stage_backend.clone()));
        if let Some(address) = names.hosts.get(host) {
            data.attr("server.address", Attr::Shared(address.clone()));
        }
        let mut full = url.0.as_bytes().to_vec();
        full.extend_from_slice(url.1);
        data.attr("url.full", Attr::Text(cut(&full)));
        match result {
            Ok((status, size)) => {
                data.attr("http.response.status_code", Attr::Int(status.into()));
                data.attr("http.response.body.size", Attr::Int(size as i64));
            }
            Err(error) => {
                data.attr("error", Attr::Text(error.clone()));
                data.error = Some(error);
            }
        }
        self.finished(data);
    }

    fn finished(&self, span: SpanData) {
        let mut buffer = self.buffer.borrow_mut();
        buffer.push(span);
        if buffer.len() >= HAND_OVER {
            self.queue.hand_over(&mut buffer);
        }
    }

    /// The observer's tick: hands over what the worker holds and moves
    /// the clock anchor.
    pub fn tick(&self) {
        self.anchor.set((Instant::now(), unix_now()));
        let mut buffer = self.buffer.borrow_mut();
        if !buffer.is_empty() {
            self.queue.hand_over(&mut buffer);
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.tick();
    }
}

/// A backend's `http.route`: its URL pattern without the query, with
/// krakend-otel's lower-cased `:name` placeholders (as the metrics label).
pub fn backend_route(url_pattern: &str) -> String {
    let path = url_pattern.split('?').next().unwrap_or("");
    crate::metrics::route_label(path, true)
}

/// The host part of a backend base URL (`server.address`).
pub fn host_of(base: &str) -> &str {
    host_and_port(base).0
}

/// `server.address` and `server.port` of a backend base URL (the
/// scheme's port when none is written), as the metrics label them.
pub use crate::metrics::address_and_port as host_and_port;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_ports_and_routes_of_backends() {
        assert_eq!(
            host_and_port("http://a.example:8080/x"),
            ("a.example", 8080)
        );
        assert_eq!(host_and_port("https://a.example"), ("a.example", 443));
        assert_eq!(host_and_port("http://[::1]:81"), ("::1", 81));
        assert_eq!(host_and_port("a.example"), ("a.example", 80));
        assert_eq!(backend_route("/users/{Id}?x={q}"), "/users/:id");
    }

    #[test]
    fn a_span_becomes_an_otlp_span_with_its_layer_attributes() {
        let mut span = SpanData {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent: None,
            state: Some(Arc::from("a=b")),
            name: Arc::from("/x"),
            kind: Kind::Client,
            start: 10,
            end: 5,
            attributes: Vec::new(),
            statics: Some(Arc::from(vec![("team".to_owned(), "t".to_owned())])),
            error: Some("boom".to_owned()),
        };
        span.attr("n", Attr::Int(3));
        let otlp = otlp::Span::from(span);
        assert!(otlp.parent_span_id.is_empty());
        assert_eq!(otlp.trace_state, "a=b");
        assert_eq!(otlp.kind, 3);
        // An end before the start (clock anchor moved) is clamped.
        assert_eq!(otlp.end_time_unix_nano, 10);
        let keys: Vec<&str> = otlp.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["n", "team"]);
        let status = otlp.status.unwrap();
        assert_eq!((status.code, status.message.as_str()), (2, "boom"));
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let queue = export::Queue::from_sender(tx);
        let span = || SpanData {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent: None,
            state: None,
            name: Arc::from("/x"),
            kind: Kind::Server,
            start: 0,
            end: 0,
            attributes: Vec::new(),
            statics: None,
            error: None,
        };
        let before = export::DROPPED.load(std::sync::atomic::Ordering::Relaxed);
        let mut batch = vec![span(), span()];
        queue.hand_over(&mut batch);
        assert!(batch.is_empty());
        let mut batch = vec![span(), span(), span()];
        queue.hand_over(&mut batch);
        let after = export::DROPPED.load(std::sync::atomic::Ordering::Relaxed);
        assert!(after >= before + 3, "{before} {after}");
        assert_eq!(rx.try_recv().unwrap().len(), 2);
    }
}
