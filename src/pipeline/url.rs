//! `url_pattern` templates (`/users/{user}?x={y}`), parsed once at start-up
//! so that building a backend URL is a walk over literal and named parts.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Box<str>),
    Placeholder(Box<str>),
}

/// A compiled `url_pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    pattern: Box<str>,
    parts: Vec<Part>,
}

impl UrlTemplate {
    /// Splits `pattern` into literals and `{name}` placeholders. An unclosed
    /// `{`, an empty `{}` or a `{` inside a name is an error; a lone `}` is
    /// literal text.
    pub fn compile(pattern: &str) -> Result<UrlTemplate, String> {
        let mut parts = Vec::new();
        let mut rest = pattern;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].into()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("url_pattern {pattern:?}: '{{' without a closing '}}'"))?;
            let name = &after[..close];
            if name.is_empty() || name.contains('{') {
                return Err(format!(
                    "url_pattern {pattern:?}: invalid placeholder {{{name}}}"
                ));
            }
            parts.push(Part::Placeholder(name.into()));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.into()));
        }
        Ok(UrlTemplate {
            pattern: pattern.into(),
            parts,
        })
    }

    /// Placeholder names in order of appearance (repeats included).
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Placeholder(name) => Some(&**name),
            Part::Literal(_) => None,
        })
    }

    /// The pattern as written in the config (for error messages).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Appends the URL to `out`: literals as written, each placeholder by
    /// `write_value(name, out)`, which appends its raw (unescaped) value or
    /// nothing when there is none. Writing instead of returning a slice lets
    /// values come from request state or from earlier responses alike.
    pub fn render(&self, out: &mut Vec<u8>, mut write_value: impl FnMut(&str, &mut Vec<u8>)) {
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.extend_from_slice(text.as_bytes()),
                Part::Placeholder(name) => write_value(name, out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles `pattern` and renders it with `values`; `ERR` on a compile error.
    fn check(pattern: &str, values: &[(&str, &str)], expected: &str) {
        let got = match UrlTemplate::compile(pattern) {
            Ok(template) => {
                let mut out = b"http://h".to_vec();
                template.render(&mut out, |name, out| {
                    if let Some((_, v)) = values.iter().find(|(n, _)| *n == name) {
                        out.extend_from_slice(v.as_bytes());
                    }
                });
                String::from_utf8(out).unwrap()
            }
            Err(_) => "ERR".to_string(),
        };
        assert_eq!(got, expected, "{pattern}");
    }

    type Case<'c> = (&'c str, &'c [(&'c str, &'c str)], &'c str);

    #[test]
    fn templates() {
        let cases: &[Case<'_>] = &[
            ("/users/{user}", &[("user", "42")], "http://h/users/42"),
            (
                "/users/{user}?x={y}",
                &[("user", "a"), ("y", "b")],
                "http://h/users/a?x=b",
            ),
            ("/{a}{b}", &[("a", "1"), ("b", "2")], "http://h/12"),
            ("/static", &[], "http://h/static"),
            ("", &[], "http://h"),
            ("/{missing}/x", &[], "http://h//x"),
            (
                "/{resp0_foo}/{JWT.sub}",
                &[("resp0_foo", "f"), ("JWT.sub", "s")],
                "http://h/f/s",
            ),
            ("/a}b", &[], "http://h/a}b"),
            ("/{a", &[], "ERR"),
            ("/{}", &[], "ERR"),
            ("/{a{b}", &[], "ERR"),
        ];
        for (pattern, values, expected) in cases {
            check(pattern, values, expected);
        }
    }

    #[test]
    fn placeholders_in_order() {
        let template =
            UrlTemplate::compile("/{user}/x?a={y}&b={resp0_foo}&c={JWT.sub}&d={user}").unwrap();
        let names: Vec<&str> = template.placeholders().collect();
        assert_eq!(names, ["user", "y", "resp0_foo", "JWT.sub", "user"]);
    }
}
