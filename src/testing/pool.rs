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
//! A pool database has no owner process: it goes when its template goes. Until it
//! is claimed it is closed (`ALLOW_CONNECTIONS false`), owned by the administrator and
//! without `PUBLIC`'s privileges, so no role of the key can open it or plant anything
//! in it for the next test; the claim hands it to the key's owner group, grants the
//! key's roles their access and opens it, in the same transaction as the rename.
//! Only a clone whose comment says [`READY_COMMENT`] is ready: that comment is the
//! last thing its maker writes, so a clone without it is half made, and one found
//! while holding the refill lock was left by a maker that is gone (it would hold
//! the lock): the refill drops it instead of counting it.

use super::names::{TemplateKey, pool_prefix};
use crate::config::ident::quote_ident;
use crate::error::{PgContext, Result};
use crate::server::admin::drop_database;
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

/// The comment of a clone that is complete and ready to be claimed.
pub const READY_COMMENT: &str = "ores-sql: ready clone";

/// Takes a ready clone of the template keyed `short` and makes it the test database
/// `name`: renamed, owned by `owner` (the key's owner group), `open` (grants, lease and `ALLOW_CONNECTIONS true`, as
/// SQL) applied, all in one transaction. `None` when the pool is empty.
///
/// The rename is what two claimants race on: the loser's fails ("does not exist")
/// and it tries the next candidate. A rename refused because the clone is in use (a
/// superuser session that was just on it) is retried briefly before falling back.
pub(super) fn claim(
    admin: &mut Client,
    short: &str,
    owner: &str,
    name: &str,
    open: &str,
) -> Result<Option<()>> {
    for attempt in 0..5 {
        let candidates: Vec<String> = admin
            .query(
                "SELECT datname::text FROM pg_database
                  WHERE starts_with(datname, $1) AND NOT datallowconn
                    AND shobj_description(oid, 'pg_database') = $2
                  ORDER BY oid",
                &[&pool_prefix(short), &READY_COMMENT],
            )
            .context("listing ready clones")?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut busy = false;
        for candidate in &candidates {
            let renamed = admin.transaction().and_then(|mut tx| {
                tx.batch_execute(&format!(
                    "ALTER DATABASE {c} RENAME TO {n};
                     ALTER DATABASE {n} OWNER TO {owner};
                     {open}",
                    c = quote_ident(candidate),
                    n = quote_ident(name),
                    owner = quote_ident(owner),
                ))?;
                tx.commit()
            });
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

/// Puts the database `name`, known to hold exactly what its template holds, back
/// among the ready clones of the key `short` as `ready_name`, unless `bound` ready
/// clones are there already (then it is dropped). Closed, handed to the
/// administrator, stripped of `PUBLIC`'s privileges and marked ready in the same
/// transaction as the rename, so it is never seen half put back. Returns whether it
/// was kept. Sessions that are still leaving it make the rename fail for a moment:
/// it is retried briefly, then the database is dropped instead.
pub(super) fn shelve(
    admin: &mut Client,
    short: &str,
    name: &str,
    ready_name: &str,
    bound: usize,
) -> Result<bool> {
    for attempt in 0..6 {
        let have: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_database
                  WHERE starts_with(datname, $1)
                    AND shobj_description(oid, 'pg_database') = $2",
                &[&pool_prefix(short), &READY_COMMENT],
            )
            .context("counting ready clones")?
            .get(0);
        if have >= bound as i64 {
            break;
        }
        let renamed = admin.transaction().and_then(|mut tx| {
            tx.batch_execute(&format!(
                "ALTER DATABASE {n} ALLOW_CONNECTIONS false;
                 ALTER DATABASE {n} RENAME TO {r};
                 ALTER DATABASE {r} OWNER TO CURRENT_USER;
                 REVOKE ALL ON DATABASE {r} FROM PUBLIC;
                 COMMENT ON DATABASE {r} IS {c};",
                n = quote_ident(name),
                r = quote_ident(ready_name),
                c = crate::config::ident::quote_literal(READY_COMMENT),
            ))?;
            tx.commit()
        });
        match renamed {
            Ok(()) => return Ok(true),
            Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) => {
                std::thread::sleep(std::time::Duration::from_millis(10 << attempt));
            }
            Err(e) => return Err(e).context(format!("putting {name} back as ready")),
        }
    }
    drop_database(admin, name, true)?;
    Ok(false)
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
        drop_half_made(admin, key)?;
        loop {
            let have: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_database
                      WHERE starts_with(datname, $1)
                        AND shobj_description(oid, 'pg_database') = $2",
                    &[&pool_prefix(&key.short), &READY_COMMENT],
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

/// Drops the clones of `key` that are not ready. Called with the refill lock held:
/// nobody else is making one, so each was left by a maker that exited or failed
/// half way (or by an older harness, whose clones were open to the key's roles).
fn drop_half_made(admin: &mut Client, key: &TemplateKey) -> Result<()> {
    let stale: Vec<String> = admin
        .query(
            "SELECT datname::text FROM pg_database
              WHERE starts_with(datname, $1)
                AND shobj_description(oid, 'pg_database') IS DISTINCT FROM $2",
            &[&pool_prefix(&key.short), &READY_COMMENT],
        )
        .context("listing half-made clones")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for name in stale {
        if drop_database(admin, &name, true)? {
            log::info!("removed half-made ready clone {name}");
        }
    }
    Ok(())
}
