//! `flatmap_filter` operations, with KrakenD's semantics (krakend/flatmap
//! `tree/tree.go` and `tree/node.go`) applied directly to the document
//! instead of through a flattened tree.
//!
//! - `del a.b`, `del a.*.b`, `del a.*`: removes matching children; `*`
//!   matches every element of an array or every key of an object.
//! - `move src dst`:
//!   * same depth: the last segment of `src` is renamed to the last segment
//!     of `dst` under every parent matching `src`'s prefix (the rest of `dst`
//!     is ignored, as in KrakenD); a rename over an existing key replaces it;
//!   * shorter `dst` (promotion): each match is attached at `dst`, with `*`
//!     in `dst` standing for the matching source element; the walk stops at
//!     the first missing step and attaches there (KrakenD does the same);
//!   * longer `dst` (embedding): each match is attached under its own parent
//!     at the tail of `dst` past `src`'s prefix, creating objects as needed.
//! - `append src dst`: the items of `src` (or `src` itself when it is not an
//!   array) are added at the end of the array `dst`, and `src` is removed; a
//!   missing `dst` receives them as a new array, a non-array `dst` becomes
//!   `[dst, items...]`. Wildcards are not supported in `append`.
//!
//! As in KrakenD's tree, a container whose last child an operation removed
//! renders as `null` (the tree node has no edges and no value left). A
//! document root left that way becomes `{}` instead (KrakenD would have no
//! map at all).

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::config::FlatmapOp;

use super::{Value, filter::split_path, new_object};

const WILDCARD: &str = "*";

type Path = SmallVec<[Box<str>; 4]>;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Move { from: Path, to: Path },
    Del { path: Path },
    Append { from: Path, to: Path },
}

/// Compiled `flatmap_filter` operations, applied in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flatmap {
    ops: Vec<Op>,
}

impl Flatmap {
    pub fn compile(ops: &[FlatmapOp]) -> Result<Flatmap, String> {
        let path = |what: &str, text: &str| -> Result<Path, String> {
            Ok(split_path(what, text)?.into_iter().map(Box::from).collect())
        };
        let ops = ops
            .iter()
            .map(|op| {
                Ok(match op {
                    FlatmapOp::Move { from, to } => Op::Move {
                        from: path("flatmap_filter move", from)?,
                        to: path("flatmap_filter move", to)?,
                    },
                    FlatmapOp::Del { path: p } => Op::Del {
                        path: path("flatmap_filter del", p)?,
                    },
                    FlatmapOp::Append { from, to } => {
                        let from = path("flatmap_filter append", from)?;
                        let to = path("flatmap_filter append", to)?;
                        if from.iter().chain(to.iter()).any(|s| &**s == WILDCARD) {
                            return Err(format!(
                                "flatmap_filter append: wildcards are not supported ({from:?} -> {to:?})",
                                from = from.join("."),
                                to = to.join(".")
                            ));
                        }
                        Op::Append { from, to }
                    }
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Flatmap { ops })
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn apply<'a>(&self, value: &mut Value<'a>) {
        for op in &self.ops {
            match op {
                Op::Del { path } => delete(value, path),
                Op::Move { from, to } => move_values(value, from, to),
                Op::Append { from, to } => append(value, from, to),
            }
        }
        if !matches!(value, Value::Object(_)) {
            *value = Value::Object(Box::new(new_object(0)));
        }
    }
}

fn has_children(value: &Value<'_>) -> bool {
    match value {
        Value::Object(o) => !o.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn child<'v, 'a>(value: &'v Value<'a>, label: &str) -> Option<&'v Value<'a>> {
    match value {
        Value::Object(o) => o.get(label),
        Value::Array(a) => label.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

fn child_mut<'v, 'a>(value: &'v mut Value<'a>, label: &str) -> Option<&'v mut Value<'a>> {
    match value {
        Value::Object(o) => o.get_mut(label),
        Value::Array(a) => label.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    }
}

fn at_mut<'v, 'a>(value: &'v mut Value<'a>, path: &[Box<str>]) -> Option<&'v mut Value<'a>> {
    path.iter()
        .try_fold(value, |node, label| child_mut(node, label))
}

fn take_child<'a>(value: &mut Value<'a>, label: &str) -> Option<Value<'a>> {
    match value {
        Value::Object(o) => o.remove(label),
        Value::Array(a) => {
            let i = label.parse::<usize>().ok().filter(|i| *i < a.len())?;
            Some(a.remove(i))
        }
        _ => None,
    }
}

/// Labels of a node's children: object keys or array indices.
fn labels(value: &Value<'_>) -> Vec<Box<str>> {
    match value {
        Value::Object(o) => o.keys().map(|k| Box::from(k.as_ref())).collect(),
        Value::Array(a) => (0..a.len()).map(|i| Box::from(i.to_string())).collect(),
        _ => Vec::new(),
    }
}

/// A tree node that lost all its children renders as null in KrakenD.
fn null_if_emptied(value: &mut Value<'_>) {
    if !has_children(value) {
        *value = Value::Static(simd_json::StaticNode::Null);
    }
}

/// Adds `item` as a child `label` of `node` (KrakenD appends an edge: an
/// array gains an element, an object a key, a scalar becomes an object).
fn attach<'a>(node: &mut Value<'a>, label: &str, item: Value<'a>) {
    match node {
        Value::Object(o) => {
            o.insert(Cow::Owned(label.to_owned()), item);
        }
        Value::Array(a) => a.push(item),
        other => {
            let mut o = new_object(1);
            o.insert(Cow::Owned(label.to_owned()), item);
            *other = Value::Object(Box::new(o));
        }
    }
}

fn delete(value: &mut Value<'_>, path: &[Box<str>]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if !has_children(value) {
        return;
    }
    if &**first == WILDCARD {
        if rest.is_empty() {
            null_if_emptied(match value {
                Value::Object(o) => {
                    o.clear();
                    value
                }
                Value::Array(a) => {
                    a.clear();
                    value
                }
                _ => return,
            });
            return;
        }
        match value {
            Value::Object(o) => o.values_mut().for_each(|v| delete(v, rest)),
            Value::Array(a) => a.iter_mut().for_each(|v| delete(v, rest)),
            _ => {}
        }
        return;
    }
    if rest.is_empty() {
        if take_child(value, first).is_some() {
            null_if_emptied(value);
        }
    } else if let Some(next) = child_mut(value, first) {
        delete(next, rest);
    }
}

/// Paths of the nodes matching `pattern` from the root (KrakenD's
/// `collectMoveCandidates`).
fn candidates(root: &Value<'_>, pattern: &[Box<str>]) -> Vec<Path> {
    let mut current: Vec<Path> = vec![Path::new()];
    for step in pattern {
        let mut next = Vec::new();
        for path in &current {
            let Some(node) = path.iter().try_fold(root, |n, l| child(n, l)) else {
                continue;
            };
            if &**step == WILDCARD {
                for label in labels(node) {
                    let mut p = path.clone();
                    p.push(label);
                    next.push(p);
                }
            } else if child(node, step).is_some() {
                let mut p = path.clone();
                p.push(step.clone());
                next.push(p);
            }
        }
        current = next;
    }
    current
}

fn move_values<'a>(root: &mut Value<'a>, from: &[Box<str>], to: &[Box<str>]) {
    let (Some((last, prefix)), Some((to_last, to_prefix))) = (from.split_last(), to.split_last())
    else {
        return;
    };
    let parents = candidates(root, prefix);
    if from.len() == to.len() {
        for parent in &parents {
            if let Some(Value::Object(o)) = at_mut(root, parent)
                && let Some(v) = o.remove(&**last)
            {
                o.insert(Cow::Owned(to_last.to_string()), v);
            }
        }
        return;
    }
    // Detach every match first, as KrakenD does, then re-attach.
    let mut moved: Vec<(&Path, Value<'a>)> = Vec::new();
    for parent in &parents {
        if let Some(v) = at_mut(root, parent).and_then(|node| take_child(node, last)) {
            moved.push((parent, v));
        }
    }
    let promotion = from.len() > to.len();
    for (parent, item) in moved {
        let destination = if promotion {
            existing_prefix(root, to_prefix, parent)
        } else {
            ensure_path(root, parent.to_vec(), &to_prefix[prefix.len()..])
        };
        if let Some(node) = at_mut(root, &destination) {
            attach(node, to_last, item);
        }
    }
    for parent in &parents {
        if let Some(node) = at_mut(root, parent) {
            null_if_emptied(node);
        }
    }
}

/// The longest existing prefix of `pattern` from the root, `*` standing for
/// the label at the same depth in `source` (KrakenD's `promoteEdges`).
fn existing_prefix(root: &Value<'_>, pattern: &[Box<str>], source: &[Box<str>]) -> Vec<Box<str>> {
    let mut path = Vec::with_capacity(pattern.len());
    let mut node = root;
    for (i, step) in pattern.iter().enumerate() {
        let label = if &**step == WILDCARD {
            match source.get(i) {
                Some(l) => l.clone(),
                None => break,
            }
        } else {
            step.clone()
        };
        match child(node, &label) {
            Some(next) => node = next,
            None => break,
        }
        path.push(label);
    }
    path
}

/// Walks `steps` below `base`, creating empty objects where a step is
/// missing; returns the full path (array positions resolved to indices).
fn ensure_path(root: &mut Value<'_>, mut path: Vec<Box<str>>, steps: &[Box<str>]) -> Vec<Box<str>> {
    for step in steps {
        let Some(node) = at_mut(root, &path) else {
            break;
        };
        let label = if child(node, step).is_some() {
            step.clone()
        } else {
            attach(node, step, Value::Object(Box::new(new_object(1))));
            match node {
                Value::Array(a) => Box::from(a.len().saturating_sub(1).to_string()),
                _ => step.clone(),
            }
        };
        path.push(label);
    }
    path
}

fn append<'a>(root: &mut Value<'a>, from: &[Box<str>], to: &[Box<str>]) {
    let (Some((last, prefix)), Some((to_last, to_prefix))) = (from.split_last(), to.split_last())
    else {
        return;
    };
    let Some(item) = at_mut(root, prefix).and_then(|parent| take_child(parent, last)) else {
        return;
    };
    let items = match item {
        Value::Array(items) => *items,
        single => vec![single],
    };
    let destination = ensure_path(root, Vec::new(), to_prefix);
    let Some(node) = at_mut(root, &destination) else {
        return;
    };
    match child_mut(node, to_last) {
        Some(Value::Array(existing)) => existing.extend(items),
        Some(other) => {
            let previous = std::mem::replace(other, Value::Static(simd_json::StaticNode::Null));
            let mut all = Vec::with_capacity(items.len() + 1);
            all.push(previous);
            all.extend(items);
            *other = Value::Array(Box::new(all));
        }
        None => attach(node, to_last, Value::Array(Box::new(items))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::{json, to_json};

    fn mv(from: &str, to: &str) -> FlatmapOp {
        FlatmapOp::Move {
            from: from.into(),
            to: to.into(),
        }
    }
    fn del(path: &str) -> FlatmapOp {
        FlatmapOp::Del { path: path.into() }
    }
    fn app(from: &str, to: &str) -> FlatmapOp {
        FlatmapOp::Append {
            from: from.into(),
            to: to.into(),
        }
    }

    /// Applies `ops` to `input` and compares the JSON result.
    fn check(input: &str, ops: &[FlatmapOp], expected: &str) {
        let flatmap = Flatmap::compile(ops).unwrap();
        let mut value = json(input);
        flatmap.apply(&mut value);
        assert_eq!(to_json(&value), expected, "{ops:?} on {input}");
    }

    #[test]
    fn krakend_collection_example() {
        let items: Vec<String> = (0..10)
            .map(|i| format!(r#"{{"path":"/collection/2","i":{i}}}"#))
            .collect();
        let input = format!(r#"{{"collection":[{}]}}"#, items.join(","));
        let expected = format!(
            r#"{{"paths":[{}]}}"#,
            [r#"{"url":"/collection/2"}"#; 10].join(",")
        );
        check(
            &input,
            &[
                mv("collection", "paths"),
                del("paths.*.i"),
                mv("paths.*.path", "paths.*.url"),
            ],
            &expected,
        );
    }

    #[test]
    fn operations() {
        let cases: &[(&str, &[FlatmapOp], &str)] = &[
            (r#"{"a":1,"b":2}"#, &[del("a")], r#"{"b":2}"#),
            (r#"{"a":{"b":1,"c":2}}"#, &[del("a.b")], r#"{"a":{"c":2}}"#),
            (
                r#"{"a":{"b":1},"x":1}"#,
                &[del("a.b")],
                r#"{"a":null,"x":1}"#,
            ),
            (r#"{"a":[1,2],"x":1}"#, &[del("a.*")], r#"{"a":null,"x":1}"#),
            (r#"{"a":[],"x":1}"#, &[del("a.*")], r#"{"a":[],"x":1}"#),
            (
                r#"{"a":[{"b":1,"c":2},{"b":3}]}"#,
                &[del("a.*.b")],
                r#"{"a":[{"c":2},null]}"#,
            ),
            (r#"{"a":[1,2,3]}"#, &[del("a.1")], r#"{"a":[1,3]}"#),
            (r#"{"a":1}"#, &[del("missing.x")], r#"{"a":1}"#),
            (r#"{"a":1}"#, &[del("a.x")], r#"{"a":1}"#),
            (r#"{"a":1,"b":2}"#, &[mv("a", "c")], r#"{"b":2,"c":1}"#),
            (r#"{"a":1,"b":2}"#, &[mv("a", "b")], r#"{"b":1}"#),
            (
                r#"{"a":{"b":1,"c":2}}"#,
                &[mv("a.b", "x.y")],
                r#"{"a":{"c":2,"y":1}}"#,
            ),
            (
                r#"{"a":{"b":{"c":1}},"z":0}"#,
                &[mv("a.b.c", "c")],
                r#"{"a":{"b":null},"c":1,"z":0}"#,
            ),
            (
                r#"{"a":{"b":1,"k":0}}"#,
                &[mv("a.b", "b")],
                r#"{"a":{"k":0},"b":1}"#,
            ),
            (r#"{"a":1}"#, &[mv("a", "x.y.z")], r#"{"x":{"y":{"z":1}}}"#),
            (
                r#"{"a":[{"b":{"c":1}},{"b":{"c":2}}]}"#,
                &[mv("a.*.b.c", "a.*.c")],
                r#"{"a":[{"b":null,"c":1},{"b":null,"c":2}]}"#,
            ),
            (
                r#"{"a":[{"b":1},{"b":2}]}"#,
                &[mv("a.*.b", "a.*.x.y")],
                r#"{"a":[{"x":{"y":1}},{"x":{"y":2}}]}"#,
            ),
            (
                r#"{"a":{"b":1}}"#,
                &[mv("a.b", "missing.b")],
                r#"{"a":{"b":1}}"#,
            ),
            (
                r#"{"a":{"b":{"c":1}}}"#,
                &[mv("a.b.c", "missing.c")],
                r#"{"a":{"b":null},"c":1}"#,
            ),
            (r#"{"x":1}"#, &[mv("nothing", "y")], r#"{"x":1}"#),
            (r#"{"x":1}"#, &[del("x")], r#"{}"#),
            (
                r#"{"a":[1],"b":[2,3]}"#,
                &[app("b", "a")],
                r#"{"a":[1,2,3]}"#,
            ),
            (r#"{"a":[1],"b":5}"#, &[app("b", "a")], r#"{"a":[1,5]}"#),
            (r#"{"b":[2]}"#, &[app("b", "n.a")], r#"{"n":{"a":[2]}}"#),
            (r#"{"a":1,"b":[2]}"#, &[app("b", "a")], r#"{"a":[1,2]}"#),
            (r#"{"a":[1]}"#, &[app("missing", "a")], r#"{"a":[1]}"#),
        ];
        for (input, ops, expected) in cases {
            check(input, ops, expected);
        }
    }

    #[test]
    fn compile_rejects_bad_paths() {
        assert!(Flatmap::compile(&[del("")]).is_err());
        assert!(Flatmap::compile(&[mv("a..b", "c")]).is_err());
        assert!(Flatmap::compile(&[app("a.*", "b")]).is_err());
        assert!(Flatmap::compile(&[]).unwrap().is_empty());
    }
}
