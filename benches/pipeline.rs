//! Benchmarks of the response pipeline, shaped after KrakenD's own (lura
//! `proxy/*_benchmark_test.go`, figures in lura `docs/BENCHMARKS.md`) so that
//! each `group/name` here maps 1:1 to a row there.
//!
//! What is timed, and how it differs from Go:
//!
//! - **Documents borrow their strings** from a long-lived buffer, as a
//!   decoded backend body borrows from the body buffer in the server.
//! - **Manipulation benches** (`allow`, `deny`, `mapping`, `grouping`,
//!   `target`, `collection`, `flatmap`, `merge`) use `iter_batched_ref` with
//!   `SmallInput`: a fresh copy of the input is made in untimed setup (our
//!   operations consume their input), the operation alone is timed (with
//!   the drop of whatever it removes or replaces), and the result is stored
//!   in the input's slot and dropped after the timed batch. Go's loop calls
//!   `EntityFormatter.Format` on one map built before the loop: it times the
//!   operation plus allocating the returned `Response` (48 B) and, for
//!   `allow` and `grouping`, the new result map; its garbage is collected
//!   concurrently. Go's `deny` and `mapping` mutate that shared map, so after
//!   the first iteration they find nothing left to remove or rename (and in
//!   `deny/N_elements_M_extra` for M > 0 the map no longer holds `supu`,
//!   `tupu` or `foo` at all: earlier sub-benchmarks deleted them). Here every
//!   iteration starts from the full input and really removes or renames.
//! - **merge** times folding the N parts into one object. Go's
//!   `BenchmarkNewMergeDataMiddleware` also times a goroutine, a channel and a
//!   `context.WithTimeout` per part (cuttle's fan-out is futures polled in the
//!   connection task, outside this crate module).
//! - **url** renders a compiled `url_pattern` into a reused buffer; Go's
//!   `Request.GeneratePath` parses the template and allocates the string on
//!   every call (cuttle compiles templates once at start-up).
//! - **proxy_stack** goes from raw backend body bytes to the serialised
//!   client body: copy the body into a scratch buffer (simd-json parses in
//!   place), render the backend URL, decode, deny + mapping, merge, encode.
//!   Go's `BenchmarkProxyStack_*` builds the backend map from Go literals (no
//!   JSON decoding nor encoding) and times its middleware stack (load
//!   balancer, concurrent-calls middleware, request builder, merge, static).
//!   Neither side does network I/O.
//! - **jmespath** (KrakenD Enterprise, no lura row): the compiled
//!   `modifier/jmespath` expression on a decoded ~2 KB document, next to
//!   decoding that document (copy into a scratch buffer + simd-json), the
//!   issue's yardstick. The expression's cost includes converting the
//!   document into the jmespath crate's tree and the result back.
//! - **content_replacer** (KrakenD Enterprise): one replacement on one
//!   field of a fresh copy (`iter_batched_ref`, as the manipulations).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use cuttle::config::{
    BackendEncoding, FlatmapOp, ManipulationSpec, Replacement, ResponseModifiers,
};
use cuttle::pipeline::{
    Flatmap, Literals, Manipulation, Modifiers, Object, Rendered, Source, UrlTemplate, Value,
    decode, encode, merge_into, percent_decode,
};

// The server's allocator (`src/main.rs`), so allocation costs are the real ones.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Parses `text` into a document whose strings borrow from a leaked buffer
/// (one per call, a few hundred bytes, kept for the whole run).
fn doc(text: &str) -> Value<'static> {
    let buffer: &'static mut [u8] = Box::leak(text.as_bytes().to_vec().into_boxed_slice());
    simd_json::to_borrowed_value(buffer).expect("bench JSON is valid")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// lura's formatter sample: `{"supu":42,"tupu":false,"foo":"bar"}` plus
/// `extra` fields `"0": 0 … "extra-1": extra-1`.
fn formatter_doc(base: bool, extra: usize) -> Value<'static> {
    let mut fields: Vec<String> = if base {
        strings(&[r#""supu":42"#, r#""tupu":false"#, r#""foo":"bar""#])
    } else {
        Vec::new()
    };
    fields.extend((0..extra).map(|i| format!(r#""{i}":{i}"#)));
    doc(&format!("{{{}}}", fields.join(",")))
}

/// Times `manipulation.apply` on a fresh copy of `input` per iteration.
///
/// The result is stored back into the input's slot (`iter_batched_ref`), so
/// criterion does not push outputs into a freshly allocated vector inside
/// the timed loop (its first-touch page faults cost several ns per
/// iteration); inputs and results are dropped after the timed batch.
fn bench_apply(c: &mut Criterion, name: &str, spec: &ManipulationSpec, input: &Value<'static>) {
    let manipulation = Manipulation::compile(spec).expect("bench spec is valid");
    c.bench_function(name, |b| {
        b.iter_batched_ref(
            || input.clone(),
            |v| *v = manipulation.apply(std::mem::take(v)),
            BatchSize::SmallInput,
        )
    });
}

/// `BenchmarkNewMergeDataMiddleware/with_N_parts`: N parts of
/// `{"int":1,"float":3.14,"bool":true,"string":"wwwww"}` (all keys collide).
fn bench_merge(c: &mut Criterion) {
    let part = doc(r#"{"int":1,"float":3.14,"bool":true,"string":"wwwww"}"#);
    for n in [2, 3, 4] {
        let parts = vec![part.clone(); n];
        c.bench_function(&format!("merge/{n}_parts"), |b| {
            b.iter_batched_ref(
                || (parts.clone(), Value::default()),
                |(parts, merged)| {
                    let mut acc = Object::with_capacity_and_hasher(0, Default::default());
                    for part in parts.drain(..) {
                        merge_into(&mut acc, part);
                    }
                    *merged = Value::Object(Box::new(acc));
                },
                BatchSize::SmallInput,
            )
        });
    }
}

/// `BenchmarkEntityFormatter_{whitelisting,blacklisting}Filter/with_K_elements_with_E_extra_fields`
/// (lists `["supu"]` and `["supu","tupu","foo","unknown"]`), plus nested
/// paths, which KrakenD does not benchmark.
fn bench_allow_deny(c: &mut Criterion) {
    let lists: [(usize, &[&str]); 2] = [(1, &["supu"]), (4, &["supu", "tupu", "foo", "unknown"])];
    for extra in [0, 25] {
        let input = formatter_doc(true, extra);
        for (k, list) in lists {
            let allow = ManipulationSpec {
                allow: strings(list),
                ..Default::default()
            };
            bench_apply(
                c,
                &format!("allow/{k}_elements_{extra}_extra"),
                &allow,
                &input,
            );
            let deny = ManipulationSpec {
                deny: strings(list),
                ..Default::default()
            };
            bench_apply(
                c,
                &format!("deny/{k}_elements_{extra}_extra"),
                &deny,
                &input,
            );
        }
    }
    let nested = doc(
        r#"{"supu":42,"tupu":false,"foo":"bar","map":{"aaaa":false,"bbbb":1,"cccc":{"x":1,"y":2}},"col":[{"a":1,"b":2}],"user":{"id":1,"name":"n","email":"e"}}"#,
    );
    let lists: [(usize, &[&str]); 2] = [
        (1, &["map.aaaa"]),
        (4, &["map.aaaa", "map.cccc.x", "user.email", "supu"]),
    ];
    for (k, list) in lists {
        let allow = ManipulationSpec {
            allow: strings(list),
            ..Default::default()
        };
        bench_apply(c, &format!("allow/nested_{k}_elements"), &allow, &nested);
        let deny = ManipulationSpec {
            deny: strings(list),
            ..Default::default()
        };
        bench_apply(c, &format!("deny/nested_{k}_elements"), &deny, &nested);
    }
}

/// `BenchmarkEntityFormatter_mapping/with_K_elements_with_E_extra_fields`:
/// `E` fields `"0"…`, renames `"1"->"supu"`, `"2"->"tupu"`, … (with 0 extra
/// fields the object is empty, in Go too).
fn bench_mapping(c: &mut Criterion) {
    let renames = [
        ("1", "supu"),
        ("2", "tupu"),
        ("3", "foo"),
        ("4", "bar"),
        ("5", "a"),
    ];
    for (k, extra) in [(1, 0), (1, 5), (5, 5), (1, 25), (5, 25)] {
        let spec = ManipulationSpec {
            mapping: renames[..k]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ..Default::default()
        };
        let input = formatter_doc(false, extra);
        bench_apply(
            c,
            &format!("mapping/{k}_elements_{extra}_extra"),
            &spec,
            &input,
        );
    }
}

/// `BenchmarkEntityFormatter_grouping/with_E_elements`: E fields `"0"…`
/// wrapped under `group1`.
fn bench_grouping(c: &mut Criterion) {
    let spec = ManipulationSpec {
        group: Some("group1".into()),
        ..Default::default()
    };
    for extra in [0, 25] {
        let input = formatter_doc(false, extra);
        bench_apply(c, &format!("grouping/{extra}_elements"), &spec, &input);
    }
}

/// Operations KrakenD does not benchmark: target, collection wrap, flatmap.
fn bench_other_manipulations(c: &mut Criterion) {
    let user = doc(
        r#"{"id":42,"name":"Elliot Alderson","email":"elliot@example.com","active":true,"score":97.5,"tags":["admin","ops"],"address":{"street":"1 Main St","city":"New York","zip":"10001","geo":{"lat":40.7,"lng":-74.0}},"company":{"name":"Allsafe","role":"engineer"},"created_at":"2015-06-24T21:00:00Z"}"#,
    );
    let target = ManipulationSpec {
        target: Some("address.geo".into()),
        ..Default::default()
    };
    bench_apply(c, "target/2_levels", &target, &user);

    let collection = doc(&format!(
        "[{}]",
        [r#"{"path":"/collection/2","i":1}"#; 10].join(",")
    ));
    let wrap = ManipulationSpec {
        is_collection: true,
        ..Default::default()
    };
    bench_apply(c, "collection/wrap_10_items", &wrap, &collection);

    let flatmap = Flatmap::compile(&[
        FlatmapOp::Move {
            from: "collection".into(),
            to: "paths".into(),
        },
        FlatmapOp::Del {
            path: "paths.*.i".into(),
        },
        FlatmapOp::Move {
            from: "paths.*.path".into(),
            to: "paths.*.url".into(),
        },
    ])
    .expect("bench flatmap is valid");
    let wrap = Manipulation::compile(&wrap).expect("valid");
    let wrapped = wrap.apply(collection.clone());
    c.bench_function("flatmap/move_del_move_10_items", |b| {
        b.iter_batched_ref(
            || wrapped.clone(),
            |v| flatmap.apply(v),
            BatchSize::SmallInput,
        )
    });
}

/// lura's request params in `BenchmarkRequestGeneratePath`.
const PARAM_NAMES: [&str; 3] = ["Supu", "Tupu", "Foo"];
const PARAM_VALUES: [&[u8]; 3] = [b"42", b"false", b"bar"];

/// Writes a value as the proxy does for a client parameter (decoded).
fn write_param(source: &Source, out: &mut Vec<u8>) -> bool {
    match source {
        Source::Param(index) => {
            percent_decode(PARAM_VALUES[*index], out);
            true
        }
        _ => false,
    }
}

/// `BenchmarkRequestGeneratePath/<pattern>` with lura's `{{.Supu}}` written
/// as KrakenD v2+'s `{Supu}`.
fn bench_url(c: &mut Criterion) {
    let cases = [
        ("a", "/a"),
        ("a_supu", "/a/{Supu}"),
        ("a_b_tupu", "/a?b={Tupu}"),
        ("a_supu_foo_foo", "/a/{Supu}/foo/{Foo}"),
        ("a_supu_foo_foo_b_c_tupu", "/a/{Supu}/foo/{Foo}/b?c={Tupu}"),
    ];
    for (name, pattern) in cases {
        let template = UrlTemplate::compile(pattern, &PARAM_NAMES).expect("valid");
        let mut out = Vec::with_capacity(256);
        c.bench_function(&format!("url/{name}"), |b| {
            b.iter(|| {
                out.clear();
                let _ = template.render(&mut out, write_param);
                black_box(out.len())
            })
        });
    }
}

/// `BenchmarkProxyStack_single` and `BenchmarkProxyStack_multi/with_3_backends`:
/// each backend answers lura's sample body, has `deny: ["map.aaaa"]`,
/// `mapping: {"supu": "SUPUUUUU"}` and `url_pattern: "/a/{Tupu}"`.
fn bench_proxy_stack(c: &mut Criterion) {
    const BODY: &[u8] =
        br#"{"supu":42,"tupu":true,"foo":"bar","map":{"aaaa":false},"col":[{"a":1,"b":2}]}"#;
    let manipulation = Manipulation::compile(&ManipulationSpec {
        deny: strings(&["map.aaaa"]),
        mapping: vec![("supu".into(), "SUPUUUUU".into())],
        ..Default::default()
    })
    .expect("valid");
    let template = UrlTemplate::compile("/a/{Tupu}", &PARAM_NAMES).expect("valid");
    for (n, name) in [(1, "proxy_stack/1_backend"), (3, "proxy_stack/3_backends")] {
        let mut scratch: Vec<Vec<u8>> = (0..n).map(|_| Vec::with_capacity(1024)).collect();
        let mut request_line = Vec::with_capacity(256);
        let mut out = Vec::with_capacity(4096);
        c.bench_function(name, |b| {
            b.iter(|| {
                for buffer in scratch.iter_mut() {
                    request_line.clear();
                    let _ = template.render(&mut request_line, write_param);
                    black_box(&request_line);
                    buffer.clear();
                    buffer.extend_from_slice(BODY);
                }
                let mut acc = Object::with_capacity_and_hasher(0, Default::default());
                for buffer in scratch.iter_mut() {
                    if let Ok(value) = decode(
                        BackendEncoding::Json,
                        false,
                        buffer,
                        &mut Literals::default(),
                    ) {
                        merge_into(&mut acc, manipulation.apply(value));
                    }
                }
                out.clear();
                let content_type = encode(&Value::Object(Box::new(acc)), Rendered::Json, &mut out);
                black_box((content_type, out.len()))
            })
        });
    }
}

/// About 2 KB: 24 students with a name, an age, an email and a city.
fn students_body() -> Vec<u8> {
    let students: Vec<String> = (0..24)
        .map(|i| {
            format!(
                r#"{{"name":"Student {i}","age":{},"email":"s{i}@school.example","city":"Town"}}"#,
                14 + i % 9
            )
        })
        .collect();
    format!(
        r#"{{"students":[{}],"school":"Example"}}"#,
        students.join(",")
    )
    .into_bytes()
}

fn bench_jmespath(c: &mut Criterion) {
    let body = students_body();
    let modifiers = Modifiers::compile(&ResponseModifiers {
        replacements: Vec::new(),
        jmespath: Some("students[?age > `18`].name".into()),
    })
    .expect("valid");
    let mut scratch = Vec::with_capacity(4096);
    c.bench_function(&format!("jmespath/decode_{}_bytes", body.len()), |b| {
        b.iter(|| {
            scratch.clear();
            scratch.extend_from_slice(&body);
            let value = decode(
                BackendEncoding::Json,
                false,
                &mut scratch,
                &mut Literals::default(),
            )
            .expect("valid");
            black_box(&value);
        })
    });
    let input = doc(std::str::from_utf8(&body).expect("utf-8"));
    c.bench_function(
        &format!("jmespath/filter_project_{}_bytes", body.len()),
        |b| {
            b.iter_batched_ref(
                || input.clone(),
                |value| {
                    let taken = std::mem::replace(value, Value::from(0u64));
                    *value = modifiers.apply(taken);
                },
                BatchSize::SmallInput,
            )
        },
    );
}

fn bench_content_replacer(c: &mut Criterion) {
    let input = doc(
        r#"{"message":"6 items left","data":{"credit_card":"1234567812345678","n":5},"other":"x"}"#,
    );
    let rows = [
        (
            "content_replacer/literal_root",
            "message",
            " items left",
            "",
            false,
        ),
        (
            "content_replacer/literal_nested",
            "data.credit_card",
            "5678",
            "XXXX",
            false,
        ),
        (
            "content_replacer/literal_no_match",
            "message",
            "absent",
            "",
            false,
        ),
        (
            "content_replacer/regexp_nested",
            "data.credit_card",
            r"(^\d{4})(.*)",
            "${1}-XXXX",
            true,
        ),
    ];
    for (name, path, find, replace, regexp) in rows {
        let modifiers = Modifiers::compile(&ResponseModifiers {
            replacements: vec![Replacement {
                path: path.into(),
                find: find.into(),
                replace: replace.into(),
                regexp,
            }],
            jmespath: None,
        })
        .expect("valid");
        c.bench_function(name, |b| {
            b.iter_batched_ref(
                || input.clone(),
                |value| modifiers.replace(value),
                BatchSize::SmallInput,
            )
        });
    }
}

/// One access log line, as a worker formats it per request (text and
/// logstash JSON), into a reused buffer.
fn bench_access_log(c: &mut Criterion) {
    // The duration is measured once per request by the observer (shared
    // with the metrics), not while formatting the line.
    let entry = cuttle::logging::Entry {
        method: cuttle::http::Method::Get,
        path: b"/users/12345/orders",
        route: Some("/users/{id}/orders"),
        status: 200,
        body_bytes: 1234,
        elapsed: std::time::Duration::from_micros(1134),
        at: std::time::Instant::now(),
        client: "203.0.113.9".parse().unwrap(),
        completed: Some(true),
    };
    for (name, module) in [
        ("access_log/text_line", None),
        ("access_log/json_line", Some("KRAKEND")),
    ] {
        let mut out = Vec::with_capacity(64 * 1024);
        let mut stamp = cuttle::logging::Stamp::default();
        c.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                cuttle::logging::write_access_line(&mut out, &entry, module, &mut stamp);
                std::hint::black_box(out.len())
            })
        });
    }
}

criterion_group!(
    benches,
    bench_jmespath,
    bench_content_replacer,
    bench_merge,
    bench_allow_deny,
    bench_mapping,
    bench_grouping,
    bench_other_manipulations,
    bench_url,
    bench_proxy_stack,
    bench_access_log
);
criterion_main!(benches);
