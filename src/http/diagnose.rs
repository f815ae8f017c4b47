//! Turns httparse's coarse errors into our precise reasons (error path only, never hot).

use super::RequestError;
use super::fields::is_tchar;

/// Names the reason for an httparse error on the request head at the start of `window`.
pub(crate) fn diagnose(window: &[u8], err: httparse::Error) -> RequestError {
    let head = up_to_head_end(window);
    match err {
        httparse::Error::TooManyHeaders => RequestError::TooManyHeaders,
        httparse::Error::Version => classify_version(request_line(head)),
        _ if has_bare_cr(head) => RequestError::BareCarriageReturn,
        httparse::Error::HeaderName => classify_field_lines(head),
        httparse::Error::HeaderValue => RequestError::InvalidHeaderValue,
        _ => RequestError::BadRequestLine,
    }
}

/// Is the request target, possibly still incomplete, already longer than `max`?
pub(crate) fn target_too_long_so_far(window: &[u8], max: usize) -> bool {
    if window.len() <= max {
        return false;
    }
    let line = request_line(window);
    let Some(method_end) = line.iter().position(|&b| b == b' ') else {
        return false;
    };
    let target = line.get(method_end + 1..).unwrap_or_default();
    let target_len = target
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(target.len());
    target_len > max
}

/// The bytes before the first empty line (or all of them): a later bare CR belongs to a body.
fn up_to_head_end(window: &[u8]) -> &[u8] {
    match window.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(end) => window.get(..end).unwrap_or(window),
        None => window,
    }
}

/// The request line without leading empty lines (RFC 9112 §2.2) and without its terminator.
fn request_line(window: &[u8]) -> &[u8] {
    let start = window
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(window.len());
    let rest = window.get(start..).unwrap_or_default();
    let end = rest
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(rest.len());
    rest.get(..end).unwrap_or_default()
}

/// `HTTP/<digit>...` is a well-formed but unsupported version (505); anything else is garbage (400).
fn classify_version(line: &[u8]) -> RequestError {
    let version = line.splitn(3, |&b| b == b' ').nth(2).unwrap_or_default();
    match version {
        [b'H', b'T', b'T', b'P', b'/', digit, ..] if digit.is_ascii_digit() => {
            RequestError::UnsupportedVersion
        }
        _ => RequestError::BadRequestLine,
    }
}

/// A CR followed by anything but LF (a CR at the very end may still get its LF).
fn has_bare_cr(head: &[u8]) -> bool {
    head.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n')
}

/// Finds the first field line that is not `token ":"` and says what is wrong with it.
fn classify_field_lines(head: &[u8]) -> RequestError {
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head.len());
    let lines = head
        .get(start..)
        .unwrap_or_default()
        .split(|&b| b == b'\n')
        .skip(1);
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let [b' ' | b'\t', ..] = line {
            return RequestError::ObsFold;
        }
        let name_len = line.iter().take_while(|&&b| is_tchar(b)).count();
        match line.get(name_len) {
            Some(b':') if name_len > 0 => continue,
            Some(b' ' | b'\t') if name_len > 0 => return RequestError::WhitespaceBeforeColon,
            None if name_len > 0 => continue, // still arriving
            _ => return RequestError::InvalidHeaderName,
        }
    }
    RequestError::InvalidHeaderName
}
