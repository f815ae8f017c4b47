//! A finished span as a worker hands it to the exporter thread: plain
//! data (`Send`), written as OTLP there (`otlp::wire`), off the request
//! path.

use std::borrow::Cow;
use std::sync::Arc;

#[cfg(test)]
use super::otlp;

/// An attribute's value.
#[derive(Debug, Clone)]
pub enum Attr {
    /// Text shared with the worker's tables (routes, methods, hosts).
    Shared(Arc<str>),
    Text(String),
    Int(i64),
    Bool(bool),
    Strings(Vec<String>),
}

/// A layer's `traces_static_attributes`, shared by its spans.
pub type Statics = Arc<[(String, String)]>;

/// OTLP's `SpanKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Internal = 1,
    Server = 2,
    Client = 3,
}

#[derive(Debug, Clone)]
pub struct SpanData {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent: Option<[u8; 8]>,
    pub state: Option<Arc<str>>,
    pub name: Arc<str>,
    pub kind: Kind,
    /// Unix time, nanoseconds.
    pub start: u64,
    pub end: u64,
    pub attributes: Vec<(Cow<'static, str>, Attr)>,
    /// The layer's `traces_static_attributes`.
    pub statics: Option<Statics>,
    /// `Some`: status error with this message; `None`: status ok (as
    /// krakend-otel sets it on every span it ends without an error).
    pub error: Option<String>,
}

impl SpanData {
    pub fn attr(&mut self, key: &'static str, value: Attr) {
        self.attributes.push((Cow::Borrowed(key), value));
    }
}

/// The same span as prost's message: what `otlp::wire` writes directly is
/// checked against it.
#[cfg(test)]
fn any(value: Attr) -> otlp::Value {
    match value {
        Attr::Shared(s) => otlp::Value::String(s.to_string()),
        Attr::Text(s) => otlp::Value::String(s),
        Attr::Int(i) => otlp::Value::Int(i),
        Attr::Bool(b) => otlp::Value::Bool(b),
        Attr::Strings(list) => otlp::Value::Array(otlp::ArrayValue {
            values: list
                .into_iter()
                .map(|s| otlp::AnyValue {
                    value: Some(otlp::Value::String(s)),
                })
                .collect(),
        }),
    }
}

#[cfg(test)]
impl From<SpanData> for otlp::Span {
    fn from(span: SpanData) -> otlp::Span {
        let mut attributes: Vec<otlp::KeyValue> = span
            .attributes
            .into_iter()
            .map(|(k, v)| otlp::KeyValue::new(k, any(v)))
            .collect();
        for (k, v) in span.statics.iter().flat_map(|s| s.iter()) {
            attributes.push(otlp::KeyValue::new(
                k.clone(),
                otlp::Value::String(v.clone()),
            ));
        }
        otlp::Span {
            trace_id: span.trace_id.to_vec(),
            span_id: span.span_id.to_vec(),
            trace_state: span.state.map(|s| s.to_string()).unwrap_or_default(),
            parent_span_id: span.parent.map(|p| p.to_vec()).unwrap_or_default(),
            name: span.name.to_string(),
            kind: span.kind as i32,
            start_time_unix_nano: span.start,
            end_time_unix_nano: span.end.max(span.start),
            attributes,
            status: Some(match span.error {
                Some(message) => otlp::Status { message, code: 2 },
                None => otlp::Status {
                    message: String::new(),
                    code: 1,
                },
            }),
            flags: 1,
        }
    }
}
