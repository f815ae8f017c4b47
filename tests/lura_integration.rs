//! lura's `test/integration_test.go` (`testKrakenD`, run with the gin
//! router) as black-box cases (see `tests/lura_oracle`): its endpoints
//! (lura's `test/lura.json`, with its legacy namespace names) and its
//! backends b1..b12 rebuilt here, its expected bodies compared byte for
//! byte. The client sends `Host: lura`, so `X-Forwarded-Host` is `lura`
//! where lura's test has `localhost:<port>`.

mod common;
mod lura_oracle;

use std::collections::BTreeMap;

use common::{Reply, Seen, text};
use lura_oracle::{Body, Case, run_with};
use serde_json::{Value, json};

/// `r.Header` as Go's server gives it: canonical names, without Host and
/// the framing headers.
fn go_headers(seen: &Seen) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &seen.headers {
        if ["host", "content-length", "transfer-encoding"].contains(&name.as_str()) {
            continue;
        }
        let canonical: Vec<String> = name
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        map.entry(canonical.join("-"))
            .or_default()
            .push(value.clone());
    }
    map
}

fn go_query(seen: &Seen) -> BTreeMap<String, Vec<String>> {
    common::query_map(&seen.target).into_iter().collect()
}

fn answer(v: Value) -> Reply {
    common::json(200, &v.to_string())
}

/// b1: the param forwarding validator.
fn b1(path: &str, seen: &Seen) -> Reply {
    let ok = seen.header("content-type") == Some("application/json")
        && seen.header("authorization") == Some("bearer AuthorizationToken")
        && seen.header("x-y-z") == Some("x-y-z")
        && seen.body == br#"{"foo":"bar"}"#;
    if !ok {
        return text(400, "text/plain", "bad request");
    }
    answer(json!({"path": path}))
}

/// b2: the collection generator.
fn b2() -> Reply {
    answer(json!([
        {"body": "some content", "date": "123456789"},
        {"body": "some other content", "date": "123496789"}
    ]))
}

/// b3: a regular struct.
fn b3() -> Reply {
    answer(json!({"email": "some@email.com", "name": "a"}))
}

/// b4: the crasher (Go's `http.Error`).
fn b4() -> Reply {
    text(429, "text/plain; charset=utf-8", "sad panda\n")
}

/// b6: echoes path, query and headers (X-Forwarded-For checked, dropped).
fn b6(path: &str, seen: &Seen) -> Reply {
    let xff = seen.header("x-forwarded-for").unwrap_or("");
    if !xff
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
    {
        return text(400, "text/plain", "invalid X-Forwarded-For");
    }
    let mut headers = go_headers(seen);
    headers.remove("X-Forwarded-For");
    answer(json!({"path": path, "query": go_query(seen), "headers": headers}))
}

/// b7: the path validator.
fn b7(path: &str, _: &Seen) -> Reply {
    answer(json!({"path": path, "random": 42}))
}

/// b8 and b9 redirect to b7 (served under `/b7` by the fallback).
fn b8(_: &str, _: &Seen) -> Reply {
    Reply::Full(301, vec![("Location".into(), "/b7/".into())], vec![])
}
fn b9(_: &str, _: &Seen) -> Reply {
    Reply::Full(302, vec![("Location".into(), "/b7/".into())], vec![])
}

fn fallback(path: &str, seen: &Seen) -> Reply {
    match path.strip_prefix("/b7") {
        Some(rest) => b7(rest, seen),
        None => text(599, "text/plain", "no such backend"),
    }
}

/// b11: echoes the headers.
fn b11(_: &str, seen: &Seen) -> Reply {
    answer(json!({"headers": go_headers(seen)}))
}

/// b12: echoes headers, body, URL and method.
fn b12(path: &str, seen: &Seen) -> Reply {
    let query = seen.target.split_once('?').map(|(_, q)| format!("?{q}"));
    answer(json!({
        "headers": go_headers(seen),
        "body": String::from_utf8_lossy(&seen.body),
        "url": format!("{path}{}", query.unwrap_or_default()),
        "method": seen.method,
    }))
}

/// A placeholder for a backend answered by an echo.
fn echoed() -> Reply {
    text(599, "text/plain", "echo")
}

const PROXY: &str = "github.com/devopsfaith/krakend/proxy";
const HTTP: &str = "github.com/devopsfaith/krakend/http";

fn b(pattern: &str) -> Value {
    json!({"url_pattern": pattern})
}

fn with(mut v: Value, extra: Value) -> Value {
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn complete(c: Case) -> Case {
    c.header("content-type", Some("application/json; charset=utf-8"))
        .header("x-krakend-completed", Some("true"))
}

fn incomplete(c: Case) -> Case {
    c.header("content-type", Some("application/json; charset=utf-8"))
        .header("x-krakend-completed", Some("false"))
}

fn row(name: &'static str, backends: Vec<(Value, Reply)>, body: &'static str) -> Case {
    Case::new(name, backends, json!(null)).body(Body::Text(body))
}

const STATIC: &str = r#"{"strategy": "errored", "data": {"foo": 42, "bar": "foobar"}}"#;

/// `testKrakenD`'s table. `X-Krakend: Version undefined` is checked by
/// `tests/lura_router.rs`'s siblings elsewhere; here the version only
/// enters the expected User-Agent (see `lura_oracle`).
#[test]
fn krakend_gin_router() {
    let static_data = |strategy: &str| {
        let mut s: Value = serde_json::from_str(STATIC).unwrap();
        s["strategy"] = json!(strategy);
        json!({"extra_config": {PROXY: {"static": s}}})
    };
    let sequential = json!({"extra_config": {PROXY: {"sequential": true}}});
    let no_headers = r#"{"headers":{"Accept-Encoding":["gzip"],"User-Agent":["KrakenD Version undefined"],"X-Forwarded-Host":["lura"]},"path":"/no-params","query":{}}"#;
    let cases = vec![
        incomplete(row("testKrakenD/static", vec![(b("/"), b4())], r#"{"bar":"foobar","foo":42}"#))
            .endpoint(static_data("errored")),
        complete(
            row(
                "testKrakenD/param_forwarding",
                vec![(b("/{first}/{second}"), echoed())],
                r#"{"path":"/foo/bar"}"#,
            )
            .echo(0, b1)
            .endpoint(json!({"endpoint": "/param_forwarding/{first}/constant/{second}",
                "input_headers": ["Content-Type", "Authorization", "X-Y-Z"]}))
            .request(
                "POST",
                "/param_forwarding/foo/constant/bar",
                "Content-Type: application/json\r\nAuthorization: bearer AuthorizationToken\r\nX-Y-Z: x-y-z\r\n",
                r#"{"foo":"bar"}"#,
            ),
        ),
        complete(
            row(
                "testKrakenD/param_forwarding_2",
                vec![(b("/{first}/{second}"), echoed())],
                r#"{"path":"/foo/foobar"}"#,
            )
            .echo(0, b1)
            .endpoint(json!({"endpoint": "/param_forwarding/{first}/constant/{second}",
                "input_headers": ["Content-Type", "Authorization", "X-Y-Z"]}))
            .request(
                "POST",
                "/param_forwarding/foo/constant/foobar",
                "Content-Type: application/json\r\nAuthorization: bearer AuthorizationToken\r\nX-Y-Z: x-y-z\r\n",
                r#"{"foo":"bar"}"#,
            ),
        ),
        incomplete(row(
            "testKrakenD/timeout",
            vec![(b("/"), lura_oracle::after(1000, b3())), (b("/"), b3())],
            r#"{"email":"some@email.com","name":"a"}"#,
        ))
        .endpoint(json!({"timeout": "100ms"})),
        incomplete(row(
            "testKrakenD/partial_with_static",
            vec![(b("/"), b4()), (b("/"), b3())],
            r#"{"bar":"foobar","email":"some@email.com","foo":42,"name":"a"}"#,
        ))
        .endpoint(static_data("incomplete")),
        incomplete(row(
            "testKrakenD/partial",
            vec![(b("/"), b4()), (b("/"), b3())],
            r#"{"email":"some@email.com","name":"a"}"#,
        )),
        complete(row(
            "testKrakenD/combination",
            vec![
                (with(b("/"), json!({"is_collection": true, "mapping": {"collection": "posts"}})), b2()),
                (with(b("/"), json!({"mapping": {"email": "personal_email"}})), b3()),
            ],
            r#"{"name":"a","personal_email":"some@email.com","posts":[{"body":"some content","date":"123456789"},{"body":"some other content","date":"123496789"}]}"#,
        )),
        incomplete(row(
            "testKrakenD/detail_error",
            vec![
                (with(b("/"), json!({"extra_config": {HTTP: {"return_error_details": "backend_a"}}})), b4()),
                (with(b("/"), json!({"extra_config": {HTTP: {"return_error_details": "backend_b"}}})), b3()),
            ],
            r#"{"email":"some@email.com","error_backend_a":{"http_status_code":429,"http_body":"sad panda\n","http_body_encoding":"text/plain; charset=utf-8"},"name":"a"}"#,
        )),
        complete(row("testKrakenD/querystring-params-no-params", vec![(b("/no-params"), echoed())], no_headers))
            .echo(0, b6)
            .request("GET", "?a=1&b=2&c=3", "", ""),
        complete(row(
            "testKrakenD/querystring-params-optional-query-params",
            vec![(b("/query-params"), echoed())],
            r#"{"headers":{"Accept-Encoding":["gzip"],"User-Agent":["KrakenD Version undefined"],"X-Forwarded-Host":["lura"]},"path":"/query-params","query":{"a":["1"],"b":["2"]}}"#,
        ))
        .echo(0, b6)
        .endpoint(json!({"input_query_strings": ["a", "b"]}))
        .request("GET", "?a=1&b=2&c=3", "", ""),
        complete(row(
            "testKrakenD/querystring-params-mandatory-query-params",
            vec![(b("/url-params?p={param}"), echoed())],
            r#"{"headers":{"Accept-Encoding":["gzip"],"User-Agent":["KrakenD Version undefined"],"X-Forwarded-Host":["lura"]},"path":"/url-params","query":{"p":["some"]}}"#,
        ))
        .echo(0, b6)
        .endpoint(json!({"endpoint": "/url-params/{param}"}))
        .request("GET", "/url-params/some?a=1&b=2&c=3", "", ""),
        complete(row(
            "testKrakenD/querystring-params-all",
            vec![(b("/all-params"), echoed())],
            r#"{"headers":{"Accept-Encoding":["gzip"],"User-Agent":["KrakenD Version undefined"],"X-Forwarded-Host":["lura"]},"path":"/all-params","query":{"a":["1"],"b":["2"],"c":["3"]}}"#,
        ))
        .echo(0, b6)
        .endpoint(json!({"input_query_strings": ["*"]}))
        .request("GET", "?a=1&b=2&c=3", "", ""),
        complete(row("testKrakenD/header-params-none", vec![(b("/no-params"), echoed())], no_headers))
            .echo(0, b6)
            .request("GET", "", "x-Test-1: some\r\nX-TEST-2: none\r\n", ""),
        complete(row(
            "testKrakenD/header-params-filter",
            vec![(b("/filter-params"), echoed())],
            r#"{"headers":{"Accept-Encoding":["gzip"],"User-Agent":["KrakenD Version undefined"],"X-Forwarded-Host":["lura"],"X-Test-1":["some"]},"path":"/filter-params","query":{}}"#,
        ))
        .echo(0, b6)
        .endpoint(json!({"input_headers": ["X-Test-1"]}))
        .request("GET", "", "x-tESt-1: some\r\nX-TEST-2: none\r\n", ""),
        complete(row(
            "testKrakenD/header-params-all",
            vec![(b("/all-params"), echoed())],
            r#"{"headers":{"Accept-Encoding":["gzip"],"User-Agent":["KrakenD Test"],"X-Forwarded-Host":["lura"],"X-Forwarded-Via":["KrakenD Version undefined"],"X-Test-1":["some"],"X-Test-2":["none"]},"path":"/all-params","query":{}}"#,
        ))
        .echo(0, b6)
        .endpoint(json!({"input_headers": ["*"]}))
        .request("GET", "", "x-Test-1: some\r\nX-TEST-2: none\r\nUser-Agent: KrakenD Test\r\n", ""),
        complete(row(
            "testKrakenD/sequential ok",
            vec![
                (with(b("/provider/{param}"), json!({"group": "first"})), echoed()),
                (with(b("/recipient/{resp0_first.random}"), json!({"group": "second"})), echoed()),
            ],
            r#"{"first":{"path":"/provider/foo","random":42},"second":{"path":"/recipient/42","random":42}}"#,
        ))
        .echo(0, b7)
        .echo(1, b7)
        .endpoint(with(sequential.clone(), json!({"endpoint": "/{param}"})))
        .request("GET", "/foo", "", ""),
        row(
            "testKrakenD/sequential ko first",
            vec![
                (with(b("/provider/{param}"), json!({"allow": ["random"]})), b4()),
                (with(b("/recipient/{resp0_random}"), json!({"allow": ["path"]})), echoed()),
            ],
            "",
        )
        .body(Body::Any)
        .echo(1, b7)
        .endpoint(with(sequential.clone(), json!({"endpoint": "/{param}"})))
        .request("GET", "/foo", "", "")
        .status(500)
        .header("x-krakend-completed", Some("false")),
        incomplete(row(
            "testKrakenD/sequential ko last",
            vec![
                (with(b("/provider/{param}"), json!({"allow": ["random"]})), echoed()),
                (with(b("/recipient/{resp0_random}"), json!({"allow": ["path"]})), b4()),
            ],
            r#"{"random":42}"#,
        ))
        .echo(0, b7)
        .endpoint(with(sequential.clone(), json!({"endpoint": "/{param}"})))
        .request("GET", "/foo", "", ""),
        complete(row("testKrakenD/redirect", vec![(b("/ignore-me"), echoed())], r#"{"path":"/","random":42}"#))
            .echo(0, b8),
        complete(row("testKrakenD/found", vec![(b("/ignore-me"), echoed())], r#"{"path":"/","random":42}"#))
            .echo(0, b9),
        complete(row(
            "testKrakenD/flatmap del",
            vec![(
                with(b("/"), json!({"is_collection": true, "extra_config": {PROXY: {"flatmap_filter": [
                    {"type": "del", "args": ["collection.*.date"]}]}}})),
                b2(),
            )],
            r#"{"collection":[{"body":"some content"},{"body":"some other content"}]}"#,
        )),
        complete(row(
            "testKrakenD/flatmap rename",
            vec![(
                with(b("/"), json!({"is_collection": true, "extra_config": {PROXY: {"flatmap_filter": [
                    {"type": "move", "args": ["collection.*.date", "collection.*.created_at"]}]}}})),
                b2(),
            )],
            r#"{"collection":[{"body":"some content","created_at":"123456789"},{"body":"some other content","created_at":"123496789"}]}"#,
        )),
        complete(row(
            "testKrakenD/x-forwarded-for",
            vec![(b("/"), echoed())],
            r#"{"headers":{"Accept-Encoding":["gzip"],"User-Agent":["KrakenD Version undefined"],"X-Forwarded-For":["123.45.67.89"],"X-Forwarded-Host":["lura"]}}"#,
        ))
        .echo(0, b11)
        .request("GET", "", "x-forwarded-for: 123.45.67.89\r\n", ""),
        complete(row(
            "testKrakenD/sequence-accept",
            vec![
                (with(b("/"), json!({"method": "GET"})), b3()),
                (with(b("/"), json!({"method": "PUT"})), b3()),
            ],
            "",
        ))
        .body(Body::Any)
        .endpoint(sequential.clone())
        .request("PUT", "", "", ""),
        row(
            "testKrakenD/error-status-code-1",
            vec![(with(b("/"), json!({"extra_config": {HTTP: {"return_error_code": true}}})), b3())],
            "",
        )
        .body(Body::Any),
        row(
            "testKrakenD/error-status-code-2",
            vec![(with(b("/"), json!({"extra_config": {HTTP: {"return_error_code": true}}})), b4())],
            "",
        )
        .body(Body::Any)
        .status(429),
        row(
            "testKrakenD/error-status-code-3",
            vec![
                (with(b("/"), json!({"extra_config": {HTTP: {"return_error_code": true}}})), b3()),
                (with(b("/"), json!({"extra_config": {HTTP: {"return_error_code": true}}})), b4()),
            ],
            "",
        )
        .body(Body::Any),
        complete(row(
            "testKrakenD/multipost_parallel",
            vec![
                (with(b("/provider/{param}"), json!({"method": "POST", "group": "first"})), echoed()),
                (with(b("/recipient/{param}"), json!({"method": "POST", "group": "second"})), echoed()),
            ],
            r#"{"first":{"body":"{\"foo\":\"bar\"}","headers":{"Accept-Encoding":["gzip"],"User-Agent":["KrakenD Version undefined"],"X-Forwarded-For":["127.0.0.1"],"X-Forwarded-Host":["lura"]},"method":"POST","url":"/provider/foo"},"second":{"body":"{\"foo\":\"bar\"}","headers":{"Accept-Encoding":["gzip"],"User-Agent":["KrakenD Version undefined"],"X-Forwarded-For":["127.0.0.1"],"X-Forwarded-Host":["lura"]},"method":"POST","url":"/recipient/foo"}}"#,
        ))
        .echo(0, b12)
        .echo(1, b12)
        .endpoint(json!({"endpoint": "/{param}"}))
        .request("POST", "/foo", "", r#"{"foo":"bar"}"#),
        complete(row(
            "testKrakenD/multipost_sequential",
            vec![
                (with(b("/provider/{param}"), json!({"method": "GET", "group": "first"})), echoed()),
                (with(b("/recipient/{resp0_first.random}"), json!({"method": "POST", "group": "second"})), echoed()),
                (with(b("/recipient/{resp0_first.random}"), json!({"method": "POST", "group": "third"})), echoed()),
            ],
            r#"{"first":{"path":"/provider/foo","random":42},"second":{"body":"{\"foo\":\"bar\"}","headers":{"Accept-Encoding":["gzip"],"User-Agent":["KrakenD Version undefined"],"X-Forwarded-For":["127.0.0.1"],"X-Forwarded-Host":["lura"]},"method":"POST","url":"/recipient/42"},"third":{"body":"{\"foo\":\"bar\"}","headers":{"Accept-Encoding":["gzip"],"User-Agent":["KrakenD Version undefined"],"X-Forwarded-For":["127.0.0.1"],"X-Forwarded-Host":["lura"]},"method":"POST","url":"/recipient/42"}}"#,
        ))
        .echo(0, b7)
        .echo(1, b12)
        .echo(2, b12)
        .endpoint(with(sequential, json!({"endpoint": "/{param}"})))
        .request("POST", "/foo", "", r#"{"foo":"bar"}"#),
    ];
    let root = json!({"cache_ttl": "3600s", "timeout": "3s", "extra_config": {
        "github_com/luraproject/lura/router/gin": {"return_error_msg": true}}});
    run_with(
        "test/integration_test.go",
        root,
        cases,
        INTEGRATION_DIFFERENCES,
        Some(fallback),
    );
}

/// Rows where cuttle deliberately answers otherwise.
const INTEGRATION_DIFFERENCES: &[(&str, &str)] = &[(
    "testKrakenD/x-forwarded-for",
    "gin's defaults believe a client's own X-Forwarded-For from any peer; \
     cuttle takes the client address from it only with forwarded_by_client_ip \
     (README, \"The client address behind proxies\"), so the backend gets the peer",
)];
