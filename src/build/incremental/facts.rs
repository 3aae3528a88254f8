//! What the tree's stream of statements says, for the rules in `rules.rs` and
//! `rebuild.rs`: which statement names what, runs code, or can reach a name through
//! the functions, views and triggers the tree defines. Names are whole words of the
//! lowercased text, so a mention in a comment or a string counts (conservative).

use crate::build::incremental::outline::{Body, Kind, Statement};
use crate::tree::analysis::{catalog_word, defined_names, reads_catalog_broadly};
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// The last part of a possibly qualified name, unquoted and lowercased, as the
/// lowercased text would show it.
pub(super) fn base_name(name: &str) -> String {
    name.rsplit('.')
        .next()
        .unwrap_or(name)
        .trim_matches('"')
        .to_lowercase()
}

/// The name of a function from its subject (`function app.f( a int )`).
pub(super) fn function_name(subject: &str) -> String {
    let qualified = subject.split(' ').nth(1).unwrap_or_default();
    base_name(qualified.split('(').next().unwrap_or_default())
}

/// The first words of a statement.
pub(super) fn head(s: &Statement, n: usize) -> Vec<&str> {
    s.lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .take(n)
        .collect()
}

/// Whether running the statement can run code or read rows: anything but a
/// definition, a comment, a grant or a setting.
pub(super) fn runs_code(s: &Statement) -> bool {
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
pub(super) fn table_of(s: &Statement) -> Option<String> {
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
pub(super) struct Facts<'a> {
    pub(super) new: &'a [Statement],
    /// The words of each statement (lowercased), computed once, in one pass: the
    /// rules ask about many names, and the large inserts hold megabytes.
    pub(super) words: Vec<HashSet<&'a str>>,
    /// Statements that define or attach something (`CREATE`, `ALTER`).
    pub(super) definitions: Vec<usize>,
    /// The tables and sequences the tree defines, computed once (it lexes every
    /// definition).
    relations: OnceLock<HashSet<String>>,
    /// Each function's name and the definitions of it, computed once.
    function_definitions: OnceLock<HashMap<String, Vec<usize>>>,
    /// The functions whose bodies read the catalog, directly or through another.
    catalog_functions: OnceLock<HashSet<String>>,
}

/// The words of a lowercased text.
///
/// Without `numbers`, words made of digits are left out: the large inserts are
/// mostly numbers, and only a quoted name can be one.
fn word_set(text: &str, numbers: bool) -> HashSet<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty() && (numbers || !all_digits(w)))
        .collect()
}

fn all_digits(w: &str) -> bool {
    w.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `text` holds a quoted name made of digits (`"2024"`), or something that
/// reads like one: then the word sets keep numbers.
fn quotes_a_number(text: &str) -> bool {
    // Every piece between two quotes counts: a quote inside a literal would shift
    // which pieces are names.
    let pieces: Vec<&str> = text.split('"').collect();
    pieces.len() > 2
        && pieces[1..pieces.len() - 1]
            .iter()
            .any(|inner| !inner.is_empty() && all_digits(inner))
}

impl<'a> Facts<'a> {
    pub(super) fn new(new: &'a [Statement]) -> Facts<'a> {
        let definitions = new
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(head(s, 1).first().copied(), Some("create" | "alter")))
            .map(|(i, _)| i)
            .collect();
        let numbers = new.iter().any(|s| quotes_a_number(&s.lower));
        // Each set depends on its own statement only, and the large inserts hold
        // megabytes.
        let words = crate::runtime::map_on_cores(
            new.iter().collect(),
            |s| s.lower.len(),
            |s| word_set(&s.lower, numbers),
        );
        Facts {
            new,
            words,
            definitions,
            relations: OnceLock::new(),
            function_definitions: OnceLock::new(),
            catalog_functions: OnceLock::new(),
        }
    }

    /// Every name from which `seeds` can be reached: functions and views naming one,
    /// tables whose definition, trigger, policy or index names one, to a fixpoint.
    pub(super) fn reaching(&self, seeds: &HashSet<String>) -> HashSet<String> {
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
    pub(super) fn words(&self, i: usize) -> &HashSet<&'a str> {
        &self.words[i]
    }

    /// Whether statement `i` names one of `names`.
    pub(super) fn names_any(&self, i: usize, names: &HashSet<String>) -> bool {
        let words = self.words(i);
        names.iter().any(|n| words.contains(n.as_str()))
    }

    /// Whether statement `i` names `name`.
    pub(super) fn names(&self, i: usize, name: &str) -> bool {
        self.words(i).contains(name)
    }

    /// The first statement outside `own` after `from` that runs code and names one of
    /// `names`, as `path:line`.
    pub(super) fn used_after(
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
    pub(super) fn first(
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

    /// An `ALTER TABLE t ..` of the table itself (a constraint checks the rows it
    /// has, the same either way).
    pub(super) fn only_alters(&self, s: &Statement, name: &str) -> bool {
        head(s, 2) == ["alter", "table"] && table_of(s).as_deref() == Some(name)
    }

    /// Every function and procedure the tree defines.
    pub(super) fn functions(&self) -> HashSet<String> {
        self.function_definitions().keys().cloned().collect()
    }

    /// Each function the tree defines, by name, and the statements defining it.
    fn function_definitions(&self) -> &HashMap<String, Vec<usize>> {
        self.function_definitions.get_or_init(|| {
            let mut out: HashMap<String, Vec<usize>> = HashMap::new();
            for &i in &self.definitions {
                if self.new[i].kind == Kind::Function {
                    out.entry(function_name(&self.new[i].subject))
                        .or_default()
                        .push(i);
                }
            }
            out
        })
    }

    /// Every table and sequence the tree defines.
    pub(super) fn tables_and_sequences(&self) -> &HashSet<String> {
        self.relations.get_or_init(|| {
            self.definitions
                .iter()
                .flat_map(|&i| defined_names(self.new[i].body.text(), true))
                .map(|n| n.to_lowercase())
                .collect()
        })
    }

    /// The names the bodies of `functions` mention, through the functions they name.
    pub(super) fn reach_through_functions(&self, functions: &HashSet<String>) -> HashSet<String> {
        let mut seen = functions.clone();
        let mut queue: Vec<String> = functions.iter().cloned().collect();
        let mut out = HashSet::new();
        let all = self.function_definitions();
        while let Some(f) = queue.pop() {
            for &i in all.get(&f).into_iter().flatten() {
                for &w in self.words(i) {
                    out.insert(w.to_string());
                    if all.contains_key(w) && seen.insert(w.to_string()) {
                        queue.push(w.to_string());
                    }
                }
            }
        }
        out
    }

    /// The first statement outside `own` from `start` on that would treat an object
    /// made before `start` differently from one made at the end, as `path:line` and why:
    /// one that reads the catalog and runs code (it may act on what it finds), and,
    /// with `privileges`, a grant on everything in a schema or a change of default
    /// privileges (both apply to what exists, or is created, at their moment).
    pub(super) fn acts_on_everything_from(
        &self,
        start: usize,
        own: &HashSet<usize>,
        privileges: bool,
    ) -> Option<String> {
        (start..self.new.len())
            .filter(|j| !own.contains(j))
            .find_map(|j| {
                let why = if privileges && self.schema_wide(j) {
                    "acts on every object of a schema"
                } else if self.reads_catalog(j) {
                    "reads the catalog and may act on what it finds"
                } else {
                    return None;
                };
                Some(format!("{}:{} {why}", self.new[j].path, self.new[j].line))
            })
    }

    /// `GRANT|REVOKE .. ON ALL <kind> IN SCHEMA`, or `ALTER DEFAULT PRIVILEGES`.
    fn schema_wide(&self, j: usize) -> bool {
        let s = &self.new[j];
        let h = head(s, 3);
        if h == ["alter", "default", "privileges"] {
            return true;
        }
        if !matches!(h.first().copied(), Some("grant" | "revoke")) {
            return false;
        }
        let all = head(s, 40);
        all.windows(2).any(|w| {
            w[0] == "all"
                && matches!(
                    w[1],
                    "tables" | "sequences" | "functions" | "procedures" | "routines"
                )
        }) && all.windows(2).any(|w| w == ["in", "schema"])
    }

    /// Whether statement `j` runs code that reads the catalog: it calls a function
    /// whose body names the catalog, or it reads it itself more broadly than its
    /// names show (`tree::analysis::reads_catalog_broadly`, the rule the parallel
    /// builder orders such units by).
    pub(super) fn reads_catalog(&self, j: usize) -> bool {
        let s = &self.new[j];
        if !runs_code(s) {
            return false;
        }
        // A function whose body reads the catalog may do anything with what it finds.
        let readers = self.catalog_functions();
        if self.words(j).iter().any(|w| readers.contains(*w)) {
            return true;
        }
        let relations = self.tables_and_sequences();
        reads_catalog_broadly(&s.lower, self.words(j).iter().copied(), |r| {
            relations.contains(r)
        })
    }

    fn catalog_functions(&self) -> &HashSet<String> {
        self.catalog_functions.get_or_init(|| {
            let defined: Vec<(String, usize)> = self
                .definitions
                .iter()
                .filter(|&&i| self.new[i].kind == Kind::Function)
                .map(|&i| (function_name(&self.new[i].subject), i))
                .collect();
            let mut out: HashSet<String> = defined
                .iter()
                .filter(|(_, i)| self.words(*i).iter().any(|w| catalog_word(w)))
                .map(|(f, _)| f.clone())
                .collect();
            loop {
                let more: Vec<String> = defined
                    .iter()
                    .filter(|(f, i)| !out.contains(f) && self.names_any(*i, &out))
                    .map(|(f, _)| f.clone())
                    .collect();
                if more.is_empty() {
                    return out;
                }
                out.extend(more);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{quotes_a_number, word_set};

    #[test]
    fn word_sets_leave_numbers_out_unless_a_name_is_made_of_digits() {
        let insert = "insert into t_1 values (1, 'x', 2.50), (20231, \"2024\", e'\\x')";
        let words = word_set(insert, false);
        assert!(words.contains("t_1") && words.contains("x") && !words.contains("20231"));
        // A quoted name of digits anywhere in the tree keeps every number.
        assert!(quotes_a_number(insert));
        assert!(word_set(insert, true).contains("2024"));
        // A quote inside a literal does not hide one either.
        assert!(quotes_a_number("select 'say \"hi', \"77\""));
        assert!(!quotes_a_number("select \"a1\", 'b\"c', 12"));
    }
}
