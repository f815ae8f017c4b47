//! The fixed words of the format: methods, encodings, static strategies.
//! Each parser returns the message to show when the word is not one of them.

use super::model::{BackendEncoding, OutputEncoding, StaticStrategy};
use crate::http::Method;

/// Methods KrakenD's router registers endpoints for. KrakenD upper-cases the
/// method before matching (`strings.ToTitle`), so `"post"` is fine.
const ENDPOINT_METHODS: [Method; 5] = [
    Method::Get,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
];

pub fn endpoint_method(text: &str) -> Result<Method, String> {
    Method::from_bytes(text.to_ascii_uppercase().as_bytes())
        .filter(|method| ENDPOINT_METHODS.contains(method))
        .ok_or_else(|| {
            format!("\"{text}\" is not a method KrakenD serves endpoints for; write one of GET, POST, PUT, PATCH, DELETE")
        })
}

/// A backend may be called with any standard method.
pub fn backend_method(text: &str) -> Result<Method, String> {
    Method::from_bytes(text.to_ascii_uppercase().as_bytes()).ok_or_else(|| {
        let all: Vec<&str> = Method::ALL.iter().map(|m| m.as_str()).collect();
        format!(
            "\"{text}\" is not an HTTP method; write one of {}",
            all.join(", ")
        )
    })
}

/// `fast-json` is KrakenD Enterprise's faster JSON decoder: the same
/// document, so an alias of `json`.
const BACKEND_ENCODINGS: [(&str, BackendEncoding); 7] = [
    ("json", BackendEncoding::Json),
    ("fast-json", BackendEncoding::Json),
    ("safejson", BackendEncoding::SafeJson),
    ("string", BackendEncoding::String),
    ("xml", BackendEncoding::Xml),
    ("rss", BackendEncoding::Rss),
    ("no-op", BackendEncoding::NoOp),
];

/// KrakenD lower-cases backend encodings before looking them up, and
/// decodes an unknown one as JSON (lura `encoding.DecoderRegister.Get`):
/// the caller does the same with a warning.
pub fn backend_encoding(text: &str) -> Result<BackendEncoding, String> {
    let lower = text.to_ascii_lowercase();
    lookup(&BACKEND_ENCODINGS, &lower)
        .ok_or_else(|| unknown_word(text, "backend encoding", &BACKEND_ENCODINGS))
}

/// `fast-json` is KrakenD Enterprise's faster JSON renderer; cuttle's
/// `json` already streams the document out in one pass without
/// reflection, so it is an alias of `json` (same bytes).
const OUTPUT_ENCODINGS: [(&str, OutputEncoding); 8] = [
    ("json", OutputEncoding::Json),
    ("fast-json", OutputEncoding::Json),
    ("json-collection", OutputEncoding::JsonCollection),
    ("string", OutputEncoding::String),
    ("xml", OutputEncoding::Xml),
    ("yaml", OutputEncoding::Yaml),
    ("negotiate", OutputEncoding::Negotiate),
    ("no-op", OutputEncoding::NoOp),
];

/// KrakenD matches output encodings exactly (case-sensitive); an unknown
/// one falls back (lura `router/gin/render.go` `getRender`): the caller
/// does that with a warning.
pub fn output_encoding(text: &str) -> Result<OutputEncoding, String> {
    lookup(&OUTPUT_ENCODINGS, text)
        .ok_or_else(|| unknown_word(text, "output encoding", &OUTPUT_ENCODINGS))
}

const STATIC_STRATEGIES: [(&str, StaticStrategy); 5] = [
    ("always", StaticStrategy::Always),
    ("success", StaticStrategy::Success),
    ("errored", StaticStrategy::Errored),
    ("complete", StaticStrategy::Complete),
    ("incomplete", StaticStrategy::Incomplete),
];

pub fn static_strategy(text: &str) -> Result<StaticStrategy, String> {
    lookup(&STATIC_STRATEGIES, text)
        .ok_or_else(|| unknown_word(text, "static strategy", &STATIC_STRATEGIES))
}

fn lookup<T: Copy>(table: &[(&str, T)], word: &str) -> Option<T> {
    table
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, value)| *value)
}

fn unknown_word<T>(text: &str, what: &str, table: &[(&str, T)]) -> String {
    let names: Vec<String> = table
        .iter()
        .map(|(name, _)| format!("\"{name}\""))
        .collect();
    format!(
        "\"{text}\" is not a known {what}; write one of {}",
        names.join(", ")
    )
}
