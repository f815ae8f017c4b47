//! The engine end to end: the real gateway binary, real backends on
//! loopback, raw HTTP over real sockets.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{Backend, Gateway, Reply, config, json, query_map, text};

fn echo_backend() -> Backend {
    Backend::start(|seen| {
        let body = serde_json::json!({
            "method": seen.method,
            "path": seen.path(),
            "query": query_map(&seen.target),
            "body": String::from_utf8_lossy(&seen.body),
        });
        json(200, &body.to_string())
    })
}

#[test]
fn placeholders_headers_and_query_strings_are_filtered_as_configured() {
    let backend = echo_backend();
    let gw = Gateway::start(&config(&format!(
        r#"[
        {{"endpoint": "/some/{{foo}}/{{bar}}", "input_headers": ["Authorization", "X-Y-Z"],
          "backend": [{{"host": ["{0}"], "url_pattern": "/pf/{{bar}}?foo={{foo}}"}}]}},
        {{"endpoint": "/all/{{foo}}", "input_headers": ["*"], "input_query_strings": ["*"],
          "backend": [{{"host": ["{0}"], "url_pattern": "/pf/{{foo}}"}}]}},
        {{"endpoint": "/only/{{foo}}", "input_query_strings": ["a"],
          "backend": [{{"host": ["{0}"], "url_pattern": "/pf/{{foo}}"}}]}}
        ]"#,
        backend.url()
    )));

    let r = gw.raw(b"GET /some/F/B?a=1&b=2 HTTP/1.1\r\nHost: gw.example:8080\r\nauthorization: bearer 1\r\nX-Y-Z: true\r\nA-B-C: ignore\r\nContent-Type: text/x\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/pf/B");
    assert_eq!(r.json()["query"], serde_json::json!({"foo": ["F"]}));
    let seen = backend.requests().pop().unwrap();
    assert_eq!(seen.header("authorization"), Some("bearer 1"));
    assert_eq!(seen.header("x-y-z"), Some("true"));
    assert_eq!(seen.header("a-b-c"), None, "not in input_headers");
    assert_eq!(
        seen.header("content-type"),
        Some("text/x"),
        "Content-Type always passes"
    );
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(seen.header("x-forwarded-host"), Some("gw.example:8080"));

    let r = gw.raw(b"GET /all/F?a=1&b=2&b=3 HTTP/1.1\r\nHost: h\r\nA-B-C: yes\r\n\r\n");
    assert_eq!(
        r.json()["query"],
        serde_json::json!({"a": ["1"], "b": ["2", "3"]})
    );
    assert_eq!(
        backend.requests().pop().unwrap().header("a-b-c"),
        Some("yes")
    );

    let r = gw.raw(b"GET /only/F?a=1&b=2&b=3 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.json()["query"], serde_json::json!({"a": ["1"]}));
}

#[test]
fn json_responses_carry_krakend_headers_and_cache_control_only_when_complete() {
    let backend = Backend::start(|seen| match seen.path() {
        "/ok" => json(200, r#"{"b": 2, "a": "x<y"}"#),
        "/created" => json(201, r#"{"made": true}"#),
        "/missing" => text(404, "text/plain", "nope"),
        _ => json(500, "{}"),
    });
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "cache_ttl": "300s", "extra_config": {{"router": {{"return_error_msg": true}}}},
            "endpoints": [
              {{"endpoint": "/ok", "backend": [{{"host": ["{0}"], "url_pattern": "/ok"}}]}},
              {{"endpoint": "/created", "backend": [{{"host": ["{0}"], "url_pattern": "/created"}}]}},
              {{"endpoint": "/missing", "backend": [{{"host": ["{0}"], "url_pattern": "/missing"}}]}}
            ]}}"#,
        backend.url()
    ));
    let r = gw.get("/ok");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.header("x-krakend-completed"), Some("true"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(
        r.text(),
        r#"{"a":"x\u003cy","b":2}"#,
        "re-encoded like Go: sorted, HTML-escaped"
    );

    assert_eq!(gw.get("/created").status, 200);

    let r = gw.get("/missing");
    assert_eq!(r.status, 500);
    assert_eq!(r.header("x-krakend-completed"), Some("false"));
    assert_eq!(r.header("cache-control"), None);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(
        r.text().starts_with("invalid status code 404"),
        "{}",
        r.text()
    );
}

/// lura's texts for a failed backend (`router.return_error_msg`): a status
/// error names the backend's url_pattern as lura rewrites it and the URL
/// actually requested (`transport/http/client/status.go`); several failed
/// backends' texts come one per line (`proxy/merging.go`, `mergeError`).
/// A 500 without a body has no Content-Type (Go sniffs one only from a
/// body).
#[test]
fn failure_answers_name_the_url_requested() {
    let backend = Backend::start(|_| text(404, "text/plain", "nope"));
    let endpoints = format!(
        r#"[{{"endpoint": "/items/{{id}}", "backend": [{{"host": ["{0}"], "url_pattern": "/v1/items/{{id}}"}}]}},
            {{"endpoint": "/two/{{id}}", "backend": [{{"host": ["{0}"], "url_pattern": "/a/{{id}}"}}, {{"host": ["{0}"], "url_pattern": "/b"}}]}}]"#,
        backend.url()
    );
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "extra_config": {{"router": {{"return_error_msg": true}}}}, "endpoints": {endpoints}}}"#
    ));
    let r = gw.get("/items/42");
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        format!(
            "invalid status code 404 [GET /v1/items/{{{{.Id}}}}]: {}/v1/items/42",
            backend.url()
        )
    );
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = gw.get("/two/7");
    assert_eq!(r.status, 500);
    let mut lines: Vec<String> = r.text().lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            format!(
                "invalid status code 404 [GET /a/{{{{.Id}}}}]: {}/a/7",
                backend.url()
            ),
            format!("invalid status code 404 [GET /b]: {}/b", backend.url()),
        ]
    );

    // A body that is not JSON: Go's decoder's words (lura decodes with it).
    let bad = Backend::start(|seen| match seen.path() {
        "/html" => text(200, "text/html", "<html>down</html>"),
        "/cut" => json(200, r#"{"a": [1,"#),
        _ => Reply::Full(
            200,
            vec![("Content-Type".into(), "application/json".into())],
            b"{\"name\": \"caf\xe9\"}".to_vec(),
        ),
    });
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "extra_config": {{"router": {{"return_error_msg": true}}}}, "endpoints": [
            {{"endpoint": "/html", "backend": [{{"host": ["{0}"], "url_pattern": "/html"}}]}},
            {{"endpoint": "/cut", "backend": [{{"host": ["{0}"], "url_pattern": "/cut"}}]}},
            {{"endpoint": "/latin1", "backend": [{{"host": ["{0}"], "url_pattern": "/latin1"}}]}}]}}"#,
        bad.url()
    ));
    let r = gw.get("/html");
    assert_eq!(r.status, 500);
    assert_eq!(
        r.text(),
        "invalid character '<' looking for beginning of value"
    );
    assert_eq!(gw.get("/cut").text(), "unexpected EOF");
    // Bytes that are not UTF-8 in a string: Go's decoder makes them U+FFFD.
    let r = gw.get("/latin1");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "{\"name\":\"caf\u{fffd}\"}");

    let quiet = Gateway::start(&config(&endpoints));
    let r = quiet.get("/items/42");
    assert_eq!(r.status, 500);
    assert_eq!(r.text(), "");
    assert_eq!(r.header("content-type"), None, "{:?}", r.headers);
    assert_eq!(r.header("x-krakend-completed"), Some("false"));
}

#[test]
fn backend_failures_give_500_and_the_gateway_keeps_serving() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let slow =
        Backend::start(|_| Reply::Delayed(Duration::from_millis(800), Box::new(json(200, "{}"))));
    let good = echo_backend();
    let gw = Gateway::start(&config(&format!(
        r#"[
        {{"endpoint": "/refused", "backend": [{{"host": ["{closed_url}"], "url_pattern": "/"}}]}},
        {{"endpoint": "/slow", "timeout": "200ms", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}},
        {{"endpoint": "/good", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}
        ]"#,
        slow.url(),
        good.url()
    )));
    let r = gw.get("/refused");
    assert_eq!(r.status, 500);
    assert_eq!(r.header("x-krakend-completed"), Some("false"));
    let started = std::time::Instant::now();
    let r = gw.get("/slow");
    assert_eq!(r.status, 500);
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "answered at the endpoint timeout"
    );
    assert_eq!(gw.get("/good").status, 200);
}

#[test]
fn no_op_passes_status_headers_and_body_through() {
    let backend = Backend::start(|seen| {
        Reply::Full(
            if seen.path() == "/teapot" { 418 } else { 200 },
            vec![
                ("Content-Type".into(), "application/x-custom".into()),
                ("Set-Cookie".into(), "a=1".into()),
                ("Set-Cookie".into(), "b=2".into()),
                ("X-Backend".into(), "yes".into()),
            ],
            format!("raw body for {} {}", seen.method, seen.target).into_bytes(),
        )
    });
    let gw = Gateway::start(&config(&format!(
        r#"[
        {{"endpoint": "/raw/{{x}}", "method": "POST", "output_encoding": "no-op",
          "backend": [{{"host": ["{0}"], "url_pattern": "/{{x}}", "encoding": "no-op"}}]}}
        ]"#,
        backend.url()
    )));
    let r = gw.raw(b"POST /raw/teapot HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(r.status, 418);
    assert_eq!(r.header("content-type"), Some("application/x-custom"));
    assert_eq!(r.header_all("set-cookie"), ["a=1", "b=2"]);
    assert_eq!(r.header("x-backend"), Some("yes"));
    assert_eq!(r.header("cache-control"), None);
    assert_eq!(r.text(), "raw body for POST /teapot");
    assert_eq!(backend.requests().pop().unwrap().body, b"hello");
}

#[test]
fn router_answers_404_405_and_redirects_fixed_paths() {
    let backend = echo_backend();
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/static", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
        backend.url()
    )));
    let r = gw.get("/unknown");
    assert_eq!((r.status, r.text().as_str()), (404, "404 page not found"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = gw.raw(b"POST /static HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        (r.status, r.text().as_str()),
        (405, "405 method not allowed")
    );
    assert_eq!(r.header("x-krakend-completed"), Some("false"));
    let r = gw.get("/StAtic?x=1");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/static?x=1"));
}

#[test]
fn built_in_health_endpoint() {
    let gw = Gateway::start(&config("[]"));
    let r = gw.get("/__health");
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["status"], "ok");
    assert!(body["agents"].is_object());
    assert!(body["now"].is_string());
}

#[test]
fn debug_and_echo_endpoints_when_enabled() {
    let cfg = r#"{"version": 3, "echo_endpoint": true, "endpoints": []}"#;
    let gw = Gateway::start_with(cfg, &["--cores", "1", "-d"]);
    let r = gw.raw(b"PUT /__debug/anything HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"message": "pong"}));
    let r = gw.raw(b"GET /__echo/x?a=1 HTTP/1.1\r\nHost: h\r\nX-Hello: there\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["req_uri"], "/__echo/x?a=1");
    assert_eq!(
        r.json()["req_headers"]["X-Hello"],
        serde_json::json!(["there"])
    );

    let gw = Gateway::start(&config("[]"));
    assert_eq!(gw.get("/__debug/").status, 404, "off without -d");
}

#[test]
fn keep_alive_pipelining_and_head() {
    let backend = echo_backend();
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/p/{{n}}", "backend": [{{"host": ["{}"], "url_pattern": "/n/{{n}}"}}]}}]"#,
        backend.url()
    )));
    let mut c = gw.client();
    // Three requests in one write: answered in order on one connection.
    c.send(b"GET /p/1 HTTP/1.1\r\nHost: h\r\n\r\nGET /p/2 HTTP/1.1\r\nHost: h\r\n\r\nGET /p/3 HTTP/1.1\r\nHost: h\r\n\r\n");
    for n in 1..=3 {
        let r = c.response().unwrap();
        assert_eq!(r.json()["path"], format!("/n/{n}"));
    }
    c.send(b"HEAD /p/4 HTTP/1.1\r\nHost: h\r\n\r\n");
    let r = c.response_to("HEAD").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert!(r.header("content-length").is_some_and(|l| l != "0"));
    c.send(b"GET /p/5 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().unwrap().json()["path"], "/n/5");
    assert!(c.is_closed());
}

#[test]
fn request_bodies_content_length_chunked_and_expect_continue() {
    let backend = echo_backend();
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/b", "method": "POST", "backend": [{{"host": ["{}"], "url_pattern": "/b"}}]}}]"#,
        backend.url()
    )));
    let r = gw.raw(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
    assert_eq!(r.json()["body"], "{\"a\":1}");
    let r = gw.raw(b"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
    assert_eq!(r.json()["body"], "abcdefg");

    let mut c = gw.client();
    c.send(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(
        c.read_line(),
        "HTTP/1.1 100 Continue\r\n",
        "asked for the body"
    );
    assert_eq!(c.read_line(), "\r\n");
    c.send(b"body");
    let r = c.response().unwrap();
    assert_eq!(r.json()["body"], "body");
}

#[test]
fn malformed_requests_get_their_4xx_and_the_gateway_keeps_serving() {
    let backend = echo_backend();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "extra_config": {{"cuttle/server": {{"max_body_bytes": 16, "max_uri_bytes": 64}}}},
            "max_header_bytes": 1024,
            "endpoints": [{{"endpoint": "/b", "method": "POST", "backend": [{{"host": ["{}"], "url_pattern": "/b"}}]}}]}}"#,
        backend.url()
    ));
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(100));
    let big_header = format!(
        "GET /b HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
        // Go (and so KrakenD) allows max_header_bytes + 4096 bytes.
        "a".repeat(1024 + 4096)
    );
    let rows: [(&[u8], u16); 6] = [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /b HTTP/1.1\r\n\r\n", 400),
        (long_uri.as_bytes(), 414),
        (big_header.as_bytes(), 431),
        (b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n01234567890123456", 413),
        (b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ];
    for (request, status) in rows {
        let mut c = gw.client();
        c.send(request);
        let r = c.response().expect("an answer");
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(request));
        assert!(c.is_closed(), "closed after {status}");
    }
    assert!(
        backend.requests().is_empty(),
        "no rejected byte reached the backend"
    );
    let r = gw.raw(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(r.status, 200);
}

#[test]
fn follows_backend_redirects() {
    let backend = Backend::start(|seen| match seen.path() {
        "/old" => Reply::Full(
            301,
            vec![("Location".into(), "/new?x=1".into())],
            b"moved".to_vec(),
        ),
        "/see-other" => Reply::Full(303, vec![("Location".into(), "/new".into())], Vec::new()),
        _ => json(
            200,
            &format!(
                r#"{{"method": "{}", "target": "{}"}}"#,
                seen.method, seen.target
            ),
        ),
    });
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/r", "backend": [{{"host": ["{0}"], "url_pattern": "/old"}}]}},
            {{"endpoint": "/s", "method": "POST", "backend": [{{"host": ["{0}"], "url_pattern": "/see-other"}}]}}]"#,
        backend.url()
    )));
    let r = gw.get("/r");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["target"], "/new?x=1");
    let r = gw.raw(b"POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx");
    assert_eq!(r.json()["method"], "GET", "303 turns POST into GET");
}

#[test]
fn round_robin_over_hosts() {
    let a = Backend::start(|_| json(200, r#"{"from": "a"}"#));
    let b = Backend::start(|_| json(200, r#"{"from": "b"}"#));
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/rr", "backend": [{{"host": ["{}", "{}"], "url_pattern": "/"}}]}}]"#,
        a.url(),
        b.url()
    )));
    let froms: Vec<String> = (0..4)
        .map(|_| gw.get("/rr").json()["from"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(froms.iter().filter(|f| *f == "a").count(), 2, "{froms:?}");
    assert_eq!(froms.iter().filter(|f| *f == "b").count(), 2, "{froms:?}");
}

#[test]
fn no_op_bodies_are_streamed_not_buffered() {
    // 8 MiB through an endpoint whose buffered responses are capped at 1 MiB:
    // only a streamed body can get through.
    const SIZE: usize = 8 * 1024 * 1024;
    let backend = common::RawBackend::start(|mut stream| {
        use std::io::Write;
        while common::read_head(&mut stream).is_some() {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {SIZE}\r\n\r\n"
            );
            let body = vec![b'x'; SIZE];
            if stream.write_all(head.as_bytes()).is_err() || stream.write_all(&body).is_err() {
                return;
            }
        }
    });
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "extra_config": {{"cuttle/server": {{"max_response_bytes": 1048576}}}},
            "endpoints": [
              {{"endpoint": "/big", "output_encoding": "no-op", "backend": [{{"host": ["{0}"], "url_pattern": "/", "encoding": "no-op"}}]}},
              {{"endpoint": "/big-json", "backend": [{{"host": ["{0}"], "url_pattern": "/"}}]}}
            ]}}"#,
        backend.url()
    ));
    let r = gw.get("/big");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), SIZE);
    assert!(r.body.iter().all(|&b| b == b'x'));
    assert_ne!(
        gw.get("/big-json").status,
        200,
        "a decoded body over the cap is refused"
    );
}

#[test]
fn a_keep_alive_connection_the_backend_closed_is_replaced_transparently() {
    // The backend promises keep-alive but closes after every response: the
    // pooled connection is dead by the next request, which must still work.
    let backend = common::RawBackend::start(|mut stream| {
        use std::io::Write;
        if common::read_head(&mut stream).is_some() {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"n\": true}");
        }
    });
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/flaky-keepalive", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
        backend.url()
    )));
    for round in 0..5 {
        let r = gw.get("/flaky-keepalive");
        assert_eq!(r.status, 200, "round {round}: {}", r.text());
        assert_eq!(r.json()["n"], true);
        // Time passing, not synchronisation: lets the backend's close land
        // so that the next round meets a dead pooled connection.
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn backend_connections_are_reused_under_concurrency_with_default_pool_settings() {
    let backend = Backend::start(|_| {
        Reply::Delayed(
            Duration::from_millis(40),
            Box::new(json(200, r#"{"ok": true}"#)),
        )
    });
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/slow", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
        backend.url()
    )));
    let addr = gw.addr;
    const CONCURRENT: usize = 16;
    const ROUNDS: usize = 5;
    for _ in 0..ROUNDS {
        let calls: Vec<_> = (0..CONCURRENT)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut c = common::Client::connect(addr);
                    c.send(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
                    c.response().map(|r| r.status)
                })
            })
            .collect();
        for call in calls {
            assert_eq!(call.join().unwrap(), Some(200));
        }
    }
    // Each round needs up to 16 connections at once; kept idle between
    // rounds (KrakenD keeps 250 per host), they are opened once, not per
    // round. Only 4 kept would mean ~12 new connections every round.
    let opened = backend.connections();
    assert!(
        opened <= CONCURRENT + 4,
        "{opened} backend connections for {ROUNDS} rounds of {CONCURRENT}"
    );
    assert_eq!(backend.requests().len(), CONCURRENT * ROUNDS);
}

/// Sockets of this machine in CLOSE-WAIT whose remote end is `port`
/// (from /proc/net/tcp: the gateway's side of connections the peer closed).
fn close_wait_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let remote = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[2].ends_with(&remote) && fields[3] == "08"
        })
        .count()
}

#[test]
fn idle_backend_connections_the_backend_closed_are_swept() {
    // Answers one request with keep-alive, then closes the connection, as a
    // backend whose keep-alive timeout expired.
    let backend = common::RawBackend::start(|mut stream| {
        if common::read_head(&mut stream).is_some() {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
            );
            // The backend keeps the connection ~100 ms, then closes it.
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/x", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
        backend.url()
    )));
    let addr = gw.addr;
    let calls: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = common::Client::connect(addr);
                c.send(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
                c.response().map(|r| r.status)
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.join().unwrap(), Some(200));
    }
    let port = backend.addr.port();
    // Half-closed by the backend at ~100 ms; swept within a second after
    // (the limit leaves room for a loaded machine).
    gw.eventually(
        "idle connections the backend closed are no longer held",
        Duration::from_secs(4),
        || close_wait_to(port) == 0,
    );
    assert_eq!(gw.get("/x").status, 200, "and a fresh connection serves");
}

#[test]
fn gzip_backend_bodies_are_inflated_before_manipulation() {
    use std::io::Write;
    let backend = Backend::start(|seen| {
        assert_eq!(
            seen.header("accept-encoding"),
            Some("gzip"),
            "asked for gzip like Go's client"
        );
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(br#"{"a": 1, "secret": "s"}"#).unwrap();
        Reply::Full(
            200,
            vec![
                ("Content-Type".into(), "application/json".into()),
                ("Content-Encoding".into(), "gzip".into()),
            ],
            encoder.finish().unwrap(),
        )
    });
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/gz", "backend": [{{"host": ["{}"], "url_pattern": "/", "deny": ["secret"]}}]}}]"#,
        backend.url()
    )));
    let r = gw.raw(b"GET /gz HTTP/1.1\r\nHost: h\r\nAccept-Encoding: br\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.json(), serde_json::json!({"a": 1}));
}

#[test]
fn a_rejected_request_with_a_body_still_reads_its_error_response() {
    // The client has already sent its body when the gateway refuses it:
    // closing with that input unread would make the kernel answer with a
    // reset, which can destroy the 413 before the client reads it. The
    // gateway stops writing and drains instead, so the client sees the 413
    // and then an orderly end of stream.
    let backend = echo_backend();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "extra_config": {{"cuttle/server": {{"max_body_bytes": 16}}}},
            "endpoints": [{{"endpoint": "/b", "method": "POST", "backend": [{{"host": ["{}"], "url_pattern": "/b"}}]}}]}}"#,
        backend.url()
    ));
    for _ in 0..10 {
        let mut request = b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 30000\r\n\r\n".to_vec();
        request.extend(std::iter::repeat_n(b'x', 30_000));
        let mut c = gw.client();
        let _ = c.try_send(&request);
        // Time passing, not synchronisation: the gateway refuses and closes
        // before the client reads, the order this test is about.
        std::thread::sleep(Duration::from_millis(20));
        let r = c.response().expect("the 413 arrives instead of a reset");
        assert_eq!(r.status, 413);
        assert_eq!(
            c.read_raw().map_err(|e| e.kind()),
            Ok(0),
            "an orderly close, not a reset"
        );
    }
    assert!(backend.requests().is_empty());
}
