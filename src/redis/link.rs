//! One worker's use of one named connection, for callers that must decide
//! within a budget (the Redis-backed rate limits): a connection that is up
//! is used at once; one that is down is not waited for, and a background
//! task on the worker connects again every second until Redis answers.
//!
//! A link is down when a command fails on the connection (refused, reset,
//! closed) or when three commands in a row overran their budget (a server
//! that stopped answering, e.g. paused); the reconnecting task then opens
//! a new connection and brings the link up once a `PING` on it answers.
//! While down, a command is not sent at all: a caller learns it at once
//! and decides without Redis, instead of paying its budget each time.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use redis::{FromRedisValue, RedisError, ScriptInvocation};

use super::health::{self, Health};
use super::{Connection, connect};
use crate::config::RedisConnection;
use crate::rt;

/// Between two connection attempts while Redis is down.
pub const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);
/// Commands in a row past their budget that make a link down.
const SLOW_IN_A_ROW: u32 = 3;

/// Why a command got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The link is down (or still connecting): nothing was sent.
    Down,
    /// No answer within the budget.
    Slow,
    /// Redis answered with an error, or the connection failed.
    Error,
}

enum State {
    /// Not connecting yet (built outside a worker's loop).
    Idle,
    /// The first attempt: callers wait for it within their budget.
    Opening,
    Up(Connection),
    /// Lost, or never opened: the reconnecting task runs.
    Down,
}

pub struct Link {
    target: Arc<RedisConnection>,
    /// The longest budget of the link's users: the connection's own
    /// response timeout (each command is also bounded by its caller's).
    response_timeout: Cell<Duration>,
    state: RefCell<State>,
    /// Callers waiting for the first attempt.
    waiting: RefCell<Vec<Waker>>,
    /// A caller's budget ran out during the first attempt (an address that
    /// does not answer): the next ones do not wait for it either.
    impatient: Cell<bool>,
    slow: Cell<u32>,
    health: Arc<Health>,
    me: Weak<Link>,
}

impl Link {
    fn new(target: Arc<RedisConnection>, budget: Duration) -> Rc<Link> {
        let health = health::of(&target.name);
        Rc::new_cyclic(|me| Link {
            target,
            response_timeout: Cell::new(budget),
            state: RefCell::new(State::Idle),
            waiting: RefCell::new(Vec::new()),
            impatient: Cell::new(false),
            slow: Cell::new(0),
            health,
            me: me.clone(),
        })
    }

    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    pub fn name(&self) -> &str {
        &self.target.name
    }

    /// Starts the first connection attempt, if not started (on a worker's
    /// loop only: `process::prepare` builds tables outside one).
    pub fn start(&self) {
        if matches!(*self.state.borrow(), State::Idle) && rt::on_worker() {
            *self.state.borrow_mut() = State::Opening;
            rt::spawn(reconnect(self.me.clone()));
        }
    }

    /// Runs `script` within `budget`. Nothing is sent while the link is
    /// down; during the first attempt the caller waits for it, within the
    /// same budget (until one caller's budget ran out waiting).
    pub async fn invoke<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
        budget: Duration,
    ) -> Result<T, Failure> {
        let deadline = Instant::now() + budget;
        self.start();
        if matches!(*self.state.borrow(), State::Opening)
            && !self.impatient.get()
            && rt::until(deadline, self.opened()).await.is_none()
        {
            self.impatient.set(true);
        }
        let mut connection = match &*self.state.borrow() {
            State::Up(connection) => connection.clone(),
            _ => return Err(Failure::Down),
        };
        match rt::until(deadline, script.invoke_async::<T>(&mut connection)).await {
            Some(Ok(value)) => {
                self.slow.set(0);
                Ok(value)
            }
            None => {
                self.overran();
                Err(Failure::Slow)
            }
            Some(Err(e)) if e.is_timeout() => {
                self.overran();
                Err(Failure::Slow)
            }
            Some(Err(e)) => {
                if is_connection_lost(&e) {
                    self.lost(&e);
                } else {
                    tracing::debug!(connection = %self.target.name, "Redis answered an error: {e}");
                }
                Err(Failure::Error)
            }
        }
    }

    /// Resolves once the first attempt is over (up or down).
    fn opened(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if matches!(*self.state.borrow(), State::Opening) {
                self.waiting.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
    }

    fn overran(&self) {
        let slow = self.slow.get() + 1;
        self.slow.set(slow);
        if slow >= SLOW_IN_A_ROW {
            self.lost(&format_args!(
                "{slow} commands in a row got no answer within their budget"
            ));
        }
    }

    /// Makes the link down (once) and starts reconnecting.
    fn lost(&self, why: &dyn std::fmt::Display) {
        if !matches!(*self.state.borrow(), State::Up(_)) {
            return;
        }
        *self.state.borrow_mut() = State::Down;
        self.slow.set(0);
        self.health.link_down(why);
        rt::spawn(reconnect(self.me.clone()));
    }

    fn set(&self, next: State) {
        let was_down = matches!(*self.state.borrow(), State::Down);
        let now_down = matches!(next, State::Down);
        *self.state.borrow_mut() = next;
        for waker in self.waiting.borrow_mut().drain(..) {
            waker.wake();
        }
        if was_down && !now_down {
            self.health.link_up();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if matches!(*self.state.borrow(), State::Down) {
            // A reload dropped it: it no longer counts as down.
            self.health.link_gone();
        }
    }
}

fn is_connection_lost(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

/// Connects until Redis answers, then makes the link up; ends early if
/// the link is dropped (a reload).
async fn reconnect(link: Weak<Link>) {
    let mut first = true;
    loop {
        let Some((target, timeout)) = link
            .upgrade()
            .map(|l| (l.target.clone(), l.response_timeout.get()))
        else {
            return;
        };
        let outcome = rt::within(target.dial_timeout * 2, async {
            let mut connection = connect(&target, timeout.max(target.dial_timeout)).await?;
            redis::cmd("PING")
                .query_async::<()>(&mut connection)
                .await?;
            Ok::<_, RedisError>(connection)
        })
        .await;
        let Some(link) = link.upgrade() else {
            return;
        };
        match outcome {
            Some(Ok(connection)) => {
                link.set(State::Up(connection));
                return;
            }
            failed => {
                if first && !matches!(*link.state.borrow(), State::Down) {
                    let why = match &failed {
                        Some(Err(e)) => e.to_string(),
                        _ => "no answer within twice the dial_timeout".to_owned(),
                    };
                    link.set(State::Down);
                    link.health.link_down(&why);
                }
                first = false;
            }
        }
        drop(link);
        rt::sleep(RECONNECT_BACKOFF).await;
    }
}

/// One worker's links, one per named connection its limits use.
#[derive(Default)]
pub struct Links {
    all: RefCell<Vec<Rc<Link>>>,
}

impl Links {
    /// The link to `target`, made (and started, on a worker) on first use.
    /// `budget`: the longest a user waits for a command.
    pub fn get(&self, target: &Arc<RedisConnection>, budget: Duration) -> Rc<Link> {
        let mut all = self.all.borrow_mut();
        if let Some(link) = all.iter().find(|l| *l.target == **target) {
            if budget > link.response_timeout.get() {
                link.response_timeout.set(budget);
            }
            return link.clone();
        }
        let link = Link::new(target.clone(), budget);
        link.start();
        all.push(link.clone());
        link
    }
}
