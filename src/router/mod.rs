//! The route table: built once per worker from the endpoints, matched per
//! request without allocating.
//!
//! Paths are matched segment by segment on the raw (still percent-encoded)
//! request path, so `/a/b%2Fc` is two segments (gin splits the decoded
//! path; a parameter holding `%2F` is refused by the proxy); a literal
//! segment also matches its percent-encoded spelling, as the decoded path
//! gin matches would (`/st%61tic` is `/static`). A literal segment is preferred over a
//! `{placeholder}` at the same position, so `/users/me` and `/users/{id}` can
//! live side by side (KrakenD's router refuses that at start-up).
//!
//! Two KrakenD Enterprise forms: a placeholder inside a segment
//! (`/file.{ext}`, with the root `disable_rest`), tried after the literals
//! and before a whole-segment placeholder, longest fixed text first; and a
//! final `/*` (wildcard endpoint), tried last, so explicit routes win and a
//! longer wildcard prefix wins over a shorter one. The wildcard's remainder
//! (the rest of the path, possibly empty) is the last entry of `params`.

use smallvec::SmallVec;

use crate::http::Method;

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch {
    /// An endpoint for this path and method; `params` are byte ranges into
    /// the path, in the order of the endpoint's placeholders.
    Found { endpoint: usize, params: Params },
    /// The path exists, but not for this method.
    MethodNotAllowed,
    /// Nothing here; `redirect` is a path that would match if the client
    /// fixed its case or its trailing slash (KrakenD redirects those).
    NotFound { redirect: Option<String> },
}

/// Path parameter values as `(start, end)` offsets into the matched path.
pub type Params = SmallVec<[(u32, u32); 4]>;

type PerMethod = [Option<u32>; Method::ALL.len()];

#[derive(Default, Debug)]
struct Node {
    literals: Vec<(Box<str>, Node)>,
    /// `prefix{name}suffix` segments, longest `prefix + suffix` first.
    embedded: Vec<(Box<str>, Box<str>, Node)>,
    param: Option<Box<Node>>,
    /// Endpoint index per method, for routes ending at this node.
    endpoints: PerMethod,
    /// Endpoint index per method, for `/*` routes whose prefix ends here.
    wildcard: PerMethod,
}

impl Node {
    fn has_wildcard(&self) -> bool {
        self.wildcard.iter().any(Option::is_some)
    }
}

/// Whether `table` serves `method` (any method when `None`).
fn serves(table: &PerMethod, method: Option<Method>) -> bool {
    match method {
        Some(method) => endpoint_for(table, method).is_some(),
        None => table.iter().any(Option::is_some),
    }
}

/// How an endpoint path segment is matched.
enum Piece<'a> {
    Literal(&'a str),
    Param(&'a str),
    Embedded(&'a str, &'a str, &'a str),
    Wildcard,
}

fn piece(segment: &str, last: bool) -> Piece<'_> {
    if last && segment == "*" {
        return Piece::Wildcard;
    }
    if let Some(name) = placeholder_name(segment) {
        return Piece::Param(name);
    }
    match (segment.find('{'), segment.rfind('}')) {
        (Some(open), Some(close)) if open < close => Piece::Embedded(
            &segment[..open],
            &segment[open + 1..close],
            &segment[close + 1..],
        ),
        _ => Piece::Literal(segment),
    }
}

/// The placeholder names of an endpoint path, in order (whole-segment and
/// in-segment ones; the `/*` remainder has none).
pub fn endpoint_param_names(path: &str) -> Vec<&str> {
    let pieces: Vec<&str> = segments(path).collect();
    let count = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .filter_map(|(i, segment)| match piece(segment, i + 1 == count) {
            Piece::Param(name) | Piece::Embedded(_, name, _) => Some(name),
            Piece::Literal(_) | Piece::Wildcard => None,
        })
        .collect()
}

#[derive(Debug)]
pub struct Router {
    root: Node,
    /// Placeholder names per endpoint, in path order.
    param_names: Vec<Vec<Box<str>>>,
    redirects: Redirects,
}

/// Which near misses the router redirects (gin's `RedirectTrailingSlash`
/// and `RedirectFixedPath`; lura's `router/gin/engine.go` turns both on
/// unless `disable_redirect_trailing_slash` / `disable_redirect_fixed_path`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirects {
    /// `/a/` to `/a` (or back) when only the other one has a route.
    pub trailing_slash: bool,
    /// The path cleaned (`//`, `.`, `..`) and compared without case, the
    /// trailing slash toggled too.
    pub fixed_path: bool,
}

impl Default for Redirects {
    fn default() -> Redirects {
        Redirects {
            trailing_slash: true,
            fixed_path: true,
        }
    }
}

/// A placeholder segment `{name}`.
fn placeholder_name(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

impl Router {
    /// Builds the table from `(path, method)` pairs; the index of a pair is
    /// the endpoint index returned by [`Router::route`]. Conflicts were
    /// rejected by the config validation; a later duplicate replaces an
    /// earlier one.
    pub fn new<'a>(routes: impl IntoIterator<Item = (&'a str, Method)>) -> Router {
        let mut router = Router {
            root: Node::default(),
            param_names: Vec::new(),
            redirects: Redirects::default(),
        };
        for (index, (path, method)) in routes.into_iter().enumerate() {
            let mut node = &mut router.root;
            let mut names = Vec::new();
            let pieces: Vec<&str> = segments(path).collect();
            let count = pieces.len();
            let mut wildcard = false;
            for (i, segment) in pieces.into_iter().enumerate() {
                node = match piece(segment, i + 1 == count) {
                    Piece::Wildcard => {
                        wildcard = true;
                        break;
                    }
                    Piece::Param(name) => {
                        names.push(name.into());
                        node.param.get_or_insert_with(Default::default)
                    }
                    Piece::Embedded(prefix, name, suffix) => {
                        names.push(name.into());
                        let at = match node
                            .embedded
                            .iter()
                            .position(|(p, s, _)| &**p == prefix && &**s == suffix)
                        {
                            Some(at) => at,
                            None => {
                                node.embedded
                                    .push((prefix.into(), suffix.into(), Node::default()));
                                // Longest fixed text first: `/file.{x}.json`
                                // before `/file.{x}`.
                                node.embedded
                                    .sort_by_key(|(p, s, _)| std::cmp::Reverse(p.len() + s.len()));
                                node.embedded
                                    .iter()
                                    .position(|(p, s, _)| &**p == prefix && &**s == suffix)
                                    .unwrap_or(0)
                            }
                        };
                        &mut node.embedded[at].2
                    }
                    Piece::Literal(segment) => {
                        let at = match node.literals.iter().position(|(s, _)| &**s == segment) {
                            Some(at) => at,
                            None => {
                                node.literals.push((segment.into(), Node::default()));
                                node.literals.len() - 1
                            }
                        };
                        &mut node.literals[at].1
                    }
                };
            }
            if wildcard {
                node.wildcard[method.index()] = Some(index as u32);
            } else {
                node.endpoints[method.index()] = Some(index as u32);
            }
            router.param_names.push(names);
        }
        router
    }

    /// Sets which near misses are redirected (both, by default).
    pub fn with_redirects(mut self, redirects: Redirects) -> Router {
        self.redirects = redirects;
        self
    }

    /// The placeholder names of endpoint `endpoint`, in path order.
    pub fn param_names(&self, endpoint: usize) -> &[Box<str>] {
        &self.param_names[endpoint]
    }

    /// Matches a raw request path (without the query).
    pub fn route(&self, method: Method, path: &[u8]) -> RouteMatch {
        if path.first() != Some(&b'/') {
            return RouteMatch::NotFound { redirect: None };
        }
        let mut params = Params::new();
        if let Some(hit) = descend(&self.root, path, 1, &mut params, Some(method), false)
            && let Some(endpoint) = endpoint_for(hit.table(), method)
        {
            return RouteMatch::Found {
                endpoint: endpoint as usize,
                params,
            };
        }
        // gin's `handleHTTPRequest`: the redirects (within the method's own
        // routes) come before the search for another method's route.
        if let Some(to) = self.redirect(method, path) {
            return RouteMatch::NotFound { redirect: Some(to) };
        }
        params.clear();
        if descend(&self.root, path, 1, &mut params, None, false).is_some() {
            return RouteMatch::MethodNotAllowed;
        }
        RouteMatch::NotFound { redirect: None }
    }

    /// The methods that have a route for `path` (for `auto_options`' Allow),
    /// in [`Method::ALL`]'s order. Allocates: not for every request.
    pub fn allowed_methods(&self, path: &[u8]) -> Vec<Method> {
        if path.first() != Some(&b'/') {
            return Vec::new();
        }
        let mut params = Params::new();
        Method::ALL
            .into_iter()
            .filter(|&method| {
                params.clear();
                descend(&self.root, path, 1, &mut params, Some(method), false)
                    .is_some_and(|hit| hit.table()[method.index()].is_some())
            })
            .collect()
    }

    /// Where gin would redirect a request that matched no route of its
    /// method (never `/` nor CONNECT): with `trailing_slash`, the same path
    /// with its trailing slash toggled; with `fixed_path`, the cleaned path
    /// (then toggled) compared without case, rebuilt with the route's own
    /// literals (gin `redirectTrailingSlash`, `redirectFixedPath`, which
    /// passes `trailingSlash = true` to `findCaseInsensitivePath`).
    fn redirect(&self, method: Method, path: &[u8]) -> Option<String> {
        if path == b"/" || method == Method::Connect {
            return None;
        }
        let serves = |candidate: &[u8], case_insensitive: bool| {
            let mut params = Params::new();
            descend(
                &self.root,
                candidate,
                1,
                &mut params,
                Some(method),
                case_insensitive,
            )
            .is_some_and(|hit| endpoint_for(hit.table(), method).is_some())
        };
        if self.redirects.trailing_slash {
            let toggled = toggle_trailing_slash(path);
            if serves(&toggled, false) {
                return Some(rebuild(&self.root, &toggled));
            }
        }
        if self.redirects.fixed_path {
            let cleaned = clean_path(path);
            let toggled = toggle_trailing_slash(&cleaned);
            return [cleaned, toggled]
                .into_iter()
                .find(|candidate| serves(candidate, true))
                .map(|candidate| rebuild(&self.root, &candidate));
        }
        None
    }
}

/// `path` with a trailing slash added, or removed (`/` stays `/`).
fn toggle_trailing_slash(path: &[u8]) -> Vec<u8> {
    match path.strip_suffix(b"/") {
        Some(p) if !p.is_empty() => p.to_vec(),
        Some(_) => b"/".to_vec(),
        None => [path, b"/"].concat(),
    }
}

/// Whether [`clean_path`] would leave `path` as it is.
pub fn is_clean(path: &[u8]) -> bool {
    let Some(mut rest) = path.strip_prefix(b"/") else {
        return false;
    };
    loop {
        match rest.iter().position(|&b| b == b'/') {
            Some(end) => {
                if matches!(&rest[..end], b"" | b"." | b"..") {
                    return false;
                }
                rest = &rest[end + 1..];
            }
            None => return !matches!(rest, b"." | b".."),
        }
    }
}

/// gin's `cleanPath`: rooted, empty and `.` segments dropped, `..` removes
/// the segment before it, a trailing slash kept. Works on the raw path, so
/// an encoded dot (`%2e`) is not a dot here. Allocates: only for a path
/// that is not clean (see [`is_clean`]) under `remove_extra_slash`, and for
/// redirects.
pub fn clean_path(path: &[u8]) -> Vec<u8> {
    let mut kept: Vec<&[u8]> = Vec::new();
    for segment in path.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for segment in &kept {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    // gin keeps a trailing slash, and makes a final `.` one ("/a/." is
    // "/a/"); a final `..` leaves none.
    let trailing = path.len() > 1 && (path.ends_with(b"/") || path.ends_with(b"/."));
    if out.is_empty() || trailing {
        out.push(b'/');
    }
    out
}

/// Why gin answers 400 for a path parameter (lura `router/gin/engine.go`
/// `paramChecker`, on unless `disable_path_decoding`). gin routes the path
/// Go already decoded once and checks each parameter value: decoding it
/// again must change nothing and give no `?` or `#`. cuttle routes the raw
/// path, so the value gin sees is `raw` decoded once: it is refused when it
/// holds a `%` (the client encoded a `%`: `%2541`, `%25zz`) or a `?`/`#`
/// (sent as `%3F`/`%23`). The text is lura's answer body.
pub fn encoded_param(raw: &[u8]) -> Option<String> {
    if !raw.contains(&b'%') {
        return None;
    }
    let mut value = Vec::with_capacity(raw.len());
    crate::pipeline::percent_decode(raw, &mut value);
    // Go's `url.PathUnescape` fails on the first bad escape.
    let is_hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
    for (i, _) in value.iter().enumerate().filter(|(_, b)| **b == b'%') {
        if !is_hex(value.get(i + 1)) || !is_hex(value.get(i + 2)) {
            let bad = &value[i..(i + 3).min(value.len())];
            return Some(format!(
                "error: invalid URL escape \"{}\"",
                bad.escape_ascii()
            ));
        }
    }
    value
        .iter()
        .any(|b| matches!(b, b'%' | b'?' | b'#'))
        .then(|| "error: encoded url params".to_owned())
}

fn endpoint_for(table: &PerMethod, method: Method) -> Option<u32> {
    table[method.index()]
        // HEAD is served by the GET endpoint, without a body.
        .or_else(|| {
            (method == Method::Head)
                .then(|| table[Method::Get.index()])
                .flatten()
        })
}

/// Where a path ended: at a node's own routes, or under its wildcard.
struct Hit<'n> {
    node: &'n Node,
    wildcard: bool,
}

impl Hit<'_> {
    fn table(&self) -> &PerMethod {
        if self.wildcard {
            &self.node.wildcard
        } else {
            &self.node.endpoints
        }
    }
}

/// Walks the tree from `path[from..]`; literals first, then in-segment
/// placeholders, then the whole-segment placeholder, then a wildcard. Only
/// routes for `method` count (any method when `None`), so that a route for
/// another method on one branch does not hide this one's on another.
fn descend<'n>(
    node: &'n Node,
    path: &[u8],
    from: usize,
    params: &mut Params,
    method: Option<Method>,
    case_insensitive: bool,
) -> Option<Hit<'n>> {
    if path.first() != Some(&b'/') {
        return None;
    }
    let end = path[from..]
        .iter()
        .position(|&b| b == b'/')
        .map_or(path.len(), |p| from + p);
    let segment = &path[from..end];
    let last = end == path.len();
    let next = |child: &'n Node, params: &mut Params| {
        if last {
            serves(&child.endpoints, method).then_some(Hit {
                node: child,
                wildcard: false,
            })
        } else {
            descend(child, path, end + 1, params, method, case_insensitive)
        }
    };
    let equal = |a: &[u8], b: &[u8]| {
        if case_insensitive {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    // gin matches the path Go decoded once: a literal matches a segment
    // that spells it with escapes (`st%61tic` is `static`).
    let encoded = segment.contains(&b'%');
    let literal_matches = |literal: &[u8]| {
        equal(literal, segment) || (encoded && decoded_equal(literal, segment, case_insensitive))
    };
    for (literal, child) in &node.literals {
        if literal_matches(literal.as_bytes()) {
            let mark = params.len();
            if let Some(found) = next(child, params) {
                return Some(found);
            }
            params.truncate(mark);
        }
    }
    for (prefix, suffix, child) in &node.embedded {
        let (p, s) = (prefix.len(), suffix.len());
        if segment.len() > p + s
            && equal(prefix.as_bytes(), &segment[..p])
            && equal(suffix.as_bytes(), &segment[segment.len() - s..])
        {
            let mark = params.len();
            params.push(((from + p) as u32, (end - s) as u32));
            if let Some(found) = next(child, params) {
                return Some(found);
            }
            params.truncate(mark);
        }
    }
    if let Some(child) = &node.param
        && !segment.is_empty()
    {
        params.push((from as u32, end as u32));
        if let Some(found) = next(child, params) {
            return Some(found);
        }
        params.pop();
    }
    if serves(&node.wildcard, method) {
        // The rest of the path, from this segment on (may be empty).
        params.push((from as u32, path.len() as u32));
        return Some(Hit {
            node,
            wildcard: true,
        });
    }
    None
}

/// Whether `raw`, its `%XX` escapes decoded, is `literal` (ignoring ASCII
/// case when asked). An escape that is not one stays as written.
fn decoded_equal(literal: &[u8], raw: &[u8], case_insensitive: bool) -> bool {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut want = literal.iter();
    let mut i = 0;
    while i < raw.len() {
        let byte = match (
            raw[i],
            raw.get(i + 1).copied().and_then(hex),
            raw.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                i += 3;
                hi << 4 | lo
            }
            (b, _, _) => {
                i += 1;
                b
            }
        };
        match want.next() {
            Some(&w) if w == byte || (case_insensitive && w.eq_ignore_ascii_case(&byte)) => {}
            _ => return false,
        }
    }
    want.next().is_none()
}

/// Rewrites `path` with the case of the route's literals (parameter values
/// kept as sent).
fn rebuild(root: &Node, path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    let mut node = root;
    let mut from = 1;
    for segment in path[1..].split(|&b| b == b'/') {
        out.push('/');
        if let Some((literal, child)) = node.literals.iter().find(|(l, _)| {
            l.as_bytes().eq_ignore_ascii_case(segment) || decoded_equal(l.as_bytes(), segment, true)
        }) {
            out.push_str(literal);
            node = child;
        } else if let Some((prefix, suffix, child)) = node.embedded.iter().find(|(p, s, _)| {
            segment.len() > p.len() + s.len()
                && p.as_bytes().eq_ignore_ascii_case(&segment[..p.len()])
                && s.as_bytes()
                    .eq_ignore_ascii_case(&segment[segment.len() - s.len()..])
        }) {
            out.push_str(prefix);
            out.push_str(&String::from_utf8_lossy(
                &segment[prefix.len()..segment.len() - suffix.len()],
            ));
            out.push_str(suffix);
            node = child;
        } else if let Some(child) = &node.param {
            out.push_str(&String::from_utf8_lossy(segment));
            node = child;
        } else if node.has_wildcard() {
            out.push_str(&String::from_utf8_lossy(&path[from..]));
            break;
        }
        from += segment.len() + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new([
            ("/users/{user}", Method::Get),
            ("/users/me", Method::Get),
            ("/users/{user}/posts/{post}", Method::Get),
            ("/users/{user}", Method::Post),
            ("/static", Method::Get),
            ("/", Method::Get),
        ])
    }

    fn check(method: Method, path: &str, want: &str) {
        let r = router();
        let have = match r.route(method, path.as_bytes()) {
            RouteMatch::Found { endpoint, params } => {
                let values: Vec<&str> = params
                    .iter()
                    .map(|&(s, e)| &path[s as usize..e as usize])
                    .collect();
                format!("{endpoint} {}", values.join(","))
            }
            RouteMatch::MethodNotAllowed => "405".into(),
            RouteMatch::NotFound { redirect: Some(to) } => format!("-> {to}"),
            RouteMatch::NotFound { redirect: None } => "404".into(),
        };
        assert_eq!(have.trim_end(), want, "{method} {path}");
    }

    #[test]
    fn routes() {
        let rows = [
            (Method::Get, "/users/42", "0 42"),
            (Method::Get, "/users/me", "1"),
            (Method::Get, "/users/7/posts/9", "2 7,9"),
            (Method::Post, "/users/7", "3 7"),
            (Method::Head, "/users/7", "0 7"),
            (Method::Delete, "/users/7", "405"),
            (Method::Get, "/users", "404"),
            (Method::Get, "/users/", "404"),
            (Method::Get, "/users/a%2Fb", "0 a%2Fb"),
            (Method::Get, "/nope", "404"),
            (Method::Get, "/", "5"),
            (Method::Get, "/StAtic", "-> /static"),
            (Method::Get, "/static/", "-> /static"),
            (Method::Get, "/USERS/Abc", "-> /users/Abc"),
            (Method::Get, "/st%61tic", "4"),
            (Method::Get, "/%75sers/me", "1"),
            (Method::Get, "/ST%41TIC", "-> /static"),
            (Method::Get, "/st%2561tic", "404"),
            (Method::Get, "/st%61tic/", "-> /static"),
            (Method::Get, "", "404"),
            (Method::Get, "relative", "404"),
        ];
        for (method, path, want) in rows {
            check(method, path, want);
        }
    }

    fn check_with(r: &Router, method: Method, path: &str, want: &str) {
        let have = match r.route(method, path.as_bytes()) {
            RouteMatch::Found { endpoint, params } => {
                let values: Vec<&str> = params
                    .iter()
                    .map(|&(s, e)| &path[s as usize..e as usize])
                    .collect();
                format!("{endpoint} [{}]", values.join(","))
            }
            RouteMatch::MethodNotAllowed => "405".into(),
            RouteMatch::NotFound { redirect: Some(to) } => format!("-> {to}"),
            RouteMatch::NotFound { redirect: None } => "404".into(),
        };
        assert_eq!(have, want, "{method} {path}");
    }

    #[test]
    fn wildcards_come_last_and_the_longest_prefix_wins() {
        let r = Router::new([
            ("/v1/*", Method::Get),
            ("/v1/users/*", Method::Get),
            ("/v1/users/me", Method::Get),
            ("/v1/{id}/*", Method::Post),
            ("/v1/items/{id}", Method::Get),
            ("/v2/{id}/*", Method::Get),
        ]);
        let rows = [
            ("/v1/a", "0 [a]"),
            ("/v1/a/b/c", "0 [a/b/c]"),
            ("/v1/", "0 []"),
            ("/v1/users/me", "2 []"),
            ("/v1/users/you", "1 [you]"),
            ("/v1/users/", "1 []"),
            ("/v1/users", "0 [users]"),
            ("/v1/items/7", "4 [7]"),
            ("/v1/items/7/x", "0 [items/7/x]"),
            ("/v1/a%2Fb/..", "0 [a%2Fb/..]"),
            ("/v2/7/x/y", "5 [7,x/y]"),
            ("/v2/7", "-> /v2/7/"),
            ("/v1", "-> /v1/"),
            ("/V1/Users/x", "-> /v1/users/x"),
            ("/other", "404"),
        ];
        for (path, want) in rows {
            check_with(&r, Method::Get, path, want);
        }
        check_with(&r, Method::Post, "/v1/7/x", "3 [7,x]");
        check_with(&r, Method::Delete, "/v1/7/x", "405");
        assert_eq!(r.param_names(5).len(), 1);
    }

    #[test]
    fn placeholders_inside_a_segment() {
        let r = Router::new([
            ("/file.{ext}", Method::Get),
            ("/file.{name}.json", Method::Get),
            ("/var{iable}", Method::Get),
            ("/file.txt", Method::Get),
            ("/{any}", Method::Get),
        ]);
        let rows = [
            ("/file.png", "0 [png]"),
            ("/file.a.json", "1 [a]"),
            ("/file.txt", "3 []"),
            ("/file.", "4 [file.]"),
            ("/variable", "2 [iable]"),
            ("/var", "4 [var]"),
        ];
        for (path, want) in rows {
            check_with(&r, Method::Get, path, want);
        }
        assert_eq!(endpoint_param_names("/a/{x}/file.{ext}/*"), ["x", "ext"]);
    }

    #[test]
    fn redirects_follow_gin_s_options() {
        let routes = [
            ("/static", Method::Get),
            ("/a/b", Method::Get),
            ("/a/b", Method::Put),
        ];
        let on = Router::new(routes);
        let rows = [
            (Method::Get, "/static/", "-> /static"),
            (Method::Get, "/Static", "-> /static"),
            (Method::Get, "/a//b", "-> /a/b"),
            (Method::Get, "/x/../a/./b", "-> /a/b"),
            (Method::Post, "/a/b/", "404"),
            (Method::Post, "/a/b", "405"),
            (Method::Put, "/a/b/", "-> /a/b"),
            (Method::Get, "/", "404"),
        ];
        for (method, path, want) in rows {
            check_with(&on, method, path, &want.replace("[]", ""));
        }
        let no_slash = Router::new(routes).with_redirects(Redirects {
            trailing_slash: false,
            fixed_path: true,
        });
        // gin's fixed-path lookup toggles the slash too.
        check_with(&no_slash, Method::Get, "/static/", "-> /static");
        let no_fix = Router::new(routes).with_redirects(Redirects {
            trailing_slash: true,
            fixed_path: false,
        });
        check_with(&no_fix, Method::Get, "/static/", "-> /static");
        check_with(&no_fix, Method::Get, "/Static", "404");
        check_with(&no_fix, Method::Get, "/a//b", "404");
        let none = Router::new(routes).with_redirects(Redirects {
            trailing_slash: false,
            fixed_path: false,
        });
        check_with(&none, Method::Get, "/static/", "404");
    }

    #[test]
    fn clean_paths_as_gin() {
        for (path, want) in [
            ("/", "/"),
            ("/a//b", "/a/b"),
            ("//a/", "/a/"),
            ("/a/./b/../c", "/a/c"),
            ("/a/.", "/a/"),
            ("/a/b/..", "/a"),
            ("/../a", "/a"),
            ("/a/%2e%2e/b", "/a/%2e%2e/b"),
        ] {
            assert_eq!(clean_path(path.as_bytes()), want.as_bytes(), "{path}");
            assert_eq!(is_clean(path.as_bytes()), path == want, "{path}");
        }
    }

    #[test]
    fn encoded_params_as_lura_s_param_checker() {
        let rows = [
            ("abc", None),
            ("%41", None),
            ("a%20b", None),
            ("%2541", Some("error: encoded url params")),
            ("%253F", Some("error: encoded url params")),
            ("%3F", Some("error: encoded url params")),
            ("%23x", Some("error: encoded url params")),
            ("%25zz", Some("error: invalid URL escape \"%zz\"")),
            ("%zz", Some("error: invalid URL escape \"%zz\"")),
            ("a%25", Some("error: invalid URL escape \"%\"")),
            ("%2541%25z", Some("error: invalid URL escape \"%z\"")),
        ];
        for (raw, want) in rows {
            assert_eq!(encoded_param(raw.as_bytes()).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn param_names_follow_the_path() {
        let r = router();
        let names: Vec<&str> = r.param_names(2).iter().map(|n| &**n).collect();
        assert_eq!(names, ["user", "post"]);
    }

    proptest::proptest! {
        /// Any request path: no panic, and parameters are ranges of the path
        /// in order, the wildcard remainder last and running to the end.
        #[test]
        fn any_path_routes_without_panicking(
            path in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b'/'), proptest::strategy::Just(b'.'),
                proptest::strategy::Just(b'v'), proptest::strategy::Just(b'1'),
                proptest::strategy::Just(b'f'), proptest::num::u8::ANY], 0..24),
        ) {
            let r = Router::new([
                ("/v1/*", Method::Get),
                ("/v1/{id}/*", Method::Get),
                ("/f.{ext}", Method::Get),
                ("/{a}/{b}", Method::Get),
                ("/v1/v", Method::Get),
            ]);
            let mut path = path;
            path.insert(0, b'/');
            if let RouteMatch::Found { endpoint, params } = r.route(Method::Get, &path) {
                let mut last = 0;
                for &(start, end) in &params {
                    proptest::prop_assert!(start as usize >= last && start <= end && end as usize <= path.len());
                    last = end as usize;
                }
                if endpoint < 2 {
                    proptest::prop_assert_eq!(params.last().map(|p| p.1 as usize), Some(path.len()));
                }
            }
        }
    }
}
