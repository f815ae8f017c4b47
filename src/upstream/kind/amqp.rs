//! `backend/amqp/consumer` and `backend/amqp/producer`: a backend that
//! takes the next message of a queue, or publishes the request's body to
//! an exchange (krakend-amqp `consumer.go`, `producer.go`, `client.go`),
//! over AMQP 0-9-1 with amqprs.
//!
//! Each worker has its own connection and channel per backend, opened by
//! the first call that needs it (krakend-amqp opens one per backend at
//! start-up, blocking the start), and opened again by a later call once the
//! broker closed it. While an attempt is under way, and until the backoff
//! after a failed one has passed, calls fail at once with krakend-amqp's
//! "connection not available, trying to reconnect", as KrakenD's calls do
//! while its reconnecting goroutine runs. Everything is async on the
//! worker's loop: a broker that does not answer holds only the calls to it,
//! each until the endpoint's deadline drops it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicNackArguments, BasicPublishArguments,
    BasicQosArguments, Channel, ConsumerMessage, ExchangeDeclareArguments, QueueBindArguments,
    QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{BasicProperties, FieldArray, FieldTable, FieldValue, LongStr};

use super::{BackendError, CallFuture, Protocol, ProtocolCall, Response};
use crate::config::{AmqpBackoff, AmqpQueueFlags, AmqpRole, AmqpSettings, BackendEncoding};

/// krakend-amqp's words for a call made while the connection is down.
const UNAVAILABLE: &str = "connection not available, trying to reconnect";
/// AMQP short strings (names, routing keys, most properties) hold at most
/// 255 bytes; amqprs panics past it, so longer values are refused first.
const SHORT_STR: usize = 255;

/// This worker's handle on one AMQP backend.
pub struct Amqp {
    settings: AmqpSettings,
    /// The open connection and channel, if any.
    link: RefCell<Option<Rc<Link>>>,
    /// An attempt to connect is under way (in some call).
    connecting: Cell<bool>,
    /// Failed attempts in this reconnection round.
    failures: Cell<u32>,
    /// No attempt before this (the backoff after a failure).
    next_attempt: Cell<Option<Instant>>,
}

struct Link {
    /// Kept so that the connection lives as long as its channel.
    connection: Connection,
    channel: Channel,
    /// A consumer's deliveries.
    deliveries: Option<Deliveries>,
}

impl Drop for Amqp {
    fn drop(&mut self) {
        // amqprs closes a connection and a channel from their `Drop` with a
        // task, which needs the worker's loop; a worker dropped after its
        // loop ended (the process is ending) lets them go unclosed.
        if !crate::rt::in_loop()
            && let Some(link) = self.link.get_mut().take()
        {
            std::mem::forget(link);
        }
    }
}

/// A connection to `broker` and one channel on it.
pub(super) async fn connect(
    broker: &crate::config::AmqpBroker,
) -> Result<(Connection, Channel), amqprs::error::Error> {
    let args =
        OpenConnectionArguments::new(&broker.host, broker.port, &broker.user, &broker.password)
            .virtual_host(&broker.vhost)
            .finish();
    let connection = Connection::open(&args).await?;
    let channel = connection.open_channel(None).await?;
    Ok((connection, channel))
}

/// The exchange, of type topic; its `exclusive` goes where amqp091-go's
/// `ExchangeDeclare` takes `internal`, as krakend-amqp passes it.
pub(super) async fn declare_exchange(
    channel: &Channel,
    name: &str,
    flags: AmqpQueueFlags,
) -> Result<(), amqprs::error::Error> {
    let mut exchange = ExchangeDeclareArguments::new(name, "topic");
    exchange.durable = flags.durable;
    exchange.auto_delete = flags.delete;
    exchange.internal = flags.exclusive;
    exchange.no_wait = flags.no_wait;
    channel.exchange_declare(exchange).await
}

pub(super) async fn declare_queue(
    channel: &Channel,
    name: &str,
    flags: AmqpQueueFlags,
) -> Result<(), amqprs::error::Error> {
    let queue = QueueDeclareArguments::new(name)
        .durable(flags.durable)
        .auto_delete(flags.delete)
        .exclusive(flags.exclusive)
        .no_wait(flags.no_wait)
        .finish();
    channel.queue_declare(queue).await.map(drop)
}

/// The consumer's QoS, only when a prefetch is configured (krakend-amqp
/// leaves the broker's default otherwise).
pub(super) async fn set_qos(
    channel: &Channel,
    flags: AmqpQueueFlags,
) -> Result<(), amqprs::error::Error> {
    if flags.prefetch_count == 0 && flags.prefetch_size == 0 {
        return Ok(());
    }
    channel
        .basic_qos(BasicQosArguments::new(
            flags.prefetch_size,
            flags.prefetch_count,
            false,
        ))
        .await
}

impl Link {
    fn is_open(&self) -> bool {
        self.connection.is_open() && self.channel.is_open()
    }
}

impl Amqp {
    pub fn new(settings: &AmqpSettings) -> Amqp {
        Amqp {
            settings: settings.clone(),
            link: RefCell::new(None),
            connecting: Cell::new(false),
            failures: Cell::new(0),
            next_attempt: Cell::new(None),
        }
    }

    async fn call_inner(&self, call: ProtocolCall<'_>) -> Result<Response, BackendError> {
        let link = self.link().await?;
        match &self.settings.role {
            AmqpRole::Consumer(_) => self.consume(&link).await,
            AmqpRole::Producer(_) => self.publish(&link, &call).await,
        }
    }

    /// The open link, opening one when there is none and none is being
    /// opened and the backoff allows.
    async fn link(&self) -> Result<Rc<Link>, BackendError> {
        let current = self.link.borrow().clone();
        if let Some(link) = current {
            if link.is_open() {
                return Ok(link);
            }
            self.drop_link();
        }
        if self.connecting.get()
            || self
                .next_attempt
                .get()
                .is_some_and(|at| Instant::now() < at)
        {
            return Err(unavailable());
        }
        self.connecting.set(true);
        let mut attempt = Attempt {
            amqp: self,
            done: false,
        };
        let opened = self.open().await;
        attempt.done = true;
        self.connecting.set(false);
        match opened {
            Ok(link) => {
                self.failures.set(0);
                self.next_attempt.set(None);
                let link = Rc::new(link);
                *self.link.borrow_mut() = Some(link.clone());
                Ok(link)
            }
            Err(why) => {
                self.failed();
                tracing::error!("{} {why}", self.settings.log_prefix);
                Err(BackendError::io(std::io::Error::other(why)))
            }
        }
    }

    /// A failed (or abandoned) attempt: wait as lura's backoff says before
    /// the next one; after `max_retries` failures a new round begins, as
    /// KrakenD's next call starts a new reconnection.
    fn failed(&self) {
        let failures = self.failures.get() + 1;
        let max = self.settings.max_retries;
        self.failures.set(if max > 0 && failures >= max {
            0
        } else {
            failures
        });
        self.next_attempt.set(Some(
            Instant::now() + backoff(self.settings.backoff, failures),
        ));
    }

    fn drop_link(&self) {
        self.link.borrow_mut().take();
    }

    /// Connects, opens a channel and declares what krakend-amqp declares:
    /// the exchange, and for a consumer the queue, its bindings, the QoS
    /// and the consumer.
    async fn open(&self) -> Result<Link, String> {
        let s = &self.settings;
        let broker = &s.broker;
        let place = format!("{}/{}", broker.display(), s.name);
        let (connection, channel) = connect(broker)
            .await
            .map_err(|e| format!("getting the channel for {place}: {e}"))?;
        let flags = s.flags;
        declare_exchange(&channel, &s.exchange, flags)
            .await
            .map_err(|e| format!("declaring the exchange for {place}: {e}"))?;
        let AmqpRole::Consumer(consumer) = &s.role else {
            return Ok(Link {
                connection,
                channel,
                deliveries: None,
            });
        };
        declare_queue(&channel, &s.name, flags)
            .await
            .map_err(|e| format!("declaring the queue for {place}: {e}"))?;
        for key in &consumer.routing_keys {
            // krakend-amqp logs a failed binding and goes on.
            if let Err(e) = channel
                .queue_bind(QueueBindArguments::new(&s.name, &s.exchange, key))
                .await
            {
                tracing::error!("{} binding the queue for {place}: {e}", s.log_prefix);
            }
        }
        set_qos(&channel, flags)
            .await
            .map_err(|e| format!("setting the QoS for the consumer {place}: {e}"))?;
        let mut consume = BasicConsumeArguments::new(&s.name, &consumer_tag());
        consume.no_local = consumer.no_local;
        consume.no_ack = consumer.auto_ack;
        consume.exclusive = flags.exclusive;
        consume.no_wait = flags.no_wait;
        let (_, mut rx) = channel
            .basic_consume_rx(consume)
            .await
            .map_err(|e| format!("setting up the consumer for {place}: {e}"))?;
        Ok(Link {
            connection,
            channel,
            deliveries: Some(Deliveries::new(Box::new(move |cx| rx.poll_recv(cx)))),
        })
    }

    /// The next message, acknowledged once it decodes with the backend's
    /// encoding (else rejected, and requeued unless `nack_discard`); it is
    /// the backend's answer. Without a message the call waits, until the
    /// endpoint's deadline.
    async fn consume(&self, link: &Link) -> Result<Response, BackendError> {
        let AmqpRole::Consumer(consumer) = &self.settings.role else {
            unreachable!("consume is called for consumers")
        };
        let deliveries = link.deliveries.as_ref().expect("a consumer's link");
        let Some(message) = deliveries.next().await else {
            // The channel or the connection closed.
            self.drop_link();
            return Err(unavailable());
        };
        let tag = message
            .deliver
            .as_ref()
            .map(|d| d.delivery_tag())
            .unwrap_or_default();
        let mut body = message.content.unwrap_or_default();
        let check = self.decodes(&mut body);
        // krakend-amqp acks even with `auto_ack`, which RabbitMQ answers by
        // closing the channel (unknown delivery tag); the broker already
        // counts such a message as acknowledged, so cuttle sends nothing.
        if !consumer.auto_ack {
            let sent = match &check {
                Ok(()) => {
                    link.channel
                        .basic_ack(BasicAckArguments::new(tag, false))
                        .await
                }
                Err(_) => {
                    link.channel
                        .basic_nack(BasicNackArguments::new(tag, false, !consumer.nack_discard))
                        .await
                }
            };
            if let Err(e) = sent {
                tracing::error!("{} acknowledging: {e}", self.settings.log_prefix);
            }
        }
        check.map_err(|why| BackendError::io(std::io::Error::other(why)))?;
        Ok(Response {
            status: 200,
            content_type: None,
            body,
        })
    }

    /// Whether `body` decodes with the backend's encoding, as krakend-amqp
    /// checks before it acks. An empty JSON body is Go's `io.EOF`, which it
    /// takes as a message without data: it becomes `{}` here.
    fn decodes(&self, body: &mut Vec<u8>) -> Result<(), String> {
        let (encoding, is_collection) = self.settings.decoding;
        let json = matches!(encoding, BackendEncoding::Json | BackendEncoding::SafeJson);
        if json && body.iter().all(u8::is_ascii_whitespace) {
            *body = if is_collection && encoding == BackendEncoding::Json {
                b"[]".to_vec()
            } else {
                b"{}".to_vec()
            };
            return Ok(());
        }
        let mut copy = body.clone();
        let mut literals = crate::pipeline::Literals::default();
        crate::pipeline::decode(encoding, is_collection, &mut copy, &mut literals)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Publishes the request's body with its headers as the message's
    /// headers (krakend-amqp `producer.go`); the answer is a complete
    /// response without data.
    async fn publish(
        &self,
        link: &Link,
        call: &ProtocolCall<'_>,
    ) -> Result<Response, BackendError> {
        let AmqpRole::Producer(producer) = &self.settings.role else {
            unreachable!("publish is called for producers")
        };
        let refused = |why: String| BackendError::io(std::io::Error::other(why));
        let param = |key: &str| -> Option<String> {
            // lura names each parameter with its first letter upper-cased
            // (`router/gin/endpoint.go`, `NewRequest`).
            call.params.iter().find_map(|(name, raw)| {
                let mut chars = name.chars();
                let first = chars.next()?;
                let matches = key.starts_with(first.to_ascii_uppercase())
                    && key[first.len_utf8()..] == *chars.as_str();
                matches.then(|| {
                    let mut out = Vec::with_capacity(raw.len());
                    crate::pipeline::percent_decode(raw, &mut out);
                    String::from_utf8_lossy(&out).into_owned()
                })
            })
        };
        let short = |what: &str, value: String| -> Result<String, BackendError> {
            if value.len() > SHORT_STR {
                return Err(refused(format!(
                    "the {what} is longer than AMQP's 255 bytes"
                )));
            }
            Ok(value)
        };
        let (headers, content_type) = message_headers(call.request.headers)
            .ok_or_else(|| refused("a header does not fit an AMQP table".into()))?;
        let mut properties = BasicProperties::default();
        properties.with_headers(headers);
        if let Some(content_type) = content_type {
            properties.with_content_type(&short("content type", content_type)?);
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        properties.with_timestamp(now);
        // amqp091-go sends a property only when it is not empty.
        let expiration = short("expiration", param(&producer.exp_key).unwrap_or_default())?;
        if !expiration.is_empty() {
            properties.with_expiration(&expiration);
        }
        let reply_to = short(
            "reply_to",
            param(&producer.reply_to_key).unwrap_or_default(),
        )?;
        if !reply_to.is_empty() {
            properties.with_reply_to(&reply_to);
        }
        let message_id = short(
            "message id",
            param(&producer.msg_id_key).unwrap_or_default(),
        )?;
        if !message_id.is_empty() {
            properties.with_message_id(&message_id);
        }
        if let Some(priority) = param(&producer.priority_key).and_then(|p| go_atoi(&p)) {
            // Go's `uint8(i)`.
            properties.with_priority(priority as u8);
        }
        let routing_key = if producer.static_routing_key {
            producer.routing_key.clone()
        } else {
            param(&producer.routing_key).unwrap_or_default()
        };
        let routing_key = short("routing key", routing_key)?;
        let mut args = BasicPublishArguments::new(&self.settings.exchange, &routing_key);
        args.mandatory = producer.mandatory;
        args.immediate = producer.immediate;
        if let Err(e) = link
            .channel
            .basic_publish(properties.finish(), call.request.body.to_vec(), args)
            .await
        {
            self.drop_link();
            return Err(refused(e.to_string()));
        }
        Ok(Response {
            status: 200,
            content_type: None,
            body: b"{}".to_vec(),
        })
    }
}

impl Protocol for Amqp {
    fn call<'a>(&'a self, call: ProtocolCall<'a>) -> CallFuture<'a> {
        Box::pin(self.call_inner(call))
    }
}

fn unavailable() -> BackendError {
    BackendError::io(std::io::Error::other(UNAVAILABLE))
}

/// An attempt to connect dropped before it ended (the call's deadline)
/// counts as a failed one.
struct Attempt<'a> {
    amqp: &'a Amqp,
    done: bool,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.amqp.connecting.set(false);
            self.amqp.failed();
        }
    }
}

/// lura `backoff.GetByName`: the wait before attempt `i` (1-based here:
/// the first retry).
pub(super) fn backoff(strategy: AmqpBackoff, i: u32) -> Duration {
    let i = i.min(30);
    match strategy {
        AmqpBackoff::Constant => Duration::from_secs(1),
        AmqpBackoff::Linear => Duration::from_secs(u64::from(i)),
        AmqpBackoff::Exponential => Duration::from_secs(1 << i),
        AmqpBackoff::LinearJitter => jitter(u64::from(i)),
        AmqpBackoff::ExponentialJitter => jitter(1 << i),
    }
}

/// lura's `jitter`: `seconds` give or take up to a third.
fn jitter(seconds: u64) -> Duration {
    let ms = seconds * 1000;
    let spread = ms / 3 + 1;
    // Any varying source does: the sub-second clock.
    let noise = u64::from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    ) % (2 * spread);
    Duration::from_millis((ms + noise).saturating_sub(spread).max(1))
}

/// A consumer tag unique in the process: amqp091-go makes one up when
/// krakend-amqp passes "", and amqprs needs it to route deliveries.
fn consumer_tag() -> String {
    thread_local! {
        static NEXT: Cell<u64> = const { Cell::new(0) };
    }
    let n = NEXT.with(|next| {
        let n = next.get();
        next.set(n + 1);
        n
    });
    format!(
        "cuttle-{}-{:?}-{n}",
        std::process::id(),
        std::thread::current().id()
    )
}

/// Go's `strconv.Atoi`: an optional sign and decimal digits.
fn go_atoi(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The request's header lines as lura's `Request.Headers` (each name an
/// array of its values) and the first Content-Type. The lines cuttle
/// writes for an HTTP client only (`Accept-Encoding: gzip` asked by the
/// gateway, Go's client's `User-Agent`) are not the request's headers.
fn message_headers(block: &[u8]) -> Option<(FieldTable, Option<String>)> {
    let mut names: Vec<(String, Vec<FieldValue>)> = Vec::new();
    let mut content_type = None;
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        // lura's header map is keyed by Go's canonical names.
        let name = crate::http::canonical_header(&line[..colon]);
        let value = String::from_utf8_lossy(line[colon + 1..].trim_ascii()).into_owned();
        if (name.eq_ignore_ascii_case("accept-encoding") && value == "gzip")
            || (name.eq_ignore_ascii_case("user-agent") && value == "Go-http-client/1.1")
        {
            continue;
        }
        if content_type.is_none() && name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.clone());
        }
        let value = FieldValue::S(LongStr::try_from(value).ok()?);
        match names.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => names.push((name, vec![value])),
        }
    }
    let mut table = FieldTable::new();
    for (name, values) in names {
        if name.len() > SHORT_STR {
            return None;
        }
        let array = FieldArray::try_from(values).ok()?;
        table.insert(name.try_into().ok()?, FieldValue::A(array));
    }
    Some((table, content_type))
}

/// A consumer's deliveries, shared by the calls waiting on them. amqprs
/// hands them over a channel whose receiver wakes only the last task that
/// polled it; so each waiter is also listed here, and a waiter that leaves
/// (with a message, or dropped at its deadline) wakes the others, one of
/// which then waits on the receiver in its place.
struct Deliveries {
    poll: RefCell<Box<PollNext>>,
    /// The waiting calls' wakers, by the id of their `Next`.
    waiters: RefCell<Vec<(u64, Waker)>>,
    next_id: Cell<u64>,
}

type PollNext = dyn FnMut(&mut Context<'_>) -> Poll<Option<ConsumerMessage>>;

impl Deliveries {
    fn new(poll: Box<PollNext>) -> Deliveries {
        Deliveries {
            poll: RefCell::new(poll),
            waiters: RefCell::new(Vec::new()),
            next_id: Cell::new(0),
        }
    }

    fn next(&self) -> Next<'_> {
        Next {
            deliveries: self,
            id: None,
        }
    }

    /// Waiter `id` leaves: every other one is woken (and forgotten until
    /// it registers again by being polled).
    fn leave(&self, id: u64) {
        let woken: Vec<(u64, Waker)> = {
            let mut waiters = self.waiters.borrow_mut();
            waiters.retain(|(i, _)| *i != id);
            waiters.drain(..).collect()
        };
        for (_, waker) in woken {
            waker.wake();
        }
    }
}

struct Next<'a> {
    deliveries: &'a Deliveries,
    id: Option<u64>,
}

impl std::future::Future for Next<'_> {
    type Output = Option<ConsumerMessage>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let deliveries = self.deliveries;
        let polled = (deliveries.poll.borrow_mut())(cx);
        match polled {
            Poll::Ready(message) => {
                if let Some(id) = self.id.take() {
                    deliveries.leave(id);
                }
                Poll::Ready(message)
            }
            Poll::Pending => {
                let id = *self.id.get_or_insert_with(|| {
                    let id = deliveries.next_id.get();
                    deliveries.next_id.set(id + 1);
                    id
                });
                let mut waiters = deliveries.waiters.borrow_mut();
                match waiters.iter_mut().find(|(i, _)| *i == id) {
                    Some((_, waker)) => waker.clone_from(cx.waker()),
                    None => waiters.push((id, cx.waker().clone())),
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Next<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.deliveries.leave(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_become_arrays_of_their_values() {
        let block = b"Accept-Encoding: gzip\r\nx-a: 1\r\nContent-Type: text/plain\r\nX-A: 2\r\nUser-Agent: Go-http-client/1.1\r\n";
        let (table, content_type) = message_headers(block).unwrap();
        assert_eq!(content_type.as_deref(), Some("text/plain"));
        let map = table.as_ref();
        assert_eq!(map.len(), 2);
        let x_a = map.get(&"X-A".try_into().unwrap()).unwrap();
        assert_eq!(
            x_a.to_string(),
            FieldValue::A(FieldArray::try_from(vec!["1".into(), "2".into()]).unwrap()).to_string()
        );
    }

    #[test]
    fn atoi_as_go() {
        assert_eq!(go_atoi("7"), Some(7));
        assert_eq!(go_atoi("-1"), Some(-1));
        assert_eq!(go_atoi("+3"), Some(3));
        assert_eq!(go_atoi(" 3"), None);
        assert_eq!(go_atoi("3x"), None);
        assert_eq!(go_atoi(""), None);
    }

    #[test]
    fn backoff_as_lura() {
        assert_eq!(backoff(AmqpBackoff::Constant, 5), Duration::from_secs(1));
        assert_eq!(backoff(AmqpBackoff::Linear, 3), Duration::from_secs(3));
        assert_eq!(backoff(AmqpBackoff::Exponential, 3), Duration::from_secs(8));
        let j = backoff(AmqpBackoff::ExponentialJitter, 3);
        assert!(j >= Duration::from_millis(5333) && j <= Duration::from_millis(10667));
    }
}
