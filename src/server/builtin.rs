//! KrakenD's built-in endpoints: `/__health` (or `router.health_path`), `/__debug/...` (with `-d`)
//! and `/__echo/...` (with `echo_endpoint`). None is on the hot path, so
//! they are written for clarity with serde_json.

use serde_json::{Map, Value, json};

use super::worker::Worker;
use crate::http::{Method, RequestHead, write_header, write_status_line};
use crate::logging::Quoted;
use crate::proxy::{ResponseContext, finish};

/// Answers a built-in path into `out`; `None` when the path is not one.
pub fn answer(
    worker: &Worker,
    head: &RequestHead,
    buf: &[u8],
    body: &[u8],
    ctx: &ResponseContext<'_>,
    out: &mut Vec<u8>,
) -> Option<()> {
    let path = head.path.of(buf);
    let health = worker.config.router.health_path.as_deref();
    let json = if health.is_some_and(|h| h.as_bytes() == path)
        && matches!(head.method, Method::Get | Method::Head)
    {
        json!({"agents": {}, "now": go_time_now(), "status": "ok"})
    } else if worker.config.debug_endpoint && under(path, b"/__debug") {
        log_debug_request(head, buf, body);
        json!({"message": "pong"})
    } else if worker.config.echo_endpoint && under(path, b"/__echo") {
        echo(head, buf, body)
    } else {
        return None;
    };
    let bytes = serde_json::to_vec(&json).unwrap_or_default();
    write_status_line(out, 200);
    write_header(out, b"Content-Type", b"application/json; charset=utf-8");
    finish(ctx, &bytes, out);
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
        let name = canonical_header(&text(h.name.of(buf)));
        let entry = headers
            .entry(name)
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry {
            values.push(Value::String(text(h.value.of(buf))));
        }
    }
    headers
}

/// Go's canonical header form (`x-y-z` -> `X-Y-Z`), as KrakenD prints them.
fn canonical_header(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
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

fn echo(head: &RequestHead, buf: &[u8], body: &[u8]) -> Value {
    let path = text(head.path.of(buf));
    let query = head.query.map(|q| text(q.of(buf))).unwrap_or_default();
    let mut query_map = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let entry = query_map
            .entry(k.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry {
            values.push(Value::String(v.to_string()));
        }
    }
    let uri = if head.query.is_some() {
        format!("{path}?{query}")
    } else {
        path.clone()
    };
    json!({
        "req_uri": uri,
        "req_uri_details": {"user": "", "host": head.host.map(|h| text(h.of(buf))).unwrap_or_default(), "path": path, "query": query, "fragment": ""},
        "req_method": head.method.as_str(),
        "req_querystring": query_map,
        "req_body": text(body),
        "headers": headers_map(head, buf),
    })
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
        assert_eq!(canonical_header("x-y-Z"), "X-Y-Z");
        assert_eq!(canonical_header("autHoriZatiOn"), "Authorization");
    }

    #[test]
    fn debug_prefix() {
        assert!(under(b"/__debug", b"/__debug"));
        assert!(under(b"/__debug/a/b", b"/__debug"));
        assert!(!under(b"/__debugger", b"/__debug"));
    }
}
