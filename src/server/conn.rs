//! The per-connection driver: read, parse, route, proxy, write, keep-alive.
//!
//! Requests on one connection are handled one after the other, so
//! pipelined requests are answered in order. The head is parsed in place in
//! the read buffer; spans index it until the request is answered, then the
//! bytes of the next request (if any arrived) move to the front.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use std::cell::Cell;

use crate::rt::{Stream, Timer};

use super::Current;
use super::buffers::{self, Buffers};
use super::builtin;
use super::client_ip::client_ip;
use super::edge::{EdgeRequest, Screen};
use super::observe::Observed;
use super::worker::Worker;
use crate::config::OutputEncoding;
use crate::http::{
    BodyFraming, ChunkError, ChunkLimits, ChunkedDecoder, HeadLimits, Method, Parse, RequestHead,
    RequestHeadReader, write_error_response, write_header, write_status_line,
};
use crate::proxy::{
    self, CallContext, ClientRequest, NoOpEnd, RequestFacts, ResponseContext, StepInput,
};
use crate::router::{Params, RouteMatch};

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
    /// The encoded response body, before it is copied behind the head.
    response_body: Vec<u8>,
    headers: Vec<u8>,
    scratch: Vec<u8>,
    /// Header lines the edge screen adds to this request's response.
    decor: Vec<u8>,
    /// Bounds the waits for the client's bytes (idle, head, body).
    read_timer: Timer,
    /// Bounds the backend calls of a request (the endpoint timeout).
    backend_timer: Timer,
    /// The observer's clock reading as the last response was done: the
    /// next request's idle wait starts from it (one clock read less).
    answered_at: Option<Instant>,
    /// Not yet waited for its first bytes (see `readable`).
    fresh: bool,
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
        response_body: Vec::new(),
        headers: Vec::new(),
        scratch: Vec::new(),
        decor: Vec::new(),
        read_timer: Timer::new(),
        backend_timer: Timer::new(),
        answered_at: None,
        fresh: true,
    };
    loop {
        endpoint.set(None);
        match conn.serve_one(&current, endpoint).await {
            Ok(true) => continue,
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
        self.response_body = response_body;
        self.headers = headers;
        self.scratch = scratch;
        self.decor = decor;
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
            response_body: take(&mut self.response_body),
            headers: take(&mut self.headers),
            scratch: take(&mut self.scratch),
            decor: take(&mut self.decor),
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
            if waiting.drain.is_draining() {
                return Err(Stop::Quietly);
            }
            let readable = futures_lite::future::or(self.readable(idle_deadline), async {
                waiting.drain.wait().await;
                Err(ErrorKind::Interrupted)
            })
            .await;
            if readable.is_err() {
                return Err(Stop::Quietly);
            }
        }
        self.take_buffers();
        // Looks only at the bytes that arrived since the last read; parses in full when the
        // head is complete (and a few bounded times before, for early refusals).
        let mut reader = RequestHeadReader::new();
        let head = loop {
            if self.end > 0 {
                match reader.poll(&self.rbuf[..self.end], &head_limits) {
                    Ok(Parse::Complete(head)) => break head,
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
                // Between requests, a graceful shutdown closes the connection at once.
                if waiting.drain.is_draining() {
                    return Err(Stop::Quietly);
                }
                futures_lite::future::or(read, async {
                    waiting.drain.wait().await;
                    Err(ErrorKind::Interrupted)
                })
                .await
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
        };
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
        let (body_start, body_end, consumed) = self
            .read_body(&head, limits.max_body_bytes, request_deadline)
            .await?;
        // Boxed: the answer's state (backend calls) is allocated per
        // request, not part of every connection's future, idle ones too.
        let keep = Box::pin(self.respond(
            worker,
            &head,
            (body_start, body_end),
            started.unwrap_or_else(Instant::now),
            endpoint,
        ))
        .await
            && head.keep_alive
            && !worker.drain.is_draining();
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
        for buf in [
            &mut self.out,
            &mut self.body,
            &mut self.response_body,
            &mut self.scratch,
        ] {
            if buf.capacity() > KEEP_BUFFER {
                *buf = Vec::new();
            }
        }
    }

    /// Reads the body. Content-Length bodies stay in `rbuf` right after the
    /// head; chunked ones are decoded into `self.body`. Returns where the
    /// body lies (`usize::MAX` start: in `self.body`) and how many bytes of
    /// `rbuf` the request used.
    async fn read_body(
        &mut self,
        head: &RequestHead,
        max_body: usize,
        deadline: Instant,
    ) -> Result<(usize, usize, usize), Stop> {
        let head_len = head.head_len;
        match head.body {
            BodyFraming::None => Ok((head_len, head_len, head_len)),
            BodyFraming::Length(len) => {
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > max_body {
                    return Err(Stop::Reject(413, "request entity too large"));
                }
                let total = head_len + len;
                if self.end < total {
                    self.send_continue(head).await?;
                }
                // `fill` grows the buffer as bytes arrive: a Content-Length
                // alone must not make us set aside the memory it announces.
                while self.end < total {
                    self.read_more_body(total, deadline).await?;
                }
                Ok((head_len, total, total))
            }
            BodyFraming::Chunked => {
                self.send_continue(head).await?;
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
                        return Ok((usize::MAX, 0, pos));
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

    /// Screens, routes and answers, then reports the request to the
    /// worker's observer; false when the connection must close.
    async fn respond(
        &mut self,
        worker: &Worker,
        head: &RequestHead,
        body: (usize, usize),
        started: Instant,
        current: &Cell<Option<usize>>,
    ) -> bool {
        let client = client_ip(
            worker.config.router.client_ip.as_ref(),
            self.peer.ip(),
            head,
            &self.rbuf,
        );
        let answer = self.answer(worker, head, body, client, current).await;
        let buf = &self.rbuf[..];
        self.answered_at = worker.observer.observe(&Observed {
            endpoint: current.get(),
            method: head.method,
            path: head.path.of(buf),
            status: answer.status,
            body_bytes: answer.body_bytes,
            started,
            peer: self.peer,
            client,
            completed: answer.completed,
            ended: answer.ended,
        });
        answer.keep
    }

    /// Writes the response to one request.
    async fn answer(
        &mut self,
        worker: &Worker,
        head: &RequestHead,
        (body_start, body_end): (usize, usize),
        client: IpAddr,
        current: &Cell<Option<usize>>,
    ) -> Answer {
        let Connection {
            stream,
            peer,
            secure,
            rbuf,
            out,
            body,
            response_body,
            headers,
            scratch,
            decor,
            backend_timer,
            ..
        } = self;
        let buf = &rbuf[..];
        let request_body: &[u8] = if body_start == usize::MAX {
            body
        } else {
            &buf[body_start..body_end]
        };
        let path = head.path.of(buf);
        let date = worker.date();
        decor.clear();
        let screen = worker.edge.screen(
            &EdgeRequest {
                head,
                buf,
                peer: *peer,
                secure: *secure,
            },
            decor,
        );
        let ctx = context(worker, head, buf, &date, decor);
        out.clear();
        if let Screen::Answer(refusal) = screen {
            proxy::write_refusal(&ctx, &refusal, out);
            return Answer::buffered(stream.write_all(out).await.is_ok(), out, None);
        }
        if let Some(()) = builtin::answer(worker, head, buf, request_body, &ctx, out) {
            return Answer::buffered(stream.write_all(out).await.is_ok(), out, None);
        }
        let router = &worker.config.router;
        // gin's `RemoveExtraSlash`: the cleaned path is routed, and the
        // parameters are taken from it.
        let cleaned;
        let routed: &[u8] = if router.remove_extra_slash && !crate::router::is_clean(path) {
            cleaned = crate::router::clean_path(path);
            &cleaned
        } else {
            path
        };
        let (endpoint, params): (usize, Params) = match worker.router.route(head.method, routed) {
            RouteMatch::Found { endpoint, params } => (endpoint, params),
            RouteMatch::MethodNotAllowed
                if head.method == Method::Options && router.auto_options =>
            {
                decor.extend_from_slice(&worker.version_header);
                let ctx = context(worker, head, buf, &date, decor);
                write_auto_options(out, &worker.router.allowed_methods(routed), &ctx);
                return Answer::buffered(stream.write_all(out).await.is_ok(), out, None);
            }
            RouteMatch::NotFound {
                redirect: Some(location),
            } => {
                write_redirect(out, head, buf, &location, &ctx);
                return Answer::buffered(stream.write_all(out).await.is_ok(), out, None);
            }
            RouteMatch::MethodNotAllowed | RouteMatch::NotFound { redirect: None } => {
                // krakend-ce's NoRoute and NoMethod handlers (`router_engine.go`,
                // `defaultHandler`) name the gateway and call the response
                // incomplete, with or without an `error_body`.
                decor.extend_from_slice(&worker.version_header);
                let ctx = context(worker, head, buf, &date, decor);
                // gin's `serveError` (text) or krakend-ce's `jsonHandler`
                // for a configured `error_body`. Without gin's
                // `HandleMethodNotAllowed` every miss is a 404.
                let allow = router
                    .method_not_allowed
                    .then(|| worker.allow_for_405(head.method, routed))
                    .flatten();
                let (status, error_body, plain): (u16, _, &[u8]) = match allow {
                    Some(_) => (405, &router.error_body_405, b"405 method not allowed"),
                    None => (404, &router.error_body_404, b"404 page not found"),
                };
                let (content_type, body): (&[u8], &[u8]) = match error_body {
                    Some(json) => (b"application/json; charset=utf-8", json),
                    None => (b"text/plain", plain),
                };
                let allow = allow.as_deref();
                write_router_answer(out, status, allow, content_type, body, true, &ctx);
                return Answer::buffered(stream.write_all(out).await.is_ok(), out, Some(false));
            }
        };
        current.set(Some(endpoint));
        // lura's `paramChecker` runs before the endpoint handler: its 400
        // has neither `X-Krakend` nor `X-KrakenD-Completed`, and its body
        // is the error whatever `return_error_msg` says.
        if router.refuse_encoded_params
            && let Some(reason) = params.iter().find_map(|&(start, end)| {
                crate::router::encoded_param(&routed[start as usize..end as usize])
            })
        {
            write_router_answer(
                out,
                400,
                None,
                b"text/plain; charset=utf-8",
                reason.as_bytes(),
                false,
                &ctx,
            );
            return Answer::buffered(stream.write_all(out).await.is_ok(), out, None);
        }
        // KrakenD's endpoint handler names itself on every response.
        decor.extend_from_slice(&worker.version_header);
        let ctx = context(worker, head, buf, &date, decor);
        #[cfg(debug_assertions)]
        worker.test_panic_trigger(endpoint);
        let plan = &worker.endpoints[endpoint];
        let req = ClientRequest {
            buf,
            head,
            routed,
            params: &params,
            body: request_body,
            peer: client,
        };
        if !proxy::params_fit_segments(plan, &req) {
            // A dot segment or an encoded slash would move the backend path.
            write_plain(
                out,
                400,
                b"400 bad request: invalid path parameter",
                false,
                &ctx,
            );
            return Answer::buffered(stream.write_all(out).await.is_ok(), out, None);
        }
        let mut facts = RequestFacts::default();
        let input = StepInput {
            plan,
            req: &req,
            now: Instant::now(),
        };
        if let Err(refusal) = proxy::run_before(&input, &mut facts) {
            proxy::write_refusal(&ctx, &refusal, out);
            let completed = refusal.completed_header.then_some(false);
            return Answer::buffered(stream.write_all(out).await.is_ok(), out, completed);
        }
        headers.clear();
        proxy::backend_headers(plan, &req, &facts, headers);
        let call = CallContext {
            plan,
            req: &req,
            pools: &worker.pools,
            headers,
            max_body: worker.config.limits.max_response_bytes,
            facts: &facts,
            metrics: worker.observer.metrics.as_ref(),
            endpoint,
            started: input.now,
            lone_call: std::cell::Cell::new(None),
        };
        if plan.output == OutputEncoding::NoOp {
            let relayed = proxy::relay(&call, &ctx, stream, out, scratch, backend_timer).await;
            return Answer {
                keep: matches!(relayed.end, NoOpEnd::Done),
                status: relayed.status,
                body_bytes: relayed.body_bytes,
                completed: Some(false),
                ended: None,
            };
        }
        let handled = proxy::handle(&call, &ctx, response_body, out, backend_timer).await;
        let mut answer = Answer::buffered(
            stream.write_all(out).await.is_ok(),
            out,
            Some(handled.complete),
        );
        if out.len() <= ONE_WRITE_BYTES {
            // A response this small leaves in one write, which waits only
            // when the client stopped reading: the proxy stage's end
            // reading also ends the request and starts the idle wait (one
            // clock read less). KrakenD's server duration, too, ends
            // before the final flush of its 4 KiB write buffer.
            answer.ended = handled.ended;
        }
        answer
    }
}

/// How one request was answered, for the connection and the observer.
struct Answer {
    /// The response went out whole; the connection may go on.
    keep: bool,
    status: u16,
    body_bytes: usize,
    completed: Option<bool>,
    /// A clock reading taken as the response was ready, when one serves
    /// as the request's end (else the observer reads the clock).
    ended: Option<Instant>,
}

/// The largest buffered response whose write is not counted in the
/// request's duration (as KrakenD's 4 KiB response buffer).
const ONE_WRITE_BYTES: usize = 4096;

impl Answer {
    /// A response written whole into `out` (status line, head, body).
    fn buffered(written: bool, out: &[u8], completed: Option<bool>) -> Answer {
        let status = out
            .get(9..12)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(0);
        let head_end = memchr::memmem::find(out, b"\r\n\r\n").map_or(out.len(), |i| i + 4);
        Answer {
            keep: written,
            status,
            body_bytes: out.len() - head_end,
            completed,
            ended: None,
        }
    }
}

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

/// What every response to this request shares (and the edge's header lines).
fn context<'a>(
    worker: &Worker,
    head: &RequestHead,
    buf: &'a [u8],
    date: &'a [u8],
    decor: &'a [u8],
) -> ResponseContext<'a> {
    ResponseContext {
        accept: head.header(buf, "accept"),
        date,
        head_only: head.method == Method::Head,
        close: !head.keep_alive || worker.drain.is_draining(),
        return_error_msg: worker.config.return_error_msg,
        decor,
    }
}

/// `router.auto_options`: an OPTIONS request to a path with routes for
/// other methods gets 200 and the list of them, as KrakenD's router does
/// (lura `registerOptionEndpoints`: `sort.Strings`, so alphabetical).
fn write_auto_options(out: &mut Vec<u8>, methods: &[Method], ctx: &ResponseContext<'_>) {
    let mut names: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
    names.sort_unstable();
    let allow = names.join(", ");
    write_status_line(out, 200);
    write_header(out, b"Allow", allow.as_bytes());
    proxy::finish(ctx, b"", out);
}

/// KrakenD's (gin's) plain-text router answers.
fn write_plain(
    out: &mut Vec<u8>,
    status: u16,
    body: &[u8],
    completed_header: bool,
    ctx: &ResponseContext<'_>,
) {
    write_router_answer(
        out,
        status,
        None,
        b"text/plain",
        body,
        completed_header,
        ctx,
    );
}

/// An answer of the router itself (404, 405, a refused parameter); `allow`
/// is a 405's `Allow`.
fn write_router_answer(
    out: &mut Vec<u8>,
    status: u16,
    allow: Option<&str>,
    content_type: &[u8],
    body: &[u8],
    completed_header: bool,
    ctx: &ResponseContext<'_>,
) {
    write_status_line(out, status);
    if let Some(allow) = allow {
        write_header(out, b"Allow", allow.as_bytes());
    }
    write_header(out, b"Content-Type", content_type);
    if completed_header {
        write_header(out, b"X-KrakenD-Completed", b"false");
    }
    proxy::finish(ctx, body, out);
}

/// A path that differs from a route only by case, extra slashes or dots, or
/// a trailing slash is redirected to it, as KrakenD's router does: 301 for
/// GET, 307 otherwise, with the body Go's `http.Redirect` writes (a link,
/// for GET only; a Content-Type for GET and HEAD).
fn write_redirect(
    out: &mut Vec<u8>,
    head: &RequestHead,
    buf: &[u8],
    location: &str,
    ctx: &ResponseContext<'_>,
) {
    let get = head.method == Method::Get;
    write_status_line(out, if get { 301 } else { 307 });
    let mut target = location.as_bytes().to_vec();
    if let Some(query) = head.query {
        target.push(b'?');
        target.extend_from_slice(query.of(buf));
    }
    write_header(out, b"Location", &target);
    if matches!(head.method, Method::Get | Method::Head) {
        write_header(out, b"Content-Type", b"text/html; charset=utf-8");
    }
    let mut body = Vec::new();
    if get {
        body.extend_from_slice(b"<a href=\"");
        for &b in &target {
            match b {
                b'&' => body.extend_from_slice(b"&amp;"),
                b'<' => body.extend_from_slice(b"&lt;"),
                b'>' => body.extend_from_slice(b"&gt;"),
                b'"' => body.extend_from_slice(b"&#34;"),
                b'\'' => body.extend_from_slice(b"&#39;"),
                _ => body.push(b),
            }
        }
        body.extend_from_slice(b"\">Moved Permanently</a>.\n\n");
    }
    proxy::finish(ctx, &body, out);
}
