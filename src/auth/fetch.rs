//! One blocking HTTP request for the JWK fetcher thread and the OAuth2
//! token fetches (`rt::off_thread`; never on a worker): plain TCP or
//! rustls, `Connection: close`, bounded in time and size.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::http::{ChunkLimits, ChunkedDecoder, Method, Parse, ResponseBody, Url, parse_response};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// A key set is a few KB; anything near this is not one.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// GETs `url` and returns the body of a 200 answer.
pub fn get(url: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Vec<u8>, String> {
    let (status, body) = send(url, tls, "GET", "Accept: application/json\r\n", b"")?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    Ok(body)
}

/// POSTs the form `body` to `url` with the header lines `headers` (each
/// ending in CRLF); the status and body of the answer, whatever the status.
pub fn post_form(
    url: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    headers: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let headers = format!(
        "Accept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{headers}",
        body.len()
    );
    send(url, tls, "POST", &headers, body)
}

fn send(
    url: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &str,
    headers: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    let url = Url::parse(url)?;
    let bare = url.host.trim_start_matches('[').trim_end_matches(']');
    let addr = (bare, url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", url.host))?;
    let tcp = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    tcp.set_read_timeout(Some(IO_TIMEOUT)).ok();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).ok();
    let mut request = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: cuttle\r\n{headers}Connection: close\r\n\r\n",
        url.target,
        url.host_header()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let request = request.as_slice();
    let raw = if url.https {
        let config = tls.ok_or("no TLS client configuration")?.clone();
        let name = rustls_pki_types::ServerName::try_from(bare.to_owned())
            .map_err(|e| format!("bad TLS server name {bare}: {e}"))?;
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        exchange(rustls::StreamOwned::new(conn, tcp), request)?
    } else {
        exchange(tcp, request)?
    };
    framed_body(&raw, true)
}

fn exchange(mut stream: impl Read + Write, request: &[u8]) -> Result<Vec<u8>, String> {
    stream
        .write_all(request)
        .and_then(|()| stream.flush())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&chunk[..n]);
                if raw.len() > MAX_RESPONSE_BYTES {
                    return Err(format!("response larger than {MAX_RESPONSE_BYTES} bytes"));
                }
                // A server may keep the connection open despite
                // `Connection: close`: stop once the framing says so.
                if framed_body(&raw, false).is_ok() {
                    break;
                }
            }
            // A TLS peer that closes without close_notify: what arrived is
            // checked against its framing below.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(raw)
}

#[cfg(test)]
fn body_of(raw: &[u8]) -> Result<Vec<u8>, String> {
    match framed_body(raw, true)? {
        (200, body) => Ok(body),
        (status, _) => Err(format!("status {status}")),
    }
}

/// The status and body of a complete response in `raw`; `at_end`: nothing
/// more will arrive.
fn framed_body(raw: &[u8], at_end: bool) -> Result<(u16, Vec<u8>), String> {
    let head = match parse_response(raw, Method::Get, 64 * 1024) {
        Ok(Parse::Complete(head)) => head,
        Ok(Parse::Partial) => return Err("the response ended inside its head".to_owned()),
        Err(e) => return Err(format!("not an HTTP response: {e:?}")),
    };
    let rest = &raw[head.head_len..];
    let body = match head.body {
        ResponseBody::Empty => Ok(Vec::new()),
        ResponseBody::Length(n) => rest
            .get(..usize::try_from(n).unwrap_or(usize::MAX))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| "the body is shorter than its Content-Length".to_owned()),
        // Complete only at end of stream, which `exchange` sees itself.
        ResponseBody::UntilClose if !at_end => Err("the body ends with the connection".to_owned()),
        ResponseBody::UntilClose => Ok(rest.to_vec()),
        ResponseBody::Chunked => {
            let mut out = Vec::new();
            let progress = ChunkedDecoder::new(ChunkLimits::default())
                .decode(rest, Some(&mut out))
                .map_err(|e| e.to_string())?;
            if !progress.done {
                return Err("the chunked body is incomplete".to_owned());
            }
            Ok(out)
        }
    }?;
    Ok((head.status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = Url::parse("https://idp.example.com/.well-known/jwks.json").unwrap();
        assert_eq!(
            url,
            Url {
                https: true,
                host: "idp.example.com".into(),
                port: 443,
                target: "/.well-known/jwks.json".into()
            }
        );
        let url = Url::parse("http://127.0.0.1:8081?x=1").unwrap();
        assert_eq!((url.port, url.target.as_str()), (8081, "/?x=1"));
        let url = Url::parse("http://[::1]:9000/k").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("[::1]", 9000));
        assert!(Url::parse("ftp://x/").is_err());
        assert!(Url::parse("http://user@x/").is_err());
        assert!(Url::parse("http://x/a b").is_err());
    }

    #[test]
    fn bodies() {
        assert_eq!(
            body_of(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap(),
            b"{}"
        );
        assert_eq!(
            body_of(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
                .unwrap(),
            b"{}"
        );
        assert!(body_of(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").is_err());
        assert!(body_of(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}").is_err());
    }
}
