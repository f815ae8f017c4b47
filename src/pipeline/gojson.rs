//! How Go's `json.Decoder` reads the first value of a body, for bodies
//! simd-json refused: lura decodes backend bodies with it
//! (`encoding/encoding.go`), so its error texts are what
//! `return_error_msg` shows and the log says ("invalid character '<'
//! looking for beginning of value", "unexpected EOF"), and what it accepts
//! (the first value only; invalid UTF-8 inside strings) is served.
//!
//! A state machine with the states and texts of Go's `encoding/json`
//! scanner (`scanner.go`) and the end-of-input rule of its `Decoder`
//! (`stream.go`, `readValue`). It runs only after simd-json failed, never
//! on a body that decodes.

/// What Go's decoder makes of a body.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// The first value is well formed and ends at this offset (whatever
    /// follows is left unread).
    Value(usize),
    /// The decoder's error text.
    Error(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Within {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    BeginValue,
    /// After `[`.
    BeginValueOrEmpty,
    /// After `{`.
    BeginStringOrEmpty,
    /// After `,` in an object.
    BeginString,
    EndValue,
    InString,
    InStringEsc,
    /// In `\u`, this many hex digits read.
    InStringEscU(u8),
    Neg,
    Zero,
    One,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// In a literal (`true`, `false`, `null`): its text, and how much of
    /// it was read.
    Literal(&'static [u8], u8),
}

const fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// What one byte did.
enum Step {
    Continue,
    /// The top-level value ended: with this byte (a closing bracket) when
    /// `true`, else before it.
    End(bool),
    Error(String),
}

struct Scanner {
    state: State,
    stack: Vec<Within>,
}

impl Scanner {
    fn step(&mut self, c: u8) -> Step {
        use State::*;
        match self.state {
            BeginValueOrEmpty => {
                if is_space(c) {
                    return Step::Continue;
                }
                if c == b']' {
                    return self.end_value(c);
                }
                self.begin_value(c)
            }
            BeginValue => {
                if is_space(c) {
                    return Step::Continue;
                }
                self.begin_value(c)
            }
            BeginStringOrEmpty => {
                if is_space(c) {
                    return Step::Continue;
                }
                if c == b'}' {
                    // As Go: `{}` ends the object like a key:value pair would.
                    if let Some(top) = self.stack.last_mut() {
                        *top = Within::ObjectValue;
                    }
                    return self.end_value(c);
                }
                self.begin_string(c)
            }
            BeginString => {
                if is_space(c) {
                    return Step::Continue;
                }
                self.begin_string(c)
            }
            EndValue => self.end_value(c),
            InString => {
                match c {
                    b'"' => self.state = EndValue,
                    b'\\' => self.state = InStringEsc,
                    0..=0x1f => return error(c, "in string literal"),
                    _ => {}
                }
                Step::Continue
            }
            InStringEsc => match c {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {
                    self.state = InString;
                    Step::Continue
                }
                b'u' => {
                    self.state = InStringEscU(0);
                    Step::Continue
                }
                _ => error(c, "in string escape code"),
            },
            InStringEscU(n) => {
                if !c.is_ascii_hexdigit() {
                    return error(c, "in \\u hexadecimal character escape");
                }
                self.state = if n == 3 {
                    InString
                } else {
                    InStringEscU(n + 1)
                };
                Step::Continue
            }
            Neg => match c {
                b'0' => {
                    self.state = Zero;
                    Step::Continue
                }
                b'1'..=b'9' => {
                    self.state = One;
                    Step::Continue
                }
                _ => error(c, "in numeric literal"),
            },
            One if c.is_ascii_digit() => Step::Continue,
            One | Zero => match c {
                b'.' => {
                    self.state = Dot;
                    Step::Continue
                }
                b'e' | b'E' => {
                    self.state = E;
                    Step::Continue
                }
                _ => self.end_value(c),
            },
            Dot => {
                if !c.is_ascii_digit() {
                    return error(c, "after decimal point in numeric literal");
                }
                self.state = Dot0;
                Step::Continue
            }
            Dot0 => match c {
                b'0'..=b'9' => Step::Continue,
                b'e' | b'E' => {
                    self.state = E;
                    Step::Continue
                }
                _ => self.end_value(c),
            },
            E if c == b'+' || c == b'-' => {
                self.state = ESign;
                Step::Continue
            }
            E | ESign => {
                if !c.is_ascii_digit() {
                    return error(c, "in exponent of numeric literal");
                }
                self.state = E0;
                Step::Continue
            }
            E0 if c.is_ascii_digit() => Step::Continue,
            E0 => self.end_value(c),
            Literal(text, read) => {
                let want = text[usize::from(read)];
                if c != want {
                    let name = std::str::from_utf8(text).unwrap_or("");
                    return error(
                        c,
                        &format!("in literal {name} (expecting '{}')", want as char),
                    );
                }
                self.state = if usize::from(read) + 1 == text.len() {
                    EndValue
                } else {
                    Literal(text, read + 1)
                };
                Step::Continue
            }
        }
    }

    fn begin_value(&mut self, c: u8) -> Step {
        use State::*;
        self.state = match c {
            b'{' => {
                self.stack.push(Within::ObjectKey);
                BeginStringOrEmpty
            }
            b'[' => {
                self.stack.push(Within::ArrayValue);
                BeginValueOrEmpty
            }
            b'"' => InString,
            b'-' => Neg,
            b'0' => Zero,
            b'1'..=b'9' => One,
            b't' => Literal(b"true", 1),
            b'f' => Literal(b"false", 1),
            b'n' => Literal(b"null", 1),
            _ => return error(c, "looking for beginning of value"),
        };
        Step::Continue
    }

    fn begin_string(&mut self, c: u8) -> Step {
        if c != b'"' {
            return error(c, "looking for beginning of object key string");
        }
        self.state = State::InString;
        Step::Continue
    }

    fn end_value(&mut self, c: u8) -> Step {
        let Some(&top) = self.stack.last() else {
            // The top-level value is complete; the decoder stops here.
            return Step::End(false);
        };
        if is_space(c) {
            self.state = State::EndValue;
            return Step::Continue;
        }
        match (top, c) {
            (Within::ObjectKey, b':') => {
                *self.stack.last_mut().expect("non-empty") = Within::ObjectValue;
                self.state = State::BeginValue;
            }
            (Within::ObjectKey, _) => return error(c, "after object key"),
            (Within::ObjectValue, b',') => {
                *self.stack.last_mut().expect("non-empty") = Within::ObjectKey;
                self.state = State::BeginString;
            }
            (Within::ObjectValue, b'}') | (Within::ArrayValue, b']') => {
                self.stack.pop();
                self.state = State::EndValue;
                if self.stack.is_empty() {
                    // A closing bracket ends the top-level value at once.
                    return Step::End(true);
                }
            }
            (Within::ObjectValue, _) => return error(c, "after object key:value pair"),
            (Within::ArrayValue, b',') => self.state = State::BeginValue,
            (Within::ArrayValue, _) => return error(c, "after array element"),
        }
        Step::Continue
    }
}

/// Go's `invalid character ...` text (`scanner.go`, `quoteChar`: the byte
/// read as a rune and quoted as `strconv.Quote` does, in single quotes).
fn error(c: u8, context: &str) -> Step {
    let quoted = match c {
        b'\'' => "'\\''".to_owned(),
        b'"' => "'\"'".to_owned(),
        _ => format!("'{}'", go_quote_rune(char::from(c))),
    };
    Step::Error(format!("invalid character {quoted} {context}"))
}

/// The inside of `strconv.Quote(string(r))` for a rune up to U+00FF.
fn go_quote_rune(r: char) -> String {
    match r {
        '\u{7}' => "\\a".into(),
        '\u{8}' => "\\b".into(),
        '\u{c}' => "\\f".into(),
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        '\u{b}' => "\\v".into(),
        '\\' => "\\\\".into(),
        '\0'..='\u{1f}' | '\u{7f}' => format!("\\x{:02x}", r as u32),
        // Not printable for Go: C1 controls, no-break space, soft hyphen.
        '\u{80}'..='\u{a0}' | '\u{ad}' => format!("\\u{:04x}", r as u32),
        _ => r.to_string(),
    }
}

/// Reads `body` as Go's `json.Decoder.Decode` would.
pub fn scan(body: &[u8]) -> Scan {
    let mut scanner = Scanner {
        state: State::BeginValue,
        stack: Vec::new(),
    };
    for (i, &c) in body.iter().enumerate() {
        match scanner.step(c) {
            Step::Continue => {}
            Step::End(with) => return Scan::Value(i + usize::from(with)),
            Step::Error(text) => return Scan::Error(text),
        }
    }
    // At the end of input the decoder feeds a space: that may end a
    // top-level number or literal; otherwise an unfinished value is
    // `unexpected EOF` and nothing but space is `EOF`.
    if let Step::End(_) = scanner.step(b' ') {
        return Scan::Value(body.len());
    }
    if body.iter().all(|&b| is_space(b)) {
        Scan::Error("EOF".into())
    } else {
        Scan::Error("unexpected EOF".into())
    }
}

#[cfg(test)]
mod tests {
    use super::{Scan, scan};

    fn error(body: &str) -> String {
        match scan(body.as_bytes()) {
            Scan::Error(text) => text,
            Scan::Value(end) => panic!("{body:?} read as a value ending at {end}"),
        }
    }

    /// Texts as Go 1.x's `json.NewDecoder(r).Decode(&v)` returns them.
    #[test]
    fn go_decoder_texts() {
        let cases = [
            (
                "<html>",
                "invalid character '<' looking for beginning of value",
            ),
            (
                "Internal Server Error",
                "invalid character 'I' looking for beginning of value",
            ),
            ("", "EOF"),
            (" \n", "EOF"),
            ("{\"a\":", "unexpected EOF"),
            ("[1,2", "unexpected EOF"),
            ("tru", "unexpected EOF"),
            (
                "{a:1}",
                "invalid character 'a' looking for beginning of object key string",
            ),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            (
                "{\"a\":1 \"b\"}",
                "invalid character '\"' after object key:value pair",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            (
                "[1,]",
                "invalid character ']' looking for beginning of value",
            ),
            (
                "{\"a\":1,}",
                "invalid character '}' looking for beginning of object key string",
            ),
            ("\"a\nb\"", "invalid character '\\n' in string literal"),
            ("\"\\x\"", "invalid character 'x' in string escape code"),
            (
                "\"\\u12g4\"",
                "invalid character 'g' in \\u hexadecimal character escape",
            ),
            ("-a", "invalid character 'a' in numeric literal"),
            (
                "1.e5",
                "invalid character 'e' after decimal point in numeric literal",
            ),
            (
                "[1e+]",
                "invalid character ']' in exponent of numeric literal",
            ),
            (
                "[trve]",
                "invalid character 'v' in literal true (expecting 'u')",
            ),
            (
                "nul!",
                "invalid character '!' in literal null (expecting 'l')",
            ),
            (
                "{'a':1}",
                "invalid character '\\'' looking for beginning of object key string",
            ),
            (
                "[\u{1}]",
                "invalid character '\\x01' looking for beginning of value",
            ),
            (
                "\u{e9}",
                "invalid character 'Ã' looking for beginning of value",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(error(body), expected, "{body:?}");
        }
    }

    #[test]
    fn the_first_value_is_read_and_the_rest_left() {
        assert_eq!(scan(b"{\"a\":1} trailing"), Scan::Value(7));
        assert_eq!(scan(b" [1,[2]]]"), Scan::Value(8));
        assert_eq!(scan(b"123abc"), Scan::Value(3));
        assert_eq!(scan(b"123"), Scan::Value(3));
        assert_eq!(scan(b"true false"), Scan::Value(4));
        assert_eq!(scan(b"\"a\xffb\" x"), Scan::Value(5));
        assert_eq!(scan(b"{}"), Scan::Value(2));
        assert_eq!(scan(b"\"a\"}"), Scan::Value(3));
    }
}
