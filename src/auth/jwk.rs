//! JSON Web Keys (RFC 7517) and key sets: parsing the JSON into key
//! material the verifier and the signer use, and finding a token's key.
//!
//! Keys of a type or curve cuttle cannot use are skipped (a provider's set
//! may hold encryption keys next to signing keys); a set in which not one
//! key is usable is an error, so a wrong file or URL is noticed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::alg::{Alg, Family};

/// What a key is made of. Private parts are kept for the signer.
#[derive(Clone, PartialEq, Eq)]
pub enum Material {
    /// `oct`: an HMAC secret.
    Oct(Vec<u8>),
    /// `RSA`: modulus and exponent (big-endian), and the private key as
    /// PKCS#1 DER when the JWK has `d`, `p`, `q`, `dp`, `dq`, `qi`.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        private_der: Option<Vec<u8>>,
    },
    /// `EC`: curve, the uncompressed point `04 || x || y`, and `d`.
    Ec {
        crv: &'static str,
        point: Vec<u8>,
        d: Option<Vec<u8>>,
    },
    /// `OKP` with `crv: Ed25519`: the public key `x`, and the seed `d`.
    Ed25519 { x: Vec<u8>, d: Option<Vec<u8>> },
}

impl std::fmt::Debug for Material {
    // Never print secrets, not even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Material::Oct(_) => f.write_str("oct"),
            Material::Rsa { .. } => f.write_str("RSA"),
            Material::Ec { crv, .. } => write!(f, "EC {crv}"),
            Material::Ed25519 { .. } => f.write_str("OKP Ed25519"),
        }
    }
}

impl Material {
    pub fn family(&self) -> Family {
        match self {
            Material::Oct(_) => Family::Hmac,
            Material::Rsa { .. } => Family::Rsa,
            Material::Ec { .. } => Family::Ec,
            Material::Ed25519 { .. } => Family::Ed25519,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    /// `x5t` (SHA-1 certificate thumbprint, base64url without padding).
    pub x5t: Option<String>,
    /// `x5t#S256`.
    pub x5t_s256: Option<String>,
    /// `alg`, when the set names it: the key is then used with that one only.
    pub alg: Option<String>,
    pub material: Material,
}

/// How a token names its key (`key_identify_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyIdStrategy {
    /// `kid` (the default): the token's `kid` equals the key's `kid`.
    #[default]
    Kid,
    /// `x5t`: the token's `x5t` (or its `kid` without one) equals the key's `x5t`.
    X5t,
    /// `x5t#S256`, likewise with SHA-256 thumbprints.
    X5tS256,
    /// `kid_x5t`: `kid` followed by `x5t`, on both sides.
    KidX5t,
}

impl KeyIdStrategy {
    pub fn parse(text: &str) -> Option<KeyIdStrategy> {
        match text {
            "" | "kid" => Some(KeyIdStrategy::Kid),
            "x5t" => Some(KeyIdStrategy::X5t),
            "x5t#S256" => Some(KeyIdStrategy::X5tS256),
            "kid_x5t" => Some(KeyIdStrategy::KidX5t),
            _ => None,
        }
    }

    /// The id a key is known by under this strategy (as KrakenD computes it).
    fn key_id(self, key: &Jwk) -> String {
        let kid = key.kid.as_deref().unwrap_or_default();
        match self {
            KeyIdStrategy::Kid => kid.to_owned(),
            KeyIdStrategy::X5t => key.x5t.clone().unwrap_or_default(),
            KeyIdStrategy::X5tS256 => key.x5t_s256.clone().unwrap_or_default(),
            KeyIdStrategy::KidX5t => format!("{kid}{}", key.x5t.as_deref().unwrap_or_default()),
        }
    }
}

/// A parsed key set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    pub keys: Vec<Jwk>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`) or a single JWK.
    pub fn parse(text: &[u8]) -> Result<KeySet, String> {
        let doc: Value =
            serde_json::from_slice(text).map_err(|e| format!("not a JSON document: {e}"))?;
        let entries: Vec<&Value> = match doc.get("keys") {
            Some(Value::Array(keys)) => keys.iter().collect(),
            Some(_) => return Err("\"keys\" is not an array".to_owned()),
            None if doc.get("kty").is_some() => vec![&doc],
            None => return Err("no \"keys\" array (not a JSON Web Key Set)".to_owned()),
        };
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            match parse_key(entry) {
                Ok(key) => keys.push(key),
                Err(why) => skipped.push(format!("keys[{index}]: {why}")),
            }
        }
        if keys.is_empty() {
            return Err(if skipped.is_empty() {
                "the key set is empty".to_owned()
            } else {
                format!("no usable key ({})", skipped.join("; "))
            });
        }
        Ok(KeySet { keys })
    }

    /// The key a token names (`token_id` as computed by the strategy) that
    /// can check `alg`: same family, same curve, and the key's own `alg`
    /// (when it has one) equal to `alg`.
    pub fn find(&self, strategy: KeyIdStrategy, token_id: &str, alg: Alg) -> Option<&Jwk> {
        self.keys
            .iter()
            .filter(|key| strategy.key_id(key) == token_id)
            .find(|key| key.fits(alg))
    }
}

impl Jwk {
    /// Whether this key may check or make signatures of `alg`.
    pub fn fits(&self, alg: Alg) -> bool {
        if self.material.family() != alg.family() {
            return false;
        }
        if let Material::Ec { crv, .. } = &self.material
            && Some(*crv) != alg.curve()
        {
            return false;
        }
        // A key published for another algorithm (e.g. `A128KW` next to an
        // HS256 secret) is not used for this one.
        self.alg.as_deref().is_none_or(|own| own == alg.name())
    }
}

fn parse_key(entry: &Value) -> Result<Jwk, String> {
    let text = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
    let bytes = |name: &str| -> Result<Vec<u8>, String> {
        let value = entry
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("no \"{name}\""))?;
        b64(value).ok_or_else(|| format!("\"{name}\" is not base64url"))
    };
    let optional = |name: &str| -> Result<Option<Vec<u8>>, String> {
        match entry.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => bytes(name).map(Some),
        }
    };
    let kty = text("kty").ok_or("no \"kty\"")?;
    let material = match kty.as_str() {
        "oct" => Material::Oct(bytes("k")?),
        "RSA" => {
            let n = strip_zeros(bytes("n")?);
            let e = strip_zeros(bytes("e")?);
            let private_der = match optional("d")? {
                None => None,
                Some(d) => Some(rsa_private_der(&n, &e, &d, &optional)?),
            };
            Material::Rsa { n, e, private_der }
        }
        "EC" => {
            let crv = match text("crv").as_deref() {
                Some("P-256") => "P-256",
                Some("P-384") => "P-384",
                Some("P-521") => "P-521",
                other => return Err(format!("unsupported curve {other:?}")),
            };
            let size = match crv {
                "P-256" => 32,
                "P-384" => 48,
                _ => 66,
            };
            let x = bytes("x")?;
            let y = bytes("y")?;
            if x.len() != size || y.len() != size {
                return Err(format!("\"x\"/\"y\" are not {size} bytes for {crv}"));
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let d = optional("d")?;
            Material::Ec { crv, point, d }
        }
        "OKP" => {
            if text("crv").as_deref() != Some("Ed25519") {
                return Err(format!("unsupported OKP curve {:?}", text("crv")));
            }
            let x = bytes("x")?;
            if x.len() != 32 {
                return Err("\"x\" is not 32 bytes".to_owned());
            }
            Material::Ed25519 {
                x,
                d: optional("d")?,
            }
        }
        // The JWK server's text, logged when no key is usable: quoted.
        other => {
            return Err(format!(
                "unsupported key type {}",
                crate::logging::Quoted(other.as_bytes())
            ));
        }
    };
    if text("use").is_some_and(|u| u != "sig") {
        return Err("not a signing key (\"use\" is not \"sig\")".to_owned());
    }
    Ok(Jwk {
        kid: text("kid"),
        x5t: text("x5t").map(|t| t.trim_end_matches('=').to_owned()),
        x5t_s256: text("x5t#S256").map(|t| t.trim_end_matches('=').to_owned()),
        alg: text("alg"),
        material,
    })
}

/// base64url, with or without padding (JWK values are written both ways).
pub fn b64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

fn strip_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros.min(bytes.len().saturating_sub(1)));
    bytes
}

/// Reads an optional base64url member of the JWK being parsed.
type OptionalMember<'a> = dyn Fn(&str) -> Result<Option<Vec<u8>>, String> + 'a;

/// PKCS#1 `RSAPrivateKey` DER from the JWK's CRT parameters (ring reads
/// RSA private keys only in DER).
fn rsa_private_der(
    n: &[u8],
    e: &[u8],
    d: &[u8],
    optional: &OptionalMember<'_>,
) -> Result<Vec<u8>, String> {
    let mut parts = vec![vec![0u8], n.to_vec(), e.to_vec(), d.to_vec()];
    for name in ["p", "q", "dp", "dq", "qi"] {
        parts.push(
            optional(name)?.ok_or_else(|| {
                format!("an RSA private key needs \"{name}\" (the CRT parameters)")
            })?,
        );
    }
    let mut body = Vec::new();
    for part in &parts {
        der_integer(part, &mut body);
    }
    let mut out = vec![0x30];
    der_length(body.len(), &mut out);
    out.extend_from_slice(&body);
    Ok(out)
}

fn der_integer(value: &[u8], out: &mut Vec<u8>) {
    let zeros = value.iter().take_while(|b| **b == 0).count();
    let value = &value[zeros.min(value.len().saturating_sub(1))..];
    let value = if value.is_empty() { &[0u8][..] } else { value };
    let pad = value[0] & 0x80 != 0;
    out.push(0x02);
    der_length(value.len() + usize::from(pad), out);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(value);
}

fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYMMETRIC: &str = r#"{"keys": [
        {"kty": "oct", "alg": "A128KW", "k": "GawgguFyGrWKav7AX4VKUg", "kid": "sim1"},
        {"kty": "oct", "k": "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow", "kid": "sim2", "alg": "HS256"},
        {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "crv": "secp256k1", "kid": "k", "x": "AA", "y": "AA"}
    ]}"#;

    #[test]
    fn parses_usable_keys_and_skips_others() {
        let set = KeySet::parse(SYMMETRIC.as_bytes()).unwrap();
        assert_eq!(set.keys.len(), 3);
        let key = set.find(KeyIdStrategy::Kid, "sim2", Alg::HS256).unwrap();
        assert_eq!(key.kid.as_deref(), Some("sim2"));
        // sim1 is an A128KW key: not for HS256.
        assert!(set.find(KeyIdStrategy::Kid, "sim1", Alg::HS256).is_none());
        // An HS token naming the RSA key finds nothing: families differ.
        assert!(set.find(KeyIdStrategy::Kid, "r", Alg::HS256).is_none());
        assert!(set.find(KeyIdStrategy::Kid, "r", Alg::RS256).is_some());
    }

    #[test]
    fn refuses_sets_without_usable_keys() {
        for text in [
            "",
            "[]",
            r#"{"keys": {}}"#,
            r#"{"keys": []}"#,
            r#"{"keys": [{"kty": "oct"}]}"#,
            r#"{"other": 1}"#,
        ] {
            assert!(KeySet::parse(text.as_bytes()).is_err(), "{text}");
        }
    }

    #[test]
    fn key_id_strategies() {
        let set = KeySet::parse(
            br#"{"keys": [{"kty": "oct", "k": "AAAA", "kid": "a", "x5t": "T1=", "x5t#S256": "S2"}]}"#,
        )
        .unwrap();
        assert!(set.find(KeyIdStrategy::Kid, "a", Alg::HS256).is_some());
        assert!(set.find(KeyIdStrategy::X5t, "T1", Alg::HS256).is_some());
        assert!(set.find(KeyIdStrategy::X5tS256, "S2", Alg::HS256).is_some());
        assert!(set.find(KeyIdStrategy::KidX5t, "aT1", Alg::HS256).is_some());
        assert!(set.find(KeyIdStrategy::X5t, "a", Alg::HS256).is_none());
    }

    #[test]
    fn der_integers_are_minimal_and_positive() {
        let mut out = Vec::new();
        der_integer(&[0, 0, 0x80], &mut out);
        assert_eq!(out, [2, 2, 0, 0x80]);
        out.clear();
        der_integer(&[0], &mut out);
        assert_eq!(out, [2, 1, 0]);
        out.clear();
        der_length(300, &mut out);
        assert_eq!(out, [0x82, 1, 44]);
    }
}
