//! The builders on one connection: the whole build in one transaction, as psql's
//! `--single-transaction` would run it.

pub mod entry;
pub mod numeric;

use crate::build::phases::{BULK_SEED_SQL, extensions_for, finish, prologue_sql};
use crate::build::staging::create_and_fill;
use crate::build::{BuildPath, Lap};
use crate::config::Config;
use crate::error::{PgContext, Result};
use crate::server::admin::connect_admin_to;
use crate::server::rights::AdminRights;
use crate::tree::manifest::Manifest;
use postgres::Client;

/// Creates `database` and builds `manifest` into it in one transaction: extensions,
/// scripts, grants and records commit or vanish together.
pub(crate) fn build(
    admin: &mut Client,
    config: &Config,
    database: &str,
    manifest: &Manifest,
    rights: &AdminRights,
    bulk_seed: bool,
) -> Result<()> {
    create_and_fill(admin, config, database, |owner| {
        build_into(config, database, owner, manifest, rights, bulk_seed)
    })
}

fn build_into(
    config: &Config,
    database: &str,
    owner: &str,
    manifest: &Manifest,
    rights: &AdminRights,
    bulk_seed: bool,
) -> Result<()> {
    let mut lap = Lap::start();
    let mut client = connect_admin_to(config, database)?;
    let mut tx = client
        .transaction()
        .context("opening the build transaction")?;
    lap.log("connect to the new database");
    let extensions = extensions_for(&mut tx, config, manifest)?;
    if bulk_seed {
        tx.batch_execute(BULK_SEED_SQL)
            .context("switching on bulk seeding")?;
    }
    if manifest.entry_mode() {
        entry::apply_entry(
            &mut tx,
            manifest,
            config,
            owner,
            &extensions,
            rights.superuser,
        )?;
    } else {
        // A superuser installs the extensions itself, as it always has; any other
        // login can only install trusted ones, as the database's owner.
        tx.batch_execute(&prologue_sql(&extensions, owner, !rights.superuser))
            .context("preparing the database (extensions, owner role, applied-scripts table)")?;
        numeric::apply_scripts(&mut tx, manifest.scripts())?;
    }
    lap.log("extensions and scripts");
    finish(tx, config, database, manifest, BuildPath::Full)?;
    lap.log("grants, records and commit");
    Ok(())
}
