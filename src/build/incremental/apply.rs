//! Keeping a build's outline, reading it back, and applying a plan to a copy of the
//! last build, all in sessions of the tree's DDL login (the administrator only
//! reads the outline, a table it owns that no tree can put a trigger, rule or policy
//! on).

use crate::build::BuildPath;
use crate::build::incremental::keys::{delete_sql, eligibility_sql, overlap_sql, row_keys};
use crate::build::incremental::outline::{Body, Kind, Recorded, Statement};
use crate::build::incremental::rules::{Action, Lookups, index_name};
use crate::build::phases::{finish_open, session_setup};
use crate::build::record::{BUILD_TABLE, ENGINE_OUTLINE, ENGINE_OUTLINE_KEYS, ENGINE_RECORD};
use crate::build::single::numeric::failure_in;
use crate::build::staging::build_sessions;
use crate::config::Config;
use crate::config::ident::{quote_ident, quote_literal};
use crate::error::{Error, PgContext, Result};
use crate::tree::manifest::{APPLIED_SCRIPTS_TABLE, Manifest};
use crate::tree::roles::role_name;
use postgres::{Client, GenericClient};
use std::collections::HashSet;
use std::io::Write;

/// The outline a build left in the database `client` is connected to: the digest of
/// what else it depended on, and its statements; or why there is none to use (a
/// database built before outlines, by a tree without one, or before outlines kept
/// index names).
pub(crate) fn read(
    client: &mut Client,
) -> Result<std::result::Result<(String, Vec<Recorded>), String>> {
    let columns: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_attribute
              WHERE attrelid = to_regclass($1) AND attname IN ('digest', 'name')
                AND NOT attisdropped",
            &[&ENGINE_OUTLINE],
        )
        .context("looking for the build's outline")?
        .get(0);
    match columns {
        2 => {}
        0 => return Ok(Err("the last build kept no outline".into())),
        _ => {
            return Ok(Err(
                "the last build's outline is of an older format (no index names)".into(),
            ));
        }
    }
    let rows = client
        .query(
            &format!(
                "SELECT ordinal, digest, kind, subject, gset, name, path FROM {ENGINE_OUTLINE}
                  ORDER BY ordinal"
            ),
            &[],
        )
        .context("reading the build's outline")?;
    let Some(first) = rows.first().filter(|r| r.get::<_, i32>(0) == 0) else {
        return Ok(Err("the last build kept no outline".into()));
    };
    let base: String = first.get(1);
    let mut statements = Vec::with_capacity(rows.len());
    for r in &rows[1..] {
        let gset = match r.get::<_, Option<String>>(4) {
            None => None,
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| {
                Error::Internal(format!(
                    "the build's outline holds a row it cannot read: {e}"
                ))
            })?),
        };
        statements.push(Recorded {
            path: r.get(6),
            digest: r.get(1),
            kind: Kind::parse(r.get(2)),
            subject: r.get(3),
            name: r.get(5),
            gset,
        });
    }
    Ok(Ok((base, statements)))
}

/// The digests of the statements whose row keys the last build kept
/// ([`ENGINE_OUTLINE_KEYS`]).
pub(crate) fn read_keyed(client: &mut Client) -> Result<HashSet<String>> {
    Ok(client
        .query(&format!("SELECT digest FROM {ENGINE_OUTLINE_KEYS}"), &[])
        .context("reading the build's row keys")?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Writes the outline into the database `tx` writes to (acting as the owner group),
/// and keeps the row keys of its inserts ([`store_keys`]). `last` is the outline of
/// the build the database is a copy of (an incremental build: the base is unchanged,
/// and only the rows that differ are written); a full build starts from nothing.
pub(crate) fn store(
    tx: &mut impl GenericClient,
    base: &str,
    outline: &[Statement],
    last: Option<&[Recorded]>,
) -> Result<()> {
    let gset_of = |s: &Statement| {
        s.gset
            .as_ref()
            .map(|row| serde_json::json!(row).to_string())
    };
    // An incremental build's copy holds the last build's outline: only the rows
    // that differ are written again (an edit replacing statements keeps the stream's
    // length: those rows; one adding or removing some shifts every row after it).
    let rewrite: Vec<usize> = match last {
        Some(last) => {
            let same = |i: usize| {
                let (s, r) = (&outline[i], &last[i]);
                r.digest == s.digest
                    && r.kind == s.kind
                    && r.subject == s.subject
                    && r.path == s.path
                    && r.name == index_name(s)
                    && r.gset == s.gset
            };
            if last.len() == outline.len() {
                (0..outline.len()).filter(|&i| !same(i)).collect()
            } else {
                let first = (0..outline.len().min(last.len()))
                    .find(|&i| !same(i))
                    .unwrap_or(outline.len().min(last.len()));
                (first..outline.len()).collect()
            }
        }
        None => (0..outline.len()).collect(),
    };
    let mut ordinals = Vec::new();
    let mut paths = Vec::new();
    let mut digests = Vec::new();
    let mut kinds = Vec::new();
    let mut subjects = Vec::new();
    let mut names = Vec::new();
    let mut gsets: Vec<Option<String>> = Vec::new();
    if last.is_none() {
        ordinals.push(0i32);
        paths.push(String::new());
        digests.push(base.to_string());
        kinds.push("base".to_string());
        subjects.push(String::new());
        names.push(String::new());
        gsets.push(None);
    }
    for &i in &rewrite {
        let s = &outline[i];
        ordinals.push(i as i32 + 1);
        paths.push(s.path.clone());
        digests.push(s.digest.clone());
        kinds.push(s.kind.as_str().to_string());
        subjects.push(s.subject.clone());
        names.push(index_name(s));
        gsets.push(gset_of(s));
    }
    match last {
        Some(_) => tx.execute(
            &format!("DELETE FROM {ENGINE_OUTLINE} WHERE ordinal = ANY ($1) OR ordinal > $2"),
            &[&ordinals, &(outline.len() as i32)],
        ),
        None => tx.execute(&format!("DELETE FROM {ENGINE_OUTLINE}"), &[]),
    }
    .context("clearing the build's outline")?;
    tx.execute(
        &format!(
            "INSERT INTO {ENGINE_OUTLINE} (ordinal, path, digest, kind, subject, gset, name)
             SELECT * FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[])"
        ),
        &[
            &ordinals, &paths, &digests, &kinds, &subjects, &gsets, &names,
        ],
    )
    .context("writing the build's outline")?;
    store_keys(tx, outline, last)
}

/// Keeps the row keys of the outline's multi-row inserts by digest. A full build
/// computes every one. An incremental build starts from the copy's, the last
/// build's (`last`): it drops those of the statements gone and computes those of the
/// statements new. The tree's code may write the table too (its DDL login is in the
/// owner group): a full build's scripts run in transactions of their own, hence from
/// nothing; an incremental build is this one transaction, so a row written by it or
/// its subtransactions (`age(xmin) <= 0`) before now is the tree's, and then every
/// key is computed again. A row the tree deleted only loses its statement the
/// finding by key.
fn store_keys(
    tx: &mut impl GenericClient,
    outline: &[Statement],
    last: Option<&[Recorded]>,
) -> Result<()> {
    let last = match last {
        Some(last) => {
            let written_here: bool = tx
                .query_one(
                    &format!(
                        "SELECT EXISTS (SELECT 1 FROM {ENGINE_OUTLINE_KEYS} WHERE age(xmin) <= 0)"
                    ),
                    &[],
                )
                .context("checking the build's row keys")?
                .get(0);
            (!written_here).then_some(last)
        }
        None => None,
    };
    let kept: HashSet<&str> = match last {
        Some(last) => {
            let now: HashSet<&str> = outline.iter().map(|s| s.digest.as_str()).collect();
            let gone: Vec<&str> = last
                .iter()
                .map(|r| r.digest.as_str())
                .filter(|d| !now.contains(d))
                .collect();
            tx.execute(
                &format!("DELETE FROM {ENGINE_OUTLINE_KEYS} WHERE digest = ANY ($1)"),
                &[&gone],
            )
            .context("dropping the row keys of statements gone")?;
            last.iter().map(|r| r.digest.as_str()).collect()
        }
        None => {
            tx.execute(&format!("DELETE FROM {ENGINE_OUTLINE_KEYS}"), &[])
                .context("clearing the build's row keys")?;
            HashSet::new()
        }
    };
    let mut seen = HashSet::new();
    let todo: Vec<&Statement> = outline
        .iter()
        .filter(|s| {
            s.kind == Kind::Insert
                && matches!(s.body, Body::Sql(_))
                && !kept.contains(s.digest.as_str())
                && seen.insert(s.digest.as_str())
        })
        .collect();
    let found = crate::runtime::map_on_cores(
        todo,
        |s| s.body.text().len(),
        |s| row_keys(s.body.text()).map(|(column, keys)| (s.digest.clone(), column, keys)),
    );
    let (mut digests, mut columns, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    for (digest, column, k) in found.into_iter().flatten() {
        digests.push(digest);
        columns.push(column);
        keys.push(serde_json::json!(k).to_string());
    }
    tx.execute(
        &format!(
            "INSERT INTO {ENGINE_OUTLINE_KEYS} (digest, key_column, keys)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
        ),
        &[&digests, &columns, &keys],
    )
    .context("writing the build's row keys")?;
    Ok(())
}

/// What an incremental build applies, and to what.
pub(crate) struct Delta<'a> {
    pub(crate) actions: &'a [Action],
    pub(crate) outline: &'a [Statement],
    pub(crate) base: &'a str,
    /// The build it starts from, for the record.
    pub(crate) based_on: &'a str,
    /// That build's outline.
    pub(crate) last: &'a [Recorded],
    pub(crate) bulk_seed: bool,
}

/// Applies `delta` to `database` (a copy of the last build) in one transaction of a
/// DDL login's session, then ends it as every build ends (`phases::finish_open`),
/// with the record saying `incremental` and what it was based on, and the new
/// outline. Nothing is committed unless everything succeeded.
pub(crate) fn apply(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
    database: &str,
    delta: &Delta<'_>,
) -> Result<()> {
    let owner = role_name(&config.env, "owner");
    // A numeric tree runs as the owner group, an entry tree as the DDL login (see
    // the builders).
    let role = (!manifest.entry_mode()).then_some(owner.as_str());
    let setup = session_setup(delta.bulk_seed, role);
    let mut sessions = build_sessions(admin, config, manifest, database, 1)?;
    let mut tx = sessions[0]
        .transaction()
        .context("opening the incremental build's transaction")?;
    let label = manifest.label();
    // A plan of rows and replaced functions may leave every owner and privilege as
    // the build it copied has them, the full build's: see `keeps_objects`.
    let rows_and_functions = delta.actions.iter().all(|a| match a {
        Action::Keyed { .. } => true,
        Action::Run(i) => matches!(delta.outline[*i].kind, Kind::Insert | Kind::Function),
        Action::Empty { .. } | Action::Drop { .. } => false,
    });
    let definers_before = if rows_and_functions {
        Some(definers(&mut tx)?)
    } else {
        None
    };
    // Statements under the same settings go as one batch: a failure anywhere makes
    // the caller build in full, which names the failing statement itself.
    let mut batch = Batch::default();
    for action in delta.actions {
        let (at, what) = match action {
            Action::Empty { table, at } => {
                (*at, Some(format!("TRUNCATE {table} RESTART IDENTITY")))
            }
            Action::Drop { sql, at } => (*at, Some(sql.clone())),
            Action::Keyed { at, .. } => (*at, None),
            Action::Run(i) => (*i, None),
        };
        let s = &delta.outline[at];
        let path = format!("{label}/{}", s.path);
        if batch.prelude.as_deref() != Some(s.prelude.as_str()) {
            batch.flush(&mut tx)?;
            tx.batch_execute(&format!("RESET ALL;\n{setup}{}", s.prelude))
                .context(format!("{path}:{}: restoring the session settings", s.line))?;
            batch.prelude = Some(s.prelude.clone());
        }
        if let Action::Keyed {
            table,
            removed,
            added_keys,
            lookups,
            ..
        } = action
        {
            batch.flush(&mut tx)?;
            delete_by_keys(&mut tx, table, removed, (added_keys, lookups))?;
            continue;
        }
        match (what, &s.body) {
            (Some(sql), _) => batch.push(&sql, &path),
            (None, Body::Sql(sql)) if s.kind == Kind::Function => {
                batch.push(&or_replace(sql), &path)
            }
            (None, Body::Sql(sql)) => batch.push(sql, &path),
            (None, Body::Copy { statement, data }) => {
                batch.flush(&mut tx)?;
                copy_again(&mut tx, s, (statement, data), &path)?;
            }
        }
    }
    batch.flush(&mut tx)?;
    // The copy's records go: the build's end writes them again (our tree's copy of
    // the record is one row behind a primary key).
    tx.batch_execute(&format!(
        "RESET ALL; SET LOCAL synchronous_commit = off; SET LOCAL ROLE {};
         DELETE FROM {};
         DO $ores$ BEGIN
           IF to_regclass({}) IS NOT NULL THEN EXECUTE format('DELETE FROM %I', {}); END IF;
         END $ores$;",
        quote_ident(&owner),
        quote_ident(APPLIED_SCRIPTS_TABLE),
        quote_literal(BUILD_TABLE),
        quote_literal(BUILD_TABLE),
    ))
    .context("clearing the copy's records")?;
    let objects = match definers_before {
        Some(before) => !keeps_objects(&mut tx, config, manifest, &before)?,
        None => true,
    };
    finish_open(
        &mut tx,
        config,
        database,
        manifest,
        (BuildPath::Incremental, objects),
    )?;
    tx.execute(
        &format!("UPDATE {ENGINE_RECORD} SET based_on = $1"),
        &[&delta.based_on],
    )
    .context("recording what the build was based on")?;
    store(&mut tx, delta.base, delta.outline, Some(delta.last))?;
    tx.commit().context("committing the incremental build")
}

/// The `SECURITY DEFINER` functions of `public`, the only functions the build's end
/// grants on.
fn definers(tx: &mut postgres::Transaction<'_>) -> Result<String> {
    Ok(tx
        .query_one(
            "SELECT coalesce(string_agg(p, ',' ORDER BY p), '') FROM (
               SELECT oid::regprocedure::text AS p FROM pg_proc
                WHERE pronamespace = 'public'::regnamespace AND prosecdef) d",
            &[],
        )
        .context("listing SECURITY DEFINER functions")?
        .get(0))
}

/// Whether a plan of inserts and functions (rows found by key, functions replaced)
/// left the owners and privileges of the build it copied, which are the full
/// build's, so that the build's end need not hand objects over and grant again: the
/// DDL login owns nothing here (a new object would be its own), and the `SECURITY
/// DEFINER` functions are those there were (`definers_before`). Relations, the rest
/// of what is granted on, are only made by statements such a plan does not hold.
fn keeps_objects(
    tx: &mut postgres::Transaction<'_>,
    config: &Config,
    manifest: &Manifest,
    definers_before: &str,
) -> Result<bool> {
    let ddl = crate::build::login::ddl_role(manifest, &config.env)?;
    let owns: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_shdepend
                             WHERE dbid = (SELECT oid FROM pg_database
                                            WHERE datname = current_database())
                               AND refclassid = 'pg_authid'::regclass
                               AND refobjid = (SELECT oid FROM pg_roles WHERE rolname = $1)
                               AND deptype = 'o')",
            &[&ddl],
        )
        .context(format!("looking for what {ddl} owns"))?
        .get(0);
    Ok(!owns && definers(tx)? == definers_before)
}

/// Deletes the rows the statements of digests `removed` wrote into `table`, by the
/// keys the last build kept, after checking in the catalog that the table's rows are
/// the union of its inserts' ([`eligibility_sql`]) and that no row an unchanged check
/// looks up is among the removed or added ones (compared as values of the key
/// column). Each key must delete exactly one row. A refusal is
/// [`Error::Unsupported`], on which the caller empties and fills the table instead.
fn delete_by_keys(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    removed: &[String],
    (added_keys, lookups): (&[String], &Lookups),
) -> Result<()> {
    let rows = tx
        .query(
            &format!("SELECT key_column, keys FROM {ENGINE_OUTLINE_KEYS} WHERE digest = ANY ($1)"),
            &[&removed],
        )
        .context(format!("{table}: reading the last build's row keys"))?;
    let refuse = |why: &str| Err(Error::Unsupported(format!("{table}: {why}")));
    let mut column = lookups.column.clone();
    let mut keys: Vec<String> = Vec::new();
    for r in &rows {
        let c: String = r.get(0);
        if column.get_or_insert_with(|| c.clone()) != &c {
            return refuse("its inserts and checks name different key columns");
        }
        let k: Vec<String> = serde_json::from_str(r.get(1)).map_err(|e| {
            Error::Internal(format!(
                "{table}: the last build's row keys are unreadable: {e}"
            ))
        })?;
        keys.extend(k);
    }
    // Two removed statements alike have one digest: each wrote its own rows.
    let distinct: HashSet<&String> = removed.iter().collect();
    if rows.len() != distinct.len() || distinct.len() != removed.len() {
        return refuse("the last build kept no keys for a removed insert");
    }
    check_keyed(tx, table, column.as_deref())?;
    let Some(column) = column else {
        // Only unkeyed rows added, and no check looks any up.
        return Ok(());
    };
    let changed: Vec<String> = keys.iter().chain(added_keys).cloned().collect();
    if !lookups.keys.is_empty() && !changed.is_empty() {
        let overlap: bool = tx
            .query_one(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                  WHERE attrelid = to_regclass($1) AND attname = $2",
                &[&table, &column],
            )
            .and_then(|r| {
                let ty: String = r.get(0);
                tx.query_one(&overlap_sql(&ty, &lookups.keys, &changed), &[])
            })
            .context(format!(
                "{table}: comparing the changed rows with the rows checked"
            ))?
            .get(0);
        if overlap {
            return refuse("the change removes or adds a row a later check looks up");
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    let deleted = tx
        .execute(&delete_sql(table, &column, &keys), &[])
        .context(format!("{table}: deleting the rows of the removed inserts"))?;
    if deleted != keys.len() as u64 {
        return refuse(&format!(
            "{} keys of removed inserts deleted {deleted} rows",
            keys.len()
        ));
    }
    Ok(())
}

/// Refuses (an error) unless `table` is one whose rows may be found by `column`.
fn check_keyed(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    column: Option<&str>,
) -> Result<()> {
    let eligible: bool = tx
        .query_one(eligibility_sql(), &[&table, &column])
        .context(format!("{table}: checking its rows may be found by key"))?
        .get(0);
    if eligible {
        Ok(())
    } else {
        Err(Error::Unsupported(format!(
            "{table}: its rows cannot be found by key (a trigger, rule, foreign key, identity, default or primary key other than one column)"
        )))
    }
}

/// Statements waiting to be sent together, and the settings they run under.
#[derive(Default)]
struct Batch {
    prelude: Option<String>,
    sql: String,
    first: Option<String>,
}

impl Batch {
    fn push(&mut self, statement: &str, path: &str) {
        self.first.get_or_insert_with(|| path.to_string());
        self.sql.push_str(statement);
        self.sql.push_str(";\n");
    }

    fn flush(&mut self, tx: &mut postgres::Transaction<'_>) -> Result<()> {
        if self.sql.is_empty() {
            return Ok(());
        }
        let sql = std::mem::take(&mut self.sql);
        let path = self.first.take().unwrap_or_default();
        tx.batch_execute(&sql)
            .map_err(|e| Error::Script(failure_in(&path, &sql, &e)))
    }
}

/// Sends a `\copy` again, its data with it (everything else goes in a [`Batch`]).
fn copy_again(
    tx: &mut postgres::Transaction<'_>,
    s: &Statement,
    (statement, data): (&str, &str),
    path: &str,
) -> Result<()> {
    let located = |e: postgres::Error| {
        let mut f = failure_in(path, statement, &e);
        f.line = Some(s.line + f.line.map_or(0, |l| l - 1));
        Error::Script(f)
    };
    let mut writer = tx.copy_in(statement).map_err(located)?;
    writer.write_all(data.as_bytes()).map_err(|e| Error::Io {
        context: format!("{path}:{}: sending \\copy data", s.line),
        source: e,
    })?;
    writer.finish().map_err(located)?;
    Ok(())
}

/// `CREATE FUNCTION ..` as `CREATE OR REPLACE FUNCTION ..` (unchanged when it says so
/// already).
fn or_replace(sql: &str) -> String {
    let trimmed = sql.trim_start();
    let lead = sql.len() - trimmed.len();
    let rest = &trimmed[6..];
    let words: Vec<String> = rest
        .split_whitespace()
        .take(2)
        .map(str::to_lowercase)
        .collect();
    if words.first().map(String::as_str) == Some("or") {
        return sql.to_string();
    }
    format!("{}CREATE OR REPLACE{}", &sql[..lead], rest)
}

#[cfg(test)]
mod tests {
    use super::or_replace;

    #[test]
    fn functions_replace() {
        assert_eq!(
            or_replace("create function f() returns int"),
            "CREATE OR REPLACE function f() returns int"
        );
        assert_eq!(
            or_replace("  CREATE OR REPLACE FUNCTION f()"),
            "  CREATE OR REPLACE FUNCTION f()"
        );
    }
}
