//! The one step between a loaded [`Config`] (plain, checked settings) and
//! the workers: everything that needs the modules above `config` (TLS
//! files, CEL programs, JSON schemas, JWT validators and signers with
//! their JWK sets) is built here, once per
//! configuration, and handed to the workers, which clone what they need
//! (`Arc`s) instead of building it again. `check`, `check -t`,
//! `run` and a reload (SIGHUP) all go through [`Prepared::new`], so they
//! cannot disagree about a file; its errors name the file and the JSON path
//! of the setting, as `config`'s do.

use std::path::Path;
use std::sync::Arc;

use crate::auth::keys::UrlSource;
use crate::auth::registry::JwkRegistry;
use crate::auth::signer::SignerSpec;
use crate::auth::validator::AuthSpec;
use crate::config::{CelSettings, Config, ConfigError, Problem};
use crate::validation::BodySchema;
use crate::validation::cel::{Checks, Side};

/// What a configuration needs built beyond its settings.
#[derive(Clone)]
pub struct Prepared {
    /// The edge's TLS (`tls`): certificates read and checked, and the
    /// session ticket key every worker shares.
    pub server_tls: Option<Arc<crate::tls::ServerTls>>,
    /// The client side for `https://` backends and JWK servers
    /// (`client_tls`), built once. Each worker takes a copy with its own
    /// session cache ([`Prepared::worker_client_tls`]).
    pub client_tls: Arc<rustls::ClientConfig>,
    /// The same without certificate checks, for `jwk_url`s with
    /// `disable_jwk_security`; only when one is `https://`.
    pub insecure_jwk_tls: Option<Arc<rustls::ClientConfig>>,
    /// One per `Config::endpoints`, in the same order.
    pub endpoints: Vec<PreparedEndpoint>,
    /// Every `jwk_url` of the file, once each: what the JWK fetcher
    /// thread keeps fresh (`crate::auth::keys::start_fetcher`).
    pub jwk_sources: Vec<UrlSource>,
    /// `auth/revoker`: the process's filter (`auth::revoker::shared`, so a
    /// reload keeps it), which `run` rotates and opens to revocations.
    pub revoker: Option<Arc<crate::auth::revoker::Revoker>>,
}

/// What one endpoint's plan takes ready-made (`proxy::compile_endpoint`).
#[derive(Clone, Default)]
pub struct PreparedEndpoint {
    /// `validation/cel` of the endpoint.
    pub cel: Option<Arc<Checks>>,
    /// `validation/json-schema`.
    pub json_schema: Option<Arc<BodySchema>>,
    /// `validation/cel` of each backend, in the endpoint's order.
    pub backend_cel: Vec<Option<Arc<Checks>>>,
    /// `auth/validator`: the JWT checks run before any backend is called.
    pub auth: Option<Arc<AuthSpec>>,
    /// `auth/signer`: response objects replaced by signed tokens.
    pub signer: Option<Arc<SignerSpec>>,
    /// `auth/client-credentials` of each backend, in the endpoint's order.
    pub backend_credentials: Vec<Option<Arc<crate::auth::client_credentials::TokenSource>>>,
}

impl Prepared {
    /// Builds what `config` needs; `file` names the configuration in errors.
    pub fn new(config: &Config, file: &Path) -> Result<Prepared, ConfigError> {
        let failed = |problem| ConfigError::from_problem(file, problem);
        let server_tls = match &config.tls {
            Some(settings) => Some(Arc::new(
                crate::tls::ServerTls::new(settings).map_err(failed)?,
            )),
            None => None,
        };
        let client_tls = crate::tls::client_config(&config.client_tls).map_err(failed)?;
        let mut jwk = JwkRegistry::default();
        let revoker = config.revoker.as_ref().map(crate::auth::revoker::shared);
        let endpoints = config
            .endpoints
            .iter()
            .map(|endpoint| {
                Ok(PreparedEndpoint {
                    cel: endpoint.cel.as_ref().map(cel).transpose()?,
                    json_schema: match &endpoint.json_schema {
                        Some(settings) => Some(Arc::new(
                            BodySchema::compile(&settings.schema)
                                .map_err(|m| Problem::new(&settings.at, m))?,
                        )),
                        None => None,
                    },
                    backend_cel: endpoint
                        .backends
                        .iter()
                        .map(|b| b.cel.as_ref().map(cel).transpose())
                        .collect::<Result<_, _>>()?,
                    backend_credentials: endpoint
                        .backends
                        .iter()
                        .map(|b| {
                            b.client_credentials
                                .as_ref()
                                .map(|s| crate::auth::client_credentials::shared(s, &client_tls))
                        })
                        .collect(),
                    auth: match &endpoint.auth {
                        Some(settings) => Some(Arc::new(AuthSpec::from_settings(
                            settings,
                            &mut jwk,
                            revoker.clone(),
                        )?)),
                        None => None,
                    },
                    signer: match &endpoint.signer {
                        Some(settings) => {
                            Some(Arc::new(SignerSpec::from_settings(settings, &mut jwk)?))
                        }
                        None => None,
                    },
                })
            })
            .collect::<Result<_, Problem>>()
            .map_err(failed)?;
        let jwk_sources = jwk.into_sources();
        let insecure_jwk_tls = if jwk_sources
            .iter()
            .any(|s| s.insecure && s.url.starts_with("https://"))
        {
            let mut settings = config.client_tls.clone();
            settings.allow_insecure_connections = true;
            Some(crate::tls::client_config(&settings).map_err(failed)?)
        } else {
            None
        };
        Ok(Prepared {
            server_tls,
            client_tls,
            insecure_jwk_tls,
            endpoints,
            jwk_sources,
            revoker,
        })
    }

    /// One worker's client configuration: the prepared one with a session
    /// cache of its own. rustls's default cache is one mutex-guarded map;
    /// shared by every worker, each backend handshake on any core would
    /// take the same lock, so each worker keeps its own (as before the
    /// prepare step) while the files are read once.
    pub fn worker_client_tls(&self) -> Arc<rustls::ClientConfig> {
        let mut own = (*self.client_tls).clone();
        own.resumption = rustls::client::Resumption::default();
        Arc::new(own)
    }
}

/// One `validation/cel`, compiled; a response check where no response is
/// decoded is refused with the reason `config` wrote.
fn cel(settings: &CelSettings) -> Result<Arc<Checks>, Problem> {
    let checks = Checks::compile(settings.expressions.iter().map(String::as_str)).map_err(
        |(index, message)| Problem::new(format!("{}[{index}].check_expr", settings.at), message),
    )?;
    if checks.has(Side::Response)
        && let Some(refused) = &settings.response_refused
    {
        return Err(refused.clone());
    }
    Ok(Arc::new(checks))
}
