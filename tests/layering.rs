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

/// The sibling files a file of `src/<module>/` names: `super::x` (and
/// `super::{x, y::z}`) where `x.rs` is a sibling; any other `super::`
/// item, or `crate::<module>::`, names the module's `mod.rs`.
fn sibling_imports(module: &str, text: &str, siblings: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    let own = format!("crate::{module}::");
    for line in text.lines() {
        let code = code(line);
        if code.trim_start().starts_with("mod ") || code.trim_start().starts_with("pub mod ") {
            continue;
        }
        let mut rest = code;
        while let Some(i) = rest.find("super::").or_else(|| rest.find(&own)) {
            let from_super = rest[i..].starts_with("super::");
            rest = &rest[i + if from_super {
                "super::".len()
            } else {
                own.len()
            }..];
            let items: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .collect(),
                None => vec![rest],
            };
            for item in items {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name.is_empty() || name == "super" {
                    continue;
                }
                // `super::x::..`, `use super::x;`: the file `x.rs` (a call
                // `super::x(..)` is an item of `mod.rs`).
                let is_file =
                    siblings.contains(&name) && !item.trim()[name.len()..].starts_with('(');
                names.push(if is_file { name } else { "mod".to_owned() });
            }
        }
    }
    names
}

/// A cycle among the files directly in `src/<module>/`, if any.
fn file_cycle(module: &str) -> Option<Vec<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(module);
    let files: Vec<PathBuf> = sources(&root)
        .into_iter()
        .filter(|f| depth(&root, f) == 0)
        .collect();
    let stem = |f: &Path| f.file_stem().unwrap().to_string_lossy().into_owned();
    let siblings: Vec<String> = files.iter().map(|f| stem(f)).collect();
    let edges: Vec<(String, Vec<String>)> = files
        .iter()
        .filter(|f| stem(f) != "mod")
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            // A file's own `mod tests` names its parent through `super::`.
            let text = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            let mut to = sibling_imports(module, text, &siblings);
            to.retain(|t| *t != stem(f));
            to.sort();
            to.dedup();
            (stem(f), to)
        })
        .collect();
    fn visit(
        node: &str,
        edges: &[(String, Vec<String>)],
        path: &mut Vec<String>,
        done: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.iter().any(|d| d == node) {
            return None;
        }
        path.push(node.to_owned());
        let to = edges
            .iter()
            .find(|(n, _)| n == node)
            .map(|(_, to)| to.clone());
        for next in to.unwrap_or_default() {
            if next == "mod" {
                // mod.rs re-exports every file: naming it closes a loop.
                let mut cycle = path.clone();
                cycle.push("mod".to_owned());
                return Some(cycle);
            }
            if let Some(cycle) = visit(&next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.push(node.to_owned());
        None
    }
    let mut done = Vec::new();
    for (node, _) in &edges {
        if let Some(cycle) = visit(node, &edges, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn files_of_proxy_and_upstream_import_each_other_without_cycles() {
    for module in ["proxy", "upstream"] {
        if let Some(cycle) = file_cycle(module) {
            panic!(
                "src/{module}/: the files import each other in a cycle: {}",
                cycle.join(" -> ")
            );
        }
    }
}
