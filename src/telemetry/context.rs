//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the
//! `traceparent` and `tracestate` a client sends are parsed strictly (a
//! malformed one is ignored, never echoed), and the ones cuttle sends are
//! written from its own ids. A client's bytes never reach a backend: only
//! the ids parsed from them and a `tracestate` that passed the grammar.

/// A valid `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub sampled: bool,
}

/// Parses a `traceparent` value: `version-traceid-parentid-flags`, lower
/// case hex. Version `ff` is invalid; version 00 is exactly 55 bytes; a
/// later version may carry more after a `-` (the spec's forward rule).
/// All-zero ids are invalid.
pub fn parse_traceparent(value: &[u8]) -> Option<TraceParent> {
    let value = trim(value);
    if value.len() < 55 {
        return None;
    }
    let version = hex_byte(&value[0..2])?;
    if version == 0xff || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    if version == 0 && value.len() != 55 || value.len() > 55 && value[55] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    for (i, byte) in trace_id.iter_mut().enumerate() {
        *byte = hex_byte(&value[3 + 2 * i..5 + 2 * i])?;
    }
    let mut parent_id = [0u8; 8];
    for (i, byte) in parent_id.iter_mut().enumerate() {
        *byte = hex_byte(&value[36 + 2 * i..38 + 2 * i])?;
    }
    let flags = hex_byte(&value[53..55])?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        sampled: flags & 1 == 1,
    })
}

/// Parses a `tracestate` value and returns it normalised (members joined
/// by `,` without spaces), or `None` when any member breaks the grammar,
/// a key repeats, there are more than 32 members or it is over 512 bytes.
pub fn parse_tracestate(value: &[u8]) -> Option<String> {
    if value.len() > 512 {
        return None;
    }
    let mut out = String::with_capacity(value.len());
    let mut keys: Vec<&[u8]> = Vec::new();
    for member in value.split(|&b| b == b',') {
        let member = trim(member);
        if member.is_empty() {
            continue;
        }
        let eq = member.iter().position(|&b| b == b'=')?;
        let (key, val) = (&member[..eq], &member[eq + 1..]);
        if !valid_key(key) || !valid_value(val) || keys.contains(&key) {
            return None;
        }
        keys.push(key);
        if keys.len() > 32 {
            return None;
        }
        if !out.is_empty() {
            out.push(',');
        }
        // Checked ASCII above.
        out.push_str(std::str::from_utf8(member).ok()?);
    }
    (!out.is_empty()).then_some(out)
}

/// `key = simple-key / multi-tenant-key`: lower-case letters, digits and
/// `_ - * /`; a simple key starts with a letter (up to 256), a tenant key
/// is `tenant@system` (tenant up to 241 starting with a letter or digit,
/// system up to 14 starting with a letter).
fn valid_key(key: &[u8]) -> bool {
    let body = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/".contains(&b);
    match key.iter().position(|&b| b == b'@') {
        None => {
            !key.is_empty()
                && key.len() <= 256
                && key[0].is_ascii_lowercase()
                && key.iter().all(|&b| body(b))
        }
        Some(at) => {
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            !tenant.is_empty()
                && tenant.len() <= 241
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && tenant.iter().all(|&b| body(b))
                && !system.is_empty()
                && system.len() <= 14
                && system[0].is_ascii_lowercase()
                && system.iter().all(|&b| body(b))
        }
    }
}

/// `value`: up to 256 printable ASCII characters but `,` and `=`, not
/// ending in a space.
fn valid_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 256
        && value.last() != Some(&b' ')
        && value
            .iter()
            .all(|&b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    Some(digit(two[0])? << 4 | digit(two[1])?)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the header lines a backend gets: `traceparent` (version 00)
/// naming `parent` as its parent and, when there is one, `tracestate`.
pub fn write_headers(
    out: &mut Vec<u8>,
    trace_id: &[u8; 16],
    parent: &[u8; 8],
    sampled: bool,
    state: Option<&str>,
) {
    // Built on the stack and appended at once: one bounds check and one
    // copy for the 70 bytes, not one per hex digit (every request that
    // reaches a backend pays this, sampled or not).
    let mut line = [0u8; 70];
    line[..16].copy_from_slice(b"traceparent: 00-");
    hex_into(&mut line[16..48], trace_id);
    line[48] = b'-';
    hex_into(&mut line[49..65], parent);
    line[65..].copy_from_slice(if sampled { b"-01\r\n" } else { b"-00\r\n" });
    out.extend_from_slice(&line);
    if let Some(state) = state {
        out.extend_from_slice(b"tracestate: ");
        out.extend_from_slice(state.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// `bytes` as lowercase hex into `dst` (twice as long).
fn hex_into(dst: &mut [u8], bytes: &[u8]) {
    for (pair, &b) in dst.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[(b >> 4) as usize];
        pair[1] = HEX[(b & 15) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_parses() {
        let p = parse_traceparent(GOOD).unwrap();
        assert_eq!(p.trace_id[0], 0x4b);
        assert_eq!(p.parent_id[7], 0xb7);
        assert!(p.sampled);
        let off = parse_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert!(!off.unwrap().sampled);
        // A later version may carry more fields.
        assert!(
            parse_traceparent(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz")
                .is_some()
        );
        assert!(
            parse_traceparent(b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ")
                .is_some()
        );
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        for bad in [
            &b""[..],
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            b"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7\r\n-01",
            b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            b"0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(
                parse_traceparent(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn tracestate_is_checked_and_normalised() {
        assert_eq!(
            parse_tracestate(b"rojo=00f067aa0ba902b7, congo=t61rcWkgMzE ,").as_deref(),
            Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        );
        assert_eq!(parse_tracestate(b"t@sys=1").as_deref(), Some("t@sys=1"));
        for bad in [
            &b"Rojo=1"[..],
            b"rojo",
            b"rojo=1,rojo=2",
            b"rojo=a\r\nx: y",
            b"rojo=a=b",
            b"rojo=a b\x01",
            b"",
            b"t@=1",
        ] {
            assert_eq!(
                parse_tracestate(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(parse_tracestate(many.join(",").as_bytes()), None);
        assert_eq!(parse_tracestate(&[b'a'; 600]), None);
    }

    #[test]
    fn headers_are_written_in_version_00() {
        let mut out = Vec::new();
        write_headers(
            &mut out,
            &[0xab; 16],
            &[1, 2, 3, 4, 5, 6, 7, 8],
            false,
            Some("a=b"),
        );
        assert_eq!(
            out,
            b"traceparent: 00-abababababababababababababababab-0102030405060708-00\r\ntracestate: a=b\r\n"
        );
    }
}
