//! `nats://` pubsub backends: KrakenD CE's `backend/pubsub/publisher` and
//! `backend/pubsub/subscriber` (krakend-pubsub `client.go`) with Go CDK's
//! NATS driver (`gocloud.dev/pubsub/natspubsub`, `nats.go`). Settings are
//! read by `config::pubsub`; docs/pubsub.md says what differs.
//!
//! - The server is the environment's `NATS_SERVER_URL`, as natspubsub's
//!   default opener reads it. Each worker has one connection, shared by
//!   its NATS backends, opened at the worker's start and, if that failed,
//!   again by the next call (natspubsub dials once per process and keeps a
//!   failure for good); once open, the client (async-nats) reconnects by
//!   itself.
//! - A publisher publishes the request body and answers 200 with no data
//!   (krakend-pubsub returns `Response{IsComplete: true}`, which lura's
//!   router marks `X-KrakenD-Completed: false` as it has no data); while the
//!   connection is down the call fails at once instead of buffering.
//! - A subscriber subscribes at the worker's start and keeps the
//!   subscription: a call answers with the next message's body, waiting
//!   for one until the endpoint's timeout (`sub.Receive(ctx)`), and the
//!   pipeline decodes it with the backend's encoding as krakend-pubsub
//!   does (`remote.Decoder`, then the entity formatter).
//!
//! The client library runs on tokio: its connection task is spawned on
//! the worker's own runtime (current-thread), so nothing leaves the worker
//! and no call blocks it.

use std::cell::RefCell;
use std::io;
use std::rc::{Rc, Weak};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::header::{HeaderName, HeaderValue};
use async_nats::{Client, ConnectOptions, HeaderMap, Subscriber};
use futures_lite::StreamExt;

use super::{CallFuture, Protocol, ProtocolCall};
use crate::config::{NatsSettings, PubSubRole};
use crate::upstream::{BackendError, Response};

/// natspubsub's default opener reads the server from here.
const SERVER_URL_VAR: &str = "NATS_SERVER_URL";

/// How long opening the connection may take (nats.go's default dial
/// timeout is 2 s; a call is bounded by its endpoint's timeout anyway).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

thread_local! {
    /// This worker's connection, while some backend handle holds it.
    static WORKER_CONNECTION: RefCell<Weak<Connection>> = const { RefCell::new(Weak::new()) };
}

/// This worker's handle for a `nats://` backend.
pub fn for_worker(settings: &NatsSettings) -> Rc<dyn Protocol> {
    let connection = WORKER_CONNECTION.with(|slot| {
        if let Some(connection) = slot.borrow().upgrade() {
            return connection;
        }
        let connection = Rc::new(Connection::default());
        *slot.borrow_mut() = Rc::downgrade(&connection);
        connection
    });
    let nats = Rc::new(Nats {
        settings: settings.clone(),
        connection,
        subscription: RefCell::new(None),
        turn: crate::rt::Gate::default(),
    });
    if crate::rt::on_worker() {
        // As krakend-pubsub opens its topic or subscription at start-up: a
        // subscriber keeps the messages published from then on.
        let warm = Rc::downgrade(&nats);
        crate::rt::spawn(async move {
            let Some(nats) = warm.upgrade() else { return };
            if let Err(e) = nats.start().await {
                tracing::warn!("[BACKEND: {}][PubSub] {e}", nats.settings.url);
            }
        });
    }
    nats
}

/// A worker's connection to the NATS server, opened on first need.
#[derive(Default)]
struct Connection {
    client: RefCell<Option<Client>>,
    /// One attempt to connect at a time.
    connecting: crate::rt::Gate,
}

impl Connection {
    async fn client(&self) -> Result<Client, BackendError> {
        if let Some(client) = self.client.borrow().clone() {
            return Ok(client);
        }
        let _turn = self.connecting.enter().await;
        if let Some(client) = self.client.borrow().clone() {
            return Ok(client);
        }
        // The messages are natspubsub's (`defaultConn`), without the URL,
        // which may hold credentials.
        let url = std::env::var(SERVER_URL_VAR)
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| failure(format!("{SERVER_URL_VAR} environment variable not set")))?;
        // nats.go's `Connect` takes a comma-separated list of servers.
        let servers: Vec<&str> = url.split(',').map(str::trim).collect();
        let client = ConnectOptions::new()
            .connection_timeout(CONNECT_TIMEOUT)
            .connect(servers)
            .await
            .map_err(|e| failure(format!("failed to dial {SERVER_URL_VAR}: {e}")))?;
        *self.client.borrow_mut() = Some(client.clone());
        Ok(client)
    }
}

struct Nats {
    settings: NatsSettings,
    connection: Rc<Connection>,
    /// A subscriber's subscription, kept between calls.
    subscription: RefCell<Option<Subscriber>>,
    /// A subscriber's calls take the next message one at a time, in the
    /// order they came (the gate is fair).
    turn: crate::rt::Gate,
}

impl Protocol for Nats {
    fn call<'a>(&'a self, call: ProtocolCall<'a>) -> CallFuture<'a> {
        Box::pin(async move {
            match &self.settings.role {
                PubSubRole::Publish => self.publish(&call).await,
                PubSubRole::Subscribe { .. } => self.receive(call.max_body).await,
            }
        })
    }
}

impl Nats {
    /// What the worker's start opens: the connection, and a subscriber's
    /// subscription.
    async fn start(&self) -> Result<(), BackendError> {
        let client = self.connection.client().await?;
        if matches!(self.settings.role, PubSubRole::Subscribe { .. }) {
            let _turn = self.turn.enter().await;
            if self.subscription.borrow().is_none() {
                let subscriber = self.subscribe(&client).await?;
                *self.subscription.borrow_mut() = Some(subscriber);
            }
        }
        Ok(())
    }

    async fn publish(&self, call: &ProtocolCall<'_>) -> Result<Response, BackendError> {
        let client = self.connection.client().await?;
        // nats.go would keep the message in its reconnect buffer and
        // answer as if sent; cuttle fails the call, so that a client that
        // retries does not publish it twice.
        if client.connection_state() != State::Connected {
            return Err(failure("not connected to the NATS server (reconnecting)"));
        }
        let subject = self.settings.subject.clone();
        let payload = bytes::Bytes::copy_from_slice(call.request.body);
        let headers = if self.settings.headers {
            metadata(call.request.headers)
        } else {
            HeaderMap::new()
        };
        let sent = if headers.is_empty() {
            client.publish(subject, payload).await
        } else {
            client.publish_with_headers(subject, headers, payload).await
        };
        sent.map_err(|e| failure(format!("publish: {e}")))?;
        // krakend-pubsub answers `Response{IsComplete: true}` with no data:
        // it merges as nothing, and lura's router calls a response without
        // data incomplete. The backend's encoding is JSON for it
        // (`config::build`).
        Ok(Response {
            status: 200,
            content_type: None,
            body: b"{}".to_vec(),
        })
    }

    async fn receive(&self, max_body: usize) -> Result<Response, BackendError> {
        let _turn = self.turn.enter().await;
        let mut held = Held::take(&self.subscription);
        let subscriber = match &mut held.subscriber {
            Some(subscriber) => subscriber,
            empty => {
                let client = self.connection.client().await?;
                empty.insert(self.subscribe(&client).await?)
            }
        };
        // Waits until a message comes or the endpoint's deadline drops
        // this future (the subscription is put back, no message is lost).
        let Some(message) = subscriber.next().await else {
            held.subscriber = None;
            return Err(failure("the subscription was closed"));
        };
        let payload = &message.payload[..];
        // natspubsub's v1 decoding: a gob-encoded (metadata, body) pair,
        // else the payload is the body (`decodeMessage`).
        let body = match self.settings.headers {
            false => gob_body(payload).unwrap_or(payload),
            true => payload,
        };
        if body.len() > max_body {
            return Err(BackendError::TooLarge(max_body));
        }
        Ok(Response {
            status: 200,
            content_type: None,
            body: body.to_vec(),
        })
    }

    async fn subscribe(&self, client: &Client) -> Result<Subscriber, BackendError> {
        let subject = self.settings.subject.clone();
        let subscribed = match &self.settings.role {
            PubSubRole::Subscribe { queue: Some(queue) } => {
                client.queue_subscribe(subject, queue.clone()).await
            }
            _ => client.subscribe(subject).await,
        };
        subscribed.map_err(|e| failure(format!("subscribe: {e}")))
    }
}

/// A subscription taken out of its slot for one call, put back when the
/// call ends, also when it is dropped at its deadline.
struct Held<'a> {
    slot: &'a RefCell<Option<Subscriber>>,
    subscriber: Option<Subscriber>,
}

impl<'a> Held<'a> {
    fn take(slot: &'a RefCell<Option<Subscriber>>) -> Held<'a> {
        let subscriber = slot.borrow_mut().take();
        Held { slot, subscriber }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *self.slot.borrow_mut() = self.subscriber.take();
    }
}

fn failure(message: impl std::fmt::Display) -> BackendError {
    BackendError::io(io::Error::other(format!("nats: {message}")))
}

/// The request's headers as krakend-pubsub's message metadata (the first
/// value of each, lura's canonical names), written as natspubsub's
/// `encodeMessageV2` does: name and value `url.QueryEscape`d. The block
/// is what an HTTP backend gets; Go's client adds `Accept-Encoding: gzip`
/// and its User-Agent only when it sends, so they are no metadata.
fn metadata(block: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    let mut seen: Vec<String> = Vec::new();
    for (index, line) in block
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .enumerate()
    {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        let transport =
            (index == 0 && name.eq_ignore_ascii_case(b"accept-encoding") && value == b"gzip")
                || (name.eq_ignore_ascii_case(b"user-agent") && value == b"Go-http-client/1.1");
        let name = crate::http::canonical_header(name);
        if transport || seen.contains(&name) {
            continue;
        }
        // Escaped, a name and a value are ASCII with no control character
        // or ':'; the checked conversions keep the library's asserts away.
        let (Ok(header), Ok(text)) = (
            query_escape(name.as_bytes()).parse::<HeaderName>(),
            query_escape(value).parse::<HeaderValue>(),
        ) else {
            continue;
        };
        map.insert(header, text);
        seen.push(name);
    }
    map
}

/// The body of a message natspubsub's v1 encoding wrote with metadata
/// (`encodeMessage`: one gob encoder writes the `map[string]string`, then
/// the `[]byte`), or `None` when `data` is not that (then it is the body,
/// as `decodeMessage` falls back to). Only the framing is read: each gob
/// message is a length, a type id (negative: a type definition, skipped)
/// and a value; a lone value starts with field delta 0; a map is a count
/// and its keys and values, a string or `[]byte` a length and its bytes
/// (Go's `encoding/gob` doc, "Encoding details").
fn gob_body(data: &[u8]) -> Option<&[u8]> {
    /// gob's predefined type id of `[]byte`.
    const BYTES: i64 = 5;
    let mut stream = Gob(data);
    let metadata = loop {
        let mut message = Gob(stream.bytes()?);
        if message.int()? >= 0 {
            break message;
        }
    };
    let mut metadata = metadata;
    if metadata.uint()? != 0 {
        return None;
    }
    for _ in 0..metadata.uint()? {
        metadata.bytes()?;
        metadata.bytes()?;
    }
    let mut body = Gob(stream.bytes()?);
    if !metadata.0.is_empty() || !stream.0.is_empty() || body.int()? != BYTES || body.uint()? != 0 {
        return None;
    }
    let bytes = body.bytes()?;
    body.0.is_empty().then_some(bytes)
}

/// A reader of gob's encoding of numbers and byte strings.
struct Gob<'a>(&'a [u8]);

impl<'a> Gob<'a> {
    /// Below 128: one byte; else the negated count of big-endian bytes
    /// that follow.
    fn uint(&mut self) -> Option<u64> {
        let (&first, rest) = self.0.split_first()?;
        if first < 0x80 {
            self.0 = rest;
            return Some(u64::from(first));
        }
        let count = usize::from(first.wrapping_neg());
        if count > 8 || rest.len() < count {
            return None;
        }
        let value = rest[..count]
            .iter()
            .fold(0u64, |v, &b| (v << 8) | u64::from(b));
        self.0 = &rest[count..];
        Some(value)
    }

    /// The sign in the lowest bit, complemented when set.
    fn int(&mut self) -> Option<i64> {
        let u = self.uint()?;
        let magnitude = (u >> 1) as i64;
        Some(if u & 1 == 1 { !magnitude } else { magnitude })
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.uint()?).ok()?;
        if self.0.len() < len {
            return None;
        }
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(bytes)
    }
}

/// Go's `url.QueryEscape`.
fn query_escape(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What natspubsub's `encodeMessage` writes for metadata
    /// `{"User-Agent": "KrakenD"}` and `body`: the type definition of
    /// `map[string]string` (id 65), the map, then the `[]byte` (id 5).
    fn gob_message(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut definition = vec![0xff, 0x81, 0x04, 0x01, 0x01, 0x11];
        definition.extend_from_slice(b"map[string]string");
        definition.extend_from_slice(&[0x01, 0xff, 0x82, 0x00, 0x01, 0x0c, 0x01, 0x0c, 0x00, 0x00]);
        out.push(definition.len() as u8);
        out.extend_from_slice(&definition);
        let mut map = vec![0xff, 0x82, 0x00, 0x01, 0x0a];
        map.extend_from_slice(b"User-Agent");
        map.push(0x07);
        map.extend_from_slice(b"KrakenD");
        out.push(map.len() as u8);
        out.extend_from_slice(&map);
        let mut value = vec![0x0a, 0x00, body.len() as u8];
        value.extend_from_slice(body);
        out.push(value.len() as u8);
        out.extend_from_slice(&value);
        out
    }

    #[test]
    fn a_v1_message_with_metadata_gives_its_body() {
        let message = gob_message(br#"{"a":1}"#);
        assert_eq!(gob_body(&message), Some(&br#"{"a":1}"#[..]));
        // Anything else is the body itself.
        for data in [
            &br#"{"a":1}"#[..],
            b"",
            b"[1]",
            &message[..message.len() - 1],
            &[message.as_slice(), b"x"].concat(),
        ] {
            assert_eq!(gob_body(data), None, "{data:?}");
        }
        // Lengths past one byte: negated byte count, then big-endian.
        assert_eq!(Gob(&[0xfe, 0x01, 0x00]).uint(), Some(256));
        assert_eq!(Gob(&[0x81]).int(), None);
        assert_eq!(Gob(&[0xff, 0x81]).int(), Some(-65));
        assert_eq!(Gob(&[0xff, 0x82]).int(), Some(65));
    }

    #[test]
    fn query_escape_is_gos() {
        assert_eq!(
            query_escape(b"KrakenD Version 2.13.8"),
            "KrakenD+Version+2.13.8"
        );
        assert_eq!(
            query_escape(b"a/b?c=d&e~f_g.h-i"),
            "a%2Fb%3Fc%3Dd%26e~f_g.h-i"
        );
        assert_eq!(query_escape("é".as_bytes()), "%C3%A9");
    }

    #[test]
    fn metadata_is_the_first_value_of_each_header_the_backend_gets() {
        let block = b"Accept-Encoding: gzip\r\nx-tenant: a b\r\nX-Tenant: second\r\nUser-Agent: Go-http-client/1.1\r\nX-Forwarded-For: 10.0.0.1\r\n";
        let map = metadata(block);
        let names: Vec<String> = map.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(map.get("X-Tenant").map(|v| v.as_str()), Some("a+b"));
        assert_eq!(
            map.get("X-Forwarded-For").map(|v| v.as_str()),
            Some("10.0.0.1")
        );
        assert!(
            metadata(b"Accept-Encoding: gzip\r\nUser-Agent: Go-http-client/1.1\r\n").is_empty()
        );
    }
}
