//! Table-driven tests for `parse_response`: one row per framing rule (RFC 9112 §6.3).

use super::*;

fn render(result: &Result<Parse<ResponseHead>, ResponseError>) -> String {
    match result {
        Ok(Parse::Partial) => "partial".into(),
        Err(err) => format!("{err:?}"),
        Ok(Parse::Complete(h)) => {
            let close = if h.keep_alive { "" } else { " close" };
            format!("{} 1.{} {:?}{close}", h.status, h.minor_version, h.body)
        }
    }
}

fn check(input: &[u8], method: Method, want: &str) {
    let result = parse_response(input, method, 64 * 1024);
    let shown = String::from_utf8_lossy(input);
    assert_eq!(render(&result), want, "{method} {shown:?}");
    if let Ok(Parse::Complete(head)) = &result {
        let end = input
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + 4);
        assert_eq!(Some(head.head_len), end, "head_len for {shown:?}");
    }
}

#[test]
fn response_rows() {
    use Method::{Connect, Get, Head};
    let rows: &[(&[u8], Method, &str)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            Get,
            "200 1.1 Length(5)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Get,
            "200 1.1 Length(0)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Get,
            "200 1.1 Chunked",
        ),
        (b"HTTP/1.1 200 OK\r\n\r\n", Get, "200 1.1 UntilClose close"),
        (
            b"HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n",
            Get,
            "200 1.1 Length(1)",
        ),
        // No body, whatever the fields say.
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            Head,
            "200 1.1 Empty",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Head,
            "200 1.1 Empty",
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", Get, "204 1.1 Empty"),
        (
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
            Get,
            "304 1.1 Empty",
        ),
        (
            b"HTTP/1.1 200 Connection established\r\n\r\n",
            Connect,
            "200 1.1 Empty close",
        ),
        // Interim responses: Complete, Empty, skipped by the caller through head_len.
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n",
            Get,
            "100 1.1 Empty",
        ),
        (
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
            Get,
            "103 1.1 Empty",
        ),
        // Connection.
        (
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            Get,
            "200 1.1 Length(0) close",
        ),
        (
            b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
            Get,
            "200 1.0 Length(0) close",
        ),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            Get,
            "200 1.0 Length(0)",
        ),
        // Content-Length.
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            Get,
            "200 1.1 Length(5)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
            Get,
            "200 1.1 Length(5)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            Get,
            "ConflictingContentLength",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
            Get,
            "ConflictingContentLength",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
            Get,
            "InvalidContentLength",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
            Get,
            "InvalidContentLength",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            Get,
            "InvalidContentLength",
        ),
        // Transfer-Encoding.
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            Get,
            "ContentLengthWithTransferEncoding",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            Get,
            "UnknownTransferCoding",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            Get,
            "UnknownTransferCoding",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            Get,
            "BadTransferEncoding",
        ),
        (
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Get,
            "BadTransferEncoding",
        ),
        // Syntax.
        (b"HTTP/1.1 099 Odd\r\n\r\n", Get, "Malformed"),
        (b"HTTP/1.1 20 OK\r\n\r\n", Get, "Malformed"),
        (b"HTTP/2 200 OK\r\n\r\n", Get, "Malformed"),
        (b"HTTP/1.1 200 OK\r\nX : y\r\n\r\n", Get, "Malformed"),
        (b"HTTP/1.1 200 OK\r\nX: a\x7fb\r\n\r\n", Get, "Malformed"),
        (b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", Get, "Malformed"),
        (b"HTTP/1.1 200 OK\r\n", Get, "partial"),
        (b"HTTP/1.1 2", Get, "partial"),
        (b"", Get, "partial"),
    ];
    for (input, method, want) in rows {
        check(input, *method, want);
    }
}

#[test]
fn interim_response_is_skipped_by_head_len() {
    let buf = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Id: 7\r\n\r\nok";
    let Ok(Parse::Complete(interim)) = parse_response(buf, Method::Post, 1024) else {
        panic!("interim should parse");
    };
    assert!(interim.is_interim());
    let rest = buf.get(interim.head_len..).unwrap_or_default();
    let Ok(Parse::Complete(last)) = parse_response(rest, Method::Post, 1024) else {
        panic!("final should parse");
    };
    assert!(!last.is_interim());
    assert_eq!((last.status, last.body), (201, ResponseBody::Length(2)));
    assert_eq!(last.header(rest, "x-id"), Some(&b"7"[..]));
    assert_eq!(rest.get(last.head_len..), Some(&b"ok"[..]));
}

#[test]
fn head_limit_rows() {
    let rows: &[(&[u8], &str)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            "200 1.1 Length(0)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaa",
            "HeadTooLarge",
        ),
        (
            b"HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
            "HeadTooLarge",
        ),
    ];
    for (input, want) in rows {
        assert_eq!(
            render(&parse_response(input, Method::Get, 40)),
            *want,
            "{input:?}"
        );
    }
    let many: Vec<u8> = [
        &b"HTTP/1.1 200 OK\r\n"[..],
        &b"A: b\r\n".repeat(MAX_HEADER_CAPACITY + 1),
        b"\r\n",
    ]
    .concat();
    assert_eq!(
        render(&parse_response(&many, Method::Get, 64 * 1024)),
        "TooManyHeaders"
    );
}
