//! `"sd": "dns"` (DNS SRV) and static host names that DNS keeps current,
//! against a real DNS server (tests/support/dns_server.py, Debian's
//! python3-dnslib) that the gateway is pointed at with CUTTLE_DNS_SERVER:
//! instances share traffic by weight, an answer that changes under load
//! moves the traffic with no failed request, a removed instance's
//! connections are closed, and a DNS server that stops answering leaves
//! the last addresses in service.
#![allow(clippy::disallowed_types)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Backend, Gateway, RawBackend, TempDir, eventually, json, read_head};
use serde_json::{Value, json as j};

const PYTHON: &str = common::DEBIAN_PYTHON;

/// The test DNS server, killed when dropped.
struct Dns {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Dns {
    /// `None` (the test is skipped) when Debian's python3 with dnslib is
    /// missing, except under CI, where that fails the test.
    fn start(zone: Value) -> Option<Dns> {
        if !common::available_or_skip(
            common::python_imports("dnslib"),
            "/usr/bin/python3 cannot import dnslib (apt-get install python3-dnslib)",
        ) {
            return None;
        }
        let dir = TempDir::new();
        let zone_path = dir.0.join("zone.json");
        std::fs::write(&zone_path, zone.to_string()).unwrap();
        let mut child = Command::new(PYTHON)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/dns_server.py"
            ))
            .arg(&zone_path)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start dns_server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut server = Dns {
            child,
            port: 0,
            dir,
        };
        server.port = line.trim().parse().expect("dns_server.py prints its port");
        Some(server)
    }

    /// Replaces the answers (atomically: a question never reads half a file).
    fn set(&self, zone: &Value) {
        let tmp = self.dir.0.join("zone.json.tmp");
        std::fs::write(&tmp, zone.to_string()).unwrap();
        std::fs::rename(&tmp, self.dir.0.join("zone.json")).unwrap();
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A zone with SRV name `_api._tcp.svc.test` listing `instances`
/// (weight, port), each on its own target name at 127.0.0.1.
fn srv_zone(instances: &[(u16, u16)]) -> Value {
    let mut zone = serde_json::Map::new();
    let srv: Vec<Value> = instances
        .iter()
        .enumerate()
        .map(|(i, (weight, port))| j!([10, weight, port, format!("i{i}-{port}.svc.test")]))
        .collect();
    zone.insert("_api._tcp.svc.test".into(), j!({ "SRV": srv }));
    for (i, (_, port)) in instances.iter().enumerate() {
        zone.insert(format!("i{i}-{port}.svc.test"), j!({"A": ["127.0.0.1"]}));
    }
    Value::Object(zone)
}

fn gateway(dns: &Dns, backends: Value) -> Gateway {
    let config = j!({
        "version": 3,
        "timeout": "3s",
        "dns_cache_ttl": "1s",
        "endpoints": [{"endpoint": "/x", "backend": backends}]
    });
    Gateway::start_env(
        &config.to_string(),
        // Two workers: each takes the new addresses on its own.
        &["--cores", "2"],
        &[("CUTTLE_DNS_SERVER", &dns.addr())],
        true,
    )
}

fn srv_backend() -> Value {
    j!([{"host": ["_api._tcp.svc.test"], "sd": "dns", "disable_host_sanitize": true, "url_pattern": "/x"}])
}

/// Requests `/x` from `threads` client loops until stopped; counts the
/// answers that were not 200.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let threads = (0..threads)
            .map(|_| {
                let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let mut client = common::Client::connect(addr);
                        // A few requests per connection, as keep-alive clients do.
                        for _ in 0..5 {
                            client.send(b"GET /x HTTP/1.1\r\nHost: gw\r\n\r\n");
                            let status = client.response().map(|r| r.status);
                            sent.fetch_add(1, Ordering::SeqCst);
                            if status != Some(200) {
                                eprintln!("failed request: {status:?}");
                                failed.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            sent,
            failed,
            threads,
        }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// Stops the loops; the number of failed requests.
    fn finish(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        self.failed.load(Ordering::SeqCst)
    }
}

fn ok_backend() -> Backend {
    Backend::start(|_| json(200, r#"{"ok":true}"#))
}

#[test]
fn srv_instances_share_the_traffic_by_weight() {
    let (a, b) = (ok_backend(), ok_backend());
    let Some(dns) = Dns::start(srv_zone(&[(1, a.addr.port()), (3, b.addr.port())])) else {
        return;
    };
    let gw = gateway(&dns, srv_backend());
    for _ in 0..40 {
        assert_eq!(gw.get("/x").status, 200, "{}", gw.log());
    }
    let (to_a, to_b) = (a.requests().len(), b.requests().len());
    assert_eq!(to_a + to_b, 40);
    // lura expands the instances by weight (1:3) and goes round them.
    assert!(
        (5..=15).contains(&to_a) && (25..=35).contains(&to_b),
        "a {to_a}, b {to_b}"
    );
    // The URL lura builds is the SRV target (with its final dot) and port.
    let host = format!("i0-{}.svc.test.:{}", a.addr.port(), a.addr.port());
    assert_eq!(a.requests()[0].header("host"), Some(host.as_str()));
}

/// A keep-alive backend that counts the connections the gateway closed.
fn counting_backend(closed: Arc<AtomicUsize>, served: Arc<AtomicUsize>) -> RawBackend {
    RawBackend::start(move |mut stream: TcpStream| {
        while read_head(&mut stream).is_some() {
            served.fetch_add(1, Ordering::SeqCst);
            let reply =
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
            if stream.write_all(reply).is_err() {
                return;
            }
        }
        closed.fetch_add(1, Ordering::SeqCst);
    })
}

#[test]
fn a_changed_srv_answer_moves_the_traffic_under_load_and_drains_the_old_instance() {
    let (a_closed, a_served) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let a = counting_backend(a_closed.clone(), a_served.clone());
    let b = ok_backend();
    let Some(dns) = Dns::start(srv_zone(&[(1, a.addr.port())])) else {
        return;
    };
    let gw = gateway(&dns, srv_backend());
    let load = Load::start(gw.addr, 2);
    eventually("instance a serves", Duration::from_secs(5), || {
        a_served.load(Ordering::SeqCst) >= 20
    });
    assert_eq!(
        a_closed.load(Ordering::SeqCst),
        0,
        "a's connections are kept alive"
    );
    dns.set(&srv_zone(&[(1, b.addr.port())]));
    eventually("the traffic reaches b", Duration::from_secs(10), || {
        b.requests().len() >= 20
    });
    // Every connection to a is closed once DNS no longer lists it.
    eventually("a is drained", Duration::from_secs(5), || {
        a_closed.load(Ordering::SeqCst) == a.conns.load(Ordering::SeqCst)
    });
    let a_total = a_served.load(Ordering::SeqCst);
    let sent = load.sent();
    eventually(
        "more requests after the switch",
        Duration::from_secs(5),
        || load.sent() >= sent + 50,
    );
    assert_eq!(
        a_served.load(Ordering::SeqCst),
        a_total,
        "no request to a after it left"
    );
    assert_eq!(load.finish(), 0, "failed requests; log:\n{}", gw.log());
}

#[test]
fn a_static_host_name_follows_its_a_record() {
    let first = ok_backend();
    // The same port on another loopback address: only the A record changes.
    let Ok(listener) = TcpListener::bind(("127.0.0.2", first.addr.port())) else {
        eprintln!("SKIPPED: cannot bind 127.0.0.2:{}", first.addr.port());
        return;
    };
    let second = Backend::serve(listener, |_| json(200, r#"{"ok":true}"#));
    let zone = |ip: &str| j!({"svc.test": {"A": [ip]}});
    let Some(dns) = Dns::start(zone("127.0.0.1")) else {
        return;
    };
    let host = format!("http://svc.test:{}", first.addr.port());
    let gw = gateway(&dns, j!([{"host": [host], "url_pattern": "/x"}]));
    let load = Load::start(gw.addr, 2);
    eventually("the first address serves", Duration::from_secs(5), || {
        first.requests().len() >= 10
    });
    dns.set(&zone("127.0.0.2"));
    eventually(
        "the traffic reaches the new address",
        Duration::from_secs(10),
        || second.requests().len() >= 20,
    );
    let before = first.requests().len();
    let sent = load.sent();
    eventually("more requests", Duration::from_secs(5), || {
        load.sent() >= sent + 50
    });
    assert_eq!(
        first.requests().len(),
        before,
        "no request to the old address"
    );
    assert_eq!(
        second.requests()[0].header("host"),
        Some(format!("svc.test:{}", first.addr.port()).as_str())
    );
    assert_eq!(load.finish(), 0, "failed requests; log:\n{}", gw.log());
}

#[test]
fn a_dns_server_that_stops_answering_leaves_the_last_addresses() {
    let (a, named) = (ok_backend(), ok_backend());
    let mut zone = srv_zone(&[(1, a.addr.port())]);
    zone["svc.test"] = j!({"A": ["127.0.0.1"]});
    let Some(mut dns) = Dns::start(zone) else {
        return;
    };
    let static_host = format!("http://svc.test:{}", named.addr.port());
    let gw = gateway(
        &dns,
        j!([
            {"host": ["_api._tcp.svc.test"], "sd": "dns", "url_pattern": "/x", "group": "srv"},
            {"host": [static_host], "url_pattern": "/x", "group": "named"}
        ]),
    );
    assert_eq!(gw.get("/x").status, 200, "{}", gw.log());
    dns.stop();
    eventually("the failures are logged", Duration::from_secs(10), || {
        let log = gw.log();
        log.contains("_api._tcp.svc.test: lookup")
            && log.contains("svc.test:")
            && log.matches("keeping its last addresses").count() >= 2
    });
    // Calls keep going to the last addresses through several failed
    // lookups (every second) and the workers' looks at them.
    let until = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < until {
        let r = gw.get("/x");
        assert_eq!(r.status, 200, "{}", gw.log());
        assert_eq!(r.json(), j!({"srv": {"ok": true}, "named": {"ok": true}}));
    }
    // Logged once per host, not once per attempt.
    assert_eq!(
        gw.log().matches("keeping its last addresses").count(),
        2,
        "{}",
        gw.log()
    );
}

#[test]
fn a_reload_keeps_the_pool_of_an_unchanged_srv_name_and_follows_a_new_one() {
    let (a, b) = (ok_backend(), ok_backend());
    let mut zone = srv_zone(&[(1, a.addr.port())]);
    zone["_other._tcp.svc.test"] = j!({"SRV": [[1, 1, b.addr.port(), "b.svc.test"]]});
    zone["b.svc.test"] = j!({"A": ["127.0.0.1"]});
    let Some(dns) = Dns::start(zone) else {
        return;
    };
    let gw = gateway(&dns, srv_backend());
    for _ in 0..5 {
        assert_eq!(gw.get("/x").status, 200, "{}", gw.log());
    }
    let settled = a.connections();
    let config = j!({
        "version": 3, "timeout": "3s", "dns_cache_ttl": "1s",
        "endpoints": [
            {"endpoint": "/x", "backend": srv_backend()},
            {"endpoint": "/o", "backend": [{"host": ["_other._tcp.svc.test"], "sd": "dns", "url_pattern": "/o"}]}
        ]
    });
    std::fs::write(gw.config_path(), config.to_string()).unwrap();
    gw.signal("HUP");
    eventually("/o served", Duration::from_secs(10), || {
        gw.get("/o").status == 200
    });
    for _ in 0..5 {
        assert_eq!(gw.get("/x").status, 200);
    }
    assert_eq!(
        a.connections(),
        settled,
        "the SRV name's pool and connections were kept"
    );
    assert_eq!(b.requests()[0].path(), "/o");
}

/// A TLS backend on `listener` with a certificate for `name` signed by a
/// fresh CA (written to `dir/ca.pem`), answering each request with the
/// `Host` it was sent.
fn tls_backend(listener: TcpListener, name: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key)
    .unwrap();
    let config = Arc::new(config);
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut reader = BufReader::new(&mut tls);
                loop {
                    let mut host = String::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(h) = line.strip_prefix("Host: ") {
                            host = h.trim().to_string();
                        }
                    }
                    let body = format!(r#"{{"host": "{host}"}}"#);
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if reader.get_mut().write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    ca_file
}

#[test]
fn sd_scheme_https_verifies_the_srv_target_name() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = format!("i0-{port}.svc.test");
    let dir = TempDir::new();
    let ca_file = tls_backend(listener, &target, &dir.0);
    let Some(dns) = Dns::start(srv_zone(&[(1, port)])) else {
        return;
    };
    let config = j!({
        "version": 3, "timeout": "3s",
        "client_tls": {"ca_certs": [ca_file]},
        "endpoints": [{"endpoint": "/x", "backend": [
            {"host": ["_api._tcp.svc.test"], "sd": "dns", "sd_scheme": "https", "url_pattern": "/x"}
        ]}]
    });
    let gw = Gateway::start_env(
        &config.to_string(),
        &["--cores", "1"],
        &[("CUTTLE_DNS_SERVER", &dns.addr())],
        true,
    );
    for _ in 0..3 {
        let r = gw.get("/x");
        assert_eq!(r.status, 200, "{}\n{}", r.text(), gw.log());
        assert_eq!(r.json(), j!({"host": format!("{target}.:{port}")}));
    }
}
