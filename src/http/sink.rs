//! Where a response goes: the seam between the one request path (`proxy`)
//! and the codec of the client's protocol (`server::conn` for HTTP/1.1,
//! `server::h2` for HTTP/2).
//!
//! A response is a value until a codec writes it: a status, typed header
//! fields, a body. The proxy calls a [`ResponseSink`]'s methods in that
//! order; each codec implements them (statically dispatched, one copy of
//! the proxy's writers per codec), so HTTP/1.1 writes straight into its
//! output buffer and HTTP/2 into the h2 crate's frames. The framing
//! (Content-Length, chunked, `Connection`, END_STREAM) is the codec's.

/// How a response's body is delimited, as the proxy knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body and no length (204, 304: RFC 9110 8.6).
    None,
    /// A body of this many bytes.
    Length(u64),
    /// A body of unknown length, sent as it arrives.
    Streamed,
}

/// Why a streamed request body stopped before its end (see
/// [`RequestBody`]); the codec answers it as its protocol says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyCut {
    /// The client closed the connection or reset the stream.
    Gone,
    /// Not all of it came within `read_timeout` (HTTP/1.1: 408).
    TimedOut,
    /// Past the configured `max_body_bytes` (413).
    TooLarge,
    /// Broken framing (a bad chunk: 400).
    Malformed,
}

impl BodyCut {
    /// The HTTP/1.1 answer to it (`None`: nobody to answer).
    pub fn status(self) -> Option<(u16, &'static str)> {
        match self {
            BodyCut::Gone => None,
            BodyCut::TimedOut => Some((408, "request timeout")),
            BodyCut::TooLarge => Some((413, "request entity too large")),
            BodyCut::Malformed => Some((400, "bad request body")),
        }
    }
}

/// The rest of a request body the codec did not read before the request
/// path began: a no-op endpoint's large or slow upload, which goes to the
/// backend piece by piece as the client sends it (the codec reads the
/// next piece only when asked, so a slow backend pauses the client).
#[allow(async_fn_in_trait)]
pub trait RequestBody {
    /// `None`: the body is whole in the request (`Incoming.body`), the
    /// usual case. `Some(length)`: it is still to be read with
    /// [`next_piece`](Self::next_piece), of this length when the client
    /// announced one.
    fn pending(&self) -> Option<Option<u64>>;
    /// The next piece of the body (data, never framing); empty at its end.
    /// The piece is valid until the next call.
    async fn next_piece(&mut self) -> Result<&[u8], BodyCut>;
}

/// A request whose body is whole.
pub struct WholeBody;

impl RequestBody for WholeBody {
    fn pending(&self) -> Option<Option<u64>> {
        None
    }

    async fn next_piece(&mut self) -> Result<&[u8], BodyCut> {
        Ok(&[])
    }
}

/// One response's writer, implemented by each protocol's codec.
///
/// The order of calls: [`status`](Self::status), header fields, then
/// [`end_head`](Self::end_head); then either [`body`](Self::body) (the
/// whole body, buffered: the codec sends it once the proxy is done) or,
/// for a streamed body, [`send`](Self::send) for each piece as it comes
/// and [`end`](Self::end).
///
/// The same codec hands out the rest of a streamed request body
/// ([`RequestBody`]): the request path reads it before it writes.
#[allow(async_fn_in_trait)]
pub trait ResponseSink: RequestBody {
    /// Whether a backend's chunked body reaches this sink in its chunked
    /// framing (HTTP/1.1 passes the backend's chunks on as they are)
    /// rather than as data (HTTP/2).
    const PASSES_CHUNKS: bool;
    /// Whether the codec can hand its connection over to a WebSocket
    /// session after a 101 (HTTP/1.1; HTTP/2 has no Upgrade, RFC 9113
    /// §8.2.2, and extended CONNECT is not offered).
    const UPGRADES: bool;

    fn status(&mut self, status: u16);
    fn header(&mut self, name: &[u8], value: &[u8]);
    /// Header fields in their serialised form, `Name: value\r\n` each
    /// (the edge screen's, compiled once at start-up).
    fn header_lines(&mut self, lines: &[u8]);
    /// Ends the head; the codec writes the framing `framing` needs.
    fn end_head(&mut self, framing: Framing);
    /// The whole body (after `end_head(Framing::Length(body.len()))`);
    /// dropped for a HEAD request.
    fn body(&mut self, body: &[u8]);
    /// Sends what was written so far and `data`, a piece of a streamed
    /// body (in chunked framing when [`PASSES_CHUNKS`](Self::PASSES_CHUNKS)
    /// and the body is chunked). False: the client is gone.
    async fn send(&mut self, data: &[u8]) -> bool;
    /// Ends a streamed body. False: the client is gone.
    async fn end(&mut self) -> bool;
    /// The status written (0 before [`status`](Self::status)).
    fn written_status(&self) -> u16;
}

/// Splits header lines in their serialised form (`Name: value\r\n` each)
/// into (name, value), for codecs that do not write them as they are.
pub fn split_lines(lines: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    lines.split(|&b| b == b'\n').filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        Some((&line[..colon], line[colon + 1..].trim_ascii()))
    })
}

#[cfg(test)]
mod tests {
    use super::split_lines;

    #[test]
    fn serialised_lines_split_into_fields() {
        let lines = b"Vary: Origin\r\nAccess-Control-Allow-Origin: *\r\nX-Empty:\r\n";
        let fields: Vec<_> = split_lines(lines).collect();
        assert_eq!(
            fields,
            [
                (&b"Vary"[..], &b"Origin"[..]),
                (b"Access-Control-Allow-Origin", b"*"),
                (b"X-Empty", b""),
            ]
        );
    }
}
