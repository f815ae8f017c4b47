//! Everything one worker owns: its copy of the routes, its compiled
//! endpoints, its backend pools, its clock string and its counters.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;

use super::edge::Edge;
use super::observe::Observer;
use crate::config::Config;
use crate::http::fmt_http_date;
use crate::proxy::{EndpointPlan, PlanError, WorkerShare, compile_endpoint};
use crate::router::Router;
use crate::upstream::{Pool, Pools, authority_of};

pub struct Worker {
    pub id: usize,
    pub config: Config,
    pub router: Router,
    pub endpoints: Vec<EndpointPlan>,
    pub pools: Pools,
    /// IMF-fixdate of the current second, refreshed by a timer task.
    date: RefCell<[u8; 29]>,
    /// Client connections open on this worker.
    pub connections: Cell<usize>,
    /// Set on SIGTERM/SIGINT: finish what is in flight, accept nothing new.
    pub drain: super::drain::Drain,
    /// Service-level checks run before routing (CORS, security, bots).
    pub edge: Edge,
    /// Told about every answered request (metrics, access log).
    pub observer: Observer,
    /// `X-Krakend: Version ...\r\n`, the line KrakenD adds to every
    /// endpoint's response (`Version undefined` with `hide_version_header`).
    pub version_header: Box<[u8]>,
    /// Test builds only: the endpoint path named by
    /// `CUTTLE_TEST_PANIC_ENDPOINT`, whose requests panic (see
    /// [`Worker::test_panic_trigger`]).
    #[cfg(debug_assertions)]
    test_panic_endpoint: Option<String>,
    /// Test builds only: `CUTTLE_TEST_PANIC_ACCEPT` is set, so the accept
    /// loop panics on its first connection (see [`Worker::test_panic_on_accept`]).
    #[cfg(debug_assertions)]
    test_panic_accept: bool,
}

impl Worker {
    /// Builds the worker's tables. `resolved` maps every backend authority
    /// to its address (resolved once, before the workers started).
    pub fn new(
        id: usize,
        workers: usize,
        config: Config,
        resolved: &[(String, Option<SocketAddr>)],
    ) -> Result<Worker, PlanError> {
        let mut pools = Pools::default();
        // This worker's own client configuration (and session cache) for
        // its `https://` backends.
        let client_tls = if resolved.iter().any(|(a, _)| a.starts_with("https://")) {
            Some(
                crate::tls::client_config(&config.client_tls)
                    .map_err(|p| PlanError(format!("{}: {}", p.at, p.message)))?,
            )
        } else {
            None
        };
        for (authority, addr) in resolved {
            pools.insert(Rc::new(Pool::new(
                authority.as_str().into(),
                *addr,
                config.limits.idle_per_worker(workers),
                config.limits.preconnect_per_worker(workers),
                config.limits.connect_timeout,
                client_tls.as_ref(),
            )));
        }
        let share = WorkerShare {
            workers,
            epoch: std::time::Instant::now(),
            return_error_msg: config.return_error_msg,
        };
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| compile_endpoint(e.index, e, &pools, &share))
            .collect::<Result<Vec<_>, _>>()?;
        let router = Router::new(config.endpoints.iter().map(|e| (e.path.as_str(), e.method)));
        Ok(Worker {
            id,
            edge: Edge::new(&config)?,
            observer: Observer::new(&config),
            version_header: version_header(config.router.hide_version_header),
            config,
            router,
            endpoints,
            pools,
            date: RefCell::new(fmt_http_date(unix_now())),
            connections: Cell::new(0),
            drain: Default::default(),
            #[cfg(debug_assertions)]
            test_panic_endpoint: std::env::var("CUTTLE_TEST_PANIC_ENDPOINT").ok(),
            #[cfg(debug_assertions)]
            test_panic_accept: std::env::var_os("CUTTLE_TEST_PANIC_ACCEPT").is_some(),
        })
    }

    /// A test hook for the tests of panic isolation, compiled only into
    /// debug builds (those `cargo test` runs; release builds have no such
    /// code) and armed only by the `CUTTLE_TEST_PANIC_ENDPOINT` environment
    /// variable, never by a configuration file: a request routed to the
    /// endpoint with that path panics in its connection task.
    #[cfg(debug_assertions)]
    pub fn test_panic_trigger(&self, endpoint: usize) {
        if let Some(path) = &self.test_panic_endpoint
            && self.config.endpoints[endpoint].path == *path
        {
            panic!("test-only panic trigger (CUTTLE_TEST_PANIC_ENDPOINT={path})");
        }
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
        .flat_map(|b| &b.hosts)
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
