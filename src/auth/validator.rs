//! `auth/validator` on one worker: find the token, pick the validator,
//! check signature and claims (or take them from the verified-token
//! cache), then roles and scopes.
//!
//! Settings are compiled once ([`AuthSpec`], shared by the workers); each
//! worker builds its own [`JwtCheck`] with its own key views and cache.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use serde_json::Value;

use super::alg::Alg;
use super::cache::{TokenCache, Verified};
use super::claims::{Claims, Forbidden, Rules};
use super::jwk::KeyIdStrategy;
use super::jws::{self, Token};
use super::keys::{KeyView, Published};
use crate::logging::Quoted;

/// One validator object of `auth/validator`.
#[derive(Debug, Clone)]
pub struct ValidatorSpec {
    pub alg: Alg,
    pub keys: Arc<Published>,
    pub key_id: KeyIdStrategy,
    pub rules: Rules,
    /// `auth_header_name`, lower-cased (default `authorization`).
    pub auth_header: String,
    /// `cookie_key` (default `access_token`, as in KrakenD): read when the
    /// header is absent.
    pub cookie_key: String,
    /// `propagate_claims`: (claim, header name).
    pub propagate: Vec<(String, String)>,
    pub operation_debug: bool,
}

/// An endpoint's `auth/validator`: one object, or (cuttle) an array of
/// them told apart by `issuer`.
#[derive(Debug, Clone)]
pub struct AuthSpec {
    pub validators: Vec<ValidatorSpec>,
    /// Tokens each worker remembers for this endpoint (0: no cache).
    pub cache_size: usize,
    /// `auth/revoker` (root): the process's filter of revoked tokens.
    pub revoker: Option<Arc<super::revoker::Revoker>>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// 401, with the reason `operation_debug` logs.
    Unauthorized(String),
    /// 403.
    Forbidden(Forbidden),
}

/// One worker's validator for one endpoint.
#[derive(Debug)]
pub struct JwtCheck {
    spec: Arc<AuthSpec>,
    views: Vec<KeyView>,
    cache: RefCell<TokenCache>,
}

impl JwtCheck {
    pub fn new(spec: Arc<AuthSpec>) -> JwtCheck {
        let views = spec
            .validators
            .iter()
            .map(|v| KeyView::new(v.keys.clone()))
            .collect();
        let cache = RefCell::new(TokenCache::new(spec.cache_size));
        JwtCheck { spec, views, cache }
    }

    pub fn spec(&self) -> &AuthSpec {
        &self.spec
    }

    /// The header the token is read from (lower-case) and the cookie read
    /// when that header is absent (the first validator's settings).
    pub fn sources(&self) -> (&str, &str) {
        let first = &self.spec.validators[0];
        (&first.auth_header, &first.cookie_key)
    }

    /// The token in `header` (its value; a `Bearer ` prefix of any case is
    /// dropped) or else in the `Cookie` header's value (looked up only then).
    pub fn token<'r>(
        &self,
        header: Option<&'r [u8]>,
        cookies: impl FnOnce() -> Option<&'r [u8]>,
    ) -> Option<&'r str> {
        if let Some(value) = header {
            let value = value.trim_ascii();
            let value = match value.get(..7) {
                Some(prefix) if value.len() > 7 && prefix.eq_ignore_ascii_case(b"bearer ") => {
                    value[7..].trim_ascii_start()
                }
                _ => value,
            };
            if !value.is_empty() {
                return std::str::from_utf8(value).ok();
            }
        }
        cookie(cookies()?, self.sources().1)
    }

    /// Checks `token` at `now` (seconds since the epoch). On success the
    /// verified claims and the index of the validator that accepted them.
    pub fn check(&self, token: Option<&str>, now: f64) -> Result<(Rc<Claims>, usize), Denial> {
        let token = token.ok_or_else(|| Denial::Unauthorized("no token".to_owned()))?;
        let hit = self.cache.borrow().get(token).and_then(|hit| {
            (self.views[hit.validator].keys().1 == hit.generation).then(|| hit.clone())
        });
        let verified = match hit {
            Some(hit) if now < hit.valid_from || now > hit.valid_until => {
                self.cache.borrow_mut().remove(token);
                return Err(Denial::Unauthorized(
                    "token expired or not valid yet (exp/nbf/iat)".to_owned(),
                ));
            }
            Some(hit) => hit,
            None => self.verify(token, now)?,
        };
        // krakend-jose `gin/jose.go`: the rejecter (bloomfilter's
        // `RejectToken`) runs once the claims are good, before roles and
        // scopes; a cached token is looked up again, as a revocation may
        // have come since.
        if let Some(revoker) = &self.spec.revoker
            && revoker.rejects(&verified.claims)
        {
            return Err(Denial::Unauthorized(
                "token revoked (auth/revoker)".to_owned(),
            ));
        }
        verified.verdict.map_err(Denial::Forbidden)?;
        Ok((verified.claims, verified.validator))
    }

    /// The full check: parse, pick the validator, verify, check claims,
    /// then remember the outcome (roles and scopes verdict included).
    fn verify(&self, text: &str, now: f64) -> Result<Verified, Denial> {
        let unauthorized = |why: String| Denial::Unauthorized(why);
        let token = Token::parse(text).map_err(|e| unauthorized(e.to_string()))?;
        let index = self.pick(&token)?;
        let validator = &self.spec.validators[index];
        if token.alg != validator.alg {
            return Err(unauthorized(format!(
                "algorithm {} is not the configured {}",
                token.alg, validator.alg
            )));
        }
        let (keys, generation) = self.views[index].keys();
        let Some(keys) = keys.as_ref() else {
            return Err(unauthorized(format!(
                "no keys loaded yet from {}",
                validator.keys.origin
            )));
        };
        let id = token.key_id(validator.key_id);
        let Some(key) = keys.find(validator.key_id, &id, token.alg) else {
            validator.keys.nudge();
            return Err(unauthorized(format!(
                "no {} key with id {} in {}",
                token.alg,
                Quoted(id.as_bytes()),
                validator.keys.origin
            )));
        };
        if !jws::verify(
            token.alg,
            &key.material,
            token.signing_input,
            &token.signature,
        ) {
            return Err(unauthorized("bad signature".to_owned()));
        }
        let claims = Claims::new(token.claims);
        validator
            .rules
            .check(&claims, now)
            .map_err(|why| unauthorized(why.to_string()))?;
        // `check` passed, so the time claims are numbers.
        let (valid_from, valid_until) = validator
            .rules
            .window(&claims)
            .unwrap_or((f64::INFINITY, f64::NEG_INFINITY));
        let verified = Verified {
            validator: index,
            generation,
            verdict: validator.rules.authorize(&claims),
            claims: Rc::new(claims),
            valid_from,
            valid_until,
        };
        self.cache.borrow_mut().insert(text, verified.clone());
        Ok(verified)
    }

    /// One validator: it. Several: the one whose `issuer` is the token's `iss`.
    fn pick(&self, token: &Token<'_>) -> Result<usize, Denial> {
        if self.spec.validators.len() == 1 {
            return Ok(0);
        }
        let iss = token.claims.get("iss").and_then(Value::as_str);
        self.spec
            .validators
            .iter()
            .position(|v| v.rules.issuer.as_deref().is_some_and(|i| Some(i) == iss))
            .ok_or_else(|| match iss {
                Some(iss) => Denial::Unauthorized(format!(
                    "no validator for issuer {}",
                    Quoted(iss.as_bytes())
                )),
                None => Denial::Unauthorized("no validator for a token without iss".to_owned()),
            })
    }
}

/// The value of cookie `name` in a `Cookie` header (quotes removed, as Go's
/// `Request.Cookie` does).
fn cookie<'r>(header: &'r [u8], name: &str) -> Option<&'r str> {
    let header = std::str::from_utf8(header).ok()?;
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        if key != name {
            return None;
        }
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!value.is_empty()).then_some(value)
    })
}

/// A claim's text for a backend header, or why it cannot be one (a
/// control character would split or end the header).
pub fn header_value(claims: &Claims, claim: &str) -> Result<Option<String>, String> {
    let Some(text) = claims.text(claim) else {
        return Ok(None);
    };
    if text.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(format!(
            "claim \"{claim}\" holds a control character and cannot be sent in a header"
        ));
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies() {
        let h = b"a=1; access_token=\"tok\"; b=2";
        assert_eq!(cookie(h, "access_token"), Some("tok"));
        assert_eq!(cookie(h, "b"), Some("2"));
        assert_eq!(cookie(h, "c"), None);
        assert_eq!(cookie(b"x=", "x"), None);
    }
}
