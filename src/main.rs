//! The `cuttle` command: the words KrakenD users type (`run`, `check`,
//! `version`) plus `demo`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "cuttle",
    version,
    about = "A thread-per-core API gateway for KrakenD v3 configurations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Run {
        /// The KrakenD configuration file.
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
        /// Listen on this port instead of the file's `port`.
        #[arg(short = 'p', long = "port")]
        port: Option<u16>,
        /// Enable the /__debug/ endpoint and debug logging.
        #[arg(short = 'd', long = "debug")]
        debug: bool,
        /// How many of the allowed CPUs to run workers on (default: all).
        #[arg(long = "cores")]
        cores: Option<usize>,
        #[command(flatten)]
        load_flags: LoadFlags,
    },
    /// Check a configuration file and exit (0 when valid), as `krakend
    /// check`; `check -tlc FILE` runs every check.
    #[command(alias = "validate")]
    Check {
        /// The KrakenD configuration file.
        #[arg(short = 'c', long = "config")]
        config: PathBuf,
        /// Print the configuration as cuttle understood it.
        #[arg(short = 'd', long = "debug", action = clap::ArgAction::Count)]
        debug: u8,
        /// Build everything `run` builds (routes, compiled endpoints, TLS),
        /// without binding ports or starting workers.
        #[arg(short = 't', long = "test-gin-routes")]
        test_build: bool,
        /// Indentation of the -d dump.
        #[arg(short = 'i', long = "indent", default_value = "\t")]
        indent: String,
        /// Lint against KrakenD's JSON schema, read from CUTTLE_KRAKEND_SCHEMA
        /// (cuttle never downloads it).
        #[arg(short = 'l', long = "lint", group = "linting")]
        lint: bool,
        /// The same as -l: cuttle's lint never uses the network.
        #[arg(short = 'n', long = "lint-no-network", group = "linting")]
        lint_no_network: bool,
        /// Lint against this schema file instead.
        #[arg(short = 's', long = "lint-schema", group = "linting")]
        lint_schema: Option<PathBuf>,
        #[command(flatten)]
        load_flags: LoadFlags,
    },
    /// Print the version.
    Version,
    /// Start demo backends and the gateway on config/demo.json.
    Demo {
        #[arg(long = "cores")]
        cores: Option<usize>,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish,
    /// elvish, powershell), e.g. `cuttle completions bash >
    /// /usr/share/bash-completion/completions/cuttle`.
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of cuttle or of one of its commands
    /// (`cuttle-run`), e.g. `cuttle man run | man -l -`.
    Man {
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
    },
}

#[derive(clap::Args)]
struct LoadFlags {
    /// Accept a file whose endpoints use settings cuttle does not implement
    /// yet (auth/*, security/*, validation/*, modifier/*, plugin/*, other
    /// backends, {JWT.*} placeholders) and serve it without them. For
    /// trying a KrakenD file; never in production.
    #[arg(long = "ignore-unimplemented")]
    ignore_unimplemented: bool,
    /// Frame request bodies exactly as KrakenD does: with Content-Length
    /// only when the client's Content-Length is among the endpoint's
    /// input_headers, chunked otherwise. Default: always Content-Length,
    /// which every backend reads.
    #[arg(long = "krakend-body-framing")]
    krakend_body_framing: bool,
}

impl LoadFlags {
    fn options(&self) -> cuttle::config::LoadOptions {
        cuttle::config::LoadOptions {
            ignore_unimplemented: self.ignore_unimplemented,
            krakend_body_framing: self.krakend_body_framing,
        }
    }

    /// The file with the process's `KRAKEND_*` overrides, as KrakenD's
    /// `run` and `check` read it: the one place the environment is read.
    /// Then the one prepare step (`prepare::Prepared`): what the settings
    /// name is built (TLS files, ...), so `check` fails as `run` would.
    fn load(
        &self,
        path: &std::path::Path,
    ) -> Result<(cuttle::config::Loaded, cuttle::prepare::Prepared), ExitCode> {
        let env = cuttle::config::Environment::from_process();
        let failed = |e: cuttle::config::ConfigError| {
            eprintln!("{e}");
            ExitCode::FAILURE
        };
        let loaded = cuttle::config::load_with_env(path, self.options(), &env).map_err(failed)?;
        let prepared =
            cuttle::prepare::Prepared::new(&loaded.config, &loaded.source).map_err(failed)?;
        Ok((loaded, prepared))
    }

    /// Reads `path` again for a reload (SIGHUP), with the same flags and
    /// command-line overrides as at start-up.
    fn reloader(&self, path: PathBuf, port: Option<u16>, debug: bool) -> cuttle::process::Reloader {
        let options = self.options();
        Box::new(move || {
            let env = cuttle::config::Environment::from_process();
            let loaded =
                cuttle::config::load_with_env(&path, options, &env).map_err(|e| e.to_string())?;
            let prepared = cuttle::prepare::Prepared::new(&loaded.config, &loaded.source)
                .map_err(|e| e.to_string())?;
            let mut config = loaded.config;
            apply_overrides(&mut config, port, debug);
            for ignored in &config.unimplemented {
                tracing::error!(
                    "NOT ENFORCED (--ignore-unimplemented): {}: {}",
                    ignored.at,
                    ignored.message
                );
            }
            log_skipped_and_warnings(&config);
            Ok((config, prepared))
        })
    }
}

/// The endpoints KrakenD would skip (and so does cuttle) and what it
/// tolerates with a warning, as `run` and a reload report them.
fn log_skipped_and_warnings(config: &cuttle::config::Config) {
    for skipped in &config.skipped_endpoints {
        tracing::error!("endpoint not served: {}: {}", skipped.at, skipped.message);
    }
    for warning in &config.warnings {
        tracing::warn!("{}: {}", warning.at, warning.message);
    }
}

/// What the command line changes in a loaded configuration.
fn apply_overrides(config: &mut cuttle::config::Config, port: Option<u16>, debug: bool) {
    if let Some(port) = port {
        config.port = port;
    }
    config.debug_endpoint |= debug;
}

/// The variables' names, never their values (they may be secrets).
fn override_lines(overrides: &cuttle::config::Overrides) -> Vec<(bool, String)> {
    let mut lines = Vec::new();
    if !overrides.applied.is_empty() {
        let names: Vec<&str> = overrides.applied.iter().map(|a| a.var.as_str()).collect();
        lines.push((
            true,
            format!(
                "configuration overridden by the environment: {}",
                names.join(", ")
            ),
        ));
    }
    if !overrides.ignored.is_empty() {
        lines.push((
            false,
            format!(
                "ignored, as KrakenD ignores them (not a root key of the configuration; a nested key needs dots, e.g. KRAKEND_EXTRA_CONFIG.router.health_path): {}",
                overrides.ignored.join(", ")
            ),
        ));
    }
    lines
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Run { .. } | Command::Demo { .. }) {
        // Before any thread starts (logging, DNS, JWK fetchers, revoker):
        // they inherit the mask, so a SIGTERM arriving while the main
        // thread is not yet (or no longer) in sigwait stays pending for
        // it and drains, instead of ending the process from a helper
        // thread with no drain.
        cuttle::process::signals::block_termination();
    }
    match cli.command {
        Command::Version => {
            println!("cuttle {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        // Both generated from the definitions above, so they cannot drift
        // from the flags `run` and `check` take.
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "cuttle", &mut script);
            print_or_fail("completions", &script)
        }
        Command::Man { command } => {
            use clap::CommandFactory;
            let top = Cli::command();
            let page = match command.as_deref() {
                None => top,
                Some(name) => match top.find_subcommand(name) {
                    // Named as git names its commands' pages: cuttle-run(1).
                    Some(sub) => sub.clone().name(format!("cuttle-{name}")),
                    None => {
                        eprintln!("cuttle man: no command {name:?}; see `cuttle --help`");
                        return ExitCode::FAILURE;
                    }
                },
            };
            let mut roff = Vec::new();
            match clap_mangen::Man::new(page).render(&mut roff) {
                Ok(()) => print_or_fail("man", &roff),
                Err(e) => {
                    eprintln!("cuttle man: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check {
            config: path,
            debug,
            test_build,
            indent,
            lint,
            lint_no_network,
            lint_schema,
            load_flags,
        } => match load_flags.load(&path) {
            Ok((
                cuttle::config::Loaded {
                    config,
                    overrides,
                    rendered,
                    ..
                },
                prepared,
            )) => {
                for (_, line) in override_lines(&overrides) {
                    eprintln!("{line}");
                }
                for ignored in &config.unimplemented {
                    eprintln!(
                        "ignored (--ignore-unimplemented): {}: {}",
                        ignored.at, ignored.message
                    );
                }
                for skipped in &config.skipped_endpoints {
                    eprintln!(
                        "error: endpoint not served: {}: {}",
                        skipped.at, skipped.message
                    );
                }
                for warning in &config.warnings {
                    eprintln!("warning: {}: {}", warning.at, warning.message);
                }
                if !config.unknown_namespaces.is_empty() {
                    eprintln!(
                        "warning: settings cuttle ignores: {}",
                        config.unknown_namespaces.join(", ")
                    );
                }
                let options = cuttle::check::Options {
                    test_build,
                    lint: lint || lint_no_network || lint_schema.is_some(),
                    lint_schema,
                    debug,
                    // `-i '\t'` as typed in a shell means a tab.
                    indent: indent.replace("\\t", "\t"),
                    rendered,
                };
                match cuttle::check::after_load(&config, &prepared, &path, &options) {
                    Ok(()) => {
                        println!("Syntax OK!");
                        ExitCode::SUCCESS
                    }
                    Err(message) => {
                        eprintln!("{message}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(code) => code,
        },
        Command::Run {
            config: config_path,
            port,
            debug,
            cores,
            load_flags,
        } => {
            let (mut config, overrides, prepared) = match load_flags.load(&config_path) {
                Ok((loaded, prepared)) => (loaded.config, loaded.overrides, prepared),
                Err(code) => return code,
            };
            cuttle::logging::init(&config.logging, debug);
            for (applied, line) in override_lines(&overrides) {
                if applied {
                    tracing::info!("{line}");
                } else {
                    tracing::warn!("{line}");
                }
            }
            for ignored in &config.unimplemented {
                tracing::error!(
                    "NOT ENFORCED (--ignore-unimplemented): {}: {}",
                    ignored.at,
                    ignored.message
                );
            }
            log_skipped_and_warnings(&config);
            apply_overrides(&mut config, port, debug);
            let reload = load_flags.reloader(config_path, port, debug);
            start(config, prepared, cores, Some(reload))
        }
        Command::Demo { cores } => {
            let (config, prepared) = match cuttle::demo::config() {
                Ok(ready) => ready,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            cuttle::logging::init(&config.logging, false);
            if let Err(e) = cuttle::demo::start_backend() {
                eprintln!(
                    "cannot start the demo backend on {}: {e}",
                    cuttle::demo::DEMO_BACKEND
                );
                return ExitCode::FAILURE;
            }
            cuttle::demo::print_instructions(config.port);
            start(config, prepared, cores, None)
        }
    }
}

fn start(
    config: cuttle::config::Config,
    prepared: cuttle::prepare::Prepared,
    cores: Option<usize>,
    reload: Option<cuttle::process::Reloader>,
) -> ExitCode {
    let ran = cuttle::process::run(
        config,
        prepared,
        cuttle::process::RunOptions { cores, reload },
    );
    // What the workers logged last, before the process exits.
    cuttle::logging::finish(std::time::Duration::from_secs(1));
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cuttle: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes generated text to stdout; a closed pipe (`| head`) is not a crash.
fn print_or_fail(what: &str, text: &[u8]) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cuttle {what}: {e}");
            ExitCode::FAILURE
        }
    }
}
