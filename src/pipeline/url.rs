//! `url_pattern` templates (`/users/{user}?x={y}`), compiled once at start-up
//! into typed parts, so that building a backend URL is a walk over literals
//! and values, each value encoded for where it stands.
//!
//! A value (a client's path parameter, a `{respN_field}` from an earlier
//! response, a JWT claim) is data: it can never end a path segment, start a
//! query, add a query parameter or carry CR/LF/NUL onto the wire. In a path
//! it must name one segment: `.`, `..`, or anything that decodes to a `/` or
//! `\` is refused rather than guessed at, because backends differ on whether
//! they decode `%2F` and `\` before routing.

/// Where a placeholder's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The endpoint's path parameter with this index (in path order).
    Param(usize),
    /// `{respN_field}`: `field` (a dotted path) of backend N's response.
    Response { backend: usize, field: Box<str> },
    /// `{JWT.claim}`: filled by a JWT validator.
    Claim(Box<str>),
    /// The rest of the path under a wildcard endpoint (`/v1/*`), appended
    /// to the url_pattern's path: each of its segments is decoded, checked
    /// and encoded like a path value.
    Remainder,
}

/// Where in the URL a value lands, which decides how it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Before the pattern's first `?`: one path segment.
    Path,
    /// After it: part of the query.
    Query,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Box<str>),
    Value { source: Source, position: Position },
}

/// Why a URL was not rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A value in a path position was a dot segment or held a `/` or `\`.
    NotOneSegment(Source),
    /// A placeholder had no value (a JWT claim without a validator).
    Missing(Source),
}

/// A compiled `url_pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    pattern: Box<str>,
    parts: Vec<Part>,
}

use crate::config::find_placeholders;

/// `resp<N>_<field>` -> `(N, field)`.
fn response_source(name: &str) -> Option<(usize, &str)> {
    let rest = name.strip_prefix("resp")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let field = rest[digits..].strip_prefix('_')?;
    if digits == 0 || field.is_empty() {
        return None;
    }
    Some((rest[..digits].parse().ok()?, field))
}

impl UrlTemplate {
    /// Compiles `pattern`; `params` are the endpoint's placeholder names in
    /// path order. A placeholder that is neither a parameter, nor
    /// `respN_field`, nor `JWT.claim` is an error (config validation reports
    /// it first, with its JSON path).
    pub fn compile(pattern: &str, params: &[&str]) -> Result<UrlTemplate, String> {
        let mut parts = Vec::new();
        compile_parts(pattern, pattern, params, Position::Path, &mut parts)?;
        Ok(UrlTemplate {
            pattern: pattern.into(),
            parts,
        })
    }

    /// Like [`UrlTemplate::compile`], for a wildcard endpoint: the rest of
    /// the request path goes after the pattern's path (a trailing `/` of
    /// the pattern is not doubled), before its query.
    pub fn compile_wildcard(pattern: &str, params: &[&str]) -> Result<UrlTemplate, String> {
        let (path, query) = pattern.split_at(pattern.find('?').unwrap_or(pattern.len()));
        let mut parts = Vec::new();
        compile_parts(
            pattern,
            path.trim_end_matches('/'),
            params,
            Position::Path,
            &mut parts,
        )?;
        parts.push(Part::Value {
            source: Source::Remainder,
            position: Position::Path,
        });
        compile_parts(pattern, query, params, Position::Query, &mut parts)?;
        Ok(UrlTemplate {
            pattern: pattern.into(),
            parts,
        })
    }
}

/// Compiles `text` (a piece of `pattern`) into `parts`, starting at `position`.
fn compile_parts(
    pattern: &str,
    text: &str,
    params: &[&str],
    mut position: Position,
    parts: &mut Vec<Part>,
) -> Result<(), String> {
    let pattern_text = pattern;
    let pattern = text;
    let mut literal_from = 0;
    let push_literal = |text: &str, parts: &mut Vec<Part>, position: &mut Position| {
        if text.contains('?') {
            *position = Position::Query;
        }
        if !text.is_empty() {
            parts.push(Part::Literal(text.into()));
        }
    };
    for (start, end, name) in find_placeholders(pattern) {
        push_literal(&pattern[literal_from..start], parts, &mut position);
        let source = if let Some(index) = params.iter().position(|p| *p == name) {
            Source::Param(index)
        } else if let Some((backend, field)) = response_source(name) {
            Source::Response {
                backend,
                field: field.into(),
            }
        } else if let Some(claim) = name.strip_prefix("JWT.").filter(|c| !c.is_empty()) {
            Source::Claim(claim.into())
        } else {
            return Err(format!(
                "url_pattern {pattern_text:?}: {{{name}}} is not a parameter of the endpoint"
            ));
        };
        parts.push(Part::Value { source, position });
        literal_from = end;
    }
    push_literal(&pattern[literal_from..], parts, &mut position);
    Ok(())
}

impl UrlTemplate {
    /// The pattern as written in the config (for error messages).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The endpoint parameters this template puts into a path segment.
    pub fn path_params(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|part| match part {
            Part::Value {
                source: Source::Param(index),
                position: Position::Path,
            } => Some(*index),
            _ => None,
        })
    }

    /// Whether any value comes from a JWT claim.
    pub fn uses_claims(&self) -> bool {
        self.parts.iter().any(|part| {
            matches!(
                part,
                Part::Value {
                    source: Source::Claim(_),
                    ..
                }
            )
        })
    }

    /// Appends the URL to `out`: literals as written, each value as
    /// `value_of(source, buf)` appends it (its *decoded* bytes, except for
    /// [`Source::Remainder`], given raw; returning false means there is
    /// none), encoded for its position. On `Err`,
    /// `out` holds a partial URL that must not be sent.
    pub fn render(
        &self,
        out: &mut Vec<u8>,
        mut value_of: impl FnMut(&Source, &mut Vec<u8>) -> bool,
    ) -> Result<(), Refused> {
        let mut value = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.extend_from_slice(text.as_bytes()),
                Part::Value { source, position } => {
                    value.clear();
                    let found = value_of(source, &mut value);
                    if !found && matches!(source, Source::Claim(_)) {
                        return Err(Refused::Missing(source.clone()));
                    }
                    match position {
                        Position::Path if *source == Source::Remainder => {
                            // Raw (still encoded) rest of the path: one
                            // segment at a time.
                            let mut decoded = Vec::new();
                            for raw in value.split(|&b| b == b'/') {
                                decoded.clear();
                                percent_decode(raw, &mut decoded);
                                if !is_one_segment(&decoded) {
                                    return Err(Refused::NotOneSegment(Source::Remainder));
                                }
                                out.push(b'/');
                                encode(&decoded, PATH_SEGMENT, out);
                            }
                        }
                        Position::Path => {
                            if !is_one_segment(&value) {
                                return Err(Refused::NotOneSegment(source.clone()));
                            }
                            encode(&value, PATH_SEGMENT, out);
                        }
                        Position::Query => encode(&value, QUERY_VALUE, out),
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether a decoded value can stand as one path segment: not `.` or `..`
/// and without `/` or `\` (what backends treat as segment separators).
///
/// The rest of a wildcard path passes this one segment at a time
/// ([`remainder_fits`]).
pub fn is_one_segment(value: &[u8]) -> bool {
    value != b"." && value != b".." && !value.iter().any(|&b| b == b'/' || b == b'\\')
}

/// Whether every `/`-separated segment of raw (still encoded) path text
/// decodes to one segment, as [`is_one_segment`] judges it: no dot
/// segments, no encoded `/` or `\`. For a wildcard remainder, and for a
/// client's path parameter (one raw segment). Decodes on the fly: nothing
/// is allocated.
pub fn remainder_fits(raw: &[u8]) -> bool {
    raw.split(|&b| b == b'/').all(|segment| {
        let (mut len, mut dots) = (0, 0);
        for b in decoded(segment) {
            if b == b'/' || b == b'\\' {
                return false;
            }
            len += 1;
            dots += usize::from(b == b'.');
        }
        !(1..=2).contains(&len) || dots != len
    })
}

/// Appends `raw` with `%XX` sequences decoded; a `%` not followed by two hex
/// digits stays as it is (and is encoded again as `%25`).
pub fn percent_decode(raw: &[u8], out: &mut Vec<u8>) {
    out.extend(decoded(raw));
}

/// The bytes of `raw` with `%XX` sequences decoded.
fn decoded(raw: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *raw.get(i)?;
        if b == b'%'
            && let (Some(hi), Some(lo)) = (
                raw.get(i + 1).and_then(|&b| hex(b)),
                raw.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            i += 3;
            Some(hi << 4 | lo)
        } else {
            i += 1;
            Some(b)
        }
    })
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Bytes kept as they are, besides RFC 3986's unreserved `A-Za-z0-9-._~`.
type Keep = &'static [u8];

/// A path segment (RFC 3986 `pchar` without `;`, which some servers read as
/// a parameter delimiter, as in `..;/`).
const PATH_SEGMENT: Keep = b"!$&'()*+,=:@";
/// A query name or value: nothing that separates or ends parameters
/// (`&`, `=`, `;`, `+` read as space, `#`).
const QUERY_VALUE: Keep = b"!$'()*,:@/?";

fn encode(value: &[u8], keep: Keep, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep.contains(&b)
        {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
#[path = "url_tests.rs"]
mod tests;
