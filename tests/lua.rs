//! krakend-lua's scripts (`modifier/lua-endpoint`, `modifier/lua-proxy`,
//! `modifier/lua-backend`) through the real gateway and real backends.
//! Sources are read relative to the working directory, as KrakenD reads
//! them: cargo runs these tests from the package root.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Gateway, Response, json};

const HELPERS: &str = "tests/fixtures/lua/helpers.lua";

/// A config with `router.return_error_msg` on and `timeout`.
fn config(timeout: &str, endpoints: &str) -> String {
    format!(
        r#"{{"version": 3, "timeout": "{timeout}", "extra_config": {{"router": {{"return_error_msg": true}}}}, "endpoints": {endpoints}}}"#
    )
}

fn get(gw: &Gateway, target: &str) -> Response {
    gw.raw(format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
}

#[test]
fn pre_and_post_run_at_each_level() {
    let svc = Backend::start(|_| json(200, r#"{"n": 1}"#));
    let endpoints = format!(
        r#"[{{"endpoint": "/things/{{id}}", "input_headers": ["X-From-Endpoint"],
            "backend": [{{"host": ["{url}"], "url_pattern": "/things/{{id}}",
              "extra_config": {{"modifier/lua-backend": {{
                  "sources": ["{HELPERS}"],
                  "pre": "local r = request.load(); r:url(r:url() .. '/extra'); tag_request(r, 'X-From-Backend', r:params('Id'))",
                  "post": "add_one(response.load(), 'n', 'backend_post')"}}}}}}],
            "extra_config": {{
              "modifier/lua-endpoint": {{"pre": "local c = ctx.load(); c:headers('X-From-Endpoint', c:method() .. ' ' .. c:params('id'))"}},
              "modifier/lua-proxy": {{
                  "pre": "local r = request.load(); r:headers('X-From-Proxy', r:params('Id'))",
                  "post": "local resp = response.load(); resp:data():set('proxy_post', resp:data():get('backend_post') * 10); resp:headers('X-Post', 'yes')"}}}}}}]"#,
        url = svc.url()
    );
    let gw = Gateway::start(&config("2s", &endpoints));
    let resp = get(&gw, "/things/42");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json(),
        serde_json::json!({"n": 1, "backend_post": 2, "proxy_post": 20})
    );
    assert_eq!(resp.header("X-Post"), Some("yes"));
    let seen = &svc.requests()[0];
    assert_eq!(seen.path(), "/things/42/extra");
    assert_eq!(seen.header("X-From-Endpoint"), Some("GET 42"));
    assert_eq!(seen.header("X-From-Proxy"), Some("42"));
    assert_eq!(seen.header("X-From-Backend"), Some("42"));
}

#[test]
fn globals_a_script_sets_do_not_outlive_its_request() {
    let svc = Backend::start(|_| json(200, r#"{"a": 1}"#));
    let endpoints = format!(
        r#"[{{"endpoint": "/count", "backend": [{{"host": ["{}"], "url_pattern": "/"}}],
            "extra_config": {{"modifier/lua-proxy": {{
                "post": "calls = (calls or 0) + 1; response.load():data():set('calls', calls)"}}}}}}]"#,
        svc.url()
    );
    let gw = Gateway::start(&config("2s", &endpoints));
    for _ in 0..3 {
        assert_eq!(get(&gw, "/count").json()["calls"], 1);
    }
}

#[test]
fn custom_error_answers_as_krakend_at_endpoint_and_backend_level() {
    let svc = Backend::start(|_| json(200, r#"{"a": 1}"#));
    let endpoints = format!(
        r#"[{{"endpoint": "/router", "backend": [{{"host": ["{url}"], "url_pattern": "/"}}],
             "extra_config": {{"modifier/lua-endpoint": {{"pre": "custom_error('not you', 403, 'application/problem+json')"}}}}}},
            {{"endpoint": "/backend", "backend": [{{"host": ["{url}"], "url_pattern": "/",
             "extra_config": {{"modifier/lua-backend": {{"pre": "custom_error('{{\"msg\":\"teapot\"}}', 418)"}}}}}}]}},
            {{"endpoint": "/plain", "backend": [{{"host": ["{url}"], "url_pattern": "/",
             "extra_config": {{"modifier/lua-backend": {{"pre": "undefined_function()"}}}}}}]}}]"#,
        url = svc.url()
    );
    let gw = Gateway::start(&config("2s", &endpoints));
    // Router level: gin's AbortWithError, the status and no body.
    let resp = get(&gw, "/router");
    assert_eq!(resp.status, 403);
    assert_eq!(resp.text(), "");
    assert_eq!(
        resp.header("Content-Type"),
        Some("application/problem+json")
    );
    // Backend level: the error reaches lura's endpoint handler: its status,
    // its text with return_error_msg (KrakenD CE's lua_2 spec).
    let resp = get(&gw, "/backend");
    assert_eq!(resp.status, 418);
    assert_eq!(resp.text(), r#"{"msg":"teapot"}"#);
    assert_eq!(resp.header("X-KrakenD-Completed"), Some("false"));
    // Any other Lua error: 500.
    let resp = get(&gw, "/plain");
    assert_eq!(resp.status, 500);
    assert!(resp.text().contains("attempt to call"), "{}", resp.text());
    assert!(svc.requests().is_empty(), "no backend was called");
}

/// Under its pre-v2 name too (krakend-ce's alias table).
#[test]
fn skip_next_calls_no_backend() {
    let svc = Backend::start(|_| json(200, r#"{"from": "backend"}"#));
    let endpoints = format!(
        r#"[{{"endpoint": "/made-up", "backend": [{{"host": ["{}"], "url_pattern": "/",
             "extra_config": {{"github.com/devopsfaith/krakend-lua/proxy/backend": {{"skip_next": true,
                 "post": "response.load():data():set('from', 'script')"}}}}}}]}}]"#,
        svc.url()
    );
    let gw = Gateway::start(&config("2s", &endpoints));
    let resp = get(&gw, "/made-up");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), serde_json::json!({"from": "script"}));
    assert!(svc.requests().is_empty());
}

#[test]
fn a_source_whose_md5_differs_stops_the_start_naming_it() {
    let dir = common::TempDir::new();
    let path = dir.0.join("gateway.json");
    let endpoints = |md5: &str| {
        format!(
            r#"[{{"endpoint": "/a", "backend": [{{"host": ["http://127.0.0.1:9"], "url_pattern": "/",
                 "extra_config": {{"modifier/lua-backend": {{"sources": ["{HELPERS}"], "md5": {{"{HELPERS}": "{md5}"}}}}}}}}]}}]"#
        )
    };
    std::fs::write(
        &path,
        config("2s", &endpoints("00000000000000000000000000000000")),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-t", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("wrong checksum for the Lua source \"tests/fixtures/lua/helpers.lua\""),
        "{text}"
    );
    // The right checksum is accepted.
    use md5::Digest;
    let digest = md5::Md5::digest(std::fs::read(HELPERS).unwrap());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, config("2s", &endpoints(&hex))).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-t", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn runaway_scripts_give_their_worker_back_and_end_at_the_endpoint_timeout() {
    let svc = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let looping = |level: &str| {
        let script = r#"{"pre": "while true do end"}"#;
        match level {
            "backend" => format!(
                r#"{{"endpoint": "/loop/backend", "backend": [{{"host": ["{url}"], "url_pattern": "/",
                     "extra_config": {{"modifier/lua-backend": {script}}}}}]}}"#,
                url = svc.url()
            ),
            _ => format!(
                r#"{{"endpoint": "/loop/{level}", "backend": [{{"host": ["{url}"], "url_pattern": "/"}}],
                     "extra_config": {{"modifier/lua-{level}": {script}}}}}"#,
                url = svc.url()
            ),
        }
    };
    let endpoints = format!(
        r#"[{}, {}, {}, {{"endpoint": "/ok", "backend": [{{"host": ["{url}"], "url_pattern": "/"}}]}}]"#,
        looping("endpoint"),
        looping("proxy"),
        looping("backend"),
        url = svc.url()
    );
    // One worker (`Gateway::start`): the three loops and the other
    // requests share it.
    let timeout = Duration::from_secs(1);
    let gw = Gateway::start(&config("1s", &endpoints));
    let addr = gw.addr;
    let loops: Vec<_> = ["endpoint", "proxy", "backend"]
        .into_iter()
        .map(|level| {
            let started = Instant::now();
            let mut client = common::Client::connect(addr);
            client
                .send(format!("GET /loop/{level} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
            std::thread::spawn(move || (client.response().expect("an answer"), started.elapsed()))
        })
        .collect();
    // While the loops run, every other request is answered at once (200 ms
    // is generous for a busy machine; a blocked worker answers after the
    // loops' timeout).
    let mut answered_meanwhile = 0;
    while !loops.iter().all(|l| l.is_finished()) {
        let started = Instant::now();
        let other = get(&gw, "/ok");
        let took = started.elapsed();
        assert_eq!(other.status, 200);
        assert!(took < Duration::from_millis(200), "/ok took {took:?}");
        if !loops.iter().any(|l| l.is_finished()) {
            answered_meanwhile += 1;
        }
    }
    assert!(answered_meanwhile >= 3, "{answered_meanwhile}");
    for (level, handle) in ["endpoint", "proxy", "backend"].into_iter().zip(loops) {
        let (resp, took) = handle.join().unwrap();
        // docs/lua.md: 500 at the endpoint timeout; the message is the body
        // in the proxy pipe (return_error_msg), none at router level.
        assert_eq!(resp.status, 500, "{level}: {}", resp.text());
        if level != "endpoint" {
            assert!(
                resp.text().contains("endpoint timeout"),
                "{level}: {}",
                resp.text()
            );
        }
        assert!(
            took >= timeout - Duration::from_millis(50),
            "{level}: {took:?}"
        );
        assert!(took < timeout + Duration::from_secs(1), "{level}: {took:?}");
    }
    // And the worker goes on.
    assert_eq!(get(&gw, "/ok").status, 200);
}

#[test]
fn header_values_with_cr_or_lf_never_reach_the_wire() {
    let svc = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let evil = r#"'a\\r\\nX-Injected: 1'"#;
    let endpoints = format!(
        r#"[{{"endpoint": "/backend", "backend": [{{"host": ["{url}"], "url_pattern": "/",
             "extra_config": {{"modifier/lua-backend": {{"pre": "request.load():headers('X-Evil', {evil})"}}}}}}]}},
            {{"endpoint": "/endpoint", "backend": [{{"host": ["{url}"], "url_pattern": "/"}}],
             "extra_config": {{"modifier/lua-endpoint": {{"pre": "ctx.load():headers('X-Evil', {evil})"}}}}}},
            {{"endpoint": "/response", "backend": [{{"host": ["{url}"], "url_pattern": "/"}}],
             "extra_config": {{"modifier/lua-proxy": {{"post": "response.load():headers('X-Evil', {evil})"}}}}}}]"#,
        url = svc.url()
    );
    let gw = Gateway::start(&config("2s", &endpoints));
    for path in ["/backend", "/endpoint"] {
        let resp = get(&gw, path);
        assert_eq!(resp.status, 500, "{path}: {}", resp.text());
    }
    assert!(svc.requests().is_empty(), "{:?}", svc.requests());
    let resp = get(&gw, "/response");
    assert_eq!(resp.status, 500);
    assert_eq!(resp.header("X-Injected"), None);
    assert_eq!(resp.header("X-Evil"), None);
}

/// `cuttle check -t` on `config`: (accepted, what it printed).
fn check(config: &str) -> (bool, String) {
    let dir = common::TempDir::new();
    let path = dir.0.join("gateway.json");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-t", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn scripts_cuttle_would_not_run_are_refused() {
    let backend = |extra: &str| {
        format!(
            r#"{{"host": ["http://127.0.0.1:9"], "url_pattern": "/", "extra_config": {{{extra}}}}}"#
        )
    };
    let lua = r#""modifier/lua-backend": {"pre": "x()"}"#;
    let cases = [
        // A no-op endpoint relays the request untouched.
        format!(
            r#"{{"endpoint": "/a", "output_encoding": "no-op", "backend": [{{"host": ["http://127.0.0.1:9"],
                 "url_pattern": "/", "encoding": "no-op", "extra_config": {{{lua}}}}}]}}"#
        ),
        format!(
            r#"{{"endpoint": "/a", "output_encoding": "no-op", "backend": [{}],
                "extra_config": {{"modifier/lua-proxy": {{"post": "x()"}}}}}}"#,
            backend("").replace(
                r#""url_pattern": "/""#,
                r#""url_pattern": "/", "encoding": "no-op""#
            )
        ),
        // A shadow backend's copy goes without scripts.
        format!(
            r#"{{"endpoint": "/a", "backend": [{}, {}]}}"#,
            backend(""),
            backend(&format!(r#""proxy": {{"shadow": true}}, {lua}"#))
        ),
        // A backend post needs a JSON document.
        format!(
            r#"{{"endpoint": "/a", "backend": [{}]}}"#,
            backend(r#""modifier/lua-backend": {"post": "x()"}"#).replace(
                r#""url_pattern": "/""#,
                r#""url_pattern": "/", "encoding": "xml""#
            )
        ),
        // Not implemented at proxy level.
        format!(
            r#"{{"endpoint": "/a", "backend": [{}], "extra_config": {{"modifier/lua-proxy": {{"skip_next": true}}}}}}"#,
            backend("")
        ),
    ];
    for endpoint in cases {
        let (ok, out) = check(&config("2s", &format!("[{endpoint}]")));
        assert!(!ok, "{endpoint}: accepted: {out}");
        assert!(out.contains("lua"), "{out}");
    }
    let (ok, out) = check(&config(
        "2s",
        &format!(r#"[{{"endpoint": "/a", "backend": [{}]}}]"#, backend(lua)),
    ));
    assert!(ok, "{out}");
}

#[test]
fn scripts_cannot_set_the_framing_of_a_message() {
    let svc = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let endpoints = format!(
        r#"[{{"endpoint": "/frame", "method": "POST", "backend": [{{"host": ["{}"], "url_pattern": "/", "method": "POST",
             "extra_config": {{"modifier/lua-backend": {{"pre": "local r = request.load(); r:headers('Content-Length', '0'); r:headers('Transfer-Encoding', 'chunked')"}}}}}}],
             "extra_config": {{"modifier/lua-proxy": {{"post": "local r = response.load(); r:headers('Content-Length', '1'); r:headers('Transfer-Encoding', 'chunked'); r:headers('X-Ok', 'yes')"}}}}}}]"#,
        svc.url()
    );
    let gw = Gateway::start(&config("2s", &endpoints));
    let resp = gw.raw(
        b"POST /frame HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json(), serde_json::json!({"ok": true}));
    assert_eq!(resp.header("X-Ok"), Some("yes"));
    assert_eq!(resp.header("Transfer-Encoding"), None);
    let seen = &svc.requests()[0];
    assert_eq!(seen.body, b"abc");
    assert_eq!(seen.header("Transfer-Encoding"), None);
}
