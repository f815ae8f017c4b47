//! The Prometheus exporter end to end: the real gateway with
//! `telemetry/opentelemetry`, real backends on loopback, requests of each
//! outcome, then `GET /metrics` over a socket and the values checked.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{Backend, Gateway, Reply, json};
use serde_json::{Value, json};

/// A series: its name and its labels, sorted.
type Key = (String, BTreeMap<String, String>);

/// The scraped text, parsed: every sample by name and labels.
struct Scrape {
    text: String,
    samples: BTreeMap<Key, f64>,
}

impl Scrape {
    fn parse(text: String) -> Scrape {
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}').expect("closing brace")),
                None => (series, ""),
            };
            let mut map = BTreeMap::new();
            // Label values here hold no commas or escaped quotes.
            for pair in labels.split(',').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').expect("label=value");
                map.insert(k.to_string(), v.trim_matches('"').to_string());
            }
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("number in {line}"));
            assert!(
                samples.insert((name.to_string(), map), value).is_none(),
                "duplicate series: {line}"
            );
        }
        Scrape { text, samples }
    }

    /// The sum over the series of `name` whose labels include all of `with`.
    fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.matching(name, with).map(|(_, v)| v).sum()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        with: &'a [(&str, &str)],
    ) -> impl Iterator<Item = (&'a BTreeMap<String, String>, f64)> + 'a {
        self.samples
            .iter()
            .filter(move |((n, labels), _)| {
                n == name
                    && with
                        .iter()
                        .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|((_, labels), v)| (labels, *v))
    }

    fn count(&self, name: &str, with: &[(&str, &str)]) -> usize {
        self.matching(name, with).count()
    }
}

fn scrape(addr: SocketAddr) -> Scrape {
    let (status, head, body) = get(addr, "/metrics");
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    Scrape::parse(body)
}

/// One request on its own connection (the exporter closes after answering).
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_string(), body.to_string())
}

/// The exporter's address, from the line the gateway prints at start.
fn metrics_addr(gw: &Gateway) -> SocketAddr {
    let log = gw.log();
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("cuttle metrics on "))
        .unwrap_or_else(|| panic!("no metrics line in {log}"));
    line.trim().parse().unwrap()
}

/// A port free right now (KrakenD reads port 0 as its default, 9090, so
/// the exporter cannot be given an ephemeral one).
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

fn telemetry(extra: Value) -> Value {
    let mut t = json!({
        "service_name": "cuttle-test",
        "exporters": {"prometheus": [{"name": "local", "port": free_port(), "listen_ip": "127.0.0.1"}]}
    });
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    t
}

fn config(telemetry: Value, endpoints: Value) -> String {
    json!({
        "version": 3,
        "timeout": "2s",
        "extra_config": {"telemetry/opentelemetry": telemetry},
        "endpoints": endpoints,
    })
    .to_string()
}

const OK_BODY: &str = r#"{"a":1}"#;

fn backend() -> Backend {
    Backend::start(|seen| match seen.path() {
        "/ok" => json(200, OK_BODY),
        "/b" => json(200, r#"{"b":2}"#),
        "/fail" => json(500, r#"{"error":"no"}"#),
        "/slow" => Reply::Delayed(Duration::from_millis(1500), Box::new(json(200, OK_BODY))),
        _ => json(404, "{}"),
    })
}

fn endpoints(host: &str) -> Value {
    let b = |path: &str| json!({"host": [host], "url_pattern": path});
    json!([
        {"endpoint": "/ok", "backend": [b("/ok")]},
        {"endpoint": "/users/{id}", "backend": [b("/ok")]},
        {"endpoint": "/partial", "backend": [b("/ok"), b("/fail")]},
        {"endpoint": "/broken", "backend": [b("/fail")]},
        {"endpoint": "/slow", "timeout": "300ms", "backend": [b("/slow")]},
    ])
}

#[test]
fn every_outcome_is_counted_with_krakend_names_and_labels() {
    let backend = backend();
    let gw = Gateway::start(&config(telemetry(json!({})), endpoints(&backend.url())));
    let metrics = metrics_addr(&gw);
    let statuses: Vec<(&str, u16)> = vec![
        ("/ok", 200),
        ("/ok", 200),
        ("/ok", 200),
        ("/users/7", 200),
        ("/users/8", 200),
        ("/partial", 200),
        ("/broken", 500),
        ("/slow", 500),
        ("/nowhere", 404),
        ("/__health", 200),
    ];
    let mut ok_size = 0;
    for (path, status) in &statuses {
        let r = gw.get(path);
        assert_eq!(r.status, *status, "{path}: {}", r.text());
        if *path == "/ok" {
            ok_size = r.body.len();
        }
    }
    let m = scrape(metrics);
    let server = |route: &str, status: &str| {
        m.sum(
            "http_server_duration_count",
            &[
                ("http_route", route),
                ("http_response_status_code", status),
                ("http_request_method", "GET"),
                ("url_scheme", "http"),
            ],
        )
    };
    assert_eq!(server("/ok", "200"), 3.0, "{}", m.text);
    // The endpoint pattern, KrakenD's way (gin's `:id`), never the raw path.
    assert_eq!(server("/users/:id", "200"), 2.0);
    assert_eq!(
        m.count("http_server_duration_count", &[("http_route", "/users/7")]),
        0
    );
    assert_eq!(server("/partial", "200"), 1.0);
    assert_eq!(server("/broken", "500"), 1.0);
    assert_eq!(server("/slow", "500"), 1.0);
    // No endpoint: krakend-otel labels the route with the status text.
    assert_eq!(server("404 Not Found", "404"), 1.0);
    // `/__health` is a default skip path.
    assert_eq!(m.sum("http_server_duration_count", &[]), 9.0);
    assert_eq!(
        m.sum("http_server_response_size_sum", &[("http_route", "/ok")]),
        (3 * ok_size) as f64
    );
    assert_eq!(
        m.sum(
            "http_server_duration_bucket",
            &[("http_route", "/ok"), ("le", "+Inf")]
        ),
        3.0
    );
    // The slow request took its 300 ms timeout: above the 0.25 s bound.
    assert_eq!(
        m.sum(
            "http_server_duration_bucket",
            &[("http_route", "/slow"), ("le", "0.25")]
        ),
        0.0
    );
    assert_eq!(
        m.sum(
            "http_server_duration_bucket",
            &[("http_route", "/slow"), ("le", "0.5")]
        ),
        1.0
    );

    // The proxy stage: complete, incomplete (partial) and failed.
    let proxy = |route: &str, error: &str, complete: &str| {
        m.sum(
            "krakend_proxy_duration_count",
            &[
                ("http_route", route),
                ("http_request_method", "GET"),
                ("error", error),
                ("complete", complete),
                ("canceled", "false"),
            ],
        )
    };
    assert_eq!(proxy("/ok", "false", "true"), 3.0);
    assert_eq!(proxy("/users/:id", "false", "true"), 2.0);
    assert_eq!(proxy("/partial", "true", "false"), 1.0);
    assert_eq!(proxy("/broken", "true", "false"), 1.0);
    assert_eq!(proxy("/slow", "true", "false"), 1.0);
    assert_eq!(m.sum("krakend_proxy_duration_count", &[]), 8.0);

    // The backend stage, labelled with the endpoint it serves.
    let stage = |endpoint: &str, route: &str, error: &str| {
        m.sum(
            "krakend_backend_duration_count",
            &[
                ("krakend_endpoint_route", endpoint),
                ("krakend_endpoint_method", "GET"),
                ("http_route", route),
                ("error", error),
            ],
        )
    };
    assert_eq!(stage("/ok", "/ok", "false"), 3.0);
    assert_eq!(stage("/partial", "/ok", "false"), 1.0);
    assert_eq!(stage("/partial", "/fail", "true"), 1.0);
    assert_eq!(stage("/broken", "/fail", "true"), 1.0);
    assert_eq!(stage("/slow", "/slow", "true"), 1.0);

    // The HTTP client: status per host, failures, timeouts.
    let port = backend.addr.port().to_string();
    let client = |name: &str, endpoint: &str, status: &str| {
        m.sum(
            name,
            &[
                ("krakend_endpoint_route", endpoint),
                ("http_response_status_code", status),
                ("server_address", "127.0.0.1"),
                ("server_port", &port),
            ],
        )
    };
    assert_eq!(client("http_client_duration_count", "/ok", "200"), 3.0);
    assert_eq!(client("http_client_duration_count", "/broken", "500"), 1.0);
    assert_eq!(client("http_client_duration_count", "/slow", "0"), 1.0);
    assert_eq!(
        client("http_client_response_size_sum", "/ok", "200"),
        (3 * OK_BODY.len()) as f64
    );
    assert_eq!(
        client("http_client_request_started_count_total", "/ok", "200"),
        3.0
    );
    assert_eq!(
        client("http_client_request_started_count_total", "/slow", "0"),
        1.0
    );
    assert_eq!(
        client("http_client_request_timedout_count_total", "/slow", "0"),
        1.0
    );
    assert_eq!(
        client("http_client_request_failed_count_total", "/slow", "0"),
        1.0
    );
    assert_eq!(
        client("http_client_request_failed_count_total", "/broken", "0"),
        0.0
    );
    assert_eq!(m.sum("http_client_request_canceled_count_total", &[]), 0.0);
    assert_eq!(m.sum("http_client_request_started_count_total", &[]), 9.0);

    // The worker's own series (one worker here): every request, skipped or not.
    let worker = [("worker", "0")];
    assert_eq!(m.sum("cuttle_worker_requests_total", &worker), 10.0);
    assert_eq!(
        m.sum("cuttle_worker_accepted_connections_total", &worker),
        10.0
    );
    assert_eq!(m.count("cuttle_worker_open_connections", &worker), 1);
    assert!(m.sum("cuttle_worker_busy_seconds_total", &worker) > 0.0);
    assert_eq!(
        m.count("process_cpu_seconds_total", &[]),
        0,
        "process_metrics is off"
    );
}

#[test]
fn figures_of_every_worker_are_summed_and_shown_per_core() {
    let cores = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2);
    let backend = backend();
    let cfg = config(
        telemetry(json!({"exporters": {"prometheus": [
            {"name": "p", "port": free_port(), "listen_ip": "127.0.0.1", "process_metrics": true}
        ]}})),
        endpoints(&backend.url()),
    );
    let gw = Gateway::start_with(&cfg, &["--cores", &cores.to_string()]);
    let metrics = metrics_addr(&gw);
    // New connections: SO_REUSEPORT spreads them over the workers.
    for _ in 0..40 {
        assert_eq!(gw.get("/ok").status, 200);
    }
    let m = scrape(metrics);
    let route = [("http_route", "/ok")];
    assert_eq!(
        m.sum("http_server_duration_count", &route),
        40.0,
        "{}",
        m.text
    );
    assert_eq!(m.sum("cuttle_worker_requests_total", &[]), 40.0);
    assert_eq!(m.sum("cuttle_worker_accepted_connections_total", &[]), 40.0);
    assert_eq!(m.count("cuttle_worker_requests_total", &[]), cores);
    for worker in 0..cores {
        let w = worker.to_string();
        let labels = m
            .matching("cuttle_worker_busy_seconds_total", &[("worker", &w)])
            .map(|(labels, _)| labels.clone())
            .next()
            .unwrap_or_else(|| panic!("worker {w} in {}", m.text));
        assert!(labels.contains_key("cpu"));
    }
    // A second scrape, from whichever worker takes it, sees the same sums.
    let again = scrape(metrics);
    assert_eq!(again.sum("http_server_duration_count", &route), 40.0);
    assert!(again.sum("process_cpu_seconds_total", &[]) > 0.0);
    assert!(again.sum("process_resident_memory_bytes", &[]) > 0.0);
    assert_eq!(get(metrics, "/other").0, 404);
}

#[test]
fn layers_and_skip_paths_switch_families_off() {
    let backend = backend();
    let t = telemetry(json!({
        "layers": {
            "proxy": {"disable_metrics": true},
            "backend": {"metrics": {"disable_stage": true, "round_trip": true}}
        },
        "skip_paths": ["/users/{id}", "/nowhere"]
    }));
    let gw = Gateway::start(&config(t, endpoints(&backend.url())));
    let metrics = metrics_addr(&gw);
    for path in ["/ok", "/users/1", "/nowhere", "/__health"] {
        gw.get(path);
    }
    let m = scrape(metrics);
    assert_eq!(
        m.count("krakend_proxy_duration_count", &[]),
        0,
        "{}",
        m.text
    );
    assert_eq!(m.count("krakend_backend_duration_count", &[]), 0);
    // read_payload was not set: no response sizes.
    assert_eq!(m.count("http_client_response_size_count", &[]), 0);
    assert_eq!(
        m.sum("http_client_duration_count", &[]),
        1.0,
        "the skipped endpoint's call is not counted"
    );
    // With its own skip_paths, /__health is measured and /nowhere is not.
    assert_eq!(
        m.sum("http_server_duration_count", &[("http_route", "200 OK")]),
        1.0
    );
    assert_eq!(
        m.sum(
            "http_server_duration_count",
            &[("http_route", "404 Not Found")]
        ),
        0.0
    );
    // The raw path is what skip_paths matches, so /users/1 is measured.
    assert_eq!(
        m.sum(
            "http_server_duration_count",
            &[("http_route", "/users/:id")]
        ),
        1.0
    );
    assert_eq!(m.sum("cuttle_worker_requests_total", &[]), 4.0);
}

#[test]
fn an_exporter_on_the_gateway_port_is_refused() {
    let port = free_port();
    let cfg = json!({
        "version": 3,
        "port": port,
        "extra_config": {"telemetry/opentelemetry": {
            "exporters": {"prometheus": [{"name": "same", "port": port}]}
        }},
        "endpoints": [],
    })
    .to_string();
    let dir = common::TempDir::new();
    let path = dir.0.join("c.json");
    std::fs::write(&path, cfg).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["run", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("exporter \"same\"") && stderr.contains("gateway's own port"),
        "{stderr}"
    );
}

#[test]
fn shadow_calls_are_counted_under_their_labelled_backend() {
    let backend = backend();
    let shadow = |path: &str, timeout: &str| {
        json!({"host": [backend.url()], "url_pattern": path,
               "extra_config": {"proxy": {"shadow": true, "shadow_timeout": timeout}}})
    };
    let endpoints = json!([{"endpoint": "/mirrored", "backend": [
        {"host": [backend.url()], "url_pattern": "/ok"},
        shadow("/b", "1s"),
        shadow("/slow", "200ms"),
    ]}]);
    let gw = Gateway::start(&config(telemetry(json!({})), endpoints));
    let metrics = metrics_addr(&gw);
    for _ in 0..2 {
        let r = gw.get("/mirrored");
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!({"a": 1}));
    }
    // The shadow calls end after the answers: poll until both are counted.
    let mut m = scrape(metrics);
    common::within(Duration::from_secs(5), || {
        m = scrape(metrics);
        m.sum(
            "http_client_request_timedout_count_total",
            &[("http_route", "/slow")],
        ) >= 2.0
            && m.sum(
                "http_client_request_started_count_total",
                &[("http_route", "/b")],
            ) >= 2.0
    });
    let shadow_label = [("krakend_backend_shadow", "true")];
    let with = |route: &'static str| [("http_route", route), shadow_label[0]];
    assert_eq!(
        m.sum("http_client_request_started_count_total", &with("/b")),
        2.0,
        "{}",
        m.text
    );
    // The shadows' bound (lura: the longest `shadow_timeout`, 1 s) cuts
    // the 1.5 s backend: timed out, not answered.
    assert_eq!(
        m.sum("http_client_request_timedout_count_total", &with("/slow")),
        2.0,
        "{}",
        m.text
    );
    assert_eq!(
        m.sum("krakend_backend_duration_count", &with("/b")),
        2.0,
        "{}",
        m.text
    );
    // The answering backend's series carry no shadow label.
    assert_eq!(
        m.count(
            "http_client_request_started_count_total",
            &[("http_route", "/ok"), shadow_label[0]]
        ),
        0
    );
    assert_eq!(
        m.sum(
            "http_client_request_started_count_total",
            &[("http_route", "/ok")]
        ),
        2.0
    );
}

/// `histograms` (krakend-schema `telemetry/opentelemetry.json`): the
/// buckets of every duration (seconds) and size (bytes) histogram.
#[test]
fn custom_histogram_buckets_are_the_scraped_buckets() {
    let backend = backend();
    let t = telemetry(json!({
        "histograms": {"time_buckets": [0.003, 0.7, 42], "size_buckets": [10, 2000]},
        "layers": {"backend": {"metrics": {"round_trip": true, "read_payload": true}}}
    }));
    let gw = Gateway::start(&config(t, endpoints(&backend.url())));
    let metrics = metrics_addr(&gw);
    assert_eq!(gw.get("/ok").status, 200);
    let m = scrape(metrics);
    let les = |name: &str, with: &[(&str, &str)]| -> Vec<String> {
        let mut les: Vec<String> = m
            .matching(name, with)
            .map(|(labels, _)| labels["le"].clone())
            .collect();
        les.sort();
        les.dedup();
        les
    };
    let route = [("http_route", "/ok")];
    assert_eq!(
        les("http_server_duration_bucket", &route),
        ["+Inf", "0.003", "0.7", "42"],
        "{}",
        m.text
    );
    assert_eq!(
        les("http_server_response_size_bucket", &route),
        ["+Inf", "10", "2000"]
    );
    assert_eq!(
        les("krakend_proxy_duration_bucket", &[]),
        ["+Inf", "0.003", "0.7", "42"]
    );
    assert_eq!(
        les("http_client_duration_bucket", &[]),
        ["+Inf", "0.003", "0.7", "42"]
    );
    assert_eq!(
        les("http_client_response_size_bucket", &[]),
        ["+Inf", "10", "2000"]
    );
    // The 7-byte body falls in the first size bucket.
    assert_eq!(
        m.sum(
            "http_server_response_size_bucket",
            &[("http_route", "/ok"), ("le", "10")]
        ),
        1.0
    );
}

/// Static attributes (krakend-otel `lura/proxy.go`, `lura/backend.go`,
/// `http/server/server.go`) are labels on their layer's series; one with
/// an empty key or value is skipped, as krakend-otel skips it.
#[test]
fn static_attributes_label_their_layers_series() {
    let backend = backend();
    let t = telemetry(json!({
        "layers": {
            "global": {"metrics_static_attributes": [{"key": "deploy.env", "value": "prod"}]},
            "proxy": {"metrics_static_attributes": [{"key": "team", "value": "a"}]},
            "backend": {"metrics": {"round_trip": true, "static_attributes": [
                {"key": "tier", "value": "gold"}, {"key": "", "value": "x"}]}}
        }
    }));
    let gw = Gateway::start(&config(t, endpoints(&backend.url())));
    let metrics = metrics_addr(&gw);
    assert_eq!(gw.get("/ok").status, 200);
    let m = scrape(metrics);
    let route = ("http_route", "/ok");
    assert_eq!(
        m.sum(
            "http_server_duration_count",
            &[route, ("deploy_env", "prod")]
        ),
        1.0,
        "{}",
        m.text
    );
    assert_eq!(m.count("http_server_duration_count", &[("team", "a")]), 0);
    assert_eq!(
        m.sum("krakend_proxy_duration_count", &[route, ("team", "a")]),
        1.0
    );
    assert_eq!(
        m.sum("krakend_backend_duration_count", &[("tier", "gold")]),
        1.0
    );
    assert_eq!(
        m.sum("http_client_duration_count", &[("tier", "gold")]),
        1.0
    );
    assert!(!m.text.contains("=\"x\""), "{}", m.text);
}
