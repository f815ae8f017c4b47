//! Backend hosts: `http://name[:port]` or `https://name[:port]`, as
//! KrakenD's host sanitizer accepts them (lura `config/uri.go`:
//! `(https?://)?([a-zA-Z0-9\._\-]+)(:[0-9]{2,6})?/?`).
//!
//! Like KrakenD, a host without a scheme means `http://` and one trailing `/`
//! is dropped.

/// Returns the host in the form `http(s)://name[:port]`, or what is wrong with it.
pub fn clean_host(host: &str) -> Result<String, String> {
    let (scheme, authority) = if let Some(rest) = host.strip_prefix("http://") {
        ("http", rest)
    } else if let Some(rest) = host.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = host.strip_prefix("ws://") {
        // Only a `websocket` endpoint may have these (build.rs checks).
        ("ws", rest)
    } else if let Some(rest) = host.strip_prefix("wss://") {
        ("wss", rest)
    } else if host.contains("://") {
        return Err(format!(
            "\"{host}\": only http:// and https:// hosts are supported (and ws:// or wss:// on a websocket endpoint), e.g. \"http://127.0.0.1:8000\""
        ));
    } else {
        ("http", host)
    };
    let authority = authority.strip_suffix('/').unwrap_or(authority);
    let (name, port) = match authority.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (authority, None),
    };
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if !name_ok {
        return Err(format!(
            "\"{host}\" is not a host; write scheme, name and optional port only, e.g. \"http://127.0.0.1:8000\" (a path belongs in url_pattern)"
        ));
    }
    match port {
        None => Ok(format!("{scheme}://{name}")),
        Some(port) => match port.parse::<u16>() {
            Ok(number) if number > 0 && port.bytes().all(|c| c.is_ascii_digit()) => {
                Ok(format!("{scheme}://{name}:{port}"))
            }
            _ => Err(format!(
                "\"{host}\": \"{port}\" is not a port; write a number from 1 to 65535, e.g. \"http://127.0.0.1:8000\""
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_krakend() {
        let table = [
            ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
            ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
            ("http://showrss.info/", "http://showrss.info"),
            ("http://localhost", "http://localhost"),
            ("localhost:8080", "http://localhost:8080"),
            ("my_svc-1.internal:80", "http://my_svc-1.internal:80"),
            ("https://api.example.com/", "https://api.example.com"),
            ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
            // Only for websocket endpoints (build.rs).
            ("ws://127.0.0.1:8081/", "ws://127.0.0.1:8081"),
            ("wss://chat.example.com", "wss://chat.example.com"),
        ];
        for (input, expected) in table {
            assert_eq!(clean_host(input).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn refuses_what_cuttle_cannot_call() {
        let table = [
            ("ftp://x", "only http:// and https:// hosts"),
            ("https://x/api", "a path belongs in url_pattern"),
            ("http://x/api", "a path belongs in url_pattern"),
            ("http://", "is not a host"),
            ("", "is not a host"),
            ("http://a b", "is not a host"),
            ("http://[::1]:80", "is not a host"),
            ("http://x:0", "is not a port"),
            ("http://x:99999", "is not a port"),
            ("http://x:+80", "is not a port"),
            ("http://x:", "is not a port"),
        ];
        for (input, expected) in table {
            let error = clean_host(input).expect_err(input);
            assert!(error.contains(expected), "{input}: {error}");
        }
    }
}
