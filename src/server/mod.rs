//! The per-worker server: accept loop, connection drivers, built-ins.

mod builtin;
mod conn;
mod drain;
mod worker;

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_lite::AsyncWriteExt;
use glommio::net::TcpListener;

pub use worker::{Worker, backend_authorities};

/// How often each worker drops the idle backend connections their backend
/// closed (one non-blocking read per idle connection).
const POOL_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Runs one worker: pre-connects its backend pools and serves the
/// connections its listener (SO_REUSEPORT, one per worker) accepts, until
/// `stop` is raised; then it stops accepting, lets the requests in flight
/// finish (at most `max_shutdown_wait_time`) and returns.
pub async fn run_worker(worker: Worker, listener: TcpListener, stop: Arc<AtomicBool>) {
    let worker = Rc::new(worker);
    for pool in worker.pools.iter() {
        glommio::spawn_local(pool.clone().warm_up()).detach();
    }
    let sweeper = worker.clone();
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(POOL_SWEEP_INTERVAL).await;
            for pool in sweeper.pools.iter() {
                pool.sweep().await;
            }
        }
    })
    .detach();
    let clock = worker.clone();
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(Duration::from_millis(500)).await;
            clock.refresh_date();
        }
    })
    .detach();
    // The stop flag is set by the main thread on a signal; checking it on a
    // timer keeps cross-thread state off the request path.
    let watcher = worker.clone();
    glommio::spawn_local(async move {
        while !stop.load(Ordering::Relaxed) {
            glommio::timer::sleep(Duration::from_millis(20)).await;
        }
        watcher.drain.start();
    })
    .detach();
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            worker.drain.wait().await;
            None
        })
        .await;
        let stream = match accepted {
            None => break,
            Some(Ok(stream)) => stream,
            Some(Err(e)) => {
                tracing::warn!(worker = worker.id, "accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let peer = match stream.peer_addr() {
            Ok(peer) => peer,
            Err(_) => continue,
        };
        let open = worker.connections.get();
        if open >= worker.config.limits.max_connections_per_worker {
            // Refuse cleanly rather than leave the client hanging.
            glommio::spawn_local(refuse(stream)).detach();
            continue;
        }
        worker.connections.set(open + 1);
        let w = worker.clone();
        glommio::spawn_local(async move {
            conn::serve(w.clone(), stream, peer).await;
            w.connections.set(w.connections.get() - 1);
        })
        .detach();
    }
    drop(listener);
    let deadline = std::time::Instant::now() + worker.config.limits.shutdown_wait;
    while worker.connections.get() > 0 && std::time::Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    if worker.connections.get() > 0 {
        tracing::warn!(
            worker = worker.id,
            "max_shutdown_wait_time passed with {} connection(s) still busy",
            worker.connections.get()
        );
    }
}

async fn refuse(mut stream: glommio::net::TcpStream) {
    let mut out = Vec::new();
    crate::http::write_error_response(&mut out, 503, b"too many connections", true);
    if stream.write_all(&out).await.is_ok() {
        conn::close_after_error(&mut stream).await;
    }
}
