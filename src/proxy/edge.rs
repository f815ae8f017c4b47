//! Service-level checks that run on every request before the built-ins and
//! the router: the place for what KrakenD applies to the whole service
//! (CORS, security headers and host checks, the service-wide bot
//! detector). A check may answer the request itself (a preflight, a
//! refused host) or add header lines to `decor`, which the one finishing
//! place (`proxy::finish`) writes on whatever response the request gets.
//!
//! The order is KrakenD's: its CORS handler wraps the whole router, so a
//! preflight is answered before anything else looks at the request (it
//! carries no data: no host check, HTTPS redirect or bot check applies to
//! it); then `security/http` and the bot detector, which KrakenD registers
//! as gin middlewares in that order.

use std::net::SocketAddr;

use smallvec::SmallVec;

use super::facts::Refusal;
use super::plan::PlanError;
use crate::config::Config;
use crate::http::{Method, RequestHead};
use crate::security::{
    BotDetector, Cors, CorsOutcome, CorsRequest, HttpSecurity, SecureOutcome, SecureRequest,
};

/// What the screen sees of a request.
pub struct EdgeRequest<'a> {
    pub head: &'a RequestHead,
    /// The read buffer `head` indexes into.
    pub buf: &'a [u8],
    pub peer: SocketAddr,
    /// The client reached us over TLS.
    pub secure: bool,
}

/// The screen's decision.
pub enum Screen {
    /// Route and answer as usual.
    Pass,
    /// Answer with this instead (plus the lines pushed into `decor`).
    Answer(Refusal),
}

/// The service-level checks, compiled once per worker from the config.
#[derive(Default)]
pub struct Edge {
    cors: Option<Cors>,
    http: Option<HttpSecurity>,
    bots: Option<BotDetector>,
}

impl Edge {
    pub fn new(config: &Config) -> Result<Edge, PlanError> {
        let security = &config.security;
        let bots = match &security.bot_detector {
            Some(settings) => Some(BotDetector::new(settings).map_err(|e| {
                PlanError(format!("extra_config.security/bot-detector.patterns: {e}"))
            })?),
            None => None,
        };
        Ok(Edge {
            cors: security.cors.as_ref().map(Cors::new),
            http: security.http.as_ref().map(HttpSecurity::new),
            bots,
        })
    }

    /// Decides on `req` before anything else looks at it; header lines
    /// for the response go into `decor`.
    pub fn screen(&self, req: &EdgeRequest<'_>, decor: &mut Vec<u8>) -> Screen {
        let EdgeRequest { head, buf, .. } = *req;
        if let Some(cors) = &self.cors {
            let request_headers: SmallVec<[&[u8]; 2]> = head
                .headers
                .iter()
                .filter(|h| {
                    h.name
                        .of(buf)
                        .eq_ignore_ascii_case(b"access-control-request-headers")
                })
                .map(|h| h.value.of(buf))
                .collect();
            let cors_request = CorsRequest {
                method: head.method,
                origin: head.header(buf, "origin"),
                request_method: head.header(buf, "access-control-request-method"),
                request_headers: &request_headers,
                request_private_network: head.header(buf, "access-control-request-private-network")
                    == Some(b"true"),
            };
            if let CorsOutcome::Answer(status) = cors.apply(&cors_request, decor) {
                return Screen::Answer(Refusal::empty(status));
            }
        }
        if let Some(http) = &self.http {
            let secure_request = SecureRequest {
                host: head.host.map(|h| h.of(buf)),
                tls: req.secure,
                path: head.path.of(buf),
                query: head.query.map(|q| q.of(buf)),
            };
            match http.screen(&secure_request, |name| head.header(buf, name), decor) {
                SecureOutcome::Pass => {}
                SecureOutcome::BadHost => return Screen::Answer(bad_host(decor)),
                SecureOutcome::Redirect(location) => {
                    return Screen::Answer(to_https(head.method, &location, decor));
                }
                SecureOutcome::BadRedirectHost => {
                    return Screen::Answer(Refusal {
                        status: 400,
                        content_type: Some(b"text/plain; charset=utf-8"),
                        body: b"400 bad request: no host to redirect to over HTTPS\n".to_vec(),
                        completed_header: false,
                    });
                }
            }
        }
        if let Some(bots) = &self.bots
            && bots.is_bot(head.header(buf, "user-agent"))
        {
            // KrakenD logs each one at error level; debug here, so that a
            // flood of bots cannot flood the log.
            tracing::debug!(peer = %req.peer, "bot rejected");
            return Screen::Answer(Refusal::empty(403));
        }
        Screen::Pass
    }
}

/// unrolled/secure's refusal of a host: Go's `http.Error(w, "Bad Host", 500)`.
fn bad_host(decor: &mut Vec<u8>) -> Refusal {
    decor.extend_from_slice(b"X-Content-Type-Options: nosniff\r\n");
    Refusal {
        status: 500,
        content_type: Some(b"text/plain; charset=utf-8"),
        body: b"Bad Host\n".to_vec(),
        completed_header: false,
    }
}

/// unrolled/secure's redirect to HTTPS: Go's `http.Redirect` with 301 (a
/// small HTML body for GET, the content type for GET and HEAD).
fn to_https(method: Method, location: &[u8], decor: &mut Vec<u8>) -> Refusal {
    decor.extend_from_slice(b"Location: ");
    decor.extend_from_slice(location);
    decor.extend_from_slice(b"\r\n");
    let get_like = matches!(method, Method::Get | Method::Head);
    let mut body = Vec::new();
    if method == Method::Get {
        body.extend_from_slice(b"<a href=\"");
        html_escape(location, &mut body);
        body.extend_from_slice(b"\">Moved Permanently</a>.\n\n");
    }
    Refusal {
        status: 301,
        content_type: get_like.then_some(&b"text/html; charset=utf-8"[..]),
        body,
        completed_header: false,
    }
}

/// Go's `htmlEscape`: `& < > " '`.
fn html_escape(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&#34;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            _ => out.push(b),
        }
    }
}
