//! `security/cors`: the CORS decision rs/cors makes for KrakenD, compiled
//! once per worker into byte matchers and pre-serialised header lines.
//!
//! - A preflight is an `OPTIONS` with a non-empty
//!   `Access-Control-Request-Method`. It always gets
//!   `Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers`;
//!   the `Access-Control-Allow-*` lines only when the origin, the requested
//!   method and every requested header are allowed. Either way it is
//!   answered at once (204 by default, no body) unless
//!   `options_passthrough` sends it on to routing.
//! - Any other request gets `Vary: Origin`, and, when its origin and method
//!   are allowed, `Access-Control-Allow-Origin` plus the expose and
//!   credentials lines. A refused origin is not an error: the request is
//!   served without the CORS lines and the browser withholds the response.

use crate::config::CorsSettings;
use crate::http::Method;

const PREFLIGHT_VARY: &[u8] =
    b"Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n";
const PREFLIGHT_VARY_PRIVATE: &[u8] = b"Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network\r\n";
const ACTUAL_VARY: &[u8] = b"Vary: Origin\r\n";
const CREDENTIALS: &[u8] = b"Access-Control-Allow-Credentials: true\r\n";
const PRIVATE_NETWORK: &[u8] = b"Access-Control-Allow-Private-Network: true\r\n";
/// rs/cors tolerates this many empty elements in `Access-Control-Request-Headers`.
const MAX_EMPTY_ELEMENTS: usize = 16;

/// The CORS facts of one request, borrowed from its head.
#[derive(Debug, Clone, Copy)]
pub struct CorsRequest<'a> {
    pub method: Method,
    /// The first `Origin` value.
    pub origin: Option<&'a [u8]>,
    /// The first `Access-Control-Request-Method` value.
    pub request_method: Option<&'a [u8]>,
    /// Every `Access-Control-Request-Headers` value (some proxies split it).
    pub request_headers: &'a [&'a [u8]],
    /// `Access-Control-Request-Private-Network: true` was sent.
    pub request_private_network: bool,
}

impl CorsRequest<'_> {
    pub fn is_preflight(&self) -> bool {
        self.method == Method::Options && self.request_method.is_some_and(|m| !m.is_empty())
    }
}

/// What the edge does after the CORS lines were added to the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorsOutcome {
    /// A preflight: answer now with this status and no body.
    Answer(u16),
    /// Serve the request as usual.
    Continue,
}

/// `allow_origins` compiled: exact origins and `prefix*suffix` wildcards,
/// all lower-cased (rs/cors matches origins case-insensitively).
#[derive(Debug, Clone)]
enum Origins {
    Any,
    Listed {
        exact: Vec<Box<[u8]>>,
        wildcards: Vec<Wildcard>,
    },
}

/// An origin with one `*`: what comes before and after it.
#[derive(Debug, Clone)]
struct Wildcard {
    prefix: Box<[u8]>,
    suffix: Box<[u8]>,
}

#[derive(Debug, Clone)]
pub struct Cors {
    origins: Origins,
    /// Compared as written (rs/cors does).
    methods: Vec<Box<[u8]>>,
    /// Lower-cased; `None`: any header.
    headers: Option<Vec<Box<[u8]>>>,
    preflight_vary: &'static [u8],
    /// `Access-Control-Expose-Headers` and credentials lines of an allowed
    /// actual request.
    actual_tail: Vec<u8>,
    /// Credentials and `Access-Control-Max-Age` lines of an allowed preflight.
    preflight_tail: Vec<u8>,
    allow_private_network: bool,
    passthrough: bool,
    success_status: u16,
    debug: bool,
}

impl Cors {
    pub fn new(settings: &CorsSettings) -> Cors {
        let origins = if settings.allow_origins.iter().any(|o| o == "*") {
            Origins::Any
        } else {
            let mut exact = Vec::new();
            let mut wildcards = Vec::new();
            for origin in &settings.allow_origins {
                let origin = origin.to_ascii_lowercase().into_bytes();
                match origin.iter().position(|&b| b == b'*') {
                    Some(star) => wildcards.push(Wildcard {
                        prefix: origin[..star].into(),
                        suffix: origin[star + 1..].into(),
                    }),
                    None => exact.push(origin.into_boxed_slice()),
                }
            }
            Origins::Listed { exact, wildcards }
        };
        let headers = if settings.allow_headers.iter().any(|h| h == "*") {
            None
        } else {
            // KrakenD documents `Origin` as always allowed.
            let mut names: Vec<Box<[u8]>> = vec![Box::from(&b"origin"[..])];
            for name in &settings.allow_headers {
                let name = name.to_ascii_lowercase().into_bytes().into_boxed_slice();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            Some(names)
        };
        let mut actual_tail = Vec::new();
        if !settings.expose_headers.is_empty() {
            let canonical: Vec<String> = settings
                .expose_headers
                .iter()
                .map(|h| crate::http::canonical_header(h.as_bytes()))
                .collect();
            line(
                &mut actual_tail,
                "Access-Control-Expose-Headers",
                canonical.join(", ").as_bytes(),
            );
        }
        let mut preflight_tail = Vec::new();
        if settings.allow_credentials {
            actual_tail.extend_from_slice(CREDENTIALS);
            preflight_tail.extend_from_slice(CREDENTIALS);
        }
        if let Some(seconds) = settings.max_age_seconds {
            line(
                &mut preflight_tail,
                "Access-Control-Max-Age",
                seconds.to_string().as_bytes(),
            );
        }
        Cors {
            origins,
            methods: settings
                .allow_methods
                .iter()
                .map(|m| m.as_bytes().into())
                .collect(),
            headers,
            preflight_vary: if settings.allow_private_network {
                PREFLIGHT_VARY_PRIVATE
            } else {
                PREFLIGHT_VARY
            },
            actual_tail,
            preflight_tail,
            allow_private_network: settings.allow_private_network,
            passthrough: settings.options_passthrough,
            success_status: settings.options_success_status,
            debug: settings.debug,
        }
    }

    /// Adds the CORS header lines for `req` to `decor` and says whether a
    /// preflight is answered here.
    pub fn apply(&self, req: &CorsRequest<'_>, decor: &mut Vec<u8>) -> CorsOutcome {
        if req.is_preflight() {
            self.preflight(req, decor);
            if self.passthrough {
                CorsOutcome::Continue
            } else {
                CorsOutcome::Answer(self.success_status)
            }
        } else {
            self.actual(req, decor);
            CorsOutcome::Continue
        }
    }

    fn preflight(&self, req: &CorsRequest<'_>, decor: &mut Vec<u8>) {
        decor.extend_from_slice(self.preflight_vary);
        let Some(origin) = req.origin.filter(|o| !o.is_empty()) else {
            self.log("preflight aborted: empty origin", b"");
            return;
        };
        if !self.origin_allowed(origin) {
            self.log("preflight aborted: origin not allowed", origin);
            return;
        }
        let method = req.request_method.unwrap_or_default();
        if !self.method_allowed(method) {
            self.log("preflight aborted: method not allowed", method);
            return;
        }
        if !req.request_headers.is_empty() && !self.headers_allowed(req.request_headers) {
            self.log(
                "preflight aborted: headers not allowed",
                req.request_headers[0],
            );
            return;
        }
        self.allow_origin_line(origin, decor);
        line(decor, "Access-Control-Allow-Methods", method);
        if req.request_headers.first().is_some_and(|h| !h.is_empty()) {
            for value in req.request_headers {
                line(decor, "Access-Control-Allow-Headers", value);
            }
        }
        decor.extend_from_slice(&self.preflight_tail);
        if self.allow_private_network && req.request_private_network {
            decor.extend_from_slice(PRIVATE_NETWORK);
        }
    }

    fn actual(&self, req: &CorsRequest<'_>, decor: &mut Vec<u8>) {
        decor.extend_from_slice(ACTUAL_VARY);
        let Some(origin) = req.origin.filter(|o| !o.is_empty()) else {
            return;
        };
        if !self.origin_allowed(origin) {
            self.log("actual request: origin not allowed", origin);
            return;
        }
        if !self.method_allowed(req.method.as_str().as_bytes()) {
            self.log(
                "actual request: method not allowed",
                req.method.as_str().as_bytes(),
            );
            return;
        }
        self.allow_origin_line(origin, decor);
        decor.extend_from_slice(&self.actual_tail);
    }

    fn allow_origin_line(&self, origin: &[u8], decor: &mut Vec<u8>) {
        match self.origins {
            Origins::Any => decor.extend_from_slice(b"Access-Control-Allow-Origin: *\r\n"),
            Origins::Listed { .. } => line(decor, "Access-Control-Allow-Origin", origin),
        }
    }

    /// Whether `origin` may call. Exact entries compare case-insensitively;
    /// a wildcard entry's `*` stands for one or more host characters
    /// (letters, digits, `-`, `.`), so `https://*.example.com` admits
    /// subdomains but not `https://x.com/.example.com` or userinfo tricks.
    pub fn origin_allowed(&self, origin: &[u8]) -> bool {
        match &self.origins {
            Origins::Any => true,
            Origins::Listed { exact, wildcards } => {
                exact.iter().any(|o| o.eq_ignore_ascii_case(origin))
                    || wildcards
                        .iter()
                        .any(|w| wildcard_match(&w.prefix, &w.suffix, origin))
            }
        }
    }

    fn method_allowed(&self, method: &[u8]) -> bool {
        // rs/cors: a preflight for OPTIONS itself is always allowed.
        method == b"OPTIONS" || self.methods.iter().any(|m| **m == *method)
    }

    /// Every name in the comma-separated lists is allowed (case-insensitive,
    /// any order; rs/cors also insists on the sorted lower-case form
    /// browsers send, which refuses hand-written preflights for no gain).
    fn headers_allowed(&self, values: &[&[u8]]) -> bool {
        let Some(allowed) = &self.headers else {
            return true;
        };
        let mut empty = 0;
        for value in values {
            for name in value.split(|&b| b == b',') {
                let name = name.trim_ascii();
                if name.is_empty() {
                    empty += 1;
                    if empty > MAX_EMPTY_ELEMENTS {
                        return false;
                    }
                    continue;
                }
                if !allowed.iter().any(|a| a.eq_ignore_ascii_case(name)) {
                    return false;
                }
            }
        }
        true
    }

    fn log(&self, what: &str, value: &[u8]) {
        if self.debug {
            tracing::debug!(target: "cuttle::cors", value = %crate::logging::Quoted(value), "{what}");
        }
    }
}

fn wildcard_match(prefix: &[u8], suffix: &[u8], origin: &[u8]) -> bool {
    origin.len() > prefix.len() + suffix.len()
        && origin[..prefix.len()].eq_ignore_ascii_case(prefix)
        && origin[origin.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        && origin[prefix.len()..origin.len() - suffix.len()]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[path = "cors_tests.rs"]
mod tests;
