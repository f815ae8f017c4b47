//! Query strings the way Go reads and writes them; the one a backend
//! receives is built with these as lura builds it: the client's
//! query parsed like Go's `url.ParseQuery` (gin's `c.Request.URL.Query()`,
//! lura `router/gin/endpoint.go` `NewRequest`), kept by name, then written
//! by `url.Values.Encode` (lura `proxy/balancing.go`): names sorted, the
//! values of a name in the client's order, each escaped as
//! `url.QueryEscape` does.

/// Appends to `out` the pairs of `query` whose decoded name `keep` accepts,
/// re-encoded, each preceded by `separator` then `&`. Pairs Go refuses (a
/// `;`, a bad `%` escape) are dropped, as gin's `Query()` drops them.
pub fn encode_kept(query: &[u8], keep: impl Fn(&[u8]) -> bool, separator: u8, out: &mut Vec<u8>) {
    let pairs = parse_query(query).filter(|(key, _)| keep(key)).collect();
    encode_query(pairs, separator, out);
}

/// The pairs of `query` as Go's `url.ParseQuery` reads them: decoded, in
/// the client's order, without the pairs it refuses.
pub fn parse_query(query: &[u8]) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    query
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty() && !pair.contains(&b';'))
        .filter_map(|pair| {
            let mut parts = pair.splitn(2, |&b| b == b'=');
            let key = unescape(parts.next().unwrap_or_default())?;
            let value = unescape(parts.next().unwrap_or_default())?;
            Some((key, value))
        })
}

/// `url.Values.Encode` of `pairs`: names sorted (the values of a name in
/// their order), each pair preceded by `separator` then `&`.
pub fn encode_query(mut pairs: Vec<(Vec<u8>, Vec<u8>)>, separator: u8, out: &mut Vec<u8>) {
    // Stable: the values of one name keep their order.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut separator = separator;
    for (key, value) in &pairs {
        out.push(separator);
        separator = b'&';
        escape(key, out);
        out.push(b'=');
        escape(value, out);
    }
}

/// Go's `url.QueryUnescape`: `+` is a space, `%` needs two hex digits.
fn unescape(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                let hi = hex(*raw.get(i + 1)?)?;
                let lo = hex(*raw.get(i + 2)?)?;
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Go's `url.QueryEscape`: letters, digits and `-_.~` as they are, a space
/// as `+`, every other byte `%XX` (upper-case hex).
fn escape(value: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode_kept;

    fn encoded(query: &str, keep: &[&str]) -> String {
        let mut out = Vec::new();
        let keep = |k: &[u8]| keep.is_empty() || keep.iter().any(|n| n.as_bytes() == k);
        encode_kept(query.as_bytes(), keep, b'?', &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn as_url_values_encode() {
        let cases = [
            // lura router/gin/endpoint_test.go TestEndpointHandler_ok
            (
                "a=42&b=1&c[]=x&c[]=y&d=1&d=2",
                &["b", "c[]", "d"][..],
                "?b=1&c%5B%5D=x&c%5B%5D=y&d=1&d=2",
            ),
            // names sorted, values of a name in order
            ("z=2&a=1&z=1", &[], "?a=1&z=2&z=1"),
            // decoded before matching and re-encoded
            ("c%5B%5D=x+y&q=%41%2f", &["c[]", "q"], "?c%5B%5D=x+y&q=A%2F"),
            // no value, empty pairs; Go drops `;` and bad escapes
            ("flag&&x=%zz&y=a;b&ok=1", &[], "?flag=&ok=1"),
            ("", &[], ""),
        ];
        for (query, keep, want) in cases {
            assert_eq!(encoded(query, keep), want, "{query}");
        }
    }
}
