//! Debian's `redis-server` for a test: on an ephemeral port, nothing
//! saved (its files, e.g. a cluster member's nodes.conf, in a temporary
//! directory), stopped (and resumed first, if paused) when dropped.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::TempDir;

pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// Whether the test can run (see `common::available_or_skip`).
pub fn available() -> bool {
    std::path::Path::new(REDIS_SERVER).exists()
}

/// `Some(server)`, or `None` when redis-server is missing outside CI (the
/// test returns; under CI it fails).
pub fn start_or_skip(args: &[&str]) -> Option<RedisServer> {
    crate::common::available_or_skip(
        available(),
        "redis-server is not installed (apt-get install redis-server)",
    )
    .then(|| RedisServer::start_with(args))
}

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    args: Vec<String>,
    dir: TempDir,
}

impl RedisServer {
    /// A server on a port free at the time of asking.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// With more `redis-server` arguments (e.g. cluster mode).
    pub fn start_with(args: &[&str]) -> RedisServer {
        RedisServer::on(crate::common::free_port(), args)
    }

    /// A server on `port` (a restart uses the same one).
    pub fn on(port: u16, args: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            port,
            child: None,
            args: args.iter().map(|a| a.to_string()).collect(),
            dir: TempDir::new(),
        };
        server.run();
        server
    }

    fn run(&mut self) {
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", self.dir.0.to_str().unwrap()])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        crate::common::eventually("redis-server answers PING", Duration::from_secs(10), || {
            self.command("PING").is_some_and(|r| r.starts_with("+PONG"))
        });
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills it (its data goes with it: nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it (if running) and starts an empty one on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Sends `signal` (e.g. "STOP", "CONT") to the running server.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        Command::new("kill")
            .args(["-s", signal, &pid])
            .status()
            .unwrap();
    }

    /// One inline command; its first reply (None without an answer).
    pub fn command(&self, line: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(s, "{line}\r\n").ok()?;
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A paused server would not die of SIGKILL any later, but
            // resuming first lets its port go at once.
            self.signal("CONT");
        }
        self.stop();
    }
}
