//! Why a backend call failed. The proxy maps these to client statuses in
//! one place (`proxy::respond`).

use std::fmt;
use std::rc::Rc;

#[derive(Debug, Clone)]
pub enum BackendError {
    /// The host name did not resolve at start-up.
    Resolve(Rc<str>),
    /// The TCP connection could not be opened (refused, unreachable, timed out).
    Connect(Rc<str>, String),
    /// Reading or writing the connection failed.
    Io(String),
    /// The backend closed a reused connection before answering: safe to retry.
    ClosedBeforeResponse,
    /// The response did not parse as HTTP/1.x or its framing was broken.
    BadResponse(String),
    /// The body was larger than the configured maximum.
    TooLarge(usize),
    /// The endpoint's timeout fired first.
    Timeout,
    /// `response_header_timeout` passed before the response head arrived.
    HeaderTimeout,
    /// More redirects than allowed, or a redirect the gateway cannot follow.
    Redirect(String),
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
}

impl BackendError {
    pub(crate) fn io(e: std::io::Error) -> BackendError {
        BackendError::Io(e.to_string())
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Resolve(host) => write!(f, "lookup {host}: no such host"),
            BackendError::Connect(host, e) => write!(f, "dial tcp {host}: {e}"),
            BackendError::Io(e) => write!(f, "{e}"),
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
            BackendError::BadValue(why) => write!(f, "invalid backend URL: {why}"),
            BackendError::Unsafe(what) => write!(f, "refused to send a request: {what}"),
        }
    }
}

impl std::error::Error for BackendError {}
