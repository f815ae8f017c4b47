//! The exporter thread: workers hand it batches of finished spans through
//! a bounded queue (`try_send`: a full queue drops the batch and counts
//! it); it gathers them (up to [`BATCH`] spans or [`LINGER`]) and pushes
//! each batch to every OTLP exporter that takes traces, over OTLP/HTTP
//! (protobuf, `POST /v1/traces`) or OTLP/gRPC
//! (`TraceService/Export` over h2c), as krakend-otel's exporters do
//! (`exporter/otelcollector/otelcollector.go`). It runs its own
//! current-thread runtime, never a worker's. A collector that is down,
//! slow or refusing costs the batches sent to it (each bounded by
//! [`EXPORT_LIMIT`], at most one in flight per exporter), counted, never a
//! request's time.

use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::otlp;
use super::span::SpanData;
use crate::config::{Config, OtlpExporter};
use crate::rt;

/// Batches the queue holds (each up to a worker's hand-over, 64 spans).
const QUEUE_BATCHES: usize = 64;
/// Spans per export (the Go SDK's `BatchSpanProcessor` exports 512).
const BATCH: usize = 512;
/// The longest a span waits for its batch to fill.
const LINGER: Duration = Duration::from_millis(500);
/// Spans held while exports are under way; more are dropped.
const HELD: usize = 4096;
/// Connecting, sending and reading the answer of one export.
pub const EXPORT_LIMIT: Duration = Duration::from_secs(2);

/// Spans dropped (queue full, too many held, or an export that failed or
/// timed out; counted once per exporter), and spans a collector accepted.
pub static DROPPED: AtomicU64 = AtomicU64::new(0);
pub static EXPORTED: AtomicU64 = AtomicU64::new(0);

static QUEUE: OnceLock<SyncSender<Vec<SpanData>>> = OnceLock::new();

/// A worker's end of the queue.
pub struct Queue(SyncSender<Vec<SpanData>>);

impl Queue {
    #[cfg(test)]
    pub fn from_sender(sender: SyncSender<Vec<SpanData>>) -> Queue {
        Queue(sender)
    }

    /// Hands `spans` over (leaving it empty), or drops and counts them.
    pub fn hand_over(&self, spans: &mut Vec<SpanData>) {
        let batch = std::mem::replace(spans, Vec::with_capacity(super::HAND_OVER));
        match self.0.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) => {
                DROPPED.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
    }
}

/// The queue, once [`start`] has run.
pub fn queue() -> Option<Queue> {
    QUEUE.get().cloned().map(Queue)
}

/// The exporter thread's settings, fixed for the process's life (a reload
/// that changes them needs a restart).
pub fn settings(config: &Config) -> Option<(Vec<OtlpExporter>, otlp::Resource)> {
    let telemetry = config.telemetry.as_ref()?;
    telemetry.traces.as_ref()?;
    let exporters: Vec<OtlpExporter> = telemetry
        .otlp
        .iter()
        .filter(|e| e.traces)
        .cloned()
        .collect();
    if exporters.is_empty() {
        return None;
    }
    Some((exporters, resource(config)?))
}

/// The resource of everything pushed: `service.name` (`service_name`,
/// else the root `name`, else "KrakenD", as krakend-otel
/// `config/lura.go`), `service.version`, `deployment.environment`.
pub fn resource(config: &Config) -> Option<otlp::Resource> {
    let telemetry = config.telemetry.as_ref()?;
    let r = &telemetry.resource;
    let name = r
        .service_name
        .clone()
        .or_else(|| config.name.clone().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| "KrakenD".to_owned());
    let mut attributes = vec![
        otlp::KeyValue::new("service.name", otlp::Value::String(name)),
        otlp::KeyValue::new(
            "service.version",
            otlp::Value::String(r.service_version.clone()),
        ),
    ];
    if let Some(env) = &r.deploy_env {
        attributes.push(otlp::KeyValue::new(
            "deployment.environment",
            otlp::Value::String(env.clone()),
        ));
    }
    Some(otlp::Resource { attributes })
}

/// Starts the exporter thread when `config` traces to an OTLP exporter.
pub fn start(config: &Config) -> std::io::Result<()> {
    let Some((exporters, resource)) = settings(config) else {
        return Ok(());
    };
    if QUEUE.get().is_some() {
        return Ok(());
    }
    let (tx, rx) = sync_channel(QUEUE_BATCHES);
    std::thread::Builder::new()
        .name("cuttle-otlp".to_owned())
        .spawn(move || {
            let _ = rt::block_on_local(run(rx, exporters, resource));
        })?;
    let _ = QUEUE.set(tx);
    Ok(())
}

/// What an export carries: where OTLP/HTTP posts it and which gRPC
/// method takes it.
#[derive(Clone, Copy)]
pub enum Signal {
    Traces,
    Metrics,
}

impl Signal {
    fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
        }
    }

    fn grpc_path(self) -> &'static str {
        match self {
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        }
    }
}

/// One exporter's state on an exporting thread.
pub struct Target {
    pub settings: OtlpExporter,
    pub busy: std::cell::Cell<bool>,
    grpc: std::cell::RefCell<Option<h2::client::SendRequest<Bytes>>>,
}

impl Target {
    pub fn new(settings: OtlpExporter) -> Rc<Target> {
        Rc::new(Target {
            settings,
            busy: Default::default(),
            grpc: Default::default(),
        })
    }

    /// Forgets the gRPC connection (after a failed or timed-out export).
    pub fn reset(&self) {
        self.grpc.borrow_mut().take();
    }
}

async fn run(rx: Receiver<Vec<SpanData>>, exporters: Vec<OtlpExporter>, resource: otlp::Resource) {
    let targets: Vec<Rc<Target>> = exporters.into_iter().map(Target::new).collect();
    let mut held: Vec<SpanData> = Vec::new();
    let mut oldest: Option<Instant> = None;
    loop {
        rt::sleep(Duration::from_millis(50)).await;
        loop {
            match rx.try_recv() {
                Ok(batch) => {
                    if held.len() + batch.len() > HELD {
                        DROPPED.fetch_add(batch.len() as u64, Ordering::Relaxed);
                        continue;
                    }
                    oldest.get_or_insert_with(Instant::now);
                    held.extend(batch);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                // Every worker's tracer is gone: the process is ending.
                Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
            }
        }
        while held.len() >= BATCH
            || !held.is_empty() && oldest.is_some_and(|t| t.elapsed() >= LINGER)
        {
            let take = held.len().min(BATCH);
            let batch: Vec<SpanData> = held.drain(..take).collect();
            oldest = (!held.is_empty()).then(Instant::now);
            let count = batch.len() as u64;
            let body = Bytes::from(encode(batch, &resource));
            for target in &targets {
                if target.busy.get() {
                    // The previous export is still waiting on this
                    // collector: this batch is not queued behind it.
                    DROPPED.fetch_add(count, Ordering::Relaxed);
                    continue;
                }
                target.busy.set(true);
                let (target, body) = (target.clone(), body.clone());
                rt::spawn(async move {
                    let sent =
                        rt::within(EXPORT_LIMIT, export(&target, body, Signal::Traces)).await;
                    let counter = if matches!(sent, Some(Ok(()))) {
                        &EXPORTED
                    } else {
                        if let Some(Err(e)) = &sent {
                            tracing::debug!(exporter = %target.settings.name, "OTLP export failed: {e}");
                        }
                        // A timed-out gRPC connection is not trusted again.
                        target.reset();
                        &DROPPED
                    };
                    counter.fetch_add(count, Ordering::Relaxed);
                    target.busy.set(false);
                });
            }
        }
    }
}

/// One `ExportTraceServiceRequest` of `spans`.
pub fn encode(spans: Vec<SpanData>, resource: &otlp::Resource) -> Vec<u8> {
    use prost::Message as _;
    // krakend-otel's instrumentation scope (`state/state.go`).
    let scope = otlp::InstrumentationScope {
        name: "io.krakend.krakend-otel".to_owned(),
        version: String::new(),
    };
    otlp::wire::export_request(&spans, &resource.encode_to_vec(), &scope.encode_to_vec())
}

/// One export of `body` (an encoded `Export*ServiceRequest`) to `target`.
pub async fn export(target: &Target, body: Bytes, signal: Signal) -> std::io::Result<()> {
    let addr = resolve(&target.settings)?;
    if target.settings.use_http {
        post(&target.settings, addr, signal.http_path(), &body).await
    } else {
        grpc(target, addr, signal.grpc_path(), body).await
    }
}

fn resolve(settings: &OtlpExporter) -> std::io::Result<SocketAddr> {
    (settings.host.as_str(), settings.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("the host has no address"))
}

/// OTLP/HTTP: one POST on its own connection (one a batch, at most a
/// few a second); a 2xx answer is success.
async fn post(
    settings: &OtlpExporter,
    addr: SocketAddr,
    path: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let mut stream = rt::Stream::connect(addr, EXPORT_LIMIT).await?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        settings.host,
        settings.port,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let status = head
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok()?.parse::<u16>().ok());
    match status {
        Some(200..=299) if head.starts_with(b"HTTP/1.") => Ok(()),
        _ => Err(std::io::Error::other(format!(
            "the collector answered {}",
            String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or_default())
        ))),
    }
}

fn h2_error(e: h2::Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// OTLP/gRPC: a unary `Export` on the exporter's h2c connection (kept
/// between batches), the message framed with gRPC's 5-byte prefix; a
/// `grpc-status` of 0 is success.
async fn grpc(target: &Target, addr: SocketAddr, path: &str, body: Bytes) -> std::io::Result<()> {
    let existing = target.grpc.borrow().clone();
    let send = match existing {
        Some(send) => match send.ready().await {
            Ok(send) => send,
            Err(_) => connect_grpc(target, addr).await?,
        },
        None => connect_grpc(target, addr).await?,
    };
    let mut framed = Vec::with_capacity(5 + body.len());
    framed.push(0);
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(&body);
    let uri = format!(
        "http://{}:{}{path}",
        target.settings.host, target.settings.port
    );
    let request = http::Request::post(uri)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .map_err(std::io::Error::other)?;
    let mut send = send;
    let (answer, mut stream) = send.send_request(request, false).map_err(h2_error)?;
    stream
        .send_data(Bytes::from(framed), true)
        .map_err(h2_error)?;
    let answer = answer.await.map_err(h2_error)?;
    let (head, mut body) = answer.into_parts();
    if head.status != http::StatusCode::OK {
        return Err(std::io::Error::other(format!(
            "HTTP status {}",
            head.status
        )));
    }
    let code = |h: &http::HeaderMap| {
        h.get("grpc-status")
            .and_then(|v| v.to_str().ok()?.parse::<u32>().ok())
    };
    let mut status = code(&head.headers);
    if status.is_none() {
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(h2_error)?;
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        status = body
            .trailers()
            .await
            .map_err(h2_error)?
            .as_ref()
            .and_then(code);
    }
    match status {
        Some(0) => Ok(()),
        other => Err(std::io::Error::other(format!("grpc-status {other:?}"))),
    }
}

async fn connect_grpc(
    target: &Target,
    addr: SocketAddr,
) -> std::io::Result<h2::client::SendRequest<Bytes>> {
    let stream = rt::Stream::connect(addr, EXPORT_LIMIT).await?;
    let _ = stream.set_nodelay(true);
    let (send, connection) = h2::client::handshake(stream).await.map_err(h2_error)?;
    rt::spawn(async move {
        let _ = connection.await;
    });
    *target.grpc.borrow_mut() = Some(send.clone());
    send.ready().await.map_err(h2_error)
}

/// `cuttle_otel_spans_*_total`, appended to a Prometheus scrape.
pub fn render(out: &mut String) {
    if QUEUE.get().is_none() {
        return;
    }
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "# HELP cuttle_otel_spans_exported_total Spans an OTLP collector accepted (once per exporter).\n# TYPE cuttle_otel_spans_exported_total counter\ncuttle_otel_spans_exported_total {}\n# HELP cuttle_otel_spans_dropped_total Spans dropped: queue full, or an export that failed or timed out (once per exporter).\n# TYPE cuttle_otel_spans_dropped_total counter\ncuttle_otel_spans_dropped_total {}\n",
        EXPORTED.load(Ordering::Relaxed),
        DROPPED.load(Ordering::Relaxed)
    );
}
