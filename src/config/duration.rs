//! Go's `time.ParseDuration`, which is what KrakenD uses for every duration
//! in its configuration (`"2s"`, `"1m30s"`, `"1500ms"`, `"150us"`, `"1.5h"`).
//!
//! Same grammar, same units, same rounding (the fraction goes through an
//! `f64` exactly as in Go) and same overflow limit (an `i64` of nanoseconds).
//! Negative values are refused here because every duration in a KrakenD file
//! is a timeout or a TTL.

use std::time::Duration;

/// Units in the order Go lists them. `µs` is U+00B5 (micro sign) and `μs`
/// U+03BC (Greek mu): Go accepts both.
const UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3_600 * 1_000_000_000),
];

/// The largest duration Go can represent: `i64::MAX` nanoseconds.
const MAX_NANOS: u64 = i64::MAX as u64;

/// Why a string is not a usable duration; `Display` is the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    Empty,
    /// A character where a number was expected.
    ExpectedNumber,
    /// A number with no unit after it (`"15"`, `"1.5"`).
    MissingUnit,
    UnknownUnit(String),
    /// Larger than Go's limit of about 292 years.
    Overflow,
    /// Valid Go syntax, but below zero.
    Negative,
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DurationError::Empty => f.write_str("it is empty"),
            DurationError::ExpectedNumber => f.write_str("expected a number"),
            DurationError::MissingUnit => f.write_str("a number needs a unit"),
            DurationError::UnknownUnit(unit) => write!(
                f,
                "unknown unit \"{unit}\" (valid units: ns, us, \u{b5}s, ms, s, m, h)"
            ),
            DurationError::Overflow => f.write_str("it is too large"),
            DurationError::Negative => f.write_str("it is negative"),
        }
    }
}

/// Parses a Go duration string. `"0"` alone is allowed (no unit needed).
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let mut rest = text.as_bytes();
    let mut negative = false;
    if let Some((&sign, after)) = rest.split_first()
        && (sign == b'-' || sign == b'+')
    {
        negative = sign == b'-';
        rest = after;
    }
    if rest == b"0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let (nanos, after) = parse_component(rest)?;
        total = total.checked_add(nanos).ok_or(DurationError::Overflow)?;
        if total > MAX_NANOS {
            return Err(DurationError::Overflow);
        }
        rest = after;
    }
    if negative && total > 0 {
        return Err(DurationError::Negative);
    }
    Ok(Duration::from_nanos(total))
}

/// One `<number><unit>` component: its value in nanoseconds and what follows.
fn parse_component(text: &[u8]) -> Result<(u64, &[u8]), DurationError> {
    if !text
        .first()
        .is_some_and(|c| *c == b'.' || c.is_ascii_digit())
    {
        return Err(DurationError::ExpectedNumber);
    }
    let (whole, whole_len) = leading_int(text)?;
    let mut rest = &text[whole_len..];
    let mut fraction = Fraction::default();
    if let Some((b'.', after)) = rest.split_first() {
        fraction = leading_fraction(after);
        rest = &after[fraction.len..];
    }
    if whole_len == 0 && fraction.len == 0 {
        // "." or ".s": no digits on either side of the point.
        return Err(DurationError::ExpectedNumber);
    }
    let unit_len = rest
        .iter()
        .position(|c| *c == b'.' || c.is_ascii_digit())
        .unwrap_or(rest.len());
    if unit_len == 0 {
        return Err(DurationError::MissingUnit);
    }
    let unit_text = &rest[..unit_len];
    let unit = UNITS
        .iter()
        .find(|(name, _)| name.as_bytes() == unit_text)
        .map(|(_, nanos)| *nanos)
        .ok_or_else(|| DurationError::UnknownUnit(String::from_utf8_lossy(unit_text).into()))?;
    if whole > MAX_NANOS / unit {
        return Err(DurationError::Overflow);
    }
    let mut nanos = whole * unit;
    if fraction.value > 0 {
        // Go computes this in floating point and truncates; so do we.
        nanos += (fraction.value as f64 * (unit as f64 / fraction.scale)) as u64;
        if nanos > MAX_NANOS {
            return Err(DurationError::Overflow);
        }
    }
    Ok((nanos, &rest[unit_len..]))
}

/// The leading decimal digits as an integer, and how many bytes they took.
fn leading_int(text: &[u8]) -> Result<(u64, usize), DurationError> {
    let len = text.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut value: u64 = 0;
    for digit in &text[..len] {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
            .filter(|v| *v <= MAX_NANOS)
            .ok_or(DurationError::Overflow)?;
    }
    Ok((value, len))
}

#[derive(Default)]
struct Fraction {
    value: u64,
    /// `10^(digits kept)`.
    scale: f64,
    /// Bytes consumed, including digits dropped for precision.
    len: usize,
}

/// Digits after the decimal point. Like Go, digits that would overflow are
/// consumed but ignored.
fn leading_fraction(text: &[u8]) -> Fraction {
    let mut fraction = Fraction {
        value: 0,
        scale: 1.0,
        len: 0,
    };
    let mut overflowed = false;
    for digit in text.iter().take_while(|c| c.is_ascii_digit()) {
        fraction.len += 1;
        if overflowed {
            continue;
        }
        match fraction
            .value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
            .filter(|v| *v <= MAX_NANOS)
        {
            Some(next) => {
                fraction.value = next;
                fraction.scale *= 10.0;
            }
            None => overflowed = true,
        }
    }
    fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    #[test]
    fn accepts_go_syntax() {
        let table: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("-0s", Duration::ZERO),
            ("2s", Duration::from_secs(2)),
            ("+2s", Duration::from_secs(2)),
            ("1500ms", Duration::from_millis(1500)),
            ("1m30s", Duration::from_secs(90)),
            ("1h2m3s4ms5us6ns", ns(3_723_004_005_006)),
            ("10\u{b5}s", Duration::from_micros(10)),
            ("10\u{3bc}s", Duration::from_micros(10)),
            ("150us", Duration::from_micros(150)),
            ("30ns", ns(30)),
            ("1.5h", Duration::from_secs(5400)),
            ("1.5s", Duration::from_millis(1500)),
            (".5s", Duration::from_millis(500)),
            ("5.s", Duration::from_secs(5)),
            ("1.0000000001s", ns(1_000_000_000)),
            ("3600s", Duration::from_secs(3600)),
            ("1s1s", Duration::from_secs(2)),
            ("9223372036854775807ns", ns(9_223_372_036_854_775_807)),
            ("2562047h", Duration::from_secs(2_562_047 * 3600)),
        ];
        for (text, expected) in table {
            assert_eq!(parse_go_duration(text), Ok(*expected), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses_and_negatives() {
        use DurationError::*;
        let table: &[(&str, DurationError)] = &[
            ("", Empty),
            ("-", Empty),
            ("15", MissingUnit),
            ("00", MissingUnit),
            ("1.5", MissingUnit),
            ("1s5", MissingUnit),
            ("s", ExpectedNumber),
            (".s", ExpectedNumber),
            (".", ExpectedNumber),
            (" 1s", ExpectedNumber),
            ("1s ", UnknownUnit("s ".into())),
            ("15 seconds", UnknownUnit(" seconds".into())),
            ("2sec", UnknownUnit("sec".into())),
            ("1d", UnknownUnit("d".into())),
            ("1S", UnknownUnit("S".into())),
            ("9223372036854775808ns", Overflow),
            ("2562048h", Overflow),
            ("99999999999999999999s", Overflow),
            ("-1s", Negative),
            ("-1.5h", Negative),
        ];
        for (text, expected) in table {
            assert_eq!(parse_go_duration(text).as_ref(), Err(expected), "{text}");
        }
    }
}
