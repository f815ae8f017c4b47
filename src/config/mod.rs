//! Reading KrakenD v3 configuration files into an immutable [`Config`].
//!
//! Two layers and a validation step: `raw` mirrors the JSON with serde,
//! `build` fills KrakenD's defaults and checks every rule, `model` is the
//! result the rest of cuttle reads. Errors name the file, the place (line and
//! column, or a path such as `endpoints[3].backend[0].url_pattern`) and what
//! to write instead.

mod build;
mod duration;
mod error;
mod extra;
mod host;
mod keywords;
mod limits;
mod model;
mod ratelimit;
mod raw;
mod route;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::ConfigError;
pub use model::*;

/// Reads and builds the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Builds a configuration from JSON text; `source` names it in messages.
pub fn parse(text: &str, source: &Path) -> Result<Config, ConfigError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let raw: raw::RawConfig = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| ConfigError::from_json(source, error))?;
    // Trailing characters after the JSON document are a syntax error too.
    deserializer.end().map_err(|error| ConfigError::Syntax {
        file: source.to_path_buf(),
        line: error.line(),
        column: error.column(),
        message: "unexpected text after the end of the JSON document".to_owned(),
    })?;
    build::build(raw, source).map_err(|problem| ConfigError::from_problem(source, problem))
}
