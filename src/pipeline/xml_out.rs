//! XML rendering as mxj's `Map.Xml()` does it for krakend-xml (read from
//! clbanning/mxj `xml.go`, `mapToXmlIndent`, with `XMLEscapeChars(true)`):
//!
//! - a document with a single key renders as that element, unless its value
//!   is an array holding a non-object (then, like any other document, it is
//!   wrapped in `<doc>`);
//! - object keys render in bytewise order; keys starting with `-` are
//!   attributes (sorted; non-scalar attribute values are skipped, where mxj
//!   would fail the whole render); a lone `#text` beside attributes is the
//!   element's text;
//! - an array repeats its element; `null`, `""`, `{}` and attribute-only
//!   objects are self-closing (`<a/>`);
//! - numbers and booleans as Go's `%v`; text and attribute values escaped
//!   (`& < > " '`).

use simd_json::StaticNode;

use super::{Value, gofmt, json_out::sorted_entries};

const ROOT_TAG: &str = "doc";

pub(crate) fn write_document(value: &Value<'_>, out: &mut Vec<u8>) {
    if let Value::Object(object) = value
        && object.len() == 1
        && let Some((key, inner)) = object.iter().next()
    {
        let wrap = matches!(inner, Value::Array(items)
            if items.iter().any(|item| !matches!(item, Value::Object(_))));
        if !wrap {
            write_element(key, inner, out);
            return;
        }
    }
    write_element(ROOT_TAG, value, out);
}

fn write_element(key: &str, value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Array(items) => {
            for item in items.iter() {
                write_element(key, item, out);
            }
        }
        Value::Object(object) => {
            open(key, out);
            let entries = sorted_entries(object);
            let mut attributes = 0;
            for (name, attr) in entries.iter().filter(|(k, _)| k.starts_with('-')) {
                attributes += 1;
                let mut text = Vec::new();
                if scalar_text(attr, &mut text) {
                    out.push(b' ');
                    out.extend_from_slice(&name.as_bytes()[1..]);
                    out.extend_from_slice(b"=\"");
                    out.extend_from_slice(&text);
                    out.push(b'"');
                }
            }
            if attributes == entries.len() {
                out.extend_from_slice(b"/>");
                return;
            }
            out.push(b'>');
            if attributes + 1 == entries.len()
                && let Some(text) = object.get("#text")
            {
                scalar_text(text, out);
                close(key, out);
                return;
            }
            for (name, child) in entries.iter().filter(|(k, _)| !k.starts_with('-')) {
                write_element(name, child, out);
            }
            close(key, out);
        }
        scalar => {
            open(key, out);
            let start = out.len();
            out.push(b'>');
            scalar_text(scalar, out);
            if out.len() == start + 1 {
                // null or an empty string: self-closing
                out.truncate(start);
                out.extend_from_slice(b"/>");
            } else {
                close(key, out);
            }
        }
    }
}

fn open(key: &str, out: &mut Vec<u8>) {
    out.push(b'<');
    out.extend_from_slice(key.as_bytes());
}

fn close(key: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"</");
    out.extend_from_slice(key.as_bytes());
    out.push(b'>');
}

/// Escaped text of a scalar; false (nothing written) for containers.
fn scalar_text(value: &Value<'_>, out: &mut Vec<u8>) -> bool {
    match value {
        Value::String(s) => escape(s, out),
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
        Value::Static(StaticNode::Null) => {}
        Value::Array(_) | Value::Object(_) => return false,
    }
    true
}

fn escape(s: &str, out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&apos;",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[start..i]);
        out.extend_from_slice(replacement);
        start = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::json;

    /// Renders `input` (JSON text) as XML and compares.
    fn check(input: &str, expected: &str) {
        let mut out = Vec::new();
        write_document(&json(input), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), expected, "{input}");
    }

    #[test]
    fn krakend_examples() {
        check(
            r#"{"user":{"-type":"admin","name":"Elliot","social":{"facebook":"https://facebook.com","twitter":"https://twitter.com","youtube":"https://youtube.com"}}}"#,
            r#"<user type="admin"><name>Elliot</name><social><facebook>https://facebook.com</facebook><twitter>https://twitter.com</twitter><youtube>https://youtube.com</youtube></social></user>"#,
        );
        check(
            r#"{"foo":42,"headers":{"Accept-Encoding":"gzip","X-Forwarded-Host":"localhost:8080"},"path":"/param_forwarding/","query":{}}"#,
            "<doc><foo>42</foo><headers><Accept-Encoding>gzip</Accept-Encoding><X-Forwarded-Host>localhost:8080</X-Forwarded-Host></headers><path>/param_forwarding/</path><query/></doc>",
        );
    }

    #[test]
    fn rules() {
        let cases: &[(&str, &str)] = &[
            (r#"{"a":"x"}"#, "<a>x</a>"),
            (r#"{"a":["x","y"]}"#, "<doc><a>x</a><a>y</a></doc>"),
            (
                r#"{"a":[{"b":1},{"b":2}]}"#,
                "<a><b>1</b></a><a><b>2</b></a>",
            ),
            (
                r#"{"h":{"Accept":["a","b"]},"z":1}"#,
                "<doc><h><Accept>a</Accept><Accept>b</Accept></h><z>1</z></doc>",
            ),
            (
                r#"{"a":null,"b":"","c":{},"d":[],"e":true,"f":1.5}"#,
                "<doc><a/><b/><c/><e>true</e><f>1.5</f></doc>",
            ),
            (r#"{"a":{"-x":"1","-y":2}}"#, r#"<a x="1" y="2"/>"#),
            (
                r##"{"a":{"-x":"1","#text":"t<"}}"##,
                r#"<a x="1">t&lt;</a>"#,
            ),
            (r#"{"a":"<&>\"'"}"#, "<a>&lt;&amp;&gt;&quot;&apos;</a>"),
            (r#"{"a":{"-q":"\"&"}}"#, r#"<a q="&quot;&amp;"/>"#),
            (r#"{"a":{"-bad":{"x":1},"b":1}}"#, "<a><b>1</b></a>"),
            ("{}", "<doc/>"),
            (
                r#"{"n":1234567.5,"i":-3,"u":18446744073709551615}"#,
                "<doc><i>-3</i><n>1.2345675e+06</n><u>18446744073709551615</u></doc>",
            ),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }
}
