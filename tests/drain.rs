//! The drain on SIGTERM as a load balancer sees it (`server::drain`):
//! an idle keep-alive connection is not closed under a request the
//! balancer is sending on it.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Backend, Gateway, json};

fn gateway() -> (Gateway, Backend) {
    let backend = Backend::start(|_| json(200, r#"{"ok": true}"#));
    let gw = Gateway::start_with(
        &common::config(&format!(
            r#"[{{"endpoint": "/ok", "backend": [{{"host": ["{}"], "url_pattern": "/"}}]}}]"#,
            backend.url()
        )),
        &["--cores", "1"],
    );
    (gw, backend)
}

#[test]
fn a_request_on_an_idle_connection_just_after_sigterm_is_answered_then_closed() {
    let (mut gw, _backend) = gateway();
    let mut idle = gw.client();
    idle.send(b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(idle.response().unwrap().status, 200);
    gw.signal("TERM");
    // The drain has started once the listener is gone.
    gw.eventually("the listener closed", Duration::from_secs(5), || {
        TcpStream::connect(gw.addr).is_err()
    });
    idle.send(b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
    let answer = idle
        .response()
        .expect("the request sent on the idle connection is answered");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(idle.is_closed(), "then the connection closes");
    assert_eq!(gw.wait().code(), Some(0));
}

#[test]
fn an_idle_connection_that_stays_silent_is_closed_and_the_stop_is_not_held_up() {
    let (mut gw, _backend) = gateway();
    let mut idle = gw.client();
    idle.send(b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(idle.response().unwrap().status, 200);
    let started = Instant::now();
    gw.signal("TERM");
    assert!(idle.is_closed());
    assert_eq!(gw.wait().code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "closed after the linger, not after max_shutdown_wait_time: {:?}",
        started.elapsed()
    );
}
