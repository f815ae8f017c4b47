//! A backend exchange: serialise the request, send it on a pooled
//! connection, read the response head, follow redirects as KrakenD's Go
//! client does, retry once on a stale keep-alive connection.

use std::rc::Rc;

use super::conn::BackendConn;
use super::error::{BackendError, Malformed, RedirectFailure};
use super::pool::{Endpoint, Lease, Pool, Pools};
use crate::http::{LAST_CHUNK, Method, RequestBody, WholeBody, encode_chunk, write_content_length};

/// Go's http.Client stops after ten redirects.
const MAX_REDIRECTS: usize = 10;
/// A redirect's own body is read and thrown away up to this size.
const MAX_REDIRECT_BODY: usize = 64 * 1024;

/// What to send. Header lines are already serialised (`Name: value\r\n`),
/// without `Host` and body framing, which the client adds.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub method: Method,
    pub path_and_query: &'a [u8],
    pub headers: &'a [u8],
    pub body: &'a [u8],
    /// Send a non-empty body chunked instead of with `Content-Length`.
    pub chunked: bool,
    /// `backend/http/client.send_body_on_redirect`: follow a 307 or 308
    /// with the body. Without it a request with a body is not sent again:
    /// the 307/308 is the answer.
    pub body_on_redirect: bool,
}

/// A response read whole.
pub struct Response {
    pub status: u16,
    pub content_type: Option<Box<[u8]>>,
    pub body: Vec<u8>,
}

/// A response whose head was read (`head()`, its bytes `head_bytes()`);
/// the body is still on the connection.
pub type OpenResponse = Lease;

fn serialise(
    req: &Request<'_>,
    authority: &str,
    referer: Option<(&str, &[u8])>,
    close: bool,
    streamed: Option<Option<u64>>,
    out: &mut Vec<u8>,
) -> Result<(), BackendError> {
    // The last line of defence: values are encoded before they get here, so
    // a CR, LF, NUL or space in the target (or a bare CR/LF or NUL among the
    // header lines) is a gateway bug, and must not become a second request.
    if req.path_and_query.first() != Some(&b'/')
        || req
            .path_and_query
            .iter()
            .any(|&b| matches!(b, b'\r' | b'\n' | 0 | b' '))
    {
        return Err(unsafe_request("request target"));
    }
    if !are_header_lines(req.headers) {
        return Err(unsafe_request("header lines"));
    }
    let host = host_header(authority);
    out.clear();
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.path_and_query);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(req.headers);
    if let Some((authority, path)) = referer {
        // Go's client names the page that redirected, as KrakenD's backends see it.
        out.extend_from_slice(b"Referer: ");
        out.extend_from_slice(scheme_of(authority).as_bytes());
        out.extend_from_slice(host_header(authority).as_bytes());
        out.extend_from_slice(path);
        out.extend_from_slice(b"\r\n");
    }
    if close {
        // `disable_keep_alives`: Go's transport asks the backend to close too.
        out.extend_from_slice(b"Connection: close\r\n");
    }
    match streamed {
        // The body follows (`BackendConn::send_body`): with the length the
        // client announced, else (or with `chunked_request_body`) chunked.
        Some(Some(len)) if !req.chunked => {
            write_content_length(out, usize::try_from(len).unwrap_or(usize::MAX));
            out.extend_from_slice(b"\r\n");
            return Ok(());
        }
        Some(_) => {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            return Ok(());
        }
        None => {}
    }
    if req.chunked && !req.body.is_empty() {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        encode_chunk(req.body, out);
        out.extend_from_slice(LAST_CHUNK);
        return Ok(());
    }
    // The gateway holds the whole body, so its length is known: backends
    // that cannot read chunked bodies (many WSGI servers) still get it.
    if !req.body.is_empty() || matches!(req.method, Method::Post | Method::Put | Method::Patch) {
        write_content_length(out, req.body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(req.body);
    Ok(())
}

fn unsafe_request(what: &'static str) -> BackendError {
    tracing::error!("bug: a backend request's {what} held CR, LF, NUL or a space; not sent");
    BackendError::Unsafe(what)
}

/// Whether `lines` is a run of complete `Name: value\r\n` lines: every CR
/// followed by LF, every LF preceded by CR, no NUL, no empty line.
///
/// One pass that jumps from one CR, LF or NUL to the next (memchr3): the
/// lines are checked before every backend call, so this stays cheap.
fn are_header_lines(lines: &[u8]) -> bool {
    let mut line_start = 0;
    let mut at = 0;
    while let Some(found) = memchr::memchr3(b'\r', b'\n', 0, &lines[at..]) {
        let cr = at + found;
        // A NUL, a bare LF, an empty line, or a CR not followed by LF.
        if lines[cr] != b'\r' || cr == line_start || lines.get(cr + 1) != Some(&b'\n') {
            return false;
        }
        line_start = cr + 2;
        at = line_start;
    }
    at == lines.len()
}

/// `Host` omits the scheme's default port, as Go's client does. `authority`
/// is a pool key (`host:port`, or `https://host:port`).
pub fn host_header(authority: &str) -> &str {
    match authority.strip_prefix("https://") {
        Some(tls) => tls.strip_suffix(":443").unwrap_or(tls),
        None => authority.strip_suffix(":80").unwrap_or(authority),
    }
}

/// The scheme of a pool key, for URLs rebuilt from it.
fn scheme_of(authority: &str) -> &'static str {
    if authority.starts_with("https://") {
        "https://"
    } else {
        "http://"
    }
}

/// Headers that carry credentials: Go's client drops them on a redirect to
/// another host (`shouldCopyHeaderOnRedirect`), and so does cuttle.
const CREDENTIALS: [&[u8]; 5] = [
    b"authorization",
    b"proxy-authorization",
    b"cookie",
    b"cookie2",
    b"www-authenticate",
];

/// Copies serialised header lines without those that carry credentials.
fn without_credentials(lines: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(lines.len());
    for line in lines.split_inclusive(|&b| b == b'\n') {
        let name = line.split(|&b| b == b':').next().unwrap_or(line);
        if !CREDENTIALS.iter().any(|c| c.eq_ignore_ascii_case(name)) {
            kept.extend_from_slice(line);
        }
    }
    kept
}

/// The host of `host:port` or `https://host:port` (brackets of an IPv6
/// literal kept).
fn host_of(authority: &str) -> &str {
    let authority = super::resolve::socket_authority(authority);
    match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => &authority[..colon],
        _ => authority,
    }
}

/// Go's `isDomainOrSubdomain`: credentials may follow a redirect to the
/// same host or to a subdomain of it (an IP address is nobody's subdomain).
fn may_keep_credentials(initial: &str, next: &str) -> bool {
    let (initial, next) = (host_of(initial), host_of(next));
    next.eq_ignore_ascii_case(initial)
        || next.len() > initial.len()
            && next.as_bytes()[next.len() - initial.len() - 1] == b'.'
            && next[next.len() - initial.len()..].eq_ignore_ascii_case(initial)
            && !next.starts_with('[')
            && next.parse::<std::net::IpAddr>().is_err()
}

/// Sends `req` and reads the response head, following redirects.
pub async fn open(
    pools: &Pools,
    pool: &Rc<Pool>,
    req: &Request<'_>,
    scratch: &mut Vec<u8>,
) -> Result<OpenResponse, BackendError> {
    open_with(pools, pool, req, scratch, &mut WholeBody).await
}

/// [`open`], with the body streamed from `upload` when it is pending
/// (`req.body` is then unused). A streamed body goes once: on the first
/// hop only (a 307/308 is the answer), never again on another connection
/// once a byte of it was read from the client.
pub async fn open_with<B: RequestBody>(
    pools: &Pools,
    pool: &Rc<Pool>,
    req: &Request<'_>,
    scratch: &mut Vec<u8>,
    upload: &mut B,
) -> Result<OpenResponse, BackendError> {
    let mut streamed = upload.pending();
    let initial_authority = pool.authority.clone();
    let mut pool = pool.clone();
    let mut method = req.method;
    let mut path = std::borrow::Cow::Borrowed(req.path_and_query);
    let mut body = req.body;
    let mut referer: Option<(Rc<str>, Vec<u8>)> = None;
    // Once dropped for another host, credentials stay dropped (as Go does
    // since CVE-2024-45336), even if a later redirect comes back.
    let mut headers = std::borrow::Cow::Borrowed(req.headers);
    for _ in 0..=MAX_REDIRECTS {
        let current = Request {
            method,
            path_and_query: &path,
            headers: &headers,
            body,
            chunked: req.chunked,
            body_on_redirect: req.body_on_redirect,
        };
        // The address first: the `Host` header is its authority (an SRV
        // instance's own, for a `"sd": "dns"` backend).
        let endpoint = pool.pick()?;
        serialise(
            &current,
            &endpoint.authority,
            referer.as_ref().map(|(a, p)| (&**a, &p[..])),
            !pool.settings().keep_alive,
            streamed,
            scratch,
        )?;
        let mut open = match streamed.take() {
            Some(_) => {
                // Boxed: a streamed body is the rare path, and its state
                // would otherwise be part of every backend call's future.
                let streaming =
                    round_trip_streamed(&pool, &endpoint, method, scratch, upload, req.chunked);
                let open = Box::pin(streaming).await?;
                if matches!(open.head().status, 307 | 308) {
                    // The body is gone: it cannot follow the redirect.
                    return Ok(open);
                }
                body = &[];
                open
            }
            None => round_trip(&pool, &endpoint, method, scratch).await?,
        };
        let status = open.head().status;
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return Ok(open);
        }
        // Go's client (net/http `redirectBehavior`) follows a 307/308 with
        // the same method and body only when it can replay the body, which
        // lura lets it do with `send_body_on_redirect` (`proxy/http.go`
        // `redirectPostReaderFactory`); otherwise the 307/308 is the answer.
        if matches!(status, 307 | 308) && !body.is_empty() && !req.body_on_redirect {
            return Ok(open);
        }
        let Some(location) = open.head().header(open.head_bytes(), "location") else {
            return Ok(open);
        };
        let (next_pool, next_path) = resolve_location(pools, &pool, &path, location)?;
        // Read the redirect's body so the connection can be reused.
        let (framing, keep_alive) = (open.head().body, open.head().keep_alive);
        open.consume_head();
        let mut sink = Vec::new();
        let drained = open
            .read_body(&framing, MAX_REDIRECT_BODY, &mut sink)
            .await
            .is_ok();
        open.finish(keep_alive && drained);
        // Go's `redirectBehavior`: a 301, 302 or 303 is followed without
        // the body, as a GET unless the request was a GET or HEAD.
        if matches!(status, 301..=303) {
            if !matches!(method, Method::Get | Method::Head) {
                method = Method::Get;
            }
            body = &[];
        }
        if matches!(headers, std::borrow::Cow::Borrowed(_))
            && !may_keep_credentials(&initial_authority, &next_pool.authority)
        {
            headers = std::borrow::Cow::Owned(without_credentials(&headers));
        }
        referer = Some((endpoint.authority.clone(), path.into_owned()));
        pool = next_pool;
        path = std::borrow::Cow::Owned(next_path);
    }
    Err(BackendError::Redirect(RedirectFailure::TooMany(
        MAX_REDIRECTS,
    )))
}

/// Sends and reads a response head on one connection. A failure that
/// allows it (a pooled connection the backend had closed, found out before
/// any response byte: `BackendError::may_send_again`) is retried once on
/// a new connection, which is never retried itself.
async fn round_trip(
    pool: &Rc<Pool>,
    endpoint: &Rc<Endpoint>,
    method: Method,
    request: &[u8],
) -> Result<OpenResponse, BackendError> {
    let mut conn = pool.checkout_at(endpoint).await?;
    match send_and_read_head(&mut conn, method, request, pool).await {
        Ok(()) => Ok(conn),
        Err(e) if e.may_send_again(conn.is_reused(), method.is_idempotent(), conn.wrote_any()) => {
            drop(conn);
            // Boxed as in `Pool::checkout`: a rare path.
            let mut conn = Box::pin(pool.connect_at(endpoint)).await?;
            send_and_read_head(&mut conn, method, request, pool).await?;
            Ok(conn)
        }
        Err(e) => Err(e),
    }
}

/// [`round_trip`] with a streamed body. The head may go again on a new
/// connection when not one byte of it was taken (no byte of the body was
/// read then); after that, a failure is the answer.
async fn round_trip_streamed<B: RequestBody>(
    pool: &Rc<Pool>,
    endpoint: &Rc<Endpoint>,
    method: Method,
    head: &[u8],
    upload: &mut B,
    chunked: bool,
) -> Result<OpenResponse, BackendError> {
    let mut conn = pool.checkout_at(endpoint).await?;
    if let Err(e) = conn.send(head).await {
        if !e.may_send_again(conn.is_reused(), false, conn.wrote_any()) {
            return Err(e);
        }
        drop(conn);
        conn = Box::pin(pool.connect_at(endpoint)).await?;
        conn.send(head).await?;
    }
    let chunked = chunked || upload.pending().is_some_and(|len| len.is_none());
    conn.send_body(upload, chunked).await?;
    read_head_bounded(&mut conn, method, pool).await?;
    Ok(conn)
}

async fn send_and_read_head(
    conn: &mut BackendConn,
    method: Method,
    request: &[u8],
    pool: &Pool,
) -> Result<(), BackendError> {
    conn.send(request).await?;
    read_head_bounded(conn, method, pool).await
}

async fn read_head_bounded(
    conn: &mut BackendConn,
    method: Method,
    pool: &Pool,
) -> Result<(), BackendError> {
    match pool.settings().response_header_timeout {
        // Go's `ResponseHeaderTimeout`: from the end of the request to the
        // end of the response head (interim 1xx answers included).
        Some(limit) => crate::rt::within(limit, conn.read_head(method))
            .await
            .unwrap_or(Err(BackendError::HeaderTimeout)),
        None => conn.read_head(method).await,
    }
}

/// Where a `Location` points: the same host (relative or absolute path) or
/// another host this worker already has a pool for.
fn resolve_location(
    pools: &Pools,
    pool: &Rc<Pool>,
    current_path: &[u8],
    location: &[u8],
) -> Result<(Rc<Pool>, Vec<u8>), BackendError> {
    let text = std::str::from_utf8(location)
        .map_err(|_| BackendError::Redirect(RedirectFailure::LocationNotUtf8))?;
    // The fragment is for the browser; it never goes on the wire.
    let text = text.split('#').next().unwrap_or_default();
    let absolute = [("http://", ""), ("https://", "https://")]
        .into_iter()
        .find_map(|(prefix, key)| text.strip_prefix(prefix).map(|rest| (key, rest)));
    if let Some((key_scheme, rest)) = absolute {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let key = super::resolve::authority_of(&format!("{key_scheme}{authority}"));
        let target = pools.get(&key).ok_or_else(|| {
            BackendError::Redirect(RedirectFailure::NotABackend(text.to_string()))
        })?;
        let path = if path.is_empty() { "/" } else { path };
        return Ok((target, request_target(path)));
    }
    if text.contains("://") {
        return Err(BackendError::Redirect(RedirectFailure::Scheme(
            text.to_string(),
        )));
    }
    if text.starts_with('/') {
        return Ok((pool.clone(), request_target(text)));
    }
    // Relative reference: replace the last segment of the current path.
    let path_only = current_path.split(|&b| b == b'?').next().unwrap_or(b"/");
    let dir_end = path_only
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |p| p + 1);
    let mut out = path_only[..dir_end].to_vec();
    if out.is_empty() {
        out.push(b'/');
    }
    out.extend_from_slice(&request_target(text));
    Ok((pool.clone(), out))
}

/// A `Location` reference as request-target bytes: what may not stand in
/// one (controls, space, DEL, non-ASCII) percent-encoded, as Go's URL
/// parser re-encodes it, so a backend's header can never add a request.
fn request_target(reference: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(reference.len());
    for &b in reference.as_bytes() {
        if b > b' ' && b < 0x7f {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// Sends `req` and reads the whole response, de-chunked, at most `max_body` bytes.
pub async fn fetch(
    pools: &Pools,
    pool: &Rc<Pool>,
    req: &Request<'_>,
    max_body: usize,
    scratch: &mut Vec<u8>,
) -> Result<Response, BackendError> {
    let mut conn = open(pools, pool, req, scratch).await?;
    let head = conn.head();
    let content_type = head
        .header(conn.head_bytes(), "content-type")
        .map(Box::from);
    let gzipped = head
        .header(conn.head_bytes(), "content-encoding")
        .is_some_and(|c| c.eq_ignore_ascii_case(b"gzip") || c.eq_ignore_ascii_case(b"x-gzip"));
    let (status, framing, keep_alive) = (head.status, head.body, head.keep_alive);
    conn.consume_head();
    let mut body = Vec::new();
    conn.read_body(&framing, max_body, &mut body).await?;
    conn.finish(keep_alive);
    if gzipped {
        body = gunzip(&body, max_body)?;
    }
    Ok(Response {
        status,
        content_type,
        body,
    })
}

/// Inflates a gzip body, at most `max` bytes of it.
pub(super) fn gunzip(compressed: &[u8], max: usize) -> Result<Vec<u8>, BackendError> {
    use std::io::Read;
    let mut out = Vec::with_capacity(compressed.len() * 4);
    let mut decoder = flate2::read::GzDecoder::new(compressed).take(max as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| BackendError::BadResponse(Malformed::Gzip(Rc::new(e))))?;
    if out.len() > max {
        return Err(BackendError::TooLarge(max));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serialised(path: &[u8], headers: &[u8], body: &[u8]) -> Result<String, BackendError> {
        let req = Request {
            method: Method::Post,
            path_and_query: path,
            headers,
            body,
            chunked: false,
            body_on_redirect: false,
        };
        let mut out = Vec::new();
        serialise(&req, "example.com:80", None, false, None, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn requests_carry_content_length_and_no_default_port() {
        assert_eq!(
            serialised(b"/a?b=c", b"X: y\r\n", b"hello").unwrap(),
            "POST /a?b=c HTTP/1.1\r\nHost: example.com\r\nX: y\r\nContent-Length: 5\r\n\r\nhello"
        );
        assert_eq!(host_header("[::1]:80"), "[::1]");
        assert_eq!(host_header("h:8080"), "h:8080");
        assert_eq!(host_header("https://h:443"), "h");
        assert_eq!(host_header("https://h:8443"), "h:8443");
        assert_eq!(host_of("https://h:8443"), "h");
    }

    #[test]
    fn nothing_that_ends_a_line_or_the_target_is_sent() {
        for path in [&b"/a b"[..], b"/a\r\nX: y", b"/a\n", b"/a\0", b"a", b""] {
            assert!(serialised(path, b"", b"").is_err(), "{path:?}");
        }
        for headers in [
            &b"X: a\r\nY: b"[..],
            b"X: a\nY: b\r\n",
            b"X: a\rY: b\r\n",
            b"X: a\r\n\r\nGET / HTTP/1.1\r\n",
            b"X: \0\r\n",
            b"\r\n",
        ] {
            assert!(serialised(b"/", headers, b"").is_err(), "{headers:?}");
        }
        assert!(serialised(b"/", b"X: a\r\nY: b\r\n", b"").is_ok());
    }

    #[test]
    fn redirect_targets_are_request_targets() {
        assert_eq!(request_target("/a b\u{7f}é?x=1"), b"/a%20b%7F%C3%A9?x=1");
        let pools = Pools::default();
        let feed = super::super::discovery::Feed::new("h:80");
        let pool = Pool::new("h:80".into(), feed, Default::default(), None, None);
        let resolve = |location: &str| {
            resolve_location(&pools, &pool, b"/dir/page?q=1", location.as_bytes())
                .map(|(_, path)| String::from_utf8(path).unwrap())
                .map_err(|e| e.to_string())
        };
        assert_eq!(resolve("/x y#frag").unwrap(), "/x%20y");
        assert_eq!(resolve("next?a=b").unwrap(), "/dir/next?a=b");
        assert!(resolve("http://elsewhere/x").is_err());
        assert!(resolve("https://h/x").is_err());
    }

    #[test]
    fn credentials_stay_with_their_host() {
        let keeps = [
            ("127.0.0.1:80", "127.0.0.1:9000", true),
            ("api.example:80", "v2.api.example:80", true),
            ("api.example:80", "API.example:8080", true),
            ("127.0.0.1:80", "localhost:80", false),
            ("api.example:80", "evilapi.example:80", false),
            ("v2.api.example:80", "api.example:80", false),
            ("0.1:80", "127.0.0.1:80", false),
            ("[::1]:80", "[::2]:80", false),
        ];
        for (initial, next, expected) in keeps {
            assert_eq!(
                may_keep_credentials(initial, next),
                expected,
                "{initial} -> {next}"
            );
        }
        assert_eq!(
            without_credentials(
                b"Authorization: a\r\nX-A: 1\r\ncookie: c\r\nProxy-Authorization: p\r\nX-B: 2\r\n"
            ),
            b"X-A: 1\r\nX-B: 2\r\n"
        );
    }
}
