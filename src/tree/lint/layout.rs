//! Rules S001, S002 (from the scanner), S005 and S006: where scripts sit and what
//! they are called.

use super::super::scan::{self, Phase, ScanError, ScannedScript, Script};
use super::StaticViolation;
use super::rules::RuleId::{S001, S002, S005, S006, S008, S009};
use super::statements::check_sql;
use std::borrow::Cow;
use std::path::Path;

/// The rule a scan error breaks, as a violation.
pub fn scan_violation(e: &ScanError) -> StaticViolation {
    let (rule, object) = match e {
        ScanError::AmbiguousOrder { second, .. } => (S001, second),
        ScanError::BadName { path, .. }
        | ScanError::Empty { path }
        | ScanError::NotUtf8 { path }
        | ScanError::Io { path, .. } => (S002, path),
        ScanError::DuplicateEntity { second, .. } => (S002, second),
        ScanError::TransactionControl { path, line, what } => {
            return StaticViolation {
                rule: S009,
                object: path.clone(),
                line: Some(*line),
                message: super::transaction_control_message(what),
            };
        }
    };
    // The scanner's message already starts with the path; keep only what follows.
    let text = e.to_string();
    let message = text
        .strip_prefix(object.as_str())
        .and_then(|t| t.strip_prefix(": "))
        .unwrap_or(&text)
        .to_string();
    StaticViolation {
        rule,
        object: object.clone(),
        line: None,
        message,
    }
}

/// Scans a tree and checks every static rule. Returns the scripts (when the tree
/// could be scanned at all) and every violation found.
pub fn check_tree(
    root: &Path,
    label: &str,
    known_components: &[&str],
) -> (Option<Vec<ScannedScript>>, Vec<StaticViolation>) {
    match scan::scan(root, label) {
        Ok(scripts) => {
            let violations = check_scripts(scripts.iter().map(|s| &s.script), known_components);
            (Some(scripts), violations)
        }
        Err(e) => (None, vec![scan_violation(&e)]),
    }
}

/// Checks rules S003..S008 over scripts that were already scanned.
pub fn check_scripts<'a>(
    scripts: impl IntoIterator<Item = &'a Script>,
    known_components: &[&str],
) -> Vec<StaticViolation> {
    let mut out = Vec::new();
    for s in scripts {
        check_layout(s, known_components, &mut out);
        check_sql(s, &mut out);
    }
    out
}

/// The rules of an entry-mode tree (`entry` in `ores-sql.toml`), over its scripts as
/// (path, text): the statement rules S003, S004 and S007. The layout rules (S001,
/// S002, S005, S006) presuppose numeric prefixes and component folders, and S008
/// forbids the meta-commands such a tree is made of, so they give way to the entry
/// rules that `expand` enforces (includes inside the tree, no cycle, defined variables,
/// known meta-commands). Lines starting with a meta-command are blanked first, so a
/// statement after one is still seen as a statement.
pub fn check_entry_scripts<'a>(
    scripts: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<StaticViolation> {
    let mut out = Vec::new();
    for (path, text) in scripts {
        let sql: String = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with('\\') {
                    ""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let source = Script {
            phase: Phase::Create,
            path: Cow::Owned(path.to_string()),
            component: Cow::Borrowed(""),
            entity: Cow::Borrowed(""),
            sha256: Cow::Borrowed(""),
            sql: Cow::Owned(sql),
        };
        let mut found = Vec::new();
        check_sql(&source, &mut found);
        out.extend(found.into_iter().filter(|v| v.rule != S008));
    }
    out
}

fn check_layout(s: &Script, known: &[&str], out: &mut Vec<StaticViolation>) {
    let mut push = |rule, message: String| {
        out.push(StaticViolation {
            rule,
            object: s.path.to_string(),
            line: None,
            message,
        })
    };
    if s.component.is_empty() {
        push(
            S005,
            "script sits directly under the phase folder; put it in a component folder (NN_<component>)".into(),
        );
        return;
    }
    if !known.contains(&s.component.as_ref()) {
        push(
            S005,
            format!(
                "folder component `{}` is not in the service registry (known: {})",
                s.component,
                known.join(", ")
            ),
        );
    }
    if !s.entity.starts_with(&format!("{}_", s.component)) {
        push(
            S006,
            format!(
                "entity key `{}` does not start with `{}_`",
                s.entity, s.component
            ),
        );
    }
}
