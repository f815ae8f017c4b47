//! Field-value helpers shared by request and response framing (RFC 9110 §5.6, RFC 9112 §6).

/// Trims optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends.
pub(crate) fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// Non-empty elements of a comma-separated list, trimmed (RFC 9110 §5.6.1: empty elements are ignored).
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// Does a comma-separated list (e.g. a `Connection` value) contain `token`, ignoring case?
pub(crate) fn list_contains(value: &[u8], token: &[u8]) -> bool {
    list_elements(value).any(|e| e.eq_ignore_ascii_case(token))
}

/// `Content-Length = 1*DIGIT` (RFC 9110 §8.6): no sign, no spaces inside, no overflow.
pub(crate) fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// What a sequence of `Transfer-Encoding` values says about framing (RFC 9112 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codings {
    /// Only `chunked`, exactly once, last.
    Chunked,
    /// The final coding is not `chunked` (or there is no coding at all).
    ChunkedNotLast,
    /// `chunked` appears more than once (RFC 9112 §7: MUST NOT be applied twice).
    ChunkedTwice,
    /// A coding other than `chunked` (gzip, deflate, ...) which we do not implement.
    Unsupported,
}

/// Classifies the concatenation of all `Transfer-Encoding` field values, in order.
pub(crate) fn classify_codings<'a>(values: impl Iterator<Item = &'a [u8]>) -> Codings {
    let (mut chunked_seen, mut last_is_chunked, mut other_seen) = (0usize, false, false);
    for coding in values.flat_map(list_elements) {
        last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
        if last_is_chunked {
            chunked_seen += 1;
        } else {
            other_seen = true;
        }
    }
    if !last_is_chunked {
        Codings::ChunkedNotLast
    } else if other_seen {
        Codings::Unsupported
    } else if chunked_seen > 1 {
        Codings::ChunkedTwice
    } else {
        Codings::Chunked
    }
}

/// RFC 9110 §5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `x-SOME-thing` is
/// `X-Some-Thing`. Names with bytes outside a token are left as they are.
pub fn canonical_header(name: &[u8]) -> String {
    if !name.iter().all(|&b| is_tchar(b)) {
        return String::from_utf8_lossy(name).into_owned();
    }
    let mut upper = true;
    name.iter()
        .map(|&b| {
            let c = if upper {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            };
            upper = b == b'-';
            c as char
        })
        .collect()
}

/// RFC 9110 §5.5 field-value bytes: HTAB, SP, VCHAR, obs-text (no CR, LF, NUL or other CTLs).
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// Whether every byte of `value` is a field-value byte ([`is_field_value_byte`]).
///
/// Eight bytes at a time: a word with no byte below 0x20 and none equal to
/// 0x7F is all valid (bytes of 0x80 and above are obs-text, valid); a word
/// that has one (often just an HTAB) is checked byte by byte.
pub(crate) fn are_field_value_bytes(value: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Nonzero exactly when some byte of `x` is below `n` (n <= 0x80): a
    // borrow starts only at such a byte.
    let has_below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS != 0;
    let mut words = value.chunks_exact(8);
    for word in words.by_ref() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let x = u64::from_ne_bytes(bytes);
        let suspect = has_below(x, 0x20) || has_below(x ^ (ONES * 0x7F), 1);
        if suspect && !word.iter().all(|&b| is_field_value_byte(b)) {
            return false;
        }
    }
    words.remainder().iter().all(|&b| is_field_value_byte(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_value_words_agree_with_bytes() {
        // Every byte value, at every position of a word and in the tail.
        for bad in 0..=255u8 {
            for at in 0..19 {
                let mut value = b"text/html; q=0.9 \xff\x80ab".to_vec();
                value[at] = bad;
                let want = value.iter().all(|&b| is_field_value_byte(b));
                assert_eq!(are_field_value_bytes(&value), want, "{bad:#x} at {at}");
            }
        }
        assert!(are_field_value_bytes(b""));
        assert!(are_field_value_bytes(b"a\tb"));
        assert!(!are_field_value_bytes(b"a\x7fb"));
    }

    #[test]
    fn content_length_rows() {
        let rows: &[(&[u8], Option<u64>)] = &[
            (b"0", Some(0)),
            (b"42", Some(42)),
            (b"007", Some(7)),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
            (b"", None),
            (b"+5", None),
            (b"-5", None),
            (b"5 5", None),
            (b"5,5", None),
            (b"0x10", None),
        ];
        for (input, want) in rows {
            assert_eq!(
                parse_content_length(input),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn coding_rows() {
        let rows: &[(&[&[u8]], Codings)] = &[
            (&[b"chunked"], Codings::Chunked),
            (&[b"Chunked"], Codings::Chunked),
            (&[b" , chunked ,"], Codings::Chunked),
            (&[b"gzip, chunked"], Codings::Unsupported),
            (&[b"gzip", b"chunked"], Codings::Unsupported),
            (&[b"chunked, gzip"], Codings::ChunkedNotLast),
            (&[b"chunked", b"identity"], Codings::ChunkedNotLast),
            (&[b""], Codings::ChunkedNotLast),
            (&[b"chunked, chunked"], Codings::ChunkedTwice),
            (&[b"chunked;q=1"], Codings::ChunkedNotLast),
        ];
        for (values, want) in rows {
            assert_eq!(
                classify_codings(values.iter().copied()),
                *want,
                "{values:?}"
            );
        }
    }

    #[test]
    fn list_rows() {
        let rows: &[(&[u8], &[u8], bool)] = &[
            (b"close", b"close", true),
            (b"Keep-Alive, CLOSE", b"close", true),
            (b" foo ,\tbar\t", b"bar", true),
            (b"closed", b"close", false),
            (b"", b"close", false),
        ];
        for (value, token, want) in rows {
            assert_eq!(list_contains(value, token), *want, "{value:?} {token:?}");
        }
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b" \t "), b"");
    }
}
