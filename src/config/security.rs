//! `security/cors`, `security/http` and `security/bot-detector`: decoded,
//! KrakenD's defaults filled in, and every value that will end up in a
//! response header or a matcher checked here, so that a bad one is a
//! start-up error naming its place instead of a broken header line.

use serde_json::Value;

use super::error::{BuildResult, Problem};
use super::extra::{Unknown, decode, note_ignored_keys};
use super::model::{BotDetectorSettings, CorsSettings, HttpSecuritySettings};
use super::raw::{RawBotDetector, RawCors, RawHttpSecurity};

pub const CORS: &str = "security/cors";
pub const HTTP: &str = "security/http";
pub const BOT_DETECTOR: &str = "security/bot-detector";

const STANDARD_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

pub fn cors(value: &Value, at: &str, unknown: &mut Unknown) -> BuildResult<CorsSettings> {
    note_ignored_keys(CORS, value, unknown);
    let raw: RawCors = decode(value, at)?;
    let mut allow_origins = raw.allow_origins.unwrap_or_default();
    for (index, origin) in allow_origins.iter().enumerate() {
        check_origin(origin)
            .map_err(|m| Problem::new(format!("{at}.allow_origins[{index}]"), m))?;
    }
    // krakend-cors: no origins means every origin.
    if allow_origins.is_empty() {
        allow_origins.push("*".to_owned());
    }
    let mut allow_methods = raw.allow_methods.unwrap_or_default();
    for (index, method) in allow_methods.iter().enumerate() {
        check_method(method)
            .map_err(|m| Problem::new(format!("{at}.allow_methods[{index}]"), m))?;
    }
    // rs/cors: no methods means the simple ones.
    if allow_methods.is_empty() {
        allow_methods = vec!["GET".into(), "POST".into(), "HEAD".into()];
    }
    let mut allow_headers = raw.allow_headers.unwrap_or_default();
    check_header_names(&allow_headers, true, &format!("{at}.allow_headers"))?;
    // krakend-cors: no headers means any header.
    if allow_headers.is_empty() {
        allow_headers.push("*".to_owned());
    }
    let expose_headers = raw.expose_headers.unwrap_or_default();
    check_header_names(&expose_headers, true, &format!("{at}.expose_headers"))?;
    let options_success_status = match raw.options_success_status {
        None | Some(0) => 204,
        Some(status @ 200..=299) => status,
        Some(other) => {
            return Err(Problem::new(
                format!("{at}.options_success_status"),
                format!(
                    "{other} is not a success status; a preflight answer must be 2xx (the default is 204, some old browsers need 200)"
                ),
            ));
        }
    };
    Ok(CorsSettings {
        allow_origins,
        allow_methods,
        allow_headers,
        expose_headers,
        // rs/cors takes whole seconds; zero sends no header.
        max_age_seconds: raw
            .max_age
            .map(|d| d.0.as_secs())
            .filter(|seconds| *seconds > 0),
        allow_credentials: raw.allow_credentials.unwrap_or(false),
        allow_private_network: raw.allow_private_network.unwrap_or(false),
        options_passthrough: raw.options_passthrough.unwrap_or(false),
        options_success_status,
        debug: raw.debug.unwrap_or(false),
    })
}

fn check_origin(origin: &str) -> Result<(), String> {
    if origin.is_empty() {
        return Err("empty; write an origin such as \"https://app.example.com\", a wildcard such as \"https://*.example.com\", or \"*\"".into());
    }
    if origin != "*" && origin.matches('*').count() > 1 {
        return Err(format!(
            "\"{origin}\" has more than one '*'; an origin may hold one wildcard, e.g. \"https://*.example.com\""
        ));
    }
    if !origin.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "\"{origin}\" holds spaces, control or non-ASCII characters; write the origin as browsers send it (scheme://host[:port], IDN hosts in punycode)"
        ));
    }
    Ok(())
}

fn check_method(method: &str) -> Result<(), String> {
    if !is_token(method) {
        return Err(format!("\"{method}\" is not an HTTP method"));
    }
    let upper = method.to_ascii_uppercase();
    if upper != method && STANDARD_METHODS.contains(&upper.as_str()) {
        // rs/cors compares methods case-sensitively, and browsers send them
        // in upper case: a lower-case entry would never match.
        return Err(format!(
            "\"{method}\" would never match: methods are compared as written and browsers send \"{upper}\"; write \"{upper}\""
        ));
    }
    Ok(())
}

fn check_header_names(names: &[String], star_allowed: bool, at: &str) -> BuildResult<()> {
    for (index, name) in names.iter().enumerate() {
        if !(is_token(name) || (star_allowed && name == "*")) {
            return Err(Problem::new(
                format!("{at}[{index}]"),
                format!(
                    "\"{name}\" is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)"
                ),
            ));
        }
    }
    Ok(())
}

pub fn http(value: &Value, at: &str, unknown: &mut Unknown) -> BuildResult<HttpSecuritySettings> {
    // `hpkp_public_key` is in KrakenD's documentation but krakend-httpsecure
    // no longer reads it (HPKP was removed from browsers): it stays a warning.
    note_ignored_keys(HTTP, value, unknown);
    let raw: RawHttpSecurity = decode(value, at)?;
    let allowed_hosts = raw.allowed_hosts.unwrap_or_default();
    let allowed_hosts_are_regex = raw.allowed_hosts_are_regex.unwrap_or(false);
    for (index, host) in allowed_hosts.iter().enumerate() {
        let at = format!("{at}.allowed_hosts[{index}]");
        if allowed_hosts_are_regex {
            regex::Regex::new(&whole_host_pattern(host)).map_err(|error| {
                Problem::new(
                    &at,
                    format!("not a valid regular expression (RE2 syntax, as in Go): {error}"),
                )
            })?;
        } else if host.is_empty() || !host.bytes().all(is_authority_byte) {
            return Err(Problem::new(
                at,
                format!(
                    "\"{host}\" is not a host; write it as clients send it in Host, e.g. \"api.example.com\" or \"api.example.com:8443\""
                ),
            ));
        }
    }
    let host_proxy_headers = raw.host_proxy_headers.unwrap_or_default();
    check_header_names(
        &host_proxy_headers,
        false,
        &format!("{at}.host_proxy_headers"),
    )?;
    let mut ssl_proxy_headers = Vec::new();
    for (name, value) in raw.ssl_proxy_headers.unwrap_or_default() {
        let at = format!("{at}.ssl_proxy_headers.{name}");
        if !is_token(&name) {
            return Err(Problem::new(at, format!("\"{name}\" is not a header name")));
        }
        check_header_value(&value, &at)?;
        ssl_proxy_headers.push((name.to_ascii_lowercase(), value));
    }
    let ssl_host = non_empty(raw.ssl_host);
    if let Some(host) = &ssl_host
        && !host.bytes().all(is_authority_byte)
    {
        return Err(Problem::new(
            format!("{at}.ssl_host"),
            format!(
                "\"{host}\" is not a host; write only the host (and port), e.g. \"secure.example.com\", without scheme or path"
            ),
        ));
    }
    let custom_frame_options_value = non_empty(raw.custom_frame_options_value);
    let content_security_policy = non_empty(raw.content_security_policy);
    let referrer_policy = non_empty(raw.referrer_policy);
    for (key, value) in [
        ("custom_frame_options_value", &custom_frame_options_value),
        ("content_security_policy", &content_security_policy),
        ("referrer_policy", &referrer_policy),
    ] {
        if let Some(value) = value {
            check_header_value(value, &format!("{at}.{key}"))?;
        }
    }
    Ok(HttpSecuritySettings {
        allowed_hosts,
        allowed_hosts_are_regex,
        host_proxy_headers: host_proxy_headers
            .iter()
            .map(|name| name.to_ascii_lowercase())
            .collect(),
        sts_seconds: raw.sts_seconds.map_or(0, |s| s.0),
        sts_include_subdomains: raw.sts_include_subdomains.unwrap_or(false),
        force_sts_header: raw.force_sts_header.unwrap_or(false),
        frame_deny: raw.frame_deny.unwrap_or(false),
        custom_frame_options_value,
        content_type_nosniff: raw.content_type_nosniff.unwrap_or(false),
        browser_xss_filter: raw.browser_xss_filter.unwrap_or(false),
        content_security_policy,
        referrer_policy,
        ssl_redirect: raw.ssl_redirect.unwrap_or(false),
        ssl_host,
        ssl_proxy_headers,
        is_development: raw.is_development.unwrap_or(false),
    })
}

/// An `allowed_hosts` regular expression must match the whole host. Go
/// (unrolled/secure) writes `^` + it + `$`, which lets `a|b` match any host
/// starting with `a`; the group keeps the alternation inside the anchors.
pub fn whole_host_pattern(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

pub fn bot_detector(
    value: &Value,
    at: &str,
    unknown: &mut Unknown,
) -> BuildResult<BotDetectorSettings> {
    note_ignored_keys(BOT_DETECTOR, value, unknown);
    let raw: RawBotDetector = decode(value, at)?;
    let patterns = raw.patterns.unwrap_or_default();
    for (index, pattern) in patterns.iter().enumerate() {
        regex::bytes::Regex::new(pattern).map_err(|error| {
            Problem::new(
                format!("{at}.patterns[{index}]"),
                format!("not a valid regular expression (RE2 syntax, as in Go): {error}"),
            )
        })?;
    }
    let cache_size = usize::try_from(raw.cache_size.unwrap_or(0)).map_err(|_| {
        Problem::new(
            format!("{at}.cache_size"),
            "too large; write the number of User-Agent decisions to remember, e.g. 10000",
        )
    })?;
    Ok(BotDetectorSettings {
        allow: raw.allow.unwrap_or_default(),
        deny: raw.deny.unwrap_or_default(),
        patterns,
        cache_size,
        empty_user_agent_is_bot: raw.empty_user_agent_is_bot.unwrap_or(false),
    })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// RFC 9110 token characters.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Characters of `host[:port]` (names, IPv4, bracketed IPv6).
fn is_authority_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:[]%".contains(&b)
}

/// A header value written into every response: no line breaks or other
/// control characters (tab aside), which would split or corrupt the head.
fn check_header_value(value: &str, at: &str) -> BuildResult<()> {
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(Problem::new(
            at,
            "holds a line break or another control character, which cannot be sent in a header; write it on one line",
        ));
    }
    Ok(())
}
