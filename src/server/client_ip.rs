//! Which address a request comes from: the peer's, or, behind a trusted
//! proxy (`router.forwarded_by_client_ip`), the one the proxies name.
//!
//! gin's rule (`Context.ClientIP`), which KrakenD uses: only when the peer
//! is in `trusted_proxies` are the `remote_ip_headers` read, in order. In a
//! header `a, b, c` the hops are walked from the right (the one nearest
//! us): trusted proxies are skipped, and the first address that is not a
//! trusted proxy is the client (or the leftmost, if all are trusted). A
//! header with an entry that is not an address before the client is
//! reached is ignored. The leftmost
//! entries are whatever the client wrote, so they are never believed
//! while an untrusted hop stands to their right.
//!
//! When a header occurs more than once, the last occurrence is read: a
//! proxy that adds its own line adds it after the client's.

use std::net::IpAddr;

use crate::config::ClientIpRule;
use crate::http::RequestHead;

pub fn client_ip(
    rule: Option<&ClientIpRule>,
    peer: IpAddr,
    head: &RequestHead,
    buf: &[u8],
) -> IpAddr {
    let peer = peer.to_canonical();
    let Some(rule) = rule else { return peer };
    if !trusted(rule, peer) {
        return peer;
    }
    rule.headers
        .iter()
        .find_map(|name| {
            let value = last_header(head, buf, name)?;
            from_header(rule, value)
        })
        .unwrap_or(peer)
}

fn trusted(rule: &ClientIpRule, ip: IpAddr) -> bool {
    rule.trusted.iter().any(|cidr| cidr.contains(ip))
}

fn last_header<'b>(head: &RequestHead, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
    head.headers
        .iter()
        .rev()
        .find(|h| h.name.of(buf).eq_ignore_ascii_case(name.as_bytes()))
        .map(|h| h.value.of(buf))
}

fn from_header(rule: &ClientIpRule, value: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(value).ok()?;
    let hops: Vec<&str> = text.split(',').map(str::trim).collect();
    for (i, hop) in hops.iter().enumerate().rev() {
        let ip = hop.parse::<IpAddr>().ok()?.to_canonical();
        if i == 0 || !trusted(rule, ip) {
            return Some(ip);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cidr;
    use crate::http::{HeadLimits, Parse, parse_request};

    fn rule() -> ClientIpRule {
        ClientIpRule {
            headers: vec!["x-forwarded-for".into(), "x-real-ip".into()],
            trusted: vec![Cidr::parse("10.0.0.0/8").unwrap()],
        }
    }

    fn resolve(rule: Option<&ClientIpRule>, peer: &str, headers: &str) -> String {
        let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        let Ok(Parse::Complete(head)) = parse_request(raw.as_bytes(), &HeadLimits::default())
        else {
            panic!("bad test request {raw:?}")
        };
        client_ip(rule, peer.parse().unwrap(), &head, raw.as_bytes()).to_string()
    }

    #[test]
    fn which_hop_is_the_client() {
        let r = rule();
        let cases = [
            // (peer, headers, client)
            ("10.0.0.2", "X-Forwarded-For: 1.2.3.4\r\n", "1.2.3.4"),
            // The client's own entries left of an untrusted hop are not believed.
            (
                "10.0.0.2",
                "X-Forwarded-For: 6.6.6.6, 1.2.3.4\r\n",
                "1.2.3.4",
            ),
            (
                "10.0.0.2",
                "X-Forwarded-For: 1.2.3.4, 10.0.0.9\r\n",
                "1.2.3.4",
            ),
            (
                "10.0.0.2",
                "X-Forwarded-For: 10.0.0.8, 10.0.0.9\r\n",
                "10.0.0.8",
            ),
            // An untrusted peer's headers are ignored.
            ("8.8.8.8", "X-Forwarded-For: 1.2.3.4\r\n", "8.8.8.8"),
            // Garbage in the header: the next header, else the peer.
            ("10.0.0.2", "X-Forwarded-For: 1.2.3.4, nope\r\n", "10.0.0.2"),
            (
                "10.0.0.2",
                "X-Forwarded-For: x\r\nX-Real-IP: 5.6.7.8\r\n",
                "5.6.7.8",
            ),
            // Several lines: the last one (the proxy's own).
            (
                "10.0.0.2",
                "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 1.2.3.4\r\n",
                "1.2.3.4",
            ),
            ("10.0.0.2", "", "10.0.0.2"),
            ("::ffff:10.0.0.2", "X-Forwarded-For: 1.2.3.4\r\n", "1.2.3.4"),
        ];
        for (peer, headers, want) in cases {
            assert_eq!(resolve(Some(&r), peer, headers), want, "{peer} {headers:?}");
        }
        assert_eq!(
            resolve(None, "10.0.0.2", "X-Forwarded-For: 1.2.3.4\r\n"),
            "10.0.0.2"
        );
    }
}
