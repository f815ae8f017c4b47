//! A configuration file's text into one `serde_json::Value`, whatever its
//! format, so that the environment overrides and everything after them are
//! shared.
//!
//! The format comes from the file's extension exactly as krakend-koanf
//! picks its parser (`parser.go`, `ParseWithoutInit`): `.yml` and `.yaml`
//! are YAML, `.toml` is TOML, anything else (`.json`, `.conf`, none, and
//! `.YAML`: Go's `filepath.Ext` is compared case-sensitively) is JSON.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Number, Value};

use super::ConfigError;
use super::error::json_path_text;
use super::raw::RawConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    Toml,
}

impl Format {
    /// krakend-koanf's choice for `path`.
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|ext| ext.to_str()) {
            Some("yml" | "yaml") => Format::Yaml,
            Some("toml") => Format::Toml,
            _ => Format::Json,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "JSON",
            Format::Yaml => "YAML",
            Format::Toml => "TOML",
        }
    }
}

/// Parses `text` as `format` into a JSON value; syntax errors carry the line
/// and column.
pub fn parse_value(text: &str, format: Format, file: &Path) -> Result<Value, ConfigError> {
    let syntax = |line: usize, column: usize, message: String| ConfigError::Syntax {
        file: file.to_path_buf(),
        format: format.name(),
        line,
        column,
        message,
    };
    match format {
        Format::Json => {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            let value = Value::deserialize(&mut deserializer).map_err(|error| {
                let message = without_position(&error.to_string(), error.line(), error.column());
                syntax(
                    error.line(),
                    error.column(),
                    message + &extension_hint(file),
                )
            })?;
            // Trailing characters after the JSON document are a syntax error too.
            deserializer.end().map_err(|error| {
                syntax(
                    error.line(),
                    error.column(),
                    "unexpected text after the end of the JSON document".to_owned(),
                )
            })?;
            Ok(value)
        }
        Format::Yaml => {
            let yaml_error = |error: serde_norway::Error| {
                let (line, column) = error
                    .location()
                    .map_or((0, 0), |at| (at.line(), at.column()));
                syntax(
                    line,
                    column,
                    without_position(&error.to_string(), line, column),
                )
            };
            let mut value: serde_norway::Value =
                serde_norway::from_str(text).map_err(yaml_error)?;
            // `<<: *anchor` merge keys, which yaml.v3 (koanf's YAML parser) honours.
            value.apply_merge().map_err(yaml_error)?;
            yaml_to_json(value, "").map_err(|(at, message)| ConfigError::Invalid {
                file: file.to_path_buf(),
                at: json_path_text(&at),
                message,
            })
        }
        Format::Toml => {
            let table: toml::Table = toml::from_str(text).map_err(|error| {
                let (line, column) = line_column(text, error.span().map_or(0, |s| s.start));
                syntax(line, column, error.message().trim_end().to_owned())
            })?;
            Ok(toml_to_json(toml::Value::Table(table)))
        }
    }
}

/// Where in the text a value error that `RawConfig` raised from the value
/// sits: the same deserialization straight from the text, whose error
/// carries a position, when it fails with the same message.
pub fn locate(text: &str, format: Format, message: &str) -> Option<(usize, usize)> {
    match format {
        Format::Json => {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            let error = RawConfig::deserialize(&mut deserializer).err()?;
            let own = without_position(&error.to_string(), error.line(), error.column());
            (own == message).then_some((error.line(), error.column()))
        }
        Format::Yaml => {
            let error = serde_norway::from_str::<RawConfig>(text).err()?;
            let at = error.location()?;
            // serde_norway puts the key path before the message.
            let own = without_position(&error.to_string(), at.line(), at.column());
            (own == message || own.ends_with(&format!(": {message}")))
                .then_some((at.line(), at.column()))
        }
        Format::Toml => {
            let error = toml::from_str::<RawConfig>(text).err()?;
            let span = error.span()?;
            (error.message().trim_end() == message).then(|| line_column(text, span.start))
        }
    }
}

/// Parsers append " at line L column C"; cuttle prints the position itself.
fn without_position(message: &str, line: usize, column: usize) -> String {
    message.replacen(&format!(" at line {line} column {column}"), "", 1)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A hint for `krakend.YAML`: KrakenD reads it as JSON, and so does cuttle.
fn extension_hint(file: &Path) -> String {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "yml" | "yaml" | "toml" if Format::of(file) == Format::Json => format!(
            " (KrakenD chooses the parser by the file's extension, case-sensitively, so \".{ext}\" is read as JSON: rename the file to .{})",
            ext.to_ascii_lowercase()
        ),
        _ => String::new(),
    }
}

/// YAML's data model into JSON's, as koanf's `cleanupMapValue` does: scalar
/// keys become their text (`404:` is `"404"`); NaN and infinities, which
/// JSON cannot hold, are refused. `at` is the path so far, for messages.
fn yaml_to_json(value: serde_norway::Value, at: &str) -> Result<Value, (String, String)> {
    use serde_norway::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Value::Number(u.into())
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                Value::Number(Number::from_f64(f).ok_or_else(|| {
                    (
                        at.to_owned(),
                        "NaN and infinities have no JSON form: write a finite number".to_owned(),
                    )
                })?)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(mapping) => {
            let mut map = Map::new();
            for (key, item) in mapping {
                let key = match key {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    Y::Null => "null".to_owned(),
                    _ => {
                        return Err((
                            at.to_owned(),
                            "a mapping key is a list or a mapping: keys must be plain text"
                                .to_owned(),
                        ));
                    }
                };
                let child = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                map.insert(key, yaml_to_json(item, &child)?);
            }
            Value::Object(map)
        }
        // A custom tag (`!secret x`): its value, as yaml.v3 decodes it into
        // an interface{}.
        Y::Tagged(tagged) => yaml_to_json(tagged.value, at)?,
    })
}

/// TOML into JSON; a date-time becomes its RFC 3339 text.
fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::Number(i.into()),
        // TOML accepts nan and inf; JSON has no form for them.
        toml::Value::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(key, item)| (key, toml_to_json(item)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_extension_picks_the_parser_as_koanf_does() {
        for (name, format) in [
            ("a.json", Format::Json),
            ("a.yaml", Format::Yaml),
            ("a.yml", Format::Yaml),
            ("a.toml", Format::Toml),
            ("a.YAML", Format::Json),
            ("a.conf", Format::Json),
            ("krakend", Format::Json),
        ] {
            assert_eq!(Format::of(Path::new(name)), format, "{name}");
        }
    }

    #[test]
    fn yaml_and_toml_become_the_same_json() {
        let json = json!({"version": 3, "port": 8080, "timeout": "3s",
            "extra_config": {"router": {"error_body": {"404": {"msg": "no"}}}},
            "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://b"], "url_pattern": "/x"}]}]});
        let yaml = "version: 3\nport: 8080\ntimeout: 3s\nextra_config:\n  router:\n    error_body:\n      404: {msg: no}\nendpoints:\n  - endpoint: /a\n    backend:\n      - host: [\"http://b\"]\n        url_pattern: /x\n";
        let toml = "version = 3\nport = 8080\ntimeout = \"3s\"\n[extra_config.router.error_body.404]\nmsg = \"no\"\n[[endpoints]]\nendpoint = \"/a\"\n[[endpoints.backend]]\nhost = [\"http://b\"]\nurl_pattern = \"/x\"\n";
        let file = Path::new("x");
        assert_eq!(parse_value(yaml, Format::Yaml, file).unwrap(), json);
        assert_eq!(parse_value(toml, Format::Toml, file).unwrap(), json);
    }

    #[test]
    fn yaml_merge_keys_are_honoured() {
        let yaml = "base: &b {a: 1}\nother:\n  <<: *b\n  c: 2\n";
        let value = parse_value(yaml, Format::Yaml, Path::new("x")).unwrap();
        assert_eq!(value["other"], json!({"a": 1, "c": 2}));
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let cases = [
            (
                Format::Yaml,
                "version: 3\nendpoints:\n  - endpoint: /a\n   bad: [\n",
                4,
            ),
            (Format::Toml, "version = 3\nport = \n", 2),
            (Format::Json, "{\"version\": 3,\n\"port\" 1}", 2),
        ];
        for (format, text, line) in cases {
            match parse_value(text, format, Path::new("f")) {
                Err(ConfigError::Syntax { line: got, .. }) => assert_eq!(got, line, "{format:?}"),
                other => panic!("{format:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("ab\ncé\n", 0), (1, 1));
        assert_eq!(line_column("ab\ncé\nx", 7), (3, 1));
        assert_eq!(line_column("ab\ncéd", 6), (2, 3));
    }
}
