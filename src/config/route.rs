//! Paths and placeholders: endpoint paths (`/users/{id}`), the placeholders a
//! backend `url_pattern` may use, and routes a router could not tell apart.

use std::collections::HashMap;

use super::error::{BuildResult, Problem};
use super::model::Endpoint;

/// One `/`-separated piece of an endpoint path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    Literal(&'a str),
    /// `{name}`: the name, without braces.
    Param(&'a str),
    /// `prefix{name}suffix` inside one segment (`file.{ext}`), only with
    /// the root `"disable_rest": true`.
    Embedded {
        prefix: &'a str,
        name: &'a str,
        suffix: &'a str,
    },
    /// A final `*`: every path under the prefix (KrakenD Enterprise's
    /// wildcard endpoints).
    Wildcard,
}

impl<'a> Segment<'a> {
    /// The placeholder name this segment binds, if any.
    pub fn param(&self) -> Option<&'a str> {
        match *self {
            Segment::Param(name) | Segment::Embedded { name, .. } => Some(name),
            Segment::Literal(_) | Segment::Wildcard => None,
        }
    }
}

/// Splits an endpoint path and checks it: it starts with `/`, placeholders
/// are whole segments with distinct names (or, with `disable_rest`, one
/// placeholder inside a segment), a `*` is only a whole last segment after
/// at least one other, and it is not under `/__debug` (KrakenD refuses
/// those: they belong to its debug endpoint).
pub fn endpoint_segments(path: &str, disable_rest: bool) -> Result<Vec<Segment<'_>>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "\"{path}\" must start with \"/\"; write \"/{path}\""
        ));
    };
    let pieces: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::new();
    for (index, piece) in pieces.iter().copied().enumerate() {
        if piece == "__debug" {
            return Err(format!(
                "\"{path}\": paths under /__debug are reserved for the debug endpoint (KrakenD refuses them too); choose another path"
            ));
        }
        let last = index + 1 == pieces.len();
        let segment = if piece == "*" && last {
            if index == 0 {
                return Err(format!(
                    "\"{path}\": a wildcard at the root would answer every path (KrakenD Enterprise refuses it too); put it under a prefix, e.g. \"/v1/*\""
                ));
            }
            Segment::Wildcard
        } else if piece.contains('*') {
            return Err(format!(
                "\"{path}\": '*' is only allowed as the whole last segment (a wildcard endpoint such as \"/v1/*\")"
            ));
        } else {
            match piece.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if is_endpoint_param_name(name) => Segment::Param(name),
                _ if piece.contains(['{', '}']) => embedded(path, piece, disable_rest)?,
                _ => Segment::Literal(piece),
            }
        };
        if let Some(name) = segment.param()
            && segments
                .iter()
                .any(|s: &Segment<'_>| s.param() == Some(name))
        {
            return Err(format!(
                "\"{path}\": the placeholder {{{name}}} appears twice; give each placeholder its own name"
            ));
        }
        segments.push(segment);
    }
    Ok(segments)
}

/// `prefix{name}suffix`: one placeholder inside a segment.
fn embedded<'a>(path: &str, piece: &'a str, disable_rest: bool) -> Result<Segment<'a>, String> {
    let whole = || {
        format!(
            "\"{path}\": \"{piece}\" is not a placeholder; a placeholder is a whole segment made of letters, digits, '_', '-' or '.', e.g. \"/users/{{id}}\""
        )
    };
    let open = piece.find('{').ok_or_else(whole)?;
    let close = piece[open..]
        .find('}')
        .map(|i| open + i)
        .ok_or_else(whole)?;
    let (prefix, name, suffix) = (&piece[..open], &piece[open + 1..close], &piece[close + 1..]);
    if !is_endpoint_param_name(name) || prefix.contains(['{', '}']) || suffix.contains(['{', '}']) {
        return Err(format!("{}; at most one placeholder per segment", whole()));
    }
    if !disable_rest {
        return Err(format!(
            "\"{path}\": the placeholder {{{name}}} is inside the segment \"{piece}\", which KrakenD only accepts with \"disable_rest\": true at the root of the file; add it, or make the placeholder a whole segment"
        ));
    }
    Ok(Segment::Embedded {
        prefix,
        name,
        suffix,
    })
}

/// KrakenD: `/\{([a-zA-Z\-_0-9\.]+)\}`.
fn is_endpoint_param_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

/// The placeholder names in a backend `url_pattern`, in order of appearance
/// (KrakenD's rule, shared with the template compiler in `pipeline::url`).
pub fn url_placeholders(pattern: &str) -> Vec<&str> {
    placeholder_names(pattern)
}

/// KrakenD's placeholder names: `\{([\w\-\.:/]+)\}` (`:` and `/` for JWT
/// claims that are URLs). Braces around anything else are literal text.
fn is_placeholder_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':' | b'/'))
}

/// The placeholders of `pattern` with their byte ranges (braces included),
/// in order of appearance.
pub fn find_placeholders(pattern: &str) -> Vec<(usize, usize, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = pattern[from..].find('{').map(|i| from + i) {
        let after = open + 1;
        match pattern[after..].find('}').map(|i| after + i) {
            Some(close) if is_placeholder_name(&pattern[after..close]) => {
                found.push((open, close + 1, &pattern[after..close]));
                from = close + 1;
            }
            // Not a placeholder: keep looking from just after this '{'.
            Some(_) => from = after,
            None => break,
        }
    }
    found
}

/// The placeholder names in a `url_pattern`, in order (repeats included).
pub fn placeholder_names(pattern: &str) -> Vec<&str> {
    find_placeholders(pattern)
        .into_iter()
        .map(|(_, _, name)| name)
        .collect()
}

/// What a backend's `url_pattern` placeholders may refer to.
pub struct PlaceholderScope<'a> {
    pub endpoint_path: &'a str,
    pub endpoint_params: &'a [&'a str],
    pub sequential: bool,
    pub backend_index: usize,
}

/// Checks one placeholder: an endpoint parameter, `resp<N>_<field>` from an
/// earlier backend of a sequential endpoint, or `JWT.<claim>` (filled by an
/// auth component cuttle does not run yet; it stays empty until then).
pub fn check_url_placeholder(name: &str, scope: &PlaceholderScope<'_>) -> Result<(), String> {
    if scope.endpoint_params.contains(&name) {
        return Ok(());
    }
    if name
        .strip_prefix("JWT.")
        .is_some_and(|claim| !claim.is_empty())
    {
        return Ok(());
    }
    if let Some(previous) = sequential_source(name) {
        if !scope.sequential {
            return Err(format!(
                "{{{name}}} takes a value from an earlier backend's response, which needs \"extra_config\": {{\"proxy\": {{\"sequential\": true}}}} on the endpoint"
            ));
        }
        return match previous {
            Some(n) if n < scope.backend_index => Ok(()),
            _ => Err(format!(
                "{{{name}}} refers to a backend that has not answered yet: backend {} can only use resp0_.. to resp{}_..",
                scope.backend_index,
                scope.backend_index.saturating_sub(1)
            )),
        };
    }
    let known: Vec<String> = scope
        .endpoint_params
        .iter()
        .map(|p| format!("{{{p}}}"))
        .collect();
    let known = if known.is_empty() {
        "it has none".to_owned()
    } else {
        format!("it has {}", known.join(", "))
    };
    Err(format!(
        "{{{name}}} is not a placeholder of the endpoint \"{}\" ({known}); add it to the endpoint path or remove it here",
        scope.endpoint_path
    ))
}

/// For `resp<N>_<field>`: `Some(Some(N))`, or `Some(None)` when N does not
/// fit; `None` when the name is not of that form.
pub fn sequential_source(name: &str) -> Option<Option<usize>> {
    let rest = name.strip_prefix("resp")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let field = rest[digits..].strip_prefix('_')?;
    if digits == 0 || field.is_empty() {
        return None;
    }
    Some(rest[..digits].parse().ok())
}

/// Refuses two endpoints with the same method and path (KrakenD's router
/// panics at start-up) and two whose paths differ only in the names of
/// placeholders at the same positions (`/a/{x}` and `/a/{y}`): a router
/// cannot tell which one a request is for.
///
/// A placeholder and a literal at the same position (`/a/{x}` and `/a/new`)
/// is fine: cuttle's router prefers the literal.
pub fn check_route_clashes(endpoints: &[Endpoint]) -> BuildResult<()> {
    // Key: method and the path with every placeholder name erased.
    let mut seen: HashMap<(crate::http::Method, String), usize> = HashMap::new();
    for (position, endpoint) in endpoints.iter().enumerate() {
        let shape = route_shape(&endpoint.path);
        let Some(&earlier) = seen.get(&(endpoint.method, shape.clone())) else {
            seen.insert((endpoint.method, shape), position);
            continue;
        };
        let earlier = &endpoints[earlier];
        // Positions in the file, which skipped endpoints leave gaps in.
        let (first, index) = (earlier.index, endpoint.index);
        let route = format!("{} {}", endpoint.method, endpoint.path);
        let message = if earlier.path == endpoint.path {
            format!(
                "{route} is defined twice, as endpoints[{first}] and endpoints[{index}]; KrakenD refuses to start with a duplicate route (its router panics): remove one or change its method"
            )
        } else {
            format!(
                "{route} clashes with endpoints[{first}] ({} {}): a router cannot tell them apart because only the placeholder names differ; use the same names in both, or different literal segments",
                earlier.method, earlier.path
            )
        };
        return Err(Problem::new(
            format!("endpoints[{index}].endpoint"),
            message,
        ));
    }
    check_embedded_clashes(endpoints)
}

/// Two in-segment placeholders at the same position whose fixed texts have
/// the same length and could both match one segment (`/a{x}` and `/{y}b`
/// both match `/ab`): the router's "longest fixed text first" cannot choose.
fn check_embedded_clashes(endpoints: &[Endpoint]) -> BuildResult<()> {
    let parsed: Vec<(usize, Vec<Segment<'_>>)> = endpoints
        .iter()
        .enumerate()
        .filter(|(_, e)| e.path.contains('{'))
        .filter_map(|(i, e)| Some((i, endpoint_segments(&e.path, true).ok()?)))
        .filter(|(_, segments)| {
            segments
                .iter()
                .any(|s| matches!(s, Segment::Embedded { .. }))
        })
        .collect();
    for (n, (first, a)) in parsed.iter().enumerate() {
        for (second, b) in &parsed[n + 1..] {
            let (x, y) = (&endpoints[*first], &endpoints[*second]);
            let (first, second) = (x.index, y.index);
            if x.method != y.method || a.len() != b.len() {
                continue;
            }
            let mut differs = false;
            let same_shape = a.iter().zip(b).all(|(p, q)| match (p, q) {
                (Segment::Literal(l), Segment::Literal(m)) => l == m,
                (Segment::Param(_), Segment::Param(_)) | (Segment::Wildcard, Segment::Wildcard) => {
                    true
                }
                (
                    Segment::Embedded {
                        prefix: p1,
                        suffix: s1,
                        ..
                    },
                    Segment::Embedded {
                        prefix: p2,
                        suffix: s2,
                        ..
                    },
                ) => {
                    differs |= p1 != p2 || s1 != s2;
                    p1.len() + s1.len() == p2.len() + s2.len()
                        && (p1.starts_with(p2) || p2.starts_with(p1))
                        && (s1.ends_with(s2) || s2.ends_with(s1))
                }
                _ => false,
            });
            if same_shape && differs {
                return Err(Problem::new(
                    format!("endpoints[{second}].endpoint"),
                    format!(
                        "{} {} clashes with endpoints[{first}] ({} {}): a segment can match both placeholders with the same length of fixed text, so a router cannot choose; change the fixed text of one",
                        y.method, y.path, x.method, x.path
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The path with placeholder names erased: `/a/{x}/b.{y}` -> `/a/{}/b.{}`.
fn route_shape(path: &str) -> String {
    path.split('/')
        .map(|piece| match (piece.find('{'), piece.rfind('}')) {
            (Some(open), Some(close)) if open < close => {
                format!("{}{{}}{}", &piece[..open], &piece[close + 1..])
            }
            _ => piece.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_endpoint_paths() {
        use Segment::*;
        assert_eq!(endpoint_segments("/", false), Ok(vec![Literal("")]));
        assert_eq!(
            endpoint_segments("/a/{id}/b.json", false),
            Ok(vec![Literal("a"), Param("id"), Literal("b.json")])
        );
        assert_eq!(
            endpoint_segments("/{a-b_c.d}", false),
            Ok(vec![Param("a-b_c.d")])
        );
        assert_eq!(
            endpoint_segments("/v1/{id}/*", false),
            Ok(vec![Literal("v1"), Param("id"), Wildcard])
        );
        assert_eq!(
            endpoint_segments("/file.{ext}", true),
            Ok(vec![Embedded {
                prefix: "file.",
                name: "ext",
                suffix: ""
            }])
        );
        assert_eq!(
            endpoint_segments("/var{iable}x", true),
            Ok(vec![Embedded {
                prefix: "var",
                name: "iable",
                suffix: "x"
            }])
        );
    }

    #[test]
    fn refuses_bad_endpoint_paths() {
        let table = [
            ("users", "must start with \"/\""),
            ("", "must start with \"/\""),
            ("/a/x{y}", "\"disable_rest\": true"),
            ("/a/{y}x", "\"disable_rest\": true"),
            ("/a/{}", "is not a placeholder"),
            ("/a/{b c}", "is not a placeholder"),
            ("/a/{x}/{x}", "appears twice"),
            ("/__debug", "reserved for the debug endpoint"),
            ("/api/__debug/x", "reserved for the debug endpoint"),
            ("/file.{ext}", "\"disable_rest\": true"),
            ("/*", "at the root"),
            ("/a/*/b", "only allowed as the whole last segment"),
            ("/a*", "only allowed as the whole last segment"),
        ];
        for (path, expected) in table {
            let error = endpoint_segments(path, false).expect_err(path);
            assert!(error.contains(expected), "{path}: {error}");
        }
        for (path, expected) in [
            ("/a{x}{y}", "at most one placeholder"),
            ("/a/{x}/b{x}", "appears twice"),
        ] {
            let error = endpoint_segments(path, true).expect_err(path);
            assert!(error.contains(expected), "{path}: {error}");
        }
    }

    #[test]
    fn finds_url_placeholders_like_krakend() {
        assert_eq!(
            url_placeholders("/a/{x}?q={y}&z={JWT.http://e.com/c}"),
            vec!["x", "y", "JWT.http://e.com/c"]
        );
        assert_eq!(url_placeholders("/a/{x y}/{z}"), vec!["z"]);
        assert_eq!(url_placeholders("/a/{x{y}/{"), vec!["y"]);
        assert_eq!(url_placeholders("/a/{}"), Vec::<&str>::new());
    }

    #[test]
    fn checks_url_placeholders() {
        let params = ["id"];
        let scope = |sequential, backend_index| PlaceholderScope {
            endpoint_path: "/a/{id}",
            endpoint_params: &params,
            sequential,
            backend_index,
        };
        assert!(check_url_placeholder("id", &scope(false, 0)).is_ok());
        assert!(check_url_placeholder("JWT.sub", &scope(false, 0)).is_ok());
        assert!(check_url_placeholder("resp0_id", &scope(true, 1)).is_ok());
        assert!(check_url_placeholder("resp1_a.b", &scope(true, 2)).is_ok());
        let refused = [
            (
                "ID",
                scope(false, 0),
                "is not a placeholder of the endpoint",
            ),
            ("JWT.", scope(false, 0), "is not a placeholder"),
            ("resp0_id", scope(false, 1), "needs \"extra_config\""),
            ("resp1_id", scope(true, 1), "has not answered yet"),
            ("resp0_id", scope(true, 0), "has not answered yet"),
            ("resp99999999999999999999_x", scope(true, 1), "not answered"),
            ("resp_x", scope(true, 1), "is not a placeholder"),
        ];
        for (name, scope, expected) in refused {
            let error = check_url_placeholder(name, &scope).expect_err(name);
            assert!(error.contains(expected), "{name}: {error}");
        }
    }
}
