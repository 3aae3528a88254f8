//! See before you destroy: what was changed by hand in a live database
//! ([`diff`]), and what a recreate would change and throw away ([`plan`]).
//!
//! Both compare the live database with what the tree builds, read from the
//! environment's cached template when its key matches (nothing is built), else from
//! a scratch build of the tree (`<db>__diff`, dropped when done). The template is
//! closed to connections; it is opened to the administrator alone (no role holds
//! CONNECT on it and PUBLIC's rights are revoked) for the read and closed again,
//! under the environment's lock, so no recreate can want to clone it meanwhile.
//! Opening it costs nothing, where a clone would cost a copy of every page and a
//! `DROP DATABASE` checkpoint; if the process dies while it is open, the template is
//! no longer in the state a recreate trusts, and the next recreate builds in full
//! and replaces it (slower, never wrong).
//!
//! ```no_run
//! let config = ores_sql::Config::load()?;
//! let report = ores_sql::diff(&config)?;
//! if report.drift {
//!     eprintln!("{} was changed by hand: {} object(s)", report.database, report.objects.len());
//! }
//! # Ok::<(), ores_sql::Error>(())
//! ```

mod catalog;
mod compare;
mod rows;

pub use compare::{Change, ObjectChange};
pub use rows::{RowCounts, TableRows, TenantRows};

use crate::build::Lap;
use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result};
use crate::lifecycle::EnvLock;
use crate::lifecycle::cache::{cache_key, template_matches, template_name};
use crate::lifecycle::target::{DIFF_SUFFIX, check_name};
use crate::server::admin::{
    connect_admin, connect_admin_to, database_exists, wait_for_no_sessions,
};
use crate::tree::manifest::{APPLIED_SCRIPTS_TABLE, Manifest};
use crate::tree::roles::role_name;
use catalog::{Object, Snapshot};
use postgres::Client;
use serde::Serialize;
use std::time::Duration;

/// What the live database was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reference {
    /// The environment's cached template (its key matched: nothing was built).
    Template,
    /// A scratch build of the tree, dropped after (no cached template matched).
    ScratchBuild,
    /// Nothing: the database does not exist (a recreate creates it).
    None,
}

/// What [`diff`] found: the objects of the live database that differ from the build
/// it records.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DiffReport {
    /// Whether anything differs.
    pub drift: bool,
    /// The live database.
    pub database: String,
    /// What it was compared with.
    pub reference: Reference,
    /// Every object that differs, by table, kind and name.
    pub objects: Vec<ObjectChange>,
}

/// A script of the tree that differs from the one the live database applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ScriptChange {
    /// The script's path in the tree.
    pub path: String,
    /// Added to the tree, removed from it, or changed (another SHA-256).
    pub change: Change,
}

/// What [`plan`] found: what a recreate would do now and what it would throw away.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PlanReport {
    /// The database a recreate replaces.
    pub database: String,
    /// Whether it exists (when not, a recreate creates it and nothing is lost).
    pub exists: bool,
    /// The path a recreate would take: `cached` (a clone of the template) or `full`.
    pub path: String,
    /// What the live database was compared with.
    pub reference: Reference,
    /// The scripts that changed since the live database's build, by path.
    pub scripts: Vec<ScriptChange>,
    /// The objects a recreate changes: made by hand or by another tree.
    pub objects: Vec<ObjectChange>,
    /// Per table, the rows that differ from a fresh build (what a recreate discards).
    pub data: Vec<TableRows>,
}

impl PlanReport {
    /// Whether a recreate would leave the database as it is (no script, object or
    /// row differs).
    pub fn is_unchanged(&self) -> bool {
        self.scripts.is_empty() && self.objects.is_empty() && self.data.is_empty()
    }
}

/// [`diff_with`] with the compiled-in manifest.
pub fn diff(config: &Config) -> Result<DiffReport> {
    diff_with(config, Manifest::compiled())
}

/// Compares the live database with the build it records (which must be `manifest`'s:
/// every applied script's SHA-256 matching), object by object. Read-only on the live
/// database.
pub fn diff_with(config: &Config, manifest: &Manifest) -> Result<DiffReport> {
    crate::runtime::off_runtime(|| {
        let mut session = Session::open(config)?;
        if !session.exists {
            return Err(Error::NoSuchDatabase(config.database.clone()));
        }
        let scripts = session.scripts(manifest)?;
        if !scripts.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{} was not built from this tree ({} script(s) differ, e.g. {} {}): `db diff` \
                 compares a database with the tree that built it; pass that tree with --sql-dir, \
                 or see what a recreate would change with `compass db plan`",
                config.database,
                scripts.len(),
                scripts[0].change.as_str(),
                scripts[0].path
            )));
        }
        let (reference, objects, _) = session.compare(config, manifest, false)?;
        Ok(DiffReport {
            drift: !objects.is_empty(),
            database: config.database.clone(),
            reference,
            objects,
        })
    })
}

/// [`plan_with`] with the compiled-in manifest.
pub fn plan(config: &Config) -> Result<PlanReport> {
    plan_with(config, Manifest::compiled())
}

/// What a recreate from `manifest` would do now: its path, the scripts changed since
/// the live build, the objects it changes and the rows it discards. Read-only on the
/// live database.
pub fn plan_with(config: &Config, manifest: &Manifest) -> Result<PlanReport> {
    crate::runtime::off_runtime(|| {
        let mut session = Session::open(config)?;
        let cached = session.template_key(config, manifest)?.is_some();
        let mut report = PlanReport {
            database: config.database.clone(),
            exists: session.exists,
            path: if cached { "cached" } else { "full" }.into(),
            reference: Reference::None,
            scripts: Vec::new(),
            objects: Vec::new(),
            data: Vec::new(),
        };
        if !session.exists {
            return Ok(report);
        }
        report.scripts = session.scripts(manifest)?;
        let (reference, objects, data) = session.compare(config, manifest, true)?;
        report.reference = reference;
        report.objects = objects;
        report.data = data;
        Ok(report)
    })
}

/// The environment's lock and a session on the live database.
struct Session {
    lock: EnvLock,
    live: Option<Client>,
    exists: bool,
}

impl Session {
    fn open(config: &Config) -> Result<Session> {
        check_name(&config.database)?;
        // Held throughout: no recreate may swap the database or clone the template
        // while it is read (a recreate waits for the lock as for another build).
        let mut lock = EnvLock::acquire(connect_admin(config)?, config)?;
        let exists = database_exists(lock.client(), &config.database)?;
        let live = if exists {
            Some(connect_admin_to(config, &config.database)?)
        } else {
            None
        };
        Ok(Session { lock, live, exists })
    }

    fn live(&mut self) -> &mut Client {
        self.live
            .as_mut()
            .expect("only read when the database exists")
    }

    /// The cached template's name when its key matches `manifest` now.
    fn template_key(&mut self, config: &Config, manifest: &Manifest) -> Result<Option<String>> {
        let admin = self.lock.client();
        let template = template_name(&config.database);
        let key = cache_key(admin, config, manifest)?;
        Ok(template_matches(admin, &template, &key)?.then_some(template))
    }

    /// The scripts of `manifest` whose path or SHA-256 the live database's
    /// applied-scripts table does not hold, and those it holds that `manifest` lacks.
    fn scripts(&mut self, manifest: &Manifest) -> Result<Vec<ScriptChange>> {
        let applied: std::collections::BTreeMap<String, String> = self
            .live()
            .query(
                &format!(
                    "SELECT name::text, checksum::text FROM {}",
                    quote_ident(APPLIED_SCRIPTS_TABLE)
                ),
                &[],
            )
            .map_err(|e| match e.code() {
                Some(&postgres::error::SqlState::UNDEFINED_TABLE) => Error::InvalidArgument(
                    "the database has no record of applied scripts, so it was not built by \
                     ores-sql; rebuild it with `compass db recreate`"
                        .into(),
                ),
                _ => Error::Postgres {
                    context: "reading the applied scripts".into(),
                    source: e,
                },
            })?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let applied = relative(applied);
        let tree = relative(
            manifest
                .scripts()
                .iter()
                .map(|s| (s.path.to_string(), s.sha256.to_string()))
                .collect(),
        );
        let mut changes = Vec::new();
        for (path, sum) in &tree {
            match applied.get(path) {
                None => changes.push((path.clone(), Change::Added)),
                Some(s) if s != sum => changes.push((path.clone(), Change::Changed)),
                Some(_) => {}
            }
        }
        for path in applied.keys() {
            if !tree.contains_key(path) {
                changes.push((path.clone(), Change::Removed));
            }
        }
        changes.sort();
        Ok(changes
            .into_iter()
            .map(|(path, change)| ScriptChange { path, change })
            .collect())
    }

    /// The objects (and, with `data`, the rows) of the live database that differ from
    /// what `manifest` builds.
    fn compare(
        &mut self,
        config: &Config,
        manifest: &Manifest,
        data: bool,
    ) -> Result<(Reference, Vec<ObjectChange>, Vec<TableRows>)> {
        let mut lap = Lap::start();
        let template = self.template_key(config, manifest)?;
        lap.log("cache key");
        let mut live_db = catalog::database_objects(self.lock.client(), &config.database)?;
        let live = self
            .live
            .take()
            .expect("only compared when the database exists");
        let (reference, result) =
            with_reference(self.lock.client(), config, manifest, template, |built| {
                compare_with(live, built, data)
            });
        lap.log("comparison with the tree's build");
        let (mut live_objects, built_objects, rows) = result?;
        live_objects.append(&mut live_db);
        let mut built_objects = built_objects;
        built_objects.extend(expected_database_objects(&config.env, &config.database));
        Ok((
            reference,
            compare::compare(&built_objects, &live_objects),
            rows,
        ))
    }
}

/// Script paths relative to their tree: an entry-script tree's paths carry the
/// directory it was read from (absolute), which a copy of the tree elsewhere does not
/// share. Their common directory is dropped; a numbered tree's paths are already
/// relative to its root.
fn relative(
    scripts: std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    if scripts.is_empty() || !scripts.keys().all(|p| p.starts_with('/')) {
        return scripts;
    }
    let dirs = |p: &str| -> Vec<String> {
        let mut parts: Vec<String> = p.split('/').map(String::from).collect();
        parts.pop();
        parts
    };
    let mut common = dirs(scripts.keys().next().expect("not empty"));
    for p in scripts.keys() {
        let d = dirs(p);
        let same = common.iter().zip(&d).take_while(|(a, b)| a == b).count();
        common.truncate(same);
    }
    let prefix = format!("{}/", common.join("/"));
    scripts
        .into_iter()
        .map(|(p, s)| (p.strip_prefix(&prefix).unwrap_or(&p).to_string(), s))
        .collect()
}

/// Reads both databases at once (each on its own session).
fn compare_with(
    mut live: Client,
    built: &mut Client,
    data: bool,
) -> Result<(Snapshot, Snapshot, Vec<TableRows>)> {
    let (l, b) = std::thread::scope(|s| {
        let l = s.spawn(|| catalog::snapshot(&mut live));
        (l.join(), catalog::snapshot(built))
    });
    let l = l.map_err(|_| Error::Internal("the catalog reader panicked".into()))??;
    let b = b?;
    let rows = if data {
        rows::compare_rows(&mut live, built)?
    } else {
        Vec::new()
    };
    Ok((l, b, rows))
}

/// What every database of the environment holds on the database itself after a
/// recreate: owned by the owner group, which keeps its owner's rights (CONNECT,
/// CREATE, TEMPORARY); CONNECT for the read-write, read-only and service groups;
/// nothing for PUBLIC (`server::grants::database_grants_sql` and
/// `admin::open_to_administrator`). A copy does not carry its database's privileges,
/// so the template cannot be asked.
fn expected_database_objects(env: &str, database: &str) -> Snapshot {
    let one = |field: &'static str, value: &str| Object {
        table: None,
        fields: vec![(field, Some(value.to_string()))],
    };
    let owner = role_name(env, "owner");
    let mut objects = Snapshot::new();
    objects.insert(
        ("owner", format!("database {database}")),
        one("owner", &owner),
    );
    objects.insert(
        ("grant", format!("database {database} to {owner}")),
        one("privileges", "CONNECT, CREATE, TEMPORARY"),
    );
    for group in ["rw", "ro", "service"] {
        objects.insert(
            (
                "grant",
                format!("database {database} to {}", role_name(env, group)),
            ),
            one("privileges", "CONNECT"),
        );
    }
    objects
}

/// Runs `read` on a session on what `manifest` builds: the cached `template` (opened
/// to the administrator for the read and closed again) or a scratch build, dropped
/// after. Says which it was, with `read`'s result (or the failure to get there).
fn with_reference<T>(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
    template: Option<String>,
    read: impl FnOnce(&mut Client) -> Result<T>,
) -> (Reference, Result<T>) {
    match template {
        Some(template) => (
            Reference::Template,
            read_template(admin, config, &template, read),
        ),
        None => (
            Reference::ScratchBuild,
            read_scratch(admin, config, manifest, read),
        ),
    }
}

fn read_template<T>(
    admin: &mut Client,
    config: &Config,
    template: &str,
    read: impl FnOnce(&mut Client) -> Result<T>,
) -> Result<T> {
    let t = quote_ident(template);
    admin
        .batch_execute(&format!("ALTER DATABASE {t} WITH ALLOW_CONNECTIONS true"))
        .context(format!("opening {template} to read it"))?;
    let result = connect_admin_to(config, template).and_then(|mut client| read(&mut client));
    let closed = admin
        .batch_execute(&format!("ALTER DATABASE {t} WITH ALLOW_CONNECTIONS false"))
        .context(format!("closing {template} again"))
        // The next recreate clones it, which no session may be on.
        .and_then(|()| wait_for_no_sessions(admin, template, Duration::from_secs(5)).map(drop));
    if let Err(e) = closed {
        log::warn!(
            "{e}; the next recreate will not trust {template} and builds in full, replacing it"
        );
    }
    result
}

fn read_scratch<T>(
    admin: &mut Client,
    config: &Config,
    manifest: &Manifest,
    read: impl FnOnce(&mut Client) -> Result<T>,
) -> Result<T> {
    let scratch = format!("{}{DIFF_SUFFIX}", config.database);
    // One a run that ended left behind.
    crate::build::staging::discard(admin, &config.env, &scratch);
    log::info!("no cached template matches the tree; building it into {scratch} to compare");
    crate::build::build_database(admin, config, &scratch, manifest, true)?;
    let result = admin
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
            quote_ident(&scratch)
        ))
        .context(format!("opening {scratch} to the administrator"))
        .and_then(|()| connect_admin_to(config, &scratch))
        .and_then(|mut client| read(&mut client));
    crate::build::staging::discard(admin, &config.env, &scratch);
    result
}
