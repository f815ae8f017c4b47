//! `auth/validator` and `auth/signer` settings: what is accepted, and the
//! errors (with JSON paths and fixes) for what is not.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::prepare::Prepared;

fn file(extra: &str, url_pattern: &str) -> String {
    format!(
        r#"{{"version": 3, "host": ["http://127.0.0.1:8000"], "endpoints": [
            {{"endpoint": "/a", "backend": [{{"url_pattern": "{url_pattern}"}}], "extra_config": {extra}}},
            {{"endpoint": "/b", "backend": [{{"url_pattern": "/"}}], "extra_config": {extra}}}]}}"#
    )
}

/// `config::parse` then the prepare step, which builds the specs.
fn prepared(text: &str) -> Result<(Config, Prepared), ConfigError> {
    let source = Path::new("config/test.json");
    let config = parse(text, source)?;
    let prepared = Prepared::new(&config, source)?;
    Ok((config, prepared))
}

fn error(extra: &str) -> String {
    prepared(&file(extra, "/")).err().expect(extra).to_string()
}

#[test]
fn validator_settings() {
    let extra = r#"{"auth/validator": {"alg": "ES256", "jwk_url": "https://idp.test/jwks", "cache": true,
        "issuer": "i", "audience": ["a"], "roles_key": "realm.roles", "roles_key_is_nested": true,
        "roles": ["r"], "scopes_key": "scope", "scopes": ["s"], "scopes_matcher": "all",
        "propagate_claims": [["sub", "X-User"]], "leeway": "5s", "token_cache_size": 7, "@c": 1}}"#;
    let (config, prepared) = prepared(&file(extra, "/u/{JWT.sub}")).unwrap();
    let spec = prepared.endpoints[0].auth.as_ref().unwrap();
    assert_eq!(spec.cache_size, 7);
    let v = &spec.validators[0];
    assert_eq!(v.alg, crate::auth::Alg::ES256);
    assert!(v.rules.roles_nested && v.rules.scopes_all);
    assert_eq!(v.rules.leeway, Duration::from_secs(5));
    assert_eq!(v.propagate, [("sub".to_owned(), "X-User".to_owned())]);
    assert_eq!(
        (v.auth_header.as_str(), v.cookie_key.as_str()),
        ("authorization", "access_token")
    );
    // Two endpoints, one URL: one source, refreshed every 15 minutes.
    assert_eq!(prepared.jwk_sources.len(), 1);
    assert_eq!(prepared.jwk_sources[0].refresh, Duration::from_secs(900));
    assert!(config.unimplemented.is_empty());
}

#[test]
fn validator_errors_name_the_place_and_the_fix() {
    let at = "endpoints[0].extra_config.auth/validator";
    let cases: &[(&str, &[&str])] = &[
        (
            r#"{"auth/validator": {"alg": "HS256", "jwk_url": "http://idp/jwks"}}"#,
            &[at, ".jwk_url", "disable_jwk_security"],
        ),
        (
            r#"{"auth/validator": {"alg": "HS1", "jwk_url": "https://idp/jwks"}}"#,
            &[".alg", "\"HS1\"", "ES512"],
        ),
        (
            r#"{"auth/validator": {"jwk_local_path": "/nonexistent/keys.json"}}"#,
            &[".jwk_local_path", "cannot read"],
        ),
        (
            r#"{"auth/validator": {"jwk_url": "https://idp/jwks", "scopes_matcher": "most"}}"#,
            &[".scopes_matcher", "\"all\""],
        ),
        (
            r#"{"auth/validator": {"jwk_url": "https://idp/jwks", "key_identify_strategy": "x"}}"#,
            &[".key_identify_strategy"],
        ),
        (
            r#"{"auth/validator": {"jwk_url": "https://idp/jwks", "propagate_claims": [["sub"]]}}"#,
            &[".propagate_claims[0]", "pair"],
        ),
        (
            r#"{"auth/validator": {"jwk_url": "https://idp/jwks", "propagate_claims": [["sub", "Host"]]}}"#,
            &["set by the gateway"],
        ),
        (
            r#"{"auth/validator": {"jwk_url": "https://idp/jwks", "propagate_claims": [["sub", "a b"]]}}"#,
            &["not a header name"],
        ),
        (
            r#"{"auth/validator": {"jwk_url": "https://idp/jwks", "jwk_fingerprints": ["x"]}}"#,
            &[".jwk_fingerprints", "pinning"],
        ),
        (
            r#"{"auth/validator": {"jwk_url": "https://idp/jwks", "leeway": "soon"}}"#,
            &[".leeway"],
        ),
        (r#"{"auth/validator": []}"#, &["empty list"]),
        (
            r#"{"auth/validator": [{"jwk_url": "https://a/jwks", "issuer": "x"}, {"jwk_url": "https://b/jwks"}]}"#,
            &["auth/validator[1].issuer", "each needs the \"issuer\""],
        ),
        (
            r#"{"auth/validator": [{"jwk_url": "https://a/jwks", "issuer": "x"}, {"jwk_url": "https://b/jwks", "issuer": "x"}]}"#,
            &["auth/validator[1].issuer", "its own issuer"],
        ),
        (
            r#"{"auth/signer": {"alg": "HS256", "jwk_url": "https://idp/jwks", "keys_to_sign": ["t"]}}"#,
            &["auth/signer.kid", "missing"],
        ),
        (
            r#"{"auth/signer": {"alg": "HS256", "kid": "k", "jwk_url": "https://idp/jwks"}}"#,
            &["auth/signer.keys_to_sign"],
        ),
    ];
    let no_op = parse(
        r#"{"version": 3, "host": ["http://h"], "endpoints": [{"endpoint": "/t", "output_encoding": "no-op", "backend": [{}],
            "extra_config": {"auth/signer": {"alg": "HS256", "kid": "k", "jwk_url": "https://i/j", "keys_to_sign": ["t"]}}}]}"#,
        Path::new("config/test.json"),
    )
    .expect_err("signer on no-op")
    .to_string();
    assert!(
        no_op.contains("endpoints[0].extra_config.auth/signer"),
        "{no_op}"
    );
    for (extra, fragments) in cases {
        let message = error(extra);
        assert!(message.starts_with("config/test.json: "), "{message}");
        for fragment in *fragments {
            assert!(
                message.contains(fragment),
                "{extra}: expected {fragment:?} in: {message}"
            );
        }
    }
}

#[test]
fn several_validators_and_insecure_sources() {
    let extra = r#"{"auth/validator": [
        {"alg": "RS256", "jwk_url": "http://a.test/jwks", "disable_jwk_security": true, "issuer": "a"},
        {"alg": "ES256", "jwk_url": "https://b.test/jwks", "issuer": "b", "cache": true, "cache_duration": 60}]}"#;
    let (_, prepared) = prepared(&file(extra, "/")).unwrap();
    assert_eq!(
        prepared.endpoints[0]
            .auth
            .as_ref()
            .unwrap()
            .validators
            .len(),
        2
    );
    let sources: Vec<(&str, bool, u64)> = prepared
        .jwk_sources
        .iter()
        .map(|s| (s.url.as_str(), s.insecure, s.refresh.as_secs()))
        .collect();
    assert_eq!(
        sources,
        [
            ("http://a.test/jwks", true, 10),
            ("https://b.test/jwks", false, 60)
        ]
    );
}
