//! Small writers shared by the log formats: UTC timestamps, Go's duration
//! text, quoted and JSON-escaped strings. They append to a
//! buffer and allocate nothing else.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::civil_from_days;

/// A wall-clock instant split into UTC fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: u64,
    pub month: u32,
    pub day: u32,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
    pub millis: u32,
}

impl Utc {
    pub fn now() -> Utc {
        Utc::at(SystemTime::now())
    }

    pub fn at(time: SystemTime) -> Utc {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let (year, month, day) = civil_from_days(secs / 86_400);
        let of_day = secs % 86_400;
        Utc {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
            millis: since.subsec_millis(),
        }
    }

    /// `2006/01/02 - 15:04:05` (gin's access log).
    pub fn write_gin(&self, out: &mut Vec<u8>) {
        digits(out, self.year, 4);
        out.push(b'/');
        digits(out, self.month.into(), 2);
        out.push(b'/');
        digits(out, self.day.into(), 2);
        out.extend_from_slice(b" - ");
        self.write_clock(out);
    }

    /// `2006/01/02 - 15:04:05.000` (KrakenD's default application log).
    pub fn write_gin_millis(&self, out: &mut Vec<u8>) {
        self.write_gin(out);
        out.push(b'.');
        digits(out, self.millis.into(), 3);
    }

    /// `2006-01-02T15:04:05.000+00:00` (logstash's `@timestamp`).
    pub fn write_rfc3339(&self, out: &mut Vec<u8>, zone: &[u8]) {
        digits(out, self.year, 4);
        out.push(b'-');
        digits(out, self.month.into(), 2);
        out.push(b'-');
        digits(out, self.day.into(), 2);
        out.push(b'T');
        self.write_clock(out);
        out.push(b'.');
        digits(out, self.millis.into(), 3);
        out.extend_from_slice(zone);
    }

    /// `Jan  2 15:04:05` (RFC 3164 syslog).
    pub fn write_syslog(&self, out: &mut Vec<u8>) {
        const MONTHS: [&[u8]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        out.extend_from_slice(MONTHS[(self.month as usize).saturating_sub(1) % 12]);
        out.push(b' ');
        if self.day < 10 {
            out.push(b' ');
        }
        digits(out, self.day.into(), 1);
        out.push(b' ');
        self.write_clock(out);
    }

    fn write_clock(&self, out: &mut Vec<u8>) {
        digits(out, self.hour, 2);
        out.push(b':');
        digits(out, self.minute, 2);
        out.push(b':');
        digits(out, self.second, 2);
    }
}

/// The wall-clock time of a monotonic [`Instant`], without reading the
/// wall clock: a worker already reads the monotonic clock once per request
/// (its duration), and the access log needs the time of day too. The pair
/// (monotonic, wall) it adds from is re-read on the worker's tick (every
/// 100 ms), so a wall-clock step shows within a tick and the two clocks'
/// drift in between (NTP slews at most 500 ppm: 50 µs) stays far below
/// the logs' millisecond resolution.
pub struct WallClock {
    base: Cell<(Instant, SystemTime)>,
}

impl WallClock {
    pub fn new() -> WallClock {
        WallClock {
            base: Cell::new((Instant::now(), SystemTime::now())),
        }
    }

    /// Re-reads both clocks.
    pub fn refresh(&self) {
        self.base.set((Instant::now(), SystemTime::now()));
    }

    /// The wall-clock time at `instant` (one of this thread's readings,
    /// taken after the last refresh or up to a tick before it).
    pub fn at(&self, instant: Instant) -> SystemTime {
        let (mono, wall) = self.base.get();
        match instant.checked_duration_since(mono) {
            Some(later) => wall + later,
            None => wall - mono.duration_since(instant),
        }
    }
}

impl Default for WallClock {
    fn default() -> WallClock {
        WallClock::new()
    }
}

/// A line's timestamp text up to the second, kept for the second it was
/// made in: a worker writes thousands of lines a second with the same
/// date and time, so it formats them once per second, not once per line.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// Seconds since the epoch the texts are for.
    second: u64,
    /// `2006/01/02 - 15:04:05` (gin's access log).
    gin: [u8; 21],
    /// `2006-01-02T15:04:05` (RFC 3339 up to the second).
    iso: [u8; 19],
}

impl Default for Stamp {
    fn default() -> Stamp {
        let mut stamp = Stamp {
            second: 0,
            gin: [0; 21],
            iso: [0; 19],
        };
        stamp.set(0);
        stamp
    }
}

impl Stamp {
    /// Brings the texts to `time`'s second; returns its milliseconds.
    fn at(&mut self, time: SystemTime) -> u32 {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        if since.as_secs() != self.second {
            self.set(since.as_secs());
        }
        since.subsec_millis()
    }

    fn set(&mut self, second: u64) {
        let utc = Utc::at(UNIX_EPOCH + Duration::from_secs(second));
        let mut text = Vec::with_capacity(21);
        utc.write_gin(&mut text);
        self.gin.copy_from_slice(&text);
        text.clear();
        digits(&mut text, utc.year, 4);
        text.push(b'-');
        digits(&mut text, utc.month.into(), 2);
        text.push(b'-');
        digits(&mut text, utc.day.into(), 2);
        text.push(b'T');
        utc.write_clock(&mut text);
        self.iso.copy_from_slice(&text);
        self.second = second;
    }

    /// `2006/01/02 - 15:04:05`, as [`Utc::write_gin`].
    pub fn write_gin(&mut self, out: &mut Vec<u8>, time: SystemTime) {
        self.at(time);
        out.extend_from_slice(&self.gin);
    }

    /// `2006-01-02T15:04:05.000` then `zone`, as [`Utc::write_rfc3339`].
    pub fn write_rfc3339(&mut self, out: &mut Vec<u8>, time: SystemTime, zone: &[u8]) {
        let millis = self.at(time);
        out.extend_from_slice(&self.iso);
        out.push(b'.');
        digits(out, millis.into(), 3);
        out.extend_from_slice(zone);
    }
}

/// `n` in decimal, zero-padded to at least `width` digits.
pub fn digits(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut text = itoa::Buffer::new();
    let text = text.format(n).as_bytes();
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(text.len())));
    out.extend_from_slice(text);
}

/// A duration as Go's `time.Duration.String()` writes it (`4.529µs`,
/// `1.134431ms`, `2.5s`, `1m2s`), which gin puts in its access log.
pub fn go_duration(d: Duration) -> String {
    let mut out = Vec::with_capacity(16);
    write_go_duration(&mut out, d);
    String::from_utf8(out).unwrap_or_default()
}

/// [`go_duration`] appended to `out`, without allocating.
pub fn write_go_duration(out: &mut Vec<u8>, d: Duration) {
    let nanos = d.as_nanos();
    if nanos == 0 {
        out.extend_from_slice(b"0s");
        return;
    }
    if nanos < 1_000 {
        digits(out, nanos as u64, 1);
        out.extend_from_slice(b"ns");
        return;
    }
    if nanos < 1_000_000 {
        fraction(out, (nanos / 1_000) as u64, (nanos % 1_000) as u64, 3);
        out.extend_from_slice("µs".as_bytes());
        return;
    }
    if nanos < 1_000_000_000 {
        fraction(
            out,
            (nanos / 1_000_000) as u64,
            (nanos % 1_000_000) as u64,
            6,
        );
        out.extend_from_slice(b"ms");
        return;
    }
    let secs = d.as_secs();
    let (hours, minutes, secs) = (secs / 3600, secs / 60 % 60, secs % 60);
    if hours > 0 {
        digits(out, hours, 1);
        out.push(b'h');
    }
    if hours > 0 || minutes > 0 {
        digits(out, minutes, 1);
        out.push(b'm');
    }
    fraction(out, secs, u64::from(d.subsec_nanos()), 9);
    out.push(b's');
}

/// `whole.frac` with `frac` zero-padded to `places` digits, trailing zeros
/// (and a bare point) left out, as Go prints durations.
fn fraction(out: &mut Vec<u8>, whole: u64, frac: u64, places: usize) {
    digits(out, whole, 1);
    if frac == 0 {
        return;
    }
    out.push(b'.');
    let start = out.len();
    digits(out, frac, places);
    while out.len() > start && out.last() == Some(&b'0') {
        out.pop();
    }
}

/// `text` between double quotes, with `"`, `\` and every byte outside
/// printable ASCII escaped (`\xNN`), so a client's path cannot forge or
/// break a log line.
pub fn quoted(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    // Paths are nearly always plain: copy them whole.
    if is_plain(text) {
        out.extend_from_slice(text);
        out.push(b'"');
        return;
    }
    for &b in text {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x20..=0x7e => out.push(b),
            _ => hex_escape(out, b"\\x", b),
        }
    }
    out.push(b'"');
}

/// Printable ASCII without `"` or `\`: written as it is by both
/// [`quoted`] and [`json_escaped`].
fn is_plain(text: &[u8]) -> bool {
    text.iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// `text` as a JSON string; bytes that are not valid UTF-8 become U+FFFD.
pub fn json_string(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    json_escaped(out, text);
    out.push(b'"');
}

/// The inside of [`json_string`], without the quotes.
pub fn json_escaped(out: &mut Vec<u8>, text: &[u8]) {
    // Paths and names are nearly always plain ASCII: copy them whole.
    if is_plain(text) {
        out.extend_from_slice(text);
        return;
    }
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 => {
                    out.extend_from_slice(b"\\u00");
                    hex_escape(out, b"", c as u8);
                }
                c => {
                    let mut utf8 = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
}

fn hex_escape(out: &mut Vec<u8>, lead: &[u8], b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(lead);
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 15)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let cases = [
            (Duration::from_nanos(0), "0s"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_nanos(4_529), "4.529µs"),
            (Duration::from_nanos(3_000), "3µs"),
            (Duration::from_nanos(1_134_431), "1.134431ms"),
            (Duration::from_millis(2_500), "2.5s"),
            (Duration::from_secs(62), "1m2s"),
            (Duration::from_secs(3_601), "1h0m1s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn plain_paths_are_copied_and_every_other_byte_escaped() {
        let mut out = Vec::new();
        quoted(&mut out, b"/users/7");
        assert_eq!(out, b"\"/users/7\"");
        // The whole-copy shortcut and the byte-by-byte rule agree on every byte.
        for b in 0..=255u8 {
            let mut out = Vec::new();
            quoted(&mut out, &[b'/', b]);
            let inner: Vec<u8> = match b {
                b'"' => b"\\\"".to_vec(),
                b'\\' => b"\\\\".to_vec(),
                0x20..=0x7e => vec![b],
                _ => format!("\\x{b:02x}").into_bytes(),
            };
            assert_eq!(out, [&b"\"/"[..], &inner, b"\""].concat(), "byte {b:#04x}");
        }
    }

    #[test]
    fn quoting_and_json() {
        let mut out = Vec::new();
        quoted(&mut out, b"/a\"b\\c\n\xff");
        assert_eq!(out, br#""/a\"b\\c\x0a\xff""#);
        out.clear();
        json_string(&mut out, b"a\"\n\x01\xffz");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"\\n\\u0001\u{fffd}z\""
        );
    }

    #[test]
    fn cached_stamps_match_fresh_ones() {
        let mut stamp = Stamp::default();
        // Across a second, a day and a year boundary, twice each.
        for ms in [
            1_796_111_109_042u64,
            1_796_111_109_999,
            1_796_111_110_000,
            1_796_111_110_001,
            1_798_761_599_999,
            1_798_761_600_000,
            1_796_111_109_500,
        ] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            let (mut cached, mut fresh) = (Vec::new(), Vec::new());
            stamp.write_gin(&mut cached, t);
            cached.push(b'|');
            stamp.write_rfc3339(&mut cached, t, b"+00:00");
            Utc::at(t).write_gin(&mut fresh);
            fresh.push(b'|');
            Utc::at(t).write_rfc3339(&mut fresh, b"+00:00");
            assert_eq!(cached, fresh, "{ms}");
        }
    }

    #[test]
    fn wall_clock_follows_the_monotonic_one() {
        let clock = WallClock::new();
        let (mono, wall) = clock.base.get();
        let later = mono + Duration::from_millis(1_500);
        assert_eq!(clock.at(later), wall + Duration::from_millis(1_500));
        let earlier = mono.checked_sub(Duration::from_millis(20)).unwrap();
        assert_eq!(clock.at(earlier), wall - Duration::from_millis(20));
        // Close to what the wall clock says now.
        let now = clock.at(Instant::now());
        let off = SystemTime::now()
            .duration_since(now)
            .unwrap_or_else(|e| e.duration());
        assert!(off < Duration::from_secs(1), "{off:?}");
    }

    #[test]
    fn timestamps() {
        // 2026-12-01 07:45:09.042 UTC
        let t = UNIX_EPOCH + Duration::from_millis(1_796_111_109_042);
        let utc = Utc::at(t);
        let mut out = Vec::new();
        utc.write_gin_millis(&mut out);
        out.push(b'|');
        utc.write_rfc3339(&mut out, b"+00:00");
        out.push(b'|');
        utc.write_syslog(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026/12/01 - 07:45:09.042|2026-12-01T07:45:09.042+00:00|Dec  1 07:45:09"
        );
    }
}
