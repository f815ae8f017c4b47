use super::*;

fn settings() -> CorsSettings {
    CorsSettings {
        allow_origins: vec!["*".into()],
        allow_methods: vec!["POST".into(), "GET".into()],
        allow_headers: vec![
            "Origin".into(),
            "Authorization".into(),
            "Content-Type".into(),
        ],
        expose_headers: vec!["content-length".into()],
        max_age_seconds: Some(43200),
        allow_credentials: false,
        allow_private_network: false,
        options_passthrough: false,
        options_success_status: 204,
        debug: false,
    }
}

fn preflight<'a>(origin: &'a str, method: &'a str, headers: &'a [&'a [u8]]) -> CorsRequest<'a> {
    CorsRequest {
        method: Method::Options,
        origin: Some(origin.as_bytes()),
        request_method: Some(method.as_bytes()),
        request_headers: headers,
        request_private_network: false,
    }
}

fn actual(method: Method, origin: Option<&str>) -> CorsRequest<'_> {
    CorsRequest {
        method,
        origin: origin.map(str::as_bytes),
        request_method: None,
        request_headers: &[],
        request_private_network: false,
    }
}

fn run(cors: &Cors, req: &CorsRequest<'_>) -> (CorsOutcome, String) {
    let mut decor = Vec::new();
    let outcome = cors.apply(req, &mut decor);
    (outcome, String::from_utf8(decor).unwrap())
}

const VARY_PREFLIGHT: &str =
    "Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n";

#[test]
fn allowed_preflight_echoes_method_and_headers() {
    let cors = Cors::new(&settings());
    let (outcome, lines) = run(
        &cors,
        &preflight("http://foo.example", "GET", &[b"content-type,origin"]),
    );
    assert_eq!(outcome, CorsOutcome::Answer(204));
    assert_eq!(
        lines,
        format!(
            "{VARY_PREFLIGHT}Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET\r\nAccess-Control-Allow-Headers: content-type,origin\r\nAccess-Control-Max-Age: 43200\r\n"
        )
    );
}

#[test]
fn refused_preflights_get_only_vary() {
    let cors = Cors::new(&settings());
    for (name, req) in [
        ("method", preflight("http://foo.example", "PUT", &[])),
        (
            "header",
            preflight("http://foo.example", "POST", &[b"X-PINGOTHER"]),
        ),
        (
            "one header of two",
            preflight("http://foo.example", "POST", &[b"origin", b"x-other"]),
        ),
        ("empty origin", preflight("", "GET", &[])),
    ] {
        let (outcome, lines) = run(&cors, &req);
        assert_eq!(outcome, CorsOutcome::Answer(204), "{name}");
        assert_eq!(lines, VARY_PREFLIGHT, "{name}");
    }
}

#[test]
fn header_names_match_in_any_case_and_order_with_spaces() {
    let cors = Cors::new(&settings());
    let (_, lines) = run(
        &cors,
        &preflight(
            "http://a",
            "POST",
            &[b"Content-Type, AUTHORIZATION ,, origin"],
        ),
    );
    assert!(
        lines.contains("Access-Control-Allow-Headers: Content-Type, AUTHORIZATION ,, origin\r\n"),
        "{lines}"
    );
    let many_empty = ",".repeat(MAX_EMPTY_ELEMENTS + 2);
    let headers = [many_empty.as_bytes()];
    let (_, lines) = run(&cors, &preflight("http://a", "POST", &headers));
    assert_eq!(lines, VARY_PREFLIGHT);
}

#[test]
fn preflight_for_options_itself_is_allowed() {
    let cors = Cors::new(&settings());
    let (_, lines) = run(&cors, &preflight("http://a", "OPTIONS", &[]));
    assert!(
        lines.contains("Access-Control-Allow-Methods: OPTIONS\r\n"),
        "{lines}"
    );
}

#[test]
fn options_without_request_method_is_an_actual_request() {
    let cors = Cors::new(&settings());
    let mut req = preflight("http://a", "", &[]);
    assert!(!req.is_preflight());
    req.request_method = None;
    let (outcome, lines) = run(&cors, &req);
    assert_eq!(outcome, CorsOutcome::Continue);
    // rs/cors allows OPTIONS whatever allow_methods says.
    assert!(
        lines.contains("Access-Control-Allow-Origin: *\r\n"),
        "{lines}"
    );
}

#[test]
fn actual_requests() {
    let cors = Cors::new(&settings());
    let (outcome, lines) = run(&cors, &actual(Method::Get, Some("http://foo.example.tld")));
    assert_eq!(outcome, CorsOutcome::Continue);
    assert_eq!(
        lines,
        "Vary: Origin\r\nAccess-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: Content-Length\r\n"
    );
    let (_, lines) = run(&cors, &actual(Method::Get, None));
    assert_eq!(lines, "Vary: Origin\r\n");
    let (_, lines) = run(&cors, &actual(Method::Delete, Some("http://a")));
    assert_eq!(lines, "Vary: Origin\r\n");
}

#[test]
fn listed_origins_are_echoed_and_others_refused() {
    let cors = Cors::new(&CorsSettings {
        allow_origins: vec![
            "https://App.example.com".into(),
            "https://*.example.org".into(),
            "http://localhost:*".into(),
        ],
        allow_credentials: true,
        ..settings()
    });
    for (origin, allowed) in [
        ("https://app.example.com", true),
        ("HTTPS://APP.EXAMPLE.COM", true),
        ("https://app.example.com.evil.net", false),
        ("http://app.example.com", false),
        ("https://a.example.org", true),
        ("https://a.b-c.example.org", true),
        ("https://.example.org", false),
        ("https://example.org", false),
        ("https://evil.net/.example.org", false),
        ("https://u@x.example.org", false),
        ("http://localhost:3000", true),
        ("http://localhost:", false),
        ("null", false),
    ] {
        assert_eq!(cors.origin_allowed(origin.as_bytes()), allowed, "{origin}");
        let (_, lines) = run(&cors, &actual(Method::Get, Some(origin)));
        if allowed {
            assert_eq!(
                lines,
                format!(
                    "Vary: Origin\r\nAccess-Control-Allow-Origin: {origin}\r\nAccess-Control-Expose-Headers: Content-Length\r\nAccess-Control-Allow-Credentials: true\r\n"
                ),
                "{origin}"
            );
        } else {
            assert_eq!(lines, "Vary: Origin\r\n", "{origin}");
        }
    }
}

#[test]
fn credentials_private_network_and_passthrough() {
    let cors = Cors::new(&CorsSettings {
        allow_origins: vec!["https://a.example".into()],
        allow_credentials: true,
        allow_private_network: true,
        options_passthrough: true,
        max_age_seconds: None,
        ..settings()
    });
    let mut req = preflight("https://a.example", "POST", &[]);
    req.request_private_network = true;
    let (outcome, lines) = run(&cors, &req);
    assert_eq!(outcome, CorsOutcome::Continue);
    assert_eq!(
        lines,
        "Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network\r\nAccess-Control-Allow-Origin: https://a.example\r\nAccess-Control-Allow-Methods: POST\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Private-Network: true\r\n"
    );
}

#[test]
fn any_header_and_success_status() {
    let cors = Cors::new(&CorsSettings {
        allow_headers: vec!["*".into()],
        options_success_status: 200,
        ..settings()
    });
    let (outcome, lines) = run(&cors, &preflight("http://a", "GET", &[b"x-anything"]));
    assert_eq!(outcome, CorsOutcome::Answer(200));
    assert!(
        lines.contains("Access-Control-Allow-Headers: x-anything\r\n"),
        "{lines}"
    );
}

#[test]
fn canonical_keys() {
    assert_eq!(
        crate::http::canonical_header(b"x-request-ID"),
        "X-Request-Id"
    );
    assert_eq!(crate::http::canonical_header(b"etag"), "Etag");
}

/// Header values as the parser hands them over: any bytes but CR, LF, NUL.
fn field_value() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        proptest::prelude::any::<u8>().prop_filter("no CR, LF, NUL", |b| !b"\r\n\0".contains(b)),
        0..64,
    )
}

use proptest::prelude::Strategy as _;

proptest::proptest! {
    /// Whatever the client sends, the decision never panics and `decor`
    /// stays a list of `Name: value` lines.
    #[test]
    fn any_request_gives_well_formed_lines(
        origin in field_value(),
        method in field_value(),
        headers in field_value(),
        preflight in proptest::prelude::any::<bool>(),
        listed in proptest::prelude::any::<bool>(),
    ) {
        let cors = Cors::new(&CorsSettings {
            allow_origins: if listed { vec!["https://*.example.org".into(), "https://a.example".into()] } else { vec!["*".into()] },
            ..settings()
        });
        let values = [headers.as_slice()];
        let req = CorsRequest {
            method: if preflight { Method::Options } else { Method::Get },
            origin: Some(&origin),
            request_method: Some(&method),
            request_headers: &values,
            request_private_network: false,
        };
        let mut decor = Vec::new();
        cors.apply(&req, &mut decor);
        proptest::prop_assert!(decor.ends_with(b"\r\n"));
        for line in decor.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            proptest::prop_assert!(line.ends_with(b"\r"));
            proptest::prop_assert!(line[..line.len() - 1].iter().all(|&b| b != b'\r'));
            proptest::prop_assert!(line.windows(2).any(|w| w == b": "));
        }
    }
}
