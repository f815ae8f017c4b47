//! Settings that decide who may call an endpoint or what reaches a backend,
//! which cuttle does not implement yet. Serving a file without them would
//! serve a protected endpoint to anyone, so they are refused (fail closed)
//! unless the operator asks to ignore them (`--ignore-unimplemented`).
//!
//! One list: a component that lands moves its namespace out of it (by
//! matching it in `extra.rs` before anything reaches `is_guarding`), as
//! `modifier/jmespath`, the content-replacer form of
//! `plugin/req-resp-modifier`, `validation/cel` and `validation/json-schema`
//! (endpoint level), `modifier/martian` (backend level), `security/cors`,
//! `security/http`, `security/bot-detector`, `auth/revoker` (root) and
//! `auth/client-credentials` and `backend/graphql` (backend) (and
//! KrakenD's older names for them) do; the rest of `auth/` (e.g. KrakenD Enterprise's
//! `auth/api-keys`), `modifier/`, `plugin/`, `validation/` (e.g.
//! `validation/response-json-schema`) and `security/`
//! (`security/policies`, ...) stays here.

use super::error::Problem;

/// Namespace families that authenticate, authorise, validate, rewrite or
/// reroute traffic. Others that cuttle does not know (`telemetry/*`,
/// `documentation/*`, ...) only observe or annotate and stay warnings.
const GUARDING_PREFIXES: [&str; 7] = [
    "auth/",
    "security/",
    "validation/",
    "modifier/",
    "plugin/",
    // Another protocol or client set-up for the backend (grpc, lambda,
    // amqp, http/client TLS ...); `backend/http` and `backend/graphql`
    // are implemented.
    "backend/",
    // Rate limits other than the implemented ones (router, proxy, their
    // Redis-backed forms): tiered, service, service/redis...
    "qos/ratelimit/",
];

pub fn is_guarding(namespace: &str) -> bool {
    GUARDING_PREFIXES
        .iter()
        .any(|prefix| namespace.starts_with(prefix))
}

/// The refusal for namespace `namespace` found at `at` (its JSON path).
pub fn namespace(at: String, namespace: &str) -> Problem {
    Problem::new(
        at,
        format!(
            "\"{namespace}\" is not implemented by cuttle yet, and it decides who may call or what reaches a backend"
        ),
    )
}

/// The error for a `{JWT.claim}` placeholder in `at` (a url_pattern) of
/// an endpoint without `auth/validator`: nothing would fill it.
pub fn claim(at: String, placeholder: &str) -> Problem {
    Problem::new(
        at,
        format!(
            "{{{placeholder}}} needs a validated JWT: add \"auth/validator\" to this endpoint's extra_config, or remove the placeholder"
        ),
    )
}
