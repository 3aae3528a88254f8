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
//! cargo run --release --example bench [-- --runs N] [--workers N] [--synthetic TABLES | --workload upstream | --workload upstream-entry | --only pooled]
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
//! The last line printed is one JSON object with the medians (milliseconds, rows/s)
//! and the ratios.

use ores_sql::config::ident::quote_ident;
use ores_sql::server::admin::{connect_admin, connect_admin_to, drop_database};
use ores_sql::server::roles::role_name;
use ores_sql::testing::pgtap::{PgTapOptions, PgTapSuite};
use ores_sql::testing::workload::{
    COPY_DIR, CatalogCounts, EntryTree, Shape, entry_psql_variables, entry_test_variables,
    entry_tree, generated_manifest,
};
use ores_sql::testing::{TestDatabase, unique_label};
use ores_sql::{Config, Manifest, RunOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

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

struct Sample {
    name: &'static str,
    times: Vec<Duration>,
}

impl Sample {
    fn print_header() {
        println!();
        println!(
            "{:<58} {:>10} {:>10} {:>10} {:>5}",
            "path", "median ms", "min ms", "max ms", "runs"
        );
        println!("{}", "-".repeat(97));
    }

    fn print_row(&self) {
        println!(
            "{:<58} {:>10.1} {:>10.1} {:>10.1} {:>5}",
            self.name,
            self.median_ms(),
            self.min_ms(),
            self.max_ms(),
            self.times.len()
        );
    }

    fn new(name: &'static str) -> Sample {
        Sample {
            name,
            times: vec![],
        }
    }

    fn median_ms(&self) -> f64 {
        let mut t: Vec<f64> = self.times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        t.sort_by(|a, b| a.total_cmp(b));
        let n = t.len();
        if n == 0 {
            return f64::NAN;
        }
        if n % 2 == 1 {
            t[n / 2]
        } else {
            (t[n / 2 - 1] + t[n / 2]) / 2.0
        }
    }

    fn min_ms(&self) -> f64 {
        self.times
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .fold(f64::INFINITY, f64::min)
    }

    fn max_ms(&self) -> f64 {
        self.times
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .fold(0.0, f64::max)
    }
}

/// Every timed path starts from the same state: no dirty pages left by the path
/// before it for this one's writes to wait behind (a build writes tens of
/// megabytes, and shared buffers hold the previous build's until they are flushed).
fn settle(admin: &mut postgres::Client) -> Res<()> {
    admin.batch_execute("CHECKPOINT")?;
    Ok(())
}

fn timed<T>(f: impl FnOnce() -> Res<T>) -> Res<(Duration, T)> {
    let started = Instant::now();
    let value = f()?;
    Ok((started.elapsed(), value))
}

/// `--workers N`: the parallel build's connections (default 2).
fn workers_arg() -> Res<usize> {
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

/// One recreate path, run as `compass db recreate` runs it, and its samples.
struct RecreatePath {
    config: Config,
    options: RunOptions,
    /// The build path its report must name.
    expected: &'static str,
    total: Sample,
    usable: Sample,
    after_return: Sample,
}

/// The three recreates every workload measures, each replacing an existing database
/// as a real one does (so each total includes the drop of the previous copy): full
/// (`rebuild`, one transaction), parallel (`--workers N`) and cached. Each returns
/// once its database is in place, and what follows the swap (the previous copy's
/// drop, the next spare copy of the template) runs in the background; the totals
/// wait for that work too.
struct Recreates {
    full: RecreatePath,
    parallel: RecreatePath,
    cached: RecreatePath,
}

impl Recreates {
    fn new(config: &Config, workers: usize, full_name: &'static str) -> Recreates {
        let cached = scratch_options().retire_in_background(true);
        let full = cached.clone().rebuild(true);
        let parallel = full.clone().workers(workers);
        let path = |options, expected, total, usable, after_return| RecreatePath {
            config: config.clone(),
            options,
            expected,
            total: Sample::new(total),
            usable: Sample::new(usable),
            after_return: Sample::new(after_return),
        };
        Recreates {
            full: path(
                full,
                "full",
                full_name,
                "  of which until usable (renamed, open)",
                "  of which after return (drop, spare copy)",
            ),
            parallel: path(
                parallel,
                "parallel",
                "recreate, parallel build",
                "  of which until usable",
                "  of which after return",
            ),
            cached: path(
                cached,
                "cached",
                "recreate, cached (spare copy of the template)",
                "  of which until usable",
                "  of which after return",
            ),
        }
    }

    /// One recreate of each path, each from a settled server.
    fn run_once(&mut self, admin: &mut postgres::Client, manifest: &Manifest) -> Res<()> {
        for p in [&mut self.full, &mut self.parallel, &mut self.cached] {
            settle(admin)?;
            let t = timed_recreate(&p.config, &p.options, manifest, p.expected)?;
            p.total.times.push(t.total);
            p.usable.times.push(t.usable);
            p.after_return.times.push(t.after_return);
        }
        Ok(())
    }

    /// The samples in table order, the work after return shown or not.
    fn rows(&self, after_return: bool) -> Vec<&Sample> {
        [&self.full, &self.parallel, &self.cached]
            .into_iter()
            .flat_map(|p| {
                let mut rows = vec![&p.total, &p.usable];
                if after_return {
                    rows.push(&p.after_return);
                }
                rows
            })
            .collect()
    }
}

/// One recreate's times: until usable, the work after return, and both.
struct RecreateTimes {
    usable: Duration,
    after_return: Duration,
    total: Duration,
}

/// Recreates with `cfg` and `options`, waits for the work after return, and checks
/// the path taken.
fn timed_recreate(
    cfg: &Config,
    options: &RunOptions,
    manifest: &Manifest,
    expected: &str,
) -> Res<RecreateTimes> {
    let (d, report) = timed(|| Ok(ores_sql::recreate_with(cfg, manifest, options)?))?;
    let (after_return, ()) = timed(|| {
        ores_sql::lifecycle::retire::wait_for_background();
        Ok(())
    })?;
    if report.path.as_str() != expected {
        return Err(format!("expected a {expected} build, got {}", report.path.as_str()).into());
    }
    Ok(RecreateTimes {
        usable: report.usable_after,
        after_return,
        total: d + after_return,
    })
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
fn scratch_options() -> RunOptions {
    RunOptions::new().kill(true)
}

/// The scratch environment goes whatever happened.
fn cleanup(config: &Config) {
    if let Ok(mut admin) = connect_admin(config) {
        for suffix in ["_psql", "_clone", SEED_SUFFIX] {
            let _ = drop_database(&mut admin, &format!("{}{suffix}", config.database), true);
        }
    }
    if let Err(e) = ores_sql::teardown_with(config, &scratch_options()) {
        eprintln!("warning: could not tear down {}: {e}", config.env);
    }
}

/// `TestDatabase::new()` from the pool of ready clones: a test that runs longer than
/// one clone takes (here: we wait until a ready clone exists) gets its database by a
/// claim (rename, owner, grants, open in one transaction).
fn measure_pooled(
    admin: &mut postgres::Client,
    manifest: &Manifest,
    template: &str,
    clone_runs: usize,
) -> Res<Sample> {
    ores_sql::testing::set_pool_size(2);
    drop(TestDatabase::with_manifest(manifest)?);
    let mut pooled = Sample::new("TestDatabase::new() from the pool of ready clones");
    let pool_prefix = format!("ores_tp_{}_", template.trim_start_matches("ores_tpl_"));
    for _ in 0..clone_runs {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            // Only a clone marked ready can be claimed; one still being made is not.
            let ready: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)
                        AND shobj_description(oid, 'pg_database') = $2",
                    &[&pool_prefix, &ores_sql::testing::pool::READY_COMMENT],
                )?
                .get(0);
            if ready > 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let (d, db) = timed(|| Ok(TestDatabase::with_manifest(manifest)?))?;
        pooled.times.push(d);
        drop(db);
    }
    ores_sql::testing::set_pool_size(0);
    // The pool was on only for this measurement: leave no ready clones behind once
    // the last refill is done.
    std::thread::sleep(Duration::from_millis(500));
    let leftovers: Vec<String> = admin
        .query(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
            &[&pool_prefix],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for db in leftovers {
        drop_database(admin, &db, true)?;
    }
    Ok(pooled)
}

/// `--only pooled`: the pooled `TestDatabase::new()` figure alone, on the compiled
/// schema (its template is built first if missing, untimed).
fn measure_only_pooled(config: &Config, runs: usize) -> Res<()> {
    let mut admin = connect_admin(config)?;
    ores_sql::testing::set_pool_size(0);
    let manifest = Manifest::compiled();
    let db = TestDatabase::with_manifest(manifest)?;
    let template = format!("ores_tpl_{}", db.env().trim_start_matches("t_"));
    drop(db);
    let pooled = measure_pooled(&mut admin, manifest, &template, runs.max(10))?;
    Sample::print_header();
    pooled.print_row();
    println!("pooled_new_ms median: {:.2}", pooled.median_ms());
    Ok(())
}

fn measure(config: &Config, manifest: &Manifest, runs: usize) -> Res<()> {
    let mut admin = connect_admin(config)?;
    let owner = role_name(&config.env, "owner");
    let scratch = tempfile::tempdir()?;
    let files = write_scripts(scratch.path(), manifest, &config.extensions)?;

    // Warm-up: creates the roles, fills caches, builds the test template. The pool of
    // ready clones stays off until it is measured on its own.
    ores_sql::testing::set_pool_size(0);
    ores_sql::recreate_with(config, manifest, &scratch_options())?;
    drop(TestDatabase::with_manifest(manifest)?);

    let workers = workers_arg()?;
    let mut recreates = Recreates::new(
        config,
        workers,
        "recreate, full (sequential, one transaction)",
    );
    let mut per_file = Sample::new("psql -f, one process per file (autocommit)");
    let mut single = Sample::new("psql -1, all files in one transaction");
    let mut batch = Sample::new("batch_execute, all files in one transaction");
    // Not part of the psql figures (they get their database for free); shown so the
    // fixed cost our side carries is visible.
    let mut create_db = Sample::new("  CREATE DATABASE .. TEMPLATE template0 (psql: untimed)");
    let psql_db = format!("{}_psql", config.database);
    let all_sql = std::fs::read_to_string(&files.all)?;
    let mut diff_plan = DiffPlan::new();
    for _ in 0..runs {
        recreates.run_once(&mut admin, manifest)?;
        diff_plan.run_once(config, manifest)?;

        fresh_database(&mut admin, &psql_db, &owner)?;
        settle(&mut admin)?;
        per_file.times.push(
            timed(|| {
                for f in &files.each {
                    psql(config, &psql_db, &owner, f, false)?;
                }
                Ok(())
            })?
            .0,
        );
        drop_database(&mut admin, &psql_db, true)?;
        settle(&mut admin)?;
        create_db
            .times
            .push(timed(|| fresh_database(&mut admin, &psql_db, &owner))?.0);
        settle(&mut admin)?;
        single
            .times
            .push(timed(|| psql(config, &psql_db, &owner, &files.all, true))?.0);
        fresh_database(&mut admin, &psql_db, &owner)?;
        settle(&mut admin)?;
        batch.times.push(
            timed(|| {
                let mut c = connect_admin_to(config, &psql_db)?;
                let mut tx = c.transaction()?;
                tx.batch_execute(&format!("SET LOCAL ROLE {}", quote_ident(&owner)))?;
                tx.batch_execute(&all_sql)?;
                tx.commit()?;
                Ok(())
            })?
            .0,
        );
    }
    drop_database(&mut admin, &psql_db, true)?;

    let clone_runs = runs.max(10);
    let mut clone = Sample::new("TestDatabase::new() (template exists, no pool)");
    let mut drop_sample = Sample::new("dropping a TestDatabase (DROP DATABASE .. WITH (FORCE))");
    let mut made = CatalogCounts::default();
    let mut template = String::new();
    for _ in 0..clone_runs {
        let (d, db) = timed(|| Ok(TestDatabase::with_manifest(manifest)?))?;
        clone.times.push(d);
        if made.relations == 0 {
            made = CatalogCounts::of(&mut db.admin()?)?;
            template = format!("ores_tpl_{}", db.env().trim_start_matches("t_"));
        }
        // Dropping is part of every test's cost: PostgreSQL 15 requests a checkpoint
        // for each DROP DATABASE.
        let (d, ()) = timed(|| {
            drop(db);
            Ok(())
        })?;
        drop_sample.times.push(d);
    }
    let pooled = measure_pooled(&mut admin, manifest, &template, clone_runs)?;
    let mut wal_log = Sample::new("  raw CREATE DATABASE .. STRATEGY WAL_LOG");
    let mut file_copy = Sample::new("  raw CREATE DATABASE .. STRATEGY FILE_COPY");
    let raw = format!("{}_clone", config.database);
    for _ in 0..runs {
        for (sample, strategy) in [(&mut wal_log, "WAL_LOG"), (&mut file_copy, "FILE_COPY")] {
            let sql = format!(
                "CREATE DATABASE {} TEMPLATE {} STRATEGY {strategy}",
                quote_ident(&raw),
                quote_ident(&template)
            );
            sample
                .times
                .push(timed(|| Ok(admin.batch_execute(&sql)?))?.0);
            drop_database(&mut admin, &raw, true)?;
        }
    }

    let mut open = connect_admin_to(config, &config.database)?;
    let mut drift_open = Sample::new("drift check on an open connection");
    for _ in 0..50 {
        drift_open
            .times
            .push(timed(|| Ok(ores_sql::lifecycle::version::drift(&mut open, manifest)?))?.0);
    }
    let mut drift_connect = Sample::new("drift check including connect");
    for _ in 0..20 {
        drift_connect.times.push(
            timed(|| {
                let mut c = connect_admin_to(config, &config.database)?;
                Ok(ores_sql::lifecycle::version::drift(&mut c, manifest)?)
            })?
            .0,
        );
    }

    let seeding = measure_seeding(config, runs.min(3))?;

    // Size of what was built.
    let mut built = connect_admin_to(config, &config.database)?;
    let table_names: Vec<String> = built
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut rows = 0i64;
    for t in &table_names {
        let n: i64 = built
            .query_one(&format!("SELECT count(*) FROM {}", quote_ident(t)), &[])?
            .get(0);
        rows += n;
    }
    drop(built);

    let mut samples = recreates.rows(true);
    samples.extend([
        &per_file,
        &single,
        &batch,
        &create_db,
        &seeding.without_seed,
        &seeding.bulk,
        &seeding.bare,
        &seeding.row_by_row_base,
        &seeding.row_by_row,
        &seeding.first_statement,
        &clone,
        &drop_sample,
        &pooled,
        &wal_log,
        &file_copy,
        &drift_open,
        &drift_connect,
        &diff_plan.diff,
        &diff_plan.plan,
    ]);
    Sample::print_header();
    for s in samples {
        s.print_row();
    }
    let Recreates {
        full,
        parallel,
        cached,
    } = &recreates;
    let (f, p, c, u, pf, st, be, cl, dr) = (
        full.total.median_ms(),
        parallel.total.median_ms(),
        cached.total.median_ms(),
        full.usable.median_ms(),
        per_file.median_ms(),
        single.median_ms(),
        batch.median_ms(),
        clone.median_ms(),
        drift_open.median_ms(),
    );
    let (seed_rows_per_s, seed_row_by_row_per_s, seed_bare_per_s, seed_first_per_s) =
        seeding.rates();
    println!();
    println!(
        "built: {} tables, {rows} rows; {} relations in a test database (tables, indexes, TOAST, sequences); {} indexes, {} functions, {} triggers, {} policies",
        table_names.len(),
        made.relations,
        made.indexes,
        made.functions,
        made.triggers,
        made.policies
    );
    println!("per-file psql / full recreate:   {:>6.2}x", pf / f);
    println!("full recreate / psql -1:         {:>6.2}x", f / st);
    let (pu, cu) = (parallel.usable.median_ms(), cached.usable.median_ms());
    println!(
        "parallel ({workers} workers) / psql -1:   {:>6.2}x in total, {:.2}x until usable (target <= 0.7)",
        p / st,
        pu / st
    );
    println!(
        "full / cached recreate:          {:>6.2}x in total, {:.1}x until usable (target >= 20)",
        f / c,
        u / cu
    );
    println!("full recreate: usable after {u:.0} ms of {f:.0} ms");
    println!(
        "seeding {SEED_ROWS} rows into a versioned table inside a build: {seed_rows_per_s:.0} rows/s as the build does (target >= 15,000), {seed_row_by_row_per_s:.0} rows/s row by row, {seed_bare_per_s:.0} rows/s with every trigger off; {seed_first_per_s:.0} rows/s as a new session's first statement"
    );
    println!("clone median {cl:.1} ms, drift check {dr:.2} ms");
    let json = serde_json::json!({
        "recreate_full_ms": f,
        "recreate_parallel_ms": p,
        "recreate_cached_ms": c,
        "time_to_usable_ms": u,
        "time_to_usable_parallel_ms": pu,
        "time_to_usable_cached_ms": cu,
        "after_return_full_ms": full.after_return.median_ms(),
        "after_return_parallel_ms": parallel.after_return.median_ms(),
        "after_return_cached_ms": cached.after_return.median_ms(),
        "psql_per_file_ms": pf,
        "psql_single_tx_ms": st,
        "batch_execute_ms": be,
        "seed_rows_per_s": seed_rows_per_s,
        "seed_rows_per_s_row_by_row": seed_row_by_row_per_s,
        "seed_rows_per_s_without_triggers": seed_bare_per_s,
        "seed_rows_per_s_first_statement": seed_first_per_s,
        "tables": table_names.len(),
        "rows": rows,
        "relations": made.relations,
        "indexes": made.indexes,
        "functions": made.functions,
        "triggers": made.triggers,
        "policies": made.policies,
        "workers": workers,
        "ratio_per_file_to_full": pf / f,
        "ratio_full_to_single_tx": f / st,
        "ratio_parallel_to_single_tx": p / st,
        "ratio_full_to_cached": f / c,
        "ratio_full_to_cached_usable": u / cu,
        "ratio_parallel_usable_to_single_tx": pu / st,
        "clone_ms": cl,
        "clone_wal_log_ms": wal_log.median_ms(),
        "clone_file_copy_ms": file_copy.median_ms(),
        "pooled_new_ms": pooled.median_ms(),
        "drop_ms": drop_sample.median_ms(),
        "drift_check_ms": dr,
        "drift_check_connect_ms": drift_connect.median_ms(),
        "diff_ms": diff_plan.diff.median_ms(),
        "plan_ms": diff_plan.plan.median_ms(),
        "runs": runs,
    });
    println!("{json}");
    Ok(())
}

/// The seed measured inside real builds: how many rows, and the scratch database's
/// suffix.
const SEED_ROWS: i64 = 20_000;
const SEED_SUFFIX: &str = "_seed";

/// Builds of the compiled tree with and without one extra populate script that seeds
/// [`SEED_ROWS`] new keys into a versioned table, side by side: a build runs its seed
/// on the session that has just created the schema, in the same transaction, so the
/// rate is taken there, from the difference of the medians. `first_statement` keeps
/// the earlier measure (rows into a fresh test database) beside it for comparison.
struct Seeding {
    without_seed: Sample,
    bulk: Sample,
    bare: Sample,
    row_by_row_base: Sample,
    row_by_row: Sample,
    /// How this figure was taken before: [`FIRST_STATEMENT_ROWS`] rows as the first
    /// statement of a new session in a new test database, bulk seeding on.
    first_statement: Sample,
}

const FIRST_STATEMENT_ROWS: i64 = 5_000;

impl Seeding {
    /// Rows per second: bulk (as the build seeds), row by row, with every trigger
    /// off (the bound: the table, its indexes, checks and policies), and as the first
    /// statement of a new session.
    fn rates(&self) -> (f64, f64, f64, f64) {
        let rate = |with: &Sample, without: &Sample| {
            SEED_ROWS as f64 / ((with.median_ms() - without.median_ms()) / 1e3)
        };
        (
            rate(&self.bulk, &self.without_seed),
            rate(&self.row_by_row, &self.row_by_row_base),
            rate(&self.bare, &self.without_seed),
            FIRST_STATEMENT_ROWS as f64 / (self.first_statement.median_ms() / 1e3),
        )
    }
}

fn measure_seeding(config: &Config, runs: usize) -> Res<Seeding> {
    let trees = tempfile::tempdir()?;
    let sql = Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
    let insert = format!(
        "SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);
INSERT INTO ores_refdata_rounding_types_tbl (code, name, description)
SELECT 'bench_' || g, 'Bench ' || g, '' FROM generate_series(1, {SEED_ROWS}) g;
"
    );
    // With the triggers off the seed must write what the insert trigger would have.
    let bare = format!(
        "SELECT set_config('ores.tenant_id', ores_utility_system_tenant_id_fn()::text, false);
ALTER TABLE ores_refdata_rounding_types_tbl DISABLE TRIGGER USER;
INSERT INTO ores_refdata_rounding_types_tbl (code, name, description, version, valid_from, valid_to)
SELECT 'bench_' || g, 'Bench ' || g, '', 1, clock_timestamp(), ores_utility_infinity_timestamp_fn()
  FROM generate_series(1, {SEED_ROWS}) g;
ALTER TABLE ores_refdata_rounding_types_tbl ENABLE TRIGGER USER;
"
    );
    let tree = |name: &str, seed: Option<&str>| -> Res<Manifest> {
        let root = trees.path().join(name);
        ores_sql::testing::workload::copy_tree(&sql, &root)?;
        if let Some(seed) = seed {
            std::fs::write(
                root.join("populate/04_refdata/011_refdata_rounding_types_bench.sql"),
                seed,
            )?;
        }
        Ok(Manifest::from_dir(&root)?)
    };
    let (base, seeded, seeded_bare) = (
        tree("base", None)?,
        tree("bulk", Some(&insert))?,
        tree("bare", Some(&bare))?,
    );
    let mut s = Seeding {
        without_seed: Sample::new("build of the compiled tree (no extra seed)"),
        bulk: Sample::new("  the same with 20,000 seed rows into a versioned table"),
        bare: Sample::new("  the same with every trigger off for the seed"),
        row_by_row_base: Sample::new("build of the compiled tree, bulk seeding off"),
        row_by_row: Sample::new("  the same with 20,000 seed rows, row by row"),
        first_statement: Sample::new("5,000 seed rows as a new session's first statement"),
    };
    let mut admin = connect_admin(config)?;
    let database = format!("{}{SEED_SUFFIX}", config.database);
    for _ in 0..runs {
        for (bulk_seed, manifest, sample) in [
            (true, &base, &mut s.without_seed),
            (true, &seeded, &mut s.bulk),
            (true, &seeded_bare, &mut s.bare),
            (false, &base, &mut s.row_by_row_base),
            (false, &seeded, &mut s.row_by_row),
        ] {
            settle(&mut admin)?;
            let (d, ()) = timed(|| {
                Ok(ores_sql::build::build_database(
                    &mut admin, config, &database, manifest, bulk_seed,
                )?)
            })?;
            sample.times.push(d);
            drop_database(&mut admin, &database, true)?;
        }
        let db = TestDatabase::new()?;
        let mut c = db.admin()?;
        c.batch_execute(&format!(
            "SET ores.tenant_id = '{}'; SET ROLE {}; SET ores.bulk_seed = 'on';",
            ores_sql::testing::SYSTEM_TENANT_ID,
            quote_ident(&db.role("owner"))
        ))?;
        settle(&mut admin)?;
        let (d, _) = timed(|| {
            Ok(c.execute(
                "INSERT INTO ores_refdata_rounding_types_tbl (code, name, description)
                 SELECT 'bench_' || g, 'Bench ' || g, '' FROM generate_series(1, $1::bigint) g",
                &[&FIRST_STATEMENT_ROWS],
            )?)
        })?;
        s.first_statement.times.push(d);
    }
    Ok(s)
}

struct Files {
    each: Vec<PathBuf>,
    all: PathBuf,
}

/// The manifest as files, preceded by the extension script a shell-script set-up
/// would carry, plus the concatenation of all of them.
fn write_scripts(dir: &Path, manifest: &Manifest, extensions: &[String]) -> Res<Files> {
    let mut each = Vec::new();
    let mut all = String::new();
    let ext: String = extensions
        .iter()
        .map(|e| {
            format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA public;\n",
                quote_ident(e)
            )
        })
        .collect();
    let mut texts = vec![("000_extensions.sql".to_string(), ext)];
    for (i, s) in manifest.scripts().iter().enumerate() {
        texts.push((format!("{:03}_{}.sql", i + 1, s.entity), s.sql.to_string()));
    }
    for (name, text) in texts {
        let path = dir.join(name);
        std::fs::write(&path, &text)?;
        all.push_str(&text);
        all.push('\n');
        each.push(path);
    }
    let all_path = dir.join("all.sql");
    std::fs::write(&all_path, all)?;
    Ok(Files {
        each,
        all: all_path,
    })
}

fn fresh_database(admin: &mut postgres::Client, name: &str, owner: &str) -> Res<()> {
    drop_database(admin, name, true)?;
    admin.batch_execute(&format!(
        "CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8'",
        quote_ident(name),
        quote_ident(owner)
    ))?;
    Ok(())
}

/// How one psql run is started besides its file: the directory it runs in (psql
/// resolves `\copy` files against it) and its `-v` variables.
#[derive(Default)]
struct PsqlRun<'a> {
    dir: Option<PathBuf>,
    vars: &'a [(String, String)],
    single_tx: bool,
}

/// Runs one file through psql as the administrator acting as `role` (the extensions
/// are trusted, so the owner may install them).
fn psql(config: &Config, database: &str, role: &str, file: &Path, single_tx: bool) -> Res<()> {
    psql_run(
        config,
        database,
        role,
        file,
        &PsqlRun {
            single_tx,
            ..PsqlRun::default()
        },
    )
}

fn psql_run(config: &Config, database: &str, role: &str, file: &Path, run: &PsqlRun) -> Res<()> {
    let mut cmd = Command::new("psql");
    if let Some(dir) = &run.dir {
        cmd.current_dir(dir);
    }
    cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
    if run.single_tx {
        cmd.arg("-1");
    }
    for (k, v) in run.vars {
        cmd.arg("-v").arg(format!("{k}={v}"));
    }
    cmd.arg("-f")
        .arg(file)
        .env("PGHOST", &config.host)
        .env("PGPORT", config.port.to_string())
        .env("PGUSER", &config.admin_user)
        .env("PGDATABASE", database)
        .env("PGOPTIONS", format!("-c role={role}"))
        .stdout(Stdio::null());
    if let Some(p) = &config.admin_password {
        cmd.env("PGPASSWORD", p.expose());
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!(
            "psql {} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}

/// `--workload upstream-entry`: our recreate of the entry-layout tree (full and
/// cached) against psql running its entry script, autocommit and `-1`.
fn measure_entry(config: &Config, dir: &Path, runs: usize) -> Res<()> {
    let tree = entry_tree(dir, &Shape::upstream())?;
    let manifest = &tree.manifest;
    println!(
        "upstream-sized entry tree: {} tables in 19 components through setup_schema.sql, 3 tables by \\copy",
        tree.tables.len()
    );
    println!(
        "ores-sql benchmark: {} scripts and {} data files, schema {}, server {}, {runs} runs each",
        manifest.scripts().len(),
        manifest.data_files().len(),
        &manifest.schema_hash()[..12],
        config.server_label()
    );
    let mut admin = connect_admin(config)?;
    let owner = role_name(&config.env, "owner");
    let ddl = role_name(&config.env, "ddl_user");
    // Warm-up: creates the roles and the template the cached path clones.
    ores_sql::recreate_with(config, manifest, &scratch_options())?;
    // Run as in `measure`: the totals include the work after return.
    let workers = workers_arg()?;
    let mut recreates = Recreates::new(config, workers, "recreate, full (one transaction)");
    let mut autocommit = Sample::new("psql -f setup_schema.sql (autocommit)");
    let mut single = Sample::new("psql -1 -f setup_schema.sql");
    let psql_db = format!("{}_psql", config.database);
    let vars = entry_psql_variables(&config.env, &config.database);
    let mut diff_plan = DiffPlan::new();
    let mut db_test = DbTest::new();
    // Untimed: builds (or finds) the harness template of the tree, as a first
    // `compass db test` would; the timed runs are from an unchanged tree.
    DbTest::db_test_once(dir)?;
    for _ in 0..runs {
        recreates.run_once(&mut admin, manifest)?;
        diff_plan.run_once(config, manifest)?;
        db_test.run_once(&mut admin, config, dir, &tree)?;
        for (sample, single_tx) in [(&mut autocommit, false), (&mut single, true)] {
            // Their database, with its extensions, is made outside the timing, as
            // their scripts expect to find it.
            fresh_database(&mut admin, &psql_db, &owner)?;
            connect_admin_to(config, &psql_db)?
                .batch_execute("CREATE EXTENSION btree_gist; CREATE EXTENSION pg_trgm;")?;
            settle(&mut admin)?;
            sample.times.push(
                timed(|| {
                    // As the team runs it: as its DDL user (the administrator acting
                    // as it), from the folder its `\copy` files are in.
                    let run = PsqlRun {
                        dir: Some(dir.join(COPY_DIR)),
                        vars: &vars,
                        single_tx,
                    };
                    psql_run(config, &psql_db, &ddl, &dir.join("setup_schema.sql"), &run)
                })?
                .0,
            );
        }
    }
    let mut built = connect_admin_to(config, &psql_db)?;
    let mut psql_rows = 0i64;
    for t in &tree.tables {
        psql_rows += built
            .query_one(
                &format!("SELECT count(*) FROM {}", quote_ident(&t.name)),
                &[],
            )?
            .get::<_, i64>(0);
    }
    drop(built);
    drop_database(&mut admin, &psql_db, true)?;
    if psql_rows as u64 != tree.total_rows() {
        return Err(format!(
            "psql built {psql_rows} rows, the tree writes {}",
            tree.total_rows()
        )
        .into());
    }

    Sample::print_header();
    let mut rows = recreates.rows(false);
    rows.extend([&autocommit, &single, &diff_plan.diff, &diff_plan.plan]);
    rows.extend([&db_test.db_test, &db_test.own_pg_prove]);
    for s in rows {
        s.print_row();
    }
    let Recreates {
        full,
        parallel,
        cached,
    } = &recreates;
    let (f, u, c, a, st) = (
        full.total.median_ms(),
        full.usable.median_ms(),
        cached.total.median_ms(),
        autocommit.median_ms(),
        single.median_ms(),
    );
    println!();
    println!(
        "built: {} tables, {} rows (psql built the same rows)",
        tree.tables.len(),
        tree.total_rows()
    );
    println!("psql autocommit / full recreate: {:>6.2}x", a / f);
    println!("full recreate / psql -1:         {:>6.2}x", f / st);
    let cu = cached.usable.median_ms();
    let (p, pu) = (parallel.total.median_ms(), parallel.usable.median_ms());
    println!(
        "parallel ({workers} workers): psql autocommit / until usable {:.2}x, / total {:.2}x",
        a / pu,
        a / p
    );
    println!(
        "full / cached recreate:          {:>6.2}x in total, {:.1}x until usable",
        f / c,
        u / cu
    );
    println!("psql autocommit / cached until usable: {:.1}x", a / cu);
    println!("full recreate: usable after {u:.0} ms of {f:.0} ms");
    let (dt, op) = (
        db_test.db_test.median_ms(),
        db_test.own_pg_prove.median_ms(),
    );
    println!(
        "db test / own scripts + pg_prove ({} files): {:.2}x (target <= 0.25x)",
        tree.test_files.len(),
        dt / op
    );
    let json = serde_json::json!({
        "workload": "upstream-entry",
        "diff_ms": diff_plan.diff.median_ms(),
        "plan_ms": diff_plan.plan.median_ms(),
        "db_test_ms": dt,
        "own_scripts_pg_prove_ms": op,
        "db_test_ratio": dt / op,
        "db_test_files": tree.test_files.len(),
        "recreate_full_ms": f,
        "time_to_usable_ms": u,
        "recreate_cached_ms": c,
        "psql_entry_autocommit_ms": a,
        "psql_entry_single_tx_ms": st,
        "ratio_autocommit_to_full": a / f,
        "ratio_full_to_single_tx": f / st,
        "ratio_full_to_cached": f / c,
        "time_to_usable_cached_ms": cu,
        "recreate_parallel_ms": p,
        "time_to_usable_parallel_ms": pu,
        "workers": workers,
        "ratio_full_to_cached_usable": u / cu,
        "ratio_autocommit_to_cached_usable": a / cu,
        "tables": tree.tables.len(),
        "rows": tree.total_rows(),
        "scripts": manifest.scripts().len(),
        "runs": runs,
    });
    println!("{json}");
    Ok(())
}

/// `db diff` and `db plan` of an unchanged tree against the environment's database,
/// as left by a recreate (its template cached): read-only, timed once each.
struct DiffPlan {
    diff: Sample,
    plan: Sample,
}

impl DiffPlan {
    fn new() -> DiffPlan {
        DiffPlan {
            diff: Sample::new("db diff (ores_sql::diff_with), unchanged tree"),
            plan: Sample::new("db plan (ores_sql::plan_with), unchanged tree"),
        }
    }

    fn run_once(&mut self, config: &Config, manifest: &Manifest) -> Res<()> {
        let (d, report) = timed(|| Ok(ores_sql::diff_with(config, manifest)?))?;
        drop(report);
        self.diff.times.push(d);
        let (d, report) = timed(|| Ok(ores_sql::plan_with(config, manifest)?))?;
        if report.path != "cached" {
            return Err(format!("db plan of an unchanged tree says {}", report.path).into());
        }
        self.plan.times.push(d);
        Ok(())
    }
}

/// The `compass` binary beside this example (`target/release/compass` for
/// `target/release/examples/bench`), if it was built.
fn compass_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("compass");
    bin.is_file().then_some(bin)
}

/// `compass db test` on the tree in `dir` against the generated suite, and the team's
/// path: their own scripts into a fresh database, then `pg_prove` on every file.
struct DbTest {
    db_test: Sample,
    own_pg_prove: Sample,
}

impl DbTest {
    fn new() -> DbTest {
        let db_test = if compass_bin().is_some() {
            "compass db test (binary), unchanged tree"
        } else {
            "db test (PgTapSuite::open + run_with), unchanged tree"
        };
        DbTest {
            db_test: Sample::new(db_test),
            own_pg_prove: Sample::new("own scripts (psql -f setup_schema.sql) + pg_prove"),
        }
    }

    /// `compass db test --sql-dir DIR` end to end (the binary when it is built,
    /// else the library's equivalent, suite opening and drop included).
    fn db_test_once(dir: &Path) -> Res<()> {
        let Some(bin) = compass_bin() else {
            let suite = PgTapSuite::open(Some(dir))?;
            let report = suite.run(&PgTapOptions::default())?;
            drop(suite);
            return match report.passed() {
                true => Ok(()),
                false => Err(format!("db test failed:\n{}", report.summary()).into()),
            };
        };
        let out = Command::new(bin)
            .args(["db", "test", "--sql-dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "compass db test failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    }

    /// One run of both paths, each from a settled server; the team's database and
    /// its extensions (pgTAP among them) are made outside the timing.
    fn run_once(
        &mut self,
        admin: &mut postgres::Client,
        config: &Config,
        dir: &Path,
        tree: &EntryTree,
    ) -> Res<()> {
        settle(admin)?;
        self.db_test
            .times
            .push(timed(|| DbTest::db_test_once(dir))?.0);
        let psql_db = format!("{}_psql", config.database);
        fresh_database(admin, &psql_db, &role_name(&config.env, "owner"))?;
        connect_admin_to(config, &psql_db)?.batch_execute(
            "CREATE EXTENSION btree_gist; CREATE EXTENSION pg_trgm; CREATE EXTENSION pgtap;",
        )?;
        settle(admin)?;
        let vars = entry_psql_variables(&config.env, &config.database);
        let run = PsqlRun {
            dir: Some(dir.join(COPY_DIR)),
            vars: &vars,
            single_tx: false,
        };
        let ddl = role_name(&config.env, "ddl_user");
        let (d, ()) = timed(|| {
            psql_run(config, &psql_db, &ddl, &dir.join("setup_schema.sql"), &run)?;
            pg_prove(config, &psql_db, dir, tree)
        })?;
        self.own_pg_prove.times.push(d);
        drop_database(admin, &psql_db, true)?;
        Ok(())
    }
}

/// `pg_prove` on every test file of the tree, from its root, as the administrator (the
/// suite's `[tests] role`), with the variables the files use; the connection through
/// `PG*` variables.
fn pg_prove(config: &Config, database: &str, dir: &Path, tree: &EntryTree) -> Res<()> {
    let mut cmd = Command::new("pg_prove");
    cmd.current_dir(dir);
    for (k, v) in entry_test_variables(&config.env) {
        cmd.arg("--set").arg(format!("{k}={v}"));
    }
    cmd.args(&tree.test_files)
        .env("PGHOST", &config.host)
        .env("PGPORT", config.port.to_string())
        .env("PGUSER", &config.admin_user)
        .env("PGDATABASE", database)
        .stdin(Stdio::null());
    if let Some(p) = &config.admin_password {
        cmd.env("PGPASSWORD", p.expose());
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!(
            "pg_prove failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}
