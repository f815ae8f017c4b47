//! Why a backend call failed. The proxy maps these to client statuses in
//! one place (`proxy::respond`).
//!
//! Each failure is typed: its kind (the variant), the `std::io::ErrorKind`
//! behind it where there is one ([`BackendError::io_kind`]), and whether
//! the request may be sent again ([`BackendError::retry`], the idea of
//! pingora-error's `RetryType`). The texts (`Display`) are Go's and lura's
//! words, which responses (`return_error_msg`) and logs show.

use std::fmt;
use std::io;
use std::rc::Rc;

use crate::http::{ChunkError, ResponseError};

#[derive(Debug, Clone)]
pub enum BackendError {
    /// The host name did not resolve at start-up.
    Resolve(Rc<str>),
    /// The TCP connection (or its TLS handshake) could not be opened.
    Connect(Rc<str>, ConnectFailure),
    /// Reading or writing the connection failed.
    Io(IoFailure),
    /// The backend closed a reused connection before answering.
    ClosedBeforeResponse,
    /// The response did not parse as HTTP/1.x or its framing was broken.
    BadResponse(Malformed),
    /// The body was larger than the configured maximum.
    TooLarge(usize),
    /// The endpoint's timeout fired first.
    Timeout,
    /// `response_header_timeout` passed before the response head arrived.
    HeaderTimeout,
    /// More redirects than allowed, or a redirect the gateway cannot follow.
    Redirect(RedirectFailure),
    /// Not attempted: a value could not be placed in the backend URL (it
    /// was not one path segment, or had no value).
    BadValue(String),
    /// Not sent: the serialised request would have carried CR, LF or NUL
    /// where they change its syntax. A gateway bug if it ever happens.
    Unsafe(&'static str),
    /// Not attempted: the circuit breaker is open or the backend's rate limit
    /// is spent (KrakenD's message).
    Refused(&'static str),
    /// Not called, or its answer not used: one of the gateway's checks on
    /// the call (`validation/cel`) failed; the text is KrakenD's.
    Rejected(String),
    /// A streamed request body stopped coming from the client (gone, too
    /// slow, too large, broken framing): the backend request was cut off
    /// and its connection closed. The client's codec answers it.
    RequestBodyCut,
    /// A script (`modifier/lua-backend`) failed or called `custom_error`:
    /// the status the endpoint answers when this is its only backend
    /// (krakend-lua's `ErrInternalHTTP`; 500 for any other Lua error), an
    /// optional Content-Type, and the message.
    Script {
        status: u16,
        content_type: Option<Box<str>>,
        message: String,
    },
}

/// Whether a request may be sent again after a failure (pingora-error's
/// `RetryType`, as an idea).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryType {
    /// Settled by the failure itself.
    Decided(bool),
    /// Only if the connection came from the pool: an idle keep-alive
    /// connection the backend closed meanwhile fails this way, a fresh one
    /// would not have.
    ReusedOnly,
}

impl RetryType {
    pub fn allows(self, reused: bool) -> bool {
        match self {
            RetryType::Decided(retry) => retry,
            RetryType::ReusedOnly => reused,
        }
    }
}

/// A failed read or write, and whether it may be retried.
#[derive(Debug, Clone)]
pub struct IoFailure {
    error: Rc<io::Error>,
    retry: RetryType,
}

impl IoFailure {
    pub fn kind(&self) -> io::ErrorKind {
        self.error.kind()
    }
}

/// Why a connection could not be opened.
#[derive(Debug, Clone)]
pub enum ConnectFailure {
    /// The TCP connect (refused, unreachable, timed out).
    Tcp(Rc<io::Error>),
    /// The TLS handshake (certificate, protocol, timed out).
    Tls(Rc<io::Error>),
    /// An `https://` backend whose host is no name a certificate can carry.
    NotVerifiable,
}

/// How a response broke HTTP/1.x.
#[derive(Debug, Clone)]
pub enum Malformed {
    /// The head did not parse.
    Head(ResponseError),
    /// The connection closed in the middle of the head.
    HeadCut,
    /// The connection closed before `Content-Length` bytes of body.
    BodyShort,
    /// The chunked framing was broken.
    Chunked(ChunkError),
    /// The connection closed before the last chunk.
    ChunkedCut,
    /// A `Content-Encoding: gzip` body did not inflate.
    Gzip(Rc<io::Error>),
}

/// Why a redirect was not followed.
#[derive(Debug, Clone)]
pub enum RedirectFailure {
    /// More than Go's client follows (ten).
    TooMany(usize),
    /// The `Location` header is not UTF-8.
    LocationNotUtf8,
    /// To a host that is no backend of this gateway (the location).
    NotABackend(String),
    /// To a scheme other than http and https (the location).
    Scheme(String),
}

impl BackendError {
    /// A read or write that failed where a retry is not safe to decide by
    /// the connection alone (in a body, after part of the response).
    pub(crate) fn io(e: io::Error) -> BackendError {
        BackendError::Io(IoFailure {
            error: Rc::new(e),
            retry: RetryType::Decided(false),
        })
    }

    /// A read or write that failed before one byte of the response came:
    /// on a pooled connection, the backend closed it while it was idle.
    pub(crate) fn io_before_response(e: io::Error) -> BackendError {
        BackendError::Io(IoFailure {
            error: Rc::new(e),
            retry: RetryType::ReusedOnly,
        })
    }

    /// The `std::io::ErrorKind` behind this failure, if it came from a socket.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            BackendError::Io(failure) => Some(failure.kind()),
            BackendError::Connect(_, ConnectFailure::Tcp(e) | ConnectFailure::Tls(e)) => {
                Some(e.kind())
            }
            BackendError::ClosedBeforeResponse => Some(io::ErrorKind::UnexpectedEof),
            BackendError::Timeout | BackendError::HeaderTimeout => Some(io::ErrorKind::TimedOut),
            _ => None,
        }
    }

    /// Whether the request may be sent again on another connection.
    /// Nothing is retried once a byte of the response came, nor after a
    /// timeout, a refusal or a connection that could not be opened (Go's
    /// transport retries none of these either).
    pub fn retry(&self) -> RetryType {
        match self {
            BackendError::Io(failure) => failure.retry,
            BackendError::ClosedBeforeResponse => RetryType::ReusedOnly,
            _ => RetryType::Decided(false),
        }
    }

    /// Whether a request that failed this way is sent once more, on a new
    /// connection: only if the failure allows it on this connection
    /// (`reused`: it came from the pool), and only if sending it again
    /// cannot do the work twice: the method is idempotent, or not one byte
    /// of the request was written. Go's `persistConn.shouldRetryRequest`
    /// (net/http/transport.go), and so KrakenD, decide the same way.
    pub fn may_send_again(&self, reused: bool, idempotent: bool, wrote_any: bool) -> bool {
        self.retry().allows(reused) && (idempotent || !wrote_any)
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Resolve(host) => write!(f, "lookup {host}: no such host"),
            BackendError::Connect(host, e) => write!(f, "dial tcp {host}: {e}"),
            BackendError::Io(e) => write!(f, "{}", e.error),
            BackendError::ClosedBeforeResponse => f.write_str("EOF"),
            BackendError::BadResponse(e) => write!(f, "malformed HTTP response: {e}"),
            BackendError::TooLarge(max) => write!(f, "response body larger than {max} bytes"),
            BackendError::Timeout => f.write_str("context deadline exceeded"),
            // Go's transport's words (net/http `errTimeout`... awaiting headers).
            BackendError::HeaderTimeout => {
                f.write_str("net/http: timeout awaiting response headers")
            }
            BackendError::Redirect(e) => write!(f, "redirect: {e}"),
            BackendError::Refused(why) => f.write_str(why),
            BackendError::Rejected(why) => f.write_str(why),
            BackendError::Script { message, .. } => f.write_str(message),
            BackendError::BadValue(why) => write!(f, "invalid backend URL: {why}"),
            BackendError::Unsafe(what) => write!(f, "refused to send a request: {what}"),
            BackendError::RequestBodyCut => f.write_str("the client's request body was cut short"),
        }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::Tcp(e) => write!(f, "{e}"),
            ConnectFailure::Tls(e) => write!(f, "TLS: {e}"),
            ConnectFailure::NotVerifiable => f.write_str("not a name TLS can verify"),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Head(e) => write!(f, "{e}"),
            Malformed::HeadCut => f.write_str("connection closed in the response head"),
            Malformed::BodyShort => f.write_str("body shorter than its Content-Length"),
            Malformed::Chunked(e) => write!(f, "chunked body: {e}"),
            Malformed::ChunkedCut => f.write_str("chunked body cut short"),
            Malformed::Gzip(e) => write!(f, "gzip body: {e}"),
        }
    }
}

impl fmt::Display for RedirectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectFailure::TooMany(max) => write!(f, "stopped after {max} redirects"),
            RedirectFailure::LocationNotUtf8 => f.write_str("Location is not UTF-8"),
            RedirectFailure::NotABackend(to) => {
                write!(f, "to {to}: not a backend host of this gateway")
            }
            RedirectFailure::Scheme(to) => {
                write!(f, "to {to}: only http:// and https:// are supported")
            }
        }
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BackendError::Io(e) => Some(&*e.error),
            BackendError::Connect(_, ConnectFailure::Tcp(e) | ConnectFailure::Tls(e)) => Some(&**e),
            BackendError::BadResponse(Malformed::Head(e)) => Some(e),
            BackendError::BadResponse(Malformed::Chunked(e)) => Some(e),
            BackendError::BadResponse(Malformed::Gzip(e)) => Some(&**e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reset() -> io::Error {
        io::Error::from(io::ErrorKind::ConnectionReset)
    }

    #[test]
    fn texts_are_go_and_lura_words() {
        let cases: Vec<(BackendError, &str)> = vec![
            (
                BackendError::Resolve("h:80".into()),
                "lookup h:80: no such host",
            ),
            (
                BackendError::Connect(
                    "h:80".into(),
                    ConnectFailure::Tcp(Rc::new(io::Error::other("connection refused"))),
                ),
                "dial tcp h:80: connection refused",
            ),
            (
                BackendError::Connect(
                    "https://h:443".into(),
                    ConnectFailure::Tls(Rc::new(io::Error::other("bad certificate"))),
                ),
                "dial tcp https://h:443: TLS: bad certificate",
            ),
            (
                BackendError::Connect("https://h:443".into(), ConnectFailure::NotVerifiable),
                "dial tcp https://h:443: not a name TLS can verify",
            ),
            (
                BackendError::io(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "connection closed while sending",
                )),
                "connection closed while sending",
            ),
            (BackendError::ClosedBeforeResponse, "EOF"),
            (
                BackendError::BadResponse(Malformed::Head(ResponseError::Malformed)),
                "malformed HTTP response: invalid backend response head: Malformed",
            ),
            (
                BackendError::BadResponse(Malformed::HeadCut),
                "malformed HTTP response: connection closed in the response head",
            ),
            (
                BackendError::BadResponse(Malformed::BodyShort),
                "malformed HTTP response: body shorter than its Content-Length",
            ),
            (
                BackendError::BadResponse(Malformed::Chunked(ChunkError::InvalidSize)),
                "malformed HTTP response: chunked body: invalid chunked body: InvalidSize",
            ),
            (
                BackendError::BadResponse(Malformed::ChunkedCut),
                "malformed HTTP response: chunked body cut short",
            ),
            (
                BackendError::BadResponse(Malformed::Gzip(Rc::new(io::Error::other("bad")))),
                "malformed HTTP response: gzip body: bad",
            ),
            (
                BackendError::Redirect(RedirectFailure::TooMany(10)),
                "redirect: stopped after 10 redirects",
            ),
            (
                BackendError::Redirect(RedirectFailure::LocationNotUtf8),
                "redirect: Location is not UTF-8",
            ),
            (
                BackendError::Redirect(RedirectFailure::NotABackend("http://x/".into())),
                "redirect: to http://x/: not a backend host of this gateway",
            ),
            (
                BackendError::Redirect(RedirectFailure::Scheme("ftp://x/".into())),
                "redirect: to ftp://x/: only http:// and https:// are supported",
            ),
            (BackendError::Timeout, "context deadline exceeded"),
            (
                BackendError::HeaderTimeout,
                "net/http: timeout awaiting response headers",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text, "{error:?}");
        }
    }

    #[test]
    fn io_kinds_are_kept() {
        assert_eq!(
            BackendError::io(reset()).io_kind(),
            Some(io::ErrorKind::ConnectionReset)
        );
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            BackendError::Connect("h:80".into(), ConnectFailure::Tcp(Rc::new(refused))).io_kind(),
            Some(io::ErrorKind::ConnectionRefused)
        );
        assert_eq!(
            BackendError::ClosedBeforeResponse.io_kind(),
            Some(io::ErrorKind::UnexpectedEof)
        );
        assert_eq!(
            BackendError::Timeout.io_kind(),
            Some(io::ErrorKind::TimedOut)
        );
        assert_eq!(
            BackendError::BadResponse(Malformed::HeadCut).io_kind(),
            None
        );
        assert_eq!(BackendError::Refused("x").io_kind(), None);
    }

    #[test]
    fn only_failures_before_the_response_on_a_pooled_connection_are_retried() {
        // (error, retried on a reused connection, retried on a fresh one)
        let cases = [
            (BackendError::ClosedBeforeResponse, true, false),
            (BackendError::io_before_response(reset()), true, false),
            (BackendError::io(reset()), false, false),
            (BackendError::BadResponse(Malformed::HeadCut), false, false),
            (BackendError::HeaderTimeout, false, false),
            (BackendError::Timeout, false, false),
            (
                BackendError::Connect("h:80".into(), ConnectFailure::Tcp(Rc::new(reset()))),
                false,
                false,
            ),
            (BackendError::Refused("x"), false, false),
        ];
        for (error, reused, fresh) in cases {
            assert_eq!(error.may_send_again(true, true, true), reused, "{error:?}");
            assert_eq!(error.may_send_again(false, true, true), fresh, "{error:?}");
        }
    }

    #[test]
    fn a_request_that_may_have_reached_the_backend_is_sent_again_only_if_idempotent() {
        let closed = BackendError::ClosedBeforeResponse;
        let write_failed = BackendError::io_before_response(reset());
        for error in [&closed, &write_failed] {
            // (idempotent, wrote any byte) -> sent again on a reused connection
            assert!(error.may_send_again(true, true, true));
            assert!(error.may_send_again(true, true, false));
            assert!(error.may_send_again(true, false, false));
            assert!(!error.may_send_again(true, false, true));
        }
        assert!(RetryType::Decided(true).allows(false));
        assert!(!RetryType::ReusedOnly.allows(false));
    }
}
