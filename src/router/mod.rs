//! The route table: built once per worker from the endpoints, matched per
//! request without allocating.
//!
//! Paths are matched segment by segment on the raw (still percent-encoded)
//! request path, so `/a/b%2Fc` is two segments and the encoded slash reaches
//! the backend as written. A literal segment is preferred over a
//! `{placeholder}` at the same position, so `/users/me` and `/users/{id}` can
//! live side by side (KrakenD's router refuses that at start-up).

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

#[derive(Default, Debug)]
struct Node {
    literals: Vec<(Box<str>, Node)>,
    param: Option<Box<Node>>,
    /// Endpoint index per method, for routes ending at this node.
    endpoints: [Option<u32>; Method::ALL.len()],
}

#[derive(Debug, Default)]
pub struct Router {
    root: Node,
    /// Placeholder names per endpoint, in path order.
    param_names: Vec<Vec<Box<str>>>,
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
        let mut router = Router::default();
        for (index, (path, method)) in routes.into_iter().enumerate() {
            let mut node = &mut router.root;
            let mut names = Vec::new();
            for segment in segments(path) {
                node = match placeholder_name(segment) {
                    Some(name) => {
                        names.push(name.into());
                        node.param.get_or_insert_with(Default::default)
                    }
                    None => {
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
            node.endpoints[method.index()] = Some(index as u32);
            router.param_names.push(names);
        }
        router
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
        if let Some(node) = descend(&self.root, path, 1, &mut params, false) {
            if let Some(endpoint) = endpoint_for(node, method) {
                return RouteMatch::Found {
                    endpoint: endpoint as usize,
                    params,
                };
            }
            if node.endpoints.iter().any(Option::is_some) {
                return RouteMatch::MethodNotAllowed;
            }
        }
        RouteMatch::NotFound {
            redirect: self.fixed_path(method, path),
        }
    }

    /// A path that matches when compared case-insensitively or with the
    /// trailing slash toggled, rebuilt with the route's own literals.
    fn fixed_path(&self, method: Method, path: &[u8]) -> Option<String> {
        let toggled = match path.strip_suffix(b"/") {
            Some(p) if !p.is_empty() => p.to_vec(),
            Some(_) => Vec::new(),
            None => [path, b"/"].concat(),
        };
        [path, &toggled[..]].into_iter().find_map(|candidate| {
            let mut params = Params::new();
            let node = descend(&self.root, candidate, 1, &mut params, true)?;
            endpoint_for(node, method).map(|_| rebuild(&self.root, candidate))
        })
    }
}

fn endpoint_for(node: &Node, method: Method) -> Option<u32> {
    node.endpoints[method.index()]
        // HEAD is served by the GET endpoint, without a body.
        .or_else(|| {
            (method == Method::Head)
                .then(|| node.endpoints[Method::Get.index()])
                .flatten()
        })
}

/// Walks the tree from `path[from..]`; literals first, then the placeholder.
fn descend<'n>(
    node: &'n Node,
    path: &[u8],
    from: usize,
    params: &mut Params,
    case_insensitive: bool,
) -> Option<&'n Node> {
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
            Some(child)
        } else {
            descend(child, path, end + 1, params, case_insensitive)
        }
    };
    for (literal, child) in &node.literals {
        let equal = if case_insensitive {
            literal.as_bytes().eq_ignore_ascii_case(segment)
        } else {
            literal.as_bytes() == segment
        };
        if equal {
            let mark = params.len();
            if let Some(found) = next(child, params)
                && found.endpoints.iter().any(Option::is_some)
            {
                return Some(found);
            }
            params.truncate(mark);
        }
    }
    if let Some(child) = &node.param
        && !segment.is_empty()
    {
        params.push((from as u32, end as u32));
        if let Some(found) = next(child, params)
            && found.endpoints.iter().any(Option::is_some)
        {
            return Some(found);
        }
        params.pop();
    }
    None
}

/// Rewrites `path` with the case of the route's literals (parameter values
/// kept as sent).
fn rebuild(root: &Node, path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len());
    let mut node = root;
    for segment in path[1..].split(|&b| b == b'/') {
        out.push('/');
        if let Some((literal, child)) = node
            .literals
            .iter()
            .find(|(l, _)| l.as_bytes().eq_ignore_ascii_case(segment))
        {
            out.push_str(literal);
            node = child;
        } else if let Some(child) = &node.param {
            out.push_str(&String::from_utf8_lossy(segment));
            node = child;
        }
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
            (Method::Get, "", "404"),
            (Method::Get, "relative", "404"),
        ];
        for (method, path, want) in rows {
            check(method, path, want);
        }
    }

    #[test]
    fn param_names_follow_the_path() {
        let r = router();
        let names: Vec<&str> = r.param_names(2).iter().map(|n| &**n).collect();
        assert_eq!(names, ["user", "post"]);
    }
}
