//! Table-driven tests for `parse_request`: one row per rule.

use super::*;

/// Renders an outcome compactly so that every row is one line of input and one of expectation.
fn render(buf: &[u8], result: &Result<Parse<RequestHead>, RequestError>) -> String {
    match result {
        Ok(Parse::Partial) => "partial".into(),
        Err(err) => format!("{} {err:?}", err.status()),
        Ok(Parse::Complete(h)) => {
            let text = |s: Span| String::from_utf8_lossy(s.of(buf)).into_owned();
            let query = h.query.map(|q| format!("?{}", text(q))).unwrap_or_default();
            let host = h.host.map(text).unwrap_or_else(|| "-".into());
            let mut s = format!(
                "{} {}{query} 1.{} {:?} host={host}",
                h.method,
                text(h.path),
                h.minor_version,
                h.body
            );
            if !h.keep_alive {
                s.push_str(" close");
            }
            if h.expect_continue {
                s.push_str(" continue");
            }
            s
        }
    }
}

fn check(limits: &HeadLimits, input: &[u8], want: &str) {
    let result = parse_request(input, limits);
    let shown = String::from_utf8_lossy(input);
    assert_eq!(render(input, &result), want, "input: {shown:?}");
    if let Ok(Parse::Complete(head)) = &result {
        let end = input
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + 4);
        assert_eq!(Some(head.head_len), end, "head_len for {shown:?}");
    }
}

#[test]
fn request_rows() {
    let limits = HeadLimits::default();
    let rows: &[(&[u8], &str)] = &[
        // Request line and target forms (RFC 9112 §3).
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / 1.1 None host=a"),
        (b"GET /p/q?x=1&y HTTP/1.1\r\nHost: a\r\n\r\n", "GET /p/q?x=1&y 1.1 None host=a"),
        (b"GET /p? HTTP/1.1\r\nHost: a\r\n\r\n", "GET /p? 1.1 None host=a"),
        (b"GET /p?a?b HTTP/1.1\r\nHost: a\r\n\r\n", "GET /p?a?b 1.1 None host=a"),
        (b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / 1.1 None host=a"),
        (b"GET http://b.example:8080/x?y HTTP/1.1\r\nHost: a\r\n\r\n", "GET /x?y 1.1 None host=b.example:8080"),
        (b"GET HTTPS://b/ HTTP/1.1\r\nHost: a\r\n\r\n", "GET / 1.1 None host=b"),
        (b"GET http://b HTTP/1.1\r\nHost: a\r\n\r\n", "400 InvalidTarget"),
        (b"GET http://u@b/ HTTP/1.1\r\nHost: a\r\n\r\n", "400 InvalidTarget"),
        (b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", "400 InvalidTarget"),
        (b"GET ftp://b/x HTTP/1.1\r\nHost: a\r\n\r\n", "400 InvalidTarget"),
        (b"GET x/y HTTP/1.1\r\nHost: a\r\n\r\n", "400 InvalidTarget"),
        (b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", "400 InvalidTarget"),
        (b"CONNECT b:443 HTTP/1.1\r\nHost: b:443\r\n\r\n", "400 InvalidTarget"),
        (b"CONNECT /b HTTP/1.1\r\nHost: b:443\r\n\r\n", "400 InvalidTarget"),
        (b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS * 1.1 None host=a"),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", "400 AsteriskFormNotOptions"),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "400 BadRequestLine"),
        (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", "400 BadRequestLine"),
        (b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", "400 BadRequestLine"),
        (b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", "400 BadRequestLine"),
        (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", "400 BadRequestLine"),
        (b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", "400 BadRequestLine"),
        // Methods (RFC 9110 §9.1: exact case; unknown tokens are 501).
        (b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", "501 UnknownMethod"),
        (b"get / HTTP/1.1\r\nHost: a\r\n\r\n", "501 UnknownMethod"),
        (b"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", "DELETE /x 1.1 None host=a"),
        // Versions.
        (b"GET / HTTP/1.0\r\n\r\n", "GET / 1.0 None host=- close"),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "505 UnsupportedVersion"),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", "505 UnsupportedVersion"),
        (b"GET / HTTP/0.9\r\n", "505 UnsupportedVersion"),
        (b"GET / HTTX/1.1\r\nHost: a\r\n\r\n", "400 BadRequestLine"),
        (b"GET / http/1.1\r\nHost: a\r\n\r\n", "400 BadRequestLine"),
        (b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", "400 BadRequestLine"),
        // Line endings: bare CR refused by httparse (we name it), bare LF refused by us.
        (b"GET / HTTP/1.1\rHost: a\r\n\r\n", "400 BareCarriageReturn"),
        (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", "400 BareCarriageReturn"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n", "400 BareCarriageReturn"),
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", "400 BareLineFeed"),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", "400 BareLineFeed"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\n", "400 BareLineFeed"),
        (b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "400 BareLineFeed"),
        // Field syntax (RFC 9112 §5).
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "400 WhitespaceBeforeColon"),
        (b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", "400 WhitespaceBeforeColon"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n", "400 ObsFold"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\tX-A: b\r\n\r\n", "400 ObsFold"),
        (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", "400 ObsFold"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n", "400 InvalidHeaderName"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", "400 InvalidHeaderName"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", "400 InvalidHeaderName"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", "400 InvalidHeaderValue"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\n\r\n", "400 InvalidHeaderValue"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01\r\n\r\n", "400 InvalidHeaderValue"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n", "GET / 1.1 None host=a"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A:\r\n\r\n", "GET / 1.1 None host=a"),
        // Host (RFC 9112 §3.2).
        (b"GET / HTTP/1.1\r\n\r\n", "400 MissingHost"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "400 DuplicateHost"),
        (b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", "400 DuplicateHost"),
        (b"GET / HTTP/1.1\r\nHOST:  \t a.b \t \r\n\r\n", "GET / 1.1 None host=a.b"),
        (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET / 1.1 None host="),
        (b"GET / HTTP/1.1\r\nHost: user@evil:1\r\n\r\n", "400 UserinfoInHost"),
        (b"GET / HTTP/1.1\r\nHost: @a\r\n\r\n", "400 UserinfoInHost"),
        (b"GET http://a/ HTTP/1.1\r\nHost: u@b\r\n\r\n", "400 UserinfoInHost"),
        // Content-Length (RFC 9112 §6.3, strict).
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", "POST / 1.1 Length(5) host=a"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "POST / 1.1 Length(0) host=a"),
        (b"POST / HTTP/1.1\r\nHost: a\r\ncontent-length:  42 \r\n\r\n", "POST / 1.1 Length(42) host=a"),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n",
            "POST / 1.1 Length(18446744073709551615) host=a",
        ),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", "400 InvalidContentLength"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", "400 InvalidContentLength"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", "400 InvalidContentLength"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1a\r\n\r\n", "400 InvalidContentLength"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", "400 InvalidContentLength"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", "400 InvalidContentLength"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", "400 InvalidContentLength"),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            "400 DuplicateContentLength",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "400 DuplicateContentLength",
        ),
        // Transfer-Encoding (RFC 9112 §6.1, §6.3).
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "POST / 1.1 Chunked host=a"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", "POST / 1.1 Chunked host=a"),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            "400 ContentLengthWithTransferEncoding",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "400 ContentLengthWithTransferEncoding",
        ),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", "400 TransferEncodingNotChunked"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "400 TransferEncodingNotChunked"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "400 TransferEncodingNotChunked"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", "400 TransferEncodingNotChunked"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", "400 TransferEncodingNotChunked"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501 UnsupportedTransferCoding"),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            "501 UnsupportedTransferCoding",
        ),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "400 TransferEncodingInHttp10"),
        // Connection and Expect.
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "GET / 1.1 None host=a close"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", "GET / 1.1 None host=a close"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", "GET / 1.1 None host=a"),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET / 1.0 None host=-"),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", "GET / 1.0 None host=- close"),
        (
            b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
            "PUT / 1.1 Length(1) host=a continue",
        ),
        (b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", "PUT / 1.0 None host=- close"),
        (b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", "PUT / 1.1 None host=a"),
        // Incomplete heads.
        (b"", "partial"),
        (b"GET", "partial"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", "partial"),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r", "partial"),
    ];
    for (input, want) in rows {
        check(&limits, input, want);
    }
}

#[test]
fn limit_rows() {
    let limits = HeadLimits {
        max_head_bytes: 64,
        max_uri_bytes: 16,
        max_headers: 2,
    };
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(16));
    let rows: &[(&[u8], &str)] = &[
        (
            b"GET /aaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /aaaaaaaaaaaaaaa 1.1 None host=a",
        ),
        (long_target.as_bytes(), "414 UriTooLong"),
        (b"GET /aaaaaaaaaaaaaaaa", "414 UriTooLong"),
        (b"GET /aaaaaaaaaaaaaaa", "partial"),
        (
            b"GET /?aaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r",
            "414 UriTooLong",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n",
            "GET / 1.1 None host=a",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-B: 2\r\n\r\n",
            "431 TooManyHeaders",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "431 HeadTooLarge",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            "431 HeadTooLarge",
        ),
        // 64 bytes still partial cannot fit; 64 bytes complete does.
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
            "GET / 1.1 None host=a",
        ),
    ];
    for (input, want) in rows {
        check(&limits, input, want);
    }
    let none = HeadLimits {
        max_headers: 0,
        ..HeadLimits::default()
    };
    check(
        &none,
        b"GET / HTTP/1.0\r\n\r\n",
        "GET / 1.0 None host=- close",
    );
    check(
        &none,
        b"GET / HTTP/1.0\r\nA: b\r\n\r\n",
        "431 TooManyHeaders",
    );
}

#[test]
fn every_split_is_partial_until_complete() {
    let limits = HeadLimits::default();
    let inputs: &[&[u8]] = &[
        b"GET /a?b HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
        b"\r\nPOST http://h/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nX-Empty:\r\n\r\n",
    ];
    for input in inputs {
        let whole = render(input, &parse_request(input, &limits));
        assert!(
            !whole.starts_with("partial") && !whole.starts_with('4'),
            "{whole}"
        );
        for cut in 0..input.len() {
            let prefix = input.get(..cut).unwrap_or_default();
            assert_eq!(
                render(prefix, &parse_request(prefix, &limits)),
                "partial",
                "cut at {cut} of {input:?}"
            );
        }
    }
}

#[test]
fn pipelined_requests_are_found_by_head_len() {
    let limits = HeadLimits::default();
    let buf = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut offset = 0;
    let mut paths = Vec::new();
    while offset < buf.len() {
        let rest = buf.get(offset..).unwrap_or_default();
        let Ok(Parse::Complete(head)) = parse_request(rest, &limits) else {
            panic!("no complete head at {offset}");
        };
        paths.push(String::from_utf8_lossy(head.path.of(rest)).into_owned());
        let body = match head.body {
            BodyFraming::Length(n) => n as usize,
            _ => 0,
        };
        offset += head.head_len + body;
    }
    assert_eq!(paths, ["/a", "/b", "/c"]);
}

#[test]
fn header_values_are_trimmed_spans_and_lookup_ignores_case() {
    let buf =
        b"GET / HTTP/1.1\r\nHost: h\r\nX-A: \t one two \t\r\nx-a: second\r\nX-Empty: \t \r\n\r\n";
    let Ok(Parse::Complete(head)) = parse_request(buf, &HeadLimits::default()) else {
        panic!("should parse");
    };
    let rows: &[(&str, Option<&[u8]>)] = &[
        ("x-A", Some(b"one two")),
        ("HOST", Some(b"h")),
        ("x-empty", Some(b"")),
        ("missing", None),
    ];
    for (name, want) in rows {
        assert_eq!(head.header(buf, name), *want, "{name}");
    }
    assert_eq!(head.headers.len(), 4);
    assert!(
        !head.headers.spilled(),
        "32 inline header slots must not allocate"
    );
}

/// A head another codec assembled: `target` then `name: value` fields,
/// copied into one buffer as `server::h2` does.
fn assembled(
    method: &str,
    target: &str,
    fields: &[(&str, &[u8])],
) -> Result<RequestHead, RequestError> {
    let mut buf = Vec::new();
    let span = |buf: &mut Vec<u8>, bytes: &[u8]| {
        let start = buf.len() as u32;
        buf.extend_from_slice(bytes);
        Span {
            start,
            end: buf.len() as u32,
        }
    };
    let target = span(&mut buf, target.as_bytes());
    let fields: Vec<Header> = fields
        .iter()
        .map(|(n, v)| Header {
            name: span(&mut buf, n.as_bytes()),
            value: span(&mut buf, v),
        })
        .collect();
    let limits = HeadLimits {
        max_uri_bytes: 32,
        max_headers: 4,
        ..HeadLimits::default()
    };
    assemble_request(&buf, method.as_bytes(), target, &fields, &limits)
}

#[test]
fn assembled_heads_get_the_checks_of_parsed_ones() {
    let head = assembled("GET", "/a?b=c", &[("host", b"example.com"), ("x-a", b"1")]).unwrap();
    assert_eq!(head.method, Method::Get);
    assert_eq!((head.path.len(), head.query.map(|q| q.len())), (2, Some(3)));
    assert!(head.host.is_some());
    let refused = [
        assembled("GET", "/", &[("host", b"user@evil")]).err(),
        assembled("GET", "/", &[("host", b"a"), ("host", b"b")]).err(),
        assembled("GET", "/", &[("x-a", b"bad\x7fbyte")]).err(),
        assembled("GET", "/x#frag", &[]).err(),
        assembled("GET", &format!("/{}", "a".repeat(40)), &[]).err(),
        assembled("BREW", "/", &[]).err(),
        assembled(
            "GET",
            "/",
            &[("a", b""), ("b", b""), ("c", b""), ("d", b""), ("e", b"")],
        )
        .err(),
    ];
    use RequestError::*;
    assert_eq!(
        refused,
        [
            Some(UserinfoInHost),
            Some(DuplicateHost),
            Some(InvalidHeaderValue),
            Some(InvalidTarget),
            Some(UriTooLong),
            Some(UnknownMethod),
            Some(TooManyHeaders),
        ]
    );
}
