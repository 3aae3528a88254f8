//! The builders on one connection: every script of the tree in one transaction, as
//! psql's `--single-transaction` would run it, in a session of the tree's DDL login.

pub mod entry;
pub mod numeric;

use crate::build::phases::{finish, prepare, session_setup};
use crate::build::staging::{build_sessions, create_and_fill};
use crate::build::{BuildPath, Lap};
use crate::config::Config;
use crate::error::{PgContext, Result};
use crate::tree::manifest::Manifest;
use postgres::Client;

/// Creates `database` and builds `manifest` into it: the scripts, the grants and the
/// records commit or vanish together.
pub(crate) fn build(
    admin: &mut Client,
    config: &Config,
    database: &str,
    manifest: &Manifest,
    bulk_seed: bool,
    kept: Option<&crate::build::incremental::Kept<'_>>,
) -> Result<()> {
    create_and_fill(admin, config, database, |admin, owner| {
        prepare(config, database, owner, manifest)?;
        let mut lap = Lap::start();
        let mut sessions = build_sessions(admin, config, manifest, database, 1)?;
        let client = &mut sessions[0];
        lap.log("the DDL login's session");
        let mut tx = client
            .transaction()
            .context("opening the build transaction")?;
        if manifest.entry_mode() {
            // psql's session is the DDL login's own.
            tx.batch_execute(&session_setup(bulk_seed, None))
                .context("starting the build transaction")?;
            entry::run_steps(&mut tx, manifest, config, kept.map(|k| &k.gsets), bulk_seed)?;
        } else {
            // Everything a numeric tree creates belongs to the owner group, as if the
            // DDL login had run it after `SET ROLE`.
            tx.batch_execute(&session_setup(bulk_seed, Some(owner)))
                .context("starting the build transaction")?;
            numeric::apply_scripts(&mut tx, manifest.scripts())?;
        }
        lap.log("scripts");
        finish(
            tx,
            config,
            database,
            manifest,
            (BuildPath::Full, kept),
            None,
        )?;
        lap.log("grants, records and commit");
        Ok(())
    })
}
