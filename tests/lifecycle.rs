//! Start-up and shutdown: graceful drain on SIGTERM, a second instance on
//! the same port fails loudly, bad configs are refused with a clear message.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Backend, Gateway, Reply, TempDir, config, json};

/// `cuttle run` on an empty config with `-p port --cores cores`, for runs
/// expected to fail at start-up: waits for the exit.
fn run_to_exit(port: &str, cores: &str) -> std::process::Output {
    let dir = TempDir::new();
    let path = dir.0.join("c.json");
    std::fs::write(&path, config("[]")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args([
            "run",
            "-c",
            path.to_str().unwrap(),
            "-p",
            port,
            "--cores",
            cores,
        ])
        .output()
        .unwrap()
}

#[test]
fn sigterm_finishes_every_accepted_request_then_exits_zero() {
    let backend = Backend::start(|_| {
        Reply::Delayed(
            Duration::from_millis(300),
            Box::new(json(200, r#"{"ok": true}"#)),
        )
    });
    let mut gw = Gateway::start_with(
        &config(&format!(
            r#"[{{"endpoint": "/slow", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
            backend.url()
        )),
        &["--cores", "2"],
    );
    let addr = gw.addr;
    // 40 requests in flight on their own connections, plus keep-alive idlers.
    let clients: Vec<_> = (0..40)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = common::Client::connect(addr);
                c.send(b"GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
                let status = c.response().map(|r| r.status);
                (status, c.is_closed())
            })
        })
        .collect();
    let mut idle = common::Client::connect(addr);
    // All 40 accepted and at the backend (which holds each 300 ms).
    gw.eventually("40 requests in flight", Duration::from_secs(10), || {
        backend.requests().len() == 40
    });
    gw.signal("TERM");
    let answers: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let failed = answers
        .iter()
        .filter(|(status, _)| *status != Some(200))
        .count();
    assert_eq!(failed, 0, "every accepted request is answered: {answers:?}");
    assert!(
        answers.iter().all(|(_, closed)| *closed),
        "then the connection is closed"
    );
    assert!(idle.is_closed(), "an idle keep-alive connection is closed");
    let started = Instant::now();
    let status = gw.wait();
    assert_eq!(status.code(), Some(0), "exit 0 after draining");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer listening"
    );
}

#[test]
fn a_second_instance_on_the_same_port_fails_loudly() {
    let gw = Gateway::start(&config("[]"));
    let out = run_to_exit(&gw.addr.port().to_string(), "1");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot listen on") && stderr.contains("another"),
        "{stderr}"
    );
    assert_eq!(
        gw.get("/__health").status,
        200,
        "the first one keeps serving"
    );
}

#[test]
fn restarts_on_the_same_port_while_closed_connections_linger() {
    let mut gw = Gateway::start(&config("[]"));
    let port = gw.addr.port().to_string();
    // The gateway closes these itself, so their ends sit in TIME-WAIT.
    for _ in 0..3 {
        let reply = gw.raw(b"GET /__health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        assert_eq!(reply.status, 200);
    }
    gw.signal("TERM");
    assert_eq!(gw.wait().code(), Some(0));
    let again = Gateway::start_with(&config("[]"), &["--cores", "1", "-p", &port]);
    assert_eq!(again.addr, gw.addr);
    assert_eq!(again.get("/__health").status, 200);
}

#[test]
fn check_reports_bad_configs_with_file_path_and_fix() {
    let dir = TempDir::new();
    let rows = [
        (r#"{"version": 3, "endpoints": []}"#, 0, "Syntax OK!"),
        (r#"{"version": 2, "endpoints": []}"#, 1, "version"),
        ("{\"version\": 3,\n \"endpoints\": [}", 1, "line 2, column"),
        (
            r#"{"version": 3, "endpoints": [{"endpoint": "/a", "timeout": "3 secs", "backend": [{"host": ["http://h"], "url_pattern": "/"}]}]}"#,
            1,
            r#"endpoints[0].timeout: "3 secs" is not a duration"#,
        ),
        (
            r#"{"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"host": ["http://h"], "url_pattern": "/{id}"}]}]}"#,
            1,
            "endpoints[0].backend[0].url_pattern",
        ),
    ];
    for (i, (text, code, needle)) in rows.iter().enumerate() {
        let path = dir.0.join(format!("c{i}.json"));
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
            .args(["check", "-c", path.to_str().unwrap()])
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(*code), "{text}: {all}");
        assert!(all.contains(needle), "{text}: {all}");
        if *code == 1 {
            assert!(
                all.contains(path.to_str().unwrap()),
                "names the file: {all}"
            );
        }
    }
}

#[test]
fn version_and_too_many_cores() {
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .arg("version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("cuttle "));
    let out = run_to_exit("0", "999");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cores 999"));
}

/// A panic while serving one connection (here the test-only trigger, which
/// exists only in debug builds and is armed only by an environment
/// variable) closes that connection, is logged once with the endpoint, and
/// the worker goes on: other connections and new ones are served.
#[cfg(debug_assertions)]
#[test]
fn a_panic_in_one_connection_closes_only_that_connection() {
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let mut gw = Gateway::start_env(
        &config(&format!(
            r#"[{{"endpoint": "/boom", "backend": [{{"host": ["{0}"], "url_pattern": "/"}}]}},
                {{"endpoint": "/ok", "backend": [{{"host": ["{0}"], "url_pattern": "/"}}]}}]"#,
            backend.url()
        )),
        &["--cores", "1"],
        &[("CUTTLE_TEST_PANIC_ENDPOINT", "/boom")],
        true,
    );
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes();
    // A keep-alive connection open on the same (only) worker before the panic.
    let mut bystander = gw.client();
    bystander.send(&get("/ok"));
    assert_eq!(bystander.response().map(|r| r.status), Some(200));

    let mut victim = gw.client();
    victim.send(&get("/boom"));
    assert!(
        victim.response().is_none(),
        "the panicking request gets no answer"
    );
    assert!(victim.is_closed());

    assert_eq!(gw.get("/ok").status, 200, "a new connection is served");
    bystander.send(&get("/ok"));
    assert_eq!(bystander.response().map(|r| r.status), Some(200));
    assert_eq!(gw.exited(), None, "the process goes on");

    // The log is written asynchronously to the pipe.
    gw.eventually("the panic is logged", Duration::from_secs(5), || {
        gw.log().contains("/boom")
    });
    let log = gw.log();
    assert_eq!(log.matches("test-only panic trigger").count(), 1, "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("test-only panic trigger"))
        .unwrap();
    assert!(line.contains("panicked serving /boom"), "{line}");
}

/// A panic outside any connection (here the accept loop's test-only
/// trigger, debug builds only, armed by an environment variable) kills a
/// worker: the process must not serve on with fewer workers but exit
/// non-zero (70), so that a supervisor restarts it.
#[cfg(debug_assertions)]
#[test]
fn a_worker_that_dies_ends_the_process_with_an_error() {
    let mut gw = Gateway::start_env(
        &config("[]"),
        &["--cores", "1"],
        &[("CUTTLE_TEST_PANIC_ACCEPT", "1")],
        true,
    );
    let _conn = std::net::TcpStream::connect(gw.addr).unwrap();
    let mut status = None;
    common::eventually(
        "the process exits after a worker died",
        Duration::from_secs(10),
        || {
            status = gw.exited();
            status.is_some()
        },
    );
    let status = status.unwrap();
    assert_eq!(status.code(), Some(70), "{}", gw.log());
    let log = gw.log();
    assert_eq!(log.matches("test-only panic trigger").count(), 1, "{log}");
    assert!(log.contains("cuttle-w0 died"), "{log}");
}
