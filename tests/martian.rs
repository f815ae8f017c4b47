//! `modifier/martian` (krakend-martian over google/martian v2.1.0) on a
//! backend: what the backend receives after the request modifiers, what
//! the client gets after the response ones, and what `check` refuses.

mod common;

use std::process::Command;

use common::{Backend, Gateway, Reply, TempDir, config, json};

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// One endpoint `path` whose backend has `martian` (a JSON object text).
fn endpoint(path: &str, backend: &Backend, extra: &str, martian: &str) -> String {
    format!(
        r#"{{"endpoint": "{path}", {extra} "backend": [{{"host": ["{}"], "url_pattern": "/b{path}",
            "extra_config": {{"modifier/martian": {martian}}}}}]}}"#,
        backend.url()
    )
}

#[test]
fn request_header_modifiers_in_a_fifo_group_reach_the_backend() {
    let backend = Backend::start(|_| json(200, "{}"));
    let martian = r#"{"fifo.Group": {"scope": ["request", "response"], "aggregateErrors": true, "modifiers": [
        {"header.Modifier": {"name": "X-Set", "value": "set"}},
        {"header.Append": {"name": "X-Add", "value": "two"}},
        {"header.Blacklist": {"names": ["X-Gone"]}},
        {"header.Copy": {"from": "X-Src", "to": "X-Dst"}}]}}"#;
    let gw = Gateway::start(&config(&format!(
        "[{}]",
        endpoint(
            "/h",
            &backend,
            r#""input_headers": ["X-Set", "X-Add", "X-Gone", "X-Src"],"#,
            martian
        )
    )));
    let r = gw.raw(
        b"GET /h HTTP/1.1\r\nHost: h\r\nX-Set: client\r\nX-Add: one\r\nX-Gone: secret\r\nX-Src: copied\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let seen = &backend.requests()[0];
    assert_eq!(seen.header("X-Set"), Some("set"), "{seen:?}");
    let added: Vec<_> = seen
        .headers
        .iter()
        .filter(|(n, _)| n == "x-add")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(added, ["one", "two"]);
    assert_eq!(seen.header("X-Gone"), None);
    assert_eq!(seen.header("X-Dst"), Some("copied"));
    assert_eq!(seen.header("X-Src"), Some("copied"));
}

/// The client never sees a merged endpoint's backend headers (as in
/// KrakenD), so the response header modifiers are observed through a
/// `header.Filter` on the response choosing the body the client gets.
#[test]
fn response_header_modifiers_edit_what_response_filters_see() {
    let backend = Backend::start(|_| {
        Reply::Full(
            200,
            vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Secret".into(), "s".into()),
                ("X-Src".into(), "v".into()),
                ("X-App".into(), "1".into()),
            ],
            br#"{"original": true}"#.to_vec(),
        )
    });
    let probe = |first: &str, name: &str, value: &str| {
        format!(
            r#"{{"fifo.Group": {{"scope": ["response"], "modifiers": [{first},
                {{"header.Filter": {{"name": "{name}", "value": "{value}",
                    "modifier": {{"body.Modifier": {{"contentType": "application/json", "body": "{}"}}}},
                    "else": {{"body.Modifier": {{"contentType": "application/json", "body": "{}"}}}}}}}}]}}}}"#,
            b64(r#"{"hit": true}"#),
            b64(r#"{"hit": false}"#)
        )
    };
    let endpoints = [
        endpoint(
            "/set",
            &backend,
            "",
            &probe(
                r#"{"header.Modifier": {"name": "X-Set", "value": "1"}}"#,
                "X-Set",
                "1",
            ),
        ),
        endpoint(
            "/append",
            &backend,
            "",
            &probe(
                r#"{"header.Append": {"name": "X-App", "value": "2"}}"#,
                "X-App",
                "2",
            ),
        ),
        endpoint(
            "/blacklist",
            &backend,
            "",
            &probe(
                r#"{"header.Blacklist": {"names": ["X-Secret"]}}"#,
                "X-Secret",
                "s",
            ),
        ),
        endpoint(
            "/kept",
            &backend,
            "",
            &probe(
                r#"{"header.Blacklist": {"names": ["X-Other"]}}"#,
                "X-Secret",
                "s",
            ),
        ),
        endpoint(
            "/copy",
            &backend,
            "",
            &probe(
                r#"{"header.Copy": {"from": "X-Src", "to": "X-Dst"}}"#,
                "X-Dst",
                "v",
            ),
        ),
    ];
    let gw = Gateway::start(&config(&format!("[{}]", endpoints.join(","))));
    for (path, hit) in [
        ("/set", true),
        ("/append", true),
        ("/blacklist", false),
        ("/kept", true),
        ("/copy", true),
    ] {
        let r = gw.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json(), serde_json::json!({"hit": hit}), "{path}");
    }
}

#[test]
fn querystring_and_url_modifiers_rewrite_the_target() {
    let backend = Backend::start(|_| json(200, "{}"));
    let endpoints = [
        endpoint(
            "/q",
            &backend,
            r#""input_query_strings": ["a", "b"],"#,
            r#"{"querystring.Modifier": {"name": "b", "value": "x y"}}"#,
        ),
        endpoint(
            "/u",
            &backend,
            r#""input_query_strings": ["a"],"#,
            r#"{"url.Modifier": {"path": "/elsewhere"}}"#,
        ),
    ];
    let gw = Gateway::start(&config(&format!("[{}]", endpoints.join(","))));
    assert_eq!(gw.get("/q?a=1&b=client").status, 200);
    assert_eq!(gw.get("/u?a=1").status, 200);
    let seen = backend.requests();
    assert_eq!(seen[0].target, "/b/q?a=1&b=x+y");
    assert_eq!(seen[1].target, "/elsewhere?a=1");
}

#[test]
fn body_modifier_replaces_the_request_body() {
    let backend = Backend::start(|_| json(200, "{}"));
    let martian = format!(
        r#"{{"body.Modifier": {{"scope": ["request"], "contentType": "text/plain", "body": "{}"}}}}"#,
        b64("replaced body")
    );
    let gw = Gateway::start(&config(&format!(
        "[{}]",
        endpoint("/p", &backend, r#""method": "POST","#, &martian)
    )));
    let r = gw.raw(
        b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"a\": 1}",
    );
    assert_eq!(r.status, 200);
    let seen = &backend.requests()[0];
    assert_eq!(seen.body, b"replaced body");
    assert_eq!(seen.header("Content-Type"), Some("text/plain"));
    assert_eq!(seen.header("Content-Length"), Some("13"));
}

/// The mTLS pattern of real files: a header set by whoever terminated TLS
/// decides what the backend is told. A filter that does not match runs
/// its `else`, or nothing (martian's `filter.Filter` keeps a no-op there):
/// the request goes on unmodified, it is not refused.
#[test]
fn header_filter_runs_its_modifier_or_else_or_nothing() {
    let backend = Backend::start(|_| json(200, "{}"));
    let filter = |otherwise: &str| {
        format!(
            r#"{{"header.Filter": {{"scope": ["request"], "name": "X-Client-Cert-Verified", "value": "SUCCESS",
                "modifier": {{"header.Modifier": {{"name": "X-Trusted", "value": "yes"}}}}{otherwise}}}}}"#
        )
    };
    let endpoints = [
        endpoint(
            "/else",
            &backend,
            r#""input_headers": ["X-Client-Cert-Verified"],"#,
            &filter(r#", "else": {"header.Modifier": {"name": "X-Trusted", "value": "no"}}"#),
        ),
        endpoint(
            "/plain",
            &backend,
            r#""input_headers": ["X-Client-Cert-Verified"],"#,
            &filter(""),
        ),
    ];
    let gw = Gateway::start(&config(&format!("[{}]", endpoints.join(","))));
    let with = b"GET /else HTTP/1.1\r\nHost: h\r\nX-Client-Cert-Verified: SUCCESS\r\n\r\n";
    let wrong = b"GET /else HTTP/1.1\r\nHost: h\r\nX-Client-Cert-Verified: FAILED\r\n\r\n";
    assert_eq!(gw.raw(with).status, 200);
    assert_eq!(gw.raw(wrong).status, 200);
    assert_eq!(gw.get("/else").status, 200);
    assert_eq!(gw.get("/plain").status, 200);
    let seen = backend.requests();
    let trusted: Vec<_> = seen.iter().map(|s| s.header("X-Trusted")).collect();
    assert_eq!(trusted, [Some("yes"), Some("no"), Some("no"), None]);
}

#[test]
fn response_body_and_status_modifiers_change_what_is_decoded() {
    let backend = Backend::start(|_| json(500, r#"{"broken": true}"#));
    let martian = format!(
        r#"{{"fifo.Group": {{"scope": ["response"], "modifiers": [
            {{"status.Modifier": {{"statusCode": 200}}}},
            {{"body.Modifier": {{"contentType": "application/json", "body": "{}"}}}}]}}}}"#,
        b64(r#"{"fixed": true}"#)
    );
    let gw = Gateway::start(&config(&format!(
        "[{}]",
        endpoint("/r", &backend, "", &martian)
    )));
    let r = gw.get("/r");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!({"fixed": true}));
}

fn check(martian: &str) -> (bool, String) {
    check_backend("", martian)
}

/// `cuttle check` of a file whose backend has `fields` (JSON members
/// ending with a comma) and `martian`.
fn check_backend(fields: &str, martian: &str) -> (bool, String) {
    let dir = TempDir::new();
    let path = dir.0.join("krakend.json");
    let text = config(&format!(
        r#"[{{"endpoint": "/x", "backend": [{{"host": ["http://127.0.0.1:9"], "url_pattern": "/x", {fields}
            "extra_config": {{"modifier/martian": {martian}}}}}]}}]"#
    ));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let all =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), all)
}

#[test]
fn check_refuses_an_unknown_type_naming_it_and_its_path() {
    let (ok, out) = check(r#"{"fifo.Group": {"modifiers": [{"header.Frobnicate": {}}]}}"#);
    assert!(!ok, "{out}");
    assert!(
        out.contains("endpoints[0].backend[0].extra_config.modifier/martian.fifo.Group.modifiers[0].header.Frobnicate"),
        "{out}"
    );
    assert!(
        out.contains("unknown martian modifier type \"header.Frobnicate\""),
        "{out}"
    );
    let (ok, out) = check(r#"{"header.Modifier": {"name": "X-A", "value": "b"}}"#);
    assert!(ok, "{out}");
}

#[test]
fn check_refuses_a_header_value_with_cr_lf() {
    let (ok, out) = check(r#"{"header.Modifier": {"name": "X-A", "value": "b\r\nX-Injected: 1"}}"#);
    assert!(!ok, "{out}");
    assert!(
        out.contains("modifier/martian.header.Modifier.value"),
        "{out}"
    );
    assert!(out.contains("CR, LF, NUL"), "{out}");
    let (ok, out) = check(r#"{"header.Modifier": {"name": "X-A\r\nB", "value": "b"}}"#);
    assert!(!ok, "{out}");
    assert!(
        out.contains("modifier/martian.header.Modifier.name"),
        "{out}"
    );
}

/// A no-op backend's head goes to the client as the response modifiers
/// leave it (the real-file pattern: `header.Append` in both scopes).
#[test]
fn no_op_backends_get_request_and_response_header_modifiers() {
    let backend = Backend::start(|_| {
        Reply::Full(
            200,
            vec![
                ("Content-Type".into(), "text/plain".into()),
                ("X-Secret".into(), "s".into()),
                ("X-Platform".into(), "backend".into()),
            ],
            b"streamed".to_vec(),
        )
    });
    let martian = r#"{"fifo.Group": {"scope": ["request", "response"], "aggregateErrors": true, "modifiers": [
        {"header.Append": {"scope": ["request", "response"], "name": "X-PLATFORM", "value": "melodiy"}},
        {"header.Blacklist": {"scope": ["response"], "names": ["X-Secret"]}},
        {"status.Modifier": {"statusCode": 202}}]}}"#;
    let gw = Gateway::start(&config(&format!(
        "[{}]",
        endpoint("/n", &backend, r#""output_encoding": "no-op", "#, martian)
            .replace(r#""url_pattern""#, r#""encoding": "no-op", "url_pattern""#)
    )));
    let r = gw.get("/n");
    assert_eq!(r.status, 202);
    assert_eq!(r.text(), "streamed");
    assert_eq!(r.header_all("X-Platform"), ["backend", "melodiy"]);
    assert_eq!(r.header("X-Secret"), None);
    assert_eq!(backend.requests()[0].header("X-Platform"), Some("melodiy"));
}

/// A response `body.Modifier` on a no-op backend: the client gets the
/// replacement (with its length and type) instead of the backend's body,
/// and the next request on the same client connection still works.
#[test]
fn no_op_backends_can_have_their_body_replaced() {
    let backend = Backend::start(|_| {
        Reply::Full(
            500,
            vec![("Content-Type".into(), "text/html".into())],
            b"<h1>internal details</h1>".to_vec(),
        )
    });
    let martian = format!(
        r#"{{"fifo.Group": {{"scope": ["response"], "modifiers": [
            {{"status.Modifier": {{"statusCode": 503}}}},
            {{"body.Modifier": {{"contentType": "application/json", "body": "{}"}}}}]}}}}"#,
        b64(r#"{"error": "unavailable"}"#)
    );
    let gw = Gateway::start(&config(&format!(
        "[{}]",
        endpoint("/n", &backend, r#""output_encoding": "no-op","#, &martian)
            .replace(r#""url_pattern""#, r#""encoding": "no-op", "url_pattern""#)
    )));
    let mut client = gw.client();
    for _ in 0..2 {
        client.send(b"GET /n HTTP/1.1\r\nHost: h\r\n\r\n");
        let r = client.response().expect("a response");
        assert_eq!(r.status, 503);
        assert_eq!(r.text(), r#"{"error": "unavailable"}"#);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
    }
}

/// A shadow backend is built by the same backend factory in KrakenD, so
/// its modifiers apply to the mirrored request.
#[test]
fn a_shadow_backend_gets_its_modifiers() {
    let main = Backend::start(|_| json(200, r#"{"a": 1}"#));
    let shadow = Backend::start(|_| json(200, "{}"));
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/s", "backend": [
            {{"host": ["{}"], "url_pattern": "/main"}},
            {{"host": ["{}"], "url_pattern": "/shadow", "extra_config": {{
                "proxy": {{"shadow": true}},
                "modifier/martian": {{"header.Modifier": {{"name": "X-Shadowed", "value": "yes"}}}}}}}}]}}]"#,
        main.url(),
        shadow.url()
    )));
    assert_eq!(gw.get("/s").status, 200);
    common::eventually("the shadow call", std::time::Duration::from_secs(5), || {
        !shadow.requests().is_empty()
    });
    assert_eq!(shadow.requests()[0].header("X-Shadowed"), Some("yes"));
    assert_eq!(main.requests()[0].header("X-Shadowed"), None);
}

/// krakend-ce wires krakend-martian into its backend factory only: on an
/// endpoint it would do nothing, so it is refused there, naming the fix.
#[test]
fn check_refuses_martian_on_an_endpoint() {
    let dir = TempDir::new();
    let path = dir.0.join("krakend.json");
    std::fs::write(
        &path,
        config(
            r#"[{"endpoint": "/x", "extra_config": {"modifier/martian": {"header.Modifier": {"name": "X-A", "value": "b"}}},
                "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/x"}]}]"#,
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("endpoints[0].extra_config.modifier/martian"),
        "{text}"
    );
    assert!(text.contains("move it to the backend's"), "{text}");
}
