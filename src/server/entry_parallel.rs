//! A parallel build of an entry-script tree (`Config::build_workers` > 1).
//!
//! psql runs such a tree as one ordered stream, so this build keeps the stream and
//! only overlaps what the order does not decide: the expander runs on this thread
//! exactly as for the one-transaction build, and each run of steps from one file (a
//! *unit*) goes to whichever worker connection is free once every earlier unit it
//! depends on has committed. A `\gset` is a barrier: every unit before it commits,
//! then its query runs and the expansion goes on with the values it set. Each unit
//! runs in a transaction of its own as the DDL login user; staging is invisible until
//! the swap, so a failure anywhere drops it and keeps the previous database.
//!
//! Which unit waits for which is derived from the text, conservatively, as for the
//! numeric layout ([`crate::server::parallel`]) but without its create/populate
//! phases, which an entry tree does not have: two units keep their order when either
//! defines a name the other mentions; when one defines nothing (it fills, alters,
//! grants or adds triggers and policies), the tables it reaches (named, and through
//! the definitions of what it names) must not be mentioned by the other. The session
//! settings psql would carry from earlier files (a `SET`, a session-level
//! `set_config`) are replayed at the start of each unit, as for the numeric layout
//! ([`crate::server::session_state`]).

use crate::config::Config;
use crate::config::ident::quote_ident;
use crate::error::{Error, PgContext, Result};
use crate::lifecycle::version::BuildPath;
use crate::server::admin::connect_admin_to;
use crate::server::apply::build_prologue;
use crate::server::parallel::{defined_names, in_own_transaction, lock, panic_as_error, words};
use crate::server::session_state::{SessionState, cannot_hand_on};
use crate::server::steps::{Row, ddl_login, expand_tree, hand_over_sql, record_applied, run_step};
use crate::tree::manifest::Manifest;
use crate::tree::psql::{Action, Step};
use postgres::Client;
use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex};

/// A run of consecutive steps from one file, with what the order analysis needs.
struct Unit {
    path: String,
    steps: Vec<Step>,
    deps: Vec<usize>,
    /// The session settings in force where the unit starts in psql's stream.
    prelude: String,
}

/// What the expander and the workers share.
#[derive(Default)]
struct Board {
    units: Vec<Unit>,
    started: Vec<bool>,
    done: Vec<bool>,
    /// No more units will come.
    sealed: bool,
    /// The expansion failed: run nothing more.
    stop: bool,
    failure: Option<Error>,
}

/// The text facts of the units so far, for the dependencies of the next one.
#[derive(Default)]
struct Analysis {
    words: Vec<HashSet<String>>,
    defs: Vec<HashSet<String>>,
    reach: Vec<HashSet<String>>,
    tables: HashSet<String>,
    definers: HashMap<String, Vec<usize>>,
}

impl Analysis {
    /// Adds a unit of `sql`; the earlier units it must wait for.
    fn add(&mut self, sql: &str) -> Vec<usize> {
        let j = self.words.len();
        let words_j = words(sql);
        let defs_j = defined_names(sql, false);
        self.tables.extend(defined_names(sql, true));
        for d in &defs_j {
            self.definers.entry(d.clone()).or_default().push(j);
        }
        self.words.push(words_j);
        self.defs.push(defs_j);
        let reach_j = self.reach_of(j);
        self.reach.push(reach_j);
        (0..j).filter(|&i| self.ordered(i, j)).collect()
    }

    /// The tables unit `j` can touch: those it names, and through the definitions of
    /// whatever it names, those they name.
    fn reach_of(&self, j: usize) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut names = self.words[j].clone();
        let mut queue: Vec<String> = names.iter().cloned().collect();
        while let Some(name) = queue.pop() {
            for &c in self.definers.get(&name).into_iter().flatten() {
                if seen.insert(c) {
                    for w in &self.words[c] {
                        if names.insert(w.clone()) {
                            queue.push(w.clone());
                        }
                    }
                }
            }
        }
        names.retain(|n| self.tables.contains(n));
        names
    }

    fn ordered(&self, i: usize, j: usize) -> bool {
        let defines = |x: usize| !self.defs[x].is_empty();
        let mentions_defs = |a: usize, b: usize| !self.words[a].is_disjoint(&self.defs[b]);
        let mentions_reach = |a: usize, b: usize| !self.words[a].is_disjoint(&self.reach[b]);
        match (defines(i), defines(j)) {
            (true, true) => mentions_defs(j, i) || mentions_defs(i, j),
            (true, false) => mentions_defs(j, i) || mentions_reach(i, j),
            (false, true) => mentions_defs(i, j) || mentions_reach(j, i),
            (false, false) => !self.reach[i].is_disjoint(&self.reach[j]),
        }
    }
}

/// The SQL a unit sends, for the order analysis.
fn unit_text(steps: &[Step]) -> String {
    let mut text = String::new();
    for s in steps {
        match &s.action {
            Action::Sql(sql) => text.push_str(sql),
            Action::Copy { statement, .. } => text.push_str(statement),
            Action::Echo(_) | Action::Gset { .. } => {}
        }
        text.push_str(";\n");
    }
    text
}

/// Creates `database` owned by the environment's owner and builds the entry tree of
/// `manifest` into it on `workers` connections. The administrator must be a
/// superuser (the caller builds on one connection otherwise). On failure the
/// half-made database is dropped and the first failure returned.
pub(crate) fn build_database(
    admin: &mut Client,
    config: &Config,
    database: &str,
    manifest: &Manifest,
    workers: usize,
) -> Result<()> {
    crate::lifecycle::create_and_fill(admin, config, database, |owner| {
        build_into(config, database, owner, manifest, workers)
    })
}

fn build_into(
    config: &Config,
    database: &str,
    owner: &str,
    manifest: &Manifest,
    workers: usize,
) -> Result<()> {
    let mut lap = crate::lifecycle::Lap::start();
    let ddl = ddl_login(manifest, &config.env);
    let mut main = connect_admin_to(config, database)?;
    let mut tx = main
        .transaction()
        .context("opening the prologue transaction")?;
    let extensions = crate::lifecycle::extensions_for(&mut tx, config, manifest)?;
    tx.batch_execute(&build_prologue(&extensions, owner, false))
        .context("preparing the database (extensions, owner role, applied-scripts table)")?;
    tx.commit().context("committing the prologue")?;
    lap.log("extensions");

    // What every unit's transaction starts with: psql's session is the DDL user's.
    let mut setup = format!(
        "SET LOCAL synchronous_commit = off; SET LOCAL ROLE {};",
        quote_ident(&ddl)
    );
    if config.bulk_seed {
        setup.push_str(crate::lifecycle::BULK_SEED_SQL);
    }
    let label = manifest.label().to_string();
    let board = Mutex::new(Board::default());
    let wake = Condvar::new();
    let mut connections = Vec::new();
    for _ in 0..workers.max(1) {
        connections.push(connect_admin_to(config, database)?);
    }
    let expanded = std::thread::scope(|s| {
        for mut c in connections.drain(..) {
            let (board, wake, setup, label) = (&board, &wake, setup.as_str(), label.as_str());
            s.spawn(move || work(&mut c, setup, label, board, wake));
        }
        let result = panic_as_error("the entry-script expander", || {
            expand_into_units(manifest, config, &mut main, &setup, &board, &wake)
        });
        let mut b = lock(&board);
        b.sealed = true;
        // Nothing after a failure may run.
        b.stop = result.is_err();
        drop(b);
        wake.notify_all();
        result
    });
    let board = board.into_inner().unwrap_or_else(|e| e.into_inner());
    // A unit's failure is the one psql would have reported (the expander only notices
    // it at its next step), so it comes first.
    if let Some(e) = board.failure {
        return Err(e);
    }
    expanded?;
    lap.log("entry scripts on all workers");

    // As the one-transaction build ends: everything the DDL user made goes to the
    // owner group, then grants, the applied-scripts rows and the build record.
    let mut tx = main
        .transaction()
        .context("opening the grants transaction")?;
    let epilogue = format!(
        "SET LOCAL synchronous_commit = off;\n{}SET LOCAL ROLE {};\n",
        hand_over_sql(&ddl, owner),
        quote_ident(owner)
    );
    tx.batch_execute(&epilogue)
        .context(format!("handing what {ddl} created to {owner}"))?;
    record_applied(&mut tx, manifest)?;
    crate::lifecycle::finish_build(tx, config, database, manifest, BuildPath::Parallel)?;
    lap.log("ownership, grants, build record and commit");
    Ok(())
}

/// Runs the expander, handing each file's run of steps to the workers as a unit and
/// running each `\gset` itself once everything before it has committed.
fn expand_into_units(
    manifest: &Manifest,
    config: &Config,
    main: &mut Client,
    setup: &str,
    board: &Mutex<Board>,
    wake: &Condvar,
) -> Result<()> {
    let label = manifest.label().to_string();
    let mut analysis = Analysis::default();
    let mut pending: Vec<Step> = Vec::new();
    // psql's session settings as the stream stands, and as they stood where the
    // pending unit began.
    let mut session = SessionState::default();
    let mut pending_prelude = String::new();
    let submit = |pending: &mut Vec<Step>, prelude: &str, analysis: &mut Analysis| -> Result<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let steps = std::mem::take(pending);
        // What the replayed settings name counts as used by the unit.
        let deps = analysis.add(&format!("{prelude}{}", unit_text(&steps)));
        let mut b = lock(board);
        if let Some(e) = &b.failure {
            return Err(Error::Config(format!("a unit failed: {e}")));
        }
        b.units.push(Unit {
            path: steps[0].path.clone(),
            steps,
            deps,
            prelude: prelude.to_string(),
        });
        b.started.push(false);
        b.done.push(false);
        drop(b);
        wake.notify_all();
        Ok(())
    };
    {
        let mut run = |step: &Step, secrets: &[String]| -> Result<Option<Row>> {
            let holds_secret = |sql: &str| secrets.iter().any(|s| !s.is_empty() && sql.contains(s));
            match &step.action {
                Action::Echo(text) => {
                    // Logged as it is reached, which may be before what precedes it
                    // has finished on the workers.
                    let mut shown = text.clone();
                    for s in secrets.iter().filter(|s| !s.is_empty()) {
                        shown = shown.replace(s.as_str(), "<redacted>");
                    }
                    log::info!("{label}/{}:{}: {shown}", step.path, step.line);
                    Ok(None)
                }
                // A `\gset` feeds what follows, and a statement holding a value read
                // through a backtick runs hidden: both run here, after everything
                // before them.
                Action::Gset { query, .. } => {
                    submit(&mut pending, &pending_prelude, &mut analysis)?;
                    wait_for_all(board, wake)?;
                    let prelude = session.replay();
                    follow(&mut session, &label, step, query)?;
                    run_step_on(main, setup, &prelude, &label, step, secrets)
                }
                Action::Sql(sql) if holds_secret(sql) => {
                    submit(&mut pending, &pending_prelude, &mut analysis)?;
                    wait_for_all(board, wake)?;
                    let prelude = session.replay();
                    follow(&mut session, &label, step, sql)?;
                    run_step_on(main, setup, &prelude, &label, step, secrets)
                }
                Action::Sql(_) | Action::Copy { .. } => {
                    if pending.first().is_some_and(|p| p.path != step.path) {
                        submit(&mut pending, &pending_prelude, &mut analysis)?;
                    }
                    if pending.is_empty() {
                        pending_prelude = session.replay();
                    }
                    if let Action::Sql(sql) = &step.action {
                        follow(&mut session, &label, step, sql)?;
                    }
                    pending.push(step.clone());
                    Ok(None)
                }
            }
        };
        expand_tree(manifest, config, &mut run)?;
    }
    submit(&mut pending, &pending_prelude, &mut analysis)?;
    wait_for_all(board, wake)
}

/// Follows one piece of the stream in `session`, refusing a statement whose change
/// to the session cannot be handed on to the files after it.
fn follow(session: &mut SessionState, label: &str, step: &Step, sql: &str) -> Result<()> {
    session.follow_all(sql).map_err(|(_, line)| {
        cannot_hand_on(&format!("{label}/{}", step.path), step.line + line - 1)
    })
}

/// Runs one step on the expander's own connection, in a transaction of its own as
/// the DDL user.
fn run_step_on(
    client: &mut Client,
    setup: &str,
    prelude: &str,
    label: &str,
    step: &Step,
    secrets: &[String],
) -> Result<Option<Row>> {
    let path = format!("{label}/{}", step.path);
    in_own_transaction(client, setup, prelude, &path, |tx| {
        run_step(tx, step, &path, secrets)
    })
}

/// Waits until every unit handed over so far has committed, or one failed.
fn wait_for_all(board: &Mutex<Board>, wake: &Condvar) -> Result<()> {
    let mut b = lock(board);
    loop {
        if let Some(e) = &b.failure {
            return Err(Error::Config(format!("a unit failed: {e}")));
        }
        if b.done.iter().all(|d| *d) {
            return Ok(());
        }
        b = wake.wait(b).unwrap_or_else(|e| e.into_inner());
    }
}

/// One worker: takes the first unit whose dependencies have committed, applies it,
/// repeats until the expansion is over and every unit is done, or anything failed.
fn work(client: &mut Client, setup: &str, label: &str, board: &Mutex<Board>, wake: &Condvar) {
    loop {
        let (index, steps, path, prelude) = {
            let mut b = lock(board);
            loop {
                if b.failure.is_some() || b.stop {
                    return;
                }
                let ready = (0..b.units.len())
                    .find(|&i| !b.started[i] && b.units[i].deps.iter().all(|&d| b.done[d]));
                if let Some(i) = ready {
                    b.started[i] = true;
                    // A started unit's steps are not read again.
                    let u = &mut b.units[i];
                    let steps = std::mem::take(&mut u.steps);
                    break (i, steps, u.path.clone(), std::mem::take(&mut u.prelude));
                }
                if b.sealed && b.started.iter().all(|s| *s) {
                    return;
                }
                b = wake.wait(b).unwrap_or_else(|e| e.into_inner());
            }
        };
        let outcome = panic_as_error(&format!("the worker applying {label}/{path}"), || {
            apply_unit(client, setup, &prelude, label, &path, &steps)
        });
        let mut b = lock(board);
        match outcome {
            Ok(()) => b.done[index] = true,
            Err(e) => {
                if b.failure.is_none() {
                    b.failure = Some(e);
                }
            }
        }
        drop(b);
        wake.notify_all();
    }
}

/// Applies one unit in a transaction of its own as the DDL user.
fn apply_unit(
    client: &mut Client,
    setup: &str,
    prelude: &str,
    label: &str,
    path: &str,
    steps: &[Step],
) -> Result<()> {
    let full = format!("{label}/{path}");
    in_own_transaction(client, setup, prelude, &full, |tx| {
        steps
            .iter()
            .try_for_each(|step| run_step(tx, step, &full, &[]).map(drop))
    })
}
