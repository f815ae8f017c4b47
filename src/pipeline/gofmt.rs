//! Go's float formatting, so numbers render byte-for-byte as KrakenD's do.
//!
//! Shortest round-trip digits come from `ryu`; the layout follows Go's
//! `strconv.FormatFloat` ('e', 'f' and 'g' with precision -1) and the
//! `encoding/json` float encoder.

/// Shortest decimal digits of |f|: value = 0.d1d2d3... × 10^dp.
struct Digits {
    buf: [u8; 32],
    nd: usize,
    dp: i32,
}

impl Digits {
    fn of(f: f64) -> Digits {
        let mut ryu_buf = ryu::Buffer::new();
        let text = ryu_buf.format_finite(f.abs());
        let (mantissa, exp) = match text.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
            None => (text, 0),
        };
        let mut digits = Digits {
            buf: [0; 32],
            nd: 0,
            dp: 0,
        };
        let mut after_point = false;
        for b in mantissa.bytes() {
            if b == b'.' {
                after_point = true;
                continue;
            }
            if !after_point {
                digits.dp += 1;
            }
            if digits.nd == 0 && b == b'0' {
                // A leading zero only moves the decimal point.
                digits.dp -= 1;
                continue;
            }
            if digits.nd < digits.buf.len() {
                digits.buf[digits.nd] = b;
                digits.nd += 1;
            }
        }
        while digits.nd > 0 && digits.buf[digits.nd - 1] == b'0' {
            digits.nd -= 1;
        }
        if digits.nd == 0 {
            digits.dp = 0;
        } else {
            digits.dp += exp;
        }
        digits
    }

    fn digit(&self, i: i32) -> u8 {
        if i >= 0 && (i as usize) < self.nd {
            self.buf[i as usize]
        } else {
            b'0'
        }
    }

    /// `%e` with the shortest precision: `d.ddde±XX`.
    fn write_e(&self, out: &mut Vec<u8>) {
        out.push(self.digit(0));
        if self.nd > 1 {
            out.push(b'.');
            out.extend_from_slice(&self.buf[1..self.nd]);
        }
        out.push(b'e');
        let exp = if self.nd == 0 { 0 } else { self.dp - 1 };
        out.push(if exp < 0 { b'-' } else { b'+' });
        let exp = exp.unsigned_abs();
        if exp < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(exp).as_bytes());
    }

    /// `%f` with the shortest precision.
    fn write_f(&self, out: &mut Vec<u8>) {
        if self.dp > 0 {
            for i in 0..self.dp {
                out.push(self.digit(i));
            }
        } else {
            out.push(b'0');
        }
        let fraction = self.nd as i32 - self.dp;
        if fraction > 0 {
            out.push(b'.');
            for i in 0..fraction {
                out.push(self.digit(self.dp + i));
            }
        }
    }
}

/// A float as Go's `encoding/json` writes it: `%f` between 1e-6 and 1e21,
/// `%e` outside, with a one-digit negative exponent unpadded (`1e-7`).
pub(crate) fn json_float(f: f64, out: &mut Vec<u8>) {
    if !f.is_finite() {
        // JSON has no such numbers; Go would fail the whole response.
        out.extend_from_slice(b"null");
        return;
    }
    if f.is_sign_negative() {
        out.push(b'-');
    }
    let digits = Digits::of(f);
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let start = out.len();
        digits.write_e(out);
        let n = out.len();
        if n - start >= 4 && out[n - 4] == b'e' && out[n - 3] == b'-' && out[n - 2] == b'0' {
            out[n - 2] = out[n - 1];
            out.truncate(n - 1);
        }
    } else {
        digits.write_f(out);
    }
}

/// A float as Go's `%v` / `strconv.FormatFloat(f, 'g', -1, 64)` writes it
/// (what mxj and go-yaml use): `%e` when the exponent is < -4 or >= 6.
pub(crate) fn g_float(f: f64, out: &mut Vec<u8>) {
    if f.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    if f.is_sign_negative() {
        out.push(b'-');
    }
    let digits = Digits::of(f);
    let exp = digits.dp - 1;
    if digits.nd != 0 && !(-4..G_EXPONENT_LIMIT).contains(&exp) {
        digits.write_e(out);
    } else {
        digits.write_f(out);
    }
}

/// strconv's 'g' with shortest precision switches to `%e` at exponent 6
/// ("if precision was the shortest possible, use precision 6 for this decision").
const G_EXPONENT_LIMIT: i32 = 6;

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: f64, json: &str, g: &str) {
        let mut out = Vec::new();
        json_float(f, &mut out);
        assert_eq!(String::from_utf8_lossy(&out), json, "json of {f:e}");
        out.clear();
        g_float(f, &mut out);
        assert_eq!(String::from_utf8_lossy(&out), g, "%v of {f:e}");
    }

    #[test]
    fn go_float_formatting() {
        let cases: &[(f64, &str, &str)] = &[
            (0.0, "0", "0"),
            (-0.0, "-0", "-0"),
            (1.0, "1", "1"),
            (-1.5, "-1.5", "-1.5"),
            (42.5, "42.5", "42.5"),
            (0.1, "0.1", "0.1"),
            (0.000001, "0.000001", "1e-06"),
            (0.0000001, "1e-7", "1e-07"),
            (1.5e-7, "1.5e-7", "1.5e-07"),
            (1e-10, "1e-10", "1e-10"),
            (0.0001, "0.0001", "0.0001"),
            (123456789.0, "123456789", "1.23456789e+08"),
            (1e20, "100000000000000000000", "1e+20"),
            (1e21, "1e+21", "1e+21"),
            (1.2345e22, "1.2345e+22", "1.2345e+22"),
            (-2.5e-300, "-2.5e-300", "-2.5e-300"),
            (
                f64::MAX,
                "1.7976931348623157e+308",
                "1.7976931348623157e+308",
            ),
            (5e-324, "5e-324", "5e-324"),
            (2.71, "2.71", "2.71"),
            (100000.0, "100000", "100000"),
            (1000000.0, "1000000", "1e+06"),
        ];
        for (f, json, g) in cases {
            check(*f, json, g);
        }
    }
}
