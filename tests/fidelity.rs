//! Behaviours where cuttle used to differ from KrakenD (issue 21), each
//! checked end to end against what lura's source does (cited per test).

mod common;

use common::{Backend, Gateway, json};
use serde_json::{Value, json};

fn start(endpoints: Value) -> Gateway {
    Gateway::start(&json!({"version": 3, "timeout": "2s", "endpoints": endpoints}).to_string())
}

/// A backend entry for `backend` at `url_pattern`, plus `extra` keys.
fn be(backend: &Backend, url_pattern: &str, extra: Value) -> Value {
    let mut b = json!({"host": [backend.url()], "url_pattern": url_pattern});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// An endpoint at `path` over `backends`, plus `extra` keys.
fn ep(path: &str, backends: Vec<Value>, extra: Value) -> Value {
    let mut e = json!({"endpoint": path, "backend": backends});
    for (k, v) in extra.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

/// lura `proxy/formatter.go` `newDenylistingFilter` (`buildDenyTree`,
/// `recDelete`; `TestEntityFormatter_newDenyFilter`) and
/// `newAllowlistingFilter`: paths of any depth.
#[test]
fn deny_and_allow_with_three_segments() {
    let svc = Backend::start(|_| json(200, r#"{"p":{"q":{"r":1,"s":2},"t":3},"u":4}"#));
    let gw = start(json!([
        ep(
            "/deny",
            vec![be(&svc, "/", json!({"deny": ["p.q.r"]}))],
            json!({})
        ),
        ep(
            "/allow",
            vec![be(&svc, "/", json!({"allow": ["p.q.r"]}))],
            json!({})
        ),
        ep(
            "/deny-short-wins",
            vec![be(&svc, "/", json!({"deny": ["p", "p.q.r"]}))],
            json!({})
        ),
    ]));
    assert_eq!(
        gw.get("/deny").json(),
        json!({"p": {"q": {"s": 2}, "t": 3}, "u": 4})
    );
    assert_eq!(gw.get("/allow").json(), json!({"p": {"q": {"r": 1}}}));
    assert_eq!(gw.get("/deny-short-wins").json(), json!({"u": 4}));
}
