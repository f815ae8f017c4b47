//! The template engine, one row per case: template, settings (JSON), and
//! the text it renders or the start of the error it fails with.

use std::collections::HashMap;
use std::path::Path;

use super::exec::{self, Template};
use super::funcs::Ctx;
use super::parse;
use super::value::Value;
use crate::config::Environment;

/// Renders `main` with `others` as further templates (name, text) on
/// `settings`, with the partials folder `partials`.
fn render_with(
    main: &str,
    others: &[(&str, &str)],
    settings: &str,
    partials: &Path,
) -> Result<String, String> {
    let mut set = HashMap::new();
    for (name, text) in std::iter::once(("main", main)).chain(others.iter().copied()) {
        let parsed = parse::parse(text).map_err(|e| format!("{name}:{}: {}", e.line, e.message))?;
        for (define, body) in parsed.defines {
            set.insert(
                define,
                Template {
                    file: name.to_owned(),
                    body,
                },
            );
        }
        set.insert(
            name.to_owned(),
            Template {
                file: name.to_owned(),
                body: parsed.body,
            },
        );
    }
    let env = Environment::from_pairs([("SERVICE_NAME", "orders"), ("HOST_URL", "http://h:1")]);
    let ctx = Ctx {
        env: &env,
        partials,
    };
    let data = Value::from_json(&serde_json::from_str(settings).unwrap());
    exec::execute(&set, "main", data, &ctx)
        .map_err(|e| format!("{}:{}: {}", e.file, e.line, e.message))
}

fn render(main: &str, settings: &str) -> Result<String, String> {
    render_with(main, &[], settings, Path::new("/nonexistent"))
}

const SETTINGS: &str = r#"{
  "service": {"port": 8080, "name": "api", "big": 1000000, "ratio": 0.5, "debug": false,
              "hosts": ["http://a", "http://b"], "extra": {"b": "<x>", "a": 1}, "empty": ""},
  "env": {"list": ["/a", "/b", "/c"], "nested": {"k": {"v": "deep"}}}
}"#;

#[test]
fn renders_as_go_text_template() {
    let cases: &[(&str, &str)] = &[
        // fields, numbers as Go prints a float64
        ("{{ .service.port }}", "8080"),
        ("{{ .service.big }} {{ .service.ratio }}", "1e+06 0.5"),
        ("{{ .env.nested.k.v }}", "deep"),
        ("{{ .service.missing }}", "<no value>"),
        ("{{ $.service.name }}", "api"),
        // marshal and toJson are Go's json.Marshal: sorted keys, HTML escaped
        (
            "{{ marshal .service.extra }}",
            r#"{"a":1,"b":"\u003cx\u003e"}"#,
        ),
        ("{{ marshal .service.hosts }}", r#"["http://a","http://b"]"#),
        (
            "{{ .service.extra | toJson }}",
            r#"{"a":1,"b":"\u003cx\u003e"}"#,
        ),
        ("{{ marshal .service.nothing }}", "null"),
        // range with index and comma, as the playground writes it
        (
            "[{{ range $i, $e := .env.list }}{{ if $i }},{{ end }}\"{{ $e }}\"{{ end }}]",
            r#"["/a","/b","/c"]"#,
        ),
        ("{{ range .env.list }}{{ . }}{{ end }}", "/a/b/c"),
        (
            "{{ range $k, $v := .service.extra }}{{ $k }}={{ $v }};{{ end }}",
            "a=1;b=<x>;",
        ),
        (
            "{{ range .service.nothing }}x{{ else }}none{{ end }}",
            "none",
        ),
        (
            "{{ range $i, $e := .env.list }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if eq $i 2 }}{{ break }}{{ end }}{{ $e }}{{ end }}",
            "/a",
        ),
        // if / else if / else, with, trim markers, comments
        (
            "{{ if .service.debug }}d{{ else if .service.name }}n{{ else }}e{{ end }}",
            "n",
        ),
        (
            "{{ with .service.hosts }}{{ index . 1 }}{{ else }}none{{ end }}",
            "http://b",
        ),
        (
            "{{ with .service.empty }}x{{ else }}empty{{ end }}",
            "empty",
        ),
        ("a  {{- /* a comment */ -}}  b", "ab"),
        ("a\n  {{- 1 }}\n  {{- 2 -}}\n  c", "a12c"),
        ("{{/* only a comment */}}x", "x"),
        // variables: declared, assigned, scoped to their control
        ("{{ $x := .service.name }}{{ $x }}", "api"),
        (
            "{{ $l := list }}{{ $l = append $l 1 }}{{ $l = append $l 2 }}{{ len $l }}",
            "2",
        ),
        (
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            "2",
        ),
        (
            "{{ if true }}{{ $y := 1 }}{{ end }}{{ $y := 3 }}{{ $y }}",
            "3",
        ),
        // pipelines, parentheses, fields of a parenthesised value
        ("{{ .service.name | upper | quote }}", "\"API\""),
        ("{{ (split \":\" \"host:8000\")._1 }}", "8000"),
        (
            "{{ int ((split \":\" (splitList \"://\" (env \"HOST_URL\") | last))._1) }}",
            "1",
        ),
        // comparisons and logic
        (
            "{{ if and .service.name (not .service.debug) }}y{{ end }}",
            "y",
        ),
        ("{{ or .service.empty .service.name }}", "api"),
        ("{{ if ne .service.name \"x\" }}y{{ end }}", "y"),
        ("{{ if eq .service.port 8080.0 }}y{{ end }}", "y"),
        ("{{ if gt (len .env.list) 2 }}y{{ end }}", "y"),
        ("{{ if eq .service.name \"a\" \"api\" }}y{{ end }}", "y"),
        // Sprig
        (
            "{{ env \"SERVICE_NAME\" }}|{{ env \"UNSET\" }}|",
            "orders||",
        ),
        ("{{ .service.missing | default \"dflt\" }}", "dflt"),
        ("{{ .service.name | default \"dflt\" }}", "api"),
        ("{{ hasKey .service \"port\" }}", "true"),
        (
            "{{ $m := merge (dict \"a\" 1) (dict \"a\" 2 \"b\" 3) }}{{ $m.a }}{{ $m.b }}",
            "13",
        ),
        (
            "{{ \"{\\\"a\\\":[1,2]}\" | fromJson | toJson }}",
            r#"{"a":[1,2]}"#,
        ),
        ("{{ join \",\" .service.hosts }}", "http://a,http://b"),
        ("{{ \"a\\nb\" | indent 2 }}", "  a\n  b"),
        ("{{ \"x\" | nindent 2 }}", "\n  x"),
        ("{{ \"hi\" | b64enc }}", "aGk="),
        ("{{ add 1 2 }} {{ sub 5 2 }} {{ int \"42\" }}", "3 3 42"),
        ("{{ print \"a\" 1 2 \"b\" }}", "a1 2b"),
        ("{{ printf \"%s:%d\" \"h\" 8 }}", "h:8"),
        ("{{ ternary \"y\" \"n\" true }}", "y"),
        ("{{ coalesce .service.empty .service.name }}", "api"),
        ("{{ trimSuffix \"/\" \"http://a/\" }}", "http://a"),
        ("{{ replace \"a\" \"b\" \"aXa\" }}", "bXb"),
        ("{{ contains \"X\" \"aXa\" }}", "true"),
    ];
    for (template, want) in cases {
        assert_eq!(
            render(template, SETTINGS).as_deref(),
            Ok(*want),
            "{template}"
        );
    }
}

#[test]
fn templates_defines_and_includes() {
    let dir = crate::config::flexible::tests::temp_dir();
    std::fs::write(dir.join("headers.tmpl"), "\"input_headers\": [\"X\"]").unwrap();
    let main = r#"{ {{ template "ep.tmpl" .service }}, {{ include "/headers.tmpl" }}, {{ template "named" "z" }}{{ template "named" }} }{{ define "named" }}<{{ . }}>{{ end }}"#;
    let others = [(
        "ep.tmpl",
        r#""name": "{{ .name }}", "root": "{{ $.name }}""#,
    )];
    assert_eq!(
        render_with(main, &others, SETTINGS, &dir).as_deref(),
        Ok(r#"{ "name": "api", "root": "api", "input_headers": ["X"], <z><<no value>> }"#)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_name_the_file_the_line_and_the_fix() {
    let cases: &[(&str, &str)] = &[
        (
            "{\n  \"a\": {{ nosuch 1 }}\n}",
            "main:2: function \"nosuch\" not defined",
        ),
        ("{{ if .service.port }}\nx", "main:1: {{if}} has no {{end}}"),
        ("x\n{{ end }}", "main:2: unexpected {{end}}"),
        ("{{ .service.port\n", "main:1: unclosed action"),
        (
            "\n\n{{ .nope.port }}",
            "main:3: .nope has no value, so it has no field port (is there a settings file nope.json",
        ),
        (
            "{{ .service.name.x }}",
            "main:1: can't evaluate field x in type string",
        ),
        (
            "{{ template \"missing.tmpl\" . }}",
            "main:1: no template named \"missing.tmpl\": templates are the *.tmpl files of FC_TEMPLATES",
        ),
        (
            "{{ include \"nope.tmpl\" }}",
            "main:1: include \"nope.tmpl\": cannot read /nonexistent/nope.tmpl",
        ),
        (
            "{{ $undeclared }}",
            "main:1: undefined variable \"$undeclared\"",
        ),
        (
            "{{ if eq .service.port 8080 }}{{ end }}",
            "main:1: error calling eq: incompatible types for comparison (float64 and int; a settings number is a float64",
        ),
        (
            "{{ .service.name 1 }}",
            "main:1: can't give argument to non-function .service.name",
        ),
        ("{{ \"unterminated }}", "main:1: unterminated quoted string"),
        (
            "{{ upper 1 }}",
            "main:1: wrong type for value; expected string; got int",
        ),
    ];
    for (template, want) in cases {
        let got = render(template, SETTINGS).expect_err(template);
        assert!(
            got.starts_with(want),
            "{template}\n got: {got}\nwant: {want}"
        );
    }
}

#[test]
fn the_settings_hint_is_given_only_for_the_settings_themselves() {
    let got = render("{{ with .env }}{{ .nope.x }}{{ end }}", SETTINGS).unwrap_err();
    assert_eq!(got, "main:1: .nope has no value, so it has no field x");
}

#[test]
fn a_template_calling_itself_stops() {
    let got = render(
        r#"{{ define "a" }}{{ template "a" }}{{ end }}{{ template "a" }}"#,
        "{}",
    )
    .unwrap_err();
    assert!(got.contains("nests more than 100 deep"), "{got}");
}

/// A fresh folder under the system's temporary one.
pub(super) fn temp_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cuttle-flexible-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
