//! A gateway with no listener, for the fuzz targets (`fuzz/`) and tests:
//! one worker built from a KrakenD JSON text the way `run` builds it
//! (config, `prepare::Prepared`, `Worker::new`), serving one client
//! connection at a time whose input is a given byte string, through the
//! real HTTP/1.1 (`server::conn`) or HTTP/2 (`server::h2`) codec over an
//! in-memory stream. Also a recording backend (a plain std TCP server) and
//! the checks the fuzz targets make on what both saw.
//!
//! Not part of cuttle's interface (`#[doc(hidden)]`), and only built with
//! the `harness` feature (the fuzz crate turns it on) or for unit tests:
//! the release binary does not carry it.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use super::{Current, Worker, backend_authorities};
use crate::http::{ChunkLimits, ChunkedDecoder, Method, Parse, ResponseBody, parse_response};
use crate::prepare::Prepared;
use crate::rt::{self, Stream};
use crate::upstream::resolve_all;

/// The codec a connection is served by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    /// Prior knowledge: the input starts with the client preface.
    Http2,
}

/// What one connection got back.
pub struct Served {
    /// Every byte the gateway wrote, in order.
    pub output: Vec<u8>,
    /// The gateway closed the connection within the limit (else it was
    /// still serving, and `output` is what it had written by then).
    pub finished: bool,
}

/// One worker and its event loop, kept between connections (its backend
/// pools stay warm, as a real worker's do).
pub struct Gateway {
    local: rt::Local,
    current: Current,
}

/// The address the connections seem to come from.
const PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 40000);

impl Gateway {
    /// Builds a worker from a KrakenD JSON configuration; `Err` says why
    /// `run` would refuse it.
    pub fn from_json(json: &str) -> Result<Gateway, String> {
        let source = Path::new("harness.json");
        let config = crate::config::parse(json, source).map_err(|e| e.to_string())?;
        let prepared = Prepared::new(&config, source).map_err(|e| e.to_string())?;
        let resolved = resolve_all(&backend_authorities(&config), Duration::from_secs(3));
        let local = rt::Local::new().map_err(|e| e.to_string())?;
        let worker = local.block_on(async { Worker::new(0, 1, config, &prepared, &resolved) });
        let worker = worker.map_err(|e| e.to_string())?;
        Ok(Gateway {
            local,
            current: Rc::new(RefCell::new(Rc::new(worker))),
        })
    }

    /// Serves one client connection: `input` is written at once and the
    /// client's side is then closed for writing; the gateway's bytes are
    /// read until it closes the connection, or until `limit`.
    pub fn serve(&self, protocol: Protocol, input: &[u8], limit: Duration) -> Served {
        // The pipe holds all of the input, so writing it never waits for
        // the gateway to read (the output is read once it is written).
        let (mut client, server) = Stream::memory_pair(input.len().max(64 * 1024));
        let current = self.current.clone();
        let mut output = Vec::new();
        let finished = self.local.block_on(async {
            // On the heap, as a worker's connection tasks are: the codecs'
            // futures are large in debug builds.
            let gateway = Box::pin(async {
                let peer = SocketAddr::from(PEER);
                match protocol {
                    Protocol::Http1 => {
                        let endpoint = Cell::new(None);
                        super::conn::serve(current, server, peer, false, &endpoint).await
                    }
                    Protocol::Http2 => super::h2::serve(current, server, peer).await,
                }
            });
            let client = async {
                if client.write_all(input).await.is_err() {
                    return;
                }
                // HTTP/1.1 serves the requests read before the end of the
                // input; HTTP/2 drops the streams it has not accepted when
                // the input ends, so the end waits for their answers.
                let mut watch = (protocol == Protocol::Http2)
                    .then(|| H2Watch::new(input))
                    .filter(|w| !w.awaited.is_empty());
                if watch.is_none() {
                    let _ = client.shutdown().await;
                }
                let mut buf = vec![0; 16 * 1024];
                loop {
                    let read = match &watch {
                        Some(_) => rt::within(H2_QUIET, client.read(&mut buf)).await,
                        None => Some(client.read(&mut buf).await),
                    };
                    match read {
                        Some(Ok(n @ 1..)) => {
                            output.extend_from_slice(&buf[..n]);
                            if watch.as_mut().is_some_and(|w| w.answered(&output)) {
                                watch = None;
                                let _ = client.shutdown().await;
                            }
                        }
                        Some(_) => break,
                        None => {
                            watch = None;
                            let _ = client.shutdown().await;
                        }
                    }
                }
            };
            rt::within(limit, futures_lite::future::zip(gateway, client))
                .await
                .is_some()
        });
        self.current.borrow().observer.tick();
        Served { output, finished }
    }
}

impl Drop for Gateway {
    /// Idle backend connections hold their pool (`Pool::retire`): without
    /// this the pools outlive the worker, which LeakSanitizer reports
    /// when a fuzz run ends.
    fn drop(&mut self) {
        let worker = self.current.borrow().clone();
        self.local.block_on(async {
            for pool in worker.pools.iter() {
                pool.retire();
            }
        });
    }
}

/// How long an HTTP/2 client waits for more output before it ends its
/// input anyway, should [`H2Watch`] misjudge what is awaited.
const H2_QUIET: Duration = Duration::from_millis(250);

/// When an HTTP/2 client has its answers: every stream whose request it
/// sent whole (a finished header block, and END_STREAM) and did not reset
/// has ended in the output (END_STREAM or RST_STREAM), or the server sent
/// GOAWAY. Streams still sending their request are not waited for: ending
/// the input ends them, as a client that goes away does.
struct H2Watch {
    awaited: Vec<u32>,
    /// How far the output has been walked.
    seen: usize,
}

impl H2Watch {
    fn new(input: &[u8]) -> H2Watch {
        let mut awaited = Vec::new();
        // The stream of an unfinished header block, and whether that
        // HEADERS frame carried END_STREAM.
        let mut block: Option<(u32, bool)> = None;
        // Streams whose request headers are whole but body still open.
        let mut sending: Vec<u32> = Vec::new();
        if let Some(frames) = input.strip_prefix(super::h2::PREFACE) {
            walk_frames(frames, |kind, flags, stream| {
                let (end_stream, end_headers) = (flags & 0x1 != 0, flags & 0x4 != 0);
                let ended = match kind {
                    1 if end_headers => end_stream,
                    1 => {
                        block = Some((stream, end_stream));
                        false
                    }
                    9 => match block {
                        Some((open, end_stream)) if open == stream && end_headers => {
                            block = None;
                            end_stream
                        }
                        _ => false,
                    },
                    0 => end_stream && sending.contains(&stream),
                    3 => {
                        awaited.retain(|&s| s != stream);
                        sending.retain(|&s| s != stream);
                        false
                    }
                    _ => false,
                };
                let whole_head = matches!(kind, 1 | 9) && block.is_none();
                if ended {
                    sending.retain(|&s| s != stream);
                    if stream % 2 == 1 && !awaited.contains(&stream) {
                        awaited.push(stream);
                    }
                } else if whole_head && !sending.contains(&stream) {
                    sending.push(stream);
                }
            });
        }
        H2Watch { awaited, seen: 0 }
    }

    fn answered(&mut self, output: &[u8]) -> bool {
        let mut goaway = false;
        let awaited = &mut self.awaited;
        self.seen += walk_frames(&output[self.seen..], |kind, flags, stream| match kind {
            0 | 1 if flags & 1 == 1 => awaited.retain(|&s| s != stream),
            3 => awaited.retain(|&s| s != stream),
            7 => goaway = true,
            _ => {}
        });
        goaway || self.awaited.is_empty()
    }
}

/// Calls `each(type, flags, stream)` for every whole frame at the start of
/// `bytes`; returns the bytes they take.
fn walk_frames(bytes: &[u8], mut each: impl FnMut(u8, u8, u32)) -> usize {
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + 9) {
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        if bytes.len() < at + 9 + len {
            break;
        }
        let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        each(header[3], header[4], stream);
        at += 9 + len;
    }
    at
}

/// A configuration for the fuzz targets, every backend at `backend`: JSON
/// endpoints with parameters, forwarded query strings and headers, a
/// no-op endpoint forwarding everything, an aggregate, a POST with a
/// body, a CEL check and a rate limit.
pub fn fuzz_config(backend: SocketAddr) -> String {
    let host = format!("http://{backend}");
    serde_json::json!({
        "version": 3,
        "timeout": "2s",
        "read_header_timeout": "1s",
        "idle_timeout": "1s",
        "max_shutdown_wait_time": "1s",
        "host": [host],
        "extra_config": {"router": {"disable_access_log": true}},
        "endpoints": [
            {
                "endpoint": "/users/{id}",
                "input_query_strings": ["page", "q"],
                "input_headers": ["X-Trace", "Accept"],
                "backend": [{"url_pattern": "/users/{id}/profile", "allow": ["id", "name", "items"]}]
            },
            {
                "endpoint": "/items/{kind}/{id}",
                "method": "POST",
                "input_headers": ["Content-Type"],
                "backend": [{"url_pattern": "/store/{kind}?id={id}", "method": "PUT"}]
            },
            {
                "endpoint": "/raw/{path}",
                "output_encoding": "no-op",
                "input_query_strings": ["*"],
                "input_headers": ["*"],
                "backend": [{"url_pattern": "/chunked/{path}", "encoding": "no-op"}]
            },
            {
                "endpoint": "/agg/{id}",
                "backend": [
                    {"url_pattern": "/a/{id}", "group": "a"},
                    {"url_pattern": "/chunked/b", "group": "b", "mapping": {"name": "title"}}
                ]
            },
            {
                "endpoint": "/checked/{x}",
                "extra_config": {"validation/cel": [{"check_expr": "req_params.X != 'no'"}]},
                "backend": [{"url_pattern": "/cel/{x}"}]
            },
            {
                "endpoint": "/limited",
                "extra_config": {"qos/ratelimit/router": {"max_rate": 1000, "client_max_rate": 100}},
                "backend": [{"url_pattern": "/limited"}]
            }
        ]
    })
    .to_string()
}

/// A plain HTTP/1.1 backend on 127.0.0.1 (a std thread per connection)
/// that keeps the head of every request it gets and answers by path:
/// `/chunked/...` a chunked JSON object, `/empty...` 204, anything else a
/// JSON object with a Content-Length.
pub struct Backend {
    pub addr: SocketAddr,
    seen: Receiver<Vec<u8>>,
}

/// Heads longer than this end the backend's connection unanswered.
const BACKEND_MAX_HEAD: usize = 64 * 1024;

/// How many connections the backend serves at once: its threads are
/// started once and never end. Threads started per connection, ending
/// while a fuzz run checks for leaks, made LeakSanitizer report their
/// buffers (an exiting thread's stack is no longer scanned).
const BACKEND_THREADS: usize = 64;

/// A connection that sends nothing for this long is closed by the backend
/// (between requests, that is what frees a thread from an idle pooled
/// connection; the gateway then opens a new one, as with any backend).
const BACKEND_IDLE: Duration = Duration::from_secs(1);

impl Backend {
    pub fn start() -> io::Result<Backend> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (recorded, seen) = channel();
        // Each thread accepts on its own handle of the listener.
        for _ in 0..BACKEND_THREADS {
            let listener = listener.try_clone()?;
            let recorded = recorded.clone();
            std::thread::Builder::new()
                .name("harness-backend".into())
                .spawn(move || {
                    for stream in listener.incoming().flatten() {
                        let _ = answer(stream, &recorded);
                    }
                })?;
        }
        Ok(Backend { addr, seen })
    }

    /// The request heads received since the last call, in order.
    pub fn take(&self) -> Vec<Vec<u8>> {
        self.seen.try_iter().collect()
    }
}

/// Serves one backend connection until it closes or breaks the rules.
fn answer(mut stream: TcpStream, seen: &Sender<Vec<u8>>) -> io::Result<()> {
    stream.set_read_timeout(Some(BACKEND_IDLE))?;
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let head_len = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if buf.len() > BACKEND_MAX_HEAD {
                return Ok(());
            }
            match stream.read(&mut chunk)? {
                0 => return Ok(()),
                n => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = buf[..head_len].to_vec();
        let _ = seen.send(head.clone());
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(_)) = request.parse(&head) else {
            return Ok(());
        };
        let path = request.path.unwrap_or("/").to_string();
        let method = request.method.unwrap_or("GET").to_string();
        let mut chunked = false;
        let mut length = 0usize;
        for h in request.headers.iter() {
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = true;
            } else if h.name.eq_ignore_ascii_case("content-length") {
                let Some(n) = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                else {
                    return Ok(());
                };
                length = n;
            }
        }
        buf.drain(..head_len);
        // The body, read and dropped.
        if chunked {
            let mut decoder = ChunkedDecoder::new(ChunkLimits::default());
            loop {
                match decoder.decode(&buf, None) {
                    Err(_) => return Ok(()),
                    Ok(p) if p.done => {
                        buf.drain(..p.consumed);
                        break;
                    }
                    Ok(_) => {
                        buf.clear();
                        match stream.read(&mut chunk)? {
                            0 => return Ok(()),
                            n => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                }
            }
        } else {
            while buf.len() < length {
                match stream.read(&mut chunk)? {
                    0 => return Ok(()),
                    n => buf.extend_from_slice(&chunk[..n]),
                }
            }
            buf.drain(..length);
        }
        let body =
            br#"{"id":7,"name":"seven","title":"t","items":[1,2,{"a":null}],"nested":{"x":"y"}}"#;
        let mut out = Vec::new();
        if path.starts_with("/empty") {
            out.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
        } else if path.starts_with("/chunked") {
            out.extend_from_slice(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            let (a, b) = body.split_at(20);
            for piece in [a, b] {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.extend_from_slice(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            if method != "HEAD" {
                out.extend_from_slice(body);
            }
        }
        stream.write_all(&out)?;
    }
}

/// What the exchange fuzz targets drive: the recording backend and a
/// worker built from [`fuzz_config`] around it, kept between inputs.
pub struct Fixture {
    pub backend: Backend,
    pub gateway: Gateway,
}

/// Longer than any wait of [`fuzz_config`] (backend timeout 2 s,
/// read_header_timeout 1 s) once the input has ended.
pub const FUZZ_LIMIT: Duration = Duration::from_secs(5);

impl Fixture {
    pub fn start() -> Result<Fixture, String> {
        let backend = Backend::start().map_err(|e| e.to_string())?;
        let gateway = Gateway::from_json(&fuzz_config(backend.addr))?;
        Ok(Fixture { backend, gateway })
    }

    /// Serves one connection whose input is `input` and checks the
    /// invariants the fuzz targets hold the gateway to: the connection
    /// closed within [`FUZZ_LIMIT`], its output is whole messages of its
    /// protocol, and every request a backend got is well formed.
    pub fn exchange(&self, protocol: Protocol, input: &[u8]) -> Result<(), String> {
        let served = self.gateway.serve(protocol, input, FUZZ_LIMIT);
        if !served.finished {
            return Err(format!(
                "connection still open {FUZZ_LIMIT:?} after the input ended"
            ));
        }
        let output = match protocol {
            Protocol::Http1 => check_h1_output(&served.output, true)
                .map(drop)
                .map_err(|why| format!("{why}\n{}", String::from_utf8_lossy(&served.output))),
            Protocol::Http2 => check_h2_output(&served.output, true)
                .map(drop)
                .map_err(|why| format!("{why}\n{:?}", served.output)),
        };
        // The backend's record is emptied whatever the output was, so the
        // next input starts clean.
        let heads = self.backend.take();
        output?;
        heads
            .iter()
            .try_for_each(|head| check_backend_request(head))
            .map_err(|why| format!("backend request: {why}"))
    }
}

/// A request head the gateway sent a backend: lines end in CRLF and hold
/// no CR, LF or NUL of their own; the request line is `method SP target
/// SP HTTP/1.1`; header lines are `name: value` with a token name; the
/// target's path has no `.` or `..` segment (the `url_pattern`s have
/// none, so one would come from the client).
pub fn check_backend_request(head: &[u8]) -> Result<(), String> {
    let show = || String::from_utf8_lossy(head).into_owned();
    let Some(text) = head.strip_suffix(b"\r\n\r\n") else {
        return Err(format!("head does not end with CRLF CRLF: {:?}", show()));
    };
    // Split on CRLF exactly: any other CR, LF or NUL is inside a line.
    let mut rest = text;
    let mut parts = Vec::new();
    loop {
        match rest.windows(2).position(|w| w == b"\r\n") {
            Some(at) => {
                parts.push(&rest[..at]);
                rest = &rest[at + 2..];
            }
            None => {
                parts.push(rest);
                break;
            }
        }
    }
    for line in &parts {
        if line.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(format!("CR, LF or NUL inside a line: {:?}", show()));
        }
    }
    let request_line = parts[0];
    let fields: Vec<&[u8]> = request_line.split(|&b| b == b' ').collect();
    let [_, target, b"HTTP/1.1"] = fields[..] else {
        return Err(format!(
            "request line is not `method target HTTP/1.1`: {:?}",
            show()
        ));
    };
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    if !path.starts_with(b"/") {
        return Err(format!("target does not start with '/': {:?}", show()));
    }
    // Also once `%2e` and `%2f` are decoded: a backend (or a proxy before
    // it) that decodes them would see the dot segment (the gateway
    // refuses such a client path with 400).
    for path in [path.to_vec(), decode_dots_and_slashes(path)] {
        if path
            .split(|&b| b == b'/')
            .any(|segment| segment == b"." || segment == b"..")
        {
            return Err(format!("dot segment in the backend path: {:?}", show()));
        }
    }
    for line in &parts[1..] {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(format!("header line without ':': {:?}", show()));
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(format!("header name is not a token: {:?}", show()));
        }
    }
    Ok(())
}

/// `path` with `%2e` and `%2f` (either case) decoded.
fn decode_dots_and_slashes(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        match path.get(i..i + 3) {
            Some([b'%', b'2', e]) if e.eq_ignore_ascii_case(&b'e') => out.push(b'.'),
            Some([b'%', b'2', f]) if f.eq_ignore_ascii_case(&b'f') => out.push(b'/'),
            _ => {
                out.push(path[i]);
                i += 1;
                continue;
            }
        }
        i += 3;
    }
    out
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The gateway's HTTP/1.1 output is a run of whole responses (interim
/// 1xx ones included). A response to HEAD carries no body: a head whose
/// announced body would not be followed by another response, where the
/// head alone would, is read as one. `complete`: the connection was
/// closed, so no response may be cut short. Returns how many responses.
pub fn check_h1_output(out: &[u8], complete: bool) -> Result<usize, String> {
    let mut at = 0;
    let mut count = 0;
    while at < out.len() {
        let rest = &out[at..];
        let head = match parse_response(rest, Method::Get, 1 << 20) {
            Ok(Parse::Complete(head)) => head,
            Ok(Parse::Partial) if !complete => return Ok(count),
            Ok(Parse::Partial) => return Err(format!("output ends inside a head at {at}")),
            Err(e) => return Err(format!("bad response head at {at}: {e:?}")),
        };
        count += 1;
        let after_head = head.head_len;
        let starts_next = |from: usize| {
            rest.get(from..)
                .is_some_and(|r| r.is_empty() || r.starts_with(b"HTTP/1."))
        };
        let end = match head.body {
            ResponseBody::Empty => after_head,
            ResponseBody::Length(n) => {
                let end = usize::try_from(n)
                    .ok()
                    .and_then(|n| after_head.checked_add(n));
                match end {
                    Some(end) if starts_next(end) => end,
                    _ if starts_next(after_head) => after_head,
                    _ if !complete => return Ok(count),
                    _ => return Err(format!("body of the response at {at} cut short")),
                }
            }
            ResponseBody::Chunked => {
                let mut decoder = ChunkedDecoder::new(ChunkLimits::default());
                match decoder.decode(&rest[after_head..], None) {
                    Ok(p) if p.done && starts_next(after_head + p.consumed) => {
                        after_head + p.consumed
                    }
                    _ if starts_next(after_head) => after_head,
                    _ if !complete => return Ok(count),
                    Ok(_) => {
                        return Err(format!(
                            "chunked body at {at} cut short or followed by garbage"
                        ));
                    }
                    Err(e) => return Err(format!("bad chunked body at {at}: {e}")),
                }
            }
            ResponseBody::UntilClose => rest.len(),
        };
        at += end;
    }
    Ok(count)
}

/// The gateway's HTTP/2 output is a run of whole frames: the server's
/// SETTINGS first (or only a GOAWAY, for a client that did not send the
/// preface); frames on the stream each type belongs to, with the lengths
/// RFC 9113 §6 fixes; HEADERS and DATA only on client (odd) streams; no
/// PUSH_PROMISE; CONTINUATION only right after its unfinished HEADERS.
pub fn check_h2_output(out: &[u8], complete: bool) -> Result<usize, String> {
    let mut at = 0;
    let mut count = 0;
    // The stream of a header block still open (no END_HEADERS yet).
    let mut open_block: Option<u32> = None;
    while at < out.len() {
        let Some(header) = out.get(at..at + 9) else {
            return if complete {
                Err(format!("output ends inside a frame header at {at}"))
            } else {
                Ok(count)
            };
        };
        let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        let (kind, flags) = (header[3], header[4]);
        let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        if out.len() < at + 9 + len {
            return if complete {
                Err(format!(
                    "output ends inside the payload of the frame at {at}"
                ))
            } else {
                Ok(count)
            };
        }
        let bad = |why: &str| {
            Err(format!(
                "frame {count} (type {kind}, stream {stream}, length {len}) at {at}: {why}"
            ))
        };
        if count == 0 && kind != 4 && !(kind == 7 && at + 9 + len == out.len()) {
            return bad("the first frame is neither SETTINGS nor a lone GOAWAY");
        }
        if let Some(open) = open_block
            && (kind != 9 || stream != open)
        {
            return bad("a header block left open");
        }
        match kind {
            0 | 1 | 9 if stream == 0 || stream % 2 == 0 => {
                return bad("DATA, HEADERS or CONTINUATION not on a client stream");
            }
            1 => open_block = (flags & 0x4 == 0).then_some(stream),
            9 => open_block = (flags & 0x4 == 0).then_some(stream),
            3 if stream == 0 || len != 4 => return bad("RST_STREAM"),
            4 if stream != 0 || !len.is_multiple_of(6) || (flags & 1 == 1 && len != 0) => {
                return bad("SETTINGS");
            }
            5 => return bad("PUSH_PROMISE from a server without push"),
            6 if stream != 0 || len != 8 => return bad("PING"),
            7 if stream != 0 || len < 8 => return bad("GOAWAY"),
            8 if len != 4 => return bad("WINDOW_UPDATE"),
            _ => {}
        }
        at += 9 + len;
        count += 1;
    }
    if complete && open_block.is_some() {
        return Err("output ends inside a header block".into());
    }
    Ok(count)
}

/// What opens every `h2_exchange` input: the client preface, an empty
/// SETTINGS and the ACK of the server's.
pub const H2_START: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0\0\0\0\x04\x01\0\0\0\0";

/// One HEADERS frame (END_HEADERS, and END_STREAM if `end`) on `stream`
/// whose block is `fields` as HPACK literals without indexing (new names,
/// lengths below 127): what the seeds are made of.
pub fn h2_headers(stream: u32, fields: &[(&str, &str)], end: bool) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.push(0);
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(value.len() as u8);
        block.extend_from_slice(value.as_bytes());
    }
    h2_frame(1, if end { 0x5 } else { 0x4 }, stream, &block)
}

/// One frame of `kind` with `flags` on `stream`.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut frame = vec![len[1], len[2], len[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(5);

    fn gateway() -> (Backend, Gateway) {
        let Fixture { backend, gateway } = Fixture::start().unwrap();
        (backend, gateway)
    }

    #[test]
    fn http1_requests_reach_the_backend_and_come_back_whole() {
        let (backend, gateway) = gateway();
        let input = b"GET /users/1?page=2 HTTP/1.1\r\nHost: a\r\n\r\n\
            GET /raw/x HTTP/1.1\r\nHost: a\r\nX-Any: 1\r\n\r\n\
            POST /items/k/9 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}\
            HEAD /agg/3 HTTP/1.1\r\nHost: a\r\n\r\n\
            GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n";
        let served = gateway.serve(Protocol::Http1, input, LIMIT);
        assert!(served.finished);
        let text = String::from_utf8_lossy(&served.output).into_owned();
        assert_eq!(check_h1_output(&served.output, true), Ok(5), "{text}");
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains(r#""name":"seven""#), "{text}");
        assert!(text.contains("HTTP/1.1 404 Not Found\r\n"), "{text}");
        let seen = backend.take();
        let lines: Vec<String> = seen
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .lines()
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        for line in [
            "GET /users/1/profile?page=2 HTTP/1.1",
            "GET /chunked/x HTTP/1.1",
            "PUT /store/k?id=9 HTTP/1.1",
        ] {
            assert!(lines.iter().any(|l| l == line), "{line} not in {lines:?}");
        }
        for head in &seen {
            check_backend_request(head).unwrap();
        }
    }

    #[test]
    fn http2_streams_come_back_as_frames() {
        let (backend, gateway) = gateway();
        let mut input = H2_START.to_vec();
        let get = |path| {
            [
                (":method", "GET"),
                (":scheme", "http"),
                (":authority", "a"),
                (":path", path),
            ]
        };
        input.extend(h2_headers(1, &get("/users/5"), true));
        input.extend(h2_headers(3, &get("/raw/y"), true));
        let served = gateway.serve(Protocol::Http2, &input, LIMIT);
        assert!(served.finished);
        let frames = check_h2_output(&served.output, true).unwrap();
        assert!(frames >= 5, "{frames} frames: {:?}", served.output);
        let text = String::from_utf8_lossy(&served.output);
        assert!(text.contains(r#""name":"seven""#), "{text}");
        assert_eq!(backend.take().len(), 2);
    }

    /// The fuzz targets' seeds, as the targets run them.
    #[test]
    fn the_fuzz_seeds_pass_the_checks() {
        let (backend, gateway) = gateway();
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        for (dir, protocol) in [
            ("h1_exchange", Protocol::Http1),
            ("h2_exchange", Protocol::Http2),
        ] {
            let mut files: Vec<_> = std::fs::read_dir(seeds.join(dir))
                .unwrap()
                .flatten()
                .collect();
            files.sort_by_key(|f| f.file_name());
            assert!(files.len() >= 5, "{dir}");
            for file in files {
                let mut input = std::fs::read(file.path()).unwrap();
                if protocol == Protocol::Http2 {
                    input = [H2_START, &input].concat();
                }
                let served = gateway.serve(protocol, &input, LIMIT);
                let name = file.file_name();
                assert!(served.finished, "{name:?}");
                let checked = match protocol {
                    Protocol::Http1 => check_h1_output(&served.output, true),
                    Protocol::Http2 => check_h2_output(&served.output, true),
                };
                let text = String::from_utf8_lossy(&served.output);
                assert!(
                    checked.as_ref().is_ok_and(|&n| n >= 1),
                    "{name:?}: {checked:?} {text}"
                );
                let seen = backend.take();
                // Routed nowhere, or reset by the client at once.
                let quiet = ["not_found", "ping_window_rst"];
                assert!(
                    !seen.is_empty() || quiet.iter().any(|q| name == *q),
                    "{name:?}: {text}"
                );
                for head in &seen {
                    check_backend_request(head).unwrap();
                }
            }
        }
    }

    #[test]
    fn the_checks_refuse_what_they_name() {
        for ok in [
            &b"GET /a/b?c=../d HTTP/1.1\r\nHost: x\r\nX-A: b c\r\n\r\n"[..],
            b"GET /a/.b/%2e%2ec/... HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(check_backend_request(ok), Ok(()));
        }
        for bad in [
            &b"GET /a/../b HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"GET /a/. HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a/%2E%2e/b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a%2f..?x HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a HTTP/1.1\r\nX-A: b\rc\r\n\r\n",
            b"GET /a HTTP/1.1\r\nX-A: b\nc\r\n\r\n",
            b"GET /a HTTP/1.1\r\nX-A: b\0\r\n\r\n",
            b"GET /a b HTTP/1.1\r\n\r\n",
            b"GET /a HTTP/1.1\r\nX A: b\r\n\r\n",
        ] {
            assert!(check_backend_request(bad).is_err(), "{bad:?}");
        }
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(check_h1_output(two, true), Ok(2), "the second is a HEAD");
        assert!(check_h1_output(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}", true).is_err());
        assert!(check_h1_output(b"HTTP/1.1 200 OK\r\n", true).is_err());
        assert_eq!(check_h1_output(b"HTTP/1.1 200 OK\r\n", false), Ok(0));
        let settings = h2_frame(4, 0, 0, &[]);
        assert_eq!(check_h2_output(&settings, true), Ok(1));
        for bad in [
            [settings.clone(), h2_frame(1, 4, 2, b"x")].concat(),
            [settings.clone(), h2_frame(3, 0, 1, b"xx")].concat(),
            [
                settings.clone(),
                h2_frame(1, 0, 1, b"x"),
                h2_frame(0, 0, 1, b""),
            ]
            .concat(),
            [settings.clone(), h2_frame(5, 4, 1, b"xxxx")].concat(),
            settings[..5].to_vec(),
            h2_frame(0, 0, 1, b""),
        ] {
            assert!(check_h2_output(&bad, true).is_err(), "{bad:?}");
        }
    }
}
