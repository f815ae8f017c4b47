//! KrakenD's flexible configuration (krakend-flexibleconfig `template.go`,
//! enabled by krakend-ce `cmd/krakend-ce/main.go`): with `FC_ENABLE` set
//! to anything, the configuration file is a Go `text/template`, rendered
//! before it is parsed.
//!
//! - `FC_SETTINGS`: a folder whose `*.json` files (not its subfolders) are
//!   the data: `.NAME` is the object in `NAME.json`.
//! - `FC_TEMPLATES`: a folder whose `*.tmpl` files can be called with
//!   `{{template "FILE.tmpl" .}}`.
//! - `FC_PARTIALS`: where `{{include "FILE"}}` reads a file, inserted as it
//!   is (not rendered).
//! - `FC_OUT`: where the rendered file is written (and kept); its
//!   extension picks the parser. Without it KrakenD writes a temporary
//!   `*.json` file, so the rendered text is read as JSON.
//!
//! The engine is cuttle's own (`parse`, `exec`, `funcs`, `value`): the
//! part of Go's `text/template` and Sprig that KrakenD files use, refusing
//! any other function by name.

mod exec;
mod funcs;
mod parse;
mod value;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::ConfigError;
use super::Environment;
use super::source::Format;

pub use value::Value;

/// The `FC_*` variables, as krakend-ce reads them.
#[derive(Debug, Clone, Default)]
pub struct FlexibleConfig {
    pub settings: Option<PathBuf>,
    pub partials: PathBuf,
    pub templates: Option<PathBuf>,
    pub out: Option<PathBuf>,
}

impl FlexibleConfig {
    /// `Some` when `FC_ENABLE` is set and not empty (krakend-ce tests
    /// `os.Getenv(fcEnable) != ""`, so `FC_ENABLE=0` enables it too).
    pub fn from_env(env: &Environment) -> Option<FlexibleConfig> {
        let set = |name: &str| env.var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        set("FC_ENABLE")?;
        Some(FlexibleConfig {
            settings: set("FC_SETTINGS"),
            partials: set("FC_PARTIALS").unwrap_or_default(),
            templates: set("FC_TEMPLATES"),
            out: set("FC_OUT"),
        })
    }
}

/// A rendered configuration: the text, the name to give it in messages
/// and the format to read it in.
pub struct Rendered {
    pub text: String,
    pub name: PathBuf,
    pub format: Format,
}

/// Renders `template` (the text of the file at `path`) with the settings,
/// templates and partials `fc` names, and writes it to `FC_OUT` if set.
pub fn render(
    template: &str,
    path: &Path,
    fc: &FlexibleConfig,
    env: &Environment,
) -> Result<Rendered, ConfigError> {
    let data = match &fc.settings {
        Some(dir) => settings(dir)?,
        None => Value::Map(Default::default()),
    };
    let main = file_name(path);
    let mut templates = HashMap::new();
    add_template(&mut templates, path, &main, template)?;
    if let Some(dir) = &fc.templates {
        for file in files_ending(dir, ".tmpl", "FC_TEMPLATES")? {
            let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read {
                file: file.clone(),
                source,
            })?;
            add_template(&mut templates, &file, &file_name(&file), &text)?;
        }
    }
    let ctx = funcs::Ctx {
        env,
        partials: &fc.partials,
    };
    let text = exec::execute(&templates, &main, data, &ctx).map_err(|e| ConfigError::Template {
        file: PathBuf::from(e.file),
        line: e.line,
        message: e.message,
    })?;
    let (name, format) = match &fc.out {
        Some(out) => {
            std::fs::write(out, &text).map_err(|source| ConfigError::Invalid {
                file: path.to_path_buf(),
                at: "FC_OUT".to_owned(),
                message: format!(
                    "cannot write the rendered configuration to {}: {source}",
                    out.display()
                ),
            })?;
            (out.clone(), Format::of(out))
        }
        None => (
            PathBuf::from(format!(
                "{} (as rendered; FC_OUT=FILE.json writes the rendered text)",
                path.display()
            )),
            Format::Json,
        ),
    };
    Ok(Rendered { text, name, format })
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Parses one file into the set: its body under `name`, its `{{define}}`s
/// under theirs (Go's `ParseFiles`: a later file replaces a name).
fn add_template(
    set: &mut HashMap<String, exec::Template>,
    path: &Path,
    name: &str,
    text: &str,
) -> Result<(), ConfigError> {
    let parsed = parse::parse(text).map_err(|e| ConfigError::Template {
        file: path.to_path_buf(),
        line: e.line,
        message: e.message,
    })?;
    let file = path.display().to_string();
    for (define, body) in parsed.defines {
        set.insert(
            define,
            exec::Template {
                file: file.clone(),
                body,
            },
        );
    }
    set.insert(
        name.to_owned(),
        exec::Template {
            file,
            body: parsed.body,
        },
    );
    Ok(())
}

/// The files of `dir` whose names end with `suffix`, in name order (Go's
/// `os.ReadDir`).
fn files_ending(dir: &Path, suffix: &str, var: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::Invalid {
        file: dir.to_path_buf(),
        at: var.to_owned(),
        message: format!("cannot read the folder: {source} (set {var} to a folder that exists)"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Each `NAME.json` of `dir` as `.NAME`: a JSON object (or null), numbers
/// as Go's float64 (krakend-flexibleconfig unmarshals into
/// `map[string]interface{}`).
fn settings(dir: &Path) -> Result<Value, ConfigError> {
    let mut data = std::collections::BTreeMap::new();
    for file in files_ending(dir, ".json", "FC_SETTINGS")? {
        let text = std::fs::read_to_string(&file).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ConfigError::Syntax {
                file: file.clone(),
                format: "JSON",
                line: e.line(),
                column: e.column(),
                message: format!(
                    "{} (a settings file of FC_SETTINGS)",
                    e.to_string().replacen(
                        &format!(" at line {} column {}", e.line(), e.column()),
                        "",
                        1
                    )
                ),
            })?;
        if !matches!(json, serde_json::Value::Object(_) | serde_json::Value::Null) {
            return Err(ConfigError::Invalid {
                file: file.clone(),
                at: "top level".to_owned(),
                message: "a settings file of FC_SETTINGS holds one JSON object ({...}), whose keys the templates read".to_owned(),
            });
        }
        let name = file_name(&file);
        let name = name.strip_suffix(".json").unwrap_or(&name).to_owned();
        // A `null` file is a nil map in Go: its keys read as no value.
        let value = match json {
            serde_json::Value::Null => Value::Map(Default::default()),
            json => Value::from_json(&json),
        };
        data.insert(name, value);
    }
    Ok(Value::Map(data))
}
