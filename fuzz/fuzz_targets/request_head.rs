//! Any bytes: parse_request never panics, and a Complete head is consistent with its buffer.
#![no_main]

use cuttle::http::{HeadLimits, Parse, RequestHead, Span, parse_request};
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
    let Ok(Parse::Complete(head)) = parse_request(buf, &limits) else {
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
