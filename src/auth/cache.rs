//! A worker's cache of tokens it already verified, so a client that sends
//! the same token again does not pay for parsing, the signature check and
//! the roles and scopes checks again.
//!
//! Bounded (`capacity` entries of at most [`MAX_CACHED_TOKEN_BYTES`]; the
//! oldest entry goes first; only tokens that passed every check get in), keyed by a
//! hash of the token with the whole token compared on a hit. An entry
//! remembers the validator that accepted the token, the key generation it
//! was checked with, the claims, the time window in which the token is
//! valid (from `nbf`/`iat`/`exp` and the leeway) and the roles/scopes
//! verdict. A hit is only used while that validator's keys are still of the
//! same generation (a rotation re-checks every token), and the caller
//! compares the time with the window on every hit, so an entry is never
//! used past its `exp` or before its `nbf`; an expired entry is dropped
//! when met.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use super::claims::{Claims, Forbidden};

/// Default number of tokens each worker remembers per endpoint.
pub const DEFAULT_CAPACITY: usize = 1024;
/// Longer tokens are verified every time: with the entry count this bounds
/// the cache's memory (8 MiB per endpoint and worker at the default size).
pub const MAX_CACHED_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug)]
struct Entry {
    token: Box<str>,
    verified: Verified,
}

#[derive(Debug)]
pub struct TokenCache {
    capacity: usize,
    /// Per-worker random keys: a client cannot aim tokens at one bucket.
    hasher: ahash::RandomState,
    entries: HashMap<u64, Entry>,
    /// Insertion order, for eviction (may hold hashes already removed).
    order: VecDeque<u64>,
}

/// What is remembered of a verified token.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The validator that accepted it.
    pub validator: usize,
    /// The generation of that validator's keys when it was checked.
    pub generation: u64,
    pub claims: Rc<Claims>,
    /// Seconds since the epoch between which it is valid (leeway included).
    pub valid_from: f64,
    pub valid_until: f64,
    /// The roles and scopes check.
    pub verdict: Result<(), Forbidden>,
}

impl TokenCache {
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            hasher: ahash::RandomState::new(),
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, token: &str) -> Option<&Verified> {
        if self.capacity == 0 {
            return None;
        }
        let entry = self.entries.get(&self.hasher.hash_one(token))?;
        (*entry.token == *token).then_some(&entry.verified)
    }

    pub fn remove(&mut self, token: &str) {
        let hash = self.hasher.hash_one(token);
        if self.entries.get(&hash).is_some_and(|e| *e.token == *token) {
            self.entries.remove(&hash);
        }
    }

    pub fn insert(&mut self, token: &str, verified: Verified) {
        if self.capacity == 0 || token.len() > MAX_CACHED_TOKEN_BYTES {
            return;
        }
        let hash = self.hasher.hash_one(token);
        while self.entries.len() >= self.capacity && !self.entries.contains_key(&hash) {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        let entry = Entry {
            token: token.into(),
            verified,
        };
        if self.entries.insert(hash, entry).is_none() {
            self.order.push_back(hash);
        }
        // Hashes of entries removed on a miss stay in `order`; keep it bounded.
        if self.order.len() > 2 * self.capacity {
            let entries = &self.entries;
            self.order.retain(|h| entries.contains_key(h));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(validator: usize, generation: u64) -> Verified {
        Verified {
            validator,
            generation,
            claims: Rc::new(Claims::new(serde_json::Map::new())),
            valid_from: 0.0,
            valid_until: f64::INFINITY,
            verdict: Ok(()),
        }
    }

    #[test]
    fn bounded_oldest_first() {
        let mut cache = TokenCache::new(2);
        cache.insert("a", verified(0, 1));
        cache.insert("b", verified(0, 1));
        cache.insert("c", verified(1, 2));
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a").is_none());
        let hit = cache.get("c").unwrap();
        assert_eq!((hit.validator, hit.generation), (1, 2));
        cache.remove("b");
        assert!(cache.get("b").is_none());
        for i in 0..100 {
            cache.insert(&format!("t{i}"), verified(0, 1));
            cache.remove(&format!("t{i}"));
        }
        assert!(cache.order.len() <= 4);
    }

    #[test]
    fn long_tokens_are_not_cached() {
        let mut cache = TokenCache::new(4);
        let long = "x".repeat(MAX_CACHED_TOKEN_BYTES + 1);
        cache.insert(&long, verified(0, 1));
        assert!(cache.get(&long).is_none());
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let mut cache = TokenCache::new(0);
        cache.insert("a", verified(0, 1));
        assert!(cache.get("a").is_none());
    }
}
