//! What a built database's catalog says about its tables, read in a handful of
//! queries (one per kind of object, never one per table), into the shape
//! `schema.json` prints (docs/json.md).

use crate::error::{PgContext, Result};
use crate::tree::manifest::Manifest;
use crate::tree::registry::Registry;
use crate::validate::catalog_not_extension as not_extension;
use postgres::Client;
use serde::Serialize;
use std::collections::BTreeMap;

/// A built tree's schema, as the docs show it. Every list is sorted, so the same
/// tree gives the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Schema {
    /// Components with tables, by name; tables no registry component names are
    /// under `other`.
    pub components: Vec<Component>,
    /// The registry's services, by name.
    pub services: Vec<String>,
    /// What each service may do to each component (service, then component).
    pub access: Vec<Access>,
}

/// One component and its tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Component {
    /// Component name.
    pub name: String,
    /// Its tables, by name.
    pub tables: Vec<Table>,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Table {
    /// Table name.
    pub name: String,
    /// `COMMENT ON TABLE`.
    pub comment: Option<String>,
    /// `versioned` (bitemporal, the versioned-insert trigger), `append-only` or
    /// `mutable`.
    pub kind: String,
    /// Whether it has `tenant_id`.
    pub tenant_scoped: bool,
    /// Row-level security enabled.
    pub rls_enabled: bool,
    /// Row-level security forced (the owner too).
    pub rls_forced: bool,
    /// Columns in order.
    pub columns: Vec<Column>,
    /// Primary key columns in key order (empty: none).
    pub primary_key: Vec<String>,
    /// Foreign keys, by name.
    pub foreign_keys: Vec<ForeignKey>,
    /// Other constraints (unique, exclusion, check), by name.
    pub constraints: Vec<Constraint>,
    /// Indexes, by name, with their definition.
    pub indexes: Vec<Named>,
    /// Triggers, by name, with their definition.
    pub triggers: Vec<Named>,
    /// Row-level security policies, by name.
    pub policies: Vec<Policy>,
    /// Table privileges per grantee, by grantee.
    pub grants: Vec<Grant>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Type as `format_type` prints it.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Whether it may be null.
    pub nullable: bool,
    /// Default expression.
    pub default: Option<String>,
    /// `COMMENT ON COLUMN`.
    pub comment: Option<String>,
}

/// A foreign key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ForeignKey {
    /// Constraint name.
    pub name: String,
    /// Referencing columns.
    pub columns: Vec<String>,
    /// Referenced table.
    pub references: String,
    /// Referenced columns.
    pub referenced_columns: Vec<String>,
}

/// A unique, exclusion or check constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Constraint {
    /// Constraint name.
    pub name: String,
    /// `unique`, `exclusion` or `check`.
    pub kind: String,
    /// `pg_get_constraintdef`.
    pub definition: String,
}

/// An object known by its name and definition (index, trigger).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Named {
    /// Name.
    pub name: String,
    /// Definition as the server prints it.
    pub definition: String,
}

/// A row-level security policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Policy {
    /// Policy name.
    pub name: String,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE` or `DELETE`.
    pub command: String,
    /// Permissive (ORed) rather than restrictive (ANDed).
    pub permissive: bool,
    /// Roles it applies to (`public`: everyone).
    pub roles: Vec<String>,
    /// `USING` expression.
    pub using: Option<String>,
    /// `WITH CHECK` expression.
    pub with_check: Option<String>,
}

/// One grantee's privileges on a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Grant {
    /// Role, with the environment label written `E` (`ores_E_iam_service`), or
    /// `PUBLIC`.
    pub role: String,
    /// Privileges (`SELECT`, `INSERT`, ...), sorted.
    pub privileges: Vec<String>,
}

/// A service's access to a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Access {
    /// Service.
    pub service: String,
    /// Component.
    pub component: String,
    /// `owns`, `writes`, `reads` or `none`.
    pub access: String,
    /// Tables of the component the service may read.
    pub readable_tables: usize,
    /// Tables of the component.
    pub tables: usize,
}

/// Components holding tables nobody's registry names.
pub const OTHER_COMPONENT: &str = "other";

/// `ores_<env>_` in role names, written `ores_E_` so the docs do not depend on which
/// environment built them.
fn neutral(text: &str, env: &str) -> String {
    text.replace(&format!("ores_{env}_"), "ores_E_")
}

/// Reads the schema of the database `client` is connected to, built from `manifest`
/// for environment `env`.
pub fn read_schema(client: &mut Client, env: &str, manifest: &Manifest) -> Result<Schema> {
    let registry = manifest.registry();
    let mut tables = read_tables(client)?;
    read_columns(client, &mut tables)?;
    read_constraints(client, &mut tables)?;
    read_indexes_and_triggers(client, &mut tables)?;
    read_policies(client, env, &mut tables)?;
    read_grants(client, env, &mut tables)?;
    let mut components: BTreeMap<String, Vec<Table>> = BTreeMap::new();
    for t in tables.into_values() {
        let c = component_of(registry, &t.name);
        components.entry(c.to_string()).or_default().push(t);
    }
    let components: Vec<Component> = components
        .into_iter()
        .map(|(name, tables)| Component { name, tables })
        .collect();
    let mut services: Vec<String> = registry
        .services
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    services.sort();
    let access = access_map(registry, &services, &components);
    Ok(Schema {
        components,
        services,
        access,
    })
}

/// The component of a table: ours are `ores_<component>_..._tbl`; another team's
/// tree may name them `<component>_...`; anything else is [`OTHER_COMPONENT`].
fn component_of(registry: &Registry, table: &str) -> &'static str {
    registry.component_of_table(table).unwrap_or_else(|| {
        registry
            .known_components()
            .into_iter()
            .filter(|c| table.starts_with(&format!("{c}_")))
            .max_by_key(|c| c.len())
            .unwrap_or(OTHER_COMPONENT)
    })
}

/// Owns from the registry; writes and reads from the grants the build made (a
/// service writes a component when it may change any of its tables).
fn access_map(registry: &Registry, services: &[String], components: &[Component]) -> Vec<Access> {
    let mut out = Vec::new();
    for s in services {
        let role = format!("ores_E_{s}_service");
        let owns = registry.service(s).map(|d| d.owns).unwrap_or_default();
        for c in components {
            let held = |t: &Table, p: &[&str]| {
                t.grants
                    .iter()
                    .any(|g| g.role == role && g.privileges.iter().any(|x| p.contains(&x.as_str())))
            };
            let writes = c
                .tables
                .iter()
                .any(|t| held(t, &["INSERT", "UPDATE", "DELETE"]));
            let readable = c.tables.iter().filter(|t| held(t, &["SELECT"])).count();
            let access = if owns.contains(&c.name.as_str()) {
                "owns"
            } else if writes {
                "writes"
            } else if readable > 0 {
                "reads"
            } else {
                "none"
            };
            out.push(Access {
                service: s.clone(),
                component: c.name.clone(),
                access: access.to_string(),
                readable_tables: readable,
                tables: c.tables.len(),
            });
        }
    }
    out
}

fn read_tables(client: &mut Client) -> Result<BTreeMap<String, Table>> {
    let rows = client
        .query(
            &format!(
                "SELECT c.relname::text, obj_description(c.oid, 'pg_class'),
                        c.relrowsecurity, c.relforcerowsecurity,
                        EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                                 WHERE t.tgrelid = c.oid AND NOT t.tgisinternal
                                   AND (p.proname = 'ores_utility_versioned_insert_fn'
                                        OR p.prosrc LIKE '%ores\\_utility\\_versioned\\_insert\\_fn%')),
                        EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                                 WHERE t.tgrelid = c.oid AND NOT t.tgisinternal
                                   AND (p.proname = 'ores_utility_append_only_fn'
                                        OR p.prosrc LIKE '%ores\\_utility\\_append\\_only\\_fn%'))
                   FROM pg_class c
                  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                    AND NOT c.relispartition AND {}",
                not_extension("pg_class", "c.oid")
            ),
            &[],
        )
        .context("docs: listing tables")?;
    let mut out = BTreeMap::new();
    for r in rows {
        let name: String = r.get(0);
        let (versioned, append_only): (bool, bool) = (r.get(4), r.get(5));
        let kind = if versioned {
            "versioned"
        } else if append_only {
            "append-only"
        } else {
            "mutable"
        };
        out.insert(
            name.clone(),
            Table {
                name,
                comment: r.get(1),
                kind: kind.to_string(),
                tenant_scoped: false,
                rls_enabled: r.get(2),
                rls_forced: r.get(3),
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
                constraints: Vec::new(),
                indexes: Vec::new(),
                triggers: Vec::new(),
                policies: Vec::new(),
                grants: Vec::new(),
            },
        );
    }
    Ok(out)
}

fn read_columns(client: &mut Client, tables: &mut BTreeMap<String, Table>) -> Result<()> {
    let rows = client
        .query(
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod),
                    NOT a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
                    col_description(c.oid, a.attnum)
               FROM pg_attribute a
               JOIN pg_class c ON c.oid = a.attrelid
               LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY 1, a.attnum",
            &[],
        )
        .context("docs: listing columns")?;
    for r in rows {
        let table: String = r.get(0);
        if let Some(t) = tables.get_mut(&table) {
            let name: String = r.get(1);
            t.tenant_scoped |= name == "tenant_id";
            t.columns.push(Column {
                name,
                data_type: r.get(2),
                nullable: r.get(3),
                default: r.get(4),
                comment: r.get(5),
            });
        }
    }
    Ok(())
}

fn read_constraints(client: &mut Client, tables: &mut BTreeMap<String, Table>) -> Result<()> {
    let rows = client
        .query(
            "SELECT c.relname::text, k.conname::text, k.contype::text,
                    pg_get_constraintdef(k.oid), coalesce(f.relname::text, ''),
                    ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, o)
                            JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n
                           ORDER BY u.o),
                    ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, o)
                            JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n
                           ORDER BY u.o)
               FROM pg_constraint k
               JOIN pg_class c ON c.oid = k.conrelid
               LEFT JOIN pg_class f ON f.oid = k.confrelid
              WHERE c.relnamespace = 'public'::regnamespace AND k.contype IN ('p', 'f', 'u', 'x', 'c')
              ORDER BY 1, 2",
            &[],
        )
        .context("docs: listing constraints")?;
    for r in rows {
        let table: String = r.get(0);
        let Some(t) = tables.get_mut(&table) else {
            continue;
        };
        let (name, kind, definition): (String, String, String) = (r.get(1), r.get(2), r.get(3));
        let columns: Vec<String> = r.get(5);
        match kind.as_str() {
            "p" => t.primary_key = columns,
            "f" => t.foreign_keys.push(ForeignKey {
                name,
                columns,
                references: r.get(4),
                referenced_columns: r.get(6),
            }),
            _ => t.constraints.push(Constraint {
                name,
                kind: match kind.as_str() {
                    "u" => "unique",
                    "x" => "exclusion",
                    _ => "check",
                }
                .to_string(),
                definition,
            }),
        }
    }
    Ok(())
}

fn read_indexes_and_triggers(
    client: &mut Client,
    tables: &mut BTreeMap<String, Table>,
) -> Result<()> {
    let indexes = client
        .query(
            "SELECT c.relname::text, x.relname::text, pg_get_indexdef(i.indexrelid)
               FROM pg_index i
               JOIN pg_class c ON c.oid = i.indrelid
               JOIN pg_class x ON x.oid = i.indexrelid
              WHERE c.relnamespace = 'public'::regnamespace
              ORDER BY 1, 2",
            &[],
        )
        .context("docs: listing indexes")?;
    let triggers = client
        .query(
            "SELECT c.relname::text, t.tgname::text, pg_get_triggerdef(t.oid)
               FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
              WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
              ORDER BY 1, 2",
            &[],
        )
        .context("docs: listing triggers")?;
    for (rows, triggers) in [(indexes, false), (triggers, true)] {
        for r in rows {
            let table: String = r.get(0);
            if let Some(t) = tables.get_mut(&table) {
                let named = Named {
                    name: r.get(1),
                    definition: r.get(2),
                };
                if triggers {
                    t.triggers.push(named);
                } else {
                    t.indexes.push(named);
                }
            }
        }
    }
    Ok(())
}

fn read_policies(
    client: &mut Client,
    env: &str,
    tables: &mut BTreeMap<String, Table>,
) -> Result<()> {
    let rows = client
        .query(
            "SELECT tablename::text, policyname::text, cmd, permissive = 'PERMISSIVE',
                    roles::text[], qual, with_check
               FROM pg_policies WHERE schemaname = 'public'
              ORDER BY 1, 2",
            &[],
        )
        .context("docs: listing policies")?;
    for r in rows {
        let table: String = r.get(0);
        if let Some(t) = tables.get_mut(&table) {
            let roles: Vec<String> = r.get(4);
            let mut roles: Vec<String> = roles.iter().map(|x| neutral(x, env)).collect();
            roles.sort();
            let expr = |e: Option<String>| e.map(|e| neutral(&e, env));
            t.policies.push(Policy {
                name: r.get(1),
                command: r.get(2),
                permissive: r.get(3),
                roles,
                using: expr(r.get(5)),
                with_check: expr(r.get(6)),
            });
        }
    }
    Ok(())
}

fn read_grants(client: &mut Client, env: &str, tables: &mut BTreeMap<String, Table>) -> Result<()> {
    let rows = client
        .query(
            "SELECT c.relname::text,
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
                    array_agg(DISTINCT a.privilege_type::text ORDER BY a.privilege_type::text)
               FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
              GROUP BY 1, 2",
            &[],
        )
        .context("docs: listing grants")?;
    for r in rows {
        let table: String = r.get(0);
        if let Some(t) = tables.get_mut(&table) {
            let role: String = r.get(1);
            t.grants.push(Grant {
                role: neutral(role.trim_matches('"'), env),
                privileges: r.get(2),
            });
        }
    }
    for t in tables.values_mut() {
        t.grants.sort_by(|a, b| a.role.cmp(&b.role));
    }
    Ok(())
}
