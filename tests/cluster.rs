//! cuttle as a cluster: Debian's HAProxy in front of three real gateways
//! (two workers each) sharing one real `redis-server` (docs/cluster.md).
//! Everything is started here on ephemeral ports and killed on drop.

mod common;
#[path = "common/jwt.rs"]
mod jwt;
#[path = "common/redis.rs"]
mod redis_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
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
const INSTANCES: usize = 3;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
        let (front, stats) = (free_port(), free_port());
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
}

/// Three gateways behind HAProxy, one Redis, one backend.
pub struct Cluster {
    pub instances: Vec<Instance>,
    haproxy: HaProxy,
    key: TestKey,
    _backend: Backend,
    _redis: RedisServer,
    _dir: TempDir,
}

impl Cluster {
    /// THE PLACE TO START A CLUSTER WITH ANOTHER CONFIGURATION: `config`
    /// writes each instance's file from its [`Parts`]. A cluster-wide
    /// check (e.g. a rate limit kept in Redis, `qos/ratelimit/router` with
    /// a `connection_name`) starts one here with its own `config` and sends
    /// its requests through [`Cluster::through_haproxy`].
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
                    revoke_port: free_port(),
                };
                Instance {
                    gw: Gateway::start_with(&config(&parts), &["--cores", "2"]),
                    revoke: SocketAddr::from(([127, 0, 0, 1], parts.revoke_port)),
                }
            })
            .collect();
        let servers: Vec<SocketAddr> = instances.iter().map(|i| i.gw.addr).collect();
        Cluster {
            haproxy: HaProxy::start(&servers),
            instances,
            key,
            _backend: backend,
            _redis: redis,
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
