//! `backend/amqp/consumer` and `backend/amqp/producer` (krakend-amqp
//! `consumer.go`, `producer.go`, `client.go`), read into checked settings.
//!
//! krakend-amqp decodes the namespace with Go's `encoding/json` into its
//! `consumerCfg` / `producerCfg`; when that fails (a string where a bool
//! goes...) KrakenD silently builds a plain HTTP backend to the `amqp://`
//! host instead. cuttle refuses the file, naming the key. Keys Go's decoder
//! does not know are ignored by KrakenD and reported here like any unknown
//! key (`options.rs` rows).

use serde_json::{Map, Value};

use super::error::{BuildResult, Problem};

pub const CONSUMER: &str = "backend/amqp/consumer";
pub const PRODUCER: &str = "backend/amqp/producer";

/// lura's `backoff.GetByName`: the wait before each connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Any other name (`fallback`, empty): one second.
    Constant,
    Linear,
    LinearJitter,
    Exponential,
    ExponentialJitter,
}

/// The broker, from the backend's first `host` (amqp091-go `ParseURI`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpBroker {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub vhost: String,
}

impl AmqpBroker {
    /// `host:port/vhost`, for logs and errors (no credentials).
    pub fn display(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.vhost)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpConsumer {
    /// `routing_key`: each bound to the queue on the exchange.
    pub routing_keys: Vec<String>,
    pub auto_ack: bool,
    pub no_local: bool,
    /// `nack_discard`: a message that does not decode is dropped instead
    /// of requeued.
    pub nack_discard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpProducer {
    /// `routing_key`: the routing key itself with `static_routing_key`,
    /// else the name of the endpoint parameter holding it.
    pub routing_key: String,
    pub static_routing_key: bool,
    pub mandatory: bool,
    pub immediate: bool,
    /// `exp_key`, `reply_to_key`, `msg_id_key`, `priority_key`: endpoint
    /// parameter names, first letter upper-cased as lura names them.
    pub exp_key: String,
    pub reply_to_key: String,
    pub msg_id_key: String,
    pub priority_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmqpRole {
    Consumer(AmqpConsumer),
    Producer(AmqpProducer),
}

/// The declare flags and QoS krakend-amqp reads for a queue, its exchange
/// and its consumer, the same keys for backends and async agents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AmqpQueueFlags {
    pub durable: bool,
    pub delete: bool,
    pub exclusive: bool,
    pub no_wait: bool,
    pub prefetch_count: u16,
    pub prefetch_size: u32,
}

/// One AMQP backend, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpSettings {
    /// The namespace's JSON path.
    pub at: String,
    /// `[BACKEND: url_pattern][AMQP]`, krakend-amqp's log prefix.
    pub log_prefix: String,
    pub broker: AmqpBroker,
    /// `name`: the queue.
    pub name: String,
    pub exchange: String,
    /// `durable`, `delete`, `exclusive`, `no_wait` and the prefetch.
    pub flags: AmqpQueueFlags,
    /// `max_retries`: connection attempts per reconnection round; 0 (or
    /// negative) is unlimited, as in krakend-amqp.
    pub max_retries: u32,
    pub backoff: Backoff,
    pub role: AmqpRole,
    /// The backend's `encoding` and `is_collection`: a consumed message
    /// that does not decode with them is rejected (set by the build step).
    pub decoding: (super::BackendEncoding, bool),
}

/// Reads `namespace` (`CONSUMER` or `PRODUCER`) of a backend, found at
/// `at`, for a backend whose `host` list is `hosts` (as written) and
/// `host_at` its path.
pub fn settings(
    namespace: &str,
    value: &Value,
    at: &str,
    hosts: &[String],
    host_at: &str,
    url_pattern: &str,
) -> BuildResult<AmqpSettings> {
    let Value::Object(map) = value else {
        return Err(Problem::new(
            at,
            "must be an object with at least \"name\" and \"exchange\"",
        ));
    };
    let keys = Keys { map, at };
    let Some(first) = hosts.first() else {
        return Err(Problem::new(
            host_at,
            "an AMQP backend needs its broker in \"host\", e.g. [\"amqp://guest:guest@127.0.0.1:5672\"]",
        ));
    };
    let broker = parse_url(first).map_err(|why| Problem::new(format!("{host_at}[0]"), why))?;
    let role = if namespace == CONSUMER {
        AmqpRole::Consumer(AmqpConsumer {
            routing_keys: keys.strings("routing_key")?,
            auto_ack: keys.bool("auto_ack")?,
            no_local: keys.bool("no_local")?,
            nack_discard: keys.bool("nack_discard")?,
        })
    } else {
        AmqpRole::Producer(AmqpProducer {
            routing_key: keys.string("routing_key")?,
            static_routing_key: keys.bool("static_routing_key")?,
            mandatory: keys.bool("mandatory")?,
            immediate: keys.bool("immediate")?,
            exp_key: keys.string("exp_key")?,
            reply_to_key: keys.string("reply_to_key")?,
            msg_id_key: keys.string("msg_id_key")?,
            priority_key: keys.string("priority_key")?,
        })
    };
    // AMQP short strings: longer names cannot be sent at all.
    let mut short = vec![
        ("name", keys.string("name")?),
        ("exchange", keys.string("exchange")?),
    ];
    match &role {
        AmqpRole::Consumer(c) => {
            short.extend(c.routing_keys.iter().map(|k| ("routing_key", k.clone())))
        }
        AmqpRole::Producer(p) => short.push(("routing_key", p.routing_key.clone())),
    }
    if let Some((key, _)) = short.iter().find(|(_, v)| v.len() > 255) {
        return Err(Problem::new(
            format!("{at}.{key}"),
            "longer than the 255 bytes AMQP allows",
        ));
    }
    if broker.vhost.len() > 255 {
        return Err(Problem::new(
            format!("{host_at}[0]"),
            "the virtual host is longer than the 255 bytes AMQP allows",
        ));
    }
    let max_retries = keys.int("max_retries")?;
    Ok(AmqpSettings {
        at: at.to_owned(),
        log_prefix: format!("[BACKEND: {url_pattern}][AMQP]"),
        broker,
        name: keys.string("name")?,
        exchange: keys.string("exchange")?,
        flags: keys.queue_flags()?,
        max_retries: u32::try_from(max_retries.max(0)).unwrap_or(u32::MAX),
        backoff: backoff(&keys.string("backoff_strategy")?),
        role,
        decoding: (super::BackendEncoding::Json, false),
    })
}

/// lura `backoff.GetByName` (case-insensitive; anything else is the
/// one-second default).
fn backoff(name: &str) -> Backoff {
    match name.to_ascii_lowercase().as_str() {
        "linear" => Backoff::Linear,
        "linear-jitter" => Backoff::LinearJitter,
        "exponential" => Backoff::Exponential,
        "exponential-jitter" => Backoff::ExponentialJitter,
        _ => Backoff::Constant,
    }
}

/// Go's `encoding/json` into the config struct: a missing key or `null`
/// leaves the zero value; any other type is an error.
struct Keys<'a> {
    map: &'a Map<String, Value>,
    at: &'a str,
}

impl Keys<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn wrong(&self, key: &str, what: &str) -> Problem {
        Problem::new(format!("{}.{key}", self.at), format!("must be {what}"))
    }

    fn bool(&self, key: &str) -> BuildResult<bool> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.wrong(key, "true or false")),
        }
    }

    fn string(&self, key: &str) -> BuildResult<String> {
        match self.get(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    fn strings(&self, key: &str) -> BuildResult<Vec<String>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.wrong(key, "a list of strings, e.g. [\"#\"]")),
                })
                .collect(),
            Some(_) => Err(self.wrong(key, "a list of strings, e.g. [\"#\"]")),
        }
    }

    /// The queue flags and QoS (AMQP carries the prefetch count in 16
    /// bits and the size in 32).
    fn queue_flags(&self) -> BuildResult<AmqpQueueFlags> {
        Ok(AmqpQueueFlags {
            durable: self.bool("durable")?,
            delete: self.bool("delete")?,
            exclusive: self.bool("exclusive")?,
            no_wait: self.bool("no_wait")?,
            prefetch_count: u16::try_from(self.int("prefetch_count")?)
                .map_err(|_| self.wrong("prefetch_count", "from 0 to 65535 (AMQP's range)"))?,
            prefetch_size: u32::try_from(self.int("prefetch_size")?).map_err(|_| {
                self.wrong("prefetch_size", "from 0 to 4294967295 bytes (AMQP's range)")
            })?,
        })
    }

    fn int(&self, key: &str) -> BuildResult<i64> {
        match self.get(key) {
            None => Ok(0),
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| self.wrong(key, "an integer")),
            Some(_) => Err(self.wrong(key, "an integer")),
        }
    }
}

/// amqp091-go `ParseURI`: `amqp://user:password@host:port/vhost`, with
/// guest/guest, localhost, 5672 and vhost "/" as defaults (a path of "/"
/// alone keeps the default).
pub fn parse_url(url: &str) -> Result<AmqpBroker, String> {
    let Some(rest) = url.strip_prefix("amqp://") else {
        if url.starts_with("amqps://") {
            return Err(
                "cuttle does not speak AMQP over TLS (amqps://) yet; use an amqp:// broker".into(),
            );
        }
        return Err(format!(
            "\"{url}\" is no AMQP URL: write e.g. \"amqp://guest:guest@127.0.0.1:5672\""
        ));
    };
    if rest.contains(['?', '#']) {
        return Err("cuttle reads no options from the AMQP URL's query; remove it".into());
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        None => ("guest".to_owned(), "guest".to_owned()),
        Some(info) => {
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            (decode(user)?, decode(password)?)
        }
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("\"{url}\": unclosed [ in the host"))?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => 5672,
        Some(port) => port
            .parse::<u16>()
            .map_err(|_| format!("\"{url}\": the port must be a number from 0 to 65535"))?,
    };
    // amqp091-go takes the path after its "/" only when there is more.
    let vhost = match path {
        None | Some("/") => "/".to_owned(),
        Some(path) => decode(&path[1..])?,
    };
    Ok(AmqpBroker {
        host: if host.is_empty() {
            "localhost".to_owned()
        } else {
            host.to_owned()
        },
        port,
        user,
        password,
        vhost,
    })
}

/// Percent-decoding of a URL part (Go's `url.Parse` decodes userinfo and
/// path).
fn decode(part: &str) -> Result<String, String> {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid escape in \"{part}\""))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("\"{part}\" does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_read_as_amqp091_reads_them() {
        let b = parse_url("amqp://guest:guest@127.0.0.1:5672").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.user.as_str(), b.vhost.as_str()),
            ("127.0.0.1", 5672, "guest", "/")
        );
        let b = parse_url("amqp://u%40x:p%3Aw@rabbit/v%2Fh").unwrap();
        assert_eq!(
            (
                b.user.as_str(),
                b.password.as_str(),
                b.port,
                b.vhost.as_str()
            ),
            ("u@x", "p:w", 5672, "v/h")
        );
        assert_eq!(parse_url("amqp://h/").unwrap().vhost, "/");
        assert_eq!(parse_url("amqp://h//").unwrap().vhost, "/");
        assert_eq!(parse_url("amqp://").unwrap().host, "localhost");
        assert!(parse_url("amqps://h").unwrap_err().contains("TLS"));
        assert!(parse_url("http://h").is_err());
        assert!(parse_url("amqp://h:99999").is_err());
    }

    #[test]
    fn wrong_types_name_the_key() {
        let hosts = vec!["amqp://h".to_owned()];
        let err = settings(
            CONSUMER,
            &json!({"name": "q", "durable": "yes"}),
            "$.endpoints[0].backend[0].extra_config.backend/amqp/consumer",
            &hosts,
            "h",
            "/",
        )
        .unwrap_err();
        assert_eq!(
            err.at,
            "$.endpoints[0].backend[0].extra_config.backend/amqp/consumer.durable"
        );
        let err = settings(
            PRODUCER,
            &json!({"routing_key": ["a"]}),
            "p",
            &hosts,
            "h",
            "/",
        )
        .unwrap_err();
        assert_eq!(err.at, "p.routing_key");
        let ok = settings(
            CONSUMER,
            &json!({"name": "q", "routing_key": ["#"], "prefetch_count": 10, "max_retries": -1}),
            "c",
            &hosts,
            "h",
            "/",
        )
        .unwrap();
        assert_eq!(ok.flags.prefetch_count, 10);
        assert_eq!(ok.max_retries, 0);
    }

    /// Backends and agents read the queue flags with one function: the
    /// same values, the same refusal.
    #[test]
    fn backends_and_agents_read_the_same_queue_flags() {
        let hosts = vec!["amqp://h".to_owned()];
        let flags = json!({"durable": true, "delete": true, "exclusive": true, "no_wait": true,
            "prefetch_count": 7, "prefetch_size": 4096});
        let mut backend = json!({"name": "q", "exchange": "x"});
        let mut driver = json!({"name": "q", "exchange": "x", "host": "amqp://h"});
        for (k, v) in flags.as_object().unwrap() {
            backend[k] = v.clone();
            driver[k] = v.clone();
        }
        let agent = |driver: &Value| {
            json!([{"consumer": {"topic": "#"}, "extra_config": {"async/amqp": driver},
                "backend": [{"url_pattern": "/a", "host": ["http://b"]}]}])
        };
        let from_backend = settings(CONSUMER, &backend, "c", &hosts, "h", "/").unwrap();
        let from_agent = agents(
            Some(&agent(&driver)),
            std::time::Duration::from_secs(1),
            &[],
        )
        .unwrap()
        .remove(0);
        let expected = AmqpQueueFlags {
            durable: true,
            delete: true,
            exclusive: true,
            no_wait: true,
            prefetch_count: 7,
            prefetch_size: 4096,
        };
        assert_eq!(from_backend.flags, expected);
        assert_eq!(from_agent.flags, expected);
        backend["prefetch_count"] = json!(65536);
        driver["prefetch_count"] = json!(65536);
        let backend_err = settings(CONSUMER, &backend, "c", &hosts, "h", "/").unwrap_err();
        let agent_err = agents(
            Some(&agent(&driver)),
            std::time::Duration::from_secs(1),
            &[],
        )
        .unwrap_err();
        assert_eq!(backend_err.at, "c.prefetch_count");
        assert_eq!(
            agent_err.at,
            "async_agent[0].extra_config.async/amqp.prefetch_count"
        );
        assert_eq!(backend_err.message, agent_err.message);
    }
}

/// `async/amqp`, the driver of a root `async_agent` (krakend-amqp
/// `async/subscriber.go`).
pub const AGENT: &str = "async/amqp";

/// One backend an agent calls for each message: HTTP, its first-listed
/// settings only (`AsyncAgent` in docs/amqp.md says what is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBackend {
    /// Cleaned base URLs, round-robin.
    pub hosts: Vec<String>,
    pub url_pattern: String,
    pub method: crate::http::Method,
}

/// One entry of the root `async_agent` list with `async/amqp` (lura
/// `config.AsyncAgent`; krakend-amqp `async/agent.go`).
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncAgentSettings {
    pub at: String,
    /// `name`, else lura's `AsyncAgent-%02d`.
    pub name: String,
    /// `connection.max_retries`: 0 is unlimited.
    pub max_retries: u32,
    pub backoff: Backoff,
    /// `consumer.timeout`, else the root `timeout`.
    pub timeout: std::time::Duration,
    /// `consumer.workers`, at least 1: messages handled at once.
    pub workers: usize,
    /// `consumer.topic`: the binding's routing key.
    pub topic: String,
    /// `consumer.max_rate`: messages a second per agent; 0 unlimited.
    pub max_rate: f64,
    pub backends: Vec<AgentBackend>,
    pub broker: AmqpBroker,
    pub queue: String,
    pub exchange: String,
    /// `durable`, `delete`, `exclusive`, `no_wait` and the prefetch.
    pub flags: AmqpQueueFlags,
    pub auto_ack: bool,
    pub no_local: bool,
    pub nack_discard: bool,
}

impl AsyncAgentSettings {
    /// The backends' hosts (each gets a connection pool).
    pub fn hosts(&self) -> impl Iterator<Item = &String> {
        self.backends.iter().flat_map(|b| &b.hosts)
    }
}

/// The root `async_agent` list. Only what krakend-amqp's agent does is
/// accepted: an agent's `extra_config` holds `async/amqp` (another driver
/// or component is refused), its backends are plain HTTP backends without
/// `extra_config` and without placeholders (a message has no parameters).
pub fn agents(
    value: Option<&Value>,
    root_timeout: std::time::Duration,
    root_hosts: &[String],
) -> BuildResult<Vec<AsyncAgentSettings>> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Value::Array(list) = value else {
        return Err(Problem::new("async_agent", "must be a list of agents"));
    };
    list.iter()
        .enumerate()
        .map(|(i, agent)| agent_settings(agent, i, root_timeout, root_hosts))
        .collect()
}

fn object<'a>(value: &'a Value, at: &str) -> BuildResult<&'a Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Problem::new(at, "must be an object")),
    }
}

fn agent_settings(
    value: &Value,
    index: usize,
    root_timeout: std::time::Duration,
    root_hosts: &[String],
) -> BuildResult<AsyncAgentSettings> {
    let at = format!("async_agent[{index}]");
    let empty = Map::new();
    let map = object(value, &at)?;
    let keys = Keys { map, at: &at };
    let sub = |key: &str| -> BuildResult<&Map<String, Value>> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(&empty),
            Some(v) => object(v, &format!("{at}.{key}")),
        }
    };
    let connection_at = format!("{at}.connection");
    let connection = Keys {
        map: sub("connection")?,
        at: &connection_at,
    };
    let consumer_at = format!("{at}.consumer");
    let consumer = Keys {
        map: sub("consumer")?,
        at: &consumer_at,
    };
    let duration = |keys: &Keys<'_>, key: &str| -> BuildResult<Option<std::time::Duration>> {
        let text = keys.string(key)?;
        if text.is_empty() {
            return Ok(None);
        }
        super::duration::parse_go_duration(&text)
            .map(Some)
            .map_err(|e| Problem::new(format!("{}.{key}", keys.at), e.to_string()))
    };
    // Parsed so that a bad value is refused; cuttle's /__health lists no
    // agents (docs/amqp.md).
    duration(&connection, "health_interval")?;
    let timeout = duration(&consumer, "timeout")?
        .filter(|t| !t.is_zero())
        .unwrap_or(root_timeout);
    let max_rate = match consumer.get("max_rate") {
        None => 0.0,
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(_) => return Err(consumer.wrong("max_rate", "a number")),
    };
    let extra_at = format!("{at}.extra_config");
    let extra = sub("extra_config")?;
    let mut driver = None;
    for (namespace, settings) in extra {
        let current = match super::alias::resolve(namespace) {
            super::alias::Name::Current(current) => current,
            super::alias::Name::Unread(_) => namespace.as_str(),
        };
        if current == AGENT {
            driver = Some((settings, format!("{extra_at}.{namespace}")));
        } else if !namespace.starts_with(['@', '$', '_', '#']) {
            return Err(Problem::new(
                format!("{extra_at}.{namespace}"),
                "cuttle's async agents run krakend-amqp's driver only, without other components; remove it",
            ));
        }
    }
    let Some((driver, driver_at)) = driver else {
        return Err(Problem::new(
            &extra_at,
            "cuttle runs async agents with \"async/amqp\" only (KrakenD starts an agent without a driver it knows as nothing); add it or remove the agent",
        ));
    };
    let d = Keys {
        map: object(driver, &driver_at)?,
        at: &driver_at,
    };
    let broker = parse_url(&d.string("host")?)
        .map_err(|why| Problem::new(format!("{driver_at}.host"), why))?;
    let backends = match map.get("backend") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, b)| agent_backend(b, &format!("{at}.backend[{i}]"), root_hosts))
            .collect::<BuildResult<Vec<_>>>()?,
        Some(_) => return Err(keys.wrong("backend", "a list of backends")),
    };
    let name = keys.string("name")?;
    Ok(AsyncAgentSettings {
        name: if name.is_empty() {
            format!("AsyncAgent-{index:02}")
        } else {
            name
        },
        max_retries: u32::try_from(connection.int("max_retries")?.max(0)).unwrap_or(u32::MAX),
        backoff: backoff(&connection.string("backoff_strategy")?),
        timeout,
        workers: usize::try_from(consumer.int("workers")?.max(1)).unwrap_or(1),
        topic: consumer.string("topic")?,
        max_rate,
        backends,
        broker,
        queue: d.string("name")?,
        exchange: d.string("exchange")?,
        flags: d.queue_flags()?,
        auto_ack: d.bool("auto_ack")?,
        no_local: d.bool("no_local")?,
        nack_discard: d.bool("nack_discard")?,
        at,
    })
}

fn agent_backend(value: &Value, at: &str, root_hosts: &[String]) -> BuildResult<AgentBackend> {
    let map = object(value, at)?;
    let keys = Keys { map, at };
    if let Some(Value::Object(extra)) = map.get("extra_config")
        && let Some(namespace) = extra.keys().find(|k| !k.starts_with(['@', '$', '_', '#']))
    {
        return Err(Problem::new(
            format!("{at}.extra_config.{namespace}"),
            "cuttle calls an async agent's backends as plain HTTP backends, without components; remove it",
        ));
    }
    let url_pattern = format!("/{}", keys.string("url_pattern")?.trim_start_matches('/'));
    if url_pattern.contains('{') {
        return Err(Problem::new(
            format!("{at}.url_pattern"),
            "an async agent's message has no parameters to fill a placeholder with",
        ));
    }
    let hosts = match keys.strings("host")? {
        hosts if hosts.is_empty() => root_hosts.to_vec(),
        hosts => hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                super::host::clean_host(h).map_err(|m| Problem::new(format!("{at}.host[{i}]"), m))
            })
            .collect::<BuildResult<Vec<_>>>()?,
    };
    if hosts.is_empty() {
        return Err(Problem::new(format!("{at}.host"), "no host"));
    }
    let method = match keys.string("method")?.as_str() {
        // lura `initAsyncAgents`: GET by default.
        "" => crate::http::Method::Get,
        text => super::keywords::backend_method(text)
            .map_err(|m| Problem::new(format!("{at}.method"), m))?,
    };
    Ok(AgentBackend {
        hosts,
        url_pattern,
        method,
    })
}
