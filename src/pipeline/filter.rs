//! `allow` and `deny`, compiled once, as lura's `proxy/formatter.go` applies
//! them.
//!
//! - allow (`AllowlistPrune`): keeps a key when it is an allowed leaf, or when
//!   it is an object whose own pruning keeps something; everything else goes.
//!   Paths are built in config order, so `["a.b", "a"]` keeps all of `a` and
//!   `["a", "a.b"]` keeps only `a.b` (lura's `buildDictPath` does the same).
//! - deny (`newDenylistingFilter`): a tree of any depth (`buildDenyTree`,
//!   `recDelete`). `"a"` removes `a`; `"a.b.c"` removes `c` inside `a.b`
//!   when both are objects (emptied objects stay as `{}`); arrays are not
//!   entered. A shorter path wins over a longer one in either order:
//!   `["a", "a.b"]` and `["a.b", "a"]` both remove all of `a`.

use super::{Object, Value};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    Allow(AllowLevel),
    Deny(DenyLevel),
}

/// The denied keys of one object level.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct DenyLevel {
    keys: Vec<(Box<str>, DenyNode)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DenyNode {
    /// Remove the key and everything under it.
    Remove,
    /// Look inside the object at this key.
    Branch(DenyLevel),
}

/// The allowed keys of one object level.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct AllowLevel {
    /// Bit `min(len, 63)` is set for the length of every key here, so most
    /// keys of a document are turned away by one AND, without comparing text.
    lengths: u64,
    keys: Vec<(Box<str>, AllowNode)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AllowNode {
    Leaf,
    Branch(AllowLevel),
}

fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

impl Filter {
    /// `None` when neither list has entries.
    pub(crate) fn compile(allow: &[String], deny: &[String]) -> Result<Option<Filter>, String> {
        if !allow.is_empty() {
            let mut root = AllowLevel::default();
            for path in allow {
                let segments = split_path("allow", path)?;
                insert_allowed(&mut root, &segments);
            }
            return Ok(Some(Filter::Allow(root)));
        }
        if deny.is_empty() {
            return Ok(None);
        }
        let mut denied = DenyLevel::default();
        for path in deny {
            insert_denied(&mut denied, &split_path("deny", path)?);
        }
        Ok(Some(Filter::Deny(denied)))
    }

    pub(crate) fn apply(&self, object: &mut Object<'_>) {
        match self {
            Filter::Allow(allowed) => {
                prune(allowed, object);
            }
            Filter::Deny(denied) => remove_denied(denied, object),
        }
    }
}

/// Splits a dot path, rejecting empty segments (`"a..b"`, `".a"`, `""`).
pub(crate) fn split_path<'p>(what: &str, path: &'p str) -> Result<Vec<&'p str>, String> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("{what}: invalid path {path:?} (empty segment)"));
    }
    Ok(segments)
}

fn insert_allowed(level: &mut AllowLevel, segments: &[&str]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let index = match level.keys.iter().position(|(k, _)| **k == **first) {
        Some(i) => i,
        None => {
            level.keys.push(((*first).into(), AllowNode::Leaf));
            level.lengths |= length_bit(first.len());
            level.keys.len() - 1
        }
    };
    let node = &mut level.keys[index].1;
    if rest.is_empty() {
        *node = AllowNode::Leaf;
        return;
    }
    if !matches!(node, AllowNode::Branch(_)) {
        *node = AllowNode::Branch(AllowLevel::default());
    }
    if let AllowNode::Branch(children) = node {
        insert_allowed(children, rest);
    }
}

/// lura's `buildDenyTree`: the last segment is removed whole; a path
/// through a key already removed whole adds nothing.
fn insert_denied(level: &mut DenyLevel, segments: &[&str]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let index = match level.keys.iter().position(|(k, _)| **k == **first) {
        Some(i) => i,
        None => {
            let node = if rest.is_empty() {
                DenyNode::Remove
            } else {
                DenyNode::Branch(DenyLevel::default())
            };
            level.keys.push(((*first).into(), node));
            level.keys.len() - 1
        }
    };
    let node = &mut level.keys[index].1;
    if rest.is_empty() {
        *node = DenyNode::Remove;
    } else if let DenyNode::Branch(children) = node {
        insert_denied(children, rest);
    }
}

/// lura's `recDelete`: only objects are entered.
fn remove_denied(denied: &DenyLevel, object: &mut Object<'_>) {
    for (key, node) in &denied.keys {
        match node {
            DenyNode::Remove => {
                object.remove(key.as_ref());
            }
            DenyNode::Branch(children) => {
                if let Some(Value::Object(inner)) = object.get_mut(key.as_ref()) {
                    remove_denied(children, inner);
                }
            }
        }
    }
}

/// Removes what is not allowed; true when nothing is left.
fn prune(allowed: &AllowLevel, object: &mut Object<'_>) -> bool {
    object.retain(|key, value| {
        if allowed.lengths & length_bit(key.len()) == 0 {
            return false;
        }
        match allowed.keys.iter().find(|(k, _)| **k == **key) {
            None => false,
            Some((_, AllowNode::Leaf)) => true,
            Some((_, AllowNode::Branch(children))) => match value {
                Value::Object(inner) => !prune(children, inner),
                _ => false,
            },
        }
    });
    object.is_empty()
}
