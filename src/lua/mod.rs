//! krakend-lua's scripts (`modifier/lua-endpoint`, `modifier/lua-proxy`,
//! `modifier/lua-backend`) on PUC Lua 5.4, with the Lua 5.1 names and
//! number formatting gopher-lua's scripts rely on put back where that is
//! cheap ([`COMPAT`]; docs/lua.md lists the rest).
//!
//! One Lua state per worker (a thread-local: tasks never leave their
//! thread), each script's sources and code compiled once in it (`live`
//! sources: read and compiled on every run). Each request gets a fresh
//! environment table, as krakend-lua gives each request a fresh state: the
//! globals a script sets are gone with the request. The environment reads
//! through to the standard libraries only with `allow_open_libs`. A chunk
//! is compiled as `local _ENV = ...; <code>` and called with the
//! environment, so runs in flight at once on one state (see below) never
//! share it: 5.4's `_ENV` upvalue would be one per compiled function.
//!
//! A run is a coroutine the worker's task resumes ([`drive`]): an
//! instruction-count hook yields it once it has held the worker for a
//! [`SLICE`], the task lets the worker's other tasks and its I/O go, then
//! resumes it. Lua 5.4 yields from a count hook (5.1 cannot: that is why
//! this is not 5.1). Once the request's deadline (the endpoint timeout)
//! passes, the run is abandoned; the state's memory is bounded
//! ([`MEMORY_LIMIT`]); either fails the run like any Lua error.
//! `objects` holds the request and response objects, `tree` the
//! `luaTable`/`luaList` handles.

pub mod objects;
pub mod tree;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::thread::ThreadStatus;
use mlua::{Function, HookTriggers, Lua, Table, VmState};

use crate::config::LuaSettings;

/// The most memory one worker's Lua state may hold, all scripts together.
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;

/// How many VM instructions run between two looks at the clock (a few
/// microseconds of a plain loop).
const HOOK_EVERY: u32 = 4096;

/// How long a script holds its worker before it yields to the worker's
/// other tasks.
pub const SLICE: Duration = Duration::from_millis(1);

/// Lua 5.1 as gopher-lua has it, where Lua 5.4 differs and the difference
/// is cheap to undo, run once in the shared globals (what `allow_open_libs`
/// shows): the 5.1 names `unpack`, `loadstring`, `table.getn`,
/// `table.maxn` (`math.pow` and 5.1's other math functions are there:
/// lua-src builds 5.4 with `LUA_COMPAT_5_3`), and a `tostring` that writes
/// a whole float as 5.1 does (`tostring(6/2)` is "3", not 5.4's "3.0").
/// `..`, `print` and `string.format('%s')` keep 5.4's formatting
/// (docs/lua.md).
const COMPAT: &str = r#"
unpack = table.unpack
loadstring = load
table.getn = function(t) return #t end
table.maxn = function(t)
  local n = 0
  for k in pairs(t) do
    if math.type(k) and k > n then n = k end
  end
  return n
end
local tostring, mtype, sub = tostring, math.type, string.sub
_G.tostring = function(...)
  local s = tostring(...)
  if mtype((...)) == "float" and sub(s, -2) == ".0" then
    return sub(s, 1, -3)
  end
  return s
end
"#;

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

/// The run being resumed on this worker (one at a time: a resume does not
/// return until the script yields or ends).
#[derive(Clone, Copy)]
struct Running {
    deadline: Instant,
    /// When this resume has had its [`SLICE`].
    yield_at: Instant,
    /// The run's own coroutine: a coroutine the script made must not be
    /// yielded before the deadline (its `coroutine.resume` would return
    /// early).
    thread: *const mlua::ffi::lua_State,
    /// Hook calls past the deadline.
    late: u32,
}

thread_local! {
    static ENGINE: RefCell<Option<Rc<Engine>>> = const { RefCell::new(None) };
    static RUNNING: Cell<Option<Running>> = const { Cell::new(None) };
}

/// The count hook of every coroutine on the state (a global hook: those a
/// script makes inherit it). Before the deadline it yields the run's own
/// coroutine once its slice is used; past it, it yields (and [`drive`]
/// drops the coroutine: a stop no `pcall` catches) and, where the script
/// cannot yield (inside a C function such as `table.sort`'s comparator),
/// raises the error instead, the two in turn.
fn hook(lua: &Lua, _: &mlua::debug::Debug<'_>) -> mlua::Result<VmState> {
    let Some(mut run) = RUNNING.with(Cell::get) else {
        return Ok(VmState::Continue);
    };
    let now = Instant::now();
    if now >= run.deadline {
        run.late += 1;
        RUNNING.with(|r| r.set(Some(run)));
        return if run.late % 2 == 1 {
            Ok(VmState::Yield)
        } else {
            Err(mlua::Error::external(Stopped))
        };
    }
    if now >= run.yield_at && std::ptr::eq(lua.current_thread().state(), run.thread) {
        return Ok(VmState::Yield);
    }
    Ok(VmState::Continue)
}

/// Clears [`RUNNING`] however a resume ends (a callback may panic).
struct Resuming;

impl Drop for Resuming {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(None));
    }
}

/// Runs `code` in a coroutine with `env` as its environment, giving the
/// worker back every [`SLICE`], until it ends or `deadline` passes.
async fn drive(lua: &Lua, code: &Function, env: &Table, deadline: Instant) -> mlua::Result<()> {
    let thread = lua.create_thread(code.clone())?;
    let mut first = true;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(mlua::Error::external(Stopped));
        }
        RUNNING.with(|r| {
            r.set(Some(Running {
                deadline,
                yield_at: now + SLICE,
                thread: thread.state(),
                late: 0,
            }))
        });
        let resuming = Resuming;
        if std::mem::take(&mut first) {
            thread.resume::<()>(env)?;
        } else {
            // After the hook's yield nothing is passed; after a script's
            // own `coroutine.yield` it gets nothing back.
            thread.resume::<()>(())?;
        }
        drop(resuming);
        if thread.status() != ThreadStatus::Resumable {
            return Ok(());
        }
        // Yielded by the hook (or by the script itself): stopped if that
        // was the deadline, else the worker's other tasks get their turn.
        if Instant::now() >= deadline {
            return Err(mlua::Error::external(Stopped));
        }
        crate::rt::yield_now().await;
    }
}

fn engine() -> mlua::Result<Rc<Engine>> {
    ENGINE.with(|slot| {
        if let Some(engine) = &*slot.borrow() {
            return Ok(Rc::clone(engine));
        }
        let lua = Lua::new();
        lua.set_memory_limit(MEMORY_LIMIT)?;
        lua.set_global_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), hook)?;
        lua.load(COMPAT).set_name("compat").exec()?;
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
    compiled: RefCell<Option<Rc<Compiled>>>,
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

/// `code` compiled to take its environment as its argument (see the
/// module's notes); on the code's first line, so errors keep its lines.
fn chunk(lua: &Lua, code: &str, name: &str) -> mlua::Result<Function> {
    let mut text = String::with_capacity(code.len() + 24);
    text.push_str("local _ENV = ...; ");
    text.push_str(code);
    lua.load(text).set_name(name).into_function()
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
    /// `bind` put the request's objects into it; gives the worker back
    /// every [`SLICE`]; stopped at `deadline`.
    pub async fn run(
        &self,
        phase: Phase,
        deadline: Instant,
        bind: impl FnOnce(&Lua, &Table) -> mlua::Result<()>,
    ) -> Result<(), Failure> {
        let engine = engine().map_err(|e| failure(&e))?;
        // No collector step forced per run (5.1's was a small one): a 5.4
        // step does at least 8 KiB's worth of work (`incstep`), a whole
        // cycle of a worker's small heap on every request. The collector
        // runs as the state allocates, as in any Lua program.
        self.run_in(&engine, phase, deadline, bind)
            .await
            .map_err(|e| failure(&e))
    }

    async fn run_in(
        &self,
        engine: &Engine,
        phase: Phase,
        deadline: Instant,
        bind: impl FnOnce(&Lua, &Table) -> mlua::Result<()>,
    ) -> mlua::Result<()> {
        let lua = &engine.lua;
        let compiled = self.compiled.borrow().clone();
        let compiled = match compiled {
            Some(compiled) => compiled,
            None => {
                let compiled = Rc::new(self.compile(lua)?);
                *self.compiled.borrow_mut() = Some(Rc::clone(&compiled));
                compiled
            }
        };
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
        if self.settings.live {
            if let Some(joined) = self.read_live()? {
                drive(lua, &chunk(lua, &joined, "sources")?, &env, deadline).await?;
            }
        } else if let Some(sources) = &compiled.sources {
            drive(lua, sources, &env, deadline).await?;
        }
        let code = match phase {
            Phase::Pre => &compiled.pre,
            Phase::Post => &compiled.post,
        };
        if let Some(code) = code {
            drive(lua, code, &env, deadline).await?;
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
            Some(chunk(lua, &joined.join("\n"), "sources")?)
        };
        let piece = |code: &Option<String>, name: &str| -> mlua::Result<Option<Function>> {
            code.as_deref()
                .map(|code| chunk(lua, code, name))
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
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn script(pre: &str) -> Script {
        Script::new(LuaSettings {
            pre: Some(pre.to_owned()),
            ..LuaSettings::default()
        })
    }

    fn open(pre: &str) -> Script {
        let mut s = script(pre);
        s.settings.allow_open_libs = true;
        s
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    /// Runs `s`'s `pre` to its end (outside a worker: a yield is resumed at
    /// once).
    fn run_by(s: &Script, deadline: Instant) -> Result<(), Failure> {
        futures_lite::future::block_on(s.run(Phase::Pre, deadline, |_, _| Ok(())))
    }

    fn run(s: &Script) -> Result<(), Failure> {
        run_by(s, soon())
    }

    #[test]
    fn custom_error_carries_status_and_type() {
        let f = run(&script("custom_error('no', 418, 'application/json')")).unwrap_err();
        assert_eq!(f.status, Some(418));
        assert_eq!(f.content_type.as_deref(), Some("application/json"));
        assert_eq!(f.message, "no");
        let f = run(&script("custom_error('plain')")).unwrap_err();
        assert_eq!(f.status, None);
    }

    #[test]
    fn globals_do_not_leak_between_runs() {
        let s = script("if seen then custom_error('leak', 500) end seen = true");
        run(&s).unwrap();
        run(&s).unwrap();
    }

    #[test]
    fn libraries_only_with_allow_open_libs() {
        assert!(run(&script("local x = string.len('abc')")).is_err());
        run(&open("local x = string.len('abc')")).unwrap();
    }

    #[test]
    fn errors_keep_the_line_of_the_script() {
        let f = run(&script("local a = 1\nerror('here')")).unwrap_err();
        assert!(f.message.contains("pre-script\"]:2:"), "{f:?}");
    }

    #[test]
    fn a_runaway_loop_stops_at_the_deadline() {
        let s = script("while true do end");
        let started = Instant::now();
        let f = run_by(&s, started + Duration::from_millis(50)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(f.message.contains("timeout"), "{f:?}");
        // The state still serves.
        run(&script("local x = 1")).unwrap();
    }

    #[test]
    fn a_runaway_loop_gives_the_worker_back_every_slice() {
        let s = script("while true do end");
        let mut running = pin!(s.run(Phase::Pre, soon(), |_, _| Ok(())));
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..3 {
            let started = Instant::now();
            assert!(running.as_mut().poll(&mut cx).is_pending());
            assert!(started.elapsed() < Duration::from_millis(200));
        }
    }

    #[test]
    fn a_coroutine_the_script_made_is_not_yielded_early() {
        // Its slice used (2e6 iterations take milliseconds), the hook must
        // not yield the script's own coroutine: `co()` would return before the script's yield.
        let s = open(
            "local co = coroutine.wrap(function() \
               local n = 0 for i = 1, 2e6 do n = n + i end \
               coroutine.yield(1) coroutine.yield(2) end) \
             assert(co() == 1) assert(co() == 2)",
        );
        run(&s).unwrap();
    }

    #[test]
    fn a_pcall_does_not_catch_the_stop() {
        let s = open("while true do pcall(function() while true do end end) end");
        let started = Instant::now();
        let f = run_by(&s, started + Duration::from_millis(50)).unwrap_err();
        assert!(f.message.contains("timeout"), "{f:?}");
        // Nor inside a C function, where the script cannot yield.
        let s = open("table.sort({3, 2, 1}, function(a, b) while true do pcall(error) end end)");
        let f = run_by(&s, Instant::now() + Duration::from_millis(50)).unwrap_err();
        assert!(f.message.contains("timeout"), "{f:?}");
    }

    #[test]
    fn runs_in_flight_at_once_keep_their_own_environment() {
        // Two runs of one compiled script, interleaved at their yields: each
        // must read its own `id` after the other ran.
        let s = open(
            "local mine = id local n = 0 for i = 1, 2e6 do n = n + i end \
             if id ~= mine then custom_error('crossed') end",
        );
        let bind = |n: i64| move |_: &Lua, env: &Table| env.set("id", n);
        let mut a = pin!(s.run(Phase::Pre, soon(), bind(1)));
        let mut b = pin!(s.run(Phase::Pre, soon(), bind(2)));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        let b = loop {
            if let Poll::Ready(out) = b.as_mut().poll(&mut cx) {
                break out;
            }
        };
        let a = loop {
            if let Poll::Ready(out) = a.as_mut().poll(&mut cx) {
                break out;
            }
        };
        assert_eq!(a, Ok(()));
        assert_eq!(b, Ok(()));
    }

    #[test]
    fn lua_5_1_names_and_number_formatting() {
        run(&open(
            "assert(unpack({1, 2}) == 1) assert(math.pow(2, 3) == 8) assert(math.log10(100) == 2) \
             assert(math.ldexp(1, 3) == 8 and math.cosh(0) == 1) \
             assert(table.getn({1, 2, 3}) == 3) assert(table.maxn({[7] = 1}) == 7) \
             assert(loadstring('return 1')() == 1) \
             assert(tostring(6 / 2) == '3', tostring(6 / 2)) assert(tostring(2.5) == '2.5') \
             assert(tostring(-0.0) == '-0') assert(tostring(1e100) == '1e+100') \
             assert(tostring('x') == 'x') assert(tostring(nil) == 'nil')",
        ))
        .unwrap();
    }

    #[test]
    fn the_conformance_scripts_run_on_5_4() {
        // conformance/lua/ is plain Lua 5.1 (integer packing by division,
        // `tostring` of decoded numbers, `%d` of a decoded claim).
        let mut s = open(
            "assert(to_base64('hello?') == 'aGVsbG8/', to_base64('hello?')) \
             assert(from_base64('aGVsbG8_') == 'hello?') \
             local v = json_decode('{\"id\": 42, \"r\": 1.5, \"w\": 3.0, \"l\": [1, \"a\"]}') \
             assert(string.format('%d', v.id) == '42') \
             assert(json_encode(v) == '{\"id\":42,\"l\":[1,\"a\"],\"r\":1.5,\"w\":3}', json_encode(v))",
        );
        s.settings.sources = ["conformance/lua/json.lua", "conformance/lua/base64.lua"]
            .into_iter()
            .map(|path| (path.to_owned(), std::fs::read_to_string(path).ok()))
            .collect();
        run(&s).unwrap();
    }

    #[test]
    fn memory_is_bounded() {
        let s = open("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1024 * 1024) .. i end");
        let f = run(&s).unwrap_err();
        assert!(f.message.contains("memory"), "{f:?}");
    }
}
