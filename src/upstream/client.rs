//! A backend exchange: serialise the request, send it on a pooled
//! connection, read the response head, follow redirects as KrakenD's Go
//! client does, retry once on a stale keep-alive connection.

use std::rc::Rc;

use super::Pools;
use super::conn::BackendConn;
use super::error::BackendError;
use super::pool::Pool;
use crate::http::{LAST_CHUNK, Method, ResponseHead, encode_chunk, write_content_length};

/// Go's http.Client stops after ten redirects.
const MAX_REDIRECTS: usize = 10;
/// A redirect's own body is read and thrown away up to this size.
const MAX_REDIRECT_BODY: usize = 64 * 1024;

/// What to send. Header lines are already serialised (`Name: value\r\n`),
/// without `Host` and body framing, which the client adds.
pub struct Request<'a> {
    pub method: Method,
    pub path_and_query: &'a [u8],
    pub headers: &'a [u8],
    pub body: &'a [u8],
}

/// A response read whole.
pub struct Response {
    pub status: u16,
    pub content_type: Option<Box<[u8]>>,
    pub body: Vec<u8>,
}

/// A response whose head was read; the body is still on the connection.
pub struct OpenResponse {
    pub conn: BackendConn,
    pub head: ResponseHead,
}

fn serialise(
    req: &Request<'_>,
    authority: &str,
    referer: Option<(&str, &[u8])>,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.path_and_query);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(req.headers);
    if let Some(referer) = referer {
        // Go's client names the page that redirected, as KrakenD's backends see it.
        out.extend_from_slice(b"Referer: http://");
        out.extend_from_slice(referer.0.as_bytes());
        out.extend_from_slice(referer.1);
        out.extend_from_slice(b"\r\n");
    }
    if !req.body.is_empty() {
        // KrakenD streams request bodies, so backends see them chunked.
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        encode_chunk(req.body, out);
        out.extend_from_slice(LAST_CHUNK);
    } else {
        if matches!(req.method, Method::Post | Method::Put | Method::Patch) {
            write_content_length(out, 0);
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Sends `req` and reads the response head, following redirects.
pub async fn open(
    pools: &Pools,
    pool: &Rc<Pool>,
    req: &Request<'_>,
    scratch: &mut Vec<u8>,
) -> Result<OpenResponse, BackendError> {
    let mut pool = pool.clone();
    let mut method = req.method;
    let mut path = std::borrow::Cow::Borrowed(req.path_and_query);
    let mut body = req.body;
    let mut referer: Option<(Rc<str>, Vec<u8>)> = None;
    for _ in 0..=MAX_REDIRECTS {
        let current = Request {
            method,
            path_and_query: &path,
            headers: req.headers,
            body,
        };
        serialise(
            &current,
            &pool.authority,
            referer.as_ref().map(|(a, p)| (&**a, &p[..])),
            scratch,
        );
        let mut open = round_trip(&pool, method, scratch).await?;
        let status = open.head.status;
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return Ok(open);
        }
        let Some(location) = open.head.header(open.conn.head_bytes(), "location") else {
            return Ok(open);
        };
        let (next_pool, next_path) = resolve_location(pools, &pool, &path, location)?;
        // Read the redirect's body so the connection can be reused.
        let framing = std::mem::replace(&mut open.head.body, crate::http::ResponseBody::Empty);
        let keep_alive = open.head.keep_alive;
        open.conn.consume_head(&open.head);
        let mut sink = Vec::new();
        let drained = open
            .conn
            .read_body(&framing, MAX_REDIRECT_BODY, &mut sink)
            .await
            .is_ok();
        open.conn.finish(keep_alive && drained);
        // RFC 9110 §15.4: 303 always, and 301/302 after a POST, become GET.
        if status == 303 && method != Method::Head
            || matches!(status, 301 | 302) && method == Method::Post
        {
            method = Method::Get;
            body = &[];
        }
        referer = Some((pool.authority.clone(), path.into_owned()));
        pool = next_pool;
        path = std::borrow::Cow::Owned(next_path);
    }
    Err(BackendError::Redirect(format!(
        "stopped after {MAX_REDIRECTS} redirects"
    )))
}

/// Sends and reads a response head read on one connection; a reused
/// connection that the backend had already closed is replaced once.
async fn round_trip(
    pool: &Rc<Pool>,
    method: Method,
    request: &[u8],
) -> Result<OpenResponse, BackendError> {
    let mut conn = pool.checkout().await?;
    match send_and_read_head(&mut conn, method, request).await {
        Ok(head) => Ok(OpenResponse { conn, head }),
        Err(BackendError::ClosedBeforeResponse | BackendError::Io(_)) if conn.is_reused() => {
            drop(conn);
            let mut conn = pool.connect().await?;
            let head = send_and_read_head(&mut conn, method, request).await?;
            Ok(OpenResponse { conn, head })
        }
        Err(e) => Err(e),
    }
}

async fn send_and_read_head(
    conn: &mut BackendConn,
    method: Method,
    request: &[u8],
) -> Result<ResponseHead, BackendError> {
    conn.send(request).await?;
    conn.read_head(method).await
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
        .map_err(|_| BackendError::Redirect("Location is not UTF-8".into()))?;
    if let Some(rest) = text.strip_prefix("http://") {
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let target = pools.get(authority).ok_or_else(|| {
            BackendError::Redirect(format!("to {text}: not a backend host of this gateway"))
        })?;
        let path = if path.is_empty() { "/" } else { path };
        return Ok((target, path.as_bytes().to_vec()));
    }
    if text.contains("://") {
        return Err(BackendError::Redirect(format!(
            "to {text}: only http:// is supported"
        )));
    }
    if text.starts_with('/') {
        return Ok((pool.clone(), text.as_bytes().to_vec()));
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
    out.extend_from_slice(text.as_bytes());
    Ok((pool.clone(), out))
}

/// Sends `req` and reads the whole response, de-chunked, at most `max_body` bytes.
pub async fn fetch(
    pools: &Pools,
    pool: &Rc<Pool>,
    req: &Request<'_>,
    max_body: usize,
    scratch: &mut Vec<u8>,
) -> Result<Response, BackendError> {
    let OpenResponse { mut conn, head } = open(pools, pool, req, scratch).await?;
    let content_type = head
        .header(conn.head_bytes(), "content-type")
        .map(Box::from);
    let gzipped = head
        .header(conn.head_bytes(), "content-encoding")
        .is_some_and(|c| c.eq_ignore_ascii_case(b"gzip") || c.eq_ignore_ascii_case(b"x-gzip"));
    conn.consume_head(&head);
    let mut body = Vec::new();
    conn.read_body(&head.body, max_body, &mut body).await?;
    conn.finish(head.keep_alive);
    if gzipped {
        body = gunzip(&body, max_body)?;
    }
    Ok(Response {
        status: head.status,
        content_type,
        body,
    })
}

/// Inflates a gzip body, at most `max` bytes of it.
fn gunzip(compressed: &[u8], max: usize) -> Result<Vec<u8>, BackendError> {
    use std::io::Read;
    let mut out = Vec::with_capacity(compressed.len() * 4);
    let mut decoder = flate2::read::GzDecoder::new(compressed).take(max as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| BackendError::BadResponse(format!("gzip body: {e}")))?;
    if out.len() > max {
        return Err(BackendError::TooLarge(max));
    }
    Ok(out)
}
