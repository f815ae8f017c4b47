//! `security/cors`, `security/http` and `security/bot-detector` through the
//! real binary: real sockets, real backends, and for HSTS a real TLS
//! listener with a certificate made by the test.
#![allow(clippy::disallowed_types)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::{Backend, Gateway, Response, TempDir, closed_port_url, json};

fn hello_backend() -> Backend {
    Backend::start(|_| json(200, r#"{"hello": "world"}"#))
}

/// A gateway whose root `extra_config` is `extra` (JSON object members),
/// with `/hello` (GET), `/form` (POST), `/down` (a backend that is not
/// there), `/relay` (no-op), `/limited` (one request per second) and
/// `/guarded` (`endpoint_extra` in its extra_config).
fn gateway(extra: &str, backend: &Backend, endpoint_extra: &str) -> Gateway {
    let url = backend.url();
    let down = closed_port_url();
    Gateway::start(&format!(
        r#"{{"version": 3, "timeout": "2s", "host": ["{url}"], "extra_config": {{{extra}}},
            "endpoints": [
              {{"endpoint": "/hello", "backend": [{{"url_pattern": "/hello"}}]}},
              {{"endpoint": "/form", "method": "POST", "backend": [{{"url_pattern": "/form"}}]}},
              {{"endpoint": "/down", "backend": [{{"host": ["{down}"], "url_pattern": "/down"}}]}},
              {{"endpoint": "/relay", "output_encoding": "no-op", "backend": [{{"url_pattern": "/relay", "encoding": "no-op"}}]}},
              {{"endpoint": "/limited", "extra_config": {{"qos/ratelimit/router": {{"max_rate": 1, "capacity": 1}}}},
                "backend": [{{"url_pattern": "/limited"}}]}},
              {{"endpoint": "/guarded", "extra_config": {{{endpoint_extra}}}, "backend": [{{"url_pattern": "/guarded"}}]}}
            ]}}"#
    ))
}

/// One request with extra header lines (`Name: value`, each).
fn send(gw: &Gateway, method: &str, path: &str, headers: &[&str]) -> Response {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for line in headers {
        request.push_str(line);
        request.push_str("\r\n");
    }
    if method == "POST" {
        request.push_str("Content-Length: 0\r\n");
    }
    request.push_str("\r\n");
    let mut client = gw.client();
    client.send(request.as_bytes());
    client.response_to(method).expect("a response")
}

fn cors_gateway(backend: &Backend, more: &str) -> Gateway {
    gateway(
        &format!(
            r#""security/cors": {{
                "allow_origins": ["https://app.example.com", "https://*.example.org"],
                "allow_methods": ["GET", "POST"],
                "allow_headers": ["Authorization", "Content-Type"],
                "expose_headers": ["x-request-id", "Content-Length"],
                "max_age": "1h", "allow_credentials": true {more}}}"#
        ),
        backend,
        "",
    )
}

const PREFLIGHT_VARY: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

#[test]
fn cors_preflights_are_answered_before_routing() {
    let backend = hello_backend();
    let gw = cors_gateway(&backend, "");
    for (origin, path) in [
        ("https://app.example.com", "/hello"),
        ("https://eu.api.example.org", "/hello"),
        // Answered before routing: no endpoint needs to exist.
        ("https://app.example.com", "/not/an/endpoint"),
    ] {
        let r = send(
            &gw,
            "OPTIONS",
            path,
            &[
                &format!("Origin: {origin}"),
                "Access-Control-Request-Method: POST",
                "Access-Control-Request-Headers: content-type,authorization",
            ],
        );
        assert_eq!(r.status, 204, "{origin} {path}");
        assert_eq!(r.header("Access-Control-Allow-Origin"), Some(origin));
        assert_eq!(r.header("Access-Control-Allow-Methods"), Some("POST"));
        assert_eq!(
            r.header("Access-Control-Allow-Headers"),
            Some("content-type,authorization")
        );
        assert_eq!(r.header("Access-Control-Max-Age"), Some("3600"));
        assert_eq!(r.header("Access-Control-Allow-Credentials"), Some("true"));
        assert_eq!(r.header("Vary"), Some(PREFLIGHT_VARY));
        // A 204 has no body and no Content-Length (RFC 9110 8.6), and no
        // KrakenD headers: it never reached an endpoint.
        assert_eq!(r.header("Content-Length"), None);
        assert_eq!(r.header("Content-Type"), None);
        assert_eq!(r.header("X-KrakenD-Completed"), None);
        assert!(r.header("Date").is_some());
    }
    assert!(
        backend.requests().is_empty(),
        "a preflight reached a backend"
    );
}

#[test]
fn cors_refused_preflights_get_204_without_allow_headers() {
    let backend = hello_backend();
    let gw = cors_gateway(&backend, "");
    for (name, headers) in [
        (
            "origin",
            [
                "Origin: https://evil.example.net",
                "Access-Control-Request-Method: GET",
                "",
            ],
        ),
        (
            "wildcard is not the parent",
            [
                "Origin: https://example.org",
                "Access-Control-Request-Method: GET",
                "",
            ],
        ),
        (
            "method",
            [
                "Origin: https://app.example.com",
                "Access-Control-Request-Method: DELETE",
                "",
            ],
        ),
        (
            "header",
            [
                "Origin: https://app.example.com",
                "Access-Control-Request-Method: GET",
                "Access-Control-Request-Headers: x-pingother",
            ],
        ),
    ] {
        let headers: Vec<&str> = headers.into_iter().filter(|h| !h.is_empty()).collect();
        let r = send(&gw, "OPTIONS", "/hello", &headers);
        assert_eq!(r.status, 204, "{name}");
        assert_eq!(r.header("Vary"), Some(PREFLIGHT_VARY), "{name}");
        for header in [
            "Access-Control-Allow-Origin",
            "Access-Control-Allow-Methods",
            "Access-Control-Allow-Headers",
            "Access-Control-Allow-Credentials",
            "Access-Control-Max-Age",
        ] {
            assert_eq!(r.header(header), None, "{name}: {header}");
        }
    }
    // Without Access-Control-Request-Method an OPTIONS is not a preflight:
    // routing answers it (no endpoint serves OPTIONS: 405).
    let r = send(
        &gw,
        "OPTIONS",
        "/hello",
        &["Origin: https://app.example.com"],
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Vary"), Some("Origin"));
}

#[test]
fn cors_simple_requests_from_allowed_and_refused_origins() {
    let backend = hello_backend();
    let gw = cors_gateway(&backend, "");
    let r = send(&gw, "GET", "/hello", &["Origin: https://a.b.example.org"]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["hello"], "world");
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://a.b.example.org")
    );
    assert_eq!(
        r.header("Access-Control-Expose-Headers"),
        Some("X-Request-Id, Content-Length")
    );
    assert_eq!(r.header("Access-Control-Allow-Credentials"), Some("true"));
    assert_eq!(r.header_all("Vary"), ["Origin"]);
    assert_eq!(
        r.header("Access-Control-Max-Age"),
        None,
        "max_age is for preflights"
    );
    // Once, as lura's endpoint handler writes it (KrakenD's cors_5 spec checks it).
    assert_eq!(r.header_all("X-KrakenD").len(), 1);

    // A refused origin is served, without the lines that would let a
    // browser hand the response to the page.
    for origin in [
        "https://evil.example.net",
        "https://app.example.com.evil.net",
        "null",
    ] {
        let r = send(&gw, "GET", "/hello", &[&format!("Origin: {origin}")]);
        assert_eq!(r.status, 200, "{origin}");
        assert_eq!(r.header("Access-Control-Allow-Origin"), None, "{origin}");
        assert_eq!(
            r.header("Access-Control-Allow-Credentials"),
            None,
            "{origin}"
        );
        assert_eq!(r.header_all("Vary"), ["Origin"], "{origin}");
    }
    // No Origin: not a CORS request.
    let r = send(&gw, "GET", "/hello", &[]);
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
    assert_eq!(r.header_all("Vary"), ["Origin"]);
    assert_eq!(backend.requests().len(), 5);
}

#[test]
fn cors_lines_reach_every_kind_of_response() {
    let backend = Backend::start(|seen| match seen.path() {
        "/relay" => common::text(202, "text/plain", "relayed"),
        _ => json(200, r#"{"ok": true}"#),
    });
    let gw = cors_gateway(&backend, "");
    let origin = "Origin: https://app.example.com";
    let first_limited = send(&gw, "GET", "/limited", &[origin]);
    assert_eq!(first_limited.status, 200);
    for (what, method, path, status) in [
        ("merged", "GET", "/hello", 200),
        ("backend failure", "GET", "/down", 500),
        ("no-op relay", "GET", "/relay", 202),
        ("built-in", "GET", "/__health", 200),
        ("not found", "GET", "/nowhere", 404),
        ("method not allowed", "GET", "/form", 405),
        ("router redirect", "GET", "/hello/", 301),
        ("rate limited", "GET", "/limited", 503),
    ] {
        let r = send(&gw, method, path, &[origin]);
        assert_eq!(r.status, status, "{what}");
        assert_eq!(
            r.header("Access-Control-Allow-Origin"),
            Some("https://app.example.com"),
            "{what}"
        );
        assert_eq!(r.header_all("Vary"), ["Origin"], "{what}");
    }
    // HEAD is not among allow_methods: Vary, but no permission.
    let r = send(&gw, "HEAD", "/hello", &[origin]);
    assert_eq!((r.status, r.header("Vary")), (200, Some("Origin")));
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
}

#[test]
fn cors_options_passthrough_sends_preflights_on_to_routing() {
    let backend = hello_backend();
    let gw = cors_gateway(&backend, r#", "options_passthrough": true"#);
    let r = send(
        &gw,
        "OPTIONS",
        "/hello",
        &[
            "Origin: https://app.example.com",
            "Access-Control-Request-Method: GET",
        ],
    );
    // The CORS lines are added, then the router answers: no endpoint
    // serves OPTIONS (as in KrakenD).
    assert_eq!(r.status, 405);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("Access-Control-Allow-Methods"), Some("GET"));
    assert_eq!(r.header("Vary"), Some(PREFLIGHT_VARY));
}

#[test]
fn cors_defaults_allow_any_origin_and_header() {
    let backend = hello_backend();
    let gw = gateway(
        r#""security/cors": {"allow_private_network": true}"#,
        &backend,
        "",
    );
    let r = send(
        &gw,
        "OPTIONS",
        "/hello",
        &[
            "Origin: http://intranet.local",
            "Access-Control-Request-Method: HEAD",
            "Access-Control-Request-Headers: x-anything",
            "Access-Control-Request-Private-Network: true",
        ],
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(r.header("Access-Control-Allow-Headers"), Some("x-anything"));
    assert_eq!(
        r.header("Access-Control-Allow-Private-Network"),
        Some("true")
    );
    assert_eq!(r.header("Access-Control-Allow-Credentials"), None);
    assert_eq!(r.header("Access-Control-Max-Age"), None);
    // The default methods are the simple ones: PUT is refused.
    let r = send(
        &gw,
        "OPTIONS",
        "/hello",
        &["Origin: http://a", "Access-Control-Request-Method: PUT"],
    );
    assert_eq!(r.header("Access-Control-Allow-Origin"), None);
}

const ALL_HEADERS: &str = r#""frame_deny": true, "content_type_nosniff": true,
    "browser_xss_filter": true, "content_security_policy": "default-src 'self';",
    "referrer_policy": "same-origin", "sts_seconds": 31536000, "sts_include_subdomains": true"#;

#[test]
fn security_headers_on_every_response_and_hsts_only_over_https() {
    let backend = hello_backend();
    let gw = gateway(
        &format!(
            r#""security/http": {{{ALL_HEADERS},
                "ssl_proxy_headers": {{"X-Forwarded-Proto": "https"}}}}"#
        ),
        &backend,
        "",
    );
    for (path, status) in [
        ("/hello", 200),
        ("/nowhere", 404),
        ("/down", 500),
        ("/__health", 200),
    ] {
        let r = send(&gw, "GET", path, &[]);
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.header("X-Frame-Options"), Some("DENY"), "{path}");
        assert_eq!(
            r.header("X-Content-Type-Options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            r.header("X-XSS-Protection"),
            Some("1; mode=block"),
            "{path}"
        );
        assert_eq!(
            r.header("Content-Security-Policy"),
            Some("default-src 'self';"),
            "{path}"
        );
        assert_eq!(r.header("Referrer-Policy"), Some("same-origin"), "{path}");
        // Plain HTTP: HSTS would be ignored by browsers and is not sent.
        assert_eq!(r.header("Strict-Transport-Security"), None, "{path}");
    }
    // Behind a TLS-terminating proxy that says so.
    let r = send(&gw, "GET", "/hello", &["X-Forwarded-Proto: https"]);
    assert_eq!(
        r.header("Strict-Transport-Security"),
        Some("max-age=31536000; includeSubDomains")
    );
    let r = send(&gw, "GET", "/hello", &["X-Forwarded-Proto: http"]);
    assert_eq!(r.header("Strict-Transport-Security"), None);
}

#[test]
fn custom_frame_options_value_and_forced_hsts() {
    let backend = hello_backend();
    let gw = gateway(
        r#""security/http": {"frame_deny": true, "custom_frame_options_value": "SAMEORIGIN",
            "sts_seconds": 60, "force_sts_header": true}"#,
        &backend,
        "",
    );
    let r = send(&gw, "GET", "/hello", &[]);
    assert_eq!(r.header("X-Frame-Options"), Some("SAMEORIGIN"));
    assert_eq!(r.header("Strict-Transport-Security"), Some("max-age=60"));
    assert_eq!(r.header("X-Content-Type-Options"), None);
}

#[test]
fn allowed_hosts_refuse_other_hosts_with_500_as_unrolled_secure() {
    let backend = hello_backend();
    let gw = gateway(
        r#""security/http": {"allowed_hosts": ["api.example.com", "localhost"],
            "host_proxy_headers": ["X-Forwarded-Host"], "frame_deny": true}"#,
        &backend,
        "",
    );
    let r = send(&gw, "GET", "/hello", &[]);
    assert_eq!((r.status, r.header("X-Frame-Options")), (200, Some("DENY")));
    let r = gw.raw(b"GET /hello HTTP/1.1\r\nHost: API.example.com\r\n\r\n");
    assert_eq!(r.status, 200);
    for request in [
        &b"GET /hello HTTP/1.1\r\nHost: evil.example.net\r\n\r\n"[..],
        b"GET /hello HTTP/1.1\r\nHost: api.example.com:8080\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Host: evil.example.net\r\n\r\n",
        b"GET /hello HTTP/1.0\r\n\r\n",
    ] {
        let r = gw.raw(request);
        assert_eq!(r.status, 500, "{}", String::from_utf8_lossy(request));
        assert_eq!(r.text(), "Bad Host\n");
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(
            r.header("X-Frame-Options"),
            None,
            "unrolled/secure adds no headers to a refusal"
        );
    }
    // The proxy's header wins over Host.
    let r = gw.raw(
        b"GET /hello HTTP/1.1\r\nHost: internal:8080\r\nX-Forwarded-Host: api.example.com\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(backend.requests().len(), 3);
}

#[test]
fn allowed_hosts_as_regular_expressions_match_whole_hosts() {
    let backend = hello_backend();
    let gw = gateway(
        r#""security/http": {"allowed_hosts": ["[a-z]+\\.example\\.com|localhost"], "allowed_hosts_are_regex": true}"#,
        &backend,
        "",
    );
    for (host, status) in [
        ("eu.example.com", 200),
        ("localhost", 200),
        ("localhost.evil.net", 500),
        ("a.eu.example.com", 500),
    ] {
        let r = gw.raw(format!("GET /hello HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
        assert_eq!(r.status, status, "{host}");
    }
}

#[test]
fn ssl_redirect_sends_plain_http_to_https() {
    let backend = hello_backend();
    let gw = gateway(
        r#""security/http": {"ssl_redirect": true, "ssl_proxy_headers": {"X-Forwarded-Proto": "https"},
            "sts_seconds": 300}"#,
        &backend,
        "",
    );
    let r = gw.raw(b"GET /hello/world?a=1&b=%20 HTTP/1.1\r\nHost: api.example.com:8080\r\n\r\n");
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("Location"),
        Some("https://api.example.com:8080/hello/world?a=1&b=%20")
    );
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(
        r.text(),
        "<a href=\"https://api.example.com:8080/hello/world?a=1&amp;b=%20\">Moved Permanently</a>.\n\n"
    );
    assert_eq!(r.header("Strict-Transport-Security"), None);
    // POST: same redirect, no body.
    let r = send(&gw, "POST", "/form", &[]);
    assert_eq!(
        (r.status, r.header("Content-Type"), r.body.len()),
        (301, None, 0)
    );
    assert_eq!(r.header("Location"), Some("https://localhost/form"));
    // A Host that is not a host cannot become a Location.
    let r = gw.raw(b"GET /hello HTTP/1.1\r\nHost: evil.example.net@x\r\n\r\n");
    assert_eq!(r.status, 400);
    // Already HTTPS according to the proxy: served, with HSTS.
    let r = send(&gw, "GET", "/hello", &["X-Forwarded-Proto: https"]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Strict-Transport-Security"), Some("max-age=300"));
    assert_eq!(backend.requests().len(), 1);
}

#[test]
fn ssl_host_names_the_redirect_target() {
    let backend = hello_backend();
    let gw = gateway(
        r#""security/http": {"ssl_redirect": true, "ssl_host": "secure.example.com"}"#,
        &backend,
        "",
    );
    let r = send(&gw, "GET", "/hello?x=1", &[]);
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("Location"),
        Some("https://secure.example.com/hello?x=1")
    );
}

#[test]
fn is_development_turns_off_host_check_redirect_and_hsts() {
    let backend = hello_backend();
    let gw = gateway(
        r#""security/http": {"is_development": true, "allowed_hosts": ["only.example.com"],
            "ssl_redirect": true, "sts_seconds": 300, "force_sts_header": true, "frame_deny": true}"#,
        &backend,
        "",
    );
    let r = send(&gw, "GET", "/hello", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Strict-Transport-Security"), None);
    assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
}

/// HSTS over a real TLS listener, and no redirect for a request that came
/// over TLS.
#[test]
fn hsts_is_sent_over_https() {
    let dir = TempDir::new();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (crt, pem) = (dir.0.join("a.crt"), dir.0.join("a.key"));
    std::fs::write(&crt, key.cert.pem()).unwrap();
    std::fs::write(&pem, key.signing_key.serialize_pem()).unwrap();
    let backend = hello_backend();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "tls": {{"public_key": "{}", "private_key": "{}"}},
            "extra_config": {{"security/http": {{"sts_seconds": 600, "sts_include_subdomains": true, "ssl_redirect": true}}}},
            "endpoints": [{{"endpoint": "/hello", "backend": [{{"host": ["{}"], "url_pattern": "/hello"}}]}}]}}"#,
        crt.display(),
        pem.display(),
        backend.url()
    ));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(key.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(gw.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(
        text.contains("\r\nStrict-Transport-Security: max-age=600; includeSubDomains\r\n"),
        "{text}"
    );
}

const BOTS: &str = r#""deny": ["a", "b"], "allow": ["c", "Pingdom.com_bot_version_1.1"],
    "patterns": ["(Pingdom.com_bot_version_).*", "(facebookexternalhit)/.*"]"#;

fn assert_bot_refusal(r: &Response, what: &str) {
    assert_eq!(r.status, 403, "{what}");
    assert_eq!(r.header("Content-Type"), None, "{what}");
    assert_eq!(r.header("X-KrakenD-Completed"), None, "{what}");
    assert_eq!(r.header("Content-Length"), Some("0"), "{what}");
    assert!(r.body.is_empty(), "{what}");
}

#[test]
fn service_bot_detector_allow_deny_patterns() {
    let backend = hello_backend();
    let gw = gateway(
        &format!(r#""security/bot-detector": {{{BOTS}, "cache_size": 2}}"#),
        &backend,
        "",
    );
    for (ua, bot) in [
        ("a", true),
        ("b", true),
        ("c", false),
        ("Pingdom.com_bot_version_1.1", false),
        ("Pingdom.com_bot_version_1.14", true),
        ("facebookexternalhit/1.2.3", true),
        ("Mozilla/5.0 (X11; Linux x86_64)", false),
    ] {
        // Three rounds through a cache of two: hits, misses and evictions
        // must all give the same answer.
        for round in 0..3 {
            let r = send(&gw, "GET", "/hello", &[&format!("User-Agent: {ua}")]);
            if bot {
                assert_bot_refusal(&r, &format!("{ua} round {round}"));
            } else {
                assert_eq!(r.status, 200, "{ua} round {round}");
            }
        }
    }
    // Service level: before routing, so unknown paths too.
    assert_bot_refusal(
        &send(&gw, "GET", "/nowhere", &["User-Agent: a"]),
        "404 path",
    );
    // Without empty_user_agent_is_bot, no User-Agent is no bot.
    assert_eq!(send(&gw, "GET", "/hello", &[]).status, 200);
    assert_eq!(backend.requests().len(), 3 * 3 + 1);
}

#[test]
fn empty_user_agent_is_bot() {
    let backend = hello_backend();
    let gw = gateway(
        r#""security/bot-detector": {"empty_user_agent_is_bot": true}"#,
        &backend,
        "",
    );
    assert_bot_refusal(&send(&gw, "GET", "/hello", &[]), "no User-Agent");
    assert_bot_refusal(
        &send(&gw, "GET", "/hello", &["User-Agent: "]),
        "empty User-Agent",
    );
    assert_eq!(
        send(&gw, "GET", "/hello", &["User-Agent: curl/8"]).status,
        200
    );
}

#[test]
fn endpoint_bot_detector_guards_its_endpoint_only() {
    let backend = hello_backend();
    let gw = gateway(
        r#""security/http": {"frame_deny": true}"#,
        &backend,
        &format!(r#""security/bot-detector": {{{BOTS}}}"#),
    );
    let r = send(
        &gw,
        "GET",
        "/guarded",
        &["User-Agent: facebookexternalhit/1.1"],
    );
    assert_bot_refusal(&r, "endpoint level");
    // The service's header lines reach a step's refusal too.
    assert_eq!(r.header("X-Frame-Options"), Some("DENY"));
    assert_eq!(
        send(&gw, "GET", "/guarded", &["User-Agent: Mozilla/5.0"]).status,
        200
    );
    assert_eq!(
        send(
            &gw,
            "GET",
            "/hello",
            &["User-Agent: facebookexternalhit/1.1"]
        )
        .status,
        200
    );
    let seen: Vec<String> = backend
        .requests()
        .iter()
        .map(|s| s.path().to_owned())
        .collect();
    assert_eq!(seen, ["/guarded", "/hello"]);
}

/// A bot checked at the endpoint spends no rate-limit token (KrakenD's bot
/// detector wraps the rate limiter).
#[test]
fn endpoint_bot_check_runs_before_the_rate_limit() {
    let backend = hello_backend();
    let gw = gateway(
        "",
        &backend,
        r#""security/bot-detector": {"deny": ["bot"]},
           "qos/ratelimit/router": {"max_rate": 1, "capacity": 1}"#,
    );
    for _ in 0..3 {
        assert_bot_refusal(&send(&gw, "GET", "/guarded", &["User-Agent: bot"]), "bot");
    }
    assert_eq!(
        send(&gw, "GET", "/guarded", &["User-Agent: person"]).status,
        200
    );
    assert_eq!(
        send(&gw, "GET", "/guarded", &["User-Agent: person"]).status,
        503
    );
}

#[test]
fn bad_security_settings_stop_the_start() {
    for (settings, fragment) in [
        (
            r#""security/bot-detector": {"patterns": ["(unclosed"]}"#,
            "extra_config.security/bot-detector.patterns[0]: not a valid regular expression",
        ),
        (
            r#""security/cors": {"allow_origins": ["https://*.*.example.com"]}"#,
            "extra_config.security/cors.allow_origins[0]: \"https://*.*.example.com\" has more than one '*'",
        ),
        (
            r#""security/cors": {"max_age": "12 hours"}"#,
            "extra_config.security/cors.max_age",
        ),
        (
            r#""security/http": {"content_security_policy": "default-src 'self';\r\nSet-Cookie: a=b"}"#,
            "extra_config.security/http.content_security_policy: holds a line break",
        ),
    ] {
        let dir = TempDir::new();
        let path = dir.0.join("bad.json");
        std::fs::write(
            &path,
            format!(r#"{{"version": 3, "extra_config": {{{settings}}}, "endpoints": []}}"#),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
            .args(["check", "-c", path.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{settings}");
        assert!(stderr.contains(fragment), "{settings}: {stderr}");
        assert!(stderr.contains("bad.json"), "{stderr}");
    }
}

/// Over HTTP/2 (h2c with prior knowledge, through curl) the edge works
/// the same: a preflight is a 204 with its lines, a simple request gets
/// its CORS and security lines.
#[test]
fn preflight_and_header_lines_over_http2() {
    let backend = hello_backend();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true,
            "extra_config": {{"security/cors": {{"allow_origins": ["https://a.example"]}},
                              "security/http": {{"frame_deny": true}}}},
            "endpoints": [{{"endpoint": "/hello", "backend": [{{"host": ["{}"], "url_pattern": "/hello"}}]}}]}}"#,
        backend.url()
    ));
    let url = format!("http://127.0.0.1:{}/hello", gw.addr.port());
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-i",
                "--http2-prior-knowledge",
                "-H",
                "Origin: https://a.example",
            ])
            .args(args)
            .arg(&url)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).to_lowercase()
    };
    let preflight = curl(&["-X", "OPTIONS", "-H", "Access-Control-Request-Method: GET"]);
    assert!(preflight.starts_with("http/2 204"), "{preflight}");
    assert!(
        preflight.contains("\r\naccess-control-allow-origin: https://a.example\r\n"),
        "{preflight}"
    );
    assert!(
        preflight.contains("\r\naccess-control-allow-methods: get\r\n"),
        "{preflight}"
    );
    let simple = curl(&[]);
    assert!(simple.starts_with("http/2 200"), "{simple}");
    assert!(
        simple.contains("\r\naccess-control-allow-origin: https://a.example\r\n"),
        "{simple}"
    );
    assert!(simple.contains("\r\nx-frame-options: deny\r\n"), "{simple}");
    assert!(simple.contains("\r\nvary: origin\r\n"), "{simple}");
    assert_eq!(backend.requests().len(), 1);
}

/// rs/cors sends `*` with credentials, which browsers refuse: served as
/// KrakenD does, with a warning at start-up that says what to write.
#[test]
fn credentials_with_any_origin_are_warned_about() {
    let backend = hello_backend();
    let config = format!(
        r#"{{"version": 3, "extra_config": {{"security/cors": {{"allow_credentials": true}}}},
            "endpoints": [{{"endpoint": "/hello", "backend": [{{"host": ["{}"], "url_pattern": "/hello"}}]}}]}}"#,
        backend.url()
    );
    let gw = Gateway::start_env(&config, &["--cores", "1"], &[], true);
    let r = send(&gw, "GET", "/hello", &["Origin: https://a.example"]);
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(r.header("Access-Control-Allow-Credentials"), Some("true"));
    // The log goes out through the writer thread: wait for the line.
    common::eventually("the start-up warning", Duration::from_secs(5), || {
        let log = gw.log();
        log.contains("allow_credentials with \"*\" in allow_origins") && log.contains("WARN")
    });
}
