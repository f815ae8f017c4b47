//! Per-worker, per-host pools of keep-alive backend connections.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

use crate::rt::Stream;

use super::conn::BackendConn;
use super::error::BackendError;

/// One backend host as seen by one worker.
pub struct Pool {
    /// `host:port`, sent as the `Host` header; `https://host:port` for a
    /// TLS backend (see `authority_of`).
    pub authority: Rc<str>,
    /// For an `https://` backend: the client configuration and the name
    /// sent as SNI and verified in the certificate.
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
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
        client_tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Pool {
        let tls = authority.strip_prefix("https://").and_then(|host_port| {
            let host = host_port
                .rsplit_once(':')
                .map_or(host_port, |(host, _)| host)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = ServerName::try_from(host.to_string()).ok()?;
            Some((client_tls?.clone(), name))
        });
        Pool {
            tls,
            authority,
            addr,
            idle: RefCell::new(Vec::with_capacity(preconnect)),
            max_idle,
            preconnect,
            connect_timeout,
            open: Cell::new(0),
        }
    }

    /// Whether a pool built with these settings would be this one, so a
    /// reloaded configuration can keep it (and its open connections).
    pub fn same_as(
        &self,
        addr: Option<SocketAddr>,
        max_idle: usize,
        preconnect: usize,
        connect_timeout: Duration,
    ) -> bool {
        self.addr == addr
            && self.max_idle == max_idle
            && self.preconnect == preconnect
            && self.connect_timeout == connect_timeout
    }

    /// An idle connection if there is one, else a fresh one. Idle
    /// connections the backend closed, or wrote to unasked, are dropped:
    /// bytes that arrived before the request can only poison its response.
    pub async fn checkout(self: &Rc<Self>) -> Result<BackendConn, BackendError> {
        loop {
            let Some(mut conn) = self.idle.borrow_mut().pop() else {
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
        let stream = match &self.tls {
            None if self.authority.starts_with("https://") => {
                return Err(BackendError::Connect(
                    self.authority.clone(),
                    "not a name TLS can verify".into(),
                ));
            }
            None => stream,
            Some((config, name)) => stream
                .connect_tls(config.clone(), name.clone(), self.connect_timeout)
                .await
                .map_err(|e| BackendError::Connect(self.authority.clone(), format!("TLS: {e}")))?,
        };
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
        self.idle.borrow_mut().retain_mut(|conn| !conn.is_stale());
    }

    pub fn idle_count(&self) -> usize {
        self.idle.borrow().len()
    }

    pub fn open_count(&self) -> usize {
        self.open.get()
    }
}
