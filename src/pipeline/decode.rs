//! Backend body bytes to a document, per the backend's `encoding`.
//!
//! Mirrors lura's decoders (`encoding/json.go`, `encoding/register.go`,
//! `encoding/string.go`) and krakend-xml's (`xml.go`, mxj underneath).

use std::borrow::Cow;
use std::fmt;

use crate::config::BackendEncoding;

use super::{Literals, Value, new_object, xml_in};

/// Why a backend body could not be decoded. KrakenD treats this as a failed
/// backend; the text is what `return_error_msg` may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    reason: Cow<'static, str>,
}

impl DecodeError {
    pub(crate) fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        DecodeError {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a backend body, borrowing strings from `body` where possible
/// (simd-json unescapes in place, hence `&mut`).
///
/// - `Json`: the root must be an object; with `is_collection` it must be an
///   array (lura's `JSONCollectionDecoder` decodes into `[]interface{}`, so an
///   object is an error there too). The `{"collection": [...]}` wrapping is
///   left to [`Manipulation::apply`](super::Manipulation::apply).
/// - `SafeJson`: anything; an array becomes `{"collection": [...]}` and a
///   scalar `{"content": v}` (lura `SafeJSONDecoder`, `encoding/encoding.go`;
///   `result` until lura's 2022 commit 2439455), whatever `is_collection`.
/// - `String`: `{"content": "<body>"}`; invalid UTF-8 is replaced by U+FFFD
///   (Go keeps the bytes, but then writes U+FFFD when rendering JSON anyway).
/// - `Xml`: mxj's map form; with `is_collection` the whole map goes under
///   `"collection"` (krakend-xml `CollectionDecoder` does exactly that, no array).
/// - `Rss`: an RSS or Atom feed in krakend-rss's shape (see `rss.rs`).
/// - `NoOp`: not meant to be called; yields an empty object.
///
/// JSON number literals the writer would not render as written go to
/// `literals` (see `literals.rs`; lura keeps them with `UseNumber`).
pub fn decode<'a>(
    encoding: BackendEncoding,
    is_collection: bool,
    body: &'a mut [u8],
    literals: &mut Literals,
) -> Result<Value<'a>, DecodeError> {
    // Looked for before the parse rewrites escaped strings in place; kept
    // only from a body that decodes.
    let json = matches!(encoding, BackendEncoding::Json | BackendEncoding::SafeJson);
    let mut found = Literals::default();
    if json {
        found.collect(body);
    }
    if found.has_wide() {
        return decode_wide(encoding, is_collection, body, found, literals);
    }
    let raw: *mut [u8] = body;
    // SAFETY: as in `parse_json`: the second reborrow exists only once the
    // first decode failed, and its error holds no reference into `body`.
    let decoded = decode_body(encoding, is_collection, unsafe { &mut *raw });
    match decoded {
        Ok(value) => {
            if !found.is_empty() {
                literals.extend(found);
            }
            Ok(value)
        }
        Err(error) => {
            let body = unsafe { &mut *raw };
            // An unsigned exponent beyond the f64 range (`1e400`) is only
            // looked for now; the bytes are as they came only when the
            // refused parse had no escaped string to rewrite in place.
            if !json || memchr::memchr(b'\\', body).is_some() {
                return Err(error);
            }
            let mut retry = Literals::default();
            retry.collect_all(body);
            if !retry.has_wide() {
                return Err(error);
            }
            decode_wide(encoding, is_collection, body, retry, literals).map_err(|_| error)
        }
    }
}

/// A JSON body holding numbers simd-json cannot read as written (see
/// `literals.rs`): decoded from a copy with stand-ins for them, which the
/// writer turns back into their text.
fn decode_wide<'a>(
    encoding: BackendEncoding,
    is_collection: bool,
    body: &[u8],
    mut found: Literals,
    literals: &mut Literals,
) -> Result<Value<'a>, DecodeError> {
    let mut copy = found.replace_wide(body);
    let value = decode_body(encoding, is_collection, &mut copy)?.into_static();
    literals.extend(found);
    Ok(value)
}

fn decode_body(
    encoding: BackendEncoding,
    is_collection: bool,
    body: &mut [u8],
) -> Result<Value<'_>, DecodeError> {
    match encoding {
        BackendEncoding::Json => {
            let value = parse_json(body)?;
            match (&value, is_collection) {
                (Value::Object(_), false) | (Value::Array(_), true) => Ok(value),
                (other, false) => Err(unmarshal_error(other, "map[string]interface {}")),
                (other, true) => Err(unmarshal_error(other, "[]interface {}")),
            }
        }
        BackendEncoding::SafeJson => Ok(match parse_json(body)? {
            object @ Value::Object(_) => object,
            array @ Value::Array(_) => wrap("collection", array),
            scalar => wrap("content", scalar),
        }),
        BackendEncoding::String => {
            let text = match std::str::from_utf8(&*body) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => Cow::Owned(String::from_utf8_lossy(body).into_owned()),
            };
            Ok(wrap("content", Value::String(text)))
        }
        BackendEncoding::Xml => {
            let value = xml_in::parse(&*body)?;
            Ok(if is_collection {
                wrap("collection", value)
            } else {
                value
            })
        }
        BackendEncoding::NoOp => Ok(Value::Object(Box::new(new_object(0)))),
        // krakend-rss ignores `is_collection`.
        BackendEncoding::Rss => super::rss::decode(body),
    }
}

/// Parses JSON text in place, with errors phrased like Go's decoder.
pub(crate) fn parse_json(body: &mut [u8]) -> Result<Value<'_>, DecodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        // What json.Decoder.Decode returns on an empty stream.
        return Err(DecodeError::new("EOF"));
    }
    let raw: *mut [u8] = body;
    // SAFETY: `raw` is `body`, borrowed for the lifetime of the result. The
    // second reborrow below exists only once the first parse failed, and a
    // failed parse returns an error that holds no reference into `body`
    // (the borrow checker cannot see that a returned borrow ends on the
    // `Err` path).
    match simd_parse(unsafe { &mut *raw }) {
        Ok(value) => Ok(value),
        Err(refused) => go_fallback(unsafe { &mut *raw }, refused),
    }
}

fn simd_parse(body: &mut [u8]) -> Result<Value<'_>, simd_json::Error> {
    if body.len() <= REUSED_BUFFERS_MAX {
        PARSER_BUFFERS.with(|buffers| match buffers.try_borrow_mut() {
            Ok(mut buffers) => simd_json::to_borrowed_value_with_buffers(body, &mut buffers),
            Err(_) => simd_json::to_borrowed_value(body),
        })
    } else {
        simd_json::to_borrowed_value(body)
    }
}

/// A body simd-json refused, read as lura's `json.Decoder` reads it
/// (`gojson`): its error text; or, when Go takes the body because only
/// bytes that are not UTF-8 stood in simd-json's way, the first value with
/// each such byte as U+FFFD (what Go's decoder puts in its strings).
/// simd-json checks UTF-8 before it unescapes any string in place, so the
/// bytes are then still as they arrived. Where Go would take a first
/// value that is followed by more text, simd-json's own text is kept: the
/// refused parse may have rewritten escaped strings in place.
fn go_fallback(body: &mut [u8], refused: simd_json::Error) -> Result<Value<'_>, DecodeError> {
    match super::gojson::scan(body) {
        super::gojson::Scan::Error(text) => Err(DecodeError::new(text)),
        super::gojson::Scan::Value(end) if std::str::from_utf8(body).is_err() => {
            let mut repaired = Vec::with_capacity(end + 16);
            for chunk in body[..end].utf8_chunks() {
                repaired.extend_from_slice(chunk.valid().as_bytes());
                for _ in chunk.invalid() {
                    repaired.extend_from_slice("\u{fffd}".as_bytes());
                }
            }
            simd_json::to_borrowed_value(&mut repaired)
                .map(Value::into_static)
                .map_err(|e| DecodeError::new(e.to_string()))
        }
        super::gojson::Scan::Value(_) => Err(DecodeError::new(refused.to_string())),
    }
}

/// Bodies up to this size are parsed with the thread's reused parser
/// buffers; larger ones get fresh buffers, so a rare huge body does not pin
/// its buffers to the worker for good.
const REUSED_BUFFERS_MAX: usize = 64 * 1024;

thread_local! {
    /// simd-json's scratch (structural indexes, aligned input copy, string
    /// buffer, stack), kept per thread: workers are one thread per core, so
    /// this is never shared and saves four allocations per decoded body.
    /// The document borrows only from the body, never from these.
    static PARSER_BUFFERS: std::cell::RefCell<simd_json::Buffers> =
        std::cell::RefCell::new(simd_json::Buffers::new(REUSED_BUFFERS_MAX));
}

fn unmarshal_error(value: &Value<'_>, go_type: &str) -> DecodeError {
    let kind = match value {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Static(simd_json::StaticNode::Bool(_)) => "bool",
        Value::Static(simd_json::StaticNode::Null) => "null",
        Value::Static(_) => "number",
    };
    DecodeError::new(format!(
        "json: cannot unmarshal {kind} into Go value of type {go_type}"
    ))
}

/// `{key: value}`.
pub(crate) fn wrap<'a>(key: &'static str, value: Value<'a>) -> Value<'a> {
    let mut object = new_object(1);
    object.insert(Cow::Borrowed(key), value);
    Value::Object(Box::new(object))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::to_json;

    /// Decodes `body` and renders the result as compact sorted JSON, or
    /// `ERR` when decoding fails.
    fn check(encoding: BackendEncoding, is_collection: bool, body: &str, expected: &str) {
        let mut bytes = body.as_bytes().to_vec();
        let got = match decode(
            encoding,
            is_collection,
            &mut bytes,
            &mut Literals::default(),
        ) {
            Ok(value) => to_json(&value),
            Err(_) => "ERR".to_string(),
        };
        assert_eq!(got, expected, "decoding {body:?} as {encoding:?}");
    }

    #[test]
    fn json() {
        use BackendEncoding::Json;
        let cases: &[(bool, &str, &str)] = &[
            (false, r#"{"a":1,"b":"x"}"#, r#"{"a":1,"b":"x"}"#),
            (false, r#"[1,2]"#, "ERR"),
            (false, r#""text""#, "ERR"),
            (false, r#"{"a":"#, "ERR"),
            (false, "", "ERR"),
            (false, "null", "ERR"),
            (true, r#"[{"a":1}]"#, r#"[{"a":1}]"#),
            (true, r#"{"a":1}"#, "ERR"),
            (false, r#"{"a":"\u00e9\n"}"#, r#"{"a":"é\n"}"#),
        ];
        for (is_collection, body, expected) in cases {
            check(Json, *is_collection, body, expected);
        }
    }

    /// A number simd-json refuses is found after the refusal when the body
    /// was not rewritten in place (no escaped string), and before it when
    /// the searches see it (see `literals.rs`).
    #[test]
    fn wide_numbers_decode() {
        let render = |body: &str| {
            let mut bytes = body.as_bytes().to_vec();
            let mut literals = Literals::default();
            match decode(BackendEncoding::Json, false, &mut bytes, &mut literals) {
                Ok(value) => {
                    super::super::literals::with_literals(&mut literals, || to_json(&value))
                }
                Err(_) => "ERR".to_string(),
            }
        };
        assert_eq!(render(r#"{"a":1e400,"b":"x"}"#), r#"{"a":1e400,"b":"x"}"#);
        assert_eq!(render(r#"[1e400]"#), "ERR", "still an object first");
        assert_eq!(
            render(r#"{"s":"x\ny","a":1e+400}"#),
            r#"{"a":1e+400,"s":"x\ny"}"#
        );
        // Unsigned and escaped: the refused parse may have rewritten the
        // body, so it stays refused (a documented limit).
        assert_eq!(render(r#"{"s":"x\ny","a":1e400}"#), "ERR");
        assert_eq!(render(r#"{"a":1e400,}"#), "ERR", "Go refuses it too");
        let mut bytes = b"123456789012345678901234567890".to_vec();
        let mut literals = Literals::default();
        let value = decode(BackendEncoding::SafeJson, false, &mut bytes, &mut literals).unwrap();
        assert_eq!(
            super::super::literals::with_literals(&mut literals, || to_json(&value)),
            r#"{"content":123456789012345678901234567890}"#
        );
    }

    #[test]
    fn safe_json() {
        use BackendEncoding::SafeJson;
        let cases: &[(&str, &str)] = &[
            (r#"{"a":1}"#, r#"{"a":1}"#),
            (r#"[1,2]"#, r#"{"collection":[1,2]}"#),
            (r#""hi""#, r#"{"content":"hi"}"#),
            ("true", r#"{"content":true}"#),
            ("null", r#"{"content":null}"#),
            ("42", r#"{"content":42}"#),
            ("{", "ERR"),
        ];
        for (body, expected) in cases {
            check(SafeJson, false, body, expected);
            check(SafeJson, true, body, expected);
        }
    }

    #[test]
    fn string() {
        check(
            BackendEncoding::String,
            false,
            "plain <text>",
            r#"{"content":"plain \u003ctext\u003e"}"#,
        );
        check(BackendEncoding::String, false, "", r#"{"content":""}"#);
        let mut invalid = vec![b'a', 0xff];
        let value = decode(
            BackendEncoding::String,
            false,
            &mut invalid,
            &mut Literals::default(),
        )
        .unwrap();
        assert_eq!(to_json(&value), "{\"content\":\"a\u{fffd}\"}");
    }

    #[test]
    fn xml_collection_wraps_the_whole_map() {
        check(
            BackendEncoding::Xml,
            true,
            "<a><b>1</b></a>",
            r#"{"collection":{"a":{"b":"1"}}}"#,
        );
    }

    /// A body that is not JSON fails with Go's decoder's words; one whose
    /// strings hold bytes that are not UTF-8 decodes as in Go.
    #[test]
    fn bad_bodies_as_go_reads_them() {
        let text = |body: &[u8]| {
            let mut body = body.to_vec();
            decode(
                BackendEncoding::Json,
                false,
                &mut body,
                &mut Literals::default(),
            )
            .map(|v| to_json(&v))
            .unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(
            text(b"<html>oops</html>"),
            "invalid character '<' looking for beginning of value"
        );
        assert_eq!(text(br#"{"a":[1,"#), "unexpected EOF");
        assert_eq!(
            text(b"{\"a\":\"x\xe9\xffy\"}"),
            "{\"a\":\"x\u{fffd}\u{fffd}y\"}"
        );
        assert_eq!(
            text(b"[\"\xff\"]"),
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
    }

    #[test]
    fn error_text_is_short() {
        let mut body = br#"[1]"#.to_vec();
        let err = decode(
            BackendEncoding::Json,
            false,
            &mut body,
            &mut Literals::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
    }
}
