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
//! calls read), or refuses it with a [`Refusal`], which the request path
//! (`proxy::exchange`) writes through the one finishing place
//! (`proxy::write_refusal`, then `proxy::finish`) like any response.
//!
//! Steps are compiled once per worker from the configuration; running one
//! allocates only for what it records (claims, propagated headers) or a
//! refusal's body.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::facts::{Refusal, RequestFacts};
use super::plan::{EndpointPlan, ResponseStep, Step};
use super::request::ClientRequest;
use crate::auth::signer::SignError;
use crate::auth::validator::{Denial, JwtCheck, header_value};
use crate::pipeline::Value;
use crate::qos;

/// What a step may look at.
pub struct StepInput<'a> {
    pub plan: &'a EndpointPlan,
    pub req: &'a ClientRequest<'a>,
    pub now: Instant,
}

impl Step {
    pub fn check(&self, input: &StepInput<'_>, facts: &mut RequestFacts) -> Result<(), Refusal> {
        match self {
            Step::Jwt(check) => jwt(check, input, facts),
            Step::RateLimit(limiter) => {
                let client = limiter
                    .strategy()
                    .and_then(|strategy| client_of(strategy, input, facts));
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
            // Awaited by `run_before`.
            Step::Lua(_) | Step::SharedRateLimit(_) => Ok(()),
        }
    }
}

/// The client key of a request for a rate limit's `strategy`.
fn client_of<'a>(
    strategy: &crate::config::ClientStrategy,
    input: &StepInput<'a>,
    facts: &'a RequestFacts,
) -> Option<qos::ClientId<'a>> {
    let req = input.req;
    qos::client_id(
        strategy,
        req.peer,
        // A header the validator sets (`propagate_claims`) is read from the
        // claim, never from the client: the validator runs first, as in
        // KrakenD, and the client's header of that name is not forwarded.
        |name| {
            if input.plan.replaces_header(name) {
                facts.propagated_header(name)
            } else {
                req.header(name)
            }
        },
        |name| req.param(input.plan, name),
    )
}

/// `qos/ratelimit/router/redis` on one request.
async fn shared_limit(
    limiter: &qos::SharedLimiter,
    input: &StepInput<'_>,
    facts: &RequestFacts,
) -> Result<(), Refusal> {
    let client = limiter
        .strategy()
        .and_then(|strategy| client_of(strategy, input, facts));
    limiter
        .check(client)
        .await
        .map_err(|limited| Refusal::empty(limited.status()))
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
/// A Lua step is the one that waits (its script gives the worker back
/// between slices: `crate::lua`), boxed so the request future of an
/// endpoint without one stays its size.
pub async fn run_before(input: &StepInput<'_>, facts: &mut RequestFacts) -> Result<(), Refusal> {
    for step in &input.plan.before {
        match step {
            Step::Lua(lua) => {
                Box::pin(lua.check(input.plan, input.req, facts, input.now)).await?;
            }
            Step::SharedRateLimit(limiter) => {
                Box::pin(shared_limit(limiter, input, facts)).await?;
            }
            step => step.check(input, facts)?,
        }
    }
    Ok(())
}
