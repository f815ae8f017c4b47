//! A `websocket` endpoint (KrakenD Enterprise's direct communication, see
//! docs/websockets.md): once the endpoint's steps let the handshake
//! through, [`upgrade`] opens a connection of the endpoint's own to its
//! backend, sends the upgrade request there, checks the backend's 101 and
//! writes the client's 101 into the response sink (`proxy::exchange`
//! calls it); then the HTTP/1.1 codec hands its connection to
//! [`Session::relay`], which passes frames both ways on the worker's event
//! loop until a side closes, breaks a rule, goes quiet or the worker
//! drains.
//!
//! Frames are relayed as they are (a client's masked frames stay masked,
//! which a server expects); only their headers are read
//! (`http::websocket::Scanner`), so the size limit and the protocol's rules
//! hold without holding a message in memory.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::facts::RequestFacts;
use super::plan::EndpointPlan;
use super::request::{ClientRequest, USER_AGENT, backend_target, gateway_owned};
use super::respond::{Body, ResponseContext, finish};
use crate::config::{Forward, HANDSHAKE_HEADERS, WebSocketSettings};
use crate::http::websocket::{
    self as ws, CLOSE_GOING_AWAY, ClientHandshake, From, Scanner, Violation,
};
use crate::http::{
    Framing, Method, Parse, ResponseHeadReader, ResponseSink, is_hop_by_hop, write_header, write_ip,
};
use crate::metrics::Recorder;
use crate::rt::{self, Stream, Timer};
use crate::upstream::host_header;

/// Largest backend answer head to the upgrade request.
const MAX_HEAD: usize = 16 * 1024;

/// Both sides upgraded, nothing relayed yet: what the HTTP/1.1 codec
/// relays over its connection once the 101 is out.
pub struct Session {
    backend: Stream,
    /// The backend's bytes behind its 101 (frames sent at once).
    backend_early: Vec<u8>,
    settings: Rc<WebSocketSettings>,
}

/// Runs the handshakes of an upgrade request to a websocket endpoint whose
/// steps passed, writing the client's answer (400, 500 or 101) into `out`.
/// `upgrades`: the codec can hand its connection over to a session (HTTP/1.1
/// only). Returns the session when both sides upgraded.
pub async fn upgrade<S: ResponseSink>(
    plan: &EndpointPlan,
    req: &ClientRequest<'_>,
    facts: &RequestFacts,
    ctx: &ResponseContext<'_>,
    upgrades: bool,
    out: &mut S,
) -> Option<Session> {
    let Some(settings) = &plan.websocket else {
        unreachable!("upgrade is only called for websocket endpoints")
    };
    let shake = if upgrades {
        ws::client_handshake(req.head, req.buf)
    } else {
        Err(ws::NEEDS_HTTP1)
    };
    let shake = match shake {
        Ok(shake) => shake,
        Err(reason) => {
            // gorilla/websocket's `Upgrader` answers so (400, the version
            // it speaks); the text says what was wrong.
            out.status(400);
            out.header(b"Content-Type", b"text/plain; charset=utf-8");
            out.header(b"Sec-WebSocket-Version", b"13");
            let body = format!("{reason}\n");
            finish(ctx, Body::Whole(body.as_bytes()), out);
            return None;
        }
    };
    let offered = ws::offered_protocols(shake.protocols, &settings.subprotocols);
    // The endpoint's timeout bounds the backend's handshake, as it bounds
    // any backend call.
    let opened = crate::rt::within(
        plan.timeout,
        open_backend(plan, req, facts, settings, &offered),
    )
    .await
    .unwrap_or_else(|| Err("the backend's handshake timed out".into()));
    let (backend, backend_early, chosen) = match opened {
        Ok(opened) => opened,
        Err(reason) => {
            tracing::warn!(endpoint = %plan.path, "websocket backend: {reason}");
            // As a failed backend of any endpoint without
            // `return_error_code`: 500, incomplete.
            out.status(500);
            out.header(b"X-KrakenD-Completed", b"false");
            finish(ctx, Body::Whole(b""), out);
            return None;
        }
    };
    write_switch(out, &shake, chosen.as_deref(), ctx);
    Some(Session {
        backend,
        backend_early,
        settings: Rc::clone(settings),
    })
}

/// The client's 101 (RFC 6455 §4.2.2), with the edge screen's header lines
/// (no body, no framing: the codec writes no `Connection: close` on a 101).
fn write_switch<S: ResponseSink>(
    out: &mut S,
    shake: &ClientHandshake<'_>,
    protocol: Option<&[u8]>,
    ctx: &ResponseContext<'_>,
) {
    out.status(101);
    out.header(b"Upgrade", b"websocket");
    out.header(b"Connection", b"Upgrade");
    out.header(
        b"Sec-WebSocket-Accept",
        ws::accept_value(shake.key).as_bytes(),
    );
    if let Some(protocol) = protocol {
        out.header(b"Sec-WebSocket-Protocol", protocol);
    }
    out.header_lines(ctx.decor);
    out.end_head(Framing::None);
}

/// Connects to one of the backend's hosts (round robin), sends the upgrade
/// request and checks the 101. Returns the stream, the bytes that came
/// behind the 101 and the subprotocol chosen.
async fn open_backend(
    plan: &EndpointPlan,
    req: &ClientRequest<'_>,
    facts: &RequestFacts,
    settings: &WebSocketSettings,
    offered: &[&[u8]],
) -> Result<(Stream, Vec<u8>, Option<Vec<u8>>), String> {
    let backend = &plan.backends[0];
    let pool = &backend.pools[backend.pick_host()];
    let endpoint = pool.pick().map_err(|e| e.to_string())?;
    let mut request = Vec::with_capacity(512);
    request.extend_from_slice(b"GET ");
    let mut target = Vec::new();
    backend_target(plan, backend, req, facts, &[], &mut target).map_err(|e| e.to_string())?;
    request.extend_from_slice(&target);
    request.extend_from_slice(b" HTTP/1.1\r\n");
    write_header(
        &mut request,
        b"Host",
        host_header(&endpoint.authority).as_bytes(),
    );
    write_header(&mut request, b"Upgrade", b"websocket");
    write_header(&mut request, b"Connection", b"Upgrade");
    let key = ws::new_key();
    write_header(&mut request, b"Sec-WebSocket-Key", key.as_bytes());
    write_header(&mut request, b"Sec-WebSocket-Version", b"13");
    if !offered.is_empty() {
        write_header(
            &mut request,
            b"Sec-WebSocket-Protocol",
            &offered.join(&b", "[..]),
        );
    }
    upgrade_headers(plan, req, facts, settings, &mut request);
    request.extend_from_slice(b"\r\n");

    let mut stream = pool
        .open_stream_at(&endpoint)
        .await
        .map_err(|e| e.to_string())?;
    stream
        .write_all(&request)
        .await
        .map_err(|e| format!("sending the upgrade request: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let mut end = 0;
    let mut reader = ResponseHeadReader::new();
    loop {
        if end == buf.len() {
            if buf.len() >= MAX_HEAD {
                return Err("the backend's answer head is too large".into());
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = stream
            .read(&mut buf[end..])
            .await
            .map_err(|e| format!("reading the backend's answer: {e}"))?;
        if n == 0 {
            return Err("the backend closed the connection during the handshake".into());
        }
        end += n;
        match reader.poll(&buf[..end], Method::Get, MAX_HEAD) {
            Ok(Parse::Complete(head)) => {
                let chosen =
                    ws::server_handshake(&head, &buf[..end], &key, offered)?.map(<[u8]>::to_vec);
                return Ok((stream, buf[head.head_len..end].to_vec(), chosen));
            }
            Ok(Parse::Partial) => {}
            Err(e) => return Err(format!("the backend's answer: {e}")),
        }
    }
}

/// The header lines of the backend's upgrade request besides the
/// handshake's own: the client's that `websocket.input_headers` lets
/// through (never the handshake's, the connection's or those the gateway
/// sets), `X-Forwarded-For`, a `User-Agent` and the steps' lines
/// (`propagate_claims`).
fn upgrade_headers(
    plan: &EndpointPlan,
    req: &ClientRequest<'_>,
    facts: &RequestFacts,
    settings: &WebSocketSettings,
    out: &mut Vec<u8>,
) {
    let listed = req.head.connection_listed(req.buf);
    let mut user_agent = false;
    for h in &req.head.headers {
        let name = h.name.of(req.buf);
        let wanted = match &settings.input_headers {
            Forward::None => false,
            Forward::All => true,
            Forward::Only(names) => names
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(name)),
        };
        if !wanted
            || HANDSHAKE_HEADERS
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
            || gateway_owned(name)
            || is_hop_by_hop(name)
            || listed.contains(name)
            || plan.replaces_header(name)
        {
            continue;
        }
        user_agent |= name.eq_ignore_ascii_case(b"user-agent");
        write_header(out, name, h.value.of(req.buf));
    }
    if !user_agent {
        write_header(out, b"User-Agent", USER_AGENT.as_bytes());
    }
    out.extend_from_slice(b"X-Forwarded-For: ");
    write_ip(out, req.peer);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&facts.backend_headers);
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both sides sent a close frame.
    Closed,
    /// A side closed its connection or failed (a write waited longer than
    /// `write_wait`).
    Gone,
    /// A side broke a rule; both were sent this close status.
    Violation(u16),
    /// Nothing in either direction for `pong_wait`, or from the backend
    /// for `timeout`.
    Idle,
    /// The worker drains.
    Stopped,
}

/// What the two directions of a session share (one task, so `Cell`s).
struct Shared {
    last_any: Cell<Instant>,
    last_backend: Cell<Instant>,
    /// A close frame came from the client / the backend.
    client_closed: Cell<bool>,
    backend_closed: Cell<bool>,
    /// Everything written to the backend / the client so far ends at a
    /// frame's end (no write cut short, no frame half passed), so a frame
    /// of cuttle's own may follow.
    to_backend_clean: Cell<bool>,
    to_client_clean: Cell<bool>,
}

/// One direction: who sends, what reads its frames, where they go.
struct Pump<'a, 's> {
    from_client: bool,
    scanner: Scanner,
    read: rt::ReadHalf<'s>,
    write: rt::WriteHalf<'s>,
    buf: Vec<u8>,
    out: Vec<u8>,
    shared: &'a Shared,
    metrics: Option<&'a Recorder>,
}

impl Pump<'_, '_> {
    fn closed(&self) -> &Cell<bool> {
        if self.from_client {
            &self.shared.client_closed
        } else {
            &self.shared.backend_closed
        }
    }

    fn clean(&self) -> &Cell<bool> {
        if self.from_client {
            &self.shared.to_backend_clean
        } else {
            &self.shared.to_client_clean
        }
    }

    /// Passes `bytes` on; `Err` ends the session.
    async fn forward(&mut self, bytes: &[u8]) -> Result<(), End> {
        self.out.clear();
        let scanned = self.scanner.scan(bytes, &mut self.out);
        if let Some(m) = self.metrics {
            let frames = scanned.map(|s| s.frames).unwrap_or(0);
            let sent = self.out.len() as u64;
            let from_client = self.from_client;
            m.websocket(|f| {
                if from_client {
                    f.client_frames += frames;
                    f.client_bytes += sent;
                } else {
                    f.backend_frames += frames;
                    f.backend_bytes += sent;
                }
            });
        }
        if !self.out.is_empty() {
            // Cut short (an error, or the session ending meanwhile), the
            // write leaves the stream inside a frame.
            self.clean().set(false);
            if self.write.write_all(&self.out).await.is_err() {
                return Err(End::Gone);
            }
            self.clean().set(self.scanner.between_frames());
        }
        match scanned {
            Ok(seen) => {
                if seen.close {
                    self.closed().set(true);
                }
                if self.shared.client_closed.get() && self.shared.backend_closed.get() {
                    return Err(End::Closed);
                }
                Ok(())
            }
            Err(violation) => {
                if violation == Violation::TooBig {
                    tracing::debug!("websocket message over max_message_size");
                }
                Err(End::Violation(violation.close_status()))
            }
        }
    }

    /// Relays until the session ends. `early`: bytes that came behind the
    /// sender's handshake. Toward the client, `ping_period` pings go
    /// between frames.
    async fn run(&mut self, early: &[u8], ping_period: Option<Duration>) -> End {
        if !early.is_empty()
            && let Err(end) = self.forward(early).await
        {
            return end;
        }
        let mut next_ping = ping_period.map(|every| Instant::now() + every);
        loop {
            let read = match next_ping {
                Some(at) => {
                    let reading = self.read.read(&mut self.buf);
                    rt::until(at, reading).await
                }
                None => Some(self.read.read(&mut self.buf).await),
            };
            let n = match read {
                // Time to ping the client (this pump writes to it).
                None => {
                    next_ping = next_ping.zip(ping_period).map(|(at, every)| at + every);
                    if self.clean().get()
                        && !self.shared.backend_closed.get()
                        && self.write.write_all(&ws::PING).await.is_err()
                    {
                        return End::Gone;
                    }
                    continue;
                }
                Some(Ok(n)) if n > 0 => n,
                Some(_) => return End::Gone,
            };
            let now = Instant::now();
            self.shared.last_any.set(now);
            if !self.from_client {
                self.shared.last_backend.set(now);
            }
            let chunk = std::mem::take(&mut self.buf);
            let forwarded = self.forward(&chunk[..n]).await;
            self.buf = chunk;
            if let Err(end) = forwarded {
                return end;
            }
        }
    }
}

impl Session {
    /// Relays frames until the session ends; the caller closes the client's
    /// connection afterwards. `stop` resolves when the worker drains.
    pub async fn relay(
        mut self,
        client: &mut Stream,
        client_early: &[u8],
        metrics: Option<&Recorder>,
        stop: impl Future<Output = ()>,
    ) -> End {
        let settings = Rc::clone(&self.settings);
        let metrics = metrics.filter(|_| settings.metrics);
        if let Some(m) = metrics {
            m.websocket(|f| f.opened += 1);
        }
        let end = self
            .run(client, client_early, &settings, metrics, stop)
            .await;
        self.backend.shutdown_write();
        if let Some(m) = metrics {
            m.websocket(|f| f.closed += 1);
        }
        end
    }

    /// The two directions run at once, each reading its sender and writing
    /// to the other side, so a write that waits for one peer holds up only
    /// its own direction; a third future watches the idle limits and the
    /// drain. Whichever ends first ends the session.
    async fn run(
        &mut self,
        client: &mut Stream,
        client_early: &[u8],
        s: &WebSocketSettings,
        metrics: Option<&Recorder>,
        stop: impl Future<Output = ()>,
    ) -> End {
        // The handshake's deadline no longer applies; each write now waits
        // at most `write_wait` for the peer.
        client.set_write_deadline(None);
        client.set_write_timeout(Some(s.write_wait));
        self.backend.set_write_timeout(Some(s.write_wait));
        let now = Instant::now();
        let shared = Shared {
            last_any: Cell::new(now),
            last_backend: Cell::new(now),
            client_closed: Cell::new(false),
            backend_closed: Cell::new(false),
            to_backend_clean: Cell::new(true),
            to_client_clean: Cell::new(true),
        };
        let backend_early = std::mem::take(&mut self.backend_early);
        let (client_read, client_write) = rt::split(client);
        let (backend_read, backend_write) = rt::split(&mut self.backend);
        let mut up = Pump {
            from_client: true,
            scanner: Scanner::new(From::Client, s.max_message_size),
            read: client_read,
            write: backend_write,
            buf: vec![0u8; s.read_buffer_size],
            out: Vec::with_capacity(s.write_buffer_size),
            shared: &shared,
            metrics,
        };
        let mut down = Pump {
            from_client: false,
            scanner: Scanner::new(From::Server, s.max_message_size),
            read: backend_read,
            write: client_write,
            buf: vec![0u8; s.read_buffer_size],
            out: Vec::with_capacity(s.write_buffer_size),
            shared: &shared,
            metrics,
        };
        let watch = async {
            let mut stop = std::pin::pin!(stop);
            let mut timer = Timer::new();
            loop {
                let idle = (shared.last_any.get() + s.pong_wait)
                    .min(shared.last_backend.get() + s.backend_timeout);
                if Instant::now() >= idle {
                    return End::Idle;
                }
                // Activity only moves the limit later: at the old one,
                // look again.
                if timer.until(idle, stop.as_mut()).await.is_some() {
                    return End::Stopped;
                }
            }
        };
        let end = futures_lite::future::or(
            futures_lite::future::or(
                up.run(client_early, None),
                down.run(&backend_early, s.ping_period),
            ),
            watch,
        )
        .await;
        // Both sides learn why, where a frame may still go.
        let status = match end {
            End::Violation(status) => Some(status),
            End::Idle | End::Stopped => Some(CLOSE_GOING_AWAY),
            End::Closed | End::Gone => None,
        };
        if let Some(status) = status {
            let mut frame = Vec::with_capacity(8);
            if shared.to_client_clean.get() && !shared.backend_closed.get() {
                ws::write_close(&mut frame, status, None);
                let _ = down.write.write_all(&frame).await;
            }
            if shared.to_backend_clean.get() && !shared.client_closed.get() {
                frame.clear();
                ws::write_close(&mut frame, status, Some(ws::new_mask()));
                let _ = up.write.write_all(&frame).await;
            }
        }
        end
    }
}
