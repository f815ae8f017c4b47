//! HTTP/2 at the edge (ALPN `h2` over TLS, or prior knowledge in clear
//! text with `use_h2c`), with the h2 crate.
//!
//! A codec like `server::conn`: each stream's fields are copied into one
//! buffer as a `RequestHead` (the view HTTP/1.1 parses in place) and
//! handed, with the body, to the one request path
//! (`proxy::exchange::serve`), which writes the response into an
//! [`H2Sink`]: the head as an `http::Response`, the body in DATA frames
//! within the stream's window (a no-op body streamed as it arrives). So
//! routing, steps, status mapping and the proxy pipeline are the same
//! code for both protocols. The h2 crate enforces the protocol: the preface,
//! the header list size, the number of concurrent streams, flow control
//! and the RST/GOAWAY answers to a misbehaving client.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

use smallvec::SmallVec;

use super::Current;
use super::client_ip::client_ip;
use super::observe::Observed;
use super::worker::Worker;
use crate::http::{
    BodyCut, Framing, HeadLimits, Header, Method, RequestBody, RequestHead, ResponseSink, Span,
    assemble_request, split_lines,
};
use crate::proxy::exchange::{self, Incoming, Scratch};
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
    // As HTTP/1.1: small frames (WINDOW_UPDATE, a streamed piece) must not
    // wait for the peer's delayed ACK (Nagle).
    let _ = stream.set_nodelay(true);
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

/// Where a stream's response stands: the h2 crate hands the head's
/// sender first, the body's once the head is sent. Shared by the work
/// (the [`H2Sink`]) and the watch for the client's RST_STREAM; neither
/// holds it across an await.
enum Reply {
    Head(h2::server::SendResponse<Bytes>),
    Body(h2::SendStream<Bytes>),
    Done,
}

impl Reply {
    /// Ready once the client reset the stream (or the connection failed).
    fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let polled = match self {
            Reply::Head(respond) => respond.poll_reset(cx),
            Reply::Body(send) => send.poll_reset(cx),
            Reply::Done => return Poll::Pending,
        };
        polled.map(|_| ())
    }

    /// Resets the stream (RST_STREAM with `reason`), whatever was sent.
    fn reset(&mut self, reason: h2::Reason) {
        match std::mem::replace(self, Reply::Done) {
            Reply::Head(mut respond) => respond.send_reset(reason),
            Reply::Body(mut send) => send.send_reset(reason),
            Reply::Done => {}
        }
    }
}

/// A refusal of the codec itself, before the request path saw the
/// request (a body over the limit, too slow, over the memory budget; a
/// head HTTP/1.1 would refuse too).
struct Refused(u16, &'static str);

async fn serve_stream(
    worker: Rc<Worker>,
    request: http::Request<h2::RecvStream>,
    respond: h2::server::SendResponse<Bytes>,
    peer: SocketAddr,
    secure: bool,
    endpoint: &Cell<Option<usize>>,
    resets: &Resets,
) {
    let started = Instant::now();
    let (parts, mut body) = request.into_parts();
    let reply = RefCell::new(Reply::Head(respond));
    let mut held = Held::new(&resets.held);
    // The work is raced against the client's RST_STREAM: a reset stream's
    // request (and its backend calls, or the no-op body it streams) is
    // dropped at once, never finished for nobody.
    let work = async {
        let mut buf = Vec::with_capacity(512);
        let read = read_request(&worker, &parts, &mut body, &mut buf, &mut held).await;
        let (head, data, streamed) = match read {
            Ok(Some(read)) => read,
            // The body ended in an error: the client reset the stream
            // while sending it (or the connection failed).
            Ok(None) => return false,
            Err(Refused(status, text)) => {
                send_plain(&reply, status, text);
                return true;
            }
        };
        let client = client_ip(
            worker.config.router.client_ip.as_ref(),
            peer.ip(),
            &head,
            &buf,
        );
        let date = worker.date();
        let incoming = Incoming {
            head: &head,
            buf: &buf,
            body: if streamed { &[] } else { &data },
            peer,
            client,
            secure,
            date: &date,
            endpoint,
        };
        let upload = streamed.then(|| H2Upload {
            announced: parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse().ok()),
            body: &mut body,
            early: &data,
            current: Bytes::new(),
            deadline: started + worker.config.limits.read_timeout,
            limit: worker.config.limits.max_streamed_body_bytes,
            received: data.len(),
            done: false,
            cut: None,
        });
        let mut sink = H2Sink {
            upload,
            reply: &reply,
            status: 0,
            headers: http::HeaderMap::new(),
            body: Vec::new(),
            body_bytes: 0,
            head_only: head.method == Method::Head,
            held: &mut held,
            over_budget: false,
            write_timeout: worker.config.limits.write_timeout,
            sent_ok: true,
        };
        let mut bufs = Scratch::default();
        let exchanged = exchange::serve(&worker.service, &incoming, &mut bufs, &mut sink).await;
        // A streamed body the client stopped sending: 408 or 413 unless
        // something was sent (a reset stream has nobody to answer).
        if let Some(cut) = sink.upload.as_ref().and_then(|u| u.cut)
            && let Some((status, text)) = cut.status()
        {
            sink.status = status;
            send_plain(&reply, status, text);
        }
        let body_bytes = match exchanged.streamed {
            Some((announced, _)) => announced,
            None => {
                sink.end().await;
                sink.body_bytes
            }
        };
        worker.observer.observe(&Observed {
            endpoint: endpoint.get(),
            method: head.method,
            path: head.path.of(&buf),
            status: sink.status,
            body_bytes,
            started,
            peer,
            client,
            completed: exchanged.completed,
            ended: None,
            trace: exchanged.trace.as_ref(),
        });
        true
    };
    // Go's `WriteTimeout` over HTTP/2 (x/net/http2 `stream.onWriteTimeout`):
    // a stream whose response is not done within it from the end of its
    // head is reset with INTERNAL_ERROR; what the request was doing
    // (backend calls, a streamed body) is dropped with it.
    let write_deadline = worker.config.limits.write_deadline;
    let work = async {
        let Some(limit) = write_deadline else {
            return work.await;
        };
        match rt::until(started + limit, work).await {
            Some(served) => served,
            None => {
                reply.borrow_mut().reset(h2::Reason::INTERNAL_ERROR);
                true
            }
        }
    };
    let reset = std::future::poll_fn(|cx| reply.borrow_mut().poll_reset(cx));
    let served = futures_lite::future::or(work, async {
        reset.await;
        false
    })
    .await;
    if !served {
        resets.reset.set(resets.reset.get() + 1);
    }
}

/// Reads a stream's request: its fields copied into `buf` as one
/// [`RequestHead`] (the same view HTTP/1.1 parses in place, and the same
/// checks on target, values and host), its body whole within the same
/// limit as an HTTP/1.1 body. `None`: the body ended in an error. True
/// with it: the body is longer than a piece and the request path streams
/// it (`exchange::streams_body`); what came so far is returned, the rest
/// is the [`H2Upload`]'s to read.
async fn read_request(
    worker: &Worker,
    parts: &http::request::Parts,
    body: &mut h2::RecvStream,
    buf: &mut Vec<u8>,
    held: &mut Held<'_>,
) -> Result<Option<(RequestHead, Vec<u8>, bool)>, Refused> {
    let limits = &worker.config.limits;
    let head_limits = HeadLimits {
        max_uri_bytes: limits.max_uri_bytes,
        ..HeadLimits::default()
    };
    let head = assemble(parts, buf, &head_limits).map_err(|e| Refused(e.status(), e.reason()))?;
    let mut data = Vec::new();
    let deadline = Instant::now() + limits.read_timeout;
    let mut streams = None;
    while let Some(chunk) = rt::until(deadline, body.data()).await.unwrap_or(None) {
        let Ok(chunk) = chunk else {
            return Ok(None);
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        if data.len() + chunk.len() > super::upload::PIECE
            && *streams.get_or_insert_with(|| exchange::streams_body(&worker.service, &head, buf))
        {
            if limits
                .max_streamed_body_bytes
                .is_some_and(|max| data.len() + chunk.len() > max)
            {
                return Err(Refused(413, "request entity too large"));
            }
            data.extend_from_slice(&chunk);
            return Ok(Some((head, data, true)));
        }
        if data.len() + chunk.len() > limits.max_body_bytes {
            return Err(Refused(413, "request entity too large"));
        }
        if !held.grow(chunk.len()) {
            return Err(Refused(503, "too much buffered on this connection"));
        }
        data.extend_from_slice(&chunk);
    }
    if !body.is_end_stream() {
        return Err(Refused(408, "request timeout"));
    }
    Ok(Some((head, data, false)))
}

/// A request body the HTTP/2 codec leaves to the request path (see
/// `server::upload` for HTTP/1.1): each DATA frame is handed on as it
/// comes, and its flow-control capacity is given back only when the next
/// piece is asked for, that is once the backend took this one, so the
/// client's window (not the gateway's memory) absorbs a slow backend.
struct H2Upload<'b> {
    body: &'b mut h2::RecvStream,
    /// What came before the request path took over (given first).
    early: &'b [u8],
    /// The piece handed out last, its capacity not yet released.
    current: Bytes,
    /// The client's `content-length`, if it sent one.
    announced: Option<u64>,
    deadline: Instant,
    /// A configured `max_body_bytes`.
    limit: Option<usize>,
    received: usize,
    done: bool,
    cut: Option<BodyCut>,
}

impl H2Upload<'_> {
    async fn next(&mut self) -> Result<&[u8], BodyCut> {
        if let Some(cut) = self.cut {
            return Err(cut);
        }
        if !self.current.is_empty() {
            let taken = std::mem::take(&mut self.current);
            let _ = self.body.flow_control().release_capacity(taken.len());
        }
        if !self.early.is_empty() {
            return Ok(std::mem::take(&mut self.early));
        }
        if self.done {
            return Ok(&[]);
        }
        let cut = match rt::until(self.deadline, self.body.data()).await {
            Some(None) => {
                self.done = true;
                return Ok(&[]);
            }
            Some(Some(Ok(chunk))) => {
                self.received += chunk.len();
                if self.limit.is_some_and(|max| self.received > max) {
                    BodyCut::TooLarge
                } else {
                    self.current = chunk;
                    return Ok(&self.current);
                }
            }
            // The client reset the stream (or the connection failed).
            Some(Some(Err(_))) => BodyCut::Gone,
            None => BodyCut::TimedOut,
        };
        self.cut = Some(cut);
        Err(cut)
    }
}

/// The stream's pseudo-header and header fields, copied into `buf`, as a
/// request head. `:authority` is the `host` field (a `host` beside it is
/// dropped, RFC 9113 8.3.1). A client may split `cookie` into several
/// fields for compression; they are joined with "; " into one (RFC 9113
/// 8.2.3), so the JWT validator's `cookie_key` and the backends see every
/// cookie.
fn assemble(
    parts: &http::request::Parts,
    buf: &mut Vec<u8>,
    limits: &HeadLimits,
) -> Result<RequestHead, crate::http::RequestError> {
    fn copy(buf: &mut Vec<u8>, bytes: &[u8]) -> Span {
        let start = buf.len();
        buf.extend_from_slice(bytes);
        // The h2 crate bounds the header list far below 4 GiB.
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(buf.len()).unwrap_or(u32::MAX),
        }
    }
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let target = copy(buf, target.as_bytes());
    let mut fields = SmallVec::<[Header; 32]>::new();
    let authority = parts.uri.authority();
    if let Some(authority) = authority {
        let name = copy(buf, b"host");
        let value = copy(buf, authority.as_str().as_bytes());
        fields.push(Header { name, value });
    }
    for (name, value) in &parts.headers {
        let name = name.as_str();
        if name == "host" && authority.is_some()
            || CONNECTION_HEADERS.contains(&name)
            || name == "cookie"
        {
            continue;
        }
        let name = copy(buf, name.as_bytes());
        let value = copy(buf, value.as_bytes());
        fields.push(Header { name, value });
    }
    let mut cookies = parts.headers.get_all(http::header::COOKIE).iter();
    if let Some(first) = cookies.next() {
        let name = copy(buf, b"cookie");
        let mut value = copy(buf, first.as_bytes());
        for more in cookies {
            buf.extend_from_slice(b"; ");
            buf.extend_from_slice(more.as_bytes());
            value.end = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        }
        fields.push(Header { name, value });
    }
    assemble_request(
        buf,
        parts.method.as_str().as_bytes(),
        target,
        &fields,
        limits,
    )
}

/// The HTTP/2 codec's side of a response: the head as an `http::Response`
/// for the h2 crate, the body in DATA frames within the stream's
/// flow-control window. A buffered body is sent once the request path is
/// done; a streamed one piece by piece as the backend sends it, each
/// piece only once the client's window has room for it, so a client that
/// does not read pauses the backend read.
struct H2Sink<'r, 'h, 'c> {
    /// The request body, when it is streamed.
    upload: Option<H2Upload<'r>>,
    reply: &'r RefCell<Reply>,
    status: u16,
    headers: http::HeaderMap,
    /// A buffered body, counted in `held` until it is sent.
    body: Vec<u8>,
    body_bytes: usize,
    head_only: bool,
    held: &'h mut Held<'c>,
    /// The buffered body did not fit the connection's or the worker's
    /// budget: the client gets a 500 instead.
    over_budget: bool,
    write_timeout: Duration,
    /// Nothing failed yet.
    sent_ok: bool,
}

impl H2Sink<'_, '_, '_> {
    /// Sends the head; `end`: it is the whole response.
    fn send_head(&mut self, end: bool) -> bool {
        let mut reply = self.reply.borrow_mut();
        let Reply::Head(respond) = &mut *reply else {
            return matches!(*reply, Reply::Body(_));
        };
        let mut response = http::Response::new(());
        *response.status_mut() = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        *response.headers_mut() = std::mem::take(&mut self.headers);
        match respond.send_response(response, end) {
            Ok(send) if !end => *reply = Reply::Body(send),
            Ok(_) => *reply = Reply::Done,
            Err(_) => {
                *reply = Reply::Done;
                return false;
            }
        }
        true
    }

    /// Sends `data` as the window allows, a piece at a time; `end`: with
    /// END_STREAM after it. A client that opens no window for
    /// `write_timeout` gets RST_STREAM(CANCEL).
    async fn send_data(&mut self, mut data: Bytes, end: bool) -> bool {
        const PIECE: usize = 64 * 1024;
        loop {
            if data.is_empty() {
                if end {
                    let mut reply = self.reply.borrow_mut();
                    if let Reply::Body(send) = &mut *reply {
                        let sent = send.send_data(Bytes::new(), true).is_ok();
                        *reply = Reply::Done;
                        return sent;
                    }
                }
                return true;
            }
            let wanted = data.len().min(PIECE);
            let granted = rt::within(
                self.write_timeout,
                std::future::poll_fn(|cx| match &mut *self.reply.borrow_mut() {
                    Reply::Body(send) => {
                        send.reserve_capacity(wanted);
                        send.poll_capacity(cx)
                    }
                    _ => Poll::Ready(None),
                }),
            )
            .await;
            let mut reply = self.reply.borrow_mut();
            let Reply::Body(send) = &mut *reply else {
                return false;
            };
            match granted {
                Some(Some(Ok(0))) => {}
                Some(Some(Ok(n))) => {
                    let piece = data.split_to(n.min(data.len()));
                    let last = end && data.is_empty();
                    if send.send_data(piece, last).is_err() {
                        *reply = Reply::Done;
                        return false;
                    }
                    if last {
                        *reply = Reply::Done;
                        return true;
                    }
                }
                // The stream or connection is gone.
                Some(None) | Some(Some(Err(_))) => {
                    *reply = Reply::Done;
                    return false;
                }
                None => {
                    send.send_reset(h2::Reason::CANCEL);
                    *reply = Reply::Done;
                    return false;
                }
            }
        }
    }
}

impl RequestBody for H2Sink<'_, '_, '_> {
    fn pending(&self) -> Option<Option<u64>> {
        self.upload.as_ref().map(|u| u.announced)
    }

    async fn next_piece(&mut self) -> Result<&[u8], BodyCut> {
        match &mut self.upload {
            Some(upload) => upload.next().await,
            None => Ok(&[]),
        }
    }
}

impl ResponseSink for H2Sink<'_, '_, '_> {
    const UPGRADES: bool = false;
    const PASSES_CHUNKS: bool = false;

    fn status(&mut self, status: u16) {
        self.status = status;
    }

    fn header(&mut self, name: &[u8], value: &[u8]) {
        let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name),
            http::HeaderValue::from_bytes(value),
        ) else {
            // Only a no-op backend's fields can fail here; HTTP/1.1
            // clients would get them, HTTP/2 cannot carry them.
            tracing::debug!("HTTP/2 response: a header field HTTP/2 cannot carry dropped");
            return;
        };
        if CONNECTION_HEADERS.contains(&name.as_str()) {
            return;
        }
        self.headers.append(name, value);
    }

    fn header_lines(&mut self, lines: &[u8]) {
        for (name, value) in split_lines(lines) {
            self.header(name, value);
        }
    }

    fn end_head(&mut self, framing: Framing) {
        if let Framing::Length(n) = framing {
            self.headers
                .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(n));
        }
    }

    fn body(&mut self, body: &[u8]) {
        if self.head_only || body.is_empty() {
            return;
        }
        // Past the connection's or the worker's budget the answer is
        // dropped (500) instead of held.
        if !self.held.grow(body.len()) {
            self.over_budget = true;
            return;
        }
        self.body.extend_from_slice(body);
        self.body_bytes += body.len();
    }

    async fn send(&mut self, data: &[u8]) -> bool {
        if !self.sent_ok {
            return false;
        }
        self.sent_ok = self.send_head(false);
        if self.sent_ok && !data.is_empty() && !self.head_only {
            // The piece in flight is held until the h2 crate has it.
            if !self.held.grow(data.len()) {
                self.sent_ok = false;
                if let Reply::Body(send) = &mut *self.reply.borrow_mut() {
                    send.send_reset(h2::Reason::CANCEL);
                }
                return false;
            }
            self.sent_ok = self.send_data(Bytes::copy_from_slice(data), false).await;
            self.held.shrink(data.len());
        }
        self.sent_ok
    }

    async fn end(&mut self) -> bool {
        if !self.sent_ok {
            return false;
        }
        if self.over_budget {
            self.held.shrink(self.body.len());
            self.body = Vec::new();
            self.status = 500;
            send_plain(self.reply, 500, "internal server error");
            self.sent_ok = false;
            return false;
        }
        let unsent = matches!(*self.reply.borrow(), Reply::Head(_));
        if unsent && self.body.is_empty() {
            self.sent_ok = self.send_head(true);
            return self.sent_ok;
        }
        self.sent_ok = self.send_head(false);
        if self.sent_ok {
            let body = Bytes::from(std::mem::take(&mut self.body));
            let len = body.len();
            self.sent_ok = self.send_data(body, true).await;
            self.held.shrink(len);
        }
        self.sent_ok
    }

    fn written_status(&self) -> u16 {
        self.status
    }
}

/// A plain-text answer of the codec itself.
fn send_plain(reply: &RefCell<Reply>, status: u16, text: &'static str) {
    let mut reply = reply.borrow_mut();
    let Reply::Head(respond) = &mut *reply else {
        return;
    };
    let mut response = http::Response::new(());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(mut send) = respond.send_response(response, false) {
        let _ = send.send_data(Bytes::from_static(text.as_bytes()), true);
    }
    *reply = Reply::Done;
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
