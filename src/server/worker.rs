//! Everything one worker owns: its copy of the routes, its compiled
//! endpoints, its backend pools, its clock string and its counters.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use super::observe::Observer;
use crate::config::Config;
use crate::http::{Method, fmt_http_date};
use crate::prepare::Prepared;
use crate::proxy::{Edge, PlanError, Service, WorkerShare, compile_endpoint};
use crate::router::{Redirects, Router};
use crate::upstream::{Feed, IdleBudget, Pool, PoolSettings, Pools, authority_of};

/// One worker's tables for one configuration: a reload (SIGHUP) builds the
/// next generation on the worker's thread ([`Worker::next`]) and the
/// worker switches to it between requests; a request in flight finishes on
/// the generation it began with (it holds an `Rc`). The counters, the
/// drain flag and the date string are the worker's, shared by every
/// generation.
pub struct Worker {
    pub id: usize,
    /// What the request path needs (routes, endpoints, pools, edge
    /// screen); `Worker` derefs to it.
    pub service: Service,
    /// IMF-fixdate of the current second, refreshed by a timer task.
    date: Rc<RefCell<[u8; 29]>>,
    /// Client connections open on this worker.
    pub connections: Rc<Cell<usize>>,
    /// Set on SIGTERM/SIGINT: finish what is in flight, accept nothing new.
    pub drain: Rc<super::drain::Drain>,
    /// Told about every answered request (metrics, access log).
    pub observer: Observer,
    /// Test builds only: `CUTTLE_TEST_PANIC_ACCEPT` is set, so the accept
    /// loop panics on its first connection (see [`Worker::test_panic_on_accept`]).
    #[cfg(debug_assertions)]
    test_panic_accept: bool,
}

impl std::ops::Deref for Worker {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.service
    }
}

impl Worker {
    /// Builds the worker's tables. `resolved` maps every backend authority
    /// to the feed of its addresses (`upstream::discovery`).
    pub fn new(
        id: usize,
        workers: usize,
        config: Config,
        prepared: &Prepared,
        resolved: &[(String, Arc<Feed>)],
    ) -> Result<Worker, PlanError> {
        Worker::build(id, workers, config, prepared, resolved, None)
    }

    /// The next generation for a reloaded `config`: this worker's counters,
    /// drain flag and date; the backend pools of hosts whose address and
    /// pool settings did not change (their idle connections stay open).
    /// The pools it opens anew are listed by [`Worker::new_pools`].
    pub fn next(
        &self,
        workers: usize,
        config: Config,
        prepared: &Prepared,
        resolved: &[(String, Arc<Feed>)],
    ) -> Result<Worker, PlanError> {
        Worker::build(self.id, workers, config, prepared, resolved, Some(self))
    }

    /// The pools of `previous` that this generation does not keep.
    pub fn dropped_pools<'a>(&'a self, previous: &'a Worker) -> impl Iterator<Item = &'a Rc<Pool>> {
        previous.pools.iter().filter(move |old| {
            self.pools
                .get(&old.authority)
                .is_none_or(|new| !Rc::ptr_eq(&new, old))
        })
    }

    /// The pools of this generation that `previous` did not have.
    pub fn new_pools<'a>(&'a self, previous: &'a Worker) -> impl Iterator<Item = &'a Rc<Pool>> {
        self.pools.iter().filter(move |pool| {
            previous
                .pools
                .get(&pool.authority)
                .is_none_or(|old| !Rc::ptr_eq(&old, pool))
        })
    }

    fn build(
        id: usize,
        workers: usize,
        config: Config,
        prepared: &Prepared,
        resolved: &[(String, Arc<Feed>)],
        previous: Option<&Worker>,
    ) -> Result<Worker, PlanError> {
        let mut pools = Pools::default();
        // The prepared client configuration with this worker's own session
        // cache, for its `https://` backends.
        // An `https://` host, or a `"sd": "dns"` one with `sd_scheme: https`.
        let is_tls = |a: &str| a.starts_with("https://") || a.starts_with("srv+https://");
        let client_tls = resolved
            .iter()
            .any(|(a, _)| is_tls(a))
            .then(|| prepared.worker_client_tls());
        let limits = &config.limits;
        let settings = PoolSettings {
            max_idle: limits.idle_per_worker(workers),
            preconnect: limits.preconnect_per_worker(workers),
            connect_timeout: limits.connect_timeout,
            idle_timeout: limits.idle_connection_timeout,
            response_header_timeout: limits.response_header_timeout,
            keep_alive: !limits.disable_keep_alives,
            tcp_keep_alive: limits.tcp_keep_alive,
            max_idle_total: limits.idle_total_per_worker(workers),
        };
        // One budget for all of this worker's pools, the previous
        // generation's when its cap is unchanged (its kept pools count in it).
        pools.budget = settings.max_idle_total.map(|cap| {
            previous
                .and_then(|p| p.pools.budget.clone())
                .filter(|b| b.cap() == cap)
                .unwrap_or_else(|| IdleBudget::new(cap))
        });
        let budget = pools.budget.clone();
        // A websocket endpoint's backend gets a connection of its own per
        // session (`proxy::websocket`): pre-connecting would hold idle ones.
        let websocket_only = |authority: &str| {
            let mut users = config.endpoints.iter().flat_map(|e| {
                e.backends
                    .iter()
                    .filter(|b| b.hosts.iter().any(|h| authority_of(h) == authority))
                    .map(|_| e.websocket.is_some())
            });
            users.all(|websocket| websocket)
        };
        for (authority, feed) in resolved {
            let mut settings = settings.clone();
            if websocket_only(authority) {
                settings.preconnect = 0;
            }
            // A pool is kept only if nothing that built it changed (an
            // https:// one also needs the same client_tls).
            let kept = previous.and_then(|previous| {
                let pool = previous.pools.get(authority)?;
                let same_tls =
                    !is_tls(authority) || previous.config.client_tls == config.client_tls;
                (same_tls && pool.same_as(feed, &settings)).then_some(pool)
            });
            pools.insert(kept.unwrap_or_else(|| {
                Pool::new(
                    authority.as_str().into(),
                    feed.clone(),
                    settings.clone(),
                    budget.as_ref(),
                    client_tls.as_ref(),
                )
            }));
        }
        let share = WorkerShare {
            workers,
            epoch: std::time::Instant::now(),
            return_error_msg: config.return_error_msg,
            disable_compression: config.limits.disable_compression,
            http_caches: Default::default(),
            redis: Default::default(),
            propagates_traces: crate::telemetry::Tracer::propagates(&config),
        };
        let endpoints = config
            .endpoints
            .iter()
            .zip(&prepared.endpoints)
            .map(|(e, compiled)| compile_endpoint(e.index, e, compiled, &pools, &share))
            .collect::<Result<Vec<_>, _>>()?;
        let router = Router::new(config.endpoints.iter().map(|e| (e.path.as_str(), e.method)))
            .with_redirects(Redirects {
                trailing_slash: config.router.redirect_trailing_slash,
                fixed_path: config.router.redirect_fixed_path,
            });
        let observer = Observer::new(&config);
        let service = Service {
            edge: Edge::new(&config)?,
            metrics: observer.metrics.clone(),
            tracer: observer.tracer.clone(),
            version_header: version_header(config.router.hide_version_header),
            method_order: method_order(&config),
            config: Rc::new(config),
            router,
            endpoints,
            pools: Rc::new(pools),
            #[cfg(debug_assertions)]
            test_panic_endpoint: std::env::var("CUTTLE_TEST_PANIC_ENDPOINT").ok(),
        };
        Ok(Worker {
            id,
            service,
            observer,
            date: previous.map_or_else(
                || Rc::new(RefCell::new(fmt_http_date(unix_now()))),
                |p| p.date.clone(),
            ),
            connections: previous.map_or_else(Default::default, |p| p.connections.clone()),
            drain: previous.map_or_else(Default::default, |p| p.drain.clone()),
            #[cfg(debug_assertions)]
            test_panic_accept: std::env::var_os("CUTTLE_TEST_PANIC_ACCEPT").is_some(),
        })
    }

    /// The same kind of test hook (debug builds only, environment only) for
    /// a panic outside any connection: with `CUTTLE_TEST_PANIC_ACCEPT` set,
    /// the accept loop itself panics, which must end the process.
    #[cfg(debug_assertions)]
    pub fn test_panic_on_accept(&self) {
        if self.test_panic_accept {
            panic!("test-only panic trigger (CUTTLE_TEST_PANIC_ACCEPT)");
        }
    }

    pub fn date(&self) -> [u8; 29] {
        *self.date.borrow()
    }

    pub fn refresh_date(&self) {
        *self.date.borrow_mut() = fmt_http_date(unix_now());
    }
}

/// gin keeps one route tree per method, in the order a route of that
/// method was first added: lura's health GET (`router/gin/engine.go`), then
/// `/__debug/` and `/__echo/` with gin's `Any` (GET, POST, PUT, PATCH, HEAD,
/// OPTIONS, DELETE, CONNECT, TRACE), then the endpoints in file order, then
/// `auto_options`' OPTIONS (lura `router/gin/router.go`).
fn method_order(config: &Config) -> Vec<Method> {
    let mut order: Vec<Method> = Vec::with_capacity(Method::ALL.len());
    let mut add = |m: Method| {
        if !order.contains(&m) {
            order.push(m);
        }
    };
    if config.router.health_path.is_some() {
        add(Method::Get);
    }
    if config.debug_endpoint || config.echo_endpoint {
        use Method::*;
        for m in [Get, Post, Put, Patch, Head, Options, Delete, Connect, Trace] {
            add(m);
        }
    }
    for endpoint in &config.endpoints {
        add(endpoint.method);
    }
    add(Method::Options);
    order
}

fn version_header(hide: bool) -> Box<[u8]> {
    let version = if hide {
        "undefined"
    } else {
        crate::proxy::KRAKEND_VERSION
    };
    format!("X-Krakend: Version {version}\r\n")
        .into_bytes()
        .into_boxed_slice()
}

/// Every backend authority a config names, deduplicated, in first-use order.
pub fn backend_authorities(config: &Config) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for host in config
        .endpoints
        .iter()
        .flat_map(|e| &e.backends)
        .filter(|b| crate::upstream::kind::uses_http_pools(b.protocol.as_ref()))
        .flat_map(|b| &b.hosts)
        .chain(config.async_agents.iter().flat_map(|a| a.hosts()))
    {
        let authority = authority_of(host);
        if !out.contains(&authority) {
            out.push(authority);
        }
    }
    out
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
