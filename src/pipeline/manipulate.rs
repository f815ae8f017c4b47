//! Per-backend response manipulation, compiled once from the config and
//! applied in the order of lura's `proxy/formatter.go`:
//!
//! 1. `is_collection`: a root array becomes `{"collection": [...]}` (lura does
//!    this in its collection decoder);
//! 2. `target`: the object at the dot path replaces the document; a missing
//!    step or a non-object gives `{}`;
//! 3. without `flatmap_filter`: `allow` (or else `deny`), then `mapping`;
//!    with `flatmap_filter`: its operations instead — KrakenD's flatmap
//!    formatter ignores `allow`, `deny` and `mapping`;
//! 4. `group`: the result is wrapped under that key;
//! 5. KrakenD Enterprise's content replacer, then `modifier/jmespath`
//!    (whose result may be any JSON value; the merge puts an array under
//!    `collection` and a scalar under `result`).

use std::borrow::Cow;

use crate::config::ManipulationSpec;

use super::{
    Flatmap, Modifiers, Object, Value, decode::wrap, filter::Filter, filter::split_path, new_object,
};

/// A backend's compiled manipulation.
#[derive(Debug, Clone, PartialEq)]
pub struct Manipulation {
    is_collection: bool,
    target: Option<Vec<Box<str>>>,
    filter: Option<Filter>,
    /// `from -> to`; like lura, only the first segment of `to` is used.
    mapping: Vec<(Box<str>, Box<str>)>,
    group: Option<Box<str>>,
    flatmap: Flatmap,
    modifiers: Modifiers,
}

impl Manipulation {
    pub fn compile(spec: &ManipulationSpec) -> Result<Manipulation, String> {
        let target = match spec.target.as_deref() {
            None | Some("") => None,
            Some(path) => Some(
                split_path("target", path)?
                    .into_iter()
                    .map(Box::from)
                    .collect(),
            ),
        };
        let mapping = spec
            .mapping
            .iter()
            .map(|(from, to)| {
                let first = to.split('.').next().unwrap_or_default();
                if from.is_empty() || first.is_empty() {
                    return Err(format!("mapping: invalid rename {from:?} -> {to:?}"));
                }
                Ok((Box::from(from.as_str()), Box::from(first)))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let group = match spec.group.as_deref() {
            None | Some("") => None,
            Some(name) => Some(Box::from(name)),
        };
        let flatmap = Flatmap::compile(&spec.flatmap)?;
        let filter = if flatmap.is_empty() {
            Filter::compile(&spec.allow, &spec.deny)?
        } else {
            None
        };
        Ok(Manipulation {
            modifiers: Modifiers::compile(&spec.modifiers)?,
            is_collection: spec.is_collection,
            target,
            filter,
            mapping: if flatmap.is_empty() {
                mapping
            } else {
                Vec::new()
            },
            group,
            flatmap,
        })
    }

    /// True when `apply` would return its input unchanged.
    pub fn is_identity(&self) -> bool {
        !self.is_collection
            && self.target.is_none()
            && self.filter.is_none()
            && self.mapping.is_empty()
            && self.group.is_none()
            && self.flatmap.is_empty()
            && self.modifiers.is_empty()
    }

    /// Applies the manipulation. Keys the result gains (`group`, `mapping`
    /// targets) borrow from `self`, so no key is allocated.
    pub fn apply<'a>(&'a self, value: Value<'a>) -> Value<'a> {
        let mut value = match value {
            array @ Value::Array(_) if self.is_collection => wrap("collection", array),
            other => other,
        };
        if let Some(target) = &self.target {
            value = extract_target(value, target);
        }
        if !self.flatmap.is_empty() {
            self.flatmap.apply(&mut value);
        } else if let Value::Object(object) = &mut value
            && !object.is_empty()
        {
            if let Some(filter) = &self.filter {
                filter.apply(object);
            }
            self.rename(object);
        }
        let value = match &self.group {
            Some(group) => {
                let mut wrapper = new_object(1);
                wrapper.insert(Cow::Borrowed(&**group), value);
                Value::Object(Box::new(wrapper))
            }
            None => value,
        };
        if self.modifiers.is_empty() {
            value
        } else {
            self.modifiers.apply(value)
        }
    }

    fn rename<'a>(&'a self, object: &mut Object<'a>) {
        for (from, to) in &self.mapping {
            if from == to {
                // lura sets the new key and then deletes the old one, so a
                // mapping onto itself drops the key; keep that behaviour.
                object.remove(&**from);
            } else if object.is_vec() && !object.contains_key(&**to) {
                // Rename in place: no value moves, no allocation. Only in the
                // vector backend: a hashed backend would keep the old hash.
                let _ = object
                    .raw_entry_mut()
                    .from_key(&**from)
                    .and_modify(|key, _| *key = Cow::Borrowed(&**to));
            } else if let Some(v) = object.remove(&**from) {
                object.insert(Cow::Borrowed(&**to), v);
            }
        }
    }
}

/// lura's `extractTarget`: every step must be an object.
fn extract_target<'a>(value: Value<'a>, path: &[Box<str>]) -> Value<'a> {
    let mut current = value;
    for step in path {
        current = match current {
            Value::Object(mut object) => match object.remove(&**step) {
                Some(next @ Value::Object(_)) => next,
                _ => return Value::Object(Box::new(new_object(0))),
            },
            _ => return Value::Object(Box::new(new_object(0))),
        };
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FlatmapOp;
    use crate::pipeline::testutil::{json, to_json};

    fn spec() -> ManipulationSpec {
        ManipulationSpec::default()
    }
    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Compiles `spec`, applies it to `input` and compares the JSON result.
    fn check(input: &str, spec: ManipulationSpec, expected: &str) {
        let manipulation = Manipulation::compile(&spec).unwrap();
        let got = to_json(&manipulation.apply(json(input)));
        assert_eq!(got, expected, "{spec:?} on {input}");
    }

    const DOC: &str = r#"{"a":{"b":1,"c":{"d":2,"e":3}},"f":4,"g":[1,2]}"#;

    #[test]
    fn target() {
        check(
            DOC,
            ManipulationSpec {
                target: Some("a".into()),
                ..spec()
            },
            r#"{"b":1,"c":{"d":2,"e":3}}"#,
        );
        check(
            DOC,
            ManipulationSpec {
                target: Some("a.c".into()),
                ..spec()
            },
            r#"{"d":2,"e":3}"#,
        );
        check(
            DOC,
            ManipulationSpec {
                target: Some("missing".into()),
                ..spec()
            },
            "{}",
        );
        check(
            DOC,
            ManipulationSpec {
                target: Some("f".into()),
                ..spec()
            },
            "{}",
        );
        check(
            DOC,
            ManipulationSpec {
                target: Some("a.b.x".into()),
                ..spec()
            },
            "{}",
        );
        check(
            DOC,
            ManipulationSpec {
                target: Some("".into()),
                ..spec()
            },
            DOC,
        );
    }

    #[test]
    fn allow() {
        let cases: &[(&[&str], &str)] = &[
            (&["f"], r#"{"f":4}"#),
            (&["f", "g", "missing"], r#"{"f":4,"g":[1,2]}"#),
            (&["a.b"], r#"{"a":{"b":1}}"#),
            (&["a.c.d", "f"], r#"{"a":{"c":{"d":2}},"f":4}"#),
            (&["a.missing"], "{}"),
            (&["f.x"], "{}"),
            (&["a.b", "a"], r#"{"a":{"b":1,"c":{"d":2,"e":3}}}"#),
            (&["a", "a.b"], r#"{"a":{"b":1}}"#),
            (&["a.c.d"], r#"{"a":{"c":{"d":2}}}"#),
            (&["a.c.d", "a.c.x.y"], r#"{"a":{"c":{"d":2}}}"#),
            (&["a.c.d.x"], "{}"),
            (&["a.c", "a.c.d"], r#"{"a":{"c":{"d":2}}}"#),
            (&["a.c.d", "a.c"], r#"{"a":{"c":{"d":2,"e":3}}}"#),
        ];
        for (allow, expected) in cases {
            check(
                DOC,
                ManipulationSpec {
                    allow: strings(allow),
                    ..spec()
                },
                expected,
            );
        }
        // allow wins over deny
        check(
            DOC,
            ManipulationSpec {
                allow: strings(&["f"]),
                deny: strings(&["f"]),
                ..spec()
            },
            r#"{"f":4}"#,
        );
    }

    #[test]
    fn deny() {
        let cases: &[(&[&str], &str)] = &[
            (&["f"], r#"{"a":{"b":1,"c":{"d":2,"e":3}},"g":[1,2]}"#),
            (&["a", "g"], r#"{"f":4}"#),
            (&["a.b"], r#"{"a":{"c":{"d":2,"e":3}},"f":4,"g":[1,2]}"#),
            (&["a.b", "a.c"], r#"{"a":{},"f":4,"g":[1,2]}"#),
            // Any depth (lura's deny tree): only `d` goes, not all of `c`.
            (&["a.c.d"], r#"{"a":{"b":1,"c":{"e":3}},"f":4,"g":[1,2]}"#),
            (
                &["a.c.d", "a.c.e"],
                r#"{"a":{"b":1,"c":{}},"f":4,"g":[1,2]}"#,
            ),
            (&["a.c.d.x", "a.b.x", "g.x"], DOC),
            (&["f.x", "missing", "missing.x"], DOC),
            // The shorter path wins in either order.
            (&["a.b", "a"], r#"{"f":4,"g":[1,2]}"#),
            (&["a", "a.b"], r#"{"f":4,"g":[1,2]}"#),
            (&["a.c", "a.c.d"], r#"{"a":{"b":1},"f":4,"g":[1,2]}"#),
        ];
        for (deny, expected) in cases {
            check(
                DOC,
                ManipulationSpec {
                    deny: strings(deny),
                    ..spec()
                },
                expected,
            );
        }
    }

    /// lura's `TestEntityFormatter_newDenyFilter` (proxy/formatter_test.go).
    #[test]
    fn deny_as_lura_tests_it() {
        check(
            r#"{"supu":42,"tupu":false,"foo":"bar","a":{"a":{"b":true,"c":42,"d":"tupu","deeper":{"a":{"aa":"x","bb":"y"},"b":{"aa":"x","bb":"y"}}},"b":true,"c":42,"d":"tupu"}}"#,
            ManipulationSpec {
                deny: strings(&[
                    "supu",
                    "a.b",
                    "a.c",
                    "foo.unknown",
                    "a.a.b",
                    "a.a.deeper.a.aa",
                    "a.a.deeper.b.aa",
                ]),
                ..spec()
            },
            r#"{"a":{"a":{"c":42,"d":"tupu","deeper":{"a":{"bb":"y"},"b":{"bb":"y"}}},"d":"tupu"},"foo":"bar","tupu":false}"#,
        );
    }

    #[test]
    fn mapping() {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        check(
            DOC,
            ManipulationSpec {
                mapping: map(&[("f", "x")]),
                ..spec()
            },
            r#"{"a":{"b":1,"c":{"d":2,"e":3}},"g":[1,2],"x":4}"#,
        );
        check(
            DOC,
            ManipulationSpec {
                mapping: map(&[("f", "g")]),
                ..spec()
            },
            r#"{"a":{"b":1,"c":{"d":2,"e":3}},"g":4}"#,
        );
        check(
            DOC,
            ManipulationSpec {
                mapping: map(&[("missing", "x")]),
                ..spec()
            },
            DOC,
        );
        check(
            DOC,
            ManipulationSpec {
                mapping: map(&[("f", "x.y")]),
                ..spec()
            },
            r#"{"a":{"b":1,"c":{"d":2,"e":3}},"g":[1,2],"x":4}"#,
        );
        check(
            DOC,
            ManipulationSpec {
                mapping: map(&[("f", "f")]),
                ..spec()
            },
            r#"{"a":{"b":1,"c":{"d":2,"e":3}},"g":[1,2]}"#,
        );
    }

    #[test]
    fn group_collection_and_order() {
        check(
            DOC,
            ManipulationSpec {
                group: Some("grp".into()),
                ..spec()
            },
            &format!(r#"{{"grp":{DOC}}}"#),
        );
        check(
            "[1,2]",
            ManipulationSpec {
                is_collection: true,
                ..spec()
            },
            r#"{"collection":[1,2]}"#,
        );
        check(
            "[1,2]",
            ManipulationSpec {
                is_collection: true,
                mapping: vec![("collection".into(), "items".into())],
                group: Some("g".into()),
                ..spec()
            },
            r#"{"g":{"items":[1,2]}}"#,
        );
        // target, then allow, then mapping, then group
        check(
            DOC,
            ManipulationSpec {
                target: Some("a".into()),
                allow: strings(&["c.d", "b"]),
                mapping: vec![("c".into(), "renamed".into())],
                group: Some("out".into()),
                ..spec()
            },
            r#"{"out":{"b":1,"renamed":{"d":2}}}"#,
        );
        check(
            "{}",
            ManipulationSpec {
                group: Some("g".into()),
                ..spec()
            },
            r#"{"g":{}}"#,
        );
    }

    #[test]
    fn flatmap_replaces_filters_and_mapping() {
        let spec = ManipulationSpec {
            target: Some("a".into()),
            allow: strings(&["zzz"]),
            mapping: vec![("b".into(), "zzz".into())],
            flatmap: vec![FlatmapOp::Del { path: "c.d".into() }],
            group: Some("g".into()),
            ..spec()
        };
        check(DOC, spec, r#"{"g":{"b":1,"c":{"e":3}}}"#);
    }

    #[test]
    fn identity_and_errors() {
        assert!(Manipulation::compile(&spec()).unwrap().is_identity());
        assert!(
            !Manipulation::compile(&ManipulationSpec {
                is_collection: true,
                ..spec()
            })
            .unwrap()
            .is_identity()
        );
        assert!(
            !Manipulation::compile(&ManipulationSpec {
                group: Some("g".into()),
                ..spec()
            })
            .unwrap()
            .is_identity()
        );
        for bad in [
            ManipulationSpec {
                target: Some("a..b".into()),
                ..spec()
            },
            ManipulationSpec {
                allow: strings(&["a."]),
                ..spec()
            },
            ManipulationSpec {
                deny: strings(&[".a"]),
                ..spec()
            },
            ManipulationSpec {
                mapping: vec![("".into(), "x".into())],
                ..spec()
            },
        ] {
            let err = Manipulation::compile(&bad).unwrap_err();
            assert!(!err.is_empty());
        }
    }
}
