//! Rules S003, S004, S007 and S008: what a script's statements may do.

use std::collections::BTreeSet;

use super::super::scan::Script;
use super::StaticViolation;
use super::lexer::{Statement, Tok, lex, statements};
use super::rules::RuleId::{self, S003, S004, S007, S008};

/// Index after `[IF EXISTS] [ONLY]` / `[IF NOT EXISTS]` at `i`.
pub(super) fn skip_modifiers(st: &Statement, mut i: usize) -> usize {
    loop {
        if let Some(j) = st.expect(i, &["if", "not", "exists"]) {
            i = j;
        } else if let Some(j) = st.expect(i, &["if", "exists"]) {
            i = j;
        } else if st.word(i) == Some("only") {
            i += 1;
        } else {
            return i;
        }
    }
}

/// The relation kinds a plain `CREATE` can make, by their keywords.
pub(super) const RELATION_KINDS: &[&[&str]] = &[
    &["table"],
    &["view"],
    &["materialized", "view"],
    &["sequence"],
    &["foreign", "table"],
];

/// A relation a `CREATE` statement makes.
pub(super) struct Created {
    /// One of [`RELATION_KINDS`].
    kind: &'static [&'static str],
    /// Name without schema.
    name: String,
    /// `CREATE OR REPLACE`: re-running the statement over the relation succeeds.
    or_replace: bool,
}

pub(super) fn created(st: &Statement) -> Option<Created> {
    let mut i = st.expect(0, &["create"])?;
    let mut or_replace = false;
    while let Some(w) = st.word(i) {
        match w {
            "or" | "replace" => or_replace = true,
            "global" | "local" | "temporary" | "temp" | "unlogged" | "recursive" => {}
            _ => break,
        }
        i += 1;
    }
    let (kind, i) = RELATION_KINDS
        .iter()
        .find_map(|&k| st.expect(i, k).map(|j| (k, j)))?;
    let (name, _) = st.name(skip_modifiers(st, i))?;
    Some(Created {
        kind,
        name,
        or_replace,
    })
}

/// The table a `CREATE ... TABLE` statement creates.
pub(super) fn created_table(st: &Statement) -> Option<String> {
    created(st).filter(|c| c.kind == ["table"]).map(|c| c.name)
}

/// Names of the relations the scripts create with a plain `CREATE` (one that would
/// fail if the relation were still there), each once, in order of appearance.
/// `CREATE OR REPLACE` objects survive a re-run on their own.
pub fn created_relations<'a>(scripts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for sql in scripts {
        for c in statements(lex(sql)).iter().filter_map(created) {
            if !c.or_replace && !out.contains(&c.name) {
                out.push(c.name);
            }
        }
    }
    out
}

/// Top-level (outside parentheses) comma-separated actions from `i`.
pub(super) fn actions(st: &Statement, i: usize) -> Vec<Vec<Tok>> {
    let mut out = vec![Vec::new()];
    let mut depth = 0usize;
    for t in &st.toks[i.min(st.toks.len())..] {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth = depth.saturating_sub(1),
            Tok::Punct(',') if depth == 0 => {
                out.push(Vec::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().expect("never empty").push(t.clone());
    }
    out
}

pub(super) fn word_at(toks: &[Tok], i: usize) -> Option<&str> {
    match toks.get(i) {
        Some(Tok::Word(w)) => Some(w),
        _ => None,
    }
}

/// The words an `ALTER TABLE .. ADD` starts a constraint with, not a column.
pub(crate) const CONSTRAINT_WORDS: [&str; 6] = [
    "constraint",
    "primary",
    "unique",
    "check",
    "foreign",
    "exclude",
];

/// What a single `ALTER TABLE` action does to columns, if it is migration-style.
pub(super) fn column_change(action: &[Tok]) -> Option<&'static str> {
    let next = word_at(action, 1);
    match word_at(action, 0)? {
        "add" => match next {
            Some(w) if CONSTRAINT_WORDS.contains(&w) => None,
            _ => Some("adds a column"),
        },
        // DROP and ALTER take an optional COLUMN keyword, so any other name is a column.
        "drop" => match next {
            Some("constraint") => None,
            _ => Some("drops a column"),
        },
        "alter" => match next {
            Some("constraint") => None,
            _ => Some("alters a column"),
        },
        "rename" => Some("renames"),
        _ => None,
    }
}

pub(super) fn check_sql(s: &Script, out: &mut Vec<StaticViolation>) {
    let toks = lex(&s.sql);
    let mut push = |rule, line, message: String| {
        out.push(StaticViolation {
            rule,
            object: s.path.to_string(),
            line: Some(line),
            message,
        })
    };
    for (t, line) in &toks {
        if *t == Tok::Backslash {
            push(
                S008,
                *line,
                "backslash outside a literal: a psql meta-command (\\i, \\set, ...); scripts are sent to the server as they are".into(),
            );
        }
    }
    let stmts = statements(toks);
    let created: BTreeSet<String> = stmts.iter().filter_map(created_table).collect();
    for st in &stmts {
        let Some(verb) = st.word(0) else { continue };
        match verb {
            "alter" => check_alter(st, &created, &mut push),
            "drop" => {
                if let Some(i) = st.expect(1, &["table"]) {
                    let mut i = skip_modifiers(st, i);
                    // DROP TABLE a, b: every name must be this script's own.
                    while let Some((name, next)) = st.name(i) {
                        if !created.contains(&name) {
                            push(
                                S004,
                                st.line,
                                format!("drops table {name}, which this script does not create"),
                            );
                        }
                        if st.toks.get(next) != Some(&Tok::Punct(',')) {
                            break;
                        }
                        i = next + 1;
                    }
                }
            }
            "create" => {
                let mut i = 1;
                let or_replace = st.expect(1, &["or", "replace"]).is_some();
                if or_replace {
                    i = 3;
                }
                if st.word(i) == Some("constraint") {
                    i += 1;
                }
                if let Some(kind @ ("function" | "procedure" | "trigger")) = st.word(i)
                    && !or_replace
                {
                    let name = st.name(i + 1).map(|(n, _)| n).unwrap_or_default();
                    push(
                        S007,
                        st.line,
                        format!("CREATE {} {name} without OR REPLACE", kind.to_uppercase()),
                    );
                }
            }
            _ => {}
        }
    }
}

pub(super) fn check_alter(
    st: &Statement,
    created: &BTreeSet<String>,
    push: &mut impl FnMut(RuleId, usize, String),
) {
    if let Some(i) = st.expect(1, &["table"]) {
        let i = skip_modifiers(st, i);
        let Some((table, next)) = st.name(i) else {
            return;
        };
        let mut migration = false;
        for action in actions(st, next) {
            if let Some(what) = column_change(&action) {
                migration = true;
                push(
                    S003,
                    st.line,
                    format!("ALTER TABLE {table} {what}; define the table in its CREATE TABLE"),
                );
            }
        }
        if !migration && !created.contains(&table) {
            push(
                S004,
                st.line,
                format!("alters table {table}, which this script does not create"),
            );
        }
        return;
    }
    if let Some(i) = st.expect(1, &["type"]) {
        let Some((name, next)) = st.name(i) else {
            return;
        };
        if let Some(w @ ("add" | "drop" | "alter" | "rename")) = st.word(next) {
            push(
                S003,
                st.line,
                format!(
                    "ALTER TYPE {name} {}; define the type completely where it is created",
                    w.to_uppercase()
                ),
            );
            return;
        }
    }
    if st.toks.iter().any(|t| *t == Tok::Word("rename".into())) {
        let what = st.word(1).unwrap_or("object").to_uppercase();
        push(
            S003,
            st.line,
            format!("ALTER {what} ... RENAME; create it under its final name"),
        );
    }
}
