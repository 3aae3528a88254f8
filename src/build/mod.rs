//! Building one database from a manifest: everything between "an empty database
//! exists" and "its build is committed", on every path.
//!
//! The lifecycle layer decides *whether* to build (the cache, the swap); this layer
//! decides *how*. A build is the same three phases whichever builder runs:
//!
//! 1. `staging::create_and_fill` creates the database, owned by the environment's
//!    owner group, and drops it again if anything after fails;
//! 2. `phases::prepare`, the administrator's part, installs the extensions and the
//!    applied-scripts table; then one builder of the 2×2 grid below applies the
//!    scripts in sessions of the tree's DDL login (`login`), never the
//!    administrator's;
//! 3. `phases::finish`, still as the DDL login, hands what it made to the owner
//!    group, applies the grants, writes the applied-scripts rows and the build
//!    record ([`record`]), and commits.
//!
//! | tree layout | one connection (one transaction) | several connections |
//! |---|---|---|
//! | numeric prefixes | [`single::numeric`] | [`parallel::numeric`] |
//! | psql entry scripts | [`single::entry`] | [`parallel::entry`] |
//!
//! Both parallel builders hand their units to the one `parallel::scheduler`; the
//! order it keeps comes from the text analysis in [`crate::tree::analysis`].

pub mod copy_rows;
pub(crate) mod hidden;
pub(crate) mod incremental;
pub(crate) mod login;
pub mod parallel;
pub(crate) mod phases;
pub mod record;
pub(crate) mod session_state;
pub mod single;
pub(crate) mod staging;
pub(crate) mod statements;

use crate::config::Config;
use crate::error::Result;
use crate::server::rights::AdminRights;
use crate::tree::manifest::Manifest;
use postgres::Client;
use std::time::Instant;

pub use record::BuildPath;

/// Creates `database` (owned by the environment's owner role, whose roles must exist)
/// and builds `manifest` into it in one transaction, seeding in bulk when `bulk_seed`
/// (see `RunOptions::bulk_seed`). On failure the half-made database is dropped again. `recreate`, `setup` and the test harness's templates all reach
/// the same builders, so a template is exactly what a recreate would have produced.
pub fn build_database(
    admin: &mut Client,
    config: &Config,
    database: &str,
    manifest: &Manifest,
    bulk_seed: bool,
) -> Result<()> {
    let rights = AdminRights::detect(admin)?;
    rights.check_extensions(admin, &config.extensions)?;
    rights.join_owner(admin, &config.env)?;
    build_with(admin, config, database, manifest, (1, bulk_seed), None).map(drop)
}

/// Builds `manifest` into a new `database` on `workers` connections (seeding in bulk
/// when `bulk_seed`), choosing the builder: several connections when asked for, else
/// one transaction, which is also what a tree whose session settings the workers
/// could not hand on gets (saying why at info level). Returns the path taken. The administrator is a member of the
/// owner group if it is not a superuser.
pub(crate) fn build_with(
    admin: &mut Client,
    config: &Config,
    database: &str,
    manifest: &Manifest,
    (workers, bulk_seed): (usize, bool),
    kept: Option<&incremental::Kept<'_>>,
) -> Result<BuildPath> {
    if workers <= 1 {
        single::build(admin, config, database, manifest, bulk_seed, kept)?;
        return Ok(BuildPath::Full);
    }
    let how = (workers, bulk_seed);
    let parallel = if manifest.entry_mode() {
        parallel::entry::build(admin, config, database, manifest, how, kept)
    } else {
        parallel::numeric::build(admin, config, database, manifest, how, kept)
    };
    match parallel {
        // A setting psql would carry from one file into the next in a form the
        // workers cannot replay: the one-connection build is psql's own semantics.
        // The parallel build dropped what it had made.
        Err(e) if session_state::is_hazard(&e) => {
            log::info!("building on one connection: {e}");
            if let Some(k) = kept {
                k.gsets.restart();
            }
            single::build(admin, config, database, manifest, bulk_seed, kept)?;
            Ok(BuildPath::Full)
        }
        other => other.map(|()| BuildPath::Parallel),
    }
}

/// Phase timings at debug level (`RUST_LOG=ores_sql=debug`): where a build spends
/// its time, without a profiler.
pub(crate) struct Lap(Instant);

impl Lap {
    pub(crate) fn start() -> Lap {
        Lap(Instant::now())
    }

    pub(crate) fn log(&mut self, phase: &str) {
        log::debug!("{phase}: {:.1} ms", self.0.elapsed().as_secs_f64() * 1e3);
        self.0 = Instant::now();
    }
}
