//! `check -l`: the file against KrakenD's published JSON schema
//! (krakend-cobra `check.go`: santhosh-tekuri/jsonschema over the raw
//! JSON, after the file parsed).
//!
//! The schema is read from a local file and nothing is ever fetched. cuttle
//! does not ship it: krakend/krakend-schema carries no licence, so the
//! operator saves KrakenD's `v2.13/krakend.json` (the bundled file KrakenD
//! CE embeds for `-n`; every `$ref` in it is internal) and names it with
//! `--lint-schema FILE` or `CUTTLE_KRAKEND_SCHEMA`. The unbundled sources
//! (`_root.json` and its siblings) work too: their
//! `https://www.krakend.io/schema/<version>/<file>` references are read
//! from the schema's own folder; any other remote reference is an error.

use std::path::{Path, PathBuf};

use jsonschema::paths::LocationSegment;
use jsonschema::{Retrieve, Uri};
use serde_json::Value;

use super::error::Problem;

/// Where KrakenD publishes its schemas; references under it are read from
/// the local folder.
const PUBLISHED: &str = "https://www.krakend.io/schema/";

/// Environment variable naming the schema file when `--lint-schema` is absent.
pub const SCHEMA_ENV: &str = "CUTTLE_KRAKEND_SCHEMA";

/// The schema to lint against: `explicit` (`--lint-schema`), else
/// `CUTTLE_KRAKEND_SCHEMA`; `Err` says how to get one.
pub fn schema_path(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = explicit {
        let text = path.to_string_lossy();
        if text.starts_with("http://") || text.starts_with("https://") {
            return Err(format!(
                "--lint-schema {text}: cuttle never downloads a schema; save it and pass the file"
            ));
        }
        return Ok(path.to_path_buf());
    }
    match std::env::var_os(SCHEMA_ENV) {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Err(format!(
            "no KrakenD schema to lint against: cuttle neither ships nor downloads it. Save {PUBLISHED}v2.13/krakend.json (or v2.13/krakend.json of github.com/krakend/krakend-schema) and pass it with --lint-schema FILE or {SCHEMA_ENV}=FILE"
        )),
    }
}

/// Reads the schema at `schema` and validates `document` against it.
/// `Ok` holds one problem per violation (empty: the file lints clean);
/// `Err` says why the schema itself could not be used.
/// cuttle's own namespaces (`cuttle/server`) are left out: KrakenD's
/// schema does not know them, and KrakenD ignores them.
pub fn lint(document: &Value, schema: &Path) -> Result<Vec<Problem>, String> {
    let mut document = document.clone();
    without_cuttle_namespaces(&mut document);
    let root = read_json(schema).map_err(|e| format!("the schema {e}"))?;
    let folder = schema
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let validator = jsonschema::options()
        .with_retriever(LocalSchemas { folder })
        .build(&root)
        .map_err(|e| format!("the schema {} does not compile: {e}", schema.display()))?;
    Ok(validator
        .iter_errors(&document)
        .map(|error| Problem::new(path(&error), error.to_string()))
        .collect())
}

/// Removes `cuttle/...` namespaces from every `extra_config` (root,
/// endpoints, backends).
fn without_cuttle_namespaces(document: &mut Value) {
    fn strip(object: &mut Value) {
        if let Some(Value::Object(extra)) = object.get_mut("extra_config") {
            extra.retain(|namespace, _| !namespace.starts_with("cuttle/"));
        }
    }
    strip(document);
    let endpoints = document.get_mut("endpoints").and_then(Value::as_array_mut);
    for endpoint in endpoints.into_iter().flatten() {
        strip(endpoint);
        let backends = endpoint.get_mut("backend").and_then(Value::as_array_mut);
        for backend in backends.into_iter().flatten() {
            strip(backend);
        }
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: is not JSON: {e}", path.display()))
}

/// The error's place in cuttle's terms: `endpoints[0].backend[1].host`.
fn path(error: &jsonschema::ValidationError<'_>) -> String {
    let mut out = String::new();
    for segment in error.instance_path().segments() {
        match segment {
            LocationSegment::Property(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&name);
            }
            LocationSegment::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    if out.is_empty() {
        "top level".to_owned()
    } else {
        out
    }
}

/// Resolves KrakenD's published schema URLs to files of the local folder,
/// refusing everything else: linting never touches the network.
struct LocalSchemas {
    folder: PathBuf,
}

impl Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let text = uri.as_str();
        // `<version>/<file>`: the version is the folder the operator chose.
        let file = text
            .strip_prefix(PUBLISHED)
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, file)| file)
            .filter(|file| !file.is_empty() && !file.split('/').any(|s| s == ".." || s.is_empty()))
            .ok_or_else(|| {
                format!("{text}: cuttle does not fetch schemas; only {PUBLISHED}<version>/<file> references are read, from the schema's folder")
            })?;
        Ok(read_json(&self.folder.join(file))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cuttle-lint-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn published_references_are_read_from_the_folder_and_others_refused() {
        let dir = temp("refs");
        std::fs::write(
            dir.join("root.json"),
            r#"{"$schema": "https://json-schema.org/draft/2019-09/schema",
                "$id": "https://www.krakend.io/schema/v2.13/krakend.json",
                "type": "object", "properties": {"timeout": {"$ref": "timeunits.json#/$defs/timeunit"}}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("timeunits.json"),
            r#"{"$id": "https://www.krakend.io/schema/v2.13/timeunits.json",
                "$defs": {"timeunit": {"type": "string", "pattern": "^[0-9]+(ns|ms|us|µs|s|m|h)$"}}}"#,
        )
        .unwrap();
        let good: Value = serde_json::from_str(r#"{"timeout": "2s"}"#).unwrap();
        let bad: Value = serde_json::from_str(r#"{"timeout": 2}"#).unwrap();
        let schema = dir.join("root.json");
        assert_eq!(lint(&good, &schema).unwrap(), []);
        let problems = lint(&bad, &schema).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].at, "timeout");

        std::fs::write(
            dir.join("remote.json"),
            r#"{"$ref": "https://example.com/schema.json"}"#,
        )
        .unwrap();
        let error = lint(&good, &dir.join("remote.json")).unwrap_err();
        assert!(error.contains("does not fetch"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_url_is_not_a_schema_path() {
        let error = schema_path(Some(Path::new(
            "https://www.krakend.io/schema/krakend.json",
        )));
        assert!(error.unwrap_err().contains("never downloads"));
    }
}
