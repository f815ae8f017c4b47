//! The incremental head scanner: where it finds the end on any split of the input, and what
//! finding it costs when the head trickles in.

use super::*;
use crate::http::{Span, parse_request};

/// A request head of at most `size` bytes: field lines of 600 bytes (so fewer than the default
/// 100 fields), then the empty line.
fn big_request_head(size: usize) -> Vec<u8> {
    let mut head = b"GET /big HTTP/1.1\r\nHost: a\r\n".to_vec();
    let mut i = 0;
    while head.len() + 600 + 2 <= size {
        head.extend_from_slice(format!("X-Filler-{i:02}: {}\r\n", "v".repeat(585)).as_bytes());
        i += 1;
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// Feeds `input` to a fresh scanner in the pieces `cuts` make; the end it reports.
fn scan_in_pieces(input: &[u8], cuts: &[usize]) -> Option<usize> {
    let mut scanner = HeadScanner::new();
    let mut found = None;
    for &cut in cuts.iter().chain([&input.len()]) {
        let seen = input.get(..cut).unwrap_or(input);
        if let Some(end) = scanner.scan(seen) {
            found.get_or_insert(end);
            assert_eq!(scanner.scan(input), Some(end), "the end, once found, stays");
        }
    }
    assert!(scanner.examined() <= input.len() as u64);
    found
}

/// Whole, at every single split, and byte by byte: the same end every time.
fn check_end(input: &[u8], want: Option<usize>) {
    let shown = String::from_utf8_lossy(input);
    assert_eq!(scan_in_pieces(input, &[]), want, "whole: {shown:?}");
    for cut in 0..=input.len() {
        assert_eq!(
            scan_in_pieces(input, &[cut]),
            want,
            "cut at {cut}: {shown:?}"
        );
    }
    let every: Vec<usize> = (0..=input.len()).collect();
    assert_eq!(
        scan_in_pieces(input, &every),
        want,
        "byte by byte: {shown:?}"
    );
}

#[test]
fn finds_the_end_on_any_split() {
    let rows: &[(&[u8], Option<usize>)] = &[
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Some(27)),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody\r\n\r\n", Some(27)),
        (b"GET / HTTP/1.1\r\n\r\n", Some(18)),
        // Bare LF endings (httparse accepts them; parse_request then refuses them with 400).
        (b"GET / HTTP/1.1\nHost: a\n\nrest", Some(24)),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", Some(26)),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\n", Some(26)),
        (b"GET / HTTP/1.1\n\n", Some(16)),
        // Leading empty lines are skipped, not taken for the end.
        (b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Some(31)),
        (b"\n\n\nGET / HTTP/1.1\r\n\r\n", Some(21)),
        (b"\r\n\r\n", None),
        // Not there yet.
        (b"", None),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", None),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r", None),
        (b"GET / HTTP/1.1\r\nHost: a\r\r\n", None),
        // CR CR LF is not an empty line.
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\nX: y\r\n\r\n", Some(36)),
        // A status line is a start line too.
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Some(38)),
    ];
    for (input, want) in rows {
        check_end(input, *want);
    }
}

/// Where the scanner sees an end, httparse completes there or refuses the head; where it sees
/// none, httparse does not complete.
#[test]
fn agrees_with_httparse() {
    let inputs: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nnext",
        b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\n",
        b"GET / HTTP/1.1\r\nA: b\r\n\r\r\n",
        b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\nA: b\n\n",
    ];
    for &input in inputs {
        for len in 0..=input.len() {
            let buf = &input[..len];
            let end = scan_in_pieces(buf, &[]);
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let parsed = if buf.starts_with(b"HTTP") {
                httparse::Response::new(&mut headers).parse(buf)
            } else {
                httparse::Request::new(&mut headers).parse(buf)
            };
            let shown = String::from_utf8_lossy(buf);
            match (parsed, end) {
                (Ok(httparse::Status::Complete(len)), Some(end)) => {
                    assert_eq!(len, end, "{shown:?}")
                }
                (Ok(httparse::Status::Complete(_)), None) => panic!("end missed: {shown:?}"),
                (Ok(httparse::Status::Partial), Some(_)) => panic!("end too early: {shown:?}"),
                _ => {}
            }
        }
    }
}

/// The cost: a 56 KB head read one byte at a time. Each byte is examined once, and the full
/// parses add up to a small multiple of the head. Re-parsing (or re-scanning) from the first byte
/// on every read would examine about n²/2 bytes: some 1.6 billion here.
#[test]
fn a_56k_head_read_one_byte_at_a_time_costs_linear_work() {
    let head = big_request_head(56 * 1024);
    let n = head.len();
    assert!((56 * 1024 - 602..=56 * 1024).contains(&n), "{n}");
    let limits = HeadLimits::default();
    let mut reader = RequestHeadReader::new();
    let mut result = None;
    for len in 1..=n {
        match reader.poll(&head[..len], &limits) {
            Ok(Parse::Partial) => {}
            other => {
                assert_eq!(len, n, "finished early: {other:?}");
                result = Some(other);
            }
        }
    }
    let Some(Ok(Parse::Complete(parsed))) = result else {
        panic!("not complete: {result:?}");
    };
    assert_eq!(parsed.head_len, n);
    assert_eq!(parsed.headers.len(), 1 + (n - 30) / 600);
    assert_eq!(reader.scanner().examined(), n as u64, "each byte once");
    // Parses at the first byte, the end of the request line, each doubling and the end.
    let parsed_bytes = reader.parsed_bytes();
    eprintln!(
        "{n}-byte head, 1-byte reads: scanned {}, parsed {parsed_bytes}",
        reader.scanner().examined()
    );
    assert!(
        parsed_bytes <= 3 * n as u64 + 64,
        "parsed {parsed_bytes} bytes for {n}"
    );
}

#[test]
fn a_56k_response_head_read_one_byte_at_a_time_costs_linear_work() {
    let mut head = big_request_head(56 * 1024);
    head.splice(
        ..b"GET /big HTTP/1.1".len(),
        b"HTTP/1.1 200 OK!!".iter().copied(),
    );
    let n = head.len();
    let mut reader = ResponseHeadReader::new();
    for len in 1..n {
        let result = reader.poll(&head[..len], Method::Get, 64 * 1024);
        assert!(matches!(result, Ok(Parse::Partial)), "{len}: {result:?}");
    }
    let Ok(Parse::Complete(parsed)) = reader.poll(&head, Method::Get, 64 * 1024) else {
        panic!("not complete");
    };
    assert_eq!((parsed.status, parsed.head_len), (200, n));
    assert_eq!(reader.scanner().examined(), n as u64);
    assert!(
        reader.parsed_bytes() <= 3 * n as u64,
        "{}",
        reader.parsed_bytes()
    );
}

/// What a reader fed `pieces` answers, compared with parsing the whole at once.
fn outcome(buf: &[u8], result: &Result<Parse<RequestHead>, RequestError>) -> String {
    match result {
        Ok(Parse::Partial) => "partial".into(),
        Err(err) => format!("{}", err.status()),
        Ok(Parse::Complete(h)) => {
            let text = |s: Span| String::from_utf8_lossy(s.of(buf)).into_owned();
            let headers: Vec<String> = h
                .headers
                .iter()
                .map(|f| format!("{}={}", text(f.name), text(f.value)))
                .collect();
            format!(
                "{} {} {} {:?} {headers:?}",
                h.method,
                text(h.path),
                h.head_len,
                h.body
            )
        }
    }
}

fn read_byte_by_byte(input: &[u8], limits: &HeadLimits) -> (usize, String) {
    let mut reader = RequestHeadReader::new();
    for len in 1..=input.len() {
        let result = reader.poll(&input[..len], limits);
        if !matches!(result, Ok(Parse::Partial)) {
            return (len, outcome(input, &result));
        }
    }
    (input.len(), "partial".into())
}

/// Byte by byte, the reader gives what one parse of the whole gives, and refuses a bad start
/// line, a bad target length or a head at its limit as soon as the old per-read parse did.
#[test]
fn reads_byte_by_byte_like_a_whole_parse() {
    let limits = HeadLimits {
        max_head_bytes: 200,
        max_uri_bytes: 20,
        max_headers: 8,
    };
    // (input, status, after how many bytes at most).
    let rows: &[(&[u8], &str, usize)] = &[
        (
            b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET /ok 29 None [\"Host=a\"]",
            29,
        ),
        (
            b"\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\nnext",
            "GET /ok 31 None [\"Host=a\"]",
            31,
        ),
        (
            b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
            "POST /p 48 Length(3) [\"Host=a\", \"Content-Length=3\"]",
            48,
        ),
        // The request line is judged when it ends, before any field arrives.
        (b"GET / HTTP/9.9\r\nHost: a\r\n\r\n", "505", 16),
        (b"GET / FTP/1.1\r\nHost: a\r\n\r\n", "400", 15),
        (b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", "400", 2),
        // 414 as soon as the target is too long, before its line ends.
        (
            b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n",
            "414",
            26,
        ),
        // Bare LF: found by the scanner, refused by the parser.
        (b"GET / HTTP/1.1\nHost: a\n\n", "400", 24),
        // Field errors: at the latest when the head ends.
        (b"GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", "400", 35),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400", 36),
    ];
    for &(input, want, by) in rows {
        let shown = String::from_utf8_lossy(input);
        let (at, got) = read_byte_by_byte(input, &limits);
        assert_eq!(got, want, "{shown:?}");
        assert!(at <= by, "{shown:?}: answered after {at} bytes, want {by}");
        // One parse of the whole says the same.
        assert_eq!(
            outcome(input, &parse_request(input, &limits)),
            want,
            "{shown:?}"
        );
    }
}

/// A head that never ends is refused with 431 when it reaches the limit, not before.
#[test]
fn a_head_without_end_is_refused_at_the_limit() {
    let limits = HeadLimits {
        max_head_bytes: 300,
        ..HeadLimits::default()
    };
    let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    while input.len() < 400 {
        input.extend_from_slice(b"X-A: b\r\n");
    }
    let (at, got) = read_byte_by_byte(&input, &limits);
    assert_eq!((at, got.as_str()), (300, "431"));
}
