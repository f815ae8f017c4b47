//! No file-level import cycles inside `upstream/` (ARCHITECTURE.md, "Code
//! map"): a pooled connection knows nothing of its pool (`pool::Lease`
//! lends it out and takes it back), and so on. `proxy/` still has cycles;
//! they are listed here, and a new one fails.
//!
//! A file depends on a sibling when it names it through `super::` or
//! `crate::<dir>::`; an item the directory's `mod.rs` re-exports counts as
//! its own file, and one `mod.rs` defines counts as `mod.rs` (which
//! depends on the files whose items its own code uses, not on those it
//! only re-exports).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The code of a line, its `//` comment cut off.
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or_default()
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The first segments of the paths that follow each `prefix` in `line`
/// (`prefix::a::b` gives `a`; `prefix::{a::b, c}` gives `a` and `c`).
fn names_after(line: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code(line);
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or_default();
            names.extend(
                inner
                    .split(',')
                    .map(|item| ident(item.trim()))
                    .filter(|n| !n.is_empty()),
            );
        } else {
            names.push(ident(rest));
        }
    }
    names
}

/// The file-level dependency graph of the `.rs` files directly in `dir`
/// (named by file stem; `mod` for `mod.rs`).
fn graph(dir: &Path, module_path: &str) -> Graph {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            files.insert(stem, std::fs::read_to_string(&path).unwrap());
        }
    }
    // What mod.rs re-exports: item -> the file that defines it.
    let mut exported = BTreeMap::new();
    let facade = files.get("mod").cloned().unwrap_or_default();
    let mut statement = String::new();
    for line in facade.lines() {
        let line = code(line).trim();
        if statement.is_empty() && !line.starts_with("pub use ") {
            continue;
        }
        statement.push_str(line);
        statement.push(' ');
        if !line.ends_with(';') {
            continue;
        }
        let path = statement.trim_start_matches("pub use ").trim();
        let from = ident(path);
        if files.contains_key(&from) {
            let items = path[from.len()..].trim_start_matches("::");
            let items = items.trim_matches(|c| c == '{' || c == '}' || c == ';' || c == ' ');
            for item in items.split(',') {
                let item = item.trim().trim_end_matches(['}', ';']);
                let name = item.rsplit(" as ").next().unwrap_or(item).trim();
                let name = name.rsplit("::").next().unwrap_or(name);
                if !name.is_empty() {
                    exported.insert(name.to_string(), from.clone());
                }
            }
        }
        statement.clear();
    }
    let crate_prefix = format!("crate::{module_path}::");
    let mut graph = Graph::new();
    for (stem, text) in &files {
        // A file's test module is not part of the build (and its `super`
        // is the file itself).
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let deps = graph.entry(stem.clone()).or_default();
        if stem == "mod" {
            // Its own code's use of re-exported items (not `mod`/`use` lines).
            let mut in_use = false;
            for line in text.lines() {
                let line = code(line).trim();
                let starts_use = line.starts_with("pub use ") || line.starts_with("use ");
                if starts_use || in_use {
                    in_use = !line.ends_with(';');
                    continue;
                }
                if line.starts_with("mod ") || line.starts_with("pub mod ") {
                    continue;
                }
                for word in line.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                    if let Some(file) = exported.get(word) {
                        deps.insert(file.clone());
                    }
                    if files.contains_key(word)
                        && word != "mod"
                        && line.contains(&format!("{word}::"))
                    {
                        deps.insert(word.to_string());
                    }
                }
            }
            continue;
        }
        for line in text.lines() {
            let mut names = names_after(line, "super::");
            names.extend(names_after(line, &crate_prefix));
            for name in names.into_iter().filter(|n| !n.is_empty()) {
                let target = if files.contains_key(&name) && name != "mod" {
                    name
                } else if let Some(file) = exported.get(&name) {
                    file.clone()
                } else {
                    "mod".to_string()
                };
                if &target != stem {
                    deps.insert(target);
                }
            }
        }
    }
    graph
}

/// The groups of files that depend on each other (strongly connected
/// components of more than one file), each sorted.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(node) = todo.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|node| (node, reach(node))).collect();
    let mut groups = BTreeSet::new();
    for node in graph.keys() {
        let group: Vec<String> = graph
            .keys()
            .filter(|other| reached[node].contains(*other) && reached[*other].contains(node))
            .cloned()
            .collect();
        if group.len() > 1 {
            groups.insert(group);
        }
    }
    groups.into_iter().collect()
}

fn src(dir: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir)
}

/// A cycle's files and, for each, the siblings it depends on in it.
fn explain(graph: &Graph, group: &[String]) -> String {
    group
        .iter()
        .map(|file| {
            let deps: Vec<&String> = graph[file].iter().filter(|d| group.contains(d)).collect();
            format!("  {file}.rs -> {deps:?}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn upstream_has_no_import_cycle() {
    let graph = graph(&src("upstream"), "upstream");
    assert!(
        graph["client"].contains("pool"),
        "the scanner sees: {graph:?}"
    );
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "files of upstream/ that depend on each other:\n{}",
        found
            .iter()
            .map(|g| explain(&graph, g))
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// `proxy/`'s files that depend on each other today: `plan` names its
/// steps (`steps`, `validate`) and `shadow`'s bound, which read the plan;
/// `steps`, `validate` and `request` read each other's types; `shadow`
/// uses `fanout`'s call context, and `fanout` the plan and the request
/// helpers. Breaking these is left until the request chain has moved into
/// `proxy/`; until then no other file may join the knot and no second
/// one may form.
#[test]
fn proxy_has_no_import_cycle_beyond_the_known_one() {
    let known: BTreeSet<&str> = ["fanout", "plan", "request", "shadow", "steps", "validate"]
        .into_iter()
        .collect();
    let graph = graph(&src("proxy"), "proxy");
    let found = cycles(&graph);
    let beyond: Vec<&Vec<String>> = found
        .iter()
        .filter(|group| group.iter().any(|file| !known.contains(file.as_str())))
        .collect();
    assert!(
        found.len() <= 1 && beyond.is_empty(),
        "new import cycles in proxy/:\n{}",
        found
            .iter()
            .map(|g| explain(&graph, g))
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// The scanner on a made-up directory: the old pooled connection, which
/// named its pool while the pool named it, is a cycle; a re-export through
/// mod.rs counts as its file.
#[test]
fn a_cycle_is_found() {
    let dir = std::env::temp_dir().join(format!("cuttle-cycles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        "mod.rs",
        "mod conn;\nmod pool;\nmod client;\npub use pool::{Pool, Settings};\npub struct Pools(Vec<Pool>);\n",
    );
    write(
        "conn.rs",
        "use super::Pool; // via the re-export\npub struct Conn(std::rc::Rc<Pool>);\n",
    );
    write(
        "pool.rs",
        "use super::conn::Conn;\npub struct Pool(Vec<Conn>);\n",
    );
    write("client.rs", "use super::{Pools, pool::Pool};\n");
    let g = graph(&dir, "x");
    assert_eq!(
        cycles(&g),
        vec![vec!["conn".to_string(), "pool".to_string()]]
    );
    assert!(
        g["client"].contains("mod") && g["mod"].contains("pool"),
        "{g:?}"
    );
    write("conn.rs", "pub struct Conn;\n");
    let g = graph(&dir, "x");
    assert!(cycles(&g).is_empty(), "{g:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
