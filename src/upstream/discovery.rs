//! Backend addresses that change while cuttle runs: `"sd": "dns"` (DNS SRV,
//! lura `sd/dnssrv/subscriber.go`) and static host names re-resolved on
//! their DNS TTL.
//!
//! One thread per process (started with the first `run`) asks DNS and
//! publishes each backend's instances in a [`Feed`]: an `ArcSwap` of the
//! set and a version number. Workers never wait on it: each worker's pool
//! looks at the version from a timer task (`server::run_worker`) and,
//! when it moved, takes the new set (`Pool::refresh`), so nothing here is
//! on the request path.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::dns::{self, Failure, Record};

/// lura `sd/dnssrv`: `DefaultTTL`, the SRV refresh interval unless the
/// root `dns_cache_ttl` says otherwise, and `MinTTL`, under which
/// `SetTTL` keeps the default.
pub const SRV_DEFAULT_EVERY: Duration = Duration::from_secs(30);
const SRV_MIN_EVERY: Duration = Duration::from_secs(1);
/// A static host name is asked again after its record's TTL, within these.
const NAME_MIN_EVERY: Duration = Duration::from_secs(1);
const NAME_MAX_EVERY: Duration = Duration::from_secs(300);
/// Names from /etc/hosts or the system resolver carry no TTL.
const NO_TTL_EVERY: Duration = Duration::from_secs(30);
/// How often the discovery thread looks for feeds that are due.
const TICK: Duration = Duration::from_millis(100);

/// The prefix of the pool key cuttle gives a `"sd": "dns"` backend's host:
/// `srv+http://NAME` (or `srv+https://` with `"sd_scheme": "https"`).
pub const SRV_PREFIX: &str = "srv+";

/// One address to call: `authority` is the `Host` (and pool-style key,
/// `https://host:port` for TLS) and `addr` where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub authority: Arc<str>,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// An IP literal: never asked.
    Fixed,
    /// A host name: its A (else AAAA) records, on their TTL.
    Name { host: String, port: u16 },
    /// An SRV name: its instances every `dns_cache_ttl`.
    Srv { name: String, https: bool },
}

/// The current instances of one backend host (the expanded, weighted list
/// lura balances over: an instance appears as often as its weight says).
pub struct Feed {
    pub key: String,
    source: Source,
    version: AtomicU64,
    set: ArcSwap<Vec<Instance>>,
    /// Milliseconds since [`epoch`] when the thread asks again.
    due: AtomicU64,
    /// Whether the last resolution failed (so a failure is logged once).
    failing: AtomicBool,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

impl Feed {
    /// The feed of a pool key (`authority_of` of a host, or `srv+...`),
    /// not yet resolved.
    pub fn new(key: &str) -> Arc<Feed> {
        let (source, set) = source_of(key);
        Arc::new(Feed {
            key: key.to_string(),
            source,
            version: AtomicU64::new(0),
            set: ArcSwap::from_pointee(set),
            due: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        })
    }

    /// Changes each time the set does.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn instances(&self) -> Arc<Vec<Instance>> {
        self.set.load_full()
    }

    pub(super) fn publish(&self, set: Vec<Instance>) {
        if **self.set.load() != set {
            self.set.store(Arc::new(set));
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Asks DNS (blocking: the discovery thread, or start-up) and
    /// publishes what it found; a failure keeps the last set.
    fn refresh(&self, servers: &[SocketAddr], srv_every: Duration) {
        let result = match &self.source {
            Source::Fixed => return,
            Source::Name { host, port } => lookup_host(servers, host).map(|(ips, every)| {
                let addr = preferred(&ips).map(|ip| SocketAddr::new(ip, *port));
                let authority: Arc<str> = self.key.as_str().into();
                let set = addr.map(|addr| Instance { authority, addr });
                (set.into_iter().collect(), every)
            }),
            Source::Srv { name, https } => {
                lookup_srv(servers, name, *https).map(|set| (set, srv_every))
            }
        };
        let every = match result {
            Ok((set, every)) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("backend host {}: resolves again", self.key);
                }
                self.publish(set);
                every
            }
            Err(why) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "backend host {}: {why}; keeping its last addresses ({})",
                        self.key,
                        self.instances().len()
                    );
                }
                match &self.source {
                    Source::Srv { .. } => srv_every,
                    _ => NO_TTL_EVERY.min(srv_every.max(NAME_MIN_EVERY)),
                }
            }
        };
        self.due
            .store(now_ms() + every.as_millis() as u64, Ordering::Relaxed);
    }
}

fn source_of(key: &str) -> (Source, Vec<Instance>) {
    if let Some(rest) = key.strip_prefix(SRV_PREFIX) {
        let https = rest.starts_with("https://");
        let name = rest
            .strip_prefix("https://")
            .or_else(|| rest.strip_prefix("http://"))
            .unwrap_or(rest);
        let source = Source::Srv {
            name: name.to_string(),
            https,
        };
        return (source, Vec::new());
    }
    // Where it connects: without the `https://` of a TLS pool's key.
    let socket = key.strip_prefix("https://").unwrap_or(key);
    if let Ok(addr) = socket.parse::<SocketAddr>() {
        let fixed = Instance {
            authority: key.into(),
            addr,
        };
        return (Source::Fixed, vec![fixed]);
    }
    match socket.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => (
            Source::Name {
                host: host.to_string(),
                port: port.parse().unwrap_or(80),
            },
            Vec::new(),
        ),
        // Not `host:port`: nothing to connect to (calls fail as unresolved).
        _ => (Source::Fixed, Vec::new()),
    }
}

/// Prefer IPv4, as backends on a name usually listen there (and as
/// cuttle did when it resolved once at start-up).
fn preferred(ips: &[IpAddr]) -> Option<IpAddr> {
    ips.iter().find(|ip| ip.is_ipv4()).or(ips.first()).copied()
}

/// A host's addresses and how long to keep them: /etc/hosts first (as
/// Go's resolver and nsswitch's "files dns" do), then DNS (A, else AAAA);
/// without `CUTTLE_DNS_SERVER`, the system resolver when DNS could not
/// say (search domains, mDNS, other NSS sources).
fn lookup_host(servers: &[SocketAddr], host: &str) -> Result<(Vec<IpAddr>, Duration), String> {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let listed = etc_hosts(&hosts, host);
    if !listed.is_empty() {
        return Ok((listed, NO_TTL_EVERY));
    }
    let asked = dns::query(servers, host, dns::TYPE_A).and_then(|a| {
        if a.answers.iter().any(|r| matches!(r, Record::Addr { .. })) {
            Ok(a)
        } else {
            dns::query(servers, host, dns::TYPE_AAAA)
        }
    });
    let found = asked.map(|answer| {
        let ips: Vec<IpAddr> = answer
            .answers
            .iter()
            .filter_map(|r| match r {
                Record::Addr { ip, .. } => Some(*ip),
                Record::Srv { .. } => None,
            })
            .collect();
        let every = Duration::from_secs(answer.ttl.into()).clamp(NAME_MIN_EVERY, NAME_MAX_EVERY);
        (ips, every)
    });
    match found {
        Ok((ips, every)) if !ips.is_empty() => Ok((ips, every)),
        Ok(_) => Err(format!("lookup {host}: no address records")),
        Err(failure) if std::env::var_os("CUTTLE_DNS_SERVER").is_some() => {
            Err(format!("lookup {host}: {failure}"))
        }
        Err(failure) => match (host, 0).to_socket_addrs() {
            Ok(addrs) => {
                let ips: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                if ips.is_empty() {
                    Err(format!("lookup {host}: {failure}"))
                } else {
                    Ok((ips, NO_TTL_EVERY))
                }
            }
            Err(e) => Err(format!("lookup {host}: {failure}; system resolver: {e}")),
        },
    }
}

/// The addresses /etc/hosts gives `host` (case-insensitive).
fn etc_hosts(text: &str, host: &str) -> Vec<IpAddr> {
    let host = host.strip_suffix('.').unwrap_or(host);
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next()?;
            let mut words = line.split_whitespace();
            let ip: IpAddr = words.next()?.split('%').next()?.parse().ok()?;
            words.any(|w| w.eq_ignore_ascii_case(host)).then_some(ip)
        })
        .collect()
}

/// lura `sd/dnssrv` `resolve`: the records of the lowest priority, sorted
/// (weight descending, then target, then port), each repeated as often as
/// its compacted weight; the targets' addresses from the additional
/// section when the server sent them, else asked for. Go's `LookupSRV`
/// fails on an answer without SRV records, and lura then keeps its last
/// set; so does this.
fn lookup_srv(servers: &[SocketAddr], name: &str, https: bool) -> Result<Vec<Instance>, String> {
    let answer = dns::query(servers, name, dns::TYPE_SRV).map_err(|f| match f {
        Failure::NoSuchName => format!("lookup {name} (SRV): no such host"),
        f => format!("lookup {name} (SRV): {f}"),
    })?;
    let mut srvs: Vec<(u16, u16, u16, String)> = answer
        .answers
        .iter()
        .filter_map(|r| match r {
            Record::Srv {
                priority,
                weight,
                port,
                target,
            } => Some((*priority, *weight, *port, target.clone())),
            Record::Addr { .. } => None,
        })
        .collect();
    if srvs.is_empty() {
        return Err(format!("lookup {name} (SRV): no SRV records"));
    }
    srvs.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(b.1.cmp(&a.1))
            .then_with(|| a.3.cmp(&b.3))
            .then(a.2.cmp(&b.2))
    });
    let lowest = srvs[0].0;
    srvs.retain(|s| s.0 == lowest);
    let weights: Vec<u16> = srvs.iter().map(|s| s.1).collect();
    let mut out = Vec::new();
    let mut unresolved = Vec::new();
    for ((_, _, port, target), times) in srvs.iter().zip(compact(&weights)) {
        if times == 0 {
            continue;
        }
        let additional: Vec<IpAddr> = answer
            .additional
            .iter()
            .filter_map(|r| match r {
                Record::Addr { name, ip } if name.eq_ignore_ascii_case(target) => Some(*ip),
                _ => None,
            })
            .collect();
        let ips = if additional.is_empty() {
            match lookup_host(servers, target) {
                Ok((ips, _)) => ips,
                Err(why) => {
                    unresolved.push(why);
                    continue;
                }
            }
        } else {
            additional
        };
        let Some(ip) = preferred(&ips) else { continue };
        // lura joins Go's SRV target, which ends in a dot, with the port:
        // that is the URL's host, and so the `Host` header.
        let scheme = if https { "https://" } else { "" };
        let authority: Arc<str> = format!("{scheme}{target}.:{port}").into();
        for _ in 0..times {
            out.push(Instance {
                authority: authority.clone(),
                addr: SocketAddr::new(ip, *port),
            });
        }
    }
    if out.is_empty() && !unresolved.is_empty() {
        return Err(unresolved.join("; "));
    }
    if !unresolved.is_empty() {
        tracing::warn!("{name}: SRV targets left out: {}", unresolved.join("; "));
    }
    Ok(out)
}

/// lura `sd/dnssrv` `compact`: weights scaled to sum at most 100 (or the
/// number of records), then divided by their greatest common divisor.
pub fn compact(ws: &[u16]) -> Vec<u16> {
    let tmp = normalize(ws);
    let div = gcd(&tmp);
    if div < 2 {
        return tmp;
    }
    tmp.iter().map(|w| w / div).collect()
}

fn normalize(ws: &[u16]) -> Vec<u16> {
    let scale = ws.len().max(100) as i64;
    let sum: i64 = ws.iter().map(|&w| i64::from(w)).sum();
    if sum <= scale {
        return ws.to_vec();
    }
    ws.iter()
        .map(|&w| (i64::from(w) * scale / sum) as u16)
        .collect()
}

fn gcd(ws: &[u16]) -> u16 {
    let Some((&first, rest)) = ws.split_first() else {
        return 0;
    };
    rest.iter().fold(first, |mut a, &b| {
        let mut b = b;
        while b > 0 {
            (a, b) = (b, a % b);
        }
        a
    })
}

/// Backend pool key -> its feed, for every key given.
pub type Resolved = Vec<(String, Arc<Feed>)>;

/// Feeds for `keys`, resolved in parallel, waiting at most `limit` in all;
/// one not resolved in time starts empty (its calls fail with a clear
/// error instead of stalling start-up). Nothing refreshes them.
pub fn resolve_once(keys: &[String], limit: Duration) -> Resolved {
    let feeds: Resolved = keys.iter().map(|k| (k.clone(), Feed::new(k))).collect();
    let fresh: Vec<Arc<Feed>> = feeds.iter().map(|(_, f)| f.clone()).collect();
    first_resolution(&fresh, &dns::servers(), SRV_DEFAULT_EVERY, limit);
    feeds
}

/// Resolves `feeds` in parallel threads, waiting at most `limit`.
fn first_resolution(feeds: &[Arc<Feed>], servers: &[SocketAddr], every: Duration, limit: Duration) {
    let (tx, rx) = mpsc::channel();
    let mut waiting = 0;
    for feed in feeds.iter().filter(|f| f.source != Source::Fixed) {
        let tx = tx.clone();
        let feed = feed.clone();
        let servers = servers.to_vec();
        waiting += 1;
        std::thread::spawn(move || {
            feed.refresh(&servers, every);
            let _ = tx.send(());
        });
    }
    drop(tx);
    let deadline = Instant::now() + limit;
    while waiting > 0 {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match rx.recv_timeout(left) {
            Ok(()) => waiting -= 1,
            Err(_) => break,
        }
    }
}

/// The process's feeds, refreshed by its discovery thread.
struct Discovery {
    feeds: ArcSwap<Vec<Arc<Feed>>>,
    srv_every_ms: AtomicU64,
    servers: ArcSwap<Vec<SocketAddr>>,
}

static DISCOVERY: OnceLock<Arc<Discovery>> = OnceLock::new();

/// lura `dnssrv.SetTTL(cfg.DNSCacheTTL)`: under a second keeps the default.
pub fn srv_every(dns_cache_ttl: Option<Duration>) -> Duration {
    dns_cache_ttl
        .filter(|d| *d >= SRV_MIN_EVERY)
        .unwrap_or(SRV_DEFAULT_EVERY)
}

/// Feeds for `keys` that the discovery thread keeps current (started on
/// the first call); a key the previous call also had keeps its feed, so
/// a reload keeps the pools on it. Waits at most `limit` for the first
/// answers of new feeds.
pub fn resolve_live(keys: &[String], every: Duration, limit: Duration) -> Resolved {
    let discovery = DISCOVERY.get_or_init(|| {
        let discovery = Arc::new(Discovery {
            feeds: ArcSwap::from_pointee(Vec::new()),
            srv_every_ms: AtomicU64::new(every.as_millis() as u64),
            servers: ArcSwap::from_pointee(Vec::new()),
        });
        let thread = discovery.clone();
        let spawned = std::thread::Builder::new()
            .name("cuttle-dns".into())
            .spawn(move || thread.run());
        if let Err(e) = spawned {
            tracing::warn!("could not start the DNS discovery thread: {e}");
        }
        discovery
    });
    let servers = dns::servers();
    discovery.servers.store(Arc::new(servers.clone()));
    discovery
        .srv_every_ms
        .store(every.as_millis() as u64, Ordering::Relaxed);
    let old = discovery.feeds.load_full();
    let feeds: Resolved = keys
        .iter()
        .map(|key| {
            let kept = old.iter().find(|f| f.key == *key).cloned();
            (key.clone(), kept.unwrap_or_else(|| Feed::new(key)))
        })
        .collect();
    let fresh: Vec<Arc<Feed>> = feeds
        .iter()
        .filter(|(key, _)| !old.iter().any(|f| f.key == *key))
        .map(|(_, feed)| feed.clone())
        .collect();
    first_resolution(&fresh, &servers, every, limit);
    discovery
        .feeds
        .store(Arc::new(feeds.iter().map(|(_, f)| f.clone()).collect()));
    feeds
}

/// How often the discovery thread reads /etc/resolv.conf again (Go's
/// resolver looks at it at most every 5 s, `net/dnsclient_unix.go`).
const SERVERS_EVERY: Duration = Duration::from_secs(5);

impl Discovery {
    fn run(&self) {
        let mut servers_read = Instant::now();
        loop {
            std::thread::sleep(TICK);
            if servers_read.elapsed() >= SERVERS_EVERY {
                servers_read = Instant::now();
                let servers = dns::servers();
                if *self.servers.load_full() != servers {
                    tracing::info!("DNS servers now {servers:?}");
                    self.servers.store(Arc::new(servers));
                }
            }
            let every = Duration::from_millis(self.srv_every_ms.load(Ordering::Relaxed));
            let servers = self.servers.load_full();
            for feed in self.feeds.load_full().iter() {
                if feed.source != Source::Fixed && feed.due.load(Ordering::Relaxed) <= now_ms() {
                    feed.refresh(&servers, every);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_as_lura_compacts_them() {
        // lura `sd/dnssrv/subscriber_test.go`'s cases and a few more.
        assert_eq!(compact(&[10, 20, 30]), [1, 2, 3]);
        assert_eq!(compact(&[1, 1]), [1, 1]);
        assert_eq!(compact(&[0, 5]), [0, 1]);
        assert_eq!(compact(&[1000, 3000]), [1, 3]);
        assert_eq!(compact(&[1, 65535]), [0, 1]);
        assert_eq!(compact(&[]), Vec::<u16>::new());
    }

    #[test]
    fn sources_of_pool_keys() {
        let (s, set) = source_of("127.0.0.1:8080");
        assert_eq!(s, Source::Fixed);
        assert_eq!(set[0].addr, "127.0.0.1:8080".parse().unwrap());
        let (s, set) = source_of("https://[::1]:443");
        assert_eq!(s, Source::Fixed);
        assert_eq!(&*set[0].authority, "https://[::1]:443");
        let (s, _) = source_of("svc.test:80");
        assert_eq!(
            s,
            Source::Name {
                host: "svc.test".into(),
                port: 80
            }
        );
        let (s, _) = source_of("srv+https://_api._tcp.svc.test");
        assert_eq!(
            s,
            Source::Srv {
                name: "_api._tcp.svc.test".into(),
                https: true
            }
        );
    }

    #[test]
    fn etc_hosts_lines() {
        let text = "127.0.0.1 localhost\n# 10.0.0.1 svc.test\n10.0.0.2\tA.test b.test # x\n";
        assert_eq!(
            etc_hosts(text, "localhost"),
            ["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(etc_hosts(text, "svc.test"), Vec::<IpAddr>::new());
        assert_eq!(
            etc_hosts(text, "a.test."),
            ["10.0.0.2".parse::<IpAddr>().unwrap()]
        );
    }
}
