//! Reading KrakenD v3 configuration files into an immutable [`Config`].
//!
//! Where it comes from: with `FC_ENABLE`, `flexible` first renders the
//! file as KrakenD's flexible configuration (a Go template); `source` reads
//! JSON, YAML or TOML (by extension, as krakend-koanf) into one JSON value,
//! and `env` lays the `KRAKEND_*` environment variables over it. Then two layers and a validation step:
//! `raw` mirrors the JSON with serde, `build` fills KrakenD's defaults and
//! checks every rule, `model` is the result the rest of cuttle reads. Errors
//! name the file, the place (line and column, or a path such as
//! `endpoints[3].backend[0].url_pattern`) and what to write instead.
//!
//! `config` is a leaf: it checks values and calls nothing above it (no
//! TLS library, no CEL, no JWK parsing; `tests/layering.rs` keeps it so).
//! What needs those is built from the settings by `prepare::Prepared`.

mod alias;
mod amqp;
mod auth;
mod auth_extras;
mod build;
mod duration;
mod env;
mod error;
mod extra;
mod flexible;
mod graphql;
pub mod grpc;
mod host;
mod keywords;
mod limits;
pub mod lint;
mod logging;
mod lua;
pub mod martian;
mod model;
pub mod options;
mod pubsub;
mod ratelimit;
mod ratelimit_redis;
mod raw;
mod redis;
mod route;
mod router_options;
mod security;
mod source;
mod stats;
mod suggest;
mod telemetry;
mod tls;
mod unimplemented;
mod validation;
mod weak;
mod websocket;

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use amqp::{
    AgentBackend, AmqpBroker, AmqpConsumer, AmqpProducer, AmqpQueueFlags, AmqpRole, AmqpSettings,
    AsyncAgentSettings, Backoff as AmqpBackoff,
};
pub use auth::{
    AuthSettings, FileSecret, JWS_ALGORITHMS, KEY_ID_STRATEGIES, KeySource, SignerSettings,
    ValidatorSettings,
};
pub use auth_extras::{ClientCredentialsSettings, RevokerHash, RevokerSettings};
pub use env::{Applied, Environment, Overrides};
pub use error::{ConfigError, Problem};
pub use flexible::FlexibleConfig;
pub use graphql::{
    GraphqlMethod, GraphqlSettings, Operation as GraphqlOperation, lura_param as graphql_param,
};
pub use logging::{LogFormat, LogLevel, Logging, Piece};
pub use lua::LuaSettings;
pub use model::*;
pub use pubsub::{NatsSettings, Role as PubSubRole};
pub use ratelimit_redis::{DEFAULT_DECISION_TIMEOUT, OnFailure, RedisRateLimit};
pub use redis::{RedisConnection, RedisConnections, RedisKind};
pub use route::{find_placeholders, placeholder_names};
pub use router_options::{Cidr, ClientIpRule, DEFAULT_HEALTH_PATH, RouterOptions};
pub use security::whole_host_pattern;
pub use stats::StatsSettings;
pub use telemetry::{
    DEFAULT_SIZE_BUCKETS, DEFAULT_TIME_BUCKETS, Histograms, MetricLayers, OtlpExporter,
    PrometheusExporter, Resource, Telemetry, TraceSettings,
};
pub use tls::{
    ClientTlsSettings, KeyPair, ServerTlsSettings, TlsVersion, supported_cipher_suites,
    supported_curves,
};
pub use websocket::{HANDSHAKE_HEADERS, WebSocketSettings};

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

/// A configuration and what the environment changed in it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// The `KRAKEND_*` variables applied and ignored (names only).
    pub overrides: Overrides,
    /// With `FC_ENABLE`, the text the template rendered (what was parsed,
    /// and what `check -l` lints).
    pub rendered: Option<String>,
    /// What messages call the file (the template's rendered name with
    /// `FC_ENABLE`): the name `prepare::Prepared::new` reports errors in.
    pub source: std::path::PathBuf,
}

/// Reads and builds the configuration file at `path`, refusing settings
/// that would guard an endpoint and that cuttle does not implement. The
/// file alone: `KRAKEND_*` variables are applied by [`load_with_env`].
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, LoadOptions::default())
}

pub fn load_with(path: &Path, options: LoadOptions) -> Result<Config, ConfigError> {
    load_with_env(path, options, &Environment::default()).map(|loaded| loaded.config)
}

/// What `cuttle run` and `cuttle check` load: the file, its format chosen
/// by its extension, with `env`'s `KRAKEND_*` overrides laid over it;
/// with `FC_ENABLE`, the file is first rendered as KrakenD's flexible
/// configuration (`flexible`).
pub fn load_with_env(
    path: &Path,
    options: LoadOptions,
    env: &Environment,
) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let Some(fc) = FlexibleConfig::from_env(env) else {
        return parse_with_env(&text, path, options, env);
    };
    let rendered = flexible::render(&text, path, &fc, env)?;
    let mut loaded = parse_in(
        &rendered.text,
        &rendered.name,
        rendered.format,
        options,
        env,
    )?;
    loaded.rendered = Some(rendered.text);
    Ok(loaded)
}

/// Builds a configuration from text in the format `source`'s extension
/// names (JSON unless `.yaml`, `.yml` or `.toml`); `source` names it in
/// messages.
pub fn parse(text: &str, source: &Path) -> Result<Config, ConfigError> {
    parse_with(text, source, LoadOptions::default())
}

pub fn parse_with(text: &str, source: &Path, options: LoadOptions) -> Result<Config, ConfigError> {
    parse_with_env(text, source, options, &Environment::default()).map(|loaded| loaded.config)
}

pub fn parse_with_env(
    text: &str,
    source: &Path,
    options: LoadOptions,
    env: &Environment,
) -> Result<Loaded, ConfigError> {
    parse_in(text, source, source::Format::of(source), options, env)
}

/// `text` read as `format`; `source` names it in messages.
fn parse_in(
    text: &str,
    source: &Path,
    format: source::Format,
    options: LoadOptions,
    env: &Environment,
) -> Result<Loaded, ConfigError> {
    let mut document = source::parse_value(text, format, source)?;
    let overrides = env::apply(&mut document, env).map_err(|problem| ConfigError::Invalid {
        file: source.to_path_buf(),
        at: format!("environment variable {}", problem.var),
        message: problem.message,
    })?;
    // Names a slip away from KrakenD's are refused before anything else
    // (suggest.rs): the setting they meant would otherwise be dropped.
    let names = suggest::check(&document);
    if !names.misspelt.is_empty() {
        return Err(ConfigError::Misspelt {
            file: source.to_path_buf(),
            problems: names.misspelt,
        });
    }
    let bare_durations = weak::bare_duration_numbers(&document);
    // What the one list of options says to report (options.rs).
    let options::Report {
        ignored: ignored_options,
        refused: refused_options,
        unknown: unknown_options,
    } = options::report(&document);
    let raw: raw::RawConfig = serde_path_to_error::deserialize(document)
        .map_err(|error| value_error(text, format, source, &overrides, error))?;
    let mut config = build::build(raw, source).map_err(|mut problem| {
        if let Some(var) = overrides.var_for(&problem.at) {
            problem.at = format!("{} (set by the environment variable {var})", problem.at);
        }
        ConfigError::from_problem(source, problem)
    })?;
    config.warnings.extend(bare_durations);
    // Nothing in an endpoint KrakenD does not serve is built or reported.
    let unserved: Vec<String> = config
        .skipped_endpoints
        .iter()
        .filter_map(|p| p.at.strip_suffix(".method"))
        .map(|endpoint| format!("{endpoint}."))
        .collect();
    let served = |p: &error::Problem| !unserved.iter().any(|e| p.at.starts_with(e.as_str()));
    config
        .warnings
        .extend(ignored_options.into_iter().filter(served));
    for refused in refused_options.into_iter().filter(served) {
        if !config.unimplemented.iter().any(|p| p.at == refused.at) {
            config.unimplemented.push(refused);
        }
    }
    config.unknown_namespaces.extend(names.unknown);
    config.unknown_namespaces.extend(unknown_options);
    config.unknown_namespaces.sort();
    config.unknown_namespaces.dedup();
    if options.krakend_body_framing {
        for endpoint in &mut config.endpoints {
            endpoint.chunked_request_body = !endpoint.input_headers.includes("content-length");
            // A backend's own list may drop the header again (lura filters
            // it like any other).
            for backend in &mut endpoint.backends {
                backend.chunked_request_body = endpoint.chunked_request_body
                    || backend
                        .input_headers
                        .as_ref()
                        .is_some_and(|names| !names.iter().any(|n| n == "content-length"));
            }
        }
    }
    if !options.ignore_unimplemented && !config.unimplemented.is_empty() {
        return Err(ConfigError::Unimplemented {
            file: source.to_path_buf(),
            problems: config.unimplemented,
        });
    }
    Ok(Loaded {
        config,
        overrides,
        rendered: None,
        source: source.to_path_buf(),
    })
}

/// A value of the wrong type for its key: named with the variable that set
/// it, or with its line and column in the file when the text locates it.
fn value_error(
    text: &str,
    format: source::Format,
    file: &Path,
    overrides: &Overrides,
    error: serde_path_to_error::Error<serde_json::Error>,
) -> ConfigError {
    let path = error.path().to_string();
    let at = error::json_path_text(&path);
    let message = error.into_inner().to_string();
    if let Some(var) = overrides.var_for(&path) {
        return ConfigError::Invalid {
            file: file.to_path_buf(),
            at: format!("{at} (set by the environment variable {var})"),
            message,
        };
    }
    match source::locate(text, format, &message) {
        Some((line, column)) => ConfigError::Value {
            file: file.to_path_buf(),
            at,
            line,
            column,
            message,
        },
        None => ConfigError::Invalid {
            file: file.to_path_buf(),
            at,
            message,
        },
    }
}
