//! `websocket` endpoints against the real gateway: a WebSocket echo
//! backend and a WebSocket client written here over plain TCP (handshake
//! and frames by hand, RFC 6455), the handshake behind `auth/validator`.
//!
//! Test code is not the request path: the backend's record sits in a Mutex.
#![allow(clippy::disallowed_types)]

mod common;
#[path = "common/jwt.rs"]
mod jwt;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Backend, Gateway, json};
use cuttle::auth::Alg;
use jwt::{generate, jwks, now, token};
use serde_json::json;

/// RFC 6455 §1.3, computed here apart from the gateway's code.
fn accept_for(key: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    STANDARD.encode(ctx.finish().as_ref())
}

/// One frame: (fin, opcode, payload).
type Frame = (bool, u8, Vec<u8>);

fn write_frame(stream: &mut TcpStream, fin: bool, opcode: u8, payload: &[u8], mask: bool) {
    let mut f = vec![(u8::from(fin) << 7) | opcode];
    let m = if mask { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n if n < 65536 => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if mask {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    // A peer that closed already may make this fail; the reads tell.
    let _ = stream.write_all(&f);
}

/// Reads one frame (unmasking it); `None` at end of stream or error.
fn read_frame(stream: &mut TcpStream) -> Option<Frame> {
    read_masked_frame(stream).map(|(frame, _)| frame)
}

/// [`read_frame`], and whether the frame came masked.
fn read_masked_frame(stream: &mut TcpStream) -> Option<(Frame, bool)> {
    let mut h = [0u8; 2];
    stream.read_exact(&mut h).ok()?;
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            stream.read_exact(&mut b).ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            stream.read_exact(&mut b).ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut key = [0u8; 4];
    let masked = h[1] & 0x80 != 0;
    if masked {
        stream.read_exact(&mut key).ok()?;
    }
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).ok()?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some(((h[0] & 0x80 != 0, h[0] & 0x0f, payload), masked))
}

fn read_head(stream: &mut TcpStream) -> String {
    String::from_utf8(common::read_head(stream).expect("a head")).unwrap()
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// What the echo backend saw: each handshake's head, and each frame
/// (with whether it came masked).
#[derive(Default)]
struct Seen {
    heads: Vec<String>,
    frames: Vec<(u8, Vec<u8>, bool)>,
}

/// A WebSocket echo server: checks the handshake, answers 101, then sends
/// every data frame back unmasked, answers a ping with a pong and a close
/// with a close.
struct EchoBackend {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    /// Connections accepted.
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl EchoBackend {
    fn start() -> EchoBackend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let record = seen.clone();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let record = record.clone();
                std::thread::spawn(move || echo(stream, &record));
            }
        });
        EchoBackend {
            addr,
            seen,
            accepted,
        }
    }

    fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }
}

fn echo(mut stream: TcpStream, seen: &Mutex<Seen>) {
    let Some(head) = common::read_head(&mut stream) else {
        return;
    };
    let head = String::from_utf8(head).unwrap();
    seen.lock().unwrap().heads.push(head.clone());
    let Some(key) = header(&head, "sec-websocket-key") else {
        let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    // The first subprotocol offered, if any, is chosen.
    let protocol = header(&head, "sec-websocket-protocol")
        .and_then(|offer| offer.split(',').next())
        .map(|p| format!("Sec-WebSocket-Protocol: {}\r\n", p.trim()))
        .unwrap_or_default();
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{protocol}\r\n",
        accept_for(key)
    );
    stream.write_all(answer.as_bytes()).unwrap();
    while let Some(((fin, opcode, payload), masked)) = read_masked_frame(&mut stream) {
        seen.lock()
            .unwrap()
            .frames
            .push((opcode, payload.clone(), masked));
        match opcode {
            0x8 => {
                write_frame(&mut stream, true, 0x8, &payload, false);
                return;
            }
            0x9 => write_frame(&mut stream, true, 0xA, &payload, false),
            _ => write_frame(&mut stream, fin, opcode, &payload, false),
        }
    }
}

/// Opens a connection and sends a handshake for `path` with `extra` header
/// lines; returns the stream, the answer's head and the key sent.
fn handshake(gw: &Gateway, path: &str, extra: &str) -> (TcpStream, String, String) {
    let mut stream = TcpStream::connect(gw.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let key = STANDARD.encode(now().to_be_bytes().repeat(2));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let head = read_head(&mut stream);
    (stream, head, key)
}

fn status(head: &str) -> u16 {
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn close_status(frame: &Frame) -> u16 {
    assert_eq!(frame.1, 0x8, "a close frame: {frame:?}");
    u16::from_be_bytes([frame.2[0], frame.2[1]])
}

fn ws_endpoint(path: &str, backend: &EchoBackend, websocket: &str, extra: &str) -> String {
    format!(
        r#"{{"endpoint": "{path}", "backend": [{{"host": ["{}"], "url_pattern": "/echo", "disable_host_sanitize": true}}],
            "extra_config": {{"websocket": {{"enable_direct_communication": true {websocket}}} {extra}}}}}"#,
        backend.url()
    )
}

fn gateway(endpoints: &[String]) -> Gateway {
    Gateway::start(&common::config(&format!("[{}]", endpoints.join(","))))
}

#[test]
fn frames_echo_through_a_jwt_protected_handshake() {
    let key = generate(Alg::HS256, "k1");
    let jwk_server = Backend::start({
        let set = jwks(&[&key]);
        move |_| json(200, &set)
    });
    let backend = EchoBackend::start();
    let validator = format!(
        r#", "auth/validator": {{"alg": "HS256", "jwk_url": "{}/jwks", "disable_jwk_security": true,
            "propagate_claims": [["sub", "X-User"]]}}"#,
        jwk_server.url()
    );
    let gw = gateway(&[ws_endpoint(
        "/ws",
        &backend,
        r#", "input_headers": ["X-Trace", "X-User"], "max_message_size": 100000"#,
        &validator,
    )]);

    // No token: the validator's 401, and no backend connection.
    let (_, head, _) = handshake(&gw, "/ws", "");
    assert_eq!(status(&head), 401, "{head}");
    assert!(backend.seen.lock().unwrap().heads.is_empty());

    let good = token(&key, &json!({"sub": "user-1", "exp": now() + 600}));
    let auth = format!("Authorization: Bearer {good}\r\nX-Trace: t-1\r\nX-User: forged\r\n");
    // The JWK set is fetched in the background: until it is there the
    // token is refused too.
    let mut session = None;
    gw.eventually("the token accepted", Duration::from_secs(5), || {
        let (stream, head, sent_key) = handshake(&gw, "/ws", &auth);
        let upgraded = status(&head) == 101;
        session = Some((stream, head, sent_key));
        upgraded
    });
    let (mut stream, head, sent_key) = session.unwrap();
    assert_eq!(
        header(&head, "sec-websocket-accept"),
        Some(&*accept_for(&sent_key))
    );
    assert!(
        header(&head, "upgrade")
            .unwrap()
            .eq_ignore_ascii_case("websocket")
    );

    write_frame(&mut stream, true, 0x1, b"hello", true);
    assert_eq!(
        read_frame(&mut stream),
        Some((true, 0x1, b"hello".to_vec()))
    );
    // A fragmented binary message (a ping between its fragments) and a
    // 70 000-byte one pass whole, in order.
    write_frame(&mut stream, false, 0x2, b"ab", true);
    write_frame(&mut stream, true, 0x9, b"p", true);
    write_frame(&mut stream, true, 0x0, b"cd", true);
    assert_eq!(read_frame(&mut stream), Some((false, 0x2, b"ab".to_vec())));
    assert_eq!(read_frame(&mut stream), Some((true, 0xA, b"p".to_vec())));
    assert_eq!(read_frame(&mut stream), Some((true, 0x0, b"cd".to_vec())));
    let big = vec![b'x'; 70_000];
    write_frame(&mut stream, true, 0x2, &big, true);
    let echoed = read_frame(&mut stream).expect("the big message back");
    assert!(
        echoed == (true, 0x2, big),
        "opcode {}, {} bytes",
        echoed.1,
        echoed.2.len()
    );

    // The close handshake ends the session.
    write_frame(&mut stream, true, 0x8, &1000u16.to_be_bytes(), true);
    let close = read_frame(&mut stream).expect("the backend's close");
    assert_eq!(close_status(&close), 1000);
    assert_eq!(
        read_frame(&mut stream),
        None,
        "closed after the close handshake"
    );

    let seen = backend.seen.lock().unwrap();
    let backend_head = &seen.heads[0];
    assert!(
        backend_head.starts_with("GET /echo HTTP/1.1\r\n"),
        "{backend_head}"
    );
    // The claim, not the client's header of that name; listed headers only.
    assert_eq!(
        header(backend_head, "x-user"),
        Some("user-1"),
        "{backend_head}"
    );
    assert_eq!(header(backend_head, "x-trace"), Some("t-1"));
    assert_eq!(header(backend_head, "authorization"), None);
    assert_ne!(header(backend_head, "sec-websocket-key"), Some(&*sent_key));
    // The client's frames reached the backend masked, as a server expects.
    assert!(seen.frames.iter().all(|(_, _, masked)| *masked));
    // One connection per session: none pre-connected to the backend.
    assert_eq!(
        backend.accepted.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[test]
fn a_message_over_max_message_size_is_closed_with_1009() {
    let backend = EchoBackend::start();
    let gw = gateway(&[ws_endpoint(
        "/ws",
        &backend,
        r#", "max_message_size": 16"#,
        "",
    )]);
    let (mut stream, head, _) = handshake(&gw, "/ws", "");
    assert_eq!(status(&head), 101, "{head}");
    write_frame(&mut stream, true, 0x1, &[b'a'; 16], true);
    assert_eq!(read_frame(&mut stream), Some((true, 0x1, vec![b'a'; 16])));
    // 10 + 7 bytes in two fragments: over 16 as a message.
    write_frame(&mut stream, false, 0x1, &[b'b'; 10], true);
    write_frame(&mut stream, true, 0x0, &[b'c'; 7], true);
    let first = read_frame(&mut stream).expect("a frame");
    let close = if first.1 == 0x1 {
        // The first fragment was within the limit and went through.
        assert_eq!(first, (false, 0x1, vec![b'b'; 10]));
        read_frame(&mut stream).expect("a close frame")
    } else {
        first
    };
    assert_eq!(close_status(&close), 1009);
    assert_eq!(read_frame(&mut stream), None);
    // The backend got the close too, and never the fragment over the limit.
    common::eventually("the backend's close", Duration::from_secs(5), || {
        backend
            .seen
            .lock()
            .unwrap()
            .frames
            .iter()
            .any(|(op, p, _)| *op == 0x8 && p[..2] == 1009u16.to_be_bytes())
    });
    assert!(
        !backend
            .seen
            .lock()
            .unwrap()
            .frames
            .iter()
            .any(|(_, p, _)| p.contains(&b'c'))
    );
}

#[test]
fn unmasked_client_frames_are_closed_with_1002() {
    let backend = EchoBackend::start();
    let gw = gateway(&[ws_endpoint("/ws", &backend, "", "")]);
    let (mut stream, head, _) = handshake(&gw, "/ws", "");
    assert_eq!(status(&head), 101, "{head}");
    write_frame(&mut stream, true, 0x1, b"bare", false);
    assert_eq!(
        close_status(&read_frame(&mut stream).expect("a close")),
        1002
    );
    assert_eq!(read_frame(&mut stream), None);
}

#[test]
fn an_idle_session_is_closed_after_pong_wait() {
    let backend = EchoBackend::start();
    let gw = gateway(&[ws_endpoint(
        "/ws",
        &backend,
        r#", "pong_wait": "600ms""#,
        "",
    )]);
    let (mut stream, head, _) = handshake(&gw, "/ws", "");
    assert_eq!(status(&head), 101, "{head}");
    // Traffic keeps it open past pong_wait: 4 pauses of 300 ms, each
    // ended by a message.
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for _ in 0..4 {
        // Nothing arrives in 300 ms: the session is still open.
        assert!(read_frame(&mut stream).is_none());
        write_frame(&mut stream, true, 0x1, b"tick", true);
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(read_frame(&mut stream), Some((true, 0x1, b"tick".to_vec())));
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
    }
    assert!(started.elapsed() > Duration::from_millis(1200));
    // Then silence: closed with 1001 after about 600 ms.
    let quiet = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let close = read_frame(&mut stream).expect("a close frame");
    assert_eq!(close_status(&close), 1001);
    assert!(
        quiet.elapsed() >= Duration::from_millis(400),
        "{:?}",
        quiet.elapsed()
    );
    assert_eq!(read_frame(&mut stream), None);
}

#[test]
fn bad_handshakes_get_400_and_other_endpoints_ignore_upgrade() {
    let backend = EchoBackend::start();
    let plain = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let gw = gateway(&[
        ws_endpoint("/ws", &backend, "", ""),
        format!(
            r#"{{"endpoint": "/plain", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}"#,
            plain.url()
        ),
    ]);
    // No key, a wrong version, no Upgrade at all.
    for request in [
        "GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: gw\r\n\r\n",
    ] {
        let r = gw.raw(request.as_bytes());
        assert_eq!(r.status, 400, "{request}: {}", r.text());
        assert_eq!(r.header("sec-websocket-version"), Some("13"));
    }
    assert!(
        backend.seen.lock().unwrap().heads.is_empty(),
        "no backend handshake"
    );
    // An upgrade request to a plain endpoint is a plain request.
    let (_, head, _) = handshake(&gw, "/plain", "");
    assert_eq!(status(&head), 200, "{head}");
}

#[test]
fn a_backend_that_refuses_the_upgrade_gets_the_client_500() {
    let refusing = Backend::start(|_| json(200, "{}"));
    let url = refusing.url().replace("http://", "ws://");
    let gw = gateway(&[format!(
        r#"{{"endpoint": "/ws", "backend": [{{"host": ["{url}"], "url_pattern": "/"}}],
            "extra_config": {{"websocket": {{"enable_direct_communication": true}}}}}}"#
    )]);
    let (_, head, _) = handshake(&gw, "/ws", "");
    assert_eq!(status(&head), 500, "{head}");
}

/// The value of the one sample of `name` in a Prometheus text body.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(&format!("{name}{{")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut all = String::new();
    let _ = s.read_to_string(&mut all);
    all
}

#[test]
fn a_session_is_counted_and_logged_once_at_upgrade() {
    let backend = EchoBackend::start();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        r#"{{"version": 3, "timeout": "2s",
            "extra_config": {{"telemetry/opentelemetry": {{"exporters": {{"prometheus": [{{"name": "p", "port": {port}, "listen_ip": "127.0.0.1"}}]}}}}}},
            "endpoints": [{}]}}"#,
        ws_endpoint("/ws", &backend, "", "")
    );
    let gw = Gateway::start(&config);
    let (mut stream, head, _) = handshake(&gw, "/ws", "");
    assert_eq!(status(&head), 101, "{head}");
    write_frame(&mut stream, true, 0x1, b"one", true);
    assert_eq!(read_frame(&mut stream), Some((true, 0x1, b"one".to_vec())));
    write_frame(&mut stream, true, 0x8, &1000u16.to_be_bytes(), true);
    assert_eq!(close_status(&read_frame(&mut stream).unwrap()), 1000);
    assert_eq!(read_frame(&mut stream), None);

    let metrics = format!("127.0.0.1:{port}");
    let mut body = String::new();
    gw.eventually("the session's figures", Duration::from_secs(5), || {
        body = scrape(&metrics);
        sample(&body, "cuttle_worker_websocket_sessions_closed_total") == Some(1.0)
    });
    assert_eq!(
        sample(&body, "cuttle_worker_websocket_sessions_opened_total"),
        Some(1.0)
    );
    // "one" and the close, each with a 6-byte masked header; the echo and
    // the close back, each with a 2-byte header.
    assert_eq!(
        sample(&body, "cuttle_worker_websocket_client_frames_total"),
        Some(2.0)
    );
    assert_eq!(
        sample(&body, "cuttle_worker_websocket_client_bytes_total"),
        Some(17.0)
    );
    assert_eq!(
        sample(&body, "cuttle_worker_websocket_backend_frames_total"),
        Some(2.0)
    );
    assert_eq!(
        sample(&body, "cuttle_worker_websocket_backend_bytes_total"),
        Some(9.0)
    );

    let mut lines = Vec::new();
    common::within(Duration::from_secs(5), || {
        lines = gw
            .log()
            .lines()
            .filter(|l| l.starts_with("[GIN] ") && l.contains("\"/ws\""))
            .map(str::to_owned)
            .collect();
        !lines.is_empty()
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("| 101 |"), "{}", lines[0]);
}

/// HTTP/2 has no Upgrade (RFC 9113 §8.2.2) and cuttle offers no extended
/// CONNECT (RFC 8441): a request to a websocket endpoint over HTTP/2 gets
/// the 400 of a request that is not a handshake, saying why.
#[test]
fn an_http2_request_to_a_websocket_endpoint_gets_400() {
    let backend = EchoBackend::start();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "timeout": "2s", "extra_config": {{"router": {{"use_h2c": true}}}}, "endpoints": [{}]}}"#,
        ws_endpoint("/ws", &backend, "", "")
    ));
    let request = http::Request::get(format!("http://{}/ws", gw.addr))
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let (response, _) = send.send_request(request, true).unwrap();
        let response = response.await.unwrap();
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(chunk) = body.data().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        (status, String::from_utf8(bytes).unwrap())
    });
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("RFC 8441"), "{body}");
    assert!(backend.seen.lock().unwrap().heads.is_empty());
}

#[test]
fn a_draining_gateway_closes_sessions_with_1001() {
    let backend = EchoBackend::start();
    let mut gw = gateway(&[ws_endpoint("/ws", &backend, "", "")]);
    let (mut stream, head, _) = handshake(&gw, "/ws", "");
    assert_eq!(status(&head), 101, "{head}");
    write_frame(&mut stream, true, 0x1, b"hi", true);
    assert_eq!(read_frame(&mut stream), Some((true, 0x1, b"hi".to_vec())));
    gw.signal("TERM");
    assert_eq!(
        close_status(&read_frame(&mut stream).expect("a close")),
        1001
    );
    assert_eq!(read_frame(&mut stream), None);
    assert!(gw.wait().success());
}

#[test]
fn a_client_answering_pings_stays_open_and_one_that_stops_is_closed() {
    let backend = EchoBackend::start();
    let gw = gateway(&[ws_endpoint(
        "/ws",
        &backend,
        r#", "pong_wait": "700ms", "ping_period": "200ms""#,
        "",
    )]);
    let (mut stream, head, _) = handshake(&gw, "/ws", "");
    assert_eq!(status(&head), 101, "{head}");
    // Nobody sends data for 1.5 s, twice pong_wait; the client answers
    // each ping (the backend echoes those pongs back; skipped).
    let started = Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        let frame = read_frame(&mut stream).expect("a frame");
        match frame.1 {
            0x9 => {
                pings += 1;
                write_frame(&mut stream, true, 0xA, &frame.2, true);
            }
            0xA => {}
            _ => panic!("a ping or a pong, not {frame:?}"),
        }
    }
    assert!(pings >= 4, "{pings} pings");
    // Then it stops answering: closed within pong_wait.
    let quiet = Instant::now();
    let close = loop {
        let frame = read_frame(&mut stream).expect("a frame");
        if frame.1 != 0x9 && frame.1 != 0xA {
            break frame;
        }
    };
    assert_eq!(close_status(&close), 1001);
    assert!(
        quiet.elapsed() < Duration::from_secs(3),
        "{:?}",
        quiet.elapsed()
    );
}

/// The two directions do not wait for each other: a backend that echoes
/// frame by frame (it reads the next frame only once its echo is written)
/// while the client keeps sending would stall a relay that stops reading
/// the backend while its write to the backend waits.
#[test]
fn both_directions_flow_at_once() {
    const FRAMES: usize = 200;
    const SIZE: usize = 64 * 1024;
    let backend = EchoBackend::start();
    let gw = gateway(&[ws_endpoint(
        "/ws",
        &backend,
        r#", "max_message_size": 100000, "write_wait": "2s""#,
        "",
    )]);
    let (stream, head, _) = handshake(&gw, "/ws", "");
    assert_eq!(status(&head), 101, "{head}");
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let payload = vec![b'z'; SIZE];
        for _ in 0..FRAMES {
            write_frame(&mut writer, true, 0x2, &payload, true);
        }
    });
    let mut reader = stream;
    let mut echoed = 0;
    while echoed < FRAMES {
        match read_frame(&mut reader) {
            Some((true, 0x2, payload)) if payload.len() == SIZE => echoed += 1,
            other => panic!(
                "after {echoed} echoes: {:?}",
                other.map(|(fin, op, p)| (fin, op, p.len()))
            ),
        }
    }
    sending.join().unwrap();
}

#[test]
fn subprotocols_and_rate_limits_apply_to_the_handshake() {
    let backend = EchoBackend::start();
    let gw = gateway(&[ws_endpoint(
        "/ws",
        &backend,
        r#", "subprotocols": ["chat", "v2"]"#,
        r#", "qos/ratelimit/router": {"max_rate": 1, "every": "1h"}"#,
    )]);
    // Of "v1, v2, chat" the listed ones are offered; the backend's choice
    // comes back.
    let (mut stream, head, _) = handshake(&gw, "/ws", "Sec-WebSocket-Protocol: v1, v2, chat\r\n");
    assert_eq!(status(&head), 101, "{head}");
    assert_eq!(
        header(&head, "sec-websocket-protocol"),
        Some("v2"),
        "{head}"
    );
    let offered = header(
        &backend.seen.lock().unwrap().heads[0],
        "sec-websocket-protocol",
    )
    .map(str::to_owned);
    assert_eq!(offered.as_deref(), Some("v2, chat"));
    write_frame(&mut stream, true, 0x1, b"x", true);
    assert_eq!(read_frame(&mut stream), Some((true, 0x1, b"x".to_vec())));
    // The endpoint's rate limit counts handshakes: the second is refused
    // before any backend connection (503: the endpoint-wide limit, as KrakenD).
    let (_, head, _) = handshake(&gw, "/ws", "");
    assert_eq!(status(&head), 503, "{head}");
    assert_eq!(backend.seen.lock().unwrap().heads.len(), 1);
}

/// The edge screen sees a handshake as any request: a refused host gets
/// its 500 before any backend connection, and the 101 carries the
/// service's security headers. Frames the client sent in the same write
/// as its handshake are relayed first.
#[test]
fn the_edge_screen_runs_on_handshakes_and_early_frames_pass() {
    let backend = EchoBackend::start();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "timeout": "2s",
            "extra_config": {{"security/http": {{"allowed_hosts": ["gw"], "frame_deny": true}}}},
            "endpoints": [{}]}}"#,
        ws_endpoint("/ws", &backend, "", "")
    ));
    let mut stream = TcpStream::connect(gw.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let refused = "GET /ws HTTP/1.1\r\nHost: other\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    stream.write_all(refused.as_bytes()).unwrap();
    let head = read_head(&mut stream);
    assert_eq!(status(&head), 500, "{head}");
    assert!(backend.seen.lock().unwrap().heads.is_empty());

    // The handshake and a first frame in one write.
    let mut stream = TcpStream::connect(gw.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut bytes = "GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".as_bytes().to_vec();
    // A masked text frame, "early" (RFC 6455 §5.3).
    let key = [1u8, 2, 3, 4];
    bytes.extend_from_slice(&[0x81, 0x85]);
    bytes.extend_from_slice(&key);
    bytes.extend(b"early".iter().zip(key.iter().cycle()).map(|(b, m)| b ^ m));
    stream.write_all(&bytes).unwrap();
    let head = read_head(&mut stream);
    assert_eq!(status(&head), 101, "{head}");
    assert_eq!(header(&head, "x-frame-options"), Some("DENY"), "{head}");
    assert_eq!(header(&head, "connection"), Some("Upgrade"), "{head}");
    assert_eq!(
        read_frame(&mut stream),
        Some((true, 0x1, b"early".to_vec()))
    );
}
