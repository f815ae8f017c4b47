//! `ExportTraceServiceRequest` written straight from the workers'
//! [`SpanData`], byte for byte what prost writes for the same message
//! built from [`super::Span`] (a test holds them equal), without building
//! that message: no owned copy of each name, key and value, no length
//! computed again at every level of nesting, nothing to free. Lengths of
//! attributes are computed; each span is written once into a scratch
//! buffer to learn its length, then copied behind its length prefix, and
//! the batch once more behind the request's heads. The exporter's cost per span was mostly
//! those copies and lengths (tuning.md, "Traces").

use super::super::span::{Attr, SpanData};

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn key(field: u32, wire: u8, out: &mut Vec<u8>) {
    varint(u64::from(field << 3 | u32::from(wire)), out);
}

fn bytes(field: u32, value: &[u8], out: &mut Vec<u8>) {
    key(field, LEN, out);
    varint(value.len() as u64, out);
    out.extend_from_slice(value);
}

/// A proto3 string field: left out when empty, as prost does.
fn string(field: u32, value: &str, out: &mut Vec<u8>) {
    if !value.is_empty() {
        bytes(field, value.as_bytes(), out);
    }
}

/// A length-delimited field's size: tag, length, content.
fn field_len(content: usize) -> usize {
    1 + varint_len(content as u64) + content
}

/// The size of `value` as an `AnyValue`.
fn any_value_len(value: &Attr) -> usize {
    match value {
        Attr::Shared(s) => field_len(s.len()),
        Attr::Text(s) => field_len(s.len()),
        Attr::Bool(_) => 2,
        Attr::Int(i) => 1 + varint_len(*i as u64),
        Attr::Strings(list) => field_len(strings_len(list)),
    }
}

/// An `ArrayValue` of strings: each an `AnyValue` holding a string.
fn strings_len(list: &[String]) -> usize {
    list.iter().map(|s| field_len(field_len(s.len()))).sum()
}

/// `AnyValue` (a oneof: written even when its value is the default).
fn any_value(value: &Attr, out: &mut Vec<u8>) {
    match value {
        Attr::Shared(s) => bytes(1, s.as_bytes(), out),
        Attr::Text(s) => bytes(1, s.as_bytes(), out),
        Attr::Bool(b) => {
            key(2, VARINT, out);
            out.push(u8::from(*b));
        }
        Attr::Int(i) => {
            key(3, VARINT, out);
            varint(*i as u64, out);
        }
        Attr::Strings(list) => {
            key(5, LEN, out);
            varint(strings_len(list) as u64, out);
            for s in list {
                key(1, LEN, out);
                varint(field_len(s.len()) as u64, out);
                bytes(1, s.as_bytes(), out);
            }
        }
    }
}

fn varint_len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// `KeyValue` as the span's field 9.
fn key_value(k: &str, value: &Attr, out: &mut Vec<u8>) {
    let value_len = any_value_len(value);
    let key_len = if k.is_empty() { 0 } else { field_len(k.len()) };
    key(9, LEN, out);
    varint((key_len + field_len(value_len)) as u64, out);
    string(1, k, out);
    key(2, LEN, out);
    varint(value_len as u64, out);
    any_value(value, out);
}

/// One `Span`'s fields (without its own tag and length).
fn span(span: &SpanData, out: &mut Vec<u8>) {
    bytes(1, &span.trace_id, out);
    bytes(2, &span.span_id, out);
    if let Some(state) = &span.state {
        string(3, state, out);
    }
    if let Some(parent) = &span.parent {
        bytes(4, parent, out);
    }
    string(5, &span.name, out);
    key(6, VARINT, out);
    varint(span.kind as u64, out);
    let end = span.end.max(span.start);
    for (field, time) in [(7, span.start), (8, end)] {
        if time != 0 {
            key(field, FIXED64, out);
            out.extend_from_slice(&time.to_le_bytes());
        }
    }
    for (k, v) in &span.attributes {
        key_value(k, v, out);
    }
    for (k, v) in span.statics.iter().flat_map(|s| s.iter()) {
        key(9, LEN, out);
        varint(
            (field_len(k.len()) + field_len(field_len(v.len()))) as u64,
            out,
        );
        string(1, k, out);
        key(2, LEN, out);
        varint(field_len(v.len()) as u64, out);
        bytes(1, v.as_bytes(), out);
    }
    // Status { message = 2, code = 3 }: ok (1) or error (2) with its text.
    let (message, code) = match &span.error {
        Some(message) => (message.as_str(), 2u64),
        None => ("", 1),
    };
    let message_len = if message.is_empty() {
        0
    } else {
        field_len(message.len())
    };
    key(15, LEN, out);
    varint((message_len + 2) as u64, out);
    string(2, message, out);
    key(3, VARINT, out);
    varint(code, out);
    // flags: W3C trace flags, sampled.
    key(16, FIXED32, out);
    out.extend_from_slice(&1u32.to_le_bytes());
}

/// The whole request for `spans`: one `ResourceSpans` with `resource` (an
/// encoded `Resource`) and one `ScopeSpans` with `scope` (an encoded
/// `InstrumentationScope`).
pub fn export_request(spans: &[SpanData], resource: &[u8], scope: &[u8]) -> Vec<u8> {
    // ScopeSpans { scope = 1, spans = 2 }: each span written once to learn
    // its length, then copied behind it.
    let mut one = Vec::with_capacity(1024);
    let mut scope_spans = Vec::with_capacity(spans.len() * 640 + scope.len() + 8);
    bytes(1, scope, &mut scope_spans);
    for s in spans {
        one.clear();
        span(s, &mut one);
        bytes(2, &one, &mut scope_spans);
    }
    // ExportTraceServiceRequest { resource_spans = 1 } holding
    // ResourceSpans { resource = 1, scope_spans = 2 }: the two heads,
    // then the spans, copied once.
    let resource_spans_len = field_len(resource.len()) + field_len(scope_spans.len());
    let mut request = Vec::with_capacity(field_len(resource_spans_len));
    key(1, LEN, &mut request);
    varint(resource_spans_len as u64, &mut request);
    bytes(1, resource, &mut request);
    key(2, LEN, &mut request);
    varint(scope_spans.len() as u64, &mut request);
    request.extend_from_slice(&scope_spans);
    request
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;

    use prost::Message;

    use super::super::super::span::Kind;
    use super::super::*;
    use super::*;

    fn spans() -> Vec<SpanData> {
        let mut full = SpanData {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent: Some([3; 8]),
            state: Some(Arc::from("a=b,c=d")),
            name: Arc::from("/users/{id}"),
            kind: Kind::Server,
            start: 1_700_000_000_000_000_000,
            end: 1_700_000_000_000_500_000,
            attributes: Vec::new(),
            statics: Some(Arc::from(vec![("env".to_owned(), "prod".to_owned())])),
            error: Some("backend down".to_owned()),
        };
        full.attr("url.full", Attr::Text("/users/7?x=1".repeat(20)));
        full.attr("krakend.stage", Attr::Shared(Arc::from("global")));
        full.attr("http.response.status_code", Attr::Int(200));
        full.attr("negative", Attr::Int(-5));
        full.attr("complete", Attr::Bool(true));
        full.attr("canceled", Attr::Bool(false));
        full.attr("empty", Attr::Text(String::new()));
        full.attributes.push((
            Cow::Owned("http.request.header.accept".into()),
            Attr::Strings(vec!["a".into(), String::new(), "x".repeat(300)]),
        ));
        let bare = SpanData {
            trace_id: [9; 16],
            span_id: [8; 8],
            parent: None,
            state: None,
            name: Arc::from(""),
            kind: Kind::Client,
            start: 0,
            end: 0,
            attributes: Vec::new(),
            statics: None,
            error: None,
        };
        let backwards = SpanData {
            start: 10,
            end: 5,
            kind: Kind::Internal,
            error: Some(String::new()),
            ..bare.clone()
        };
        vec![full, bare, backwards]
    }

    /// What prost writes for the same message: the reference.
    fn by_prost(
        spans: Vec<SpanData>,
        resource: &Resource,
        scope: &InstrumentationScope,
    ) -> Vec<u8> {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(scope.clone()),
                    spans: spans.into_iter().map(Span::from).collect(),
                }],
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn the_direct_encoding_is_prosts_byte_for_byte() {
        let resource = Resource {
            attributes: vec![KeyValue::new("service.name", Value::String("gw".into()))],
        };
        let scope = InstrumentationScope {
            name: "io.krakend.krakend-otel".into(),
            version: String::new(),
        };
        for n in [0, 1, 3] {
            let spans: Vec<SpanData> = spans().into_iter().take(n).collect();
            assert_eq!(
                export_request(&spans, &resource.encode_to_vec(), &scope.encode_to_vec()),
                by_prost(spans, &resource, &scope),
                "{n} spans"
            );
        }
    }

    #[test]
    fn varint_lengths() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            varint(v, &mut out);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }
}
