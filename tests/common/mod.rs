//! The integration harness: real backends on 127.0.0.1 ephemeral ports, the
//! real `cuttle` binary, raw HTTP over real sockets.
//!
//! Test code is not the request path: it may share state between threads
//! with a Mutex.
#![allow(clippy::disallowed_types, dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as a backend received it.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub method: String,
    pub target: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What a backend answers.
#[derive(Clone)]
pub enum Reply {
    /// Status, headers, body; framed with Content-Length.
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// Raw bytes written as they are, then the connection is closed.
    Raw(Vec<u8>),
    /// Wait, then answer.
    Delayed(Duration, Box<Reply>),
    /// Close the connection without answering.
    Hangup,
}

pub fn json(status: u16, body: &str) -> Reply {
    Reply::Full(
        status,
        vec![("Content-Type".into(), "application/json".into())],
        body.as_bytes().to_vec(),
    )
}

pub fn text(status: u16, content_type: &str, body: &str) -> Reply {
    Reply::Full(
        status,
        vec![("Content-Type".into(), content_type.into())],
        body.as_bytes().to_vec(),
    )
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A backend on an ephemeral port answering with `handler`, recording
/// every request it received.
pub struct Backend {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    accepted: Arc<AtomicUsize>,
}

impl Backend {
    pub fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind backend");
        Backend::serve(listener, handler)
    }

    /// A backend on a listener the test bound itself (another loopback
    /// address, a fixed port).
    pub fn serve(
        listener: TcpListener,
        handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Backend {
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let record = seen.clone();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                let record = record.clone();
                std::thread::spawn(move || serve_backend(stream, &*handler, &record));
            }
        });
        Backend {
            addr,
            seen,
            accepted,
        }
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_backend(stream: TcpStream, handler: &Handler, record: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let Some(seen) = read_request(&mut reader) else {
            return;
        };
        record.lock().unwrap().push(seen.clone());
        let mut reply = handler(&seen);
        loop {
            match reply {
                Reply::Delayed(d, next) => {
                    std::thread::sleep(d);
                    reply = *next;
                }
                Reply::Hangup => return,
                Reply::Raw(bytes) => {
                    let _ = writer.write_all(&bytes);
                    return;
                }
                Reply::Full(status, headers, body) => {
                    let mut out = format!("HTTP/1.1 {status} X\r\n");
                    for (k, v) in headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                    let mut bytes = out.into_bytes();
                    if seen.method != "HEAD" {
                        bytes.extend_from_slice(&body);
                    }
                    if writer.write_all(&bytes).is_err() {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let body = if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
        body
    } else {
        let len = get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
        body
    };
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

/// Waits until `check` holds, polling every 20 ms, and fails the test
/// naming `what` if it does not within `limit`. For states the gateway
/// reaches in the background (a reload, keys fetched): never a fixed sleep.
/// A port free on 127.0.0.1 at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `cuttle check -c FILE` on `config` written to a temporary file: its
/// exit code and its output (stderr, then stdout).
pub fn check(config: &str) -> (i32, String) {
    let dir = TempDir::new();
    let path = dir.0.join("krakend.json");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

/// A Prometheus exporter's whole answer to `GET /metrics` (empty when it
/// does not answer).
pub fn scrape(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut all = String::new();
    let _ = s.read_to_string(&mut all);
    all
}

pub fn eventually(what: &str, limit: Duration, check: impl FnMut() -> bool) {
    assert!(within(limit, check), "not within {limit:?}: {what}");
}

/// The polling loop behind [`eventually`], for callers that report the
/// failure themselves (or expect none): whether `check` held within
/// `limit`, polling every 20 ms.
pub fn within(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while !check() {
        if start.elapsed() >= limit {
            return false;
        }
        // Polling interval, not synchronisation: `check` decides.
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The gateway binary running a config.
pub struct Gateway {
    pub addr: SocketAddr,
    child: Child,
    stdout: Arc<Mutex<String>>,
    _dir: TempDir,
}

impl Gateway {
    /// Starts `cuttle run` on `config` (JSON text) with one worker on an
    /// ephemeral port.
    pub fn start(config: &str) -> Gateway {
        Gateway::start_with(config, &["--cores", "1"])
    }

    pub fn start_with(config: &str, args: &[&str]) -> Gateway {
        Gateway::start_env(config, args, &[], false)
    }

    /// [`Gateway::start_with`] with extra environment variables; with
    /// `log_to_file`, the gateway's stderr goes to a file read by
    /// [`Gateway::log`] instead of the test's stderr.
    pub fn start_env(
        config: &str,
        args: &[&str],
        env: &[(&str, &str)],
        log_to_file: bool,
    ) -> Gateway {
        let port: &[&str] = if args.contains(&"-p") {
            &[]
        } else {
            &["-p", "0"]
        };
        let args: Vec<&str> = port.iter().chain(args).copied().collect();
        Gateway::start_file("gateway.json", config, &args, env, log_to_file)
    }

    /// Starts `cuttle run` on `config` written to a file named `file_name`
    /// (its extension picks the format), with exactly `args` (no `-p 0`
    /// added: the port is the file's or the environment's unless `args`
    /// has `-p`) and `env` added to the environment.
    pub fn start_file(
        file_name: &str,
        config: &str,
        args: &[&str],
        env: &[(&str, &str)],
        log_to_file: bool,
    ) -> Gateway {
        let dir = TempDir::new();
        let path = dir.0.join(file_name);
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cuttle"))
            .args(["run", "-c", path.to_str().unwrap()])
            .args(args)
            .env("CUTTLE_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(if log_to_file {
                Stdio::from(std::fs::File::create(dir.0.join("stderr.log")).unwrap())
            } else {
                Stdio::inherit()
            })
            .spawn()
            .expect("start cuttle");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        // What is logged before the gateway listens is kept for `log` too.
        let mut early = String::new();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.strip_prefix("cuttle listening on ") {
                        break rest.split_whitespace().next().unwrap().parse().unwrap();
                    }
                    early.push_str(&line);
                    early.push('\n');
                }
                _ => panic!("cuttle exited before listening: {:?}", child.wait()),
            }
        };
        // Keep draining stdout (where the log goes) so the gateway never
        // blocks on a full pipe; kept for `log`.
        let stdout = Arc::new(Mutex::new(early));
        let kept = stdout.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut kept = kept.lock().unwrap();
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        Gateway {
            addr,
            child,
            stdout,
            _dir: dir,
        }
    }

    /// Sends raw bytes on a new connection and reads one response.
    pub fn raw(&self, request: &[u8]) -> Response {
        let mut conn = Client::connect(self.addr);
        conn.send(request);
        conn.response().expect("a response")
    }

    pub fn get(&self, path: &str) -> Response {
        self.raw(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// [`eventually`], with the gateway's log in the failure message.
    pub fn eventually(&self, what: &str, limit: Duration, check: impl FnMut() -> bool) {
        if !within(limit, check) {
            panic!("not within {limit:?}: {what}; gateway log:\n{}", self.log());
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the gateway wrote so far: its stdout (the log), then its
    /// stderr when started with `log_to_file`.
    pub fn log(&self) -> String {
        let mut all = self.stdout.lock().unwrap().clone();
        all.push_str(&std::fs::read_to_string(self._dir.0.join("stderr.log")).unwrap_or_default());
        all
    }

    /// The configuration file the gateway was started on (rewrite it, then
    /// send SIGHUP, to reload).
    pub fn config_path(&self) -> std::path::PathBuf {
        self._dir.0.join("gateway.json")
    }

    /// `Some(status)` once the gateway has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    pub fn signal(&self, signal: &str) {
        Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client connection that can send several requests.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to gateway");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// Reads one response; `None` when the connection was closed first.
    pub fn response(&mut self) -> Option<Response> {
        self.response_to("GET")
    }

    /// Reads one response to a request with `method` (HEAD has no body).
    pub fn response_to(&mut self, method: &str) -> Option<Response> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).ok()?;
            let h = h.trim_end_matches(['\r', '\n']);
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':')?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        if status == 100 {
            return self.response_to(method);
        }
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let body = if method == "HEAD" || status == 204 || status == 304 {
            Vec::new()
        } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            let mut body = Vec::new();
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).ok()?;
                let size = usize::from_str_radix(size.trim(), 16).ok()?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk).ok()?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
            body
        } else if let Some(len) = get("content-length") {
            let mut body = vec![0; len.parse().ok()?];
            self.reader.read_exact(&mut body).ok()?;
            body
        } else {
            let mut body = Vec::new();
            self.reader.read_to_end(&mut body).ok()?;
            body
        };
        Some(Response {
            status,
            headers,
            body,
        })
    }

    /// One raw line (with its CRLF) from the connection.
    pub fn read_line(&mut self) -> String {
        let mut line = String::new();
        let _ = self.reader.read_line(&mut line);
        line
    }

    /// One raw read: `Ok(0)` is an orderly close (FIN), `Err` e.g. a reset.
    pub fn read_raw(&mut self) -> std::io::Result<usize> {
        let mut byte = [0u8; 1];
        self.reader.read(&mut byte)
    }

    /// True when the gateway closed the connection (reads EOF).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0) | Err(_))
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cuttle-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A minimal KrakenD v3 config: `endpoints` is the JSON array text.
pub fn config(endpoints: &str) -> String {
    format!(r#"{{"version": 3, "timeout": "2s", "cache_ttl": "300s", "endpoints": {endpoints}}}"#)
}

/// Parses a query string into a map of lists (for assertions).
pub fn query_map(target: &str) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    if let Some((_, q)) = target.split_once('?') {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.entry(k.into()).or_default().push(v.into());
        }
    }
    map
}

// ---------------------------------------------------------------------------
// Hardening helpers (tests/hardening.rs): raw misbehaving backends, closed
// ports, timing and memory probes. Kept apart from the helpers above.
// ---------------------------------------------------------------------------

/// A backend that hands each accepted connection to `handler` on its own
/// thread: for servers that misbehave below the HTTP level (reset, stall,
/// garbage). `conns` counts the connections accepted.
pub struct RawBackend {
    pub addr: SocketAddr,
    pub conns: Arc<std::sync::atomic::AtomicUsize>,
}

impl RawBackend {
    pub fn start(handler: impl Fn(TcpStream) + Send + Sync + 'static) -> RawBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind raw backend");
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = conns.clone();
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let handler = handler.clone();
                std::thread::spawn(move || handler(stream));
            }
        });
        RawBackend { addr, conns }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Reads one request head (up to and including the empty line); `None` at
/// end of stream. Bodies are not read (the raw backends only get GETs).
pub fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

/// Waits until the peer sent something, without consuming it: closing the
/// socket afterwards leaves unread data, so the kernel answers with a RST.
pub fn wait_for_data(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.peek(&mut byte), Ok(n) if n > 0)
}

/// `http://127.0.0.1:PORT` where nothing listens (the port was just freed).
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Resident set size of a process in KiB (`VmRSS` in /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

impl Client {
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.writer.set_read_timeout(Some(timeout)).unwrap();
    }

    /// Like `send`, but a write error (the gateway closed) is `false`.
    pub fn try_send(&mut self, bytes: &[u8]) -> bool {
        self.writer.write_all(bytes).is_ok()
    }

    /// Reads until end of stream or error; true when the stream ended
    /// (EOF or reset) before `within`, false on timeout. Any bytes read are
    /// appended to `into`.
    pub fn closed_within(&mut self, within: Duration, into: &mut Vec<u8>) -> bool {
        self.set_read_timeout(within);
        let mut buf = [0u8; 4096];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => into.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }
}

/// Debian's Python, which has the packages the tests' servers import
/// (`python3` on PATH may be another without them).
pub const DEBIAN_PYTHON: &str = "/usr/bin/python3";

/// Whether [`DEBIAN_PYTHON`] can run `import {modules}`.
pub fn python_imports(modules: &str) -> bool {
    Command::new(DEBIAN_PYTHON)
        .args(["-c", &format!("import {modules}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `available`, when a test needs an outside tool: without it the test is
/// skipped (says SKIPPED and `why`, returns false), except with `CI` set
/// (as `.ci/run` sets it, having installed everything), where it fails.
pub fn available_or_skip(available: bool, why: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set and {why}");
    }
    eprintln!("SKIPPED: {why}");
    false
}
