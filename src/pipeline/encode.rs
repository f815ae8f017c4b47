//! Output encodings: choosing one and rendering the final document.
//! Renders as lura's `router/gin/render.go` and krakend-xml's `gin/render.go`.

use crate::config::OutputEncoding;

use super::{Value, json_out, xml_out, yaml_out};

/// The concrete format a response is rendered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rendered {
    Json,
    JsonCollection,
    String,
    Xml,
    Yaml,
}

const JSON_TYPE: &str = "application/json; charset=utf-8";

/// What `negotiate` offers, in order. lura offers `application/json`,
/// `text/plain` (rendered as YAML) and `application/xml`, in that order;
/// the other XML and YAML types are cuttle additions placed after them.
const OFFERS: &[(&[u8], Rendered)] = &[
    (b"application/json", Rendered::Json),
    (b"text/plain", Rendered::Yaml),
    (b"application/xml", Rendered::Xml),
    (b"text/xml", Rendered::Xml),
    (b"application/x-yaml", Rendered::Yaml),
    (b"application/yaml", Rendered::Yaml),
    (b"text/yaml", Rendered::Yaml),
];

/// The rendering for an endpoint's `output_encoding`; `negotiate` looks at
/// the request's `Accept` the way gin's `NegotiateFormat` does: accepted
/// types in header order (q-values ignored), the first offer that matches
/// wins, `*` matching anything from its position on; no match gives JSON.
pub fn negotiate(output: OutputEncoding, accept: Option<&[u8]>) -> Rendered {
    match output {
        OutputEncoding::Json | OutputEncoding::NoOp => Rendered::Json,
        OutputEncoding::JsonCollection => Rendered::JsonCollection,
        OutputEncoding::String => Rendered::String,
        OutputEncoding::Xml => Rendered::Xml,
        OutputEncoding::Yaml => Rendered::Yaml,
        OutputEncoding::Negotiate => accept.map_or(Rendered::Json, negotiate_accept),
    }
}

fn negotiate_accept(accept: &[u8]) -> Rendered {
    for part in accept.split(|b| *b == b',') {
        let part = match part.iter().position(|b| *b == b';') {
            Some(i) if i > 0 => &part[..i],
            _ => part,
        };
        let accepted = part.trim_ascii();
        if accepted.is_empty() {
            continue;
        }
        for (offer, rendered) in OFFERS {
            if gin_matches(accepted, offer) {
                return *rendered;
            }
        }
    }
    Rendered::Json
}

/// gin's comparison: equal up to the shorter length, a `*` on either side
/// matches the rest, and an accepted type that is a prefix of the offer matches.
fn gin_matches(accepted: &[u8], offer: &[u8]) -> bool {
    let mut i = 0;
    while i < accepted.len() && i < offer.len() {
        if accepted[i] == b'*' || offer[i] == b'*' {
            return true;
        }
        if !accepted[i].eq_ignore_ascii_case(&offer[i]) {
            break;
        }
        i += 1;
    }
    i == accepted.len()
}

/// Appends the rendered body to `out` and returns its Content-Type.
pub fn encode(value: &Value<'_>, rendered: Rendered, out: &mut Vec<u8>) -> &'static str {
    match rendered {
        Rendered::Json => {
            json_out::write_value(value, out);
            JSON_TYPE
        }
        Rendered::JsonCollection => {
            // lura's jsonCollectionRender: the "collection" value, `[]` without one.
            match value {
                Value::Object(object) => match object.get("collection") {
                    Some(collection) => json_out::write_value(collection, out),
                    None => out.extend_from_slice(b"[]"),
                },
                Value::Array(_) => json_out::write_value(value, out),
                _ => out.extend_from_slice(b"[]"),
            }
            JSON_TYPE
        }
        Rendered::String => {
            // lura's stringRender: the "content" string, or nothing.
            if let Value::Object(object) = value
                && let Some(Value::String(content)) = object.get("content")
            {
                out.extend_from_slice(content.as_bytes());
            }
            "text/plain; charset=utf-8"
        }
        Rendered::Xml => {
            xml_out::write_document(value, out);
            "application/xml"
        }
        Rendered::Yaml => {
            yaml_out::write_document(value, out);
            "application/yaml; charset=utf-8"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::json;

    #[test]
    fn negotiation() {
        use OutputEncoding::Negotiate;
        let cases: &[(Option<&str>, Rendered)] = &[
            (None, Rendered::Json),
            (Some(""), Rendered::Json),
            (Some("*/*"), Rendered::Json),
            (Some("application/json"), Rendered::Json),
            (Some("application/xml"), Rendered::Xml),
            (Some("text/xml"), Rendered::Xml),
            (Some("text/plain"), Rendered::Yaml),
            (Some("application/x-yaml"), Rendered::Yaml),
            (Some("application/yaml"), Rendered::Yaml),
            (Some("text/yaml"), Rendered::Yaml),
            (
                Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                Rendered::Xml,
            ),
            (Some("text/*"), Rendered::Yaml),
            (Some("image/png"), Rendered::Json),
            (
                Some("application/xml;q=0.1, application/json"),
                Rendered::Xml,
            ),
        ];
        for (accept, expected) in cases {
            assert_eq!(
                negotiate(Negotiate, accept.map(str::as_bytes)),
                *expected,
                "{accept:?}"
            );
        }
        assert_eq!(
            negotiate(OutputEncoding::Xml, Some(b"application/json")),
            Rendered::Xml
        );
        assert_eq!(
            negotiate(OutputEncoding::JsonCollection, None),
            Rendered::JsonCollection
        );
    }

    /// Encodes `input` (JSON text) as `rendered`; compares body and type.
    fn check(input: &str, rendered: Rendered, expected: &str, content_type: &str) {
        let mut out = b"prefix:".to_vec();
        let ct = encode(&json(input), rendered, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("prefix:{expected}"),
            "{rendered:?} of {input}"
        );
        assert_eq!(ct, content_type);
    }

    #[test]
    fn renders() {
        let json_ct = "application/json; charset=utf-8";
        check(
            r#"{"b":1,"a":"<"}"#,
            Rendered::Json,
            r#"{"a":"\u003c","b":1}"#,
            json_ct,
        );
        check(
            r#"{"collection":[{"b":1}],"x":1}"#,
            Rendered::JsonCollection,
            r#"[{"b":1}]"#,
            json_ct,
        );
        check(
            r#"{"collection":{"a":1}}"#,
            Rendered::JsonCollection,
            r#"{"a":1}"#,
            json_ct,
        );
        check(r#"{"x":1}"#, Rendered::JsonCollection, "[]", json_ct);
        check(
            r#"{"content":"hello <b>"}"#,
            Rendered::String,
            "hello <b>",
            "text/plain; charset=utf-8",
        );
        check(
            r#"{"content":1}"#,
            Rendered::String,
            "",
            "text/plain; charset=utf-8",
        );
        check(
            r#"{"other":"x"}"#,
            Rendered::String,
            "",
            "text/plain; charset=utf-8",
        );
        check(r#"{"a":1}"#, Rendered::Xml, "<a>1</a>", "application/xml");
        check(
            r#"{"a":1}"#,
            Rendered::Yaml,
            "a: 1\n",
            "application/yaml; charset=utf-8",
        );
    }
}
