//! Reading values by dot path, for the sequential proxy and static data.

use simd_json::StaticNode;

use super::{DecodeError, Value, decode::parse_json, gofmt};

/// The value at a dotted path through nested objects (`"a.b.c"`), as lura's
/// sequential merger walks it. Arrays are not indexed; an empty path is the
/// value itself.
pub fn lookup<'v, 'a>(value: &'v Value<'a>, dotted: &str) -> Option<&'v Value<'a>> {
    if dotted.is_empty() {
        return Some(value);
    }
    dotted
        .split('.')
        .try_fold(value, |current, key| match current {
            Value::Object(object) => object.get(key),
            _ => None,
        })
}

/// Appends a scalar as text the way KrakenD passes it on as a parameter:
/// strings as-is, integers in decimal, floats in their shortest form
/// (`42.5`), booleans as `true`/`false`. Returns false (and writes nothing)
/// for null, arrays and objects.
pub fn scalar_text(value: &Value<'_>, out: &mut Vec<u8>) -> bool {
    match value {
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        Value::Static(StaticNode::I64(n)) => {
            out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes())
        }
        Value::Static(StaticNode::U64(n)) => {
            out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes())
        }
        // The backend's literal when one was kept (`literals`), as lura
        // passes a `json.Number` on.
        Value::Static(StaticNode::F64(f)) => {
            if !super::literals::write_kept(*f, out) {
                gofmt::json_float(*f, out)
            }
        }
        Value::Static(StaticNode::Bool(b)) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" })
        }
        Value::Static(StaticNode::Null) | Value::Array(_) | Value::Object(_) => return false,
    }
    true
}

/// Appends a `{respN_field}` value the way lura's sequential proxy passes
/// it on (`proxy/merging.go`, `sequentialMerge`): a scalar as
/// [`scalar_text`]; an array as its elements formatted with Go's `%v`,
/// joined with `,` (`["1","2"]` -> `1,2`; `[]` -> nothing). Returns false
/// (and writes nothing) for null and objects.
pub fn sequential_text(value: &Value<'_>, out: &mut Vec<u8>) -> bool {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                go_text(item, out);
            }
            true
        }
        _ => scalar_text(value, out),
    }
}

/// Go's `%v` of a value as lura decodes it (numbers as `json.Number`, so
/// their text): `<nil>`, `[a b]`, `map[k:v k2:v2]` with sorted keys.
fn go_text(value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Static(StaticNode::Null) => out.extend_from_slice(b"<nil>"),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                go_text(item, out);
            }
            out.push(b']');
        }
        Value::Object(object) => {
            let mut entries: Vec<_> = object.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.extend_from_slice(b"map[");
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(key.as_bytes());
                out.push(b':');
                go_text(item, out);
            }
            out.push(b']');
        }
        scalar => {
            scalar_text(scalar, out);
        }
    }
}

/// Parses JSON text into a document that owns its strings (for static data
/// compiled once at start-up). Any JSON value is accepted.
pub fn parse_owned(json_text: &str) -> Result<Value<'static>, DecodeError> {
    let mut bytes = json_text.as_bytes().to_vec();
    parse_json(&mut bytes).map(Value::into_static)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::json;

    /// Looks `path` up in `doc` and renders the hit with `scalar_text`;
    /// `None` when missing, `Some("!")` when it is not a scalar.
    fn check(doc: &str, path: &str, expected: Option<&str>) {
        let value = json(doc);
        let got = lookup(&value, path).map(|hit| {
            let mut out = Vec::new();
            if scalar_text(hit, &mut out) {
                String::from_utf8(out).unwrap()
            } else {
                "!".to_string()
            }
        });
        assert_eq!(got.as_deref(), expected, "{path} in {doc}");
    }

    #[test]
    fn lookups() {
        let doc = r#"{"a":{"b":{"c":"deep"},"n":42,"f":42.5,"t":true,"z":null,"l":[1]},"top":"x"}"#;
        let cases: &[(&str, Option<&str>)] = &[
            ("top", Some("x")),
            ("a.b.c", Some("deep")),
            ("a.n", Some("42")),
            ("a.f", Some("42.5")),
            ("a.t", Some("true")),
            ("a.z", Some("!")),
            ("a.l", Some("!")),
            ("a.b", Some("!")),
            ("a.missing", None),
            ("top.x", None),
            ("a.l.0", None),
            ("", Some("!")),
        ];
        for (path, expected) in cases {
            check(doc, path, *expected);
        }
        check(
            r#"{"big":18446744073709551615,"neg":-7}"#,
            "big",
            Some("18446744073709551615"),
        );
        check(
            r#"{"big":18446744073709551615,"neg":-7}"#,
            "neg",
            Some("-7"),
        );
    }

    #[test]
    fn sequential_values_join_arrays_as_lura_does() {
        let cases: &[(&str, Option<&str>)] = &[
            (r#"["1","2"]"#, Some("1,2")),
            (r#"["x y",3,2.5,true]"#, Some("x y,3,2.5,true")),
            ("[]", Some("")),
            (
                r#"[null,[1,"a"],{"b":1,"a":[2]}]"#,
                Some("<nil>,[1 a],map[a:[2] b:1]"),
            ),
            (r#""s""#, Some("s")),
            ("7", Some("7")),
            ("null", None),
            (r#"{"a":1}"#, None),
        ];
        for (doc, expected) in cases {
            let mut out = Vec::new();
            let got =
                sequential_text(&json(doc), &mut out).then(|| String::from_utf8(out).unwrap());
            assert_eq!(got.as_deref(), *expected, "{doc}");
        }
    }

    #[test]
    fn parse_owned_accepts_any_value_and_rejects_garbage() {
        assert!(parse_owned(r#"{"a":[1,"x"]}"#).is_ok());
        assert!(parse_owned("[1]").is_ok());
        assert!(parse_owned("{").is_err());
        assert!(parse_owned("").is_err());
    }
}
