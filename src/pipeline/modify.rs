//! KrakenD Enterprise's response modifiers, compiled once per worker:
//! the content replacer (`plugin/req-resp-modifier` with
//! `name: ["content-replacer"]`) and `modifier/jmespath`.
//!
//! Both run at endpoint level on the merged response (before the output
//! encoding) and at backend level on one backend's manipulated response
//! (before the merge); replacements first, then the expression.

use std::borrow::Cow;
use std::rc::Rc;

use jmespath::ast::{Ast, Comparator};
use regex::Regex;
use simd_json::StaticNode;

use crate::config::{Replacement, ResponseModifiers};

use super::{Object, Value, new_object};

/// The compiled modifiers of one endpoint or backend.
#[derive(Clone, Default)]
pub struct Modifiers {
    replacements: Vec<Replacer>,
    jmespath: Option<jmespath::Expression<'static>>,
}

impl std::fmt::Debug for Modifiers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Modifiers")
            .field("replacements", &self.replacements.len())
            .field("jmespath", &self.jmespath.as_ref().map(|e| e.as_str()))
            .finish()
    }
}

impl PartialEq for Modifiers {
    fn eq(&self, other: &Self) -> bool {
        self.replacements == other.replacements
            && self.jmespath.as_ref().map(|e| e.as_str())
                == other.jmespath.as_ref().map(|e| e.as_str())
    }
}

/// One `content-replacer` entry: a field path and what to do with its string.
#[derive(Clone, Debug)]
struct Replacer {
    path: Vec<Box<str>>,
    how: How,
}

impl PartialEq for Replacer {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && match (&self.how, &other.how) {
                (How::Literal(a, b), How::Literal(c, d)) => a.needle() == c.needle() && b == d,
                (How::Regex(a, b), How::Regex(c, d)) => a.as_str() == c.as_str() && b == d,
                _ => false,
            }
    }
}

#[derive(Clone, Debug)]
enum How {
    /// Every occurrence of the text becomes the second string (Go's
    /// `strings.ReplaceAll`); the searcher is built once.
    Literal(Box<memchr::memmem::Finder<'static>>, Box<str>),
    /// Every match becomes the template (`${1}` for groups), as Go's
    /// `Regexp.ReplaceAllString`.
    Regex(Regex, Box<str>),
}

impl Modifiers {
    pub fn compile(spec: &ResponseModifiers) -> Result<Modifiers, String> {
        let replacements = spec
            .replacements
            .iter()
            .map(Replacer::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let jmespath = match &spec.jmespath {
            Some(expr) => Some(
                jmespath::compile(expr).map_err(|e| format!("modifier/jmespath: {}", e.reason))?,
            ),
            None => None,
        };
        Ok(Modifiers {
            replacements,
            jmespath,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.replacements.is_empty() && self.jmespath.is_none()
    }

    /// Applies the replacements in place, then the expression, whose result
    /// (any JSON value) replaces the document.
    pub fn apply<'a>(&self, value: Value<'a>) -> Value<'a> {
        let mut value = value;
        self.replace(&mut value);
        match &self.jmespath {
            Some(expression) => search(expression, &value),
            None => value,
        }
    }

    /// The content replacements alone.
    pub fn replace(&self, value: &mut Value<'_>) {
        for replacer in &self.replacements {
            replacer.apply(value);
        }
    }
}

impl Replacer {
    fn compile(spec: &Replacement) -> Result<Replacer, String> {
        let how = if spec.regexp {
            let regex = Regex::new(&spec.find)
                .map_err(|e| format!("content-replacer {}: {e}", spec.path))?;
            How::Regex(regex, spec.replace.as_str().into())
        } else if spec.find.is_empty() {
            return Err(format!(
                "content-replacer {}: an empty literal to find",
                spec.path
            ));
        } else {
            How::Literal(
                Box::new(memchr::memmem::Finder::new(spec.find.as_bytes()).into_owned()),
                spec.replace.as_str().into(),
            )
        };
        Ok(Replacer {
            path: spec.path.split('.').map(Box::from).collect(),
            how,
        })
    }

    /// Replaces in the string at the path; every step must be an object (no
    /// array is entered) and the field a string, else nothing changes.
    fn apply(&self, value: &mut Value<'_>) {
        let Some((last, parents)) = self.path.split_last() else {
            return;
        };
        let mut current = value;
        for step in parents {
            current = match current {
                Value::Object(object) => match object.get_mut(&**step) {
                    Some(next) => next,
                    None => return,
                },
                _ => return,
            };
        }
        let Value::Object(object) = current else {
            return;
        };
        let Some(Value::String(text)) = object.get_mut(&**last) else {
            return;
        };
        let replaced = match &self.how {
            How::Literal(finder, replace) => {
                // One pass: nothing is allocated unless the text occurs.
                let Some(first) = finder.find(text.as_bytes()) else {
                    return;
                };
                let width = finder.needle().len();
                let mut out = String::with_capacity(text.len() + replace.len());
                out.push_str(&text[..first]);
                out.push_str(replace);
                let mut rest = &text[first + width..];
                while let Some(at) = finder.find(rest.as_bytes()) {
                    out.push_str(&rest[..at]);
                    out.push_str(replace);
                    rest = &rest[at + width..];
                }
                out.push_str(rest);
                out
            }
            How::Regex(regex, replace) => match regex.replace_all(text, &**replace) {
                Cow::Borrowed(_) => return,
                Cow::Owned(replaced) => replaced,
            },
        };
        *text = Cow::Owned(replaced);
    }
}

/// Runs a compiled expression over a document, natively: fields, indexes,
/// slices, projections, filters, multi-selects and comparisons walk the
/// simd-json document itself (results borrow from it until the end), with
/// the jmespath crate's semantics (its `interpreter.rs`, mirrored node by
/// node). Only function calls go through the crate: their arguments are
/// converted to its `Variable` tree, the crate's built-in is called, and
/// its result converted back. A runtime error (a function given the wrong
/// type) gives `null`, as an expression that selects nothing does.
fn search(expression: &jmespath::Expression<'static>, value: &Value<'_>) -> Value<'static> {
    let mut context = jmespath::Context::new(expression.as_str(), &jmespath::DEFAULT_RUNTIME);
    match eval(value, expression.as_ast(), &mut context) {
        Ok(result) => result.into_owned().into_static(),
        Err(error) => {
            tracing::debug!("modifier/jmespath {}: {error}", expression.as_str());
            NULL
        }
    }
}

const NULL: Value<'static> = Value::Static(StaticNode::Null);

type Found<'v, 'a> = Result<Cow<'v, Value<'a>>, jmespath::JmespathError>;

/// Evaluates `node` against the owned or borrowed result of an earlier step.
fn eval_on<'v, 'a>(
    data: Cow<'v, Value<'a>>,
    node: &Ast,
    ctx: &mut jmespath::Context<'_>,
) -> Found<'v, 'a> {
    match data {
        Cow::Borrowed(data) => eval(data, node, ctx),
        Cow::Owned(data) => Ok(Cow::Owned(eval(&data, node, ctx)?.into_owned())),
    }
}

fn eval<'v, 'a>(data: &'v Value<'a>, node: &Ast, ctx: &mut jmespath::Context<'_>) -> Found<'v, 'a> {
    Ok(match node {
        Ast::Field { name, .. } => match data {
            Value::Object(object) => object
                .get(name.as_str())
                .map_or(Cow::Owned(NULL), Cow::Borrowed),
            _ => Cow::Owned(NULL),
        },
        Ast::Subexpr { lhs, rhs, .. } => {
            let left = eval(data, lhs, ctx)?;
            return eval_on(left, rhs, ctx);
        }
        Ast::Identity { .. } => Cow::Borrowed(data),
        Ast::Literal { value, .. } => Cow::Owned(from_variable(value)),
        Ast::Index { idx, .. } => match data {
            Value::Array(items) => {
                let at = if *idx >= 0 {
                    usize::try_from(*idx).ok()
                } else {
                    let back = usize::try_from(idx.unsigned_abs())
                        .unwrap_or(usize::MAX)
                        .max(1);
                    items.len().checked_sub(back)
                };
                at.and_then(|at| items.get(at))
                    .map_or(Cow::Owned(NULL), Cow::Borrowed)
            }
            _ => Cow::Owned(NULL),
        },
        Ast::Or { lhs, rhs, .. } => {
            let left = eval(data, lhs, ctx)?;
            if truthy(&left) {
                left
            } else {
                return eval(data, rhs, ctx);
            }
        }
        Ast::And { lhs, rhs, .. } => {
            let left = eval(data, lhs, ctx)?;
            if truthy(&left) {
                return eval(data, rhs, ctx);
            }
            left
        }
        Ast::Not { node, .. } => {
            let value = eval(data, node, ctx)?;
            Cow::Owned(Value::Static(StaticNode::Bool(!truthy(&value))))
        }
        Ast::Condition {
            predicate, then, ..
        } => {
            if truthy(&*eval(data, predicate, ctx)?) {
                return eval(data, then, ctx);
            }
            Cow::Owned(NULL)
        }
        Ast::Comparison {
            comparator,
            lhs,
            rhs,
            ..
        } => {
            let left = eval(data, lhs, ctx)?;
            let right = eval(data, rhs, ctx)?;
            Cow::Owned(
                compare(comparator, &left, &right)
                    .map_or(NULL, |b| Value::Static(StaticNode::Bool(b))),
            )
        }
        Ast::ObjectValues { node, .. } => {
            let subject = eval(data, node, ctx)?;
            match subject {
                Cow::Borrowed(Value::Object(object)) => {
                    Cow::Owned(Value::Array(Box::new(object.values().cloned().collect())))
                }
                Cow::Owned(Value::Object(object)) => Cow::Owned(Value::Array(Box::new(
                    object.into_iter().map(|(_, v)| v).collect(),
                ))),
                _ => Cow::Owned(NULL),
            }
        }
        Ast::Projection { lhs, rhs, .. } => {
            let left = eval(data, lhs, ctx)?;
            let Value::Array(items) = &*left else {
                return Ok(Cow::Owned(NULL));
            };
            let mut collected = Vec::with_capacity(items.len());
            for item in items.iter() {
                let current = eval(item, rhs, ctx)?;
                if !matches!(&*current, Value::Static(StaticNode::Null)) {
                    collected.push(current.into_owned());
                }
            }
            Cow::Owned(Value::Array(Box::new(collected)))
        }
        Ast::Flatten { node, .. } => {
            let subject = eval(data, node, ctx)?;
            let Value::Array(items) = &*subject else {
                return Ok(Cow::Owned(NULL));
            };
            let mut collected = Vec::with_capacity(items.len());
            for item in items.iter() {
                match item {
                    Value::Array(inner) => collected.extend(inner.iter().cloned()),
                    other => collected.push(other.clone()),
                }
            }
            Cow::Owned(Value::Array(Box::new(collected)))
        }
        Ast::MultiList { elements, .. } => {
            if matches!(data, Value::Static(StaticNode::Null)) {
                return Ok(Cow::Owned(NULL));
            }
            let mut collected = Vec::with_capacity(elements.len());
            for element in elements {
                collected.push(eval(data, element, ctx)?.into_owned());
            }
            Cow::Owned(Value::Array(Box::new(collected)))
        }
        Ast::MultiHash { elements, .. } => {
            if matches!(data, Value::Static(StaticNode::Null)) {
                return Ok(Cow::Owned(NULL));
            }
            let mut object = new_object(elements.len());
            for pair in elements {
                let value = eval(data, &pair.value, ctx)?.into_owned();
                object.insert(Cow::Owned(pair.key.clone()), value);
            }
            Cow::Owned(Value::Object(Box::new(object)))
        }
        Ast::Function { name, args, offset } => {
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                values.push(match arg {
                    Ast::Expref { ast, .. } => Rc::new(jmespath::Variable::Expref((**ast).clone())),
                    other => to_variable(&*eval(data, other, ctx)?),
                });
            }
            ctx.offset = *offset;
            let function = ctx.runtime.get_function(name).ok_or_else(|| {
                jmespath::JmespathError::from_ctx(
                    ctx,
                    jmespath::ErrorReason::Runtime(jmespath::RuntimeError::UnknownFunction(
                        name.clone(),
                    )),
                )
            })?;
            Cow::Owned(from_variable(&*function.evaluate(&values, ctx)?))
        }
        // An expression reference outside a function: the crate yields an
        // Expref variable, which renders as null.
        Ast::Expref { .. } => Cow::Owned(NULL),
        Ast::Slice {
            start,
            stop,
            step,
            offset,
        } => {
            if *step == 0 {
                ctx.offset = *offset;
                return Err(jmespath::JmespathError::from_ctx(
                    ctx,
                    jmespath::ErrorReason::Runtime(jmespath::RuntimeError::InvalidSlice),
                ));
            }
            match data {
                Value::Array(items) => {
                    Cow::Owned(Value::Array(Box::new(slice(items, *start, *stop, *step))))
                }
                _ => Cow::Owned(NULL),
            }
        }
    })
}

/// JMESPath truthiness: false, null, "", [] and {} are false.
fn truthy(value: &Value<'_>) -> bool {
    match value {
        Value::Static(StaticNode::Bool(b)) => *b,
        Value::Static(StaticNode::Null) => false,
        Value::Static(_) => true,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(object) => !object.is_empty(),
    }
}

fn number(value: &Value<'_>) -> Option<f64> {
    match value {
        Value::Static(StaticNode::I64(n)) => Some(*n as f64),
        Value::Static(StaticNode::U64(n)) => Some(*n as f64),
        Value::Static(StaticNode::F64(f)) => Some(*f),
        _ => None,
    }
}

/// The crate's `Variable::compare`: `==`/`!=` on any values, ordering on
/// numbers only (anything else is null).
fn compare(comparator: &Comparator, left: &Value<'_>, right: &Value<'_>) -> Option<bool> {
    match comparator {
        Comparator::Equal => Some(equal(left, right)),
        Comparator::NotEqual => Some(!equal(left, right)),
        ordering => {
            let (a, b) = (number(left)?, number(right)?);
            let order = a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Less);
            Some(match ordering {
                Comparator::LessThan => order.is_lt(),
                Comparator::LessThanEqual => order.is_le(),
                Comparator::GreaterThan => order.is_gt(),
                _ => order.is_ge(),
            })
        }
    }
}

/// JMESPath equality: same type, numbers by value (an integer equals the
/// same float), arrays and objects deeply.
fn equal(left: &Value<'_>, right: &Value<'_>) -> bool {
    match (left, right) {
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| equal(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k.as_ref()).is_some_and(|w| equal(v, w)))
        }
        (Value::Static(StaticNode::Null), Value::Static(StaticNode::Null)) => true,
        (Value::Static(StaticNode::Bool(a)), Value::Static(StaticNode::Bool(b))) => a == b,
        _ => match (number(left), number(right)) {
            // Exact float64 equality, as go-jmespath (KrakenD EE) compares
            // JSON numbers.
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
    }
}

/// Array slicing as the JMESPath specification defines it (negative ends
/// count from the back, clamped to the array; a negative step walks back).
fn slice<'a>(
    items: &[Value<'a>],
    start: Option<i32>,
    stop: Option<i32>,
    step: i32,
) -> Vec<Value<'a>> {
    let len = i32::try_from(items.len()).unwrap_or(i32::MAX);
    let mut result = Vec::new();
    if len == 0 {
        return result;
    }
    let adjust = |endpoint: i32| {
        if endpoint < 0 {
            let endpoint = endpoint + len;
            if endpoint >= 0 {
                endpoint
            } else if step < 0 {
                -1
            } else {
                0
            }
        } else if endpoint < len {
            endpoint
        } else if step < 0 {
            len - 1
        } else {
            len
        }
    };
    let a = match start {
        Some(start) => adjust(start),
        None if step < 0 => len - 1,
        None => 0,
    };
    let b = match stop {
        Some(stop) => adjust(stop),
        None if step < 0 => -1,
        None => len,
    };
    let mut i = a;
    while (step > 0 && i < b) || (step < 0 && i > b) {
        if let Some(item) = usize::try_from(i).ok().and_then(|i| items.get(i)) {
            result.push(item.clone());
        }
        i += step;
    }
    result
}

fn to_variable(value: &Value<'_>) -> jmespath::Rcvar {
    use jmespath::Variable;
    Rc::new(match value {
        Value::Static(StaticNode::Null) => Variable::Null,
        Value::Static(StaticNode::Bool(b)) => Variable::Bool(*b),
        Value::Static(StaticNode::I64(n)) => Variable::Number((*n).into()),
        Value::Static(StaticNode::U64(n)) => Variable::Number((*n).into()),
        Value::Static(StaticNode::F64(f)) => {
            serde_json::Number::from_f64(*f).map_or(Variable::Null, Variable::Number)
        }
        Value::String(s) => Variable::String(s.to_string()),
        Value::Array(items) => Variable::Array(items.iter().map(to_variable).collect()),
        Value::Object(object) => Variable::Object(
            object
                .iter()
                .map(|(k, v)| (k.to_string(), to_variable(v)))
                .collect(),
        ),
    })
}

fn from_variable(variable: &jmespath::Variable) -> Value<'static> {
    use jmespath::Variable;
    match variable {
        Variable::Null | Variable::Expref(_) => Value::Static(StaticNode::Null),
        Variable::Bool(b) => Value::Static(StaticNode::Bool(*b)),
        Variable::Number(n) => Value::Static(if let Some(i) = n.as_i64() {
            StaticNode::I64(i)
        } else if let Some(u) = n.as_u64() {
            StaticNode::U64(u)
        } else {
            StaticNode::F64(n.as_f64().unwrap_or(0.0))
        }),
        Variable::String(s) => Value::String(Cow::Owned(s.clone())),
        Variable::Array(items) => Value::Array(Box::new(
            items.iter().map(|item| from_variable(item)).collect(),
        )),
        Variable::Object(map) => {
            let mut object: Object<'static> = new_object(map.len());
            for (k, v) in map {
                object.insert(Cow::Owned(k.clone()), from_variable(v));
            }
            Value::Object(Box::new(object))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::{json, to_json};

    fn replacement(path: &str, find: &str, replace: &str, regexp: bool) -> Replacement {
        Replacement {
            path: path.into(),
            find: find.into(),
            replace: replace.into(),
            regexp,
        }
    }

    fn run(spec: ResponseModifiers, doc: &str) -> String {
        let modifiers = Modifiers::compile(&spec).unwrap();
        to_json(&modifiers.apply(json(doc)))
    }

    #[test]
    fn replaces_strings_in_objects_only() {
        let spec = ResponseModifiers {
            replacements: vec![
                replacement("data.credit_card", r"(^\d{4})(.*)", "${1}-XXXX", true),
                replacement("message", " items left", "", false),
                replacement("list.x", "a", "b", false),
                replacement("count", "1", "2", false),
                replacement("missing.deep", "a", "b", false),
            ],
            jmespath: None,
        };
        assert_eq!(
            run(
                spec,
                r#"{"data": {"credit_card": "1234567812345678"}, "message": "6 items left, 6 items left",
                    "list": [{"x": "a"}], "count": 1}"#
            ),
            r#"{"count":1,"data":{"credit_card":"1234-XXXX"},"list":[{"x":"a"}],"message":"6, 6"}"#
        );
    }

    #[test]
    fn jmespath_results_of_any_type() {
        let spec = |expr: &str| ResponseModifiers {
            replacements: Vec::new(),
            jmespath: Some(expr.into()),
        };
        let doc = r#"{"students": [{"name": "Bill", "age": 23}, {"name": "Mary", "age": 16},
                       {"name": "Jessica", "age": 19}]}"#;
        let rows = [
            ("students[?age > `18`].name", r#"["Bill","Jessica"]"#),
            ("students[0]", r#"{"age":23,"name":"Bill"}"#),
            ("students[0].name", r#""Bill""#),
            ("length(students)", "3"),
            ("avg(students[].age)", "19.333333333333332"),
            ("nothing", "null"),
            ("abs(students)", "null"),
            (
                "{n: students[-1].name, adults: length(students[?age >= `18`])}",
                r#"{"adults":2,"n":"Jessica"}"#,
            ),
        ];
        for (expr, want) in rows {
            assert_eq!(run(spec(expr), doc), want, "{expr}");
        }
    }

    /// The JMESPath compliance suite (the copy shipped with the jmespath
    /// crate: `JMESPATH_COMPLIANCE_DIR=~/.cargo/registry/src/*/jmespath-0.5.0/tests/compliance
    /// cargo test --lib compliance -- --ignored`) through the native
    /// interpreter: every case with a result must give that result.
    #[test]
    #[ignore = "needs JMESPATH_COMPLIANCE_DIR"]
    fn compliance() {
        let dir = std::env::var("JMESPATH_COMPLIANCE_DIR").expect("JMESPATH_COMPLIANCE_DIR");
        let (mut passed, mut failed) = (0, Vec::new());
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let suites: serde_json::Value = serde_json::from_str(&text).unwrap();
            for suite in suites.as_array().unwrap() {
                let given = json(&suite["given"].to_string());
                for case in suite["cases"].as_array().unwrap() {
                    let (Some(expr), Some(result)) =
                        (case["expression"].as_str(), case.get("result"))
                    else {
                        continue;
                    };
                    let Ok(expression) = jmespath::compile(expr) else {
                        failed.push(format!("{}: {expr}: does not compile", path.display()));
                        continue;
                    };
                    let got = search(&expression, &given);
                    if equal(&got, &json(&result.to_string())) {
                        passed += 1;
                    } else {
                        failed.push(format!(
                            "{}: {expr}: got {}, want {result}",
                            path.display(),
                            to_json(&got)
                        ));
                    }
                }
            }
        }
        assert!(
            failed.is_empty(),
            "{passed} passed, {} failed:\n{}",
            failed.len(),
            failed.join("\n")
        );
        eprintln!("{passed} compliance cases passed");
    }

    /// Any JSON value (as serde_json text).
    fn any_json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            (-5i64..30).prop_map(serde_json::Value::from),
            (-3.5f64..3.5).prop_map(serde_json::Value::from),
            prop_oneof![Just("a"), Just("b"), Just(""), Just("x"), Just("ab")]
                .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("a".to_string()),
                        Just("b".to_string()),
                        Just("x".to_string()),
                        Just("c".to_string())
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const EXPRESSIONS: &[&str] = &[
        "a",
        "a.b",
        "a[0]",
        "a[-1]",
        "[*].a",
        "*.a",
        "a[*].b",
        "a[].b",
        "a[]",
        "a[?b > `1`]",
        "a[?b == 'x'].c",
        "a[?!b]",
        "a || b",
        "a && b",
        "!a",
        "a[1:3]",
        "a[::-1]",
        "a[-2:]",
        "[a, b]",
        "{k: a, l: b.c}",
        "a.*",
        "a | [0]",
        "@",
        "a[?@ > `0`]",
        "a == b",
        "a != `null`",
        "a < b",
        "a >= `1.5`",
        "length(a)",
        "keys(@)",
        "sort(a)",
        "max(a)",
        "sum(a[?@ > `0`])",
        "to_string(a)",
        "type(a)",
        "sort_by(a, &b)",
        "map(&b, a)",
        "contains(a, 'x')",
        "join(',', a)",
        "merge(a, b)",
        "not_null(x, a, b)",
        "values(a)",
        "reverse(a)",
        "a[?contains(@, 'a')]",
        "a[*][0]",
        "a[][]",
        "*[?b]",
    ];

    proptest::proptest! {
        /// cuttle's evaluator and the jmespath crate's agree on any
        /// document; where the crate fails at run time, cuttle gives null.
        #[test]
        fn native_evaluation_agrees_with_the_crate(doc in any_json(), which in 0..EXPRESSIONS.len()) {
            let expr = EXPRESSIONS[which];
            let expression = jmespath::compile(expr).expect("valid expression");
            let value = json(&doc.to_string());
            let native = search(&expression, &value);
            let want = match expression.search(&doc) {
                Ok(result) => from_variable(&result),
                Err(_) => NULL,
            };
            proptest::prop_assert!(equal(&native, &want), "{expr} on {doc}: cuttle {} crate {}", to_json(&native), to_json(&want));
        }
    }
}

#[cfg(test)]
mod render_tests {
    use super::super::{Rendered, encode};
    use crate::pipeline::testutil::json;

    /// A JMESPath result of any type renders in every output format.
    #[test]
    fn any_result_renders_in_every_format() {
        for doc in [
            r#"["Bill","Jessica"]"#,
            r#""Bill""#,
            "3",
            "null",
            "[]",
            r#"[{"a":[1]}]"#,
        ] {
            let value = json(doc);
            for rendered in [
                Rendered::Json,
                Rendered::JsonCollection,
                Rendered::String,
                Rendered::Xml,
                Rendered::Yaml,
            ] {
                let mut out = Vec::new();
                encode(&value, rendered, &mut out);
                if rendered == Rendered::Json {
                    let text = String::from_utf8(out).unwrap();
                    assert_eq!(
                        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
                        serde_json::from_str::<serde_json::Value>(doc).unwrap()
                    );
                }
            }
        }
    }
}
