//! Loosely typed values in lura's own fields, read as KrakenD reads them.
//!
//! KrakenD CE parses the file with krakend-koanf (`parser.go`), which
//! decodes the root, endpoint and backend fields with koanf's
//! `UnmarshalWithConf` defaults: mapstructure with `WeaklyTypedInput` and
//! `StringToTimeDurationHookFunc` (knadh/koanf `koanf.go`). mapstructure's
//! weak rules (go-viper/mapstructure `decodeBool`, `decodeInt`,
//! `decodeString`, `decodeSlice`), which these deserialisers follow:
//!
//! - a boolean may be a number (non-zero is true) or a string as Go's
//!   `strconv.ParseBool` reads it (`"1"`, `"t"`, `"TRUE"`, `"false"`...;
//!   `""` is false);
//! - a whole number may be a float (truncated), a boolean (1/0) or a string
//!   as `strconv.ParseInt(s, 0, 64)` reads it (`"8080"`, `"0x1F"`, `"1_000"`;
//!   `"010"` is octal 8; `""` is 0);
//! - a string may be a boolean (`"1"`/`"0"`) or a number (`8080` is `"8080"`);
//! - a list may be a single value (`"host": "http://a:8000"` is a list of one).
//!
//! The `tls` and `client_tls` blocks are lura structs too, read from JSON
//! values by `tls.rs` with `value_bool` and `value_strings`: a string
//! `"enable_mtls": "true"` must turn mTLS on, as in KrakenD, not be read
//! as "not true".
//!
//! `extra_config` namespaces are not decoded this way: each component reads
//! its own block with `encoding/json` or Go type assertions, neither of
//! which converts types, so their raw structs stay strict.
//!
//! One deliberate difference: a duration given as a bare number is read by
//! KrakenD as nanoseconds (`"timeout": 3000` is 3 µs); cuttle accepts only
//! `0` that way and refuses other numbers, naming the unit to write.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use serde_json::Value;

use super::duration::parse_go_duration;
use super::error::{BuildResult, Problem};
use super::raw::GoDuration;

pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Option::<WeakBool>::deserialize(d)?.map(|b| b.0))
}

/// A whole number that must fit `T` (e.g. `u16` for `port`).
pub fn int<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    match Option::<WeakInt>::deserialize(d)? {
        None => Ok(None),
        Some(WeakInt(n)) => T::try_from(n).map(Some).map_err(|_| {
            de::Error::custom(format_args!(
                "{n} is out of range for this setting ({} to {})",
                min_of::<T>(),
                max_of::<T>()
            ))
        }),
    }
}

pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<WeakString>::deserialize(d)?.map(|s| s.0))
}

/// A list of strings, or one value standing for a list of one.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Option::<OneOrMany<WeakString>>::deserialize(d)?
        .map(|list| list.0.into_iter().map(|s| s.0).collect()))
}

/// A list of objects (`endpoints`, `backend`), or one object standing for a
/// list of one.
pub fn list<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<OneOrMany<T>>::deserialize(d)?.map(|list| list.0))
}

/// `mapping`: string values may be numbers or booleans.
pub fn string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    Ok(Option::<BTreeMap<String, WeakString>>::deserialize(d)?
        .map(|map| map.into_iter().map(|(k, v)| (k, v.0)).collect()))
}

/// A Go duration string; a bare number only when it is 0 ("not set").
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GoDuration>, D::Error> {
    Ok(Option::<WeakDuration>::deserialize(d)?.map(|w| w.0))
}

/// A duration that may be negative (`dialer_keep_alive`, where Go reads a
/// negative value as "off"): `(negative, magnitude)`.
pub fn signed_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<(bool, GoDuration)>, D::Error> {
    let Some(value) = Option::<Value>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(rest) = value.as_str().and_then(|text| text.strip_prefix('-')) {
        return parse_go_duration(rest)
            .map(|d| Some((!d.is_zero(), GoDuration(d))))
            .map_err(de::Error::custom);
    }
    WeakDuration::deserialize(value)
        .map(|w| Some((false, w.0)))
        .map_err(de::Error::custom)
}

/// The same rules for the lura blocks read as JSON values (`tls`,
/// `client_tls`): a boolean, `false` when absent or null.
pub fn value_bool(value: Option<&Value>, at: &str) -> BuildResult<bool> {
    match value {
        None => Ok(false),
        Some(value) => bool(value)
            .map(|b| b.unwrap_or(false))
            .map_err(|error| Problem::new(at, error.to_string())),
    }
}

/// A list of strings (or one string), empty when absent or null.
pub fn value_strings(value: Option<&Value>, at: &str) -> BuildResult<Vec<String>> {
    match value {
        None => Ok(Vec::new()),
        Some(value) => strings(value)
            .map(Option::unwrap_or_default)
            .map_err(|error| Problem::new(at, error.to_string())),
    }
}

/// The smallest and largest `i64` that fit `T`, for messages.
fn min_of<T: TryFrom<i64>>() -> i64 {
    if T::try_from(-1).is_ok() {
        // Signed: halve towards the bottom until it fits.
        let mut n = i64::MIN;
        while T::try_from(n).is_err() {
            n /= 2;
        }
        n
    } else {
        0
    }
}

fn max_of<T: TryFrom<i64>>() -> i64 {
    let mut n = i64::MAX;
    while T::try_from(n).is_err() {
        n /= 2;
    }
    n
}

struct WeakBool(bool);

impl<'de> Deserialize<'de> for WeakBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WeakBoolVisitor).map(WeakBool)
    }
}

struct WeakBoolVisitor;

impl Visitor<'_> for WeakBoolVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean (true or false)")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        Ok(v != 0)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        Ok(v != 0)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        Ok(v != 0.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        go_parse_bool(v).ok_or_else(|| {
            E::custom(format_args!(
                "\"{v}\" is not a boolean; write true or false"
            ))
        })
    }
}

/// Go's `strconv.ParseBool`, plus mapstructure's empty string (false).
/// Also what `KRAKEND_*` variables are read with (`env.rs`).
pub(super) fn go_parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

struct WeakInt(i64);

impl<'de> Deserialize<'de> for WeakInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WeakIntVisitor).map(WeakInt)
    }
}

struct WeakIntVisitor;

impl Visitor<'_> for WeakIntVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<i64, E> {
        Ok(i64::from(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format_args!("{v} is too large")))
    }

    /// mapstructure converts a float to an integer by truncation.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        let whole = v.trunc();
        if whole.is_finite() && whole >= i64::MIN as f64 && whole < i64::MAX as f64 {
            Ok(whole as i64)
        } else {
            Err(E::custom(format_args!("{v} is too large")))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        go_parse_int(v).ok_or_else(|| {
            E::custom(format_args!(
                "\"{v}\" is not a whole number; write e.g. 8 or \"8\""
            ))
        })
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` after mapstructure's `""` -> 0: an
/// optional sign, then `0x`/`0o`/`0b` or a leading `0` (octal) choose the
/// base, and `_` may separate digits.
pub(super) fn go_parse_int(text: &str) -> Option<i64> {
    if text.is_empty() {
        return Some(0);
    }
    let (negative, unsigned) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    if !underscores_ok(digits, prefixed) {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if clean.is_empty() || clean.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(&clean, radix).ok()?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's `underscoreOK`: each `_` sits between two digits, or right after a
/// base prefix and before a digit.
fn underscores_ok(digits: &str, prefixed: bool) -> bool {
    let bytes = digits.as_bytes();
    bytes.iter().enumerate().all(|(i, c)| {
        if *c != b'_' {
            return true;
        }
        let before = if i == 0 {
            prefixed
        } else {
            bytes[i - 1] != b'_'
        };
        let after = bytes.get(i + 1).is_some_and(|n| *n != b'_');
        before && after
    })
}

struct WeakString(String);

impl<'de> Deserialize<'de> for WeakString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WeakStringVisitor).map(WeakString)
    }
}

struct WeakStringVisitor;

impl Visitor<'_> for WeakStringVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(if v { "1" } else { "0" }.to_owned())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    /// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: Rust's `Display` also
    /// writes the shortest digits that read back, without an exponent.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

struct WeakDuration(GoDuration);

impl<'de> Deserialize<'de> for WeakDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WeakDurationVisitor).map(WeakDuration)
    }
}

struct WeakDurationVisitor;

impl WeakDurationVisitor {
    /// KrakenD (mapstructure into a `time.Duration`) reads a bare number
    /// as nanoseconds: so does cuttle, and `bare_duration_numbers` warns
    /// about each one, since it is rarely what the author meant.
    fn number<E: de::Error>(text: impl fmt::Display, nanos: Option<u64>) -> Result<GoDuration, E> {
        nanos
            .map(|n| GoDuration(std::time::Duration::from_nanos(n)))
            .ok_or_else(|| {
                E::custom(format_args!(
                    "{text} is not a duration: write it as a string with its unit, e.g. \"{text}ms\" or \"{text}s\""
                ))
            })
    }
}

impl Visitor<'_> for WeakDurationVisitor {
    type Value = GoDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string in Go syntax, e.g. \"15s\" or \"1500ms\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
        GoDuration::deserialize(de::value::StrDeserializer::<E>::new(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoDuration, E> {
        Self::number(v, u64::try_from(v).ok())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoDuration, E> {
        Self::number(v, Some(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<GoDuration, E> {
        let whole = v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64;
        Self::number(v, whole.then_some(v as u64))
    }
}

/// The duration keys of the root and of each endpoint that `raw.rs` reads
/// with [`duration`].
const ROOT_DURATIONS: [&str; 13] = [
    "timeout",
    "cache_ttl",
    "read_timeout",
    "write_timeout",
    "idle_timeout",
    "read_header_timeout",
    "dialer_timeout",
    "max_shutdown_wait_time",
    "response_header_timeout",
    "idle_connection_timeout",
    "dialer_keep_alive",
    "expect_continue_timeout",
    "dialer_fallback_delay",
];
const ENDPOINT_DURATIONS: [&str; 2] = ["timeout", "cache_ttl"];

/// A warning for every duration written as a bare number other than 0,
/// which KrakenD and cuttle read as nanoseconds (`"timeout": 3000` is
/// 3 µs: every call times out).
pub fn bare_duration_numbers(document: &serde_json::Value) -> Vec<Problem> {
    let mut found = Vec::new();
    let mut look = |object: &serde_json::Value, keys: &[&str], parent: &str| {
        for key in keys {
            if let Some(n) = object.get(*key).filter(|v| v.is_number())
                && n.as_f64() != Some(0.0)
            {
                found.push(Problem::new(
                    format!("{parent}{key}"),
                    format!(
                        "{n} has no unit: read as {n} nanoseconds, as KrakenD reads it; write the duration as a string with its unit, e.g. \"{n}ms\" or \"{n}s\""
                    ),
                ));
            }
        }
    };
    look(document, &ROOT_DURATIONS, "");
    if let Some(endpoints) = document.get("endpoints").and_then(|e| e.as_array()) {
        for (index, endpoint) in endpoints.iter().enumerate() {
            look(
                endpoint,
                &ENDPOINT_DURATIONS,
                &format!("endpoints[{index}]."),
            );
        }
    }
    found
}

/// mapstructure's weak slices: a list, or a single value lifted into one.
struct OneOrMany<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOrManyVisitor(PhantomData))
            .map(OneOrMany)
    }
}

struct OneOrManyVisitor<T>(PhantomData<T>);

impl<T> OneOrManyVisitor<T> {
    fn one<'de, E: de::Error>(self, d: impl Deserializer<'de, Error = E>) -> Result<Vec<T>, E>
    where
        T: Deserialize<'de>,
    {
        T::deserialize(d).map(|one| vec![one])
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(items)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
        self.one(de::value::MapAccessDeserializer::new(map))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<T>, E> {
        self.one(de::value::StrDeserializer::<E>::new(v))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Vec<T>, E> {
        self.one(de::value::BoolDeserializer::<E>::new(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Vec<T>, E> {
        self.one(de::value::I64Deserializer::<E>::new(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Vec<T>, E> {
        self.one(de::value::U64Deserializer::<E>::new(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Vec<T>, E> {
        self.one(de::value::F64Deserializer::<E>::new(v))
    }
}

#[cfg(test)]
mod tests {
    use super::go_parse_int;

    #[test]
    fn parses_integers_as_go_parse_int_base_0() {
        let table: &[(&str, Option<i64>)] = &[
            ("", Some(0)),
            ("0", Some(0)),
            ("8080", Some(8080)),
            ("+3", Some(3)),
            ("-3", Some(-3)),
            ("010", Some(8)),
            ("0x1F", Some(31)),
            ("0X1f", Some(31)),
            ("0o17", Some(15)),
            ("0b101", Some(5)),
            ("1_000", Some(1000)),
            ("0x_1F", Some(31)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("1.5", None),
            (" 1", None),
            ("1 ", None),
            ("_1", None),
            ("1__0", None),
            ("1_", None),
            ("08", None),
            ("0x", None),
            ("--1", None),
            ("+-1", None),
            ("abc", None),
        ];
        for (text, expected) in table {
            assert_eq!(go_parse_int(text), *expected, "{text:?}");
        }
    }
}
