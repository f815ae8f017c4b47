//! The process around the workers (the event loop each runs is `crate::rt`;
//! this is the main thread's side). Start-up: which cores, the port check,
//! one pinned worker thread per
//! core (each running its own event loop, see `crate::rt`), each with its
//! own listener and its own tables, built from the parts the prepare step
//! (`crate::prepare`) built once for all of them.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::config::Config;
use crate::server::{Worker, backend_authorities, run_worker};
use crate::upstream::{Feed, resolve_live, srv_every};

mod listener;
pub mod signals;

pub use crate::prepare::Prepared;

/// How long start-up waits for backend names to resolve.
const RESOLVE_LIMIT: Duration = Duration::from_secs(3);

/// Reads, builds and prepares the configuration again for a reload;
/// `Err` says why it is not served.
pub type Reloader = Box<dyn Fn() -> Result<(Config, Prepared), String>>;

pub struct RunOptions {
    /// `--cores N`: how many of the allowed CPUs to use (default: all).
    pub cores: Option<usize>,
    /// Reads and builds the configuration again (the file, with the same
    /// command-line overrides) for a reload on SIGHUP; `None`: SIGHUP only
    /// reloads the certificates.
    pub reload: Option<Reloader>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "cannot listen on {addr}: {source}. Is another cuttle or another server already using the port? Stop it or pick another port with -p"
    )]
    PortInUse {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "--cores {asked}: this process may only run on {allowed} CPU(s) ({cpus:?}); ask for at most {allowed}"
    )]
    TooManyCores {
        asked: usize,
        allowed: usize,
        cpus: Vec<usize>,
    },
    #[error("--cores must be at least 1")]
    ZeroCores,
    #[error("could not read the CPUs this process may run on (sched_getaffinity failed)")]
    NoAffinity,
    #[error("worker {worker} could not start its event loop on CPU {cpu}: {reason}")]
    Executor {
        worker: usize,
        cpu: usize,
        reason: String,
    },
    #[error(
        "telemetry/opentelemetry exporter \"{name}\": port {port} is the gateway's own port; give the exporter another port (KrakenD's default is 9090)"
    )]
    MetricsPort { name: String, port: u16 },
    #[error("tls: {0}")]
    Tls(String),
    #[error("endpoint configuration: {0}")]
    Plan(String),
}

/// The CPUs this process may run on (what taskset, cpusets or systemd's
/// CPUAffinity= allow), in order.
pub fn allowed_cpus() -> Result<Vec<usize>, StartError> {
    let ids = core_affinity::get_core_ids().ok_or(StartError::NoAffinity)?;
    Ok(ids.into_iter().map(|c| c.id).collect())
}

/// Checks the port is free and, for port 0, picks one (the caller holds
/// the probe while it claims its other ports). A plain bind (no
/// SO_REUSEPORT) fails when another process holds the port, even if that
/// process set SO_REUSEPORT: so a second cuttle on the same port fails here
/// instead of silently sharing the traffic.
fn claim_port(addr: SocketAddr) -> Result<StdListener, StartError> {
    StdListener::bind(addr).map_err(|source| StartError::PortInUse { addr, source })
}

fn bound_addr(probe: &StdListener, asked: SocketAddr) -> Result<SocketAddr, StartError> {
    probe.local_addr().map_err(|source| StartError::PortInUse {
        addr: asked,
        source,
    })
}

/// Starts the one thread that keeps every `jwk_url` fresh (if any). It
/// does not wait for the first fetch: a JWK server that is down does not
/// stop start-up, its tokens are refused until the keys arrive.
fn start_jwk_fetcher(prepared: &Prepared) -> Result<Arc<AtomicBool>, StartError> {
    use crate::auth::keys::{FetchTls, start_fetcher};
    let sources = &prepared.jwk_sources;
    let mut tls = FetchTls::default();
    if sources
        .iter()
        .any(|s| !s.insecure && s.url.starts_with("https://"))
    {
        tls.verified = Some(prepared.client_tls.clone());
    }
    if let Some(insecure) = &prepared.insecure_jwk_tls {
        tracing::warn!(
            "disable_jwk_security is on for an https:// jwk_url: the JWK server's certificate is NOT VERIFIED (as in KrakenD)"
        );
        tls.unverified = Some(insecure.clone());
    }
    start_fetcher(sources.clone(), tls)
        .map_err(|e| StartError::Plan(format!("cannot start the JWK fetcher thread: {e}")))
}

/// Starts `auth/revoker`'s rotation and its revocation endpoint.
fn start_revoker(revoker: &Arc<crate::auth::revoker::Revoker>) -> Result<(), StartError> {
    revoker
        .start_rotation()
        .map_err(|e| StartError::Plan(format!("cannot start the auth/revoker thread: {e}")))?;
    let addr = crate::auth::revoke_http::start(revoker.clone()).map_err(|source| {
        StartError::PortInUse {
            addr: SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, revoker.settings.port)),
            source,
        }
    })?;
    tracing::info!("auth/revoker: revocations accepted on http://{addr}/revoke");
    if let Some(target) = &revoker.settings.redis {
        crate::auth::revoke_redis::start(revoker.clone(), target.clone()).map_err(|e| {
            StartError::Plan(format!("cannot start the auth/revoker Redis thread: {e}"))
        })?;
    }
    Ok(())
}

/// What the running process was started with, that a reload must match.
struct Running {
    config: Config,
    addr: SocketAddr,
    metrics_ports: Vec<SocketAddr>,
    generation: u64,
}

/// A reloaded configuration, read, checked and built once here (as
/// `run` does at start-up) before any worker sees it: `Err` says why it is
/// not served. Returns it with its resolved backend hosts and the stop
/// flag of its JWK fetcher (started, and its first fetch awaited briefly,
/// so its validators have keys when the workers switch).
fn reload_config(
    reload: &dyn Fn() -> Result<(Config, Prepared), String>,
    running: &Running,
    workers: usize,
) -> Result<(crate::server::Reloaded, Arc<AtomicBool>), String> {
    let (config, prepared) = reload()?;
    let old = &running.config;
    let needs_restart = |what: &str| {
        Err(format!(
            "{what} changed; it is read once at start-up: restart cuttle to apply it"
        ))
    };
    if SocketAddr::new(config.listen_ip, config.port) != SocketAddr::new(old.listen_ip, old.port) {
        return needs_restart(&format!("the address to listen on ({})", running.addr));
    }
    if config.tls != old.tls {
        return needs_restart("the \"tls\" section");
    }
    let ports = |c: &Config| -> Vec<(std::net::IpAddr, u16)> {
        c.telemetry
            .iter()
            .flat_map(|t| &t.exporters)
            .map(|e| (e.listen_ip, e.port))
            .collect()
    };
    if ports(&config) != ports(old) {
        return needs_restart(&format!(
            "the metrics exporters (listening on {:?})",
            running.metrics_ports
        ));
    }
    // The `/__stats` listeners are opened once, with the others.
    let stats = |c: &Config| c.stats.as_ref().map(|s| (s.listen, s.endpoint));
    if stats(&config) != stats(old) {
        return needs_restart("telemetry/metrics' listen_address (or whether /__stats is served)");
    }
    if config.use_h2c != old.use_h2c {
        return needs_restart("router.use_h2c");
    }
    // One OTLP exporter thread for the process (`telemetry::export`).
    let otlp = |c: &Config| {
        c.telemetry
            .as_ref()
            .filter(|t| !t.otlp.is_empty())
            .map(|t| {
                (
                    t.otlp.clone(),
                    t.resource.clone(),
                    t.metric_reporting_period,
                )
            })
    };
    if crate::telemetry::export::settings(&config) != crate::telemetry::export::settings(old)
        || otlp(&config) != otlp(old)
    {
        return needs_restart(
            "the OTLP exporters, metric_reporting_period or the service name, version or deploy_env",
        );
    }
    // One filter and one revocation port for the process.
    if config.revoker != old.revoker {
        return needs_restart("auth/revoker");
    }
    let resolved = resolve_live(
        &backend_authorities(&config),
        srv_every(config.limits.dns_cache_ttl),
        RESOLVE_LIMIT,
    );
    prepare(&config, &prepared, workers, &resolved).map_err(|e| e.to_string())?;
    let fetcher = start_jwk_fetcher(&prepared).map_err(|e| e.to_string())?;
    let deadline = std::time::Instant::now() + JWK_FIRST_FETCH_WAIT;
    while prepared
        .jwk_sources
        .iter()
        .any(|s| s.published.generation() == 0)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let next = crate::server::Reloaded {
        generation: running.generation + 1,
        config,
        prepared,
        resolved,
    };
    Ok((next, fetcher))
}

/// How long a reload waits for the first fetch of its JWK sets before the
/// workers switch anyway (tokens are then refused until the keys arrive,
/// as at start-up).
const JWK_FIRST_FETCH_WAIT: Duration = Duration::from_secs(3);

/// Builds what `run` builds before it claims a port or starts a thread,
/// so that a bad file fails here: one worker's tables (router, compiled
/// endpoints with their CEL, JSON Schema, JMESPath and flatmap programs,
/// pools, edge checks) from the prepared parts. `run` and `check -t` both
/// call it, so they cannot disagree about a file.
pub fn prepare(
    config: &Config,
    prepared: &Prepared,
    workers: usize,
    resolved: &[(String, Arc<Feed>)],
) -> Result<(), StartError> {
    Worker::new(0, workers, config.clone(), prepared, resolved)
        .map_err(|e| StartError::Plan(e.to_string()))?;
    // An ephemeral gateway port (`-p 0`) is compared once bound, in `run`.
    if let Some(exporter) = config
        .telemetry
        .iter()
        .flat_map(|t| &t.exporters)
        .find(|e| config.port != 0 && e.port == config.port)
    {
        return Err(StartError::MetricsPort {
            name: exporter.name.clone(),
            port: exporter.port,
        });
    }
    Ok(())
}

/// `check -t`: [`prepare`] for as many workers as `run` would start,
/// without resolving backend names (a name that does not resolve is only
/// a warning for `run`), binding ports or starting threads.
pub fn test_build(config: &Config, prepared: &Prepared) -> Result<(), StartError> {
    let workers = allowed_cpus().map_or(1, |cpus| cpus.len().max(1));
    // Feeds nothing fills: no name is asked.
    let unresolved: Vec<(String, Arc<Feed>)> = backend_authorities(config)
        .into_iter()
        .map(|authority| {
            let feed = Feed::new(&authority);
            (authority, feed)
        })
        .collect();
    prepare(config, prepared, workers, &unresolved)
}

/// Starts the workers and blocks until they stop.
pub fn run(config: Config, prepared: Prepared, options: RunOptions) -> Result<(), StartError> {
    let cpus = allowed_cpus()?;
    let workers = match options.cores {
        Some(0) => return Err(StartError::ZeroCores),
        Some(n) if n > cpus.len() => {
            return Err(StartError::TooManyCores {
                asked: n,
                allowed: cpus.len(),
                cpus,
            });
        }
        Some(n) => n,
        None => cpus.len(),
    };
    if !config.unknown_namespaces.is_empty() {
        tracing::warn!(
            "settings cuttle ignores (namespaces and keys it does not implement, keys KrakenD does not know): {}",
            config.unknown_namespaces.join(", ")
        );
    }
    if config.client_tls.allow_insecure_connections {
        tracing::warn!(
            "client_tls.allow_insecure_connections is on: the certificates of https:// backends are NOT VERIFIED; anyone on the path can read and change backend traffic"
        );
    }
    if let Some(cors) = &config.security.cors
        && cors.allow_credentials
        && cors.allow_origins.iter().any(|o| o == "*")
    {
        // rs/cors does the same; browsers then refuse every credentialed call.
        tracing::warn!(
            "security/cors: allow_credentials with \"*\" in allow_origins sends \"Access-Control-Allow-Origin: *\", which browsers refuse for requests with credentials; list the origins instead"
        );
    }
    // Names are asked again on their TTL (SRV names every `dns_cache_ttl`)
    // by the discovery thread this starts.
    let resolved = resolve_live(
        &backend_authorities(&config),
        srv_every(config.limits.dns_cache_ttl),
        RESOLVE_LIMIT,
    );
    for (authority, feed) in &resolved {
        if feed.instances().is_empty() {
            tracing::warn!(
                "backend host {authority} did not resolve; calls to it fail until it does"
            );
        }
    }
    prepare(&config, &prepared, workers, &resolved)?;
    let tls = prepared.server_tls.clone();
    let asked = SocketAddr::new(config.listen_ip, config.port);
    let probe = claim_port(asked)?;
    let addr = bound_addr(&probe, asked)?;
    // Each Prometheus exporter's port, checked (and chosen, for port 0) the
    // same way; the probes are held until all are bound, so that two
    // ephemeral ports cannot come out the same.
    let mut probes = vec![probe];
    let mut metrics_ports = Vec::new();
    for exporter in config.telemetry.iter().flat_map(|t| &t.exporters) {
        let wanted = SocketAddr::new(exporter.listen_ip, exporter.port);
        if exporter.port == addr.port() {
            return Err(StartError::MetricsPort {
                name: exporter.name.clone(),
                port: exporter.port,
            });
        }
        let probe = claim_port(wanted)?;
        let port = crate::metrics::Port::Prometheus {
            process_metrics: exporter.process_metrics,
        };
        metrics_ports.push((bound_addr(&probe, wanted)?, port));
        probes.push(probe);
    }
    // `telemetry/metrics`' `/__stats` port (krakend-metrics
    // `gin/metrics.go` `RunEndpoint`); the file's ports were compared when
    // it was read, the bound ones (`-p`, port 0) are compared here.
    if let Some(stats) = config.stats.as_ref().filter(|s| s.endpoint) {
        let wanted = stats.listen.port();
        if let Some((clash, _)) = std::iter::once(&(addr, crate::metrics::Port::Stats))
            .chain(&metrics_ports)
            .find(|(a, _)| wanted != 0 && a.port() == wanted)
        {
            return Err(StartError::Plan(format!(
                "{}.listen_address: port {wanted} is also the port of {}; give /__stats a port of its own",
                stats.at,
                if *clash == addr {
                    format!("the gateway ({addr})")
                } else {
                    format!("the metrics exporter on {clash}")
                }
            )));
        }
        // Held with the others, so that an ephemeral port cannot come out
        // the same as theirs.
        let probe = claim_port(stats.listen)?;
        let bound = bound_addr(&probe, stats.listen)?;
        metrics_ports.push((bound, crate::metrics::Port::Stats));
        probes.push(probe);
    }
    drop(probes);
    let pushes = crate::telemetry::push::pushes(&config);
    let board =
        (!metrics_ports.is_empty() || pushes).then(|| crate::metrics::Board::new(&cpus[..workers]));

    let mut jwk_fetcher = start_jwk_fetcher(&prepared)?;
    // Traces over OTLP: the exporter thread, before any worker's tracer.
    crate::telemetry::export::start(&config)
        .map_err(|e| StartError::Plan(format!("cannot start the OTLP exporter thread: {e}")))?;
    if let Some(revoker) = &prepared.revoker {
        let port = revoker.settings.port;
        if port == addr.port() || metrics_ports.iter().any(|(m, _)| m.port() == port) {
            return Err(StartError::Plan(format!(
                "auth/revoker: port {port} is already the gateway's or a metrics exporter's; give the revocation endpoint a port of its own"
            )));
        }
        start_revoker(revoker)?;
    }

    crate::rt::install_panic_hook();
    // Worker threads inherit this mask, so SIGTERM and SIGINT reach only
    // the main thread's sigwait below.
    let signals = signals::block_termination();
    let stop = Arc::new(AtomicBool::new(false));
    // Raised on each SIGHUP; every worker then rebuilds its TLS set-up.
    let reloads = Arc::new(AtomicU64::new(0));
    let configs: crate::server::Reloads = Arc::default();
    // OTLP metrics: the pusher reads the newest configuration's layout.
    if let Some(board) = board.as_ref().filter(|_| pushes) {
        let (reloaded, first) = (configs.clone(), config.clone());
        let current = move || match reloaded.load_full() {
            Some(r) => r.config.clone(),
            None => first.clone(),
        };
        crate::telemetry::push::start(&config, board.clone(), current)
            .map_err(|e| StartError::Plan(format!("cannot start the OTLP metrics thread: {e}")))?;
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), StartError>>();
    let mut handles = Vec::with_capacity(workers);
    for (id, &cpu) in cpus.iter().take(workers).enumerate() {
        let config = config.clone();
        let prepared = prepared.clone();
        let resolved = resolved.clone();
        let ready = ready_tx.clone();
        let control = crate::server::Control {
            stop: stop.clone(),
            reloads: options.reload.is_some().then(|| configs.clone()),
            workers,
        };
        let edge_tls = tls.as_ref().map(|source| crate::server::EdgeTls {
            source: source.clone(),
            reloads: reloads.clone(),
        });
        let metrics_ports = metrics_ports.clone();
        let board = board.clone();
        let name = format!("cuttle-w{id}");
        let spawned = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                // Pinning can fail (a CPU taken away meanwhile); the worker
                // still serves, unpinned.
                if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
                    tracing::warn!("worker {id}: could not pin to CPU {cpu}");
                }
                let failed = ready.clone();
                let ran = crate::rt::block_on_local(async move {
                    let worker = match Worker::new(id, workers, config, &prepared, &resolved) {
                        Ok(worker) => worker,
                        Err(e) => {
                            let _ = ready.send(Err(StartError::Plan(e.to_string())));
                            return;
                        }
                    };
                    let listener = match listener::reuseport_listener(addr)
                        .and_then(crate::rt::Listener::from_std)
                    {
                        Ok(listener) => listener,
                        Err(source) => {
                            let _ = ready.send(Err(StartError::PortInUse { addr, source }));
                            return;
                        }
                    };
                    let tls = match edge_tls.map(|tls| tls.start()).transpose() {
                        Ok(tls) => tls,
                        Err(problem) => {
                            let _ = ready.send(Err(StartError::Tls(problem.message)));
                            return;
                        }
                    };
                    let metrics = match board {
                        None => None,
                        Some(board) => {
                            let mut listeners = Vec::new();
                            for (addr, process) in metrics_ports {
                                match listener::reuseport_listener(addr) {
                                    Ok(l) => listeners.push((l, process)),
                                    Err(source) => {
                                        let _ =
                                            ready.send(Err(StartError::PortInUse { addr, source }));
                                        return;
                                    }
                                }
                            }
                            Some(crate::server::MetricsExport { board, listeners })
                        }
                    };
                    let _ = ready.send(Ok(()));
                    run_worker(worker, listener, control, tls, metrics).await;
                });
                match ran {
                    Ok(()) => {}
                    Err(crate::rt::Stopped::Build(e)) => {
                        let _ = failed.send(Err(StartError::Executor {
                            worker: id,
                            cpu,
                            reason: e.to_string(),
                        }));
                    }
                    Err(crate::rt::Stopped::Died(why)) => worker_died(&name, &why),
                }
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                return Err(StartError::Executor {
                    worker: id,
                    cpu,
                    reason: e.to_string(),
                });
            }
        }
    }
    drop(ready_tx);
    for _ in 0..workers {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(StartError::Executor {
                    worker: 0,
                    cpu: cpus[0],
                    reason: "the worker thread exited during start-up".into(),
                });
            }
        }
    }
    tracing::info!(
        "listening on {addr} with {workers} worker(s) pinned to CPUs {:?}",
        &cpus[..workers]
    );
    let caches = config.endpoints.iter().flat_map(|e| &e.backends);
    let caches = caches.filter_map(|b| b.http_cache.as_ref());
    if let Some(bounds) = crate::upstream::cache::process_bounds(caches, workers) {
        tracing::debug!("{bounds}");
    }
    for (metrics_addr, port) in &metrics_ports {
        if *port == crate::metrics::Port::Stats {
            tracing::info!("stats on http://{metrics_addr}/__stats");
            println!("cuttle stats on {metrics_addr}");
            continue;
        }
        tracing::info!("metrics on http://{metrics_addr}/metrics");
        println!("cuttle metrics on {metrics_addr}");
    }
    // The start-up lines (warnings, NOT ENFORCED errors) go out before the
    // line that says the gateway is ready, so whoever waits for that line
    // (a supervisor's log, a test) has read them all.
    crate::logging::flush(std::time::Duration::from_millis(500));
    println!(
        "cuttle listening on {addr} ({workers} workers{})",
        if tls.is_some() { ", TLS" } else { "" }
    );
    let mut running = Running {
        config: config.clone(),
        addr,
        metrics_ports: metrics_ports.iter().map(|(a, _)| *a).collect(),
        generation: 0,
    };
    let signal = loop {
        match signals::wait(&signals) {
            "SIGHUP" => {
                if tls.is_some() {
                    tracing::info!("SIGHUP: every worker reloads the certificates");
                    reloads.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(reload) = &options.reload {
                    match reload_config(reload, &running, workers) {
                        Ok((next, fetcher)) => {
                            jwk_fetcher.store(true, Ordering::Relaxed);
                            jwk_fetcher = fetcher;
                            running.generation = next.generation;
                            running.config = next.config.clone();
                            tracing::info!(
                                "SIGHUP: configuration reload {} checked; every worker switches to it between requests",
                                running.generation
                            );
                            configs.store(Some(Arc::new(next)));
                        }
                        Err(why) => tracing::error!(
                            "SIGHUP: configuration reload failed, still serving the previous one: {why}"
                        ),
                    }
                }
            }
            other => break other,
        }
    };
    tracing::info!(
        "{signal}: no longer accepting; finishing requests in flight (at most {:?})",
        config.limits.shutdown_wait
    );
    stop.store(true, Ordering::Relaxed);
    // A second signal means: stop now.
    std::thread::spawn(move || {
        let again = loop {
            match signals::wait(&signals) {
                "SIGHUP" => continue,
                other => break other,
            }
        };
        tracing::warn!("{again} again: exiting without waiting");
        crate::logging::flush(Duration::from_millis(200));
        std::process::exit(1);
    });
    for handle in handles {
        let _ = handle.join();
    }
    Ok(())
}

/// A panic escaped a worker's task (ARCHITECTURE.md, "Panics and dead
/// workers"): one line, the log written out, exit 70 for a supervisor.
fn worker_died(name: &str, why: &str) -> ! {
    tracing::error!("{name} died: {why}; exiting so that a supervisor restarts cuttle");
    // The log is written by a background thread: let it write this line.
    crate::logging::flush(std::time::Duration::from_secs(1));
    std::process::exit(70)
}
