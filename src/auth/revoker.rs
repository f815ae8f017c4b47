//! `auth/revoker`: KrakenD's rotating bloom filter of revoked tokens
//! (krakend/bloomfilter), one per process, consulted by every
//! `auth/validator` once a token's signature and claims are good.
//!
//! - What is looked up: for each of `token_keys` whose claim is a string,
//!   `"<key>-<value>"` (bloomfilter `krakend/krakend.go`, `RejectToken`);
//!   a hit is a 401, before roles and scopes (krakend-jose
//!   `gin/jose.go`: the rejecter runs right after the claims).
//! - The filter (`rotate/rotate.go`): three bloom filters, previous,
//!   current and next; an element is added to current and next, looked up
//!   in previous and current; every `TTL` seconds previous is dropped,
//!   current becomes previous, next becomes current and a new empty one is
//!   next. So a revocation lasts between two and three TTLs.
//! - Sizes (`bloomfilter.go` `M`, `K`): m = ceil(-n ln p / ln(2)^2) bits,
//!   k = ceil(ln 2 * m / n); positions from the `hash_name` family
//!   (`hasher.go`): `optimal` is FNV-128 double hashing, `default` the first
//!   k of MD5, CRC-64 (ECMA), SHA-1, FNV-64, FNV-128, each giving its sum's
//!   little-endian 64-bit words.
//!
//! Shared by the workers without a lock: the bits are atomics, the
//! rotation a generation counter ([`Filter`]). The bits are allocated on
//! the first revocation, so `check` and an unused revoker cost nothing.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use md5::{Digest, Md5};
use serde_json::Value;
use smallvec::SmallVec;

use super::claims::Claims;
use crate::config::{RevokerHash as HashName, RevokerSettings};

/// One process's revoker: its filter and the claims it looks up.
#[derive(Debug)]
pub struct Revoker {
    pub settings: RevokerSettings,
    filter: Filter,
}

impl Revoker {
    pub fn new(settings: RevokerSettings) -> Revoker {
        let filter = Filter::new(settings.n, settings.p, settings.hash);
        Revoker { settings, filter }
    }

    /// True when one of `token_keys` names a string claim whose
    /// `key-value` is in the filter.
    pub fn rejects(&self, claims: &Claims) -> bool {
        // Nothing revoked yet: no bits to look at (and no hashing).
        if self.filter.slots.get().is_none() {
            return false;
        }
        self.settings.token_keys.iter().any(|key| {
            matches!(claims.object().get(key), Some(Value::String(v)) if self.filter.check(&element(key, v)))
        })
    }

    /// Revokes the tokens whose claim `key` is `value`.
    pub fn revoke(&self, key: &str, value: &str) {
        self.filter.add(&element(key, value));
    }

    /// Whether `key-value` is revoked (the admin endpoint's check).
    pub fn is_revoked(&self, key: &str, value: &str) -> bool {
        self.filter.check(&element(key, value))
    }

    /// Starts the thread that rotates the filter every TTL.
    pub fn start_rotation(self: &Arc<Self>) -> std::io::Result<()> {
        let me = self.clone();
        let ttl = Duration::from_secs(self.settings.ttl);
        std::thread::Builder::new()
            .name("cuttle-revoker".to_owned())
            .spawn(move || {
                // SIGTERM is for the main thread's sigwait (process::signals).
                crate::process::signals::block_termination();
                loop {
                    std::thread::sleep(ttl);
                    me.filter.rotate();
                }
            })
            .map(drop)
    }
}

/// `key-value`, on the stack when short (a `jti` is).
fn element(key: &str, value: &str) -> SmallVec<[u8; 96]> {
    let mut e = SmallVec::with_capacity(key.len() + 1 + value.len());
    e.extend_from_slice(key.as_bytes());
    e.push(b'-');
    e.extend_from_slice(value.as_bytes());
    e
}

/// The process's revoker for `settings`: the one already made for the
/// same settings (a reload keeps its revocations), else a new one.
pub fn shared(settings: &RevokerSettings) -> Arc<Revoker> {
    static SLOT: arc_swap::ArcSwapOption<Revoker> = arc_swap::ArcSwapOption::const_empty();
    if let Some(existing) = SLOT.load_full().filter(|r| &r.settings == settings) {
        return existing;
    }
    let made = Arc::new(Revoker::new(settings.clone()));
    SLOT.store(Some(made.clone()));
    made
}

/// Three bloom filters in a ring. With generation g, slot g%3 is current,
/// (g+1)%3 next and (g+2)%3 previous.
pub struct Filter {
    m: u64,
    k: u64,
    hash: HashName,
    generation: AtomicUsize,
    slots: OnceLock<[Box<[AtomicU64]>; 3]>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("m", &self.m)
            .field("k", &self.k)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl Filter {
    pub fn new(n: u64, p: f64, hash: HashName) -> Filter {
        let m = bits(n, p);
        let k = ((std::f64::consts::LN_2 * m as f64) / n as f64).ceil() as u64;
        Filter {
            m,
            k,
            hash,
            generation: AtomicUsize::new(0),
            slots: OnceLock::new(),
        }
    }

    fn slots(&self) -> &[Box<[AtomicU64]>; 3] {
        self.slots.get_or_init(|| {
            let words = usize::try_from(self.m.div_ceil(64)).unwrap_or(usize::MAX);
            std::array::from_fn(|_| (0..words).map(|_| AtomicU64::new(0)).collect())
        })
    }

    pub fn add(&self, elem: &[u8]) {
        let slots = self.slots();
        let g = self.generation.load(Ordering::SeqCst);
        for bit in self.positions(elem) {
            for slot in [g % 3, (g + 1) % 3] {
                set(&slots[slot], bit);
            }
        }
    }

    pub fn check(&self, elem: &[u8]) -> bool {
        let Some(slots) = self.slots.get() else {
            return false;
        };
        let g = self.generation.load(Ordering::SeqCst);
        let positions = self.positions(elem);
        [(g + 2) % 3, g % 3]
            .iter()
            .any(|&slot| positions.iter().all(|&bit| is_set(&slots[slot], bit)))
    }

    /// Previous is emptied and becomes next: current is then previous and
    /// next current. An element added meanwhile lands in the new current
    /// and next, or (added just before) in the new previous and current.
    pub fn rotate(&self) {
        let Some(slots) = self.slots.get() else {
            return;
        };
        let g = self.generation.load(Ordering::SeqCst);
        for word in slots[(g + 2) % 3].iter() {
            word.store(0, Ordering::Relaxed);
        }
        self.generation.store(g + 1, Ordering::SeqCst);
    }

    /// The bit positions of `elem` (bloomfilter `hasher.go`).
    fn positions(&self, elem: &[u8]) -> SmallVec<[u64; 32]> {
        let words: SmallVec<[u64; 32]> = match self.hash {
            HashName::Optimal => {
                let [a, b] = le_words::<2>(&fnv1_128(elem).to_be_bytes());
                (0..self.k)
                    .map(|i| a.wrapping_add(i.wrapping_mul(b)))
                    .collect()
            }
            HashName::Default => {
                let all: [HashFn; 5] = [
                    |e| le_words::<2>(&Md5::digest(e)).to_vec(),
                    |e| vec![u64::from_le_bytes(crc64_ecma(e).to_be_bytes())],
                    |e| {
                        let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, e);
                        le_words::<2>(d.as_ref()).to_vec()
                    },
                    |e| vec![u64::from_le_bytes(fnv1_64(e).to_be_bytes())],
                    |e| le_words::<2>(&fnv1_128(e).to_be_bytes()).to_vec(),
                ];
                let take = usize::try_from(self.k).unwrap_or(5).min(5);
                all[..take].iter().flat_map(|h| h(elem)).collect()
            }
        };
        words.into_iter().map(|w| w % self.m).collect()
    }
}

/// One hash of bloomfilter's default family: its 64-bit words.
type HashFn = fn(&[u8]) -> Vec<u64>;

/// `M`: ceil(-n ln p / ln(2^ln 2)).
fn bits(n: u64, p: f64) -> u64 {
    let ln2 = std::f64::consts::LN_2;
    ((-(n as f64) * p.ln()) / (2f64.powf(ln2)).ln()).ceil() as u64
}

fn set(words: &[AtomicU64], bit: u64) {
    let (word, mask) = (bit / 64, 1u64 << (bit % 64));
    if let Some(w) = usize::try_from(word).ok().and_then(|i| words.get(i)) {
        w.fetch_or(mask, Ordering::Relaxed);
    }
}

fn is_set(words: &[AtomicU64], bit: u64) -> bool {
    let (word, mask) = (bit / 64, 1u64 << (bit % 64));
    usize::try_from(word)
        .ok()
        .and_then(|i| words.get(i))
        .is_some_and(|w| w.load(Ordering::Relaxed) & mask != 0)
}

/// The first `N` little-endian 64-bit words of `bytes` (Go's `HashWrapper`).
fn le_words<const N: usize>(bytes: &[u8]) -> [u64; N] {
    std::array::from_fn(|i| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    })
}

/// Go's `fnv.New128` (FNV-1).
fn fnv1_128(data: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    data.iter()
        .fold(OFFSET, |h, &b| h.wrapping_mul(PRIME) ^ u128::from(b))
}

/// Go's `fnv.New64` (FNV-1).
fn fnv1_64(data: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf29ce484222325;
    const PRIME: u64 = 0x100000001b3;
    data.iter()
        .fold(OFFSET, |h, &b| h.wrapping_mul(PRIME) ^ u64::from(b))
}

/// Go's `crc64.Checksum` with the ECMA table (reflected polynomial).
fn crc64_ecma(data: &[u8]) -> u64 {
    const POLY: u64 = 0xC96C5795D7870F42;
    let mut crc = !0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_go_formulas() {
        // KrakenD's documented example: N 10,000,000, P 0.0000001.
        let f = Filter::new(10_000_000, 0.0000001, HashName::Optimal);
        assert_eq!((f.m, f.k), (335_477_044, 24));
        let f = Filter::new(100, 0.001, HashName::Default);
        assert_eq!((f.m, f.k), (1438, 10));
    }

    #[test]
    fn hashes_match_go() {
        // Go: fnv.New64().Sum64 / crc64.Checksum(ECMA) of "hello".
        assert_eq!(fnv1_64(b"hello"), 0x7b495389bdbdd4c7);
        assert_eq!(crc64_ecma(b"123456789"), 0x995dc9bbdf1939fa);
        assert_eq!(
            fnv1_128(b""),
            0x6c62272e07bb014262b821756295c58d,
            "the offset basis"
        );
    }

    #[test]
    fn added_elements_are_found_for_two_to_three_rotations() {
        for hash in [HashName::Default, HashName::Optimal] {
            let f = Filter::new(1000, 0.0001, hash);
            assert!(!f.check(b"jti-a"));
            f.add(b"jti-a");
            assert!(f.check(b"jti-a"));
            assert!(!f.check(b"jti-b"));
            f.rotate();
            assert!(f.check(b"jti-a"), "in previous and current");
            f.add(b"jti-b");
            f.rotate();
            assert!(f.check(b"jti-a"), "in previous (the next it was added to)");
            f.rotate();
            assert!(!f.check(b"jti-a"), "gone after three rotations");
            assert!(f.check(b"jti-b"));
            f.rotate();
            assert!(!f.check(b"jti-b"));
        }
    }
}
