//! A parallel build of an entry-script tree (`RunOptions::workers` > 1).
//!
//! psql runs such a tree as one ordered stream, so this build keeps the stream and
//! only overlaps what the order does not decide: the expander runs on this thread
//! exactly as for the one-transaction build, and each run of steps from one file (a
//! *unit*) goes to whichever worker connection is free once every earlier unit it
//! depends on has committed. A `\gset` is a barrier: every unit before it commits,
//! then its query runs and the expansion goes on with the values it set. Each unit
//! runs in a transaction of its own in a session of the DDL login user; staging is invisible until
//! the swap, so a failure anywhere drops it and keeps the previous database.
//!
//! Which unit waits for which is derived from the text, conservatively, as for the
//! numeric layout ([`crate::build::parallel::numeric`], [`crate::tree::analysis`]) but without its create/populate
//! phases, which an entry tree does not have: two units keep their order when either
//! defines a name the other mentions; when one defines nothing (it fills, alters,
//! grants or adds triggers and policies), the tables it reaches (named, and through
//! the definitions of what it names) must not be mentioned by the other. The session
//! settings psql would carry from earlier files (a `SET`, a session-level
//! `set_config`) are replayed at the start of each unit, as for the numeric layout
//! (`build/session_state.rs`).

use crate::build::Lap;
use crate::build::hidden;
use crate::build::incremental::{GsetRows, Kept};
use crate::build::parallel::scheduler::{Scheduler, panic_as_error};
use crate::build::parallel::{finish_on, in_own_transaction};
use crate::build::phases::{prepare, session_setup};
use crate::build::session_state::{SessionState, cannot_hand_on};
use crate::build::single::entry::{Row, expand_tree, run_seeding};
use crate::build::staging::{build_sessions, create_and_fill};
use crate::config::Config;
use crate::error::Result;
use crate::tree::analysis::{Analysis, UnitKind};
use crate::tree::manifest::Manifest;
use crate::tree::psql::{Action, Step};
use postgres::Client;

/// A run of consecutive steps from one file.
struct Unit {
    path: String,
    steps: Vec<Step>,
    /// The session settings in force where the unit starts in psql's stream.
    prelude: String,
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
/// `manifest` into it on `workers` sessions of the tree's DDL login (and one more,
/// the expander's own). On failure the half-made database is dropped and the first
/// failure returned.
pub(crate) fn build(
    admin: &mut Client,
    config: &Config,
    database: &str,
    manifest: &Manifest,
    (workers, bulk_seed): (usize, bool),
    kept: Option<&Kept<'_>>,
) -> Result<()> {
    create_and_fill(admin, config, database, |admin, owner| {
        prepare(config, database, owner, manifest)?;
        let mut sessions = build_sessions(admin, config, manifest, database, workers.max(1) + 1)?;
        let mut main = sessions.pop().expect("at least two sessions");
        build_into(
            config,
            database,
            manifest,
            (&mut main, sessions),
            bulk_seed,
            kept,
        )
    })
}

fn build_into(
    config: &Config,
    database: &str,
    manifest: &Manifest,
    (main, workers): (&mut Client, Vec<Client>),
    bulk_seed: bool,
    kept: Option<&Kept<'_>>,
) -> Result<()> {
    let mut lap = Lap::start();
    // psql's session is the DDL login's own.
    let setup = session_setup(bulk_seed, None);
    let label = manifest.label().to_string();
    let scheduler = Scheduler::new();
    // The workers' sessions come back when they are done: one writes the outline
    // while the build's end hands objects over (`phases::finish`).
    let mut idle: Vec<Client> = Vec::new();
    let expanded = std::thread::scope(|s| {
        let handles: Vec<_> = workers
            .into_iter()
            .map(|mut c| {
                let (scheduler, setup, label) = (&scheduler, setup.as_str(), label.as_str());
                s.spawn(move || {
                    scheduler.work(
                        |u: &Unit| format!("{label}/{}", u.path),
                        |u| apply_unit(&mut c, (setup, bulk_seed), label, &u),
                    );
                    c
                })
            })
            .collect();
        let result = panic_as_error("the entry-script expander", || {
            let mut expander = Expander::new(manifest, main, &setup, &scheduler);
            expander.copy_rows = bulk_seed;
            expander.gsets = kept.map(|k| &k.gsets);
            expander.run(config)
        });
        // Nothing after a failure may run.
        scheduler.seal(result.is_err());
        // A worker that panicked is reported by the scheduler; its session is gone.
        idle.extend(handles.into_iter().filter_map(|h| h.join().ok()));
        result
    });
    // A unit's failure is the one psql would have reported (the expander only notices
    // it at its next step), so it comes first.
    if let Some(e) = scheduler.into_failure() {
        return Err(e);
    }
    expanded?;
    lap.log("entry scripts on all workers");
    finish_on(main, (config, database, manifest), kept, idle.first_mut())
}

/// Runs the tree's expansion, handing each file's run of steps to the scheduler as a
/// unit and running each `\gset` (and each statement holding a value read through a
/// backtick) itself, once everything before it has committed.
struct Expander<'a> {
    label: String,
    manifest: &'a Manifest,
    main: &'a mut Client,
    setup: &'a str,
    scheduler: &'a Scheduler<Unit>,
    analysis: Analysis,
    pending: Vec<Step>,
    /// psql's session settings as the stream stands, and as they stood where the
    /// pending unit began.
    session: SessionState,
    pending_prelude: String,
    /// Where the `\gset` rows go, for the build's outline.
    gsets: Option<&'a GsetRows>,
    /// Send a seed's inserts of constants as `COPY` (`build/copy_rows.rs`).
    copy_rows: bool,
}

impl<'a> Expander<'a> {
    fn new(
        manifest: &'a Manifest,
        main: &'a mut Client,
        setup: &'a str,
        scheduler: &'a Scheduler<Unit>,
    ) -> Self {
        Expander {
            label: manifest.label().to_string(),
            manifest,
            main,
            setup,
            scheduler,
            analysis: Analysis::default(),
            pending: Vec::new(),
            session: SessionState::default(),
            pending_prelude: String::new(),
            gsets: None,
            copy_rows: false,
        }
    }

    fn run(mut self, config: &Config) -> Result<()> {
        let manifest = self.manifest;
        let gsets = self.gsets;
        expand_tree(
            manifest,
            config,
            &mut |step, secrets| self.take(step, secrets),
            gsets,
        )?;
        self.submit()?;
        self.scheduler.wait_for_all()
    }

    /// Hands the pending steps on as one unit.
    fn submit(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let steps = std::mem::take(&mut self.pending);
        let prelude = std::mem::take(&mut self.pending_prelude);
        // What the replayed settings name counts as used by the unit.
        let text = format!("{prelude}{}", unit_text(&steps));
        let deps = self.analysis.add(&text, UnitKind::Stream);
        let bytes = text.len();
        let unit = Unit {
            path: steps[0].path.clone(),
            steps,
            prelude,
        };
        self.scheduler.push(unit, &deps, bytes)
    }

    /// One step of the expansion.
    fn take(&mut self, step: &Step, secrets: &[String]) -> Result<Option<Row>> {
        match &step.action {
            Action::Echo(text) => {
                // Logged as it is reached, which may be before what precedes it has
                // finished on the workers.
                let shown = hidden::redact(text, secrets);
                log::info!("{}/{}:{}: {shown}", self.label, step.path, step.line);
                Ok(None)
            }
            // A `\gset` feeds what follows, and a statement holding a value read
            // through a backtick runs hidden: both run here, after everything before
            // them.
            Action::Gset { query: sql, .. } => self.run_here(step, sql, secrets),
            Action::Sql(sql) if hidden::holds(sql, secrets) => self.run_here(step, sql, secrets),
            Action::Sql(_) | Action::Copy { .. } => {
                if self.pending.first().is_some_and(|p| p.path != step.path) {
                    self.submit()?;
                }
                if self.pending.is_empty() {
                    self.pending_prelude = self.session.replay();
                }
                if let Action::Sql(sql) = &step.action {
                    self.follow(step, sql)?;
                }
                self.pending.push(step.clone());
                Ok(None)
            }
        }
    }

    /// Runs one step on the expander's own connection, in a transaction of its own
    /// as the DDL user, once every unit before it has committed.
    fn run_here(&mut self, step: &Step, sql: &str, secrets: &[String]) -> Result<Option<Row>> {
        self.submit()?;
        self.scheduler.wait_for_all()?;
        let prelude = self.session.replay();
        self.follow(step, sql)?;
        let path = format!("{}/{}", self.label, step.path);
        let copy_rows = self.copy_rows;
        in_own_transaction(self.main, self.setup, &prelude, &path, |tx| {
            run_seeding(tx, step, &path, secrets, copy_rows)
        })
    }

    /// Follows one piece of the stream, refusing a statement whose change to the
    /// session cannot be handed on to the files after it.
    fn follow(&mut self, step: &Step, sql: &str) -> Result<()> {
        let label = &self.label;
        self.session.follow_all(sql).map_err(|(_, line)| {
            cannot_hand_on(&format!("{label}/{}", step.path), step.line + line - 1)
        })
    }
}

/// Applies one unit in a transaction of its own as the DDL user.
fn apply_unit(
    client: &mut Client,
    (setup, copy_rows): (&str, bool),
    label: &str,
    unit: &Unit,
) -> Result<()> {
    let full = format!("{label}/{}", unit.path);
    in_own_transaction(client, setup, &unit.prelude, &full, |tx| {
        unit.steps
            .iter()
            .try_for_each(|step| run_seeding(tx, step, &full, &[], copy_rows).map(drop))
    })
}
