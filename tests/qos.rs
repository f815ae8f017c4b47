//! KrakenD's protection components against real backends: endpoint rate
//! limits (503 / 429), the backend rate limit and the circuit breaker.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Backend, Gateway, json, text};

fn gateway(endpoints: &str) -> Gateway {
    Gateway::start(&format!(
        r#"{{"version": 3, "extra_config": {{"router": {{"return_error_msg": true}}}}, "endpoints": {endpoints}}}"#
    ))
}

#[test]
fn endpoint_rate_limit_answers_503_beyond_max_rate() {
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let gw = gateway(&format!(
        r#"[{{"endpoint": "/limited", "extra_config": {{"qos/ratelimit/router": {{"max_rate": 2, "capacity": 2, "every": "1m"}}}},
             "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
        backend.url()
    ));
    let statuses: Vec<u16> = (0..4).map(|_| gw.get("/limited").status).collect();
    assert_eq!(statuses, [200, 200, 503, 503]);
    assert_eq!(
        backend.requests().len(),
        2,
        "limited requests never reach the backend"
    );
    let r = gw.get("/limited");
    assert!(r.body.is_empty(), "KrakenD answers with an empty body");
}

#[test]
fn client_rate_limit_answers_429_per_client_key() {
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let gw = gateway(&format!(
        r#"[{{"endpoint": "/per-client", "extra_config": {{"qos/ratelimit/router":
              {{"client_max_rate": 1, "every": "1m", "strategy": "header", "key": "X-Api-Key"}}}},
             "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
        backend.url()
    ));
    let with_key = |key: &str| {
        gw.raw(
            format!("GET /per-client HTTP/1.1\r\nHost: h\r\nX-Api-Key: {key}\r\n\r\n").as_bytes(),
        )
        .status
    };
    assert_eq!(with_key("alice"), 200);
    assert_eq!(with_key("alice"), 429);
    assert_eq!(with_key("bob"), 200, "another client has its own bucket");
    assert_eq!(gw.get("/per-client").status, 429, "no key: 429, as KrakenD");
}

/// krakend-ratelimit v3 (`router/gin/gin.go`): a `client_max_rate`
/// without a `strategy` is not applied ("Unknown strategy"); cuttle serves
/// the endpoint the same way and says so at start-up.
#[test]
fn client_rate_limit_without_a_strategy_is_not_applied_and_is_reported() {
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let endpoints = format!(
        r#"[{{"endpoint": "/no-strategy", "extra_config": {{"qos/ratelimit/router":
              {{"client_max_rate": 1, "client_capacity": 1, "every": "1m"}}}},
             "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
        backend.url()
    );
    // `check` accepts the file and says what it will not apply.
    let dir = common::TempDir::new();
    let file = dir.0.join("krakend.json");
    std::fs::write(
        &file,
        format!(r#"{{"version": 3, "endpoints": {endpoints}}}"#),
    )
    .unwrap();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", file.to_str().unwrap()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "{said}");
    assert!(
        said.contains("endpoints[0].extra_config.qos/ratelimit/router.strategy")
            && said.contains("NOT APPLIED"),
        "{said}"
    );
    let gw = gateway(&endpoints);
    let statuses: Vec<u16> = (0..3).map(|_| gw.get("/no-strategy").status).collect();
    assert_eq!(statuses, [200, 200, 200], "KrakenD applies no client limit");
    common::eventually("the start-up warning", Duration::from_secs(5), || {
        gw.log().contains("qos/ratelimit/router.strategy") && gw.log().contains("NOT APPLIED")
    });
}

#[test]
fn backend_rate_limit_fails_the_call_without_reaching_the_backend() {
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let gw = gateway(&format!(
        r#"[{{"endpoint": "/proxy-limited", "backend": [{{"host": ["{}"], "url_pattern": "/",
              "extra_config": {{"qos/ratelimit/proxy": {{"max_rate": 1, "capacity": 1, "every": "1m"}}}}}}]}}]"#,
        backend.url()
    ));
    assert_eq!(gw.get("/proxy-limited").status, 200);
    let r = gw.get("/proxy-limited");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("rate limit"), "{}", r.text());
    assert_eq!(backend.requests().len(), 1);
}

#[test]
fn circuit_breaker_opens_after_max_errors_and_recovers_after_timeout() {
    let healthy = Arc::new(AtomicBool::new(false));
    let flag = healthy.clone();
    let backend = Backend::start(move |_| {
        if flag.load(Ordering::SeqCst) {
            json(200, r#"{"ok": true}"#)
        } else {
            text(500, "text/plain", "down")
        }
    });
    let gw = gateway(&format!(
        r#"[{{"endpoint": "/cb", "backend": [{{"host": ["{}"], "url_pattern": "/",
              "extra_config": {{"qos/circuit-breaker": {{"interval": 60, "timeout": 1, "max_errors": 1}}}}}}]}}]"#,
        backend.url()
    ));
    // KrakenD (gobreaker) opens when consecutive failures exceed max_errors.
    assert_eq!(gw.get("/cb").status, 500);
    assert_eq!(gw.get("/cb").status, 500);
    assert_eq!(backend.requests().len(), 2);
    let r = gw.get("/cb");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("circuit breaker is open"), "{}", r.text());
    assert_eq!(
        backend.requests().len(),
        2,
        "an open breaker does not call the backend"
    );

    healthy.store(true, Ordering::SeqCst);
    // Time passing, not synchronisation: the open period (timeout 1 s) runs
    // out. The precise timings are unit tests with a clock (qos/breaker_tests).
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        gw.get("/cb").status,
        200,
        "half-open trial succeeds and closes the breaker"
    );
    assert_eq!(gw.get("/cb").status, 200);
}
