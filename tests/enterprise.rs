//! The KrakenD Enterprise features cuttle serves, end to end against the
//! real binary and real backends on loopback: wildcard endpoints,
//! `modifier/jmespath`, the content replacer, `fast-json`, the `rss`
//! backend encoding and placeholders inside a segment.

mod common;

use common::{Backend, Gateway, json, text};
use serde_json::{Value, json};

/// A backend that answers every request with the path and query it got.
fn echo() -> Backend {
    Backend::start(|seen| {
        json(
            200,
            &json!({"target": seen.target, "method": seen.method}).to_string(),
        )
    })
}

fn gateway(root: Value, endpoints: Value) -> Gateway {
    let mut cfg = json!({"version": 3, "timeout": "2s"});
    for (k, v) in root.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    cfg["endpoints"] = endpoints;
    Gateway::start(&cfg.to_string())
}

/// GET `path`; status and the `target` the echo backend reports (or the body).
fn target_of(gw: &Gateway, path: &str) -> (u16, String) {
    let r = gw.get(path);
    if r.status != 200 {
        return (r.status, r.text());
    }
    let body = r.json();
    (
        r.status,
        body["target"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn wildcards_match_every_path_under_their_prefix_and_explicit_routes_win() {
    let a = echo();
    let b = echo();
    let gw = gateway(
        json!({}),
        json!([
            {"endpoint": "/v1/*", "input_query_strings": ["*"],
             "backend": [{"host": [a.url()], "url_pattern": "/api"}]},
            {"endpoint": "/v1/users/*", "backend": [{"host": [b.url()], "url_pattern": "/u/"}]},
            {"endpoint": "/v1/users/me", "backend": [{"host": [b.url()], "url_pattern": "/me"}]},
            {"endpoint": "/v2/{id}/*", "input_query_strings": ["q"],
             "backend": [{"host": [b.url()], "url_pattern": "/items/{id}?fixed=1"}]},
            {"endpoint": "/v1/*", "method": "POST",
             "backend": [{"host": [a.url()], "url_pattern": "/post"}]},
        ]),
    );
    let rows = [
        ("/v1/a", "/api/a"),
        ("/v1/a/b/c", "/api/a/b/c"),
        ("/v1/", "/api/"),
        ("/v1/a/b?x=1&y=two", "/api/a/b?x=1&y=two"),
        // Longest prefix wins; an explicit route wins over any wildcard.
        ("/v1/users/7/posts", "/u/7/posts"),
        ("/v1/users/me", "/me"),
        ("/v1/users", "/api/users"),
        // Placeholders before the wildcard, the pattern's own query kept.
        ("/v2/9/x/y?q=1&drop=2", "/items/9/x/y?fixed=1&q=1"),
        // Encoded characters stay encoded, each segment on its own (an
        // encoded `?` or `#` is lura's 400, below).
        ("/v1/a%20b/%C3%A9/c", "/api/a%20b/%C3%A9/c"),
        ("/v1/x;y/%3b", "/api/x%3By/%3B"),
    ];
    for (path, want) in rows {
        assert_eq!(target_of(&gw, path), (200, want.to_owned()), "{path}");
    }
    let r = gw.raw(b"POST /v1/anything/here HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["target"], "/post/anything/here");
    assert_eq!(gw.get("/v1").status, 301, "as KrakenD: redirect to /v1/");
    assert_eq!(gw.get("/v1/c%3Fd").status, 400, "lura's paramChecker");
    assert_eq!(gw.get("/other/x").status, 404);
    assert_eq!(
        gw.raw(b"DELETE /v1/a HTTP/1.1\r\nHost: h\r\n\r\n").status,
        405
    );
}

#[test]
fn wildcard_remainders_that_leave_their_segments_get_400_and_reach_no_backend() {
    let a = echo();
    let gw = gateway(
        json!({}),
        json!([{"endpoint": "/v1/*", "backend": [{"host": [a.url()], "url_pattern": "/api"}]}]),
    );
    for path in [
        "/v1/a/../b",
        "/v1/..",
        "/v1/./x",
        "/v1/a/%2e%2e/b",
        "/v1/a/%2E/b",
        "/v1/a%2Fb",
        "/v1/a%2fb/c",
        "/v1/a%5Cb",
        "/v1/a\\b",
    ] {
        let r = gw.get(path);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
    }
    assert!(
        a.requests().is_empty(),
        "no backend was called: {:?}",
        a.requests()
    );
}

#[test]
fn wildcards_stream_no_op_bodies() {
    let files = Backend::start(|seen| {
        text(
            200,
            "application/octet-stream",
            &format!("file at {}", seen.target),
        )
    });
    let gw = gateway(
        json!({}),
        json!([{"endpoint": "/files/*", "output_encoding": "no-op",
                "backend": [{"host": [files.url()], "url_pattern": "/storage"}]}]),
    );
    let r = gw.get("/files/reports/2026/q1.csv");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.text(), "file at /storage/reports/2026/q1.csv");
    assert_eq!(gw.get("/files/a/%2e%2e/etc").status, 400);
    assert_eq!(files.requests().len(), 1);
}

const STUDENTS: &str = r#"{"students": [{"name": "Bill", "age": 23}, {"name": "Mary", "age": 16}, {"name": "Jessica", "age": 19}]}"#;

#[test]
fn jmespath_on_the_merged_response_and_on_a_backend_response() {
    let svc = Backend::start(|seen| match seen.path() {
        "/students" => json(200, STUDENTS),
        "/teachers" => json(200, r#"{"teachers": [{"name": "Ann"}, {"name": "Bob"}]}"#),
        _ => json(404, "{}"),
    });
    let host = json!([svc.url()]);
    let gw = gateway(
        json!({}),
        json!([
            {"endpoint": "/adults",
             "extra_config": {"modifier/jmespath": {"expr": "students[?age > `18`].name"}},
             "backend": [{"host": host, "url_pattern": "/students"}]},
            {"endpoint": "/school",
             "extra_config": {"modifier/jmespath": {"expr": "{adults: adults, teachers: teachers[].name}"}},
             "backend": [
                {"host": host, "url_pattern": "/students", "group": "g",
                 "extra_config": {"modifier/jmespath": {"expr": "{adults: length(g.students[?age >= `18`])}"}}},
                {"host": host, "url_pattern": "/teachers"}]},
            {"endpoint": "/names",
             "backend": [{"host": host, "url_pattern": "/students",
                          "extra_config": {"modifier/jmespath": {"expr": "students[].name"}}}]},
            {"endpoint": "/yaml", "output_encoding": "yaml",
             "extra_config": {"modifier/jmespath": {"expr": "students[0]"}},
             "backend": [{"host": host, "url_pattern": "/students"}]},
        ]),
    );
    let r = gw.get("/adults");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.header("x-krakend-completed"), Some("true"));
    assert_eq!(r.json(), json!(["Bill", "Jessica"]));

    let r = gw.get("/school");
    assert_eq!(r.json(), json!({"adults": 2, "teachers": ["Ann", "Bob"]}));

    // A backend-level array is merged under "collection", as KrakenD does.
    let r = gw.get("/names");
    assert_eq!(r.json(), json!({"collection": ["Bill", "Mary", "Jessica"]}));

    let r = gw.get("/yaml");
    assert_eq!(r.text(), "age: 23\nname: Bill\n");
}

#[test]
fn content_replacer_on_root_and_nested_fields_never_inside_arrays() {
    let svc = Backend::start(|_| {
        json(
            200,
            r#"{"message": "6 items left", "data": {"credit_card": "1234567812345678", "n": 5},
                "items": [{"message": "3 items left"}], "tags": ["6 items left"]}"#,
        )
    });
    let replacer = json!({"plugin/req-resp-modifier": {
        "name": ["content-replacer"],
        "content-replacer": {
            "@comment": "as in KrakenD's documentation",
            "data.credit_card": {"find": "(^\\d{4})(.*)", "replace": "${1}-XXXX", "regexp": true},
            "message": {"find": " items left", "replace": ""},
            "items.message": {"find": " items left", "replace": ""},
            "data.n": {"find": "5", "replace": "6"}
        }
    }});
    let host = json!([svc.url()]);
    let gw = gateway(
        json!({}),
        json!([
            {"endpoint": "/endpoint-level", "extra_config": replacer,
             "backend": [{"host": host, "url_pattern": "/"}]},
            {"endpoint": "/backend-level",
             "backend": [{"host": host, "url_pattern": "/", "extra_config": replacer}]},
        ]),
    );
    let want = json!({
        "message": "6",
        "data": {"credit_card": "1234-XXXX", "n": 5},
        "items": [{"message": "3 items left"}],
        "tags": ["6 items left"],
    });
    for path in ["/endpoint-level", "/backend-level"] {
        let r = gw.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.json(), want, "{path}");
    }
}

#[test]
fn fast_json_is_json() {
    let svc = Backend::start(|_| json(200, r#"{"b": [1, 2.5, "x"], "a": {"c": null}}"#));
    let host = json!([svc.url()]);
    let gw = gateway(
        json!({}),
        json!([
            {"endpoint": "/fast", "output_encoding": "fast-json", "backend": [{"host": host, "url_pattern": "/"}]},
            {"endpoint": "/json", "output_encoding": "json", "backend": [{"host": host, "url_pattern": "/"}]},
        ]),
    );
    let fast = gw.get("/fast");
    let plain = gw.get("/json");
    assert_eq!(fast.status, 200);
    assert_eq!(fast.header("content-type"), plain.header("content-type"));
    assert_eq!(fast.body, plain.body);
    assert_eq!(fast.text(), r#"{"a":{"c":null},"b":[1,2.5,"x"]}"#);
}

#[test]
fn placeholders_inside_a_segment_with_disable_rest() {
    let a = echo();
    let host = json!([a.url()]);
    let gw = gateway(
        json!({"disable_rest": true}),
        json!([
            {"endpoint": "/file.{ext}", "backend": [{"host": host, "url_pattern": "/files/{ext}"}]},
            {"endpoint": "/var{iable}/x", "backend": [{"host": host, "url_pattern": "/v/{iable}.json"}]},
            {"endpoint": "/file.txt", "backend": [{"host": host, "url_pattern": "/the-text"}]},
        ]),
    );
    let rows = [
        ("/file.png", "/files/png"),
        ("/file.txt", "/the-text"),
        ("/variable/x", "/v/iable.json"),
        ("/var%20y/x", "/v/%20y.json"),
    ];
    for (path, want) in rows {
        assert_eq!(target_of(&gw, path), (200, want.to_owned()), "{path}");
    }
    assert_eq!(gw.get("/file.").status, 404);
    assert_eq!(gw.get("/var/x").status, 404);
    assert_eq!(gw.get("/file.%2e%2e").status, 400);
    assert!(a.requests().iter().all(|s| !s.target.contains("..")));
}

#[test]
fn placeholders_inside_a_segment_without_disable_rest_are_refused() {
    let dir = common::TempDir::new();
    let path = dir.0.join("c.json");
    std::fs::write(
        &path,
        r#"{"version": 3, "endpoints": [{"endpoint": "/file.{ext}", "backend": [{"host": ["http://127.0.0.1:1"], "url_pattern": "/f/{ext}"}]}]}"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("endpoints[0].endpoint") && stderr.contains("\"disable_rest\": true"),
        "{stderr}"
    );
}

const FEED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
 <channel>
  <title>TV shows</title><link>http://localhost/</link><description>Schedule</description>
  <language>en</language><lastBuildDate>Tue, 01 Dec 2026 08:00:00 GMT</lastBuildDate>
  <item><title>Episode 1</title><link>http://localhost/1</link><guid>ep-1</guid>
   <pubDate>Mon, 30 Nov 2026 20:00:00 +0000</pubDate><description>Pilot</description></item>
  <item><title>Episode 2</title><link>http://localhost/2</link><guid>ep-2</guid></item>
 </channel>
</rss>"#;

#[test]
fn rss_feeds_from_a_local_backend() {
    let svc = Backend::start(|seen| match seen.path() {
        "/user/schedule/42.rss" => text(200, "application/rss+xml", FEED),
        "/broken.rss" => text(200, "application/rss+xml", "<html>nope</html>"),
        _ => text(404, "text/plain", "no"),
    });
    let host = json!([svc.url()]);
    let gw = gateway(
        json!({}),
        json!([
            {"endpoint": "/showrss/{id}", "backend": [
                {"host": host, "url_pattern": "/user/schedule/{id}.rss", "encoding": "rss",
                 "group": "schedule", "allow": ["items", "title"]}]},
            {"endpoint": "/whole", "backend": [
                {"host": host, "url_pattern": "/user/schedule/42.rss", "encoding": "rss"}]},
            {"endpoint": "/broken", "backend": [
                {"host": host, "url_pattern": "/broken.rss", "encoding": "rss"}]},
        ]),
    );
    let r = gw.get("/showrss/42");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"schedule": {"title": "TV shows", "items": [
            {"title": "Episode 1", "link": "http://localhost/1", "links": ["http://localhost/1"],
             "guid": "ep-1", "description": "Pilot", "published": "Mon, 30 Nov 2026 20:00:00 +0000",
             "publishedParsed": "2026-11-30T20:00:00Z"},
            {"title": "Episode 2", "link": "http://localhost/2", "links": ["http://localhost/2"], "guid": "ep-2"}
        ]}})
    );
    let whole = gw.get("/whole").json();
    assert_eq!(whole["type"], "rss");
    assert_eq!(whole["language"], "en");
    assert_eq!(whole["description"], "Schedule");
    assert_eq!(whole["updated"], "Tue, 01 Dec 2026 08:00:00 GMT");
    assert_eq!(whole["author"], Value::Null);
    assert_eq!(whole["custom"], Value::Null);
    assert_eq!(
        gw.get("/broken").status,
        500,
        "not a feed: the backend failed"
    );
}
