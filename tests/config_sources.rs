//! Where the configuration comes from: `KRAKEND_*` environment overrides
//! and YAML/TOML files, with the real binary (`run` and `check`).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Backend, Gateway, Reply, TempDir, json};

/// A port nobody listens on now (bound, read, released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn json_config(port: u16, timeout: &str, backend: &str) -> String {
    format!(
        r#"{{"version": 3, "port": {port}, "timeout": "{timeout}", "endpoints": [
            {{"endpoint": "/a", "backend": [{{"host": ["{backend}"], "url_pattern": "/", "allow": ["a", "n"]}}]}}
        ]}}"#
    )
}

/// `cuttle check -c FILE` with `env`; (exit code, stdout + stderr).
fn check(file_name: &str, text: &str, env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let dir = TempDir::new();
    let path = dir.0.join(file_name);
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), all, path.to_str().unwrap().to_owned())
}

#[test]
fn krakend_port_moves_the_port_and_is_logged_by_name() {
    let backend = Backend::start(|_| json(200, r#"{"a": 1, "b": 2}"#));
    let (file_port, env_port) = (free_port(), free_port());
    assert_ne!(file_port, env_port);
    let env_port_text = env_port.to_string();
    let gw = Gateway::start_file(
        "gateway.json",
        &json_config(file_port, "2s", &backend.url()),
        &["--cores", "1"],
        &[
            ("KRAKEND_PORT", &env_port_text),
            ("KRAKEND_NAME", "name-s3cr3t"),
            ("KRAKEND_NOT_A_KEY", "other-s3cr3t"),
            ("CUTTLE_LOG", "info"),
        ],
        false,
    );
    assert_eq!(gw.addr.port(), env_port, "listens on KRAKEND_PORT");
    let r = gw.get("/a");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"a": 1}));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", file_port)).is_err(),
        "nothing on the file's port"
    );
    let log = gw.log();
    assert!(
        log.contains("configuration overridden by the environment: KRAKEND_NAME, KRAKEND_PORT"),
        "{log}"
    );
    assert!(
        log.contains("KRAKEND_NOT_A_KEY"),
        "the ignored one is named: {log}"
    );
    assert!(!log.contains("s3cr3t"), "values are never logged: {log}");
}

#[test]
fn a_dotted_name_reaches_a_nested_key_and_underscores_do_not() {
    let backend = Backend::start(|_| json(200, r#"{"a": 1}"#));
    let file = json_config(0, "2s", &backend.url());
    let gw = Gateway::start_file(
        "gateway.json",
        &file,
        &["--cores", "1", "-p", "0"],
        &[("KRAKEND_EXTRA_CONFIG.router.health_path", "/up")],
        false,
    );
    assert_eq!(gw.get("/up").status, 200);
    assert_eq!(gw.get("/__health").status, 404);
    drop(gw);
    let gw = Gateway::start_file(
        "gateway.json",
        &file,
        &["--cores", "1", "-p", "0"],
        &[("KRAKEND_EXTRA_CONFIG_ROUTER_HEALTH_PATH", "/up")],
        true,
    );
    assert_eq!(gw.get("/__health").status, 200);
    assert_eq!(gw.get("/up").status, 404);
    let log = gw.log();
    assert!(
        log.contains("ignored, as KrakenD ignores them")
            && log.contains("KRAKEND_EXTRA_CONFIG_ROUTER_HEALTH_PATH"),
        "{log}"
    );
}

#[test]
fn the_port_flag_wins_over_krakend_port() {
    // krakend-cobra's run: a non-zero -p replaces the parsed port.
    let backend = Backend::start(|_| json(200, r#"{"a": 1}"#));
    let (env_port, flag_port) = (free_port(), free_port());
    let gw = Gateway::start_file(
        "gateway.json",
        &json_config(free_port(), "2s", &backend.url()),
        &["--cores", "1", "-p", &flag_port.to_string()],
        &[("KRAKEND_PORT", &env_port.to_string())],
        false,
    );
    assert_eq!(gw.addr.port(), flag_port);
    assert_eq!(gw.get("/a").status, 200);
}

#[test]
fn krakend_timeout_replaces_the_default_endpoint_timeout() {
    let slow = Backend::start(|_| {
        Reply::Delayed(
            Duration::from_millis(1500),
            Box::new(json(200, r#"{"a": 1}"#)),
        )
    });
    let file = json_config(0, "10s", &slow.url());
    // The file's 10s lets the slow backend answer...
    let gw = Gateway::start_file(
        "gateway.json",
        &file,
        &["--cores", "1", "-p", "0"],
        &[],
        false,
    );
    assert_eq!(gw.get("/a").status, 200);
    drop(gw);
    // ...KRAKEND_TIMEOUT's 200ms does not.
    let gw = Gateway::start_file(
        "gateway.json",
        &file,
        &["--cores", "1", "-p", "0"],
        &[("KRAKEND_TIMEOUT", "200ms")],
        false,
    );
    let started = Instant::now();
    let r = gw.get("/a");
    assert_eq!(r.status, 500);
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "answered at the environment's timeout: {:?}",
        started.elapsed()
    );
}

#[test]
fn yaml_and_toml_files_serve_what_the_json_file_serves() {
    let backend = Backend::start(|_| json(200, r#"{"a": 1, "b": 2, "n": {"x": true}}"#));
    let url = backend.url();
    let files = [
        ("gateway.json", json_config(0, "2s", &url)),
        (
            "gateway.yaml",
            format!(
                "version: 3\ntimeout: 2s\nendpoints:\n  - endpoint: /a\n    backend:\n      - host: [\"{url}\"]\n        url_pattern: /\n        allow: [a, n]\n"
            ),
        ),
        (
            "gateway.yml",
            format!(
                "version: 3\ntimeout: 2s\nendpoints:\n- {{endpoint: /a, backend: [{{host: [\"{url}\"], url_pattern: /, allow: [a, n]}}]}}\n"
            ),
        ),
        (
            "gateway.toml",
            format!(
                "version = 3\ntimeout = \"2s\"\n[[endpoints]]\nendpoint = \"/a\"\n[[endpoints.backend]]\nhost = [\"{url}\"]\nurl_pattern = \"/\"\nallow = [\"a\", \"n\"]\n"
            ),
        ),
    ];
    for (name, text) in &files {
        let gw = Gateway::start_file(name, text, &["--cores", "1", "-p", "0"], &[], false);
        let r = gw.get("/a");
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(
            r.json(),
            serde_json::json!({"a": 1, "n": {"x": true}}),
            "{name}"
        );
        assert_eq!(r.header("x-krakend-completed"), Some("true"), "{name}");
    }
}

#[test]
fn check_names_the_line_of_a_bad_yaml_or_toml_file() {
    let rows = [
        (
            "bad.yaml",
            "version: 3\nendpoints:\n  - endpoint: /a\n   backend: [\n",
            "invalid YAML",
            "line 4",
        ),
        (
            "bad.toml",
            "version = 3\n[[endpoints]]\nendpoint = /a\n",
            "invalid TOML",
            "line 3",
        ),
        // A value of the wrong type: the path and the line.
        (
            "type.yaml",
            "version: 3\nport: [1]\nendpoints: []\n",
            "port",
            "line 2",
        ),
        ("type.toml", "version = 3\nport = [1]\n", "port", "line 2"),
        // KrakenD reads an upper-case extension as JSON, and says so.
        (
            "upper.YAML",
            "version: 3\n",
            "invalid JSON",
            "rename the file to .yaml",
        ),
    ];
    for (name, text, what, line) in rows {
        let (code, all, path) = check(name, text, &[]);
        assert_eq!(code, Some(1), "{name}: {all}");
        assert!(all.contains(&path), "names the file: {all}");
        assert!(all.contains(what) && all.contains(line), "{name}: {all}");
    }
    let (code, all, _) = check("good.yml", "version: 3\nendpoints: []\n", &[]);
    assert_eq!(code, Some(0), "{all}");
}

#[test]
fn check_applies_the_overrides_as_run_does() {
    let file = r#"{"version": 3, "endpoints": []}"#;
    let (code, all, _) = check("c.json", file, &[("KRAKEND_TIMEOUT", "1s")]);
    assert_eq!(code, Some(0), "{all}");
    assert!(
        all.contains("overridden by the environment: KRAKEND_TIMEOUT"),
        "{all}"
    );
    let refused = [
        ("KRAKEND_PORT", "s3cr3t", "takes an integer"),
        ("KRAKEND_TIMEOUT", "15", "takes a duration"),
        ("KRAKEND_ENDPOINTS", "s3cr3t", "cannot replace it"),
        (
            "KRAKEND_LISTEN_IP",
            "not-an-ip",
            "set by the environment variable KRAKEND_LISTEN_IP",
        ),
    ];
    for (var, value, needle) in refused {
        let (code, all, _) = check("c.json", file, &[(var, value)]);
        assert_eq!(code, Some(1), "{var}: {all}");
        assert!(all.contains(var) && all.contains(needle), "{var}: {all}");
        assert!(
            !all.contains("s3cr3t"),
            "{var}: the value is not printed: {all}"
        );
    }
    // Not UTF-8: refused by name rather than skipped.
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new();
    let path = dir.0.join("c.json");
    std::fs::write(&path, file).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .env("KRAKEND_NAME", std::ffi::OsStr::from_bytes(b"caf\xe9"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("KRAKEND_NAME") && stderr.contains("not UTF-8"),
        "{stderr}"
    );
}
