//! gRPC backends (`backend/grpc`, KrakenD Enterprise): one unary call per
//! backend call, over HTTP/2 without TLS (h2c with prior knowledge).
//!
//! The request message is built from the descriptor the catalog gave
//! (`config::grpc`): the client's JSON body when `use_request_body`, then
//! the endpoint's placeholders and the query strings that reach the
//! backend, each set on the field its name (or `input_mapping`) names,
//! dotted paths walking into nested messages. The answer's message becomes
//! a JSON object written as KrakenD writes it by default (the `.proto`
//! field names, enums as numbers, every declared field present with its
//! zero value, Timestamp and Duration as `{seconds, nanos}`), or as the
//! `output_*` and `response_naming_convention` options ask.
//!
//! Each worker keeps one HTTP/2 connection per host (shared by every gRPC
//! backend of the worker that calls it) and opens many streams on it; a
//! connection that died is replaced by the next call. A non-zero
//! `grpc-status` becomes the HTTP status Google's `google.rpc.Code` maps it
//! to (NOT_FOUND 404, UNAVAILABLE 503 ...), so the usual pipeline rules
//! (`return_error_code`, `return_error_details`, 500 otherwise) apply.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage as _, Value as PValue,
};
use serde_json::{Map, Number, Value};

use super::{CallFuture, Protocol, ProtocolCall};
use crate::config::grpc::{GrpcSettings, Naming};
use crate::upstream::error::ConnectFailure;
use crate::upstream::{BackendError, Response};

/// One `backend/grpc` backend on one worker.
pub struct Grpc {
    settings: Arc<GrpcSettings>,
}

impl Grpc {
    pub fn new(settings: Arc<GrpcSettings>) -> Grpc {
        Grpc { settings }
    }
}

impl Protocol for Grpc {
    fn call<'a>(&'a self, call: ProtocolCall<'a>) -> CallFuture<'a> {
        Box::pin(async move {
            let settings = &*self.settings;
            let message = request_message(settings, &call)?;
            let authority = crate::upstream::authority_of(&call.base_urls[call.host]);
            let metadata = metadata(settings, call.request.headers);
            let answer = unary(&authority, settings, message, metadata, call.max_body).await?;
            Ok(answer)
        })
    }
}

// ---- the connection ----

thread_local! {
    /// This worker's HTTP/2 connections, by authority.
    static CONNECTIONS: RefCell<HashMap<String, h2::client::SendRequest<Bytes>>> =
        RefCell::new(HashMap::new());
}

/// A live connection to `authority`: this worker's, or a new one.
async fn connection(authority: &str) -> Result<h2::client::SendRequest<Bytes>, BackendError> {
    let existing = CONNECTIONS.with(|c| c.borrow().get(authority).cloned());
    if let Some(send) = existing {
        // `ready` fails once the connection is gone (closed, GOAWAY).
        if let Ok(send) = send.ready().await {
            return Ok(send);
        }
        CONNECTIONS.with(|c| c.borrow_mut().remove(authority));
    }
    let connect_failed = |e: std::io::Error| {
        BackendError::Connect(authority.into(), ConnectFailure::Tcp(Rc::new(e)))
    };
    let tcp = tokio::net::TcpStream::connect(authority)
        .await
        .map_err(connect_failed)?;
    let _ = tcp.set_nodelay(true);
    let (send, connection) = h2::client::handshake(tcp)
        .await
        .map_err(|e| connect_failed(h2_io(e)))?;
    // The connection's frames are read and written by its own task; it
    // ends when the service closes the connection or every handle is gone.
    crate::rt::spawn(async move {
        let _ = connection.await;
    });
    CONNECTIONS.with(|c| c.borrow_mut().insert(authority.to_owned(), send.clone()));
    send.ready().await.map_err(|e| connect_failed(h2_io(e)))
}

fn h2_io(e: h2::Error) -> std::io::Error {
    if e.is_io() {
        e.into_io().unwrap_or_else(|| std::io::Error::other("h2"))
    } else {
        std::io::Error::other(e.to_string())
    }
}

/// One unary call: the message framed (uncompressed, 5-byte prefix) in a
/// POST, the answer's message and `grpc-status` read back.
async fn unary(
    authority: &str,
    settings: &GrpcSettings,
    message: DynamicMessage,
    metadata: Vec<(http::HeaderName, http::HeaderValue)>,
    max_body: usize,
) -> Result<Response, BackendError> {
    let mut send = connection(authority).await?;
    let encoded = message.encode_to_vec();
    let mut framed = Vec::with_capacity(5 + encoded.len());
    framed.push(0);
    framed.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    framed.extend_from_slice(&encoded);

    let uri = format!("http://{authority}{}", settings.path);
    let mut request = http::Request::post(uri)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .map_err(|e| BackendError::io(std::io::Error::other(e.to_string())))?;
    request.headers_mut().extend(metadata);
    let io = |e: h2::Error| BackendError::io(h2_io(e));
    let (answer, mut stream) = send.send_request(request, false).map_err(io)?;
    stream.send_data(Bytes::from(framed), true).map_err(io)?;
    let answer = answer.await.map_err(io)?;
    let (head, mut body) = answer.into_parts();
    if head.status != http::StatusCode::OK {
        // Not a gRPC answer (a proxy's error page...): its status is the
        // backend's status.
        return Ok(Response {
            status: head.status.as_u16(),
            content_type: None,
            body: Vec::new(),
        });
    }
    // A trailers-only answer carries its status in the headers.
    let mut status = grpc_status(&head.headers);
    let mut data = Vec::new();
    if status.is_none() {
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(io)?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if data.len() + chunk.len() > max_body.saturating_add(5) {
                return Err(BackendError::TooLarge(max_body));
            }
            data.extend_from_slice(&chunk);
        }
        let trailers = body.trailers().await.map_err(io)?;
        status = trailers.as_ref().and_then(grpc_status);
    }
    let (code, text) = status.unwrap_or((2, "no grpc-status in the answer".to_owned()));
    if code != 0 {
        let mut error = Map::new();
        error.insert("code".to_owned(), Value::from(code));
        error.insert("message".to_owned(), Value::from(text));
        return Ok(Response {
            status: http_status(code),
            content_type: Some(Box::from(&b"application/json"[..])),
            body: serde_json::to_vec(&Value::Object(error)).unwrap_or_default(),
        });
    }
    let answer = decode_answer(settings.method.output(), &data)?;
    let document = message_json(&answer, settings);
    Ok(Response {
        status: 200,
        content_type: Some(Box::from(&b"application/json"[..])),
        body: serde_json::to_vec(&document).unwrap_or_default(),
    })
}

/// `grpc-status` and `grpc-message` (percent-encoded, gRPC's HTTP/2 spec).
fn grpc_status(headers: &http::HeaderMap) -> Option<(u32, String)> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers
        .get("grpc-message")
        .map(|m| String::from_utf8_lossy(&unescape(m.as_bytes(), false)).into_owned())
        .unwrap_or_default();
    Some((code, message))
}

/// The HTTP status of a gRPC status code, as `google.rpc.Code` documents
/// each code's HTTP mapping (the table KrakenD's gateway follows).
pub fn http_status(code: u32) -> u16 {
    match code {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// The one message of a unary answer.
fn decode_answer(output: MessageDescriptor, data: &[u8]) -> Result<DynamicMessage, BackendError> {
    let bad = |why: &str| BackendError::io(std::io::Error::other(format!("gRPC answer: {why}")));
    if data.is_empty() {
        return Err(bad("no message"));
    }
    if data.len() < 5 {
        return Err(bad("cut short"));
    }
    if data[0] != 0 {
        // cuttle announces no grpc-accept-encoding: nothing may be compressed.
        return Err(bad("compressed message"));
    }
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    let Some(bytes) = data.get(5..5 + len) else {
        return Err(bad("cut short"));
    };
    DynamicMessage::decode(output, bytes).map_err(|e| bad(&e.to_string()))
}

// ---- the request message ----

fn request_message(
    settings: &GrpcSettings,
    call: &ProtocolCall<'_>,
) -> Result<DynamicMessage, BackendError> {
    let input = settings.method.input();
    let body = call.request.body;
    let mut message = if settings.use_request_body && !body.iter().all(u8::is_ascii_whitespace) {
        let mut de = serde_json::Deserializer::from_slice(body);
        let options = DeserializeOptions::new().deny_unknown_fields(false);
        DynamicMessage::deserialize_with_options(input.clone(), &mut de, &options)
            .map_err(|e| BackendError::Rejected(format!("gRPC request body: {e}")))?
    } else {
        DynamicMessage::new(input)
    };
    if settings.disable_query_params {
        return Ok(message);
    }
    for (name, raw) in call.params {
        let value = unescape(raw, false);
        set_param(settings, &mut message, name, &value)?;
    }
    let path = call.request.path_and_query;
    if let Some(query) = path.iter().position(|&b| b == b'?').map(|i| &path[i + 1..]) {
        for pair in query.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            let name = String::from_utf8_lossy(&unescape(name, true)).into_owned();
            set_param(settings, &mut message, &name, &unescape(value, true))?;
        }
    }
    Ok(message)
}

/// Sets the field `name` maps to. A placeholder `{id}` is also known as
/// `Id` (KrakenD hands placeholders over with their first letter
/// capitalised; its docs write `input_mapping` keys that way).
fn set_param(
    settings: &GrpcSettings,
    message: &mut DynamicMessage,
    name: &str,
    value: &[u8],
) -> Result<(), BackendError> {
    let path = settings
        .input_mapping
        .get(name)
        .or_else(|| settings.input_mapping.get(&capitalised(name)))
        .map_or(name, String::as_str);
    let text = String::from_utf8_lossy(value);
    set_path(message, path, &text, settings.request_naming)
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The field `name` of `descriptor`, by the naming convention first, then
/// by its other name (a `.proto` name or a JSON name both find it).
fn field_named(
    descriptor: &MessageDescriptor,
    name: &str,
    naming: Naming,
) -> Option<FieldDescriptor> {
    let by_proto = || descriptor.get_field_by_name(name);
    let by_json = || descriptor.get_field_by_json_name(name);
    match naming {
        Naming::Proto => by_proto().or_else(by_json),
        Naming::Json => by_json().or_else(by_proto),
    }
}

/// Sets the field at the dotted `path` from text; names that match no
/// field are skipped (KrakenD fills what matches).
fn set_path(
    message: &mut DynamicMessage,
    path: &str,
    text: &str,
    naming: Naming,
) -> Result<(), BackendError> {
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let Some(field) = field_named(&message.descriptor(), head, naming) else {
        return Ok(());
    };
    match rest {
        Some(rest) => {
            let Kind::Message(_) = field.kind() else {
                return Ok(());
            };
            if field.is_list() || field.is_map() {
                return Ok(());
            }
            let inner = message.get_field_mut(&field);
            match inner {
                PValue::Message(inner) => set_path(inner, rest, text, naming),
                _ => Ok(()),
            }
        }
        None => {
            if field.is_map() {
                return Ok(());
            }
            let value = scalar(&field, text)?;
            if field.is_list() {
                if let PValue::List(items) = message.get_field_mut(&field) {
                    items.push(value);
                }
            } else {
                message.set_field(&field, value);
            }
            Ok(())
        }
    }
}

/// A parameter's text as a value of `field`'s type.
fn scalar(field: &FieldDescriptor, text: &str) -> Result<PValue, BackendError> {
    let bad = || {
        BackendError::Rejected(format!(
            "gRPC request: \"{text}\" is not a value for the field {} ({:?})",
            field.name(),
            field.kind()
        ))
    };
    let text = text.trim();
    Ok(match field.kind() {
        Kind::String => PValue::String(text.to_owned()),
        Kind::Bytes => PValue::Bytes(Bytes::copy_from_slice(text.as_bytes())),
        Kind::Bool => PValue::Bool(match text {
            "true" | "1" | "True" | "TRUE" | "t" | "T" => true,
            "false" | "0" | "False" | "FALSE" | "f" | "F" | "" => false,
            _ => return Err(bad()),
        }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            PValue::I32(text.parse().map_err(|_| bad())?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            PValue::I64(text.parse().map_err(|_| bad())?)
        }
        Kind::Uint32 | Kind::Fixed32 => PValue::U32(text.parse().map_err(|_| bad())?),
        Kind::Uint64 | Kind::Fixed64 => PValue::U64(text.parse().map_err(|_| bad())?),
        Kind::Float => PValue::F32(text.parse().map_err(|_| bad())?),
        Kind::Double => PValue::F64(text.parse().map_err(|_| bad())?),
        Kind::Enum(e) => match text.parse::<i32>() {
            Ok(n) => PValue::EnumNumber(n),
            Err(_) => PValue::EnumNumber(e.get_value_by_name(text).ok_or_else(bad)?.number()),
        },
        Kind::Message(_) => return Err(bad()),
    })
}

/// Go's `url.QueryUnescape` (`plus`: `+` is a space) or `PathUnescape`;
/// a broken `%` escape stays as written.
fn unescape(raw: &[u8], plus: bool) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// `header_mapping`: the client's headers (as the backend would get them)
/// sent as metadata under their new names.
fn metadata(settings: &GrpcSettings, headers: &[u8]) -> Vec<(http::HeaderName, http::HeaderValue)> {
    let mut found = Vec::new();
    if settings.header_mapping.is_empty() {
        return found;
    }
    for line in headers.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
        let value = line[colon + 1..].trim_ascii();
        if let Some((_, to)) = settings
            .header_mapping
            .iter()
            .find(|(from, _)| *from == name)
            && let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(to.as_bytes()),
                http::HeaderValue::from_bytes(value),
            )
        {
            found.push((n, v));
        }
    }
    found
}

// ---- the answer as JSON ----

fn message_json(message: &DynamicMessage, settings: &GrpcSettings) -> Value {
    let descriptor = message.descriptor();
    let mut object = Map::new();
    for field in descriptor.fields() {
        let set = message.has_field(&field);
        let in_oneof = field.containing_oneof().is_some_and(|o| !o.is_synthetic());
        if !set && (settings.output_remove_unset_values || in_oneof) {
            continue;
        }
        let name = match settings.response_naming {
            Naming::Proto => field.name().to_owned(),
            Naming::Json => field.json_name().to_owned(),
        };
        let value = if !set
            && matches!(field.kind(), Kind::Message(_))
            && !field.is_list()
            && !field.is_map()
        {
            // An unset message field is a nil pointer in Go: null.
            Value::Null
        } else {
            value_json(&message.get_field(&field), &field.kind(), settings)
        };
        object.insert(name, value);
    }
    Value::Object(object)
}

fn value_json(value: &PValue, kind: &Kind, settings: &GrpcSettings) -> Value {
    match value {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(n) => Value::from(*n),
        PValue::I64(n) => Value::from(*n),
        PValue::U32(n) => Value::from(*n),
        PValue::U64(n) => Value::from(*n),
        PValue::F32(n) => Number::from_f64(f64::from(*n)).map_or(Value::Null, Value::Number),
        PValue::F64(n) => Number::from_f64(*n).map_or(Value::Null, Value::Number),
        PValue::String(s) => Value::String(s.clone()),
        PValue::Bytes(b) => {
            use base64::Engine as _;
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        PValue::EnumNumber(n) => match kind {
            Kind::Enum(e) if settings.output_enum_as_string => e
                .get_value(*n)
                .map_or(Value::from(*n), |v| Value::String(v.name().to_owned())),
            _ => Value::from(*n),
        },
        PValue::List(items) => Value::Array(
            items
                .iter()
                .map(|item| value_json(item, kind, settings))
                .collect(),
        ),
        PValue::Map(entries) => {
            let value_kind = match kind {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other.clone(),
            };
            let mut object = Map::new();
            for (key, value) in entries {
                let key = match key {
                    MapKey::Bool(b) => b.to_string(),
                    MapKey::I32(n) => n.to_string(),
                    MapKey::I64(n) => n.to_string(),
                    MapKey::U32(n) => n.to_string(),
                    MapKey::U64(n) => n.to_string(),
                    MapKey::String(s) => s.clone(),
                };
                object.insert(key, value_json(value, &value_kind, settings));
            }
            Value::Object(object)
        }
        PValue::Message(message) => {
            well_known(message, settings).unwrap_or_else(|| message_json(message, settings))
        }
    }
}

/// Timestamp and Duration as strings, when asked.
fn well_known(message: &DynamicMessage, settings: &GrpcSettings) -> Option<Value> {
    let name = message.descriptor().full_name().to_owned();
    let number = |field: &str| message.get_field_by_name(field).map(|v| v.into_owned());
    let seconds = match number("seconds")? {
        PValue::I64(n) => n,
        _ => return None,
    };
    let nanos = match number("nanos")? {
        PValue::I32(n) => n,
        _ => return None,
    };
    match name.as_str() {
        "google.protobuf.Timestamp" if settings.output_timestamp_as_string => {
            let time = chrono::DateTime::from_timestamp(seconds, u32::try_from(nanos).ok()?)?;
            Some(Value::String(
                time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ))
        }
        "google.protobuf.Duration" if settings.output_duration_as_string => {
            Some(Value::String(duration_text(seconds, nanos)))
        }
        _ => None,
    }
}

/// protobuf's JSON form of a Duration: seconds with up to nine decimals
/// and an `s` (e.g. `1.5s`, `-0.250s` as `-0.25s`).
fn duration_text(seconds: i64, nanos: i32) -> String {
    let negative = seconds < 0 || nanos < 0;
    let (seconds, nanos) = (seconds.unsigned_abs(), nanos.unsigned_abs());
    let sign = if negative { "-" } else { "" };
    if nanos == 0 {
        return format!("{sign}{seconds}s");
    }
    let fraction = format!("{nanos:09}");
    format!("{sign}{seconds}.{}s", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_reflect::DescriptorPool;
    use prost_reflect::prost_types::{
        DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
        FileDescriptorProto, MethodDescriptorProto, ServiceDescriptorProto,
        field_descriptor_proto::{Label, Type},
    };

    fn field(name: &str, number: i32, kind: Type, type_name: Option<&str>) -> FieldDescriptorProto {
        FieldDescriptorProto {
            name: Some(name.into()),
            json_name: Some(name.replace("_n", "N")),
            number: Some(number),
            label: Some(Label::Optional as i32),
            r#type: Some(kind as i32),
            type_name: type_name.map(str::to_owned),
            ..Default::default()
        }
    }

    /// `t.Msg {id, where: t.Inner {latitude}, tags (repeated), kind:
    /// t.Kind, count (int64), first_name}` and `t.S/M(Msg) returns (Msg)`.
    fn settings() -> GrpcSettings {
        let mut tags = field("tags", 3, Type::String, None);
        tags.label = Some(Label::Repeated as i32);
        let file = FileDescriptorProto {
            name: Some("t.proto".into()),
            package: Some("t".into()),
            syntax: Some("proto3".into()),
            message_type: vec![
                DescriptorProto {
                    name: Some("Inner".into()),
                    field: vec![field("latitude", 1, Type::Double, None)],
                    ..Default::default()
                },
                DescriptorProto {
                    name: Some("Msg".into()),
                    field: vec![
                        field("id", 1, Type::String, None),
                        field("where", 2, Type::Message, Some(".t.Inner")),
                        tags,
                        field("kind", 4, Type::Enum, Some(".t.Kind")),
                        field("count", 5, Type::Int64, None),
                        field("first_name", 6, Type::String, None),
                    ],
                    ..Default::default()
                },
            ],
            enum_type: vec![EnumDescriptorProto {
                name: Some("Kind".into()),
                value: ["KIND_A", "KIND_B"]
                    .iter()
                    .zip(0..)
                    .map(|(name, number)| EnumValueDescriptorProto {
                        name: Some((*name).into()),
                        number: Some(number),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            service: vec![ServiceDescriptorProto {
                name: Some("S".into()),
                method: vec![MethodDescriptorProto {
                    name: Some("M".into()),
                    input_type: Some(".t.Msg".into()),
                    output_type: Some(".t.Msg".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_proto(file).unwrap();
        let method = pool
            .get_service_by_name("t.S")
            .unwrap()
            .methods()
            .next()
            .unwrap();
        GrpcSettings {
            method,
            path: "/t.S/M".into(),
            use_request_body: false,
            disable_query_params: false,
            input_mapping: Default::default(),
            header_mapping: Vec::new(),
            request_naming: Naming::Proto,
            response_naming: Naming::Proto,
            output_enum_as_string: false,
            output_timestamp_as_string: false,
            output_duration_as_string: false,
            output_remove_unset_values: false,
        }
    }

    #[test]
    fn params_fill_nested_repeated_and_enum_fields() {
        let mut settings = settings();
        settings
            .input_mapping
            .insert("Lat".into(), "where.latitude".into());
        let mut message = DynamicMessage::new(settings.method.input());
        for (name, value) in [
            ("lat", "41.5"),
            ("tags", "a"),
            ("tags", "b"),
            ("kind", "KIND_B"),
            ("count", "7"),
            ("firstName", "Ada"),
            ("unknown", "x"),
        ] {
            set_param(&settings, &mut message, name, value.as_bytes()).unwrap();
        }
        let document = message_json(&message, &settings);
        assert_eq!(
            document,
            serde_json::json!({
                "id": "", "where": {"latitude": 41.5}, "tags": ["a", "b"],
                "kind": 1, "count": 7, "first_name": "Ada",
            })
        );
        let error = set_param(&settings, &mut message, "count", b"seven").unwrap_err();
        assert!(error.to_string().contains("\"seven\""), "{error}");
    }

    #[test]
    fn the_answer_is_written_as_krakend_or_as_the_options_ask() {
        let mut settings = settings();
        let mut message = DynamicMessage::new(settings.method.output());
        set_param(&settings, &mut message, "kind", b"1").unwrap();
        // Every field with its zero value; an unset message is null.
        assert_eq!(
            message_json(&message, &settings),
            serde_json::json!({
                "id": "", "where": null, "tags": [], "kind": 1, "count": 0, "first_name": "",
            })
        );
        settings.output_remove_unset_values = true;
        settings.output_enum_as_string = true;
        settings.response_naming = Naming::Json;
        set_param(&settings, &mut message, "first_name", b"Ada").unwrap();
        assert_eq!(
            message_json(&message, &settings),
            serde_json::json!({"kind": "KIND_B", "firstName": "Ada"})
        );
    }

    #[test]
    fn status_codes_map_as_google_rpc_code_documents() {
        for (code, status) in [
            (0, 200),
            (3, 400),
            (5, 404),
            (7, 403),
            (14, 503),
            (16, 401),
            (99, 500),
        ] {
            assert_eq!(http_status(code), status, "code {code}");
        }
    }

    #[test]
    fn durations_read_as_protobuf_json_writes_them() {
        assert_eq!(duration_text(1, 500_000_000), "1.5s");
        assert_eq!(duration_text(3, 0), "3s");
        assert_eq!(duration_text(0, -250_000_000), "-0.25s");
    }

    #[test]
    fn escapes_decode_and_broken_ones_stay() {
        assert_eq!(unescape(b"a%20b+c", true), b"a b c");
        assert_eq!(unescape(b"a+b", false), b"a+b");
        assert_eq!(unescape(b"100%", true), b"100%");
        assert_eq!(unescape(b"%zz", true), b"%zz");
    }
}
