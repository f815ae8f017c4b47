//! `validation/cel` and `validation/json-schema` in the proxy pipeline:
//! what each check sees of the request and the responses, and how a
//! failed check is answered.
//!
//! Endpoint level (krakend-cel's proxy wrapper, then krakend-jsonschema's):
//! CEL checks on the JWT claims (401, as KrakenD's JWT rejecter), then on
//! the request (500, "request aborted by evaluator #N"), then the body
//! against the schema (400, gojsonschema's error lines), all before any
//! backend is called; CEL checks on the merged response before it is
//! encoded (500 like the request side). Backend level: a failed request
//! check means the backend is not called, a failed response check that its
//! data is dropped; either way the backend counts as failed.

use std::sync::Arc;

use super::facts::{Refusal, RequestFacts};
use super::plan::{BackendPlan, CelStep, EndpointPlan, SchemaStep};
use super::request::{ClientRequest, USER_AGENT, forwarded_headers, forwarded_query, peer_text};
use crate::pipeline::{Value, percent_decode};
use crate::validation::BodySchema;
use crate::validation::cel::{self, Bindings, Checks, DataUse, Side, Var};

const TEXT: &[u8] = b"text/plain; charset=utf-8";

/// The verified JWT claims as CEL's `JWT`; without a validated token (no
/// `auth/validator` on the endpoint) an empty map, so checks on claims
/// fail closed.
fn jwt_claims(facts: &RequestFacts) -> ::cel::Value {
    match &facts.jwt {
        Some(claims) => cel::json(claims.value()),
        None => cel::empty_map(),
    }
}

impl CelStep {
    pub fn new(checks: Arc<Checks>, return_error_msg: bool) -> CelStep {
        CelStep {
            checks,
            return_error_msg,
        }
    }

    /// The checks naming only `JWT`, on the claims `auth/validator`
    /// verified: krakend-jose runs them as its rejecter, inside the
    /// validator and so before the rate limit.
    pub fn check_jwt(
        &self,
        plan: &EndpointPlan,
        req: &ClientRequest<'_>,
        facts: &RequestFacts,
    ) -> Result<(), Refusal> {
        // KrakenD's JWT rejecter answers like a bad token.
        self.checks
            .run(Side::Jwt, &RequestBindings::endpoint(plan, req, facts))
            .map_err(|_| Refusal::empty(401))
    }

    /// The checks on the request (`req_*`, `now`).
    pub fn check(
        &self,
        plan: &EndpointPlan,
        req: &ClientRequest<'_>,
        facts: &RequestFacts,
    ) -> Result<(), Refusal> {
        self.checks
            .run(Side::Request, &RequestBindings::endpoint(plan, req, facts))
            .map_err(|failed| error_refusal(500, failed.message(), self.return_error_msg))
    }

    /// The response side, on the merged document. At endpoint level lura's
    /// merged response has no metadata: status 0, no headers.
    pub fn check_response(
        &self,
        doc: &Value<'_>,
        facts: &RequestFacts,
        complete: bool,
    ) -> Result<(), Refusal> {
        let bindings = ResponseBindings {
            doc,
            complete,
            facts: Some(facts),
        };
        self.checks
            .run(Side::Response, &bindings)
            .map_err(|failed| error_refusal(500, failed.message(), self.return_error_msg))
    }

    pub fn checks_response(&self) -> bool {
        self.checks.has(Side::Response)
    }
}

impl SchemaStep {
    pub fn new(schema: Arc<BodySchema>, return_error_msg: bool) -> SchemaStep {
        SchemaStep {
            schema,
            return_error_msg,
        }
    }

    pub fn check(&self, req: &ClientRequest<'_>) -> Result<(), Refusal> {
        self.schema
            .check(req.body)
            .map_err(|text| error_refusal(400, text, self.return_error_msg))
    }
}

/// KrakenD's answer to a pipe error: the status, the text only with
/// `router.return_error_msg`, not completed.
fn error_refusal(status: u16, message: String, return_error_msg: bool) -> Refusal {
    Refusal {
        status,
        content_type: Some(TEXT),
        body: if return_error_msg {
            message.into_bytes()
        } else {
            Vec::new()
        },
        completed_header: true,
    }
}

/// A backend's request-side checks, given the path it would be called
/// with; `Err` is the error to report instead of calling it.
pub fn check_backend_request(
    plan: &EndpointPlan,
    backend: &BackendPlan,
    req: &ClientRequest<'_>,
    facts: &RequestFacts,
    target: &[u8],
) -> Result<(), String> {
    let Some(checks) = &backend.cel else {
        return Ok(());
    };
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let bindings = RequestBindings {
        plan,
        req,
        facts,
        backend_path: Some(path),
        backend: Some(backend),
    };
    checks
        .run(Side::Request, &bindings)
        .map_err(|failed| failed.message())
}

/// A backend's response-side checks on its (manipulated) document; `Err`
/// is the error to report instead of merging it.
pub fn check_backend_response(backend: &BackendPlan, doc: &Value<'_>) -> Result<(), String> {
    let Some(checks) = &backend.cel else {
        return Ok(());
    };
    // KrakenD leaves `JWT` unset at backend level.
    let bindings = ResponseBindings {
        doc,
        complete: true,
        facts: None,
    };
    checks
        .run(Side::Response, &bindings)
        .map_err(|failed| failed.message())
}

/// The request as lura's `proxy.Request` shows it to krakend-cel.
struct RequestBindings<'a> {
    plan: &'a EndpointPlan,
    req: &'a ClientRequest<'a>,
    facts: &'a RequestFacts,
    /// At backend level, the backend's path (lura builds it before the
    /// backend's checks run); at endpoint level the client's.
    backend_path: Option<&'a [u8]>,
    /// At backend level, the backend: its own `input_headers` and
    /// `input_query_strings` filter what its checks see (krakend-cel's
    /// backend layer sits inside lura's filters, krakend-ce
    /// `backend_factory.go`).
    backend: Option<&'a BackendPlan>,
}

impl<'a> RequestBindings<'a> {
    /// The bindings of an endpoint-level check (no backend).
    fn endpoint(
        plan: &'a EndpointPlan,
        req: &'a ClientRequest<'a>,
        facts: &'a RequestFacts,
    ) -> RequestBindings<'a> {
        RequestBindings {
            plan,
            req,
            facts,
            backend_path: None,
            backend: None,
        }
    }
}

impl Bindings for RequestBindings<'_> {
    fn value(&self, var: Var) -> ::cel::Value {
        let (plan, req) = (self.plan, self.req);
        match var {
            Var::ReqMethod => ::cel::Value::from(req.head.method.as_str()),
            Var::ReqPath => decoded(self.backend_path.unwrap_or(req.path())),
            Var::ReqParams => cel::strings(
                plan.param_names
                    .iter()
                    .filter_map(|name| {
                        let raw = req.param(plan, name)?;
                        Some((cel::param_key(name), text(raw)))
                    })
                    .collect(),
            ),
            Var::ReqHeaders => {
                let mut headers: Vec<(String, Vec<String>)> = forwarded_headers(plan, req)
                    .map(|(name, value)| {
                        (
                            cel::canonical_header(name),
                            vec![String::from_utf8_lossy(value).into_owned()],
                        )
                    })
                    .collect();
                // What lura's router adds to every proxied request.
                let user_agent = if headers.iter().any(|(n, _)| n == "User-Agent") {
                    "X-Forwarded-Via"
                } else {
                    "User-Agent"
                };
                headers.push((user_agent.to_owned(), vec![USER_AGENT.to_owned()]));
                headers.push(("X-Forwarded-For".to_owned(), vec![peer_text(req)]));
                if let Some(host) = req.head.host {
                    let host = String::from_utf8_lossy(host.of(req.buf)).into_owned();
                    headers.push(("X-Forwarded-Host".to_owned(), vec![host]));
                }
                if let Some(names) = self.backend.and_then(|b| b.input_headers.as_ref()) {
                    headers.retain(|(name, _)| names.iter().any(|n| n.eq_ignore_ascii_case(name)));
                }
                // Claims propagated as headers by `auth/validator` (sent to
                // every backend, whatever the lists say).
                for (name, value) in self.facts.propagated() {
                    headers.push((
                        cel::canonical_header(name),
                        vec![String::from_utf8_lossy(value).into_owned()],
                    ));
                }
                cel::string_lists(headers)
            }
            Var::ReqQuerystring => cel::string_lists(
                forwarded_query(plan, req)
                    .filter(|(key, _)| {
                        self.backend
                            .and_then(|b| b.input_query_strings.as_ref())
                            .is_none_or(|names| names.iter().any(|n| n.as_bytes() == *key))
                    })
                    .map(|(key, value)| (form_text(key), vec![form_text(value)]))
                    .collect(),
            ),
            Var::Jwt => jwt_claims(self.facts),
            Var::Now => cel::now_text(std::time::SystemTime::now()),
            // Not named by request-side checks (sorted at compile time).
            Var::RespCompleted
            | Var::RespMetadataStatus
            | Var::RespMetadataHeaders
            | Var::RespData => ::cel::Value::Null,
        }
    }
}

/// A response as krakend-cel sees it after the backend's manipulation (or
/// the endpoint's merge).
struct ResponseBindings<'a, 'v> {
    doc: &'a Value<'v>,
    complete: bool,
    /// The request's facts at endpoint level, for `JWT`.
    facts: Option<&'a RequestFacts>,
}

impl Bindings for ResponseBindings<'_, '_> {
    fn data(&self, fields: &DataUse) -> ::cel::Value {
        cel::document_fields(self.doc, fields)
    }

    fn value(&self, var: Var) -> ::cel::Value {
        match var {
            Var::RespData => cel::document(self.doc),
            Var::RespCompleted => ::cel::Value::Bool(self.complete),
            // Only no-op responses carry metadata in lura, and cuttle
            // refuses response checks on them.
            Var::RespMetadataStatus => ::cel::Value::Int(0),
            Var::RespMetadataHeaders => cel::empty_map(),
            Var::Now => cel::now_text(std::time::SystemTime::now()),
            Var::Jwt => match self.facts {
                Some(facts) => jwt_claims(facts),
                None => ::cel::Value::Null,
            },
            _ => ::cel::Value::Null,
        }
    }
}

/// A raw path or parameter, percent-decoded (Go's `URL.Path`).
fn decoded(raw: &[u8]) -> ::cel::Value {
    ::cel::Value::from(text(raw))
}

fn text(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    percent_decode(raw, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A query key or value as Go's `url.ParseQuery` decodes it (`+` is a space).
fn form_text(raw: &[u8]) -> String {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    text(&spaced)
}
