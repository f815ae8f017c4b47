//! `no-op` endpoints: the backend's status, headers and body go to the
//! client unchanged, streamed as they arrive.

use super::fanout::CallContext;
use super::plan::{BackendPlan, EndpointPlan, Step};
use super::respond::{Body, ResponseContext, failure_status, finish, log_errors, write_failure};
use crate::config::OutputEncoding;
use crate::http::Method;
use crate::http::{Framing, ResponseBody, ResponseHead, ResponseSink, is_hop_by_hop};
use crate::modifier::martian;
use crate::rt::Timer;
use crate::upstream::{BackendError, RelayError, Request};

/// How a no-op exchange ended, for the codec.
pub enum NoOpEnd {
    /// The response was written whole; the connection may continue.
    Done,
    /// The response was cut short (backend broke mid-body, or the client
    /// went away): the client connection must be closed.
    Broken,
}

/// How a no-op exchange went, for the codec and its observer.
pub struct Relayed {
    pub end: NoOpEnd,
    pub status: u16,
    /// The body's announced length (0 when chunked or until close: it is
    /// streamed, not counted).
    pub body_bytes: usize,
}

/// Whether a request body that has not all arrived with the head is
/// streamed to this endpoint's backend as it comes, instead of being read
/// whole first: a no-op endpoint whose one backend gets the body as it
/// is, with nothing that reads the body on the way (a shadow's copy, the
/// JSON schema, a WebSocket handshake; a GET or HEAD backend gets none).
pub fn streams_body(plan: &EndpointPlan) -> bool {
    plan.output == OutputEncoding::NoOp
        && plan.websocket.is_none()
        && plan.shadows.is_empty()
        && plan.backends.len() == 1
        && !matches!(plan.backends[0].method, Method::Get | Method::Head)
        && plan.before.iter().all(|step| {
            matches!(
                step,
                Step::RateLimit(_)
                    | Step::BotDetector(_)
                    | Step::Jwt(_)
                    | Step::CelJwt(_)
                    | Step::Cel(_)
            )
        })
}

/// Proxies one request: the response goes to `out` as it arrives; a
/// request body the codec has not read yet (`out.pending()`, see
/// [`streams_body`]) goes to the backend as the client sends it.
/// `scratch` is the connection's buffer, `timer` its timer for the
/// endpoint's deadline.
pub async fn relay<S: ResponseSink>(
    call: &CallContext<'_>,
    ctx: &ResponseContext<'_>,
    out: &mut S,
    scratch: &mut Vec<u8>,
    timer: &mut Timer,
) -> Relayed {
    let CallContext {
        plan,
        req,
        pools,
        headers,
        facts,
        metrics,
        endpoint,
        started,
        ..
    } = *call;
    super::shadow::mirror(call);
    let backend = &plan.backends[0];
    // The proxy stage ends when the backend's head is in (the body is
    // streamed after); lura's no-op response is complete when it came.
    // `ended`: the clock reading the backend call's meter took, if any.
    let stage = |complete: bool, ended: Option<std::time::Instant>| {
        if let Some(m) = metrics {
            let outcome = crate::metrics::StageOutcome {
                error: !complete,
                canceled: false,
                complete,
            };
            let ended = ended.unwrap_or_else(std::time::Instant::now);
            m.proxy(endpoint, ended.saturating_duration_since(started), outcome);
        }
    };
    let mut target = Vec::with_capacity(64);
    if let Err(refused) =
        super::request::backend_target(plan, backend, req, facts, &[], &mut target)
    {
        stage(false, None);
        return answer_failure(plan, ctx, &refused, out).await;
    }
    if let Err(rejected) =
        super::validate::check_backend_request(plan, backend, req, call.facts, &target)
    {
        let rejected = BackendError::Rejected(rejected);
        return answer_failure(plan, ctx, &rejected, out).await;
    }
    let admitted = match backend.admit_shared().await {
        Ok(admitted) => admitted,
        Err(refused) => {
            stage(false, None);
            return answer_failure(plan, ctx, &refused, out).await;
        }
    };
    // As in `fanout::call`.
    let body = req.body_for(backend.method);
    let mut own_headers = [Vec::new(), Vec::new()];
    let headers =
        match super::request::call_headers(plan, backend, req, facts, headers, &mut own_headers)
            .await
        {
            Ok(headers) => headers,
            Err(failed) => {
                BackendPlan::record(admitted, false);
                stage(false, None);
                return answer_failure(plan, ctx, &failed, out).await;
            }
        };
    // Tracing, as `fanout::call`: the call's span and its `traceparent`.
    let span = call.trace.map(|t| t.tracer.backend_start(t.request));
    let mut traced_headers = Vec::new();
    let headers = match (call.trace, &span) {
        (Some(t), Some(span)) => {
            let shared = std::ptr::eq(headers, call.headers);
            t.tracer
                .call_headers(t.request, span, headers, shared, &mut traced_headers)
        }
        _ => headers,
    };
    let request = Request {
        method: backend.method,
        path_and_query: &target,
        headers,
        body,
        chunked: backend.chunked_request_body,
        body_on_redirect: backend.send_body_on_redirect,
    };
    let host = backend.pick_host();
    // The call starts with the proxy stage, as a fan-out's calls do: the
    // few steps between are not worth a clock read.
    let meter = metrics.and_then(|m| m.backend_call(endpoint, backend.index, host, started));
    // `modifier/martian`: the request as its modifiers left it, kept for
    // the response modifiers.
    let mut sent = None;
    let opened = {
        // Pinned where it is, so the deadline wrapper moves a pointer, not
        // the whole exchange's state. The endpoint's timeout bounds a
        // streamed body's sending too.
        let call = std::pin::pin!(martian::open(
            (backend.martian.as_ref(), &backend.base_urls[host]),
            pools,
            &backend.pools[host],
            &request,
            scratch,
            out,
            &mut sent,
        ));
        timer
            .within(plan.timeout, call)
            .await
            .unwrap_or(Err(BackendError::Timeout))
    };
    // Any answer counts as a success for the breaker: no-op passes every
    // status on. A client that stopped sending its body is no fault of
    // the backend's.
    let backend_ok = matches!(opened, Ok(_) | Err(BackendError::RequestBodyCut));
    BackendPlan::record(admitted, backend_ok);
    // One clock read ends both the call and the proxy stage.
    let ended = meter.as_ref().map(|_| std::time::Instant::now());
    if let (Some(meter), Some(ended)) = (meter, ended) {
        match &opened {
            // The body is streamed: its size is what the head announces.
            Ok(response) => meter.answered_at(
                ended,
                response.head().status,
                match response.head().body {
                    ResponseBody::Length(n) => Some(n),
                    _ => None,
                },
                true,
            ),
            Err(e) => meter.failed_at(ended, e),
        }
    }
    stage(opened.is_ok(), ended);
    // Tracing: the proxy span and the backend span end with the head, as
    // the proxy stage does here.
    if let (Some(t), Some(span)) = (call.trace, span)
        && t.request.sampled
    {
        let status = opened.as_ref().map_or(0, |r| r.head().status);
        t.tracer
            .proxy_span(t.request, endpoint, started, ended, status, opened.is_ok());
        if span.recording() {
            let outcome = match &opened {
                Ok(r) => Ok((
                    r.head().status,
                    match r.head().body {
                        ResponseBody::Length(n) => n as usize,
                        _ => 0,
                    },
                )),
                Err(e) => Err(e.to_string()),
            };
            let url = (backend.base_urls[host].as_str(), &target[..]);
            t.tracer.backend_ended(
                t.request,
                span,
                endpoint,
                backend.index,
                host,
                url,
                started,
                outcome,
            );
        }
    }
    let mut response = match opened {
        Ok(response) => response,
        // The client stopped sending its body: its codec answers (408,
        // 413, 400) or resets; the backend's connection was dropped.
        Err(BackendError::RequestBodyCut) => {
            return Relayed {
                end: NoOpEnd::Broken,
                status: 0,
                body_bytes: 0,
            };
        }
        Err(e) => return answer_failure(plan, ctx, &e, out).await,
    };
    let (head, raw) = (response.head(), response.head_bytes());
    let (framing, keep_alive) = (head.body, head.keep_alive);
    let edited = martian::response_head(backend.martian.as_ref(), sent.as_ref(), head, raw);
    let status = edited.as_ref().map_or(head.status, |e| e.status);
    out.status(status);
    write_passed_headers(head, raw, edited.as_ref().map(|e| &e.headers), out);
    // KrakenD marks every no-op response as not completed: it cannot tell.
    out.header(b"X-KrakenD-Completed", b"false");
    let mut body_bytes = 0;
    // A response `body.Modifier` replaced the body: the backend's is not
    // read (its connection closes) and the replacement is sent instead.
    let replaced = edited.as_ref().and_then(|e| e.replaced.then_some(&e.body));
    let client_framing = match (replaced, framing) {
        (Some(body), _) => {
            body_bytes = body.len();
            Framing::Length(body.len() as u64)
        }
        (None, ResponseBody::Length(n)) => {
            body_bytes = usize::try_from(n).unwrap_or(usize::MAX);
            Framing::Length(n)
        }
        (None, ResponseBody::Chunked | ResponseBody::UntilClose) => Framing::Streamed,
        (None, ResponseBody::Empty) if !matches!(head.status, 204 | 304) => Framing::Length(0),
        (None, ResponseBody::Empty) => Framing::None,
    };
    finish(ctx, Body::Streamed(client_framing), out);
    response.consume_head();
    let relayed = |end| Relayed {
        end,
        status,
        body_bytes,
    };
    if let Some(body) = replaced {
        let sent = ctx.head_only || out.send(body).await;
        return relayed(if sent && out.end().await {
            NoOpEnd::Done
        } else {
            NoOpEnd::Broken
        });
    }
    if ctx.head_only {
        // The body is not wanted: the backend connection cannot be reused.
        return relayed(if out.end().await {
            NoOpEnd::Done
        } else {
            NoOpEnd::Broken
        });
    }
    // The body must keep moving: no read may wait longer than the timeout.
    response.set_read_timeout(Some(plan.timeout));
    // The head leaves with the first bytes of the body.
    relayed(match response.relay_body(&framing, out).await {
        Ok(()) => {
            response.finish(keep_alive);
            NoOpEnd::Done
        }
        Err(RelayError::Backend(e)) => {
            tracing::debug!("no-op backend broke mid-body: {e}");
            NoOpEnd::Broken
        }
        Err(RelayError::Client) => NoOpEnd::Broken,
    })
}

/// The backend's header lines the client gets: all but hop-by-hop ones
/// (named by RFC 9110 or by the backend's `Connection`) and those the
/// gateway writes itself. `edited`: the lines as `modifier/martian`'s
/// response modifiers left them, written instead of the backend's.
fn write_passed_headers<S: ResponseSink>(
    head: &ResponseHead,
    raw: &[u8],
    edited: Option<&martian::Headers>,
    out: &mut S,
) {
    let listed = head.connection_listed(raw);
    let passes = |name: &[u8]| {
        !(is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"x-krakend")
            || name.eq_ignore_ascii_case(b"date")
            || listed.contains(name))
    };
    match edited {
        None => head
            .headers
            .iter()
            .map(|h| (h.name.of(raw), h.value.of(raw)))
            .filter(|(name, _)| passes(name))
            .for_each(|(name, value)| out.header(name, value)),
        Some(lines) => lines
            .iter()
            .filter(|(name, _)| passes(name))
            .for_each(|(name, value)| out.header(name, value)),
    }
}

/// Answers with the failure status for `error` instead of a backend response.
async fn answer_failure<S: ResponseSink>(
    plan: &EndpointPlan,
    ctx: &ResponseContext<'_>,
    error: &BackendError,
    out: &mut S,
) -> Relayed {
    let status = failure_status(error);
    let text = error.to_string();
    log_errors(plan, std::slice::from_ref(&text), false);
    write_failure(ctx, status, &text, out);
    let body_bytes = if ctx.return_error_msg { text.len() } else { 0 };
    let end = if out.end().await {
        NoOpEnd::Done
    } else {
        NoOpEnd::Broken
    };
    Relayed {
        end,
        status,
        body_bytes,
    }
}
