//! `--workload upstream-entry`: the entry-script tree against the team's own scripts.

use crate::db_test::DbTest;
use crate::diff_plan::DiffPlan;
use crate::headline::measure_headline;
use crate::psql::{PsqlRun, fresh_database, psql_run};
use crate::recreates::Recreates;
use crate::sample::{Sample, timed};
use crate::{Res, scratch_options, settle, workers_arg};
use ores_sql::Config;
use ores_sql::config::ident::quote_ident;
use ores_sql::server::admin::{connect_admin, connect_admin_to, drop_database};
use ores_sql::server::roles::role_name;
use ores_sql::testing::workload::{COPY_DIR, Shape, entry_psql_variables, entry_tree};
use std::path::Path;

/// `--workload upstream-entry`: our recreate of the entry-layout tree (full and
/// cached) against psql running its entry script, autocommit and `-1`.
pub(crate) fn measure_entry(config: &Config, dir: &Path, runs: usize) -> Res<()> {
    let tree = entry_tree(dir, &Shape::upstream())?;
    let manifest = &tree.manifest;
    println!(
        "upstream-sized entry tree: {} tables in 19 components through setup_schema.sql, {} rows in multi-row INSERTs",
        tree.tables.len(),
        tree.total_rows()
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
    let headline = measure_headline(config, dir, &tree, runs)?;
    if std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .as_deref()
        == Some("headline")
    {
        Sample::print_header();
        headline.print_rows();
        println!();
        headline.print_ratios();
        let mut json = headline.json();
        json.insert("workload".into(), "upstream-entry".into());
        json.insert("runs".into(), runs.into());
        println!("{}", serde_json::Value::Object(json));
        return Ok(());
    }
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
    headline.print_rows();
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
    headline.print_ratios();
    let mut json = json;
    if let Some(map) = json.as_object_mut() {
        map.extend(headline.json());
    }
    println!("{json}");
    Ok(())
}
