//! `auth/validator` and `auth/signer` against the real gateway: keys made
//! by the test, a JWK set served by a real HTTP server on 127.0.0.1,
//! tokens signed here and checked by cuttle.
//!
//! Test code is not the request path: the JWK server's set sits in a Mutex.
#![allow(clippy::disallowed_types)]

mod common;
#[path = "common/jwt.rs"]
mod jwt;

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, Gateway, json};
use cuttle::auth::Alg;
use cuttle::auth::alg::ALL;
use jwt::{TestKey, forged, generate, jwks, now, token};
use serde_json::{Value, json};

/// A JWK server: answers `/jwks` with whatever `set` holds at the time.
struct JwkServer {
    backend: Backend,
    set: Arc<std::sync::Mutex<String>>,
}

impl JwkServer {
    fn start(body: String) -> JwkServer {
        JwkServer::on(TcpListener::bind("127.0.0.1:0").unwrap(), body)
    }

    fn on(listener: TcpListener, body: String) -> JwkServer {
        let set = Arc::new(std::sync::Mutex::new(body));
        let served = set.clone();
        let backend = Backend::serve(listener, move |_| json(200, &served.lock().unwrap()));
        JwkServer { backend, set }
    }

    fn url(&self) -> String {
        format!("{}/jwks", self.backend.url())
    }

    fn replace(&self, body: String) {
        *self.set.lock().unwrap() = body;
    }
}

/// A backend that answers every call with its path and what it received.
fn echo_backend() -> Backend {
    Backend::start(|seen| {
        let headers: serde_json::Map<String, Value> = seen
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), json!(v)))
            .collect();
        json(
            200,
            &json!({"path": seen.target, "headers": headers}).to_string(),
        )
    })
}

fn validator(alg: Alg, jwk_url: &str, extra: &str) -> String {
    format!(
        r#"{{"alg": "{}", "jwk_url": "{jwk_url}", "disable_jwk_security": true, "cache": true, "cache_duration": 1, "operation_debug": true{extra}}}"#,
        alg.name()
    )
}

fn endpoint(path: &str, url_pattern: &str, backend: &Backend, auth: &str) -> String {
    format!(
        r#"{{"endpoint": "{path}", "backend": [{{"host": ["{}"], "url_pattern": "{url_pattern}"}}],
            "extra_config": {{"auth/validator": {auth}}}}}"#,
        backend.url()
    )
}

fn gateway(endpoints: &[String]) -> Gateway {
    Gateway::start(&common::config(&format!("[{}]", endpoints.join(","))))
}

fn get(gw: &Gateway, path: &str, token: &str) -> common::Response {
    gw.raw(
        format!("GET {path} HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    )
}

fn claims(extra: Value) -> Value {
    let mut base =
        json!({"sub": "user-1", "iss": "https://idp.test", "aud": "api", "exp": now() + 600});
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

/// Changes one character in the middle of the signature.
fn tamper(token: &str) -> String {
    let at = token.rfind('.').unwrap() + 5;
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn every_algorithm_is_verified_and_a_bad_signature_refused() {
    let keys: Vec<TestKey> = ALL
        .iter()
        .map(|alg| generate(*alg, &format!("k-{}", alg.name())))
        .collect();
    let server = JwkServer::start(jwks(&keys.iter().collect::<Vec<_>>()));
    let backend = echo_backend();
    let endpoints: Vec<String> = ALL
        .iter()
        .map(|alg| {
            endpoint(
                &format!("/{}", alg.name()),
                "/ok",
                &backend,
                &validator(*alg, &server.url(), ""),
            )
        })
        .collect();
    let gw = gateway(&endpoints);
    for key in &keys {
        let path = format!("/{}", key.alg.name());
        let good = token(key, &claims(json!({})));
        gw.eventually(
            &format!("{} accepted", key.alg),
            Duration::from_secs(5),
            || get(&gw, &path, &good).status == 200,
        );
        assert_eq!(get(&gw, &path, &tamper(&good)).status, 401, "{}", key.alg);
        let r = get(&gw, &path, &tamper(&good));
        assert!(r.body.is_empty(), "empty 401 body");
        assert_eq!(r.header("content-type"), None);
        assert_eq!(r.header("x-krakend-completed"), None);
    }
}

#[test]
fn invalid_tokens_get_401_and_never_reach_the_backend() {
    let hs = generate(Alg::HS256, "hs");
    let rsa = generate(Alg::RS256, "rsa");
    let server = JwkServer::start(jwks(&[&hs, &rsa]));
    let backend = echo_backend();
    let rules = r#", "issuer": "https://idp.test", "audience": ["api"]"#;
    let gw = gateway(&[
        endpoint(
            "/hs",
            "/ok",
            &backend,
            &validator(Alg::HS256, &server.url(), rules),
        ),
        endpoint(
            "/rs",
            "/ok",
            &backend,
            &validator(Alg::RS256, &server.url(), rules),
        ),
    ]);
    let good = token(&hs, &claims(json!({})));
    gw.eventually("keys loaded", Duration::from_secs(5), || {
        get(&gw, "/hs", &good).status == 200
    });
    let calls = backend.requests().len();

    // The RSA public key's modulus used as an HMAC secret.
    let n = rsa.public["n"].as_str().unwrap().to_owned();
    let confused_key = jwt::TestKey {
        alg: Alg::HS256,
        kid: "rsa".into(),
        public: json!({}),
        private: json!({}),
        signer: cuttle::auth::sign::SigningKey::new(
            Alg::HS256,
            &cuttle::auth::jwk::Material::Oct(n.into_bytes()),
        )
        .unwrap(),
    };
    let confused = token(&confused_key, &claims(json!({})));
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "expired",
            "/hs",
            token(&hs, &claims(json!({"exp": now() - 30}))),
        ),
        (
            "not yet valid",
            "/hs",
            token(&hs, &claims(json!({"nbf": now() + 60}))),
        ),
        (
            "wrong issuer",
            "/hs",
            token(&hs, &claims(json!({"iss": "https://evil.test"}))),
        ),
        (
            "wrong audience",
            "/hs",
            token(&hs, &claims(json!({"aud": ["web"]}))),
        ),
        ("bad signature", "/hs", tamper(&good)),
        (
            "alg none",
            "/hs",
            forged(
                &json!({"alg": "none", "kid": "hs"}),
                &claims(json!({})),
                b"",
            ),
        ),
        ("garbage", "/hs", "a.bad.token".into()),
        // An HS256 token signed with the RSA key's public bytes: refused on
        // the RS256 endpoint (wrong alg) and on the HS256 one (the key
        // named is an RSA key, never an HMAC secret).
        (
            "HS with RSA public key, RS endpoint",
            "/rs",
            confused.clone(),
        ),
        ("HS with RSA public key, HS endpoint", "/hs", confused),
        (
            "RS token on the HS endpoint",
            "/hs",
            token(&rsa, &claims(json!({}))),
        ),
    ];
    for (name, path, bad) in &cases {
        let r = get(&gw, path, bad);
        assert_eq!(r.status, 401, "{name}");
        assert!(r.body.is_empty(), "{name}: empty body");
    }
    assert_eq!(gw.get("/hs").status, 401, "no token");
    assert_eq!(
        backend.requests().len(),
        calls,
        "refused requests reach no backend"
    );
}

#[test]
fn roles_and_scopes_missing_get_403() {
    let key = generate(Alg::ES256, "ec");
    let server = JwkServer::start(jwks(&[&key]));
    let backend = echo_backend();
    let gw = gateway(&[
        endpoint(
            "/roles",
            "/ok",
            &backend,
            &validator(
                Alg::ES256,
                &server.url(),
                r#", "roles_key": "realm.roles", "roles_key_is_nested": true, "roles": ["admin"]"#,
            ),
        ),
        endpoint(
            "/scopes",
            "/ok",
            &backend,
            &validator(
                Alg::ES256,
                &server.url(),
                r#", "scopes_key": "scope", "scopes": ["read", "write"], "scopes_matcher": "all""#,
            ),
        ),
    ]);
    let admin = token(
        &key,
        &claims(json!({"realm": {"roles": ["user", "admin"]}})),
    );
    gw.eventually("keys loaded", Duration::from_secs(5), || {
        get(&gw, "/roles", &admin).status == 200
    });
    let user = token(&key, &claims(json!({"realm": {"roles": ["user"]}})));
    let r = get(&gw, "/roles", &user);
    assert_eq!(r.status, 403);
    assert!(r.body.is_empty());
    let both = token(&key, &claims(json!({"scope": "read write other"})));
    assert_eq!(get(&gw, "/scopes", &both).status, 200);
    let one = token(&key, &claims(json!({"scope": ["read"]})));
    assert_eq!(get(&gw, "/scopes", &one).status, 403);
}

#[test]
fn claims_reach_the_backend_as_headers_and_encoded_url_values() {
    let key = generate(Alg::HS512, "hs");
    let server = JwkServer::start(jwks(&[&key]));
    let backend = echo_backend();
    let gw = gateway(&[endpoint(
        "/me",
        "/users/{JWT.sub}/{JWT.org.id}?tenant={JWT.http://example.com/tenant}",
        &backend,
        &validator(
            Alg::HS512,
            &server.url(),
            r#", "propagate_claims": [["sub", "x-user"], ["roles", "x-roles"]]"#,
        ),
    )]);
    let t = token(
        &key,
        &claims(
            json!({"sub": "a b?c#d", "org": {"id": 42}, "roles": ["r1", "r2"],
                       "http://example.com/tenant": "t&x=1"}),
        ),
    );
    gw.eventually("keys loaded", Duration::from_secs(5), || {
        get(&gw, "/me", &t).status == 200
    });
    // The client's own X-User is not what the backend sees.
    let r = gw.raw(
        format!(
            "GET /me HTTP/1.1\r\nHost: h\r\nX-User: admin\r\nAuthorization: bearer {t}\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 200);
    let seen = backend.requests().pop().unwrap();
    assert_eq!(seen.target, "/users/a%20b%3Fc%23d/42?tenant=t%26x%3D1");
    let users: Vec<&str> = seen
        .headers
        .iter()
        .filter(|(n, _)| n == "x-user")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(users, ["a b?c#d"]);
    assert_eq!(seen.header("x-roles"), Some("r1,r2"));

    // A claim with CR/LF can never become a header: refused.
    let evil = token(&key, &claims(json!({"sub": "x\r\nX-Admin: 1"})));
    assert_eq!(get(&gw, "/me", &evil).status, 401);
    // A token from a cookie works too.
    let r = gw.raw(
        format!("GET /me HTTP/1.1\r\nHost: h\r\nCookie: a=1; access_token={t}\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn rotated_keys_are_picked_up_after_cache_duration() {
    let old = generate(Alg::PS256, "old");
    let new = generate(Alg::PS256, "new");
    let server = JwkServer::start(jwks(&[&old]));
    let backend = echo_backend();
    let gw = gateway(&[endpoint(
        "/r",
        "/ok",
        &backend,
        &validator(Alg::PS256, &server.url(), ""),
    )]);
    let old_token = token(&old, &claims(json!({})));
    let new_token = token(&new, &claims(json!({})));
    gw.eventually("old key", Duration::from_secs(5), || {
        get(&gw, "/r", &old_token).status == 200
    });
    assert_eq!(get(&gw, "/r", &new_token).status, 401);
    server.replace(jwks(&[&new]));
    // cache_duration is 1 s.
    gw.eventually("new key", Duration::from_secs(5), || {
        get(&gw, "/r", &new_token).status == 200
    });
    assert_eq!(
        get(&gw, "/r", &old_token).status,
        401,
        "a removed key is not trusted any more, even for a token verified before"
    );
}

#[test]
fn a_jwk_server_down_at_start_gives_401_until_its_keys_arrive() {
    let key = generate(Alg::EdDSA, "ed");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/jwks");
    let backend = echo_backend();
    let gw = gateway(&[endpoint(
        "/d",
        "/ok",
        &backend,
        &validator(Alg::EdDSA, &url, ""),
    )]);
    let t = token(&key, &claims(json!({})));
    assert_eq!(get(&gw, "/d", &t).status, 401, "no keys yet");
    // Time passing, not synchronisation: with the key server still down,
    // nothing may change during this period.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(&gw, "/d", &t).status, 401, "still no keys");
    let _server = JwkServer::on(TcpListener::bind(addr).unwrap(), jwks(&[&key]));
    gw.eventually("keys arrive", Duration::from_secs(10), || {
        get(&gw, "/d", &t).status == 200
    });
}

#[test]
fn several_issuers_on_one_endpoint() {
    let a = generate(Alg::RS384, "a");
    let b = generate(Alg::ES384, "b");
    let server_a = JwkServer::start(jwks(&[&a]));
    let server_b = JwkServer::start(jwks(&[&b]));
    let backend = echo_backend();
    let auth = format!(
        "[{}, {}]",
        validator(
            Alg::RS384,
            &server_a.url(),
            r#", "issuer": "https://a.test""#
        ),
        validator(
            Alg::ES384,
            &server_b.url(),
            r#", "issuer": "https://b.test", "roles": ["b-user"]"#
        )
    );
    let gw = gateway(&[endpoint("/multi", "/ok", &backend, &auth)]);
    let from_a = token(&a, &claims(json!({"iss": "https://a.test"})));
    let from_b = token(
        &b,
        &claims(json!({"iss": "https://b.test", "roles": ["b-user"]})),
    );
    gw.eventually("both sets", Duration::from_secs(5), || {
        get(&gw, "/multi", &from_a).status == 200 && get(&gw, "/multi", &from_b).status == 200
    });
    let a_claims_b = token(
        &a,
        &claims(json!({"iss": "https://b.test", "roles": ["b-user"]})),
    );
    assert_eq!(
        get(&gw, "/multi", &a_claims_b).status,
        401,
        "checked with b's keys"
    );
    let unknown = token(&a, &claims(json!({"iss": "https://c.test"})));
    assert_eq!(get(&gw, "/multi", &unknown).status, 401);
    let b_without_role = token(&b, &claims(json!({"iss": "https://b.test"})));
    assert_eq!(
        get(&gw, "/multi", &b_without_role).status,
        403,
        "b's own rules"
    );
}

#[test]
fn a_cached_token_is_refused_once_expired() {
    let key = generate(Alg::HS384, "hs");
    let server = JwkServer::start(jwks(&[&key]));
    let backend = echo_backend();
    let gw = gateway(&[endpoint(
        "/c",
        "/ok",
        &backend,
        &validator(Alg::HS384, &server.url(), ""),
    )]);
    // Room for a slow key fetch on a loaded machine before the token expires.
    let exp = now() + 4;
    let t = token(&key, &claims(json!({"exp": exp})));
    gw.eventually("accepted", Duration::from_secs(3), || {
        get(&gw, "/c", &t).status == 200
    });
    assert_eq!(get(&gw, "/c", &t).status, 200, "from the cache");
    // exp plus KrakenD's one-second leeway.
    while now() <= exp + 1 {
        // Time passing, not synchronisation: waiting out the expiry.
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(&gw, "/c", &t).status, 401);
}

#[test]
fn signer_replaces_objects_by_tokens_and_local_keys_validate() {
    let dir = common::TempDir::new();
    let hs = generate(Alg::HS256, "sim");
    let rsa = generate(Alg::RS256, "rs");
    let path = dir.0.join("keys.json");
    std::fs::write(
        &path,
        json!({"keys": [hs.private, rsa.private]}).to_string(),
    )
    .unwrap();
    let backend = Backend::start(|_| {
        json(
            200,
            r#"{"access_token": {"sub": "u", "aud": "x", "exp": 4102444800}, "refresh": {"b": 1, "a": "<&>"}, "other": 1}"#,
        )
    });
    let local = path.display();
    let gw = Gateway::start(&common::config(&format!(
        r#"[{{"endpoint": "/token", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}],
             "extra_config": {{"auth/signer": {{"alg": "HS256", "kid": "sim", "keys_to_sign": ["access_token", "missing"], "jwk_local_path": "{local}"}}}}}},
           {{"endpoint": "/full", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}],
             "extra_config": {{"auth/signer": {{"alg": "RS256", "kid": "rs", "keys_to_sign": ["refresh"], "full": true, "jwk_local_path": "{local}"}}}}}},
           {{"endpoint": "/private", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}],
             "extra_config": {{"auth/validator": {{"alg": "HS256", "jwk_local_path": "{local}"}}}}}}]"#,
        b = backend.url()
    )));
    let r = gw.get("/token");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-krakend-completed"),
        None,
        "as krakend-jose's signer"
    );
    let body = r.json();
    assert_eq!(body["other"], 1);
    let signed = body["access_token"].as_str().expect("a token").to_owned();
    let expected = token_with_header(
        &hs,
        r#"{"alg":"HS256","kid":"sim","typ":"JWT"}"#,
        r#"{"aud":"x","exp":4102444800,"sub":"u"}"#,
    );
    assert_eq!(signed, expected, "Go's key order, byte for byte");
    // The signed token opens the endpoint validated with the same file.
    assert_eq!(get(&gw, "/private", &signed).status, 200);

    let full: Value =
        serde_json::from_str(gw.get("/full").json()["refresh"].as_str().unwrap()).unwrap();
    let payload = base64_decode(full["payload"].as_str().unwrap());
    assert_eq!(payload, r#"{"a":"\u003c\u0026\u003e","b":1}"#);
    assert!(full["signature"].as_str().is_some_and(|s| s.len() > 300));
}

fn token_with_header(key: &TestKey, header: &str, payload: &str) -> String {
    key.signer
        .compact(header.as_bytes(), payload.as_bytes())
        .unwrap()
}

fn base64_decode(text: &str) -> String {
    use base64::Engine;
    String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn jwk_fetches_are_one_per_refresh_for_the_process() {
    let key = generate(Alg::HS256, "hs");
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let set = jwks(&[&key]);
    let server = Backend::start(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        json(200, &set)
    });
    let url = format!("{}/jwks", server.url());
    let backend = echo_backend();
    let slow = format!(
        r#"{{"alg": "HS256", "jwk_url": "{url}", "disable_jwk_security": true, "cache": true, "cache_duration": 3600}}"#
    );
    let endpoints: Vec<String> = (0..4)
        .map(|i| endpoint(&format!("/e{i}"), "/ok", &backend, &slow))
        .collect();
    let gw = Gateway::start_with(
        &common::config(&format!("[{}]", endpoints.join(","))),
        &["--cores", "2"],
    );
    let t = token(&key, &claims(json!({})));
    gw.eventually("keys", Duration::from_secs(5), || {
        get(&gw, "/e0", &t).status == 200
    });
    for i in 0..4 {
        for _ in 0..5 {
            assert_eq!(get(&gw, &format!("/e{i}"), &t).status, 200);
        }
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "four endpoints, two workers, one URL: one fetch"
    );
}

/// The root `auth/validator` `shared_cache_duration` (krakend-jose's shared
/// JWK cache): a caching validator keeps a URL's keys for the longer of
/// its `cache_duration` and the shared one, so with 1 s and 1 h the set
/// is fetched once however long the endpoint is used.
#[test]
fn shared_cache_duration_keeps_keys_beyond_the_endpoint_cache() {
    let key = generate(Alg::HS256, "hs");
    let fetches = Arc::new(AtomicUsize::new(0));
    let counted = fetches.clone();
    let set = jwks(&[&key]);
    let server = Backend::start(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        json(200, &set)
    });
    let url = format!("{}/jwks", server.url());
    let backend = echo_backend();
    let config = format!(
        r#"{{"version": 3, "timeout": "2s", "extra_config": {{"auth/validator": {{"shared_cache_duration": 3600}}}},
            "endpoints": [{}]}}"#,
        endpoint("/s", "/ok", &backend, &validator(Alg::HS256, &url, ""))
    );
    let gw = Gateway::start(&config);
    let t = token(&key, &claims(json!({})));
    gw.eventually("keys", Duration::from_secs(5), || {
        get(&gw, "/s", &t).status == 200
    });
    // Three times the endpoint's own cache_duration (1 s).
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(get(&gw, "/s", &t).status, 200);
        // Time passing: the endpoint's cache duration must run out.
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "the shared cache (1 h) outlives the endpoint's (1 s)"
    );
}

/// A validator without `jwk_url` or `jwk_local_path`: KrakenD starts and
/// no token verifies (krakend-jose builds its JWK client on an empty URL).
/// cuttle starts too, answers 401 to every request, never calls the
/// backend, and says why at `check` and at start-up.
#[test]
fn a_validator_without_keys_refuses_every_request() {
    let key = generate(Alg::HS256, "hs");
    let backend = echo_backend();
    let open = Backend::start(|_| json(200, "{}"));
    let config = common::config(&format!(
        r#"[{}, {{"endpoint": "/open", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
        endpoint("/k", "/ok", &backend, r#"{"alg": "HS256", "cache": true}"#),
        open.url()
    ));
    let gw = Gateway::start_env(&config, &["--cores", "1"], &[], true);
    let t = token(&key, &claims(json!({})));
    assert_eq!(get(&gw, "/k", &t).status, 401);
    assert_eq!(gw.get("/k").status, 401);
    assert_eq!(gw.get("/open").status, 200, "the rest is served");
    assert!(backend.requests().is_empty());
    let warning = "endpoints[0].extra_config.auth/validator: no \"jwk_url\" nor \"jwk_local_path\"";
    assert!(gw.log().contains(warning), "{}", gw.log());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", gw.config_path().to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains(warning), "{err}");
}
