//! A real Prometheus (Debian's `prometheus` package) scrapes the gateway,
//! then one PromQL query per panel of KrakenD's published Grafana dashboard
//! (krakend/telemetry-dashboards, `grafana/krakend/for-prometheus.json`)
//! that cuttle's layers cover must return data through Prometheus' HTTP
//! API. The queries are ours, written from the metric and label names the
//! panels use; the Go runtime panels (`go_*`) and the backend panels on
//! series cuttle does not produce (connection details, no-content-length,
//! read-payload histograms) are left out, see README.
//!
//! Without the `prometheus` binary the test is skipped, unless `CI` is
//! set (as `.ci/run` does): then it fails.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Backend, Gateway, Reply, TempDir, json};
use serde_json::{Value, json};

/// (panel, query). Grafana's `$__rate_interval` and friends become 10 s
/// windows (10 scrapes at 1 s), `$__range` 1 minute.
const PANELS: &[(&str, &str)] = &[
    // Overview
    (
        "Total HTTP Requests",
        "sum(increase(http_server_duration_count[1m]))",
    ),
    (
        "Avg Throughput",
        "sum(rate(http_server_duration_count[1m]))",
    ),
    (
        "Avg Response Time",
        "sum(rate(http_server_duration_sum[1m])) / sum(rate(http_server_duration_count[1m]))",
    ),
    (
        "Total Proxy Requests",
        "sum(increase(krakend_proxy_duration_count[1m]))",
    ),
    (
        "Total Backend Requests",
        "sum(increase(krakend_backend_duration_count[1m]))",
    ),
    (
        "Worst latency",
        "histogram_quantile(1, sum by (le) (rate(http_server_duration_bucket[10s])))",
    ),
    (
        "Latency p99",
        "histogram_quantile(0.99, sum by (le) (rate(http_server_duration_bucket[10s])))",
    ),
    (
        "Latency p50",
        "histogram_quantile(0.5, sum by (le) (rate(http_server_duration_bucket[10s])))",
    ),
    (
        "Avg data throughput",
        "sum(rate(http_server_response_size_sum[10s]))",
    ),
    (
        "Response Status Codes Distribution",
        "sum by (http_response_status_code) (increase(http_server_duration_count[1m]))",
    ),
    (
        "Throughput (RPS)",
        "sum(rate(http_server_duration_count[10s]))",
    ),
    (
        "Latencies (Percentile)",
        "histogram_quantile(0.95, sum by (le) (increase(http_server_duration_bucket[10s])))",
    ),
    (
        "Response data size",
        "sum(rate(http_server_response_size_sum[10s]))",
    ),
    (
        "Avg response data size",
        "sum(rate(http_server_response_size_sum[10s]) / (1 + rate(http_server_response_size_count[10s])))",
    ),
    (
        "Proxy latency p95",
        "histogram_quantile(0.95, sum by (le) (rate(krakend_proxy_duration_bucket[10s])))",
    ),
    (
        "Incomplete responses per second",
        "sum(rate(krakend_proxy_duration_count{complete=\"false\"}[10s]))",
    ),
    (
        "Proxy errors per second",
        "sum(rate(krakend_proxy_duration_count{error=\"true\"}[10s]))",
    ),
    (
        "Backend latency p95",
        "histogram_quantile(0.95, sum by (le) (rate(krakend_backend_duration_bucket[10s])))",
    ),
    (
        "Avg backend traffic",
        "sum(rate(http_client_response_size_sum{http_response_status_code=~\"[24]\\\\d{2}\"}[10s]) / rate(http_client_response_size_count{http_response_status_code=~\"[24]\\\\d{2}\"}[10s]))",
    ),
    (
        "Backend errors per second",
        "sum(rate(krakend_backend_duration_count{error=\"true\"}[10s]))",
    ),
    // Global
    (
        "Throughput per endpoint",
        "rate(http_server_duration_count{http_route=~\".+\"}[10s])",
    ),
    (
        "Avg Latency per endpoint",
        "sum by (http_request_method, http_route) (rate(http_server_duration_sum[10s])) / sum by (http_request_method, http_route) (rate(http_server_duration_count[10s]))",
    ),
    (
        "95p Endpoint Latencies",
        "histogram_quantile(0.95, sum by (le, http_route, http_request_method) (rate(http_server_duration_bucket[10s])))",
    ),
    (
        "Avg response size per endpoint",
        "rate(http_server_response_size_sum[10s])",
    ),
    (
        "Average response size per endpoint",
        "rate(http_server_response_size_sum[10s]) / rate(http_server_response_size_count[10s])",
    ),
    (
        "Total response size per endpoint (top)",
        "topk(15, histogram_quantile(0.95, sum by (le, http_route) (rate(http_server_response_size_bucket[1m])))) >= 0",
    ),
    (
        "Fastest p95 endpoints",
        "bottomk(15, histogram_quantile(0.95, sum by (le, http_route) (rate(http_server_duration_bucket{http_route!=\"\"}[1m])))) >= 0",
    ),
    (
        "Slowest p95 endpoints",
        "topk(15, histogram_quantile(0.95, sum by (le, http_route) (rate(http_server_duration_bucket{http_route!=\"\"}[1m])))) >= 0",
    ),
    (
        "Response Status Codes",
        "sum by (http_response_status_code) (increase(http_server_duration_count[10s]))",
    ),
    (
        "Latency Heat Map",
        "sum by (le) (increase(http_server_duration_bucket[10s]))",
    ),
    (
        "Response Size Heat Map",
        "sum by (le) (increase(http_server_response_size_bucket[10s]))",
    ),
    // Proxy
    (
        "Proxy Throughput (RPS)",
        "rate(krakend_proxy_duration_count[10s])",
    ),
    (
        "Avg Endpoint Latencies",
        "sum by (http_request_method, http_route) (rate(krakend_proxy_duration_sum[10s])) / sum by (http_request_method, http_route) (rate(krakend_proxy_duration_count[10s]))",
    ),
    (
        "Proxy 95p Endpoint Latencies",
        "histogram_quantile(0.95, sum by (le, http_route, http_request_method) (rate(krakend_proxy_duration_bucket[10s])))",
    ),
    (
        "Proxy fastest endpoints",
        "bottomk(15, histogram_quantile(0.95, sum by (le, http_route) (rate(krakend_proxy_duration_bucket[1m])))) >= 0",
    ),
    (
        "Proxy slowest endpoints",
        "topk(15, histogram_quantile(0.95, sum by (le, http_route) (rate(krakend_proxy_duration_bucket{http_route!=\"\"}[1m])))) >= 0",
    ),
    (
        "Proxy Latency Heat Map",
        "sum by (le) (increase(krakend_proxy_duration_bucket[10s]))",
    ),
    // Backends
    (
        "Backend Throughput (RPS)",
        "rate(http_client_duration_count{krakend_endpoint_route=~\".+\"}[10s])",
    ),
    (
        "Avg requests latency",
        "sum by (http_request_method, http_route, server_address) (rate(http_client_duration_sum[10s])) / sum by (http_request_method, http_route, server_address) (rate(http_client_duration_count[10s]))",
    ),
    (
        "95p Backend Request Duration",
        "histogram_quantile(0.95, sum by (le, http_route, http_request_method, server_address) (rate(http_client_duration_bucket[10s])))",
    ),
    (
        "Received Content Length",
        "rate(http_client_response_size_sum[10s])",
    ),
    (
        "Average Content Length",
        "rate(http_client_response_size_sum[10s]) / rate(http_client_response_size_count[10s])",
    ),
    (
        "Backend fastest p95",
        "bottomk(15, histogram_quantile(0.95, sum by (le, http_route, http_request_method, server_address) (rate(http_client_duration_bucket{http_route!=\"\"}[1m])))) >= 0",
    ),
    (
        "Backend slowest p95",
        "topk(15, histogram_quantile(0.95, sum by (le, http_route, server_address, http_request_method) (rate(http_client_duration_bucket{http_route!=\"\"}[1m])))) >= 0",
    ),
    (
        "Backend Response Status Codes Count",
        "sum by (http_response_status_code) (increase(http_client_duration_count[10s]))",
    ),
    (
        "Backend Latency Heat Map",
        "sum by (le) (increase(http_client_duration_bucket[10s]))",
    ),
    (
        "Backend Response Size Heat Map",
        "sum by (le) (increase(http_client_response_size_bucket[10s]))",
    ),
    (
        "Failed",
        "sum(rate(http_client_request_failed_count_total[10s]))",
    ),
    (
        "Timed out",
        "sum(rate(http_client_request_timedout_count_total[10s]))",
    ),
    (
        "Started",
        "sum(rate(http_client_request_started_count_total[10s]))",
    ),
    (
        "Canceled",
        "sum(rate(http_client_request_canceled_count_total[10s]))",
    ),
    (
        "Avg backend duration",
        "sum by (http_route, http_request_method) (rate(krakend_backend_duration_sum[10s])) / sum by (http_route, http_request_method) (rate(krakend_backend_duration_count[10s]))",
    ),
    (
        "p95 backend duration",
        "histogram_quantile(0.95, sum by (le, http_route, http_request_method) (rate(krakend_backend_duration_bucket[10s])))",
    ),
    (
        "Requests Started Count",
        "sum by (http_request_method, krakend_endpoint_route, server_address, http_route) (rate(http_client_request_started_count_total[1m]))",
    ),
    (
        "Response Size p95",
        "histogram_quantile(0.95, sum by (le) (rate(http_client_response_size_bucket[10s])))",
    ),
    // cuttle's own: utilisation and requests per core.
    (
        "Core utilisation",
        "rate(cuttle_worker_busy_seconds_total[10s])",
    ),
    (
        "Requests per core",
        "rate(cuttle_worker_requests_total[10s])",
    ),
];

/// A port free right now.
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

fn find_prometheus() -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|dir| format!("{dir}/prometheus"))
        .find(|p| std::path::Path::new(p).is_file())
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Percent-encodes a query value.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /api/v1/query?query=...` against Prometheus; the parsed answer.
fn query(prometheus: SocketAddr, promql: &str) -> Option<Value> {
    let mut s = TcpStream::connect(prometheus).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /api/v1/query?query={} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        encoded(promql)
    )
    .ok()?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).ok()?;
    let all = String::from_utf8_lossy(&all);
    let (head, body) = all.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    serde_json::from_str(&body).ok()
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Whether an instant-query answer holds at least one sample that is a number.
fn has_data(answer: &Value) -> bool {
    answer["status"] == "success"
        && answer["data"]["result"].as_array().is_some_and(|series| {
            series.iter().any(|s| {
                s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(f64::is_finite)
            })
        })
}

#[test]
fn krakend_dashboard_queries_return_data_from_a_real_prometheus() {
    let binary = find_prometheus();
    if !common::available_or_skip(
        binary.is_some(),
        "no prometheus binary on PATH (apt-get install prometheus)",
    ) {
        return;
    }
    let Some(binary) = binary else { return };
    let backend = Backend::start(|seen| match seen.path() {
        "/ok" => json(200, r#"{"a":1}"#),
        "/fail" => json(500, "{}"),
        "/slow" => Reply::Delayed(Duration::from_millis(400), Box::new(json(200, "{}"))),
        _ => json(404, "{}"),
    });
    let metrics_port = free_port();
    let host = backend.url();
    let b = |path: &str| json!({"host": [host], "url_pattern": path});
    let cfg = json!({
        "version": 3,
        "extra_config": {"telemetry/opentelemetry": {
            "exporters": {"prometheus": [{"name": "p", "port": metrics_port, "listen_ip": "127.0.0.1"}]}
        }},
        "endpoints": [
            {"endpoint": "/ok", "backend": [b("/ok")]},
            {"endpoint": "/users/{id}", "backend": [b("/ok")]},
            {"endpoint": "/partial", "backend": [b("/ok"), b("/fail")]},
            {"endpoint": "/broken", "backend": [b("/fail")]},
            {"endpoint": "/slow", "timeout": "200ms", "backend": [b("/slow")]},
        ],
    })
    .to_string();
    let gw = Gateway::start(&cfg);

    let dir = TempDir::new();
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: cuttle\n    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n        labels:\n          app: cuttle\n"
        ),
    )
    .unwrap();
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _prometheus = Killed(
        Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );

    // Traffic of every outcome, all through the test.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let stop = stop.clone();
        let addr = gw.addr;
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for path in [
                    "/ok", "/users/1", "/partial", "/broken", "/slow", "/nowhere",
                ] {
                    if let Ok(mut s) = TcpStream::connect(addr) {
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let _ = write!(
                            s,
                            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        );
                        let _ = s.read_to_end(&mut Vec::new());
                    }
                }
                // Pacing the background traffic.
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // Prometheus is up and has scraped cuttle.
    let scraped = common::within(Duration::from_secs(30), || {
        query(web, "up{job=\"cuttle\"} == 1").is_some_and(|a| has_data(&a))
    });
    assert!(
        scraped,
        "Prometheus never scraped cuttle: {:?}",
        query(web, "up")
    );
    // Every panel's query, retried while the rate windows fill (a rate
    // needs two scrapes).
    let mut missing: Vec<(&str, &str)> = PANELS.to_vec();
    common::within(Duration::from_secs(40), || {
        missing.retain(|(_, q)| !query(web, q).is_some_and(|a| has_data(&a)));
        missing.is_empty()
    });
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    let report: Vec<String> = missing
        .iter()
        .map(|(panel, q)| format!("{panel}: {q} -> {:?}", query(web, q)))
        .collect();
    assert!(
        report.is_empty(),
        "panels without data:\n{}",
        report.join("\n")
    );
}
