//! `telemetry/opentelemetry`: the Prometheus exporter and the metric layers
//! (read by `crate::metrics`). Traces and OTLP exporters are not
//! implemented; they only observe, so their keys are warned about, not
//! refused.

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
    let prometheus = raw.exporters.and_then(|e| e.prometheus).unwrap_or_default();
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
    })
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
