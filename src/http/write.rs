//! Serialising heads and canned responses.

use super::fields::list_contains;

pub use super::date::fmt_http_date;

/// The reason phrase we send for `status` (RFC 9110 §15); "" for codes it does not name.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// `HTTP/1.1 <status> <reason>\r\n` (the reason may be empty; the SP before it is required).
pub fn write_status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    write_decimal(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `name: value\r\n`. The caller passes a valid name and a value without CR/LF.
pub fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.reserve(name.len() + value.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `Content-Length: N\r\n` without allocating a string for N.
pub fn write_content_length(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(b"Content-Length: ");
    write_decimal(out, len as u64);
    out.extend_from_slice(b"\r\n");
}

/// An IP address as `Display` writes it (`192.0.2.1`, `2001:db8::1`). IPv4,
/// nearly every client, is written digit by digit: `fmt` costs about a
/// thousand instructions per address, and every request writes its peer's
/// address once or twice (`X-Forwarded-For`, the access log).
pub fn write_ip(out: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let (text, start) = ipv4_text(v4);
            out.extend_from_slice(&text[start..]);
        }
        std::net::IpAddr::V6(_) => {
            use std::io::Write;
            let _ = write!(out, "{ip}");
        }
    }
}

/// An IPv4 address in dotted decimal, assembled on the stack from the
/// right: the 15 bytes ("255.255.255.255" at most) are the address
/// right-aligned in spaces (the access log's padded column), and the
/// address itself starts at the returned index.
pub fn ipv4_text(v4: std::net::Ipv4Addr) -> ([u8; 15], usize) {
    let mut text = [b' '; 15];
    let mut end = text.len();
    for (i, octet) in v4.octets().into_iter().rev().enumerate() {
        let [a, b, c, len] = OCTETS[usize::from(octet)];
        let len = usize::from(len);
        // Three bytes, leading zeros included: the next octet's dot and
        // digits (or the padding) overwrite the zeros.
        text[end - 3..end].copy_from_slice(&[a, b, c]);
        end -= len;
        if i < 3 {
            end -= 1;
            text[end] = b'.';
        }
    }
    // The first octet's leading zeros, if it has fewer than 3 digits.
    text[..end].fill(b' ');
    (text, end)
}

/// Each octet's digits right-aligned in three bytes, then their count.
const OCTETS: [[u8; 4]; 256] = {
    let mut table = [[0u8; 4]; 256];
    let mut n = 0;
    while n < 256 {
        let len = if n >= 100 {
            3
        } else if n >= 10 {
            2
        } else {
            1
        };
        table[n] = [
            b'0' + (n / 100) as u8,
            b'0' + (n / 10 % 10) as u8,
            b'0' + (n % 10) as u8,
            len,
        ];
        n += 1;
    }
    table
};

/// A complete plain-text response: head and body, ready to send.
pub fn write_error_response(out: &mut Vec<u8>, status: u16, body: &[u8], close: bool) {
    write_status_line(out, status);
    write_header(out, b"Content-Type", b"text/plain; charset=utf-8");
    write_content_length(out, body.len());
    if close {
        write_header(out, b"Connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// Fields that describe one connection and must not be forwarded (RFC 9110 §7.6.1), plus the
/// legacy Proxy-Connection, the proxy authentication pair and any other `Proxy-*` field (they
/// are meant for the proxy the client talks to, which is this gateway).
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP_BY_HOP: [&[u8]; 9] = [
        b"connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
    ];
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
        || name
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"proxy-"))
}

/// Does a `Connection` value list `name`? Such fields are hop-by-hop too (RFC 9110 §7.6.1).
pub fn connection_names_header(conn_value: &[u8], name: &[u8]) -> bool {
    list_contains(conn_value, name)
}

fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.4",
            "255.255.255.255",
            "192.168.100.9",
            "::1",
            "2001:db8::ff00:42:8329",
            "::ffff:10.0.0.1",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(written(|out| write_ip(out, ip)), ip.to_string());
        }
    }

    #[test]
    fn ipv4_text_is_the_address_right_aligned_in_15_columns() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "10.0.0.7",
            "100.10.1.0",
            "9.99.199.255",
            "255.255.255.255",
        ] {
            let v4: std::net::Ipv4Addr = ip.parse().unwrap();
            let (text, start) = ipv4_text(v4);
            assert_eq!(text, format!("{ip:>15}").as_bytes(), "{ip}");
            assert_eq!(&text[start..], ip.as_bytes(), "{ip}");
        }
    }

    fn written(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn status_line_rows() {
        let rows: &[(u16, &str)] = &[
            (200, "HTTP/1.1 200 OK\r\n"),
            (404, "HTTP/1.1 404 Not Found\r\n"),
            (431, "HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            (505, "HTTP/1.1 505 HTTP Version Not Supported\r\n"),
            (599, "HTTP/1.1 599 \r\n"),
        ];
        for (status, want) in rows {
            assert_eq!(written(|o| write_status_line(o, *status)), *want);
        }
    }

    #[test]
    fn content_length_rows() {
        let rows: &[(usize, &str)] = &[
            (0, "Content-Length: 0\r\n"),
            (7, "Content-Length: 7\r\n"),
            (1234567890, "Content-Length: 1234567890\r\n"),
            (usize::MAX, "Content-Length: 18446744073709551615\r\n"),
        ];
        for (len, want) in rows {
            assert_eq!(written(|o| write_content_length(o, *len)), *want);
        }
        assert_eq!(written(|o| write_header(o, b"X-A", b"b c")), "X-A: b c\r\n");
    }

    #[test]
    fn error_response_rows() {
        let rows: &[(u16, &[u8], bool, &str)] = &[
            (
                400,
                b"bad",
                true,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: 3\r\nConnection: close\r\n\r\nbad",
            ),
            (
                404,
                b"",
                false,
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\n\r\n",
            ),
        ];
        for (status, body, close, want) in rows {
            assert_eq!(
                written(|o| write_error_response(o, *status, body, *close)),
                *want
            );
        }
    }

    #[test]
    fn hop_by_hop_rows() {
        let rows: &[(&[u8], bool)] = &[
            (b"Connection", true),
            (b"keep-alive", true),
            (b"TE", true),
            (b"Trailer", true),
            (b"TRANSFER-ENCODING", true),
            (b"Upgrade", true),
            (b"Proxy-Connection", true),
            (b"Proxy-Authenticate", true),
            (b"proxy-authorization", true),
            (b"Trailers", false),
            (b"Content-Length", false),
            (b"Authorization", false),
            (b"", false),
        ];
        for (name, want) in rows {
            assert_eq!(
                is_hop_by_hop(name),
                *want,
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn connection_names_rows() {
        let rows: &[(&[u8], &[u8], bool)] = &[
            (b"close", b"Close", true),
            (b"keep-alive, X-Secret", b"x-secret", true),
            (b" ,X-A ,, x-b\t", b"X-B", true),
            (b"X-Ab", b"X-A", false),
            (b"", b"X-A", false),
        ];
        for (value, name, want) in rows {
            assert_eq!(
                connection_names_header(value, name),
                *want,
                "{value:?} {name:?}"
            );
        }
    }
}
