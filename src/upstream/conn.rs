//! One keep-alive connection to a backend and the framing of its responses.

use std::time::Duration;

use super::error::BackendError;
use super::pool::BackendConn;
use crate::http::{
    ChunkError, ChunkLimits, ChunkedDecoder, Method, Parse, ResponseBody, ResponseHead,
    ResponseHeadReader, ResponseSink,
};

/// Largest response head accepted from a backend.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

impl BackendConn {
    /// Whether any byte of the current request was written: a request
    /// that was not may be sent again elsewhere whatever its method.
    pub fn wrote_any(&self) -> bool {
        self.wrote
    }

    pub async fn send(&mut self, request: &[u8]) -> Result<(), BackendError> {
        let mut written = 0;
        while written < request.len() {
            match self.stream.write(&request[written..]).await {
                Ok(0) => return Err(BackendError::Io("connection closed while sending".into())),
                Ok(n) => {
                    written += n;
                    self.wrote = true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(BackendError::io(e)),
            }
        }
        Ok(())
    }

    /// Reads more bytes; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> Result<usize, BackendError> {
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
            .await
            .map_err(BackendError::io)?;
        self.end += n;
        Ok(n)
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads the response head, skipping interim 1xx responses. The head's
    /// spans point into [`BackendConn::head_bytes`] until the next read.
    pub async fn read_head(&mut self, method: Method) -> Result<ResponseHead, BackendError> {
        let mut got_any = false;
        // Scans only the bytes that arrived since the last read. Its offsets are relative to
        // `pending()`, whose bytes `fill` may move but never changes.
        let mut reader = ResponseHeadReader::new();
        loop {
            match reader.poll(self.pending(), method, MAX_RESPONSE_HEAD) {
                Ok(Parse::Complete(head)) if (100..200).contains(&head.status) => {
                    self.start += head.head_len;
                    reader = ResponseHeadReader::new();
                    // The final head may have come in the same read.
                    continue;
                }
                Ok(Parse::Complete(head)) => return Ok(head),
                Ok(Parse::Partial) => {}
                Err(e) => return Err(BackendError::BadResponse(e.to_string())),
            }
            if self.fill().await? == 0 {
                return Err(if got_any || self.start != self.end {
                    BackendError::BadResponse("connection closed in the response head".into())
                } else {
                    BackendError::ClosedBeforeResponse
                });
            }
            got_any = true;
        }
    }

    /// The bytes the last [`BackendConn::read_head`] parsed (its spans index this).
    pub fn head_bytes(&self) -> &[u8] {
        self.pending()
    }

    /// Marks the head as consumed; the body follows.
    pub fn consume_head(&mut self, head: &ResponseHead) {
        self.start += head.head_len;
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
                    if self.fill().await? == 0 {
                        return Err(BackendError::BadResponse(
                            "body shorter than its Content-Length".into(),
                        ));
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
                                e => BackendError::BadResponse(format!("chunked body: {e}")),
                            })?;
                    self.start += progress.consumed;
                    if out.len() > max {
                        return Err(BackendError::TooLarge(max));
                    }
                    if progress.done {
                        return Ok(());
                    }
                    if self.fill().await? == 0 {
                        return Err(BackendError::BadResponse("chunked body cut short".into()));
                    }
                }
            }
            ResponseBody::UntilClose => loop {
                out.extend_from_slice(self.pending());
                self.start = self.end;
                if out.len() > max {
                    return Err(BackendError::TooLarge(max));
                }
                if self.fill().await? == 0 {
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
        let cut_short = |what: &str| RelayError::Backend(BackendError::BadResponse(what.into()));
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
                    if self.fill().await.map_err(RelayError::Backend)? == 0 {
                        return Err(cut_short("body shorter than its Content-Length"));
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
                    .map_err(|e| cut_short(&format!("chunked body: {e}")))?;
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
                    if self.fill().await.map_err(RelayError::Backend)? == 0 {
                        return Err(cut_short("chunked body cut short"));
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
                    if self.fill().await.map_err(RelayError::Backend)? == 0 {
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
