//! Graceful shutdown inside one worker: a flag that connection tasks check
//! between requests, and a future that wakes the ones idling between
//! requests.
//!
//! An idle keep-alive connection is not closed the instant the drain
//! starts: a load balancer (HAProxy's idle server connections) may be
//! writing a request on it right then, and a close racing that request
//! loses it (HAProxy cannot retry a request it already sent; it drops
//! the client's connection). Each idle connection instead lingers for
//! [`LINGER`]: a request that arrives is served, answered with
//! `Connection: close`, and the connection closes after the response, so
//! the peer learns of the close from the response itself. Meanwhile the
//! listener is closed, the balancer's health checks fail and it stops
//! choosing this instance; at the end of the linger what is still idle is
//! closed.
//!
//! Only futures that are waiting right now hold a slot: a [`DrainWait`]
//! frees its slot when it is dropped (the read it raced finished, or its
//! connection closed), so the list never holds anything for connections
//! that have gone, however many came and went.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long idle connections stay open once draining (module doc): more
/// than a few health-check intervals of a balancer checking every 100 ms,
/// short enough not to hold a stop up for long.
pub const LINGER: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct Drain {
    started: Cell<bool>,
    started_at: Cell<Option<Instant>>,
    waiters: RefCell<Waiters>,
}

/// Wakers of the futures waiting now, in reusable slots.
#[derive(Default)]
struct Waiters {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Drain {
    pub fn is_draining(&self) -> bool {
        self.started.get()
    }

    /// Starts draining and wakes everyone waiting in [`Drain::wait`].
    pub fn start(&self) {
        self.started.set(true);
        self.started_at.set(Some(Instant::now()));
        let wakers: Vec<Waker> = self
            .waiters
            .borrow_mut()
            .slots
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Until when an idle connection may still wait for a request:
    /// [`LINGER`] after the drain started (`None` before).
    pub fn linger_until(&self) -> Option<Instant> {
        self.started_at.get().map(|at| at + LINGER)
    }

    /// Resolves once draining has started.
    pub fn wait(&self) -> DrainWait<'_> {
        DrainWait {
            drain: self,
            slot: None,
        }
    }

    /// Futures waiting now (for tests and the churn measurements).
    pub fn waiting(&self) -> usize {
        let waiters = self.waiters.borrow();
        waiters.slots.len() - waiters.free.len()
    }
}

pub struct DrainWait<'a> {
    drain: &'a Drain,
    slot: Option<usize>,
}

impl Future for DrainWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.drain.started.get() {
            return Poll::Ready(());
        }
        let mut waiters = self.drain.waiters.borrow_mut();
        match self.slot {
            Some(slot) => match &mut waiters.slots[slot] {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                entry => *entry = Some(cx.waker().clone()),
            },
            None => {
                let waker = Some(cx.waker().clone());
                let slot = match waiters.free.pop() {
                    Some(slot) => {
                        waiters.slots[slot] = waker;
                        slot
                    }
                    None => {
                        waiters.slots.push(waker);
                        waiters.slots.len() - 1
                    }
                };
                drop(waiters);
                self.slot = Some(slot);
            }
        }
        Poll::Pending
    }
}

impl Drop for DrainWait<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            let mut waiters = self.drain.waiters.borrow_mut();
            waiters.slots[slot] = None;
            waiters.free.push(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn holds_nothing_for_waits_that_ended() {
        let drain = Drain::default();
        let count = Arc::new(Count(Default::default()));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        for _ in 0..10_000 {
            let mut wait = std::pin::pin!(drain.wait());
            assert!(wait.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(drain.waiting(), 0);
        assert_eq!(drain.waiters.borrow().slots.len(), 1, "one slot, reused");
        let mut kept = Box::pin(drain.wait());
        assert!(kept.as_mut().poll(&mut cx).is_pending());
        assert_eq!(drain.waiting(), 1);
        drain.start();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(kept.as_mut().poll(&mut cx).is_ready());
        drop(kept);
        assert_eq!(drain.waiting(), 0);
    }
}
