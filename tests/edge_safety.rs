//! Nothing a client or a backend sends may rewrite another request, reach a
//! host it was not meant for, or be sent twice; configuration that would
//! guard an endpoint and is not implemented is refused (issue 8).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;

/// A backend answering every request with its own target as JSON.
fn echo_backend() -> Backend {
    Backend::start(|seen| {
        json(
            200,
            &serde_json::json!({ "target": seen.target }).to_string(),
        )
    })
}

#[test]
fn path_parameters_that_leave_their_segment_get_400_and_reach_no_backend() {
    let backend = echo_backend();
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/users/{{id}}", "backend": [{{"host": ["{}"], "url_pattern": "/internal/{{id}}/profile"}}]}}]"#,
        backend.url()
    )));
    for value in [
        "..",
        ".",
        "%2e%2e",
        "%2E.",
        ".%2e",
        "a%2Fb",
        "%2F",
        "a%5Cb",
        "..%2F..%2Fadmin",
    ] {
        let resp = gw.get(&format!("/users/{value}"));
        assert_eq!(resp.status, 400, "/users/{value}: {}", resp.text());
    }
    // A raw backslash is refused too (by the parser or as a parameter).
    let resp = gw.raw(b"GET /users/a\\b HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 400);
    assert!(backend.requests().is_empty(), "{:?}", backend.requests());

    // Values that fit one segment are encoded for it, not refused.
    let cases = [
        ("a%20b", "/internal/a%20b/profile"),
        ("me@x.com", "/internal/me@x.com/profile"),
        ("...", "/internal/.../profile"),
        ("a;b", "/internal/a%3Bb/profile"),
        ("%0d%0aX:1", "/internal/%0D%0AX:1/profile"),
    ];
    for (value, seen) in cases {
        let resp = gw.get(&format!("/users/{value}"));
        assert_eq!(resp.status, 200, "/users/{value}");
        assert_eq!(resp.json()["target"], seen, "/users/{value}");
    }
}

#[test]
fn a_parameter_in_a_query_stays_one_value() {
    let backend = echo_backend();
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/search/{{q}}", "backend": [{{"host": ["{}"], "url_pattern": "/s?q={{q}}"}}]}}]"#,
        backend.url()
    )));
    let resp = gw.get("/search/x&admin=true");
    assert_eq!(resp.status, 200);
    let target = resp.json()["target"].as_str().unwrap().to_string();
    assert_eq!(target, "/s?q=x%26admin%3Dtrue");
    let query = query_map(&target);
    assert_eq!(query.len(), 1, "{target}");
    // In a query, dots are only data.
    assert_eq!(gw.get("/search/..").json()["target"], "/s?q=..");
    assert_eq!(gw.get("/search/a+b%26c").json()["target"], "/s?q=a%2Bb%26c");
}

/// A sequential endpoint whose first backend answers with `id`, and whose
/// second backend uses it at `url_pattern`; `/direct` calls the second
/// backend directly (the same pool).
fn sequential_gateway(first: &Backend, second: &Backend, url_pattern: &str) -> Gateway {
    Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/seq", "extra_config": {{"proxy": {{"sequential": true}}}},
              "backend": [{{"host": ["{}"], "url_pattern": "/user"}},
                          {{"host": ["{}"], "url_pattern": "{url_pattern}", "group": "second"}}]}},
            {{"endpoint": "/direct", "backend": [{{"host": ["{}"], "url_pattern": "/direct"}}]}}]"#,
        first.url(),
        second.url(),
        second.url()
    )))
}

const SPLITTING_ID: &str = "x HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\nGET /smuggled";

#[test]
fn a_backend_value_cannot_split_the_next_backend_request() {
    let first =
        Backend::start(|_| json(200, &serde_json::json!({ "id": SPLITTING_ID }).to_string()));
    let second = echo_backend();
    let gw = sequential_gateway(&first, &second, "/orders?id={resp0_id}");
    let mut client = gw.client();
    // The sequential request, then pipelined requests on the same
    // connection that reuse the second backend's pooled connection.
    client.send(b"GET /seq HTTP/1.1\r\nHost: x\r\n\r\n");
    let resp = client.response().expect("a response to /seq");
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json()["second"]["target"],
        "/orders?id=x%20HTTP/1.1%0D%0AHost:%20b%0D%0AContent-Length:%200%0D%0A%0D%0AGET%20/smuggled"
    );
    for _ in 0..5 {
        client.send(b"GET /direct HTTP/1.1\r\nHost: x\r\n\r\n");
        let resp = client.response().expect("a response to /direct");
        assert_eq!(resp.json()["target"], "/direct", "one response behind");
    }
    let targets: Vec<String> = second.requests().into_iter().map(|s| s.target).collect();
    assert!(
        !targets
            .iter()
            .any(|t| t.contains("smuggled") && !t.starts_with("/orders")),
        "{targets:?}"
    );
    assert_eq!(targets.len(), 6, "{targets:?}");
}

#[test]
fn a_backend_value_that_is_not_one_segment_is_not_sent() {
    for id in [SPLITTING_ID, "..", "a/b"] {
        let first =
            Backend::start(move |_| json(200, &serde_json::json!({ "id": id }).to_string()));
        let second = echo_backend();
        let gw = sequential_gateway(&first, &second, "/orders/{resp0_id}/items");
        let resp = gw.get("/seq");
        assert_eq!(resp.header("X-KrakenD-Completed"), Some("false"), "{id:?}");
        assert!(
            second.requests().is_empty(),
            "{id:?}: {:?}",
            second.requests()
        );
        assert_eq!(gw.get("/direct").json()["target"], "/direct");
    }
}

/// Reads one request (head and a Content-Length or chunked body); `None`
/// when the connection ended first.
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let head = String::from_utf8(read_head(stream)?).ok()?;
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if let Some(len) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        body.resize(len, 0);
        stream.read_exact(&mut body).ok()?;
    } else if lower.contains("transfer-encoding: chunked") {
        let mut byte = [0u8; 1];
        while !body.ends_with(b"0\r\n\r\n") {
            stream.read_exact(&mut byte).ok()?;
            body.push(byte[0]);
        }
    }
    Some((head, body))
}

#[test]
fn a_post_is_not_sent_twice_when_a_reused_connection_drops_it() {
    // Every connection answers GETs; a POST is read whole and then the
    // connection is closed without an answer, as a crashing backend would.
    let posts = Arc::new(AtomicUsize::new(0));
    let gets = Arc::new(AtomicUsize::new(0));
    let (posts_seen, gets_seen) = (posts.clone(), gets.clone());
    let backend = RawBackend::start(move |mut stream| {
        while let Some((head, _body)) = read_request(&mut stream) {
            if head.starts_with("POST") {
                posts_seen.fetch_add(1, Ordering::SeqCst);
                return;
            }
            let first = gets_seen.fetch_add(1, Ordering::SeqCst) == 0;
            if !first && head.starts_with("GET /retry") {
                // The second GET on a reused connection: drop it unanswered.
                if head.contains("X-Round: 1") {
                    return;
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        }
    });
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/warm", "backend": [{{"host": ["{url}"], "url_pattern": "/warm"}}]}},
            {{"endpoint": "/order", "method": "POST", "backend": [{{"host": ["{url}"], "url_pattern": "/order"}}]}}]"#,
        url = backend.url()
    )));
    let mut client = gw.client();
    client.send(b"GET /warm HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(client.response().unwrap().status, 200);
    client.send(b"POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\"n\": 1}\n");
    let resp = client.response().expect("an answer to the POST");
    assert_eq!(resp.status, 500, "{}", resp.text());
    assert_eq!(
        posts.load(Ordering::SeqCst),
        1,
        "the POST reached the backend twice"
    );
}

#[test]
fn an_idempotent_request_is_resent_when_a_reused_connection_drops_it() {
    // Once, a connection that already answered reads the next request and
    // hangs up: a PUT may be sent again on a new connection.
    let dropped = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(AtomicUsize::new(0));
    let (dropping, receiving) = (dropped.clone(), received.clone());
    let backend = RawBackend::start(move |mut stream| {
        let mut answered = 0;
        while read_request(&mut stream).is_some() {
            receiving.fetch_add(1, Ordering::SeqCst);
            if answered == 1 && dropping.fetch_add(1, Ordering::SeqCst) == 0 {
                return;
            }
            answered += 1;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        }
    });
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/item", "method": "PUT", "backend": [{{"host": ["{}"], "url_pattern": "/item"}}]}}]"#,
        backend.url()
    )));
    // Which pooled connection a PUT takes depends on when the start-up
    // connections finished; a few PUTs are enough to reuse an answered one.
    let mut client = gw.client();
    let mut sent = 0;
    while dropped.load(Ordering::SeqCst) == 0 && sent < 8 {
        client.send(b"PUT /item HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
        assert_eq!(client.response().unwrap().status, 200);
        sent += 1;
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the hang-up happened");
    assert_eq!(
        received.load(Ordering::SeqCst),
        sent + 1,
        "the PUT was sent again"
    );
}

/// Go's transport (`persistConn.shouldRetryRequest`) sends a request again
/// only when its pooled connection failed before one byte of the response
/// came. A backend that began to answer and then reset the connection
/// may have done the work: even a GET is not sent twice; the client gets
/// the failure.
#[test]
fn a_request_is_not_resent_once_part_of_its_response_came() {
    let cut = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(AtomicUsize::new(0));
    let (cutting, receiving) = (cut.clone(), received.clone());
    let backend = RawBackend::start(move |mut stream| {
        let mut answered = 0;
        while read_request(&mut stream).is_some() {
            receiving.fetch_add(1, Ordering::SeqCst);
            if answered == 1 && cutting.fetch_add(1, Ordering::SeqCst) == 0 {
                // Part of a head, read by the gateway before the reset.
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n");
                std::thread::sleep(std::time::Duration::from_millis(300));
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Default::default()));
                return;
            }
            answered += 1;
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        }
    });
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/item", "backend": [{{"host": ["{}"], "url_pattern": "/item"}}]}}]"#,
        backend.url()
    )));
    let mut client = gw.client();
    let mut sent = 0;
    let mut last = 0;
    while cut.load(Ordering::SeqCst) == 0 && sent < 8 {
        client.send(b"GET /item HTTP/1.1\r\nHost: x\r\n\r\n");
        last = client.response().unwrap().status;
        sent += 1;
    }
    assert_eq!(cut.load(Ordering::SeqCst), 1, "the reset happened");
    assert_eq!(last, 500, "the cut answer is a failure");
    assert_eq!(
        received.load(Ordering::SeqCst),
        sent,
        "the GET was sent again after part of its response came"
    );
}

#[test]
fn credentials_do_not_follow_a_redirect_to_another_host() {
    // The landing backend listens on another loopback address: another host.
    let other = TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let landing = Backend::serve(other, |seen| {
        json(200, &format!("{{\"at\": \"{}\"}}", seen.path()))
    });
    let landing_url = landing.url();
    let moved_to = landing_url.clone();
    let origin = Backend::start(move |seen| match seen.path() {
        "/away" => Reply::Full(
            302,
            vec![("Location".into(), format!("{moved_to}/landing"))],
            vec![],
        ),
        "/near" => Reply::Full(302, vec![("Location".into(), "/here".into())], vec![]),
        _ => json(200, r#"{"at": "/here"}"#),
    });
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/away", "input_headers": ["Authorization", "Cookie", "X-Trace"],
              "backend": [{{"host": ["{origin}"], "url_pattern": "/away"}}]}},
            {{"endpoint": "/near", "input_headers": ["Authorization", "Cookie", "X-Trace"],
              "backend": [{{"host": ["{origin}"], "url_pattern": "/near"}}]}},
            {{"endpoint": "/landing", "backend": [{{"host": ["{landing_url}"], "url_pattern": "/landing"}}]}}]"#,
        origin = origin.url()
    )));
    let with_credentials = |path: &str| {
        gw.raw(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\nCookie: s=1\r\nX-Trace: t\r\n\r\n")
                .as_bytes(),
        )
    };
    let resp = with_credentials("/away");
    assert_eq!(resp.json()["at"], "/landing");
    let seen = landing.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[0].header("cookie"), None);
    assert_eq!(
        seen[0].header("x-trace"),
        Some("t"),
        "other headers still follow"
    );

    // On the same host they follow, as in Go.
    let resp = with_credentials("/near");
    assert_eq!(resp.json()["at"], "/here");
    let here = origin
        .requests()
        .into_iter()
        .find(|s| s.path() == "/here")
        .unwrap();
    assert_eq!(here.header("authorization"), Some("Bearer secret"));
    assert_eq!(here.header("cookie"), Some("s=1"));
}

#[test]
fn request_bodies_reach_backends_with_content_length() {
    let backend = echo_backend();
    let gw = Gateway::start(&config(&format!(
        r#"[{{"endpoint": "/in", "method": "POST", "backend": [{{"host": ["{}"], "url_pattern": "/in"}}]}}]"#,
        backend.url()
    )));
    let sent = [
        &b"POST /in HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"[..],
        b"POST /in HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
    ];
    for request in sent {
        assert_eq!(gw.raw(request).status, 200);
    }
    for seen in backend.requests() {
        assert_eq!(seen.header("content-length"), Some("5"));
        assert_eq!(seen.header("transfer-encoding"), None);
        assert_eq!(seen.body, b"hello");
    }
}

#[test]
fn krakend_body_framing_chunks_bodies_unless_content_length_is_forwarded() {
    let backend = echo_backend();
    let gw = Gateway::start_with(
        &config(&format!(
            r#"[{{"endpoint": "/chunked", "method": "POST", "input_headers": ["X-A"], "backend": [{{"host": ["{url}"], "url_pattern": "/in"}}]}},
                {{"endpoint": "/length", "method": "POST", "input_headers": ["Content-Length"], "backend": [{{"host": ["{url}"], "url_pattern": "/in"}}]}}]"#,
            url = backend.url()
        )),
        &["--cores", "1", "--krakend-body-framing"],
    );
    for path in ["/chunked", "/length"] {
        let request = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(gw.raw(request.as_bytes()).status, 200);
    }
    let seen = backend.requests();
    assert_eq!(seen[0].header("transfer-encoding"), Some("chunked"));
    assert_eq!(seen[0].header("content-length"), None);
    assert_eq!(seen[1].header("content-length"), Some("5"));
    assert!(seen.iter().all(|s| s.body == b"hello"));
}

#[test]
fn host_omits_the_default_port() {
    // Needs port 80 on a loopback address (root, nothing else on port 80).
    let listener = match TcpListener::bind("127.0.0.3:80") {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("skipped: cannot listen on 127.0.0.3:80 ({e})");
            return;
        }
    };
    let backend = Backend::serve(listener, |_| json(200, "{}"));
    let gw = Gateway::start(&config(
        r#"[{"endpoint": "/h", "backend": [{"host": ["http://127.0.0.3"], "url_pattern": "/h"}]}]"#,
    ));
    assert_eq!(gw.get("/h").status, 200);
    assert_eq!(backend.requests()[0].header("host"), Some("127.0.0.3"));
}

/// A file whose endpoints use namespaces that guard them.
fn guarded_config(backend: &str) -> String {
    config(&format!(
        r#"[{{"endpoint": "/private", "extra_config": {{"auth/api-keys": {{"roles": ["admin"]}}}},
              "backend": [{{"host": ["{backend}"], "url_pattern": "/private"}}]}}]"#
    ))
    .replacen(
        r#""version": 3,"#,
        r#""version": 3, "extra_config": {"security/policies": {"req": {"policies": ["true"]}}},"#,
        1,
    )
}

fn cuttle(args: &[&str], config: &str) -> std::process::Output {
    let dir = TempDir::new();
    let path = dir.0.join("guarded.json");
    std::fs::write(&path, config).unwrap();
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["-c", path.to_str().unwrap()]);
    Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(&full)
        .output()
        .unwrap()
}

#[test]
fn unimplemented_guards_fail_closed_in_check_and_run() {
    let backend = echo_backend();
    let file = guarded_config(&backend.url());
    for args in [&["check"][..], &["run", "-p", "0", "--cores", "1"][..]] {
        let out = cuttle(args, &file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{args:?} accepted the file: {stderr}"
        );
        for expected in [
            "guarded.json",
            "endpoints[0].extra_config.auth/api-keys: \"auth/api-keys\" is not implemented",
            "extra_config.security/policies: ",
            "--ignore-unimplemented",
        ] {
            assert!(
                stderr.contains(expected),
                "{args:?}: {expected:?} not in {stderr}"
            );
        }
        assert!(!String::from_utf8_lossy(&out.stdout).contains("Syntax OK"));
    }
    let out = cuttle(&["check", "--ignore-unimplemented"], &file);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Syntax OK!"));
    assert!(backend.requests().is_empty());
}

#[test]
fn ignored_guards_are_logged_at_error_level_one_line_each() {
    use std::io::BufRead;
    let dir = TempDir::new();
    let path = dir.0.join("guarded.json");
    std::fs::write(&path, guarded_config("http://127.0.0.1:9")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args([
            "run",
            "-p",
            "0",
            "--cores",
            "1",
            "--ignore-unimplemented",
            "-c",
        ])
        .arg(&path)
        .env("CUTTLE_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut errors = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.contains("listening on") {
            break;
        }
        if line.contains("ERROR") {
            errors.push(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    for place in [
        "extra_config.security/policies",
        "endpoints[0].extra_config.auth/api-keys",
    ] {
        assert!(
            errors
                .iter()
                .any(|l| l.contains(place) && l.contains("NOT ENFORCED")),
            "{place}: {errors:#?}"
        );
    }
}

#[test]
fn ignoring_unimplemented_guards_serves_them_unprotected() {
    let backend = echo_backend();
    let gw = Gateway::start_with(
        &guarded_config(&backend.url()),
        &["--cores", "1", "--ignore-unimplemented"],
    );
    // The operator asked for the API-key check to be ignored.
    assert_eq!(gw.get("/private").status, 200);
    let targets: Vec<String> = backend.requests().into_iter().map(|s| s.target).collect();
    assert_eq!(targets, ["/private"]);
}

#[test]
fn a_claim_placeholder_without_a_validator_is_refused_even_when_ignoring() {
    let file = config(
        r#"[{"endpoint": "/orders", "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/users/{JWT.sub}/orders"}]}]"#,
    );
    for args in [&["check"][..], &["check", "--ignore-unimplemented"][..]] {
        let out = cuttle(args, &file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted the file");
        assert!(
            stderr.contains("endpoints[0].backend[0].url_pattern: {JWT.sub} needs a validated JWT"),
            "{stderr}"
        );
    }
}
