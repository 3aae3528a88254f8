//! Which changes an incremental build may apply to a copy of the last build, and
//! what it runs for them. Everything else is a full build.
//!
//! The argument is the parallel builder's: two statements whose texts share no name
//! commute. A change at position `p` of the stream can be applied at the end, to
//! the last build, when nothing after `p` that runs code (anything but a definition,
//! a comment or a grant) can see what the change touches; the rules below say what
//! "see" means for each kind of change, conservatively (a name inside a string or a
//! comment counts, and a function counts as what its body names). Statement by
//! statement, the streams are compared by digest (prelude and text), in order:
//!
//! - **A function replaced** (`CREATE [OR REPLACE] FUNCTION|PROCEDURE`, same name and
//!   arguments, new body or attributes), or a new one: its new text runs (`OR
//!   REPLACE`). Refused when a statement after it that runs code names it, or names
//!   anything that can reach it (a function naming it, a table whose trigger, policy,
//!   default or index names it, a view naming it), or when it is defined again later.
//! - **Rows of one table changed** (only `INSERT INTO t` / `\copy t` statements differ):
//!   `t` is emptied (`TRUNCATE .. RESTART IDENTITY`) and every statement of the tree
//!   that fills it runs again, in order. Refused when anything else that runs code
//!   names `t` or a function that names it, when a filling statement or a trigger
//!   of `t` reaches another table, or when `t` draws from a sequence of its own
//!   definition (`CREATE SEQUENCE`), which may be shared. A foreign key into `t` makes
//!   the `TRUNCATE` fail, which falls back too.
//! - **Added statements**: an index on `t` (later statements naming `t` only insert
//!   into it with `VALUES`, and a unique one meets no `ON CONFLICT`), a column of `t`
//!   (nothing later names `t`), a table (nothing else names it), a comment (no later
//!   comment on the same object). They run in order.
//!
//! Anything else (a removed statement other than an insert, a changed `CREATE TABLE`,
//! a changed `DO` block, another file order) is a full build, and so is any failure
//! while applying.

use crate::build::incremental::outline::{Body, Kind, Recorded, Statement};
use crate::tree::analysis::defined_names;
use similar::{Algorithm, DiffOp, capture_diff_slices};
use std::collections::HashSet;

/// One thing an incremental build does, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Empty the table (as the statement at the index names it) before its rows are
    /// inserted again.
    Empty { table: String, at: usize },
    /// Run the statement at the index of the new stream (functions with `OR REPLACE`).
    Run(usize),
}

/// What differs, what runs for it, or why a full build is needed.
pub(crate) type Decision = std::result::Result<Vec<Action>, String>;

/// Compares the recorded stream of the last build with the tree's.
pub(crate) fn plan(old: &[Recorded], new: &[Statement]) -> Decision {
    let old_digests: Vec<&str> = old.iter().map(|r| r.digest.as_str()).collect();
    let new_digests: Vec<&str> = new.iter().map(|s| s.digest.as_str()).collect();
    let ops = capture_diff_slices(Algorithm::Myers, &old_digests, &new_digests);
    let changes: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = ops
        .iter()
        .filter(|op| !matches!(op, DiffOp::Equal { .. }))
        .map(|op| (op.old_range(), op.new_range()))
        .collect();
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    if changes.len() > 16 {
        return Err(format!("{} separate changes", changes.len()));
    }
    let facts = Facts::new(new);
    let changed: HashSet<usize> = changes.iter().flat_map(|(_, n)| n.clone()).collect();
    let mut actions = Vec::new();
    let mut reseeded = HashSet::new();
    for (o, n) in &changes {
        let olds = &old[o.clone()];
        let news: Vec<usize> = n.clone().collect();
        let at = |i: usize| format!("{}:{}", new[i].path, new[i].line);
        let near = news
            .first()
            .copied()
            .or_else(|| (n.start < new.len()).then_some(n.start));
        let place = near.map(at).unwrap_or_else(|| "the end of the tree".into());
        if let Some(table) = rows_of(olds, &news, new) {
            if reseeded.insert(table.clone()) {
                actions.extend(facts.reseed(&table)?);
            }
        } else if olds.is_empty() || functions_replaced(olds, &news, new) {
            for &i in &news {
                facts.added(i, &changed)?;
                actions.push(Action::Run(i));
            }
        } else {
            return Err(format!(
                "{place}: a change the incremental build cannot apply (only new or replaced functions, rows of one table, and new indexes, columns, tables and comments)"
            ));
        }
    }
    actions.sort_by_key(|a| match a {
        Action::Empty { at, .. } => (*at, 0),
        Action::Run(i) => (*i, 1),
    });
    actions.dedup();
    Ok(actions)
}

/// The table whose rows the change is about, when every statement it removes or
/// adds inserts into that one table.
fn rows_of(olds: &[Recorded], news: &[usize], new: &[Statement]) -> Option<String> {
    let mut subjects = olds
        .iter()
        .map(|r| (r.kind, r.subject.as_str()))
        .chain(news.iter().map(|&i| (new[i].kind, new[i].subject.as_str())));
    let (kind, first) = subjects.next()?;
    (kind == Kind::Insert && subjects.all(|(k, s)| k == Kind::Insert && s == first))
        .then(|| first.to_string())
}

/// Whether the change replaces functions by functions of the same signature.
fn functions_replaced(olds: &[Recorded], news: &[usize], new: &[Statement]) -> bool {
    olds.len() == news.len()
        && olds.iter().zip(news).all(|(r, &i)| {
            r.kind == Kind::Function && new[i].kind == Kind::Function && r.subject == new[i].subject
        })
}

/// The last part of a possibly qualified name, unquoted and lowercased, as the
/// lowercased text would show it.
fn base_name(name: &str) -> String {
    name.rsplit('.')
        .next()
        .unwrap_or(name)
        .trim_matches('"')
        .to_lowercase()
}

/// The name of a function from its subject (`function app.f( a int )`).
fn function_name(subject: &str) -> String {
    let qualified = subject.split(' ').nth(1).unwrap_or_default();
    base_name(qualified.split('(').next().unwrap_or_default())
}

/// The first words of a statement.
fn head(s: &Statement, n: usize) -> Vec<&str> {
    s.lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .take(n)
        .collect()
}

/// Whether running the statement can run code or read rows: anything but a
/// definition, a comment, a grant or a setting.
fn runs_code(s: &Statement) -> bool {
    if let Body::Copy { .. } = s.body {
        return true;
    }
    let h = head(s, 6);
    let skip = |w: &&str| {
        [
            "or",
            "replace",
            "constraint",
            "unique",
            "temp",
            "temporary",
            "unlogged",
        ]
        .contains(w)
    };
    match h.first().copied() {
        Some("comment" | "grant" | "revoke" | "set" | "reset") => false,
        Some("alter") => !matches!(
            h.get(1).copied(),
            Some("function" | "procedure" | "default" | "schema" | "type" | "domain" | "sequence")
        ),
        Some("create") => {
            let kind = h.iter().skip(1).find(|w| !skip(w)).copied();
            match kind {
                Some("table") => s.kind != Kind::Table,
                Some(
                    "function" | "procedure" | "trigger" | "policy" | "view" | "type" | "domain"
                    | "schema" | "sequence" | "extension" | "aggregate" | "cast" | "operator"
                    | "rule" | "collation",
                ) => false,
                _ => true,
            }
        }
        _ => true,
    }
}

/// The table a `CREATE TRIGGER|POLICY|RULE|INDEX .. ON t` or `ALTER TABLE t` is about
/// (the last part of its name).
fn table_of(s: &Statement) -> Option<String> {
    let cut = s
        .lower
        .char_indices()
        .nth(2000)
        .map_or(s.lower.len(), |(i, _)| i);
    let toks: Vec<&str> = s.lower[..cut].split_whitespace().collect();
    let at = match (toks.first().copied(), toks.get(1).copied()) {
        (Some("alter"), Some("table")) => 2,
        (Some("create"), _) => {
            // Only these are "on" a table; a function's body has its own `ON`s.
            let kind = toks[1..]
                .iter()
                .find(|t| !matches!(**t, "or" | "replace" | "unique" | "constraint"))?;
            if !matches!(*kind, "trigger" | "policy" | "rule" | "index") {
                return None;
            }
            toks.iter().position(|t| *t == "on")? + 1
        }
        _ => return None,
    };
    let name = toks[at..]
        .iter()
        .find(|t| !matches!(**t, "if" | "exists" | "only"))?;
    let name: String = name
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '"' | '$'))
        .collect();
    (!name.is_empty()).then(|| base_name(&name))
}

/// What the whole new stream says, for the rules.
struct Facts<'a> {
    new: &'a [Statement],
    /// The words of each statement (lowercased), computed once, in one pass: the
    /// rules ask about many names, and the large inserts hold megabytes.
    words: Vec<HashSet<&'a str>>,
    /// Statements that define or attach something (`CREATE`, `ALTER`).
    definitions: Vec<usize>,
}

/// The words of a lowercased text.
fn word_set(text: &str) -> HashSet<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty())
        .collect()
}

impl<'a> Facts<'a> {
    fn new(new: &'a [Statement]) -> Facts<'a> {
        let definitions = new
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(head(s, 1).first().copied(), Some("create" | "alter")))
            .map(|(i, _)| i)
            .collect();
        let words = new.iter().map(|s| word_set(&s.lower)).collect();
        Facts {
            new,
            words,
            definitions,
        }
    }

    /// Every name from which `seeds` can be reached: functions and views naming one,
    /// tables whose definition, trigger, policy or index names one, to a fixpoint.
    fn reaching(&self, seeds: &HashSet<String>) -> HashSet<String> {
        let mut names = seeds.clone();
        loop {
            let mut grew = false;
            for &i in &self.definitions {
                let s = &self.new[i];
                if !self.names_any(i, &names) {
                    continue;
                }
                let mut found: Vec<String> = defined_names(s.body.text(), false)
                    .into_iter()
                    .map(|n| n.to_lowercase())
                    .collect();
                found.extend(table_of(s));
                for n in found {
                    grew |= names.insert(n);
                }
            }
            if !grew {
                return names;
            }
        }
    }

    /// The words of statement `i`.
    fn words(&self, i: usize) -> &HashSet<&'a str> {
        &self.words[i]
    }

    /// Whether statement `i` names one of `names`.
    fn names_any(&self, i: usize, names: &HashSet<String>) -> bool {
        let words = self.words(i);
        names.iter().any(|n| words.contains(n.as_str()))
    }

    /// Whether statement `i` names `name`.
    fn names(&self, i: usize, name: &str) -> bool {
        self.words(i).contains(name)
    }

    /// The first statement outside `own` after `from` that runs code and names one of
    /// `names`, as `path:line`.
    fn used_after(
        &self,
        from: usize,
        names: &HashSet<String>,
        own: &HashSet<usize>,
    ) -> Option<String> {
        (from + 1..self.new.len())
            .filter(|i| !own.contains(i))
            .find(|&i| runs_code(&self.new[i]) && self.names_any(i, names))
            .map(|i| format!("{}:{}", self.new[i].path, self.new[i].line))
    }

    /// The first statement outside `own` in `range` matching `hit`, as `path:line`.
    fn first(
        &self,
        range: std::ops::Range<usize>,
        own: &HashSet<usize>,
        hit: impl Fn(usize) -> bool,
    ) -> Option<String> {
        range
            .filter(|i| !own.contains(i))
            .find(|&i| hit(i))
            .map(|i| format!("{}:{}", self.new[i].path, self.new[i].line))
    }

    /// The checks for the added or replaced statement at `i` (the change's own
    /// statements are `own`).
    fn added(&self, i: usize, own: &HashSet<usize>) -> std::result::Result<(), String> {
        let s = &self.new[i];
        let place = format!("{}:{}", s.path, s.line);
        let table = base_name(&s.subject);
        let after = i + 1..self.new.len();
        let refuse = |what: &str, at: Option<String>| match at {
            Some(at) => Err(format!("{place}: {what} ({at})")),
            None => Ok(()),
        };
        match s.kind {
            Kind::Function => {
                let again = self.first(after.clone(), own, |j| {
                    self.new[j].kind == Kind::Function && self.new[j].subject == s.subject
                });
                refuse("the function is defined again later", again)?;
                let reach = self.reaching(&HashSet::from([function_name(&s.subject)]));
                refuse(
                    "the function can run later in the build",
                    self.used_after(i, &reach, own),
                )
            }
            Kind::Index | Kind::UniqueIndex => {
                let mut watched = HashSet::from([table.clone()]);
                watched.extend(
                    defined_names(s.body.text(), false)
                        .into_iter()
                        .map(|n| n.to_lowercase()),
                );
                let unique = s.kind == Kind::UniqueIndex;
                let reader = self.first(after, own, |j| {
                    let t = &self.new[j];
                    let plain_insert = || {
                        t.kind == Kind::Insert
                            && base_name(&t.subject) == table
                            && !self.names(j, "select")
                            && !(unique && self.names(j, "conflict"))
                    };
                    runs_code(t)
                        && self.names_any(j, &watched)
                        && !plain_insert()
                        && !self.only_alters(t, &table)
                });
                refuse("the table is read later in the build", reader)
            }
            // A comment, grant, trigger or policy on the table may follow; a view
            // would freeze its columns without the new one, anything else that runs
            // could see it.
            Kind::Column => refuse(
                "the table is used later in the build",
                self.first(after, own, |j| {
                    let t = &self.new[j];
                    self.names(j, table.as_str()) && (runs_code(t) || head(t, 4).contains(&"view"))
                }),
            ),
            Kind::Table => refuse(
                "the new table is named elsewhere",
                self.first(0..self.new.len(), own, |j| self.names(j, table.as_str())),
            ),
            Kind::Comment => refuse(
                "commented on again later",
                self.first(after, own, |j| {
                    self.new[j].kind == Kind::Comment && self.new[j].subject == s.subject
                }),
            ),
            Kind::Insert | Kind::Other => Err(format!(
                "{place}: a new statement the incremental build cannot apply"
            )),
        }
    }

    /// Emptying `table` and inserting its rows again, if nothing else sees them.
    fn reseed(&self, table: &str) -> std::result::Result<Vec<Action>, String> {
        let name = base_name(table);
        // Everything that runs and can touch the table, in stream order: what fills
        // it, and what checks or changes its rows (directly, or through a function
        // naming it). Its indexes and `ALTER TABLE`s are definitions and stay.
        let readers = self.reaching(&HashSet::from([name.clone()]));
        let touching: Vec<usize> = (0..self.new.len())
            .filter(|&i| {
                let s = &self.new[i];
                let its_index = matches!(s.kind, Kind::Index | Kind::UniqueIndex)
                    && base_name(&s.subject) == name;
                runs_code(s)
                    && self.names_any(i, &readers)
                    && !its_index
                    && !self.only_alters(s, &name)
            })
            .collect();
        let at = match touching.first() {
            Some(&w) => w,
            // Every row of the table went: it is emptied and nothing runs again.
            None => self
                .new
                .iter()
                .position(|s| s.kind == Kind::Table && base_name(&s.subject) == name)
                .ok_or_else(|| {
                    format!("{table}: its rows changed but it is not defined in the tree")
                })?,
        };
        // Each of them, and the table's triggers, must reach the table alone: other
        // rows would have been read or written at another moment, and a sequence
        // defined apart may be drawn from by others. A `\gset` reading it would feed
        // the rest of the stream a value that may change.
        let functions = self.functions();
        let tables = self.tables_and_sequences();
        let reaches_another = |i: usize, seeds: HashSet<String>| {
            let mut reached = self.reach_through_functions(&seeds);
            reached.extend(self.words(i).iter().map(|w| w.to_string()));
            reached
                .into_iter()
                .find(|t| tables.contains(t) && *t != name)
        };
        let named = |i: usize| -> HashSet<String> {
            functions
                .iter()
                .filter(|f| self.names(i, f.as_str()))
                .cloned()
                .collect()
        };
        for &i in &touching {
            let s = &self.new[i];
            let place = format!("{}:{}", s.path, s.line);
            if s.gset.is_some() {
                return Err(format!("{table}: a \\gset reads it ({place})"));
            }
            if let Some(other) = reaches_another(i, named(i)) {
                return Err(format!("{table}: {place} reaches {other} as well"));
            }
        }
        for &i in &self.definitions {
            let s = &self.new[i];
            let on_it = table_of(s).as_deref() == Some(name.as_str());
            if on_it
                && head(s, 2) == ["create", "trigger"]
                && let Some(other) = reaches_another(i, named(i))
            {
                return Err(format!("{table}: its trigger reaches {other} as well"));
            }
            if s.kind == Kind::Table
                && base_name(&s.subject) == name
                && let Some(other) = self
                    .words(i)
                    .iter()
                    .find(|w| tables.contains(**w) && **w != name)
            {
                return Err(format!("{table}: its definition names {other}"));
            }
        }
        let mut actions = vec![Action::Empty {
            table: table.to_string(),
            at,
        }];
        actions.extend(touching.iter().map(|&w| Action::Run(w)));
        Ok(actions)
    }

    /// An `ALTER TABLE t ..` of the table itself (a constraint checks the rows it
    /// has, the same either way).
    fn only_alters(&self, s: &Statement, name: &str) -> bool {
        head(s, 2) == ["alter", "table"] && table_of(s).as_deref() == Some(name)
    }

    /// Every function and procedure the tree defines.
    fn functions(&self) -> HashSet<String> {
        self.definitions
            .iter()
            .map(|&i| &self.new[i])
            .filter(|s| s.kind == Kind::Function)
            .map(|s| function_name(&s.subject))
            .collect()
    }

    /// Every table and sequence the tree defines.
    fn tables_and_sequences(&self) -> HashSet<String> {
        self.definitions
            .iter()
            .flat_map(|&i| defined_names(self.new[i].body.text(), true))
            .map(|n| n.to_lowercase())
            .collect()
    }

    /// The names the bodies of `functions` mention, through the functions they name.
    fn reach_through_functions(&self, functions: &HashSet<String>) -> HashSet<String> {
        let mut seen = functions.clone();
        let mut queue: Vec<String> = functions.iter().cloned().collect();
        let mut out = HashSet::new();
        let all = self.functions();
        while let Some(f) = queue.pop() {
            for &i in &self.definitions {
                let s = &self.new[i];
                if s.kind != Kind::Function || function_name(&s.subject) != f {
                    continue;
                }
                for &w in self.words(i) {
                    out.insert(w.to_string());
                    if all.contains(w) && seen.insert(w.to_string()) {
                        queue.push(w.to_string());
                    }
                }
            }
        }
        out
    }
}
