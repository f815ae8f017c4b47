//! Benchmarks of the response pipeline on small, realistic documents
//! (KrakenD's own benchmarks use objects of about ten keys).
//!
//! Manipulation benches use `iter_batched` with `SmallInput`: the setup
//! clones a parsed document (not timed) because each operation consumes or
//! mutates it. The whole-pipeline benches copy the raw body into a
//! preallocated scratch buffer inside the timed loop, as a server would
//! (simd-json parses in place), and clear and reuse the output `Vec`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use cuttle::config::{BackendEncoding, FlatmapOp, ManipulationSpec};
use cuttle::pipeline::{
    Flatmap, Manipulation, Object, Rendered, UrlTemplate, Value, decode, encode, merge_into,
    parse_owned,
};

const USER: &str = r#"{"id":42,"name":"Elliot Alderson","email":"elliot@example.com","active":true,"score":97.5,"tags":["admin","ops"],"address":{"street":"1 Main St","city":"New York","zip":"10001","geo":{"lat":40.7,"lng":-74.0}},"company":{"name":"Allsafe","role":"engineer"},"created_at":"2015-06-24T21:00:00Z"}"#;
const ORDERS: &str = r#"{"orders":[{"id":1,"total":10.5},{"id":2,"total":99}],"count":2,"page":1,"next":"/orders?page=2","currency":"USD","status":"ok","updated":"2024-01-01","region":"eu","cached":false}"#;
const PROFILE: &str = r#"{"avatar":"https://cdn.example.com/a.png","bio":"hello","followers":1024,"following":12,"verified":true,"lang":"en","tz":"UTC","theme":"dark","beta":false,"links":{"web":"https://e.com"}}"#;
const EXTRA: &str = r#"{"x1":1,"x2":2,"x3":3,"x4":4,"x5":5,"x6":6,"x7":7,"x8":8,"x9":9,"x10":10}"#;

fn doc(text: &str) -> Value<'static> {
    parse_owned(text).expect("bench JSON is valid")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn bench_merge(c: &mut Criterion) {
    let parts = [doc(USER), doc(ORDERS), doc(PROFILE), doc(EXTRA)];
    for n in [2, 3, 4] {
        c.bench_function(&format!("merge/{n}_parts"), |b| {
            b.iter_batched(
                || parts[..n].to_vec(),
                |parts| {
                    let mut acc = Object::with_capacity_and_hasher(0, Default::default());
                    for part in parts {
                        merge_into(&mut acc, part);
                    }
                    acc
                },
                BatchSize::SmallInput,
            )
        });
    }
}

fn bench_manipulation(c: &mut Criterion) {
    let user = doc(USER);
    let run = |c: &mut Criterion, name: &str, spec: ManipulationSpec, input: &Value<'static>| {
        let manipulation = Manipulation::compile(&spec).expect("bench spec is valid");
        c.bench_function(name, |b| {
            b.iter_batched(
                || input.clone(),
                |v| manipulation.apply(v),
                BatchSize::SmallInput,
            )
        });
    };
    let spec = ManipulationSpec::default;
    run(
        c,
        "allow/1_flat",
        ManipulationSpec {
            allow: strings(&["name"]),
            ..spec()
        },
        &user,
    );
    run(
        c,
        "allow/4_flat",
        ManipulationSpec {
            allow: strings(&["name", "email", "id", "tags"]),
            ..spec()
        },
        &user,
    );
    run(
        c,
        "allow/1_nested",
        ManipulationSpec {
            allow: strings(&["address.geo.lat"]),
            ..spec()
        },
        &user,
    );
    run(
        c,
        "allow/4_nested",
        ManipulationSpec {
            allow: strings(&["address.city", "address.geo.lat", "company.name", "name"]),
            ..spec()
        },
        &user,
    );
    run(
        c,
        "deny/1_flat",
        ManipulationSpec {
            deny: strings(&["email"]),
            ..spec()
        },
        &user,
    );
    run(
        c,
        "deny/4_flat",
        ManipulationSpec {
            deny: strings(&["email", "score", "tags", "created_at"]),
            ..spec()
        },
        &user,
    );
    run(
        c,
        "deny/1_nested",
        ManipulationSpec {
            deny: strings(&["address.zip"]),
            ..spec()
        },
        &user,
    );
    run(
        c,
        "deny/4_nested",
        ManipulationSpec {
            deny: strings(&["address.zip", "address.geo", "company.role", "email"]),
            ..spec()
        },
        &user,
    );
    run(
        c,
        "mapping/2",
        ManipulationSpec {
            mapping: vec![
                ("name".into(), "full_name".into()),
                ("id".into(), "user_id".into()),
            ],
            ..spec()
        },
        &user,
    );
    run(
        c,
        "group",
        ManipulationSpec {
            group: Some("user".into()),
            ..spec()
        },
        &user,
    );
    run(
        c,
        "target",
        ManipulationSpec {
            target: Some("address.geo".into()),
            ..spec()
        },
        &user,
    );
    let collection = doc(&format!(
        "[{}]",
        [r#"{"path":"/collection/2","i":1}"#; 10].join(",")
    ));
    run(
        c,
        "collection_wrap",
        ManipulationSpec {
            is_collection: true,
            ..spec()
        },
        &collection,
    );

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
    let wrapped = Manipulation::compile(&ManipulationSpec {
        is_collection: true,
        ..spec()
    })
    .expect("valid")
    .apply(collection.clone());
    c.bench_function("flatmap/krakend_collection_10", |b| {
        b.iter_batched(
            || wrapped.clone(),
            |mut v| {
                flatmap.apply(&mut v);
                v
            },
            BatchSize::SmallInput,
        )
    });
}

fn bench_url(c: &mut Criterion) {
    let template =
        UrlTemplate::compile("/users/{user}/orders/{order}?fields={fields}").expect("valid");
    let params: [(&str, &[u8]); 3] = [("user", b"42"), ("order", b"1001"), ("fields", b"id,total")];
    let mut out = Vec::with_capacity(256);
    c.bench_function("url_pattern/3_placeholders", |b| {
        b.iter(|| {
            out.clear();
            template.render(&mut out, |name, out| {
                if let Some((_, v)) = params.iter().find(|(n, _)| *n == name) {
                    out.extend_from_slice(v);
                }
            });
            black_box(out.len())
        })
    });
}

fn bench_whole_pipeline(c: &mut Criterion) {
    let backends: [(&str, ManipulationSpec); 3] = [
        (
            USER,
            ManipulationSpec {
                deny: strings(&["email", "address.geo"]),
                ..Default::default()
            },
        ),
        (
            ORDERS,
            ManipulationSpec {
                allow: strings(&["orders", "count"]),
                ..Default::default()
            },
        ),
        (
            PROFILE,
            ManipulationSpec {
                group: Some("profile".into()),
                ..Default::default()
            },
        ),
    ];
    let compiled: Vec<(&[u8], Manipulation)> = backends
        .iter()
        .map(|(body, spec)| (body.as_bytes(), Manipulation::compile(spec).expect("valid")))
        .collect();
    for n in [1, 3] {
        let mut scratch: Vec<Vec<u8>> = (0..n).map(|_| Vec::with_capacity(1024)).collect();
        let mut out = Vec::with_capacity(4096);
        c.bench_function(&format!("pipeline/{n}_backends_json"), |b| {
            b.iter(|| {
                for (buffer, (body, _)) in scratch.iter_mut().zip(&compiled) {
                    buffer.clear();
                    buffer.extend_from_slice(body);
                }
                let mut acc = Object::with_capacity_and_hasher(16, Default::default());
                for (buffer, (_, manipulation)) in scratch.iter_mut().zip(&compiled) {
                    if let Ok(value) = decode(BackendEncoding::Json, false, buffer) {
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

criterion_group!(
    benches,
    bench_merge,
    bench_manipulation,
    bench_url,
    bench_whole_pipeline
);
criterion_main!(benches);
