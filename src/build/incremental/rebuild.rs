//! A table whose `CREATE TABLE` changed (a column added, removed or changed, a
//! constraint changed): dropped and made again from every statement of the tree
//! that names it, in stream order (its `CREATE TABLE`, indexes, triggers, policies,
//! comments, grants, `ALTER TABLE`s, the statements filling it, a `DO` block enabling
//! row-level security ...). What the full build makes of it is what those statements
//! make of an empty table, provided nothing else saw it in between:
//!
//! - every statement naming it comes after its definition, and none is a view, a
//!   `\gset`, or about another of the tree's tables or sequences too (another table's
//!   foreign key, a grant on two tables, a sequence of its own definition that may
//!   be shared), or reaches one through the functions it names (a filling statement,
//!   a trigger, a default, a policy reading another table would read it at another
//!   moment), or calls a function the tree defines twice;
//! - nothing else that runs code names it or anything that can reach it (a
//!   function naming it, a table whose trigger does), nor an object it owns that is
//!   named without it (an index, its `<t>_..` sequences and constraints);
//! - after its definition, nothing acts on every object of a schema or reads the
//!   catalog (see `rules.rs`).
//!
//! The drop is a plain `DROP TABLE` (RESTRICT): a view, a foreign key or a function
//! signature depending on it makes the apply fail, and the full build runs instead.
//! The sequences its identity or serial columns own go with it and come back fresh,
//! as in the full build; ownership and the registry's grants are the build's end's.

use crate::build::incremental::facts::{Facts, base_name, function_name, head, runs_code};
use crate::build::incremental::outline::Kind;
use crate::build::incremental::rules::Action;
use crate::tree::analysis::defined_names;
use std::collections::{HashMap, HashSet};

impl Facts<'_> {
    /// Dropping `name` (the last part of a table's name) and replaying what names
    /// it, and the statements replayed; or why not.
    pub(super) fn rebuild(
        &self,
        name: &str,
    ) -> std::result::Result<(Vec<Action>, HashSet<usize>), String> {
        let new = self.new;
        let definitions: Vec<usize> = (0..new.len())
            .filter(|&i| new[i].kind == Kind::Table && base_name(&new[i].subject) == name)
            .collect();
        let &[at] = definitions.as_slice() else {
            return Err(format!("{name}: a changed table defined more than once"));
        };
        let place = |i: usize| format!("{}:{}", new[i].path, new[i].line);
        let refuse = |what: String| Err(format!("{}: {name} changed: {what}", place(at)));
        let table = &new[at].subject;
        if table.contains('"') {
            return refuse("a quoted name".into());
        }
        // What replays: every statement naming it, but the functions (their bodies
        // are bound when they run, and stay).
        let replayed: HashSet<usize> = (0..new.len())
            .filter(|&i| new[i].kind != Kind::Function && self.names(i, name))
            .collect();
        // Its indexes are named without it; so are its sequences and constraints
        // (`<t>_id_seq`, `<t>_pkey`).
        let mut owned: HashSet<String> = replayed
            .iter()
            .filter(|&&i| matches!(new[i].kind, Kind::Index | Kind::UniqueIndex))
            .flat_map(|&i| defined_names(new[i].body.text(), false))
            .map(|n| n.to_lowercase())
            .collect();
        owned.remove(name);
        let prefix = format!("{name}_");
        if let Some(i) = (0..new.len()).find(|&i| {
            !replayed.contains(&i)
                && self
                    .words(i)
                    .iter()
                    .any(|w| owned.contains(*w) || w.starts_with(&prefix))
        }) {
            return refuse(format!("{} names what it owns without it", place(i)));
        }
        let relations = self.tables_and_sequences();
        let functions = self.functions();
        let mut definitions_of: HashMap<String, usize> = HashMap::new();
        for &i in &self.definitions {
            if new[i].kind == Kind::Function {
                *definitions_of
                    .entry(function_name(&new[i].subject))
                    .or_default() += 1;
            }
        }
        let mut order: Vec<usize> = replayed.iter().copied().collect();
        order.sort_unstable();
        for &i in &order {
            let s = &new[i];
            if i < at {
                return refuse(format!("{} names it before its definition", place(i)));
            }
            if s.gset.is_some() {
                return refuse(format!("a \\gset reads it ({})", place(i)));
            }
            if head(s, 4).contains(&"view") {
                return refuse(format!("a view names it ({})", place(i)));
            }
            if head(s, 1) == ["create"] && head(s, 4).contains(&"rule") {
                return refuse(format!("a rule on it ({})", place(i)));
            }
            if let Some(other) = self
                .words(i)
                .iter()
                .find(|w| relations.contains(**w) && **w != name)
            {
                return refuse(format!("{} names {other} as well", place(i)));
            }
            let called: HashSet<String> = functions
                .iter()
                .filter(|f| self.names(i, f.as_str()))
                .cloned()
                .collect();
            if let Some(f) = called.iter().find(|f| definitions_of.get(*f) > Some(&1)) {
                return refuse(format!("{} calls {f}, defined more than once", place(i)));
            }
            if let Some(other) = self
                .reach_through_functions(&called)
                .into_iter()
                .find(|w| relations.contains(w) && w != name)
            {
                return refuse(format!("{} reaches {other} as well", place(i)));
            }
            if self.reads_catalog(i) {
                return refuse(format!("{} reads the catalog", place(i)));
            }
        }
        let reach = self.reaching(&HashSet::from([name.to_string()]));
        if let Some(j) = self.first(0..new.len(), &replayed, |j| {
            runs_code(&new[j]) && self.names_any(j, &reach)
        }) {
            return refuse(format!("{j} runs code that can reach it"));
        }
        if let Some(why) = self.acts_on_everything_from(at + 1, &replayed, true) {
            return refuse(why);
        }
        let mut actions = vec![Action::Drop {
            sql: format!("DROP TABLE {table}"),
            at,
        }];
        actions.extend(order.iter().map(|&i| Action::Run(i)));
        Ok((actions, replayed))
    }
}
