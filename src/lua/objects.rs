//! The objects krakend-lua hands scripts: `ctx.load()` at router level
//! (`router/gin/lua.go`), `request.load()` and `response.load()` at proxy
//! and backend level (`proxy/request.go`, `proxy/response.go`). Each works
//! on an owned copy of what the gateway knows; the caller reads the copy
//! back after the run and decides what may reach the wire.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use mlua::{Lua, MultiValue, Table, UserData, UserDataMethods, Value as LuaValue};
use serde_json::Value as Json;

use super::tree;

/// Go's `textproto.CanonicalMIMEHeaderKey` (`http::canonical_header`).
pub fn canonical(name: &str) -> String {
    crate::http::canonical_header(name.as_bytes())
}

/// A request as a script sees it.
#[derive(Debug, Default, Clone)]
pub struct RequestData {
    pub method: String,
    /// The whole URL (backend level); empty at proxy level, as lura's.
    pub url: String,
    /// Router level: the request's target (path and query).
    pub host: String,
    pub path: String,
    /// Encoded query (`a=1&b=2`).
    pub query: String,
    pub params: BTreeMap<String, String>,
    /// Canonical names.
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: Vec<u8>,
    /// What the script changed.
    pub changed: Changed,
}

/// What a script set, so the caller only rebuilds what changed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Changed {
    pub method: bool,
    pub url: bool,
    pub path: bool,
    pub query: bool,
    pub params: bool,
    pub headers: bool,
    pub body: bool,
    pub host: bool,
}

/// A response as a script sees it.
#[derive(Debug, Clone)]
pub struct ResponseData {
    pub data: Rc<RefCell<Json>>,
    pub is_complete: bool,
    pub status: u16,
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: Option<Vec<u8>>,
}

/// Which object: gin's context or lura's request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Ctx,
    Request,
}

struct RequestObject {
    data: Rc<RefCell<RequestData>>,
    flavour: Flavour,
}

struct ResponseObject(Rc<RefCell<ResponseData>>);

fn arg(args: &MultiValue, i: usize) -> LuaValue {
    args.get(i).cloned().unwrap_or(LuaValue::Nil)
}

/// gopher-lua's `LValue.String()` for what scripts pass.
fn text(value: &LuaValue) -> String {
    match value {
        LuaValue::String(s) => s.to_string_lossy(),
        LuaValue::Integer(n) => n.to_string(),
        LuaValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        LuaValue::Number(n) => n.to_string(),
        LuaValue::Boolean(b) => b.to_string(),
        LuaValue::Nil => "nil".to_owned(),
        _ => String::new(),
    }
}

fn text_arg(args: &MultiValue, i: usize) -> String {
    text(&arg(args, i))
}

fn headers_table(
    lua: &Lua,
    headers: &BTreeMap<String, Vec<String>>,
) -> mlua::Result<mlua::AnyUserData> {
    let map = headers
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Json::Array(v.iter().map(|s| Json::String(s.clone())).collect()),
            )
        })
        .collect();
    lua.create_userdata(tree::new_table(map))
}

fn need_list(value: &LuaValue) -> mlua::Result<Vec<String>> {
    tree::list_strings(value)
        .ok_or_else(|| mlua::Error::RuntimeError("invalid header value, must be a luaList".into()))
}

impl UserData for RequestObject {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("method", |_, this, args: MultiValue| {
            let mut r = this.data.borrow_mut();
            if args.is_empty() {
                return Ok(Some(r.method.clone()));
            }
            r.method = text_arg(&args, 0);
            r.changed.method = true;
            Ok(None)
        });
        methods.add_method("url", |_, this, args: MultiValue| {
            let mut r = this.data.borrow_mut();
            if args.is_empty() {
                return Ok(Some(r.url.clone()));
            }
            r.url = text_arg(&args, 0);
            r.changed.url = true;
            Ok(None)
        });
        methods.add_method("path", |_, this, args: MultiValue| {
            let mut r = this.data.borrow_mut();
            if this.flavour == Flavour::Ctx {
                return Err(mlua::Error::RuntimeError(
                    "attempt to call a nil value (method 'path')".into(),
                ));
            }
            if args.is_empty() {
                return Ok(Some(r.path.clone()));
            }
            r.path = text_arg(&args, 0);
            r.changed.path = true;
            Ok(None)
        });
        methods.add_method("host", |_, this, args: MultiValue| {
            let mut r = this.data.borrow_mut();
            if this.flavour == Flavour::Request {
                return Err(mlua::Error::RuntimeError(
                    "attempt to call a nil value (method 'host')".into(),
                ));
            }
            if args.is_empty() {
                return Ok(Some(r.host.clone()));
            }
            r.host = text_arg(&args, 0);
            r.changed.host = true;
            Ok(None)
        });
        methods.add_method("query", |_, this, args: MultiValue| {
            let mut r = this.data.borrow_mut();
            match (this.flavour, args.len()) {
                // lura's request: the whole encoded query, get or set.
                (Flavour::Request, 0) => Ok(Some(r.query.clone())),
                (Flavour::Request, _) => {
                    r.query = text_arg(&args, 0);
                    r.changed.query = true;
                    Ok(None)
                }
                // gin's context: one value by name.
                (Flavour::Ctx, 0) => Err(mlua::Error::RuntimeError("need arguments".into())),
                (Flavour::Ctx, 1) => {
                    let name = text_arg(&args, 0);
                    Ok(Some(query_value(&r.query, &name)))
                }
                (Flavour::Ctx, _) => {
                    let query = set_query_value(&r.query, &text_arg(&args, 0), &text_arg(&args, 1));
                    r.query = query;
                    r.changed.query = true;
                    Ok(None)
                }
            }
        });
        methods.add_method("params", |lua, this, args: MultiValue| {
            let mut r = this.data.borrow_mut();
            match args.len() {
                0 => {
                    let map = r
                        .params
                        .iter()
                        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                        .collect();
                    Ok(LuaValue::UserData(
                        lua.create_userdata(tree::new_table(map))?,
                    ))
                }
                1 => {
                    let value = r
                        .params
                        .get(&text_arg(&args, 0))
                        .cloned()
                        .unwrap_or_default();
                    Ok(LuaValue::String(lua.create_string(value)?))
                }
                _ => {
                    let (k, v) = (text_arg(&args, 0), text_arg(&args, 1));
                    r.params.insert(k, v);
                    r.changed.params = true;
                    Ok(LuaValue::Nil)
                }
            }
        });
        methods.add_method("headers", |lua, this, args: MultiValue| {
            let mut r = this.data.borrow_mut();
            match args.len() {
                0 => Ok(LuaValue::UserData(headers_table(lua, &r.headers)?)),
                1 => {
                    let key = canonical(&text_arg(&args, 0));
                    let value = r
                        .headers
                        .get(&key)
                        .and_then(|v| v.first())
                        .cloned()
                        .unwrap_or_default();
                    Ok(LuaValue::String(lua.create_string(value)?))
                }
                _ => {
                    let key = canonical(&text_arg(&args, 0));
                    if arg(&args, 1).is_nil() {
                        r.headers.remove(&key);
                    } else {
                        r.headers.insert(key, vec![text_arg(&args, 1)]);
                    }
                    r.changed.headers = true;
                    Ok(LuaValue::Nil)
                }
            }
        });
        methods.add_method("headerList", |lua, this, args: MultiValue| {
            let mut r = this.data.borrow_mut();
            match args.len() {
                0 => Err(mlua::Error::RuntimeError("need arguments".into())),
                1 => {
                    let key = canonical(&text_arg(&args, 0));
                    let values = r.headers.get(&key).cloned().unwrap_or_default();
                    Ok(LuaValue::UserData(tree::string_list(lua, &values)?))
                }
                _ => {
                    let key = canonical(&text_arg(&args, 0));
                    let values = need_list(&arg(&args, 1))?;
                    r.headers.insert(key, values);
                    r.changed.headers = true;
                    Ok(LuaValue::Nil)
                }
            }
        });
        methods.add_method("body", |lua, this, args: MultiValue| {
            let mut r = this.data.borrow_mut();
            if args.is_empty() {
                return Ok(LuaValue::String(lua.create_string(&r.body)?));
            }
            r.body = match arg(&args, 0) {
                LuaValue::String(s) => s.as_bytes().to_vec(),
                other => text(&other).into_bytes(),
            };
            r.changed.body = true;
            Ok(LuaValue::Nil)
        });
    }
}

/// `url.Values.Get` on an encoded query.
fn query_value(query: &str, name: &str) -> String {
    for (k, v) in crate::http::query::parse_query(query.as_bytes()) {
        if k == name.as_bytes() {
            return String::from_utf8_lossy(&v).into_owned();
        }
    }
    String::new()
}

/// gin's `q.Set(k, v); RawQuery = q.Encode()`.
fn set_query_value(query: &str, name: &str, value: &str) -> String {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = crate::http::query::parse_query(query.as_bytes())
        .filter(|(k, _)| k != name.as_bytes())
        .collect();
    pairs.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
    let mut out = Vec::new();
    crate::http::query::encode_query(pairs, b'&', &mut out);
    String::from_utf8_lossy(out.get(1..).unwrap_or_default()).into_owned()
}

impl UserData for ResponseObject {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("isComplete", |_, this, args: MultiValue| {
            let mut r = this.0.borrow_mut();
            if args.is_empty() {
                return Ok(Some(r.is_complete));
            }
            r.is_complete = matches!(arg(&args, 0), LuaValue::Boolean(true))
                || !matches!(arg(&args, 0), LuaValue::Boolean(false) | LuaValue::Nil);
            Ok(None)
        });
        methods.add_method("statusCode", |_, this, args: MultiValue| {
            let mut r = this.0.borrow_mut();
            if args.is_empty() {
                return Ok(Some(i64::from(r.status)));
            }
            let n = match arg(&args, 0) {
                LuaValue::Number(n) => n,
                LuaValue::Integer(n) => n as f64,
                _ => 0.0,
            };
            r.status = if (0.0..=999.0).contains(&n) {
                n as u16
            } else {
                0
            };
            Ok(None)
        });
        methods.add_method("data", |lua, this, ()| {
            let root = Rc::clone(&this.0.borrow().data);
            lua.create_userdata(tree::Table(tree::Node::new(root)))
        });
        methods.add_method("headers", |lua, this, args: MultiValue| {
            let mut r = this.0.borrow_mut();
            match args.len() {
                0 => Ok(LuaValue::UserData(headers_table(lua, &r.headers)?)),
                1 => {
                    // lura's response getter looks the name up as written.
                    let value = r
                        .headers
                        .get(&text_arg(&args, 0))
                        .and_then(|v| v.first())
                        .cloned()
                        .unwrap_or_default();
                    Ok(LuaValue::String(lua.create_string(value)?))
                }
                _ => {
                    let key = canonical(&text_arg(&args, 0));
                    if arg(&args, 1).is_nil() {
                        r.headers.remove(&key);
                    } else {
                        r.headers.insert(key, vec![text_arg(&args, 1)]);
                    }
                    Ok(LuaValue::Nil)
                }
            }
        });
        methods.add_method("headerList", |lua, this, args: MultiValue| {
            let mut r = this.0.borrow_mut();
            match args.len() {
                0 => Err(mlua::Error::RuntimeError("need arguments".into())),
                1 => {
                    let key = canonical(&text_arg(&args, 0));
                    let values = r.headers.get(&key).cloned().unwrap_or_default();
                    Ok(LuaValue::UserData(tree::string_list(lua, &values)?))
                }
                _ => {
                    let key = canonical(&text_arg(&args, 0));
                    let values = need_list(&arg(&args, 1))?;
                    r.headers.insert(key, values);
                    Ok(LuaValue::Nil)
                }
            }
        });
        methods.add_method("body", |lua, this, args: MultiValue| {
            let mut r = this.0.borrow_mut();
            if args.is_empty() {
                let body = r.body.clone().unwrap_or_default();
                return Ok(LuaValue::String(lua.create_string(&body)?));
            }
            r.body = Some(match arg(&args, 0) {
                LuaValue::String(s) => s.as_bytes().to_vec(),
                other => text(&other).into_bytes(),
            });
            Ok(LuaValue::Nil)
        });
    }
}

/// Puts `name` (`ctx`, `request`) with its `load` into `env`.
fn bind_request(
    lua: &Lua,
    env: &Table,
    name: &str,
    data: &Rc<RefCell<RequestData>>,
    flavour: Flavour,
) -> mlua::Result<()> {
    let table = lua.create_table()?;
    let data = Rc::clone(data);
    table.set(
        "load",
        lua.create_function(move |lua, _: MultiValue| {
            lua.create_userdata(RequestObject {
                data: Rc::clone(&data),
                flavour,
            })
        })?,
    )?;
    env.set(name, table)
}

/// `ctx` (router level).
pub fn bind_ctx(lua: &Lua, env: &Table, data: &Rc<RefCell<RequestData>>) -> mlua::Result<()> {
    bind_request(lua, env, "ctx", data, Flavour::Ctx)
}

/// `request` (proxy and backend level).
pub fn bind_proxy_request(
    lua: &Lua,
    env: &Table,
    data: &Rc<RefCell<RequestData>>,
) -> mlua::Result<()> {
    bind_request(lua, env, "request", data, Flavour::Request)
}

/// `response` (proxy and backend level, post).
pub fn bind_response(lua: &Lua, env: &Table, data: &Rc<RefCell<ResponseData>>) -> mlua::Result<()> {
    let table = lua.create_table()?;
    let data = Rc::clone(data);
    table.set(
        "load",
        lua.create_function(move |lua, _: MultiValue| {
            lua.create_userdata(ResponseObject(Rc::clone(&data)))
        })?,
    )?;
    env.set("response", table)
}

/// Whether `value` may go into a header field as it is: no CR, LF or NUL
/// (RFC 9110 5.5), the rule every other value the gateway writes obeys.
pub fn header_safe(value: &str) -> bool {
    !value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// Whether `name` is a header field name (an RFC 9110 token).
pub fn header_name_ok(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(crate::http::is_tchar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_as_go() {
        assert_eq!(canonical("x-my-header"), "X-My-Header");
        assert_eq!(canonical("ACCEPT"), "Accept");
        assert_eq!(canonical("bad name"), "bad name");
    }

    #[test]
    fn gin_query_set_replaces_and_sorts() {
        assert_eq!(set_query_value("b=2&a=1", "b", "x y"), "a=1&b=x+y");
        assert_eq!(query_value("a=1&b=%20", "b"), " ");
    }
}
