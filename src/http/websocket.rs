//! WebSocket (RFC 6455) without I/O: the opening handshake's checks and
//! accept value, and a frame scanner that reads frame headers only, so a
//! relay can enforce the protocol's rules and a message size limit while
//! payload bytes pass through unbuffered.

use super::{Header, RequestHead, ResponseHead};

/// RFC 6455 §1.3: appended to the client's key before hashing.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Close status codes (RFC 6455 §7.4.1) cuttle sends.
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub const CLOSE_TOO_BIG: u16 = 1009;

/// An empty ping, as a server sends it (unmasked).
pub const PING: [u8; 2] = [0x89, 0x00];

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
pub fn accept_value(key: &[u8]) -> String {
    use base64::Engine;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key);
    ctx.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(ctx.finish().as_ref())
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64.
pub fn new_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(random::<16>())
}

/// A masking key for a frame cuttle writes to a backend.
pub fn new_mask() -> [u8; 4] {
    random::<4>()
}

fn random<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; N];
    // The system's generator does not fail on Linux; a zero key would
    // still be a valid (if predictable) one.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes
}

/// Whether a comma-separated token list in any field `name` holds `token`
/// (case-insensitive, RFC 9110 §5.6.1).
fn lists_token(headers: &[Header], buf: &[u8], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.of(buf).eq_ignore_ascii_case(name.as_bytes()))
        .flat_map(|h| h.value.of(buf).split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// What a valid client handshake carries.
#[derive(Debug, PartialEq, Eq)]
pub struct ClientHandshake<'a> {
    pub key: &'a [u8],
    /// The raw `Sec-WebSocket-Protocol` offer, if any.
    pub protocols: Option<&'a [u8]>,
}

/// Why a request over HTTP/1.0 or HTTP/2 is no handshake.
pub const NEEDS_HTTP1: &str =
    "a WebSocket handshake needs HTTP/1.1 (HTTP/2 WebSockets, RFC 8441, are not served)";

/// Checks an upgrade request (RFC 6455 §4.2.1); `Err` is the reason for
/// the 400 (with `Sec-WebSocket-Version: 13`, as gorilla/websocket's
/// `Upgrader` answers, which KrakenD uses).
pub fn client_handshake<'a>(
    head: &RequestHead,
    buf: &'a [u8],
) -> Result<ClientHandshake<'a>, &'static str> {
    if head.minor_version != 1 {
        return Err(NEEDS_HTTP1);
    }
    if !lists_token(&head.headers, buf, "connection", "upgrade") {
        // HTTP/2 requests reach here without it (RFC 9113 forbids the
        // field); RFC 8441's extended CONNECT is not offered.
        return Err(
            "not a WebSocket handshake: 'upgrade' token not found in 'Connection' header (WebSockets need HTTP/1.1; HTTP/2 WebSockets, RFC 8441, are not served)",
        );
    }
    if !lists_token(&head.headers, buf, "upgrade", "websocket") {
        return Err("not a WebSocket handshake: 'websocket' token not found in 'Upgrade' header");
    }
    if head
        .header(buf, "sec-websocket-version")
        .map(<[u8]>::trim_ascii)
        != Some(b"13")
    {
        return Err(
            "unsupported WebSocket version: 13 not found in 'Sec-WebSocket-Version' header",
        );
    }
    let key = head
        .header(buf, "sec-websocket-key")
        .map(<[u8]>::trim_ascii)
        .filter(|key| valid_key(key))
        .ok_or("'Sec-WebSocket-Key' header missing or not 16 bytes in base64")?;
    if !matches!(
        head.body,
        super::BodyFraming::None | super::BodyFraming::Length(0)
    ) {
        return Err("a WebSocket handshake has no body");
    }
    Ok(ClientHandshake {
        key,
        protocols: head.header(buf, "sec-websocket-protocol"),
    })
}

fn valid_key(key: &[u8]) -> bool {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .is_ok_and(|bytes| bytes.len() == 16)
}

/// Checks a backend's answer to the upgrade request cuttle sent with `key`
/// (RFC 6455 §4.1, the client's checks). `offered`: the subprotocols
/// offered. Returns the subprotocol the backend chose.
pub fn server_handshake<'a>(
    head: &ResponseHead,
    buf: &'a [u8],
    key: &str,
    offered: &[&[u8]],
) -> Result<Option<&'a [u8]>, String> {
    if head.status != 101 {
        return Err(format!(
            "the backend answered {} instead of 101",
            head.status
        ));
    }
    if !lists_token(&head.headers, buf, "upgrade", "websocket")
        || !lists_token(&head.headers, buf, "connection", "upgrade")
    {
        return Err("the backend's 101 lacks 'Upgrade: websocket' or 'Connection: upgrade'".into());
    }
    let accept = head
        .header(buf, "sec-websocket-accept")
        .map(<[u8]>::trim_ascii);
    if accept != Some(accept_value(key.as_bytes()).as_bytes()) {
        return Err("the backend's 'Sec-WebSocket-Accept' does not match the key sent".into());
    }
    if head.header(buf, "sec-websocket-extensions").is_some() {
        return Err("the backend chose an extension, none was offered".into());
    }
    match head
        .header(buf, "sec-websocket-protocol")
        .map(<[u8]>::trim_ascii)
    {
        None => Ok(None),
        Some(chosen) if offered.contains(&chosen) => Ok(Some(chosen)),
        Some(_) => Err("the backend chose a subprotocol that was not offered".into()),
    }
}

/// The offered subprotocols that `allowed` lists, in the client's order.
pub fn offered_protocols<'a>(offer: Option<&'a [u8]>, allowed: &[String]) -> Vec<&'a [u8]> {
    offer
        .unwrap_or_default()
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|p| !p.is_empty() && allowed.iter().any(|a| a.as_bytes() == *p))
        .collect()
}

/// Writes a close frame with `status` (no reason), masked with `mask`
/// when it goes to a server.
pub fn write_close(out: &mut Vec<u8>, status: u16, mask: Option<[u8; 4]>) {
    let payload = status.to_be_bytes();
    out.push(0x88);
    match mask {
        None => {
            out.push(2);
            out.extend_from_slice(&payload);
        }
        Some(key) => {
            out.push(0x80 | 2);
            out.extend_from_slice(&key);
            out.extend(payload.iter().zip(key).map(|(b, k)| b ^ k));
        }
    }
}

/// Which peer's frames a scanner reads: a client's must be masked, a
/// server's must not (RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    Client,
    Server,
}

/// Why a peer's frames end the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A broken rule (mask, reserved bits or opcode, control frame
    /// fragmented or too long, continuation out of place): close 1002.
    Protocol,
    /// A message longer than the limit: close 1009.
    TooBig,
}

impl Violation {
    pub fn close_status(self) -> u16 {
        match self {
            Violation::Protocol => CLOSE_PROTOCOL_ERROR,
            Violation::TooBig => CLOSE_TOO_BIG,
        }
    }
}

/// What [`Scanner::scan`] saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Frames whose header was read.
    pub frames: u64,
    /// A close frame's header was read.
    pub close: bool,
}

/// Reads the frames of one direction of a session, header by header.
/// Bytes given to [`Scanner::scan`] come out in `out` once the header of
/// the frame they belong to has been checked; payload bytes are never
/// held back, only the few bytes of an incomplete header.
pub struct Scanner {
    from: From,
    max_message: u64,
    /// Bytes of a header not complete yet.
    header: [u8; 14],
    have: usize,
    /// Payload bytes of the current frame still to pass.
    remaining: u64,
    /// Payload bytes of the data message in progress so far, if one is.
    message: Option<u64>,
}

impl Scanner {
    pub fn new(from: From, max_message: u64) -> Scanner {
        Scanner {
            from,
            max_message,
            header: [0; 14],
            have: 0,
            remaining: 0,
            message: None,
        }
    }

    /// Whether the bytes passed so far end at a frame's end, so that a
    /// frame of cuttle's own may follow.
    pub fn between_frames(&self) -> bool {
        self.remaining == 0
    }

    /// Scans `input`, appending to `out` what may be passed on. On a
    /// violation, `out` holds the bytes before the offending frame.
    pub fn scan(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<Scanned, Violation> {
        let mut seen = Scanned::default();
        while !input.is_empty() {
            if self.remaining > 0 {
                let n = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                out.extend_from_slice(&input[..n]);
                self.remaining -= n as u64;
                input = &input[n..];
                continue;
            }
            // Gather the header: 2 bytes, then its announced length.
            let need = if self.have < 2 {
                2
            } else {
                header_len(&self.header)
            };
            let take = (need - self.have).min(input.len());
            self.header[self.have..self.have + take].copy_from_slice(&input[..take]);
            self.have += take;
            input = &input[take..];
            if self.have < need || need == 2 && header_len(&self.header) > 2 {
                continue;
            }
            let len = self.check_header(&mut seen)?;
            out.extend_from_slice(&self.header[..self.have]);
            self.have = 0;
            self.remaining = len;
        }
        Ok(seen)
    }

    /// Checks a complete header; returns its payload length.
    fn check_header(&mut self, seen: &mut Scanned) -> Result<u64, Violation> {
        let h = &self.header;
        let fin = h[0] & 0x80 != 0;
        let opcode = h[0] & 0x0f;
        let masked = h[1] & 0x80 != 0;
        let len = match h[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            127 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
            n => u64::from(n),
        };
        // No extension is ever negotiated, so the reserved bits stay 0.
        if h[0] & 0x70 != 0 || masked != (self.from == From::Client) {
            return Err(Violation::Protocol);
        }
        match opcode {
            // Close, ping, pong: whole, short, allowed inside a message.
            0x8..=0xA => {
                if !fin || len > 125 {
                    return Err(Violation::Protocol);
                }
                seen.close |= opcode == 0x8;
            }
            0x0..=0x2 => {
                let so_far = match (opcode, self.message) {
                    (0x0, Some(so_far)) => so_far,
                    (0x1 | 0x2, None) => 0,
                    _ => return Err(Violation::Protocol),
                };
                let total = so_far.saturating_add(len);
                if total > self.max_message {
                    return Err(Violation::TooBig);
                }
                self.message = (!fin).then_some(total);
            }
            _ => return Err(Violation::Protocol),
        }
        seen.frames += 1;
        Ok(len)
    }
}

/// The length of a frame header from its first two bytes.
fn header_len(h: &[u8; 14]) -> usize {
    let ext = match h[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if h[1] & 0x80 != 0 { 4 } else { 0 };
    2 + ext + mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_value_is_rfc_6455_s_example() {
        assert_eq!(
            accept_value(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(valid_key(new_key().as_bytes()));
    }

    /// A frame as a peer writes it.
    fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut f = vec![(u8::from(fin) << 7) | opcode];
        let m = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n < 65536 => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(key) => {
                f.extend_from_slice(&key);
                f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => f.extend_from_slice(payload),
        }
        f
    }

    const K: Option<[u8; 4]> = Some([1, 2, 3, 4]);

    #[test]
    fn frames_pass_unchanged_whatever_the_split() {
        let mut stream = frame(false, 1, b"hel", K);
        stream.extend(frame(true, 9, b"ping", K));
        stream.extend(frame(true, 0, &[b'l'; 300], K));
        stream.extend(frame(true, 8, &1000u16.to_be_bytes(), K));
        for step in [1, 2, 3, 7, 64, stream.len()] {
            let mut scanner = Scanner::new(From::Client, 1000);
            let mut out = Vec::new();
            let mut frames = 0;
            let mut close = false;
            for chunk in stream.chunks(step) {
                let seen = scanner.scan(chunk, &mut out).unwrap();
                frames += seen.frames;
                close |= seen.close;
            }
            assert_eq!(out, stream, "step {step}");
            assert_eq!((frames, close), (4, true), "step {step}");
        }
    }

    #[test]
    fn rules_are_enforced() {
        let check =
            |from, max, bytes: Vec<u8>| Scanner::new(from, max).scan(&bytes, &mut Vec::new());
        let protocol = Err(Violation::Protocol);
        // Masking: clients must, servers must not.
        assert_eq!(
            check(From::Client, 10, frame(true, 1, b"a", None)),
            protocol
        );
        assert_eq!(check(From::Server, 10, frame(true, 1, b"a", K)), protocol);
        assert!(check(From::Server, 10, frame(true, 1, b"a", None)).is_ok());
        // Reserved bits and opcodes, control frames.
        assert_eq!(
            check(From::Client, 10, vec![0xC1, 0x80, 0, 0, 0, 0]),
            protocol
        );
        assert_eq!(check(From::Client, 10, frame(true, 3, b"", K)), protocol);
        assert_eq!(check(From::Client, 200, frame(false, 9, b"", K)), protocol);
        assert_eq!(
            check(From::Client, 200, frame(true, 9, &[0; 126], K)),
            protocol
        );
        // Continuations only inside a message, data frames not inside one.
        assert_eq!(check(From::Client, 10, frame(true, 0, b"a", K)), protocol);
        let mut two = frame(false, 1, b"a", K);
        two.extend(frame(true, 1, b"b", K));
        assert_eq!(check(From::Client, 10, two), protocol);
    }

    #[test]
    fn a_message_over_the_limit_is_refused_at_its_header() {
        let too_big = Err(Violation::TooBig);
        let mut scanner = Scanner::new(From::Client, 4);
        let mut out = Vec::new();
        assert!(scanner.scan(&frame(true, 2, b"1234", K), &mut out).is_ok());
        let before = out.len();
        // The fragments add up: 3 + 2 > 4, refused before any byte of it passes.
        let mut msg = frame(false, 1, b"abc", K);
        msg.extend(frame(true, 0, b"de", K));
        assert_eq!(scanner.scan(&msg, &mut out), too_big);
        assert_eq!(out.len(), before + frame(false, 1, b"abc", K).len());
        // Only the header is needed: a 1 GiB announcement is refused at once.
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 30).to_be_bytes());
        header.extend_from_slice(&[0; 4]);
        assert_eq!(
            Scanner::new(From::Client, 4).scan(&header, &mut Vec::new()),
            too_big
        );
    }

    #[test]
    fn close_frames_are_written_as_each_side_expects() {
        let mut out = Vec::new();
        write_close(&mut out, 1009, None);
        assert_eq!(out, [0x88, 2, 0x03, 0xF1]);
        out.clear();
        write_close(&mut out, 1009, Some([1, 1, 1, 1]));
        assert_eq!(out, [0x88, 0x82, 1, 1, 1, 1, 0x02, 0xF0]);
    }

    #[test]
    fn only_allowed_offers_are_kept() {
        let allowed = vec!["chat".to_owned(), "v2".to_owned()];
        assert_eq!(
            offered_protocols(Some(b"v1, chat ,v2"), &allowed),
            vec![&b"chat"[..], b"v2"]
        );
        assert!(offered_protocols(Some(b"chat"), &[]).is_empty());
    }
}
