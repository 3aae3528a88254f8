//! Static rules: what the SQL scripts themselves must (not) say, checked without a server.
//!
//! Compiled twice, like `scan.rs`: by `build.rs` (through `#[path]`), so a violation is
//! a build error naming the file and the rule, and into the library, so tests can feed
//! broken fixture trees to the very code that decides the build. It depends only on
//! `std` and its sibling module `scan` (present under the same name in both crates).
//!
//! Keywords are matched on tokens, never on raw text: comments, string literals,
//! quoted identifiers and dollar-quoted bodies are lexed out first, so a function body
//! that mentions `ALTER TABLE` or a comment quoting `\i` cannot trip a rule.

use super::scan::{self, ScanError, ScannedScript};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

/// A rule: a short stable id and a one-line explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, e.g. `S003`.
    pub id: &'static str,
    /// What the rule demands, in one line.
    pub explanation: &'static str,
}

/// Script order is visible from the names: no two siblings share a numeric prefix.
pub const S001: &str = "S001";
/// Scripts are laid out as the manifest expects.
pub const S002: &str = "S002";
/// No migration-style DDL.
pub const S003: &str = "S003";
/// A script only alters or drops tables it creates itself.
pub const S004: &str = "S004";
/// Scripts live in known component folders.
pub const S005: &str = "S005";
/// Entity keys start with their component.
pub const S006: &str = "S006";
/// Functions and triggers are created with `CREATE OR REPLACE`.
pub const S007: &str = "S007";
/// No psql meta-commands.
pub const S008: &str = "S008";
/// Allow-list entries are well formed and give a reason.
pub const A001: &str = "A001";

/// Every static rule, in id order.
pub const STATIC_RULES: &[Rule] = &[
    Rule {
        id: S001,
        explanation: "script order is unambiguous: no two siblings share a numeric prefix",
    },
    Rule {
        id: S002,
        explanation: "manifest layout: `<digits>_<name>` folders and `.sql` files, UTF-8, not empty, one script per entity and phase",
    },
    Rule {
        id: S003,
        explanation: "no migration-style DDL: `ALTER TABLE ... ADD/DROP/ALTER COLUMN`, `ALTER TYPE ... ADD/DROP/ALTER/RENAME`, or `RENAME` of anything",
    },
    Rule {
        id: S004,
        explanation: "a script alters or drops only tables it creates itself (no upgrade scripts)",
    },
    Rule {
        id: S005,
        explanation: "every script lives in a folder named after a component of the service registry",
    },
    Rule {
        id: S006,
        explanation: "a script's entity key starts with its component (`NNN_<component>_<entity_plural>.sql`)",
    },
    Rule {
        id: S007,
        explanation: "functions, procedures and triggers are created with `CREATE OR REPLACE` (so recreate-entity can re-run them)",
    },
    Rule {
        id: S008,
        explanation: "no psql meta-commands (`\\i`, `\\set`, ...): no backslash outside literals, comments and dollar-quoted bodies",
    },
    Rule {
        id: A001,
        explanation: "every allow-list entry reads `RULE OBJECT # reason` with a known rule id and a non-empty reason",
    },
];

/// Every rule checked on a built database (`ores_sql::validate`). Listed here, beside
/// the static ones, so `build.rs` can reject allow-list entries naming no rule.
pub const CATALOG_RULES: &[Rule] = &[
    Rule {
        id: "C001",
        explanation: "every table in `public` is named `ores_<component>_<entity_plural>_tbl` with a component of the service registry",
    },
    Rule {
        id: "C002",
        explanation: "function and procedure names end in `_fn` (extension-owned functions excepted)",
    },
    Rule {
        id: "C003",
        explanation: "view and materialized view names end in `_vw`",
    },
    Rule {
        id: "C004",
        explanation: "trigger names end in `_trg`",
    },
    Rule {
        id: "C005",
        explanation: "index names end in `_idx` (indexes backing a primary key, unique or exclusion constraint carry the constraint's name and are excepted)",
    },
    Rule {
        id: "C006",
        explanation: "row-level security policy names end in `_pol`",
    },
    Rule {
        id: "C007",
        explanation: "every table has a primary key",
    },
    Rule {
        id: "C008",
        explanation: "a table with `tenant_id` has it as the first column of its primary key",
    },
    Rule {
        id: "C009",
        explanation: "a table with `tenant_id` has it as the first column of every unique index and constraint",
    },
    Rule {
        id: "C010",
        explanation: "a table with `tenant_id` has row-level security enabled",
    },
    Rule {
        id: "C011",
        explanation: "a table with `tenant_id` has row-level security forced, so the owner is not silently exempt",
    },
    Rule {
        id: "C012",
        explanation: "a table with `tenant_id` has at least one policy reading the current tenant (`ores_utility_current_tenant_id_fn()` or `ores.tenant_id`)",
    },
    Rule {
        id: "C013",
        explanation: "no role of the environment is SUPERUSER, BYPASSRLS, CREATEDB, CREATEROLE or REPLICATION",
    },
    Rule {
        id: "C014",
        explanation: "a versioned table (one with `valid_from` or `valid_to`) has the full versioned column set with the documented types",
    },
    Rule {
        id: "C015",
        explanation: "a versioned table has a gist exclusion constraint led by `tenant_id WITH =` forbidding overlapping `tstzrange(valid_from, valid_to)`",
    },
    Rule {
        id: "C016",
        explanation: "a versioned table has `<table stem>_insert_trg`, `BEFORE INSERT FOR EACH ROW`",
    },
    Rule {
        id: "C017",
        explanation: "a versioned table has `<table stem>_delete_trg`, `BEFORE DELETE FOR EACH ROW` (soft delete)",
    },
    Rule {
        id: "C018",
        explanation: "a versioned table has `<table stem>_notify_trg`, `AFTER INSERT OR UPDATE OR DELETE`",
    },
    Rule {
        id: "C019",
        explanation: "every `SECURITY DEFINER` function pins `search_path`",
    },
    Rule {
        id: "C020",
        explanation: "every table's component is owned by exactly one service of the registry, or is a provisioner component",
    },
    Rule {
        id: "C021",
        explanation: "no service role holds a table privilege the registry does not grant it",
    },
    Rule {
        id: "C022",
        explanation: "every service role holds every table privilege the registry grants it",
    },
    Rule {
        id: "C023",
        explanation: "a versioned table has `<table stem>_lookup_trg`, `AFTER INSERT FOR EACH STATEMENT` with `REFERENCING NEW TABLE AS inserted_rows` (its lookups, tenant and change reason are checked there)",
    },
    Rule {
        id: "P001",
        explanation: "`plpgsql_check` finds no error in any PL/pgSQL function or trigger (skipped, loudly, when the extension is not installed)",
    },
    Rule {
        id: "A002",
        explanation: "every allow-list entry matches a violation (stale exceptions are removed)",
    },
];

/// Static and catalog rules together, in report order.
pub fn all_rules() -> impl Iterator<Item = &'static Rule> {
    STATIC_RULES.iter().chain(CATALOG_RULES.iter())
}

/// One broken rule, found without a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticViolation {
    /// Rule id.
    pub rule: &'static str,
    /// The script (relative path) or allow-list entry concerned.
    pub object: String,
    /// 1-based line, when one statement is to blame.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for StaticViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.rule, self.object)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The script facts the rules need, borrowed from whichever manifest holds them.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// `create` or `populate`.
    pub phase: &'a str,
    /// Relative path, used as the violation's object.
    pub path: &'a str,
    /// Folder component without prefix; empty at the phase root.
    pub component: &'a str,
    /// Entity key (file stem without prefix).
    pub entity: &'a str,
    /// The SQL text.
    pub sql: &'a str,
}

impl<'a> From<&'a ScannedScript> for Source<'a> {
    fn from(s: &'a ScannedScript) -> Source<'a> {
        Source {
            phase: &s.phase,
            path: &s.rel_path,
            component: &s.component,
            entity: &s.entity,
            sql: &s.sql,
        }
    }
}

/// The rule a scan error breaks, as a violation.
pub fn scan_violation(e: &ScanError) -> StaticViolation {
    let (rule, object) = match e {
        ScanError::AmbiguousOrder { second, .. } => (S001, second),
        ScanError::BadName { path, .. }
        | ScanError::Empty { path }
        | ScanError::NotUtf8 { path }
        | ScanError::Io { path, .. } => (S002, path),
        ScanError::DuplicateEntity { second, .. } => (S002, second),
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
            let violations = check_scripts(scripts.iter().map(Source::from), known_components);
            (Some(scripts), violations)
        }
        Err(e) => (None, vec![scan_violation(&e)]),
    }
}

/// Checks rules S003..S008 over scripts that were already scanned.
pub fn check_scripts<'a>(
    scripts: impl IntoIterator<Item = Source<'a>>,
    known_components: &[&str],
) -> Vec<StaticViolation> {
    let mut out = Vec::new();
    for s in scripts {
        check_layout(&s, known_components, &mut out);
        check_sql(&s, &mut out);
    }
    out
}

fn check_layout(s: &Source<'_>, known: &[&str], out: &mut Vec<StaticViolation>) {
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
    if !known.contains(&s.component) {
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

/// Lexical token of a script; literal contents are dropped on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// Unquoted word, lowercased (keywords, names, numbers).
    Word(String),
    /// Quoted identifier, case kept.
    Quoted(String),
    /// A string or dollar-quoted literal (contents dropped).
    Literal,
    /// A backslash outside any literal or comment: psql would take it as a command.
    Backslash,
    /// Statement separator.
    Semi,
    /// Any other punctuation.
    Punct(char),
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Tokens with their 1-based line.
fn lex(sql: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let n = chars.len();
    let count_lines =
        |from: usize, to: usize| chars[from..to].iter().filter(|c| **c == '\n').count();
    while i < n {
        let c = chars[i];
        let start_line = line;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < n && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            // Block comments nest in PostgreSQL.
            let (from, mut depth) = (i, 0usize);
            while i < n {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += count_lines(from, i.min(n));
        } else if c == '\'' {
            let escapes = matches!(out.last(), Some((Tok::Word(w), _)) if w == "e")
                && i > 0
                && (chars[i - 1] == 'e' || chars[i - 1] == 'E');
            if escapes {
                out.pop();
            }
            let from = i;
            i += 1;
            while i < n {
                if escapes && chars[i] == '\\' {
                    i += 2;
                } else if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                    } else {
                        i += 1;
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += count_lines(from, i.min(n));
            out.push((Tok::Literal, start_line));
        } else if c == '"' {
            let mut name = String::new();
            i += 1;
            while i < n {
                if chars[i] == '"' {
                    if chars.get(i + 1) == Some(&'"') {
                        name.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                name.push(chars[i]);
                i += 1;
            }
            out.push((Tok::Quoted(name), start_line));
        } else if c == '$' && dollar_tag(&chars, i).is_some() {
            let tag = dollar_tag(&chars, i).expect("checked");
            let from = i;
            i += tag.len();
            let close: Vec<char> = tag.chars().collect();
            while i < n && chars[i..].iter().take(close.len()).ne(close.iter()) {
                i += 1;
            }
            i = (i + close.len()).min(n);
            line += count_lines(from, i);
            out.push((Tok::Literal, start_line));
        } else if is_ident_char(c) {
            let from = i;
            while i < n && is_ident_char(chars[i]) {
                i += 1;
            }
            // PostgreSQL folds only ASCII letters of an unquoted name in a multi-byte
            // encoding: `Ä_tbl` and `ä_tbl` are two tables.
            let word = chars[from..i]
                .iter()
                .collect::<String>()
                .to_ascii_lowercase();
            out.push((Tok::Word(word), start_line));
        } else if c == '\\' {
            // psql takes the rest of the line as the command's arguments, and the
            // SQL that follows as a new statement.
            out.push((Tok::Backslash, start_line));
            out.push((Tok::Semi, start_line));
            while i < n && chars[i] != '\n' {
                i += 1;
            }
        } else if c == ';' {
            out.push((Tok::Semi, start_line));
            i += 1;
        } else {
            out.push((Tok::Punct(c), start_line));
            i += 1;
        }
    }
    out
}

/// The opening `$tag$` at `i`, if a dollar quote starts there (`$1` does not).
fn dollar_tag(chars: &[char], i: usize) -> Option<String> {
    if i > 0 && is_ident_char(chars[i - 1]) {
        return None;
    }
    let mut j = i + 1;
    while j < chars.len() && chars[j] != '$' {
        let ok = if j == i + 1 {
            chars[j].is_alphabetic() || chars[j] == '_'
        } else {
            chars[j].is_alphanumeric() || chars[j] == '_'
        };
        if !ok {
            return None;
        }
        j += 1;
    }
    (j < chars.len()).then(|| chars[i..=j].iter().collect())
}

/// A statement's tokens and the line it starts on.
struct Statement {
    toks: Vec<Tok>,
    line: usize,
}

impl Statement {
    fn word(&self, i: usize) -> Option<&str> {
        match self.toks.get(i) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    /// Index after the words `words` if they appear in order from `i` (skipping none).
    fn expect(&self, mut i: usize, words: &[&str]) -> Option<usize> {
        for w in words {
            if self.word(i) != Some(w) {
                return None;
            }
            i += 1;
        }
        Some(i)
    }

    /// A possibly schema-qualified name starting at `i`: (name without schema, next index).
    fn name(&self, mut i: usize) -> Option<(String, usize)> {
        let mut last = None;
        loop {
            let part = match self.toks.get(i)? {
                Tok::Word(w) => w.clone(),
                Tok::Quoted(q) => q.clone(),
                _ => return last.map(|l| (l, i)),
            };
            last = Some(part);
            i += 1;
            if self.toks.get(i) == Some(&Tok::Punct('.')) {
                i += 1;
            } else {
                return last.map(|l| (l, i));
            }
        }
    }
}

fn statements(toks: Vec<(Tok, usize)>) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut cur = Statement {
        toks: Vec::new(),
        line: 0,
    };
    for (t, line) in toks {
        if t == Tok::Semi {
            if !cur.toks.is_empty() {
                out.push(std::mem::replace(
                    &mut cur,
                    Statement {
                        toks: Vec::new(),
                        line: 0,
                    },
                ));
            }
            continue;
        }
        if cur.toks.is_empty() {
            cur.line = line;
        }
        cur.toks.push(t);
    }
    if !cur.toks.is_empty() {
        out.push(cur);
    }
    out
}

/// Index after `[IF EXISTS] [ONLY]` / `[IF NOT EXISTS]` at `i`.
fn skip_modifiers(st: &Statement, mut i: usize) -> usize {
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
const RELATION_KINDS: &[&[&str]] = &[
    &["table"],
    &["view"],
    &["materialized", "view"],
    &["sequence"],
    &["foreign", "table"],
];

/// A relation a `CREATE` statement makes.
struct Created {
    /// One of [`RELATION_KINDS`].
    kind: &'static [&'static str],
    /// Name without schema.
    name: String,
    /// `CREATE OR REPLACE`: re-running the statement over the relation succeeds.
    or_replace: bool,
}

fn created(st: &Statement) -> Option<Created> {
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
fn created_table(st: &Statement) -> Option<String> {
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
fn actions(st: &Statement, i: usize) -> Vec<Vec<Tok>> {
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

fn word_at(toks: &[Tok], i: usize) -> Option<&str> {
    match toks.get(i) {
        Some(Tok::Word(w)) => Some(w),
        _ => None,
    }
}

/// What a single `ALTER TABLE` action does to columns, if it is migration-style.
fn column_change(action: &[Tok]) -> Option<&'static str> {
    const CONSTRAINT_WORDS: [&str; 6] = [
        "constraint",
        "primary",
        "unique",
        "check",
        "foreign",
        "exclude",
    ];
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

fn check_sql(s: &Source<'_>, out: &mut Vec<StaticViolation>) {
    let toks = lex(s.sql);
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

fn check_alter(
    st: &Statement,
    created: &BTreeSet<String>,
    push: &mut impl FnMut(&'static str, usize, String),
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

/// One accepted exception: a rule id, the object it applies to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    /// Rule id.
    pub rule: String,
    /// Object name exactly as the report prints it (for static rules, the script path).
    pub object: String,
    /// Why the exception is acceptable.
    pub reason: String,
    /// 1-based line in the allow-list file.
    pub line: usize,
}

/// Parses an allow-list: one `RULE OBJECT # reason` per line; blank lines and lines
/// starting with `#` are comments. Every malformed entry is reported (rule A001).
pub fn parse_allow_list(
    text: &str,
    file: &str,
    known_rules: &[&str],
) -> (Vec<AllowEntry>, Vec<StaticViolation>) {
    let mut entries = Vec::new();
    let mut bad = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fail = |message: String| {
            bad.push(StaticViolation {
                rule: A001,
                object: file.to_string(),
                line: Some(idx + 1),
                message,
            })
        };
        let (head, reason) = match line.split_once('#') {
            Some((h, r)) => (h.trim(), r.trim()),
            None => (line, ""),
        };
        let mut parts = head.split_whitespace();
        let (Some(rule), Some(object), None) = (parts.next(), parts.next(), parts.next()) else {
            fail(format!("`{line}`: expected `RULE OBJECT # reason`"));
            continue;
        };
        if !known_rules.contains(&rule) {
            fail(format!("`{rule}` is not a rule id"));
            continue;
        }
        if reason.is_empty() {
            fail(format!(
                "`{rule} {object}` gives no reason; write `# why this is acceptable`"
            ));
            continue;
        }
        entries.push(AllowEntry {
            rule: rule.to_string(),
            object: object.to_string(),
            reason: reason.to_string(),
            line: idx + 1,
        });
    }
    (entries, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_of(sql: &str) -> Vec<&'static str> {
        let mut out = Vec::new();
        check_sql(
            &Source {
                phase: "create",
                path: "x.sql",
                component: "iam",
                entity: "iam_x",
                sql,
            },
            &mut out,
        );
        out.iter().map(|v| v.rule).collect()
    }

    #[test]
    fn literals_comments_and_bodies_do_not_trip_rules() {
        let sql = "-- ALTER TABLE t ADD COLUMN c int; \\i x\n\
                   /* ALTER TABLE t RENAME TO u; /* nested \\set */ */\n\
                   CREATE TABLE t (a text DEFAULT 'ALTER TABLE u DROP COLUMN a; \\set', b text DEFAULT E'it\\'s \\\\');\n\
                   CREATE OR REPLACE FUNCTION f_fn() RETURNS void LANGUAGE plpgsql AS $body$\n\
                   BEGIN EXECUTE 'ALTER TABLE u ADD COLUMN c int'; RAISE NOTICE $$\\i$$; END $body$;\n\
                   ALTER TABLE t ENABLE ROW LEVEL SECURITY;\n\
                   ALTER TABLE ONLY public.t FORCE ROW LEVEL SECURITY, ADD CONSTRAINT c UNIQUE (a);\n\
                   SELECT $1, \"a\\b\";";
        assert_eq!(rules_of(sql), Vec::<&str>::new());
    }

    #[test]
    fn each_statement_rule_fires() {
        assert_eq!(
            rules_of("CREATE TABLE t (a int); ALTER TABLE t ADD b int;"),
            [S003]
        );
        assert_eq!(
            rules_of("CREATE TABLE t (a int); ALTER TABLE t DROP a;"),
            [S003]
        );
        assert_eq!(
            rules_of("ALTER TABLE IF EXISTS u ALTER COLUMN a SET NOT NULL;"),
            [S003]
        );
        assert_eq!(rules_of("ALTER INDEX i RENAME TO j;"), [S003]);
        assert_eq!(rules_of("ALTER TYPE e ADD VALUE 'x';"), [S003]);
        assert_eq!(rules_of("ALTER TABLE u ENABLE ROW LEVEL SECURITY;"), [S004]);
        assert_eq!(rules_of("DROP TABLE IF EXISTS u;"), [S004]);
        assert_eq!(
            rules_of("DROP TABLE IF EXISTS t; CREATE TABLE t (a int);"),
            Vec::<&str>::new()
        );
        assert_eq!(
            rules_of("CREATE FUNCTION f_fn() RETURNS int LANGUAGE sql AS 'select 1';"),
            [S007]
        );
        assert_eq!(
            rules_of("CREATE TRIGGER t_trg AFTER INSERT ON t EXECUTE FUNCTION f_fn();"),
            [S007]
        );
        assert_eq!(
            rules_of("SELECT 1;\n  \\set x 1\nSELECT 2 \\gset"),
            [S008, S008]
        );
        assert_eq!(
            rules_of("\\set ON_ERROR_STOP 1\nALTER TABLE u ADD COLUMN x int;"),
            [S008, S003]
        );
    }

    #[test]
    fn truncated_input_never_panics() {
        // build.rs runs this on whatever is under sql/, half-typed scripts included.
        let sql = "CREATE TABLE \"a\"\"b\" (x text DEFAULT E'\\'' /* /* */ $t$ $$ \\ -- ';\n\
                   ALTER TABLE ONLY s.\"a\" ADD COLUMN y int, DROP z; $f$ body $f$ \\i";
        let chars: Vec<char> = sql.chars().collect();
        for end in 0..=chars.len() {
            let prefix: String = chars[..end].iter().collect();
            let _ = rules_of(&prefix);
        }
    }

    #[test]
    fn finds_plain_creates_only() {
        let sql = r#"
-- CREATE TABLE commented_tbl (x int);
/* CREATE TABLE block_tbl (x int); */
CREATE TABLE ores_iam_tenants_tbl (id int, note text DEFAULT 'CREATE TABLE no_tbl');
create unlogged table if not exists public."Odd Name" (x int);
CREATE OR REPLACE VIEW ores_iam_tenants_vw AS SELECT 1;
CREATE VIEW ores_iam_tenant_names_vw AS SELECT 1;
CREATE OR REPLACE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$
BEGIN CREATE TABLE inside_tbl (x int); END $body$;
CREATE INDEX tenants_code_idx ON ores_iam_tenants_tbl (id);
CREATE SEQUENCE ores_iam_tenant_seq;
"#;
        assert_eq!(
            created_relations([sql]),
            [
                "ores_iam_tenants_tbl",
                "Odd Name",
                "ores_iam_tenant_names_vw",
                "ores_iam_tenant_seq"
            ]
        );
    }

    #[test]
    fn created_relations_take_the_better_lexer_where_the_two_differed() {
        // recreate-entity's own lexer ended `E'it\'s'` at the escaped quote, found
        // no_tbl and lost b_tbl; it also kept the middle part of a three-part name.
        let sql = r#"
CREATE TABLE a_tbl (x text DEFAULT E'it\'s; CREATE TABLE no_tbl (y int)');
CREATE TABLE b_tbl (y int);
/* outer /* nested */ CREATE TABLE still_comment_tbl (x int); */
CREATE MATERIALIZED VIEW IF NOT EXISTS ores.public.c_vw AS SELECT $q$;$q$;
CREATE TEMP RECURSIVE VIEW d_vw (n) AS SELECT 1;
CREATE FOREIGN TABLE "E_Tbl" (x int) SERVER s;
CREATE TABLE ÄRGER_TBL (x int);
CREATE TABLE b_tbl (y int);
"#;
        assert_eq!(
            created_relations([sql]),
            ["a_tbl", "b_tbl", "c_vw", "d_vw", "E_Tbl", "Ärger_tbl"]
        );
    }

    #[test]
    fn only_ascii_letters_of_unquoted_names_fold() {
        // Two different tables to PostgreSQL in a UTF-8 database.
        assert_eq!(
            rules_of("CREATE TABLE Ä_tbl (a int); ALTER TABLE ä_tbl ENABLE ROW LEVEL SECURITY;"),
            [S004]
        );
        assert_eq!(
            rules_of("CREATE TABLE Ä_TBL (a int); ALTER TABLE Ä_tbl ENABLE ROW LEVEL SECURITY;"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn allow_list_entries_need_a_reason() {
        let (ok, bad) = parse_allow_list(
            "# comment\n\nC001 ores_x_tbl # legacy name kept for the loader\nC002 f\nZ9 a # b\nC003 a b # c\n",
            "allow.txt",
            &["C001", "C002", "C003"],
        );
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].reason, "legacy name kept for the loader");
        assert_eq!(
            bad.iter().map(|v| v.line).collect::<Vec<_>>(),
            [Some(4), Some(5), Some(6)]
        );
        assert!(bad.iter().all(|v| v.rule == A001));
    }
}
