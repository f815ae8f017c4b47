//! Graceful shutdown inside one worker: a flag that connection tasks check
//! between requests, and a future that wakes the ones idling between
//! requests so they close at once.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct Drain {
    started: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Drain {
    pub fn is_draining(&self) -> bool {
        self.started.get()
    }

    /// Starts draining and wakes everyone waiting in [`Drain::wait`].
    pub fn start(&self) {
        self.started.set(true);
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Resolves once draining has started.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        DrainWait { drain: self }
    }
}

struct DrainWait<'a> {
    drain: &'a Drain,
}

impl Future for DrainWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.drain.started.get() {
            return Poll::Ready(());
        }
        let mut waiters = self.drain.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
