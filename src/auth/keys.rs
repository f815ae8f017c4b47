//! Where a validator's or signer's keys come from, and how a new key set
//! reaches the workers without a lock on the request path.
//!
//! A [`Published`] slot holds the current [`KeySet`] of one source (a
//! `jwk_local_path` file, filled at start-up, or a `jwk_url`). Its
//! generation counter moves each time a different set is stored. A worker
//! keeps its own [`KeyView`]: per request it reads the generation with a
//! relaxed load (a read-only cache line, shared by all cores but never
//! written between refreshes) and only when it moved does it take the new
//! set from the slot, outside the common path.
//!
//! One background thread ([`start_fetcher`]) fetches every `jwk_url` of
//! the process (one fetch per URL and refresh, whatever the number of
//! workers or endpoints using it): at start, then every refresh interval,
//! sooner after a failure (1 s, doubling, at most 30 s), and early (at most
//! once per [`NUDGE_INTERVAL`]) when a worker saw a token naming a key the
//! set does not have (the provider rotated its keys). A failed refresh
//! keeps the keys already published. Until a URL's first fetch succeeds its
//! slot is empty and tokens checked against it are refused (401).

use std::cell::{Cell, Ref, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use super::fetch;
use super::jwk::KeySet;

/// Earliest re-fetch after a worker reported an unknown key id.
pub const NUDGE_INTERVAL: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// The current key set of one source, shared by every worker.
pub struct Published {
    /// 0 while nothing was published; then 1, 2, ...
    generation: AtomicU64,
    slot: ArcSwapOption<KeySet>,
    /// A worker met a key id this set does not have.
    nudged: AtomicBool,
    /// What it is, for messages: the URL or the file.
    pub origin: String,
}

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Published({}, generation {})",
            self.origin,
            self.generation()
        )
    }
}

impl Published {
    pub fn empty(origin: impl Into<String>) -> Published {
        Published {
            generation: AtomicU64::new(0),
            slot: ArcSwapOption::empty(),
            nudged: AtomicBool::new(false),
            origin: origin.into(),
        }
    }

    pub fn with(origin: impl Into<String>, set: KeySet) -> Published {
        let published = Published::empty(origin);
        published.publish(set);
        published
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores `set` unless it equals the current one (so that an unchanged
    /// refresh does not invalidate the workers' verified-token caches).
    /// Returns whether it changed.
    pub fn publish(&self, set: KeySet) -> bool {
        if self.slot.load().as_deref() == Some(&set) {
            return false;
        }
        self.slot.store(Some(Arc::new(set)));
        self.generation.fetch_add(1, Ordering::Release);
        true
    }

    pub fn current(&self) -> Option<Arc<KeySet>> {
        self.slot.load_full()
    }

    /// Asks the fetcher for an early refresh (rare: an unknown key id).
    pub fn nudge(&self) {
        // Read first: a flood of unknown ids from many cores then only
        // reads the flag's cache line until the fetcher clears it.
        if !self.nudged.load(Ordering::Relaxed) {
            self.nudged.store(true, Ordering::Relaxed);
        }
    }
}

/// One worker's view of a [`Published`] slot.
#[derive(Debug)]
pub struct KeyView {
    published: Arc<Published>,
    seen: Cell<u64>,
    current: RefCell<Option<Arc<KeySet>>>,
}

impl KeyView {
    pub fn new(published: Arc<Published>) -> KeyView {
        KeyView {
            published,
            seen: Cell::new(0),
            current: RefCell::new(None),
        }
    }

    /// The current set (if any yet) and its generation.
    pub fn keys(&self) -> (Ref<'_, Option<Arc<KeySet>>>, u64) {
        // Relaxed: a set published a moment ago may be picked up by the
        // next request instead of this one; nothing else depends on it.
        let generation = self.published.generation.load(Ordering::Relaxed);
        if generation != self.seen.get() {
            self.refresh();
        }
        (self.current.borrow(), self.seen.get())
    }

    #[cold]
    fn refresh(&self) {
        // Read the generation again with Acquire so the set loaded below is
        // at least as new as the generation recorded.
        let generation = self.published.generation();
        *self.current.borrow_mut() = self.published.current();
        self.seen.set(generation);
    }

    pub fn published(&self) -> &Arc<Published> {
        &self.published
    }
}

/// A `jwk_url` the fetcher keeps fresh.
#[derive(Debug, Clone)]
pub struct UrlSource {
    pub url: String,
    pub refresh: Duration,
    /// `disable_jwk_security`: plain http allowed and, for https, the
    /// server's certificate not verified (as KrakenD does).
    pub insecure: bool,
    pub published: Arc<Published>,
}

/// The TLS client configurations the fetcher uses for `https://` URLs.
#[derive(Clone, Default)]
pub struct FetchTls {
    /// Verifying, per the root `client_tls` (CA files, system pool).
    pub verified: Option<Arc<rustls::ClientConfig>>,
    /// Not verifying, for sources with `disable_jwk_security`.
    pub unverified: Option<Arc<rustls::ClientConfig>>,
}

/// Starts the one background thread that fetches every URL source of a
/// configuration. Raising the returned flag ends it (a reloaded
/// configuration has a fetcher of its own).
pub fn start_fetcher(sources: Vec<UrlSource>, tls: FetchTls) -> std::io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    if sources.is_empty() {
        return Ok(stop);
    }
    let stopped = stop.clone();
    std::thread::Builder::new()
        .name("cuttle-jwk".into())
        .spawn(move || fetch_forever(&sources, &tls, &stopped))?;
    Ok(stop)
}

struct Schedule {
    next: Instant,
    retry: Duration,
    last_fetch: Option<Instant>,
}

fn fetch_forever(sources: &[UrlSource], tls: &FetchTls, stop: &AtomicBool) {
    let start = Instant::now();
    let mut schedule: Vec<Schedule> = sources
        .iter()
        .map(|_| Schedule {
            next: start,
            retry: FIRST_RETRY,
            last_fetch: None,
        })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        for (source, plan) in sources.iter().zip(schedule.iter_mut()) {
            let nudged = source.published.nudged.load(Ordering::Relaxed)
                && plan
                    .last_fetch
                    .is_none_or(|at| now.duration_since(at) >= NUDGE_INTERVAL);
            if now < plan.next && !nudged {
                continue;
            }
            source.published.nudged.store(false, Ordering::Relaxed);
            plan.last_fetch = Some(now);
            let tls = if source.insecure {
                tls.unverified.as_ref()
            } else {
                tls.verified.as_ref()
            };
            match fetch::get(&source.url, tls).and_then(|body| KeySet::parse(&body)) {
                Ok(set) => {
                    let keys = set.keys.len();
                    if source.published.publish(set) {
                        tracing::info!(url = %source.url, keys, "JWK set loaded");
                    }
                    plan.retry = FIRST_RETRY;
                    plan.next = now + source.refresh;
                }
                Err(why) => {
                    let kept = source.published.current().is_some();
                    tracing::warn!(
                        url = %source.url,
                        retry_in = ?plan.retry,
                        "JWK fetch failed: {why}{}",
                        if kept { " (keeping the keys loaded before)" } else { " (tokens are refused until it succeeds)" }
                    );
                    plan.next = now + plan.retry.min(source.refresh.max(FIRST_RETRY));
                    plan.retry = (plan.retry * 2).min(MAX_RETRY);
                }
            }
        }
        // Wake at the next due time, and at least every 100 ms to notice nudges.
        let next = schedule.iter().map(|s| s.next).min().unwrap_or(start);
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        std::thread::sleep(wait.max(Duration::from_millis(5)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwk::KeySet;

    fn set(kid: &str) -> KeySet {
        KeySet::parse(
            format!(r#"{{"keys": [{{"kty": "oct", "k": "AAAA", "kid": "{kid}"}}]}}"#).as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn views_pick_up_new_generations_only() {
        let published = Arc::new(Published::empty("test"));
        let view = KeyView::new(published.clone());
        assert!(view.keys().0.is_none());
        assert!(published.publish(set("a")));
        let (keys, generation) = view.keys();
        assert_eq!(generation, 1);
        assert_eq!(keys.as_ref().unwrap().keys[0].kid.as_deref(), Some("a"));
        drop(keys);
        // The same set again changes nothing.
        assert!(!published.publish(set("a")));
        assert_eq!(view.keys().1, 1);
        assert!(published.publish(set("b")));
        let (keys, generation) = view.keys();
        assert_eq!(generation, 2);
        assert_eq!(keys.as_ref().unwrap().keys[0].kid.as_deref(), Some("b"));
    }
}
