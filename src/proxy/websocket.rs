//! A `websocket` endpoint (KrakenD Enterprise's direct communication, see
//! docs/websockets.md): once the endpoint's steps let the handshake
//! through, [`upgrade`] opens a connection of the endpoint's own to its
//! backend, sends the upgrade request there, checks the backend's 101 and
//! answers the client's; then [`Session::relay`] passes frames both ways
//! on the worker's event loop until a side closes, breaks a rule, goes
//! quiet or the worker drains.
//!
//! Frames are relayed as they are (a client's masked frames stay masked,
//! which a server expects); only their headers are read
//! (`http::websocket::Scanner`), so the size limit and the protocol's rules
//! hold without holding a message in memory.

use std::future::Future;
use std::rc::Rc;
use std::time::Instant;

use super::plan::EndpointPlan;
use super::request::{ClientRequest, USER_AGENT, backend_target, gateway_owned};
use super::respond::ResponseContext;
use super::steps::RequestFacts;
use crate::config::{Forward, HANDSHAKE_HEADERS, WebSocketSettings};
use crate::http::websocket::{
    self as ws, CLOSE_GOING_AWAY, ClientHandshake, From, Scanner, Violation,
};
use crate::http::{
    Method, Parse, ResponseHeadReader, is_hop_by_hop, write_header, write_ip, write_status_line,
};
use crate::metrics::Recorder;
use crate::rt::{Stream, Timer};
use crate::upstream::host_header;

/// Largest backend answer head to the upgrade request.
const MAX_HEAD: usize = 16 * 1024;

/// How the handshake went, for the connection driver and its observer.
pub struct Upgrade {
    pub status: u16,
    pub body_bytes: usize,
    /// The answer reached the client.
    pub written: bool,
    /// Set when both sides upgraded: the session to relay.
    pub session: Option<Session>,
}

/// Both sides upgraded, nothing relayed yet.
pub struct Session {
    backend: Stream,
    /// Bytes each side sent behind its handshake (frames sent at once).
    client_early: Vec<u8>,
    backend_early: Vec<u8>,
    settings: Rc<WebSocketSettings>,
}

/// Runs the handshakes of an upgrade request to a websocket endpoint whose
/// steps passed. `early`: the client's bytes after the request head.
pub async fn upgrade(
    plan: &EndpointPlan,
    req: &ClientRequest<'_>,
    facts: &RequestFacts,
    ctx: &ResponseContext<'_>,
    early: &[u8],
    client: &mut Stream,
    out: &mut Vec<u8>,
) -> Upgrade {
    let Some(settings) = &plan.websocket else {
        unreachable!("upgrade is only called for websocket endpoints")
    };
    out.clear();
    let shake = match ws::client_handshake(req.head, req.buf) {
        Ok(shake) => shake,
        Err(reason) => {
            // gorilla/websocket's `Upgrader` answers so (400, the version
            // it speaks); the text says what was wrong.
            write_status_line(out, 400);
            write_header(out, b"Content-Type", b"text/plain; charset=utf-8");
            write_header(out, b"Sec-WebSocket-Version", b"13");
            let body = format!("{reason}\n");
            super::respond::finish(ctx, body.as_bytes(), out);
            return answered(client, out, 400, body.len()).await;
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
            write_status_line(out, 500);
            write_header(out, b"X-KrakenD-Completed", b"false");
            super::respond::finish(ctx, b"", out);
            return answered(client, out, 500, 0).await;
        }
    };
    write_switch(out, &shake, chosen.as_deref(), ctx);
    if client.write_all(out).await.is_err() {
        return Upgrade {
            status: 101,
            body_bytes: 0,
            written: false,
            session: None,
        };
    }
    Upgrade {
        status: 101,
        body_bytes: 0,
        written: true,
        session: Some(Session {
            backend,
            client_early: early.to_vec(),
            backend_early,
            settings: Rc::clone(settings),
        }),
    }
}

async fn answered(client: &mut Stream, out: &[u8], status: u16, body_bytes: usize) -> Upgrade {
    Upgrade {
        status,
        body_bytes,
        written: client.write_all(out).await.is_ok(),
        session: None,
    }
}

/// The client's 101 (RFC 6455 §4.2.2), with the edge screen's header lines.
fn write_switch(
    out: &mut Vec<u8>,
    shake: &ClientHandshake<'_>,
    protocol: Option<&[u8]>,
    ctx: &ResponseContext<'_>,
) {
    out.clear();
    write_status_line(out, 101);
    write_header(out, b"Upgrade", b"websocket");
    write_header(out, b"Connection", b"Upgrade");
    write_header(
        out,
        b"Sec-WebSocket-Accept",
        ws::accept_value(shake.key).as_bytes(),
    );
    if let Some(protocol) = protocol {
        write_header(out, b"Sec-WebSocket-Protocol", protocol);
    }
    out.extend_from_slice(ctx.decor);
    out.extend_from_slice(b"\r\n");
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
    let mut request = Vec::with_capacity(512);
    request.extend_from_slice(b"GET ");
    let mut target = Vec::new();
    backend_target(plan, backend, req, facts, &[], &mut target).map_err(|e| e.to_string())?;
    request.extend_from_slice(&target);
    request.extend_from_slice(b" HTTP/1.1\r\n");
    write_header(
        &mut request,
        b"Host",
        host_header(&pool.authority).as_bytes(),
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

    let mut stream = pool.open_stream().await.map_err(|e| e.to_string())?;
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
    /// A side closed its connection or failed.
    Gone,
    /// A side broke a rule; both were sent this close status.
    Violation(u16),
    /// Nothing in either direction for `pong_wait`, or from the backend
    /// for `timeout`.
    Idle,
    /// The worker drains.
    Stopped,
}

enum Event {
    Client(std::io::Result<usize>),
    Backend(std::io::Result<usize>),
    Stop,
}

/// One direction of the relay: the scanner of what its sender writes and
/// whether a close frame came from it.
struct Direction {
    scanner: Scanner,
    closed: bool,
}

impl Session {
    /// Relays frames until the session ends; the caller closes the client's
    /// connection afterwards. `stop` resolves when the worker drains.
    pub async fn relay(
        mut self,
        client: &mut Stream,
        metrics: Option<&Recorder>,
        stop: impl Future<Output = ()>,
    ) -> End {
        let settings = Rc::clone(&self.settings);
        let metrics = metrics.filter(|_| settings.metrics);
        if let Some(m) = metrics {
            m.websocket(|f| f.opened += 1);
        }
        let end = self.run(client, &settings, metrics, stop).await;
        self.backend.shutdown_write();
        if let Some(m) = metrics {
            m.websocket(|f| f.closed += 1);
        }
        end
    }

    async fn run(
        &mut self,
        client: &mut Stream,
        s: &WebSocketSettings,
        metrics: Option<&Recorder>,
        stop: impl Future<Output = ()>,
    ) -> End {
        // The handshake's deadline no longer applies; each write now waits
        // at most `write_wait` for the peer.
        client.set_write_deadline(None);
        client.set_write_timeout(Some(s.write_wait));
        self.backend.set_write_timeout(Some(s.write_wait));
        let mut up = Direction {
            scanner: Scanner::new(From::Client, s.max_message_size),
            closed: false,
        };
        let mut down = Direction {
            scanner: Scanner::new(From::Server, s.max_message_size),
            closed: false,
        };
        let mut out = Vec::with_capacity(s.write_buffer_size);
        let early = std::mem::take(&mut self.client_early);
        if let Err(end) = self
            .pass(true, &early, &mut up, &mut down, client, &mut out, metrics)
            .await
        {
            return end;
        }
        let early = std::mem::take(&mut self.backend_early);
        if let Err(end) = self
            .pass(false, &early, &mut down, &mut up, client, &mut out, metrics)
            .await
        {
            return end;
        }
        let mut cbuf = vec![0u8; s.read_buffer_size];
        let mut bbuf = vec![0u8; s.read_buffer_size];
        let mut stop = std::pin::pin!(stop);
        let mut timer = Timer::new();
        let mut last_any = Instant::now();
        let mut last_backend = last_any;
        // KrakenD pings the client every `ping_period` and gives up when
        // nothing (its pong included) came back within `pong_wait`.
        let mut next_ping = s.ping_period.map(|every| last_any + every);
        loop {
            let idle = (last_any + s.pong_wait).min(last_backend + s.backend_timeout);
            let deadline = next_ping.map_or(idle, |ping| ping.min(idle));
            let backend = &mut self.backend;
            let event = timer
                .until(
                    deadline,
                    futures_lite::future::or(
                        futures_lite::future::or(
                            async { Event::Client(client.read(&mut cbuf).await) },
                            async { Event::Backend(backend.read(&mut bbuf).await) },
                        ),
                        async {
                            stop.as_mut().await;
                            Event::Stop
                        },
                    ),
                )
                .await;
            let (from_client, n) = match event {
                None if Instant::now() < idle => {
                    // Time to ping: between two frames to the client only.
                    next_ping = next_ping.zip(s.ping_period).map(|(at, every)| at + every);
                    if down.scanner.between_frames()
                        && !down.closed
                        && client.write_all(&ws::PING).await.is_err()
                    {
                        return End::Gone;
                    }
                    continue;
                }
                None => {
                    self.close_both(CLOSE_GOING_AWAY, &up, &down, client).await;
                    return End::Idle;
                }
                Some(Event::Stop) => {
                    self.close_both(CLOSE_GOING_AWAY, &up, &down, client).await;
                    return End::Stopped;
                }
                Some(Event::Client(Ok(n))) if n > 0 => (true, n),
                Some(Event::Backend(Ok(n))) if n > 0 => (false, n),
                Some(_) => return End::Gone,
            };
            last_any = Instant::now();
            let result = if from_client {
                self.pass(
                    true,
                    &cbuf[..n],
                    &mut up,
                    &mut down,
                    client,
                    &mut out,
                    metrics,
                )
                .await
            } else {
                last_backend = last_any;
                self.pass(
                    false,
                    &bbuf[..n],
                    &mut down,
                    &mut up,
                    client,
                    &mut out,
                    metrics,
                )
                .await
            };
            if let Err(end) = result {
                return end;
            }
            if up.closed && down.closed {
                return End::Closed;
            }
        }
    }

    /// Scans `bytes` from one side (`from_client`) and writes what passes to
    /// the other. On a violation, both sides get a close frame with its
    /// status (`other` is the opposite direction, to know whether a frame
    /// may be inserted there).
    #[allow(clippy::too_many_arguments)]
    async fn pass(
        &mut self,
        from_client: bool,
        bytes: &[u8],
        this: &mut Direction,
        other: &mut Direction,
        client: &mut Stream,
        out: &mut Vec<u8>,
        metrics: Option<&Recorder>,
    ) -> Result<(), End> {
        if bytes.is_empty() {
            return Ok(());
        }
        out.clear();
        let scanned = this.scanner.scan(bytes, out);
        if let Some(m) = metrics {
            let frames = scanned.map(|s| s.frames).unwrap_or(0);
            let sent = out.len() as u64;
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
        let to = if from_client {
            &mut self.backend
        } else {
            &mut *client
        };
        if !out.is_empty() && to.write_all(out).await.is_err() {
            return Err(End::Gone);
        }
        match scanned {
            Ok(seen) => {
                this.closed |= seen.close;
                Ok(())
            }
            Err(violation) => {
                let status = violation.close_status();
                let (up, down) = if from_client {
                    (&*this, &*other)
                } else {
                    (&*other, &*this)
                };
                self.close_both(status, up, down, client).await;
                if violation == Violation::TooBig {
                    tracing::debug!(
                        "websocket message over max_message_size: closed with {status}"
                    );
                }
                Err(End::Violation(status))
            }
        }
    }

    /// Sends each side a close frame with `status`, where a frame may go
    /// (not in the middle of one), bounded by `write_wait`.
    async fn close_both(
        &mut self,
        status: u16,
        up: &Direction,
        down: &Direction,
        client: &mut Stream,
    ) {
        let mut frame = Vec::with_capacity(8);
        if down.scanner.between_frames() && !down.closed {
            ws::write_close(&mut frame, status, None);
            let _ = client.write_all(&frame).await;
        }
        if up.scanner.between_frames() && !up.closed {
            frame.clear();
            ws::write_close(&mut frame, status, Some(ws::new_mask()));
            let _ = self.backend.write_all(&frame).await;
        }
    }
}
