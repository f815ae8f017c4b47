//! Defects from the adversarial review (tracker issue 22), each checked
//! against the real gateway: token values quoted in the log, HTTP/2
//! cookies joined, userinfo in Host refused, an unfinished HTTP/2 header
//! block bounded by `read_header_timeout`.
#![allow(clippy::disallowed_types)]

mod common;
#[path = "common/jwt.rs"]
mod jwt;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Backend, Gateway, TempDir, json};
use cuttle::auth::Alg;
use jwt::{forged, generate, now, token};
use serde_json::json;

fn hello_backend() -> Backend {
    Backend::start(|_| json(200, r#"{"hello":"world"}"#))
}

/// Waits (at most 10 s) until the gateway's log holds `count` lines
/// containing `what`; returns the log.
fn log_with(gw: &Gateway, what: &str, count: usize) -> String {
    let mut log = String::new();
    gw.eventually(
        &format!("{count} lines with {what:?} logged"),
        Duration::from_secs(10),
        || {
            log = gw.log();
            log.lines().filter(|l| l.contains(what)).count() >= count
        },
    );
    log
}

/// One request and its response over an h2c (prior knowledge) connection.
fn h2_request(addr: SocketAddr, request: http::Request<()>) -> Result<(u16, Vec<u8>), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, connection) = h2::client::handshake(tcp)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let mut send = send.ready().await.map_err(|e| e.to_string())?;
        let (response, _) = send
            .send_request(request, true)
            .map_err(|e| e.to_string())?;
        let response = response.await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            let _ = body.flow_control().release_capacity(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        Ok((status, bytes))
    })
}

/// C. With `operation_debug`, a token's `alg` and `kid` (CR, LF, ESC in
/// them) reach the log quoted, never as a forged line or a raw escape;
/// the refusal is logged at ERROR, as krakend-jose's `logger.Error`.
#[test]
fn jwt_refusal_log_quotes_token_values() {
    let dir = TempDir::new();
    let key = generate(Alg::HS256, "sim");
    let path = dir.0.join("keys.json");
    std::fs::write(&path, json!({"keys": [key.public]}).to_string()).unwrap();
    let backend = hello_backend();
    let gw = Gateway::start(&common::config(&format!(
        r#"[{{"endpoint": "/private", "backend": [{{"host": ["{}"], "url_pattern": "/"}}],
             "extra_config": {{"auth/validator": {{"alg": "HS256", "jwk_local_path": "{}", "operation_debug": true}}}}}}]"#,
        backend.url(),
        path.display()
    )));
    let claims = json!({"sub": "u", "exp": now() + 600});
    let bad_alg = forged(
        &json!({"alg": "HS256\r\n[FORGED] alg line\u{1b}[31m", "typ": "JWT"}),
        &claims,
        b"sig",
    );
    let bad_kid = forged(
        &json!({"alg": "HS256", "kid": "x\n[FORGED] kid line\u{1b}[2J", "typ": "JWT"}),
        &claims,
        b"sig",
    );
    for t in [&bad_alg, &bad_kid] {
        let r = gw.raw(
            format!("GET /private HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {t}\r\n\r\n")
                .as_bytes(),
        );
        assert_eq!(r.status, 401);
    }
    let log = log_with(&gw, "JWT refused", 2);
    assert!(
        !log.lines().any(|l| l.starts_with("[FORGED]")),
        "a forged line:\n{log}"
    );
    assert!(!log.contains('\u{1b}'), "a raw ESC in the log:\n{log:?}");
    assert!(
        log.contains(r#"algorithm "HS256\x0d\x0a[FORGED] alg line\x1b[31m" is not accepted"#),
        "{log}"
    );
    assert!(
        log.contains(r#"with id "x\x0a[FORGED] kid line\x1b[2J""#),
        "{log}"
    );
    for line in log.lines().filter(|l| l.contains("JWT refused")) {
        assert!(line.contains(" ERROR "), "not at ERROR: {line}");
    }
    assert!(backend.requests().is_empty());
}

/// C. The `-d` debug endpoint logs the client's body quoted.
#[test]
fn debug_endpoint_log_quotes_the_body() {
    let gw = Gateway::start_env(
        r#"{"version": 3, "endpoints": []}"#,
        &["--cores", "1", "-d"],
        &[("CUTTLE_LOG", "debug")],
        false,
    );
    let body = b"hi\r\n[FORGED] body line\x1b[0m";
    let mut request = format!(
        "PUT /__debug/x HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    assert_eq!(gw.raw(&request).status, 200);
    let log = log_with(&gw, "debug endpoint", 1);
    assert!(
        !log.lines().any(|l| l.starts_with("[FORGED]")),
        "a forged line:\n{log}"
    );
    assert!(!log.contains('\u{1b}'), "a raw ESC in the log:\n{log:?}");
    assert!(
        log.contains(r#"body="hi\x0d\x0a[FORGED] body line\x1b[0m""#),
        "{log}"
    );
}

/// D. Two `cookie` fields on one HTTP/2 request are one Cookie header
/// (RFC 9113 §8.2.3): the JWT in the second is found with `cookie_key`,
/// and the backend sees every cookie on one line.
#[test]
fn http2_cookie_fields_are_joined() {
    let dir = TempDir::new();
    let key = generate(Alg::HS256, "sim");
    let path = dir.0.join("keys.json");
    std::fs::write(&path, json!({"keys": [key.public]}).to_string()).unwrap();
    let backend = hello_backend();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true,
            "endpoints": [{{"endpoint": "/private", "input_headers": ["Cookie"],
              "backend": [{{"host": ["{}"], "url_pattern": "/"}}],
              "extra_config": {{"auth/validator": {{"alg": "HS256", "jwk_local_path": "{}", "cookie_key": "session"}}}}}}]}}"#,
        backend.url(),
        path.display()
    ));
    let jwt = token(&key, &json!({"sub": "u", "exp": now() + 600}));
    let request = http::Request::get(format!("http://127.0.0.1:{}/private", gw.addr.port()))
        .header("cookie", "theme=dark")
        .header("cookie", format!("session={jwt}"))
        .body(())
        .unwrap();
    let (status, body) = h2_request(gw.addr, request).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let seen = backend.requests();
    assert_eq!(seen.len(), 1);
    let cookies: Vec<_> = seen[0]
        .headers
        .iter()
        .filter(|(n, _)| n == "cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, [format!("theme=dark; session={jwt}")]);
}

/// E. Userinfo in `Host` (HTTP/1.1) or `:authority` (HTTP/2) is a 400
/// (RFC 9110 §4.2.4), never forwarded as X-Forwarded-Host.
#[test]
fn userinfo_in_host_or_authority_is_refused() {
    let backend = hello_backend();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true,
            "endpoints": [{{"endpoint": "/hello", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]}}"#,
        backend.url()
    ));
    let r = gw.raw(b"GET /hello HTTP/1.1\r\nHost: user@evil:1\r\n\r\n");
    assert_eq!(r.status, 400);
    let r = gw.raw(b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 200, "a plain Host still works");

    let request = http::Request::get(format!("http://user@evil:{}/hello", gw.addr.port()))
        .body(())
        .unwrap();
    assert_eq!(
        request.uri().authority().unwrap().as_str(),
        format!("user@evil:{}", gw.addr.port())
    );
    let (status, _) = h2_request(gw.addr, request).unwrap();
    assert_eq!(status, 400);
    let request = http::Request::get(format!("http://h:{}/hello", gw.addr.port()))
        .body(())
        .unwrap();
    assert_eq!(h2_request(gw.addr, request).unwrap().0, 200);

    let seen = backend.requests();
    assert_eq!(seen.len(), 2, "only the plain requests reached the backend");
    assert!(
        seen.iter()
            .all(|s| !s.header("x-forwarded-host").unwrap_or("").contains('@')),
        "{seen:?}"
    );
}

/// HTTP/2 frames in `bytes`: (type, flags, stream, payload).
fn frames(mut bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 9 {
        let len =
            (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
        if bytes.len() < 9 + len {
            break;
        }
        let stream = u32::from_be_bytes([bytes[5] & 0x7f, bytes[6], bytes[7], bytes[8]]);
        out.push((bytes[3], bytes[4], stream, bytes[9..9 + len].to_vec()));
        bytes = &bytes[9 + len..];
    }
    out
}

/// F. A HEADERS frame without END_HEADERS (and no CONTINUATION) holds an
/// HTTP/2 connection no longer than `read_header_timeout`: it gets a
/// GOAWAY and is closed, long before `idle_timeout`. A connection whose
/// header blocks complete is not affected, however long it stays open.
#[test]
fn unfinished_http2_header_block_is_bounded_by_read_header_timeout() {
    let backend = hello_backend();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true, "read_header_timeout": "1s", "idle_timeout": "30s",
            "endpoints": [{{"endpoint": "/hello", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]}}"#,
        backend.url()
    ));
    let mut tcp = TcpStream::connect(gw.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(12))).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS, empty
    // :method GET, :scheme http, :path / and no more: END_STREAM (0x1)
    // without END_HEADERS (0x4), and no CONTINUATION after it.
    let block = [0x82, 0x86, 0x84];
    out.extend_from_slice(&[0, 0, block.len() as u8, 1, 0x1, 0, 0, 0, 1]);
    out.extend_from_slice(&block);
    let sent = Instant::now();
    tcp.write_all(&out).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let closed = loop {
        match tcp.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(_) => break false,
        }
    };
    let waited = sent.elapsed();
    assert!(closed, "not closed within 12 s; got {:?}", frames(&got));
    assert!(
        waited < Duration::from_secs(6),
        "closed after {waited:?}, not about read_header_timeout (1 s)"
    );
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    let seen = frames(&got);
    let goaway = seen.iter().find(|f| f.0 == 7).expect("a GOAWAY");
    assert_eq!(
        &goaway.3[..4],
        &[0, 0, 0, 0],
        "no stream was served: {seen:?}"
    );
    assert!(backend.requests().is_empty());

    // Complete requests on one connection, further apart than
    // read_header_timeout: all served.
    let addr = gw.addr;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let statuses = runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let mut statuses = Vec::new();
        for round in 0..2 {
            if round > 0 {
                // Time passing, not synchronisation: the connection must
                // outlive a read_header_timeout with no header block open.
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            let request = http::Request::get(format!("http://h:{}/hello", addr.port()))
                .body(())
                .unwrap();
            let (response, _) = send.send_request(request, true).unwrap();
            statuses.push(response.await.unwrap().status().as_u16());
            send = send.ready().await.unwrap();
        }
        statuses
    });
    assert_eq!(statuses, [200, 200]);
}

/// A. Streams reset after they were accepted (50 HEADERS, 200 ms, then
/// RST_STREAM(CANCEL) on all 50, again and again) stop their backend
/// calls at once, and a connection that keeps doing it gets
/// GOAWAY(ENHANCE_YOUR_CALM): the backend never sees the 2,000 calls.
#[test]
fn delayed_resets_stop_their_backend_calls_and_earn_a_goaway() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const ROUNDS: usize = 40;
    const STREAMS: usize = 50;
    // Each call waits up to 3 s for the gateway to close the connection
    // (the call was dropped) before it would answer.
    let dropped = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let (d, a) = (dropped.clone(), answered.clone());
    let backend = common::RawBackend::start(move |mut stream| {
        while common::read_head(&mut stream).is_some() {
            stream
                .set_read_timeout(Some(Duration::from_secs(3)))
                .unwrap();
            let mut byte = [0u8; 1];
            match stream.read(&mut byte) {
                Ok(0) => {
                    d.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                _ => {
                    a.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                    );
                }
            }
        }
    });
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true, "timeout": "10s",
            "extra_config": {{"cuttle/server": {{"h2_max_concurrent_streams": {STREAMS}}}}},
            "endpoints": [{{"endpoint": "/slow", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]}}"#,
        backend.url()
    ));
    let addr = gw.addr;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (rounds_done, goaway) = runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, connection) = h2::client::handshake(tcp).await.unwrap();
        let closed = tokio::spawn(connection);
        for round in 0..ROUNDS {
            let mut streams = Vec::new();
            for _ in 0..STREAMS {
                let request = http::Request::get(format!("http://{addr}/slow"))
                    .body(())
                    .unwrap();
                let Ok(ready) = send.clone().ready().await else {
                    return (round, closed.await.ok().and_then(Result::err));
                };
                send = ready;
                match send.send_request(request, true) {
                    Ok((response, stream)) => streams.push((response, stream)),
                    Err(_) => return (round, closed.await.ok().and_then(Result::err)),
                }
            }
            // Time passing, not synchronisation: the attack resets its
            // streams after a delay, once their backend calls are under way.
            tokio::time::sleep(Duration::from_millis(200)).await;
            for (_, mut stream) in streams {
                stream.send_reset(h2::Reason::CANCEL);
            }
        }
        (ROUNDS, None)
    });
    let reason = goaway.as_ref().and_then(h2::Error::reason);
    assert_eq!(
        reason,
        Some(h2::Reason::ENHANCE_YOUR_CALM),
        "no GOAWAY after {rounds_done} rounds: {goaway:?}"
    );
    assert!(rounds_done < ROUNDS, "the client went on for every round");
    let started = backend.conns.load(Ordering::SeqCst);
    assert!(
        started <= 5 * STREAMS,
        "{started} backend calls for {rounds_done} rounds of {STREAMS} reset streams"
    );
    // Every call whose stream was reset is dropped by the gateway (the
    // backend sees its connection closed), none answered for nobody.
    common::eventually(
        "the reset streams' calls are closed",
        Duration::from_secs(10),
        || dropped.load(Ordering::SeqCst) + answered.load(Ordering::SeqCst) >= started,
    );
    assert_eq!(answered.load(Ordering::SeqCst), 0);
}

/// B. One connection cannot pin the gateway's memory: with a zero
/// flow-control window and 100 GETs of a 5 MB answer never read, or 100
/// streams each sending 9 MB of a body that never ends, the gateway holds
/// at most its per-connection budget (16 MiB, ARCHITECTURE.md "HTTP/2")
/// and the streams past it are refused or reset.
#[test]
fn zero_windows_and_unfinished_bodies_do_not_pin_memory() {
    const STREAMS: usize = 100;
    let big = vec![b'x'; 5 * 1024 * 1024];
    let backend = Backend::start(move |_| {
        common::Reply::Full(
            200,
            vec![("Content-Type".into(), "text/plain".into())],
            big.clone(),
        )
    });
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true, "timeout": "20s", "write_timeout": "30s",
            "extra_config": {{"cuttle/server": {{"h2_max_concurrent_streams": {STREAMS}, "max_body_bytes": 10485760}}}},
            "endpoints": [
              {{"endpoint": "/big", "output_encoding": "no-op", "backend": [{{"host": ["{b}"], "url_pattern": "/", "encoding": "no-op"}}]}},
              {{"endpoint": "/upload", "method": "POST", "output_encoding": "no-op", "backend": [{{"host": ["{b}"], "url_pattern": "/", "encoding": "no-op"}}]}}]}}"#,
        b = backend.url()
    ));
    let pid = gw.pid();
    let before = common::rss_kib(pid);
    let addr = gw.addr;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let peak = runtime.block_on(async move {
        let mut peak = 0;
        // Zero window: nothing of the answers may be sent.
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, connection) = h2::client::Builder::new()
            .initial_window_size(0)
            .handshake::<_, bytes::Bytes>(tcp)
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut pending = Vec::new();
        for _ in 0..STREAMS {
            send = send.ready().await.unwrap();
            let request = http::Request::get(format!("http://{addr}/big"))
                .body(())
                .unwrap();
            pending.push(send.send_request(request, true).unwrap());
        }
        // Unfinished bodies on a second connection: 9 MB each, no end.
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut upload, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut bodies = Vec::new();
        for _ in 0..STREAMS {
            upload = upload.ready().await.unwrap();
            let request = http::Request::post(format!("http://{addr}/upload"))
                .body(())
                .unwrap();
            let (response, stream) = upload.send_request(request, false).unwrap();
            bodies.push((response, stream));
        }
        let piece = bytes::Bytes::from(vec![b'y'; 64 * 1024]);
        for _ in 0..(9 * 1024 * 1024 / piece.len()) {
            for (_, stream) in bodies.iter_mut() {
                stream.reserve_capacity(piece.len());
                // Whatever window the gateway gives; a refused stream errs.
                let _ = stream.send_data(piece.clone(), false);
            }
            tokio::task::yield_now().await;
            // Pacing the flood and sampling RSS as it goes, not waiting.
            tokio::time::sleep(Duration::from_millis(2)).await;
            peak = peak.max(common::rss_kib(pid));
        }
        // Long enough for every backend answer to have arrived (the
        // backend and the gateway are local): what is held stays held.
        for _ in 0..150 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            peak = peak.max(common::rss_kib(pid));
        }
        drop(pending);
        drop(bodies);
        peak
    });
    let grown = peak.saturating_sub(before);
    assert!(
        grown < 128 * 1024,
        "RSS grew by {} MiB (from {} MiB)",
        grown / 1024,
        before / 1024
    );
    // The gateway still serves.
    let (status, body) = h2_request(
        gw.addr,
        http::Request::get(format!("http://{}/big", gw.addr))
            .body(())
            .unwrap(),
    )
    .unwrap();
    assert_eq!((status, body.len()), (200, 5 * 1024 * 1024));
}

/// G. h2c by prior knowledge is recognised from its preface however it is
/// split: a client that sends the preface a byte at a time, with pauses
/// (all within `read_header_timeout`), is served HTTP/2. The gateway waits
/// for each byte by readiness (`rt::Stream::starts_with`); a wait that
/// missed an arrival would run to the limit and serve HTTP/1.1 instead.
#[test]
fn h2c_preface_sent_byte_by_byte_is_still_http2() {
    let backend = hello_backend();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true, "read_header_timeout": "5s",
            "endpoints": [{{"endpoint": "/hello", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]}}"#,
        backend.url()
    ));
    let mut tcp = TcpStream::connect(gw.addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    for &byte in b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" {
        tcp.write_all(&[byte]).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    let mut out = vec![0, 0, 0, 4, 0, 0, 0, 0, 0]; // SETTINGS, empty
    // GET /hello, :authority localhost: END_STREAM | END_HEADERS.
    let mut block = vec![0x82, 0x86, 0x44, 6];
    block.extend_from_slice(b"/hello");
    block.extend_from_slice(&[0x41, 9]);
    block.extend_from_slice(b"localhost");
    out.extend_from_slice(&[0, 0, block.len() as u8, 1, 0x5, 0, 0, 0, 1]);
    out.extend_from_slice(&block);
    tcp.write_all(&out).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let ended = |got: &[u8]| {
        frames(got)
            .iter()
            .any(|f| f.2 == 1 && matches!(f.0, 0 | 1) && f.1 & 0x1 != 0)
    };
    while !ended(&got) {
        match tcp.read(&mut chunk) {
            Ok(n) if n > 0 => got.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered only after {:?}",
        started.elapsed()
    );
    assert!(
        !got.starts_with(b"HTTP/1"),
        "answered as HTTP/1: {:?}",
        String::from_utf8_lossy(&got)
    );
    let seen = frames(&got);
    assert_eq!(
        seen.first().map(|f| f.0),
        Some(4),
        "SETTINGS first: {seen:?}"
    );
    let head = seen
        .iter()
        .find(|f| f.0 == 1 && f.2 == 1)
        .unwrap_or_else(|| panic!("no response HEADERS: {seen:?}"));
    assert_eq!(
        head.3.first(),
        Some(&0x88),
        ":status 200 (indexed): {seen:?}"
    );
    let body: Vec<u8> = seen
        .iter()
        .filter(|f| f.0 == 0 && f.2 == 1)
        .flat_map(|f| f.3.clone())
        .collect();
    assert_eq!(body, br#"{"hello":"world"}"#);
}

/// H. A client that sends part of the h2c preface and then nothing is
/// closed at `read_header_timeout`, without an answer (it sent neither
/// protocol's head in time), long before `idle_timeout`.
#[test]
fn stalled_partial_h2c_preface_is_closed_by_read_header_timeout() {
    let backend = hello_backend();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true, "read_header_timeout": "1s", "idle_timeout": "30s",
            "endpoints": [{{"endpoint": "/hello", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]}}"#,
        backend.url()
    ));
    let mut tcp = TcpStream::connect(gw.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(12))).unwrap();
    let sent = Instant::now();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r").unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let closed = loop {
        match tcp.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) => break e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    };
    let waited = sent.elapsed();
    assert!(
        closed,
        "not closed within 12 s; got {:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}, before read_header_timeout"
    );
    assert!(
        waited < Duration::from_secs(4),
        "closed after {waited:?}, not about read_header_timeout (1 s)"
    );
    assert!(
        got.is_empty(),
        "answered {:?}",
        String::from_utf8_lossy(&got)
    );
}
