//! `cuttle check` with KrakenD's flags (`-t`, `-l`, `-c`, `-d`, `-i`,
//! `-n`, `-s`), "did you mean" for misspelt names, and the promise that
//! `check -t` and `run` agree on every file.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::TempDir;

const BACKEND: &str = r#""host": ["http://127.0.0.1:9"], "url_pattern": "/x""#;

fn file(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.0.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `cuttle ARGS` with `env`: (exit code, stdout, stderr).
fn cuttle(args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(args)
        .env_remove("CUTTLE_KRAKEND_SCHEMA")
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A small schema in the shape of KrakenD's unbundled sources
/// (krakend-schema `v2.13/_root.json` and its siblings): files that refer
/// to each other by `https://www.krakend.io/schema/v2.13/...` URLs, which
/// the lint reads from the schema's folder. Only the keys these tests use.
fn krakend_like_schema(dir: &TempDir) -> PathBuf {
    let annotations = r#""patternProperties": {"^[@$_#]": true}, "additionalProperties": false"#;
    file(
        dir,
        "timeunits.json",
        r#"{"$id": "https://www.krakend.io/schema/v2.13/timeunits.json",
            "$defs": {"timeunit": {"type": "string", "pattern": "^[0-9.]+(ns|ms|us|µs|s|m|h)$"}}}"#,
    );
    file(
        dir,
        "backend.json",
        &format!(
            r#"{{"$id": "https://www.krakend.io/schema/v2.13/backend.json", "type": "object",
                "properties": {{"host": {{"type": "array"}}, "url_pattern": {{"type": "string"}},
                  "allow": {{"type": "array"}}, "extra_config": {{"type": "object"}}}}, {annotations}}}"#
        ),
    );
    file(
        dir,
        "endpoint.json",
        &format!(
            r#"{{"$id": "https://www.krakend.io/schema/v2.13/endpoint.json", "type": "object",
                "properties": {{"endpoint": {{"type": "string"}}, "timeout": {{"$ref": "timeunits.json#/$defs/timeunit"}},
                  "backend": {{"type": "array", "items": {{"$ref": "backend.json"}}}},
                  "extra_config": {{"type": "object"}}}}, {annotations}}}"#
        ),
    );
    file(
        dir,
        "krakend.json",
        &format!(
            r#"{{"$schema": "https://json-schema.org/draft/2019-09/schema",
                "$id": "https://www.krakend.io/schema/v2.13/krakend.json", "type": "object",
                "required": ["version"],
                "properties": {{"version": {{"const": 3}}, "port": {{"type": "integer"}},
                  "timeout": {{"$ref": "timeunits.json#/$defs/timeunit"}},
                  "output_encoding": {{"enum": ["json", "no-op", "string"]}},
                  "extra_config": {{"type": "object", "additionalProperties": false}},
                  "endpoints": {{"type": "array", "items": {{"$ref": "endpoint.json"}}}}}},
                {annotations}}}"#
        ),
    )
}

fn good() -> String {
    format!(
        r#"{{"version": 3, "$schema": "https://www.krakend.io/schema/v2.13/krakend.json",
            "@comment": "annotations are allowed", "timeout": "3s",
            "extra_config": {{"cuttle/server": {{"max_body_bytes": 1024}}}},
            "endpoints": [{{"endpoint": "/a", "backend": [{{{BACKEND}}}]}}]}}"#
    )
}

#[test]
fn check_tlc_accepts_a_good_file() {
    let dir = TempDir::new();
    let schema = krakend_like_schema(&dir);
    let good = file(&dir, "good.json", &good());
    let (code, stdout, stderr) = cuttle(
        &["check", "-tlc", good.to_str().unwrap()],
        &[("CUTTLE_KRAKEND_SCHEMA", &schema)],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("Syntax OK!"), "{stdout}");
    // `validate` is KrakenD's alias; -n and -s name the same local lint.
    let good = good.to_str().unwrap();
    let schema_arg = schema.to_str().unwrap();
    for args in [
        &["validate", "-tlc", good][..],
        &["check", "-tnc", good],
        &["check", "-t", "-s", schema_arg, "-c", good],
    ] {
        let (code, stdout, stderr) = cuttle(args, &[("CUTTLE_KRAKEND_SCHEMA", &schema)]);
        assert_eq!(code, 0, "{args:?}: {stdout}{stderr}");
        assert!(stdout.contains("Syntax OK!"), "{args:?}: {stdout}");
    }
}

#[test]
fn check_l_refuses_a_schema_violation_naming_its_path() {
    let dir = TempDir::new();
    let schema = krakend_like_schema(&dir);
    // cuttle serves this file (an unknown key far from any is a warning),
    // KrakenD's schema does not allow the key.
    let bad = file(
        &dir,
        "bad.json",
        &format!(
            r#"{{"version": 3, "endpoints": [{{"endpoint": "/a",
                "backend": [{{{BACKEND}, "wholly_unknown_key": 1}}]}}]}}"#
        ),
    );
    let (code, stdout, stderr) = cuttle(
        &["check", "-tlc", bad.to_str().unwrap()],
        &[("CUTTLE_KRAKEND_SCHEMA", &schema)],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("endpoints[0].backend[0]: ") && stderr.contains("wholly_unknown_key"),
        "{stderr}"
    );
    assert!(!stdout.contains("Syntax OK!"), "{stdout}");
    // Without -l the same file passes, with the key as a warning.
    let (code, stdout, stderr) = cuttle(&["check", "-tc", bad.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("endpoints[0].backend[0].wholly_unknown_key"),
        "{stderr}"
    );

    // A number where a duration string belongs: refused while loading,
    // naming the key, with or without the schema.
    let timeout = file(
        &dir,
        "timeout.json",
        r#"{"version": 3, "timeout": 5, "endpoints": []}"#,
    );
    let (code, _, stderr) = cuttle(
        &["check", "-tlc", timeout.to_str().unwrap()],
        &[("CUTTLE_KRAKEND_SCHEMA", &schema)],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("timeout"), "{stderr}");
}

#[test]
fn check_l_without_a_schema_says_how_to_get_one_and_never_downloads() {
    let dir = TempDir::new();
    let good = file(&dir, "good.json", &good());
    let (code, stdout, stderr) = cuttle(&["check", "-lc", good.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("CUTTLE_KRAKEND_SCHEMA"), "{stderr}");
    let (code, _, stderr) = cuttle(
        &[
            "check",
            "-s",
            "https://www.krakend.io/schema/v2.13/krakend.json",
            "-c",
            good.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("never downloads"), "{stderr}");
    // A schema referring to anything but KrakenD's published URLs.
    let remote = file(
        &dir,
        "remote.json",
        r#"{"$ref": "https://example.com/krakend.json"}"#,
    );
    let (code, _, stderr) = cuttle(
        &["check", "-lc", good.to_str().unwrap()],
        &[("CUTTLE_KRAKEND_SCHEMA", &remote)],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("does not fetch"), "{stderr}");
}

/// KrakenD's own schema, when the operator has saved it (cuttle does not
/// ship it: krakend-schema has no licence). Set CUTTLE_KRAKEND_SCHEMA to
/// krakend-schema's `v2.13/krakend.json` to run this check.
#[test]
fn check_tlc_with_krakends_published_schema_when_available() {
    let Some(schema) = std::env::var_os("CUTTLE_KRAKEND_SCHEMA") else {
        eprintln!("CUTTLE_KRAKEND_SCHEMA is not set: KrakenD's schema is not linted against");
        return;
    };
    let schema = PathBuf::from(schema);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.json");
    let (code, stdout, stderr) = cuttle(
        &["check", "-tlc", example.to_str().unwrap()],
        &[("CUTTLE_KRAKEND_SCHEMA", &schema)],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let dir = TempDir::new();
    let bad = file(
        &dir,
        "bad.json",
        &format!(
            r#"{{"version": 3, "endpoints": [{{"endpoint": "/a", "backend": [{{{BACKEND},
                "extra_config": {{"qos/circuit-breaker": {{"interval": 60, "timeout": 10, "max_errors": 1, "xyzzy_plugh": 1}}}}}}]}}]}}"#
        ),
    );
    let (code, _, stderr) = cuttle(
        &["check", "-tlc", bad.to_str().unwrap()],
        &[("CUTTLE_KRAKEND_SCHEMA", &schema)],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("endpoints[0].backend[0].extra_config.qos/circuit-breaker: ")
            && stderr.contains("xyzzy_plugh"),
        "{stderr}"
    );
}

/// A file whose problem only building the worker's tables finds: an
/// `allow` path with an empty segment passes the config rules, and the
/// filter compiler refuses it.
fn built_only_failure() -> String {
    format!(
        r#"{{"version": 3, "endpoints": [{{"endpoint": "/a",
            "backend": [{{{BACKEND}, "allow": ["a..b"]}}]}}]}}"#
    )
}

#[test]
fn check_t_builds_what_run_builds() {
    let dir = TempDir::new();
    let path = file(&dir, "plan.json", &built_only_failure());
    let (code, stdout, stderr) = cuttle(&["check", "-tc", path.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("ERROR testing the configuration file")
            && stderr.contains("endpoints[0].backend[0]"),
        "{stderr}"
    );
    // Without -t, as KrakenD's check without -t, only the file is checked.
    let (code, stdout, _) = cuttle(&["check", "-c", path.to_str().unwrap()], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Syntax OK!"));
}

#[test]
fn check_d_prints_the_configuration_as_understood() {
    let dir = TempDir::new();
    let path = file(&dir, "good.json", &good());
    let (code, stdout, stderr) = cuttle(&["check", "-dc", path.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Global settings\n"), "{stdout}");
    assert!(
        stdout.contains("1 API endpoint(s):\n\t- GET /a\n\t\tTimeout: 3s\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\t\t\t[+] GET /x\n"), "{stdout}");
    let (_, stdout, _) = cuttle(
        &["check", "-d", "-i", "  ", "-c", path.to_str().unwrap()],
        &[],
    );
    assert!(
        stdout.contains("\n  - GET /a\n    Timeout: 3s\n"),
        "{stdout}"
    );
}

/// (file text, the path and the suggestion the refusal must name).
fn misspellings() -> Vec<(String, &'static str, &'static str)> {
    let endpoint = |extra: &str, backend_extra: &str| {
        format!(r#"{{"version": 3 {extra}, "endpoints": [{{"endpoint": "/a" {backend_extra}}}]}}"#)
    };
    vec![
        (
            endpoint(
                r#", "timout": "3s""#,
                &format!(r#", "backend": [{{{BACKEND}}}]"#),
            ),
            "timout",
            "timeout",
        ),
        (
            endpoint(
                r#", "extra_config": {"telemetry/loging": {"level": "DEBUG"}}"#,
                &format!(r#", "backend": [{{{BACKEND}}}]"#),
            ),
            "extra_config.telemetry/loging",
            "telemetry/logging",
        ),
        (
            endpoint(
                "",
                &format!(r#", "concurent_calls": 2, "backend": [{{{BACKEND}}}]"#),
            ),
            "endpoints[0].concurent_calls",
            "concurrent_calls",
        ),
        (
            endpoint(
                "",
                &format!(
                    r#", "extra_config": {{"qos/ratelimit/routr": {{"max_rate": 1}}}}, "backend": [{{{BACKEND}}}]"#
                ),
            ),
            "endpoints[0].extra_config.qos/ratelimit/routr",
            "qos/ratelimit/router",
        ),
        (
            endpoint(
                "",
                &format!(r#", "backend": [{{{BACKEND}, "is_colection": true}}]"#),
            ),
            "endpoints[0].backend[0].is_colection",
            "is_collection",
        ),
        (
            endpoint(
                "",
                &format!(
                    r#", "backend": [{{{BACKEND}, "extra_config": {{"qos/circuit-braker": {{"interval": 60, "timeout": 10, "max_errors": 1}}}}}}]"#
                ),
            ),
            "endpoints[0].backend[0].extra_config.qos/circuit-braker",
            "qos/circuit-breaker",
        ),
        (
            endpoint(
                "",
                &format!(
                    r#", "backend": [{{{BACKEND}, "extra_config": {{"qos/circuit-breaker": {{"interval": 60, "timout": 10, "max_errors": 1}}}}}}]"#
                ),
            ),
            "endpoints[0].backend[0].extra_config.qos/circuit-breaker.timout",
            "timeout",
        ),
    ]
}

#[test]
fn misspelt_names_get_a_did_you_mean_at_every_level() {
    let dir = TempDir::new();
    for (index, (text, at, suggestion)) in misspellings().into_iter().enumerate() {
        let path = file(&dir, &format!("typo{index}.json"), &text);
        let (code, stdout, stderr) = cuttle(&["check", "-c", path.to_str().unwrap()], &[]);
        assert_eq!(code, 1, "{text}\n{stdout}{stderr}");
        assert!(
            stderr.contains(&format!("{at}: "))
                && stderr.contains(&format!("did you mean \"{suggestion}\"?")),
            "{text}\n{stderr}"
        );
        assert!(!stdout.contains("Syntax OK!"), "{stdout}");
    }
}

/// How `cuttle run` ends on `path`: `Ok(())` once it listens (then it is
/// stopped), `Err(stderr)` when it exits first.
fn run_outcome(path: &Path) -> Result<(), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args([
            "run",
            "-c",
            path.to_str().unwrap(),
            "-p",
            "0",
            "--cores",
            "1",
        ])
        .env("CUTTLE_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let listening = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.starts_with("cuttle listening on "));
        let _ = tx.send(listening);
    });
    // Either line comes or stdout closes when the process exits.
    let listening = rx.recv_timeout(Duration::from_secs(60)).unwrap_or(false);
    if listening {
        child.kill().unwrap();
        child.wait().unwrap();
        return Ok(());
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    Err(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn check_t_and_run_agree_on_every_file() {
    let dir = TempDir::new();
    let mut files = vec![
        ("good", good()),
        ("built-only failure", built_only_failure()),
        (
            "unknown key far from any (a warning)",
            format!(
                r#"{{"version": 3, "wholly_unknown": 1, "endpoints": [{{"endpoint": "/a", "backend": [{{{BACKEND}}}]}}]}}"#
            ),
        ),
        (
            "route clash",
            format!(
                r#"{{"version": 3, "endpoints": [{{"endpoint": "/a", "backend": [{{{BACKEND}}}]}},
                    {{"endpoint": "/a", "backend": [{{{BACKEND}}}]}}]}}"#
            ),
        ),
        (
            "timeout as a number (nanoseconds, as KrakenD: served, with a warning)",
            r#"{"version": 3, "timeout": 5, "endpoints": []}"#.to_owned(),
        ),
    ];
    for (text, at, _) in misspellings() {
        files.push((at, text));
    }
    let mut served = 0;
    for (index, (name, text)) in files.iter().enumerate() {
        let path = file(&dir, &format!("f{index}.json"), text);
        let (code, stdout, stderr) = cuttle(&["check", "-tc", path.to_str().unwrap()], &[]);
        let run = run_outcome(&path);
        assert_eq!(
            code == 0,
            run.is_ok(),
            "{name}: check -t said {code} ({stdout}{stderr}), run said {run:?}"
        );
        if let Err(run_error) = &run {
            // The same reason, in the same words, from both.
            let reason = stderr
                .lines()
                .map(|l| l.trim_start_matches("ERROR testing the configuration file:\t"))
                .max_by_key(|l| l.len())
                .unwrap_or_default();
            assert!(
                !reason.is_empty() && run_error.contains(reason),
                "{name}: check: {stderr}\nrun: {run_error}"
            );
        }
        served += usize::from(run.is_ok());
    }
    // The set holds both kinds.
    assert_eq!(served, 3);
}
