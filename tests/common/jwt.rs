//! Keys and tokens for the JWT tests and benches, generated when they run:
//! HMAC secrets and EC/Ed25519 keys with ring (P-521 with `p521`), RSA
//! keys with the `openssl` command (ring cannot generate RSA keys).
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cuttle::auth::Alg;
use cuttle::auth::jwk::Material;
use cuttle::auth::sign::SigningKey;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, KeyPair};
use serde_json::{Value, json};

pub struct TestKey {
    pub alg: Alg,
    pub kid: String,
    /// The public JWK (what a JWKS publishes).
    pub public: Value,
    /// The JWK with its private members (for `auth/signer`).
    pub private: Value,
    pub signer: SigningKey,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn random(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    SystemRandom::new().fill(&mut bytes).unwrap();
    bytes
}

/// The bytes after the first `marker` in `der`.
fn after<'a>(der: &'a [u8], marker: &[u8], len: usize) -> &'a [u8] {
    let at = der
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("marker in PKCS#8")
        + marker.len();
    &der[at..at + len]
}

pub fn generate(alg: Alg, kid: &str) -> TestKey {
    let rng = SystemRandom::new();
    let (public, private, material) = match alg {
        Alg::HS256 | Alg::HS384 | Alg::HS512 => {
            let k = random(64);
            let jwk = json!({"kty": "oct", "k": b64(&k)});
            (jwk.clone(), jwk, Material::Oct(k))
        }
        Alg::ES256 | Alg::ES384 => {
            let (which, size, crv) = if alg == Alg::ES256 {
                (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, 32, "P-256")
            } else {
                (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, 48, "P-384")
            };
            let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(which, &rng).unwrap();
            let pair = signature::EcdsaKeyPair::from_pkcs8(which, pkcs8.as_ref(), &rng).unwrap();
            let point = pair.public_key().as_ref().to_vec();
            // ECPrivateKey: INTEGER 1, OCTET STRING d.
            let d = after(pkcs8.as_ref(), &[2, 1, 1, 4, size as u8], size).to_vec();
            ec_jwk(crv, point, d)
        }
        Alg::ES512 => {
            let key = loop {
                let mut d = random(66);
                d[0] &= 1;
                if let Ok(key) = p521::ecdsa::SigningKey::from_slice(&d) {
                    break key;
                }
            };
            let point = key.verifying_key().to_sec1_point(false).as_bytes().to_vec();
            ec_jwk("P-521", point, key.to_bytes().to_vec())
        }
        Alg::EdDSA => {
            let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            let pair = signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
            let x = pair.public_key().as_ref().to_vec();
            let d = after(pkcs8.as_ref(), &[4, 34, 4, 32], 32).to_vec();
            let public = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&x)});
            let mut private = public.clone();
            private["d"] = json!(b64(&d));
            (public, private, Material::Ed25519 { x, d: Some(d) })
        }
        _ => rsa(),
    };
    let with_id = |mut jwk: Value| {
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(alg.name());
        jwk
    };
    TestKey {
        alg,
        kid: kid.to_owned(),
        public: with_id(public),
        private: with_id(private),
        signer: SigningKey::new(alg, &material).unwrap(),
    }
}

fn ec_jwk(crv: &'static str, point: Vec<u8>, d: Vec<u8>) -> (Value, Value, Material) {
    let size = (point.len() - 1) / 2;
    let public = json!({"kty": "EC", "crv": crv, "x": b64(&point[1..1 + size]), "y": b64(&point[1 + size..])});
    let mut private = public.clone();
    private["d"] = json!(b64(&d));
    (
        public,
        private,
        Material::Ec {
            crv,
            point,
            d: Some(d),
        },
    )
}

/// A 2048-bit RSA key from `openssl genrsa` (PKCS#1), with its JWK members.
fn rsa() -> (Value, Value, Material) {
    let out = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "2048"])
        .stderr(std::process::Stdio::null())
        .output()
        .expect("openssl genrsa");
    let pem = String::from_utf8(out.stdout).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    // RSAPrivateKey: SEQUENCE { version, n, e, d, p, q, dp, dq, qi }.
    let ints = der_integers(&der);
    let names = ["n", "e", "d", "p", "q", "dp", "dq", "qi"];
    let mut public = json!({"kty": "RSA", "n": b64(&ints[1]), "e": b64(&ints[2])});
    let mut private = public.clone();
    for (name, value) in names.iter().zip(&ints[1..]).skip(2) {
        private[*name] = json!(b64(value));
    }
    public["use"] = json!("sig");
    let material = Material::Rsa {
        n: ints[1].clone(),
        e: ints[2].clone(),
        private_der: Some(der),
    };
    (public, private, material)
}

fn der_integers(der: &[u8]) -> Vec<Vec<u8>> {
    fn len(der: &[u8], at: &mut usize) -> usize {
        let first = der[*at] as usize;
        *at += 1;
        if first < 0x80 {
            return first;
        }
        let mut n = 0;
        for _ in 0..first & 0x7f {
            n = n << 8 | der[*at] as usize;
            *at += 1;
        }
        n
    }
    let mut at = 1;
    len(der, &mut at);
    let mut ints = Vec::new();
    while at < der.len() {
        assert_eq!(der[at], 2, "INTEGER");
        at += 1;
        let n = len(der, &mut at);
        let value = &der[at..at + n];
        let value = value.strip_prefix(&[0]).unwrap_or(value);
        ints.push(value.to_vec());
        at += n;
    }
    ints
}

/// A compact token of `claims` signed with `key` (header: alg, kid, typ).
pub fn token(key: &TestKey, claims: &Value) -> String {
    let header = json!({"alg": key.alg.name(), "kid": key.kid, "typ": "JWT"});
    key.signer
        .compact(header.to_string().as_bytes(), claims.to_string().as_bytes())
        .unwrap()
}

/// A token with any header (e.g. `alg: none`) and a given signature.
pub fn forged(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// A JWK set of the public keys.
pub fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.public.clone()).collect::<Vec<_>>()}).to_string()
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
