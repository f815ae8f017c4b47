//! Request-target forms (RFC 9112 §3.2): origin, absolute (path taken) and asterisk.

use super::{Method, RequestError, Span};

pub(crate) struct Target {
    pub path: Span,
    pub query: Option<Span>,
    /// The authority of an absolute-form target, which replaces `Host` (RFC 9112 §3.2.2).
    pub authority: Option<Span>,
}

/// Splits a request target (already validated by httparse as visible ASCII / UTF-8, no spaces).
pub(crate) fn parse_target(
    buf: &[u8],
    target: Span,
    method: Method,
) -> Result<Target, RequestError> {
    let bytes = target.of(buf);
    // A fragment is never sent in a request target (RFC 9110 §4.2.4, RFC 9112 §3.2).
    if bytes.contains(&b'#') {
        return Err(RequestError::InvalidTarget);
    }
    // CONNECT takes only authority-form (RFC 9112 §3.2.3), and we do not open tunnels.
    if method == Method::Connect {
        return Err(RequestError::InvalidTarget);
    }
    match bytes {
        [b'/', ..] => Ok(origin_form(bytes, target, None)),
        b"*" if method == Method::Options => Ok(Target {
            path: target,
            query: None,
            authority: None,
        }),
        b"*" => Err(RequestError::AsteriskFormNotOptions),
        _ => absolute_form(bytes, target),
    }
}

/// `absolute-path [ "?" query ]`, with `bytes` being exactly what `span` covers.
fn origin_form(bytes: &[u8], span: Span, authority: Option<Span>) -> Target {
    match bytes.iter().position(|&b| b == b'?') {
        Some(q) => Target {
            path: span.slice(0, q),
            query: Some(span.slice(q + 1, bytes.len())),
            authority,
        },
        None => Target {
            path: span,
            query: None,
            authority,
        },
    }
}

/// `http://authority/path?query`: we keep the path and query; a target without a path is refused
/// (its path would be "/", which has no bytes in the buffer to point at).
fn absolute_form(bytes: &[u8], span: Span) -> Result<Target, RequestError> {
    let scheme_len = ["http://", "https://"]
        .iter()
        .find(|s| {
            bytes
                .get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s.as_bytes()))
        })
        .map(|s| s.len())
        .ok_or(RequestError::InvalidTarget)?;
    let rest = bytes.get(scheme_len..).unwrap_or_default();
    let authority_len = rest
        .iter()
        .position(|&b| b == b'/')
        .ok_or(RequestError::InvalidTarget)?;
    let authority = rest.get(..authority_len).unwrap_or_default();
    // Userinfo is deprecated and a classic spoofing vector (RFC 9110 §4.2.4); '?' would mean no path.
    if authority.is_empty() || authority.iter().any(|&b| b == b'@' || b == b'?') {
        return Err(RequestError::InvalidTarget);
    }
    let path_start = scheme_len + authority_len;
    let authority_span = span.slice(scheme_len, path_start);
    let path_and_query = span.slice(path_start, bytes.len());
    let path_bytes = bytes.get(path_start..).unwrap_or_default();
    Ok(origin_form(
        path_bytes,
        path_and_query,
        Some(authority_span),
    ))
}
