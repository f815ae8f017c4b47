//! What the request path needs of one worker's configuration: its routes,
//! compiled endpoints, backend pools, edge screen and metrics. The worker
//! (`server::Worker`) builds and owns one per configuration generation and
//! hands it to [`super::exchange::serve`] with each request, whatever the
//! protocol.

use std::rc::Rc;

use super::edge::Edge;
use super::plan::EndpointPlan;
use crate::config::Config;
use crate::http::Method;
use crate::router::Router;
use crate::upstream::Pools;

pub struct Service {
    pub config: Rc<Config>,
    pub router: Router,
    pub endpoints: Vec<EndpointPlan>,
    /// Shared (`Rc`) with the shadow calls a request leaves running.
    pub pools: Rc<Pools>,
    /// Service-level checks run before routing (CORS, security, bots).
    pub edge: Edge,
    /// Metrics (`telemetry/opentelemetry`), when exported: the proxy stage
    /// and each backend call record into it (`CallContext::metrics`).
    pub metrics: Option<Rc<crate::metrics::Recorder>>,
    /// Traces (`crate::telemetry`), when exported over OTLP.
    pub tracer: Option<Rc<crate::telemetry::Tracer>>,
    /// `X-Krakend: Version ...\r\n`, the line KrakenD adds to every
    /// endpoint's response (`Version undefined` with `hide_version_header`).
    pub version_header: Box<[u8]>,
    /// The methods in the order gin's trees hold them (see
    /// [`Service::allow_for_405`]).
    pub method_order: Vec<Method>,
    /// Test builds only: the endpoint path named by
    /// `CUTTLE_TEST_PANIC_ENDPOINT`, whose requests panic (see
    /// [`Service::test_panic_trigger`]).
    #[cfg(debug_assertions)]
    pub test_panic_endpoint: Option<String>,
}

impl Service {
    /// A test hook for the tests of panic isolation, compiled only into
    /// debug builds (those `cargo test` runs; release builds have no such
    /// code) and armed only by the `CUTTLE_TEST_PANIC_ENDPOINT` environment
    /// variable, never by a configuration file: a request routed to the
    /// endpoint with that path panics in its connection task.
    #[cfg(debug_assertions)]
    pub fn test_panic_trigger(&self, endpoint: usize) {
        if let Some(path) = &self.test_panic_endpoint
            && self.config.endpoints[endpoint].path == *path
        {
            panic!("test-only panic trigger (CUTTLE_TEST_PANIC_ENDPOINT={path})");
        }
    }

    /// The `Allow` value of a 405 to `method` on `path`, or `None` when no
    /// other method has a route there (a 404). As gin's
    /// `handleHTTPRequest` (v1.12.0, `HandleMethodNotAllowed`, which lura
    /// turns on): every other method whose tree has a route for the path,
    /// joined with ", " in the order of gin's method trees. The health
    /// path is KrakenD's GET route, and with `auto_options` lura registers
    /// OPTIONS on every endpoint path. Allocates: error path only.
    pub fn allow_for_405(&self, method: Method, path: &[u8]) -> Option<String> {
        let mut allowed = self.router.allowed_methods(path);
        if self.config.router.auto_options && !allowed.is_empty() {
            allowed.push(Method::Options);
        }
        if self.config.router.health_path.as_deref().map(str::as_bytes) == Some(path) {
            allowed.push(Method::Get);
        }
        allowed.retain(|&m| m != method);
        allowed.sort_by_key(|m| self.method_order.iter().position(|o| o == m));
        allowed.dedup();
        (!allowed.is_empty()).then(|| {
            allowed
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}
