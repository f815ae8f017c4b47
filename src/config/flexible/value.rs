//! The values a template works on, with Go's types where they show: JSON
//! settings decode as Go's `encoding/json` decodes into `interface{}`
//! (every number a `float64`), template literals and `len` are `int`, and
//! printing, truth and `marshal` follow `fmt`, `text/template` and
//! `encoding/json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (a missing map key): prints `<no value>`.
    Missing,
    /// A JSON `null` or Go `nil`: prints `<nil>`.
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    /// Go ranges over and prints a map in key order; so does a BTreeMap.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// A JSON document as Go's `json.Unmarshal` into `interface{}` gives it.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(items) => {
                Value::List(items.iter().map(Value::from_json).collect())
            }
            serde_json::Value::Object(map) => Value::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// text/template's truth: false, 0, nil, and empty text, lists and maps
    /// are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Missing | Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(items) => !items.is_empty(),
            Value::Map(map) => !map.is_empty(),
        }
    }

    /// Go's name for the type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Null => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// `fmt.Sprint`'s text (`%v`), which `{{ . }}` writes.
    pub fn print(&self) -> String {
        let mut out = String::new();
        self.print_into(&mut out, true);
        out
    }

    fn print_into(&self, out: &mut String, top: bool) {
        match self {
            Value::Missing if top => out.push_str("<no value>"),
            Value::Missing | Value::Null => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&go_float_g(*f)),
            Value::Str(s) => out.push_str(s),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    item.print_into(out, false);
                }
                out.push(']');
            }
            Value::Map(map) => {
                out.push_str("map[");
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(key);
                    out.push(':');
                    item.print_into(out, false);
                }
                out.push(']');
            }
        }
    }

    /// Go's `json.Marshal`: keys in order, `<`, `>`, `&`, U+2028 and U+2029
    /// escaped (with `html`), floats as Go writes them.
    pub fn to_json(&self, html: bool) -> String {
        let mut out = String::new();
        self.json_into(&mut out, html, None, 0);
        out
    }

    /// `json.MarshalIndent(v, "", indent)`.
    pub fn to_json_pretty(&self, indent: &str) -> String {
        let mut out = String::new();
        self.json_into(&mut out, true, Some(indent), 0);
        out
    }

    fn json_into(&self, out: &mut String, html: bool, indent: Option<&str>, depth: usize) {
        let newline = |out: &mut String, depth: usize| {
            if let Some(unit) = indent {
                out.push('\n');
                for _ in 0..depth {
                    out.push_str(unit);
                }
            }
        };
        match self {
            Value::Missing | Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&go_json_float(*f)),
            Value::Str(s) => json_string(out, s, html),
            Value::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    item.json_into(out, html, indent, depth + 1);
                }
                if !items.is_empty() {
                    newline(out, depth);
                }
                out.push(']');
            }
            Value::Map(map) => {
                out.push('{');
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    json_string(out, key, html);
                    out.push(':');
                    if indent.is_some() {
                        out.push(' ');
                    }
                    item.json_into(out, html, indent, depth + 1);
                }
                if !map.is_empty() {
                    newline(out, depth);
                }
                out.push('}');
            }
        }
    }
}

fn json_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The shortest digits of `f` and its decimal exponent: `1234.5` is
/// (`"12345"`, 3), read from Rust's shortest round-trip `{:e}`.
fn shortest(f: f64) -> (String, i32) {
    let text = format!("{:e}", f.abs());
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    (mantissa.replace('.', ""), exp.parse().unwrap_or(0))
}

/// `d.ddde±XX` as Go's `strconv` writes an exponent (sign, two digits at
/// least).
fn go_exponent(negative: bool, digits: &str, exp: i32) -> String {
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    out
}

/// `fmt`'s `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): an
/// exponent from 1e+06 up and below 1e-04, so a settings number such as
/// 1000000 prints `1e+06`, as in KrakenD.
pub fn go_float_g(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let (digits, exp) = shortest(f);
    if !(-4..6).contains(&exp) {
        go_exponent(f < 0.0, &digits, exp)
    } else {
        format!("{f}")
    }
}

/// `encoding/json`'s float64: fixed notation unless below 1e-6 or from
/// 1e21 up, then an exponent without a leading zero (`1e-7`, `1e+21`).
pub fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (digits, exp) = shortest(f);
        let text = go_exponent(f < 0.0, &digits, exp);
        // Go trims the exponent's leading zero: e-07 is e-7.
        return text.replacen("e-0", "e-", 1).replacen("e+0", "e+", 1);
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        for (f, g, json) in [
            (8080.0, "8080", "8080"),
            (100000.0, "100000", "100000"),
            (1000000.0, "1e+06", "1000000"),
            (1234567.0, "1.234567e+06", "1234567"),
            (0.5, "0.5", "0.5"),
            (0.0001, "0.0001", "0.0001"),
            (0.00001, "1e-05", "0.00001"),
            (1e-7, "1e-07", "1e-7"),
            (1e21, "1e+21", "1e+21"),
            (-2.5, "-2.5", "-2.5"),
            (0.0, "0", "0"),
        ] {
            assert_eq!(go_float_g(f), g, "{f}");
            assert_eq!(go_json_float(f), json, "{f}");
        }
    }

    #[test]
    fn printing_and_marshal_follow_go() {
        let value =
            Value::from_json(&serde_json::json!({"b": [1, "x", null], "a": "<&>", "c": {}}));
        assert_eq!(value.print(), "map[a:<&> b:[1 x <nil>] c:map[]]");
        assert_eq!(
            value.to_json(true),
            r#"{"a":"\u003c\u0026\u003e","b":[1,"x",null],"c":{}}"#
        );
        assert_eq!(Value::Missing.print(), "<no value>");
        assert_eq!(
            Value::from_json(&serde_json::json!({"a": [1]})).to_json_pretty("  "),
            "{\n  \"a\": [\n    1\n  ]\n}"
        );
    }
}
