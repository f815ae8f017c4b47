use super::*;

fn all_headers() -> HttpSecuritySettings {
    HttpSecuritySettings {
        sts_seconds: 300,
        sts_include_subdomains: true,
        frame_deny: true,
        content_type_nosniff: true,
        browser_xss_filter: true,
        content_security_policy: Some("default-src 'self';".into()),
        referrer_policy: Some("same-origin".into()),
        ..HttpSecuritySettings::default()
    }
}

fn request<'a>(host: &'a str, tls: bool) -> SecureRequest<'a> {
    SecureRequest {
        host: Some(host.as_bytes()),
        tls,
        path: b"/a/b",
        query: Some(b"x=1&y=%20"),
    }
}

fn screen(
    sec: &HttpSecurity,
    req: &SecureRequest<'_>,
    headers: &[(&str, &str)],
) -> (SecureOutcome, String) {
    let owned: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect();
    let mut decor = Vec::new();
    let outcome = sec.screen(
        req,
        |name| {
            owned
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_slice())
        },
        &mut decor,
    );
    (outcome, String::from_utf8(decor).unwrap())
}

const STATIC: &str = "X-Frame-Options: DENY\r\nX-Content-Type-Options: nosniff\r\nX-XSS-Protection: 1; mode=block\r\nContent-Security-Policy: default-src 'self';\r\nReferrer-Policy: same-origin\r\n";
const STS: &str = "Strict-Transport-Security: max-age=300; includeSubDomains\r\n";

#[test]
fn headers_and_hsts_only_over_https() {
    let sec = HttpSecurity::new(&all_headers());
    assert_eq!(
        screen(&sec, &request("a", false), &[]),
        (SecureOutcome::Pass, STATIC.to_owned())
    );
    assert_eq!(
        screen(&sec, &request("a", true), &[]),
        (SecureOutcome::Pass, format!("{STS}{STATIC}"))
    );
    let forced = HttpSecurity::new(&HttpSecuritySettings {
        force_sts_header: true,
        sts_include_subdomains: false,
        ..all_headers()
    });
    let (_, lines) = screen(&forced, &request("a", false), &[]);
    assert!(
        lines.starts_with("Strict-Transport-Security: max-age=300\r\n"),
        "{lines}"
    );
}

#[test]
fn ssl_proxy_headers_count_as_https() {
    let sec = HttpSecurity::new(&HttpSecuritySettings {
        ssl_proxy_headers: vec![("x-forwarded-proto".into(), "https".into())],
        ..all_headers()
    });
    let (_, lines) = screen(
        &sec,
        &request("a", false),
        &[("x-forwarded-proto", "https")],
    );
    assert!(lines.starts_with(STS), "{lines}");
    // Values compare exactly, as in Go.
    let (_, lines) = screen(
        &sec,
        &request("a", false),
        &[("x-forwarded-proto", "HTTPS")],
    );
    assert_eq!(lines, STATIC);
}

#[test]
fn custom_frame_options_win_over_frame_deny() {
    let sec = HttpSecurity::new(&HttpSecuritySettings {
        frame_deny: true,
        custom_frame_options_value: Some("SAMEORIGIN".into()),
        ..HttpSecuritySettings::default()
    });
    assert_eq!(
        screen(&sec, &request("a", false), &[]).1,
        "X-Frame-Options: SAMEORIGIN\r\n"
    );
}

#[test]
fn allowed_hosts() {
    let sec = HttpSecurity::new(&HttpSecuritySettings {
        allowed_hosts: vec!["api.example.com".into(), "api.example.com:8443".into()],
        host_proxy_headers: vec!["x-forwarded-host".into()],
        ..all_headers()
    });
    for (host, proxied, allowed) in [
        ("api.example.com", None, true),
        ("API.Example.com", None, true),
        ("api.example.com:8443", None, true),
        ("api.example.com.evil", None, false),
        ("other", Some("api.example.com"), true),
        ("api.example.com", Some("evil"), false),
        ("api.example.com", Some(""), true),
    ] {
        let headers: Vec<(&str, &str)> = proxied
            .map(|p| ("x-forwarded-host", p))
            .into_iter()
            .collect();
        let (outcome, lines) = screen(&sec, &request(host, false), &headers);
        if allowed {
            assert_eq!(outcome, SecureOutcome::Pass, "{host} {proxied:?}");
        } else {
            assert_eq!(
                (outcome, lines.as_str()),
                (SecureOutcome::BadHost, ""),
                "{host} {proxied:?}"
            );
        }
    }
    let no_host = SecureRequest {
        host: None,
        ..request("", false)
    };
    assert_eq!(screen(&sec, &no_host, &[]).0, SecureOutcome::BadHost);
}

#[test]
fn allowed_host_patterns_match_whole_hosts() {
    let sec = HttpSecurity::new(&HttpSecuritySettings {
        allowed_hosts: vec![r"[a-z]+\.example\.com|localhost".into()],
        allowed_hosts_are_regex: true,
        ..HttpSecuritySettings::default()
    });
    for (host, allowed) in [
        ("api.example.com", true),
        ("localhost", true),
        ("localhost.evil", false),
        ("x.api.example.com", false),
        ("evil.com/api.example.com", false),
    ] {
        assert_eq!(
            screen(&sec, &request(host, false), &[]).0 == SecureOutcome::Pass,
            allowed,
            "{host}"
        );
    }
}

#[test]
fn ssl_redirect() {
    let sec = HttpSecurity::new(&HttpSecuritySettings {
        ssl_redirect: true,
        ssl_proxy_headers: vec![("x-forwarded-proto".into(), "https".into())],
        ..all_headers()
    });
    assert_eq!(
        screen(&sec, &request("api.example.com:8080", false), &[]),
        (
            SecureOutcome::Redirect(b"https://api.example.com:8080/a/b?x=1&y=%20".to_vec()),
            String::new()
        )
    );
    assert_eq!(
        screen(&sec, &request("api", true), &[]).0,
        SecureOutcome::Pass
    );
    assert_eq!(
        screen(
            &sec,
            &request("api", false),
            &[("x-forwarded-proto", "https")]
        )
        .0,
        SecureOutcome::Pass
    );
    for bad in ["", "evil.com/x", "a@b", "a b"] {
        assert_eq!(
            screen(&sec, &request(bad, false), &[]).0,
            SecureOutcome::BadRedirectHost,
            "{bad:?}"
        );
    }
    let to_host = HttpSecurity::new(&HttpSecuritySettings {
        ssl_redirect: true,
        ssl_host: Some("secure.example.com".into()),
        ..HttpSecuritySettings::default()
    });
    let req = SecureRequest {
        query: None,
        path: b"/caf\xc3\xa9",
        ..request("", false)
    };
    assert_eq!(
        screen(&to_host, &req, &[]).0,
        SecureOutcome::Redirect(b"https://secure.example.com/caf%C3%A9".to_vec())
    );
}

#[test]
fn development_turns_off_hosts_redirect_and_hsts() {
    let sec = HttpSecurity::new(&HttpSecuritySettings {
        is_development: true,
        ssl_redirect: true,
        allowed_hosts: vec!["only.example.com".into()],
        force_sts_header: true,
        ..all_headers()
    });
    assert_eq!(
        screen(&sec, &request("other", false), &[]),
        (SecureOutcome::Pass, STATIC.to_owned())
    );
}
