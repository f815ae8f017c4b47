//! KrakenD Enterprise's response modifiers, compiled once per worker:
//! the content replacer (`plugin/req-resp-modifier` with
//! `name: ["content-replacer"]`) and `modifier/jmespath`.
//!
//! Both run at endpoint level on the merged response (before the output
//! encoding) and at backend level on one backend's manipulated response
//! (before the merge); replacements first, then the expression.

use std::borrow::Cow;
use std::rc::Rc;

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
                (How::Literal(a, b), How::Literal(c, d)) => a == c && b == d,
                (How::Regex(a, b), How::Regex(c, d)) => a.as_str() == c.as_str() && b == d,
                _ => false,
            }
    }
}

#[derive(Clone, Debug)]
enum How {
    /// Every occurrence of the first string becomes the second.
    Literal(Box<str>, Box<str>),
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
        } else {
            How::Literal(spec.find.as_str().into(), spec.replace.as_str().into())
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
            How::Literal(find, replace) => {
                if !text.contains(&**find) {
                    return;
                }
                text.replace(&**find, replace)
            }
            How::Regex(regex, replace) => match regex.replace_all(text, &**replace) {
                Cow::Borrowed(_) => return,
                Cow::Owned(replaced) => replaced,
            },
        };
        *text = Cow::Owned(replaced);
    }
}

/// Runs a compiled expression over a document: the document is converted
/// to the crate's `Variable` tree, interpreted, and the result converted
/// back. A runtime error (a function given the wrong type) gives `null`,
/// as an expression that selects nothing does.
fn search(expression: &jmespath::Expression<'static>, value: &Value<'_>) -> Value<'static> {
    let data = to_variable(value);
    let mut context = jmespath::Context::new(expression.as_str(), &jmespath::DEFAULT_RUNTIME);
    match jmespath::interpret(&data, expression.as_ast(), &mut context) {
        Ok(result) => from_variable(&result),
        Err(error) => {
            tracing::debug!("modifier/jmespath {}: {error}", expression.as_str());
            Value::Static(StaticNode::Null)
        }
    }
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
}
