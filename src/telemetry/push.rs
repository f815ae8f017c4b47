//! OTLP metrics: every `metric_reporting_period` (krakend-otel's default
//! 30 s; an exporter's `custom_metric_reporting_period` of a second or
//! more instead, the shortest when several), one `cuttle-otlp-metrics`
//! thread asks the workers for their figures (the Prometheus exporter's
//! board, `metrics::Board::collect`, as a scrape does), sums them and
//! pushes them to every OTLP exporter that takes metrics, cumulative, with
//! krakend-otel's instrument names (`http/server/metrics.go`,
//! `lura/proxy_meter.go`): `http.server.duration`,
//! `http.server.response.size`, `krakend.proxy.duration`,
//! `krakend.backend.duration`, `http.client.duration`,
//! `http.client.response.size`. Left out: the request counters
//! (`http.client.request.*.count`), the static attributes,
//! `cuttle_worker_*` and `process_*`.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use prost::Message;

use super::export::{EXPORT_LIMIT, Signal, Target, export};
use super::otlp::metrics::{
    CUMULATIVE, Data, ExportMetricsServiceRequest, Histogram, HistogramDataPoint, Metric,
    ResourceMetrics, ScopeMetrics,
};
use super::otlp::{self, KeyValue, Value};
use crate::config::{Config, MetricLayers};
use crate::metrics::{Board, Figures, route_label};
use crate::rt;

/// Whether `config` pushes metrics over OTLP.
pub fn pushes(config: &Config) -> bool {
    config
        .telemetry
        .as_ref()
        .is_some_and(|t| t.otlp.iter().any(|e| e.metrics))
}

/// Starts the metrics pusher (when `config` has an OTLP exporter that
/// takes metrics), reading the workers' figures from `board`.
/// `current` gives the configuration in service (the workers' layout
/// after a reload).
pub fn start(
    config: &Config,
    board: Arc<Board>,
    current: impl Fn() -> Config + Send + 'static,
) -> std::io::Result<()> {
    let Some(telemetry) = config.telemetry.as_ref() else {
        return Ok(());
    };
    let exporters: Vec<_> = telemetry
        .otlp
        .iter()
        .filter(|e| e.metrics)
        .cloned()
        .collect();
    let Some(resource) = super::export::resource(config).filter(|_| !exporters.is_empty()) else {
        return Ok(());
    };
    let period = exporters
        .iter()
        .map(|e| e.metric_period.unwrap_or(telemetry.metric_reporting_period))
        .min()
        .unwrap_or(telemetry.metric_reporting_period);
    std::thread::Builder::new()
        .name("cuttle-otlp-metrics".to_owned())
        .spawn(move || {
            let _ = rt::block_on_local(run(current, board, exporters, resource, period));
        })?;
    Ok(())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

async fn run(
    current: impl Fn() -> Config,
    board: Arc<Board>,
    exporters: Vec<crate::config::OtlpExporter>,
    resource: otlp::Resource,
    period: Duration,
) {
    let targets: Vec<Rc<Target>> = exporters.into_iter().map(Target::new).collect();
    let started = unix_now();
    loop {
        rt::sleep(period).await;
        let config = current();
        let mut sum = Figures::new(&config);
        for (_, figures) in board.collect().await {
            // A worker on another layout (a reload) is left out, as a
            // scrape leaves it out.
            if let Some(figures) = figures.as_deref().filter(|f| sum.same_layout(f)) {
                sum.add(figures);
            }
        }
        let body = Bytes::from(encode(&config, &sum, &resource, started, unix_now()));
        for target in &targets {
            if target.busy.get() {
                continue;
            }
            target.busy.set(true);
            let (target, body) = (target.clone(), body.clone());
            rt::spawn(async move {
                let sent = rt::within(EXPORT_LIMIT, export(&target, body, Signal::Metrics)).await;
                if !matches!(sent, Some(Ok(()))) {
                    tracing::debug!(exporter = %target.settings.name, "OTLP metrics export failed");
                    target.reset();
                }
                target.busy.set(false);
            });
        }
    }
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue::new(key, Value::String(value.to_owned()))
}

/// A histogram data point from one of cuttle's histograms (its
/// `cumulative` counts made per bucket again).
fn point(
    attributes: Vec<KeyValue>,
    figures: &crate::metrics::Histogram,
    bounds: &[f64],
    (start, now): (u64, u64),
) -> HistogramDataPoint {
    let mut previous = 0;
    let bucket_counts = figures
        .cumulative(bounds)
        .map(|(_, running)| {
            let here = running - previous;
            previous = running;
            here
        })
        .collect();
    HistogramDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: now,
        count: figures.count(),
        sum: Some(figures.sum()),
        bucket_counts,
        explicit_bounds: bounds.to_vec(),
        attributes,
    }
}

fn histogram(name: &str, unit: &str, data_points: Vec<HistogramDataPoint>) -> Metric {
    Metric {
        name: name.to_owned(),
        description: String::new(),
        unit: unit.to_owned(),
        data: Some(Data::Histogram(Histogram {
            data_points,
            aggregation_temporality: CUMULATIVE,
        })),
    }
}

/// The stage attributes (`error`, `canceled`, `complete`) krakend-otel
/// sets on its stage durations.
fn outcome(o: &crate::metrics::StageOutcome, into: &mut Vec<KeyValue>) {
    into.push(KeyValue::new("error", Value::Bool(o.error)));
    into.push(KeyValue::new("canceled", Value::Bool(o.canceled)));
    into.push(KeyValue::new("complete", Value::Bool(o.complete)));
}

/// What every series of endpoint `e`'s backend `b` carries.
fn backend_attributes(config: &Config, e: usize, b: usize, endpoint_route: &str) -> Vec<KeyValue> {
    let endpoint = &config.endpoints[e];
    let backend = &endpoint.backends[b];
    vec![
        string("http.request.method", backend.method.as_str()),
        string("http.route", &super::backend_route(&backend.url_pattern)),
        string("krakend.endpoint.route", endpoint_route),
        string("krakend.endpoint.method", endpoint.method.as_str()),
    ]
}

/// One `ExportMetricsServiceRequest` of the summed figures.
pub fn encode(
    config: &Config,
    sum: &Figures,
    resource: &otlp::Resource,
    start: u64,
    now: u64,
) -> Vec<u8> {
    let Some(telemetry) = config.telemetry.as_ref() else {
        return Vec::new();
    };
    let layers: MetricLayers = telemetry.layers;
    let (time, size) = (
        &telemetry.histograms.time[..],
        &telemetry.histograms.size[..],
    );
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let at = (start, now);
    let routes: Vec<String> = config
        .endpoints
        .iter()
        .map(|e| route_label(&e.path, false))
        .collect();
    let mut metrics = Vec::new();
    if layers.global {
        let (mut durations, mut sizes) = (Vec::new(), Vec::new());
        for (i, list) in sum.server.iter().enumerate() {
            for s in list {
                let route = routes.get(i).cloned().unwrap_or_else(|| {
                    format!("{} {}", s.status, crate::http::reason_phrase(s.status))
                });
                let attributes = vec![
                    string("http.request.method", s.method.as_str()),
                    KeyValue::new("http.response.status_code", Value::Int(s.status.into())),
                    string("http.route", &route),
                    string("url.scheme", scheme),
                ];
                let d = &s.duration;
                durations.push(point(attributes.clone(), d, time, at));
                let z = &s.size;
                sizes.push(point(attributes, z, size, at));
            }
        }
        metrics.push(histogram("http.server.duration", "s", durations));
        metrics.push(histogram("http.server.response.size", "By", sizes));
    }
    if layers.proxy {
        let mut points = Vec::new();
        for (i, list) in sum.proxy.iter().enumerate() {
            for s in list {
                let mut attributes = vec![
                    string("http.request.method", config.endpoints[i].method.as_str()),
                    string("http.route", &routes[i]),
                ];
                outcome(&s.outcome, &mut attributes);
                let d = &s.duration;
                points.push(point(attributes, d, time, at));
            }
        }
        metrics.push(histogram("krakend.proxy.duration", "s", points));
    }
    if layers.backend_stage {
        let mut points = Vec::new();
        for (i, backends) in sum.backends.iter().enumerate() {
            for (b, figures) in backends.iter().enumerate() {
                for s in &figures.stage {
                    let mut attributes = backend_attributes(config, i, b, &routes[i]);
                    outcome(&s.outcome, &mut attributes);
                    let d = &s.duration;
                    points.push(point(attributes, d, time, at));
                }
            }
        }
        metrics.push(histogram("krakend.backend.duration", "s", points));
    }
    if layers.round_trip || layers.read_payload {
        let (mut durations, mut sizes) = (Vec::new(), Vec::new());
        for (i, backends) in sum.backends.iter().enumerate() {
            for (b, figures) in backends.iter().enumerate() {
                let hosts = &config.endpoints[i].backends[b].hosts;
                for (h, host) in figures.hosts.iter().enumerate() {
                    let (address, port) = super::host_and_port(&hosts[h]);
                    for c in &host.calls {
                        let mut attributes = backend_attributes(config, i, b, &routes[i]);
                        attributes.push(KeyValue::new(
                            "http.response.status_code",
                            Value::Int(c.status.into()),
                        ));
                        attributes.push(string("server.address", address));
                        attributes.push(KeyValue::new("server.port", Value::Int(port.into())));
                        let d = &c.duration;
                        durations.push(point(attributes.clone(), d, time, at));
                        let z = &c.size;
                        sizes.push(point(attributes, z, size, at));
                    }
                }
            }
        }
        if layers.round_trip {
            metrics.push(histogram("http.client.duration", "s", durations));
        }
        if layers.read_payload {
            metrics.push(histogram("http.client.response.size", "By", sizes));
        }
    }
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(otlp::InstrumentationScope {
                    name: "io.krakend.krakend-otel".to_owned(),
                    version: String::new(),
                }),
                metrics,
            }],
        }],
    }
    .encode_to_vec()
}
