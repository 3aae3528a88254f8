//! The data a recreate would throw away: per table, the rows of the live database
//! that differ from what a fresh build of the tree holds.
//!
//! Rows are compared as digests computed by the server (a 64-bit hash of the row's
//! compared columns, in name order, as text), without the columns that differ
//! between any two builds of one tree: timestamps (the time of the build) and uuids
//! drawn at random by their default. First one query per database digests each
//! table whole (its row count and the sum of its row hashes, which needs no sort);
//! only a table whose
//! digest differs is read row by row, by primary key when it has one the two sides
//! share (so an edited row counts as changed) and as a multiset of row digests
//! otherwise (an edited row then counts as one removed and one added).

use crate::config::ident::quote_ident;
use crate::error::{PgContext, Result};
use crate::tree::manifest::APPLIED_SCRIPTS_TABLE;
use postgres::Client;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Rows that differ, by how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RowCounts {
    /// In the live database only (written after the build).
    pub added: u64,
    /// In both under one primary key, with other values.
    pub changed: u64,
    /// In a fresh build only (deleted from the live database).
    pub removed: u64,
}

impl RowCounts {
    /// Added, changed and removed together.
    pub fn total(&self) -> u64 {
        self.added + self.changed + self.removed
    }
}

/// One tenant's share of a table's differing rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TenantRows {
    /// The rows' `tenant_id`.
    pub tenant_id: String,
    /// The tenant's code, when the live database's tenant table names it.
    pub tenant: Option<String>,
    /// Its rows that differ.
    #[serde(flatten)]
    pub rows: RowCounts,
}

/// One table's rows that differ from a fresh build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TableRows {
    /// The table (schema-qualified outside `public`).
    pub table: String,
    /// Its rows that differ.
    #[serde(flatten)]
    pub rows: RowCounts,
    /// Per tenant, when the table has a `tenant_id` column.
    pub tenants: Vec<TenantRows>,
}

/// Tables whose rows are not data: the records of the build itself, which differ
/// between any two builds and are written again by the next.
const RECORD_TABLES: [&str; 2] = [APPLIED_SCRIPTS_TABLE, crate::build::record::BUILD_TABLE];

/// A table's columns as one side has them.
#[derive(Debug, Default)]
struct Table {
    sql: String,
    columns: BTreeMap<String, (bool, bool)>, // name → (volatile, in primary key)
}

fn tables(client: &mut Client) -> Result<BTreeMap<String, Table>> {
    let rows = client
        .query(
            "SELECT CASE WHEN n.nspname = 'public' THEN '' ELSE n.nspname::text || '.' END
                      || c.relname::text,
                    format('%I.%I', n.nspname, c.relname), a.attname::text,
                    t.typname IN ('timestamp', 'timestamptz')
                      OR (t.typname = 'uuid'
                          AND coalesce(pg_get_expr(d.adbin, d.adrelid), '') LIKE '%random%'),
                    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary
                             AND a.attnum = ANY (i.indkey))
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               JOIN pg_type t ON t.oid = a.atttypid
               LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
              WHERE c.relkind = 'r'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_%'
                AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                                 AND e.objid = c.oid AND e.deptype = 'e')",
            &[],
        )
        .context("reading the tables' columns")?;
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for row in rows {
        let name: String = row.get(0);
        if RECORD_TABLES.contains(&name.as_str()) {
            continue;
        }
        let table = tables.entry(name).or_default();
        table.sql = row.get(1);
        table.columns.insert(row.get(2), (row.get(3), row.get(4)));
    }
    Ok(tables)
}

/// How one table is read on each side: the row digest without the columns not
/// compared, the key when rows can be matched by primary key, and the tenant.
struct Plan {
    name: String,
    live: Query,
    built: Option<Query>,
    keyed: bool,
}

struct Query {
    sql: String,
    hash: String,
    key: String,
    tenant: String,
}

fn query_for(table: &Table, compared: &[&String], key: &Option<Vec<String>>) -> Query {
    // The compared columns in name order, as one row value: the same expression on
    // both sides whatever order the columns stand in, and each type printed one way
    // (a row's text output is a third of the cost of its `jsonb`).
    let columns: Vec<String> = compared
        .iter()
        .map(|c| format!("x.{}", quote_ident(c)))
        .collect();
    let hash = format!("hashtextextended(ROW({})::text, 0)", columns.join(", "));
    let key = match key {
        Some(cols) => format!(
            "jsonb_build_array({})::text",
            cols.iter()
                .map(|c| format!("x.{}", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "NULL::text".into(),
    };
    let tenant = if table.columns.contains_key("tenant_id") {
        "x.tenant_id::text".into()
    } else {
        "NULL::text".into()
    };
    Query {
        sql: table.sql.clone(),
        hash,
        key,
        tenant,
    }
}

fn plans(live: &BTreeMap<String, Table>, built: &BTreeMap<String, Table>) -> Vec<Plan> {
    live.iter()
        .map(|(name, l)| {
            let Some(b) = built.get(name) else {
                return Plan {
                    name: name.clone(),
                    live: query_for(l, &l.columns.keys().collect::<Vec<_>>(), &None),
                    built: None,
                    keyed: false,
                };
            };
            let volatile = |c: &String| {
                l.columns.get(c).is_some_and(|v| v.0) || b.columns.get(c).is_some_and(|v| v.0)
            };
            let compared: Vec<&String> = l
                .columns
                .keys()
                .filter(|c| b.columns.contains_key(*c) && !volatile(c))
                .collect();
            let pk = |t: &Table| -> Vec<String> {
                t.columns
                    .iter()
                    .filter(|(_, v)| v.1)
                    .map(|(c, _)| c.clone())
                    .collect()
            };
            let (lk, bk) = (pk(l), pk(b));
            let key = (!lk.is_empty() && lk == bk && lk.iter().all(|c| compared.contains(&c)))
                .then_some(lk);
            Plan {
                name: name.clone(),
                live: query_for(l, &compared, &key),
                built: Some(query_for(b, &compared, &key)),
                keyed: key.is_some(),
            }
        })
        .collect()
}

/// Each table's row count and digest of its sorted row digests, in one query.
fn digests(client: &mut Client, queries: &[&Query]) -> Result<Vec<(i64, String)>> {
    if queries.is_empty() {
        return Ok(Vec::new());
    }
    let sql = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            format!(
                "SELECT {i} AS i, count(*)::bigint, coalesce(sum(h::numeric), 0)::text
                   FROM (SELECT {} AS h FROM {} x) s",
                q.hash, q.sql
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL\n");
    let mut out = vec![(0, String::new()); queries.len()];
    for row in client
        .query(&format!("{sql}\nORDER BY 1"), &[])
        .context("digesting the tables' rows")?
    {
        out[row.get::<_, i32>(0) as usize] = (row.get(1), row.get(2));
    }
    Ok(out)
}

/// Every row of one table as `(key, digest, tenant)`.
type RowDigests = Vec<(Option<String>, String, Option<String>)>;

fn rows(client: &mut Client, q: &Query) -> Result<RowDigests> {
    Ok(client
        .query(
            &format!(
                "SELECT {}, ({})::text, {} FROM {} x",
                q.key, q.hash, q.tenant, q.sql
            ),
            &[],
        )
        .context(format!("reading the rows of {}", q.sql))?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Counts what differs between `live` and `built` rows, per tenant.
fn merge(live: RowDigests, built: RowDigests, keyed: bool) -> BTreeMap<Option<String>, RowCounts> {
    let mut counts: BTreeMap<Option<String>, RowCounts> = BTreeMap::new();
    if keyed {
        let built: HashMap<Option<String>, (String, Option<String>)> =
            built.into_iter().map(|(k, h, t)| (k, (h, t))).collect();
        let mut seen = std::collections::HashSet::new();
        for (k, h, t) in live {
            match built.get(&k) {
                None => counts.entry(t).or_default().added += 1,
                Some((bh, _)) if *bh != h => counts.entry(t).or_default().changed += 1,
                Some(_) => {}
            }
            seen.insert(k);
        }
        for (k, (_, t)) in built {
            if !seen.contains(&k) {
                counts.entry(t).or_default().removed += 1;
            }
        }
    } else {
        let mut pool: HashMap<String, Vec<Option<String>>> = HashMap::new();
        for (_, h, t) in built {
            pool.entry(h).or_default().push(t);
        }
        for (_, h, t) in live {
            match pool.get_mut(&h).and_then(|v| v.pop()) {
                Some(_) => {}
                None => counts.entry(t).or_default().added += 1,
            }
        }
        for (_, ts) in pool {
            for t in ts {
                counts.entry(t).or_default().removed += 1;
            }
        }
    }
    counts
}

/// Per table, the rows of `live` that differ from `built`'s (tables only the tree
/// builds are the object comparison's concern: a recreate loses nothing there).
pub(crate) fn compare_rows(live: &mut Client, built: &mut Client) -> Result<Vec<TableRows>> {
    let (l, b) = std::thread::scope(|s| {
        let l = s.spawn(|| tables(live));
        let b = tables(built);
        (l.join(), b)
    });
    let l = l.map_err(|_| crate::Error::Internal("the catalog reader panicked".into()))??;
    let mut lap = crate::build::Lap::start();
    let plans = plans(&l, &b?);
    let live_q: Vec<&Query> = plans.iter().map(|p| &p.live).collect();
    let built_q: Vec<&Query> = plans.iter().filter_map(|p| p.built.as_ref()).collect();
    let (ld, bd) = std::thread::scope(|s| {
        let ld = s.spawn(|| digests(live, &live_q));
        let bd = digests(built, &built_q);
        (ld.join(), bd)
    });
    let ld = ld.map_err(|_| crate::Error::Internal("the row digest panicked".into()))??;
    let bd = bd?;
    lap.log("rows: table digests");
    let mut bd = bd.into_iter();
    let mut out = Vec::new();
    for (plan, live_digest) in plans.iter().zip(ld) {
        let built_digest = plan.built.as_ref().and_then(|_| bd.next());
        if built_digest.as_ref() == Some(&live_digest)
            || (plan.built.is_none() && live_digest.0 == 0)
        {
            continue;
        }
        let live_rows = rows(live, &plan.live)?;
        let built_rows = match &plan.built {
            Some(q) => rows(built, q)?,
            None => Vec::new(),
        };
        let per_tenant = merge(live_rows, built_rows, plan.keyed);
        let mut total = RowCounts::default();
        let mut tenants = Vec::new();
        for (tenant, c) in per_tenant {
            total.added += c.added;
            total.changed += c.changed;
            total.removed += c.removed;
            if let Some(tenant_id) = tenant {
                tenants.push(TenantRows {
                    tenant_id,
                    tenant: None,
                    rows: c,
                });
            }
        }
        if total.total() > 0 {
            out.push(TableRows {
                table: plan.name.clone(),
                rows: total,
                tenants,
            });
        }
    }
    lap.log("rows: differing tables read");
    name_tenants(live, &mut out)?;
    Ok(out)
}

/// The tenants' codes, from the live database's tenant table when it has one.
fn name_tenants(live: &mut Client, tables: &mut [TableRows]) -> Result<()> {
    let ids: Vec<String> = tables
        .iter()
        .flat_map(|t| t.tenants.iter().map(|r| r.tenant_id.clone()))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let has: bool = live
        .query_one(
            "SELECT to_regclass('ores_iam_tenants_tbl') IS NOT NULL",
            &[],
        )
        .context("looking for the tenant table")?
        .get(0);
    if !has {
        return Ok(());
    }
    // Read through the row's JSON: another tree's tenant table may lack a column.
    let codes: HashMap<String, String> = live
        .query(
            "SELECT DISTINCT ON (1) to_jsonb(t) ->> 'tenant_id', to_jsonb(t) ->> 'code'
               FROM ores_iam_tenants_tbl t WHERE to_jsonb(t) ->> 'tenant_id' = ANY ($1)",
            &[&ids],
        )
        .context("naming the tenants")?
        .iter()
        .filter_map(|r| {
            Some((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
            ))
        })
        .collect();
    for t in tables.iter_mut().flat_map(|t| t.tenants.iter_mut()) {
        t.tenant = codes.get(&t.tenant_id).cloned();
    }
    Ok(())
}
