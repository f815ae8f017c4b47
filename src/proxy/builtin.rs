//! KrakenD's built-in endpoints: `/__health` (or `router.health_path`), `/__debug/...` (with `-d`)
//! and `/__echo/...` (with `echo_endpoint`). None is on the hot path, so
//! they are written for clarity with serde_json.

use serde_json::{Map, Value, json};

use super::respond::{Body, ResponseContext, finish};
use super::service::Service;
use crate::http::{Method, RequestHead, ResponseSink};
use crate::logging::Quoted;

/// Answers a built-in path into `out`; `None` when the path is not one.
pub fn answer<S: ResponseSink>(
    worker: &Service,
    head: &RequestHead,
    buf: &[u8],
    body: &[u8],
    ctx: &ResponseContext<'_>,
    out: &mut S,
) -> Option<()> {
    let path = head.path.of(buf);
    let health = worker.config.router.health_path.as_deref();
    let bytes = if health.is_some_and(|h| h.as_bytes() == path)
        && matches!(head.method, Method::Get | Method::Head)
    {
        let json = json!({"agents": {}, "now": go_time_now(), "status": "ok"});
        serde_json::to_vec(&json).unwrap_or_default()
    } else if worker.config.debug_endpoint && under(path, b"/__debug") {
        log_debug_request(head, buf, body);
        br#"{"message":"pong"}"#.to_vec()
    } else if worker.config.echo_endpoint && under(path, b"/__echo") {
        echo(head, buf, body)
    } else {
        return None;
    };
    out.status(200);
    out.header(b"Content-Type", b"application/json; charset=utf-8");
    finish(ctx, Body::Whole(&bytes), out);
    Some(())
}

/// `/__debug` and everything below `/__debug/`.
fn under(path: &[u8], prefix: &[u8]) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn headers_map(head: &RequestHead, buf: &[u8]) -> Map<String, Value> {
    let mut headers = Map::new();
    for h in &head.headers {
        let name = crate::http::canonical_header(h.name.of(buf));
        let entry = headers
            .entry(name)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry {
            values.push(Value::String(text(h.value.of(buf))));
        }
    }
    headers
}

fn log_debug_request(head: &RequestHead, buf: &[u8], body: &[u8]) {
    tracing::debug!(
        method = %head.method,
        // The client's bytes, quoted: a body may hold CR, LF or escapes.
        path = %Quoted(head.path.of(buf)),
        query = %Quoted(head.query.map_or(&[][..], |q| q.of(buf))),
        headers = ?headers_map(head, buf),
        body = %Quoted(body),
        "debug endpoint"
    );
}

/// lura `router/gin/echo.go` `EchoHandler`: its `echoResponse` fields in
/// their declared order (Go keeps a struct's order), the query as
/// `URL.Query()` decodes it and `Encode` writes it, and the headers as Go's
/// `Request.Header` holds them (without Host, which Go moves to
/// `Request.Host`).
fn echo(head: &RequestHead, buf: &[u8], body: &[u8]) -> Vec<u8> {
    let path = text(head.path.of(buf));
    let raw_query = head.query.map_or(&[][..], |q| q.of(buf));
    let mut query_map = Map::new();
    for (k, v) in crate::http::query::parse_query(raw_query) {
        let entry = query_map
            .entry(text(&k))
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry {
            values.push(Value::String(text(&v)));
        }
    }
    let mut encoded = Vec::new();
    crate::http::query::encode_query(
        crate::http::query::parse_query(raw_query).collect(),
        b'&',
        &mut encoded,
    );
    let uri = match head.query {
        Some(_) => format!("{path}?{}", text(raw_query)),
        None => path.clone(),
    };
    let mut headers = headers_map(head, buf);
    headers.remove("Host");
    let host = head.host.map(|h| text(h.of(buf))).unwrap_or_default();
    let fields = [
        ("req_uri", json!(uri)),
        (
            "req_uri_details",
            json!({"user": "", "host": host, "path": path,
                "query": text(encoded.get(1..).unwrap_or_default()), "fragment": ""}),
        ),
        ("req_method", json!(head.method.as_str())),
        ("req_querystring", Value::Object(query_map)),
        ("req_body", json!(text(body))),
        ("req_headers", Value::Object(headers)),
    ];
    let mut out = b"{".to_vec();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(format!("{}:", json!(name)).as_bytes());
        out.extend_from_slice(&serde_json::to_vec(value).unwrap_or_default());
    }
    out.push(b'}');
    out
}

/// The current time as Go's `time.Time.String()` prints it in UTC.
fn go_time_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:09} +0000 UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_415), (2025, 11, 23));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn canonical_header_names() {
        assert_eq!(crate::http::canonical_header(b"x-y-Z"), "X-Y-Z");
        assert_eq!(
            crate::http::canonical_header(b"autHoriZatiOn"),
            "Authorization"
        );
    }

    #[test]
    fn debug_prefix() {
        assert!(under(b"/__debug", b"/__debug"));
        assert!(under(b"/__debug/a/b", b"/__debug"));
        assert!(!under(b"/__debugger", b"/__debug"));
    }
}
