//! gRPC backends (KrakenD Enterprise, docs "gRPC client and gRPC to REST
//! conversion" and "Introduction to gRPC and the service catalog"; option
//! names, types and defaults from krakend-schema v2.12 `backend/grpc.json`
//! and `grpc.json`).
//!
//! The root `grpc.catalog` lists `.pb` files (descriptor sets written by
//! `protoc --descriptor_set_out`) and directories holding them; they are
//! read here, once, relative to the working directory, into one descriptor
//! pool. A backend with `backend/grpc` names a method of that pool in its
//! `url_pattern` (`/package.Service/Method`), which is checked here too,
//! so a typo fails at load with the backend's path, not at the first call.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost_reflect::{DescriptorPool, MethodDescriptor};
use serde::Deserialize;
use serde_json::Value;

use super::error::{BuildResult, Problem};
use super::extra::decode;

/// The root namespace with the catalog.
pub const ROOT: &str = "grpc";
/// The backend namespace.
pub const BACKEND: &str = "backend/grpc";

/// The root `grpc` settings: the loaded catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub pool: DescriptorPool,
}

#[derive(Deserialize)]
struct RawRoot {
    #[serde(default)]
    catalog: Vec<String>,
}

/// Reads the root `grpc` object at `at` (`extra_config.grpc`). `server`
/// (a gRPC server in front of the endpoints) is reported as ignored by
/// options.rs.
pub fn root(value: &Value, at: &str) -> BuildResult<Arc<Catalog>> {
    let raw: RawRoot = decode(value, at)?;
    let mut pool = DescriptorPool::new();
    for (index, entry) in raw.catalog.iter().enumerate() {
        let entry_at = format!("{at}.catalog[{index}]");
        let path = Path::new(entry);
        let files = if path.is_dir() {
            let mut found = Vec::new();
            descriptor_files(path, &mut found).map_err(|e| {
                Problem::new(
                    &entry_at,
                    format!("cannot read the directory \"{entry}\": {e}"),
                )
            })?;
            found
        } else {
            vec![path.to_path_buf()]
        };
        for file in files {
            let bytes = std::fs::read(&file).map_err(|e| {
                Problem::new(
                    &entry_at,
                    format!(
                        "cannot read \"{}\" (relative to the working directory): {e}; write the path of a descriptor set made with `protoc --descriptor_set_out=FILE.pb --include_imports`",
                        file.display()
                    ),
                )
            })?;
            pool.decode_file_descriptor_set(bytes.as_slice())
                .map_err(|e| {
                    Problem::new(
                        &entry_at,
                        format!(
                            "\"{}\" is not a usable descriptor set: {e}; make it with `protoc --descriptor_set_out=FILE.pb --include_imports` (imports included)",
                            file.display()
                        ),
                    )
                })?;
        }
    }
    Ok(Arc::new(Catalog { pool }))
}

/// The `.pb` files under `dir`, recursively, sorted (KrakenD loads every
/// `.pb` file "contained in directories").
fn descriptor_files(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            descriptor_files(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "pb") {
            found.push(path);
        }
    }
    Ok(())
}

/// How JSON field names are written (`*_naming_convention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// The names of the `.proto` file (KrakenD's default, `snake_case`).
    Proto,
    /// protobuf's JSON names (`camelCase`).
    Json,
}

/// One `backend/grpc` backend, ready to call.
#[derive(Debug, Clone)]
pub struct GrpcSettings {
    /// The method the url_pattern names.
    pub method: MethodDescriptor,
    /// The request path, `/package.Service/Method`.
    pub path: String,
    pub use_request_body: bool,
    pub disable_query_params: bool,
    /// `input_mapping`: parameter name to dotted field path.
    pub input_mapping: BTreeMap<String, String>,
    /// `header_mapping`: lower-case client header name to metadata name.
    pub header_mapping: Vec<(String, String)>,
    pub request_naming: Naming,
    pub response_naming: Naming,
    pub output_enum_as_string: bool,
    pub output_timestamp_as_string: bool,
    pub output_duration_as_string: bool,
    pub output_remove_unset_values: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    #[serde(default)]
    use_request_body: bool,
    #[serde(default)]
    disable_query_params: bool,
    #[serde(default)]
    input_mapping: BTreeMap<String, String>,
    #[serde(default)]
    header_mapping: BTreeMap<String, String>,
    request_naming_convention: Option<String>,
    response_naming_convention: Option<String>,
    #[serde(default)]
    output_enum_as_string: bool,
    #[serde(default)]
    output_timestamp_as_string: bool,
    #[serde(default)]
    output_duration_as_string: bool,
    #[serde(default)]
    output_remove_unset_values: bool,
    // Refused or ignored below; read so that their types are checked.
    client_tls: Option<Value>,
    use_alternate_host_on_error: Option<bool>,
    input_assume_bytes: Option<bool>,
    // Reported as ignored by options.rs; read for their types only.
    #[allow(dead_code)]
    idle_conn_disconnect_time: Option<String>,
    #[allow(dead_code)]
    read_buffer_size: Option<f64>,
}

/// Reads `backend/grpc` at `at` for a backend whose url_pattern is
/// `url_pattern`, against the root catalog.
pub fn backend(
    value: &Value,
    at: &str,
    url_pattern: &str,
    hosts: &[String],
    catalog: Option<&Catalog>,
) -> BuildResult<GrpcSettings> {
    let without_comments = match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with(['@', '$', '_', '#']))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    };
    let raw: RawBackend = decode(&without_comments, at)?;
    if raw.client_tls.is_some() {
        return Err(Problem::new(
            format!("{at}.client_tls"),
            "cuttle calls gRPC backends over plain-text HTTP/2 (h2c) only; remove \"client_tls\" or put a TLS-terminating proxy in front of the service",
        ));
    }
    if raw.use_alternate_host_on_error == Some(true) {
        return Err(Problem::new(
            format!("{at}.use_alternate_host_on_error"),
            "not implemented by cuttle: it would send the message again to another host; remove it (cuttle sends each message once)",
        ));
    }
    if raw.input_assume_bytes == Some(true) {
        return Err(Problem::new(
            format!("{at}.input_assume_bytes"),
            "not implemented by cuttle (bytes fields are filled with the text's own bytes); remove it",
        ));
    }
    // `idle_conn_disconnect_time` and `read_buffer_size`: reported as
    // ignored by options.rs.
    let Some(catalog) = catalog else {
        return Err(Problem::new(
            at,
            "a gRPC backend needs the service catalog: add \"grpc\": {\"catalog\": [\"path/to/definitions.pb\"]} to the root \"extra_config\"",
        ));
    };
    let method = find_method(&catalog.pool, url_pattern)
        .map_err(|message| Problem::new(format!("{}.url_pattern", parent(at)), message))?;
    if method.is_client_streaming() || method.is_server_streaming() {
        return Err(Problem::new(
            format!("{}.url_pattern", parent(at)),
            format!(
                "\"{}\" is a streaming method; KrakenD and cuttle call unary methods only",
                method.full_name()
            ),
        ));
    }
    for (index, host) in hosts.iter().enumerate() {
        if !host.starts_with("http://") {
            return Err(Problem::new(
                format!("{}.host[{index}]", parent(at)),
                "a gRPC host is host:port (plain-text HTTP/2); cuttle does not call gRPC over TLS",
            ));
        }
    }
    let naming = |text: Option<&str>, key: &str| match text {
        None | Some("snake_case") => Ok(Naming::Proto),
        Some("camelCase") => Ok(Naming::Json),
        Some(other) => Err(Problem::new(
            format!("{at}.{key}"),
            format!(
                "\"{other}\" is not a naming convention; write \"snake_case\" or \"camelCase\""
            ),
        )),
    };
    for (param, field) in &raw.input_mapping {
        if field.is_empty() || field.split('.').any(str::is_empty) {
            return Err(Problem::new(
                format!("{at}.input_mapping.{param}"),
                "write a field name, or a dotted path of field names (e.g. \"where.latitude\")",
            ));
        }
    }
    for (header, metadata) in &raw.header_mapping {
        let valid = !metadata.is_empty()
            && metadata
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            return Err(Problem::new(
                format!("{at}.header_mapping.{header}"),
                "a metadata name is letters, digits, '-', '_' and '.'",
            ));
        }
    }
    Ok(GrpcSettings {
        path: format!("/{}/{}", method.parent_service().full_name(), method.name()),
        method,
        use_request_body: raw.use_request_body,
        disable_query_params: raw.disable_query_params,
        input_mapping: raw.input_mapping,
        header_mapping: raw
            .header_mapping
            .into_iter()
            .map(|(header, metadata)| {
                let metadata = metadata.to_ascii_lowercase();
                // "grpc-" names are reserved by the protocol (KrakenD's
                // docs: renamed to `in-grpc-*`).
                let metadata = match metadata.strip_prefix("grpc") {
                    Some(rest) => format!("in-grpc{rest}"),
                    None => metadata,
                };
                (header.to_ascii_lowercase(), metadata)
            })
            .collect(),
        request_naming: naming(
            raw.request_naming_convention.as_deref(),
            "request_naming_convention",
        )?,
        response_naming: naming(
            raw.response_naming_convention.as_deref(),
            "response_naming_convention",
        )?,
        output_enum_as_string: raw.output_enum_as_string,
        output_timestamp_as_string: raw.output_timestamp_as_string,
        output_duration_as_string: raw.output_duration_as_string,
        output_remove_unset_values: raw.output_remove_unset_values,
    })
}

/// `endpoints[0].backend[1]` from `endpoints[0].backend[1].extra_config.backend/grpc`.
fn parent(at: &str) -> &str {
    at.split(".extra_config").next().unwrap_or(at)
}

/// The method `/package.Service/Method` names in `pool`.
fn find_method(pool: &DescriptorPool, url_pattern: &str) -> Result<MethodDescriptor, String> {
    let shape = || {
        format!(
            "\"{url_pattern}\" does not name a gRPC method: write \"/package.Service/Method\" with a service of the catalog"
        )
    };
    let rest = url_pattern.strip_prefix('/').ok_or_else(shape)?;
    let (service, method) = rest.split_once('/').ok_or_else(shape)?;
    if service.is_empty() || method.is_empty() || method.contains(['/', '?', '{']) {
        return Err(shape());
    }
    let Some(service_descriptor) = pool.get_service_by_name(service) else {
        let known: Vec<String> = pool.services().map(|s| s.full_name().to_owned()).collect();
        return Err(format!(
            "the catalog has no service \"{service}\" (it has: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ));
    };
    service_descriptor
        .methods()
        .find(|m| m.name() == method)
        .ok_or_else(|| {
            let known: Vec<String> = service_descriptor
                .methods()
                .map(|m| m.name().to_owned())
                .collect();
            format!(
                "the service \"{service}\" has no method \"{method}\" (it has: {})",
                known.join(", ")
            )
        })
}
