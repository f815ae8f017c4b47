//! lura's `router/gin/endpoint_test.go` as black-box cases (see
//! `tests/lura_oracle`): status, `Content-Type`, `Cache-Control`,
//! `X-KrakenD-Completed` and the body of the endpoint handler's answer.

mod common;
mod lura_oracle;

use common::text;
use lura_oracle::{Body, Case, after, ok, plain, run};
use serde_json::json;

fn ko() -> common::Reply {
    common::json(500, r#"{"error":"ko"}"#)
}

/// The endpoint of lura's `endpointHandlerTestCase`: a six hours cache and
/// three query strings.
fn endpoint() -> serde_json::Value {
    json!({"cache_ttl": "6h", "input_query_strings": ["b", "c[]", "d"]})
}

/// A backend answering 418 with `body` (`content_type`), its status passed
/// on (`return_error_code`: lura's `responseError`).
fn teapot(content_type: &str, body: &str) -> (serde_json::Value, common::Reply) {
    (
        json!({"extra_config": {"backend/http": {"return_error_code": true}}}),
        text(418, content_type, body),
    )
}

/// The cases without `return_error_msg`. Not translated:
/// `_okAllParams` (a backend echoing the request), `_errored_withHeaders`
/// (no HTTP backend error carries headers in lura), `_cancel` (data arriving
/// after the deadline is never read from a real backend), `_noop` (an
/// endpoint without backends is refused by KrakenD's config too) and
/// `TestCustomErrorEndpointHandler` (a Go error mapper).
#[test]
fn endpoint_handler() {
    let incomplete = |name| {
        Case::new(
            name,
            vec![(plain(), ok(json!({"foo": "bar"}))), (plain(), ko())],
            json!({"foo": "bar"}),
        )
        .endpoint(endpoint())
        .header("content-type", Some("application/json; charset=utf-8"))
        .header("cache-control", None)
        .header("x-krakend-completed", Some("false"))
    };
    let cases = vec![
        Case::new(
            "TestEndpointHandler_ok",
            vec![(plain(), ok(json!({"supu": "tupu"})))],
            json!(null),
        )
        .endpoint(endpoint())
        .request("GET", "?a=42&b=1&c[]=x&c[]=y&d=1&d=2", "", "")
        .body(Body::Text(r#"{"supu":"tupu"}"#))
        .header("content-type", Some("application/json; charset=utf-8"))
        .header("cache-control", Some("public, max-age=21600"))
        .header("x-krakend-completed", Some("true"))
        // lura's Request.Query is url.Values: encoded sorted by key.
        .seen(0, "?b=1&c%5B%5D=x&c%5B%5D=y&d=1&d=2"),
        incomplete("TestEndpointHandler_incomplete"),
        incomplete("TestEndpointHandler_incompleteAndErrored"),
        Case::new(
            "TestEndpointHandler_errored",
            vec![(plain(), ko())],
            json!(null),
        )
        .endpoint(endpoint())
        .status(500)
        .body(Body::Text(""))
        .header("content-type", None)
        .header("cache-control", None)
        .header("x-krakend-completed", Some("false")),
        Case::new(
            "TestEndpointHandler_errored_responseError",
            vec![teapot("text/plain", "this is a dummy error")],
            json!(null),
        )
        .endpoint(endpoint())
        .status(418)
        .body(Body::Text(""))
        .header("content-type", None)
        .header("x-krakend-completed", Some("false")),
        Case::new(
            "TestEndpointHandler_cancelEmpty",
            vec![(plain(), after(3000, ok(json!({"foo": "bar"}))))],
            json!(null),
        )
        .endpoint(json!({"timeout": "300ms"}))
        .status(500)
        .body(Body::Text(""))
        .header("x-krakend-completed", Some("false")),
    ];
    run("router/gin/endpoint_test.go", json!({}), cases, &[]);
}

/// The cases with `return_error_msg` (a router-wide option, hence a table
/// of its own).
#[test]
fn endpoint_handler_error_messages() {
    let cases = vec![
        Case::new(
            "TestEndpointHandler_errored_responseError/return_error_msg",
            vec![teapot("text/plain", "this is a dummy error")],
            json!(null),
        )
        .status(418)
        .body(Body::Text("this is a dummy error"))
        .header("x-krakend-completed", Some("false")),
        Case::new(
            "TestEndpointHandler_errored_encodedResponseError",
            vec![teapot(
                "application/json",
                r#"{ "message": "this is a dummy error" }"#,
            )],
            json!(null),
        )
        .status(418)
        .body(Body::Text(r#"{ "message": "this is a dummy error" }"#))
        .header("content-type", Some("application/json"))
        .header("x-krakend-completed", Some("false")),
    ];
    run(
        "router/gin/endpoint_test.go (return_error_msg)",
        json!({"extra_config": {"router": {"return_error_msg": true}}}),
        cases,
        &[],
    );
}

fn rendered(
    name: &'static str,
    encoding: &str,
    backend: common::Reply,
    accept: &'static str,
    content_type: Option<&'static str>,
    body: &'static str,
) -> Case {
    Case::new(name, vec![(plain(), backend)], json!(null))
        .endpoint(json!({"endpoint": "/{param}", "cache_ttl": "6h",
            "input_query_strings": ["b"], "output_encoding": encoding}))
        .request("GET", "/a?b=1", accept, "")
        .header("content-type", content_type)
        .body(Body::Text(body))
}

/// lura `router/gin/render_test.go`: output encodings. lura's
/// `_Negotiated_ok` data is a Go struct (`A{B}`), which YAML writes as `b`
/// and XML as `<A>`; from an HTTP backend it is a JSON object, so the rows
/// answer `{"content":{"B":"supu"}}` and the XML rows (struct-only) are
/// not translated, nor `_noResponse`, `_noop_nilResponse` and the third
/// `_string_noData` proxy (a nil response no HTTP backend gives) or
/// `TestRegisterRender` (a Go render).
#[test]
fn render() {
    let struct_like = || ok(json!({"content": {"B": "supu"}}));
    let negotiated = |name, accept, content_type, body| {
        rendered(
            name,
            "negotiate",
            struct_like(),
            accept,
            Some(content_type),
            body,
        )
        .header("cache-control", Some("public, max-age=21600"))
    };
    let empty = |name, accept, content_type, body| {
        rendered(
            name,
            "negotiate",
            ok(json!({})),
            accept,
            Some(content_type),
            body,
        )
    };
    let unknown = |name, accept| {
        rendered(
            name,
            "unknown",
            ok(json!({"supu": "tupu"})),
            accept,
            Some("application/json; charset=utf-8"),
            r#"{"supu":"tupu"}"#,
        )
        .header("cache-control", Some("public, max-age=21600"))
    };
    let string = |name, accept| {
        rendered(
            name,
            "string",
            ok(json!({"content": "supu"})),
            accept,
            Some("text/plain; charset=utf-8"),
            "supu",
        )
        .header("cache-control", Some("public, max-age=21600"))
    };
    let cases = vec![
        negotiated(
            "TestRender_Negotiated_ok/plain",
            "Accept: text/plain\r\n",
            "application/yaml; charset=utf-8",
            "content:\n  B: supu\n",
        ),
        negotiated(
            "TestRender_Negotiated_ok/none",
            "",
            "application/json; charset=utf-8",
            r#"{"content":{"B":"supu"}}"#,
        ),
        negotiated(
            "TestRender_Negotiated_ok/json",
            "Accept: application/json\r\n",
            "application/json; charset=utf-8",
            r#"{"content":{"B":"supu"}}"#,
        ),
        empty(
            "TestRender_Negotiated_noData/plain",
            "Accept: text/plain\r\n",
            "application/yaml; charset=utf-8",
            "{}\n",
        ),
        empty(
            "TestRender_Negotiated_noData/none",
            "",
            "application/json; charset=utf-8",
            "{}",
        ),
        empty(
            "TestRender_Negotiated_noData/json",
            "Accept: application/json\r\n",
            "application/json; charset=utf-8",
            "{}",
        ),
        unknown("TestRender_unknown/plain", "Accept: text/plain\r\n"),
        unknown("TestRender_unknown/none", ""),
        unknown("TestRender_unknown/json", "Accept: application/json\r\n"),
        unknown("TestRender_unknown/unknown", "Accept: unknown\r\n"),
        string("TestRender_string/plain", "Accept: text/plain\r\n"),
        string("TestRender_string/none", ""),
        string("TestRender_string/json", "Accept: application/json\r\n"),
        string("TestRender_string/unknown", "Accept: unknown\r\n"),
        rendered(
            "TestRender_string_noData/0",
            "string",
            ok(json!({"content": 42})),
            "",
            Some("text/plain; charset=utf-8"),
            "",
        ),
        rendered(
            "TestRender_string_noData/1",
            "string",
            ok(json!({})),
            "",
            Some("text/plain; charset=utf-8"),
            "",
        ),
        Case::new(
            "TestRender_noop",
            vec![(
                json!({"encoding": "no-op"}),
                common::Reply::Full(
                    200,
                    vec![
                        ("Content-Type".into(), "text/plain; charset=utf-8".into()),
                        ("Set-Cookie".into(), "test1=test1".into()),
                        ("Set-Cookie".into(), "test2=test2".into()),
                    ],
                    b"supu".to_vec(),
                ),
            )],
            json!(null),
        )
        .endpoint(json!({"endpoint": "/{param}", "output_encoding": "no-op"}))
        .request("GET", "/a?b=1", "", "")
        .header("content-type", Some("text/plain; charset=utf-8"))
        .header_values("set-cookie", &["test1=test1", "test2=test2"])
        .body(Body::Text("supu")),
        Case::new(
            "TestRender_noop_nilBody",
            vec![(
                json!({"encoding": "no-op"}),
                common::Reply::Full(200, vec![], vec![]),
            )],
            json!(null),
        )
        .endpoint(json!({"endpoint": "/{param}", "output_encoding": "no-op"}))
        .request("GET", "/a?b=1", "", "")
        .header("content-type", None)
        .body(Body::Text("")),
    ];
    run("router/gin/render_test.go", json!({}), cases, &[]);
}

/// lura `router/gin/router_test.go` `TestDefaultFactory_ok`: one path
/// served for five methods (written in any case), each answering its
/// backend's data, and `auto_options` listing them sorted in `Allow`.
#[test]
fn default_factory_ok() {
    let backend = common::Backend::start(|_| ok(json!({"supu": "tupu"})));
    let methods = ["GET", "post", "put", "PATCH", "DELETE"];
    let endpoints: Vec<serde_json::Value> = methods
        .iter()
        .map(|m| {
            json!({"endpoint": "/some", "method": m,
                "backend": [{"host": [backend.url()], "url_pattern": "/"}]})
        })
        .collect();
    let gw = common::Gateway::start(
        &json!({"version": 3, "endpoints": endpoints,
            "extra_config": {"router": {"auto_options": true}}})
        .to_string(),
    );
    for m in methods {
        let method = m.to_uppercase();
        let length = if method == "GET" {
            ""
        } else {
            "Content-Length: 0\r\n"
        };
        let mut client = gw.client();
        client.send(
            format!("{method} /some HTTP/1.1\r\nHost: lura\r\nContent-Type: application/json\r\n{length}\r\n")
                .as_bytes(),
        );
        let r = client.response_to(&method).expect("a response");
        assert_eq!(r.status, 200, "{method}: {}", r.text());
        assert_eq!(r.text(), r#"{"supu":"tupu"}"#, "{method}");
        assert_eq!(r.header("cache-control"), None, "{method}");
        assert_eq!(r.header("x-krakend-completed"), Some("true"), "{method}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{method}"
        );
    }
    let r =
        gw.raw(b"OPTIONS /some HTTP/1.1\r\nHost: lura\r\nContent-Type: application/json\r\n\r\n");
    assert_eq!(
        r.header("allow"),
        Some("DELETE, GET, PATCH, POST, PUT"),
        "{r:?}"
    );
}

/// lura `router/gin/router_test.go` `TestDefaultFactory_ko`: an endpoint
/// whose method is not one lura serves is left out (logged), so its path
/// answers gin's 404. lura's bare router adds no `X-Krakend` to a 404;
/// KrakenD CE's router engine does, so that header is not checked. Not
/// translated: its `/empty` endpoint (no backends: refused by `check`, as by
/// lura's `Init`), `_proxyFactoryCrash` and `TestRunServer_ko` (Go
/// factories and a port already taken).
#[test]
fn default_factory_ko() {
    let not_found = |name, method: &'static str, backends| {
        Case::new(name, backends, json!(null))
            .endpoint(json!({"method": method}))
            .request(if method == "GETTT" { "GET" } else { "PUT" }, "", "", "")
            .status(404)
            .header("content-type", Some("text/plain"))
            .header("cache-control", None)
            .body(Body::Text("404 page not found"))
    };
    let cases = vec![
        not_found(
            "TestDefaultFactory_ko/ignored",
            "GETTT",
            vec![(plain(), ok(json!({})))],
        ),
        not_found(
            "TestDefaultFactory_ko/also-ignored",
            "PUTT",
            vec![(plain(), ok(json!({}))), (plain(), ok(json!({})))],
        ),
    ];
    run("router/gin/router_test.go", json!({}), cases, &[]);
}

/// lura `router/gin/debug_test.go` `TestDebugHandler` and
/// `router/gin/echo_test.go` `TestEchoHandler`, served at `/__debug/` (with
/// `-d`) and `/__echo/` (`echo_endpoint`), as KrakenD CE mounts them. lura's
/// echo test builds its request with `httptest.NewRequest` (no Host
/// header, no Content-Length header, an absolute URI); a request from a
/// real client carries both headers and the path as its URI, so those three
/// fields follow from lura's `EchoHandler` rather than from the test's
/// literal strings.
#[test]
fn debug_and_echo_handlers() {
    let gw = common::Gateway::start_with(
        r#"{"version": 3, "echo_endpoint": true, "endpoints": []}"#,
        &["--cores", "1", "-d"],
    );
    let r = gw.raw(
        b"GET /__debug/a?b=1 HTTP/1.1\r\nHost: lura\r\nContent-Type: application/json\r\n\r\n",
    );
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, r#"{"message":"pong"}"#),
        "TestDebugHandler"
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.header("cache-control"), None);

    let details = r#""req_uri":"/__echo/a?b=1","req_uri_details":{"fragment":"","host":"lura","path":"/__echo/a","query":"b=1","user":""},"req_method":"GET","req_querystring":{"b":["1"]}"#;
    for (name, body, headers) in [
        (
            "json body",
            r#"{"message":"some body to send"}"#,
            r#"{"Content-Length":["31"],"Content-Type":["application/json"]}"#,
        ),
        ("no body", "", r#"{"Content-Type":["application/json"]}"#),
        (
            "string body",
            "Hello lura",
            r#"{"Content-Length":["10"],"Content-Type":["application/json"]}"#,
        ),
    ] {
        let length = if body.is_empty() {
            String::new()
        } else {
            format!("Content-Length: {}\r\n", body.len())
        };
        let r = gw.raw(
            format!("GET /__echo/a?b=1 HTTP/1.1\r\nHost: lura\r\nContent-Type: application/json\r\n{length}\r\n{body}")
                .as_bytes(),
        );
        let want = format!(
            "{{{details},\"req_body\":{},\"req_headers\":{headers}}}",
            serde_json::to_string(body).unwrap()
        );
        assert_eq!(r.status, 200, "TestEchoHandler/{name}");
        assert_eq!(r.text(), want, "TestEchoHandler/{name}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(r.header("cache-control"), None);
    }
}

/// lura `router/gin/engine_test.go` `TestNewEngine_paramsAreChecked`: a
/// path parameter still percent-encoded is refused with 400 and lura's
/// message (`paramChecker`). `_contextIsPropagated` checks a Go context.
#[test]
fn params_are_checked() {
    let row = |name, path: &'static str, status, body: &'static str| {
        Case::new(
            name,
            vec![(plain(), text(200, "text/plain", "ok"))],
            json!(null),
        )
        .endpoint(json!({"endpoint": "/user/{id}/public", "output_encoding": "no-op"}))
        .backends_no_op()
        .request("GET", path, "", "")
        .status(status)
        .body(Body::Text(body))
    };
    let cases = vec![
        row(
            "TestNewEngine_paramsAreChecked/123",
            "/user/123/public",
            200,
            "ok",
        ),
        row(
            "TestNewEngine_paramsAreChecked/123%3f",
            "/user/123%3f/public",
            400,
            "error: encoded url params",
        ),
        row(
            "TestNewEngine_paramsAreChecked/123%23",
            "/user/123%23/public",
            400,
            "error: encoded url params",
        ),
    ];
    run("router/gin/engine_test.go", json!({}), cases, &[]);
}
