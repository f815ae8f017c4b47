//! Compact JWS (RFC 7515): splitting a token into its header, payload and
//! signature, and checking the signature with a key of the right family.
//!
//! Every check that does not need a key happens in [`Token::parse`]:
//! three base64url parts, a JSON object header whose `alg` is one cuttle
//! knows (`none` is not), no `crit` extension, a JSON object payload.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::{hmac, signature};
use serde_json::{Map, Value};

use super::alg::Alg;
use super::jwk::{KeyIdStrategy, Material};
use crate::logging::Quoted;

/// A token taken apart, not yet trusted.
#[derive(Debug)]
pub struct Token<'a> {
    pub alg: Alg,
    pub header: Map<String, Value>,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'a [u8],
    pub claims: Map<String, Value>,
    pub signature: Vec<u8>,
}

/// Why a token was refused (for `operation_debug` logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    NotThreeParts,
    NotBase64(&'static str),
    NotJsonObject(&'static str),
    UnknownAlg(String),
    Critical,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::NotThreeParts => {
                f.write_str("not a compact JWS (three dot-separated parts)")
            }
            Malformed::NotBase64(part) => write!(f, "the {part} is not base64url"),
            Malformed::NotJsonObject(part) => write!(f, "the {part} is not a JSON object"),
            // The token's own text: quoted for the log (operation_debug).
            Malformed::UnknownAlg(alg) => {
                write!(f, "algorithm {} is not accepted", Quoted(alg.as_bytes()))
            }
            Malformed::Critical => f.write_str("the header has \"crit\" extensions"),
        }
    }
}

impl<'a> Token<'a> {
    pub fn parse(text: &'a str) -> Result<Token<'a>, Malformed> {
        let mut parts = text.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Malformed::NotThreeParts);
        };
        let header = object(header, "header")?;
        let alg = match header.get("alg") {
            Some(Value::String(name)) => {
                Alg::parse(name).ok_or_else(|| Malformed::UnknownAlg(name.clone()))?
            }
            Some(other) => return Err(Malformed::UnknownAlg(other.to_string())),
            None => return Err(Malformed::UnknownAlg(String::new())),
        };
        if header.contains_key("crit") {
            return Err(Malformed::Critical);
        }
        let claims = object(payload, "payload")?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Malformed::NotBase64("signature"))?;
        let signing_input = &text.as_bytes()[..header_len(text, payload)];
        Ok(Token {
            alg,
            header,
            signing_input,
            claims,
            signature,
        })
    }

    /// The id the token names its key by, under `strategy`.
    pub fn key_id(&self, strategy: KeyIdStrategy) -> String {
        let field = |name: &str| self.header.get(name).and_then(Value::as_str);
        let kid = field("kid").unwrap_or_default();
        match strategy {
            KeyIdStrategy::Kid => kid.to_owned(),
            KeyIdStrategy::X5t => field("x5t").unwrap_or(kid).to_owned(),
            KeyIdStrategy::X5tS256 => field("x5t#S256").unwrap_or(kid).to_owned(),
            KeyIdStrategy::KidX5t => format!("{kid}{}", field("x5t").unwrap_or(kid)),
        }
    }
}

fn header_len(text: &str, payload: &str) -> usize {
    // header '.' payload
    text.find('.').unwrap_or(0) + 1 + payload.len()
}

fn object(part: &str, name: &'static str) -> Result<Map<String, Value>, Malformed> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Malformed::NotBase64(name))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Malformed::NotJsonObject(name)),
    }
}

/// Whether `signature` is `alg`'s signature of `input` under `key`. A key
/// of another family (an RSA key for an HS token, a P-256 key for ES384...)
/// never verifies anything.
pub fn verify(alg: Alg, key: &Material, input: &[u8], sig: &[u8]) -> bool {
    match (alg, key) {
        (Alg::HS256 | Alg::HS384 | Alg::HS512, Material::Oct(secret)) => {
            let which = match alg {
                Alg::HS256 => hmac::HMAC_SHA256,
                Alg::HS384 => hmac::HMAC_SHA384,
                _ => hmac::HMAC_SHA512,
            };
            // Constant time (ring compares the tags with `constant_time`).
            hmac::verify(&hmac::Key::new(which, secret), input, sig).is_ok()
        }
        (_, Material::Rsa { n, e, .. }) => {
            let params: &signature::RsaParameters = match alg {
                Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
                _ => return false,
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(params, input, sig)
                .is_ok()
        }
        (Alg::ES256 | Alg::ES384, Material::Ec { crv, point, .. }) if Some(*crv) == alg.curve() => {
            let which = if alg == Alg::ES256 {
                &signature::ECDSA_P256_SHA256_FIXED
            } else {
                &signature::ECDSA_P384_SHA384_FIXED
            };
            signature::UnparsedPublicKey::new(which, point)
                .verify(input, sig)
                .is_ok()
        }
        (
            Alg::ES512,
            Material::Ec {
                crv: "P-521",
                point,
                ..
            },
        ) => es512_verify(point, input, sig),
        (Alg::EdDSA, Material::Ed25519 { x, .. }) => {
            signature::UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(input, sig)
                .is_ok()
        }
        _ => false,
    }
}

/// ES512 (P-521 with SHA-512): ring has no P-521, RustCrypto's `p521` does.
fn es512_verify(point: &[u8], input: &[u8], sig: &[u8]) -> bool {
    use p521::ecdsa::signature::Verifier;
    let Ok(key) = p521::ecdsa::VerifyingKey::from_sec1_bytes(point) else {
        return false;
    };
    let Ok(sig) = p521::ecdsa::Signature::from_slice(sig) else {
        return false;
    };
    key.verify(input, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn malformed_tokens() {
        let payload = part(r#"{"sub":"x"}"#);
        let cases = [
            ("a.b".to_owned(), Malformed::NotThreeParts),
            ("a.b.c.d".to_owned(), Malformed::NotThreeParts),
            (format!("!!.{payload}.AA"), Malformed::NotBase64("header")),
            (
                format!("{}.{payload}.AA", part("[]")),
                Malformed::NotJsonObject("header"),
            ),
            (
                format!("{}.{payload}.", part(r#"{"alg":"none"}"#)),
                Malformed::UnknownAlg("none".into()),
            ),
            (
                format!("{}.{payload}.AA", part(r#"{"alg":"HS256","crit":["x"]}"#)),
                Malformed::Critical,
            ),
            (
                format!("{}.{}.AA", part(r#"{"alg":"HS256"}"#), part("1")),
                Malformed::NotJsonObject("payload"),
            ),
        ];
        for (token, want) in cases {
            assert_eq!(Token::parse(&token).unwrap_err(), want, "{token}");
        }
    }

    #[test]
    fn hmac_round_trip_and_family_mismatch() {
        let key = Material::Oct(b"secret".to_vec());
        let signer = super::super::sign::SigningKey::new(Alg::HS256, &key).unwrap();
        let token = signer
            .compact(br#"{"alg":"HS256","kid":"k"}"#, br#"{"sub":"x"}"#)
            .unwrap();
        let parsed = Token::parse(&token).unwrap();
        assert_eq!(parsed.key_id(KeyIdStrategy::Kid), "k");
        assert!(verify(
            parsed.alg,
            &key,
            parsed.signing_input,
            &parsed.signature
        ));
        assert!(!verify(
            Alg::HS384,
            &key,
            parsed.signing_input,
            &parsed.signature
        ));
        let rsa = Material::Rsa {
            n: b"secret".to_vec(),
            e: vec![1, 0, 1],
            private_der: None,
        };
        assert!(!verify(
            Alg::HS256,
            &rsa,
            parsed.signing_input,
            &parsed.signature
        ));
    }
}
