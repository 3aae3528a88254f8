//! A tree as one ordered list of statements, as a build runs them: the text the
//! incremental build compares with the last build's and re-runs parts of.
//!
//! Each statement carries the session settings in force where it runs (the prelude a
//! re-run must send first), a keyed digest of that prelude with its text (and a
//! `\copy`'s data), and what kind of statement it is and on what (`Kind`, subject):
//! the facts the rules in `rules.rs` decide on. The digests, kinds and subjects of a
//! build are kept in the database it built (`ores_sql.outline`, written by the build's
//! last transaction and owned by the administrator like the build record); the text
//! is never stored.
//!
//! A `\gset` feeds what follows with a row from the database: the outline keeps the
//! row each one returned in the build, and the next tree is expanded with those rows
//! (its `\gset` statements then count as statements that read what they name, so a
//! change they could see builds in full). A tree whose rows are not known (its first
//! build, or more `\gset` steps than rows), or whose session settings cannot be
//! handed on (`build/session_state.rs`), has no outline: it builds in full.

use crate::build::hidden;
use crate::build::session_state::SessionState;
use crate::build::single::entry::{Row, expand_tree};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::tree::lint::CONSTRAINT_WORDS;
use crate::tree::lint::lexer::{Tok, lex_spans, statement_spans};
use crate::tree::manifest::Manifest;
use crate::tree::psql::Action;
use sha2::{Digest, Sha256};

/// What a statement is, for the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `CREATE [OR REPLACE] FUNCTION|PROCEDURE`; subject: name and arguments.
    Function,
    /// `INSERT INTO t` or `\copy t FROM`; subject: the table as written.
    Insert,
    /// `CREATE INDEX .. ON t`; subject: the table.
    Index,
    /// `CREATE UNIQUE INDEX .. ON t`; subject: the table.
    UniqueIndex,
    /// `ALTER TABLE t ADD [COLUMN] c ..` with one action; subject: the table.
    Column,
    /// `CREATE TABLE t` (not `AS`); subject: the table.
    Table,
    /// `COMMENT ON ..`; subject: what it is on.
    Comment,
    /// Anything else.
    Other,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Function => "function",
            Kind::Insert => "insert",
            Kind::Index => "index",
            Kind::UniqueIndex => "unique_index",
            Kind::Column => "column",
            Kind::Table => "table",
            Kind::Comment => "comment",
            Kind::Other => "other",
        }
    }

    pub(crate) fn parse(s: &str) -> Kind {
        [
            Kind::Function,
            Kind::Insert,
            Kind::Index,
            Kind::UniqueIndex,
            Kind::Column,
            Kind::Table,
            Kind::Comment,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .unwrap_or(Kind::Other)
    }
}

/// What a statement sends.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Sql(String),
    Copy { statement: String, data: String },
}

impl Body {
    /// The SQL of the statement (a `\copy`'s `COPY .. FROM STDIN`).
    pub(crate) fn text(&self) -> &str {
        match self {
            Body::Sql(s) => s,
            Body::Copy { statement, .. } => statement,
        }
    }
}

/// One statement of the stream.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) path: String,
    pub(crate) line: usize,
    /// The session settings in force where it runs.
    pub(crate) prelude: String,
    pub(crate) body: Body,
    pub(crate) digest: String,
    pub(crate) kind: Kind,
    pub(crate) subject: String,
    /// The text, lowercased, for the rules' name searches.
    pub(crate) lower: String,
    /// A `\gset` query's row.
    pub(crate) gset: Option<Row>,
}

/// One statement as an earlier build recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub(crate) path: String,
    pub(crate) digest: String,
    pub(crate) kind: Kind,
    pub(crate) subject: String,
    /// What an index statement named its index (`rules::index_name`), for a later
    /// build that removes it.
    pub(crate) name: String,
    pub(crate) gset: Option<Row>,
}

/// The rows of the recorded `\gset` queries, in order.
pub(crate) fn gset_rows(recorded: &[Recorded]) -> Vec<Row> {
    recorded.iter().filter_map(|r| r.gset.clone()).collect()
}

/// The key of the outline's digests: the statements of a tree can hold values read
/// through a backtick (passwords), and the outline is readable by every group of the
/// environment, so a plain digest of a weak one could be guessed offline. Keyed
/// with the administrator's password, as the cache key's digests of those values
/// are.
pub(crate) fn digest_key(config: &Config) -> [u8; 32] {
    Sha256::digest(
        format!(
            "ores-sql cache key\0{}",
            config.admin_password.as_ref().map_or("", |p| p.expose())
        )
        .as_bytes(),
    )
    .into()
}

/// The tree's stream of statements, its `\gset` queries answered with `gsets` in
/// order; or why it has none.
pub(crate) fn outline(
    config: &Config,
    manifest: &Manifest,
    gsets: &[Row],
) -> Result<std::result::Result<Vec<Statement>, String>> {
    let mut answers = gsets.iter().cloned();
    outline_answering(config, manifest, &mut || answers.next())
}

/// [`outline`] on a thread of its own while a build runs, each `\gset` query
/// answered with the row the build's returned, waiting for it (`rows`); a build that
/// ends without it leaves the tree without an outline. A panic is an error.
pub(crate) fn outline_following(
    config: &Config,
    manifest: &Manifest,
    rows: std::sync::mpsc::Receiver<Row>,
) -> Result<std::result::Result<Vec<Statement>, String>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        outline_answering(config, manifest, &mut || rows.recv().ok())
    }))
    .unwrap_or_else(|_| Err(Error::Internal("outlining the tree panicked".into())))
}

fn outline_answering(
    config: &Config,
    manifest: &Manifest,
    answer: &mut dyn FnMut() -> Option<Row>,
) -> Result<std::result::Result<Vec<Statement>, String>> {
    let key = digest_key(config);
    let mut out = Outliner {
        key,
        session: SessionState::default(),
        pending: Vec::new(),
        refusal: None,
    };
    if manifest.entry_mode() {
        let expanded = expand_tree(
            manifest,
            config,
            &mut |step, secrets| {
                match &step.action {
                    Action::Echo(_) => {}
                    Action::Gset { query, .. } => {
                        let Some(row) = answer() else {
                            out.refuse(format!(
                                "{}:{}: a \\gset whose row no earlier build recorded",
                                step.path, step.line
                            ));
                            return Err(Error::Internal("no outline".into()));
                        };
                        let secret = hidden::holds(query, secrets);
                        out.push(&step.path, step.line, Body::Sql(query.clone()), secret);
                        if let Some(last) = out.pending.last_mut() {
                            last.gset = Some(row.clone());
                        }
                        return Ok(Some(row));
                    }
                    Action::Sql(sql) => {
                        for span in statement_spans(sql) {
                            let text = &sql[span.range];
                            let secret = hidden::holds(text, secrets);
                            out.push(
                                &step.path,
                                step.line + span.line - 1,
                                Body::Sql(text.into()),
                                secret,
                            );
                        }
                    }
                    Action::Copy {
                        statement, data, ..
                    } => out.push(
                        &step.path,
                        step.line,
                        Body::Copy {
                            statement: statement.clone(),
                            data: data.clone(),
                        },
                        false,
                    ),
                }
                Ok(None)
            },
            None,
        );
        if let Some(why) = out.refusal {
            return Ok(Err(why));
        }
        expanded?;
    } else {
        for script in manifest.scripts() {
            for span in statement_spans(&script.sql) {
                let text = &script.sql[span.range];
                out.push(&script.path, span.line, Body::Sql(text.into()), false);
            }
        }
    }
    Ok(match out.refusal.take() {
        Some(why) => Err(why),
        None => Ok(out.finish()),
    })
}

struct Outliner {
    key: [u8; 32],
    session: SessionState,
    pending: Vec<Pending>,
    refusal: Option<String>,
}

impl Outliner {
    fn refuse(&mut self, why: String) {
        self.refusal.get_or_insert(why);
    }

    fn push(&mut self, path: &str, line: usize, body: Body, secret: bool) {
        let prelude = self.session.replay();
        if let Body::Sql(sql) = &body
            && self.session.follow(sql).is_err()
        {
            self.refuse(format!(
                "{path}:{line}: a session setting that cannot be handed on"
            ));
        }
        self.pending.push(Pending {
            path: path.to_string(),
            line,
            prelude,
            body,
            secret,
            gset: None,
        });
    }

    /// The statements, their digests, kinds and words computed on the machine's
    /// cores: each depends on its own text and prelude only, and the stream is
    /// megabytes.
    fn finish(self) -> Vec<Statement> {
        let key = self.key;
        crate::runtime::map_on_cores(self.pending, |p| p.body.text().len(), |p| p.statement(&key))
    }
}

/// A statement as the expansion reached it, before its digest and kind.
struct Pending {
    path: String,
    line: usize,
    prelude: String,
    body: Body,
    secret: bool,
    gset: Option<Row>,
}

impl Pending {
    fn statement(self, key: &[u8; 32]) -> Statement {
        let mut h = Sha256::new();
        h.update(key);
        h.update(self.prelude.as_bytes());
        h.update([0]);
        h.update(self.body.text().as_bytes());
        if let Body::Copy { data, .. } = &self.body {
            h.update([0]);
            h.update(data.as_bytes());
        }
        let (kind, subject) = if self.secret {
            (Kind::Other, String::new())
        } else {
            classify(&self.body)
        };
        Statement {
            path: self.path,
            line: self.line,
            prelude: self.prelude,
            // The same as `to_lowercase`, many times faster on the usual ASCII text.
            lower: match self.body.text() {
                t if t.is_ascii() => t.to_ascii_lowercase(),
                t => t.to_lowercase(),
            },
            body: self.body,
            digest: hex::encode(h.finalize()),
            kind,
            subject,
            gset: self.gset,
        }
    }
}

/// The kind and subject of a statement, from its first tokens.
pub(crate) fn classify(body: &Body) -> (Kind, String) {
    let text = body.text();
    // The head decides; a multi-megabyte INSERT need not be lexed whole.
    let cut = text.char_indices().nth(4000).map_or(text.len(), |(i, _)| i);
    let toks: Vec<Tok> = lex_spans(&text[..cut])
        .into_iter()
        .map(|(t, _, _)| t)
        .take_while(|t| *t != Tok::Semi)
        .collect();
    if let Body::Copy { .. } = body {
        return match name_at(&toks, 1) {
            Some((t, _)) => (Kind::Insert, t),
            None => (Kind::Other, String::new()),
        };
    }
    let w = |i: usize| word(&toks, i);
    match (w(0), w(1)) {
        ("insert", "into") => subject(Kind::Insert, &toks, 2),
        ("comment", "on") => {
            let end = toks
                .iter()
                .position(|t| *t == Tok::Word("is".into()))
                .unwrap_or(toks.len());
            (Kind::Comment, render(&toks[2..end]))
        }
        ("alter", "table") => column_added(&toks),
        ("create", _) => created(&toks),
        _ => (Kind::Other, String::new()),
    }
}

fn subject(kind: Kind, toks: &[Tok], at: usize) -> (Kind, String) {
    match name_at(toks, at) {
        Some((name, _)) => (kind, name),
        None => (Kind::Other, String::new()),
    }
}

fn created(toks: &[Tok]) -> (Kind, String) {
    let w = |i: usize| word(toks, i);
    let mut i = 1;
    let replace = w(1) == "or" && w(2) == "replace";
    if replace {
        i = 3;
    }
    let unique = w(i) == "unique";
    if unique {
        i += 1;
    }
    match w(i) {
        "function" | "procedure" if !unique => {
            let Some((name, after)) = name_at(toks, i + 1) else {
                return (Kind::Other, String::new());
            };
            let Some(close) = closing(toks, after) else {
                return (Kind::Other, String::new());
            };
            (
                Kind::Function,
                format!("{} {name}{}", w(i), render(&toks[after..=close])),
            )
        }
        "index" => {
            let Some(on) = (i..toks.len()).find(|&j| w(j) == "on") else {
                return (Kind::Other, String::new());
            };
            let at = if w(on + 1) == "only" { on + 2 } else { on + 1 };
            let kind = if unique {
                Kind::UniqueIndex
            } else {
                Kind::Index
            };
            subject(kind, toks, at)
        }
        "table" if !replace && !unique => {
            let at = if w(i + 1) == "if" { i + 4 } else { i + 1 };
            let Some((name, after)) = name_at(toks, at) else {
                return (Kind::Other, String::new());
            };
            // `CREATE TABLE t [(..)] AS ..` runs a query: not a plain definition.
            let next = closing(toks, after).map_or(after, |c| c + 1);
            if w(next) == "as" || w(after) == "as" {
                return (Kind::Other, String::new());
            }
            (Kind::Table, name)
        }
        _ => (Kind::Other, String::new()),
    }
}

/// `ALTER TABLE [IF EXISTS] [ONLY] t ADD [COLUMN] [IF NOT EXISTS] c ..`, one action.
fn column_added(toks: &[Tok]) -> (Kind, String) {
    let w = |i: usize| word(toks, i);
    let mut i = 2;
    if w(i) == "if" {
        i += 2;
    }
    if w(i) == "only" {
        i += 1;
    }
    let Some((table, after)) = name_at(toks, i) else {
        return (Kind::Other, String::new());
    };
    let mut depth = 0i32;
    let top_level_comma = toks.iter().any(|t| match t {
        Tok::Punct('(') => {
            depth += 1;
            false
        }
        Tok::Punct(')') => {
            depth -= 1;
            false
        }
        Tok::Punct(',') => depth == 0,
        _ => false,
    });
    if w(after) != "add" || CONSTRAINT_WORDS.contains(&w(after + 1)) || top_level_comma {
        return (Kind::Other, String::new());
    }
    (Kind::Column, table)
}

/// The word at `i` (lowercased), or `""` where there is none.
fn word(toks: &[Tok], i: usize) -> &str {
    match toks.get(i) {
        Some(Tok::Word(w)) => w,
        _ => "",
    }
}

/// The possibly qualified name starting at `i`, as written (words lowercased), and
/// the index after it.
fn name_at(toks: &[Tok], mut i: usize) -> Option<(String, usize)> {
    let mut parts = Vec::new();
    loop {
        match toks.get(i) {
            Some(Tok::Word(w)) => parts.push(w.clone()),
            Some(Tok::Quoted(q)) => parts.push(format!("\"{q}\"")),
            _ => return None,
        }
        if toks.get(i + 1) == Some(&Tok::Punct('.')) {
            i += 2;
        } else {
            return Some((parts.join("."), i + 1));
        }
    }
}

/// The index of the `)` closing the `(` at `open`.
fn closing(toks: &[Tok], open: usize) -> Option<usize> {
    if toks.get(open) != Some(&Tok::Punct('(')) {
        return None;
    }
    let mut depth = 0;
    for (j, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

fn render(toks: &[Tok]) -> String {
    toks.iter()
        .map(|t| match t {
            Tok::Word(w) => w.clone(),
            Tok::Quoted(q) => format!("\"{q}\""),
            Tok::Literal => "'…'".into(),
            Tok::Backslash => "\\".into(),
            Tok::Semi => ";".into(),
            Tok::Punct(c) => c.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::{Body, Kind, classify};

    fn of(sql: &str) -> (Kind, String) {
        classify(&Body::Sql(sql.into()))
    }

    #[test]
    fn kinds_and_subjects() {
        assert_eq!(
            of(
                "create or replace function app.f(a int, b text) returns int as $$ select 1 $$ language sql"
            ),
            (Kind::Function, "function app.f( a int , b text )".into())
        );
        assert_eq!(
            of("INSERT INTO app.t (a) VALUES (1), (2)"),
            (Kind::Insert, "app.t".into())
        );
        assert_eq!(
            of("create index t_a_idx on only app.t (a)"),
            (Kind::Index, "app.t".into())
        );
        assert_eq!(
            of("create unique index u on t (a)"),
            (Kind::UniqueIndex, "t".into())
        );
        assert_eq!(
            of("alter table t add column c int default 0"),
            (Kind::Column, "t".into())
        );
        assert_eq!(
            of("alter table t add column c int, add column d int").0,
            Kind::Other
        );
        assert_eq!(
            of("alter table t add constraint k check (a > 0)").0,
            Kind::Other
        );
        assert_eq!(
            of("create table if not exists s.t (a int)"),
            (Kind::Table, "s.t".into())
        );
        assert_eq!(of("create table t as select 1").0, Kind::Other);
        assert_eq!(of("create table t (a int) as select 1").0, Kind::Other);
        assert_eq!(
            of("create table t (id int generated always as identity)"),
            (Kind::Table, "t".into())
        );
        assert_eq!(
            of("comment on table t is 'x'"),
            (Kind::Comment, "table t".into())
        );
        assert_eq!(of("update t set a = 1").0, Kind::Other);
    }
}
