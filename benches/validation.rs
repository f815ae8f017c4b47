//! The per-request cost of `validation/json-schema` and `validation/cel`.
//!
//! - **schema/valid_300B**, **schema/invalid_300B**: a request body of
//!   about 300 bytes checked against a schema with required fields, types,
//!   bounds, a pattern and an enum: parse the body (serde_json) and
//!   validate it; the invalid one also formats KrakenD's error lines.
//! - **cel/request_fixture**: the two endpoint checks of KrakenD CE's own
//!   fixture (`'something' in req_headers['X-Header']`,
//!   `int(req_params.Id) % 2 == 0`), including building the variables they
//!   name (a header map of lists and the parameter map) as the gateway does
//!   per request: one context, two evaluations.
//! - **cel/request_four_checks**: four checks naming params, headers,
//!   query strings, method and path (`matches`, `in`, `int()`, `size`,
//!   `startsWith`).
//! - **cel/response_2KB**: one response check on a ~2 KB merged document
//!   reading `resp_data.items` (the twenty items): converting them to CEL
//!   values dominates. **cel/response_2KB_one_field** reads only
//!   `resp_data.total` (only that field is converted);
//!   **cel/response_2KB_whole** reads `size(resp_data)` (all of it is).
//! - **cel/compile_fixture**: parsing the two fixture expressions, paid
//!   once per worker at start-up.

use std::hint::black_box;

use cel::Value as Cel;
use criterion::{Criterion, criterion_group, criterion_main};
use cuttle::pipeline::parse_owned;
use cuttle::validation::BodySchema;
use cuttle::validation::cel::{
    Bindings, Checks, DataUse, Side, Var, param_key, string_lists, strings,
};

const SCHEMA: &str = r#"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["id", "name", "email", "roles"],
  "properties": {
    "id": {"type": "integer", "minimum": 1},
    "name": {"type": "string", "minLength": 1, "maxLength": 64},
    "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
    "roles": {"type": "array", "items": {"enum": ["admin", "user", "guest"]}, "maxItems": 3},
    "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}}}
  }
}"#;

const VALID: &str = r#"{"id": 42, "name": "Ann Example", "email": "ann@example.com", "roles": ["admin", "user"], "address": {"city": "Barcelona", "zip": "08001"}, "note": "a body of about three hundred bytes, as a small API request carries, with one more field for padding"}"#;

const INVALID: &str = r#"{"id": 0, "name": "", "email": "ann.example.com", "roles": ["root", "user"], "address": {"city": 8001, "zip": "08001"}, "note": "a body of about three hundred bytes, as a small API request carries, with one more field for padding"}"#;

fn bench_schema(c: &mut Criterion) {
    let schema = BodySchema::compile(&serde_json::from_str(SCHEMA).unwrap()).unwrap();
    assert!(schema.check(VALID.as_bytes()).is_ok());
    assert!(schema.check(INVALID.as_bytes()).is_err());
    let mut group = c.benchmark_group("schema");
    group.bench_function("valid_300B", |b| {
        b.iter(|| schema.check(black_box(VALID.as_bytes())))
    });
    group.bench_function("invalid_300B", |b| {
        b.iter(|| schema.check(black_box(INVALID.as_bytes())))
    });
    group.finish();
}

/// A request's parts as the gateway has them: raw names and values, turned
/// into CEL values only when a check names them.
struct Request {
    params: Vec<(&'static str, &'static str)>,
    headers: Vec<(&'static [u8], &'static str)>,
    query: Vec<(&'static str, &'static str)>,
}

impl Bindings for Request {
    fn value(&self, var: Var) -> Cel {
        match var {
            Var::ReqMethod => Cel::from("GET"),
            Var::ReqPath => Cel::from("/cel/req-resp/30"),
            Var::ReqParams => strings(
                self.params
                    .iter()
                    .map(|(k, v)| (param_key(k), (*v).to_owned()))
                    .collect(),
            ),
            Var::ReqHeaders => string_lists(
                self.headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            cuttle::validation::cel::canonical_header(k),
                            vec![(*v).to_owned()],
                        )
                    })
                    .collect(),
            ),
            Var::ReqQuerystring => string_lists(
                self.query
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()]))
                    .collect(),
            ),
            _ => Cel::Null,
        }
    }
}

struct Response<'a>(&'a cuttle::pipeline::Value<'a>);

impl Bindings for Response<'_> {
    fn data(&self, fields: &DataUse) -> Cel {
        cuttle::validation::cel::document_fields(self.0, fields)
    }

    fn value(&self, var: Var) -> Cel {
        match var {
            Var::RespData => cuttle::validation::cel::document(self.0),
            Var::RespCompleted => Cel::Bool(true),
            _ => Cel::Null,
        }
    }
}

fn request() -> Request {
    Request {
        params: vec![("id", "30")],
        headers: vec![
            (b"x-header", "something"),
            (b"user-agent", "KrakenD Version 2.13.8"),
            (b"x-forwarded-for", "127.0.0.1"),
            (b"x-forwarded-host", "localhost:8080"),
        ],
        query: vec![("limit", "10"), ("page", "2")],
    }
}

const FIXTURE: [&str; 2] = [
    "'something' in req_headers['X-Header']",
    "int(req_params.Id) % 2 == 0",
];

fn bench_cel(c: &mut Criterion) {
    let req = request();
    let fixture = Checks::compile(FIXTURE).unwrap();
    assert!(fixture.run(Side::Request, &req).is_ok());
    let four = Checks::compile([
        "req_params.Id.matches('^[0-9]+$')",
        "'something' in req_headers['X-Header'] && size(req_headers) < 10",
        "int(req_querystring.limit[0]) <= 100",
        "req_method == 'GET' && req_path.startsWith('/cel/')",
    ])
    .unwrap();
    assert!(four.run(Side::Request, &req).is_ok());
    let doc = parse_owned(&document_2kb()).unwrap();
    let on_response = Checks::compile(["resp_completed && size(resp_data.items) == 20"]).unwrap();
    assert!(on_response.run(Side::Response, &Response(&doc)).is_ok());
    let one_field = Checks::compile(["resp_data.total == 20"]).unwrap();
    assert!(one_field.run(Side::Response, &Response(&doc)).is_ok());
    let whole = Checks::compile(["size(resp_data) == 3"]).unwrap();
    assert!(whole.run(Side::Response, &Response(&doc)).is_ok());

    let mut group = c.benchmark_group("cel");
    group.bench_function("request_fixture", |b| {
        b.iter(|| fixture.run(Side::Request, black_box(&req)))
    });
    group.bench_function("request_four_checks", |b| {
        b.iter(|| four.run(Side::Request, black_box(&req)))
    });
    group.bench_function("response_2KB", |b| {
        b.iter(|| on_response.run(Side::Response, &Response(black_box(&doc))))
    });
    group.bench_function("response_2KB_one_field", |b| {
        b.iter(|| one_field.run(Side::Response, &Response(black_box(&doc))))
    });
    group.bench_function("response_2KB_whole", |b| {
        b.iter(|| whole.run(Side::Response, &Response(black_box(&doc))))
    });
    group.bench_function("compile_fixture", |b| {
        b.iter(|| Checks::compile(black_box(FIXTURE)))
    });
    group.finish();
}

/// About 2 KB: twenty small items, as a listing endpoint returns.
fn document_2kb() -> String {
    let items: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"id": {i}, "name": "item number {i}", "price": {i}.5, "tags": ["a", "b"]}}"#
            )
        })
        .collect();
    format!(
        r#"{{"items": [{}], "total": 20, "page": 1}}"#,
        items.join(",")
    )
}

criterion_group!(benches, bench_schema, bench_cel);
criterion_main!(benches);
