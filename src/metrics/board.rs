//! Where workers' figures cross cores, off the request path.
//!
//! Each worker owns one slot. Its publisher task copies the worker's
//! figures into the slot once a second, and at once when a scrape asks
//! (the scrape raises the slot's `wanted` generation and wakes the
//! task). The scrape waits, briefly, until every slot has published that
//! generation, then reads all the slots. The only lock is the slot's,
//! taken once per publication by its worker and once per scrape by the
//! scraper: never while a request is served.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::figures::Figures;
use crate::rt;

/// How often a worker publishes without being asked.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// How long a scrape waits for fresh figures from the other workers before
/// it uses what they last published (a worker busy with a long task).
const FRESH_WAIT: Duration = Duration::from_millis(250);

pub struct Board {
    slots: Box<[Slot]>,
    generation: AtomicU64,
}

struct Slot {
    cpu: usize,
    wanted: AtomicU64,
    published: AtomicU64,
    // A lock between the slot's worker (once per publication) and a scrape
    // (once per scrape): never taken on the request path.
    #[allow(clippy::disallowed_types)]
    figures: std::sync::Mutex<Option<Arc<Figures>>>,
    wake: rt::Wake,
}

impl Board {
    /// One slot per worker; `cpus[i]` is worker i's CPU.
    pub fn new(cpus: &[usize]) -> Arc<Board> {
        Arc::new(Board {
            slots: cpus
                .iter()
                .map(|&cpu| Slot {
                    cpu,
                    wanted: AtomicU64::new(0),
                    published: AtomicU64::new(0),
                    figures: Default::default(),
                    wake: rt::Wake::default(),
                })
                .collect(),
            generation: AtomicU64::new(0),
        })
    }

    /// Worker `worker`'s publisher: runs for the worker's life.
    pub async fn publish(self: Arc<Board>, worker: usize, snapshot: impl Fn() -> Figures) {
        let slot = &self.slots[worker];
        loop {
            let asked = slot.wanted.load(Ordering::Acquire);
            let figures = Arc::new(snapshot());
            *slot.figures.lock().unwrap_or_else(|e| e.into_inner()) = Some(figures);
            slot.published.store(asked, Ordering::Release);
            futures_lite::future::or(rt::sleep(PUBLISH_EVERY), slot.wake.wait()).await;
        }
    }

    /// Asks every worker for fresh figures and returns, per worker, its CPU
    /// and what it published (fresh unless it did not answer in time).
    pub async fn collect(&self) -> Vec<(usize, Option<Arc<Figures>>)> {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        for slot in self.slots.iter() {
            slot.wanted.fetch_max(generation, Ordering::AcqRel);
            slot.wake.wake();
        }
        let deadline = Instant::now() + FRESH_WAIT;
        while Instant::now() < deadline
            && self
                .slots
                .iter()
                .any(|s| s.published.load(Ordering::Acquire) < generation)
        {
            rt::sleep(Duration::from_millis(1)).await;
        }
        self.slots
            .iter()
            .map(|s| {
                let figures = s.figures.lock().unwrap_or_else(|e| e.into_inner()).clone();
                (s.cpu, figures)
            })
            .collect()
    }
}
