//! The database a build fills: created empty for the owner group, and dropped again
//! when the build fails, so a failure leaves nothing half made behind.

use crate::build::Lap;
use crate::config::Config;
use crate::error::Result;
use crate::server::admin::{create_empty_database, drop_database, wait_for_no_sessions};
use crate::server::rights::AdminRights;
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
