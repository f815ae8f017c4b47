//! cuttle: a thread-per-core API gateway that serves KrakenD CE (v3) configurations.
//!
//! See ARCHITECTURE.md for the map of modules and the life of a request.

pub mod auth;
pub mod check;
pub mod config;
pub mod demo;
pub mod http;
pub mod logging;
pub mod lua;
pub mod metrics;
pub mod modifier;
pub mod pipeline;
pub mod prepare;
pub mod process;
pub mod proxy;
pub mod qos;
pub mod redis;
pub mod router;
pub mod rt;
pub mod security;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod upstream;
pub mod validation;

/// For the fuzz targets and tests: a worker serving given bytes.
#[cfg(any(test, feature = "harness"))]
#[doc(hidden)]
pub use server::harness;
