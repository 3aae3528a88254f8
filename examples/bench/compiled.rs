//! The workloads in our numeric-prefix layout: the compiled tree, `--synthetic N`,
//! `--workload upstream`; and `--only pooled`.

use crate::diff_plan::DiffPlan;
use crate::psql::{fresh_database, psql, write_scripts};
use crate::recreates::Recreates;
use crate::sample::{Sample, timed};
use crate::seeding::{SEED_ROWS, measure_seeding};
use crate::{Res, scratch_options, settle, workers_arg};
use ores_sql::config::ident::quote_ident;
use ores_sql::server::admin::{connect_admin, connect_admin_to, drop_database};
use ores_sql::server::roles::role_name;
use ores_sql::testing::TestDatabase;
use ores_sql::testing::workload::CatalogCounts;
use ores_sql::{Config, Manifest};
use std::time::{Duration, Instant};

/// `TestDatabase::new()` from the pool of ready clones: a test that runs longer than
/// one clone takes (here: we wait until a ready clone exists) gets its database by a
/// claim (rename, owner, grants, open in one transaction).
pub(crate) fn measure_pooled(
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
pub(crate) fn measure_only_pooled(config: &Config, runs: usize) -> Res<()> {
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

pub(crate) fn measure(config: &Config, manifest: &Manifest, runs: usize) -> Res<()> {
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
