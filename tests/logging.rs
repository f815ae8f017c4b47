//! The access log and the application log (`telemetry/logging`), read
//! from the real gateway's standard output, and a log flood that must not
//! slow requests down.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, Gateway, Reply, TempDir, json};

/// Waits until the gateway's output holds `count` lines for which `pick`
/// is true (the access log reaches the output within ~100 ms) and returns them.
fn lines_where(gw: &Gateway, count: usize, pick: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    common::within(Duration::from_secs(5), || {
        found = gw
            .log()
            .lines()
            .filter(|l| pick(l))
            .map(str::to_owned)
            .collect();
        found.len() >= count
    });
    found
}

fn access_lines(gw: &Gateway, count: usize) -> Vec<String> {
    lines_where(gw, count, |l| l.starts_with("[GIN] "))
}

fn with_root(root: &str, endpoints: &str) -> String {
    format!(
        r#"{{"version": 3, "timeout": "1s", "extra_config": {{{root}}}, "endpoints": {endpoints}}}"#
    )
}

#[test]
fn access_log_says_what_happened_to_each_request() {
    let ok = Backend::start(|_| json(200, r#"{"id": 7}"#));
    let failing = Backend::start(|_| json(500, r#"{}"#));
    let slow = Backend::start(|_| {
        Reply::Delayed(
            Duration::from_secs(3),
            Box::new(json(200, r#"{"late": 1}"#)),
        )
    });
    let gw = Gateway::start(&with_root(
        "",
        &format!(
            r#"[{{"endpoint": "/users/{{id}}", "backend": [{{"host": ["{ok}"], "url_pattern": "/u/{{id}}"}}]}},
               {{"endpoint": "/partial", "backend": [{{"host": ["{ok}"], "url_pattern": "/a"}}, {{"host": ["{failing}"], "url_pattern": "/b"}}]}},
               {{"endpoint": "/broken", "backend": [{{"host": ["{failing}"], "url_pattern": "/b"}}]}},
               {{"endpoint": "/slow", "backend": [{{"host": ["{slow}"], "url_pattern": "/s"}}]}}]"#,
            ok = ok.url(),
            failing = failing.url(),
            slow = slow.url()
        ),
    ));
    assert_eq!(gw.get("/users/7").status, 200);
    assert_eq!(gw.get("/partial").status, 200);
    assert_eq!(gw.get("/broken").status, 500);
    assert_eq!(gw.get("/slow").status, 500);
    assert_eq!(gw.get("/nowhere").status, 404);
    let lines = access_lines(&gw, 5);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let expect = [
        (
            "| 200 |",
            "GET     \"/users/7\" route=/users/{id} bytes=8 completed=true",
        ),
        (
            "| 200 |",
            "GET     \"/partial\" route=/partial bytes=8 completed=false",
        ),
        (
            "| 500 |",
            "GET     \"/broken\" route=/broken bytes=0 completed=false",
        ),
        (
            "| 500 |",
            "GET     \"/slow\" route=/slow bytes=0 completed=false",
        ),
        (
            "| 404 |",
            "GET     \"/nowhere\" route=- bytes=18 completed=false",
        ),
    ];
    for (line, (status, tail)) in lines.iter().zip(expect) {
        assert!(line.contains(status), "{line}");
        assert!(line.ends_with(tail), "{line}\nwanted the end: {tail}");
        assert!(line.contains("|       127.0.0.1 | GET"), "{line}");
    }
    // The timed-out request took about the endpoint timeout (1s).
    let slow_line = &lines[3];
    let duration = slow_line.split(" | ").nth(2).unwrap().trim();
    assert!(
        duration.ends_with("ms") && !duration.ends_with("µs") || duration.starts_with("1."),
        "{slow_line}"
    );
}

/// Lines are queued on the request path and formatted in batches: more
/// requests than a batch, each to its own path and on one keep-alive
/// connection, come out whole, once each and in order.
#[test]
fn batched_lines_keep_each_request_s_path_in_order() {
    let ok = Backend::start(|_| json(200, r#"{"id": 7}"#));
    let gw = Gateway::start(&with_root(
        "",
        &format!(
            r#"[{{"endpoint": "/users/{{id}}", "backend": [{{"host": ["{}"], "url_pattern": "/u/{{id}}"}}]}}]"#,
            ok.url()
        ),
    ));
    let mut client = gw.client();
    let count = 700;
    for i in 0..count {
        // Paths of different lengths, some percent-encoded.
        let path = match i % 3 {
            0 => format!("/users/{i}"),
            1 => format!("/users/{}-{i}", "x".repeat(i % 40)),
            _ => format!("/users/%22{i}"),
        };
        client.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(client.response().unwrap().status, 200, "{path}");
    }
    let lines = access_lines(&gw, count);
    assert_eq!(lines.len(), count);
    for (i, line) in lines.iter().enumerate() {
        let path = match i % 3 {
            0 => format!("/users/{i}"),
            1 => format!("/users/{}-{i}", "x".repeat(i % 40)),
            _ => format!("/users/%22{i}"),
        };
        let tail = format!("GET     \"{path}\" route=/users/{{id}} bytes=8 completed=true");
        assert!(
            line.ends_with(&tail),
            "line {i}: {line}\nwanted the end: {tail}"
        );
    }
}

#[test]
fn access_log_switches() {
    let ok = Backend::start(|_| json(200, r#"{"id": 7}"#));
    let endpoints = format!(
        r#"[{{"endpoint": "/a", "backend": [{{"host": ["{0}"], "url_pattern": "/a"}}]}},
           {{"endpoint": "/skipped", "backend": [{{"host": ["{0}"], "url_pattern": "/a"}}]}}]"#,
        ok.url()
    );
    let off = Gateway::start(&with_root(
        r#""router": {"disable_access_log": true}"#,
        &endpoints,
    ));
    let skipping = Gateway::start(&with_root(
        r#""router": {"logger_skip_paths": ["/skipped", "/__health"]}"#,
        &endpoints,
    ));
    for gw in [&off, &skipping] {
        for path in ["/skipped", "/__health", "/a", "/skipped"] {
            assert_eq!(gw.get(path).status, 200, "{path}");
        }
    }
    let logged = access_lines(&skipping, 1);
    assert_eq!(logged.len(), 1, "{logged:#?}");
    assert!(logged[0].contains("\"/a\" route=/a"), "{logged:#?}");
    // The last line of `skipping` is out, so `off` had the same time to write.
    assert_eq!(access_lines(&off, 0), Vec::<String>::new());
}

#[test]
fn logstash_format_writes_json_lines() {
    let ok = Backend::start(|_| json(200, r#"{"id": 7}"#));
    let config = with_root(
        r#""telemetry/logging": {"level": "INFO", "prefix": "[KRAKEND]", "stdout": true, "format": "logstash"}"#,
        &format!(
            r#"[{{"endpoint": "/users/{{id}}", "backend": [{{"host": ["{}"], "url_pattern": "/u"}}]}}]"#,
            ok.url()
        ),
    );
    // The file's level decides, not the harness' CUTTLE_LOG.
    let gw = Gateway::start_env(&config, &["--cores", "1"], &[("CUTTLE_LOG", "")], false);
    assert_eq!(gw.get("/users/42?token=secret").status, 200);
    let json_lines = lines_where(&gw, 2, |l| l.contains("\"type\":\"access\""));
    assert_eq!(json_lines.len(), 1, "{}", gw.log());
    let access: serde_json::Value = serde_json::from_str(&json_lines[0]).unwrap();
    assert_eq!(access["@version"], 1);
    assert_eq!(access["module"], "KRAKEND");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["path"], "/users/42", "the query is not logged");
    assert_eq!(access["route"], "/users/{id}");
    assert_eq!(access["status"], 200);
    assert_eq!(access["bytes"], 8);
    assert_eq!(access["client_ip"], "127.0.0.1");
    assert_eq!(access["completed"], true);
    assert!(access["duration_us"].as_u64().is_some());
    assert!(access["@timestamp"].as_str().unwrap().ends_with("+00:00"));
    assert!(!gw.log().contains("secret"));
    // Application lines are JSON too.
    let app: Vec<serde_json::Value> = gw
        .log()
        .lines()
        .filter(|l| l.starts_with('{') && !l.contains("\"type\":\"access\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let listening = app
        .iter()
        .find(|v| v["message"].as_str().unwrap().starts_with("listening on"))
        .unwrap_or_else(|| panic!("no listening line in {}", gw.log()));
    assert_eq!(listening["level"], "INFO");
    assert_eq!(listening["module"], "KRAKEND");
}

#[test]
fn default_and_custom_formats_and_levels() {
    let default = Gateway::start_env(
        &with_root(
            r#""telemetry/logging": {"level": "INFO", "prefix": "[GW]", "stdout": true}"#,
            "[]",
        ),
        &["--cores", "1"],
        &[("CUTTLE_LOG", "")],
        false,
    );
    let line = lines_where(&default, 1, |l| l.contains("listening on"))
        .into_iter()
        .find(|l| l.starts_with("[GW] "))
        .unwrap_or_else(|| panic!("{}", default.log()));
    assert!(line.contains(" ▶ INFO listening on "), "{line}");
    let custom = Gateway::start_env(
        &with_root(
            r#""telemetry/logging": {"level": "WARNING", "stdout": true, "format": "custom", "custom_format": "<%{level:.4s}> %{module}: %{message}"}"#,
            r#"[{"endpoint": "/x", "backend": [{"host": ["http://no-such-host.invalid"], "url_pattern": "/"}]}]"#,
        ),
        &["--cores", "1"],
        &[("CUTTLE_LOG", "")],
        false,
    );
    let warned = lines_where(&custom, 1, |l| l.starts_with("<WARN> cuttle: "));
    assert!(!warned.is_empty(), "{}", custom.log());
    assert!(
        !custom.log().contains("listening on 0"),
        "INFO is below WARNING: {}",
        custom.log()
    );
}

#[test]
fn bad_logging_config_is_refused_with_its_path() {
    let dir = TempDir::new();
    let cases = [
        (
            r#""telemetry/logging": {"level": "LOUD"}"#,
            "extra_config.telemetry/logging.level",
        ),
        (
            r#""telemetry/logging": {"level": "INFO", "format": "custom", "custom_format": "%{shortfile}"}"#,
            "extra_config.telemetry/logging.custom_format",
        ),
        (
            r#""router": {"forwarded_by_client_ip": true, "trusted_proxies": ["10.0.0.0/40"]}"#,
            "extra_config.router.trusted_proxies[0]",
        ),
        (
            r#""router": {"error_body": {"500": {}}}"#,
            "extra_config.router.error_body.500",
        ),
    ];
    for (root, at) in cases {
        let path = dir.0.join("bad.json");
        std::fs::write(&path, with_root(root, "[]")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
            .args(["check", "-c", path.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{root}");
        assert!(err.contains(&format!("bad.json: {at}: ")), "{root}: {err}");
    }
}

/// A flood of access log lines into a standard output nobody reads: the
/// writer blocks, the workers do not; lines are dropped and counted.
#[test]
fn a_stuck_log_output_does_not_slow_requests() {
    let ok = Backend::start(|_| json(200, r#"{"id": 7}"#));
    let dir = TempDir::new();
    let path = dir.0.join("gw.json");
    std::fs::write(
        &path,
        with_root(
            "",
            &format!(
                r#"[{{"endpoint": "/long/{{rest}}", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
                ok.url()
            ),
        ),
    )
    .unwrap();
    let stderr = dir.0.join("stderr.log");
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
        .env("CUTTLE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
        .spawn()
        .unwrap();
    // Read up to the address, then never again: the pipe (64 KiB) fills.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "exited early");
        if let Some(rest) = line.strip_prefix("cuttle listening on ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // ~4 KB per line: 4,000 requests are 16 MB of log, far beyond the
    // pipe and the writer's queue.
    let long = "x".repeat(4000);
    let request = format!("GET /long/{long} HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut buf = vec![0u8; 4096];
    for i in 0..4000 {
        let sent = Instant::now();
        conn.write_all(request.as_bytes()).unwrap();
        // The response is small and ends with the JSON body.
        let mut got = Vec::new();
        while !got.ends_with(b"{\"id\":7}") {
            let n = conn
                .read(&mut buf)
                .unwrap_or_else(|e| panic!("request {i} stalled: {e}"));
            assert!(n > 0, "closed at request {i}");
            got.extend_from_slice(&buf[..n]);
        }
        slowest = slowest.max(sent.elapsed());
    }
    let total = started.elapsed();
    assert!(
        slowest < Duration::from_secs(1),
        "a request waited {slowest:?}"
    );
    // The stuck writer is reported within the report interval (5 s) and
    // at exit, on standard error.
    Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let report = std::fs::read_to_string(&stderr).unwrap();
    let dropped: u64 = report
        .lines()
        .find_map(|l| {
            l.strip_prefix("cuttle: log lines dropped because the output did not keep up: ")
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no drop count in: {report}"));
    eprintln!(
        "4000 requests in {total:?}, slowest {slowest:?}, {dropped} access log lines dropped"
    );
    assert!(
        dropped > 1000,
        "{dropped} lines dropped in {total:?}: {report}"
    );
    drop(stdout);
}

#[test]
fn syslog_gets_application_lines_and_a_missing_socket_is_reported() {
    let dir = TempDir::new();
    let socket_path = dir.0.join("log.sock");
    let daemon = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    daemon
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let config = with_root(
        r#""telemetry/logging": {"level": "INFO", "prefix": "[GW]", "syslog": true, "stdout": false, "syslog_facility": "local0"}"#,
        "[]",
    );
    let gw = Gateway::start_env(
        &config,
        &["--cores", "1"],
        &[
            ("CUTTLE_LOG", ""),
            ("CUTTLE_TEST_SYSLOG_SOCKET", socket_path.to_str().unwrap()),
        ],
        false,
    );
    let mut datagram = vec![0u8; 4096];
    let mut seen = Vec::new();
    while !seen.iter().any(|d: &String| d.contains("listening on")) {
        let n = daemon
            .recv(&mut datagram)
            .unwrap_or_else(|e| panic!("no syslog datagram ({e}); got {seen:?}"));
        seen.push(String::from_utf8_lossy(&datagram[..n]).into_owned());
    }
    let line = seen.iter().find(|d| d.contains("listening on")).unwrap();
    // local0 (16) * 8 + info (6) = 134.
    assert!(line.starts_with("<134>"), "{line}");
    assert!(line.contains(" cuttle["), "{line}");
    assert!(line.contains("[GW] "), "{line}");
    assert!(
        !gw.log().contains("▶ INFO listening"),
        "stdout: false keeps application lines off standard output: {}",
        gw.log()
    );

    let missing = dir.0.join("nobody-here.sock");
    let gw = Gateway::start_env(
        &with_root(
            r#""telemetry/logging": {"level": "INFO", "syslog": true, "stdout": true}"#,
            "[]",
        ),
        &["--cores", "1"],
        &[
            ("CUTTLE_LOG", ""),
            ("CUTTLE_TEST_SYSLOG_SOCKET", missing.to_str().unwrap()),
        ],
        false,
    );
    let warned = lines_where(&gw, 1, |l| l.contains("cannot reach"));
    assert!(
        warned
            .iter()
            .any(|l| l.contains("WARNING") && l.contains("nobody-here.sock")),
        "{}",
        gw.log()
    );
}

/// lura's endpoint handler logs every failed backend call at ERROR
/// (`router/gin/endpoint.go`): `[ENDPOINT: /route] <error>` for an
/// endpoint's lone backend, `Error #i: ` before each error of a merge
/// (`proxy/merging.go`). The texts hold backend values, escaped here.
#[test]
fn failed_backend_calls_are_logged_once_at_error() {
    let svc = Backend::start(|seen| match seen.path() {
        "/ok" => json(200, r#"{"ok": true}"#),
        "/forged" => common::text(418, "text/plain", "no\r\n[FORGED] \u{1b}[31mred"),
        _ => common::text(404, "text/plain", "nope"),
    });
    let closed = common::closed_port_url();
    let gw = Gateway::start_env(
        &with_root(
            "",
            &format!(
                r#"[{{"endpoint": "/one/{{id}}", "backend": [{{"host": ["{svc}"], "url_pattern": "/missing/{{id}}"}}]}},
                   {{"endpoint": "/two", "backend": [{{"host": ["{svc}"], "url_pattern": "/ok"}}, {{"host": ["{closed}"], "url_pattern": "/down"}}]}},
                   {{"endpoint": "/code", "backend": [{{"host": ["{svc}"], "url_pattern": "/forged",
                     "extra_config": {{"backend/http": {{"return_error_code": true}}}}}}]}},
                   {{"endpoint": "/details", "backend": [{{"host": ["{svc}"], "url_pattern": "/missing",
                     "extra_config": {{"backend/http": {{"return_error_details": "m"}}}}}}]}}]"#,
                svc = svc.url()
            ),
        ),
        &["--cores", "1"],
        &[],
        true,
    );
    assert_eq!(gw.get("/one/42").status, 500);
    let one = lines_where(&gw, 1, |l| l.contains("[ENDPOINT: /one/:id]"));
    assert_eq!(one.len(), 1, "{}", gw.log());
    assert!(
        one[0].ends_with(&format!(
            " ▶ ERROR [ENDPOINT: /one/:id] invalid status code 404 [GET /missing/{{{{.Id}}}}]: {}/missing/42",
            svc.url()
        )),
        "{}",
        one[0]
    );

    assert_eq!(gw.get("/two").status, 200);
    let two = lines_where(&gw, 1, |l| l.contains("[ENDPOINT: /two]"));
    assert_eq!(two.len(), 1, "{}", gw.log());
    assert!(
        two[0].contains(" ▶ ERROR [ENDPOINT: /two] Error #0: ") && two[0].contains("refused"),
        "{}",
        two[0]
    );

    assert_eq!(gw.get("/code").status, 418);
    let code = lines_where(&gw, 1, |l| l.contains("[ENDPOINT: /code]"));
    assert_eq!(code.len(), 1, "{}", gw.log());
    assert!(
        code[0].ends_with(r"[ENDPOINT: /code] no\x0d\x0a[FORGED] \x1b[31mred"),
        "{}",
        code[0]
    );
    assert!(!gw.log().lines().any(|l| l.starts_with("[FORGED]")));

    // A failure shown with return_error_details is no error for lura.
    assert_eq!(gw.get("/details").status, 200);
    assert_eq!(gw.get("/one/43").status, 500);
    lines_where(&gw, 2, |l| l.contains("[ENDPOINT: /one/:id]"));
    assert!(!gw.log().contains("[ENDPOINT: /details]"), "{}", gw.log());
}

/// krakend-circuitbreaker logs a state change with the breaker's `name`
/// (gobreaker `Settings.Name`) when `log_status_change` is on.
#[test]
fn circuit_breaker_changes_are_logged_with_its_name() {
    let svc = Backend::start(|_| common::text(500, "text/plain", "down"));
    let gw = Gateway::start_env(
        &with_root(
            "",
            &format!(
                r#"[{{"endpoint": "/cb", "backend": [{{"host": ["{}"], "url_pattern": "/",
                     "extra_config": {{"qos/circuit-breaker": {{"name": "users-cb", "interval": 60, "timeout": 10, "max_errors": 0, "log_status_change": true}}}}}}]}}]"#,
                svc.url()
            ),
        ),
        &["--cores", "1"],
        &[],
        true,
    );
    assert_eq!(gw.get("/cb").status, 500);
    let changed = lines_where(&gw, 1, |l| l.contains("[CB]"));
    assert_eq!(changed.len(), 1, "{}", gw.log());
    assert!(
        changed[0].ends_with(
            " ▶ WARNING [CB] Circuit breaker named 'users-cb' went from 'closed' to 'open'"
        ),
        "{}",
        changed[0]
    );
}
