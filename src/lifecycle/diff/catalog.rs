//! Reading what a database holds, object by object, into a [`Snapshot`] two
//! databases of one cluster can be compared by: every object is named by its schema
//! and name (never an OID, which no two databases share), and every role by its name
//! (both databases live in one cluster, so a role's name means the same in each).
//!
//! One query per kind of object, each over the whole catalog: a snapshot of the real
//! schema is sixteen round trips, not one per object. Objects an extension owns are
//! left out (the extension and its version stand for them), and so are the server's
//! own schemas.

use crate::error::{PgContext, Result};
use postgres::Client;
use std::collections::BTreeMap;

/// What an object is, by kind and name (`table.column`, `table.index`, `function(args)`,
/// `<what> <name> to <role>` for a grant).
pub(crate) type Key = (&'static str, String);

/// One object: the table it belongs to (if any) and its compared properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Object {
    pub(crate) table: Option<String>,
    pub(crate) fields: Vec<(&'static str, Option<String>)>,
}

/// Every object of one database.
pub(crate) type Snapshot = BTreeMap<Key, Object>;

/// The schemas we read: every one but the server's own.
const USER_NS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// `schema.name`, or `name` alone in `public` (what the tree's scripts write).
fn qual(ns: &str, name: &str) -> String {
    format!("(CASE WHEN {ns} = 'public' THEN '' ELSE {ns}::text || '.' END || {name}::text)")
}

/// Not a member of an extension (`classid` is the catalog the object lives in).
fn not_ext(classid: &str, objid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{classid}'::regclass
                      AND e.objid = {objid} AND e.deptype = 'e')"
    )
}

/// A role by name, PUBLIC for 0.
const ROLE: &str =
    "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee)::text END";

/// One kind of object: its name, the names of its compared fields, and the query
/// returning `name, table, field...` (all text) for every object of that kind.
struct Kind {
    kind: &'static str,
    fields: &'static [&'static str],
    sql: String,
}

/// The pieces of SQL every kind of object repeats.
struct Parts {
    rel: String,
    rel_scope: String,
    not_identity: String,
    func: String,
    func_scope: String,
    privs: String,
}

fn parts() -> Parts {
    let rel = qual("n.nspname", "c.relname");
    let rel_scope = format!("{USER_NS} AND {}", not_ext("pg_class", "c.oid"));
    // An identity column's sequence is the column's (its `identity` field): neither
    // it nor its owner and grants, which follow the table's, are objects of their own.
    let not_identity =
        "NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.classid = 'pg_class'::regclass
                         AND i.objid = c.oid AND i.deptype = 'i')";
    let func = format!(
        "{} || '(' || oidvectortypes(p.proargtypes) || ')'",
        qual("n.nspname", "p.proname")
    );
    let func_scope = format!("{USER_NS} AND {}", not_ext("pg_proc", "p.oid"));
    // Privileges per grantee, as `PRIV` or `PRIV*` (with grant option), sorted; an
    // ACL that was never set is its default, so "never granted" and "granted what
    // the default gives" compare equal, as they behave.
    let privs = "string_agg(a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END, ', '
                  ORDER BY a.privilege_type)";
    Parts {
        rel,
        rel_scope,
        not_identity: not_identity.into(),
        func,
        func_scope,
        privs: privs.into(),
    }
}

fn kinds() -> Vec<Kind> {
    let parts = parts();
    let mut kinds = table_kinds(&parts);
    kinds.extend(code_kinds(&parts));
    kinds.extend(access_kinds(&parts));
    kinds
}

/// The queries for extensions, schemas, tables and what a table holds.
fn table_kinds(parts: &Parts) -> Vec<Kind> {
    let Parts { rel, rel_scope, .. } = parts;
    vec![
        Kind {
            kind: "extension",
            fields: &["version", "schema"],
            sql: "SELECT x.extname::text, NULL::text, x.extversion::text, x.extnamespace::regnamespace::text
                    FROM pg_extension x WHERE x.extname <> 'plpgsql'"
                .into(),
        },
        Kind {
            kind: "schema",
            fields: &[],
            sql: format!(
                "SELECT n.nspname::text, NULL::text FROM pg_namespace n
                  WHERE {USER_NS} AND {}",
                not_ext("pg_namespace", "n.oid")
            ),
        },
        Kind {
            kind: "table",
            fields: &["kind", "persistence", "options", "partition key", "partition of"],
            sql: format!(
                "SELECT {rel}, {rel}, CASE c.relkind WHEN 'p' THEN 'partitioned' ELSE 'table' END,
                        c.relpersistence::text, array_to_string(c.reloptions, ', '),
                        CASE c.relkind WHEN 'p' THEN pg_get_partkeydef(c.oid) END,
                        CASE WHEN c.relispartition THEN
                          (SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = c.oid)
                          || ' ' || pg_get_expr(c.relpartbound, c.oid) END
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p') AND {rel_scope}"
            ),
        },
        Kind {
            kind: "column",
            fields: &["type", "default", "not null", "identity", "generated", "collation"],
            sql: format!(
                "SELECT {rel} || '.' || a.attname::text, {rel},
                        format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid),
                        a.attnotnull::text, nullif(a.attidentity::text, ''),
                        nullif(a.attgenerated::text, ''),
                        CASE WHEN a.attcollation <> t.typcollation THEN
                          (SELECT co.collname::text FROM pg_collation co WHERE co.oid = a.attcollation) END
                   FROM pg_attribute a
                   JOIN pg_class c ON c.oid = a.attrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                   JOIN pg_type t ON t.oid = a.atttypid
                   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                  WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
                    AND {rel_scope}"
            ),
        },
        Kind {
            kind: "constraint",
            fields: &["type", "definition"],
            sql: format!(
                "SELECT {rel} || '.' || k.conname::text, {rel},
                        CASE k.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique'
                          WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check'
                          WHEN 'x' THEN 'exclusion' ELSE k.contype::text END,
                        pg_get_constraintdef(k.oid)
                   FROM pg_constraint k
                   JOIN pg_class c ON c.oid = k.conrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE {rel_scope}"
            ),
        },
        Kind {
            // An index that implements a constraint is the constraint's: adding a
            // unique constraint by hand is one change, not two.
            kind: "index",
            fields: &["definition"],
            sql: format!(
                "SELECT {}, {rel}, pg_get_indexdef(i.indexrelid)
                   FROM pg_index i
                   JOIN pg_class ic ON ic.oid = i.indexrelid
                   JOIN pg_class c ON c.oid = i.indrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE {rel_scope}
                    AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                                     AND k.contype IN ('p', 'u', 'x'))",
                qual("n.nspname", "ic.relname")
            ),
        },
    ]
}

/// The queries for functions, triggers, views, sequences and policies.
fn code_kinds(parts: &Parts) -> Vec<Kind> {
    let Parts {
        rel,
        rel_scope,
        not_identity,
        func,
        func_scope,
        ..
    } = parts;
    vec![
        Kind {
            kind: "function",
            fields: &[
                "kind",
                "arguments",
                "result",
                "language",
                "body",
                "volatility",
                "security definer",
                "strict",
                "leakproof",
                "parallel",
                "config",
            ],
            sql: format!(
                "SELECT {func}, NULL::text,
                        CASE p.prokind WHEN 'f' THEN 'function' WHEN 'p' THEN 'procedure'
                          WHEN 'a' THEN 'aggregate' ELSE 'window' END,
                        pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                        l.lanname::text, coalesce(p.probin || ' ', '') || p.prosrc,
                        CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable'
                          ELSE 'volatile' END,
                        p.prosecdef::text, p.proisstrict::text, p.proleakproof::text,
                        p.proparallel::text, array_to_string(p.proconfig, ', ')
                   FROM pg_proc p
                   JOIN pg_namespace n ON n.oid = p.pronamespace
                   JOIN pg_language l ON l.oid = p.prolang
                  WHERE {func_scope}"
            ),
        },
        Kind {
            kind: "trigger",
            fields: &["definition", "enabled"],
            sql: format!(
                "SELECT {rel} || '.' || t.tgname::text, {rel}, pg_get_triggerdef(t.oid),
                        t.tgenabled::text
                   FROM pg_trigger t
                   JOIN pg_class c ON c.oid = t.tgrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE NOT t.tgisinternal AND {rel_scope}"
            ),
        },
        Kind {
            kind: "view",
            fields: &["kind", "definition", "options"],
            sql: format!(
                "SELECT {rel}, NULL::text,
                        CASE c.relkind WHEN 'm' THEN 'materialized' ELSE 'view' END,
                        pg_get_viewdef(c.oid), array_to_string(c.reloptions, ', ')
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('v', 'm') AND {rel_scope}"
            ),
        },
        Kind {
            // An identity column's sequence is the column's (its `identity` field).
            kind: "sequence",
            fields: &[
                "type",
                "start",
                "increment",
                "min",
                "max",
                "cache",
                "cycle",
                "owned by",
            ],
            sql: format!(
                "SELECT {rel}, NULL::text, format_type(s.seqtypid, NULL), s.seqstart::text,
                        s.seqincrement::text, s.seqmin::text, s.seqmax::text, s.seqcache::text,
                        s.seqcycle::text,
                        (SELECT d.refobjid::regclass::text || '.' || a.attname
                           FROM pg_depend d JOIN pg_attribute a
                             ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                            AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a')
                   FROM pg_sequence s
                   JOIN pg_class c ON c.oid = s.seqrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE {rel_scope} AND {not_identity}"
            ),
        },
        Kind {
            kind: "policy",
            fields: &["command", "permissive", "roles", "using", "with check"],
            sql: format!(
                "SELECT {rel} || '.' || p.polname::text, {rel},
                        CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
                          WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                        CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
                        (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC'
                                                ELSE pg_get_userbyid(r)::text END, ', ' ORDER BY 1)
                           FROM unnest(p.polroles) r),
                        pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
                   FROM pg_policy p
                   JOIN pg_class c ON c.oid = p.polrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE {rel_scope}"
            ),
        },
    ]
}

/// The queries for row security, owners, grants and comments.
fn access_kinds(parts: &Parts) -> Vec<Kind> {
    let Parts {
        rel,
        rel_scope,
        not_identity,
        func,
        func_scope,
        privs,
    } = parts;
    vec![
        Kind {
            kind: "row security",
            fields: &["enabled", "forced"],
            sql: format!(
                "SELECT {rel}, {rel}, c.relrowsecurity::text, c.relforcerowsecurity::text
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p') AND {rel_scope}"
            ),
        },
        Kind {
            kind: "owner",
            fields: &["owner"],
            sql: format!(
                "SELECT CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'view '
                          WHEN 'S' THEN 'sequence ' ELSE 'table ' END || {rel},
                        CASE WHEN c.relkind IN ('r', 'p') THEN {rel} END,
                        pg_get_userbyid(c.relowner)::text
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND {rel_scope} AND {not_identity}
                 UNION ALL
                 SELECT 'function ' || {func}, NULL, pg_get_userbyid(p.proowner)::text
                   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  WHERE {func_scope}
                 UNION ALL
                 SELECT 'schema ' || n.nspname::text, NULL, pg_get_userbyid(n.nspowner)::text
                   FROM pg_namespace n WHERE {USER_NS} AND {}",
                not_ext("pg_namespace", "n.oid")
            ),
        },
        Kind {
            kind: "grant",
            fields: &["privileges"],
            sql: format!(
                "SELECT CASE c.relkind WHEN 'v' THEN 'view ' WHEN 'm' THEN 'view '
                          WHEN 'S' THEN 'sequence ' ELSE 'table ' END || {rel} || ' to ' || {ROLE},
                        CASE WHEN c.relkind IN ('r', 'p') THEN {rel} END, {privs}
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                        aclexplode(coalesce(c.relacl, acldefault(
                          CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::\"char\", c.relowner))) a
                  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND {rel_scope} AND {not_identity}
                  GROUP BY c.relkind, n.nspname, c.relname, a.grantee
                 UNION ALL
                 SELECT 'column ' || {rel} || '.' || t.attname::text || ' to ' || {ROLE}, {rel}, {privs}
                   FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(t.attacl) a
                  WHERE t.attacl IS NOT NULL AND t.attnum > 0 AND NOT t.attisdropped AND {rel_scope}
                  GROUP BY n.nspname, c.relname, t.attname, a.grantee
                 UNION ALL
                 SELECT 'function ' || {func} || ' to ' || {ROLE}, NULL, {privs}
                   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
                        aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                  WHERE {func_scope}
                  GROUP BY n.nspname, p.proname, p.oid, a.grantee
                 UNION ALL
                 SELECT 'schema ' || n.nspname::text || ' to ' || {ROLE}, NULL, {privs}
                   FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
                  WHERE {USER_NS} AND {}
                  GROUP BY n.nspname, a.grantee",
                not_ext("pg_namespace", "n.oid")
            ),
        },
        Kind {
            // Comments on objects in our schemas (user objects have OIDs from 16384 on;
            // the server's own thousands of comments are never looked at).
            kind: "comment",
            fields: &["text"],
            sql: "SELECT o.type || ' ' || o.identity,
                         CASE WHEN d.classoid = 'pg_class'::regclass THEN
                           (SELECT CASE WHEN c.relkind IN ('r', 'p') THEN
                                   CASE WHEN n.nspname = 'public' THEN '' ELSE n.nspname::text || '.' END
                                   || c.relname::text END
                              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE c.oid = d.objoid) END,
                         d.description
                    FROM pg_description d, pg_identify_object(d.classoid, d.objoid, d.objsubid) o
                   WHERE d.objoid >= 16384
                     -- An extension's own comment comes with it.
                     AND d.classoid <> 'pg_extension'::regclass
                     AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.classoid
                                      AND e.objid = d.objoid AND e.deptype = 'e')
                     AND coalesce(o.schema NOT IN ('pg_catalog', 'information_schema')
                                  AND o.schema NOT LIKE 'pg\\_toast%', true)"
                .into(),
        },
    ]
}

/// Everything in the database `client` is connected to (database-level properties,
/// which live outside it, come from [`database_objects`]).
pub(crate) fn snapshot(client: &mut Client) -> Result<Snapshot> {
    let mut objects = Snapshot::new();
    for kind in kinds() {
        let mut lap = crate::build::Lap::start();
        let rows = client
            .query(kind.sql.as_str(), &[])
            .context(format!("reading the {}s of the catalog", kind.kind))?;
        for row in rows {
            let name: String = row.get(0);
            let fields = kind
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| (*f, row.get::<_, Option<String>>(i + 2)))
                .collect();
            objects.insert(
                (kind.kind, name),
                Object {
                    table: row.get(1),
                    fields,
                },
            );
        }
        lap.log(&format!("catalog: {}s", kind.kind));
    }
    Ok(objects)
}

/// The database's own owner and privileges per role, as `database` holds them now
/// (read from `pg_database` over any session).
pub(crate) fn database_objects(client: &mut Client, database: &str) -> Result<Snapshot> {
    let rows = client
        .query(
            &format!(
                "SELECT 'database ' || d.datname::text || ' to ' || {ROLE}, {}
                   FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                  WHERE d.datname = $1 GROUP BY d.datname, a.grantee
                 UNION ALL
                 SELECT 'database ' || d.datname::text, pg_get_userbyid(d.datdba)::text
                   FROM pg_database d WHERE d.datname = $1",
                "string_agg(a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END, ', '
                   ORDER BY a.privilege_type)"
            ),
            &[&database],
        )
        .context(format!("reading the privileges on database {database}"))?;
    let mut objects = Snapshot::new();
    for row in rows {
        let name: String = row.get(0);
        let value: Option<String> = row.get(1);
        let (kind, field) = if name.contains(" to ") {
            ("grant", "privileges")
        } else {
            ("owner", "owner")
        };
        objects.insert(
            (kind, name),
            Object {
                table: None,
                fields: vec![(field, value)],
            },
        );
    }
    Ok(objects)
}
