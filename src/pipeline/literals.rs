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
//! (a `.` after a digit, a sign after `e` or `E` after a digit) and a few
//! bytes around each hit; only a body with a number Go would write
//! differently (a trailing zero, an exponent, more than 15 digits) is
//! tokenised. Integers are read exactly by simd-json and need nothing.
//!
//! Numbers simd-json cannot hold as written ("wide" ones): an integer
//! beyond 64 bits (`123456789012345678901234567890`, which it refuses), an
//! exponent beyond the `f64` range (`1e400`, refused too; `1e-400`, read
//! as 0) and `-0` (read as the integer 0). lura keeps each as its `json.Number` text, so the
//! body is copied once with each such literal replaced by a stand-in
//! float of its own (a bit pattern from a per-thread counter, written in
//! Rust's shortest round-trip form, which simd-json reads back exactly),
//! kept like any literal: the writer puts the original text back,
//! wherever merging, filtering or grouping moved the value. Such a body
//! is found by the same searches: a `-0` is seen where a `-` is, a run of
//! 18 digits or more by looking at every 9th byte; an exponent of three
//! digits without a sign or a fraction (`1e400`) is looked for only after
//! simd-json refused the body, which then must hold no `\` (simd-json
//! unescapes strings in place, so the bytes after a refusal are only
//! intact without escapes).
//!
//! Limits: an exponent without a sign or a fraction (`1e5`) is rendered in
//! Go's form; two literals of one value in one response (`4.2` and `4.20`)
//! are both written as the first; a wide number is a stand-in float to
//! XML, YAML, CEL and JMESPath.

use std::cell::RefCell;

use super::gofmt;

/// The literals of one response, by value.
#[derive(Debug, Default)]
pub struct Literals {
    entries: Vec<(u64, Box<str>)>,
    /// Where the wide numbers of the body being collected are (start,
    /// end): they must be replaced before simd-json reads it.
    wide: Vec<(usize, usize)>,
}

impl Literals {
    /// Notes the number literals of `body` (JSON text, before it is
    /// parsed in place) that the writer would not render as written.
    pub fn collect(&mut self, body: &[u8]) {
        if !may_hold_floats(body) && !may_hold_wide(body) {
            return;
        }
        self.tokenise(body);
    }

    /// [`collect`](Self::collect) without the searches first: for a body
    /// simd-json refused (which may hold an unsigned exponent too large
    /// for an `f64`).
    pub fn collect_all(&mut self, body: &[u8]) {
        self.tokenise(body);
    }

    /// Whether the body collected holds numbers simd-json cannot read as
    /// written; see [`replace_wide`](Self::replace_wide).
    pub fn has_wide(&self) -> bool {
        !self.wide.is_empty()
    }

    /// `body` with each wide number replaced by a stand-in float, kept
    /// with the number's text.
    pub fn replace_wide(&mut self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 16 * self.wide.len());
        let mut from = 0;
        for (start, end) in std::mem::take(&mut self.wide) {
            out.extend_from_slice(&body[from..start]);
            let stand_in = stand_in();
            let text = format!("{stand_in:e}");
            out.extend_from_slice(text.as_bytes());
            let literal = String::from_utf8_lossy(&body[start..end]).into();
            self.entries.push((stand_in.to_bits(), literal));
            from = end;
        }
        out.extend_from_slice(&body[from..]);
        out
    }

    fn tokenise(&mut self, body: &[u8]) {
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
                    self.note(&body[start..i], start);
                }
                _ => i += 1,
            }
        }
    }

    fn note(&mut self, literal: &[u8], at: usize) {
        if !is_json_number(literal) {
            return;
        }
        if !literal.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            // An integer: simd-json holds it exactly when it fits 64 bits,
            // but reads `-0` as 0.
            if literal == b"-0" || !fits_64_bits(literal) {
                self.wide.push((at, at + literal.len()));
            }
            return;
        }
        let Some(value) = std::str::from_utf8(literal)
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
        else {
            return;
        };
        // Beyond the range (`1e400`), or below it (`1e-400` is read as 0,
        // which would make every 0.0 of the response print as it).
        let mantissa = literal.split(|b| matches!(b, b'e' | b'E')).next();
        let underflow =
            value == 0.0 && mantissa.is_some_and(|m| m.iter().any(|b| matches!(b, b'1'..=b'9')));
        if !value.is_finite() || underflow {
            self.wide.push((at, at + literal.len()));
            return;
        }
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
    pub fn extend(&mut self, mut other: Literals) {
        other.wide.clear();
        for (bits, text) in other.entries {
            if !self.entries.iter().any(|(b, _)| *b == bits) {
                self.entries.push((bits, text));
            }
        }
    }
}

/// Whether `body` may hold a number the writer would not render as
/// written: a fraction that [`plain_fraction`] cannot vouch for, a
/// signed exponent (`e+`/`e-` after a digit) or a `-0`. Both are found with SIMD
/// searches and a look at a few bytes around each hit, so a body of
/// ordinary numbers (`12`, `0.5`, `-45.6789`) is never tokenised; a string
/// that looks like a number (`"10.0.0.1"`) only costs the tokenising.
fn may_hold_floats(body: &[u8]) -> bool {
    memchr::memchr_iter(b'.', body)
        .any(|i| i > 0 && body[i - 1].is_ascii_digit() && !plain_fraction(body, i))
        || memchr::memchr2_iter(b'+', b'-', body).any(|i| {
            (i > 1 && matches!(body[i - 1], b'e' | b'E') && body[i - 2].is_ascii_digit())
                || negative_zero(body, i)
        })
}

/// Whether the `-` at `i` starts a whole `-0` (which simd-json reads as 0).
fn negative_zero(body: &[u8], i: usize) -> bool {
    body[i] == b'-'
        && body.get(i + 1) == Some(&b'0')
        && !matches!(body.get(i + 2), Some(b'0'..=b'9' | b'.' | b'e' | b'E'))
}

/// Whether `body` may hold an integer too wide for simd-json: a run of
/// 19 digits or more (beyond `i64` when negative, near `u64::MAX` when
/// not; `-0` is found by [`may_hold_floats`]). A run that long covers two
/// bytes 9 apart at multiples of 9, so only every 9th byte is looked at
/// until two such in a row are digits.
fn may_hold_wide(body: &[u8]) -> bool {
    const STRIDE: usize = 9;
    if body.len() < 19 {
        return false;
    }
    let mut previous_digit = false;
    let mut i = 0;
    while i < body.len() {
        let digit = body[i].is_ascii_digit();
        if digit && previous_digit {
            let start = body[..i]
                .iter()
                .rposition(|b| !b.is_ascii_digit())
                .map_or(0, |k| k + 1);
            let end = body[i..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .map_or(body.len(), |k| i + k);
            if end - start >= 19 {
                return true;
            }
        }
        previous_digit = digit;
        i += STRIDE;
    }
    false
}

/// Whether an integer literal fits simd-json's `i64` (negative) or
/// `u64` (not).
fn fits_64_bits(literal: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(literal) else {
        return false;
    };
    if text.starts_with('-') {
        text.parse::<i64>().is_ok()
    } else {
        text.parse::<u64>().is_ok()
    }
}

thread_local! {
    static STAND_INS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A float no backend writes in practice: a negative number near
/// -1.4e-250 whose low mantissa bits count per thread, so two wide
/// numbers of one response never share one.
fn stand_in() -> f64 {
    let n = STAND_INS.with(|c| {
        let n = c.get();
        c.set(n.wrapping_add(1));
        n
    });
    f64::from_bits(0xAC3A_5000_0000_0000 | (n & 0xFFFF_FFFF))
}

/// Whether the number whose `.` is at `dot` is written exactly as Go's
/// encoder writes its value: digits, a fraction without a trailing zero,
/// no exponent, at most 15 significant digits (so no shorter text names
/// the same `f64`, and this one does) and at least 1e-6 (below it Go
/// writes an exponent).
fn plain_fraction(body: &[u8], dot: usize) -> bool {
    let whole_start = body[..dot]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let whole = &body[whole_start..dot];
    let fraction_end = body[dot + 1..]
        .iter()
        .position(|b| !b.is_ascii_digit())
        .map_or(body.len(), |i| dot + 1 + i);
    let fraction = &body[dot + 1..fraction_end];
    if fraction.is_empty()
        || fraction.last() == Some(&b'0')
        || matches!(body.get(fraction_end), Some(b'e' | b'E'))
    {
        return false;
    }
    let significant = if whole == b"0" {
        let zeros = fraction.iter().take_while(|&&b| b == b'0').count();
        if zeros >= 6 {
            return false;
        }
        fraction.len() - zeros
    } else {
        whole.len() + fraction.len()
    };
    significant <= 15
}

/// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
/// (only such a text may be written back).
fn is_json_number(text: &[u8]) -> bool {
    fn digits(text: &[u8], i: &mut usize) -> usize {
        let start = *i;
        while *i < text.len() && text[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    }
    let mut i = usize::from(text.first() == Some(&b'-'));
    let whole = digits(text, &mut i);
    if whole == 0 || (whole > 1 && text[i - whole] == b'0') {
        return false;
    }
    if text.get(i) == Some(&b'.') {
        i += 1;
        if digits(text, &mut i) == 0 {
            return false;
        }
    }
    if matches!(text.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(text.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(text, &mut i) == 0 {
            return false;
        }
    }
    i == text.len()
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

    /// Collects, replaces wide numbers, parses and writes `body`, as
    /// `decode` does.
    fn roundtrip_wide(body: &str) -> String {
        let mut literals = Literals::default();
        literals.collect(body.as_bytes());
        let mut bytes = if literals.has_wide() {
            literals.replace_wide(body.as_bytes())
        } else {
            body.as_bytes().to_vec()
        };
        let value = simd_json::to_borrowed_value(&mut bytes).unwrap();
        with_literals(&mut literals, || to_json(&value))
    }

    #[test]
    fn wide_numbers_are_written_as_they_came() {
        let cases = [
            (
                r#"{"big":123456789012345678901234567890}"#,
                r#"{"big":123456789012345678901234567890}"#,
            ),
            (
                r#"{"n":-9223372036854775809,"u":18446744073709551616}"#,
                r#"{"n":-9223372036854775809,"u":18446744073709551616}"#,
            ),
            (r#"{"z":-0,"y":[-0,0]}"#, r#"{"y":[-0,0],"z":-0}"#),
            (
                r#"{"e":1e+400,"f":-2.5E400}"#,
                r#"{"e":1e+400,"f":-2.5E400}"#,
            ),
            (
                r#"{"u":1e-400,"z":0.0,"w":0.5e-330}"#,
                r#"{"u":1e-400,"w":0.5e-330,"z":0.0}"#,
            ),
            // Still exact in simd-json: nothing replaced.
            (
                r#"{"i":-9223372036854775808,"u":18446744073709551615}"#,
                r#"{"i":-9223372036854775808,"u":18446744073709551615}"#,
            ),
            (
                r#"{"s":"-0","d":"2024-01-02"}"#,
                r#"{"d":"2024-01-02","s":"-0"}"#,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(roundtrip_wide(body), expected, "{body}");
        }
    }

    #[test]
    fn long_digit_runs_are_found_wherever_they_start() {
        let digits = "1234567890123456789012345";
        for pad in 0..12 {
            for len in 19..digits.len() {
                let body = format!("{{\"{}\":{}}}", "k".repeat(pad), &digits[..len]);
                assert!(may_hold_wide(body.as_bytes()), "{body}");
            }
        }
        assert!(!may_hold_wide(br#"{"a":123456789012345678,"b":1}"#));
    }

    #[test]
    fn an_unsigned_huge_exponent_is_found_when_everything_is_tokenised() {
        let mut literals = Literals::default();
        literals.collect(br#"{"a":1e400}"#);
        assert!(!literals.has_wide(), "not looked for before a refusal");
        literals.collect_all(br#"{"a":1e400}"#);
        assert!(literals.has_wide());
    }

    #[test]
    fn only_json_numbers_are_kept() {
        for good in ["1.0", "-0.50", "1e+16", "1.0E-5", "0.10"] {
            assert!(is_json_number(good.as_bytes()), "{good}");
        }
        for bad in [
            "1.", ".5", "01.0", "1e", "1e+", "1.0.0", "-", "1.0e5-3", "+1.0",
        ] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn bodies_of_ordinary_numbers_are_not_tokenised() {
        assert!(!may_hold_floats(
            br#"{"id":12,"url":"example.com","d":"2024-01-02"}"#
        ));
        assert!(!may_hold_floats(
            br#"{"a":1.5,"b":[-45.6789,0.000001,123456789.012345]}"#
        ));
        for suspect in [
            &br#"{"a":1.50}"#[..],
            br#"{"a":1.0}"#,
            br#"{"a":1e-7}"#,
            br#"{"a":1.5E3}"#,
            br#"{"a":0.0000001}"#,
            br#"{"a":3.1415926535897932}"#,
            br#"{"a":1234567890.123456}"#,
        ] {
            assert!(
                may_hold_floats(suspect),
                "{}",
                String::from_utf8_lossy(suspect)
            );
        }
        let mut literals = Literals::default();
        literals.collect(br#"{"a":1.5,"b":2}"#);
        assert!(literals.is_empty(), "1.5 is written as it came");
    }
}
