//! Recreating one entity in place: drop its tables, re-run its create and populate
//! scripts, restore what other tables had pointing at it, re-apply grants.
//!
//! All of it happens in one transaction, and before committing we compare an
//! inventory of the schema's objects with the one taken before: if anything outside
//! the entity would be gone (a foreign key, a view, a policy, a trigger on another
//! table that `DROP ... CASCADE` took with it), the transaction is rolled back and
//! the objects are named. Rows are never discarded without `force`.

use crate::build::login::open_sessions;
use crate::build::single::numeric::failure_in;
use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result};
use crate::lifecycle::EnvLock;
pub use crate::lifecycle::entity_entry::entry_entities;
use crate::lifecycle::version::{Drift, drift};
use crate::server::admin::{connect_admin, database_exists};
use crate::server::grants::apply_grants_in;
use crate::server::rights::AdminRights;
use crate::server::roles::role_name;
pub use crate::tree::lint::created_relations;
use crate::tree::manifest::{Manifest, Phase, Script};
use crate::tree::registry::PROVISIONER_COMPONENTS;
use std::collections::BTreeSet;

/// What [`recreate_entity`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EntityReport {
    /// The entity key.
    pub entity: String,
    /// Scripts re-run, in order.
    pub scripts: Vec<String>,
    /// Tables dropped and created again.
    pub tables: Vec<String>,
    /// Rows the tables held before (discarded; only possible with `force`).
    pub rows_discarded: i64,
    /// Foreign keys of other tables that were re-created.
    pub foreign_keys_restored: Vec<String>,
    /// Whether the database was built from another manifest than this binary's.
    pub database_was_stale: bool,
}

/// Re-runs one entity's scripts from the compiled-in manifest.
pub fn recreate_entity(config: &Config, entity: &str, force: bool) -> Result<EntityReport> {
    recreate_entity_with(config, Manifest::compiled(), entity, force)
}

/// Entity keys closest to `entity`, best first (for "did you mean").
pub fn close_matches(manifest: &Manifest, entity: &str) -> Vec<String> {
    if manifest.entry_mode() {
        return closest(
            crate::lifecycle::entity_entry::entry_entities(manifest),
            entity,
        );
    }
    closest(
        manifest
            .entities()
            .into_iter()
            .map(str::to_string)
            .collect(),
        entity,
    )
}

/// Of `keys`, those closest to `entity`, best first.
pub(crate) fn closest(keys: Vec<String>, entity: &str) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = keys
        .iter()
        .map(|e| {
            let e = e.as_str();
            let mut score = strsim::jaro_winkler(entity, e);
            if e.contains(entity) || entity.contains(e) {
                score = score.max(0.9);
            }
            (score, e)
        })
        .filter(|(score, _)| *score >= 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(5)
        .map(|(_, e)| e.to_string())
        .collect()
}

/// [`recreate_entity`] with another manifest.
pub fn recreate_entity_with(
    config: &Config,
    manifest: &Manifest,
    entity: &str,
    force: bool,
) -> Result<EntityReport> {
    crate::runtime::off_runtime(|| {
        config.validate()?;
        crate::lifecycle::target::check_name(&config.database)?;
        if manifest.entry_mode() {
            return crate::lifecycle::entity_entry::recreate(config, manifest, entity, force);
        }
        let scripts = entity_scripts(config, manifest, entity)?;
        let tables = created_relations(
            scripts
                .iter()
                .filter(|s| s.phase == Phase::Create)
                .map(|s| s.sql.as_ref()),
        );

        // Serialised with recreate/teardown of the same environment, until the commit.
        let (_lock, mut sessions, stale) = entity_session(config, manifest)?;
        // The DDL login (even acting as the owner group) is held to the forced
        // row-level security, which would hide other tenants' rows from what follows.
        let unforce = true;
        // Everything from here to the commit is one transaction: any failure, or a
        // refusal, leaves the database as it was.
        let (mut tx, held) = hold_entity(&mut sessions[0], config, entity, &tables, force)?;
        let Held {
            existing,
            tables_only,
            rows,
            foreign_keys,
            before,
        } = held;

        let owner = role_name(&config.env, "owner");
        drop_and_rerun(&mut tx, &owner, &existing, &scripts)?;
        let restored = restore_foreign_keys(&mut tx, &foreign_keys, &tables_only, unforce)?;
        reapply_grants(&mut tx, &owner, &config.env, manifest)?;
        refuse_lost_objects(&mut tx, entity, &before)?;
        tx.commit().context("committing the recreated entity")?;
        Ok(EntityReport {
            entity: entity.to_string(),
            scripts: scripts.iter().map(|s| s.path.to_string()).collect(),
            tables: existing,
            rows_discarded: rows.iter().map(|(_, n)| n).sum(),
            foreign_keys_restored: restored,
            database_was_stale: stale,
        })
    })
}

/// The environment's lock (held until the rebuild commits), a session of the DDL
/// login on the live database (the entity's scripts are the tree's code: they run as
/// in a build, `build/login.rs`, never as the administrator), and whether the
/// database was built from another manifest. Both layouts' rebuilds start here.
pub(crate) fn entity_session(
    config: &Config,
    manifest: &Manifest,
) -> Result<(EnvLock, Vec<postgres::Client>, bool)> {
    let mut lock = EnvLock::acquire(connect_admin(config)?, config)?;
    join_owner_in(lock.client(), config)?;
    let mut sessions = open_sessions(lock.client(), config, manifest, &config.database, 1, false)?;
    let stale = is_stale(&mut sessions[0], config, manifest)?;
    Ok((lock, sessions, stale))
}

/// What an entity's rebuild finds once it holds the entity's tables.
pub(crate) struct Held {
    /// The entity's relations that exist now.
    pub(crate) existing: Vec<String>,
    /// Those of them that are tables (locked against every other session).
    pub(crate) tables_only: Vec<String>,
    /// Rows each table holds (the rebuild was refused if any and not forced).
    pub(crate) rows: Vec<(String, i64)>,
    /// Foreign keys from other tables into the entity's, to restore.
    pub(crate) foreign_keys: Vec<ForeignKey>,
    /// Every object outside the entity, to check that none is lost.
    pub(crate) before: BTreeSet<String>,
}

/// Opens the rebuild's one transaction on `client` (a DDL login's session) and takes
/// hold of the entity: its tables locked, their rows counted (refused unless
/// `force`), the foreign keys into them and every other object noted. Both layouts'
/// rebuilds begin here.
pub(crate) fn hold_entity<'c>(
    client: &'c mut postgres::Client,
    config: &Config,
    entity: &str,
    tables: &[String],
    force: bool,
) -> Result<(postgres::Transaction<'c>, Held)> {
    let mut tx = client
        .transaction()
        .context("opening the recreate-entity transaction")?;
    let ms = config.lock_timeout.as_millis().max(1);
    tx.batch_execute(&format!("SET LOCAL lock_timeout = {ms}"))
        .context("setting lock timeout")?;
    let (existing, tables_only) = lock_relations(&mut tx, tables)?;
    // A DDL login, even acting as the owner group, is held to forced row-level
    // security, which would hide other tenants' rows from the count.
    let rows = count_rows_unless_refused(&mut tx, entity, &tables_only, true, force)?;
    let foreign_keys = incoming_foreign_keys(&mut tx, &tables_only)?;
    let before = inventory(&mut tx, &existing)?;
    Ok((
        tx,
        Held {
            existing,
            tables_only,
            rows,
            foreign_keys,
            before,
        },
    ))
}

/// The entity's scripts in manifest order, refused when there are none or when
/// re-running them alone could not work or is not ours to do.
fn entity_scripts<'m>(
    config: &Config,
    manifest: &'m Manifest,
    entity: &str,
) -> Result<Vec<&'m Script>> {
    let scripts = manifest.entity_scripts(entity);
    if scripts.is_empty() {
        return Err(Error::UnknownEntity {
            entity: entity.to_string(),
            suggestions: close_matches(manifest, entity),
        });
    }
    if scripts
        .iter()
        .any(|s| PROVISIONER_COMPONENTS.contains(&s.component.as_ref()))
    {
        return Err(Error::Protected {
            database: config.database.clone(),
            reason: format!(
                "entity {entity} is the provisioner's own record; rebuild the whole database with `compass db recreate`"
            ),
        });
    }
    Ok(scripts)
}

/// Checks, on the environment lock's session, that the database is the environment's
/// and exists, and makes the login a member of the owner group, as which the
/// entity's scripts run; returns the login's rights.
pub(crate) fn join_owner_in(client: &mut postgres::Client, config: &Config) -> Result<AdminRights> {
    crate::lifecycle::target::check_environment(client, config, &config.database)?;
    if !database_exists(client, &config.database)? {
        return Err(Error::NoSuchDatabase(config.database.clone()));
    }
    let rights = AdminRights::detect(client)?;
    rights.join_owner(client, &config.env)?;
    Ok(rights)
}

/// Whether the database was built from another manifest; refused when it has no
/// build record, since its tables may then not be ours to drop.
pub(crate) fn is_stale(
    client: &mut postgres::Client,
    config: &Config,
    manifest: &Manifest,
) -> Result<bool> {
    match drift(client, manifest)? {
        Drift::Current(_) => Ok(false),
        Drift::Stale(_) => Ok(true),
        Drift::NotOres => Err(Error::Protected {
            database: config.database.clone(),
            reason: "it has no build record, so it is not an ORE Studio database; build it with `compass db recreate`".into(),
        }),
    }
}

/// Which of the relations the entity's scripts create exist now, and which of those
/// are tables; the tables are locked against every other session.
pub(crate) fn lock_relations(
    tx: &mut postgres::Transaction<'_>,
    tables: &[String],
) -> Result<(Vec<String>, Vec<String>)> {
    let existing: Vec<String> = tx
        .query(
            "SELECT c.relname::text FROM pg_class c
              WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1)
              ORDER BY 1",
            &[&tables],
        )
        .context("finding the entity's relations")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let tables_only: Vec<String> = tx
        .query(
            "SELECT c.relname::text FROM pg_class c
              WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1)
                AND c.relkind IN ('r', 'p')
              ORDER BY 1",
            &[&existing],
        )
        .context("finding the entity's tables")?
        .iter()
        .map(|r| r.get(0))
        .collect();

    // Nobody writes while we count and rebuild; a busy table makes us wait at most
    // the lock timeout, then fail with nothing changed.
    if !tables_only.is_empty() {
        let list = tables_only
            .iter()
            .map(|t| quote_ident(t))
            .collect::<Vec<_>>()
            .join(", ");
        tx.batch_execute(&format!("LOCK TABLE {list} IN ACCESS EXCLUSIVE MODE"))
            .context(format!("locking {}", tables_only.join(", ")))?;
    }
    Ok((existing, tables_only))
}

/// The tables among `tables_only` that hold rows, and how many; refused unless
/// `force`, since the rows are discarded.
pub(crate) fn count_rows_unless_refused(
    tx: &mut postgres::Transaction<'_>,
    entity: &str,
    tables_only: &[String],
    unforce: bool,
    force: bool,
) -> Result<Vec<(String, i64)>> {
    // Counted as the administrator: row-level security would hide other tenants' rows
    // from the owner role and make a full table look empty. A login that is not a
    // superuser counts as the tables' owner with the forcing lifted: the tables are
    // locked, and dropped or put back as they were before anyone else sees them.
    // With row_security off, a table still under a policy fails the count rather
    // than look emptier than it is.
    let lifted = if unforce {
        lift_forced_rls(tx, tables_only)?
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    for t in tables_only {
        let n: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {}", quote_ident(t)), &[])
            .context(format!("counting rows of {t}"))?
            .get(0);
        if n > 0 {
            rows.push((t.clone(), n));
        }
    }
    if !rows.is_empty() && !force {
        return Err(Error::EntityHasRows {
            entity: entity.to_string(),
            rows,
        });
    }
    if unforce {
        // The entity's own tables are dropped below; those kept get FORCE back.
        restore_forced_rls(tx, &lifted)?;
    }
    Ok(rows)
}

/// Drops the entity's relations and re-runs its scripts, as the owner group so that
/// what they create is owned as a full build would own it.
fn drop_and_rerun(
    tx: &mut postgres::Transaction<'_>,
    owner: &str,
    existing: &[String],
    scripts: &[&Script],
) -> Result<()> {
    tx.batch_execute(&format!("SET LOCAL ROLE {}", quote_ident(owner)))
        .context(format!("switching to {owner}"))?;
    for rel in drop_statements(tx, existing)? {
        tx.batch_execute(&rel)
            .context(format!("dropping the entity's relations ({rel})"))?;
    }
    for script in scripts {
        tx.batch_execute(&script.sql)
            .map_err(|e| Error::Script(failure_in(&script.path, &script.sql, &e)))?;
    }
    Ok(())
}

/// Puts back the foreign keys other tables had on the entity's tables (the drop's
/// CASCADE took them); returns them as `name on table`.
pub(crate) fn restore_foreign_keys(
    tx: &mut postgres::Transaction<'_>,
    foreign_keys: &[ForeignKey],
    tables_only: &[String],
    unforce: bool,
) -> Result<Vec<String>> {
    // Restored as the administrator: validating a foreign key as the owner role runs
    // its check query under the referencing table's forced row-level security, which
    // hides other tenants' rows and would pass a constraint that their rows violate.
    tx.batch_execute("RESET ROLE")
        .context("returning to the administrator")?;
    // Not a superuser: the check runs as the tables' owner, under forced
    // row-level security unless lifted for it (as for the count above).
    let lifted = if unforce && !foreign_keys.is_empty() {
        let mut both: Vec<String> = foreign_keys.iter().map(|fk| fk.table.clone()).collect();
        both.extend(tables_only.iter().cloned());
        both.sort();
        both.dedup();
        lift_forced_rls(tx, &both)?
    } else {
        Vec::new()
    };
    let mut restored = Vec::new();
    for fk in foreign_keys {
        tx.batch_execute(&format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {}",
            quote_ident(&fk.table),
            quote_ident(&fk.name),
            fk.definition
        ))
        .context(format!(
            "restoring foreign key {} on {} (rows there refer to rows the recreated entity no longer has; nothing was changed)",
            fk.name, fk.table
        ))?;
        restored.push(format!("{} on {}", fk.name, fk.table));
    }
    if unforce {
        restore_forced_rls(tx, &lifted)?;
    }
    Ok(restored)
}

/// Grants the registry's privileges again: the recreated tables start with none.
fn reapply_grants(
    tx: &mut postgres::Transaction<'_>,
    owner: &str,
    env: &str,
    manifest: &Manifest,
) -> Result<()> {
    tx.batch_execute(&format!("SET LOCAL ROLE {}", quote_ident(owner)))
        .context(format!("switching to {owner}"))?;
    // The tree's own registry: a `--sql-dir` tree may have other services.
    apply_grants_in(tx, env, manifest.registry())?;
    tx.batch_execute("RESET ROLE")
        .context("returning to the administrator")
}

/// Refuses (and so rolls back) if any object outside the entity that the inventory
/// `before` held is gone: what `DROP ... CASCADE` took from elsewhere.
pub(crate) fn refuse_lost_objects(
    tx: &mut postgres::Transaction<'_>,
    entity: &str,
    before: &BTreeSet<String>,
) -> Result<()> {
    let after = inventory(tx, &[])?;
    let lost: Vec<String> = before.difference(&after).cloned().collect();
    if !lost.is_empty() {
        return Err(Error::DependentObjects {
            entity: entity.to_string(),
            objects: lost,
        });
    }
    Ok(())
}

/// A foreign key on another table that references one of the entity's tables.
pub(crate) struct ForeignKey {
    table: String,
    name: String,
    definition: String,
}

pub(crate) fn incoming_foreign_keys(
    tx: &mut postgres::Transaction<'_>,
    tables: &[String],
) -> Result<Vec<ForeignKey>> {
    let rows = tx
        .query(
            "SELECT r.relname::text, c.conname::text, pg_get_constraintdef(c.oid)
               FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
              WHERE c.contype = 'f'
                -- A partition's copy of its parent's key comes back with the parent's.
                AND c.conparentid = 0
                AND c.confrelid IN (SELECT oid FROM pg_class
                                     WHERE relnamespace = 'public'::regnamespace
                                       AND relname = ANY($1))
                AND c.conrelid NOT IN (SELECT oid FROM pg_class
                                        WHERE relnamespace = 'public'::regnamespace
                                          AND relname = ANY($1))
              ORDER BY 1, 2",
            &[&tables],
        )
        .context("finding foreign keys that point at the entity")?;
    Ok(rows
        .iter()
        .map(|r| ForeignKey {
            table: r.get(0),
            name: r.get(1),
            definition: r.get(2),
        })
        .collect())
}

/// `DROP` statements for the entity's relations, each by its own kind.
pub(crate) fn drop_statements(
    tx: &mut postgres::Transaction<'_>,
    names: &[String],
) -> Result<Vec<String>> {
    let rows = tx
        .query(
            "SELECT relname::text, relkind::text FROM pg_class
              WHERE relnamespace = 'public'::regnamespace AND relname = ANY($1)
              ORDER BY relkind, relname",
            &[&names],
        )
        .context("classifying the entity's relations")?;
    let mut out = Vec::new();
    for r in rows {
        let (name, kind): (String, String) = (r.get(0), r.get(1));
        let what = match kind.as_str() {
            "r" | "p" => "TABLE",
            "v" => "VIEW",
            "m" => "MATERIALIZED VIEW",
            "S" => "SEQUENCE",
            "f" => "FOREIGN TABLE",
            _ => continue,
        };
        // CASCADE takes the entity's own dependants too; anything else it takes is
        // caught by the inventory comparison and rolls the whole thing back.
        out.push(format!(
            "DROP {what} IF EXISTS {} CASCADE",
            quote_ident(&name)
        ));
    }
    Ok(out)
}

/// Lifts `FORCE ROW LEVEL SECURITY` from those of `tables` that have it, inside the
/// caller's transaction, and turns `row_security` off so that any query still
/// under a policy fails instead of seeing less; returns the tables lifted. Taking
/// an exclusive lock on each, so no other session sees them unforced.
fn lift_forced_rls(tx: &mut postgres::Transaction<'_>, tables: &[String]) -> Result<Vec<String>> {
    let forced: Vec<String> = tx
        .query(
            "SELECT relname::text FROM pg_class
              WHERE relnamespace = 'public'::regnamespace AND relname = ANY($1)
                AND relforcerowsecurity
              ORDER BY 1",
            &[&tables],
        )
        .context("finding tables with forced row-level security")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut sql = String::new();
    for t in &forced {
        sql.push_str(&format!(
            "ALTER TABLE {} NO FORCE ROW LEVEL SECURITY;\n",
            quote_ident(t)
        ));
    }
    sql.push_str("SET LOCAL row_security = off;");
    tx.batch_execute(&sql)
        .context("lifting forced row-level security for the administrator")?;
    Ok(forced)
}

/// Undoes [`lift_forced_rls`] for those of `tables` that still exist.
fn restore_forced_rls(tx: &mut postgres::Transaction<'_>, tables: &[String]) -> Result<()> {
    let mut sql = String::from("SET LOCAL row_security = on;\n");
    for t in tables {
        sql.push_str(&format!(
            "ALTER TABLE IF EXISTS {} FORCE ROW LEVEL SECURITY;\n",
            quote_ident(t)
        ));
    }
    tx.batch_execute(&sql)
        .context("forcing row-level security again")
}

/// Every object of the `public` schema that a person would miss, described stably,
/// except those that belong to `own` (the entity's relations and what hangs off
/// them): the entity's scripts may rename or remove its own indexes and policies.
pub(crate) fn inventory(
    tx: &mut postgres::Transaction<'_>,
    own: &[String],
) -> Result<BTreeSet<String>> {
    let rows = tx
        .query(
            "WITH rel AS (
                 SELECT c.oid, c.relname, c.relkind,
                        -- An index or owned sequence belongs to its table.
                        coalesce((SELECT t.relname FROM pg_index i JOIN pg_class t
                                     ON t.oid = i.indrelid WHERE i.indexrelid = c.oid),
                                 (SELECT t.relname FROM pg_depend d JOIN pg_class t
                                     ON t.oid = d.refobjid
                                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                    AND d.refclassid = 'pg_class'::regclass
                                    AND d.deptype = 'a' LIMIT 1),
                                 c.relname) AS owner_rel
                   FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
                    AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i', 'I'))
             SELECT 'relation ' || relname || ' (' || relkind::text || ')', owner_rel::text
               FROM rel
             UNION ALL
             SELECT 'constraint ' || k.conname || ' on ' || t.relname, t.relname::text
               FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
              WHERE t.relnamespace = 'public'::regnamespace
             UNION ALL
             SELECT 'trigger ' || g.tgname || ' on ' || t.relname, t.relname::text
               FROM pg_trigger g JOIN pg_class t ON t.oid = g.tgrelid
              WHERE NOT g.tgisinternal AND t.relnamespace = 'public'::regnamespace
             UNION ALL
             SELECT 'policy ' || p.polname || ' on ' || t.relname, t.relname::text
               FROM pg_policy p JOIN pg_class t ON t.oid = p.polrelid
              WHERE t.relnamespace = 'public'::regnamespace
             UNION ALL
             SELECT 'function ' || p.oid::regprocedure::text, NULL
               FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
             UNION ALL
             SELECT 'type ' || y.typname, NULL
               FROM pg_type y WHERE y.typnamespace = 'public'::regnamespace
                AND (y.typtype IN ('e', 'd', 'r', 'm')
                     OR (y.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class k
                                                      WHERE k.oid = y.typrelid
                                                        AND k.relkind = 'c')))",
            &[],
        )
        .context("taking an inventory of the schema")?;
    Ok(rows
        .iter()
        .filter(|r| {
            r.get::<_, Option<String>>(1)
                .is_none_or(|owner| !own.contains(&owner))
        })
        .map(|r| r.get(0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_matches_rank_near_keys() {
        let m = Manifest::from_dir(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/entity_cli"),
        )
        .unwrap();
        let near = close_matches(&m, "iam_tenant");
        assert!(near.iter().any(|e| e == "iam_tenants"), "{near:?}");
        assert!(close_matches(&m, "zzzzzzzz").is_empty());
    }
}
