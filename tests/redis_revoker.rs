//! `auth/revoker` with `connection_name`: revocations shared through a
//! real `redis-server` by several real gateways (docs/revoker.md).

mod common;
#[path = "common/jwt.rs"]
mod jwt;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/revocation.rs"]
mod revocation;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Backend, Gateway, TempDir, json};
use cuttle::auth::Alg;
use jwt::{TestKey, generate, jwks, now, token};
use redis_server::RedisServer;
use revocation::{admin, open_per_worker, status_on};
use serde_json::json;

/// How soon every instance must refuse a revoked token.
const PROPAGATION: Duration = Duration::from_secs(1);

fn have_redis() -> bool {
    common::available_or_skip(
        redis_server::available(),
        "redis-server is not installed (apt install redis-server)",
    )
}

/// What every instance shares: the signing key, its JWK file, a backend.
struct Shared {
    key: TestKey,
    keys: std::path::PathBuf,
    backend: Backend,
    _dir: TempDir,
}

impl Shared {
    fn new() -> Shared {
        let key = generate(Alg::HS256, "k1");
        let dir = TempDir::new();
        let keys = dir.0.join("keys.json");
        std::fs::write(&keys, jwks(&[&key])).unwrap();
        Shared {
            key,
            keys,
            backend: Backend::start(|_| json(200, r#"{"ok": true}"#)),
            _dir: dir,
        }
    }

    fn token(&self, jti: &str) -> String {
        token(
            &self.key,
            &json!({"jti": jti, "sub": "user-1", "exp": now() + 600}),
        )
    }
}

/// One gateway: two workers, its revocation endpoint and its exporter.
struct Instance {
    gw: Gateway,
    admin: SocketAddr,
    metrics: SocketAddr,
}

fn instance(shared: &Shared, redis_address: &str) -> Instance {
    let (port, metrics) = (common::free_port(), common::free_port());
    let config = format!(
        r#"{{"version": 3, "timeout": "2s",
            "extra_config": {{
              "redis": {{"connection_pools": [{{"name": "shared", "address": "{redis_address}", "dial_timeout": "500ms"}}]}},
              "auth/revoker": {{"N": 1000, "P": 0.0001, "hash_name": "optimal", "TTL": 3600, "port": {port}, "token_keys": ["jti", "sub"], "connection_name": "shared"}},
              "telemetry/opentelemetry": {{"service_name": "t", "exporters": {{"prometheus": [{{"name": "p", "port": {metrics}, "listen_ip": "127.0.0.1"}}]}}}}}},
            "endpoints": [{{"endpoint": "/private", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}],
               "extra_config": {{"auth/validator": {{"alg": "HS256", "jwk_local_path": "{k}"}}}}}}]}}"#,
        b = shared.backend.url(),
        k = shared.keys.display(),
    );
    Instance {
        gw: Gateway::start_with(&config, &["--cores", "2"]),
        admin: SocketAddr::from(([127, 0, 0, 1], port)),
        metrics: SocketAddr::from(([127, 0, 0, 1], metrics)),
    }
}

fn status(gw: &Gateway, token: &str) -> u16 {
    status_on(&mut gw.client(), token)
}

/// Kept-alive connections to `instance` until both its workers hold one,
/// each having let `token` through (so cached it as verified).
fn on_every_worker(instance: &Instance, token: &str) -> Vec<common::Client> {
    let mut clients = Vec::new();
    common::eventually(
        "client connections on both workers",
        Duration::from_secs(10),
        || {
            let mut client = instance.gw.client();
            assert_eq!(status_on(&mut client, token), 200);
            clients.push(client);
            let open = open_per_worker(instance.metrics);
            open.len() == 2 && open.iter().all(|&n| n >= 1.0)
        },
    );
    clients
}

#[test]
fn a_revocation_sent_to_one_instance_reaches_every_worker_of_all_three_within_a_second() {
    if !have_redis() {
        return;
    }
    let redis = RedisServer::start();
    let shared = Shared::new();
    let instances: Vec<Instance> = (0..3)
        .map(|_| instance(&shared, &redis.address()))
        .collect();
    let (revoked, kept) = (shared.token("t-1"), shared.token("t-2"));
    let mut clients: Vec<common::Client> = instances
        .iter()
        .flat_map(|i| on_every_worker(i, &revoked))
        .collect();
    assert_eq!(
        admin(instances[1].admin, "POST", "/revoke", r#"{"jti": "t-1"}"#),
        (200, r#"{"revoked": 1}"#.to_owned())
    );
    let sent = std::time::Instant::now();
    // The same connections, so the same workers of the same instances.
    common::eventually(
        "every worker of every instance refuses it",
        PROPAGATION,
        || clients.iter_mut().all(|c| status_on(c, &revoked) == 401),
    );
    assert!(sent.elapsed() <= PROPAGATION + Duration::from_millis(200));
    for client in &mut clients {
        assert_eq!(status_on(client, &kept), 200, "another jti passes");
    }
    for i in &instances {
        assert_eq!(
            admin(i.admin, "POST", "/check", r#"{"jti": ["t-1", "t-2"]}"#),
            (200, r#"{"revoked":["jti-t-1"]}"#.to_owned())
        );
    }
}

#[test]
fn an_instance_started_after_the_revocation_refuses_the_token() {
    if !have_redis() {
        return;
    }
    let redis = RedisServer::start();
    let shared = Shared::new();
    let first = instance(&shared, &redis.address());
    // A value with a quote, a comma, a bracket and non-ASCII: data.
    let odd = "a\",b]\\ é-1";
    let body = json!({ "sub": odd }).to_string();
    assert_eq!(admin(first.admin, "POST", "/revoke", &body).0, 200);
    let t = token(
        &shared.key,
        &json!({"jti": "late", "sub": odd, "exp": now() + 600}),
    );
    assert_eq!(status(&first.gw, &t), 401);
    let late = instance(&shared, &redis.address());
    late.gw
        .eventually("the late instance read the set", PROPAGATION, || {
            status(&late.gw, &t) == 401
        });
    assert_eq!(status(&late.gw, &shared.token("other")), 200);
}

#[test]
fn after_redis_restarts_empty_a_new_revocation_still_propagates() {
    if !have_redis() {
        return;
    }
    let mut redis = RedisServer::start();
    let shared = Shared::new();
    let (a, b) = (
        instance(&shared, &redis.address()),
        instance(&shared, &redis.address()),
    );
    redis.stop();
    // Redis down: applied where it was sent, and the sender is told so.
    let (code, body) = admin(a.admin, "POST", "/revoke", r#"{"jti": "while-down"}"#);
    assert_eq!(code, 503, "{body}");
    assert!(body.contains(r#""shared":false"#), "{body}");
    assert_eq!(status(&a.gw, &shared.token("while-down")), 401);
    assert_eq!(status(&b.gw, &shared.token("while-down")), 200);
    a.gw.eventually("the loss logged", Duration::from_secs(5), || {
        a.gw.log().contains("auth/revoker: Redis") && a.gw.log().contains("unreachable")
    });
    redis.restart();
    for i in [&a, &b] {
        i.gw.eventually("the recovery logged", Duration::from_secs(5), || {
            i.gw.log().contains("reachable again")
        });
    }
    assert_eq!(
        admin(b.admin, "POST", "/revoke", r#"{"jti": "after"}"#),
        (200, r#"{"revoked": 1}"#.to_owned())
    );
    a.gw.eventually("the new revocation reached a", PROPAGATION, || {
        status(&a.gw, &shared.token("after")) == 401
    });
    for i in [&a, &b] {
        let lines = i.gw.log();
        assert_eq!(
            lines.matches("unreachable").count(),
            1,
            "logged once at the loss: {lines}"
        );
    }
}

#[test]
fn with_redis_down_at_start_the_gateway_serves_and_says_so() {
    if !have_redis() {
        return;
    }
    let port = common::free_port();
    let shared = Shared::new();
    let i = instance(&shared, &format!("127.0.0.1:{port}"));
    assert_eq!(status(&i.gw, &shared.token("t")), 200, "serving");
    i.gw.eventually("says Redis is unreachable", Duration::from_secs(5), || {
        i.gw.log().contains("unreachable")
    });
    let (code, body) = admin(i.admin, "POST", "/revoke", r#"{"jti": "t"}"#);
    assert_eq!(code, 503, "{body}");
    assert_eq!(status(&i.gw, &shared.token("t")), 401, "applied locally");
    // Redis comes: the instance follows it without a restart.
    let _redis = RedisServer::on(port, &[]);
    i.gw.eventually("the recovery logged", Duration::from_secs(5), || {
        i.gw.log().contains("reachable again")
    });
    assert_eq!(admin(i.admin, "POST", "/revoke", r#"{"jti": "u"}"#).0, 200);
    assert_eq!(status(&i.gw, &shared.token("u")), 401);
}
