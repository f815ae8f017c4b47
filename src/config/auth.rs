//! `auth/validator` and `auth/signer` (KrakenD's krakend-jose) read into
//! plain, checked settings ([`AuthSettings`], [`SignerSettings`]) with the
//! JSON path of each. Their key sources are built by the prepare step
//! (`auth::keys::JwkRegistry`, called from `prepare`): a `jwk_local_path` is
//! read and parsed there (a bad file fails `check` and `run` with that
//! path), a `jwk_url` becomes one fetcher source however many endpoints
//! name it.

use std::time::Duration;

use serde_json::Value;

use super::error::{BuildResult, Problem};
use super::raw::{GoDuration, RawJwtSigner, RawJwtValidator, RawSharedJwkCache};

/// The JWS algorithms KrakenD accepts (`alg`), as `auth::alg::Alg` names
/// them (a test there keeps the two lists equal).
pub const JWS_ALGORITHMS: [&str; 13] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "ES512", "EdDSA",
];

/// `key_identify_strategy` values, as `auth::jwk::KeyIdStrategy` reads them.
pub const KEY_ID_STRATEGIES: [&str; 5] = ["", "kid", "x5t", "x5t#S256", "kid_x5t"];

/// Where a validator or signer gets its keys, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A validator with neither `jwk_url` nor `jwk_local_path`: no key is
    /// ever published, so every token is refused (as in KrakenD).
    Nothing,
    /// `jwk_url`, fetched in the background every `refresh`.
    Url {
        url: String,
        refresh: Duration,
        insecure: bool,
    },
    /// `jwk_local_path` (read when both are set, as KrakenD does); `at` is
    /// its JSON path.
    File {
        path: String,
        at: String,
        /// `secret_url` + `cypher_key`: the file is encrypted.
        secret: Option<FileSecret>,
    },
}

/// An encrypted key file (krakend-jose `jwk.go` `newLocalSecretProvider`,
/// `secrets/cypher.go`): `cypher_key` is a passphrase encrypted by the
/// `secret_url` keeper; the file is AES-256-GCM under the hex MD5 of that
/// passphrase. Only gocloud's `base64key://` keeper (`localsecrets`,
/// NaCl secretbox) is implemented. `Debug` hides the key.
#[derive(Clone, PartialEq, Eq)]
pub struct FileSecret {
    /// The keeper's 32-byte key, from the `secret_url`.
    pub keeper_key: [u8; 32],
    /// `cypher_key`, decoded (Go's `[]byte` in JSON is standard base64).
    pub cypher_key: Vec<u8>,
    /// The JSON path of `secret_url`.
    pub at: String,
}

impl std::fmt::Debug for FileSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSecret")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// One endpoint's `auth/validator`: one or several validators (distinct
/// issuers).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSettings {
    pub validators: Vec<ValidatorSettings>,
    /// The largest `token_cache_size`, if any.
    pub cache_size: Option<usize>,
}

/// One validator, checked; `at` is its JSON path.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatorSettings {
    pub at: String,
    /// One of [`JWS_ALGORITHMS`].
    pub alg: &'static str,
    pub keys: KeySource,
    /// One of [`KEY_ID_STRATEGIES`].
    pub key_id: &'static str,
    pub issuer: Option<String>,
    pub audience: Vec<String>,
    /// `leeway` as written (`auth::claims` applies its floor).
    pub leeway: Option<Duration>,
    pub roles_key: String,
    pub roles_nested: bool,
    pub roles: Vec<String>,
    pub scopes_key: Option<String>,
    pub scopes: Vec<String>,
    pub scopes_all: bool,
    /// Lower-case.
    pub auth_header: String,
    pub cookie_key: String,
    /// `propagate_claims`: (claim, header) pairs.
    pub propagate: Vec<(String, String)>,
    pub operation_debug: bool,
}

/// `auth/signer`, checked; `at` is its JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSettings {
    pub at: String,
    pub alg: &'static str,
    pub kid: String,
    pub typ: String,
    pub keys: KeySource,
    pub full: bool,
    pub keys_to_sign: Vec<String>,
}

/// KrakenD's `cache_duration` when `cache` is on and it is unset (15 min).
pub const DEFAULT_CACHE_DURATION: Duration = Duration::from_secs(900);
/// How often a `jwk_url` without `cache` is fetched again. KrakenD fetches
/// it on every request then; cuttle refreshes in the background instead
/// (and at once, at most every 10 s, when a token names an unknown key).
pub const UNCACHED_REFRESH: Duration = Duration::from_secs(10);

/// Settings that decide which keys are trusted or how they are read:
/// refused rather than ignored.
const REFUSED_KEYS: &[(&str, &str)] = &[
    ("jwk_fingerprints", "certificate pinning of the JWK server"),
    (
        "jwk_local_ca",
        "a CA file for the JWK server (use the root client_tls.ca_certs)",
    ),
];

/// What the validators and signers of a file share while they are read.
#[derive(Debug, Default)]
pub struct JwkRegistry {
    /// The root `auth/validator` `shared_cache_duration` ([`shared_cache`]).
    pub shared_cache: Option<Duration>,
}

/// `secret_url` and `cypher_key` as written.
#[derive(Clone, Copy, Default)]
struct SecretText<'a> {
    url: Option<&'a str>,
    cypher_key: Option<&'a str>,
}

/// The key source of a validator or signer at `at`.
fn key_source(
    url: Option<&str>,
    local: Option<&str>,
    secret: SecretText<'_>,
    refresh: Duration,
    insecure: bool,
    at: &str,
) -> BuildResult<KeySource> {
    // KrakenD reads the file when both are set.
    if let Some(path) = local.filter(|p| !p.is_empty()) {
        return Ok(KeySource::File {
            path: path.to_owned(),
            at: format!("{at}.jwk_local_path"),
            secret: file_secret(secret, at)?,
        });
    }
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return Err(Problem::new(
            at,
            "no keys: write \"jwk_url\" (the identity provider's JWK set, e.g. \"https://idp.example.com/.well-known/jwks.json\") or \"jwk_local_path\" (a JWK set file)",
        ));
    };
    let parsed = crate::http::Url::parse(url)
        .map_err(|e| Problem::new(format!("{at}.jwk_url"), format!("\"{url}\": {e}")))?;
    if !parsed.https && !insecure {
        return Err(Problem::new(
            format!("{at}.jwk_url"),
            format!(
                "\"{url}\" is plain http: keys fetched over it can be replaced by anyone on the path; use https, or set \"disable_jwk_security\": true (as KrakenD requires)"
            ),
        ));
    }
    Ok(KeySource::Url {
        url: url.to_owned(),
        refresh,
        insecure,
    })
}

/// The root `auth/validator`: krakend-jose's second-level JWK cache,
/// which KrakenD CE sets up from `shared_cache_duration` alone (seconds;
/// 0 or unset is 15 min: krakend-jose `key_cacher.go` `SetGlobalCacher`,
/// called by krakend-ce `executor.go`). Validators with `cache` look a key
/// up there once their own cache expired, so a key fetched from a URL is
/// trusted for the longer of the two durations. cuttle already fetches
/// each URL once for the process, so the setting becomes the refresh
/// period of the URLs of caching validators when it is the longer one
/// (`one_validator`). Unlike krakend-jose's cache, keyed by key id alone,
/// a key is never lent to a validator of another URL.
pub fn shared_cache(value: &Value, at: &str, warnings: &mut Vec<Problem>) -> BuildResult<Duration> {
    if let Value::Object(settings) = value {
        let others: Vec<&str> = settings
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "shared_cache_duration" && !k.starts_with('@'))
            .collect();
        if !others.is_empty() {
            // A validator written here protects nothing, in KrakenD too.
            warnings.push(Problem::new(
                at,
                format!(
                    "{} ignored: at the root KrakenD reads only \"shared_cache_duration\"; a validator protects only the endpoints whose own extra_config has it",
                    others.join(", ")
                ),
            ));
        }
    }
    let raw: RawSharedJwkCache = super::extra::decode(value, at)?;
    Ok(match raw.shared_cache_duration {
        Some(s) if s.0 > 0 => Duration::from_secs(s.0),
        _ => DEFAULT_CACHE_DURATION,
    })
}

/// `auth/validator` at `at`: one object, or an array of objects with
/// distinct issuers.
pub fn validator(
    value: &Value,
    at: &str,
    registry: &mut JwkRegistry,
    unknown: &mut super::extra::Unknown,
) -> BuildResult<AuthSettings> {
    let objects: Vec<(String, &Value)> = match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{at}[{i}]"), v))
            .collect(),
        other => vec![(at.to_owned(), other)],
    };
    if objects.is_empty() {
        return Err(Problem::new(
            at,
            "an empty list of validators would let nobody in; write one validator object, or several with distinct \"issuer\"s",
        ));
    }
    let mut validators = Vec::with_capacity(objects.len());
    let mut cache_size = None;
    for (at, object) in &objects {
        check_keys(object, "auth/validator", at, &mut unknown.ignored)?;
        let raw: RawJwtValidator = super::extra::decode(object, at)?;
        if let Some(size) = raw.token_cache_size {
            let size = usize::try_from(size.0).unwrap_or(usize::MAX);
            cache_size = Some(cache_size.map_or(size, |s: usize| s.max(size)));
        }
        validators.push(one_validator(raw, at, registry, &mut unknown.warnings)?);
    }
    if validators.len() > 1 {
        let mut seen: Vec<&str> = Vec::new();
        for ((at, _), v) in objects.iter().zip(&validators) {
            let Some(issuer) = v.issuer.as_deref() else {
                return Err(Problem::new(
                    format!("{at}.issuer"),
                    "missing; with several validators on one endpoint, each needs the \"issuer\" whose tokens it checks",
                ));
            };
            if seen.contains(&issuer) {
                return Err(Problem::new(
                    format!("{at}.issuer"),
                    format!(
                        "\"{issuer}\" is the issuer of an earlier validator too; each validator of an endpoint needs its own issuer"
                    ),
                ));
            }
            seen.push(issuer);
        }
    }
    Ok(AuthSettings {
        validators,
        cache_size,
    })
}

fn one_validator(
    raw: RawJwtValidator,
    at: &str,
    registry: &mut JwkRegistry,
    warnings: &mut Vec<Problem>,
) -> BuildResult<ValidatorSettings> {
    let alg = algorithm(raw.alg.as_deref(), at)?;
    let refresh = if raw.cache == Some(true) {
        let own = match raw.cache_duration {
            Some(s) if s.0 > 0 => Duration::from_secs(s.0),
            _ => DEFAULT_CACHE_DURATION,
        };
        own.max(registry.shared_cache.unwrap_or_default())
    } else {
        UNCACHED_REFRESH
    };
    let insecure = raw.disable_jwk_security == Some(true);
    let keys = if is_unset(raw.jwk_url.as_deref()) && is_unset(raw.jwk_local_path.as_deref()) {
        // krakend-jose's `SecretProvider` builds a JWK client on an empty
        // URL (jwk.go): KrakenD starts and every token fails to verify.
        // No key is ever published here, so every request gets 401.
        warnings.push(Problem::new(
            at,
            "no \"jwk_url\" nor \"jwk_local_path\": no token can be verified, so every request to this endpoint is refused with 401 (as in KrakenD); write the identity provider's JWK set URL or a JWK set file",
        ));
        KeySource::Nothing
    } else {
        key_source(
            raw.jwk_url.as_deref(),
            raw.jwk_local_path.as_deref(),
            SecretText {
                url: raw.secret_url.as_deref(),
                cypher_key: raw.cypher_key.as_deref(),
            },
            refresh,
            insecure,
            at,
        )?
    };
    let key_id = KEY_ID_STRATEGIES
        .into_iter()
        .find(|k| *k == raw.key_identify_strategy.as_deref().unwrap_or(""))
        .ok_or_else(|| {
            Problem::new(
                format!("{at}.key_identify_strategy"),
                "write one of \"kid\" (the default), \"x5t\", \"x5t#S256\", \"kid_x5t\"",
            )
        })?;
    let scopes_all = match raw.scopes_matcher.as_deref() {
        None | Some("") | Some("any") => false,
        Some("all") => true,
        Some(other) => {
            return Err(Problem::new(
                format!("{at}.scopes_matcher"),
                format!("\"{other}\" is not a matcher; write \"any\" (the default) or \"all\""),
            ));
        }
    };
    let roles_key = raw
        .roles_key
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "roles".to_owned());
    // KrakenD nests only a dotted key that is not a URL-like claim name.
    let roles_nested = raw.roles_key_is_nested == Some(true)
        && roles_key.contains('.')
        && !roles_key.starts_with("http");
    let leeway = raw.leeway.map(|GoDuration(d)| d);
    let mut propagate = Vec::new();
    for (i, pair) in raw
        .propagate_claims
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let at = format!("{at}.propagate_claims[{i}]");
        let [claim, header] = <[String; 2]>::try_from(pair).map_err(|_| {
            Problem::new(
                &at,
                "write a [claim, header] pair, e.g. [\"sub\", \"x-user\"]",
            )
        })?;
        if claim.is_empty() || !is_header_name(&header) {
            return Err(Problem::new(
                &at,
                format!(
                    "\"{header}\" is not a header name, or the claim is empty; write e.g. [\"sub\", \"x-user\"]"
                ),
            ));
        }
        if is_reserved_header(&header) {
            return Err(Problem::new(
                &at,
                format!(
                    "\"{header}\" is set by the gateway itself (framing, host, forwarding); pick another header name"
                ),
            ));
        }
        propagate.push((claim, header));
    }
    let header = raw
        .auth_header_name
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "Authorization".to_owned());
    if !is_header_name(&header) {
        return Err(Problem::new(
            format!("{at}.auth_header_name"),
            format!("\"{header}\" is not a header name"),
        ));
    }
    Ok(ValidatorSettings {
        at: at.to_owned(),
        alg,
        keys,
        key_id,
        issuer: raw.issuer.filter(|i| !i.is_empty()),
        audience: raw.audience.unwrap_or_default(),
        leeway,
        roles_key,
        roles_nested,
        roles: raw.roles.unwrap_or_default(),
        scopes_key: raw.scopes_key.filter(|k| !k.is_empty()),
        scopes: raw.scopes.unwrap_or_default(),
        scopes_all,
        auth_header: header.to_ascii_lowercase(),
        cookie_key: raw
            .cookie_key
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "access_token".to_owned()),
        propagate,
        operation_debug: raw.operation_debug == Some(true),
    })
}

/// `auth/signer` at `at`.
pub fn signer(
    value: &Value,
    at: &str,
    ignored: &mut std::collections::BTreeSet<String>,
) -> BuildResult<SignerSettings> {
    check_keys(value, "auth/signer", at, ignored)?;
    let raw: RawJwtSigner = super::extra::decode(value, at)?;
    let alg = algorithm(raw.alg.as_deref(), at)?;
    let kid = raw.kid.filter(|k| !k.is_empty()).ok_or_else(|| {
        Problem::new(
            format!("{at}.kid"),
            "missing; write the \"kid\" of the key in the JWK set to sign with",
        )
    })?;
    let keys_to_sign = raw.keys_to_sign.unwrap_or_default();
    if keys_to_sign.is_empty() {
        return Err(Problem::new(
            format!("{at}.keys_to_sign"),
            "missing or empty; list the response keys whose objects become signed tokens, e.g. [\"access_token\"]",
        ));
    }
    let keys = key_source(
        raw.jwk_url.as_deref(),
        raw.jwk_local_path.as_deref(),
        SecretText {
            url: raw.secret_url.as_deref(),
            cypher_key: raw.cypher_key.as_deref(),
        },
        DEFAULT_CACHE_DURATION,
        raw.disable_jwk_security == Some(true),
        at,
    )?;
    Ok(SignerSettings {
        at: at.to_owned(),
        alg,
        kid,
        typ: raw
            .typ
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "JWT".to_owned()),
        keys,
        full: raw.full == Some(true),
        keys_to_sign,
    })
}

/// `secret_url` (+ `cypher_key`) of a key file. krakend-jose opens the
/// keeper with gocloud's `secrets.OpenKeeper`; of its schemes cuttle reads
/// `base64key://` (gocloud `secrets/localsecrets`: the URL's host is the
/// key, URL-safe base64 with padding, 32 bytes; an empty host is a random
/// key, which could decrypt nothing; no query parameters).
fn file_secret(secret: SecretText<'_>, at: &str) -> BuildResult<Option<FileSecret>> {
    use base64::Engine as _;
    let Some(url) = secret.url.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let url_at = format!("{at}.secret_url");
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(Problem::new(
            url_at,
            format!(
                "\"{url}\" is not a URL; write \"base64key://<32-byte key in URL-safe base64>\""
            ),
        ));
    };
    if scheme != "base64key" {
        return Err(Problem::new(
            url_at,
            format!(
                "the \"{scheme}://\" keeper is not implemented by cuttle (only \"base64key://\"); decrypt the key file, or use a base64key:// key"
            ),
        ));
    }
    if rest.contains('?') {
        return Err(Problem::new(
            url_at,
            "base64key:// takes no query parameters (as in gocloud's localsecrets)",
        ));
    }
    let host = rest.trim_end_matches('/');
    if host.is_empty() {
        return Err(Problem::new(
            url_at,
            "base64key:// without a key is a random key (gocloud), which decrypts nothing; write the key: base64key://<32 bytes in URL-safe base64>",
        ));
    }
    let key = base64::engine::general_purpose::URL_SAFE
        .decode(host)
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| {
            Problem::new(
                &url_at,
                "the key is not 32 bytes in URL-safe base64 with padding (gocloud's localsecrets.Base64Key)",
            )
        })?;
    let cypher_at = format!("{at}.cypher_key");
    let cypher_key = match secret.cypher_key.filter(|c| !c.is_empty()) {
        None => Vec::new(),
        Some(text) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| {
                Problem::new(
                    &cypher_at,
                    format!("not base64 (Go reads a []byte from standard base64): {e}"),
                )
            })?,
    };
    Ok(Some(FileSecret {
        keeper_key: key,
        cypher_key,
        at: url_at,
    }))
}

fn algorithm(text: Option<&str>, at: &str) -> BuildResult<&'static str> {
    // KrakenD's schema documents RS256 as the default.
    let text = text.filter(|t| !t.is_empty()).unwrap_or("RS256");
    JWS_ALGORITHMS
        .into_iter()
        .find(|name| *name == text)
        .ok_or_else(|| {
            Problem::new(
                format!("{at}.alg"),
                format!(
                    "\"{text}\" is not a supported algorithm; write one of {}",
                    JWS_ALGORITHMS.join(", ")
                ),
            )
        })
}

fn check_keys(
    value: &Value,
    namespace: &str,
    at: &str,
    ignored: &mut std::collections::BTreeSet<String>,
) -> BuildResult<()> {
    let Value::Object(settings) = value else {
        return Ok(());
    };
    for key in settings.keys() {
        if let Some((_, what)) = REFUSED_KEYS.iter().find(|(k, _)| k == key) {
            return Err(Problem::new(
                format!("{at}.{key}"),
                format!(
                    "cuttle does not implement {what}; remove \"{key}\" (serving without it would trust keys the file does not mean to)"
                ),
            ));
        }
        if !key.starts_with('@') && !super::options::has_row(namespace, key) {
            ignored.insert(format!("{namespace}.{key}"));
        }
    }
    Ok(())
}

fn is_unset(text: Option<&str>) -> bool {
    text.is_none_or(str::is_empty)
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_reserved_header(name: &str) -> bool {
    const RESERVED: [&str; 9] = [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "expect",
        "te",
        "upgrade",
        "x-forwarded-for",
        "x-forwarded-host",
    ];
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name))
}
