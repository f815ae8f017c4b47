//! krakend-lua's `luaTable`, `luaList` and `luaNil` (`decorator/luatable.go`,
//! `lualist.go`, `luanil.go`): handles on a JSON document that scripts read
//! and change in place. A handle is the document's root and a path into it,
//! so a nested table a script got with `get` changes the document it came
//! from, as the Go maps krakend-lua hands out do.

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{AnyUserData, Lua, MultiValue, UserData, UserDataMethods, Value as LuaValue};
use serde_json::{Map, Number, Value as Json};

/// One step of a path into the document.
#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A place in a shared document.
#[derive(Clone)]
pub struct Node {
    root: Rc<RefCell<Json>>,
    path: Vec<Seg>,
}

impl Node {
    pub fn new(root: Rc<RefCell<Json>>) -> Node {
        Node {
            root,
            path: Vec::new(),
        }
    }

    fn child(&self, seg: Seg) -> Node {
        let mut path = self.path.clone();
        path.push(seg);
        Node {
            root: Rc::clone(&self.root),
            path,
        }
    }

    /// Runs `f` on the value at this place, if it still exists.
    fn with<R>(&self, f: impl FnOnce(Option<&mut Json>) -> R) -> R {
        let mut root = self.root.borrow_mut();
        let mut at: Option<&mut Json> = Some(&mut root);
        for seg in &self.path {
            at = match (at, seg) {
                (Some(Json::Object(map)), Seg::Key(k)) => map.get_mut(k),
                (Some(Json::Array(items)), Seg::Index(i)) => items.get_mut(*i),
                _ => None,
            };
        }
        f(at)
    }
}

/// `luaTable`: an object.
pub struct Table(pub Node);
/// `luaList`: an array (0-based, as krakend-lua's).
pub struct List(pub Node);
/// `luaNil`: JSON's null.
pub struct Nil;

/// A fresh `luaTable` over its own document.
pub fn new_table(value: Map<String, Json>) -> Table {
    Table(Node::new(Rc::new(RefCell::new(Json::Object(value)))))
}

/// A fresh `luaList` over its own document.
pub fn new_list(items: Vec<Json>) -> List {
    List(Node::new(Rc::new(RefCell::new(Json::Array(items)))))
}

/// What `get` pushes for the value at `node` (krakend-lua's `tableGet`).
fn push(lua: &Lua, node: Node, value: &Json) -> mlua::Result<LuaValue> {
    Ok(match value {
        Json::Null => LuaValue::UserData(lua.create_userdata(Nil)?),
        Json::Bool(b) => LuaValue::Boolean(*b),
        Json::Number(n) => lua_number(n),
        Json::String(s) => LuaValue::String(lua.create_string(s)?),
        Json::Array(_) => LuaValue::UserData(lua.create_userdata(List(node))?),
        Json::Object(_) => LuaValue::UserData(lua.create_userdata(Table(node))?),
    })
}

/// A JSON number for a script. gopher-lua has only float64; Lua 5.4 writes
/// a whole float as "3.0" (`..`, `tostring`), 5.1 and gopher-lua as "3":
/// a whole number is given as a Lua integer, which 5.4 writes as "3".
fn lua_number(n: &Number) -> LuaValue {
    if let Some(i) = n.as_i64() {
        return LuaValue::Integer(i);
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        LuaValue::Integer(f as i64)
    } else {
        LuaValue::Number(f)
    }
}

/// A Lua number as krakend-lua stores it: Go's encoder writes a whole
/// float64 without a fraction, so whole numbers are kept as integers.
fn number(n: f64) -> Json {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Json::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map_or(Json::Null, Json::Number)
    }
}

/// The document value of a Lua value `set` stores (krakend-lua's
/// `tableSet`); `None` leaves the entry as it was (nil, functions...).
pub fn to_json(value: &LuaValue) -> mlua::Result<Option<Json>> {
    Ok(Some(match value {
        LuaValue::String(s) => Json::String(s.to_string_lossy()),
        LuaValue::Number(n) => number(*n),
        LuaValue::Integer(n) => number(*n as f64),
        LuaValue::Boolean(b) => Json::Bool(*b),
        // A Lua table becomes an object of its entries; nested tables whose
        // keys are all integers become arrays (`ParseToTable`).
        LuaValue::Table(t) => Json::Object(table_entries(t)?),
        LuaValue::UserData(ud) => {
            if let Ok(t) = ud.borrow::<Table>() {
                t.0.with(|v| v.cloned()).unwrap_or(Json::Null)
            } else if let Ok(l) = ud.borrow::<List>() {
                l.0.with(|v| v.cloned()).unwrap_or(Json::Null)
            } else if ud.borrow::<Nil>().is_ok() {
                Json::Null
            } else {
                return Ok(None);
            }
        }
        _ => return Ok(None),
    }))
}

fn key_text(key: &LuaValue) -> Option<String> {
    match key {
        LuaValue::String(s) => Some(s.to_string_lossy()),
        LuaValue::Integer(n) => Some(n.to_string()),
        LuaValue::Number(n) if n.fract() == 0.0 => Some(format!("{}", *n as i64)),
        LuaValue::Number(n) => Some(n.to_string()),
        LuaValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn table_entries(t: &mlua::Table) -> mlua::Result<Map<String, Json>> {
    let mut map = Map::new();
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let Some(key) = key_text(&k) else { continue };
        let value = match &v {
            LuaValue::Table(nested) => {
                let entries = table_entries(nested)?;
                as_list(&entries).unwrap_or(Json::Object(entries))
            }
            other => match to_json(other)? {
                Some(value) => value,
                None => continue,
            },
        };
        map.insert(key, value);
    }
    Ok(map)
}

/// `tryConvertToSlice`: entries whose keys are all integers, in key order.
fn as_list(entries: &Map<String, Json>) -> Option<Json> {
    let mut keyed: Vec<(i64, &Json)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        keyed.push((k.parse().ok()?, v));
    }
    keyed.sort_by_key(|(k, _)| *k);
    Some(Json::Array(
        keyed.into_iter().map(|(_, v)| v.clone()).collect(),
    ))
}

fn arg(args: &MultiValue, i: usize) -> LuaValue {
    args.get(i).cloned().unwrap_or(LuaValue::Nil)
}

fn text_arg(args: &MultiValue, i: usize) -> String {
    match arg(args, i) {
        LuaValue::String(s) => s.to_string_lossy(),
        LuaValue::Nil => String::new(),
        other => key_text(&other).unwrap_or_default(),
    }
}

fn index_arg(args: &MultiValue, i: usize) -> i64 {
    match arg(args, i) {
        LuaValue::Integer(n) => n,
        LuaValue::Number(n) => n as i64,
        LuaValue::String(s) => s.to_str().ok().and_then(|s| s.parse().ok()).unwrap_or(0),
        _ => 0,
    }
}

fn need(args: &MultiValue, n: usize) -> mlua::Result<()> {
    if args.len() == n {
        Ok(())
    } else {
        Err(mlua::Error::RuntimeError("need arguments".into()))
    }
}

impl UserData for Table {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("get", |lua, this, args: MultiValue| {
            need(&args, 1)?;
            let key = text_arg(&args, 0);
            let child = this.0.child(Seg::Key(key.clone()));
            let value = this.0.with(|v| match v {
                Some(Json::Object(map)) => map.get(&key).cloned(),
                _ => None,
            });
            match value {
                Some(value) => push(lua, child, &value),
                None => Ok(LuaValue::Nil),
            }
        });
        methods.add_method("set", |_, this, args: MultiValue| {
            need(&args, 2)?;
            let key = text_arg(&args, 0);
            if let Some(value) = to_json(&arg(&args, 1))? {
                this.0.with(|v| {
                    if let Some(Json::Object(map)) = v {
                        map.insert(key, value);
                    }
                });
            }
            Ok(())
        });
        methods.add_method("len", |_, this, ()| {
            Ok(this.0.with(|v| match v {
                Some(Json::Object(map)) => map.len(),
                _ => 0,
            }) as i64)
        });
        methods.add_method("del", |_, this, args: MultiValue| {
            need(&args, 1)?;
            let key = text_arg(&args, 0);
            this.0.with(|v| {
                if let Some(Json::Object(map)) = v {
                    map.remove(&key);
                }
            });
            Ok(())
        });
        methods.add_method("keys", |lua, this, ()| {
            let mut keys: Vec<Json> = this.0.with(|v| match v {
                Some(Json::Object(map)) => map.keys().map(|k| Json::String(k.clone())).collect(),
                _ => Vec::new(),
            });
            keys.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            lua.create_userdata(new_list(keys))
        });
        methods.add_method("keyExists", |_, this, args: MultiValue| {
            need(&args, 1)?;
            let key = text_arg(&args, 0);
            Ok(this
                .0
                .with(|v| matches!(v, Some(Json::Object(map)) if map.contains_key(&key))))
        });
    }
}

impl UserData for List {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("get", |lua, this, args: MultiValue| {
            need(&args, 1)?;
            let index = index_arg(&args, 0);
            if index < 0 {
                return Ok(LuaValue::Nil);
            }
            let index = index as usize;
            let value = this.0.with(|v| match v {
                Some(Json::Array(items)) => items.get(index).cloned(),
                _ => None,
            });
            match value {
                Some(value) => push(lua, this.0.child(Seg::Index(index)), &value),
                None => Ok(LuaValue::Nil),
            }
        });
        methods.add_method("set", |_, this, args: MultiValue| {
            need(&args, 2)?;
            let index = index_arg(&args, 0);
            if index < 0 {
                return Ok(());
            }
            let index = index as usize;
            let value = to_json(&arg(&args, 1))?;
            this.0.with(|v| {
                if let Some(Json::Array(items)) = v {
                    if index >= items.len() {
                        items.resize(index + 1, Json::Null);
                    }
                    if let Some(value) = value {
                        items[index] = value;
                    }
                }
            });
            Ok(())
        });
        methods.add_method("len", |_, this, ()| {
            Ok(this.0.with(|v| match v {
                Some(Json::Array(items)) => items.len(),
                _ => 0,
            }) as i64)
        });
        methods.add_method("del", |_, this, args: MultiValue| {
            need(&args, 1)?;
            let index = index_arg(&args, 0);
            this.0.with(|v| {
                if let Some(Json::Array(items)) = v
                    && index >= 0
                    && (index as usize) < items.len()
                {
                    items.remove(index as usize);
                }
            });
            Ok(())
        });
    }
}

impl UserData for Nil {}

/// The global tables `luaTable`, `luaList` and `luaNil` with their `new`.
pub fn register(lua: &Lua, env: &mlua::Table) -> mlua::Result<()> {
    let table = lua.create_table()?;
    table.set(
        "new",
        lua.create_function(|lua, ()| lua.create_userdata(new_table(Map::new())))?,
    )?;
    env.set("luaTable", table)?;
    let list = lua.create_table()?;
    list.set(
        "new",
        lua.create_function(|lua, ()| lua.create_userdata(new_list(Vec::new())))?,
    )?;
    env.set("luaList", list)?;
    let nil = lua.create_table()?;
    nil.set(
        "new",
        lua.create_function(|lua, ()| lua.create_userdata(Nil))?,
    )?;
    env.set("luaNil", nil)?;
    Ok(())
}

/// The strings of a `luaList` (`headerList` setters): `None` for anything else.
pub fn list_strings(value: &LuaValue) -> Option<Vec<String>> {
    let LuaValue::UserData(ud) = value else {
        return None;
    };
    let list = ud.borrow::<List>().ok()?;
    list.0.with(|v| match v {
        Some(Json::Array(items)) => Some(
            items
                .iter()
                .map(|item| match item {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        ),
        _ => None,
    })
}

/// A `luaList` of strings.
pub fn string_list(lua: &Lua, items: &[String]) -> mlua::Result<AnyUserData> {
    lua.create_userdata(new_list(
        items.iter().map(|s| Json::String(s.clone())).collect(),
    ))
}
