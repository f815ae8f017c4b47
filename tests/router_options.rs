//! KrakenD's router options (`extra_config.router`) against the real
//! gateway: health path, automatic OPTIONS, the version header, 404/405
//! bodies, the client address behind trusted proxies, and gin's path
//! handling (redirects, 405, extra slashes, lura's encoded-parameter check).

mod common;

use common::{Backend, Gateway, json};

fn gateway(router: &str, endpoints: &str) -> Gateway {
    Gateway::start(&format!(
        r#"{{"version": 3, "timeout": "2s", "extra_config": {{"router": {router}}}, "endpoints": {endpoints}}}"#
    ))
}

fn one_endpoint(backend: &Backend, path: &str, method: &str, extra: &str) -> String {
    format!(
        r#"[{{"endpoint": "{path}", "method": "{method}", "extra_config": {{{extra}}}, "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
        backend.url()
    )
}

#[test]
fn health_path_and_disable_health() {
    let backend = Backend::start(|_| json(200, "{}"));
    let moved = gateway(
        r#"{"health_path": "/status"}"#,
        &one_endpoint(&backend, "/a", "GET", ""),
    );
    let r = moved.get("/status");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(moved.get("/__health").status, 404);

    let off = gateway(
        r#"{"disable_health": true}"#,
        &one_endpoint(&backend, "/a", "GET", ""),
    );
    assert_eq!(off.get("/__health").status, 404);
    let default = gateway("{}", &one_endpoint(&backend, "/a", "GET", ""));
    assert_eq!(default.get("/__health").status, 200);
}

#[test]
fn auto_options_lists_the_methods_of_a_path() {
    let backend = Backend::start(|_| json(200, "{}"));
    let endpoints = format!(
        r#"[{{"endpoint": "/items/{{id}}", "method": "GET", "backend": [{{"host": ["{0}"], "url_pattern": "/"}}]}},
           {{"endpoint": "/items/{{id}}", "method": "DELETE", "backend": [{{"host": ["{0}"], "url_pattern": "/"}}]}}]"#,
        backend.url()
    );
    let on = gateway(r#"{"auto_options": true}"#, &endpoints);
    let r = on.raw(b"OPTIONS /items/3 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 200);
    // lura's `registerOptionEndpoints` sorts the methods (`sort.Strings`).
    assert_eq!(r.header("Allow"), Some("DELETE, GET"));
    assert!(r.body.is_empty());
    assert_eq!(r.header("X-Krakend"), Some("Version 2.13.8"));
    let r = on.raw(b"OPTIONS /elsewhere HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 404, "only registered paths");
    assert!(backend.requests().is_empty(), "answered by the gateway");

    // With auto_options, OPTIONS is a route of the path for a 405 too.
    let r = on.raw(b"PUT /items/3 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, DELETE, OPTIONS"));

    let off = gateway("{}", &endpoints);
    let r = off.raw(b"OPTIONS /items/3 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, DELETE"));
}

#[test]
fn auto_options_sorts_allow_alphabetically() {
    let backend = Backend::start(|_| json(200, "{}"));
    let route = |method: &str| {
        format!(
            r#"{{"endpoint": "/r", "method": "{method}", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}"#,
            backend.url()
        )
    };
    let endpoints = format!(
        "[{}]",
        ["PUT", "POST", "GET", "PATCH", "DELETE"]
            .map(route)
            .join(",")
    );
    let gw = gateway(r#"{"auto_options": true}"#, &endpoints);
    let r = gw.raw(b"OPTIONS /r HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Allow"), Some("DELETE, GET, PATCH, POST, PUT"));
}

/// krakend-ce's NoRoute/NoMethod handlers (`router_engine.go`,
/// `defaultHandler`) add `X-Krakend` and `X-Krakend-Completed: false`;
/// gin adds `Allow` to a 405, its methods in the order of gin's method
/// trees (the health GET first, then the endpoints' methods in file order).
#[test]
fn not_found_and_method_not_allowed_carry_krakend_headers_and_allow() {
    let backend = Backend::start(|_| json(200, "{}"));
    let route = |method: &str, path: &str| {
        format!(
            r#"{{"endpoint": "{path}", "method": "{method}", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}"#,
            backend.url()
        )
    };
    let endpoints = format!(
        "[{}, {}, {}, {}]",
        route("POST", "/first"),
        route("DELETE", "/r"),
        route("PUT", "/r"),
        route("GET", "/r"),
    );
    for (router, version) in [
        ("{}", "Version 2.13.8"),
        (r#"{"hide_version_header": true}"#, "Version undefined"),
    ] {
        let gw = gateway(router, &endpoints);
        let r = gw.get("/missing");
        assert_eq!(r.status, 404);
        assert_eq!(r.text(), "404 page not found");
        assert_eq!(r.header("X-Krakend"), Some(version));
        assert_eq!(r.header("X-KrakenD-Completed"), Some("false"));
        assert_eq!(r.header("Allow"), None);

        let r = gw.raw(b"PATCH /r HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(r.status, 405);
        assert_eq!(r.text(), "405 method not allowed");
        assert_eq!(r.header("X-Krakend"), Some(version));
        assert_eq!(r.header("X-KrakenD-Completed"), Some("false"));
        // gin's trees: GET (health), POST (/first), DELETE, PUT.
        assert_eq!(r.header("Allow"), Some("GET, DELETE, PUT"));
        let r = gw.raw(b"DELETE /r HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(r.status, 200, "the method is served");

        // The health path is gin's GET route.
        let r = gw.raw(b"POST /__health HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(r.status, 405);
        assert_eq!(r.header("Allow"), Some("GET"));
        assert_eq!(r.header("X-Krakend"), Some(version));
    }
    // Without the health route, the trees start with the endpoints'.
    let gw = gateway(r#"{"disable_health": true}"#, &endpoints);
    let r = gw.raw(b"PATCH /r HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.header("Allow"), Some("DELETE, PUT, GET"));
}

#[test]
fn version_header_is_kept_or_hidden() {
    let backend = Backend::start(|_| json(200, r#"{"a": 1}"#));
    let shown = gateway("{}", &one_endpoint(&backend, "/a", "GET", ""));
    assert_eq!(shown.get("/a").header("X-Krakend"), Some("Version 2.13.8"));
    assert_eq!(
        shown.get("/missing").header("X-Krakend"),
        Some("Version 2.13.8"),
        "as krakend-ce's NoRoute handler"
    );
    let hidden = gateway(
        r#"{"hide_version_header": true}"#,
        &one_endpoint(&backend, "/a", "GET", ""),
    );
    let r = hidden.get("/a");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("X-Krakend"), Some("Version undefined"));
    assert_eq!(
        hidden.get("/missing").header("X-Krakend"),
        Some("Version undefined")
    );
}

#[test]
fn error_bodies_for_404_and_405() {
    let backend = Backend::start(|_| json(200, "{}"));
    let gw = gateway(
        r#"{"error_body": {"404": {"error": "no such route", "code": 404}, "405": {"error": "wrong method"}}}"#,
        &one_endpoint(&backend, "/a", "GET", ""),
    );
    let r = gw.get("/nope");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.json(),
        serde_json::json!({"error": "no such route", "code": 404})
    );
    assert_eq!(r.header("X-KrakenD-Completed"), Some("false"));
    assert_eq!(r.header("X-Krakend"), Some("Version 2.13.8"));
    let r = gw.raw(b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.json(), serde_json::json!({"error": "wrong method"}));
    assert_eq!(r.header("X-KrakenD-Completed"), Some("false"));
    assert_eq!(r.header("Allow"), Some("GET"));
    assert_eq!(r.header("X-Krakend"), Some("Version 2.13.8"));
    // Without the option, gin's plain texts.
    let plain = gateway("{}", &one_endpoint(&backend, "/a", "GET", ""));
    assert_eq!(plain.get("/nope").text(), "404 page not found");
}

fn get_from(gw: &Gateway, path: &str, forwarded: &str) -> u16 {
    gw.raw(
        format!("GET {path} HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: {forwarded}\r\n\r\n")
            .as_bytes(),
    )
    .status
}

const PER_CLIENT_IP: &str =
    r#""qos/ratelimit/router": {"client_max_rate": 1, "every": "1m", "strategy": "ip"}"#;

#[test]
fn client_address_from_a_trusted_proxy() {
    let backend = Backend::start(|_| json(200, "{}"));
    let gw = gateway(
        r#"{"forwarded_by_client_ip": true, "trusted_proxies": ["127.0.0.0/8"]}"#,
        &one_endpoint(&backend, "/a", "GET", PER_CLIENT_IP),
    );
    // The tests' client (127.0.0.1) is the trusted load balancer: each
    // forwarded client has its own rate limit and is named to the backend.
    assert_eq!(get_from(&gw, "/a", "203.0.113.9"), 200);
    assert_eq!(get_from(&gw, "/a", "198.51.100.4, 127.0.0.5"), 200);
    assert_eq!(get_from(&gw, "/a", "203.0.113.9"), 429);
    // A client's own claim left of the client hop is not believed.
    assert_eq!(get_from(&gw, "/a", "192.0.2.1, 203.0.113.9"), 429);
    let seen: Vec<String> = backend
        .requests()
        .iter()
        .map(|s| s.header("x-forwarded-for").unwrap_or("").to_owned())
        .collect();
    assert_eq!(seen, ["203.0.113.9", "198.51.100.4"]);
    let log = gw.log();
    let mut lines = Vec::new();
    common::within(std::time::Duration::from_secs(5), || {
        lines = gw
            .log()
            .lines()
            .filter(|l| l.starts_with("[GIN]"))
            .map(str::to_owned)
            .collect();
        lines.len() >= 4
    });
    assert!(
        lines[0].contains("|     203.0.113.9 | GET"),
        "the access log names the client: {lines:#?} {log}"
    );
}

/// `forwarded_by_client_ip` without `trusted_proxies`: KrakenD (gin)
/// trusts every peer, so every hop of the header is a trusted proxy and
/// the leftmost, whatever the client wrote, is the client. Served the
/// same, with a warning from `check` and at start-up.
#[test]
fn without_trusted_proxies_every_peer_names_the_client() {
    let backend = Backend::start(|_| json(200, "{}"));
    let config = format!(
        r#"{{"version": 3, "timeout": "2s", "extra_config": {{"router": {{"forwarded_by_client_ip": true}}}}, "endpoints": {}}}"#,
        one_endpoint(&backend, "/a", "GET", PER_CLIENT_IP)
    );
    let gw = Gateway::start_env(&config, &["--cores", "1"], &[], true);
    assert_eq!(get_from(&gw, "/a", "203.0.113.9"), 200);
    assert_eq!(get_from(&gw, "/a", "203.0.113.9"), 429);
    // The client picks a new bucket by naming another address first.
    assert_eq!(get_from(&gw, "/a", "192.0.2.1, 203.0.113.9"), 200);
    assert_eq!(gw.get("/a").status, 200, "no header: the peer");
    let seen: Vec<String> = backend
        .requests()
        .iter()
        .map(|s| s.header("x-forwarded-for").unwrap_or("").to_owned())
        .collect();
    assert_eq!(seen, ["203.0.113.9", "192.0.2.1", "127.0.0.1"]);
    let warning = "extra_config.router.trusted_proxies: every peer is trusted";
    assert!(gw.log().contains(warning), "{}", gw.log());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", gw.config_path().to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains(warning), "{err}");
}

#[test]
fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let backend = Backend::start(|_| json(200, "{}"));
    let gw = gateway(
        r#"{"forwarded_by_client_ip": true, "trusted_proxies": ["10.0.0.0/8"], "remote_ip_headers": ["X-Forwarded-For"]}"#,
        &one_endpoint(&backend, "/a", "GET", PER_CLIENT_IP),
    );
    assert_eq!(get_from(&gw, "/a", "203.0.113.9"), 200);
    // Another claimed address does not buy a new bucket: the peer is the client.
    assert_eq!(get_from(&gw, "/a", "198.51.100.4"), 429);
    let seen = backend.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-forwarded-for"), Some("127.0.0.1"));
}

#[test]
fn an_endpoint_on_the_health_path_is_refused() {
    let dir = common::TempDir::new();
    let path = dir.0.join("clash.json");
    for (router, endpoint) in [
        ("{}", "/__health"),
        (r#"{"health_path": "/status"}"#, "/status"),
    ] {
        std::fs::write(
            &path,
            format!(
                r#"{{"version": 3, "extra_config": {{"router": {router}}}, "endpoints": [{{"endpoint": "{endpoint}", "backend": [{{"host": ["http://127.0.0.1:1"], "url_pattern": "/"}}]}}]}}"#
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
            .args(["check", "-c", path.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{endpoint}");
        assert!(
            err.contains("clash.json: endpoints[0].endpoint: GET ") && err.contains("health"),
            "{err}"
        );
    }
}

/// A backend answering with the target it was asked for.
fn target_backend() -> Backend {
    Backend::start(|seen| {
        json(
            200,
            &serde_json::json!({ "target": seen.target }).to_string(),
        )
    })
}

/// lura's `paramChecker` (`router/gin/engine.go`): gin routes the path Go
/// decoded once, and a parameter that still decodes (`%2541` arrives as
/// `%41`), fails to (`%25zz` arrives as `%zz`) or holds `?`/`#` is 400
/// with lura's message, before the endpoint's handler (no `X-Krakend`).
/// `disable_path_decoding` turns the check off.
#[test]
fn encoded_path_parameters_get_400_unless_disable_path_decoding() {
    let backend = target_backend();
    let endpoints = format!(
        r#"[{{"endpoint": "/u/{{id}}", "backend": [{{"host": ["{}"], "url_pattern": "/user/{{id}}"}}]}}]"#,
        backend.url()
    );
    let gw = gateway("{}", &endpoints);
    for (value, body) in [
        ("%2541", "error: encoded url params"),
        ("%253F", "error: encoded url params"),
        ("a%3Fb", "error: encoded url params"),
        ("a%23b", "error: encoded url params"),
        ("%25zz", "error: invalid URL escape \"%zz\""),
    ] {
        let r = gw.get(&format!("/u/{value}"));
        assert_eq!(r.status, 400, "/u/{value}");
        assert_eq!(r.text(), body, "/u/{value}");
        assert_eq!(r.header("X-Krakend"), None, "/u/{value}");
    }
    assert!(backend.requests().is_empty(), "{:?}", backend.requests());
    // Encoded once is what gin sees decoded: served.
    let r = gw.get("/u/%41");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["target"], "/user/A");

    let off = gateway(r#"{"disable_path_decoding": true}"#, &endpoints);
    let r = off.get("/u/%2541");
    assert_eq!(r.status, 200);
    // The value (`%41`) is data: encoded for its segment, never decoded again.
    assert_eq!(r.json()["target"], "/user/%2541");
}

/// gin's `RedirectTrailingSlash` and `RedirectFixedPath` (both on in lura's
/// engine) and their `disable_*` options: 301 for GET, 307 otherwise.
#[test]
fn trailing_slash_and_fixed_path_redirects_follow_their_options() {
    let backend = target_backend();
    let endpoints = format!(
        r#"[{{"endpoint": "/items", "backend": [{{"host": ["{0}"], "url_pattern": "/"}}]}},
           {{"endpoint": "/items", "method": "POST", "backend": [{{"host": ["{0}"], "url_pattern": "/"}}]}}]"#,
        backend.url()
    );
    let on = gateway("{}", &endpoints);
    let r = on.get("/items/?a=1");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/items?a=1"));
    // Go's `http.Redirect` body for a GET.
    assert_eq!(
        r.text(),
        "<a href=\"/items?a=1\">Moved Permanently</a>.\n\n"
    );
    let r = on.raw(b"POST /items/ HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 307);
    assert_eq!(r.header("Location"), Some("/items"));
    assert!(r.body.is_empty(), "no body but for GET");
    assert_eq!(on.get("/ITEMS").header("Location"), Some("/items"));
    // gin matches the decoded path: an escaped literal is the literal.
    assert_eq!(on.get("/it%65ms").status, 200);
    assert_eq!(on.get("/it%65ms/").header("Location"), Some("/items"));
    assert_eq!(on.get("/x/..//items").header("Location"), Some("/items"));

    // Without the trailing-slash redirect, the fixed-path one (which
    // toggles the slash too) still finds /items: gin does the same.
    let no_slash = gateway(r#"{"disable_redirect_trailing_slash": true}"#, &endpoints);
    assert_eq!(no_slash.get("/items/").status, 301);
    let no_fix = gateway(r#"{"disable_redirect_fixed_path": true}"#, &endpoints);
    assert_eq!(no_fix.get("/items/").status, 301);
    assert_eq!(no_fix.get("/ITEMS").status, 404);
    assert_eq!(no_fix.get("/x/..//items").status, 404);
    let neither = gateway(
        r#"{"disable_redirect_trailing_slash": true, "disable_redirect_fixed_path": true}"#,
        &endpoints,
    );
    assert_eq!(neither.get("/items/").status, 404);
    assert_eq!(backend.requests().len(), 1, "only /it%65ms");
}

/// gin's `HandleMethodNotAllowed` off (`disable_handle_method_not_allowed`):
/// a path served for other methods is a plain 404.
#[test]
fn disable_handle_method_not_allowed_answers_404() {
    let backend = target_backend();
    let endpoints = one_endpoint(&backend, "/only-get", "GET", "");
    let on = gateway("{}", &endpoints);
    let r = on.raw(b"DELETE /only-get HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 405);
    let off = gateway(r#"{"disable_handle_method_not_allowed": true}"#, &endpoints);
    let r = off.raw(b"DELETE /only-get HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Allow"), None);
    assert_eq!(r.text(), "404 page not found");
}

/// gin's `RemoveExtraSlash`: the cleaned path is routed (and its
/// parameters used); off by default, when `//` only finds a redirect.
#[test]
fn remove_extra_slash_routes_the_cleaned_path() {
    let backend = target_backend();
    let endpoints = format!(
        r#"[{{"endpoint": "/a/{{id}}/b", "backend": [{{"host": ["{}"], "url_pattern": "/x/{{id}}"}}]}}]"#,
        backend.url()
    );
    let on = gateway(r#"{"remove_extra_slash": true}"#, &endpoints);
    let r = on.get("//a//7/./b");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["target"], "/x/7");
    let off = gateway("{}", &endpoints);
    assert_eq!(off.get("//a//7/./b").status, 301);
    let off = gateway(r#"{"disable_redirect_fixed_path": true}"#, &endpoints);
    assert_eq!(off.get("//a//7/./b").status, 404);
}
