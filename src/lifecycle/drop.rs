//! Dropping one ORE Studio database by name (`compass db drop`).

use crate::config::Config;
use crate::error::{Error, Result};
use crate::lifecycle::TeardownReport;
use crate::lifecycle::target::check_name;
use crate::lifecycle::{EnvLock, RunOptions, teardown_with};
use crate::server::admin::connect_admin;
use crate::server::rights::AdminRights;

/// Drops `database` if it exists; returns whether it did. Refuses the server's own
/// databases and any name outside the ORE Studio pattern, and, unless `kill`, a
/// database that has other sessions (the error lists them).
pub fn drop_named(config: &Config, database: &str, kill: bool) -> Result<bool> {
    crate::runtime::off_runtime(|| {
        check_name(database)?;
        let mut admin = connect_admin(config)?;
        crate::lifecycle::target::check_environment(&mut admin, config, database)?;
        // The environment's own database is also what recreate swaps; hold its lock so
        // a drop cannot land in the middle of a swap. The database's cached template
        // and spare go with it: copies of a build nobody asked to keep once the
        // database is gone.
        let mut lock;
        let mut unlocked;
        let admin = if database == config.database {
            lock = EnvLock::acquire(admin, config)?;
            lock.client()
        } else {
            unlocked = admin;
            &mut unlocked
        };
        // Dropping a database takes its owner's rights.
        let rights = AdminRights::detect(admin)?;
        rights.join_owner(admin, &config.env)?;
        let dropped = crate::lifecycle::drop_as(admin, &rights, &config.env, database, kill)?;
        crate::lifecycle::cache::drop_cache(admin, database)?;
        Ok(dropped)
    })
}

/// Tears down `database` (default: the environment's) and the environment's roles,
/// ending the database's sessions if `options` says [`RunOptions::kill`].
pub fn teardown_named(
    config: &Config,
    database: Option<&str>,
    options: &RunOptions,
) -> Result<TeardownReport> {
    crate::runtime::off_runtime(|| {
        let config = match database {
            Some(name) => {
                check_name(name)?;
                config.clone().with_database(name)?
            }
            None => config.clone(),
        };
        check_name(&config.database).map_err(|e| match e {
            Error::Protected { database, reason } => Error::Protected {
                database,
                reason: format!("{reason}; set ORES_DB_NAME to an ORE Studio database"),
            },
            other => other,
        })?;
        teardown_with(&config, options)
    })
}

/// Tears the environment down (database and roles) and builds it again from
/// nothing: unlike `recreate`, the roles are dropped and created afresh too.
pub fn recreate_environment(
    config: &Config,
    options: &RunOptions,
) -> Result<(TeardownReport, crate::lifecycle::BuildReport)> {
    recreate_environment_with(config, crate::tree::manifest::Manifest::compiled(), options)
}

/// [`recreate_environment`] building another tree (`compass env recreate --sql-dir`).
pub fn recreate_environment_with(
    config: &Config,
    manifest: &crate::tree::manifest::Manifest,
    options: &RunOptions,
) -> Result<(TeardownReport, crate::lifecycle::BuildReport)> {
    crate::runtime::off_runtime(|| {
        let removed = teardown_named(config, None, options)?;
        let built = crate::lifecycle::recreate_with(config, manifest, options)?;
        Ok((removed, built))
    })
}
