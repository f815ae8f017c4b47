//! `backend/pubsub/publisher` and `backend/pubsub/subscriber` on
//! `nats://` against Debian's real `nats-server`, which each test starts
//! on an ephemeral port. The test's own NATS client is the text protocol
//! over a plain socket (`SUB`, `PUB`, `MSG`, `HMSG`).
//!
//! Without the `nats-server` binary the tests are skipped, unless `CI` is
//! set (as `.ci/run` does): then they fail.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, Gateway, Response, eventually, json};

/// A `nats-server` on ephemeral ports (client and monitoring), killed
/// when dropped.
struct NatsServer {
    port: u16,
    monitor: u16,
    child: Child,
}

impl NatsServer {
    /// `None` (the test then returns) when the binary is missing outside CI.
    fn start() -> Option<NatsServer> {
        NatsServer::start_on(free_port())
    }

    fn start_on(port: u16) -> Option<NatsServer> {
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        if !common::available_or_skip(
            binary.is_some(),
            "no nats-server (apt-get install nats-server)",
        ) {
            return None;
        }
        let binary = binary?;
        let monitor = free_port();
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &monitor.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let server = NatsServer {
            port,
            monitor,
            child,
        };
        eventually("nats-server accepts", Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
                && TcpStream::connect(("127.0.0.1", monitor)).is_ok()
        });
        Some(server)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Whether a client holds a subscription to `subject` (the server's
    /// monitoring `/connz?subs=1`; `/subsz` counts the server's own too).
    fn subscribed(&self, subject: &str) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.monitor)) else {
            return false;
        };
        let _ = stream.write_all(b"GET /connz?subs=1 HTTP/1.0\r\nHost: nats\r\n\r\n");
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let Ok(connz) = serde_json::from_str::<serde_json::Value>(body) else {
            return false;
        };
        connz["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["subscriptions_list"].as_array())
            .flatten()
            .any(|s| s == subject)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A message as the test's client received it.
#[derive(Debug)]
struct Message {
    subject: String,
    headers: String,
    payload: Vec<u8>,
}

/// The test's NATS client: the text protocol over one socket.
struct Peer {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// The last subscription id given.
    sid: u32,
}

impl Peer {
    fn connect(server: &NatsServer) -> Peer {
        let stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut peer = Peer {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            sid: 0,
        };
        assert!(peer.line().starts_with("INFO "));
        peer.send(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n");
        peer.sync();
        peer
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }

    /// PING, then waits for the PONG: the server has processed all that
    /// was sent before.
    fn sync(&mut self) {
        self.send(b"PING\r\n");
        loop {
            match self.line().as_str() {
                "PONG" => return,
                "PING" => self.send(b"PONG\r\n"),
                other => assert!(!other.starts_with("-ERR"), "{other}"),
            }
        }
    }

    fn subscribe(&mut self, subject: &str) {
        self.sid += 1;
        self.send(format!("SUB {subject} {}\r\n", self.sid).as_bytes());
        self.sync();
    }

    fn publish(&mut self, subject: &str, payload: &[u8]) {
        self.send(format!("PUB {subject} {}\r\n", payload.len()).as_bytes());
        self.send(payload);
        self.send(b"\r\n");
        self.sync();
    }

    fn next_message(&mut self) -> Message {
        loop {
            let line = self.line();
            let words: Vec<&str> = line.split(' ').collect();
            match words[0] {
                "PING" => self.send(b"PONG\r\n"),
                "MSG" => {
                    let size: usize = words.last().unwrap().parse().unwrap();
                    let payload = self.exactly(size);
                    return Message {
                        subject: words[1].to_owned(),
                        headers: String::new(),
                        payload,
                    };
                }
                "HMSG" => {
                    let total: usize = words[words.len() - 1].parse().unwrap();
                    let head: usize = words[words.len() - 2].parse().unwrap();
                    let all = self.exactly(total);
                    return Message {
                        subject: words[1].to_owned(),
                        headers: String::from_utf8_lossy(&all[..head]).into_owned(),
                        payload: all[head..].to_vec(),
                    };
                }
                _ => {}
            }
        }
    }

    fn exactly(&mut self, size: usize) -> Vec<u8> {
        let mut bytes = vec![0; size + 2];
        self.reader.read_exact(&mut bytes).unwrap();
        bytes.truncate(size);
        bytes
    }
}

fn start_gateway(config: &str, server_url: &str) -> Gateway {
    Gateway::start_env(
        config,
        &["--cores", "1"],
        &[("NATS_SERVER_URL", server_url)],
        false,
    )
}

fn pubsub_backend(namespace: &str, key: &str, url: &str) -> String {
    format!(
        r#"{{"host": ["nats://"], "url_pattern": "/ignored", "disable_host_sanitize": true,
            "extra_config": {{"backend/pubsub/{namespace}": {{"{key}": "{url}"}}}}}}"#
    )
}

fn publisher(topic: &str) -> String {
    pubsub_backend("publisher", "topic_url", topic)
}

fn subscriber(subscription: &str) -> String {
    pubsub_backend("subscriber", "subscription_url", subscription)
}

fn post(gateway: &Gateway, path: &str, extra: &str, body: &str) -> Response {
    gateway.raw(
        format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

#[test]
fn a_publisher_endpoint_publishes_the_clients_body_with_its_headers_under_natsv2() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let http = Backend::start(|_| json(200, r#"{"b":1}"#));
    let config = format!(
        r#"{{"version": 3, "timeout": "2s", "endpoints": [
            {{"endpoint": "/orders", "method": "POST", "input_headers": ["X-Tenant"],
              "backend": [{}]}},
            {{"endpoint": "/audit", "method": "POST", "input_headers": ["X-Tenant"],
              "backend": [{}]}},
            {{"endpoint": "/both", "method": "POST",
              "backend": [{}, {{"host": ["{}"], "url_pattern": "/b"}}]}}]}}"#,
        publisher("orders.new"),
        publisher("audit?natsv2"),
        publisher("orders.both"),
        http.url()
    );
    let gateway = start_gateway(&config, &server.url());
    let mut peer = Peer::connect(&server);
    peer.subscribe("orders.new");
    peer.subscribe("audit");
    peer.subscribe("orders.both");

    let response = post(&gateway, "/orders", "X-Tenant: t1\r\n", r#"{"id":1}"#);
    assert_eq!(response.status, 200, "{}", response.text());
    // krakend-pubsub's answer has no data, and lura's router calls a
    // response without data incomplete (router/gin/endpoint.go).
    assert_eq!(response.header("X-KrakenD-Completed"), Some("false"));
    assert_eq!(response.json(), serde_json::json!({}));
    let message = peer.next_message();
    assert_eq!(message.subject, "orders.new");
    assert_eq!(message.payload, br#"{"id":1}"#);
    // Without natsv2 the metadata does not travel (docs/pubsub.md).
    assert_eq!(message.headers, "");

    let response = post(&gateway, "/audit", "X-Tenant: t 2\r\n", "[1,2]");
    assert_eq!(response.status, 200, "{}", response.text());
    let message = peer.next_message();
    assert_eq!(message.subject, "audit");
    assert_eq!(message.payload, b"[1,2]");
    // natspubsub's encodeMessageV2: names and values query-escaped.
    assert!(
        message.headers.contains("\r\nX-Tenant: t+2\r\n"),
        "{:?}",
        message.headers
    );
    assert!(
        !message.headers.contains("Go-http-client"),
        "{:?}",
        message.headers
    );
    // Merged with an HTTP backend, the publisher adds nothing.
    let response = post(&gateway, "/both", "", r#"{"id":3}"#);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("X-KrakenD-Completed"), Some("true"));
    assert_eq!(response.json(), serde_json::json!({"b": 1}));
    assert_eq!(peer.next_message().payload, br#"{"id":3}"#);
}

#[test]
fn a_subscriber_endpoint_answers_the_next_message_merged_with_an_http_backend() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let http = Backend::start(|_| json(200, r#"{"b":1}"#));
    let config = format!(
        r#"{{"version": 3, "timeout": "2s", "endpoints": [
            {{"endpoint": "/events", "backend": [{},
              {{"host": ["{}"], "url_pattern": "/b"}}]}}]}}"#,
        subscriber("events.*"),
        http.url()
    );
    let gateway = start_gateway(&config, &server.url());
    // The worker subscribes at start (as krakend-pubsub does), so a
    // message published before the request is kept for it.
    eventually("the gateway's subscription", Duration::from_secs(5), || {
        server.subscribed("events.*")
    });
    let mut peer = Peer::connect(&server);
    peer.publish("events.created", br#"{"a":{"n":1}}"#);
    peer.publish("events.updated", br#"{"a":{"n":2}}"#);

    // What KrakenD's publisher sends without natsv2: natspubsub's v1
    // encoding, gob (metadata, body), for the same body.
    peer.publish("events.v1", &gob_message(br#"{"a":{"n":3}}"#));

    for n in [1, 2, 3] {
        let response = gateway.get("/events");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("X-KrakenD-Completed"), Some("true"));
        assert_eq!(response.json(), serde_json::json!({"a": {"n": n}, "b": 1}));
    }
    assert_eq!(http.requests().len(), 3);
}

/// natspubsub's `encodeMessage` for metadata `{"User-Agent": "KrakenD"}`:
/// the type definition of `map[string]string` (gob id 65), the map, then
/// the body as `[]byte` (id 5), each a length-prefixed gob message.
fn gob_message(body: &[u8]) -> Vec<u8> {
    let mut definition = vec![0xff, 0x81, 0x04, 0x01, 0x01, 0x11];
    definition.extend_from_slice(b"map[string]string");
    definition.extend_from_slice(&[0x01, 0xff, 0x82, 0x00, 0x01, 0x0c, 0x01, 0x0c, 0x00, 0x00]);
    let mut map = vec![0xff, 0x82, 0x00, 0x01, 0x0a];
    map.extend_from_slice(b"User-Agent");
    map.push(0x07);
    map.extend_from_slice(b"KrakenD");
    let mut value = vec![0x0a, 0x00, body.len() as u8];
    value.extend_from_slice(body);
    let mut out = Vec::new();
    for message in [definition, map, value] {
        out.push(message.len() as u8);
        out.extend_from_slice(&message);
    }
    out
}

#[test]
fn a_subscriber_waits_for_the_next_message_until_the_endpoint_timeout() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let config = format!(
        r#"{{"version": 3, "timeout": "3s", "endpoints": [
            {{"endpoint": "/next", "timeout": "3s", "backend": [{}]}},
            {{"endpoint": "/quiet", "timeout": "300ms", "backend": [{}]}}]}}"#,
        subscriber("later"),
        subscriber("quiet"),
    );
    let gateway = start_gateway(&config, &server.url());
    eventually(
        "the gateway's subscriptions",
        Duration::from_secs(5),
        || server.subscribed("later") && server.subscribed("quiet"),
    );
    let addr = gateway.addr;
    let waiting = std::thread::spawn(move || {
        let mut client = common::Client::connect(addr);
        client.send(b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n");
        client.response().unwrap()
    });
    // Published most likely while the request waits in the gateway (a
    // delay, not synchronisation: had it come first, the subscription
    // would have kept it, and the answer is the same).
    std::thread::sleep(Duration::from_millis(200));
    let mut peer = Peer::connect(&server);
    peer.publish("later", br#"{"late":true}"#);
    let response = waiting.join().unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), serde_json::json!({"late": true}));

    let started = Instant::now();
    let response = gateway.get("/quiet");
    let took = started.elapsed();
    assert_eq!(response.status, 500, "{}", response.text());
    assert_eq!(response.header("X-KrakenD-Completed"), Some("false"));
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
fn the_server_down_fails_the_backend_at_once() {
    let http = Backend::start(|_| json(200, r#"{"b":1}"#));
    let config = format!(
        r#"{{"version": 3, "timeout": "2s", "endpoints": [
            {{"endpoint": "/publish", "method": "POST", "backend": [{}]}},
            {{"endpoint": "/merged", "backend": [{}, {{"host": ["{}"], "url_pattern": "/b"}}]}}]}}"#,
        publisher("orders"),
        subscriber("events"),
        http.url()
    );
    let down = format!("nats://127.0.0.1:{}", free_port());
    for server_url in [down.as_str(), ""] {
        let gateway = start_gateway(&config, server_url);
        let started = Instant::now();
        let response = post(&gateway, "/publish", "", "{}");
        assert_eq!(response.status, 500, "{}", response.text());
        assert_eq!(response.header("X-KrakenD-Completed"), Some("false"));
        let response = gateway.get("/merged");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("X-KrakenD-Completed"), Some("false"));
        assert_eq!(response.json(), serde_json::json!({"b": 1}));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_server_that_comes_up_later_is_connected_on_the_next_call() {
    let port = free_port();
    let config = format!(
        r#"{{"version": 3, "timeout": "2s", "endpoints": [
            {{"endpoint": "/publish", "method": "POST", "backend": [{}]}}]}}"#,
        publisher("orders"),
    );
    let gateway = start_gateway(&config, &format!("nats://127.0.0.1:{port}"));
    assert_eq!(post(&gateway, "/publish", "", "{}").status, 500);
    let Some(server) = NatsServer::start_on(port) else {
        return;
    };
    let mut peer = Peer::connect(&server);
    peer.subscribe("orders");
    let response = post(&gateway, "/publish", "", r#"{"again":1}"#);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(peer.next_message().payload, br#"{"again":1}"#);
}

#[test]
fn a_hanging_nats_server_does_not_delay_another_endpoint_on_the_same_worker() {
    // A server that accepts and never says INFO: connecting hangs.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("nats://{}", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for stream in silent.incoming().take(2) {
            kept.push(stream);
        }
        std::thread::sleep(Duration::from_secs(4));
    });
    let http = Backend::start(|_| json(200, r#"{"fast":true}"#));
    let config = format!(
        r#"{{"version": 3, "timeout": "3s", "endpoints": [
            {{"endpoint": "/publish", "method": "POST", "backend": [{}]}},
            {{"endpoint": "/fast", "backend": [{{"host": ["{}"], "url_pattern": "/f"}}]}}]}}"#,
        publisher("orders"),
        http.url()
    );
    let gateway = start_gateway(&config, &silent_url);
    let addr = gateway.addr;
    let hanging = std::thread::spawn(move || {
        let mut client = common::Client::connect(addr);
        let body = "{}";
        client.send(
            format!(
                "POST /publish HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        let started = Instant::now();
        (client.response().unwrap(), started.elapsed())
    });
    for _ in 0..5 {
        let started = Instant::now();
        let response = gateway.get("/fast");
        assert_eq!(response.json(), serde_json::json!({"fast": true}));
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }
    let (response, took) = hanging.join().unwrap();
    assert_eq!(response.status, 500, "{}", response.text());
    assert_eq!(response.header("X-KrakenD-Completed"), Some("false"));
    assert!(took >= Duration::from_secs(1), "{took:?}");
    drop(held);
}

#[test]
fn config_errors_name_the_json_path() {
    let cases = [
        (
            pubsub_backend("publisher", "topic_url", "orders").replace("nats://", "kafka://"),
            "endpoints[0].backend[0].host",
            "docs/pubsub.md",
        ),
        (
            r#"{"host": ["nats://"], "url_pattern": "/x", "extra_config": {"backend/pubsub/subscriber": {}}}"#.to_owned(),
            "endpoints[0].backend[0].extra_config.backend/pubsub/subscriber.subscription_url",
            "missing",
        ),
        (
            pubsub_backend("publisher", "topic_url", "orders.*"),
            "endpoints[0].backend[0].extra_config.backend/pubsub/publisher.topic_url",
            "one subject",
        ),
        (
            pubsub_backend("subscriber", "subscription_url", "orders?ack=1"),
            "endpoints[0].backend[0].extra_config.backend/pubsub/subscriber.subscription_url",
            "\"ack\"",
        ),
        (
            r#"{"host": ["http://127.0.0.1:9"], "url_pattern": "/x", "extra_config": {"backend/pubsub/subscriber/kafka": {}}}"#.to_owned(),
            "endpoints[0].backend[0].extra_config.backend/pubsub/subscriber/kafka",
            "not implemented",
        ),
    ];
    for (backend, at, says) in cases {
        let text = format!(
            r#"{{"version": 3, "endpoints": [{{"endpoint": "/x", "backend": [{backend}]}}]}}"#
        );
        let error = cuttle::config::parse(&text, std::path::Path::new("pubsub.json"))
            .expect_err(&backend)
            .to_string();
        assert!(error.contains(at), "{at}: {error}");
        assert!(error.contains(says), "{says}: {error}");
    }
    // Both namespaces: krakend-pubsub uses the subscriber.
    let text = r#"{"version": 3, "endpoints": [{"endpoint": "/x", "backend": [
        {"host": ["nats://"], "url_pattern": "/x", "extra_config": {
            "backend/pubsub/publisher": {"topic_url": "a"},
            "backend/pubsub/subscriber": {"subscription_url": "b"}}}]}]}"#;
    let config = cuttle::config::parse(text, std::path::Path::new("pubsub.json")).unwrap();
    assert!(
        config.warnings.iter().any(|w| w.at
            == "endpoints[0].backend[0].extra_config.backend/pubsub/publisher"
            && w.message.contains("subscriber")),
        "{:?}",
        config.warnings
    );
    match &config.endpoints[0].backends[0].protocol {
        Some(cuttle::config::ProtocolSettings::Nats(nats)) => assert_eq!(nats.subject, "b"),
        other => panic!("{other:?}"),
    }
    // A no-op endpoint streams HTTP; a pubsub backend cannot stand behind one.
    let text = format!(
        r#"{{"version": 3, "endpoints": [{{"endpoint": "/x", "output_encoding": "no-op", "backend": [{}]}}]}}"#,
        publisher("orders")
    );
    let error = cuttle::config::parse(&text, std::path::Path::new("pubsub.json"))
        .expect_err("no-op")
        .to_string();
    assert!(error.contains("endpoints[0].backend[0]"), "{error}");
}

#[test]
fn the_client_reconnects_after_the_server_restarts() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let port = server.port;
    let config = format!(
        r#"{{"version": 3, "timeout": "2s", "endpoints": [
            {{"endpoint": "/publish", "method": "POST", "backend": [{}]}},
            {{"endpoint": "/events", "backend": [{}]}}]}}"#,
        publisher("orders"),
        subscriber("events"),
    );
    // A list of servers, as nats.go takes it: the first is down.
    let servers = format!("nats://127.0.0.1:{}, {}", free_port(), server.url());
    let gateway = start_gateway(&config, &servers);
    assert_eq!(post(&gateway, "/publish", "", "{}").status, 200);
    drop(server);
    // While the server is gone a publish fails at once (nothing is kept
    // to be sent twice).
    gateway.eventually("a publish fails", Duration::from_secs(5), || {
        post(&gateway, "/publish", "", "{}").status == 500
    });
    let server = NatsServer::start_on(port).unwrap();
    gateway.eventually("a publish goes through", Duration::from_secs(10), || {
        post(&gateway, "/publish", "", "{}").status == 200
    });
    // The subscription was made again on the new connection.
    eventually("the subscription is back", Duration::from_secs(5), || {
        server.subscribed("events")
    });
    let mut peer = Peer::connect(&server);
    peer.publish("events", br#"{"after":"restart"}"#);
    let response = gateway.get("/events");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), serde_json::json!({"after": "restart"}));
}
