//! Shadow backends (`"extra_config": {"proxy": {"shadow": true}}`), as lura
//! `proxy/shadow.go` does them: the endpoint's proxy sees only the other
//! backends; each request is also sent, as a copy (lura's `CloneRequest`:
//! headers, parameters and body), to the shadow backends, in a task of its
//! own whose answers are discarded. The client's response never waits for
//! it and never changes with it. Steps before the proxy (rate limit, JWT,
//! CEL, JSON Schema) run first, as krakend-ce wraps the shadow factory in
//! them: a refused request is not mirrored.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::fanout::{CallContext, Unordered, is_success};
use super::plan::BackendPlan;
use super::request::{backend_target, body_for, headers_for};
use super::validate::check_backend_request;
use crate::config::BackendEncoding;
use crate::http::ResponseBody;
use crate::metrics::Recorder;
use crate::modifier::martian;
use crate::upstream::{BackendError, Pools, Request};

/// A shadow answer's body is read and thrown away up to this size, so the
/// connection can be pooled again; a larger one closes the connection
/// instead of being read (nothing of it is kept either way).
const DISCARD_BYTES: usize = 64 * 1024;

/// What the shadow calls of one request own: they outlive the request.
struct Mirrored {
    pools: Rc<Pools>,
    metrics: Option<Rc<Recorder>>,
    endpoint: usize,
    /// The header lines every backend gets (`proxy::backend_headers`).
    headers: Box<[u8]>,
    body: Box<[u8]>,
}

/// One shadow's request: its path and query, and its own header lines when
/// its `input_headers` filter the shared ones (`proxy::headers_for`).
struct Target {
    path: Vec<u8>,
    own_headers: Option<Box<[u8]>>,
}

/// Spawns the request's shadow calls on this worker (nothing when the
/// endpoint has no shadow backend). Called before the other backends are,
/// as lura starts its shadow goroutine before calling the proxy.
#[inline]
pub fn mirror(ctx: &CallContext<'_>) {
    // Most endpoints have no shadow: the check costs them nothing more,
    // while the call below sets up a large frame (about 110 instructions
    // per request measured with callgrind when it was one function).
    if !ctx.plan.shadows.is_empty() {
        mirror_to_shadows(ctx);
    }
}

#[inline(never)]
fn mirror_to_shadows(ctx: &CallContext<'_>) {
    let plan = ctx.plan;
    let mut calls: Vec<(Rc<BackendPlan>, Target)> = Vec::with_capacity(plan.shadows.len());
    for shadow in &plan.shadows {
        let mut target = Vec::with_capacity(64);
        if let Err(refused) = backend_target(plan, shadow, ctx.req, ctx.facts, &[], &mut target) {
            tracing::debug!(endpoint = %plan.path, "not mirroring to a shadow backend: {refused}");
            continue;
        }
        if let Err(rejected) = check_backend_request(plan, shadow, ctx.req, ctx.facts, &target) {
            tracing::debug!(endpoint = %plan.path, "not mirroring to a shadow backend: {rejected}");
            continue;
        }
        let own_headers = shadow.input_headers.as_ref().map(|_| {
            let mut own = Vec::new();
            headers_for(plan, shadow, ctx.req, ctx.facts, ctx.headers, &mut own);
            own.into_boxed_slice()
        });
        calls.push((
            shadow.clone(),
            Target {
                path: target,
                own_headers,
            },
        ));
    }
    if calls.is_empty() {
        return;
    }
    let mirrored = Rc::new(Mirrored {
        pools: ctx.pools.clone(),
        metrics: ctx.metrics.cloned(),
        endpoint: ctx.endpoint,
        headers: ctx.headers.into(),
        body: ctx.req.body.into(),
    });
    // `concurrent_calls` applies to shadows too (lura copies it to every
    // backend): N copies, the first good answer cancels the others, within
    // 75% of the endpoint timeout (lura's concurrent middleware).
    let copies = plan.concurrent_calls.max(1) as usize;
    let limit = if copies > 1 {
        plan.shadow_timeout.min(plan.timeout * 3 / 4)
    } else {
        plan.shadow_timeout
    };
    let endpoint = plan.path.clone();
    crate::rt::spawn(async move {
        let all = async {
            if calls.len() == 1 {
                let (backend, target) = &calls[0];
                call_copies(&mirrored, backend, target, limit, copies).await;
                return;
            }
            let mut set = Unordered::new(
                calls
                    .iter()
                    .map(|(backend, target)| {
                        Box::pin(call_copies(&mirrored, backend, target, limit, copies)) as _
                    })
                    .collect(),
            );
            while std::future::poll_fn(|cx| set.poll_next(cx)).await.is_some() {}
        };
        // A panic in a shadow call must not take the worker down (the
        // client has its answer already): it is logged and dropped.
        if let Err(panic) = crate::rt::isolate(all).await {
            tracing::error!(%endpoint, "a shadow backend call panicked: {panic}");
        }
    });
}

/// `copies` concurrent calls of one shadow (`concurrent_calls`): the first
/// good answer ends the others (dropped: their connections are closed).
async fn call_copies(
    mirrored: &Mirrored,
    backend: &BackendPlan,
    target: &Target,
    limit: Duration,
    copies: usize,
) {
    if copies <= 1 {
        call(mirrored, backend, target, limit).await;
        return;
    }
    let mut set = Unordered::new(
        (0..copies)
            .map(|_| Box::pin(call(mirrored, backend, target, limit)) as _)
            .collect(),
    );
    while let Some(good) = std::future::poll_fn(|cx| set.poll_next(cx)).await {
        if good {
            break;
        }
    }
}

/// One shadow call, at most `limit` long, measured like any backend call
/// (under its own backend's series: `krakend_backend_shadow="true"`).
/// Returns whether the answer was good (as KrakenD takes it).
async fn call(
    mirrored: &Mirrored,
    backend: &BackendPlan,
    target: &Target,
    limit: Duration,
) -> bool {
    let admitted = match backend.admit_shared().await {
        Ok(admitted) => admitted,
        Err(refused) => {
            tracing::debug!("shadow backend not called: {refused}");
            return false;
        }
    };
    let host = backend.pick_host();
    let meter = mirrored
        .metrics
        .as_ref()
        .and_then(|m| m.backend_call(mirrored.endpoint, backend.index, host, Instant::now()));
    let result = crate::rt::within(limit, exchange(mirrored, backend, host, target))
        .await
        .unwrap_or(Err(BackendError::Timeout));
    let good = match &result {
        Ok((status, _)) => is_success(*status) || backend.encoding == BackendEncoding::NoOp,
        Err(_) => false,
    };
    if let Some(meter) = meter {
        match &result {
            Ok((status, bytes)) => meter.answered(*status, *bytes, good),
            Err(e) => meter.failed_at(Instant::now(), e),
        }
    }
    if let Err(e) = &result {
        tracing::debug!("shadow backend call failed: {e}");
    }
    BackendPlan::record(admitted, good);
    good
}

/// Sends the request and reads the answer's head; its body is read and
/// dropped (at most [`DISCARD_BYTES`], else the connection is closed).
/// Returns the status and the body's size, when known.
async fn exchange(
    mirrored: &Mirrored,
    backend: &BackendPlan,
    host: usize,
    target: &Target,
) -> Result<(u16, Option<u64>), BackendError> {
    // The body goes where it goes for any backend call (`fanout::call`).
    let body = body_for(backend.method, &mirrored.body);
    let request = Request {
        method: backend.method,
        path_and_query: &target.path,
        headers: target.own_headers.as_deref().unwrap_or(&mirrored.headers),
        body,
        chunked: backend.chunked_request_body,
        body_on_redirect: backend.send_body_on_redirect,
    };
    let mut scratch =
        Vec::with_capacity(128 + target.path.len() + request.headers.len() + body.len());
    // `modifier/martian` edits a shadow's request too (its answer is dropped).
    let mut conn = martian::open(
        (backend.martian.as_ref(), &backend.base_urls[host]),
        &mirrored.pools,
        &backend.pools[host],
        &request,
        &mut scratch,
        &mut crate::http::WholeBody,
        &mut None,
    )
    .await?;
    let (status, framing, keep_alive) =
        (conn.head().status, conn.head().body, conn.head().keep_alive);
    conn.consume_head();
    let announced = match framing {
        ResponseBody::Length(n) => Some(n),
        ResponseBody::Empty => Some(0),
        _ => None,
    };
    let small = !matches!(framing, ResponseBody::Length(n) if n > DISCARD_BYTES as u64);
    if small {
        scratch.clear();
        if conn
            .read_body(&framing, DISCARD_BYTES, &mut scratch)
            .await
            .is_ok()
        {
            conn.finish(keep_alive);
            return Ok((status, Some(scratch.len() as u64)));
        }
    }
    // Too large to read for nothing: dropping the connection closes it.
    Ok((status, announced))
}
