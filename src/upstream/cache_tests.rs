use super::*;

fn entry(cc: &str, date: Option<i64>) -> Entry {
    Entry {
        status: 200,
        content_type: None,
        body: b"{}".to_vec(),
        cache_control: Directives::parse(Some(cc.as_bytes())),
        date,
        expires: None,
        etag: None,
        last_modified: None,
        varied: Vec::new(),
    }
}

const NOW: i64 = 1_800_000_000;

fn fresh(e: &Entry, req: &str, shared: bool, now: i64) -> Freshness {
    freshness(
        e,
        &Directives::parse(Some(req.as_bytes())),
        shared,
        now * 1000,
    )
}

#[test]
fn directives_as_httpcache_reads_them() {
    let d = Directives::parse(Some(b"Public, max-age=60, s-maxage=x, max-stale, no-cache"));
    assert!(d.public && d.no_cache);
    assert_eq!(d.max_age, Some(60));
    // Not a number: 0, as Go's ParseDuration failing.
    assert_eq!(d.s_maxage, Some(0));
    assert_eq!(d.max_stale, Some(None));
    assert_eq!(Directives::parse(None), Directives::default());
}

#[test]
fn freshness_follows_max_age_expires_and_the_request() {
    let e = entry("max-age=10", Some(NOW));
    assert_eq!(fresh(&e, "", false, NOW + 9), Freshness::Fresh);
    assert_eq!(fresh(&e, "", false, NOW + 10), Freshness::Stale);
    // The request's own limits.
    assert_eq!(fresh(&e, "max-age=2", false, NOW + 3), Freshness::Stale);
    assert_eq!(fresh(&e, "min-fresh=5", false, NOW + 6), Freshness::Stale);
    assert_eq!(fresh(&e, "max-stale=5", false, NOW + 12), Freshness::Fresh);
    assert_eq!(fresh(&e, "max-stale", false, NOW + 1000), Freshness::Fresh);
    assert_eq!(fresh(&e, "no-cache", false, NOW), Freshness::Transparent);
    // No Date: the age is unknown, stale (httpcache).
    assert_eq!(
        fresh(&entry("max-age=10", None), "", false, NOW),
        Freshness::Stale
    );
    // no-cache on the response: always revalidated.
    assert_eq!(
        fresh(&entry("no-cache, max-age=10", Some(NOW)), "", false, NOW),
        Freshness::Stale
    );
    let mut e = entry("", Some(NOW));
    e.expires = Some(Some(NOW + 10));
    assert_eq!(fresh(&e, "", false, NOW + 5), Freshness::Fresh);
    assert_eq!(fresh(&e, "", false, NOW + 11), Freshness::Stale);
    e.expires = Some(None);
    assert_eq!(fresh(&e, "", false, NOW), Freshness::Stale);
    // s-maxage counts for a shared store only.
    let e = entry("max-age=1, s-maxage=100", Some(NOW));
    assert_eq!(fresh(&e, "", false, NOW + 50), Freshness::Stale);
    assert_eq!(fresh(&e, "", true, NOW + 50), Freshness::Fresh);
}

#[test]
fn stale_if_error_from_either_side() {
    let e = entry("max-age=1, stale-if-error=60", Some(NOW));
    let none = Directives::default();
    assert!(stale_on_error(&e, &none, (NOW + 30) * 1000));
    assert!(!stale_on_error(&e, &none, (NOW + 61) * 1000));
    let plain = entry("max-age=1", Some(NOW));
    assert!(!stale_on_error(&plain, &none, NOW * 1000));
    let req = Directives::parse(Some(b"stale-if-error"));
    assert!(stale_on_error(&plain, &req, NOW * 1000));
}

#[test]
fn dates_and_request_headers() {
    assert_eq!(
        http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(784_111_777)
    );
    assert_eq!(http_date(b"yesterday"), None);
    let block = b"Accept: a\r\nX-Tenant:  t1 \r\n";
    assert_eq!(request_header(block, b"x-tenant"), Some(&b"t1"[..]));
    assert_eq!(request_header(block, b"range"), None);
}

#[test]
fn keys_as_httpcache_forms_them() {
    assert_eq!(
        cache_key(Method::Get, "http://b:8080/", b"/a?x=1"),
        b"http://b:8080/a?x=1"
    );
    assert_eq!(
        cache_key(Method::Head, "http://b:8080", b"/a"),
        b"HEAD http://b:8080/a"
    );
}

#[test]
fn vary_compares_the_stored_request_values() {
    let mut e = entry("max-age=10", Some(NOW));
    e.varied = vec![(Box::from(&b"x-tenant"[..]), Box::from(&b"a"[..]))];
    assert!(vary_matches(&e, b"X-Tenant: a\r\n"));
    assert!(!vary_matches(&e, b"X-Tenant: b\r\n"));
    assert!(!vary_matches(&e, b""));
}

#[test]
fn lru_bounds_items_and_size() {
    let cache = HttpCache::new(CacheSettings {
        shared: false,
        max_items: 2,
        max_size: 10_000,
    });
    cache.insert(b"a", entry("", None));
    cache.insert(b"b", entry("", None));
    // `a` becomes the most recently used: `b` goes first.
    assert!(cache.get(b"a").is_some());
    cache.insert(b"c", entry("", None));
    assert_eq!(cache.len(), 2);
    assert!(cache.get(b"b").is_none());
    assert!(cache.get(b"a").is_some() && cache.get(b"c").is_some());
    // Replacing keeps the count and the size right.
    cache.insert(b"c", entry("", None));
    assert_eq!(cache.len(), 2);

    let small = HttpCache::new(CacheSettings {
        shared: false,
        max_items: 100,
        max_size: 200,
    });
    let mut big = entry("", None);
    big.body = vec![b'x'; 300];
    small.insert(b"big", big);
    assert!(small.is_empty(), "an entry over max_size is not stored");
    for k in [&b"1"[..], b"2", b"3"] {
        small.insert(k, entry("", None));
    }
    // Each entry is ~67 bytes: three exceed 200, the oldest went.
    assert_eq!(small.len(), 2);
    assert!(small.get(b"1").is_none());
    assert_eq!(
        small.store.borrow().in_use,
        2 * (entry("", None).size() + 1)
    );
}

#[test]
fn shared_backends_share_a_store_per_bound_kind() {
    let caches = SharedCaches::default();
    let bounded = CacheSettings {
        shared: true,
        max_items: 5,
        max_size: 1000,
    };
    let a = caches.store_for(&bounded);
    // Other bounds: still the first one's store (KrakenD's globalLruCache).
    let b = caches.store_for(&CacheSettings {
        max_items: 9,
        ..bounded
    });
    assert!(Rc::ptr_eq(&a, &b));
    let unbounded = caches.store_for(&CacheSettings {
        shared: true,
        ..Default::default()
    });
    assert!(!Rc::ptr_eq(&a, &unbounded));
    let own = caches.store_for(&CacheSettings::default());
    let own2 = caches.store_for(&CacheSettings::default());
    assert!(!Rc::ptr_eq(&own, &own2));
}

#[test]
fn what_a_store_keeps() {
    let request = |headers: &'static [u8]| Request {
        method: Method::Get,
        path_and_query: b"/a",
        headers,
        body: b"",
        chunked: false,
        body_on_redirect: false,
    };
    let cc = |text: &str| Directives::parse(Some(text.as_bytes()));
    let none = Directives::default();
    let own = HttpCache::new(CacheSettings::default());
    let shared = HttpCache::new(CacheSettings {
        shared: true,
        ..Default::default()
    });
    let plain = request(b"");
    // 2xx but 206 only; no-store on either side.
    assert!(own.storable(&plain, &none, 200, &cc("max-age=1")));
    assert!(own.storable(&plain, &none, 204, &none));
    for status in [206, 301, 404, 500, 503] {
        assert!(
            !own.storable(&plain, &none, status, &cc("max-age=60")),
            "{status}"
        );
    }
    assert!(!own.storable(&plain, &none, 200, &cc("no-store")));
    assert!(!own.storable(&plain, &cc("no-store"), 200, &none));
    // private: kept by a backend's own store, not by a shared one.
    assert!(own.storable(&plain, &none, 200, &cc("private")));
    assert!(!shared.storable(&plain, &none, 200, &cc("private")));
    // Credentials: a shared store needs the response's leave.
    let authorised = request(b"Authorization: Bearer x\r\n");
    assert!(own.storable(&authorised, &none, 200, &cc("max-age=60")));
    assert!(!shared.storable(&authorised, &none, 200, &cc("max-age=60")));
    for allowed in ["public", "s-maxage=60", "must-revalidate"] {
        assert!(
            shared.storable(&authorised, &none, 200, &cc(allowed)),
            "{allowed}"
        );
    }
}
