//! KrakenD's flexible configuration (`FC_ENABLE`, `FC_SETTINGS`,
//! `FC_PARTIALS`, `FC_TEMPLATES`, `FC_OUT`): KrakenD's own playground
//! renders and serves; `check` and a SIGHUP reload render too; errors name
//! the template file and line.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Backend, Gateway, TempDir, eventually, json};

/// The playground-community files (tests/fixtures/flexible, Apache-2.0,
/// see SOURCE.md there) copied into `dir`.
fn copy_playground(dir: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flexible/playground-community");
    copy(&fixture, dir);
    // Its `telemetry/metrics` serves /__stats on :8090: an ephemeral port
    // instead, so that tests running at once do not clash on it.
    let partial = dir.join("partials/extra_config.tmpl");
    let text = std::fs::read_to_string(&partial).unwrap();
    let free = common::free_port();
    let moved = text.replace("\":8090\"", &format!("\"127.0.0.1:{free}\""));
    assert_ne!(
        moved, text,
        "the playground no longer serves /__stats on :8090"
    );
    std::fs::write(&partial, moved).unwrap();
}

/// The `FC_*` variables of the playground's Makefile, on the copy in `dir`
/// (with `FC_OUT` in it).
fn playground_env(dir: &Path) -> Vec<(&'static str, String)> {
    let at = |p: &str| dir.join(p).to_str().unwrap().to_owned();
    vec![
        ("FC_ENABLE", "1".to_owned()),
        ("FC_SETTINGS", at("settings/dev")),
        ("FC_PARTIALS", at("partials")),
        ("FC_TEMPLATES", at("templates")),
        ("FC_OUT", at("rendered.json")),
    ]
}

/// The copy's hosts pointed at `backend`: the settings' hosts, and the
/// `http://localhost:8080` the template itself names (the playground
/// calls its own debug endpoint there). The JWK URL goes to a closed
/// local port, so nothing leaves the machine.
fn point_at(dir: &Path, backend: &Backend) {
    point_at_settings(dir, backend);
    let template = dir.join("krakend-flexible-config.tmpl");
    let text = std::fs::read_to_string(&template).unwrap();
    assert!(text.contains("http://localhost:8080"));
    std::fs::write(
        &template,
        text.replace("http://localhost:8080", &backend.url()),
    )
    .unwrap();
}

/// The playground's own dev settings with hosts pointed at `backend`.
fn point_at_settings(dir: &Path, backend: &Backend) {
    let env = dir.join("settings/dev/env.json");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/flexible/playground-community/settings/dev/env.json");
    let mut settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    for (key, value) in settings.as_object_mut().unwrap() {
        if key.starts_with("host_") {
            *value = backend.url().into();
        }
    }
    settings["security"] = "https://127.0.0.1:1/certs".into();
    std::fs::write(&env, settings.to_string()).unwrap();
}

fn start(dir: &Path) -> Gateway {
    let template = std::fs::read_to_string(dir.join("krakend-flexible-config.tmpl")).unwrap();
    let env = playground_env(dir);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Gateway::start_file(
        "krakend-flexible-config.tmpl",
        &template,
        &["-p", "0", "--cores", "1"],
        &env,
        false,
    )
}

fn echo_backend() -> Backend {
    Backend::start(|seen| json(200, &format!(r#"{{"path": "{}"}}"#, seen.path())))
}

#[test]
fn the_playgrounds_flexible_configuration_renders_and_serves() {
    let dir = TempDir::new();
    copy_playground(&dir.0);
    let backend = echo_backend();
    point_at(&dir.0, &backend);
    let gw = start(&dir.0);

    // The endpoints the template's range makes from loop_example.json.
    for path in ["/a", "/b", "/c"] {
        let response = gw.get(path);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert_eq!(response.json()["path"], format!("/__debug{path}"));
    }
    // sample_template.tmpl's endpoints, with the validator it writes: no
    // token, no backend call.
    for path in ["/admin/users", "/admin/devices"] {
        assert_eq!(gw.get(path).status, 401, "{path}");
    }
    assert!(
        backend
            .requests()
            .iter()
            .all(|seen| !seen.path().starts_with("/users"))
    );
    // The root extra_config comes from the partial: its CORS settings.
    let response = gw.raw(b"GET /a HTTP/1.1\r\nHost: x\r\nOrigin: http://elsewhere\r\n\r\n");
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));

    // FC_OUT holds the rendered file, as KrakenD writes it.
    let rendered = std::fs::read_to_string(dir.0.join("rendered.json")).unwrap();
    let rendered: serde_json::Value = serde_json::from_str(&rendered).unwrap();
    assert_eq!(rendered["port"], 8080);
    assert_eq!(rendered["endpoints"].as_array().unwrap().len(), 5);
    assert_eq!(
        rendered["endpoints"][0]["input_headers"],
        serde_json::json!(["Content-Type", "ClientId"])
    );
}

#[test]
fn a_reload_renders_the_settings_again() {
    let dir = TempDir::new();
    copy_playground(&dir.0);
    let backend = echo_backend();
    point_at(&dir.0, &backend);
    let gw = start(&dir.0);
    assert_eq!(gw.get("/d").status, 404);
    // Settings that do not render keep the running configuration.
    std::fs::write(dir.0.join("settings/dev/env.json"), "{\"port\": ").unwrap();
    gw.signal("HUP");
    eventually(
        "the failed reload is logged",
        Duration::from_secs(10),
        || gw.log().contains("configuration reload failed"),
    );
    assert!(gw.log().contains("env.json"), "{}", gw.log());
    assert_eq!(gw.get("/a").status, 200);
    point_at_settings(&dir.0, &backend);
    std::fs::write(
        dir.0.join("settings/dev/loop_example.json"),
        r#"{"dummy": ["/a", "/d"]}"#,
    )
    .unwrap();
    gw.signal("HUP");
    eventually("the new setting is served", Duration::from_secs(10), || {
        gw.get("/d").status == 200
    });
    assert_eq!(gw.get("/d").json()["path"], "/__debug/d");
    assert_eq!(gw.get("/b").status, 404);
}

/// `cuttle check -c FILE` with `env`: (exit code, stdout, stderr).
fn check(file: &Path, extra: &[&str], env: &[(&str, String)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c", file.to_str().unwrap()])
        .args(extra)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_renders_the_playground() {
    let dir = TempDir::new();
    copy_playground(&dir.0);
    let file = dir.0.join("krakend-flexible-config.tmpl");
    let (code, out, err) = check(&file, &["-t", "-d"], &playground_env(&dir.0));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Syntax OK!"), "{out}");
    assert!(out.contains("Port: 8080"), "{out}");
    // -l lints the rendered text, not the template.
    let schema = write(
        &dir.0,
        "schema.json",
        r#"{"type": "object", "required": ["endpoints"], "properties": {"port": {"type": "integer"}}}"#,
    );
    let (code, out, err) = check(
        &file,
        &["-s", schema.to_str().unwrap()],
        &playground_env(&dir.0),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Syntax OK!"), "{out}");
    // Without FC_ENABLE the template is read as JSON, as KrakenD reads it.
    let (code, _, err) = check(&file, &[], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid JSON"), "{err}");
}

#[test]
fn errors_name_the_template_file_the_line_and_the_fix() {
    let dir = TempDir::new();
    write(&dir.0, "settings/service.json", r#"{"port": 8080}"#);
    write(
        &dir.0,
        "templates/endpoint.tmpl",
        "{\"endpoint\": \"/a\",\n \"backend\": [{\"host\": [\"{{ .service.host | shout }}\"]}]}",
    );
    let env = |out: &str| {
        vec![
            ("FC_ENABLE", "1".to_owned()),
            (
                "FC_SETTINGS",
                dir.0.join("settings").to_str().unwrap().to_owned(),
            ),
            (
                "FC_TEMPLATES",
                dir.0.join("templates").to_str().unwrap().to_owned(),
            ),
            ("FC_OUT", dir.0.join(out).to_str().unwrap().to_owned()),
        ]
    };
    // An unknown function in a template of FC_TEMPLATES.
    let main = write(
        &dir.0,
        "krakend.tmpl",
        "{\"version\": 3, \"port\": {{ .service.port }},\n\"endpoints\": [{{ template \"endpoint.tmpl\" . }}]}",
    );
    let (code, _, err) = check(&main, &[], &env("out.json"));
    assert_eq!(code, 1);
    let templates = dir.0.join("templates/endpoint.tmpl");
    assert!(
        err.contains(&format!(
            "{}: line 2: function \"shout\" not defined",
            templates.display()
        )),
        "{err}"
    );
    // A missing settings file, in the main template, at its line.
    write(
        &dir.0,
        "templates/endpoint.tmpl",
        "{\"endpoint\": \"/a\", \"backend\": [{\"host\": [\"http://127.0.0.1:9\"]}]}",
    );
    write(
        &dir.0,
        "krakend.tmpl",
        "{\"version\": 3,\n \"port\": {{ .svc.port }}}",
    );
    let (code, _, err) = check(&main, &[], &env("out.json"));
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{}: line 2: .svc has no value, so it has no field port (is there a settings file svc.json in FC_SETTINGS?", main.display())),
        "{err}"
    );
    // What renders but is not JSON is located in the FC_OUT file.
    write(
        &dir.0,
        "krakend.tmpl",
        "{\"version\": 3,\n \"port\": {{ .service.nothing }}}",
    );
    let (code, _, err) = check(&main, &[], &env("out.json"));
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("{}: line 2", dir.0.join("out.json").display())),
        "{err}"
    );
    assert!(err.contains("invalid JSON"), "{err}");
}

#[test]
fn fc_out_picks_the_format_and_env_reads_the_environment() {
    let dir = TempDir::new();
    write(
        &dir.0,
        "settings/service.json",
        r#"{"port": 8080, "hosts": ["http://127.0.0.1:9"]}"#,
    );
    let main = write(
        &dir.0,
        "krakend.tmpl",
        "version: 3\nname: {{ env \"SERVICE_NAME\" | quote }}\nport: {{ .service.port }}\nendpoints:\n  - endpoint: /a\n    backend:\n      - host: {{ marshal .service.hosts }}\n        url_pattern: /x\n",
    );
    let mut env = vec![
        ("FC_ENABLE", "1".to_owned()),
        (
            "FC_SETTINGS",
            dir.0.join("settings").to_str().unwrap().to_owned(),
        ),
        ("SERVICE_NAME", "orders \"eu\"".to_owned()),
    ];
    // Without FC_OUT KrakenD reads the rendered text as JSON: YAML fails.
    let (code, _, err) = check(&main, &[], &env);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("as rendered; FC_OUT=FILE.json writes the rendered text"),
        "{err}"
    );
    env.push((
        "FC_OUT",
        dir.0.join("out.yaml").to_str().unwrap().to_owned(),
    ));
    let (code, out, err) = check(&main, &["-d"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Name: orders \"eu\""), "{out}");
    let written = std::fs::read_to_string(dir.0.join("out.yaml")).unwrap();
    assert!(
        written.contains("host: [\"http://127.0.0.1:9\"]"),
        "{written}"
    );
}

#[test]
fn settings_errors_name_the_settings_file() {
    let dir = TempDir::new();
    let main = write(
        &dir.0,
        "krakend.tmpl",
        r#"{"version": 3, "port": {{ .service.port }}}"#,
    );
    let settings = write(
        &dir.0,
        "settings/service.json",
        "{\"port\": 8080,\n \"x\": }",
    );
    let env = |folder: &str| {
        vec![
            ("FC_ENABLE", "1".to_owned()),
            (
                "FC_SETTINGS",
                dir.0.join(folder).to_str().unwrap().to_owned(),
            ),
        ]
    };
    let (code, _, err) = check(&main, &[], &env("settings"));
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "{}: line 2, column 7: invalid JSON",
            settings.display()
        )),
        "{err}"
    );
    assert!(err.contains("a settings file of FC_SETTINGS"), "{err}");
    let (code, _, err) = check(&main, &[], &env("nowhere"));
    assert_eq!(code, 1);
    assert!(
        err.contains("set FC_SETTINGS to a folder that exists"),
        "{err}"
    );
}
