//! The functions a flexible configuration may call: Go's `text/template`
//! built-ins (`funcs.go`), KrakenD's `marshal` and `include`
//! (krakend-flexibleconfig `template.go`), and the Sprig v3 functions
//! (`sprig.GenericFuncMap()`, Masterminds/sprig v3.2.3) that real KrakenD
//! files use, plus their close kin. Each behaves as its Go original,
//! including Sprig's conversions (spf13/cast) and its habit of returning
//! an empty value where Go code would fail; Go's panics and errors are
//! errors here. Any other name is refused when the file is parsed.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;

use super::value::Value;
use crate::config::Environment;

/// What `include` and `env` read.
pub struct Ctx<'a> {
    pub env: &'a Environment,
    /// `FC_PARTIALS` (empty: the working directory, as Go's `path.Join`).
    pub partials: &'a Path,
}

const BUILTINS: &[&str] = &[
    "and", "or", "not", "len", "index", "print", "printf", "println", "eq", "ne", "lt", "le", "gt",
    "ge", "html", "urlquery",
];

const KRAKEND: &[&str] = &["marshal", "include"];

const SPRIG: &[&str] = &[
    "env",
    "expandenv",
    "default",
    "empty",
    "coalesce",
    "ternary",
    "quote",
    "squote",
    "upper",
    "lower",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "join",
    "split",
    "splitList",
    "first",
    "last",
    "list",
    "append",
    "push",
    "prepend",
    "dict",
    "merge",
    "hasKey",
    "keys",
    "get",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "fromJson",
    "int",
    "int64",
    "float64",
    "toString",
    "atoi",
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "indent",
    "nindent",
    "b64enc",
    "b64dec",
];

pub fn exists(name: &str) -> bool {
    BUILTINS.contains(&name) || KRAKEND.contains(&name) || SPRIG.contains(&name)
}

/// The refusal for a name `exists` does not know.
pub fn unknown(name: &str) -> String {
    format!(
        "function \"{name}\" not defined: cuttle's flexible configuration has Go's built-ins ({}), KrakenD's marshal and include, and these Sprig functions: {}; write the value another way or with one of these",
        BUILTINS.join(", "),
        SPRIG.join(", ")
    )
}

type Result<T> = std::result::Result<T, String>;

/// Calls `name` (not `and`/`or`, which the executor evaluates lazily).
pub fn call(name: &str, args: Vec<Value>, ctx: &Ctx<'_>) -> Result<Value> {
    // A missing value reaches a Go function as nil.
    let args: Vec<Value> = args
        .into_iter()
        .map(|v| if v == Value::Missing { Value::Null } else { v })
        .collect();
    let n = args.len();
    let want = |count: usize| -> Result<()> {
        if n == count {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {name}: want {count} got {n}"
            ))
        }
    };
    let at_least = |count: usize| -> Result<()> {
        if n >= count {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {name}: want at least {count} got {n}"
            ))
        }
    };
    let s = |i: usize| text(&args[i]);
    Ok(match name {
        // ---- Go's built-ins
        "not" => {
            want(1)?;
            Value::Bool(!args[0].truth())
        }
        "len" => {
            want(1)?;
            Value::Int(match &args[0] {
                Value::Str(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                Value::Missing | Value::Null => return Err("len of nil pointer".into()),
                other => return Err(format!("len of type {}", other.type_name())),
            } as i64)
        }
        "index" => {
            at_least(1)?;
            let mut item = args[0].clone();
            for key in &args[1..] {
                item = match (&item, key) {
                    (Value::Null, _) => return Err("index of untyped nil".into()),
                    (Value::List(list), Value::Int(i)) => {
                        match usize::try_from(*i).ok().and_then(|i| list.get(i)) {
                            Some(v) => v.clone(),
                            None => {
                                return Err(format!(
                                    "error calling index: index out of range: {i}"
                                ));
                            }
                        }
                    }
                    (Value::Str(s), Value::Int(i)) => {
                        match usize::try_from(*i).ok().and_then(|i| s.as_bytes().get(i)) {
                            Some(b) => Value::Int(i64::from(*b)),
                            None => {
                                return Err(format!(
                                    "error calling index: index out of range: {i}"
                                ));
                            }
                        }
                    }
                    (Value::Map(map), Value::Str(k)) => map.get(k).cloned().unwrap_or(Value::Null),
                    (Value::List(_) | Value::Str(_), other) => {
                        return Err(format!(
                            "error calling index: cannot index slice/array with type {}",
                            other.type_name()
                        ));
                    }
                    (Value::Map(_), other) => {
                        return Err(format!(
                            "error calling index: value has type {}; should be string",
                            other.type_name()
                        ));
                    }
                    (other, _) => {
                        return Err(format!(
                            "error calling index: can't index item of type {}",
                            other.type_name()
                        ));
                    }
                };
            }
            item
        }
        "print" => Value::Str(sprint(&args)),
        // fmt.Sprintln: always a space between operands.
        "println" => Value::Str(args.iter().map(strval).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => {
            at_least(1)?;
            Value::Str(printf(&s(0)?, &args[1..])?)
        }
        "eq" => {
            at_least(2)?;
            let mut any = false;
            for other in &args[1..] {
                any |= equal(&args[0], other)?;
            }
            Value::Bool(any)
        }
        "ne" => {
            want(2)?;
            Value::Bool(!equal(&args[0], &args[1])?)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(2)?;
            let ordering = compare(&args[0], &args[1])?;
            Value::Bool(match name {
                "lt" => ordering.is_lt(),
                "le" => ordering.is_le(),
                "gt" => ordering.is_gt(),
                _ => ordering.is_ge(),
            })
        }
        "html" => Value::Str(
            sprint(&args)
                .replace('&', "&amp;")
                .replace('\'', "&#39;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;")
                .replace('\0', "\u{FFFD}"),
        ),
        "urlquery" => Value::Str(query_escape(&sprint(&args))),
        // ---- KrakenD's
        "marshal" => {
            want(1)?;
            Value::Str(args[0].to_json(true))
        }
        "include" => {
            want(1)?;
            let Value::Str(file) = &args[0] else {
                return Err(format!(
                    "include needs a file name (text), got {}",
                    args[0].type_name()
                ));
            };
            // Go's path.Join keeps a leading / of `file` under the folder.
            let path = ctx.partials.join(file.trim_start_matches('/'));
            match std::fs::read_to_string(&path) {
                Ok(text) => Value::Str(text),
                // KrakenD includes nothing for a file it cannot read; the
                // rendered file is then rarely what was meant.
                Err(e) => {
                    return Err(format!(
                        "include \"{file}\": cannot read {}: {e} (partials are read from FC_PARTIALS)",
                        path.display()
                    ));
                }
            }
        }
        // ---- Sprig's
        "env" => {
            want(1)?;
            Value::Str(ctx.env.var(&s(0)?).unwrap_or("").to_owned())
        }
        "expandenv" => {
            want(1)?;
            Value::Str(expand_env(&s(0)?, ctx.env))
        }
        "default" => {
            at_least(1)?;
            match args.get(1) {
                Some(given) if !empty(given) => given.clone(),
                _ => args[0].clone(),
            }
        }
        "empty" => {
            want(1)?;
            Value::Bool(empty(&args[0]))
        }
        "coalesce" => args
            .iter()
            .find(|v| !empty(v))
            .cloned()
            .unwrap_or(Value::Null),
        "ternary" => {
            want(3)?;
            match &args[2] {
                Value::Bool(true) => args[0].clone(),
                Value::Bool(false) => args[1].clone(),
                other => {
                    return Err(format!(
                        "ternary's third argument must be a bool, got {}",
                        other.type_name()
                    ));
                }
            }
        }
        "quote" => Value::Str(
            args.iter()
                .filter(|v| **v != Value::Null)
                .map(|v| go_quote(&strval(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "squote" => Value::Str(
            args.iter()
                .filter(|v| **v != Value::Null)
                .map(|v| format!("'{}'", strval(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "upper" => {
            want(1)?;
            Value::Str(s(0)?.to_uppercase())
        }
        "lower" => {
            want(1)?;
            Value::Str(s(0)?.to_lowercase())
        }
        "trim" => {
            want(1)?;
            Value::Str(s(0)?.trim().to_owned())
        }
        "trimAll" => {
            want(2)?;
            let cutset = s(0)?;
            Value::Str(s(1)?.trim_matches(|c| cutset.contains(c)).to_owned())
        }
        "trimPrefix" => {
            want(2)?;
            let (prefix, text) = (s(0)?, s(1)?);
            Value::Str(
                text.strip_prefix(prefix.as_str())
                    .unwrap_or(&text)
                    .to_owned(),
            )
        }
        "trimSuffix" => {
            want(2)?;
            let (suffix, text) = (s(0)?, s(1)?);
            Value::Str(
                text.strip_suffix(suffix.as_str())
                    .unwrap_or(&text)
                    .to_owned(),
            )
        }
        "replace" => {
            want(3)?;
            Value::Str(s(2)?.replace(&s(0)?, &s(1)?))
        }
        "contains" => {
            want(2)?;
            Value::Bool(s(1)?.contains(&s(0)?))
        }
        "hasPrefix" => {
            want(2)?;
            Value::Bool(s(1)?.starts_with(&s(0)?))
        }
        "hasSuffix" => {
            want(2)?;
            Value::Bool(s(1)?.ends_with(&s(0)?))
        }
        "repeat" => {
            want(2)?;
            let count = to_int(&args[0]).max(0) as usize;
            Value::Str(s(1)?.repeat(count))
        }
        "join" => {
            want(2)?;
            let items = match &args[1] {
                Value::List(items) => items
                    .iter()
                    .filter(|v| **v != Value::Null)
                    .map(strval)
                    .collect(),
                Value::Null => Vec::new(),
                other => vec![strval(other)],
            };
            Value::Str(items.join(&s(0)?))
        }
        "split" => {
            want(2)?;
            Value::Map(
                go_split(&s(1)?, &s(0)?)
                    .into_iter()
                    .enumerate()
                    .map(|(i, part)| (format!("_{i}"), Value::Str(part)))
                    .collect(),
            )
        }
        "splitList" => {
            want(2)?;
            Value::List(
                go_split(&s(1)?, &s(0)?)
                    .into_iter()
                    .map(Value::Str)
                    .collect(),
            )
        }
        "first" | "last" => {
            want(1)?;
            match &args[0] {
                Value::List(items) => {
                    let item = if name == "first" {
                        items.first()
                    } else {
                        items.last()
                    };
                    item.cloned().unwrap_or(Value::Null)
                }
                Value::Null => Value::Null,
                other => return Err(format!("cannot find {name} on type {}", other.type_name())),
            }
        }
        "list" => Value::List(args),
        "append" | "push" | "prepend" => {
            want(2)?;
            match &args[0] {
                Value::List(items) => {
                    let mut items = items.clone();
                    if name == "prepend" {
                        items.insert(0, args[1].clone());
                    } else {
                        items.push(args[1].clone());
                    }
                    Value::List(items)
                }
                Value::Null => Value::List(vec![args[1].clone()]),
                other => return Err(format!("cannot {name} on type {}", other.type_name())),
            }
        }
        "dict" => {
            let mut map = BTreeMap::new();
            for pair in args.chunks(2) {
                let value = pair
                    .get(1)
                    .cloned()
                    .unwrap_or_else(|| Value::Str(String::new()));
                map.insert(strval(&pair[0]), value);
            }
            Value::Map(map)
        }
        "merge" => {
            at_least(1)?;
            let Value::Map(mut dst) = args[0].clone() else {
                return Err(format!("merge needs maps, got {}", args[0].type_name()));
            };
            for src in &args[1..] {
                match src {
                    Value::Map(src) => merge(&mut dst, src),
                    Value::Null => {}
                    other => return Err(format!("merge needs maps, got {}", other.type_name())),
                }
            }
            Value::Map(dst)
        }
        "hasKey" => {
            want(2)?;
            let key = s(1)?;
            match &args[0] {
                Value::Map(map) => Value::Bool(map.contains_key(&key)),
                other => return Err(format!("hasKey needs a map, got {}", other.type_name())),
            }
        }
        "keys" => {
            let mut keys = Vec::new();
            for map in &args {
                match map {
                    Value::Map(map) => keys.extend(map.keys().cloned().map(Value::Str)),
                    other => return Err(format!("keys needs maps, got {}", other.type_name())),
                }
            }
            Value::List(keys)
        }
        "get" => {
            want(2)?;
            let key = s(1)?;
            match &args[0] {
                Value::Map(map) => map
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| Value::Str(String::new())),
                other => return Err(format!("get needs a map, got {}", other.type_name())),
            }
        }
        "toJson" => {
            want(1)?;
            Value::Str(args[0].to_json(true))
        }
        "toRawJson" => {
            want(1)?;
            Value::Str(args[0].to_json(false))
        }
        "toPrettyJson" => {
            want(1)?;
            Value::Str(args[0].to_json_pretty("  "))
        }
        "fromJson" => {
            want(1)?;
            serde_json::from_str::<serde_json::Value>(&s(0)?)
                .map(|json| Value::from_json(&json))
                .unwrap_or(Value::Null)
        }
        "int" | "int64" => {
            want(1)?;
            Value::Int(to_int(&args[0]))
        }
        "float64" => {
            want(1)?;
            Value::Float(match &args[0] {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                Value::Bool(b) => f64::from(u8::from(*b)),
                Value::Str(s) => s.trim().parse().unwrap_or(0.0),
                _ => 0.0,
            })
        }
        "toString" => {
            want(1)?;
            Value::Str(strval(&args[0]))
        }
        "atoi" => {
            want(1)?;
            Value::Int(s(0)?.parse().unwrap_or(0))
        }
        "add" => Value::Int(args.iter().map(to_int).fold(0i64, i64::wrapping_add)),
        "add1" => {
            want(1)?;
            Value::Int(to_int(&args[0]).wrapping_add(1))
        }
        "mul" => {
            at_least(1)?;
            Value::Int(args.iter().map(to_int).fold(1i64, i64::wrapping_mul))
        }
        "sub" | "div" | "mod" => {
            want(2)?;
            let (a, b) = (to_int(&args[0]), to_int(&args[1]));
            Value::Int(match name {
                "sub" => a.wrapping_sub(b),
                _ if b == 0 => return Err(format!("error calling {name}: integer divide by zero")),
                "div" => a.wrapping_div(b),
                _ => a.wrapping_rem(b),
            })
        }
        "max" | "min" => {
            at_least(1)?;
            let values = args.iter().map(to_int);
            Value::Int(
                if name == "max" {
                    values.max()
                } else {
                    values.min()
                }
                .unwrap_or(0),
            )
        }
        "indent" | "nindent" => {
            want(2)?;
            let pad = " ".repeat(to_int(&args[0]).max(0) as usize);
            let indented = format!("{pad}{}", s(1)?.replace('\n', &format!("\n{pad}")));
            Value::Str(if name == "nindent" {
                format!("\n{indented}")
            } else {
                indented
            })
        }
        "b64enc" => {
            want(1)?;
            Value::Str(base64::engine::general_purpose::STANDARD.encode(s(0)?))
        }
        "b64dec" => {
            want(1)?;
            // Sprig returns the error's text as the value.
            Value::Str(
                match base64::engine::general_purpose::STANDARD.decode(s(0)?) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(e) => e.to_string(),
                },
            )
        }
        _ => return Err(unknown(name)),
    })
}

/// A string argument, as Go checks a `string` parameter.
fn text(v: &Value) -> Result<String> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Null | Value::Missing => Err("invalid value; expected string".into()),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        )),
    }
}

/// Sprig's `strval`: text as is, anything else as `%v` prints it.
fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Missing | Value::Null => "<nil>".into(),
        other => other.print(),
    }
}

/// Sprig's `empty`.
fn empty(v: &Value) -> bool {
    !v.truth()
}

/// spf13/cast's `ToInt` (errors give 0): floats truncate, text is
/// `strconv.ParseInt(s, 0, 0)` after a `.0` suffix is dropped.
fn to_int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => {
            let s = s.strip_suffix(".0").unwrap_or(s);
            let (sign, digits) = match s.strip_prefix('-') {
                Some(rest) => (-1, rest),
                None => (1, s.strip_prefix('+').unwrap_or(s)),
            };
            let parsed = if let Some(hex) = digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
            {
                i64::from_str_radix(hex, 16)
            } else if digits.len() > 1 && digits.starts_with('0') {
                i64::from_str_radix(&digits[1..], 8)
            } else {
                digits.parse()
            };
            parsed.map(|i| sign * i).unwrap_or(0)
        }
        _ => 0,
    }
}

/// Go's `strings.Split`: an empty separator splits into characters.
fn go_split(text: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        text.chars().map(String::from).collect()
    } else {
        text.split(sep).map(str::to_owned).collect()
    }
}

/// mergo.Merge without override: a key `dst` lacks (or holds nil) is
/// taken from `src`; maps on both sides merge deeply.
fn merge(dst: &mut BTreeMap<String, Value>, src: &BTreeMap<String, Value>) {
    for (key, value) in src {
        match dst.get_mut(key) {
            Some(Value::Map(inner)) => {
                if let Value::Map(from) = value {
                    merge(inner, from);
                }
            }
            Some(existing @ (Value::Null | Value::Missing)) => *existing = value.clone(),
            Some(_) => {}
            None => {
                dst.insert(key.clone(), value.clone());
            }
        }
    }
}

/// `fmt.Sprint`: a space between operands when neither is text.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 && !matches!(arg, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&strval(arg));
    }
    out
}

/// text/template's `eq` for two values: basic kinds compare, int and
/// float64 do not (Go: "incompatible types for comparison"), nil equals
/// only nil.
fn equal(a: &Value, b: &Value) -> Result<bool> {
    Ok(match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            return Err(format!(
                "error calling eq: non-comparable type {}",
                a.type_name()
            ));
        }
        _ => {
            return Err(format!(
                "error calling eq: incompatible types for comparison ({} and {}; a settings number is a float64: compare it with 1.0, not 1)",
                a.type_name(),
                b.type_name()
            ));
        }
    })
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x
            .partial_cmp(y)
            .ok_or_else(|| "cannot compare NaN".to_owned()),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Int(_), Value::Float(_)) | (Value::Float(_), Value::Int(_)) => Err(format!(
            "incompatible types for comparison ({} and {}; a settings number is a float64: compare it with 1.0, not 1)",
            a.type_name(),
            b.type_name()
        )),
        _ => Err(format!(
            "invalid type for comparison: {} and {}",
            a.type_name(),
            b.type_name()
        )),
    }
}

/// Go's `%q` (`strconv.Quote`).
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `os.ExpandEnv`: `$NAME` and `${NAME}`; unset is empty.
fn expand_env(s: &str, env: &Environment) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c == '_' || c.is_ascii_alphanumeric()))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if len == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(env.var(name).unwrap_or(""));
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// Go's `fmt.Sprintf` for the verbs configuration files use: `%v`, `%s`,
/// `%d`, `%t`, `%q`, `%f` (with a precision), `%%`.
fn printf(format: &str, args: &[Value]) -> Result<String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                chars.next();
            }
            precision = Some(digits.parse::<usize>().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        match (verb, arg) {
            ('v' | 's', v) => out.push_str(&strval(v)),
            ('d', Value::Int(i)) => out.push_str(&i.to_string()),
            ('t', Value::Bool(b)) => out.push_str(&b.to_string()),
            ('q', Value::Str(s)) => out.push_str(&go_quote(s)),
            ('f', Value::Float(f)) => out.push_str(&format!("{f:.*}", precision.unwrap_or(6))),
            ('f', Value::Int(_)) | ('d', Value::Float(_)) => {
                out.push_str(&format!("%!{verb}({}={})", arg.type_name(), arg.print()));
            }
            (verb, _) => {
                return Err(format!(
                    "printf: the verb %{verb} with a {} is not one cuttle implements (it has %v %s %d %t %q %f)",
                    arg.type_name()
                ));
            }
        }
    }
    Ok(out)
}
