//! A parallel build into staging: independent scripts of the manifest applied on
//! several connections at once.
//!
//! Each script runs in a transaction of its own, on whichever worker is free, once
//! every script it must follow has committed.
//!
//! Which script must follow which is derived from the text, conservatively (see
//! [`plan`] and [`crate::tree::analysis`]): two scripts keep their manifest order when either mentions a name the
//! other creates; every populate script waits for every create script; and two
//! populate scripts keep their order when the tables they reach (the tables they
//! name, and through the create scripts of whatever they name, the tables those name:
//! triggers, their functions, foreign keys, lookups in dynamic SQL given as text)
//! overlap. A mention inside a comment or a string counts, which only costs
//! parallelism. The session settings earlier scripts left (a `SET`, a session-level
//! `set_config`), which the one-transaction build's single session keeps, are
//! replayed at the start of each script (`build/session_state.rs`); each
//! worker resets its session after every script. What the text cannot show is not
//! covered: a dependency hidden in dynamic SQL, a setting made inside a function.

use crate::build::parallel::in_own_transaction;
use crate::build::parallel::scheduler::Scheduler;
use crate::build::phases::{BULK_SEED_SQL, extensions_for, finish, prologue_sql};
use crate::build::session_state::preludes;
use crate::build::single::numeric::failure_in;
use crate::build::staging::create_and_fill;
use crate::build::{BuildPath, Lap};
use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result};
use crate::server::admin::connect_admin_to;
use crate::server::rights::AdminRights;
use crate::tree::analysis::{Analysis, UnitKind};
use crate::tree::manifest::{Manifest, Phase, Script};
use postgres::Client;

/// For each script (by manifest index), the earlier scripts it must wait for: every
/// populate script waits for every create script, and the text decides the rest.
/// What a script's `prelude` (the session settings it starts with) names counts as
/// named by the script.
pub fn plan(scripts: &[Script], preludes: &[String]) -> Vec<Vec<usize>> {
    let mut analysis = Analysis::default();
    scripts
        .iter()
        .zip(preludes)
        .map(|(s, p)| {
            let kind = match s.phase {
                Phase::Create => UnitKind::Create,
                Phase::Populate => UnitKind::Populate,
            };
            analysis.add(&format!("{p}{}", s.sql), kind)
        })
        .collect()
}

/// Creates `database` owned by the environment's owner and builds `manifest` into it
/// on `workers` connections. On failure the half-made database is dropped and the
/// first failure returned (path, line and SQLSTATE for a script).
pub(crate) fn build(
    admin: &mut Client,
    config: &Config,
    database: &str,
    manifest: &Manifest,
    workers: usize,
    bulk_seed: bool,
) -> Result<()> {
    let scripts = manifest.scripts();
    // The plan is the client's work and the database's creation and prologue the
    // server's: they overlap.
    std::thread::scope(|s| {
        let planned = s.spawn(|| -> Result<(Vec<String>, Vec<Vec<usize>>)> {
            let preludes = preludes(scripts)?;
            let deps = plan(scripts, &preludes);
            Ok((preludes, deps))
        });
        create_and_fill(admin, config, database, |owner| {
            let client = prologue(config, database, owner, manifest)?;
            let (preludes, deps) = planned
                .join()
                .map_err(|_| Error::Internal("the parallel plan panicked".into()))??;
            let job = Job {
                config,
                database,
                owner,
                manifest,
                deps: &deps,
                preludes: &preludes,
                workers,
                bulk_seed,
            };
            build_into(&job, client)
        })
    })
}

/// Installs the extensions and the applied-scripts table; the connection it did it
/// on becomes the first worker's.
fn prologue(config: &Config, database: &str, owner: &str, manifest: &Manifest) -> Result<Client> {
    let mut lap = Lap::start();
    let mut client = connect_admin_to(config, database)?;
    // As in the sequential build: a superuser installs the extensions itself, any
    // other login (trusted ones only) as the database's owner.
    let superuser = AdminRights::detect(&mut client)?.superuser;
    let mut tx = client
        .transaction()
        .context("opening the prologue transaction")?;
    let extensions = extensions_for(&mut tx, config, manifest)?;
    tx.batch_execute(&prologue_sql(&extensions, owner, !superuser))
        .context("preparing the database (extensions, owner role, applied-scripts table)")?;
    tx.commit().context("committing the prologue")?;
    lap.log("extensions");
    Ok(client)
}

/// A planned parallel build of `manifest` into `database`.
struct Job<'a> {
    config: &'a Config,
    database: &'a str,
    owner: &'a str,
    manifest: &'a Manifest,
    deps: &'a [Vec<usize>],
    /// For each script, the session settings the scripts before it left.
    preludes: &'a [String],
    workers: usize,
    bulk_seed: bool,
}

fn build_into(job: &Job<'_>, client: Client) -> Result<()> {
    let Job {
        config,
        database,
        owner,
        manifest,
        deps,
        preludes,
        workers,
        bulk_seed,
    } = *job;
    let scripts = manifest.scripts();
    let mut lap = Lap::start();
    let scheduler = Scheduler::new();
    for (i, d) in deps.iter().enumerate() {
        scheduler.push(i, d)?;
    }
    scheduler.seal(false);
    // What every script's transaction starts with.
    let mut setup = format!(
        "SET LOCAL synchronous_commit = off; SET LOCAL ROLE {};",
        quote_ident(owner)
    );
    if bulk_seed {
        setup.push_str(BULK_SEED_SQL);
    }
    let setup = setup.as_str();
    let mut connections = vec![client];
    for _ in 1..workers.clamp(1, scripts.len().max(1)) {
        connections.push(connect_admin_to(config, database)?);
    }
    std::thread::scope(|s| {
        for mut c in connections.drain(..) {
            let scheduler = &scheduler;
            s.spawn(move || {
                scheduler.work(
                    |&i| scripts[i].path.to_string(),
                    |i| apply_one(&mut c, setup, &preludes[i], &scripts[i]),
                )
            });
        }
    });
    if let Some(e) = scheduler.into_failure() {
        return Err(e);
    }
    lap.log("scripts on all workers");

    let mut client = connect_admin_to(config, database)?;
    let mut tx = client
        .transaction()
        .context("opening the grants transaction")?;
    tx.batch_execute(&format!(
        "SET LOCAL synchronous_commit = off; SET LOCAL ROLE {};",
        quote_ident(owner)
    ))
    .context("acting as the owner")?;
    finish(tx, config, database, manifest, BuildPath::Parallel)?;
    lap.log("grants, records and commit");
    Ok(())
}

/// Applies one script in a transaction of its own.
fn apply_one(client: &mut Client, setup: &str, prelude: &str, script: &Script) -> Result<()> {
    in_own_transaction(client, setup, prelude, &script.path, |tx| {
        tx.batch_execute(&script.sql)
            .map_err(|e| Error::Script(failure_in(&script.path, &script.sql, &e)))
    })
}
