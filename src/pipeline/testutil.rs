//! Helpers shared by the pipeline's unit tests.

use super::{Rendered, Value, encode, parse_owned};

/// Compact, key-sorted JSON text of a document (the JSON encoder's output).
pub(crate) fn to_json(value: &Value<'_>) -> String {
    let mut out = Vec::new();
    encode(value, Rendered::Json, &mut out);
    String::from_utf8(out).expect("the JSON encoder writes UTF-8")
}

/// Parses test JSON text, panicking on a typo in the test itself.
pub(crate) fn json(text: &str) -> Value<'static> {
    parse_owned(text).unwrap_or_else(|e| panic!("bad test JSON {text:?}: {e}"))
}
