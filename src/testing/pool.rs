//! Ready clones, made ahead of time so a test does not wait for `CREATE DATABASE`.
//!
//! Pool databases are ordinary clones of a template under the name
//! `ores_tp_<key>_<creator>_<n>`, shared by every process on the server. A test claims
//! one by renaming it to its own test-database name: the rename is atomic, so two
//! claimants can never get the same one (the loser sees "does not exist" and tries the
//! next), and a pool database nobody is connected to is always renameable. After a
//! claim, a background thread tops the pool up again; one refiller per key at a time
//! (a try-lock), so concurrent processes do not pile up clones.
//!
//! A pool database has no owner process: it goes when its template goes.

use super::names::{TemplateKey, pool_prefix};
use crate::config::ident::quote_ident;
use crate::error::{PgContext, Result};
use crate::server::lock::{AdvisoryLock, LockClass};
use postgres::Client;
use postgres::error::SqlState;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Variable setting the number of ready clones kept per template (default 2; 0 = none).
pub const POOL_SIZE_VAR: &str = "ORES_TEST_POOL_SIZE";

const DEFAULT_SIZE: usize = 2;
const UNSET: usize = usize::MAX;
static SIZE: AtomicUsize = AtomicUsize::new(UNSET);

/// How many ready clones to keep per template ([`POOL_SIZE_VAR`] unless set here).
pub fn pool_size() -> usize {
    match SIZE.load(Ordering::Relaxed) {
        UNSET => std::env::var(POOL_SIZE_VAR)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_SIZE),
        n => n,
    }
}

/// Overrides the pool size for this process (0 turns the pool off).
pub fn set_pool_size(n: usize) {
    SIZE.store(n, Ordering::Relaxed);
}

/// Takes a ready clone of `key` and renames it to `name`. `None` when the pool is empty.
///
/// Only clones open to connections are ready: the refiller opens one after its grants
/// are in place (see `Harness::make_clone`). A rename refused because the clone is in
/// use (a session that was just on it, such as a sweeper) is retried briefly before
/// falling back to the next candidate, so a ready pool is not skipped by accident.
pub(super) fn claim(admin: &mut Client, key: &TemplateKey, name: &str) -> Result<Option<()>> {
    for attempt in 0..5 {
        let candidates: Vec<String> = admin
            .query(
                "SELECT datname::text FROM pg_database
                  WHERE starts_with(datname, $1) AND datallowconn ORDER BY oid",
                &[&pool_prefix(&key.short)],
            )
            .context("listing ready clones")?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut busy = false;
        for candidate in &candidates {
            let renamed = admin.batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(candidate),
                quote_ident(name)
            ));
            match renamed {
                Ok(()) => return Ok(Some(())),
                Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) => busy = true,
                // Another process claimed it first (or is dropping it): try the next one.
                Err(e) if e.code().is_some() => continue,
                Err(e) => return Err(e).context(format!("claiming {candidate}")),
            }
        }
        if !busy {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20 << attempt));
    }
    Ok(None)
}

/// Creates clones of `key` until the pool holds [`pool_size`] of them, unless another
/// session is already doing so. `create` makes one clone under the given name.
pub(super) fn refill(
    admin: &mut Client,
    key: &TemplateKey,
    mut next_name: impl FnMut() -> String,
    mut create: impl FnMut(&mut Client, &str) -> Result<()>,
) -> Result<()> {
    let size = pool_size() as i64;
    if size == 0 {
        return Ok(());
    }
    let refill = AdvisoryLock::new(admin, LockClass::PoolRefill, &key.short)?;
    if !refill.try_lock(admin)? {
        return Ok(());
    }
    let outcome = (|| {
        loop {
            let have: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)",
                    &[&pool_prefix(&key.short)],
                )
                .context("counting ready clones")?
                .get(0);
            if have >= size {
                return Ok(());
            }
            create(admin, &next_name())?;
        }
    })();
    let _ = refill.unlock(admin);
    outcome
}
