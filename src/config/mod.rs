//! Reading KrakenD v3 configuration files into an immutable [`Config`].

mod model;

pub use model::*;
