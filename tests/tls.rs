//! HTTPS at the edge and to backends: the real binary, real sockets,
//! certificates made by each test (rcgen) under a private CA.
#![allow(clippy::disallowed_types)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{Backend, Gateway, TempDir, json};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// A private certificate authority.
struct Ca {
    cert: rcgen::Certificate,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "cuttle test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf for `names`, valid until `not_after` (year), as PEM files in
    /// `dir` named `stem.crt` / `stem.key`.
    fn leaf(&self, dir: &Path, stem: &str, names: &[&str], not_after: i32) -> (PathBuf, PathBuf) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let crt = dir.join(format!("{stem}.crt"));
        let pem_key = dir.join(format!("{stem}.key"));
        std::fs::write(&crt, cert.pem()).unwrap();
        std::fs::write(&pem_key, key.serialize_pem()).unwrap();
        (crt, pem_key)
    }

    /// A client certificate (clientAuth) signed by this CA, as PEM files.
    fn client_cert_files(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (crt, pem_key) = (dir.join("client.crt"), dir.join("client.key"));
        std::fs::write(&crt, cert.pem()).unwrap();
        std::fs::write(&pem_key, key.serialize_pem()).unwrap();
        (crt, pem_key)
    }

    /// A client certificate (clientAuth) signed by this CA, for rustls.
    fn client_cert(
        &self,
    ) -> (
        Vec<CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ) {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "a client");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
        (vec![cert.der().clone()], der.into())
    }

    fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.crt");
        std::fs::write(&path, self.cert.pem()).unwrap();
        path
    }

    fn client(&self, versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection to `addr` with SNI `name`.
fn connect(config: &Arc<ClientConfig>, addr: SocketAddr, name: &str) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    let conn = ClientConnection::new(
        config.clone(),
        ServerName::try_from(name.to_string()).unwrap(),
    )
    .map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

fn peer_cert(tls: &Tls) -> CertificateDer<'static> {
    tls.conn.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

/// One keep-alive GET; the response's body (Content-Length framing).
fn get(tls: &mut Tls, path: &str) -> (u16, String) {
    write!(tls, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    tls.flush().unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tls.read(&mut chunk).expect("read response");
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                let status = head[9..12].parse().unwrap();
                return (status, body[..len].to_string());
            }
        }
    }
}

fn tls_config(keys: &[(PathBuf, PathBuf)], extra: &str, backend: &str) -> String {
    let keys = keys
        .iter()
        .map(|(c, k)| {
            format!(
                r#"{{"public_key": "{}", "private_key": "{}"}}"#,
                c.display(),
                k.display()
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{{"version": 3, "timeout": "2s", "tls": {{"keys": [{keys}] {extra}}},
            "endpoints": [{{"endpoint": "/hello", "backend": [{{"host": ["{backend}"], "url_pattern": "/hello"}}]}}]}}"#
    )
}

fn hello_backend() -> Backend {
    Backend::start(|_| json(200, r#"{"hello": "tls"}"#))
}

#[test]
fn https_serves_http1_over_tls13_only_and_refuses_tls12_by_default() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let pair = ca.leaf(&dir.0, "a", &["localhost", "a.test"], 2090);
    let backend = hello_backend();
    let gateway = Gateway::start(&tls_config(&[pair], "", &backend.url()));

    let client = ca.client(&[&rustls::version::TLS13, &rustls::version::TLS12]);
    let mut tls = connect(&client, gateway.addr, "a.test").expect("TLS 1.3 handshake");
    assert_eq!(
        tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        get(&mut tls, "/hello"),
        (200, r#"{"hello":"tls"}"#.to_string())
    );
    // Keep-alive over the same TLS connection.
    assert_eq!(get(&mut tls, "/__health").0, 200);
    // Session tickets are on: the next connection resumes.
    let mut resumed = connect(&client, gateway.addr, "a.test").unwrap();
    assert_eq!(
        resumed.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
    assert_eq!(get(&mut resumed, "/hello").0, 200);
    // One single-use ticket per connection, full or resumed (it came before
    // the response): enough for the next connection to resume again.
    assert_eq!(tls.conn.tls13_tickets_received(), 1);
    assert_eq!(resumed.conn.tls13_tickets_received(), 1);
    let mut again = connect(&client, gateway.addr, "a.test").unwrap();
    assert_eq!(
        again.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
    assert_eq!(get(&mut again, "/hello").0, 200);

    let tls12_only = ca.client(&[&rustls::version::TLS12]);
    assert!(
        connect(&tls12_only, gateway.addr, "a.test").is_err(),
        "TLS 1.2 must be refused by default"
    );

    // The port speaks only TLS: plain HTTP gets no HTTP answer.
    let mut plain = TcpStream::connect(gateway.addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        !got.starts_with(b"HTTP/"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );

    // curl, verifying against the CA.
    let ca_file = ca.write(&dir.0);
    let out = Command::new("curl")
        .args(["-sS", "--http1.1", "--cacert"])
        .arg(&ca_file)
        .arg(format!("https://localhost:{}/hello", gateway.addr.port()))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), r#"{"hello":"tls"}"#);
}

#[test]
fn tls12_is_accepted_with_min_version() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let pair = ca.leaf(&dir.0, "a", &["a.test"], 2090);
    let backend = hello_backend();
    let gateway = Gateway::start(&tls_config(
        &[pair],
        r#", "min_version": "TLS12", "cipher_suites": [49195, 49199, 4865], "curve_preferences": [29, 23]"#,
        &backend.url(),
    ));
    let tls12_only = ca.client(&[&rustls::version::TLS12]);
    let mut tls = connect(&tls12_only, gateway.addr, "a.test").expect("TLS 1.2 accepted");
    assert_eq!(
        tls.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(get(&mut tls, "/hello").0, 200);
    let tls13 = ca.client(&[&rustls::version::TLS13]);
    let mut tls = connect(&tls13, gateway.addr, "a.test").expect("TLS 1.3 still accepted");
    assert_eq!(get(&mut tls, "/hello").0, 200);
}

#[test]
fn sni_picks_between_two_certificates() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let a = ca.leaf(&dir.0, "a", &["a.test"], 2090);
    let b = ca.leaf(&dir.0, "b", &["b.test", "*.b.test"], 2090);
    let a_der = pem_der(&a.0);
    let b_der = pem_der(&b.0);
    let backend = hello_backend();
    let gateway = Gateway::start(&tls_config(&[a, b], "", &backend.url()));
    let client = ca.client(&[&rustls::version::TLS13]);
    for (name, want) in [("a.test", &a_der), ("b.test", &b_der), ("x.b.test", &b_der)] {
        let mut tls =
            connect(&client, gateway.addr, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&peer_cert(&tls), want, "{name}");
        assert_eq!(get(&mut tls, "/hello").0, 200);
    }
    // No match: the first certificate, which the client then refuses.
    assert!(connect(&client, gateway.addr, "c.test").is_err());
}

fn pem_der(path: &Path) -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_file(path).unwrap()
}

fn check(config: &str, dir: &Path) -> (bool, String) {
    let path = dir.join("gateway.json");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn run_fails(config: &str, dir: &Path) -> String {
    let path = dir.join("gateway.json");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["run", "-p", "0", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn bad_certificate_files_are_config_errors_naming_the_file() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let good = ca.leaf(&dir.0, "good", &["a.test"], 2090);
    let other = ca.leaf(&dir.0, "other", &["a.test"], 2090);
    let expired = ca.leaf(&dir.0, "expired", &["a.test"], 2021);
    let missing = (good.0.clone(), dir.0.join("missing.key"));
    let mismatched = (good.0.clone(), other.1.clone());
    let cases = [
        (missing, "missing.key", "cannot read the private key"),
        (mismatched, "other.key", "does not match the certificate"),
        (expired, "expired.crt", "expired"),
    ];
    let (ok, stderr) = check(&tls_config(&[good], "", "http://127.0.0.1:9"), &dir.0);
    assert!(ok, "{stderr}");
    for (pair, file, why) in cases {
        let config = tls_config(&[pair], "", "http://127.0.0.1:9");
        let (ok, stderr) = check(&config, &dir.0);
        assert!(!ok, "{file}");
        assert!(
            stderr.contains(file) && stderr.contains(why),
            "{file}: {stderr}"
        );
        let stderr = run_fails(&config, &dir.0);
        assert!(
            stderr.contains(file) && stderr.contains(why),
            "run, {file}: {stderr}"
        );
    }
    // An identifier rustls does not support lists the supported ones.
    let config = tls_config(
        &[ca.leaf(&dir.0, "c", &["a.test"], 2090)],
        r#", "curve_preferences": [25]"#,
        "http://127.0.0.1:9",
    );
    let (ok, stderr) = check(&config, &dir.0);
    assert!(!ok);
    assert!(
        stderr.contains("tls.curve_preferences: 25 is not supported; supported: 29 (X25519)"),
        "{stderr}"
    );
}

#[test]
fn sighup_reloads_certificates_for_new_connections_only() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let first = ca.leaf(&dir.0, "first", &["a.test"], 2090);
    let first_der = pem_der(&first.0);
    let (crt, key) = (dir.0.join("live.crt"), dir.0.join("live.key"));
    std::fs::copy(&first.0, &crt).unwrap();
    std::fs::copy(&first.1, &key).unwrap();
    let backend = hello_backend();
    let gateway = Gateway::start_env(
        &tls_config(&[(crt.clone(), key.clone())], "", &backend.url()),
        &["--cores", "2"],
        &[("CUTTLE_LOG", "info")],
        true,
    );
    let client = ca.client(&[&rustls::version::TLS13]);
    let mut old = connect(&client, gateway.addr, "a.test").unwrap();
    assert_eq!(peer_cert(&old), first_der);
    assert_eq!(get(&mut old, "/hello").0, 200);

    let second = ca.leaf(&dir.0, "second", &["a.test"], 2091);
    let second_der = pem_der(&second.0);
    std::fs::copy(&second.0, &crt).unwrap();
    std::fs::copy(&second.1, &key).unwrap();
    gateway.signal("HUP");
    gateway.eventually(
        "the new certificate is served",
        Duration::from_secs(10),
        || peer_cert(&connect(&client, gateway.addr, "a.test").unwrap()) == second_der,
    );
    // Every worker serves the new one (several connections land on both).
    for _ in 0..8 {
        let mut tls = connect(&client, gateway.addr, "a.test").unwrap();
        assert_eq!(peer_cert(&tls), second_der);
        assert_eq!(get(&mut tls, "/hello").0, 200);
    }
    // The connection made before the reload goes on.
    assert_eq!(get(&mut old, "/hello").0, 200);

    // A failed reload keeps the certificates and says why.
    std::fs::write(&key, "not a key").unwrap();
    gateway.signal("HUP");
    gateway.eventually(
        "the failed reload is logged",
        Duration::from_secs(10),
        || gateway.log().contains("certificate reload failed"),
    );
    let mut tls = connect(&client, gateway.addr, "a.test").unwrap();
    assert_eq!(peer_cert(&tls), second_der);
    assert_eq!(get(&mut tls, "/hello").0, 200);
    let log = gateway.log();
    assert!(
        log.contains("certificate reload failed") && log.contains("live.key"),
        "{log}"
    );
}

/// A TLS backend on 127.0.0.1 serving `cert`/`key` and answering every
/// request (keep-alive) with a small JSON document; counts completed handshakes.
fn tls_backend(cert: &Path, key: &Path) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    tls_backend_with(cert, key, None)
}

/// [`tls_backend`], requiring a client certificate from `client_ca` if given.
fn tls_backend_with(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Ca>,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    tls_backend_speaking(cert, key, client_ca, rustls::DEFAULT_VERSIONS)
}

/// [`tls_backend_with`] speaking only the TLS `versions` given.
fn tls_backend_speaking(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Ca>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let provider = rustls::crypto::ring::default_provider();
    tls_backend_full(cert, key, client_ca, versions, provider)
}

/// What the TLS backend answers to a request with `Host: host`.
type TlsReply = fn(&str) -> String;

/// The test backend's usual answer: where the request went.
fn where_it_went(host: &str) -> String {
    format!(r#"{{"over": "tls", "host": "{host}"}}"#)
}

/// [`tls_backend_full`] with the default versions, suites and client auth.
fn tls_backend_answering(
    cert: &Path,
    key: &Path,
    reply: TlsReply,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let provider = rustls::crypto::ring::default_provider();
    tls_backend_replying(cert, key, None, rustls::DEFAULT_VERSIONS, provider, reply)
}

/// [`tls_backend_speaking`] with only `provider`'s suites and groups.
fn tls_backend_full(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Ca>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    provider: rustls::crypto::CryptoProvider,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    tls_backend_replying(cert, key, client_ca, versions, provider, where_it_went)
}

/// [`tls_backend_full`] answering each request with `reply`.
fn tls_backend_replying(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Ca>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    provider: rustls::crypto::CryptoProvider,
    reply: TlsReply,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let certs = vec![pem_der(cert)];
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(provider);
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap();
    let config = match client_ca {
        None => config.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.cert.der().clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::new(rustls::crypto::ring::default_provider()),
            )
            .build()
            .unwrap();
            config.with_client_cert_verifier(verifier)
        }
    };
    let config = Arc::new(config.with_single_cert(certs, key).unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            let count = count.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = StreamOwned::new(conn, tcp);
                // Counted once the handshake is done: a state a test can wait for.
                while tls.conn.is_handshaking() {
                    if tls.conn.complete_io(&mut tls.sock).is_err() {
                        return;
                    }
                }
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        buf.drain(..end + 4);
                        let host = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Host: "))
                            .unwrap_or("")
                            .to_string();
                        let body = reply(&host);
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if tls
                            .write_all(reply.as_bytes())
                            .and_then(|_| tls.flush())
                            .is_err()
                        {
                            return;
                        }
                    }
                    match tls.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (addr, accepted)
}

fn backend_config(host: &str, client_tls: &str) -> String {
    format!(
        r#"{{"version": 3, "timeout": "2s", "client_tls": {client_tls},
            "extra_config": {{"cuttle/server": {{"pool_size": 1}}}},
            "endpoints": [{{"endpoint": "/remote", "backend": [{{"host": ["{host}"], "url_pattern": "/x"}}]}}]}}"#
    )
}

#[test]
fn https_backend_with_a_private_ca_is_verified_and_pooled() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let (crt, key) = ca.leaf(&dir.0, "backend", &["localhost"], 2090);
    let (addr, accepted) = tls_backend(&crt, &key);
    let ca_file = ca.write(&dir.0);
    let gateway = Gateway::start_env(
        &backend_config(
            &format!("https://localhost:{}", addr.port()),
            &format!(r#"{{"ca_certs": ["{}"]}}"#, ca_file.display()),
        ),
        &["--cores", "1"],
        &[],
        true,
    );
    // The pre-connection lands first (its handshake done).
    gateway.eventually("the pre-connection", Duration::from_secs(10), || {
        accepted.load(std::sync::atomic::Ordering::SeqCst) == 1
    });
    for _ in 0..5 {
        let response = gateway.get("/remote");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(
            response.json(),
            serde_json::json!({"over": "tls", "host": format!("localhost:{}", addr.port())})
        );
    }
    // The one pre-connected keep-alive TLS connection carries all five
    // (the backend's session tickets on it do not make it look stale).
    let opened = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        opened,
        1,
        "TLS connections for 5 requests: {}",
        gateway.log()
    );

    // Without the CA (system roots only) the private certificate is refused.
    let gateway = Gateway::start(&backend_config(
        &format!("https://localhost:{}", addr.port()),
        "{}",
    ));
    assert_eq!(gateway.get("/remote").status, 500);
}

#[test]
fn client_tls_defaults_to_tls13_as_krakend_and_honours_its_versions() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let (crt, key) = ca.leaf(&dir.0, "backend", &["localhost"], 2090);
    let ca_file = ca.write(&dir.0);
    let (tls12, _) = tls_backend_speaking(&crt, &key, None, &[&rustls::version::TLS12]);
    let (tls13, _) = tls_backend_speaking(&crt, &key, None, &[&rustls::version::TLS13]);
    let status = |addr: SocketAddr, versions: &str| {
        let gateway = Gateway::start(&backend_config(
            &format!("https://localhost:{}", addr.port()),
            &format!(r#"{{"ca_certs": ["{}"]{versions}}}"#, ca_file.display()),
        ));
        gateway.get("/remote").status
    };
    // lura's client TLS set-up reads an unset min_version as TLS 1.3: a
    // TLS 1.2-only backend is refused...
    assert_eq!(status(tls12, ""), 500);
    assert_eq!(status(tls13, ""), 200);
    // ...unless the block allows TLS 1.2.
    assert_eq!(status(tls12, r#", "min_version": "TLS12""#), 200);
    assert_eq!(status(tls13, r#", "min_version": "TLS12""#), 200);
    // max_version caps it.
    let both12 = r#", "min_version": "TLS12", "max_version": "TLS12""#;
    assert_eq!(status(tls13, both12), 500);
    assert_eq!(status(tls12, both12), 200);
    // A max_version under the (default) minimum can never connect: refused.
    let (ok, out) = check(
        &backend_config(
            "https://localhost:1",
            &format!(
                r#"{{"ca_certs": ["{}"], "max_version": "TLS12"}}"#,
                ca_file.display()
            ),
        ),
        &dir.0,
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("client_tls.min_version: is TLS13 when not set"),
        "{out}"
    );
}

#[test]
fn client_tls_cipher_suites_and_curves_choose_what_is_offered() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let (crt, key) = ca.leaf(&dir.0, "backend", &["localhost"], 2090);
    let ca_file = ca.write(&dir.0);
    // A TLS 1.2 backend with one ECDSA suite (rcgen's keys are P-256).
    let mut one_suite = rustls::crypto::ring::default_provider();
    one_suite
        .cipher_suites
        .retain(|s| u16::from(s.suite()) == 0xc02c);
    let (tls12, _) = tls_backend_full(&crt, &key, None, &[&rustls::version::TLS12], one_suite);
    // A TLS 1.3 backend with X25519 only.
    let mut x25519 = rustls::crypto::ring::default_provider();
    x25519.kx_groups.retain(|g| u16::from(g.name()) == 29);
    let (tls13, _) = tls_backend_full(&crt, &key, None, &[&rustls::version::TLS13], x25519);
    let status = |addr: SocketAddr, settings: &str| {
        let gateway = Gateway::start(&backend_config(
            &format!("https://localhost:{}", addr.port()),
            &format!(r#"{{"ca_certs": ["{}"]{settings}}}"#, ca_file.display()),
        ));
        gateway.get("/remote").status
    };
    let tls12_with =
        |suites: &str| format!(r#", "min_version": "TLS12", "cipher_suites": {suites}"#);
    // 49195 (ECDHE-ECDSA AES-128-GCM) is not the backend's 49196.
    assert_eq!(status(tls12, &tls12_with("[49195]")), 500);
    assert_eq!(status(tls12, &tls12_with("[49195, 49196]")), 200);
    // TLS 1.3 suites are not chosen by the list, as in Go.
    assert_eq!(status(tls13, r#", "cipher_suites": [49195]"#), 200);
    assert_eq!(status(tls13, r#", "curve_preferences": [23, 24]"#), 500);
    assert_eq!(status(tls13, r#", "curve_preferences": [23, 29]"#), 200);
    // A group the TLS library lacks (P-521) is named, not dropped.
    let (ok, out) = check(
        &backend_config(
            "https://localhost:1",
            &format!(
                r#"{{"ca_certs": ["{}"], "curve_preferences": [25]}}"#,
                ca_file.display()
            ),
        ),
        &dir.0,
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("client_tls.curve_preferences: 25 is not supported"),
        "{out}"
    );
}

#[test]
fn https_backend_with_a_wrong_name_is_refused_unless_insecure_is_allowed() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let (crt, key) = ca.leaf(&dir.0, "backend", &["other.test"], 2090);
    let (addr, _) = tls_backend(&crt, &key);
    let ca_file = ca.write(&dir.0);
    let host = format!("https://localhost:{}", addr.port());
    let gateway = Gateway::start(&backend_config(
        &host,
        &format!(r#"{{"ca_certs": ["{}"]}}"#, ca_file.display()),
    ));
    assert_eq!(gateway.get("/remote").status, 500);
    let gateway = Gateway::start_env(
        &backend_config(&host, r#"{"allow_insecure_connections": true}"#),
        &["--cores", "1"],
        &[],
        true,
    );
    let response = gateway.get("/remote");
    assert_eq!(response.status, 200, "{}", response.text());
    // The log reaches the pipe asynchronously.
    gateway.eventually(
        "the insecure backend is warned about",
        Duration::from_secs(5),
        || gateway.log().contains("NOT VERIFIED"),
    );
}

/// A GET that may fail anywhere (handshake, write, read): `Ok(status)`.
fn try_get(config: &Arc<ClientConfig>, addr: SocketAddr) -> std::io::Result<u16> {
    let mut tls = connect(config, addr, "a.test")?;
    tls.write_all(b"GET /__health HTTP/1.1\r\nHost: x\r\n\r\n")?;
    tls.flush()?;
    let mut head = [0u8; 12];
    tls.read_exact(&mut head)?;
    String::from_utf8_lossy(&head[9..12])
        .parse()
        .map_err(std::io::Error::other)
}

#[test]
fn mtls_accepts_a_client_certificate_from_the_ca_and_refuses_others() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let pair = ca.leaf(&dir.0, "a", &["a.test"], 2090);
    let ca_file = ca.write(&dir.0);
    let backend = hello_backend();
    let gateway = Gateway::start(&tls_config(
        &[pair],
        &format!(
            r#", "enable_mtls": true, "disable_system_ca_pool": true, "ca_certs": ["{}"]"#,
            ca_file.display()
        ),
        &backend.url(),
    ));
    let with_cert = |issuer: &Ca| {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert.der().clone()).unwrap();
        let (certs, key) = issuer.client_cert();
        Arc::new(
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_client_auth_cert(certs, key)
                .unwrap(),
        )
    };
    assert_eq!(try_get(&with_cert(&ca), gateway.addr).unwrap(), 200);
    let without = ca.client(&[&rustls::version::TLS13]);
    assert!(
        try_get(&without, gateway.addr).is_err(),
        "no client certificate"
    );
    let stranger = Ca::new();
    assert!(
        try_get(&with_cert(&stranger), gateway.addr).is_err(),
        "a client certificate from another CA"
    );
    // The worker goes on serving.
    assert_eq!(try_get(&with_cert(&ca), gateway.addr).unwrap(), 200);
}

/// KrakenD reads the `tls` block with mapstructure's weak typing, so
/// `"enable_mtls": "true"` turns mTLS on there: it must here too, never
/// be read as "not true" and serve without client certificates.
#[test]
fn mtls_switched_on_by_strings_as_krakend_reads_them() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let pair = ca.leaf(&dir.0, "a", &["a.test"], 2090);
    let ca_file = ca.write(&dir.0);
    let backend = hello_backend();
    let gateway = Gateway::start(&tls_config(
        &[pair],
        &format!(
            r#", "enable_mtls": "true", "disable_system_ca_pool": 1, "ca_certs": "{}""#,
            ca_file.display()
        ),
        &backend.url(),
    ));
    let without = ca.client(&[&rustls::version::TLS13]);
    assert!(
        try_get(&without, gateway.addr).is_err(),
        "no client certificate"
    );
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let (certs, key) = ca.client_cert();
    let with_cert = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .unwrap(),
    );
    assert_eq!(try_get(&with_cert, gateway.addr).unwrap(), 200);
}

/// curl's answer as (HTTP version, status, body).
fn curl(args: &[&str], url: &str) -> (String, String, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "-w",
            "\n%{http_version} %{http_code}",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, last) = text.rsplit_once('\n').unwrap();
    let (version, status) = last.split_once(' ').unwrap();
    (version.to_string(), status.to_string(), body.to_string())
}

#[test]
fn http2_by_alpn_with_curl_and_a_rust_client() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let pair = ca.leaf(&dir.0, "a", &["localhost"], 2090);
    let ca_file = ca.write(&dir.0);
    let backend = hello_backend();
    let gateway = Gateway::start(&tls_config(&[pair], "", &backend.url()));
    let url = |path: &str| format!("https://localhost:{}{path}", gateway.addr.port());
    let cacert = ca_file.to_str().unwrap();
    assert_eq!(
        curl(&["--http2", "--cacert", cacert], &url("/hello")),
        ("2".into(), "200".into(), r#"{"hello":"tls"}"#.into())
    );
    assert_eq!(
        curl(&["--http2", "--cacert", cacert], &url("/nope")).1,
        "404"
    );
    assert_eq!(
        curl(&["--http1.1", "--cacert", cacert], &url("/hello")).0,
        "1.1"
    );

    // A Rust client (h2 over tokio-rustls): several streams on one connection.
    let mut client = (*ca.client(&[&rustls::version::TLS13])).clone();
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let client = Arc::new(client);
    let addr = gateway.addr;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let statuses = runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(client)
            .connect(name, tcp)
            .await
            .unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (send, connection) = h2::client::handshake(tls).await.unwrap();
        tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let mut out = Vec::new();
        for path in ["/hello", "/__health", "/hello"] {
            let request = http::Request::get(format!("https://localhost{path}"))
                .body(())
                .unwrap();
            let (response, _) = send.send_request(request, true).unwrap();
            let response = response.await.unwrap();
            let status = response.status().as_u16();
            let mut body = response.into_body();
            let mut bytes = Vec::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.unwrap();
                let _ = body.flow_control().release_capacity(chunk.len());
                bytes.extend_from_slice(&chunk);
            }
            out.push((status, String::from_utf8(bytes).unwrap()));
            send = send.ready().await.unwrap();
        }
        out
    });
    assert_eq!(statuses[0], (200, r#"{"hello":"tls"}"#.to_string()));
    assert_eq!(statuses[1].0, 200);
    assert_eq!(statuses[2], statuses[0]);
}

#[test]
fn h2c_with_prior_knowledge_beside_http1() {
    let backend = hello_backend();
    let gateway = Gateway::start(&format!(
        r#"{{"version": 3, "use_h2c": true, "extra_config": {{"cuttle/server": {{"max_body_bytes": 64}}}},
            "endpoints": [{{"endpoint": "/hello", "backend": [{{"host": ["{0}"], "url_pattern": "/hello"}}]}},
                          {{"endpoint": "/post", "method": "POST", "backend": [{{"host": ["{0}"], "url_pattern": "/hello"}}]}}]}}"#,
        backend.url()
    ));
    let url = format!("http://127.0.0.1:{}/hello", gateway.addr.port());
    assert_eq!(
        curl(&["--http2-prior-knowledge"], &url),
        ("2".into(), "200".into(), r#"{"hello":"tls"}"#.into())
    );
    assert_eq!(
        curl(&["--http1.1"], &url),
        ("1.1".into(), "200".into(), r#"{"hello":"tls"}"#.into())
    );
}

#[test]
fn malformed_http2_clients_are_answered_and_the_worker_keeps_serving() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let pair = ca.leaf(&dir.0, "a", &["a.test"], 2090);
    let backend = hello_backend();
    let config = tls_config(&[pair], "", &backend.url()).replacen(
        r#""version": 3,"#,
        r#""version": 3, "max_header_bytes": 4096, "extra_config": {"cuttle/server": {"h2_max_concurrent_streams": 2}},"#,
        1,
    );
    let gateway = Gateway::start(&config);
    let mut client = (*ca.client(&[&rustls::version::TLS13])).clone();
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let client = Arc::new(client);
    // A bad preface after ALPN h2: GOAWAY(PROTOCOL_ERROR), never an answer.
    let mut tls = connect(&client, gateway.addr, "a.test").unwrap();
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]));
    tls.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    tls.flush().unwrap();
    let mut got = Vec::new();
    let _ = tls.read_to_end(&mut got);
    assert!(!got.windows(4).any(|w| w == b"HTTP"), "{got:?}");
    eprintln!("bad preface answered with frames {:?}", frames(&got));
    let goaway = frames(&got)
        .into_iter()
        .find(|(kind, _, _)| *kind == 7)
        .expect("a GOAWAY frame");
    assert_eq!(&goaway.2[4..8], &[0, 0, 0, 1], "PROTOCOL_ERROR");

    // A stream flood: a third open stream past the limit of 2 is refused
    // with RST_STREAM(REFUSED_STREAM), or the connection with GOAWAY.
    let mut tls = connect(&client, gateway.addr, "a.test").unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // SETTINGS, empty
    // :method GET, :scheme https, :path /, :authority "a"; no END_STREAM.
    let block = [0x82, 0x87, 0x84, 0x01, 0x01, b'a'];
    for id in [1u8, 3, 5, 7] {
        out.extend_from_slice(&[0, 0, block.len() as u8, 1, 0x4, 0, 0, 0, id]);
        out.extend_from_slice(&block);
    }
    tls.write_all(&out).unwrap();
    tls.flush().unwrap();
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let refused = loop {
        let seen = frames(&got);
        let refused = seen.iter().any(|(kind, stream, payload)| {
            *kind == 3 && *stream >= 5 && payload == &[0, 0, 0, 7] || *kind == 7
        });
        if refused {
            break true;
        }
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => break false,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    };
    assert!(
        refused,
        "streams past the limit were not refused: {:?}",
        frames(&got)
    );

    // A header list past max_header_bytes: the stream is refused (431 or
    // a reset), the connection and the worker go on.
    let addr = gateway.addr;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut alpn_client = (*client).clone();
    alpn_client.alpn_protocols = vec![b"h2".to_vec()];
    let alpn_client = Arc::new(alpn_client);
    let (big, after) = runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(alpn_client)
            .connect(ServerName::try_from("a.test").unwrap(), tcp)
            .await
            .unwrap();
        let (send, connection) = h2::client::Builder::new()
            .max_header_list_size(u32::MAX)
            .handshake::<_, bytes::Bytes>(tls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut send = send.ready().await.unwrap();
        let huge = "x".repeat(8 * 1024);
        let request = http::Request::get("https://a.test/hello")
            .header("x-big", huge)
            .body(())
            .unwrap();
        let big = match send.send_request(request, true) {
            Ok((response, _)) => match response.await {
                Ok(response) => Ok(response.status().as_u16()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        let after = match send.ready().await {
            Ok(mut send) => {
                let request = http::Request::get("https://a.test/hello").body(()).unwrap();
                match send.send_request(request, true) {
                    Ok((response, _)) => response.await.map(|r| r.status().as_u16()).ok(),
                    Err(_) => None,
                }
            }
            Err(_) => None,
        };
        (big, after)
    });
    eprintln!("oversized header list: {big:?}; next stream: {after:?}");
    assert!(
        big == Ok(431)
            || big.as_ref().is_err_and(|e| e.contains("reset")
                || e.contains("REFUSED")
                || e.contains("PROTOCOL")),
        "an oversized header list: {big:?}"
    );
    assert_eq!(
        after,
        Some(200),
        "the connection goes on after an oversized header list"
    );
    // The worker keeps serving.
    assert_eq!(curl_status_h1(&ca, &dir.0, gateway.addr), "200");
}

fn curl_status_h1(ca: &Ca, dir: &Path, addr: SocketAddr) -> String {
    let ca_file = ca.write(dir);
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--resolve"])
        .arg(format!("a.test:{}:127.0.0.1", addr.port()))
        .arg("--cacert")
        .arg(&ca_file)
        .arg(format!("https://a.test:{}/hello", addr.port()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// HTTP/2 frames in `bytes`: (type, stream, payload).
fn frames(mut bytes: &[u8]) -> Vec<(u8, u32, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 9 {
        let len =
            (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
        if bytes.len() < 9 + len {
            break;
        }
        let stream = u32::from_be_bytes([bytes[5] & 0x7f, bytes[6], bytes[7], bytes[8]]);
        out.push((bytes[3], stream, bytes[9..9 + len].to_vec()));
        bytes = &bytes[9 + len..];
    }
    out
}

#[test]
fn https_backend_asking_for_a_client_certificate_gets_client_certs() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let (crt, key) = ca.leaf(&dir.0, "backend", &["localhost"], 2090);
    let (addr, _) = tls_backend_with(&crt, &key, Some(&ca));
    let ca_file = ca.write(&dir.0);
    let host = format!("https://localhost:{}", addr.port());
    // Without client_certs the backend refuses the handshake.
    let gateway = Gateway::start(&backend_config(
        &host,
        &format!(r#"{{"ca_certs": ["{}"]}}"#, ca_file.display()),
    ));
    assert_eq!(gateway.get("/remote").status, 500);
    // With a client certificate from the backend's CA it answers.
    let (cert_file, key_file) = ca.client_cert_files(&dir.0);
    let gateway = Gateway::start(&backend_config(
        &host,
        &format!(
            r#"{{"ca_certs": ["{}"], "client_certs": [{{"certificate": "{}", "private_key": "{}"}}]}}"#,
            ca_file.display(),
            cert_file.display(),
            key_file.display()
        ),
    ));
    let response = gateway.get("/remote");
    assert_eq!(response.status, 200, "{}", response.text());
}

/// A `wss://` backend of a websocket endpoint is reached over TLS with the
/// `client_tls` settings of `https://` backends (docs/websockets.md).
#[test]
fn wss_backend_of_a_websocket_endpoint_uses_client_tls() {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let dir = TempDir::new();
    let ca = Ca::new();
    let (crt, key) = ca.leaf(&dir.0, "backend", &["localhost"], 2090);
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![pem_der(&crt)],
            PrivateKeyDer::from_pem_file(&key).unwrap(),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // One session: the handshake, one masked frame back unmasked.
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut tls = StreamOwned::new(rustls::ServerConnection::new(config).unwrap(), tcp);
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            tls.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let accept = cuttle::http::websocket::accept_value(key.as_bytes());
        write!(
            tls,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .unwrap();
        tls.flush().unwrap();
        let mut frame = [0u8; 2 + 4 + 5];
        tls.read_exact(&mut frame).unwrap();
        let payload: Vec<u8> = (0..5).map(|i| frame[6 + i] ^ frame[2 + i % 4]).collect();
        let mut reply = vec![0x81, 5];
        reply.extend_from_slice(&payload);
        tls.write_all(&reply).unwrap();
        tls.flush().unwrap();
        // Wait for the gateway to go away.
        let _ = tls.read(&mut byte);
    });
    let ca_file = ca.write(&dir.0);
    let gateway = Gateway::start(&format!(
        r#"{{"version": 3, "timeout": "2s", "client_tls": {{"ca_certs": ["{}"]}},
            "endpoints": [{{"endpoint": "/ws", "backend": [{{"host": ["wss://localhost:{port}"], "url_pattern": "/"}}],
                "extra_config": {{"websocket": {{"enable_direct_communication": true}}}}}}]}}"#,
        ca_file.display()
    ));
    let mut client = TcpStream::connect(gateway.addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client
        .write_all(b"GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .unwrap();
    let head = common::read_head(&mut client).unwrap();
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    // "hello", masked with 1 2 3 4.
    let mut frame = vec![0x81, 0x85, 1, 2, 3, 4];
    frame.extend(
        b"hello"
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]),
    );
    client.write_all(&frame).unwrap();
    let mut echoed = [0u8; 7];
    client.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"\x81\x05hello");
}

/// `auth/client-credentials` with an https `token_url`: the token server's
/// certificate is checked against `client_tls` like a backend's.
#[test]
fn client_credentials_fetch_tokens_over_https_verified_by_client_tls() {
    let dir = TempDir::new();
    let ca = Ca::new();
    let (crt, key) = ca.leaf(&dir.0, "tokens", &["localhost"], 2090);
    let (tokens, fetched) = tls_backend_answering(&crt, &key, |_| {
        r#"{"access_token": "tok-over-tls", "token_type": "bearer", "expires_in": 3600}"#.to_owned()
    });
    let backend = Backend::start(|req| {
        let auth = req.header("authorization").unwrap_or("none");
        json(200, &format!(r#"{{"auth": "{auth}"}}"#))
    });
    let config = |client_tls: &str| {
        format!(
            r#"{{"version": 3, "timeout": "2s", "client_tls": {client_tls},
                "endpoints": [{{"endpoint": "/x", "backend": [{{"host": ["{b}"], "url_pattern": "/",
                  "extra_config": {{"auth/client-credentials": {{"client_id": "id", "client_secret": "secret",
                     "token_url": "https://localhost:{port}/token"}}}}}}]}}]}}"#,
            b = backend.url(),
            port = tokens.port()
        )
    };
    let ca_file = ca.write(&dir.0);
    let trusted = format!(r#"{{"ca_certs": ["{}"]}}"#, ca_file.display());
    let gw = Gateway::start(&config(&trusted));
    let answer = gw.get("/x");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["auth"], "Bearer tok-over-tls");
    drop(gw);

    // A token server the client TLS settings do not trust: no token, and
    // the backend is not called without one.
    let seen_before = backend.requests().len();
    let fetches_before = fetched.load(std::sync::atomic::Ordering::SeqCst);
    let gw = Gateway::start(&config(r#"{"disable_system_ca_pool": true}"#));
    let refused = gw.get("/x");
    assert_ne!(refused.status, 200, "{}", refused.text());
    assert_eq!(
        backend.requests().len(),
        seen_before,
        "not called without a token"
    );
    assert_eq!(
        fetched.load(std::sync::atomic::Ordering::SeqCst),
        fetches_before,
        "the handshake with the untrusted token server failed"
    );
}
