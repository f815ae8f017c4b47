//! TLS set-up with rustls (ring provider): the server configuration served
//! at the edge (certificates chosen by SNI, reloadable), and the client
//! configuration for `https://` backends.
//!
//! The handshakes themselves run on the worker that owns the connection
//! (`crate::rt::Stream::accept_tls`, `connect_tls`); this module only loads
//! and checks files and builds the shared, immutable rustls configurations.
//! The prepare step (`crate::prepare`) reads the files once; each worker
//! starts from that configuration with its own session cache and builds a
//! new one on a reload (SIGHUP); all share one session ticket key, so
//! resumption works across workers and across reloads.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

use crate::config::{ClientTlsSettings, KeyPair, Problem, ServerTlsSettings, TlsVersion};

/// The edge's TLS settings and what all workers share: the session ticket
/// key (a ticket issued by one worker resumes on any other). Each worker
/// builds its own rustls configuration from it ([`ServerTls::config`]), at
/// start and again on each reload.
pub struct ServerTls {
    settings: ServerTlsSettings,
    ticketer: Arc<dyn rustls::server::ProducesTickets>,
    /// The configuration built when the files were checked: what every
    /// worker starts with ([`ServerTls::worker_config`]).
    built: Arc<ServerConfig>,
}

impl ServerTls {
    /// Loads and checks every certificate and key the settings name, once;
    /// [`ServerTls::config`] reads them again on a reload (SIGHUP).
    pub fn new(settings: &ServerTlsSettings) -> Result<ServerTls, Problem> {
        let ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| Problem::new("tls", format!("cannot make a session ticket key: {e}")))?;
        let built = build(settings, &ticketer)?;
        Ok(ServerTls {
            settings: settings.clone(),
            ticketer,
            built,
        })
    }

    /// A worker's first configuration: the one built by [`ServerTls::new`]
    /// with a session cache of its own (rustls's default, one
    /// mutex-guarded map, would otherwise be shared by every core).
    pub fn worker_config(&self) -> Arc<ServerConfig> {
        let mut own = (*self.built).clone();
        own.session_storage = rustls::server::ServerSessionMemoryCache::new(256);
        Arc::new(own)
    }

    /// Reads the certificate and key files and builds a server
    /// configuration serving them; what is wrong names the file.
    pub fn config(&self) -> Result<Arc<ServerConfig>, Problem> {
        build(&self.settings, &self.ticketer)
    }
}

/// A server configuration for `settings`, its files read now, issuing
/// tickets with `ticketer` (shared by every worker and reload).
fn build(
    settings: &ServerTlsSettings,
    ticketer: &Arc<dyn rustls::server::ProducesTickets>,
) -> Result<Arc<ServerConfig>, Problem> {
    let keys = SniKeys(load_keys(&settings.keys)?);
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(ids) = &settings.cipher_suites {
        provider.cipher_suites = pick(ids, rustls::crypto::ring::ALL_CIPHER_SUITES, |s| {
            u16::from(s.suite())
        });
    }
    if let Some(ids) = &settings.curve_preferences {
        provider.kx_groups = curves(ids);
    }
    let versions = versions(settings.min_version, settings.max_version);
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| {
                Problem::new(
                    "tls.cipher_suites",
                    format!(
                        "no usable combination of versions, cipher suites and curves: {e} (TLS 1.3 needs one of the suites 4865, 4866, 4867; TLS 1.2 one of the others)"
                    ),
                )
            })?;
    let builder = match &settings.client_auth {
        None => builder.with_no_client_auth(),
        Some(auth) => {
            let roots = roots(&auth.ca_certs, auth.disable_system_ca_pool, "tls.ca_certs")?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| {
                Problem::new(
                    "tls.ca_certs",
                    format!("cannot verify client certificates: {e}"),
                )
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(keys));
    config.ticketer = ticketer.clone();
    // One ticket per handshake, full or resumed: a TLS 1.3 ticket is
    // single-use and each resumed connection brings a fresh one, so one
    // keeps a client resuming (OpenSSL, hence nginx, sends one on a
    // resumption). rustls's default of two costs the server a ticket
    // seal and the client a ticket to process on every connection
    // (measured in tuning.md); a client that asks for more with RFC 9149
    // `ticket_request` (e.g. to open parallel connections) gets up to two.
    config.send_tls13_tickets = 1;
    config.max_tls13_tickets = 2;
    // HTTP/2 first, as browsers expect; HTTP/1.1 for the rest.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates served, chosen by the client's SNI.
#[derive(Debug)]
struct SniKeys(Vec<Arc<CertifiedKey>>);

impl ResolvesServerCert for SniKeys {
    /// The first certificate valid for the SNI name, else the first one (as
    /// Go's `crypto/tls`, hence KrakenD, does).
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // One certificate: served whatever the name (no parse per handshake).
        if self.0.len() > 1
            && let Some(name) = hello.server_name()
            && let Ok(name) = ServerName::try_from(name)
        {
            let matching = self.0.iter().find(|key| {
                key.end_entity_cert()
                    .ok()
                    .and_then(|der| webpki::EndEntityCert::try_from(der).ok())
                    .is_some_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
            });
            if let Some(key) = matching {
                return Some(key.clone());
            }
        }
        self.0.first().cloned()
    }
}

fn versions(min: TlsVersion, max: TlsVersion) -> Vec<&'static SupportedProtocolVersion> {
    let mut out = Vec::new();
    if max >= TlsVersion::Tls13 {
        out.push(&rustls::version::TLS13);
    }
    if min <= TlsVersion::Tls12 {
        out.push(&rustls::version::TLS12);
    }
    out
}

fn load_keys(pairs: &[KeyPair]) -> Result<Vec<Arc<CertifiedKey>>, Problem> {
    pairs.iter().map(load_key).collect()
}

fn file_problem(path: &Path, message: impl std::fmt::Display) -> Problem {
    Problem::new("tls", format!("{}: {message}", path.display()))
}

/// One certificate chain and its key, checked: readable, PEM, the key
/// matching the certificate, the certificate not expired.
fn load_key(pair: &KeyPair) -> Result<Arc<CertifiedKey>, Problem> {
    let certs = read_certs(&pair.public_key)?;
    let key_bytes = std::fs::read(&pair.private_key).map_err(|e| {
        file_problem(
            &pair.private_key,
            format!("cannot read the private key: {e}"),
        )
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        file_problem(
            &pair.private_key,
            format!("no PEM private key (PKCS#8, PKCS#1 or SEC1) in it: {e}"),
        )
    })?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| file_problem(&pair.private_key, format!("unsupported private key: {e}")))?;
    let certified = CertifiedKey::new(certs, signing);
    certified.keys_match().map_err(|e| {
        file_problem(
            &pair.private_key,
            format!(
                "does not match the certificate {}: {e}",
                pair.public_key.display()
            ),
        )
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match not_after(&certified.cert[0]) {
        Some(end) if end < now => {
            return Err(file_problem(
                &pair.public_key,
                format!("the certificate expired ({} seconds ago)", now - end),
            ));
        }
        Some(_) => {}
        None => {
            return Err(file_problem(
                &pair.public_key,
                "the certificate cannot be parsed (X.509 DER inside PEM expected)",
            ));
        }
    }
    Ok(Arc::new(certified))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let bytes = std::fs::read(path)
        .map_err(|e| file_problem(path, format!("cannot read the certificate: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_problem(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(file_problem(
            path,
            "no certificate (-----BEGIN CERTIFICATE-----) in it",
        ));
    }
    Ok(certs)
}

/// The items of `all` whose IANA id is in `ids`, in the order of `ids`
/// (Go's order of preference); unknown ids are left out.
fn pick<T: Copy>(ids: &[u16], all: &[T], id_of: impl Fn(&T) -> u16) -> Vec<T> {
    ids.iter()
        .filter_map(|id| all.iter().find(|item| id_of(item) == *id).copied())
        .collect()
}

/// `curve_preferences`: the key exchange groups ring offers, by IANA id.
fn curves(ids: &[u16]) -> Vec<&'static dyn rustls::crypto::SupportedKxGroup> {
    pick(ids, rustls::crypto::ring::ALL_KX_GROUPS, |g| {
        u16::from(g.name())
    })
}

/// The client side: how `https://` backends are called.
pub fn client_config(settings: &ClientTlsSettings) -> Result<Arc<ClientConfig>, Problem> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(ids) = &settings.cipher_suites {
        // Go's `CipherSuites` (lura `parseCipherSuites`) chooses among the
        // TLS 1.2 suites only: TLS 1.3's are not configurable in Go.
        provider.cipher_suites.retain(|s| {
            s.version() == &rustls::version::TLS13 || ids.contains(&u16::from(s.suite()))
        });
    }
    if let Some(ids) = &settings.curve_preferences {
        provider.kx_groups = curves(ids);
    }
    let provider = Arc::new(provider);
    // Without a `client_tls` block, Go's own client defaults (TLS 1.2 to
    // 1.3); a block fills both (`config::tls::client`).
    let versions = versions(
        settings.min_version.unwrap_or(TlsVersion::Tls12),
        settings.max_version.unwrap_or(TlsVersion::Tls13),
    );
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| {
            Problem::new(
                "client_tls.cipher_suites",
                format!("no usable combination of versions, cipher suites and curves: {e}"),
            )
        })?;
    let mut config = if settings.allow_insecure_connections {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth()
    } else {
        let roots = roots(
            &settings.ca_certs,
            settings.disable_system_ca_pool,
            "client_tls.ca_certs",
        )?;
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    if !settings.client_certs.is_empty() {
        let keys = load_keys(&settings.client_certs)
            .map_err(|p| Problem::new("client_tls.client_certs", p.message))?;
        config.client_auth_cert_resolver = Arc::new(ClientKeys(keys));
    }
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `client_certs`: the first certificate whose key can sign with a scheme
/// the backend accepts.
#[derive(Debug)]
struct ClientKeys(Vec<Arc<CertifiedKey>>);

impl rustls::client::ResolvesClientCert for ClientKeys {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.0
            .iter()
            .find(|key| key.key.choose_scheme(schemes).is_some())
            .cloned()
    }

    fn has_certs(&self) -> bool {
        !self.0.is_empty()
    }
}

/// The bundled Mozilla roots (unless `no_system`) plus the CA files named.
fn roots(
    ca_certs: &[std::path::PathBuf],
    no_system: bool,
    at: &str,
) -> Result<RootCertStore, Problem> {
    let mut roots = RootCertStore::empty();
    if !no_system {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for path in ca_certs {
        for cert in read_certs(path).map_err(|p| Problem::new(at, p.message))? {
            roots.add(cert).map_err(|e| {
                Problem::new(
                    at,
                    format!("{}: not a usable CA certificate: {e}", path.display()),
                )
            })?;
        }
    }
    Ok(roots)
}

/// `allow_insecure_connections`: accepts any certificate (signatures on
/// the handshake are still checked, so the peer holds the key it shows).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The certificate's `notAfter`, in seconds since the Unix epoch: a walk
/// down `Certificate > TBSCertificate > Validity` (RFC 5280, DER).
fn not_after(cert: &[u8]) -> Option<i64> {
    let (tag, certificate, _) = tlv(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, mut tbs, _) = tlv(certificate)?;
    if tag != 0x30 {
        return None;
    }
    // [0] version (optional), serialNumber, signature, issuer, validity.
    let (tag, _, rest) = tlv(tbs)?;
    if tag == 0xA0 {
        tbs = rest;
    }
    for _ in 0..3 {
        tbs = tlv(tbs)?.2;
    }
    let (tag, validity, _) = tlv(tbs)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, rest) = tlv(validity)?;
    let (tag, time, _) = tlv(rest)?;
    der_time(tag, time)
}

/// One DER tag-length-value: (tag, contents, what follows).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..count] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[count..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn der_time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (year, rest) = match tag {
        0x17 if text.len() == 13 => {
            let yy = digits(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        0x18 if text.len() == 15 => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let (month, day) = (digits(&rest[0..2])?, digits(&rest[2..4])?);
    let (hour, minute, second) = (
        digits(&rest[4..6])?,
        digits(&rest[6..8])?,
        digits(&rest[8..10])?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_times() {
        assert_eq!(der_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(der_time(0x18, b"20000301000000Z"), Some(951_868_800));
        assert_eq!(der_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(der_time(0x17, b"7001010000Z"), None);
        assert_eq!(der_time(0x18, b"2000130100000Z"), None);
    }

    #[test]
    fn not_after_of_a_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_string()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 5, 17);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            not_after(cert.der()),
            Some(days_from_civil(2031, 5, 17) * 86_400)
        );
        assert_eq!(not_after(&cert.der()[..40]), None);
        assert_eq!(not_after(b""), None);
    }
}
