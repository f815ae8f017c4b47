//! `GET /metrics` on an exporter's port, served by the gateway's own
//! workers: each worker accepts on the port too (SO_REUSEPORT, like the
//! main port), so a scrape lands on one worker, which gathers every
//! worker's published figures (see `board`) and renders them.

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

/// What a worker needs to answer scrapes.
pub struct Scrapes {
    /// The worker's configuration in service (it changes on reload).
    pub config: Box<dyn Fn() -> Rc<Config>>,
    pub board: Arc<Board>,
}

/// Accepts scrapes on `listener` until the worker stops (the task is
/// dropped with the worker's loop).
pub async fn serve(listener: Listener, process_metrics: bool, scrapes: Rc<Scrapes>) {
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            rt::sleep(Duration::from_millis(10)).await;
            continue;
        };
        rt::spawn(answer(stream, process_metrics, scrapes.clone()));
    }
}

async fn answer(mut stream: Stream, process_metrics: bool, scrapes: Rc<Scrapes>) {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut end = 0;
    let deadline = Instant::now() + READ_LIMIT;
    let (method, is_metrics) = loop {
        match parse_request(&buf[..end], &HeadLimits::default()) {
            Ok(Parse::Complete(head)) => {
                let path = head.path.of(&buf);
                break (head.method, path == b"/metrics");
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
    if !matches!(method, Method::Get | Method::Head) {
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
    let mut out = Vec::with_capacity(body.len() + 256);
    write_status_line(&mut out, 200);
    write_header(
        &mut out,
        b"Content-Type",
        b"text/plain; version=0.0.4; charset=utf-8",
    );
    write_content_length(&mut out, text.len());
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
