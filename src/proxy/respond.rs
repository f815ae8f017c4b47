//! From backend outcomes to the client's response: decode, manipulate,
//! merge, add static data, encode; and the one place where failures
//! become statuses.

use std::borrow::Cow;

use super::fanout::{Outcome, is_success};
use super::plan::EndpointPlan;
use crate::config::StaticStrategy;
use crate::http::{write_content_length, write_header, write_status_line};
use crate::pipeline::{Object, Value, decode, encode, merge_into, negotiate};
use crate::upstream::BackendError;

/// Per-response facts the connection driver supplies.
pub struct ResponseContext<'a> {
    pub accept: Option<&'a [u8]>,
    pub date: &'a [u8],
    pub head_only: bool,
    pub close: bool,
    pub return_error_msg: bool,
}

/// How the backends fared.
struct Tally {
    ok: usize,
    failed: usize,
    first_error: Option<String>,
}

/// Merges what arrived and writes the whole response into `out`.
/// `decoded` holds documents already decoded (sequential endpoints);
/// otherwise each successful outcome is decoded here, borrowing its body.
pub fn write_merged(
    plan: &EndpointPlan,
    outcomes: &mut [Outcome],
    decoded: Option<Vec<Value<'static>>>,
    ctx: &ResponseContext<'_>,
    body: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    let mut merged = Object::with_capacity(16);
    let mut tally = Tally {
        ok: 0,
        failed: 0,
        first_error: None,
    };
    let answered = outcomes.len();
    if let Some(docs) = decoded {
        tally.ok = docs.len();
        for doc in docs {
            merge_into(&mut merged, doc);
        }
        for outcome in outcomes.iter().skip(tally.ok) {
            note_failure(plan, outcome, &mut merged, &mut tally);
        }
    } else {
        for outcome in outcomes.iter() {
            if !matches!(&outcome.result, Ok(resp) if is_success(resp.status)) {
                note_failure(plan, outcome, &mut merged, &mut tally);
            }
        }
        for outcome in outcomes.iter_mut() {
            let backend = &plan.backends[outcome.backend];
            let Ok(resp) = &mut outcome.result else {
                continue;
            };
            if !is_success(resp.status) {
                continue;
            }
            match decode(backend.encoding, backend.is_collection, &mut resp.body) {
                Ok(value) => {
                    tally.ok += 1;
                    merge_into(&mut merged, backend.manipulation.apply(value));
                }
                Err(e) => {
                    tally.failed += 1;
                    tally.first_error.get_or_insert(e.to_string());
                }
            }
        }
    }
    // Backends that had not answered by the deadline.
    let unanswered = plan.backends.len().saturating_sub(answered);
    if unanswered > 0 {
        tally.failed += unanswered;
        tally
            .first_error
            .get_or_insert_with(|| BackendError::Timeout.to_string());
    }
    let complete = tally.failed == 0;
    let static_applied = apply_static(plan, complete, tally.ok, &mut merged);
    if tally.ok == 0 && !static_applied && merged.is_empty() {
        let message = tally.first_error.unwrap_or_default();
        return write_failure(ctx, &message, out);
    }
    let mut value = Value::Object(Box::new(merged));
    plan.flatmap.apply(&mut value);
    body.clear();
    let rendered = negotiate(plan.output, ctx.accept);
    let content_type = encode(&value, rendered, body);
    write_status_line(out, 200);
    write_header(out, b"Content-Type", content_type.as_bytes());
    write_header(
        out,
        b"X-KrakenD-Completed",
        if complete { b"true" } else { b"false" },
    );
    if complete && let Some(cache) = &plan.cache_control {
        write_header(out, b"Cache-Control", cache);
    }
    finish(ctx, body, out);
}

/// Records a failed backend; with `return_error_details`, its status and
/// body become `error_<name>` in the response (as KrakenD).
fn note_failure(
    plan: &EndpointPlan,
    outcome: &Outcome,
    merged: &mut Object<'_>,
    tally: &mut Tally,
) {
    tally.failed += 1;
    let backend = &plan.backends[outcome.backend];
    let message = match &outcome.result {
        Ok(resp) => {
            if let Some(name) = &backend.return_error_details {
                let mut detail = Object::with_capacity(3);
                detail.insert(
                    Cow::Borrowed("http_status_code"),
                    Value::from(resp.status as u64),
                );
                let encoding = resp
                    .content_type
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                detail.insert(
                    Cow::Borrowed("http_body_encoding"),
                    Value::from(encoding.into_owned()),
                );
                detail.insert(
                    Cow::Borrowed("http_body"),
                    Value::from(String::from_utf8_lossy(&resp.body).into_owned()),
                );
                merged.insert(
                    Cow::Owned(format!("error_{name}")),
                    Value::Object(Box::new(detail)),
                );
            }
            let base = backend.base_urls.first().map(String::as_str).unwrap_or("");
            format!(
                "invalid status code {} [{} {}]: {}{}",
                resp.status,
                backend.method,
                backend.url.pattern(),
                base,
                backend.url.pattern()
            )
        }
        Err(e) => e.to_string(),
    };
    tally.first_error.get_or_insert(message);
}

/// `proxy.static`: merges the static data when its strategy matches.
fn apply_static(plan: &EndpointPlan, complete: bool, ok: usize, merged: &mut Object<'_>) -> bool {
    let Some((strategy, data)) = &plan.static_response else {
        return false;
    };
    let errored = !complete;
    let applies = match strategy {
        StaticStrategy::Always => true,
        StaticStrategy::Success => !errored,
        StaticStrategy::Errored => errored,
        StaticStrategy::Complete => complete && ok > 0,
        StaticStrategy::Incomplete => !complete,
    };
    if applies {
        merge_into(merged, data.clone());
    }
    applies
}

/// 500 for an endpoint none of whose backends answered well: KrakenD's
/// error text as the body with `router.return_error_msg`, else empty.
pub fn write_failure(ctx: &ResponseContext<'_>, message: &str, out: &mut Vec<u8>) {
    write_status_line(out, 500);
    write_header(out, b"Content-Type", b"text/plain; charset=utf-8");
    write_header(out, b"X-KrakenD-Completed", b"false");
    let body = if ctx.return_error_msg {
        message.as_bytes()
    } else {
        b""
    };
    finish(ctx, body, out);
}

/// Date, Content-Length, Connection, the blank line, then the body (unless HEAD).
pub fn finish(ctx: &ResponseContext<'_>, body: &[u8], out: &mut Vec<u8>) {
    write_header(out, b"Date", ctx.date);
    write_content_length(out, body.len());
    if ctx.close {
        write_header(out, b"Connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    if !ctx.head_only {
        out.extend_from_slice(body);
    }
}
