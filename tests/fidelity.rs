//! Behaviours where cuttle used to differ from KrakenD (issue 21), each
//! checked end to end against what lura's source does (cited per test).

mod common;

use common::{Backend, Gateway, Response, Seen, json};
use serde_json::{Value, json};

fn start(endpoints: Value) -> Gateway {
    Gateway::start(&json!({"version": 3, "timeout": "2s", "endpoints": endpoints}).to_string())
}

/// A backend entry for `backend` at `url_pattern`, plus `extra` keys.
fn be(backend: &Backend, url_pattern: &str, extra: Value) -> Value {
    let mut b = json!({"host": [backend.url()], "url_pattern": url_pattern});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// An endpoint at `path` over `backends`, plus `extra` keys.
fn ep(path: &str, backends: Vec<Value>, extra: Value) -> Value {
    let mut e = json!({"endpoint": path, "backend": backends});
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

fn request(gw: &Gateway, method: &str, target: &str, headers: &str, body: &str) -> Response {
    gw.raw(
        format!(
            "{method} {target} HTTP/1.1\r\nHost: h\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

/// The one request `backend` received whose path starts with `prefix`.
fn seen_at(backend: &Backend, prefix: &str) -> Seen {
    let mut seen: Vec<Seen> = backend
        .requests()
        .into_iter()
        .filter(|s| s.path().starts_with(prefix))
        .collect();
    assert_eq!(seen.len(), 1, "requests to {prefix}: {seen:?}");
    seen.remove(0)
}

fn query_keys(seen: &Seen) -> Vec<String> {
    let mut keys: Vec<String> = common::query_map(&seen.target).into_keys().collect();
    keys.sort();
    keys
}

/// lura `proxy/headers_filter.go` and `proxy/query_strings_filter.go`
/// (`NewFilterHeadersMiddleware`, `NewFilterQueryStringsMiddleware`, stacked
/// per backend in `proxy/factory.go` `newStack`): a backend's own
/// `input_headers` / `input_query_strings` keep, of what the endpoint lets
/// through, only the names listed. The headers the router adds
/// (`router/gin/endpoint.go` `NewRequest`: X-Forwarded-For/Host, User-Agent)
/// are filtered too, so Go's client sends its own User-Agent.
#[test]
fn backend_input_headers_and_query_strings_filter_what_the_endpoint_passes() {
    let svc = Backend::start(|_| json(200, "{}"));
    let gw = start(json!([ep(
        "/f",
        vec![
            be(
                &svc,
                "/own",
                json!({"input_headers": ["x-a"], "input_query_strings": ["qa"], "group": "own"})
            ),
            be(
                &svc,
                "/gateway",
                json!({"input_headers": ["X-B", "X-Forwarded-For", "User-Agent", "X-Not-Passed"],
                       "input_query_strings": ["qb", "qc"], "group": "gateway"})
            ),
            be(&svc, "/inherits", json!({"group": "inherits"})),
            // krakend-cel's backend layer sits inside lura's filters
            // (krakend-ce `backend_factory.go`): its checks see the lists
            // applied, or the backend is not called.
            be(
                &svc,
                "/checked",
                json!({"input_headers": ["X-A"], "input_query_strings": ["qa"], "group": "checked",
                       "extra_config": {"validation/cel": [{"check_expr":
                         "'X-A' in req_headers && !('X-B' in req_headers) && !('X-Forwarded-For' in req_headers) && 'qa' in req_querystring && !('qb' in req_querystring)"}]}})
            ),
        ],
        json!({"input_headers": ["X-A", "X-B"], "input_query_strings": ["qa", "qb"]})
    )]));
    let r = request(
        &gw,
        "GET",
        "/f?qa=1&qb=2&qc=3",
        "X-A: a\r\nX-B: b\r\nX-C: c\r\nX-Not-Passed: n\r\n",
        "",
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let own = seen_at(&svc, "/own");
    assert_eq!(own.header("x-a"), Some("a"));
    assert_eq!(own.header("x-b"), None, "not in the backend's list");
    assert_eq!(query_keys(&own), ["qa"]);
    assert_eq!(own.header("x-forwarded-for"), None);
    assert_eq!(own.header("x-forwarded-host"), None);
    assert_eq!(own.header("user-agent"), Some("Go-http-client/1.1"));

    let gateway = seen_at(&svc, "/gateway");
    assert_eq!(gateway.header("x-a"), None);
    assert_eq!(gateway.header("x-b"), Some("b"));
    assert_eq!(
        gateway.header("x-not-passed"),
        None,
        "the endpoint drops it"
    );
    assert_eq!(query_keys(&gateway), ["qb"], "qc: the endpoint drops it");
    assert_eq!(gateway.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(gateway.header("user-agent"), Some("KrakenD Version 2.13.8"));

    assert_eq!(seen_at(&svc, "/checked").header("x-a"), Some("a"));
    assert_eq!(r.header("x-krakend-completed"), Some("true"));

    let inherits = seen_at(&svc, "/inherits");
    assert_eq!(
        (inherits.header("x-a"), inherits.header("x-b")),
        (Some("a"), Some("b"))
    );
    assert_eq!(inherits.header("x-c"), None);
    assert_eq!(query_keys(&inherits), ["qa", "qb"]);
    assert_eq!(inherits.header("x-forwarded-for"), Some("127.0.0.1"));
}
/// The same filter on a no-op endpoint's backend, and on the framing of
/// `--krakend-body-framing`: lura sets the body's length only when the
/// `Content-Length` header reaches the backend (`proxy/http.go`), which a
/// backend's own list can prevent.
#[test]
fn backend_input_headers_apply_to_no_op_and_to_krakend_body_framing() {
    let svc = Backend::start(|_| json(200, "{}"));
    let endpoints = json!([
        ep(
            "/noop",
            vec![be(&svc, "/noop", json!({"input_headers": ["X-A"]}))],
            json!({"output_encoding": "no-op", "input_headers": ["X-A", "X-B"]})
        ),
        ep(
            "/framing",
            vec![
                be(
                    &svc,
                    "/length",
                    json!({"input_headers": ["Content-Length"], "method": "PUT"})
                ),
                be(&svc, "/chunked", json!({"input_headers": ["X-A"]})),
            ],
            json!({"method": "POST", "input_headers": ["Content-Length", "X-A"],
                   "extra_config": {"proxy": {"sequential": true}}})
        ),
    ]);
    let gw = Gateway::start_with(
        &json!({"version": 3, "timeout": "2s", "endpoints": endpoints}).to_string(),
        &["--cores", "1", "--krakend-body-framing"],
    );
    let r = request(&gw, "GET", "/noop", "X-A: a\r\nX-B: b\r\n", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let noop = seen_at(&svc, "/noop");
    assert_eq!((noop.header("x-a"), noop.header("x-b")), (Some("a"), None));

    let r = request(&gw, "POST", "/framing", "X-A: a\r\n", "hello");
    assert_eq!(r.status, 200, "{}", r.text());
    let length = seen_at(&svc, "/length");
    assert_eq!(length.header("content-length"), Some("5"));
    let chunked = seen_at(&svc, "/chunked");
    assert_eq!(chunked.header("transfer-encoding"), Some("chunked"));
    assert_eq!(chunked.header("content-length"), None);
    assert_eq!(chunked.body, b"hello");
}

/// lura `proxy/http.go` `NewHTTPProxyDetailed` builds the backend request
/// with `request.Body` whatever the backend's method; Go's client sends a
/// non-empty body even with GET (`net/http` `probeRequestBody`). A
/// sequential chain with a non-GET backend deep-clones the body for every
/// call (`proxy/merging.go` `hasUnsafeBackends`, `CloneRequest`).
#[test]
fn the_body_reaches_backends_whose_method_differs_from_the_endpoints() {
    let svc = Backend::start(|_| json(200, r#"{"ok":true}"#));
    let gw = start(json!([
        ep(
            "/put",
            vec![be(&svc, "/patch", json!({"method": "PATCH"}))],
            json!({"method": "PUT"})
        ),
        ep(
            "/post",
            vec![
                be(&svc, "/first-get", json!({"method": "GET", "group": "g"})),
                be(&svc, "/then-post", json!({})),
            ],
            json!({"method": "POST", "extra_config": {"proxy": {"sequential": true}}})
        ),
    ]));
    let body = r#"{"x":1}"#;
    let r = request(
        &gw,
        "PUT",
        "/put",
        "Content-Type: application/json\r\n",
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let patch = seen_at(&svc, "/patch");
    assert_eq!(patch.method, "PATCH");
    assert_eq!(patch.body, body.as_bytes());
    assert_eq!(patch.header("content-length"), Some("7"));

    let r = request(&gw, "POST", "/post", "", body);
    assert_eq!(r.status, 200, "{}", r.text());
    // A GET backend gets no body (ARCHITECTURE.md: lura sends it; a
    // backend that ignores a GET's body would read it as its next request).
    let get = seen_at(&svc, "/first-get");
    assert_eq!(
        (get.method.as_str(), get.body.as_slice()),
        ("GET", &b""[..])
    );
    assert_eq!(get.header("content-length"), None);
    let post = seen_at(&svc, "/then-post");
    assert_eq!(post.body, body.as_bytes());

    // An empty body stays absent for GET, as Go's client leaves it.
    let r = request(&gw, "POST", "/post", "", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let gets: Vec<Seen> = svc
        .requests()
        .into_iter()
        .filter(|s| s.path() == "/first-get")
        .collect();
    assert_eq!(gets.len(), 2);
    assert_eq!(gets[1].header("content-length"), None);
    assert!(gets[1].body.is_empty());
}
/// lura `proxy/merging.go` `sequentialMerge`: an array value is passed on
/// as its elements formatted with `%v` and joined with `,`. Each element is
/// still data: the joined text is encoded for its position, and one that
/// would split or climb the path is refused.
#[test]
fn sequential_array_values_are_joined_with_commas() {
    let svc = Backend::start(|seen| match seen.path() {
        "/first" => json(
            200,
            r#"{"array":["1","2"],"mixed":["x y",3,true],"slash":["a/b","c"],"dots":[".."],"next":"n"}"#,
        ),
        "/aaa/1,2" => json(200, r#"{"second":"s"}"#),
        p if p.starts_with("/aaa/") => json(404, "{}"),
        "/third/s" => json(200, r#"{"third":true}"#),
        _ => json(200, &json!({"at": seen.target}).to_string()),
    });
    let gw = start(json!([
        ep(
            "/chain",
            vec![
                be(&svc, "/first", json!({})),
                be(&svc, "/aaa/{resp0_array}", json!({})),
                be(&svc, "/third/{resp1_second}", json!({})),
            ],
            json!({"extra_config": {"proxy": {"sequential": true}}})
        ),
        ep(
            "/encoded",
            vec![
                be(&svc, "/first", json!({})),
                be(&svc, "/m/{resp0_mixed}?ids={resp0_array}", json!({})),
            ],
            json!({"extra_config": {"proxy": {"sequential": true}}})
        ),
        ep(
            "/slash",
            vec![
                be(&svc, "/first", json!({})),
                be(&svc, "/s/{resp0_slash}", json!({})),
            ],
            json!({"extra_config": {"proxy": {"sequential": true}}})
        ),
        ep(
            "/dots",
            vec![
                be(&svc, "/first", json!({})),
                be(&svc, "/d/{resp0_dots}/x", json!({})),
            ],
            json!({"extra_config": {"proxy": {"sequential": true}}})
        ),
    ]));

    let r = gw.get("/chain");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-krakend-completed"),
        Some("true"),
        "{}",
        r.text()
    );
    assert_eq!(r.json()["third"], json!(true));
    assert_eq!(seen_at(&svc, "/aaa/").target, "/aaa/1,2");

    let r = gw.get("/encoded");
    assert_eq!(
        r.header("x-krakend-completed"),
        Some("true"),
        "{}",
        r.text()
    );
    assert_eq!(r.json()["at"], json!("/m/x%20y,3,true?ids=1,2"));

    // A '/' inside an element never becomes a separator; a dot segment is
    // refused: neither backend call is made.
    for (path, prefix) in [("/slash", "/s/"), ("/dots", "/d/")] {
        let r = gw.get(path);
        assert_eq!(r.header("x-krakend-completed"), Some("false"), "{path}");
        assert!(
            svc.requests().iter().all(|s| !s.path().starts_with(prefix)),
            "{path}: {:?}",
            svc.requests()
        );
    }
}
/// lura `proxy/formatter.go` `newDenylistingFilter` (`buildDenyTree`,
/// `recDelete`; `TestEntityFormatter_newDenyFilter`) and
/// `newAllowlistingFilter`: paths of any depth.
#[test]
fn deny_and_allow_with_three_segments() {
    let svc = Backend::start(|_| json(200, r#"{"p":{"q":{"r":1,"s":2},"t":3},"u":4}"#));
    let gw = start(json!([
        ep(
            "/deny",
            vec![be(&svc, "/", json!({"deny": ["p.q.r"]}))],
            json!({})
        ),
        ep(
            "/allow",
            vec![be(&svc, "/", json!({"allow": ["p.q.r"]}))],
            json!({})
        ),
        ep(
            "/deny-short-wins",
            vec![be(&svc, "/", json!({"deny": ["p", "p.q.r"]}))],
            json!({})
        ),
    ]));
    assert_eq!(
        gw.get("/deny").json(),
        json!({"p": {"q": {"s": 2}, "t": 3}, "u": 4})
    );
    assert_eq!(gw.get("/allow").json(), json!({"p": {"q": {"r": 1}}}));
    assert_eq!(gw.get("/deny-short-wins").json(), json!({"u": 4}));
}
