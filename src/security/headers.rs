//! `security/http`: what unrolled/secure does for KrakenD, compiled once per
//! worker. In order:
//!
//! 1. `allowed_hosts` (unless `is_development`): the request's host (the
//!    first non-empty `host_proxy_headers` value, else `Host`) must be one
//!    of them (case-insensitive, or a whole-host regex with
//!    `allowed_hosts_are_regex`); otherwise 500 "Bad Host", as unrolled/secure.
//! 2. `ssl_redirect` (unless `is_development`): a request that arrived
//!    neither over TLS nor with one of the `ssl_proxy_headers` is sent to
//!    `https://{ssl_host or host}{path}?{query}` with a 301.
//! 3. Otherwise the response header lines, serialised at start-up: HSTS
//!    (only over HTTPS, unless `force_sts_header`), X-Frame-Options,
//!    X-Content-Type-Options, X-XSS-Protection, Content-Security-Policy,
//!    Referrer-Policy.

use regex::bytes::RegexSet;

use crate::config::HttpSecuritySettings;

/// The facts of one request `security/http` looks at.
#[derive(Debug, Clone, Copy)]
pub struct SecureRequest<'a> {
    /// `Host` (or the authority of an absolute-form target).
    pub host: Option<&'a [u8]>,
    /// The connection is TLS.
    pub tls: bool,
    pub path: &'a [u8],
    pub query: Option<&'a [u8]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecureOutcome {
    /// Go on; the header lines were added.
    Pass,
    /// The host is not among `allowed_hosts`.
    BadHost,
    /// Redirect to HTTPS: the `Location` value.
    Redirect(Vec<u8>),
    /// A redirect was due but the request's host cannot be written into a
    /// `Location` (missing, or not a `host[:port]`).
    BadRedirectHost,
}

#[derive(Debug, Clone)]
enum AllowedHosts {
    Any,
    Exact(Vec<Box<[u8]>>),
    Patterns(RegexSet),
}

#[derive(Debug, Clone)]
pub struct HttpSecurity {
    allowed: AllowedHosts,
    host_proxy_headers: Vec<String>,
    ssl_redirect: bool,
    ssl_host: Option<Box<[u8]>>,
    ssl_proxy_headers: Vec<(String, Box<[u8]>)>,
    /// The HSTS line, when HSTS is on; sent only over HTTPS unless `force_sts`.
    sts: Vec<u8>,
    force_sts: bool,
    /// Every other header line, in one piece.
    lines: Vec<u8>,
}

impl HttpSecurity {
    /// `settings` were checked when the configuration was built (regexes
    /// compile, values hold no control characters).
    pub fn new(settings: &HttpSecuritySettings) -> HttpSecurity {
        let dev = settings.is_development;
        let allowed = if settings.allowed_hosts.is_empty() || dev {
            AllowedHosts::Any
        } else if settings.allowed_hosts_are_regex {
            let patterns = settings
                .allowed_hosts
                .iter()
                .map(|h| crate::config::whole_host_pattern(h));
            // Checked at build time; an impossible failure admits nothing.
            RegexSet::new(patterns).map_or(AllowedHosts::Exact(Vec::new()), AllowedHosts::Patterns)
        } else {
            AllowedHosts::Exact(
                settings
                    .allowed_hosts
                    .iter()
                    .map(|h| h.as_bytes().into())
                    .collect(),
            )
        };
        let mut sts = Vec::new();
        if settings.sts_seconds != 0 && !dev {
            let mut value = format!("max-age={}", settings.sts_seconds);
            if settings.sts_include_subdomains {
                value.push_str("; includeSubDomains");
            }
            line(&mut sts, "Strict-Transport-Security", &value);
        }
        let mut lines = Vec::new();
        if let Some(value) = &settings.custom_frame_options_value {
            line(&mut lines, "X-Frame-Options", value);
        } else if settings.frame_deny {
            line(&mut lines, "X-Frame-Options", "DENY");
        }
        if settings.content_type_nosniff {
            line(&mut lines, "X-Content-Type-Options", "nosniff");
        }
        if settings.browser_xss_filter {
            line(&mut lines, "X-XSS-Protection", "1; mode=block");
        }
        if let Some(value) = &settings.content_security_policy {
            line(&mut lines, "Content-Security-Policy", value);
        }
        if let Some(value) = &settings.referrer_policy {
            line(&mut lines, "Referrer-Policy", value);
        }
        HttpSecurity {
            allowed,
            host_proxy_headers: settings.host_proxy_headers.clone(),
            ssl_redirect: settings.ssl_redirect && !dev,
            ssl_host: settings.ssl_host.as_ref().map(|h| h.as_bytes().into()),
            ssl_proxy_headers: settings
                .ssl_proxy_headers
                .iter()
                .map(|(name, value)| (name.clone(), value.as_bytes().into()))
                .collect(),
            sts,
            force_sts: settings.force_sts_header,
            lines,
        }
    }

    /// Checks `req` and, when it may go on, adds the header lines to
    /// `decor`. `header(name)` gives the first value of a request header
    /// (`name` lower-case).
    pub fn screen<'a>(
        &self,
        req: &SecureRequest<'a>,
        header: impl Fn(&str) -> Option<&'a [u8]>,
        decor: &mut Vec<u8>,
    ) -> SecureOutcome {
        let host = self
            .host_proxy_headers
            .iter()
            .find_map(|name| header(name).filter(|v| !v.is_empty()))
            .or(req.host)
            .unwrap_or_default();
        if !self.host_allowed(host) {
            return SecureOutcome::BadHost;
        }
        let https = req.tls
            || self
                .ssl_proxy_headers
                .iter()
                .any(|(name, value)| header(name) == Some(value));
        if self.ssl_redirect && !https {
            let target = self.ssl_host.as_deref().unwrap_or(host);
            if target.is_empty() || !target.iter().all(|&b| is_authority_byte(b)) {
                return SecureOutcome::BadRedirectHost;
            }
            return SecureOutcome::Redirect(https_location(target, req.path, req.query));
        }
        if https || self.force_sts {
            decor.extend_from_slice(&self.sts);
        }
        decor.extend_from_slice(&self.lines);
        SecureOutcome::Pass
    }

    fn host_allowed(&self, host: &[u8]) -> bool {
        match &self.allowed {
            AllowedHosts::Any => true,
            AllowedHosts::Exact(hosts) => hosts.iter().any(|h| h.eq_ignore_ascii_case(host)),
            AllowedHosts::Patterns(set) => set.is_match(host),
        }
    }
}

/// `https://` + host + the request's path and query, as Go's `url.String`
/// writes them (the path as received; any byte that is not printable ASCII
/// percent-encoded, as Go's `http.Redirect` does).
fn https_location(host: &[u8], path: &[u8], query: Option<&[u8]>) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(8 + host.len() + path.len() + query.map_or(0, |q| q.len() + 1));
    out.extend_from_slice(b"https://");
    out.extend_from_slice(host);
    let mut push = |bytes: &[u8]| {
        for &b in bytes {
            if b.is_ascii_graphic() {
                out.push(b);
            } else {
                out.extend_from_slice(format!("%{b:02X}").as_bytes());
            }
        }
    };
    push(path);
    if let Some(query) = query {
        push(b"?");
        push(query);
    }
    out
}

/// Characters of `host[:port]`: names, IPv4, bracketed IPv6.
fn is_authority_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:[]".contains(&b)
}

fn line(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
#[path = "headers_tests.rs"]
mod tests;
