//! `qos/http-cache` end to end: the real gateway (one worker, so one
//! store) in front of real backends that count the requests they get.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Backend, Gateway, RawBackend, Reply};

/// Now as an HTTP date: httpcache needs a `Date` to know a response's age.
fn http_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// A JSON answer with `status` and extra header lines.
fn cached_json(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut all = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("Date".to_string(), http_now()),
    ];
    all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Reply::Full(status, all, body.as_bytes().to_vec())
}

/// A backend whose every answer carries `cache_control`; the body says
/// which call it was (`{"n": 1}`, `{"n": 2}`, ...).
fn counting(cache_control: &'static str) -> Backend {
    let calls = AtomicUsize::new(0);
    Backend::start(move |_| {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        cached_json(
            200,
            &[("Cache-Control", cache_control)],
            &format!(r#"{{"n": {n}}}"#),
        )
    })
}

/// One endpoint per path in `paths` (`/x` → backend `/x`), each backend
/// with `cache` as its `qos/http-cache`, plus `endpoint_extra` keys.
fn gateway(backend: &str, paths: &[&str], cache: &str, endpoint_extra: &str) -> Gateway {
    let endpoints: Vec<String> = paths
        .iter()
        .map(|p| {
            format!(
                r#"{{"endpoint": "{p}", "timeout": "500ms" {endpoint_extra},
                     "backend": [{{"host": ["{backend}"], "url_pattern": "{p}",
                                  "extra_config": {{"qos/http-cache": {cache}}}}}]}}"#
            )
        })
        .collect();
    Gateway::start(&common::config(&format!("[{}]", endpoints.join(","))))
}

fn calls(backend: &Backend) -> usize {
    backend.requests().len()
}

#[test]
fn a_fresh_answer_is_served_from_the_cache() {
    let backend = counting("max-age=60");
    let gw = gateway(&backend.url(), &["/a"], "{}", "");
    let first = gw.get("/a");
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["n"], 1);
    let second = gw.get("/a");
    assert_eq!(second.status, 200);
    // The stored answer, decoded again: the same body, no second call.
    assert_eq!(second.json()["n"], 1);
    assert_eq!(calls(&backend), 1);
}

#[test]
fn an_answer_expires_after_max_age() {
    // max-age=2: `Date` has a one-second grain, so the answer is at most a
    // second old when the second request comes.
    let backend = counting("max-age=2");
    let gw = gateway(&backend.url(), &["/a"], "{}", "");
    assert_eq!(gw.get("/a").json()["n"], 1);
    assert_eq!(gw.get("/a").json()["n"], 1);
    assert_eq!(calls(&backend), 1);
    common::eventually("the stored answer expires", Duration::from_secs(10), || {
        gw.get("/a").json()["n"] == 2
    });
    assert_eq!(calls(&backend), 2);
}

#[test]
fn no_store_is_never_cached() {
    let backend = counting("no-store, max-age=60");
    let gw = gateway(&backend.url(), &["/a"], "{}", "");
    assert_eq!(gw.get("/a").json()["n"], 1);
    assert_eq!(gw.get("/a").json()["n"], 2);
}

#[test]
fn private_is_not_cached_by_a_shared_store_only() {
    let backend = counting("private, max-age=60");
    let shared = gateway(&backend.url(), &["/a"], r#"{"shared": true}"#, "");
    assert_eq!(shared.get("/a").json()["n"], 1);
    assert_eq!(shared.get("/a").json()["n"], 2);
    drop(shared);
    // A backend's own store is KrakenD's private cache: it keeps them.
    let own = gateway(&backend.url(), &["/a"], "{}", "");
    assert_eq!(own.get("/a").json()["n"], 3);
    assert_eq!(own.get("/a").json()["n"], 3);
    assert_eq!(calls(&backend), 3);
}

#[test]
fn shared_backends_share_one_store() {
    // Two endpoints calling the same backend URL: with `shared` the second
    // finds what the first stored.
    let backend = counting("max-age=60");
    let endpoints = format!(
        r#"[{{"endpoint": "/one", "backend": [{{"host": ["{b}"], "url_pattern": "/same",
              "extra_config": {{"qos/http-cache": {{"shared": true}}}}}}]}},
            {{"endpoint": "/two", "backend": [{{"host": ["{b}"], "url_pattern": "/same",
              "extra_config": {{"qos/http-cache": {{"shared": true}}}}}}]}}]"#,
        b = backend.url()
    );
    let gw = Gateway::start(&common::config(&endpoints));
    assert_eq!(gw.get("/one").json()["n"], 1);
    assert_eq!(gw.get("/two").json()["n"], 1);
    assert_eq!(calls(&backend), 1);
}

#[test]
fn vary_keys_on_the_named_request_header() {
    let calls_made = AtomicUsize::new(0);
    let backend = Backend::start(move |seen| {
        let n = calls_made.fetch_add(1, Ordering::SeqCst) + 1;
        let tenant = seen.header("x-tenant").unwrap_or("none").to_string();
        cached_json(
            200,
            &[("Cache-Control", "max-age=60"), ("Vary", "X-Tenant")],
            &format!(r#"{{"n": {n}, "tenant": "{tenant}"}}"#),
        )
    });
    let gw = gateway(
        &backend.url(),
        &["/a"],
        "{}",
        r#", "input_headers": ["X-Tenant"]"#,
    );
    let get = |tenant: &str| {
        gw.raw(format!("GET /a HTTP/1.1\r\nHost: x\r\nX-Tenant: {tenant}\r\n\r\n").as_bytes())
            .json()
    };
    assert_eq!(get("red")["tenant"], "red");
    assert_eq!(get("blue")["tenant"], "blue");
    assert_eq!(calls(&backend), 2);
    // The entry now holds blue's answer (one entry per URL, as httpcache).
    let again = get("blue");
    assert_eq!(
        (again["tenant"].clone(), again["n"].clone()),
        ("blue".into(), 2.into())
    );
    assert_eq!(calls(&backend), 2);
    assert_eq!(get("red")["tenant"], "red");
    assert_eq!(calls(&backend), 3);
}

#[test]
fn a_stale_answer_is_revalidated_with_its_etag() {
    let calls_made = AtomicUsize::new(0);
    let backend = Backend::start(move |seen| {
        let n = calls_made.fetch_add(1, Ordering::SeqCst) + 1;
        if seen.header("if-none-match") == Some("\"v1\"") {
            return Reply::Full(
                304,
                vec![
                    ("ETag".into(), "\"v1\"".into()),
                    ("Date".into(), http_now()),
                ],
                Vec::new(),
            );
        }
        // no-cache: stored, but checked with the backend before each use.
        cached_json(
            200,
            &[("Cache-Control", "no-cache"), ("ETag", "\"v1\"")],
            &format!(r#"{{"n": {n}}}"#),
        )
    });
    let gw = gateway(&backend.url(), &["/a"], "{}", "");
    assert_eq!(gw.get("/a").json()["n"], 1);
    let second = gw.get("/a");
    assert_eq!(second.status, 200);
    assert_eq!(
        second.json()["n"],
        1,
        "the 304 is answered with the stored body"
    );
    let seen = backend.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header("if-none-match"), None);
    assert_eq!(seen[1].header("if-none-match"), Some("\"v1\""));
}

#[test]
fn failures_are_not_cached() {
    let calls_made = AtomicUsize::new(0);
    let backend = Backend::start(move |_| {
        let n = calls_made.fetch_add(1, Ordering::SeqCst) + 1;
        cached_json(
            500,
            &[("Cache-Control", "max-age=60")],
            &format!(r#"{{"n": {n}}}"#),
        )
    });
    let gw = gateway(&backend.url(), &["/a"], "{}", "");
    assert_eq!(gw.get("/a").status, 500);
    assert_eq!(gw.get("/a").status, 500);
    assert_eq!(calls(&backend), 2);
}

#[test]
fn a_timed_out_answer_is_not_cached() {
    // The first request's answer comes after the endpoint's timeout;
    // later ones at once. The late answer must not be stored.
    let written = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let late = written.clone();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let backend = RawBackend::start(move |mut stream| {
        while common::read_head(&mut stream).is_some() {
            // Requests, not connections: the pool may open some ahead.
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            let body = format!(r#"{{"n": {n}}}"#);
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: {}\r\nCache-Control: max-age=60\r\nContent-Length: {}\r\n\r\n{body}",
                http_now(),
                body.len()
            );
            if n == 1 {
                std::thread::sleep(Duration::from_millis(800));
                let _ = stream.write_all(answer.as_bytes());
                late.store(true, Ordering::SeqCst);
                return;
            }
            if stream.write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    });
    let gw = gateway(&backend.url(), &["/a"], "{}", "");
    assert_eq!(gw.get("/a").status, 500);
    common::eventually("the late answer is written", Duration::from_secs(5), || {
        written.load(Ordering::SeqCst)
    });
    assert_eq!(gw.get("/a").json()["n"], 2);
    assert_eq!(gw.get("/a").json()["n"], 2);
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[test]
fn a_truncated_answer_is_not_cached() {
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    let backend = RawBackend::start(move |mut stream| {
        if common::read_head(&mut stream).is_none() {
            return;
        }
        counted.fetch_add(1, Ordering::SeqCst);
        // Promises 100 bytes, sends 8, hangs up.
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: {}\r\nCache-Control: max-age=60\r\nContent-Length: 100\r\n\r\n{{\"n\": 1",
            http_now()
        );
        let _ = stream.write_all(head.as_bytes());
    });
    let endpoints = format!(
        r#"[{{"endpoint": "/a", "backend": [{{"host": ["{}"], "url_pattern": "/a",
              "extra_config": {{"qos/http-cache": {{}}}}}}]}}]"#,
        backend.url()
    );
    let gw = Gateway::start(&common::config(&endpoints));
    assert_ne!(gw.get("/a").status, 200);
    assert_ne!(gw.get("/a").status, 200);
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[test]
fn max_items_evicts_the_least_recently_used() {
    let backend = counting("max-age=60");
    let gw = gateway(
        &backend.url(),
        &["/a", "/b"],
        r#"{"shared": true, "max_items": 1, "max_size": 1048576}"#,
        "",
    );
    gw.get("/a");
    gw.get("/a");
    assert_eq!(calls(&backend), 1);
    // /b takes the only place: /a is asked for again.
    gw.get("/b");
    gw.get("/a");
    assert_eq!(calls(&backend), 3);
    let paths: Vec<String> = backend
        .requests()
        .iter()
        .map(|s| s.target.clone())
        .collect();
    assert_eq!(paths, ["/a", "/b", "/a"]);
}

#[test]
fn uncacheable_methods_always_reach_the_backend() {
    let backend = counting("max-age=60");
    let endpoints = format!(
        r#"[{{"endpoint": "/a", "method": "POST", "backend": [{{"host": ["{}"], "url_pattern": "/a",
              "extra_config": {{"qos/http-cache": {{}}}}}}]}}]"#,
        backend.url()
    );
    let gw = Gateway::start(&common::config(&endpoints));
    for _ in 0..2 {
        let r = gw.raw(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
        assert_eq!(r.status, 200);
    }
    assert_eq!(calls(&backend), 2);
}

#[test]
fn a_hit_still_spends_a_backend_rate_limit_token() {
    // KrakenD's cached client sits below qos/ratelimit/proxy
    // (krakend-ce backend_factory.go): a hit is a call to the limiter.
    let backend = counting("max-age=60");
    let endpoints = format!(
        r#"[{{"endpoint": "/a", "backend": [{{"host": ["{}"], "url_pattern": "/a",
              "extra_config": {{"qos/http-cache": {{}},
                                "qos/ratelimit/proxy": {{"max_rate": 1, "capacity": 1, "every": "1h"}}}}}}]}}]"#,
        backend.url()
    );
    let gw = Gateway::start(&common::config(&endpoints));
    assert_eq!(gw.get("/a").status, 200);
    assert_eq!(gw.get("/a").status, 500, "no token left, even for a hit");
    assert_eq!(calls(&backend), 1);
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    all
}

/// The value of the one sample of `name` in `text`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[test]
fn hits_and_misses_are_in_the_metrics() {
    let backend = counting("max-age=60");
    let port = free_port();
    let config = format!(
        r#"{{"version": 3, "timeout": "2s",
            "extra_config": {{"telemetry/opentelemetry": {{"service_name": "t",
                "exporters": {{"prometheus": [{{"name": "p", "port": {port}, "listen_ip": "127.0.0.1"}}]}}}}}},
            "endpoints": [{{"endpoint": "/a", "backend": [{{"host": ["{}"], "url_pattern": "/a",
                "extra_config": {{"qos/http-cache": {{}}}}}}]}}]}}"#,
        backend.url()
    );
    let gw = Gateway::start(&config);
    for _ in 0..3 {
        assert_eq!(gw.get("/a").status, 200);
    }
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    gw.eventually("the lookups are counted", Duration::from_secs(5), || {
        let text = scrape(addr);
        sample(&text, "cuttle_backend_cache_hits_total") == Some(2.0)
            && sample(&text, "cuttle_backend_cache_misses_total") == Some(1.0)
    });
    assert_eq!(calls(&backend), 1);
}

#[test]
fn the_bounds_per_process_are_logged_at_start_up() {
    let backend = counting("max-age=60");
    let endpoints = format!(
        r#"[{{"endpoint": "/a", "backend": [{{"host": ["{b}"], "url_pattern": "/a",
              "extra_config": {{"qos/http-cache": {{"max_items": 100, "max_size": 5000}}}}}}]}},
            {{"endpoint": "/b", "backend": [{{"host": ["{b}"], "url_pattern": "/b",
              "extra_config": {{"qos/http-cache": {{"shared": true}}}}}}]}}]"#,
        b = backend.url()
    );
    let gw = Gateway::start_env(
        &common::config(&endpoints),
        &["--cores", "1"],
        &[("CUTTLE_LOG", "debug")],
        true,
    );
    gw.eventually("the start-up line", Duration::from_secs(5), || {
        gw.log().contains("qos/http-cache: 2 store(s) per worker, 1 worker(s): at most 100 entries and 5000 bytes per worker, 100 entries and 5000 bytes per process, plus 1 unbounded store(s) per worker")
    });
}
