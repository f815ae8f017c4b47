use proptest::prelude::*;

use super::*;

const PARAMS: [&str; 3] = ["user", "y", "q"];

/// Compiles `pattern` and renders it with `values` (raw text, decoded here
/// as a client's path parameter would be); the error's debug text on `Err`.
fn render(pattern: &str, values: &[(&str, &str)]) -> String {
    let template = match UrlTemplate::compile(pattern, &PARAMS) {
        Ok(template) => template,
        Err(_) => return "ERR".into(),
    };
    let mut out = b"http://h".to_vec();
    let result = template.render(&mut out, |source, buf| {
        let name = match source {
            Source::Param(i) => PARAMS[*i].to_string(),
            Source::Response { backend, field } => format!("resp{backend}_{field}"),
            Source::Claim(claim) => format!("JWT.{claim}"),
            Source::Remainder => "*".to_string(),
        };
        match values.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                percent_decode(v.as_bytes(), buf);
                true
            }
            None => false,
        }
    });
    match result {
        Ok(()) => String::from_utf8(out).unwrap(),
        Err(Refused::NotOneSegment(_)) => "REFUSED".into(),
        Err(Refused::Missing(_)) => "MISSING".into(),
    }
}

/// A wildcard remainder (raw, as in the request path) after `pattern`.
fn render_wildcard(pattern: &str, remainder: &str) -> String {
    let template = UrlTemplate::compile_wildcard(pattern, &PARAMS).unwrap();
    let mut out = Vec::new();
    let result = template.render(&mut out, |source, buf| match source {
        Source::Remainder => {
            buf.extend_from_slice(remainder.as_bytes());
            true
        }
        Source::Param(_) => {
            buf.extend_from_slice(b"u 1");
            true
        }
        _ => false,
    });
    match result {
        Ok(()) => String::from_utf8(out).unwrap(),
        Err(_) => "REFUSED".into(),
    }
}

#[test]
fn wildcard_remainders() {
    let rows = [
        ("/api", "a/b/c", "/api/a/b/c"),
        ("/api/", "a", "/api/a"),
        ("/", "a", "/a"),
        ("/api", "", "/api/"),
        ("/u/{user}?x=1", "a b/%C3%A9", "/u/u%201/a%20b/%C3%A9?x=1"),
        ("/api", "a%3Fb/c%23d", "/api/a%3Fb/c%23d"),
        ("/api", "a//b", "/api/a//b"),
        ("/api", "x;/y", "/api/x%3B/y"),
        ("/api", "a/../b", "REFUSED"),
        ("/api", "a/%2e%2E/b", "REFUSED"),
        ("/api", "./b", "REFUSED"),
        ("/api", "a%2Fb", "REFUSED"),
        ("/api", "a%5Cb", "REFUSED"),
        ("/api", "..", "REFUSED"),
    ];
    for (pattern, remainder, want) in rows {
        assert_eq!(
            render_wildcard(pattern, remainder),
            want,
            "{pattern} + {remainder}"
        );
        assert_eq!(
            remainder_fits(remainder.as_bytes()),
            want != "REFUSED",
            "{remainder}"
        );
    }
}

/// A pattern, its values by placeholder name, the expected rendering.
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
        ("/{user}{y}", &[("user", "1"), ("y", "2")], "http://h/12"),
        ("/static", &[], "http://h/static"),
        ("", &[], "http://h"),
        ("/{user}/x", &[], "http://h//x"),
        ("/{resp0_foo}", &[("resp0_foo", "f")], "http://h/f"),
        ("/{JWT.sub}", &[("JWT.sub", "s")], "http://h/s"),
        ("/{JWT.sub}/orders", &[], "MISSING"),
        ("/a}b", &[], "http://h/a}b"),
        ("/{a", &[], "http://h/{a"),
        ("/{}", &[], "http://h/{}"),
        ("/{x y}", &[], "http://h/{x y}"),
        ("/{nope}", &[], "ERR"),
        // Path segments: nothing that ends the segment or the path.
        ("/i/{user}/p", &[("user", "a b")], "http://h/i/a%20b/p"),
        (
            "/i/{user}/p",
            &[("user", "a?b#c")],
            "http://h/i/a%3Fb%23c/p",
        ),
        ("/i/{user}/p", &[("user", "a;b")], "http://h/i/a%3Bb/p"),
        ("/i/{user}/p", &[("user", "%zz")], "http://h/i/%25zz/p"),
        (
            "/i/{user}/p",
            &[("user", "a%0D%0Ab")],
            "http://h/i/a%0D%0Ab/p",
        ),
        (
            "/i/{user}/p",
            &[("user", "me@x.com")],
            "http://h/i/me@x.com/p",
        ),
        ("/i/{user}/p", &[("user", "...")], "http://h/i/.../p"),
        ("/i/{user}/p", &[("user", ".a")], "http://h/i/.a/p"),
        // ... and nothing that is more or less than one segment.
        ("/i/{user}/p", &[("user", "..")], "REFUSED"),
        ("/i/{user}/p", &[("user", ".")], "REFUSED"),
        ("/i/{user}/p", &[("user", "%2e%2e")], "REFUSED"),
        ("/i/{user}/p", &[("user", "%2E.")], "REFUSED"),
        ("/i/{user}/p", &[("user", "a%2Fb")], "REFUSED"),
        ("/i/{user}/p", &[("user", "a\\b")], "REFUSED"),
        ("/i/{user}/p", &[("user", "a%5cb")], "REFUSED"),
        // Query values: nothing that adds or ends a parameter.
        (
            "/s?q={q}",
            &[("q", "x&admin=true")],
            "http://h/s?q=x%26admin%3Dtrue",
        ),
        (
            "/s?q={q}",
            &[("q", "a+b c#d;e")],
            "http://h/s?q=a%2Bb%20c%23d%3Be",
        ),
        ("/s?q={q}", &[("q", "..")], "http://h/s?q=.."),
        ("/s?q={q}", &[("q", "a/b?c")], "http://h/s?q=a/b?c"),
        ("/s?{q}=1", &[("q", "a=b")], "http://h/s?a%3Db=1"),
    ];
    for (pattern, values, expected) in cases {
        assert_eq!(render(pattern, values), *expected, "{pattern} {values:?}");
    }
}

#[test]
fn sources_and_positions() {
    let template = UrlTemplate::compile(
        "/{user}/x?a={y}&b={resp0_foo.bar}&c={JWT.sub}&d={user}",
        &PARAMS,
    )
    .unwrap();
    assert_eq!(template.path_params().collect::<Vec<_>>(), [0]);
    assert!(template.uses_claims());
    let template = UrlTemplate::compile("/{resp12_a}", &PARAMS).unwrap();
    assert!(!template.uses_claims());
    assert_eq!(template.path_params().count(), 0);
}

#[test]
fn percent_decoding() {
    let decode = |raw: &str| {
        let mut out = Vec::new();
        percent_decode(raw.as_bytes(), &mut out);
        out
    };
    assert_eq!(decode("a%2Fb"), b"a/b");
    assert_eq!(decode("%2e%2E"), b"..");
    assert_eq!(decode("%"), b"%");
    assert_eq!(decode("%4"), b"%4");
    assert_eq!(decode("%zz%41"), b"%zzA");
    assert_eq!(decode("%00"), b"\0");
}

/// Decoded form of one rendered segment.
fn decoded(segment: &str) -> Vec<u8> {
    let mut out = Vec::new();
    percent_decode(segment.as_bytes(), &mut out);
    out
}

/// Patterns with values in every kind of position; their literals hold no
/// dot segment, so any in the output would have come from a value.
const PATTERNS: [&str; 6] = [
    "/a/{user}/b",
    "/{user}",
    "/a/{user}{y}/{resp0_id}?q={q}",
    "/s?q={q}&r={resp1_x.y}",
    "/x/{resp0_id}/y?{y}={q}",
    "/{user}.json?v={y}",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the values, a rendered URL carries no byte that could end
    /// the request line or the target (CR, LF, NUL, space, `#`), every value
    /// stays inside its segment or query value, and no dot segment appears.
    #[test]
    fn no_value_changes_the_url_syntax(
        pattern in 0..PATTERNS.len(),
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 4),
        dots in proptest::collection::vec(prop_oneof![Just(""), Just("."), Just(".."), Just("%2e"), Just("%2E%2e"), Just("/"), Just("%2f")], 4),
    ) {
        let pattern = PATTERNS[pattern];
        let template = UrlTemplate::compile(pattern, &PARAMS).unwrap();
        let mut out = Vec::new();
        let result = template.render(&mut out, |source, buf| {
            let i = match source {
                Source::Param(i) => *i,
                Source::Response { backend, .. } => 3 - backend.min(&1),
                Source::Claim(_) | Source::Remainder => 0,
            };
            // Client values arrive percent-encoded; response values raw.
            let mut raw = dots[i].as_bytes().to_vec();
            raw.extend_from_slice(&values[i]);
            if matches!(source, Source::Param(_)) {
                percent_decode(&raw, buf);
            } else {
                buf.extend_from_slice(&raw);
            }
            true
        });
        if result.is_err() {
            return Ok(());
        }
        for forbidden in [b'\r', b'\n', 0, b' ', b'#'] {
            prop_assert!(!out.contains(&forbidden), "{:?} in {:?}", forbidden as char, String::from_utf8_lossy(&out));
        }
        let text = String::from_utf8(out).expect("encoded output is ASCII");
        let literal = |c: char| pattern.matches(c).count();
        let (path, query) = text.split_once('?').unwrap_or((&text, ""));
        prop_assert_eq!(path.matches('/').count(), literal('/') - pattern.split_once('?').map_or(0, |(_, q)| q.matches('/').count()));
        for segment in path.split('/') {
            let d = decoded(segment);
            prop_assert!(d != b"." && d != b"..", "dot segment in {}", text);
            prop_assert!(!d.contains(&b'\\'), "backslash in {}", text);
        }
        prop_assert_eq!(query.matches('&').count(), literal('&'));
        prop_assert_eq!(query.matches('=').count(), literal('='));
        prop_assert_eq!(text.matches('?').count() >= 1, pattern.contains('?'));
    }

    /// A wildcard remainder made of arbitrary raw segments (as a client may
    /// send them, encoded dots and slashes included) never changes the URL
    /// syntax: each of its segments stays one segment, no dot segment, no
    /// query or fragment starts, nothing unsafe reaches the wire.
    #[test]
    fn no_wildcard_remainder_changes_the_url_syntax(
        segments in proptest::collection::vec(
            (prop_oneof![Just(""), Just("."), Just(".."), Just("%2e"), Just("%2F"), Just("%5c"), Just("%3F"), Just("%23")],
             proptest::collection::vec(any::<u8>(), 0..6)),
            1..5),
    ) {
        let template = UrlTemplate::compile_wildcard("/api/{user}?x=1", &PARAMS).unwrap();
        let mut raw = Vec::new();
        for (i, (prefix, bytes)) in segments.iter().enumerate() {
            if i > 0 {
                raw.push(b'/');
            }
            raw.extend_from_slice(prefix.as_bytes());
            // Raw bytes as the client sent them, minus the separator.
            raw.extend(bytes.iter().copied().filter(|&b| b != b'/'));
        }
        let mut out = Vec::new();
        let result = template.render(&mut out, |source, buf| {
            match source {
                Source::Remainder => buf.extend_from_slice(&raw),
                _ => buf.extend_from_slice(b"u"),
            }
            true
        });
        prop_assert_eq!(result.is_ok(), remainder_fits(&raw));
        if result.is_err() {
            return Ok(());
        }
        for forbidden in [b'\r', b'\n', 0, b' ', b'#', b'\\'] {
            prop_assert!(!out.contains(&forbidden), "{:?} in {:?}", forbidden as char, String::from_utf8_lossy(&out));
        }
        let text = String::from_utf8(out).expect("encoded output is ASCII");
        let (path, query) = text.split_once('?').expect("the pattern's query");
        prop_assert_eq!(query, "x=1");
        prop_assert_eq!(path.matches('/').count(), 2 + segments.len());
        for segment in path.split('/') {
            let d = decoded(segment);
            prop_assert!(d != b"." && d != b"..", "dot segment in {}", text);
        }
    }
}

#[test]
fn raw_segments_are_judged_as_decoded() {
    for fits in [
        "a",
        "",
        "...",
        ".a",
        "%2e%2e%2e",
        "%zz",
        "a%20b",
        "a/b",
        "x/.../y",
    ] {
        assert!(remainder_fits(fits.as_bytes()), "{fits}");
    }
    for refused in [
        ".", "..", "%2e", "%2E%2e", ".%2e", "a%2Fb", "a%2fb", "a\\b", "a%5cb", "x/../y", "x/%2e",
    ] {
        assert!(!remainder_fits(refused.as_bytes()), "{refused}");
    }
}
