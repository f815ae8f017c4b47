//! Per-worker, per-host pools of keep-alive backend connections.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use crate::rt::Stream;

use super::error::BackendError;

/// How a worker's pool treats its connections: KrakenD's backend transport
/// settings (lura `transport/http/server/server.go` `NewTransport`, Go's
/// `http.Transport` and `net.Dialer`), with the process-wide numbers
/// already divided into this worker's share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// Idle connections kept (`max_idle_connections_per_host`, this
    /// worker's share); one finished beyond this is closed.
    pub max_idle: usize,
    /// Connections opened by `warm_up` (`cuttle/server.pool_size`).
    pub preconnect: usize,
    /// `dialer_timeout`, also bounding the TLS handshake.
    pub connect_timeout: Duration,
    /// `idle_connection_timeout`: an idle connection older than this is
    /// closed (by the sweeper) and never used.
    pub idle_timeout: Option<Duration>,
    /// `response_header_timeout`: the wait for a response head once the
    /// request is written.
    pub response_header_timeout: Option<Duration>,
    /// `!disable_keep_alives`: connections go back to the pool after a call.
    pub keep_alive: bool,
    /// `dialer_keep_alive`: TCP keep-alive idle time and probe interval.
    pub tcp_keep_alive: Option<Duration>,
    /// `max_idle_connections`: this worker's share of the idle connections
    /// kept to all hosts together (the pools share one [`IdleBudget`]).
    pub max_idle_total: Option<usize>,
}

impl Default for PoolSettings {
    fn default() -> PoolSettings {
        PoolSettings {
            max_idle: 1,
            preconnect: 0,
            connect_timeout: Duration::from_secs(3),
            idle_timeout: None,
            response_header_timeout: None,
            keep_alive: true,
            tcp_keep_alive: None,
            max_idle_total: None,
        }
    }
}

/// Go's `MaxIdleConns` for one worker: idle connections of all its pools
/// together. At the cap, the connection idle the longest (whatever its
/// host) is closed to make room, as Go's transport evicts its idle LRU's
/// oldest (`net/http/transport.go` `tryPutIdleConn`).
pub struct IdleBudget {
    cap: usize,
    count: Cell<usize>,
    pools: RefCell<Vec<Weak<Pool>>>,
}

impl IdleBudget {
    pub fn new(cap: usize) -> Rc<IdleBudget> {
        Rc::new(IdleBudget {
            cap,
            count: Cell::new(0),
            pools: RefCell::new(Vec::new()),
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Makes `pool` one of those whose idle connections this budget counts.
    pub fn register(&self, pool: &Rc<Pool>) {
        let mut pools = self.pools.borrow_mut();
        pools.retain(|p| p.strong_count() > 0);
        if !pools
            .iter()
            .any(|p| std::ptr::eq(p.as_ptr(), Rc::as_ptr(pool)))
        {
            pools.push(Rc::downgrade(pool));
        }
    }

    fn released(&self, n: usize) {
        self.count.set(self.count.get().saturating_sub(n));
    }

    /// Closes the connection idle the longest among the pools, if any.
    fn evict_oldest(&self) {
        let pools: Vec<Rc<Pool>> = self
            .pools
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let oldest = pools
            .iter()
            .filter_map(|pool| Some((pool.idle.borrow().first()?.idle_since(), pool)))
            .min_by_key(|(since, _)| *since);
        if let Some((_, pool)) = oldest {
            drop(pool.idle.borrow_mut().remove(0));
            self.released(1);
        }
    }
}

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
    /// Oldest first: checkouts take the last (most recently used).
    idle: RefCell<Vec<BackendConn>>,
    settings: PoolSettings,
    budget: Option<Rc<IdleBudget>>,
    /// Connections currently open to this host from this worker (idle or busy).
    open: Cell<usize>,
    /// Set when a reload replaced this pool: its connections are closed
    /// as they finish instead of kept, so the pool (which each of them
    /// holds an `Rc` of) is freed with the last one.
    retired: Cell<bool>,
}

impl Pool {
    /// A pool; with a `budget` (`max_idle_connections`) it is registered
    /// in it.
    pub fn new(
        authority: Rc<str>,
        addr: Option<SocketAddr>,
        settings: PoolSettings,
        budget: Option<&Rc<IdleBudget>>,
        client_tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Rc<Pool> {
        let tls = authority.strip_prefix("https://").and_then(|host_port| {
            let host = host_port
                .rsplit_once(':')
                .map_or(host_port, |(host, _)| host)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = ServerName::try_from(host.to_string()).ok()?;
            Some((client_tls?.clone(), name))
        });
        let pool = Rc::new(Pool {
            tls,
            authority,
            addr,
            idle: RefCell::new(Vec::with_capacity(settings.preconnect)),
            retired: Cell::new(false),
            settings,
            budget: budget.cloned(),
            open: Cell::new(0),
        });
        if let Some(budget) = budget {
            budget.register(&pool);
        }
        pool
    }

    /// Whether a pool built with these settings would be this one, so a
    /// reloaded configuration can keep it (and its open connections).
    pub fn same_as(&self, addr: Option<SocketAddr>, settings: &PoolSettings) -> bool {
        self.addr == addr && self.settings == *settings
    }

    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }

    /// Whether an idle connection has outlived `idle_connection_timeout`.
    fn expired(&self, conn: &BackendConn, now: Instant) -> bool {
        self.settings
            .idle_timeout
            .is_some_and(|limit| now.saturating_duration_since(conn.idle_since()) >= limit)
    }

    /// An idle connection if there is one, else a fresh one. Idle
    /// connections the backend closed, or wrote to unasked, are dropped:
    /// bytes that arrived before the request can only poison its response.
    pub async fn checkout(self: &Rc<Self>) -> Result<BackendConn, BackendError> {
        let now = self.settings.idle_timeout.map(|_| Instant::now());
        loop {
            let Some(mut conn) = self.idle.borrow_mut().pop() else {
                break;
            };
            if let Some(budget) = &self.budget {
                budget.released(1);
            }
            if !now.is_some_and(|now| self.expired(&conn, now)) && !conn.is_stale() {
                return Ok(conn);
            }
        }
        self.connect().await
    }

    /// A new connection, bypassing the idle list.
    pub async fn connect(self: &Rc<Self>) -> Result<BackendConn, BackendError> {
        let stream = self.open_stream().await?;
        Ok(BackendConn::new(stream, self.clone()))
    }

    /// A new connection (TCP, then TLS for an `https://` pool) that is not
    /// the pool's: a WebSocket session takes it over for its lifetime.
    pub async fn open_stream(&self) -> Result<Stream, BackendError> {
        let addr = self
            .addr
            .ok_or_else(|| BackendError::Resolve(self.authority.clone()))?;
        let timeout = self.settings.connect_timeout;
        let stream = Stream::connect(addr, timeout)
            .await
            .map_err(|e| BackendError::Connect(self.authority.clone(), e.to_string()))?;
        // Requests are written whole; Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        if let Some(period) = self.settings.tcp_keep_alive {
            let _ = stream.set_tcp_keep_alive(period);
        }
        let stream = match &self.tls {
            None if self.authority.starts_with("https://") => {
                return Err(BackendError::Connect(
                    self.authority.clone(),
                    "not a name TLS can verify".into(),
                ));
            }
            None => stream,
            Some((config, name)) => stream
                .connect_tls(config.clone(), name.clone(), timeout)
                .await
                .map_err(|e| BackendError::Connect(self.authority.clone(), format!("TLS: {e}")))?,
        };
        Ok(stream)
    }

    /// Puts a connection whose last exchange ended cleanly back in the pool.
    pub(super) fn checkin(&self, mut conn: BackendConn) {
        if self.retired.get()
            || !self.settings.keep_alive
            || self.idle.borrow().len() >= self.settings.max_idle
        {
            return;
        }
        if let Some(budget) = &self.budget {
            if budget.count.get() >= budget.cap {
                budget.evict_oldest();
            }
            budget.count.set(budget.count.get() + 1);
        }
        if self.budget.is_some() || self.settings.idle_timeout.is_some() {
            conn.mark_idle(Instant::now());
        }
        self.idle.borrow_mut().push(conn);
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
        // Pre-connected connections count in `max_idle_connections` like any
        // idle one; warming up stops at the budget rather than evict.
        let room = || self.budget.as_ref().is_none_or(|b| b.count.get() < b.cap);
        while !self.retired.get() && self.idle.borrow().len() < self.settings.preconnect && room() {
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
    /// Also closes those idle longer than `idle_connection_timeout`.
    pub fn sweep(&self) {
        let now = self.settings.idle_timeout.map(|_| Instant::now());
        let mut idle = self.idle.borrow_mut();
        let before = idle.len();
        idle.retain_mut(|conn| !now.is_some_and(|now| self.expired(conn, now)) && !conn.is_stale());
        if let Some(budget) = &self.budget {
            budget.released(before - idle.len());
        }
    }

    /// A reload no longer uses this pool: its idle connections are closed
    /// now and the busy ones when they finish. Without this the idle
    /// connections (each holding an `Rc` of the pool) would keep the pool
    /// and their sockets alive for ever, with no sweeper looking at them.
    pub fn retire(&self) {
        self.retired.set(true);
        let closed = std::mem::take(&mut *self.idle.borrow_mut());
        if let Some(budget) = &self.budget {
            budget.released(closed.len());
        }
    }

    pub fn idle_count(&self) -> usize {
        self.idle.borrow().len()
    }

    pub fn open_count(&self) -> usize {
        self.open.get()
    }
}

/// This worker's pools, one per backend `host:port`.
#[derive(Default)]
pub struct Pools {
    by_authority: ahash::AHashMap<Rc<str>, Rc<Pool>>,
    /// `max_idle_connections`: the idle connections of all these pools
    /// together (kept across a reload that does not change it).
    pub budget: Option<Rc<IdleBudget>>,
}

impl Pools {
    pub fn insert(&mut self, pool: Rc<Pool>) {
        self.by_authority.insert(pool.authority.clone(), pool);
    }

    pub fn get(&self, authority: &str) -> Option<Rc<Pool>> {
        self.by_authority.get(authority).cloned()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rc<Pool>> {
        self.by_authority.values()
    }
}

/// Bytes read from a backend at a time.
const READ_CHUNK: usize = 16 * 1024;

/// A connection to a backend, lent by its pool for one exchange at a time
/// (what an exchange does on it is `conn.rs`'s): defined here, beside the
/// pool it returns to, so that `conn.rs` imports this file and not the
/// other way round.
pub struct BackendConn {
    pub(super) stream: Stream,
    /// Bounds each read (`None`: unbounded), see [`BackendConn::set_read_timeout`].
    pub(super) read_timeout: Option<Duration>,
    /// `buf[start..end]` holds bytes read but not consumed yet.
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) pool: Rc<Pool>,
    /// Came from the idle list: the backend may have closed it meanwhile.
    pub(super) reused: bool,
    /// Some byte of the current exchange's request reached the socket.
    pub(super) wrote: bool,
    /// When it last went back to the pool (recorded only when a pool
    /// setting needs it: `idle_connection_timeout`, `max_idle_connections`).
    pub(super) idle_since: Option<std::time::Instant>,
}

impl BackendConn {
    pub(super) fn new(stream: Stream, pool: Rc<Pool>) -> BackendConn {
        pool.opened();
        BackendConn {
            stream,
            read_timeout: None,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            pool,
            reused: false,
            wrote: false,
            idle_since: None,
        }
    }

    pub(super) fn mark_idle(&mut self, now: std::time::Instant) {
        self.idle_since = Some(now);
    }

    /// When it went back to the pool (now if no setting asked to record it).
    pub(super) fn idle_since(&self) -> std::time::Instant {
        self.idle_since.unwrap_or_else(std::time::Instant::now)
    }

    pub(super) fn into_reused(mut self) -> BackendConn {
        self.reused = true;
        self.wrote = false;
        self
    }

    /// An idle connection with something to read (unsolicited bytes, end of
    /// stream, an error) must not carry another exchange. One non-blocking
    /// read attempt: it never waits.
    pub(super) fn is_stale(&mut self) -> bool {
        self.stream.has_input()
    }

    pub fn is_reused(&self) -> bool {
        self.reused
    }

    pub fn pool(&self) -> &Rc<Pool> {
        &self.pool
    }

    /// Ends an exchange: a connection whose response was read completely
    /// and that may be kept alive goes back to the pool; any other is closed.
    pub fn finish(mut self, keep_alive: bool) {
        if keep_alive && self.start == self.end {
            self.read_timeout = None;
            let pool = self.pool.clone();
            pool.checkin(self.into_reused());
        }
    }
}

impl Drop for BackendConn {
    fn drop(&mut self) {
        self.pool.closed();
    }
}
