//! HTTP/1.1 protocol code without I/O: bytes in, bytes out.
//!
//! Knows nothing about sockets, routes, backends, JSON or the clock.

mod method;

pub use method::Method;
