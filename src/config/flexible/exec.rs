//! Executing a parsed template, as Go's `text/template/exec.go`: the data
//! is dot and `$`, variables live until the `{{end}}` of the control that
//! declared them, `{{template}}` starts afresh with only `$`, a missing
//! map key is "no value" (and reading a field of it is an error), an
//! action that declares a variable prints nothing.

use std::collections::HashMap;

use super::funcs::{self, Ctx};
use super::parse::{Arg, Control, Node, Pipe};
use super::value::Value;

/// A named template and the file it came from.
pub struct Template {
    pub file: String,
    pub body: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// How deep `{{template}}` calls may nest (Go allows 100000; a config that
/// needs more than this is calling itself).
const MAX_DEPTH: usize = 100;

enum Flow {
    Normal,
    Break,
    Continue,
}

pub struct Exec<'a> {
    templates: &'a HashMap<String, Template>,
    ctx: &'a Ctx<'a>,
    vars: Vec<(String, Value)>,
    file: String,
    depth: usize,
    out: String,
}

/// Runs the template `name` on `data`.
pub fn execute(
    templates: &HashMap<String, Template>,
    name: &str,
    data: Value,
    ctx: &Ctx<'_>,
) -> std::result::Result<String, ExecError> {
    let template = templates.get(name).ok_or_else(|| ExecError {
        file: name.to_owned(),
        line: 0,
        message: format!("no template named {name:?}"),
    })?;
    let mut exec = Exec {
        templates,
        ctx,
        vars: vec![("$".to_owned(), data.clone())],
        file: template.file.clone(),
        depth: 0,
        out: String::new(),
    };
    exec.walk(&template.body, &data)?;
    Ok(exec.out)
}

type Result<T> = std::result::Result<T, ExecError>;

impl Exec<'_> {
    fn error(&self, line: usize, message: impl Into<String>) -> ExecError {
        ExecError {
            file: self.file.clone(),
            line,
            message: message.into(),
        }
    }

    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow> {
        for node in nodes {
            match node {
                Node::Text(text) => self.out.push_str(text),
                Node::Action(pipe) => {
                    let value = self.pipeline(pipe, dot)?;
                    if pipe.decl.is_empty() {
                        self.out.push_str(&value.print());
                    }
                }
                Node::If(control) | Node::With(control) => {
                    let mark = self.vars.len();
                    let value = self.pipeline(&control.pipe, dot)?;
                    let flow = if value.truth() {
                        let inner = if matches!(node, Node::With(_)) {
                            &value
                        } else {
                            dot
                        };
                        self.walk(&control.list, inner)?
                    } else if let Some(otherwise) = &control.otherwise {
                        self.walk(otherwise, dot)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range(control) => self.range(control, dot)?,
                Node::Template { line, name, pipe } => {
                    let data = match pipe {
                        Some(pipe) => self.pipeline(pipe, dot)?,
                        // Go's zero reflect.Value: "no value".
                        None => Value::Missing,
                    };
                    self.template(*line, name, data)?;
                }
                Node::Break(_) => return Ok(Flow::Break),
                Node::Continue(_) => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn range(&mut self, control: &Control, dot: &Value) -> Result<()> {
        let pipe = &control.pipe;
        let mark = self.vars.len();
        let value = self.commands(pipe, dot)?;
        // Lazily: `range 1000000` must not build a list first.
        let (count, items): (usize, Box<dyn Iterator<Item = (Value, Value)>>) = match value {
            Value::List(items) => (
                items.len(),
                Box::new(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| (Value::Int(i as i64), item)),
                ),
            ),
            Value::Map(map) => (
                map.len(),
                Box::new(map.into_iter().map(|(k, v)| (Value::Str(k), v))),
            ),
            Value::Int(n) => (
                usize::try_from(n).unwrap_or(0),
                Box::new((0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i)))),
            ),
            Value::Missing | Value::Null => (0, Box::new(std::iter::empty())),
            other => {
                return Err(self.error(
                    pipe.line,
                    format!("range can't iterate over {}", other.print()),
                ));
            }
        };
        if count == 0 {
            if let Some(otherwise) = &control.otherwise {
                self.walk(otherwise, dot)?;
            }
            return Ok(());
        }
        for (key, item) in items {
            match pipe.decl.as_slice() {
                [] => {}
                [one] => self.bind(pipe, one, item.clone())?,
                [first, second] => {
                    self.bind(pipe, first, key)?;
                    self.bind(pipe, second, item.clone())?;
                }
                _ => return Err(self.error(pipe.line, "too many variables in range")),
            }
            let flow = self.walk(&control.list, &item)?;
            self.vars.truncate(mark);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        Ok(())
    }

    fn template(&mut self, line: usize, name: &str, data: Value) -> Result<()> {
        let Some(template) = self.templates.get(name) else {
            return Err(self.error(
                line,
                format!(
                    "no template named {name:?}: templates are the *.tmpl files of FC_TEMPLATES, named by their file name, and {{{{define}}}}s"
                ),
            ));
        };
        if self.depth >= MAX_DEPTH {
            return Err(self.error(line, format!("{{{{template {name:?}}}}} nests more than {MAX_DEPTH} deep: a template calls itself")));
        }
        let vars = std::mem::replace(&mut self.vars, vec![("$".to_owned(), data.clone())]);
        let file = std::mem::replace(&mut self.file, template.file.clone());
        self.depth += 1;
        let result = self.walk(&template.body, &data);
        self.depth -= 1;
        self.file = file;
        self.vars = vars;
        result.map(|_| ())
    }

    /// A pipeline's value, its variables declared or assigned.
    fn pipeline(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value> {
        let value = self.commands(pipe, dot)?;
        for name in &pipe.decl {
            self.bind(pipe, name, value.clone())?;
        }
        Ok(value)
    }

    fn bind(&mut self, pipe: &Pipe, name: &str, value: Value) -> Result<()> {
        if pipe.assign {
            match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value,
                None => return Err(self.error(pipe.line, format!("undefined variable: {name}"))),
            }
        } else {
            self.vars.push((name.to_owned(), value));
        }
        Ok(())
    }

    fn commands(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value> {
        let mut last = None;
        for cmd in &pipe.cmds {
            last = Some(self.command(cmd, dot, last, pipe.line)?);
        }
        Ok(last.unwrap_or(Value::Missing))
    }

    /// One command; `last` is the previous command's value in a pipeline,
    /// passed as the final argument.
    fn command(
        &mut self,
        cmd: &[Arg],
        dot: &Value,
        last: Option<Value>,
        line: usize,
    ) -> Result<Value> {
        if let Arg::Func(name) = &cmd[0] {
            if name == "and" || name == "or" {
                return self.and_or(name, &cmd[1..], dot, last, line);
            }
            let mut args = Vec::with_capacity(cmd.len());
            for arg in &cmd[1..] {
                args.push(self.arg(arg, dot, line)?);
            }
            args.extend(last);
            return funcs::call(name, args, self.ctx).map_err(|message| self.error(line, message));
        }
        if cmd.len() > 1 || last.is_some() {
            return Err(self.error(
                line,
                format!("can't give argument to non-function {}", describe(&cmd[0])),
            ));
        }
        if cmd[0] == Arg::Nil {
            return Err(self.error(line, "nil is not a command"));
        }
        self.arg(&cmd[0], dot, line)
    }

    /// `and` and `or` stop at the first argument that decides, and return
    /// it (Go 1.18).
    fn and_or(
        &mut self,
        name: &str,
        args: &[Arg],
        dot: &Value,
        last: Option<Value>,
        line: usize,
    ) -> Result<Value> {
        if args.is_empty() && last.is_none() {
            return Err(self.error(
                line,
                format!("wrong number of args for {name}: want at least 1 got 0"),
            ));
        }
        let mut value = Value::Missing;
        for arg in args {
            value = self.arg(arg, dot, line)?;
            if value.truth() == (name == "or") {
                return Ok(value);
            }
        }
        Ok(last.unwrap_or(value))
    }

    fn arg(&mut self, arg: &Arg, dot: &Value, line: usize) -> Result<Value> {
        Ok(match arg {
            Arg::Dot => dot.clone(),
            Arg::Nil => Value::Null,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Field(names) => self.fields(dot, names, "", line)?,
            Arg::Var(name, names) => {
                let Some((_, value)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(self.error(
                        line,
                        format!("undefined variable \"{name}\": declare it first ({name} := ...)"),
                    ));
                };
                let value = value.clone();
                self.fields(&value, names, name, line)?
            }
            Arg::Func(name) => self
                .command(std::slice::from_ref(arg), dot, None, line)
                .map_err(|mut e| {
                    if e.message.starts_with("wrong number") {
                        e.message = format!(
                            "{name} needs arguments: put it first in parentheses, ({name} ...)"
                        );
                    }
                    e
                })?,
            Arg::Sub(pipe, names) => {
                let value = self.pipeline(pipe, dot)?;
                self.fields(&value, names, "(...)", line)?
            }
        })
    }

    /// `.a.b` read from `from`; `prefix` names `from` in messages.
    fn fields(&self, from: &Value, names: &[String], prefix: &str, line: usize) -> Result<Value> {
        static MISSING: Value = Value::Missing;
        let mut current = from;
        let mut path = prefix.to_owned();
        for name in names {
            current = match current {
                Value::Map(map) => map.get(name).unwrap_or(&MISSING),
                Value::Missing | Value::Null => {
                    let what = if path.is_empty() {
                        ".".to_owned()
                    } else {
                        path.clone()
                    };
                    // `.NAME` read from the settings themselves (dot is the
                    // data of the main template): a settings file is missing.
                    let from_settings =
                        self.depth == 0 && self.vars.first().is_some_and(|(_, root)| root == from);
                    let hint = if from_settings && path.starts_with('.') && !path[1..].contains('.')
                    {
                        format!(
                            " (is there a settings file {}.json in FC_SETTINGS?)",
                            &path[1..]
                        )
                    } else {
                        String::new()
                    };
                    return Err(self.error(
                        line,
                        format!("{what} has no value, so it has no field {name}{hint}"),
                    ));
                }
                other => {
                    return Err(self.error(
                        line,
                        format!(
                            "can't evaluate field {name} in type {} (at {path})",
                            other.type_name()
                        ),
                    ));
                }
            };
            path.push('.');
            path.push_str(name);
        }
        Ok(current.clone())
    }
}

fn describe(arg: &Arg) -> String {
    match arg {
        Arg::Field(names) => format!(".{}", names.join(".")),
        Arg::Var(name, names) if names.is_empty() => name.clone(),
        Arg::Var(name, names) => format!("{name}.{}", names.join(".")),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Int(i) => i.to_string(),
        Arg::Float(f) => f.to_string(),
        Arg::Bool(b) => b.to_string(),
        Arg::Dot => ".".into(),
        Arg::Nil => "nil".into(),
        Arg::Func(name) => name.clone(),
        Arg::Sub(..) => "(...)".into(),
    }
}
