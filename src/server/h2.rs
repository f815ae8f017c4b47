//! HTTP/2 at the edge (ALPN `h2` over TLS, or prior knowledge in clear
//! text with `use_h2c`), with the h2 crate.
//!
//! There is one request pipeline, the HTTP/1.1 connection driver
//! (`server::conn`): each HTTP/2 stream is handed to it as one HTTP/1.1
//! request over an in-memory pipe (`rt::Stream::memory_pair`), and the
//! HTTP/1.1 response it writes is turned back into HTTP/2 frames. So
//! routing, limits, timeouts, status mapping and the proxy pipeline are
//! the same code for both protocols, at the price of one copy of each
//! request and response. The h2 crate enforces the protocol: the preface,
//! the header list size, the number of concurrent streams, flow control
//! and the RST/GOAWAY answers to a misbehaving client.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Current;
use super::conn;
use super::worker::Worker;
use crate::rt::{self, Stream};

/// The client connection preface that starts HTTP/2 with prior knowledge.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Response headers that belong to an HTTP/1.1 connection, not to an
/// HTTP/2 stream (RFC 9113 §8.2.2).
const CONNECTION_HEADERS: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
];

/// A GOAWAY frame: length 8, type 7, no flags, stream 0; last stream 0,
/// error code PROTOCOL_ERROR (1).
const GOAWAY_PROTOCOL_ERROR: [u8; 17] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// What ends one wait of the connection loop. Lives for one turn of
/// the loop; boxing the stream would allocate for every request.
#[allow(clippy::large_enum_variant)]
enum Next {
    Stream(
        http::Request<h2::RecvStream>,
        h2::server::SendResponse<Bytes>,
    ),
    Failed(h2::Error),
    /// Closed by the client, or the worker drains.
    End,
    /// A header block open longer than `read_header_timeout`.
    SlowHeaders,
}

/// Serves one HTTP/2 connection until the client or the worker ends it.
pub async fn serve(current: Current, mut stream: Stream, peer: SocketAddr) {
    let worker = current.borrow().clone();
    let secure = stream.is_tls();
    let limits = &worker.config.limits;
    let open = Rc::new(OpenBlock::default());
    let mut frames = FrameWatch::new(open.clone());
    let watched = rt::Tapped::new(&mut stream, move |bytes: &[u8]| frames.feed(bytes));
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(u32::try_from(limits.h2_max_concurrent_streams).unwrap_or(u32::MAX))
        // Go's HTTP/2 server pads the HTTP/1 limit for 10 fields of 32
        // bytes' overhead each (x/net/http2 `maxHeaderListSize`).
        .max_header_list_size(
            u32::try_from(limits.max_header_bytes.saturating_add(320)).unwrap_or(u32::MAX),
        )
        .max_send_buffer_size(64 * 1024)
        .handshake::<_, Bytes>(watched);
    // Boxed: the handshake's state (a whole codec) would otherwise stay a
    // part of this future, next to the connection's, while it idles.
    let shaken = rt::within(limits.read_header_timeout, Box::pin(handshake)).await;
    let resets = Rc::new(Resets::default());
    let mut connection = match shaken {
        Some(Ok(connection)) => connection,
        failed => {
            // A client that does not open with the connection preface gets
            // GOAWAY(PROTOCOL_ERROR) (RFC 9113 3.4). The h2 crate decides on
            // that GOAWAY (a local `GoAway` error) but cannot send it before
            // the preface, so it is written here.
            let mut refused_preface = false;
            if let Some(Err(e)) = &failed {
                tracing::debug!(
                    worker = worker.id,
                    "HTTP/2 handshake with {peer} failed: {e}"
                );
                refused_preface = e.reason() == Some(h2::Reason::PROTOCOL_ERROR) && !e.is_remote();
            }
            drop(failed);
            if refused_preface {
                let _ = stream.write_all(&GOAWAY_PROTOCOL_ERROR).await;
            }
            return;
        }
    };
    loop {
        let accepted = async {
            match connection.accept().await {
                Some(Ok((request, respond))) => Next::Stream(request, respond),
                Some(Err(e)) => Next::Failed(e),
                None => Next::End,
            }
        };
        let drained = async {
            worker.drain.wait().await;
            Next::End
        };
        let slow = async {
            open.overdue(limits.read_header_timeout).await;
            Next::SlowHeaders
        };
        let next = rt::within(
            limits.idle_timeout,
            futures_lite::future::or(accepted, futures_lite::future::or(drained, slow)),
        )
        .await;
        match next {
            Some(Next::Stream(request, respond)) => {
                if resets.exceeded(limits.h2_max_concurrent_streams) {
                    // Streams reset after they were accepted cost a backend
                    // call each (CVE-2023-44487's delayed variant): past the
                    // budget the client is told to go away.
                    tracing::warn!(
                        worker = worker.id,
                        "HTTP/2 connection from {peer}: {} streams reset while being served; GOAWAY(ENHANCE_YOUR_CALM)",
                        resets.reset.get()
                    );
                    connection.abrupt_shutdown(h2::Reason::ENHANCE_YOUR_CALM);
                    break;
                }
                resets.opened.set(resets.opened.get() + 1);
                // Each stream is served by the configuration in service
                // when it opened (a reload may have come since).
                let worker = current.borrow().clone();
                let resets = resets.clone();
                rt::spawn(async move {
                    let endpoint = Cell::new(None);
                    let served = rt::isolate(serve_stream(
                        worker.clone(),
                        request,
                        respond,
                        peer,
                        secure,
                        &endpoint,
                        &resets,
                    ))
                    .await;
                    if let Err(panic) = served {
                        tracing::error!(
                            worker = worker.id,
                            "HTTP/2 stream from {peer} panicked: {panic}; stream reset"
                        );
                    }
                });
            }
            Some(Next::Failed(e)) => {
                tracing::debug!(worker = worker.id, "HTTP/2 connection from {peer}: {e}");
                break;
            }
            // As HTTP/1.1 answers 408 to a head not read within
            // `read_header_timeout`: the connection is closed, with a
            // GOAWAY naming the last stream served (the unfinished one
            // cannot be reset alone: its header block was begun, so HPACK
            // state is mid-block).
            Some(Next::SlowHeaders) => {
                tracing::debug!(
                    worker = worker.id,
                    "HTTP/2 connection from {peer}: a header block not finished within read_header_timeout"
                );
                connection.abrupt_shutdown(h2::Reason::NO_ERROR);
                break;
            }
            // Closed by the client, idle too long, or the worker drains.
            Some(Next::End) | None => {
                connection.graceful_shutdown();
                break;
            }
        }
    }
    // Let the streams in flight finish and the GOAWAY go out.
    let _ = rt::within(
        limits.shutdown_wait,
        std::future::poll_fn(|cx| connection.poll_closed(cx)),
    )
    .await;
}

/// Whether a header block (HEADERS, then CONTINUATION until END_HEADERS)
/// is open, and since when: shared by the [`FrameWatch`] that sees the
/// bytes read and the connection loop that bounds it. The h2 crate
/// returns a stream only once its header block is complete and has no
/// timeout of its own for it, so without this a client could hold a
/// connection with a HEADERS frame lacking END_HEADERS until
/// `idle_timeout`.
#[derive(Default)]
struct OpenBlock {
    since: Cell<Option<Instant>>,
    /// The connection task, waiting for `since` to change.
    waker: Cell<Option<Waker>>,
}

impl OpenBlock {
    fn set(&self, since: Option<Instant>) {
        self.since.set(since);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// `since` once it differs from `than` (`Pending` until then).
    fn poll_changed(&self, than: Option<Instant>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        let now = self.since.get();
        if now != than {
            return Poll::Ready(now);
        }
        self.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    /// Returns once one header block has stayed open for `limit`. In the
    /// usual case a block arrives whole in one read and no timer is made.
    async fn overdue(&self, limit: Duration) {
        let mut since = None;
        loop {
            since = match since {
                None => std::future::poll_fn(|cx| self.poll_changed(None, cx)).await,
                // Until the deadline of the block open now, or until it
                // closes (or, closed and another opened, its own deadline).
                Some(at) => {
                    let changed = std::future::poll_fn(|cx| self.poll_changed(Some(at), cx));
                    match rt::until(at + limit, changed).await {
                        Some(now) => now,
                        None => return,
                    }
                }
            };
        }
    }
}

/// Follows the frame boundaries in what the client sends (after the
/// preface) to tell when a header block opens and closes. It reads only
/// the 9-byte frame headers; payloads are skipped by length.
struct FrameWatch {
    open: Rc<OpenBlock>,
    preface_left: usize,
    head: [u8; 9],
    head_len: usize,
    payload_left: usize,
    /// The current frame is part of a header block and carries END_HEADERS.
    ends_block: bool,
}

impl FrameWatch {
    fn new(open: Rc<OpenBlock>) -> FrameWatch {
        FrameWatch {
            open,
            preface_left: PREFACE.len(),
            head: [0; 9],
            head_len: 0,
            payload_left: 0,
            ends_block: false,
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.preface_left > 0 {
                let n = self.preface_left.min(bytes.len());
                self.preface_left -= n;
                bytes = &bytes[n..];
            } else if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                self.payload_left -= n;
                bytes = &bytes[n..];
                if self.payload_left == 0 {
                    self.frame_read();
                }
            } else {
                let n = (9 - self.head_len).min(bytes.len());
                self.head[self.head_len..self.head_len + n].copy_from_slice(&bytes[..n]);
                self.head_len += n;
                bytes = &bytes[n..];
                if self.head_len == 9 {
                    self.head_len = 0;
                    self.frame_begins();
                }
            }
        }
    }

    fn frame_begins(&mut self) {
        let [l0, l1, l2, kind, flags, ..] = self.head;
        let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
        // HEADERS (1) opens a block, CONTINUATION (9) goes on with it;
        // END_HEADERS (0x4) closes it once the frame is read.
        let in_block = kind == 1 || kind == 9;
        if in_block && self.open.since.get().is_none() {
            self.open.set(Some(Instant::now()));
        }
        self.ends_block = in_block && flags & 0x4 != 0;
        self.payload_left = len;
        if len == 0 {
            self.frame_read();
        }
    }

    fn frame_read(&mut self) {
        if std::mem::take(&mut self.ends_block) {
            self.open.set(None);
        }
    }
}

/// One stream: its request through the HTTP/1.1 driver, its response back.
/// The streams of one connection the client reset while cuttle was still
/// serving them. Each such stream's work is dropped at once (its backend
/// calls closed), and a connection that resets most of what it opens,
/// beyond a budget, is sent GOAWAY: that is the delayed form of the rapid
/// reset attack, which the h2 crate's own budget (streams reset before
/// they are accepted) does not see.
#[derive(Default)]
struct Resets {
    opened: Cell<u64>,
    reset: Cell<u64>,
    /// Bytes the connection's streams hold (see [`Held`]).
    held: Cell<usize>,
}

impl Resets {
    /// More than twice the stream limit reset, and more than half of the
    /// streams opened: a browser cancels some streams (a page left), an
    /// attack cancels nearly all of them.
    fn exceeded(&self, max_concurrent: usize) -> bool {
        let reset = self.reset.get();
        reset > 2 * max_concurrent.max(50) as u64 && reset * 2 > self.opened.get()
    }
}

/// Memory an HTTP/2 connection's streams may hold at once (request
/// bodies read, responses not yet sent): without it one connection could
/// pin gigabytes, by announcing a zero window and asking for large
/// answers, or by sending 100 unfinished bodies.
const CONNECTION_HELD_BYTES: usize = 16 * 1024 * 1024;
/// The same for all of a worker's HTTP/2 connections together.
const WORKER_HELD_BYTES: usize = 256 * 1024 * 1024;

thread_local! {
    /// Bytes this worker's HTTP/2 streams hold (one worker per thread).
    static WORKER_HELD: Cell<usize> = const { Cell::new(0) };
}

/// What one stream holds, counted against its connection's and its
/// worker's budget; released when dropped.
struct Held<'a> {
    connection: &'a Cell<usize>,
    bytes: usize,
}

impl<'a> Held<'a> {
    fn new(connection: &'a Cell<usize>) -> Held<'a> {
        Held {
            connection,
            bytes: 0,
        }
    }

    /// Counts `n` more bytes; false (nothing counted) past a budget.
    fn grow(&mut self, n: usize) -> bool {
        let fits = self.connection.get() + n <= CONNECTION_HELD_BYTES
            && WORKER_HELD.with(|w| w.get() + n <= WORKER_HELD_BYTES);
        if fits {
            self.connection.set(self.connection.get() + n);
            WORKER_HELD.with(|w| w.set(w.get() + n));
            self.bytes += n;
        }
        fits
    }

    fn shrink(&mut self, n: usize) {
        let n = n.min(self.bytes);
        self.connection.set(self.connection.get() - n);
        WORKER_HELD.with(|w| w.set(w.get() - n));
        self.bytes -= n;
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.shrink(self.bytes);
    }
}

/// What became of a stream's request before its answer is sent.
enum Outcome {
    /// A refusal written by cuttle itself (413, 408).
    Plain(u16, &'static str),
    /// The HTTP/1.1 driver's response bytes (`None`: it failed).
    Served(Option<Vec<u8>>),
    /// The request body ended in an error: nothing to answer.
    Gone,
}

async fn serve_stream(
    worker: Rc<Worker>,
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    peer: SocketAddr,
    secure: bool,
    endpoint: &Cell<Option<usize>>,
    resets: &Resets,
) {
    let (parts, mut body) = request.into_parts();
    let is_head = parts.method == http::Method::HEAD;
    let write_timeout = worker.config.limits.write_timeout;
    let mut held = Held::new(&resets.held);
    // The work is raced against the client's RST_STREAM: a reset stream's
    // request (and its backend calls) is dropped at once, never finished
    // for nobody.
    let work = exchange_stream(
        &worker, &parts, &mut body, peer, secure, endpoint, &mut held,
    );
    let reset = std::future::poll_fn(|cx| respond.poll_reset(cx));
    let outcome = futures_lite::future::or(async { Some(work.await) }, async {
        let _ = reset.await;
        None
    })
    .await;
    let Some(outcome) = outcome else {
        resets.reset.set(resets.reset.get() + 1);
        return;
    };
    let response = match outcome {
        // The body ended in an error: the client reset the stream while
        // sending it (or the connection failed).
        Outcome::Gone => {
            resets.reset.set(resets.reset.get() + 1);
            return;
        }
        Outcome::Plain(status, text) => {
            let _ = send_plain(&mut respond, status, text);
            return;
        }
        Outcome::Served(response) => response,
    };
    let Some((head, body)) = response.and_then(|r| to_h2(r, is_head)) else {
        let _ = send_plain(&mut respond, 500, "internal server error");
        return;
    };
    let end = body.is_empty();
    let Ok(send) = respond.send_response(head, end) else {
        return;
    };
    if !end {
        send_within_window(send, body, write_timeout, &mut held).await;
    }
}

/// Sends `body` as the client's flow-control window allows, a piece at a
/// time, releasing what went out from `held`. A client that opens no
/// window for `write_timeout` gets RST_STREAM(CANCEL): the response is not
/// kept for it (the h2 crate would otherwise queue all of it).
async fn send_within_window(
    mut send: h2::SendStream<Bytes>,
    mut body: Bytes,
    write_timeout: Duration,
    held: &mut Held<'_>,
) {
    const PIECE: usize = 64 * 1024;
    while !body.is_empty() {
        send.reserve_capacity(body.len().min(PIECE));
        let granted = rt::within(
            write_timeout,
            std::future::poll_fn(|cx| send.poll_capacity(cx)),
        )
        .await;
        match granted {
            Some(Some(Ok(0))) => continue,
            Some(Some(Ok(n))) => {
                let piece = body.split_to(n.min(body.len()));
                let sent = piece.len();
                if send.send_data(piece, body.is_empty()).is_err() {
                    return;
                }
                held.shrink(sent);
            }
            // The stream or connection is gone.
            Some(None) | Some(Some(Err(_))) => return,
            None => {
                send.send_reset(h2::Reason::CANCEL);
                return;
            }
        }
    }
}

/// Reads a stream's request and serves it through the HTTP/1.1 driver.
async fn exchange_stream(
    worker: &Rc<Worker>,
    parts: &http::request::Parts,
    body: &mut h2::RecvStream,
    peer: SocketAddr,
    secure: bool,
    endpoint: &Cell<Option<usize>>,
    held: &mut Held<'_>,
) -> Outcome {
    let limits = &worker.config.limits;
    // The request as HTTP/1.1 bytes.
    let mut raw = Vec::with_capacity(512);
    raw.extend_from_slice(parts.method.as_str().as_bytes());
    raw.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    raw.extend_from_slice(target.as_bytes());
    raw.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(authority) = parts.uri.authority() {
        raw.extend_from_slice(b"Host: ");
        raw.extend_from_slice(authority.as_str().as_bytes());
        raw.extend_from_slice(b"\r\n");
    }
    for (name, value) in &parts.headers {
        let name = name.as_str();
        if name == "host" && parts.uri.authority().is_some()
            || CONNECTION_HEADERS.contains(&name)
            || name == "content-length"
            || name == "cookie"
        {
            continue;
        }
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value.as_bytes());
        raw.extend_from_slice(b"\r\n");
    }
    // A client may split `cookie` into several fields for compression;
    // they are joined with "; " into one before HTTP/1.1 (RFC 9113
    // §8.2.3), so the JWT validator's `cookie_key` and the backends see
    // every cookie.
    let mut cookies = parts.headers.get_all(http::header::COOKIE).iter();
    if let Some(first) = cookies.next() {
        raw.extend_from_slice(b"cookie: ");
        raw.extend_from_slice(first.as_bytes());
        for more in cookies {
            raw.extend_from_slice(b"; ");
            raw.extend_from_slice(more.as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
    }
    // The body, within the same limit as an HTTP/1.1 body.
    let mut data = Vec::new();
    let deadline = std::time::Instant::now() + limits.read_timeout;
    while let Some(chunk) = rt::until(deadline, body.data()).await.unwrap_or(None) {
        let Ok(chunk) = chunk else {
            return Outcome::Gone;
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        if data.len() + chunk.len() > limits.max_body_bytes {
            return Outcome::Plain(413, "request entity too large");
        }
        if !held.grow(chunk.len()) {
            return Outcome::Plain(503, "too much buffered on this connection");
        }
        data.extend_from_slice(&chunk);
    }
    if !body.is_end_stream() {
        return Outcome::Plain(408, "request timeout");
    }
    let has_body = !data.is_empty()
        || !matches!(
            parts.method,
            http::Method::GET | http::Method::HEAD | http::Method::OPTIONS | http::Method::DELETE
        );
    if has_body {
        raw.extend_from_slice(b"Content-Length: ");
        raw.extend_from_slice(itoa::Buffer::new().format(data.len()).as_bytes());
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&data);
    drop(data);
    // The body now sits in `raw`, counted as held until the driver has it.

    // The HTTP/1.1 driver serves it on the other end of a pipe.
    let (mut ours, theirs) = Stream::memory_pair(64 * 1024);
    let one_request = Rc::new(RefCell::new(Rc::clone(worker)));
    // Boxed: the HTTP/1.1 driver is a large future, and this one nests it.
    let driver = Box::pin(conn::serve(one_request, theirs, peer, secure, endpoint));
    let exchange = async {
        if ours.write_all(&raw).await.is_err() {
            return None;
        }
        // The end of the pipe ends the driver's connection after this one
        // request (its next read sees the end of the stream).
        let _ = ours.shutdown().await;
        let mut response = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            match ours.read(&mut chunk).await {
                Ok(0) => return Some(response),
                Ok(n) => {
                    // Past the connection's or the worker's budget the
                    // answer is dropped (500) instead of held.
                    if !held.grow(n) {
                        return None;
                    }
                    response.extend_from_slice(&chunk[..n]);
                }
                Err(_) => return None,
            }
        }
    };
    // The exchange ends when the driver has written everything and closed
    // its end of the pipe; if the exchange gives up first (the budget),
    // the driver is dropped with it, and its backend call.
    let driven = async {
        driver.await;
        std::future::pending::<Option<Vec<u8>>>().await
    };
    Outcome::Served(futures_lite::future::or(exchange, driven).await)
}

fn send_plain(
    respond: &mut h2::server::SendResponse<Bytes>,
    status: u16,
    text: &'static str,
) -> Result<(), h2::Error> {
    let response = http::Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(())
        .map_err(|_| h2::Reason::INTERNAL_ERROR)?;
    let mut send = respond.send_response(response, false)?;
    send.send_data(Bytes::from_static(text.as_bytes()), true)
}

/// An HTTP/1.1 response (whole, as the driver wrote it before closing)
/// as an HTTP/2 head and body.
fn to_h2(raw: Vec<u8>, is_head: bool) -> Option<(http::Response<()>, Bytes)> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(&raw).ok()? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return None,
    };
    let mut builder = http::Response::builder().status(parsed.code?);
    let mut chunked = false;
    let mut length = None;
    for header in parsed.headers.iter() {
        let name = header.name.to_ascii_lowercase();
        if name == "transfer-encoding" {
            chunked = header.value.eq_ignore_ascii_case(b"chunked");
        }
        if name == "content-length" {
            length = std::str::from_utf8(header.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok();
        }
        if CONNECTION_HEADERS.contains(&name.as_str()) {
            continue;
        }
        builder = builder.header(name, header.value);
    }
    let head = builder.body(()).ok()?;
    let body = if is_head {
        Bytes::new()
    } else if chunked {
        let mut body = Vec::new();
        let mut decoder = crate::http::ChunkedDecoder::new(crate::http::ChunkLimits {
            max_data_bytes: u64::MAX,
            ..crate::http::ChunkLimits::default()
        });
        decoder.decode(&raw[head_len..], Some(&mut body)).ok()?;
        Bytes::from(body)
    } else {
        // The body is a slice of the buffer it arrived in: no copy.
        let end = match length {
            Some(len) => head_len.checked_add(len).filter(|&end| end <= raw.len())?,
            None => raw.len(),
        };
        Bytes::from(raw).slice(head_len..end)
    };
    Some((head, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(payload);
        out
    }

    /// Whether a header block is open after each chunk, fed whole and
    /// byte by byte.
    fn open_after(chunks: &[Vec<u8>]) -> Vec<bool> {
        let mut results = Vec::new();
        for bytewise in [false, true] {
            let open = Rc::new(OpenBlock::default());
            let mut watch = FrameWatch::new(open.clone());
            let mut seen = Vec::new();
            for chunk in chunks {
                if bytewise {
                    chunk.iter().for_each(|b| watch.feed(&[*b]));
                } else {
                    watch.feed(chunk);
                }
                seen.push(open.since.get().is_some());
            }
            results.push(seen);
        }
        assert_eq!(results[0], results[1], "whole and byte by byte agree");
        results.remove(0)
    }

    #[test]
    fn header_blocks_open_and_close_at_frame_boundaries() {
        let mut preface = PREFACE.to_vec();
        preface.extend(frame(4, 0, &[])); // SETTINGS
        let whole = frame(1, 0x4 | 0x1, &[0x82, 0x86, 0x84]);
        let begun = frame(1, 0x1, &[0x82]);
        let more = frame(9, 0, &[0x86]);
        let last = frame(9, 0x4, &[0x84]);
        let data = frame(0, 0x1, &[1; 300]);
        // A HEADERS frame with END_HEADERS whose payload is still coming.
        let partial = whole[..10].to_vec();
        let rest = whole[10..].to_vec();
        assert_eq!(
            open_after(&[
                preface,
                whole.clone(),
                begun,
                more,
                last,
                data,
                partial,
                rest
            ]),
            [false, false, true, true, false, false, true, false]
        );
    }
}
