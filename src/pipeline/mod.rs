//! Response manipulation and merging: pure functions over decoded documents.
//!
//! The life of a backend body here: [`decode`] turns bytes into a document that
//! borrows from the body buffer, [`Manipulation::apply`] reshapes it the way
//! KrakenD's entity formatter does, [`merge_into`] folds the backends together,
//! an endpoint-level [`Flatmap`] may run on the merged result, and [`encode`]
//! renders it in the negotiated format. Nothing here does I/O.

mod decode;
mod encode;
mod filter;
mod flatmap;
mod gofmt;
mod gojson;
mod json_out;
mod literals;
mod manipulate;
mod merge;
mod modify;
mod path;
mod rss;
mod url;
mod xml_in;
mod xml_out;
mod yaml_out;

#[cfg(test)]
mod testutil;

/// A decoded document, borrowing strings from the body it was parsed from.
pub type Value<'a> = simd_json::BorrowedValue<'a>;
/// A JSON object of a [`Value`].
pub type Object<'a> = simd_json::value::borrowed::Object<'a>;

pub use decode::{DecodeError, decode};
pub use encode::{Rendered, encode, negotiate};
pub use flatmap::Flatmap;
pub(crate) use json_out::{ERROR_DETAIL_KEYS, write_value as write_json};
pub use literals::{Literals, with_literals};
pub use manipulate::Manipulation;
pub use merge::merge_into;
pub use modify::Modifiers;
pub use path::{lookup, parse_owned, scalar_text, sequential_text};
pub use url::{Position, Refused, Source, UrlTemplate, percent_decode, remainder_fits};

/// An empty object, with the hasher simd-json's objects use.
pub(crate) fn new_object<'a>(capacity: usize) -> Object<'a> {
    Object::with_capacity_and_hasher(capacity, Default::default())
}
