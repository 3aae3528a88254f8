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
//! - **Rows of a plain table found by key** (a narrower case of the one above, tried
//!   first): when nothing touches `t` but plain `INSERT INTO t (k, ..) VALUES`
//!   statements and read-only checks of rows by key, and the last build kept the
//!   keys of the removed inserts (`keys.rs`), the removed inserts' rows are deleted
//!   by key and the added inserts run: the rest of the table is not written again.
//!   The catalog of the copy must show a plain table whose one-column primary key is
//!   `k` and nothing that makes its rows depend on their order (a trigger, rule,
//!   foreign key, inheritance, identity, a default or check drawing on a sequence or
//!   a function of the tree), and no row a check looks up may be removed or added;
//!   otherwise both databases roll back and take the rule above instead. A trigger,
//!   rule, sequence or foreign key seen in the text keeps the table on that rule.
//! - **Added statements**: an index on `t` (later statements naming `t` only insert
//!   into it with `VALUES`, and a unique one meets no `ON CONFLICT`), a column of `t`
//!   (nothing later names `t`), a table (nothing else names it), a comment (no later
//!   comment on the same object). They run in order.
//! - **An index removed or replaced** (`CREATE [UNIQUE] INDEX` statements removed,
//!   with or without others added in their place): `DROP INDEX` of the name the last
//!   build recorded (qualified as its table was), in the settings the statement ran
//!   in, then the new ones as added indexes. Refused when the name was not recorded
//!   (an unnamed index, a quoted name), when any statement of the tree names it
//!   (`ALTER INDEX`, `COMMENT ON INDEX`, `CLUSTER .. USING`, `USING INDEX`), or when
//!   a later statement reads the table, as for an added index.
//! - **A table rebuilt** (its `CREATE TABLE` changed): see `rebuild.rs`. It is
//!   dropped and every statement naming it replays in order.
//!
//! An object made at the end rather than at `p` also escapes what acts on every
//! object there is: after `p`, a statement that reads the catalog and runs code
//! (`pg_class`, `information_schema`, ...; directly or through a function) refuses
//! every rule but the rows', and a `GRANT|REVOKE .. ON ALL .. IN SCHEMA` or `ALTER
//! DEFAULT PRIVILEGES` refuses a new function and a new or rebuilt table (the objects
//! that carry privileges). A catalog reader that holds one of the tree's relation
//! names as a whole string literal (`relname = 't'`) is taken to look up that one.
//!
//! Anything else (a removed statement other than an insert or an index, a changed
//! `DO` block, another file order) is a full build, and so is any failure while
//! applying.

use crate::build::incremental::facts::{
    Facts, base_name, function_name, head, runs_code, table_of,
};
use crate::build::incremental::keys::{point_lookups, row_keys};
use crate::build::incremental::outline::{Body, Kind, Recorded, Statement};
use crate::tree::analysis::defined_names;
use similar::{Algorithm, DiffOp, capture_diff_slices};
use std::collections::{BTreeMap, HashSet};

/// One thing an incremental build does, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Empty the table (as the statement at the index names it) before its rows are
    /// inserted again.
    Empty { table: String, at: usize },
    /// Drop what the last build made (`DROP INDEX|TABLE name`), in the session
    /// settings of the statement at the index.
    Drop { sql: String, at: usize },
    /// Delete the rows the removed inserts (by digest) wrote into the table, by the
    /// keys the last build kept (`keys.rs`), in the session settings of the statement
    /// at the index; the added inserts run after it.
    Keyed {
        table: String,
        at: usize,
        removed: Vec<String>,
        /// The keys of the added inserts, when a check looks rows up.
        added_keys: Vec<String>,
        /// What the table's unchanged checks look up: rows the change must leave
        /// alone.
        lookups: Lookups,
    },
    /// Run the statement at the index of the new stream (functions with `OR REPLACE`).
    Run(usize),
}

/// What the unchanged checks of a table's rows look up (`keys::point_lookups`): the
/// key column and the constants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Lookups {
    pub(crate) column: Option<String>,
    pub(crate) keys: Vec<String>,
}

/// The rows of `table` changed by deleting the removed inserts' rows by key and
/// running the added ones, when they can be (see `keys.rs`); the added inserts' keys
/// go with it when a check looks rows up, for the build to make sure the change
/// leaves those rows alone.
fn by_key(
    facts: &Facts<'_>,
    new: &[Statement],
    table: &str,
    removed: Vec<String>,
    added: &[usize],
) -> Option<Action> {
    let (at, lookups) = facts.by_key(table)?;
    let mut added_keys = Vec::new();
    for &i in added {
        let Body::Sql(sql) = &new[i].body else {
            return None;
        };
        if !lookups.keys.is_empty() {
            let (column, keys) = row_keys(sql)?;
            if lookups.column.as_ref() != Some(&column) {
                return None;
            }
            added_keys.extend(keys);
        }
    }
    Some(Action::Keyed {
        table: table.to_string(),
        at,
        removed,
        added_keys,
        lookups,
    })
}

/// What differs, what runs for it, or why a full build is needed.
pub(crate) type Decision = std::result::Result<Vec<Action>, String>;

/// Compares the recorded stream of the last build with the tree's; `keyed` holds the
/// digests of the inserts whose row keys the last build kept.
pub(crate) fn plan(old: &[Recorded], new: &[Statement], keyed: &HashSet<String>) -> Decision {
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
    // Tables whose `CREATE TABLE` changed: each is dropped and its statements replay,
    // which covers every other change that is about it alone.
    let mut rebuilt = BTreeMap::new();
    for (o, n) in &changes {
        for t in redefined(&old[o.clone()], &new[n.clone()]) {
            if let std::collections::btree_map::Entry::Vacant(e) = rebuilt.entry(t) {
                let (drop_and_replay, replayed) = facts.rebuild(e.key())?;
                actions.extend(drop_and_replay);
                e.insert(replayed);
            }
        }
    }
    // Changed rows, by table: what each change removes (digests) and adds.
    let mut rows: BTreeMap<String, (Vec<String>, Vec<usize>)> = BTreeMap::new();
    for (o, n) in &changes {
        let olds = &old[o.clone()];
        let news: Vec<usize> = n.clone().collect();
        if covered(olds, &news, &rebuilt) {
            continue;
        }
        let at = |i: usize| format!("{}:{}", new[i].path, new[i].line);
        let near = news
            .first()
            .copied()
            .or_else(|| (n.start < new.len()).then_some(n.start));
        let place = near.map(at).unwrap_or_else(|| "the end of the tree".into());
        if let Some(table) = rows_of(olds, &news, new) {
            let (removed, added) = rows.entry(table).or_default();
            removed.extend(olds.iter().map(|r| r.digest.clone()));
            added.extend(news);
        } else if olds.is_empty() || functions_replaced(olds, &news, new) {
            for &i in &news {
                facts.added(i, &changed)?;
                actions.push(Action::Run(i));
            }
        } else if indexes_replaced(olds, &news, new) {
            for r in olds {
                actions.push(facts.index_removed(r, n.start, &changed)?);
            }
            for &i in &news {
                facts.added(i, &changed)?;
                actions.push(Action::Run(i));
            }
        } else {
            return Err(format!(
                "{place}: a change the incremental build cannot apply (only new or replaced functions, rows of one table, new or removed indexes, new columns, tables and comments, and changed tables)"
            ));
        }
    }
    for (table, (removed, added)) in rows {
        // Found by key needs none of the emptying's checks: its inserts read nothing
        // (no `SELECT`, no function of the tree), and the catalog check covers the
        // table's triggers and sequences.
        let keyed = if removed.iter().all(|d| keyed.contains(d)) {
            by_key(&facts, new, &table, removed, &added)
        } else {
            None
        };
        match keyed {
            Some(action) => {
                actions.push(action);
                actions.extend(added.into_iter().map(Action::Run));
            }
            None => actions.extend(facts.reseed(&table)?),
        }
    }
    actions.sort_by_key(|a| match a {
        Action::Empty { at, .. } | Action::Drop { at, .. } | Action::Keyed { at, .. } => (*at, 0),
        Action::Run(i) => (*i, 1),
    });
    actions.dedup();
    Ok(actions)
}

/// The tables (last part of the name) whose `CREATE TABLE` the change replaces by
/// another of the same name.
fn redefined(olds: &[Recorded], news: &[Statement]) -> Vec<String> {
    olds.iter()
        .filter(|r| r.kind == Kind::Table)
        .filter(|r| {
            news.iter()
                .any(|s| s.kind == Kind::Table && s.subject == r.subject)
        })
        .map(|r| base_name(&r.subject))
        .collect()
}

/// Whether a rebuild covers the change: every statement it removes was about a
/// rebuilt table alone (by kind and subject, all the record knows), and every one it
/// adds is one the rebuild replays.
fn covered(olds: &[Recorded], news: &[usize], rebuilt: &BTreeMap<String, HashSet<usize>>) -> bool {
    let about = |r: &Recorded| -> Option<String> {
        match r.kind {
            Kind::Table | Kind::Index | Kind::UniqueIndex | Kind::Column | Kind::Insert => {
                Some(base_name(&r.subject))
            }
            // `table t` or `column t . c`: what the comment is on.
            Kind::Comment => {
                let words: Vec<&str> = r.subject.split(' ').filter(|w| *w != ".").collect();
                match words.first().copied() {
                    Some("table") => words.last().map(|t| base_name(t)),
                    Some("column") if words.len() >= 3 => Some(base_name(words[words.len() - 2])),
                    _ => None,
                }
            }
            Kind::Function | Kind::Other => None,
        }
    };
    (!olds.is_empty() || !news.is_empty())
        && olds
            .iter()
            .all(|r| about(r).is_some_and(|t| rebuilt.contains_key(&t)))
        && news
            .iter()
            .all(|i| rebuilt.values().any(|replayed| replayed.contains(i)))
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

/// Whether the change removes indexes and adds nothing but indexes in their place.
fn indexes_replaced(olds: &[Recorded], news: &[usize], new: &[Statement]) -> bool {
    let index = |k: Kind| matches!(k, Kind::Index | Kind::UniqueIndex);
    !olds.is_empty()
        && olds.iter().all(|r| index(r.kind))
        && news.iter().all(|&i| index(new[i].kind))
}

/// The name an index statement gives its index, qualified by its table's schema
/// when the table is qualified (an index lives in its table's schema); empty when
/// it names none or is not an index.
pub(crate) fn index_name(s: &Statement) -> String {
    if !matches!(s.kind, Kind::Index | Kind::UniqueIndex) {
        return String::new();
    }
    let words = head(s, 12);
    let Some(mut i) = words.iter().position(|w| *w == "index") else {
        return String::new();
    };
    i += 1;
    if words.get(i) == Some(&"concurrently") {
        i += 1;
    }
    if words.get(i..i + 3) == Some(&["if", "not", "exists"][..]) {
        i += 3;
    }
    // A quoted name is not recorded: the words above lost its case and spaces.
    let quoted = s.lower.chars().take(300).any(|c| c == '"');
    match words.get(i) {
        Some(&name) if name != "on" && !quoted => match s.subject.rsplit_once('.') {
            Some((schema, _)) => format!("{schema}.{name}"),
            None => name.to_string(),
        },
        _ => String::new(),
    }
}

impl Facts<'_> {
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
        // What acts on every object, or on what the catalog lists, after `i` would
        // treat the statement's object differently once it moves to the end.
        refuse(
            "a later statement would see the change",
            self.acts_on_everything_from(
                i + 1,
                own,
                matches!(s.kind, Kind::Function | Kind::Table),
            ),
        )?;
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
                refuse(
                    "the table is read later in the build",
                    self.index_seen_from(i + 1, &table, &watched, s.kind == Kind::UniqueIndex, own),
                )
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

    /// The first statement outside `own` from `start` on that an index on `table` (its
    /// names `watched`) could change the outcome of: one that reads the table (the
    /// order rows come back in may change), not an `INSERT .. VALUES` into it or an
    /// `ALTER TABLE` of it; with a `unique` index, an insert `ON CONFLICT` too.
    fn index_seen_from(
        &self,
        start: usize,
        table: &str,
        watched: &HashSet<String>,
        unique: bool,
        own: &HashSet<usize>,
    ) -> Option<String> {
        self.first(start..self.new.len(), own, |j| {
            let t = &self.new[j];
            let plain_insert = || {
                t.kind == Kind::Insert
                    && base_name(&t.subject) == table
                    && !self.names(j, "select")
                    && !(unique && self.names(j, "conflict"))
            };
            runs_code(t)
                && self.names_any(j, watched)
                && !plain_insert()
                && !self.only_alters(t, table)
        })
    }

    /// Dropping the index the recorded statement `r` made, in the session settings
    /// of the statement at `at` (those the removed statement ran in: the ones before
    /// it in the change are indexes too, which set nothing).
    fn index_removed(
        &self,
        r: &Recorded,
        at: usize,
        own: &HashSet<usize>,
    ) -> std::result::Result<Action, String> {
        let place = self
            .new
            .get(at)
            .map_or("the end of the tree".to_string(), |s| {
                format!("{}:{}", s.path, s.line)
            });
        let refuse = |what: &str| Err(format!("{place}: an index removed or changed: {what}"));
        if r.name.is_empty() || r.name.contains('"') {
            return refuse("the last build did not record its name");
        }
        if at >= self.new.len() {
            return refuse("nothing after it to take the session settings from");
        }
        let index = base_name(&r.name);
        let table = base_name(&r.subject);
        // ALTER INDEX, COMMENT ON INDEX, CLUSTER .. USING, a constraint USING INDEX,
        // another index of the same name: anything naming it saw it.
        if let Some(other) = self.first(0..self.new.len(), own, |j| self.names(j, &index)) {
            return refuse(&format!("{index} is named at {other}"));
        }
        let watched = HashSet::from([table.clone(), index]);
        let unique = r.kind == Kind::UniqueIndex;
        if let Some(reader) = self.index_seen_from(at, &table, &watched, unique, own) {
            return refuse(&format!("the table is read later in the build ({reader})"));
        }
        if let Some(why) = self.acts_on_everything_from(at, own, false) {
            return refuse(&why);
        }
        Ok(Action::Drop {
            sql: format!("DROP INDEX {}", r.name),
            at,
        })
    }

    /// Everything that runs and can touch the table `name`, in stream order: what
    /// fills it, and what checks or changes its rows (directly, or through a function
    /// naming it). Its indexes and `ALTER TABLE`s are definitions and stay.
    fn touching(&self, name: &str) -> Vec<usize> {
        let readers = self.reaching(&HashSet::from([name.to_string()]));
        (0..self.new.len())
            .filter(|&i| {
                let s = &self.new[i];
                let its_index = matches!(s.kind, Kind::Index | Kind::UniqueIndex)
                    && base_name(&s.subject) == name;
                runs_code(s)
                    && self.names_any(i, &readers)
                    && !its_index
                    && !self.only_alters(s, name)
            })
            .collect()
    }

    /// The rows of `table` found by key (`keys.rs`), when nothing touches it but
    /// plain inserts (`INSERT INTO t .. VALUES`, no `SELECT`, `ON CONFLICT` or
    /// `RETURNING`, no function of the tree; words of literals count too) and
    /// read-only checks of rows by key (`keys::point_lookups`): then, with no trigger,
    /// rule or sequence (the catalog check), its rows are the union of its inserts',
    /// in any order, and each check's outcome depends only on the rows it looks up.
    /// Where the table is first touched (the settings the deletion runs in) and what
    /// the checks look up, for the build to make sure the change leaves those rows
    /// alone; `None` when the rows cannot be found by key.
    fn by_key(&self, table: &str) -> Option<(usize, Lookups)> {
        let name = base_name(table);
        // What the catalog check would refuse, seen in the text first so that such
        // a table is emptied and filled again rather than built in full: a trigger
        // or rule on it, a sequence, identity, inheritance or foreign key in its
        // definition, a table or `ALTER TABLE` naming it from elsewhere.
        const ORDERED: &[&str] = &[
            "trigger",
            "rule",
            "identity",
            "serial",
            "bigserial",
            "smallserial",
            "serial2",
            "serial4",
            "serial8",
            "nextval",
            "references",
            "foreign",
            "inherits",
            "partition",
        ];
        for i in 0..self.new.len() {
            let s = &self.new[i];
            if !self.names(i, &name) {
                continue;
            }
            let words = self.words(i);
            let on_it = table_of(s).as_deref() == Some(name.as_str())
                || (s.kind == Kind::Table && base_name(&s.subject) == name);
            let defines = s.kind == Kind::Table || head(s, 2) == ["alter", "table"];
            if (on_it && ORDERED.iter().any(|w| words.contains(w))) || (defines && !on_it) {
                return None;
            }
        }
        let functions = self.functions();
        let mut lookups = Lookups::default();
        let touching = self.touching(&name);
        for &i in &touching {
            let s = &self.new[i];
            let words = self.words(i);
            let plain_insert = s.kind == Kind::Insert
                && base_name(&s.subject) == name
                && matches!(s.body, Body::Sql(_))
                && !["select", "conflict", "returning"]
                    .iter()
                    .any(|w| words.contains(w))
                && !words.iter().any(|w| functions.contains(*w));
            if plain_insert {
                continue;
            }
            let (column, keys) = point_lookups(s.body.text(), table)?;
            if lookups.column.get_or_insert_with(|| column.clone()) != &column {
                return None;
            }
            lookups.keys.extend(keys);
        }
        // With nothing touching it any more, the rows go where the table is made.
        let at = touching.first().copied().or_else(|| {
            self.new
                .iter()
                .position(|s| s.kind == Kind::Table && base_name(&s.subject) == name)
        })?;
        Some((at, lookups))
    }

    /// Emptying `table` and inserting its rows again, if nothing else sees them.
    fn reseed(&self, table: &str) -> std::result::Result<Vec<Action>, String> {
        let name = base_name(table);
        let touching = self.touching(&name);
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
            // The words of a large insert are thousands: looked at, never copied.
            let through = self.reach_through_functions(&seeds);
            through
                .iter()
                .map(String::as_str)
                .chain(self.words(i).iter().copied())
                .find(|t| tables.contains(*t) && *t != name)
                .map(str::to_string)
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
}
