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

/// One response's writer, implemented by each protocol's codec.
///
/// The order of calls: [`status`](Self::status), header fields, then
/// [`end_head`](Self::end_head); then either [`body`](Self::body) (the
/// whole body, buffered: the codec sends it once the proxy is done) or,
/// for a streamed body, [`send`](Self::send) for each piece as it comes
/// and [`end`](Self::end).
#[allow(async_fn_in_trait)]
pub trait ResponseSink {
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
