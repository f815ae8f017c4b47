//! `modifier/martian` (KrakenD CE's krakend-martian over google/martian
//! v2.1.0): the JSON tree read once into a tree of small enums, split as
//! martian's `parse.Result` splits it into what runs on the backend
//! request and what runs on its response. Applying it is
//! `modifier::martian`'s; nothing here runs per request.
//!
//! Shapes and semantics from google/martian v2.1.0 (`parse/parse.go` and
//! each package's `*FromJSON`) and krakend-martian (`martian.go`: the
//! registered packages; `header/id_modifier.go`). A type cuttle does not
//! know is an error naming it and its path (martian's
//! `ErrUnknownModifier`, which KrakenD only logs before serving the backend
//! without any modifier); a value that cannot go on the wire (CR, LF, NUL
//! in a header, a name that is no token) is refused here, where it is a
//! constant.

use regex::Regex;
use serde_json::{Map, Value};

use super::error::{BuildResult, Problem};

/// A backend's compiled modifiers: what edits the request before it is
/// sent, and what edits the response before it is decoded.
#[derive(Debug, Clone, Default)]
pub struct Martian {
    pub request: Option<ReqMod>,
    pub response: Option<ResMod>,
}

/// Request modifiers. Header names are stored as Go canonicalises them.
#[derive(Debug, Clone)]
pub enum ReqMod {
    /// `header.Modifier`: replaces every value of `name`.
    SetHeader { name: String, value: String },
    /// `header.Append`.
    AppendHeader { name: String, value: String },
    /// `header.Blacklist`.
    DeleteHeaders(Vec<String>),
    /// `header.Copy`: `to` gets the first value of `from` (empty if none).
    CopyHeader { from: String, to: String },
    /// krakend-martian's `header.Id`: a random UUID in `name` unless the
    /// request has one.
    Id { name: String },
    /// `querystring.Modifier`: replaces every value of `name`, then the
    /// query is written as `url.Values.Encode` does.
    SetQuery { name: String, value: String },
    /// `body.Modifier`.
    Body { content_type: String, body: Vec<u8> },
    /// `cookie.Modifier`: `name=value` added to the `Cookie` header.
    Cookie { pair: String },
    /// `url.Modifier`: the path (escaped as Go's `URL.EscapedPath` does)
    /// and the raw query, each only when set.
    Url {
        path: Option<String>,
        query: Option<String>,
    },
    /// `stash.Modifier`: the request's URL in header `name`.
    Stash { name: String },
    /// `fifo.Group` and `priority.Group` (already in priority order).
    Group(Vec<ReqMod>),
    /// A filter: `then` when the condition holds, else `otherwise`.
    Filter {
        cond: Cond,
        then: Option<Box<ReqMod>>,
        otherwise: Option<Box<ReqMod>>,
    },
}

/// Response modifiers.
#[derive(Debug, Clone)]
pub enum ResMod {
    SetHeader {
        name: String,
        value: String,
    },
    AppendHeader {
        name: String,
        value: String,
    },
    DeleteHeaders(Vec<String>),
    CopyHeader {
        from: String,
        to: String,
    },
    Body {
        content_type: String,
        body: Vec<u8>,
    },
    /// `cookie.Modifier`: a `Set-Cookie` line added.
    SetCookie {
        line: String,
    },
    /// `stash.Modifier`: header `name` copied from the request.
    Stash {
        name: String,
    },
    /// `status.Modifier`.
    Status(u16),
    Group(Vec<ResMod>),
    Filter {
        cond: Cond,
        then: Option<Box<ResMod>>,
        otherwise: Option<Box<ResMod>>,
    },
}

/// What a filter tests. On the response side `Header` reads the
/// response's headers; the others read the (modified) request, as in
/// martian.
#[derive(Debug, Clone)]
pub enum Cond {
    /// `header.Filter`: some value of `name` equals `value`.
    Header { name: String, value: String },
    /// `header.RegexFilter`: the request's first value of `name`, when not
    /// empty, matches.
    HeaderRegex { name: String, regex: Regex },
    /// `querystring.Filter`: the query has `name` (with `value`, when set).
    Query { name: String, value: String },
    /// `url.Filter`: each part that is set equals the request URL's.
    Url {
        scheme: String,
        host: String,
        path: String,
        query: String,
    },
    /// `url.RegexFilter`: matches the request URL as Go writes it.
    UrlRegex(Regex),
    /// `port.Filter`: the backend URL's port (80/443 when none is written).
    Port(u16),
}

/// What reading the tree found besides errors.
#[derive(Debug, Default)]
pub struct Notes {
    /// Keys Go's decoder would skip (warned about).
    pub ignored: Vec<String>,
    /// Modifier types KrakenD CE has and cuttle does not implement:
    /// refused unless `--ignore-unimplemented`, which leaves them out.
    pub unimplemented: Vec<Problem>,
}

/// The JSON node at `at` (the namespace's object): exactly one modifier.
pub fn parse(value: &Value, at: &str, notes: &mut Notes) -> BuildResult<Martian> {
    let (req, res) = node(value, at, notes)?;
    Ok(Martian {
        request: req,
        response: res,
    })
}

type Pair = (Option<ReqMod>, Option<ResMod>);

/// What a modifier type can do: martian's `RequestModifier` /
/// `ResponseModifier` interfaces.
#[derive(Clone, Copy)]
enum Can {
    Request,
    Response,
    Both,
}

/// The types cuttle knows, as registered by krakend-martian's imports.
pub const TYPES: &[&str] = &[
    "header.Modifier",
    "header.Append",
    "header.Blacklist",
    "header.Copy",
    "header.Id",
    "header.Filter",
    "header.RegexFilter",
    "querystring.Modifier",
    "querystring.Filter",
    "body.Modifier",
    "cookie.Modifier",
    "url.Modifier",
    "url.Filter",
    "url.RegexFilter",
    "stash.Modifier",
    "port.Filter",
    "status.Modifier",
    "fifo.Group",
    "priority.Group",
];

fn node(value: &Value, at: &str, notes: &mut Notes) -> BuildResult<Pair> {
    let Value::Object(map) = value else {
        return Err(Problem::new(
            at,
            "expected an object with one martian modifier, e.g. {\"header.Modifier\": {\"name\": \"X-A\", \"value\": \"b\"}}",
        ));
    };
    let entries: Vec<_> = map.iter().filter(|(k, _)| !k.starts_with('@')).collect();
    let [(kind, body)] = entries.as_slice() else {
        return Err(Problem::new(
            at,
            format!(
                "expected exactly one martian modifier, found {} ({}); wrap several in a \"fifo.Group\"",
                entries.len(),
                entries
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let at = format!("{at}.{kind}");
    let Value::Object(o) = body else {
        return Err(Problem::new(&at, "expected an object"));
    };
    let f = Fields { o, at: &at };
    let (can, req, res): (Can, Option<ReqMod>, Option<ResMod>) = match kind.as_str() {
        "header.Modifier" | "header.Append" => {
            f.known(&["name", "value", "scope"], notes);
            let name = f.header_name("name")?;
            let value = f.header_value("value")?;
            let append = kind.as_str() == "header.Append";
            let req = if append {
                ReqMod::AppendHeader {
                    name: name.clone(),
                    value: value.clone(),
                }
            } else {
                ReqMod::SetHeader {
                    name: name.clone(),
                    value: value.clone(),
                }
            };
            let res = if append {
                ResMod::AppendHeader { name, value }
            } else {
                ResMod::SetHeader { name, value }
            };
            (Can::Both, Some(req), Some(res))
        }
        "header.Blacklist" => {
            f.known(&["names", "scope"], notes);
            let mut names = Vec::new();
            for (i, name) in f.strings("names")?.iter().enumerate() {
                names.push(checked_name(name, &format!("{at}.names[{i}]"))?);
            }
            (
                Can::Both,
                Some(ReqMod::DeleteHeaders(names.clone())),
                Some(ResMod::DeleteHeaders(names)),
            )
        }
        "header.Copy" => {
            f.known(&["from", "to", "scope"], notes);
            let from = f.header_name("from")?;
            let to = f.header_name("to")?;
            (
                Can::Both,
                Some(ReqMod::CopyHeader {
                    from: from.clone(),
                    to: to.clone(),
                }),
                Some(ResMod::CopyHeader { from, to }),
            )
        }
        "header.Id" => {
            f.known(&["header", "scope"], notes);
            let name = match f.string("header")? {
                n if n.is_empty() => "X-Krakend-Id".to_owned(),
                _ => f.header_name("header")?,
            };
            (Can::Request, Some(ReqMod::Id { name }), None)
        }
        "querystring.Modifier" => {
            f.known(&["name", "value", "scope"], notes);
            let name = f.string("name")?;
            let value = f.string("value")?;
            (Can::Request, Some(ReqMod::SetQuery { name, value }), None)
        }
        "body.Modifier" => {
            f.known(&["body", "contentType", "scope"], notes);
            let content_type = f.header_value("contentType")?;
            let encoded = f.string("body")?;
            use base64::Engine as _;
            let body = base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map_err(|e| {
                    Problem::new(
                        format!("{at}.body"),
                        format!("not base64 (standard alphabet, padded): {e}"),
                    )
                })?;
            (
                Can::Both,
                Some(ReqMod::Body {
                    content_type: content_type.clone(),
                    body: body.clone(),
                }),
                Some(ResMod::Body { content_type, body }),
            )
        }
        "cookie.Modifier" => {
            f.known(
                &[
                    "name", "value", "path", "domain", "expires", "secure", "httpOnly", "maxAge",
                    "scope",
                ],
                notes,
            );
            let (pair, line) = cookie(&f)?;
            (
                Can::Both,
                Some(ReqMod::Cookie { pair }),
                Some(ResMod::SetCookie { line }),
            )
        }
        "url.Modifier" => {
            f.known(&["scheme", "host", "path", "query", "scope"], notes);
            for key in ["scheme", "host"] {
                if !f.string(key)?.is_empty() {
                    return Err(Problem::new(
                        format!("{at}.{key}"),
                        "not supported by cuttle: a martian modifier may not send the request to another scheme or host than the backend's; write it in the backend's \"host\"",
                    ));
                }
            }
            let path = f.string("path")?;
            if !path.is_empty() && !path.starts_with('/') {
                return Err(Problem::new(format!("{at}.path"), "must start with /"));
            }
            let query = f.string("query")?;
            if query.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'#') {
                return Err(Problem::new(
                    format!("{at}.query"),
                    "a raw query may not hold spaces, control characters or #: percent-encode them",
                ));
            }
            let path = (!path.is_empty()).then(|| escape_path(&path));
            let query = (!query.is_empty()).then_some(query);
            (Can::Request, Some(ReqMod::Url { path, query }), None)
        }
        "stash.Modifier" => {
            f.known(&["headerName", "scope"], notes);
            let name = f.header_name("headerName")?;
            let pair = scoped(
                Can::Both,
                Some(ReqMod::Stash { name: name.clone() }),
                Some(ResMod::Stash { name }),
                &f,
            )?;
            if pair.1.is_some() && pair.0.is_none() {
                return Err(Problem::new(
                    format!("{at}.scope"),
                    "to write the header on a response, the scope must be both request and response (martian's stash.Modifier)",
                ));
            }
            return Ok(pair);
        }
        "status.Modifier" => {
            f.known(&["statusCode", "scope"], notes);
            let code = f.int("statusCode")?;
            let code = u16::try_from(code)
                .ok()
                .filter(|c| (100..=999).contains(c))
                .ok_or_else(|| {
                    Problem::new(
                        format!("{at}.statusCode"),
                        "must be an HTTP status, 100 to 999",
                    )
                })?;
            (Can::Response, None, Some(ResMod::Status(code)))
        }
        "fifo.Group" => {
            f.known(&["modifiers", "scope", "aggregateErrors"], notes);
            f.boolean("aggregateErrors")?;
            let mut reqs = Vec::new();
            let mut ress = Vec::new();
            for (i, m) in f.list("modifiers")?.iter().enumerate() {
                let (req, res) = node(m, &format!("{at}.modifiers[{i}]"), notes)?;
                reqs.extend(req);
                ress.extend(res);
            }
            (
                Can::Both,
                Some(ReqMod::Group(reqs)),
                Some(ResMod::Group(ress)),
            )
        }
        "priority.Group" => {
            f.known(&["modifiers", "scope"], notes);
            // martian inserts each before the first of lower or equal
            // priority: highest first, later ones first among equals.
            let mut reqs: Vec<(i64, ReqMod)> = Vec::new();
            let mut ress: Vec<(i64, ResMod)> = Vec::new();
            for (i, m) in f.list("modifiers")?.iter().enumerate() {
                let at = format!("{at}.modifiers[{i}]");
                let Value::Object(entry) = m else {
                    return Err(Problem::new(
                        at,
                        "expected {\"priority\": N, \"modifier\": {...}}",
                    ));
                };
                let ef = Fields { o: entry, at: &at };
                ef.known(&["priority", "modifier"], notes);
                let priority = ef.int("priority")?;
                let (req, res) = node(ef.required("modifier")?, &format!("{at}.modifier"), notes)?;
                if let Some(req) = req {
                    let pos = reqs
                        .iter()
                        .position(|(p, _)| priority >= *p)
                        .unwrap_or(reqs.len());
                    reqs.insert(pos, (priority, req));
                }
                if let Some(res) = res {
                    let pos = ress
                        .iter()
                        .position(|(p, _)| priority >= *p)
                        .unwrap_or(ress.len());
                    ress.insert(pos, (priority, res));
                }
            }
            (
                Can::Both,
                Some(ReqMod::Group(reqs.into_iter().map(|(_, m)| m).collect())),
                Some(ResMod::Group(ress.into_iter().map(|(_, m)| m).collect())),
            )
        }
        "header.Filter" | "querystring.Filter" | "url.Filter" | "url.RegexFilter"
        | "header.RegexFilter" | "port.Filter" => {
            let has_else = !matches!(kind.as_str(), "header.RegexFilter" | "port.Filter");
            let cond = match kind.as_str() {
                "header.Filter" => {
                    f.known(&["name", "value", "modifier", "else", "scope"], notes);
                    Cond::Header {
                        name: f.header_name("name")?,
                        value: f.string("value")?,
                    }
                }
                "querystring.Filter" => {
                    f.known(&["name", "value", "modifier", "else", "scope"], notes);
                    Cond::Query {
                        name: f.string("name")?,
                        value: f.string("value")?,
                    }
                }
                "url.Filter" => {
                    f.known(
                        &[
                            "scheme", "host", "path", "query", "modifier", "else", "scope",
                        ],
                        notes,
                    );
                    Cond::Url {
                        scheme: f.string("scheme")?,
                        host: f.string("host")?,
                        path: f.string("path")?,
                        query: f.string("query")?,
                    }
                }
                "url.RegexFilter" => {
                    f.known(&["regex", "modifier", "else", "scope"], notes);
                    Cond::UrlRegex(f.regex("regex")?)
                }
                "header.RegexFilter" => {
                    f.known(&["header", "regex", "modifier", "scope"], notes);
                    Cond::HeaderRegex {
                        name: f.header_name("header")?,
                        regex: f.regex("regex")?,
                    }
                }
                _ => {
                    f.known(&["port", "modifier", "scope"], notes);
                    let port = f.int("port")?;
                    Cond::Port(u16::try_from(port).map_err(|_| {
                        Problem::new(format!("{at}.port"), "must be a port, 0 to 65535")
                    })?)
                }
            };
            let (treq, tres) = node(f.required("modifier")?, &format!("{at}.modifier"), notes)?;
            let (freq, fres) = match o.get("else") {
                Some(e) if has_else => node(e, &format!("{at}.else"), notes)?,
                _ => (None, None),
            };
            (
                Can::Both,
                Some(ReqMod::Filter {
                    cond: cond.clone(),
                    then: treq.map(Box::new),
                    otherwise: freq.map(Box::new),
                }),
                Some(ResMod::Filter {
                    cond,
                    then: tres.map(Box::new),
                    otherwise: fres.map(Box::new),
                }),
            )
        }
        "static.Modifier" => {
            notes.unimplemented.push(Problem::new(
                at,
                "krakend-martian's static.Modifier (serving local files instead of calling the backend) is not implemented by cuttle",
            ));
            return Ok((None, None));
        }
        "port.Modifier" => {
            return Err(Problem::new(
                at,
                "not supported by cuttle: a martian modifier may not send the request to another port than the backend's; write it in the backend's \"host\"",
            ));
        }
        other => {
            return Err(Problem::new(
                at,
                format!(
                    "unknown martian modifier type \"{other}\"; cuttle knows {}",
                    TYPES.join(", ")
                ),
            ));
        }
    };
    scoped(can, req, res, &f)
}

/// martian's `parse.NewResult`: without `scope` (or with null) the
/// modifier runs where it can; with one, only there, and a side it cannot
/// run on is an error.
fn scoped(can: Can, req: Option<ReqMod>, res: Option<ResMod>, f: &Fields<'_>) -> BuildResult<Pair> {
    let scope = match f.o.get("scope") {
        None | Some(Value::Null) => return Ok((req, res)),
        Some(_) => f.strings("scope")?,
    };
    let (mut want_req, mut want_res) = (false, false);
    for (i, s) in scope.iter().enumerate() {
        let at = format!("{}.scope[{i}]", f.at);
        match (s.as_str(), can) {
            ("request", Can::Request | Can::Both) => want_req = true,
            ("response", Can::Response | Can::Both) => want_res = true,
            ("request" | "response", _) => {
                return Err(Problem::new(
                    at,
                    format!(
                        "invalid scope \"{s}\" for this modifier: it only runs on the {}",
                        match can {
                            Can::Request => "request",
                            _ => "response",
                        }
                    ),
                ));
            }
            _ => {
                return Err(Problem::new(
                    at,
                    format!("invalid scope \"{s}\": write \"request\" or \"response\""),
                ));
            }
        }
    }
    Ok((req.filter(|_| want_req), res.filter(|_| want_res)))
}

/// A modifier's fields, read as Go's `encoding/json` reads them into its
/// struct (null is the zero value; another type is an error naming the
/// field).
struct Fields<'a> {
    o: &'a Map<String, Value>,
    at: &'a str,
}

impl Fields<'_> {
    fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.at)
    }

    /// Keys Go's decoder skips: reported as ignored.
    fn known(&self, keys: &[&str], notes: &mut Notes) {
        for key in self.o.keys() {
            if !key.starts_with('@') && !keys.contains(&key.as_str()) {
                notes.ignored.push(self.path(key));
            }
        }
    }

    fn string(&self, key: &str) -> BuildResult<String> {
        match self.o.get(key) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(Problem::new(self.path(key), "expected a string")),
        }
    }

    fn int(&self, key: &str) -> BuildResult<i64> {
        match self.o.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64().unwrap_or_default()),
            Some(_) => Err(Problem::new(self.path(key), "expected an integer")),
        }
    }

    fn boolean(&self, key: &str) -> BuildResult<bool> {
        match self.o.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(Problem::new(self.path(key), "expected true or false")),
        }
    }

    fn list(&self, key: &str) -> BuildResult<&[Value]> {
        match self.o.get(key) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(Problem::new(self.path(key), "expected a list")),
        }
    }

    fn strings(&self, key: &str) -> BuildResult<Vec<String>> {
        let mut out = Vec::new();
        for (i, v) in self.list(key)?.iter().enumerate() {
            match v {
                Value::String(s) => out.push(s.clone()),
                _ => {
                    return Err(Problem::new(
                        format!("{}[{i}]", self.path(key)),
                        "expected a string",
                    ));
                }
            }
        }
        Ok(out)
    }

    fn required(&self, key: &str) -> BuildResult<&Value> {
        self.o.get(key).ok_or_else(|| {
            Problem::new(
                self.path(key),
                "missing: a filter needs the modifier it applies",
            )
        })
    }

    fn regex(&self, key: &str) -> BuildResult<Regex> {
        let source = self.string(key)?;
        Regex::new(&source).map_err(|e| {
            Problem::new(
                self.path(key),
                format!("not a valid regular expression: {e}"),
            )
        })
    }

    fn header_name(&self, key: &str) -> BuildResult<String> {
        checked_name(&self.string(key)?, &self.path(key))
    }

    fn header_value(&self, key: &str) -> BuildResult<String> {
        let value = self.string(key)?;
        if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(Problem::new(
                self.path(key),
                "a header value may not hold CR, LF, NUL or other control characters",
            ));
        }
        Ok(value)
    }
}

/// A header name: a token, not one of those the gateway writes itself
/// (martian maps them to Go's request fields, which cuttle does not
/// expose). Returned in Go's canonical form.
fn checked_name(name: &str, at: &str) -> BuildResult<String> {
    if name.is_empty() || !name.bytes().all(crate::http::is_tchar) {
        return Err(Problem::new(
            at,
            format!(
                "\"{}\" is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)",
                name.escape_debug()
            ),
        ));
    }
    let canonical = canonical_header(name);
    if ["Host", "Content-Length", "Transfer-Encoding", "Connection"].contains(&canonical.as_str()) {
        return Err(Problem::new(
            at,
            format!(
                "{canonical} is written by the gateway itself and cannot be set, removed or read by a martian modifier in cuttle"
            ),
        ));
    }
    Ok(canonical)
}

/// Go's `http.CanonicalHeaderKey` (`http::canonical_header`).
pub fn canonical_header(name: &str) -> String {
    crate::http::canonical_header(name.as_bytes())
}

/// Go's `url.PathEscape`-like `escape(path, encodePath)`: what
/// `URL.EscapedPath` writes for a path set without a raw form.
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `cookie.Modifier`: the request's `name=value` (Go's `AddCookie`) and
/// the response's `Set-Cookie` line (Go's `Cookie.String`).
fn cookie(f: &Fields<'_>) -> BuildResult<(String, String)> {
    let name = f.string("name")?;
    if name.is_empty() || !name.bytes().all(crate::http::is_tchar) {
        return Err(Problem::new(f.path("name"), "not a cookie name (a token)"));
    }
    let value = f.string("value")?;
    // Go drops the bytes a cookie value may not hold; a constant with them
    // is a mistake, refused here.
    if !value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b';' && b != b'\\')
    {
        return Err(Problem::new(
            f.path("value"),
            "a cookie value may not hold control characters, '\"', ';' or '\\'",
        ));
    }
    let value = if value.contains([' ', ',']) {
        format!("\"{value}\"")
    } else {
        value
    };
    let pair = format!("{name}={value}");
    let mut line = pair.clone();
    let path = f.string("path")?;
    if !path.is_empty() {
        if path.bytes().any(|b| b < 0x20 || b == 0x7f || b == b';') {
            return Err(Problem::new(
                f.path("path"),
                "may not hold control characters or ';'",
            ));
        }
        line.push_str("; Path=");
        line.push_str(&path);
    }
    let domain = f.string("domain")?;
    if !domain.is_empty() {
        let d = domain.trim_start_matches('.');
        if !d
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(Problem::new(f.path("domain"), "not a domain name"));
        }
        line.push_str("; Domain=");
        line.push_str(d);
    }
    if !matches!(f.o.get("expires"), None | Some(Value::Null)) {
        return Err(Problem::new(
            f.path("expires"),
            "not supported by cuttle; use \"maxAge\"",
        ));
    }
    let max_age = f.int("maxAge")?;
    if max_age > 0 {
        line.push_str(&format!("; Max-Age={max_age}"));
    } else if max_age < 0 {
        line.push_str("; Max-Age=0");
    }
    if f.boolean("httpOnly")? {
        line.push_str("; HttpOnly");
    }
    if f.boolean("secure")? {
        line.push_str("; Secure");
    }
    Ok((pair, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(json: &str) -> BuildResult<Martian> {
        let value: Value = serde_json::from_str(json).unwrap();
        parse(
            &value,
            "b.extra_config.modifier/martian",
            &mut Notes::default(),
        )
    }

    #[test]
    fn scope_defaults_to_what_the_modifier_can() {
        let m = parse_str(r#"{"querystring.Modifier": {"name": "a", "value": "b"}}"#).unwrap();
        assert!(m.request.is_some() && m.response.is_none());
        let m = parse_str(r#"{"header.Modifier": {"name": "x-a", "value": "b"}}"#).unwrap();
        assert!(matches!(m.request, Some(ReqMod::SetHeader { ref name, .. }) if name == "X-A"));
        assert!(m.response.is_some());
        let m = parse_str(
            r#"{"header.Modifier": {"name": "x-a", "value": "b", "scope": ["response"]}}"#,
        )
        .unwrap();
        assert!(m.request.is_none() && m.response.is_some());
    }

    #[test]
    fn errors_name_the_path() {
        let e = parse_str(r#"{"fifo.Group": {"modifiers": [{"nope.Thing": {}}]}}"#).unwrap_err();
        assert_eq!(
            e.at,
            "b.extra_config.modifier/martian.fifo.Group.modifiers[0].nope.Thing"
        );
        assert!(
            e.message
                .contains("unknown martian modifier type \"nope.Thing\""),
            "{}",
            e.message
        );
        let e = parse_str(r#"{"querystring.Modifier": {"name": "a", "scope": ["response"]}}"#)
            .unwrap_err();
        assert!(e.at.ends_with("scope[0]"), "{}", e.at);
        let e = parse_str(r#"{"header.Modifier": {"name": "X-A", "value": "a\r\nX-B: c"}}"#)
            .unwrap_err();
        assert!(e.at.ends_with("header.Modifier.value"), "{}", e.at);
        let e = parse_str(r#"{"header.Filter": {"name": "X-A", "value": "1"}}"#).unwrap_err();
        assert!(e.at.ends_with("header.Filter.modifier"), "{}", e.at);
        let e = parse_str(r#"{"body.Modifier": {"body": "%%%"}}"#).unwrap_err();
        assert!(e.at.ends_with("body.Modifier.body"), "{}", e.at);
    }

    #[test]
    fn priority_group_orders_highest_first_later_first_among_equals() {
        let m = parse_str(
            r#"{"priority.Group": {"modifiers": [
                {"priority": 1, "modifier": {"header.Modifier": {"name": "A", "value": "1"}}},
                {"priority": 5, "modifier": {"header.Modifier": {"name": "B", "value": "5"}}},
                {"priority": 1, "modifier": {"header.Modifier": {"name": "C", "value": "1"}}}
            ]}}"#,
        )
        .unwrap();
        let Some(ReqMod::Group(mods)) = m.request else {
            panic!()
        };
        let names: Vec<_> = mods
            .iter()
            .map(|m| match m {
                ReqMod::SetHeader { name, .. } => name.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(names, ["B", "C", "A"]);
    }

    #[test]
    fn paths_are_escaped_as_go_does() {
        assert_eq!(escape_path("/a b/ü?x"), "/a%20b/%C3%BC%3Fx");
    }
}
