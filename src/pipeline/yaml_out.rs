//! YAML rendering in the style of go-yaml v2 (`yaml.Marshal`, what gin's
//! YAML render uses): block style, keys in bytewise order, two-space
//! indentation for nested mappings, sequences not indented under their key,
//! `{}` / `[]` for empty containers, and strings quoted only when YAML would
//! read them as something else or cannot hold them plain:
//!
//! - double quotes when the plain text would resolve to a non-string (empty,
//!   `~`, null/bool words of YAML 1.1 such as `yes`/`off`, numbers, `.inf`,
//!   `<<`, base-60 numbers, timestamps) or holds line breaks or
//!   non-printable characters (go-yaml would use a literal block for line
//!   breaks; the double-quoted form is equivalent YAML);
//! - single quotes when the emitter forbids plain style (leading indicator
//!   characters, leading/trailing spaces, `: `, ` #`, a trailing `:`,
//!   `---`/`...` prefixes).

use simd_json::StaticNode;

use super::{Object, Value, gofmt, json_out::sorted_entries};

pub(crate) fn write_document(value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Object(object) if !object.is_empty() => write_mapping(object, 0, false, out),
        Value::Array(items) if !items.is_empty() => write_sequence(items, 0, false, out),
        scalar => {
            write_inline(scalar, out);
            out.push(b'\n');
        }
    }
}

fn pad(indent: usize, out: &mut Vec<u8>) {
    out.resize(out.len() + indent, b' ');
}

/// A mapping at `indent`; with `continued` the first key follows text
/// already on the line (after `- `).
fn write_mapping(object: &Object<'_>, indent: usize, continued: bool, out: &mut Vec<u8>) {
    for (i, (key, value)) in sorted_entries(object).into_iter().enumerate() {
        if i > 0 || !continued {
            pad(indent, out);
        }
        write_string(key, out);
        out.push(b':');
        match value {
            Value::Object(inner) if !inner.is_empty() => {
                out.push(b'\n');
                write_mapping(inner, indent + 2, false, out);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push(b'\n');
                write_sequence(items, indent, false, out);
            }
            other => {
                out.push(b' ');
                write_inline(other, out);
                out.push(b'\n');
            }
        }
    }
}

fn write_sequence(items: &[Value<'_>], indent: usize, continued: bool, out: &mut Vec<u8>) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !continued {
            pad(indent, out);
        }
        out.extend_from_slice(b"- ");
        match item {
            Value::Object(inner) if !inner.is_empty() => {
                write_mapping(inner, indent + 2, true, out)
            }
            Value::Array(inner) if !inner.is_empty() => {
                write_sequence(inner, indent + 2, true, out)
            }
            other => {
                write_inline(other, out);
                out.push(b'\n');
            }
        }
    }
}

/// Scalars and empty containers.
fn write_inline(value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::String(s) => write_string(s, out),
        Value::Static(StaticNode::I64(n)) => {
            out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes())
        }
        Value::Static(StaticNode::U64(n)) => {
            out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes())
        }
        Value::Static(StaticNode::F64(f)) => gofmt::g_float(*f, out),
        Value::Static(StaticNode::Bool(b)) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" })
        }
        Value::Static(StaticNode::Null) => out.extend_from_slice(b"null"),
        Value::Object(_) => out.extend_from_slice(b"{}"),
        Value::Array(_) => out.extend_from_slice(b"[]"),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    if needs_double_quotes(s) {
        write_double_quoted(s, out);
    } else if plain_forbidden(s) {
        out.push(b'\'');
        for part in s.split('\'').enumerate() {
            if part.0 > 0 {
                out.extend_from_slice(b"''");
            }
            out.extend_from_slice(part.1.as_bytes());
        }
        out.push(b'\'');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn needs_double_quotes(s: &str) -> bool {
    s.is_empty()
        || s.chars()
            .any(|c| c == '\n' || c == '\r' || !is_printable(c))
        || resolves_to_non_string(s)
}

fn is_printable(c: char) -> bool {
    matches!(c, '\t' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

/// YAML 1.1 plain scalars that go-yaml v2 resolves to something other than
/// a string (bool, null, int, float, merge key, timestamp).
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return false;
    }
    is_int(s) || is_float(s) || is_base60(s) || is_timestamp(s)
}

/// Go's `strconv.ParseInt(s, 0, 64)` syntax (size aside).
fn is_int(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    let (digits, radix) = if let Some(d) = lower.strip_prefix("0x") {
        (d, 16)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d, 2)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d, 8)
    } else {
        (lower.as_str(), 10)
    };
    !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && digits.chars().all(|c| c == '_' || c.is_digit(radix))
        && digits.chars().any(|c| c != '_')
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_float(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s).as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i;
    if b.first() == Some(&b'.') {
        let n = digits(1);
        if n == 0 {
            return false;
        }
        i = 1 + n;
    } else {
        let n = digits(0);
        if n == 0 {
            return false;
        }
        i = n;
        if b.get(i) == Some(&b'.') {
            i += 1 + digits(i + 1);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return false;
        }
        i += n;
    }
    i == b.len()
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (main, fraction) = body.split_once('.').unwrap_or((body, ""));
    if !fraction.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return false;
    }
    let mut parts = main.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    let head_ok = head.starts_with(|c: char| c.is_ascii_digit())
        && head.chars().all(|c| c.is_ascii_digit() || c == '_');
    let mut sexagesimal = 0;
    for part in parts {
        let ok = match part.as_bytes() {
            [d] => d.is_ascii_digit(),
            [a, d] => (b'0'..=b'5').contains(a) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        sexagesimal += 1;
    }
    head_ok && sexagesimal > 0
}

/// go-yaml's timestamp forms all start `YYYY-M-D`.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let mut i = 5;
    for field in 0..2 {
        let n = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 2 {
            return false;
        }
        i += n;
        if field == 0 {
            if b.get(i) != Some(&b'-') {
                return false;
            }
            i += 1;
        }
    }
    i == b.len() || matches!(b[i], b'T' | b't' | b' ' | b'\t')
}

/// libyaml's analysis: may this text be written plain in block context?
fn plain_forbidden(s: &str) -> bool {
    let b = s.as_bytes();
    if s.starts_with("---") || s.starts_with("...") {
        return true;
    }
    let blank_at = |i: usize| i >= b.len() || matches!(b[i], b' ' | b'\t');
    if matches!(b[0], b' ' | b'\t') || matches!(b[b.len() - 1], b' ' | b'\t') {
        return true;
    }
    match b[0] {
        b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' => return true,
        b'?' | b':' | b'-' if blank_at(1) => return true,
        _ => {}
    }
    (1..b.len()).any(|i| match b[i] {
        b':' => blank_at(i + 1),
        b'#' => matches!(b[i - 1], b' ' | b'\t'),
        _ => false,
    })
}

fn write_double_quoted(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\0' => out.extend_from_slice(b"\\0"),
            '\u{7}' => out.extend_from_slice(b"\\a"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\u{b}' => out.extend_from_slice(b"\\v"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\u{1b}' => out.extend_from_slice(b"\\e"),
            '\u{85}' => out.extend_from_slice(b"\\N"),
            '\u{a0}' => out.extend_from_slice(b"\\_"),
            '\u{2028}' => out.extend_from_slice(b"\\L"),
            '\u{2029}' => out.extend_from_slice(b"\\P"),
            c if is_printable(c) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            c if (c as u32) <= 0xff => {
                out.extend_from_slice(format!("\\x{:02X}", c as u32).as_bytes());
            }
            c if (c as u32) <= 0xffff => {
                out.extend_from_slice(format!("\\u{:04X}", c as u32).as_bytes());
            }
            c => out.extend_from_slice(format!("\\U{:08X}", c as u32).as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::json;

    /// Renders `input` (JSON text) as YAML and compares.
    fn check(input: &str, expected: &str) {
        let mut out = Vec::new();
        write_document(&json(input), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), expected, "{input}");
    }

    #[test]
    fn krakend_example() {
        check(
            r#"{"user":{"-type":"admin","name":"Elliot","social":{"facebook":"https://facebook.com","twitter":"https://twitter.com","youtube":"https://youtube.com"}}}"#,
            "user:\n  -type: admin\n  name: Elliot\n  social:\n    facebook: https://facebook.com\n    twitter: https://twitter.com\n    youtube: https://youtube.com\n",
        );
    }

    #[test]
    fn layout() {
        let cases: &[(&str, &str)] = &[
            ("{}", "{}\n"),
            (r#"{"a":{},"b":[],"c":null}"#, "a: {}\nb: []\nc: null\n"),
            (r#"{"l":[1,"x",true]}"#, "l:\n- 1\n- x\n- true\n"),
            (
                r#"{"l":[{"a":1,"b":2},{"c":3}]}"#,
                "l:\n- a: 1\n  b: 2\n- c: 3\n",
            ),
            (r#"{"l":[[1,2],[3]]}"#, "l:\n- - 1\n  - 2\n- - 3\n"),
            (
                r#"{"m":{"l":[{"a":{"b":1}}]}}"#,
                "m:\n  l:\n  - a:\n      b: 1\n",
            ),
            (
                r#"{"f":1.5,"g":1000000.0,"i":-7}"#,
                "f: 1.5\ng: 1e+06\ni: -7\n",
            ),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn string_quoting() {
        let cases: &[(&str, &str)] = &[
            ("plain text", "plain text"),
            ("", r#""""#),
            ("true", r#""true""#),
            ("yes", r#""yes""#),
            ("Off", r#""Off""#),
            ("null", r#""null""#),
            ("~", r#""~""#),
            ("123", r#""123""#),
            ("-1.5e3", r#""-1.5e3""#),
            ("0x1F", r#""0x1F""#),
            ("1_000", r#""1_000""#),
            (".5", r#"".5""#),
            (".inf", r#"".inf""#),
            ("1:20", r#""1:20""#),
            ("2001-12-14", r#""2001-12-14""#),
            (
                "2001-12-14t21:59:43.10-05:00",
                r#""2001-12-14t21:59:43.10-05:00""#,
            ),
            ("12abc", "12abc"),
            ("1.2.3", "1.2.3"),
            ("a: b", "'a: b'"),
            ("a:", "'a:'"),
            ("a:b", "a:b"),
            ("x #y", "'x #y'"),
            ("x#y", "x#y"),
            ("-type", "-type"),
            ("- item", "'- item'"),
            ("-", "'-'"),
            ("@handle", "'@handle'"),
            ("*star", "'*star'"),
            ("it's", "it's"),
            ("'quoted'", "'''quoted'''"),
            (" lead", "' lead'"),
            ("trail ", "'trail '"),
            ("---", "'---'"),
            ("two\nlines", r#""two\nlines""#),
            ("bell\u{7}", r#""bell\a""#),
            ("é ünïcode", "é ünïcode"),
            ("https://example.com/a?b=c#d", "https://example.com/a?b=c#d"),
        ];
        for (text, expected) in cases {
            let mut out = Vec::new();
            write_string(text, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), *expected, "{text:?}");
        }
    }
}
