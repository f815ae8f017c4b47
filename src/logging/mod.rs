//! Logging: the application log (`tracing` events, formatted as
//! `telemetry/logging` asks) and the access log (one line per request,
//! formatted by each worker). Both reach their output through one
//! background writer thread (`sink`), so that writing a log never makes a
//! worker wait: under a flood, lines are dropped and counted instead.

mod access;
mod app;
mod sink;
mod text;

use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use access::{AccessLog, Answered, Entry, write_line as write_access_line};
pub use text::{Escaped, Quoted, Stamp, go_duration};

use crate::config::{LogLevel, Logging};

/// The local syslog socket (datagrams).
const SYSLOG_SOCKET: &str = "/dev/log";
/// How often dropped lines are reported, when there are new ones.
const DROP_REPORT_INTERVAL: Duration = Duration::from_secs(5);

/// Starts the writer thread and installs the application log. The level is
/// `CUTTLE_LOG` (a tracing filter) if set and not empty, else DEBUG with `-d`, else the
/// file's `level`, else INFO.
pub fn init(logging: &Logging, debug: bool) {
    let mut syslog_problem = None;
    let socket = match logging.syslog {
        Some(_) => match sink::connect_syslog(&syslog_socket()) {
            Ok(socket) => Some(socket),
            Err(e) => {
                syslog_problem = Some(e);
                None
            }
        },
        None => None,
    };
    let syslog = socket.is_some();
    sink::start(socket);
    let Some(tx) = sink::sender() else { return };
    let default = if debug {
        "debug"
    } else {
        match logging.level {
            Some(LogLevel::Debug) => "debug",
            None | Some(LogLevel::Info) => "info",
            Some(LogLevel::Warning) => "warn",
            Some(LogLevel::Error | LogLevel::Critical) => "error",
        }
    };
    let filter = std::env::var("CUTTLE_LOG")
        .ok()
        .filter(|f| !f.trim().is_empty())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(app::AppLog::new(logging, syslog, tx))
        .try_init();
    if installed.is_err() {
        return;
    }
    if let Some(e) = syslog_problem {
        tracing::warn!(
            "telemetry/logging.syslog: cannot reach {} ({e}); application log lines are not sent to syslog",
            syslog_socket()
        );
    }
    let spawned = std::thread::Builder::new()
        .name("cuttle-log-report".into())
        .spawn(report_drops);
    if let Err(e) = spawned {
        tracing::warn!("cannot start the dropped-lines reporter: {e}");
    }
}

/// The syslog socket. Debug builds (the ones `cargo test` runs) take
/// another path from `CUTTLE_TEST_SYSLOG_SOCKET`, so that a test can be the
/// daemon; release builds have no such hook.
fn syslog_socket() -> String {
    #[cfg(debug_assertions)]
    if let Ok(path) = std::env::var("CUTTLE_TEST_SYSLOG_SOCKET") {
        return path;
    }
    SYSLOG_SOCKET.to_owned()
}

/// Waits (at most `limit`) until the log lines handed over so far are
/// written: before an exit that skips the orderly shutdown.
pub fn flush(limit: Duration) {
    sink::flush(limit);
}

/// Writes what is still buffered (at most `limit` of waiting), then says
/// on standard error how many lines were dropped in all, if any. Called
/// once the workers have stopped.
pub fn finish(limit: Duration) {
    sink::flush(limit);
    let (access, app, syslog) = dropped();
    if access + app + syslog > 0 {
        eprintln!(
            "cuttle: log lines dropped because the output did not keep up: {access} access, {app} application, {syslog} syslog"
        );
    }
}

fn dropped() -> (u64, u64, u64) {
    (
        sink::ACCESS_DROPPED.load(Ordering::Relaxed),
        sink::APP_DROPPED.load(Ordering::Relaxed),
        sink::SYSLOG_DROPPED.load(Ordering::Relaxed),
    )
}

/// Says on standard error, at most every few seconds, how many log lines
/// were dropped since the last report. Standard error, because the usual
/// reason is a standard output nobody reads fast enough.
fn report_drops() {
    let mut last = dropped();
    loop {
        std::thread::sleep(DROP_REPORT_INTERVAL);
        let now = dropped();
        if now != last {
            eprintln!(
                "cuttle: the log output is not keeping up: dropped {} access and {} application log lines, {} syslog datagrams in the last {}s",
                now.0 - last.0,
                now.1 - last.1,
                now.2 - last.2,
                DROP_REPORT_INTERVAL.as_secs()
            );
            last = now;
        }
    }
}
