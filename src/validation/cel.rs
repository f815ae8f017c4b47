//! `validation/cel`: lists of CEL expressions (the `cel` crate) compiled at
//! start-up and checked per request, as krakend-cel does.
//!
//! Each expression is sorted by the variables it names: `resp_*` ones check
//! a response, `req_*` (and `now`-only) ones the request, and ones naming
//! only `JWT` (and `now`) the verified claims, before anything else. An
//! expression passes when it evaluates to `true`; `false`, another value or
//! an evaluation error (a missing key, a type mismatch) fails it. The index
//! KrakenD reports ("request aborted by evaluator #N") counts within the
//! expression's side, as krakend-cel counts within its pre/post lists.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::common::types::{CelBool, CelString};
use cel::objects::{Key, Map};
use cel::{Context, Env, ExecutionError, Program, Value};

/// The variables an expression may name (krakend-cel's declarations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    ReqMethod,
    ReqPath,
    ReqParams,
    ReqHeaders,
    ReqQuerystring,
    RespCompleted,
    RespMetadataStatus,
    RespMetadataHeaders,
    RespData,
    Jwt,
    Now,
}

impl Var {
    const ALL: [Var; 11] = [
        Var::ReqMethod,
        Var::ReqPath,
        Var::ReqParams,
        Var::ReqHeaders,
        Var::ReqQuerystring,
        Var::RespCompleted,
        Var::RespMetadataStatus,
        Var::RespMetadataHeaders,
        Var::RespData,
        Var::Jwt,
        Var::Now,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Var::ReqMethod => "req_method",
            Var::ReqPath => "req_path",
            Var::ReqParams => "req_params",
            Var::ReqHeaders => "req_headers",
            Var::ReqQuerystring => "req_querystring",
            Var::RespCompleted => "resp_completed",
            Var::RespMetadataStatus => "resp_metadata_status",
            Var::RespMetadataHeaders => "resp_metadata_headers",
            Var::RespData => "resp_data",
            Var::Jwt => "JWT",
            Var::Now => "now",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    fn is_request(self) -> bool {
        matches!(
            self,
            Var::ReqMethod | Var::ReqPath | Var::ReqParams | Var::ReqHeaders | Var::ReqQuerystring
        )
    }

    fn is_response(self) -> bool {
        matches!(
            self,
            Var::RespCompleted | Var::RespMetadataStatus | Var::RespMetadataHeaders | Var::RespData
        )
    }
}

/// A set of [`Var`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vars(u16);

impl Vars {
    pub fn contains(self, var: Var) -> bool {
        self.0 & var.bit() != 0
    }

    fn any(self, test: fn(Var) -> bool) -> bool {
        Var::ALL.iter().any(|&v| self.contains(v) && test(v))
    }

    fn iter(self) -> impl Iterator<Item = Var> {
        Var::ALL.into_iter().filter(move |&v| self.contains(v))
    }
}

/// Where an expression is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The verified JWT claims, before the request checks (KrakenD's JWT
    /// rejecter: 401 when one fails).
    Jwt,
    Request,
    Response,
}

/// One compiled expression.
pub struct Check {
    program: Program,
    vars: Vars,
    data: DataUse,
}

/// How an expression reads `resp_data`: only through `resp_data.field...`
/// (and `has(resp_data.field)`), so only those fields of the document need
/// converting, or as a whole (`size(resp_data)`, `'k' in resp_data`,
/// `resp_data['k']`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DataUse {
    #[default]
    Unused,
    Fields(Vec<String>),
    Whole,
}

impl DataUse {
    fn field(&mut self, name: &str) {
        match self {
            DataUse::Whole => {}
            DataUse::Fields(names) => {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_owned());
                }
            }
            DataUse::Unused => *self = DataUse::Fields(vec![name.to_owned()]),
        }
    }

    fn union(&mut self, other: &DataUse) {
        match other {
            DataUse::Unused => {}
            DataUse::Whole => *self = DataUse::Whole,
            DataUse::Fields(names) => names.iter().for_each(|n| self.field(n)),
        }
    }
}

impl Check {
    /// Parses `source` and sorts it; `Err` is a message for the config error.
    pub fn compile(source: &str) -> Result<(Check, Side), String> {
        if source.trim().is_empty() {
            return Err("empty; write a CEL expression that is true for the requests to let through, e.g. \"req_method == 'GET'\"".to_owned());
        }
        // The standard macros; `environment` adds overloads, not syntax.
        let program = Program::compile(source)
            .map_err(|error| format!("not a valid CEL expression: {error}"))?;
        let mut free = Vec::new();
        let mut data = DataUse::Unused;
        free_identifiers(program.expression(), &mut Vec::new(), &mut free, &mut data);
        let mut vars = Vars::default();
        for name in &free {
            match Var::ALL.iter().find(|v| v.name() == name) {
                Some(var) => vars.0 |= var.bit(),
                None => {
                    return Err(format!(
                        "names the unknown variable `{name}`; CEL checks know {}",
                        Var::ALL.map(Var::name).join(", ")
                    ));
                }
            }
        }
        let side = match (vars.any(Var::is_request), vars.any(Var::is_response)) {
            (true, true) => {
                return Err("mixes request (req_*) and response (resp_*) variables; KrakenD checks them at different times, so split it into two expressions".to_owned());
            }
            (false, true) => Side::Response,
            (true, false) => Side::Request,
            (false, false) if vars.contains(Var::Jwt) => Side::Jwt,
            (false, false) => Side::Request,
        };
        Ok((
            Check {
                program,
                vars,
                data,
            },
            side,
        ))
    }
}

/// Identifiers an expression reads that no comprehension (`exists`, `map`,
/// `all`, ...) binds: its variables; and how it reads `resp_data`.
fn free_identifiers(
    expr: &IdedExpr,
    bound: &mut Vec<String>,
    out: &mut Vec<String>,
    data: &mut DataUse,
) {
    let free = |name: &String, bound: &Vec<String>| !bound.contains(name);
    match &expr.expr {
        Expr::Ident(name) => {
            if free(name, bound) {
                if name == Var::RespData.name() {
                    // Read other than through a field selection.
                    *data = DataUse::Whole;
                }
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
        }
        Expr::Select(select) => match &select.operand.expr {
            Expr::Ident(name) if name == Var::RespData.name() && free(name, bound) => {
                data.field(&select.field);
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
            _ => free_identifiers(&select.operand, bound, out, data),
        },
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                free_identifiers(target, bound, out, data);
            }
            for arg in &call.args {
                free_identifiers(arg, bound, out, data);
            }
        }
        Expr::List(list) => {
            for element in &list.elements {
                free_identifiers(element, bound, out, data);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                entry_identifiers(&entry.expr, bound, out, data);
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                entry_identifiers(&entry.expr, bound, out, data);
            }
        }
        Expr::Comprehension(c) => {
            free_identifiers(&c.iter_range, bound, out, data);
            free_identifiers(&c.accu_init, bound, out, data);
            let depth = bound.len();
            bound.push(c.iter_var.clone());
            bound.extend(c.iter_var2.clone());
            bound.push(c.accu_var.clone());
            free_identifiers(&c.loop_cond, bound, out, data);
            free_identifiers(&c.loop_step, bound, out, data);
            free_identifiers(&c.result, bound, out, data);
            bound.truncate(depth);
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn entry_identifiers(
    entry: &EntryExpr,
    bound: &mut Vec<String>,
    out: &mut Vec<String>,
    data: &mut DataUse,
) {
    match entry {
        EntryExpr::StructField(field) => free_identifiers(&field.value, bound, out, data),
        EntryExpr::MapEntry(entry) => {
            free_identifiers(&entry.key, bound, out, data);
            free_identifiers(&entry.value, bound, out, data);
        }
    }
}

/// The standard library, with `matches` (RE2 syntax, as cel-go) compiling
/// each pattern once per worker thread rather than on every evaluation, as
/// the crate's own does (about 8 µs a call).
fn environment() -> Env {
    let mut env = Env::stdlib();
    cel::add_overload!(env, fn matches: (CelString<'_>, CelString<'_>) -> Result<CelBool>, id = "matches")
        .expect("the crate is built without its own `matches`");
    cel::add_member_overload!(env, fn matches: (CelString<'_>, CelString<'_>) -> Result<CelBool>)
        .expect("the crate is built without its own `matches`");
    env
}

/// Patterns compiled on this thread; cleared when it holds too many (a
/// pattern may come from request data).
const MAX_PATTERNS: usize = 256;

thread_local! {
    static PATTERNS: RefCell<HashMap<std::string::String, Option<regex::Regex>>> =
        RefCell::new(HashMap::new());
}

fn matches(this: &CelString<'_>, pattern: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    PATTERNS.with(|patterns| {
        let mut patterns = patterns.borrow_mut();
        if !patterns.contains_key(pattern.inner()) {
            if patterns.len() >= MAX_PATTERNS {
                patterns.clear();
            }
            let compiled = regex::RegexBuilder::new(pattern.inner())
                .size_limit(1 << 20)
                .build()
                .ok();
            patterns.insert(pattern.inner().to_owned(), compiled);
        }
        match patterns.get(pattern.inner()) {
            Some(Some(regex)) => Ok(CelBool::from(regex.is_match(this.inner()))),
            _ => Err(ExecutionError::function_error(
                "matches",
                format!("'{}' is not a valid regular expression", pattern.inner()),
            )),
        }
    })
}

/// The checks of one endpoint or backend, split by side, in file order
/// within each side.
pub struct Checks {
    env: Arc<Env>,
    jwt: Vec<Check>,
    request: Vec<Check>,
    response: Vec<Check>,
    /// What each side's checks name, so only those variables are built.
    jwt_vars: Vars,
    request_vars: Vars,
    response_vars: Vars,
    /// How the response checks read `resp_data`, all together.
    response_data: DataUse,
}

/// Which check failed: its side and its index within that side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failed {
    pub side: Side,
    pub index: usize,
}

impl Failed {
    /// krakend-cel's error text.
    pub fn message(&self) -> String {
        format!("request aborted by evaluator #{}", self.index)
    }
}

/// Supplies the values of the variables a list of checks names; only the
/// ones named are asked for.
pub trait Bindings {
    fn value(&self, var: Var) -> Value;

    /// `resp_data`, of which the checks read only `fields` when they say
    /// which ([`DataUse::Fields`]); by default the whole of it.
    fn data(&self, _fields: &DataUse) -> Value {
        self.value(Var::RespData)
    }
}

impl Checks {
    /// Compiles the expressions of one `validation/cel`; `Err` is the
    /// index of the first that does not compile and why.
    pub fn compile<'a>(
        sources: impl IntoIterator<Item = &'a str>,
    ) -> Result<Checks, (usize, String)> {
        let mut checks = Checks {
            env: Arc::new(environment()),
            jwt: Vec::new(),
            request: Vec::new(),
            response: Vec::new(),
            jwt_vars: Vars::default(),
            request_vars: Vars::default(),
            response_vars: Vars::default(),
            response_data: DataUse::Unused,
        };
        for (index, source) in sources.into_iter().enumerate() {
            let (check, side) = Check::compile(source).map_err(|m| (index, m))?;
            let (list, vars) = match side {
                Side::Jwt => (&mut checks.jwt, &mut checks.jwt_vars),
                Side::Request => (&mut checks.request, &mut checks.request_vars),
                Side::Response => (&mut checks.response, &mut checks.response_vars),
            };
            vars.0 |= check.vars.0;
            if side == Side::Response {
                checks.response_data.union(&check.data);
            }
            list.push(check);
        }
        Ok(checks)
    }

    pub fn has(&self, side: Side) -> bool {
        !self.list(side).is_empty()
    }

    /// The variables the checks of `side` name.
    pub fn vars(&self, side: Side) -> Vars {
        match side {
            Side::Jwt => self.jwt_vars,
            Side::Request => self.request_vars,
            Side::Response => self.response_vars,
        }
    }

    fn list(&self, side: Side) -> &[Check] {
        match side {
            Side::Jwt => &self.jwt,
            Side::Request => &self.request,
            Side::Response => &self.response,
        }
    }

    /// Runs the checks of `side` in order; the first that is not `true` fails.
    pub fn run(&self, side: Side, bindings: &dyn Bindings) -> Result<(), Failed> {
        let list = self.list(side);
        if list.is_empty() {
            return Ok(());
        }
        let mut context = Context::with_env(Arc::clone(&self.env));
        for var in self.vars(side).iter() {
            let value = if var == Var::RespData {
                bindings.data(&self.response_data)
            } else {
                bindings.value(var)
            };
            context.add_variable_from_value(var.name(), value);
        }
        for (index, check) in list.iter().enumerate() {
            if !matches!(check.program.execute(&context), Ok(Value::Bool(true))) {
                return Err(Failed { side, index });
            }
        }
        Ok(())
    }
}

pub use crate::http::canonical_header;

/// lura's parameter key: the placeholder's name with its first letter
/// upper-cased (`{id_user}` is `Id_user`).
pub fn param_key(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A map of string lists, as `req_headers` and `req_querystring` are.
pub fn string_lists(entries: Vec<(String, Vec<String>)>) -> Value {
    let mut map: HashMap<Key, Value> = HashMap::with_capacity(entries.len());
    for (key, values) in entries {
        let values: Vec<Value> = values.into_iter().map(Value::from).collect();
        match map.get_mut(&Key::from(key.as_str())) {
            Some(Value::List(existing)) => Arc::make_mut(existing).extend(values),
            _ => {
                map.insert(Key::from(key), Value::List(Arc::new(values)));
            }
        }
    }
    Value::Map(Map { map: Arc::new(map) })
}

/// A map of strings, as `req_params` is.
pub fn strings(entries: Vec<(String, String)>) -> Value {
    let map: HashMap<Key, Value> = entries
        .into_iter()
        .map(|(k, v)| (Key::from(k), Value::from(v)))
        .collect();
    Value::Map(Map { map: Arc::new(map) })
}

/// An empty map (`JWT` without claims, `resp_metadata_headers` of a merged
/// response).
pub fn empty_map() -> Value {
    Value::Map(Map {
        map: Arc::new(HashMap::new()),
    })
}

/// A decoded document as a CEL value.
pub fn document(value: &crate::pipeline::Value<'_>) -> Value {
    use simd_json::StaticNode;
    use simd_json::borrowed::Value as V;
    match value {
        V::Static(StaticNode::Null) => Value::Null,
        V::Static(StaticNode::Bool(b)) => Value::Bool(*b),
        V::Static(StaticNode::I64(i)) => Value::Int(*i),
        V::Static(StaticNode::U64(u)) => match i64::try_from(*u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(*u),
        },
        V::Static(StaticNode::F64(f)) => Value::Float(*f),
        V::String(s) => Value::from(s.as_ref()),
        V::Array(items) => Value::List(Arc::new(items.iter().map(document).collect())),
        V::Object(object) => {
            let map: HashMap<Key, Value> = object
                .iter()
                .map(|(k, v)| (Key::from(k.as_ref()), document(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

/// The fields of a decoded document that checks read ([`DataUse`]), as a
/// CEL map; the whole document when they read it whole.
pub fn document_fields(value: &crate::pipeline::Value<'_>, fields: &DataUse) -> Value {
    use simd_json::borrowed::Value as V;
    match (fields, value) {
        (DataUse::Fields(names), V::Object(object)) => {
            let map: HashMap<Key, Value> = names
                .iter()
                .filter_map(|name| {
                    let found = object.get(name.as_str())?;
                    Some((Key::from(name.as_str()), document(found)))
                })
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
        _ => document(value),
    }
}

/// A JSON value (the JWT claims) as a CEL value.
pub fn json(value: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match value {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::List(Arc::new(items.iter().map(json).collect())),
        J::Object(object) => {
            let map: HashMap<Key, Value> = object
                .iter()
                .map(|(k, v)| (Key::from(k.as_str()), json(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

/// `now` as krakend-cel passes it: RFC 3339, UTC, whole seconds.
pub fn now_text(now: std::time::SystemTime) -> Value {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let time = chrono::DateTime::from_timestamp(secs as i64, 0).unwrap_or_default();
    Value::from(time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<(Var, Value)>);

    impl Bindings for Fixed {
        fn value(&self, var: Var) -> Value {
            self.0
                .iter()
                .find(|(v, _)| *v == var)
                .map(|(_, value)| value.clone())
                .unwrap_or(Value::Null)
        }
    }

    fn request() -> Fixed {
        Fixed(vec![
            (Var::ReqMethod, Value::from("GET")),
            (Var::ReqPath, Value::from("/users/42")),
            (
                Var::ReqParams,
                strings(vec![
                    ("Id".into(), "42".into()),
                    ("Nick".into(), "kate".into()),
                ]),
            ),
            (
                Var::ReqHeaders,
                string_lists(vec![
                    ("X-Header".into(), vec!["something".into()]),
                    ("X-Forwarded-For".into(), vec!["::1".into()]),
                ]),
            ),
            (
                Var::ReqQuerystring,
                string_lists(vec![("foo[]".into(), vec!["bar".into(), "baz".into()])]),
            ),
            (Var::Now, Value::from("2026-12-01T07:30:00Z")),
            (Var::Jwt, empty_map()),
        ])
    }

    fn outcome(source: &str, bindings: &Fixed) -> bool {
        let checks = Checks::compile([source]).unwrap();
        let (_, side) = Check::compile(source).unwrap();
        checks.run(side, bindings).is_ok()
    }

    #[test]
    fn request_expressions_krakend_documents() {
        let rows: &[(&str, bool)] = &[
            ("int(req_params.Id) % 2 == 0", true),
            ("int(req_params.Id) % 5 == 0", false),
            ("'something' in req_headers['X-Header']", true),
            ("'::1' in req_headers['X-Forwarded-For']", true),
            ("req_params.Nick.matches('k.*')", true),
            ("req_params.Nick.startsWith('ra')", false),
            (
                "matches(req_params.Nick, '^k') && !req_params.Nick.matches('^K')",
                true,
            ),
            ("req_params.Nick.matches('(k')", false),
            (
                "'foo[]' in req_querystring && 'bar' in req_querystring['foo[]']",
                true,
            ),
            ("has(req_querystring.foo) || has(req_params.Nick)", true),
            ("size(req_querystring['foo[]']) == 2", true),
            ("req_method == 'GET' && req_path.endsWith('/42')", true),
            ("req_headers.exists(k, k == 'X-Header')", true),
            ("timestamp(now).getDayOfWeek() == 2", true),
            ("timestamp(now) - duration('1h') < timestamp(now)", true),
            // Evaluation errors fail the check, never the worker.
            ("'x' in req_headers['Missing']", false),
            ("int(req_params.Nick) > 0", false),
            ("req_params.Id", false),
            ("1 / (size(req_params) - 2) == 0", false),
        ];
        let bindings = request();
        for (source, want) in rows {
            assert_eq!(outcome(source, &bindings), *want, "{source}");
        }
    }

    #[test]
    fn response_expressions() {
        let body =
            crate::pipeline::parse_owned(r#"{"github": {"company": "x", "id": 7}, "n": [1, 2.5]}"#)
                .unwrap();
        let bindings = Fixed(vec![
            (Var::RespData, document(&body)),
            (Var::RespCompleted, Value::Bool(true)),
            (Var::RespMetadataStatus, Value::Int(0)),
            (Var::RespMetadataHeaders, empty_map()),
        ]);
        let rows: &[(&str, bool)] = &[
            ("'company' in resp_data.github", true),
            ("has(resp_data.github.company)", true),
            ("resp_data.github.id == 7 && resp_completed", true),
            ("size(resp_data.n) == 2 && resp_data.n[1] > 2.0", true),
            ("has(resp_data.missing)", false),
            ("resp_data.missing.x == 1", false),
            (
                "size(resp_metadata_headers) == 0 && resp_metadata_status == 0",
                true,
            ),
        ];
        for (source, want) in rows {
            assert_eq!(outcome(source, &bindings), *want, "{source}");
        }
    }

    #[test]
    fn expressions_are_sorted_and_indexed_by_side() {
        let checks = Checks::compile([
            "'something' in req_headers['X-Header']",
            "has(resp_data.id)",
            "int(req_params.Id) % 2 == 0",
            "size(JWT.roles) > 1",
        ])
        .unwrap();
        assert!(checks.has(Side::Jwt) && checks.has(Side::Request) && checks.has(Side::Response));
        assert!(checks.vars(Side::Request).contains(Var::ReqParams));
        assert!(!checks.vars(Side::Request).contains(Var::RespData));
        let odd = Fixed(vec![
            (
                Var::ReqHeaders,
                string_lists(vec![("X-Header".into(), vec!["something".into()])]),
            ),
            (Var::ReqParams, strings(vec![("Id".into(), "1".into())])),
        ]);
        let failed = checks.run(Side::Request, &odd).unwrap_err();
        assert_eq!(
            failed,
            Failed {
                side: Side::Request,
                index: 1
            }
        );
        assert_eq!(failed.message(), "request aborted by evaluator #1");
        // No claims: JWT checks fail closed.
        let none = Fixed(vec![(Var::Jwt, empty_map())]);
        assert!(checks.run(Side::Jwt, &none).is_err());
    }

    #[test]
    fn bad_expressions_are_refused_with_a_reason() {
        let rows: &[(&str, &str)] = &[
            ("", "empty"),
            ("req_method ==", "not a valid CEL expression"),
            ("req_params.Id &&& true", "not a valid CEL expression"),
            (
                "resp_headers['X'] == 'y'",
                "unknown variable `resp_headers`",
            ),
            ("req_method == resp_data.method", "mixes request"),
        ];
        for (source, want) in rows {
            let error = Check::compile(source).err().unwrap_or_default();
            assert!(error.contains(want), "{source}: {error}");
        }
    }

    #[test]
    fn only_the_fields_checks_read_are_converted() {
        let uses = |source: &str| Check::compile(source).unwrap().0.data;
        let fields =
            |names: &[&str]| DataUse::Fields(names.iter().map(|n| n.to_string()).collect());
        assert_eq!(
            uses("has(resp_data.a.b) && resp_data.c == 1"),
            fields(&["a", "c"])
        );
        assert_eq!(
            uses("resp_data.items.exists(i, i.id == resp_data.x)"),
            fields(&["items", "x"])
        );
        assert_eq!(uses("size(resp_data) > 0"), DataUse::Whole);
        assert_eq!(uses("'a' in resp_data"), DataUse::Whole);
        assert_eq!(uses("resp_data['a'] == 1"), DataUse::Whole);
        assert_eq!(uses("resp_completed"), DataUse::Unused);
        // A comprehension variable named like the document is not it.
        assert_eq!(
            uses("[{'x': 1}].all(resp_data, resp_data.x == 1) && resp_completed"),
            DataUse::Unused
        );
        let body =
            crate::pipeline::parse_owned(r#"{"a": {"b": 1}, "c": 1, "big": [1, 2, 3]}"#).unwrap();
        let narrowed = document_fields(&body, &fields(&["a", "c", "missing"]));
        let Value::Map(map) = &narrowed else {
            panic!("{narrowed:?}")
        };
        assert_eq!(map.map.len(), 2);
        assert_eq!(document_fields(&body, &DataUse::Whole), document(&body));
    }

    #[test]
    fn names_as_krakend_spells_them() {
        assert_eq!(canonical_header(b"x-SOME-thing"), "X-Some-Thing");
        assert_eq!(canonical_header(b"content-type"), "Content-Type");
        assert_eq!(param_key("id_user"), "Id_user");
        assert_eq!(param_key("id"), "Id");
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_574_200);
        assert_eq!(now_text(now), Value::from("2025-12-01T07:30:00Z"));
    }
}
