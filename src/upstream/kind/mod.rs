//! Backend kinds: how one backend call reaches its service.
//!
//! HTTP is the kind every backend has unless its configuration names
//! another (a `backend/...` namespace or a host scheme such as `nats://`);
//! HTTP calls go through `upstream::fetch` and never come here. Each other
//! kind lives in one file of this module and answers with the same
//! [`Response`] an HTTP backend gives (status, content type, body), so the
//! pipeline (decoding, filtering, grouping, merging, `X-KrakenD-Completed`,
//! metrics) does not know which kind answered.
//!
//! A kind's handle is built per worker from its settings when the worker
//! builds its plans (`proxy::plan`), and keeps whatever per-worker state
//! its protocol needs (a connection, a channel). Its calls run on the
//! worker's event loop and must never block it: I/O is async, and anything
//! that cannot be (a blocking client library) runs off the worker.

mod amqp;
pub mod amqp_agent;
mod graphql;
pub mod grpc;
pub mod nats;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use super::{BackendError, Pool, Pools, Request, Response};
use crate::config::ProtocolSettings;

/// One call of a non-HTTP backend.
pub struct ProtocolCall<'a> {
    /// The request as it would go to an HTTP backend: method, the
    /// url_pattern filled in (path and query), the header block (one
    /// `Name: value\r\n` line each) and the body.
    pub request: &'a Request<'a>,
    /// The endpoint's placeholders with the request's raw (still
    /// percent-encoded) values, in the order the endpoint declares them.
    pub params: &'a [(&'a str, &'a [u8])],
    /// Which of the backend's `host` entries the call goes to (round robin).
    pub host: usize,
    /// The backend's `host` entries as written.
    pub base_urls: &'a [String],
    /// This worker's HTTP pools, for kinds carried over HTTP (GraphQL,
    /// gRPC), and the pool of `host` when the backend has one.
    pub pools: &'a Rc<Pools>,
    pub pool: Option<&'a Rc<Pool>>,
    /// The largest response body the endpoint accepts.
    pub max_body: usize,
}

/// The future a kind's call returns: it borrows the kind and the call.
pub type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<Response, BackendError>> + 'a>>;

/// A backend kind's per-worker handle.
pub trait Protocol {
    /// Calls the backend once. Failures are `BackendError`s like an HTTP
    /// backend's, so they are answered, logged and counted the same way.
    fn call<'a>(&'a self, call: ProtocolCall<'a>) -> CallFuture<'a>;

    /// Whether the backend's `host` entries are HTTP base URLs that need a
    /// connection pool (GraphQL, gRPC) or the kind's own addresses.
    fn uses_http_pools(&self) -> bool {
        false
    }
}

/// This worker's handle for a backend with `settings`.
pub fn for_worker(settings: &ProtocolSettings) -> Rc<dyn Protocol> {
    match settings {
        ProtocolSettings::Graphql(settings) => Rc::new(graphql::Graphql::new(settings)),
        ProtocolSettings::Grpc(grpc) => Rc::new(grpc::Grpc::new(grpc.clone())),
        ProtocolSettings::Nats(nats) => nats::for_worker(nats),
        ProtocolSettings::Amqp(amqp) => Rc::new(amqp::Amqp::new(amqp)),
    }
}

/// Whether a backend's hosts are HTTP base URLs (and get pools) under
/// `settings`.
pub fn uses_http_pools(settings: Option<&ProtocolSettings>) -> bool {
    match settings {
        None => true,
        Some(settings) => match settings {
            // Carried over HTTP.
            ProtocolSettings::Graphql(_) => true,
            // Its own HTTP/2 connections (`grpc`), not the HTTP/1.1 pools.
            ProtocolSettings::Grpc(_) => false,
            ProtocolSettings::Nats(_) => false,
            ProtocolSettings::Amqp(_) => false,
        },
    }
}
