//! Why a request head was refused, and which status answers it.

/// One variant per reason a request head is refused; `status()` is the response code to send
/// before closing the connection (framing can no longer be trusted after any of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// The head (request line + fields) exceeds `max_head_bytes`.
    HeadTooLarge,
    /// More header fields than `max_headers`.
    TooManyHeaders,
    /// The request target exceeds `max_uri_bytes`.
    UriTooLong,
    /// The request line is not `method SP request-target SP HTTP-version CRLF`.
    BadRequestLine,
    /// A syntactically valid method token we do not implement (RFC 9110 §9.1).
    UnknownMethod,
    /// `HTTP/x.y` other than 1.0 and 1.1.
    UnsupportedVersion,
    /// Not origin-form, absolute-form with a path, or asterisk-form (RFC 9112 §3.2).
    InvalidTarget,
    /// `*` is only allowed with OPTIONS (RFC 9112 §3.2.4).
    AsteriskFormNotOptions,
    /// A field name with bytes outside `tchar`, or empty.
    InvalidHeaderName,
    /// Whitespace between field name and colon (RFC 9112 §5.1: MUST reject with 400).
    WhitespaceBeforeColon,
    /// Obsolete line folding (RFC 9112 §5.2: a server MUST reject it with 400 outside message/http).
    ObsFold,
    /// A control byte (NUL, CR, LF, ...) inside a field value.
    InvalidHeaderValue,
    /// A CR not followed by LF (RFC 9112 §2.2).
    BareCarriageReturn,
    /// A LF not preceded by CR: we require CRLF line endings (stricter than RFC 9112 §2.2's MAY).
    BareLineFeed,
    /// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.3: request smuggling risk).
    ContentLengthWithTransferEncoding,
    /// More than one `Content-Length` field, even with identical values (we are strict).
    DuplicateContentLength,
    /// `Content-Length` that is not `1*DIGIT` or overflows u64.
    InvalidContentLength,
    /// `Transfer-Encoding` whose final coding is not `chunked`, or `chunked` twice (RFC 9112 §6.3).
    TransferEncodingNotChunked,
    /// A transfer coding other than `chunked` (RFC 9112 §6.1: 501).
    UnsupportedTransferCoding,
    /// `Transfer-Encoding` in an HTTP/1.0 request (RFC 9112 §6.1: framing is faulty).
    TransferEncodingInHttp10,
    /// HTTP/1.1 without `Host` (RFC 9112 §3.2).
    MissingHost,
    /// More than one `Host` field (RFC 9112 §3.2).
    DuplicateHost,
    /// `Host` with userinfo (`user@host`; RFC 9110 §4.2.4: an error).
    UserinfoInHost,
}

impl RequestError {
    pub fn status(&self) -> u16 {
        use RequestError::*;
        match self {
            HeadTooLarge | TooManyHeaders => 431,
            UriTooLong => 414,
            UnknownMethod | UnsupportedTransferCoding => 501,
            UnsupportedVersion => 505,
            BadRequestLine
            | InvalidTarget
            | AsteriskFormNotOptions
            | InvalidHeaderName
            | WhitespaceBeforeColon
            | ObsFold
            | InvalidHeaderValue
            | BareCarriageReturn
            | BareLineFeed
            | ContentLengthWithTransferEncoding
            | DuplicateContentLength
            | InvalidContentLength
            | TransferEncodingNotChunked
            | TransferEncodingInHttp10
            | MissingHost
            | DuplicateHost
            | UserinfoInHost => 400,
        }
    }

    /// A short human-readable explanation, suitable for a plain-text error body.
    pub fn reason(&self) -> &'static str {
        use RequestError::*;
        match self {
            HeadTooLarge => "request header section too large",
            TooManyHeaders => "too many header fields",
            UriTooLong => "request target too long",
            BadRequestLine => "malformed request line",
            UnknownMethod => "method not implemented",
            UnsupportedVersion => "HTTP version not supported",
            InvalidTarget => "invalid request target",
            AsteriskFormNotOptions => "asterisk-form request target is only allowed for OPTIONS",
            InvalidHeaderName => "invalid header field name",
            WhitespaceBeforeColon => "whitespace between header field name and colon",
            ObsFold => "obsolete line folding in header section",
            InvalidHeaderValue => "invalid byte in header field value",
            BareCarriageReturn => "bare CR in request head",
            BareLineFeed => "bare LF in request head",
            ContentLengthWithTransferEncoding => "both Content-Length and Transfer-Encoding",
            DuplicateContentLength => "duplicate Content-Length",
            InvalidContentLength => "invalid Content-Length",
            TransferEncodingNotChunked => "final transfer coding is not chunked",
            UnsupportedTransferCoding => "transfer coding not implemented",
            TransferEncodingInHttp10 => "Transfer-Encoding in HTTP/1.0 request",
            MissingHost => "missing Host header",
            DuplicateHost => "more than one Host header",
            UserinfoInHost => "userinfo in Host header",
        }
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for RequestError {}
