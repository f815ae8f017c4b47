//! `qos/http-cache`: the work of a cache hit on the request path, without
//! the network: the key built from the backend URL, the request's
//! Cache-Control read, the store looked up (Vary compared, entry moved to
//! the front), freshness decided and the stored answer copied out for the
//! decoder. A store of 10,000 entries with a 1 KiB body each; the entry
//! hit varies on one header.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use cuttle::config::HttpCacheSettings;
use cuttle::http::Method;
use cuttle::upstream::cache::{Directives, Entry, Freshness, HttpCache, cache_key, now_ms};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BASE: &str = "http://users.internal:8080";

fn entry(now_secs: i64) -> Entry {
    Entry {
        status: 200,
        content_type: Some(Box::from(&b"application/json"[..])),
        body: vec![b'x'; 1024],
        cache_control: Directives::parse(Some(b"public, max-age=3600")),
        date: Some(now_secs),
        expires: None,
        etag: Some(Box::from(&b"\"abc\""[..])),
        last_modified: None,
        varied: vec![(Box::from(&b"x-tenant"[..]), Box::from(&b"acme"[..]))],
    }
}

fn bench_hit(c: &mut Criterion) {
    let cache = HttpCache::new(HttpCacheSettings {
        shared: false,
        max_items: 20_000,
        max_size: 64 << 20,
    });
    let now = now_ms();
    for i in 0..10_000 {
        let target = format!("/users/{i}?fields=name");
        cache.insert(
            &cache_key(Method::Get, BASE, target.as_bytes()),
            entry(now / 1000),
        );
    }
    let headers =
        b"Accept: application/json\r\nX-Tenant: acme\r\nUser-Agent: KrakenD Version 2.13.1\r\n";
    c.bench_function("http_cache/hit", |b| {
        b.iter(|| {
            let key = cache_key(Method::Get, BASE, black_box(b"/users/4242?fields=name"));
            let req_cc = Directives::parse(None);
            let (entry, fresh) = cache
                .lookup(&key, black_box(headers), &req_cc, now)
                .expect("stored");
            assert_eq!(fresh, Freshness::Fresh);
            black_box(entry.response())
        })
    });
}

criterion_group!(benches, bench_hit);
criterion_main!(benches);
