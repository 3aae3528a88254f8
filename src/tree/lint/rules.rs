//! The rule table: every rule's id and what it demands, static and catalog alike.
//!
//! Listed here, beside the static rules, so `build.rs` can reject allow-list entries
//! naming no rule, and so the catalog checks (`ores_sql::validate`) name rules by a
//! typed id instead of a string that could be mistyped.

use std::fmt;

/// A rule: a short stable id and a one-line explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, e.g. `S003`.
    pub id: RuleId,
    /// What the rule demands, in one line.
    pub explanation: &'static str,
}

macro_rules! rules {
    ($( $kind:ident $id:ident => $text:expr, )*) => {
        /// The id of a rule. Prefix `S`: static (script text), `C`: catalog of a built
        /// database, `P`: plpgsql_check, `A`: the allow-list itself.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleId {
            $( #[doc = $text] $id, )*
        }

        /// Every rule, in report order.
        pub const RULES: &[(Kind, Rule)] = &[
            $( (Kind::$kind, Rule { id: RuleId::$id, explanation: $text }), )*
        ];

        impl RuleId {
            /// The id as printed, e.g. `"C008"`.
            pub const fn as_str(self) -> &'static str {
                match self { $( RuleId::$id => stringify!($id), )* }
            }
        }
    };
}

/// Where a rule is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// On the script text (by `build.rs` and on the compiled manifest).
    Static,
    /// On a built database.
    Catalog,
}

rules! {
    Static S001 => "script order is unambiguous: no two siblings share a numeric prefix",
    Static S002 => "manifest layout: `<digits>_<name>` folders and `.sql` files, UTF-8, not empty, one script per entity and phase",
    Static S003 => "no migration-style DDL: `ALTER TABLE ... ADD/DROP/ALTER COLUMN`, `ALTER TYPE ... ADD/DROP/ALTER/RENAME`, or `RENAME` of anything",
    Static S004 => "a script alters or drops only tables it creates itself (no upgrade scripts)",
    Static S005 => "every script lives in a folder named after a component of the service registry",
    Static S006 => "a script's entity key starts with its component (`NNN_<component>_<entity_plural>.sql`)",
    Static S007 => "functions, procedures and triggers are created with `CREATE OR REPLACE` (so recreate-entity can re-run them)",
    Static S008 => "no psql meta-commands (`\\i`, `\\set`, ...): no backslash outside literals, comments and dollar-quoted bodies",
    Static S009 => "no transaction control outside function bodies (`BEGIN`, `START TRANSACTION`, `COMMIT`, `ROLLBACK`, `END`, `ABORT`, `SAVEPOINT`, `RELEASE`, `PREPARE TRANSACTION`, `SET TRANSACTION`): the build is one transaction; refused on every layout, never allow-listed",
    Static A001 => "every allow-list entry reads `RULE OBJECT # reason` with a known rule id and a non-empty reason",
    Catalog C001 => "every table in `public` is named `ores_<component>_<entity_plural>_tbl` with a component of the service registry",
    Catalog C002 => "function and procedure names end in `_fn` (extension-owned functions excepted)",
    Catalog C003 => "view and materialized view names end in `_vw`",
    Catalog C004 => "trigger names end in `_trg`",
    Catalog C005 => "index names end in `_idx` (indexes backing a primary key, unique or exclusion constraint carry the constraint's name and are excepted)",
    Catalog C006 => "row-level security policy names end in `_pol`",
    Catalog C007 => "every table has a primary key",
    Catalog C008 => "a table with `tenant_id` has it as the first column of its primary key",
    Catalog C009 => "a table with `tenant_id` has it as the first column of every unique index and constraint",
    Catalog C010 => "a table with `tenant_id` has row-level security enabled",
    Catalog C011 => "a table with `tenant_id` has row-level security forced, so the owner is not silently exempt",
    Catalog C012 => "a table with `tenant_id` has at least one policy reading the current tenant (`ores_utility_current_tenant_id_fn()` or `ores.tenant_id`)",
    Catalog C013 => "no role of the environment is SUPERUSER, BYPASSRLS, CREATEDB, CREATEROLE or REPLICATION, in a group the registry does not give it, or marked for another environment",
    Catalog C014 => "a versioned table (one with `valid_from` or `valid_to`) has the full versioned column set with the documented types",
    Catalog C015 => "a versioned table has a gist exclusion constraint led by `tenant_id WITH =` forbidding overlapping `tstzrange(valid_from, valid_to)` for one key: every key column (the primary key without `valid_from`) compared `WITH =` by itself, no other column, and any expression (such as the hash of a text key) reading only key columns, so two versions of one key always conflict",
    Catalog C016 => "a versioned table has `<table stem>_insert_trg`, `BEFORE INSERT FOR EACH ROW`",
    Catalog C017 => "a versioned table has `<table stem>_delete_trg`, `BEFORE DELETE FOR EACH ROW` (soft delete)",
    Catalog C018 => "a versioned table has `<table stem>_notify_trg`, `AFTER INSERT OR UPDATE OR DELETE`",
    Catalog C019 => "every `SECURITY DEFINER` function pins `search_path`",
    Catalog C020 => "every table's component is owned by exactly one service of the registry, or is a provisioner component",
    Catalog C021 => "no service role holds a table privilege the registry does not grant it",
    Catalog C022 => "every service role holds every table privilege the registry grants it",
    Catalog C023 => "a versioned table has `<table stem>_lookup_trg`, `AFTER INSERT FOR EACH STATEMENT` with `REFERENCING NEW TABLE AS inserted_rows` (its lookups, tenant and change reason are checked there)",
    Catalog C024 => "every PL/pgSQL function in `public` pins `search_path` without `pg_temp` ahead of `public` (a temporary table cannot stand in for a table it reads)",
    Catalog C025 => "only the owner group may create temporary tables in the database (no TEMPORARY for PUBLIC or any other role)",
    Catalog C026 => "a service writes only components it owns (`writes` in `ores-sql.toml`: each cross-prefix write is allow-listed with a reason)",
    Catalog P001 => "`plpgsql_check` finds no error in any PL/pgSQL function or trigger (skipped, loudly, when the extension is not installed)",
    Catalog A002 => "every allow-list entry matches a violation (stale exceptions are removed)",
}

impl RuleId {
    /// The rule with this printed id.
    pub fn parse(id: &str) -> Option<RuleId> {
        RULES.iter().map(|(_, r)| r.id).find(|r| r.as_str() == id)
    }

    /// What the rule demands.
    pub fn explanation(self) -> &'static str {
        RULES
            .iter()
            .find(|(_, r)| r.id == self)
            .map(|(_, r)| r.explanation)
            .expect("every id is in the table")
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Every rule, static then catalog, in report order.
pub fn all_rules() -> impl Iterator<Item = &'static Rule> {
    RULES.iter().map(|(_, r)| r)
}

/// The rules checked on the script text alone (also enforced by `build.rs`).
pub fn static_rules() -> impl Iterator<Item = &'static Rule> {
    RULES
        .iter()
        .filter(|(k, _)| *k == Kind::Static)
        .map(|(_, r)| r)
}

/// The rules checked on a built database (catalog, `plpgsql_check`, allow-list use).
pub fn catalog_rules() -> impl Iterator<Item = &'static Rule> {
    RULES
        .iter()
        .filter(|(k, _)| *k == Kind::Catalog)
        .map(|(_, r)| r)
}
