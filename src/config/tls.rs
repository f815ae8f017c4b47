//! KrakenD's root `tls` block (HTTPS at the edge) and `client_tls` block
//! (HTTPS to backends), read into settings. The files they name are read
//! and checked by `crate::tls`, which `prepare::Prepared` calls after loading.

use std::path::PathBuf;

use serde_json::Value;

use super::error::{BuildResult, Problem};
use super::weak;

/// A TLS protocol version rustls speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// One certificate chain (`public_key`, PEM) and its key (`private_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub public_key: PathBuf,
    pub private_key: PathBuf,
}

/// The root `tls` block, when it is enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsSettings {
    /// `keys`, then the older single `public_key`/`private_key`; the first
    /// is served to clients whose SNI matches none.
    pub keys: Vec<KeyPair>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// IANA (= Go, = KrakenD) cipher suite numbers; `None`: all supported.
    pub cipher_suites: Option<Vec<u16>>,
    /// IANA (= Go `CurveID`) named group numbers; `None`: rustls' defaults.
    pub curve_preferences: Option<Vec<u16>>,
    /// `enable_mtls`: every client must show a certificate signed by one of
    /// these authorities.
    pub client_auth: Option<ClientAuth>,
}

/// Client certificates at the edge (mTLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// `ca_certs`: PEM files of the authorities trusted for client certificates.
    pub ca_certs: Vec<PathBuf>,
    /// `disable_system_ca_pool`: trust only `ca_certs`, not the bundled roots.
    pub disable_system_ca_pool: bool,
}

/// The root `client_tls` block: how cuttle calls `https://` backends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientTlsSettings {
    /// `allow_insecure_connections`: no certificate verification at all.
    pub allow_insecure_connections: bool,
    /// `ca_certs`: PEM files trusted besides the system roots.
    pub ca_certs: Vec<PathBuf>,
    /// `disable_system_ca_pool`: trust only `ca_certs`.
    pub disable_system_ca_pool: bool,
    /// `client_certs`: certificates (with keys) shown to backends that ask
    /// for one (mTLS); the first whose key suits the backend is used.
    pub client_certs: Vec<KeyPair>,
    /// Both TLS 1.3 when the block does not set them (lura's default);
    /// `None` only without a block (Go's defaults: TLS 1.2 to 1.3).
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    /// `cipher_suites`: the TLS 1.2 suites offered (Go's `CipherSuites`,
    /// which leaves TLS 1.3's alone); `None`: all supported.
    pub cipher_suites: Option<Vec<u16>>,
    /// `curve_preferences`: the key exchange groups offered, in this
    /// order; `None`: rustls' defaults.
    pub curve_preferences: Option<Vec<u16>>,
}

/// The cipher suites cuttle's TLS library supports, by number and name.
pub fn supported_cipher_suites() -> Vec<(u16, String)> {
    rustls::crypto::ring::ALL_CIPHER_SUITES
        .iter()
        .map(|s| (u16::from(s.suite()), format!("{:?}", s.suite())))
        .collect()
}

/// The key exchange groups (`curve_preferences`) supported, by number and name.
pub fn supported_curves() -> Vec<(u16, String)> {
    rustls::crypto::ring::ALL_KX_GROUPS
        .iter()
        .map(|g| (u16::from(g.name()), format!("{:?}", g.name())))
        .collect()
}

fn listing(supported: &[(u16, String)]) -> String {
    supported
        .iter()
        .map(|(id, name)| format!("{id} ({name})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the root `tls` block: `None` when absent or `"disabled": true`.
pub fn server(tls: Option<&Value>) -> BuildResult<Option<ServerTlsSettings>> {
    let Some(tls) = tls else { return Ok(None) };
    let Some(block) = tls.as_object() else {
        return Err(Problem::new("tls", "must be an object"));
    };
    // lura decodes this block with mapstructure's weak typing (`weak.rs`).
    if weak::value_bool(block.get("disabled"), "tls.disabled")? {
        return Ok(None);
    }
    let client_auth = if weak::value_bool(block.get("enable_mtls"), "tls.enable_mtls")? {
        let ca_certs = paths(block.get("ca_certs"), "tls.ca_certs")?;
        let disable_system_ca_pool = weak::value_bool(
            block.get("disable_system_ca_pool"),
            "tls.disable_system_ca_pool",
        )?;
        if disable_system_ca_pool && ca_certs.is_empty() {
            return Err(Problem::new(
                "tls.ca_certs",
                "enable_mtls with disable_system_ca_pool needs the CA certificates that sign client certificates here",
            ));
        }
        Some(ClientAuth {
            ca_certs,
            disable_system_ca_pool,
        })
    } else {
        None
    };
    let mut keys = Vec::new();
    if let Some(list) = block.get("keys").filter(|v| !v.is_null()) {
        let Some(list) = list.as_array() else {
            return Err(Problem::new(
                "tls.keys",
                "must be a list of {\"public_key\": ..., \"private_key\": ...}",
            ));
        };
        for (i, pair) in list.iter().enumerate() {
            keys.push(key_pair(pair, &format!("tls.keys[{i}]"))?);
        }
    }
    if block.get("public_key").is_some() || block.get("private_key").is_some() {
        keys.push(key_pair(tls, "tls")?);
    }
    if keys.is_empty() {
        return Err(Problem::new(
            "tls",
            "no certificate: add \"keys\": [{\"public_key\": \"cert.pem\", \"private_key\": \"key.pem\"}] (or set \"disabled\": true)",
        ));
    }
    let min_version =
        version(block.get("min_version"), "tls.min_version")?.unwrap_or(TlsVersion::Tls13);
    let max_version =
        version(block.get("max_version"), "tls.max_version")?.unwrap_or(TlsVersion::Tls13);
    if min_version > max_version {
        return Err(Problem::new("tls.min_version", "is above tls.max_version"));
    }
    let cipher_suites = ids(
        block.get("cipher_suites"),
        "tls.cipher_suites",
        &supported_cipher_suites(),
    )?;
    let curve_preferences = ids(
        block.get("curve_preferences"),
        "tls.curve_preferences",
        &supported_curves(),
    )?;
    Ok(Some(ServerTlsSettings {
        keys,
        min_version,
        max_version,
        cipher_suites,
        curve_preferences,
        client_auth,
    }))
}

/// Reads the root `client_tls` block.
pub fn client(tls: Option<&Value>) -> BuildResult<ClientTlsSettings> {
    let Some(tls) = tls.filter(|v| !v.is_null()) else {
        return Ok(ClientTlsSettings::default());
    };
    let Some(block) = tls.as_object() else {
        return Err(Problem::new("client_tls", "must be an object"));
    };
    let mut client_certs = Vec::new();
    if let Some(list) = block.get("client_certs").filter(|v| !v.is_null()) {
        let Some(list) = list.as_array() else {
            return Err(Problem::new(
                "client_tls.client_certs",
                "must be a list of {\"certificate\": ..., \"private_key\": ...}",
            ));
        };
        for (i, pair) in list.iter().enumerate() {
            let at = format!("client_tls.client_certs[{i}]");
            let path = |key: &str| -> BuildResult<PathBuf> {
                match pair.get(key).and_then(Value::as_str) {
                    Some(text) if !text.is_empty() => Ok(PathBuf::from(text)),
                    _ => Err(Problem::new(
                        format!("{at}.{key}"),
                        "missing; write the path of a PEM file",
                    )),
                }
            };
            client_certs.push(KeyPair {
                public_key: path("certificate")?,
                private_key: path("private_key")?,
            });
        }
    }
    let flag = |key: &str| -> BuildResult<bool> {
        weak::value_bool(block.get(key), &format!("client_tls.{key}"))
    };
    let ca_certs = paths(block.get("ca_certs"), "client_tls.ca_certs")?;
    let cipher_suites = ids(
        block.get("cipher_suites"),
        "client_tls.cipher_suites",
        &supported_cipher_suites(),
    )?;
    let curve_preferences = ids(
        block.get("curve_preferences"),
        "client_tls.curve_preferences",
        &supported_curves(),
    )?;
    let settings = ClientTlsSettings {
        cipher_suites,
        curve_preferences,
        allow_insecure_connections: flag("allow_insecure_connections")?,
        ca_certs,
        disable_system_ca_pool: flag("disable_system_ca_pool")?,
        client_certs,
        // lura's `ParseClientTLSConfigWithLogger` (transport/http/server)
        // turns an unset version into TLS 1.3 (`parseTLSVersion`), so a
        // `client_tls` block means TLS 1.3 only unless it says otherwise.
        // Without the block lura hands Go no TLS configuration at all and
        // Go's defaults apply (TLS 1.2 to 1.3): `ClientTlsSettings::default()`.
        min_version: Some(
            version(block.get("min_version"), "client_tls.min_version")?
                .unwrap_or(TlsVersion::Tls13),
        ),
        max_version: Some(
            version(block.get("max_version"), "client_tls.max_version")?
                .unwrap_or(TlsVersion::Tls13),
        ),
    };
    if settings.min_version > settings.max_version {
        let unset = |key: &str| block.get(key).is_none_or(|v| v.is_null() || v == "");
        return Err(Problem::new(
            "client_tls.min_version",
            if unset("min_version") {
                "is TLS13 when not set (KrakenD's default), above client_tls.max_version: add \"min_version\": \"TLS12\""
            } else {
                "is above client_tls.max_version"
            },
        ));
    }
    Ok(settings)
}

/// A list of PEM file paths (one path alone is a list of one, as lura's
/// weak decoding reads it).
fn paths(value: Option<&Value>, at: &str) -> BuildResult<Vec<PathBuf>> {
    Ok(weak::value_strings(value, at)?
        .into_iter()
        .map(PathBuf::from)
        .collect())
}

fn key_pair(value: &Value, at: &str) -> BuildResult<KeyPair> {
    let path = |key: &str| -> BuildResult<PathBuf> {
        match value.get(key).and_then(Value::as_str) {
            Some(text) if !text.is_empty() => Ok(PathBuf::from(text)),
            _ => Err(Problem::new(
                format!("{at}.{key}"),
                format!(
                    "missing; write the path of the PEM {}",
                    if key == "public_key" {
                        "certificate (chain)"
                    } else {
                        "private key"
                    }
                ),
            )),
        }
    };
    Ok(KeyPair {
        public_key: path("public_key")?,
        private_key: path("private_key")?,
    })
}

fn version(value: Option<&Value>, at: &str) -> BuildResult<Option<TlsVersion>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) if text == "TLS12" => Ok(Some(TlsVersion::Tls12)),
        Some(Value::String(text)) if text == "TLS13" => Ok(Some(TlsVersion::Tls13)),
        Some(Value::String(text)) if matches!(text.as_str(), "SSL3.0" | "TLS10" | "TLS11") => {
            Err(Problem::new(
                at,
                format!(
                    "\"{text}\" is not supported (cuttle speaks TLS 1.2 and 1.3 only); write \"TLS12\" or \"TLS13\""
                ),
            ))
        }
        Some(other) => Err(Problem::new(
            at,
            format!("{other} is not a TLS version; write \"TLS12\" or \"TLS13\""),
        )),
    }
}

fn ids(
    value: Option<&Value>,
    at: &str,
    supported: &[(u16, String)],
) -> BuildResult<Option<Vec<u16>>> {
    let list = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) if list.is_empty() => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(Problem::new(
                at,
                format!(
                    "must be a list of numbers; supported: {}",
                    listing(supported)
                ),
            ));
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let id = item.as_u64().and_then(|n| u16::try_from(n).ok());
        match id {
            Some(id) if supported.iter().any(|(s, _)| *s == id) => out.push(id),
            _ => {
                return Err(Problem::new(
                    at,
                    format!("{item} is not supported; supported: {}", listing(supported)),
                ));
            }
        }
    }
    Ok(Some(out))
}
