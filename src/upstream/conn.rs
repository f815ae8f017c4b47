//! One keep-alive connection to a backend and the framing of its responses.
//!
//! A connection knows nothing of pools: `pool::Lease` lends one out and
//! takes it back.

use std::io;
use std::time::Duration;

use crate::rt::Stream;

use super::error::{BackendError, Malformed};
use crate::http::{
    ChunkError, ChunkLimits, ChunkedDecoder, LAST_CHUNK, Method, Parse, RequestBody, ResponseBody,
    ResponseHead, ResponseHeadReader, ResponseSink,
};

const READ_CHUNK: usize = 16 * 1024;
/// Largest response head accepted from a backend.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// A connection to a backend and what one exchange does on it; its pool
/// lends it out wrapped in a `pool::Lease`.
pub struct BackendConn {
    stream: Stream,
    /// Bounds each read (`None`: unbounded), see [`BackendConn::set_read_timeout`].
    read_timeout: Option<Duration>,
    /// `buf[start..end]` holds bytes read but not consumed yet.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Came from the idle list: the backend may have closed it meanwhile.
    reused: bool,
    /// Some byte of the current exchange's request reached the socket.
    wrote: bool,
    /// The backend answered before the whole request body was sent: the
    /// rest of it would be read as the next request, so the connection is
    /// not reused.
    body_unsent: bool,
    /// When it last went back to the pool (recorded only when a pool
    /// setting needs it: `idle_connection_timeout`, `max_idle_connections`).
    idle_since: Option<std::time::Instant>,
    /// The last response head read ([`BackendConn::read_head`]), its
    /// spans into [`BackendConn::head_bytes`]. Parsed in place and lent
    /// out by reference: a head (some 550 bytes) returned by value would
    /// be copied at every level of a backend call, and into every future
    /// that holds it across an await. (The pool keeps a connection boxed,
    /// so a lease stays small too.)
    head: ResponseHead,
}

impl BackendConn {
    pub(super) fn new(stream: Stream) -> BackendConn {
        BackendConn {
            stream,
            read_timeout: None,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            reused: false,
            wrote: false,
            body_unsent: false,
            idle_since: None,
            head: ResponseHead::default(),
        }
    }

    pub(super) fn mark_idle(&mut self, now: std::time::Instant) {
        self.idle_since = Some(now);
    }

    /// When it went back to the pool (now if no setting asked to record it).
    pub(super) fn idle_since(&self) -> std::time::Instant {
        self.idle_since.unwrap_or_else(std::time::Instant::now)
    }

    /// Ready for the next exchange, as a connection from the pool.
    pub(super) fn reset_for_reuse(&mut self) {
        self.set_read_timeout(None);
        self.reused = true;
        self.wrote = false;
        self.body_unsent = false;
    }

    /// Whether every byte read was consumed: the exchange ended cleanly
    /// and nothing of it can poison the next one.
    pub(super) fn is_drained(&self) -> bool {
        self.start == self.end && !self.body_unsent
    }

    /// An idle connection with something to read (unsolicited bytes, end of
    /// stream, an error) must not carry another exchange. One non-blocking
    /// read attempt: it never waits.
    pub(super) fn is_stale(&mut self) -> bool {
        self.stream.has_input()
    }

    pub fn is_reused(&self) -> bool {
        self.reused
    }

    /// Whether any byte of the current request was written: a request
    /// that was not may be sent again elsewhere whatever its method.
    pub fn wrote_any(&self) -> bool {
        self.wrote
    }

    pub async fn send(&mut self, request: &[u8]) -> Result<(), BackendError> {
        let mut written = 0;
        while written < request.len() {
            match self.stream.write(&request[written..]).await {
                Ok(0) => {
                    return Err(BackendError::io_before_response(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "connection closed while sending",
                    )));
                }
                Ok(n) => {
                    written += n;
                    self.wrote = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // No response byte can have come yet.
                Err(e) => return Err(BackendError::io_before_response(e)),
            }
        }
        Ok(())
    }

    /// Sends a streamed request body as `body` yields it, after its head
    /// went with [`send`](Self::send): each piece as it is (the head
    /// announced its Content-Length) or as one chunk. Each read of the
    /// client waits until the backend took the previous piece, so a slow
    /// backend pauses the client and nothing piles up here. A backend that
    /// answers before it read the body (a 413, as nginx relays it) stops
    /// the sending: its head is read as usual and the connection is not
    /// reused (`body_unsent`). A client that stops sending fails the call
    /// with [`BackendError::RequestBodyCut`]; the caller drops the
    /// connection. The body can be sent only once: nothing here retries.
    pub async fn send_body<B: RequestBody>(
        &mut self,
        body: &mut B,
        chunked: bool,
    ) -> Result<(), BackendError> {
        let mut framed = Vec::new();
        loop {
            let piece = body
                .next_piece()
                .await
                .map_err(|_| BackendError::RequestBodyCut)?;
            let last = piece.is_empty();
            let answered = if !chunked {
                last || self.write_or_answer(piece).await
            } else if last {
                self.write_or_answer(LAST_CHUNK).await
            } else {
                // One write a chunk: its size line, data and CRLF.
                framed.clear();
                crate::http::encode_chunk(piece, &mut framed);
                self.write_or_answer(&framed).await
            };
            if answered {
                self.body_unsent = !last;
                return Ok(());
            }
            if last {
                return Ok(());
            }
        }
    }

    /// Writes `bytes` unless the backend answers (or fails) first, which
    /// only a write that has to wait gives it time to do. True: stop
    /// sending and read the answer (a failed write included: the answer
    /// may be there; if not, reading the head fails).
    async fn write_or_answer(&mut self, bytes: &[u8]) -> bool {
        match self.stream.write_unless_answered(bytes).await {
            Some(Ok(true)) => {
                self.wrote = true;
                return false;
            }
            Some(_) => return true,
            // TLS (or a test's in-memory pipe): race a split's halves.
            None => {}
        }
        if self.end == self.buf.len() {
            // Room for an early answer; pending bytes are none yet here.
            self.start = 0;
            self.end = 0;
        }
        let (mut reader, mut writer) = crate::rt::split(&mut self.stream);
        let room = &mut self.buf[self.end..];
        let raced = futures_lite::future::or(
            async { writer.write_all(bytes).await.map(|()| None) },
            async { reader.read(room).await.map(Some) },
        )
        .await;
        match raced {
            Ok(None) => {
                self.wrote = true;
                false
            }
            Ok(Some(n)) => {
                self.end += n;
                true
            }
            Err(_) => true,
        }
    }

    /// Reads more bytes; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = self
            .stream
            .read_within(&mut self.buf[self.end..], self.read_timeout)
            .await?;
        self.end += n;
        Ok(n)
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads the response head, skipping interim 1xx responses; it is
    /// [`BackendConn::head`] then. The head's spans point into
    /// [`BackendConn::head_bytes`] until the next read.
    pub async fn read_head(&mut self, method: Method) -> Result<(), BackendError> {
        let mut got_any = false;
        // Scans only the bytes that arrived since the last read. Its offsets are relative to
        // `pending()`, whose bytes `fill` may move but never changes.
        let mut reader = ResponseHeadReader::new();
        loop {
            let pending = &self.buf[self.start..self.end];
            match reader.poll_into(pending, method, MAX_RESPONSE_HEAD, &mut self.head) {
                Ok(Parse::Complete(())) if self.head.is_interim() => {
                    self.start += self.head.head_len;
                    reader = ResponseHeadReader::new();
                    // The final head may have come in the same read.
                    continue;
                }
                Ok(Parse::Complete(())) => return Ok(()),
                Ok(Parse::Partial) => {}
                Err(e) => return Err(BackendError::BadResponse(Malformed::Head(e))),
            }
            let before_response = !got_any && self.start == self.end;
            let read = self.fill().await.map_err(|e| {
                if before_response {
                    BackendError::io_before_response(e)
                } else {
                    BackendError::io(e)
                }
            });
            if read? == 0 {
                return Err(if before_response {
                    BackendError::ClosedBeforeResponse
                } else {
                    BackendError::BadResponse(Malformed::HeadCut)
                });
            }
            got_any = true;
        }
    }

    /// The head the last [`BackendConn::read_head`] read.
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// The bytes the last [`BackendConn::read_head`] parsed (its spans index this).
    pub fn head_bytes(&self) -> &[u8] {
        self.pending()
    }

    /// Marks the head as consumed; the body follows.
    pub fn consume_head(&mut self) {
        self.start += self.head.head_len;
    }

    /// Reads the whole (de-chunked) body into `out`, at most `max` bytes.
    pub async fn read_body(
        &mut self,
        framing: &ResponseBody,
        max: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), BackendError> {
        match *framing {
            ResponseBody::Empty => Ok(()),
            ResponseBody::Length(len) => {
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > max {
                    return Err(BackendError::TooLarge(max));
                }
                out.reserve(len);
                let mut left = len;
                loop {
                    let take = left.min(self.end - self.start);
                    out.extend_from_slice(&self.buf[self.start..self.start + take]);
                    self.start += take;
                    left -= take;
                    if left == 0 {
                        return Ok(());
                    }
                    if self.fill().await.map_err(BackendError::io)? == 0 {
                        return Err(BackendError::BadResponse(Malformed::BodyShort));
                    }
                }
            }
            ResponseBody::Chunked => {
                let mut decoder = ChunkedDecoder::new(ChunkLimits {
                    max_data_bytes: u64::try_from(max).unwrap_or(u64::MAX),
                    ..ChunkLimits::default()
                });
                loop {
                    let progress =
                        decoder
                            .decode(self.pending(), Some(out))
                            .map_err(|e| match e {
                                ChunkError::TooLarge => BackendError::TooLarge(max),
                                e => BackendError::BadResponse(Malformed::Chunked(e)),
                            })?;
                    self.start += progress.consumed;
                    if out.len() > max {
                        return Err(BackendError::TooLarge(max));
                    }
                    if progress.done {
                        return Ok(());
                    }
                    if self.fill().await.map_err(BackendError::io)? == 0 {
                        return Err(BackendError::BadResponse(Malformed::ChunkedCut));
                    }
                }
            }
            ResponseBody::UntilClose => loop {
                out.extend_from_slice(self.pending());
                self.start = self.end;
                if out.len() > max {
                    return Err(BackendError::TooLarge(max));
                }
                if self.fill().await.map_err(BackendError::io)? == 0 {
                    return Ok(());
                }
            },
        }
    }

    /// Passes the body through to the client's codec as it arrives, one
    /// read at a time (the next read waits until the codec took this one,
    /// so a client that does not read pauses the backend): Content-Length
    /// bodies as they are; chunked bodies with their chunks to a codec that
    /// passes chunks on (HTTP/1.1), decoded otherwise; close-delimited
    /// bodies as chunks to the former. The codec sends the response head
    /// it holds with the first piece, so a small response costs one write.
    pub async fn relay_body<S: ResponseSink>(
        &mut self,
        framing: &ResponseBody,
        sink: &mut S,
    ) -> Result<(), RelayError> {
        let cut_short = |how| RelayError::Backend(BackendError::BadResponse(how));
        let fill_error = |e| RelayError::Backend(BackendError::io(e));
        match *framing {
            ResponseBody::Empty => {}
            ResponseBody::Length(len) => {
                let mut left = len;
                loop {
                    let take =
                        (self.end - self.start).min(usize::try_from(left).unwrap_or(usize::MAX));
                    emit(sink, &self.buf[self.start..self.start + take]).await?;
                    self.start += take;
                    left -= take as u64;
                    if left == 0 {
                        break;
                    }
                    if self.fill().await.map_err(fill_error)? == 0 {
                        return Err(cut_short(Malformed::BodyShort));
                    }
                }
            }
            ResponseBody::Chunked => {
                let mut decoder = ChunkedDecoder::new(ChunkLimits::default());
                // A sink that takes data gets each read's chunks decoded.
                let mut data = Vec::new();
                loop {
                    let progress = if S::PASSES_CHUNKS {
                        decoder.decode(self.pending(), None)
                    } else {
                        data.clear();
                        decoder.decode(self.pending(), Some(&mut data))
                    }
                    .map_err(|e| cut_short(Malformed::Chunked(e)))?;
                    let piece = if S::PASSES_CHUNKS {
                        &self.buf[self.start..self.start + progress.consumed]
                    } else {
                        &data[..]
                    };
                    emit(sink, piece).await?;
                    self.start += progress.consumed;
                    if progress.done {
                        break;
                    }
                    if self.fill().await.map_err(fill_error)? == 0 {
                        return Err(cut_short(Malformed::ChunkedCut));
                    }
                }
            }
            ResponseBody::UntilClose => {
                // Re-framed in chunks for a sink that passes chunks on.
                let mut chunk = Vec::new();
                loop {
                    let data = &self.buf[self.start..self.end];
                    let piece = if S::PASSES_CHUNKS && !data.is_empty() {
                        chunk.clear();
                        crate::http::encode_chunk(data, &mut chunk);
                        &chunk[..]
                    } else {
                        data
                    };
                    emit(sink, piece).await?;
                    self.start = self.end;
                    if self.fill().await.map_err(fill_error)? == 0 {
                        if S::PASSES_CHUNKS {
                            emit(sink, crate::http::LAST_CHUNK).await?;
                        }
                        break;
                    }
                }
            }
        }
        if sink.end().await {
            Ok(())
        } else {
            Err(RelayError::Client)
        }
    }

    /// Bounds each read on this connection (`None`: unbounded). For bodies
    /// read outside the endpoint's deadline (no-op streaming): a backend
    /// that stops sending mid-body fails instead of holding the client.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout.filter(|t| !t.is_zero());
    }
}

/// Hands `data` to the client's codec.
async fn emit<S: ResponseSink>(sink: &mut S, data: &[u8]) -> Result<(), RelayError> {
    if sink.send(data).await {
        Ok(())
    } else {
        Err(RelayError::Client)
    }
}

/// Why relaying a body stopped early.
#[derive(Debug)]
pub enum RelayError {
    Backend(BackendError),
    /// The client went away; the backend connection must be dropped.
    Client,
}
