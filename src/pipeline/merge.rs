//! Folding backend responses together (lura `proxy/merging.go`,
//! `combineData`): a top-level, shallow merge where a later part's key
//! replaces an earlier one's.

use std::borrow::Cow;

use simd_json::StaticNode;

use super::{Object, Value};

/// Merges `part`'s top-level keys into `acc`; on collision the later part
/// wins, as in KrakenD's `combineData`.
///
/// KrakenD only ever merges maps: its decoders turn a root array into
/// `{"collection": [...]}` and a scalar into `{"content": v}` (safejson), and
/// a part without data is skipped. A non-object `part` is treated the same
/// way here: an array merges as `collection`, `null` adds nothing, any other
/// scalar merges as `content`.
pub fn merge_into<'a>(acc: &mut Object<'a>, part: Value<'a>) {
    match part {
        Value::Object(object) => {
            if acc.is_empty() {
                *acc = *object;
            } else {
                acc.reserve(object.len());
                for (key, value) in object.into_iter() {
                    // One search per key: replace in place or append.
                    acc.raw_entry_mut().from_key(&*key).insert(key, value);
                }
            }
        }
        Value::Static(StaticNode::Null) => {}
        array @ Value::Array(_) => {
            acc.insert(Cow::Borrowed("collection"), array);
        }
        scalar => {
            acc.insert(Cow::Borrowed("content"), scalar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::new_object;
    use crate::pipeline::testutil::{json, to_json};

    /// Merges `parts` in order into an empty object.
    fn check(parts: &[&str], expected: &str) {
        let mut acc = new_object(0);
        for part in parts {
            merge_into(&mut acc, json(part));
        }
        assert_eq!(
            to_json(&Value::Object(Box::new(acc))),
            expected,
            "{parts:?}"
        );
    }

    #[test]
    fn merges() {
        let cases: &[(&[&str], &str)] = &[
            (&[r#"{"a":1}"#, r#"{"b":2}"#], r#"{"a":1,"b":2}"#),
            (&[r#"{"a":1,"c":0}"#, r#"{"a":2}"#], r#"{"a":2,"c":0}"#),
            (
                &[r#"{"a":{"x":1}}"#, r#"{"a":{"y":2}}"#],
                r#"{"a":{"y":2}}"#,
            ),
            (&[r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":3}"#], r#"{"a":3}"#),
            (&[r#"{}"#, r#"{"a":1}"#, "{}"], r#"{"a":1}"#),
            (&[r#"{"a":1}"#, "null"], r#"{"a":1}"#),
            (&[r#"{"a":1}"#, "[1,2]"], r#"{"a":1,"collection":[1,2]}"#),
            (&[r#"{"a":1}"#, r#""s""#], r#"{"a":1,"content":"s"}"#),
        ];
        for (parts, expected) in cases {
            check(parts, expected);
        }
    }
}
