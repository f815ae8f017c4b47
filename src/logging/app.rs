//! The application log (start-up, warnings, errors): a `tracing` layer
//! that formats each event as `telemetry/logging` asks (default, logstash
//! or custom) and hands the line to the writer thread, for standard output
//! and/or the local syslog. Like the access log, it never waits: a line
//! the writer cannot take is dropped and counted.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::sink::{self, Batch};
use super::text::{Utc, json_string};
use crate::config::{LogFormat, LogLevel, Logging, Piece};

pub struct AppLog {
    format: LogFormat,
    prefix: String,
    module: String,
    stdout: bool,
    /// The syslog facility, when lines go there too.
    syslog: Option<u8>,
    pid: u32,
    tx: SyncSender<Batch>,
}

impl AppLog {
    pub fn new(logging: &Logging, syslog: bool, tx: SyncSender<Batch>) -> AppLog {
        AppLog {
            format: logging.format.clone(),
            prefix: logging.prefix.clone(),
            module: logging.module.clone(),
            stdout: logging.stdout,
            syslog: logging.syslog.filter(|_| syslog),
            pid: std::process::id(),
            tx,
        }
    }

    /// One formatted line, without its newline.
    fn line(&self, now: &Utc, level: LogLevel, message: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(message.len() + 64);
        match &self.format {
            LogFormat::Default => {
                if !self.prefix.is_empty() {
                    out.extend_from_slice(self.prefix.as_bytes());
                    out.push(b' ');
                }
                now.write_gin_millis(&mut out);
                out.extend_from_slice(" ▶ ".as_bytes());
                out.extend_from_slice(level.name().as_bytes());
                out.push(b' ');
                out.extend_from_slice(message.as_bytes());
            }
            LogFormat::Logstash => {
                out.extend_from_slice(b"{\"@timestamp\":\"");
                now.write_rfc3339(&mut out, b"+00:00");
                out.extend_from_slice(b"\",\"@version\":1,\"level\":\"");
                out.extend_from_slice(level.name().as_bytes());
                out.extend_from_slice(b"\",\"message\":");
                json_string(&mut out, message.as_bytes());
                out.extend_from_slice(b",\"module\":");
                json_string(&mut out, self.module.as_bytes());
                out.push(b'}');
            }
            LogFormat::Custom(pieces) => {
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => out.extend_from_slice(text.as_bytes()),
                        Piece::Time => now.write_rfc3339(&mut out, b"Z"),
                        Piece::Level(None) => out.extend_from_slice(level.name().as_bytes()),
                        Piece::Level(Some(n)) => {
                            let name = level.name();
                            out.extend_from_slice(&name.as_bytes()[..(*n).min(name.len())]);
                        }
                        Piece::Message => out.extend_from_slice(message.as_bytes()),
                        Piece::Module => out.extend_from_slice(self.module.as_bytes()),
                        Piece::Pid => {
                            out.extend_from_slice(itoa::Buffer::new().format(self.pid).as_bytes())
                        }
                        Piece::Program => out.extend_from_slice(b"cuttle"),
                    }
                }
            }
        }
        out
    }

    /// An RFC 3164 datagram for the local syslog daemon.
    fn datagram(&self, facility: u8, now: &Utc, level: LogLevel, line: &[u8]) -> Vec<u8> {
        let severity = match level {
            LogLevel::Debug => 7,
            LogLevel::Info => 6,
            LogLevel::Warning => 4,
            LogLevel::Error => 3,
            LogLevel::Critical => 2,
        };
        let mut out = Vec::with_capacity(line.len() + 48);
        let _ = write!(
            Adapter(&mut out),
            "<{}>",
            u32::from(facility) * 8 + severity
        );
        now.write_syslog(&mut out);
        let _ = write!(Adapter(&mut out), " cuttle[{}]: ", self.pid);
        out.extend_from_slice(line);
        out
    }
}

impl<S: Subscriber> Layer<S> for AppLog {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = match *event.metadata().level() {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warning,
            Level::INFO => LogLevel::Info,
            Level::DEBUG | Level::TRACE => LogLevel::Debug,
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.text();
        let now = Utc::now();
        let line = self.line(&now, level, &message);
        let syslog = self
            .syslog
            .map(|facility| self.datagram(facility, &now, level, &line));
        let stdout = self.stdout.then(|| {
            let mut line = line;
            line.push(b'\n');
            line
        });
        if (stdout.is_some() || syslog.is_some())
            && !sink::offer(&self.tx, Batch::App { stdout, syslog })
        {
            sink::APP_DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// An event's message followed by its other fields as ` key=value`.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Fields {
    fn text(self) -> String {
        self.message + &self.rest
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={value}", field.name());
        }
    }
}

/// `fmt::Write` into a byte buffer.
struct Adapter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Adapter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(format: LogFormat, prefix: &str) -> AppLog {
        let (tx, _rx) = std::sync::mpsc::sync_channel(1);
        AppLog {
            format,
            prefix: prefix.into(),
            module: "KRAKEND".into(),
            stdout: true,
            syslog: Some(19),
            pid: 42,
            tx,
        }
    }

    const NOW: Utc = Utc {
        year: 2026,
        month: 12,
        day: 1,
        hour: 7,
        minute: 45,
        second: 9,
        millis: 42,
    };

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn formats() {
        let line = app(LogFormat::Default, "[KRAKEND]").line(&NOW, LogLevel::Info, "up");
        assert_eq!(text(line), "[KRAKEND] 2026/12/01 - 07:45:09.042 ▶ INFO up");
        let line = app(LogFormat::Logstash, "").line(&NOW, LogLevel::Warning, "a \"b\"");
        assert_eq!(
            text(line),
            r#"{"@timestamp":"2026-12-01T07:45:09.042+00:00","@version":1,"level":"WARNING","message":"a \"b\"","module":"KRAKEND"}"#
        );
        let custom = LogFormat::Custom(vec![
            Piece::Level(Some(4)),
            Piece::Text(" ".into()),
            Piece::Module,
            Piece::Text(": ".into()),
            Piece::Message,
        ]);
        let line = app(custom, "").line(&NOW, LogLevel::Warning, "hi");
        assert_eq!(text(line), "WARN KRAKEND: hi");
    }

    #[test]
    fn syslog_datagram() {
        let log = app(LogFormat::Default, "");
        let datagram = log.datagram(19, &NOW, LogLevel::Error, b"broken");
        assert_eq!(text(datagram), "<155>Dec  1 07:45:09 cuttle[42]: broken");
    }
}
