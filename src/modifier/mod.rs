//! KrakenD's `modifier/*` components that edit a backend's request and
//! response on the wire (as opposed to `pipeline::Modifiers`, which edit
//! decoded documents).

pub mod martian;
