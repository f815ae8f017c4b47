//! What the worker learns from each answered request: the one call the
//! codec (HTTP/1.1 or HTTP/2) makes after a response has been written, for
//! metrics and the access log. It runs on the worker's thread, on the
//! request path, so what it does must stay cheap and never wait.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::config::Config;
use crate::http::Method;
use crate::logging::{AccessLog, Answered};

/// One answered request.
pub struct Observed<'a> {
    /// The endpoint it was routed to (index into the config's endpoints);
    /// `None` for built-ins, 404/405, redirects and requests refused
    /// before routing.
    pub endpoint: Option<usize>,
    pub method: Method,
    /// The raw request path, as the client sent it.
    pub path: &'a [u8],
    pub status: u16,
    /// Bytes of the response body sent (for a no-op response cut short,
    /// what was announced).
    pub body_bytes: usize,
    pub started: Instant,
    pub peer: SocketAddr,
    /// The client's address: the peer's, or the one a trusted proxy named
    /// (`router.forwarded_by_client_ip`).
    pub client: IpAddr,
    /// `X-KrakenD-Completed`, when the response carries it.
    pub completed: Option<bool>,
    /// When the request ended, if the connection already read the clock
    /// for it (else the observer reads it).
    pub ended: Option<Instant>,
    /// The request's trace (`crate::telemetry`): its server span ends here.
    pub trace: Option<&'a crate::telemetry::RequestTrace>,
}

/// Records answered requests: metrics and the access log.
#[derive(Default)]
pub struct Observer {
    /// Metrics (`telemetry/opentelemetry`), when exported; the proxy's
    /// backend calls record into it too (`CallContext::metrics`).
    /// Shared (`Rc`) with the shadow calls a request leaves running.
    pub metrics: Option<std::rc::Rc<crate::metrics::Recorder>>,
    /// `None` with `router.disable_access_log`.
    access_log: Option<AccessLog>,
    /// Traces (`telemetry/opentelemetry` with an OTLP exporter); the
    /// proxy's spans use it too (`Service::tracer`).
    pub tracer: Option<std::rc::Rc<crate::telemetry::Tracer>>,
}

impl Observer {
    pub fn new(config: &Config) -> Observer {
        Observer {
            metrics: crate::metrics::Recorder::new(config).map(std::rc::Rc::new),
            access_log: AccessLog::new(config),
            tracer: crate::telemetry::Tracer::new(config).map(std::rc::Rc::new),
        }
    }

    /// Records `request`; returns the reading it ended at (its own clock
    /// read, or `request.ended`; none when nothing is recorded), which the
    /// connection reuses as the next request's idle start instead of
    /// reading the clock again.
    pub fn observe(&self, request: &Observed<'_>) -> Option<Instant> {
        let traced = request.trace.is_some_and(|t| t.records_server());
        if self.metrics.is_none() && self.access_log.is_none() && !traced {
            return None;
        }
        // One clock read (or the connection's) serves the metrics and the
        // log line (its time of day too: `WallClock`).
        let now = request.ended.unwrap_or_else(Instant::now);
        let elapsed = now.saturating_duration_since(request.started);
        if let Some(metrics) = &self.metrics {
            metrics.request(
                request.endpoint,
                request.method,
                request.path,
                request.status,
                request.body_bytes as u64,
                elapsed,
            );
        }
        // Tracing: the server span ends with the response.
        if let (Some(tracer), Some(trace)) = (&self.tracer, request.trace) {
            tracer.server_ended(
                trace,
                request.endpoint,
                request.status,
                request.body_bytes,
                request.started,
                now,
            );
        }
        if let Some(log) = &self.access_log {
            log.record(
                Answered {
                    endpoint: request.endpoint,
                    method: request.method,
                    status: request.status,
                    body_bytes: request.body_bytes,
                    elapsed,
                    at: now,
                    client: request.client,
                    completed: request.completed,
                },
                request.path,
            );
        }
        Some(now)
    }

    /// The worker's periodic chores (every [`OBSERVER_TICK`]): hand the
    /// buffered access log lines to the writer, publish the drop count,
    /// re-read the wall clock the log lines' times are reckoned from.
    pub fn tick(&self) {
        if let Some(log) = &self.access_log {
            log.tick();
        }
        if let Some(tracer) = &self.tracer {
            tracer.tick();
        }
    }

    /// Access log lines this worker dropped because the output was behind.
    pub fn access_log_dropped(&self) -> u64 {
        self.access_log.as_ref().map_or(0, AccessLog::dropped)
    }
}

/// A reload replaces a worker's observer: the lines the old one still
/// holds go out as it goes (after the last request that began on it).
impl Drop for Observer {
    fn drop(&mut self) {
        self.tick();
    }
}

/// How often a worker flushes its access log buffer: the most a line
/// waits before it is written on a quiet worker.
pub const OBSERVER_TICK: std::time::Duration = std::time::Duration::from_millis(100);
