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
