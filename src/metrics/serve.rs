//! `GET /metrics` on an exporter's port and `GET /__stats` on
//! `telemetry/metrics`' port, served by the gateway's own workers: each
//! worker accepts on the port too (SO_REUSEPORT, like the main port), so a
//! scrape lands on one worker, which gathers every worker's published
//! figures (see `board`) and renders them.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::board::Board;
use super::figures::Figures;
use super::render::{WorkerView, render};
use crate::config::Config;
use crate::http::{
    HeadLimits, Method, Parse, parse_request, write_content_length, write_header, write_status_line,
};
use crate::rt::{self, Listener, Stream};

/// A scrape request must arrive whole within this.
const READ_LIMIT: Duration = Duration::from_secs(5);
const MAX_HEAD: usize = 8 * 1024;

/// What a metrics port serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// A Prometheus exporter's `/metrics`, with `process_*` or not.
    Prometheus { process_metrics: bool },
    /// `telemetry/metrics`' `/__stats` (krakend-metrics `gin/metrics.go`
    /// `NewEngine`: that one route, GET only, 404 and 405 otherwise).
    Stats,
}

/// What a worker needs to answer scrapes.
pub struct Scrapes {
    /// The worker's configuration in service (it changes on reload).
    pub config: Box<dyn Fn() -> Rc<Config>>,
    pub board: Arc<Board>,
}

/// Accepts scrapes on `listener` until the worker stops (the task is
/// dropped with the worker's loop).
pub async fn serve(listener: Listener, port: Port, scrapes: Rc<Scrapes>) {
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            rt::sleep(Duration::from_millis(10)).await;
            continue;
        };
        rt::spawn(answer(stream, port, scrapes.clone()));
    }
}

async fn answer(mut stream: Stream, port: Port, scrapes: Rc<Scrapes>) {
    let route: &[u8] = match port {
        Port::Prometheus { .. } => b"/metrics",
        Port::Stats => b"/__stats",
    };
    let mut buf = vec![0u8; MAX_HEAD];
    let mut end = 0;
    let deadline = Instant::now() + READ_LIMIT;
    let (method, is_metrics) = loop {
        match parse_request(&buf[..end], &HeadLimits::default()) {
            Ok(Parse::Complete(head)) => {
                let path = head.path.of(&buf);
                break (head.method, path == route);
            }
            Ok(Parse::Partial) if end < buf.len() => {}
            _ => return reply(&mut stream, 400, b"bad request\n").await,
        }
        match stream.read_until(&mut buf[end..], deadline).await {
            Ok(0) | Err(_) => return,
            Ok(n) => end += n,
        }
    };
    if !is_metrics {
        return reply(&mut stream, 404, b"404 page not found\n").await;
    }
    let allowed = match port {
        Port::Prometheus { .. } => matches!(method, Method::Get | Method::Head),
        Port::Stats => method == Method::Get,
    };
    if !allowed {
        return reply(&mut stream, 405, b"405 method not allowed\n").await;
    }
    let collected = scrapes.board.collect().await;
    let config = (scrapes.config)();
    let mut sum = Figures::new(&config);
    for (_, figures) in &collected {
        // Right after a reload, a worker that has not switched yet still
        // publishes the previous layout: left out of this scrape.
        if let Some(figures) = figures.as_deref().filter(|f| sum.same_layout(f)) {
            sum.add(figures);
        }
    }
    let workers: Vec<WorkerView<'_>> = collected
        .iter()
        .enumerate()
        .map(|(worker, (cpu, figures))| WorkerView {
            worker,
            cpu: *cpu,
            figures: figures.as_deref(),
        })
        .collect();
    let mut text = String::with_capacity(64 * 1024);
    let Port::Prometheus { process_metrics } = port else {
        let (Some(settings), Some(stats)) = (&config.stats, &sum.stats) else {
            return reply(&mut stream, 404, b"404 page not found\n").await;
        };
        super::stats_json::render(&config, settings, stats, &mut text);
        return write_body(
            &mut stream,
            b"application/json; charset=utf-8",
            text.as_bytes(),
        )
        .await;
    };
    let layers =
        config
            .telemetry
            .as_ref()
            .map(|t| t.layers)
            .unwrap_or(crate::config::MetricLayers {
                global: false,
                proxy: false,
                backend_stage: false,
                round_trip: false,
                read_payload: false,
            });
    render(&config, layers, &sum, &workers, &mut text);
    // The process's Redis connections, for the limits counted there.
    crate::redis::health::render_metrics(&mut text);
    if process_metrics {
        super::process::render(&mut text);
    }
    let body = if method == Method::Head {
        &b""[..]
    } else {
        text.as_bytes()
    };
    write_head_and(
        &mut stream,
        b"text/plain; version=0.0.4; charset=utf-8",
        text.len(),
        body,
    )
    .await;
}

async fn write_body(stream: &mut Stream, content_type: &[u8], body: &[u8]) {
    write_head_and(stream, content_type, body.len(), body).await;
}

/// A 200 announcing `length` bytes, then `body` (empty for HEAD), and close.
async fn write_head_and(stream: &mut Stream, content_type: &[u8], length: usize, body: &[u8]) {
    let mut out = Vec::with_capacity(body.len() + 256);
    write_status_line(&mut out, 200);
    write_header(&mut out, b"Content-Type", content_type);
    write_content_length(&mut out, length);
    write_header(&mut out, b"Connection", b"close");
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    let _ = stream.write_all(&out).await;
    stream.shutdown_write();
}

async fn reply(stream: &mut Stream, status: u16, body: &[u8]) {
    let mut out = Vec::with_capacity(256);
    write_status_line(&mut out, status);
    write_header(&mut out, b"Content-Type", b"text/plain; charset=utf-8");
    write_content_length(&mut out, body.len());
    write_header(&mut out, b"Connection", b"close");
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    let _ = stream.write_all(&out).await;
    stream.shutdown_write();
}
