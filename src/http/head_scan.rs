//! Finding the end of a head that arrives in pieces, looking at each byte once.
//!
//! httparse cannot resume: it parses from the first byte every time. Calling it after every read
//! costs O(n) per read, O(n²) for a head that trickles in (a 56 KB head read one byte at a time
//! took about 90 µs per read). [`HeadScanner`] remembers how far it looked and in which state, so
//! the full parse runs when the head is complete (plus a few bounded times before, see
//! [`RequestHeadReader`]), and a terminator split across two reads is still found.

use memchr::{memchr, memchr2, memchr3};

use super::request::{HeadLimits, RequestHead, parse_request_into};
use super::response::{ResponseError, ResponseHead, parse_response_into};
use super::{Method, Parse, RequestError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Before the start line: empty lines (CR, LF) are skipped, as httparse does.
    #[default]
    Leading,
    /// Inside the start line (request line or status line).
    StartLine,
    /// After the start line, inside a field line.
    Line,
    /// Just after an LF.
    Lf,
    /// Just after LF CR.
    LfCr,
    /// The empty line that ends the head was seen.
    Done,
}

/// Where the head ends (`\n\r\n` or `\n\n` after the start line), found incrementally.
///
/// Feed it the whole buffer each time ([`HeadScanner::scan`]): it looks only at the bytes after
/// the ones it already saw. It also tracks the start line's first two spaces, so a request target
/// that is too long can be noticed before its line ends. Byte-level syntax is left to the parser:
/// where the scanner sees an end, httparse either completes there or finds an error before it,
/// and where it sees none, httparse cannot complete.
#[derive(Debug, Clone, Default)]
pub struct HeadScanner {
    /// Bytes of the buffer looked at so far.
    pos: usize,
    state: State,
    first_space: Option<usize>,
    second_space: Option<usize>,
    /// The CR or LF that ends the start line.
    start_line_end: Option<usize>,
    end: Option<usize>,
    /// Total bytes examined over this scanner's life: the cost, for tests.
    examined: u64,
}

impl HeadScanner {
    pub fn new() -> Self {
        HeadScanner::default()
    }

    /// Looks at `buf[self.pos..]` (earlier bytes must be unchanged) and returns the length of
    /// the head (up to and including the empty line) once it is there.
    pub fn scan(&mut self, buf: &[u8]) -> Option<usize> {
        while self.end.is_none() {
            let Some(rest) = buf.get(self.pos..).filter(|r| !r.is_empty()) else {
                break;
            };
            if self.state == State::Line {
                // The common case: skip to the next LF at memchr speed.
                match memchr(b'\n', rest) {
                    Some(i) => {
                        self.examined += i as u64 + 1;
                        self.pos += i + 1;
                        self.state = State::Lf;
                    }
                    None => {
                        self.examined += rest.len() as u64;
                        self.pos += rest.len();
                    }
                }
                continue;
            }
            if self.state == State::StartLine {
                // Inside the start line only spaces (the first two) and the
                // line's end matter: skip to the next one.
                let skip = if self.second_space.is_some() {
                    memchr2(b'\r', b'\n', rest)
                } else {
                    memchr3(b' ', b'\r', b'\n', rest)
                }
                .unwrap_or(rest.len());
                self.examined += skip as u64;
                self.pos += skip;
                if skip == rest.len() {
                    continue;
                }
            }
            let byte = buf.get(self.pos).copied().unwrap_or_default();
            self.examined += 1;
            self.step(byte);
            self.pos += 1;
        }
        self.end
    }

    fn step(&mut self, byte: u8) {
        let at = self.pos;
        self.state = match (self.state, byte) {
            (State::Leading, b'\r' | b'\n') => State::Leading,
            (State::StartLine, b'\r' | b'\n') => {
                self.start_line_end = Some(at);
                if byte == b'\n' {
                    State::Lf
                } else {
                    State::Line
                }
            }
            (State::Leading | State::StartLine, b' ') => {
                if self.first_space.is_none() {
                    self.first_space = Some(at);
                } else if self.second_space.is_none() {
                    self.second_space = Some(at);
                }
                State::StartLine
            }
            (State::Leading | State::StartLine, _) => State::StartLine,
            (State::Lf | State::LfCr, b'\n') => {
                self.end = Some(at + 1);
                State::Done
            }
            (State::Lf, b'\r') => State::LfCr,
            (State::Lf | State::LfCr | State::Line, _) => State::Line,
            (State::Done, _) => State::Done,
        };
    }

    /// The head's length, once its end was seen.
    pub fn end(&self) -> Option<usize> {
        self.end
    }

    /// How many bytes of the buffer were looked at.
    pub fn scanned(&self) -> usize {
        self.pos
    }

    /// Has the start line ended (at a CR or LF)?
    pub fn start_line_done(&self) -> bool {
        self.start_line_end.is_some()
    }

    /// The length of the request target seen so far: from after the first space to the second
    /// space or the end of the line (or the last byte seen).
    pub fn target_len(&self) -> usize {
        let Some(first) = self.first_space else {
            return 0;
        };
        let end = self
            .second_space
            .or(self.start_line_end)
            .unwrap_or(self.pos);
        end.saturating_sub(first + 1)
    }

    /// Total bytes examined: stays linear in the head's length however it is split.
    pub fn examined(&self) -> u64 {
        self.examined
    }
}

/// Parses a request head that arrives in pieces: call [`RequestHeadReader::poll`] with the whole
/// buffer after each read. It runs the full [`parse_request`](super::parse_request) only when
/// that can change the answer or its cost stays linear:
///
/// - the empty line that ends the head arrived, or the buffer reached `max_head_bytes` (431);
/// - the first call, and when the start line has just ended, so a bad request line (400, 501,
///   505) is refused as soon as it is there;
/// - the target seen so far is longer than `max_uri_bytes` (414 before the line ends);
/// - the buffer doubled since the last parse: an error in a field line of a head that is still
///   arriving is refused after at most twice the bytes, and these parses sum to O(n).
///
/// The result is the one [`parse_request`](super::parse_request) gives on the same buffer.
#[derive(Debug, Clone, Default)]
pub struct RequestHeadReader {
    scanner: HeadScanner,
    parsed_len: Option<usize>,
    start_line_parsed: bool,
    parsed_bytes: u64,
}

impl RequestHeadReader {
    pub fn new() -> Self {
        RequestHeadReader::default()
    }

    /// `buf` is everything received for this request so far (earlier bytes unchanged).
    pub fn poll(
        &mut self,
        buf: &[u8],
        limits: &HeadLimits,
    ) -> Result<Parse<RequestHead>, RequestError> {
        let mut head = RequestHead::default();
        Ok(match self.poll_into(buf, limits, &mut head)? {
            Parse::Complete(()) => Parse::Complete(head),
            Parse::Partial => Parse::Partial,
        })
    }

    /// [`poll`](Self::poll) into a head the caller holds, its header list's storage reused
    /// (`Complete` says it was filled): see [`parse_request_into`].
    pub fn poll_into(
        &mut self,
        buf: &[u8],
        limits: &HeadLimits,
        head: &mut RequestHead,
    ) -> Result<Parse<()>, RequestError> {
        let max_head = limits.max_head_bytes.min(u32::MAX as usize);
        let window = buf.get(..max_head).unwrap_or(buf);
        let end = self.scanner.scan(window);
        let start_line_now = self.scanner.start_line_done() && !self.start_line_parsed;
        let due = end.is_some()
            || buf.len() >= max_head
            || start_line_now
            || self.scanner.target_len() > limits.max_uri_bytes
            || self
                .parsed_len
                .is_none_or(|last| buf.len() >= last.max(1).saturating_mul(2));
        if !due {
            return Ok(Parse::Partial);
        }
        self.start_line_parsed |= self.scanner.start_line_done();
        self.parsed_len = Some(buf.len());
        self.parsed_bytes += window.len() as u64;
        parse_request_into(buf, limits, head)
    }

    /// The scanner (where the head ends, what it cost).
    pub fn scanner(&self) -> &HeadScanner {
        &self.scanner
    }

    /// Total bytes handed to the full parser over this reader's life.
    pub fn parsed_bytes(&self) -> u64 {
        self.parsed_bytes
    }
}

/// [`RequestHeadReader`] for backend response heads: [`parse_response`](super::parse_response)
/// runs on the first call, when the buffer doubled since the last parse, when the head's end
/// arrived, or at the limit.
#[derive(Debug, Clone, Default)]
pub struct ResponseHeadReader {
    scanner: HeadScanner,
    parsed_len: Option<usize>,
    parsed_bytes: u64,
}

impl ResponseHeadReader {
    pub fn new() -> Self {
        ResponseHeadReader::default()
    }

    /// `buf` starts at the response head (earlier bytes unchanged between calls). After an
    /// interim (1xx) head, skip it and start a new reader for the next one.
    pub fn poll(
        &mut self,
        buf: &[u8],
        request_method: Method,
        max_head_bytes: usize,
    ) -> Result<Parse<ResponseHead>, ResponseError> {
        let mut head = ResponseHead::default();
        Ok(
            match self.poll_into(buf, request_method, max_head_bytes, &mut head)? {
                Parse::Complete(()) => Parse::Complete(head),
                Parse::Partial => Parse::Partial,
            },
        )
    }

    /// [`poll`](Self::poll) into a head the caller holds, its header list's storage reused
    /// (`Complete` says it was filled): see [`parse_response_into`].
    pub fn poll_into(
        &mut self,
        buf: &[u8],
        request_method: Method,
        max_head_bytes: usize,
        head: &mut ResponseHead,
    ) -> Result<Parse<()>, ResponseError> {
        let max_head = max_head_bytes.min(u32::MAX as usize);
        let window = buf.get(..max_head).unwrap_or(buf);
        let due = self.scanner.scan(window).is_some()
            || buf.len() >= max_head
            || self
                .parsed_len
                .is_none_or(|last| buf.len() >= last.max(1).saturating_mul(2));
        if !due {
            return Ok(Parse::Partial);
        }
        self.parsed_len = Some(buf.len());
        self.parsed_bytes += window.len() as u64;
        parse_response_into(buf, request_method, max_head_bytes, head)
    }

    pub fn scanner(&self) -> &HeadScanner {
        &self.scanner
    }

    /// Total bytes handed to the full parser over this reader's life.
    pub fn parsed_bytes(&self) -> u64 {
        self.parsed_bytes
    }
}

#[cfg(test)]
#[path = "head_scan_tests.rs"]
mod tests;
