//! HTTP/1.1 protocol code without I/O: bytes in, bytes out.
//!
//! Knows nothing about sockets, routes, backends, JSON or the clock. Parsing works on the
//! connection's read buffer and returns [`Span`]s into it instead of copies.

pub mod chunked;
mod date;
mod diagnose;
mod fields;
pub mod head_scan;
mod method;
pub mod query;
pub mod request;
mod request_error;
pub mod response;
pub mod sink;
mod span;
mod target;
mod url;
pub mod websocket;
pub mod write;

pub use chunked::{ChunkError, ChunkLimits, ChunkedDecoder, LAST_CHUNK, Progress, encode_chunk};
pub use date::{civil_from_days, fmt_http_date};
pub use fields::canonical_header;
pub(crate) use fields::is_tchar;
pub use head_scan::{HeadScanner, RequestHeadReader, ResponseHeadReader};
pub use method::Method;
pub use request::{
    BodyFraming, HeadLimits, MAX_HEADER_CAPACITY, RequestHead, assemble_request, parse_request,
};
pub use request_error::RequestError;
pub use response::{ResponseBody, ResponseError, ResponseHead, parse_response};
pub use sink::{BodyCut, Framing, RequestBody, ResponseSink, WholeBody, split_lines};
pub use span::{ConnectionListed, Header, Parse, Span};
pub use url::Url;
pub use write::{
    connection_names_header, ipv4_text, is_hop_by_hop, reason_phrase, write_content_length,
    write_error_response, write_header, write_ip, write_status_line,
};
