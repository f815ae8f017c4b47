//! The compiled specs of `auth/validator` and `auth/signer`, built from
//! `config`'s checked settings by the prepare step (`crate::prepare`), with
//! every key source of the file collected once ([`JwkRegistry`]): a
//! `jwk_local_path` is read and parsed here (a bad file fails `check` and
//! `run`, named by its JSON path), a `jwk_url` becomes one [`UrlSource`]
//! for the fetcher thread however many endpoints name it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::alg::Alg;
use super::cache::DEFAULT_CAPACITY;
use super::claims::{DEFAULT_LEEWAY, Rules};
use super::jwk::{KeyIdStrategy, KeySet};
use super::keys::{Published, UrlSource};
use super::signer::SignerSpec;
use super::validator::{AuthSpec, ValidatorSpec};
use crate::config::{
    AuthSettings, FileSecret, KeySource, Problem, SignerSettings, ValidatorSettings,
};

/// Every key source of one configuration.
#[derive(Debug, Default)]
pub struct JwkRegistry {
    urls: Vec<UrlSource>,
    files: HashMap<String, Arc<Published>>,
}

impl JwkRegistry {
    /// Every `jwk_url`, once each: what the JWK fetcher thread keeps fresh
    /// (`super::keys::start_fetcher`).
    pub fn into_sources(self) -> Vec<UrlSource> {
        self.urls
    }

    fn url(&mut self, url: &str, refresh: Duration, insecure: bool) -> Arc<Published> {
        if let Some(source) = self
            .urls
            .iter_mut()
            .find(|s| s.url == url && s.insecure == insecure)
        {
            source.refresh = source.refresh.min(refresh);
            return source.published.clone();
        }
        let published = Arc::new(Published::empty(url));
        self.urls.push(UrlSource {
            url: url.to_owned(),
            refresh,
            insecure,
            published: published.clone(),
        });
        published
    }

    fn file(
        &mut self,
        path: &str,
        at: &str,
        secret: Option<&FileSecret>,
    ) -> Result<Arc<Published>, Problem> {
        if let Some(found) = self.files.get(path) {
            return Ok(found.clone());
        }
        let mut text = std::fs::read(path).map_err(|e| {
            Problem::new(
                at,
                format!("cannot read the key file \"{path}\": {e}; write the path of a JWK set (JSON) file"),
            )
        })?;
        if let Some(secret) = secret {
            text = super::secret::decrypt(&text, secret)
                .map_err(|e| Problem::new(&secret.at, format!("cannot decrypt \"{path}\": {e}")))?;
        }
        let set = KeySet::parse(&text)
            .map_err(|e| Problem::new(at, format!("\"{path}\" is not a usable JWK set: {e}")))?;
        let published = Arc::new(Published::with(format!("file {path}"), set));
        self.files.insert(path.to_owned(), published.clone());
        Ok(published)
    }

    /// Where the keys of `source` are published.
    pub fn source(&mut self, source: &KeySource) -> Result<Arc<Published>, Problem> {
        Ok(match source {
            KeySource::Nothing => Arc::new(Published::empty(
                "no key source (neither jwk_url nor jwk_local_path)",
            )),
            KeySource::Url {
                url,
                refresh,
                insecure,
            } => self.url(url, *refresh, *insecure),
            KeySource::File { path, at, secret } => self.file(path, at, secret.as_ref())?,
        })
    }
}

/// `config` only lets through the names [`Alg`] knows.
fn alg(name: &str, at: &str) -> Result<Alg, Problem> {
    Alg::parse(name).ok_or_else(|| {
        Problem::new(
            format!("{at}.alg"),
            format!("\"{name}\" is not a supported algorithm"),
        )
    })
}

impl AuthSpec {
    pub fn from_settings(
        settings: &AuthSettings,
        registry: &mut JwkRegistry,
        revoker: Option<Arc<super::revoker::Revoker>>,
    ) -> Result<AuthSpec, Problem> {
        Ok(AuthSpec {
            revoker,
            validators: settings
                .validators
                .iter()
                .map(|v| ValidatorSpec::from_settings(v, registry))
                .collect::<Result<_, _>>()?,
            cache_size: settings.cache_size.unwrap_or(DEFAULT_CAPACITY),
        })
    }
}

impl ValidatorSpec {
    pub fn from_settings(
        v: &ValidatorSettings,
        registry: &mut JwkRegistry,
    ) -> Result<ValidatorSpec, Problem> {
        Ok(ValidatorSpec {
            alg: alg(v.alg, &v.at)?,
            keys: registry.source(&v.keys)?,
            key_id: KeyIdStrategy::parse(v.key_id).ok_or_else(|| {
                Problem::new(format!("{}.key_identify_strategy", v.at), "unknown")
            })?,
            rules: Rules {
                issuer: v.issuer.clone(),
                audience: v.audience.clone(),
                leeway: v.leeway.map_or(DEFAULT_LEEWAY, |d| d.max(DEFAULT_LEEWAY)),
                roles_key: v.roles_key.clone(),
                roles_nested: v.roles_nested,
                roles: v.roles.clone(),
                scopes_key: v.scopes_key.clone(),
                scopes: v.scopes.clone(),
                scopes_all: v.scopes_all,
            },
            auth_header: v.auth_header.clone(),
            cookie_key: v.cookie_key.clone(),
            propagate: v.propagate.clone(),
            operation_debug: v.operation_debug,
        })
    }
}

impl SignerSpec {
    pub fn from_settings(
        s: &SignerSettings,
        registry: &mut JwkRegistry,
    ) -> Result<SignerSpec, Problem> {
        Ok(SignerSpec {
            alg: alg(s.alg, &s.at)?,
            kid: s.kid.clone(),
            typ: s.typ.clone(),
            keys: registry.source(&s.keys)?,
            full: s.full,
            keys_to_sign: s.keys_to_sign.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_every_algorithm_and_strategy_auth_knows() {
        let names: Vec<&str> = super::super::alg::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(names, crate::config::JWS_ALGORITHMS);
        for strategy in crate::config::KEY_ID_STRATEGIES {
            assert!(KeyIdStrategy::parse(strategy).is_some(), "{strategy}");
        }
    }
}
