//! Compact JSON exactly as Go's `encoding/json` writes a
//! `map[string]interface{}`: keys sorted bytewise, HTML-sensitive characters
//! and U+2028/U+2029 escaped, no trailing newline.

use simd_json::StaticNode;
use smallvec::SmallVec;

use super::{Object, Value, gofmt};

pub(crate) fn write_value(value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Static(node) => write_static(*node, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        Value::Object(object) => write_object(object, out),
    }
}

/// The keys of lura's `HTTPResponseError` (`transport/http/client/status.go`),
/// the value of a `return_error_details` backend's `error_<name>`, in its
/// field order, which Go's encoder keeps for a struct (a map's keys it
/// sorts). An object whose keys are these very strings (by address: the
/// proxy builds such objects from this array, a backend's keys live in its
/// body) is written in this order.
pub(crate) static ERROR_DETAIL_KEYS: [&str; 3] =
    ["http_status_code", "http_body", "http_body_encoding"];

/// A key's place in [`ERROR_DETAIL_KEYS`], when it is one of those strings.
fn detail_rank(key: &str) -> Option<usize> {
    ERROR_DETAIL_KEYS
        .iter()
        .position(|k| std::ptr::eq(k.as_ptr(), key.as_ptr()) && k.len() == key.len())
}

pub(crate) fn write_object(object: &Object<'_>, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut entries = sorted_entries(object);
    if entries.len() <= ERROR_DETAIL_KEYS.len()
        && entries.iter().all(|(key, _)| detail_rank(key).is_some())
    {
        entries.sort_unstable_by_key(|(key, _)| detail_rank(key));
    }
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        write_value(value, out);
    }
    out.push(b'}');
}

/// Object entries in bytewise key order (Go sorts map keys that way).
pub(crate) fn sorted_entries<'o, 'a>(
    object: &'o Object<'a>,
) -> SmallVec<[(&'o str, &'o Value<'a>); 16]> {
    let mut entries: SmallVec<[(&str, &Value<'a>); 16]> =
        object.iter().map(|(k, v)| (k.as_ref(), v)).collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    entries
}

pub(crate) fn write_static(node: StaticNode, out: &mut Vec<u8>) {
    match node {
        StaticNode::I64(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        StaticNode::U64(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        StaticNode::F64(f) => {
            // As the backend wrote it, when lura would keep its text.
            if !super::literals::write_kept(f, out) {
                gofmt::json_float(f, out)
            }
        }
        StaticNode::Bool(true) => out.extend_from_slice(b"true"),
        StaticNode::Bool(false) => out.extend_from_slice(b"false"),
        StaticNode::Null => out.extend_from_slice(b"null"),
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether an ASCII byte can be copied as-is inside a Go JSON string.
const fn is_plain_byte(b: u8) -> bool {
    b >= 0x20 && b != b'"' && b != b'\\' && b != b'<' && b != b'>' && b != b'&' && b < 0x80
}

/// [`is_plain_byte`] for every byte, looked up instead of compared: strings
/// are most of what a JSON body is made of.
static PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_plain_byte(b as u8);
        b += 1;
    }
    table
};

fn is_plain(b: u8) -> bool {
    PLAIN[b as usize]
}

pub(crate) fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_plain(b) {
            i += 1;
            continue;
        }
        if b >= 0x80 {
            // Multi-byte UTF-8: only U+2028 and U+2029 (E2 80 A8/A9) need escaping.
            if b == 0xE2
                && bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9))
            {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(if bytes[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                start = i;
            } else {
                i += 1;
            }
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xF) as usize],
            ]),
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::json;

    /// Parses `input` and re-encodes it; compares with Go's output.
    fn check(input: &str, expected: &str) {
        let mut out = Vec::new();
        write_value(&json(input), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            expected,
            "encoding {input}"
        );
    }

    #[test]
    fn go_compatible_output() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"b":1,"a":2,"B":3,"_":4}"#,
                r#"{"B":3,"_":4,"a":2,"b":1}"#,
            ),
            (r#"{ "a" : [ 1 , 2 , { } , [ ] ] }"#, r#"{"a":[1,2,{},[]]}"#),
            (
                r#""<a href='x'>&amp;</a>""#,
                r#""\u003ca href='x'\u003e\u0026amp;\u003c/a\u003e""#,
            ),
            (r#""quote\" back\\ slash/""#, r#""quote\" back\\ slash/""#),
            (
                r#""\n\r\t\b\f\u0001\u001f\u007f""#,
                "\"\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}\"",
            ),
            ("\"\u{2028}\u{2029}é😀\"", "\"\\u2028\\u2029é😀\""),
            ("[true,false,null]", "[true,false,null]"),
            (
                "[9223372036854775807,-9223372036854775808,18446744073709551615]",
                "[9223372036854775807,-9223372036854775808,18446744073709551615]",
            ),
            (
                "[1.5,1e21,1e-7,0.000001,100.0,-0.0]",
                "[1.5,1e+21,1e-7,0.000001,100,-0]",
            ),
            (r#"{"é":1,"z":2,"Z":3}"#, r#"{"Z":3,"z":2,"é":1}"#),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }
}
