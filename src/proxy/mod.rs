//! KrakenD's proxy pipeline on top of `upstream` and `pipeline`: per
//! endpoint, call the backends (at once, in sequence, or streamed for
//! no-op), then merge, manipulate and encode what came back.
//!
//! Owns no sockets of its own: the connection driver hands it the client
//! stream only for no-op streaming.

mod fanout;
mod noop;
mod plan;
mod query;
mod request;
mod respond;
mod shadow;
mod steps;
mod validate;
pub mod websocket;

use crate::rt::Timer;

pub use fanout::{CallContext, Outcome, fan_out, sequential};
pub use noop::{NoOpEnd, Relayed, relay};
pub use plan::{BackendPlan, EndpointPlan, PlanError, WorkerShare, compile_endpoint};
pub use query::{encode_query, parse_query};
pub use request::{
    ClientRequest, KRAKEND_VERSION, USER_AGENT, backend_headers, params_fit_segments,
};
pub use respond::{
    ResponseContext, failure_status, finish, write_failure, write_merged, write_refusal,
};
pub use steps::{Refusal, RequestFacts, ResponseStep, Step, StepInput, run_before};

/// Runs a non-no-op endpoint and writes the whole response into `out`.
/// `body` is scratch space for the encoded body; `timer` is the
/// connection's, for the endpoint's deadline.
pub async fn handle(
    call: &CallContext<'_>,
    ctx: &ResponseContext<'_>,
    body: &mut Vec<u8>,
    out: &mut Vec<u8>,
    timer: &mut Timer,
) -> Handled {
    let plan = call.plan;
    shadow::mirror(call);
    let timeout = merge_timeout(plan);
    let complete = if plan.sequential && plan.backends.len() > 1 {
        let (mut outcomes, docs, literals) = sequential(call, timeout, timer).await;
        write_merged(call, &mut outcomes, Some(docs), literals, ctx, body, out)
    } else {
        let mut outcomes = fan_out(call, timeout, timer).await;
        let literals = crate::pipeline::Literals::default();
        write_merged(call, &mut outcomes, None, literals, ctx, body, out)
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
