//! `modifier/lua-endpoint`, `modifier/lua-proxy` and `modifier/lua-backend`
//! (krakend-lua): read as krakend-lua's `config.go` (`Parse`) reads them.
//! Sources are read here, once, relative to the working directory, and
//! their `md5` checked (a mismatch stops `check` and start-up); with
//! `live` they are read again for every request instead (`lua::Script`).

use serde_json::Value;

use super::error::{BuildResult, Problem};

pub const ENDPOINT: &str = "modifier/lua-endpoint";
pub const PROXY: &str = "modifier/lua-proxy";
pub const BACKEND: &str = "modifier/lua-backend";

/// One Lua namespace as written.
#[derive(Debug, Clone, Default)]
pub struct LuaSettings {
    /// Its JSON path, for messages.
    pub at: String,
    /// `sources`, in order: the path as written and, unless `live`, its
    /// text (`None` when it could not be read: each run then fails).
    pub sources: Vec<(String, Option<String>)>,
    pub pre: Option<String>,
    pub post: Option<String>,
    pub live: bool,
    pub allow_open_libs: bool,
    /// Backend level: the backend is not called.
    pub skip_next: bool,
}

/// Decodes one namespace. As in krakend-lua, values of the wrong type are
/// ignored (`c["pre"].(string)`) except `md5` entries, whose checksum must
/// be a string matching the source's text.
pub fn settings(value: &Value, at: &str, warnings: &mut Vec<Problem>) -> BuildResult<LuaSettings> {
    let Value::Object(fields) = value else {
        return Err(Problem::new(
            at,
            "must be an object, e.g. {\"sources\": [\"file.lua\"], \"pre\": \"my_function()\"}",
        ));
    };
    let text = |key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let flag = |key: &str| fields.get(key).and_then(Value::as_bool) == Some(true);
    let live = flag("live");
    let mut sources = Vec::new();
    for path in fields
        .get("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let text = if live {
            None
        } else {
            // KrakenD logs an unreadable source and goes on; the script then
            // fails on every request ("unable to load required source"), 500.
            match std::fs::read_to_string(path) {
                Ok(text) => Some(text),
                Err(e) => {
                    warnings.push(Problem::new(
                        format!("{at}.sources"),
                        format!("cannot read the Lua source \"{path}\" (relative to the working directory): {e}; every request through this script fails, as in KrakenD"),
                    ));
                    None
                }
            }
        };
        sources.push((path.to_owned(), text));
    }
    if let Some(Value::Object(checksums)) = fields.get("md5") {
        for (source, expected) in checksums {
            let at = format!("{at}.md5.{source}");
            let Some(expected) = expected.as_str() else {
                return Err(Problem::new(
                    at,
                    "must be a string: the source's MD5 checksum in hex",
                ));
            };
            // krakend-lua checks the text it loaded (live: the file now).
            let content = sources
                .iter()
                .find(|(path, _)| path == source)
                .and_then(|(_, text)| text.clone())
                .or_else(|| std::fs::read_to_string(source).ok())
                .unwrap_or_default();
            let actual = md5_hex(content.as_bytes());
            if actual != *expected {
                return Err(Problem::new(
                    at,
                    format!(
                        "wrong checksum for the Lua source \"{source}\": have {actual}, want {expected}"
                    ),
                ));
            }
        }
    }
    Ok(LuaSettings {
        at: at.to_owned(),
        sources,
        pre: text("pre"),
        post: text("post"),
        live,
        allow_open_libs: flag("allow_open_libs"),
        skip_next: flag("skip_next"),
    })
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    let digest = md5::Md5::digest(bytes);
    let mut out = String::with_capacity(32);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_known_text() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn wrong_types_are_ignored_as_krakend_does() {
        let s = settings(
            &serde_json::json!({"pre": 3, "post": "x()", "live": "yes", "skip_next": true}),
            "a",
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(s.pre, None);
        assert_eq!(s.post.as_deref(), Some("x()"));
        assert!(!s.live && s.skip_next);
    }
}
