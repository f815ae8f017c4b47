//! The per-worker server: accept loop, the two protocol codecs (HTTP/1.1, HTTP/2).

mod buffers;
mod client_ip;
mod conn;
mod drain;
mod h2;
#[cfg(any(test, feature = "harness"))]
#[doc(hidden)]
pub mod harness;
mod observe;
mod upload;
mod worker;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::rt::{self, Listener, Stream};

pub use observe::{Observed, Observer};
pub use worker::{Worker, backend_authorities};

/// A worker's configuration in service: replaced between requests when a
/// reload arrives. A request holds the `Rc<Worker>` it began with.
pub type Current = Rc<RefCell<Rc<Worker>>>;

/// A configuration the main thread has read, checked and built once on
/// SIGHUP, for every worker to build its own tables from.
pub struct Reloaded {
    /// Grows with each successful reload (the start-up one is 0).
    pub generation: u64,
    pub config: crate::config::Config,
    /// Built once by the main thread; each worker clones its parts.
    pub prepared: crate::prepare::Prepared,
    pub resolved: crate::upstream::Resolved,
}

/// Where the main thread publishes the newest [`Reloaded`] configuration;
/// each worker's watcher task looks at it between its ticks.
pub type Reloads = Arc<arc_swap::ArcSwapOption<Reloaded>>;

/// What a worker needs to serve TLS: where its configuration comes from
/// (shared settings and session ticket key) and the count of reloads asked
/// for (SIGHUP), which it watches.
pub struct EdgeTls {
    pub source: Arc<crate::tls::ServerTls>,
    pub reloads: Arc<AtomicU64>,
}

/// A worker's TLS: its own server configuration, replaced on reload.
pub struct WorkerTls {
    edge: EdgeTls,
    current: RefCell<Arc<rustls::ServerConfig>>,
    seen: Cell<u64>,
}

impl EdgeTls {
    /// Builds this worker's first server configuration (on its thread).
    pub fn start(self) -> Result<WorkerTls, crate::config::Problem> {
        let current = RefCell::new(self.source.worker_config());
        let seen = Cell::new(self.reloads.load(Ordering::Relaxed));
        Ok(WorkerTls {
            edge: self,
            current,
            seen,
        })
    }
}

impl WorkerTls {
    /// On a new reload request, reads the certificates again; a failure
    /// keeps the current ones and logs why. Connections already
    /// established keep the configuration they were handshaken with.
    fn reload_if_asked(&self, worker: usize) {
        let asked = self.edge.reloads.load(Ordering::Relaxed);
        if asked == self.seen.get() {
            return;
        }
        self.seen.set(asked);
        match self.edge.source.config() {
            Ok(config) => {
                *self.current.borrow_mut() = config;
                tracing::info!(worker, "certificates reloaded");
            }
            Err(problem) => tracing::error!(
                worker,
                "certificate reload failed, still serving the previous certificates: {}",
                problem.message
            ),
        }
    }
}

/// A worker's part in exporting metrics: where it publishes its figures
/// and its own listeners (SO_REUSEPORT) on the exporters' ports and the
/// `/__stats` port, each with what it serves.
pub struct MetricsExport {
    pub board: Arc<crate::metrics::Board>,
    pub listeners: Vec<(std::net::TcpListener, crate::metrics::Port)>,
}

/// Starts the worker's metrics tasks: its publisher and its scrape
/// listeners. Both read the configuration in service: after a reload the
/// figures start again from zero in the new layout (a counter reset, as
/// after a restart).
fn start_metrics(current: &Current, export: MetricsExport) {
    let worker = current.borrow().clone();
    if worker.observer.metrics.is_none() {
        return;
    }
    let publishing = current.clone();
    rt::spawn(export.board.clone().publish(worker.id, move || {
        let w = publishing.borrow().clone();
        let open = w.connections.get() as u64;
        w.observer
            .metrics
            .as_ref()
            .map(|m| m.snapshot(open, rt::busy_time()))
            .unwrap_or_default()
    }));
    let scraped = current.clone();
    let scrapes = Rc::new(crate::metrics::Scrapes {
        config: Box::new(move || scraped.borrow().config.clone()),
        board: export.board,
    });
    for (listener, port) in export.listeners {
        match Listener::from_std(listener) {
            Ok(listener) => rt::spawn(crate::metrics::serve(listener, port, scrapes.clone())),
            Err(e) => tracing::warn!(worker = worker.id, "metrics listener failed: {e}"),
        }
    }
}

/// How often each worker drops the idle backend connections their backend
/// closed (one non-blocking read per idle connection).
const POOL_SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// How often a worker's pools look for new addresses of their hosts.
const DISCOVERY_TICK: Duration = Duration::from_millis(200);

/// Runs one worker: pre-connects its backend pools and serves the
/// connections its listener (SO_REUSEPORT, one per worker) accepts, until
/// `stop` is raised; then it stops accepting, lets the requests in flight
/// finish (at most `max_shutdown_wait_time`) and returns.
///
/// With `tls`, the port speaks only TLS: every accepted connection is
/// handshaken first, by the task that then serves it on this worker.
/// What a worker watches besides its listener: the stop flag, and with a
/// reloadable configuration, where reloads are published and how many
/// workers share the process (for the pool sizes).
pub struct Control {
    pub stop: Arc<AtomicBool>,
    pub reloads: Option<Reloads>,
    pub workers: usize,
}

pub async fn run_worker(
    worker: Worker,
    listener: Listener,
    control: Control,
    tls: Option<WorkerTls>,
    metrics: Option<MetricsExport>,
) {
    let current: Current = Rc::new(RefCell::new(Rc::new(worker)));
    if let Some(export) = metrics {
        start_metrics(&current, export);
    }
    let tls = tls.map(Rc::new);
    for pool in current.borrow().pools.iter() {
        rt::spawn(pool.clone().warm_up());
    }
    if current.borrow().id == 0 {
        // `async_agent`: one set per process, on the first worker.
        let worker = current.borrow();
        crate::upstream::kind::amqp_agent::start(&worker.config.async_agents, &worker.pools);
    }
    let sweeper = current.clone();
    rt::spawn(async move {
        loop {
            rt::sleep(POOL_SWEEP_INTERVAL).await;
            for pool in sweeper.borrow().pools.iter() {
                pool.sweep();
            }
        }
    });
    // Addresses the discovery thread changed (`upstream::discovery`):
    // taken between requests, so a pick never looks across threads.
    let discovery = current.clone();
    rt::spawn(async move {
        loop {
            rt::sleep(DISCOVERY_TICK).await;
            for pool in discovery.borrow().pools.iter() {
                pool.refresh();
            }
        }
    });
    let observer = current.clone();
    rt::spawn(async move {
        loop {
            rt::sleep(observe::OBSERVER_TICK).await;
            let worker = observer.borrow().clone();
            worker.observer.tick();
        }
    });
    let clock = current.clone();
    rt::spawn(async move {
        loop {
            rt::sleep(Duration::from_millis(500)).await;
            clock.borrow().refresh_date();
        }
    });
    // The stop flag and reloads are set by the main thread; checking them
    // on a timer keeps cross-thread state off the request path.
    let watcher = current.clone();
    let reloader = tls.clone();
    rt::spawn(async move {
        let mut generation = 0;
        while !control.stop.load(Ordering::Relaxed) {
            rt::sleep(Duration::from_millis(20)).await;
            if let Some(tls) = &reloader {
                tls.reload_if_asked(watcher.borrow().id);
            }
            if let Some(next) = control.reloads.as_ref().and_then(|r| r.load_full())
                && next.generation > generation
            {
                generation = next.generation;
                switch(&watcher, &next, control.workers);
            }
        }
        watcher.borrow().drain.start();
    });
    loop {
        let worker = current.borrow().clone();
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            worker.drain.wait().await;
            None
        })
        .await;
        let (stream, peer) = match accepted {
            None => break,
            Some(Ok(accepted)) => {
                #[cfg(debug_assertions)]
                worker.test_panic_on_accept();
                if let Some(metrics) = &worker.observer.metrics {
                    metrics.accepted();
                }
                accepted
            }
            Some(Err(e)) => {
                tracing::warn!(worker = worker.id, "accept failed: {e}");
                rt::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        spawn_connection(&current, tls.as_ref(), stream, peer);
    }
    // Draining: connections the kernel completed but this worker did not
    // accept yet are taken and served (closing the listener would reset
    // them, and a balancer that already sent a request on one could not
    // tell whether it ran).
    while let Some(Ok((stream, peer))) = listener.accept_queued() {
        spawn_connection(&current, tls.as_ref(), stream, peer);
    }
    drop(listener);
    let worker = current.borrow().clone();
    let deadline = std::time::Instant::now() + worker.config.limits.shutdown_wait;
    while worker.connections.get() > 0 && std::time::Instant::now() < deadline {
        rt::sleep(Duration::from_millis(10)).await;
    }
    worker.observer.tick();
    if worker.connections.get() > 0 {
        tracing::warn!(
            worker = worker.id,
            "max_shutdown_wait_time passed with {} connection(s) still busy",
            worker.connections.get()
        );
    }
}

/// Starts serving an accepted connection on this worker, or refuses it
/// when the worker holds `max_connections_per_worker` already.
fn spawn_connection(
    current: &Current,
    tls: Option<&Rc<WorkerTls>>,
    stream: Stream,
    peer: std::net::SocketAddr,
) {
    let worker = current.borrow().clone();
    let open = worker.connections.get();
    if open >= worker.config.limits.max_connections_per_worker {
        // Refuse cleanly rather than leave the client hanging.
        rt::spawn(refuse(stream));
        return;
    }
    let counted = Counted::open(&worker.connections);
    let tls = tls.map(|tls| tls.current.borrow().clone());
    rt::spawn(connection(
        worker,
        current.clone(),
        stream,
        peer,
        tls,
        counted,
    ));
}

/// Serves one accepted connection (TLS handshake first on a TLS port),
/// as HTTP/2 or HTTP/1.1, until it closes.
async fn connection(
    w: Rc<Worker>,
    current: Current,
    stream: Stream,
    peer: std::net::SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    counted: Counted,
) {
    // Counted open until this task ends, whichever way.
    let _counted = counted;
    let stream = match tls {
        None => stream,
        Some(config) => {
            let limit = w.config.limits.read_header_timeout;
            // Boxed, as HTTP/2 below: what only some connections need is
            // not part of every connection's task.
            match Box::pin(stream.accept_tls(config, limit)).await {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::debug!(worker = w.id, "TLS handshake with {peer} failed: {e}");
                    return;
                }
            }
        }
    };
    // HTTP/2: chosen by ALPN, or (use_h2c) by its preface in clear text.
    let h2 = if stream.alpn_protocol().is_some() {
        stream.alpn_protocol() == Some(b"h2")
    } else if w.config.use_h2c {
        let limit = w.config.limits.read_header_timeout;
        match stream.starts_with(h2::PREFACE, limit).await {
            rt::Prefix::Present => true,
            rt::Prefix::Absent => false,
            // A request head (whichever protocol) that did not
            // arrive within read_header_timeout: closed.
            rt::Prefix::Stalled => return,
        }
    } else {
        false
    };
    if h2 {
        if let Err(panic) = rt::isolate(Box::pin(h2::serve(current, stream, peer))).await {
            tracing::error!(
                worker = w.id,
                "HTTP/2 connection from {peer} panicked: {panic}; connection closed"
            );
        }
        return;
    }
    // A panic while serving closes this connection only; the
    // endpoint it was serving goes into the log line.
    let endpoint = Cell::new(None);
    let secure = stream.is_tls();
    if let Err(panic) = rt::isolate(conn::serve(current, stream, peer, secure, &endpoint)).await {
        let what = endpoint.get().map_or("no endpoint yet", |i: usize| {
            w.config.endpoints[i].path.as_str()
        });
        tracing::error!(
            worker = w.id,
            "connection from {peer} panicked serving {what}: {panic}; connection closed"
        );
    }
}

/// Builds this worker's tables for a reloaded configuration and puts them
/// in service; requests in flight finish on the previous ones. A failure
/// (which the main thread's trial build makes unlikely) keeps the
/// previous configuration.
fn switch(current: &Current, next: &Reloaded, workers: usize) {
    let previous = current.borrow().clone();
    match previous.next(workers, next.config.clone(), &next.prepared, &next.resolved) {
        Ok(worker) => {
            for pool in worker.new_pools(&previous) {
                rt::spawn(pool.clone().warm_up());
            }
            for pool in worker.dropped_pools(&previous) {
                pool.retire();
            }
            *current.borrow_mut() = Rc::new(worker);
            tracing::info!(
                worker = previous.id,
                "configuration reload {} in service",
                next.generation
            );
        }
        Err(e) => tracing::error!(
            worker = previous.id,
            "configuration reload {} failed on this worker, still serving the previous one: {e}",
            next.generation
        ),
    }
}

/// One client connection in `Worker::connections`, the count the accept
/// loop caps and the shutdown wait watches: counted when accepted, and
/// uncounted however its task ends (handshake failure, either protocol, a
/// panic caught by `rt::isolate`, the task dropped with the runtime).
struct Counted(Rc<Cell<usize>>);

impl Counted {
    fn open(count: &Rc<Cell<usize>>) -> Counted {
        count.set(count.get() + 1);
        Counted(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

async fn refuse(mut stream: Stream) {
    let mut out = Vec::new();
    crate::http::write_error_response(&mut out, 503, b"too many connections", true);
    if stream.write_all(&out).await.is_ok() {
        conn::close_after_error(&mut stream).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns (without calling it).
    fn future_size<F, A, B, C, D, E, G, Fut>(_: &F) -> usize
    where
        F: FnOnce(A, B, C, D, E, G) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// Every connection's task holds this future, idle ones too: what only
    /// a request needs (its answer, backend calls), TLS handshakes and
    /// HTTP/2 are boxed, so it stays small. It was 26 KiB (debug build)
    /// before; now about 2.7 KiB in a debug build, less in a release one.
    #[test]
    fn a_connection_task_is_small() {
        type Tls = Option<Arc<rustls::ServerConfig>>;
        let task =
            future_size::<_, Rc<Worker>, Current, Stream, std::net::SocketAddr, Tls, Counted, _>(
                &connection,
            ) + std::mem::size_of::<rt::Isolated<rt::Isolated<()>>>();
        assert!(task <= 3 * 1024, "{task} bytes");
    }

    /// An HTTP/2 connection's loop, boxed in its task, next to the h2
    /// crate's own buffers (see ARCHITECTURE.md, "Idle connections").
    #[test]
    fn an_http2_connection_loop_is_small() {
        fn size<F, A, B, C, Fut>(_: &F) -> usize
        where
            F: FnOnce(A, B, C) -> Fut,
        {
            std::mem::size_of::<Fut>()
        }
        let task = size::<_, Current, Stream, std::net::SocketAddr, _>(&h2::serve);
        assert!(task <= 6 * 1024, "{task} bytes");
    }
}
