//! `auth/client-credentials` against the real gateway: a token server on
//! 127.0.0.1 that counts its calls, a backend that reports the
//! Authorization it got.
#![allow(clippy::disallowed_types)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Backend, Gateway, Seen, json};

const SECRET: &str = "s3cr3t-never-logged";

struct Setup {
    gw: Gateway,
    fetches: Arc<AtomicUsize>,
    token_requests: Arc<Mutex<Vec<Seen>>>,
    _token_server: Backend,
    _backend: Backend,
}

/// A token server answering `status` with tokens `tok-1`, `tok-2`...
/// valid `expires_in` seconds.
fn start(status: u16, expires_in: u64) -> Setup {
    let fetches = Arc::new(AtomicUsize::new(0));
    let token_requests = Arc::new(Mutex::new(Vec::new()));
    let (count, seen) = (fetches.clone(), token_requests.clone());
    let token_server = Backend::start(move |req| {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        seen.lock().unwrap().push(req.clone());
        json(
            status,
            &format!(
                r#"{{"access_token": "tok-{n}", "token_type": "bearer", "expires_in": {expires_in}}}"#
            ),
        )
    });
    let backend = Backend::start(|req| {
        let auth = req.header("authorization").unwrap_or("none");
        json(200, &format!(r#"{{"auth": "{auth}"}}"#))
    });
    let config = format!(
        r#"{{"version": 3, "timeout": "3s", "endpoints": [{{"endpoint": "/x", "backend": [{{"host": ["{b}"], "url_pattern": "/",
            "extra_config": {{"auth/client-credentials": {{"client_id": "my id", "client_secret": "{SECRET}",
               "token_url": "{t}/oauth/token", "scopes": "read,write", "endpoint_params": {{"audience": ["api"]}}}}}}}}]}}]}}"#,
        b = backend.url(),
        t = token_server.url()
    );
    let gw = Gateway::start_env(&config, &["--cores", "2"], &[("CUTTLE_LOG", "debug")], true);
    Setup {
        gw,
        fetches,
        token_requests,
        _token_server: token_server,
        _backend: backend,
    }
}

fn auth_seen(gw: &Gateway) -> (u16, String) {
    let r = gw.raw(b"GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer client-token\r\n\r\n");
    let auth = if r.status == 200 {
        r.json()["auth"].as_str().unwrap_or("").to_owned()
    } else {
        String::new()
    };
    (r.status, auth)
}

#[test]
fn the_backend_gets_one_token_for_many_requests_and_a_new_one_after_expiry() {
    // expires_in 12: renewed 10 s early, so after about 2 s.
    let s = start(200, 12);
    for _ in 0..10 {
        assert_eq!(
            auth_seen(&s.gw),
            (200, "Bearer tok-1".to_owned()),
            "the client's header replaced"
        );
    }
    assert_eq!(
        s.fetches.load(Ordering::SeqCst),
        1,
        "one fetch for two workers and ten calls"
    );
    let first = s.token_requests.lock().unwrap()[0].clone();
    assert_eq!(first.method, "POST");
    assert_eq!(first.path(), "/oauth/token");
    assert_eq!(
        first.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8(first.body.clone()).unwrap(),
        "audience=api&grant_type=client_credentials&scope=read+write"
    );
    // HTTP Basic, id and secret form-escaped (Go's oauth2, AuthStyleInHeader first).
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("my+id:{SECRET}"));
    assert_eq!(
        first.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    s.gw.eventually("a second token", Duration::from_secs(6), || {
        auth_seen(&s.gw).1 == "Bearer tok-2"
    });
    assert_eq!(s.fetches.load(Ordering::SeqCst), 2);
    let log = s.gw.log();
    assert!(!log.contains(SECRET), "the secret is never logged");
    assert!(!log.contains("tok-1"), "nor a token");
}

#[test]
fn a_failing_token_server_fails_the_backend_call_and_is_retried() {
    let s = start(500, 3600);
    let (status, _) = auth_seen(&s.gw);
    assert_eq!(status, 500, "as a backend that failed");
    let before = s.fetches.load(Ordering::SeqCst);
    // Basic first, then the form parameters: two tries per call.
    assert_eq!(before, 2);
    let form = s.token_requests.lock().unwrap()[1].clone();
    let body = String::from_utf8(form.body).unwrap();
    assert!(
        body.contains(&format!("client_secret={SECRET}")) && body.contains("client_id=my+id"),
        "{body}"
    );
    assert_eq!(auth_seen(&s.gw).0, 500);
    assert!(
        s.fetches.load(Ordering::SeqCst) > before,
        "no failure is remembered"
    );
    assert!(!s.gw.log().contains(SECRET));
}

#[test]
fn a_no_op_backend_gets_the_token_too_and_shadows_are_refused() {
    let token_server = Backend::start(|_| json(200, r#"{"access_token": "tok-x"}"#));
    let backend = Backend::start(|req| {
        let auth = req.header("authorization").unwrap_or("none");
        json(200, &format!(r#"{{"auth": "{auth}"}}"#))
    });
    let no_op = format!(
        r#"{{"version": 3, "endpoints": [{{"endpoint": "/x", "output_encoding": "no-op", "backend": [{{"host": ["{b}"], "url_pattern": "/", "encoding": "no-op",
            "extra_config": {{"auth/client-credentials": {{"token_url": "{t}/t"}}}}}}]}}]}}"#,
        b = backend.url(),
        t = token_server.url()
    );
    let gw = Gateway::start(&no_op);
    let r = gw.raw(b"GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer client\r\n\r\n");
    assert_eq!(r.json()["auth"], "Bearer tok-x");
    drop(gw);
    let dir = common::TempDir::new();
    let path = dir.0.join("shadow.json");
    let shadow = format!(
        r#"{{"version": 3, "endpoints": [{{"endpoint": "/x", "backend": [{{"host": ["{b}"], "url_pattern": "/"}},
            {{"host": ["{b}"], "url_pattern": "/", "extra_config": {{"proxy": {{"shadow": true}},
               "auth/client-credentials": {{"token_url": "{t}/t"}}}}}}]}}]}}"#,
        b = backend.url(),
        t = token_server.url()
    );
    std::fs::write(&path, shadow).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("shadow or WebSocket backends"), "{text}");
}
