//! Number literals kept as the backend wrote them. lura decodes JSON with
//! `UseNumber` (`encoding/encoding.go`), so a number stays a `json.Number`,
//! its text, and is written back as it came: `4.20` stays `4.20`, `1.0`
//! stays `1.0`. simd-json reads a number with a fraction or an exponent
//! into an `f64`, which the writer would render in Go's shortest form
//! (`4.2`, `1`).
//!
//! Before a body is parsed, [`Literals::collect`] looks for such literals;
//! those whose text differs from how the writer renders their value are
//! kept, keyed by the value's bits, and [`with_literals`] makes the JSON
//! writer use them. The look costs two `memchr` passes over the body
//! (a `.` after a digit, a sign after `e` or `E` after a digit); only a
//! body where they find something is tokenised. Integers are read exactly
//! by simd-json and need nothing.
//!
//! Limits: an integer too large for 64 bits or an exponent beyond the
//! `f64` range (`1e400`) still fails the body (simd-json refuses it);
//! `-0` is written `0`; an exponent without a sign or a fraction (`1e5`)
//! is not looked for (encoders write `1e+21` or `1.0E5`); two literals of
//! one value in one response (`4.2` and `4.20`) are both written as the
//! first.

use std::cell::RefCell;

use super::gofmt;

/// The literals of one response, by value.
#[derive(Debug, Default)]
pub struct Literals {
    entries: Vec<(u64, Box<str>)>,
}

impl Literals {
    /// Notes the number literals of `body` (JSON text, before it is
    /// parsed in place) that the writer would not render as written.
    pub fn collect(&mut self, body: &[u8]) {
        if !may_hold_floats(body) {
            return;
        }
        let mut i = 0;
        while i < body.len() {
            match body[i] {
                b'"' => i = after_string(body, i + 1),
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    i += 1;
                    while i < body.len()
                        && matches!(body[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                    {
                        i += 1;
                    }
                    self.note(&body[start..i]);
                }
                _ => i += 1,
            }
        }
    }

    fn note(&mut self, literal: &[u8]) {
        if !literal.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            return;
        }
        let Some(value) = std::str::from_utf8(literal)
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .filter(|v| v.is_finite())
        else {
            return;
        };
        let mut rendered = Vec::with_capacity(24);
        gofmt::json_float(value, &mut rendered);
        let bits = value.to_bits();
        if rendered != literal && !self.entries.iter().any(|(b, _)| *b == bits) {
            // `literal` is ASCII: digits, signs, `.`, `e`.
            let text = String::from_utf8_lossy(literal).into();
            self.entries.push((bits, text));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `other`'s literals (a sequence's backends, one response).
    pub fn extend(&mut self, other: Literals) {
        for (bits, text) in other.entries {
            if !self.entries.iter().any(|(b, _)| *b == bits) {
                self.entries.push((bits, text));
            }
        }
    }
}

/// Whether `body` may hold a number with a fraction (a `.` after a digit)
/// or a signed exponent (`e+`/`e-` after a digit). Both are cheap SIMD
/// searches; a string that looks so (`v1.2`) only costs the tokenising.
fn may_hold_floats(body: &[u8]) -> bool {
    memchr::memchr_iter(b'.', body).any(|i| i > 0 && body[i - 1].is_ascii_digit())
        || memchr::memchr2_iter(b'+', b'-', body)
            .any(|i| i > 1 && matches!(body[i - 1], b'e' | b'E') && body[i - 2].is_ascii_digit())
}

/// The index after the string whose text starts at `i`.
fn after_string(body: &[u8], mut i: usize) -> usize {
    while let Some(k) = memchr::memchr2(b'"', b'\\', &body[i.min(body.len())..]) {
        if body[i + k] == b'\\' {
            i += k + 2;
        } else {
            return i + k + 1;
        }
    }
    body.len()
}

thread_local! {
    /// The literals of the response being written on this thread (see
    /// [`with_literals`]); empty outside of it.
    static CURRENT: RefCell<Literals> = RefCell::new(Literals::default());
}

/// Runs `write` (which renders one response, synchronously) with the JSON
/// writer using `literals`.
pub fn with_literals<R>(literals: &mut Literals, write: impl FnOnce() -> R) -> R {
    if literals.is_empty() {
        return write();
    }
    CURRENT.with(|current| std::mem::swap(&mut *current.borrow_mut(), literals));
    let result = write();
    CURRENT.with(|current| std::mem::swap(&mut *current.borrow_mut(), literals));
    result
}

/// Writes `value` as the literal it was read from, when one was kept.
pub(crate) fn write_kept(value: f64, out: &mut Vec<u8>) -> bool {
    CURRENT.with(|current| {
        let Ok(current) = current.try_borrow() else {
            return false;
        };
        let bits = value.to_bits();
        match current.entries.iter().find(|(b, _)| *b == bits) {
            Some((_, text)) => {
                out.extend_from_slice(text.as_bytes());
                true
            }
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::to_json;

    /// Collects, parses and writes `body` as the proxy does.
    fn roundtrip(body: &str) -> String {
        let mut literals = Literals::default();
        literals.collect(body.as_bytes());
        let mut bytes = body.as_bytes().to_vec();
        let value = simd_json::to_borrowed_value(&mut bytes).unwrap();
        with_literals(&mut literals, || to_json(&value))
    }

    #[test]
    fn literals_are_written_as_they_came() {
        let cases = [
            (r#"{"a":4.20}"#, r#"{"a":4.20}"#),
            (
                r#"{"a":1.0,"b":[0.50,-0.0]}"#,
                r#"{"a":1.0,"b":[0.50,-0.0]}"#,
            ),
            (r#"{"a":1.0E-5,"b":1e+16}"#, r#"{"a":1.0E-5,"b":1e+16}"#),
            (
                r#"{"pi":3.141592653589793238}"#,
                r#"{"pi":3.141592653589793238}"#,
            ),
            (
                r#"{"a":1.5,"b":12345678901234567890}"#,
                r#"{"a":1.5,"b":12345678901234567890}"#,
            ),
            (r#"{"v":"1.50","n":2.50}"#, r#"{"n":2.50,"v":"1.50"}"#),
            (r#"{"s":"a\"1.0","n":7}"#, r#"{"n":7,"s":"a\"1.0"}"#),
        ];
        for (body, expected) in cases {
            assert_eq!(roundtrip(body), expected, "{body}");
        }
    }

    #[test]
    fn bodies_without_floats_are_not_tokenised() {
        assert!(!may_hold_floats(
            br#"{"id":12,"url":"example.com","d":"2024-01-02"}"#
        ));
        assert!(may_hold_floats(br#"{"a":1.5}"#));
        assert!(may_hold_floats(br#"{"a":1e-7}"#));
        let mut literals = Literals::default();
        literals.collect(br#"{"a":1.5,"b":2}"#);
        assert!(literals.is_empty(), "1.5 is written as it came");
    }
}
