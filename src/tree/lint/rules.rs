//! The rule table: every rule's id and what it demands, static and catalog alike.
//!
//! Listed here, beside the static rules, so `build.rs` can reject allow-list entries
//! naming no rule, and so the catalog checks (`ores_sql::validate`) name rules by a
//! typed id instead of a string that could be mistyped.

use std::fmt;

/// A rule: a short stable id, how bad breaking it is, what it is about, which rule
/// set runs it, and a one-line explanation and remedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, e.g. `S003`.
    pub id: RuleId,
    /// What the rule demands, in one line.
    pub explanation: &'static str,
    /// How bad a violation is; `--fail-on` compares against it.
    pub level: Level,
    /// What the rule protects.
    pub category: Category,
    /// Universal (every tree) or the house-style set a tree opts into.
    pub set: RuleSet,
    /// What to do about a violation, in one line.
    pub remediation: &'static str,
}

/// How bad a violation is. Ordered `Info < Warning < Error`, so a threshold is a
/// comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Worth knowing; nothing is wrong yet.
    Info,
    /// Likely wrong or costly; a tree may gate on it.
    Warning,
    /// Wrong: isolation, grants or the build's guarantees are broken.
    Error,
}

/// What a rule protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Tenant isolation, privileges, hijackable name resolution.
    Security,
    /// Costs that grow with the data.
    Performance,
    /// Names that follow the tree's conventions.
    Naming,
    /// The schema does what the build and the services rely on.
    Correctness,
    /// Layout and shape conventions.
    Style,
}

/// Which rules a tree runs: the universal ones always, a house-style set only when
/// its `ores-sql.toml` opts in (`[validate] sets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleSet {
    /// Security and correctness rules that hold for any tree.
    Universal,
    /// Script folders and names after registry components (numeric trees).
    Layout,
    /// Object names (`[validate.naming]` patterns) and component ownership.
    Naming,
    /// `tenant_id` leads keys; policies read the current-tenant function.
    Tenancy,
    /// The bitemporal column set, exclusion constraint and triggers.
    Versioning,
}

macro_rules! names {
    ($ty:ident { $( $v:ident => $s:expr ),* $(,)? }) => {
        impl $ty {
            /// Every value, in order.
            pub const ALL: &'static [$ty] = &[ $( $ty::$v ),* ];

            /// The lowercase name, as `ores-sql.toml`, the report and JSON spell it.
            pub const fn as_str(self) -> &'static str {
                match self { $( $ty::$v => $s ),* }
            }

            /// The value with this lowercase name.
            pub fn parse(name: &str) -> Option<$ty> {
                $ty::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(Level { Info => "info", Warning => "warning", Error => "error" });
names!(Category {
    Security => "security",
    Performance => "performance",
    Naming => "naming",
    Correctness => "correctness",
    Style => "style",
});
names!(RuleSet {
    Universal => "universal",
    Layout => "layout",
    Naming => "naming",
    Tenancy => "tenancy",
    Versioning => "versioning",
});

macro_rules! rules {
    ($( $kind:ident $id:ident $level:ident $category:ident $set:ident => $text:expr, $fix:expr, )*) => {
        /// The id of a rule. Prefix `S`: static (script text), `C`: catalog of a built
        /// database, `P`: plpgsql_check, `A`: the allow-list itself.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleId {
            $( #[doc = $text] $id, )*
        }

        /// Every rule, in report order.
        pub const RULES: &[(Kind, Rule)] = &[
            $( (Kind::$kind, Rule {
                id: RuleId::$id,
                explanation: $text,
                level: Level::$level,
                category: Category::$category,
                set: RuleSet::$set,
                remediation: $fix,
            }), )*
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
    Static S001 Error Correctness Universal => "script order is unambiguous: no two siblings share a numeric prefix", "renumber one of the two siblings so each numeric prefix is unique",
    Static S002 Error Correctness Universal => "manifest layout: `<digits>_<name>` folders and `.sql` files, UTF-8, not empty, one script per entity and phase", "rename the folder or file to `<digits>_<name>` (`.sql`, UTF-8, not empty), one script per entity and phase",
    Static S003 Error Correctness Universal => "no migration-style DDL: `ALTER TABLE ... ADD/DROP/ALTER COLUMN`, `ALTER TYPE ... ADD/DROP/ALTER/RENAME`, or `RENAME` of anything", "put the column in the `CREATE TABLE` (or the type's definition) instead of altering it afterwards",
    Static S004 Error Correctness Universal => "a script alters or drops only tables it creates itself (no upgrade scripts)", "move the `ALTER`/`DROP` into the script that creates the table",
    Static S005 Warning Style Layout => "every script lives in a folder named after a component of the service registry", "move the script into a folder named after a registry component, or add the component to `ores-sql.toml`",
    Static S006 Warning Style Layout => "a script's entity key starts with its component (`NNN_<component>_<entity_plural>.sql`)", "rename the script `NNN_<component>_<entity_plural>.sql` after the folder's component",
    Static S007 Error Correctness Universal => "functions, procedures and triggers are created with `CREATE OR REPLACE` (so recreate-entity can re-run them)", "write `CREATE OR REPLACE FUNCTION/PROCEDURE/TRIGGER`",
    Static S008 Error Correctness Universal => "no psql meta-commands (`\\i`, `\\set`, ...): no backslash outside literals, comments and dollar-quoted bodies", "remove the meta-command; let the numeric order (or an entry script) include files",
    Static S009 Error Correctness Universal => "no transaction control outside function bodies (`BEGIN`, `START TRANSACTION`, `COMMIT`, `ROLLBACK`, `END`, `ABORT`, `SAVEPOINT`, `RELEASE`, `PREPARE TRANSACTION`, `SET TRANSACTION`): the build is one transaction; refused on every layout, never allow-listed", "remove the transaction control: the build runs every script in one transaction",
    Static A001 Error Correctness Universal => "every allow-list entry reads `RULE OBJECT # reason` with a known rule id and a non-empty reason", "write the entry as `RULE OBJECT # reason` with a known rule id",
    Catalog C001 Warning Naming Naming => "every table in `public` is named `ores_<component>_<entity_plural>_tbl` with a component of the service registry", "rename the table to the tree's table pattern (`[validate.naming] table`)",
    Catalog C002 Warning Naming Naming => "function and procedure names end in `_fn` (extension-owned functions excepted)", "rename the function to the tree's function pattern (`[validate.naming] function`)",
    Catalog C003 Warning Naming Naming => "view and materialized view names end in `_vw`", "rename the view to the tree's view pattern (`[validate.naming] view`)",
    Catalog C004 Warning Naming Naming => "trigger names end in `_trg`", "rename the trigger to the tree's trigger pattern (`[validate.naming] trigger`)",
    Catalog C005 Warning Naming Naming => "index names end in `_idx` (indexes backing a primary key, unique or exclusion constraint carry the constraint's name and are excepted)", "rename the index to the tree's index pattern (`[validate.naming] index`)",
    Catalog C006 Warning Naming Naming => "row-level security policy names end in `_pol`", "rename the policy to the tree's policy pattern (`[validate.naming] policy`)",
    Catalog C007 Warning Correctness Universal => "every table has a primary key", "add a primary key (updates, deletes and replication need a row identity)",
    Catalog C008 Error Security Tenancy => "a table with `tenant_id` has it as the first column of its primary key", "make `tenant_id` the first column of the primary key",
    Catalog C009 Error Security Tenancy => "a table with `tenant_id` has it as the first column of every unique index and constraint", "lead the unique index or constraint with `tenant_id`, so uniqueness is per tenant",
    Catalog C010 Error Security Universal => "a table with `tenant_id` has row-level security enabled", "`ALTER TABLE ... ENABLE ROW LEVEL SECURITY` and add a tenant policy",
    Catalog C011 Error Security Universal => "a table with `tenant_id` has row-level security forced, so the owner is not silently exempt", "`ALTER TABLE ... FORCE ROW LEVEL SECURITY`",
    Catalog C012 Error Security Tenancy => "a table with `tenant_id` has at least one policy reading the current tenant (`ores_utility_current_tenant_id_fn()` or `ores.tenant_id`)", "add a policy whose expression compares `tenant_id` with `ores_utility_current_tenant_id_fn()`",
    Catalog C013 Error Security Universal => "no role of the environment is SUPERUSER, BYPASSRLS, CREATEDB, CREATEROLE or REPLICATION, in a group the registry does not give it, or marked for another environment", "`ALTER ROLE ... NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION` and revoke stray memberships (`compass env recreate` does both)",
    Catalog C014 Error Correctness Versioning => "a versioned table (one with `valid_from` or `valid_to`) has the full versioned column set with the documented types", "declare every versioned column with its documented type (docs/validation.md, C014)",
    Catalog C015 Error Correctness Versioning => "a versioned table has a gist exclusion constraint led by `tenant_id WITH =` forbidding overlapping `tstzrange(valid_from, valid_to)` for one key: every key column (the primary key without `valid_from`) compared `WITH =` by itself, no other column, and any expression (such as the hash of a text key) reading only key columns, so two versions of one key always conflict", "add the gist exclusion constraint `(tenant_id WITH =, <key> WITH =, tstzrange(valid_from, valid_to) WITH &&)`",
    Catalog C016 Error Correctness Versioning => "a versioned table has `<table stem>_insert_trg`, `BEFORE INSERT FOR EACH ROW`", "create `<table stem>_insert_trg BEFORE INSERT FOR EACH ROW`",
    Catalog C017 Error Correctness Versioning => "a versioned table has `<table stem>_delete_trg`, `BEFORE DELETE FOR EACH ROW` (soft delete)", "create `<table stem>_delete_trg BEFORE DELETE FOR EACH ROW`",
    Catalog C018 Error Correctness Versioning => "a versioned table has `<table stem>_notify_trg`, `AFTER INSERT OR UPDATE OR DELETE`", "create `<table stem>_notify_trg AFTER INSERT OR UPDATE OR DELETE`",
    Catalog C019 Error Security Universal => "every `SECURITY DEFINER` function pins `search_path`", "add `SET search_path = public, pg_temp` to the function",
    Catalog C020 Error Correctness Naming => "every table's component is owned by exactly one service of the registry, or is a provisioner component", "give the component exactly one owning service in `ores-sql.toml`",
    Catalog C021 Error Security Universal => "no service role holds a table privilege the registry does not grant it", "revoke the privilege, or grant it in the registry (`owns`, `reads`, `writes`)",
    Catalog C022 Error Correctness Universal => "every service role holds every table privilege the registry grants it", "rebuild (`compass db recreate`) so the registry's grants are applied",
    Catalog C023 Error Correctness Versioning => "a versioned table has `<table stem>_lookup_trg`, `AFTER INSERT FOR EACH STATEMENT` with `REFERENCING NEW TABLE AS inserted_rows` (its lookups, tenant and change reason are checked there)", "create `<table stem>_lookup_trg AFTER INSERT REFERENCING NEW TABLE AS inserted_rows FOR EACH STATEMENT`",
    Catalog C024 Warning Security Universal => "every PL/pgSQL function in `public` pins `search_path` without `pg_temp` ahead of `public` (a temporary table cannot stand in for a table it reads)", "add `SET search_path = public, pg_temp` (pg_temp last) to the function",
    Catalog C025 Error Security Universal => "only the owner group may create temporary tables in the database (no TEMPORARY for PUBLIC or any other role)", "`REVOKE TEMPORARY ON DATABASE ... FROM PUBLIC` (and from the role named)",
    Catalog C026 Warning Security Universal => "a service writes only components it owns (`writes` in `ores-sql.toml`: each cross-prefix write is allow-listed with a reason)", "allow-list the write with a reason, or move the table to the writing service's component",
    Catalog C027 Warning Security Universal => "a table with row-level security enabled has at least one policy (otherwise it is silently empty to everyone but its owner)", "add the policies the table's readers need, or disable row-level security if the table is meant to be open",
    Catalog C028 Error Security Universal => "a table with a row-level security policy has row-level security enabled (otherwise the policy is not enforced)", "`ALTER TABLE ... ENABLE ROW LEVEL SECURITY` (and `FORCE`), or drop the policy that is not enforced",
    Catalog C029 Error Security Universal => "no policy on a table with `tenant_id` is always true (`USING (true)` or `WITH CHECK (true)`): it opens every tenant's rows", "restrict the policy to the current tenant (`tenant_id = ores_utility_current_tenant_id_fn()`), or drop it",
    Catalog C030 Warning Performance Universal => "every foreign key has an index led by its columns", "create an index led by the foreign key's columns (deletes and joins on the parent scan the child otherwise)",
    Catalog C031 Error Security Universal => "a view reading a table with row-level security is `security_invoker` (otherwise it reads as its owner, bypassing the policies)", "`ALTER VIEW ... SET (security_invoker = true)` so the view applies the caller's row-level security",
    Catalog C032 Warning Performance Universal => "no table has two identical indexes", "drop all but one of the identical indexes",
    Catalog P001 Error Correctness Universal => "`plpgsql_check` finds no error in any PL/pgSQL function or trigger (skipped, loudly, when the extension is not installed)", "fix the error plpgsql_check names at the line it gives",
    Catalog A002 Error Correctness Universal => "every allow-list entry matches a violation (stale exceptions are removed)", "remove the stale allow-list entry",
}

impl RuleId {
    /// The rule with this printed id.
    pub fn parse(id: &str) -> Option<RuleId> {
        RULES.iter().map(|(_, r)| r.id).find(|r| r.as_str() == id)
    }

    /// What the rule demands.
    pub fn explanation(self) -> &'static str {
        self.rule().explanation
    }

    /// The rule's row of the table.
    pub fn rule(self) -> &'static Rule {
        RULES
            .iter()
            .map(|(_, r)| r)
            .find(|r| r.id == self)
            .expect("every id is in the table")
    }

    /// How bad a violation of it is.
    pub fn level(self) -> Level {
        self.rule().level
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
