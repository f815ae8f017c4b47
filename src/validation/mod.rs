//! Request validation: KrakenD's `validation/cel` and
//! `validation/json-schema`, compiled once per worker and checked per
//! request. Pure: the proxy hands in the request's parts and the documents;
//! nothing here does I/O.

pub mod cel;
pub mod schema;

pub use schema::BodySchema;
