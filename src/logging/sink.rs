//! The one background thread that writes log output, so that no worker
//! ever waits on a terminal, a pipe or a disk.
//!
//! Workers and the application log hand it filled buffers through a
//! bounded channel with `try_send`: when it is full (the output is slower
//! than the traffic) the buffer is dropped and its lines counted, and the
//! request goes on. The thread itself may block on a write; nothing waits
//! for it but the final flush at shutdown, which is bounded.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

/// Buffers in flight between the workers and the writer. With 128 KiB
/// access log batches this holds at most 8 MiB.
const CAPACITY: usize = 64;

/// What the writer is handed.
pub enum Batch {
    /// Access log lines: standard output only (as KrakenD's gin logger).
    /// Once written, the emptied buffer goes back to the worker through
    /// `back` (if it has room), so a worker fills the same few buffers,
    /// warm in cache, instead of a new allocation per batch.
    Access {
        lines: Vec<u8>,
        back: SyncSender<Vec<u8>>,
    },
    /// One application log line, formatted for each place it goes to.
    App {
        stdout: Option<Vec<u8>>,
        syslog: Option<Vec<u8>>,
    },
    /// Answered once everything sent before it is written.
    Flush(SyncSender<()>),
}

static SINK: OnceLock<SyncSender<Batch>> = OnceLock::new();

/// Access log lines the workers dropped, as they report it (each worker
/// adds its new drops once per flush tick, never per request).
pub static ACCESS_DROPPED: AtomicU64 = AtomicU64::new(0);
/// Application log lines dropped because the writer was behind.
pub static APP_DROPPED: AtomicU64 = AtomicU64::new(0);
/// Syslog datagrams the socket would not take at once (dropped).
pub static SYSLOG_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Starts the writer (once per process); later calls change nothing.
pub fn start(syslog: Option<UnixDatagram>) {
    SINK.get_or_init(|| {
        let (tx, rx) = sync_channel(CAPACITY);
        let spawned = std::thread::Builder::new()
            .name("cuttle-log".into())
            .spawn(move || write_all(rx, syslog));
        if let Err(e) = spawned {
            eprintln!("cuttle: cannot start the log writer thread: {e}");
        }
        tx
    });
}

/// The writer's inbox, once started.
pub fn sender() -> Option<SyncSender<Batch>> {
    SINK.get().cloned()
}

/// Hands `batch` to the writer without waiting; `false`: dropped (writer
/// behind or not started).
pub fn offer(tx: &SyncSender<Batch>, batch: Batch) -> bool {
    match tx.try_send(batch) {
        Ok(()) => true,
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
    }
}

/// Waits (at most `limit`) until what was handed over so far is written.
pub fn flush(limit: Duration) {
    let Some(tx) = SINK.get() else { return };
    let (ack_tx, ack_rx) = sync_channel(1);
    // A full inbox means the output is stuck: waiting would not help.
    if tx.try_send(Batch::Flush(ack_tx)).is_ok() {
        let _ = ack_rx.recv_timeout(limit);
    }
}

fn write_all(rx: Receiver<Batch>, syslog: Option<UnixDatagram>) {
    let stdout = std::io::stdout();
    for batch in rx {
        match batch {
            Batch::Access { mut lines, back } => {
                let _ = stdout.lock().write_all(&lines);
                lines.clear();
                let _ = back.try_send(lines);
            }
            Batch::App {
                stdout: line,
                syslog: datagram,
            } => {
                if let Some(line) = line {
                    let _ = stdout.lock().write_all(&line);
                }
                if let (Some(socket), Some(datagram)) = (&syslog, datagram)
                    && socket.send(&datagram).is_err()
                {
                    SYSLOG_DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
            Batch::Flush(ack) => {
                let _ = stdout.lock().flush();
                let _ = ack.try_send(());
            }
        }
    }
}

/// Connects to the local syslog socket, non-blocking (a datagram the
/// daemon cannot take at once is dropped, never waited for).
pub fn connect_syslog(path: &str) -> std::io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(path)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}
