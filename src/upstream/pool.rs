//! Per-worker, per-host pools of keep-alive backend connections.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use crate::rt::Stream;

use super::conn::BackendConn;
use super::discovery::{Feed, Instance};
use super::error::{BackendError, ConnectFailure};

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
            .filter_map(|pool| Some((pool.idle.borrow().first()?.conn.idle_since(), pool)))
            .min_by_key(|(since, _)| *since);
        if let Some((_, pool)) = oldest {
            drop(pool.idle.borrow_mut().remove(0));
            self.released(1);
        }
    }
}

/// One address of a pool's host: the host name's current address, or one
/// instance of a `"sd": "dns"` backend (`upstream::discovery`).
pub struct Endpoint {
    /// The `Host` header's source: the pool's authority, or an SRV
    /// instance's `target.:port` (`https://...` for TLS).
    pub authority: Rc<str>,
    addr: SocketAddr,
    /// For TLS: the name sent as SNI and verified in the certificate.
    tls_name: Option<ServerName<'static>>,
    /// Set when DNS stopped listing it: its connections are closed as
    /// they finish (drained) and it is never picked again.
    gone: Cell<bool>,
}

impl Endpoint {
    fn new(instance: &Instance) -> Rc<Endpoint> {
        let tls_name = instance
            .authority
            .strip_prefix("https://")
            .and_then(|host_port| {
                let host = host_port
                    .rsplit_once(':')
                    .map_or(host_port, |(host, _)| host)
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                // An SRV target's final dot is not part of the certificate's
                // name (Go's `hostnameInSNI` drops it too).
                let host = host.strip_suffix('.').unwrap_or(host);
                ServerName::try_from(host.to_string()).ok()
            });
        Rc::new(Endpoint {
            authority: (*instance.authority).into(),
            addr: instance.addr,
            tls_name,
            gone: Cell::new(false),
        })
    }

    fn is(&self, instance: &Instance) -> bool {
        self.addr == instance.addr && *self.authority == *instance.authority
    }
}

/// A pool's endpoints as of one version of its feed: `rotation` lists
/// them as often as their weight says (lura's expanded instance list),
/// and a pool takes them round-robin.
struct Endpoints {
    version: u64,
    list: Vec<Rc<Endpoint>>,
    rotation: Vec<usize>,
}

/// One backend host as seen by one worker.
pub struct Pool {
    /// `host:port`, sent as the `Host` header; `https://host:port` for a
    /// TLS backend (see `authority_of`); `srv+http://NAME` for a
    /// `"sd": "dns"` one.
    pub authority: Rc<str>,
    /// For an `https://` backend: the client configuration.
    client_tls: Option<Arc<rustls::ClientConfig>>,
    /// Where the addresses come from (fixed, or kept current by DNS).
    feed: Arc<Feed>,
    /// The addresses this worker calls, taken from `feed` by `refresh`.
    endpoints: RefCell<Endpoints>,
    next: Cell<usize>,
    /// Oldest first: checkouts take the last (most recently used).
    idle: RefCell<Vec<Counted>>,
    settings: PoolSettings,
    budget: Option<Rc<IdleBudget>>,
    /// Connections currently open to this host from this worker (idle or
    /// busy): each [`Counted`] connection holds this count.
    open: Rc<Cell<usize>>,
    /// Set when a reload replaced this pool: its connections are closed
    /// as they finish instead of kept, so the pool (which each [`Lease`]
    /// holds an `Rc` of) is freed with the last one.
    retired: Cell<bool>,
}

impl Pool {
    /// A pool; with a `budget` (`max_idle_connections`) it is registered
    /// in it.
    pub fn new(
        authority: Rc<str>,
        feed: Arc<Feed>,
        settings: PoolSettings,
        budget: Option<&Rc<IdleBudget>>,
        client_tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Rc<Pool> {
        let pool = Rc::new(Pool {
            client_tls: client_tls.cloned(),
            authority,
            feed,
            endpoints: RefCell::new(Endpoints {
                version: u64::MAX,
                list: Vec::new(),
                rotation: Vec::new(),
            }),
            next: Cell::new(0),
            idle: RefCell::new(Vec::with_capacity(settings.preconnect)),
            retired: Cell::new(false),
            settings,
            budget: budget.cloned(),
            open: Rc::new(Cell::new(0)),
        });
        if let Some(budget) = budget {
            budget.register(&pool);
        }
        pool.refresh();
        pool
    }

    /// Whether a pool built with these settings would be this one, so a
    /// reloaded configuration can keep it (and its open connections).
    pub fn same_as(&self, feed: &Arc<Feed>, settings: &PoolSettings) -> bool {
        Arc::ptr_eq(&self.feed, feed) && self.settings == *settings
    }

    /// Takes the feed's current addresses when they changed (a worker's
    /// timer task calls it, off the request path). Endpoints still listed
    /// keep their connections; the others are drained: their idle
    /// connections closed now, their busy ones when they finish.
    pub fn refresh(&self) {
        let version = self.feed.version();
        if self.endpoints.borrow().version == version {
            return;
        }
        let set = self.feed.instances();
        let mut endpoints = self.endpoints.borrow_mut();
        let mut list: Vec<Rc<Endpoint>> = Vec::new();
        let mut rotation = Vec::with_capacity(set.len());
        for instance in set.iter() {
            let at = match list.iter().position(|e| e.is(instance)) {
                Some(at) => at,
                None => {
                    let kept = endpoints.list.iter().find(|e| e.is(instance)).cloned();
                    list.push(kept.unwrap_or_else(|| Endpoint::new(instance)));
                    list.len() - 1
                }
            };
            rotation.push(at);
        }
        for old in &endpoints.list {
            if !list.iter().any(|e| Rc::ptr_eq(e, old)) {
                old.gone.set(true);
            }
        }
        *endpoints = Endpoints {
            version,
            list,
            rotation,
        };
        drop(endpoints);
        let mut idle = self.idle.borrow_mut();
        let before = idle.len();
        idle.retain(|c| !c.endpoint.gone.get());
        if let Some(budget) = &self.budget {
            budget.released(before - idle.len());
        }
    }

    /// The endpoint for the next call: round-robin over the weighted list.
    /// `Err` when the host has no address (it did not resolve).
    pub fn pick(&self) -> Result<Rc<Endpoint>, BackendError> {
        let endpoints = self.endpoints.borrow();
        let n = endpoints.rotation.len();
        let at = match n {
            0 => return Err(BackendError::Resolve(self.authority.clone())),
            1 => 0,
            _ => {
                let i = self.next.get() % n;
                self.next.set(i + 1);
                i
            }
        };
        Ok(endpoints.list[endpoints.rotation[at]].clone())
    }

    /// The addresses this worker currently calls, in rotation order.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        let endpoints = self.endpoints.borrow();
        endpoints
            .rotation
            .iter()
            .map(|&i| endpoints.list[i].addr)
            .collect()
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
    pub async fn checkout(self: &Rc<Self>) -> Result<Lease, BackendError> {
        let endpoint = self.pick()?;
        self.checkout_at(&endpoint).await
    }

    /// [`Pool::checkout`] of a connection to `endpoint`.
    pub async fn checkout_at(
        self: &Rc<Self>,
        endpoint: &Rc<Endpoint>,
    ) -> Result<Lease, BackendError> {
        let now = self.settings.idle_timeout.map(|_| Instant::now());
        loop {
            // The most recently used connection to this endpoint: the last
            // one at once when the pool has a single endpoint.
            let found = {
                let idle = self.idle.borrow();
                idle.iter().rposition(|c| Rc::ptr_eq(&c.endpoint, endpoint))
            };
            let Some(at) = found else {
                break;
            };
            let mut idle = self.idle.borrow_mut().remove(at);
            if let Some(budget) = &self.budget {
                budget.released(1);
            }
            if !now.is_some_and(|now| self.expired(&idle.conn, now)) && !idle.conn.is_stale() {
                return Ok(self.lend(idle));
            }
        }
        // Boxed: connecting (TCP, maybe a TLS handshake) is the rare path
        // on keep-alive traffic, and its state is most of this future's
        // size, which every request's future would otherwise carry.
        Box::pin(self.connect_at(endpoint)).await
    }

    fn lend(self: &Rc<Self>, conn: Counted) -> Lease {
        Lease {
            conn,
            pool: self.clone(),
        }
    }

    /// A new connection, bypassing the idle list.
    pub async fn connect(self: &Rc<Self>) -> Result<Lease, BackendError> {
        let endpoint = self.pick()?;
        self.connect_at(&endpoint).await
    }

    /// A new connection to `endpoint`, bypassing the idle list.
    pub async fn connect_at(
        self: &Rc<Self>,
        endpoint: &Rc<Endpoint>,
    ) -> Result<Lease, BackendError> {
        let stream = self.open_stream_at(endpoint).await?;
        let conn = Counted::new(Box::new(BackendConn::new(stream)), &self.open, endpoint);
        Ok(self.lend(conn))
    }

    /// A new connection (TCP, then TLS for an `https://` endpoint) that is
    /// not the pool's: a WebSocket session takes it over for its lifetime.
    pub async fn open_stream_at(&self, endpoint: &Endpoint) -> Result<Stream, BackendError> {
        let addr = endpoint.addr;
        let timeout = self.settings.connect_timeout;
        let stream = Stream::connect(addr, timeout).await.map_err(|e| {
            BackendError::Connect(self.authority.clone(), ConnectFailure::Tcp(Rc::new(e)))
        })?;
        // Requests are written whole; Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        if let Some(period) = self.settings.tcp_keep_alive {
            let _ = stream.set_tcp_keep_alive(period);
        }
        let tls = match (&self.client_tls, &endpoint.tls_name) {
            (Some(config), Some(name)) => Some((config, name)),
            _ => None,
        };
        let stream = match tls {
            None if endpoint.authority.starts_with("https://") => {
                return Err(BackendError::Connect(
                    self.authority.clone(),
                    ConnectFailure::NotVerifiable,
                ));
            }
            None => stream,
            Some((config, name)) => stream
                .connect_tls(config.clone(), name.clone(), timeout)
                .await
                .map_err(|e| {
                    BackendError::Connect(self.authority.clone(), ConnectFailure::Tls(Rc::new(e)))
                })?,
        };
        Ok(stream)
    }

    /// Puts a connection whose last exchange ended cleanly back in the
    /// pool; or closes it, when the pool keeps no more.
    fn checkin(&self, mut idle: Counted) {
        if self.retired.get()
            || idle.endpoint.gone.get()
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
            idle.conn.mark_idle(Instant::now());
        }
        self.idle.borrow_mut().push(idle);
    }

    /// Opens connections until `preconnect` are idle, stopping at the first
    /// failure (a backend that is down at start-up is not an error).
    pub async fn warm_up(self: Rc<Self>) {
        // Pre-connected connections count in `max_idle_connections` like any
        // idle one; warming up stops at the budget rather than evict.
        let room = || self.budget.as_ref().is_none_or(|b| b.count.get() < b.cap);
        while !self.retired.get() && self.idle.borrow().len() < self.settings.preconnect && room() {
            match self.connect().await {
                Ok(lease) => lease.finish(true),
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
        idle.retain_mut(|idle| {
            !now.is_some_and(|now| self.expired(&idle.conn, now)) && !idle.conn.is_stale()
        });
        if let Some(budget) = &self.budget {
            budget.released(before - idle.len());
        }
    }

    /// A reload no longer uses this pool: its idle connections are closed
    /// now and the busy ones when they finish. Without this the idle
    /// connections would stay open as long as anything still holds the
    /// pool (a request on the previous configuration, a lease), with no
    /// sweeper looking at them.
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

/// A connection counted in its pool's open connections for as long as it
/// exists, idle or lent: closing it (dropping it) uncounts it. Boxed: a
/// lease is moved through every level of a backend call, and the
/// connection (with its last response head) is most of a kilobyte.
struct Counted {
    conn: Box<BackendConn>,
    open: Rc<Cell<usize>>,
    /// Where it is connected: a checkout for another endpoint skips it.
    endpoint: Rc<Endpoint>,
}

impl Counted {
    fn new(conn: Box<BackendConn>, open: &Rc<Cell<usize>>, endpoint: &Rc<Endpoint>) -> Counted {
        open.set(open.get() + 1);
        Counted {
            conn,
            open: open.clone(),
            endpoint: endpoint.clone(),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.set(self.open.get().saturating_sub(1));
    }
}

/// A connection lent out by its pool for one exchange (with its redirects
/// and the reading of the body). [`Lease::finish`] gives it back; a lease
/// dropped without it closes the connection, whose state is then unknown.
pub struct Lease {
    conn: Counted,
    pool: Rc<Pool>,
}

impl Lease {
    /// Ends the exchange: a connection whose response was read completely
    /// and that may be kept alive goes back to the pool; any other is closed.
    pub fn finish(self, keep_alive: bool) {
        let Lease { mut conn, pool } = self;
        if keep_alive && conn.conn.is_drained() {
            conn.conn.reset_for_reuse();
            pool.checkin(conn);
        }
    }
}

impl std::ops::Deref for Lease {
    type Target = BackendConn;

    fn deref(&self) -> &BackendConn {
        &self.conn.conn
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut BackendConn {
        &mut self.conn.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_gives_its_connection_back_or_closes_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The backend keeps what it accepts open and silent.
        let backend = std::thread::spawn(move || {
            let accepted: Vec<_> = listener.incoming().take(3).collect();
            accepted
        });
        crate::rt::block_on_local(async move {
            let settings = PoolSettings {
                max_idle: 4,
                ..PoolSettings::default()
            };
            let feed = Feed::new(&addr.to_string());
            let pool = Pool::new("127.0.0.1:1".into(), feed, settings, None, None);
            let counts = || (pool.open_count(), pool.idle_count());
            let lease = pool.checkout().await.unwrap();
            assert!(!lease.is_reused());
            assert_eq!(counts(), (1, 0));
            lease.finish(true);
            assert_eq!(counts(), (1, 1), "finished: back in the pool");
            let lease = pool.checkout().await.unwrap();
            assert!(lease.is_reused());
            assert_eq!(counts(), (1, 0));
            drop(lease);
            assert_eq!(counts(), (0, 0), "dropped unfinished: closed");
            let lease = pool.checkout().await.unwrap();
            lease.finish(false);
            assert_eq!(counts(), (0, 0), "not to be kept alive: closed");
            let lease = pool.checkout().await.unwrap();
            pool.retire();
            lease.finish(true);
            assert_eq!(counts(), (0, 0), "its pool retired: closed");
        })
        .unwrap();
        assert_eq!(backend.join().unwrap().len(), 3);
    }

    #[test]
    fn endpoints_follow_their_feed_by_weight_and_gone_ones_drain() {
        let listen = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (one, two) = (listen(), listen());
        let (a, b) = (one.local_addr().unwrap(), two.local_addr().unwrap());
        let keep = |l: std::net::TcpListener, n| {
            std::thread::spawn(move || l.incoming().take(n).collect::<Vec<_>>())
        };
        let (kept_a, kept_b) = (keep(one, 1), keep(two, 1));
        let instance = |addr: SocketAddr| Instance {
            authority: format!("{addr}").into(),
            addr,
        };
        crate::rt::block_on_local(async move {
            let feed = Feed::new("srv+http://svc.test");
            // Weights 1:3, as lura expands them.
            feed.publish(vec![instance(a), instance(b), instance(b), instance(b)]);
            let settings = PoolSettings {
                max_idle: 4,
                ..PoolSettings::default()
            };
            let pool = Pool::new(
                "srv+http://svc.test".into(),
                feed.clone(),
                settings,
                None,
                None,
            );
            assert_eq!(pool.addresses(), [a, b, b, b]);
            let picks: Vec<_> = (0..8).map(|_| pool.pick().unwrap().addr).collect();
            assert_eq!(picks, [a, b, b, b, a, b, b, b]);
            let to_a = pool.checkout().await.unwrap();
            let to_b = pool.checkout().await.unwrap();
            to_b.finish(true);
            assert_eq!((pool.open_count(), pool.idle_count()), (2, 1));
            // a leaves: b keeps its idle connection, a's busy one is
            // closed when its exchange ends.
            feed.publish(vec![instance(b)]);
            pool.refresh();
            assert_eq!(pool.addresses(), [b]);
            to_a.finish(true);
            assert_eq!((pool.open_count(), pool.idle_count()), (1, 1));
            let to_b = pool.checkout().await.unwrap();
            assert!(to_b.is_reused(), "b's connection kept");
            to_b.finish(true);
            // b leaves too: its idle connection is closed at once.
            feed.publish(vec![]);
            pool.refresh();
            assert_eq!((pool.open_count(), pool.idle_count()), (0, 0));
            assert!(matches!(pool.pick(), Err(BackendError::Resolve(_))));
        })
        .unwrap();
        assert_eq!(kept_a.join().unwrap().len(), 1);
        assert_eq!(kept_b.join().unwrap().len(), 1);
    }
}
