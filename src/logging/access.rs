//! The access log: one line per answered request, formatted by the worker
//! into its own buffer and handed to the writer thread in batches.
//!
//! The text form starts as gin's logger (KrakenD's access log) does, so
//! tools that read KrakenD's lines read these:
//!
//! ```text
//! [GIN] 2026/12/01 - 07:45:09 | 200 |    1.134431ms |       10.0.0.7 | GET     "/users/7" route=/users/{id} bytes=52 completed=true
//! ```
//!
//! then adds what gin does not know: the endpoint pattern, the body bytes
//! and whether every backend answered. With `format: logstash` each line is
//! a JSON object instead. The query string is left out in both: it often
//! carries keys and tokens.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use super::sink::{self, Batch};
use super::text::{Utc, json_escaped, json_string, quoted, write_go_duration};
use crate::config::{Config, LogFormat};
use crate::http::Method;

/// A batch is handed over once it holds this much (or on the next tick).
const BATCH_BYTES: usize = 32 * 1024;

/// One answered request, as the access log needs it.
pub struct Entry<'a> {
    pub method: Method,
    pub path: &'a [u8],
    /// The endpoint pattern (`/users/{id}`); `None` for built-ins and 404s.
    pub route: Option<&'a str>,
    pub status: u16,
    pub body_bytes: usize,
    /// From the request's first byte to the response written.
    pub elapsed: Duration,
    pub client: IpAddr,
    pub completed: Option<bool>,
}

/// One worker's access log.
pub struct AccessLog {
    json: Option<String>,
    skip: Vec<Box<[u8]>>,
    tx: SyncSender<Batch>,
    buf: RefCell<Vec<u8>>,
    lines: Cell<u64>,
    /// Lines this worker dropped because the writer was behind.
    dropped: Cell<u64>,
    /// How many of `dropped` were reported to the process-wide total.
    reported: Cell<u64>,
}

impl AccessLog {
    /// The worker's access log, or `None` when it is switched off
    /// (`disable_access_log`) or no writer runs (library use, benches).
    pub fn new(config: &Config) -> Option<AccessLog> {
        if !config.router.access_log {
            return None;
        }
        let tx = sink::sender()?;
        Some(AccessLog {
            json: (config.logging.format == LogFormat::Logstash)
                .then(|| config.logging.module.clone()),
            skip: config
                .router
                .logger_skip_paths
                .iter()
                .map(|p| p.as_bytes().into())
                .collect(),
            tx,
            buf: RefCell::new(Vec::with_capacity(BATCH_BYTES + 1024)),
            lines: Cell::new(0),
            dropped: Cell::new(0),
            reported: Cell::new(0),
        })
    }

    /// Access log lines this worker has dropped since it started (a plain
    /// per-worker counter, for the metrics).
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    pub fn record(&self, entry: &Entry<'_>) {
        if self.skip.iter().any(|p| **p == *entry.path) {
            return;
        }
        let full = {
            let mut buf = self.buf.borrow_mut();
            write_line(&mut buf, entry, self.json.as_deref());
            buf.len() >= BATCH_BYTES
        };
        self.lines.set(self.lines.get() + 1);
        if full {
            self.flush();
        }
    }

    /// Hands the buffered lines to the writer; if it is behind, they are
    /// dropped and counted. Called when a batch is full, on the worker's
    /// tick, and when the worker stops.
    pub fn flush(&self) {
        let lines = self.lines.replace(0);
        if lines == 0 {
            return;
        }
        let batch = std::mem::replace(
            &mut *self.buf.borrow_mut(),
            Vec::with_capacity(BATCH_BYTES + 1024),
        );
        if !sink::offer(&self.tx, Batch::Access(batch)) {
            self.dropped.set(self.dropped.get() + lines);
        }
    }

    /// Adds this worker's new drops to the process-wide count (read by the
    /// periodic report). Once per tick: no shared write per request.
    pub fn report_drops(&self) {
        let new = self.dropped.get() - self.reported.get();
        if new > 0 {
            sink::ACCESS_DROPPED.fetch_add(new, Ordering::Relaxed);
            self.reported.set(self.dropped.get());
        }
    }
}

/// Appends `entry`'s access log line to `out`: gin's text, or with
/// `json_module` a logstash JSON object (what the worker's buffer gets;
/// public for the benchmark).
pub fn write_line(out: &mut Vec<u8>, entry: &Entry<'_>, json_module: Option<&str>) {
    match json_module {
        None => write_text(out, entry),
        Some(module) => write_json(out, entry, module),
    }
}

fn write_text(out: &mut Vec<u8>, e: &Entry<'_>) {
    out.extend_from_slice(b"[GIN] ");
    Utc::now().write_gin(out);
    out.extend_from_slice(b" | ");
    let mut status = itoa::Buffer::new();
    out.extend_from_slice(status.format(e.status).as_bytes());
    out.extend_from_slice(b" | ");
    let start = out.len();
    write_go_duration(out, e.elapsed);
    pad_start(out, start, 13);
    out.extend_from_slice(b" | ");
    let start = out.len();
    crate::http::write_ip(out, e.client);
    pad_start(out, start, 15);
    out.extend_from_slice(b" | ");
    let method = e.method.as_str().as_bytes();
    out.extend_from_slice(method);
    out.extend(std::iter::repeat_n(
        b' ',
        8usize.saturating_sub(method.len()),
    ));
    quoted(out, e.path);
    out.extend_from_slice(b" route=");
    out.extend_from_slice(e.route.unwrap_or("-").as_bytes());
    out.extend_from_slice(b" bytes=");
    let mut bytes = itoa::Buffer::new();
    out.extend_from_slice(bytes.format(e.body_bytes).as_bytes());
    out.extend_from_slice(match e.completed {
        Some(true) => b" completed=true\n".as_slice(),
        Some(false) => b" completed=false\n",
        None => b" completed=-\n",
    });
}

fn write_json(out: &mut Vec<u8>, e: &Entry<'_>, module: &str) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"{\"@timestamp\":\"");
    Utc::now().write_rfc3339(out, b"+00:00");
    out.extend_from_slice(b"\",\"@version\":1,\"level\":\"INFO\",\"module\":");
    json_string(out, module.as_bytes());
    out.extend_from_slice(b",\"type\":\"access\",\"message\":\"");
    out.extend_from_slice(e.method.as_str().as_bytes());
    out.push(b' ');
    json_escaped(out, e.path);
    out.push(b' ');
    out.extend_from_slice(n.format(e.status).as_bytes());
    out.push(b'"');
    out.extend_from_slice(b",\"method\":\"");
    out.extend_from_slice(e.method.as_str().as_bytes());
    out.extend_from_slice(b"\",\"path\":");
    json_string(out, e.path);
    out.extend_from_slice(b",\"route\":");
    match e.route {
        Some(route) => json_string(out, route.as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"status\":");
    out.extend_from_slice(n.format(e.status).as_bytes());
    out.extend_from_slice(b",\"bytes\":");
    out.extend_from_slice(n.format(e.body_bytes).as_bytes());
    out.extend_from_slice(b",\"duration_us\":");
    out.extend_from_slice(n.format(e.elapsed.as_micros()).as_bytes());
    out.extend_from_slice(b",\"client_ip\":\"");
    crate::http::write_ip(out, e.client);
    out.extend_from_slice(b"\",\"completed\":");
    out.extend_from_slice(match e.completed {
        Some(true) => b"true}\n".as_slice(),
        Some(false) => b"false}\n",
        None => b"null}\n",
    });
}

/// Right-aligns what was written since `start` in `width` columns, as
/// Go's `%13v` does (it counts characters: `µ` is two bytes, one column).
fn pad_start(out: &mut Vec<u8>, start: usize, width: usize) {
    let columns = out[start..].iter().filter(|b| (**b & 0xc0) != 0x80).count();
    let short = width.saturating_sub(columns);
    if short > 0 {
        out.splice(start..start, std::iter::repeat_n(b' ', short));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &'static [u8]) -> Entry<'static> {
        Entry {
            method: Method::Get,
            path,
            route: Some("/users/{id}"),
            status: 200,
            body_bytes: 52,
            elapsed: Duration::from_micros(1134),
            client: "10.0.0.7".parse().unwrap(),
            completed: Some(true),
        }
    }

    #[test]
    fn text_line() {
        let mut out = Vec::new();
        write_text(&mut out, &entry(b"/users/7"));
        let line = String::from_utf8(out).unwrap();
        let (_, rest) = line.split_once(" | 200 | ").unwrap();
        assert!(line.starts_with("[GIN] 20"), "{line}");
        assert!(
            rest.ends_with(
                " |        10.0.0.7 | GET     \"/users/7\" route=/users/{id} bytes=52 completed=true\n"
            ),
            "{line}"
        );
    }

    #[test]
    fn json_line_is_json() {
        let mut out = Vec::new();
        write_json(&mut out, &entry(b"/users/\"7\xff"), "KRAKEND");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["path"], "/users/\"7\u{fffd}");
        assert_eq!(v["route"], "/users/{id}");
        assert_eq!(v["status"], 200);
        assert_eq!(v["bytes"], 52);
        assert_eq!(v["client_ip"], "10.0.0.7");
        assert_eq!(v["completed"], true);
        assert_eq!(v["module"], "KRAKEND");
        assert_eq!(out.last(), Some(&b'\n'));
    }
}
