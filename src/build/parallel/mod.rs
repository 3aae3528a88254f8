//! The builders on several connections. Staging is invisible until the swap, so a
//! build does not need one transaction to be atomic: each unit (a script, or a run
//! of one file's steps) commits on its own, on whichever worker is free once every
//! unit it must follow has committed (`scheduler`); if anything fails, staging is
//! dropped and the previous database stays. The session settings earlier units
//! left, which the one-transaction build's single session keeps, are replayed at the
//! start of each unit (`build/session_state.rs`).

pub mod entry;
pub mod numeric;
pub(crate) mod scheduler;

use crate::build::incremental::Kept;
use crate::build::phases::finish;
use crate::build::{BuildPath, Lap};
use crate::config::Config;
use crate::error::{Error, PgContext, Result};
use crate::tree::manifest::Manifest;
use postgres::Client;

/// How a worker applies one unit: in a transaction of its own that starts with
/// `setup` (the build's role) and `prelude` (the session settings the units before
/// it left), committed, then the session cleared so the next unit on this connection
/// starts as on a fresh one. A deadlock with another worker (two units locking
/// shared tables in different orders, e.g. foreign keys) rolls the unit back; it is
/// tried again.
pub(crate) fn in_own_transaction<T>(
    client: &mut Client,
    setup: &str,
    prelude: &str,
    path: &str,
    mut apply: impl FnMut(&mut postgres::Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tx = client.transaction().context("opening a transaction")?;
        tx.batch_execute(setup).context("taking the build's role")?;
        if !prelude.is_empty() {
            tx.batch_execute(prelude).context(format!(
                "{path}: setting the session up as the files before it left it"
            ))?;
        }
        let value = match apply(&mut tx) {
            Ok(value) => {
                tx.commit().context("committing")?;
                Some(value)
            }
            Err(Error::Script(f)) if f.sqlstate == "40P01" && attempt < 4 => {
                drop(tx);
                log::debug!("{path}: deadlock with another worker, trying again");
                None
            }
            Err(e) => return Err(e),
        };
        // RESET ALL leaves the role and the session authorisation alone; resetting
        // those is open to any login.
        client
            .batch_execute("RESET ALL; RESET ROLE; RESET SESSION AUTHORIZATION")
            .context("resetting the worker's session")?;
        if let Some(value) = value {
            return Ok(value);
        }
    }
}

/// Both parallel builders' last transaction, on `client` (a session of the DDL
/// login), with an idle worker's session (`side`) to write the outline on meanwhile
/// when there is one (`phases::finish`).
pub(crate) fn finish_on(
    client: &mut Client,
    (config, database, manifest): (&Config, &str, &Manifest),
    kept: Option<&Kept<'_>>,
    side: Option<&mut Client>,
) -> Result<()> {
    let mut lap = Lap::start();
    let tx = client
        .transaction()
        .context("opening the grants transaction")?;
    finish(
        tx,
        config,
        database,
        manifest,
        (BuildPath::Parallel, kept),
        side,
    )?;
    lap.log("ownership, grants, records and commit");
    Ok(())
}
