//! A request body the HTTP/1.1 codec leaves to the request path: a no-op
//! endpoint's upload that had not all arrived with its head
//! (`proxy::exchange::streams_body`). The request path pulls it piece by
//! piece (`http::RequestBody`) as the backend takes it, so a slow backend
//! pauses the client instead of the gateway holding the body; what it
//! holds is the worker's pooled body buffer, [`PIECE`] bytes.

use std::time::Instant;

use crate::http::{BodyCut, ChunkError, ChunkLimits, ChunkedDecoder};
use crate::rt::{Stream, Timer};

/// The most one read of a streamed body takes: the pool's largest kept
/// buffer (`buffers::KEEP_BYTES`), so the buffer goes back to the pool.
pub const PIECE: usize = 16 * 1024;

/// How the rest of the body is delimited.
pub enum Framing {
    /// `Content-Length`: this many bytes are still to come.
    Length(u64),
    /// Chunked: decoded into `data`, a piece at a time.
    Chunked {
        decoder: Box<ChunkedDecoder>,
        data: Vec<u8>,
        done: bool,
    },
}

/// Where a streamed body stands.
pub struct Upload<'a> {
    /// The body's bytes that came with the head (in the read buffer) and
    /// were not handed out yet; after a chunked body's end, the pipelined
    /// bytes behind it.
    early: &'a [u8],
    /// The worker's pooled buffer the rest is read into.
    raw: &'a mut Vec<u8>,
    /// `raw[start..end]`: read, not yet decoded (chunked).
    start: usize,
    end: usize,
    framing: Framing,
    announced: Option<u64>,
    /// The whole request must be in by then (`read_timeout`).
    deadline: Instant,
    timer: &'a mut Timer,
    /// A configured `max_body_bytes` (chunked bodies; a Content-Length
    /// over it is refused before).
    limit: Option<u64>,
    received: u64,
    cut: Option<BodyCut>,
}

impl<'a> Upload<'a> {
    /// `early`: what of the body is in the read buffer already.
    pub fn new(
        early: &'a [u8],
        raw: &'a mut Vec<u8>,
        announced: Option<u64>,
        deadline: Instant,
        timer: &'a mut Timer,
        limit: Option<usize>,
    ) -> Upload<'a> {
        let limit = limit.map(|l| u64::try_from(l).unwrap_or(u64::MAX));
        let framing = match announced {
            Some(len) => Framing::Length(len),
            None => Framing::Chunked {
                decoder: Box::new(ChunkedDecoder::new(ChunkLimits {
                    max_data_bytes: limit.unwrap_or(u64::MAX),
                    ..ChunkLimits::default()
                })),
                data: Vec::with_capacity(PIECE),
                done: false,
            },
        };
        raw.clear();
        raw.resize(PIECE, 0);
        Upload {
            early,
            raw,
            start: 0,
            end: 0,
            framing,
            announced,
            deadline,
            timer,
            limit,
            received: 0,
            cut: None,
        }
    }

    pub fn announced(&self) -> Option<u64> {
        self.announced
    }

    /// The whole body was read.
    pub fn is_done(&self) -> bool {
        match &self.framing {
            Framing::Length(left) => *left == 0,
            Framing::Chunked { done, .. } => *done,
        }
    }

    /// Why it stopped before its end, if it did.
    pub fn cut(&self) -> Option<BodyCut> {
        self.cut
    }

    /// Bytes read behind a chunked body's end (the next pipelined
    /// request): how many of the early ones are left, and where those read
    /// into the body buffer lie (only one of the two is ever non-empty).
    pub fn behind(&self) -> (usize, std::ops::Range<usize>) {
        (self.early.len(), self.start..self.end)
    }

    /// The next piece of body data; empty at its end.
    pub async fn next(&mut self, stream: &mut Stream) -> Result<&[u8], BodyCut> {
        if let Some(cut) = self.cut {
            return Err(cut);
        }
        let got = self.advance(stream).await;
        if let Err(cut) = got {
            self.cut = Some(cut);
            return Err(cut);
        }
        Ok(match &self.framing {
            Framing::Length(_) => match got {
                Ok(Piece::Early(n)) => {
                    let (piece, rest) = self.early.split_at(n);
                    self.early = rest;
                    piece
                }
                Ok(Piece::Raw(n)) => &self.raw[..n],
                _ => &[],
            },
            Framing::Chunked { data, .. } => &data[..],
        })
    }

    /// Reads and decodes until there is a piece (or the end).
    async fn advance(&mut self, stream: &mut Stream) -> Result<Piece, BodyCut> {
        match &mut self.framing {
            Framing::Length(0) => Ok(Piece::End),
            Framing::Length(left) => {
                let wanted = usize::try_from(*left).unwrap_or(usize::MAX);
                if !self.early.is_empty() {
                    let n = self.early.len().min(wanted);
                    *left -= n as u64;
                    return Ok(Piece::Early(n));
                }
                let room = wanted.min(self.raw.len());
                let read = stream.read(&mut self.raw[..room]);
                let n = read_result(self.timer.until(self.deadline, read).await)?;
                *left -= n as u64;
                Ok(Piece::Raw(n))
            }
            Framing::Chunked {
                decoder,
                data,
                done,
            } => loop {
                data.clear();
                if *done {
                    return Ok(Piece::End);
                }
                let from_early = !self.early.is_empty();
                let input = if from_early {
                    self.early
                } else {
                    &self.raw[self.start..self.end]
                };
                let progress = decoder.decode(input, Some(data)).map_err(|e| match e {
                    ChunkError::TooLarge => BodyCut::TooLarge,
                    _ => BodyCut::Malformed,
                })?;
                if from_early {
                    self.early = &self.early[progress.consumed..];
                } else {
                    self.start += progress.consumed;
                }
                self.received += data.len() as u64;
                if self.limit.is_some_and(|limit| self.received > limit) {
                    return Err(BodyCut::TooLarge);
                }
                *done = progress.done;
                if !data.is_empty() {
                    return Ok(Piece::Data);
                }
                if *done {
                    return Ok(Piece::End);
                }
                if from_early && !self.early.is_empty() {
                    continue;
                }
                // More is needed: what is left undecoded moves to the front.
                self.raw.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.end == self.raw.len() {
                    // A chunk line longer than the buffer.
                    return Err(BodyCut::Malformed);
                }
                let read = stream.read(&mut self.raw[self.end..]);
                self.end += read_result(self.timer.until(self.deadline, read).await)?;
            },
        }
    }
}

enum Piece {
    /// This many of the early bytes.
    Early(usize),
    /// This many bytes at the front of the body buffer.
    Raw(usize),
    /// Decoded into the chunked framing's data.
    Data,
    End,
}

fn read_result(read: Option<std::io::Result<usize>>) -> Result<usize, BodyCut> {
    match read {
        Some(Ok(0)) | Some(Err(_)) => Err(BodyCut::Gone),
        Some(Ok(n)) => Ok(n),
        None => Err(BodyCut::TimedOut),
    }
}
