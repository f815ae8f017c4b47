//! Traces over OTLP (`telemetry/opentelemetry` with `exporters.otlp`): a
//! real OTLP receiver (tests/support/otlp_receiver.py, grpcio and
//! opentelemetry-proto's messages) takes what the gateway exports over
//! gRPC and over HTTP, and real backends show the `traceparent` they got.
//!
//! Without Debian's python3 with grpcio and opentelemetry-proto the
//! receiver tests are skipped, unless `CI` is set: then they fail.

// Test threads share the receiver's lines and held sockets.
#![allow(clippy::disallowed_types)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Backend, Gateway, json};
use serde_json::{Value, json};

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_PARENT: &str = "00f067aa0ba902b7";

/// The receiver, killed when dropped.
struct Receiver {
    child: Child,
    grpc: u16,
    http: u16,
    spans: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Option<Receiver> {
        let available = common::python_imports(
            "grpc, opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc",
        );
        if !common::available_or_skip(
            available,
            "Debian's python3 lacks grpcio or opentelemetry-proto (pip install --break-system-packages --no-deps opentelemetry-proto==1.20.0)",
        ) {
            return None;
        }
        let mut child = Command::new("/usr/bin/python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/otlp_receiver.py"
            ))
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("the ports line").unwrap();
        let (grpc, http) = first.split_once(' ').expect("two ports");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let into = spans.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                into.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        Some(Receiver {
            child,
            grpc: grpc.parse().unwrap(),
            http: http.parse().unwrap(),
            spans,
        })
    }

    fn of_trace(&self, trace: &str) -> Vec<Value> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s["trace_id"] == trace)
            .cloned()
            .collect()
    }

    /// Spans received (the metric lines left out).
    fn count(&self) -> usize {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.get("trace_id").is_some())
            .count()
    }

    /// The last push of metric `name`.
    fn metric(&self, name: &str) -> Option<Value> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m["metric"] == name)
            .cloned()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gateway with one endpoint `/items/{id}` on `backend`, tracing to
/// an OTLP exporter on `port`, with a Prometheus exporter for the
/// counters; `extra` keys go into the namespace.
fn gateway(backend: &Backend, port: u16, use_http: bool, extra: Value) -> (Gateway, SocketAddr) {
    let endpoints = json!([
        {"endpoint": "/items/{id}", "input_headers": ["*"],
         "backend": [{"host": [backend.url()], "url_pattern": "/item/{id}"}]},
    ]);
    gateway_with(endpoints, port, use_http, extra)
}

fn gateway_with(
    endpoints: Value,
    port: u16,
    use_http: bool,
    extra: Value,
) -> (Gateway, SocketAddr) {
    let metrics = common::free_port();
    let mut telemetry = json!({
        "service_name": "otel-test",
        "exporters": {
            "otlp": [{"name": "o", "host": "127.0.0.1", "port": port, "use_http": use_http}],
            "prometheus": [{"name": "p", "port": metrics, "listen_ip": "127.0.0.1"}]
        }
    });
    for (k, v) in extra.as_object().unwrap() {
        telemetry[k] = v.clone();
    }
    let config = json!({
        "version": 3,
        "timeout": "2s",
        "extra_config": {"telemetry/opentelemetry": telemetry},
        "endpoints": endpoints
    });
    let gw = Gateway::start(&config.to_string());
    (gw, SocketAddr::from(([127, 0, 0, 1], metrics)))
}

fn backend() -> Backend {
    Backend::start(|_| json(200, r#"{"a":1}"#))
}

fn get(gw: &Gateway, path: &str, headers: &str) -> common::Response {
    gw.raw(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n").as_bytes())
}

/// A `traceparent` as (trace id, parent id, flags).
fn traceparent(value: &str) -> (String, String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    assert_eq!(parts[0], "00", "{value}");
    assert_eq!((parts[1].len(), parts[2].len()), (32, 16), "{value}");
    (parts[1].into(), parts[2].into(), parts[3].into())
}

fn counter(metrics: SocketAddr, name: &str) -> f64 {
    let mut s = TcpStream::connect(metrics).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut all = String::new();
    let _ = s.read_to_string(&mut all);
    all.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {all}"))
}

fn spans_link_to_the_client_parent(use_http: bool) {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let backend = backend();
    let port = if use_http {
        receiver.http
    } else {
        receiver.grpc
    };
    let (gw, metrics) = gateway(&backend, port, use_http, json!({}));
    let header =
        format!("traceparent: 00-{CLIENT_TRACE}-{CLIENT_PARENT}-01\r\ntracestate: vendor=abc\r\n");
    let response = get(&gw, "/items/7?x=1", &header);
    assert_eq!(response.status, 200);
    gw.eventually("three spans", Duration::from_secs(10), || {
        receiver.of_trace(CLIENT_TRACE).len() >= 3
    });
    let spans = receiver.of_trace(CLIENT_TRACE);
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let kind = |k: i64| {
        spans
            .iter()
            .find(|s| s["kind"] == k)
            .unwrap_or_else(|| panic!("kind {k} in {spans:#?}"))
    };
    let (server, proxy, call) = (kind(2), kind(1), kind(3));
    let protocol = if use_http { "http" } else { "grpc" };
    for s in &spans {
        assert_eq!(s["protocol"], protocol);
        assert_eq!(s["resource"]["service.name"], "otel-test");
        assert_eq!(s["trace_state"], "vendor=abc");
        assert!(s["end"].as_u64() >= s["start"].as_u64(), "{s}");
    }
    // The server span: the client's span is its parent (krakend-otel
    // names it by the request path).
    assert_eq!(server["parent_id"], CLIENT_PARENT);
    assert_eq!(server["name"], "/items/7");
    let a = &server["attributes"];
    assert_eq!(a["http.route"], "/items/:id");
    assert_eq!(a["http.response.status_code"], 200);
    assert_eq!(a["http.request.method"], "GET");
    assert_eq!(a["url.full"], "/items/7?x=1");
    assert_eq!(a["krakend.stage"], "global");
    // The proxy span, under it.
    assert_eq!(proxy["parent_id"], server["span_id"]);
    assert_eq!(proxy["name"], "/items/:id");
    assert_eq!(proxy["attributes"]["krakend.stage"], "proxy");
    assert_eq!(proxy["attributes"]["complete"], true);
    // The backend call, under the proxy span.
    assert_eq!(call["parent_id"], proxy["span_id"]);
    assert_eq!(call["name"], "/item/:id");
    let a = &call["attributes"];
    assert_eq!(a["http.response.status_code"], 200);
    assert_eq!(a["krakend.endpoint.route"], "/items/:id");
    assert_eq!(a["url.full"], format!("{}/item/7", backend.url()));
    // The backend got the trace, with its call's span as the parent, and
    // the client's tracestate.
    let seen = backend.requests();
    let sent = seen[0].header("traceparent").expect("a traceparent");
    let (trace, parent, flags) = traceparent(sent);
    assert_eq!((trace.as_str(), flags.as_str()), (CLIENT_TRACE, "01"));
    assert_eq!(parent, call["span_id"].as_str().unwrap());
    assert_eq!(seen[0].header("tracestate"), Some("vendor=abc"));
    assert_eq!(
        seen[0]
            .headers
            .iter()
            .filter(|(n, _)| n == "traceparent")
            .count(),
        1,
        "the client's traceparent is not forwarded beside cuttle's"
    );
    // A request without a traceparent starts a trace of its own.
    let before = receiver.count();
    assert_eq!(get(&gw, "/items/8", "").status, 200);
    gw.eventually("three more spans", Duration::from_secs(10), || {
        receiver.count() >= before + 3
    });
    let sent = backend.requests()[1]
        .header("traceparent")
        .unwrap()
        .to_owned();
    let (trace, _, flags) = traceparent(&sent);
    assert_ne!(trace, CLIENT_TRACE);
    assert_eq!(flags, "01");
    let root = receiver.of_trace(&trace);
    let server = root.iter().find(|s| s["kind"] == 2).unwrap();
    assert_eq!(server["parent_id"], "");
    gw.eventually("exported counted", Duration::from_secs(5), || {
        counter(metrics, "cuttle_otel_spans_exported_total") >= 6.0
    });
}

#[test]
fn spans_over_grpc_link_to_the_client_parent_and_the_backend_gets_them() {
    spans_link_to_the_client_parent(false);
}

#[test]
fn spans_over_http_link_to_the_client_parent_and_the_backend_gets_them() {
    spans_link_to_the_client_parent(true);
}

/// `trace_sample_rate` 0: nothing recorded, but backends still get the
/// trace with the sampled flag off (what an OpenTelemetry SDK propagates
/// for a span it does not record; krakend-otel sends none then, see
/// docs/tracing.md).
#[test]
fn sample_rate_zero_exports_nothing_and_propagates_unsampled() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let backend = backend();
    let (gw, metrics) = gateway(
        &backend,
        receiver.grpc,
        false,
        json!({"trace_sample_rate": 0}),
    );
    let header = format!("traceparent: 00-{CLIENT_TRACE}-{CLIENT_PARENT}-01\r\n");
    assert_eq!(get(&gw, "/items/1", &header).status, 200);
    assert_eq!(get(&gw, "/items/2", "").status, 200);
    let seen = backend.requests();
    let (trace, parent, flags) = traceparent(seen[0].header("traceparent").unwrap());
    assert_eq!((trace.as_str(), flags.as_str()), (CLIENT_TRACE, "00"));
    assert_ne!(parent, CLIENT_PARENT);
    let (other, _, flags) = traceparent(seen[1].header("traceparent").unwrap());
    assert_ne!(other, CLIENT_TRACE);
    assert_eq!(flags, "00");
    // Longer than a batch waits (0.5 s) and an export takes here.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(receiver.count(), 0);
    assert_eq!(counter(metrics, "cuttle_otel_spans_exported_total"), 0.0);
    assert_eq!(counter(metrics, "cuttle_otel_spans_dropped_total"), 0.0);
}

/// A malformed `traceparent` is ignored: a trace of cuttle's own, and the
/// client's bytes (even with `input_headers: ["*"]`) never reach the
/// backend; nor does a `tracestate` without a valid parent.
#[test]
fn a_malformed_traceparent_is_ignored_never_forwarded() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let backend = backend();
    let (gw, _) = gateway(&backend, receiver.grpc, false, json!({}));
    let bad = [
        format!("00-{}-{CLIENT_PARENT}-01", CLIENT_TRACE.to_uppercase()),
        format!("00-{CLIENT_TRACE}-{CLIENT_PARENT}-01-extra"),
        format!("00-{CLIENT_TRACE}-0000000000000000-01"),
        "garbage".to_owned(),
    ];
    for (i, value) in bad.iter().enumerate() {
        let header = format!("traceparent: {value}\r\ntracestate: evil=1\r\n");
        assert_eq!(get(&gw, "/items/1", &header).status, 200);
        let seen = &backend.requests()[i];
        let all: Vec<&str> = seen
            .headers
            .iter()
            .filter(|(n, _)| n == "traceparent")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(all.len(), 1, "{all:?}");
        let (trace, _, flags) = traceparent(all[0]);
        assert_ne!(trace, CLIENT_TRACE.to_lowercase(), "{value}");
        assert_eq!(flags, "01");
        assert_eq!(seen.header("tracestate"), None);
        gw.eventually("the spans", Duration::from_secs(10), || {
            receiver.of_trace(&trace).len() >= 3
        });
        let spans = receiver.of_trace(&trace);
        let server = spans.iter().find(|s| s["kind"] == 2).unwrap();
        assert_eq!(server["parent_id"], "", "{value}");
    }
}

/// `disable_propagation`: the client's trace is not read and backends
/// get no `traceparent` from cuttle. `report_headers` (but the
/// `skip_headers`) and each layer's static attributes dress the spans.
#[test]
fn disable_propagation_sends_and_reads_nothing_and_attributes_are_added() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let backend = backend();
    let attribute = |v: &str| json!([{"key": "team", "value": v}, {"key": "", "value": "skipped"}]);
    let (gw, _) = gateway(
        &backend,
        receiver.http,
        true,
        json!({"layers": {
            "global": {"disable_propagation": true, "report_headers": true, "skip_headers": ["Authorization"],
                       "traces_static_attributes": attribute("edge")},
            "proxy": {"traces_static_attributes": attribute("pipe")},
            "backend": {"traces": {"static_attributes": attribute("calls")}}}}),
    );
    assert_eq!(get(&gw, "/items/1", "").status, 200);
    assert_eq!(backend.requests()[0].header("traceparent"), None);
    let header = format!(
        "traceparent: 00-{CLIENT_TRACE}-{CLIENT_PARENT}-01\r\nAuthorization: Bearer secret\r\nX-A: 1\r\nX-A: 2\r\n"
    );
    assert_eq!(get(&gw, "/items/1", &header).status, 200);
    // input_headers ["*"]: the client's own header passes, as in KrakenD.
    let sent = format!("00-{CLIENT_TRACE}-{CLIENT_PARENT}-01");
    assert_eq!(
        backend.requests()[1].header("traceparent"),
        Some(sent.as_str())
    );
    gw.eventually("the spans", Duration::from_secs(10), || {
        receiver.count() >= 6
    });
    let spans = receiver.spans.lock().unwrap().clone();
    assert!(spans.iter().all(|s| s["trace_id"] != CLIENT_TRACE));
    let server = spans
        .iter()
        .filter(|s| s["kind"] == 2)
        .map(|s| &s["attributes"])
        .find(|a| a.get("http.request.header.x-a").is_some())
        .expect("the second request's server span");
    assert_eq!(server["team"], "edge");
    assert_eq!(server["http.request.header.x-a"], json!(["1", "2"]));
    assert!(
        server.get("http.request.header.authorization").is_none(),
        "{server}"
    );
    assert!(server.get("").is_none());
    let kind = |k: i64| &spans.iter().find(|s| s["kind"] == k).unwrap()["attributes"];
    assert_eq!(kind(1)["team"], "pipe");
    assert_eq!(kind(3)["team"], "calls");
}

/// A collector that is down (a closed port) or that accepts and never
/// answers: requests are answered as fast as without tracing, and the
/// spans that could not go out are counted as dropped.
#[test]
fn a_down_or_silent_collector_costs_requests_nothing() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for stream in silent.incoming().map_while(Result::ok) {
            keep.lock().unwrap().push(stream);
        }
    });
    let closed = common::closed_port_url();
    let closed_port: u16 = closed.rsplit(':').next().unwrap().parse().unwrap();
    for (port, use_http) in [
        (closed_port, false),
        (closed_port, true),
        (silent_port, false),
        (silent_port, true),
    ] {
        let backend = backend();
        let (gw, metrics) = gateway(&backend, port, use_http, json!({}));
        let started = Instant::now();
        let mut client = gw.client();
        for i in 0..200 {
            client.send(format!("GET /items/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
            assert_eq!(client.response().expect("an answer").status, 200);
        }
        let took = started.elapsed();
        assert!(took < Duration::from_secs(5), "200 requests took {took:?}");
        gw.eventually("dropped spans counted", Duration::from_secs(15), || {
            counter(metrics, "cuttle_otel_spans_dropped_total") >= 3.0
        });
        assert_eq!(counter(metrics, "cuttle_otel_spans_exported_total"), 0.0);
    }
}

/// Each backend request carries exactly one `traceparent`, whether its
/// header block is the request's shared one or its own (`input_headers`),
/// sampled or not; a no-op endpoint's call is traced as a merged one is.
#[test]
fn every_backend_request_carries_one_traceparent() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let backend = backend();
    let b = |extra: Value| {
        let mut b = json!({"host": [backend.url()], "url_pattern": "/item"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let endpoints = json!([
        {"endpoint": "/two", "input_headers": ["*"],
         "backend": [b(json!({"group": "a"})), b(json!({"group": "b", "input_headers": ["X-A"]}))]},
        {"endpoint": "/relay", "output_encoding": "no-op", "input_headers": ["*"],
         "backend": [b(json!({"encoding": "no-op"}))]},
    ]);
    for rate in [0.0, 1.0] {
        let (gw, _) = gateway_with(
            endpoints.clone(),
            receiver.grpc,
            false,
            json!({"trace_sample_rate": rate}),
        );
        let before = backend.requests().len();
        let header = format!("traceparent: 00-{CLIENT_TRACE}-{CLIENT_PARENT}-01\r\n");
        assert_eq!(get(&gw, "/two", &header).status, 200);
        assert_eq!(get(&gw, "/relay", &header).status, 200);
        let seen = backend.requests();
        assert_eq!(seen.len(), before + 3);
        let flags = if rate == 1.0 { "01" } else { "00" };
        for s in &seen[before..] {
            let all: Vec<&str> = s
                .headers
                .iter()
                .filter(|(n, _)| n == "traceparent")
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(all.len(), 1, "rate {rate}: {:?}", s.headers);
            let (trace, _, f) = traceparent(all[0]);
            assert_eq!((trace.as_str(), f.as_str()), (CLIENT_TRACE, flags));
        }
        if rate == 1.0 {
            // The no-op call has its span (the backend's parent), under
            // the /relay proxy span, under the /relay server span.
            let (_, parent, _) = traceparent(seen[before + 2].header("traceparent").unwrap());
            let find = |id: &str| {
                receiver
                    .of_trace(CLIENT_TRACE)
                    .into_iter()
                    .find(|s| s["span_id"] == id)
            };
            gw.eventually("the no-op call's spans", Duration::from_secs(10), || {
                find(&parent).is_some_and(|call| {
                    find(call["parent_id"].as_str().unwrap()).is_some_and(|proxy| {
                        find(proxy["parent_id"].as_str().unwrap())
                            .is_some_and(|server| server["name"] == "/relay" && server["kind"] == 2)
                    })
                })
            });
            let call = find(&parent).unwrap();
            assert_eq!(
                (call["kind"].as_i64(), call["name"].as_str()),
                (Some(3), Some("/item"))
            );
            let proxy = find(call["parent_id"].as_str().unwrap()).unwrap();
            assert_eq!(
                (proxy["kind"].as_i64(), proxy["name"].as_str()),
                (Some(1), Some("/relay"))
            );
        }
    }
}

/// Metrics over OTLP (`disable_metrics` off, `metric_reporting_period`):
/// the request, proxy and backend durations, summed over the workers,
/// cumulative, with krakend-otel's instrument names, over gRPC and HTTP.
#[test]
fn metrics_are_pushed_over_otlp() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    for use_http in [false, true] {
        let backend = backend();
        let port = if use_http {
            receiver.http
        } else {
            receiver.grpc
        };
        let (gw, _) = gateway(
            &backend,
            port,
            use_http,
            json!({"metric_reporting_period": 1, "layers": {"global": {"disable_traces": true}}}),
        );
        for _ in 0..3 {
            assert_eq!(get(&gw, "/items/1", "").status, 200);
        }
        let protocol = if use_http { "http" } else { "grpc" };
        let counted = |name: &str, route: &str| {
            receiver
                .metric(name)
                .filter(|m| m["protocol"] == protocol)
                .is_some_and(|m| {
                    m["points"].as_array().unwrap().iter().any(|p| {
                        p["attributes"]["http.route"] == route && p["count"].as_u64() == Some(3)
                    })
                })
        };
        gw.eventually(
            "three requests in the pushed metrics",
            Duration::from_secs(10),
            || {
                counted("http.server.duration", "/items/:id")
                    && counted("krakend.proxy.duration", "/items/:id")
                    && counted("krakend.backend.duration", "/item/:id")
                    && counted("http.client.duration", "/item/:id")
            },
        );
        let client = receiver.metric("http.client.duration").unwrap();
        let point = &client["points"][0]["attributes"];
        assert_eq!(point["server.address"], "127.0.0.1");
        assert_eq!(point["server.port"], backend.addr.port());
        assert_eq!(point["http.response.status_code"], 200);
        let server = receiver.metric("http.server.duration").unwrap();
        assert_eq!(server["unit"], "s");
        assert_eq!(server["temporality"], 2, "cumulative");
        assert_eq!(server["resource"]["service.name"], "otel-test");
        let point = server["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["attributes"]["http.route"] == "/items/:id")
            .unwrap();
        assert_eq!(point["attributes"]["http.request.method"], "GET");
        assert_eq!(point["attributes"]["http.response.status_code"], 200);
        let buckets: u64 = point["bucket_counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum();
        assert_eq!(buckets, 3);
        assert_eq!(
            point["bucket_counts"].as_array().unwrap().len(),
            point["bounds"].as_array().unwrap().len() + 1
        );
        assert!(point["sum"].as_f64().unwrap() > 0.0);
        drop(gw);
    }
}

/// A reload (SIGHUP) takes a new sample rate (each worker's tracer is
/// rebuilt, the exporter thread stays); one that changes the OTLP
/// exporters is refused, the running configuration kept.
#[test]
fn a_reload_changes_the_sample_rate_not_the_exporters() {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let backend = backend();
    let (gw, _) = gateway(
        &backend,
        receiver.grpc,
        false,
        json!({"trace_sample_rate": 0}),
    );
    assert_eq!(get(&gw, "/items/1", "").status, 200);
    let flags = |i: usize| traceparent(backend.requests()[i].header("traceparent").unwrap()).2;
    assert_eq!(flags(0), "00");
    let path = gw.config_path();
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let otel = "telemetry/opentelemetry";
    config["extra_config"][otel]["trace_sample_rate"] = json!(1);
    std::fs::write(&path, config.to_string()).unwrap();
    gw.signal("HUP");
    gw.eventually("sampled after the reload", Duration::from_secs(10), || {
        assert_eq!(get(&gw, "/items/2", "").status, 200);
        flags(backend.requests().len() - 1) == "01"
    });
    gw.eventually("spans after the reload", Duration::from_secs(10), || {
        receiver.count() >= 3
    });
    config["extra_config"][otel]["exporters"]["otlp"][0]["port"] = json!(receiver.http);
    config["extra_config"][otel]["trace_sample_rate"] = json!(0);
    std::fs::write(&path, config.to_string()).unwrap();
    gw.signal("HUP");
    gw.eventually("the reload refused", Duration::from_secs(10), || {
        gw.log().contains("restart cuttle to apply it")
    });
    assert_eq!(get(&gw, "/items/3", "").status, 200);
    assert_eq!(
        flags(backend.requests().len() - 1),
        "01",
        "the running configuration is kept"
    );
}
