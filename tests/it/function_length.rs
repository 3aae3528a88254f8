//! No function in `src/` is longer than [`LIMIT`] lines (issue 22): a longer one is
//! doing several things, and each deserves a name.
//!
//! Measured from the line holding `fn` to the line of its closing brace; doc comments
//! and attributes are not counted, nor anything inside a `#[cfg(test)]` item.
//! The scan is a small lexer, not a parser: it knows strings, raw strings, char
//! literals and comments well enough that braces inside them do not count.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const LIMIT: usize = 120;

/// Functions still over the limit, as `path::name`, while they are being rewritten.
/// Empty this list, do not add to it: the test also fails on an entry that is no
/// longer over the limit (or no longer exists), so it only ever shrinks.
const ALLOWED: &[&str] = &[];

/// One function found: `path::name` and its length in lines.
type Found = BTreeMap<String, usize>;

#[test]
fn no_function_in_src_is_longer_than_the_limit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut lengths = Found::new();
    for path in &files {
        let text = fs::read_to_string(path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for (name, lines) in function_lengths(&text) {
            // Two functions of one name in a file (methods of two impls): the longer.
            let entry = lengths.entry(format!("{rel}::{name}")).or_default();
            *entry = (*entry).max(lines);
        }
    }
    let too_long: Vec<String> = lengths
        .iter()
        .filter(|(name, lines)| **lines > LIMIT && !ALLOWED.contains(&name.as_str()))
        .map(|(name, lines)| format!("{name}: {lines} lines"))
        .collect();
    assert!(
        too_long.is_empty(),
        "longer than {LIMIT} lines; split them into functions that each do one thing:\n{}",
        too_long.join("\n")
    );
    let stale: Vec<&str> = ALLOWED
        .iter()
        .copied()
        .filter(|name| lengths.get(*name).is_none_or(|lines| *lines <= LIMIT))
        .collect();
    assert!(
        stale.is_empty(),
        "no longer over {LIMIT} lines (or gone); remove from ALLOWED:\n{}",
        stale.join("\n")
    );
}

#[test]
fn braces_in_literals_and_comments_do_not_count() {
    let text = r##"
fn a() {
    let c = '{';
    let s = "}}";
    let r = r#"{"#;
    // }
    /* { /* nested } */ */
    let l: &'static str = "x";
}

fn b();

#[cfg(test)]
mod tests {
    fn ignored() {
    }
}

pub(crate) fn c<'a>(x: &'a str) -> impl Fn(i32) -> bool + 'a {
    move |_| x.is_empty()
}
"##;
    let found = function_lengths(text);
    assert_eq!(found, vec![("a".to_string(), 8), ("c".to_string(), 3)]);
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every function with a body in `text`, outside `#[cfg(test)]` items: its name and
/// its length in lines, in the order they start.
fn function_lengths(text: &str) -> Vec<(String, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    // Functions whose body is open: (name, first line, depth outside the body).
    let mut open: Vec<(String, usize, usize)> = Vec::new();
    // A `fn name` seen, its body not yet opened: (name, line).
    let mut pending: Option<(String, usize)> = None;
    // Depth outside the `#[cfg(test)]` item being skipped, once its body opens.
    let mut test_item: Option<usize> = None;
    let mut test_attr = false;
    let mut i = 0;
    while i < chars.len() {
        if let Some(after) = skip_literal_or_comment(&chars, i, &mut line) {
            i = after;
            continue;
        }
        match chars[i] {
            '\n' => line += 1,
            '#' if text_at(&chars, i, "#[cfg(test)]") => test_attr = true,
            '{' => {
                if let Some((name, start)) = pending.take() {
                    open.push((name, start, depth));
                }
                if test_attr && test_item.is_none() {
                    test_item = Some(depth);
                }
                test_attr = false;
                depth += 1;
            }
            '}' => {
                depth -= 1;
                if open.last().is_some_and(|(_, _, d)| *d == depth) {
                    let (name, start, _) = open.pop().unwrap();
                    if test_item.is_none() {
                        out.push((start, name, line - start + 1));
                    }
                }
                if test_item == Some(depth) {
                    test_item = None;
                }
            }
            ';' => {
                // A declaration without a body (in a trait or `extern` block).
                pending = None;
                test_attr = false;
            }
            c if c.is_alphabetic() || c == '_' => {
                let word = ident_at(&chars, i);
                if word == "fn" {
                    let mut j = i + 2;
                    while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                        j += 1;
                    }
                    let name = ident_at(&chars, j);
                    // `fn(i32) -> bool` is a type, not a function.
                    if !name.is_empty() {
                        pending = Some((name, line));
                    }
                }
                // Whole words, so that `r` or `br` inside one is not a raw string.
                i += word.len();
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.sort();
    out.into_iter().map(|(_, name, n)| (name, n)).collect()
}

/// When a comment, string or char literal starts at `i`: the index after it, with
/// `line` moved past its newlines.
fn skip_literal_or_comment(chars: &[char], mut i: usize, line: &mut usize) -> Option<usize> {
    let next = chars.get(i + 1).copied();
    match chars[i] {
        '/' if next == Some('/') => {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            Some(i)
        }
        '/' if next == Some('*') => {
            let mut nesting = 0;
            while i < chars.len() {
                if text_at(chars, i, "/*") {
                    nesting += 1;
                    i += 1;
                } else if text_at(chars, i, "*/") {
                    nesting -= 1;
                    i += 1;
                    if nesting == 0 {
                        return Some(i + 1);
                    }
                } else if chars[i] == '\n' {
                    *line += 1;
                }
                i += 1;
            }
            Some(i)
        }
        '"' => {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    // `\` at the end of a line continues the string.
                    i += 1;
                }
                if chars.get(i) == Some(&'\n') {
                    *line += 1;
                }
                i += 1;
            }
            Some(i + 1)
        }
        // A char literal ('x', '\n', '\u{7b}'); otherwise a lifetime.
        '\'' if next == Some('\\') => {
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            Some(i + 1)
        }
        '\'' if chars.get(i + 2) == Some(&'\'') => Some(i + 3),
        // A raw string: r"..", r#".."#, br"..".
        'r' | 'b' => {
            let prefix = ident_at(chars, i);
            let raw = (prefix == "r" || prefix == "br")
                && matches!(chars.get(i + prefix.len()), Some('"' | '#'));
            raw.then(|| skip_raw_string(chars, i + prefix.len(), line))
        }
        _ => None,
    }
}

fn text_at(chars: &[char], i: usize, s: &str) -> bool {
    s.chars()
        .enumerate()
        .all(|(k, c)| chars.get(i + k) == Some(&c))
}

fn ident_at(chars: &[char], i: usize) -> String {
    chars[i.min(chars.len())..]
        .iter()
        .take_while(|c| c.is_alphanumeric() || **c == '_')
        .collect()
}

/// Skips a raw string whose `#`s or opening quote are at `i`; returns the index
/// after it.
fn skip_raw_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut hashes = 0;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    if chars.get(i) != Some(&'"') {
        // `r#ident`, a raw identifier.
        return i;
    }
    i += 1;
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        if chars[i] == '\n' {
            *line += 1;
        }
        i += 1;
    }
    i
}
