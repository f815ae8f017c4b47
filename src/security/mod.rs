//! Who may call, decided at the edge from bytes of the request head:
//! KrakenD's `security/cors` (rs/cors), `security/http` (unrolled/secure)
//! and `security/bot-detector`. Each is compiled once per worker from the
//! built configuration into matchers and pre-serialised header lines; none
//! does I/O or knows about connections. `proxy::edge` runs them.

pub mod bot;
pub mod cors;
pub mod headers;
mod lru;

pub use bot::BotDetector;
pub use cors::{Cors, CorsOutcome, CorsRequest};
pub use headers::{HttpSecurity, SecureOutcome, SecureRequest};
