//! What every builder does before and after the scripts: the prologue (extensions,
//! the applied-scripts table) and the end of the build (grants, the record, commit).

use crate::build::Lap;
use crate::build::incremental::Kept;
use crate::build::incremental::apply::store;
use crate::build::record::{
    BuildPath, applied_table_sql, engine_record_sql, record_applied, record_build,
};
use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result};
use crate::server::admin::connect_admin_to;
use crate::server::grants::{apply_grants_in, database_grants_sql};
use crate::server::rights::AdminRights;
use crate::tree::manifest::Manifest;

/// Tells the versioning trigger, for one transaction, that the database is being
/// built: every key it seeds is new (sql/create/01_utility, versioned insert).
pub(crate) const BULK_SEED_SQL: &str = "SET LOCAL ores.bulk_seed = 'on'";

/// How every build transaction starts: the extensions installed, the session acting
/// as `owner_role`, and the applied-scripts table in place. A superuser installs the
/// extensions itself; any other login (`extensions_as_owner`) can only install
/// trusted ones, as the database's owner, so it does so after taking the role.
pub(crate) fn prologue_sql(
    extensions: &[String],
    env: &str,
    owner_role: &str,
    extensions_as_owner: bool,
) -> String {
    let mut prologue = String::from("SET LOCAL synchronous_commit = off;\n");
    let create_extensions = extensions
        .iter()
        .map(|ext| {
            format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA public;\n",
                quote_ident(ext)
            )
        })
        .collect::<String>();
    if !extensions_as_owner {
        prologue.push_str(&create_extensions);
    }
    // The engine's record belongs to the administrator, made before the tree exists.
    prologue.push_str(&engine_record_sql(env));
    // Everything the scripts create belongs to the owner role, exactly as if the DDL
    // user had run them; a superuser only installs extensions.
    prologue.push_str(&format!("SET LOCAL ROLE {};\n", quote_ident(owner_role)));
    if extensions_as_owner {
        prologue.push_str(&create_extensions);
    }
    prologue.push_str(&applied_table_sql());
    prologue
}

/// The administrator's part of a build, in a session of its own before any script
/// of the tree runs: the extensions and the applied-scripts table, committed.
pub(crate) fn prepare(
    config: &Config,
    database: &str,
    owner: &str,
    manifest: &Manifest,
) -> Result<()> {
    let mut lap = Lap::start();
    let mut client = connect_admin_to(config, database)?;
    // A superuser installs the extensions itself; any other login (trusted ones
    // only) as the database's owner.
    let superuser = AdminRights::detect(&mut client)?.superuser;
    let mut tx = client
        .transaction()
        .context("opening the prologue transaction")?;
    let extensions = extensions_for(&mut tx, config, manifest)?;
    tx.batch_execute(&prologue_sql(&extensions, &config.env, owner, !superuser))
        .context(
            "preparing the database (extensions, the engine's build record, applied-scripts table)",
        )?;
    tx.commit().context("committing the prologue")?;
    lap.log("extensions");
    Ok(())
}

/// What a transaction of the tree's scripts starts with, in a DDL login's session:
/// acting as `role` when given (a numeric tree runs as the owner group, an entry
/// tree as the DDL login itself), and bulk seeding when asked for.
pub(crate) fn session_setup(bulk_seed: bool, role: Option<&str>) -> String {
    let mut setup = String::from("SET LOCAL synchronous_commit = off;\n");
    if let Some(role) = role {
        setup.push_str(&format!("SET LOCAL ROLE {};\n", quote_ident(role)));
    }
    if bulk_seed {
        setup.push_str(BULK_SEED_SQL);
        setup.push_str(";\n");
    }
    setup
}

/// What every build path ends with, in its last transaction on a session of the DDL
/// login `ddl`: whatever the scripts made as that login goes to the owner group, then
/// (acting as the owner group) the grants derived from the registry, the database's
/// own privileges, the applied-scripts rows, the build record, the commit.
///
/// With a `side` session (a parallel build's idle worker), the outline is written on
/// it in a transaction of its own while this one hands objects over and grants: the
/// two touch nothing in common (the engine's tables belong to the administrator),
/// staging is invisible until the swap, and this transaction commits only once the
/// other has.
pub(crate) fn finish(
    mut tx: postgres::Transaction<'_>,
    config: &Config,
    database: &str,
    manifest: &Manifest,
    (path, kept): (BuildPath, Option<&Kept<'_>>),
    side: Option<&mut postgres::Client>,
) -> Result<()> {
    let statements = match kept.map(|k| k.stream(config, manifest)).transpose()? {
        Some(Ok(statements)) => Some(statements),
        Some(Err(why)) => {
            log::info!("no incremental builds from this one: {why}");
            None
        }
        None => None,
    };
    let base = kept.map_or("", |k| k.base);
    match (statements, side) {
        (Some(statements), Some(side)) => std::thread::scope(|s| {
            let owner = crate::tree::roles::role_name(&config.env, "owner");
            let records = s.spawn(move || -> Result<()> {
                let mut apart = side
                    .transaction()
                    .context("opening the outline's transaction")?;
                apart
                    .batch_execute(&format!(
                        "SET LOCAL synchronous_commit = off; SET LOCAL ROLE {};",
                        quote_ident(&owner)
                    ))
                    .context("taking the owner group's role for the outline")?;
                store(&mut apart, base, &statements, None)?;
                apart.commit().context("committing the outline")
            });
            let main = finish_open(&mut tx, config, database, manifest, (path, true));
            let records = records
                .join()
                .unwrap_or_else(|_| Err(Error::Internal("writing the outline panicked".into())));
            main.and(records)
        })?,
        (statements, _) => {
            finish_open(&mut tx, config, database, manifest, (path, true))?;
            if let Some(statements) = statements {
                store(&mut tx, base, &statements, None)?;
            }
        }
    }
    tx.commit().context("committing the build")
}

/// [`finish`] without the commit, for a path that writes more to the record.
/// `objects` says whether the build may have made objects or changed what is
/// granted: an incremental build that only wrote rows or replaced functions and
/// left every owner and privilege of the build it copied (which are already the full
/// build's; `incremental::apply` checks) skips handing objects over and granting.
pub(crate) fn finish_open(
    tx: &mut postgres::Transaction<'_>,
    config: &Config,
    database: &str,
    manifest: &Manifest,
    (path, objects): (BuildPath, bool),
) -> Result<()> {
    let owner = crate::tree::roles::role_name(&config.env, "owner");
    let ddl = objects
        .then(|| crate::build::login::ddl_role(manifest, &config.env))
        .transpose()?;
    let handover = ddl.as_ref().map_or(String::new(), |d| {
        format!(
            "REASSIGN OWNED BY {} TO {};\n",
            quote_ident(d),
            quote_ident(&owner)
        )
    });
    tx.batch_execute(&format!(
        "SET LOCAL synchronous_commit = off; RESET ROLE;\n{handover}SET LOCAL ROLE {};",
        quote_ident(&owner)
    ))
    .context(format!(
        "handing what {} created to {owner}",
        ddl.as_deref().unwrap_or("the build")
    ))?;
    if objects {
        apply_grants_in(tx, &config.env, manifest.registry())?;
    }
    tx.batch_execute(&format!(
        "{}{}",
        database_grants_sql(&config.env, database),
        crate::build::staging::build_access_revoked_sql(config, manifest, database)?
    ))
    .context("granting database access")?;
    record_applied(tx, manifest)?;
    record_build(tx, manifest, path, &config.admin_user)
}

/// The required extensions, then the tree's optional ones the server has (the others
/// are reported at info level and skipped).
pub(crate) fn extensions_for(
    tx: &mut postgres::Transaction<'_>,
    config: &Config,
    manifest: &Manifest,
) -> Result<Vec<String>> {
    let mut out = manifest.required_extensions(&config.extensions);
    let optional = &manifest.settings().optional_extensions;
    if optional.is_empty() {
        return Ok(out);
    }
    let available: Vec<String> = tx
        .query(
            "SELECT name::text FROM pg_available_extensions WHERE name = ANY($1)",
            &[optional],
        )
        .context("checking optional extensions")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for e in optional {
        if available.contains(e) {
            if !out.contains(e) {
                out.push(e.clone());
            }
        } else {
            log::info!("optional extension {e} is not available on the server; skipped");
        }
    }
    Ok(out)
}
