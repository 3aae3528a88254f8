//! What the text of a script says about the order it must keep: the names it
//! mentions, the names it defines, and the tables it can reach through them. Both
//! parallel builders order their units with [`Analysis`]; it is conservative (a
//! mention inside a comment or a string counts), which only costs parallelism.
//!
//! What the text cannot show is not covered: a dependency hidden in dynamic SQL
//! built from pieces, a setting made inside a function.

use crate::tree::lint::lexer::{Tok, lex_spans};
use std::collections::{HashMap, HashSet};

/// What a unit is, for the ordering rule that applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    /// A numeric-layout create script: ordered against earlier create scripts by the
    /// names either defines and the other mentions.
    Create,
    /// A numeric-layout populate script: after every create script (a barrier), and
    /// ordered against earlier populate scripts whose reach overlaps its own.
    Populate,
    /// A piece of an entry-script stream, which has no phases: see [`Analysis::add`].
    Stream,
}

/// The text facts of the units so far, for the dependencies of the next one.
#[derive(Default)]
pub struct Analysis {
    kinds: Vec<UnitKind>,
    words: Vec<HashSet<String>>,
    defs: Vec<HashSet<String>>,
    /// The tables and sequences a unit can touch; computed only for the kinds whose
    /// rule reads it.
    reach: Vec<HashSet<String>>,
    /// Every table and sequence defined so far.
    tables: HashSet<String>,
    definers: HashMap<String, Vec<usize>>,
    /// Units that read the catalog more broadly than their names show
    /// ([`reads_catalog_broadly`]), or call what such a unit defines: barriers.
    barrier: Vec<bool>,
    /// What barrier units define (a function that reads the catalog when called).
    catalog_names: HashSet<String>,
}

impl Analysis {
    /// Adds a unit of `sql`; returns the earlier units it must wait for.
    ///
    /// - Two create scripts, or two stream units that both define names, keep their
    ///   order when either mentions a name the other defines.
    /// - A stream unit that defines nothing (it fills, alters, grants or adds
    ///   triggers and policies) keeps its order with one that does when it mentions
    ///   what that one defines, or that one mentions a table it reaches.
    /// - Two units that define nothing (populate scripts, or such stream units) keep
    ///   their order when the tables they reach overlap.
    /// - A unit that reads the catalog beyond the names it holds (a loop over
    ///   `pg_tables` granting on each) keeps its order with every other: what it finds
    ///   depends on every unit before it, and no unit after it may be found.
    pub fn add(&mut self, sql: &str, kind: UnitKind) -> Vec<usize> {
        let j = self.words.len();
        // A populate script may define a table too (`SELECT ... INTO`): what it makes
        // is state later scripts reach, though populate scripts order by reach alone.
        let defs_j = defined_names(sql, false);
        self.tables.extend(defined_names(sql, true));
        for d in &defs_j {
            self.definers.entry(d.clone()).or_default().push(j);
        }
        self.kinds.push(kind);
        let words_j = words(sql);
        let barrier = words_j.iter().any(|w| self.catalog_names.contains(w))
            || reads_catalog_broadly(sql, words_j.iter().map(String::as_str), |r| {
                self.tables.contains(r)
            });
        if barrier {
            self.catalog_names.extend(defs_j.iter().cloned());
        }
        self.barrier.push(barrier);
        self.words.push(words_j);
        self.defs.push(defs_j);
        let reach_j = match kind {
            UnitKind::Create => HashSet::new(),
            UnitKind::Populate | UnitKind::Stream => self.reach_of(j),
        };
        self.reach.push(reach_j);
        (0..j).filter(|&i| self.ordered(i, j)).collect()
    }

    /// The tables unit `j` can touch: those it names, and through the definitions of
    /// whatever it names, those they name.
    fn reach_of(&self, j: usize) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut names = self.words[j].clone();
        let mut queue: Vec<String> = names.iter().cloned().collect();
        while let Some(name) = queue.pop() {
            for &c in self.definers.get(&name).into_iter().flatten() {
                if seen.insert(c) {
                    for w in &self.words[c] {
                        if names.insert(w.clone()) {
                            queue.push(w.clone());
                        }
                    }
                }
            }
        }
        names.retain(|n| self.tables.contains(n));
        names
    }

    fn ordered(&self, i: usize, j: usize) -> bool {
        if self.barrier[i] || self.barrier[j] {
            return true;
        }
        let mentions_defs = |a: usize, b: usize| !self.words[a].is_disjoint(&self.defs[b]);
        let mentions_reach = |a: usize, b: usize| !self.words[a].is_disjoint(&self.reach[b]);
        let overlap = |a: usize, b: usize| !self.reach[a].is_disjoint(&self.reach[b]);
        match (self.kinds[i], self.kinds[j]) {
            (UnitKind::Create, UnitKind::Create) => mentions_defs(j, i) || mentions_defs(i, j),
            (UnitKind::Populate, UnitKind::Populate) => overlap(i, j),
            // Every populate script waits for every create script.
            (UnitKind::Create, UnitKind::Populate) => true,
            (UnitKind::Stream, UnitKind::Stream) => {
                let defines = |x: usize| !self.defs[x].is_empty();
                match (defines(i), defines(j)) {
                    (true, true) => mentions_defs(j, i) || mentions_defs(i, j),
                    (true, false) => mentions_defs(j, i) || mentions_reach(i, j),
                    (false, true) => mentions_defs(i, j) || mentions_reach(j, i),
                    (false, false) => overlap(i, j),
                }
            }
            // A manifest puts creates first and never mixes layouts.
            _ => false,
        }
    }
}

/// A word that names the catalog: a relation of `pg_catalog` or
/// `information_schema` that lists objects, or a function that describes one.
pub fn catalog_word(w: &str) -> bool {
    const CATALOG: &[&str] = &[
        "information_schema",
        "pg_class",
        "pg_tables",
        "pg_proc",
        "pg_attribute",
        "pg_attrdef",
        "pg_index",
        "pg_indexes",
        "pg_namespace",
        "pg_depend",
        "pg_constraint",
        "pg_trigger",
        "pg_policy",
        "pg_policies",
        "pg_views",
        "pg_matviews",
        "pg_sequence",
        "pg_sequences",
        "pg_description",
        "pg_type",
        "pg_default_acl",
        "pg_init_privs",
        "pg_rewrite",
        "pg_rules",
        "pg_inherits",
        "pg_statistic",
        "pg_stats",
        "pg_event_trigger",
        "pg_aggregate",
        "pg_operator",
    ];
    CATALOG.contains(&w) || w.starts_with("pg_stat") || w.starts_with("pg_get_")
}

/// Whether a text (`sql`, whose lowercased `words` are given) reads the catalog in a
/// way its names do not show: it names the catalog ([`catalog_word`]), and it loops,
/// runs a dynamic statement, or holds no relation `is_relation` knows (lowercased)
/// as a whole string literal (`relname = 't'`). One that only looks up a relation it
/// names is ordered through that name like any other mention. (A heuristic: a
/// straight block that filters on one name in one place and acts on everything in
/// another would be taken for a lookup.)
pub fn reads_catalog_broadly<'w>(
    sql: &str,
    words: impl IntoIterator<Item = &'w str>,
    is_relation: impl Fn(&str) -> bool,
) -> bool {
    let (mut names_catalog, mut dynamic) = (false, false);
    for w in words {
        names_catalog |= catalog_word(w);
        dynamic |= matches!(w, "loop" | "execute");
    }
    if !names_catalog {
        return false;
    }
    if dynamic {
        return true;
    }
    let pieces: Vec<&str> = sql.split('\'').collect();
    let narrowed = pieces.len() > 2
        && pieces[1..pieces.len() - 1]
            .iter()
            .any(|p| is_relation(&p.to_lowercase()));
    !narrowed
}

/// Every identifier-like word of the text, as written and lowercased.
pub fn words(sql: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for w in sql.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')) {
        if w.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        {
            out.insert(w.to_lowercase());
            out.insert(w.to_string());
        }
    }
    out
}

/// Names a script's statements make: `CREATE <kind> name`, `SELECT ... INTO name`
/// (a new table), `ALTER <kind> old RENAME TO name`. With `state_only`, only the
/// relations that hold state a later unit can see: tables and sequences (two tables
/// drawing ids from one sequence must keep their order, or the ids interleave).
pub fn defined_names(sql: &str, state_only: bool) -> HashSet<String> {
    let toks: Vec<Tok> = lex_spans(sql).into_iter().map(|(t, _, _)| t).collect();
    let mut out = HashSet::new();
    for st in toks.split(|t| *t == Tok::Semi) {
        let word = |i: usize| match st.get(i) {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        };
        let defined = match word(0) {
            Some("create") => created(st),
            Some("select") => selected_into(st),
            Some("alter") => renamed(st),
            _ => None,
        };
        if let Some((kind, name)) = defined
            && (!state_only || STATEFUL.contains(&kind))
        {
            out.insert(name);
        }
    }
    out
}

const STATEFUL: &[&str] = &["table", "sequence"];

const KINDS: &[&str] = &[
    "table",
    "view",
    "function",
    "procedure",
    "type",
    "domain",
    "sequence",
    "index",
    "aggregate",
    "schema",
];

fn word_at(st: &[Tok], i: usize) -> Option<&str> {
    match st.get(i) {
        Some(Tok::Word(w)) => Some(w.as_str()),
        _ => None,
    }
}

/// The last part of the possibly qualified name starting at `i`.
fn name_at(st: &[Tok], mut i: usize) -> Option<String> {
    let mut name = None;
    while let Some(Tok::Word(w) | Tok::Quoted(w)) = st.get(i) {
        name = Some(w.clone());
        if st.get(i + 1) == Some(&Tok::Punct('.')) {
            i += 2;
        } else {
            break;
        }
    }
    name
}

/// `CREATE [modifiers] <kind> [IF NOT EXISTS | CONCURRENTLY] name`.
fn created(st: &[Tok]) -> Option<(&'static str, String)> {
    const MODIFIERS: &[&str] = &[
        "or",
        "replace",
        "unique",
        "temporary",
        "temp",
        "unlogged",
        "global",
        "local",
        "recursive",
        "materialized",
    ];
    let mut i = 1;
    while word_at(st, i).is_some_and(|w| MODIFIERS.contains(&w)) {
        i += 1;
    }
    let kind = KINDS.iter().find(|k| word_at(st, i) == Some(**k))?;
    i += 1;
    while word_at(st, i).is_some_and(|w| ["if", "not", "exists", "concurrently"].contains(&w)) {
        i += 1;
    }
    Some((kind, name_at(st, i)?))
}

/// `SELECT ... INTO [TEMP | UNLOGGED] [TABLE] name ...`, which creates a table.
fn selected_into(st: &[Tok]) -> Option<(&'static str, String)> {
    let mut i = (1..st.len()).find(|&i| word_at(st, i) == Some("into"))? + 1;
    while word_at(st, i).is_some_and(|w| ["temporary", "temp", "unlogged", "table"].contains(&w)) {
        i += 1;
    }
    Some(("table", name_at(st, i)?))
}

/// `ALTER <kind> [IF EXISTS] old RENAME TO name`: a relation under a new name (a
/// column's or a constraint's rename, `RENAME x TO y`, defines nothing).
fn renamed(st: &[Tok]) -> Option<(&'static str, String)> {
    let kind = KINDS.iter().find(|k| word_at(st, 1) == Some(**k))?;
    let at = (2..st.len()).find(|&i| word_at(st, i) == Some("rename"))?;
    (word_at(st, at + 1) == Some("to")).then_some(())?;
    Some((kind, name_at(st, at + 2)?))
}

#[cfg(test)]
mod tests {
    use super::{Analysis, UnitKind, defined_names};

    #[test]
    fn a_unit_reading_the_catalog_broadly_is_a_barrier_and_a_lookup_is_not() {
        let mut a = Analysis::default();
        assert!(
            a.add("create table t1 (id int);", UnitKind::Stream)
                .is_empty()
        );
        assert!(
            a.add("create table t2 (id int);", UnitKind::Stream)
                .is_empty()
        );
        // A lookup of the relation it names waits for that relation only.
        let lookup = "do $$ begin if not exists (select 1 from pg_class where relname = 't1' \
                      and relrowsecurity) then alter table t1 enable row level security; \
                      end if; end $$;";
        assert_eq!(a.add(lookup, UnitKind::Stream), [0]);
        // A loop over the catalog waits for everything before it ...
        let sweep = "do $$ declare r record; begin for r in select tablename from pg_tables \
                     where schemaname = 'public' loop execute format('grant select on %I to \
                     public', r.tablename); end loop; end $$;";
        assert_eq!(a.add(sweep, UnitKind::Stream), [0, 1, 2]);
        // ... and everything after it waits for it, even what shares no name.
        assert_eq!(a.add("create table t3 (id int);", UnitKind::Stream), [3]);
        // A function whose body reads the catalog, and whoever calls it, likewise.
        let f = "create function sweep_all() returns void language plpgsql as $$ begin \
                 perform count(*) from pg_class; end $$;";
        assert_eq!(a.add(f, UnitKind::Stream), [0, 1, 2, 3, 4]);
        assert_eq!(a.add("create table t4 (id int);", UnitKind::Stream), [3, 5]);
        assert_eq!(
            a.add("select sweep_all();", UnitKind::Stream),
            [0, 1, 2, 3, 4, 5, 6]
        );
    }

    fn sorted(sql: &str, state_only: bool) -> Vec<String> {
        let mut v: Vec<String> = defined_names(sql, state_only).into_iter().collect();
        v.sort();
        v
    }

    #[test]
    fn definitions_by_create_select_into_and_rename() {
        let sql = "create sequence ids; create table a (id int default nextval('ids'));\n\
                   create or replace function f() returns int language sql as $$ select 1 into x $$;\n\
                   select * into temp table b from a; alter table b rename to c;\n\
                   alter table c rename id to ident; insert into a select * from c;";
        assert_eq!(sorted(sql, false), ["a", "b", "c", "f", "ids"]);
        assert_eq!(sorted(sql, true), ["a", "b", "c", "ids"]);
    }
}
