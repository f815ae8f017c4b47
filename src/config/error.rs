//! Why a configuration file was refused. Every message starts with the file,
//! then says where (line and column, or the JSON path in KrakenD terms such as
//! `endpoints[3].backend[0].url_pattern`) and what to write instead.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the configuration file: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },

    /// Not JSON (or YAML, TOML: `format`) at all.
    #[error("{}: line {line}, column {column}: invalid {format}: {message}", file.display())]
    Syntax {
        file: PathBuf,
        format: &'static str,
        line: usize,
        column: usize,
        message: String,
    },

    /// A flexible configuration template (or one it calls) that does not
    /// parse or render (`config::flexible`).
    #[error("{}: line {line}: {message}", file.display())]
    Template {
        file: PathBuf,
        line: usize,
        message: String,
    },

    /// Valid JSON, but a value of the wrong type or syntax for its key.
    #[error("{}: {at}: {message} (line {line}, column {column})", file.display())]
    Value {
        file: PathBuf,
        at: String,
        line: usize,
        column: usize,
        message: String,
    },

    /// Settings that would guard an endpoint and that cuttle does not
    /// implement: refused rather than served without them.
    #[error(
        "{}: {}cuttle refuses to serve this file rather than serve these endpoints unprotected: remove them, or start with --ignore-unimplemented to try the file without them (never in production)",
        file.display(),
        list(problems)
    )]
    Unimplemented {
        file: PathBuf,
        problems: Vec<Problem>,
    },

    /// Keys or namespaces a slip away from one KrakenD knows (`suggest`).
    #[error(
        "{}: {}KrakenD would ignore these names and the settings under them; fix the spelling",
        file.display(),
        list(problems)
    )]
    Misspelt {
        file: PathBuf,
        problems: Vec<Problem>,
    },

    /// Well-typed, but breaks a rule (missing value, conflict, unsupported...).
    #[error("{}: {at}: {message}", file.display())]
    Invalid {
        file: PathBuf,
        at: String,
        message: String,
    },
}

/// A rule broken while building: where (JSON path) and what to do about it.
/// `parse` adds the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: String,
    pub message: String,
}

impl Problem {
    pub fn new(at: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            at: at.into(),
            message: message.into(),
        }
    }
}

pub type BuildResult<T> = Result<T, Problem>;

/// `at: message` lines, one per problem, each ending with a newline.
fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("\n  {}: {}", p.at, p.message))
        .collect::<String>()
        + "\n"
}

impl ConfigError {
    pub fn from_problem(file: &Path, problem: Problem) -> ConfigError {
        ConfigError::Invalid {
            file: file.to_path_buf(),
            at: problem.at,
            message: problem.message,
        }
    }
}

/// serde_path_to_error writes the document root as `.`.
pub(super) fn json_path_text(path: &str) -> String {
    if path.is_empty() || path == "." {
        "top level".to_owned()
    } else {
        path.to_owned()
    }
}
