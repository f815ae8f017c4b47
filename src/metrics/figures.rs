//! What one worker has counted: plain numbers in a layout fixed by the
//! configuration (endpoint × backend × host), so that two workers'
//! figures add up element by element. Series keyed by a status or an
//! outcome are created on first use (a handful per endpoint: statuses are
//! bounded, the labels never hold client data).

use super::histogram::Histogram;
use super::stats::StatsFigures;
use crate::config::Config;
use crate::http::Method;

#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// `http_server_*`, per endpoint; the last list is for requests no
    /// endpoint answered (built-ins, 404, 405, redirects).
    pub server: Vec<Vec<ServerSeries>>,
    /// `krakend_proxy_duration`, per endpoint.
    pub proxy: Vec<Vec<StageSeries>>,
    /// Per endpoint, per backend.
    pub backends: Vec<Vec<BackendFigures>>,
    pub worker: WorkerFigures,
    /// `telemetry/metrics`: the `/__stats` figures, when served.
    pub stats: Option<StatsFigures>,
}

/// `cuttle_worker_*`: this worker's own figures (never summed).
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerFigures {
    pub requests: u64,
    pub accepted: u64,
    pub open_connections: u64,
    pub busy_seconds: f64,
    pub websocket: WebSocketFigures,
}

/// `cuttle_worker_websocket_*`: the WebSocket sessions this worker relayed
/// (`proxy::websocket`), frames and payload-and-header bytes by the side
/// that sent them.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebSocketFigures {
    pub opened: u64,
    pub closed: u64,
    pub client_frames: u64,
    pub client_bytes: u64,
    pub backend_frames: u64,
    pub backend_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct ServerSeries {
    pub method: Method,
    pub status: u16,
    pub duration: Histogram,
    pub size: Histogram,
}

/// How a proxy or backend stage ended, as krakend-otel's labels say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageOutcome {
    pub error: bool,
    pub canceled: bool,
    pub complete: bool,
}

#[derive(Debug, Clone)]
pub struct StageSeries {
    pub outcome: StageOutcome,
    pub duration: Histogram,
}

#[derive(Debug, Clone, Default)]
pub struct BackendFigures {
    /// `krakend_backend_duration`.
    pub stage: Vec<StageSeries>,
    /// `http_client_*`, per host of the backend.
    pub hosts: Vec<HostFigures>,
    /// `cuttle_backend_cache_*`: `qos/http-cache` lookups.
    pub cache: CacheFigures,
}

/// What a backend's `qos/http-cache` answered (`upstream::cache::Lookup`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheFigures {
    pub hits: u64,
    pub revalidated: u64,
    pub misses: u64,
}

#[derive(Debug, Clone, Default)]
pub struct HostFigures {
    /// Failed, canceled and timed-out calls have no status (label 0).
    pub failed: u64,
    pub canceled: u64,
    pub timed_out: u64,
    /// Per response status (0: no response).
    pub calls: Vec<ClientSeries>,
}

#[derive(Debug, Clone)]
pub struct ClientSeries {
    pub status: u16,
    pub started: u64,
    pub duration: Histogram,
    pub size: Histogram,
}

impl Figures {
    /// Empty figures shaped for `config`.
    pub fn new(config: &Config) -> Figures {
        let endpoints = &config.endpoints;
        Figures {
            server: vec![Vec::new(); endpoints.len() + 1],
            proxy: vec![Vec::new(); endpoints.len()],
            backends: endpoints
                .iter()
                .map(|e| {
                    e.backends
                        .iter()
                        .map(|b| BackendFigures {
                            stage: Vec::new(),
                            hosts: vec![HostFigures::default(); b.hosts.len()],
                            cache: CacheFigures::default(),
                        })
                        .collect()
                })
                .collect(),
            worker: WorkerFigures::default(),
            stats: config
                .stats
                .as_ref()
                .filter(|s| s.endpoint)
                .map(|_| StatsFigures::new(config)),
        }
    }

    /// Whether `other` counts the same endpoints, backends and hosts (the
    /// same configuration, as far as its shape tells).
    pub fn same_layout(&self, other: &Figures) -> bool {
        self.server.len() == other.server.len()
            && self.backends.len() == other.backends.len()
            && self.backends.iter().zip(&other.backends).all(|(a, b)| {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.hosts.len() == b.hosts.len())
            })
            && match (&self.stats, &other.stats) {
                (Some(a), Some(b)) => a.same_layout(b),
                (None, None) => true,
                _ => false,
            }
    }

    /// Adds `other` (same configuration) into these figures; the worker
    /// figures are left alone.
    pub fn add(&mut self, other: &Figures) {
        if let (Some(mine), Some(theirs)) = (&mut self.stats, &other.stats) {
            mine.add(theirs);
        }
        for (mine, theirs) in self.server.iter_mut().zip(&other.server) {
            for s in theirs {
                server_series(mine, s.method, s.status).add(s);
            }
        }
        for (mine, theirs) in self.proxy.iter_mut().zip(&other.proxy) {
            add_stages(mine, theirs);
        }
        for (mine, theirs) in self.backends.iter_mut().zip(&other.backends) {
            for (mine, theirs) in mine.iter_mut().zip(theirs) {
                add_stages(&mut mine.stage, &theirs.stage);
                mine.cache.hits += theirs.cache.hits;
                mine.cache.revalidated += theirs.cache.revalidated;
                mine.cache.misses += theirs.cache.misses;
                for (mine, theirs) in mine.hosts.iter_mut().zip(&theirs.hosts) {
                    mine.failed += theirs.failed;
                    mine.canceled += theirs.canceled;
                    mine.timed_out += theirs.timed_out;
                    for c in &theirs.calls {
                        let series = client_series(&mut mine.calls, c.status);
                        series.started += c.started;
                        series.duration.add(&c.duration);
                        series.size.add(&c.size);
                    }
                }
            }
        }
    }
}

impl ServerSeries {
    fn add(&mut self, other: &ServerSeries) {
        self.duration.add(&other.duration);
        self.size.add(&other.size);
    }
}

fn add_stages(mine: &mut Vec<StageSeries>, theirs: &[StageSeries]) {
    for s in theirs {
        stage_series(mine, s.outcome).duration.add(&s.duration);
    }
}

pub fn server_series(
    list: &mut Vec<ServerSeries>,
    method: Method,
    status: u16,
) -> &mut ServerSeries {
    let at = match list
        .iter()
        .position(|s| s.status == status && s.method == method)
    {
        Some(at) => at,
        None => {
            list.push(ServerSeries {
                method,
                status,
                duration: Histogram::new(),
                size: Histogram::new(),
            });
            list.len() - 1
        }
    };
    &mut list[at]
}

pub fn stage_series(list: &mut Vec<StageSeries>, outcome: StageOutcome) -> &mut StageSeries {
    let at = match list.iter().position(|s| s.outcome == outcome) {
        Some(at) => at,
        None => {
            list.push(StageSeries {
                outcome,
                duration: Histogram::new(),
            });
            list.len() - 1
        }
    };
    &mut list[at]
}

pub fn client_series(list: &mut Vec<ClientSeries>, status: u16) -> &mut ClientSeries {
    let at = match list.iter().position(|s| s.status == status) {
        Some(at) => at,
        None => {
            list.push(ClientSeries {
                status,
                started: 0,
                duration: Histogram::new(),
                size: Histogram::new(),
            });
            list.len() - 1
        }
    };
    &mut list[at]
}
