//! gRPC backends (`backend/grpc`, docs/grpc.md) against a real gRPC
//! server: `tests/support/grpc_server.py` (Debian's python3-grpcio)
//! serving `tests/support/grpc_test.proto`, whose descriptor set (for
//! cuttle) and Python classes (for the server) protoc makes at test time.
//!
//! Without protoc or Debian's python3-grpcio the tests are skipped, unless
//! `CI` is set (as `.ci/run` does): then they fail.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, Gateway, TempDir, closed_port_url, json};
use serde_json::json;

const PYTHON: &str = common::DEBIAN_PYTHON;

fn support() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support")
}

/// The descriptor set and the Python classes, in a temporary directory;
/// `None` (skip) when protoc or Debian's grpcio is missing outside CI.
fn generated() -> Option<TempDir> {
    let python_ok = common::python_imports("grpc, google.protobuf");
    let protoc_ok = Command::new("protoc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !common::available_or_skip(
        python_ok && protoc_ok,
        "the gRPC tests need protoc and /usr/bin/python3 with grpc (apt-get install protobuf-compiler python3-grpcio python3-protobuf)",
    ) {
        return None;
    }
    let dir = TempDir::new();
    let support = support();
    let status = Command::new("protoc")
        .arg(format!("-I{}", support.display()))
        .arg(format!("-I{}", support.join("wkt").display()))
        .arg("--include_imports")
        .arg(format!(
            "--descriptor_set_out={}",
            dir.0.join("zoo.pb").display()
        ))
        .arg(format!("--python_out={}", dir.0.display()))
        .arg(support.join("grpc_test.proto"))
        .status()
        .expect("run protoc");
    assert!(status.success(), "protoc failed");
    Some(dir)
}

/// The Python gRPC server, stopped (stdin closed, then killed) on drop.
struct GrpcServer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<std::process::ChildStdout>,
    port: u16,
}

impl GrpcServer {
    fn start(generated: &TempDir) -> GrpcServer {
        let mut child = Command::new(PYTHON)
            .arg(support().join("grpc_server.py"))
            .arg(&generated.0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start grpc_server.py");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port = line.trim().parse().expect("the server's port");
        let stdin = child.stdin.take();
        GrpcServer {
            child,
            stdin,
            stdout,
            port,
        }
    }

    /// The server's next line on stdout ("hang": a Hang call is held).
    fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A file with the catalog and `endpoints` (JSON).
fn config(generated: &TempDir, endpoints: serde_json::Value) -> String {
    json!({
        "version": 3,
        "timeout": "3s",
        "extra_config": {"grpc": {"catalog": [generated.0.join("zoo.pb")]}},
        "endpoints": endpoints,
    })
    .to_string()
}

fn find_backend(host: &str, grpc: serde_json::Value) -> serde_json::Value {
    json!({
        "host": [host],
        "url_pattern": "/cuttle.test.Zoo/Find",
        "extra_config": {"backend/grpc": grpc},
    })
}

fn post(gateway: &Gateway, path: &str, body: &str) -> common::Response {
    gateway.raw(
        format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Tenant: acme\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

#[test]
fn a_unary_call_maps_params_and_body_in_and_merges_with_an_http_backend() {
    let Some(generated) = generated() else { return };
    let server = GrpcServer::start(&generated);
    let weather = Backend::start(|_| json(200, r#"{"weather": "sunny"}"#));
    let endpoints = json!([
        {
            "endpoint": "/animals/{id}",
            "method": "POST",
            "input_query_strings": ["name", "lat"],
            "input_headers": ["X-Tenant"],
            "backend": [
                find_backend(&server.host(), json!({
                    "use_request_body": true,
                    "input_mapping": {"lat": "where.latitude"},
                    "header_mapping": {"X-Tenant": "tenant"},
                })),
                {"host": [weather.url()], "url_pattern": "/weather", "method": "GET"},
            ],
        },
        {
            "endpoint": "/styled/{id}",
            "backend": [find_backend(&server.host(), json!({
                "output_enum_as_string": true,
                "output_timestamp_as_string": true,
                "output_duration_as_string": true,
                "output_remove_unset_values": true,
                "response_naming_convention": "camelCase",
            }))],
        },
    ]);
    let gateway = Gateway::start(&config(&generated, endpoints));

    let answer = post(
        &gateway,
        "/animals/b%2012?name=Robin&lat=41.5",
        r#"{"count": 3, "tags": ["red", "small"], "name": "overridden by the query"}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("X-KrakenD-Completed"), Some("true"));
    // KrakenD's default output: .proto names, enums as numbers, every
    // field with its zero value, well-known types as {seconds, nanos}.
    assert_eq!(
        answer.json(),
        json!({
            "id": "b 12",
            "name": "Robin",
            "kind": 1,
            "where": {"latitude": 41.5, "longitude": 0.0},
            "count": 3,
            "tags": ["red", "small"],
            "seen": {"seconds": 1_700_000_000, "nanos": 0},
            "age": {"seconds": 1, "nanos": 500_000_000},
            "note": "",
            "tenant": "acme",
            "weather": "sunny",
        })
    );

    let styled = gateway.get("/styled/x");
    assert_eq!(styled.status, 200, "{}", styled.text());
    assert_eq!(
        styled.json(),
        json!({
            "id": "x",
            "kind": "KIND_BIRD",
            "seen": "2023-11-14T22:13:20Z",
            "age": "1.5s",
        })
    );
}

#[test]
fn a_grpc_error_status_becomes_its_http_status() {
    let Some(generated) = generated() else { return };
    let server = GrpcServer::start(&generated);
    let mut forwarded = find_backend(&server.host(), json!({}));
    forwarded["extra_config"]["backend/http"] = json!({"return_error_code": true});
    let endpoints = json!([
        {"endpoint": "/code/{id}", "backend": [forwarded]},
        {"endpoint": "/plain/{id}", "backend": [find_backend(&server.host(), json!({}))]},
    ]);
    let gateway = Gateway::start(&config(&generated, endpoints));

    // NOT_FOUND is 404 (google.rpc.Code's HTTP mapping), forwarded with
    // return_error_code as an HTTP backend's 404 would be.
    let answer = gateway.get("/code/missing");
    assert_eq!(answer.status, 404, "{}", answer.text());
    assert_eq!(answer.header("X-KrakenD-Completed"), Some("false"));
    // Without it, a failed backend is KrakenD's 500.
    let answer = gateway.get("/plain/missing");
    assert_eq!(answer.status, 500, "{}", answer.text());
    assert_eq!(answer.header("X-KrakenD-Completed"), Some("false"));
    // The same server still answers the other ids.
    assert_eq!(gateway.get("/code/found").status, 200);
}

#[test]
fn a_server_that_is_down_fails_the_backend_like_an_http_one() {
    let Some(generated) = generated() else { return };
    let down = closed_port_url();
    let down = down.trim_start_matches("http://");
    let weather = Backend::start(|_| json(200, r#"{"weather": "sunny"}"#));
    let endpoints = json!([
        {"endpoint": "/alone/{id}", "backend": [find_backend(down, json!({}))]},
        {"endpoint": "/merged/{id}", "backend": [
            find_backend(down, json!({})),
            {"host": [weather.url()], "url_pattern": "/weather"},
        ]},
    ]);
    let gateway = Gateway::start(&config(&generated, endpoints));

    let alone = gateway.get("/alone/a");
    assert_eq!(alone.status, 500, "{}", alone.text());
    assert_eq!(alone.header("X-KrakenD-Completed"), Some("false"));
    let merged = gateway.get("/merged/a");
    assert_eq!(merged.status, 200, "{}", merged.text());
    assert_eq!(merged.header("X-KrakenD-Completed"), Some("false"));
    assert_eq!(merged.json(), json!({"weather": "sunny"}));
}

#[test]
fn a_hung_server_delays_no_other_endpoint_on_the_worker() {
    let Some(generated) = generated() else { return };
    let mut server = GrpcServer::start(&generated);
    let fast = Backend::start(|_| json(200, r#"{"fast": true}"#));
    let mut hang = find_backend(&server.host(), json!({}));
    hang["url_pattern"] = json!("/cuttle.test.Zoo/Hang");
    let endpoints = json!([
        {"endpoint": "/hang", "backend": [hang]},
        {"endpoint": "/fast", "backend": [{"host": [fast.url()], "url_pattern": "/f"}]},
        {"endpoint": "/find/{id}", "backend": [find_backend(&server.host(), json!({}))]},
    ]);
    // One worker (Gateway::start runs `--cores 1`).
    let gateway = Gateway::start(&config(&generated, endpoints));
    // The connection to the server is opened before the hang.
    assert_eq!(gateway.get("/find/warm").status, 200);

    let hung = {
        let addr = gateway.addr;
        std::thread::spawn(move || {
            let mut client = common::Client::connect(addr);
            client.send(b"GET /hang HTTP/1.1\r\nHost: localhost\r\n\r\n");
            let started = Instant::now();
            let answer = client.response().expect("an answer");
            (answer.status, started.elapsed())
        })
    };
    // The server holds the call: the gateway answers other endpoints
    // meanwhile, an HTTP one and a gRPC one on the same HTTP/2 connection
    // as the hung stream.
    assert_eq!(server.next_line(), "hang");
    for _ in 0..5 {
        let started = Instant::now();
        let answer = gateway.get("/fast");
        assert_eq!(answer.status, 200);
        let answer = gateway.get("/find/b");
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "took {:?} while /hang waited",
            started.elapsed()
        );
    }
    let (status, waited) = hung.join().unwrap();
    // The endpoint timeout (3s) ends the hung call.
    assert_eq!(status, 500);
    assert!(waited >= Duration::from_millis(2500), "{waited:?}");
}

#[test]
fn configuration_errors_name_their_json_path() {
    let Some(generated) = generated() else { return };
    let check = |config: &str| {
        cuttle::config::parse(config, Path::new("grpc.json"))
            .expect_err("refused")
            .to_string()
    };
    let one = |grpc: serde_json::Value, url_pattern: &str| {
        json!({
            "version": 3,
            "extra_config": {"grpc": grpc},
            "endpoints": [{"endpoint": "/a", "backend": [{
                "host": ["127.0.0.1:9"],
                "url_pattern": url_pattern,
                "extra_config": {"backend/grpc": {}},
            }]}],
        })
        .to_string()
    };
    let catalog = json!({"catalog": [generated.0.join("zoo.pb")]});

    let message = check(&one(
        json!({"catalog": [generated.0.join("nowhere.pb")]}),
        "/cuttle.test.Zoo/Find",
    ));
    assert!(
        message.contains("extra_config.grpc.catalog[0]") && message.contains("nowhere.pb"),
        "{message}"
    );
    let message = check(&one(catalog.clone(), "/cuttle.test.Aquarium/Find"));
    assert!(
        message.contains("endpoints[0].backend[0].url_pattern")
            && message.contains("no service \"cuttle.test.Aquarium\"")
            && message.contains("cuttle.test.Zoo"),
        "{message}"
    );
    let message = check(&one(catalog.clone(), "/cuttle.test.Zoo/Lose"));
    assert!(
        message.contains("endpoints[0].backend[0].url_pattern")
            && message.contains("no method \"Lose\""),
        "{message}"
    );
    let message = check(&one(catalog.clone(), "/cuttle.test.Zoo/Watch"));
    assert!(message.contains("streaming"), "{message}");
    // A backend/grpc without the root catalog.
    let mut no_catalog: serde_json::Value =
        serde_json::from_str(&one(json!({}), "/cuttle.test.Zoo/Find")).unwrap();
    no_catalog["extra_config"] = json!({});
    let message = check(&no_catalog.to_string());
    assert!(
        message.contains("endpoints[0].backend[0].extra_config.backend/grpc")
            && message.contains("catalog"),
        "{message}"
    );
    // Options cuttle does not implement are refused, not ignored.
    let mut tls: serde_json::Value =
        serde_json::from_str(&one(catalog.clone(), "/cuttle.test.Zoo/Find")).unwrap();
    tls["endpoints"][0]["backend"][0]["extra_config"]["backend/grpc"] =
        json!({"client_tls": {"allow_insecure_connections": true}});
    let message = check(&tls.to_string());
    assert!(message.contains("backend/grpc.client_tls"), "{message}");
    // Its answer is a JSON document: another encoding is refused.
    let mut xml: serde_json::Value =
        serde_json::from_str(&one(catalog.clone(), "/cuttle.test.Zoo/Find")).unwrap();
    xml["endpoints"][0]["backend"][0]["encoding"] = json!("xml");
    let message = check(&xml.to_string());
    assert!(
        message.contains("endpoints[0].backend[0].encoding"),
        "{message}"
    );
    // And a good file loads.
    cuttle::config::parse(
        &one(catalog, "/cuttle.test.Zoo/Find"),
        Path::new("grpc.json"),
    )
    .expect("a good file");
}
