//! Redis-backed rate limits end to end (docs/redis.md): real gateways
//! sharing Debian's `redis-server`, started on a free port for each test
//! (no persistence) and killed when the test ends.
//!
//! - two instances of two workers each share one endpoint limit, one
//!   per-client limit and one backend limit: N admitted in all, not 2N;
//! - Redis killed: `on_failure_allow: false` refuses, `true` lets through,
//!   `"on_failure": "local"` applies the instance's own limit, and no
//!   answer waits longer than the decision budget (plus slack for a
//!   loaded machine); one warning at the switch, one info at recovery,
//!   `cuttle_redis_up` and `cuttle_ratelimit_fallback_total` exported;
//! - Redis restarted: counting in Redis resumes without restarting the
//!   gateway;
//! - Redis paused (SIGSTOP): a decision costs at most its budget, and once
//!   the link is marked down, nothing;
//! - an address that never answers from the start costs one budget;
//! - a reload keeps what was counted (the buckets are in Redis);
//! - a Redis Cluster (three primaries) shares the limits too;
//! - bad settings refused with their JSON path.

mod common;
#[path = "common/redis.rs"]
mod redis_server;

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Backend, Gateway, json};
use redis_server::{RedisServer as Redis, start_or_skip};
use serde_json::{Value, json};

fn config(redis: &Redis, endpoints: Value, extra: Value) -> String {
    let mut root = json!({
        "redis": {"connection_pools": [{"name": "shared", "address": format!("127.0.0.1:{}", redis.port)}]}
    });
    for (k, v) in extra.as_object().unwrap() {
        root[k] = v.clone();
    }
    json!({"version": 3, "timeout": "3s", "extra_config": root, "endpoints": endpoints}).to_string()
}

fn endpoint(path: &str, backend: &Backend, limit: Value) -> Value {
    json!({
        "endpoint": path,
        "backend": [{"host": [backend.url()], "url_pattern": "/ok"}],
        "extra_config": {"qos/ratelimit/router/redis": limit}
    })
}

/// One request on a new connection (so that SO_REUSEPORT spreads them
/// over the workers); its status and how long it took.
fn timed(gw: &Gateway, path: &str, headers: &str) -> (u16, Duration) {
    let start = Instant::now();
    let response = gw.raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").as_bytes());
    (response.status, start.elapsed())
}

fn status(gw: &Gateway, path: &str, headers: &str) -> u16 {
    timed(gw, path, headers).0
}

#[test]
fn two_instances_share_one_limit() {
    let Some(redis) = start_or_skip(&[]) else {
        return;
    };
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let budget = json!("1s");
    let endpoints = json!([
        endpoint("/shared", &backend, json!({
            "connection_name": "shared", "max_rate": 5, "capacity": 5, "every": "1h",
            "decision_timeout": budget
        })),
        endpoint("/per-client", &backend, json!({
            "connection_pool": "shared", "client_max_rate": 2, "client_capacity": 2, "every": "1h",
            "strategy": "header", "key": "X-Key", "decision_timeout": budget
        })),
        {
            "endpoint": "/proxied",
            "backend": [{"host": [backend.url()], "url_pattern": "/proxied",
                "extra_config": {"qos/ratelimit/proxy/redis": {
                    "connection_name": "shared", "max_rate": 3, "capacity": 3, "every": "1h",
                    "decision_timeout": budget
                }}}]
        }
    ]);
    let config = config(&redis, endpoints, json!({}));
    let a = Gateway::start_with(&config, &["--cores", "2"]);
    let b = Gateway::start_with(&config, &["--cores", "2"]);
    let both = [&a, &b];

    let statuses: Vec<u16> = (0..20)
        .map(|i| status(both[i % 2], "/shared", ""))
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| matches!(s, 200 | 503)),
        "{statuses:?}"
    );
    assert!(statuses[..5].iter().all(|s| *s == 200), "{statuses:?}");

    for key in ["alice", "bob"] {
        let statuses: Vec<u16> = (0..6)
            .map(|i| status(both[i % 2], "/per-client", &format!("X-Key: {key}\r\n")))
            .collect();
        assert_eq!(statuses, [200, 200, 429, 429, 429, 429], "{key}");
    }
    // No client key: 429, as KrakenD.
    assert_eq!(status(&a, "/per-client", ""), 429);
    // A key that would be syntax if spliced into a script or key is data.
    let odd = "X-Key: }{\"' KEYS[1] redis.call('FLUSHALL')\r\n";
    assert_eq!(status(&b, "/per-client", odd), 200);
    assert_eq!(status(&a, "/per-client", odd), 200);
    assert_eq!(status(&b, "/per-client", odd), 429);

    let statuses: Vec<u16> = (0..8)
        .map(|i| status(both[i % 2], "/proxied", ""))
        .collect();
    // A refused backend call fails the single backend: 500, as KrakenD.
    assert_eq!(statuses, [200, 200, 200, 500, 500, 500, 500, 500]);
    let calls = backend
        .requests()
        .iter()
        .filter(|r| r.path() == "/proxied")
        .count();
    assert_eq!(calls, 3);
    // Client keys are stored hashed, inside the limit's braces.
    let keys = redis.command("KEYS *").unwrap();
    assert!(keys.contains("cuttle:rl:{"), "{keys}");
    assert!(!keys.contains("alice"), "{keys}");
}

/// The exporter's address, from the line the gateway prints at start.
fn metrics_addr(gw: &Gateway) -> SocketAddr {
    let log = gw.log();
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("cuttle metrics on "))
        .unwrap_or_else(|| panic!("no metrics line in {log}"));
    line.trim().parse().unwrap()
}

#[test]
fn redis_down_falls_back_as_configured_and_recovers() {
    let Some(mut redis) = start_or_skip(&[]) else {
        return;
    };
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let budget_ms = 50;
    let budget = json!(format!("{budget_ms}ms"));
    let unlimited = |extra: Value| {
        let mut limit = json!({
            "connection_name": "shared", "max_rate": 1000, "capacity": 1000, "every": "1h",
            "decision_timeout": budget
        });
        for (k, v) in extra.as_object().unwrap() {
            limit[k] = v.clone();
        }
        limit
    };
    let endpoints = json!([
        endpoint(
            "/refuse",
            &backend,
            unlimited(json!({"on_failure_allow": false}))
        ),
        endpoint(
            "/refuse-client",
            &backend,
            json!({
                "connection_name": "shared", "client_max_rate": 1000, "client_capacity": 1000,
                "every": "1h", "strategy": "ip", "decision_timeout": budget
            })
        ),
        endpoint(
            "/allow",
            &backend,
            unlimited(json!({"on_failure_allow": true}))
        ),
        endpoint(
            "/local",
            &backend,
            unlimited(json!({"on_failure": "local", "local_max_rate": 3}))
        ),
        endpoint(
            "/counted",
            &backend,
            json!({
                "connection_name": "shared", "max_rate": 2, "capacity": 2, "every": "1h",
                "on_failure_allow": true, "decision_timeout": budget
            })
        ),
    ]);
    let telemetry = json!({"telemetry/opentelemetry": {
        "service_name": "cuttle-test",
        "exporters": {"prometheus": [{"name": "local", "port": common::free_port(), "listen_ip": "127.0.0.1"}]}
    }});
    let gw = Gateway::start_env(
        &config(&redis, endpoints, telemetry),
        &["--cores", "1"],
        &[("CUTTLE_LOG", "info")],
        false,
    );
    let metrics = metrics_addr(&gw);
    for path in ["/refuse", "/refuse-client", "/allow", "/local"] {
        assert_eq!(status(&gw, path, ""), 200, "{path} with Redis up");
    }
    // Counted in Redis: the key exists there.
    assert!(redis.command("DBSIZE").unwrap().starts_with(":4"));

    redis.stop();
    // Within budget + slack, every answer, from the first one on.
    let slack = Duration::from_millis(400);
    let bound = Duration::from_millis(budget_ms) + slack;
    // Once the link is down nothing waits for Redis: few answers (the
    // first, and a loaded machine's odd one) take as long as the budget.
    let mut waited = 0;
    let mut check = |path: &str, expected: &[u16]| {
        for (i, want) in expected.iter().enumerate() {
            let (got, took) = timed(&gw, path, "");
            assert_eq!(got, *want, "{path} request {i} with Redis down");
            assert!(took < bound, "{path} request {i} took {took:?}");
            waited += usize::from(took >= Duration::from_millis(budget_ms));
        }
    };
    check("/refuse", &[503; 5]);
    check("/refuse-client", &[429; 3]);
    check("/allow", &[200; 5]);
    // This instance's own bucket: 3 of 1000's capacity scaled to 3/1000.
    check("/local", &[200, 200, 200, 503, 503]);
    assert!(waited <= 3, "{waited} answers waited for the budget");
    let down = common::scrape(metrics);
    assert!(
        down.contains("cuttle_redis_up{connection=\"shared\"} 0"),
        "{down}"
    );
    for (how, n) in [("refuse", 8), ("allow", 5), ("local", 5)] {
        let line = format!(
            "cuttle_ratelimit_fallback_total{{connection=\"shared\",on_failure=\"{how}\"}} {n}"
        );
        assert!(down.contains(&line), "{line} in {down}");
    }

    redis.restart();
    gw.eventually(
        "the gateway counts in Redis again",
        Duration::from_secs(10),
        || status(&gw, "/refuse", "") == 200,
    );
    // A fresh Redis: the bucket of /counted is full, and counted there.
    let statuses: Vec<u16> = (0..4).map(|_| status(&gw, "/counted", "")).collect();
    assert_eq!(statuses, [200, 200, 503, 503]);
    let up = common::scrape(metrics);
    assert!(
        up.contains("cuttle_redis_up{connection=\"shared\"} 1"),
        "{up}"
    );
    let log = gw.log();
    assert_eq!(
        log.matches("Redis connection 'shared' is down").count(),
        1,
        "{log}"
    );
    assert_eq!(
        log.matches("Redis connection 'shared' answers again")
            .count(),
        1,
        "{log}"
    );
}

#[test]
fn a_paused_redis_costs_at_most_the_budget() {
    let Some(redis) = start_or_skip(&[]) else {
        return;
    };
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let endpoints = json!([endpoint(
        "/limited",
        &backend,
        json!({
            "connection_name": "shared", "max_rate": 1000, "capacity": 1000, "every": "1h",
            "decision_timeout": "100ms", "on_failure_allow": true
        })
    )]);
    let gw = Gateway::start_with(&config(&redis, endpoints, json!({})), &["--cores", "1"]);
    assert_eq!(status(&gw, "/limited", ""), 200);
    redis.signal("STOP");
    let mut took = Vec::new();
    for _ in 0..8 {
        let (got, elapsed) = timed(&gw, "/limited", "");
        assert_eq!(got, 200);
        took.push(elapsed);
    }
    // Each waits at most the budget (plus slack); after three overruns in
    // a row the link is down and the fallback is immediate.
    assert!(
        took.iter().all(|t| *t < Duration::from_millis(600)),
        "{took:?}"
    );
    assert!(
        took[..3].iter().all(|t| *t >= Duration::from_millis(100)),
        "{took:?}"
    );
    assert!(
        took[3..].iter().all(|t| *t < Duration::from_millis(100)),
        "{took:?}"
    );
    redis.signal("CONT");
    // Counted in Redis again: a request makes the key again after a flush.
    gw.eventually("Redis counts again", Duration::from_secs(15), || {
        redis.command("FLUSHALL").is_some()
            && status(&gw, "/limited", "") == 200
            && redis.command("DBSIZE").is_some_and(|r| r.starts_with(":1"))
    });
}

#[test]
fn bad_settings_are_refused_with_their_path() {
    let root =
        json!({"redis": {"connection_pools": [{"name": "shared", "address": "127.0.0.1:6379"}]}});
    let doc = |endpoint_extra: Value, backend_extra: Value, root_extra: Value| {
        let mut root = root.clone();
        for (k, v) in root_extra.as_object().unwrap() {
            root[k] = v.clone();
        }
        json!({"version": 3, "extra_config": root, "endpoints": [{
            "endpoint": "/users/{id}",
            "extra_config": endpoint_extra,
            "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/u", "extra_config": backend_extra}]
        }]})
        .to_string()
    };
    let router = "endpoints[0].extra_config.qos/ratelimit/router/redis";
    let proxy = "endpoints[0].backend[0].extra_config.qos/ratelimit/proxy/redis";
    let limit = |extra: Value| {
        let mut limit = json!({"connection_name": "shared", "max_rate": 10});
        for (k, v) in extra.as_object().unwrap() {
            limit[k] = v.clone();
        }
        limit
    };
    for (config, path, says) in [
        (
            doc(
                json!({"qos/ratelimit/router/redis": limit(json!({"connection_name": "other"}))}),
                json!({}),
                json!({}),
            ),
            format!("{router}.connection_name"),
            "\"shared\"",
        ),
        (
            doc(
                json!({"qos/ratelimit/router/redis": limit(json!({"decision_timeout": "0s"}))}),
                json!({}),
                json!({}),
            ),
            format!("{router}.decision_timeout"),
            "budget",
        ),
        (
            doc(
                json!({"qos/ratelimit/router/redis": limit(json!({"on_failure": "sometimes"}))}),
                json!({}),
                json!({}),
            ),
            format!("{router}.on_failure"),
            "\"local\"",
        ),
        (
            doc(
                json!({"qos/ratelimit/router/redis": limit(json!({"max_rate": -1}))}),
                json!({}),
                json!({}),
            ),
            format!("{router}.max_rate"),
            "negative",
        ),
        (
            doc(
                json!({"qos/ratelimit/router/redis": limit(json!({"client_max_rate": 1, "strategy": "param", "key": "user"}))}),
                json!({}),
                json!({}),
            ),
            format!("{router}.key"),
            "{id}",
        ),
        (
            doc(
                json!({}),
                json!({"qos/ratelimit/proxy/redis": limit(json!({"client_max_rate": 1}))}),
                json!({}),
            ),
            format!("{proxy}.client_max_rate"),
            "endpoint",
        ),
        (
            doc(
                json!({}),
                json!({"qos/ratelimit/proxy/redis": {"max_rate": 1}}),
                json!({}),
            ),
            format!("{proxy}.connection_name"),
            "missing",
        ),
        // Not implemented: the service-level form stays refused.
        (
            doc(
                json!({}),
                json!({}),
                json!({"qos/ratelimit/service/redis": limit(json!({}))}),
            ),
            "extra_config.qos/ratelimit/service/redis".to_owned(),
            "not implemented",
        ),
    ] {
        let (code, out) = common::check(&config);
        assert_ne!(code, 0, "{path}: accepted\n{out}");
        assert!(out.contains(&path), "{path} not named in:\n{out}");
        assert!(out.contains(says), "{says:?} not in:\n{out}");
    }
    // And a good one passes.
    let (code, out) = common::check(&doc(
        json!({"qos/ratelimit/router/redis": limit(json!({"client_max_rate": 1, "strategy": "param", "key": "id", "on_failure": "local"}))}),
        json!({"qos/ratelimit/proxy/redis": limit(json!({"on_failure_allow": true}))}),
        json!({}),
    ));
    assert_eq!(code, 0, "{out}");
}

/// A Redis Cluster of three primaries (no replicas) made with
/// `redis-cli --cluster create`; the limits work on it as on one server.
#[test]
fn a_cluster_connection_shares_limits_too() {
    let members: Vec<Redis> = (0..3)
        .map_while(|_| {
            start_or_skip(&["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
        })
        .collect();
    if members.len() < 3 {
        return;
    }
    let addresses: Vec<String> = members
        .iter()
        .map(|r| format!("127.0.0.1:{}", r.port))
        .collect();
    let created = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stdout)
    );
    common::eventually("the cluster is ok", Duration::from_secs(20), || {
        members.iter().all(|m| {
            m.command("CLUSTER INFO")
                .is_some_and(|i| i.contains("cluster_state:ok"))
        })
    });
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let limit = |extra: Value| {
        let mut limit =
            json!({"connection_name": "cluster", "every": "1h", "decision_timeout": "1s"});
        for (k, v) in extra.as_object().unwrap() {
            limit[k] = v.clone();
        }
        limit
    };
    let endpoints = json!([
        endpoint(
            "/shared",
            &backend,
            limit(json!({"max_rate": 4, "capacity": 4}))
        ),
        endpoint(
            "/per-client",
            &backend,
            limit(json!({
                "client_max_rate": 1, "client_capacity": 1, "strategy": "header", "key": "X-Key"
            }))
        ),
    ]);
    let config = json!({"version": 3, "timeout": "3s",
        "extra_config": {"redis": {"clusters": [{"name": "cluster", "addresses": [addresses[0]]}]}},
        "endpoints": endpoints})
    .to_string();
    let a = Gateway::start_with(&config, &["--cores", "2"]);
    let b = Gateway::start_with(&config, &["--cores", "2"]);
    let both = [&a, &b];
    let statuses: Vec<u16> = (0..10)
        .map(|i| status(both[i % 2], "/shared", ""))
        .collect();
    assert_eq!(statuses[..4], [200; 4], "{statuses:?}");
    assert!(statuses[4..].iter().all(|s| *s == 503), "{statuses:?}");
    // Clients' buckets spread over the slots, each still shared.
    for key in 0..12 {
        let header = format!("X-Key: client-{key}\r\n");
        assert_eq!(status(&a, "/per-client", &header), 200, "client-{key}");
        assert_eq!(status(&b, "/per-client", &header), 429, "client-{key}");
    }
    let holding: usize = members
        .iter()
        .filter(|m| m.command("DBSIZE").is_some_and(|n| n != ":0\r\n"))
        .count();
    assert!(holding >= 2, "the keys went to {holding} member(s)");
}

/// A reload (SIGHUP) opens new links on every worker; the buckets are in
/// Redis, so what was spent before the reload stays spent.
#[test]
fn a_reload_keeps_what_was_counted() {
    let Some(redis) = start_or_skip(&[]) else {
        return;
    };
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let limited = endpoint(
        "/shared",
        &backend,
        json!({
            "connection_name": "shared", "max_rate": 3, "capacity": 3, "every": "1h",
            "decision_timeout": "1s"
        }),
    );
    let gw = Gateway::start_with(
        &config(&redis, json!([limited.clone()]), json!({})),
        &["--cores", "2"],
    );
    assert_eq!(status(&gw, "/shared", ""), 200);
    assert_eq!(status(&gw, "/shared", ""), 200);
    let added =
        json!({"endpoint": "/added", "backend": [{"host": [backend.url()], "url_pattern": "/ok"}]});
    std::fs::write(
        gw.config_path(),
        config(&redis, json!([limited, added]), json!({})),
    )
    .unwrap();
    gw.signal("HUP");
    // Every worker serves the new generation.
    gw.eventually("the reload is served", Duration::from_secs(10), || {
        (0..4).all(|_| status(&gw, "/added", "") == 200)
    });
    let statuses: Vec<u16> = (0..3).map(|_| status(&gw, "/shared", "")).collect();
    assert_eq!(statuses, [200, 503, 503]);
}

/// A Redis address that accepts connections and never answers, from the
/// start: the first request waits its budget for the first attempt, the
/// next ones do not wait at all; the attempt fails at the dial bound and
/// the switch is logged.
#[test]
fn a_silent_redis_at_start_costs_one_budget() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        // Accepted and held open, never read from.
        let kept: Vec<TcpStream> = silent.incoming().take(8).filter_map(Result::ok).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(kept);
    });
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let config = json!({"version": 3, "timeout": "3s",
    "extra_config": {"redis": {"connection_pools": [
        {"name": "shared", "address": format!("127.0.0.1:{port}"), "dial_timeout": "1s"}]}},
    "endpoints": [endpoint("/limited", &backend, json!({
        "connection_name": "shared", "max_rate": 1000, "capacity": 1000,
        "decision_timeout": "200ms"
    }))]})
    .to_string();
    let gw = Gateway::start_with(&config, &["--cores", "1"]);
    let answers: Vec<(u16, Duration)> = (0..5).map(|_| timed(&gw, "/limited", "")).collect();
    assert!(answers.iter().all(|(s, _)| *s == 503), "{answers:?}");
    assert!(answers[0].1 >= Duration::from_millis(200), "{answers:?}");
    assert!(
        answers[1..]
            .iter()
            .all(|(_, t)| *t < Duration::from_millis(200)),
        "{answers:?}"
    );
    gw.eventually("the switch is logged", Duration::from_secs(10), || {
        gw.log().contains("Redis connection 'shared' is down")
    });
    drop(held);
}
