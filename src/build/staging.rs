//! The database a build fills: created empty for the owner group, and dropped again
//! when the build fails, so a failure leaves nothing half made behind.

use crate::build::Lap;
use crate::build::login::{ddl_role, open_sessions};
use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{PgContext, Result};
use crate::server::admin::{create_empty_database, drop_database, wait_for_no_sessions};
use crate::server::rights::AdminRights;
use crate::tree::manifest::Manifest;
use crate::tree::roles::role_name;
use postgres::Client;
use std::time::Duration;

/// Creates `database` empty, owned by the environment's owner group, and has `fill`
/// build it (given the administrator's session and the owner's name); on failure the
/// half-made database is dropped again. Every builder goes through here.
pub(crate) fn create_and_fill(
    admin: &mut Client,
    config: &Config,
    database: &str,
    fill: impl FnOnce(&mut Client, &str) -> Result<()>,
) -> Result<()> {
    let owner = role_name(&config.env, "owner");
    let mut lap = Lap::start();
    create_empty_database(admin, database, &owner)?;
    lap.log("create database");
    if let Err(e) = fill(admin, &owner) {
        discard(admin, &config.env, database);
        return Err(e);
    }
    // The build sessions have disconnected but their backends may still be exiting;
    // a rename right now would sit in PostgreSQL's 100 ms wait.
    let mut lap = Lap::start();
    wait_for_no_sessions(admin, database, Duration::from_secs(5))?;
    lap.log("build session gone");
    Ok(())
}

/// Drops `database` as `rights` allow: with `kill`, terminating its sessions (joining
/// what that takes); without, refusing while others are connected.
pub(crate) fn drop_as(
    admin: &mut Client,
    rights: &AdminRights,
    env: &str,
    database: &str,
    kill: bool,
) -> Result<bool> {
    if !kill {
        return drop_database(admin, database, false);
    }
    rights.signalling(admin, env, database, |admin| {
        drop_database(admin, database, true)
    })
}

/// Best effort removal of a staging database after a failure; the original error
/// matters more than a failure to clean up (the next run retries).
/// (Detects the login's rights itself: it runs on error paths, where the caller's
/// may not be at hand.)
pub(crate) fn discard(admin: &mut Client, env: &str, staging: &str) {
    let dropped =
        AdminRights::detect(admin).and_then(|rights| drop_as(admin, &rights, env, staging, true));
    if let Err(e) = dropped {
        log::warn!("could not remove staging database {staging}: {e}; the next run will");
    }
}

/// Opens `count` sessions of the tree's DDL login on the `database` being built, then
/// closes it to every new session and ends any other that got in meanwhile. From here
/// until the swap opens it, nothing but these sessions (and a superuser) can touch
/// the database: what a role of this or another environment could plant while it is
/// being built would otherwise be served by every cached copy made from it.
pub(crate) fn build_sessions(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
    database: &str,
    count: usize,
) -> Result<Vec<Client>> {
    let ddl = ddl_role(manifest, &config.env)?;
    let db = quote_ident(database);
    admin
        .batch_execute(&format!(
            "GRANT CONNECT ON DATABASE {db} TO {}",
            quote_ident(&ddl)
        ))
        .context(format!("letting {ddl} build {database}"))?;
    let mut sessions = open_sessions(admin, config, manifest, database, count, true)?;
    admin
        .batch_execute(&format!("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS false"))
        .context(format!("closing {database} while it is built"))?;
    let mut ours = Vec::with_capacity(sessions.len());
    for s in &mut sessions {
        let pid: i32 = s
            .query_one("SELECT pg_backend_pid()", &[])
            .context("identifying the build's sessions")?
            .get(0);
        ours.push(pid);
    }
    let rights = AdminRights::detect(admin)?;
    rights.signalling(admin, &config.env, database, |admin| {
        admin
            .execute(
                // Client sessions only (an autovacuum worker may visit a new
                // database), and not a superuser's, which nothing here can keep out.
                "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a
                   JOIN pg_roles r ON r.oid = a.usesysid
                  WHERE a.datname = $1 AND a.backend_type = 'client backend'
                    AND NOT r.rolsuper AND a.pid <> ALL($2) AND a.pid <> pg_backend_pid()",
                &[&database, &ours],
            )
            .context(format!(
                "ending sessions on {database} that are not the build's"
            ))
    })?;
    Ok(sessions)
}

/// The explicit grants a build's access left, taken back once the final grants are
/// in place (`REVOKE` of a grant never made changes nothing).
pub(crate) fn build_access_revoked_sql(
    config: &Config,
    manifest: &Manifest,
    database: &str,
) -> Result<String> {
    let ddl = ddl_role(manifest, &config.env)?;
    Ok(format!(
        "REVOKE CONNECT ON DATABASE {} FROM {}, {};\n",
        quote_ident(database),
        quote_ident(&ddl),
        quote_ident(&config.admin_user)
    ))
}
