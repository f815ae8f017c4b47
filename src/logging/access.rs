//! The access log: one line per answered request, formatted by the worker
//! into its own buffer and handed to the writer thread in batches.
//!
//! On the request path a worker only queues the request's plain values
//! (and copies its path); the lines are formatted [`FORMAT_BATCH`] at a
//! time. Formatting each line as its request ended ran the formatter's
//! code between two requests' worth of request-path code, which evicted
//! that code from the instruction cache (callgrind's cache simulation:
//! ~280 more misses per json request with metrics and the log on); in a
//! batch the formatter runs warm.
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
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use super::sink::{self, Batch};
use super::text::{GoDuration, Stamp, json_escaped, json_string, quoted};
use crate::config::{Config, LogFormat};
use crate::http::Method;
use crate::http::{ipv4_text, write_ip};

/// A batch is handed over once it holds this much (or on the next tick).
/// Each batch wakes the writer thread, which, when it shares a busy
/// worker's CPU, takes the CPU at once and leaves the worker cold
/// caches: with 32 KiB batches 8 times per 1,000 json requests, with
/// 128 KiB twice, and the cost of metrics and the log fell from +5.6-6.1%
/// to +3.5-4.5% CPU per aggregate request (tuning.md).
const BATCH_BYTES: usize = 128 * 1024;
/// Requests a worker queues before formatting their lines.
const FORMAT_BATCH: usize = 256;
/// ... or fewer, once their paths fill this much (long URIs).
const QUEUED_PATH_BYTES: usize = 64 * 1024;
/// Written buffers the writer hands back to a worker for reuse; when
/// they are all out, a worker allocates a new one.
const SPARE_BUFFERS: usize = 4;

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
    /// When the request ended (the line's timestamp): a reading of the
    /// monotonic clock, put in wall-clock time by the [`Stamp`].
    pub at: Instant,
    pub client: IpAddr,
    pub completed: Option<bool>,
}

/// One answered request, as a worker reports it to its access log (the
/// request path travels beside it).
#[derive(Debug, Clone, Copy)]
pub struct Answered {
    /// The endpoint (index into the config's endpoints); `None` for
    /// built-ins, 404s and requests refused before routing.
    pub endpoint: Option<usize>,
    pub method: Method,
    pub status: u16,
    pub body_bytes: usize,
    /// From the request's first byte to its end (the response written,
    /// or for a small built one, ready: `Observed::ended`).
    pub elapsed: Duration,
    /// The request's end: a reading of the monotonic clock.
    pub at: Instant,
    pub client: IpAddr,
    pub completed: Option<bool>,
}

/// Requests queued for formatting: each with where its path ends in
/// `paths` (it starts where the previous one's ends).
struct Queue {
    requests: Vec<(Answered, usize)>,
    paths: Vec<u8>,
}

/// One worker's access log.
pub struct AccessLog {
    json: Option<String>,
    skip: Vec<Box<[u8]>>,
    /// Each endpoint's pattern, by index (the lines' `route`).
    routes: Vec<Box<str>>,
    queue: RefCell<Queue>,
    tx: SyncSender<Batch>,
    buf: RefCell<Vec<u8>>,
    /// Buffers the writer has written and handed back (`spare_tx` is the
    /// writer's way back).
    spare: Receiver<Vec<u8>>,
    spare_tx: SyncSender<Vec<u8>>,
    stamp: RefCell<Stamp>,
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
        let (spare_tx, spare) = sync_channel(SPARE_BUFFERS);
        Some(AccessLog {
            spare,
            spare_tx,
            json: (config.logging.format == LogFormat::Logstash)
                .then(|| config.logging.module.clone()),
            skip: config
                .router
                .logger_skip_paths
                .iter()
                .map(|p| p.as_bytes().into())
                .collect(),
            routes: config
                .endpoints
                .iter()
                .map(|e| e.path.as_str().into())
                .collect(),
            queue: RefCell::new(Queue {
                requests: Vec::with_capacity(FORMAT_BATCH),
                paths: Vec::with_capacity(FORMAT_BATCH * 32),
            }),
            tx,
            buf: RefCell::new(Vec::with_capacity(BATCH_BYTES + 1024)),
            stamp: RefCell::new(Stamp::default()),
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

    /// Whether requests for `path` are logged (`logger_skip_paths`).
    pub fn logs(&self, path: &[u8]) -> bool {
        !self.skip.iter().any(|p| **p == *path)
    }

    /// Queues the line for `request` (to `path`); formats the queue once
    /// it holds a batch.
    pub fn record(&self, request: Answered, path: &[u8]) {
        if !self.logs(path) {
            return;
        }
        let full = {
            let mut queue = self.queue.borrow_mut();
            queue.paths.extend_from_slice(path);
            let end = queue.paths.len();
            queue.requests.push((request, end));
            queue.requests.len() >= FORMAT_BATCH || end >= QUEUED_PATH_BYTES
        };
        if full {
            self.format_queued();
        }
    }

    /// Formats the queued requests' lines into the batch buffer, handing
    /// it to the writer whenever it fills. Out of line: it runs once per
    /// batch, and inlined it would grow the request path's code.
    #[inline(never)]
    fn format_queued(&self) {
        let mut queue = self.queue.borrow_mut();
        let Queue { requests, paths } = &mut *queue;
        let mut start = 0;
        for &(ref request, end) in requests.iter() {
            let entry = Entry {
                method: request.method,
                path: &paths[start..end],
                route: request
                    .endpoint
                    .and_then(|i| self.routes.get(i))
                    .map(|r| &**r),
                status: request.status,
                body_bytes: request.body_bytes,
                elapsed: request.elapsed,
                at: request.at,
                client: request.client,
                completed: request.completed,
            };
            start = end;
            let full = {
                let mut buf = self.buf.borrow_mut();
                write_line(
                    &mut buf,
                    &entry,
                    self.json.as_deref(),
                    &mut self.stamp.borrow_mut(),
                );
                buf.len() >= BATCH_BYTES
            };
            self.lines.set(self.lines.get() + 1);
            if full {
                self.hand_over();
            }
        }
        requests.clear();
        paths.clear();
    }

    /// Formats what is queued and hands the buffered lines to the writer.
    /// Called on the worker's tick and when the worker stops.
    pub fn flush(&self) {
        self.format_queued();
        self.hand_over();
    }

    /// Hands the buffered lines to the writer; if it is behind, they are
    /// dropped and counted.
    fn hand_over(&self) {
        let lines = self.lines.replace(0);
        if lines == 0 {
            return;
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH_BYTES + 1024));
        let filled = std::mem::replace(&mut *self.buf.borrow_mut(), next);
        let batch = Batch::Access {
            lines: filled,
            back: self.spare_tx.clone(),
        };
        if !sink::offer(&self.tx, batch) {
            self.dropped.set(self.dropped.get() + lines);
        }
    }

    /// The worker's tick: hands the buffered lines over, reports drops,
    /// re-reads the wall clock.
    pub fn tick(&self) {
        self.flush();
        self.report_drops();
        self.stamp.borrow_mut().refresh();
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
/// public for the benchmark). `stamp` keeps the timestamp's text from one
/// line to the next.
pub fn write_line(
    out: &mut Vec<u8>,
    entry: &Entry<'_>,
    json_module: Option<&str>,
    stamp: &mut Stamp,
) {
    match json_module {
        None => write_text(out, entry, stamp),
        Some(module) => write_json(out, entry, module, stamp),
    }
}

fn write_text(out: &mut Vec<u8>, e: &Entry<'_>, stamp: &mut Stamp) {
    let route = e.route.unwrap_or("-").as_bytes();
    // Room for the whole line, so the appends below never reallocate.
    out.reserve(160 + e.path.len() + route.len());
    out.extend_from_slice(b"[GIN] ");
    stamp.write_gin(out, e.at);
    out.extend_from_slice(b" | ");
    match e.status {
        100..=999 => out.extend_from_slice(&three_digits(e.status)),
        _ => out.extend_from_slice(itoa::Buffer::new().format(e.status).as_bytes()),
    }
    out.extend_from_slice(b" | ");
    out.extend_from_slice(GoDuration::of(e.elapsed).padded(13));
    out.extend_from_slice(b" | ");
    match e.client {
        // Assembled right-aligned in its 15 columns.
        IpAddr::V4(v4) => out.extend_from_slice(&ipv4_text(v4).0),
        IpAddr::V6(_) => {
            let start = out.len();
            write_ip(out, e.client);
            let columns = out.len() - start;
            if columns < 15 {
                out.splice(start..start, SPACES[..15 - columns].iter().copied());
            }
        }
    }
    out.extend_from_slice(b" | ");
    let method = e.method.as_str().as_bytes();
    out.extend_from_slice(method);
    out.extend_from_slice(&SPACES[..8usize.saturating_sub(method.len())]);
    quoted(out, e.path);
    out.extend_from_slice(b" route=");
    out.extend_from_slice(route);
    out.extend_from_slice(b" bytes=");
    out.extend_from_slice(itoa::Buffer::new().format(e.body_bytes).as_bytes());
    out.extend_from_slice(match e.completed {
        Some(true) => b" completed=true\n".as_slice(),
        Some(false) => b" completed=false\n",
        None => b" completed=-\n",
    });
}

/// A status of three digits, as text.
fn three_digits(status: u16) -> [u8; 3] {
    [
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]
}

fn write_json(out: &mut Vec<u8>, e: &Entry<'_>, module: &str, stamp: &mut Stamp) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"{\"@timestamp\":\"");
    stamp.write_rfc3339(out, e.at, b"+00:00");
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
    write_ip(out, e.client);
    out.extend_from_slice(b"\",\"completed\":");
    out.extend_from_slice(match e.completed {
        Some(true) => b"true}\n".as_slice(),
        Some(false) => b"false}\n",
        None => b"null}\n",
    });
}

/// Spaces to pad a column with.
const SPACES: [u8; 16] = [b' '; 16];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::text::WallClock;
    use std::time::UNIX_EPOCH;

    /// A stamp on which `at` reads as 2026-12-01 07:45:09.042 UTC.
    fn stamp_for(at: Instant) -> Stamp {
        Stamp::new(WallClock::fixed(
            at,
            UNIX_EPOCH + Duration::from_millis(1_796_111_109_042),
        ))
    }

    fn entry(path: &'static [u8]) -> Entry<'static> {
        Entry {
            method: Method::Get,
            path,
            route: Some("/users/{id}"),
            status: 200,
            body_bytes: 52,
            elapsed: Duration::from_micros(1134),
            at: Instant::now(),
            client: "10.0.0.7".parse().unwrap(),
            completed: Some(true),
        }
    }

    fn text(entry: &Entry<'_>) -> String {
        let mut out = Vec::new();
        write_text(&mut out, entry, &mut stamp_for(entry.at));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_line() {
        assert_eq!(
            text(&entry(b"/users/7")),
            "[GIN] 2026/12/01 - 07:45:09 | 200 |       1.134ms |        10.0.0.7 | GET     \"/users/7\" route=/users/{id} bytes=52 completed=true\n"
        );
    }

    #[test]
    fn text_columns_are_padded_as_go_pads_them() {
        let mut e = entry(b"/");
        // `µ` is two bytes and one column.
        e.elapsed = Duration::from_nanos(4_529);
        e.client = "203.0.113.255".parse().unwrap();
        e.route = None;
        e.completed = None;
        assert_eq!(
            text(&e),
            "[GIN] 2026/12/01 - 07:45:09 | 200 |       4.529µs |   203.0.113.255 | GET     \"/\" route=- bytes=52 completed=-\n"
        );
        // Wider than the column: written whole, nothing padded.
        e.elapsed = Duration::from_nanos(61_123_456_789);
        e.client = "2001:db8::8a2e:370:7334".parse().unwrap();
        assert_eq!(
            text(&e),
            "[GIN] 2026/12/01 - 07:45:09 | 200 | 1m1.123456789s | 2001:db8::8a2e:370:7334 | GET     \"/\" route=- bytes=52 completed=-\n"
        );
    }

    #[test]
    fn json_line_is_json() {
        let mut out = Vec::new();
        let e = entry(b"/users/\"7\xff");
        write_json(&mut out, &e, "KRAKEND", &mut stamp_for(e.at));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["@timestamp"], "2026-12-01T07:45:09.042+00:00");
        assert_eq!(v["path"], "/users/\"7\u{fffd}");
        assert_eq!(v["route"], "/users/{id}");
        assert_eq!(v["status"], 200);
        assert_eq!(v["bytes"], 52);
        assert_eq!(v["duration_us"], 1134);
        assert_eq!(v["client_ip"], "10.0.0.7");
        assert_eq!(v["completed"], true);
        assert_eq!(v["module"], "KRAKEND");
        assert_eq!(out.last(), Some(&b'\n'));
    }
}
