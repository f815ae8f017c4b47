//! The per-worker recording side. On the request path it only appends a
//! plain record to a short queue; the records are counted into the
//! histograms in batches ([`DEFERRED_BATCH`] at a time, and before every
//! snapshot). Measured with callgrind's cache simulation, counting (and
//! formatting the access log line) as each request ended added ~280
//! instruction-cache misses per json request: that code evicted the
//! request path's own. A batch runs the counting code once, warm, for
//! many requests. The `RefCell`s are never held across an `await`.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use super::figures::{
    BackendFigures, Figures, StageOutcome, WebSocketFigures, client_series, server_series,
    stage_series,
};
use super::stats::{self, StatsFigures, nanos};
use crate::config::{Config, Histograms, MetricLayers};
use crate::http::Method;
use crate::upstream::cache::Lookup;
use crate::upstream::{BackendError, Response};

pub struct Recorder {
    /// `telemetry/opentelemetry`'s layers (all off without an exporter).
    layers: MetricLayers,
    /// `telemetry/metrics`' layers, when `/__stats` is served.
    stats: Option<StatsGates>,
    /// The state of the `/__stats` samples' random draws.
    random: Cell<u64>,
    /// Bucket bounds (`histograms`).
    bounds: Histograms,
    skip_paths: Vec<Box<[u8]>>,
    /// Endpoints whose pattern is a skip path: no proxy or backend figures.
    skipped_endpoints: Vec<bool>,
    /// Per endpoint: its backends' time budget, below which a call dropped
    /// unanswered was canceled rather than timed out (see [`CallMeter`]).
    budgets: Vec<Duration>,
    figures: RefCell<Figures>,
    /// Recorded, not yet counted into `figures`.
    deferred: RefCell<Vec<Event>>,
    requests: Cell<u64>,
    /// `/__stats`' `krakend.router.connected`: requests routed to an
    /// endpoint since the last count (krakend-metrics counts them as its
    /// handler begins).
    routed: Cell<u64>,
    accepted: Cell<u64>,
    websocket: Cell<WebSocketFigures>,
}

/// What `telemetry/metrics` measures, and its window.
#[derive(Debug, Clone, Copy)]
struct StatsGates {
    router: bool,
    proxy: bool,
    backend: bool,
    every: Duration,
}

const NO_LAYERS: MetricLayers = MetricLayers {
    global: false,
    proxy: false,
    backend_stage: false,
    round_trip: false,
    read_payload: false,
};

impl Recorder {
    /// `None` when the configuration asks for no metrics (no Prometheus
    /// exporter, no `/__stats`).
    pub fn new(config: &Config) -> Option<Recorder> {
        // Figures are kept for a Prometheus exporter or an OTLP one
        // (`telemetry::push`), and for `/__stats`.
        let telemetry = config
            .telemetry
            .as_ref()
            .filter(|t| !t.exporters.is_empty() || crate::telemetry::push::pushes(config));
        let stats = config
            .stats
            .as_ref()
            .filter(|s| s.endpoint)
            .map(|s| StatsGates {
                router: s.router,
                proxy: s.proxy,
                backend: s.backend,
                every: s.collection_time,
            });
        if telemetry.is_none() && stats.is_none() {
            return None;
        }
        let now = Instant::now();
        if let Some(gates) = stats {
            // Fixes the process's first window at start-up.
            stats::window(now, gates.every);
        }
        let skip_paths: Vec<Box<[u8]>> = telemetry
            .iter()
            .flat_map(|t| &t.skip_paths)
            .map(|p| p.as_bytes().into())
            .collect();
        Some(Recorder {
            layers: telemetry.map_or(NO_LAYERS, |t| t.layers),
            stats,
            // Any non-zero seed will do; the clock makes workers' draws differ.
            random: Cell::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64 | 1),
            ),
            bounds: telemetry.map_or_else(Histograms::default, |t| t.histograms.clone()),
            skipped_endpoints: config
                .endpoints
                .iter()
                .map(|e| telemetry.is_some_and(|t| t.skip_paths.contains(&e.path)))
                .collect(),
            skip_paths,
            // The shortest budget any call of the endpoint gets:
            // `concurrent_calls` give theirs 75% of the timeout.
            budgets: config.endpoints.iter().map(|e| e.timeout * 3 / 4).collect(),
            figures: RefCell::new(Figures::new(config)),
            deferred: RefCell::new(Vec::with_capacity(DEFERRED_BATCH)),
            requests: Cell::new(0),
            routed: Cell::new(0),
            accepted: Cell::new(0),
            websocket: Cell::new(WebSocketFigures::default()),
        })
    }

    pub fn accepted(&self) {
        self.accepted.set(self.accepted.get() + 1);
    }

    /// A WebSocket session began (`open`) or ended, or relayed `frames`
    /// frames of `bytes` bytes from the client (`from_client`) or the backend.
    pub fn websocket(&self, change: impl FnOnce(&mut WebSocketFigures)) {
        let mut figures = self.websocket.get();
        change(&mut figures);
        self.websocket.set(figures);
    }

    /// A request was routed to an endpoint (its handler begins).
    #[inline]
    pub fn routed(&self) {
        if self.stats.is_some_and(|s| s.router) {
            self.routed.set(self.routed.get() + 1);
        }
    }

    /// One answered request (any kind: routed, built-in, refused).
    pub fn request(
        &self,
        endpoint: Option<usize>,
        method: Method,
        path: &[u8],
        status: u16,
        bytes: u64,
        elapsed: Duration,
    ) {
        self.requests.set(self.requests.get() + 1);
        let otel = self.layers.global && !self.skip_paths.iter().any(|p| **p == *path);
        // krakend-metrics measures the handlers of endpoints only.
        let stats = endpoint.is_some() && self.stats.is_some_and(|s| s.router);
        if !otel && !stats {
            return;
        }
        self.defer(Event::Request {
            endpoint,
            method,
            status,
            bytes,
            elapsed,
            otel,
        });
    }

    /// The proxy stage of a routed request (backends, merge, encoding).
    pub fn proxy(&self, endpoint: usize, elapsed: Duration, outcome: StageOutcome) {
        if !self.otel_proxy(endpoint) && !self.stats.is_some_and(|s| s.proxy) {
            return;
        }
        self.defer(Event::Proxy {
            endpoint,
            elapsed,
            outcome,
        });
    }

    /// Starts measuring one backend call, begun at `started`; the meter
    /// records it when finished, or as canceled / timed out when dropped
    /// unfinished.
    pub fn backend_call(
        &self,
        endpoint: usize,
        backend: usize,
        host: usize,
        started: Instant,
    ) -> Option<CallMeter<'_>> {
        if !self.otel_backend(endpoint) && !self.stats.is_some_and(|s| s.backend) {
            return None;
        }
        Some(CallMeter {
            recorder: self,
            endpoint,
            backend,
            host,
            started,
            done: false,
        })
    }

    /// One `qos/http-cache` lookup of backend `backend`: counted at once
    /// (three numbers, nothing to defer).
    pub fn cache_lookup(&self, endpoint: usize, backend: usize, lookup: Lookup) {
        if !self.layers.backend() || self.skipped_endpoints[endpoint] {
            return;
        }
        let mut figures = self.figures.borrow_mut();
        let Some(cache) = figures
            .backends
            .get_mut(endpoint)
            .and_then(|b| b.get_mut(backend))
            .map(|b| &mut b.cache)
        else {
            return;
        };
        match lookup {
            Lookup::Hit => cache.hits += 1,
            Lookup::Revalidated => cache.revalidated += 1,
            Lookup::Miss => cache.misses += 1,
        }
    }

    /// A copy of the figures, with this worker's own.
    pub fn snapshot(&self, open_connections: u64, busy: Duration) -> Figures {
        self.count_deferred();
        let mut figures = self.figures.borrow().clone();
        figures.worker.requests = self.requests.get();
        figures.worker.accepted = self.accepted.get();
        figures.worker.open_connections = open_connections;
        figures.worker.busy_seconds = busy.as_secs_f64();
        figures.worker.websocket = self.websocket.get();
        figures
    }

    /// Records `call` as ended at `ended`.
    pub fn call_ended(&self, call: FinishedCall, ended: Instant) {
        self.defer(Event::Call {
            endpoint: call.endpoint,
            backend: call.backend,
            host: call.host,
            end: call.end,
            elapsed: ended.saturating_duration_since(call.started),
        });
    }

    fn otel_proxy(&self, endpoint: usize) -> bool {
        self.layers.proxy && !self.skipped_endpoints[endpoint]
    }

    fn otel_backend(&self, endpoint: usize) -> bool {
        self.layers.backend() && !self.skipped_endpoints[endpoint]
    }

    /// Queues `event`; counts the queue once it holds a batch.
    fn defer(&self, event: Event) {
        let full = {
            let mut deferred = self.deferred.borrow_mut();
            deferred.push(event);
            deferred.len() >= DEFERRED_BATCH
        };
        if full {
            self.count_deferred();
        }
    }

    /// Counts the queued records into the figures. Kept out of line: it
    /// runs once per batch, and inlined into its callers it would grow
    /// the request path's code.
    #[inline(never)]
    fn count_deferred(&self) {
        let mut deferred = self.deferred.borrow_mut();
        let mut figures = self.figures.borrow_mut();
        let figures = &mut *figures;
        let mut random = self.random.get();
        // `/__stats`: a new window clears the samples first. A record
        // queued before the tick and counted after it lands in the new
        // window (a batch, or at most a second on an idle worker).
        if let (Some(gates), Some(stats)) = (self.stats, &mut figures.stats) {
            stats.connections.connected += self.routed.take();
            stats.roll(stats::window(Instant::now(), gates.every));
        }
        for event in deferred.drain(..) {
            match event {
                Event::Request {
                    endpoint,
                    method,
                    status,
                    bytes,
                    elapsed,
                    otel,
                } => {
                    if let (Some(e), Some(stats)) = (endpoint, &mut figures.stats)
                        && self.stats.is_some_and(|s| s.router)
                    {
                        stats.response(e, status, bytes, nanos(elapsed), &mut random);
                    }
                    if !otel {
                        continue;
                    }
                    let unrouted = figures.server.len() - 1;
                    let list = &mut figures.server[endpoint.unwrap_or(unrouted)];
                    let series = server_series(list, method, status);
                    series
                        .duration
                        .observe(&self.bounds.time, elapsed.as_secs_f64());
                    series.size.observe(&self.bounds.size, bytes as f64);
                }
                Event::Proxy {
                    endpoint,
                    elapsed,
                    outcome,
                } => {
                    if let Some(stats) = &mut figures.stats
                        && self.stats.is_some_and(|s| s.proxy)
                    {
                        let at = stats::outcome(outcome.complete, outcome.error);
                        StatsFigures::layer(
                            stats.proxy.get_mut(endpoint),
                            at,
                            nanos(elapsed),
                            &mut random,
                        );
                    }
                    if self.otel_proxy(endpoint) {
                        stage_series(&mut figures.proxy[endpoint], outcome)
                            .duration
                            .observe(&self.bounds.time, elapsed.as_secs_f64());
                    }
                }
                Event::Call {
                    endpoint,
                    backend,
                    host,
                    end,
                    elapsed,
                } => {
                    if let Some(stats) = &mut figures.stats
                        && self.stats.is_some_and(|s| s.backend)
                    {
                        // lura's backend proxy fails any answer it does not
                        // take, and a call cut short.
                        let good = matches!(end, CallEnd::Answered { good: true, .. });
                        StatsFigures::layer(
                            stats
                                .backends
                                .get_mut(endpoint)
                                .and_then(|b| b.get_mut(backend)),
                            stats::outcome(good, !good),
                            nanos(elapsed),
                            &mut random,
                        );
                    }
                    if self.otel_backend(endpoint) {
                        count_call(
                            self.layers,
                            &self.bounds,
                            &mut figures.backends[endpoint][backend],
                            host,
                            end,
                            elapsed.as_secs_f64(),
                        );
                    }
                }
            }
        }
        self.random.set(random);
    }
}

/// How many records a worker queues before counting them.
const DEFERRED_BATCH: usize = 256;

/// One recorded event, not yet counted.
enum Event {
    Request {
        endpoint: Option<usize>,
        method: Method,
        status: u16,
        bytes: u64,
        elapsed: Duration,
        /// Counted for the Prometheus exporter too (else `/__stats` only).
        otel: bool,
    },
    Proxy {
        endpoint: usize,
        elapsed: Duration,
        outcome: StageOutcome,
    },
    Call {
        endpoint: usize,
        backend: usize,
        host: usize,
        end: CallEnd,
        elapsed: Duration,
    },
}

/// Counts one finished backend call into its backend's figures.
fn count_call(
    layers: MetricLayers,
    bounds: &Histograms,
    backend: &mut BackendFigures,
    host: usize,
    end: CallEnd,
    elapsed: f64,
) {
    let (status, size, outcome) = match end {
        CallEnd::Answered {
            status,
            bytes,
            good,
        } => (
            status,
            bytes,
            StageOutcome {
                error: !good,
                canceled: false,
                complete: good,
            },
        ),
        CallEnd::Failed { timed_out } => {
            let host = &mut backend.hosts[host];
            host.failed += 1;
            if timed_out {
                host.timed_out += 1;
            }
            (0, None, ERROR)
        }
        CallEnd::Canceled => {
            backend.hosts[host].canceled += 1;
            (
                0,
                None,
                StageOutcome {
                    error: false,
                    canceled: true,
                    complete: false,
                },
            )
        }
    };
    if layers.backend_stage {
        stage_series(&mut backend.stage, outcome)
            .duration
            .observe(&bounds.time, elapsed);
    }
    let host = &mut backend.hosts[host];
    if layers.round_trip || layers.read_payload {
        let series = client_series(&mut host.calls, status);
        series.started += 1;
        if layers.round_trip {
            series.duration.observe(&bounds.time, elapsed);
        }
        if layers.read_payload
            && let Some(bytes) = size
        {
            series.size.observe(&bounds.size, bytes as f64);
        }
    }
}

const ERROR: StageOutcome = StageOutcome {
    error: true,
    canceled: false,
    complete: false,
};

#[derive(Debug, Clone, Copy)]
enum CallEnd {
    Answered {
        status: u16,
        bytes: Option<u64>,
        good: bool,
    },
    Failed {
        timed_out: bool,
    },
    Canceled,
}

impl CallEnd {
    fn failed(error: &BackendError) -> CallEnd {
        CallEnd::Failed {
            timed_out: matches!(error, BackendError::Timeout),
        }
    }
}

/// A backend call that has finished, waiting for the clock reading that
/// ends it ([`Recorder::call_ended`]).
#[derive(Debug, Clone, Copy)]
pub struct FinishedCall {
    endpoint: usize,
    backend: usize,
    host: usize,
    started: Instant,
    end: CallEnd,
}

/// One backend call being measured.
pub struct CallMeter<'a> {
    recorder: &'a Recorder,
    endpoint: usize,
    backend: usize,
    host: usize,
    started: Instant,
    done: bool,
}

impl CallMeter<'_> {
    /// Records how the call ended; `good` is whether KrakenD takes the
    /// answer (200/201, or any status for no-op), `head_only` that no body
    /// was asked for.
    pub fn finish(self, result: &Result<Response, BackendError>, good: bool, head_only: bool) {
        let recorder = self.recorder;
        recorder.call_ended(self.finish_later(result, good, head_only), Instant::now());
    }

    /// [`CallMeter::finish`] without reading the clock: the caller records
    /// the call with a later reading it takes anyway. An endpoint's lone
    /// backend call ends with the proxy stage (one clock read for both).
    pub fn finish_later(
        mut self,
        result: &Result<Response, BackendError>,
        good: bool,
        head_only: bool,
    ) -> FinishedCall {
        self.ended_as(match result {
            Ok(resp) => CallEnd::Answered {
                status: resp.status,
                bytes: (!head_only).then_some(resp.body.len() as u64),
                good,
            },
            Err(e) => CallEnd::failed(e),
        })
    }

    /// Marks the call ended as `end` (so dropping the meter records
    /// nothing more) and returns its record.
    fn ended_as(&mut self, end: CallEnd) -> FinishedCall {
        self.done = true;
        FinishedCall {
            endpoint: self.endpoint,
            backend: self.backend,
            host: self.host,
            started: self.started,
            end,
        }
    }

    /// The backend answered with `status`; `bytes`: its body's size, when known.
    pub fn answered(self, status: u16, bytes: Option<u64>, good: bool) {
        self.answered_at(Instant::now(), status, bytes, good);
    }

    /// [`CallMeter::answered`], with the call's end read by the caller
    /// (who needs the same reading for the proxy stage: one clock read).
    pub fn answered_at(mut self, ended: Instant, status: u16, bytes: Option<u64>, good: bool) {
        let call = self.ended_as(CallEnd::Answered {
            status,
            bytes,
            good,
        });
        self.recorder.call_ended(call, ended);
    }

    /// The call failed with `error`, its end read by the caller.
    pub fn failed_at(mut self, ended: Instant, error: &BackendError) {
        let call = self.ended_as(CallEnd::failed(error));
        self.recorder.call_ended(call, ended);
    }
}

impl Drop for CallMeter<'_> {
    /// A call dropped before it finished: the endpoint's deadline fired
    /// (timed out) or another call won first (`concurrent_calls`: canceled).
    /// The deadline is told apart by the time spent: at least the shortest
    /// budget a call of this endpoint gets.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let budget = self.recorder.budgets[self.endpoint];
        let now = Instant::now();
        let end = if now.saturating_duration_since(self.started) >= budget {
            CallEnd::Failed { timed_out: true }
        } else {
            CallEnd::Canceled
        };
        let call = self.ended_as(end);
        self.recorder.call_ended(call, now);
    }
}
