//! A small DNS client for service discovery: A, AAAA and SRV questions
//! over UDP (RFC 1035, SRV from RFC 2782), asked only from the discovery
//! thread (`upstream::discovery`), never from a worker.
//!
//! Which servers are asked: `CUTTLE_DNS_SERVER` (`ip:port`, several
//! separated by commas), else the `nameserver` lines of /etc/resolv.conf
//! on port 53, as Go's resolver reads them (KrakenD's `net.LookupSRV`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
pub const TYPE_SRV: u16 = 33;
const TYPE_OPT: u16 = 41;

/// How long one server gets to answer one question.
const ANSWER_WAIT: Duration = Duration::from_millis(1500);
/// UDP payload size offered with EDNS(0) (RFC 6891; the 2020 flag day's
/// value), so that SRV answers with many targets are not truncated.
const UDP_PAYLOAD: u16 = 1232;

/// The servers to ask, in order.
pub fn servers() -> Vec<SocketAddr> {
    if let Ok(list) = std::env::var("CUTTLE_DNS_SERVER") {
        return list
            .split(',')
            .filter_map(|s| {
                let s = s.trim();
                s.parse::<SocketAddr>()
                    .ok()
                    .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
            })
            .collect();
    }
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    resolv_conf_servers(&text)
}

fn resolv_conf_servers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            // A link-local IPv6 server may carry a zone (`fe80::1%eth0`).
            let ip: IpAddr = words.next()?.split('%').next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

/// One record of an answer that discovery uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Addr {
        name: String,
        ip: IpAddr,
    },
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
}

/// The records of an answer (answer and additional sections) with their
/// smallest TTL.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answer {
    pub answers: Vec<Record>,
    /// Address records of the additional section (SRV targets, as Consul
    /// sends them).
    pub additional: Vec<Record>,
    pub ttl: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// NXDOMAIN: the name does not exist.
    NoSuchName,
    /// The servers answered with an error or malformed messages, or not at all.
    Unanswered(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoSuchName => f.write_str("no such host"),
            Failure::Unanswered(why) => f.write_str(why),
        }
    }
}

/// Asks `servers` in turn (twice round) until one answers.
pub fn query(servers: &[SocketAddr], name: &str, qtype: u16) -> Result<Answer, Failure> {
    if servers.is_empty() {
        return Err(Failure::Unanswered("no DNS server configured".into()));
    }
    let mut last = Failure::Unanswered("no answer".into());
    for server in servers.iter().chain(servers) {
        match ask(*server, name, qtype) {
            Ok(answer) => return Ok(answer),
            Err(Failure::NoSuchName) => return Err(Failure::NoSuchName),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn ask(server: SocketAddr, name: &str, qtype: u16) -> Result<Answer, Failure> {
    let unanswered = |e: std::io::Error| Failure::Unanswered(format!("DNS server {server}: {e}"));
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(unanswered)?;
    socket.connect(server).map_err(unanswered)?;
    socket
        .set_read_timeout(Some(ANSWER_WAIT))
        .map_err(unanswered)?;
    let id = query_id();
    let message = build_query(id, name, qtype)
        .ok_or_else(|| Failure::Unanswered(format!("{name:?} is not a DNS name")))?;
    socket.send(&message).map_err(unanswered)?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).map_err(unanswered)?;
        // A reply to another (earlier, timed-out) question is skipped.
        match parse_answer(&buf[..n], id, name, qtype) {
            Err(Parse::OtherQuestion) => continue,
            Err(Parse::NoSuchName) => return Err(Failure::NoSuchName),
            Err(Parse::Bad(why)) => {
                return Err(Failure::Unanswered(format!("DNS server {server}: {why}")));
            }
            Ok(answer) => return Ok(answer),
        }
    }
}

fn query_id() -> u16 {
    use ring::rand::SecureRandom;
    let mut id = [0u8; 2];
    let _ = ring::rand::SystemRandom::new().fill(&mut id);
    u16::from_be_bytes(id)
}

/// A recursive question for `name` with an EDNS(0) OPT record; `None` when
/// `name` cannot be a DNS name.
pub fn build_query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00]); // RD
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // 1 question, 1 additional
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return None;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&[0, 1]); // IN
    // OPT: root name, type 41, class = payload size, TTL 0, no options.
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&UDP_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Some(out)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// Not the reply to this question (another id or question).
    OtherQuestion,
    NoSuchName,
    Bad(String),
}

fn bad(why: &str) -> Parse {
    Parse::Bad(why.to_string())
}

/// Reads the reply to question `id` for `name`/`qtype`.
pub fn parse_answer(msg: &[u8], id: u16, name: &str, qtype: u16) -> Result<Answer, Parse> {
    if msg.len() < 12 {
        return Err(bad("short message"));
    }
    let u16_at = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    if u16_at(0) != id || msg[2] & 0x80 == 0 {
        return Err(Parse::OtherQuestion);
    }
    if u16_at(4) != 1 {
        return Err(Parse::OtherQuestion);
    }
    let mut at = 12;
    let qname = read_name(msg, &mut at).ok_or_else(|| bad("malformed question"))?;
    if msg.len() < at + 4 {
        return Err(bad("malformed question"));
    }
    let wanted = name.strip_suffix('.').unwrap_or(name);
    if !qname.eq_ignore_ascii_case(wanted) || u16_at(at) != qtype {
        return Err(Parse::OtherQuestion);
    }
    at += 4;
    match msg[3] & 0x0f {
        0 => {}
        3 => return Err(Parse::NoSuchName),
        rcode => return Err(Parse::Bad(format!("answered with error code {rcode}"))),
    }
    if msg[2] & 0x02 != 0 {
        // Truncated even with EDNS(0): what arrived is incomplete, so it
        // is not taken (no TCP fallback).
        return Err(bad("answer truncated"));
    }
    let counts = [u16_at(6), u16_at(8), u16_at(10)];
    let mut answer = Answer {
        ttl: u32::MAX,
        ..Answer::default()
    };
    for (section, &count) in counts.iter().enumerate() {
        for _ in 0..count {
            let owner = read_name(msg, &mut at).ok_or_else(|| bad("malformed record"))?;
            if msg.len() < at + 10 {
                return Err(bad("malformed record"));
            }
            let rtype = u16_at(at);
            let ttl = u32::from_be_bytes([msg[at + 4], msg[at + 5], msg[at + 6], msg[at + 7]]);
            let len = u16_at(at + 8) as usize;
            let data = at + 10;
            let end = data + len;
            if msg.len() < end {
                return Err(bad("malformed record"));
            }
            let record = match (rtype, len) {
                (TYPE_A, 4) => {
                    let ip = Ipv4Addr::new(msg[data], msg[data + 1], msg[data + 2], msg[data + 3]);
                    Some(Record::Addr {
                        name: owner,
                        ip: ip.into(),
                    })
                }
                (TYPE_AAAA, 16) => {
                    let octets: [u8; 16] = msg[data..end].try_into().unwrap_or_default();
                    Some(Record::Addr {
                        name: owner,
                        ip: Ipv6Addr::from(octets).into(),
                    })
                }
                (TYPE_SRV, 7..) => {
                    let mut t = data + 6;
                    let target = read_name(msg, &mut t).ok_or_else(|| bad("malformed SRV"))?;
                    Some(Record::Srv {
                        priority: u16_at(data),
                        weight: u16_at(data + 2),
                        port: u16_at(data + 4),
                        target,
                    })
                }
                _ => None,
            };
            at = end;
            let Some(record) = record else { continue };
            match section {
                0 => {
                    answer.ttl = answer.ttl.min(ttl);
                    answer.answers.push(record);
                }
                // Authority records are not used.
                1 => {}
                _ => answer.additional.push(record),
            }
        }
    }
    if answer.answers.is_empty() {
        answer.ttl = 0;
    }
    Ok(answer)
}

/// A (possibly compressed) name at `*at`, without its final dot; `*at`
/// moves past it. `None` on a malformed name or a pointer loop.
fn read_name(msg: &[u8], at: &mut usize) -> Option<String> {
    let mut name = String::new();
    let mut pos = *at;
    let mut jumped = false;
    for _ in 0..128 {
        let len = *msg.get(pos)? as usize;
        match len {
            0 => {
                if !jumped {
                    *at = pos + 1;
                }
                return Some(name);
            }
            0xc0.. => {
                let target = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
                if !jumped {
                    *at = pos + 2;
                }
                jumped = true;
                pos = target;
            }
            64.. => return None,
            _ => {
                let label = msg.get(pos + 1..pos + 1 + len)?;
                if !name.is_empty() {
                    name.push('.');
                }
                // Non-ASCII bytes are not host-name material; they are kept
                // escaped so that they cannot form another name.
                for &b in label {
                    if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                        name.push(b as char);
                    } else {
                        name.push_str(&format!("\\{b:03}"));
                    }
                }
                pos += 1 + len;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply to `query` with the given answer records (owner as a pointer
    /// to the question's name).
    fn reply(query: &[u8], rcode: u8, records: &[(u16, u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = query.to_vec();
        out.truncate(out.len() - 11); // drop the OPT record
        out[2] |= 0x80;
        out[3] = 0x80 | rcode;
        out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        out[10..12].copy_from_slice(&[0, 0]);
        for (rtype, ttl, data) in records {
            out.extend_from_slice(&[0xc0, 12]);
            out.extend_from_slice(&rtype.to_be_bytes());
            out.extend_from_slice(&[0, 1]);
            out.extend_from_slice(&ttl.to_be_bytes());
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn reads_srv_and_address_answers() {
        let q = build_query(7, "_api._tcp.svc.test", TYPE_SRV).unwrap();
        // SRV 10 5 8080 a.svc.test, then an SRV whose target points into
        // the question's name (`svc.test`).
        let mut srv = vec![0, 10, 0, 5, 0x1f, 0x90];
        srv.extend_from_slice(b"\x01a\x03svc\x04test\x00");
        let pointed = vec![0, 10, 0, 1, 0, 80, 0xc0, 12 + 10];
        let msg = reply(&q, 0, &[(TYPE_SRV, 30, srv), (TYPE_SRV, 5, pointed)]);
        let answer = parse_answer(&msg, 7, "_api._tcp.svc.test.", TYPE_SRV).unwrap();
        assert_eq!(answer.ttl, 5);
        assert_eq!(
            answer.answers,
            [
                Record::Srv {
                    priority: 10,
                    weight: 5,
                    port: 8080,
                    target: "a.svc.test".into()
                },
                Record::Srv {
                    priority: 10,
                    weight: 1,
                    port: 80,
                    target: "svc.test".into()
                },
            ]
        );
        let q = build_query(9, "svc.test", TYPE_A).unwrap();
        let msg = reply(&q, 0, &[(TYPE_A, 1, vec![127, 0, 0, 2])]);
        let answer = parse_answer(&msg, 9, "svc.test", TYPE_A).unwrap();
        assert_eq!(
            answer.answers,
            [Record::Addr {
                name: "svc.test".into(),
                ip: "127.0.0.2".parse().unwrap()
            }]
        );
    }

    #[test]
    fn refuses_other_questions_errors_and_garbage() {
        let q = build_query(7, "svc.test", TYPE_A).unwrap();
        let msg = reply(&q, 0, &[]);
        assert_eq!(
            parse_answer(&msg, 8, "svc.test", TYPE_A),
            Err(Parse::OtherQuestion)
        );
        assert_eq!(
            parse_answer(&msg, 7, "other.test", TYPE_A),
            Err(Parse::OtherQuestion)
        );
        assert_eq!(
            parse_answer(&reply(&q, 3, &[]), 7, "svc.test", TYPE_A),
            Err(Parse::NoSuchName)
        );
        assert!(matches!(
            parse_answer(&reply(&q, 2, &[]), 7, "svc.test", TYPE_A),
            Err(Parse::Bad(_))
        ));
        // A record running past the end, and a pointer loop.
        let mut cut = reply(&q, 0, &[(TYPE_A, 1, vec![127, 0, 0, 1])]);
        cut.truncate(cut.len() - 2);
        assert!(matches!(
            parse_answer(&cut, 7, "svc.test", TYPE_A),
            Err(Parse::Bad(_))
        ));
        let mut looped = reply(&q, 0, &[(TYPE_A, 1, vec![127, 0, 0, 1])]);
        let owner = q.len() - 11;
        looped[owner..owner + 2].copy_from_slice(&[0xc0, owner as u8]);
        assert!(matches!(
            parse_answer(&looped, 7, "svc.test", TYPE_A),
            Err(Parse::Bad(_))
        ));
        assert_eq!(build_query(1, "no such host!", TYPE_A), None);
        assert_eq!(build_query(1, "a..b", TYPE_A), None);
    }

    #[test]
    fn resolv_conf() {
        let text = "# comment\nsearch example\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\noptions ndots:2\n";
        assert_eq!(
            resolv_conf_servers(text),
            [
                "10.0.0.2:53".parse::<SocketAddr>().unwrap(),
                "[fe80::1]:53".parse().unwrap()
            ]
        );
    }
}
