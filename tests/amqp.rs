//! `backend/amqp/consumer` and `backend/amqp/producer` against a real
//! RabbitMQ (Debian's `rabbitmq-server`), started once for this binary on
//! ephemeral ports with its own data directory, and stopped when the
//! binary exits (its wrapper shell waits on a pipe the test holds).
//!
//! Without `rabbitmq-server` the tests are skipped, unless `CI` is set.
#![allow(clippy::disallowed_types)]

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use amqprs::channel::{
    BasicGetArguments, BasicPublishArguments, Channel, ExchangeDeclareArguments,
    QueueBindArguments, QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{BasicProperties, FieldValue};
use common::{Backend, Gateway, TempDir, json};
use serde_json::Value;

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

struct Broker {
    port: u16,
    _wrapper: Mutex<Child>,
    /// Closing it (at exit) makes the wrapper stop the broker.
    _stdin: Mutex<ChildStdin>,
    _dir: TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The broker of this test binary, started on first use; `None` (the test
/// returns) when RabbitMQ is not installed and `CI` is not set.
fn broker() -> Option<&'static Broker> {
    static BROKER: OnceLock<Option<Broker>> = OnceLock::new();
    BROKER
        .get_or_init(|| {
            if !common::available_or_skip(
                std::path::Path::new(SERVER).exists(),
                &format!("{SERVER} is not installed (apt-get install rabbitmq-server)"),
            ) {
                return None;
            }
            Some(start_broker())
        })
        .as_ref()
}

fn start_broker() -> Broker {
    let dir = TempDir::new();
    let port = free_port();
    let dist = free_port();
    let d = dir.0.display().to_string();
    std::fs::write(dir.0.join("rabbitmq.conf"), "").unwrap();
    std::fs::write(dir.0.join("enabled_plugins"), "[].").unwrap();
    // Erlang's port mapper is shared by every node on the machine; the
    // broker's `erl` would start it too.
    let _ = Command::new("epmd").arg("-daemon").status();
    let mut wrapper = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{SERVER} >'{d}/server.log' 2>&1 </dev/null & read _; kill -TERM 0"
        ))
        .env("HOME", &d)
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", port.to_string())
        .env("RABBITMQ_DIST_PORT", dist.to_string())
        .env(
            "RABBITMQ_NODENAME",
            format!("cuttle{}x{port}@localhost", std::process::id()),
        )
        .env("RABBITMQ_MNESIA_BASE", format!("{d}/mnesia"))
        .env("RABBITMQ_LOG_BASE", format!("{d}/log"))
        .env("RABBITMQ_CONFIG_FILE", format!("{d}/rabbitmq"))
        .env(
            "RABBITMQ_ENABLED_PLUGINS_FILE",
            format!("{d}/enabled_plugins"),
        )
        .env("RABBITMQ_PID_FILE", format!("{d}/pid"))
        .stdin(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start rabbitmq-server");
    let stdin = wrapper.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if Client::try_connect(port).is_some() {
            break;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.0.join("server.log")).unwrap_or_default();
            panic!("rabbitmq-server did not accept AMQP on {port} within 90 s:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Broker {
        port,
        _wrapper: Mutex::new(wrapper),
        _stdin: Mutex::new(stdin),
        _dir: dir,
    }
}

/// The test's own AMQP client (amqprs on a runtime of its own).
struct Client {
    rt: tokio::runtime::Runtime,
    connection: Option<Connection>,
    channel: Option<Channel>,
}

impl Drop for Client {
    fn drop(&mut self) {
        // amqprs closes from `Drop` with a task: within the runtime.
        let _in = self.rt.enter();
        self.channel.take();
        self.connection.take();
    }
}

impl Client {
    fn try_connect(port: u16) -> Option<Client> {
        TcpStream::connect(("127.0.0.1", port)).ok()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (connection, channel) = rt.block_on(async {
            let args = OpenConnectionArguments::new("127.0.0.1", port, "guest", "guest");
            let connection = tokio::time::timeout(Duration::from_secs(5), Connection::open(&args))
                .await
                .ok()?
                .ok()?;
            let channel = connection.open_channel(None).await.ok()?;
            Some((connection, channel))
        })?;
        Some(Client {
            rt,
            connection: Some(connection),
            channel: Some(channel),
        })
    }

    fn ch(&self) -> &Channel {
        self.channel.as_ref().unwrap()
    }

    fn connect(broker: &Broker) -> Client {
        Client::try_connect(broker.port).expect("connect to the test broker")
    }

    /// Declares exchange (topic) and queue as the gateway's consumer will
    /// (durable false, delete false...), bound with `key`.
    fn queue(&self, exchange: &str, queue: &str, key: &str) {
        self.rt.block_on(async {
            self.ch()
                .exchange_declare(ExchangeDeclareArguments::new(exchange, "topic"))
                .await
                .unwrap();
            self.ch()
                .queue_declare(QueueDeclareArguments::new(queue))
                .await
                .unwrap();
            self.ch()
                .queue_bind(QueueBindArguments::new(queue, exchange, key))
                .await
                .unwrap();
        });
    }

    fn publish(&self, exchange: &str, key: &str, body: &[u8]) {
        self.rt.block_on(async {
            self.ch()
                .basic_publish(
                    BasicProperties::default(),
                    body.to_vec(),
                    BasicPublishArguments::new(exchange, key),
                )
                .await
                .unwrap();
        });
    }

    /// The next message of `queue` (acknowledged), waiting up to 5 s.
    fn get(&self, queue: &str) -> Option<(BasicProperties, Vec<u8>)> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.rt.block_on(async {
                self.ch()
                    .basic_get(BasicGetArguments::new(queue).no_ack(true).finish())
                    .await
                    .unwrap()
            });
            if let Some((_, properties, body)) = got {
                return Some((properties, body));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A name no other test uses.
fn unique(what: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

fn amqp_url(port: u16) -> String {
    format!("amqp://guest:guest@127.0.0.1:{port}")
}

#[test]
fn a_producer_publishes_the_clients_body_with_its_headers_and_params() {
    let Some(broker) = broker() else { return };
    let client = Client::connect(broker);
    let (exchange, queue) = (unique("px"), unique("pq"));
    client.queue(&exchange, &queue, "orders.*");
    let config = format!(
        r#"{{"version": 3, "timeout": "3s", "endpoints": [{{
            "endpoint": "/produce/{{key}}/{{id}}/{{prio}}", "method": "POST",
            "input_headers": ["Content-Type", "X-Trace"],
            "backend": [{{"host": ["{url}"], "url_pattern": "/",
                "extra_config": {{"backend/amqp/producer": {{
                    "name": "{queue}", "exchange": "{exchange}",
                    "routing_key": "Key", "msg_id_key": "Id", "priority_key": "Prio"}}}}}}]}}]}}"#,
        url = amqp_url(broker.port)
    );
    let gw = Gateway::start(&config);
    let body = r#"{"order": 42}"#;
    let request = format!(
        "POST /produce/orders.new/m-1/7 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Trace: t1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let response = gw.raw(request.as_bytes());
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), "{}");
    // lura calls a response without data incomplete (router/gin endpoint.go).
    assert_eq!(response.header("X-KrakenD-Completed"), Some("false"));

    let (properties, got) = client.get(&queue).expect("the published message");
    assert_eq!(got, body.as_bytes());
    assert_eq!(
        properties.content_type().map(String::as_str),
        Some("application/json")
    );
    assert_eq!(properties.message_id().map(String::as_str), Some("m-1"));
    assert_eq!(properties.priority(), Some(7));
    assert!(properties.timestamp().is_some());
    let headers = properties.headers().expect("headers");
    let trace = headers
        .get(&"X-Trace".try_into().unwrap())
        .expect("X-Trace among the headers");
    match trace {
        FieldValue::A(values) => {
            let values: Vec<FieldValue> = values.clone().into();
            assert_eq!(values.len(), 1);
            assert_eq!(values[0].to_string(), FieldValue::from("t1").to_string());
        }
        other => panic!("X-Trace is {other:?}, not an array"),
    }
}

#[test]
fn a_consumer_answers_the_next_message_merged_with_an_http_backend() {
    let Some(broker) = broker() else { return };
    let client = Client::connect(broker);
    let (exchange, queue) = (unique("cx"), unique("cq"));
    client.queue(&exchange, &queue, "#");
    let http = Backend::start(|_| json(200, r#"{"http": true}"#));
    let config = format!(
        r##"{{"version": 3, "timeout": "3s", "endpoints": [{{
            "endpoint": "/consume",
            "backend": [
                {{"host": ["{url}"], "url_pattern": "/", "group": "amqp",
                  "extra_config": {{"backend/amqp/consumer": {{
                    "name": "{queue}", "exchange": "{exchange}", "routing_key": ["#"],
                    "prefetch_count": 1, "nack_discard": true}}}}}},
                {{"host": ["{http}"], "url_pattern": "/h"}}]}}]}}"##,
        url = amqp_url(broker.port),
        http = http.url()
    );
    let gw = Gateway::start_env(&config, &["--cores", "1"], &[], true);
    client.publish(&exchange, "a.b", br#"{"msg": "hello"}"#);
    let response = gw.get("/consume");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.header("X-KrakenD-Completed"),
        Some("true"),
        "{}",
        gw.log()
    );
    assert_eq!(
        response.json(),
        serde_json::json!({"amqp": {"msg": "hello"}, "http": true})
    );
    assert_eq!(response.header("X-KrakenD-Completed"), Some("true"));

    // A message that does not decode is rejected (and, with nack_discard,
    // dropped): the call fails; the next message is the next answer.
    client.publish(&exchange, "a.b", b"not json");
    client.publish(&exchange, "a.b", br#"{"msg": 2}"#);
    let response = gw.get("/consume");
    assert_eq!(response.header("X-KrakenD-Completed"), Some("false"));
    assert_eq!(response.json(), serde_json::json!({"http": true}));
    let response = gw.get("/consume");
    assert_eq!(
        response.json(),
        serde_json::json!({"amqp": {"msg": 2}, "http": true})
    );
    // Each answered message was acknowledged: nothing is left to get.
    assert!(client.get_now(&queue).is_none());
}

impl Client {
    fn get_now(&self, queue: &str) -> Option<Vec<u8>> {
        self.rt.block_on(async {
            self.ch()
                .basic_get(BasicGetArguments::new(queue).no_ack(true).finish())
                .await
                .unwrap()
                .map(|(_, _, body)| body)
        })
    }
}

#[test]
fn a_broker_that_is_down_fails_the_backend() {
    // No broker needed: nothing listens on the port.
    let port = free_port();
    let http = Backend::start(|_| json(200, r#"{"http": true}"#));
    let config = format!(
        r#"{{"version": 3, "timeout": "2s", "endpoints": [
            {{"endpoint": "/alone", "backend": [{{"host": ["{url}"], "url_pattern": "/",
                "extra_config": {{"backend/amqp/consumer": {{"name": "q", "exchange": "x"}}}}}}]}},
            {{"endpoint": "/merged", "method": "POST", "backend": [
                {{"host": ["{url}"], "url_pattern": "/",
                  "extra_config": {{"backend/amqp/producer": {{"name": "q", "exchange": "x",
                    "routing_key": "k", "static_routing_key": true}}}}}},
                {{"host": ["{http}"], "url_pattern": "/h"}}]}}]}}"#,
        url = amqp_url(port),
        http = http.url()
    );
    let gw = Gateway::start(&config);
    let response = gw.get("/alone");
    assert_eq!(response.status, 500);
    assert_eq!(response.header("X-KrakenD-Completed"), Some("false"));
    let response = gw.raw(b"POST /merged HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), serde_json::json!({"http": true}));
    assert_eq!(response.header("X-KrakenD-Completed"), Some("false"));
}

#[test]
fn a_hung_broker_does_not_delay_another_endpoint_on_the_worker() {
    // Accepts connections and never says a word of AMQP.
    let hung = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hung.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hung.incoming().flatten() {
            held.push(stream);
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let http = Backend::start(|_| json(200, r#"{"fast": true}"#));
    let config = format!(
        r#"{{"version": 3, "timeout": "3s", "endpoints": [
            {{"endpoint": "/hung", "backend": [{{"host": ["{url}"], "url_pattern": "/",
                "extra_config": {{"backend/amqp/consumer": {{"name": "q", "exchange": "x"}}}}}}]}},
            {{"endpoint": "/fast", "backend": [{{"host": ["{http}"], "url_pattern": "/"}}]}}]}}"#,
        url = amqp_url(port),
        http = http.url()
    );
    let gw = Gateway::start(&config); // one worker
    let addr = gw.addr;
    let started = Instant::now();
    let slow = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        std::io::Write::write_all(&mut stream, b"GET /hung HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        (
            String::from_utf8_lossy(&head).into_owned(),
            started.elapsed(),
        )
    });
    // Once the hung call is connected to the broker, ask the other endpoint.
    common::eventually(
        "the gateway connected to the hung broker",
        Duration::from_secs(2),
        || accepted.load(std::sync::atomic::Ordering::SeqCst) > 0,
    );
    let fast_started = Instant::now();
    let response = gw.get("/fast");
    let fast = fast_started.elapsed();
    assert_eq!(response.status, 200);
    assert!(fast < Duration::from_millis(500), "/fast took {fast:?}");
    let (head, slow_took) = slow.join().unwrap();
    assert!(head.ends_with("500"), "{head}");
    assert!(
        slow_took >= Duration::from_millis(2500),
        "/hung answered after {slow_took:?}, before the endpoint's timeout"
    );
}

#[test]
fn config_errors_name_the_json_path() {
    let dir = TempDir::new();
    let cases = [
        (
            r#"{"name": "q", "exchange": "x", "durable": "yes"}"#,
            "amqp://127.0.0.1",
            "endpoints[0].backend[0].extra_config.backend/amqp/consumer.durable",
        ),
        (
            r##"{"name": "q", "exchange": "x", "routing_key": "#"}"##,
            "amqp://127.0.0.1",
            "endpoints[0].backend[0].extra_config.backend/amqp/consumer.routing_key",
        ),
        (
            r#"{"name": "q", "exchange": "x"}"#,
            "amqps://127.0.0.1",
            "endpoints[0].backend[0].host[0]",
        ),
    ];
    for (settings, host, path) in cases {
        let config = format!(
            r#"{{"version": 3, "endpoints": [{{"endpoint": "/c", "backend": [{{"host": ["{host}"],
                "url_pattern": "/", "extra_config": {{"backend/amqp/consumer": {settings}}}}}]}}]}}"#
        );
        let file = dir.0.join("c.json");
        std::fs::write(&file, config).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
            .args(["check", "-c", file.to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{settings} was accepted");
        assert!(
            stderr.contains(path) || stdout.contains(path),
            "{settings}: no {path} in:\n{stderr}{stdout}"
        );
    }
    let agents = [
        (
            r#"{"extra_config": {"async/kafka": {}}}"#,
            "async_agent[0].extra_config",
        ),
        (
            r#"{"extra_config": {"async/amqp": {"host": "amqp://h", "name": "q"}, "modifier/lua-proxy": {}}}"#,
            "async_agent[0].extra_config.modifier/lua-proxy",
        ),
        (
            r#"{"backend": [{"host": ["http://h"], "url_pattern": "/x", "extra_config": {"qos/circuit-breaker": {}}}],
                "extra_config": {"async/amqp": {"host": "amqp://h", "name": "q"}}}"#,
            "async_agent[0].backend[0].extra_config.qos/circuit-breaker",
        ),
        (
            r#"{"extra_config": {"async/amqp": {"host": "amqp://h", "durable": 1}}}"#,
            "async_agent[0].extra_config.async/amqp.durable",
        ),
    ];
    for (agent, path) in agents {
        let file = dir.0.join("a.json");
        std::fs::write(
            &file,
            format!(r#"{{"version": 3, "endpoints": [], "async_agent": [{agent}]}}"#),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
            .args(["check", "-c", file.to_str().unwrap()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{agent} was accepted");
        assert!(text.contains(path), "{agent}: no {path} in:\n{text}");
    }
}

#[test]
fn the_producers_answer_ignores_the_backends_manipulation() {
    // KrakenD's producer answers without running the entity formatter.
    let Some(broker) = broker() else { return };
    let client = Client::connect(broker);
    let exchange = unique("gx");
    let queue = unique("gq");
    client.queue(&exchange, &queue, "k");
    let config = format!(
        r#"{{"version": 3, "timeout": "3s", "endpoints": [{{
            "endpoint": "/p", "method": "POST",
            "backend": [{{"host": ["{url}"], "url_pattern": "/", "group": "g", "is_collection": true,
                "encoding": "xml",
                "extra_config": {{"backend/amqp/producer": {{
                    "name": "{queue}", "exchange": "{exchange}",
                    "routing_key": "k", "static_routing_key": true}}}}}}]}}]}}"#,
        url = amqp_url(broker.port)
    );
    let gw = Gateway::start(&config);
    let response = gw.raw(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json(), Value::Object(Default::default()));
    let (_, got) = client.get(&queue).expect("the published message");
    assert_eq!(got, b"abc");
}

#[test]
fn calls_waiting_at_once_on_one_worker_each_get_a_message() {
    let Some(broker) = broker() else { return };
    let client = Client::connect(broker);
    let (exchange, queue) = (unique("wx"), unique("wq"));
    client.queue(&exchange, &queue, "k");
    let config = format!(
        r#"{{"version": 3, "timeout": "5s", "endpoints": [{{"endpoint": "/next",
            "backend": [{{"host": ["{url}"], "url_pattern": "/",
                "extra_config": {{"backend/amqp/consumer": {{
                    "name": "{queue}", "exchange": "{exchange}", "routing_key": ["k"]}}}}}}]}}]}}"#,
        url = amqp_url(broker.port)
    );
    let gw = Gateway::start_env(&config, &["--cores", "1"], &[], true);
    // The first call opens the connection; it answers once a message came.
    client.publish(&exchange, "k", br#"{"n": 0}"#);
    assert_eq!(gw.get("/next").json(), serde_json::json!({"n": 0}));
    let started = Instant::now();
    let waiting: Vec<_> = (0..2)
        .map(|_| {
            let addr = gw.addr;
            std::thread::spawn(move || {
                let mut client = common::Client::connect(addr);
                client.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
                client.response()
            })
        })
        .collect();
    // Both calls wait on the same consumer; two messages come.
    common::eventually(
        "both calls reached the gateway",
        Duration::from_secs(2),
        || client.consumers(&queue) >= 1 && started.elapsed() > Duration::from_millis(200),
    );
    client.publish(&exchange, "k", br#"{"n": 1}"#);
    client.publish(&exchange, "k", br#"{"n": 2}"#);
    let mut got: Vec<Value> = waiting
        .into_iter()
        .map(|t| {
            let response = t.join().unwrap();
            let response = response.unwrap_or_else(|| panic!("no answer: {}", gw.log()));
            assert_eq!(response.status, 200);
            response.json()
        })
        .collect();
    got.sort_by_key(|v| v["n"].as_i64());
    assert_eq!(
        got,
        vec![serde_json::json!({"n": 1}), serde_json::json!({"n": 2})]
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "a waiting call was not woken: {:?}",
        started.elapsed()
    );
}

impl Client {
    /// Consumers of `queue` (a passive declare).
    fn consumers(&self, queue: &str) -> u32 {
        self.rt.block_on(async {
            self.ch()
                .queue_declare(QueueDeclareArguments::new(queue).passive(true).finish())
                .await
                .unwrap()
                .map_or(0, |(_, _, consumers)| consumers)
        })
    }
}

#[test]
fn an_async_agent_calls_its_backend_for_each_message() {
    let Some(broker) = broker() else { return };
    let client = Client::connect(broker);
    let (exchange, queue) = (unique("ax"), unique("aq"));
    // Declared as the agent declares them, so that nothing published
    // before the agent is up is lost.
    client.queue(&exchange, &queue, "events.*");
    let hook = Backend::start(|seen| {
        if seen.body == b"fail" {
            json(500, "{}")
        } else {
            json(200, "{}")
        }
    });
    let config = format!(
        r#"{{"version": 3, "timeout": "3s", "endpoints": [],
            "async_agent": [{{"name": "ag",
                "connection": {{"max_retries": 0, "backoff_strategy": "linear"}},
                "consumer": {{"topic": "events.*", "workers": 2, "timeout": "2s"}},
                "backend": [{{"host": ["{hook}"], "url_pattern": "/hook", "method": "POST"}}],
                "extra_config": {{"async/amqp": {{"host": "{url}", "name": "{queue}",
                    "exchange": "{exchange}", "prefetch_count": 5}}}}}}]}}"#,
        url = amqp_url(broker.port),
        hook = hook.url()
    );
    let _gw = Gateway::start(&config);
    for body in [&b"one"[..], b"two", b"fail", b"three"] {
        client.publish(&exchange, "events.new", body);
    }
    common::eventually(
        "the agent posted every message, and the failed one again",
        Duration::from_secs(10),
        || {
            let seen = hook.requests();
            let count = |b: &[u8]| seen.iter().filter(|s| s.body == b).count();
            count(b"one") >= 1 && count(b"two") >= 1 && count(b"three") >= 1 && count(b"fail") >= 2
        },
    );
    let seen = hook.requests();
    assert!(
        seen.iter()
            .all(|s| s.method == "POST" && s.path() == "/hook")
    );
    // Acknowledged messages are not delivered twice.
    let count = |b: &[u8]| seen.iter().filter(|s| s.body == b).count();
    assert_eq!((count(b"one"), count(b"two"), count(b"three")), (1, 1, 1));
}
