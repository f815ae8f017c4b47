//! Metrics (`telemetry/opentelemetry` with a Prometheus exporter): KrakenD's
//! metric families, and each worker's own figures.
//!
//! - `recorder`: what a worker calls on the request path; plain numbers
//!   behind a `RefCell`, nothing shared.
//! - `figures`: the numbers, in a layout fixed by the configuration, so
//!   workers' figures add up element by element.
//! - `board`: where each worker publishes a copy of its figures (once a
//!   second, or when a scrape asks) and where a scrape reads them.
//! - `serve` and `render`: `GET /metrics` on the exporter's port, the
//!   Prometheus text format with krakend-otel's names; `process`:
//!   `process_*` from `/proc`.
//! - `stats`, `sample` and `stats_json`: KrakenD's legacy `/__stats`
//!   (`telemetry/metrics`, krakend-metrics) on its own port, from the
//!   same per-worker recording (docs/stats.md).

mod board;
mod figures;
mod histogram;
mod process;
mod recorder;
mod render;
mod sample;
mod serve;
mod stats;
mod stats_json;

pub use board::Board;
pub use figures::{Figures, StageOutcome, WebSocketFigures};
pub use histogram::Histogram;
pub use recorder::{CallMeter, FinishedCall, Recorder};
pub use render::{address_and_port, route_label};
pub use serve::{Port, Scrapes, serve};
