//! What a backend receives: its URL (the url_pattern with the request's
//! parameters, plus the query strings the endpoint lets through) and the
//! headers the endpoint lets through.

use std::net::IpAddr;

use super::facts::RequestFacts;
use super::plan::{BackendPlan, EndpointPlan};
use crate::config::{Forward, OutputEncoding};
use crate::http::{RequestHead, is_hop_by_hop, write_header, write_ip};
use crate::pipeline::{
    Refused, Source, Value, lookup, percent_decode, remainder_fits, sequential_text,
};
use crate::router::Params;
use crate::upstream::BackendError;

/// The client's request as the proxy sees it: a parsed head over the
/// connection's read buffer, the route's parameters, the body.
pub struct ClientRequest<'a> {
    pub buf: &'a [u8],
    pub head: &'a RequestHead,
    /// The path the router matched, which `params` index: the request's
    /// own, or its cleaned form under `router.remove_extra_slash`.
    pub routed: &'a [u8],
    pub params: &'a Params,
    pub body: &'a [u8],
    pub peer: IpAddr,
}

impl<'a> ClientRequest<'a> {
    pub fn path(&self) -> &'a [u8] {
        self.head.path.of(self.buf)
    }

    pub fn query(&self) -> Option<&'a [u8]> {
        self.head.query.map(|q| q.of(self.buf))
    }

    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.head.header(self.buf, name)
    }

    /// The body a backend called with `method` is sent. lura hands the
    /// client's body to every backend whatever its method (`proxy/http.go`
    /// `NewHTTPProxyDetailed`; a copy each, `CloneRequest`, when several
    /// backends are not GET). cuttle does the same except for GET and HEAD
    /// backends, which get none: many servers refuse a GET with a body,
    /// and one that ignores its length would read the client's body as
    /// the next request on the pooled connection (a smuggled request).
    pub fn body_for(&self, method: crate::http::Method) -> &'a [u8] {
        body_for(method, self.body)
    }

    /// The raw (still percent-encoded) value of the endpoint's placeholder `name`.
    pub fn param(&self, plan: &EndpointPlan, name: &str) -> Option<&'a [u8]> {
        let at = plan.param_names.iter().position(|n| &**n == name)?;
        let &(start, end) = self.params.get(at)?;
        self.routed.get(start as usize..end as usize)
    }
}

/// `User-Agent` sent when the client's own is not forwarded (and
/// `X-Forwarded-Via` when it is). KrakenD's own value, so that backends that
/// key on it keep working when cuttle replaces KrakenD.
pub const USER_AGENT: &str = "KrakenD Version 2.13.8";

/// The KrakenD version cuttle answers as (in `X-Krakend` and [`USER_AGENT`]).
pub const KRAKEND_VERSION: &str = "2.13.8";

/// Headers that never reach a backend from the client: framing and
/// connection management, and those the gateway sets itself.
pub(super) fn gateway_owned(name: &[u8]) -> bool {
    const OWNED: [&str; 5] = [
        "host",
        "content-length",
        "expect",
        "x-forwarded-for",
        "x-forwarded-host",
    ];
    is_hop_by_hop(name)
        || OWNED
            .iter()
            .any(|o| o.as_bytes().eq_ignore_ascii_case(name))
}

/// Serialises the header lines every backend call of this request carries
/// (those of a backend with its own `input_headers` are written by
/// [`headers_for`]).
pub fn backend_headers(
    plan: &EndpointPlan,
    req: &ClientRequest<'_>,
    facts: &RequestFacts,
    out: &mut Vec<u8>,
) {
    write_headers(plan, req, facts, out, |_| true);
}

/// The header block a backend call sends: [`headers_for`], then the
/// backend's `auth/client-credentials` token in place of the client's
/// Authorization. `own` holds what either step had to write anew.
pub async fn call_headers<'h>(
    plan: &EndpointPlan,
    backend: &BackendPlan,
    req: &ClientRequest<'_>,
    facts: &RequestFacts,
    shared: &'h [u8],
    own: &'h mut [Vec<u8>; 2],
) -> Result<&'h [u8], crate::upstream::BackendError> {
    let [selected, authorized] = own;
    let headers = headers_for(plan, backend, req, facts, shared, selected);
    crate::auth::client_credentials::authorize(
        backend.client_credentials.as_ref(),
        headers,
        authorized,
    )
    .await
}

/// The header lines `backend` gets: the request's `shared` block, or for a
/// backend with its own `input_headers` its own block, written into `own`.
/// lura filters per backend what the endpoint's request carries, the
/// headers its router adds included (`proxy/headers_filter.go`, stacked in
/// `proxy/factory.go` `newStack`; the router's in `router/gin/endpoint.go`
/// `NewRequest`): X-Forwarded-For/Host and KrakenD's User-Agent go only
/// where listed, and without a User-Agent Go's client sends its own.
pub fn headers_for<'h>(
    plan: &EndpointPlan,
    backend: &BackendPlan,
    req: &ClientRequest<'_>,
    facts: &RequestFacts,
    shared: &'h [u8],
    own: &'h mut Vec<u8>,
) -> &'h [u8] {
    let Some(names) = &backend.input_headers else {
        return shared;
    };
    own.clear();
    own.reserve(shared.len());
    write_headers(plan, req, facts, own, |name| {
        names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
    });
    own
}

/// `User-Agent` of Go's HTTP client, what a backend whose own
/// `input_headers` leave KrakenD's out receives from KrakenD.
const GO_USER_AGENT: &[u8] = b"Go-http-client/1.1";

/// The header lines a backend gets, of those the endpoint passes and the
/// gateway adds only the ones `keeps` (the shared block keeps all).
fn write_headers(
    plan: &EndpointPlan,
    req: &ClientRequest<'_>,
    facts: &RequestFacts,
    out: &mut Vec<u8>,
    keeps: impl Fn(&[u8]) -> bool,
) {
    // The gateway reads the bodies it manipulates, so it chooses their coding
    // (gzip, which upstream::fetch inflates, as Go's client does, unless
    // `disable_compression`: Go's `DisableCompression`); no-op endpoints
    // pass the client's Accept-Encoding through with the body.
    if plan.ask_gzip {
        write_header(out, b"Accept-Encoding", b"gzip");
    }
    let mut client_user_agent = false;
    let mut user_agent = false;
    for (name, value) in forwarded_headers(plan, req) {
        let is_user_agent = name.eq_ignore_ascii_case(b"user-agent");
        client_user_agent |= is_user_agent;
        if keeps(name) {
            user_agent |= is_user_agent;
            write_header(out, name, value);
        }
    }
    if client_user_agent {
        if keeps(b"x-forwarded-via") {
            write_header(out, b"X-Forwarded-Via", USER_AGENT.as_bytes());
        }
    } else if keeps(b"user-agent") {
        write_header(out, b"User-Agent", USER_AGENT.as_bytes());
        user_agent = true;
    }
    if !user_agent {
        write_header(out, b"User-Agent", GO_USER_AGENT);
    }
    if keeps(b"x-forwarded-for") {
        out.extend_from_slice(b"X-Forwarded-For: ");
        write_ip(out, req.peer);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(host) = req.head.host.filter(|_| keeps(b"x-forwarded-host")) {
        write_header(out, b"X-Forwarded-Host", host.of(req.buf));
    }
    out.extend_from_slice(&facts.backend_headers);
}

/// `body`, or nothing for a GET or HEAD backend ([`ClientRequest::body_for`]
/// says why); shadow calls, which outlive the request, use it too.
pub fn body_for(method: crate::http::Method, body: &[u8]) -> &[u8] {
    use crate::http::Method;
    if matches!(method, Method::Get | Method::Head) {
        &[]
    } else {
        body
    }
}

/// The client's header fields (name, value) that reach the backends: the
/// endpoint's `input_headers` and Content-Type, less those the gateway
/// owns (and Accept-Encoding when the gateway reads the body).
pub fn forwarded_headers<'r>(
    plan: &'r EndpointPlan,
    req: &'r ClientRequest<'r>,
) -> impl Iterator<Item = (&'r [u8], &'r [u8])> + 'r {
    let decodes_body = plan.output != OutputEncoding::NoOp;
    let listed = req.head.connection_listed(req.buf);
    req.head.headers.iter().filter_map(move |h| {
        let name = h.name.of(req.buf);
        if gateway_owned(name) || listed.contains(name) || plan.replaces_header(name) {
            return None;
        }
        let wanted = name.eq_ignore_ascii_case(b"content-type")
            || match &plan.input_headers {
                Forward::All => true,
                Forward::None => false,
                Forward::Only(names) => names
                    .iter()
                    .any(|n| n.as_bytes().eq_ignore_ascii_case(name)),
            };
        if !wanted || decodes_body && name.eq_ignore_ascii_case(b"accept-encoding") {
            return None;
        }
        Some((name, h.value.of(req.buf)))
    })
}

/// The peer's address as `X-Forwarded-For` carries it.
pub fn peer_text(req: &ClientRequest<'_>) -> String {
    req.peer.to_string()
}

/// The query pairs (raw key, raw value) the endpoint lets through to the
/// backends (`input_query_strings`).
pub fn forwarded_query<'r>(
    plan: &'r EndpointPlan,
    req: &'r ClientRequest<'r>,
) -> impl Iterator<Item = (&'r [u8], &'r [u8])> + 'r {
    req.query()
        .unwrap_or_default()
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut parts = pair.splitn(2, |&b| b == b'=');
            let key = parts.next().unwrap_or_default();
            (key, parts.next().unwrap_or_default())
        })
        .filter(move |(key, _)| match &plan.input_query_strings {
            Forward::None => false,
            Forward::All => true,
            Forward::Only(names) => names.iter().any(|n| n.as_bytes() == *key),
        })
}

/// Whether every endpoint parameter that some backend puts into a path
/// segment names exactly one segment once decoded (not `.` or `..`, no `/`
/// or `\`), and, for a wildcard endpoint, every segment of the rest of the
/// path does too. A request that fails this gets 400 and reaches no backend.
pub fn params_fit_segments(plan: &EndpointPlan, req: &ClientRequest<'_>) -> bool {
    if plan.wildcard && !remainder(plan, req).is_some_and(remainder_fits) {
        return false;
    }
    // A parameter is one raw segment of the path: the remainder's check
    // applies to it as it is.
    plan.segment_params.iter().all(|&index| {
        let raw = req
            .params
            .get(index)
            .and_then(|&(start, end)| req.routed.get(start as usize..end as usize))
            .unwrap_or_default();
        remainder_fits(raw)
    })
}

/// The raw rest of the path under a wildcard endpoint (the route's last parameter).
fn remainder<'a>(plan: &EndpointPlan, req: &ClientRequest<'a>) -> Option<&'a [u8]> {
    let &(start, end) = req.params.get(plan.param_names.len())?;
    req.routed.get(start as usize..end as usize)
}

/// Writes the backend's path and query: the url_pattern with each value
/// encoded for its position (client parameters decoded first; `responses`
/// are the documents of earlier backends, for `{respN_field}`), then the
/// forwarded query strings. `Err` names the value that could not be placed;
/// nothing may be sent then.
pub fn backend_target(
    plan: &EndpointPlan,
    backend: &BackendPlan,
    req: &ClientRequest<'_>,
    facts: &RequestFacts,
    responses: &[Value<'static>],
    out: &mut Vec<u8>,
) -> Result<(), BackendError> {
    out.clear();
    backend
        .url
        .render(out, |source, value| match source {
            Source::Param(index) => match req.params.get(*index) {
                Some(&(start, end)) => {
                    let raw = req.routed.get(start as usize..end as usize);
                    percent_decode(raw.unwrap_or_default(), value);
                    true
                }
                None => false,
            },
            // The joined text of an array is one value, checked and encoded
            // for its position like any other.
            Source::Response { backend, field } => responses
                .get(*backend)
                .and_then(|doc| lookup(doc, field))
                .is_some_and(|found| sequential_text(found, value)),
            // Config refuses `{JWT.*}` on endpoints without a validator; a
            // claim the token lacks fails the call rather than render empty.
            Source::Claim(claim) => match facts.jwt.as_deref().and_then(|c| c.get(claim)) {
                Some(found) => {
                    value.extend_from_slice(crate::auth::claims::claim_text(found).as_bytes());
                    true
                }
                None => false,
            },
            // Raw: the template checks and encodes it segment by segment.
            Source::Remainder => match remainder(plan, req) {
                Some(raw) => {
                    value.extend_from_slice(raw);
                    true
                }
                None => false,
            },
        })
        .map_err(|refused| BackendError::BadValue(describe(plan, backend, &refused)))?;
    let Some(query) = req.query().filter(|q| !q.is_empty()) else {
        return Ok(());
    };
    let separator = if out.contains(&b'?') { b'&' } else { b'?' };
    // A backend's own list keeps, of what the endpoint passes, the names
    // it lists (lura `proxy/query_strings_filter.go`).
    let own = backend.input_query_strings.as_deref();
    let listed = |names: &[String], key: &[u8]| names.iter().any(|n| n.as_bytes() == key);
    let keep = |key: &[u8]| {
        let passes = match &plan.input_query_strings {
            Forward::None => false,
            Forward::All => true,
            Forward::Only(names) => listed(names, key),
        };
        passes && own.is_none_or(|names| listed(names, key))
    };
    if !matches!(plan.input_query_strings, Forward::None) {
        crate::http::query::encode_kept(query, keep, separator, out);
    }
    Ok(())
}

fn describe(plan: &EndpointPlan, backend: &BackendPlan, refused: &Refused) -> String {
    let pattern = backend.url.pattern();
    match refused {
        Refused::NotOneSegment(source) => format!(
            "url_pattern {pattern}: the value of {} is not one path segment (a dot segment, or it holds '/' or '\\')",
            name_of(plan, source)
        ),
        Refused::Missing(source) => format!(
            "url_pattern {pattern}: {} has no value (the token has no such claim)",
            name_of(plan, source)
        ),
    }
}

fn name_of(plan: &EndpointPlan, source: &Source) -> String {
    match source {
        Source::Param(index) => match plan.param_names.get(*index) {
            Some(name) => format!("{{{name}}}"),
            None => format!("path parameter #{}", index + 1),
        },
        Source::Response { backend, field } => format!("{{resp{backend}_{field}}}"),
        Source::Claim(claim) => format!("{{JWT.{claim}}}"),
        Source::Remainder => "the rest of the path (wildcard)".to_owned(),
    }
}
