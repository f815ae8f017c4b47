//! `async/amqp` agents (the root `async_agent` list): consume a queue and
//! call the agent's backends with each message as the body, acknowledging
//! the message when every backend answered well (krakend-amqp
//! `async/agent.go`, `async/subscriber.go`; lura `async/asyncagent.go`).
//!
//! The agents run on worker 0 (KrakenD runs one per process), as tasks of
//! its loop, over its connection pools.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicNackArguments, QueueBindArguments,
};

use super::amqp::{backoff, connect, declare_exchange, declare_queue, set_qos};
use crate::config::{AgentBackend, AsyncAgentSettings};
use crate::rt;
use crate::upstream::{Pools, Request, authority_of, fetch};

/// An agent that ran this long starts its retries anew (krakend-amqp's
/// `minExecutionTime`).
const MIN_EXECUTION: Duration = Duration::from_secs(5);
/// The largest backend answer read (and thrown away).
const MAX_BODY: usize = 10 << 20;

/// Starts every agent on this worker's loop.
pub fn start(agents: &[AsyncAgentSettings], pools: &Rc<Pools>) {
    for agent in agents {
        rt::spawn(run(Rc::new(agent.clone()), pools.clone()));
    }
}

/// lura's agent loop: wait the backoff, consume until the connection ends,
/// again, until `max_retries` rounds failed in a row.
async fn run(agent: Rc<AsyncAgentSettings>, pools: Rc<Pools>) {
    let mut attempt: u32 = 0;
    loop {
        if agent.max_retries > 0 && attempt > agent.max_retries {
            tracing::error!(
                "[SERVICE: Asyncagent][{}] too many retries; the agent stops",
                agent.name
            );
            return;
        }
        // lura waits `BackoffF(i)` before each attempt, the first too.
        let wait = if attempt == 0 {
            first_wait(&agent)
        } else {
            backoff(agent.backoff, attempt)
        };
        rt::sleep(wait).await;
        let started = Instant::now();
        if let Err(why) = consume(&agent, &pools).await {
            tracing::error!(
                "[SERVICE: Asyncagent][{}] building the amqp subscriber: {why}",
                agent.name
            );
        }
        attempt = if started.elapsed() > MIN_EXECUTION {
            0
        } else {
            attempt + 1
        };
    }
}

/// The wait before the first attempt: lura's backoff of 0 (one second by
/// default, nothing for the linear strategies).
fn first_wait(agent: &AsyncAgentSettings) -> Duration {
    use crate::config::AmqpBackoff::*;
    match agent.backoff {
        Linear | LinearJitter => Duration::ZERO,
        Constant | Exponential | ExponentialJitter => Duration::from_secs(1),
    }
}

/// One connection's life: declare, consume, handle messages with at most
/// `workers` at once, until the deliveries end.
async fn consume(agent: &Rc<AsyncAgentSettings>, pools: &Rc<Pools>) -> Result<(), String> {
    let (connection, channel) = connect(&agent.broker).await.map_err(|e| e.to_string())?;
    let channel = Rc::new(channel);
    let flags = agent.flags;
    declare_exchange(&channel, &agent.exchange, flags)
        .await
        .map_err(|e| e.to_string())?;
    declare_queue(&channel, &agent.queue, flags)
        .await
        .map_err(|e| e.to_string())?;
    channel
        .queue_bind(QueueBindArguments::new(
            &agent.queue,
            &agent.exchange,
            &agent.topic,
        ))
        .await
        .map_err(|e| e.to_string())?;
    set_qos(&channel, flags).await.map_err(|e| e.to_string())?;
    let mut consume = BasicConsumeArguments::new(&agent.queue, "krakend");
    consume.no_ack = agent.auto_ack;
    consume.exclusive = flags.exclusive;
    consume.no_local = agent.no_local;
    consume.no_wait = flags.no_wait;
    let (_, mut rx) = channel
        .basic_consume_rx(consume)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        "[SERVICE: AsyncAgent][AMQP][{}] Starting the consumer",
        agent.name
    );
    let busy = Rc::new(Busy::default());
    let mut next_allowed = Instant::now();
    loop {
        busy.wait_below(agent.workers).await;
        let Some(message) = std::future::poll_fn(|cx| rx.poll_recv(cx)).await else {
            break;
        };
        if agent.max_rate > 0.0 {
            // At most `max_rate` messages a second for the agent.
            let now = Instant::now();
            if next_allowed > now {
                rt::sleep(next_allowed - now).await;
            }
            next_allowed = next_allowed.max(now) + Duration::from_secs_f64(1.0 / agent.max_rate);
        }
        let tag = message
            .deliver
            .as_ref()
            .map(|d| d.delivery_tag())
            .unwrap_or_default();
        let body = message.content.unwrap_or_default();
        busy.enter();
        let (agent, pools, channel, busy) =
            (agent.clone(), pools.clone(), channel.clone(), busy.clone());
        rt::spawn(async move {
            let ok = deliver(&agent, &pools, &body).await;
            if !agent.auto_ack {
                let sent = if ok {
                    channel.basic_ack(BasicAckArguments::new(tag, false)).await
                } else {
                    channel
                        .basic_nack(BasicNackArguments::new(tag, false, !agent.nack_discard))
                        .await
                };
                if let Err(e) = sent {
                    tracing::error!("[SERVICE: AsyncAgent][AMQP][{}] Ack: {e}", agent.name);
                }
            }
            busy.leave();
        });
    }
    tracing::warn!(
        "[SERVICE: AsyncAgent][AMQP][{}] Consumer stopped",
        agent.name
    );
    drop(connection);
    Ok(())
}

/// Calls every backend with the message, within the agent's timeout; true
/// when each answered 200 or 201 (lura's default status handler).
async fn deliver(agent: &AsyncAgentSettings, pools: &Pools, body: &[u8]) -> bool {
    let mut all = true;
    let calls = async {
        for backend in &agent.backends {
            if let Err(why) = call(backend, pools, body).await {
                tracing::error!("[SERVICE: AsyncAgent][AMQP][{}] {why}", agent.name);
                all = false;
            }
        }
    };
    if rt::within(agent.timeout, calls).await.is_none() {
        tracing::error!(
            "[SERVICE: AsyncAgent][AMQP][{}] context deadline exceeded",
            agent.name
        );
        return false;
    }
    all
}

async fn call(backend: &AgentBackend, pools: &Pools, body: &[u8]) -> Result<(), String> {
    let host = &backend.hosts[0];
    let pool = pools
        .get(&authority_of(host))
        .ok_or_else(|| format!("no pool for {host}"))?;
    // The base URL's own path comes first, as for any backend.
    let base_path = host
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("");
    let target = format!("{base_path}{}", backend.url_pattern);
    let body = match backend.method {
        crate::http::Method::Get | crate::http::Method::Head => &[][..],
        _ => body,
    };
    let request = Request {
        method: backend.method,
        path_and_query: target.as_bytes(),
        // lura's agent request has no headers: Go's client names itself.
        headers: b"User-Agent: Go-http-client/1.1\r\n",
        body,
        chunked: false,
        body_on_redirect: false,
    };
    let mut scratch = Vec::new();
    let response = fetch(pools, &pool, &request, MAX_BODY, &mut scratch)
        .await
        .map_err(|e| e.to_string())?;
    match response.status {
        200 | 201 => Ok(()),
        status => Err(format!("invalid status code {status}")),
    }
}

/// Messages being handled, and the loop waiting for one to finish.
#[derive(Default)]
struct Busy {
    count: Cell<usize>,
    waiter: RefCell<Option<Waker>>,
}

impl Busy {
    fn enter(&self) {
        self.count.set(self.count.get() + 1);
    }

    fn leave(&self) {
        self.count.set(self.count.get() - 1);
        if let Some(waker) = self.waiter.borrow_mut().take() {
            waker.wake();
        }
    }

    async fn wait_below(&self, limit: usize) {
        std::future::poll_fn(|cx| {
            if self.count.get() < limit {
                Poll::Ready(())
            } else {
                *self.waiter.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}
