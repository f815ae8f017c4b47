//! Any backend body through the whole response pipeline: decode with a
//! data-chosen encoding (rss included), manipulate with a data-chosen spec
//! (content replacer and JMESPath included), merge, flatmap,
//! encode in every output format. Never panics; the JSON output is always
//! valid JSON.
#![no_main]

use cuttle::config::{BackendEncoding, FlatmapOp, ManipulationSpec, Replacement, ResponseModifiers};
use cuttle::pipeline::{
    Flatmap, Literals, Manipulation, Object, Rendered, Value, decode, encode, merge_into, with_literals,
};
use libfuzzer_sys::fuzz_target;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn spec(selector: u8) -> ManipulationSpec {
    let mut spec = ManipulationSpec::default();
    match selector % 10 {
        0 => {}
        8 => {
            spec.modifiers = ResponseModifiers {
                replacements: vec![
                    Replacement { path: "a.b".into(), find: "x".into(), replace: "yy".into(), regexp: false },
                    Replacement { path: "c".into(), find: "(.)(.)".into(), replace: "${2}${1}".into(), regexp: true },
                ],
                jmespath: None,
            }
        }
        9 => {
            spec.modifiers.jmespath =
                Some("{a: a, n: length(@), s: sort(keys(@)), f: collection[?x > `1`] | [0:2], r: [*][0]}".into())
        }
        1 => spec.allow = strings(&["a", "b.c", "d.e.f"]),
        2 => spec.deny = strings(&["a", "b.c", "collection"]),
        3 => spec.mapping = vec![("a".into(), "z".into()), ("b".into(), "a".into())],
        4 => spec.group = Some("g".into()),
        5 => spec.target = Some("a.b".into()),
        6 => {
            spec.is_collection = true;
            spec.flatmap = vec![
                FlatmapOp::Move { from: "collection".into(), to: "items".into() },
                FlatmapOp::Del { path: "items.*.x".into() },
                FlatmapOp::Append { from: "extra".into(), to: "items".into() },
            ];
        }
        _ => {
            spec.is_collection = true;
            spec.allow = strings(&["collection"]);
            spec.group = Some("wrapped".into());
        }
    }
    spec
}

fuzz_target!(|data: &[u8]| {
    let [encoding, selector, rest @ ..] = data else { return };
    let encoding = match encoding % 5 {
        0 => BackendEncoding::Json,
        1 => BackendEncoding::SafeJson,
        2 => BackendEncoding::String,
        3 => BackendEncoding::Rss,
        _ => BackendEncoding::Xml,
    };
    let spec = spec(*selector);
    let manipulation = Manipulation::compile(&spec).expect("fixed specs compile");
    let endpoint_flatmap = Flatmap::compile(&[FlatmapOp::Del { path: "g.a".into() }]).expect("compiles");

    let mut first = rest.to_vec();
    let mut second = rest.to_vec();
    let mut merged = Object::default();
    let mut literals = Literals::default();
    for body in [&mut first, &mut second] {
        if let Ok(value) = decode(encoding, spec.is_collection, body, &mut literals) {
            merge_into(&mut merged, manipulation.apply(value));
        }
    }
    let mut value = Value::Object(Box::new(merged));
    endpoint_flatmap.apply(&mut value);
    for rendered in [Rendered::Json, Rendered::JsonCollection, Rendered::String, Rendered::Xml, Rendered::Yaml] {
        let mut out = Vec::new();
        with_literals(&mut literals, || encode(&value, rendered, &mut out));
        if rendered == Rendered::Json {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&out).is_ok(),
                "invalid JSON output: {}",
                String::from_utf8_lossy(&out)
            );
        }
    }
});
