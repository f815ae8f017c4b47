//! A small, strict XML reader producing mxj's map form (what krakend-xml's
//! decoder hands to KrakenD), read from clbanning/mxj `xml.go`:
//!
//! - the root element becomes the single key of the result;
//! - an attribute becomes a `"-name"` key; namespace prefixes are dropped
//!   (mxj uses Go's `Name.Local`);
//! - text is trimmed of `\t\r\n ` and backspace; an element with no children
//!   and no attributes is its text (`""` when empty); text that follows
//!   children or attributes becomes `"#text"` (text before the first child is
//!   dropped, as in mxj);
//! - repeated keys among siblings become an array, in document order;
//! - every value is a string (mxj's `cast` is off).
//!
//! The prolog, comments, processing instructions and `<!DOCTYPE>` are skipped;
//! CDATA is text. Anything after the root element is ignored (mxj stops there).
//! Malformed input is an error, never a panic.

use std::borrow::Cow;

use super::{DecodeError, Value, new_object};

/// Same bound as simd-json's: deeper documents are rejected.
const MAX_DEPTH: usize = 1024;

/// A parsed element before it becomes a [`Value`] (mxj's `node`).
struct Node<'a> {
    key: Cow<'a, str>,
    val: Cow<'a, str>,
    nodes: Vec<Node<'a>>,
    /// Shares its key with a sibling: goes into an array.
    dup: bool,
}

impl<'a> Node<'a> {
    fn new(key: Cow<'a, str>) -> Self {
        Node {
            key,
            val: Cow::Borrowed(""),
            nodes: Vec::new(),
            dup: false,
        }
    }
}

pub(crate) fn parse(body: &[u8]) -> Result<Value<'_>, DecodeError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| DecodeError::new("XML syntax error: invalid UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root = Reader { src: text, pos: 0 }.read_root()?;
    let mut object = new_object(1);
    let key = root.key.clone();
    object.insert(key, to_value(root));
    Ok(Value::Object(Box::new(object)))
}

/// mxj's `treeToMap`.
fn to_value(node: Node<'_>) -> Value<'_> {
    if node.nodes.is_empty() {
        return Value::String(node.val);
    }
    let mut object = new_object(node.nodes.len());
    for child in node.nodes {
        let key = child.key.clone();
        if child.dup {
            let item = to_value(child);
            match object.get_mut(&key) {
                Some(Value::Array(items)) => items.push(item),
                _ => {
                    object.insert(key, Value::Array(Box::new(vec![item])));
                }
            }
        } else {
            object.insert(key, to_value(child));
        }
    }
    Value::Object(Box::new(object))
}

fn mark_duplicates(nodes: &mut [Node<'_>]) {
    if nodes.len() < 2 {
        return;
    }
    if nodes.len() <= 16 {
        for i in 0..nodes.len() {
            for j in i + 1..nodes.len() {
                if nodes[i].key == nodes[j].key {
                    nodes[i].dup = true;
                    nodes[j].dup = true;
                }
            }
        }
        return;
    }
    // Many siblings: count keys instead of comparing every pair.
    let mut counts: ahash::AHashMap<&str, u32> = ahash::AHashMap::with_capacity(nodes.len());
    for node in nodes.iter() {
        *counts.entry(node.key.as_ref()).or_default() += 1;
    }
    let repeated: Vec<bool> = nodes
        .iter()
        .map(|n| counts.get(n.key.as_ref()).is_some_and(|c| *c > 1))
        .collect();
    for (node, dup) in nodes.iter_mut().zip(repeated) {
        node.dup = dup;
    }
}

fn syntax(reason: &str) -> DecodeError {
    DecodeError::new(format!("XML syntax error: {reason}"))
}

struct Reader<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn eof() -> DecodeError {
        syntax("unexpected EOF")
    }

    /// Skips `<?..?>`, `<!--..-->`, `<!..>`; returns false when not at one.
    fn skip_misc(&mut self) -> Result<bool, DecodeError> {
        let rest = self.rest();
        let end = if rest.starts_with("<?") {
            rest.find("?>").map(|i| i + 2)
        } else if let Some(comment) = rest.strip_prefix("<!--") {
            comment.find("-->").map(|i| i + 4 + 3)
        } else if rest.starts_with("<!") && !rest.starts_with("<![CDATA[") {
            directive_end(rest)
        } else {
            return Ok(false);
        };
        self.pos += end.ok_or_else(Self::eof)?;
        Ok(true)
    }

    fn read_root(mut self) -> Result<Node<'a>, DecodeError> {
        // Elements still open; the root is at the bottom.
        let mut stack: Vec<Node<'a>> = Vec::new();
        loop {
            if self.pos >= self.src.len() {
                return Err(Self::eof());
            }
            if self.skip_misc()? {
                continue;
            }
            let rest = self.rest();
            if let Some(cdata) = rest.strip_prefix("<![CDATA[") {
                let end = cdata.find("]]>").ok_or_else(Self::eof)?;
                let text = &cdata[..end];
                self.pos += 9 + end + 3;
                if let Some(node) = stack.last_mut() {
                    add_text(node, Cow::Borrowed(text));
                }
                continue;
            }
            if let Some(after) = rest.strip_prefix("</") {
                let (name, len) = name_at(after).ok_or_else(|| syntax("invalid end tag"))?;
                let tail = after[len..].trim_start_matches(is_space);
                if !tail.starts_with('>') {
                    return Err(syntax("invalid characters between </ and >"));
                }
                self.pos = self.src.len() - tail.len() + 1;
                let mut node = stack
                    .pop()
                    .ok_or_else(|| syntax("unexpected end element"))?;
                if local(name) != node.key {
                    return Err(syntax("element closed by a different end element"));
                }
                mark_duplicates(&mut node.nodes);
                match stack.last_mut() {
                    Some(parent) => parent.nodes.push(node),
                    None => return Ok(node),
                }
                continue;
            }
            if let Some(after) = rest.strip_prefix('<') {
                if stack.len() >= MAX_DEPTH {
                    return Err(syntax("document nested too deeply"));
                }
                let (node, self_closing) = self.read_start(after)?;
                if self_closing {
                    match stack.last_mut() {
                        Some(parent) => parent.nodes.push(node),
                        None => return Ok(node),
                    }
                } else {
                    stack.push(node);
                }
                continue;
            }
            // Character data up to the next markup.
            let end = rest.find('<').unwrap_or(rest.len());
            let raw = &rest[..end];
            self.pos += end;
            let text = unescape(raw)?;
            if let Some(node) = stack.last_mut() {
                add_text(node, text);
            }
        }
    }

    /// Reads `name attr="v" ...>` or `.../>` (after the `<`).
    fn read_start(&mut self, after: &'a str) -> Result<(Node<'a>, bool), DecodeError> {
        let (name, len) = name_at(after).ok_or_else(|| syntax("invalid element name"))?;
        let mut node = Node::new(Cow::Borrowed(local(name)));
        let mut rest = &after[len..];
        loop {
            let trimmed = rest.trim_start_matches(is_space);
            let had_space = trimmed.len() != rest.len();
            rest = trimmed;
            if let Some(tail) = rest.strip_prefix("/>") {
                self.pos = self.src.len() - tail.len();
                return Ok((node, true));
            }
            if let Some(tail) = rest.strip_prefix('>') {
                self.pos = self.src.len() - tail.len();
                return Ok((node, false));
            }
            if rest.is_empty() {
                return Err(Self::eof());
            }
            if !had_space {
                return Err(syntax("expected space before attribute"));
            }
            let (attr, len) = name_at(rest).ok_or_else(|| syntax("invalid attribute name"))?;
            rest = rest[len..].trim_start_matches(is_space);
            rest = rest
                .strip_prefix('=')
                .ok_or_else(|| syntax("attribute name without = in element"))?
                .trim_start_matches(is_space);
            let quote = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => q,
                Some(_) => return Err(syntax("unquoted or missing attribute value in element")),
                None => return Err(Self::eof()),
            };
            let body = &rest[1..];
            let end = body.find(quote).ok_or_else(Self::eof)?;
            let raw = &body[..end];
            if raw.contains('<') {
                return Err(syntax("unescaped < inside quoted string"));
            }
            rest = &body[end + 1..];
            let mut attr_node = Node::new(Cow::Owned(format!("-{}", local(attr))));
            attr_node.val = unescape(raw)?;
            node.nodes.push(attr_node);
        }
    }
}

/// mxj: trimmed text is kept as the value while the element has no child
/// nodes (attributes count as children), otherwise as a `#text` child.
fn add_text<'a>(node: &mut Node<'a>, text: Cow<'a, str>) {
    let trimmed = match text {
        Cow::Borrowed(t) => Cow::Borrowed(t.trim_matches(is_noise)),
        Cow::Owned(t) => {
            let trimmed = t.trim_matches(is_noise);
            if trimmed.len() == t.len() {
                Cow::Owned(t)
            } else {
                Cow::Owned(trimmed.to_owned())
            }
        }
    };
    if !node.nodes.is_empty() && !trimmed.is_empty() {
        let mut text_node = Node::new(Cow::Borrowed("#text"));
        text_node.val = trimmed;
        node.nodes.push(text_node);
    } else if node.nodes.is_empty() {
        node.val = trimmed;
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The characters mxj trims from text.
fn is_noise(c: char) -> bool {
    matches!(c, '\t' | '\r' | '\u{8}' | '\n' | ' ')
}

/// The local part of a possibly prefixed name (Go's `Name.Local`).
fn local(name: &str) -> &str {
    match name.find(':') {
        Some(i) if i > 0 && i + 1 < name.len() => &name[i + 1..],
        _ => name,
    }
}

/// An XML name at the start of `s`, with its byte length.
fn name_at(s: &str) -> Option<(&str, usize)> {
    let mut chars = s.char_indices();
    let (_, first) = chars.next()?;
    if !(first.is_alphabetic() || first == '_' || first == ':') {
        return None;
    }
    let len = chars
        .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.')))
        .map_or(s.len(), |(i, _)| i);
    Some((&s[..len], len))
}

/// End of a `<!...>` directive, allowing a bracketed internal subset.
fn directive_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    for (i, b) in s.bytes().enumerate().skip(2) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[') => depth += 1,
            (None, b']') => depth = depth.saturating_sub(1),
            (None, b'>') if depth == 0 => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// Replaces the five predefined entities and character references; any
/// other `&` is an error, as in Go's strict decoder.
fn unescape(raw: &str) -> Result<Cow<'_, str>, DecodeError> {
    let Some(first) = raw.find('&') else {
        return Ok(Cow::Borrowed(raw));
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..first]);
    let mut rest = &raw[first..];
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .filter(|i| *i <= 12)
            .ok_or_else(|| syntax("invalid character entity (no semicolon)"))?;
        let entity = &after[..semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => char_reference(entity).ok_or_else(|| syntax("invalid character entity"))?,
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

fn char_reference(entity: &str) -> Option<char> {
    let digits = entity.strip_prefix('#')?;
    let code = match digits.strip_prefix('x') {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<u32>().ok()?,
    };
    char::from_u32(code).filter(|c| *c != '\0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::to_json;

    /// Parses `xml` and compares its JSON rendering; `ERR` expects an error.
    fn check(xml: &str, expected: &str) {
        let got = match parse(xml.as_bytes()) {
            Ok(value) => to_json(&value),
            Err(_) => "ERR".to_string(),
        };
        assert_eq!(got, expected, "parsing {xml:?}");
    }

    #[test]
    fn documents() {
        let cases: &[(&str, &str)] = &[
            (
                r#"<user type="admin"><name>Elliot</name><social><facebook>https://facebook.com</facebook></social></user>"#,
                r#"{"user":{"-type":"admin","name":"Elliot","social":{"facebook":"https://facebook.com"}}}"#,
            ),
            (
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- hi -->\n<a>\n  <b>1</b>\n  <b>2</b>\n  <c/>\n</a>\n",
                r#"{"a":{"b":["1","2"],"c":""}}"#,
            ),
            (
                r#"<a x="1">text</a>"#,
                r##"{"a":{"#text":"text","-x":"1"}}"##,
            ),
            (r#"<a x='1'/>"#, r#"{"a":{"-x":"1"}}"#),
            (
                "<a>&lt;&amp;&gt;&quot;&apos;&#65;&#x42;</a>",
                r#"{"a":"\u003c\u0026\u003e\"'AB"}"#,
            ),
            (
                "<a><![CDATA[<raw> & stuff]]></a>",
                r#"{"a":"\u003craw\u003e \u0026 stuff"}"#,
            ),
            (
                "<ns:a xmlns:ns=\"u\"><ns:b>1</ns:b></ns:a>",
                r#"{"a":{"-ns":"u","b":"1"}}"#,
            ),
            ("<a><b>1</b>tail</a>", r##"{"a":{"#text":"tail","b":"1"}}"##),
            ("<a>lost<b>1</b></a>", r#"{"a":{"b":"1"}}"#),
            ("<a/>", r#"{"a":""}"#),
            ("<!DOCTYPE a [<!ENTITY x \"y\">]><a>1</a>", r#"{"a":"1"}"#),
            ("<a>1</a><ignored>", r#"{"a":"1"}"#),
            ("\u{feff}<a>é</a>", r#"{"a":"é"}"#),
        ];
        for (xml, expected) in cases {
            check(xml, expected);
        }
    }

    #[test]
    fn malformed_input_is_an_error() {
        let cases = [
            "",
            "   ",
            "<a>",
            "<a></b>",
            "</a>",
            "<a x=1></a>",
            "<a x=\"1></a>",
            "<a>&bogus;</a>",
            "<a>& </a>",
            "<a><!-- unterminated</a>",
            "<a><![CDATA[x</a>",
            "<1a/>",
            "<a x=\"<\"/>",
            "<a b=\"1\"c=\"2\"/>",
            "<?xml",
            "<a>&#0;</a>",
            "<a>&#xffffffff;</a>",
        ];
        for xml in cases {
            check(xml, "ERR");
        }
        assert!(parse(&[b'<', b'a', b'>', 0xff, b'<', b'/', b'a', b'>']).is_err());
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowed() {
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        check(&deep, "ERR");
    }

    #[test]
    fn many_repeated_siblings() {
        let xml = format!("<r>{}<x>y</x></r>", "<i>1</i>".repeat(20));
        let value = parse(xml.as_bytes()).unwrap();
        let Value::Object(root) = &value else {
            panic!()
        };
        let Some(Value::Object(r)) = root.get("r") else {
            panic!()
        };
        assert!(matches!(r.get("i"), Some(Value::Array(a)) if a.len() == 20));
        assert!(matches!(r.get("x"), Some(Value::String(s)) if s == "y"));
    }
}
