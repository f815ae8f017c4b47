//! Every relative link in README.md, ARCHITECTURE.md, CHANGELOG.md and
//! docs/*.md points at a file that exists and, with a `#fragment`, at a
//! heading of that file (GitHub's anchor rules), so moving a section
//! fails here until its links follow.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md", "CHANGELOG.md"]
        .iter()
        .map(|name| root().join(name))
        .collect();
    for entry in std::fs::read_dir(root().join("docs")).expect("docs/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages.sort();
    pages
}

/// The lines outside fenced code blocks (a `# comment` in a shell block
/// is no heading, a `](x)` in a JSON sample no link).
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push(line);
        }
    }
    lines
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, only
/// letters, digits, `-` and `_` kept; repeats get `-1`, `-2`, ...
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for line in prose(text) {
        let Some(title) = line.strip_prefix('#') else {
            continue;
        };
        let title = title.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
    }
    seen
}

/// The targets of `[text](target)` links on the page's prose lines.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose(text) {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            if let Some(end) = rest.find(')') {
                found.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    found
}

fn problems(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let dir = page.parent().unwrap();
    let mut problems = Vec::new();
    for link in links(&text) {
        if link.contains("://") || link.starts_with("mailto:") {
            continue;
        }
        let (file, fragment) = match link.split_once('#') {
            Some((file, fragment)) => (file, Some(fragment)),
            None => (link.as_str(), None),
        };
        let target = if file.is_empty() {
            page.to_path_buf()
        } else {
            dir.join(file)
        };
        if !target.exists() {
            problems.push(format!("{link}: no such file"));
            continue;
        }
        if let Some(fragment) = fragment
            && target.extension().is_some_and(|e| e == "md")
            && !anchors(&std::fs::read_to_string(&target).unwrap()).contains(fragment)
        {
            problems.push(format!("{link}: no heading #{fragment}"));
        }
    }
    problems
}

#[test]
fn relative_links_in_the_docs_resolve() {
    let mut all = Vec::new();
    for page in pages() {
        for problem in problems(&page) {
            all.push(format!("{}: {problem}", page.display()));
        }
    }
    assert!(all.is_empty(), "broken links:\n{}", all.join("\n"));
}

#[test]
fn anchors_follow_github() {
    let page = "# A\n## Bird's-eye view\n## `cuttle check`\n## JWT (`auth/validator`, `auth/signer`)\n## Request validation\n### Request validation\n```\n# not a heading\n```\n";
    let found = anchors(page);
    for anchor in [
        "a",
        "birds-eye-view",
        "cuttle-check",
        "jwt-authvalidator-authsigner",
        "request-validation",
        "request-validation-1",
    ] {
        assert!(found.contains(anchor), "{anchor} in {found:?}");
    }
    assert!(!found.contains("not-a-heading"));
    assert_eq!(
        links("see [a](b.md#c) and [d](e)\n```\n[x](y)\n```"),
        ["b.md#c", "e"]
    );
}
