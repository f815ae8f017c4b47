//! KrakenD's backend HTTP client settings (issue 21, items 4 and 16): the
//! root transport settings lura hands Go's `http.Transport` and
//! `net.Dialer` (lura `transport/http/server/server.go` `NewTransport`),
//! and `backend/http/client.send_body_on_redirect` (lura `proxy/http.go`),
//! each against real backends.
//!
//! Test code is not the request path: it may share state with a Mutex.
#![allow(clippy::disallowed_types)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Backend, Gateway, Reply, Seen, TempDir, json};

fn endpoint_config(root: &str, backend: &str) -> String {
    format!(
        r#"{{"version": 3, "timeout": "3s", {root}
            "extra_config": {{"router": {{"return_error_msg": true}}}},
            "endpoints": [{{"endpoint": "/x", "backend": [{backend}]}}]}}"#
    )
}

#[test]
fn response_header_timeout_fails_a_slow_backend_at_the_limit() {
    let slow = Backend::start(|_| {
        Reply::Delayed(
            Duration::from_millis(1500),
            Box::new(json(200, r#"{"a":1}"#)),
        )
    });
    let backend = format!(r#"{{"host": ["{}"], "url_pattern": "/slow"}}"#, slow.url());
    // Without it only the endpoint's 3 s bound the call.
    let gateway = Gateway::start(&endpoint_config("", &backend));
    let response = gateway.get("/x");
    assert_eq!(response.status, 200, "{}", response.text());

    let gateway = Gateway::start(&endpoint_config(
        r#""response_header_timeout": "500ms","#,
        &backend,
    ));
    let started = Instant::now();
    let response = gateway.get("/x");
    let took = started.elapsed();
    assert_eq!(response.status, 500, "{}", response.text());
    assert!(
        response
            .text()
            .contains("timeout awaiting response headers"),
        "{}",
        response.text()
    );
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1300),
        "failed after {took:?}, not at 0.5 s"
    );
}

#[test]
fn disable_keep_alives_opens_a_connection_per_call_and_says_close() {
    let backend = Backend::start(|_| json(200, r#"{"a":1}"#));
    let config = endpoint_config(
        r#""disable_keep_alives": true,"#,
        &format!(r#"{{"host": ["{}"], "url_pattern": "/a"}}"#, backend.url()),
    );
    let gateway = Gateway::start(&config);
    for _ in 0..3 {
        let response = gateway.get("/x");
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(backend.connections(), 3, "one connection per call");
    let seen = backend.requests();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.header("connection"), Some("close"), "{request:?}");
    }
}

#[test]
fn disable_compression_stops_asking_backends_for_gzip() {
    let backend = Backend::start(|_| json(200, r#"{"a":1}"#));
    let backend_json = format!(r#"{{"host": ["{}"], "url_pattern": "/a"}}"#, backend.url());
    let gateway = Gateway::start(&endpoint_config("", &backend_json));
    assert_eq!(gateway.get("/x").status, 200);
    let gateway = Gateway::start(&endpoint_config(
        r#""disable_compression": true,"#,
        &backend_json,
    ));
    assert_eq!(gateway.get("/x").status, 200);
    let seen = backend.requests();
    assert_eq!(seen[0].header("accept-encoding"), Some("gzip"));
    assert_eq!(seen[1].header("accept-encoding"), None, "{:?}", seen[1]);
}

/// A keep-alive backend answering `{"a":1}` to every request, counting
/// the connections it accepted and those the gateway closed.
struct CountingBackend {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    /// The gateway's end of each accepted connection.
    peers: Arc<Mutex<Vec<SocketAddr>>>,
}

impl CountingBackend {
    fn start() -> CountingBackend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (accepted, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let (a, c, p) = (accepted.clone(), closed.clone(), peers.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                a.fetch_add(1, Ordering::SeqCst);
                p.lock().unwrap().push(stream.peer_addr().unwrap());
                let closed = c.clone();
                std::thread::spawn(move || serve_keep_alive(stream, &closed));
            }
        });
        CountingBackend {
            addr,
            accepted,
            closed,
            peers,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn open(&self) -> usize {
        self.accepted.load(Ordering::SeqCst) - self.closed.load(Ordering::SeqCst)
    }
}

fn serve_keep_alive(mut stream: TcpStream, closed: &AtomicUsize) {
    while common::read_head(&mut stream).is_some() {
        let body = r#"{"a":1}"#;
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() {
            break;
        }
    }
    closed.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn idle_connection_timeout_closes_idle_pooled_connections() {
    let backend = CountingBackend::start();
    let config = format!(
        r#"{{"version": 3, "timeout": "3s", "idle_connection_timeout": "300ms",
            "extra_config": {{"cuttle/server": {{"pool_size": 1}}}},
            "endpoints": [{{"endpoint": "/x", "backend": [{{"host": ["{}"], "url_pattern": "/a"}}]}}]}}"#,
        backend.url()
    );
    let gateway = Gateway::start(&config);
    assert_eq!(gateway.get("/x").status, 200);
    assert!(backend.accepted.load(Ordering::SeqCst) >= 1);
    // Idle for longer than 300 ms, the pooled connection is closed.
    common::eventually(
        "the idle backend connection is closed",
        Duration::from_secs(5),
        || backend.open() == 0,
    );
    // The next call opens a new one.
    let before = backend.accepted.load(Ordering::SeqCst);
    assert_eq!(gateway.get("/x").status, 200);
    assert_eq!(backend.accepted.load(Ordering::SeqCst), before + 1);
}

#[test]
fn max_idle_connections_bounds_idle_connections_to_all_hosts_together() {
    let (a, b) = (CountingBackend::start(), CountingBackend::start());
    let config = |root: &str| {
        format!(
            r#"{{"version": 3, "timeout": "3s", {root}
                "extra_config": {{"cuttle/server": {{"pool_size": 1}}}},
                "endpoints": [{{"endpoint": "/x", "backend": [
                    {{"host": ["{}"], "url_pattern": "/a", "group": "a"}},
                    {{"host": ["{}"], "url_pattern": "/b", "group": "b"}}]}}]}}"#,
            a.url(),
            b.url()
        )
    };
    // One worker, a cap of 1 for both hosts: after a call to both, only the
    // connection that went idle last stays open.
    let gateway = Gateway::start(&config(r#""max_idle_connections": 1,"#));
    for _ in 0..3 {
        let response = gateway.get("/x");
        assert_eq!(response.status, 200, "{}", response.text());
        common::eventually(
            "one idle connection to both hosts together",
            Duration::from_secs(5),
            || a.open() + b.open() == 1,
        );
    }
    drop(gateway);

    // Without it, each host keeps its own.
    let (a, b) = (CountingBackend::start(), CountingBackend::start());
    let config = format!(
        r#"{{"version": 3, "timeout": "3s",
            "extra_config": {{"cuttle/server": {{"pool_size": 1}}}},
            "endpoints": [{{"endpoint": "/x", "backend": [
                {{"host": ["{}"], "url_pattern": "/a", "group": "a"}},
                {{"host": ["{}"], "url_pattern": "/b", "group": "b"}}]}}]}}"#,
        a.url(),
        b.url()
    );
    let gateway = Gateway::start(&config);
    assert_eq!(gateway.get("/x").status, 200);
    assert_eq!(a.open() + b.open(), 2);
}

/// The kernel's timer on the gateway's end of `peer`, from /proc/net/tcp:
/// its kind (`02` is the keep-alive timer, `00` none, `01` a
/// retransmission one, briefly, after a write) and what is left of it in
/// seconds (ticks of 1/100 s).
fn socket_timer(peer: SocketAddr, backend: SocketAddr) -> (String, f64) {
    let hex = |addr: SocketAddr| {
        let SocketAddr::V4(addr) = addr else {
            panic!("IPv4 expected")
        };
        format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(addr.ip().octets()),
            addr.port()
        )
    };
    let (local, remote) = (hex(peer), hex(backend));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    // Local and remote end: the ephemeral port alone may also name an older
    // socket (TIME-WAIT, another test's) in the shared table.
    let row = table
        .lines()
        // Both ends and the established state (01): a TIME_WAIT socket of
        // an older connection may share the ends.
        .find(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&local.as_str())
                && fields.get(2) == Some(&remote.as_str())
                && fields.get(3) == Some(&"01")
        })
        .unwrap_or_else(|| panic!("no established socket {local} -> {remote} in /proc/net/tcp"));
    let timer = row.split_whitespace().nth(5).unwrap();
    let (kind, when) = timer.split_once(':').unwrap();
    (
        kind.to_owned(),
        u64::from_str_radix(when, 16).unwrap() as f64 / 100.0,
    )
}

#[test]
fn dialer_keep_alive_sets_tcp_keep_alive_on_backend_sockets() {
    // Waits until the idle backend connection shows `kind` of timer and
    // returns what is left of it.
    let timer_with = |root: &str, kind: &str| {
        let backend = CountingBackend::start();
        let config = format!(
            r#"{{"version": 3, "timeout": "3s", {root}
                "extra_config": {{"cuttle/server": {{"pool_size": 1}}}},
                "endpoints": [{{"endpoint": "/x", "backend": [{{"host": ["{}"], "url_pattern": "/a"}}]}}]}}"#,
            backend.url()
        );
        let gateway = Gateway::start(&config);
        assert_eq!(gateway.get("/x").status, 200);
        let peer = backend.peers.lock().unwrap()[0];
        let mut left = 0.0;
        common::eventually(
            &format!("timer {kind} on the idle backend socket ({root})"),
            Duration::from_secs(3),
            || {
                let (found, secs) = socket_timer(peer, backend.addr);
                left = secs;
                found == kind
            },
        );
        drop(gateway);
        left
    };
    // Go's dialer default (KrakenD leaves `dialer_keep_alive` at 0): 15 s.
    let default = timer_with("", "02");
    assert!(default > 7.0 && default <= 15.0, "{default}");
    let set = timer_with(r#""dialer_keep_alive": "7s","#, "02");
    assert!(set > 1.0 && set <= 7.0, "{set}");
    // Negative: off, as in Go: no timer at all on the idle socket.
    timer_with(r#""dialer_keep_alive": "-1s","#, "00");
}

#[test]
fn check_and_run_name_the_client_settings_cuttle_has_nothing_to_do_for() {
    let dir = TempDir::new();
    let path = dir.0.join("krakend.json");
    std::fs::write(
        &path,
        r#"{"version": 3, "expect_continue_timeout": "1s", "dialer_fallback_delay": "300ms",
            "endpoints": [{"endpoint": "/x", "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/a"}]}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "warning: expect_continue_timeout: ignored: cuttle never sends \"Expect: 100-continue\""
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: dialer_fallback_delay: ignored:"),
        "{stderr}"
    );
}

/// A backend where `/start` redirects with `status` to `/final`, which
/// echoes the method and body it got.
fn redirecting(status: u16) -> Backend {
    Backend::start(move |seen: &Seen| {
        if seen.path() == "/start" {
            return Reply::Full(
                status,
                vec![("Location".into(), "/final".into())],
                Vec::new(),
            );
        }
        let echo = serde_json::json!({
            "method": seen.method,
            "body": String::from_utf8_lossy(&seen.body),
        });
        json(200, &echo.to_string())
    })
}

fn redirect_config(backend: &Backend, method: &str, client: &str) -> String {
    format!(
        r#"{{"version": 3, "timeout": "3s",
            "extra_config": {{"router": {{"return_error_msg": true}}}},
            "endpoints": [{{"endpoint": "/x", "method": "{method}", "backend": [{{
                "host": ["{}"], "url_pattern": "/start"{client}}}]}}]}}"#,
        backend.url()
    )
}

fn send(gateway: &Gateway, method: &str, body: &str) -> common::Response {
    gateway.raw(
        format!(
            "{method} /x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

#[test]
fn a_307_is_followed_with_the_body_only_with_send_body_on_redirect() {
    for status in [307, 308] {
        let backend = redirecting(status);
        // Without the flag the body is never sent twice: the 307/308 is the
        // backend's answer (not a success), as Go's client returns it.
        let gateway = Gateway::start(&redirect_config(&backend, "POST", ""));
        let response = send(&gateway, "POST", r#"{"n":1}"#);
        assert_eq!(response.status, 500, "{status}: {}", response.text());
        let paths: Vec<String> = backend
            .requests()
            .iter()
            .map(|s| s.target.clone())
            .collect();
        assert_eq!(paths, ["/start"], "{status}");

        let gateway = Gateway::start(&redirect_config(
            &backend,
            "POST",
            r#", "extra_config": {"backend/http/client": {"send_body_on_redirect": true}}"#,
        ));
        let response = send(&gateway, "POST", r#"{"n":1}"#);
        assert_eq!(response.status, 200, "{status}: {}", response.text());
        assert_eq!(
            response.json(),
            serde_json::json!({"method": "POST", "body": "{\"n\":1}"}),
            "{status}"
        );
    }
    // An empty body can be sent again: Go follows then, with the method.
    let backend = redirecting(307);
    let gateway = Gateway::start(&redirect_config(&backend, "POST", ""));
    let response = send(&gateway, "POST", "");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["method"], "POST");
}

#[test]
fn a_301_302_or_303_is_followed_as_a_get_without_the_body() {
    // Go's client (net/http `redirectBehavior`): any method but GET and
    // HEAD becomes GET, and the body is dropped, whatever the flag.
    let flag = r#", "extra_config": {"backend/http/client": {"send_body_on_redirect": true}}"#;
    for (status, method, client) in [
        (301, "PUT", ""),
        (302, "PATCH", ""),
        (303, "POST", ""),
        (301, "POST", ""),
        (302, "PUT", flag),
    ] {
        let backend = redirecting(status);
        let gateway = Gateway::start(&redirect_config(&backend, method, client));
        let response = send(&gateway, method, r#"{"n":1}"#);
        assert_eq!(
            response.status,
            200,
            "{status} {method}: {}",
            response.text()
        );
        assert_eq!(
            response.json(),
            serde_json::json!({"method": "GET", "body": ""}),
            "{status} {method}"
        );
    }
}

#[test]
fn enterprise_http_client_keys_are_refused_and_the_namespace_is_accepted() {
    let dir = TempDir::new();
    let check = |client: &str| {
        let path = dir.0.join("krakend.json");
        std::fs::write(
            &path,
            format!(
                r#"{{"version": 3, "endpoints": [{{"endpoint": "/x", "backend": [{{"host": ["http://127.0.0.1:9"], "url_pattern": "/a",
                    "extra_config": {{"backend/http/client": {client}}}}}]}}]}}"#
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
            .args(["check", "-c"])
            .arg(&path)
            .output()
            .unwrap();
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        out.stderr.as_slice().read_to_string(&mut text).unwrap();
        (out.status.success(), text)
    };
    let (ok, text) = check(r#"{"send_body_on_redirect": true}"#);
    assert!(ok, "{text}");
    let (ok, text) = check(r#"{"proxy_address": "http://proxy:9099"}"#);
    assert!(!ok, "{text}");
    assert!(
        text.contains("endpoints[0].backend[0].extra_config.backend/http/client.proxy_address"),
        "{text}"
    );
    // Its keys are checked for spelling like those of the namespaces cuttle reads.
    let (ok, text) = check(r#"{"send_body_on_redirct": true}"#);
    assert!(!ok, "{text}");
    assert!(
        text.contains("did you mean \"send_body_on_redirect\"?"),
        "{text}"
    );
}
