//! Calling an endpoint's backends: all at once (or one after the other for
//! `sequential`), under one deadline.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::facts::RequestFacts;
use super::plan::{BackendPlan, EndpointPlan};
use super::request::{ClientRequest, backend_target, call_headers};
use super::validate::{check_backend_request, check_backend_response};
use crate::config::BackendEncoding;
use crate::metrics::FinishedCall;
use crate::pipeline::{Literals, Value, decode, with_literals};
use crate::rt::{Timer, within};
use crate::upstream::{BackendError, Pools, Request, Response};

/// One backend's answer, in arrival order.
pub struct Outcome {
    pub backend: usize,
    pub result: Result<Response, BackendError>,
    /// The host (index into the backend's hosts) and target the request
    /// went to, when it was sent: a status error names that URL.
    pub sent: Option<(usize, Vec<u8>)>,
}

impl Outcome {
    /// A call that was not made.
    fn not_sent(backend: usize, error: BackendError) -> Outcome {
        Outcome {
            backend,
            result: Err(error),
            sent: None,
        }
    }
}

/// What every backend call of one request shares.
pub struct CallContext<'a> {
    pub plan: &'a EndpointPlan,
    pub req: &'a ClientRequest<'a>,
    pub pools: &'a Rc<Pools>,
    pub headers: &'a [u8],
    pub max_body: usize,
    /// What the endpoint's steps found out about the request.
    pub facts: &'a RequestFacts,
    /// This worker's metrics, when on, and the endpoint's index in them.
    pub metrics: Option<&'a Rc<crate::metrics::Recorder>>,
    pub endpoint: usize,
    /// When the proxy stage began: the start of the calls made at once
    /// (one clock read for all of them).
    pub started: Instant,
    /// An endpoint's lone backend call, measured, once it finished: it is
    /// recorded with the proxy stage's end reading (one clock read for
    /// both; the call's figures then include decoding its response, as
    /// KrakenD's backend layer does, a few microseconds).
    pub lone_call: Cell<Option<FinishedCall>>,
    /// The request's trace, when traced (`crate::telemetry`).
    pub trace: Option<crate::telemetry::Traced<'a>>,
}

/// Builds backend `backend`'s target; `Err` is the outcome to report instead
/// of calling (a value that cannot be placed in its URL).
fn target_of(
    ctx: &CallContext<'_>,
    backend: usize,
    responses: &[Value<'static>],
) -> Result<Vec<u8>, Outcome> {
    let mut target = Vec::with_capacity(64);
    match backend_target(
        ctx.plan,
        &ctx.plan.backends[backend],
        ctx.req,
        ctx.facts,
        responses,
        &mut target,
    ) {
        Ok(()) => match check_backend_request(
            ctx.plan,
            &ctx.plan.backends[backend],
            ctx.req,
            ctx.facts,
            &target,
        ) {
            Ok(()) => Ok(target),
            // A failed `validation/cel` check: not called, counted as failed.
            Err(rejected) => Err(Outcome::not_sent(backend, BackendError::Rejected(rejected))),
        },
        // Logged with the other failures (`respond::log_errors`).
        Err(refused) => Err(Outcome::not_sent(backend, refused)),
    }
}

async fn call(ctx: &CallContext<'_>, backend: usize, target: Vec<u8>, started: Instant) -> Outcome {
    let plan = &ctx.plan.backends[backend];
    let admitted = match plan.admit_shared().await {
        Ok(admitted) => admitted,
        Err(refused) => {
            return Outcome::not_sent(backend, refused);
        }
    };
    let host = plan.pick_host();
    let meter = ctx
        .metrics
        .and_then(|m| m.backend_call(ctx.endpoint, plan.index, host, started));
    // Every backend but GET and HEAD ones gets the client's body, whatever
    // its method (`ClientRequest::body_for`).
    let body = ctx.req.body_for(plan.method);
    let mut own_headers = [Vec::new(), Vec::new()];
    let headers = match call_headers(
        ctx.plan,
        plan,
        ctx.req,
        ctx.facts,
        ctx.headers,
        &mut own_headers,
    )
    .await
    {
        Ok(headers) => headers,
        Err(failed) => {
            BackendPlan::record(admitted, false);
            return Outcome::not_sent(backend, failed);
        }
    };
    // Tracing: the call's span, and the `traceparent` the backend gets
    // (never the client's bytes: `EndpointPlan::replaced_headers`).
    // A block of its own (`input_headers`, a client-credentials token) or
    // a recorded span needs its own line; else the shared block has it.
    let span = ctx.trace.map(|t| t.tracer.backend_start(t.request));
    let mut traced_headers = Vec::new();
    let headers = match (ctx.trace, &span) {
        (Some(t), Some(span)) => {
            let shared = std::ptr::eq(headers, ctx.headers);
            t.tracer
                .call_headers(t.request, span, headers, shared, &mut traced_headers)
        }
        _ => headers,
    };
    let request = Request {
        method: plan.method,
        path_and_query: &target,
        headers,
        body,
        chunked: plan.chunked_request_body,
        body_on_redirect: plan.send_body_on_redirect,
    };
    // Room for the whole serialised request at once (request line, Host,
    // framing): one allocation instead of a few doublings.
    let mut scratch = Vec::with_capacity(128 + target.len() + headers.len() + body.len());
    let mut below_scripts =
        async |request: Request<'_>| send(ctx, plan, host, &request, &mut scratch).await;
    // krakend-lua: the endpoint scripts' changes and the backend's own
    // script around the call (`proxy::lua`).
    let result = if plan.lua.is_some() || ctx.facts.lua.touched() {
        let endpoint = super::lua::Endpoint {
            plan: ctx.plan,
            req: ctx.req,
            facts: ctx.facts,
            started: ctx.started,
        };
        // Boxed: a script's run must not grow every backend call's future.
        Box::pin(super::lua::call(
            &endpoint,
            plan,
            host,
            request,
            below_scripts,
        ))
        .await
    } else {
        below_scripts(request).await
    };
    let good = match &result {
        Ok(resp) => is_success(resp.status) || plan.encoding == BackendEncoding::NoOp,
        Err(_) => false,
    };
    if let Some(meter) = meter {
        let head_only = plan.method == crate::http::Method::Head;
        if ctx.plan.backends.len() == 1 && ctx.plan.concurrent_calls <= 1 {
            ctx.lone_call
                .set(Some(meter.finish_later(&result, good, head_only)));
        } else {
            meter.finish(&result, good, head_only);
        }
    }
    BackendPlan::record(admitted, good);
    if let (Some(t), Some(span)) = (ctx.trace, span)
        && span.recording()
    {
        let outcome = match &result {
            Ok(r) => Ok((r.status, r.body.len())),
            Err(e) => Err(e.to_string()),
        };
        let url = (plan.base_urls[host].as_str(), &target[..]);
        t.tracer.backend_ended(
            t.request,
            span,
            ctx.endpoint,
            plan.index,
            host,
            url,
            started,
            outcome,
        );
    }
    Outcome {
        backend,
        result,
        sent: Some((host, target)),
    }
}

/// One backend call below the scripts: `modifier/martian` around
/// `qos/http-cache` around the HTTP client, as krakend-ce's backend
/// factory stacks them (martian wraps the request executor, whose client
/// is the cached one).
async fn send(
    ctx: &CallContext<'_>,
    plan: &BackendPlan,
    host: usize,
    request: &Request<'_>,
    scratch: &mut Vec<u8>,
) -> Result<Response, BackendError> {
    if let Some(protocol) = &plan.protocol {
        // Another backend kind (`upstream::kind`): martian and the HTTP
        // cache are HTTP client layers, as in KrakenD, and do not apply.
        return call_protocol(ctx, plan, &**protocol, host, request).await;
    }
    let martian = plan.martian.as_ref();
    let base_url = &plan.base_urls[host];
    if martian.is_some_and(|m| m.edits_response()) {
        // Response modifiers need every header of the answer, which the
        // cache does not keep: such a backend is not cached (a warning at
        // load, docs/http-cache.md).
        return crate::modifier::martian::fetch(
            martian,
            base_url,
            ctx.pools,
            &plan.pools[host],
            request,
            ctx.max_body,
            scratch,
        )
        .await;
    }
    // `modifier/martian` edits the request the cache then sees.
    let edits = martian.map(|m| crate::modifier::martian::edit_request(m, base_url, request));
    let request = match &edits {
        Some((edited, block)) => crate::modifier::martian::edited_request(request, edited, block),
        None => *request,
    };
    // `qos/http-cache` (a hit still passes the breaker and rate limit
    // above, as KrakenD's cached client sits below them).
    crate::upstream::cache::fetch(
        plan.http_cache.as_deref(),
        ctx.pools,
        &plan.pools[host],
        base_url,
        &request,
        ctx.max_body,
        scratch,
        |lookup| {
            if let Some(metrics) = ctx.metrics {
                metrics.cache_lookup(ctx.endpoint, plan.index, lookup);
            }
        },
    )
    .await
}

/// A non-HTTP backend's call, with the endpoint's placeholders handed over
/// by name.
async fn call_protocol(
    ctx: &CallContext<'_>,
    plan: &BackendPlan,
    protocol: &dyn crate::upstream::kind::Protocol,
    host: usize,
    request: &Request<'_>,
) -> Result<Response, BackendError> {
    let params: Vec<(&str, &[u8])> = ctx
        .plan
        .param_names
        .iter()
        .filter_map(|name| Some((&**name, ctx.req.param(ctx.plan, name)?)))
        .collect();
    protocol
        .call(crate::upstream::kind::ProtocolCall {
            request,
            params: &params,
            host,
            base_urls: &plan.base_urls,
            pools: ctx.pools,
            pool: plan.pools.get(host),
            max_body: ctx.max_body,
        })
        .await
}

/// `concurrent_calls`: the same call N times, the first good answer wins
/// and the others are dropped (their connections closed, not pooled). As in
/// lura's concurrent middleware, the calls get 75% of the endpoint timeout.
async fn call_concurrently(ctx: &CallContext<'_>, backend: usize, target: Vec<u8>) -> Outcome {
    let n = ctx.plan.concurrent_calls as usize;
    if n <= 1 {
        return call(ctx, backend, target, ctx.started).await;
    }
    let mut set: Unordered<'_, Outcome> = Unordered::new(
        (0..n)
            .map(|_| crate::rt::boxed(|| call(ctx, backend, target.clone(), ctx.started)) as _)
            .collect(),
    );
    let first_good = async {
        let mut last = None;
        while let Some(outcome) = std::future::poll_fn(|cx| set.poll_next(cx)).await {
            if matches!(&outcome.result, Ok(r) if is_success(r.status)) {
                return Some(outcome);
            }
            last = Some(outcome);
        }
        last
    };
    within(concurrent_budget(ctx.plan.timeout), first_good)
        .await
        .flatten()
        .unwrap_or(Outcome::not_sent(backend, BackendError::Timeout))
}

/// What `concurrent_calls` get: 75% of the endpoint timeout.
fn concurrent_budget(timeout: Duration) -> Duration {
    timeout * 3 / 4
}

/// KrakenD accepts 200 and 201 from a backend; anything else is an error.
pub fn is_success(status: u16) -> bool {
    status == 200 || status == 201
}

/// Calls every backend at once and returns the answers that arrived
/// before `timeout`, in arrival order.
pub async fn fan_out(ctx: &CallContext<'_>, timeout: Duration, timer: &mut Timer) -> Vec<Outcome> {
    let backends = &ctx.plan.backends;
    if backends.len() == 1 {
        // Most endpoints have one backend: its call is polled where it is,
        // without a box to allocate and move the call's state into.
        let outcome = match target_of(ctx, 0, &[]) {
            Ok(target) => {
                let call = std::pin::pin!(call_concurrently(ctx, 0, target));
                timer.within(timeout, call).await
            }
            Err(refused) => Some(refused),
        };
        return outcome.into_iter().collect();
    }
    let mut futures = Vec::with_capacity(backends.len());
    for i in 0..backends.len() {
        futures.push(match target_of(ctx, i, &[]) {
            // Made in its box (`rt::boxed`), not copied into it.
            Ok(target) => crate::rt::boxed(|| call_concurrently(ctx, i, target))
                as Pin<Box<dyn Future<Output = Outcome> + '_>>,
            Err(refused) => Box::pin(std::future::ready(refused)),
        });
    }
    let mut set = Unordered::new(futures);
    let mut outcomes = Vec::with_capacity(backends.len());
    let collect = async {
        while let Some(outcome) = std::future::poll_fn(|cx| set.poll_next(cx)).await {
            outcomes.push(outcome);
        }
    };
    // All answered, or the deadline fired: the rest are dropped with `set`,
    // which closes their connections instead of pooling them dirty.
    let _ = timer.within(timeout, collect).await;
    outcomes
}

/// `proxy.sequential`: one backend after the other, each able to use
/// `{respN_field}` values from the (manipulated) responses before it.
/// Stops at the first failure. Returns the outcomes and the documents
/// already decoded (sequential responses are decoded as they arrive),
/// with their number literals.
pub async fn sequential(
    ctx: &CallContext<'_>,
    timeout: Duration,
    timer: &mut Timer,
) -> (Vec<Outcome>, Vec<Value<'static>>, Literals) {
    let deadline = std::time::Instant::now() + timeout;
    let mut outcomes = Vec::new();
    let mut docs: Vec<Value<'static>> = Vec::new();
    let mut literals = Literals::default();
    for (i, backend) in ctx.plan.backends.iter().enumerate() {
        // `{respN_field}` numbers go on as the backend wrote them.
        let target = match with_literals(&mut literals, || target_of(ctx, i, &docs)) {
            Ok(target) => target,
            Err(refused) => {
                outcomes.push(refused);
                break;
            }
        };
        if std::time::Instant::now() >= deadline {
            break;
        }
        // Later calls start later: their own clock read, when measured.
        let started = if ctx.metrics.is_some() {
            std::time::Instant::now()
        } else {
            ctx.started
        };
        if backend.lua.is_some() {
            let raw: Vec<Option<&[u8]>> = outcomes
                .iter()
                .map(|o: &Outcome| o.result.as_ref().ok().map(|r| r.body.as_slice()))
                .collect();
            super::lua::propagate(ctx.plan, ctx.facts, i, &docs, &raw);
        }
        let Some(mut outcome) = timer.until(deadline, call(ctx, i, target, started)).await else {
            break;
        };
        let doc = match &mut outcome.result {
            Ok(resp) if backend.encoding == BackendEncoding::NoOp || is_success(resp.status) => {
                decode(
                    backend.encoding,
                    backend.is_collection,
                    &mut resp.body,
                    &mut literals,
                )
                .map(|v| backend.manipulation.apply(v).into_static())
                .ok()
            }
            _ => None,
        };
        // A failed response check drops the data and ends the chain like
        // a failed call.
        let doc = match doc.map(|doc| check_backend_response(backend, &doc).map(|()| doc)) {
            Some(Err(rejected)) => {
                outcome.result = Err(BackendError::Rejected(rejected));
                None
            }
            Some(Ok(doc)) => Some(doc),
            None => None,
        };
        outcomes.push(outcome);
        match doc {
            Some(doc) => docs.push(doc),
            None => break,
        }
    }
    (outcomes, docs, literals)
}

/// A set of futures polled together, yielding each output as it is ready
/// (a minimal `FuturesUnordered`: the sets here hold a handful of calls).
pub(super) struct Unordered<'a, T> {
    futures: Vec<Option<Pin<Box<dyn Future<Output = T> + 'a>>>>,
    pending: usize,
}

impl<'a, T> Unordered<'a, T> {
    pub(super) fn new(futures: Vec<Pin<Box<dyn Future<Output = T> + 'a>>>) -> Self {
        let pending = futures.len();
        Unordered {
            futures: futures.into_iter().map(Some).collect(),
            pending,
        }
    }

    /// `Ready(None)` once every future has completed.
    pub(super) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if self.pending == 0 {
            return Poll::Ready(None);
        }
        for slot in &mut self.futures {
            if let Some(future) = slot
                && let Poll::Ready(out) = future.as_mut().poll(cx)
            {
                *slot = None;
                self.pending -= 1;
                return Poll::Ready(Some(out));
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::concurrent_budget;
    use std::time::Duration;

    // The precise figure; tests/aggregation.rs checks the cut end to end
    // with coarse margins.
    #[test]
    fn concurrent_calls_get_75_percent_of_the_timeout() {
        assert_eq!(
            concurrent_budget(Duration::from_millis(250)),
            Duration::from_micros(187_500)
        );
        assert_eq!(
            concurrent_budget(Duration::from_secs(1)),
            Duration::from_millis(750)
        );
    }
}
