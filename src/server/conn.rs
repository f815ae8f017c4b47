//! The HTTP/1.1 codec: read, parse, frame, write, keep-alive. What a
//! request gets is decided by the one request path
//! (`proxy::exchange::serve`), which writes into this codec's
//! [`H1Sink`].
//!
//! Requests on one connection are handled one after the other, so
//! pipelined requests are answered in order. The head is parsed in place in
//! the read buffer; spans index it until the request is answered, then the
//! bytes of the next request (if any arrived) move to the front.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;

use std::cell::Cell;

use crate::rt::{Stream, Timer};

use super::Current;
use super::buffers::{self, Buffers};
use super::client_ip::client_ip;
use super::observe::Observed;
use super::upload::Upload;
use super::worker::Worker;
use crate::http::{
    BodyCut, BodyFraming, ChunkError, ChunkLimits, ChunkedDecoder, Framing, HeadLimits, Method,
    Parse, RequestBody, RequestHead, RequestHeadReader, ResponseSink, write_content_length,
    write_error_response, write_header, write_status_line,
};
use crate::proxy::exchange::{self, Incoming, Scratch};
use crate::proxy::websocket::Session;

const INITIAL_READ_BUFFER: usize = buffers::READ_BUFFER;
/// Buffers that grew beyond this for one request are released after it.
const KEEP_BUFFER: usize = 256 * 1024;

/// The head bytes a `max_header_bytes` of `configured` lets through: Go's
/// server reads the head with a limit of `MaxHeaderBytes + 4096` ("bufio
/// slop", net/http `Server.initialReadLimitSize`) and answers 431 only past
/// that, so a KrakenD file's limit admits the same heads here.
pub fn head_allowance(configured: usize) -> usize {
    configured.saturating_add(4096)
}

/// Where a request's body is once the codec read what it reads.
enum BodyAt {
    /// Whole: `rbuf[start..end]`, and the bytes of `rbuf` the request used.
    Whole(usize, usize, usize),
    /// Whole, decoded from chunks into `body`, and the bytes of `rbuf` the
    /// request used.
    Decoded(usize),
    /// Still coming, for the request path to stream (`server::upload`):
    /// its announced length (`None`: chunked).
    Streamed(Option<u64>),
}

/// Why a connection stops being served.
enum Stop {
    /// Closed by the peer, or timed out while idle: nothing to answer.
    Quietly,
    /// Answer with this status (and reason as the body), then close.
    Reject(u16, &'static str),
}

struct Connection {
    stream: Stream,
    peer: SocketAddr,
    /// The client reached us over TLS.
    secure: bool,
    /// `rbuf[..end]` holds received bytes; a request head starts at 0.
    /// This and the buffers below come from the worker's pool
    /// (`server::buffers`) when a request's first bytes are readable and
    /// go back when it is answered and no next one has begun: an idle
    /// connection holds none (`rbuf` is empty then).
    rbuf: Vec<u8>,
    end: usize,
    out: Vec<u8>,
    /// A chunked request body, decoded.
    body: Vec<u8>,
    /// The request path's buffers and backend timer.
    bufs: Scratch,
    /// Bounds the waits for the client's bytes (idle, head, body).
    read_timer: Timer,
    /// The observer's clock reading as the last response was done: the
    /// next request's idle wait starts from it (one clock read less).
    answered_at: Option<Instant>,
    /// Not yet waited for its first bytes (see `readable`).
    fresh: bool,
    /// A WebSocket handshake both sides accepted, its 101 sent: relayed
    /// once the request is observed (`proxy::websocket`).
    upgraded: Option<Box<Session>>,
    /// Answered before the client sent all of its (streamed) body: the
    /// close waits a little for the answer to be read (`close_after_error`).
    linger: bool,
}

/// Serves one client connection until it closes. `endpoint` tells, for the
/// log line of a panic, which endpoint the current request was routed to.
pub async fn serve(
    current: Current,
    mut stream: Stream,
    peer: SocketAddr,
    secure: bool,
    endpoint: &Cell<Option<usize>>,
) {
    let _ = stream.set_nodelay(true);
    stream.set_write_timeout(Some(current.borrow().config.limits.write_timeout));
    let mut conn = Connection {
        stream,
        peer,
        secure,
        rbuf: Vec::new(),
        end: 0,
        out: Vec::new(),
        body: Vec::new(),
        bufs: Scratch::default(),
        read_timer: Timer::new(),
        answered_at: None,
        fresh: true,
        upgraded: None,
        linger: false,
    };
    loop {
        endpoint.set(None);
        match conn.serve_one(&current, endpoint).await {
            Ok(true) => continue,
            Ok(false) if conn.linger => {
                conn.give_buffers();
                Box::pin(close_after_error(&mut conn.stream)).await;
                return;
            }
            Ok(false) | Err(Stop::Quietly) => return,
            Err(Stop::Reject(status, reason)) => {
                conn.out.clear();
                write_error_response(&mut conn.out, status, reason.as_bytes(), true);
                if conn.stream.write_all(&conn.out).await.is_ok() {
                    Box::pin(close_after_error(&mut conn.stream)).await;
                }
                return;
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.give_buffers();
    }
}

impl Connection {
    /// Takes a set of buffers from the worker's pool, unless it holds one.
    fn take_buffers(&mut self) {
        if !self.rbuf.is_empty() {
            return;
        }
        let Buffers {
            rbuf,
            out,
            body,
            response_body,
            headers,
            scratch,
            decor,
        } = buffers::take();
        self.rbuf = rbuf;
        self.out = out;
        self.body = body;
        self.bufs.body = response_body;
        self.bufs.headers = headers;
        self.bufs.scratch = scratch;
        self.bufs.decor = decor;
    }

    /// Gives its buffers back to the worker's pool: when idle (nothing
    /// pending in `rbuf`) or closing (what is pending is dropped).
    fn give_buffers(&mut self) {
        if self.rbuf.is_empty() {
            return;
        }
        self.end = 0;
        use std::mem::take;
        buffers::give(Buffers {
            rbuf: take(&mut self.rbuf),
            out: take(&mut self.out),
            body: take(&mut self.body),
            response_body: take(&mut self.bufs.body),
            headers: take(&mut self.bufs.headers),
            scratch: take(&mut self.bufs.scratch),
            decor: take(&mut self.bufs.decor),
        });
    }

    /// The idle wait of a keep-alive connection: until the socket is
    /// readable, bounded by `deadline`, reading nothing (so holding no
    /// buffer). tokio reports a new connection readable before anything
    /// came: its first wait peeks to be sure (one system call per
    /// connection); later ones follow a read that cleared the readiness.
    async fn readable(&mut self, deadline: Instant) -> Result<(), ErrorKind> {
        if Instant::now() >= deadline {
            return Err(ErrorKind::TimedOut);
        }
        let ready = if std::mem::take(&mut self.fresh) {
            let confirmed = self.stream.readable_confirmed();
            self.read_timer.until(deadline, confirmed).await
        } else {
            let ready = self.stream.readable();
            self.read_timer.until(deadline, ready).await
        };
        match ready {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(e.kind()),
            None => Err(ErrorKind::TimedOut),
        }
    }

    /// Reads more bytes into `rbuf`, growing it up to `limit`, with the
    /// read bounded by `deadline`. Returns the number of bytes read.
    async fn fill(&mut self, limit: usize, deadline: Instant) -> Result<usize, ErrorKind> {
        if self.end == self.rbuf.len() {
            if self.rbuf.len() >= limit {
                return Err(ErrorKind::OutOfMemory);
            }
            let grown = (self.rbuf.len() * 2).min(limit);
            self.rbuf.resize(grown, 0);
        }
        if Instant::now() >= deadline {
            return Err(ErrorKind::TimedOut);
        }
        let read = self.stream.read(&mut self.rbuf[self.end..]);
        match self.read_timer.until(deadline, read).await {
            Some(Ok(n)) => {
                self.end += n;
                Ok(n)
            }
            Some(Err(e)) => Err(e.kind()),
            None => Err(ErrorKind::TimedOut),
        }
    }

    /// Serves one request. `Ok(true)`: keep the connection for the next.
    /// The head is awaited under the limits of the configuration in service
    /// then; the request is served by the one in service once its head has
    /// arrived (a reload while the connection idled applies to it).
    async fn serve_one(
        &mut self,
        current: &Current,
        endpoint: &Cell<Option<usize>>,
    ) -> Result<bool, Stop> {
        // A head's refusal (400, 408, 431) is bounded by the stall bound
        // alone, not by the previous response's deadline.
        self.stream.set_write_deadline(None);
        let waiting = current.borrow().clone();
        let limits = &waiting.config.limits;
        let max_head = head_allowance(limits.max_header_bytes);
        let head_limits = HeadLimits {
            max_head_bytes: max_head,
            max_uri_bytes: limits.max_uri_bytes,
            ..HeadLimits::default()
        };
        // An idle keep-alive connection waits up to idle_timeout for the
        // first byte; once a request has begun, its head must arrive within
        // read_header_timeout and the whole request within read_timeout.
        let now = self.answered_at.take().unwrap_or_else(Instant::now);
        let mut started = (self.end > 0).then_some(now);
        let idle_deadline = now + limits.idle_timeout;
        if started.is_none() {
            // Idle: the buffers go back to the pool until bytes arrive.
            self.give_buffers();
            let mut readable = match waiting.drain.linger_until() {
                // Draining: a request may still arrive for a short while
                // (`server::drain::LINGER`); it is answered with
                // `Connection: close`.
                Some(linger) => self.readable(linger.min(idle_deadline)).await,
                None => {
                    futures_lite::future::or(self.readable(idle_deadline), async {
                        waiting.drain.wait().await;
                        Err(ErrorKind::Interrupted)
                    })
                    .await
                }
            };
            if readable == Err(ErrorKind::Interrupted)
                && let Some(linger) = waiting.drain.linger_until()
            {
                readable = self.readable(linger.min(idle_deadline)).await;
            }
            if readable.is_err() {
                return Err(Stop::Quietly);
            }
        }
        self.take_buffers();
        // Looks only at the bytes that arrived since the last read; parses in full when the
        // head is complete (and a few bounded times before, for early refusals).
        let mut reader = RequestHeadReader::new();
        // Parsed in place: a head returned by value would be copied twice.
        let mut head = RequestHead::default();
        loop {
            if self.end > 0 {
                match reader.poll_into(&self.rbuf[..self.end], &head_limits, &mut head) {
                    Ok(Parse::Complete(())) => break,
                    Ok(Parse::Partial) => {}
                    Err(e) => return Err(Stop::Reject(e.status(), e.reason())),
                }
            }
            let deadline = match started {
                Some(t) => t + limits.read_header_timeout,
                None => idle_deadline,
            };
            // One byte past the limit lets the parser say 431 or 414.
            let read = self.fill(max_head + 1, deadline);
            let read = if started.is_none() {
                // Between requests: readable said bytes (or the end) are
                // there, so this read does not wait; once draining it is
                // left to finish (the request is served, then the
                // connection closes).
                if waiting.drain.is_draining() {
                    read.await
                } else {
                    futures_lite::future::or(read, async {
                        waiting.drain.wait().await;
                        Err(ErrorKind::Interrupted)
                    })
                    .await
                }
            } else {
                read.await
            };
            match read {
                Ok(0) => return Err(Stop::Quietly),
                Ok(_) => {
                    started.get_or_insert_with(Instant::now);
                }
                Err(ErrorKind::TimedOut) if started.is_some() => {
                    return Err(Stop::Reject(408, "request timeout"));
                }
                Err(ErrorKind::OutOfMemory) => {
                    return Err(Stop::Reject(431, "request header fields too large"));
                }
                Err(_) => return Err(Stop::Quietly),
            }
        }
        let serving = current.borrow().clone();
        let worker = &*serving;
        let limits = &worker.config.limits;
        // Go's server (net/http `conn.readRequest`) sets the write deadline
        // to `WriteTimeout` from the moment the head has been read: the
        // body, the backends and every byte of the response must fit in it,
        // or the writes fail and the connection is closed.
        if let Some(limit) = limits.write_deadline {
            self.stream.set_write_deadline(Some(Instant::now() + limit));
        }
        let request_deadline = started.unwrap_or_else(Instant::now) + limits.read_timeout;
        // Asked only of a body that did not come whole with the head.
        let streams = |buf: &[u8]| exchange::streams_body(&worker.service, &head, buf);
        let body_at = self
            .read_body(&head, limits, request_deadline, streams)
            .await?;
        // Boxed: the answer's state (backend calls) is allocated per
        // request, not part of every connection's future, idle ones too.
        // Made in its box (`rt::boxed`), not copied into it.
        let times = (started.unwrap_or_else(Instant::now), request_deadline);
        let respond = crate::rt::boxed(|| self.respond(worker, &head, body_at, times, endpoint));
        let (keep, mut consumed, behind) = respond.await;
        // Whether the response said `Connection: close` decides (`respond`),
        // not whether a drain started since: a response that promised
        // keep-alive leaves the connection idle, where a drain lingers
        // (`server::drain::LINGER`) instead of closing under a request the
        // client may be sending already.
        let keep = keep && head.keep_alive;
        if let Some(session) = self.upgraded.take() {
            // The client's frames that came behind its handshake go first.
            // They are copied (usually there are none: no allocation) and
            // the set goes back to the pool: the relay has buffers of its
            // own, and a session may last hours.
            let early = self.rbuf[consumed..self.end].to_vec();
            self.give_buffers();
            let metrics = worker.observer.metrics.as_deref();
            // Boxed: the relay's state must not grow every connection's future.
            let relay = session.relay(&mut self.stream, &early, metrics, worker.drain.wait());
            Box::pin(relay).await;
            Box::pin(close_after_error(&mut self.stream)).await;
            return Ok(false);
        }
        if !behind.is_empty() {
            // A pipelined request read behind a streamed chunked body, into
            // the body buffer (at most a piece): it goes to the front.
            let len = behind.len();
            if self.rbuf.len() < len {
                self.rbuf.resize(len, 0);
            }
            self.rbuf[..len].copy_from_slice(&self.body[behind]);
            (consumed, self.end) = (0, len);
        }
        // Move the next pipelined request (if it began to arrive) to the front.
        self.rbuf.copy_within(consumed..self.end, 0);
        self.end -= consumed;
        self.release_large_buffers();
        Ok(keep)
    }

    /// A large request or response must not pin its memory for the rest
    /// of a keep-alive connection's life: back to the initial sizes.
    fn release_large_buffers(&mut self) {
        if self.rbuf.len() > KEEP_BUFFER && self.end <= INITIAL_READ_BUFFER {
            self.rbuf.truncate(INITIAL_READ_BUFFER);
            self.rbuf.shrink_to_fit();
        }
        for buf in [&mut self.out, &mut self.body] {
            if buf.capacity() > KEEP_BUFFER {
                *buf = Vec::new();
            }
        }
        self.bufs.release_beyond(KEEP_BUFFER);
    }

    /// Reads the body. Content-Length bodies stay in `rbuf` right after the
    /// head; chunked ones are decoded into `self.body`. Returns where the
    /// body lies and how many bytes of `rbuf` the request used.
    /// A body that did not come whole with the head and that `streams`
    /// (the request path) wants streamed is left to it, read no further.
    async fn read_body(
        &mut self,
        head: &RequestHead,
        limits: &crate::config::ServerLimits,
        deadline: Instant,
        streams: impl FnOnce(&[u8]) -> bool,
    ) -> Result<BodyAt, Stop> {
        let max_body = limits.max_body_bytes;
        let head_len = head.head_len;
        let too_large = Stop::Reject(413, "request entity too large");
        match head.body {
            BodyFraming::None => Ok(BodyAt::Whole(head_len, head_len, head_len)),
            BodyFraming::Length(announced) => {
                let len = usize::try_from(announced).unwrap_or(usize::MAX);
                let total = head_len.saturating_add(len);
                if self.end < total && streams(&self.rbuf) {
                    if limits.max_streamed_body_bytes.is_some_and(|max| len > max) {
                        return Err(too_large);
                    }
                    self.send_continue(head).await?;
                    return Ok(BodyAt::Streamed(Some(announced)));
                }
                if len > max_body {
                    return Err(too_large);
                }
                if self.end < total {
                    self.send_continue(head).await?;
                }
                // `fill` grows the buffer as bytes arrive: a Content-Length
                // alone must not make us set aside the memory it announces.
                while self.end < total {
                    self.read_more_body(total, deadline).await?;
                }
                Ok(BodyAt::Whole(head_len, total, total))
            }
            BodyFraming::Chunked => {
                self.send_continue(head).await?;
                // Whether the whole body came with the head: its framing
                // is checked (no copy) before the request path is asked.
                let mut probe = ChunkedDecoder::new(ChunkLimits::default());
                let whole = probe
                    .decode(&self.rbuf[head_len..self.end], None)
                    .map_or(true, |p| p.done);
                if !whole && streams(&self.rbuf) {
                    return Ok(BodyAt::Streamed(None));
                }
                self.body.clear();
                // A chunk size beyond the limit is refused as soon as the size is read,
                // not after waiting for data that would be refused anyway.
                let mut decoder = ChunkedDecoder::new(ChunkLimits {
                    max_data_bytes: u64::try_from(max_body).unwrap_or(u64::MAX),
                    ..ChunkLimits::default()
                });
                let mut pos = head_len;
                loop {
                    let progress = decoder
                        .decode(&self.rbuf[pos..self.end], Some(&mut self.body))
                        .map_err(|e| match e {
                            ChunkError::TooLarge => Stop::Reject(413, "request entity too large"),
                            _ => Stop::Reject(400, "bad chunked encoding"),
                        })?;
                    pos += progress.consumed;
                    if self.body.len() > max_body {
                        return Err(Stop::Reject(413, "request entity too large"));
                    }
                    if progress.done {
                        return Ok(BodyAt::Decoded(pos));
                    }
                    // Reclaim the space of chunks already decoded.
                    self.rbuf.copy_within(pos..self.end, head_len);
                    self.end -= pos - head_len;
                    pos = head_len;
                    let limit = (head_len + 64 * 1024).max(self.rbuf.len());
                    self.read_more_body(limit, deadline).await?;
                }
            }
        }
    }

    async fn read_more_body(&mut self, limit: usize, deadline: Instant) -> Result<(), Stop> {
        match self.fill(limit, deadline).await {
            Ok(0) => Err(Stop::Quietly),
            Ok(_) => Ok(()),
            Err(ErrorKind::TimedOut) => Err(Stop::Reject(408, "request timeout")),
            Err(_) => Err(Stop::Quietly),
        }
    }

    /// `Expect: 100-continue`: tell the client to send the body it holds back.
    async fn send_continue(&mut self, head: &RequestHead) -> Result<(), Stop> {
        if head.expect_continue && head.minor_version == 1 {
            self.stream
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(|_| Stop::Quietly)?;
        }
        Ok(())
    }

    /// Answers the request through the one request path, then reports it
    /// to the worker's observer; false when the connection must close.
    /// Also returns the bytes of `rbuf` the request used, and where in
    /// `body` bytes read behind a streamed chunked body lie.
    async fn respond(
        &mut self,
        worker: &Worker,
        head: &RequestHead,
        body_at: BodyAt,
        (started, deadline): (Instant, Instant),
        current: &Cell<Option<usize>>,
    ) -> (bool, usize, std::ops::Range<usize>) {
        let Connection {
            stream,
            peer,
            secure,
            rbuf,
            end,
            out,
            body,
            bufs,
            read_timer,
            ..
        } = self;
        let buf = &rbuf[..];
        let (request_body, mut consumed, upload): (&[u8], usize, _) = match body_at {
            BodyAt::Decoded(consumed) => (body, consumed, None),
            BodyAt::Whole(start, end, consumed) => (&buf[start..end], consumed, None),
            // A streamed body goes to the backend through the pooled body buffer.
            BodyAt::Streamed(announced) => {
                let upload = Upload::new(
                    &buf[head.head_len..*end],
                    body,
                    announced,
                    deadline,
                    read_timer,
                    worker.config.limits.max_streamed_body_bytes,
                );
                (&[], *end, Some(upload))
            }
        };
        let client = client_ip(
            worker.config.router.client_ip.as_ref(),
            peer.ip(),
            head,
            buf,
        );
        let date = worker.date();
        let incoming = Incoming {
            head,
            buf,
            body: request_body,
            peer: *peer,
            client,
            secure: *secure,
            date: &date,
            endpoint: current,
        };
        out.clear();
        let mut sink = H1Sink {
            stream,
            out,
            close: !head.keep_alive || worker.drain.is_draining(),
            head_only: head.method == Method::Head,
            status: 0,
            body_bytes: 0,
            sent_ok: true,
            upload,
        };
        let exchanged = exchange::serve(&worker.service, &incoming, bufs, &mut sink).await;
        // A streamed body the client stopped sending: its answer, unless
        // something was written already (then the connection just closes).
        let cut = sink.upload.as_ref().and_then(Upload::cut);
        if let Some(cut) = cut
            && sink.status == 0
            && let Some((status, reason)) = cut.status()
        {
            sink.out.clear();
            sink.status = status;
            write_error_response(sink.out, status, reason.as_bytes(), true);
            sink.end().await;
        }
        // Unless all of a streamed body was read, the rest is still on the
        // connection: it closes after the answer (as nginx does). What came
        // behind a chunked body is the next request.
        let mut whole_upload = true;
        let mut behind = 0..0;
        if let Some(upload) = sink.upload.take() {
            whole_upload = upload.is_done();
            let (early_left, read_behind) = upload.behind();
            consumed -= early_left;
            if whole_upload {
                behind = read_behind;
            }
        }
        // A response this small leaves in one write, which waits only
        // when the client stopped reading: the proxy stage's end
        // reading also ends the request and starts the idle wait (one
        // clock read less). KrakenD's server duration, too, ends
        // before the final flush of its 4 KiB write buffer.
        let small = sink.out.len() <= ONE_WRITE_BYTES;
        let (keep, body_bytes, ended) = match exchanged.streamed {
            Some((announced, whole)) => (whole && sink.sent_ok, announced, None),
            None => {
                let sent = sink.end().await;
                (sent, sink.body_bytes, exchanged.ended.filter(|_| small))
            }
        };
        let keep = keep && whole_upload;
        self.linger = !whole_upload;
        let status = sink.status;
        self.upgraded = exchanged.upgraded.filter(|_| keep);
        // The next request is read only if this response did not say
        // `Connection: close` (a 101's `Connection` is its `Upgrade`).
        let keep = keep && (!sink.close || status == 101);
        self.answered_at = worker.observer.observe(&Observed {
            endpoint: current.get(),
            method: head.method,
            path: head.path.of(&self.rbuf),
            status,
            body_bytes,
            started,
            peer: self.peer,
            client,
            completed: exchanged.completed,
            ended,
            trace: exchanged.trace.as_ref(),
        });
        (keep, consumed, behind)
    }
}

/// The HTTP/1.1 codec's side of a response: writes straight into the
/// connection's output buffer (no copy, no allocation), which goes out in
/// one write when the response is done or with a streamed body's first
/// piece.
struct H1Sink<'a> {
    stream: &'a mut Stream,
    out: &'a mut Vec<u8>,
    /// `Connection: close` (the client asked, or the worker drains).
    close: bool,
    head_only: bool,
    status: u16,
    body_bytes: usize,
    /// No write has failed.
    sent_ok: bool,
    /// The request body, when it is streamed.
    upload: Option<Upload<'a>>,
}

impl RequestBody for H1Sink<'_> {
    fn pending(&self) -> Option<Option<u64>> {
        self.upload.as_ref().map(Upload::announced)
    }

    async fn next_piece(&mut self) -> Result<&[u8], BodyCut> {
        match &mut self.upload {
            Some(upload) => upload.next(self.stream).await,
            None => Ok(&[]),
        }
    }
}

impl ResponseSink for H1Sink<'_> {
    const PASSES_CHUNKS: bool = true;
    const UPGRADES: bool = true;

    fn status(&mut self, status: u16) {
        self.status = status;
        write_status_line(self.out, status);
    }

    fn header(&mut self, name: &[u8], value: &[u8]) {
        write_header(self.out, name, value);
    }

    fn header_lines(&mut self, lines: &[u8]) {
        self.out.extend_from_slice(lines);
    }

    fn end_head(&mut self, framing: Framing) {
        match framing {
            Framing::None => {}
            Framing::Length(n) => {
                write_content_length(self.out, usize::try_from(n).unwrap_or(usize::MAX));
            }
            Framing::Streamed => write_header(self.out, b"Transfer-Encoding", b"chunked"),
        }
        // A streamed request body not read to its end leaves the rest on
        // the connection, which closes after this response.
        let unread = self.upload.as_ref().is_some_and(|u| !u.is_done());
        // A 101's `Connection` is its `Upgrade`.
        if (self.close || unread) && self.status != 101 {
            write_header(self.out, b"Connection", b"close");
        }
        self.out.extend_from_slice(b"\r\n");
    }

    fn body(&mut self, body: &[u8]) {
        if !self.head_only {
            self.out.extend_from_slice(body);
            self.body_bytes += body.len();
        }
    }

    async fn send(&mut self, data: &[u8]) -> bool {
        // The head (and anything else held) leaves in the same write.
        let bytes: &[u8] = if self.out.is_empty() {
            data
        } else {
            self.out.extend_from_slice(data);
            self.out
        };
        if self.sent_ok && !bytes.is_empty() {
            self.sent_ok = self.stream.write_all(bytes).await.is_ok();
        }
        self.out.clear();
        self.sent_ok
    }

    async fn end(&mut self) -> bool {
        self.send(&[]).await
    }

    fn written_status(&self) -> u16 {
        self.status
    }
}

/// The largest buffered response whose write is not counted in the
/// request's duration (as KrakenD's 4 KiB response buffer).
const ONE_WRITE_BYTES: usize = 4096;

/// Closes a connection whose client may still be sending (a rejected
/// request's body, pipelined requests): closing with unread input makes the
/// kernel send a reset, which can destroy the error response before the
/// client reads it. So: stop writing (FIN), read and discard what is already
/// coming for a short, bounded while, then close.
pub async fn close_after_error(stream: &mut Stream) {
    const DRAIN_BYTES: usize = 64 * 1024;
    const DRAIN_TIME: std::time::Duration = std::time::Duration::from_millis(100);
    stream.shutdown_write();
    let deadline = Instant::now() + DRAIN_TIME;
    let mut sink = [0u8; 4096];
    let mut left = DRAIN_BYTES;
    while left > 0 && Instant::now() < deadline {
        match stream.read_until(&mut sink, deadline).await {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}
