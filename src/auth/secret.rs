//! Encrypted key files: krakend-jose `secrets/cypher.go` `Cypher.Decrypt`
//! with gocloud's `base64key://` keeper (`secrets/localsecrets`).
//!
//! 1. The keeper opens `cypher_key`: a 24-byte nonce, then a NaCl
//!    secretbox (XSalsa20-Poly1305) under the URL's 32-byte key. What comes
//!    out is the passphrase.
//! 2. The file is AES-GCM (12-byte nonce first) under the 32 ASCII bytes
//!    of the hex MD5 of the passphrase (`createHash`), so AES-256.

use md5::{Digest, Md5};
use xsalsa20poly1305::aead::{Aead, KeyInit};
use xsalsa20poly1305::{Key, Nonce, XSalsa20Poly1305};

use crate::config::FileSecret;

const SECRETBOX_NONCE: usize = 24;
const GCM_NONCE: usize = 12;

/// The plaintext of the encrypted file `data`.
pub fn decrypt(data: &[u8], secret: &FileSecret) -> Result<Vec<u8>, String> {
    let passphrase = open_cypher_key(&secret.cypher_key, &secret.keeper_key)?;
    let key = hex(&Md5::digest(&passphrase));
    if data.len() < GCM_NONCE {
        return Err("the file is shorter than an AES-GCM nonce".to_owned());
    }
    let (nonce, sealed) = data.split_at(GCM_NONCE);
    let unbound = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key.as_bytes())
        .map_err(|_| "bad AES key".to_owned())?;
    let key = ring::aead::LessSafeKey::new(unbound);
    let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| "bad AES-GCM nonce".to_owned())?;
    let mut buf = sealed.to_vec();
    let plain = key
        .open_in_place(nonce, ring::aead::Aad::empty(), &mut buf)
        .map_err(|_| {
            "AES-GCM authentication failed: the file was not encrypted with this cypher_key"
                .to_owned()
        })?;
    Ok(plain.to_vec())
}

/// gocloud localsecrets `keeper.Decrypt`.
fn open_cypher_key(cypher_key: &[u8], keeper_key: &[u8; 32]) -> Result<Vec<u8>, String> {
    if cypher_key.len() < SECRETBOX_NONCE {
        return Err(format!(
            "cypher_key is {} bytes, less than a secretbox nonce ({SECRETBOX_NONCE}); write the passphrase encrypted by the base64key:// keeper, in base64",
            cypher_key.len()
        ));
    }
    let (nonce, sealed) = cypher_key.split_at(SECRETBOX_NONCE);
    XSalsa20Poly1305::new(Key::from_slice(keeper_key))
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map_err(|_| {
            "the secret_url key does not open cypher_key (wrong key, or not encrypted with it)"
                .to_owned()
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encrypts as krakend-jose's `Cypher.Encrypt` and the keeper's `Encrypt`
/// do, with the given nonces (tests make encrypted files with it).
pub fn encrypt_for_tests(
    plain: &[u8],
    passphrase: &[u8],
    keeper_key: &[u8; 32],
    nonces: ([u8; 24], [u8; 12]),
) -> (Vec<u8>, Vec<u8>) {
    let sealed_key = XSalsa20Poly1305::new(Key::from_slice(keeper_key))
        .encrypt(Nonce::from_slice(&nonces.0), passphrase)
        .unwrap_or_default();
    let cypher_key = [nonces.0.as_slice(), &sealed_key].concat();
    let key = hex(&Md5::digest(passphrase));
    let unbound = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, key.as_bytes())
        .unwrap_or_else(|_| unreachable!("32 bytes"));
    let key = ring::aead::LessSafeKey::new(unbound);
    let mut buf = plain.to_vec();
    key.seal_in_place_append_tag(
        ring::aead::Nonce::assume_unique_for_key(nonces.1),
        ring::aead::Aad::empty(),
        &mut buf,
    )
    .unwrap_or_else(|_| unreachable!("small input"));
    ([nonces.1.as_slice(), &buf].concat(), cypher_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_key() {
        let keeper = [7u8; 32];
        let (file, cypher_key) = encrypt_for_tests(
            b"{\"keys\": []}",
            b"passphrase",
            &keeper,
            ([1; 24], [2; 12]),
        );
        let secret = FileSecret {
            keeper_key: keeper,
            cypher_key,
            at: "x".into(),
        };
        assert_eq!(decrypt(&file, &secret).unwrap(), b"{\"keys\": []}");
        let wrong = FileSecret {
            keeper_key: [8u8; 32],
            ..secret.clone()
        };
        assert!(
            decrypt(&file, &wrong)
                .unwrap_err()
                .contains("does not open")
        );
        let mut tampered = file.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(decrypt(&tampered, &secret).unwrap_err().contains("AES-GCM"));
    }
}
