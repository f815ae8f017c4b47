//! What a request's steps learn and how they refuse: the values the
//! steps, the backend calls and the response writers pass between them.

use std::cell::RefCell;
use std::rc::Rc;

use crate::auth::Claims;

/// What one request's steps found out, for the steps after them and for
/// the backend calls.
#[derive(Default)]
pub struct RequestFacts {
    /// The claims of the token `auth/validator` accepted (see `crate::auth`
    /// for how to read them: `Claims::value`, `Claims::get("a.b")`).
    pub jwt: Option<Rc<Claims>>,
    /// Header lines (`Name: value\r\n`) every backend call of this request
    /// carries besides the forwarded ones (`propagate_claims`); the client's
    /// headers of the same names are not forwarded (`EndpointPlan::replaced_headers`).
    pub backend_headers: Vec<u8>,
    /// What `modifier/lua-endpoint` and `modifier/lua-proxy` changed for
    /// the backend calls (`proxy::lua`).
    pub lua: LuaFacts,
}

impl RequestFacts {
    /// The header lines in `backend_headers`, as (name, trimmed value).
    pub fn propagated(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.backend_headers
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let colon = line.iter().position(|&b| b == b':')?;
                Some((&line[..colon], line[colon + 1..].trim_ascii()))
            })
    }

    /// What a step set for header `name` (any case), if anything.
    pub fn propagated_header(&self, name: &str) -> Option<&[u8]> {
        self.propagated()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value)
    }
}

/// A request that a step will not let through.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// `None`: no Content-Type header (KrakenD's empty 401/403/429).
    pub content_type: Option<&'static [u8]>,
    pub body: Vec<u8>,
    /// Whether to add `X-KrakenD-Completed: false`.
    pub completed_header: bool,
}

impl Refusal {
    /// A refusal with no body and no headers of its own (KrakenD answers
    /// rate limits, missing tokens and bots this way).
    pub fn empty(status: u16) -> Refusal {
        Refusal {
            status,
            content_type: None,
            body: Vec::new(),
            completed_header: false,
        }
    }
}

/// What `modifier/lua-endpoint` and `modifier/lua-proxy` left for the
/// backend calls (`proxy::lua`).
#[derive(Default)]
pub struct LuaFacts {
    /// Header changes: lower-case names whose forwarded lines are dropped,
    /// and the lines written instead.
    pub(super) dropped: Vec<String>,
    pub(super) added: Vec<u8>,
    /// A body that replaces the client's.
    pub(super) body: Option<Vec<u8>>,
    /// A query that replaces the client's (encoded, without `?`).
    pub(super) query: Option<String>,
    /// `proxy.sequential_propagated_params` for the next sequential call.
    pub(super) propagated: RefCell<Vec<(String, String)>>,
}

impl LuaFacts {
    pub(super) fn touched(&self) -> bool {
        !self.dropped.is_empty() || self.body.is_some() || self.query.is_some()
    }
}
