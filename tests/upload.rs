//! No-op endpoints stream request bodies to their backend as the client
//! sends them, over HTTP/1.1 (Content-Length and chunked) and HTTP/2: the
//! gateway holds a piece at a time, a slow backend pauses the client, a
//! client that stops mid-body gets the backend request aborted, and a
//! backend that answers before reading the body has its answer relayed.
#![allow(clippy::disallowed_types)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Gateway, RawBackend};

const MIB: u64 = 1024 * 1024;
/// What the gateway may hold while it relays a large body.
const RSS_LIMIT_KIB: u64 = 64 * 1024;
/// The generator's block: the body repeats it, each copy numbered.
const BLOCK: usize = 64 * 1024;

/// An order-sensitive digest of a byte stream, fed in pieces of any size.
#[derive(Default)]
struct Digest {
    hash: u64,
    bytes: u64,
    partial: [u8; 8],
    partial_len: usize,
}

impl Digest {
    fn update(&mut self, mut data: &[u8]) {
        self.bytes += data.len() as u64;
        while self.partial_len > 0 && !data.is_empty() {
            self.partial[self.partial_len] = data[0];
            self.partial_len += 1;
            data = &data[1..];
            if self.partial_len == 8 {
                self.partial_len = 0;
                self.word(u64::from_le_bytes(self.partial));
            }
        }
        let mut words = data.chunks_exact(8);
        for w in &mut words {
            self.word(u64::from_le_bytes(w.try_into().unwrap()));
        }
        for &b in words.remainder() {
            self.partial[self.partial_len] = b;
            self.partial_len += 1;
        }
    }

    fn word(&mut self, w: u64) {
        self.hash = (self.hash ^ w)
            .wrapping_mul(0x0100_0000_01b3)
            .rotate_left(5);
    }

    fn finish(&self) -> (u64, u64) {
        let mut hash = self.hash;
        for &b in &self.partial[..self.partial_len] {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        (self.bytes, hash)
    }
}

/// Generates `len` bytes piece by piece (never the whole body at once),
/// each piece a numbered copy of one pseudo-random block.
struct Body {
    block: Vec<u8>,
    left: u64,
    piece: u64,
    digest: Digest,
}

impl Body {
    fn new(len: u64) -> Body {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let block = (0..BLOCK / 8)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect();
        Body {
            block,
            left: len,
            piece: 0,
            digest: Digest::default(),
        }
    }

    /// The next piece (empty at the end), counted in the digest.
    fn next(&mut self) -> Vec<u8> {
        let n = self.left.min(BLOCK as u64) as usize;
        let mut piece = self.block[..n].to_vec();
        let number = self.piece.to_le_bytes();
        let k = n.min(8);
        piece[..k].copy_from_slice(&number[..k]);
        self.piece += 1;
        self.left -= n as u64;
        self.digest.update(&piece);
        piece
    }
}

/// What the backend saw of one request.
#[derive(Debug, Clone, PartialEq)]
struct Received {
    head: String,
    bytes: u64,
    hash: u64,
    /// The body ended as framed (not cut by the gateway).
    whole: bool,
}

fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads a request body as framed (Content-Length or chunked), feeding
/// it to a digest, pausing `pause` after the first 16 MiB (a slow
/// backend); returns the digest and whether the body ended as framed.
fn read_body(stream: &mut BufReader<TcpStream>, head: &str, pause: Duration) -> (Digest, bool) {
    let mut digest = Digest::default();
    let mut buf = vec![0u8; 256 * 1024];
    let mut paused = pause.is_zero();
    let mut take = |stream: &mut BufReader<TcpStream>, mut n: u64, digest: &mut Digest| -> bool {
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            match stream.read(&mut buf[..want]) {
                Ok(0) | Err(_) => return false,
                Ok(got) => {
                    digest.update(&buf[..got]);
                    n -= got as u64;
                    if !paused && digest.bytes >= 16 * MIB {
                        paused = true;
                        std::thread::sleep(pause);
                    }
                }
            }
        }
        true
    };
    if let Some(len) = header(head, "content-length") {
        let whole = take(stream, len.parse().unwrap(), &mut digest);
        return (digest, whole);
    }
    assert_eq!(header(head, "transfer-encoding"), Some("chunked"), "{head}");
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).unwrap_or(0) == 0 {
            return (digest, false);
        }
        let size = u64::from_str_radix(line.trim(), 16).expect("a chunk size");
        if size == 0 {
            let mut end = String::new();
            let _ = stream.read_line(&mut end);
            return (digest, end == "\r\n");
        }
        if !take(stream, size, &mut digest) {
            return (digest, false);
        }
        let mut crlf = [0u8; 2];
        if stream.read_exact(&mut crlf).is_err() {
            return (digest, false);
        }
    }
}

fn read_request_head(stream: &mut BufReader<TcpStream>) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            return Some(head);
        }
    }
}

/// A backend that reads each request's body (pausing as `read_body`
/// does), reports it on `seen` and answers with its length and digest.
fn counting_backend(pause: Duration, seen: Sender<Received>) -> RawBackend {
    let seen = Arc::new(Mutex::new(seen));
    RawBackend::start(move |stream| {
        let mut stream = BufReader::new(stream);
        while let Some(head) = read_request_head(&mut stream) {
            let (digest, whole) = read_body(&mut stream, &head, pause);
            let (bytes, hash) = digest.finish();
            let received = Received {
                head,
                bytes,
                hash,
                whole,
            };
            let _ = seen.lock().unwrap().send(received.clone());
            if !whole {
                return;
            }
            let text = format!("{bytes} {hash}");
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            );
            if stream.get_mut().write_all(answer.as_bytes()).is_err() {
                return;
            }
        }
    })
}

fn gateway_with(backend: &RawBackend, server: &str) -> Gateway {
    Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true, "timeout": "120s", "read_timeout": "120s",
            "extra_config": {{"cuttle/server": {{{server}}}}},
            "endpoints": [{{"endpoint": "/upload", "method": "POST", "output_encoding": "no-op",
              "backend": [{{"host": ["{b}"], "url_pattern": "/in", "encoding": "no-op"}}]}}]}}"#,
        b = backend.url()
    ))
}

/// Samples a process's RSS from another thread until dropped.
struct RssWatch {
    peak: Arc<Mutex<u64>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl RssWatch {
    fn start(pid: u32) -> RssWatch {
        let peak = Arc::new(Mutex::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::SeqCst) {
                let rss = common::rss_kib(pid);
                let mut peak = p.lock().unwrap();
                *peak = (*peak).max(rss);
                drop(peak);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        RssWatch { peak, stop }
    }

    fn check(&self) {
        let peak = *self.peak.lock().unwrap();
        assert!(
            peak < RSS_LIMIT_KIB,
            "the gateway's RSS reached {} MiB while relaying an upload",
            peak / 1024
        );
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Sends a POST of `len` generated bytes over HTTP/1.1, with
/// Content-Length or chunked, and returns the response and the digest of
/// what was sent.
fn upload_h1(addr: SocketAddr, len: u64, chunked: bool) -> (common::Response, (u64, u64)) {
    let mut conn = common::Client::connect(addr);
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {len}")
    };
    let head = format!("POST /upload HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n");
    conn.send(head.as_bytes());
    let mut body = Body::new(len);
    loop {
        let piece = body.next();
        if piece.is_empty() {
            break;
        }
        if chunked {
            conn.send(format!("{:x}\r\n", piece.len()).as_bytes());
            conn.send(&piece);
            conn.send(b"\r\n");
        } else {
            conn.send(&piece);
        }
    }
    if chunked {
        conn.send(b"0\r\n\r\n");
    }
    let response = conn.response().expect("a response");
    (response, body.digest.finish())
}

fn check_large_h1_upload(chunked: bool) {
    let (seen, received) = channel();
    let backend = counting_backend(Duration::ZERO, seen);
    let gw = gateway_with(&backend, "");
    let watch = RssWatch::start(gw.pid());
    let (response, (bytes, hash)) = upload_h1(gw.addr, 512 * MIB, chunked);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), format!("{bytes} {hash}"));
    let got = received.recv_timeout(Duration::from_secs(10)).unwrap();
    let framing = if chunked {
        header(&got.head, "transfer-encoding")
    } else {
        header(&got.head, "content-length")
    };
    let expected = if chunked {
        "chunked".to_string()
    } else {
        bytes.to_string()
    };
    assert_eq!(framing, Some(&*expected), "{}", got.head);
    watch.check();
}

#[test]
fn a_512_mib_upload_with_content_length_streams_to_the_backend() {
    check_large_h1_upload(false);
}

#[test]
fn a_512_mib_chunked_upload_streams_to_the_backend_chunked() {
    check_large_h1_upload(true);
}

#[test]
fn a_slow_backend_pauses_the_client_instead_of_growing_the_gateway() {
    let (seen, received) = channel();
    // The backend stops reading for 2 s after 16 MiB.
    let backend = counting_backend(Duration::from_secs(2), seen);
    let gw = gateway_with(&backend, "");
    let watch = RssWatch::start(gw.pid());
    let (response, (bytes, hash)) = upload_h1(gw.addr, 128 * MIB, false);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), format!("{bytes} {hash}"));
    let got = received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(got.whole);
    watch.check();
}

/// Sends the head of a `len`-byte upload and `sent` bytes of it.
fn begin_upload(addr: SocketAddr, len: u64, chunked: bool, sent: u64) -> common::Client {
    let mut conn = common::Client::connect(addr);
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {len}")
    };
    conn.send(format!("POST /upload HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n").as_bytes());
    let mut body = Body::new(sent);
    loop {
        let piece = body.next();
        if piece.is_empty() {
            return conn;
        }
        // The gateway may refuse it before all is sent.
        let sent = if chunked {
            conn.try_send(format!("{:x}\r\n", piece.len()).as_bytes())
                && conn.try_send(&piece)
                && conn.try_send(b"\r\n")
        } else {
            conn.try_send(&piece)
        };
        if !sent {
            return conn;
        }
    }
}

#[test]
fn a_client_that_stops_mid_body_gets_408_and_the_backend_request_is_aborted() {
    let (seen, received) = channel();
    let backend = counting_backend(Duration::ZERO, seen);
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "timeout": "60s", "read_timeout": "2s",
            "endpoints": [{{"endpoint": "/upload", "method": "POST", "output_encoding": "no-op",
              "backend": [{{"host": ["{b}"], "url_pattern": "/in", "encoding": "no-op"}}]}}]}}"#,
        b = backend.url()
    ));
    let mut conn = begin_upload(gw.addr, 64 * MIB, false, MIB);
    let response = conn.response().expect("an answer");
    assert_eq!(response.status, 408, "{}", response.text());
    assert!(conn.is_closed());
    let got = received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(!got.whole, "the backend's request was cut: {got:?}");
    assert!(got.bytes >= MIB / 2 && got.bytes < 64 * MIB, "{got:?}");
}

#[test]
fn a_client_that_goes_away_mid_body_aborts_the_backend_request() {
    let (seen, received) = channel();
    let backend = counting_backend(Duration::ZERO, seen);
    let gw = gateway_with(&backend, "");
    for chunked in [false, true] {
        let conn = begin_upload(gw.addr, 64 * MIB, chunked, 2 * MIB);
        // The gateway passed the first bytes on before the client leaves.
        std::thread::sleep(Duration::from_millis(300));
        drop(conn);
        let got = received.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(!got.whole, "the backend's request was cut: {got:?}");
        assert!(got.bytes < 64 * MIB, "{got:?}");
    }
}

#[test]
fn a_configured_body_limit_counts_streamed_bytes() {
    let (seen, received) = channel();
    let backend = counting_backend(Duration::ZERO, seen);
    let gw = gateway_with(&backend, r#""max_body_bytes": 8388608"#);
    // Chunked: counted as it streams, cut past the limit.
    let mut conn = begin_upload(gw.addr, 0, true, 16 * MIB);
    let response = conn.response().expect("an answer");
    assert_eq!(response.status, 413, "{}", response.text());
    let got = received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(!got.whole && got.bytes <= 8 * MIB, "{got:?}");
    // A Content-Length over it is refused before anything is sent.
    let mut conn = common::Client::connect(gw.addr);
    conn.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 8388609\r\n\r\n");
    assert_eq!(conn.response().expect("an answer").status, 413);
    // Under it, a streamed body goes through.
    let (response, (bytes, hash)) = upload_h1(gw.addr, 4 * MIB, false);
    assert_eq!(response.text(), format!("{bytes} {hash}"));
}

/// A backend that answers 413 as soon as it has the request head, reads
/// nothing more for a while, then closes.
fn early_413_backend() -> RawBackend {
    RawBackend::start(|stream| {
        let mut stream = BufReader::new(stream);
        if read_request_head(&mut stream).is_none() {
            return;
        }
        let text = "backend says: too large";
        let answer = format!(
            "HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        let _ = stream.get_mut().write_all(answer.as_bytes());
        std::thread::sleep(Duration::from_secs(3));
    })
}

#[test]
fn a_backend_that_answers_before_reading_the_body_has_its_answer_relayed() {
    let backend = early_413_backend();
    let gw = gateway_with(&backend, "");
    let conn = TcpStream::connect(gw.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The client keeps sending from another thread, as long as it may.
    let mut writer = conn.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 268435456\r\n\r\n";
        if writer.write_all(head).is_err() {
            return;
        }
        let mut body = Body::new(256 * MIB);
        loop {
            let piece = body.next();
            if piece.is_empty() || writer.write_all(&piece).is_err() {
                return;
            }
        }
    });
    let mut reader = BufReader::new(conn);
    let head = read_request_head(&mut reader).expect("the backend's answer");
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert_eq!(header(&head, "connection"), Some("close"), "{head}");
    let len: usize = header(&head, "content-length").unwrap().parse().unwrap();
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    assert_eq!(body, b"backend says: too large");
    // The rest of the upload is not read: the connection closes.
    let mut rest = [0u8; 1];
    assert!(matches!(reader.read(&mut rest), Ok(0) | Err(_)));
    let _ = sender.join();
}

fn h2_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Sends a POST of `len` generated bytes over h2c, within the stream's
/// flow-control window, with or without `content-length`; returns the
/// status, the response text and the digest of what was sent.
fn upload_h2(addr: SocketAddr, len: u64, announce: bool) -> (u16, String, (u64, u64)) {
    h2_runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let mut request = http::Request::post(format!("http://{addr}/upload"));
        if announce {
            request = request.header("content-length", len);
        }
        let (response, mut stream) = send.send_request(request.body(()).unwrap(), false).unwrap();
        let mut body = Body::new(len);
        loop {
            let mut piece = bytes::Bytes::from(body.next());
            if piece.is_empty() {
                stream.send_data(piece, true).unwrap();
                break;
            }
            while !piece.is_empty() {
                stream.reserve_capacity(piece.len());
                let granted = std::future::poll_fn(|cx| stream.poll_capacity(cx))
                    .await
                    .expect("the stream is open")
                    .unwrap();
                let part = piece.split_to(granted.min(piece.len()));
                stream.send_data(part, false).unwrap();
            }
        }
        let response = response.await.unwrap();
        let status = response.status().as_u16();
        let mut answer = response.into_body();
        let mut text = Vec::new();
        while let Some(chunk) = answer.data().await {
            let chunk = chunk.unwrap();
            let _ = answer.flow_control().release_capacity(chunk.len());
            text.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        (status, text, body.digest.finish())
    })
}

fn check_large_h2_upload(announce: bool) {
    let (seen, received) = channel();
    let backend = counting_backend(Duration::ZERO, seen);
    let gw = gateway_with(&backend, "");
    let watch = RssWatch::start(gw.pid());
    let (status, text, (bytes, hash)) = upload_h2(gw.addr, 256 * MIB, announce);
    assert_eq!(status, 200, "{text}");
    assert_eq!(text, format!("{bytes} {hash}"));
    let got = received.recv_timeout(Duration::from_secs(10)).unwrap();
    if announce {
        assert_eq!(
            header(&got.head, "content-length"),
            Some(&*bytes.to_string())
        );
    } else {
        assert_eq!(header(&got.head, "transfer-encoding"), Some("chunked"));
    }
    watch.check();
}

#[test]
fn a_256_mib_upload_over_http2_streams_to_the_backend_with_its_length() {
    check_large_h2_upload(true);
}

#[test]
fn a_256_mib_upload_over_http2_without_a_length_streams_chunked() {
    check_large_h2_upload(false);
}

#[test]
fn an_http2_client_that_resets_mid_body_aborts_the_backend_request() {
    let (seen, received) = channel();
    let backend = counting_backend(Duration::ZERO, seen);
    let gw = gateway_with(&backend, "");
    let addr = gw.addr;
    h2_runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let request = http::Request::post(format!("http://{addr}/upload"))
            .header("content-length", 64 * MIB)
            .body(())
            .unwrap();
        let (_response, mut stream) = send.send_request(request, false).unwrap();
        let mut body = Body::new(MIB);
        loop {
            let mut piece = bytes::Bytes::from(body.next());
            if piece.is_empty() {
                break;
            }
            while !piece.is_empty() {
                stream.reserve_capacity(piece.len());
                let granted = std::future::poll_fn(|cx| stream.poll_capacity(cx))
                    .await
                    .unwrap()
                    .unwrap();
                let part = piece.split_to(granted.min(piece.len()));
                stream.send_data(part, false).unwrap();
            }
        }
        stream.send_reset(h2::Reason::CANCEL);
        // The reset goes out before the client's runtime ends.
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    let got = received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(!got.whole, "the backend's request was cut: {got:?}");
    assert!(got.bytes < 64 * MIB, "{got:?}");
}

#[test]
fn an_early_backend_answer_reaches_an_http2_client_mid_upload() {
    let backend = early_413_backend();
    let gw = gateway_with(&backend, "");
    let addr = gw.addr;
    let (status, text) = h2_runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let request = http::Request::post(format!("http://{addr}/upload"))
            .header("content-length", 256 * MIB)
            .body(())
            .unwrap();
        let (response, mut stream) = send.send_request(request, false).unwrap();
        // Sends until the window stays shut or the stream ends.
        tokio::spawn(async move {
            let mut body = Body::new(256 * MIB);
            loop {
                let mut piece = bytes::Bytes::from(body.next());
                while !piece.is_empty() {
                    stream.reserve_capacity(piece.len());
                    let Some(Ok(granted)) =
                        std::future::poll_fn(|cx| stream.poll_capacity(cx)).await
                    else {
                        return;
                    };
                    let part = piece.split_to(granted.min(piece.len()));
                    if stream.send_data(part, false).is_err() {
                        return;
                    }
                }
            }
        });
        let response = tokio::time::timeout(Duration::from_secs(20), response)
            .await
            .expect("an answer before the body is sent")
            .unwrap();
        let status = response.status().as_u16();
        let mut answer = response.into_body();
        let mut text = Vec::new();
        while let Some(Ok(chunk)) = answer.data().await {
            text.extend_from_slice(&chunk);
        }
        (status, String::from_utf8_lossy(&text).into_owned())
    });
    assert_eq!(status, 413);
    assert_eq!(text, "backend says: too large");
}

#[test]
fn an_http2_client_that_stops_mid_body_gets_408_and_the_backend_request_is_aborted() {
    let (seen, received) = channel();
    let backend = counting_backend(Duration::ZERO, seen);
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true, "timeout": "60s", "read_timeout": "2s",
            "endpoints": [{{"endpoint": "/upload", "method": "POST", "output_encoding": "no-op",
              "backend": [{{"host": ["{b}"], "url_pattern": "/in", "encoding": "no-op"}}]}}]}}"#,
        b = backend.url()
    ));
    let addr = gw.addr;
    let status = h2_runtime().block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (send, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let request = http::Request::post(format!("http://{addr}/upload"))
            .body(())
            .unwrap();
        let (response, mut stream) = send.send_request(request, false).unwrap();
        let mut body = Body::new(MIB);
        loop {
            let mut piece = bytes::Bytes::from(body.next());
            if piece.is_empty() {
                break;
            }
            while !piece.is_empty() {
                stream.reserve_capacity(piece.len());
                let granted = std::future::poll_fn(|cx| stream.poll_capacity(cx))
                    .await
                    .unwrap()
                    .unwrap();
                let part = piece.split_to(granted.min(piece.len()));
                stream.send_data(part, false).unwrap();
            }
        }
        // The client sends no more and does not end the stream.
        let response = tokio::time::timeout(Duration::from_secs(10), response)
            .await
            .expect("an answer within read_timeout")
            .unwrap();
        response.status().as_u16()
    });
    assert_eq!(status, 408);
    let got = received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(!got.whole, "the backend's request was cut: {got:?}");
    assert!(got.bytes >= MIB / 2, "{got:?}");
}

#[test]
fn a_request_pipelined_behind_a_streamed_chunked_body_is_served() {
    let (seen, _received) = channel();
    let backend = counting_backend(Duration::ZERO, seen);
    let gw = gateway_with(&backend, "");
    // Past the default max_body_bytes, so streamed, not read whole.
    let mut conn = begin_upload(gw.addr, 0, true, 16 * MIB);
    let mut sent = Body::new(16 * MIB);
    while !sent.next().is_empty() {}
    // The last chunk and the next request leave in one write.
    conn.send(b"0\r\n\r\nPOST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    let first = conn.response().expect("the upload's answer");
    let (bytes, hash) = sent.digest.finish();
    assert_eq!(first.text(), format!("{bytes} {hash}"));
    let second = conn.response().expect("the pipelined request's answer");
    let mut hello = Digest::default();
    hello.update(b"hello");
    let (bytes, hash) = hello.finish();
    assert_eq!(second.text(), format!("{bytes} {hash}"));
}
