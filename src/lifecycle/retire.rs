//! The work after the swap, off the critical path.
//!
//! Once the swap has renamed the new database into place, what is left of a recreate
//! is the `DROP DATABASE` of the retired copy (PostgreSQL 15 makes every such drop
//! request a checkpoint: over a second after a large build) and, when a cached
//! template exists, making the next cached recreate's ready copy (see
//! [`crate::lifecycle::cache`]). With
//! [`RunOptions::retire_in_background`](crate::RunOptions::retire_in_background) both run on a
//! background thread instead, on the session that holds the environment's advisory
//! lock: until they are done, every other run on the environment (in this process or
//! another) waits for the lock exactly as it waits for a build, so runs stay
//! serialised. If the process ends first, the retired copy is left behind next to the
//! live database, and the next run on the environment (or teardown) drops it before
//! doing anything else, as it does after a killed swap; a half-made spare carries no
//! label, matches no key, and is dropped the same way.

use crate::config::Config;
use crate::error::Result;
use crate::lifecycle::EnvLock;
use crate::lifecycle::cache::{drop_stale, make_spare, template_label, template_name};
use crate::lifecycle::target::RETIRED_SUFFIX;
use crate::server::admin::{connect_admin, database_exists, drop_database};
use std::sync::Mutex;
use std::thread::JoinHandle;

static PENDING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// The next spare copy to make: of `database`'s `template`, if it still has `key`.
pub(crate) struct NextSpare {
    pub(crate) database: String,
    pub(crate) template: String,
    pub(crate) key: String,
}

/// Drops `leftovers` (the retired copy, cached copies a rebuild set aside) and then
/// makes `spare` (if any) on a background thread that owns `lock` (released when
/// done). The drops come first: their checkpoints then have only the swap's own
/// writes to flush, not a fresh copy's.
pub(crate) fn finish_later(mut lock: EnvLock, leftovers: Vec<String>, spare: Option<NextSpare>) {
    let spawned = std::thread::Builder::new()
        .name("ores-sql-retire".into())
        .spawn(move || {
            for d in leftovers {
                if let Err(e) = drop_database(lock.client(), &d, true) {
                    log::warn!("could not drop {d} ({e}); the next run will");
                }
            }
            if let Some(s) = spare
                && let Err(e) = make_spare(lock.client(), &s.database, &s.template, &s.key)
            {
                log::warn!(
                    "could not make the spare copy of {} ({e}); the next cached recreate clones",
                    s.template
                );
            }
            drop(lock);
        });
    match spawned {
        Ok(handle) => PENDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle),
        Err(e) => log::warn!("no thread for the work after the swap ({e}); the next run does it"),
    }
}

/// Waits until the work this process handed to the background (drops of previous
/// copies, spare copies) is done. A program that wants nothing left half-done when
/// it exits calls this last.
pub fn wait_for_background() {
    let handles = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
    for h in handles {
        let _ = h.join();
    }
}

/// Does the work a recreate with [`RunOptions::tidy_later`](crate::RunOptions::tidy_later)
/// left, under the environment's lock (so a run that starts meanwhile waits for it,
/// as for a build): drops the previous copy when the live database is in place (a
/// retired copy without one is an interrupted swap, which the next run puts back),
/// drops cached copies a rebuild set aside, and makes the ready copy of the cached
/// template. Finding nothing to do is not an error.
pub fn tidy(config: &Config) -> Result<()> {
    let mut lock = EnvLock::acquire(connect_admin(config)?, config)?;
    let admin = lock.client();
    let database = config.database.as_str();
    let retired = format!("{database}{RETIRED_SUFFIX}");
    if database_exists(admin, database)? {
        drop_database(admin, &retired, true)?;
    }
    drop_stale(admin, database)?;
    let template = template_name(database);
    if let Some(key) = template_label(admin, &template)? {
        make_spare(admin, database, &template, &key)?;
    }
    Ok(())
}
