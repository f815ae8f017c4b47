//! The module layering (ARCHITECTURE.md, "Code map"): `config` is a leaf
//! of plain settings that names nothing above it (only `http`'s methods and
//! URLs), and `http` names nothing of `config`, `proxy` or `server`. What
//! needs the modules above `config` is built by `prepare`. A forbidden
//! `crate::` path (or a `super::` that climbs out of the module) fails here.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, test files (`*tests.rs`) excluded: they
/// may drive the layers above to check what they build.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs")
            && !path.to_string_lossy().ends_with("tests.rs")
        {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The code of a line, its `//` comment cut off (a `//` inside a string
/// cuts too much, never too little for what is looked for here).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or_default()
}

/// The top-level modules a line names through `crate::` (`crate::a::b`
/// and `crate::{a, b::c}`).
fn crate_modules(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code(line);
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `mycrate::`, not this crate
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or_default();
            names.extend(
                inner
                    .split(',')
                    .map(|item| {
                        item.trim()
                            .split("::")
                            .next()
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .filter(|name| !name.is_empty()),
            );
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            names.push(name);
        }
    }
    names
}

/// How many directories `file` lies below `root` (0: `root/x.rs`).
fn depth(root: &Path, file: &Path) -> usize {
    file.strip_prefix(root).unwrap().components().count() - 1
}

/// Each `crate::` module named under `src/<module>` that `allowed` does
/// not list, and each `super::` chain that leaves the module, as
/// `file:line: text`.
fn violations(module: &str, allowed: impl Fn(&str) -> bool) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(module);
    let mut found = Vec::new();
    for file in sources(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        let is_mod = file.file_name().is_some_and(|n| n == "mod.rs");
        // A `super::` chain stays inside the module for as many steps as
        // the file lies below its root, plus one unless it is a `mod.rs`
        // (whose own `super` is already the parent directory's module).
        let inside = depth(&root, &file) + usize::from(!is_mod);
        for (n, line) in text.lines().enumerate() {
            let shown = || format!("{}:{}: {}", file.display(), n + 1, line.trim());
            if crate_modules(line).iter().any(|m| !allowed(m)) {
                found.push(shown());
            }
            let code = code(line);
            if let Some(i) = code.find("super::") {
                let climbs = code[i..].matches("super::").count();
                let chained = code[i..].starts_with(&"super::".repeat(climbs));
                if chained && climbs > inside {
                    found.push(shown());
                }
            }
        }
    }
    found
}

#[test]
fn config_names_nothing_above_it() {
    let found = violations("config", |m| matches!(m, "config" | "http"));
    assert!(
        found.is_empty(),
        "config/ must stay plain settings: build what needs a higher module in prepare.rs instead:\n{}",
        found.join("\n")
    );
}

#[test]
fn http_names_nothing_of_config_proxy_or_server() {
    let found = violations("http", |m| !matches!(m, "config" | "proxy" | "server"));
    assert!(
        found.is_empty(),
        "http/ must not depend on config, proxy or server:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_sees_every_form() {
    assert_eq!(crate_modules("use crate::tls::ServerTls;"), ["tls"]);
    assert_eq!(
        crate_modules("    crate::auth::x(crate::http::y)"),
        ["auth", "http"]
    );
    assert_eq!(
        crate_modules("use crate::{http::Method, validation::cel};"),
        ["http", "validation"]
    );
    assert!(crate_modules("// read by `crate::metrics`").is_empty());
    assert!(crate_modules("let a = mycrate::x;").is_empty());
}

/// Each line under `src/<module>` that names one of `forbidden` through
/// `crate::`, as `file:line: text`.
fn naming(module: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(module);
    let mut found = Vec::new();
    for file in sources(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if crate_modules(line)
                .iter()
                .any(|m| forbidden.contains(&m.as_str()))
            {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn proxy_and_upstream_name_nothing_of_server() {
    let mut found = naming("proxy", &["server"]);
    found.extend(naming("upstream", &["server", "proxy"]));
    assert!(
        found.is_empty(),
        "proxy/ is the request path for every codec and must not depend on server/ \
         (upstream/ on neither): move what it needs below it:\n{}",
        found.join("\n")
    );
}
