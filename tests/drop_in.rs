//! Real KrakenD files served as KrakenD serves them: every old namespace
//! name of a protective component protects exactly like its current name
//! (or is refused, never ignored), and the endpoint's handlers run in
//! KrakenD's order (ARCHITECTURE.md, "The order of handlers").

mod common;
#[path = "common/jwt.rs"]
mod jwt;

use std::process::Command;

use common::{Backend, Gateway, TempDir, json};
use cuttle::auth::Alg;
use jwt::{TestKey, generate, now, token};
use serde_json::json;

fn ok_backend() -> Backend {
    Backend::start(|_| {
        json(
            200,
            r#"{"a": 1, "secret": {"sub": "u", "exp": 4102444800}}"#,
        )
    })
}

/// A gateway on `endpoints` (a JSON array's text), with `root` as the root
/// `extra_config` members (text, may be empty).
fn gateway(root: &str, endpoints: &str) -> Gateway {
    Gateway::start(&format!(
        r#"{{"version": 3, "extra_config": {{"router": {{"return_error_msg": true}}{root}}}, "endpoints": {endpoints}}}"#
    ))
}

/// `cuttle check` on a config text: (success, stdout + stderr).
fn check(config: &str) -> (bool, String) {
    let dir = TempDir::new();
    let path = dir.0.join("legacy.json");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// An HS256 key written as a local JWK set; (key, the set's path).
fn local_key(dir: &TempDir) -> (TestKey, String) {
    let key = generate(Alg::HS256, "k1");
    let path = dir.0.join("keys.json");
    std::fs::write(&path, json!({"keys": [key.private]}).to_string()).unwrap();
    (key, path.display().to_string())
}

fn bearer(gw: &Gateway, path: &str, token: Option<&str>, extra: &str) -> u16 {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    gw.raw(format!("GET {path} HTTP/1.1\r\nHost: h\r\n{auth}{extra}\r\n").as_bytes())
        .status
}

fn user_token(key: &TestKey, sub: &str) -> String {
    token(key, &json!({"sub": sub, "exp": now() + 600}))
}

#[test]
fn old_validator_name_refuses_callers_without_a_token() {
    let backend = ok_backend();
    let dir = TempDir::new();
    let (key, keys) = local_key(&dir);
    let gw = gateway(
        "",
        &format!(
            r#"[{{"endpoint": "/private", "backend": [{{"host": ["{}"], "url_pattern": "/"}}],
                 "extra_config": {{"github.com/devopsfaith/krakend-jose/validator": {{"alg": "HS256", "jwk_local_path": "{keys}"}}}}}}]"#,
            backend.url()
        ),
    );
    assert_eq!(bearer(&gw, "/private", None, ""), 401);
    assert_eq!(bearer(&gw, "/private", Some("not.a.token"), ""), 401);
    assert!(
        backend.requests().is_empty(),
        "no token reached the backend"
    );
    assert_eq!(
        bearer(&gw, "/private", Some(&user_token(&key, "u1")), ""),
        200
    );
}

#[test]
fn old_signer_name_signs_the_listed_objects() {
    let backend = ok_backend();
    let dir = TempDir::new();
    let (_key, keys) = local_key(&dir);
    let gw = gateway(
        "",
        &format!(
            r#"[{{"endpoint": "/token", "backend": [{{"host": ["{}"], "url_pattern": "/"}}],
                 "extra_config": {{"github.com/devopsfaith/krakend-jose/signer": {{"alg": "HS256", "kid": "k1", "keys_to_sign": ["secret"], "jwk_local_path": "{keys}"}}}}}}]"#,
            backend.url()
        ),
    );
    let body = gw.get("/token").json();
    let signed = body["secret"].as_str().expect("the object became a token");
    assert_eq!(signed.split('.').count(), 3, "{signed}");
}

#[test]
fn old_service_security_names_protect_like_the_current_ones() {
    let backend = ok_backend();
    let gw = gateway(
        r#", "github_com/devopsfaith/krakend-cors": {"allow_origins": ["https://app.test"]},
            "github_com/devopsfaith/krakend-httpsecure": {"allowed_hosts": ["good.test"]}"#,
        &format!(
            r#"[{{"endpoint": "/x", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
            backend.url()
        ),
    );
    let bad_host = gw.raw(b"GET /x HTTP/1.1\r\nHost: evil.test\r\n\r\n");
    assert_eq!(bad_host.status, 500, "allowed_hosts refuses another host");
    let preflight = gw.raw(
        b"OPTIONS /x HTTP/1.1\r\nHost: good.test\r\nOrigin: https://app.test\r\nAccess-Control-Request-Method: GET\r\n\r\n",
    );
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.test")
    );
    let ok = gw.raw(b"GET /x HTTP/1.1\r\nHost: good.test\r\nOrigin: https://other.test\r\n\r\n");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("access-control-allow-origin"), None);
    assert_eq!(backend.requests().len(), 1);
}

#[test]
fn old_bot_detector_name_refuses_bots() {
    let backend = ok_backend();
    let gw = gateway(
        "",
        &format!(
            r#"[{{"endpoint": "/x", "backend": [{{"host": ["{}"], "url_pattern": "/"}}],
                 "extra_config": {{"github_com/devopsfaith/krakend-botdetector": {{"deny": ["evilbot"]}}}}}}]"#,
            backend.url()
        ),
    );
    let bot = gw.raw(b"GET /x HTTP/1.1\r\nHost: h\r\nUser-Agent: evilbot\r\n\r\n");
    assert_eq!(bot.status, 403);
    assert_eq!(gw.get("/x").status, 200);
    assert_eq!(backend.requests().len(), 1);
}

#[test]
fn old_circuit_breaker_name_opens_the_breaker() {
    let backend = Backend::start(|_| json(500, "{}"));
    let gw = gateway(
        "",
        &format!(
            r#"[{{"endpoint": "/cb", "backend": [{{"host": ["{}"], "url_pattern": "/",
                 "extra_config": {{"github.com/devopsfaith/krakend-circuitbreaker/gobreaker": {{"interval": 60, "timeout": 60, "max_errors": 1}}}}}}]}}]"#,
            backend.url()
        ),
    );
    for _ in 0..4 {
        assert_eq!(gw.get("/cb").status, 500);
    }
    assert_eq!(backend.requests().len(), 2, "the open breaker stops calls");
}

#[test]
fn old_validation_names_check_requests() {
    let backend = ok_backend();
    let gw = gateway(
        "",
        &format!(
            r#"[{{"endpoint": "/cel/{{id}}", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}],
                 "extra_config": {{"github.com/devopsfaith/krakend-cel": [{{"check_expr": "req_params.Id == '1'"}}]}}}},
                {{"endpoint": "/schema", "method": "POST", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}],
                 "extra_config": {{"github.com/devopsfaith/krakend-jsonschema": {{"type": "object", "required": ["n"]}}}}}}]"#,
            b = backend.url()
        ),
    );
    assert_eq!(gw.get("/cel/2").status, 500);
    assert_eq!(gw.get("/cel/1").status, 200);
    let post = |body: &str| {
        gw.raw(
            format!(
                "POST /schema HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .status
    };
    assert_eq!(post(r#"{"m": 1}"#), 400);
    assert_eq!(post(r#"{"n": 1}"#), 200);
    assert_eq!(backend.requests().len(), 2);
}

#[test]
fn old_names_of_components_cuttle_lacks_or_krakend_no_longer_reads_are_refused() {
    let cases = [
        // The old name of a backend-only component, on an endpoint.
        (
            r#""github.com/devopsfaith/krakend-martian": {"fifo.Group": {}}"#,
            "\"modifier/martian\" is applied by KrakenD CE to backends only",
        ),
        // The revoker's old name, resolved, on an endpoint: KrakenD reads
        // it at the root only.
        (
            r#""github_com/devopsfaith/bloomfilter": {"N": 1}"#,
            "\"auth/revoker\" is a service setting",
        ),
        // Names KrakenD CE itself no longer reads (it would serve the
        // endpoint without the limit): refused, naming the current one.
        (
            r#""github.com/devopsfaith/krakend-ratelimit/juju/router": {"max_rate": 1}"#,
            "rename it to \"qos/ratelimit/router\"",
        ),
        (
            r#""github_com/devopsfaith/krakend-jose/validator": {"alg": "RS256", "jwk_url": "http://127.0.0.1:9/"}"#,
            "rename it to \"auth/validator\"",
        ),
    ];
    for (namespace, expected) in cases {
        let config = format!(
            r#"{{"version": 3, "endpoints": [{{"endpoint": "/x", "backend": [{{"host": ["http://127.0.0.1:9"], "url_pattern": "/"}}],
                 "extra_config": {{{namespace}}}}}]}}"#
        );
        let (ok, out) = check(&config);
        assert!(!ok, "{namespace}: accepted: {out}");
        assert!(
            out.contains(expected),
            "{namespace}: {expected:?} not in {out}"
        );
        assert!(out.contains("legacy.json"), "{out}");
        assert!(!out.contains("Syntax OK"), "{out}");
    }
}

/// The per-user limit keyed on a propagated claim: the validator runs first,
/// so a caller without a token gets 401 and spends nothing, and a caller
/// with a token cannot pick another bucket by sending the header itself.
#[test]
fn a_limit_keyed_on_a_propagated_claim_counts_per_token_holder() {
    let backend = ok_backend();
    let dir = TempDir::new();
    let (key, keys) = local_key(&dir);
    let gw = gateway(
        "",
        &format!(
            r#"[{{"endpoint": "/per-user", "backend": [{{"host": ["{}"], "url_pattern": "/"}}],
                 "extra_config": {{
                    "qos/ratelimit/router": {{"client_max_rate": 1, "client_capacity": 1, "every": "1h", "strategy": "header", "key": "x-user"}},
                    "auth/validator": {{"alg": "HS256", "jwk_local_path": "{keys}", "propagate_claims": [["sub", "x-user"]]}}}}}}]"#,
            backend.url()
        ),
    );
    // Callers without a valid token are refused by the validator, however
    // many, and spend no one's tokens.
    for _ in 0..3 {
        assert_eq!(bearer(&gw, "/per-user", None, "x-user: alice\r\n"), 401);
    }
    let alice = user_token(&key, "alice");
    let bob = user_token(&key, "bob");
    assert_eq!(bearer(&gw, "/per-user", Some(&alice), ""), 200);
    assert_eq!(bearer(&gw, "/per-user", Some(&alice), ""), 429);
    // Choosing another bucket by sending the header does not work.
    assert_eq!(
        bearer(&gw, "/per-user", Some(&alice), "x-user: mallory\r\n"),
        429
    );
    assert_eq!(
        bearer(&gw, "/per-user", Some(&bob), "x-user: alice\r\n"),
        200
    );
    let seen = backend.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].header("x-user"),
        Some("bob"),
        "the claim, not the client's header"
    );
}

/// krakend-cel's JWT checks are krakend-jose's rejecter (inside the
/// validator, before the limiter); its request checks run in the proxy
/// pipe (inside the limiter), as does the JSON schema.
#[test]
fn cel_and_schema_checks_sit_on_either_side_of_the_limiter_as_in_krakend() {
    let backend = ok_backend();
    let dir = TempDir::new();
    let (key, keys) = local_key(&dir);
    let gw = gateway(
        "",
        &format!(
            r#"[{{"endpoint": "/jwt-checked", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}],
                 "extra_config": {{
                    "qos/ratelimit/router": {{"max_rate": 1, "capacity": 1, "every": "1h"}},
                    "auth/validator": {{"alg": "HS256", "jwk_local_path": "{keys}"}},
                    "validation/cel": [{{"check_expr": "JWT.sub == 'admin'"}}]}}}},
                {{"endpoint": "/req-checked/{{id}}", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}],
                 "extra_config": {{
                    "qos/ratelimit/router": {{"max_rate": 1, "capacity": 1, "every": "1h"}},
                    "validation/cel": [{{"check_expr": "req_params.Id == '1'"}}]}}}}]"#,
            b = backend.url()
        ),
    );
    // A token the JWT check refuses spends nothing: 401 each time, and the
    // one token of the bucket is still there for the admin.
    let user = user_token(&key, "user");
    for _ in 0..3 {
        assert_eq!(bearer(&gw, "/jwt-checked", Some(&user), ""), 401);
    }
    let admin = user_token(&key, "admin");
    assert_eq!(bearer(&gw, "/jwt-checked", Some(&admin), ""), 200);
    assert_eq!(bearer(&gw, "/jwt-checked", Some(&admin), ""), 503);
    // A request the request check refuses has passed the limiter: it spent
    // the bucket's token, so the next good one is limited.
    assert_eq!(gw.get("/req-checked/2").status, 500);
    assert_eq!(gw.get("/req-checked/1").status, 503);
    assert_eq!(backend.requests().len(), 1);
}
