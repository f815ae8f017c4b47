//! Reading KrakenD v3 configuration files into an immutable [`Config`].
//!
//! Two layers and a validation step: `raw` mirrors the JSON with serde,
//! `build` fills KrakenD's defaults and checks every rule, `model` is the
//! result the rest of cuttle reads. Errors name the file, the place (line and
//! column, or a path such as `endpoints[3].backend[0].url_pattern`) and what
//! to write instead.

mod alias;
mod auth;
mod build;
mod duration;
mod error;
mod extra;
mod host;
mod keywords;
mod limits;
pub mod lint;
mod logging;
mod model;
mod ratelimit;
mod raw;
mod route;
mod router_options;
mod security;
mod suggest;
mod telemetry;
mod tls;
mod unimplemented;
mod validation;

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::{ConfigError, Problem};
pub use logging::{LogFormat, LogLevel, Logging, Piece};
pub use model::*;
pub use router_options::{Cidr, ClientIpRule, DEFAULT_HEALTH_PATH, RouterOptions};
pub use security::whole_host_pattern;
pub use telemetry::{MetricLayers, PrometheusExporter, Telemetry};
pub use tls::{
    ClientTlsSettings, KeyPair, ServerTlsSettings, TlsVersion, supported_cipher_suites,
    supported_curves,
};

/// How strictly to load.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Serve a file even when it uses settings that would guard an endpoint
    /// and that cuttle does not implement (`--ignore-unimplemented`); they
    /// stay listed in `Config::unimplemented`.
    pub ignore_unimplemented: bool,
    /// Frame request bodies as KrakenD does: `Content-Length` only when the
    /// client's `Content-Length` header is among the endpoint's
    /// `input_headers`, chunked otherwise (`--krakend-body-framing`).
    pub krakend_body_framing: bool,
}

/// Reads and builds the configuration file at `path`, refusing settings
/// that would guard an endpoint and that cuttle does not implement.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, LoadOptions::default())
}

pub fn load_with(path: &Path, options: LoadOptions) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    parse_with(&text, path, options)
}

/// Builds a configuration from JSON text; `source` names it in messages.
pub fn parse(text: &str, source: &Path) -> Result<Config, ConfigError> {
    parse_with(text, source, LoadOptions::default())
}

pub fn parse_with(text: &str, source: &Path, options: LoadOptions) -> Result<Config, ConfigError> {
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
    // Names a slip away from KrakenD's are refused before anything else
    // (suggest.rs): the setting they meant would otherwise be dropped.
    let document: serde_json::Value =
        serde_json::from_str(text).map_err(|error| ConfigError::Syntax {
            file: source.to_path_buf(),
            line: error.line(),
            column: error.column(),
            message: error.to_string(),
        })?;
    let names = suggest::check(&document);
    if !names.misspelt.is_empty() {
        return Err(ConfigError::Misspelt {
            file: source.to_path_buf(),
            problems: names.misspelt,
        });
    }
    let mut config =
        build::build(raw, source).map_err(|problem| ConfigError::from_problem(source, problem))?;
    config.unknown_namespaces.extend(names.unknown);
    config.unknown_namespaces.sort();
    config.unknown_namespaces.dedup();
    if options.krakend_body_framing {
        for endpoint in &mut config.endpoints {
            endpoint.chunked_request_body = !endpoint.input_headers.includes("content-length");
        }
    }
    if !options.ignore_unimplemented && !config.unimplemented.is_empty() {
        return Err(ConfigError::Unimplemented {
            file: source.to_path_buf(),
            problems: config.unimplemented,
        });
    }
    // The files `tls` and `client_tls` name are read and checked now, so
    // that `check` fails as `run` would.
    if let Some(tls) = &config.tls {
        crate::tls::ServerTls::new(tls)
            .map_err(|problem| ConfigError::from_problem(source, problem))?;
    }
    crate::tls::client_config(&config.client_tls)
        .map_err(|problem| ConfigError::from_problem(source, problem))?;
    Ok(config)
}
