//! Building, rebuilding and removing an environment's database.
//!
//! A build never happens in place: the new database is built under a staging name
//! and renamed into place only once complete, so a failed build leaves the previous
//! database untouched. Runs on one environment are serialised by an advisory lock.
//! The submodules are the other commands: rebuild one entity, reset tenants, drop
//! by name, and the rule of which databases may be touched ([`target`]).
//!
//! ```no_run
//! use ores_sql::lifecycle::{entity, reset};
//! let config = ores_sql::Config::load()?;
//! reset::reset_tenant(&config, "acme")?; // the tree's [commands] reset_tenant
//! let rebuilt = entity::recreate_entity(&config, "iam_tenants", false)?;
//! println!("recreated {} ({} script(s))", rebuilt.entity, rebuilt.scripts.len());
//! # Ok::<(), ores_sql::Error>(())
//! ```

pub mod cache;
pub mod commands;
pub mod diff;
pub mod drop;
pub mod entity;
mod entity_entry;
mod incremental;
pub mod inspect;
mod options;
pub mod reset;
pub mod retire;
pub mod target;
pub mod version;

use crate::build::staging::{discard, drop_as};
use crate::build::{BuildPath, Lap};
use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result};
use crate::lifecycle::target::{RETIRED_SUFFIX, STAGING_SUFFIX};
use crate::server::admin::{
    check_extensions, connect_admin, connect_admin_to, database_exists, drop_database, sessions,
    terminate_sessions, wait_for_no_sessions,
};
use crate::server::lock::{AdvisoryLock, LockClass};
use crate::server::rights::AdminRights;
use crate::server::roles::{Verifiers, drop_roles_as, ensure_roles_deferring};
use crate::tree::manifest::Manifest;
use crate::tree::registry::Registry;
use postgres::Client;
use std::time::{Duration, Instant};

pub use options::RunOptions;

/// What a build did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BuildReport {
    /// Environment label.
    pub env: String,
    /// Database built.
    pub database: String,
    /// Scripts applied.
    pub scripts_applied: usize,
    /// Schema hash recorded in the database.
    pub schema_hash: String,
    /// Whether an existing database was replaced.
    pub replaced: bool,
    /// Login roles that have no password.
    pub roles_without_password: Vec<String>,
    /// How the database was made (from the SQL, or cloned from the cached template).
    pub path: BuildPath,
    /// Wall time until the new database was in place under its name and open: what
    /// a service waiting for it waits. The rest of [`BuildReport::elapsed`] is the drop
    /// of the previous copy.
    pub usable_after: Duration,
    /// Wall time of the whole operation.
    pub elapsed: Duration,
}

/// What a teardown removed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TeardownReport {
    /// Whether the database existed and was dropped.
    pub database_dropped: bool,
    /// Roles dropped.
    pub roles_dropped: Vec<String>,
}

/// Drops and rebuilds the environment's database from the compiled-in manifest with
/// the default [`RunOptions`]: built beside the live one and swapped in, so a
/// failure leaves it as it was.
///
/// ```no_run
/// let config = ores_sql::Config::load()?;
/// let report = ores_sql::recreate(&config)?;
/// println!("{} usable after {:?} ({} build)", report.database, report.usable_after, report.path.as_str());
/// # Ok::<(), ores_sql::Error>(())
/// ```
pub fn recreate(config: &Config) -> Result<BuildReport> {
    recreate_with(config, Manifest::compiled(), &RunOptions::default())
}

/// [`recreate`] of `manifest` (another tree, or a test's small or broken one) with
/// `options`.
///
/// ```no_run
/// use ores_sql::RunOptions;
/// let config = ores_sql::Config::load()?;
/// let tree = ores_sql::Manifest::from_dir(std::path::Path::new("their/sql"))?;
/// // End other sessions instead of refusing.
/// ores_sql::recreate_with(&config, &tree, &RunOptions::new().kill(true))?;
/// # Ok::<(), ores_sql::Error>(())
/// ```
pub fn recreate_with(
    config: &Config,
    manifest: &Manifest,
    options: &RunOptions,
) -> Result<BuildReport> {
    crate::runtime::off_runtime(|| build(config, manifest, options, Mode::Replace))
}

/// Creates the database and applies everything, without dropping anything first.
/// Refuses if the database already holds a schema.
///
/// ```no_run
/// let config = ores_sql::Config::load()?;
/// match ores_sql::setup(&config) {
///     Ok(report) => println!("set up {}", report.database),
///     Err(ores_sql::Error::AlreadyExists(db)) => println!("{db} is already there"),
///     Err(e) => return Err(e),
/// }
/// # Ok::<(), ores_sql::Error>(())
/// ```
pub fn setup(config: &Config) -> Result<BuildReport> {
    setup_with(config, Manifest::compiled(), &RunOptions::default())
}

/// [`setup`] of `manifest` with `options`.
///
/// ```no_run
/// use ores_sql::{Manifest, RunOptions};
/// let config = ores_sql::Config::load()?.with_database("ores_dev_demo")?;
/// ores_sql::setup_with(&config, Manifest::compiled(), &RunOptions::new().workers(2))?;
/// # Ok::<(), ores_sql::Error>(())
/// ```
pub fn setup_with(
    config: &Config,
    manifest: &Manifest,
    options: &RunOptions,
) -> Result<BuildReport> {
    crate::runtime::off_runtime(|| build(config, manifest, options, Mode::Setup))
}

/// Drops the environment's database, its cached template and its roles; other
/// environments are untouched. Refuses while other sessions use the database.
///
/// ```no_run
/// let config = ores_sql::Config::load()?.with_env("ci")?;
/// let removed = ores_sql::teardown(&config)?;
/// println!("dropped {} role(s)", removed.roles_dropped.len());
/// # Ok::<(), ores_sql::Error>(())
/// ```
pub fn teardown(config: &Config) -> Result<TeardownReport> {
    teardown_with(config, &RunOptions::default())
}

/// [`teardown`] with `options` (of which only [`RunOptions::kill`] matters: end
/// the database's other sessions instead of refusing).
///
/// ```no_run
/// use ores_sql::RunOptions;
/// let config = ores_sql::Config::load()?.with_env("ci")?;
/// ores_sql::teardown_with(&config, &RunOptions::new().kill(true))?;
/// # Ok::<(), ores_sql::Error>(())
/// ```
pub fn teardown_with(config: &Config, options: &RunOptions) -> Result<TeardownReport> {
    crate::runtime::off_runtime(|| {
        config.validate()?;
        target::check_name(&config.database)?;
        let mut lock = EnvLock::acquire(connect_admin(config)?, config)?;
        let admin = lock.client();
        let rights = AdminRights::detect(admin)?;
        rights.require_provisioning()?;
        target::check_environment(admin, config, &config.database)?;
        let names: Vec<String> = crate::server::roles::roles_for(&config.env)
            .into_iter()
            .map(|r| r.name)
            .collect();
        refuse_other_users(admin, config, &names)?;
        // Dropping a database takes its owner's rights.
        rights.join_owner(admin, &config.env)?;
        if options.kill {
            rights.check_can_end_sessions(admin, &config.env, &config.database)?;
        }
        let staging = format!("{}{STAGING_SUFFIX}", config.database);
        let retired = format!("{}{RETIRED_SUFFIX}", config.database);
        force_drop(admin, &rights, &config.env, &staging)?;
        force_drop(admin, &rights, &config.env, &retired)?;
        cache::drop_cache(admin, &config.database)?;
        let database_dropped =
            drop_as(admin, &rights, &config.env, &config.database, options.kill)?;
        cache::drop_templates_of(admin, &names)?;
        let roles_dropped = drop_roles_as(admin, &config.env, &rights, Registry::compiled())?;
        Ok(TeardownReport {
            database_dropped,
            roles_dropped,
        })
    })
}

/// Refuses a teardown, before anything is dropped, when the environment's roles own
/// databases, or objects or rights in databases, other than the one it tears down
/// and that one's staging and retired copies, any cached template or spare of the
/// environment (all of which it drops), and the one this session is in (whose objects `DROP OWNED` removes with the roles): the
/// roles could not be dropped after it, and the database would be gone already.
fn refuse_other_users(
    admin: &mut postgres::Client,
    config: &Config,
    roles: &[String],
) -> Result<()> {
    let databases: Vec<String> = admin
        .query(
            "SELECT DISTINCT d.datname::text FROM pg_database d
               LEFT JOIN pg_shdepend s ON s.dbid = d.oid
                     AND s.refclassid = 'pg_authid'::regclass
              WHERE EXISTS (SELECT 1 FROM pg_roles r
                             WHERE r.rolname = ANY($1) AND r.oid IN (d.datdba, s.refobjid))
                AND d.datname <> $2 AND NOT starts_with(d.datname, $2 || '__')
                AND d.datname <> current_database()
                AND right(d.datname, $3) <> $4 AND right(d.datname, $5) <> $6
              ORDER BY 1",
            &[
                &roles,
                &config.database,
                &(target::TEMPLATE_SUFFIX.len() as i32),
                &target::TEMPLATE_SUFFIX,
                &(target::SPARE_SUFFIX.len() as i32),
                &target::SPARE_SUFFIX,
            ],
        )
        .context("looking for databases that use the environment's roles")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if databases.is_empty() {
        return Ok(());
    }
    Err(Error::EnvironmentInUse {
        env: config.env.clone(),
        databases,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Replace,
    Setup,
}

fn build(
    config: &Config,
    manifest: &Manifest,
    options: &RunOptions,
    mode: Mode,
) -> Result<BuildReport> {
    let started = Instant::now();
    config.validate()?;
    target::check_name(&config.database)?;
    // The builds log in as the DDL login, whose password is set with the roles; the
    // others' verifiers are hashed meanwhile and set just before the swap.
    let ddl = crate::build::login::ddl_role(manifest, &config.env).ok();
    let now: Vec<&str> = ddl.iter().map(String::as_str).collect();
    let verifiers = Verifiers::start(config, manifest.registry(), &now);
    let mut lap = Lap::start();
    let mut lock = EnvLock::acquire(connect_admin(config)?, config)?;
    lap.log("connect and lock");
    let admin = lock.client();
    let rights = AdminRights::detect(admin)?;
    rights.require_provisioning()?;
    target::check_environment(admin, config, &config.database)?;
    let extensions = manifest.required_extensions(&config.extensions);
    check_extensions(admin, &extensions)?;
    rights.check_extensions(admin, &extensions)?;
    // An existing environment's databases take its owner's rights to inspect,
    // recover and replace (a first build has no owner group yet: nothing happens).
    rights.join_owner(admin, &config.env)?;

    let target = config.database.as_str();
    let staging = format!("{target}{STAGING_SUFFIX}");
    let retired = format!("{target}{RETIRED_SUFFIX}");
    recover_interrupted(admin, &rights, &config.env, target, &staging, &retired)?;

    let exists = database_exists(admin, target)?;
    if exists {
        match mode {
            Mode::Setup => {
                if holds_schema(config, target)? {
                    return Err(Error::AlreadyExists(target.to_string()));
                }
            }
            // Fail before spending time on a build that could not be swapped in.
            Mode::Replace => {
                refuse_if_busy(admin, options, target)?;
                if options.kill {
                    rights.check_can_end_sessions(admin, &config.env, target)?;
                }
            }
        }
    }

    lap.log("checks and recovery");
    let roles_without_password =
        ensure_roles_deferring(admin, config, &rights, manifest.registry(), &now)?;
    verifiers.compare_with_stored(admin)?;
    rights.join_owner(admin, &config.env)?;
    lap.log("roles");
    let built = cache::build_staging(admin, config, manifest, &staging, options)?;
    let mut lap = Lap::start();
    if let Err(e) = verifiers.set(admin, manifest.registry(), config) {
        discard(admin, &config.env, &staging);
        return Err(e);
    }
    lap.log("login passwords");
    let swap = Swap {
        staging: &staging,
        target,
        retired: &retired,
        exists,
    };
    if let Err(e) = swap_into_place(admin, &rights, config, options, &swap) {
        discard(admin, &config.env, &staging);
        return Err(e);
    }
    lap.log("swap");
    let usable_after = started.elapsed();
    let leftovers: Vec<String> = exists
        .then_some(retired)
        .into_iter()
        .chain(built.stale)
        .collect();
    if options.tidy_later {
        // `retire::tidy` finds all of it again under the lock.
    } else if options.retire_in_background {
        let spare = built.template.map(|(template, key)| retire::NextSpare {
            database: target.to_string(),
            template,
            key,
        });
        retire::finish_later(lock, leftovers, spare);
    } else if !leftovers.is_empty() {
        for d in &leftovers {
            drop_database(admin, d, true)?;
        }
        lap.log("drop of the previous copy");
    }
    let path = built.path;
    Ok(BuildReport {
        env: config.env.clone(),
        database: target.to_string(),
        scripts_applied: manifest.scripts().len(),
        schema_hash: manifest.schema_hash().to_string(),
        replaced: exists,
        roles_without_password,
        path,
        usable_after,
        elapsed: started.elapsed(),
    })
}

fn refuse_if_busy(admin: &mut Client, options: &RunOptions, database: &str) -> Result<()> {
    if options.kill {
        return Ok(());
    }
    let others = sessions(admin, database)?;
    if others.is_empty() {
        Ok(())
    } else {
        Err(Error::ActiveConnections {
            database: database.to_string(),
            sessions: others.iter().map(|s| s.to_string()).collect(),
        })
    }
}

/// The names a swap moves: the finished `staging` database becomes `target`, whose
/// previous copy (if it `exists`) is kept as `retired` until then.
struct Swap<'a> {
    staging: &'a str,
    target: &'a str,
    retired: &'a str,
    exists: bool,
}

/// Renames the finished staging database into place. The previous database is kept
/// under the retired name until the new one carries the real name; the caller drops
/// it. Invariant: whatever fails, the live name is left on the previous database,
/// open, as it was ([`put_back`] is the one way back).
fn swap_into_place(
    admin: &mut Client,
    rights: &AdminRights,
    config: &Config,
    options: &RunOptions,
    swap: &Swap<'_>,
) -> Result<()> {
    let &Swap {
        staging,
        target,
        retired,
        exists,
    } = swap;
    // Staging is ours until the swap: close it and turn out anyone who got in, so no
    // session can make the final rename fail with the previous database retired.
    close_and_empty(admin, rights, config, staging)?;
    if exists {
        refuse_if_busy(admin, options, target)?;
        if options.kill {
            // Close the door before emptying the room, so nobody slips in between.
            if let Err(e) = close_and_empty(admin, rights, config, target) {
                put_back(admin, None, target);
                return Err(e);
            }
        }
        if let Err(e) = rename(admin, target, retired) {
            put_back(admin, None, target);
            return Err(in_use_or(admin, e, target, format!("retiring {target}")));
        }
    }
    if let Err(e) = rename(admin, staging, target) {
        if exists {
            put_back(admin, Some(retired), target);
        }
        return Err(in_use_or(
            admin,
            e,
            staging,
            format!("renaming {staging} to {target}"),
        ));
    }
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
            quote_ident(target)
        ))
        .context(format!("opening {target}"))
}

/// Closes `database` to new sessions and ends the ones it has (with what that takes).
fn close_and_empty(
    admin: &mut Client,
    rights: &AdminRights,
    config: &Config,
    database: &str,
) -> Result<()> {
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
            quote_ident(database)
        ))
        .context(format!("closing {database}"))?;
    // Terminated backends take a moment to exit; the rename needs them gone.
    rights.signalling(admin, &config.env, database, |admin| {
        terminate_sessions(admin, database)
    })?;
    wait_for_no_sessions(admin, database, Duration::from_secs(10)).map(drop)
}

fn rename(admin: &mut Client, from: &str, to: &str) -> std::result::Result<(), postgres::Error> {
    admin.batch_execute(&format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(from),
        quote_ident(to)
    ))
}

/// Puts the previous database back under `target` (from `retired`, when it had been
/// renamed) and opens it again, so a failed swap changes nothing. A failure here is
/// logged: the next run's recovery finishes it.
fn put_back(admin: &mut Client, retired: Option<&str>, target: &str) {
    let t = quote_ident(target);
    let mut sql = String::new();
    if let Some(r) = retired {
        sql.push_str(&format!(
            "ALTER DATABASE {} RENAME TO {t}; ",
            quote_ident(r)
        ));
    }
    sql.push_str(&format!("ALTER DATABASE {t} WITH ALLOW_CONNECTIONS true"));
    if let Err(e) = admin.batch_execute(&sql) {
        log::error!("could not put {target} back as it was ({e}); the next run will");
    }
}

/// A rename's error: the sessions in the way when another session held `database`,
/// else the error with `context`.
fn in_use_or(admin: &mut Client, e: postgres::Error, database: &str, context: String) -> Error {
    if e.code() == Some(&postgres::error::SqlState::OBJECT_IN_USE) {
        return match sessions(admin, database) {
            Ok(others) => Error::ActiveConnections {
                database: database.to_string(),
                sessions: others.iter().map(|s| s.to_string()).collect(),
            },
            Err(e) => e,
        };
    }
    Error::Postgres { context, source: e }
}

/// Drops `database`, terminating its sessions (with what that takes).
fn force_drop(admin: &mut Client, rights: &AdminRights, env: &str, database: &str) -> Result<bool> {
    drop_as(admin, rights, env, database, true)
}

/// Cleans up after a run that was killed: a staging database is always discarded; a
/// retired database is the previous good one, put back if the swap never finished.
fn recover_interrupted(
    admin: &mut Client,
    rights: &AdminRights,
    env: &str,
    target: &str,
    staging: &str,
    retired: &str,
) -> Result<()> {
    if force_drop(admin, rights, env, staging)? {
        log::warn!("removed {staging}, left behind by an interrupted run");
    }
    cache::drop_stale(admin, target)?;
    if database_exists(admin, retired)? {
        if database_exists(admin, target)? {
            force_drop(admin, rights, env, retired)?;
        } else {
            log::warn!("restoring {target} from {retired}, left behind by an interrupted swap");
            admin
                .batch_execute(&format!(
                    "ALTER DATABASE {} RENAME TO {}; ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
                    quote_ident(retired),
                    quote_ident(target),
                    quote_ident(target)
                ))
                .context(format!("restoring {target}"))?;
        }
    }
    Ok(())
}

/// Does the database hold any relation in `public`?
fn holds_schema(config: &Config, database: &str) -> Result<bool> {
    let mut client = connect_admin_to(config, database)?;
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
            &[],
        )
        .context("inspecting the existing database")?
        .get(0);
    Ok(n > 0)
}

/// The environment's advisory lock, held on the administrative session. It is
/// released when dropped, and by the server if the process dies.
pub struct EnvLock {
    /// `None` only while the lock is being dropped.
    client: Option<Client>,
    lock: AdvisoryLock,
}

impl EnvLock {
    /// Waits up to `config.lock_timeout` for the environment's lock.
    pub fn acquire(client: Client, config: &Config) -> Result<EnvLock> {
        crate::runtime::off_runtime(|| EnvLock::acquire_here(client, config))
    }

    fn acquire_here(mut client: Client, config: &Config) -> Result<EnvLock> {
        let lock = AdvisoryLock::new(&mut client, LockClass::Environment, &config.env)?;
        let started = Instant::now();
        if !lock.lock(&mut client, config.lock_timeout)? {
            return Err(Error::LockTimeout {
                env: config.env.clone(),
                waited: started.elapsed(),
            });
        }
        Ok(EnvLock {
            client: Some(client),
            lock,
        })
    }

    /// The administrative session holding the lock.
    pub fn client(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("the session is only taken while the lock is dropped")
    }
}

impl Drop for EnvLock {
    fn drop(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        let lock = self.lock;
        // The session itself is dropped on the helper thread too: closing a driver
        // connection inside a runtime panics. If unlocking fails, closing the session
        // releases the lock anyway.
        if let Err(e) = crate::runtime::in_drop(move || lock.unlock(&mut client)) {
            log::warn!("{e}");
        }
    }
}
