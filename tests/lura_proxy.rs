//! lura's `proxy/*_test.go` as black-box cases (see `tests/lura_oracle`):
//! each row names the lura test it translates.

mod common;
mod lura_oracle;

use lura_oracle::{Case, ok, plain, run};
use serde_json::json;

/// The sample most of lura's `proxy/formatter_test.go` cases format.
fn sample() -> serde_json::Value {
    json!({"supu": 42, "tupu": false, "foo": "bar", "a": {"b": true, "c": 42, "d": "tupu"}})
}

/// The flatmap operations of `TestEntityFormatter_flatmap` and
/// `TestNewFlatmapMiddleware`.
fn flatmap_ops() -> serde_json::Value {
    json!([
        {"type": "del", "args": ["c"]},
        {"type": "append", "args": ["y", "z"]},
        {"type": "move", "args": ["supu", "SUPUUUUU"]},
        {"type": "move", "args": ["a.b", "a.BOOOOO"]},
        {"type": "del", "args": ["collection.*.b", "collection.*.d", "collection.*.e"]},
        {"type": "move", "args": ["collection.*.c", "collection.*.x"]}
    ])
}

fn flatmap_input() -> serde_json::Value {
    let sub = json!({"b": true, "c": 42, "d": "tupu", "e": [1, 2, 3, 4]});
    json!({
        "supu": 42, "tupu": false, "foo": "bar", "a": sub,
        "collection": [sub, sub, sub, sub],
        "y": [0, 1, 2, 3, 4, 5, 6],
        "z": [10, 11, 12, 13, 14, 15, 16]
    })
}

fn flatmap_output() -> serde_json::Value {
    json!({
        "SUPUUUUU": 42, "tupu": false, "foo": "bar",
        "a": {"BOOOOO": true, "c": 42, "d": "tupu", "e": [1, 2, 3, 4]},
        "collection": [{"x": 42}, {"x": 42}, {"x": 42}, {"x": 42}],
        "z": [10, 11, 12, 13, 14, 15, 16, 0, 1, 2, 3, 4, 5, 6]
    })
}

/// lura `proxy/formatter_test.go`: the entity formatter (allow, deny,
/// group, mapping, target, flatmap) applied to one backend's answer.
#[test]
fn formatter() {
    let cases = vec![
        Case::new(
            "TestEntityFormatter_newAllowFilter",
            vec![(
                json!({"allow": ["supu", "a.b", "a.c", "foo.unknown"]}),
                ok(sample()),
            )],
            json!({"supu": 42, "a": {"b": true, "c": 42}}),
        ),
        Case::new(
            "TestEntityFormatter_newAllowDeepFields",
            vec![(
                json!({"allow": ["tupu.muku.supu", "tupu.muku.gutu.kugu"]}),
                ok(json!({"id": 42, "tupu": {
                    "muku": {"supu": 1, "muku": 2, "gutu": {"kugu": 42}},
                    "supu": {"supu": 3, "muku": 4}
                }})),
            )],
            json!({"tupu": {"muku": {"supu": 1, "gutu": {"kugu": 42}}}}),
        ),
        Case::new(
            "TestEntityFormatter_newDenyFilter",
            vec![(
                json!({"deny": ["supu", "a.b", "a.c", "foo.unknown", "a.a.b",
                    "a.a.deeper.a.aa", "a.a.deeper.b.aa"]}),
                ok(json!({"supu": 42, "tupu": false, "foo": "bar", "a": {
                    "a": {"b": true, "c": 42, "d": "tupu", "deeper": {
                        "a": {"aa": "deleteme deeper.a.aa", "bb": "do not deleteme deeper.a.bb"},
                        "b": {"aa": "deleteme deeper.b.aa", "bb": "do not deleteme deeper.b.bb"}
                    }},
                    "b": true, "c": 42, "d": "tupu"
                }})),
            )],
            json!({"tupu": false, "foo": "bar", "a": {
                "a": {"c": 42, "d": "tupu", "deeper": {
                    "a": {"bb": "do not deleteme deeper.a.bb"},
                    "b": {"bb": "do not deleteme deeper.b.bb"}
                }},
                "d": "tupu"
            }}),
        ),
        Case::new(
            "TestEntityFormatter_grouping",
            vec![(
                json!({"group": "group1"}),
                ok(json!({"supu": 42, "tupu": false, "foo": "bar"})),
            )],
            json!({"group1": {"supu": 42, "tupu": false, "foo": "bar"}}),
        ),
        Case::new(
            "TestEntityFormatter_mapping",
            vec![(
                json!({"mapping": {"supu": "SUPUUUUU", "tupu": "TUPUUUUU", "a.b": "a.BOOOOO"}}),
                ok(sample()),
            )],
            // Mapping renames top-level keys only: `a.b` is left alone.
            json!({"SUPUUUUU": 42, "TUPUUUUU": false, "foo": "bar",
                "a": {"b": true, "c": 42, "d": "tupu"}}),
        ),
        Case::new(
            "TestEntityFormatter_targeting",
            vec![(
                json!({"target": "group1"}),
                ok(json!({"supu": 42, "tupu": false, "foo": "bar",
                    "group1": {"b": true, "c": 42, "d": "tupu"}})),
            )],
            json!({"b": true, "c": 42, "d": "tupu"}),
        ),
        Case::new(
            "TestEntityFormatter_targetingNested",
            vec![(
                json!({"target": "group1.group1"}),
                ok(json!({"group1": {"supu": 42, "tupu": false, "foo": "bar",
                    "group1": {"b": true, "c": 42, "d": "tupu"}}})),
            )],
            json!({"b": true, "c": 42, "d": "tupu"}),
        ),
        Case::new(
            "TestEntityFormatter_targetingUnknownFields",
            vec![(
                json!({"target": "group1"}),
                ok(json!({"supu": 42, "tupu": false, "foo": "bar"})),
            )],
            json!({}),
        ),
        Case::new(
            "TestEntityFormatter_targetingNonObjects",
            vec![(
                json!({"target": "group1"}),
                ok(json!({"supu": 42, "tupu": false, "foo": "bar", "group1": false})),
            )],
            json!({}),
        ),
        Case::new(
            "TestEntityFormatter_altogether",
            vec![(
                json!({"target": "a", "allow": ["d"], "group": "group",
                    "mapping": {"d": "D"}}),
                ok(sample()),
            )],
            json!({"group": {"D": "tupu"}}),
        ),
        Case::new(
            "TestEntityFormatter_flatmap",
            vec![(
                json!({"target": "content", "group": "group",
                    "extra_config": {"proxy": {"flatmap_filter": flatmap_ops()}}}),
                ok(json!({"content": flatmap_input()})),
            )],
            json!({"group": flatmap_output()}),
        ),
        Case::new(
            "TestNewFlatmapMiddleware",
            vec![(plain(), ok(flatmap_input()))],
            flatmap_output(),
        )
        .endpoint(json!({"extra_config": {"proxy": {"flatmap_filter": flatmap_ops()}}})),
    ];
    run(
        "proxy/formatter_test.go",
        json!({}),
        cases,
        FORMATTER_DIFFERENCES,
    );
}

/// Rows of `formatter` where cuttle deliberately answers otherwise.
const FORMATTER_DIFFERENCES: &[(&str, &str)] = &[];

/// A backend that fails.
fn ko() -> common::Reply {
    common::json(500, r#"{"error":"ko"}"#)
}

/// The data backend 0 answers in lura's sequential merge tests (its 3.14 is
/// lura's literal, not pi).
#[allow(clippy::approx_constant)]
fn sequential_data() -> serde_json::Value {
    json!({
        "int": 42, "string": "some", "bool": true, "float": 3.14,
        "struct": {"foo": "bar", "struct": {"foo": "bar", "struct": {"foo": "bar"}}},
        "array": ["1", "2"],
        "propagated": "everywhere"
    })
}

/// The first five backends of lura's `testNewMergeDataMiddleware_sequential`
/// (the last two need `sequential_propagated_params` and a `no-op` backend
/// inside a merge). Over HTTP a float arrives as a JSON number literal
/// (lura decodes with `UseNumber`), so `3.14` is sent as written, not as
/// the `3.14E+00` a Go float64 gives in the unit test.
fn sequential_case(name: &'static str, method: Option<&str>) -> Case {
    let be = |pattern: &str| match method {
        Some(m) => json!({"url_pattern": pattern, "method": m}),
        None => json!({"url_pattern": pattern}),
    };
    let mut all = sequential_data();
    all["tupu"] = json!("foo");
    all["aaaa"] = json!([1, 2, 3]);
    all["bbbb"] = json!([true, false]);
    Case::new(
        name,
        vec![
            (be("/"), ok(sequential_data())),
            (be("/aaa/{resp0_array}"), ok(json!({"tupu": "foo"}))),
            (
                be("/aaa/{resp0_int}/{resp0_string}/{resp0_bool}/{resp0_float}/{resp0_struct.foo}"),
                ok(json!({"tupu": "foo"})),
            ),
            (
                be("/aaa/{resp0_int}/{resp0_string}/{resp0_bool}/{resp0_float}/{resp0_struct.foo}?x={resp1_tupu}"),
                ok(json!({"aaaa": [1, 2, 3]})),
            ),
            (
                be("/aaa/{resp0_struct.foo}/{resp0_struct.struct.foo}/{resp0_struct.struct.struct.foo}"),
                ok(json!({"bbbb": [true, false]})),
            ),
        ],
        all,
    )
    .endpoint(json!({"timeout": "2s", "extra_config": {"proxy": {"sequential": true}}}))
    .header("x-krakend-completed", Some("true"))
    .seen(1, "/aaa/1,2")
    .seen(2, "/aaa/42/some/true/3.14/bar")
    .seen(3, "/aaa/42/some/true/3.14/bar?x=foo")
    .seen(4, "/aaa/bar/bar/bar")
}

/// lura `proxy/merging_test.go`: merging the backends' answers, sequential
/// calls, incomplete and failed answers. Not translated: the filtering and
/// accumulator cases (`testNewMergeDataMiddleware_simpleFiltering`,
/// `_sequentialFiltering`, `Test_incrementalMergeAccumulator_*`) plug Go
/// code in; `_mergeIncompleteResults`, `_mergeEmptyResults`, `_partial` and
/// `_nullResponse` need a backend proxy answering an incomplete or nil
/// response without an error, which no HTTP backend can;
/// `_sequential_unavailableParams` uses a malformed template.
#[test]
fn merging() {
    let completed = |c: Case, v: &'static str| c.header("x-krakend-completed", Some(v));
    let cases = vec![
        completed(
            Case::new(
                "testNewMergeDataMiddleware_empty",
                vec![(plain(), ko()), (plain(), ko())],
                json!(null),
            )
            .status(500)
            .body(lura_oracle::Body::Text("")),
            "false",
        ),
        completed(
            Case::new(
                "testNewMergeDataMiddleware_ok",
                vec![
                    (plain(), ok(json!({"supu": 42}))),
                    (plain(), ok(json!({"tupu": true}))),
                ],
                json!({"supu": 42, "tupu": true}),
            ),
            "true",
        ),
        sequential_case("testNewMergeDataMiddleware_sequential", None),
        sequential_case("testNewMergeDataMiddleware_sequentialGet", Some("GET")),
        completed(
            Case::new(
                "testNewMergeDataMiddleware_sequential_erroredBackend",
                vec![
                    (json!({"url_pattern": "/"}), ok(json!({"supu": 42}))),
                    (json!({"url_pattern": "/aaa/{resp0_supu}"}), ko()),
                    (
                        json!({"url_pattern": "/aaa/{resp0_supu}?x={resp1_tupu}"}),
                        ok(json!({"never": true})),
                    ),
                ],
                json!({"supu": 42}),
            )
            .endpoint(json!({"extra_config": {"proxy": {"sequential": true}}}))
            .seen(1, "/aaa/42"),
            "false",
        ),
        completed(
            Case::new(
                "testNewMergeDataMiddleware_sequential_erroredFirstBackend",
                vec![
                    (json!({"url_pattern": "/"}), ko()),
                    (
                        json!({"url_pattern": "/aaa/{resp0_supu}"}),
                        ok(json!({"never": true})),
                    ),
                    (
                        json!({"url_pattern": "/aaa/{resp0_supu}?x={resp1_tupu}"}),
                        ok(json!({"never": true})),
                    ),
                ],
                json!(null),
            )
            .endpoint(json!({"extra_config": {"proxy": {"sequential": true}}}))
            .status(500)
            .body(lura_oracle::Body::Text("")),
            "false",
        ),
        completed(
            Case::new(
                "testNewMergeDataMiddleware_partialTimeout",
                vec![
                    (plain(), ok(json!({"supu": 42}))),
                    (plain(), lura_oracle::after(3000, ok(json!({"tupu": true})))),
                ],
                json!({"supu": 42}),
            )
            .endpoint(json!({"timeout": "500ms"})),
            "false",
        ),
        completed(
            Case::new(
                "testNewMergeDataMiddleware_timeout",
                vec![
                    (plain(), lura_oracle::after(3000, ok(json!({"supu": 42})))),
                    (plain(), lura_oracle::after(3000, ok(json!({"tupu": true})))),
                ],
                json!(null),
            )
            .endpoint(json!({"timeout": "500ms"}))
            .status(500)
            .body(lura_oracle::Body::Text("")),
            "false",
        ),
        completed(
            Case::new(
                "testRegisterResponseCombiner",
                vec![
                    (plain(), ok(json!({"supu": 42}))),
                    (plain(), ok(json!({"tupu": true}))),
                ],
                json!({"supu": 42, "tupu": true}),
            )
            .endpoint(json!({"extra_config": {"proxy": {"combiner": "default"}}})),
            "true",
        ),
    ];
    run(
        "proxy/merging_test.go",
        json!({}),
        cases,
        MERGING_DIFFERENCES,
    );
}

/// Rows of `merging` where cuttle deliberately answers otherwise.
const MERGING_DIFFERENCES: &[(&str, &str)] = &[];

/// The static data of lura's `proxy/static_test.go`.
fn static_data() -> serde_json::Value {
    json!({"new-1": true, "new-2": {"k1": 42}, "new-3": "42"})
}

/// `data` plus the static data.
fn with_static(mut data: serde_json::Value) -> serde_json::Value {
    for (k, v) in static_data().as_object().unwrap() {
        data[k] = v.clone();
    }
    data
}

/// One static-strategy row: `scenario` is "complete" (one backend answers),
/// "errored" (its only backend fails) or "incomplete" (one of two fails).
fn static_case(name: &'static str, strategy: &str, scenario: &str, matches: bool) -> Case {
    let (backends, data, completed) = match scenario {
        "complete" => (
            vec![(plain(), ok(json!({"supu": 42})))],
            json!({"supu": 42}),
            "true",
        ),
        "errored" => (vec![(plain(), ko())], json!({}), "false"),
        _ => (
            vec![(plain(), ok(json!({"supu": 42}))), (plain(), ko())],
            json!({"supu": 42}),
            "false",
        ),
    };
    let body = if matches { with_static(data) } else { data };
    let case = Case::new(name, backends, body.clone())
        .endpoint(json!({"extra_config": {"proxy": {"static": {
            "data": static_data(), "strategy": strategy
        }}}}))
        .header("x-krakend-completed", Some(completed));
    if body == json!({}) {
        // No data and an error: lura answers the error (500, no body).
        case.status(500).body(lura_oracle::Body::Text(""))
    } else {
        case
    }
}

/// lura `proxy/static_test.go`: static data added by strategy. The matcher
/// cases (`Test_static*Match`) are translated for the three states a real
/// backend can produce: a complete answer without error ("complete & nil"),
/// no answer and an error ("nil & error"), a partial merge (an incomplete
/// answer and an error). `Test_getStaticMiddlewareCfg_*` parse Go maps.
#[test]
fn static_data_strategies() {
    let cases = vec![
        static_case(
            "TestNewStaticMiddleware_ok/complete",
            "incomplete",
            "complete",
            false,
        ),
        static_case(
            "TestNewStaticMiddleware_ok/incomplete",
            "incomplete",
            "incomplete",
            true,
        ),
        static_case(
            "TestNewStaticMiddleware_ok/errored",
            "incomplete",
            "errored",
            true,
        ),
        Case::new(
            "TestNewStaticMiddleware",
            vec![(plain(), ok(json!({})))],
            static_data(),
        )
        .endpoint(json!({"extra_config": {"proxy": {"static": {
            "data": static_data(), "strategy": "complete"
        }}}})),
        static_case(
            "Test_staticAlwaysMatch/complete & nil",
            "always",
            "complete",
            true,
        ),
        static_case(
            "Test_staticAlwaysMatch/nil & error",
            "always",
            "errored",
            true,
        ),
        static_case(
            "Test_staticAlwaysMatch/incomplete",
            "always",
            "incomplete",
            true,
        ),
        static_case(
            "Test_staticIfSuccessMatch/complete & nil",
            "success",
            "complete",
            true,
        ),
        static_case(
            "Test_staticIfSuccessMatch/nil & error",
            "success",
            "errored",
            false,
        ),
        static_case(
            "Test_staticIfSuccessMatch/incomplete",
            "success",
            "incomplete",
            false,
        ),
        static_case(
            "Test_staticIfErroredMatch/complete & nil",
            "errored",
            "complete",
            false,
        ),
        static_case(
            "Test_staticIfErroredMatch/nil & error",
            "errored",
            "errored",
            true,
        ),
        static_case(
            "Test_staticIfErroredMatch/incomplete",
            "errored",
            "incomplete",
            true,
        ),
        static_case(
            "Test_staticIfCompleteMatch/complete & nil",
            "complete",
            "complete",
            true,
        ),
        static_case(
            "Test_staticIfCompleteMatch/nil & error",
            "complete",
            "errored",
            false,
        ),
        static_case(
            "Test_staticIfCompleteMatch/incomplete",
            "complete",
            "incomplete",
            false,
        ),
        static_case(
            "Test_staticIfIncompleteMatch/complete & nil",
            "incomplete",
            "complete",
            false,
        ),
        static_case(
            "Test_staticIfIncompleteMatch/nil & error",
            "incomplete",
            "errored",
            true,
        ),
        static_case(
            "Test_staticIfIncompleteMatch/incomplete",
            "incomplete",
            "incomplete",
            true,
        ),
    ];
    run("proxy/static_test.go", json!({}), cases, STATIC_DIFFERENCES);
}

/// Rows of `static_data_strategies` where cuttle deliberately answers
/// otherwise.
const STATIC_DIFFERENCES: &[(&str, &str)] = &[];

/// `TestNewConcurrentMiddleware_okAfterKo`'s backend: every other call
/// fails (the count is this test binary's; only that row uses it).
fn every_other_call(_: &str, _: &common::Seen) -> common::Reply {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    if CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 2 == 1 {
        ok(json!({"supu": 42, "tupu": true, "foo": "bar"}))
    } else {
        ko()
    }
}

/// lura `proxy/concurrent_test.go`: `concurrent_calls` answers with the
/// first good answer; all of them late is an error.
#[test]
fn concurrent() {
    let cases = vec![
        Case::new(
            "TestNewConcurrentMiddleware_ok",
            vec![(plain(), ok(json!({"supu": 42})))],
            json!({"supu": 42}),
        )
        .endpoint(json!({"concurrent_calls": 3}))
        .header("x-krakend-completed", Some("true")),
        Case::new(
            "TestNewConcurrentMiddleware_okAfterKo",
            vec![(plain(), ok(json!({})))],
            json!({"supu": 42, "tupu": true, "foo": "bar"}),
        )
        .echo(0, every_other_call)
        .endpoint(json!({"concurrent_calls": 3, "timeout": "700ms"}))
        .header("x-krakend-completed", Some("true")),
        Case::new(
            "TestNewConcurrentMiddleware_timeout",
            vec![(plain(), lura_oracle::after(3000, ok(json!({"supu": 42}))))],
            json!(null),
        )
        .endpoint(json!({"concurrent_calls": 3, "timeout": "300ms"}))
        .status(500)
        .body(lura_oracle::Body::Text(""))
        .header("x-krakend-completed", Some("false")),
    ];
    run("proxy/concurrent_test.go", json!({}), cases, &[]);
}

/// Answers the `X-*` headers (lower-cased names, values in order) and the
/// query a backend received.
fn filter_echo(_: &str, seen: &common::Seen) -> common::Reply {
    let mut headers = serde_json::Map::new();
    for (name, value) in seen
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-") && !n.starts_with("x-forwarded"))
    {
        let list = headers.entry(name.clone()).or_insert_with(|| json!([]));
        list.as_array_mut().unwrap().push(json!(value));
    }
    ok(json!({"headers": headers, "query": common::query_map(&seen.target)}))
}

const FILTERED_HEADERS: &str = "X-This-Shall-Pass: tupu\r\nX-This-Shall-Pass: supu\r\nX-You-Shall-Not-Pass: Balrog\r\nX-Gandalf-Will-Pass: White\r\nX-Gandalf-Will-Pass: Grey\r\nX-Drop-Tables: foo\r\n";
const FILTERED_QUERY: &str = "?oak=acorn&oak=evergreen&maple=tree&maple=shrub&cedar=mediterranean&cedar=himalayas&willow=350";

/// lura `proxy/headers_filter_test.go` and `proxy/query_strings_filter_test.go`:
/// a backend's own `input_headers` / `input_query_strings` (the endpoint
/// lets everything through): a list keeps its names, `[""]` blocks all, an
/// empty list filters nothing.
#[test]
fn backend_filters() {
    let row = |name, backend: serde_json::Value, want: serde_json::Value| {
        Case::new(name, vec![(backend, ok(json!({})))], want)
            .echo(0, filter_echo)
            .endpoint(json!({"input_headers": ["*"], "input_query_strings": ["*"]}))
            .request("GET", FILTERED_QUERY, FILTERED_HEADERS, "")
    };
    let all_headers = json!({
        "x-this-shall-pass": ["tupu", "supu"], "x-you-shall-not-pass": ["Balrog"],
        "x-gandalf-will-pass": ["White", "Grey"], "x-drop-tables": ["foo"]
    });
    let all_query = json!({
        "oak": ["acorn", "evergreen"], "maple": ["tree", "shrub"],
        "cedar": ["mediterranean", "himalayas"], "willow": ["350"]
    });
    let cases = vec![
        row(
            "TestNewFilterHeadersMiddleware",
            json!({"input_headers": ["X-This-Shall-Pass", "X-Gandalf-Will-Pass"]}),
            json!({"headers": {"x-this-shall-pass": ["tupu", "supu"],
                "x-gandalf-will-pass": ["White", "Grey"]}, "query": all_query}),
        ),
        row(
            "TestNewFilterHeadersMiddlewareBlockAll",
            json!({"input_headers": [""]}),
            json!({"headers": {}, "query": all_query}),
        ),
        row(
            "TestNewFilterHeadersMiddlewareAllowAll",
            json!({"input_headers": []}),
            json!({"headers": all_headers, "query": all_query}),
        ),
        row(
            "TestNewFilterQueryStringsMiddleware",
            json!({"input_query_strings": ["oak", "cedar"]}),
            json!({"headers": all_headers, "query": {"oak": ["acorn", "evergreen"],
                "cedar": ["mediterranean", "himalayas"]}}),
        ),
        row(
            "TestFilterQueryStringsBlockAll",
            json!({"input_query_strings": [""]}),
            json!({"headers": all_headers, "query": {}}),
        ),
        row(
            "TestFilterQueryStringsAllowAll",
            json!({"input_query_strings": []}),
            json!({"headers": all_headers, "query": all_query}),
        ),
    ];
    run("proxy/*_filter_test.go", json!({}), cases, &[]);
}

/// `TestNewHTTPProxy_ok`'s backend: the headers it checks, then its body.
fn http_ok_echo(_: &str, seen: &common::Seen) -> common::Reply {
    if seen.header("x-first") != Some("first") || seen.header("x-second") != Some("second") {
        return common::text(400, "text/plain", "missing headers");
    }
    common::text(
        200,
        "text/plain",
        r#"{"supu":42, "tupu":true, "foo": "bar"}"#,
    )
}

/// `TestNewHTTPProxy_redirectWithBody`'s redirecting server.
fn redirect_308(_: &str, _: &common::Seen) -> common::Reply {
    common::Reply::Full(
        308,
        vec![("Location".into(), "/lura-redirected".into())],
        vec![],
    )
}

/// Its target: answers only when the body followed the redirect.
fn redirected(path: &str, seen: &common::Seen) -> common::Reply {
    if path == "/lura-redirected" && seen.body == br#"{"message":"redirected"}"# {
        common::text(200, "text/plain", r#"{"message":"ok"}"#)
    } else {
        common::text(400, "text/plain", "no body")
    }
}

/// lura `proxy/http_test.go`: one backend call and what its failures
/// become. Not translated: `_decodingError` (a Go decoder),
/// `_badMethod` (an invalid method no config or request can carry),
/// `TestNewRequestBuilderMiddleware_ok` and the `DefaultHTTPResponseParserConfig`
/// cases (Go values).
#[test]
fn http_proxy() {
    let failed = |c: Case| {
        c.status(500)
            .body(lura_oracle::Body::Text(""))
            .header("x-krakend-completed", Some("false"))
    };
    let cases = vec![
        Case::new(
            "TestNewHTTPProxy_ok",
            vec![(plain(), ok(json!({})))],
            json!({"supu": 42, "tupu": true, "foo": "bar"}),
        )
        .echo(0, http_ok_echo)
        .endpoint(json!({"input_headers": ["X-First", "X-Second"]}))
        .request("GET", "", "X-First: first\r\nX-Second: second\r\n", "")
        .header("x-krakend-completed", Some("true")),
        failed(Case::new(
            "TestNewHTTPProxy_cancel",
            vec![(plain(), lura_oracle::after(3000, ok(json!({}))))],
            json!(null),
        ))
        .endpoint(json!({"timeout": "100ms"})),
        failed(Case::new(
            "TestNewHTTPProxy_badResponseBody",
            vec![(plain(), common::text(200, "text/plain", "supu"))],
            json!(null),
        )),
        failed(Case::new(
            "TestNewHTTPProxy_badStatusCode",
            vec![(plain(), common::text(500, "text/plain; charset=utf-8", "booom\n"))],
            json!(null),
        )),
        Case::new(
            "TestNewHTTPProxy_badStatusCode_detailed",
            vec![(
                json!({"extra_config": {"backend/http": {"return_error_details": "some"}}}),
                common::text(500, "text/plain; charset=utf-8", "booom\n"),
            )],
            json!(null),
        )
        .body(lura_oracle::Body::Text(
            r#"{"error_some":{"http_status_code":500,"http_body":"booom\n","http_body_encoding":"text/plain; charset=utf-8"}}"#,
        ))
        .header("x-krakend-completed", Some("false")),
        failed(Case::new(
            "TestNewHTTPProxy_requestKo",
            vec![(json!({"host": [common::closed_port_url()]}), ok(json!({})))],
            json!(null),
        )),
        Case::new(
            "TestNewHTTPProxy_noopDecoder",
            vec![(
                json!({"encoding": "no-op"}),
                common::Reply::Full(
                    200,
                    vec![("header1".into(), "value1".into())],
                    b"some nice, interesting and long content".to_vec(),
                ),
            )],
            json!(null),
        )
        .endpoint(json!({"output_encoding": "no-op"}))
        .header("header1", Some("value1"))
        .body(lura_oracle::Body::Text("some nice, interesting and long content")),
        Case::new(
            "TestNewHTTPProxy_redirectWithBody",
            vec![(
                json!({"extra_config": {"backend/http/client": {"send_body_on_redirect": true}}}),
                ok(json!({})),
            )],
            json!({"message": "ok"}),
        )
        .echo(0, redirect_308)
        .request("POST", "", "", r#"{"message":"redirected"}"#),
    ];
    lura_oracle::run_with(
        "proxy/http_test.go",
        json!({}),
        cases,
        &[],
        Some(redirected),
    );
}

const MSG: &str = r#"{"msg":"some nice, interesting and long content"}"#;

/// `MSG` gzipped, as lura's `http_response_test.go` handlers write it.
fn gzipped_msg() -> common::Reply {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(MSG.as_bytes()).unwrap();
    common::Reply::Full(
        200,
        vec![
            ("Vary".into(), "Accept-Encoding".into()),
            ("Content-Encoding".into(), "gzip".into()),
            (
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            ),
        ],
        gz.finish().unwrap(),
    )
}

/// lura `proxy/http_response_test.go` (the response parsers) and
/// `proxy/shadow_test.go`. `_gzipped_bad_header` asked for no gzip and got
/// it anyway: here the client's `Accept-Encoding: identity;q=0` reaches the
/// backend (so the gateway's client does not ask for gzip itself) and the
/// backend gzips regardless. Not translated: `TestIsShadowBackend`,
/// `TestShadowFactory_noBackends` (Go values) and the call counts of
/// `TestShadowMiddleware` / `TestNewShadowFactory` (tests/shadow.rs counts
/// shadow calls).
#[test]
fn response_parsers_and_shadow() {
    let msg = json!({"msg": "some nice, interesting and long content"});
    let shadow = json!({"extra_config": {"proxy": {"shadow": true}}});
    let cases = vec![
        Case::new(
            "TestNopHTTPResponseParser",
            vec![(
                json!({"encoding": "no-op"}),
                common::Reply::Full(
                    200,
                    vec![("header1".into(), "value1".into())],
                    b"some nice, interesting and long content".to_vec(),
                ),
            )],
            json!(null),
        )
        .endpoint(json!({"output_encoding": "no-op"}))
        .header("header1", Some("value1"))
        .body(lura_oracle::Body::Text(
            "some nice, interesting and long content",
        )),
        Case::new(
            "TestDefaultHTTPResponseParser_gzipped",
            vec![(plain(), gzipped_msg())],
            msg.clone(),
        )
        .header("x-krakend-completed", Some("true")),
        Case::new(
            "TestDefaultHTTPResponseParser_gzipped_bad_header",
            vec![(plain(), gzipped_msg())],
            msg.clone(),
        )
        .endpoint(json!({"input_headers": ["Accept-Encoding"]}))
        .request("GET", "", "Accept-Encoding: identity;q=0\r\n", "")
        .header("x-krakend-completed", Some("true")),
        Case::new(
            "TestDefaultHTTPResponseParser_plain",
            vec![(
                plain(),
                common::text(200, "application/json; charset=utf-8", MSG),
            )],
            msg,
        )
        .header("x-krakend-completed", Some("true")),
        Case::new(
            "TestNewShadowFactory",
            vec![
                (shadow.clone(), ok(json!({"shadowed": true}))),
                (plain(), ok(json!({"supu": 42}))),
            ],
            json!({"supu": 42}),
        )
        .header("x-krakend-completed", Some("true")),
        Case::new(
            "TestShadowMiddleware_erroredBackend",
            vec![
                (plain(), lura_oracle::after(100, ok(json!({"supu": 42})))),
                (shadow.clone(), ko()),
            ],
            json!({"supu": 42}),
        )
        .header("x-krakend-completed", Some("true")),
        Case::new(
            "TestShadowMiddleware_partialTimeout",
            vec![
                (plain(), lura_oracle::after(1000, ok(json!({"supu": 42})))),
                (shadow, ok(json!({"supu": 42}))),
            ],
            json!(null),
        )
        .endpoint(json!({"timeout": "200ms"}))
        .status(500)
        .body(lura_oracle::Body::Text(""))
        .header("x-krakend-completed", Some("false")),
    ];
    run(
        "proxy/http_response_test.go, proxy/shadow_test.go",
        json!({}),
        cases,
        &[],
    );
}

/// lura `proxy/request_test.go` `TestRequestGeneratePath`: parameters
/// placed into the backend's path and query. `TestRequest_Clone` and
/// `TestCloneRequest` copy Go values.
#[test]
fn generate_path() {
    let row = |name, pattern: &str, want| {
        Case::new(
            name,
            vec![(json!({"url_pattern": pattern}), ok(json!({"ok": true})))],
            json!({"ok": true}),
        )
        .endpoint(json!({"endpoint": "/{supu}/{tupu}/{foo}"}))
        .request("GET", "/42/false/bar", "", "")
        .seen(0, want)
    };
    let cases = vec![
        row("TestRequestGeneratePath/0", "/a/{supu}", "/a/42"),
        row("TestRequestGeneratePath/1", "/a?b={tupu}", "/a?b=false"),
        row(
            "TestRequestGeneratePath/2",
            "/a/{supu}/foo/{foo}",
            "/a/42/foo/bar",
        ),
        row("TestRequestGeneratePath/3", "/a", "/a"),
    ];
    run("proxy/request_test.go", json!({}), cases, &[]);
}

/// lura `proxy/balancing_test.go` `testLoadBalancedMw` (as
/// `TestNewRoundRobinLoadBalancedMiddleware` runs it): the backend URL is
/// the host, the path, the url_pattern's own query and then the forwarded
/// query. The balancer and DNS SRV cases use Go balancers; round robin
/// across hosts is per worker in cuttle (README).
#[test]
fn balancing() {
    let row = |name, pattern: &str, query: &'static str, want| {
        Case::new(
            name,
            vec![(json!({"url_pattern": pattern}), ok(json!({"ok": true})))],
            json!({"ok": true}),
        )
        .endpoint(json!({"input_query_strings": ["some"]}))
        .request("GET", query, "", "")
        .seen(0, want)
    };
    let cases = vec![
        row("testLoadBalancedMw/0", "/tupu", "", "/tupu"),
        row(
            "testLoadBalancedMw/1",
            "/tupu?extra=true",
            "",
            "/tupu?extra=true",
        ),
        row(
            "testLoadBalancedMw/2",
            "/tupu?extra=true",
            "?some=none",
            "/tupu?extra=true&some=none",
        ),
        row(
            "testLoadBalancedMw/3",
            "/tupu",
            "?some=none",
            "/tupu?some=none",
        ),
    ];
    run("proxy/balancing_test.go", json!({}), cases, &[]);
}
