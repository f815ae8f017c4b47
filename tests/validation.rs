//! `validation/json-schema` and `validation/cel` through the real gateway,
//! against real backends: what is refused, with which answer, and which
//! backends are (not) called.

mod common;
#[path = "common/jwt.rs"]
mod jwt;

use common::{Backend, Gateway, Response, json};

/// A config whose root turns `router.return_error_msg` on or off.
fn config(return_error_msg: bool, endpoints: &str) -> String {
    format!(
        r#"{{"version": 3, "timeout": "2s", "extra_config": {{"router": {{"return_error_msg": {return_error_msg}}}}}, "endpoints": {endpoints}}}"#
    )
}

fn post(gw: &Gateway, path: &str, body: &str) -> Response {
    gw.raw(
        format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn get(gw: &Gateway, target: &str, headers: &str) -> Response {
    gw.raw(format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n").as_bytes())
}

/// KrakenD's answer to a refused request: status, text body, not completed.
fn assert_refused(resp: &Response, status: u16, body: &str) {
    assert_eq!(resp.status, status, "{}", resp.text());
    assert_eq!(resp.text(), body);
    assert_eq!(resp.header("X-KrakenD-Completed"), Some("false"));
    assert_eq!(
        resp.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(resp.header("Cache-Control"), None);
}

#[test]
fn bodies_are_checked_against_schemas_of_several_drafts() {
    let svc = Backend::start(|_| json(200, r#"{"created": true}"#));
    let endpoint = |path: &str, schema: &str| {
        format!(
            r#"{{"endpoint": "{path}", "method": "POST", "backend": [{{"host": ["{}"], "url_pattern": "/users"}}],
                "extra_config": {{"validation/json-schema": {schema}}}}}"#,
            svc.url()
        )
    };
    let endpoints = [
        endpoint(
            "/draft4",
            r#"{"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
                "required": ["name"], "properties": {"age": {"type": "integer", "minimum": 0, "exclusiveMinimum": true}}}"#,
        ),
        endpoint(
            "/draft7",
            r#"{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "properties": {"tags": {"type": "array", "items": {"enum": ["a", "b"]}}},
                "if": {"required": ["admin"]}, "then": {"required": ["reason"]}}"#,
        ),
        endpoint(
            "/draft2020",
            r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "array",
                "prefixItems": [{"type": "string"}], "items": false}"#,
        ),
    ]
    .join(",");
    let gw = Gateway::start(&config(true, &format!("[{endpoints}]")));

    let ok = post(&gw, "/draft4", r#"{"name": "ann", "age": 3}"#);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json(), serde_json::json!({"created": true}));
    assert_eq!(svc.requests().len(), 1);
    assert_eq!(svc.requests()[0].body, br#"{"name": "ann", "age": 3}"#);

    let rows: &[(&str, &str, &str)] = &[
        (
            "/draft4",
            r#"{"age": 0}"#,
            "- (root): name is required\n- age: Must be greater than 0",
        ),
        (
            "/draft4",
            r#"[1]"#,
            "- (root): Invalid type. Expected: object, given: array",
        ),
        (
            "/draft7",
            r#"{"tags": ["a", "c"], "admin": true}"#,
            "- tags.1: tags.1 must be one of the following: \"a\", \"b\"\n- (root): reason is required",
        ),
        (
            "/draft2020",
            r#"["x", 2]"#,
            "- 1: False always fails validation",
        ),
        ("/draft7", "", "could not validate an empty body"),
    ];
    for (path, body, want) in rows {
        let resp = post(&gw, path, body);
        assert_refused(&resp, 400, want);
    }
    let malformed = post(&gw, "/draft7", "{\"tags\": [");
    assert_eq!(malformed.status, 400);
    assert!(
        malformed
            .text()
            .starts_with("could not parse the body as JSON"),
        "{}",
        malformed.text()
    );
    assert_eq!(
        svc.requests().len(),
        1,
        "no refused body reached the backend"
    );
    assert_eq!(post(&gw, "/draft2020", r#"["x"]"#).status, 200);
    assert_eq!(
        post(&gw, "/draft7", r#"{"admin": 1, "reason": "x"}"#).status,
        200
    );
}

#[test]
fn without_return_error_msg_refusals_have_no_text() {
    let svc = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let gw = Gateway::start(&config(
        false,
        &format!(
            r#"[{{"endpoint": "/schema", "method": "POST", "backend": [{{"host": ["{0}"], "url_pattern": "/"}}],
                  "extra_config": {{"validation/json-schema": {{"type": "number"}}}}}},
                {{"endpoint": "/cel", "backend": [{{"host": ["{0}"], "url_pattern": "/"}}],
                  "extra_config": {{"validation/cel": [{{"check_expr": "req_method == 'POST'"}}]}}}}]"#,
            svc.url()
        ),
    ));
    assert_refused(&post(&gw, "/schema", r#"{"foo": 42}"#), 400, "");
    assert_refused(&gw.get("/cel"), 500, "");
    assert!(svc.requests().is_empty());
}

#[test]
fn cel_checks_the_request_before_any_backend_is_called() {
    let svc = Backend::start(|_| json(200, r#"{"name": "ann"}"#));
    let checks = [
        // Placeholders are capitalised as lura does: {id_user} is Id_user.
        "req_params.Id_user.matches('^[0-9]+$')",
        // Header names in canonical form, values as lists.
        "'acme' in req_headers['X-Tenant']",
        // Query strings as lists, not capitalised; only the forwarded ones.
        "!('limit' in req_querystring) || int(req_querystring.limit[0]) <= 100",
        "req_method == 'GET' && req_path.startsWith('/users/')",
        "!('X-Secret' in req_headers)",
        "'foo[]' in req_querystring ? size(req_querystring['foo[]']) == 2 : true",
    ]
    .map(|c| format!(r#"{{"check_expr": "{c}"}}"#))
    .join(",");
    let gw = Gateway::start(&config(
        true,
        &format!(
            r#"[{{"endpoint": "/users/{{id_user}}", "input_headers": ["X-Tenant"], "input_query_strings": ["limit", "foo[]"],
                  "backend": [{{"host": ["{}"], "url_pattern": "/u/{{id_user}}"}}],
                  "extra_config": {{"validation/cel": [{checks}]}}}}]"#,
            svc.url()
        ),
    ));
    let ok = get(
        &gw,
        "/users/42?limit=10&foo[]=a&foo[]=b",
        "x-tenant: acme\r\nX-Secret: 1\r\n",
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json(), serde_json::json!({"name": "ann"}));
    assert_eq!(svc.requests().len(), 1);

    let rows: &[(&str, &str, usize)] = &[
        ("/users/abc", "X-Tenant: acme\r\n", 0),
        ("/users/42", "", 1),
        ("/users/42", "X-Tenant: other\r\n", 1),
        ("/users/42?limit=1000", "X-Tenant: acme\r\n", 2),
        // An evaluation error (int() of a word) fails the check.
        ("/users/42?limit=many", "X-Tenant: acme\r\n", 2),
        ("/users/42?foo[]=a", "X-Tenant: acme\r\n", 5),
    ];
    for (target, headers, index) in rows {
        let resp = get(&gw, target, headers);
        assert_refused(
            &resp,
            500,
            &format!("request aborted by evaluator #{index}"),
        );
    }
    assert_eq!(
        svc.requests().len(),
        1,
        "no refused request reached the backend"
    );
}

#[test]
fn cel_checks_the_merged_response() {
    let svc = Backend::start(|seen| match seen.path() {
        "/p/ann" => json(200, r#"{"name": "ann", "active": true}"#),
        "/p/bob" => json(200, r#"{"name": "bob", "active": false}"#),
        _ => json(404, "{}"),
    });
    let gw = Gateway::start(&config(
        true,
        &format!(
            r#"[{{"endpoint": "/profile/{{who}}", "backend": [{{"host": ["{}"], "url_pattern": "/p/{{who}}", "group": "user"}}],
                  "extra_config": {{"validation/cel": [
                      {{"check_expr": "req_params.Who != 'eve'"}},
                      {{"check_expr": "size(resp_metadata_headers) == 0 && resp_metadata_status == 0"}},
                      {{"check_expr": "resp_completed && resp_data.user.active == true"}}]}}}}]"#,
            svc.url()
        ),
    ));
    let ok = gw.get("/profile/ann");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(
        ok.json(),
        serde_json::json!({"user": {"name": "ann", "active": true}})
    );
    // The response checks are numbered apart from the request's.
    assert_refused(
        &gw.get("/profile/bob"),
        500,
        "request aborted by evaluator #1",
    );
    // A failed backend ends the request before the response checks, as
    // in KrakenD (krakend-cel only checks what its inner pipe returned).
    let failed = gw.get("/profile/carl");
    assert_eq!(failed.status, 500);
    assert!(
        failed.text().starts_with("invalid status code 404"),
        "{}",
        failed.text()
    );
    assert_refused(
        &gw.get("/profile/eve"),
        500,
        "request aborted by evaluator #0",
    );
    assert_eq!(
        svc.requests().len(),
        3,
        "eve was refused before the backend"
    );
}

#[test]
fn backend_checks_skip_the_call_or_drop_its_data() {
    let one = Backend::start(|_| json(200, r#"{"one": true}"#));
    let two = Backend::start(|seen| match seen.path() {
        "/two/7" => json(200, r#"{"bad": true}"#),
        _ => json(200, r#"{"ok": true}"#),
    });
    let gw = Gateway::start(&config(
        true,
        &format!(
            r#"[{{"endpoint": "/agg/{{id}}", "backend": [
                  {{"host": ["{}"], "url_pattern": "/one/{{id}}", "group": "b1",
                    "extra_config": {{"validation/cel": [{{"check_expr": "int(req_params.Id) % 2 == 0 && req_path == '/one/' + req_params.Id"}}]}}}},
                  {{"host": ["{}"], "url_pattern": "/two/{{id}}", "group": "b2",
                    "extra_config": {{"validation/cel": [{{"check_expr": "has(resp_data.b2.ok)"}}]}}}}]}}]"#,
            one.url(),
            two.url()
        ),
    ));
    let both = gw.get("/agg/4");
    assert_eq!(both.status, 200);
    assert_eq!(both.header("X-KrakenD-Completed"), Some("true"));
    assert_eq!(
        both.json(),
        serde_json::json!({"b1": {"one": true}, "b2": {"ok": true}})
    );

    // Odd: backend one is not called and the response is incomplete.
    let odd = gw.get("/agg/5");
    assert_eq!(odd.status, 200);
    assert_eq!(odd.header("X-KrakenD-Completed"), Some("false"));
    assert_eq!(odd.json(), serde_json::json!({"b2": {"ok": true}}));
    assert_eq!(one.requests().len(), 1);

    // Backend two's data fails its response check and is dropped; backend
    // one is skipped too: nothing is left, so the endpoint fails.
    let neither = gw.get("/agg/7");
    assert_eq!(neither.status, 500);
    // Both backends' errors, one per line (lura's `mergeError`).
    assert_eq!(
        neither.text(),
        "request aborted by evaluator #0\nrequest aborted by evaluator #0"
    );
    assert_eq!(two.requests().len(), 3);

    let dropped = gw.get("/agg/8");
    assert_eq!(dropped.status, 200);
    assert_eq!(dropped.header("X-KrakenD-Completed"), Some("true"));
}

#[test]
fn checks_on_claims_fail_closed_without_a_validated_token() {
    let svc = Backend::start(|_| json(200, "{}"));
    let gw = Gateway::start(&config(
        true,
        &format!(
            r#"[{{"endpoint": "/claims", "backend": [{{"host": ["{}"], "url_pattern": "/"}}],
                  "extra_config": {{"validation/cel": [{{"check_expr": "size(JWT.roles) > 1"}}]}}}}]"#,
            svc.url()
        ),
    ));
    let resp = gw.get("/claims");
    assert_eq!(resp.status, 401);
    assert!(resp.body.is_empty());
    assert!(svc.requests().is_empty());
}

/// `cuttle check` on a file: its exit status and stderr.
fn check(config: &str) -> (bool, String) {
    let dir = common::TempDir::new();
    let path = dir.0.join("krakend.json");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), text)
}

#[test]
fn bad_expressions_and_schemas_are_config_errors() {
    let endpoint = |output: &str, extra: &str, backend_extra: &str| {
        config(
            true,
            &format!(
                r#"[{{"endpoint": "/x", "output_encoding": "{output}", "extra_config": {{{extra}}},
                     "backend": [{{"host": ["http://127.0.0.1:1"], "url_pattern": "/", "extra_config": {{{backend_extra}}}}}]}}]"#
            ),
        )
    };
    let rows: &[(String, &[&str])] = &[
        (
            endpoint(
                "json",
                r#""validation/cel": [{"check_expr": "true"}, {"check_expr": "req_params.Id =="}]"#,
                "",
            ),
            &[
                "endpoints[0].extra_config.validation/cel[1].check_expr",
                "not a valid CEL expression",
            ],
        ),
        (
            endpoint(
                "json",
                "",
                r#""validation/cel": [{"check_expr": "resp_headers.x"}]"#,
            ),
            &[
                "endpoints[0].backend[0].extra_config.validation/cel[0].check_expr",
                "unknown variable `resp_headers`",
            ],
        ),
        (
            endpoint("json", r#""validation/cel": {"check_expr": "true"}"#, ""),
            &[
                "endpoints[0].extra_config.validation/cel",
                "must be an array",
            ],
        ),
        (
            endpoint("json", r#""validation/json-schema": {"type": "numbr"}"#, ""),
            &[
                "endpoints[0].extra_config.validation/json-schema",
                "not a valid JSON Schema",
            ],
        ),
        (
            endpoint(
                "no-op",
                r#""validation/cel": [{"check_expr": "has(resp_data.x)"}]"#,
                "",
            ),
            &["endpoints[0].extra_config.validation/cel", "no-op"],
        ),
        (
            endpoint(
                "json",
                "",
                r#""validation/json-schema": {"type": "object"}"#,
            ),
            &[
                "endpoints[0].backend[0].extra_config.validation/json-schema",
                "not implemented",
            ],
        ),
    ];
    for (file, fragments) in rows {
        let (ok, text) = check(file);
        assert!(!ok, "{file}");
        for fragment in *fragments {
            assert!(text.contains(fragment), "{fragment:?} not in {text}");
        }
    }
    let (ok, text) = check(&endpoint(
        "json",
        r#""validation/cel": [{"check_expr": "req_method == 'GET'"}], "validation/json-schema": {"type": "object"}"#,
        r#""validation/cel": [{"check_expr": "has(resp_data.x)"}]"#,
    ));
    assert!(ok, "{text}");
}

#[test]
fn no_op_endpoints_check_the_request_too() {
    let svc = Backend::start(|_| common::text(200, "text/plain", "streamed"));
    let gw = Gateway::start(&config(
        true,
        &format!(
            r#"[{{"endpoint": "/raw/{{id}}", "output_encoding": "no-op",
                  "extra_config": {{"validation/cel": [{{"check_expr": "req_params.Id != 'x'"}}]}},
                  "backend": [{{"host": ["{}"], "url_pattern": "/r/{{id}}",
                    "extra_config": {{"validation/cel": [{{"check_expr": "req_path == '/r/1'"}}]}}}}]}}]"#,
            svc.url()
        ),
    ));
    let ok = gw.get("/raw/1");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.text(), "streamed");
    assert_refused(&gw.get("/raw/x"), 500, "request aborted by evaluator #0");
    let skipped = gw.get("/raw/2");
    assert_eq!(skipped.status, 500);
    assert_eq!(skipped.text(), "request aborted by evaluator #0");
    assert_eq!(svc.requests().len(), 1, "only /raw/1 reached the backend");
}

#[test]
fn cel_reads_the_verified_claims_and_the_propagated_headers() {
    let key = jwt::generate(cuttle::auth::Alg::HS256, "k1");
    let set = jwt::jwks(&[&key]);
    let jwks = Backend::start(move |_| json(200, &set));
    let svc = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let gw = Gateway::start(&config(
        true,
        &format!(
            r#"[{{"endpoint": "/me", "input_headers": ["X-User"],
                  "extra_config": {{
                    "auth/validator": {{"alg": "HS256", "jwk_url": "{}/jwks", "disable_jwk_security": true,
                                        "propagate_claims": [["sub", "X-User"]]}},
                    "validation/cel": [{{"check_expr": "size(JWT.roles) > 1 && JWT.sub.startsWith('user-')"}},
                                       {{"check_expr": "req_method == 'GET'"}}]}},
                  "backend": [{{"host": ["{}"], "url_pattern": "/me",
                    "extra_config": {{"validation/cel": [{{"check_expr": "req_headers['X-User'][0] == 'user-1'"}}]}}}}]}}]"#,
            jwks.url(),
            svc.url()
        ),
    ));
    let call = |claims: serde_json::Value| {
        let token = jwt::token(&key, &claims);
        gw.raw(
            format!("GET /me HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer {token}\r\nX-User: forged\r\n\r\n")
                .as_bytes(),
        )
    };
    let exp = jwt::now() + 600;
    // The JWK set is fetched in the background: wait for the first 200.
    let mut ok = None;
    common::within(std::time::Duration::from_secs(10), || {
        let resp = call(serde_json::json!({"sub": "user-1", "roles": ["a", "b"], "exp": exp}));
        let done = resp.status == 200;
        ok = Some(resp);
        done
    });
    let ok = ok.expect("one call at least");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(svc.requests()[0].header("x-user"), Some("user-1"));
    // One role: the claims check fails as KrakenD's JWT rejecter does.
    let one_role = call(serde_json::json!({"sub": "user-1", "roles": ["a"], "exp": exp}));
    assert_eq!(one_role.status, 401);
    assert!(one_role.body.is_empty());
    // Another subject passes the endpoint checks but not the backend's,
    // which sees the propagated claim, not the client's X-User.
    let other = call(serde_json::json!({"sub": "user-2", "roles": ["a", "b"], "exp": exp}));
    assert_eq!(other.status, 500);
    assert_eq!(other.text(), "request aborted by evaluator #0");
    assert_eq!(svc.requests().len(), 1);
}
