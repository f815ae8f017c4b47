//! `cuttle check`, KrakenD's `krakend check` (krakend-cobra `check.go`):
//! after the file loaded (syntax, every rule, misspelt names), `-l` lints
//! it against KrakenD's JSON schema, `-d` prints what was understood, `-t`
//! builds everything `run` builds; then "Syntax OK!". Each failure prints
//! its reason and the command exits 1.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::Config;

/// The flags after loading, as `krakend check` names them.
#[derive(Debug, Default)]
pub struct Options {
    /// `-t`: build the worker tables as `run` does.
    pub test_build: bool,
    /// `-l`, `-n` or `-s FILE`: lint against the schema.
    pub lint: bool,
    /// `-s FILE`: the schema file (else `CUTTLE_KRAKEND_SCHEMA`).
    pub lint_schema: Option<PathBuf>,
    /// `-d` (repeatable): print the configuration as understood.
    pub debug: u8,
    /// `-i`: the dump's indentation (KrakenD's default is a tab).
    pub indent: String,
    /// A flexible configuration's rendered text, linted instead of the
    /// template (krakend-cobra lints the parser's `LastSource`).
    pub rendered: Option<String>,
}

/// Runs the checks that follow a successful load; `Err` is the text to
/// print before exiting 1.
pub fn after_load(
    config: &Config,
    prepared: &crate::process::Prepared,
    file: &Path,
    options: &Options,
) -> Result<(), String> {
    if options.lint {
        lint(
            file,
            options.rendered.as_deref(),
            options.lint_schema.as_deref(),
        )?;
    }
    if options.debug > 0 {
        print!("{}", dump(config, &options.indent));
    }
    if options.test_build {
        crate::process::test_build(config, prepared)
            .map_err(|e| format!("ERROR testing the configuration file:\t{e}"))?;
    }
    Ok(())
}

fn lint(file: &Path, rendered: Option<&str>, schema: Option<&Path>) -> Result<(), String> {
    let failed = |e: String| format!("ERROR linting the configuration file:\t{e}");
    let schema = crate::config::lint::schema_path(schema).map_err(failed)?;
    let text = match rendered {
        Some(text) => text.to_owned(),
        None => std::fs::read_to_string(file)
            .map_err(|e| failed(format!("{}: cannot be read: {e}", file.display())))?,
    };
    let document: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| failed(format!("{}: not JSON: {e}", file.display())))?;
    let problems = crate::config::lint::lint(&document, &schema).map_err(failed)?;
    if problems.is_empty() {
        return Ok(());
    }
    let mut out = format!(
        "ERROR linting the configuration file against {}:",
        schema.display()
    );
    for problem in problems {
        let _ = write!(out, "\n\t{}: {}", problem.at, problem.message);
    }
    Err(out)
}

/// A summary in the shape of krakend-cobra's `dumper`: service settings,
/// then each endpoint and its backends.
pub fn dump(config: &Config, indent: &str) -> String {
    let i1 = indent;
    let i2 = indent.repeat(2);
    let i3 = indent.repeat(3);
    let mut out = String::new();
    let _ = writeln!(out, "Global settings");
    let _ = writeln!(out, "{i1}Name: {}", config.name.as_deref().unwrap_or(""));
    let _ = writeln!(out, "{i1}Version: 3");
    let _ = writeln!(out, "{i1}Address: {}", config.listen_ip);
    let _ = writeln!(out, "{i1}Port: {}", config.port);
    let _ = writeln!(out, "{i1}UseH2C: {}", config.use_h2c);
    let _ = writeln!(out, "{i1}TLS: {}", config.tls.is_some());
    if !config.unknown_namespaces.is_empty() {
        let _ = writeln!(
            out,
            "{i1}Ignored settings: {}",
            config.unknown_namespaces.join(", ")
        );
    }
    let _ = writeln!(out, "{} API endpoint(s):", config.endpoints.len());
    for endpoint in &config.endpoints {
        let _ = writeln!(out, "{i1}- {} {}", endpoint.method, endpoint.path);
        let _ = writeln!(out, "{i2}Timeout: {:?}", endpoint.timeout);
        if let Some(ttl) = endpoint.cache_ttl {
            let _ = writeln!(out, "{i2}CacheTTL: {ttl:?}");
        }
        let _ = writeln!(out, "{i2}OutputEncoding: {:?}", endpoint.output_encoding);
        let _ = writeln!(out, "{i2}Concurrent calls: {}", endpoint.concurrent_calls);
        if let Some(ws) = &endpoint.websocket {
            // What the relay honours (docs/websockets.md); the options it
            // has no use for are among the ignored settings above.
            let _ = writeln!(
                out,
                "{i2}WebSocket (direct): max_message_size {} B, idle (pong_wait) {:?}, client pinged every {:?}, backend timeout {:?}, write_wait {:?}, buffers {}/{} B, subprotocols {:?}",
                ws.max_message_size,
                ws.pong_wait,
                ws.ping_period,
                ws.backend_timeout,
                ws.write_wait,
                ws.read_buffer_size,
                ws.write_buffer_size,
                ws.subprotocols
            );
        }
        let _ = writeln!(
            out,
            "{i2}Connecting to {} backend(s):",
            endpoint.backends.len()
        );
        for backend in &endpoint.backends {
            let _ = writeln!(out, "{i3}[+] {} {}", backend.method, backend.url_pattern);
            // A websocket backend's hosts as written (config keeps them in
            // the HTTP client's scheme).
            let hosts: Vec<String> = match endpoint.websocket {
                Some(_) => backend
                    .hosts
                    .iter()
                    .map(|h| {
                        h.replacen("https://", "wss://", 1)
                            .replacen("http://", "ws://", 1)
                    })
                    .collect(),
                None => backend.hosts.clone(),
            };
            let _ = writeln!(out, "{i3}{i1}Hosts: {hosts:?}");
        }
    }
    out
}
