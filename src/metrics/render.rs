//! The Prometheus text format (version 0.0.4) of summed figures, with the
//! metric and label names krakend-otel's OpenTelemetry → Prometheus
//! exporter produces (dots become underscores, no unit suffix, counters end
//! in `_total`), so KrakenD's Grafana dashboards read them unchanged.

use std::fmt::Write as _;

use super::figures::{Figures, StageSeries};
use super::histogram::Histogram;
use crate::config::{Config, Histograms, MetricLayers};
use crate::http::reason_phrase;

/// One worker's published figures and where it runs.
pub struct WorkerView<'a> {
    pub worker: usize,
    pub cpu: usize,
    pub figures: Option<&'a Figures>,
}

/// KrakenD's route label: the endpoint pattern with gin's `:name` for a
/// `{name}` placeholder (lura rewrites endpoints so for its router);
/// backend patterns get the lower-cased name, as krakend-otel's
/// `NormalizeURLPattern` leaves them.
pub fn route_label(pattern: &str, lower: bool) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push(':');
        let name = &rest[open + 1..open + close];
        if lower {
            out.push_str(&name.to_lowercase());
        } else {
            out.push_str(name);
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// `server_address` and `server_port` of a backend base URL (the
/// scheme's port when none is written; also the spans' attributes).
pub fn address_and_port(base: &str) -> (&str, u16) {
    let (default, rest) = match base.split_once("://") {
        Some(("https", rest)) => (443, rest),
        Some((_, rest)) => (80, rest),
        None => (80, base),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    if let Some(v6) = authority.strip_prefix('[')
        && let Some((host, port)) = v6.split_once(']')
    {
        let port = port.strip_prefix(':').and_then(|p| p.parse().ok());
        return (host, port.unwrap_or(default));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().unwrap_or(default)),
        None => (authority, default),
    }
}

/// A label value, escaped as the text format requires.
fn escaped(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn head(out: &mut String, name: &str, kind: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn histogram(&mut self, name: &str, labels: &str, h: &Histogram, bounds: &[f64]) {
        for (bound, count) in h.cumulative(bounds) {
            let le = match bound {
                Some(b) => format!("{b}"),
                None => "+Inf".into(),
            };
            let _ = writeln!(self.out, "{name}_bucket{{{labels},le=\"{le}\"}} {count}");
        }
        let _ = writeln!(self.out, "{name}_sum{{{labels}}} {}", float(h.sum()));
        let _ = writeln!(self.out, "{name}_count{{{labels}}} {}", h.count());
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
    }
}

fn float(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "0".into()
    }
}

fn stage_labels(s: &StageSeries) -> String {
    format!(
        "canceled=\"{}\",complete=\"{}\",error=\"{}\"",
        s.outcome.canceled, s.outcome.complete, s.outcome.error
    )
}

/// Renders the gateway's metrics: KrakenD's families from `sum`, then each
/// worker's own series.
pub fn render(
    config: &Config,
    layers: MetricLayers,
    sum: &Figures,
    workers: &[WorkerView<'_>],
    out: &mut String,
) {
    let endpoint_routes: Vec<String> = config
        .endpoints
        .iter()
        .map(|e| route_label(&e.path, false))
        .collect();
    let bounds = config
        .telemetry
        .as_ref()
        .map(|t| t.histograms.clone())
        .unwrap_or_default();
    let (time_bounds, size_bounds) = (&bounds.time[..], &bounds.size[..]);
    let statics = config
        .telemetry
        .as_ref()
        .map(|t| t.static_labels.clone())
        .unwrap_or_default();
    let mut f = Family { out };
    if layers.global {
        for (name, help, size) in [
            (
                "http_server_duration",
                "Time to serve a request, from its first byte to the response written (seconds).",
                false,
            ),
            (
                "http_server_response_size",
                "Bytes of the responses written.",
                true,
            ),
        ] {
            Family::head(f.out, name, "histogram", help);
            for (i, list) in sum.server.iter().enumerate() {
                for s in list {
                    let route = match endpoint_routes.get(i) {
                        Some(route) => route.clone(),
                        // krakend-otel's label when no endpoint matched.
                        None => format!("{} {}", s.status, reason_phrase(s.status)),
                    };
                    let labels = format!(
                        "http_request_method=\"{}\",http_response_status_code=\"{}\",http_route=\"{}\",url_scheme=\"{}\"{}",
                        s.method.as_str(),
                        s.status,
                        escaped(&route),
                        if config.tls.is_some() {
                            "https"
                        } else {
                            "http"
                        },
                        statics.global,
                    );
                    if size {
                        f.histogram(name, &labels, &s.size, size_bounds);
                    } else {
                        f.histogram(name, &labels, &s.duration, time_bounds);
                    }
                }
            }
        }
    }
    if layers.proxy {
        Family::head(
            f.out,
            "krakend_proxy_duration",
            "histogram",
            "Time of the proxy stage of an endpoint: backend calls, merge and encoding (seconds).",
        );
        for (i, list) in sum.proxy.iter().enumerate() {
            for s in list {
                let labels = format!(
                    "{},http_request_method=\"{}\",http_route=\"{}\"{}",
                    stage_labels(s),
                    config.endpoints[i].method.as_str(),
                    escaped(&endpoint_routes[i]),
                    statics.proxy,
                );
                f.histogram("krakend_proxy_duration", &labels, &s.duration, time_bounds);
            }
        }
    }
    if layers.backend() {
        render_backends(config, layers, &bounds, sum, &endpoint_routes, &mut f);
    }
    render_workers(workers, &mut f);
    // The OTLP trace exporter's counters (`crate::telemetry`).
    crate::telemetry::export::render(f.out);
}

fn render_backends(
    config: &Config,
    layers: MetricLayers,
    bounds: &Histograms,
    sum: &Figures,
    endpoint_routes: &[String],
    f: &mut Family<'_>,
) {
    let (time_bounds, size_bounds) = (&bounds.time[..], &bounds.size[..]);
    let backend_statics = config
        .telemetry
        .as_ref()
        .map(|t| t.static_labels.backend.as_str())
        .unwrap_or("");
    // The labels every backend series carries, per endpoint and backend.
    // A shadow backend's (lura `proxy/shadow.go`: mirrored, answer
    // discarded) also say so, so that its calls are not read as the
    // endpoint's own (a cuttle label; krakend-otel has none).
    let fixed: Vec<Vec<String>> = config
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| {
            e.backends
                .iter()
                .map(|b| {
                    let path = b.url_pattern.split('?').next().unwrap_or("");
                    format!(
                        "http_request_method=\"{}\",http_route=\"{}\",krakend_endpoint_method=\"{}\",krakend_endpoint_route=\"{}\"{}{}",
                        b.method.as_str(),
                        escaped(&route_label(path, true)),
                        e.method.as_str(),
                        escaped(&endpoint_routes[i]),
                        if b.shadow.is_some() {
                            ",krakend_backend_shadow=\"true\""
                        } else {
                            ""
                        },
                        backend_statics,
                    )
                })
                .collect()
        })
        .collect();
    let each_backend =
        |f: &mut Family<'_>, visit: &mut dyn FnMut(&mut Family<'_>, usize, usize)| {
            for (e, backends) in sum.backends.iter().enumerate() {
                for b in 0..backends.len() {
                    visit(f, e, b);
                }
            }
        };
    if layers.backend_stage {
        Family::head(
            f.out,
            "krakend_backend_duration",
            "histogram",
            "Time of one backend call as the proxy sees it (seconds).",
        );
        each_backend(f, &mut |f, e, b| {
            for s in &sum.backends[e][b].stage {
                let labels = format!("{},{}", stage_labels(s), fixed[e][b]);
                f.histogram(
                    "krakend_backend_duration",
                    &labels,
                    &s.duration,
                    time_bounds,
                );
            }
        });
    }
    let host_labels = |e: usize, b: usize, h: usize, status: u16| {
        let (address, port) = address_and_port(&config.endpoints[e].backends[b].hosts[h]);
        format!(
            "{},http_response_status_code=\"{status}\",server_address=\"{}\",server_port=\"{port}\"",
            fixed[e][b],
            escaped(address)
        )
    };
    if layers.round_trip {
        Family::head(
            f.out,
            "http_client_duration",
            "histogram",
            "Time of one HTTP exchange with a backend host (seconds).",
        );
        each_backend(f, &mut |f, e, b| {
            for (h, host) in sum.backends[e][b].hosts.iter().enumerate() {
                for c in &host.calls {
                    let labels = host_labels(e, b, h, c.status);
                    f.histogram("http_client_duration", &labels, &c.duration, time_bounds);
                }
            }
        });
    }
    if layers.read_payload {
        Family::head(
            f.out,
            "http_client_response_size",
            "histogram",
            "Bytes of the response bodies read from backend hosts.",
        );
        each_backend(f, &mut |f, e, b| {
            for (h, host) in sum.backends[e][b].hosts.iter().enumerate() {
                for c in &host.calls {
                    let labels = host_labels(e, b, h, c.status);
                    f.histogram("http_client_response_size", &labels, &c.size, size_bounds);
                }
            }
        });
    }
    render_cache(config, sum, &fixed, f);
    if !(layers.round_trip || layers.read_payload) {
        return;
    }
    Family::head(
        f.out,
        "http_client_request_started_count_total",
        "counter",
        "Backend requests started.",
    );
    each_backend(f, &mut |f, e, b| {
        for (h, host) in sum.backends[e][b].hosts.iter().enumerate() {
            for c in &host.calls {
                let name = "http_client_request_started_count_total";
                f.sample(name, &host_labels(e, b, h, c.status), c.started);
            }
        }
    });
    for (name, help, value) in [
        (
            "http_client_request_failed_count_total",
            "Backend requests that failed (timed-out ones included).",
            (|h| h.failed) as fn(&super::figures::HostFigures) -> u64,
        ),
        (
            "http_client_request_canceled_count_total",
            "Backend requests canceled (another concurrent call answered first).",
            |h| h.canceled,
        ),
        (
            "http_client_request_timedout_count_total",
            "Backend requests cut by the endpoint's timeout.",
            |h| h.timed_out,
        ),
    ] {
        Family::head(f.out, name, "counter", help);
        each_backend(f, &mut |f, e, b| {
            for (h, host) in sum.backends[e][b].hosts.iter().enumerate() {
                f.sample(name, &host_labels(e, b, h, 0), value(host));
            }
        });
    }
}

/// `cuttle_backend_cache_*_total` (a cuttle family; krakend-otel has none),
/// for the backends with `qos/http-cache` only.
fn render_cache(config: &Config, sum: &Figures, fixed: &[Vec<String>], f: &mut Family<'_>) {
    let cached = |e: usize, b: usize| {
        config.endpoints[e].backends[b].http_cache.is_some() && !sum.backends[e].is_empty()
    };
    if !(0..config.endpoints.len())
        .any(|e| (0..config.endpoints[e].backends.len()).any(|b| cached(e, b)))
    {
        return;
    }
    type Get = fn(&super::figures::CacheFigures) -> u64;
    let families: [(&str, &str, Get); 3] = [
        (
            "cuttle_backend_cache_hits_total",
            "Backend calls answered from the qos/http-cache store without a request (stale-if-error answers included).",
            |c| c.hits,
        ),
        (
            "cuttle_backend_cache_revalidated_total",
            "Backend calls whose stale stored answer the backend confirmed (304 Not Modified).",
            |c| c.revalidated,
        ),
        (
            "cuttle_backend_cache_misses_total",
            "Cacheable backend calls the backend answered in full.",
            |c| c.misses,
        ),
    ];
    for (name, help, get) in families {
        Family::head(f.out, name, "counter", help);
        for (e, backends) in sum.backends.iter().enumerate() {
            for (b, figures) in backends.iter().enumerate() {
                if cached(e, b) {
                    f.sample(name, &fixed[e][b], get(&figures.cache));
                }
            }
        }
    }
}

fn render_workers(workers: &[WorkerView<'_>], f: &mut Family<'_>) {
    type Get = fn(&Figures) -> String;
    let families: [(&str, &str, &str, Get); 10] = [
        (
            "cuttle_worker_requests_total",
            "counter",
            "Requests answered by this worker (all of them, skip_paths included).",
            |x| x.worker.requests.to_string(),
        ),
        (
            "cuttle_worker_accepted_connections_total",
            "counter",
            "Client connections this worker accepted.",
            |x| x.worker.accepted.to_string(),
        ),
        (
            "cuttle_worker_open_connections",
            "gauge",
            "Client connections open on this worker.",
            |x| x.worker.open_connections.to_string(),
        ),
        (
            "cuttle_worker_busy_seconds_total",
            "counter",
            "Time this worker's event loop spent running tasks rather than waiting for events (seconds); its rate is the core's utilisation.",
            |x| float(x.worker.busy_seconds),
        ),
        (
            "cuttle_worker_websocket_sessions_opened_total",
            "counter",
            "WebSocket sessions this worker opened (client and backend upgraded).",
            |x| x.worker.websocket.opened.to_string(),
        ),
        (
            "cuttle_worker_websocket_sessions_closed_total",
            "counter",
            "WebSocket sessions this worker ended.",
            |x| x.worker.websocket.closed.to_string(),
        ),
        (
            "cuttle_worker_websocket_client_frames_total",
            "counter",
            "WebSocket frames relayed from clients to backends.",
            |x| x.worker.websocket.client_frames.to_string(),
        ),
        (
            "cuttle_worker_websocket_client_bytes_total",
            "counter",
            "WebSocket bytes (frame headers and payloads) relayed from clients to backends.",
            |x| x.worker.websocket.client_bytes.to_string(),
        ),
        (
            "cuttle_worker_websocket_backend_frames_total",
            "counter",
            "WebSocket frames relayed from backends to clients.",
            |x| x.worker.websocket.backend_frames.to_string(),
        ),
        (
            "cuttle_worker_websocket_backend_bytes_total",
            "counter",
            "WebSocket bytes (frame headers and payloads) relayed from backends to clients.",
            |x| x.worker.websocket.backend_bytes.to_string(),
        ),
    ];
    for (name, kind, help, get) in families {
        Family::head(f.out, name, kind, help);
        for w in workers {
            if let Some(figures) = w.figures {
                let labels = format!("cpu=\"{}\",worker=\"{}\"", w.cpu, w.worker);
                f.sample(name, &labels, get(figures));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_labelled_as_krakend_does() {
        assert_eq!(route_label("/users/{id}", false), "/users/:id");
        assert_eq!(route_label("/a/{Id}/b/{x}", true), "/a/:id/b/:x");
        assert_eq!(route_label("/v1/*", false), "/v1/*");
        assert_eq!(route_label("/odd/{", false), "/odd/{");
    }

    #[test]
    fn hosts_give_address_and_port() {
        assert_eq!(
            address_and_port("http://127.0.0.1:8081"),
            ("127.0.0.1", 8081)
        );
        assert_eq!(
            address_and_port("https://api.example.com"),
            ("api.example.com", 443)
        );
        assert_eq!(address_and_port("http://[::1]:9000"), ("::1", 9000));
        assert_eq!(address_and_port("backend"), ("backend", 80));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escaped("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
