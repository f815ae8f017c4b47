//! Talking to `auth/revoker`'s endpoint and counting each worker's
//! connections, for the revoker tests (tests/revoker.rs,
//! tests/redis_revoker.rs).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// One request to a revocation endpoint: (status, body).
pub fn admin(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").unwrap().1.trim().to_owned();
    (status, body)
}

/// `GET /private` with `token` on a kept-alive connection.
pub fn status_on(client: &mut crate::common::Client, token: &str) -> u16 {
    client.send(
        format!("GET /private HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n")
            .as_bytes(),
    );
    client.response().expect("an answer").status
}

/// Each worker's open client connections, from the Prometheus exporter.
pub fn open_per_worker(metrics: SocketAddr) -> Vec<f64> {
    crate::common::scrape(metrics)
        .lines()
        .filter(|l| l.starts_with("cuttle_worker_open_connections{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse().ok())
        .collect()
}
