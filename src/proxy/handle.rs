//! A non-no-op endpoint: its backends called (at once or in sequence,
//! the shadows mirrored), their answers merged and written whole.

use super::fanout::{CallContext, fan_out, sequential};
use super::plan::EndpointPlan;
use super::respond::{ResponseContext, write_merged};
use super::shadow;
use crate::rt::Timer;

/// Runs a non-no-op endpoint and writes the whole response into `out`.
/// `body` is scratch space for the encoded body; `timer` is the
/// connection's, for the endpoint's deadline.
pub async fn handle<S: crate::http::ResponseSink>(
    call: &CallContext<'_>,
    ctx: &ResponseContext<'_>,
    body: &mut Vec<u8>,
    out: &mut S,
    timer: &mut Timer,
) -> Handled {
    let plan = call.plan;
    shadow::mirror(call);
    let timeout = merge_timeout(plan);
    let complete = if plan.sequential && plan.backends.len() > 1 {
        let (mut outcomes, docs, literals) = sequential(call, timeout, timer).await;
        write_merged(call, &mut outcomes, Some(docs), literals, ctx, body, out).await
    } else {
        let mut outcomes = fan_out(call, timeout, timer).await;
        let literals = crate::pipeline::Literals::default();
        write_merged(call, &mut outcomes, None, literals, ctx, body, out).await
    };
    let mut ended = None;
    if let Some(metrics) = call.metrics {
        // lura hands the router an error with every incomplete response
        // (a failed or missing backend), none with a complete one.
        let outcome = crate::metrics::StageOutcome {
            error: !complete,
            canceled: false,
            complete,
        };
        let now = std::time::Instant::now();
        if let Some(lone) = call.lone_call.take() {
            metrics.call_ended(lone, now);
        }
        metrics.proxy(
            call.endpoint,
            now.saturating_duration_since(call.started),
            outcome,
        );
        ended = Some(now);
    }
    // Tracing: the proxy span (krakend-otel `lura/proxy_tracer.go`).
    if let Some(t) = call.trace {
        let status = out.written_status();
        t.tracer.proxy_span(
            t.request,
            call.endpoint,
            call.started,
            ended,
            status,
            complete,
        );
    }
    Handled { complete, ended }
}

/// What [`handle`] did.
pub struct Handled {
    /// Whether the response is complete (`X-KrakenD-Completed`).
    pub complete: bool,
    /// The clock reading that ended the proxy stage, when metrics took one.
    pub ended: Option<std::time::Instant>,
}

/// How long the backends of one request get. With several backends, lura's
/// merge middleware gives them 85% of the endpoint timeout and answers with
/// what arrived by then (`proxy/merging.go`, `serviceTimeout`); a single
/// backend has the whole endpoint timeout.
fn merge_timeout(plan: &EndpointPlan) -> std::time::Duration {
    merge_budget(plan.backends.len(), plan.timeout)
}

/// [`merge_timeout`] from the number of backends and the endpoint timeout.
fn merge_budget(backends: usize, timeout: std::time::Duration) -> std::time::Duration {
    if backends > 1 {
        timeout * 85 / 100
    } else {
        timeout
    }
}

#[cfg(test)]
mod tests {
    use super::merge_budget;
    use std::time::Duration;

    // The precise figures; tests/aggregation.rs checks the behaviour end to
    // end with coarse margins.
    #[test]
    fn several_backends_get_85_percent_of_the_timeout_a_single_one_all_of_it() {
        let second = Duration::from_secs(1);
        assert_eq!(merge_budget(2, second), Duration::from_millis(850));
        assert_eq!(
            merge_budget(5, Duration::from_secs(2)),
            Duration::from_millis(1700)
        );
        assert_eq!(merge_budget(1, second), second);
        assert_eq!(merge_budget(0, second), second);
    }
}
