//! Dropping the previous copy off the critical path.
//!
//! Once the swap has renamed the new database into place, what is left of a recreate
//! is the `DROP DATABASE` of the retired copy, and PostgreSQL 15 makes every such
//! drop request a checkpoint (over a second after a large build). With
//! [`Config::retire_in_background`](crate::Config::retire_in_background) that drop
//! runs on a background thread instead, on the session that holds the environment's
//! advisory lock: until it is done, every other run on the environment (in this
//! process or another) waits for the lock exactly as it waits for a build, so runs
//! stay serialised. If the process ends first, the retired copy is left behind next
//! to the live database, and the next run on the environment (or teardown) drops it
//! before doing anything else, as it does after a killed swap.

use crate::lifecycle::EnvLock;
use crate::server::admin::drop_database;
use std::sync::Mutex;
use std::thread::JoinHandle;

static PENDING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Drops `retired` on a background thread that owns `lock` (released when done).
pub(crate) fn drop_later(mut lock: EnvLock, retired: String) {
    let spawned = std::thread::Builder::new()
        .name("ores-sql-retire".into())
        .spawn(move || {
            if let Err(e) = drop_database(lock.client(), &retired, true) {
                log::warn!("could not drop {retired} ({e}); the next run will");
            }
            drop(lock);
        });
    match spawned {
        Ok(handle) => PENDING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle),
        Err(e) => log::warn!("no thread to drop the previous copy on ({e}); the next run will"),
    }
}

/// Waits until every drop handed to the background by this process is done. A
/// program that wants nothing left behind when it exits calls this last.
pub fn wait_for_background_drops() {
    let handles = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
    for h in handles {
        let _ = h.join();
    }
}
