//! The root `extra_config.router` options that change how the gateway meets
//! clients (KrakenD's "router options"): the health path, automatic
//! OPTIONS, the version header, 404/405 bodies, the access log switches and
//! which address counts as the client's.

use std::net::IpAddr;

use super::error::{BuildResult, Problem};
use super::raw::RawRouter;

/// KrakenD's health endpoint when `health_path` is not set.
pub const DEFAULT_HEALTH_PATH: &str = "/__health";

/// gin's `RemoteIPHeaders` when `remote_ip_headers` is not set.
const DEFAULT_REMOTE_IP_HEADERS: [&str; 2] = ["x-forwarded-for", "x-real-ip"];

#[derive(Debug, Clone)]
pub struct RouterOptions {
    /// Where the health endpoint answers; `None` with `disable_health`.
    pub health_path: Option<String>,
    /// `auto_options`: OPTIONS on a registered path answers 200 with `Allow`.
    pub auto_options: bool,
    /// `hide_version_header`: `X-KrakenD: Version undefined`.
    pub hide_version_header: bool,
    /// `error_body."404"`, encoded as JSON once: the body of every 404.
    pub error_body_404: Option<Vec<u8>>,
    /// `error_body."405"`: the body of every 405.
    pub error_body_405: Option<Vec<u8>>,
    /// Not `disable_access_log`: one access log line per request.
    pub access_log: bool,
    /// `logger_skip_paths`: request paths (exact) left out of the access log.
    pub logger_skip_paths: Vec<String>,
    /// `forwarded_by_client_ip`: take the client's address from a header
    /// set by a trusted proxy.
    pub client_ip: Option<ClientIpRule>,
    /// gin's `RedirectTrailingSlash` and `RedirectFixedPath`: on unless
    /// `disable_redirect_trailing_slash` / `disable_redirect_fixed_path`
    /// (lura `router/gin/engine.go` sets both before reading the options).
    pub redirect_trailing_slash: bool,
    pub redirect_fixed_path: bool,
    /// gin's `HandleMethodNotAllowed` (lura: on unless
    /// `disable_handle_method_not_allowed`): 405 with `Allow`, else 404.
    pub method_not_allowed: bool,
    /// gin's `RemoveExtraSlash` (`remove_extra_slash`, off by default):
    /// routes the cleaned path (`//`, `.`, `..`).
    pub remove_extra_slash: bool,
    /// lura's `paramChecker` (on unless `disable_path_decoding`): a path
    /// parameter the client encoded twice, or that holds `?`/`#`, is 400.
    pub refuse_encoded_params: bool,
}

impl Default for RouterOptions {
    fn default() -> RouterOptions {
        RouterOptions {
            health_path: Some(DEFAULT_HEALTH_PATH.to_owned()),
            auto_options: false,
            hide_version_header: false,
            error_body_404: None,
            error_body_405: None,
            access_log: true,
            logger_skip_paths: Vec::new(),
            client_ip: None,
            redirect_trailing_slash: true,
            redirect_fixed_path: true,
            method_not_allowed: true,
            remove_extra_slash: false,
            refuse_encoded_params: true,
        }
    }
}

/// Which headers name the client, and which peers may set them.
#[derive(Debug, Clone)]
pub struct ClientIpRule {
    /// Header names, lower-case, in the order they are tried.
    pub headers: Vec<String>,
    pub trusted: Vec<Cidr>,
}

/// gin's default trusted proxies, `0.0.0.0/0` and `::/0`.
const ALL_V4: Cidr = Cidr {
    network: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    prefix: 0,
};
const ALL_V6: Cidr = Cidr {
    network: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    prefix: 0,
};

/// An address block (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr.trim().parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // A v4 client seen through a v6 socket (::ffff:a.b.c.d) is v4.
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_matches(net: &[u8], ip: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    if net[..full] != ip[..full] {
        return false;
    }
    let rest = prefix % 8;
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        net[full] & mask == ip[full] & mask
    }
}

/// `warnings`: settings served as KrakenD serves them but worth a word
/// (`Config::warnings`).
pub fn build(raw: &RawRouter, at: &str, warnings: &mut Vec<Problem>) -> BuildResult<RouterOptions> {
    let mut options = RouterOptions {
        hide_version_header: raw.hide_version_header.unwrap_or(false),
        auto_options: raw.auto_options.unwrap_or(false),
        access_log: !raw.disable_access_log.unwrap_or(false),
        logger_skip_paths: raw.logger_skip_paths.clone().unwrap_or_default(),
        redirect_trailing_slash: !raw.disable_redirect_trailing_slash.unwrap_or(false),
        redirect_fixed_path: !raw.disable_redirect_fixed_path.unwrap_or(false),
        method_not_allowed: !raw.disable_handle_method_not_allowed.unwrap_or(false),
        remove_extra_slash: raw.remove_extra_slash.unwrap_or(false),
        refuse_encoded_params: !raw.disable_path_decoding.unwrap_or(false),
        ..RouterOptions::default()
    };
    if raw.disable_health.unwrap_or(false) {
        options.health_path = None;
    } else if let Some(path) = raw.health_path.as_deref().filter(|p| !p.is_empty()) {
        if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
            return Err(Problem::new(
                format!("{at}.health_path"),
                format!(
                    "\"{path}\" is not a path; write one that starts with '/', e.g. \"/health\""
                ),
            ));
        }
        options.health_path = Some(path.to_owned());
    }
    if let Some(bodies) = &raw.error_body {
        for (status, body) in bodies {
            let encoded = serde_json::to_vec(body).unwrap_or_default();
            match status.as_str() {
                "404" => options.error_body_404 = Some(encoded),
                "405" => options.error_body_405 = Some(encoded),
                other => {
                    return Err(Problem::new(
                        format!("{at}.error_body.{other}"),
                        "only \"404\" and \"405\" bodies can be set (as in KrakenD)",
                    ));
                }
            }
        }
    }
    if raw.forwarded_by_client_ip.unwrap_or(false) {
        options.client_ip = Some(client_ip_rule(raw, at, warnings)?);
    }
    Ok(options)
}

fn client_ip_rule(
    raw: &RawRouter,
    at: &str,
    warnings: &mut Vec<Problem>,
) -> BuildResult<ClientIpRule> {
    let headers = match raw.remote_ip_headers.as_deref() {
        Some(names) if !names.is_empty() => names
            .iter()
            .map(|n| n.trim().to_ascii_lowercase())
            .collect(),
        _ => DEFAULT_REMOTE_IP_HEADERS.map(str::to_owned).to_vec(),
    };
    let listed = raw.trusted_proxies.as_deref().unwrap_or_default();
    let mut trusted = listed
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Cidr::parse(text).ok_or_else(|| {
                Problem::new(
                    format!("{at}.trusted_proxies[{i}]"),
                    format!("\"{text}\" is not an IP address or CIDR; write e.g. \"10.0.0.0/8\" or \"192.168.1.7\""),
                )
            })
        })
        .collect::<BuildResult<Vec<_>>>()?;
    if trusted.is_empty() {
        // lura sets gin's trusted proxies only from a non-empty list
        // (router/gin/engine.go); gin's own default trusts every peer
        // (gin.go `defaultTrustedCIDRs`, v1.12.0 as krakend-ce pins).
        trusted = vec![ALL_V4, ALL_V6];
    }
    if trusted.iter().any(|c| c.prefix == 0) {
        warnings.push(Problem::new(
            format!("{at}.trusted_proxies"),
            "every peer is trusted to name the client (gin's default, as in KrakenD): any client can choose the address its rate limits (\"ip\" strategy), its access log line and the X-Forwarded-For sent to backends are keyed on; list only your load balancers, e.g. [\"10.0.0.0/8\"]",
        ));
    }
    Ok(ClientIpRule { headers, trusted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_blocks() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let odd = Cidr::parse("192.168.0.0/23").unwrap();
        assert!(odd.contains("192.168.1.255".parse().unwrap()));
        assert!(!odd.contains("192.168.2.0".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all = Cidr::parse("::/0").unwrap();
        assert!(all.contains("2001:db8::1".parse().unwrap()));
        assert!(!all.contains("1.2.3.4".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nope"), None);
    }
}
