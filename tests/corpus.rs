//! The corpus: real public KrakenD v3 files (tests/corpus/manifest.tsv),
//! each with the verdict `cuttle check` gives it today. The stored ones
//! (permissive licence) are checked again here, so a change in what
//! cuttle accepts fails this test until the manifest says so; the
//! manifest's Markdown table and the README's figure are rendered from
//! the same rows. After changing a verdict in manifest.tsv, run
//! `CUTTLE_BLESS_CORPUS=1 cargo test --test corpus` to rewrite them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Gateway, TempDir};

struct Row {
    file: String,
    repo: String,
    path: String,
    commit: String,
    licence: String,
    stored: bool,
    format: String,
    verdict: String,
    evidence: String,
    note: String,
}

/// The reasons a file may be refused for (README "Real files").
const REASONS: [&str; 7] = [
    "go-plugin",
    "missing-component: ",
    "enterprise: ",
    "resource: ",
    "invalid: ",
    "deliberate: ",
    "bug: ",
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(corpus().join("manifest.tsv")).unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 10, "manifest.tsv: 10 columns expected: {line}");
            let row = Row {
                file: f[0].into(),
                repo: f[1].into(),
                path: f[2].into(),
                commit: f[3].into(),
                licence: f[4].into(),
                stored: f[5] == "yes",
                format: f[6].into(),
                verdict: f[7].into(),
                evidence: f[8].into(),
                note: f[9].into(),
            };
            assert!(
                row.verdict == "accepted"
                    || row.verdict.strip_prefix("refused: ").is_some_and(|reason| {
                        REASONS.iter().any(|r| reason.starts_with(r)) && !row.evidence.is_empty()
                    }),
                "{}: a verdict is \"accepted\" or \"refused: <reason>\" with evidence, reason one of {REASONS:?}",
                row.path
            );
            assert_eq!(row.stored, row.file != "-", "{}: stored files are named", row.path);
            row
        })
        .collect()
}

/// `cuttle check` on a stored file, from an empty directory (files that
/// name local resources find none, as in the baseline run).
fn check(file: &str) -> (bool, String) {
    let dir = TempDir::new();
    let out = Command::new(env!("CARGO_BIN_EXE_cuttle"))
        .args(["check", "-c"])
        .arg(corpus().join("files").join(file))
        .current_dir(&dir.0)
        .env("CUTTLE_LOG", "warn")
        .output()
        .expect("run cuttle check");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn every_stored_file_checks_as_the_manifest_says() {
    let rows = rows();
    let mut stored: Vec<String> = std::fs::read_dir(corpus().join("files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    stored.sort();
    let mut listed: Vec<String> = rows
        .iter()
        .filter(|r| r.stored)
        .map(|r| r.file.clone())
        .collect();
    listed.sort();
    assert_eq!(
        stored, listed,
        "tests/corpus/files and the manifest's stored rows differ"
    );
    assert!(listed.len() >= 10);
    for row in rows.iter().filter(|r| r.stored) {
        let licence = format!("{}.LICENSE", row.repo.replacen('/', "__", 1));
        assert!(
            corpus().join("licences").join(&licence).is_file(),
            "{}: stored without tests/corpus/licences/{licence}",
            row.file
        );
    }
    let changed: Vec<String> = rows
        .iter()
        .filter(|r| r.stored)
        .filter_map(|r| {
            let (ok, output) = check(&r.file);
            let as_listed = if r.verdict == "accepted" {
                ok
            } else {
                !ok && output.contains(&r.evidence)
            };
            (!as_listed).then(|| {
                format!(
                    "{}: manifest says {:?} (evidence {:?}), cuttle check now {}:\n{output}",
                    r.file,
                    r.verdict,
                    r.evidence,
                    if ok { "accepts it" } else { "refuses it" }
                )
            })
        })
        .collect();
    assert!(
        changed.is_empty(),
        "update tests/corpus/manifest.tsv, then CUTTLE_BLESS_CORPUS=1 cargo test --test corpus:\n{}",
        changed.join("\n")
    );
}

/// A port free a moment ago, for a listener a file fixes (the same probe
/// as tests/prometheus.rs).
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// `cuttle run` serves each stored accepted file: it starts on port 0
/// (backends unreachable from here only warn) and answers `/__health`.
/// A Prometheus exporter's fixed port is moved to a free one, and the
/// `/__stats` port to an ephemeral one, so that parallel runs do not
/// collide on them.
#[test]
fn accepted_stored_files_run() {
    let accepted: Vec<Row> = rows()
        .into_iter()
        .filter(|r| r.stored && r.verdict == "accepted" && r.format == "json")
        .collect();
    assert!(!accepted.is_empty());
    for row in accepted {
        let text = std::fs::read_to_string(corpus().join("files").join(&row.file)).unwrap();
        let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
        let exporters = config
            .pointer_mut("/extra_config/telemetry~1opentelemetry/exporters/prometheus")
            .and_then(|p| p.as_array_mut());
        for exporter in exporters.into_iter().flatten() {
            exporter["port"] = free_port().into();
        }
        // `/__stats` (telemetry/metrics) on an ephemeral port, not 8090.
        if let Some(stats) = config.pointer_mut("/extra_config/telemetry~1metrics") {
            stats["listen_address"] = "127.0.0.1:0".into();
        }
        let gateway = Gateway::start_with(&config.to_string(), &["--cores", "1"]);
        let health = gateway.get("/__health");
        assert_eq!(health.status, 200, "{}: {}", row.file, health.text());
        assert!(
            health.text().contains("\"status\":\"ok\""),
            "{}",
            health.text()
        );
    }
}

/// Groups refusals by their reason's key (the text before " (").
fn reasons(rows: &[Row]) -> BTreeMap<&str, BTreeMap<&str, usize>> {
    let mut out: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for row in rows {
        let Some(reason) = row.verdict.strip_prefix("refused: ") else {
            continue;
        };
        let reason = reason.split(" (").next().unwrap();
        let (kind, what) = reason.split_once(": ").unwrap_or((reason, ""));
        *out.entry(kind).or_default().entry(what).or_default() += 1;
    }
    out
}

/// The README's sentence, between `<!-- corpus -->` markers.
fn figure(rows: &[Row]) -> String {
    let repos: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.repo.as_str()).collect();
    let accepted = rows.iter().filter(|r| r.verdict == "accepted").count();
    let kinds = [
        ("missing-component", "a component cuttle does not have yet"),
        ("go-plugin", "a custom Go plugin"),
        ("enterprise", "KrakenD Enterprise only"),
        (
            "resource",
            "a file it names (key, certificate) that is not published with it",
        ),
        ("invalid", "KrakenD cannot serve it either"),
        ("deliberate", "a deliberate deviation"),
        ("bug", "cuttle is wrong today"),
    ];
    let grouped = reasons(rows);
    let parts: Vec<String> = kinds
        .iter()
        .filter_map(|(kind, words)| {
            let whats = grouped.get(kind)?;
            let total: usize = whats.values().sum();
            let detail: Vec<String> = whats
                .iter()
                .filter(|(what, _)| !what.is_empty())
                .map(|(what, n)| format!("{what} {n}"))
                .collect();
            Some(if detail.is_empty() {
                format!("{words} ({total})")
            } else {
                format!("{words} ({total}: {})", detail.join(", "))
            })
        })
        .collect();
    let stored = rows.iter().filter(|r| r.stored).count();
    let flexible_text = std::fs::read_to_string(corpus().join("flexible.tsv")).unwrap();
    let flexible: Vec<&str> = flexible_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').nth(5).unwrap_or(""))
        .collect();
    let rendered = flexible
        .iter()
        .filter(|v| v.starts_with("loads") || v.starts_with("renders"))
        .count();
    let loaded = flexible.iter().filter(|v| v.starts_with("loads")).count();
    format!(
        "{accepted} of {} real public KrakenD v3 configurations from {} repositories load; the rest are refused for: {}. \
The list, with each file's source, commit, licence and verdict, is `tests/corpus/MANIFEST.md`; \
`tests/corpus.rs` checks the {stored} stored there (permissive licences) again on every run. \
{} more need a template step first (flexible configuration, envsubst) and are listed apart: \
with `FC_ENABLE` and their repositories' settings, {rendered} of them render and {loaded} load.",
        rows.len(),
        repos.len(),
        parts.join("; "),
        flexible.len()
    )
}

fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "# Corpus of real KrakenD v3 configurations\n\n\
Generated from `manifest.tsv` by `tests/corpus.rs` \
(`CUTTLE_BLESS_CORPUS=1 cargo test --test corpus`); edit the TSV, not this file.\n\n",
    );
    out.push_str(&figure(rows));
    out.push_str(
        "\n\nReasons: `go-plugin` (a custom Go plugin `.so`), `missing-component: <namespace>` \
(a KrakenD CE component cuttle does not have yet), `enterprise: <namespace>` (KrakenD Enterprise only), \
`invalid: <what>` (KrakenD refuses it or cannot serve it either), `deliberate: <what>` \
(cuttle refuses on purpose what KrakenD would start with; ARCHITECTURE.md \"Decisions and deviations\"), \
`bug: <what>` (cuttle is wrong today). Only the first reason is listed; the note names others. \
Stored files are copied unchanged under `files/` (named owner__repo__path), \
with their repositories' licence texts under `licences/`. Files not stored (no licence found, or one that does not allow redistribution) keep their verdict \
from the run that recorded them (cuttle at the commit that last changed this file's row).\n\n\
| repository | path | commit | licence | stored | format | verdict | note |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| [{repo}](https://github.com/{repo}) | [`{path}`](https://github.com/{repo}/blob/{commit}/{path}) | `{short}` | {licence} | {stored} | {format} | {verdict} | {note} |\n",
            repo = r.repo,
            path = r.path,
            commit = r.commit,
            short = &r.commit[..10],
            licence = r.licence,
            stored = if r.stored { "yes" } else { "no" },
            format = r.format,
            verdict = r.verdict.replace('|', "\\|"),
            note = r.note.replace('|', "\\|"),
        ));
    }
    let flexible = std::fs::read_to_string(corpus().join("flexible.tsv")).unwrap();
    out.push_str(
        "\n## Needs a template step first (not in the figures)\n\n\
Tried with `FC_ENABLE` and the settings, partials and templates their repositories \
hold (the last column; recorded by hand, files not stored unless their licence allows).\n\n\
| repository | path | commit | licence | why | with FC_ENABLE |\n|---|---|---|---|---|---|\n",
    );
    for line in flexible
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        out.push_str(&format!(
            "| [{repo}](https://github.com/{repo}) | [`{path}`](https://github.com/{repo}/blob/{commit}/{path}) | `{short}` | {licence} | {why} | {fc} |\n",
            repo = f[0],
            path = f[1],
            commit = f[2],
            short = &f[2][..10],
            licence = f[3],
            why = f[4],
            fc = f.get(5).unwrap_or(&"").replace('|', "\\|"),
        ));
    }
    out
}

#[test]
fn the_manifest_table_and_the_readme_figure_are_current() {
    let rows = rows();
    let table_path = corpus().join("MANIFEST.md");
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (before, rest) = readme
        .split_once("<!-- corpus -->\n")
        .expect("README has <!-- corpus -->");
    let (_, after) = rest
        .split_once("\n<!-- /corpus -->")
        .expect("README has <!-- /corpus -->");
    let want_readme = format!(
        "{before}<!-- corpus -->\n{}\n<!-- /corpus -->{after}",
        figure(&rows)
    );
    let want_table = markdown(&rows);
    if std::env::var_os("CUTTLE_BLESS_CORPUS").is_some() {
        std::fs::write(&table_path, &want_table).unwrap();
        std::fs::write(&readme_path, &want_readme).unwrap();
        return;
    }
    let table = std::fs::read_to_string(&table_path).unwrap_or_default();
    assert!(
        table == want_table && readme == want_readme,
        "MANIFEST.md or the README figure is stale: CUTTLE_BLESS_CORPUS=1 cargo test --test corpus"
    );
}
