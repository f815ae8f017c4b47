//! `secret_url` + `cypher_key` on `auth/validator` (krakend-jose's
//! encrypted key files, gocloud's `base64key://` keeper): an encrypted
//! JWK set decrypts at start and validates tokens; a wrong key or another
//! keeper scheme stops `cuttle run` before it serves.

mod common;
#[path = "common/jwt.rs"]
mod jwt;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Backend, Gateway, TempDir, json};
use cuttle::auth::Alg;
use jwt::{generate, jwks, now, token};
use serde_json::json;

const KEEPER_KEY: [u8; 32] = [42; 32];

fn secret_url(key: &[u8; 32]) -> String {
    format!(
        "base64key://{}",
        base64::engine::general_purpose::URL_SAFE.encode(key)
    )
}

/// The config of one endpoint validated with the encrypted file `path`.
fn config(backend: &str, path: &str, url: &str, cypher_key: &str) -> String {
    format!(
        r#"{{"version": 3, "timeout": "2s", "endpoints": [{{"endpoint": "/private",
            "backend": [{{"host": ["{backend}"], "url_pattern": "/"}}],
            "extra_config": {{"auth/validator": {{"alg": "HS256", "jwk_local_path": "{path}",
               "secret_url": "{url}", "cypher_key": "{cypher_key}"}}}}}}]}}"#
    )
}

/// `cuttle run` on `config`: it must exit on its own; its output.
fn run_fails(config: &str) -> String {
    let dir = TempDir::new();
    let path = dir.0.join("gateway.json");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args([
            "run",
            "-c",
            path.to_str().unwrap(),
            "-p",
            "0",
            "--cores",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("cuttle run served a file it should refuse");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Files {
    dir: TempDir,
    key: jwt::TestKey,
    path: String,
    cypher_key: String,
}

/// A JWK set encrypted as krakend-jose does, with its cypher_key.
fn encrypted() -> Files {
    let key = generate(Alg::HS256, "k1");
    let dir = TempDir::new();
    let (file, cypher_key) = cuttle::auth::secret::encrypt_for_tests(
        jwks(&[&key]).as_bytes(),
        b"the passphrase",
        &KEEPER_KEY,
        ([3; 24], [4; 12]),
    );
    let path = dir.0.join("keys.enc");
    std::fs::write(&path, file).unwrap();
    Files {
        path: path.display().to_string(),
        cypher_key: base64::engine::general_purpose::STANDARD.encode(cypher_key),
        dir,
        key,
    }
}

#[test]
fn an_encrypted_key_file_decrypts_and_validates_tokens() {
    let f = encrypted();
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let gw = Gateway::start(&config(
        &backend.url(),
        &f.path,
        &secret_url(&KEEPER_KEY),
        &f.cypher_key,
    ));
    let good = token(&f.key, &json!({"sub": "u", "exp": now() + 60}));
    let ask = |t: &str| {
        gw.raw(
            format!("GET /private HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\r\n")
                .as_bytes(),
        )
        .status
    };
    assert_eq!(ask(&good), 200);
    let other = token(
        &generate(Alg::HS256, "k1"),
        &json!({"sub": "u", "exp": now() + 60}),
    );
    assert_eq!(ask(&other), 401);
    drop(f.dir);
}

#[test]
fn a_wrong_key_or_another_scheme_is_refused_at_start() {
    let f = encrypted();
    let out = run_fails(&config(
        "http://127.0.0.1:9",
        &f.path,
        &secret_url(&[7; 32]),
        &f.cypher_key,
    ));
    assert!(
        out.contains("auth/validator.secret_url") && out.contains("does not open cypher_key"),
        "{out}"
    );
    let out = run_fails(&config(
        "http://127.0.0.1:9",
        &f.path,
        "awskms://alias/ExampleAlias?region=us-east-1",
        &f.cypher_key,
    ));
    assert!(
        out.contains("\"awskms://\" keeper is not implemented"),
        "{out}"
    );
    // The plain file read without its secret is not a JWK set.
    let out = run_fails(&config("http://127.0.0.1:9", &f.path, "", ""));
    assert!(out.contains("jwk_local_path"), "{out}");
}
