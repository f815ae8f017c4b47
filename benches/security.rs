//! Benchmarks of the edge's security decisions, per request and per
//! worker as the server runs them (compiled matchers, pre-serialised
//! header lines, the decor buffer reused):
//!
//! - **cors**: the decision plus its header lines for a simple request
//!   (allowed exact origin, allowed wildcard origin, refused origin, `*`)
//!   and for a preflight with two requested headers.
//! - **bot**: the User-Agent decision with a 2,000-entry cache (a hit), with
//!   no cache (an exact `deny` entry, and the regex path: a browser
//!   User-Agent that none of 20 patterns matches, so the whole `RegexSet`
//!   runs), and a miss that inserts and evicts (every User-Agent new).
//! - **http**: `security/http` for a request that passes (allowed host,
//!   five static header lines).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use cuttle::config::{BotDetectorSettings, CorsSettings, HttpSecuritySettings};
use cuttle::http::Method;
use cuttle::security::{BotDetector, Cors, CorsRequest, HttpSecurity, SecureRequest};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn cors_settings(origins: &[&str]) -> CorsSettings {
    CorsSettings {
        allow_origins: origins.iter().map(|o| o.to_string()).collect(),
        allow_methods: vec!["GET".into(), "POST".into(), "PUT".into()],
        allow_headers: vec!["Authorization".into(), "Content-Type".into()],
        expose_headers: vec!["Content-Length".into(), "X-Request-Id".into()],
        max_age_seconds: Some(43200),
        allow_credentials: true,
        allow_private_network: false,
        options_passthrough: false,
        options_success_status: 204,
        debug: false,
    }
}

fn bench_cors(c: &mut Criterion) {
    let listed = Cors::new(&cors_settings(&[
        "https://app.example.com",
        "https://admin.example.com",
        "https://www.example.net",
        "https://*.example.org",
    ]));
    let any = Cors::new(&cors_settings(&["*"]));
    let mut decor = Vec::with_capacity(512);
    let simple = |origin: &'static str| CorsRequest {
        method: Method::Get,
        origin: Some(origin.as_bytes()),
        request_method: None,
        request_headers: &[],
        request_private_network: false,
    };
    for (name, cors, req) in [
        (
            "cors/simple_exact_origin",
            &listed,
            simple("https://www.example.net"),
        ),
        (
            "cors/simple_wildcard_origin",
            &listed,
            simple("https://eu.api.example.org"),
        ),
        (
            "cors/simple_refused_origin",
            &listed,
            simple("https://evil.example.com"),
        ),
        (
            "cors/simple_any_origin",
            &any,
            simple("https://www.example.net"),
        ),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                decor.clear();
                black_box(cors.apply(black_box(&req), &mut decor));
            })
        });
    }
    let requested: [&[u8]; 1] = [b"authorization,content-type"];
    let preflight = CorsRequest {
        method: Method::Options,
        origin: Some(b"https://app.example.com"),
        request_method: Some(b"PUT"),
        request_headers: &requested,
        request_private_network: false,
    };
    c.bench_function("cors/preflight_allowed", |b| {
        b.iter(|| {
            decor.clear();
            black_box(listed.apply(black_box(&preflight), &mut decor));
        })
    });
}

/// Typical crawler patterns, as a KrakenD user would list them.
const PATTERNS: [&str; 20] = [
    r"(Pingdom.com_bot_version_).*",
    r"(facebookexternalhit)/.*",
    r"Googlebot/\d",
    r"bingbot/\d",
    r"Baiduspider",
    r"YandexBot",
    r"DuckDuckBot",
    r"Slurp",
    r"AhrefsBot",
    r"SemrushBot",
    r"MJ12bot",
    r"DotBot",
    r"PetalBot",
    r"Bytespider",
    r"GPTBot",
    r"CCBot",
    r"python-requests/\d",
    r"curl/\d",
    r"Go-http-client",
    r"(?i)scrapy",
];

const BROWSER: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

fn detector(cache_size: usize) -> BotDetector {
    BotDetector::new(&BotDetectorSettings {
        allow: vec!["c".into(), "Pingdom.com_bot_version_1.1".into()],
        deny: vec!["a".into(), "b".into(), "BadBot/1.0".into()],
        patterns: PATTERNS.iter().map(|p| p.to_string()).collect(),
        cache_size,
        empty_user_agent_is_bot: false,
    })
    .unwrap()
}

fn bench_bot(c: &mut Criterion) {
    let cached = detector(2000);
    cached.is_bot(Some(BROWSER.as_bytes()));
    c.bench_function("bot/cache_hit", |b| {
        b.iter(|| black_box(cached.is_bot(black_box(Some(BROWSER.as_bytes())))))
    });
    let uncached = detector(0);
    c.bench_function("bot/no_cache_deny_entry", |b| {
        b.iter(|| black_box(uncached.is_bot(black_box(Some(b"BadBot/1.0")))))
    });
    c.bench_function("bot/no_cache_regex_path", |b| {
        b.iter(|| black_box(uncached.is_bot(black_box(Some(BROWSER.as_bytes())))))
    });
    // Every User-Agent new: a cache miss, the regexes, an insert that evicts.
    let churn = detector(2000);
    let mut agents: Vec<String> = (0..10_000)
        .map(|i| format!("{BROWSER} build/{i}"))
        .collect();
    agents.shrink_to_fit();
    let mut next = 0;
    c.bench_function("bot/cache_miss_insert_evict", |b| {
        b.iter(|| {
            next = (next + 1) % agents.len();
            black_box(churn.is_bot(Some(agents[next].as_bytes())))
        })
    });
}

fn bench_http(c: &mut Criterion) {
    let security = HttpSecurity::new(&HttpSecuritySettings {
        allowed_hosts: vec!["api.example.com".into(), "localhost:8080".into()],
        frame_deny: true,
        content_type_nosniff: true,
        browser_xss_filter: true,
        content_security_policy: Some("default-src 'self';".into()),
        referrer_policy: Some("same-origin".into()),
        sts_seconds: 31_536_000,
        ..HttpSecuritySettings::default()
    });
    let req = SecureRequest {
        host: Some(b"localhost:8080"),
        tls: true,
        path: b"/users/42",
        query: None,
    };
    let mut decor = Vec::with_capacity(512);
    c.bench_function("http/allowed_host_headers", |b| {
        b.iter(|| {
            decor.clear();
            black_box(security.screen(black_box(&req), |_| None, &mut decor))
        })
    });
}

criterion_group!(benches, bench_cors, bench_bot, bench_http);
criterion_main!(benches);
