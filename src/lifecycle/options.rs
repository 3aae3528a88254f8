//! How one run goes, kept apart from the configuration: [`Config`] says where to
//! connect, as whom and for which environment, and stays the same from run to run;
//! [`RunOptions`] is what a caller chooses for this recreate, setup or teardown (as
//! refinery's `Runner` and sqlx's `Migrator` keep their run options apart from the
//! connection).

use crate::config::Config;

/// The choices of one recreate, setup or teardown. [`RunOptions::new`] (or
/// `Default`) is what [`recreate`](crate::recreate), [`setup`](crate::setup) and
/// [`teardown`](crate::teardown) use; pass others to
/// [`recreate_with`](crate::recreate_with), [`setup_with`](crate::setup_with) or
/// [`teardown_with`](crate::teardown_with).
///
/// ```no_run
/// use ores_sql::{Manifest, RunOptions};
/// let config = ores_sql::Config::load()?;
/// // End other sessions instead of refusing, skip the cached template, four connections.
/// let options = RunOptions::new().kill(true).rebuild(true).workers(4);
/// let report = ores_sql::recreate_with(&config, Manifest::compiled(), &options)?;
/// println!("{} built on {} connection(s)", report.database, options.workers_for(&config));
/// # Ok::<(), ores_sql::Error>(())
/// ```
///
/// The fields can be read and set directly too; new ones may be added, so a value
/// is made with [`RunOptions::new`] rather than a struct literal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOptions {
    /// Terminate other sessions instead of refusing when they block a drop or the
    /// swap (`compass ... --kill`). Default: refuse, naming them.
    pub kill: bool,
    /// Build from the SQL even when the environment's cached template matches
    /// (`compass db recreate --rebuild`); the template is made afresh from that build.
    pub rebuild: bool,
    /// Connections a full build applies the scripts on: 1 builds in one transaction,
    /// more applies independent scripts at once (see docs/design.md), falling back to
    /// one when the tree's session settings could not be handed on. `None` (the
    /// default) takes [`Config::default_workers`]: `ORES_DB_BUILD_WORKERS`, else two
    /// per core of the machine.
    pub workers: Option<usize>,
    /// Seed in bulk: versioned tables without the per-row read-and-close of the
    /// versioning trigger (every key is new in a database nobody reads yet), and a
    /// plain table's runs of multi-row inserts of constants as one `COPY` where that
    /// stores the same rows (see docs/design.md). Default `true`; `false` runs every
    /// insert as written and seeds row by row as any later write does.
    pub bulk_seed: bool,
    /// Return from a recreate as soon as the new database is in place, and drop the
    /// previous copy on a background thread that keeps holding the environment's
    /// lock (see [`crate::lifecycle::retire`]). Default `false`.
    pub retire_in_background: bool,
    /// Leave the work after the swap (dropping the previous copy, making the next
    /// cached copy) to a later [`tidy`](crate::lifecycle::retire::tidy), which holds
    /// the environment's lock while it runs. compass runs it in a process of its own,
    /// so the command returns once the database is in place. Default `false`.
    pub tidy_later: bool,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            kill: false,
            rebuild: false,
            workers: None,
            bulk_seed: true,
            retire_in_background: false,
            tidy_later: false,
        }
    }
}

impl RunOptions {
    /// The defaults: refuse busy databases, use the cache, the configured number of
    /// connections, bulk seeding, drop the previous copy before returning.
    pub fn new() -> RunOptions {
        RunOptions::default()
    }

    /// Sets [`RunOptions::kill`].
    pub fn kill(mut self, kill: bool) -> RunOptions {
        self.kill = kill;
        self
    }

    /// Sets [`RunOptions::rebuild`].
    pub fn rebuild(mut self, rebuild: bool) -> RunOptions {
        self.rebuild = rebuild;
        self
    }

    /// Sets [`RunOptions::workers`] (0 counts as 1).
    pub fn workers(mut self, workers: usize) -> RunOptions {
        self.workers = Some(workers);
        self
    }

    /// Sets [`RunOptions::bulk_seed`].
    pub fn bulk_seed(mut self, bulk_seed: bool) -> RunOptions {
        self.bulk_seed = bulk_seed;
        self
    }

    /// Sets [`RunOptions::retire_in_background`].
    pub fn retire_in_background(mut self, retire_in_background: bool) -> RunOptions {
        self.retire_in_background = retire_in_background;
        self
    }

    /// Sets [`RunOptions::tidy_later`].
    pub fn tidy_later(mut self, tidy_later: bool) -> RunOptions {
        self.tidy_later = tidy_later;
        self
    }

    /// The connections a build for `config` uses: [`RunOptions::workers`] when set,
    /// else the configured default.
    pub fn workers_for(&self, config: &Config) -> usize {
        self.workers.unwrap_or(config.default_workers).max(1)
    }
}
