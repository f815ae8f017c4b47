//! Response heads from backends and how their bodies are delimited (RFC 9112 §6.3).

use std::mem::MaybeUninit;

use smallvec::SmallVec;

use super::fields::{
    Codings, are_field_value_bytes, classify_codings, list_contains, list_elements,
    parse_content_length, trim_ows,
};
use super::request::MAX_HEADER_CAPACITY;
use super::span::{ConnectionListed, connection_lists, find_header};
use super::{Header, Method, Parse, Span};

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body: 1xx, 204, 304, any response to HEAD, 2xx to CONNECT.
    Empty,
    Length(u64),
    Chunked,
    /// Neither chunked nor Content-Length: the body ends when the backend closes.
    UntilClose,
}

#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    pub minor_version: u8,
    pub headers: SmallVec<[Header; 32]>,
    /// Bytes of the head including the final empty line.
    pub head_len: usize,
    pub body: ResponseBody,
    /// False for `Connection: close`, HTTP/1.0 without `keep-alive`, and `UntilClose` bodies.
    pub keep_alive: bool,
}

impl Default for ResponseHead {
    fn default() -> Self {
        ResponseHead {
            status: 0,
            minor_version: 0,
            headers: SmallVec::new(),
            head_len: 0,
            body: ResponseBody::Empty,
            keep_alive: false,
        }
    }
}

impl ResponseHead {
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

    /// An interim 1xx response (e.g. `100 Continue`): skip `head_len` bytes and parse again.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseError {
    /// Not a valid status line / field section (httparse refused it, or a CTL in a value).
    Malformed,
    /// The head exceeds `max_head_bytes`.
    HeadTooLarge,
    /// More than `MAX_HEADER_CAPACITY` header fields.
    TooManyHeaders,
    /// Several Content-Length values that differ (RFC 9110 §8.6).
    ConflictingContentLength,
    /// Content-Length that is not `1*DIGIT` or overflows u64.
    InvalidContentLength,
    /// Both Content-Length and Transfer-Encoding: a response-splitting risk (RFC 9112 §6.3).
    ContentLengthWithTransferEncoding,
    /// A transfer coding other than `chunked`, which we cannot pass on or decode.
    UnknownTransferCoding,
    /// `chunked` twice, or Transfer-Encoding in an HTTP/1.0 response (RFC 9112 §6.1).
    BadTransferEncoding,
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid backend response head: {self:?}")
    }
}

impl std::error::Error for ResponseError {}

/// Parses a backend response head at the start of `buf`.
///
/// A 1xx response (`100 Continue`, `103 Early Hints`, ...) comes back as `Complete` with that
/// status, `body: Empty` and its `head_len`: the caller skips `head_len` bytes and parses again
/// for the final response (see [`ResponseHead::is_interim`]).
pub fn parse_response(
    buf: &[u8],
    request_method: Method,
    max_head_bytes: usize,
) -> Result<Parse<ResponseHead>, ResponseError> {
    let mut head = ResponseHead::default();
    Ok(
        match parse_response_into(buf, request_method, max_head_bytes, &mut head)? {
            Parse::Complete(()) => Parse::Complete(head),
            Parse::Partial => Parse::Partial,
        },
    )
}

/// [`parse_response`] into a head the caller holds (its header list's
/// storage reused): a head is some 550 bytes, which a backend exchange
/// would otherwise copy at every level it is returned through. `head` is
/// meaningful only after `Complete`.
pub fn parse_response_into(
    buf: &[u8],
    request_method: Method,
    max_head_bytes: usize,
    head: &mut ResponseHead,
) -> Result<Parse<()>, ResponseError> {
    let max_head = max_head_bytes.min(u32::MAX as usize);
    let window = buf.get(..max_head).unwrap_or(buf);
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADER_CAPACITY];
    let mut resp = httparse::Response::new(&mut []);
    let head_len = match httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, window, &mut slots)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= max_head => {
            return Err(ResponseError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(Parse::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(ResponseError::TooManyHeaders),
        Err(_) => return Err(ResponseError::Malformed),
    };
    let (Some(status), Some(minor_version)) = (resp.code, resp.version) else {
        return Err(ResponseError::Malformed);
    };
    if status < 100 {
        return Err(ResponseError::Malformed);
    }

    let headers = &mut head.headers;
    headers.clear();
    let mut framing = FramingFields::default();
    for field in resp.headers.iter() {
        let value = trim_ows(field.value);
        if !are_field_value_bytes(value) {
            return Err(ResponseError::Malformed);
        }
        framing.note(field.name.as_bytes(), value);
        let (Some(name), Some(value)) = (
            Span::within(buf, field.name.as_bytes()),
            Span::within(buf, value),
        ) else {
            return Err(ResponseError::Malformed);
        };
        headers.push(Header { name, value });
    }

    let (close, keep_alive_token) = (framing.close, framing.keep_alive);
    let body = body_framing(
        buf,
        headers,
        &framing,
        status,
        minor_version,
        request_method,
    )?;
    let tunnel = request_method == Method::Connect && (200..300).contains(&status);
    let keep_alive = !close
        && (minor_version == 1 || keep_alive_token)
        && body != ResponseBody::UntilClose
        && !tunnel;
    head.status = status;
    head.minor_version = minor_version;
    head.head_len = head_len;
    head.body = body;
    head.keep_alive = keep_alive;
    Ok(Parse::Complete(()))
}

/// What the fields that frame the body and manage the connection say,
/// gathered in the one pass over the fields.
#[derive(Default)]
struct FramingFields {
    close: bool,
    keep_alive: bool,
    /// The Content-Length values so far: `None` without any, else the
    /// length they agree on or the first thing wrong with them (which
    /// counts only if the body's framing comes to depend on it).
    content_length: Option<Result<u64, ResponseError>>,
    transfer_encoding: bool,
}

impl FramingFields {
    fn note(&mut self, name: &[u8], value: &[u8]) {
        if name.eq_ignore_ascii_case(b"connection") {
            self.close |= list_contains(value, b"close");
            self.keep_alive |= list_contains(value, b"keep-alive");
        } else if name.eq_ignore_ascii_case(b"content-length") {
            self.content_length = Some(match self.content_length {
                None => add_content_length(None, value),
                Some(Ok(length)) => add_content_length(Some(length), value),
                Some(Err(e)) => Err(e),
            });
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.transfer_encoding = true;
        }
    }
}

fn values_of<'a>(
    buf: &'a [u8],
    headers: &'a [Header],
    name: &'a [u8],
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |h| h.name.of(buf).eq_ignore_ascii_case(name))
        .map(move |h| h.value.of(buf))
}

/// RFC 9112 §6.3, in its order of precedence.
fn body_framing(
    buf: &[u8],
    headers: &[Header],
    fields: &FramingFields,
    status: u16,
    minor_version: u8,
    request_method: Method,
) -> Result<ResponseBody, ResponseError> {
    let no_body = request_method == Method::Head
        || (100..200).contains(&status)
        || status == 204
        || status == 304
        || (request_method == Method::Connect && (200..300).contains(&status));
    if no_body {
        return Ok(ResponseBody::Empty);
    }
    let has_content_length = fields.content_length.is_some();
    if fields.transfer_encoding {
        if minor_version == 0 {
            return Err(ResponseError::BadTransferEncoding);
        }
        if has_content_length {
            return Err(ResponseError::ContentLengthWithTransferEncoding);
        }
        return match classify_codings(values_of(buf, headers, b"transfer-encoding")) {
            Codings::Chunked => Ok(ResponseBody::Chunked),
            Codings::ChunkedTwice => Err(ResponseError::BadTransferEncoding),
            Codings::ChunkedNotLast | Codings::Unsupported => {
                Err(ResponseError::UnknownTransferCoding)
            }
        };
    }
    match fields.content_length {
        None => Ok(ResponseBody::UntilClose),
        Some(length) => length.map(ResponseBody::Length),
    }
}

/// One more Content-Length field value, after the `length` the earlier
/// ones gave. Identical repeated values (`42, 42` or two fields) are
/// tolerated, as RFC 9110 §8.6 allows.
fn add_content_length(mut length: Option<u64>, value: &[u8]) -> Result<u64, ResponseError> {
    let mut agree = |parsed: u64| {
        if length.is_some_and(|l| l != parsed) {
            return Err(ResponseError::ConflictingContentLength);
        }
        length = Some(parsed);
        Ok(())
    };
    // Nearly always one field of plain digits: no list to split.
    if let Some(parsed) = parse_content_length(value) {
        agree(parsed)?;
    } else {
        let mut elements = list_elements(value).peekable();
        if elements.peek().is_none() {
            return Err(ResponseError::InvalidContentLength);
        }
        for element in elements {
            agree(parse_content_length(element).ok_or(ResponseError::InvalidContentLength)?)?;
        }
    }
    length.ok_or(ResponseError::InvalidContentLength)
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
