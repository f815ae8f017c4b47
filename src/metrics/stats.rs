//! What a worker counts for KrakenD's legacy `/__stats` (`telemetry/metrics`,
//! krakend-metrics): per endpoint the router layer (responses by status,
//! size and time), the proxy layer (the endpoint's pipe) and each backend,
//! by whether the response was complete and whether it failed, as
//! krakend-metrics `router.go`, `proxy.go` and `gin/metrics.go` name them;
//! and the router's connection counters.
//!
//! Counters only grow; the samples and the connection counters start again
//! at every `collection_time` tick (krakend-metrics `metrics.go`
//! `processMetrics`: `Router.Aggregate`, then `TakeSnapshot` clears every
//! histogram). Ticks are reckoned from one instant for the whole process,
//! so every worker starts its windows together.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::sample::Sample;
use crate::config::Config;

#[derive(Debug, Clone, Default)]
pub struct StatsFigures {
    /// Per endpoint (by index).
    pub router: Vec<RouterStats>,
    /// Per endpoint: the `pipe` layer, by [`outcome`].
    pub proxy: Vec<[LayerStats; 4]>,
    /// Per endpoint, per backend: the `backend` layer, by [`outcome`].
    pub backends: Vec<Vec<[LayerStats; 4]>>,
    pub connections: Connections,
    /// The collection window these figures are in.
    window: u64,
}

#[derive(Debug, Clone, Default)]
pub struct RouterStats {
    /// `(status, responses)`, created on first use (a handful).
    pub statuses: Vec<(u16, u64)>,
    /// Body bytes written.
    pub size: Sample,
    /// Nanoseconds.
    pub time: Sample,
}

#[derive(Debug, Clone, Default)]
pub struct LayerStats {
    pub requests: u64,
    /// Nanoseconds.
    pub latency: Sample,
}

/// krakend-metrics `RouterMetrics`: requests begun and ended in the
/// current window, in the last one (`-gauge`) and in all the windows
/// before the current one (`-total`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Connections {
    pub connected: u64,
    pub disconnected: u64,
    pub connected_gauge: u64,
    pub disconnected_gauge: u64,
    pub connected_total: u64,
    pub disconnected_total: u64,
}

/// The slot of an outcome in a `[LayerStats; 4]`; [`OUTCOMES`] lists them.
pub fn outcome(complete: bool, error: bool) -> usize {
    usize::from(complete) << 1 | usize::from(error)
}

/// `(complete, error)` of each slot.
pub const OUTCOMES: [(bool, bool); 4] =
    [(false, false), (false, true), (true, false), (true, true)];

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// The collection window `now` falls in, windows of `every` counted from
/// the first call (at start-up: the first recorder built).
pub fn window(now: Instant, every: Duration) -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    (now.saturating_duration_since(epoch).as_nanos() / every.as_nanos().max(1)) as u64
}

impl StatsFigures {
    /// Empty figures shaped for `config`'s endpoints and backends.
    pub fn new(config: &Config) -> StatsFigures {
        StatsFigures {
            router: vec![RouterStats::default(); config.endpoints.len()],
            proxy: vec![Default::default(); config.endpoints.len()],
            backends: config
                .endpoints
                .iter()
                .map(|e| vec![Default::default(); e.backends.len()])
                .collect(),
            connections: Connections::default(),
            window: 0,
        }
    }

    pub fn same_layout(&self, other: &StatsFigures) -> bool {
        self.router.len() == other.router.len()
            && self
                .backends
                .iter()
                .zip(&other.backends)
                .all(|(a, b)| a.len() == b.len())
    }

    /// Moves to window `now` if it is a later one: samples start again,
    /// the connection counters of the window just ended become the
    /// gauges (zero when a whole window passed without a roll: nothing
    /// was counted in it) and join the totals.
    pub fn roll(&mut self, now: u64) {
        if now <= self.window {
            return;
        }
        let c = &mut self.connections;
        let last = now == self.window + 1;
        c.connected_gauge = if last { c.connected } else { 0 };
        c.disconnected_gauge = if last { c.disconnected } else { 0 };
        c.connected_total += c.connected;
        c.disconnected_total += c.disconnected;
        c.connected = 0;
        c.disconnected = 0;
        self.window = now;
        for r in &mut self.router {
            r.size.clear();
            r.time.clear();
        }
        let layers = self
            .proxy
            .iter_mut()
            .chain(self.backends.iter_mut().flatten());
        for l in layers.flatten() {
            l.latency.clear();
        }
    }

    /// One response of endpoint `endpoint` (router layer); the request
    /// was counted as connected when routed.
    pub fn response(
        &mut self,
        endpoint: usize,
        status: u16,
        bytes: u64,
        nanos: i64,
        random: &mut u64,
    ) {
        self.connections.disconnected += 1;
        let Some(r) = self.router.get_mut(endpoint) else {
            return;
        };
        match r.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => r.statuses.push((status, 1)),
        }
        r.size.update(bytes.min(i64::MAX as u64) as i64, random);
        r.time.update(nanos, random);
    }

    /// One pass through a proxy or backend layer.
    pub fn layer(slots: Option<&mut [LayerStats; 4]>, at: usize, nanos: i64, random: &mut u64) {
        if let Some(slot) = slots.and_then(|s| s.get_mut(at)) {
            slot.requests += 1;
            slot.latency.update(nanos, random);
        }
    }

    /// Adds another worker's figures (same layout, same window or not:
    /// each worker rolls its own before it publishes).
    pub fn add(&mut self, other: &StatsFigures) {
        for (mine, theirs) in self.router.iter_mut().zip(&other.router) {
            for (status, n) in &theirs.statuses {
                match mine.statuses.iter_mut().find(|(s, _)| s == status) {
                    Some((_, m)) => *m += n,
                    None => mine.statuses.push((*status, *n)),
                }
            }
            mine.size.add(&theirs.size);
            mine.time.add(&theirs.time);
        }
        let mine = self
            .proxy
            .iter_mut()
            .chain(self.backends.iter_mut().flatten());
        let theirs = other.proxy.iter().chain(other.backends.iter().flatten());
        for (mine, theirs) in mine.zip(theirs) {
            add_layers(mine, theirs);
        }
        let (c, o) = (&mut self.connections, &other.connections);
        c.connected += o.connected;
        c.disconnected += o.disconnected;
        c.connected_gauge += o.connected_gauge;
        c.disconnected_gauge += o.disconnected_gauge;
        c.connected_total += o.connected_total;
        c.disconnected_total += o.disconnected_total;
        self.window = self.window.max(other.window);
    }
}

pub fn add_layers(mine: &mut [LayerStats; 4], theirs: &[LayerStats; 4]) {
    for (m, t) in mine.iter_mut().zip(theirs) {
        m.requests += t.requests;
        m.latency.add(&t.latency);
    }
}

/// A duration as go-metrics receives it (`int64` nanoseconds).
pub fn nanos(d: Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> StatsFigures {
        StatsFigures {
            router: vec![RouterStats::default()],
            proxy: vec![Default::default()],
            backends: vec![vec![Default::default()]],
            ..Default::default()
        }
    }

    #[test]
    fn a_tick_clears_samples_and_moves_connections_to_gauges() {
        let mut r = 7;
        let mut f = figures();
        f.connections.connected += 2;
        f.response(0, 200, 10, 1_000, &mut r);
        f.response(0, 200, 10, 1_000, &mut r);
        StatsFigures::layer(f.proxy.get_mut(0), outcome(true, false), 5, &mut r);
        f.roll(1);
        assert_eq!(f.router[0].statuses, vec![(200, 2)]);
        assert_eq!(f.router[0].time.count(), 0);
        assert_eq!(f.proxy[0][outcome(true, false)].requests, 1);
        assert_eq!(f.proxy[0][outcome(true, false)].latency.count(), 0);
        let c = f.connections;
        assert_eq!(
            (c.connected, c.connected_gauge, c.connected_total),
            (0, 2, 2)
        );
        f.connections.connected += 1;
        f.response(0, 500, 1, 1, &mut r);
        // Two windows later: the one in between counted nothing.
        f.roll(3);
        let c = f.connections;
        assert_eq!(
            (c.connected, c.connected_gauge, c.connected_total),
            (0, 0, 3)
        );
        f.roll(2);
        assert_eq!(f.window, 3);
    }

    #[test]
    fn workers_add_up() {
        let mut r = 7;
        let (mut a, mut b) = (figures(), figures());
        a.response(0, 200, 10, 1_000, &mut r);
        b.response(0, 200, 30, 3_000, &mut r);
        b.response(0, 404, 0, 2_000, &mut r);
        a.add(&b);
        assert_eq!(a.router[0].statuses, vec![(200, 2), (404, 1)]);
        assert_eq!(a.router[0].time.count(), 3);
        assert_eq!(a.router[0].size.max(), 30);
        assert_eq!(a.connections.disconnected, 3);
    }
}
