//! Files KrakenD loads load in cuttle and behave as in KrakenD (issue
//! 20.3): loosely typed core fields, `del` with several paths, unknown
//! encodings read as JSON, `static` defaults, paths without a leading `/`,
//! endpoints with a method KrakenD has no route for (skipped, the rest
//! served), non-GET endpoints with several non-GET backends. The real
//! binary against real backends on loopback.

mod common;

use std::process::{Command, Output};

use common::{Backend, Gateway, Seen, TempDir, json};
use serde_json::{Value, json};

/// A KrakenD v3 file with `endpoints` and extra root keys.
fn file(root: Value, endpoints: Value) -> String {
    let mut cfg = json!({"version": 3});
    for (k, v) in root.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    cfg["endpoints"] = endpoints;
    cfg.to_string()
}

/// Starts the gateway with its log captured (warnings and errors).
fn start(config: &str) -> Gateway {
    Gateway::start_env(config, &["--cores", "1"], &[], true)
}

/// `cuttle check` on `config`.
fn check(config: &str) -> Output {
    let dir = TempDir::new();
    let path = dir.0.join("lenient.json");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap()
}

fn send(gw: &Gateway, method: &str, path: &str, body: &str) -> common::Response {
    gw.raw(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn seen_at<'a>(seen: &'a [Seen], path: &str) -> Vec<&'a Seen> {
    seen.iter().filter(|s| s.path() == path).collect()
}

#[test]
fn del_with_several_paths_removes_each() {
    let backend = Backend::start(|_| {
        json(
            200,
            r#"{"a": 1, "b": 2, "c": {"d": 3, "e": 4}, "keep": 5, "list": [{"x": 1, "y": 2}]}"#,
        )
    });
    let del = json!({"proxy": {"flatmap_filter": [
        {"type": "del", "args": ["a", "c.d", "list.*.x"]}]}});
    let gw = start(&file(
        json!({}),
        json!([
            {"endpoint": "/endpoint-level", "extra_config": del,
             "backend": [{"host": [backend.url()], "url_pattern": "/x"}]},
            {"endpoint": "/backend-level",
             "backend": [{"host": [backend.url()], "url_pattern": "/x",
                          "extra_config": {"proxy": {"flatmap_filter": [
                              {"type": "del", "args": ["b", "keep"]}]}}}]}
        ]),
    ));
    let r = gw.get("/endpoint-level");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"b": 2, "c": {"e": 4}, "keep": 5, "list": [{"y": 2}]})
    );
    let r = gw.get("/backend-level");
    assert_eq!(
        r.json(),
        json!({"a": 1, "c": {"d": 3, "e": 4}, "list": [{"x": 1, "y": 2}]})
    );
}

#[test]
fn an_unknown_method_skips_only_its_endpoint() {
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let config = file(
        json!({"host": [backend.url()]}),
        json!([
            {"endpoint": "/bad", "method": "GETTT", "backend": [{"url_pattern": "/bad"}]},
            {"endpoint": "/good", "backend": [{"url_pattern": "/good"}]},
            {"endpoint": "/head", "method": "HEAD", "backend": [{"url_pattern": "/head"}]}
        ]),
    );
    let gw = start(&config);
    assert_eq!(gw.get("/good").status, 200);
    assert_eq!(gw.get("/bad").status, 404);
    let r = gw.raw(b"GETTT /bad HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_ne!(r.status, 200);
    assert_eq!(gw.get("/head").status, 404);
    assert!(
        backend.requests().iter().all(|s| s.path() == "/good"),
        "{:?}",
        backend.requests()
    );
    let log = gw.log();
    for (at, name) in [
        ("endpoints[0].method", "\"GETTT\""),
        ("endpoints[2].method", "\"HEAD\""),
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(at))
            .unwrap_or_else(|| panic!("no line for {at} in: {log}"));
        assert!(line.contains("ERROR") || line.contains("error"), "{line}");
        assert!(
            line.contains(name) && line.contains("is not served"),
            "{line}"
        );
    }

    let out = check(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("error: endpoint not served: endpoints[0].method: \"GETTT\" is not a method")
            && stderr.contains("\"/bad\" is not served"),
        "{stderr}"
    );
}

#[test]
fn every_non_get_backend_gets_the_whole_body() {
    let backend =
        Backend::start(|seen| json(200, &format!(r#"{{"{}": true}}"#, &seen.path()[1..])));
    let config = file(
        json!({"host": [backend.url()]}),
        json!([
            {"endpoint": "/parallel", "method": "POST",
             "backend": [{"url_pattern": "/p1"}, {"url_pattern": "/p2"}, {"url_pattern": "/p3", "method": "PUT"},
                         {"url_pattern": "/p4", "method": "GET"}]},
            {"endpoint": "/sequential", "method": "PUT",
             "extra_config": {"proxy": {"sequential": true}},
             "backend": [{"url_pattern": "/s1", "method": "POST"}, {"url_pattern": "/s2"}]}
        ]),
    );
    let gw = start(&config);
    // Larger than a socket read, so that a body consumed by the first call
    // would show.
    let body = format!(r#"{{"data": "{}"}}"#, "x".repeat(100_000));

    let r = send(&gw, "POST", "/parallel", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"p1": true, "p2": true, "p3": true, "p4": true})
    );
    let r = send(&gw, "PUT", "/sequential", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"s1": true, "s2": true}));

    let seen = backend.requests();
    for (path, method, gets_body) in [
        ("/p1", "POST", true),
        ("/p2", "POST", true),
        // Whatever the backend's method, as lura does; but a GET gets none.
        ("/p3", "PUT", true),
        ("/p4", "GET", false),
        ("/s1", "POST", true),
        ("/s2", "PUT", true),
    ] {
        let calls = seen_at(&seen, path);
        assert_eq!(calls.len(), 1, "{path}: {calls:?}");
        assert_eq!(calls[0].method, method, "{path}");
        let expected: &[u8] = if gets_body { body.as_bytes() } else { b"" };
        assert!(
            calls[0].body == expected,
            "{path}: {} bytes",
            calls[0].body.len()
        );
    }
}

#[test]
fn loosely_typed_core_fields_load_and_serve() {
    let backend = Backend::start(|seen| {
        json(
            200,
            &format!(
                r#"[{{"id": 1, "header": "{}"}}]"#,
                seen.header("x-a").unwrap_or("none")
            ),
        )
    });
    // Strings for numbers and booleans, a single value for a list, a number
    // for a string: what mapstructure's WeaklyTypedInput turns into the
    // right types in KrakenD.
    let config = format!(
        r#"{{"version": "3", "timeout": "2s", "cache_ttl": 0, "host": "{}", "debug_endpoint": "false",
            "endpoints": [{{"endpoint": "/items", "concurrent_calls": "1", "input_headers": "X-A",
                "backend": {{"url_pattern": 1, "is_collection": "true", "mapping": {{"collection": 7}}}}}}]}}"#,
        backend.url()
    );
    let gw = start(&config);
    let r = gw.raw(b"GET /items HTTP/1.1\r\nHost: h\r\nX-A: forwarded\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"7": [{"id": 1, "header": "forwarded"}]}));
    assert_eq!(backend.requests()[0].path(), "/1");
    assert_eq!(gw.get("/__debug/").status, 404);

    // What KrakenD's decoder refuses, cuttle refuses.
    let bad = config.replace(r#""concurrent_calls": "1""#, r#""concurrent_calls": "one""#);
    let out = check(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("endpoints[0].concurrent_calls: \"one\" is not a whole number"),
        "{stderr}"
    );
}

#[test]
fn unknown_encodings_are_read_as_json_with_a_warning() {
    let backend = Backend::start(|seen| json(200, &format!(r#"{{"from": "{}"}}"#, seen.path())));
    let config = file(
        json!({"host": [backend.url()], "extra_config": {"telemetry/influx": {}}}),
        json!([
            {"endpoint": "/form", "output_encoding": "html",
             "backend": [{"url_pattern": "/form", "encoding": "form"}]},
            {"endpoint": "/fast", "output_encoding": "fast-json",
             "backend": [{"url_pattern": "/fast", "encoding": "fast-json"}]}
        ]),
    );
    let gw = start(&config);
    for path in ["/form", "/fast"] {
        let r = gw.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{path}"
        );
        assert_eq!(r.json(), json!({"from": path}));
    }
    let log = gw.log();
    for at in [
        "endpoints[0].output_encoding",
        "endpoints[0].backend[0].encoding",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(at))
            .unwrap_or_else(|| panic!("no warning for {at} in: {log}"));
        assert!(line.contains("WARN") || line.contains("warn"), "{line}");
    }
    assert!(!log.contains("endpoints[1]"), "{log}");
    let stderr = String::from_utf8_lossy(&check(&config).stderr).into_owned();
    assert!(
        stderr.contains(
            "warning: endpoints[0].backend[0].encoding: \"form\" is not a known backend encoding"
        ) && stderr.contains("decoded as JSON")
            && stderr.contains(
                "warning: endpoints[0].output_encoding: \"html\" is not a known output encoding"
            )
            && stderr.contains("warning: extra_config.telemetry/influx: ignored: "),
        "{stderr}"
    );
}

#[test]
fn static_defaults_and_paths_without_a_slash() {
    let backend = Backend::start(|_| json(200, r#"{"from": "backend"}"#));
    let gw = start(&file(
        json!({"host": [backend.url()]}),
        json!([
            {"endpoint": "no-slash", "backend": [{"url_pattern": "/x"}]},
            {"endpoint": "/always", "extra_config": {"proxy": {"static": {"data": {"added": true}}}},
             "backend": [{"url_pattern": "/x"}]},
            {"endpoint": "/no-data", "extra_config": {"proxy": {"static": {"strategy": "always"}}},
             "backend": [{"url_pattern": "/x"}]}
        ]),
    ));
    let r = gw.get("/no-slash");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"from": "backend"}));
    // Without a strategy the data is merged into every response ("always").
    assert_eq!(
        gw.get("/always").json(),
        json!({"from": "backend", "added": true})
    );
    assert_eq!(gw.get("/no-data").json(), json!({"from": "backend"}));
    assert!(
        gw.log()
            .contains("endpoints[2].extra_config.proxy.static.data"),
        "{}",
        gw.log()
    );
}

#[test]
fn another_version_says_what_it_needs() {
    for (version, expected) in [
        (2, "migrate it with KrakenD's configuration migration tool"),
        (4, "cuttle reads version 3"),
    ] {
        let out = check(&format!(r#"{{"version": {version}, "endpoints": []}}"#));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("version: {version} is not supported"))
                && stderr.contains(expected),
            "{stderr}"
        );
    }
}

/// A decoding backend `encoding` under a `no-op` endpoint: lura makes the
/// backend no-op (`config.go` `initBackendDefaults`), so the backend's
/// answer passes through as it came, status, headers and body, and the
/// file's `encoding` is reported as ignored.
#[test]
fn a_no_op_endpoint_passes_through_whatever_the_backend_encoding() {
    let backend = Backend::start(|_| common::text(201, "text/plain", "not json at all"));
    let config = file(
        json!({}),
        json!([{"endpoint": "/raw", "output_encoding": "no-op",
                "backend": [{"host": [backend.url()], "url_pattern": "/r", "encoding": "json"}]}]),
    );
    let gw = start(&config);
    let r = gw.get("/raw");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.text(), "not json at all");
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    let warning = "endpoints[0].backend[0].encoding: \"json\" is ignored";
    assert!(gw.log().contains(warning), "{}", gw.log());
    let out = check(&config);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains(warning), "{err}");
}
