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

use crate::build::Lap;
use crate::build::incremental::Kept;
use crate::build::parallel::scheduler::Scheduler;
use crate::build::parallel::{finish_on, in_own_transaction};
use crate::build::phases::{prepare, session_setup};
use crate::build::session_state::preludes;
use crate::build::staging::{build_sessions, create_and_fill};
use crate::build::statements::execute_each;
use crate::config::Config;
use crate::error::{Error, Result};
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
/// on `workers` sessions of the tree's DDL login. On failure the half-made database
/// is dropped and the first failure returned (path, line and SQLSTATE for a script).
pub(crate) fn build(
    admin: &mut Client,
    config: &Config,
    database: &str,
    manifest: &Manifest,
    (workers, bulk_seed): (usize, bool),
    kept: Option<&Kept<'_>>,
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
        create_and_fill(admin, config, database, |admin, owner| {
            prepare(config, database, owner, manifest)?;
            // One more session than workers: the last transaction's.
            let count = workers.clamp(1, scripts.len().max(1)) + 1;
            let mut sessions = build_sessions(admin, config, manifest, database, count)?;
            let mut last = sessions.pop().expect("at least two sessions");
            let (preludes, deps) = planned
                .join()
                .map_err(|_| Error::Internal("the parallel plan panicked".into()))??;
            let setup = session_setup(bulk_seed, Some(owner));
            apply_all(sessions, &setup, scripts, &deps, &preludes)?;
            finish_on(&mut last, (config, database, manifest), kept, None)
        })
    })
}

/// Applies every script on the worker `sessions`, each once the scripts it follows
/// have committed.
fn apply_all(
    sessions: Vec<Client>,
    setup: &str,
    scripts: &[Script],
    deps: &[Vec<usize>],
    preludes: &[String],
) -> Result<()> {
    let mut lap = Lap::start();
    let scheduler = Scheduler::new();
    for (i, d) in deps.iter().enumerate() {
        scheduler.push(i, d, scripts[i].sql.len())?;
    }
    scheduler.seal(false);
    std::thread::scope(|s| {
        for mut c in sessions {
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
    Ok(())
}

/// Applies one script in a transaction of its own.
fn apply_one(client: &mut Client, setup: &str, prelude: &str, script: &Script) -> Result<()> {
    in_own_transaction(client, setup, prelude, &script.path, |tx| {
        execute_each(tx, &script.sql).map_err(|e| Error::Script(e.failure(&script.path)))
    })
}
