//! Session-level advisory locks: every lock the crate takes goes through here, with
//! one key scheme, so two kinds of lock can never collide on a key and each is
//! released the same way (explicitly, or by the server when the session ends).
//!
//! Keys use PostgreSQL's two-key form: the first names the kind of lock (a
//! [`LockClass`], all in one `0x05e5_05xx` namespace so other applications' locks on
//! the same server stay apart), the second is the server's `hashtext` of a name such
//! as the environment label, computed on the server so every process agrees.

use crate::error::{PgContext, Result};
use postgres::Client;
use std::time::Duration;

/// What a lock protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockClass {
    /// One build, swap or teardown of an environment at a time.
    Environment,
    /// Held shared by every process using a test template, so none removes it.
    TemplateUse,
    /// One process builds a given test template.
    TemplateBuild,
    /// One process refills a template's pool of clones.
    PoolRefill,
    /// One process at a time gives a login a one-time password and opens its
    /// sessions (logins of a test template's key are shared by processes).
    LoginWindow,
}

impl LockClass {
    fn key(self) -> i32 {
        match self {
            LockClass::Environment => 0x05e5_0571,
            LockClass::TemplateUse => 0x05e5_0572,
            LockClass::TemplateBuild => 0x05e5_0573,
            LockClass::PoolRefill => 0x05e5_0574,
            LockClass::LoginWindow => 0x05e5_0575,
        }
    }

    fn namespace(self) -> &'static str {
        match self {
            LockClass::Environment => "env",
            LockClass::TemplateUse | LockClass::TemplateBuild => "tpl",
            LockClass::PoolRefill => "pool",
            LockClass::LoginWindow => "login",
        }
    }
}

/// One advisory lock: a class and a name, resolved to its two keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvisoryLock {
    class: LockClass,
    key: i32,
}

impl AdvisoryLock {
    /// The lock of `class` for `name` (e.g. an environment label).
    pub fn new(client: &mut Client, class: LockClass, name: &str) -> Result<AdvisoryLock> {
        let key = client
            .query_one(
                "SELECT hashtext($1)",
                &[&format!("ores_sql:{}:{name}", class.namespace())],
            )
            .context("computing an advisory lock key")?
            .get(0);
        Ok(AdvisoryLock { class, key })
    }

    /// Waits for the lock, at most `timeout`. `Ok(false)` when it timed out.
    pub fn lock(&self, client: &mut Client, timeout: Duration) -> Result<bool> {
        let ms = timeout.as_millis().max(1);
        client
            .batch_execute(&format!("SET lock_timeout = {ms}"))
            .context("setting lock_timeout")?;
        let locked = client.execute(
            "SELECT pg_advisory_lock($1, $2)",
            &[&self.class.key(), &self.key],
        );
        client
            .batch_execute("RESET lock_timeout")
            .context("resetting lock_timeout")?;
        match locked {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => Ok(false),
            Err(e) => Err(e).context("waiting for an advisory lock"),
        }
    }

    /// Waits for the lock without a limit (the holder only builds, then releases).
    pub fn lock_unbounded(&self, client: &mut Client) -> Result<()> {
        client
            .execute(
                "SELECT pg_advisory_lock($1, $2)",
                &[&self.class.key(), &self.key],
            )
            .map(drop)
            .context("waiting for an advisory lock")
    }

    /// Takes the lock shared (many holders, excluding an exclusive [`Self::try_lock`]).
    pub fn lock_shared(&self, client: &mut Client) -> Result<()> {
        client
            .execute(
                "SELECT pg_advisory_lock_shared($1, $2)",
                &[&self.class.key(), &self.key],
            )
            .map(drop)
            .context("taking a shared advisory lock")
    }

    /// Takes the lock if nobody holds it; never waits.
    pub fn try_lock(&self, client: &mut Client) -> Result<bool> {
        Ok(client
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&self.class.key(), &self.key],
            )
            .context("trying an advisory lock")?
            .get(0))
    }

    /// Releases one exclusive hold of the lock.
    pub fn unlock(&self, client: &mut Client) -> Result<()> {
        client
            .execute(
                "SELECT pg_advisory_unlock($1, $2)",
                &[&self.class.key(), &self.key],
            )
            .map(drop)
            .context("releasing an advisory lock")
    }
}
