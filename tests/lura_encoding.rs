//! lura's `encoding/*_test.go` as black-box cases (see `tests/lura_oracle`):
//! a backend's body decoded by its `encoding` and answered as JSON. The
//! answers are compared byte for byte: lura decodes numbers with
//! `UseNumber` (`4.20` stays `4.20`) and Go's encoder sorts keys.

mod common;
mod lura_oracle;

use common::text;
use lura_oracle::{Body, Case, run};
use serde_json::json;

const MAP: &str = r#"{"foo": "bar", "supu": false, "tupu": 4.20}"#;
const COLLECTION: &str = r#"["foo", "bar", "supu"]"#;

fn decoded(name: &'static str, backend: serde_json::Value, body: &str, want: &'static str) -> Case {
    Case::new(
        name,
        vec![(backend, text(200, "application/json", body))],
        json!(null),
    )
    .body(Body::Text(want))
    .header("content-type", Some("application/json; charset=utf-8"))
}

/// lura `encoding/json_test.go` and `encoding/encoding_test.go`. Not
/// translated: `TestRegister*` and `TestGet` register Go decoders.
#[test]
fn decoders() {
    let cases = vec![
        decoded(
            "TestNewJSONDecoder_map",
            json!({"encoding": "json"}),
            MAP,
            r#"{"foo":"bar","supu":false,"tupu":4.20}"#,
        ),
        decoded(
            "TestNewJSONDecoder_collection",
            json!({"encoding": "json", "is_collection": true}),
            COLLECTION,
            r#"{"collection":["foo","bar","supu"]}"#,
        ),
        // A scalar is not a collection: the decoder fails, and so does the
        // only backend (500, no body).
        decoded(
            "TestNewJSONDecoder_ko",
            json!({"encoding": "json", "is_collection": true}),
            "3",
            "",
        )
        .status(500)
        .header("content-type", None)
        .header("x-krakend-completed", Some("false")),
        decoded(
            "TestNewSafeJSONDecoder_map",
            json!({"encoding": "safejson"}),
            MAP,
            r#"{"foo":"bar","supu":false,"tupu":4.20}"#,
        ),
        decoded(
            "TestNewSafeJSONDecoder_collection",
            json!({"encoding": "safejson"}),
            COLLECTION,
            r#"{"collection":["foo","bar","supu"]}"#,
        ),
        decoded(
            "TestNewSafeJSONDecoder_other",
            json!({"encoding": "safejson"}),
            "3",
            r#"{"content":3}"#,
        ),
        // The no-op decoder leaves the body alone: with a `no-op` endpoint
        // the backend's bytes are the answer.
        Case::new(
            "TestNoOpDecoder",
            vec![(
                json!({"encoding": "no-op"}),
                text(200, "text/plain", "this is not JSON"),
            )],
            json!(null),
        )
        .endpoint(json!({"output_encoding": "no-op"}))
        .body(Body::Text("this is not JSON")),
    ];
    run("encoding/*_test.go", json!({}), cases, &[]);
}
