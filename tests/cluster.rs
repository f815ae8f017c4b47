//! cuttle as a cluster: Debian's HAProxy in front of three real gateways
//! (two workers each) sharing one real `redis-server` (docs/cluster.md).
//! Everything is started here on ephemeral ports and killed on drop.

mod common;
#[path = "common/jwt.rs"]
mod jwt;
#[path = "common/redis.rs"]
mod redis_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, Gateway, TempDir, json};
use cuttle::auth::Alg;
use jwt::{TestKey, generate, jwks, now, token};
use redis_server::RedisServer;
use serde_json::json;

const HAPROXY: &str = "/usr/sbin/haproxy";
const WRK: &str = "/usr/bin/wrk";
const INSTANCES: usize = 3;

fn have_tools() -> bool {
    common::available_or_skip(
        std::path::Path::new(HAPROXY).exists() && redis_server::available(),
        "haproxy or redis-server is not installed (apt install haproxy redis-server)",
    )
}

/// What an instance's configuration may refer to: the shared Redis, the
/// backend, the JWK file, and this instance's own revocation port.
pub struct Parts {
    pub redis: String,
    pub backend: String,
    pub keys: String,
    pub revoke_port: u16,
    /// For a Prometheus exporter, when the configuration has one.
    pub metrics_port: u16,
}

/// The gateways' configuration for the tests below: `/ok` (a backend that
/// takes 5 ms, so a stop always finds requests in flight) and `/private`
/// (a JWT validator and the revoker shared through Redis).
fn gateway_config(p: &Parts) -> String {
    format!(
        r#"{{"version": 3, "timeout": "3s",
            "extra_config": {{
              "redis": {{"connection_pools": [{{"name": "shared", "address": "{redis}"}}]}},
              "auth/revoker": {{"N": 1000, "P": 0.0001, "hash_name": "optimal", "TTL": 3600, "port": {port}, "token_keys": ["jti"], "connection_name": "shared"}}}},
            "endpoints": [
              {{"endpoint": "/ok", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}]}},
              {{"endpoint": "/private", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}],
               "extra_config": {{"auth/validator": {{"alg": "HS256", "jwk_local_path": "{k}"}}}}}}]}}"#,
        redis = p.redis,
        port = p.revoke_port,
        b = p.backend,
        k = p.keys,
    )
}

/// HAProxy in the foreground on a config written here, killed on drop.
struct HaProxy {
    child: Child,
    front: SocketAddr,
    stats: SocketAddr,
    _dir: TempDir,
}

impl HaProxy {
    /// Health checks on `/__health` every 100 ms (one failure marks a
    /// server down); a request is retried, on another server
    /// (`redispatch`), only when the connection failed: then it was
    /// never sent, so it cannot run twice.
    fn start(servers: &[SocketAddr]) -> HaProxy {
        let dir = TempDir::new();
        let (front, stats) = (common::free_port(), common::free_port());
        let mut config = format!(
            "global
  maxconn 512
defaults
  mode http
  timeout connect 1s
  timeout client 10s
  timeout server 10s
  retries 3
  option redispatch 1
  retry-on conn-failure
frontend fe
  bind 127.0.0.1:{front}
  default_backend cuttle
listen stats
  bind 127.0.0.1:{stats}
  stats enable
  stats uri /stats
backend cuttle
  balance roundrobin
  option httpchk GET /__health
  http-check expect status 200
  default-server check inter 100ms fall 1 rise 2
"
        );
        for (i, server) in servers.iter().enumerate() {
            config.push_str(&format!("  server c{i} {server}\n"));
        }
        let path = dir.0.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(HAPROXY)
            .args(["-db", "-f", path.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start haproxy");
        let haproxy = HaProxy {
            child,
            front: SocketAddr::from(([127, 0, 0, 1], front)),
            stats: SocketAddr::from(([127, 0, 0, 1], stats)),
            _dir: dir,
        };
        common::eventually(
            "HAProxy sees every server up",
            Duration::from_secs(10),
            || haproxy.servers_up().len() == servers.len(),
        );
        haproxy
    }

    /// The names of the servers HAProxy has up (its CSV stats).
    fn servers_up(&self) -> Vec<String> {
        let Ok(mut s) = TcpStream::connect(self.stats) else {
            return Vec::new();
        };
        let _ = write!(
            s,
            "GET /stats;csv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        let mut all = String::new();
        let _ = s.read_to_string(&mut all);
        all.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f.len() > 17 && f[0] == "cuttle" && f[17] == "UP").then(|| f[1].to_owned())
            })
            .filter(|name| name != "BACKEND")
            .collect()
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One gateway of the cluster.
pub struct Instance {
    pub gw: Gateway,
    pub revoke: SocketAddr,
    pub metrics: SocketAddr,
}

/// Three gateways behind HAProxy, one Redis, one backend.
pub struct Cluster {
    pub instances: Vec<Instance>,
    haproxy: HaProxy,
    key: TestKey,
    _backend: Backend,
    redis: RedisServer,
    _dir: TempDir,
}

impl Cluster {
    /// A cluster whose instances read the file `config` writes from
    /// their [`Parts`]; clients go through [`Cluster::through_haproxy`].
    pub fn start(config: impl Fn(&Parts) -> String) -> Cluster {
        let redis = RedisServer::start();
        let key = generate(Alg::HS256, "k1");
        let dir = TempDir::new();
        let keys = dir.0.join("keys.json");
        std::fs::write(&keys, jwks(&[&key])).unwrap();
        let backend = Backend::start(|_| {
            std::thread::sleep(Duration::from_millis(5));
            json(200, r#"{"ok": true}"#)
        });
        let instances: Vec<Instance> = (0..INSTANCES)
            .map(|_| {
                let parts = Parts {
                    redis: redis.address(),
                    backend: backend.url(),
                    keys: keys.display().to_string(),
                    revoke_port: common::free_port(),
                    metrics_port: common::free_port(),
                };
                Instance {
                    gw: Gateway::start_with(&config(&parts), &["--cores", "2"]),
                    revoke: SocketAddr::from(([127, 0, 0, 1], parts.revoke_port)),
                    metrics: SocketAddr::from(([127, 0, 0, 1], parts.metrics_port)),
                }
            })
            .collect();
        let servers: Vec<SocketAddr> = instances.iter().map(|i| i.gw.addr).collect();
        Cluster {
            haproxy: HaProxy::start(&servers),
            instances,
            key,
            _backend: backend,
            redis,
            _dir: dir,
        }
    }

    /// HAProxy's address: where the cluster's clients connect.
    pub fn through_haproxy(&self) -> SocketAddr {
        self.haproxy.front
    }
}

/// A keep-alive HTTP/1.1 client that reconnects when the server closed.
struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    /// `GET path`: the status, or why there was none.
    fn get(&mut self, path: &str, token: Option<&str>) -> Result<u16, String> {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n");
        if self.conn.is_none() {
            let stream = TcpStream::connect(self.addr).map_err(|e| format!("connect: {e}"))?;
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            self.conn = Some(BufReader::new(stream));
        }
        let conn = self.conn.as_mut().unwrap();
        let answer = (|| -> Result<(u16, bool), String> {
            conn.get_mut()
                .write_all(request.as_bytes())
                .map_err(|e| format!("write: {e}"))?;
            let mut line = String::new();
            conn.read_line(&mut line)
                .map_err(|e| format!("read: {e}"))?;
            let status = line
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("no status line: {line:?}"))?;
            let (mut length, mut close) = (0usize, false);
            loop {
                let mut header = String::new();
                conn.read_line(&mut header)
                    .map_err(|e| format!("read: {e}"))?;
                let header = header.trim_end().to_ascii_lowercase();
                if header.is_empty() {
                    break;
                }
                if let Some(v) = header.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                close |= header == "connection: close";
            }
            let mut body = vec![0; length];
            conn.read_exact(&mut body)
                .map_err(|e| format!("body: {e}"))?;
            Ok((status, close))
        })();
        match answer {
            Ok((status, close)) => {
                if close {
                    self.conn = None;
                }
                Ok(status)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }
}

#[test]
fn stopping_one_instance_under_load_loses_no_request() {
    if !have_tools() {
        return;
    }
    let mut cluster = Cluster::start(gateway_config);
    let front = cluster.through_haproxy();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut client = Client::new(front);
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match client.get("/ok", None) {
                        Ok(200) => {}
                        other => failures.push(format!("{other:?}")),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                failures
            })
        })
        .collect();
    common::eventually("steady load", Duration::from_secs(10), || {
        done.load(Ordering::Relaxed) >= 200
    });
    let stopped = &mut cluster.instances[1];
    stopped.gw.signal("TERM");
    common::eventually("the instance exited", Duration::from_secs(10), || {
        stopped.gw.exited().is_some()
    });
    assert!(
        stopped.gw.exited().unwrap().success(),
        "a drained stop exits 0"
    );
    common::eventually("HAProxy marked it down", Duration::from_secs(5), || {
        !cluster.haproxy.servers_up().contains(&"c1".to_owned())
    });
    // More load on the two that are left.
    let at_stop = done.load(Ordering::Relaxed);
    common::eventually("load after the stop", Duration::from_secs(10), || {
        done.load(Ordering::Relaxed) >= at_stop + 200
    });
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = loaders
        .into_iter()
        .flat_map(|l| l.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} requests were not 200: {:?}",
        failures.len(),
        done.load(Ordering::Relaxed),
        &failures[..failures.len().min(10)]
    );
}

#[test]
fn a_token_revoked_through_one_instance_is_refused_by_all_three_within_a_second() {
    if !have_tools() {
        return;
    }
    let cluster = Cluster::start(gateway_config);
    let claims = |jti: &str| json!({"jti": jti, "exp": now() + 600});
    let (revoked, kept) = (
        token(&cluster.key, &claims("gone")),
        token(&cluster.key, &claims("kept")),
    );
    let mut front = Client::new(cluster.through_haproxy());
    let mut direct: Vec<Client> = cluster
        .instances
        .iter()
        .map(|i| Client::new(i.gw.addr))
        .collect();
    for _ in 0..INSTANCES {
        assert_eq!(front.get("/private", Some(&revoked)), Ok(200));
    }
    for client in &mut direct {
        assert_eq!(client.get("/private", Some(&revoked)), Ok(200));
    }
    let mut post = TcpStream::connect(cluster.instances[2].revoke).unwrap();
    let body = r#"{"jti": "gone"}"#;
    write!(
        post,
        "POST /revoke HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    post.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let sent = Instant::now();
    common::eventually(
        "401 from every instance, directly and through HAProxy",
        Duration::from_secs(1),
        || {
            // Round robin: as many requests through HAProxy as servers.
            direct
                .iter_mut()
                .all(|c| c.get("/private", Some(&revoked)) == Ok(401))
                && (0..INSTANCES).all(|_| front.get("/private", Some(&revoked)) == Ok(401))
        },
    );
    assert!(sent.elapsed() < Duration::from_millis(1200));
    for client in direct.iter_mut().chain([&mut front]) {
        assert_eq!(client.get("/private", Some(&kept)), Ok(200));
    }
}

/// The cluster-wide limit: `RATE` a second for everyone, counted in Redis;
/// while Redis is away each instance falls back to `LOCAL_RATE` of its own.
const RATE: u64 = 100;
const CAPACITY: u64 = 10;
const LOCAL_RATE: u64 = 20;
const DECISION_TIMEOUT: Duration = Duration::from_millis(50);

fn limited_config(p: &Parts) -> String {
    format!(
        r#"{{"version": 3, "timeout": "3s",
            "extra_config": {{
              "redis": {{"connection_pools": [{{"name": "shared", "address": "{redis}"}}]}},
              "telemetry/opentelemetry": {{"exporters": {{"prometheus": [
                {{"name": "p", "port": {metrics}, "listen_ip": "127.0.0.1"}}]}}}}}},
            "endpoints": [
              {{"endpoint": "/limited", "backend": [{{"host": ["{b}"], "url_pattern": "/"}}],
               "extra_config": {{"qos/ratelimit/router/redis": {{
                 "connection_name": "shared", "max_rate": {RATE}, "capacity": {CAPACITY},
                 "every": "1s", "decision_timeout": "{timeout}ms",
                 "on_failure": "local", "local_max_rate": {LOCAL_RATE}}}}}}}]}}"#,
        redis = p.redis,
        metrics = p.metrics_port,
        b = p.backend,
        timeout = DECISION_TIMEOUT.as_millis(),
    )
}

/// `wrk` through `front` on `/limited` for `seconds`: (answers, 200s).
fn wrk(front: SocketAddr, seconds: u64) -> (u64, u64) {
    let out = Command::new(WRK)
        .args(["-t2", "-c12", &format!("-d{seconds}s")])
        .arg(format!("http://{front}/limited"))
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("Socket errors"), "{text}");
    let number = |after: &str| -> u64 {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(after))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let answers: u64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no request count: {text}"));
    (answers, answers - number("Non-2xx or 3xx responses:"))
}

/// The value of `series` (a whole line prefix) in a Prometheus scrape.
fn scraped(addr: SocketAddr, series: &str) -> Option<f64> {
    common::scrape(addr)
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Whether `admitted` is within 10% of `expected`.
fn within_ten_percent(admitted: u64, expected: u64) -> bool {
    admitted.abs_diff(expected) * 10 <= expected
}

/// issue 25: a limit of RATE a second holds for the three instances
/// together within 10% under wrk; Redis killed mid-run costs no answer
/// more than the decision bound and each instance falls back to its own
/// local limit; Redis restarted (empty) brings the shared count back.
#[test]
fn a_redis_limit_holds_cluster_wide_and_falls_back_while_redis_is_away() {
    if !have_tools()
        || !common::available_or_skip(
            std::path::Path::new(WRK).exists(),
            "wrk is not installed (apt install wrk)",
        )
    {
        return;
    }
    let mut cluster = Cluster::start(limited_config);
    let front = cluster.through_haproxy();
    let up = r#"cuttle_redis_up{connection="shared"}"#;
    let all_up = |cluster: &Cluster| {
        cluster
            .instances
            .iter()
            .all(|i| scraped(i.metrics, up) == Some(1.0))
    };
    common::eventually("every instance has Redis", Duration::from_secs(10), || {
        all_up(&cluster)
    });

    // Shared: RATE a second for all three, plus the bucket's capacity.
    let seconds = 4;
    let (answers, admitted) = wrk(front, seconds);
    eprintln!("Redis up: {admitted} of {answers} admitted");
    let expected = RATE * seconds + CAPACITY;
    assert!(
        answers > 3 * expected,
        "wrk must ask for more than the limit: {answers}"
    );
    assert!(
        within_ten_percent(admitted, expected),
        "Redis up: {admitted} admitted of {answers}, expected {expected} ± 10%"
    );

    // Redis killed while clients keep asking: each answer within the
    // decision bound (and a margin for this shared machine), and the
    // instances fall back to their own limits.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut client = Client::new(front);
                let mut slowest = Duration::ZERO;
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    statuses.push(client.get("/limited", None));
                    slowest = slowest.max(started.elapsed());
                    done.fetch_add(1, Ordering::Relaxed);
                }
                (slowest, statuses)
            })
        })
        .collect();
    common::eventually("load before the kill", Duration::from_secs(10), || {
        done.load(Ordering::Relaxed) >= 100
    });
    cluster.redis.stop();
    let fallbacks = r#"cuttle_ratelimit_fallback_total{connection="shared",on_failure="local"}"#;
    common::eventually("every instance falls back", Duration::from_secs(10), || {
        cluster
            .instances
            .iter()
            .all(|i| scraped(i.metrics, fallbacks).is_some_and(|n| n > 0.0))
    });
    let at_fallback = done.load(Ordering::Relaxed);
    common::eventually("load after the fallback", Duration::from_secs(10), || {
        done.load(Ordering::Relaxed) >= at_fallback + 200
    });
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        let (slowest, statuses) = loader.join().unwrap();
        assert!(
            slowest < DECISION_TIMEOUT + Duration::from_millis(400),
            "an answer took {slowest:?} around Redis's death"
        );
        assert!(
            statuses.iter().all(|s| matches!(s, Ok(200 | 503))),
            "{:?}",
            statuses.iter().find(|s| !matches!(s, Ok(200 | 503)))
        );
    }
    // Without Redis: each instance's own LOCAL_RATE (divided among its
    // workers, so at most three times it), neither everything (allow) nor
    // nothing (refuse).
    let (answers, admitted) = wrk(front, seconds);
    eprintln!("Redis down: {admitted} of {answers} admitted");
    let local_most = 3 * (LOCAL_RATE * seconds + CAPACITY);
    assert!(
        admitted > LOCAL_RATE * seconds / 2 && admitted <= local_most + local_most / 10,
        "Redis down: {admitted} admitted of {answers}, expected the local limits (at most {local_most})"
    );

    // Redis back, empty: the shared count again.
    cluster.redis.restart();
    common::eventually(
        "every instance has Redis again",
        Duration::from_secs(10),
        || all_up(&cluster),
    );
    let (answers, admitted) = wrk(front, seconds);
    eprintln!("Redis back: {admitted} of {answers} admitted");
    assert!(
        within_ten_percent(admitted, expected),
        "Redis back: {admitted} admitted of {answers}, expected {expected} ± 10%"
    );
}
