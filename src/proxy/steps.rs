//! The compiled per-endpoint steps around the backend calls.
//!
//! An endpoint's plan holds an ordered list of [`Step`]s that run before
//! any backend is called, in KrakenD's order (ARCHITECTURE.md, "The order
//! of handlers"; `plan::compile_steps` builds the list): bot check, JWT
//! (which also writes the `propagate_claims` headers), the CEL checks on
//! its claims, rate limit, CEL on the request, schema. The first refusal
//! ends the request ([`run_before`]). The plan also holds a list of
//! [`ResponseStep`]s that `proxy::respond` runs on the merged document
//! after flatmap and the modifiers and before it is encoded: CEL on the
//! response, then signing. A step either lets the request go on, possibly
//! recording what it learnt in the request's [`RequestFacts`] (the verified
//! JWT claims and propagated headers, which later steps and the backend
//! calls read), or refuses it with a [`Refusal`], which is written through
//! the one finishing place (`proxy::write_refusal`, then `proxy::finish`)
//! like any response.
//!
//! Steps are compiled once per worker from the configuration; running one
//! allocates only for what it records (claims, propagated headers) or a
//! refusal's body.

use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::plan::EndpointPlan;
use super::request::ClientRequest;
use super::validate::{CelStep, SchemaStep};
use crate::auth::Claims;
use crate::auth::signer::{JwtSigner, SignError};
use crate::auth::validator::{Denial, JwtCheck, header_value};
use crate::pipeline::Value;
use crate::qos::{self, EndpointLimiter};
use crate::security::BotDetector;

/// What one request's steps found out, for the steps after them and for
/// the backend calls.
#[derive(Default)]
pub struct RequestFacts {
    /// The claims of the token `auth/validator` accepted (see `crate::auth`
    /// for how to read them: `Claims::value`, `Claims::get("a.b")`).
    pub jwt: Option<Rc<Claims>>,
    /// Header lines (`Name: value\r\n`) every backend call of this request
    /// carries besides the forwarded ones (`propagate_claims`); the client's
    /// headers of the same names are not forwarded (`EndpointPlan::replaced_headers`).
    pub backend_headers: Vec<u8>,
}

impl RequestFacts {
    /// The header lines in `backend_headers`, as (name, trimmed value).
    pub fn propagated(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.backend_headers
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let colon = line.iter().position(|&b| b == b':')?;
                Some((&line[..colon], line[colon + 1..].trim_ascii()))
            })
    }

    /// What a step set for header `name` (any case), if anything.
    pub fn propagated_header(&self, name: &str) -> Option<&[u8]> {
        self.propagated()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value)
    }
}

/// A request that a step will not let through.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// `None`: no Content-Type header (KrakenD's empty 401/403/429).
    pub content_type: Option<&'static [u8]>,
    pub body: Vec<u8>,
    /// Whether to add `X-KrakenD-Completed: false`.
    pub completed_header: bool,
}

impl Refusal {
    /// A refusal with no body and no headers of its own (KrakenD answers
    /// rate limits, missing tokens and bots this way).
    pub fn empty(status: u16) -> Refusal {
        Refusal {
            status,
            content_type: None,
            body: Vec::new(),
            completed_header: false,
        }
    }
}

/// What a step may look at.
pub struct StepInput<'a> {
    pub plan: &'a EndpointPlan,
    pub req: &'a ClientRequest<'a>,
    pub now: Instant,
}

/// A check run before the backends are called.
pub enum Step {
    /// `qos/ratelimit/router`: this worker's share of the endpoint's rate.
    RateLimit(EndpointLimiter),
    /// `security/bot-detector` at endpoint level: 403, no body, for a bot.
    BotDetector(BotDetector),
    /// `auth/validator`: 401 without a valid token, 403 without the roles
    /// or scopes; the claims go into `RequestFacts::jwt`.
    Jwt(JwtCheck),
    /// `validation/cel`: the checks naming only `JWT` (krakend-jose's
    /// rejecter, right after the validator: 401).
    CelJwt(CelStep),
    /// `validation/cel`: the checks on the request.
    Cel(CelStep),
    /// `validation/json-schema`: the request body.
    JsonSchema(SchemaStep),
}

impl Step {
    pub fn check(&self, input: &StepInput<'_>, facts: &mut RequestFacts) -> Result<(), Refusal> {
        match self {
            Step::Jwt(check) => jwt(check, input, facts),
            Step::RateLimit(limiter) => {
                let req = input.req;
                let facts = &*facts;
                let client = limiter.strategy().and_then(|strategy| {
                    qos::client_id(
                        strategy,
                        req.peer,
                        // A header the validator sets (`propagate_claims`)
                        // is read from the claim, never from the client: the
                        // validator runs first, as in KrakenD, and the
                        // client's header of that name is not forwarded.
                        |name| {
                            if input.plan.replaces_header(name) {
                                facts.propagated_header(name)
                            } else {
                                req.header(name)
                            }
                        },
                        |name| req.param(input.plan, name),
                    )
                });
                limiter
                    .check(input.now, client)
                    // KrakenD answers a rate-limited request with an empty body.
                    .map_err(|limited| Refusal::empty(limited.status()))
            }
            Step::BotDetector(detector) => {
                if detector.is_bot(input.req.header("user-agent")) {
                    tracing::debug!(peer = %input.req.peer, "bot rejected");
                    return Err(Refusal::empty(403));
                }
                Ok(())
            }
            Step::CelJwt(cel) => cel.check_jwt(input.plan, input.req, facts),
            Step::Cel(cel) => cel.check(input.plan, input.req, facts),
            Step::JsonSchema(schema) => schema.check(input.req),
        }
    }
}

/// `auth/validator` on one request.
fn jwt(check: &JwtCheck, input: &StepInput<'_>, facts: &mut RequestFacts) -> Result<(), Refusal> {
    let (header, _) = check.sources();
    let token = check.token(input.req.header(header), || input.req.header("cookie"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let debug = |why: &dyn std::fmt::Display| {
        if check.spec().validators.iter().any(|v| v.operation_debug) {
            // ERROR, as krakend-jose's `logger.Error` (gin/jose.go). `why`
            // holds token values only through `logging::Quoted`.
            tracing::error!(endpoint = %input.plan.path, "JWT refused: {why}");
        }
    };
    match check.check(token, now) {
        Ok((claims, index)) => {
            let validator = &check.spec().validators[index];
            for (claim, name) in &validator.propagate {
                match header_value(&claims, claim) {
                    Ok(Some(value)) => crate::http::write_header(
                        &mut facts.backend_headers,
                        name.as_bytes(),
                        value.as_bytes(),
                    ),
                    Ok(None) => {}
                    Err(why) => {
                        debug(&why);
                        return Err(Refusal::empty(401));
                    }
                }
            }
            facts.jwt = Some(claims);
            Ok(())
        }
        Err(Denial::Unauthorized(why)) => {
            debug(&why);
            Err(Refusal::empty(401))
        }
        Err(Denial::Forbidden(which)) => {
            debug(&format_args!("the token lacks the required {which:?}"));
            Err(Refusal::empty(403))
        }
    }
}

/// A step run on the merged document, before it is encoded. `complete`
/// says whether every backend contributed (`X-KrakenD-Completed`).
pub enum ResponseStep {
    /// `validation/cel`: the checks on the response (`resp_*`).
    Cel(CelStep),
    /// `auth/signer`.
    Sign(JwtSigner),
}

impl ResponseStep {
    pub fn apply(
        &self,
        doc: &mut Value<'_>,
        facts: &RequestFacts,
        complete: bool,
    ) -> Result<(), Refusal> {
        match self {
            ResponseStep::Cel(cel) => cel.check_response(doc, facts, complete),
            ResponseStep::Sign(signer) => signer.apply(doc).map_err(|e| {
                // KrakenD answers a signing failure with an empty 400; a key
                // set that has not arrived yet is the gateway's fault: 503.
                match e {
                    SignError::NoKey(why) => {
                        tracing::warn!("auth/signer: {why}");
                        Refusal::empty(503)
                    }
                    SignError::Failed(why) => {
                        tracing::warn!("auth/signer: {why}");
                        Refusal::empty(400)
                    }
                }
            }),
        }
    }

    /// Whether the response is written as krakend-jose's signer writes it:
    /// without `X-KrakenD-Completed` and `Cache-Control`.
    pub fn replaces_headers(&self) -> bool {
        matches!(self, ResponseStep::Sign(_))
    }
}

/// Runs the endpoint's steps in order; the first refusal ends the request.
pub fn run_before(input: &StepInput<'_>, facts: &mut RequestFacts) -> Result<(), Refusal> {
    input
        .plan
        .before
        .iter()
        .try_for_each(|step| step.check(input, facts))
}
