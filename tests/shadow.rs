//! Shadow backends (`"proxy": {"shadow": true}`, lura `proxy/shadow.go`):
//! the request is mirrored to them, their answers never reach the client
//! and never delay it.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Gateway, Reply, Seen, closed_port_url, config, json};

/// Waits (at most 5 s) until `backend` has received `n` requests.
fn wait_for_requests(backend: &Backend, n: usize) -> Vec<Seen> {
    common::within(Duration::from_secs(5), || backend.requests().len() >= n);
    backend.requests()
}

fn main_backend() -> Backend {
    Backend::start(|_| json(200, r#"{"a": 1, "b": 2}"#))
}

/// `GET /s`: a backend keeping `a`, and `shadow` as a shadow under group `sh`.
fn shadowed(main: &Backend, shadow: &str, shadow_extra: &str) -> String {
    config(&format!(
        r#"[{{"endpoint": "/s", "input_headers": ["X-Trace"], "backend": [
              {{"host": ["{}"], "url_pattern": "/x", "allow": ["a"]}},
              {{"host": ["{shadow}"], "url_pattern": "/shadowed", "group": "sh",
                "extra_config": {{"proxy": {{"shadow": true{shadow_extra}}}}}}}]}}]"#,
        main.url()
    ))
}

#[test]
fn the_shadow_gets_the_request_and_the_client_only_the_other_data() {
    let main = main_backend();
    let shadow = Backend::start(|_| json(200, r#"{"c": 3}"#));
    let gw = Gateway::start(&shadowed(&main, &shadow.url(), ""));
    let r = gw.raw(b"GET /s HTTP/1.1\r\nHost: h\r\nX-Trace: t1\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"a": 1}), "no shadow data");
    assert_eq!(r.header("X-KrakenD-Completed"), Some("true"));
    let seen = wait_for_requests(&shadow, 1);
    assert_eq!(seen.len(), 1, "the shadow backend was called once");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, "/shadowed");
    assert_eq!(
        seen[0].header("x-trace"),
        Some("t1"),
        "forwarded headers too"
    );
    assert_eq!(main.requests().len(), 1);
}

#[test]
fn a_slow_shadow_does_not_delay_the_answer() {
    let main = main_backend();
    let shadow = Backend::start(|_| {
        Reply::Delayed(Duration::from_secs(2), Box::new(json(200, r#"{"c": 3}"#)))
    });
    let gw = Gateway::start(&shadowed(&main, &shadow.url(), ""));
    // Twice on one connection: neither answer waits for the shadow.
    let mut client = gw.client();
    for _ in 0..2 {
        let started = Instant::now();
        client.send(b"GET /s HTTP/1.1\r\nHost: h\r\n\r\n");
        let r = client.response().expect("a response");
        let took = started.elapsed();
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), serde_json::json!({"a": 1}));
        assert_eq!(r.header("X-KrakenD-Completed"), Some("true"));
        assert!(
            took < Duration::from_millis(700),
            "the client waited {took:?} for a 2 s shadow"
        );
    }
    assert_eq!(wait_for_requests(&shadow, 2).len(), 2, "both were mirrored");
}

#[test]
fn a_failing_shadow_leaves_the_answer_unchanged() {
    let main = main_backend();
    let erroring = Backend::start(|_| json(500, r#"{"error": "boom"}"#));
    let hanging_up = Backend::start(|_| Reply::Hangup);
    for shadow in [erroring.url(), hanging_up.url(), closed_port_url()] {
        let gw = Gateway::start(&shadowed(&main, &shadow, ""));
        for _ in 0..3 {
            let r = gw.get("/s");
            assert_eq!(r.status, 200, "{shadow}");
            assert_eq!(r.json(), serde_json::json!({"a": 1}), "{shadow}");
            assert_eq!(r.header("X-KrakenD-Completed"), Some("true"), "{shadow}");
        }
    }
    assert_eq!(wait_for_requests(&erroring, 3).len(), 3);
    // A reused connection that was hung up on is retried once (a GET).
    assert!(wait_for_requests(&hanging_up, 3).len() >= 3);
}

#[test]
fn a_post_body_and_headers_reach_the_shadow_as_the_backend() {
    let main = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let shadow = Backend::start(|_| json(201, r#"{"c": 3}"#));
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/orders/{{id}}", "method": "POST", "input_headers": ["X-Trace", "Content-Type"],
             "input_query_strings": ["q"],
             "backend": [
              {{"host": ["{}"], "url_pattern": "/orders/{{id}}"}},
              {{"host": ["{}"], "url_pattern": "/mirror/{{id}}", "extra_config": {{"proxy": {{"shadow": true}}}}}}]}}]"#,
        main.url(),
        shadow.url()
    )));
    let body = r#"{"item": "book", "n": 2}"#;
    let r = gw.raw(
        format!(
            "POST /orders/7?q=1&r=2 HTTP/1.1\r\nHost: h\r\nX-Trace: t2\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"ok": true}));
    let mirrored = wait_for_requests(&shadow, 1);
    assert_eq!(mirrored.len(), 1);
    let (to_main, to_shadow) = (&main.requests()[0], &mirrored[0]);
    assert_eq!(to_shadow.method, "POST");
    assert_eq!(to_shadow.target, "/mirror/7?q=1");
    assert_eq!(to_shadow.body, body.as_bytes(), "the body is mirrored");
    assert_eq!(to_shadow.body, to_main.body);
    for name in ["x-trace", "content-type", "user-agent", "x-forwarded-for"] {
        assert_eq!(to_shadow.header(name), to_main.header(name), "{name}");
    }
    assert_eq!(to_shadow.header("x-trace"), Some("t2"));
}

#[test]
fn a_no_op_endpoint_mirrors_too() {
    let main = Backend::start(|_| json(202, r#"{"raw": true}"#));
    let shadow = Backend::start(|_| json(200, r#"{"c": 3}"#));
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/n", "output_encoding": "no-op", "backend": [
              {{"host": ["{}"], "url_pattern": "/n"}},
              {{"host": ["{}"], "url_pattern": "/n-shadow", "extra_config": {{"proxy": {{"shadow": true}}}}}}]}}]"#,
        main.url(),
        shadow.url()
    )));
    let r = gw.get("/n");
    assert_eq!(r.status, 202, "the backend's own status");
    assert_eq!(r.text(), r#"{"raw": true}"#);
    let seen = wait_for_requests(&shadow, 1);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/n-shadow");
}

#[test]
fn a_request_refused_before_the_backends_is_not_mirrored() {
    let main = main_backend();
    let shadow = Backend::start(|_| json(200, "{}"));
    // One request per second, burst 1: the second is refused (503, KrakenD's
    // status for the endpoint limit).
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/s", "extra_config": {{"qos/ratelimit/router": {{"max_rate": 1, "capacity": 1}}}},
             "backend": [
              {{"host": ["{}"], "url_pattern": "/x"}},
              {{"host": ["{}"], "url_pattern": "/shadowed", "extra_config": {{"proxy": {{"shadow": true}}}}}}]}}]"#,
        main.url(),
        shadow.url()
    )));
    assert_eq!(gw.get("/s").status, 200);
    assert_eq!(gw.get("/s").status, 503);
    assert_eq!(main.requests().len(), 1);
    // A mirror of the refused request would arrive within milliseconds;
    // proving that nothing happens, half a second is given for it to show up.
    common::within(Duration::from_millis(500), || shadow.requests().len() >= 2);
    assert_eq!(
        shadow.requests().len(),
        1,
        "only the admitted request is mirrored"
    );
}

#[test]
fn concurrent_calls_send_the_shadow_as_many_copies() {
    let main = main_backend();
    // Answers after 100 ms: every copy is sent before the first answer
    // cancels the others.
    let shadow =
        Backend::start(|_| Reply::Delayed(Duration::from_millis(100), Box::new(json(200, "{}"))));
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/s", "concurrent_calls": 3, "backend": [
              {{"host": ["{}"], "url_pattern": "/x", "allow": ["a"]}},
              {{"host": ["{}"], "url_pattern": "/shadowed", "extra_config": {{"proxy": {{"shadow": true}}}}}}]}}]"#,
        main.url(),
        shadow.url()
    )));
    let r = gw.get("/s");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"a": 1}));
    // lura copies `concurrent_calls` to every backend, shadows included.
    assert_eq!(wait_for_requests(&shadow, 3).len(), 3);
}

#[test]
fn a_value_the_shadow_path_cannot_take_skips_the_shadow_only() {
    let main = Backend::start(|_| json(200, r#"{"a": 1}"#));
    let shadow = Backend::start(|_| json(200, "{}"));
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/s/{{id}}", "backend": [
              {{"host": ["{}"], "url_pattern": "/x?id={{id}}"}},
              {{"host": ["{}"], "url_pattern": "/sh/{{id}}", "extra_config": {{"proxy": {{"shadow": true}}}}}}]}}]"#,
        main.url(),
        shadow.url()
    )));
    // `..` fits the backend's query but would climb out of the shadow's path.
    let mut client = gw.client();
    client.send(b"GET /s/%2e%2e HTTP/1.1\r\nHost: h\r\n\r\n");
    let r = client.response().expect("a response");
    assert_eq!(r.status, 200, "the client is served: {}", r.text());
    assert_eq!(r.json(), serde_json::json!({"a": 1}));
    client.send(b"GET /s/7 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(client.response().expect("a response").status, 200);
    let seen = wait_for_requests(&shadow, 1);
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(
        targets,
        ["/sh/7"],
        "only the request whose value fits was mirrored"
    );
    assert_eq!(main.requests().len(), 2);
}
