//! The root `telemetry/logging` namespace (KrakenD's krakend-gologging):
//! level, prefix, where the application log goes and in which format.

use super::error::{BuildResult, Problem};
use super::raw::RawLogging;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
            LogLevel::Critical => "CRITICAL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFormat {
    /// `[PREFIX] 2006/01/02 - 15:04:05.000 ▶ LEVEL message`.
    Default,
    /// One JSON object per line (`@timestamp`, `@version`, `level`,
    /// `message`, `module`), access log lines included.
    Logstash,
    /// `custom_format`, compiled.
    Custom(Vec<Piece>),
}

/// A part of a `custom_format` pattern (go-logging's `%{verb}` syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// `%{time}`: RFC 3339 with milliseconds, UTC.
    Time,
    /// `%{level}`, or `%{level:.Ns}` cut to N characters.
    Level(Option<usize>),
    Message,
    /// `%{module}`: the prefix without its brackets.
    Module,
    Pid,
    Program,
}

#[derive(Debug, Clone)]
pub struct Logging {
    /// The least severe level written; `None`: the file does not say
    /// (cuttle's default, INFO, or `-d`/`CUTTLE_LOG`).
    pub level: Option<LogLevel>,
    /// `prefix`, written at the start of default-format lines.
    pub prefix: String,
    /// The prefix without brackets: logstash's `module`.
    pub module: String,
    /// Application log lines go to standard output.
    pub stdout: bool,
    /// Application log lines go to the local syslog (`/dev/log`) with this
    /// facility number (`syslog_facility`, default local3 as in KrakenD).
    pub syslog: Option<u8>,
    pub format: LogFormat,
}

impl Default for Logging {
    fn default() -> Logging {
        Logging {
            level: None,
            prefix: String::new(),
            module: "cuttle".to_owned(),
            stdout: true,
            syslog: None,
            format: LogFormat::Default,
        }
    }
}

pub fn build(raw: RawLogging, at: &str) -> BuildResult<Logging> {
    let level = match raw.level.as_deref() {
        None | Some("") => None,
        Some(text) => Some(level(text).ok_or_else(|| {
            Problem::new(
                format!("{at}.level"),
                format!("\"{text}\" is not a level; write DEBUG, INFO, WARNING, ERROR or CRITICAL"),
            )
        })?),
    };
    let prefix = raw.prefix.unwrap_or_default();
    let module = prefix
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim()
        .to_owned();
    let syslog = if raw.syslog.unwrap_or(false) {
        let name = raw.syslog_facility.as_deref().unwrap_or("local3");
        Some(facility(name).ok_or_else(|| {
            Problem::new(
                format!("{at}.syslog_facility"),
                format!("\"{name}\" is not a syslog facility; write one of local0 ... local7, user, daemon"),
            )
        })?)
    } else {
        None
    };
    let format = match raw.format.as_deref() {
        None | Some("") | Some("default") => LogFormat::Default,
        Some("logstash") => LogFormat::Logstash,
        Some("custom") => {
            let pattern = raw.custom_format.as_deref().unwrap_or_default();
            if pattern.is_empty() {
                return Err(Problem::new(
                    format!("{at}.custom_format"),
                    "\"format\": \"custom\" needs a \"custom_format\" pattern, e.g. \"%{time} %{level} %{message}\"",
                ));
            }
            LogFormat::Custom(
                compile(pattern)
                    .map_err(|message| Problem::new(format!("{at}.custom_format"), message))?,
            )
        }
        Some(other) => {
            return Err(Problem::new(
                format!("{at}.format"),
                format!(
                    "\"{other}\" is not a log format; write \"default\", \"logstash\" or \"custom\""
                ),
            ));
        }
    };
    Ok(Logging {
        level,
        module: if module.is_empty() {
            "cuttle".to_owned()
        } else {
            module
        },
        prefix,
        stdout: raw.stdout.unwrap_or(false),
        syslog,
        format,
    })
}

fn level(text: &str) -> Option<LogLevel> {
    Some(match text.to_ascii_uppercase().as_str() {
        "DEBUG" => LogLevel::Debug,
        "INFO" => LogLevel::Info,
        "WARNING" | "WARN" => LogLevel::Warning,
        "ERROR" => LogLevel::Error,
        "CRITICAL" => LogLevel::Critical,
        _ => return None,
    })
}

fn facility(name: &str) -> Option<u8> {
    Some(match name.to_ascii_lowercase().as_str() {
        "user" => 1,
        "daemon" => 3,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

/// Compiles a go-logging pattern; a verb cuttle cannot fill is an error
/// rather than a line with a hole in it.
fn compile(pattern: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("%{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("\"%{{\" without a closing '}}' in \"{pattern}\""))?;
        let (verb, modifier) = match after[..end].split_once(':') {
            Some((verb, modifier)) => (verb, Some(modifier)),
            None => (&after[..end], None),
        };
        pieces.push(match (verb, modifier) {
            ("time", None) => Piece::Time,
            ("message", None) => Piece::Message,
            ("module", None) => Piece::Module,
            ("pid", None) => Piece::Pid,
            ("program", None) => Piece::Program,
            ("level", None) => Piece::Level(None),
            ("level", Some(m)) => Piece::Level(Some(
                m.strip_prefix('.')
                    .and_then(|m| m.strip_suffix('s'))
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| {
                        format!("%{{level:{m}}}: the only level modifier is \".Ns\" (cut to N characters)")
                    })?,
            )),
            // Colours make no sense in a file or a pipe: written as nothing.
            ("color", _) => Piece::Text(String::new()),
            _ => {
                return Err(format!(
                    "%{{{}}} is not supported; use %{{time}}, %{{level}}, %{{level:.Ns}}, %{{message}}, %{{module}}, %{{pid}} or %{{program}}",
                    &after[..end]
                ));
            }
        });
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_patterns() {
        assert_eq!(
            compile("%{time} [%{level:.4s}] %{message}!").unwrap(),
            vec![
                Piece::Time,
                Piece::Text(" [".into()),
                Piece::Level(Some(4)),
                Piece::Text("] ".into()),
                Piece::Message,
                Piece::Text("!".into()),
            ]
        );
        assert!(
            compile("%{shortfile} %{message}")
                .unwrap_err()
                .contains("shortfile")
        );
        assert!(compile("%{message").is_err());
        assert!(compile("%{level:5}").is_err());
    }
}
