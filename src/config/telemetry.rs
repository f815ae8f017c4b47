//! `telemetry/opentelemetry`: the Prometheus exporter and the metric layers
//! (read by `crate::metrics`), the OTLP exporters and the trace layers
//! (read by `crate::telemetry`). Option names, types and defaults are
//! krakend-otel's (`config/config.go`, `exporter/otelcollector`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value;

use super::error::{BuildResult, Problem};
use super::raw::{RawOpenTelemetry, RawOtelAttribute, RawPrometheusExporter};

pub const NAMESPACE: &str = "telemetry/opentelemetry";

/// KrakenD's default exporter port.
pub const DEFAULT_METRICS_PORT: u16 = 9090;

/// Paths whose requests are not measured unless `skip_paths` says
/// otherwise (krakend-otel's defaults; a list with only `""` skips nothing).
pub const DEFAULT_SKIP_PATHS: [&str; 4] = ["/__health", "/__debug/", "/__echo/", "/__stats/"];

/// What to measure and where to publish it.
#[derive(Debug, Clone)]
pub struct Telemetry {
    /// Prometheus exporters that serve `/metrics` (those with
    /// `disable_metrics` are left out).
    pub exporters: Vec<PrometheusExporter>,
    pub layers: MetricLayers,
    /// Request paths not measured (exact match, as krakend-otel).
    pub skip_paths: Vec<String>,
    /// `histograms`: the bucket bounds of every duration (seconds) and
    /// size (bytes) histogram.
    pub histograms: Histograms,
    /// The static attributes of each layer, as label text (see
    /// [`StaticLabels`]).
    pub static_labels: StaticLabels,
    /// `exporters.otlp`, all of them (each says whether it takes traces
    /// and metrics).
    pub otlp: Vec<OtlpExporter>,
    /// What traces record, when an OTLP exporter takes them.
    pub traces: Option<TraceSettings>,
    /// `service_name`, `service_version`, `deploy_env`: the resource of
    /// everything pushed over OTLP.
    pub resource: Resource,
    /// `metric_reporting_period` (seconds; krakend-otel's default 30).
    pub metric_reporting_period: std::time::Duration,
}

/// One `exporters.otlp` entry (krakend-otel `config.OTLPExporter`,
/// `exporter/otelcollector/otelcollector.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpExporter {
    pub name: String,
    /// A host name or address (krakend-otel's default `localhost`).
    pub host: String,
    /// krakend-otel's default 4317 (also with `use_http`).
    pub port: u16,
    /// OTLP/HTTP (protobuf, POST `/v1/traces`) instead of OTLP/gRPC.
    pub use_http: bool,
    pub traces: bool,
    pub metrics: bool,
    /// `custom_metric_reporting_period`, when at least a second.
    pub metric_period: Option<std::time::Duration>,
}

/// `service_name` (`None`: the root `name`, else "KrakenD", as
/// krakend-otel `config/lura.go`; see `crate::telemetry`),
/// `service_version` (default: cuttle's version), `deploy_env`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    pub service_name: Option<String>,
    pub service_version: String,
    pub deploy_env: Option<String>,
}

/// The trace layers (krakend-otel `GlobalOpts`, `PipeOpts`,
/// `BackendTraceOpts`).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSettings {
    /// `trace_sample_rate`, 0 to 1 (default 1).
    pub sample_rate: f64,
    /// `layers.global.disable_traces` off: the server span.
    pub global: bool,
    /// `layers.global.disable_propagation` off: `traceparent` read from
    /// clients and sent to backends.
    pub propagation: bool,
    /// `layers.global.report_headers`: the request's headers as
    /// attributes of the server span, but those of `skip_headers`
    /// (lower-cased).
    pub report_headers: bool,
    pub skip_headers: Vec<String>,
    /// `layers.proxy.disable_traces` off: the proxy span.
    pub proxy: bool,
    /// `layers.backend.traces`: `disable_stage` off or `round_trip`: a
    /// span per backend call.
    pub backend: bool,
    /// `traces_static_attributes` / `static_attributes` of each layer
    /// (entries with an empty key or value skipped, as krakend-otel).
    pub global_attributes: Vec<(String, String)>,
    pub proxy_attributes: Vec<(String, String)>,
    pub backend_attributes: Vec<(String, String)>,
}

/// krakend-otel's metrics static attributes as Prometheus label text,
/// each `,name="value"` (names made label names as OpenTelemetry's
/// Prometheus exporter makes them, values escaped), appended to every
/// series of the layer: `layers.global.metrics_static_attributes`
/// (`http_server_*`), `layers.proxy.metrics_static_attributes`
/// (`krakend_proxy_duration`), `layers.backend.metrics.static_attributes`
/// (`krakend_backend_duration` and `http_client_*`; krakend-otel
/// `lura/proxy.go`, `lura/backend.go`, `http/server/server.go`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticLabels {
    pub global: String,
    pub proxy: String,
    pub backend: String,
}

/// The labels cuttle's series carry; a static attribute may not reuse one.
const CUTTLE_LABELS: &[&str] = &[
    "canceled",
    "complete",
    "error",
    "http_request_method",
    "http_response_status_code",
    "http_route",
    "krakend_backend_shadow",
    "krakend_endpoint_method",
    "krakend_endpoint_route",
    "le",
    "server_address",
    "server_port",
    "url_scheme",
    "cpu",
    "worker",
];

/// `list` (found at `at`) as label text; krakend-otel skips an attribute
/// whose key or value is empty.
fn static_labels(list: Option<Vec<RawOtelAttribute>>, at: &str) -> BuildResult<String> {
    let mut out = String::new();
    let mut seen = BTreeSet::new();
    for (i, attribute) in list.into_iter().flatten().enumerate() {
        let (Some(key), Some(value)) = (attribute.key, attribute.value) else {
            continue;
        };
        if key.is_empty() || value.is_empty() {
            continue;
        }
        let mut name: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            name.insert_str(0, "key_");
        }
        if name.starts_with("__") || CUTTLE_LABELS.contains(&name.as_str()) {
            return Err(Problem::new(
                format!("{at}[{i}].key"),
                format!(
                    "\"{key}\" would be the label \"{name}\", which is reserved or already on these series; choose another key"
                ),
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(Problem::new(
                format!("{at}[{i}].key"),
                format!(
                    "\"{key}\" is the label \"{name}\" a second time; give each attribute its own key"
                ),
            ));
        }
        let value = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        out.push_str(&format!(",{name}=\"{value}\""));
    }
    Ok(out)
}

/// Upper bounds of histogram buckets, ascending (`+Inf` is implied).
#[derive(Debug, Clone, PartialEq)]
pub struct Histograms {
    pub time: Vec<f64>,
    pub size: Vec<f64>,
}

/// krakend-otel's buckets (`config/histogram_buckets.go`), the schema's
/// defaults for `histograms`.
pub const DEFAULT_TIME_BUCKETS: [f64; 20] = [
    0.010, 0.020, 0.050, 0.075, 0.100, 0.125, 0.150, 0.175, 0.200, 0.250, 0.300, 0.350, 0.500,
    0.750, 1.000, 1.500, 2.000, 3.500, 5.000, 10.000,
];
pub const DEFAULT_SIZE_BUCKETS: [f64; 15] = [
    128.0,
    256.0,
    512.0,
    1024.0,
    4096.0,
    8192.0,
    16384.0,
    32768.0,
    65536.0,
    262_144.0,
    524_288.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

impl Default for Histograms {
    fn default() -> Self {
        Histograms {
            time: DEFAULT_TIME_BUCKETS.to_vec(),
            size: DEFAULT_SIZE_BUCKETS.to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PrometheusExporter {
    pub name: String,
    pub listen_ip: IpAddr,
    pub port: u16,
    /// `process_metrics`: the `process_*` series.
    pub process_metrics: bool,
}

/// `layers`: which of KrakenD's metric families are recorded.
#[derive(Debug, Clone, Copy)]
pub struct MetricLayers {
    /// `global.disable_metrics` off: `http_server_duration` and `_response_size`.
    pub global: bool,
    /// `proxy.disable_metrics` off: `krakend_proxy_duration`.
    pub proxy: bool,
    /// `backend.metrics.disable_stage` off: `krakend_backend_duration`.
    pub backend_stage: bool,
    /// `backend.metrics.round_trip`: `http_client_duration` and the
    /// `http_client_request_*_count` counters.
    pub round_trip: bool,
    /// `backend.metrics.read_payload`: `http_client_response_size`.
    pub read_payload: bool,
}

impl MetricLayers {
    pub fn backend(&self) -> bool {
        self.backend_stage || self.round_trip || self.read_payload
    }
}

/// Builds the namespace found at `at`; keys cuttle does not act on go into
/// `ignored` (as `telemetry/opentelemetry.key`).
pub fn build(
    value: &Value,
    at: &str,
    decode: impl Fn(&Value, &str) -> BuildResult<RawOpenTelemetry>,
    ignored: &mut BTreeSet<String>,
) -> BuildResult<Telemetry> {
    note_ignored(value, ignored);
    let raw = decode(value, at)?;
    let mut exporters = Vec::new();
    let mut names = BTreeSet::new();
    let (prometheus, otlp) = match raw.exporters {
        Some(e) => (e.prometheus.unwrap_or_default(), e.otlp.unwrap_or_default()),
        None => (Vec::new(), Vec::new()),
    };
    for (i, exporter) in prometheus.into_iter().enumerate() {
        let at = format!("{at}.exporters.prometheus[{i}]");
        let name = exporter.name.clone().unwrap_or_default();
        if !names.insert(name.clone()) {
            return Err(Problem::new(
                format!("{at}.name"),
                format!("\"{name}\" names two exporters; give each exporter its own name"),
            ));
        }
        if let Some(exporter) = prometheus_exporter(exporter, name, &at)? {
            if let Some(other) = exporters
                .iter()
                .find(|e: &&PrometheusExporter| e.port == exporter.port)
            {
                return Err(Problem::new(
                    format!("{at}.port"),
                    format!(
                        "port {} is already the port of exporter \"{}\"; give each exporter its own port",
                        exporter.port, other.name
                    ),
                ));
            }
            exporters.push(exporter);
        }
    }
    let mut otlp_exporters = Vec::new();
    for (i, exporter) in otlp.into_iter().enumerate() {
        let at = format!("{at}.exporters.otlp[{i}]");
        let exporter = otlp_exporter(exporter, &at)?;
        if !names.insert(exporter.name.clone()) {
            return Err(Problem::new(
                format!("{at}.name"),
                format!(
                    "\"{}\" names two exporters; give each exporter its own name",
                    exporter.name
                ),
            ));
        }
        otlp_exporters.push(exporter);
    }
    let metric_reporting_period = match raw.metric_reporting_period {
        None => std::time::Duration::from_secs(30),
        Some(secs) if secs > 0 => std::time::Duration::from_secs(secs as u64),
        Some(secs) => {
            return Err(Problem::new(
                format!("{at}.metric_reporting_period"),
                format!("{secs} is not a period; write a number of seconds above 0, e.g. 30"),
            ));
        }
    };
    let sample_rate = match raw.trace_sample_rate {
        None => 1.0,
        Some(rate) if (0.0..=1.0).contains(&rate) => rate,
        Some(rate) => {
            return Err(Problem::new(
                format!("{at}.trace_sample_rate"),
                format!(
                    "{rate} is not a rate; write a number from 0 (no request traced) to 1 (every request), e.g. 0.1"
                ),
            ));
        }
    };
    let resource = Resource {
        service_name: raw.service_name.filter(|n| !n.is_empty()),
        service_version: raw
            .service_version
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned()),
        deploy_env: raw.deploy_env.filter(|e| !e.is_empty()),
    };
    let traces = trace_settings(raw.layers.as_ref(), sample_rate, &format!("{at}.layers"))?
        .filter(|_| otlp_exporters.iter().any(|e| e.traces));
    let mut layers = raw.layers;
    let at_layers = format!("{at}.layers");
    let static_labels = StaticLabels {
        global: static_labels(
            layers
                .as_mut()
                .and_then(|l| l.global.as_mut())
                .and_then(|g| g.metrics_static_attributes.take()),
            &format!("{at_layers}.global.metrics_static_attributes"),
        )?,
        proxy: static_labels(
            layers
                .as_mut()
                .and_then(|l| l.proxy.as_mut())
                .and_then(|g| g.metrics_static_attributes.take()),
            &format!("{at_layers}.proxy.metrics_static_attributes"),
        )?,
        backend: static_labels(
            layers
                .as_mut()
                .and_then(|l| l.backend.as_mut())
                .and_then(|b| b.metrics.as_mut())
                .and_then(|m| m.static_attributes.take()),
            &format!("{at_layers}.backend.metrics.static_attributes"),
        )?,
    };
    let off = |switch: Option<&super::raw::RawOtelSwitch>| {
        switch.and_then(|s| s.disable_metrics).unwrap_or(false)
    };
    let backend = layers
        .as_ref()
        .and_then(|l| l.backend.as_ref())
        .and_then(|b| b.metrics.as_ref());
    let layers = MetricLayers {
        global: !off(layers.as_ref().and_then(|l| l.global.as_ref())),
        proxy: !off(layers.as_ref().and_then(|l| l.proxy.as_ref())),
        backend_stage: !backend.and_then(|b| b.disable_stage).unwrap_or(false),
        // krakend-otel's defaults when `backend.metrics` is absent: all on.
        round_trip: backend.is_none_or(|b| b.round_trip.unwrap_or(false)),
        read_payload: backend.is_none_or(|b| b.read_payload.unwrap_or(false)),
    };
    let skip_paths = match raw.skip_paths {
        Some(paths) if !paths.is_empty() => paths,
        _ => DEFAULT_SKIP_PATHS.iter().map(|p| p.to_string()).collect(),
    };
    let mut histograms = Histograms::default();
    if let Some(raw) = raw.histograms {
        let at = format!("{at}.histograms");
        if let Some(time) = raw.time_buckets {
            histograms.time = buckets(time, &format!("{at}.time_buckets"), &DEFAULT_TIME_BUCKETS)?;
        }
        if let Some(size) = raw.size_buckets {
            histograms.size = buckets(size, &format!("{at}.size_buckets"), &DEFAULT_SIZE_BUCKETS)?;
        }
    }
    Ok(Telemetry {
        exporters,
        layers,
        skip_paths,
        histograms,
        static_labels,
        otlp: otlp_exporters,
        traces,
        resource,
        metric_reporting_period,
    })
}

/// One `exporters.otlp` entry: krakend-otel's defaults (`localhost`,
/// 4317 whatever the protocol; `ExporterWithOptions`). A `host` may start
/// with `http://` (what krakend-otel strips); `https://` is refused, since
/// cuttle speaks to collectors in plain text only and would otherwise send
/// what was meant to be encrypted in the clear.
fn otlp_exporter(raw: super::raw::RawOtlpExporter, at: &str) -> BuildResult<OtlpExporter> {
    let mut host = raw.host.unwrap_or_default();
    if let Some(rest) = host.strip_prefix("http://") {
        host = rest.trim_end_matches('/').to_owned();
    } else if host.starts_with("https://") {
        return Err(Problem::new(
            format!("{at}.host"),
            format!(
                "\"{host}\": cuttle sends OTLP without TLS; run a collector it can reach in plain text (e.g. a local agent) and name it without https://"
            ),
        ));
    }
    if host.is_empty() {
        host = "localhost".to_owned();
    }
    if host.contains(['/', ' ', '@', '?', '#']) {
        return Err(Problem::new(
            format!("{at}.host"),
            format!(
                "\"{host}\" is not a host name or address; write e.g. \"otel-collector\" or \"127.0.0.1\""
            ),
        ));
    }
    let port = match raw.port {
        None | Some(0) => 4317,
        Some(port) => u16::try_from(port).ok().filter(|p| *p != 0).ok_or_else(|| {
            Problem::new(
                format!("{at}.port"),
                format!("{port} is not a port; write a number from 1 to 65535, e.g. 4317 (gRPC) or 4318 (HTTP)"),
            )
        })?,
    };
    let metric_period = match raw.custom_metric_reporting_period {
        Some(secs) if secs >= 1 => Some(std::time::Duration::from_secs(secs as u64)),
        Some(secs) if secs < 0 => {
            return Err(Problem::new(
                format!("{at}.custom_metric_reporting_period"),
                format!(
                    "{secs} is not a period; write a number of seconds, e.g. 30, or leave it out"
                ),
            ));
        }
        _ => None,
    };
    Ok(OtlpExporter {
        name: raw.name.unwrap_or_default(),
        host,
        port,
        use_http: raw.use_http.unwrap_or(false),
        traces: !raw.disable_traces.unwrap_or(false),
        metrics: !raw.disable_metrics.unwrap_or(false),
        metric_period,
    })
}

/// The trace layers; `None` when every layer is off.
fn trace_settings(
    layers: Option<&super::raw::RawOtelLayers>,
    sample_rate: f64,
    at: &str,
) -> BuildResult<Option<TraceSettings>> {
    let global = layers.and_then(|l| l.global.as_ref());
    let proxy = layers.and_then(|l| l.proxy.as_ref());
    let backend = layers
        .and_then(|l| l.backend.as_ref())
        .and_then(|b| b.traces.as_ref());
    let attributes = |list: Option<&Vec<super::raw::RawOtelAttribute>>, at: &str| {
        let mut out: Vec<(String, String)> = Vec::new();
        for (i, a) in list.into_iter().flatten().enumerate() {
            let (Some(key), Some(value)) = (&a.key, &a.value) else {
                continue;
            };
            if key.is_empty() || value.is_empty() {
                continue;
            }
            if out.iter().any(|(k, _)| k == key) {
                return Err(Problem::new(
                    format!("{at}[{i}].key"),
                    format!("\"{key}\" is listed twice; give each attribute its own key"),
                ));
            }
            out.push((key.clone(), value.clone()));
        }
        Ok(out)
    };
    let settings = TraceSettings {
        sample_rate,
        global: !global.and_then(|g| g.disable_traces).unwrap_or(false),
        propagation: !global.and_then(|g| g.disable_propagation).unwrap_or(false),
        report_headers: global.and_then(|g| g.report_headers).unwrap_or(false),
        skip_headers: global
            .and_then(|g| g.skip_headers.as_ref())
            .into_iter()
            .flatten()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        proxy: !proxy.and_then(|p| p.disable_traces).unwrap_or(false),
        // krakend-otel's defaults when `backend.traces` is absent:
        // `round_trip` on (`UnsetFieldsToDefaults`).
        backend: backend
            .is_none_or(|b| !b.disable_stage.unwrap_or(false) || b.round_trip.unwrap_or(false)),
        global_attributes: attributes(
            global.and_then(|g| g.traces_static_attributes.as_ref()),
            &format!("{at}.global.traces_static_attributes"),
        )?,
        proxy_attributes: attributes(
            proxy.and_then(|p| p.traces_static_attributes.as_ref()),
            &format!("{at}.proxy.traces_static_attributes"),
        )?,
        backend_attributes: attributes(
            backend.and_then(|b| b.static_attributes.as_ref()),
            &format!("{at}.backend.traces.static_attributes"),
        )?,
    };
    let any = settings.global || settings.proxy || settings.backend || settings.propagation;
    Ok(any.then_some(settings))
}

/// A `histograms` list: the OpenTelemetry SDK takes explicit bounds that
/// rise strictly (`metric.WithExplicitBucketBoundaries`); an empty list
/// keeps the defaults (the schema's default is the full list).
fn buckets(list: Vec<f64>, at: &str, default: &[f64]) -> BuildResult<Vec<f64>> {
    if list.is_empty() {
        return Ok(default.to_vec());
    }
    for (i, pair) in list.windows(2).enumerate() {
        if pair[1] <= pair[0] {
            return Err(Problem::new(
                format!("{at}[{}]", i + 1),
                format!(
                    "{} is not above the bound before it ({}); list the bucket bounds in rising order, e.g. [0.1, 0.5, 1, 5]",
                    pair[1], pair[0]
                ),
            ));
        }
    }
    if list.len() > 256 {
        return Err(Problem::new(
            at,
            "more than 256 bounds; every series would carry that many buckets",
        ));
    }
    Ok(list)
}

fn prometheus_exporter(
    raw: RawPrometheusExporter,
    name: String,
    at: &str,
) -> BuildResult<Option<PrometheusExporter>> {
    if raw.disable_metrics == Some(true) {
        return Ok(None);
    }
    let listen_ip = match raw.listen_ip.as_deref().or(raw.host.as_deref()) {
        None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(text) => text.parse().map_err(|_| {
            let key = if raw.listen_ip.is_some() { "listen_ip" } else { "host" };
            Problem::new(
                format!("{at}.{key}"),
                format!("\"{text}\" is not an IP address; write e.g. \"0.0.0.0\" (all interfaces) or \"127.0.0.1\""),
            )
        })?,
    };
    Ok(Some(PrometheusExporter {
        name,
        listen_ip,
        // krakend-otel: port 0 means the default.
        port: raw.port.filter(|p| *p != 0).unwrap_or(DEFAULT_METRICS_PORT),
        process_metrics: raw.process_metrics.unwrap_or(false),
    }))
}

/// Lists the keys no row of `options.rs` names (unknown ones); the rows'
/// ignored keys are reported there, with their path and why.
fn note_ignored(value: &Value, ignored: &mut BTreeSet<String>) {
    fn walk(value: &Value, path: &str, ignored: &mut BTreeSet<String>) {
        let Value::Object(object) = value else { return };
        for (key, v) in object {
            if key.starts_with(['@', '$', '_', '#']) {
                continue;
            }
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let listed = super::options::has_row(NAMESPACE, &path);
            if listed && super::options::has_rows_below(NAMESPACE, &path) {
                let items: Vec<&Value> = match v {
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for item in items {
                    walk(item, &path, ignored);
                }
            } else if !listed {
                ignored.insert(format!("{NAMESPACE}.{path}"));
            }
        }
    }
    walk(value, "", ignored);
}
