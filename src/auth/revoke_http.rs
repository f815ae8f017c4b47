//! The revoker's endpoint: how revocations reach a cuttle process.
//!
//! KrakenD's bloomfilter takes them over Go's `net/rpc` (gob-encoded
//! `Add`/`Check` calls on `port`), which only a Go client speaks. cuttle
//! listens on the same `port`, bound to 127.0.0.1 only, and speaks HTTP
//! (docs/revoker.md):
//!
//! - `POST /revoke` with a JSON object of claim names (each one of
//!   `token_keys`) to a string or a list of strings: each `name-value` is
//!   added, as the RPC's `Add` would; answers 200 `{"revoked": n}`.
//! - `POST /check` with the same body: 200 `{"revoked": [..]}`, the
//!   `name-value` elements the filter holds (false positives included).
//! - anything malformed is 400 with a line saying why; another path 404,
//!   another method 405. One request per connection.
//!
//! It runs off the workers: an accepting thread, and a short-lived thread
//! per connection (at most `MAX_CONNECTIONS` at once; more are answered
//! 503), so a client that stalls does not hold up other revocations.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};

use super::revoker::Revoker;
use crate::http::{BodyFraming, HeadLimits, Method, Parse, parse_request};

const IO_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REQUEST: usize = 64 * 1024;
/// Connections served at once; each may hold a thread for `IO_TIMEOUT`.
const MAX_CONNECTIONS: usize = 16;

/// Binds 127.0.0.1:`port` and serves it on a new thread.
pub fn start(revoker: Arc<Revoker>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, revoker.settings.port))?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new()
        .name("cuttle-revoke".to_owned())
        .spawn(move || {
            // Started before the main thread blocks them (its connection
            // threads inherit this): SIGTERM must reach the main thread's
            // sigwait, not end the process here.
            crate::process::signals::block_termination();
            let active = Arc::new(AtomicUsize::new(0));
            for stream in listener.incoming().flatten() {
                if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                    active.fetch_sub(1, Ordering::AcqRel);
                    busy(stream);
                    continue;
                }
                let (revoker, done) = (revoker.clone(), active.clone());
                let spawned = std::thread::Builder::new()
                    .name("cuttle-revoke-conn".to_owned())
                    .spawn(move || {
                        serve(stream, &revoker);
                        done.fetch_sub(1, Ordering::AcqRel);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::AcqRel);
                }
            }
        })?;
    Ok(addr)
}

/// The answer when `MAX_CONNECTIONS` are being served: the client tries again.
fn busy(mut stream: TcpStream) {
    stream
        .set_write_timeout(Some(Duration::from_millis(100)))
        .ok();
    let body = "too many revocation connections at once; try again\n";
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()));
}

fn serve(mut stream: TcpStream, revoker: &Revoker) {
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok();
    stream.set_write_timeout(Some(IO_TIMEOUT)).ok();
    let (status, body) = match read_request(&mut stream) {
        Ok((method, path, body)) => answer(revoker, method, &path, &body),
        Err(why) => (400, why),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Bad Request",
    };
    let content_type = if matches!(status, 200 | 503) {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len() + 1
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .and_then(|()| stream.write_all(b"\n"));
}

/// The method, path and body of one request, or why it is malformed.
fn read_request(stream: &mut TcpStream) -> Result<(Method, String, Vec<u8>), String> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut end = 0;
    loop {
        let n = stream
            .read(&mut buf[end..])
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the request ended early".to_owned());
        }
        end += n;
        let head = match parse_request(&buf[..end], &HeadLimits::default()) {
            Ok(Parse::Complete(head)) => head,
            Ok(Parse::Partial) if end < buf.len() => continue,
            Ok(Parse::Partial) => return Err("request head too large".to_owned()),
            Err(e) => return Err(format!("not an HTTP/1.1 request: {e:?}")),
        };
        let length = match head.body {
            BodyFraming::None => 0,
            BodyFraming::Length(n) => usize::try_from(n).unwrap_or(usize::MAX),
            BodyFraming::Chunked => return Err("send the body with a Content-Length".to_owned()),
        };
        let total = head.head_len.saturating_add(length);
        if total > buf.len() {
            return Err(format!("the body is larger than {MAX_REQUEST} bytes"));
        }
        while end < total {
            let n = stream
                .read(&mut buf[end..total])
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("the body is shorter than its Content-Length".to_owned());
            }
            end += n;
        }
        let path = String::from_utf8_lossy(head.path.of(&buf)).into_owned();
        return Ok((head.method, path, buf[head.head_len..total].to_vec()));
    }
}

fn answer(revoker: &Revoker, method: Method, path: &str, body: &[u8]) -> (u16, String) {
    let revoke = match path {
        "/revoke" => true,
        "/check" => false,
        _ => return (404, "not found: POST /revoke or POST /check".to_owned()),
    };
    if method != Method::Post {
        return (405, format!("use POST {path}"));
    }
    let elements = match elements(body, &revoker.settings.token_keys) {
        Ok(elements) => elements,
        Err(why) => return (400, why),
    };
    if revoke {
        for (key, value) in &elements {
            revoker.revoke(key, value);
        }
        tracing::info!("auth/revoker: {} revocation(s) added", elements.len());
        // With `connection_name`, every instance must get them: when Redis
        // cannot take them they hold here only, and the sender is told so
        // (503, to send again: adding twice is harmless).
        if let Some(target) = &revoker.settings.redis
            && let Err(why) = super::revoke_redis::publish(revoker, target, &elements)
        {
            tracing::warn!(
                "auth/revoker: {} revocation(s) applied on this instance only: Redis: {why}",
                elements.len()
            );
            let body = serde_json::json!({
                "revoked": elements.len(),
                "shared": false,
                "error": format!("Redis did not take them ({why}): applied on this instance only; send them again"),
            });
            return (503, body.to_string());
        }
        return (200, format!("{{\"revoked\": {}}}", elements.len()));
    }
    let held: Vec<Value> = elements
        .iter()
        .filter(|(k, v)| revoker.is_revoked(k, v))
        .map(|(k, v)| Value::String(format!("{k}-{v}")))
        .collect();
    (200, serde_json::json!({ "revoked": held }).to_string())
}

/// The (claim, value) pairs of a body: a JSON object whose keys are
/// `token_keys` and whose values are non-empty strings or lists of them.
fn elements(body: &[u8], token_keys: &[String]) -> Result<Vec<(String, String)>, String> {
    let object: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err("the body must be a JSON object, e.g. {\"jti\": \"...\"}".to_owned()),
        Err(e) => return Err(format!("the body is not JSON: {e}")),
    };
    if object.is_empty() {
        return Err("the object is empty; write e.g. {\"jti\": \"...\"}".to_owned());
    }
    let mut out = Vec::new();
    for (key, value) in object {
        if !token_keys.contains(&key) {
            return Err(format!(
                "\"{key}\" is not one of token_keys ({}): tokens are never looked up by it",
                token_keys.join(", ")
            ));
        }
        let values = match value {
            Value::String(s) => vec![Value::String(s)],
            Value::Array(items) => items,
            _ => return Err(format!("\"{key}\": write a string or a list of strings")),
        };
        for value in values {
            match value {
                Value::String(s) if !s.is_empty() => out.push((key.clone(), s)),
                _ => return Err(format!("\"{key}\": each value must be a non-empty string")),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let keys = vec!["jti".to_owned(), "sub".to_owned()];
        assert_eq!(
            elements(br#"{"jti": "a", "sub": ["b", "c"]}"#, &keys).unwrap(),
            [("jti", "a"), ("sub", "b"), ("sub", "c")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        for bad in [
            &b"[]"[..],
            b"{}",
            b"{\"jti\": 1}",
            b"{\"x\": \"a\"}",
            b"{\"jti\": [\"\"]}",
            b"{",
        ] {
            assert!(
                elements(bad, &keys).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
