//! `backend/graphql`: the backend's HTTP request with its method, body and
//! Content-Type replaced by a GraphQL request built from the
//! configuration, as lura's GraphQL middleware does (`proxy/graphql.go`,
//! `transport/http/client/graphql/graphql.go`). The rest of the request
//! (url_pattern, query string, headers) is the HTTP backend's, and the
//! GraphQL server's HTTP answer is the backend's answer: its
//! `{"data": ..., "errors": [...]}` document goes through the pipeline as
//! any JSON body, a non-2xx status fails the backend as any HTTP status.
//!
//! Values from the request (the endpoint's parameters, the client's body)
//! only ever become JSON strings or JSON values inside `variables`: the
//! GraphQL document itself is the configuration's text, never edited.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{CallFuture, Protocol, ProtocolCall};
use crate::config::{GraphqlMethod, GraphqlOperation, GraphqlSettings};
use crate::http::Method;
use crate::upstream::{BackendError, Request};

pub struct Graphql {
    settings: Arc<GraphqlSettings>,
    /// The document of a query without placeholders: the same every call
    /// (lura marshals it once in `graphql.New`).
    fixed: Option<Vec<u8>>,
}

impl Graphql {
    pub fn new(settings: &Arc<GraphqlSettings>) -> Graphql {
        let fixed = (settings.operation == GraphqlOperation::Query
            && settings.placeholders.is_empty())
        .then(|| document(settings, &settings.variables));
        Graphql {
            settings: settings.clone(),
            fixed,
        }
    }

    /// The request's `variables` (lura's `GraphQLRequest.Variables`).
    fn variables(&self, call: &ProtocolCall<'_>) -> Result<Map<String, Value>, BackendError> {
        let settings = &*self.settings;
        match settings.operation {
            GraphqlOperation::Query => {
                // `New`'s paramExtractor: each placeholder variable gets the
                // parameter's (decoded) value as a string, "" when absent.
                let mut variables = settings.variables.clone();
                for (variable, param) in &settings.placeholders {
                    variables.insert(variable.clone(), Value::String(param_value(call, param)));
                }
                Ok(variables)
            }
            GraphqlOperation::Mutation => {
                // `fromBody`: the client's JSON object, with the configured
                // variables it does not set.
                let mut variables = client_variables(call.request.body)?;
                for (name, value) in &settings.variables {
                    variables
                        .entry(name.clone())
                        .or_insert_with(|| value.clone());
                }
                Ok(variables)
            }
        }
    }
}

impl Protocol for Graphql {
    fn call<'a>(&'a self, call: ProtocolCall<'a>) -> CallFuture<'a> {
        Box::pin(async move {
            let Some(pool) = call.pool else {
                // `uses_http_pools` gives every host a pool.
                return Err(BackendError::Unsafe("GraphQL backend without a pool"));
            };
            let settings = &*self.settings;
            let headers = json_headers(call.request.headers);
            let (method, target, body) = match (settings.method, &self.fixed) {
                (GraphqlMethod::Post, Some(fixed)) => (Method::Post, None, fixed.clone()),
                (GraphqlMethod::Post, None) => {
                    let variables = self.variables(&call)?;
                    (Method::Post, None, document(settings, &variables))
                }
                (GraphqlMethod::Get, _) => {
                    let variables = self.variables(&call)?;
                    let target = with_query(call.request.path_and_query, settings, &variables);
                    (Method::Get, Some(target), Vec::new())
                }
            };
            let request = Request {
                method,
                path_and_query: target.as_deref().unwrap_or(call.request.path_and_query),
                headers: &headers,
                body: &body,
                // lura sets Content-Length.
                chunked: false,
                body_on_redirect: call.request.body_on_redirect,
            };
            let mut scratch =
                Vec::with_capacity(128 + request.path_and_query.len() + headers.len() + body.len());
            crate::upstream::fetch(call.pools, pool, &request, call.max_body, &mut scratch).await
        })
    }

    fn uses_http_pools(&self) -> bool {
        true
    }
}

/// The decoded value of lura's parameter `param` (first letter
/// upper-cased) among the endpoint's; "" when there is none, as a Go map
/// lookup gives. Invalid UTF-8 becomes U+FFFD, as Go's JSON encoder does.
fn param_value(call: &ProtocolCall<'_>, param: &str) -> String {
    let Some((_, raw)) = call
        .params
        .iter()
        .find(|(name, _)| crate::config::graphql_param(name) == param)
    else {
        return String::new();
    };
    let mut decoded = Vec::with_capacity(raw.len());
    crate::pipeline::percent_decode(raw, &mut decoded);
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The client's body as the object of variables; Go's `json.Unmarshal`
/// into a map: `null` is no variables, anything but an object fails the
/// call with Go's words.
fn client_variables(body: &[u8]) -> Result<Map<String, Value>, BackendError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BackendError::Rejected(
            "unexpected end of JSON input".to_owned(),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(variables)) => Ok(variables),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(other) => Err(BackendError::Rejected(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_kind(&other)
        ))),
        Err(e) => Err(BackendError::Rejected(format!(
            "the request body is not JSON: {e}"
        ))),
    }
}

fn go_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null | Value::Object(_) => "object",
    }
}

/// `{"query":…,"operationName":…,"variables":{…}}` as Go's `json.Marshal`
/// writes lura's `GraphQLRequest`: fields in that order, `operationName`
/// and `variables` left out when empty, map keys sorted, and `<`, `>`,
/// `&`, U+2028 and U+2029 escaped.
fn document(settings: &GraphqlSettings, variables: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(settings.query.len() + 64);
    out.extend_from_slice(b"{\"query\":");
    write_json(&mut out, &settings.query);
    if !settings.operation_name.is_empty() {
        out.extend_from_slice(b",\"operationName\":");
        write_json(&mut out, &settings.operation_name);
    }
    if !variables.is_empty() {
        out.extend_from_slice(b",\"variables\":");
        write_json(&mut out, &sorted(variables));
    }
    out.push(b'}');
    out
}

/// `variables` with every object's keys in byte order, as Go sorts map
/// keys (whatever order serde_json's map keeps).
fn sorted(variables: &Map<String, Value>) -> Value {
    fn sort(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sort(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(&Value::Object(variables.clone()))
}

/// serde_json's text with Go's HTML-safe escapes. The escaped characters
/// cannot occur outside strings in JSON text, so replacing them anywhere
/// is replacing them in strings.
fn write_json(out: &mut Vec<u8>, value: &(impl serde::Serialize + ?Sized)) {
    let text = serde_json::to_vec(value).unwrap_or_default();
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xE2 if text.get(i + 1) == Some(&0x80)
                && matches!(text.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                out.extend_from_slice(if text[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
}

/// The header lines with lura's `Content-Type: application/json` instead
/// of the client's (`proxy/graphql.go` sets it for GET and POST alike).
fn json_headers(lines: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.len() + 32);
    for line in lines.split_inclusive(|&b| b == b'\n') {
        let name = line.split(|&b| b == b':').next().unwrap_or(line);
        if !name.eq_ignore_ascii_case(b"content-type") {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"Content-Type: application/json\r\n");
    out
}

/// `target` with the GraphQL request in its query string, as lura's
/// `QueryFromParams`/`QueryFromBody` encode it (`url.Values.Encode`: keys
/// sorted, Go's query escaping), after the query the target has.
fn with_query(
    target: &[u8],
    settings: &GraphqlSettings,
    variables: &Map<String, Value>,
) -> Vec<u8> {
    let mut out = target.to_vec();
    match target.iter().position(|&b| b == b'?') {
        Some(q) if q + 1 < target.len() => out.push(b'&'),
        Some(_) => {}
        None => out.push(b'?'),
    }
    if !settings.operation_name.is_empty() {
        out.extend_from_slice(b"operationName=");
        query_escape(settings.operation_name.as_bytes(), &mut out);
        out.push(b'&');
    }
    out.extend_from_slice(b"query=");
    query_escape(settings.query.as_bytes(), &mut out);
    if !variables.is_empty() {
        let mut encoded = Vec::new();
        write_json(&mut encoded, &sorted(variables));
        out.extend_from_slice(b"&variables=");
        query_escape(&encoded, &mut out);
    }
    out
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest
/// `%XX`.
fn query_escape(value: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => {
                out.push(b'%');
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
        }
    }
}

#[cfg(test)]
#[path = "graphql_tests.rs"]
mod tests;
