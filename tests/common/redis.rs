//! Debian's `redis-server` for a test: on an ephemeral port, nothing
//! saved to disk, killed when dropped.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// Whether the test can run (see `common::available_or_skip`).
pub fn available() -> bool {
    std::path::Path::new(REDIS_SERVER).exists()
}

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// A server on a port free at the time of asking.
    pub fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        RedisServer::on(port)
    }

    /// A server on `port` (a restart uses the same one).
    pub fn on(port: u16) -> RedisServer {
        let mut server = RedisServer { port, child: None };
        server.run();
        server
    }

    fn run(&mut self) {
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let addr = self.address();
        crate::common::eventually("redis-server listening", Duration::from_secs(10), || {
            TcpStream::connect(&addr).is_ok()
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

    /// Stops it and starts an empty one on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
