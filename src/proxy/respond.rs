//! From backend outcomes to the client's response: decode, manipulate,
//! merge, add static data, encode; and the one place where failures
//! become statuses.

use std::borrow::Cow;

use super::facts::Refusal;
use super::fanout::{CallContext, Outcome, is_success};
use super::plan::EndpointPlan;
use super::validate::check_backend_response;
use crate::config::{BackendEncoding, StaticStrategy};
use crate::http::{Framing, ResponseSink};
use crate::pipeline::{
    ERROR_DETAIL_KEYS, Literals, Object, Value, decode, encode, merge_into, negotiate,
    with_literals,
};
use crate::upstream::BackendError;

/// Per-response facts of the request (the exchange builds them once).
pub struct ResponseContext<'a> {
    pub accept: Option<&'a [u8]>,
    pub date: &'a [u8],
    /// A HEAD request: a no-op backend's body is not read (the codec
    /// drops any body written).
    pub head_only: bool,
    pub return_error_msg: bool,
    /// Header lines (`Name: value\r\n` each) the edge screen adds to this
    /// response, whatever produces it; written by [`finish`]. A header
    /// list in its serialised form (`ResponseSink::header_lines`).
    pub decor: &'a [u8],
}

/// How the backends fared, in lura's terms.
struct Tally {
    /// Backends whose data was merged.
    ok: usize,
    /// Backends that did not contribute their data (the response is
    /// incomplete).
    failed: usize,
    /// Failures that are errors for KrakenD: all of them except a status
    /// failure shown with `return_error_details`, which lura turns into a
    /// successful (but incomplete) part.
    errors: usize,
    /// Failures shown as `error_<name>` (they count as answers: with one of
    /// them the endpoint answers 200, never 500).
    detailed: usize,
    /// The errors' texts, in the order lura's merge collects them (arrival).
    texts: Vec<String>,
    /// The status the first error maps to when nothing else is answered.
    first_status: u16,
    /// A non-2xx answer of a backend with `return_error_code`: its status,
    /// Content-Type and body.
    status_error: Option<StatusError>,
}

impl Tally {
    fn error(&mut self, text: String) {
        self.errors += 1;
        self.texts.push(text);
    }
}

/// A backend's non-2xx answer kept for `return_error_code`.
struct StatusError {
    status: u16,
    content_type: Option<Box<[u8]>>,
    body: Vec<u8>,
}

/// Whether a backend's answer is one KrakenD takes: 200 and 201, or any
/// status for a `no-op` backend (lura's `NoOpHTTPStatusHandler`).
fn accepted(plan: &EndpointPlan, outcome: &Outcome) -> bool {
    match &outcome.result {
        Ok(resp) => {
            plan.backends[outcome.backend].encoding == BackendEncoding::NoOp
                || is_success(resp.status)
        }
        Err(_) => false,
    }
}

/// Merges what arrived and writes the whole response into `out`.
/// `decoded` holds documents already decoded (sequential endpoints);
/// otherwise each successful outcome is decoded here, borrowing its body.
/// `literals`: number literals kept as written (those of `decoded`; the
/// others are added here). Returns whether the response is complete.
pub async fn write_merged<S: ResponseSink>(
    call: &CallContext<'_>,
    outcomes: &mut [Outcome],
    decoded: Option<Vec<Value<'static>>>,
    mut literals: Literals,
    ctx: &ResponseContext<'_>,
    body: &mut Vec<u8>,
    out: &mut S,
) -> bool {
    let plan = call.plan;
    let mut merged = Object::with_capacity(16);
    let mut tally = Tally {
        ok: 0,
        failed: 0,
        errors: 0,
        detailed: 0,
        texts: Vec::new(),
        first_status: 500,
        status_error: None,
    };
    let answered = outcomes.len();
    let sequential = decoded.is_some();
    if let Some(docs) = decoded {
        tally.ok = docs.len();
        for doc in docs {
            merge_into(&mut merged, doc);
        }
        for outcome in outcomes.iter_mut().skip(tally.ok) {
            note_failure(plan, outcome, &mut merged, &mut tally);
        }
    } else {
        // In arrival order, as lura's merge takes parts and errors.
        for outcome in outcomes.iter_mut() {
            if !accepted(plan, outcome) {
                note_failure(plan, outcome, &mut merged, &mut tally);
                continue;
            }
            let backend = &plan.backends[outcome.backend];
            let Ok(resp) = &mut outcome.result else {
                continue;
            };
            match decode(
                backend.encoding,
                backend.is_collection,
                &mut resp.body,
                &mut literals,
            )
            .map(|value| backend.manipulation.apply(value))
            {
                Ok(value) => match check_backend_response(backend, &value) {
                    Ok(()) => {
                        tally.ok += 1;
                        merge_into(&mut merged, value);
                    }
                    // A failed `validation/cel` check drops the backend's data.
                    Err(rejected) => {
                        tally.failed += 1;
                        tally.error(rejected);
                    }
                },
                Err(e) => {
                    tally.failed += 1;
                    tally.error(e.to_string());
                }
            }
        }
    }
    // Backends that had not answered by the deadline (for sequential ones:
    // the one running at the deadline and those never called).
    let unanswered = plan.backends.len().saturating_sub(answered);
    if unanswered > 0 {
        tally.failed += unanswered;
        // A sequential chain that stopped at a failure did not time out: the
        // backends after it were never called, which is no error of theirs.
        let timed_out = !sequential || tally.ok == answered;
        if timed_out {
            for _ in 0..if sequential { 1 } else { unanswered } {
                tally.error(BackendError::Timeout.to_string());
            }
        }
    }
    // lura's merge hands the router one error per failed part (a
    // `mergeError`) with several backends, except a sequence whose first
    // call failed, which returns that call's error alone; one backend's
    // error goes through as it is.
    let several = plan.backends.len() > 1 && !(sequential && tally.ok == 0);
    log_errors(plan, &tally.texts, several);
    let static_applied = apply_static(plan, &tally, &mut merged);
    if tally.ok == 0 && tally.detailed == 0 && !static_applied {
        // lura hands the router no response at all, only the error.
        if plan.backends.len() == 1
            && let Some(error) = tally.status_error.take()
        {
            write_status_error(ctx, &error, out);
            return false;
        }
        // A `mergeError`'s text is its errors' texts, one per line.
        let message = tally.texts.join("\n");
        write_failure(ctx, tally.first_status, &message, out);
        return false;
    }
    let mut value = Value::Object(Box::new(merged));
    plan.flatmap.apply(&mut value);
    // lura's router only calls a response complete when it carries data.
    let has_data = matches!(&value, Value::Object(o) if !o.is_empty());
    let complete = tally.failed == 0 && has_data;
    // KrakenD Enterprise's modifiers: the expression's result (an array, a
    // string...) is what the client gets, rendered as it is.
    if !plan.modifiers.is_empty() {
        value = plan.modifiers.apply(value);
    }
    // krakend-lua's proxy `post`, when the pipe returned no error.
    let mut posted = None;
    if tally.failed == 0 && super::lua::has_post(plan) {
        // Boxed: only an endpoint with a `post` carries a script's run.
        match Box::pin(super::lua::post(plan, &mut value, &mut literals, complete)).await {
            Ok(p) => posted = p,
            Err(failure) => {
                let status = failure.status.unwrap_or(500);
                tracing::error!("{} [Lua] {}", plan.log_prefix, failure.message);
                write_failure(ctx, status, &failure.message, out);
                return false;
            }
        }
    }
    let complete = posted.as_ref().map_or(complete, |p| p.complete);
    for step in &plan.after {
        if let Err(refusal) = step.apply(&mut value, call.facts, complete) {
            write_refusal(ctx, &refusal, out);
            return false;
        }
    }
    body.clear();
    let rendered = negotiate(plan.output, ctx.accept);
    let content_type = with_literals(&mut literals, || encode(&value, rendered, body));
    out.status(200);
    out.header(b"Content-Type", content_type.as_bytes());
    for (name, value) in posted.iter().flat_map(|p| &p.headers) {
        out.header(name.as_bytes(), value.as_bytes());
    }
    // krakend-jose's signer writes the response itself, without these two.
    if !plan.after.iter().any(|step| step.replaces_headers()) {
        out.header(
            b"X-KrakenD-Completed",
            if complete { b"true" } else { b"false" },
        );
        if complete && let Some(cache) = &plan.cache_control {
            out.header(b"Cache-Control", cache);
        }
    }
    finish(ctx, Body::Whole(body), out);
    complete
}

/// Records a failed backend; with `return_error_details`, its status and
/// body become `error_<name>` in the response (as KrakenD); with
/// `return_error_code`, its status, type and body are kept for the answer.
fn note_failure(
    plan: &EndpointPlan,
    outcome: &mut Outcome,
    merged: &mut Object<'_>,
    tally: &mut Tally,
) {
    tally.failed += 1;
    let backend = &plan.backends[outcome.backend];
    let message = match &mut outcome.result {
        Ok(resp) => {
            if let Some(name) = &backend.return_error_details {
                merged.insert(
                    Cow::Owned(format!("error_{name}")),
                    error_details(resp.status, resp.content_type.as_deref(), &resp.body),
                );
                tally.detailed += 1;
                return;
            }
            if backend.return_error_code {
                // lura's `HTTPResponseError`: its text is the body.
                let text = String::from_utf8_lossy(&resp.body).into_owned();
                if tally.status_error.is_none() {
                    tally.status_error = Some(StatusError {
                        status: resp.status,
                        content_type: resp.content_type.take(),
                        body: std::mem::take(&mut resp.body),
                    });
                }
                text
            } else {
                // lura's `ErrInvalidStatus`: the URL the request went to.
                let mut text = format!(
                    "invalid status code {} {} ",
                    resp.status, backend.status_prefix
                );
                if let Some((host, target)) = &outcome.sent {
                    let base = backend.base_urls.get(*host).map_or("", String::as_str);
                    text.push_str(base.trim_end_matches('/'));
                    text.push_str(&String::from_utf8_lossy(target));
                }
                text
            }
        }
        // A backend script's error: its status (custom_error's, else
        // 500) and text reach the client as a status error's would.
        Err(BackendError::Script {
            status,
            content_type,
            message,
        }) => {
            if tally.status_error.is_none() {
                tally.status_error = Some(StatusError {
                    status: *status,
                    content_type: content_type.take().map(|t| t.into_boxed_bytes()),
                    body: message.clone().into_bytes(),
                });
            }
            message.clone()
        }
        Err(e) => {
            if tally.texts.is_empty() {
                tally.first_status = failure_status(e);
            }
            e.to_string()
        }
    };
    tally.error(message);
}

/// `error_<name>`'s value: lura's `HTTPResponseError`, whose `http_body`
/// and `http_body_encoding` are `omitempty`.
fn error_details(status: u16, content_type: Option<&[u8]>, body: &[u8]) -> Value<'static> {
    let mut detail = Object::with_capacity(3);
    detail.insert(
        Cow::Borrowed(ERROR_DETAIL_KEYS[0]),
        Value::from(u64::from(status)),
    );
    if !body.is_empty() {
        detail.insert(
            Cow::Borrowed(ERROR_DETAIL_KEYS[1]),
            Value::from(String::from_utf8_lossy(body).into_owned()),
        );
    }
    let encoding = content_type
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    if !encoding.is_empty() {
        detail.insert(
            Cow::Borrowed(ERROR_DETAIL_KEYS[2]),
            Value::from(encoding.into_owned()),
        );
    }
    Value::Object(Box::new(detail))
}

/// Logs each error at ERROR, as lura's endpoint handler does
/// (`router/gin/endpoint.go`: `[ENDPOINT: /x] <error>`, or `Error #i: `
/// before each error of a merge). The texts carry backend and client
/// values, so they are escaped. The line goes to the log writer without
/// waiting (`logging`).
pub(super) fn log_errors(plan: &EndpointPlan, texts: &[String], several: bool) {
    for (i, text) in texts.iter().enumerate() {
        let text = crate::logging::Escaped(text.as_bytes());
        if several {
            tracing::error!("{} Error #{i}: {text}", plan.log_prefix);
        } else {
            tracing::error!("{} {text}", plan.log_prefix);
        }
    }
}

/// `proxy.static`: merges the static data when its strategy matches
/// (lura `proxy/static.go`: "errored" means the proxy returned an error,
/// "incomplete" that the response is missing or incomplete).
fn apply_static(plan: &EndpointPlan, tally: &Tally, merged: &mut Object<'_>) -> bool {
    let Some((strategy, data)) = &plan.static_response else {
        return false;
    };
    let errored = tally.errors > 0;
    let has_response = tally.ok > 0 || tally.detailed > 0;
    let complete = has_response && tally.failed == 0;
    let applies = match strategy {
        StaticStrategy::Always => true,
        StaticStrategy::Success => !errored,
        StaticStrategy::Errored => errored,
        StaticStrategy::Complete => !errored && complete,
        StaticStrategy::Incomplete => !complete,
    };
    if applies {
        merge_into(merged, data.clone());
    }
    applies
}

/// `return_error_code` on an endpoint whose single backend answered a
/// non-2xx: that status; the backend's body (and Content-Type) only with
/// `router.return_error_msg`, else an empty body (lura `router/gin/endpoint.go`).
fn write_status_error<S: ResponseSink>(
    ctx: &ResponseContext<'_>,
    error: &StatusError,
    out: &mut S,
) {
    out.status(error.status);
    let body: &[u8] = if ctx.return_error_msg {
        &error.body
    } else {
        b""
    };
    if !body.is_empty() {
        let content_type = error
            .content_type
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(b"text/plain; charset=utf-8");
        out.header(b"Content-Type", content_type);
    }
    out.header(b"X-KrakenD-Completed", b"false");
    finish(ctx, Body::Whole(body), out);
}

/// The status of an endpoint whose only answer was this failure. KrakenD
/// answers 500 to every backend failure; a backend whose response is not
/// HTTP, has broken framing or is over `max_response_bytes` gets 502 Bad
/// Gateway, which says where the fault is.
pub fn failure_status(error: &BackendError) -> u16 {
    match error {
        BackendError::BadResponse(_) | BackendError::TooLarge(_) => 502,
        _ => 500,
    }
}

/// `status` (500 or 502) for an endpoint none of whose backends answered
/// well: KrakenD's error text as the body with `router.return_error_msg`,
/// else empty.
pub fn write_failure<S: ResponseSink>(
    ctx: &ResponseContext<'_>,
    status: u16,
    message: &str,
    out: &mut S,
) {
    out.status(status);
    let body = if ctx.return_error_msg {
        message.as_bytes()
    } else {
        b""
    };
    // lura writes the text without a type; Go's server then sniffs one
    // from the first bytes written, and writes none for an empty body.
    if !body.is_empty() {
        out.header(b"Content-Type", b"text/plain; charset=utf-8");
    }
    out.header(b"X-KrakenD-Completed", b"false");
    finish(ctx, Body::Whole(body), out);
}

/// A request a step refused: its status, its body if it has one.
pub fn write_refusal<S: ResponseSink>(ctx: &ResponseContext<'_>, refusal: &Refusal, out: &mut S) {
    out.status(refusal.status);
    if let Some(content_type) = refusal.content_type {
        out.header(b"Content-Type", content_type);
    }
    if refusal.completed_header {
        out.header(b"X-KrakenD-Completed", b"false");
    }
    // RFC 9110 8.6: no Content-Length on a 204 (a CORS preflight's answer).
    let body = if refusal.status == 204 {
        Body::None
    } else {
        Body::Whole(&refusal.body)
    };
    finish(ctx, body, out);
}

/// What follows a response's head.
pub enum Body<'a> {
    /// The whole body.
    Whole(&'a [u8]),
    /// None, and no length either (204).
    None,
    /// Sent as it arrives (a no-op backend's), with this framing.
    Streamed(Framing),
}

/// The one place every response head is finished, whatever produced it
/// (merged, failure, refusal, built-in, router answer, no-op relay): the
/// edge screen's header lines, Date, then the framing the codec derives
/// from `body` (Content-Length, Connection, END_STREAM), then the body.
pub fn finish<S: ResponseSink>(ctx: &ResponseContext<'_>, body: Body<'_>, out: &mut S) {
    out.header_lines(ctx.decor);
    out.header(b"Date", ctx.date);
    match body {
        Body::Whole(bytes) => {
            out.end_head(Framing::Length(bytes.len() as u64));
            out.body(bytes);
        }
        Body::None => out.end_head(Framing::None),
        Body::Streamed(framing) => out.end_head(framing),
    }
}
