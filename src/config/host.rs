//! Backend hosts: `http://name[:port]`, as KrakenD's host sanitizer accepts
//! them (lura `config/uri.go`: `(https?://)?([a-zA-Z0-9\._\-]+)(:[0-9]{2,6})?/?`).
//!
//! Like KrakenD, a host without a scheme means `http://` and one trailing `/`
//! is dropped. Unlike KrakenD, `https://` is refused: cuttle has no TLS
//! client yet, and failing at start-up beats failing every request.

/// Returns the host in the form `http://name[:port]`, or what is wrong with it.
pub fn clean_host(host: &str) -> Result<String, String> {
    let authority = if let Some(rest) = host.strip_prefix("http://") {
        rest
    } else if host.starts_with("https://") {
        return Err(format!(
            "\"{host}\": https backends are not supported by cuttle yet; use an http:// host (for example behind a local TLS proxy)"
        ));
    } else if host.contains("://") {
        return Err(format!(
            "\"{host}\": only http:// hosts are supported, e.g. \"http://127.0.0.1:8000\""
        ));
    } else {
        host
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
        None => Ok(format!("http://{name}")),
        Some(port) => match port.parse::<u16>() {
            Ok(number) if number > 0 && port.bytes().all(|c| c.is_ascii_digit()) => {
                Ok(format!("http://{name}:{port}"))
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
        ];
        for (input, expected) in table {
            assert_eq!(clean_host(input).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn refuses_what_cuttle_cannot_call() {
        let table = [
            (
                "https://api.example.com",
                "https backends are not supported",
            ),
            ("ftp://x", "only http:// hosts"),
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
