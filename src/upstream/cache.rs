//! `qos/http-cache`: backend responses kept in memory and reused while
//! fresh, as krakend-httpcache does with its fork of gregjones/httpcache
//! (`github.com/krakend/httpcache` `httpcache.go`, `Transport.RoundTrip`),
//! bounded by `github.com/krakend/lru` when `max_items` and `max_size` are
//! both set (krakend-httpcache `http.go`, `selectCache`).
//!
//! Per worker: each worker has its own stores (shared-nothing), so the
//! bounds hold per worker and a process holds at most workers × bound. A
//! backend without `shared` has a store of its own; the backends with
//! `shared: true` use one store of the worker (the first such backend's
//! bounds, as KrakenD's `globalLruCache`; unbounded ones another).
//!
//! What is stored is the response as the decoder needs it (status,
//! Content-Type, the body already un-gzipped) plus the fields freshness
//! and validation read, so a hit goes through the same decoding and
//! manipulation as a miss. Where cuttle departs from httpcache (docs/http-cache.md):
//! only 2xx answers but 206 are stored (httpcache stores any status that
//! is not `no-store`); a shared store (`shared: true`) also follows the
//! rules of a shared cache (`private` not stored, `s-maxage` read, a
//! request with Authorization reused only when the response allows it);
//! `Vary: *` is never stored; directive names are case-insensitive.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use ahash::AHashMap;

use super::client::fetch as plain_fetch;
use super::client::{Request, Response, gunzip, open};
use super::error::BackendError;
use super::pool::{Pool, Pools};
use crate::http::Method;

pub use crate::config::HttpCacheSettings as CacheSettings;

/// What one cached call did, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Answered from the store, no backend request.
    Hit,
    /// A stale entry the backend confirmed (304).
    Revalidated,
    /// The backend answered in full.
    Miss,
}

/// The stores of one worker that `shared: true` backends use.
#[derive(Default)]
pub struct SharedCaches {
    bounded: RefCell<Option<Rc<HttpCache>>>,
    unbounded: RefCell<Option<Rc<HttpCache>>>,
}

impl SharedCaches {
    /// The store for a backend configured with `settings`.
    pub fn store_for(&self, settings: &CacheSettings) -> Rc<HttpCache> {
        if !settings.shared {
            return Rc::new(HttpCache::new(*settings));
        }
        let slot = if settings.bounds().is_some() {
            &self.bounded
        } else {
            &self.unbounded
        };
        slot.borrow_mut()
            .get_or_insert_with(|| Rc::new(HttpCache::new(*settings)))
            .clone()
    }
}

/// One store: a map from key (method, backend URL) to entry, least
/// recently used first out when over a bound.
pub struct HttpCache {
    shared: bool,
    bounds: Option<(usize, usize)>,
    store: RefCell<Store>,
}

/// A stored response and what freshness and validation need of it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub status: u16,
    pub content_type: Option<Box<[u8]>>,
    pub body: Vec<u8>,
    pub cache_control: Directives,
    /// `Date`, Unix seconds.
    pub date: Option<i64>,
    /// `Expires`: `Some(None)` when present and unparsable (already expired).
    pub expires: Option<Option<i64>>,
    pub etag: Option<Box<[u8]>>,
    pub last_modified: Option<Box<[u8]>>,
    /// The request's value of each header `Vary` names (lower-case name).
    pub varied: Vec<Varied>,
}

impl Entry {
    /// Bytes counted against `max_size`: about the dumped response's size
    /// (what krakend/lru counts).
    fn size(&self) -> usize {
        let opt = |v: &Option<Box<[u8]>>| v.as_ref().map_or(0, |v| v.len());
        64 + self.body.len()
            + opt(&self.content_type)
            + opt(&self.etag)
            + opt(&self.last_modified)
            + self
                .varied
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>()
    }

    /// The stored answer, as `fetch` returns it (the body copied: the
    /// decoder parses it in place).
    pub fn response(&self) -> Response {
        Response {
            status: self.status,
            content_type: self.content_type.clone(),
            body: self.body.clone(),
        }
    }
}

/// A header name `Vary` lists (lower-case) and the request's value.
pub type Varied = (Box<[u8]>, Box<[u8]>);

/// The Cache-Control directives httpcache reads. A value that is not a
/// number of seconds counts as 0 (Go's `time.ParseDuration` failing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    pub no_cache: bool,
    pub no_store: bool,
    pub private: bool,
    pub public: bool,
    pub must_revalidate: bool,
    pub only_if_cached: bool,
    pub max_age: Option<i64>,
    pub s_maxage: Option<i64>,
    pub min_fresh: Option<i64>,
    /// `Some(None)`: `max-stale` without a value (any staleness).
    pub max_stale: Option<Option<i64>>,
    pub stale_if_error: Option<Option<i64>>,
}

impl Directives {
    pub fn parse(value: Option<&[u8]>) -> Directives {
        let mut d = Directives::default();
        let Some(value) = value else { return d };
        for part in value.split(|&b| b == b',') {
            let part = part.trim_ascii();
            let (name, arg) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (part[..i].trim_ascii(), Some(part[i + 1..].trim_ascii())),
                None => (part, None),
            };
            let secs = || arg.map_or(0, seconds);
            let lower = name.to_ascii_lowercase();
            match &lower[..] {
                b"no-cache" => d.no_cache = true,
                b"no-store" => d.no_store = true,
                b"private" => d.private = true,
                b"public" => d.public = true,
                b"must-revalidate" => d.must_revalidate = true,
                b"only-if-cached" => d.only_if_cached = true,
                b"max-age" => d.max_age = Some(secs()),
                b"s-maxage" => d.s_maxage = Some(secs()),
                b"min-fresh" => d.min_fresh = arg.map(seconds),
                b"max-stale" => d.max_stale = Some(arg.filter(|a| !a.is_empty()).map(seconds)),
                b"stale-if-error" => {
                    d.stale_if_error = Some(arg.filter(|a| !a.is_empty()).map(seconds))
                }
                _ => {}
            }
        }
        d
    }
}

fn seconds(text: &[u8]) -> i64 {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(0)
}

/// An HTTP date (IMF-fixdate, as Go's `time.RFC1123` reads it) in Unix
/// seconds.
pub fn http_date(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    chrono::DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|t| t.timestamp())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    /// Ask the backend, with validators.
    Stale,
    /// Ask the backend as if nothing were stored (`no-cache` request).
    Transparent,
}

/// httpcache's `getFreshness`, with `now` in Unix milliseconds; `shared`
/// lets `s-maxage` override `max-age`.
pub fn freshness(entry: &Entry, req: &Directives, shared: bool, now_ms: i64) -> Freshness {
    let resp = &entry.cache_control;
    if req.no_cache {
        return Freshness::Transparent;
    }
    if resp.no_cache {
        return Freshness::Stale;
    }
    if req.only_if_cached {
        return Freshness::Fresh;
    }
    // httpcache: without a Date the age is unknown, so the entry is stale.
    let Some(date) = entry.date else {
        return Freshness::Stale;
    };
    let mut age = now_ms - date * 1000;
    let mut lifetime = match (resp.s_maxage.filter(|_| shared), resp.max_age) {
        (Some(s), _) => s * 1000,
        (None, Some(max_age)) => max_age * 1000,
        (None, None) => match entry.expires {
            Some(Some(expires)) => (expires - date) * 1000,
            _ => 0,
        },
    };
    if let Some(max_age) = req.max_age {
        lifetime = max_age * 1000;
    }
    if let Some(min_fresh) = req.min_fresh {
        age += min_fresh * 1000;
    }
    match req.max_stale {
        Some(None) => return Freshness::Fresh,
        Some(Some(max_stale)) => age -= max_stale * 1000,
        None => {}
    }
    if lifetime > age {
        Freshness::Fresh
    } else {
        Freshness::Stale
    }
}

/// httpcache's `canStaleOnError` (RFC 5861 `stale-if-error`).
fn stale_on_error(entry: &Entry, req: &Directives, now_ms: i64) -> bool {
    let mut lifetime = None;
    for d in [&entry.cache_control, req] {
        match d.stale_if_error {
            Some(None) => return true,
            Some(Some(secs)) => lifetime = Some(secs * 1000),
            None => {}
        }
    }
    match (lifetime, entry.date) {
        (Some(lifetime), Some(date)) => lifetime > now_ms - date * 1000,
        _ => false,
    }
}

/// The wall clock (a `Date` is compared with it) in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The value of header `name` in a block of `Name: value\r\n` lines.
fn request_header<'h>(headers: &'h [u8], name: &[u8]) -> Option<&'h [u8]> {
    headers.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        line[..colon]
            .trim_ascii()
            .eq_ignore_ascii_case(name)
            .then(|| line[colon + 1..].trim_ascii())
    })
}

impl HttpCache {
    pub fn new(settings: CacheSettings) -> HttpCache {
        HttpCache {
            shared: settings.shared,
            bounds: settings.bounds(),
            store: RefCell::new(Store::default()),
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.store.borrow().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry under `key` (now the most recently used), a copy.
    pub fn get(&self, key: &[u8]) -> Option<Rc<Entry>> {
        self.store.borrow_mut().get(key)
    }

    /// Stores `entry` under `key`, evicting the least recently used
    /// entries while over a bound. An entry as large as `max_size` is not
    /// stored (krakend/lru `Set`).
    pub fn insert(&self, key: &[u8], entry: Entry) {
        let size = entry.size() + key.len();
        let mut store = self.store.borrow_mut();
        if let Some((_, max_size)) = self.bounds
            && size >= max_size
        {
            store.remove(key);
            return;
        }
        store.insert(key, Rc::new(entry), size);
        if let Some((max_items, max_size)) = self.bounds {
            while store.map.len() > max_items || store.in_use > max_size {
                store.evict_oldest();
            }
        }
    }

    /// The entry under `key` that matches the request's `headers` (its
    /// `Vary`), and how fresh it is for a request with `req_cc` at `now_ms`
    /// (Unix milliseconds): the whole of a hit but copying the body out.
    pub fn lookup(
        &self,
        key: &[u8],
        headers: &[u8],
        req_cc: &Directives,
        now_ms: i64,
    ) -> Option<(Rc<Entry>, Freshness)> {
        let entry = self.get(key).filter(|e| vary_matches(e, headers))?;
        let fresh = freshness(&entry, req_cc, self.shared, now_ms);
        Some((entry, fresh))
    }

    pub fn remove(&self, key: &[u8]) {
        self.store.borrow_mut().remove(key);
    }

    /// Whether the response to `req` (its Cache-Control `req_cc`) with
    /// `status` and `resp_cc` may be stored.
    fn storable(
        &self,
        req: &Request<'_>,
        req_cc: &Directives,
        status: u16,
        resp_cc: &Directives,
    ) -> bool {
        if resp_cc.no_store || req_cc.no_store || !(200..300).contains(&status) || status == 206 {
            return false;
        }
        if self.shared {
            // RFC 9111 §3: a shared cache stores no `private` response, and
            // §3.5: one to a request with credentials only when allowed.
            if resp_cc.private {
                return false;
            }
            if request_header(req.headers, b"authorization").is_some()
                && !(resp_cc.public || resp_cc.s_maxage.is_some() || resp_cc.must_revalidate)
            {
                return false;
            }
        }
        true
    }
}

/// The start-up line on what the `qos/http-cache` stores may hold: each
/// worker builds the same stores (`SharedCaches::store_for`), so a process
/// holds `workers` times one worker's bounds. `settings`: every backend's
/// `qos/http-cache`, in configuration order. `None` without any.
pub fn process_bounds<'a>(
    settings: impl Iterator<Item = &'a CacheSettings>,
    workers: usize,
) -> Option<String> {
    let mut stores = 0;
    let mut unbounded = 0;
    let (mut items, mut bytes) = (0usize, 0usize);
    let (mut shared_bounded, mut shared_unbounded) = (false, false);
    for settings in settings {
        let bounds = settings.bounds();
        if settings.shared {
            let seen = if bounds.is_some() {
                &mut shared_bounded
            } else {
                &mut shared_unbounded
            };
            if std::mem::replace(seen, true) {
                continue;
            }
        }
        stores += 1;
        match bounds {
            Some((i, b)) => {
                items = items.saturating_add(i);
                bytes = bytes.saturating_add(b);
            }
            None => unbounded += 1,
        }
    }
    if stores == 0 {
        return None;
    }
    let mut line = format!(
        "qos/http-cache: {stores} store(s) per worker, {workers} worker(s): at most {} entries and {} bytes per worker, {} entries and {} bytes per process",
        items,
        bytes,
        items.saturating_mul(workers),
        bytes.saturating_mul(workers),
    );
    if unbounded > 0 {
        line.push_str(&format!(
            ", plus {unbounded} unbounded store(s) per worker (no max_items and max_size)"
        ));
    }
    Some(line)
}

/// `fetch` through `cache` when the backend has one: a fresh stored answer
/// is returned without a request; a stale one is revalidated; a complete
/// 2xx answer is stored. `on_lookup` learns which (not called for calls the
/// cache does not take: methods other than GET and HEAD, Range requests).
#[allow(clippy::too_many_arguments)]
pub async fn fetch(
    cache: Option<&HttpCache>,
    pools: &Pools,
    pool: &Rc<Pool>,
    base_url: &str,
    req: &Request<'_>,
    max_body: usize,
    scratch: &mut Vec<u8>,
    on_lookup: impl FnOnce(Lookup),
) -> Result<Response, BackendError> {
    let Some(cache) = cache else {
        return plain_fetch(pools, pool, req, max_body, scratch).await;
    };
    // Boxed: the cache's state must not grow every backend call's future.
    let cached = cached_fetch(
        cache, pools, pool, base_url, req, max_body, scratch, on_lookup,
    );
    Box::pin(cached).await
}

#[allow(clippy::too_many_arguments)]
async fn cached_fetch(
    cache: &HttpCache,
    pools: &Pools,
    pool: &Rc<Pool>,
    base_url: &str,
    req: &Request<'_>,
    max_body: usize,
    scratch: &mut Vec<u8>,
    on_lookup: impl FnOnce(Lookup),
) -> Result<Response, BackendError> {
    // httpcache `RoundTrip`: `cacheable`.
    if !matches!(req.method, Method::Get | Method::Head)
        || request_header(req.headers, b"range").is_some()
    {
        return plain_fetch(pools, pool, req, max_body, scratch).await;
    }
    let key = cache_key(req.method, base_url, req.path_and_query);
    let req_cc = Directives::parse(request_header(req.headers, b"cache-control"));
    let now = now_ms();
    let cached = cache.lookup(&key, req.headers, &req_cc, now);
    let mut validators = Vec::new();
    if let Some((entry, fresh)) = &cached {
        match fresh {
            Freshness::Fresh => {
                on_lookup(Lookup::Hit);
                return Ok(entry.response());
            }
            Freshness::Stale => {
                if let Some(etag) = &entry.etag {
                    push_header(&mut validators, b"If-None-Match", etag);
                }
                if let Some(lm) = &entry.last_modified {
                    push_header(&mut validators, b"If-Modified-Since", lm);
                }
            }
            Freshness::Transparent => {}
        }
    } else if req_cc.only_if_cached {
        on_lookup(Lookup::Miss);
        return Ok(Response {
            status: 504,
            content_type: None,
            body: Vec::new(),
        });
    }
    let mut headers;
    let sent = if validators.is_empty() {
        *req
    } else {
        headers = Vec::with_capacity(req.headers.len() + validators.len());
        headers.extend_from_slice(req.headers);
        headers.extend_from_slice(&validators);
        Request {
            headers: &headers,
            ..*req
        }
    };
    let result = exchange(pools, pool, &sent, max_body, scratch).await;
    match (result, cached.map(|(entry, _)| entry)) {
        (Ok((resp, fields)), Some(entry)) if resp.status == 304 => {
            // The stored answer, with the 304's fields (httpcache copies its
            // end-to-end headers over the cached ones).
            let mut entry = (*entry).clone();
            fields.refresh(&mut entry);
            let response = entry.response();
            if cache.storable(req, &req_cc, entry.status, &entry.cache_control) {
                cache.insert(&key, entry);
            } else {
                cache.remove(&key);
            }
            on_lookup(Lookup::Revalidated);
            Ok(response)
        }
        (result, Some(entry))
            if result.as_ref().map_or(true, |(r, _)| r.status >= 500)
                && stale_on_error(&entry, &req_cc, now) =>
        {
            on_lookup(Lookup::Hit);
            Ok(entry.response())
        }
        (Err(error), _) => {
            cache.remove(&key);
            on_lookup(Lookup::Miss);
            Err(error)
        }
        (Ok((resp, fields)), _) => {
            on_lookup(Lookup::Miss);
            let vary_star = fields.vary.iter().any(|n| &n[..] == b"*");
            if !vary_star && cache.storable(req, &req_cc, resp.status, &fields.cache_control) {
                let varied = fields
                    .vary
                    .iter()
                    .map(|name| {
                        let value = request_header(req.headers, name).unwrap_or_default();
                        (name.clone(), Box::from(value))
                    })
                    .collect();
                cache.insert(
                    &key,
                    Entry {
                        status: resp.status,
                        content_type: resp.content_type.clone(),
                        body: resp.body.clone(),
                        cache_control: fields.cache_control,
                        date: fields.date,
                        expires: fields.expires,
                        etag: fields.etag,
                        last_modified: fields.last_modified,
                        varied,
                    },
                );
            } else {
                cache.remove(&key);
            }
            Ok(resp)
        }
    }
}

/// httpcache's key: the URL for GET, the method and the URL otherwise.
pub fn cache_key(method: Method, base_url: &str, target: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + base_url.len() + target.len());
    if method != Method::Get {
        key.extend_from_slice(method.as_str().as_bytes());
        key.push(b' ');
    }
    key.extend_from_slice(base_url.trim_end_matches('/').as_bytes());
    key.extend_from_slice(target);
    key
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// httpcache's `varyMatches`: each header the stored response varies on
/// has the same value in this request (absent counts as empty).
fn vary_matches(entry: &Entry, headers: &[u8]) -> bool {
    entry
        .varied
        .iter()
        .all(|(name, value)| request_header(headers, name).unwrap_or_default() == &value[..])
}

/// The response fields the cache reads.
#[derive(Debug, Default)]
struct Fields {
    cache_control: Directives,
    cache_control_present: bool,
    date: Option<i64>,
    expires: Option<Option<i64>>,
    etag: Option<Box<[u8]>>,
    last_modified: Option<Box<[u8]>>,
    /// Lower-case names listed in every `Vary` field.
    vary: Vec<Box<[u8]>>,
}

impl Fields {
    /// Updates a stored entry with a 304's fields.
    fn refresh(self, entry: &mut Entry) {
        if self.cache_control_present {
            entry.cache_control = self.cache_control;
        }
        if self.date.is_some() {
            entry.date = self.date;
        }
        if self.expires.is_some() {
            entry.expires = self.expires;
        }
        if self.etag.is_some() {
            entry.etag = self.etag;
        }
        if self.last_modified.is_some() {
            entry.last_modified = self.last_modified;
        }
    }
}

/// `client::fetch`, also keeping the fields the cache reads.
async fn exchange(
    pools: &Pools,
    pool: &Rc<Pool>,
    req: &Request<'_>,
    max_body: usize,
    scratch: &mut Vec<u8>,
) -> Result<(Response, Fields), BackendError> {
    let mut conn = open(pools, pool, req, scratch).await?;
    let (head, buf) = (conn.head(), conn.head_bytes());
    let field = |name: &str| head.header(buf, name);
    let cache_control = field("cache-control");
    let fields = Fields {
        cache_control: Directives::parse(cache_control),
        cache_control_present: cache_control.is_some(),
        date: field("date").and_then(http_date),
        expires: field("expires").map(http_date),
        etag: field("etag").map(Box::from),
        last_modified: field("last-modified").map(Box::from),
        vary: head
            .headers
            .iter()
            .filter(|h| h.name.of(buf).eq_ignore_ascii_case(b"vary"))
            .flat_map(|h| h.value.of(buf).split(|&b| b == b','))
            .map(|n| n.trim_ascii().to_ascii_lowercase().into_boxed_slice())
            .filter(|n| !n.is_empty())
            .collect(),
    };
    let content_type = field("content-type").map(Box::from);
    let gzipped = field("content-encoding")
        .is_some_and(|c| c.eq_ignore_ascii_case(b"gzip") || c.eq_ignore_ascii_case(b"x-gzip"));
    let (status, framing, keep_alive) = (head.status, head.body, head.keep_alive);
    conn.consume_head();
    let mut body = Vec::new();
    conn.read_body(&framing, max_body, &mut body).await?;
    conn.finish(keep_alive);
    if gzipped {
        body = gunzip(&body, max_body)?;
    }
    Ok((
        Response {
            status,
            content_type,
            body,
        },
        fields,
    ))
}

// ---- the store: a map into a slab linked in recency order ----

const NONE: usize = usize::MAX;

struct Node {
    key: Box<[u8]>,
    entry: Rc<Entry>,
    size: usize,
    /// Towards the most recently used.
    prev: usize,
    /// Towards the least recently used.
    next: usize,
}

#[derive(Default)]
struct Store {
    map: AHashMap<Box<[u8]>, usize>,
    nodes: Vec<Option<Node>>,
    free: Vec<usize>,
    head: Option<usize>,
    tail: Option<usize>,
    in_use: usize,
}

impl Store {
    fn node(&mut self, i: usize) -> &mut Node {
        self.nodes[i].as_mut().expect("linked node")
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = {
            let n = self.node(i);
            (n.prev, n.next)
        };
        if prev == NONE {
            self.head = (next != NONE).then_some(next);
        } else {
            self.node(prev).next = next;
        }
        if next == NONE {
            self.tail = (prev != NONE).then_some(prev);
        } else {
            self.node(next).prev = prev;
        }
    }

    fn push_front(&mut self, i: usize) {
        let old = self.head.unwrap_or(NONE);
        {
            let n = self.node(i);
            n.prev = NONE;
            n.next = old;
        }
        if old != NONE {
            self.node(old).prev = i;
        } else {
            self.tail = Some(i);
        }
        self.head = Some(i);
    }

    fn get(&mut self, key: &[u8]) -> Option<Rc<Entry>> {
        let i = *self.map.get(key)?;
        self.unlink(i);
        self.push_front(i);
        Some(self.node(i).entry.clone())
    }

    fn insert(&mut self, key: &[u8], entry: Rc<Entry>, size: usize) {
        self.remove(key);
        let node = Node {
            key: key.into(),
            entry,
            size,
            prev: NONE,
            next: NONE,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = Some(node);
                i
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        };
        self.map.insert(key.into(), i);
        self.in_use += size;
        self.push_front(i);
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(i) = self.map.remove(key) {
            self.release(i);
        }
    }

    fn evict_oldest(&mut self) {
        if let Some(i) = self.tail {
            let key = self.node(i).key.clone();
            self.map.remove(&key);
            self.release(i);
        }
    }

    fn release(&mut self, i: usize) {
        self.unlink(i);
        let node = self.nodes[i].take().expect("linked node");
        self.in_use -= node.size;
        self.free.push(i);
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
