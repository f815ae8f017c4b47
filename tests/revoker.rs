//! `auth/revoker` against the real gateway: tokens signed here, a JWK
//! file, two workers, revocations sent to the revocation endpoint on
//! 127.0.0.1 (docs/revoker.md).

mod common;
#[path = "common/jwt.rs"]
mod jwt;
#[path = "common/revocation.rs"]
mod revocation;

use std::net::{SocketAddr, TcpListener, TcpStream};

use common::{Backend, Gateway, TempDir, json};
use cuttle::auth::Alg;
use jwt::{TestKey, generate, jwks, now, token};
use revocation::{admin, open_per_worker, status_on};
use serde_json::json;

/// A port free at the time of asking.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Setup {
    gw: Gateway,
    key: TestKey,
    admin: SocketAddr,
    config: String,
    _backend: Backend,
    _dir: TempDir,
}

fn start(ttl: u64, cores: &str) -> Setup {
    start_with_metrics(ttl, cores, None)
}

/// With `metrics`, the Prometheus exporter listens on that port.
fn start_with_metrics(ttl: u64, cores: &str, metrics: Option<u16>) -> Setup {
    let key = generate(Alg::HS256, "k1");
    let dir = TempDir::new();
    let keys = dir.0.join("keys.json");
    std::fs::write(&keys, jwks(&[&key])).unwrap();
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let port = free_port();
    let config = format!(
        r#"{{"version": 3, "timeout": "2s",
            "extra_config": {{"auth/revoker": {{"N": 1000, "P": 0.0001, "hash_name": "optimal", "TTL": {ttl}, "port": {port}, "token_keys": ["jti", "sub"]}}{telemetry}}},
            "endpoints": [{{"endpoint": "/private", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}],
               "extra_config": {{"auth/validator": {{"alg": "HS256", "jwk_local_path": "{k}", "roles": ["admin"]}}}}}}]}}"#,
        b = backend.url(),
        k = keys.display(),
        telemetry = metrics.map_or(String::new(), |m| format!(
            r#", "telemetry/opentelemetry": {{"service_name": "t", "exporters": {{"prometheus": [{{"name": "p", "port": {m}, "listen_ip": "127.0.0.1"}}]}}}}"#
        )),
    );
    let gw = Gateway::start_with(&config, &["--cores", cores]);
    Setup {
        gw,
        key,
        admin: SocketAddr::from(([127, 0, 0, 1], port)),
        config,
        _backend: backend,
        _dir: dir,
    }
}

fn signed(key: &TestKey, jti: &str, roles: &[&str]) -> String {
    token(
        key,
        &json!({"jti": jti, "sub": "user-1", "exp": now() + 600, "roles": roles}),
    )
}

/// The status of `GET /private` with `token`, on a new connection.
fn status(gw: &Gateway, token: &str) -> u16 {
    gw.raw(
        format!("GET /private HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    )
    .status
}

#[test]
fn a_revoked_token_is_refused_by_every_worker_and_others_pass() {
    let metrics_port = free_port();
    let s = start_with_metrics(3600, "2", Some(metrics_port));
    let metrics = SocketAddr::from(([127, 0, 0, 1], metrics_port));
    let revoked = signed(&s.key, "t-1", &["admin"]);
    let kept = signed(&s.key, "t-2", &["admin"]);
    // Kept-alive connections until both workers hold some (the kernel
    // spreads connections over the workers' listeners by a hash): each
    // worker verified and cached the token before the revocation.
    let mut clients = Vec::new();
    common::eventually(
        "client connections on both workers",
        std::time::Duration::from_secs(10),
        || {
            let mut client = s.gw.client();
            assert_eq!(status_on(&mut client, &revoked), 200);
            clients.push(client);
            let open = open_per_worker(metrics);
            open.len() == 2 && open.iter().all(|&n| n >= 1.0)
        },
    );
    assert_eq!(
        admin(s.admin, "POST", "/revoke", r#"{"jti": "t-1"}"#),
        (200, r#"{"revoked": 1}"#.to_owned())
    );
    // The same connections, so the same workers: every one refuses it.
    for client in &mut clients {
        assert_eq!(status_on(client, &revoked), 401, "revoked, on each worker");
        assert_eq!(status_on(client, &kept), 200, "another jti");
    }
    for _ in 0..10 {
        assert_eq!(status(&s.gw, &revoked), 401, "on new connections too");
    }
    let (code, body) = admin(s.admin, "POST", "/check", r#"{"jti": ["t-1", "t-2"]}"#);
    assert_eq!((code, body.as_str()), (200, r#"{"revoked":["jti-t-1"]}"#));
    // A revocation by another of token_keys covers every token of it,
    // and answers 401 before roles are looked at (a 403 otherwise).
    let no_role = signed(&s.key, "t-3", &[]);
    assert_eq!(status(&s.gw, &no_role), 403);
    assert_eq!(
        admin(s.admin, "POST", "/revoke", r#"{"sub": "user-1"}"#).0,
        200
    );
    assert_eq!(status(&s.gw, &kept), 401);
    assert_eq!(status(&s.gw, &no_role), 401);
}

#[test]
fn the_revocation_endpoint_refuses_malformed_input_and_listens_on_localhost_only() {
    let s = start(3600, "1");
    for bad in [
        "",
        "{",
        "[]",
        "{}",
        r#"{"jti": 5}"#,
        r#"{"jti": [""]}"#,
        r#"{"exp": "1"}"#,
    ] {
        let (code, body) = admin(s.admin, "POST", "/revoke", bad);
        assert_eq!(code, 400, "{bad:?}: {body}");
    }
    assert_eq!(admin(s.admin, "GET", "/revoke", "").0, 405);
    assert_eq!(admin(s.admin, "POST", "/other", "{}").0, 404);
    let t = signed(&s.key, "t-9", &["admin"]);
    assert_eq!(status(&s.gw, &t), 200, "nothing was revoked");
    // Bound to 127.0.0.1: another local address of the host is refused.
    let other = SocketAddr::from(([127, 0, 0, 2], s.admin.port()));
    assert!(
        TcpStream::connect(other).is_err(),
        "bound to 127.0.0.1 only"
    );
}

#[test]
fn a_stalled_client_does_not_hold_up_a_revocation() {
    let s = start(3600, "1");
    // Connected and silent: its thread waits for the request (5 s).
    let _stalled = TcpStream::connect(s.admin).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        admin(s.admin, "POST", "/revoke", r#"{"jti": "t-5"}"#).0,
        200
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "answered beside the stalled connection, not after it: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_revocation_expires_after_two_to_three_ttls() {
    let s = start(1, "1");
    let t = signed(&s.key, "short", &["admin"]);
    assert_eq!(
        admin(s.admin, "POST", "/revoke", r#"{"jti": "short"}"#).0,
        200
    );
    assert_eq!(status(&s.gw, &t), 401);
    s.gw.eventually(
        "the revocation rotated out",
        std::time::Duration::from_secs(6),
        || status(&s.gw, &t) == 200,
    );
}

#[test]
fn a_reload_keeps_the_revocations_and_a_changed_revoker_needs_a_restart() {
    let s = start(3600, "1");
    let t = signed(&s.key, "kept", &["admin"]);
    assert_eq!(
        admin(s.admin, "POST", "/revoke", r#"{"jti": "kept"}"#).0,
        200
    );
    assert_eq!(status(&s.gw, &t), 401);
    // Another endpoint, the same revoker.
    let more = s.config.replacen(
        r#""endpoints": ["#,
        &format!(
            r#""endpoints": [{{"endpoint": "/public", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}},"#,
            s._backend.url()
        ),
        1,
    );
    std::fs::write(s.gw.config_path(), &more).unwrap();
    s.gw.signal("HUP");
    s.gw.eventually("the reload", std::time::Duration::from_secs(10), || {
        s.gw.get("/public").status == 200
    });
    assert_eq!(status(&s.gw, &t), 401, "the revocation survived the reload");
    let changed = more.replacen(r#""TTL": 3600"#, r#""TTL": 60"#, 1);
    std::fs::write(s.gw.config_path(), &changed).unwrap();
    s.gw.signal("HUP");
    s.gw.eventually(
        "the refused reload",
        std::time::Duration::from_secs(10),
        || s.gw.log().contains("auth/revoker changed"),
    );
    assert_eq!(status(&s.gw, &t), 401);
    assert_eq!(
        admin(s.admin, "POST", "/check", r#"{"jti": "kept"}"#).0,
        200
    );
}

#[test]
fn the_revocation_port_cannot_be_the_gateways() {
    let port = free_port();
    let config = format!(
        r#"{{"version": 3, "extra_config": {{"auth/revoker": {{"N": 10, "P": 0.1, "hash_name": "optimal", "TTL": 5, "port": {port}, "token_keys": ["jti"]}}}},
            "endpoints": [{{"endpoint": "/a", "backend": [{{"host": ["http://127.0.0.1:9"], "url_pattern": "/"}}]}}]}}"#
    );
    let dir = TempDir::new();
    let path = dir.0.join("gateway.json");
    std::fs::write(&path, config).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["run", "-c", path.to_str().unwrap(), "--cores", "1", "-p"])
        .arg(port.to_string())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("served with the revocation endpoint on the gateway's port");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(&format!("auth/revoker: port {port}")),
        "{text}"
    );
}
