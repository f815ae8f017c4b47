//! The compiled per-endpoint steps around the backend calls.
//!
//! An endpoint's plan holds an ordered list of [`Step`]s that run before
//! any backend is called (rate limit, then the components that decide who
//! may call: bot check, JWT, schema, CEL) and a list of [`ResponseStep`]s
//! that run on the merged document before it is encoded (CEL on the
//! response, signing). A step either lets the request go on, possibly
//! recording what it learnt in the request's [`RequestFacts`] (the verified
//! JWT claims, for example, which later steps and the backend calls read),
//! or refuses it with a [`Refusal`], which the connection driver writes
//! through the one finishing place (`proxy::finish`) like any response.
//!
//! Steps are compiled once per worker from the configuration; running one
//! allocates nothing unless it has to (a refusal's body).

use std::time::Instant;

use super::plan::EndpointPlan;
use super::request::ClientRequest;
use super::validate::{CelStep, SchemaStep};
use crate::pipeline::Value;
use crate::qos::{self, EndpointLimiter};

/// What one request's steps found out, for the steps after them and for
/// the backend calls. Empty until a step needs to pass something on.
#[derive(Default)]
pub struct RequestFacts {}

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
    /// `validation/cel`: the checks on the JWT claims and the request.
    Cel(CelStep),
    /// `validation/json-schema`: the request body.
    JsonSchema(SchemaStep),
}

impl Step {
    pub fn check(&self, input: &StepInput<'_>, facts: &mut RequestFacts) -> Result<(), Refusal> {
        match self {
            Step::RateLimit(limiter) => {
                let req = input.req;
                let client = limiter.strategy().and_then(|strategy| {
                    qos::client_id(
                        strategy,
                        req.peer,
                        |name| req.header(name),
                        |name| req.param(input.plan, name),
                    )
                });
                limiter
                    .check(input.now, client)
                    // KrakenD answers a rate-limited request with an empty body.
                    .map_err(|limited| Refusal::empty(limited.status()))
            }
            Step::Cel(cel) => cel.check(input.plan, input.req, facts),
            Step::JsonSchema(schema) => schema.check(input.req),
        }
    }
}

/// A step run on the merged document, before it is encoded. `complete`
/// says whether every backend contributed (`X-KrakenD-Completed`).
pub enum ResponseStep {
    /// `validation/cel`: the checks on the response (`resp_*`).
    Cel(CelStep),
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
        }
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
