//! `backend/graphql` against a real GraphQL server (graphene 2.1.9,
//! `tests/support/graphql_server.py`, run with Debian's /usr/bin/python3).
//!
//! Without python3-graphene the tests are skipped, unless `CI` is set (as
//! `.ci/run` does): then they fail.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, Gateway, TempDir, closed_port_url, config, json};
use serde_json::{Value, json};

const PYTHON: &str = common::DEBIAN_PYTHON;

/// The GraphQL server, killed when dropped.
struct GraphqlServer {
    child: Child,
    port: u16,
}

impl GraphqlServer {
    /// `None` (the test returns) when graphene is not installed and `CI`
    /// is not set.
    fn start() -> Option<GraphqlServer> {
        if !common::available_or_skip(
            common::python_imports("graphene"),
            "/usr/bin/python3 cannot import graphene (apt-get install python3-graphene)",
        ) {
            return None;
        }
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/graphql_server.py"
        );
        let mut child = Command::new(PYTHON)
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the GraphQL server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server's port");
        Some(GraphqlServer { child, port })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every GraphQL request the server received, oldest first.
    fn seen(&self) -> Vec<Value> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .write_all(b"GET /__seen HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1;
        serde_json::from_str::<Value>(body)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for GraphqlServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `backend/graphql` backend on `host`.
fn graphql_backend(host: &str, settings: Value) -> Value {
    json!({
        "host": [host],
        "url_pattern": "/graphql",
        "extra_config": {"backend/graphql": settings}
    })
}

fn gateway(endpoints: Value) -> Gateway {
    Gateway::start(&config(&endpoints.to_string()))
}

const USER_QUERY: &str = "query($id: ID!) { user(id: $id) { id name } }";

#[test]
fn a_query_takes_its_variable_from_the_url_and_merges_with_an_http_backend() {
    let Some(server) = GraphqlServer::start() else {
        return;
    };
    let http = Backend::start(|_| json(200, r#"{"extra": 1}"#));
    let gw = gateway(json!([{
        "endpoint": "/users/{id}",
        "backend": [
            graphql_backend(&server.url(), json!({
                "type": "query",
                "query": USER_QUERY,
                "variables": {"id": "{id}", "fixed": [1, "<&>"]}
            })),
            {"host": [http.url()], "url_pattern": "/extra"}
        ]
    }]));
    let resp = gw.get("/users/7");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("X-KrakenD-Completed"), Some("true"));
    assert_eq!(
        resp.json(),
        json!({"data": {"user": {"id": "7", "name": "user 7"}}, "extra": 1})
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["method"], "POST");
    assert_eq!(seen[0]["target"], "/graphql");
    assert_eq!(seen[0]["content_type"], "application/json");
    // What lura's json.Marshal writes: sorted keys, HTML-safe escapes.
    assert_eq!(
        seen[0]["body"],
        format!(
            r#"{{"query":"{USER_QUERY}","variables":{{"fixed":[1,"\u003c\u0026\u003e"],"id":"7"}}}}"#
        )
    );
}

#[test]
fn a_mutation_sends_the_clients_body_over_the_configured_variables() {
    let Some(server) = GraphqlServer::start() else {
        return;
    };
    let query = "mutation AddUser($name: String!, $age: Int) { addUser(name: $name, age: $age) { id name age } }";
    let gw = gateway(json!([{
        "endpoint": "/users",
        "method": "POST",
        "backend": [graphql_backend(&server.url(), json!({
            "type": "MUTATION",
            "query": query,
            "operationName": "AddUser",
            "variables": {"name": "nobody", "age": 3}
        }))]
    }]));
    let body = r#"{"name": "ann"}"#;
    let resp = gw.raw(
        format!(
            "POST /users HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json(),
        json!({"data": {"addUser": {"id": "u-ann", "name": "ann", "age": 3}}})
    );
    let seen = server.seen();
    assert_eq!(seen[0]["method"], "POST");
    assert_eq!(seen[0]["content_type"], "application/json");
    assert_eq!(
        seen[0]["body"],
        format!(
            r#"{{"query":"{query}","operationName":"AddUser","variables":{{"age":3,"name":"ann"}}}}"#
        )
    );

    // A body that is not a JSON object fails the call (lura's
    // json.Unmarshal error), and the server is not called.
    let resp = gw.raw(b"POST /users HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n[1]");
    assert_eq!(resp.status, 500);
    assert_eq!(resp.header("X-KrakenD-Completed"), Some("false"));
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn graphql_errors_come_back_in_the_document() {
    let Some(server) = GraphqlServer::start() else {
        return;
    };
    let gw = gateway(json!([{
        "endpoint": "/users/{id}",
        "backend": [graphql_backend(&server.url(), json!({
            "type": "query", "query": USER_QUERY, "variables": {"id": "{id}"}
        }))]
    }]));
    // The server answers 200 with "errors": a good HTTP answer, as in KrakenD.
    let resp = gw.get("/users/missing");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("X-KrakenD-Completed"), Some("true"));
    assert_eq!(
        resp.json(),
        json!({"data": {"user": null}, "errors": [{"message": "no user missing"}]})
    );
}

#[test]
fn a_server_that_is_down_fails_the_backend_as_an_http_one() {
    let http = Backend::start(|_| json(200, r#"{"extra": 1}"#));
    let down = closed_port_url();
    let settings = json!({"type": "query", "query": "{ echo(text: \"x\") }"});
    let gw = gateway(json!([
        {"endpoint": "/alone", "backend": [graphql_backend(&down, settings.clone())]},
        {"endpoint": "/merged", "backend": [
            graphql_backend(&down, settings),
            {"host": [http.url()], "url_pattern": "/extra"}
        ]}
    ]));
    let resp = gw.get("/alone");
    assert_eq!(resp.status, 500);
    assert_eq!(resp.header("X-KrakenD-Completed"), Some("false"));
    let resp = gw.get("/merged");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("X-KrakenD-Completed"), Some("false"));
    assert_eq!(resp.json(), json!({"extra": 1}));
}

#[test]
fn a_parameter_with_quotes_backslashes_and_newlines_stays_a_string() {
    let Some(server) = GraphqlServer::start() else {
        return;
    };
    let gw = gateway(json!([{
        "endpoint": "/echo/{text}",
        "backend": [graphql_backend(&server.url(), json!({
            "type": "query",
            "query": "query($t: String!) { echo(text: $t) }",
            "variables": {"t": "{text}"}
        }))]
    }]));
    // `a"b\c<newline>d") } { x: echo(text: "y` decoded: were it pasted into
    // the document, it would close the string and add a field.
    let resp = gw.get("/echo/a%22b%5Cc%0Ad%22%29%20%7D%20%7B%20x%3A%20echo%28text%3A%20%22y");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json(),
        json!({"data": {"echo": "a\"b\\c\nd\") } { x: echo(text: \"y"}})
    );
    let body = server.seen()[0]["body"].as_str().unwrap().to_owned();
    assert!(
        body.ends_with(r#""variables":{"t":"a\"b\\c\nd\") } { x: echo(text: \"y"}}"#),
        "{body}"
    );
}

#[test]
fn query_path_is_read_at_start_and_get_sends_the_request_in_the_query_string() {
    let Some(server) = GraphqlServer::start() else {
        return;
    };
    let dir = TempDir::new();
    let file = dir.0.join("user.graphql");
    std::fs::write(&file, USER_QUERY).unwrap();
    let gw = gateway(json!([{
        "endpoint": "/users/{id}",
        "backend": [{
            "host": [server.url()],
            "url_pattern": "/graphql?src=gw",
            "extra_config": {"backend/graphql": {
                "type": "query",
                "method": "get",
                "query_path": file.to_str().unwrap(),
                "variables": {"id": "{id}"}
            }}
        }]
    }]));
    // The file is read once: changing it now changes nothing.
    std::fs::write(&file, "{ broken").unwrap();
    let resp = gw.get("/users/9");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.json(),
        json!({"data": {"user": {"id": "9", "name": "user 9"}}})
    );
    let seen = server.seen();
    assert_eq!(seen[0]["method"], "GET");
    assert_eq!(seen[0]["body"], "");
    assert_eq!(
        seen[0]["target"],
        "/graphql?src=gw&query=query%28%24id%3A+ID%21%29+%7B+user%28id%3A+%24id%29+%7B+id+name+%7D+%7D&variables=%7B%22id%22%3A%229%22%7D"
    );
}

#[test]
fn a_slow_graphql_server_does_not_delay_another_endpoint_on_the_worker() {
    let Some(server) = GraphqlServer::start() else {
        return;
    };
    let http = Backend::start(|_| json(200, r#"{"fast": true}"#));
    let gw = gateway(json!([
        {"endpoint": "/slow", "timeout": "10s", "backend": [graphql_backend(&server.url(), json!({
            "type": "query", "query": "{ slow(seconds: 3) }"
        }))]},
        {"endpoint": "/fast", "backend": [{"host": [http.url()], "url_pattern": "/f"}]}
    ]));
    let addr = gw.addr;
    let slow = std::thread::spawn(move || {
        let started = Instant::now();
        let mut conn = common::Client::connect(addr);
        conn.send(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
        let resp = conn.response().expect("a response");
        (resp.status, started.elapsed())
    });
    // The slow call is at the server (one worker: `--cores 1`).
    common::eventually(
        "the slow query reaches the server",
        Duration::from_secs(5),
        || !server.seen().is_empty(),
    );
    let started = Instant::now();
    let resp = gw.get("/fast");
    let fast = started.elapsed();
    assert_eq!(resp.status, 200);
    let (status, slow_took) = slow.join().unwrap();
    assert_eq!(status, 200);
    assert!(slow_took >= Duration::from_secs(3), "{slow_took:?}");
    assert!(
        fast < Duration::from_secs(1),
        "the fast endpoint took {fast:?}"
    );
}

/// `cuttle check` on a file with `backend` as the only backend of an
/// endpoint with `{id}`: (exit code, stderr).
fn check(backend: Value) -> (i32, String) {
    check_endpoint(json!({"endpoint": "/e/{id}", "backend": [backend]}))
}

fn check_endpoint(endpoint: Value) -> (i32, String) {
    let dir = TempDir::new();
    let path = dir.0.join("krakend.json");
    let endpoints = json!([endpoint]);
    std::fs::write(&path, config(&endpoints.to_string())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn configuration_errors_name_the_json_path() {
    let host = "http://127.0.0.1:9";
    let at = "endpoints[0].backend[0].extra_config.backend/graphql";
    let cases = [
        (
            json!({"type": "query", "query": "{ a }", "query_path": "a.graphql"}),
            format!("{at}.query_path"),
            "both set",
        ),
        (
            json!({"type": "query", "query_path": "/nonexistent/q.graphql"}),
            format!("{at}.query_path"),
            "cannot read",
        ),
        (
            json!({"type": "subscription", "query": "{ a }"}),
            format!("{at}.type"),
            "\"query\" or \"mutation\"",
        ),
        (json!({"query": "{ a }"}), format!("{at}.type"), "missing"),
        (
            json!({"type": "query"}),
            at.to_owned(),
            "no GraphQL document",
        ),
        (
            json!({"type": "query", "query": "{ a }", "variables": [1]}),
            format!("{at}.variables"),
            "must be an object",
        ),
        (
            json!({"type": "query", "query": "{ a }", "variables": {"u": "{JWT.sub}"}}),
            format!("{at}.variables.u"),
            "JWT claims",
        ),
    ];
    for (settings, path, words) in cases {
        let (code, out) = check(graphql_backend(host, settings.clone()));
        assert_ne!(code, 0, "{settings}: accepted");
        assert!(
            out.contains(&path) && out.contains(words),
            "{settings}: {out}"
        );
    }
    // The GraphQL request is built where KrakenD's HTTP client layers see it.
    let mut backend = graphql_backend(host, json!({"type": "query", "query": "{ a }"}));
    backend["extra_config"]["qos/http-cache"] = json!({});
    let (code, out) = check(backend);
    assert_ne!(code, 0);
    assert!(
        out.contains("endpoints[0].backend[0].extra_config.qos/http-cache"),
        "{out}"
    );
    // What KrakenD serves otherwise is served so, with a warning.
    let (code, out) = check(graphql_backend(
        host,
        json!({"type": "query", "query": "{ a }", "variables": {"n": "{nope}"}}),
    ));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{at}.variables.n")) && out.contains("sent as \"\""),
        "{out}"
    );
    let (code, out) = check(graphql_backend(
        host,
        json!({"type": "mutation", "query": "mutation { a }", "variables": {"n": "{id}"}}),
    ));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{at}.variables.n")) && out.contains("query\" only"),
        "{out}"
    );
    // krakend.io: "no-op skips this configuration".
    let (code, out) = check_endpoint(json!({
        "endpoint": "/e/{id}", "output_encoding": "no-op",
        "backend": [graphql_backend(host, json!({"type": "query", "query": "{ a }"}))]
    }));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(at) && out.contains("no-op"), "{out}");
    // The old namespace name is the same component.
    let good = json!({
        "host": [host], "url_pattern": "/g",
        "extra_config": {"github.com/devopsfaith/krakend/transport/http/client/graphql":
            {"type": "query", "query": "{ a }", "variables": {"id": "{id}"}}}
    });
    let (code, out) = check(good);
    assert_eq!(code, 0, "{out}");
}
