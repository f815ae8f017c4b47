//! `modifier/martian` on the wire: the tree `config::martian` read, applied
//! to the request cuttle built for a backend before it is sent, and to the
//! backend's response before it is decoded.
//!
//! Where KrakenD applies it (krakend-ce `backend_factory.go`): krakend-martian
//! wraps the HTTP request executor, innermost of the backend layers, so
//! the circuit breaker, the backend rate limit and `validation/cel`'s
//! request checks see the request as cuttle built it, and the response
//! modifiers run before lura checks the status and decodes the body
//! (krakend-martian `martian.go`, `HTTPRequestExecutor`). `fanout::call`
//! and `noop::relay` call [`fetch`] / [`open`] instead of `upstream`'s
//! when a backend has modifiers; nothing else changes for a backend
//! without them.

use std::rc::Rc;

use crate::config::martian::{Cond, Martian, ReqMod, ResMod};
use crate::http::RequestBody;
use crate::http::query::{encode_query, parse_query};
use crate::upstream::{BackendError, OpenResponse, Pool, Pools, Request, Response};

/// A backend's modifiers as one worker holds them: its own copy of the
/// tree, so each worker's regular expressions keep their own caches.
#[derive(Debug)]
pub struct Modifiers(Martian);

impl Modifiers {
    pub fn new(tree: &Martian) -> Modifiers {
        Modifiers(tree.clone())
    }

    /// Whether any modifier runs on the response.
    pub fn edits_response(&self) -> bool {
        self.0.response.is_some()
    }
}

/// Header lines as martian sees Go's `http.Header`: names compared without
/// case, values in order.
#[derive(Debug, Default, Clone)]
pub struct Headers(Vec<(Vec<u8>, Vec<u8>)>);

impl Headers {
    /// Reads a block of `Name: value\r\n` lines.
    pub fn parse(block: &[u8]) -> Headers {
        let mut out = Vec::new();
        for line in block.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let value = line[colon + 1..].trim_ascii();
            out.push((line[..colon].to_vec(), value.to_vec()));
        }
        Headers(out)
    }

    /// The lines, names as written.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.0.iter().map(|(n, v)| (n.as_slice(), v.as_slice()))
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        for (name, value) in &self.0 {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }

    pub fn get<'a>(&'a self, name: &'a str) -> Option<&'a [u8]> {
        self.all(name).next()
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    pub fn set(&mut self, name: &str, value: &[u8]) {
        self.delete(name);
        self.add(name, value);
    }

    pub fn add(&mut self, name: &str, value: &[u8]) {
        self.0.push((name.as_bytes().to_vec(), value.to_vec()));
    }

    pub fn delete(&mut self, name: &str) {
        self.0
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()));
    }
}

/// The backend request being edited.
#[derive(Debug)]
pub struct Edited<'a> {
    /// `http://host:port`, the backend's base URL as configured.
    pub base: &'a str,
    pub target: Vec<u8>,
    pub headers: Headers,
    /// The replacement body, when a `body.Modifier` set one.
    pub body: Option<Vec<u8>>,
}

impl<'a> Edited<'a> {
    pub fn new(base: &'a str, target: &[u8], headers: &[u8]) -> Edited<'a> {
        Edited {
            base,
            target: target.to_vec(),
            headers: Headers::parse(headers),
            body: None,
        }
    }

    fn path(&self) -> &[u8] {
        self.target.split(|&b| b == b'?').next().unwrap_or_default()
    }

    fn query(&self) -> &[u8] {
        match self.target.iter().position(|&b| b == b'?') {
            Some(q) => &self.target[q + 1..],
            None => &[],
        }
    }

    fn scheme(&self) -> &str {
        self.base.split_once("://").map_or("http", |(s, _)| s)
    }

    /// The URL's host as Go's `URL.Host` holds it (with the port when
    /// written).
    fn host(&self) -> &str {
        let rest = self.base.split_once("://").map_or(self.base, |(_, r)| r);
        rest.split('/').next().unwrap_or_default()
    }

    fn port(&self) -> Option<u16> {
        let host = self.host();
        // After the last `:`, unless that `:` is inside an IPv6 literal.
        let written = match host.rsplit_once(':') {
            Some((h, p)) if !host.starts_with('[') || h.ends_with(']') => Some(p),
            _ => None,
        };
        match written {
            Some(p) => p.parse().ok(),
            None => match self.scheme() {
                "https" => Some(443),
                "http" => Some(80),
                _ => None,
            },
        }
    }

    /// The URL as Go's `URL.String` writes it.
    fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme(),
            self.host(),
            String::from_utf8_lossy(&self.target)
        )
    }
}

/// The response being edited.
#[derive(Debug)]
pub struct Received {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// Whether a `body.Modifier` replaced the body.
    pub replaced: bool,
}

/// Applies the request modifiers to `req`.
pub fn modify_request(m: &ReqMod, req: &mut Edited<'_>) {
    match m {
        ReqMod::SetHeader { name, value } => req.headers.set(name, value.as_bytes()),
        ReqMod::AppendHeader { name, value } => req.headers.add(name, value.as_bytes()),
        ReqMod::DeleteHeaders(names) => names.iter().for_each(|n| req.headers.delete(n)),
        ReqMod::CopyHeader { from, to } => {
            let value = req.headers.get(from).unwrap_or_default().to_vec();
            req.headers.set(to, &value);
        }
        ReqMod::Id { name } => {
            if req.headers.get(name).is_none_or(<[u8]>::is_empty) {
                req.headers.set(name, uuid_v4().as_bytes());
            }
        }
        ReqMod::SetQuery { name, value } => {
            let mut pairs: Vec<_> = parse_query(req.query())
                .filter(|(k, _)| k != name.as_bytes())
                .collect();
            pairs.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
            let mut target = req.path().to_vec();
            encode_query(pairs, b'?', &mut target);
            req.target = target;
        }
        ReqMod::Body { content_type, body } => {
            req.headers.set("Content-Type", content_type.as_bytes());
            req.headers.delete("Content-Encoding");
            req.body = Some(body.clone());
        }
        ReqMod::Cookie { pair } => {
            let value = match req.headers.get("Cookie") {
                Some(c) if !c.is_empty() => [c, b"; ", pair.as_bytes()].concat(),
                _ => pair.as_bytes().to_vec(),
            };
            req.headers.set("Cookie", &value);
        }
        ReqMod::Url { path, query } => {
            let mut target = match path {
                Some(p) => p.as_bytes().to_vec(),
                None => req.path().to_vec(),
            };
            let query = match query {
                Some(q) => q.as_bytes(),
                None => req.query(),
            };
            if !query.is_empty() {
                target.push(b'?');
                target.extend_from_slice(query);
            }
            req.target = target;
        }
        ReqMod::Stash { name } => {
            let url = req.url();
            req.headers.set(name, url.as_bytes());
        }
        ReqMod::Group(mods) => mods.iter().for_each(|m| modify_request(m, req)),
        ReqMod::Filter {
            cond,
            then,
            otherwise,
        } => {
            let branch = if request_matches(cond, req) {
                then
            } else {
                otherwise
            };
            if let Some(m) = branch {
                modify_request(m, req);
            }
        }
    }
}

/// Applies the response modifiers to `res`; `req` is the request as sent.
pub fn modify_response(m: &ResMod, req: &Edited<'_>, res: &mut Received) {
    match m {
        ResMod::SetHeader { name, value } => res.headers.set(name, value.as_bytes()),
        ResMod::AppendHeader { name, value } => res.headers.add(name, value.as_bytes()),
        ResMod::DeleteHeaders(names) => names.iter().for_each(|n| res.headers.delete(n)),
        ResMod::CopyHeader { from, to } => {
            let value = res.headers.get(from).unwrap_or_default().to_vec();
            res.headers.set(to, &value);
        }
        // martian also answers a request's `Range` with parts of the body;
        // cuttle gives the whole body (docs/martian.md).
        ResMod::Body { content_type, body } => {
            res.headers.set("Content-Type", content_type.as_bytes());
            res.headers.delete("Content-Encoding");
            res.body = body.clone();
            res.replaced = true;
        }
        ResMod::SetCookie { line } => res.headers.add("Set-Cookie", line.as_bytes()),
        ResMod::Stash { name } => {
            let value = req.headers.get(name).unwrap_or_default().to_vec();
            res.headers.set(name, &value);
        }
        ResMod::Status(code) => res.status = *code,
        ResMod::Group(mods) => mods.iter().for_each(|m| modify_response(m, req, res)),
        ResMod::Filter {
            cond,
            then,
            otherwise,
        } => {
            let holds = match cond {
                // header.Filter's response condition reads the response.
                Cond::Header { name, value } => {
                    res.headers.all(name).any(|v| v == value.as_bytes())
                }
                other => request_matches(other, req),
            };
            let branch = if holds { then } else { otherwise };
            if let Some(m) = branch {
                modify_response(m, req, res);
            }
        }
    }
}

fn request_matches(cond: &Cond, req: &Edited<'_>) -> bool {
    match cond {
        Cond::Header { name, value } => req.headers.all(name).any(|v| v == value.as_bytes()),
        Cond::HeaderRegex { name, regex } => match req.headers.get(name) {
            Some(v) if !v.is_empty() => regex.is_match(&String::from_utf8_lossy(v)),
            _ => false,
        },
        Cond::Query { name, value } => parse_query(req.query())
            .any(|(k, v)| k == name.as_bytes() && (value.is_empty() || v == value.as_bytes())),
        Cond::Url {
            scheme,
            host,
            path,
            query,
        } => {
            let mut decoded = Vec::new();
            crate::pipeline::percent_decode(req.path(), &mut decoded);
            (scheme.is_empty() || scheme == req.scheme())
                && (host.is_empty() || host_matches(req.host(), host))
                && (path.is_empty() || path.as_bytes() == decoded)
                && (query.is_empty() || query.as_bytes() == req.query())
        }
        Cond::UrlRegex(regex) => regex.is_match(&req.url()),
        Cond::Port(port) => req.port() == Some(*port),
    }
}

/// martian's `MatchHost` (`martianurl/host.go`), on the URL's host with
/// its port: equal, or a `*` matching one label, walking backwards.
fn host_matches(host: &str, pattern: &str) -> bool {
    let (host, pattern) = (host.as_bytes(), pattern.as_bytes());
    if host.is_empty() {
        return false;
    }
    if host == pattern {
        return true;
    }
    let mut hi = host.len() - 1;
    for mi in (0..pattern.len()).rev() {
        if pattern[mi] == b'*' {
            while hi > 0 && host[hi] != b'.' {
                hi -= 1;
            }
            if mi == 0 && hi == 0 {
                return true;
            }
            continue;
        }
        if host[hi] != pattern[mi] {
            return false;
        }
        if hi == 0 {
            return mi == 0;
        }
        hi -= 1;
    }
    false
}

/// A random (version 4) UUID, as krakend-martian's `header.Id` writes it.
fn uuid_v4() -> String {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        // No randomness: a fixed id would collide; the time is unique enough.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b = nanos.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The request the modifiers make of `req`: its target, header block and
/// body, owned.
pub fn edit_request<'a>(m: &Modifiers, base: &'a str, req: &Request<'_>) -> (Edited<'a>, Vec<u8>) {
    let mut edited = Edited::new(base, req.path_and_query, req.headers);
    if let Some(r) = &m.0.request {
        modify_request(r, &mut edited);
    }
    let mut block = Vec::with_capacity(req.headers.len() + 64);
    edited.headers.write(&mut block);
    (edited, block)
}

/// `upstream::open` with the request modifiers applied (when the backend
/// has any), for no-op and shadow calls; the request as sent is left in
/// `sent` for [`response_head`].
pub async fn open<'a, B: RequestBody>(
    (m, base): (Option<&Modifiers>, &'a str),
    pools: &Pools,
    pool: &Rc<Pool>,
    req: &Request<'_>,
    scratch: &mut Vec<u8>,
    upload: &mut B,
    sent: &mut Option<Edited<'a>>,
) -> Result<OpenResponse, BackendError> {
    let Some(m) = m else {
        return crate::upstream::open_with(pools, pool, req, scratch, upload).await;
    };
    // Boxed: the modified call's state must not grow every no-op call's future.
    Box::pin(open_modified(
        m, base, pools, pool, req, scratch, upload, sent,
    ))
    .await
}

#[allow(clippy::too_many_arguments)]
async fn open_modified<'a, B: RequestBody>(
    m: &Modifiers,
    base: &'a str,
    pools: &Pools,
    pool: &Rc<Pool>,
    req: &Request<'_>,
    scratch: &mut Vec<u8>,
    upload: &mut B,
    sent: &mut Option<Edited<'a>>,
) -> Result<OpenResponse, BackendError> {
    let (edited, block) = edit_request(m, base, req);
    let request = edited_request(req, &edited, &block);
    // A `body.Modifier` replaced the body: the client's (still streaming,
    // perhaps) is not sent, as martian drops it.
    let opened = if edited.body.is_some() {
        crate::upstream::open(pools, pool, &request, scratch).await
    } else {
        crate::upstream::open_with(pools, pool, &request, scratch, upload).await
    };
    *sent = Some(edited);
    opened
}

/// A no-op backend's status and header lines after the response
/// modifiers (`None` without any); the body only when a `body.Modifier`
/// replaced it (else the backend's is streamed as it comes).
pub fn response_head(
    m: Option<&Modifiers>,
    sent: Option<&Edited<'_>>,
    head: &crate::http::ResponseHead,
    raw: &[u8],
) -> Option<Received> {
    let (res_mod, sent) = (m?.0.response.as_ref()?, sent?);
    let mut received = Received {
        status: head.status,
        headers: Headers(
            head.headers
                .iter()
                .map(|h| (h.name.of(raw).to_vec(), h.value.of(raw).to_vec()))
                .collect(),
        ),
        body: Vec::new(),
        replaced: false,
    };
    modify_response(res_mod, sent, &mut received);
    Some(received)
}

pub fn edited_request<'r>(
    req: &Request<'r>,
    edited: &'r Edited<'_>,
    block: &'r [u8],
) -> Request<'r> {
    Request {
        method: req.method,
        path_and_query: &edited.target,
        headers: block,
        body: edited.body.as_deref().unwrap_or(req.body),
        // A replaced body has a known length, as martian sets it.
        chunked: req.chunked && edited.body.is_none(),
        body_on_redirect: req.body_on_redirect,
    }
}

/// `upstream::fetch` with the modifiers applied (when the backend has
/// any): the request ones before
/// it is sent, the response ones on the whole (inflated) response before
/// the status is checked and the body decoded.
pub async fn fetch(
    m: Option<&Modifiers>,
    base: &str,
    pools: &Pools,
    pool: &Rc<Pool>,
    req: &Request<'_>,
    max_body: usize,
    scratch: &mut Vec<u8>,
) -> Result<Response, BackendError> {
    let Some(m) = m else {
        return crate::upstream::fetch(pools, pool, req, max_body, scratch).await;
    };
    // Boxed: as in `open`.
    Box::pin(fetch_modified(m, base, pools, pool, req, max_body, scratch)).await
}

async fn fetch_modified(
    m: &Modifiers,
    base: &str,
    pools: &Pools,
    pool: &Rc<Pool>,
    req: &Request<'_>,
    max_body: usize,
    scratch: &mut Vec<u8>,
) -> Result<Response, BackendError> {
    let (edited, block) = edit_request(m, base, req);
    let request = edited_request(req, &edited, &block);
    let Some(res_mod) = &m.0.response else {
        return crate::upstream::fetch(pools, pool, &request, max_body, scratch).await;
    };
    let mut conn = crate::upstream::open(pools, pool, &request, scratch).await?;
    let (head, raw) = (conn.head(), conn.head_bytes());
    let mut headers = Headers(
        head.headers
            .iter()
            .map(|h| (h.name.of(raw).to_vec(), h.value.of(raw).to_vec()))
            .collect(),
    );
    let (status, framing, keep_alive) = (head.status, head.body, head.keep_alive);
    conn.consume_head();
    let mut body = Vec::new();
    conn.read_body(&framing, max_body, &mut body).await?;
    conn.finish(keep_alive);
    // Go's transport inflates a gzip body it asked for and drops the
    // header, before martian sees the response (as `upstream::fetch`).
    let gzipped = headers
        .get("Content-Encoding")
        .is_some_and(|c| c.eq_ignore_ascii_case(b"gzip") || c.eq_ignore_ascii_case(b"x-gzip"));
    if gzipped {
        body = gunzip(&body, max_body)?;
        headers.delete("Content-Encoding");
    }
    let mut received = Received {
        status,
        headers,
        body,
        replaced: false,
    };
    modify_response(res_mod, &edited, &mut received);
    Ok(Response {
        status: received.status,
        content_type: received.headers.get("Content-Type").map(Box::from),
        body: received.body,
    })
}

/// As `upstream::client`'s: at most `max` bytes inflated.
fn gunzip(compressed: &[u8], max: usize) -> Result<Vec<u8>, BackendError> {
    use std::io::Read;
    let mut out = Vec::with_capacity(compressed.len() * 4);
    let mut decoder = flate2::read::GzDecoder::new(compressed).take(max as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|e| BackendError::BadResponse(crate::upstream::Malformed::Gzip(Rc::new(e))))?;
    if out.len() > max {
        return Err(BackendError::TooLarge(max));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(json: &str) -> Modifiers {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        Modifiers::new(
            &crate::config::martian::parse(&value, "m", &mut Default::default()).unwrap(),
        )
    }

    fn edit(m: &Modifiers, target: &[u8], headers: &[u8]) -> (Vec<u8>, String) {
        let req = Request {
            method: crate::http::Method::Get,
            path_and_query: target,
            headers,
            body: b"",
            chunked: false,
            body_on_redirect: false,
        };
        let (edited, block) = edit_request(m, "http://127.0.0.1:8080", &req);
        (edited.target, String::from_utf8(block).unwrap())
    }

    #[test]
    fn header_modifiers_edit_the_block() {
        let m = tree(
            r#"{"fifo.Group": {"modifiers": [
                {"header.Modifier": {"name": "x-set", "value": "1"}},
                {"header.Append": {"name": "X-Add", "value": "2"}},
                {"header.Blacklist": {"names": ["X-Gone"]}},
                {"header.Copy": {"from": "X-Src", "to": "X-Dst"}}
            ]}}"#,
        );
        let (_, block) = edit(
            &m,
            b"/",
            b"X-Set: 0\r\nX-Gone: a\r\nx-src: s\r\nX-Add: 1\r\n",
        );
        assert_eq!(
            block,
            "x-src: s\r\nX-Add: 1\r\nX-Set: 1\r\nX-Add: 2\r\nX-Dst: s\r\n"
        );
    }

    #[test]
    fn query_and_url_modifiers_edit_the_target() {
        let m = tree(r#"{"querystring.Modifier": {"name": "b", "value": "x y"}}"#);
        assert_eq!(edit(&m, b"/p?c=1&b=2&a=0", b"").0, b"/p?a=0&b=x+y&c=1");
        let m = tree(r#"{"url.Modifier": {"path": "/new path", "query": "k=v"}}"#);
        assert_eq!(edit(&m, b"/old?x=1", b"").0, b"/new%20path?k=v");
    }

    #[test]
    fn a_filter_without_a_match_runs_else_or_nothing() {
        let m = tree(
            r#"{"header.Filter": {"name": "X-Cert", "value": "ok",
                "modifier": {"header.Modifier": {"name": "X-Verified", "value": "yes"}}}}"#,
        );
        assert!(
            edit(&m, b"/", b"X-Cert: ok\r\n")
                .1
                .contains("X-Verified: yes")
        );
        assert_eq!(edit(&m, b"/", b"X-Cert: no\r\n").1, "X-Cert: no\r\n");
        let m = tree(
            r#"{"url.RegexFilter": {"regex": "/admin",
                "modifier": {"header.Modifier": {"name": "X-A", "value": "1"}},
                "else": {"header.Modifier": {"name": "X-A", "value": "0"}}}}"#,
        );
        assert_eq!(edit(&m, b"/admin/x", b"").1, "X-A: 1\r\n");
        assert_eq!(edit(&m, b"/user", b"").1, "X-A: 0\r\n");
    }

    #[test]
    fn stash_and_port_filter_see_the_backend_url() {
        let m = tree(
            r#"{"port.Filter": {"port": 8080, "modifier": {"stash.Modifier": {"headerName": "X-Url"}}}}"#,
        );
        assert_eq!(
            edit(&m, b"/a?b=c", b"").1,
            "X-Url: http://127.0.0.1:8080/a?b=c\r\n"
        );
    }

    #[test]
    fn url_filter_hosts_match_as_martian_does() {
        assert!(host_matches("127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(!host_matches("127.0.0.1:8080", "127.0.0.1"));
        assert!(host_matches("api.example.com", "*.example.com"));
        assert!(!host_matches("example.com", "*.example.com"));
        assert!(!host_matches("", "*"));
    }

    #[test]
    fn header_id_keeps_an_existing_id() {
        let m = tree(r#"{"header.Id": {}}"#);
        assert_eq!(
            edit(&m, b"/", b"X-Krakend-Id: mine\r\n").1,
            "X-Krakend-Id: mine\r\n"
        );
        let block = edit(&m, b"/", b"").1;
        assert_eq!(block.len(), "X-Krakend-Id: \r\n".len() + 36, "{block}");
    }
}
