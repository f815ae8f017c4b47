//! A bounded least-recently-used map from byte keys to a `bool`, for one
//! worker (no locks: it lives in a `RefCell`). Entries sit in a slab linked
//! in recency order, so a hit or an eviction moves indices, never entries,
//! and once full no insertion allocates except for its key.

use std::rc::Rc;

use ahash::AHashMap;

const NONE: u32 = u32::MAX;

struct Node {
    key: Rc<[u8]>,
    value: bool,
    /// Towards the most recently used.
    prev: u32,
    /// Towards the least recently used.
    next: u32,
}

pub struct Lru {
    map: AHashMap<Rc<[u8]>, u32>,
    nodes: Vec<Node>,
    /// Most recently used.
    head: u32,
    /// Least recently used: the next to go.
    tail: u32,
    capacity: usize,
}

impl Lru {
    /// `capacity` is at least 1 (and below `u32::MAX`).
    pub fn new(capacity: usize) -> Lru {
        let capacity = capacity.clamp(1, NONE as usize - 1);
        Lru {
            map: AHashMap::with_capacity(capacity.min(4096)),
            nodes: Vec::with_capacity(capacity.min(4096)),
            head: NONE,
            tail: NONE,
            capacity,
        }
    }

    /// Entries held (for the callers' tests and benches).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The value for `key`, which becomes the most recently used.
    pub fn get(&mut self, key: &[u8]) -> Option<bool> {
        let index = *self.map.get(key)?;
        self.unlink(index);
        self.push_front(index);
        Some(self.nodes[index as usize].value)
    }

    /// Inserts `key` (not present) as the most recently used, evicting the
    /// least recently used entry when full.
    pub fn insert(&mut self, key: &[u8], value: bool) {
        let key: Rc<[u8]> = Rc::from(key);
        let index = if self.nodes.len() < self.capacity {
            self.nodes.push(Node {
                key: key.clone(),
                value,
                prev: NONE,
                next: NONE,
            });
            (self.nodes.len() - 1) as u32
        } else {
            let index = self.tail;
            self.unlink(index);
            let node = &mut self.nodes[index as usize];
            self.map.remove(&node.key);
            node.key = key.clone();
            node.value = value;
            index
        };
        self.map.insert(key, index);
        self.push_front(index);
    }

    fn unlink(&mut self, index: u32) {
        let (prev, next) = {
            let node = &self.nodes[index as usize];
            (node.prev, node.next)
        };
        match prev {
            NONE => self.head = next,
            p => self.nodes[p as usize].next = next,
        }
        match next {
            NONE => self.tail = prev,
            n => self.nodes[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, index: u32) {
        let old_head = self.head;
        {
            let node = &mut self.nodes[index as usize];
            node.prev = NONE;
            node.next = old_head;
        }
        match old_head {
            NONE => self.tail = index,
            h => self.nodes[h as usize].prev = index,
        }
        self.head = index;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut lru = Lru::new(2);
        lru.insert(b"a", true);
        lru.insert(b"b", false);
        assert_eq!(lru.get(b"a"), Some(true));
        lru.insert(b"c", true);
        assert_eq!(lru.get(b"b"), None);
        assert_eq!(lru.get(b"a"), Some(true));
        assert_eq!(lru.get(b"c"), Some(true));
        assert_eq!(lru.len(), 2);
        lru.insert(b"d", false);
        assert_eq!(lru.get(b"a"), None);
        assert_eq!(lru.get(b"d"), Some(false));
    }

    #[test]
    fn capacity_one_and_many_rounds() {
        let mut lru = Lru::new(0);
        lru.insert(b"x", true);
        lru.insert(b"y", false);
        assert_eq!(
            (lru.get(b"x"), lru.get(b"y"), lru.len()),
            (None, Some(false), 1)
        );
        let mut lru = Lru::new(8);
        for round in 0..100u32 {
            let key = round.to_le_bytes();
            lru.insert(&key, round % 2 == 0);
            assert!(lru.len() <= 8);
        }
        for round in 92..100u32 {
            assert_eq!(lru.get(&round.to_le_bytes()), Some(round % 2 == 0));
        }
        assert_eq!(lru.get(&91u32.to_le_bytes()), None);
        assert_eq!(lru.map.len(), 8);
    }
}
