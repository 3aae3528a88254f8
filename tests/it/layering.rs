//! The layers of `src/` (docs/architecture.md) as a test: a module may use only the
//! layers below its own, counted from every `crate::<folder>` path outside comments
//! (including `use crate::{a::.., b::..}` groups). A lower layer reaching up, or a
//! path through the crate root's re-exports, fails with the file and the path.

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first. `error` and `runtime` are the foundation every layer may use.
const LAYERS: &[&str] = &[
    "tree",
    "config",
    "server",
    "build",
    "lifecycle",
    "validate",
    "docs",
    "testing",
    "asynchronous",
];
const FOUNDATION: &[&str] = &["error", "runtime"];
/// What the crate root re-exports from the foundation.
const ROOT_FOUNDATION: &[&str] = &["Result", "Error", "ScriptFailure"];

fn rank(folder: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == folder)
}

/// The text without `//` and `/* */` comments (string literals are left: a path
/// inside one is rare and would only make the test stricter).
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else if c == '/' && chars.peek() == Some(&'*') {
            chars.next();
            let mut prev = ' ';
            for c in chars.by_ref() {
                if prev == '*' && c == '/' {
                    break;
                }
                prev = c;
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The first segment of every `crate::` path in `src`.
fn crate_targets(src: &str) -> BTreeSet<String> {
    let text = strip_comments(src);
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        // `ores_sql::crate::` does not exist; `$crate::` and `some_crate::` are not ours.
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Items at the group's own depth; a nested group belongs to its item.
            let (mut depth, mut item) = (0usize, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        first_segment(&item, &mut out);
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            first_segment(&item, &mut out);
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn first_segment(item: &str, out: &mut BTreeSet<String>) {
    let first = item.trim().split("::").next().unwrap_or("").trim();
    if !first.is_empty() {
        out.insert(first.to_string());
    }
}

fn rs_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every upward or root-reaching `crate::` path of `src/`, as "file: path".
fn violations() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let mut out = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let mut parts = rel.components();
        let first = parts
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .to_string();
        // Root files (lib.rs, error.rs, runtime.rs) and the binary sit outside the
        // layers: the root wires them up, the binary is above them all.
        let Some(own) = (parts.next().is_some()).then(|| rank(&first)).flatten() else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for target in crate_targets(&text) {
            let ok = match rank(&target) {
                Some(r) => r <= own,
                None => {
                    FOUNDATION.contains(&target.as_str())
                        || ROOT_FOUNDATION.contains(&target.as_str())
                }
            };
            if !ok {
                out.push(format!("src/{}: crate::{target}", rel.display()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn no_layer_of_src_uses_a_layer_above_it() {
    let found = violations();
    assert!(
        found.is_empty(),
        "these modules reach a layer above their own (order, lowest first: {}):\n{}",
        LAYERS.join(" < "),
        found.join("\n")
    );
}

#[test]
fn the_check_sees_grouped_and_plain_paths_and_skips_comments() {
    let src = "use crate::{build::x, server::{a, b}};\n// crate::testing::y\nfn f() { crate::lifecycle::g(); }\n/* crate::validate */";
    let found: Vec<String> = crate_targets(src).into_iter().collect();
    assert_eq!(found, ["build", "lifecycle", "server"]);
}

#[test]
fn every_folder_of_src_is_a_known_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            assert!(
                name == "bin" || rank(&name).is_some(),
                "src/{name} is not in LAYERS: place it in docs/architecture.md and here"
            );
        }
    }
}
