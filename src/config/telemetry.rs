//! `telemetry/opentelemetry`: the Prometheus exporter and the metric layers
//! (read by `crate::metrics`). Traces and OTLP exporters are not
//! implemented; they only observe, so their keys are warned about, not
//! refused.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value;

use super::error::{BuildResult, Problem};
use super::raw::{RawOpenTelemetry, RawPrometheusExporter};

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
    let layers = raw.layers;
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
    Ok(Telemetry {
        exporters,
        layers,
        skip_paths,
    })
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

/// Lists the keys cuttle reads nothing from: traces, OTLP, attributes,
/// reporting periods, Go runtime metrics.
fn note_ignored(value: &Value, ignored: &mut BTreeSet<String>) {
    let mut note = |path: String| {
        ignored.insert(format!("{NAMESPACE}.{path}"));
    };
    let Value::Object(root) = value else { return };
    for (key, v) in root {
        match key.as_str() {
            "skip_paths" => {}
            k if k.starts_with('@') => {}
            "exporters" => {
                for (kind, list) in v.as_object().into_iter().flatten() {
                    match kind.as_str() {
                        "prometheus" => {
                            for (i, e) in list.as_array().into_iter().flatten().enumerate() {
                                for k in e.as_object().into_iter().flatten().map(|(k, _)| k) {
                                    if !matches!(
                                        k.as_str(),
                                        "name"
                                            | "port"
                                            | "listen_ip"
                                            | "host"
                                            | "process_metrics"
                                            | "disable_metrics"
                                    ) && !k.starts_with('@')
                                    {
                                        note(format!("exporters.prometheus[{i}].{k}"));
                                    }
                                }
                            }
                        }
                        k if k.starts_with('@') => {}
                        other => note(format!("exporters.{other}")),
                    }
                }
            }
            "layers" => {
                for (layer, settings) in v.as_object().into_iter().flatten() {
                    let known: &[&str] = match layer.as_str() {
                        "global" | "proxy" => &["disable_metrics"],
                        "backend" => &["metrics"],
                        _ => &[],
                    };
                    for k in settings.as_object().into_iter().flatten().map(|(k, _)| k) {
                        if !known.contains(&k.as_str()) && !k.starts_with('@') {
                            note(format!("layers.{layer}.{k}"));
                        }
                    }
                    if layer == "backend"
                        && let Some(metrics) = settings.get("metrics").and_then(Value::as_object)
                    {
                        for k in metrics.keys() {
                            if !matches!(
                                k.as_str(),
                                "disable_stage" | "round_trip" | "read_payload"
                            ) && !k.starts_with('@')
                            {
                                note(format!("layers.backend.metrics.{k}"));
                            }
                        }
                    }
                }
            }
            other => note(other.to_owned()),
        }
    }
}
