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
    /// The tables a unit can touch; computed only for the kinds whose rule reads it.
    reach: Vec<HashSet<String>>,
    tables: HashSet<String>,
    definers: HashMap<String, Vec<usize>>,
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
    pub fn add(&mut self, sql: &str, kind: UnitKind) -> Vec<usize> {
        let j = self.words.len();
        let defs_j = match kind {
            UnitKind::Populate => HashSet::new(),
            UnitKind::Create | UnitKind::Stream => defined_names(sql, false),
        };
        if kind != UnitKind::Populate {
            self.tables.extend(defined_names(sql, true));
        }
        for d in &defs_j {
            self.definers.entry(d.clone()).or_default().push(j);
        }
        self.kinds.push(kind);
        self.words.push(words(sql));
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

/// Names a script's `CREATE` statements make (tables only, if `tables_only`).
pub fn defined_names(sql: &str, tables_only: bool) -> HashSet<String> {
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
    let toks: Vec<Tok> = lex_spans(sql).into_iter().map(|(t, _, _)| t).collect();
    let mut out = HashSet::new();
    for st in toks.split(|t| *t == Tok::Semi) {
        let word = |i: usize| match st.get(i) {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        };
        if word(0) != Some("create") {
            continue;
        }
        let mut i = 1;
        while word(i).is_some_and(|w| MODIFIERS.contains(&w)) {
            i += 1;
        }
        let Some(kind) = word(i).filter(|w| KINDS.contains(w)) else {
            continue;
        };
        if tables_only && kind != "table" {
            continue;
        }
        i += 1;
        while word(i).is_some_and(|w| ["if", "not", "exists", "concurrently"].contains(&w)) {
            i += 1;
        }
        // The last part of a possibly qualified name.
        let mut name = None;
        while let Some(Tok::Word(w) | Tok::Quoted(w)) = st.get(i) {
            name = Some(w.clone());
            if st.get(i + 1) == Some(&Tok::Punct('.')) {
                i += 2;
            } else {
                break;
            }
        }
        if let Some(n) = name {
            out.insert(n);
        }
    }
    out
}
