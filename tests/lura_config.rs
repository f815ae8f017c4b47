//! lura's `config/config_test.go` as black-box cases: each row is a file
//! `cuttle check -c` must accept (exit 0) or refuse (exit not 0), as lura's
//! `ServiceConfig.Init` does (KrakenD refuses to start on its error).

mod common;

use std::process::Command;

use serde_json::{Value, json};

/// A v3 file with `endpoints` and a root host.
fn file(endpoints: Value) -> Value {
    json!({"version": 3, "host": ["http://127.0.0.1:8080"], "endpoints": endpoints})
}

fn endpoint(path: &str, backends: Value) -> Value {
    json!([{"endpoint": path, "method": "GET", "backend": backends}])
}

/// Exit status and output of `cuttle check -c` on `config`.
fn check(config: &Value) -> (bool, String) {
    check_text(&config.to_string())
}

/// [`check`] on a file holding `text`.
fn check_text(text: &str) -> (bool, String) {
    let dir = common::TempDir::new();
    let path = dir.0.join("krakend.json");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .expect("run cuttle check");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// The url_patterns `TestConfig_initBackendURLMappings_ok` accepts; the
/// endpoint declares the parameters of lura's input set.
const URL_MAPPINGS_OK: &[&str] = &[
    "supu/{tupu}",
    "/supu/{tupu1}",
    "/supu.local/",
    "supu/{tupu_56}/{supu-5t6}?a={foo}&b={foo}",
    "supu/{tupu_56}{supu-5t6}?a={foo}&b={foo}",
    "supu/tupu{supu-5t6}?a={foo}&b={foo}",
    "{resp0_x}/{tupu1}/{tupu_56}{supu-5t6}?a={tupu}&b={foo}",
    "{resp0_x}/{tupu1}/{JWT.foo}",
    "{resp0_x}/{tupu1}/{JWT.http://example.com/foo_bar}",
];

/// Rows where cuttle refuses what lura accepts, on purpose.
const DIFFERENCES: &[(&str, &str)] = &[
    (
        "TestConfig_initBackendURLMappings_ok/6",
        RESP_OUTSIDE_SEQUENCE,
    ),
    (
        "TestConfig_initBackendURLMappings_ok/7",
        RESP_OUTSIDE_SEQUENCE,
    ),
    (
        "TestConfig_initBackendURLMappings_ok/8",
        RESP_OUTSIDE_SEQUENCE,
    ),
];

/// lura's `Init` lets any `{resp0_x}` through and renders it empty at
/// request time when no earlier backend answered (here: no `sequential`,
/// and backend 0 has no earlier one); cuttle refuses the file, naming the
/// option that is missing, rather than call a backend with an empty path
/// segment. (`{JWT.foo}` without a validator is refused for the same reason.)
const RESP_OUTSIDE_SEQUENCE: &str =
    "a {respN_...} that can never have a value is refused, not rendered empty";

#[test]
fn service_config_init() {
    let mut rows: Vec<(String, Value, bool)> = vec![(
        "TestConfig_rejectInvalidVersion".into(),
        json!({"version": 0, "endpoints": endpoint("/a", json!([{"host": ["http://127.0.0.1:8080"], "url_pattern": "/"}]))}),
        false,
    )];
    for e in ["/__debug", "/__debug/", "/__debug/foo", "/__debug/foo/bar"] {
        rows.push((
            format!("TestConfig_rejectInvalidEndpoints/{e}"),
            file(endpoint(e, json!([{"url_pattern": "/"}]))),
            false,
        ));
    }
    for (i, pattern) in URL_MAPPINGS_OK.iter().enumerate() {
        rows.push((
            format!("TestConfig_initBackendURLMappings_ok/{i}"),
            file(endpoint(
                "/m/{tupu}/{tupu1}/{tupu_56}/{supu-5t6}/{foo}",
                json!([{"url_pattern": pattern}]),
            )),
            true,
        ));
    }
    rows.push((
        "TestConfig_initBackendURLMappings_tooManyOutput".into(),
        file(endpoint(
            "/some/{tupu}",
            json!([{"url_pattern": "supu/{tupu_56}/{supu-5t6}?a={foo}&b={foo}"}]),
        )),
        false,
    ));
    rows.push((
        "TestConfig_initBackendURLMappings_undefinedOutput".into(),
        file(endpoint(
            "/{tupu}/{supu}/{foo}",
            json!([{"url_pattern": "supu/{tupu_56}/{supu-5t6}?a={foo}&b={foo}"}]),
        )),
        false,
    ));
    rows.push((
        "TestConfig_init".into(),
        json!({"version": 3, "timeout": "5s", "cache_ttl": "30m",
        "host": ["http://127.0.0.1:8080"],
        "endpoints": [
            {"endpoint": "/supu", "method": "post", "timeout": "1500ms", "cache_ttl": "6h",
             "output_encoding": "some_render",
             "backend": [{"url_pattern": "/__debug/supu"}]},
            {"endpoint": "/github", "timeout": "1500ms", "cache_ttl": "6h",
             "backend": [{"url_pattern": "/", "host": ["https://api.github.com"],
                "allow": ["authorizations_url", "code_search_url"]}]},
            {"endpoint": "/users/{user}", "backend": [
                {"url_pattern": "/users/{user}", "host": ["https://jsonplaceholder.typicode.com"],
                 "mapping": {"email": "personal_email"}},
                {"url_pattern": "/users/{user}", "host": ["https://jsonplaceholder.typicode.com"],
                 "encoding": "rss"},
                {"url_pattern": "/posts/{user}", "host": ["https://jsonplaceholder.typicode.com"],
                 "group": "posts", "encoding": "xml"}
            ]}
        ]}),
        true,
    ));
    rows.push((
        "TestConfig_initKONoBackends".into(),
        json!({"version": 3, "host": ["http://127.0.0.1:8080"],
            "endpoints": [{"endpoint": "/supu", "method": "POST", "backend": []}]}),
        false,
    ));
    rows.push((
        "TestConfig_initKOMultipleBackendsForNoopEncoder".into(),
        json!({"version": 3, "host": ["http://127.0.0.1:8080"],
            "endpoints": [{"endpoint": "/supu", "method": "post", "output_encoding": "no-op",
                "backend": [{"url_pattern": "/", "encoding": "no-op"},
                            {"url_pattern": "/", "encoding": "no-op"}]}]}),
        false,
    ));
    // lura `proxy/graphql_test.go`: the two backends it configures.
    for (name, graphql) in [
        (
            "TestNewGraphQLMiddleware_mutation",
            json!({"type": "mutation", "query": "mutation addAuthor($author: [AddAuthorInput!]!) {\n  addAuthor(input: $author) {\n    author {\n      id\n      name\n    }\n  }\n}\n",
                "variables": {"author": {"name": "A.N. Author", "dob": "2000-01-01", "posts": []}}}),
        ),
        (
            "TestNewGraphQLMiddleware_query",
            json!({"method": "get", "type": "query", "query": "{ q(func: uid(1)) { uid } }",
                "variables": {"name": "{foo}", "dob": "{bar}", "posts": []}}),
        ),
    ] {
        rows.push((
            name.into(),
            file(endpoint(
                "/g/{foo}/{bar}",
                json!([{"url_pattern": "/", "extra_config": {"backend/graphql": graphql}}]),
            )),
            true,
        ));
    }
    rows.push((
        "TestConfig_initKOInvalidHost".into(),
        json!({"version": 3, "host": ["http://127.0.0.1:8080http://127.0.0.1:8080"],
            "endpoints": endpoint("/supu", json!([{"url_pattern": "/"}]))}),
        false,
    ));

    let mut failures = Vec::new();
    let mut passed = 0;
    for (name, config, accepted) in &rows {
        let (ok, said) = check(config);
        let documented = DIFFERENCES.iter().any(|(n, _)| n == name);
        match (ok == *accepted, documented) {
            (true, false) => passed += 1,
            (false, false) => failures.push(format!(
                "{name}: lura {}, cuttle {}: {said}",
                if *accepted { "accepts" } else { "refuses" },
                if ok { "accepts" } else { "refuses" }
            )),
            (false, true) => {}
            (true, true) => {
                failures.push(format!("{name}: now as lura; remove it from DIFFERENCES"))
            }
        }
    }
    eprintln!(
        "config/config_test.go: {} lura cases, {passed} as lura",
        rows.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// lura `config/parser_test.go`: files the parser refuses (lura's messages
/// are Go's JSON errors; cuttle's name the same place its own way, so only
/// the refusal is compared). `TestNewParser_ok` reads a fixture file and
/// `TestParserFunc` wraps a Go function.
#[test]
fn parser_refusals() {
    let bad_comma = "{\n\t\"version\": 3,\n\t\"name\": \"My lovely gateway\",\n\t\"port\": 8080,\n\t\"cache_ttl\": 3600\n\t\"timeout\": \"3s\",\n\t\"endpoints\": []\n}";
    let rows = [
        ("TestNewParser_errorMessages/case0", "{"),
        ("TestNewParser_errorMessages/case1", ">"),
        ("TestNewParser_errorMessages/case2", "\""),
        ("TestNewParser_errorMessages/case3", ""),
        ("TestNewParser_errorMessages/case4", "[{}]"),
        ("TestNewParser_errorMessages/case5", "42"),
        ("TestNewParser_errorMessages/case6", "\r\n42"),
        ("TestNewParser_errorMessages/case7", bad_comma),
        ("TestNewParser_readingError", "{hello\ngo\n"),
        ("TestNewParser_initError", "{\"a\":42}"),
    ];
    for (name, text) in rows {
        let (ok, said) = check_text(text);
        assert!(!ok, "{name}: lura refuses {text:?}, cuttle accepts: {said}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", "/nowhere/in/the/fs.json"])
        .output()
        .expect("run cuttle check");
    assert!(!out.status.success(), "TestNewParser_unknownFile");
}

/// lura `config/uri_test.go` `TestURIParser_cleanPath` and
/// `TestURIParser_cleanHosts`, seen from the backend: a url_pattern gets
/// its leading `/`, and a host its `http://` and loses its trailing `/`.
/// `_getEndpointPath*` build gin's route syntax (Go values).
#[test]
fn uri_parser() {
    let backend = common::Backend::start(|_| common::json(200, "{}"));
    let addr = backend.addr.to_string();
    let patterns = [
        ("supu/{tupu}", "/supu/x"),
        ("supu/{tupu}{supu}", "/supu/xy"),
        ("/supu/{tupu}", "/supu/x"),
        ("/supu.local/", "/supu.local/"),
        ("supu_supu.txt", "/supu_supu.txt"),
        ("supu_42.local?a=8080", "/supu_42.local?a=8080"),
        ("supu/supu/supu?a=1&b=2", "/supu/supu/supu?a=1&b=2"),
        ("debug/supu/supu?a=1&b=2", "/debug/supu/supu?a=1&b=2"),
    ];
    let hosts = [
        addr.clone(),
        format!("http://{addr}/"),
        format!("http://{addr}"),
    ];
    let mut endpoints = Vec::new();
    for (i, (pattern, _)) in patterns.iter().enumerate() {
        endpoints.push(json!({"endpoint": format!("/p{i}/{{tupu}}/{{supu}}"),
            "backend": [{"host": [format!("http://{addr}")], "url_pattern": pattern}]}));
    }
    for (i, host) in hosts.iter().enumerate() {
        endpoints.push(json!({"endpoint": format!("/h{i}"),
            "backend": [{"host": [host], "url_pattern": format!("/host{i}")}]}));
    }
    let gw = common::Gateway::start(&json!({"version": 3, "endpoints": endpoints}).to_string());
    for (i, (pattern, want)) in patterns.iter().enumerate() {
        let r = gw.get(&format!("/p{i}/x/y"));
        assert_eq!(
            r.status,
            200,
            "TestURIParser_cleanPath {pattern}: {}",
            r.text()
        );
        let seen = backend.requests().last().unwrap().target.clone();
        assert_eq!(seen, *want, "TestURIParser_cleanPath {pattern}");
    }
    for (i, host) in hosts.iter().enumerate() {
        let r = gw.get(&format!("/h{i}"));
        assert_eq!(
            r.status,
            200,
            "TestURIParser_cleanHosts {host}: {}",
            r.text()
        );
        let seen = backend.requests().last().unwrap().target.clone();
        assert_eq!(seen, format!("/host{i}"), "TestURIParser_cleanHosts {host}");
    }
}
