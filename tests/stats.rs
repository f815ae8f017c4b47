//! KrakenD's legacy `/__stats` (`telemetry/metrics`, krakend-metrics) end
//! to end: the real gateway with real backends on loopback, requests that
//! succeed and fail, then `GET /__stats` on the stats port over a socket,
//! the JSON read back and its counts checked per endpoint and per backend.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Backend, Gateway, TempDir, json};
use serde_json::{Map, Value, json};

const OK_BODY: &str = r#"{"a":1}"#;

fn backend() -> Backend {
    Backend::start(|seen| match seen.path() {
        "/ok" => json(200, OK_BODY),
        "/fail" => json(500, r#"{"error":"no"}"#),
        _ => json(404, "{}"),
    })
}

fn endpoints(host: &str) -> Value {
    let b = |path: &str| json!({"host": [host], "url_pattern": path});
    json!([
        {"endpoint": "/ok", "backend": [b("/ok")]},
        {"endpoint": "/users/{id}", "backend": [b("/ok")]},
        {"endpoint": "/broken", "backend": [b("/fail")]},
        {"endpoint": "/partial", "backend": [b("/ok"), b("/fail")]},
    ])
}

fn config(stats: Value, endpoints: Value) -> String {
    json!({
        "version": 3,
        "timeout": "2s",
        "extra_config": {"telemetry/metrics": stats},
        "endpoints": endpoints,
    })
    .to_string()
}

/// The stats port, from the line the gateway prints at start.
fn stats_addr(gw: &Gateway) -> SocketAddr {
    let log = gw.log();
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("cuttle stats on "))
        .unwrap_or_else(|| panic!("no stats line in {log}"));
    line.trim().parse().unwrap()
}

/// One request on its own connection: (status, head, body).
fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    (
        head[9..12].parse().unwrap(),
        head.to_string(),
        body.to_string(),
    )
}

/// `GET /__stats`, parsed.
fn stats(addr: SocketAddr) -> Map<String, Value> {
    let (status, head, body) = request(addr, "GET", "/__stats");
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json; charset=utf-8"),
        "{head}"
    );
    match serde_json::from_str(&body) {
        Ok(Value::Object(map)) => map,
        other => panic!("not a JSON object: {other:?}\n{body}"),
    }
}

fn int(stats: &Map<String, Value>, name: &str) -> u64 {
    stats
        .get(name)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no integer {name} in {}", keys(stats)))
}

fn float(stats: &Map<String, Value>, name: &str) -> f64 {
    stats
        .get(name)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number {name}"))
}

fn keys(stats: &Map<String, Value>) -> String {
    stats
        .keys()
        .filter(|k| k.starts_with("krakend."))
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
}

/// The requests counted by a proxy or backend layer name, for an outcome.
fn layer(stats: &Map<String, Value>, layer: &str, name: &str, complete: bool, error: bool) -> u64 {
    let labels = format!("layer.{layer}.name.{name}.complete.{complete}.error.{error}");
    let requests = int(stats, &format!("krakend.proxy.requests.{labels}"));
    // The latency histogram holds one value per request (one window).
    assert_eq!(
        int(stats, &format!("krakend.proxy.latency.{labels}.count")),
        requests,
        "{labels}"
    );
    requests
}

const HISTOGRAM_FIELDS: [&str; 10] = [
    "count",
    "min",
    "max",
    "mean",
    "std-dev",
    "50-percentile",
    "75-percentile",
    "95-percentile",
    "99-percentile",
    "999-percentile",
];

#[test]
fn requests_are_counted_per_endpoint_and_backend_with_krakend_names() {
    let backend = backend();
    let gw = Gateway::start(&config(
        json!({"listen_address": "127.0.0.1:0"}),
        endpoints(&backend.url()),
    ));
    let addr = stats_addr(&gw);
    let made = [
        ("/ok", 200),
        ("/ok", 200),
        ("/ok", 200),
        ("/users/7", 200),
        ("/users/8", 200),
        ("/broken", 500),
        ("/partial", 200),
        ("/nowhere", 404),
    ];
    for (path, status) in made {
        let r = gw.get(path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
    }
    // Each request is recorded once its response is written: wait for
    // the seven routed ones (the 404 has no endpoint, as in KrakenD).
    let mut s = Map::new();
    gw.eventually(
        "the routed requests counted",
        Duration::from_secs(5),
        || {
            s = stats(addr);
            s.get("krakend.router.disconnected").and_then(Value::as_u64) == Some(7)
        },
    );
    assert_eq!(int(&s, "krakend.router.connected"), 7);
    assert_eq!(int(&s, "krakend.router.connected-total"), 0);
    assert_eq!(int(&s, "krakend.router.connected-gauge"), 0);
    // Router layer, by endpoint pattern (gin's `:id`, as lura registers it).
    let response = |name: &str| format!("krakend.router.response.{name}");
    assert_eq!(int(&s, &format!("{}.status.200.count", response("/ok"))), 3);
    assert_eq!(
        int(&s, &format!("{}.status.200.count", response("/users/:id"))),
        2
    );
    assert_eq!(
        int(&s, &format!("{}.status.500.count", response("/broken"))),
        1
    );
    assert_eq!(
        int(&s, &format!("{}.status.200.count", response("/partial"))),
        1
    );
    assert_eq!(int(&s, &format!("{}.status", response("/ok"))), 0);
    assert!(!s.keys().any(|k| k.contains("/nowhere")), "{}", keys(&s));
    for name in ["/ok", "/users/:id", "/broken", "/partial"] {
        for histogram in ["size", "time"] {
            for field in HISTOGRAM_FIELDS {
                let key = format!("{}.{histogram}.{field}", response(name));
                assert!(s.get(&key).is_some_and(Value::is_number), "{key}");
            }
        }
    }
    let ok = response("/ok");
    assert_eq!(int(&s, &format!("{ok}.size.count")), 3);
    assert_eq!(float(&s, &format!("{ok}.size.max")), OK_BODY.len() as f64);
    assert_eq!(
        float(&s, &format!("{ok}.size.50-percentile")),
        OK_BODY.len() as f64
    );
    assert_eq!(int(&s, &format!("{ok}.time.count")), 3);
    let (min, mean, max) = (
        float(&s, &format!("{ok}.time.min")),
        float(&s, &format!("{ok}.time.mean")),
        float(&s, &format!("{ok}.time.max")),
    );
    // Nanoseconds, as go-metrics is given them.
    assert!(
        min > 1_000.0 && min <= mean && mean <= max && max < 2e9,
        "{min} {mean} {max}"
    );
    // Proxy layer ("pipe"), by endpoint; every outcome is listed.
    assert_eq!(layer(&s, "pipe", "/ok", true, false), 3);
    assert_eq!(layer(&s, "pipe", "/ok", false, true), 0);
    assert_eq!(layer(&s, "pipe", "/users/:id", true, false), 2);
    assert_eq!(layer(&s, "pipe", "/broken", false, true), 1);
    assert_eq!(layer(&s, "pipe", "/partial", false, true), 1);
    assert_eq!(layer(&s, "pipe", "/partial", true, false), 0);
    // Backend layer, by url_pattern: the three endpoints calling /ok share it.
    assert_eq!(layer(&s, "backend", "/ok", true, false), 3 + 2 + 1);
    assert_eq!(layer(&s, "backend", "/ok", false, true), 0);
    assert_eq!(layer(&s, "backend", "/fail", false, true), 2);
    assert_eq!(layer(&s, "backend", "/fail", true, true), 0);
    // Go's expvar variables beside the registry.
    assert!(s["cmdline"].as_array().is_some_and(|a| !a.is_empty()));
    assert!(s["memstats"]["Sys"].as_u64().is_some_and(|v| v > 0));
    assert!(int(&s, "krakend.service.runtime.NumThread") >= 2);
    // Only the one route, GET only.
    assert_eq!(request(addr, "GET", "/metrics").0, 404);
    assert_eq!(request(addr, "POST", "/__stats").0, 405);
}

#[test]
fn a_request_in_flight_is_connected_and_not_yet_disconnected() {
    let backend = Backend::start(|_| {
        common::Reply::Delayed(Duration::from_millis(1500), Box::new(json(200, OK_BODY)))
    });
    let gw = Gateway::start(&config(
        json!({"listen_address": "127.0.0.1:0"}),
        json!([{"endpoint": "/slow", "backend": [{"host": [backend.url()], "url_pattern": "/slow"}]}]),
    ));
    let addr = stats_addr(&gw);
    let gateway = gw.addr;
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(gateway).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut all = String::new();
        s.read_to_string(&mut all).unwrap();
        all[9..12].parse::<u16>().unwrap()
    });
    let mut s = Map::new();
    gw.eventually("the slow request routed", Duration::from_secs(5), || {
        s = stats(addr);
        s.get("krakend.router.connected").and_then(Value::as_u64) == Some(1)
    });
    assert_eq!(int(&s, "krakend.router.disconnected"), 0);
    assert_eq!(slow.join().unwrap(), 200);
    gw.eventually("the slow request answered", Duration::from_secs(5), || {
        s = stats(addr);
        s.get("krakend.router.disconnected").and_then(Value::as_u64) == Some(1)
    });
    assert_eq!(int(&s, "krakend.router.connected"), 1);
}

#[test]
fn a_collection_tick_starts_samples_and_connections_again() {
    let backend = backend();
    let gw = Gateway::start(&config(
        json!({"listen_address": "127.0.0.1:0", "collection_time": "1s"}),
        endpoints(&backend.url()),
    ));
    let addr = stats_addr(&gw);
    assert_eq!(gw.get("/ok").status, 200);
    assert_eq!(gw.get("/ok").status, 200);
    // Once a tick has passed after both: the counters stay, the samples
    // and the window's connections start again; the totals keep them.
    let mut s = Map::new();
    gw.eventually("a tick after the requests", Duration::from_secs(10), || {
        s = stats(addr);
        s.get("krakend.router.connected-total")
            .and_then(Value::as_u64)
            == Some(2)
    });
    assert_eq!(int(&s, "krakend.router.response./ok.status.200.count"), 2);
    assert_eq!(int(&s, "krakend.router.connected"), 0);
    assert_eq!(int(&s, "krakend.router.response./ok.time.count"), 0);
    assert_eq!(float(&s, "krakend.router.response./ok.time.max"), 0.0);
    let pipe = "layer.pipe.name./ok.complete.true.error.false";
    assert_eq!(int(&s, &format!("krakend.proxy.requests.{pipe}")), 2);
    assert_eq!(int(&s, &format!("krakend.proxy.latency.{pipe}.count")), 0);
}

#[test]
fn disabled_layers_are_left_out() {
    let backend = backend();
    let gw = Gateway::start(&config(
        json!({"listen_address": "127.0.0.1:0", "router_disabled": true, "backend_disabled": true}),
        endpoints(&backend.url()),
    ));
    let addr = stats_addr(&gw);
    assert_eq!(gw.get("/ok").status, 200);
    let mut s = Map::new();
    gw.eventually("the pipe counted", Duration::from_secs(5), || {
        s = stats(addr);
        s.get("krakend.proxy.requests.layer.pipe.name./ok.complete.true.error.false")
            .and_then(Value::as_u64)
            == Some(1)
    });
    assert!(
        !s.keys().any(|k| k.starts_with("krakend.router.response.")),
        "{}",
        keys(&s)
    );
    assert!(
        !s.keys().any(|k| k.contains(".layer.backend.")),
        "{}",
        keys(&s)
    );
    // krakend-metrics registers the connection counters anyway; only the
    // router layer counts into them.
    assert_eq!(int(&s, "krakend.router.connected"), 0);

    let gw = Gateway::start(&config(
        json!({"listen_address": "127.0.0.1:0", "proxy_disabled": true}),
        endpoints(&backend.url()),
    ));
    let addr = stats_addr(&gw);
    assert_eq!(gw.get("/ok").status, 200);
    gw.eventually("the router counted", Duration::from_secs(5), || {
        s = stats(addr);
        s.get("krakend.router.response./ok.status.200.count")
            .and_then(Value::as_u64)
            == Some(1)
    });
    assert!(
        !s.keys().any(|k| k.contains(".layer.pipe.")),
        "{}",
        keys(&s)
    );
    assert_eq!(layer(&s, "backend", "/ok", true, false), 1);

    let gw = Gateway::start(&config(
        json!({"listen_address": "127.0.0.1:0", "endpoint_disabled": true}),
        endpoints(&backend.url()),
    ));
    assert_eq!(gw.get("/ok").status, 200);
    assert!(!gw.log().contains("cuttle stats on"), "{}", gw.log());
}

#[test]
fn stats_and_the_prometheus_exporter_count_the_same_requests() {
    let backend = backend();
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let prometheus_port = probe.local_addr().unwrap().port();
    drop(probe);
    let text = json!({
        "version": 3,
        "extra_config": {
            "telemetry/metrics": {"listen_address": "127.0.0.1:0"},
            "telemetry/opentelemetry": {"exporters": {"prometheus": [
                {"name": "p", "port": prometheus_port, "listen_ip": "127.0.0.1"}
            ]}},
        },
        "endpoints": endpoints(&backend.url()),
    })
    .to_string();
    let gw = Gateway::start(&text);
    let addr = stats_addr(&gw);
    for _ in 0..4 {
        assert_eq!(gw.get("/ok").status, 200);
    }
    gw.eventually("the stats counted", Duration::from_secs(5), || {
        stats(addr)
            .get("krakend.router.response./ok.status.200.count")
            .and_then(Value::as_u64)
            == Some(4)
    });
    let prometheus: SocketAddr = format!("127.0.0.1:{prometheus_port}").parse().unwrap();
    let (status, _, body) = request(prometheus, "GET", "/metrics");
    assert_eq!(status, 200);
    let line = body
        .lines()
        .find(|l| l.starts_with("http_server_duration_count{") && l.contains("http_route=\"/ok\""))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(line.ends_with(" 4"), "{line}");
}

/// A reload (SIGHUP) serves the new endpoints' figures; one that moves
/// the stats port is refused until a restart.
#[test]
fn a_reload_keeps_the_stats_port_and_lists_the_new_endpoints() {
    let backend = backend();
    let stats_settings = json!({"listen_address": "127.0.0.1:0"});
    let gw = Gateway::start(&config(
        stats_settings.clone(),
        json!([{"endpoint": "/ok", "backend": [{"host": [backend.url()], "url_pattern": "/ok"}]}]),
    ));
    let addr = stats_addr(&gw);
    assert!(!stats(addr).contains_key("krakend.router.response./users/:id.status"));
    std::fs::write(
        gw.config_path(),
        config(stats_settings, endpoints(&backend.url())),
    )
    .unwrap();
    gw.signal("HUP");
    gw.eventually("the new endpoints listed", Duration::from_secs(10), || {
        stats(addr).contains_key("krakend.router.response./users/:id.status")
    });
    std::fs::write(
        gw.config_path(),
        config(
            json!({"listen_address": "127.0.0.1:1"}),
            endpoints(&backend.url()),
        ),
    )
    .unwrap();
    gw.signal("HUP");
    gw.eventually("the refused reload logged", Duration::from_secs(10), || {
        gw.log().contains("telemetry/metrics' listen_address")
    });
    assert!(
        gw.log().contains("restart cuttle to apply it"),
        "{}",
        gw.log()
    );
    assert!(stats(addr).contains_key("krakend.router.response./users/:id.status"));
}

#[test]
fn bad_settings_are_refused_with_their_path() {
    let root = |metrics: Value, extra: Value| {
        let mut c = json!({
            "version": 3,
            "port": 18080,
            "extra_config": {"telemetry/metrics": metrics},
            "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/a"}]}],
        });
        for (k, v) in extra.as_object().unwrap() {
            c["extra_config"][k] = v.clone();
        }
        c.to_string()
    };
    let at = "extra_config.telemetry/metrics";
    for (metrics, extra, path, words) in [
        (
            json!({"collection_time": "soon"}),
            json!({}),
            "collection_time",
            "not a duration",
        ),
        (
            json!({"collection_time": "0s"}),
            json!({}),
            "collection_time",
            "above zero",
        ),
        (
            json!({"listen_address": "stats.local:8090"}),
            json!({}),
            "listen_address",
            "IP address",
        ),
        (
            json!({"listen_address": ":18080"}),
            json!({}),
            "listen_address",
            "gateway's \"port\"",
        ),
        (
            json!({"listen_address": "127.0.0.1:19090"}),
            json!({"telemetry/opentelemetry": {"exporters": {"prometheus": [{"name": "prom", "port": 19090}]}}}),
            "listen_address",
            "exporter \"prom\"",
        ),
    ] {
        let (code, out) = common::check(&root(metrics.clone(), extra));
        assert_ne!(code, 0, "{metrics}: {out}");
        assert!(out.contains(&format!("{at}.{path}")), "{metrics}: {out}");
        assert!(out.contains(words), "{metrics}: {out}");
    }
    // KrakenD's older name is the same namespace.
    let old = root(json!({"collection_time": "x"}), json!({})).replace(
        "telemetry/metrics",
        "github_com/devopsfaith/krakend-metrics",
    );
    let (code, out) = common::check(&old);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("collection_time"), "{out}");
    let (code, out) = common::check(&root(json!({"listen_address": ":18081"}), json!({})));
    assert_eq!(code, 0, "{out}");
    assert!(
        !out.contains("telemetry/metrics"),
        "no longer warned about as ignored: {out}"
    );
}

/// `run -p` may move the gateway onto the stats port after the file was
/// checked: `run` compares the bound ports and refuses, naming both.
#[test]
fn run_refuses_a_gateway_port_that_is_the_stats_port() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let dir = TempDir::new();
    let path = dir.0.join("krakend.json");
    let text = config(
        json!({"listen_address": format!("127.0.0.1:{port}")}),
        json!([{"endpoint": "/a", "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/a"}]}]),
    );
    std::fs::write(&path, text).unwrap();
    let log = dir.0.join("out.log");
    let child = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["run", "-c", path.to_str().unwrap(), "-p", &port.to_string()])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.0.join("err.log")).unwrap())
        .spawn()
        .unwrap();
    // Killed if it serves instead of refusing.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Killed(child);
    let mut status = None;
    common::eventually("run to exit", Duration::from_secs(10), || {
        status = child.0.try_wait().unwrap();
        status.is_some()
    });
    let all = std::fs::read_to_string(dir.0.join("err.log")).unwrap()
        + &std::fs::read_to_string(&log).unwrap();
    assert!(!status.unwrap().success(), "{all}");
    assert!(
        all.contains("extra_config.telemetry/metrics.listen_address")
            && all.contains(&format!("port {port} is also the port of the gateway")),
        "{all}"
    );
}

/// A real public file that carries `telemetry/metrics` (krakend-ce's own
/// `krakend.json`, in tests/corpus/files): served, its stats port moved to
/// an ephemeral one, `/__stats` lists every endpoint and backend it has.
#[test]
fn a_real_file_serves_its_stats() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/files/krakend__krakend-ce__krakend.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let metrics = &mut config["extra_config"]["telemetry/metrics"];
    assert_eq!(metrics["listen_address"], ":8090");
    metrics["listen_address"] = "127.0.0.1:0".into();
    let gw = Gateway::start_with(&config.to_string(), &["--cores", "1"]);
    let s = stats(stats_addr(&gw));
    let endpoints = config["endpoints"].as_array().unwrap();
    assert!(!endpoints.is_empty());
    for endpoint in endpoints {
        let path = endpoint["endpoint"].as_str().unwrap();
        let name = gin_pattern(path);
        let key = format!("krakend.router.response.{name}.time.count");
        assert!(s.contains_key(&key), "{key}: {}", keys(&s));
        let key =
            format!("krakend.proxy.requests.layer.pipe.name.{name}.complete.true.error.false");
        assert!(s.contains_key(&key), "{key}");
    }
    assert!(
        s.keys().any(|k| k.contains(".layer.backend.name./")),
        "{}",
        keys(&s)
    );
}

/// `/a/{b}` as gin's `/a/:b`.
fn gin_pattern(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = open + rest[open..].find('}').unwrap();
        out.push_str(&rest[..open]);
        out.push(':');
        out.push_str(&rest[open + 1..close]);
        rest = &rest[close + 1..];
    }
    out + rest
}
