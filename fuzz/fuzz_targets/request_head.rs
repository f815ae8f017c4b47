//! Any bytes: parse_request never panics, and a Complete head is consistent with its buffer.
//! The incremental reader (the head scanner) fed the same bytes in pieces gives what one parse of
//! the whole gives, at a cost linear in the bytes.
#![no_main]

use cuttle::http::{
    HeadLimits, Parse, RequestError, RequestHead, RequestHeadReader, Span, parse_request,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks tight limits half of the time, so the limit paths get exercised too.
    let (limits, buf) = match data.split_first() {
        Some((&b, rest)) if b & 1 == 1 => {
            let limits = HeadLimits {
                max_head_bytes: usize::from(b) * 2,
                max_uri_bytes: usize::from(b >> 2),
                max_headers: usize::from(b >> 5),
            };
            (limits, rest)
        }
        _ => (HeadLimits::default(), data),
    };
    let whole = parse_request(buf, &limits);
    check_incremental(buf, &limits, &whole);
    let Ok(Parse::Complete(head)) = whole else {
        return;
    };
    check_head(buf, &limits, &head);

    // The head alone parses the same, and every shorter prefix just asks for more.
    let exact = buf.get(..head.head_len).expect("head_len within buffer");
    match parse_request(exact, &limits) {
        Ok(Parse::Complete(again)) => assert_eq!(again.head_len, head.head_len),
        other => panic!("head alone did not parse: {other:?}"),
    }
    let cut = usize::from(buf.first().copied().unwrap_or(0)) % head.head_len;
    let prefix = buf.get(..cut).expect("cut < head_len");
    assert!(
        matches!(parse_request(prefix, &limits), Ok(Parse::Partial)),
        "prefix of {cut}"
    );
});

fn check_head(buf: &[u8], limits: &HeadLimits, head: &RequestHead) {
    assert!(head.head_len <= buf.len() && head.head_len <= limits.max_head_bytes);
    assert!(head.headers.len() <= limits.max_headers);
    assert!(head.minor_version <= 1);
    let in_head = |s: Span| s.start <= s.end && s.end as usize <= head.head_len;
    assert!(in_head(head.path));
    assert!(head.path.of(buf).starts_with(b"/") || head.path.of(buf) == b"*");
    assert!(head.query.is_none_or(in_head));
    assert!(head.host.is_none_or(in_head));
    for h in &head.headers {
        assert!(in_head(h.name) && in_head(h.value) && !h.name.is_empty());
        let value = h.value.of(buf);
        assert!(!value.starts_with(b" ") && !value.ends_with(b" "));
        assert!(!value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
    }
}

/// Feeds `buf` to a [`RequestHeadReader`] in pieces, as a connection would after each read:
/// whole, cut in two at a point the input chooses, in pieces whose sizes the bytes choose, and
/// byte by byte. Each must end as the one-shot parse of the whole did: the same head, Partial,
/// or an error (which, while the head has neither ended nor reached the limit, may still be
/// waiting for the reader's next full parse).
fn check_incremental(
    buf: &[u8],
    limits: &HeadLimits,
    whole: &Result<Parse<RequestHead>, RequestError>,
) {
    let len = buf.len();
    let cut = usize::from(buf.last().copied().unwrap_or(0)).wrapping_mul(257) % (len + 1);
    let mut by_bytes = Vec::new();
    let mut at = 0;
    while at < len {
        at += usize::from(buf.get(at).copied().unwrap_or(0) % 16) + 1;
        by_bytes.push(at.min(len));
    }
    let every: Vec<usize> = (1..=len).collect();
    for cuts in [vec![len], vec![cut, len], by_bytes, every] {
        let mut reader = RequestHeadReader::new();
        let mut result = Ok(Parse::Partial);
        for &end in &cuts {
            result = reader.poll(buf.get(..end).expect("cut within buffer"), limits);
            if !matches!(result, Ok(Parse::Partial)) {
                break;
            }
        }
        match (whole, &result) {
            (Ok(Parse::Complete(a)), Ok(Parse::Complete(b))) => {
                assert_eq!(describe(buf, a), describe(buf, b), "cuts {cuts:?}");
                assert_eq!(reader.scanner().end(), Some(a.head_len), "scanner end");
            }
            (Ok(Parse::Partial), Ok(Parse::Partial)) | (Err(_), Err(_)) => {}
            // An error in a head that is still arriving waits for the next full parse (the
            // end of the head, a doubling, the limit), so a reader may still say Partial then.
            (Err(_), Ok(Parse::Partial))
                if reader.scanner().end().is_none() && len < limits.max_head_bytes => {}
            (a, b) => panic!("one parse: {a:?}, in pieces {cuts:?}: {b:?}"),
        }
        let window = len.min(limits.max_head_bytes) as u64;
        assert!(reader.scanner().examined() <= window);
        let parsed = reader.parsed_bytes();
        assert!(parsed <= 4 * window.max(1), "parsed {parsed} of {len} bytes");
    }
}

fn describe(buf: &[u8], h: &RequestHead) -> String {
    let fields: Vec<(&[u8], &[u8])> =
        h.headers.iter().map(|f| (f.name.of(buf), f.value.of(buf))).collect();
    format!(
        "{:?} {:?} {:?} {:?} {} {:?} {} {} {:?} {fields:?}",
        h.method,
        h.path.of(buf),
        h.query.map(|q| q.of(buf)),
        h.minor_version,
        h.head_len,
        h.body,
        h.keep_alive,
        h.expect_continue,
        h.host.map(|s| s.of(buf)),
    )
}
