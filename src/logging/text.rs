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
        WallClock::fixed(Instant::now(), SystemTime::now())
    }

    /// A clock on which `mono` reads as `wall` (until refreshed): tests
    /// use it to write known times.
    pub fn fixed(mono: Instant, wall: SystemTime) -> WallClock {
        WallClock {
            base: Cell::new((mono, wall)),
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
/// The second is kept as the span of monotonic readings it covers, so a
/// line within it costs two comparisons, not a conversion to wall time.
pub struct Stamp {
    clock: WallClock,
    /// The monotonic readings the texts are for, `[from, until)`; `None`
    /// once the clock is refreshed (its base may have moved).
    span: Option<(Instant, Instant)>,
    /// `2006/01/02 - 15:04:05` (gin's access log).
    gin: [u8; 21],
    /// `2006-01-02T15:04:05` (RFC 3339 up to the second).
    iso: [u8; 19],
}

impl Default for Stamp {
    fn default() -> Stamp {
        Stamp::new(WallClock::new())
    }
}

impl Stamp {
    /// Stamps readings of the monotonic clock with `clock`'s time of day.
    pub fn new(clock: WallClock) -> Stamp {
        Stamp {
            clock,
            span: None,
            gin: [0; 21],
            iso: [0; 19],
        }
    }

    /// Re-reads the wall clock (the worker's tick).
    pub fn refresh(&mut self) {
        self.clock.refresh();
        self.span = None;
    }

    /// Brings the texts to the second `at` falls in; returns that second's
    /// first reading.
    fn bring_to(&mut self, at: Instant) -> Instant {
        if let Some((from, until)) = self.span
            && from <= at
            && at < until
        {
            return from;
        }
        let since = self
            .clock
            .at(at)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.set(since.as_secs());
        let into = Duration::from_nanos(since.subsec_nanos().into());
        // Before the monotonic clock's origin (never, in practice): no span
        // is kept and every line converts.
        let from = at.checked_sub(into);
        self.span = from.map(|from| (from, from + Duration::from_secs(1)));
        from.unwrap_or(at)
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
    }

    /// `2006/01/02 - 15:04:05` at `at`, as [`Utc::write_gin`].
    pub fn write_gin(&mut self, out: &mut Vec<u8>, at: Instant) {
        self.bring_to(at);
        out.extend_from_slice(&self.gin);
    }

    /// `2006-01-02T15:04:05.000` at `at`, then `zone`, as [`Utc::write_rfc3339`].
    pub fn write_rfc3339(&mut self, out: &mut Vec<u8>, at: Instant, zone: &[u8]) {
        let from = self.bring_to(at);
        let millis = at.saturating_duration_since(from).subsec_millis();
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
    String::from_utf8_lossy(GoDuration::of(d).text()).into_owned()
}

/// [`go_duration`]'s text assembled on the stack, right-aligned in a
/// buffer of spaces, so that gin's padded column (`%13v`) is a slice of it.
pub struct GoDuration {
    buf: [u8; GoDuration::ROOM],
    /// Where the text starts.
    start: usize,
    /// Whether it ends in `µs` (two bytes, one column).
    micro: bool,
}

impl GoDuration {
    /// The longest text is 24 bytes (`2562047h47m16.854775807s`).
    const ROOM: usize = 32;

    pub fn of(d: Duration) -> GoDuration {
        // Go's durations are 64-bit nanoseconds.
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let mut text = GoDuration {
            buf: [b' '; GoDuration::ROOM],
            start: GoDuration::ROOM,
            micro: false,
        };
        if nanos == 0 {
            text.push_front(b"0s");
        } else if nanos < 1_000 {
            text.push_front(b"ns");
            text.number(nanos);
        } else if nanos < 1_000_000 {
            text.push_front("µs".as_bytes());
            text.micro = true;
            text.fixed(nanos, 3);
        } else if nanos < 1_000_000_000 {
            text.push_front(b"ms");
            text.fixed(nanos, 6);
        } else {
            text.push_front(b"s");
            let secs = text.fraction(nanos, 9);
            text.number(secs % 60);
            let minutes = secs / 60;
            if minutes > 0 {
                text.push_front(b"m");
                text.number(minutes % 60);
                let hours = minutes / 60;
                if hours > 0 {
                    text.push_front(b"h");
                    text.number(hours);
                }
            }
        }
        text
    }

    pub fn text(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The text right-aligned in `width` columns, as Go's `%13v` pads it;
    /// whole when it is wider (and padded to at most 30 columns).
    pub fn padded(&self, width: usize) -> &[u8] {
        let columns = GoDuration::ROOM - self.start - usize::from(self.micro);
        let pad = width.saturating_sub(columns).min(self.start);
        &self.buf[self.start - pad..]
    }

    fn push_front(&mut self, text: &[u8]) {
        self.start -= text.len();
        self.buf[self.start..self.start + text.len()].copy_from_slice(text);
    }

    /// `v` in decimal.
    fn number(&mut self, mut v: u64) {
        loop {
            self.start -= 1;
            self.buf[self.start] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
    }

    /// `v`'s last `places` digits as a fraction (trailing zeros and a bare
    /// point left out, as Go does); returns the digits before them.
    fn fraction(&mut self, mut v: u64, places: u32) -> u64 {
        let mut places = places;
        while places > 0 && v.is_multiple_of(10) {
            v /= 10;
            places -= 1;
        }
        if places == 0 {
            return v;
        }
        for _ in 0..places {
            self.start -= 1;
            self.buf[self.start] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.start -= 1;
        self.buf[self.start] = b'.';
        v
    }

    /// `whole.fraction` of `v` with `places` fraction digits.
    fn fixed(&mut self, v: u64, places: u32) {
        let whole = self.fraction(v, places);
        self.number(whole);
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

/// [`quoted`] for a `format!`/`tracing` argument: a value from a client,
/// a token or a backend put into an application log line, so that it
/// cannot end the line, forge the next one or send terminal escapes.
pub struct Quoted<'a>(pub &'a [u8]);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::with_capacity(self.0.len() + 2);
        quoted(&mut out, self.0);
        // `quoted` writes printable ASCII only.
        f.write_str(std::str::from_utf8(&out).map_err(|_| std::fmt::Error)?)
    }
}

/// [`Quoted`] without the quotes, for a whole message that mixes the
/// gateway's text with values from a backend or a client (a backend
/// error's text in lura's layout): `\` and every byte outside printable
/// ASCII are escaped (`\xNN`), so the message cannot end the line, forge
/// the next one or send terminal escapes; plain text is left as it is.
pub struct Escaped<'a>(pub &'a [u8]);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self
            .0
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\')
        {
            // Printable ASCII: valid UTF-8.
            return f.write_str(std::str::from_utf8(self.0).map_err(|_| std::fmt::Error)?);
        }
        let mut out = Vec::with_capacity(self.0.len() + 8);
        for &b in self.0 {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x20..=0x7e => out.push(b),
                _ => hex_escape(&mut out, b"\\x", b),
            }
        }
        f.write_str(std::str::from_utf8(&out).map_err(|_| std::fmt::Error)?)
    }
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
            (Duration::from_nanos(1_000_000_001), "1.000000001s"),
            (Duration::from_nanos(100_000), "100µs"),
            (Duration::from_millis(10), "10ms"),
            (Duration::from_secs(7_200), "2h0m0s"),
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
        assert_eq!(
            Quoted(b"x\r\n[FORGED] \x1b[31m\"").to_string(),
            r#""x\x0d\x0a[FORGED] \x1b[31m\"""#
        );
        assert_eq!(
            Escaped(b"a \"b\"\r\n[FORGED] \x1b\\").to_string(),
            r#"a "b"\x0d\x0a[FORGED] \x1b\\"#
        );
        assert_eq!(Escaped(b"plain: [x] /y").to_string(), "plain: [x] /y");
        out.clear();
        json_string(&mut out, b"a\"\n\x01\xffz");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"\\n\\u0001\u{fffd}z\""
        );
    }

    #[test]
    fn cached_stamps_match_fresh_ones() {
        let first = 1_796_111_109_042u64;
        let mono = Instant::now();
        let mut stamp = Stamp::new(WallClock::fixed(
            mono,
            UNIX_EPOCH + Duration::from_millis(first),
        ));
        // Across a second, a day and a year boundary, twice each, then
        // back into a second already left.
        for ms in [
            first,
            1_796_111_109_999,
            1_796_111_110_000,
            1_796_111_110_001,
            1_798_761_599_999,
            1_798_761_600_000,
            1_796_111_109_500,
        ] {
            let at = mono + Duration::from_millis(ms - first);
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            let (mut cached, mut fresh) = (Vec::new(), Vec::new());
            stamp.write_gin(&mut cached, at);
            cached.push(b'|');
            stamp.write_rfc3339(&mut cached, at, b"+00:00");
            Utc::at(t).write_gin(&mut fresh);
            fresh.push(b'|');
            Utc::at(t).write_rfc3339(&mut fresh, b"+00:00");
            assert_eq!(cached, fresh, "{ms}");
        }
    }

    #[test]
    fn go_durations_pad_to_a_column() {
        let padded =
            |d: Duration| String::from_utf8(GoDuration::of(d).padded(13).to_vec()).unwrap();
        assert_eq!(padded(Duration::from_nanos(1_134_431)), "   1.134431ms");
        // `µ` is two bytes and one column.
        assert_eq!(padded(Duration::from_nanos(4_529)), "      4.529µs");
        assert_eq!(padded(Duration::ZERO), "           0s");
        // Wider than the column: whole, not cut.
        assert_eq!(
            padded(Duration::from_nanos(61_123_456_789)),
            "1m1.123456789s"
        );
        // Go's largest duration, and Rust's beyond it, fit.
        assert_eq!(
            go_duration(Duration::from_nanos(i64::MAX as u64)),
            "2562047h47m16.854775807s"
        );
        assert_eq!(go_duration(Duration::MAX).len(), 24);
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
