//! The runtime seam (each worker's event loop): the only module that names
//! tokio. The process around the workers (start-up, signals, reload) is
//! `crate::process`.
//!
//! Everything else sees a worker's event loop through this small surface:
//! running a worker's loop on the current thread ([`block_on_local`]),
//! spawning `!Send` tasks on it ([`spawn`]), keeping a panic inside one
//! connection ([`isolate`]), timers and deadlines ([`sleep`], [`within`],
//! [`until`]), handing the loop back mid-task ([`yield_now`]) and the socket types ([`Listener`], [`Stream`]). Swapping the
//! runtime means rewriting this file, not `proxy/`, `upstream/` or
//! `server/`.
//!
//! Each worker thread runs one tokio `current_thread` runtime with a
//! `LocalSet`: tasks never leave the thread (no work stealing), so the
//! worker's state lives in `Rc`/`RefCell`/`Cell`. Socket timeouts are not
//! socket options here: every bounded read or write is raced against a
//! timer, and the timer is only armed when the operation has to wait.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener as StdListener};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_lite::FutureExt;
use tokio::io::AsyncRead;

thread_local! {
    /// Set on worker threads: their panics are reported by whoever catches
    /// them (once, with context), not by the default hook.
    static WORKER_THREAD: Cell<bool> = const { Cell::new(false) };
    /// The last panic's message and location on this thread, for the catcher.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the process's panic hook: on worker threads a panic's message
/// is kept for the code that catches it (which logs it once, with what was
/// being served); elsewhere the default hook prints it as usual.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if WORKER_THREAD.with(Cell::get) {
            let message = format!(
                "{} at {}",
                payload_text(info.payload()),
                info.location()
                    .map_or_else(|| "an unknown place".to_string(), |l| l.to_string())
            );
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(message));
        } else {
            default(info);
        }
    }));
}

fn payload_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "a panic"
    }
}

/// The message of the panic just caught on this thread.
fn take_panic(payload: &(dyn Any + Send)) -> String {
    LAST_PANIC
        .with(|last| last.borrow_mut().take())
        .unwrap_or_else(|| payload_text(payload).to_string())
}

/// Why a worker's event loop ended without its future's output.
#[derive(Debug)]
pub enum Stopped {
    /// The runtime could not be built.
    Build(io::Error),
    /// A panic escaped a task (anything not inside [`isolate`]): its
    /// message and place. The caller ends the process (see [`block_on_local`]).
    Died(String),
}

thread_local! {
    /// Set by [`spawn`] when a task panics: wakes [`block_on_local`],
    /// which returns [`Stopped::Died`] with the first message.
    static DEATH: RefCell<Option<(Rc<tokio::sync::Notify>, Option<String>)>> =
        const { RefCell::new(None) };
}

/// Runs one worker's event loop on this thread until `future` completes:
/// a current-thread runtime (epoll and timers, nothing else) and a
/// `LocalSet` for the worker's `!Send` tasks. Tasks still running when
/// `future` returns are dropped with the runtime.
///
/// A panic that escapes a task (anything not inside [`isolate`]) stops
/// the loop with [`Stopped::Died`]: a worker that lost its accept loop or
/// a background task must not serve on crippled, so the caller
/// (`process`) ends the process with status 70 and a supervisor restarts
/// it. Ending the process is the caller's, not this seam's: it also
/// flushes the logs first.
pub fn block_on_local<F: Future>(future: F) -> Result<F::Output, Stopped> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(Stopped::Build)?;
    let death = Rc::new(tokio::sync::Notify::new());
    DEATH.with(|d| *d.borrow_mut() = Some((death.clone(), None)));
    // Panics from here on are caught below and reported there, once.
    WORKER_THREAD.with(|w| w.set(true));
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let local = tokio::task::LocalSet::new();
        let died = async {
            death.notified().await;
            None
        };
        let out = local.block_on(&runtime, async { Some(future.await) }.or(died));
        // Tasks still running (connections past the shutdown wait) are
        // dropped here, inside the catch.
        drop(local);
        out
    }));
    WORKER_THREAD.with(|w| w.set(false));
    let first = DEATH.with(|d| d.borrow_mut().take().and_then(|(_, why)| why));
    match ran {
        Ok(Some(out)) => Ok(out),
        Ok(None) => Err(Stopped::Died(first.unwrap_or_else(|| "a panic".into()))),
        Err(payload) => Err(Stopped::Died(
            first.unwrap_or_else(|| take_panic(&*payload)),
        )),
    }
}

/// Whether this thread runs a worker's loop ([`block_on_local`]), where
/// [`spawn`] may start background work (a backend kind connecting at
/// start-up; `process::prepare` builds a worker's tables on the main
/// thread, outside any loop).
pub fn on_worker() -> bool {
    WORKER_THREAD.with(Cell::get)
}

/// A worker's event loop kept between runs (`server::harness`): the
/// same current-thread runtime and `LocalSet` as [`block_on_local`], but
/// each [`Local::block_on`] returns to the caller, tasks left running
/// stay for the next call, and a panic in `future` is not caught (a
/// fuzzer wants it; libFuzzer's panic hook aborts on any panic, also one
/// in a spawned task).
#[cfg(any(test, feature = "harness"))]
pub struct Local {
    runtime: tokio::runtime::Runtime,
    local: tokio::task::LocalSet,
}

#[cfg(any(test, feature = "harness"))]
impl Local {
    pub fn new() -> io::Result<Local> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        Ok(Local {
            runtime,
            local: tokio::task::LocalSet::new(),
        })
    }

    /// Runs this loop on the current thread until `future` completes.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.local.block_on(&self.runtime, future)
    }
}

/// Whether this thread is inside a worker's loop (a runtime is current):
/// libraries that spawn from `Drop` (amqprs) panic outside one.
pub fn in_loop() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// Hands the worker's event loop back for one turn: the other ready tasks
/// run and the I/O driver is polled before the caller goes on (tokio
/// defers the wake-up past the driver's poll). For work that must not
/// hold a worker (`lua`'s scripts, between two slices).
pub async fn yield_now() {
    tokio::task::yield_now().await;
}

/// Spawns a task on this worker. It runs until it completes or the worker
/// stops; a panic in it stops the worker (see [`block_on_local`]).
pub fn spawn<F: Future<Output = ()> + 'static>(future: F) {
    tokio::task::spawn_local(Supervised(isolate(future)));
}

/// A spawned task: a panic that escaped it stops the worker's loop.
struct Supervised<F>(Isolated<F>);

impl<F: Future<Output = ()>> Future for Supervised<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        // SAFETY: the field is pinned with `self` (structural pinning): it
        // is never moved out, and `Supervised` has no `Drop` or `Unpin`.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        match inner.poll(cx) {
            Poll::Ready(Err(panic)) => {
                // Reported to `block_on_local`, which stops the loop.
                DEATH.with(|d| {
                    if let Some((death, why)) = &mut *d.borrow_mut() {
                        why.get_or_insert(panic);
                        death.notify_one();
                    }
                });
                Poll::Ready(())
            }
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The future `make` returns, made in a box allocated first. A future is
/// as large as its largest state, and `Box::pin(future)` copied all of it
/// (kilobytes for a request's answer) from the stack into the box; made
/// after the allocation, it is written there in place.
#[inline(always)]
pub fn boxed<F: Future>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    let slot = Box::new_uninit();
    Box::into_pin(Box::write(slot, make()))
}

/// Runs `future`, turning a panic inside it into `Err(message)`: what the
/// future owned is dropped (a connection is closed) and the task goes on.
///
/// A named future, not an `async fn`: that would hold `future` twice (the
/// argument, then the future awaiting it), and a connection's task, which
/// is wrapped twice, three times: 15 KiB instead of 5 for an idle
/// connection in a debug build.
pub fn isolate<F: Future>(future: F) -> Isolated<F> {
    Isolated(AssertUnwindSafe(future).catch_unwind())
}

/// See [`isolate`].
pub struct Isolated<F>(futures_lite::future::CatchUnwind<AssertUnwindSafe<F>>);

impl<F: Future> Future for Isolated<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        // SAFETY: as in `Supervised::poll`: structural pinning of the
        // only field, never moved out; no `Drop` or `Unpin` here.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        inner
            .poll(cx)
            .map(|caught| caught.map_err(|payload| take_panic(&*payload)))
    }
}

pub async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await
}

/// `Some(output)` when `future` finishes within `limit`, else `None`; a
/// future still running at the limit is dropped (its connections with it).
pub fn within<F: Future>(limit: Duration, future: F) -> Until<F> {
    until(Instant::now() + limit, future)
}

/// `Some(output)` when `future` finishes before `deadline`, else `None`. The
/// timer is made only if the future has to wait: a future that is ready at
/// once costs none (and is never refused, even past the deadline).
///
/// A named future, not an `async fn`: that would hold `future` twice (the
/// argument, then the pinned local), so every bounded wait, and every
/// request future that nests one, would be twice the size of what it
/// bounds (measured with `-Zprint-type-sizes`: a fan-out call under the
/// endpoint deadline took 10.7 KB for a 5.3 KB call).
pub fn until<F: Future>(deadline: Instant, future: F) -> Until<F> {
    Until {
        future,
        sleep: None,
        deadline,
    }
}

pin_project_lite::pin_project! {
    /// See [`until`].
    pub struct Until<F> {
        #[pin]
        future: F,
        #[pin]
        sleep: Option<tokio::time::Sleep>,
        deadline: Instant,
    }
}

impl<F: Future> Future for Until<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Some(out));
        }
        if this.sleep.is_none() {
            let deadline = (*this.deadline).into();
            this.sleep.set(Some(tokio::time::sleep_until(deadline)));
        }
        match this.sleep.as_pin_mut().map(|s| s.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(None),
            _ => Poll::Pending,
        }
    }
}

/// A deadline reused for one connection's waits, one after the other.
///
/// A new timer per wait costs a timer-wheel insertion and removal (under
/// the time driver's lock) whenever the wait is not over at once. This one
/// is registered once; moving its deadline later, the usual case from one
/// request to the next, only updates it in place, and the wheel catches up
/// lazily. It is armed only when the future it bounds has to wait.
pub struct Timer {
    sleep: Pin<Box<tokio::time::Sleep>>,
}

/// Where an unarmed [`Timer`] points: further than any wait here.
const FAR: Duration = Duration::from_secs(60 * 60 * 24 * 365);

impl Timer {
    /// Must be called on a worker thread (inside [`block_on_local`]).
    pub fn new() -> Timer {
        Timer {
            sleep: Box::pin(tokio::time::sleep(FAR)),
        }
    }

    /// `Some(output)` when `future` finishes before `deadline`, else `None`
    /// (the future is dropped). A future that is ready at once is never
    /// refused, even past the deadline.
    pub fn until<F: Future>(&mut self, deadline: Instant, future: F) -> TimerUntil<'_, F> {
        TimerUntil {
            future,
            timer: self,
            deadline,
            armed: false,
        }
    }

    /// [`Timer::until`] `limit` from now.
    pub fn within<F: Future>(&mut self, limit: Duration, future: F) -> TimerUntil<'_, F> {
        self.until(Instant::now() + limit, future)
    }
}

pin_project_lite::pin_project! {
    /// See [`Timer::until`]; a named future for the reason [`until`] is.
    pub struct TimerUntil<'t, F> {
        #[pin]
        future: F,
        timer: &'t mut Timer,
        deadline: Instant,
        armed: bool,
    }
}

impl<F: Future> Future for TimerUntil<'_, F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(out) = this.future.poll(cx) {
            return Poll::Ready(Some(out));
        }
        if !*this.armed {
            this.timer.sleep.as_mut().reset((*this.deadline).into());
            *this.armed = true;
        }
        match this.timer.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Default for Timer {
    fn default() -> Timer {
        Timer::new()
    }
}

/// Wakes a task from another thread (the metrics scrape asks each worker
/// for a snapshot this way). A wake with no task waiting is kept for the
/// next wait.
#[derive(Default)]
pub struct Wake(tokio::sync::Notify);

impl Wake {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn wait(&self) {
        self.0.notified().await;
    }
}

/// A lock shared across workers that a task waits for without blocking
/// its thread (one OAuth2 token fetch at a time per token source). Off the
/// request path's common case: taken only when a token must be fetched.
#[derive(Default)]
pub struct Gate(tokio::sync::Mutex<()>);

impl Gate {
    /// Waits for the gate; it opens again when the guard is dropped.
    pub async fn enter(&self) -> impl Drop + '_ {
        self.0.lock().await
    }
}

/// Runs blocking `work` on a new thread and waits for its result without
/// blocking this worker (`None` if the thread could not start or panicked).
pub async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let started = std::thread::Builder::new()
        .name("cuttle-blocking".to_owned())
        .spawn(move || {
            let _ = tx.send(work());
        });
    if started.is_err() {
        return None;
    }
    rx.await.ok()
}

/// How long this worker's event loop has spent running tasks (rather than
/// waiting in epoll) since it started. The runtime measures it anyway,
/// twice per wake-up; it is published when the loop parks.
pub fn busy_time() -> Duration {
    tokio::runtime::Handle::current()
        .metrics()
        .worker_total_busy_duration(0)
}

/// A worker's listening socket.
pub struct Listener(tokio::net::TcpListener);

impl Listener {
    /// Takes over a bound, listening socket (made non-blocking here). Must
    /// be called on the worker's thread, inside [`block_on_local`].
    pub fn from_std(listener: StdListener) -> io::Result<Listener> {
        listener.set_nonblocking(true)?;
        tokio::net::TcpListener::from_std(listener).map(Listener)
    }

    pub async fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        let (io, peer) = self.0.accept().await?;
        Ok((Stream::new(Io::Plain(io)), peer))
    }

    /// A connection already in the accept queue, taken without waiting
    /// (`None`: the queue is empty). Asks the socket itself, not tokio's
    /// readiness (which may not have seen the newest connections yet): a
    /// drain takes them all before closing the listener, whose close
    /// would reset each of them.
    pub fn accept_queued(&self) -> Option<io::Result<(Stream, SocketAddr)>> {
        let taken = socket2::SockRef::from(&self.0).accept();
        let (socket, peer) = match taken {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) => return Some(Err(e)),
        };
        let adopt = || {
            let peer = peer
                .as_socket()
                .ok_or_else(|| io::Error::other("not an IP peer"))?;
            let std: std::net::TcpStream = socket.into();
            std.set_nonblocking(true)?;
            let io = tokio::net::TcpStream::from_std(std)?;
            Ok((Stream::new(Io::Plain(io)), peer))
        };
        Some(adopt())
    }
}

/// What carries a [`Stream`]'s bytes: the socket itself, or TLS over it
/// (a client's connection at an HTTPS port, or an `https://` backend).
/// The connection drivers see only [`Stream`], whichever it is.
enum Io {
    Plain(tokio::net::TcpStream),
    ServerTls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
    ClientTls(Box<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>),
    /// One end of an in-memory pipe (`server::harness`: a client
    /// connection made of given bytes, for the fuzz targets). Only made
    /// with the `harness` feature; the other builds keep its match arms.
    #[cfg_attr(not(any(test, feature = "harness")), allow(dead_code))]
    Memory(tokio::io::DuplexStream),
}

/// What the first bytes of a connection were, for [`Stream::starts_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Present,
    /// Another start, the end of the stream, or nothing within the limit.
    Absent,
    /// Part of the prefix, then nothing within the limit.
    Stalled,
}

/// A TCP connection (client or backend) on this worker, plain or TLS.
pub struct Stream {
    io: Io,
    /// Bounds every wait for the socket to take more bytes.
    write_timeout: Option<Duration>,
    /// No write may end after this (Go's `SetWriteDeadline`): a write
    /// attempted later fails at once, one waiting is cut there.
    write_deadline: Option<Instant>,
    /// Made on the first write that has to wait.
    write_timer: Option<Timer>,
}

impl Stream {
    fn new(io: Io) -> Stream {
        Stream {
            io,
            write_timeout: None,
            write_deadline: None,
            write_timer: None,
        }
    }

    /// Connects within `limit`.
    pub async fn connect(addr: SocketAddr, limit: Duration) -> io::Result<Stream> {
        let io = within(limit, tokio::net::TcpStream::connect(addr))
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        Ok(Stream::new(Io::Plain(io)))
    }

    /// The server side of a TLS handshake on this accepted connection,
    /// within `limit`; the result speaks plaintext over TLS.
    pub async fn accept_tls(
        self,
        config: Arc<rustls::ServerConfig>,
        limit: Duration,
    ) -> io::Result<Stream> {
        let Io::Plain(tcp) = self.io else {
            return Err(io::Error::other("TLS over TLS"));
        };
        let accept = tokio_rustls::TlsAcceptor::from(config).accept(tcp);
        let tls = within(limit, accept)
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        Ok(Stream {
            io: Io::ServerTls(Box::new(tls)),
            ..self
        })
    }

    /// The client side of a TLS handshake with `name` (SNI and the name
    /// the certificate must carry), within `limit`.
    pub async fn connect_tls(
        self,
        config: Arc<rustls::ClientConfig>,
        name: rustls::pki_types::ServerName<'static>,
        limit: Duration,
    ) -> io::Result<Stream> {
        let Io::Plain(tcp) = self.io else {
            return Err(io::Error::other("TLS over TLS"));
        };
        let connect = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
        let tls = within(limit, connect)
            .await
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        Ok(Stream {
            io: Io::ClientTls(Box::new(tls)),
            ..self
        })
    }

    /// Two streams connected to each other in memory, each buffering up
    /// to `capacity` bytes: no socket, so no socket options, peeking or
    /// `has_input` (always false).
    #[cfg(any(test, feature = "harness"))]
    pub fn memory_pair(capacity: usize) -> (Stream, Stream) {
        let (a, b) = tokio::io::duplex(capacity);
        (Stream::new(Io::Memory(a)), Stream::new(Io::Memory(b)))
    }

    fn tcp(&self) -> Option<&tokio::net::TcpStream> {
        match &self.io {
            Io::Plain(tcp) => Some(tcp),
            Io::ServerTls(tls) => Some(tls.get_ref().0),
            Io::ClientTls(tls) => Some(tls.get_ref().0),
            Io::Memory(_) => None,
        }
    }

    /// Whether this is the server side of a TLS connection (a client at an
    /// HTTPS port).
    pub fn is_tls(&self) -> bool {
        matches!(self.io, Io::ServerTls(_))
    }

    /// The protocol the client and server agreed on by ALPN, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match &self.io {
            Io::ServerTls(tls) => tls.get_ref().1.alpn_protocol(),
            _ => None,
        }
    }

    /// Waits (within `limit`) until the first bytes a plain connection
    /// received tell whether they start with `prefix`; consumes nothing.
    /// [`Prefix::Absent`] as soon as one byte differs, at end of stream, or
    /// when nothing came within the limit; [`Prefix::Stalled`] when part of
    /// the prefix came and then nothing more within the limit.
    ///
    /// Each wait is for readiness, not a poll: the socket stays readable
    /// while peeked bytes sit unread, so after a partial prefix that
    /// readiness is dropped (tokio clears it when an operation reports
    /// `WouldBlock`) and the next peek waits for the next arrival. Nothing
    /// runs between the peek and the clearing, so no arrival is missed:
    /// bytes that came after the peek raise a new edge-triggered event.
    /// Hence `Stalled`: the bytes then sit unread with no readiness to wake
    /// a read, and such a stream is only fit to be closed.
    pub async fn starts_with(&self, prefix: &[u8], limit: Duration) -> Prefix {
        let Io::Plain(tcp) = &self.io else {
            return Prefix::Absent;
        };
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; prefix.len()];
        let mut partial = false;
        loop {
            let n = match until(deadline, tcp.peek(&mut buf)).await {
                Some(Ok(n)) if n > 0 => n,
                None if partial => return Prefix::Stalled,
                _ => return Prefix::Absent,
            };
            if buf[..n] != prefix[..n] {
                return Prefix::Absent;
            }
            if n == prefix.len() {
                return Prefix::Present;
            }
            partial = true;
            let _ = tcp.try_io(tokio::io::Interest::READABLE, || {
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self.tcp() {
            Some(tcp) => tcp.set_nodelay(on),
            None => Ok(()),
        }
    }

    /// Turns on TCP keep-alive probes: the first after `period` idle, then
    /// one every `period` (Go's `net.Dialer.KeepAlive` sets both).
    pub fn set_tcp_keep_alive(&self, period: Duration) -> io::Result<()> {
        match self.tcp() {
            Some(tcp) => socket2::SockRef::from(tcp).set_tcp_keepalive(
                &socket2::TcpKeepalive::new()
                    .with_time(period)
                    .with_interval(period),
            ),
            None => Ok(()),
        }
    }

    /// Bounds how long one write may wait for the peer to take bytes
    /// (`None`: unbounded); a write that waits longer fails with `TimedOut`.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout.filter(|t| !t.is_zero());
    }

    /// Sets (or clears) the instant by which every write must be done;
    /// past it writes fail with `TimedOut`, whether the peer reads or not.
    pub fn set_write_deadline(&mut self, deadline: Option<Instant>) {
        self.write_deadline = deadline;
    }

    /// The wait a write may make now: the write timeout, cut at the write
    /// deadline. `Err` when the deadline has passed.
    fn write_limit(&self) -> io::Result<Option<Duration>> {
        let Some(deadline) = self.write_deadline else {
            return Ok(self.write_timeout);
        };
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "write deadline passed"))?;
        Ok(Some(self.write_timeout.map_or(left, |t| t.min(left))))
    }

    /// Reads what is there, waiting for at least one byte; `Ok(0)` at end
    /// of stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use tokio::io::AsyncReadExt;
        match &mut self.io {
            Io::Plain(tcp) => tcp.read(buf).await,
            Io::ServerTls(tls) => tls.read(buf).await,
            Io::ClientTls(tls) => tls.read(buf).await,
            Io::Memory(pipe) => pipe.read(buf).await,
        }
    }

    /// Waits until a read would find something (bytes, end of stream or an
    /// error) without reading: an idle connection waits here holding no
    /// buffer. Over TLS it returns at once while decrypted bytes are
    /// waiting; readiness of the socket may also be a record without data
    /// (the read that follows then waits again).
    pub async fn readable(&self) -> io::Result<()> {
        let tcp = match &self.io {
            Io::Plain(tcp) => tcp,
            Io::ServerTls(tls) if tls.get_ref().1.wants_read() => tls.get_ref().0,
            Io::ClientTls(tls) if tls.get_ref().1.wants_read() => tls.get_ref().0,
            Io::ServerTls(_) | Io::ClientTls(_) | Io::Memory(_) => return Ok(()),
        };
        tcp.readable().await
    }

    /// [`Stream::readable`], without false alarms on a plain socket: it
    /// peeks (one more system call) and waits again if nothing came. For
    /// a newly accepted connection, which tokio reports readable at once.
    pub async fn readable_confirmed(&self) -> io::Result<()> {
        let Io::Plain(tcp) = &self.io else {
            return self.readable().await;
        };
        loop {
            tcp.readable().await?;
            let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
            // A `WouldBlock` here clears tokio's readiness: the next wait is real.
            match tcp.try_io(tokio::io::Interest::READABLE, || {
                socket2::SockRef::from(tcp).peek(&mut probe)
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                _ => return Ok(()),
            }
        }
    }

    /// [`Stream::read`], failing with `TimedOut` at `deadline`.
    pub async fn read_until(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        until(deadline, self.read(buf))
            .await
            .unwrap_or_else(timed_out)
    }

    /// [`Stream::read`], failing with `TimedOut` when no byte came within
    /// `limit` (`None`: unbounded).
    pub async fn read_within(
        &mut self,
        buf: &mut [u8],
        limit: Option<Duration>,
    ) -> io::Result<usize> {
        match limit {
            Some(limit) => within(limit, self.read(buf))
                .await
                .unwrap_or_else(timed_out),
            None => self.read(buf).await,
        }
    }

    /// Writes all of `buf`; each wait for the peer is bounded by the write
    /// timeout (a timer is armed only when a write has to wait).
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let written = self.write(buf).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[written..];
        }
        Ok(())
    }

    /// Writes some of `buf`, waiting (at most the write timeout) until the
    /// socket takes at least one byte; returns how many it took. Over TLS
    /// all of `buf` is encrypted and sent (flushed) before it returns, and
    /// the write timeout bounds the whole of it.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let limit = self.write_limit()?;
        let timer = &mut self.write_timer;
        let tcp = match &mut self.io {
            Io::Plain(tcp) => tcp,
            Io::ServerTls(tls) => return tls_write(tls.as_mut(), buf, limit, timer).await,
            Io::ClientTls(tls) => return tls_write(tls.as_mut(), buf, limit, timer).await,
            Io::Memory(pipe) => return tls_write(pipe, buf, limit, timer).await,
        };
        match tcp.try_write(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            result => return result,
        }
        match limit {
            Some(limit) => {
                let timer = timer.get_or_insert_with(Timer::new);
                timer
                    .within(limit, write_some(tcp, buf))
                    .await
                    .unwrap_or_else(timed_out)
            }
            None => write_some(tcp, buf).await,
        }
    }

    /// Writes all of `buf` unless the peer sends something (or closes)
    /// first, on a plain socket: `Some(false)` then, some of `buf` perhaps
    /// written; `Some(true)`: all written. Waits on both readinesses at
    /// once, confirming a readable one with a peek (a stale readiness
    /// would otherwise stop the writing for nothing). For a request body
    /// streamed to a backend that may answer before reading it. `None`:
    /// not a plain socket (the caller races a split's halves instead).
    pub async fn write_unless_answered(&mut self, mut buf: &[u8]) -> Option<io::Result<bool>> {
        let Io::Plain(tcp) = &mut self.io else {
            return None;
        };
        while !buf.is_empty() {
            match tcp.try_write(buf) {
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let writable = async { tcp.writable().await.map(|()| true) };
                    let readable = async { tcp.readable().await.map(|()| false) };
                    match futures_lite::future::or(writable, readable).await {
                        Ok(true) => {}
                        Ok(false) => {
                            let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
                            // A `WouldBlock` here clears the stale readiness.
                            match tcp.try_io(tokio::io::Interest::READABLE, || {
                                socket2::SockRef::from(&*tcp).peek(&mut probe)
                            }) {
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                                _ => return Some(Ok(false)),
                            }
                        }
                        Err(e) => return Some(Err(e)),
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok(true))
    }

    /// Ends the writing side in the stream's own way: a close_notify over
    /// TLS, FIN on a socket, the end of an in-memory pipe.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        AsyncWriteExt::shutdown(self).await
    }

    /// Stops writing (sends FIN); reading goes on. Over TLS no
    /// close_notify is sent: the HTTP framing already ended the response.
    pub fn shutdown_write(&self) {
        if let Some(tcp) = self.tcp() {
            let _ = socket2::SockRef::from(tcp).shutdown(Shutdown::Write);
        }
    }

    /// Whether the connection has anything to read (bytes, end of stream
    /// or an error) right now; never waits. Costs no system call while the
    /// runtime knows the socket is not readable (it learns of new input
    /// from epoll; a short read or a `WouldBlock` clears it). On a plain
    /// socket nothing is consumed (a peek). Over TLS, records that carry no
    /// data (a TLS 1.3 server's session tickets, sent after the handshake)
    /// are taken in and do not count; data, a close_notify, an alert or the
    /// end of the stream do (and a data byte may be consumed: the caller
    /// drops such a connection).
    pub fn has_input(&mut self) -> bool {
        let Some(tcp) = self.tcp() else {
            return false;
        };
        let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        let peeked = tcp.try_io(tokio::io::Interest::READABLE, || {
            socket2::SockRef::from(tcp).peek(&mut probe)
        });
        if matches!(peeked, Err(ref e) if e.kind() == io::ErrorKind::WouldBlock) {
            return false;
        }
        let mut byte = [0u8; 1];
        let mut buf = tokio::io::ReadBuf::new(&mut byte);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let polled = match &mut self.io {
            Io::Plain(_) | Io::Memory(_) => return true,
            Io::ServerTls(tls) => Pin::new(tls.as_mut()).poll_read(&mut cx, &mut buf),
            Io::ClientTls(tls) => Pin::new(tls.as_mut()).poll_read(&mut cx, &mut buf),
        };
        polled.is_ready()
    }
}

/// For protocol libraries (the h2 crate) that drive a stream themselves.
/// Writes here are not bounded by the write timeout: the caller bounds
/// the connection as a whole.
impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Io::ServerTls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Io::ClientTls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Io::Memory(pipe) => Pin::new(pipe).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Io::ServerTls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Io::ClientTls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Io::Memory(pipe) => Pin::new(pipe).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Io::ServerTls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Io::ClientTls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Io::Memory(pipe) => Pin::new(pipe).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Io::ServerTls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
            Io::ClientTls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
            Io::Memory(pipe) => Pin::new(pipe).poll_shutdown(cx),
        }
    }
}

/// A [`Stream`] whose reads are shown to `tap` (the bytes each read
/// added) before the reader sees them: `server::h2` watches the frames the
/// h2 crate reads to bound an unfinished header block, which the crate
/// does not time.
pub struct Tapped<'a, T: FnMut(&[u8])> {
    stream: &'a mut Stream,
    tap: T,
}

impl<'a, T: FnMut(&[u8])> Tapped<'a, T> {
    pub fn new(stream: &'a mut Stream, tap: T) -> Tapped<'a, T> {
        Tapped { stream, tap }
    }
}

impl<T: FnMut(&[u8]) + Unpin> AsyncRead for Tapped<'_, T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut *this.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            (this.tap)(&buf.filled()[before..]);
        }
        polled
    }
}

impl<T: FnMut(&[u8]) + Unpin> tokio::io::AsyncWrite for Tapped<'_, T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A stream's reading and writing sides, for a task that waits on both at
/// once (a WebSocket relay: a write to one peer that has to wait must not
/// stop bytes coming the other way). Both halves borrow the stream; a
/// read and a write never run at the same instant (one thread), so their
/// shared lock is never contended.
pub fn split(stream: &mut Stream) -> (ReadHalf<'_>, WriteHalf<'_>) {
    let timeout = stream.write_timeout;
    let (read, write) = tokio::io::split(stream);
    (
        ReadHalf(read),
        WriteHalf {
            io: write,
            timeout,
            timer: None,
        },
    )
}

/// The reading side of a [`split`] stream.
pub struct ReadHalf<'a>(tokio::io::ReadHalf<&'a mut Stream>);

impl ReadHalf<'_> {
    /// As [`Stream::read`] (cancel-safe: dropped while waiting, it has
    /// taken nothing).
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use tokio::io::AsyncReadExt;
        self.0.read(buf).await
    }
}

/// The writing side of a [`split`] stream, bounded by the stream's write
/// timeout.
pub struct WriteHalf<'a> {
    io: tokio::io::WriteHalf<&'a mut Stream>,
    timeout: Option<Duration>,
    timer: Option<Timer>,
}

impl WriteHalf<'_> {
    /// Writes (and over TLS flushes) all of `buf`, bounded as a whole by
    /// the stream's write timeout.
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        tls_write(&mut self.io, buf, self.timeout, &mut self.timer)
            .await
            .map(|_| ())
    }
}

/// Sends all of `buf` over a TLS stream (encrypted), an in-memory pipe or
/// a split stream's writing half, flushed, bounded as a whole by `limit`.
async fn tls_write<S>(
    tls: &mut S,
    buf: &[u8],
    limit: Option<Duration>,
    timer: &mut Option<Timer>,
) -> io::Result<usize>
where
    S: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    let send = async {
        tls.write_all(buf).await?;
        tls.flush().await?;
        Ok(buf.len())
    };
    match limit {
        Some(limit) => timer
            .get_or_insert_with(Timer::new)
            .within(limit, send)
            .await
            .unwrap_or_else(timed_out),
        None => send.await,
    }
}

/// Waits until the socket takes some of `buf`.
async fn write_some(io: &tokio::net::TcpStream, buf: &[u8]) -> io::Result<usize> {
    loop {
        io.writable().await?;
        match io.try_write(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            result => return result,
        }
    }
}

fn timed_out<T>() -> io::Result<T> {
    Err(io::ErrorKind::TimedOut.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn died<T: std::fmt::Debug>(ran: Result<T, Stopped>) -> String {
        match ran {
            Err(Stopped::Died(why)) => why,
            other => panic!("expected Died, got {other:?}"),
        }
    }

    #[test]
    fn a_panic_in_a_spawned_task_stops_the_loop_with_its_message() {
        let ran = block_on_local(async {
            spawn(async { panic!("background task broke") });
            sleep(Duration::from_secs(30)).await;
        });
        assert!(died(ran).contains("background task broke"));
    }

    #[test]
    fn a_panic_in_the_loop_itself_is_reported_and_a_clean_end_is_its_output() {
        let ran = block_on_local(async {
            sleep(Duration::from_millis(1)).await;
            panic!("accept loop broke");
        });
        assert!(died(ran).contains("accept loop broke"));
        assert_eq!(block_on_local(async { 7 }).ok(), Some(7));
        // An isolated panic is the caller's, and the loop goes on.
        let ran = block_on_local(async { isolate(async { panic!("one connection") }).await });
        assert!(matches!(ran, Ok(Err(why)) if why.contains("one connection")));
    }
}
