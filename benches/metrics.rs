//! What metrics cost: recording one request (the server layer, on the
//! request path), one backend call (the meter), and, off the request path,
//! a worker's snapshot and a scrape's sum and rendering, for a config of
//! 20 endpoints with one backend each.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use cuttle::config::parse;
use cuttle::http::Method;
use cuttle::metrics::Recorder;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config() -> cuttle::config::Config {
    let endpoints: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"endpoint": "/e{i}/{{id}}", "backend": [{{"host": ["http://127.0.0.1:9"], "url_pattern": "/b{i}/{{id}}"}}]}}"#
            )
        })
        .collect();
    let text = format!(
        r#"{{"version": 3, "extra_config": {{"telemetry/opentelemetry": {{"exporters": {{"prometheus": [{{"name": "p"}}]}}}}}}, "endpoints": [{}]}}"#,
        endpoints.join(",")
    );
    parse(&text, Path::new("bench.json")).unwrap()
}

fn bench_metrics(c: &mut Criterion) {
    let config = config();
    let recorder = Recorder::new(&config).unwrap();
    let mut group = c.benchmark_group("metrics");
    group.bench_function("request", |b| {
        b.iter(|| {
            recorder.request(
                black_box(Some(7)),
                Method::Get,
                black_box(b"/e7/123"),
                200,
                black_box(812),
                black_box(Duration::from_micros(230)),
            )
        })
    });
    group.bench_function("backend_call", |b| {
        b.iter(|| {
            let meter = recorder
                .backend_call(black_box(7), 0, 0, std::time::Instant::now())
                .unwrap();
            meter.answered(200, Some(black_box(512)), true);
        })
    });
    // Every endpoint with a few series, as after some traffic.
    for e in 0..20 {
        for status in [200, 404, 500] {
            recorder.request(
                Some(e),
                Method::Get,
                b"/x",
                status,
                100,
                Duration::from_millis(3),
            );
        }
    }
    group.bench_function("snapshot_20_endpoints", |b| {
        b.iter(|| black_box(recorder.snapshot(3, Duration::from_secs(1))))
    });
    group.finish();
}

criterion_group!(benches, bench_metrics);
criterion_main!(benches);
