//! Which databases a command may touch: the one rule every entry point that creates,
//! replaces, fills, drops or resets a database enforces, in the library (so a service
//! calling [`crate::recreate`] is as safe as `compass`).
//!
//! A database may be touched when its name is an ORE Studio name (`ores_...`), is not
//! one of the server's own databases, does not end in a suffix the swap gives its
//! working copies, and, when it already exists, is not owned by another
//! environment's owner group.

use crate::config::Config;
use crate::config::ident::{MAX_DB_LEN, MAX_IDENT_LEN, validate_database_name};
use crate::error::{Error, PgContext, Result};
use crate::tree::roles::role_name;
use postgres::Client;

/// Prefix of every ORE Studio database name.
pub const ORES_DATABASE_PREFIX: &str = "ores_";
/// Suffix of the copy a build is made in before the swap.
pub const STAGING_SUFFIX: &str = "__staging";
/// Suffix the previous database carries during the swap.
pub const RETIRED_SUFFIX: &str = "__retired";
/// What a rebuild puts before the suffix of the cached copies it replaces, which are
/// set aside for the work after the swap to drop (`<db>__stale__template`).
pub const STALE_INFIX: &str = "__stale";
/// Suffix of the environment's cached build, which recreate clones when nothing that
/// shapes the database changed (see [`crate::lifecycle::cache`]).
pub const TEMPLATE_SUFFIX: &str = "__template";
/// Prefix of every test database the harness (`ores_sql::testing`) makes.
pub const TEST_DB_PREFIX: &str = "ores_t_";
/// Prefix of the harness's template databases.
pub const TEMPLATE_PREFIX: &str = "ores_tpl_";
/// Prefix of the harness's ready clones of a template.
pub const POOL_PREFIX: &str = "ores_tp_";
/// Suffix of a ready copy of the cached build, made after a recreate in the
/// background so that the next cached recreate renames it instead of cloning.
pub const SPARE_SUFFIX: &str = "__spare";
/// Suffix of the scratch build `compass db diff` and `db plan` compare with when no
/// cached template matches (see [`crate::lifecycle::diff`]); dropped when they end.
pub const DIFF_SUFFIX: &str = "__diff";

/// The longest suffix the library appends to a database name to name one of its
/// working copies (`<db>__stale__template`).
pub const LONGEST_WORKING_SUFFIX: usize = longest(&[
    STAGING_SUFFIX.len(),
    RETIRED_SUFFIX.len(),
    TEMPLATE_SUFFIX.len(),
    SPARE_SUFFIX.len(),
    DIFF_SUFFIX.len(),
    STALE_INFIX.len() + TEMPLATE_SUFFIX.len(),
    STALE_INFIX.len() + SPARE_SUFFIX.len(),
]);

const fn longest(lengths: &[usize]) -> usize {
    let (mut i, mut max) = (0, 0);
    while i < lengths.len() {
        if lengths[i] > max {
            max = lengths[i];
        }
        i += 1;
    }
    max
}

// A chosen name of the longest allowed length must leave room for every working
// copy's name, or PostgreSQL would truncate it (and the validation of that name
// would refuse a drop the build itself needs).
const _: () = assert!(MAX_DB_LEN + LONGEST_WORKING_SUFFIX <= MAX_IDENT_LEN);

/// Whether `name` follows the ORE Studio pattern (`ores_` and something after it).
pub fn is_ores_database_name(name: &str) -> bool {
    name.starts_with(ORES_DATABASE_PREFIX) && name.len() > ORES_DATABASE_PREFIX.len()
}

pub use crate::config::ident::check_not_system;

/// Refuses a name no command may build, fill, drop or reset, before any connection.
pub fn check_name(database: &str) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::Protected {
            database: database.to_string(),
            reason,
        })
    };
    check_not_system(database)?;
    validate_database_name(database)?;
    if !is_ores_database_name(database) {
        return refuse(format!(
            "it is not an ORE Studio database (those are named {ORES_DATABASE_PREFIX}...); \
             set ORES_DB_NAME to one"
        ));
    }
    // The test harness decides what is whose by these prefixes alone: its sweep
    // drops an `ores_t_` database whose owner tag it cannot see alive, and a claim
    // renames any open `ores_tp_` database. An environment there would be dropped
    // or handed to a test.
    if let Some(prefix) = [TEMPLATE_PREFIX, POOL_PREFIX, TEST_DB_PREFIX]
        .into_iter()
        .find(|p| database.starts_with(p))
    {
        return refuse(format!(
            "names starting with {prefix} belong to the test harness (ores_sql::testing), \
             which drops and renames them; choose another ORES_DB_NAME (e.g. ores_dev_<env>)"
        ));
    }
    if let Some(suffix) = [STAGING_SUFFIX, RETIRED_SUFFIX, STALE_INFIX, DIFF_SUFFIX]
        .into_iter()
        .find(|s| database.ends_with(s))
    {
        return refuse(format!(
            "names ending in {suffix} are the working copies of a swap, which cleanup drops"
        ));
    }
    if let Some(suffix) = [TEMPLATE_SUFFIX, SPARE_SUFFIX]
        .into_iter()
        .find(|s| database.ends_with(s))
    {
        return refuse(format!(
            "names ending in {suffix} are cached builds that only recreate uses"
        ));
    }
    Ok(())
}

/// Refuses an existing database owned by another environment's owner group: each
/// environment's commands touch only its own databases.
pub fn check_environment(admin: &mut Client, config: &Config, database: &str) -> Result<()> {
    let owner: Option<String> = admin
        .query_opt(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .context("reading the database's owner")?
        .map(|r| r.get(0));
    let Some(owner) = owner else {
        return Ok(());
    };
    let ours = role_name(&config.env, "owner");
    if owner == ours {
        return Ok(());
    }
    let other_env = owner
        .strip_prefix("ores_")
        .and_then(|o| o.strip_suffix("_owner"))
        .filter(|e| !e.is_empty());
    match other_env {
        Some(env) => Err(Error::Protected {
            database: database.to_string(),
            reason: format!(
                "it belongs to environment `{env}` (owned by {owner}), not `{}`; \
                 run with ORES_ENV={env} to act on it",
                config.env
            ),
        }),
        // Created by hand (e.g. by the administrator for `setup`): not another
        // environment's, so ours to fill.
        None => Ok(()),
    }
}

/// Both checks for the configuration's own database.
pub fn check(admin: &mut Client, config: &Config) -> Result<()> {
    check_name(&config.database)?;
    check_environment(admin, config, &config.database)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_the_pattern_are_refused() {
        for bad in [
            "postgres",
            "template1",
            "myapp",
            "ores_",
            "ores_dev_x__staging",
            "ores_dev_x__retired",
            "ores_dev_x__template",
            "ores_t_0123456789ab_0a1f_1_2_0",
            "ores_tp_0123456789ab_x",
            "ores_tpl_0123456789ab",
        ] {
            assert!(check_name(bad).is_err(), "{bad} accepted");
        }
        assert!(check_name("ores_dev_x").is_ok());
        assert!(check_name("ores_test").is_ok());
        assert!(check_name("ores_tpx").is_ok());
    }

    #[test]
    fn the_ores_pattern_needs_something_after_the_prefix() {
        assert!(is_ores_database_name("ores_dev_local"));
        assert!(!is_ores_database_name("ores_"));
        assert!(!is_ores_database_name("postgres"));
    }
}
