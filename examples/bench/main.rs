//! Measures the product's speed, every path side by side in one run, medians of
//! several runs:
//!
//! - `recreate` replacing an existing database three ways: full (`Config::rebuild`,
//!   one transaction), parallel (`--workers N` connections, default 2) and cached
//!   (clone of the environment's template); each total includes the drop of the
//!   previous copy, and the time until the new database is in place is shown apart;
//! - all files in one `batch_execute` in one transaction on an open connection;
//! - seeding 20,000 new keys into one of the compiled schema's versioned tables inside
//!   a build (builds with and without that seed, side by side);
//! - the same SQL through `psql -v ON_ERROR_STOP=1 -f`, one process per file in
//!   manifest order, the way shell-script provisioning does it (autocommit: every
//!   statement its own transaction);
//! - all files concatenated into one `psql -1` (one process, one transaction): the
//!   lower bound for applying that SQL;
//! - `TestDatabase::new()` once the template exists, and raw clones with both
//!   `CREATE DATABASE` strategies;
//! - the start-up drift check, on an open connection and including the connect;
//! - `db diff` and `db plan` (`ores_sql::diff_with`, `plan_with`) of the unchanged tree
//!   against the database a recreate left (its template cached).
//!
//! The psql paths get a fresh database owned by the same owner role, with the same
//! roles in place, created outside the timing; they run as the owner role (as our
//! build does) and install the same extensions. They apply no grants and write no
//! build record: that work is ours alone and counted against us.
//!
//! ```text
//! cargo run --release --example bench [-- --runs N] [--workers N] [--synthetic TABLES | --workload upstream | --workload upstream-entry [--only headline] | --only pooled]
//! ```
//!
//! `--synthetic TABLES` measures a generated schema of that many bitemporal tables
//! instead of the compiled one, to see how each path scales with the schema.
//! `--workload upstream` measures a generated schema shaped like the real ORE Studio
//! one (see [`Shape::upstream`]): generated, never copied from it.
//! `--workload upstream-entry` writes the same schema as a tree of psql entry scripts
//! (`ores_sql::testing::workload::entry_tree`) and compares our recreate of it with
//! the way such a team runs its tree: `psql -X -v ON_ERROR_STOP=1 -f setup_schema.sql`
//! (one process, autocommit) and the same with `-1`. There it also times `compass db
//! test` on the tree's generated pgTAP suite (one file per component) from an unchanged
//! tree (the `compass` binary beside this example when built, else
//! `PgTapSuite::open` + `run`), against the team's path: `psql -f setup_schema.sql`
//! into a fresh database, then `pg_prove` on every file.
//!
//! On `--workload upstream-entry` it first takes the headline figures
//! (`headline.rs`: `compass db recreate -y` as a command, full, with `--workers 1`
//! and `2`, after each edit of the generator's edit mix and unchanged, and
//! `recreate_with` with default options, each beside the team's own scripts;
//! `--only headline` stops there), every timed run after `settle_between_runs`.
//!
//! The last line printed is one JSON object with the medians (milliseconds, rows/s)
//! and the ratios.

mod compiled;
mod db_test;
mod diff_plan;
mod entry;
mod headline;
mod psql;
mod recreates;
mod sample;
mod seeding;
mod settle;

use compiled::{measure, measure_only_pooled};
use entry::measure_entry;
use ores_sql::server::admin::{connect_admin, drop_database};
use ores_sql::testing::unique_label;
use ores_sql::testing::workload::{Shape, generated_manifest};
use ores_sql::{Config, Manifest, RunOptions};
use seeding::SEED_SUFFIX;
use std::process::ExitCode;

pub(crate) type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Every timed path starts from the same state: no dirty pages left by the path
/// before it for this one's writes to wait behind (a build writes tens of
/// megabytes, and shared buffers hold the previous build's until they are flushed).
pub(crate) fn settle(admin: &mut postgres::Client) -> Res<()> {
    admin.batch_execute("CHECKPOINT")?;
    Ok(())
}

/// `--workers N`: the parallel build's connections (default 2).
pub(crate) fn workers_arg() -> Res<usize> {
    let n = std::env::args()
        .skip_while(|a| a != "--workers")
        .nth(1)
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(2);
    if n < 2 {
        return Err(
            "--workers must be at least 2 (one connection is the full build, measured anyway)"
                .into(),
        );
    }
    Ok(n)
}

fn run() -> Res<()> {
    let runs: usize = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(5);
    let config = Config::load()?.with_env(&unique_label("bench"))?;
    let synthetic: Option<usize> = std::env::args()
        .skip_while(|a| a != "--synthetic")
        .nth(1)
        .map(|v| v.parse())
        .transpose()?;
    let workload: Option<String> = std::env::args().skip_while(|a| a != "--workload").nth(1);
    if std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .as_deref()
        == Some("pooled")
    {
        return measure_only_pooled(&config, runs);
    }
    let synthetic_dir = tempfile::tempdir()?;
    if workload.as_deref() == Some("upstream-entry") {
        if synthetic.is_some() {
            return Err("--synthetic and --workload exclude each other".into());
        }
        let result = measure_entry(&config, synthetic_dir.path(), runs);
        cleanup(&config);
        return result;
    }
    let owned;
    let manifest = match (synthetic, workload.as_deref()) {
        (Some(_), Some(_)) => return Err("--synthetic and --workload exclude each other".into()),
        (None, Some("upstream")) => {
            owned = generated_manifest(synthetic_dir.path(), &Shape::upstream())?;
            println!(
                "upstream-sized workload: 271 tables in 19 components, 3 large plain staging tables"
            );
            &owned
        }
        (None, Some(other)) => {
            return Err(
                format!("unknown workload {other:?} (known: upstream, upstream-entry)").into(),
            );
        }
        (Some(n), None) => {
            owned = generated_manifest(synthetic_dir.path(), &Shape::synthetic(n))?;
            println!(
                "synthetic schema: {n} bitemporal tables with RLS, triggers, gist and trigram indexes, 20 seed rows each"
            );
            &owned
        }
        (None, None) => Manifest::compiled(),
    };
    println!(
        "ores-sql benchmark: {} scripts, schema {}, server {}, {runs} runs each",
        manifest.scripts().len(),
        &manifest.schema_hash()[..12],
        config.server_label()
    );

    let result = measure(&config, manifest, runs);
    cleanup(&config);
    result
}

/// What the benchmark's runs take: its scratch environment is its own, so a session
/// left behind by a measurement is ended rather than refused.
pub(crate) fn scratch_options() -> RunOptions {
    RunOptions::new().kill(true)
}

/// The scratch environment goes whatever happened.
pub(crate) fn cleanup(config: &Config) {
    if let Ok(mut admin) = connect_admin(config) {
        for suffix in ["_psql", "_clone", SEED_SUFFIX] {
            let _ = drop_database(&mut admin, &format!("{}{suffix}", config.database), true);
        }
    }
    if let Err(e) = ores_sql::teardown_with(config, &scratch_options()) {
        eprintln!("warning: could not tear down {}: {e}", config.env);
    }
}
