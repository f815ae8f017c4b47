//! Any bytes: parse_response never panics, and a Complete head is consistent with its buffer.
#![no_main]

use cuttle::http::{Method, Parse, ResponseBody, Span, parse_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [selector, buf @ ..] = data else { return };
    let method = Method::ALL[usize::from(*selector) % Method::ALL.len()];
    let max_head = if selector & 0x80 != 0 {
        usize::from(*selector)
    } else {
        64 * 1024
    };
    let Ok(Parse::Complete(head)) = parse_response(buf, method, max_head) else {
        return;
    };
    assert!(head.head_len <= buf.len() && head.head_len <= max_head);
    assert!((100..=999).contains(&head.status));
    let in_head = |s: Span| s.start <= s.end && s.end as usize <= head.head_len;
    for h in &head.headers {
        assert!(in_head(h.name) && in_head(h.value));
    }
    if head.body == ResponseBody::UntilClose {
        assert!(!head.keep_alive);
    }
    if method == Method::Head || head.status == 204 || head.status == 304 || head.status < 200 {
        assert_eq!(head.body, ResponseBody::Empty);
    }
    let exact = buf.get(..head.head_len).expect("head_len within buffer");
    assert!(
        matches!(parse_response(exact, method, max_head), Ok(Parse::Complete(h)) if h.head_len == head.head_len)
    );
});
