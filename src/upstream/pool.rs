//! Per-worker, per-host pools of keep-alive backend connections.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::rt::Stream;

use super::conn::BackendConn;
use super::error::BackendError;

/// One backend host as seen by one worker.
pub struct Pool {
    /// `host:port`, sent as the `Host` header.
    pub authority: Rc<str>,
    /// Resolved once at start-up; `None` when the name did not resolve.
    addr: Option<SocketAddr>,
    idle: RefCell<Vec<BackendConn>>,
    /// Idle connections kept; one finished beyond this is closed.
    max_idle: usize,
    /// Connections opened by `warm_up`.
    preconnect: usize,
    connect_timeout: Duration,
    /// Connections currently open to this host from this worker (idle or busy).
    open: Cell<usize>,
}

impl Pool {
    pub fn new(
        authority: Rc<str>,
        addr: Option<SocketAddr>,
        max_idle: usize,
        preconnect: usize,
        connect_timeout: Duration,
    ) -> Pool {
        Pool {
            authority,
            addr,
            idle: RefCell::new(Vec::with_capacity(preconnect)),
            max_idle,
            preconnect,
            connect_timeout,
            open: Cell::new(0),
        }
    }

    /// An idle connection if there is one, else a fresh one. Idle
    /// connections the backend closed, or wrote to unasked, are dropped:
    /// bytes that arrived before the request can only poison its response.
    pub async fn checkout(self: &Rc<Self>) -> Result<BackendConn, BackendError> {
        loop {
            let Some(conn) = self.idle.borrow_mut().pop() else {
                break;
            };
            if !conn.is_stale() {
                return Ok(conn);
            }
        }
        self.connect().await
    }

    /// A new connection, bypassing the idle list.
    pub async fn connect(self: &Rc<Self>) -> Result<BackendConn, BackendError> {
        let addr = self
            .addr
            .ok_or_else(|| BackendError::Resolve(self.authority.clone()))?;
        let stream = Stream::connect(addr, self.connect_timeout)
            .await
            .map_err(|e| BackendError::Connect(self.authority.clone(), e.to_string()))?;
        // Requests are written whole; Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        Ok(BackendConn::new(stream, self.clone()))
    }

    /// Puts a connection whose last exchange ended cleanly back in the pool.
    pub(super) fn checkin(&self, conn: BackendConn) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }

    pub(super) fn opened(&self) {
        self.open.set(self.open.get() + 1);
    }

    pub(super) fn closed(&self) {
        self.open.set(self.open.get().saturating_sub(1));
    }

    /// Opens connections until `preconnect` are idle, stopping at the first
    /// failure (a backend that is down at start-up is not an error).
    pub async fn warm_up(self: Rc<Self>) {
        while self.idle.borrow().len() < self.preconnect {
            match self.connect().await {
                Ok(conn) => self.checkin(conn.into_reused()),
                Err(e) => {
                    tracing::debug!("pre-connecting to {}: {e}", self.authority);
                    return;
                }
            }
        }
    }

    /// Drops idle connections the backend has closed (or written to
    /// unasked). Checkouts take the most recently used connection, so
    /// without this the least recently used ones of a large idle list would
    /// sit half-closed (CLOSE-WAIT) after the backend's keep-alive timeout
    /// until a burst reached them.
    pub fn sweep(&self) {
        self.idle.borrow_mut().retain(|conn| !conn.is_stale());
    }

    pub fn idle_count(&self) -> usize {
        self.idle.borrow().len()
    }

    pub fn open_count(&self) -> usize {
        self.open.get()
    }
}
