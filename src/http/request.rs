//! Request heads (RFC 9112 §2-§6): httparse tokenises, then the checks httparse leaves to us.

use std::mem::MaybeUninit;

use smallvec::SmallVec;

use super::diagnose::{diagnose, target_too_long_so_far};
use super::fields::{
    Codings, are_field_value_bytes, classify_codings, list_contains, parse_content_length, trim_ows,
};
use super::span::{ConnectionListed, connection_lists, find_header};
use super::target::parse_target;
use super::{Header, Method, Parse, RequestError, Span};

/// Upper bound on `HeadLimits::max_headers`: httparse needs its slots on the stack.
pub const MAX_HEADER_CAPACITY: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Request line + fields + final empty line; beyond this -> 431.
    pub max_head_bytes: usize,
    /// The request target; beyond this -> 414.
    pub max_uri_bytes: usize,
    /// Number of header fields (capped at `MAX_HEADER_CAPACITY`); beyond this -> 431.
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_head_bytes: 64 * 1024,
            max_uri_bytes: 8 * 1024,
            max_headers: 100,
        }
    }
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    /// Origin-form target up to (not including) '?'; for absolute-form, the path part.
    pub path: Span,
    /// After '?', without it (Some even if empty "?").
    pub query: Option<Span>,
    /// 0 or 1.
    pub minor_version: u8,
    pub headers: SmallVec<[Header; 32]>,
    /// Bytes of the head including the final empty line: the body (or next request) starts here.
    pub head_len: usize,
    pub body: BodyFraming,
    /// HTTP/1.1 default true unless `Connection: close`; 1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request (ignored for 1.0, RFC 9110 §10.1.1).
    pub expect_continue: bool,
    /// The `Host` value, or the authority of an absolute-form target (RFC 9112 §3.2.2).
    pub host: Option<Span>,
}

impl Default for RequestHead {
    fn default() -> Self {
        RequestHead {
            method: Method::Get,
            path: Span::default(),
            query: None,
            minor_version: 1,
            headers: SmallVec::new(),
            head_len: 0,
            body: BodyFraming::None,
            keep_alive: true,
            expect_continue: false,
            host: None,
        }
    }
}

impl RequestHead {
    /// The first header named `name`, case-insensitive.
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        find_header(&self.headers, buf, name)
    }

    /// Is the field `name` listed in any `Connection` field (so hop-by-hop)?
    pub fn connection_lists(&self, buf: &[u8], name: &[u8]) -> bool {
        connection_lists(&self.headers, buf, name)
    }

    /// Every name the `Connection` fields list, to ask about many fields.
    pub fn connection_listed<'b>(&self, buf: &'b [u8]) -> ConnectionListed<'b> {
        ConnectionListed::of(&self.headers, buf)
    }
}

/// Parses the request head at the start of `buf`. `Partial` means: read more and call again
/// with the whole buffer. Any error means the connection must be closed after answering
/// `err.status()`. Never allocates for requests with at most 32 header fields.
pub fn parse_request(buf: &[u8], limits: &HeadLimits) -> Result<Parse<RequestHead>, RequestError> {
    let mut head = RequestHead::default();
    Ok(match parse_request_into(buf, limits, &mut head)? {
        Parse::Complete(()) => Parse::Complete(head),
        Parse::Partial => Parse::Partial,
    })
}

/// [`parse_request`] into a head the caller holds (its header list's
/// storage reused): a head is some 580 bytes, which returning it would
/// copy at each level. `head` is meaningful only after `Complete`.
pub fn parse_request_into(
    buf: &[u8],
    limits: &HeadLimits,
    out: &mut RequestHead,
) -> Result<Parse<()>, RequestError> {
    // Never look past the limit: bounds the work and keeps every offset within u32.
    let max_head = limits.max_head_bytes.min(u32::MAX as usize);
    let window = buf.get(..max_head).unwrap_or(buf);
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADER_CAPACITY];
    let slots = slots
        .get_mut(..limits.max_headers.min(MAX_HEADER_CAPACITY))
        .unwrap_or_default();
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(window, slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            if target_too_long_so_far(window, limits.max_uri_bytes) {
                return Err(RequestError::UriTooLong);
            }
            // The head needs at least one more byte than we may look at.
            if buf.len() >= max_head {
                return Err(RequestError::HeadTooLarge);
            }
            return Ok(Parse::Partial);
        }
        Err(err) => return Err(diagnose(window, err)),
    };
    let head = window.get(..head_len).unwrap_or_default();

    let method = req.method.ok_or(RequestError::BadRequestLine)?;
    let method = Method::from_bytes(method.as_bytes()).ok_or(RequestError::UnknownMethod)?;
    let minor_version = req.version.ok_or(RequestError::BadRequestLine)?;
    let target = req.path.and_then(|p| Span::within(buf, p.as_bytes()));
    let target = target.ok_or(RequestError::BadRequestLine)?;
    if target.len() > limits.max_uri_bytes {
        return Err(RequestError::UriTooLong);
    }
    let target = parse_target(buf, target, method)?;
    // httparse accepts LF alone as a line terminator; we insist on CRLF (RFC 9112 §2.2).
    if has_bare_lf(head) {
        return Err(RequestError::BareLineFeed);
    }

    let headers = &mut out.headers;
    headers.clear();
    for field in req.headers.iter() {
        let value = trim_ows(field.value);
        // httparse already refuses NUL/CR/LF; DEL and other CTLs are ours to refuse (RFC 9110 §5.5).
        if !are_field_value_bytes(value) {
            return Err(RequestError::InvalidHeaderValue);
        }
        let name = Span::within(buf, field.name.as_bytes());
        let value = Span::within(buf, value);
        let (Some(name), Some(value)) = (name, value) else {
            return Err(RequestError::BadRequestLine);
        };
        headers.push(Header { name, value });
    }

    let semantics = FieldSemantics::collect(buf, headers);
    let body = semantics.body_framing(buf, headers, minor_version)?;
    let host = match (semantics.host_count, minor_version) {
        (0, 1) => return Err(RequestError::MissingHost),
        (0 | 1, _) => target.authority.or(semantics.host),
        _ => return Err(RequestError::DuplicateHost),
    };
    // A sender must not put userinfo in Host and a recipient should treat
    // it as an error (RFC 9110 §4.2.4, RFC 9112 §3.2): `user@evil` would
    // otherwise reach the backends as X-Forwarded-Host. Go's net/http (so
    // KrakenD) answers 400 too: '@' is not in httpguts' `validHostByte`.
    if semantics.host.is_some_and(|h| h.of(buf).contains(&b'@')) {
        return Err(RequestError::UserinfoInHost);
    }
    out.method = method;
    out.path = target.path;
    out.query = target.query;
    out.minor_version = minor_version;
    out.head_len = head_len;
    out.body = body;
    out.keep_alive = !semantics.close && (minor_version == 1 || semantics.keep_alive);
    out.expect_continue = semantics.expect_continue && minor_version == 1;
    out.host = host;
    Ok(Parse::Complete(()))
}

/// A request head from fields another codec decoded (HTTP/2's
/// pseudo-header fields and field list), copied by it into `buf` (with
/// `:authority` as a `host` field): the same checks as [`parse_request`]
/// makes on the target, the values and the host, none on framing (that
/// codec delimits the body).
pub fn assemble_request(
    buf: &[u8],
    method: &[u8],
    target: Span,
    fields: &[Header],
    limits: &HeadLimits,
) -> Result<RequestHead, RequestError> {
    let method = Method::from_bytes(method).ok_or(RequestError::UnknownMethod)?;
    if target.len() > limits.max_uri_bytes {
        return Err(RequestError::UriTooLong);
    }
    let target = parse_target(buf, target, method)?;
    if fields.len() > limits.max_headers.min(MAX_HEADER_CAPACITY) {
        return Err(RequestError::TooManyHeaders);
    }
    let mut host = None;
    for field in fields {
        if !are_field_value_bytes(field.value.of(buf)) {
            return Err(RequestError::InvalidHeaderValue);
        }
        if field.name.of(buf).eq_ignore_ascii_case(b"host") {
            if host.is_some() {
                return Err(RequestError::DuplicateHost);
            }
            host = Some(field.value);
        }
    }
    // As for an HTTP/1.1 Host (see `parse_request`).
    if host.is_some_and(|h| h.of(buf).contains(&b'@')) {
        return Err(RequestError::UserinfoInHost);
    }
    Ok(RequestHead {
        method,
        path: target.path,
        query: target.query,
        minor_version: 1,
        headers: fields.iter().copied().collect(),
        head_len: 0,
        body: BodyFraming::None,
        keep_alive: true,
        expect_continue: false,
        host: target.authority.or(host),
    })
}

fn has_bare_lf(head: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', head).any(|at| at == 0 || head[at - 1] != b'\r')
}

/// The fields that matter for framing and connection handling, gathered in one pass.
#[derive(Default)]
struct FieldSemantics {
    host_count: usize,
    host: Option<Span>,
    content_lengths: usize,
    content_length: Option<Span>,
    transfer_encodings: usize,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl FieldSemantics {
    fn collect(buf: &[u8], headers: &[Header]) -> Self {
        let mut s = FieldSemantics::default();
        for h in headers {
            let (name, value) = (h.name.of(buf), h.value.of(buf));
            if name.eq_ignore_ascii_case(b"host") {
                s.host_count += 1;
                s.host = s.host.or(Some(h.value));
            } else if name.eq_ignore_ascii_case(b"content-length") {
                s.content_lengths += 1;
                s.content_length = s.content_length.or(Some(h.value));
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                s.transfer_encodings += 1;
            } else if name.eq_ignore_ascii_case(b"connection") {
                s.close |= list_contains(value, b"close");
                s.keep_alive |= list_contains(value, b"keep-alive");
            } else if name.eq_ignore_ascii_case(b"expect") {
                s.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
            }
        }
        s
    }

    /// RFC 9112 §6.3 for requests, strict: anything ambiguous is a 400 (smuggling defence).
    fn body_framing(
        &self,
        buf: &[u8],
        headers: &[Header],
        minor_version: u8,
    ) -> Result<BodyFraming, RequestError> {
        if self.transfer_encodings > 0 {
            if minor_version == 0 {
                return Err(RequestError::TransferEncodingInHttp10);
            }
            if self.content_lengths > 0 {
                return Err(RequestError::ContentLengthWithTransferEncoding);
            }
            let values = headers
                .iter()
                .filter(|h| h.name.of(buf).eq_ignore_ascii_case(b"transfer-encoding"))
                .map(|h| h.value.of(buf));
            return match classify_codings(values) {
                Codings::Chunked => Ok(BodyFraming::Chunked),
                Codings::ChunkedNotLast | Codings::ChunkedTwice => {
                    Err(RequestError::TransferEncodingNotChunked)
                }
                Codings::Unsupported => Err(RequestError::UnsupportedTransferCoding),
            };
        }
        match (self.content_lengths, self.content_length) {
            (0, _) | (_, None) => Ok(BodyFraming::None),
            (1, Some(span)) => match parse_content_length(span.of(buf)) {
                Some(len) => Ok(BodyFraming::Length(len)),
                None => Err(RequestError::InvalidContentLength),
            },
            _ => Err(RequestError::DuplicateContentLength),
        }
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
