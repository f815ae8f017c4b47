//! `modifier/martian` on the request path: what one backend call pays for
//! a backend with one `header.Modifier` in request scope (the most common
//! real use: a constant `Authorization` or `X-Platform` header): the
//! header block parsed into lines, the modifier applied, the block and
//! target written again (`modifier::martian::edit_request`, as
//! `fanout::call` runs it before the request is serialised). A backend
//! without modifiers pays nothing (`BackendPlan.martian` is `None`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use cuttle::config::martian::{Notes, parse};
use cuttle::http::Method;
use cuttle::modifier::martian::{Modifiers, edit_request};
use cuttle::upstream::Request;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench_header_modifier(c: &mut Criterion) {
    let tree: serde_json::Value = serde_json::from_str(
        r#"{"header.Modifier": {"scope": ["request"], "name": "Authorization", "value": "Basic a3Jha2VuZDpwYXNzd29yZA=="}}"#,
    )
    .unwrap();
    let modifiers = Modifiers::new(&parse(&tree, "m", &mut Notes::default()).unwrap());
    // What a backend request usually carries: the headers cuttle adds.
    let headers = b"X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Host: gw.example\r\nUser-Agent: KrakenD Version 2.13.0\r\nAccept-Encoding: gzip\r\n";
    let request = Request {
        method: Method::Get,
        path_and_query: b"/users/42?fields=name",
        headers,
        body: b"",
        chunked: false,
        body_on_redirect: false,
    };
    c.bench_function("martian/header_modifier_request", |b| {
        b.iter(|| {
            let (edited, block) = edit_request(
                black_box(&modifiers),
                "http://127.0.0.1:8080",
                black_box(&request),
            );
            black_box((edited.target.len(), block.len()))
        })
    });
}

criterion_group!(benches, bench_header_modifier);
criterion_main!(benches);
