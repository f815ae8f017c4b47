//! The HTTP/2 codec answers as the HTTP/1.1 one does: the same request
//! path (`proxy::exchange::serve`) decides, each codec only frames. Each
//! row sends the same request over both protocols (h2c with prior
//! knowledge, HTTP/1.1 on the same port) and compares status, the header
//! fields named and the body.
#![allow(clippy::disallowed_types)]

mod common;

use std::net::SocketAddr;

use common::{Backend, Gateway, json};

/// Status, selected header fields (lower-cased names), body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

fn over_h2(addr: SocketAddr, method: &str, path: &str, names: &[&str]) -> Answer {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let request = http::Request::builder()
            .method(method)
            .uri(format!("http://localhost{path}"))
            .body(())
            .unwrap();
        let (response, _) = send.send_request(request, true).unwrap();
        let response = response.await.unwrap();
        let status = response.status().as_u16();
        let fields = names
            .iter()
            .filter_map(|n| {
                let value = response.headers().get(*n)?;
                Some((n.to_string(), value.to_str().unwrap().to_owned()))
            })
            .collect();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        (status, fields, bytes)
    })
}

fn over_h1(gw: &Gateway, method: &str, path: &str, names: &[&str]) -> Answer {
    let mut client = common::Client::connect(gw.addr);
    client.send(format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
    let response = client.response_to(method).expect("a response");
    let fields = names
        .iter()
        .filter_map(|n| Some((n.to_string(), response.header(n)?.to_owned())))
        .collect();
    (response.status, fields, response.body.clone())
}

#[test]
fn both_codecs_give_the_same_answers() {
    let backend = Backend::start(|_| json(200, r#"{"a":1}"#));
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true,
            "extra_config": {{"cuttle/server": {{"max_uri_bytes": 64}}}},
            "endpoints": [
              {{"endpoint": "/json", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}]}},
              {{"endpoint": "/raw", "output_encoding": "no-op",
                "backend": [{{"host": ["{b}"], "url_pattern": "/", "encoding": "no-op"}}]}},
              {{"endpoint": "/dead", "backend": [{{"host": ["http://127.0.0.1:1"], "url_pattern": "/"}}]}}]}}"#,
        b = backend.url()
    ));
    let names = [
        "content-type",
        "content-length",
        "x-krakend",
        "x-krakend-completed",
        "allow",
        "location",
    ];
    let long = format!("/{}", "a".repeat(80));
    let rows: &[(&str, &str, u16)] = &[
        ("GET", "/json", 200),
        ("HEAD", "/json", 200),
        ("GET", "/raw", 200),
        ("HEAD", "/raw", 200),
        ("GET", "/nope", 404),
        ("POST", "/json", 405),
        ("GET", "/json/", 301),
        ("GET", "/dead", 500),
        ("GET", &long, 414),
    ];
    for &(method, path, status) in rows {
        let h1 = over_h1(&gw, method, path, &names);
        let h2 = over_h2(gw.addr, method, path, &names);
        assert_eq!(h1.0, status, "{method} {path} over HTTP/1.1");
        if status == 414 {
            // A codec refusal: each protocol's own plain answer.
            assert_eq!(h2.0, status, "{method} {path} over HTTP/2");
            continue;
        }
        assert_eq!(h2, h1, "{method} {path}: HTTP/2 and HTTP/1.1 differ");
    }
}

/// Go's `WriteTimeout` over HTTP/2 (x/net/http2 `stream.onWriteTimeout`):
/// a stream whose response is not done within it from the end of its head
/// is reset with INTERNAL_ERROR, as HTTP/1.1 closes the connection; the
/// other streams of the connection, and later ones, are served.
#[test]
fn write_timeout_resets_a_late_stream() {
    let backend = Backend::start(|seen| {
        if seen.path() == "/slow" {
            // A backend slower than the 400 ms write_timeout.
            std::thread::sleep(std::time::Duration::from_millis(900));
        }
        json(200, r#"{"a":1}"#)
    });
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true, "timeout": "3s", "write_timeout": "400ms",
            "endpoints": [
              {{"endpoint": "/slow", "backend": [{{"host": ["{b}"], "url_pattern": "/slow"}}]}},
              {{"endpoint": "/fast", "backend": [{{"host": ["{b}"], "url_pattern": "/fast"}}]}}]}}"#,
        b = backend.url()
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = gw.addr;
    let (slow, fast) = runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let get = |path: &str| {
            http::Request::builder()
                .uri(format!("http://localhost{path}"))
                .body(())
                .unwrap()
        };
        let (slow, _) = send.send_request(get("/slow"), true).unwrap();
        let (fast, _) = send.send_request(get("/fast"), true).unwrap();
        let fast = fast.await.map(|r| r.status().as_u16());
        let slow = slow.await.map(|r| r.status().as_u16());
        (slow, fast)
    });
    assert_eq!(fast.ok(), Some(200), "the quick stream beside it is served");
    let reason = slow.expect_err("the late stream gets no response").reason();
    assert_eq!(reason, Some(h2::Reason::INTERNAL_ERROR));
}
