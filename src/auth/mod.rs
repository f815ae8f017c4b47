//! JSON Web Tokens: KrakenD's `auth/validator` and `auth/signer`.
//!
//! - [`jws`]: taking a compact token apart and checking a signature with
//!   ring (HS, RS, PS, ES256/384, EdDSA) or RustCrypto's `p521` (ES512).
//! - [`jwk`]: JSON Web Key sets into key material; finding a token's key.
//! - [`claims`]: the verified claims ([`Claims`]) and the checks made on
//!   them (issuer, audience, times with leeway; roles and scopes).
//! - [`keys`]: key sources (`jwk_local_path`, `jwk_url`) published to the
//!   workers without locks; the one JWK fetcher thread.
//! - [`cache`]: each worker's bounded cache of verified tokens.
//! - [`validator`]: the request check itself.
//! - [`sign`], [`signer`]: signing response fields (`auth/signer`).
//! - [`revoker`]: `auth/revoker`, the process's filter of revoked tokens
//!   and its HTTP endpoint ([`revoke_http`]).
//! - [`secret`]: encrypted key files (`secret_url`, `cypher_key`).
//! - [`client_credentials`]: `auth/client-credentials`, the OAuth2 token
//!   a backend is called with.
//!
//! **What other steps get.** A request that passed the validator carries
//! its claims in `RequestFacts::jwt: Option<Rc<Claims>>`.
//! [`Claims::value`] is the whole payload as a `serde_json::Value` (always
//! an object), [`Claims::get`]`("a.b")` one claim by name or dotted path
//! (the whole name first: `http://example.com/custom` is one claim), and
//! [`Claims::text`] the claim as KrakenD renders it into a URL or header.

pub mod alg;
pub mod cache;
pub mod claims;
pub mod client_credentials;
pub mod fetch;
pub mod jwk;
pub mod jws;
pub mod keys;
pub mod registry;
pub mod revoke_http;
pub mod revoke_redis;
pub mod revoker;
pub mod secret;
pub mod sign;
pub mod signer;
pub mod validator;

pub use alg::Alg;
pub use claims::Claims;
