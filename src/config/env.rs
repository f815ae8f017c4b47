//! `KRAKEND_*` environment variables that override the file, with
//! krakend-koanf's rule (`parser.go`, `ParseWithoutInit`):
//!
//! - every variable whose name starts with `KRAKEND_` (case-sensitive) is
//!   read; the rest of its name, lower-cased, is a key path split on `.`
//!   (koanf's delimiter): `KRAKEND_PORT` is `port`, `KRAKEND_CACHE_TTL` is
//!   `cache_ttl`. Underscores are never separators, so
//!   `KRAKEND_EXTRA_CONFIG_ROUTER` is the root key `extra_config_router`,
//!   which KrakenD does not read; only a name with dots
//!   (`KRAKEND_EXTRA_CONFIG.router.health_path`, settable with `env` or a
//!   container's environment, not with `export`) reaches a nested key;
//! - the value is merged over the file (koanf `maps.Merge`), whether or not
//!   the file has the key (the current koanf code; KrakenD's older viper
//!   documentation says a key absent from the file is not overridden);
//! - lura's `ServiceConfig` is then decoded with mapstructure's weak typing:
//!   a string becomes an int with `strconv.ParseInt(s, 0, 64)` (`""` is 0),
//!   a bool with `strconv.ParseBool` (`""` is false), a duration with
//!   `time.ParseDuration`, a list (`host`) holds the string as its one item
//!   (no splitting on commas), and a string where an object or a list of
//!   objects belongs (`endpoints`, `extra_config`, `tls`...) fails. Inside
//!   `extra_config` (a `map[string]interface{}`) a value stays a string;
//!   inside `tls`, `client_tls` and `plugin` it takes the field's type.
//!
//! The process environment is read in one place (`main`); everything here
//! takes an [`Environment`], so tests pass a map.

use serde_json::{Map, Number, Value};

use super::duration::{DurationError, parse_go_duration};
use super::weak::{go_parse_bool, go_parse_int};

/// The prefix krakend-koanf reads.
pub const PREFIX: &str = "KRAKEND_";

/// `KRAKEND_*` variables, in the order given (later ones win on the same
/// key, as later entries of `os.Environ` do in koanf's map), and the
/// others, which the flexible configuration reads (`FC_*`, and any
/// variable through the templates' `env` function).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: Vec<(String, String)>,
    others: Others,
    /// `KRAKEND_*` variables whose name or value is not UTF-8 (the name
    /// made readable): refused rather than skipped, as KrakenD would use
    /// their bytes.
    not_utf8: Vec<String>,
}

impl Environment {
    /// The process environment's `KRAKEND_*` variables.
    pub fn from_process() -> Environment {
        let mut not_utf8 = Vec::new();
        let mut env =
            Environment::from_pairs(std::env::vars_os().filter_map(|(name, value)| {
                match (name.to_str(), value.to_str()) {
                    (Some(name), Some(value)) => Some((name.to_owned(), value.to_owned())),
                    _ => {
                        let name = name.to_string_lossy();
                        if name.starts_with(PREFIX) {
                            not_utf8.push(name.into_owned());
                        }
                        None
                    }
                }
            }));
        env.not_utf8 = not_utf8;
        env
    }

    /// The pairs of `vars`: `KRAKEND_*` ones override the file, all can
    /// be read with [`Environment::var`].
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        vars: impl IntoIterator<Item = (N, V)>,
    ) -> Environment {
        let (vars, others) = vars
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .partition(|(name, _): &(String, String)| name.starts_with(PREFIX));
        Environment {
            vars,
            others: Others(others),
            not_utf8: Vec::new(),
        }
    }

    /// Whether no `KRAKEND_*` variable is set.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty() && self.not_utf8.is_empty()
    }

    /// The value of the variable `name` (the last one of that name), as
    /// Go's `os.Getenv` reads it; `None` when unset.
    pub fn var(&self, name: &str) -> Option<&str> {
        let list = if name.starts_with(PREFIX) {
            &self.vars
        } else {
            &self.others.0
        };
        list.iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Variables other than `KRAKEND_*`; printed by name only (their values
/// may be secrets).
#[derive(Clone, Default)]
struct Others(Vec<(String, String)>);

impl std::fmt::Debug for Others {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(n, _)| n))
            .finish()
    }
}

/// What the environment did to the file: variable names only, never values
/// (they may be secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Variables whose value replaced (or added) a key, with that key path.
    pub applied: Vec<Applied>,
    /// Variables naming a root key KrakenD does not read (e.g.
    /// `KRAKEND_EXTRA_CONFIG_ROUTER`): KrakenD ignores them, so does cuttle.
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub var: String,
    /// The key path, `.`-separated as in the variable's name (`port`,
    /// `extra_config.router.health_path`).
    pub key: String,
}

impl Overrides {
    /// The variable that set `key` or one of its parents (for messages).
    pub fn var_for(&self, path: &str) -> Option<&str> {
        self.applied
            .iter()
            .find(|a| {
                path == a.key
                    || path
                        .strip_prefix(a.key.as_str())
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .map(|a| a.var.as_str())
    }
}

/// How lura's `ServiceConfig` types a root key (mapstructure tags in
/// lura `config/config.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Duration,
    String,
    /// `[]string`: the value becomes a one-item list.
    StringList,
    /// `[]uint16` (cipher suites, curves): a one-item list of
    /// `strconv.ParseUint(s, 0, 16)`.
    Uint16List,
    /// A struct, map or list of structs: a string there fails to decode.
    Structured,
}

fn root_kind(key: &str) -> Option<Kind> {
    Some(match key {
        "port"
        | "version"
        | "max_header_bytes"
        | "max_idle_connections"
        | "max_idle_connections_per_host" => Kind::Int,
        "disable_keep_alives"
        | "disable_compression"
        | "disable_rest"
        | "use_h2c"
        | "debug_endpoint"
        | "echo_endpoint"
        | "sequential_start"
        | "allow_insecure_connections" => Kind::Bool,
        "timeout"
        | "cache_ttl"
        | "read_timeout"
        | "write_timeout"
        | "idle_timeout"
        | "read_header_timeout"
        | "idle_connection_timeout"
        | "response_header_timeout"
        | "expect_continue_timeout"
        | "dialer_timeout"
        | "dialer_fallback_delay"
        | "dialer_keep_alive"
        | "dns_cache_ttl"
        | "max_shutdown_wait_time" => Kind::Duration,
        "name" | "listen_ip" | "output_encoding" => Kind::String,
        "host" => Kind::StringList,
        "endpoints" | "async_agent" | "extra_config" | "plugin" | "tls" | "client_tls" => {
            Kind::Structured
        }
        _ => return None,
    })
}

/// The type of a dotted key below a root object: lura's `TLS`,
/// `ClientTLS` and `Plugin` fields are typed; `extra_config` is a
/// `map[string]interface{}`, so a value there stays text, as do keys the
/// structs do not have (mapstructure drops them; so does cuttle's reader).
fn nested_kind(path: &[&str]) -> Kind {
    match path {
        [
            "tls",
            "disabled" | "prefer_server_cipher_suites" | "enable_mtls" | "disable_system_ca_pool",
        ]
        | [
            "client_tls",
            "allow_insecure_connections" | "disable_system_ca_pool",
        ] => Kind::Bool,
        ["tls" | "client_tls", "ca_certs"] => Kind::StringList,
        ["tls" | "client_tls", "curve_preferences" | "cipher_suites"] => Kind::Uint16List,
        ["tls", "keys"] | ["client_tls", "client_certs"] => Kind::Structured,
        _ => Kind::String,
    }
}

/// An override cuttle cannot apply: the variable's name and why (never its
/// value), ready for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProblem {
    pub var: String,
    pub message: String,
}

/// Applies `env` to the parsed file `document` (an object) in name order,
/// so that a variable and a dotted child of it always meet the same way.
pub fn apply(document: &mut Value, env: &Environment) -> Result<Overrides, EnvProblem> {
    if let Some(var) = env.not_utf8.first() {
        return Err(EnvProblem {
            var: var.clone(),
            message: "its name or value is not UTF-8 text: set it in UTF-8 or unset it".to_owned(),
        });
    }
    // koanf collects the variables in a map, so the last one of a name wins.
    let mut by_key: Vec<(String, &str, &str)> = Vec::new();
    for (var, value) in &env.vars {
        let key = var[PREFIX.len()..].to_lowercase();
        if key.is_empty() {
            continue;
        }
        by_key.retain(|(k, _, _)| *k != key);
        by_key.push((key, var, value));
    }
    by_key.sort();
    let mut overrides = Overrides::default();
    for (key, var, value) in by_key {
        let problem = |message: String| EnvProblem {
            var: var.to_owned(),
            message,
        };
        let mut path: Vec<&str> = key.split('.').collect();
        if path.iter().any(|segment| segment.is_empty()) {
            return Err(problem(format!(
                "the key path `{key}` has an empty part; write it as root_key.child (dots between keys)"
            )));
        }
        let Some(kind) = root_kind(path[0]) else {
            overrides.ignored.push(var.to_owned());
            continue;
        };
        let converted = if path.len() == 1 {
            convert(kind, &key, value).map_err(problem)?
        } else if kind == Kind::Structured {
            convert(nested_kind(&path), &key, value).map_err(problem)?
        } else {
            return Err(problem(format!(
                "`{}` is a single value, it has no key `{}`: remove the variable or name the root key alone",
                path[0],
                path[1..].join(".")
            )));
        };
        let last = path.pop().expect("a non-empty path");
        let mut at = &mut *document;
        for (depth, segment) in path.iter().enumerate() {
            let Value::Object(map) = at else {
                return Err(problem(not_an_object(&path[..depth])));
            };
            at = map
                .entry((*segment).to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        let Value::Object(map) = at else {
            return Err(problem(not_an_object(&path)));
        };
        map.insert(last.to_owned(), converted);
        overrides.applied.push(Applied {
            var: var.to_owned(),
            key,
        });
    }
    Ok(overrides)
}

/// koanf would replace a list (e.g. `endpoints`) or a value with the
/// variable's object, and the file would then fail to decode or lose its
/// endpoints: refused here with the reason.
fn not_an_object(path: &[&str]) -> String {
    format!(
        "`{}` is not an object in the file (a list or a value): a variable can only set keys inside objects; remove the variable",
        path.join(".")
    )
}

/// The string as mapstructure's weak typing decodes it into `kind`.
fn convert(kind: Kind, key: &str, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Int => go_parse_int(text).map(|n| Value::Number(Number::from(n))).ok_or_else(|| {
            format!(
                "`{key}` takes an integer (read as Go's strconv.ParseInt with base 0: 8080, 0x1F90); give a whole number"
            )
        }),
        Kind::Bool => go_parse_bool(text).map(Value::Bool).ok_or_else(|| {
            format!("`{key}` takes a boolean: write true or false (or 1, 0, t, f, TRUE, FALSE)")
        }),
        // `dialer_keep_alive` may be negative (Go: keep-alive off).
        Kind::Duration => match parse_go_duration(if key == "dialer_keep_alive" {
            text.strip_prefix('-').unwrap_or(text)
        } else {
            text
        }) {
            Ok(_) => Ok(Value::String(text.to_owned())),
            Err(reason) => Err(format!(
                "`{key}` takes a duration in Go syntax such as \"15s\" or \"1500ms\", and this one {}",
                match reason {
                    DurationError::UnknownUnit(_) => "has an unknown unit".to_owned(),
                    other => format!("is not one: {other}"),
                }
            )),
        },
        Kind::String => Ok(Value::String(text.to_owned())),
        Kind::StringList => Ok(Value::Array(vec![Value::String(text.to_owned())])),
        Kind::Uint16List => go_parse_int(text)
            .filter(|_| !text.starts_with(['+', '-']))
            .and_then(|n| u16::try_from(n).ok())
            .map(|n| Value::Array(vec![Value::Number(n.into())]))
            .ok_or_else(|| {
                format!("`{key}` takes one number from 0 to 65535 (a TLS cipher suite or curve ID)")
            }),
        Kind::Structured => Err(format!(
            "`{key}` is an object or a list in KrakenD's configuration; a variable cannot replace it with text (KrakenD fails to decode it too): remove the variable"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().copied())
    }

    fn applied(document: &mut Value, pairs: &[(&str, &str)]) -> Overrides {
        apply(document, &env(pairs)).expect("applies")
    }

    #[test]
    fn root_scalars_take_krakend_types() {
        let mut doc = json!({"version": 3, "port": 8080, "timeout": "3s", "name": "file"});
        let done = applied(
            &mut doc,
            &[
                ("KRAKEND_PORT", "9090"),
                ("KRAKEND_TIMEOUT", "500ms"),
                ("KRAKEND_NAME", "from env"),
                ("KRAKEND_DEBUG_ENDPOINT", "1"),
                ("KRAKEND_HOST", "http://a,http://b"),
                ("KRAKEND_MAX_HEADER_BYTES", "0x10"),
                ("HOME", "/root"),
            ],
        );
        assert_eq!(
            doc,
            json!({"version": 3, "port": 9090, "timeout": "500ms", "name": "from env",
                   "debug_endpoint": true, "host": ["http://a,http://b"], "max_header_bytes": 16})
        );
        let vars: Vec<&str> = done.applied.iter().map(|a| a.var.as_str()).collect();
        assert_eq!(
            vars,
            [
                "KRAKEND_DEBUG_ENDPOINT",
                "KRAKEND_HOST",
                "KRAKEND_MAX_HEADER_BYTES",
                "KRAKEND_NAME",
                "KRAKEND_PORT",
                "KRAKEND_TIMEOUT"
            ]
        );
        assert!(done.ignored.is_empty());
    }

    #[test]
    fn the_name_is_lower_cased_and_underscores_do_not_nest() {
        let mut doc = json!({"extra_config": {"router": {}}});
        let done = applied(
            &mut doc,
            &[
                ("KRAKEND_Cache_TTL", "1m"),
                ("KRAKEND_EXTRA_CONFIG_ROUTER_HEALTH_PATH", "/x"),
                ("krakend_port", "1"),
                ("KRAKEND_", "x"),
            ],
        );
        assert_eq!(
            doc,
            json!({"extra_config": {"router": {}}, "cache_ttl": "1m"})
        );
        assert_eq!(done.ignored, ["KRAKEND_EXTRA_CONFIG_ROUTER_HEALTH_PATH"]);
    }

    #[test]
    fn dots_reach_nested_objects_and_create_them() {
        let mut doc = json!({"extra_config": {"router": {"auto_options": true}}});
        applied(
            &mut doc,
            &[
                ("KRAKEND_EXTRA_CONFIG.router.health_path", "/up"),
                ("KRAKEND_EXTRA_CONFIG.telemetry/logging.level", "DEBUG"),
            ],
        );
        assert_eq!(
            doc,
            json!({"extra_config": {"router": {"auto_options": true, "health_path": "/up"},
                                    "telemetry/logging": {"level": "DEBUG"}}})
        );
    }

    #[test]
    fn dotted_keys_below_tls_take_lura_types() {
        let mut doc = json!({"tls": {"public_key": "a.pem"}});
        applied(
            &mut doc,
            &[
                ("KRAKEND_TLS.disabled", "true"),
                ("KRAKEND_TLS.private_key", "k.pem"),
                ("KRAKEND_TLS.cipher_suites", "0x1301"),
                ("KRAKEND_CLIENT_TLS.ca_certs", "ca.pem"),
                ("KRAKEND_CLIENT_TLS.allow_insecure_connections", "0"),
                ("KRAKEND_PLUGIN.folder", "/p"),
            ],
        );
        assert_eq!(
            doc,
            json!({"tls": {"public_key": "a.pem", "disabled": true, "private_key": "k.pem",
                           "cipher_suites": [4865]},
                   "client_tls": {"ca_certs": ["ca.pem"], "allow_insecure_connections": false},
                   "plugin": {"folder": "/p"}})
        );
        for (var, value) in [
            ("KRAKEND_TLS.cipher_suites", "70000"),
            ("KRAKEND_TLS.cipher_suites", "-1"),
            ("KRAKEND_TLS.enable_mtls", "maybe"),
            ("KRAKEND_TLS.keys", "k"),
        ] {
            assert!(
                apply(&mut json!({}), &env(&[(var, value)])).is_err(),
                "{var}={value}"
            );
        }
    }

    #[test]
    fn only_dialer_keep_alive_may_be_negative() {
        let mut doc = json!({});
        applied(&mut doc, &[("KRAKEND_DIALER_KEEP_ALIVE", "-1s")]);
        assert_eq!(doc, json!({"dialer_keep_alive": "-1s"}));
        assert!(apply(&mut json!({}), &env(&[("KRAKEND_IDLE_TIMEOUT", "-1s")])).is_err());
    }

    #[test]
    fn a_key_absent_from_the_file_is_added() {
        let mut doc = json!({"version": 3});
        applied(&mut doc, &[("KRAKEND_PORT", "7000")]);
        assert_eq!(doc, json!({"version": 3, "port": 7000}));
    }

    #[test]
    fn refusals_name_the_variable_and_never_the_value() {
        let cases: &[(&str, &str, &str)] = &[
            ("KRAKEND_PORT", "s3cr3t", "takes an integer"),
            ("KRAKEND_PORT", "08080", "takes an integer"),
            ("KRAKEND_DEBUG_ENDPOINT", "s3cr3t", "takes a boolean"),
            ("KRAKEND_TIMEOUT", "3000", "takes a duration"),
            ("KRAKEND_TIMEOUT", "3s3cr3t", "unknown unit"),
            (
                "KRAKEND_EXTRA_CONFIG",
                "s3cr3t",
                "cannot replace it with text",
            ),
            ("KRAKEND_ENDPOINTS", "s3cr3t", "cannot replace it with text"),
            ("KRAKEND_ENDPOINTS.0.timeout", "s3cr3t", "not an object"),
            ("KRAKEND_PORT.x", "s3cr3t", "has no key"),
            ("KRAKEND_EXTRA_CONFIG..router", "s3cr3t", "empty part"),
        ];
        for (var, value, expected) in cases {
            let mut doc = json!({"endpoints": [], "port": 1});
            let problem = apply(&mut doc, &env(&[(var, value)])).expect_err(var);
            assert_eq!(problem.var, *var);
            assert!(
                problem.message.contains(expected),
                "{var}: {}",
                problem.message
            );
            assert!(
                !problem.message.contains(value),
                "{var} leaks its value: {}",
                problem.message
            );
        }
    }

    #[test]
    fn a_parent_set_to_text_and_a_dotted_child_conflict() {
        let mut doc = json!({});
        let problem = apply(
            &mut doc,
            &env(&[("KRAKEND_NAME.x", "1"), ("KRAKEND_NAME", "n")]),
        )
        .expect_err("conflict");
        assert_eq!(problem.var, "KRAKEND_NAME.x");
    }

    #[test]
    fn go_integers_and_booleans() {
        for (text, expected) in [
            ("", Some(0)),
            ("8080", Some(8080)),
            ("+7", Some(7)),
            ("-7", Some(-7)),
            ("0x1F90", Some(8080)),
            ("0o17", Some(15)),
            ("017", Some(15)),
            ("0b101", Some(5)),
            ("1_000", Some(1000)),
            ("0x_10", Some(16)),
            ("_1", None),
            ("1_", None),
            ("1__0", None),
            ("089", None),
            ("8080 ", None),
            ("--1", None),
            ("9223372036854775808", None),
            ("-9223372036854775808", Some(i64::MIN)),
        ] {
            assert_eq!(go_parse_int(text), expected, "{text:?}");
        }
        for (text, expected) in [
            ("", Some(false)),
            ("t", Some(true)),
            ("True", Some(true)),
            ("0", Some(false)),
            ("yes", None),
            ("tRUE", None),
        ] {
            assert_eq!(go_parse_bool(text), expected, "{text:?}");
        }
    }

    #[test]
    fn the_variable_that_set_a_path() {
        let overrides = Overrides {
            applied: vec![Applied {
                var: "KRAKEND_PORT".into(),
                key: "port".into(),
            }],
            ignored: vec![],
        };
        assert_eq!(overrides.var_for("port"), Some("KRAKEND_PORT"));
        assert_eq!(overrides.var_for("portal"), None);
    }
}
