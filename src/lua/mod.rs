//! krakend-lua's scripts (`modifier/lua-endpoint`, `modifier/lua-proxy`,
//! `modifier/lua-backend`) on PUC Lua 5.1, the language gopher-lua runs.
//!
//! One Lua state per worker (a thread-local: tasks never leave their
//! thread), each script's sources and code compiled once in it (`live`
//! sources: read and compiled on every run). Each request gets a fresh
//! environment table, as krakend-lua gives each request a fresh state: the
//! globals a script sets are gone with the request. The environment reads
//! through to the standard libraries only with `allow_open_libs`.
//!
//! Limits: a run is stopped by an instruction-count hook once the request's
//! deadline (the endpoint timeout) passes, and the state's memory is
//! bounded ([`MEMORY_LIMIT`]); either fails the run like any Lua error.
//! `objects` holds the request and response objects, `tree` the
//! `luaTable`/`luaList` handles.

pub mod objects;
pub mod tree;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use mlua::{Function, HookTriggers, Lua, Table, VmState};

use crate::config::LuaSettings;

/// The most memory one worker's Lua state may hold, all scripts together.
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;

/// How many VM instructions run between two looks at the clock.
const HOOK_EVERY: u32 = 4096;

/// Why a run failed, as krakend-lua's `ToError` reads the Lua error:
/// `custom_error(msg, status[, content_type])` gives its status (and type);
/// every other error is 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `None`: no status of its own (a plain Lua error, or `custom_error`
    /// with the message alone).
    pub status: Option<u16>,
    pub content_type: Option<Box<str>>,
    pub message: String,
}

impl Failure {
    fn internal(message: impl Into<String>) -> Failure {
        Failure {
            status: None,
            content_type: None,
            message: message.into(),
        }
    }
}

/// What `custom_error` raises, found again when the error comes out.
#[derive(Debug)]
struct CustomError(Failure);

impl std::fmt::Display for CustomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for CustomError {}

/// The endpoint timeout passed while a script ran.
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("lua: the script ran past the endpoint timeout and was stopped")
    }
}

impl std::error::Error for Stopped {}

struct Engine {
    lua: Lua,
    /// What an environment reads through to: the standard libraries and
    /// krakend-lua's helpers (`allow_open_libs`), or the helpers alone.
    open: Table,
    bare: Table,
}

thread_local! {
    static ENGINE: RefCell<Option<Rc<Engine>>> = const { RefCell::new(None) };
    /// The deadline of the run in progress on this worker.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

fn engine() -> mlua::Result<Rc<Engine>> {
    ENGINE.with(|slot| {
        if let Some(engine) = &*slot.borrow() {
            return Ok(Rc::clone(engine));
        }
        let lua = Lua::new();
        lua.set_memory_limit(MEMORY_LIMIT)?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            |_, _| match DEADLINE.with(Cell::get) {
                Some(deadline) if Instant::now() >= deadline => Err(mlua::Error::external(Stopped)),
                _ => Ok(VmState::Continue),
            },
        )?;
        let open = lua.globals();
        let bare = lua.create_table()?;
        for helpers in [&open, &bare] {
            tree::register(&lua, helpers)?;
            helpers.set("custom_error", lua.create_function(custom_error)?)?;
            let http = lua.create_table()?;
            // krakend-lua's `http_response.new` makes an HTTP call from
            // inside the script, blocking; cuttle's worker must not block.
            http.set(
                "new",
                lua.create_function(|_, ()| -> mlua::Result<()> {
                    Err(mlua::Error::RuntimeError(
                        "http_response.new is not supported by cuttle".into(),
                    ))
                })?,
            )?;
            helpers.set("http_response", http)?;
        }
        let engine = Rc::new(Engine { lua, open, bare });
        *slot.borrow_mut() = Some(Rc::clone(&engine));
        Ok(engine)
    })
}

/// krakend-lua's `custom_error` (`decorator/custom_error.go`).
fn custom_error(_: &Lua, args: mlua::MultiValue) -> mlua::Result<()> {
    let text = |i: usize| match args.get(i) {
        Some(mlua::Value::String(s)) => s.to_string_lossy(),
        Some(mlua::Value::Number(n)) => format_number(*n),
        Some(mlua::Value::Integer(n)) => n.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    if args.is_empty() {
        return Err(mlua::Error::RuntimeError("need arguments".into()));
    }
    let status = match args.get(1) {
        None => None,
        Some(mlua::Value::Number(n)) => Some(*n as i64),
        Some(mlua::Value::Integer(n)) => Some(*n),
        Some(mlua::Value::String(s)) => Some(
            s.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .map_or(0, |n| n as i64),
        ),
        Some(_) => Some(0),
    };
    // A status that is no HTTP status (gopher-lua's 0 for a non-number)
    // answers 500, as Go's server would refuse to write it.
    let status = status.map(|s| {
        u16::try_from(s)
            .ok()
            .filter(|s| (100..=999).contains(s))
            .unwrap_or(500)
    });
    Err(mlua::Error::external(CustomError(Failure {
        status,
        content_type: (args.len() > 2).then(|| text(2).into_boxed_str()),
        message: text(0),
    })))
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// The failure an mlua error stands for.
fn failure(error: &mlua::Error) -> Failure {
    match error {
        mlua::Error::CallbackError { cause, .. } => failure(cause),
        mlua::Error::WithContext { cause, .. } => failure(cause),
        mlua::Error::ExternalError(inner) => {
            if let Some(CustomError(f)) = inner.downcast_ref::<CustomError>() {
                f.clone()
            } else {
                Failure::internal(inner.to_string())
            }
        }
        mlua::Error::RuntimeError(message) => Failure::internal(first_line(message)),
        mlua::Error::SyntaxError { message, .. } => Failure::internal(first_line(message)),
        mlua::Error::MemoryError(_) => {
            Failure::internal("lua: the script went over the memory limit")
        }
        other => Failure::internal(first_line(&other.to_string())),
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").to_owned()
}

/// A script as configured, with its code compiled on first use in this
/// worker's state.
pub struct Script {
    pub settings: LuaSettings,
    compiled: RefCell<Option<Compiled>>,
}

struct Compiled {
    /// The sources joined, as krakend-lua loads them (`WithConfig`); `None`
    /// when there are none or they are `live`.
    sources: Option<Function>,
    pre: Option<Function>,
    post: Option<Function>,
}

/// Which of a script's pieces to run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pre,
    Post,
}

impl Script {
    pub fn new(settings: LuaSettings) -> Script {
        Script {
            settings,
            compiled: RefCell::new(None),
        }
    }

    /// Whether `phase` has code to run.
    pub fn has(&self, phase: Phase) -> bool {
        match phase {
            Phase::Pre => self.settings.pre.is_some(),
            Phase::Post => self.settings.post.is_some(),
        }
    }

    /// Runs the sources then `phase`'s code in a fresh environment, after
    /// `bind` put the request's objects into it; stopped at `deadline`.
    pub fn run(
        &self,
        phase: Phase,
        deadline: Instant,
        bind: impl FnOnce(&Lua, &Table) -> mlua::Result<()>,
    ) -> Result<(), Failure> {
        let engine = engine().map_err(|e| failure(&e))?;
        let lua = &engine.lua;
        DEADLINE.with(|d| d.set(Some(deadline)));
        let result = self.run_in(&engine, phase, bind);
        DEADLINE.with(|d| d.set(None));
        // What the run allocated is garbage now; a step of the collector
        // keeps a busy worker's state from growing between full cycles.
        let _ = lua.gc_step();
        result.map_err(|e| failure(&e))
    }

    fn run_in(
        &self,
        engine: &Engine,
        phase: Phase,
        bind: impl FnOnce(&Lua, &Table) -> mlua::Result<()>,
    ) -> mlua::Result<()> {
        let lua = &engine.lua;
        if self.compiled.borrow().is_none() {
            let compiled = self.compile(lua)?;
            *self.compiled.borrow_mut() = Some(compiled);
        }
        let env = lua.create_table()?;
        let meta = lua.create_table()?;
        let base = if self.settings.allow_open_libs {
            &engine.open
        } else {
            &engine.bare
        };
        meta.set("__index", base.clone())?;
        env.set_metatable(Some(meta))?;
        bind(lua, &env)?;
        let compiled = self.compiled.borrow();
        let Some(compiled) = compiled.as_ref() else {
            return Ok(());
        };
        if self.settings.live {
            if let Some(joined) = self.read_live()? {
                let sources = lua
                    .load(joined)
                    .set_name("sources")
                    .set_environment(env.clone());
                sources.exec()?;
            }
        } else if let Some(sources) = &compiled.sources {
            sources.set_environment(env.clone())?;
            sources.call::<()>(())?;
        }
        let code = match phase {
            Phase::Pre => &compiled.pre,
            Phase::Post => &compiled.post,
        };
        if let Some(code) = code {
            code.set_environment(env)?;
            code.call::<()>(())?;
        }
        Ok(())
    }

    fn compile(&self, lua: &Lua) -> mlua::Result<Compiled> {
        let settings = &self.settings;
        let sources = if settings.live || settings.sources.is_empty() {
            None
        } else {
            let mut joined = Vec::new();
            for (path, text) in &settings.sources {
                let Some(text) = text else {
                    return Err(unknown_source(path));
                };
                joined.push(text.as_str());
            }
            Some(
                lua.load(joined.join("\n"))
                    .set_name("sources")
                    .into_function()?,
            )
        };
        let piece = |code: &Option<String>, name: &str| -> mlua::Result<Option<Function>> {
            code.as_deref()
                .map(|code| lua.load(code).set_name(name).into_function())
                .transpose()
        };
        Ok(Compiled {
            sources,
            pre: piece(&settings.pre, "pre-script")?,
            post: piece(&settings.post, "post-script")?,
        })
    }

    /// The `live` sources as they are now on disk.
    fn read_live(&self) -> mlua::Result<Option<String>> {
        if self.settings.sources.is_empty() {
            return Ok(None);
        }
        let mut joined = Vec::new();
        for (path, _) in &self.settings.sources {
            joined.push(std::fs::read_to_string(path).map_err(|_| unknown_source(path))?);
        }
        Ok(Some(joined.join("\n")))
    }
}

/// krakend-lua's `ErrUnknownSource`.
fn unknown_source(path: &str) -> mlua::Error {
    mlua::Error::RuntimeError(format!("lua: unable to load required source {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn script(pre: &str) -> Script {
        Script::new(LuaSettings {
            pre: Some(pre.to_owned()),
            ..LuaSettings::default()
        })
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn custom_error_carries_status_and_type() {
        let s = script("custom_error('no', 418, 'application/json')");
        let f = s.run(Phase::Pre, soon(), |_, _| Ok(())).unwrap_err();
        assert_eq!(f.status, Some(418));
        assert_eq!(f.content_type.as_deref(), Some("application/json"));
        assert_eq!(f.message, "no");
        let f = script("custom_error('plain')")
            .run(Phase::Pre, soon(), |_, _| Ok(()))
            .unwrap_err();
        assert_eq!(f.status, None);
    }

    #[test]
    fn globals_do_not_leak_between_runs() {
        let s = script("if seen then custom_error('leak', 500) end seen = true");
        s.run(Phase::Pre, soon(), |_, _| Ok(())).unwrap();
        s.run(Phase::Pre, soon(), |_, _| Ok(())).unwrap();
    }

    #[test]
    fn libraries_only_with_allow_open_libs() {
        let s = script("local x = string.len('abc')");
        assert!(s.run(Phase::Pre, soon(), |_, _| Ok(())).is_err());
        let mut open = script("local x = string.len('abc')");
        open.settings.allow_open_libs = true;
        open.run(Phase::Pre, soon(), |_, _| Ok(())).unwrap();
    }

    #[test]
    fn a_runaway_loop_stops_at_the_deadline() {
        let s = script("while true do end");
        let started = Instant::now();
        let f = s
            .run(Phase::Pre, started + Duration::from_millis(50), |_, _| {
                Ok(())
            })
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(f.message.contains("timeout"), "{f:?}");
        // The state still serves.
        script("local x = 1")
            .run(Phase::Pre, soon(), |_, _| Ok(()))
            .unwrap();
    }

    #[test]
    fn memory_is_bounded() {
        let mut s =
            script("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1024 * 1024) .. i end");
        s.settings.allow_open_libs = true;
        let f = s.run(Phase::Pre, soon(), |_, _| Ok(())).unwrap_err();
        assert!(f.message.contains("memory"), "{f:?}");
    }
}
