//! Making compact JWS signatures (for `auth/signer`, and for the tests and
//! benches that need tokens).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::{hmac, signature};

use super::alg::Alg;
use super::jwk::Material;

/// A key ready to sign with one algorithm.
pub struct SigningKey {
    alg: Alg,
    kind: Kind,
}

enum Kind {
    Hmac(hmac::Key),
    Rsa(signature::RsaKeyPair),
    Ecdsa(signature::EcdsaKeyPair),
    P521(Box<p521::ecdsa::SigningKey>),
    Ed25519(signature::Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.alg)
    }
}

impl SigningKey {
    /// A signing key from JWK material; the key must fit `alg` and hold
    /// its private part.
    pub fn new(alg: Alg, material: &Material) -> Result<SigningKey, String> {
        if material.family() != alg.family() {
            return Err(format!("a {material:?} key cannot sign {alg}"));
        }
        let rng = SystemRandom::new();
        let kind = match material {
            Material::Oct(secret) => Kind::Hmac(hmac::Key::new(
                match alg {
                    Alg::HS256 => hmac::HMAC_SHA256,
                    Alg::HS384 => hmac::HMAC_SHA384,
                    _ => hmac::HMAC_SHA512,
                },
                secret,
            )),
            Material::Rsa { private_der, .. } => {
                let der = private_der
                    .as_deref()
                    .ok_or("the RSA key has no private part")?;
                Kind::Rsa(
                    signature::RsaKeyPair::from_der(der)
                        .map_err(|e| format!("unusable RSA private key: {e}"))?,
                )
            }
            Material::Ec { crv, point, d } => {
                let d = d
                    .as_deref()
                    .ok_or("the EC key has no private part (\"d\")")?;
                if Some(*crv) != alg.curve() {
                    return Err(format!("a {crv} key cannot sign {alg}"));
                }
                match alg {
                    Alg::ES512 => Kind::P521(Box::new(
                        p521::ecdsa::SigningKey::from_slice(d)
                            .map_err(|e| format!("unusable P-521 private key: {e}"))?,
                    )),
                    _ => {
                        let which = if alg == Alg::ES256 {
                            &signature::ECDSA_P256_SHA256_FIXED_SIGNING
                        } else {
                            &signature::ECDSA_P384_SHA384_FIXED_SIGNING
                        };
                        Kind::Ecdsa(
                            signature::EcdsaKeyPair::from_private_key_and_public_key(
                                which, d, point, &rng,
                            )
                            .map_err(|e| format!("unusable EC private key: {e}"))?,
                        )
                    }
                }
            }
            Material::Ed25519 { x, d } => {
                let d = d
                    .as_deref()
                    .ok_or("the Ed25519 key has no private part (\"d\")")?;
                Kind::Ed25519(
                    signature::Ed25519KeyPair::from_seed_and_public_key(d, x)
                        .map_err(|e| format!("unusable Ed25519 private key: {e}"))?,
                )
            }
        };
        Ok(SigningKey { alg, kind })
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The signature of `input`.
    pub fn sign(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        match &self.kind {
            Kind::Hmac(key) => Ok(hmac::sign(key, input).as_ref().to_vec()),
            Kind::Rsa(pair) => {
                let padding: &dyn signature::RsaEncoding = match self.alg {
                    Alg::RS256 => &signature::RSA_PKCS1_SHA256,
                    Alg::RS384 => &signature::RSA_PKCS1_SHA384,
                    Alg::RS512 => &signature::RSA_PKCS1_SHA512,
                    Alg::PS256 => &signature::RSA_PSS_SHA256,
                    Alg::PS384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &rng, input, &mut out)
                    .map_err(|_| "RSA signing failed".to_owned())?;
                Ok(out)
            }
            Kind::Ecdsa(pair) => pair
                .sign(&rng, input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_owned()),
            Kind::P521(key) => {
                use p521::ecdsa::signature::Signer;
                let sig: p521::ecdsa::Signature = key
                    .try_sign(input)
                    .map_err(|_| "ECDSA P-521 signing failed".to_owned())?;
                Ok(sig.to_bytes().to_vec())
            }
            Kind::Ed25519(pair) => Ok(pair.sign(input).as_ref().to_vec()),
        }
    }

    /// A compact JWS of `payload` with the protected header `header`
    /// (JSON text, written as given).
    pub fn compact(&self, header: &[u8], payload: &[u8]) -> Result<String, String> {
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}
