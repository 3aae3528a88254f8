//! What the text of a script says about the order it must keep: the names it
//! mentions, the names it defines, and the tables it can reach through them. Both
//! parallel builders order their units with [`Analysis`]; it is conservative (a
//! mention inside a comment or a string counts), which only costs parallelism.
//!
//! What the text cannot show is not covered: a dependency hidden in dynamic SQL
//! built from pieces, a setting made inside a function.

use crate::tree::lint::lexer::{Tok, lex_spans, lex_spans_keeping, statement_spans};
use rustc_hash::FxHashMap;
use std::collections::HashSet;

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

/// The text facts of the units so far, indexed by word, for the dependencies of the
/// next one.
///
/// Words are interned once per unit and every relation the rules ask about ("does
/// unit `i` mention a name unit `j` defines") is answered from an index of which units
/// define, mention and reach each word, so adding a unit costs what its own words
/// and the units they lead to cost, not a comparison with every earlier unit (a
/// tree of 800 files spent 0.4 s of its expander's thread on those comparisons).
/// The dependencies are exactly those of the rules below, pair by pair;
/// `tests/it/analysis.rs` holds it to the pairwise reading of them.
#[derive(Default)]
pub struct Analysis {
    vocabulary: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    /// Per word: the units that define it, whose text holds it, and whose reach
    /// holds it (a table); whether it is a table or sequence; whether using it may
    /// read the catalog (see [`CatalogReads::stored`]); whether it names the catalog
    /// ([`catalog_word`]).
    definers: Vec<Vec<u32>>,
    mentioners: Vec<Vec<u32>>,
    reachers: Vec<Vec<u32>>,
    table: Vec<bool>,
    catalog_name: Vec<bool>,
    catalog_word: Vec<bool>,
    /// Scratch marks, one generation per use, so nothing is cleared between units.
    word_mark: Vec<u32>,
    unit_mark: Vec<u32>,
    generation: u32,
    units: Vec<UnitFacts>,
    /// Units that read the catalog more broadly than their names show
    /// ([`reads_catalog_broadly`]), or call what such a unit defines.
    barriers: Vec<u32>,
    creates: Vec<u32>,
}

struct UnitFacts {
    kind: UnitKind,
    defines: bool,
    words: Vec<u32>,
}

impl Analysis {
    /// Adds a unit of `sql`; returns the earlier units it must wait for, in order.
    ///
    /// - Two create scripts, or two stream units that both define names, keep their
    ///   order when either mentions a name the other defines.
    /// - A stream unit that defines nothing (it fills, alters, grants or adds
    ///   triggers and policies) keeps its order with one that does when it mentions
    ///   what that one defines, or that one mentions a table it reaches.
    /// - Two units that define nothing (populate scripts, or such stream units) keep
    ///   their order when the tables they reach overlap.
    /// - A unit that reads the catalog beyond the names it holds (a loop over
    ///   `pg_tables` granting on each), or calls what does, keeps its order with every
    ///   other: what it finds depends on every unit before it, and no unit after it
    ///   may be found. What it defines reads the catalog whenever it is used only when
    ///   the read is in a statement that defines ([`CatalogReads`]).
    ///
    /// A unit's reach is fixed when it is added: the tables it names, and through the
    /// definitions of whatever it names, those they name, as the units so far define
    /// them.
    pub fn add(&mut self, sql: &str, kind: UnitKind) -> Vec<usize> {
        let j = self.units.len() as u32;
        // A populate script may define a table too (`SELECT ... INTO`): what it makes
        // is state later scripts reach, though populate scripts order by reach alone.
        let mut defs = Vec::new();
        for (what, name) in definitions(sql) {
            let id = self.intern(&name);
            if STATEFUL.contains(&what) {
                self.table[id as usize] = true;
            }
            if !defs.contains(&id) {
                defs.push(id);
                self.definers[id as usize].push(j);
            }
        }
        let words = self.words_of(sql);
        let reads = if words
            .iter()
            .any(|&w| self.catalog_name[w as usize] || self.catalog_word[w as usize])
        {
            let known = |w: &str, flag: &[bool]| {
                self.vocabulary.get(w).is_some_and(|&id| flag[id as usize])
            };
            catalog_reads(
                sql,
                |w| known(w, &self.catalog_name),
                |r| known(r, &self.table),
            )
        } else {
            CatalogReads::default()
        };
        let barrier = reads.now;
        if reads.stored {
            for &d in &defs {
                self.catalog_name[d as usize] = true;
            }
        }
        let reach = match kind {
            UnitKind::Create => Vec::new(),
            UnitKind::Populate | UnitKind::Stream => self.reach_of(j, &words),
        };
        let defines = !defs.is_empty();
        let deps = if barrier {
            (0..j as usize).collect()
        } else {
            self.ordered_before(j, kind, (&words, &defs, &reach))
        };
        for &w in &words {
            self.mentioners[w as usize].push(j);
        }
        for &t in &reach {
            self.reachers[t as usize].push(j);
        }
        if barrier {
            self.barriers.push(j);
        }
        if kind == UnitKind::Create {
            self.creates.push(j);
        }
        self.units.push(UnitFacts {
            kind,
            defines,
            words,
        });
        deps
    }

    /// The earlier units unit `j` (not a barrier) keeps its order with, by the rules
    /// of [`Analysis::add`] read from the word indexes: `A` defines a word `j`
    /// mentions; `B` mentions a name `j` defines; `C` mentions a table `j` reaches;
    /// `D` reaches a table `j` mentions; `E` reaches a table `j` reaches.
    fn ordered_before(
        &mut self,
        j: u32,
        kind: UnitKind,
        (words, defs, reach): (&[u32], &[u32], &[u32]),
    ) -> Vec<usize> {
        let mark = self.next_generation();
        let mut out: Vec<u32> = Vec::new();
        let mut take = |i: u32, marks: &mut Vec<u32>| {
            if i != j && marks[i as usize] != mark {
                marks[i as usize] = mark;
                out.push(i);
            }
        };
        let mut marks = std::mem::take(&mut self.unit_mark);
        marks.resize(j as usize + 1, 0);
        for &i in &self.barriers {
            take(i, &mut marks);
        }
        let units = &self.units;
        let kind_of = |i: u32| units.get(i as usize).map(|u| u.kind);
        let defines = |i: u32| units.get(i as usize).is_some_and(|u| u.defines);
        let each = |index: &[Vec<u32>], keys: &[u32], f: &mut dyn FnMut(u32)| {
            for &k in keys {
                for &i in &index[k as usize] {
                    f(i);
                }
            }
        };
        match kind {
            UnitKind::Create => {
                let mut f = |i: u32| {
                    if kind_of(i) == Some(UnitKind::Create) {
                        take(i, &mut marks);
                    }
                };
                each(&self.definers, words, &mut f); // A
                each(&self.mentioners, defs, &mut f); // B
            }
            UnitKind::Populate => {
                for &i in &self.creates {
                    take(i, &mut marks);
                }
                each(&self.reachers, reach, &mut |i| {
                    if kind_of(i) == Some(UnitKind::Populate) {
                        take(i, &mut marks); // E
                    }
                });
            }
            UnitKind::Stream => {
                let stream = |i: u32| kind_of(i) == Some(UnitKind::Stream);
                each(&self.definers, words, &mut |i| {
                    if stream(i) {
                        take(i, &mut marks); // A: `i` defines
                    }
                });
                if defs.is_empty() {
                    each(&self.mentioners, reach, &mut |i| {
                        if stream(i) && defines(i) {
                            take(i, &mut marks); // C
                        }
                    });
                    each(&self.reachers, reach, &mut |i| {
                        if stream(i) && !defines(i) {
                            take(i, &mut marks); // E
                        }
                    });
                } else {
                    each(&self.mentioners, defs, &mut |i| {
                        if stream(i) {
                            take(i, &mut marks); // B
                        }
                    });
                    each(&self.reachers, words, &mut |i| {
                        if stream(i) && !defines(i) {
                            take(i, &mut marks); // D
                        }
                    });
                }
            }
        }
        self.unit_mark = marks;
        out.sort_unstable();
        out.into_iter().map(|i| i as usize).collect()
    }

    /// The tables unit `j` (of `words`) can touch: those it names, and through the
    /// definitions of whatever it names, those they name. Only a word some unit
    /// defines can lead further or be a table.
    fn reach_of(&mut self, j: u32, words: &[u32]) -> Vec<u32> {
        let seen_word = self.next_generation();
        let mut word_mark = std::mem::take(&mut self.word_mark);
        let mut unit_mark = std::mem::take(&mut self.unit_mark);
        unit_mark.resize(j as usize + 1, 0);
        let mut names: Vec<u32> = Vec::new();
        for &w in words {
            word_mark[w as usize] = seen_word;
            if !self.definers[w as usize].is_empty() {
                names.push(w);
            }
        }
        // `j`'s own words are the start.
        unit_mark[j as usize] = seen_word;
        let mut next = 0;
        while next < names.len() {
            let name = names[next];
            next += 1;
            for &c in &self.definers[name as usize] {
                if unit_mark[c as usize] == seen_word {
                    continue;
                }
                unit_mark[c as usize] = seen_word;
                for &w in &self.units[c as usize].words {
                    if word_mark[w as usize] != seen_word {
                        word_mark[w as usize] = seen_word;
                        if !self.definers[w as usize].is_empty() {
                            names.push(w);
                        }
                    }
                }
            }
        }
        self.word_mark = word_mark;
        self.unit_mark = unit_mark;
        names.retain(|&n| self.table[n as usize]);
        names.sort_unstable();
        names
    }

    /// The ids of every identifier-like word of `sql` ([`words`]), once each.
    fn words_of(&mut self, sql: &str) -> Vec<u32> {
        let mark = self.next_generation();
        let mut out = Vec::new();
        each_word(sql, |w| {
            let lower;
            let folded = if w.bytes().any(|b| b.is_ascii_uppercase()) || !w.is_ascii() {
                lower = w.to_lowercase();
                Some(lower.as_str())
            } else {
                None
            };
            for w in std::iter::once(w).chain(folded) {
                let id = self.intern(w);
                if self.word_mark[id as usize] != mark {
                    self.word_mark[id as usize] = mark;
                    out.push(id);
                }
            }
        });
        out
    }

    fn intern(&mut self, word: &str) -> u32 {
        if let Some(&id) = self.vocabulary.get(word) {
            return id;
        }
        let id = self.names.len() as u32;
        self.vocabulary.insert(word.into(), id);
        self.names.push(word.into());
        self.definers.push(Vec::new());
        self.mentioners.push(Vec::new());
        self.reachers.push(Vec::new());
        self.table.push(false);
        self.catalog_name.push(false);
        self.catalog_word.push(catalog_word(word));
        self.word_mark.push(0);
        id
    }

    fn next_generation(&mut self) -> u32 {
        self.generation += 1;
        self.generation
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

/// Where a unit's statements read the catalog beyond the names they hold.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CatalogReads {
    /// Some statement reads it broadly ([`reads_catalog_broadly`]) or names what
    /// reads it when used: the unit keeps its order with every other.
    pub now: bool,
    /// One of those statements defines something (it starts with `CREATE` or
    /// `ALTER`: a function, a view, a trigger or a default calling a reader): what
    /// the unit defines may read the catalog again whenever it is used, so a unit
    /// that names it keeps its order with every other too. A read in a `DO` block
    /// or a query happens once, while the unit runs, and leaves nothing that reads
    /// again.
    pub stored: bool,
}

/// [`CatalogReads`] of a unit of `sql`, statement by statement: a loop or an
/// `EXECUTE` makes a read broad, and a literal naming a relation narrows one, only
/// in the statement that holds it. `is_reader` says whether a word names what reads
/// the catalog when used, `is_relation` whether one names a known relation.
pub fn catalog_reads(
    sql: &str,
    is_reader: impl Fn(&str) -> bool,
    is_relation: impl Fn(&str) -> bool,
) -> CatalogReads {
    let mut out = CatalogReads::default();
    for span in statement_spans(sql) {
        let text = &sql[span.range];
        // Most statements name neither: a seed file's insert is megabytes of words,
        // whose set is not worth building to find that out.
        if !names_catalog_or_reader(text, &is_reader) {
            continue;
        }
        let words = words(text);
        let reads = words.iter().any(|w| is_reader(w))
            || reads_catalog_broadly(text, words.iter().map(String::as_str), &is_relation);
        if !reads {
            continue;
        }
        out.now = true;
        let first = text.split(|c: char| !c.is_alphanumeric()).next();
        if first
            .is_some_and(|w| w.eq_ignore_ascii_case("create") || w.eq_ignore_ascii_case("alter"))
        {
            out.stored = true;
            break;
        }
    }
    out
}

/// Whether a word of `text`, as written or lowercased (as [`words`] has them), names
/// the catalog ([`catalog_word`]) or is one `is_reader` knows; a scan that makes no
/// word but those that need lowercasing.
fn names_catalog_or_reader(text: &str, is_reader: &impl Fn(&str) -> bool) -> bool {
    let mut found = false;
    each_word(text, |w| {
        if found {
            return;
        }
        found = if w.bytes().any(|b| b.is_ascii_uppercase()) || !w.is_ascii() {
            let lower = w.to_lowercase();
            is_reader(w) || is_reader(&lower) || catalog_word(&lower)
        } else {
            is_reader(w) || catalog_word(w)
        };
    });
    found
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
    each_word(sql, |w| {
        out.insert(w.to_lowercase());
        out.insert(w.to_string());
    });
    out
}

/// Each identifier-like word of the text, as written: a run of letters, digits, `_`
/// and `$` that starts with a letter or `_` (letters and digits as Unicode has them).
/// The scan is over bytes, decoding only where a byte is not ASCII.
fn each_word(sql: &str, mut f: impl FnMut(&str)) {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let (word_char, len) = char_at(sql, i);
        if !word_char {
            i += len;
            continue;
        }
        let start = i;
        i += len;
        loop {
            match b.get(i) {
                Some(c) if c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$' => i += 1,
                Some(c) if *c >= 0x80 => {
                    let (word_char, len) = char_at(sql, i);
                    if !word_char {
                        break;
                    }
                    i += len;
                }
                _ => break,
            }
        }
        let word = &sql[start..i];
        if word
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        {
            f(word);
        }
    }
}

/// Whether the character at byte `i` belongs in a word, and its length in bytes.
fn char_at(sql: &str, i: usize) -> (bool, usize) {
    let c = sql.as_bytes()[i];
    if c < 0x80 {
        return (c.is_ascii_alphanumeric() || c == b'_' || c == b'$', 1);
    }
    let ch = sql[i..].chars().next().expect("a char boundary");
    (ch.is_alphanumeric(), ch.len_utf8())
}

/// Names a script's statements make: `CREATE <kind> name`, `SELECT ... INTO name`
/// (a new table), `ALTER <kind> old RENAME TO name`. With `state_only`, only the
/// relations that hold state a later unit can see: tables and sequences (two tables
/// drawing ids from one sequence must keep their order, or the ids interleave).
pub fn defined_names(sql: &str, state_only: bool) -> HashSet<String> {
    definitions(sql)
        .into_iter()
        .filter(|(kind, _)| !state_only || STATEFUL.contains(kind))
        .map(|(_, name)| name)
        .collect()
}

/// Each name a script's statements make, with its kind (`table`, `function`, ...).
/// Only a statement that starts with `CREATE`, `SELECT` or `ALTER` can make one, and
/// only those are lexed word by word: a tree's megabytes of inserts cost a scan.
fn definitions(sql: &str) -> Vec<(&'static str, String)> {
    let heads = lex_spans_keeping(sql, |w| matches!(w, "create" | "select" | "alter"));
    let mut out = Vec::new();
    let mut from = 0;
    while from < heads.len() {
        let to = (from..heads.len())
            .find(|&k| heads[k].0 == Tok::Semi)
            .unwrap_or(heads.len());
        if matches!(&heads[from].0, Tok::Word(w) if !w.is_empty()) {
            let end = heads.get(to).map_or(sql.len(), |(_, _, at)| *at);
            let toks: Vec<Tok> = lex_spans(&sql[heads[from].2..end])
                .into_iter()
                .map(|(t, _, _)| t)
                .collect();
            let defined = match word_at(&toks, 0) {
                Some("create") => created(&toks),
                Some("select") => selected_into(&toks),
                Some("alter") => renamed(&toks),
                _ => None,
            };
            out.extend(defined);
        }
        from = to + 1;
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

    #[test]
    fn a_read_while_the_unit_runs_leaves_nothing_that_reads_again() {
        let mut a = Analysis::default();
        // Row-level security turned on through EXECUTE, then checked by a lookup of
        // the unit's own table: neither statement reads the catalog broadly.
        let secured = "create table t1 (id int); do $$ begin execute format('alter table %I \
                       enable row level security', 't1'); end $$; do $$ begin if not exists \
                       (select 1 from pg_class where relname = 't1' and relrowsecurity) then \
                       raise 'no'; end if; end $$;";
        assert!(a.add(secured, UnitKind::Stream).is_empty());
        assert!(
            a.add("create table t2 (id int);", UnitKind::Stream)
                .is_empty()
        );
        // A sweep in a DO block waits for everything, but the table made beside it is
        // only a table: filling it later waits for its maker, not for everything.
        let sweep = "create table t3 (id int); do $$ declare r record; begin for r in \
                     select tablename from pg_tables loop execute format('grant select on \
                     %I to public', r.tablename); end loop; end $$;";
        assert_eq!(a.add(sweep, UnitKind::Stream), [0, 1]);
        assert_eq!(a.add("insert into t3 values (1);", UnitKind::Stream), [2]);
        assert_eq!(
            a.add("insert into t2 values (1);", UnitKind::Stream),
            [1, 2]
        );
        // A view over the catalog reads it whenever it is used.
        let view = "create view all_tables as select relname from pg_class;";
        assert_eq!(a.add(view, UnitKind::Stream), [0, 1, 2, 3, 4]);
        assert_eq!(a.add("create table t5 (id int);", UnitKind::Stream), [2, 5]);
        assert_eq!(
            a.add("select count(*) from all_tables;", UnitKind::Stream),
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
