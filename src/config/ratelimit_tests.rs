//! `qos/ratelimit/router` and `qos/ratelimit/proxy`, through whole files.

use super::*;

fn router(settings: &str) -> String {
    with_endpoints(&format!(
        r#"{{"endpoint": "/u/{{id}}", "extra_config": {{"qos/ratelimit/router": {settings}}}, "backend": [{{"url_pattern": "/x"}}]}}"#
    ))
}

fn proxy(settings: &str) -> String {
    backend_with(&format!(
        r#""extra_config": {{"qos/ratelimit/proxy": {settings}}},"#
    ))
}

fn limit(c: &Config) -> &RouterRateLimit {
    c.endpoints[0]
        .rate_limit
        .as_ref()
        .expect("a router rate limit")
}

fn proxy_rate(c: &Config) -> &RateSpec {
    &first_backend(c)
        .rate_limit
        .as_ref()
        .expect("a proxy rate limit")
        .rate
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn router_settings() {
    run(&[
        (
            "endpoint rate with KrakenD's defaults",
            router(r#"{"max_rate": 50}"#),
            Valid(|c| {
                let l = limit(c);
                assert_eq!(
                    l.endpoint,
                    Some(RateSpec {
                        max_rate: 50.0,
                        every: SECOND,
                        capacity: 50
                    })
                );
                assert!(l.client.is_none());
                assert!(
                    c.unknown_namespaces.is_empty(),
                    "{:?}",
                    c.unknown_namespaces
                );
            }),
        ),
        (
            "capacity defaults to the rate per second, at least 1",
            router(r#"{"max_rate": 120, "client_max_rate": 5, "every": "1m", "strategy": "ip"}"#),
            Valid(|c| {
                let l = limit(c);
                let endpoint = l.endpoint.as_ref().unwrap();
                assert_eq!(
                    (endpoint.capacity, endpoint.every),
                    (2, Duration::from_secs(60))
                );
                assert_eq!(l.client.as_ref().unwrap().rate.capacity, 1);
            }),
        ),
        (
            "explicit capacities, fractional rate; capacity 0 is the default",
            router(
                r#"{"max_rate": 0.5, "capacity": 0, "client_max_rate": 2.5, "client_capacity": 7, "strategy": "ip"}"#,
            ),
            Valid(|c| {
                let l = limit(c);
                assert_eq!(l.endpoint.as_ref().unwrap().capacity, 1);
                let client = l.client.as_ref().unwrap();
                assert_eq!((client.rate.max_rate, client.rate.capacity), (2.5, 7));
            }),
        ),
        (
            "every below a second is a second, as in KrakenD; zero is the default",
            router(r#"{"max_rate": 10, "every": "100ms"}"#),
            Valid(|c| assert_eq!(limit(c).endpoint.as_ref().unwrap().every, SECOND)),
        ),
        (
            "every zero",
            router(r#"{"max_rate": 10, "every": "0s"}"#),
            Valid(|c| assert_eq!(limit(c).endpoint.as_ref().unwrap().every, SECOND)),
        ),
        (
            "no strategy: no client limit, as krakend-ratelimit, and a warning",
            router(r#"{"client_max_rate": 5}"#),
            Valid(|c| {
                assert!(c.endpoints[0].rate_limit.is_none());
                assert_eq!(
                    warned_at(c),
                    ["endpoints[0].extra_config.qos/ratelimit/router.strategy"]
                );
                assert!(c.warnings[0].message.contains("NOT APPLIED"));
            }),
        ),
        (
            "an empty strategy is no strategy; the endpoint limit stays",
            router(r#"{"max_rate": 9, "client_max_rate": 5, "strategy": ""}"#),
            Valid(|c| {
                let l = limit(c);
                assert!(l.endpoint.is_some() && l.client.is_none());
                assert_eq!(c.warnings.len(), 1);
            }),
        ),
        (
            "ip strategy",
            router(r#"{"client_max_rate": 5, "strategy": "ip"}"#),
            Valid(|c| {
                assert_eq!(
                    limit(c).client.as_ref().unwrap().strategy,
                    ClientStrategy::Ip { header: None }
                );
                assert!(c.warnings.is_empty());
            }),
        ),
        (
            "ip with a header key, case-insensitive strategy",
            router(r#"{"client_max_rate": 5, "strategy": "IP", "key": "X-Forwarded-For"}"#),
            Valid(|c| {
                assert_eq!(
                    limit(c).client.as_ref().unwrap().strategy,
                    ClientStrategy::Ip {
                        header: Some("x-forwarded-for".into())
                    }
                );
            }),
        ),
        (
            "header strategy",
            router(r#"{"client_max_rate": 5, "strategy": "header", "key": "X-Api-Key"}"#),
            Valid(|c| {
                assert_eq!(
                    limit(c).client.as_ref().unwrap().strategy,
                    ClientStrategy::Header("x-api-key".into())
                );
            }),
        ),
        (
            "param strategy names a placeholder",
            router(r#"{"client_max_rate": 5, "strategy": "param", "key": "id"}"#),
            Valid(|c| {
                assert_eq!(
                    limit(c).client.as_ref().unwrap().strategy,
                    ClientStrategy::Param("id".into())
                );
            }),
        ),
        (
            "rates of 0 mean no limit",
            router(r#"{"max_rate": 0, "client_max_rate": 0}"#),
            Valid(|c| assert!(c.endpoints[0].rate_limit.is_none())),
        ),
        (
            "KrakenD's store tuning is accepted and warned about",
            router(
                r#"{"max_rate": 5, "num_shards": 64, "cleanup_period": "30s", "cleanup_threads": 2}"#,
            ),
            Valid(|c| {
                assert!(c.unknown_namespaces.is_empty());
                let mut at: Vec<&str> = c.warnings.iter().map(|p| p.at.as_str()).collect();
                at.sort();
                assert_eq!(
                    at,
                    [
                        "endpoints[0].extra_config.qos/ratelimit/router.cleanup_period",
                        "endpoints[0].extra_config.qos/ratelimit/router.cleanup_threads",
                        "endpoints[0].extra_config.qos/ratelimit/router.num_shards",
                    ]
                );
            }),
        ),
    ]);
}

#[test]
fn router_errors() {
    const AT: &str = "endpoints[0].extra_config.qos/ratelimit/router";
    run(&[
        (
            "no rate at all",
            router(r#"{"capacity": 5}"#),
            Error(&[
                "endpoints[0].extra_config.qos/ratelimit/router: needs \"max_rate\"",
                "\"client_max_rate\"",
            ]),
        ),
        (
            "negative rate",
            router(r#"{"max_rate": -1}"#),
            Error(&[AT, ".max_rate: -1 is negative", "or 0 for no limit"]),
        ),
        (
            "negative client rate",
            router(r#"{"client_max_rate": -0.5}"#),
            Error(&[".client_max_rate: -0.5 is negative"]),
        ),
        (
            "rate as a string",
            router(r#"{"max_rate": "10"}"#),
            Error(&[".max_rate: invalid type: string \"10\", expected f64"]),
        ),
        (
            "fractional capacity",
            router(r#"{"max_rate": 10, "capacity": 1.5}"#),
            Error(&[
                ".capacity: invalid type: floating point `1.5`, expected a whole number of requests",
            ]),
        ),
        (
            "negative client capacity",
            router(r#"{"client_max_rate": 10, "client_capacity": -2}"#),
            Error(&[".client_capacity: invalid value: integer `-2`, expected a whole number"]),
        ),
        (
            "every in seconds as a number",
            router(r#"{"max_rate": 10, "every": 60}"#),
            Error(&[".every: invalid type: integer `60`, expected a duration string"]),
        ),
        (
            "every without unit",
            router(r#"{"max_rate": 10, "every": "10"}"#),
            Error(&[".every: \"10\" is not a duration: a number needs a unit"]),
        ),
        (
            "unknown strategy",
            router(r#"{"client_max_rate": 10, "strategy": "jwt"}"#),
            Error(&[
                ".strategy: \"jwt\" is not a client strategy; write one of \"ip\", \"header\", \"param\"",
            ]),
        ),
        (
            "header strategy without key",
            router(r#"{"client_max_rate": 10, "strategy": "header"}"#),
            Error(&[
                ".key: missing; \"strategy\": \"header\" needs the name of the header",
                "\"X-Api-Key\"",
            ]),
        ),
        (
            "param strategy with an empty key",
            router(r#"{"client_max_rate": 10, "strategy": "param", "key": ""}"#),
            Error(&[
                ".key: missing; \"strategy\": \"param\" needs the name of an endpoint placeholder",
            ]),
        ),
        (
            "param strategy naming no placeholder",
            router(r#"{"client_max_rate": 10, "strategy": "param", "key": "user"}"#),
            Error(&[
                "qos/ratelimit/router.key: \"user\" is not a placeholder of the endpoint \"/u/{id}\" (it has {id})",
            ]),
        ),
        (
            "not an object",
            router("true"),
            Error(&[AT, "invalid type: boolean `true`, expected an object"]),
        ),
    ]);
}

#[test]
fn proxy_settings() {
    run(&[
        (
            "KrakenD's example",
            proxy(r#"{"max_rate": 0.5, "every": "1s", "capacity": 1}"#),
            Valid(|c| {
                assert_eq!(
                    *proxy_rate(c),
                    RateSpec {
                        max_rate: 0.5,
                        every: SECOND,
                        capacity: 1
                    }
                );
                assert!(
                    c.unknown_namespaces.is_empty(),
                    "{:?}",
                    c.unknown_namespaces
                );
            }),
        ),
        (
            "capacity defaults to the rate per second",
            proxy(r#"{"max_rate": 100}"#),
            Valid(|c| assert_eq!(proxy_rate(c).capacity, 100)),
        ),
        (
            "sub-second every is kept here, as in KrakenD",
            proxy(r#"{"max_rate": 1, "every": "100ms"}"#),
            Valid(|c| {
                assert_eq!(proxy_rate(c).every, Duration::from_millis(100));
                assert_eq!(proxy_rate(c).capacity, 10);
            }),
        ),
        (
            "max_rate 0 means no limit",
            proxy(r#"{"max_rate": 0, "capacity": 5}"#),
            Valid(|c| assert!(first_backend(c).rate_limit.is_none())),
        ),
        (
            "unknown keys are warned about",
            proxy(r#"{"max_rate": 1, "burst": 3}"#),
            Valid(|c| assert_eq!(c.unknown_namespaces, ["qos/ratelimit/proxy.burst"])),
        ),
    ]);
}

#[test]
fn proxy_errors() {
    run(&[
        (
            "missing max_rate",
            proxy(r#"{"capacity": 5}"#),
            Error(&[
                "endpoints[0].backend[0].extra_config.qos/ratelimit/proxy.max_rate: missing; write the calls allowed per \"every\"",
            ]),
        ),
        (
            "negative max_rate",
            proxy(r#"{"max_rate": -5}"#),
            Error(&["qos/ratelimit/proxy.max_rate: -5 is negative"]),
        ),
        (
            "bad every",
            proxy(r#"{"max_rate": 5, "every": "1 minute"}"#),
            Error(&["qos/ratelimit/proxy.every: \"1 minute\" is not a duration"]),
        ),
        (
            "negative every",
            proxy(r#"{"max_rate": 5, "every": "-1s"}"#),
            Error(&["qos/ratelimit/proxy.every: \"-1s\" is negative"]),
        ),
    ]);
}
