//! KrakenD's proxy pipeline on top of `upstream` and `pipeline`: per
//! endpoint, call the backends (at once, in sequence, or streamed for
//! no-op), then merge, manipulate and encode what came back.
//!
//! [`exchange::serve`] is the one request path: edge screen, built-ins,
//! routing, steps, backend calls, finish. It owns no sockets and knows no
//! protocol: the codec (`server::conn` for HTTP/1.1, `server::h2`) hands
//! it a request view and a `ResponseSink` it writes the response into.

mod builtin;
mod edge;
pub mod exchange;
mod facts;
mod fanout;
mod handle;
mod lua;
mod noop;
mod plan;
mod request;
mod respond;
mod service;
mod shadow;
mod steps;
mod validate;
pub mod websocket;

pub use edge::{Edge, EdgeRequest, Screen};
pub use exchange::{Exchanged, Incoming, Scratch};
pub use facts::{Refusal, RequestFacts};
pub use fanout::{CallContext, Outcome, fan_out, sequential};
pub use handle::{Handled, handle};
pub use noop::{NoOpEnd, Relayed, relay};
pub use plan::{
    BackendPlan, EndpointPlan, PlanError, ResponseStep, Step, WorkerShare, compile_endpoint,
};
pub use request::{
    ClientRequest, KRAKEND_VERSION, USER_AGENT, backend_headers, params_fit_segments,
};
pub use respond::{
    Body, ResponseContext, failure_status, finish, write_failure, write_merged, write_refusal,
};
pub use service::Service;
pub use steps::{StepInput, run_before};
