//! The per-worker server: accept loop, connection drivers, built-ins.

mod builtin;
mod conn;
mod worker;

use std::rc::Rc;
use std::time::Duration;

use futures_lite::AsyncWriteExt;
use glommio::net::TcpListener;

pub use worker::{Worker, backend_authorities};

/// Runs one worker: pre-connects its backend pools and serves the
/// connections its listener (SO_REUSEPORT, one per worker) accepts.
pub async fn run_worker(worker: Worker, listener: TcpListener) {
    let worker = Rc::new(worker);
    for pool in worker.pools.iter() {
        glommio::spawn_local(pool.clone().warm_up()).detach();
    }
    let clock = worker.clone();
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(Duration::from_millis(500)).await;
            clock.refresh_date();
        }
    })
    .detach();
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(e) => {
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
}

async fn refuse(mut stream: glommio::net::TcpStream) {
    let mut out = Vec::new();
    crate::http::write_error_response(&mut out, 503, b"too many connections", true);
    let _ = stream.write_all(&out).await;
}
