//! Reloading the configuration without a restart (SIGHUP): a broken file
//! leaves the running one in service; a good one is put in service by
//! every worker between requests, with no request failed and no client
//! connection dropped, and the backend pools of unchanged hosts kept.
#![allow(clippy::disallowed_types)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Backend, Gateway, eventually, json};

fn config(backend: &Backend, paths: &[&str]) -> String {
    let routes: Vec<(&Backend, &str)> = paths.iter().map(|path| (backend, *path)).collect();
    config_of(&routes)
}

/// One endpoint per (backend, path), each calling `/echo{path}`.
fn config_of(routes: &[(&Backend, &str)]) -> String {
    let endpoints: Vec<String> = routes
        .iter()
        .map(|(backend, path)| {
            format!(
                r#"{{"endpoint": "{path}", "backend": [{{"host": ["{}"], "url_pattern": "/echo{path}"}}]}}"#,
                backend.url()
            )
        })
        .collect();
    format!(
        r#"{{"version": 3, "endpoints": [{}]}}"#,
        endpoints.join(",")
    )
}

fn reload_with(gw: &Gateway, text: &str) {
    std::fs::write(gw.config_path(), text).unwrap();
    gw.signal("HUP");
}

fn echo_backend() -> Backend {
    Backend::start(|seen| json(200, &format!(r#"{{"path": "{}"}}"#, seen.path())))
}

#[test]
fn a_broken_file_keeps_the_running_configuration_in_service() {
    let backend = echo_backend();
    let gw = Gateway::start_with(&config(&backend, &["/a"]), &["--cores", "2"]);
    assert_eq!(gw.get("/a").status, 200);
    reload_with(
        &gw,
        r#"{"version": 3, "endpoints": [{"endpoint": "/b", "backend": ["#,
    );
    eventually(
        "the failed reload is logged",
        Duration::from_secs(10),
        || gw.log().contains("configuration reload failed"),
    );
    let log = gw.log();
    assert!(log.contains("still serving the previous one"), "{log}");
    assert!(log.contains("gateway.json"), "names the file: {log}");
    assert_eq!(gw.get("/a").status, 200);
    assert_eq!(gw.get("/b").status, 404);
    // A file that parses but asks for another port needs a restart.
    let moved = config(&backend, &["/a", "/b"]).replacen(
        r#"{"version": 3,"#,
        r#"{"version": 3, "listen_ip": "127.0.0.1","#,
        1,
    );
    reload_with(&gw, &moved);
    eventually(
        "the refused reload is logged",
        Duration::from_secs(10),
        || gw.log().contains("restart cuttle to apply it"),
    );
    assert_eq!(gw.get("/b").status, 404);
    assert_eq!(gw.get("/a").status, 200);
}

/// One keep-alive connection sending GET `path` in a loop until `stop`;
/// counts the answers and every failure (status other than 200, error,
/// closed connection).
fn client(
    gw: &Gateway,
    path: &'static str,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    let addr = gw.addr;
    std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n");
        let mut buf = vec![0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            if stream.write_all(request.as_bytes()).is_err() {
                failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // One response: the head and a small Content-Length body.
            let mut got = Vec::new();
            let complete = loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break false,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
                if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if got.len() >= end + 4 + length {
                        break head.starts_with("http/1.1 200");
                    }
                }
            };
            if !complete {
                failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            answered.fetch_add(1, Ordering::Relaxed);
        }
    })
}

#[test]
fn reloads_under_load_serve_new_endpoints_without_a_failed_request() {
    let backend = echo_backend();
    let gw = Gateway::start_with(&config(&backend, &["/a"]), &["--cores", "2"]);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| client(&gw, "/a", stop.clone(), answered.clone(), failed.clone()))
        .collect();
    eventually("the clients are answered", Duration::from_secs(10), || {
        answered.load(Ordering::Relaxed) > 100
    });
    let names = [
        "/e0", "/e1", "/e2", "/e3", "/e4", "/e5", "/e6", "/e7", "/e8", "/e9",
    ];
    for (i, added) in names.iter().enumerate() {
        let mut paths = vec!["/a"];
        paths.extend(&names[..=i]);
        reload_with(&gw, &config(&backend, &paths));
        // Every worker serves it: 16 new connections, each landing on
        // either of the two workers (all on one: 2 in 65,536).
        eventually(
            &format!("{added} served after reload {i}"),
            Duration::from_secs(10),
            || (0..16).all(|_| gw.get(added).status == 200),
        );
        let before = answered.load(Ordering::Relaxed);
        eventually("the clients go on", Duration::from_secs(10), || {
            answered.load(Ordering::Relaxed) > before + 20
        });
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "failed requests or dropped connections across 10 reloads ({} answered); log:\n{}",
        answered.load(Ordering::Relaxed),
        gw.log()
    );
}

#[test]
fn pools_to_unchanged_hosts_are_kept_across_a_reload() {
    let backend = echo_backend();
    let other = echo_backend();
    let gw = Gateway::start(&config(&backend, &["/a"]));
    for _ in 0..5 {
        assert_eq!(gw.get("/a").status, 200);
    }
    // The warm-up's connections, then the ones the requests needed.
    let settled = backend.connections();
    assert!(settled >= 1);
    reload_with(&gw, &config_of(&[(&backend, "/a"), (&other, "/o")]));
    eventually("/o served", Duration::from_secs(10), || {
        gw.get("/o").status == 200
    });
    for _ in 0..5 {
        assert_eq!(gw.get("/a").status, 200);
    }
    assert_eq!(
        backend.connections(),
        settled,
        "the unchanged host's pool and its connections were kept"
    );
    assert!(other.connections() >= 1);
}

/// A reload that no longer calls a host closes the idle connections of
/// its pool (and the busy ones as they finish) instead of leaving them
/// open with nothing to sweep them.
#[test]
fn pools_dropped_by_a_reload_close_their_connections() {
    let closed = Arc::new(AtomicUsize::new(0));
    let seen_closed = closed.clone();
    let old = common::RawBackend::start(move |mut stream| {
        while common::read_head(&mut stream).is_some() {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
            );
        }
        seen_closed.fetch_add(1, Ordering::SeqCst);
    });
    let new = echo_backend();
    let gw = Gateway::start(&format!(
        r#"{{"version": 3, "endpoints": [{{"endpoint": "/a", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]}}"#,
        old.url()
    ));
    assert_eq!(gw.get("/a").status, 200);
    let opened = old.conns.load(Ordering::SeqCst);
    assert!(opened >= 1);
    assert_eq!(closed.load(Ordering::SeqCst), 0);
    reload_with(&gw, &config(&new, &["/b"]));
    eventually("/b served", Duration::from_secs(10), || {
        gw.get("/b").status == 200
    });
    eventually(
        "the old host's connections closed",
        Duration::from_secs(10),
        || closed.load(Ordering::SeqCst) >= old.conns.load(Ordering::SeqCst),
    );
}
