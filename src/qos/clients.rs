//! One token bucket per client, in a map whose size is bounded so that a
//! flood of new client keys (spoofed headers, many IPs) cannot grow memory
//! without limit.
//!
//! Keys are stored as a keyed 64-bit hash (SipHash with a per-limiter random
//! key), not as text: an entry costs 16 bytes whatever the key's length
//! (an `Authorization` header can be kilobytes), nothing is allocated per
//! new client, and an attacker cannot aim for collisions without the key.
//! Two honest clients share a bucket with probability about n²/2⁶⁵.
//!
//! Eviction is generational: entries live in `young` until it holds half
//! the cap, then `young` becomes `old` and the previous `old` is dropped.
//! A key used at least once per generation is moved to `young` and is never
//! evicted; one idle for a whole generation is. Every operation is O(1)
//! amortised, with no scan over entries. Forgetting a full bucket changes
//! nothing (a new one is full too); forgetting a partly used one gives that
//! client a fresh burst, which is the only cost of the bound.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};

use super::bucket::{Rate, TokenBucket};

/// Default bound on client buckets per limiter per worker (about 1 MiB).
pub const DEFAULT_MAX_CLIENTS: usize = 65_536;

#[derive(Debug)]
pub struct ClientLimiter {
    rate: Rate,
    /// Half the bound: the size at which generations turn over.
    generation_size: usize,
    keys: RandomState,
    young: HashMap<u64, TokenBucket>,
    old: HashMap<u64, TokenBucket>,
}

impl ClientLimiter {
    /// `max_clients` buckets at most (at least 2), each refilled at `rate`.
    pub fn new(rate: Rate, max_clients: usize) -> ClientLimiter {
        ClientLimiter {
            rate,
            generation_size: (max_clients / 2).max(1),
            keys: RandomState::new(),
            young: HashMap::new(),
            old: HashMap::new(),
        }
    }

    /// Takes a token from `client`'s bucket (a new client starts full).
    /// Any hashable key works: an `IpAddr`, header bytes, a path param.
    pub fn try_take<K: Hash + ?Sized>(&mut self, client: &K, now: u64) -> bool {
        let id = self.keys.hash_one(client);
        let rate = self.rate;
        if let Some(bucket) = self.young.get_mut(&id) {
            return bucket.try_take(&rate, now);
        }
        let mut bucket = self
            .old
            .remove(&id)
            .unwrap_or_else(|| TokenBucket::full_at(now));
        let admitted = bucket.try_take(&rate, now);
        if self.young.len() >= self.generation_size {
            self.old = std::mem::take(&mut self.young);
            // Drop buckets that are full again: they equal new ones.
            self.old.retain(|_, b| !b.is_full(now));
        }
        self.young.insert(id, bucket);
        admitted
    }

    /// Buckets currently held (never more than the bound).
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }
}

#[cfg(test)]
#[path = "clients_tests.rs"]
mod tests;
