//! The per-request cost of krakend-lua's scripts (`cuttle::lua`).
//!
//! - **lua/pre_set_header**: a backend `pre` that loads the request and
//!   sets one header (`request.load():headers('X-A', 'b')`), on a request
//!   with five headers and two parameters, as `proxy::lua::call` does per
//!   call: a fresh environment, the request object bound, the compiled
//!   chunk run, the changes read back.
//! - **lua/pre_empty**: the same path with a script that has no code: the
//!   environment and the binding alone, the floor of any script.
//!
//! Both run on this thread's Lua state, compiled on the first iteration,
//! each run's future driven by `futures_lite`'s `block_on` (a script this
//! short never yields).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use cuttle::config::LuaSettings;
use cuttle::lua::objects::{RequestData, bind_proxy_request};
use cuttle::lua::{Phase, Script};

fn request() -> RequestData {
    let mut headers = BTreeMap::new();
    for (k, v) in [
        ("Accept", "application/json"),
        ("Accept-Encoding", "gzip"),
        ("User-Agent", "KrakenD Version 2.13.8"),
        ("X-Forwarded-For", "127.0.0.1"),
        ("X-Forwarded-Host", "localhost:8080"),
    ] {
        headers.insert(k.to_owned(), vec![v.to_owned()]);
    }
    RequestData {
        method: "GET".into(),
        url: "http://127.0.0.1:8081/users/42?page=1".into(),
        path: "/users/42".into(),
        query: "page=1".into(),
        params: [
            ("Id".to_owned(), "42".to_owned()),
            ("Page".to_owned(), "1".to_owned()),
        ]
        .into(),
        headers,
        ..RequestData::default()
    }
}

fn run(c: &mut Criterion, name: &str, pre: Option<&str>) {
    let script = Script::new(LuaSettings {
        pre: pre.map(str::to_owned),
        ..LuaSettings::default()
    });
    let template = request();
    c.bench_function(name, |b| {
        b.iter(|| {
            let data = Rc::new(RefCell::new(template.clone()));
            let deadline = Instant::now() + Duration::from_secs(2);
            futures_lite::future::block_on(script.run(Phase::Pre, deadline, |lua, env| {
                bind_proxy_request(lua, env, &data)
            }))
            .unwrap();
            black_box(data.borrow().changed.headers)
        })
    });
}

fn lua(c: &mut Criterion) {
    run(
        c,
        "lua/pre_set_header",
        Some("request.load():headers('X-A', 'b')"),
    );
    run(c, "lua/pre_empty", None);
}

criterion_group!(benches, lua);
criterion_main!(benches);
