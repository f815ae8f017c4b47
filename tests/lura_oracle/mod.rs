//! lura's unit tests as an oracle: each row translates one case of a lura
//! `*_test.go` (named in `lura`) into a config fragment, the backends'
//! answers, a request and what lura expects, run against the real gateway.
//!
//! All the rows of a table share one gateway and one backend: row `i` is the
//! endpoint `/c{i}` (plus the row's own `endpoint` suffix), its backend `j`
//! answers under `/c{i}b{j}` (plus the row's `url_pattern`), so the backend
//! knows which answer to give from the path alone.
//!
//! A row listed in the table's `differences` (name, reason) is a documented
//! choice: it must still differ from lura (a fix makes the run fail until the
//! row leaves the list), so no case is weakened in silence.
#![allow(clippy::disallowed_types, dead_code)]

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Backend, Gateway, Reply, Response, Seen};

/// What lura expects of the body.
pub enum Body {
    /// Equal as JSON (key order ignored).
    Json(Value),
    /// Byte for byte.
    Text(&'static str),
    /// Not checked.
    Any,
}

pub struct Case {
    /// The lura test (and sub-case) this row translates.
    pub lura: &'static str,
    /// Extra endpoint keys; `endpoint` here is appended to `/c{i}`.
    pub endpoint: Value,
    /// Each backend's extra keys (`url_pattern` appended to `/c{i}b{j}`)
    /// and its answer.
    pub backends: Vec<(Value, Reply)>,
    /// Method, path suffix after `/c{i}`, extra header lines, body.
    pub request: (&'static str, &'static str, &'static str, &'static str),
    pub status: u16,
    /// Response headers: `Some(value)` must be equal, `None` absent.
    pub headers: Vec<(&'static str, Option<&'static str>)>,
    pub body: Body,
    /// What backend `j` must have been asked (path and query), in order of
    /// calls; backends not listed are not checked.
    pub seen: Vec<(usize, &'static str)>,
    /// Backends answering from what they received instead of a fixed reply.
    pub echo: Vec<(usize, Echo)>,
    /// Response headers whose every value, in order, must be these.
    pub values: Vec<(&'static str, &'static [&'static str])>,
}

/// A backend answering from the request it received (path without the
/// row's `/c{i}b{j}` prefix, and the request).
pub type Echo = fn(&str, &Seen) -> Reply;

impl Case {
    /// A GET `/c{i}` over `backends`, expecting 200 and `body`.
    pub fn new(lura: &'static str, backends: Vec<(Value, Reply)>, body: Value) -> Case {
        Case {
            lura,
            endpoint: json!({}),
            backends,
            request: ("GET", "", "", ""),
            status: 200,
            headers: vec![],
            body: Body::Json(body),
            seen: vec![],
            echo: vec![],
            values: vec![],
        }
    }
    /// Every backend decodes with `no-op` (for a `no-op` endpoint).
    pub fn backends_no_op(mut self) -> Case {
        for (extra, _) in &mut self.backends {
            extra["encoding"] = json!("no-op");
        }
        self
    }
    /// Expects every value of header `name`, in order.
    pub fn header_values(mut self, name: &'static str, values: &'static [&'static str]) -> Case {
        self.values.push((name, values));
        self
    }
    /// Backend `j` answers with `echo` instead of its fixed reply.
    pub fn echo(mut self, backend: usize, echo: Echo) -> Case {
        self.echo.push((backend, echo));
        self
    }
    pub fn endpoint(mut self, extra: Value) -> Case {
        self.endpoint = extra;
        self
    }
    pub fn request(
        mut self,
        method: &'static str,
        suffix: &'static str,
        headers: &'static str,
        body: &'static str,
    ) -> Case {
        self.request = (method, suffix, headers, body);
        self
    }
    pub fn status(mut self, status: u16) -> Case {
        self.status = status;
        self
    }
    /// Expects header `name` (replacing an earlier expectation for it).
    pub fn header(mut self, name: &'static str, value: Option<&'static str>) -> Case {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name, value));
        self
    }
    pub fn body(mut self, body: Body) -> Case {
        self.body = body;
        self
    }
    pub fn seen(mut self, backend: usize, target: &'static str) -> Case {
        self.seen.push((backend, target));
        self
    }
}

/// A JSON answer from a backend.
pub fn ok(body: Value) -> Reply {
    crate::common::json(200, &body.to_string())
}

/// A backend fragment with no extra keys.
pub fn plain() -> Value {
    json!({})
}

/// An answer after `ms` milliseconds.
pub fn after(ms: u64, reply: Reply) -> Reply {
    Reply::Delayed(Duration::from_millis(ms), Box::new(reply))
}

fn merge(into: &mut Value, extra: &Value) {
    for (k, v) in extra.as_object().expect("an object") {
        into[k] = v.clone();
    }
}

/// Row index and backend index from a path `/c{i}b{j}...`.
fn route(path: &str) -> Option<(usize, usize)> {
    let head = path.strip_prefix("/c")?;
    let end = head.find(|c: char| !c.is_ascii_digit() && c != 'b')?;
    let (i, j) = head[..end].split_once('b')?;
    Some((i.parse().ok()?, j.parse().ok()?))
}

fn route_all(path: &str) -> Option<(usize, usize)> {
    route(path).or_else(|| {
        let head = path.strip_prefix("/c")?;
        let (i, j) = head.split_once('b')?;
        Some((i.parse().ok()?, j.parse().ok()?))
    })
}

/// Runs every row of `cases` against one gateway started with `root` keys;
/// panics listing each row that differs from lura and is not a documented
/// difference, and each documented difference that no longer differs.
pub fn run(table: &str, root: Value, cases: Vec<Case>, differences: &[(&str, &str)]) {
    run_with(table, root, cases, differences, None)
}

/// [`run`], with `fallback` answering the paths no row owns (a redirect's
/// target).
pub fn run_with(
    table: &str,
    root: Value,
    cases: Vec<Case>,
    differences: &[(&str, &str)],
    fallback: Option<Echo>,
) {
    let answers: Vec<Vec<(Reply, Option<Echo>)>> = cases
        .iter()
        .map(|c| {
            (c.backends.iter().enumerate())
                .map(|(j, (_, r))| {
                    let echo = c.echo.iter().find(|(b, _)| *b == j).map(|(_, e)| *e);
                    (r.clone(), echo)
                })
                .collect()
        })
        .collect();
    let backend = Backend::start(move |seen: &Seen| {
        let path = seen.path();
        match route_all(path).and_then(|(i, j)| Some((i, j, answers.get(i)?.get(j)?))) {
            Some((_, _, (_, Some(echo)))) => {
                let prefix_end = path[1..].find('/').map_or(path.len(), |n| n + 1);
                echo(&path[prefix_end..], seen)
            }
            Some((_, _, (reply, None))) => reply.clone(),
            None => match fallback {
                Some(echo) => echo(path, seen),
                None => crate::common::text(599, "text/plain", "no such row"),
            },
        }
    });
    let mut endpoints = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut ep = json!({});
        merge(&mut ep, &case.endpoint);
        let suffix = ep["endpoint"].as_str().unwrap_or("").to_string();
        ep["endpoint"] = json!(format!("/c{i}{suffix}"));
        if ep.get("method").is_none() && case.request.0 != "GET" {
            ep["method"] = json!(case.request.0);
        }
        let backends: Vec<Value> = case
            .backends
            .iter()
            .enumerate()
            .map(|(j, (extra, _))| {
                let mut b = json!({"host": [backend.url()]});
                merge(&mut b, extra);
                let pattern = b["url_pattern"].as_str().unwrap_or("").to_string();
                b["url_pattern"] = json!(format!("/c{i}b{j}{pattern}"));
                b
            })
            .collect();
        ep["backend"] = json!(backends);
        endpoints.push(ep);
    }
    let mut config = json!({"version": 3});
    merge(&mut config, &root);
    config["endpoints"] = json!(endpoints);
    let gw = Gateway::start(&config.to_string());

    let mut failures = Vec::new();
    let mut passed = 0;
    for (i, case) in cases.iter().enumerate() {
        let (method, suffix, headers, body) = case.request;
        let length = if body.is_empty() && method == "GET" {
            String::new()
        } else {
            format!("Content-Length: {}\r\n", body.len())
        };
        let request =
            format!("{method} /c{i}{suffix} HTTP/1.1\r\nHost: lura\r\n{headers}{length}\r\n{body}");
        let mut client = gw.client();
        client.send(request.as_bytes());
        let response = client.response_to(method);
        let problem = match response {
            None => Some("no response".to_string()),
            Some(r) => differs(case, &r, &backend.requests(), i),
        };
        let documented = differences.iter().find(|(n, _)| *n == case.lura);
        match (problem, documented) {
            (None, None) => passed += 1,
            (Some(p), None) => failures.push(format!("{}: {p}", case.lura)),
            (Some(_), Some(_)) => {}
            (None, Some(_)) => failures.push(format!(
                "{}: listed as a difference but now answers as lura does; remove it from the list",
                case.lura
            )),
        }
    }
    for (name, _) in differences {
        assert!(
            cases.iter().any(|c| c.lura == *name),
            "{table}: difference {name} names no row"
        );
    }
    eprintln!(
        "{table}: {} lura cases, {passed} as lura, {} documented differences",
        cases.len(),
        differences.len()
    );
    assert!(failures.is_empty(), "{table}:\n{}", failures.join("\n"));
}

/// Why `r` (and what the backends saw) is not what the row expects.
fn differs(case: &Case, r: &Response, seen: &[Seen], i: usize) -> Option<String> {
    if r.status != case.status {
        return Some(format!(
            "status {} (lura {}), body {}",
            r.status,
            case.status,
            r.text()
        ));
    }
    for (name, value) in &case.headers {
        if r.header(name) != *value {
            return Some(format!("{name}: {:?} (lura {value:?})", r.header(name)));
        }
    }
    for (name, want) in &case.values {
        if r.header_all(name) != *want {
            return Some(format!("{name}: {:?} (lura {want:?})", r.header_all(name)));
        }
    }
    match &case.body {
        Body::Json(want) => match serde_json::from_slice::<Value>(&r.body) {
            Ok(got) if &got == want => {}
            _ => return Some(format!("body {} (lura {want})", r.text())),
        },
        Body::Text(want) => {
            // lura's tests run unversioned ("Version undefined"); a release
            // names its version, as the gateway's X-Krakend header does.
            let version = format!("KrakenD {}", r.header("x-krakend").unwrap_or(""));
            let want = want.replace("KrakenD Version undefined", &version);
            if r.body != want.as_bytes() {
                return Some(format!("body {:?} (lura {want:?})", r.text()));
            }
        }
        Body::Any => {}
    }
    for (j, want) in &case.seen {
        let prefix = format!("/c{i}b{j}");
        let targets: Vec<String> = seen
            .iter()
            .filter(|s| route_all(s.path()) == Some((i, *j)))
            .map(|s| s.target[prefix.len()..].to_string())
            .collect();
        if !targets.iter().any(|t| t == want) {
            return Some(format!("backend {j} asked {targets:?} (lura {want:?})"));
        }
    }
    None
}
