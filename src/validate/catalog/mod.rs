//! The catalog rules (`C…`): what a built database's catalog must look like.
//!
//! One module per concern; each check pushes every violation it finds.

mod functions;
mod naming;
mod performance;
mod policies;
mod privileges;
mod tenancy;
mod versioning;

use crate::error::{PgContext, Result};
use crate::tree::registry::Registry;
use crate::tree::settings::NamingPatterns;
use crate::validate::{RuleId, Violation};
use postgres::Client;
use std::collections::BTreeMap;

use functions::{check_plpgsql_search_path, check_security_definer};
use naming::{check_names, check_tables};
use performance::{check_duplicate_indexes, check_foreign_keys};
use policies::{check_policies, check_views};
use privileges::{check_privileges, check_roles, check_temporary};
use tenancy::check_tenancy;
use versioning::check_versioned;

/// The versioned column set and the type each column must have.
const VERSIONED_COLUMNS: [(&str, &str); 8] = [
    ("tenant_id", "uuid"),
    ("version", "integer"),
    ("modified_by", "text"),
    ("performed_by", "text"),
    ("change_reason_code", "text"),
    ("change_commentary", "text"),
    ("valid_from", "timestamp with time zone"),
    ("valid_to", "timestamp with time zone"),
];

/// Table privileges a role can hold.
const PRIVILEGES: [&str; 7] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];

/// Objects an extension installed are its business, not our conventions'.
const NOT_EXTENSION: &str = "NOT EXISTS (SELECT 1 FROM pg_depend d
     WHERE d.classid = {class}::regclass AND d.objid = {oid} AND d.deptype = 'e')";

pub(crate) fn not_extension(class: &str, oid: &str) -> String {
    NOT_EXTENSION
        .replace("{class}", &format!("'{class}'"))
        .replace("{oid}", oid)
}

struct Table {
    name: String,
    rls: bool,
    forced: bool,
    pk: Option<Vec<String>>,
    columns: BTreeMap<String, String>,
}

/// The transition table of `<table stem>_lookup_trg` (`sql/README.md`).
const LOOKUP_NEW_TABLE: &str = "inserted_rows";

type Push<'a> = &'a mut dyn FnMut(RuleId, &str, String);

/// Every catalog rule (C001..C032) on the database `client` is connected to, whose
/// roles belong to environment `env`.
pub fn check_catalog(client: &mut Client, env: &str) -> Result<Vec<Violation>> {
    check_catalog_in(client, env, Registry::compiled())
}

/// [`check_catalog`] against the registry of the tree the database was built from,
/// with ORE Studio's naming patterns.
pub fn check_catalog_in(
    client: &mut Client,
    env: &str,
    registry: &Registry,
) -> Result<Vec<Violation>> {
    check_catalog_with(client, env, registry, &NamingPatterns::default())
}

/// [`check_catalog_in`] with the naming patterns of a tree's `[validate.naming]`.
/// Every rule runs; which of them a tree reports is the caller's choice.
pub fn check_catalog_with(
    client: &mut Client,
    env: &str,
    registry: &Registry,
    naming: &NamingPatterns,
) -> Result<Vec<Violation>> {
    let mut out = Vec::new();
    let mut push = |rule: RuleId, object: &str, message: String| {
        out.push(Violation {
            rule,
            object: object.to_string(),
            message,
        })
    };
    let tables = load_tables(client)?;
    check_tables(&tables, registry, naming, &mut push);
    check_names(client, registry, naming, &mut push)?;
    check_tenancy(client, &tables, &mut push)?;
    check_roles(client, env, registry, &mut push)?;
    check_versioned(client, &tables, &mut push)?;
    check_security_definer(client, &mut push)?;
    check_plpgsql_search_path(client, &mut push)?;
    check_temporary(client, env, &mut push)?;
    check_privileges(client, env, registry, &mut push)?;
    check_policies(client, &tables, &mut push)?;
    check_foreign_keys(client, &mut push)?;
    check_views(client, &mut push)?;
    check_duplicate_indexes(client, &mut push)?;
    Ok(out)
}

fn load_tables(client: &mut Client) -> Result<Vec<Table>> {
    let rows = client
        .query(
            &format!(
                "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                        (SELECT array_agg(a.attname::text ORDER BY k.ord)
                           FROM pg_constraint p
                           CROSS JOIN LATERAL unnest(p.conkey) WITH ORDINALITY AS k(att, ord)
                           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.att
                          WHERE p.conrelid = c.oid AND p.contype = 'p')
                   FROM pg_class c
                  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                    AND NOT c.relispartition AND {}
                  ORDER BY 1",
                not_extension("pg_class", "c.oid")
            ),
            &[],
        )
        .context("validate: listing tables")?;
    let mut tables: Vec<Table> = rows
        .iter()
        .map(|r| Table {
            name: r.get(0),
            rls: r.get(1),
            forced: r.get(2),
            pk: r.get(3),
            columns: BTreeMap::new(),
        })
        .collect();
    let cols = client
        .query(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)
               FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                AND a.attnum > 0 AND NOT a.attisdropped",
            &[],
        )
        .context("validate: listing columns")?;
    for r in cols {
        let table: String = r.get(0);
        if let Some(t) = tables.iter_mut().find(|t| t.name == table) {
            t.columns.insert(r.get(1), r.get(2));
        }
    }
    Ok(tables)
}
