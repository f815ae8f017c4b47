//! Go `text/template` source into a tree: the lexer and parser of the
//! subset KrakenD's flexible configuration files use (Go's
//! `text/template/parse`, `lex.go` and `parse.go`): text, `{{- -}}` trim
//! markers, comments, pipelines with `|`, `$` variables (`:=`, `=`, two in
//! `range`), fields chained on dot, variables and parentheses, string,
//! raw string, character and number literals, `if`/`else if`/`with`/
//! `range` with `else`, `break`, `continue`, `template`, `define`, `block`.
//! Function names are checked while parsing, as Go does.

use super::funcs;

/// Where: the template file's name and a 1-based line.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Control),
    With(Control),
    Range(Control),
    Template {
        line: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break(usize),
    Continue(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub otherwise: Option<Vec<Node>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    pub line: usize,
    /// Variables declared (`$x :=`, `$i, $e :=`) or assigned (`$x =`).
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Str(String),
    Int(i64),
    Float(f64),
    /// `.a.b`: fields of dot.
    Field(Vec<String>),
    /// `$x.a.b` (`$` alone is the data the template was given).
    Var(String, Vec<String>),
    Func(String),
    /// `(pipeline).a.b`.
    Sub(Box<Pipe>, Vec<String>),
}

/// A parsed file: its body and the `{{define}}`d templates in it.
pub struct Parsed {
    pub body: Vec<Node>,
    pub defines: Vec<(String, Vec<Node>)>,
}

pub fn parse(src: &str) -> Result<Parsed, ParseError> {
    let tokens = lex(src)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        ranges: 0,
        vars: vec!["$".to_owned()],
        defines: Vec::new(),
    };
    let (body, end) = parser.list()?;
    match end {
        Stop::Eof => Ok(Parsed {
            body,
            defines: parser.defines,
        }),
        Stop::End(line) => Err(err(
            line,
            "unexpected {{end}}: there is no {{if}}, {{with}}, {{range}} or {{define}} for it to close",
        )),
        Stop::Else(line) => Err(err(
            line,
            "unexpected {{else}} outside {{if}}, {{with}} or {{range}}",
        )),
    }
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Open,
    Close,
    Ident(String),
    Field(String),
    Dot,
    Var(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    LParen,
    RParen,
    Bar,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    /// Whether white space came before it inside the action: a field
    /// chains onto the term before it only when adjacent.
    spaced: bool,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn lex(src: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut line = 1;
    let mut trim_next = false;
    loop {
        let start = src[pos..].find("{{").map_or(src.len(), |i| pos + i);
        let mut text = &src[pos..start];
        let text_line = line;
        line += text.matches('\n').count();
        if trim_next {
            text = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
        }
        // `{{- ` trims the white space before it.
        let left_trim =
            src[start..].starts_with("{{-") && bytes.get(start + 3).is_some_and(|b| is_space(*b));
        if left_trim {
            text = text.trim_end_matches(|c: char| c.is_ascii_whitespace());
        }
        if !text.is_empty() {
            out.push(Token {
                tok: Tok::Text(text.to_owned()),
                line: text_line,
                spaced: false,
            });
        }
        if start == src.len() {
            return Ok(out);
        }
        pos = start + if left_trim { 4 } else { 2 };
        let open_line = line;
        // A comment: `{{/* ... */}}`, nothing else in the action.
        if src[pos..].starts_with("/*") {
            let Some(end) = src[pos + 2..].find("*/") else {
                return Err(err(open_line, "unclosed comment: end it with */}}"));
            };
            let comment_end = pos + 2 + end + 2;
            line += src[pos..comment_end].matches('\n').count();
            pos = comment_end;
            match right_delim(bytes, pos) {
                Some((len, trim)) => {
                    pos += len;
                    trim_next = trim;
                }
                None => {
                    return Err(err(
                        line,
                        "a comment must end with */}} (nothing between */ and }})",
                    ));
                }
            }
            continue;
        }
        out.push(Token {
            tok: Tok::Open,
            line: open_line,
            spaced: false,
        });
        let mut spaced = true;
        loop {
            if let Some((len, trim)) = right_delim(bytes, pos) {
                out.push(Token {
                    tok: Tok::Close,
                    line,
                    spaced,
                });
                pos += len;
                trim_next = trim;
                break;
            }
            let Some(&b) = bytes.get(pos) else {
                return Err(err(open_line, "unclosed action: it has no }}"));
            };
            if is_space(b) {
                if b == b'\n' {
                    line += 1;
                }
                pos += 1;
                spaced = true;
                continue;
            }
            let tok_line = line;
            let (tok, len) = lex_one(&src[pos..], line)?;
            line += src[pos..pos + len].matches('\n').count();
            pos += len;
            out.push(Token {
                tok,
                line: tok_line,
                spaced,
            });
            spaced = false;
        }
    }
}

/// `}}` or ` -}}` at `pos`: its length and whether it trims what follows.
fn right_delim(bytes: &[u8], pos: usize) -> Option<(usize, bool)> {
    let rest = &bytes[pos.min(bytes.len())..];
    if rest.starts_with(b"}}") {
        Some((2, false))
    } else if rest.len() >= 4 && is_space(rest[0]) && rest[1..].starts_with(b"-}}") {
        Some((4, true))
    } else {
        None
    }
}

fn ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn lex_one(s: &str, line: usize) -> Result<(Tok, usize), ParseError> {
    let c = s.chars().next().unwrap_or('\0');
    let word_len = |from: usize| {
        from + s[from..]
            .find(|c: char| !ident_char(c))
            .unwrap_or(s.len() - from)
    };
    Ok(match c {
        '(' => (Tok::LParen, 1),
        ')' => (Tok::RParen, 1),
        '|' => (Tok::Bar, 1),
        ',' => (Tok::Comma, 1),
        '=' => (Tok::Assign, 1),
        ':' if s[1..].starts_with('=') => (Tok::Declare, 2),
        '"' => {
            let (value, len) = quoted(s, line)?;
            (Tok::Str(value), len)
        }
        '`' => {
            let Some(end) = s[1..].find('`') else {
                return Err(err(line, "unterminated raw string: end it with `"));
            };
            (Tok::Str(s[1..1 + end].to_owned()), end + 2)
        }
        '\'' => {
            let (value, len) = quoted(s, line)?;
            let mut chars = value.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => (Tok::Int(c as i64), len),
                _ => {
                    return Err(err(
                        line,
                        format!("malformed character constant {}", &s[..len]),
                    ));
                }
            }
        }
        '$' => {
            let len = word_len(1);
            (Tok::Var(s[..len].to_owned()), len)
        }
        '.' if s[1..].starts_with(|c: char| c.is_ascii_digit()) => number(s, line)?,
        '.' => {
            let len = word_len(1);
            if len == 1 {
                (Tok::Dot, 1)
            } else {
                (Tok::Field(s[1..len].to_owned()), len)
            }
        }
        '0'..='9' => number(s, line)?,
        '+' | '-' if s[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.') => {
            number(s, line)?
        }
        c if ident_char(c) => {
            let len = word_len(0);
            let tok = match &s[..len] {
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                "nil" => Tok::Nil,
                word => Tok::Ident(word.to_owned()),
            };
            (tok, len)
        }
        other => {
            return Err(err(line, format!("unexpected {other:?} in an action")));
        }
    })
}

/// A Go interpreted string (`"..."`) or character (`'x'`) literal and its
/// length in the source.
fn quoted(s: &str, line: usize) -> Result<(String, usize), ParseError> {
    let quote = s.as_bytes()[0] as char;
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((out, i + 1)),
            '\n' => break,
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                let mut hex = |n: usize| -> Option<char> {
                    let digits: String = (0..n)
                        .filter_map(|_| chars.next().map(|(_, c)| c))
                        .collect();
                    u32::from_str_radix(&digits, 16)
                        .ok()
                        .and_then(char::from_u32)
                };
                let decoded = match e {
                    'n' => Some('\n'),
                    't' => Some('\t'),
                    'r' => Some('\r'),
                    'a' => Some('\x07'),
                    'b' => Some('\x08'),
                    'f' => Some('\x0c'),
                    'v' => Some('\x0b'),
                    '\\' | '"' | '\'' => Some(e),
                    'x' => hex(2),
                    'u' => hex(4),
                    'U' => hex(8),
                    _ => None,
                };
                match decoded {
                    Some(c) => out.push(c),
                    None => {
                        return Err(err(
                            line,
                            format!("unknown escape \\{e} in a quoted string"),
                        ));
                    }
                }
            }
            c => out.push(c),
        }
    }
    Err(err(
        line,
        format!("unterminated quoted string: end it with {quote}"),
    ))
}

/// A number literal: an int when it is one (decimal, `0x`, `0o`, `0b`),
/// else a float, as Go's `idealConstant`.
fn number(s: &str, line: usize) -> Result<(Tok, usize), ParseError> {
    let mut len = 0;
    let bytes = s.as_bytes();
    if matches!(bytes[0], b'+' | b'-') {
        len = 1;
    }
    while len < bytes.len() {
        let b = bytes[len];
        let exponent_sign = matches!(b, b'+' | b'-')
            && matches!(bytes[len - 1], b'e' | b'E' | b'p' | b'P')
            && !s[..len].starts_with("0x");
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || exponent_sign {
            len += 1;
        } else {
            break;
        }
    }
    let text = &s[..len];
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let clean = digits.replace('_', "");
    let int = if let Some(hex) = clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = clean
        .strip_prefix("0o")
        .or_else(|| clean.strip_prefix("0O"))
    {
        i64::from_str_radix(oct, 8).ok()
    } else if let Some(bin) = clean
        .strip_prefix("0b")
        .or_else(|| clean.strip_prefix("0B"))
    {
        i64::from_str_radix(bin, 2).ok()
    } else {
        clean.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Ok((Tok::Int(sign * i), len));
    }
    match clean.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok((Tok::Float(sign as f64 * f), len)),
        _ => Err(err(line, format!("bad number syntax: {text:?}"))),
    }
}

// ---------------------------------------------------------------- parser

enum Stop {
    Eof,
    End(usize),
    Else(usize),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// How many `{{range}}`s enclose the list being parsed.
    ranges: usize,
    /// The variables in scope, checked where they are used, as Go's parser
    /// does (`undefined variable`), even in a branch that never runs.
    vars: Vec<String>,
    defines: Vec<(String, Vec<Node>)>,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn last_line(&self) -> usize {
        self.tokens.last().map_or(1, |t| t.line)
    }

    fn expect_close(&mut self, what: &str) -> Result<(), ParseError> {
        match self.next() {
            Some(Token {
                tok: Tok::Close, ..
            }) => Ok(()),
            Some(token) => Err(err(
                token.line,
                format!("unexpected {} in {what}", describe(&token.tok)),
            )),
            None => Err(err(self.last_line(), format!("unclosed {what}"))),
        }
    }

    /// Nodes up to `{{end}}`, `{{else}}` or the end of the file.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), ParseError> {
        let mut nodes = Vec::new();
        while let Some(token) = self.next() {
            match token.tok {
                Tok::Text(text) => nodes.push(Node::Text(text)),
                Tok::Open => {
                    let keyword = match self.peek() {
                        Some(Token {
                            tok: Tok::Ident(word),
                            ..
                        }) => Some(word.clone()),
                        _ => None,
                    };
                    let line = token.line;
                    match keyword.as_deref() {
                        Some("end") => {
                            self.at += 1;
                            self.expect_close("{{end}}")?;
                            return Ok((nodes, Stop::End(line)));
                        }
                        Some("else") => {
                            self.at += 1;
                            return Ok((nodes, Stop::Else(line)));
                        }
                        Some(word @ ("if" | "with" | "range")) => {
                            let word = word.to_owned();
                            self.at += 1;
                            nodes.push(self.control(&word, line)?);
                        }
                        Some("template") => {
                            self.at += 1;
                            nodes.push(self.template(line)?);
                        }
                        Some("define") => {
                            self.at += 1;
                            self.define(line, false)?;
                        }
                        Some("block") => {
                            self.at += 1;
                            nodes.push(self.define(line, true)?);
                        }
                        Some(word @ ("break" | "continue")) if self.ranges == 0 => {
                            return Err(err(line, format!("{{{{{word}}}}} outside {{{{range}}}}")));
                        }
                        Some(word @ ("break" | "continue")) => {
                            let node = if word == "break" {
                                Node::Break(line)
                            } else {
                                Node::Continue(line)
                            };
                            self.at += 1;
                            self.expect_close(&format!("{{{{{word}}}}}"))?;
                            nodes.push(node);
                        }
                        _ => {
                            let pipe = self.pipeline(line, true, false)?;
                            if pipe.cmds.is_empty() {
                                return Err(err(
                                    line,
                                    "empty action: write something between {{ and }}",
                                ));
                            }
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => return Err(err(token.line, format!("unexpected {}", describe(&other)))),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// `{{if pipe}} list [{{else}} list | {{else if pipe}} ...] {{end}}`.
    fn control(&mut self, word: &str, line: usize) -> Result<Node, ParseError> {
        // What the control declares lives to its `{{end}}`.
        let mark = self.vars.len();
        let control = self.control_in_scope(word, line);
        self.vars.truncate(mark);
        control
    }

    fn control_in_scope(&mut self, word: &str, line: usize) -> Result<Node, ParseError> {
        let pipe = self.pipeline(line, true, word == "range")?;
        if pipe.cmds.is_empty() {
            return Err(err(line, format!("missing value for {word}")));
        }
        // `{{break}}` belongs to the range's own list, not to its else.
        let is_range = usize::from(word == "range");
        self.ranges += is_range;
        let listed = self.list();
        self.ranges -= is_range;
        let (list, end) = listed?;
        let otherwise = match end {
            Stop::Eof => {
                return Err(err(
                    line,
                    format!("{{{{{word}}}}} has no {{{{end}}}}: close it"),
                ));
            }
            Stop::End(_) => None,
            Stop::Else(else_line) => {
                // `{{else if ...}}` (and `{{else with ...}}`) opens a control
                // that shares this one's `{{end}}`.
                let chained = match self.peek() {
                    Some(Token {
                        tok: Tok::Ident(w), ..
                    }) if (w == "if" || w == "with") && w == word => Some(w.clone()),
                    _ => None,
                };
                if let Some(w) = chained {
                    self.at += 1;
                    Some(vec![self.control(&w, else_line)?])
                } else {
                    self.expect_close("{{else}}")?;
                    let (otherwise, end) = self.list()?;
                    match end {
                        Stop::End(_) => Some(otherwise),
                        Stop::Else(l) => {
                            return Err(err(
                                l,
                                format!("a second {{{{else}}}} in one {{{{{word}}}}}"),
                            ));
                        }
                        Stop::Eof => {
                            return Err(err(
                                line,
                                format!("{{{{{word}}}}} has no {{{{end}}}}: close it"),
                            ));
                        }
                    }
                }
            }
        };
        let control = Control {
            pipe,
            list,
            otherwise,
        };
        Ok(match word {
            "if" => Node::If(control),
            "with" => Node::With(control),
            _ => Node::Range(control),
        })
    }

    /// `{{template "name" [pipe]}}`.
    fn template(&mut self, line: usize) -> Result<Node, ParseError> {
        let name = match self.next() {
            Some(Token {
                tok: Tok::Str(name),
                ..
            }) => name,
            _ => {
                return Err(err(
                    line,
                    "{{template}} needs the template's name in quotes: {{template \"name.tmpl\" .}}",
                ));
            }
        };
        let pipe = self.pipeline(line, false, false)?;
        Ok(Node::Template {
            line,
            name,
            pipe: (!pipe.cmds.is_empty()).then_some(pipe),
        })
    }

    /// `{{define "name"}} list {{end}}`; a `{{block}}` is also invoked
    /// where it stands.
    fn define(&mut self, line: usize, block: bool) -> Result<Node, ParseError> {
        let name = match self.next() {
            Some(Token {
                tok: Tok::Str(name),
                ..
            }) => name,
            _ => return Err(err(line, "{{define}} and {{block}} need a name in quotes")),
        };
        let pipe = if block {
            let pipe = self.pipeline(line, false, false)?;
            (!pipe.cmds.is_empty()).then_some(pipe)
        } else {
            self.expect_close("{{define}}")?;
            None
        };
        // A defined template is its own scope: no range around it.
        let ranges = std::mem::take(&mut self.ranges);
        let vars = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let listed = self.list();
        self.ranges = ranges;
        self.vars = vars;
        let (list, end) = listed?;
        if !matches!(end, Stop::End(_)) {
            return Err(err(
                line,
                format!("{{{{define \"{name}\"}}}} has no {{{{end}}}}"),
            ));
        }
        self.defines.push((name.clone(), list));
        Ok(Node::Template { line, name, pipe })
    }

    /// A pipeline up to `}}` (or `)` when `nested`).
    fn pipeline(
        &mut self,
        line: usize,
        may_declare: bool,
        two_vars: bool,
    ) -> Result<Pipe, ParseError> {
        self.pipeline_until(line, may_declare, two_vars, false)
    }

    fn pipeline_until(
        &mut self,
        line: usize,
        may_declare: bool,
        two_vars: bool,
        nested: bool,
    ) -> Result<Pipe, ParseError> {
        let mut pipe = Pipe {
            line,
            decl: Vec::new(),
            assign: false,
            cmds: Vec::new(),
        };
        if may_declare {
            self.declaration(&mut pipe, two_vars)?;
        }
        let mut cmd = Vec::new();
        loop {
            let Some(token) = self.peek().cloned() else {
                return Err(err(line, "unclosed action: it has no }}"));
            };
            match token.tok {
                Tok::Close if !nested => {
                    self.at += 1;
                    break;
                }
                Tok::RParen if nested => {
                    self.at += 1;
                    break;
                }
                Tok::Close => return Err(err(token.line, "unclosed left parenthesis: add )")),
                Tok::RParen => return Err(err(token.line, "unexpected right parenthesis")),
                Tok::Bar => {
                    self.at += 1;
                    if cmd.is_empty() {
                        return Err(err(token.line, "missing value for a command before |"));
                    }
                    pipe.cmds.push(std::mem::take(&mut cmd));
                }
                _ => cmd.push(self.operand()?),
            }
        }
        if !cmd.is_empty() {
            pipe.cmds.push(cmd);
        } else if !pipe.cmds.is_empty() {
            return Err(err(line, "missing command after |"));
        }
        Ok(pipe)
    }

    /// `$x :=`, `$x =`, `$i, $e :=` at the start of a pipeline.
    fn declaration(&mut self, pipe: &mut Pipe, two_vars: bool) -> Result<(), ParseError> {
        let tok = |at: usize| self.tokens.get(at).map(|t| &t.tok);
        let Some(Tok::Var(first)) = tok(self.at) else {
            return Ok(());
        };
        let before = pipe.decl.len();
        match tok(self.at + 1) {
            Some(Tok::Declare) | Some(Tok::Assign) => {
                pipe.assign = matches!(tok(self.at + 1), Some(Tok::Assign));
                pipe.decl.push(first.clone());
                self.at += 2;
            }
            Some(Tok::Comma) if two_vars => {
                let Some(Tok::Var(second)) = tok(self.at + 2) else {
                    return Err(err(
                        pipe.line,
                        "range can declare two variables: {{range $i, $e := ...}}",
                    ));
                };
                match tok(self.at + 3) {
                    Some(Tok::Declare) | Some(Tok::Assign) => {
                        pipe.assign = matches!(tok(self.at + 3), Some(Tok::Assign));
                        pipe.decl = vec![first.clone(), second.clone()];
                        self.at += 4;
                    }
                    _ => return Err(err(pipe.line, "expected := after the range's variables")),
                }
            }
            _ => {}
        }
        for name in pipe.decl[before..].iter().cloned() {
            if !pipe.assign {
                self.vars.push(name);
            } else if !self.vars.contains(&name) {
                return Err(err(
                    pipe.line,
                    format!("undefined variable \"{name}\": declare it first ({name} := ...)"),
                ));
            }
        }
        Ok(())
    }

    fn operand(&mut self) -> Result<Arg, ParseError> {
        let token = self.next().expect("peeked");
        let arg = match token.tok {
            Tok::Dot => Arg::Dot,
            Tok::Nil => Arg::Nil,
            Tok::Bool(b) => Arg::Bool(b),
            Tok::Str(s) => Arg::Str(s),
            Tok::Int(i) => Arg::Int(i),
            Tok::Float(f) => Arg::Float(f),
            Tok::Field(name) => Arg::Field(self.chain(vec![name])),
            Tok::Var(name) => {
                if !self.vars.contains(&name) {
                    return Err(err(
                        token.line,
                        format!("undefined variable \"{name}\": declare it first ({name} := ...)"),
                    ));
                }
                let chain = self.chain(Vec::new());
                Arg::Var(name, chain)
            }
            Tok::Ident(name) => {
                if matches!(
                    name.as_str(),
                    "end"
                        | "else"
                        | "if"
                        | "range"
                        | "with"
                        | "template"
                        | "define"
                        | "block"
                        | "break"
                        | "continue"
                ) {
                    return Err(err(
                        token.line,
                        format!("unexpected keyword {name} inside an action"),
                    ));
                }
                if !funcs::exists(&name) {
                    return Err(err(token.line, funcs::unknown(&name)));
                }
                Arg::Func(name)
            }
            Tok::LParen => {
                let pipe = self.pipeline_until(token.line, true, false, true)?;
                if pipe.cmds.is_empty() {
                    return Err(err(token.line, "empty parentheses"));
                }
                let chain = self.chain(Vec::new());
                Arg::Sub(Box::new(pipe), chain)
            }
            other => {
                return Err(err(
                    token.line,
                    format!("unexpected {} in an operand", describe(&other)),
                ));
            }
        };
        Ok(arg)
    }

    /// Fields written right after a term (`$x.a.b`, `(...).c`).
    fn chain(&mut self, mut names: Vec<String>) -> Vec<String> {
        while let Some(Token {
            tok: Tok::Field(name),
            spaced: false,
            ..
        }) = self.peek()
        {
            names.push(name.clone());
            self.at += 1;
        }
        names
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Text(_) => "text".into(),
        Tok::Open => "{{".into(),
        Tok::Close => "}}".into(),
        Tok::Ident(s) => format!("{s:?}"),
        Tok::Field(s) => format!("field .{s}"),
        Tok::Dot => "\".\"".into(),
        Tok::Var(s) => format!("variable {s}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Int(i) => format!("number {i}"),
        Tok::Float(f) => format!("number {f}"),
        Tok::Bool(b) => format!("{b}"),
        Tok::Nil => "nil".into(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Bar => "|".into(),
        Tok::Declare => ":=".into(),
        Tok::Assign => "=".into(),
        Tok::Comma => "\",\"".into(),
    }
}
