//! Whole-file tests: configuration text in, `Config` fields or an error
//! message out, all through `check`.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::http::Method;

/// What a case expects: a valid config satisfying the assertions, or an
/// error whose message contains every listed fragment.
enum Expect {
    Valid(fn(&Config)),
    Error(&'static [&'static str]),
}
use Expect::{Error, Valid};

/// `config::parse` then the prepare step above it, as `check` runs them
/// (files named by `tls` and `client_tls` are read there).
fn parse(text: &str, source: &Path) -> Result<Config, ConfigError> {
    let config = super::parse(text, source)?;
    crate::prepare::Prepared::new(&config, source)?;
    Ok(config)
}

/// Parses `text` as `config/test.json` and checks the outcome.
fn check(name: &str, text: &str, expect: Expect) {
    let result = parse(text, Path::new("config/test.json"));
    match (result, expect) {
        (Ok(config), Valid(assertions)) => assertions(&config),
        (Err(error), Error(fragments)) => {
            let message = error.to_string();
            assert!(
                message.starts_with("config/test.json: "),
                "{name}: the message must name the file: {message}"
            );
            for fragment in fragments {
                assert!(
                    message.contains(fragment),
                    "{name}: expected {fragment:?} in: {message}"
                );
            }
        }
        (Ok(config), Error(fragments)) => {
            panic!("{name}: expected an error with {fragments:?}, got {config:#?}")
        }
        (Err(error), Valid(_)) => panic!("{name}: expected a valid config, got: {error}"),
    }
}

/// The JSON paths of the warnings, sorted.
fn warned(config: &Config) -> Vec<&str> {
    let mut at: Vec<&str> = config.warnings.iter().map(|p| p.at.as_str()).collect();
    at.sort();
    at
}

fn run(cases: &[(&str, String, Expect)]) {
    for (name, text, expect) in cases {
        let expect = match expect {
            Valid(f) => Valid(*f),
            Error(fragments) => Error(fragments),
        };
        check(name, text, expect);
    }
}

/// A v3 file with a root host and the given endpoints (JSON objects).
fn with_endpoints(endpoints: &str) -> String {
    format!(r#"{{"version": 3, "host": ["http://127.0.0.1:8000"], "endpoints": [{endpoints}]}}"#)
}

/// A v3 file with one endpoint `/a` whose fields are `fields` plus one backend.
fn endpoint_with(fields: &str) -> String {
    with_endpoints(&format!(
        r#"{{"endpoint": "/a", {fields} "backend": [{{"url_pattern": "/x"}}]}}"#
    ))
}

/// A v3 file with one endpoint `/a` and one backend with extra `fields`.
fn backend_with(fields: &str) -> String {
    with_endpoints(&format!(
        r#"{{"endpoint": "/a", "backend": [{{"url_pattern": "/x", {fields} "method": "GET"}}]}}"#
    ))
}

/// A v3 file with extra root fields and one endpoint.
fn root_with(fields: &str) -> String {
    format!(
        r#"{{"version": 3, {fields} "endpoints": [{{"endpoint": "/a", "backend": [{{"host": ["http://127.0.0.1:8000"]}}]}}]}}"#
    )
}

fn first_backend(config: &Config) -> &Backend {
    &config.endpoints[0].backends[0]
}

#[test]
fn defaults() {
    run(&[
        (
            "root defaults",
            root_with(""),
            Valid(|c| {
                assert_eq!(c.port, 8080);
                assert_eq!(c.listen_ip.to_string(), "0.0.0.0");
                assert_eq!(c.name, None);
                assert!(!c.debug_endpoint && !c.echo_endpoint && !c.return_error_msg);
                assert!(c.unknown_namespaces.is_empty());
                assert_eq!(c.source, Path::new("config/test.json"));
                let d = ServerLimits::default();
                let l = &c.limits;
                assert_eq!(
                    (
                        l.read_header_timeout,
                        l.read_timeout,
                        l.write_timeout,
                        l.idle_timeout
                    ),
                    (
                        d.read_header_timeout,
                        d.read_timeout,
                        d.write_timeout,
                        d.idle_timeout
                    )
                );
                assert_eq!(
                    (l.max_header_bytes, l.max_uri_bytes, l.max_body_bytes),
                    (d.max_header_bytes, d.max_uri_bytes, d.max_body_bytes)
                );
                assert_eq!(l.write_deadline, None, "as KrakenD: no total bound");
                assert_eq!(
                    (
                        l.max_response_bytes,
                        l.max_connections_per_worker,
                        l.max_idle_per_host,
                        l.preconnect
                    ),
                    (
                        d.max_response_bytes,
                        d.max_connections_per_worker,
                        d.max_idle_per_host,
                        d.preconnect
                    )
                );
                assert_eq!(
                    (l.connect_timeout, l.shutdown_wait),
                    (d.connect_timeout, d.shutdown_wait)
                );
            }),
        ),
        (
            "endpoint defaults",
            root_with(""),
            Valid(|c| {
                let e = &c.endpoints[0];
                assert_eq!(e.method, Method::Get);
                assert_eq!(e.timeout, DEFAULT_TIMEOUT);
                assert_eq!(e.cache_ttl, None);
                assert_eq!(e.input_headers, Forward::None);
                assert_eq!(e.input_query_strings, Forward::None);
                assert_eq!(e.output_encoding, OutputEncoding::Json);
                assert_eq!(e.concurrent_calls, 1);
                assert!(!e.sequential && e.static_response.is_none() && e.flatmap.is_empty());
            }),
        ),
        (
            "backend defaults",
            root_with(""),
            Valid(|c| {
                let b = first_backend(c);
                assert_eq!(b.url_pattern, "/");
                assert_eq!(b.hosts, ["http://127.0.0.1:8000"]);
                assert_eq!(b.method, Method::Get);
                assert_eq!(b.encoding, BackendEncoding::Json);
                assert_eq!(b.manipulation, ManipulationSpec::default());
                assert!(!b.return_error_code);
                assert!(b.return_error_details.is_none() && b.circuit_breaker.is_none());
            }),
        ),
        (
            "endpoints inherit root timeout, cache_ttl and output_encoding",
                r#"{"version": 3, "timeout": "3s", "cache_ttl": "1h", "output_encoding": "string", "host": ["http://h:1"],
                    "endpoints": [{"endpoint": "/a", "backend": [{}]},
                                  {"endpoint": "/b", "timeout": "0", "cache_ttl": "0s", "backend": [{}]},
                                  {"endpoint": "/c", "timeout": "150us", "cache_ttl": "5m", "output_encoding": "xml", "backend": [{}]}]}"#
            .to_owned(),
            Valid(|c| {
                let [a, b, e] = &c.endpoints[..] else {
                    panic!()
                };
                assert_eq!(
                    (a.timeout, a.cache_ttl),
                    (Duration::from_secs(3), Some(Duration::from_secs(3600)))
                );
                assert_eq!(
                    (b.timeout, b.cache_ttl),
                    (Duration::from_secs(3), Some(Duration::from_secs(3600)))
                );
                assert_eq!(
                    (e.timeout, e.cache_ttl),
                    (Duration::from_micros(150), Some(Duration::from_secs(300)))
                );
                assert_eq!(a.output_encoding, OutputEncoding::String);
                assert_eq!(e.output_encoding, OutputEncoding::Xml);
            }),
        ),
        (
            "root timeout 0 means the default",
            root_with(r#""timeout": "0","#),
            Valid(|c| assert_eq!(c.endpoints[0].timeout, DEFAULT_TIMEOUT)),
        ),
        (
            "backend inherits endpoint method; host cleaned; own host wins over root",
            with_endpoints(
                r#"{"endpoint": "/a", "method": "put", "backend": [{"host": ["http://b:9/", "c:10"]}]}"#,
            ),
            Valid(|c| {
                let b = first_backend(c);
                assert_eq!(c.endpoints[0].method, Method::Put);
                assert_eq!(b.method, Method::Put);
                assert_eq!(b.hosts, ["http://b:9", "http://c:10"]);
            }),
        ),
        (
            "url_pattern gets a leading slash like KrakenD",
            with_endpoints(r#"{"endpoint": "/a", "backend": [{"url_pattern": "users"}]}"#),
            Valid(|c| assert_eq!(first_backend(c).url_pattern, "/users")),
        ),
    ]);
}

#[test]
fn root_settings() {
    run(&[
        (
            "name, port, listen_ip, debug and echo",
            root_with(
                r#""name": "gw", "port": 9000, "listen_ip": "127.0.0.1", "debug_endpoint": true, "echo_endpoint": true,"#,
            ),
            Valid(|c| {
                assert_eq!(c.name.as_deref(), Some("gw"));
                assert_eq!(c.port, 9000);
                assert_eq!(c.listen_ip.to_string(), "127.0.0.1");
                assert!(c.debug_endpoint && c.echo_endpoint);
            }),
        ),
        (
            "port 0 is the default",
            root_with(r#""port": 0,"#),
            Valid(|c| assert_eq!(c.port, 8080)),
        ),
        (
            "$schema, @comment and unknown keys are ignored",
            root_with(
                r#""$schema": "https://www.krakend.io/schema/v3.json", "@comment": "hi", "plugin": {}, "tls": {"disabled": true},"#,
            ),
            Valid(|c| assert!(c.unknown_namespaces.is_empty())),
        ),
        (
            "router.return_error_msg",
            root_with(r#""extra_config": {"router": {"return_error_msg": true}},"#),
            Valid(|c| assert!(c.return_error_msg)),
        ),
        (
            "server limits from root keys",
            root_with(
                r#""read_header_timeout": "200ms", "read_timeout": "1s", "write_timeout": "2s", "idle_timeout": "3s",
                   "max_header_bytes": 1000, "max_idle_connections_per_host": 7, "dialer_timeout": "4s",
                   "max_shutdown_wait_time": "5s","#,
            ),
            Valid(|c| {
                let l = &c.limits;
                assert_eq!(l.read_header_timeout, Duration::from_millis(200));
                assert_eq!(l.read_timeout, Duration::from_secs(1));
                assert_eq!(l.write_timeout, Duration::from_secs(2));
                assert_eq!(l.write_deadline, Some(Duration::from_secs(2)));
                assert_eq!(l.idle_timeout, Duration::from_secs(3));
                assert_eq!(l.max_header_bytes, 1000);
                assert_eq!(l.max_idle_per_host, 7);
                assert_eq!(l.connect_timeout, Duration::from_secs(4));
                assert_eq!(l.shutdown_wait, Duration::from_secs(5));
            }),
        ),
        (
            "backend transport settings (lura NewTransport)",
            root_with(
                r#""response_header_timeout": "500ms", "disable_keep_alives": "true", "disable_compression": true,
                   "idle_connection_timeout": "9s", "max_idle_connections": 5, "dialer_keep_alive": "-1s","#,
            ),
            Valid(|c| {
                let l = &c.limits;
                assert_eq!(l.response_header_timeout, Some(Duration::from_millis(500)));
                assert!(l.disable_keep_alives && l.disable_compression);
                assert_eq!(l.idle_connection_timeout, Some(Duration::from_secs(9)));
                assert_eq!(l.max_idle_total, Some(5));
                // Shared out like max_idle_connections_per_host.
                assert_eq!(l.idle_total_per_worker(2), Some(3));
                assert_eq!(l.idle_total_per_worker(8), Some(1));
                assert_eq!(l.tcp_keep_alive, None);
                // No connection is pre-opened when none is kept alive.
                assert_eq!(l.preconnect_per_worker(1), 0);
                assert!(c.warnings.is_empty(), "{:?}", c.warnings);
            }),
        ),
        (
            "backend transport defaults: Go's",
            root_with(r#""dialer_keep_alive": "0s", "max_idle_connections": 0,"#),
            Valid(|c| {
                let l = &c.limits;
                assert_eq!(l.tcp_keep_alive, Some(Duration::from_secs(15)));
                assert_eq!((l.max_idle_total, l.idle_total_per_worker(4)), (None, None));
                assert_eq!(
                    (l.response_header_timeout, l.idle_connection_timeout),
                    (None, None)
                );
                assert!(!l.disable_keep_alives && !l.disable_compression);
            }),
        ),
        (
            "zero limits from the file mean the defaults, not unlimited",
            root_with(
                r#""read_timeout": "0s", "idle_timeout": "0", "max_header_bytes": 0, "max_idle_connections_per_host": 0,"#,
            ),
            Valid(|c| {
                let d = ServerLimits::default();
                assert_eq!(c.limits.read_timeout, d.read_timeout);
                assert_eq!(c.limits.idle_timeout, d.idle_timeout);
                assert_eq!(c.limits.max_header_bytes, d.max_header_bytes);
                assert_eq!(c.limits.max_idle_per_host, d.max_idle_per_host);
            }),
        ),
        (
            "cuttle/server overrides; pool_size pre-connects within max_idle_connections_per_host",
            root_with(
                r#""max_idle_connections_per_host": 7, "extra_config": {"cuttle/server": {"@comment": "limits", "max_body_bytes": 1, "max_uri_bytes": 2,
                   "max_response_bytes": 3, "max_connections": 4, "pool_size": 5}},"#,
            ),
            Valid(|c| {
                let l = &c.limits;
                assert_eq!(
                    (
                        l.max_body_bytes,
                        l.max_uri_bytes,
                        l.max_response_bytes,
                        l.max_connections_per_worker,
                        l.preconnect,
                        l.max_idle_per_host
                    ),
                    (1, 2, 3, 4, 5, 7)
                );
                // 7 idle per host for the process: 4 per worker of 2, so
                // 4 of the 5 pre-connections; 1 per worker of 16.
                assert_eq!((l.idle_per_worker(2), l.preconnect_per_worker(2)), (4, 4));
                assert_eq!((l.idle_per_worker(16), l.preconnect_per_worker(16)), (1, 1));
                assert_eq!((l.idle_per_worker(1), l.preconnect_per_worker(1)), (7, 5));
                assert!(c.unknown_namespaces.is_empty());
            }),
        ),
        (
            "cuttle/server refuses 0",
            root_with(r#""extra_config": {"cuttle/server": {"max_body_bytes": 0}},"#),
            Error(&["extra_config.cuttle/server.max_body_bytes: must be at least 1"]),
        ),
        (
            "cuttle/server refuses typos",
            root_with(r#""extra_config": {"cuttle/server": {"max_body_byte": 10}},"#),
            Error(&[
                "extra_config.cuttle/server.max_body_byte",
                "did you mean \"max_body_bytes\"?",
            ]),
        ),
        (
            "cuttle/server refuses keys far from any too",
            root_with(r#""extra_config": {"cuttle/server": {"bodies": 10}},"#),
            Error(&["extra_config.cuttle/server", "unknown field `bodies`"]),
        ),
        (
            "bad listen_ip",
            root_with(r#""listen_ip": "localhost","#),
            Error(&["listen_ip: \"localhost\" is not an IP address"]),
        ),
        (
            "bad port",
            root_with(r#""port": 70000,"#),
            Error(&[
                "port: 70000 is out of range for this setting (0 to 65535)",
                "(line 1, column",
            ]),
        ),
    ]);
}

#[test]
fn endpoint_settings() {
    run(&[
        (
            "input headers lower-cased, query strings as written, * means all",
            with_endpoints(
                r#"{"endpoint": "/a", "input_headers": ["X-Foo", "Authorization", "x-foo"], "input_query_strings": ["Page", "q"], "backend": [{}]},
                   {"endpoint": "/b", "input_headers": ["*"], "input_query_strings": ["a", "*"], "backend": [{}]},
                   {"endpoint": "/c", "input_headers": [], "backend": [{}]}"#,
            ),
            Valid(|c| {
                let [a, b, e] = &c.endpoints[..] else { panic!() };
                assert_eq!(a.input_headers, Forward::Only(vec!["x-foo".into(), "authorization".into()]));
                assert_eq!(a.input_query_strings, Forward::Only(vec!["Page".into(), "q".into()]));
                assert_eq!((&b.input_headers, &b.input_query_strings), (&Forward::All, &Forward::All));
                assert_eq!(e.input_headers, Forward::None);
            }),
        ),
        (
            "methods are upper-cased like KrakenD",
            with_endpoints(
                r#"{"endpoint": "/a", "method": "post", "backend": [{}]},
                   {"endpoint": "/a", "method": "Delete", "backend": [{"method": "get"}]},
                   {"endpoint": "/a", "method": "PATCH", "backend": [{}]}"#,
            ),
            Valid(|c| {
                let methods: Vec<Method> = c.endpoints.iter().map(|e| e.method).collect();
                assert_eq!(methods, [Method::Post, Method::Delete, Method::Patch]);
                assert_eq!(c.endpoints[1].backends[0].method, Method::Get);
            }),
        ),
        (
            "every output encoding",
            with_endpoints(
                r#"{"endpoint": "/1", "output_encoding": "json", "backend": [{}]},
                   {"endpoint": "/2", "output_encoding": "json-collection", "backend": [{}]},
                   {"endpoint": "/3", "output_encoding": "string", "backend": [{}]},
                   {"endpoint": "/4", "output_encoding": "xml", "backend": [{}]},
                   {"endpoint": "/5", "output_encoding": "yaml", "backend": [{}]},
                   {"endpoint": "/6", "output_encoding": "negotiate", "backend": [{}]},
                   {"endpoint": "/7", "output_encoding": "no-op", "backend": [{}]}"#,
            ),
            Valid(|c| {
                use OutputEncoding::*;
                let found: Vec<OutputEncoding> = c.endpoints.iter().map(|e| e.output_encoding).collect();
                assert_eq!(found, [Json, JsonCollection, String, Xml, Yaml, Negotiate, NoOp]);
                // A no-op endpoint makes an unset backend encoding no-op, as KrakenD does.
                assert_eq!(c.endpoints[6].backends[0].encoding, BackendEncoding::NoOp);
            }),
        ),
        (
            "concurrent_calls",
            endpoint_with(r#""concurrent_calls": 3,"#),
            Valid(|c| assert_eq!(c.endpoints[0].concurrent_calls, 3)),
        ),
        (
            "proxy: sequential, static and flatmap",
            with_endpoints(
                r#"{"endpoint": "/a/{id}", "extra_config": {"proxy": {"sequential": true,
                      "static": {"strategy": "incomplete", "data": {"b": [1, 2], "a": {"x": null}}},
                      "flatmap_filter": [{"type": "move", "args": ["a", "b"]}, {"type": "del", "args": ["c.*.d"]},
                                         {"type": "append", "args": ["e", "f"]}]}},
                    "backend": [{"url_pattern": "/u/{id}"}, {"url_pattern": "/v/{resp0_user.id}?x={id}"}]}"#,
            ),
            Valid(|c| {
                let e = &c.endpoints[0];
                assert!(e.sequential);
                let s = e.static_response.as_ref().unwrap();
                assert_eq!(s.strategy, StaticStrategy::Incomplete);
                assert_eq!(s.data, r#"{"a":{"x":null},"b":[1,2]}"#);
                assert_eq!(
                    e.flatmap,
                    [
                        FlatmapOp::Move { from: "a".into(), to: "b".into() },
                        FlatmapOp::Del { path: "c.*.d".into() },
                        FlatmapOp::Append { from: "e".into(), to: "f".into() },
                    ]
                );
            }),
        ),
        (
            "every static strategy",
            with_endpoints(
                &["always", "success", "errored", "complete", "incomplete"]
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        format!(r#"{{"endpoint": "/{i}", "extra_config": {{"proxy": {{"static": {{"strategy": "{s}", "data": {{}}}}}}}}, "backend": [{{}}]}}"#)
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Valid(|c| {
                use StaticStrategy::*;
                let found: Vec<StaticStrategy> =
                    c.endpoints.iter().map(|e| e.static_response.as_ref().unwrap().strategy).collect();
                assert_eq!(found, [Always, Success, Errored, Complete, Incomplete]);
            }),
        ),
        (
            "non-GET sequential endpoint whose earlier backends are GET",
            with_endpoints(
                r#"{"endpoint": "/a", "method": "POST", "extra_config": {"proxy": {"sequential": true}},
                    "backend": [{"method": "GET"}, {}]}"#,
            ),
            Valid(|c| assert_eq!(c.endpoints[0].backends[1].method, Method::Post)),
        ),
        (
            "a placeholder and a literal at the same position are fine",
            with_endpoints(
                r#"{"endpoint": "/a/{x}", "backend": [{}]}, {"endpoint": "/a/new", "backend": [{}]},
                   {"endpoint": "/a/{x}", "method": "POST", "backend": [{}]}, {"endpoint": "/a/{x}/", "backend": [{}]}"#,
            ),
            Valid(|c| assert_eq!(c.endpoints.len(), 4)),
        ),
    ]);
}

#[test]
fn backend_settings() {
    run(&[
        (
            "own input lists: headers lower-cased, queries as written, * is a name, empty is none",
            with_endpoints(
                r#"{"endpoint": "/a", "backend": [
                     {"input_headers": ["X-A", "x-a", "*"], "input_query_strings": ["Q", "q"]},
                     {"input_headers": [], "input_query_strings": []},
                     {}]}"#,
            ),
            Valid(|c| {
                let [own, empty, none] = &c.endpoints[0].backends[..] else {
                    panic!()
                };
                assert_eq!(own.input_headers, Some(vec!["x-a".into(), "*".into()]));
                assert_eq!(own.input_query_strings, Some(vec!["Q".into(), "q".into()]));
                assert_eq!(
                    (&empty.input_headers, &empty.input_query_strings),
                    (&None, &None)
                );
                assert_eq!(
                    (&none.input_headers, &none.input_query_strings),
                    (&None, &None)
                );
            }),
        ),
        (
            "manipulation fields",
            backend_with(
                r#""allow": ["a", "b.c"], "deny": ["d"], "mapping": {"z": "y", "b": "a"}, "group": "g", "target": "data.items", "is_collection": true,"#,
            ),
            Valid(|c| {
                let m = &first_backend(c).manipulation;
                assert_eq!(m.allow, ["a", "b.c"]);
                assert_eq!(m.deny, ["d"]);
                assert_eq!(
                    m.mapping,
                    [
                        ("b".to_owned(), "a".to_owned()),
                        ("z".to_owned(), "y".to_owned())
                    ]
                );
                assert_eq!(m.group.as_deref(), Some("g"));
                assert_eq!(m.target.as_deref(), Some("data.items"));
                assert!(m.is_collection);
            }),
        ),
        (
            "empty group and target mean none",
            backend_with(r#""group": "", "target": "","#),
            Valid(|c| {
                let m = &first_backend(c).manipulation;
                assert!(m.group.is_none() && m.target.is_none());
            }),
        ),
        (
            "every backend encoding, case-insensitive",
            with_endpoints(
                r#"{"endpoint": "/a", "backend": [{"encoding": "json"}, {"encoding": "safejson"}, {"encoding": "STRING"},
                    {"encoding": "xml"}, {"encoding": "rss"}, {"encoding": "no-op"}]}"#,
            ),
            Valid(|c| {
                use BackendEncoding::*;
                let found: Vec<BackendEncoding> =
                    c.endpoints[0].backends.iter().map(|b| b.encoding).collect();
                assert_eq!(found, [Json, SafeJson, String, Xml, Rss, NoOp]);
            }),
        ),
        (
            "backend namespaces",
            backend_with(
                r#""extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["a"]}]},
                   "backend/http": {"return_error_code": true, "return_error_details": "backend_a"},
                   "qos/circuit-breaker": {"interval": 60, "timeout": 10, "max_errors": 1, "log_status_change": true, "name": "cb"}},"#,
            ),
            Valid(|c| {
                let b = first_backend(c);
                assert_eq!(
                    b.manipulation.flatmap,
                    [FlatmapOp::Del { path: "a".into() }]
                );
                assert!(b.return_error_code);
                assert_eq!(b.return_error_details.as_deref(), Some("backend_a"));
                let cb = b.circuit_breaker.as_ref().unwrap();
                assert_eq!(
                    (cb.interval, cb.timeout),
                    (Duration::from_secs(60), Duration::from_secs(10))
                );
                assert_eq!((cb.max_errors, cb.log_status_change), (1, true));
                assert!(c.unknown_namespaces.is_empty());
            }),
        ),
        (
            "placeholders KrakenD fills: endpoint params",
            with_endpoints(
                r#"{"endpoint": "/a/{id}/{b-c}", "backend": [{"url_pattern": "/x/{b-c}?id={id}&t={not a placeholder}"}]}"#,
            ),
            Valid(|c| assert_eq!(c.endpoints[0].backends.len(), 1)),
        ),
    ]);
}

/// Namespaces at every level: guarding ones cuttle does not implement,
/// others it ignores, comments, and unknown keys inside implemented ones.
fn namespaces_file() -> String {
    with_endpoints(
        r#"{"endpoint": "/a", "extra_config": {"@comment": "documentation", "auth/api-keys": {}, "proxy": {"shadow": true, "@why": "x"}, "router": {}},
            "backend": [{"extra_config": {"qos/circuit-breaker/http": {}, "modifier/body-generator": {}, "backend/http": {"x": 1}}},
                        {"extra_config": {"qos/circuit-breaker/http": {}, "proxy": {"sequential": true}}}]},
           {"endpoint": "/b", "extra_config": {"auth/api-keys": {}, "validation/response-json-schema": {}}, "backend": [{}]}"#,
    )
    .replace(
        r#""version": 3,"#,
        r#""version": 3, "extra_config": {"auth/api-keys": {}, "telemetry/logging": {}, "router": {"return_error_msg": false, "disable_access_log": true}},"#,
    )
}

#[test]
fn unimplemented_guards_are_refused_with_their_paths() {
    check(
        "guarding namespaces",
        &namespaces_file(),
        Error(&[
            "extra_config.auth/api-keys: \"auth/api-keys\" is not implemented by cuttle yet",
            "endpoints[0].extra_config.auth/api-keys: \"auth/api-keys\"",
            "endpoints[0].backend[0].extra_config.modifier/body-generator: ",
            "endpoints[1].extra_config.auth/api-keys: ",
            "endpoints[1].extra_config.validation/response-json-schema: ",
            "--ignore-unimplemented",
        ]),
    );
    let refused = |name: &str, text: &str, fragments: &'static [&'static str]| {
        check(name, text, Error(fragments));
    };
    refused(
        "JWT claim in a url_pattern",
        &with_endpoints(
            r#"{"endpoint": "/users", "backend": [{"url_pattern": "/users/{JWT.sub}/orders"}]}"#,
        ),
        &[
            "endpoints[0].backend[0].url_pattern: {JWT.sub} needs a validated JWT: add \"auth/validator\"",
        ],
    );
    for namespace in [
        "auth/api-keys",
        "security/policies",
        "plugin/http-server",
        "qos/ratelimit/tiered",
    ] {
        let text = with_endpoints(&format!(
            r#"{{"endpoint": "/a", "backend": [{{"extra_config": {{"{namespace}": {{}}}}}}]}}"#
        ));
        let config = parse(&text, Path::new("config/test.json"));
        let message = config.expect_err(namespace).to_string();
        assert!(
            message.contains(&format!(
                "endpoints[0].backend[0].extra_config.{namespace}: \"{namespace}\" is not implemented"
            )),
            "{message}"
        );
    }
}

#[test]
fn tls_settings_are_checked() {
    let tls = |extra: &str| {
        format!(
            r#"{{"version": 3, "tls": {{"public_key": "a.pem", "private_key": "b.pem"{extra}}}}}"#
        )
    };
    run(&[
        (
            "unsupported cipher suite",
            tls(r#", "cipher_suites": [4865, 5]"#),
            Error(&[
                "tls.cipher_suites: 5 is not supported; supported: 4866 (TLS13_AES_256_GCM_SHA384)",
            ]),
        ),
        (
            "TLS 1.1",
            tls(r#", "min_version": "TLS11""#),
            Error(&[
                "tls.min_version: \"TLS11\" is not supported (cuttle speaks TLS 1.2 and 1.3 only)",
            ]),
        ),
        (
            "min above max",
            tls(r#", "min_version": "TLS13", "max_version": "TLS12""#),
            Error(&["tls.min_version: is above tls.max_version"]),
        ),
        (
            "no key",
            r#"{"version": 3, "tls": {"min_version": "TLS12"}}"#.to_owned(),
            Error(&["tls: no certificate"]),
        ),
        (
            "half a pair",
            r#"{"version": 3, "tls": {"keys": [{"public_key": "a.pem"}]}}"#.to_owned(),
            Error(&["tls.keys[0].private_key: missing"]),
        ),
        (
            "mTLS without any CA",
            tls(r#", "enable_mtls": true, "disable_system_ca_pool": true"#),
            Error(&[
                "tls.ca_certs: enable_mtls with disable_system_ca_pool needs the CA certificates",
            ]),
        ),
        (
            "mTLS switched on by strings (lura's weak decoding): its CA rule applies",
            tls(r#", "enable_mtls": "true", "disable_system_ca_pool": "1""#),
            Error(&[
                "tls.ca_certs: enable_mtls with disable_system_ca_pool needs the CA certificates",
            ]),
        ),
        (
            "a flag that is no boolean",
            tls(r#", "enable_mtls": "yes""#),
            Error(&["tls.enable_mtls: \"yes\" is not a boolean; write true or false"]),
        ),
        (
            "disabled by a string",
            r#"{"version": 3, "tls": {"disabled": "true"}, "client_tls": {"allow_insecure_connections": "0"}}"#
                .to_owned(),
            Valid(|c| {
                assert!(c.tls.is_none());
                assert!(!c.client_tls.allow_insecure_connections);
            }),
        ),
        (
            "client_tls versions: TLS 1.3 when the block leaves them out, Go's range without a block",
            r#"{"version": 3, "client_tls": {"min_version": "TLS12"}}"#.to_owned(),
            Valid(|c| {
                assert_eq!(c.client_tls.min_version, Some(TlsVersion::Tls12));
                assert_eq!(c.client_tls.max_version, Some(TlsVersion::Tls13));
            }),
        ),
        (
            "an empty client_tls block is TLS 1.3 only",
            r#"{"version": 3, "client_tls": {}}"#.to_owned(),
            Valid(|c| {
                assert_eq!(c.client_tls.min_version, Some(TlsVersion::Tls13));
                assert_eq!(c.client_tls.max_version, Some(TlsVersion::Tls13));
            }),
        ),
        (
            "no client_tls block",
            r#"{"version": 3}"#.to_owned(),
            Valid(|c| assert_eq!(c.client_tls.min_version, None)),
        ),
        (
            "one CA path stands for a list of one",
            r#"{"version": 3, "client_tls": {"ca_certs": "ca.pem"}}"#.to_owned(),
            Error(&["client_tls.ca_certs: ca.pem: cannot read the certificate"]),
        ),
        (
            "files checked",
            tls(""),
            Error(&["tls: a.pem: cannot read the certificate"]),
        ),
    ]);
}

#[test]
fn ignoring_unimplemented_guards_keeps_them_listed() {
    let options = LoadOptions {
        ignore_unimplemented: true,
        ..LoadOptions::default()
    };
    let config = parse_with(&namespaces_file(), Path::new("config/test.json"), options)
        .expect("served when told to ignore what is unimplemented");
    let refused: Vec<&str> = config.unimplemented.iter().map(|p| p.at.as_str()).collect();
    assert_eq!(
        refused,
        [
            "extra_config.auth/api-keys",
            "endpoints[0].extra_config.auth/api-keys",
            "endpoints[0].backend[0].extra_config.modifier/body-generator",
            "endpoints[1].extra_config.auth/api-keys",
            "endpoints[1].extra_config.validation/response-json-schema",
        ]
    );
    assert_eq!(config.unknown_namespaces, ["backend/http.x"]);
    // The options options.rs lists are warned about with their paths.
    let mut warned: Vec<&str> = config.warnings.iter().map(|p| p.at.as_str()).collect();
    warned.sort();
    assert_eq!(
        warned,
        [
            "endpoints[0].backend[0].extra_config.qos/circuit-breaker/http",
            "endpoints[0].backend[1].extra_config.proxy.sequential",
            "endpoints[0].backend[1].extra_config.qos/circuit-breaker/http",
            "endpoints[0].extra_config.proxy.shadow",
            "endpoints[0].extra_config.router",
        ]
    );
}

#[test]
fn version_checks() {
    run(&[
        (
            "missing version",
            r#"{"endpoints": []}"#.to_owned(),
            Error(&[
                "config/test.json: version: missing",
                "\"version\": 3",
                "migration tool",
            ]),
        ),
        (
            "version 2: migrate",
            r#"{"version": 2, "endpoints": []}"#.to_owned(),
            Error(&[
                "version: 2 is not supported",
                "KrakenD 0.x/1.x",
                "migrate it with KrakenD's configuration migration tool",
                "https://www.krakend.io/docs/configuration/migrating/",
                "cuttle reads version 3",
            ]),
        ),
        (
            "version 1",
            r#"{"version": 1}"#.to_owned(),
            Error(&["version: 1 is not supported", "migration tool"]),
        ),
        (
            "version 4",
            r#"{"version": 4}"#.to_owned(),
            Error(&["version: 4 is not supported; cuttle reads version 3"]),
        ),
        (
            "no endpoints is valid",
            r#"{"version": 3}"#.to_owned(),
            Valid(|c| assert!(c.endpoints.is_empty())),
        ),
    ]);
}

#[test]
fn endpoint_errors() {
    run(&[
        (
            "placeholder not a whole segment",
            with_endpoints(r#"{"endpoint": "/a/x{y}", "backend": [{}]}"#),
            Error(&[
                "endpoints[0].endpoint:",
                "is inside the segment \"x{y}\", which KrakenD only accepts with \"disable_rest\": true",
                "whole segment",
            ]),
        ),
        (
            "placeholder used twice",
            with_endpoints(r#"{"endpoint": "/a/{y}/{y}", "backend": [{}]}"#),
            Error(&["endpoints[0].endpoint:", "{y} appears twice"]),
        ),
        (
            "debug path",
            with_endpoints(r#"{"endpoint": "/__debug/x", "backend": [{}]}"#),
            Error(&["reserved for the debug endpoint"]),
        ),
        (
            "no backend",
            with_endpoints(r#"{"endpoint": "/a", "backend": []}"#),
            Error(&["endpoints[0].backend: GET /a has no backend"]),
        ),
        (
            "backend missing entirely",
            with_endpoints(r#"{"endpoint": "/a"}"#),
            Error(&["endpoints[0].backend: GET /a has no backend"]),
        ),
        (
            "no-op with two backends",
            with_endpoints(
                r#"{"endpoint": "/a", "output_encoding": "no-op", "backend": [{}, {}]}"#,
            ),
            Error(&["endpoints[0].output_encoding:", "has 2 backends"]),
        ),
        (
            "duplicate route",
            with_endpoints(
                r#"{"endpoint": "/a", "backend": [{}]}, {"endpoint": "/b", "backend": [{}]}, {"endpoint": "/a", "method": "get", "backend": [{}]}"#,
            ),
            Error(&[
                "endpoints[2].endpoint: GET /a is defined twice, as endpoints[0] and endpoints[2]",
            ]),
        ),
        (
            "placeholders named differently at the same position",
            with_endpoints(
                r#"{"endpoint": "/a/{x}/b", "backend": [{}]}, {"endpoint": "/a/{y}/b", "backend": [{}]}"#,
            ),
            Error(&[
                "endpoints[1].endpoint: GET /a/{y}/b clashes with endpoints[0] (GET /a/{x}/b)",
            ]),
        ),
        (
            "sequential of the wrong type",
            endpoint_with(r#""extra_config": {"proxy": {"sequential": "yes"}},"#),
            Error(&[
                "endpoints[0].extra_config.proxy.sequential: invalid type: string \"yes\", expected a boolean",
            ]),
        ),
    ]);
}

#[test]
fn backend_errors() {
    run(&[
        (
            "no host anywhere",
            r#"{"version": 3, "endpoints": [{"endpoint": "/a", "backend": [{"url_pattern": "/x"}]}]}"#.to_owned(),
            Error(&["endpoints[0].backend[0].host: no host"]),
        ),
        (
            "unknown scheme",
            backend_with(r#""host": ["http://ok:1", "ftp://api.example.com"],"#),
            Error(&["endpoints[0].backend[0].host[1]: \"ftp://api.example.com\": only http:// and https:// hosts are supported"]),
        ),
        (
            "bad root host",
            root_with(r#""host": ["http://a/b"],"#),
            Error(&["host[0]: \"http://a/b\" is not a host"]),
        ),
        (
            "placeholder missing from the endpoint",
            with_endpoints(r#"{"endpoint": "/a/{id}", "backend": [{"url_pattern": "/x/{user}"}]}"#),
            Error(&[
                "endpoints[0].backend[0].url_pattern: {user} is not a placeholder of the endpoint \"/a/{id}\" (it has {id})",
            ]),
        ),
        (
            "resp placeholder without sequential",
            with_endpoints(r#"{"endpoint": "/a", "backend": [{}, {"url_pattern": "/x/{resp0_id}"}]}"#),
            Error(&["endpoints[0].backend[1].url_pattern: {resp0_id}", "\"sequential\": true"]),
        ),
        (
            "resp placeholder from a later backend",
            with_endpoints(
                r#"{"endpoint": "/a", "extra_config": {"proxy": {"sequential": true}}, "backend": [{}, {"url_pattern": "/x/{resp1_id}"}]}"#,
            ),
            Error(&["endpoints[0].backend[1].url_pattern: {resp1_id} refers to a backend that has not answered yet"]),
        ),
        (
            "DNS SRV service discovery: the first host is the SRV name",
            backend_with(r#""sd": "dns", "host": ["http://api.service.consul/", "ignored"],"#),
            Valid(|c| assert_eq!(first_backend(c).hosts, ["srv+http://api.service.consul"])),
        ),
        (
            "DNS SRV service discovery over https, shared",
            backend_with(r#""sd": "dns-shared", "sd_scheme": "https", "host": ["_api._tcp.example.com"],"#),
            Valid(|c| assert_eq!(first_backend(c).hosts, ["srv+https://_api._tcp.example.com"])),
        ),
        (
            "DNS SRV service discovery with another scheme",
            backend_with(r#""sd": "dns", "sd_scheme": "h2c", "host": ["api.service.consul"],"#),
            Error(&["endpoints[0].backend[0].sd_scheme: \"h2c\""]),
        ),
        (
            "DNS SRV service discovery with a name that is not one",
            backend_with(r#""sd": "dns", "host": ["api service"],"#),
            Error(&["endpoints[0].backend[0].host[0]: \"api service\" is not a DNS name"]),
        ),
        (
            "dns_cache_ttl",
            root_with(r#""dns_cache_ttl": "5s","#),
            Valid(|c| assert_eq!(c.limits.dns_cache_ttl, Some(Duration::from_secs(5)))),
        ),
        (
            "two backend kinds on one backend",
            backend_with(
                r#""host": ["nats://"], "extra_config": {
                    "backend/graphql": {"type": "query", "query": "{ a }"},
                    "backend/pubsub/publisher": {"topic_url": "orders"}},"#,
            ),
            Error(&[
                "endpoints[0].backend[0].extra_config: a backend is called one way: keep one of backend/amqp, backend/graphql",
            ]),
        ),
        (
            "another service discovery",
            backend_with(r#""sd": "consul","#),
            Error(&["endpoints[0].backend[0].sd: \"consul\" service discovery is not supported"]),
        ),
        (
            "static service discovery is the default",
            backend_with(r#""sd": "static","#),
            Valid(|c| assert_eq!(first_backend(c).hosts, ["http://127.0.0.1:8000"])),
        ),
        (
            "circuit breaker without max_errors",
            backend_with(r#""extra_config": {"qos/circuit-breaker": {"interval": 60, "timeout": 10}},"#),
            Error(&["endpoints[0].backend[0].extra_config.qos/circuit-breaker.max_errors: missing"]),
        ),
        (
            "circuit breaker with a Go duration",
            backend_with(r#""extra_config": {"qos/circuit-breaker": {"interval": "60s", "timeout": 10, "max_errors": 1}},"#),
            Error(&[
                "endpoints[0].backend[0].extra_config.qos/circuit-breaker.interval:",
                "expected a whole number of seconds, e.g. 60",
            ]),
        ),
        (
            "backend/http of the wrong type",
            backend_with(r#""extra_config": {"backend/http": true},"#),
            Error(&["endpoints[0].backend[0].extra_config.backend/http: invalid type: boolean `true`, expected an object"]),
        ),
    ]);
}

#[test]
fn unknown_backend_method_is_refused() {
    check(
        "unknown backend method",
        &with_endpoints(r#"{"endpoint": "/a", "backend": [{"method": "BREW"}]}"#),
        Error(&["endpoints[0].backend[0].method: \"BREW\" is not an HTTP method"]),
    );
}

#[test]
fn durations_report_path_line_and_column() {
    run(&[
        (
            "endpoint timeout in words",
            with_endpoints(
                r#"{"endpoint": "/a", "backend": [{}]}, {"endpoint": "/b", "backend": [{}]}, {"endpoint": "/c", "timeout": "15 seconds", "backend": [{}]}"#,
            ),
            Error(&[
                r#"config/test.json: endpoints[2].timeout: "15 seconds" is not a duration"#,
                r#"write it in Go syntax, e.g. "15s" or "1500ms""#,
                "(line 1, column",
            ]),
        ),
        (
            "negative timeout",
            root_with(r#""timeout": "-1s","#),
            Error(&[r#"timeout: "-1s" is negative"#]),
        ),
        (
            "a number instead of a duration string is nanoseconds, with a warning",
            root_with(r#""cache_ttl": 300,"#),
            Valid(|c| {
                let warning = c
                    .warnings
                    .iter()
                    .find(|w| w.at == "cache_ttl")
                    .expect("a warning for cache_ttl");
                assert!(
                    warning.message.contains("read as 300 nanoseconds")
                        && warning.message.contains("\"300ms\""),
                    "{}",
                    warning.message
                );
            }),
        ),
        (
            "a negative number is no duration",
            root_with(r#""cache_ttl": -3,"#),
            Error(&["cache_ttl: -3 is not a duration"]),
        ),
        (
            "unknown unit",
            root_with(r#""read_timeout": "2d","#),
            Error(&[r#"read_timeout: "2d" is not a duration: unknown unit "d""#]),
        ),
    ]);
}

#[test]
fn json_errors_give_line_and_column() {
    run(&[
        (
            "syntax error",
            "{\n  \"version\": 3,\n  \"endpoints\": [\n    {\"endpoint\": \"/a\",}\n  ]\n}".to_owned(),
            Error(&["config/test.json: line 4, column 23: invalid JSON: trailing comma"]),
        ),
        (
            "truncated file",
            "{\n  \"version\": 3,\n".to_owned(),
            Error(&["config/test.json: line 3, column 0: invalid JSON: EOF while parsing"]),
        ),
        ("empty file", String::new(), Error(&["line 1, column 0: invalid JSON"])),
        (
            "text after the document",
            "{\"version\": 3}\n{}".to_owned(),
            Error(&["line 2, column 1: invalid JSON: unexpected text after the end"]),
        ),
        (
            "wrong type deep inside, with its path",
            "{\n \"version\": 3,\n \"endpoints\": [\n  {\"endpoint\": \"/a\", \"backend\": [{}]},\n  {\"endpoint\": \"/b\",\n   \"backend\": [{\"url_pattern\": [42]}]}\n ]\n}".to_owned(),
            Error(&[
                "config/test.json: endpoints[1].backend[0].url_pattern: invalid type: sequence, expected a string (line 6, column 32)",
            ]),
        ),
        (
            "not an object",
            "\"krakend\"".to_owned(),
            Error(&["config/test.json: top level: invalid type: string \"krakend\", expected a JSON object"]),
        ),
        (
            "version not a number",
            r#"{"version": "three"}"#.to_owned(),
            Error(&["version: \"three\" is not a whole number", "(line 1, column 19)"]),
        ),
    ]);
}

#[test]
fn load_names_an_unreadable_file() {
    let error = load(Path::new("config/does-not-exist.json")).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("config/does-not-exist.json: cannot read the configuration file"),
        "{message}"
    );
}

#[path = "ratelimit_tests.rs"]
mod ratelimit;

#[test]
fn enterprise_features_are_served_or_refused_with_their_paths() {
    let ep = |extra: &str| {
        with_endpoints(&format!(
            r#"{{"endpoint": "/a", "extra_config": {extra}, "backend": [{{"extra_config": {extra}}}]}}"#
        ))
    };
    check(
        "jmespath and content replacer at both levels",
        &ep(
            r#"{"modifier/jmespath": {"expr": "students[?age > `18`].name"},
                "plugin/req-resp-modifier": {"name": ["content-replacer"], "content-replacer": {
                    "@comment": "x", "data.card": {"find": "(^\\d{4})(.*)", "replace": "${1}-XXXX", "regexp": true},
                    "message": {"find": " items left", "replace": ""}}}}"#,
        ),
        Valid(|config| {
            let endpoint = &config.endpoints[0];
            assert!(
                config.unimplemented.is_empty(),
                "{:?}",
                config.unimplemented
            );
            for modifiers in [
                &endpoint.response,
                &endpoint.backends[0].manipulation.modifiers,
            ] {
                assert_eq!(
                    modifiers.jmespath.as_deref(),
                    Some("students[?age > `18`].name")
                );
                let paths: Vec<&str> = modifiers
                    .replacements
                    .iter()
                    .map(|r| r.path.as_str())
                    .collect();
                assert_eq!(paths, ["data.card", "message"]);
                assert!(modifiers.replacements[0].regexp && !modifiers.replacements[1].regexp);
            }
        }),
    );
    let refused = |name: &str, text: String, fragments: &'static [&'static str]| {
        check(name, &text, Error(fragments));
    };
    refused(
        "bad JMESPath",
        ep(r#"{"modifier/jmespath": {"expr": "students[?age > "}}"#),
        &[
            "endpoints[0].extra_config.modifier/jmespath.expr: not a valid JMESPath expression",
            "at character",
        ],
    );
    refused(
        "missing expr",
        ep(r#"{"modifier/jmespath": {}}"#),
        &["endpoints[0].extra_config.modifier/jmespath.expr: missing"],
    );
    refused(
        "bad regexp",
        ep(
            r#"{"plugin/req-resp-modifier": {"name": ["content-replacer"], "content-replacer": {"a.b": {"find": "(x", "replace": "", "regexp": true}}}}"#,
        ),
        &[
            "endpoints[0].extra_config.plugin/req-resp-modifier.content-replacer.a.b.find: not a valid regular expression",
        ],
    );
    refused(
        "replacement without replace",
        ep(
            r#"{"plugin/req-resp-modifier": {"name": ["content-replacer"], "content-replacer": {"a": {"find": "x"}}}}"#,
        ),
        &["content-replacer.a.replace: missing"],
    );
    refused(
        "another plugin stays refused",
        ep(
            r#"{"plugin/req-resp-modifier": {"name": ["content-replacer", "ip-filter"], "content-replacer": {}}}"#,
        ),
        &[
            "endpoints[0].extra_config.plugin/req-resp-modifier: \"plugin/req-resp-modifier\" is not implemented",
            "endpoints[0].backend[0].extra_config.plugin/req-resp-modifier: ",
        ],
    );
    refused(
        "a modifier on a no-op endpoint would be skipped",
        with_endpoints(
            r#"{"endpoint": "/a", "output_encoding": "no-op", "extra_config": {"modifier/jmespath": {"expr": "a"}}, "backend": [{}]}"#,
        ),
        &[
            "endpoints[0].extra_config.modifier/jmespath: \"modifier/jmespath\" changes the response, but a \"no-op\" encoding",
        ],
    );
    refused(
        "a replacer on a no-op backend would be skipped",
        with_endpoints(
            r#"{"endpoint": "/a", "output_encoding": "no-op", "backend": [{"extra_config": {"plugin/req-resp-modifier": {"name": ["content-replacer"], "content-replacer": {"a": {"find": "x", "replace": "y"}}}}}]}"#,
        ),
        &["endpoints[0].backend[0].extra_config.plugin/req-resp-modifier: "],
    );
    refused(
        "two wildcards for the same prefix",
        with_endpoints(
            r#"{"endpoint": "/v1/{a}/*", "backend": [{}]}, {"endpoint": "/v2/*", "backend": [{}]},
               {"endpoint": "/v1/{b}/*", "backend": [{}]}"#,
        ),
        &["endpoints[2].endpoint: GET /v1/{b}/* clashes with endpoints[0] (GET /v1/{a}/*)"],
    );
    refused(
        "two in-segment placeholders a router cannot tell apart",
        with_endpoints(
            r#"{"endpoint": "/x/a{p}", "backend": [{}]}, {"endpoint": "/x/{q}b", "backend": [{}]}"#,
        )
        .replace(r#""version": 3,"#, r#""version": 3, "disable_rest": true,"#),
        &["endpoints[1].endpoint: GET /x/{q}b clashes with endpoints[0] (GET /x/a{p})"],
    );
    refused(
        "in-segment placeholder without disable_rest",
        with_endpoints(r#"{"endpoint": "/file.{ext}", "backend": [{"url_pattern": "/f.{ext}"}]}"#),
        &["endpoints[0].endpoint:", "\"disable_rest\": true"],
    );
    check(
        "in-segment placeholder with disable_rest, wildcard, fast-json",
        &with_endpoints(
            r#"{"endpoint": "/file.{ext}", "output_encoding": "fast-json", "backend": [{"url_pattern": "/f.{ext}"}]},
               {"endpoint": "/v1/*", "backend": [{"url_pattern": "/api"}]},
               {"endpoint": "/file.{name}.json", "backend": [{}]}, {"endpoint": "/x{a}", "backend": [{}]},
               {"endpoint": "/{b}y", "method": "POST", "backend": [{}]}"#,
        )
        .replace(r#""version": 3,"#, r#""version": 3, "disable_rest": true,"#),
        Valid(|config| {
            assert_eq!(config.endpoints[0].output_encoding, OutputEncoding::Json);
            assert!(!config.endpoints[0].wildcard && config.endpoints[1].wildcard);
        }),
    );
}

#[test]
fn security_namespaces_fill_krakend_defaults() {
    check(
        "empty security namespaces",
        &root_with(
            r#""extra_config": {"security/cors": {}, "security/http": {}, "security/bot-detector": {}},"#,
        ),
        Valid(|config| {
            let cors = config.security.cors.as_ref().unwrap();
            assert_eq!(cors.allow_origins, ["*"]);
            assert_eq!(cors.allow_methods, ["GET", "POST", "HEAD"]);
            assert_eq!(cors.allow_headers, ["*"]);
            assert_eq!(cors.max_age_seconds, None);
            assert_eq!(cors.options_success_status, 204);
            assert_eq!(
                config.security.http.as_ref(),
                Some(&HttpSecuritySettings::default())
            );
            assert_eq!(
                config.security.bot_detector.as_ref(),
                Some(&BotDetectorSettings::default())
            );
            assert!(config.unimplemented.is_empty());
        }),
    );
    check(
        "KrakenD's older names, and max_age in whole seconds",
        &root_with(
            r#""extra_config": {"github_com/devopsfaith/krakend-cors": {"max_age": "90500ms"},
                "github_com/devopsfaith/krakend-httpsecure": {"ssl_proxy_headers": {"X-Forwarded-Proto": "https"}},
                "github_com/devopsfaith/krakend-botdetector": {"deny": ["x"], "cache_size": 10}},"#,
        ),
        Valid(|config| {
            assert_eq!(
                config.security.cors.as_ref().unwrap().max_age_seconds,
                Some(90)
            );
            assert_eq!(
                config.security.http.as_ref().unwrap().ssl_proxy_headers,
                [("x-forwarded-proto".to_owned(), "https".to_owned())]
            );
            let bots = config.security.bot_detector.as_ref().unwrap();
            assert_eq!(
                (bots.deny.as_slice(), bots.cache_size),
                (&["x".to_owned()][..], 10)
            );
        }),
    );
    check(
        "endpoint bot detector",
        &endpoint_with(r#""extra_config": {"security/bot-detector": {"patterns": ["bot"]}},"#),
        Valid(|config| {
            assert_eq!(
                config.endpoints[0].bot_detector.as_ref().unwrap().patterns,
                ["bot"]
            );
        }),
    );
}

#[test]
fn security_settings_are_checked() {
    let root = |settings: &str| root_with(&format!(r#""extra_config": {{{settings}}},"#));
    run(&[
        (
            "two wildcards",
            root(r#""security/cors": {"allow_origins": ["https://*.*.example.com"]}"#),
            Error(&[
                "extra_config.security/cors.allow_origins[0]: \"https://*.*.example.com\" has more than one '*'",
            ]),
        ),
        (
            "lower-case method",
            root(r#""security/cors": {"allow_methods": ["get"]}"#),
            Error(&[
                "extra_config.security/cors.allow_methods[0]: \"get\" would never match",
                "write \"GET\"",
            ]),
        ),
        (
            "header name",
            root(r#""security/cors": {"allow_headers": ["X Bad"]}"#),
            Error(&["extra_config.security/cors.allow_headers[0]: \"X Bad\" is not a header name"]),
        ),
        (
            "preflight status",
            root(r#""security/cors": {"options_success_status": 301}"#),
            Error(&[
                "extra_config.security/cors.options_success_status: 301 is not a success status",
            ]),
        ),
        (
            "duration",
            root(r#""security/cors": {"max_age": "12"}"#),
            Error(&[
                "extra_config.security/cors.max_age",
                "a number needs a unit",
            ]),
        ),
        (
            "host regex",
            root(r#""security/http": {"allowed_hosts": ["(a"], "allowed_hosts_are_regex": true}"#),
            Error(&["extra_config.security/http.allowed_hosts[0]: not a valid regular expression"]),
        ),
        (
            "host with a path",
            root(r#""security/http": {"allowed_hosts": ["a.com/x"]}"#),
            Error(&["extra_config.security/http.allowed_hosts[0]: \"a.com/x\" is not a host"]),
        ),
        (
            "ssl_host with a scheme",
            root(r#""security/http": {"ssl_host": "https://a.com"}"#),
            Error(&["extra_config.security/http.ssl_host: \"https://a.com\" is not a host"]),
        ),
        (
            "header value with a line break",
            root(r#""security/http": {"referrer_policy": "same-origin\nX-Evil: 1"}"#),
            Error(&["extra_config.security/http.referrer_policy: holds a line break"]),
        ),
        (
            "negative HSTS",
            root(r#""security/http": {"sts_seconds": -1}"#),
            Error(&["extra_config.security/http.sts_seconds"]),
        ),
        (
            "bot pattern",
            root(r#""security/bot-detector": {"patterns": ["ok", "[z-a]"]}"#),
            Error(&[
                "extra_config.security/bot-detector.patterns[1]: not a valid regular expression",
            ]),
        ),
        (
            "CORS on an endpoint",
            endpoint_with(r#""extra_config": {"security/cors": {}},"#),
            Error(&[
                "endpoints[0].extra_config.security/cors: \"security/cors\" is a service setting",
                "root \"extra_config\"",
            ]),
        ),
        (
            "bot detector on a backend",
            backend_with(r#""extra_config": {"security/bot-detector": {}},"#),
            Error(&[
                "endpoints[0].backend[0].extra_config.security/bot-detector: \"security/bot-detector\" checks the client's User-Agent",
            ]),
        ),
        (
            "security/http on a backend",
            backend_with(r#""extra_config": {"security/http": {}},"#),
            Error(&[
                "endpoints[0].backend[0].extra_config.security/http: \"security/http\" is a service setting",
            ]),
        ),
    ]);
}

#[test]
fn telemetry_opentelemetry() {
    let otel = |body: &str| {
        format!(
            r#"{{"version": 3, "extra_config": {{"telemetry/opentelemetry": {body}}}, "endpoints": []}}"#
        )
    };
    run(&[
        (
            "defaults",
            otel(r#"{"service_name": "x", "exporters": {"prometheus": [{"name": "p"}]}}"#),
            Valid(|c| {
                let t = c.telemetry.as_ref().unwrap();
                assert_eq!(t.exporters.len(), 1);
                assert_eq!(t.exporters[0].port, 9090);
                assert_eq!(t.exporters[0].listen_ip.to_string(), "0.0.0.0");
                assert!(!t.exporters[0].process_metrics);
                let l = t.layers;
                assert!(l.global && l.proxy && l.backend_stage && l.round_trip && l.read_payload);
                assert_eq!(
                    t.skip_paths,
                    ["/__health", "/__debug/", "/__echo/", "/__stats/"]
                );
                assert!(c.unknown_namespaces.is_empty());
                assert!(warned(c).is_empty(), "{:?}", warned(c));
                assert_eq!(t.resource.service_name.as_deref(), Some("x"));
                // No OTLP exporter: nothing traced.
                assert!(t.traces.is_none() && t.otlp.is_empty());
                assert_eq!(t.histograms, crate::config::Histograms::default());
            }),
        ),
        (
            "switches, listen_ip, a disabled exporter, an otlp one",
            otel(
                r#"{"exporters": {"prometheus": [
                    {"name": "a", "port": 9191, "listen_ip": "127.0.0.1", "process_metrics": true, "go_metrics": true},
                    {"name": "b", "port": 9192, "disable_metrics": true}],
                    "otlp": [{"name": "o"}]},
                  "layers": {"global": {"disable_metrics": true}, "proxy": {"disable_traces": true},
                             "backend": {"metrics": {"read_payload": true, "detailed_connection": true}}},
                  "skip_paths": [""]}"#,
            ),
            Valid(|c| {
                let t = c.telemetry.as_ref().unwrap();
                assert_eq!(t.exporters.len(), 1);
                assert_eq!(t.exporters[0].port, 9191);
                assert_eq!(t.exporters[0].listen_ip.to_string(), "127.0.0.1");
                assert!(t.exporters[0].process_metrics);
                let l = t.layers;
                assert!(!l.global && l.proxy && l.backend_stage && !l.round_trip && l.read_payload);
                assert_eq!(t.skip_paths, [""]);
                assert!(c.unknown_namespaces.is_empty());
                assert_eq!(
                    warned(c),
                    [
                        "extra_config.telemetry/opentelemetry.exporters.prometheus[0].go_metrics",
                        "extra_config.telemetry/opentelemetry.layers.backend.metrics.detailed_connection",
                    ]
                );
                // krakend-otel's defaults: localhost:4317, gRPC, traces.
                let o = &t.otlp[0];
                assert_eq!(
                    (o.host.as_str(), o.port, o.use_http, o.traces),
                    ("localhost", 4317, false, true)
                );
                let traces = t.traces.as_ref().unwrap();
                assert!(traces.global && !traces.proxy && traces.backend && traces.propagation);
                assert_eq!(traces.sample_rate, 1.0);
            }),
        ),
        (
            "trace options",
            otel(
                r#"{"exporters": {"otlp": [{"name": "o", "host": "http://collector", "port": 4318, "use_http": true}]},
                    "trace_sample_rate": 0.25, "deploy_env": "prod",
                    "layers": {"global": {"disable_propagation": true, "report_headers": true, "skip_headers": ["Authorization"],
                                          "traces_static_attributes": [{"key": "a", "value": "1"}, {"key": "", "value": "x"}]},
                               "backend": {"traces": {"disable_stage": true, "round_trip": false, "static_attributes": [{"key": "b", "value": "2"}]}}}}"#,
            ),
            Valid(|c| {
                let t = c.telemetry.as_ref().unwrap();
                assert_eq!(t.otlp[0].host, "collector");
                assert!(t.otlp[0].use_http);
                let traces = t.traces.as_ref().unwrap();
                assert_eq!(traces.sample_rate, 0.25);
                assert!(!traces.propagation && traces.report_headers && !traces.backend);
                assert_eq!(traces.skip_headers, ["authorization"]);
                assert_eq!(traces.global_attributes, [("a".to_owned(), "1".to_owned())]);
                assert_eq!(
                    traces.backend_attributes,
                    [("b".to_owned(), "2".to_owned())]
                );
                assert_eq!(t.resource.deploy_env.as_deref(), Some("prod"));
                assert!(warned(c).is_empty(), "{:?}", warned(c));
            }),
        ),
        (
            "a sample rate above 1",
            otel(r#"{"exporters": {"otlp": [{"name": "o"}]}, "trace_sample_rate": 1.5}"#),
            Error(&[
                "extra_config.telemetry/opentelemetry.trace_sample_rate: 1.5 is not a rate; write a number from 0",
            ]),
        ),
        (
            "an OTLP port out of range",
            otel(r#"{"exporters": {"otlp": [{"name": "o", "port": 70000}]}}"#),
            Error(&["exporters.otlp[0].port: 70000 is not a port"]),
        ),
        (
            "an https collector",
            otel(r#"{"exporters": {"otlp": [{"name": "o", "host": "https://c"}]}}"#),
            Error(&["exporters.otlp[0].host", "cuttle sends OTLP without TLS"]),
        ),
        (
            "an OTLP and a Prometheus exporter with one name",
            otel(r#"{"exporters": {"prometheus": [{"name": "p"}], "otlp": [{"name": "p"}]}}"#),
            Error(&["exporters.otlp[0].name", "\"p\" names two exporters"]),
        ),
        (
            "a bad metric_reporting_period",
            otel(r#"{"exporters": {"otlp": [{"name": "o"}]}, "metric_reporting_period": 0}"#),
            Error(&["metric_reporting_period: 0 is not a period"]),
        ),
        (
            "a static attribute may not reuse a label of the series",
            otel(
                r#"{"exporters": {"prometheus": [{"name": "p"}]},
                    "layers": {"proxy": {"metrics_static_attributes": [{"key": "env", "value": "a"}, {"key": "http.route", "value": "b"}]}}}"#,
            ),
            Error(&[
                "extra_config.telemetry/opentelemetry.layers.proxy.metrics_static_attributes[1].key: \"http.route\" would be the label \"http_route\"",
            ]),
        ),
        (
            "histogram bounds rise",
            otel(
                r#"{"exporters": {"prometheus": [{"name": "p"}]}, "histograms": {"size_buckets": [10, 10]}}"#,
            ),
            Error(&[
                "extra_config.telemetry/opentelemetry.histograms.size_buckets[1]: 10 is not above the bound before it",
            ]),
        ),
        (
            "histograms and static attributes are read",
            otel(
                r#"{"exporters": {"prometheus": [{"name": "p"}]}, "histograms": {"time_buckets": [0.5, 2], "size_buckets": []},
                    "layers": {"global": {"metrics_static_attributes": [{"key": "a.b", "value": "say \"hi\""}, {"key": "9x", "value": "v"}]}}}"#,
            ),
            Valid(|c| {
                let t = c.telemetry.as_ref().unwrap();
                assert_eq!(t.histograms.time, [0.5, 2.0]);
                assert_eq!(t.histograms.size, crate::config::DEFAULT_SIZE_BUCKETS);
                assert_eq!(t.static_labels.global, r#",a_b="say \"hi\"",key_9x="v""#);
                assert!(c.warnings.is_empty(), "{:?}", c.warnings);
            }),
        ),
        (
            "bad listen_ip",
            otel(r#"{"exporters": {"prometheus": [{"name": "p", "listen_ip": "localhost"}]}}"#),
            Error(&[
                "extra_config.telemetry/opentelemetry.exporters.prometheus[0].listen_ip",
                "\"localhost\" is not an IP address",
            ]),
        ),
        (
            "two exporters with one name",
            otel(
                r#"{"exporters": {"prometheus": [{"name": "p", "port": 1}, {"name": "p", "port": 2}]}}"#,
            ),
            Error(&["prometheus[1].name", "\"p\" names two exporters"]),
        ),
        (
            "two exporters on one port",
            otel(r#"{"exporters": {"prometheus": [{"name": "p"}, {"name": "q"}]}}"#),
            Error(&[
                "prometheus[1].port",
                "port 9090 is already the port of exporter \"p\"",
            ]),
        ),
        (
            "wrong type",
            otel(r#"{"exporters": {"prometheus": {"name": "p"}}}"#),
            Error(&["telemetry/opentelemetry.exporters.prometheus"]),
        ),
    ]);
}

/// The JSON paths of `Config::warnings`.
fn warned_at(config: &Config) -> Vec<&str> {
    config.warnings.iter().map(|w| w.at.as_str()).collect()
}

/// Forms KrakenD loads and cuttle therefore loads too, each served as
/// KrakenD serves it (lura's source cited next to each rule).
#[test]
fn krakend_tolerances() {
    run(&[
        (
            "del with several args deletes each; move/append use their first two",
            endpoint_with(
                r#""extra_config": {"proxy": {"flatmap_filter": [
                    {"type": "del", "args": ["a", "b.c", "d.*.e"]},
                    {"type": "move", "args": ["f", "g", "h"]},
                    {"type": "append", "args": ["i", "j"]}]}},"#,
            ),
            Valid(|c| {
                assert_eq!(
                    c.endpoints[0].flatmap,
                    [
                        FlatmapOp::Del { path: "a".into() },
                        FlatmapOp::Del { path: "b.c".into() },
                        FlatmapOp::Del {
                            path: "d.*.e".into()
                        },
                        FlatmapOp::Move {
                            from: "f".into(),
                            to: "g".into()
                        },
                        FlatmapOp::Append {
                            from: "i".into(),
                            to: "j".into()
                        },
                    ]
                );
                assert_eq!(
                    warned_at(c),
                    ["endpoints[0].extra_config.proxy.flatmap_filter[1].args"]
                );
                assert!(c.warnings[0].message.contains("the other 1 are ignored"));
            }),
        ),
        (
            "backend del with several args, unknown type and empty del do nothing",
            backend_with(
                r#""extra_config": {"proxy": {"flatmap_filter": [{"type": "del", "args": ["x", "y"]},
                    {"type": "copy", "args": ["a", "b"]}, {"type": "del", "args": []}]}},"#,
            ),
            Valid(|c| {
                assert_eq!(
                    first_backend(c).manipulation.flatmap,
                    [
                        FlatmapOp::Del { path: "x".into() },
                        FlatmapOp::Del { path: "y".into() }
                    ]
                );
                let at = "endpoints[0].backend[0].extra_config.proxy.flatmap_filter";
                assert_eq!(
                    warned_at(c),
                    [format!("{at}[1].type"), format!("{at}[2].args")]
                );
                assert!(
                    c.warnings[0]
                        .message
                        .contains("\"copy\" is not a flatmap operation; it does nothing")
                );
            }),
        ),
        (
            "move with one path would panic in lura: refused",
            endpoint_with(
                r#""extra_config": {"proxy": {"flatmap_filter": [{"type": "move", "args": ["a"]}]}},"#,
            ),
            Error(&[
                "endpoints[0].extra_config.proxy.flatmap_filter[0].args: \"move\" takes 2 paths (from, to)",
            ]),
        ),
        (
            "static without strategy is always; unknown strategy is always, warned",
            with_endpoints(
                r#"{"endpoint": "/a", "extra_config": {"proxy": {"static": {"data": {"x": 1}}}}, "backend": [{}]},
                   {"endpoint": "/b", "extra_config": {"proxy": {"static": {"strategy": "never", "data": {}}}}, "backend": [{}]}"#,
            ),
            Valid(|c| {
                for e in &c.endpoints {
                    assert_eq!(
                        e.static_response.as_ref().unwrap().strategy,
                        StaticStrategy::Always
                    );
                }
                assert_eq!(
                    c.endpoints[0].static_response.as_ref().unwrap().data,
                    r#"{"x":1}"#
                );
                assert_eq!(
                    warned_at(c),
                    ["endpoints[1].extra_config.proxy.static.strategy"]
                );
                assert!(c.warnings[0].message.contains("served as \"always\""));
            }),
        ),
        (
            "static without data (or with non-object data) is ignored, warned",
            with_endpoints(
                r#"{"endpoint": "/a", "extra_config": {"proxy": {"static": {"strategy": "always"}}}, "backend": [{}]},
                   {"endpoint": "/b", "extra_config": {"proxy": {"static": {"data": [1]}}}, "backend": [{}]}"#,
            ),
            Valid(|c| {
                assert!(c.endpoints.iter().all(|e| e.static_response.is_none()));
                assert_eq!(
                    warned_at(c),
                    [
                        "endpoints[0].extra_config.proxy.static.data",
                        "endpoints[1].extra_config.proxy.static.data"
                    ]
                );
            }),
        ),
        (
            "endpoint paths get a leading slash; a missing one is /",
            with_endpoints(
                r#"{"endpoint": "a/{id}", "backend": [{"url_pattern": "/x/{id}"}]}, {"backend": [{}]}"#,
            ),
            Valid(|c| {
                let paths: Vec<&str> = c.endpoints.iter().map(|e| e.path.as_str()).collect();
                assert_eq!(paths, ["/a/{id}", "/"]);
                assert_eq!(warned_at(c), ["endpoints[1].endpoint"]);
            }),
        ),
        (
            "an unknown method skips that endpoint only, named",
            with_endpoints(
                r#"{"endpoint": "/a", "method": "GETTT", "backend": [{}]},
                   {"endpoint": "/b", "backend": [{}]},
                   {"endpoint": "/c", "method": "HEAD", "extra_config": {"auth/api-keys": {}}, "backend": [{}]}"#,
            ),
            Valid(|c| {
                let paths: Vec<&str> = c.endpoints.iter().map(|e| e.path.as_str()).collect();
                assert_eq!(paths, ["/b"]);
                let skipped: Vec<&str> =
                    c.skipped_endpoints.iter().map(|p| p.at.as_str()).collect();
                assert_eq!(skipped, ["endpoints[0].method", "endpoints[2].method"]);
                let first = &c.skipped_endpoints[0].message;
                assert!(
                    first.contains("\"GETTT\" is not a method")
                        && first.contains("\"/a\" is not served"),
                    "{first}"
                );
                // Nothing of a skipped endpoint is built, not even what it would need refused.
                assert!(c.unimplemented.is_empty());
                assert_eq!(c.endpoints[0].index, 1);
            }),
        ),
        (
            "messages name endpoints by their place in the file, skipped ones counted",
            with_endpoints(
                r#"{"endpoint": "/x", "method": "GETTT", "backend": [{}]},
                   {"endpoint": "/a", "backend": [{}]},
                   {"endpoint": "/a", "backend": [{}]}"#,
            ),
            Error(&[
                "endpoints[2].endpoint: GET /a is defined twice, as endpoints[1] and endpoints[2]",
            ]),
        ),
        (
            "non-GET endpoints with several non-GET backends, sequential or not",
            with_endpoints(
                r#"{"endpoint": "/a", "method": "POST", "backend": [{}, {}]},
                   {"endpoint": "/b", "method": "PUT", "extra_config": {"proxy": {"sequential": true}}, "backend": [{"method": "POST"}, {}]}"#,
            ),
            Valid(|c| {
                assert_eq!(c.endpoints[0].backends.len(), 2);
                let methods: Vec<Method> =
                    c.endpoints[1].backends.iter().map(|b| b.method).collect();
                assert_eq!(methods, [Method::Post, Method::Put]);
            }),
        ),
        (
            "unknown backend encodings decode as JSON, warned; fast-json is json",
            with_endpoints(
                r#"{"endpoint": "/a", "backend": [{"encoding": "form"}, {"encoding": "fast-json"}, {"encoding": "YAML"}]}"#,
            ),
            Valid(|c| {
                let found: Vec<BackendEncoding> =
                    c.endpoints[0].backends.iter().map(|b| b.encoding).collect();
                assert_eq!(found, [BackendEncoding::Json; 3]);
                assert_eq!(
                    warned_at(c),
                    [
                        "endpoints[0].backend[0].encoding",
                        "endpoints[0].backend[2].encoding"
                    ]
                );
                assert!(
                    c.warnings[0]
                        .message
                        .contains("\"form\" is not a known backend encoding")
                );
                assert!(c.warnings[0].message.contains("decoded as JSON"));
            }),
        ),
        (
            "unknown output encodings fall back to the only backend's encoding, else JSON",
            with_endpoints(
                r#"{"endpoint": "/a", "output_encoding": "JSON", "backend": [{}]},
                   {"endpoint": "/b", "output_encoding": "html", "backend": [{"encoding": "xml"}]},
                   {"endpoint": "/c", "output_encoding": "html", "backend": [{"encoding": "xml"}, {}]},
                   {"endpoint": "/d", "output_encoding": "html", "backend": [{"encoding": "string"}]}"#,
            ),
            Valid(|c| {
                use OutputEncoding::*;
                let found: Vec<OutputEncoding> =
                    c.endpoints.iter().map(|e| e.output_encoding).collect();
                assert_eq!(found, [Json, Xml, Json, String]);
                assert_eq!(c.warnings.len(), 4);
                assert!(
                    c.warnings[0]
                        .message
                        .contains("\"JSON\" is not a known output encoding")
                );
            }),
        ),
        (
            "an unknown root output encoding falls back per endpoint",
            root_with(r#""output_encoding": "html","#),
            Valid(|c| {
                assert_eq!(c.endpoints[0].output_encoding, OutputEncoding::Json);
                assert_eq!(warned_at(c), ["output_encoding"]);
            }),
        ),
        (
            "concurrent_calls 0 is 1",
            endpoint_with(r#""concurrent_calls": 0,"#),
            Valid(|c| assert_eq!(c.endpoints[0].concurrent_calls, 1)),
        ),
        (
            "a no-op endpoint makes any backend encoding no-op (lura initBackendDefaults)",
            with_endpoints(
                r#"{"endpoint": "/a", "output_encoding": "no-op", "backend": [{"encoding": "json"}]},
                   {"endpoint": "/b", "output_encoding": "no-op", "backend": [{"encoding": "form"}]},
                   {"endpoint": "/c", "output_encoding": "no-op", "backend": [{"encoding": "NO-OP"}]}"#,
            ),
            Valid(|c| {
                for e in &c.endpoints {
                    assert_eq!(e.backends[0].encoding, BackendEncoding::NoOp);
                }
                assert_eq!(
                    warned_at(c),
                    [
                        "endpoints[0].backend[0].encoding",
                        "endpoints[1].backend[0].encoding"
                    ]
                );
                assert!(c.warnings[0].message.contains("passed through"));
            }),
        ),
        (
            "forwarded_by_client_ip without trusted_proxies trusts every peer (gin)",
            root_with(
                r#""extra_config": {"router": {"forwarded_by_client_ip": true, "trusted_proxies": []}},"#,
            ),
            Valid(|c| {
                let rule = c.router.client_ip.as_ref().unwrap();
                assert!(["203.0.113.9", "2001:db8::1"].iter().all(|ip| {
                    rule.trusted
                        .iter()
                        .any(|cidr| cidr.contains(ip.parse().unwrap()))
                }));
                assert_eq!(rule.headers, ["x-forwarded-for", "x-real-ip"]);
                assert_eq!(warned_at(c), ["extra_config.router.trusted_proxies"]);
                assert!(c.warnings[0].message.contains("any client can choose"));
            }),
        ),
        (
            "trusted_proxies of every address is warned about too",
            root_with(
                r#""extra_config": {"router": {"forwarded_by_client_ip": true, "trusted_proxies": ["10.0.0.0/8", "::/0"]}},"#,
            ),
            Valid(|c| assert_eq!(warned_at(c), ["extra_config.router.trusted_proxies"])),
        ),
        (
            "trusted_proxies naming the load balancers: no warning",
            root_with(
                r#""extra_config": {"router": {"forwarded_by_client_ip": true, "trusted_proxies": ["10.0.0.0/8"]}},"#,
            ),
            Valid(|c| assert!(c.warnings.is_empty())),
        ),
        (
            "a validator without keys is served, refusing every token",
            endpoint_with(
                r#""extra_config": {"auth/validator": {"alg": "RS256", "jwk_url": ""}},"#,
            ),
            Valid(|c| {
                let auth = c.endpoints[0].auth.as_ref().unwrap();
                assert_eq!(auth.validators[0].keys, KeySource::Nothing);
                let prepared =
                    crate::prepare::Prepared::new(c, Path::new("config/test.json")).unwrap();
                let spec = prepared.endpoints[0].auth.as_ref().unwrap();
                assert!(spec.validators[0].keys.current().is_none());
                assert!(prepared.jwk_sources.is_empty(), "nothing to fetch");
                assert_eq!(warned_at(c), ["endpoints[0].extra_config.auth/validator"]);
                assert!(c.warnings[0].message.contains("401"));
            }),
        ),
    ]);
}

/// The root `auth/validator`: krakend-jose's shared JWK cache.
#[test]
fn shared_jwk_cache() {
    fn file(root: &str, validators: &[&str]) -> String {
        let endpoints: Vec<String> = validators
            .iter()
            .enumerate()
            .map(|(i, v)| {
                format!(
                    r#"{{"endpoint": "/e{i}", "backend": [{{"url_pattern": "/"}}],
                        "extra_config": {{"auth/validator": {{"alg": "RS256", "jwk_url": "https://idp{i}.test/jwks"{v}}}}}}}"#
                )
            })
            .collect();
        format!(
            r#"{{"version": 3, "host": ["http://127.0.0.1:8000"], "extra_config": {{"auth/validator": {root}}}, "endpoints": [{}]}}"#,
            endpoints.join(",")
        )
    }
    fn refreshes(text: &str) -> (Vec<u64>, Vec<String>) {
        let c = parse(text, Path::new("config/test.json")).unwrap();
        let prepared = crate::prepare::Prepared::new(&c, Path::new("config/test.json")).unwrap();
        (
            prepared
                .jwk_sources
                .iter()
                .map(|s| s.refresh.as_secs())
                .collect(),
            c.warnings
                .iter()
                .map(|w| format!("{}: {}", w.at, w.message))
                .collect(),
        )
    }
    let endpoints = [
        r#", "cache": true, "cache_duration": 1"#,
        r#", "cache": true, "cache_duration": 7200"#,
        "",
    ];
    // The longer of the endpoint's and the shared duration, for caching
    // validators only.
    assert_eq!(
        refreshes(&file(r#"{"shared_cache_duration": 3600}"#, &endpoints)),
        (vec![3600, 7200, 10], vec![])
    );
    // 0 or unset: KrakenD's 15 minutes.
    for root in [r#"{"shared_cache_duration": 0}"#, r#"{"@comment": "jwk"}"#] {
        assert_eq!(refreshes(&file(root, &endpoints)).0, [900, 7200, 10]);
    }
    // Without it, each endpoint's own.
    let no_root = file("{}", &endpoints).replace(r#""extra_config": {"auth/validator": {}}, "#, "");
    assert_eq!(refreshes(&no_root).0, [1, 7200, 10]);
    // A validator written at the root protects nothing, in KrakenD too.
    let (_, warnings) = refreshes(&file(
        r#"{"alg": "RS256", "jwk_url": "https://idp.test/jwks", "shared_cache_duration": 60}"#,
        &[""],
    ));
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].starts_with("extra_config.auth/validator: alg, jwk_url ignored"),
        "{warnings:?}"
    );
    let bad = parse(
        &file(r#"{"shared_cache_duration": "1h"}"#, &[""]),
        Path::new("config/test.json"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("extra_config.auth/validator.shared_cache_duration"),
        "{bad}"
    );
}

/// lura's own fields are decoded by krakend-koanf with mapstructure's
/// `WeaklyTypedInput`; `extra_config` namespaces are not.
#[test]
fn loosely_typed_core_fields() {
    run(&[
        (
            "strings, numbers and booleans converted as mapstructure does",
            r#"{"version": "3", "port": "0x1F90", "debug_endpoint": "true", "echo_endpoint": 1,
                "disable_rest": "T", "use_h2c": 0.0, "timeout": "3s", "cache_ttl": 0, "name": 42,
                "max_header_bytes": 4096.9, "host": "http://h:1",
                "endpoints": {"endpoint": "/a/{x}", "concurrent_calls": "2", "input_headers": "*",
                    "input_query_strings": ["q", 7],
                    "backend": {"url_pattern": 42, "is_collection": "1", "mapping": {"a": 1, "b": true},
                                "allow": "x", "group": false}}}"#
                .to_owned(),
            Valid(|c| {
                assert_eq!(c.port, 8080);
                assert!(c.debug_endpoint && c.echo_endpoint && !c.use_h2c);
                assert_eq!(c.name.as_deref(), Some("42"));
                assert_eq!(c.limits.max_header_bytes, 4096);
                let e = &c.endpoints[0];
                assert_eq!(e.path, "/a/{x}");
                assert_eq!((e.concurrent_calls, e.timeout), (2, Duration::from_secs(3)));
                assert_eq!(e.cache_ttl, None);
                assert_eq!(e.input_headers, Forward::All);
                assert_eq!(e.input_query_strings, Forward::Only(vec!["q".into(), "7".into()]));
                let b = &e.backends[0];
                assert_eq!(b.url_pattern, "/42");
                assert_eq!(b.hosts, ["http://h:1"]);
                assert!(b.manipulation.is_collection);
                assert_eq!(b.manipulation.allow, ["x"]);
                assert_eq!(b.manipulation.group.as_deref(), Some("0"));
                let mapping: Vec<(&str, &str)> =
                    b.manipulation.mapping.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                assert_eq!(mapping, [("a", "1"), ("b", "1")]);
            }),
        ),
        (
            "not a boolean",
            root_with(r#""debug_endpoint": "yes","#),
            Error(&["debug_endpoint: \"yes\" is not a boolean; write true or false", "(line 1, column"]),
        ),
        (
            "not a whole number",
            endpoint_with(r#""concurrent_calls": "two","#),
            Error(&["endpoints[0].concurrent_calls: \"two\" is not a whole number"]),
        ),
        (
            "a fraction in a string is not a whole number (ParseInt)",
            endpoint_with(r#""concurrent_calls": "1.5","#),
            Error(&["endpoints[0].concurrent_calls: \"1.5\" is not a whole number"]),
        ),
        (
            "out of range",
            root_with(r#""port": "-1","#),
            Error(&["port: -1 is out of range for this setting (0 to 65535)"]),
        ),
        (
            "an object is no string",
            endpoint_with(r#""method": {"a": 1},"#),
            Error(&["endpoints[0].method: invalid type: map, expected a string"]),
        ),
        (
            "a duration number is nanoseconds, as in KrakenD, with a warning",
            endpoint_with(r#""timeout": 1500,"#),
            Valid(|c| {
                assert_eq!(c.endpoints[0].timeout, Duration::from_nanos(1500));
                assert!(
                    c.warnings
                        .iter()
                        .any(|w| w.at == "endpoints[0].timeout" && w.message.contains("1500 nanoseconds"))
                );
            }),
        ),
        (
            "an empty duration string is refused, as koanf's duration hook does",
            endpoint_with(r#""timeout": "","#),
            Error(&["endpoints[0].timeout: \"\" is not a duration: it is empty"]),
        ),
        (
            "extra_config stays strict (json / type assertions in KrakenD)",
            endpoint_with(r#""extra_config": {"proxy": {"sequential": "true"}},"#),
            Error(&["endpoints[0].extra_config.proxy.sequential: invalid type: string \"true\", expected a boolean"]),
        ),
    ]);
}

#[test]
fn shadow_backends() {
    const SHADOW: &str = r#"{"proxy": {"shadow": true}}"#;
    run(&[
        (
            "shadow with the endpoint's timeout, or its own",
            with_endpoints(&format!(
                r#"{{"endpoint": "/a", "timeout": "3s", "backend": [{{"url_pattern": "/x"}},
                    {{"url_pattern": "/s1", "extra_config": {SHADOW}}},
                    {{"url_pattern": "/s2", "extra_config": {{"proxy": {{"shadow": true, "shadow_timeout": "500ms"}}}}}},
                    {{"url_pattern": "/n", "extra_config": {{"proxy": {{"shadow": false}}}}}}]}}"#
            )),
            Valid(|c| {
                let b = &c.endpoints[0].backends;
                assert_eq!(b[0].shadow, None);
                assert_eq!(b[1].shadow, Some(Duration::from_secs(3)));
                assert_eq!(b[2].shadow, Some(Duration::from_millis(500)));
                assert_eq!(b[3].shadow, None);
                assert!(
                    c.unknown_namespaces.is_empty(),
                    "{:?}",
                    c.unknown_namespaces
                );
            }),
        ),
        (
            "shadow_timeout without shadow is ignored (a warning)",
            backend_with(r#""extra_config": {"proxy": {"shadow_timeout": "1s"}},"#),
            Valid(|c| {
                assert_eq!(first_backend(c).shadow, None);
                assert_eq!(
                    warned(c),
                    ["endpoints[0].backend[0].extra_config.proxy.shadow_timeout"]
                );
            }),
        ),
        (
            "a shadow does not count as an aggregated backend",
            with_endpoints(&format!(
                r#"{{"endpoint": "/a", "method": "POST", "output_encoding": "no-op", "backend": [{{"url_pattern": "/x"}},
                    {{"url_pattern": "/s", "extra_config": {SHADOW}}}]}}"#
            )),
            Valid(|c| assert_eq!(c.endpoints[0].backends.len(), 2)),
        ),
        (
            "respN counts the backends that answer",
            with_endpoints(&format!(
                r#"{{"endpoint": "/a", "extra_config": {{"proxy": {{"sequential": true}}}}, "backend": [
                    {{"url_pattern": "/s", "extra_config": {SHADOW}}},
                    {{"url_pattern": "/x"}}, {{"url_pattern": "/y/{{resp0_id}}"}}]}}"#
            )),
            Valid(|c| assert_eq!(c.endpoints[0].backends.len(), 3)),
        ),
        (
            "respN in a shadow",
            with_endpoints(&format!(
                r#"{{"endpoint": "/a", "extra_config": {{"proxy": {{"sequential": true}}}}, "backend": [
                    {{"url_pattern": "/x"}}, {{"url_pattern": "/y/{{resp0_id}}", "extra_config": {SHADOW}}}]}}"#
            )),
            Error(&[
                "endpoints[0].backend[1].url_pattern",
                "{resp0_id}",
                "shadow backend",
            ]),
        ),
        (
            "only shadows",
            with_endpoints(&format!(
                r#"{{"endpoint": "/a", "backend": [{{"url_pattern": "/s", "extra_config": {SHADOW}}}]}}"#
            )),
            Error(&[
                "endpoints[0].backend",
                "every backend of GET /a is a shadow",
            ]),
        ),
        (
            "zero shadow_timeout",
            backend_with(r#""extra_config": {"proxy": {"shadow": true, "shadow_timeout": "0s"}},"#),
            Error(&[
                "backend[0].extra_config.proxy.shadow_timeout",
                "0 would cancel",
            ]),
        ),
        (
            "shadow is a boolean",
            backend_with(r#""extra_config": {"proxy": {"shadow": "true"}},"#),
            Error(&["backend[0].extra_config.proxy.shadow"]),
        ),
    ]);
}

#[test]
fn http_cache_settings() {
    run(&[
        (
            "defaults: unbounded, own store",
            with_endpoints(
                r#"{"endpoint": "/a", "backend": [{"url_pattern": "/x", "extra_config": {"qos/http-cache": {}}}]}"#,
            ),
            Valid(|c| {
                let cache = c.endpoints[0].backends[0].http_cache.expect("read");
                assert_eq!(cache, super::HttpCacheSettings::default());
                assert_eq!(cache.bounds(), None);
                assert!(c.warnings.is_empty(), "{:?}", c.warnings);
            }),
        ),
        (
            "bounded and shared",
            with_endpoints(
                r#"{"endpoint": "/a", "backend": [{"url_pattern": "/x", "extra_config": {"qos/http-cache": {"shared": true, "max_items": 10, "max_size": 1000}}}]}"#,
            ),
            Valid(|c| {
                let cache = c.endpoints[0].backends[0].http_cache.expect("read");
                assert!(cache.shared);
                assert_eq!(cache.bounds(), Some((10, 1000)));
            }),
        ),
        (
            // krakend-httpcache falls back to an unbounded store; refused.
            "a value of the wrong type",
            with_endpoints(
                r#"{"endpoint": "/a", "backend": [{"url_pattern": "/x", "extra_config": {"qos/http-cache": {"max_items": "ten"}}}]}"#,
            ),
            Error(&["endpoints[0].backend[0].extra_config.qos/http-cache.max_items"]),
        ),
        (
            "a no-op endpoint streams its backend: not applied, warned",
            with_endpoints(
                r#"{"endpoint": "/a", "output_encoding": "no-op", "backend": [{"url_pattern": "/x", "extra_config": {"qos/http-cache": {}}}]}"#,
            ),
            Valid(|c| {
                assert_eq!(c.endpoints[0].backends[0].http_cache, None);
                assert_eq!(
                    warned(c),
                    ["endpoints[0].backend[0].extra_config.qos/http-cache"]
                );
            }),
        ),
    ]);
}
