//! `auth/signer` on one worker: the objects under `keys_to_sign` in the
//! merged response become signed tokens (compact JWS, or the JSON
//! serialisation with `full`), as krakend-jose's `SignFields` does. The
//! payload is the object as Go's `encoding/json` writes it (keys sorted),
//! so a token matches KrakenD's byte for byte with a deterministic
//! algorithm (HS*, RS*, EdDSA).

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::alg::Alg;
use super::jwk::KeyIdStrategy;
use super::keys::{KeyView, Published};
use super::sign::SigningKey;
use crate::pipeline::Value;

#[derive(Debug, Clone)]
pub struct SignerSpec {
    pub alg: Alg,
    /// The key to sign with (its `kid` in the set), written in the header.
    pub kid: String,
    /// The header's `typ` (default `JWT`).
    pub typ: String,
    pub keys: Arc<Published>,
    /// `full`: the JSON serialisation instead of the compact one.
    pub full: bool,
    pub keys_to_sign: Vec<String>,
}

/// Why nothing could be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// The key set has not arrived yet, or lacks a usable `kid`.
    NoKey(String),
    Failed(String),
}

/// One worker's signer for one endpoint.
#[derive(Debug)]
pub struct JwtSigner {
    spec: Arc<SignerSpec>,
    view: KeyView,
    /// The signing key made from the current set, with its generation.
    key: RefCell<Option<(u64, Rc<SigningKey>)>>,
    /// The protected header, made once.
    header: Vec<u8>,
}

impl JwtSigner {
    pub fn new(spec: Arc<SignerSpec>) -> JwtSigner {
        // Go's encoding/json writes the header map with sorted keys.
        let header = serde_json::to_vec(&serde_json::json!({
            "alg": spec.alg.name(),
            "kid": spec.kid,
            "typ": spec.typ,
        }))
        .unwrap_or_default();
        JwtSigner {
            view: KeyView::new(spec.keys.clone()),
            spec,
            key: RefCell::new(None),
            header,
        }
    }

    fn key(&self) -> Result<Rc<SigningKey>, SignError> {
        let (set, generation) = self.view.keys();
        if let Some((made, key)) = &*self.key.borrow()
            && *made == generation
        {
            return Ok(key.clone());
        }
        let set = set.as_ref().ok_or_else(|| {
            SignError::NoKey(format!("no keys loaded yet from {}", self.spec.keys.origin))
        })?;
        let jwk = set
            .find(KeyIdStrategy::Kid, &self.spec.kid, self.spec.alg)
            .ok_or_else(|| {
                SignError::NoKey(format!(
                    "no {} key with kid \"{}\" in {}",
                    self.spec.alg, self.spec.kid, self.spec.keys.origin
                ))
            })?;
        let key = Rc::new(SigningKey::new(self.spec.alg, &jwk.material).map_err(SignError::NoKey)?);
        *self.key.borrow_mut() = Some((generation, key.clone()));
        Ok(key)
    }

    /// Replaces each listed object of `doc` by its token. Keys that are
    /// absent or not objects are left as they are (as KrakenD does).
    pub fn apply(&self, doc: &mut Value<'_>) -> Result<(), SignError> {
        let Value::Object(object) = doc else {
            return Ok(());
        };
        let mut payload = Vec::new();
        for name in &self.spec.keys_to_sign {
            let Some(value @ Value::Object(_)) = object.get_mut(name.as_str()) else {
                continue;
            };
            payload.clear();
            crate::pipeline::write_json(value, &mut payload);
            let key = self.key()?;
            let token = key
                .compact(&self.header, &payload)
                .map_err(SignError::Failed)?;
            let token = if self.spec.full { full(&token) } else { token };
            *value = Value::String(Cow::Owned(token));
        }
        Ok(())
    }
}

/// go-jose's `FullSerialize` of a compact token: `{"payload", "protected",
/// "signature"}`.
fn full(compact: &str) -> String {
    let mut parts = compact.split('.');
    let (protected, payload, signature) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    format!(r#"{{"payload":"{payload}","protected":"{protected}","signature":"{signature}"}}"#)
}
